//! Calibration and quantization of a float [`Graph`] into a [`QuantizedModel`].
//!
//! Symmetric, zero point 0. Activations in `[-2^(bits-1), 2^(bits-1)-1]` with scale
//! `max|a| / (2^(bits-1)-1)` over the calibration samples (a zero maximum gives scale 1);
//! weights in `[-(2^(bits-1)-1), 2^(bits-1)-1]` with scale `max|w| / (2^(bits-1)-1)` per output
//! row ([`ScaleMode::PerRow`]) or per layer (an all-zero row or layer gets scale 1; a dense
//! layer's weights on inputs that are 0 in every calibration sample do not count, and clamp);
//! biases `round(b / (s_in * s_w))`; multipliers `round(s_in * s_w / s_out * 2^32)` (capped
//! where every non-zero accumulator clamps, see [`row_multiplier`]). A Conv is
//! quantized like a dense layer whose rows are its output channels (`[C_in][kh][kw]` filters).
//! A ReLU after a dense or conv layer (possibly with Reshape/Identity, or MaxPools, between) is
//! fused into it; its output scale is calibrated after the ReLU. A MaxPool keeps the scale of
//! its input (no requantization); an AveragePool requantizes its window sums by
//! `s_in / (kh kw s_out)` and takes a ReLU that follows it. A sum of two activations (an
//! [`AddLayer`]) rescales each by `m_x = round(s_x / s_out 2^32)` and requantizes with
//! multiplier 1; a ReLU after it is its clamp. An element-wise function (a map) becomes the
//! table of its values from its input's scale to its calibrated output scale (a ReLU after it
//! goes into the table); a Softmax outputs probabilities at `1 / (2^(bits-1) - 1)`, a
//! LogSoftmax log-probabilities at their calibrated scale (no finer than
//! [`LogSoftmaxLayer::min_scale`]).
//!
//! The graph is a DAG: each layer reads the layers (or the input) its graph node reads,
//! Reshape/Identity nodes and fused ReLUs naming the tensor they read. A ReLU is fused only
//! when the output it clamps has no other reader (through Reshapes, and MaxPools for the
//! rule above), since the others would see the clamped values. When every layer reads the
//! previous one, [`QuantizedModel::inputs`] is left empty (a chain); otherwise it lists
//! every layer's inputs.

use serde::{Deserialize, Serialize};

use crate::add::AddLayer;
use crate::argmax::ArgMaxLayer;
use crate::cnn::{AvgPoolLayer, ConvLayer, MaxPoolLayer};
use crate::error::{GapList, ModelError};
use crate::graph::{AvgPool, Concat, Conv, Dense, Graph, MaxPool, Op, Transpose};
use crate::map::{Expr, MapLayer};
use crate::quantized::{DenseLayer, OutputSpec, QuantLayer, QuantizedModel};
use crate::relayout::{Placement, RelayoutLayer};
use crate::requant::{REQUANT_SHIFT, multiplier_from_real, row_multiplier, weight_max};
use crate::softmax::{LogSoftmaxLayer, SoftmaxLayer};

/// Granularity of weight scales.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ScaleMode {
    /// One scale per output row (output channel).
    #[default]
    PerRow,
    /// One scale per layer.
    PerLayer,
}

/// Quantization settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Bit width of activations and weights, 2..=16.
    pub bits: u32,
    pub scales: ScaleMode,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            bits: 8,
            scales: ScaleMode::PerRow,
        }
    }
}

