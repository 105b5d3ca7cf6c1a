//! ArgMax of each row `x` (`n <= 2^(bits-1)` values) of the input `[outer.., n]`
//! (`ops/rows.rs`), one index out per row (`[outer.., 1]`, `zkml_model::argmax`): the index of
//! the largest key `a_j = n x_j + (n - 1 - j)` (`+ j` for the last maximum), keys being distinct
//! and ordered as the values.
//!
//! Committed, per input position: a one-hot `h` (1 at the index) and four byte limbs of
//! `d = M - a` (`M` the largest key, per row; 0 at a padding row). At a random `tau` the prover
//! sends the index `I(tau_r)` (the output); one degree-4 sumcheck with random coefficients
//! proves, at every real position, `d - M + a = 0` and `h^2 = h`, and over each row
//! `sum h = 1` (`rows(tau_r)` in all, the real-row indicator), `sum j h = I`, `sum h d = 0`. So every key is at most `M` (`d` is four bytes, and every term is below
//! `2^40`, so the identity is an integer one), `h` is one-hot at a key equal to `M`, which is
//! then the unique largest key, and the output is its index.

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_model::QuantLayer;
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
use crate::ops::rows::{row_dims, rows_fit};
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::statement::{Claims, Public};
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};

/// The argmax layer kind: the index of the first (`last`: the last) maximum of each row
/// (`[outer.., n]` in, `[outer.., 1]` out); no requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgMax {
    pub last: bool,
    pub outer: Vec<usize>,
}

impl From<&zkml_model::ArgMaxLayer> for ArgMax {
    fn from(a: &zkml_model::ArgMaxLayer) -> Self {
        Self {
            last: a.last,
            outer: a.outer.clone(),
        }
    }
}

/// `Col::Aux` indices: the one-hot, then the limbs of `d`.
const H: usize = 0;
const LIMBS: usize = 4;
const AUX: usize = 1 + LIMBS;
/// `Col::Row` index: the largest key.
const MAX: usize = 0;

/// An argmax layer's proof: the index at `tau_r`, the sumcheck, the columns at its point
/// (`h`, the limbs of `d`, `x`) and `M` at its row part.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgMaxProof {
    pub index: EF,
    pub sumcheck: SumcheckProof,
    pub evals: Vec<EF>,
    pub max: EF,
}

/// The row length `n` (the input's last axis).
fn row_length(shape: &LayerShape) -> usize {
    shape.in_dims.last().copied().unwrap_or(1)
}

/// `sum_k 256^k v[1 + k]`: `d` from its limbs.
fn from_limbs(v: &[EF]) -> EF {
    (0..LIMBS).fold(EF::ZERO, |acc, k| {
        acc + v[1 + k] * F::from_u64(1 << (8 * k))
    })
}

/// The MLE of the position index `j` over `vars` variables (most significant first).
fn index_eval(point: &[EF]) -> EF {
    let n = point.len();
    point.iter().enumerate().fold(EF::ZERO, |acc, (k, &z)| {
        acc + z * F::from_u64(1 << (n - 1 - k))
    })
}

/// The key's tie-break term `+ (n - 1 - j)` (or `+ j`) at `j`.
fn tie(n: usize, last: bool, j: EF) -> EF {
    if last {
        j
    } else {
        EF::from(F::from_u64(n as u64 - 1)) - j
    }
}

impl LayerKind for ArgMax {
    fn columns(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        let mut v: Vec<Col> = (0..AUX).map(|k| Col::Aux(l, k)).collect();
        v.push(Col::Row(l, MAX));
        v
    }

