//! Dense layer: `acc(s, o) = sum_j W(o, j) x(s, j) + b(o)`, reduced by one sumcheck over `j`.
//!
//! Claim in: `acc(rho_s, rho_o)`. Claims out: `W(rho_o, rho_j)` and `b(rho_o)` on the weight
//! commitment, `x(rho_s, rho_j)` on the previous layer's output (or the public input).
//! Prover cost: one pass over `W` folding rows with `eq(rho_o)` (extension times base field),
//! one over `x`, then a degree-2 sumcheck over the inner dimension.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F};
use zkml_proof::mle::eq_table;
use zkml_proof::sumcheck::{self, ProductSum, SumcheckProof};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Hook, Stage, Value};
use crate::error::VerifyError;
use crate::keys::VkLayer;
use crate::layout::LayerShape;
use crate::ops::LayerProof;
use crate::ops::requant::BoundViolation;
use crate::ops::requant::Requantized;
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, requant};
use crate::statement::Claims;

/// The dense layer kind: a sumcheck over the inner index, then the shared requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense;

impl From<&zkml_model::DenseLayer> for Dense {
    fn from(_: &zkml_model::DenseLayer) -> Self {
        Self
    }
}

impl LayerKind for Dense {
    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (requant, point, requant_evals) = requant::prove_step(cx, claims, t);
        let (w, b) = cx.weights();
        let sv = cx.layout.sample_vars;
        let (dp, rho_j) = prove(w, b, cx.input(0), sv, &point, requant_evals.acc, cx.hook, t);
        let (rho_s, rho_o) = point.split_at(sv);
        let weight_point = [rho_o, &rho_j].concat();
        claims.weights(cx.l, weight_point, dp.weight, cx.shape.mult_vars, dp.bias);
        cx.input_claim(claims, 0, [rho_s, &rho_j].concat(), dp.input);
        Requantized {
            requant,
            requant_evals,
            inner: dp,
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
            inner: dense,
        } = cx.proof::<Requantized<DenseProof>>(proof)?;
        let point = requant::verify_step(cx, requant, requant_evals, claims, t)?;
        let (sv, in_vars) = (cx.layout.sample_vars, cx.shape.in_vars);
        let dc = verify(cx.l, requant_evals.acc, &point, sv, in_vars, dense, t)?;
        claims.weights(
            cx.l,
            dc.weight_point,
            dense.weight,
            cx.shape.mult_vars,
            dense.bias,
        );
        claims.layer_input(cx.layout, cx.public, (cx.l, 0), dc.input_point, dense.input)
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // one multiplier per row
        Ok(cx.layer.n_out)
    }

    fn has_weights(&self) -> bool {
        true
    }

    /// `[n_out]` then the input's layout: the weight columns are permuted to it at setup.
    fn weight_dims(&self, n_out: usize, in_dims: &[usize]) -> Option<Vec<usize>> {
        Some([&[n_out][..], in_dims].concat())
    }

    fn check_bounds(
        &self,
        l: &VkLayer,
        bits: u32,
        bias_bits: &[u8],
    ) -> Result<u32, BoundViolation> {
        requant::check_derived_bounds(l.n_in, bits, bias_bits, &l.multiplier)
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // requantization: the zero-check's eq point (nv), then nv rounds of degree 3; the dense
        // sumcheck: in_vars rounds of degree 2
        4 * (sample_vars + shape.out_vars) + 2 * shape.in_vars
    }
}

/// A dense layer's proof: the bias value, the sumcheck and the two factors at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenseProof {
    pub bias: EF,
    pub sumcheck: SumcheckProof,
    pub weight: EF,
    pub input: EF,
}

/// The claims a verified dense proof leaves to the caller.
pub struct DenseClaims {
    /// Point of `W`: `(rho_o, rho_j)`; `b` is claimed at `rho_o`.
    pub weight_point: Vec<EF>,
    /// Point of `x`: `(rho_s, rho_j)`.
    pub input_point: Vec<EF>,
}

