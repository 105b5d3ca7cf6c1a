//! The sum of two activations at different scales (a residual join):
//! `acc = m_a a + m_b b` elementwise, then the shared requantization with multiplier 1.
//!
//! Both inputs are laid out as the output (`layout::chain_error` refuses other graphs), so the
//! identity holds between multilinear extensions at any point: after the requantization's
//! zero-check leaves the claim `acc(rho)`, the prover sends `a(rho)` and `b(rho)`, the verifier
//! checks `acc(rho) = m_a a(rho) + m_b b(rho)` and queues the two values as claims on the
//! inputs' columns. No sumcheck; prover cost two evaluations of the inputs.

use zkml_proof::field::{EF, from_i64};
use zkml_proof::mle::evaluate;
use zkml_proof::transcript::Transcript;

use crate::cheat::Msg;
use crate::error::VerifyError;
use crate::layout::LayerShape;
use serde::{Deserialize, Serialize};

use crate::keys::VkLayer;
use crate::ops::LayerProof;
use crate::ops::requant::BoundViolation;
use crate::ops::requant::Requantized;
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, requant};
use crate::statement::Claims;

/// The sum layer kind: `a m_a + b m_b` (`scales = [m_a, m_b]`), requantized with multiplier 1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Add {
    pub scales: [i64; 2],
}

impl From<&zkml_model::AddLayer> for Add {
    fn from(l: &zkml_model::AddLayer) -> Self {
        Self { scales: l.scales }
    }
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
        Requantized {
            requant,
            requant_evals,
            inner: inputs,
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
            inner: inputs,
        } = cx.proof::<Requantized<[EF; 2]>>(proof)?;
        let point = requant::verify_step(cx, requant, requant_evals, claims, t)?;
        t.absorb_ext(inputs);
        let [ma, mb] = self.scales.map(from_i64);
        if requant_evals.acc != inputs[0] * ma + inputs[1] * mb {
            return Err(VerifyError::Add { layer: cx.l });
        }
        for (k, &v) in inputs.iter().enumerate() {
            claims.layer_input(cx.layout, cx.public, (cx.l, k), point.clone(), v)?;
        }
        Ok(())
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        let l = cx.layer;
        if l.n_in != l.n_out || self.scales.iter().any(|m| !(0..1 << 42).contains(m)) {
            return Err(KeyFault::Shape);
        }
        // requantized with multiplier 1, one per channel of its layout
        if l.multiplier.iter().any(|&m| m != 1) {
            return Err(KeyFault::Multipliers);
        }
        Ok(cx.dims().1.first().copied().unwrap_or(0))
    }

    fn arity(&self) -> usize {
        2
    }

    fn keeps_layout(&self) -> bool {
        true
    }

    fn check_bounds(
        &self,
        l: &VkLayer,
        bits: u32,
        _bias_bits: &[u8],
    ) -> Result<u32, BoundViolation> {
        requant::check_sum_bounds(self.scales, bits, &l.multiplier)
    }

    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize {
        // requantization only: the zero-check's eq point, then degree-3 rounds
        4 * (sample_vars + shape.out_vars)
    }
}
