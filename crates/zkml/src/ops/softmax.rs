//! Softmax of each row `x` (`n <= 256` values) of the input `[outer.., n]` (`ops/rows.rs`), no
//! requantization: the semantics of `zkml_model::softmax` (`m = max x`, `d = m - x`,
//! `e = E[d]` from the key's table, `S = sum e`, `y = floor((2 q e + S) / (2 S))`).
//!
//! Committed, per position: `d`, `e`, `z = [d = 0]`, the two byte limbs of `y`, four byte
//! limbs each of `rem = 2 q e + S - 2 S y` and of `gap = 2 S - 1 - rem`; per row: `m`, `S`
//! and `c - 1`, `c` the number of maxima (all 0 at a padding row). Lookups: `(d, e)` into the exponential table (so
//! `d` is in `[0, 2^bits)`), `(d, z)` into the zero table, every limb and `c - 1` a byte; at
//! padding positions every column is 0 and the second columns are filled with `E[0]` and 1
//! (see `ops/map.rs`). One sumcheck, at a random point `tau = (tau_r, tau_o)` (`tau_r` the row
//! variables), proves with random coefficients
//!
//! - at every real position (weight `eq(tau, z) real(z)`): `d - m + x = 0`,
//!   `2 q e + S - 2 S y - rem = 0`, `2 S - 1 - rem - gap = 0`, `y - y_0 - 256 y_1 = 0`;
//! - `S(tau_r) = sum_{z} eq(tau_r, z_r) real(z) e(z)`, and the same for `c` over `z`:
//!   `(c - 1)(tau_r) + rows(tau_r)`, `rows` the real-row indicator (1 for one row).
//!
//! So `m` bounds every value of its row and equals one (`c >= 1`), `S` is the row's sum of the
//! exponentials, and with `0 <= rem < 2 S` (an integer identity: every term is below 2^42) `y`
//! is the rounded quotient. Its claims: the columns at the sumcheck's point, `m` and `S` at its
//! row part, `S` and `c - 1` at `tau_r`, the input at the point.

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_model::QuantLayer;
use zkml_model::softmax::{SoftmaxLayer, SoftmaxRow};
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::{eq_eval, evaluate};
use zkml_proof::sumcheck::{self, ProductSum, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::Stage;
use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Lookup, real_eval};
use crate::ops::LayerProof;
use crate::ops::rows::{
    aux_claims, base_tables, broadcast, lift, outer, prefix, real_rows, row_column,
};
use crate::ops::rows::{exp_ok, row_dims, rows_fit};
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::statement::Claims;
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};

/// The softmax layer kind: softmax of each row of `n` values (laid out `[outer.., n]` in and
/// out; `outer` empty for one row) with the exponential table `exp` (`zkml_model::softmax`); no
/// requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Softmax {
    pub exp: Vec<i64>,
    pub outer: Vec<usize>,
}

impl From<&SoftmaxLayer> for Softmax {
    fn from(s: &SoftmaxLayer) -> Self {
        Self {
            exp: s.exp.clone(),
            outer: s.outer.clone(),
        }
    }
}

/// Byte limbs of `rem` and of `gap` (`2 S < 2^(EXP_BITS + 9)`).
const R_LIMBS: usize = 4;
/// `Col::Aux` indices: `d`, `e`, `z`, the limbs of `y`, of `rem`, of `gap`.
const D: usize = 0;
const E: usize = 1;
const Z: usize = 2;
const Y_LIMBS: usize = 3;
const REM: usize = 5;
const GAP: usize = REM + R_LIMBS;
const AUX: usize = GAP + R_LIMBS;
/// `Col::Row` indices: the max, the sum, the count of maxima minus one.
const MAX: usize = 0;
const SUM: usize = 1;
const COUNT: usize = 2;

/// A softmax layer's proof: `S` and `c - 1` at `tau_r`, the sumcheck, the columns at its point
/// (`d, e, z, y_0, y_1, rem limbs, gap limbs, y, x`) and `m`, `S` at its row part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftmaxProof {
    pub sum: EF,
    pub count: EF,
    pub sumcheck: SumcheckProof,
    pub evals: Vec<EF>,
    pub row: [EF; 2],
}

