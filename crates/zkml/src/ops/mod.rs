//! One prover/verifier pair per op.

pub mod dense; // y = W x + b by a sumcheck over the inner index
pub mod requant; // out = clamp(round(acc * m / 2^32)) by a zero-check plus lookups
