//! 2-D convolution: `acc(s, o, y, x) = sum_q K(o, q) U(s, q, y, x) + b(o) [y, x real]` with
//! `q = (c, i, j)` and `U` the im2col view of the input. Two sumchecks:
//!
//! 1. over `q`: `acc(rho) - b(rho_o) real(rho_y, rho_x) = sum_q K(rho_o, q) U(rho_s, q, rho_y, rho_x)`,
//!    ending in claims `K(rho_o, rho_q)` (weight commitment) and `U(rho_s, rho_q, rho_y, rho_x)`;
//! 2. the wiring: `U(...) = sum_{s, c, y', x'} X(s, c, y', x') eq(rho_s, s) eq(rho_c, c) G(y', x')`
//!    where `G` ([`Grid::table`], coefficients `eq(rho_i, i) eq(rho_j, j)`) the verifier
//!    evaluates per axis. It ends in a claim on the input `X` (previous output, or public).
//!
//! Prover cost: one pass over the kernel (fold with `eq(rho_o)`), `O(S C H W kw + S C H kh kw)`
//! for `U`, and `O(S C H W)` for the wiring table: a small multiple of the MACs divided by
//! the output channels.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F};
use zkml_proof::mle::{eq_eval, eq_table};
use zkml_proof::sumcheck::{self, BaseFirst, ProductSum, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Hook, Stage, Value};
use crate::error::VerifyError;
use crate::keys::VkLayer;
use crate::layout::{LayerShape, pow2_vars};
use crate::ops::LayerProof;
use crate::ops::dense::{DenseClaims, fold_rows};
use crate::ops::requant::BoundViolation;
use crate::ops::requant::Requantized;
use crate::ops::{
    KeyCx, KeyFault, LayerKind, LayerOp, ProveCx, VerifyCx, requant, window_kind, window_ok,
};
use crate::statement::Claims;
use crate::wiring::Grid;

window_kind! {
    /// The conv layer kind: patch and wiring sumchecks, then the shared requantization.
    Conv, zkml_model::ConvLayer
}

impl LayerKind for Conv {
    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (requant, point, requant_evals) = requant::prove_step(cx, claims, t);
        let (w, b) = cx.weights();
        let (sv, acc) = (cx.layout.sample_vars, requant_evals.acc);
        let (cp, dc) = prove(cx.shape, w, b, cx.input(0), sv, &point, acc, cx.hook, t);
        claims.weights(
            cx.l,
            dc.weight_point,
            cp.weight,
            cx.shape.mult_vars,
            cp.bias,
        );
        cx.input_claim(claims, 0, dc.input_point, cp.input);
        Requantized {
            requant,
            requant_evals,
            inner: cp,
        }
        .into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let Requantized {
            requant,
            requant_evals,
            inner: conv,
        } = cx.proof::<Requantized<ConvProof>>(proof)?;
        let point = requant::verify_step(cx, requant, requant_evals, claims, t)?;
        let sv = cx.layout.sample_vars;
        let dc = verify(cx.l, cx.shape, requant_evals.acc, &point, sv, conv, t)?;
        claims.weights(
            cx.l,
            dc.weight_point,
            conv.weight,
            cx.shape.mult_vars,
            conv.bias,
        );
        claims.layer_input(cx.layout, cx.public, (cx.l, 0), dc.input_point, conv.input)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // one multiplier per output channel
        window_ok(cx.layer, self.in_shape, self.out_shape, self.window)
            .then_some(self.out_shape[0])
            .ok_or(KeyFault::Shape)
    }

    fn own_dims(&self, _n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        Some((self.in_shape.to_vec(), self.out_shape.to_vec()))
    }

    fn has_weights(&self) -> bool {
        true
    }

    /// `[O][C][KH][KW]`.
    fn weight_dims(&self, _n_out: usize, _in_dims: &[usize]) -> Option<Vec<usize>> {
        let [kh, kw] = self.window.kernel;
        Some(vec![self.out_shape[0], self.in_shape[0], kh, kw])
    }

    fn check_bounds(
        &self,
        l: &VkLayer,
        bits: u32,
        bias_bits: &[u8],
    ) -> Result<u32, BoundViolation> {
        let fan_in = self.in_shape[0] * self.window.kernel[0] * self.window.kernel[1];
        requant::check_derived_bounds(fan_in, bits, bias_bits, &l.multiplier)
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        let g = grid(shape);
        let patch =
            pow2_vars(shape.in_dims[0]) + pow2_vars(g.rows.kernel) + pow2_vars(g.cols.kernel);
        // requantization (eq point, then degree-3 rounds), the patch and wiring sumchecks
        4 * (sample_vars + shape.out_vars) + 2 * patch + 2 * (sample_vars + shape.in_vars)
    }
}

/// A conv layer's proof.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvProof {
    pub bias: EF,
    pub patches: SumcheckProof,
    pub weight: EF,
    pub unfolded: EF,
    pub wiring: SumcheckProof,
    pub input: EF,
}

