//! The crate's error type.

use std::fmt;
use std::path::PathBuf;

/// One op of the ONNX graph that the front end cannot take: a placeholder in the [`crate::Graph`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnsupportedOp {
    /// ONNX node name (or `#index` when the node has none).
    pub node: String,
    /// ONNX op type, e.g. `Sigmoid`.
    pub op_type: String,
    /// Why it is not supported, e.g. `alpha = 0.5 (only 1 is supported)`.
    pub reason: String,
}

impl fmt::Display for UnsupportedOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.node, self.op_type, self.reason)
    }
}

/// A list of unsupported ops, displayed one per line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapList(pub Vec<UnsupportedOp>);

impl fmt::Display for GapList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, gap) in self.0.iter().enumerate() {
            write!(f, "\n  {}. {gap}", i + 1)?;
        }
        Ok(())
    }
}

/// Everything that can go wrong in the model front end.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a valid ONNX protobuf, or a tensor in it cannot be decoded.
    #[error("invalid ONNX: {detail}")]
    Onnx { detail: String },
    /// The graph has a structure the front end does not take (no path from the input to the output, several inputs...).
    #[error("unsupported graph structure: {detail}")]
    Structure { detail: String },
    /// Shapes do not agree at a node.
    #[error("shape error at node {node}: {detail}")]
    Shape { node: String, detail: String },
    /// The graph contains ops that cannot be quantized; every one of them is listed.
    #[error("{} unsupported op(s):{}", gaps.0.len(), gaps)]
    Unsupported { gaps: GapList },
    /// A ReLU that does not follow a dense or conv layer (it cannot be fused).
    #[error(
        "ReLU node {node} does not follow a dense or conv layer (only ReLU fused into Gemm/MatMul/Conv is supported)"
    )]
    ReluWithoutDense { node: String },
    /// A quantization parameter is invalid or a bound the prover needs does not hold.
    #[error("quantization of layer {layer}: {detail}")]
    Quantization { layer: String, detail: String },
    /// The quantization configuration is invalid.
    #[error("invalid quantization config: {detail}")]
    Config { detail: String },
    /// Calibration data is missing or malformed.
    #[error("calibration: {detail}")]
    Calibration { detail: String },
    /// An input JSON document is malformed.
    #[error("input JSON: {detail}")]
    Input { detail: String },
    /// The tract float reference failed.
    #[error("float reference (tract): {detail}")]
    Reference { detail: String },
}

impl ModelError {
    pub(crate) fn input(detail: impl Into<String>) -> Self {
        ModelError::Input {
            detail: detail.into(),
        }
    }
}
