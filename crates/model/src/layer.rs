//! What inference needs of a quantized layer, whatever its kind: [`Layer`], implemented in each
//! kind's own file (`quantized.rs` for dense, `cnn.rs`, `add.rs`, `relayout.rs`, `map.rs`,
//! `softmax.rs`, `argmax.rs`). [`crate::QuantLayer`] lists the kinds (one line each) and
//! dereferences to the kind's `Layer`, so code outside matches on the kind only where it needs
//! the kind's own fields.

use crate::error::ModelError;
use crate::requant::requantize;

/// One layer's exact integer result on one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTrace {
    /// The accumulators before requantization (dense, conv, average pool, sum); `None` for a
    /// layer without requantization.
    pub acc: Option<Vec<i64>>,
    /// The layer's output.
    pub out: Vec<i64>,
}

/// A quantized layer as inference and setup see it.
pub trait Layer {
    /// Name (from the ONNX node).
    fn name(&self) -> &str;

    /// Scale of the layer's output.
    fn out_scale(&self) -> f64;

    /// Number of inputs (per sample, of each input tensor).
    fn input_len(&self) -> usize;

    /// The layout a proof writes the output in: `[n]` for a dense layer, `[C][H][W]` for a
    /// window op (conv, pools), a sum's shape, a relayout's `out_dims`, a row op's
    /// `[outer.., n]`. Values are C-ordered in every case; the layout is how the proof pads
    /// them (per dimension).
    fn out_layout(&self) -> Vec<usize>;

    /// The layout the layer reads its inputs in; `None` for one that reads any (a dense layer:
    /// its weight columns are permuted to its input's layout at setup; a map of one table,
    /// which keeps it).
    fn in_layout(&self) -> Option<Vec<usize>>;

    /// Number of outputs (per sample).
    fn output_len(&self) -> usize {
        self.out_layout().iter().product()
    }

    /// Number of tensors the layer reads.
    fn arity(&self) -> usize {
        1
    }

    /// The requantization of a requantizing layer (dense, conv, average pool, sum): the
    /// multipliers (per dense row, per output channel or position), how many consecutive
    /// outputs share one, and whether ReLU is fused; `None` for the others.
    fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        None
    }

    /// The weights (C order) and bias of a layer with weights (dense, conv); `None` for the
    /// others.
    fn weights(&self) -> Option<(&[i64], &[i64])> {
        None
    }

    /// Exact integer inference of one sample from the layer's inputs, keeping the
    /// accumulators.
    fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace;

    /// Exact integer forward of one sample from the layer's inputs.
    fn run(&self, xs: &[&[i64]], bits: u32) -> Vec<i64> {
        self.trace(xs, bits).out
    }

    /// Checks what inference and the proof rely on (shapes, tables, accumulator bounds).
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    fn check(&self, bits: u32) -> Result<(), ModelError>;
}

/// The trace of a requantizing layer from its accumulators: each requantized with its
/// multiplier (`per` consecutive outputs share one).
pub fn requantized(
    acc: Vec<i64>,
    multiplier: &[i64],
    per: usize,
    relu: bool,
    bits: u32,
) -> LayerTrace {
    let out = acc
        .iter()
        .enumerate()
        .map(|(k, &a)| {
            let m = multiplier.get(k / per.max(1)).copied().unwrap_or(0);
            requantize(a, m, relu, bits)
        })
        .collect();
    LayerTrace {
        acc: Some(acc),
        out,
    }
}

/// The trace of a layer without requantization.
pub fn plain(out: Vec<i64>) -> LayerTrace {
    LayerTrace { acc: None, out }
}

/// The first input of a layer (a layer reads at least one).
pub fn first<'a>(xs: &[&'a [i64]]) -> &'a [i64] {
    xs.first().copied().unwrap_or_default()
}
