//! The sum of two activations at different scales (a residual join):
//! `acc = m_a a + m_b b` elementwise, then the shared requantization with multiplier 1.
//!
//! Both inputs are laid out as the output (`layout::chain_error` refuses other graphs), so the
//! identity holds between multilinear extensions at any point: after the requantization's
//! zero-check leaves the claim `acc(rho)`, the prover sends `a(rho)` and `b(rho)`, the verifier
//! checks `acc(rho) = m_a a(rho) + m_b b(rho)` and queues the two values as claims on the
//! inputs' columns. No sumcheck; prover cost two evaluations of the inputs.

use zkml_proof::field::from_i64;
use zkml_proof::mle::evaluate;
use zkml_proof::transcript::Transcript;

use crate::cheat::Msg;
use crate::error::VerifyError;
use crate::layout::LayerShape;
use crate::ops::{Kind, LayerKind, ProveCx, VerifyCx, requant};
use crate::proof::LayerProof;
use crate::statement::Claims;

/// The sum layer kind.
pub struct Add;

/// `m_a`, `m_b` of a sum layer.
fn scales(shape: &LayerShape) -> [i64; 2] {
    let Kind::Add(scales) = shape.kind else {
        unreachable!("sum layer")
    };
    scales
}

impl LayerKind for Add {
    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof {
        let (requant, point, requant_evals) = requant::prove_step(cx, claims, t);
        let mut inputs = [evaluate(cx.input(0), &point), evaluate(cx.input(1), &point)];
        cx.hook.edit(Msg::SumInputs(cx.l), &mut inputs);
        t.absorb_ext(&inputs);
        for (k, &v) in inputs.iter().enumerate() {
            cx.input_claim(claims, k, point.clone(), v);
        }
        LayerProof::Add {
            requant,
            requant_evals,
            inputs,
        }
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        let LayerProof::Add {
            requant,
            requant_evals,
            inputs,
        } = proof
        else {
            return Err(VerifyError::LayerKind { layer: cx.l });
        };
        let point = requant::verify_step(cx, requant, requant_evals, claims, t)?;
        t.absorb_ext(inputs);
        let [ma, mb] = scales(cx.shape).map(from_i64);
        if requant_evals.acc != inputs[0] * ma + inputs[1] * mb {
            return Err(VerifyError::Add { layer: cx.l });
        }
        for (k, &v) in inputs.iter().enumerate() {
            claims.layer_input(cx.layout, cx.public, (cx.l, k), point.clone(), v)?;
        }
        Ok(())
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // requantization only: the zero-check's eq point, then degree-3 rounds
        4 * (sample_vars + shape.out_vars)
    }
}
