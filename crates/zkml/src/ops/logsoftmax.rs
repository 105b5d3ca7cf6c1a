//! LogSoftmax of each row `x` (`n <= 256` values) of the input `[outer.., n]` (`ops/rows.rs`),
//! no requantization: the semantics of `zkml_model::softmax::LogSoftmaxLayer` (`m`, `d`, `e`, `S`
//! as for softmax; `L` with `B[L] <= S < B[L + 1]`; `g = G[d]`; `y = max(lo, -(g + L))`).
//!
//! Committed, per position: `d`, `e`, `z = [d = 0]`, `g`, `t = g + L`; per row: `m`, `S`,
//! `c - 1`, `L`, `B[L]`, `B[L + 1]` and four byte limbs each of `S - B[L]` and
//! `B[L + 1] - 1 - S` (at a padding row all 0 but `B[L + 1] = B[1]` and the limbs of
//! `B[1] - 1`: a row with `S = 0` and `L = 0`, in bounds as `B[0] = 0`). Lookups: `(d, e)`, `(d, z)` as for softmax, `(d, g)` into the key's
//! steps, `(t, y)` into the clamped negation `{(t, max(lo, -t))}`, `(L, B[L])` and
//! `(L, B[L + 1])` into the key's bounds, every limb and `c - 1` a byte. At a random `tau` the
//! prover sends the per-row columns at `tau_r`; the verifier checks the two bound identities
//! there (they hold at every row, padding too); one sumcheck proves, with random coefficients,
//! `d - m + x = 0` and `t - g - L = 0` at every real position and that `S` and `c` are the row
//! sums of `e` and `z` (for `c`: `(c - 1)(tau_r) + rows(tau_r)`, as for softmax).

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_model::QuantLayer;
use zkml_model::softmax::LogSoftmaxRow;
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::{eq_eval, evaluate};
use zkml_proof::sumcheck::{self, ProductSum, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Msg, Stage};
use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Layout, Lookup, real_eval};
use crate::ops::LayerProof;
use crate::ops::rows::{
    aux_claims, base_tables, broadcast, lift, outer, prefix, real_rows, row_column,
};
use crate::ops::rows::{exp_ok, row_dims, rows_fit};
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::statement::{Claims, Public};
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};

/// The log-softmax layer kind: log-softmax of each row with the exponential, step and bound
/// tables of `zkml_model::softmax::LogSoftmaxLayer`; no requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogSoftmax {
    pub exp: Vec<i64>,
    pub steps: Vec<i64>,
    pub bounds: Vec<i64>,
    pub outer: Vec<usize>,
}

impl From<&zkml_model::LogSoftmaxLayer> for LogSoftmax {
    fn from(s: &zkml_model::LogSoftmaxLayer) -> Self {
        Self {
            exp: s.exp.clone(),
            steps: s.steps.clone(),
            bounds: s.bounds.clone(),
            outer: s.outer.clone(),
        }
    }
}

/// `Col::Aux` indices.
const D: usize = 0;
const E: usize = 1;
const Z: usize = 2;
const G: usize = 3;
const T: usize = 4;
const AUX: usize = 5;
/// `Col::Row` indices: the max, the sum, the count of maxima minus one, `L`, `B[L]`,
/// `B[L + 1]`, the limbs of `S - B[L]`, of `B[L + 1] - 1 - S`.
const MAX: usize = 0;
const SUM: usize = 1;
const COUNT: usize = 2;
const LOG: usize = 3;
const LO: usize = 4;
const HI: usize = 5;
const BELOW: usize = 6;
const ABOVE: usize = 10;
const ROWS: usize = 14;

/// A log-softmax layer's proof: the per-row columns but `m` at `tau_r` (`S, c - 1, L, B[L],
/// B[L + 1]`, the limbs), the sumcheck, the columns at its point (`d, e, z, g, t, x`) and `m`,
/// `L` at its row part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSoftmaxProof {
    pub rows: Vec<EF>,
    pub sumcheck: SumcheckProof,
    pub evals: Vec<EF>,
    pub row: [EF; 2],
}

