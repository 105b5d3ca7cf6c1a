//! Sumcheck for sums of products of multilinear tables.
//!
//! The prover convinces the verifier that `claimed_sum = sum_{x in {0,1}^n} g(x)` where `g` is a
//! polynomial of degree at most `degree` in each variable (here: a sum of products of MLEs).
//! Variables are bound in order, first (most significant) variable first, so the returned point
//! is in the MSB-first convention of [`crate::mle`].
//!
//! Round message: `h(0), h(2), h(3), ..., h(degree)`; the verifier derives `h(1) = claim - h(0)`.
//!
//! # Soundness
//! [`verify`] only reduces the sum claim to a claim `g(point) = final_claim`; the caller must
//! check that claim against evaluations it trusts (commitment openings, public data, or a
//! further sub-protocol).

mod error;
mod prove;
mod verify;
mod zerocheck;
pub mod zk;

#[cfg(test)]
pub(crate) mod tests;

pub use error::SumcheckError;
pub(crate) use prove::fold_lifted;
pub use prove::{BaseFirst, ProductSum, RoundKernel, prove, prove_deviating};
pub use verify::verify;
pub use zerocheck::ZeroCheck;

use serde::{Deserialize, Serialize};

use crate::field::EF;

/// A sumcheck proof: one message per variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SumcheckProof {
    /// Round `k`: `h_k(0), h_k(2), ..., h_k(degree)`.
    pub rounds: Vec<Vec<EF>>,
}

/// Evaluates the polynomial of degree `evals.len() - 1` through `(i, evals[i])` at `x`
/// (Lagrange interpolation on the nodes `0, 1, ..., d`).
pub fn interpolate_uni(evals: &[EF], x: EF) -> EF {
    use p3_field::{Field, PrimeCharacteristicRing};
    let d = evals.len();
    let nodes: Vec<EF> = (0..d).map(|i| EF::from_u64(i as u64)).collect();
    let mut acc = EF::ZERO;
    for i in 0..d {
        let mut num = EF::ONE;
        let mut den = EF::ONE;
        for j in 0..d {
            if i != j {
                num *= x - nodes[j];
                den *= nodes[i] - nodes[j];
            }
        }
        acc += evals[i] * num * den.inverse();
    }
    acc
}
