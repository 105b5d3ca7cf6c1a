//! The quantized model and its exact integer inference.

use serde::{Deserialize, Serialize};

use crate::add::AddLayer;
use crate::argmax::ArgMaxLayer;
use crate::cnn::{AvgPoolLayer, ConvLayer, MaxPoolLayer};
use crate::error::ModelError;
use crate::graph::BatchDim;
use crate::inputs::InputSpec;
pub use crate::layer::{Layer, LayerTrace};
use crate::layer::{first, requantized};
use crate::map::MapLayer;
use crate::quantize::ScaleMode;
use crate::relayout::RelayoutLayer;
use crate::requant::{activation_range, check_row_bounds, max_abs_acc, weight_max};
use crate::softmax::{LogSoftmaxLayer, SoftmaxLayer};

/// A dense layer with integer weights, fused requantization and optional fused ReLU.
///
/// `out_i = requantize(sum_j weight[i][j] * x_j + bias_i, multiplier_i, relu, bits)`; the real
/// value of `out_i` is `out_i * out_scale`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DenseLayer {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// Row-major `[n_out][n_in]`, each in `[-(2^(bits-1)-1), 2^(bits-1)-1]`.
    pub weight: Vec<i64>,
    /// `round(b / (s_in * s_w_row))`.
    pub bias: Vec<i64>,
    /// Per row `round(s_in * s_w_row / s_out * 2^REQUANT_SHIFT)`.
    pub multiplier: Vec<i64>,
    pub relu: bool,
    /// Scale of this layer's output activations.
    pub out_scale: f64,
}

/// One layer of a [`QuantizedModel`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum QuantLayer {
    Dense(DenseLayer),
    Conv(ConvLayer),
    MaxPool(MaxPoolLayer),
    AvgPool(AvgPoolLayer),
    Add(AddLayer),
    Relayout(RelayoutLayer),
    Map(MapLayer),
    Softmax(SoftmaxLayer),
    LogSoftmax(LogSoftmaxLayer),
    ArgMax(ArgMaxLayer),
}

/// Quantized layers, each reading the model input or earlier layers' outputs: symmetric
/// quantization, zero point 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantizedModel {
    /// Activation and weight bit width (2..=16).
    pub bits: u32,
    pub scales: ScaleMode,
    pub batch: BatchDim,
    /// Per-sample input shape (batch dimension removed).
    pub input_shape: Vec<usize>,
    /// Scale of the input: `x ~ x_q * input_scale`.
    pub input_scale: f64,
    pub layers: Vec<QuantLayer>,
    /// The tensors each layer reads: 0 is the model input, `k + 1` the output of layer `k`
    /// (always an earlier layer). Empty: a chain, layer `l` reads tensor `l`. The last layer's
    /// output is the model's.
    pub inputs: Vec<Vec<usize>>,
    /// The permutation of the input's per-sample axes applied as it is quantized (an input
    /// Transpose of the ONNX model, e.g. NHWC -> NCHW); empty: none.
    pub input_perm: Vec<usize>,
    /// The graph's outputs, in order: each one's part of the last layer's output (which joins
    /// them when there are several); empty: one unnamed output, the last layer's.
    pub outputs: Vec<OutputSpec>,
}

/// Each output's name and dequantized values in one sample's output `yq` (the last layer's):
/// split as `specs` say, or one output named `output` at `scale` when there are none.
pub fn split_outputs(specs: &[OutputSpec], yq: &[i64], scale: f64) -> Vec<(String, Vec<f32>)> {
    let deq = |v: &[i64], s: f64| v.iter().map(|&x| (x as f64 * s) as f32).collect();
    if specs.is_empty() {
        return vec![("output".to_string(), deq(yq, scale))];
    }
    let mut at = 0;
    specs
        .iter()
        .map(|s| {
            let part = yq.get(at..at + s.len).unwrap_or_default();
            at += s.len;
            (s.name.clone(), deq(part, s.scale))
        })
        .collect()
}

/// One graph output of a model with several: its name, its number of values and its scale
/// (the values are the next `len` of the last layer's output).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub name: String,
    pub len: usize,
    pub scale: f64,
}

impl DenseLayer {
    /// Row `i` of the weights.
    pub fn row(&self, i: usize) -> &[i64] {
        &self.weight[i * self.n_in..(i + 1) * self.n_in]
    }