/// Splits of the variables: output `(s, o, y, x)`, patches `(c, i, j)`.
struct Vars {
    s: usize,
    o: usize,
    oy: usize,
    c: usize,
    ki: usize,
    kj: usize,
}

fn vars(shape: &LayerShape, sample_vars: usize, grid: &Grid) -> Vars {
    Vars {
        s: sample_vars,
        o: pow2_vars(shape.out_dims[0]),
        oy: grid.rows.out_vars(),
        c: pow2_vars(shape.in_dims[0]),
        ki: pow2_vars(grid.rows.kernel),
        kj: pow2_vars(grid.cols.kernel),
    }
}

fn grid(shape: &LayerShape) -> Grid {
    let LayerOp::Conv(c) = &shape.op else {
        unreachable!("conv layer")
    };
    Grid::new(c.window, &shape.in_dims, &shape.out_dims)
}

/// `eq(rho_i, i) eq(rho_j, j)` for the real kernel offsets, row-major `kh x kw`.
fn kernel_coef(grid: &Grid, rho_i: &[EF], rho_j: &[EF]) -> Vec<EF> {
    let (ei, ej) = (eq_table(rho_i), eq_table(rho_j));
    (0..grid.rows.kernel)
        .flat_map(|i| (0..grid.cols.kernel).map(move |j| (i, j)))
        .map(|(i, j)| ei[i] * ej[j])
        .collect()
}

/// Proves `acc(point) = acc`. `kernel` is `[O][C][KH][KW]` and `bias` `[O]` (padded), `x` the
/// input `[S][C][H][W]` (padded). Returns the proof and the points of its weight and input
/// claims. `hook` is the cheating prover's (tests); the honest prover passes an inactive one.
#[allow(clippy::too_many_arguments)]
pub fn prove(
    shape: &LayerShape,
    kernel: &[F],
    bias: &[F],
    x: &[F],
    sample_vars: usize,
    point: &[EF],
    acc: EF,
    hook: Hook<'_>,
    t: &mut Transcript,
) -> (ConvProof, DenseClaims) {
    let g = grid(shape);
    let v = vars(shape, sample_vars, &g);
    let (rho_s, rest) = point.split_at(v.s);
    let (rho_o, rest) = rest.split_at(v.o);
    let (rho_y, rho_x) = rest.split_at(v.oy);
    let eq_o = eq_table(rho_o);
    let mut bias_eval: EF = eq_o.iter().zip(bias).map(|(&e, &b)| e * b).sum();
    hook.value(Value::Bias, &mut bias_eval);
    t.absorb_ext(&[bias_eval]);
    let q_len = 1 << (v.c + v.ki + v.kj);
    let k_fold = fold_rows(kernel, q_len, &eq_o);
    let u = unfold(&g, &v, x, rho_s, rho_y, rho_x);
    let mut k1 = ProductSum {
        tables: vec![k_fold, u],
        terms: vec![(EF::ONE, vec![0, 1])],
    };
    let claim = || acc - bias_eval * g.real(rho_y, rho_x);
    let nv = v.c + v.ki + v.kj;
    let (patches, rho_q, offset) = hook.sumcheck(Stage::Patches, &mut k1, nv, claim, t);
    let (mut weight, mut unfolded) = (k1.tables[0][0], k1.tables[1][0]);
    let fin = weight * unfolded + offset;
    hook.value(Value::Weight, &mut weight);
    hook.value(Value::Unfolded, &mut unfolded);
    hook.fix_product(
        fin,
        (Value::Weight, &mut weight),
        (Value::Unfolded, &mut unfolded),
    );
    t.absorb_ext(&[weight, unfolded]);
    let (rho_c, rest) = rho_q.split_at(v.c);
    let (rho_i, rho_j) = rest.split_at(v.ki);
    let spatial = g.table(&kernel_coef(&g, rho_i, rho_j), rho_y, rho_x);
    let wire = outer(&eq_table(rho_s), &eq_table(rho_c), &spatial);
    let mut k2 = BaseFirst::new(vec![x.to_vec()], vec![wire], vec![(EF::ONE, vec![0, 1])]);
    let nv = v.s + shape.in_vars;
    let (wiring, input_point, offset) = hook.sumcheck(Stage::Wiring, &mut k2, nv, || unfolded, t);
    let (mut input, wire_eval) = {
        let values = k2.values();
        (values[0], values[1])
    };
    let fin = input * wire_eval + offset;
    hook.value(Value::Input, &mut input);
    hook.fix_factor(fin, Value::Input, &mut input, wire_eval);
    t.absorb_ext(&[input]);
    let claims = DenseClaims {
        weight_point: [rho_o, &rho_q].concat(),
        input_point,
    };
    (
        ConvProof {
            bias: bias_eval,
            patches,
            weight,
            unfolded,
            wiring,
            input,
        },
        claims,
    )
}

