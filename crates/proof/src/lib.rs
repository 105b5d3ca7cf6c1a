//! Proof toolkit of ZKML. Knows nothing of neural networks.
//!
//! Conventions: a multilinear extension (MLE) over `n` variables is stored as its `2^n`
//! evaluations on the boolean hypercube; the evaluation at index `i` corresponds to the point
//! whose FIRST coordinate is the MOST significant bit of `i` (MSB-first, as `p3-whir` uses).
//! A 2-D tensor `[rows][cols]` stored row-major is therefore the MLE `t(r, c)` with the row
//! variables first.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod field; // Goldilocks F, cubic extension EF, signed-integer embedding
pub mod gkr; // batched fractional-sum GKR (logup-GKR) over trees of different depths
pub mod mle; // MLE evaluation tables, eq tables, padding
pub mod pcs;
pub mod sumcheck; // sumcheck prover/verifier for products of MLEs
pub mod transcript; // Fiat-Shamir transcript over Plonky3's duplex challenger // multilinear commitment (p3-whir) for many columns, opened at prescribed points
