//! Errors of the logup-GKR verifier.

use thiserror::Error;

/// Why [`super::verify`] rejected a proof.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum GkrError {
    /// The proof has a root for a different number of segments than the statement.
    #[error("expected {expected} segment roots, proof has {got}")]
    WrongSegmentCount { expected: usize, got: usize },
    /// The proof has a different number of layers than the deepest segment needs.
    #[error("expected {expected} layers, proof has {got}")]
    WrongLayerCount { expected: usize, got: usize },
    /// A layer has a different number of sumcheck rounds than its depth.
    #[error("layer at depth {depth}: expected {expected} sumcheck rounds, got {got}")]
    WrongRoundCount {
        depth: usize,
        expected: usize,
        got: usize,
    },
    /// A layer has children values for a different number of segments than are active.
    #[error("layer at depth {depth}: expected children of {expected} segments, got {got}")]
    WrongChildCount {
        depth: usize,
        expected: usize,
        got: usize,
    },
    /// A root denominator is zero (some leaf denominator is zero).
    #[error("root denominator of segment {segment} is zero")]
    RootDenominatorZero { segment: usize },
    /// The root fractions do not sum to zero.
    #[error("the root fractions do not sum to zero")]
    NonZeroSum,
    /// A sumcheck round polynomial does not match the running claim.
    #[error("layer at depth {depth}: sumcheck round {round} does not match the claim")]
    RoundMismatch { depth: usize, round: usize },
    /// The children values do not match the claim left by the layer's sumcheck.
    #[error("layer at depth {depth}: children values do not match the sumcheck claim")]
    LayerClaimMismatch { depth: usize },
}