/// The coefficients of the combined sumcheck, and `q`.
struct Coeffs {
    c: Vec<EF>,
    q: EF,
}

/// The combined polynomial at one point from its factors: `eq(tau, z)`, `eq(tau_r, z_r)`,
/// `real(z)`, the column values `v` (`d, e, z, y_0, y_1, rem.., gap.., y, x`) and `m`, `S`.
fn combined(k: &Coeffs, eq: EF, eq_s: EF, real: EF, v: &[EF], m: EF, s: EF) -> EF {
    let limbs = |from: usize| {
        (0..R_LIMBS).fold(EF::ZERO, |acc, i| {
            acc + v[from + i] * F::from_u64(1 << (8 * i))
        })
    };
    let (rem, gap) = (limbs(REM), limbs(GAP));
    let (y, x) = (v[AUX], v[AUX + 1]);
    let two = EF::TWO;
    let r1 = v[D] - m + x;
    let r2 = two * k.q * v[E] + s - two * s * y - rem;
    let r3 = two * s - EF::ONE - rem - gap;
    let r4 = y - v[Y_LIMBS] - v[Y_LIMBS + 1] * F::from_u64(256);
    eq * real * (k.c[0] * r1 + k.c[1] * r2 + k.c[2] * r3 + k.c[3] * r4)
        + eq_s * real * (k.c[4] * v[E] + k.c[5] * v[Z])
}

fn coeffs(t: &mut Transcript, bits: u32) -> Coeffs {
    Coeffs {
        c: t.sample_vec(6),
        q: EF::from(from_i64(SoftmaxLayer::q(bits))),
    }
}

impl LayerKind for Softmax {
    fn columns(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        let mut v: Vec<Col> = (0..AUX).map(|k| Col::Aux(l, k)).collect();
        v.extend([MAX, SUM, COUNT].map(|k| Col::Row(l, k)));
        v
    }

