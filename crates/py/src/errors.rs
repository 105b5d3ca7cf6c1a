//! Failures and the Python exceptions they raise.
//!
//! The kinds follow the CLI's exit codes: a refused proof (1) raises `VerificationError`, bad
//! input or a bad file (2) `ZkmlError` (`InputError` for arrays of the wrong shape or values),
//! a model the tool does not support (3) `UnsupportedModelError`. The exception classes are
//! defined in Python (`zkml/_errors.py`) so that `InputError` can also be a `ValueError`.

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use zkml::zkml_model::ModelError;

/// What went wrong, by the CLI's exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Exit 1: the proof was refused.
    Refused,
    /// Exit 2: a bad file or bad values.
    Usage,
    /// Exit 2, from the arrays a caller passed: wrong shape, not finite.
    Input,
    /// Exit 3: the model has ops, a structure or numbers the tool does not take.
    Unsupported,
    /// A bug: a panic inside the library.
    Internal,
}

/// A failure with the message the CLI would print.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl std::fmt::Display) -> Self {
        Self {
            kind,
            message: message.to_string(),
        }
    }

    /// A model front-end error, classified as the CLI's `Failure::model`.
    pub fn model(e: ModelError) -> Self {
        let kind = match e {
            ModelError::Unsupported { .. }
            | ModelError::Structure { .. }
            | ModelError::ReluWithoutDense { .. }
            | ModelError::Quantization { .. } => Kind::Unsupported,
            ModelError::Io { .. }
            | ModelError::Onnx { .. }
            | ModelError::Shape { .. }
            | ModelError::Config { .. }
            | ModelError::Calibration { .. }
            | ModelError::Input { .. }
            | ModelError::Reference { .. } => Kind::Usage,
        };
        Self::new(kind, e)
    }

    /// A setup error, classified as the CLI's `Failure::setup`.
    pub fn setup(e: zkml::SetupError) -> Self {
        match e {
            zkml::SetupError::Unsupported { .. } | zkml::SetupError::AccumulatorRange { .. } => {
                Self::new(Kind::Unsupported, e)
            }
            zkml::SetupError::Model(m) => Self::model(m),
            other => Self::new(Kind::Usage, other),
        }
    }

    /// The Python exception: a class of `zkml._errors` with the message.
    pub fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let class = match self.kind {
            Kind::Refused => "VerificationError",
            Kind::Usage => "ZkmlError",
            Kind::Input => "InputError",
            Kind::Unsupported => "UnsupportedModelError",
            Kind::Internal => "InternalError",
        };
        match py
            .import("zkml._errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((self.message.clone(),)))
        {
            Ok(exc) => PyErr::from_value(exc),
            // the package is broken (the module was imported outside it): still an exception
            Err(_) => PyRuntimeError::new_err(self.message),
        }
    }
}

pub type Result<T> = std::result::Result<T, Failure>;