    fn lookups(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        (1..AUX)
            .map(|k| Lookup {
                table: Table::Limb,
                a: Col::Aux(l, k),
                b: None,
                fill: 0,
                per_channel: false,
            })
            .collect()
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let QuantLayer::ArgMax(layer) = cx.layer else {
            unreachable!("an argmax layer")
        };
        let n = layer.n;
        // per sample: each row's keys, largest key and index
        let keys: Vec<Vec<Vec<i64>>> = cx
            .inputs
            .iter()
            .map(|x| {
                x.chunks(n)
                    .map(|r| (0..n).map(|j| layer.key(r[j], j)).collect())
                    .collect()
            })
            .collect();
        let maxima: Vec<Vec<i64>> = keys
            .iter()
            .map(|rows| {
                rows.iter()
                    .map(|k| k.iter().copied().max().unwrap_or(0))
                    .collect()
            })
            .collect();
        let index: Vec<Vec<i64>> = cx.inputs.iter().map(|x| layer.forward(x)).collect();
        let one_hot: Vec<Vec<i64>> = index
            .iter()
            .map(|is| {
                is.iter()
                    .flat_map(|&i| (0..n as i64).map(move |j| i64::from(j == i)))
                    .collect()
            })
            .collect();
        let mut aux = vec![pad_rows(&one_hot, &cx.shape.in_dims)];
        for k in 0..LIMBS {
            let limb: Vec<Vec<i64>> = keys
                .iter()
                .zip(&maxima)
                .map(|(rows, ms)| {
                    rows.iter()
                        .zip(ms)
                        .flat_map(|(row, &m)| row.iter().map(move |&a| ((m - a) >> (8 * k)) & 0xFF))
                        .collect()
                })
                .collect();
            aux.push(pad_rows(&limb, &cx.shape.in_dims));
        }
        if let Some((_, c)) = counts.iter_mut().find(|(t, _)| *t == Table::Limb) {
            for &v in aux[1..].iter().flatten() {
                c[usize::try_from(v).unwrap_or(0)] += 1;
            }
        }
        let mut w = LayerWitness::unrequantized(pad_rows(&index, &cx.shape.out_dims), Vec::new());
        let field = |c: &Vec<i64>| c.iter().map(|&v| from_i64(v)).collect();
        w.aux = aux.iter().map(field).collect();
        w.rows = vec![field(&row_column(&maxima, outer(cx.shape), 0))];
        w
    }

    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.in_vars, prefix(cx.layout, cx.shape));
        let lw = &cx.w.layers[l];
        let tau = t.sample_vec(nv);
        let mut index = [evaluate(&lw.cols.out, &tau[..pv])];
        cx.hook.edit(Msg::ArgMaxIndex(l), &mut index);
        let index = index[0];
        t.absorb_ext(&[index]);
        let c = t.sample_vec(5);
        // positions within a row, and the rows of all samples
        let (width, rows) = (1usize << (nv - pv), 1usize << pv);
        let (n, last) = (row_length(cx.shape), self.last);
        let ties: Vec<EF> = (0..width)
            .map(|j| tie(n, last, EF::from(F::from_u64(j as u64))))
            .collect();
        let positions: Vec<EF> = (0..width)
            .map(|j| EF::from(F::from_u64(j as u64)))
            .collect();
        // tables: eq(tau), eq(tau_r) broadcast, real, the tie term, j, h, the limbs, x, M
        let mut tables = base_tables(&tau, pv, &cx.shape.in_dims);
        tables.extend([ties.repeat(rows), positions.repeat(rows)]);
        tables.extend(lw.aux.iter().map(|col| lift(col)));
        tables.push(lift(cx.input(0)));
        tables.push(broadcast(&lw.rows[MAX], width));
        let col = |i: usize| 5 + i;
        let (x, m) = (col(AUX), col(AUX + 1));
        let (eq, eq_s, re, ti, jj, h) = (0, 1, 2, 3, 4, col(H));
        let nf = EF::from(F::from_u64(n as u64));
        let mut terms: Vec<(EF, Vec<usize>)> = vec![
            (-c[0], vec![eq, re, m]),
            (c[0] * nf, vec![eq, re, x]),
            (c[0], vec![eq, re, ti]),
            (c[1], vec![eq, re, h, h]),
            (-c[1], vec![eq, re, h]),
            (c[2], vec![eq_s, re, h]),
            (c[3], vec![eq_s, re, jj, h]),
        ];
        for k in 0..LIMBS {
            let p = EF::from(F::from_u64(1 << (8 * k)));
            terms.push((c[0] * p, vec![eq, re, col(1 + k)]));
            terms.push((c[4] * p, vec![eq_s, re, h, col(1 + k)]));
        }
        let claim = c[2] * real_rows(cx.shape, &tau[sv..pv]) + c[3] * index;
        let mut kernel = ProductSum { tables, terms };
        let (sumcheck, point, _) = cx
            .hook
            .sumcheck(Stage::ZeroCheck, &mut kernel, nv, || claim, t);
        // the edit sees the columns and M last
        let mut evals: Vec<EF> = (0..=AUX + 1).map(|i| kernel.tables[col(i)][0]).collect();
        cx.hook.edit(Msg::SoftmaxEvals(l), &mut evals);
        let max = evals.pop().unwrap_or_default();
        t.absorb_ext(&evals);
        t.absorb_ext(&[max]);
        let proof = ArgMaxProof {
            index,
            sumcheck,
            evals,
            max,
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
        let p: &ArgMaxProof = cx.proof(proof)?;
        let (l, sv) = (cx.l, cx.layout.sample_vars);
        let (nv, pv) = (sv + cx.shape.in_vars, prefix(cx.layout, cx.shape));
        if p.evals.len() != AUX + 1 {
            return Err(VerifyError::ArgMax { layer: l });
        }
        let tau = t.sample_vec(nv);
        t.absorb_ext(&[p.index]);
        let c = t.sample_vec(5);
        let claim = c[2] * real_rows(cx.shape, &tau[sv..pv]) + c[3] * p.index;
        let (point, fin) = sumcheck::verify(claim, nv, 4, &p.sumcheck, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: format!("argmax layer {l} sumcheck"),
                source,
            }
        })?;
        t.absorb_ext(&p.evals);
        t.absorb_ext(&[p.max]);
        let n = row_length(cx.shape);
        let (real, j) = (
            real_eval(&cx.shape.in_dims, &point[sv..]),
            index_eval(&point[pv..]),
        );
        let (h, x, d) = (p.evals[H], p.evals[AUX], from_limbs(&p.evals));
        let key = EF::from(F::from_u64(n as u64)) * x + tie(n, self.last, j);
        let value = eq_eval(&tau, &point) * real * (c[0] * (d - p.max + key) + c[1] * (h * h - h))
            + eq_eval(&tau[..pv], &point[..pv]) * real * (c[2] * h + c[3] * j * h + c[4] * h * d);
        if fin != value {
            return Err(VerifyError::ArgMax { layer: l });
        }
        queue_claims(cx.layout, cx.public, claims, (l, pv), &tau, &point, p)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // one index out per row; every index an activation, every key below 2^32 (4 limbs);
        // no requantization
        let l = cx.layer;
        (rows_fit(&self.outer, l.n_in, 1 << (cx.vk.bits - 1))
            && l.n_out == zkml_model::softmax::rows(&self.outer))
        .then_some(0)
        .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some(row_dims(&self.outer, n_in, Some(1)))
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // tau (degree 1 in eq), five coefficients (degree 1), a degree-4 sumcheck
        let nv = sample_vars + shape.in_vars;
        nv + 5 + 4 * nv
    }
}

/// Queues an argmax proof's claims: its columns at the sumcheck's point, `M` at its row part,
/// the output (the index) at `tau_r`, the input at the point.
fn queue_claims(
    layout: &Layout,
    public: &Public,
    claims: &mut Claims,
    (l, pv): (usize, usize),
    tau: &[EF],
    point: &[EF],
    p: &ArgMaxProof,
) -> Result<(), VerifyError> {
    aux_claims(layout, public, claims, l, point, &p.evals[..AUX])?;
    claims.column(
        layout,
        public,
        Col::Row(l, MAX),
        point[..pv].to_vec(),
        p.max,
    )?;
    claims.column(layout, public, Col::Out(l), tau[..pv].to_vec(), p.index)?;
    claims.layer_input(layout, public, (l, 0), point.to_vec(), p.evals[AUX])
}
