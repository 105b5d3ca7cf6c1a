use thiserror::Error;

/// Why a sumcheck proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SumcheckError {
    /// The proof has a different number of rounds than the statement's variables.
    #[error("sumcheck has {got} rounds, expected {expected}")]
    WrongRoundCount { expected: usize, got: usize },
    /// A round message has the wrong number of evaluations for the statement's degree.
    #[error("sumcheck round {round} has {got} evaluations, expected {expected}")]
    WrongDegree {
        round: usize,
        expected: usize,
        got: usize,
    },
}