/// `eq_s (x) eq_c (x) spatial`, the wiring table over `[S][C][H][W]`.
pub(super) fn outer(eq_s: &[EF], eq_c: &[EF], spatial: &[EF]) -> Vec<EF> {
    let mut out = vec![EF::ZERO; eq_s.len() * eq_c.len() * spatial.len()];
    // block `i` is sample `i / C`, channel `i % C`
    out.par_chunks_mut(spatial.len().max(1))
        .enumerate()
        .for_each(|(i, block)| {
            let w = eq_s[i / eq_c.len()] * eq_c[i % eq_c.len()];
            block.iter_mut().zip(spatial).for_each(|(o, &g)| *o = w * g);
        });
    out
}

/// `U(rho_s, q, rho_y, rho_x)` for every patch index `q = (c, i, j)` (padded).
fn unfold(g: &Grid, v: &Vars, x: &[F], rho_s: &[EF], rho_y: &[EF], rho_x: &[EF]) -> Vec<EF> {
    let (ey, ex, es) = (eq_table(rho_y), eq_table(rho_x), eq_table(rho_s));
    let a: Vec<Vec<EF>> = (0..g.rows.kernel).map(|i| g.rows.table(i, &ey)).collect();
    let b: Vec<Vec<EF>> = (0..g.cols.kernel).map(|j| g.cols.table(j, &ex)).collect();
    let (h, w) = (1usize << g.rows.in_vars(), 1usize << g.cols.in_vars());
    let (c_pad, kh_pad, kw_pad) = (1usize << v.c, 1usize << v.ki, 1usize << v.kj);
    let mut u = vec![EF::ZERO; c_pad * kh_pad * kw_pad];
    for (s, &e_s) in es.iter().enumerate() {
        for c in 0..c_pad {
            let plane = &x[(s * c_pad + c) * h * w..(s * c_pad + c + 1) * h * w];
            // r[y'][j] = sum_x' X[y'][x'] B_j(x')
            let r: Vec<Vec<EF>> = (0..h)
                .map(|yy| {
                    let row = &plane[yy * w..(yy + 1) * w];
                    b.iter()
                        .map(|bj| bj.iter().zip(row).map(|(&bv, &xv)| bv * xv).sum())
                        .collect()
                })
                .collect();
            for (i, ai) in a.iter().enumerate() {
                for (j, slot) in u[(c * kh_pad + i) * kw_pad..]
                    .iter_mut()
                    .take(g.cols.kernel)
                    .enumerate()
                {
                    let dot: EF = ai.iter().zip(&r).map(|(&av, rr)| av * rr[j]).sum();
                    *slot += e_s * dot;
                }
            }
        }
    }
    u
}

/// Verifies a conv proof against `acc(point) = acc`; returns the claims it leaves.
///
/// # Errors
/// [`VerifyError::Sumcheck`] on a malformed sumcheck, [`VerifyError::Conv`] when a final
/// product does not match.
pub fn verify(
    layer: usize,
    shape: &LayerShape,
    acc: EF,
    point: &[EF],
    sample_vars: usize,
    proof: &ConvProof,
    t: &mut Transcript,
) -> Result<DenseClaims, VerifyError> {
    let g = grid(shape);
    let v = vars(shape, sample_vars, &g);
    let (rho_s, rest) = point.split_at(v.s);
    let (rho_o, rest) = rest.split_at(v.o);
    let (rho_y, rho_x) = rest.split_at(v.oy);
    let stage = |what: &str| format!("conv layer {layer} {what}");
    t.absorb_ext(&[proof.bias]);
    let claim = acc - proof.bias * g.real(rho_y, rho_x);
    let (rho_q, fin) =
        sumcheck::verify(claim, v.c + v.ki + v.kj, 2, &proof.patches, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: stage("patch sumcheck"),
                source,
            }
        })?;
    t.absorb_ext(&[proof.weight, proof.unfolded]);
    if fin != proof.weight * proof.unfolded {
        return Err(VerifyError::Conv { layer });
    }
    let (rho_c, rest) = rho_q.split_at(v.c);
    let (rho_i, rho_j) = rest.split_at(v.ki);
    let (in_point, fin) =
        sumcheck::verify(proof.unfolded, v.s + shape.in_vars, 2, &proof.wiring, t).map_err(
            |source| VerifyError::Sumcheck {
                stage: stage("wiring sumcheck"),
                source,
            },
        )?;
    t.absorb_ext(&[proof.input]);
    let (ps, rest) = in_point.split_at(v.s);
    let (pc, rest) = rest.split_at(v.c);
    let (py, px) = rest.split_at(g.rows.in_vars());
    let wire = eq_eval(rho_s, ps)
        * eq_eval(rho_c, pc)
        * g.eval(&kernel_coef(&g, rho_i, rho_j), rho_y, rho_x, py, px);
    if fin != proof.input * wire {
        return Err(VerifyError::Conv { layer });
    }
    Ok(DenseClaims {
        weight_point: [rho_o, &rho_q].concat(),
        input_point: in_point,
    })
}