/// The linear or pooling op a quantized layer comes from.
#[derive(Clone, Copy)]
enum Kind<'a> {
    Dense(&'a Dense),
    Conv(&'a Conv),
    MaxPool(&'a MaxPool),
    AvgPool(&'a AvgPool),
    /// A sum of two tensors of this per-sample shape.
    Add(&'a [usize]),
    Transpose(&'a Transpose),
    Concat(&'a Concat),
    /// An element-wise function of a tensor of this many values.
    Map(&'a Expr, usize),
    /// PRelu with these per-channel slopes of a tensor of this per-sample shape.
    PRelu(&'a [f64], &'a [usize]),
    /// Softmax (`true`: LogSoftmax) over the last axis of a per-sample tensor of this shape.
    Softmax(&'a [usize], bool),
    /// ArgMax (`true`: the last maximum) over the last axis of a per-sample tensor of this
    /// shape.
    ArgMax(&'a [usize], bool),
}

impl Kind<'_> {
    /// Whether a ReLU after the layer is the clamp of the requantizing layer before it (max
    /// and ReLU commute, as do a permutation and ReLU).
    fn passes_relu(&self) -> bool {
        match self {
            Kind::MaxPool(_) | Kind::Transpose(_) => true,
            Kind::Dense(_)
            | Kind::Conv(_)
            | Kind::AvgPool(_)
            | Kind::Add(_)
            | Kind::Concat(_)
            | Kind::Map(..)
            | Kind::PRelu(..)
            | Kind::Softmax(..)
            | Kind::ArgMax(..) => false,
        }
    }
}

/// A layer-making node of the graph and what is fused after it.
struct Planned<'a> {
    name: &'a str,
    kind: Kind<'a>,
    relu: bool,
    /// Index of the graph node that makes the layer.
    node: usize,
    /// Index of the graph node whose output (after `relu` when set) is this layer's output.
    out_node: usize,
    /// The tensors it reads: 0 the input, `k + 1` the output of layer `k`.
    inputs: Vec<usize>,
}

/// Group the graph into layers (Dense, Conv, MaxPool, AvgPool, Add) with fused ReLUs. A ReLU
/// after a MaxPool is fused into the requantizing layer before the pool (max and ReLU
/// commute); one after an AvgPool or Add into it; each only when the clamped output has no
/// other reader. The last node's output must be the last layer's.
fn plan(graph: &Graph) -> Result<(Vec<Planned<'_>>, Vec<usize>), ModelError> {
    let gaps = graph.unsupported();
    if !gaps.is_empty() {
        return Err(ModelError::Unsupported {
            gaps: GapList(gaps),
        });
    }
    let readers = graph.consumers();
    let mut layers: Vec<Planned<'_>> = Vec::new();
    // the layer tensor (0 input, l + 1 layer l) of each graph tensor
    let mut alias = vec![0usize; graph.nodes.len() + 1];
    for (idx, node) in graph.nodes.iter().enumerate() {
        let reads = graph.node_inputs(idx);
        let first = reads.first().copied().unwrap_or(0);
        let kind = match &node.op {
            Op::Dense(d) => Kind::Dense(d),
            Op::Conv(c) => Kind::Conv(c),
            Op::MaxPool(p) => Kind::MaxPool(p),
            Op::AvgPool(p) => Kind::AvgPool(p),
            Op::Transpose(t) => Kind::Transpose(t),
            Op::Concat(c) => Kind::Concat(c),
            Op::ArgMax { last, .. } => Kind::ArgMax(
                node.in_shape
                    .as_deref()
                    .ok_or_else(|| ModelError::Structure {
                        detail: format!("argmax node {} has no known shape", node.name),
                    })?,
                *last,
            ),
            Op::Softmax { log, .. } => Kind::Softmax(
                node.out_shape
                    .as_deref()
                    .ok_or_else(|| ModelError::Structure {
                        detail: format!("softmax node {} has no known shape", node.name),
                    })?,
                *log,
            ),
            Op::PRelu(slopes) => Kind::PRelu(
                slopes,
                node.out_shape
                    .as_deref()
                    .ok_or_else(|| ModelError::Structure {
                        detail: format!("PRelu node {} has no known shape", node.name),
                    })?,
            ),
            Op::Map(e) => Kind::Map(
                e,
                node.out_shape
                    .as_deref()
                    .ok_or_else(|| ModelError::Structure {
                        detail: format!("function node {} has no known shape", node.name),
                    })?
                    .iter()
                    .product(),
            ),
            Op::Add => {
                Kind::Add(
                    node.out_shape
                        .as_deref()
                        .ok_or_else(|| ModelError::Structure {
                            detail: format!("Add node {} has no known shape", node.name),
                        })?,
                )
            }
            Op::Relu => {
                let l = relu_target(graph, &readers, &layers, &alias, idx)?;
                if alias[first] == l + 1 {
                    layers[l].out_node = idx;
                }
                layers[l].relu = true;
                alias[idx + 1] = alias[first];
                continue;
            }
            Op::Reshape | Op::Identity | Op::Unsupported(_) => {
                alias[idx + 1] = alias[first];
                continue;
            }
        };
        layers.push(Planned {
            name: &node.name,
            kind,
            relu: false,
            node: idx,
            out_node: idx,
            inputs: reads.iter().map(|&t| alias[t]).collect(),
        });
        alias[idx + 1] = layers.len();
    }
    if layers.is_empty() {
        return Err(ModelError::Structure {
            detail: "the model has no Gemm/MatMul/Conv/MaxPool/AveragePool layer".into(),
        });
    }
    if graph.outputs.is_empty() && alias.last() != Some(&layers.len()) {
        return Err(ModelError::Structure {
            detail: "the graph output is not the output of its last layer".into(),
        });
    }
    Ok((layers, alias))
}

/// The requantizing layer whose clamp ReLU node `relu` becomes: the layer that produces its
/// input, or the one before the MaxPools that do, when each output on the way has one reader.
fn relu_target(
    graph: &Graph,
    readers: &[Vec<usize>],
    layers: &[Planned<'_>],
    alias: &[usize],
    relu: usize,
) -> Result<usize, ModelError> {
    let name = &graph.nodes[relu].name;
    let mut tensor = graph.node_inputs(relu).first().copied().unwrap_or(0);
    loop {
        tensor = sole_source(graph, readers, tensor).ok_or_else(|| ModelError::Structure {
            detail: format!(
                "ReLU node {name} clamps an output that other nodes also read; a ReLU is \
                 proven only as the clamp of the layer before it, which the others would see"
            ),
        })?;
        let Some(l) = alias[tensor].checked_sub(1) else {
            return Err(ModelError::ReluWithoutDense { node: name.clone() });
        };
        if !layers[l].kind.passes_relu() {
            return Ok(l);
        }
        tensor = graph
            .node_inputs(layers[l].node)
            .first()
            .copied()
            .unwrap_or(0);
    }
}

/// Walk back from graph tensor `t` through Reshape, Identity and ReLU nodes to the tensor of
/// the node that makes it (a layer, or 0 the input); `None` when a tensor on the way has a
/// reader other than the next one.
fn sole_source(graph: &Graph, readers: &[Vec<usize>], mut t: usize) -> Option<usize> {
    while let Some(k) = t.checked_sub(1) {
        if readers.get(t).map(Vec::len) != Some(1) {
            return None;
        }
        match graph.nodes[k].op {
            Op::Reshape | Op::Identity | Op::Relu => {
                t = graph.node_inputs(k).first().copied().unwrap_or(0);
            }
            Op::Dense(_)
            | Op::Conv(_)
            | Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::Transpose(_)
            | Op::Add
            | Op::Concat(_)
            | Op::Map(_)
            | Op::PRelu(_)
            | Op::Softmax { .. }
            | Op::ArgMax { .. }
            | Op::Unsupported(_) => return Some(t),
        }
    }
    Some(t)
}

/// The row length of a row op (softmax, argmax) on a per-sample tensor of `shape`: its last
/// axis.
fn row_length(shape: &[usize]) -> usize {
    shape.last().copied().unwrap_or(1)
}

/// The axes before the last of a row op's tensor, none for one row (a vector per sample, laid
/// out `[n]`).
fn outer_axes(shape: &[usize]) -> Vec<usize> {
    let outer = &shape[..shape.len().saturating_sub(1)];
    match crate::softmax::rows(outer) {
        1 => Vec::new(),
        _ => outer.to_vec(),
    }
}

/// What calibration found: max |value| of the input and of each planned layer's output over
/// the calibration samples, and for each dense layer which of its inputs are ever non-zero.
struct Calibration {
    max_in: f64,
    max_out: Vec<f64>,
    /// Per planned layer: for a dense layer, per input column, whether some sample makes it
    /// non-zero (empty for other layers).
    active: Vec<Vec<bool>>,
}

fn calibrate(
    graph: &Graph,
    layers: &[Planned<'_>],
    calibration: &[Vec<f32>],
) -> Result<Calibration, ModelError> {
    if calibration.is_empty() {
        return Err(ModelError::Calibration {
            detail: "no calibration samples".into(),
        });
    }
    for (k, x) in calibration.iter().enumerate() {
        if x.len() != graph.input_len() {
            let detail = format!(
                "sample {k} has {} values, expected {}",
                x.len(),
                graph.input_len()
            );
            return Err(ModelError::Calibration { detail });
        }
        if x.iter().any(|v| !v.is_finite()) {
            let detail = format!("sample {k} has a NaN or infinite value");
            return Err(ModelError::Calibration { detail });
        }
    }
    // float inference of the samples on every core; maxima and ORs do not depend on the order
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = calibration.len().div_ceil(threads);
    let parts: Vec<Result<Calibration, ModelError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = calibration
            .chunks(chunk)
            .map(|samples| scope.spawn(move || calibrate_samples(graph, layers, samples)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("calibration thread panicked"))
            .collect()
    });
    let mut parts = parts.into_iter();
    let mut cal = parts.next().expect("at least one sample")?;
    for part in parts {
        let part = part?;
        cal.max_in = cal.max_in.max(part.max_in);
        for (m, p) in cal.max_out.iter_mut().zip(part.max_out) {
            *m = m.max(p);
        }
        for (a, p) in cal.active.iter_mut().zip(part.active) {
            for (a, p) in a.iter_mut().zip(p) {
                *a |= p;
            }
        }
    }
    if let Some(l) = cal.max_out.iter().position(|m| !m.is_finite()) {
        let detail = format!(
            "float activations of layer {} are not finite",
            layers[l].name
        );
        return Err(ModelError::Calibration { detail });
    }
    Ok(cal)
}

/// The calibration maxima and active inputs over `samples` (already checked).
fn calibrate_samples(
    graph: &Graph,
    layers: &[Planned<'_>],
    samples: &[Vec<f32>],
) -> Result<Calibration, ModelError> {
    let mut max_in = 0f64;
    let mut max_out = vec![0f64; layers.len()];
    let mut active: Vec<Vec<bool>> = layers
        .iter()
        .map(|l| match l.kind {
            Kind::Dense(d) => vec![false; d.n_in],
            _ => Vec::new(),
        })
        .collect();
    for x in samples {
        max_in = x.iter().fold(max_in, |m, &v| m.max((v as f64).abs()));
        let outs = graph.float_forward(x)?;
        let input = crate::graph::permute(x, &graph.input_shape, &graph.input_perm);
        for (l, layer) in layers.iter().enumerate() {
            let relu = if layer.relu { 0.0 } else { f64::NEG_INFINITY };
            max_out[l] = outs[layer.out_node]
                .iter()
                .fold(max_out[l], |m, v| m.max(v.max(relu).abs()));
            if !active[l].is_empty() {
                let t = graph.node_inputs(layer.node).first().copied().unwrap_or(0);
                let set: Box<dyn Iterator<Item = bool>> = match t.checked_sub(1) {
                    None => Box::new(input.iter().map(|&v| v != 0.0)),
                    Some(k) => Box::new(outs[k].iter().map(|&v| v != 0.0)),
                };
                for (a, nonzero) in active[l].iter_mut().zip(set) {
                    *a |= nonzero;
                }
            }
        }
    }
    Ok(Calibration {
        max_in,
        max_out,
        active,
    })
}

/// `max / (2^(bits-1) - 1)`, or 1 when the maximum is 0.
fn activation_scale(max_abs: f64, bits: u32) -> f64 {
    if max_abs > 0.0 {
        max_abs / weight_max(bits) as f64
    } else {
        1.0
    }
}

fn abs_max(values: &[f32]) -> f64 {
    values.iter().fold(0f64, |m, &v| m.max((v as f64).abs()))
}

/// Integer weights, biases and multipliers of a linear op with `n_rows` output rows
/// (channels) of `row_len` weights each.
struct QuantRows {
    weight: Vec<i64>,
    bias: Vec<i64>,
    multiplier: Vec<i64>,
}

/// `active` (empty: all) marks the input columns that some calibration sample makes non-zero:
/// only their weights set a row's scale (the others, clamped to the weight range, cannot
/// spoil it: a normalisation that divides a feature constant at 0 by a near-zero variance
/// makes its weights huge).
#[allow(clippy::too_many_arguments)]
fn quantize_rows(
    name: &str,
    weight: &[f32],
    bias: Option<&[f32]>,
    row_len: usize,
    active: &[bool],
    s_in: f64,
    s_out: f64,
    config: &QuantConfig,
) -> Result<QuantRows, ModelError> {
    let err = |detail: String| ModelError::Quantization {
        layer: name.to_string(),
        detail,
    };
    if weight
        .iter()
        .chain(bias.into_iter().flatten())
        .any(|v| !v.is_finite())
    {
        return Err(err("a weight or bias is NaN or infinite".into()));
    }
    let wmax = weight_max(config.bits) as f64;
    let counted = |row: &[f32]| -> f64 {
        let used = |j: usize| active.get(j).copied().unwrap_or(true);
        let max = (0..row.len())
            .filter(|&j| used(j))
            .fold(0f64, |m, j| m.max(f64::from(row[j]).abs()));
        if max > 0.0 { max } else { abs_max(row) }
    };
    let layer_max = weight
        .chunks(row_len.max(1))
        .fold(0f64, |m, row| m.max(counted(row)));
    let n_rows = weight.len().checked_div(row_len).unwrap_or(0);
    let mut q = QuantRows {
        weight: Vec::with_capacity(weight.len()),
        bias: Vec::with_capacity(n_rows),
        multiplier: Vec::with_capacity(n_rows),
    };
    for i in 0..n_rows {
        let row = &weight[i * row_len..(i + 1) * row_len];
        let max = match config.scales {
            ScaleMode::PerRow => counted(row),
            ScaleMode::PerLayer => layer_max,
        };
        let s_w = if max > 0.0 { max / wmax } else { 1.0 };
        q.weight.extend(
            row.iter()
                .map(|&w| (w as f64 / s_w).round().clamp(-wmax, wmax) as i64),
        );
        let b_real = bias.map_or(0.0, |b| b[i]);
        let b = (b_real as f64 / (s_in * s_w)).round();
        if b.abs() >= (1u64 << 62) as f64 {
            return Err(err(format!(
                "row {i}: quantized bias {b} does not fit (|b| >= 2^62)"
            )));
        }
        q.bias.push(b as i64);
        let real = s_in * s_w / s_out;
        let m = row_multiplier(real, config.bits).ok_or_else(|| {
            err(format!(
                "row {i}: multiplier {real} * 2^32 is not below 2^62"
            ))
        })?;
        q.multiplier.push(m);
    }
    Ok(q)
}

fn quantize_dense(
    p: &Planned<'_>,
    d: &Dense,
    active: &[bool],
    s_in: f64,
    s_out: f64,
    config: &QuantConfig,
) -> Result<DenseLayer, ModelError> {
    let q = quantize_rows(
        p.name,
        &d.weight,
        d.bias.as_deref(),
        d.n_in,
        active,
        s_in,
        s_out,
        config,
    )?;
    Ok(DenseLayer {
        name: p.name.to_string(),
        n_in: d.n_in,
        n_out: d.n_out,
        weight: q.weight,
        bias: q.bias,
        multiplier: q.multiplier,
        relu: p.relu,
        out_scale: s_out,
    })
}

fn quantize_conv(
    p: &Planned<'_>,
    c: &Conv,
    s_in: f64,
    s_out: f64,
    config: &QuantConfig,
) -> Result<ConvLayer, ModelError> {
    let per = c.c_in() * c.window.kernel[0] * c.window.kernel[1];
    let q = quantize_rows(
        p.name,
        &c.weight,
        c.bias.as_deref(),
        per,
        &[],
        s_in,
        s_out,
        config,
    )?;
    Ok(ConvLayer {
        name: p.name.to_string(),
        in_shape: c.in_shape,
        out_shape: c.out_shape,
        window: c.window,
        weight: q.weight,
        bias: q.bias,
        multiplier: q.multiplier,
        relu: p.relu,
        out_scale: s_out,
    })
}

/// An average pool requantizes its window sums by `s_in / (d s_out)` for each window's divisor
/// `d`: one multiplier per channel when all divisors are equal, else one per output position.
fn quantize_avg_pool(
    p: &Planned<'_>,
    a: &AvgPool,
    s_in: f64,
    s_out: f64,
) -> Result<AvgPoolLayer, ModelError> {
    let err = |detail: String| ModelError::Quantization {
        layer: p.name.to_string(),
        detail,
    };
    let divisors = a.divisors();
    let per_position: Vec<i64> = divisors
        .iter()
        .map(|&d| {
            let real = s_in / (d as f64 * s_out);
            match d {
                0 => Err(err("a window holds no counted position".into())),
                _ => multiplier_from_real(real)
                    .ok_or_else(|| err(format!("multiplier {real} * 2^32 is not below 2^62"))),
            }
        })
        .collect::<Result<_, _>>()?;
    let channels = a.in_shape[0];
    let multiplier = if per_position.iter().all(|&m| m == per_position[0]) {
        vec![per_position[0]; channels]
    } else {
        per_position.repeat(channels)
    };
    Ok(AvgPoolLayer {
        name: p.name.to_string(),
        in_shape: a.in_shape,
        out_shape: a.out_shape,
        window: a.window,
        multiplier,
        relu: p.relu,
        out_scale: s_out,
    })
}

/// `round(s_x / s_out 2^32)`: the factor a sum applies to an input at scale `s_x`.
fn scale_ratio(p: &Planned<'_>, s_x: f64, s_out: f64) -> Result<i64, ModelError> {
    let real = s_x / s_out;
    multiplier_from_real(real).ok_or_else(|| ModelError::Quantization {
        layer: p.name.to_string(),
        detail: format!("input scale ratio {real} * 2^32 is not below 2^62"),
    })
}

/// A sum rescales each input by `m_x = round(s_x / s_out 2^32)` and requantizes with
/// multiplier 1.
fn sum_layer(name: &str, shape: &[usize], scales: [i64; 2], relu: bool, s_out: f64) -> AddLayer {
    AddLayer {
        name: name.to_string(),
        shape: shape.to_vec(),
        scales,
        multiplier: vec![1; shape.first().copied().unwrap_or(1)],
        relu,
        out_scale: s_out,
    }
}

/// A Concat of `k` tensors (layer tensors `reads`, at `scales`) as layers starting at index
/// `first`: each input placed at its offset in the output shape by a relayout layer (zero
/// elsewhere), then sums joining them: the first two rescaled to `s_out`, each next one added
/// to the running sum (rescaled by exactly 1, so each value is rounded once). A ReLU after the
/// Concat is the last sum's clamp. Returns the layers with the tensors each reads.
fn quantize_concat(
    p: &Planned<'_>,
    c: &Concat,
    reads: &[usize],
    scales: &[f64],
    s_out: f64,
    first: usize,
) -> Result<Vec<(QuantLayer, Vec<usize>)>, ModelError> {
    let out = c.out_shape();
    let mut layers = Vec::new();
    let mut at = 0;
    for (k, (shape, &t)) in c.shapes.iter().zip(reads).enumerate() {
        let mut offset = vec![0; out.len()];
        offset[c.axis] = at;
        at += shape[c.axis];
        let embed = RelayoutLayer {
            name: format!("{}/in{k}", p.name),
            in_dims: shape.clone(),
            out_dims: out.clone(),
            view: shape.clone(),
            perm: Vec::new(),
            place: Placement::Offset(offset),
            out_scale: scales[k],
        };
        layers.push((QuantLayer::Relayout(embed), vec![t]));
    }
    // tensor ids: layer `first + k` is input k's embedding
    let embedded = |k: usize| first + k + 1;
    let mut sum = embedded(0);
    let mut sum_scale = scales[0];
    for (k, &scale) in scales.iter().enumerate().skip(1) {
        let last = k + 1 == reads.len();
        let name = if last {
            p.name.to_string()
        } else {
            format!("{}/sum{k}", p.name)
        };
        let pair = [
            scale_ratio(p, sum_scale, s_out)?,
            scale_ratio(p, scale, s_out)?,
        ];
        let relu = last && p.relu;
        let layer = sum_layer(&name, &out, pair, relu, s_out);
        layers.push((QuantLayer::Add(layer), vec![sum, embedded(k)]));
        sum = first + layers.len();
        sum_scale = s_out;
    }
    Ok(layers)
}

/// Quantize a graph with scales from float inference on `calibration` (per-sample flat inputs).
///
/// # Errors
/// [`ModelError::Config`] for bits outside 2..=16; [`ModelError::Unsupported`] listing every
/// unsupported op; [`ModelError::ReluWithoutDense`]; [`ModelError::Calibration`];
/// [`ModelError::Quantization`] naming the layer when a bound the prover needs does not hold.
pub fn quantize(
    graph: &Graph,
    calibration: &[Vec<f32>],
    config: &QuantConfig,
) -> Result<QuantizedModel, ModelError> {
    if !(2..=16).contains(&config.bits) {
        return Err(ModelError::Config {
            detail: format!("bits = {} not in 2..=16", config.bits),
        });
    }
    let (planned, alias) = plan(graph)?;
    let cal = calibrate(graph, &planned, calibration)?;
    let input_scale = activation_scale(cal.max_in, config.bits);
    let mut layers: Vec<QuantLayer> = Vec::with_capacity(planned.len());
    let mut inputs: Vec<Vec<usize>> = Vec::with_capacity(planned.len());
    // the layer tensor of each planned one (a Concat makes several layers)
    let mut new_of = vec![0usize];
    for ((p, &max), active) in planned.iter().zip(&cal.max_out).zip(&cal.active) {
        let reads: Vec<usize> = p.inputs.iter().map(|&t| new_of[t]).collect();
        let scale_of = |t: usize| {
            t.checked_sub(1)
                .and_then(|l| layers.get(l))
                .map_or(input_scale, |l| l.out_scale())
        };
        let s_in = scale_of(reads.first().copied().unwrap_or(0));
        let s_out = activation_scale(max, config.bits);
        // a ConvTranspose: its input spread by a relayout, then the conv reading it
        if let Kind::Conv(c) = p.kind
            && let Some((view, place)) = c.spreading()
        {
            layers.push(QuantLayer::Relayout(RelayoutLayer {
                name: format!("{}/spread", p.name),
                in_dims: view.clone(),
                out_dims: c.in_shape.to_vec(),
                view,
                perm: Vec::new(),
                place,
                out_scale: s_in,
            }));
            inputs.push(reads);
            let conv = quantize_conv(p, c, s_in, s_out, config)?;
            layers.push(QuantLayer::Conv(conv));
            inputs.push(vec![layers.len() - 1]);
            new_of.push(layers.len());
            continue;
        }
        if let Kind::Concat(c) = p.kind {
            let scales: Vec<f64> = reads.iter().map(|&t| scale_of(t)).collect();
            for (layer, r) in quantize_concat(p, c, &reads, &scales, s_out, layers.len())? {
                layers.push(layer);
                inputs.push(r);
            }
            new_of.push(layers.len());
            continue;
        }
        let layer = match p.kind {
            Kind::Dense(d) => QuantLayer::Dense(quantize_dense(p, d, active, s_in, s_out, config)?),
            Kind::Conv(c) => QuantLayer::Conv(quantize_conv(p, c, s_in, s_out, config)?),
            Kind::AvgPool(a) => QuantLayer::AvgPool(quantize_avg_pool(p, a, s_in, s_out)?),
            Kind::Add(shape) => {
                let s_b = scale_of(reads.get(1).copied().unwrap_or(0));
                let scales = [scale_ratio(p, s_in, s_out)?, scale_ratio(p, s_b, s_out)?];
                QuantLayer::Add(sum_layer(p.name, shape, scales, p.relu, s_out))
            }
            Kind::Concat(_) => unreachable!("expanded above"),
            Kind::Map(e, n) => QuantLayer::Map(MapLayer {
                name: p.name.to_string(),
                function: e.to_string(),
                dims: vec![n],
                table: MapLayer::table(e, p.relu, s_in, s_out, config.bits),
                channels: 1,
                out_scale: s_out,
            }),
            // one table per channel, the output laid out as the ONNX tensor (channel first)
            Kind::PRelu(slopes, shape) => QuantLayer::Map(MapLayer {
                name: p.name.to_string(),
                function: format!("prelu({} slopes)", slopes.len()),
                dims: shape.to_vec(),
                table: slopes
                    .iter()
                    .flat_map(|&a| {
                        MapLayer::table(&Expr::leaky_relu(a), p.relu, s_in, s_out, config.bits)
                    })
                    .collect(),
                channels: slopes.len(),
                out_scale: s_out,
            }),
            // (a ReLU after it changes nothing: its outputs are not negative)
            Kind::Softmax(shape, false) => QuantLayer::Softmax(SoftmaxLayer {
                name: p.name.to_string(),
                n: row_length(shape),
                outer: outer_axes(shape),
                exp: SoftmaxLayer::exp_table(s_in, config.bits),
                out_scale: 1.0 / SoftmaxLayer::q(config.bits) as f64,
            }),
            Kind::ArgMax(shape, last) => QuantLayer::ArgMax(ArgMaxLayer {
                name: p.name.to_string(),
                n: row_length(shape),
                outer: outer_axes(shape),
                last,
            }),
            // the output scale no finer than the log of a row's sum allows (see the layer)
            Kind::Softmax(shape, true) => QuantLayer::LogSoftmax(LogSoftmaxLayer::new(
                p.name.to_string(),
                row_length(shape),
                outer_axes(shape),
                s_in,
                s_out.max(LogSoftmaxLayer::min_scale(config.bits)),
                config.bits,
            )),
            Kind::MaxPool(m) => QuantLayer::MaxPool(MaxPoolLayer {
                name: p.name.to_string(),
                in_shape: m.in_shape,
                out_shape: m.out_shape,
                window: m.window,
                out_scale: s_in,
            }),
            Kind::Transpose(t) => QuantLayer::Relayout(RelayoutLayer {
                name: p.name.to_string(),
                in_dims: t.in_shape.clone(),
                out_dims: t.out_shape.clone(),
                view: t.in_shape.clone(),
                perm: t.perm.clone(),
                place: t.place.clone(),
                out_scale: s_in,
            }),
        };
        layers.push(layer);
        inputs.push(reads);
        new_of.push(layers.len());
    }
    let outputs = join_outputs(graph, &alias, &new_of, &mut layers, &mut inputs)?;
    let (layers, inputs) = relayout(layers, inputs, graph.input_len(), input_scale);
    let chain = inputs.iter().enumerate().all(|(l, t)| *t == [l]);
    let model = QuantizedModel {
        bits: config.bits,
        scales: config.scales,
        batch: graph.batch,
        input_shape: graph.input_shape.clone(),
        input_scale,
        layers,
        inputs: if chain { Vec::new() } else { inputs },
        input_perm: graph.input_perm.clone(),
        outputs,
    };
    model.validate()?;
    Ok(model)
}

/// For a graph of several outputs, appends the layers that join them into one output, in
/// order: each output placed at its offset in a flat vector (a relayout), the pieces summed
/// (sums with both scales `2^32` and multiplier 1, exact: each position holds one piece);
/// returns each output's name, length and scale.
fn join_outputs(
    graph: &Graph,
    alias: &[usize],
    new_of: &[usize],
    layers: &mut Vec<QuantLayer>,
    inputs: &mut Vec<Vec<usize>>,
) -> Result<Vec<OutputSpec>, ModelError> {
    if graph.outputs.is_empty() {
        let last = layers.last();
        return Ok(vec![OutputSpec {
            name: graph.output_name.clone(),
            len: last.map_or(0, |l| l.output_len()),
            scale: last.map_or(1.0, |l| l.out_scale()),
        }]);
    }
    let tensors: Vec<(String, usize)> = graph
        .outputs
        .iter()
        .map(|(name, t)| (name.clone(), new_of[alias[*t]]))
        .collect();
    let mut specs = Vec::with_capacity(tensors.len());
    for (name, t) in &tensors {
        let Some(layer) = t.checked_sub(1).and_then(|k| layers.get(k)) else {
            return Err(ModelError::Structure {
                detail: format!("graph output {name:?} is the model input"),
            });
        };
        specs.push(OutputSpec {
            name: name.clone(),
            len: layer.output_len(),
            scale: layer.out_scale(),
        });
    }
    let pieces: Vec<(usize, usize, f64)> = (tensors.iter().zip(&specs))
        .map(|((_, t), spec)| (*t, spec.len, spec.scale))
        .collect();
    let names = |k: usize| {
        let name = &tensors[k].0;
        (format!("{name}/output"), format!("{name}/join"))
    };
    join_flat(&pieces, 1.0, names, layers, inputs);
    Ok(specs)
}

/// Makes every layer read its inputs in the layout they are written in (see
/// [`QuantLayer::out_layout`]): a layer that reads a tensor in another layout (a conv after a
/// dense layer and a Reshape, a window op after a Reshape of a window op's output, a sum of
/// two differently laid out tensors) reads it through a relayout layer inserted before it (a
/// permutation that changes no value); a sum takes its first input's layout, a Transpose
/// reads its input as it is written. Returns the layers and what each reads.
fn relayout(
    old: Vec<QuantLayer>,
    old_inputs: Vec<Vec<usize>>,
    input_len: usize,
    input_scale: f64,
) -> (Vec<QuantLayer>, Vec<Vec<usize>>) {
    // the model input is laid out as a window op that reads it first wants it, else flat
    let input = match old.first().map(|l| l.in_layout()) {
        Some(Some(dims)) if !matches!(old[0], QuantLayer::Add(_)) => dims,
        _ => vec![input_len],
    };
    let mut layers: Vec<QuantLayer> = Vec::with_capacity(old.len());
    let mut inputs: Vec<Vec<usize>> = Vec::with_capacity(old.len());
    // the new tensor of each old one (0: the input)
    let mut new_of = vec![0usize];
    let written = |layers: &[QuantLayer], t: usize| {
        t.checked_sub(1)
            .map_or_else(|| input.clone(), |k| layers[k].out_layout())
    };
    for (mut layer, reads) in old.into_iter().zip(old_inputs) {
        let mut reads: Vec<usize> = reads.iter().map(|&t| new_of[t]).collect();
        let first = written(&layers, reads[0]);
        // a dense layer reads any layout, but its weights are committed in the one it reads
        let flat = match &layer {
            QuantLayer::Dense(d) if flatten_saves(&first, d.n_out) => Some(vec![d.n_in]),
            _ => None,
        };
        match &mut layer {
            QuantLayer::Relayout(r) => r.in_dims = first.clone(),
            QuantLayer::Add(a) if a.shape != first => {
                a.multiplier = vec![1; first[0]];
                a.shape = first.clone();
            }
            QuantLayer::Map(m) if m.channels == 1 => m.dims = first.clone(),
            _ => {}
        }
        // a map looks its input up in the witness: the model input is copied there first
        if matches!(layer, QuantLayer::Map(_)) && reads[0] == 0 {
            layers.push(QuantLayer::Relayout(RelayoutLayer {
                name: format!("{}/input", layer.name()),
                view: vec![first.iter().product()],
                in_dims: first.clone(),
                out_dims: first,
                perm: Vec::new(),
                place: Placement::Whole,
                out_scale: input_scale,
            }));
            inputs.push(vec![0]);
            reads[0] = layers.len();
        }
        if let Some(wants) = flat.or_else(|| layer.in_layout()) {
            for t in &mut reads {
                let has = written(&layers, *t);
                if has == wants {
                    continue;
                }
                layers.push(QuantLayer::Relayout(RelayoutLayer {
                    name: format!("{}/relayout", layer.name()),
                    view: vec![has.iter().product()],
                    in_dims: has,
                    out_dims: wants.clone(),
                    perm: Vec::new(),
                    place: Placement::Whole,
                    out_scale: t
                        .checked_sub(1)
                        .map_or(input_scale, |k| layers[k].out_scale()),
                }));
                inputs.push(vec![*t]);
                *t = layers.len();
            }
        }
        if let QuantLayer::Dense(d) = &layer {
            let in_cells = written(&layers, reads[0]).iter().map(|&d| pad(d)).product();
            let pieces = row_pieces(d.n_out, in_cells);
            if pieces.len() > 1 {
                let parts: Vec<(usize, usize, f64)> = (pieces.iter())
                    .map(|&(start, len)| {
                        layers.push(QuantLayer::Dense(d.rows(start, len)));
                        inputs.push(reads.clone());
                        (layers.len(), len, d.out_scale)
                    })
                    .collect();
                let names = |k: usize| {
                    let last = k + 1 == parts.len();
                    let start = pieces[k].0;
                    (
                        format!("{}/rows{start}/place", d.name),
                        if last {
                            d.name.clone()
                        } else {
                            format!("{}/rows{start}/join", d.name)
                        },
                    )
                };
                join_flat(&parts, d.out_scale, names, &mut layers, &mut inputs);
                new_of.push(layers.len());
                continue;
            }
        }
        layers.push(layer);
        inputs.push(reads);
        new_of.push(layers.len());
    }
    (layers, inputs)
}

/// `d` rounded up to a power of two (a dimension's padded size; 1 for 0).
fn pad(d: usize) -> usize {
    d.max(1).next_power_of_two()
}

/// The row ranges `(start, len)` a dense layer of `n_out` rows reading `in_cells` padded input
/// cells is proven as. Its weights are committed as `pad(n_out) x in_cells`, so `n_out` just
/// past a power of two (131 rows pad to 256) nearly doubles them; rows split into a power of two
/// and the rest (128 + 3: 2^18 + 2^13 cells instead of 2^19 for a 2048-cell input), repeated
/// on the rest, where each split saves at least 2^16 weight cells. The pieces' outputs are
/// joined by exact sums (see [`join_flat`]): a few activations per sample.
fn row_pieces(n_out: usize, in_cells: usize) -> Vec<(usize, usize)> {
    let mut pieces = Vec::new();
    let (mut start, mut rest) = (0, n_out);
    while rest > 0 {
        let head = pad(rest + 1) / 2;
        let saves = (pad(rest) - head).saturating_sub(pad(rest - head));
        if head == rest || saves.saturating_mul(in_cells) < 1 << 16 {
            pieces.push((start, rest));
            break;
        }
        pieces.push((start, head));
        (start, rest) = (start + head, rest - head);
    }
    pieces
}

/// Joins flat pieces `(tensor, len, scale)` into one flat tensor of their total length: each
/// placed at its offset (a relayout, zero elsewhere), then summed in order (sums with both
/// scales `2^REQUANT_SHIFT` and multiplier 1, exact: each position holds one piece). `names(k)`
/// names piece `k`'s relayout and the sum that adds it (the first piece's is unused); the sums
/// are at `out_scale`.
fn join_flat(
    pieces: &[(usize, usize, f64)],
    out_scale: f64,
    names: impl Fn(usize) -> (String, String),
    layers: &mut Vec<QuantLayer>,
    inputs: &mut Vec<Vec<usize>>,
) {
    let total: usize = pieces.iter().map(|p| p.1).sum();
    let (mut joined, mut offset) = (0, 0);
    for (k, &(t, len, scale)) in pieces.iter().enumerate() {
        let (place, join) = names(k);
        layers.push(QuantLayer::Relayout(RelayoutLayer {
            name: place,
            in_dims: vec![len],
            out_dims: vec![total],
            view: vec![len],
            perm: Vec::new(),
            place: Placement::Offset(vec![offset]),
            out_scale: scale,
        }));
        inputs.push(vec![t]);
        offset += len;
        let placed = layers.len();
        if k == 0 {
            joined = placed;
            continue;
        }
        layers.push(QuantLayer::Add(AddLayer {
            name: join,
            shape: vec![total],
            scales: [1 << REQUANT_SHIFT; 2],
            multiplier: vec![1; total],
            relu: false,
            out_scale,
        }));
        inputs.push(vec![joined, placed]);
        joined = layers.len();
    }
}

/// Whether a dense layer of `n_out` rows should read a tensor laid out as `has` through a
/// relayout to `[n]`. Its weight columns are permuted at setup to the layout it reads, padded
/// per dimension, so a layout whose padding exceeds that of `[n]` (`[64][5][5]` pads to 4096
/// cells, `[1600]` to 2048) multiplies the committed weight cells; the relayout costs one
/// committed column of `pad(n)` cells per sample and a wiring sumcheck over the input. Done when
/// it saves at least 2^16 weight cells, where the weight commitment's size starts to matter.
fn flatten_saves(has: &[usize], n_out: usize) -> bool {
    let padded: usize = has.iter().map(|&d| pad(d)).product();
    let flat = pad(has.iter().product());
    pad(n_out).saturating_mul(padded.saturating_sub(flat)) >= 1 << 16
}

/// `n` deterministic pseudo-random samples, uniform in `[-1, 1)`, for calibration without data.
pub fn random_calibration(graph: &Graph, n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed;
    let mut next = move || {
        // SplitMix64: small, fast, and fixed forever (calibration must be reproducible).
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let len = graph.input_len();
    (0..n)
        .map(|_| {
            (0..len)
                .map(|_| ((next() >> 40) as f32 / (1u32 << 24) as f32) * 2.0 - 1.0)
                .collect()
        })
        .collect()
}