/// `sum_r eq[r] * rows[r][..]` for a row-major `[R][C]` matrix: the MLE with its row variables
/// fixed. Work stays in base-field times extension-field products.
pub fn fold_rows(matrix: &[F], cols: usize, eq: &[EF]) -> Vec<EF> {
    const CHUNK: usize = 256;
    let fold_range = |c0: usize, c1: usize| {
        let mut acc = vec![EF::ZERO; c1 - c0];
        for (r, &e) in eq.iter().enumerate() {
            let row = &matrix[r * cols + c0..r * cols + c1];
            for (a, &w) in acc.iter_mut().zip(row) {
                *a += e * w;
            }
        }
        acc
    };
    if cols <= CHUNK {
        return fold_range(0, cols);
    }
    (0..cols.div_ceil(CHUNK))
        .into_par_iter()
        .flat_map_iter(|c| fold_range(c * CHUNK, ((c + 1) * CHUNK).min(cols)))
        .collect()
}

/// Proves `acc(point) = acc` for `point = (rho_s, rho_o)`; `w` is `[O][I]`, `b` is `[O]`, `x`
/// is `[S][I]`, all padded. Returns the proof and `rho_j`. `hook` is the cheating prover's
/// (tests); the honest prover passes an inactive one.
#[allow(clippy::too_many_arguments)]
pub fn prove(
    w: &[F],
    b: &[F],
    x: &[F],
    sample_vars: usize,
    point: &[EF],
    acc: EF,
    hook: Hook<'_>,
    t: &mut Transcript,
) -> (DenseProof, Vec<EF>) {
    let (rho_s, rho_o) = point.split_at(sample_vars);
    let eq_o = eq_table(rho_o);
    let cols = w.len() / eq_o.len();
    let mut bias: EF = eq_o.iter().zip(b).map(|(&e, &v)| e * v).sum();
    hook.value(Value::Bias, &mut bias);
    t.absorb_ext(&[bias]);
    let a = fold_rows(w, cols, &eq_o);
    let xs = fold_rows(x, cols, &eq_table(rho_s));
    let mut kernel = ProductSum {
        tables: vec![a, xs],
        terms: vec![(EF::ONE, vec![0, 1])],
    };
    let num_vars = cols.trailing_zeros() as usize;
    let (sumcheck, rho_j, offset) =
        hook.sumcheck(Stage::Dense, &mut kernel, num_vars, || acc - bias, t);
    let (mut weight, mut input) = (kernel.tables[0][0], kernel.tables[1][0]);
    let fin = weight * input + offset;
    hook.value(Value::Weight, &mut weight);
    hook.value(Value::Input, &mut input);
    hook.fix_product(
        fin,
        (Value::Weight, &mut weight),
        (Value::Input, &mut input),
    );
    t.absorb_ext(&[weight, input]);
    (
        DenseProof {
            bias,
            sumcheck,
            weight,
            input,
        },
        rho_j,
    )
}

/// Verifies layer `layer`'s dense proof against the claim `acc(point) = acc`.
///
/// # Errors
/// [`VerifyError::Sumcheck`] on a malformed sumcheck, [`VerifyError::Dense`] when the final
/// product does not match.
pub fn verify(
    layer: usize,
    acc: EF,
    point: &[EF],
    sample_vars: usize,
    in_vars: usize,
    proof: &DenseProof,
    t: &mut Transcript,
) -> Result<DenseClaims, VerifyError> {
    let (rho_s, rho_o) = point.split_at(sample_vars);
    t.absorb_ext(&[proof.bias]);
    let (rho_j, fin) =
        sumcheck::verify(acc - proof.bias, in_vars, 2, &proof.sumcheck, t).map_err(|source| {
            VerifyError::Sumcheck {
                stage: format!("dense sumcheck of layer {layer}"),
                source,
            }
        })?;
    t.absorb_ext(&[proof.weight, proof.input]);
    if fin != proof.weight * proof.input {
        return Err(VerifyError::Dense { layer });
    }
    Ok(DenseClaims {
        weight_point: [rho_o, &rho_j].concat(),
        input_point: [rho_s, &rho_j].concat(),
    })
}
