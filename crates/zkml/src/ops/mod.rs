//! One prover/verifier pair per op.

pub mod conv; // 2-D convolution: an im2col sumcheck and a wiring sumcheck
pub mod dense; // y = W x + b by a sumcheck over the inner index
pub mod maxpool; // max-pool: range-checked differences, a zero-check and a wiring sumcheck
pub mod requant; // out = clamp(round(acc * m / 2^32)) by a zero-check plus lookups