/// `sum_k 256^k v[from + k]` over four limbs.
fn limbs(v: &[EF], from: usize) -> EF {
    (0..4).fold(EF::ZERO, |acc, k| {
        acc + v[from + k] * F::from_u64(1 << (8 * k))
    })
}

impl LayerKind for LogSoftmax {
    fn columns(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        let mut v: Vec<Col> = (0..AUX).map(|k| Col::Aux(l, k)).collect();
        v.extend((0..ROWS).map(|k| Col::Row(l, k)));
        v
    }

    fn lookups(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        let pair = |table, a, b, fill| Lookup {
            table,
            a,
            b: Some(b),
            fill,
            per_channel: false,
        };
        let exp0 = self.exp.first().copied().unwrap_or(0);
        let mut v = vec![
            pair(Table::Exp(l), Col::Aux(l, D), Col::Aux(l, E), exp0),
            pair(Table::IsZero, Col::Aux(l, D), Col::Aux(l, Z), 1),
            // G[0] = 0 and max(lo, -0) = 0: padding needs no fill
            pair(Table::LogSteps(l), Col::Aux(l, D), Col::Aux(l, G), 0),
            pair(Table::NegClamp, Col::Aux(l, T), Col::Out(l), 0),
            pair(Table::LogLo(l), Col::Row(l, LOG), Col::Row(l, LO), 0),
            pair(Table::LogHi(l), Col::Row(l, LOG), Col::Row(l, HI), 0),
        ];
        let byte = |a| Lookup {
            table: Table::Limb,
            a,
            b: None,
            fill: 0,
            per_channel: false,
        };
        v.push(byte(Col::Row(l, COUNT)));
        v.extend((BELOW..ROWS).map(|k| byte(Col::Row(l, k))));
        v
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let QuantLayer::LogSoftmax(layer) = cx.layer else {
            unreachable!("a log-softmax layer")
        };
        // each sample's rows
        let rows: Vec<Vec<LogSoftmaxRow>> = cx
            .inputs
            .iter()
            .map(|x| x.chunks(layer.n).map(|r| layer.row(r, cx.bits)).collect())
            .collect();
        let per_position = |f: &dyn Fn(&LogSoftmaxRow, usize) -> i64| {
            let v: Vec<Vec<i64>> = rows
                .iter()
                .map(|rs| {
                    rs.iter()
                        .flat_map(|r| (0..layer.n).map(|j| f(r, j)))
                        .collect()
                })
                .collect();
            pad_rows(&v, &cx.shape.out_dims)
        };
        let aux: Vec<Vec<i64>> = vec![
            per_position(&|r, j| r.d[j]),
            per_position(&|r, j| r.e[j]),
            per_position(&|r, j| i64::from(r.d[j] == 0)),
            per_position(&|r, j| r.g[j]),
            per_position(&|r, j| r.g[j] + r.log_sum),
        ];
        let bound = |k: i64| layer.bounds[usize::try_from(k).unwrap_or(0)];
        let limb = |v: i64, k: usize| (v >> (8 * k)) & 0xFF;
        // per row, with its value at a padding row (S = 0, L = 0: B[0] = 0 <= S < B[1])
        let per_row = |f: &dyn Fn(&LogSoftmaxRow) -> i64, fill: i64| {
            let v: Vec<Vec<i64>> = rows.iter().map(|rs| rs.iter().map(f).collect()).collect();
            row_column(&v, outer(cx.shape), fill)
        };
        let mut row_cols = vec![
            per_row(&|r| r.max, 0),
            per_row(&|r| r.sum, 0),
            per_row(&|r| r.d.iter().filter(|&&d| d == 0).count() as i64 - 1, 0),
            per_row(&|r| r.log_sum, 0),
            per_row(&|r| bound(r.log_sum), 0),
            per_row(&|r| bound(r.log_sum + 1), bound(1)),
        ];
        row_cols.extend((0..4).map(|k| per_row(&|r| limb(r.sum - bound(r.log_sum), k), 0)));
        row_cols.extend((0..4).map(|k| {
            let above = |r: &LogSoftmaxRow| limb(bound(r.log_sum + 1) - 1 - r.sum, k);
            per_row(&above, limb(bound(1) - 1, k))
        }));
        let l = cx.layer_index;
        for (t, c) in counts.iter_mut() {
            let mut bump = |v: i64| {
                if let Some(slot) = usize::try_from(v).ok().and_then(|i| c.get_mut(i)) {
                    *slot += 1;
                }
            };
            match *t {
                Table::Exp(k) | Table::LogSteps(k) if k == l => {
                    aux[D].iter().for_each(|&d| bump(d))
                }
                Table::IsZero => aux[D].iter().for_each(|&d| bump(d)),
                Table::NegClamp => aux[T].iter().for_each(|&v| bump(v)),
                Table::LogLo(k) | Table::LogHi(k) if k == l => {
                    row_cols[LOG].iter().for_each(|&v| bump(v));
                }
                Table::Limb => {
                    row_cols[COUNT].iter().for_each(|&v| bump(v));
                    row_cols[BELOW..].iter().flatten().for_each(|&v| bump(v));
                }
                _ => {}
            }
        }
        let out: Vec<Vec<i64>> = rows
            .iter()
            .map(|rs| rs.iter().flat_map(|r| r.out.clone()).collect())
            .collect();
        let mut w = LayerWitness::unrequantized(pad_rows(&out, &cx.shape.out_dims), Vec::new());
        let field = |c: &Vec<i64>| c.iter().map(|&v| from_i64(v)).collect();
        w.aux = aux.iter().map(field).collect();
        w.rows = row_cols.iter().map(field).collect();
        w
    }

    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.out_vars, prefix(cx.layout, cx.shape));
        let lw = &cx.w.layers[l];
        let tau = t.sample_vec(nv);
        let tau_r = &tau[..pv];
        let mut rows: Vec<EF> = (SUM..ROWS).map(|k| evaluate(&lw.rows[k], tau_r)).collect();
        cx.hook.edit(Msg::LogSoftmaxRows(l), &mut rows);
        t.absorb_ext(&rows);
        let c = t.sample_vec(4);
        let width = 1usize << (nv - pv);
        // tables: eq(tau), eq(tau_r) broadcast, real, d, e, z, g, t, x, m, L
        let mut tables = base_tables(&tau, pv, &cx.shape.out_dims);
        tables.extend(lw.aux.iter().map(|col| lift(col)));
        tables.push(lift(cx.input(0)));
        tables.push(broadcast(&lw.rows[MAX], width));
        tables.push(broadcast(&lw.rows[LOG], width));
        let col = |i: usize| 3 + i;
        let (x, m, log) = (col(AUX), col(AUX + 1), col(AUX + 2));
        let (eq, eq_s, re) = (0, 1, 2);
        let at_real = |k: EF, i: usize| (k, vec![eq, re, i]);
        let terms = vec![
            at_real(c[0], col(D)),
            at_real(-c[0], m),
            at_real(c[0], x),
            at_real(c[1], col(T)),
            at_real(-c[1], col(G)),
            at_real(-c[1], log),
            (c[2], vec![eq_s, re, col(E)]),
            (c[3], vec![eq_s, re, col(Z)]),
        ];
        // rows[0] is S, rows[1] is c - 1
        let claim = c[2] * rows[0] + c[3] * (rows[1] + real_rows(cx.shape, &tau[sv..pv]));
        let mut kernel = ProductSum { tables, terms };
        let (sumcheck, point, _) = cx
            .hook
            .sumcheck(Stage::ZeroCheck, &mut kernel, nv, || claim, t);
        let mut evals: Vec<EF> = (0..=AUX).map(|i| kernel.tables[col(i)][0]).collect();
        let row = [kernel.tables[m][0], kernel.tables[log][0]];
        cx.hook.edit(Msg::SoftmaxEvals(l), &mut evals);
        t.absorb_ext(&evals);
        t.absorb_ext(&row);
        let proof = LogSoftmaxProof {
            rows,
            sumcheck,
            evals,
            row,
        };
        // fails only for a forged witness (tests): the verifier refuses it
        queue_claims(cx.layout, cx.public, claims, (l, pv), &tau, &point, &proof).ok();
        proof.into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let p: &LogSoftmaxProof = cx.proof(proof)?;
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.out_vars, prefix(cx.layout, cx.shape));
        let bad = VerifyError::LogSoftmax { layer: l };
        if p.rows.len() != ROWS - SUM || p.evals.len() != AUX + 1 {
            return Err(bad);
        }
        let tau = t.sample_vec(nv);
        t.absorb_ext(&p.rows);
        // the bounds at tau_r: S - B[L] and B[L + 1] - 1 - S are their limbs
        let row = |k: usize| p.rows[k - SUM];
        if row(SUM) - row(LO) != limbs(&p.rows, BELOW - SUM)
            || row(HI) - EF::ONE - row(SUM) != limbs(&p.rows, ABOVE - SUM)
        {
            return Err(bad);
        }
        let c = t.sample_vec(4);
        let claim = c[2] * row(SUM) + c[3] * (row(COUNT) + real_rows(cx.shape, &tau[sv..pv]));
        let (point, fin) = sumcheck::verify(claim, nv, 3, &p.sumcheck, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: format!("log-softmax layer {l} sumcheck"),
                source,
            }
        })?;
        t.absorb_ext(&p.evals);
        t.absorb_ext(&p.row);
        let real = real_eval(&cx.shape.out_dims, &point[sv..]);
        let v = &p.evals;
        let [m, log] = p.row;
        let value = eq_eval(&tau, &point)
            * real
            * (c[0] * (v[D] - m + v[AUX]) + c[1] * (v[T] - v[G] - log))
            + eq_eval(&tau[..pv], &point[..pv]) * real * (c[2] * v[E] + c[3] * v[Z]);
        if fin != value {
            return Err(bad);
        }
        queue_claims(cx.layout, cx.public, claims, (l, pv), &tau, &point, p)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // as a softmax's, and steps, bounds as `log_tables_ok` says (so that `g + L <
        // 2^bits`); no requantization
        let (l, bits) = (cx.layer, cx.vk.bits);
        (l.n_in == l.n_out
            && rows_fit(&self.outer, l.n_in, zkml_model::softmax::MAX_ROW)
            && exp_ok(&self.exp, bits)
            && zkml_model::softmax::log_tables_ok(&self.steps, &self.bounds, bits))
        .then_some(0)
        .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some(row_dims(&self.outer, n_in, None))
    }

    fn tables(&self, l: usize) -> Vec<(Table, Vec<i64>)> {
        // (the key check makes `bounds` 2^bits + 1 long)
        let b = &self.bounds;
        vec![
            (Table::Exp(l), self.exp.clone()),
            (Table::LogSteps(l), self.steps.clone()),
            (
                Table::LogLo(l),
                b.split_last().map_or(Vec::new(), |(_, lo)| lo.to_vec()),
            ),
            (Table::LogHi(l), b.get(1..).unwrap_or_default().to_vec()),
        ]
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // tau (degree 1 in eq), four coefficients (degree 1), a degree-3 sumcheck
        let nv = sample_vars + shape.out_vars;
        nv + 4 + 3 * nv
    }
}

/// Queues a log-softmax proof's claims: its columns at the sumcheck's point, `m` and `L` at
/// its row part, the other per-row columns at `tau_r`, the input at the point.
fn queue_claims(
    layout: &Layout,
    public: &Public,
    claims: &mut Claims,
    (l, pv): (usize, usize),
    tau: &[EF],
    point: &[EF],
    p: &LogSoftmaxProof,
) -> Result<(), VerifyError> {
    aux_claims(layout, public, claims, l, point, &p.evals[..AUX])?;
    let pr = point[..pv].to_vec();
    claims.column(layout, public, Col::Row(l, MAX), pr.clone(), p.row[0])?;
    claims.column(layout, public, Col::Row(l, LOG), pr, p.row[1])?;
    for k in SUM..ROWS {
        claims.column(
            layout,
            public,
            Col::Row(l, k),
            tau[..pv].to_vec(),
            p.rows[k - SUM],
        )?;
    }
    claims.layer_input(layout, public, (l, 0), point.to_vec(), p.evals[AUX])
}
