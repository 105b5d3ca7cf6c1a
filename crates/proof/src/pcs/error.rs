//! Errors of the commitment wrapper.

/// Why a commit, an opening or a verification failed.
#[derive(Debug, thiserror::Error)]
pub enum PcsError {
    /// A commitment needs at least one column.
    #[error("a commitment needs at least one column")]
    NoColumns,
    /// A column's length is not a power of two (or is zero).
    #[error("column {column} has length {len}, not a power of two")]
    BadColumnLength {
        /// The column index.
        column: usize,
        /// Its length.
        len: usize,
    },
    /// A column has more variables than the wrapper supports.
    #[error("column {column} has {num_vars} variables, more than the supported {max}")]
    ColumnTooLarge {
        /// The column index.
        column: usize,
        /// Its number of variables.
        num_vars: usize,
        /// The largest supported number of variables.
        max: usize,
    },
    /// A claim names a column the commitment does not hold.
    #[error("claim {claim} names column {column}, but the commitment holds {num_columns}")]
    BadColumn {
        /// The claim index.
        claim: usize,
        /// The column it names.
        column: usize,
        /// The number of committed columns.
        num_columns: usize,
    },
    /// A claim's point does not have the column's number of variables.
    #[error("claim {claim} has a point of {actual} coordinates, its column has {expected}")]
    BadPointLength {
        /// The claim index.
        claim: usize,
        /// The column's number of variables.
        expected: usize,
        /// The point's length.
        actual: usize,
    },
    /// The number of claimed values differs from the number of claims.
    #[error("{values} values for {claims} claims")]
    ValueCountMismatch {
        /// Number of claims.
        claims: usize,
        /// Number of values.
        values: usize,
    },
    /// The proof opens claim `claim` to another value than the one claimed.
    #[error("claim {claim}: the proof opens another value")]
    WrongValue {
        /// The claim index.
        claim: usize,
    },
    /// The proof's structure does not fit the shape and the claims.
    #[error("malformed opening proof: {what}")]
    MalformedProof {
        /// What did not fit.
        what: String,
    },
    /// The WHIR configuration, prover or verifier rejected the input.
    #[error("WHIR: {0}")]
    Whir(String),
}