    /// Rows `start..start + len` as a layer of their own, named `{name}/rows{start}`.
    pub fn rows(&self, start: usize, len: usize) -> DenseLayer {
        let end = start + len;
        DenseLayer {
            name: format!("{}/rows{start}", self.name),
            n_in: self.n_in,
            n_out: len,
            weight: self.weight[start * self.n_in..end * self.n_in].to_vec(),
            bias: self.bias[start..end].to_vec(),
            multiplier: self.multiplier[start..end].to_vec(),
            relu: self.relu,
            out_scale: self.out_scale,
        }
    }

    /// The accumulators `acc_i = sum_j W_ij x_j + b_i` (no overflow for in-range inputs of a
    /// validated layer: `|acc_i| <= A_i < 2^62`).
    pub fn accumulate(&self, x: &[i64]) -> Vec<i64> {
        assert_eq!(x.len(), self.n_in, "layer {}: input length", self.name);
        (0..self.n_out)
            .map(|i| self.row(i).iter().zip(x).map(|(&w, &v)| w * v).sum::<i64>() + self.bias[i])
            .collect()
    }

    /// Check sizes, weight range and the requantization bounds of every row.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer, the row and the numbers.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Quantization {
            layer: self.name.clone(),
            detail,
        };
        if self.n_in.checked_mul(self.n_out) != Some(self.weight.len())
            || self.bias.len() != self.n_out
            || self.multiplier.len() != self.n_out
        {
            return Err(err(format!(
                "sizes: n_in {} n_out {} weights {} biases {} multipliers {}",
                self.n_in,
                self.n_out,
                self.weight.len(),
                self.bias.len(),
                self.multiplier.len()
            )));
        }
        let wmax = weight_max(bits);
        if let Some(w) = self.weight.iter().find(|w| w.abs() > wmax) {
            return Err(err(format!("weight {w} outside [-{wmax}, {wmax}]")));
        }
        for i in 0..self.n_out {
            let a = max_abs_acc(self.row(i), self.bias[i], bits);
            check_row_bounds(a, self.multiplier[i], bits)
                .map_err(|d| err(format!("row {i}: {d}")))?;
        }
        Ok(())
    }
}

impl std::ops::Deref for QuantLayer {
    type Target = dyn Layer;

    /// The registry: each kind's [`Layer`].
    fn deref(&self) -> &(dyn Layer + 'static) {
        match self {
            QuantLayer::Dense(l) => l,
            QuantLayer::Conv(l) => l,
            QuantLayer::MaxPool(l) => l,
            QuantLayer::AvgPool(l) => l,
            QuantLayer::Add(l) => l,
            QuantLayer::Relayout(l) => l,
            QuantLayer::Map(l) => l,
            QuantLayer::Softmax(l) => l,
            QuantLayer::LogSoftmax(l) => l,
            QuantLayer::ArgMax(l) => l,
        }
    }
}

impl Layer for DenseLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.n_in
    }

    fn out_layout(&self) -> Vec<usize> {
        vec![self.n_out]
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        None
    }

    fn weights(&self) -> Option<(&[i64], &[i64])> {
        Some((&self.weight, &self.bias))
    }

    fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        Some((&self.multiplier, 1, self.relu))
    }

    fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
        requantized(
            self.accumulate(first(xs)),
            &self.multiplier,
            1,
            self.relu,
            bits,
        )
    }

    fn check(&self, bits: u32) -> Result<(), ModelError> {
        self.validate(bits)
    }
}

impl QuantizedModel {
    /// Values in one input sample.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Values in one output sample.
    pub fn output_len(&self) -> usize {
        self.layers
            .last()
            .map_or(self.input_len(), |l| l.output_len())
    }

    /// What an input JSON document must hold for this model.
    pub fn input_spec(&self) -> InputSpec {
        InputSpec {
            batch: self.batch,
            sample_len: self.input_len(),
            // a reference output is the first graph output's
            output_len: Some(self.outputs.first().map_or(self.output_len(), |o| o.len)),
        }
    }

    /// Quantize one float sample: `round(x / input_scale)` rounding half away from zero, then
    /// CLAMPED to the activation range (out-of-range inputs saturate; NaN becomes 0).
    ///
    /// # Panics
    /// If `x.len() != self.input_len()`.
    pub fn quantize_input(&self, x: &[f32]) -> Vec<i64> {
        assert_eq!(x.len(), self.input_len(), "input length");
        let x = crate::graph::permute(x, &self.input_shape, &self.input_perm);
        quantize_values(&x, self.input_scale, self.bits)
    }

    /// Exact integer inference of one sample; returns every layer's output (the last one is the
    /// model output).
    ///
    /// # Panics
    /// If `xq` has the wrong length or a value outside the activation range.
    pub fn forward(&self, xq: &[i64]) -> Vec<Vec<i64>> {
        let (lo, hi) = activation_range(self.bits);
        assert!(
            xq.iter().all(|v| (lo..=hi).contains(v)),
            "input outside the activation range"
        );
        self.trace(xq).into_iter().map(|t| t.out).collect()
    }

