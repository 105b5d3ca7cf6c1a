//! Model front end of ZKML: ONNX import into a small graph, quantization, exact integer inference.
//!
//! Sits below `zkml` (which proves what this crate computes) and knows nothing of proofs.
//! Data flow: [`import_onnx`] -> [`Graph`] (float, per-sample shapes, placeholders for gaps)
//! -> [`quantize`] with calibration samples -> [`QuantizedModel`] -> [`QuantizedModel::forward`].
//!
//! - [`add`]: the rescaled, requantized sum of two activations (residual joins).
//! - [`cnn`]: quantized convolution, max-pool and average-pool layers, their integer inference.
//! - [`error`]: [`ModelError`] and [`UnsupportedOp`] (one gap of a model).
//! - [`graph`]: the internal graph: a DAG of [`Node`]s with an exhaustive [`Op`] enum.
//! - [`onnx`]: ONNX protobuf -> [`Graph`]; constant folding with tract, one builder per
//!   supported ONNX op.
//! - [`summary`]: [`Summary`] of a graph for `zkml inspect`.
//! - [`quantize`](mod@quantize): calibration, scales, [`quantize()`], [`random_calibration`].
//! - [`requant`]: [`requantize`], the exact fixed-point requantization the prover relies on.
//! - [`relayout`]: the permutation of an activation (a Transpose, a Reshape read in another
//!   layout).
//! - [`layer`]: [`Layer`], what inference needs of every quantized layer kind (each kind
//!   implements it in its own file).
//! - [`quantized`]: [`QuantizedModel`], the registry of layer kinds ([`QuantLayer`]), the
//!   dense layer, integer inference, validation.
//! - [`argmax`]: the index of each row's maximum (a classifier's label).
//! - [`softmax`]: softmax and log-softmax of each row (the last axis), exact integer semantics.
//! - [`map`]: element-wise functions (Sigmoid, GELU, ...) as expressions and quantized tables.
//! - [`inputs`]: EZKL/DeepProve style input JSON, calibration files.
//! - [`reference`]: float inference with tract, the reference for accuracy.

pub mod add;
pub mod argmax;
pub mod cnn;
pub mod error;
pub mod graph;
pub mod inputs;
pub mod layer;
pub mod map;
pub mod onnx;
pub mod quantize;
pub mod quantized;
pub mod reference;
pub mod relayout;
pub mod requant;
pub mod softmax;
pub mod summary;

pub use add::AddLayer;
pub use argmax::ArgMaxLayer;
pub use cnn::{AvgPoolLayer, ConvLayer, MaxPoolLayer, Window};
pub use error::{ModelError, UnsupportedOp};
pub use graph::{AvgPool, BatchDim, Conv, Dense, FoldedNode, Graph, MaxPool, Node, Op, Transpose};
pub use inputs::{
    InputSpec, Inputs, load_calibration, load_inputs, parse_calibration, parse_inputs,
};
pub use layer::{Layer, LayerTrace};
pub use map::{Bin, Expr, Func, MapLayer};
pub use onnx::{import_onnx, import_onnx_bytes};
pub use quantize::{QuantConfig, ScaleMode, quantize, random_calibration};
pub use quantized::{
    DenseLayer, OutputSpec, QuantLayer, QuantizedModel, quantize_values, split_outputs,
};
pub use reference::FloatReference;
pub use relayout::{Placement, RelayoutLayer};
pub use requant::{REQUANT_SHIFT, requantize};
pub use softmax::{LogSoftmaxLayer, SoftmaxLayer};
pub use summary::{OpSummary, Summary};
