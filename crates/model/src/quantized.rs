//! The quantized model and its exact integer inference.

use serde::{Deserialize, Serialize};

use crate::add::AddLayer;
use crate::argmax::ArgMaxLayer;
use crate::cnn::{AvgPoolLayer, ConvLayer, MaxPoolLayer};
use crate::error::ModelError;
use crate::graph::BatchDim;
use crate::inputs::InputSpec;
use crate::map::MapLayer;
use crate::quantize::ScaleMode;
use crate::relayout::RelayoutLayer;
use crate::requant::{activation_range, check_row_bounds, max_abs_acc, requantize, weight_max};
use crate::softmax::{LogSoftmaxLayer, SoftmaxLayer, rows};

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

/// One layer's exact integer result on one sample.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerTrace {
    /// The accumulators before requantization (dense, conv, average pool); `None` for
    /// max-pool.
    pub acc: Option<Vec<i64>>,
    /// The layer's output.
    pub out: Vec<i64>,
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

/// The layout of a row op's tensor `[outer.., n]`: `[n]` for one row.
pub fn row_layout(outer: &[usize], n: usize) -> Vec<usize> {
    outer.iter().copied().chain([n]).collect()
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

impl QuantLayer {
    /// Number of inputs (per sample).
    pub fn input_len(&self) -> usize {
        match self {
            QuantLayer::Dense(d) => d.n_in,
            QuantLayer::Conv(c) => c.in_shape.iter().product(),
            QuantLayer::MaxPool(p) => p.in_shape.iter().product(),
            QuantLayer::AvgPool(p) => p.in_shape.iter().product(),
            QuantLayer::Add(a) => a.len(),
            QuantLayer::Relayout(r) => r.input_len(),
            QuantLayer::Map(m) => m.input_len(),
            QuantLayer::Softmax(s) => s.n * rows(&s.outer),
            QuantLayer::LogSoftmax(s) => s.n * rows(&s.outer),
            QuantLayer::ArgMax(a) => a.n * rows(&a.outer),
        }
    }

    /// Number of outputs (per sample).
    pub fn output_len(&self) -> usize {
        match self {
            QuantLayer::Dense(d) => d.n_out,
            QuantLayer::Conv(c) => c.out_shape.iter().product(),
            QuantLayer::MaxPool(p) => p.out_shape.iter().product(),
            QuantLayer::AvgPool(p) => p.out_shape.iter().product(),
            QuantLayer::Add(a) => a.len(),
            QuantLayer::Relayout(r) => r.output_len(),
            QuantLayer::Map(m) => m.input_len(),
            QuantLayer::Softmax(s) => s.n * rows(&s.outer),
            QuantLayer::LogSoftmax(s) => s.n * rows(&s.outer),
            QuantLayer::ArgMax(a) => rows(&a.outer),
        }
    }

    /// Scale of the layer's output.
    pub fn out_scale(&self) -> f64 {
        match self {
            QuantLayer::Dense(d) => d.out_scale,
            QuantLayer::Conv(c) => c.out_scale,
            QuantLayer::MaxPool(p) => p.out_scale,
            QuantLayer::AvgPool(p) => p.out_scale,
            QuantLayer::Add(a) => a.out_scale,
            QuantLayer::Relayout(r) => r.out_scale,
            QuantLayer::Map(m) => m.out_scale,
            QuantLayer::Softmax(s) => s.out_scale,
            QuantLayer::LogSoftmax(s) => s.out_scale,
            QuantLayer::ArgMax(_) => 1.0,
        }
    }

    /// Name (from the ONNX node).
    pub fn name(&self) -> &str {
        match self {
            QuantLayer::Dense(d) => &d.name,
            QuantLayer::Conv(c) => &c.name,
            QuantLayer::MaxPool(p) => &p.name,
            QuantLayer::AvgPool(p) => &p.name,
            QuantLayer::Add(a) => &a.name,
            QuantLayer::Relayout(r) => &r.name,
            QuantLayer::Map(m) => &m.name,
            QuantLayer::Softmax(s) => &s.name,
            QuantLayer::LogSoftmax(s) => &s.name,
            QuantLayer::ArgMax(a) => &a.name,
        }
    }

    /// The layout a proof writes the output in: `[n]` for a dense layer, `[C][H][W]` for a
    /// window op (conv, pools), a sum's shape, a relayout's `out_dims`. Values are C-ordered in
    /// every case; the layout is how the proof pads them (per dimension).
    pub fn out_layout(&self) -> Vec<usize> {
        match self {
            QuantLayer::Dense(d) => vec![d.n_out],
            QuantLayer::Conv(c) => c.out_shape.to_vec(),
            QuantLayer::MaxPool(p) => p.out_shape.to_vec(),
            QuantLayer::AvgPool(p) => p.out_shape.to_vec(),
            QuantLayer::Add(a) => a.shape.clone(),
            QuantLayer::Relayout(r) => r.out_dims.clone(),
            QuantLayer::Map(m) => m.dims.clone(),
            QuantLayer::Softmax(s) => row_layout(&s.outer, s.n),
            QuantLayer::LogSoftmax(s) => row_layout(&s.outer, s.n),
            QuantLayer::ArgMax(a) => row_layout(&a.outer, 1),
        }
    }

    /// The layout the layer reads its inputs in; `None` for a dense layer, which reads any
    /// (its weight columns are permuted to its input's layout at setup), and a map of one
    /// table, which keeps it (a map with a table per channel reads the channel first).
    pub fn in_layout(&self) -> Option<Vec<usize>> {
        match self {
            QuantLayer::Map(m) if m.channels > 1 => Some(m.dims.clone()),
            QuantLayer::Dense(_) | QuantLayer::Map(_) => None,
            QuantLayer::Conv(c) => Some(c.in_shape.to_vec()),
            QuantLayer::MaxPool(p) => Some(p.in_shape.to_vec()),
            QuantLayer::AvgPool(p) => Some(p.in_shape.to_vec()),
            QuantLayer::Add(a) => Some(a.shape.clone()),
            QuantLayer::Relayout(r) => Some(r.in_dims.clone()),
            QuantLayer::Softmax(s) => Some(row_layout(&s.outer, s.n)),
            QuantLayer::LogSoftmax(s) => Some(row_layout(&s.outer, s.n)),
            QuantLayer::ArgMax(a) => Some(row_layout(&a.outer, a.n)),
        }
    }

    /// Number of tensors the layer reads (2 for a sum, else 1).
    pub fn arity(&self) -> usize {
        if matches!(self, QuantLayer::Add(_)) {
            2
        } else {
            1
        }
    }

    /// The accumulators of one sample for a requantizing layer (dense, conv, average pool,
    /// sum) from its inputs; `None` for a layer without requantization (max-pool, relayout, map).
    pub fn accumulate(&self, xs: &[&[i64]]) -> Option<Vec<i64>> {
        let x = xs.first().copied().unwrap_or_default();
        match self {
            QuantLayer::Dense(d) => Some(d.accumulate(x)),
            QuantLayer::Conv(c) => Some(c.accumulate(x)),
            QuantLayer::AvgPool(p) => Some(p.accumulate(x)),
            QuantLayer::Add(a) => Some(a.accumulate(x, xs.get(1).copied().unwrap_or_default())),
            QuantLayer::MaxPool(_)
            | QuantLayer::Relayout(_)
            | QuantLayer::Map(_)
            | QuantLayer::Softmax(_)
            | QuantLayer::LogSoftmax(_)
            | QuantLayer::ArgMax(_) => None,
        }
    }

    /// The requantization of a requantizing layer (dense, conv, average pool, sum): the
    /// multipliers (per dense row, per output channel), how many consecutive outputs share
    /// one, and whether ReLU is fused; `None` for max-pool and relayout.
    pub fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        match self {
            QuantLayer::Dense(d) => Some((&d.multiplier, 1, d.relu)),
            QuantLayer::Conv(c) => Some((&c.multiplier, c.out_shape[1] * c.out_shape[2], c.relu)),
            QuantLayer::AvgPool(p) => {
                let per = p.output_len_per_multiplier();
                Some((&p.multiplier, per, p.relu))
            }
            QuantLayer::Add(a) => Some((&a.multiplier, a.shape[1..].iter().product(), a.relu)),
            QuantLayer::MaxPool(_)
            | QuantLayer::Relayout(_)
            | QuantLayer::Map(_)
            | QuantLayer::Softmax(_)
            | QuantLayer::LogSoftmax(_)
            | QuantLayer::ArgMax(_) => None,
        }
    }

    /// Exact integer inference of one sample from the layer's inputs, keeping the
    /// accumulators.
    pub fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
        let x = xs.first().copied().unwrap_or_default();
        let out = match self {
            QuantLayer::MaxPool(p) => p.forward(x),
            QuantLayer::Relayout(r) => r.forward(x),
            QuantLayer::Map(m) => m.forward(x),
            QuantLayer::Softmax(s) => s.forward(x, bits),
            QuantLayer::LogSoftmax(s) => s.forward(x, bits),
            QuantLayer::ArgMax(a) => a.forward(x),
            QuantLayer::Dense(_)
            | QuantLayer::Conv(_)
            | QuantLayer::AvgPool(_)
            | QuantLayer::Add(_) => {
                let acc = self.accumulate(xs).unwrap_or_default();
                let (m, per, relu) = self.requantization().unwrap_or((&[], 1, false));
                let out = acc
                    .iter()
                    .enumerate()
                    .map(|(k, &a)| requantize(a, m.get(k / per).copied().unwrap_or(0), relu, bits))
                    .collect();
                return LayerTrace {
                    acc: Some(acc),
                    out,
                };
            }
        };
        LayerTrace { acc: None, out }
    }

    /// Exact integer forward of one sample from the layer's inputs.
    pub fn forward(&self, xs: &[&[i64]], bits: u32) -> Vec<i64> {
        self.trace(xs, bits).out
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
            .map_or(self.input_len(), QuantLayer::output_len)
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
            .map_or(self.input_scale, QuantLayer::out_scale);
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
            match layer {
                QuantLayer::Dense(d) => d.validate(self.bits)?,
                QuantLayer::Conv(c) => c.validate(self.bits)?,
                QuantLayer::MaxPool(p) => p.validate()?,
                QuantLayer::AvgPool(p) => p.validate(self.bits)?,
                QuantLayer::Add(a) => a.validate(self.bits)?,
                QuantLayer::Relayout(r) => r.validate()?,
                QuantLayer::Map(m) => m.validate(self.bits)?,
                QuantLayer::Softmax(s) => s.validate(self.bits)?,
                QuantLayer::LogSoftmax(s) => s.validate(self.bits)?,
                QuantLayer::ArgMax(a) => a.validate(self.bits)?,
            }
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