    /// The tensors layer `l` reads (0: the model input, `k + 1`: layer `k`'s output).
    pub fn layer_inputs(&self, l: usize) -> Vec<usize> {
        self.inputs.get(l).cloned().unwrap_or_else(|| vec![l])
    }

    /// [`QuantizedModel::forward`], keeping every layer's accumulators: the witness of a proof.
    ///
    /// # Panics
    /// If `xq` has the wrong length, or the model did not pass [`QuantizedModel::validate`].
    pub fn trace(&self, xq: &[i64]) -> Vec<LayerTrace> {
        let mut traces: Vec<LayerTrace> = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let xs: Vec<&[i64]> = self
                .layer_inputs(l)
                .iter()
                .map(|&t| t.checked_sub(1).map_or(xq, |k| traces[k].out.as_slice()))
                .collect();
            let trace = layer.trace(&xs, self.bits);
            traces.push(trace);
        }
        traces
    }

    /// Number of values of tensor `t` (0: the input, `k + 1`: layer `k`'s output).
    fn tensor_len(&self, t: usize) -> usize {
        t.checked_sub(1)
            .map_or(self.input_len(), |k| self.layers[k].output_len())
    }

    /// Real values of a quantized output: `yq * out_scale` of the last layer.
    pub fn dequantize_output(&self, yq: &[i64]) -> Vec<f32> {
        self.output_rows(yq).swap_remove(0).1
    }

    /// Every graph output of one sample, by name ([`split_outputs`]).
    pub fn output_rows(&self, yq: &[i64]) -> Vec<(String, Vec<f32>)> {
        let scale = self
            .layers
            .last()
            .map_or(self.input_scale, |l| l.out_scale());
        split_outputs(&self.outputs, yq, scale)
    }

    /// Check everything the prover relies on: bit width, layer widths chaining from the input,
    /// weight ranges, requantization bounds. Run this on a model read from untrusted bytes.
    ///
    /// # Errors
    /// [`ModelError::Config`] or [`ModelError::Quantization`] naming what failed.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(2..=16).contains(&self.bits) {
            return Err(ModelError::Config {
                detail: format!("bits = {} not in 2..=16", self.bits),
            });
        }
        if self.layers.is_empty() {
            return Err(ModelError::Config {
                detail: "model has no layer".into(),
            });
        }
        if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            let detail = format!("input scale {} is not positive", self.input_scale);
            return Err(ModelError::Config { detail });
        }
        if !self.inputs.is_empty() && self.inputs.len() != self.layers.len() {
            return Err(ModelError::Config {
                detail: format!(
                    "{} input lists for {} layers",
                    self.inputs.len(),
                    self.layers.len()
                ),
            });
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let err = |detail: String| ModelError::Quantization {
                layer: layer.name().to_string(),
                detail,
            };
            let inputs = self.layer_inputs(l);
            if inputs.len() != layer.arity() || inputs.iter().any(|&t| t > l) {
                return Err(err(format!(
                    "reads tensors {inputs:?}: it takes {} earlier tensor(s)",
                    layer.arity()
                )));
            }
            for &t in &inputs {
                let width = self.tensor_len(t);
                if layer.input_len() != width {
                    return Err(err(format!(
                        "takes {} inputs, tensor {t} has {width}",
                        layer.input_len()
                    )));
                }
            }
            // a map with a function per channel finds the channel in its input's layout
            if let QuantLayer::Map(m) = layer {
                let producer = inputs.first().and_then(|t| t.checked_sub(1));
                let written = producer.map(|k| self.layers[k].out_layout());
                if m.channels > 1 && written.as_ref() != Some(&m.dims) {
                    return Err(err(format!(
                        "one function per channel of {:?}, reading {written:?} (a layer's \
                         output laid out so, channel first)",
                        m.dims
                    )));
                }
            }
            layer.check(self.bits)?;
        }
        Ok(())
    }
}

/// Quantize values at `scale`: `round(x / scale)` rounding half away from zero, clamped to the
/// `bits`-bit activation range; NaN becomes 0. The one definition the prover and `verify
/// --input` share.
pub fn quantize_values(x: &[f32], scale: f64, bits: u32) -> Vec<i64> {
    let (lo, hi) = activation_range(bits);
    x.iter()
        .map(|&v| {
            let q = (f64::from(v) / scale).round();
            if q.is_nan() {
                0
            } else {
                q.clamp(lo as f64, hi as f64) as i64
            }
        })
        .collect()
}