    fn lookups(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        let byte = |a| Lookup {
            table: Table::Limb,
            a,
            b: None,
            fill: 0,
            per_channel: false,
        };
        let mut v = vec![
            Lookup {
                table: Table::Exp(l),
                a: Col::Aux(l, D),
                b: Some(Col::Aux(l, E)),
                fill: self.exp.first().copied().unwrap_or(0),
                per_channel: false,
            },
            Lookup {
                table: Table::IsZero,
                a: Col::Aux(l, D),
                b: Some(Col::Aux(l, Z)),
                fill: 1,
                per_channel: false,
            },
        ];
        v.extend((Y_LIMBS..AUX).map(|k| byte(Col::Aux(l, k))));
        v.push(byte(Col::Row(l, COUNT)));
        v
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let QuantLayer::Softmax(layer) = cx.layer else {
            unreachable!("a softmax layer")
        };
        // each sample's rows
        let rows: Vec<Vec<SoftmaxRow>> = cx
            .inputs
            .iter()
            .map(|x| x.chunks(layer.n).map(|r| layer.row(r, cx.bits)).collect())
            .collect();
        let per_position = |f: &dyn Fn(&SoftmaxRow, usize) -> i64| {
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
        let per_row = |f: &dyn Fn(&SoftmaxRow) -> i64| {
            let v: Vec<Vec<i64>> = rows.iter().map(|rs| rs.iter().map(f).collect()).collect();
            row_column(&v, outer(cx.shape), 0)
        };
        let limb = |v: i64, k: usize| (v >> (8 * k)) & 0xFF;
        let mut aux: Vec<Vec<i64>> = vec![
            per_position(&|r, j| r.d[j]),
            per_position(&|r, j| r.e[j]),
            per_position(&|r, j| i64::from(r.d[j] == 0)),
            per_position(&|r, j| limb(r.out[j], 0)),
            per_position(&|r, j| limb(r.out[j], 1)),
        ];
        aux.extend((0..R_LIMBS).map(|k| per_position(&|r, j| limb(r.rem[j], k))));
        aux.extend((0..R_LIMBS).map(|k| per_position(&|r, j| limb(2 * r.sum - 1 - r.rem[j], k))));
        let row_cols: Vec<Vec<i64>> = vec![
            per_row(&|r| r.max),
            per_row(&|r| r.sum),
            per_row(&|r| r.d.iter().filter(|&&d| d == 0).count() as i64 - 1),
        ];
        for (t, c) in counts.iter_mut() {
            let mut bump = |v: i64| {
                if let Some(slot) = usize::try_from(v).ok().and_then(|i| c.get_mut(i)) {
                    *slot += 1;
                }
            };
            match *t {
                Table::Exp(l) if l == cx.layer_index => aux[D].iter().for_each(|&d| bump(d)),
                Table::IsZero => aux[D].iter().for_each(|&d| bump(d)),
                Table::Limb => {
                    aux[Y_LIMBS..].iter().flatten().for_each(|&v| bump(v));
                    row_cols[COUNT].iter().for_each(|&v| bump(v));
                }
                _ => {}
            }
        }
        let out: Vec<Vec<i64>> = rows
            .iter()
            .map(|rs| rs.iter().flat_map(|r| r.out.clone()).collect())
            .collect();
        let mut w = LayerWitness::unrequantized(pad_rows(&out, &cx.shape.out_dims), Vec::new());
        w.aux = aux
            .iter()
            .map(|c| c.iter().map(|&v| from_i64(v)).collect())
            .collect();
        w.rows = row_cols
            .iter()
            .map(|c| c.iter().map(|&v| from_i64(v)).collect())
            .collect();
        w
    }

    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.out_vars, prefix(cx.layout, cx.shape));
        let lw = &cx.w.layers[l];
        let tau = t.sample_vec(nv);
        let tau_r = &tau[..pv];
        let mut sums = [
            evaluate(&lw.rows[SUM], tau_r),
            evaluate(&lw.rows[COUNT], tau_r),
        ];
        cx.hook.edit(crate::cheat::Msg::SoftmaxSums(l), &mut sums);
        let [sum, count] = sums;
        t.absorb_ext(&sums);
        let k = coeffs(t, cx.layout.bits);
        let width = 1usize << (nv - pv);
        let mut tables = base_tables(&tau, pv, &cx.shape.out_dims);
        tables.extend(lw.aux.iter().map(|c| lift(c)));
        tables.push(lift(&lw.cols.out));
        tables.push(lift(cx.input(0)));
        tables.push(broadcast(&lw.rows[MAX], width));
        tables.push(broadcast(&lw.rows[SUM], width));
        let col = |i: usize| 3 + i;
        let (y, x, m, s) = (col(AUX), col(AUX + 1), col(AUX + 2), col(AUX + 3));
        let (eq, eq_s, re) = (0, 1, 2);
        let two = EF::TWO;
        let mut terms: Vec<(EF, Vec<usize>)> = Vec::new();
        let mut at_real = |c: EF, cols: &[usize]| {
            let mut f = vec![eq, re];
            f.extend_from_slice(cols);
            terms.push((c, f));
        };
        let [c0, c1, c2, c3, c4, c5] = [0, 1, 2, 3, 4, 5].map(|i| k.c[i]);
        at_real(c0, &[col(D)]);
        at_real(-c0, &[m]);
        at_real(c0, &[x]);
        at_real(c1 * two * k.q, &[col(E)]);
        at_real(c1, &[s]);
        at_real(-c1 * two, &[s, y]);
        at_real(c2 * two, &[s]);
        at_real(-c2, &[]);
        for i in 0..R_LIMBS {
            let p = EF::from(F::from_u64(1 << (8 * i)));
            at_real(-(c1 + c2) * p, &[col(REM + i)]);
            at_real(-c2 * p, &[col(GAP + i)]);
        }
        at_real(c3, &[y]);
        at_real(-c3, &[col(Y_LIMBS)]);
        at_real(-c3 * F::from_u64(256), &[col(Y_LIMBS + 1)]);
        terms.push((c4, vec![eq_s, re, col(E)]));
        terms.push((c5, vec![eq_s, re, col(Z)]));
        let claim = c4 * sum + c5 * (count + real_rows(cx.shape, &tau[sv..pv]));
        let mut kernel = ProductSum { tables, terms };
        let (sumcheck, point, _) = cx
            .hook
            .sumcheck(Stage::ZeroCheck, &mut kernel, nv, || claim, t);
        let mut evals: Vec<EF> = (0..AUX + 2).map(|i| kernel.tables[col(i)][0]).collect();
        let row = [kernel.tables[m][0], kernel.tables[s][0]];
        cx.hook.edit(crate::cheat::Msg::SoftmaxEvals(l), &mut evals);
        t.absorb_ext(&evals);
        t.absorb_ext(&row);
        let proof = SoftmaxProof {
            sum,
            count,
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
        let p: &SoftmaxProof = cx.proof(proof)?;
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.out_vars, prefix(cx.layout, cx.shape));
        if p.evals.len() != AUX + 2 {
            return Err(VerifyError::Softmax { layer: l });
        }
        let tau = t.sample_vec(nv);
        t.absorb_ext(&[p.sum, p.count]);
        let k = coeffs(t, cx.layout.bits);
        let claim = k.c[4] * p.sum + k.c[5] * (p.count + real_rows(cx.shape, &tau[sv..pv]));
        let (point, fin) = sumcheck::verify(claim, nv, 4, &p.sumcheck, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: format!("softmax layer {l} sumcheck"),
                source,
            }
        })?;
        t.absorb_ext(&p.evals);
        t.absorb_ext(&p.row);
        let real = real_eval(&cx.shape.out_dims, &point[sv..]);
        let value = combined(
            &k,
            eq_eval(&tau, &point),
            eq_eval(&tau[..pv], &point[..pv]),
            real,
            &p.evals,
            p.row[0],
            p.row[1],
        );
        if fin != value {
            return Err(VerifyError::Softmax { layer: l });
        }
        queue_claims(cx.layout, cx.public, claims, (l, pv), &tau, &point, p)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // rows of 1..=256 values (the count of maxima is a byte), exponentials from
        // 2^EXP_BITS down, so that every sum is at least 2^EXP_BITS; no requantization
        let l = cx.layer;
        (l.n_in == l.n_out
            && rows_fit(&self.outer, l.n_in, zkml_model::softmax::MAX_ROW)
            && exp_ok(&self.exp, cx.vk.bits))
        .then_some(0)
        .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some(row_dims(&self.outer, n_in, None))
    }

    fn tables(&self, l: usize) -> Vec<(Table, Vec<i64>)> {
        vec![(Table::Exp(l), self.exp.clone())]
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // tau (degree 1 in eq), six coefficients (degree 1), a degree-4 sumcheck
        let nv = sample_vars + shape.out_vars;
        nv + 6 + 4 * nv
    }
}

/// Queues a softmax proof's claims: its columns at the sumcheck's point, `m` and `S` at its
/// row part, `S` and `c - 1` at `tau_r`, the input at the point.
fn queue_claims(
    layout: &crate::layout::Layout,
    public: &crate::statement::Public,
    claims: &mut Claims,
    (l, pv): (usize, usize),
    tau: &[EF],
    point: &[EF],
    p: &SoftmaxProof,
) -> Result<(), VerifyError> {
    aux_claims(layout, public, claims, l, point, &p.evals[..AUX])?;
    claims.column(layout, public, Col::Out(l), point.to_vec(), p.evals[AUX])?;
    let pr = point[..pv].to_vec();
    claims.column(layout, public, Col::Row(l, MAX), pr.clone(), p.row[0])?;
    claims.column(layout, public, Col::Row(l, SUM), pr, p.row[1])?;
    let tau_r = tau[..pv].to_vec();
    claims.column(layout, public, Col::Row(l, SUM), tau_r.clone(), p.sum)?;
    claims.column(layout, public, Col::Row(l, COUNT), tau_r, p.count)?;
    claims.layer_input(layout, public, (l, 0), point.to_vec(), p.evals[AUX + 1])
}
