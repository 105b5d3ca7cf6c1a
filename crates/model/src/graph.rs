//! The small internal graph: a DAG of ops on flat per-sample tensors.
//!
//! Tensors are numbered: 0 is the graph input, `k + 1` the output of node `k`. Each node reads
//! earlier tensors ([`Node::inputs`]); the last node's output is the graph output.
//! Shapes are per sample: the batch dimension is removed and recorded once in [`Graph::batch`].
//! Data is flattened in C order (CNN activations are `[C][H][W]`), so `Reshape`/`Flatten` are
//! re-indexing only and act as no-ops on the flat per-sample vector.

use serde::{Deserialize, Serialize};

use crate::cnn::Window;
use crate::error::{ModelError, UnsupportedOp};
use crate::inputs::InputSpec;

/// The batch (first) dimension of the model's input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BatchDim {
    /// A fixed batch size N >= 1 written in the ONNX file.
    Fixed(usize),
    /// A symbolic (e.g. `N`) or unspecified batch size.
    Dynamic,
}

/// A fully connected layer `y = W x + b` in floating point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    pub n_in: usize,
    pub n_out: usize,
    /// Row-major `[n_out][n_in]` (PyTorch layout, whatever the ONNX layout was).
    pub weight: Vec<f32>,
    /// `n_out` values, or `None` when the ONNX op had no bias.
    pub bias: Option<Vec<f32>>,
}

impl Dense {
    /// Row `i` of the weight matrix.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.weight[i * self.n_in..(i + 1) * self.n_in]
    }

    /// Bias of row `i` (0 when there is no bias).
    pub fn bias_at(&self, i: usize) -> f32 {
        self.bias.as_ref().map_or(0.0, |b| b[i])
    }

    fn forward(&self, x: &[f64]) -> Vec<f64> {
        (0..self.n_out)
            .map(|i| {
                let dot: f64 = self.row(i).iter().zip(x).map(|(&w, &v)| w as f64 * v).sum();
                dot + self.bias_at(i) as f64
            })
            .collect()
    }
}

/// A 2-D convolution (NCHW, dilation 1, group 1) in floating point; padding reads 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conv {
    /// `[C_in, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C_out, OH, OW]`.
    pub out_shape: [usize; 3],
    /// Kernel, strides and explicit pads (auto_pad resolved).
    pub window: Window,
    /// `[C_out][C_in][kh][kw]` (ONNX layout).
    pub weight: Vec<f32>,
    /// `C_out` values, or `None` when the ONNX op had no bias.
    pub bias: Option<Vec<f32>>,
    /// A ConvTranspose: the node's input `[C_in, h, w]` is first spread by these strides
    /// (zeros between its values) to `in_shape = [C_in, (h - 1) s + 1, (w - 1) s + 1]`.
    #[serde(default)]
    pub spread: Option<[usize; 2]>,
}

impl Conv {
    /// Input channels.
    pub fn c_in(&self) -> usize {
        self.in_shape[0]
    }

    /// Output channels.
    pub fn c_out(&self) -> usize {
        self.out_shape[0]
    }

    /// Weights of output channel `o`, `[C_in][kh][kw]`.
    pub fn filter(&self, o: usize) -> &[f32] {
        let n = self.in_shape[0] * self.window.kernel[0] * self.window.kernel[1];
        &self.weight[o * n..(o + 1) * n]
    }

    /// Bias of output channel `o` (0 when there is no bias).
    pub fn bias_at(&self, o: usize) -> f32 {
        self.bias.as_ref().map_or(0.0, |b| b[o])
    }

    /// The relayout that spreads a ConvTranspose's input (see [`Conv::spread`]): the node
    /// input's shape and the placement.
    pub fn spreading(&self) -> Option<(Vec<usize>, crate::relayout::Placement)> {
        let [sh, sw] = self.spread?;
        let [c, h, w] = self.in_shape;
        let view = vec![c, (h - 1) / sh + 1, (w - 1) / sw + 1];
        Some((view, crate::relayout::Placement::Spread(vec![1, sh, sw])))
    }

    /// Float convolution of one sample `[C_in][H][W]` (C order; before the spread of a
    /// ConvTranspose) into `[C_out][OH][OW]`.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        let spread;
        let x = match self.spreading() {
            None => x,
            Some((view, place)) => {
                let src = crate::relayout::sources(&view, &[], &place, &self.in_shape);
                spread = src
                    .iter()
                    .map(|s| s.map_or(0.0, |s| x[s]))
                    .collect::<Vec<f64>>();
                &spread
            }
        };
        let weight: Vec<f64> = self.weight.iter().map(|&w| w as f64).collect();
        let bias: Vec<f64> = (0..self.c_out()).map(|o| self.bias_at(o) as f64).collect();
        crate::cnn::conv_accumulate(
            x,
            &weight,
            &bias,
            self.in_shape,
            self.out_shape,
            &self.window,
        )
    }
}

/// 2-D max-pooling (NCHW, dilation 1); padding never wins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPool {
    /// `[C, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C, OH, OW]`.
    pub out_shape: [usize; 3],
    pub window: Window,
}

impl MaxPool {
    /// Float max-pooling of one sample (in-range positions only).
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        crate::cnn::max_pool(
            x,
            self.in_shape,
            self.out_shape,
            &self.window,
            f64::NEG_INFINITY,
        )
    }
}

/// 2-D average pooling (NCHW, dilation 1): the window sum (padding reads 0) divided by the
/// number of window positions inside the input and the counted padding: `kh kw` for ONNX's
/// `count_include_pad = 1` (unless a ceil-mode window runs past the padding), fewer at the
/// borders for `count_include_pad = 0`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvgPool {
    /// `[C, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C, OH, OW]`.
    pub out_shape: [usize; 3],
    /// Kernel, strides and pads (a ceil-mode window's overhang included in the end pads).
    pub window: Window,
    /// The pads (top, left, bottom, right) whose positions count in the divisor: ONNX's pads
    /// when `count_include_pad = 1`, else none.
    pub counted_pads: [usize; 4],
}

impl AvgPool {
    /// The divisor of each output position `[OH][OW]`.
    pub fn divisors(&self) -> Vec<usize> {
        crate::cnn::window_counts(
            &self.window,
            self.counted_pads,
            [self.in_shape[1], self.in_shape[2]],
            [self.out_shape[1], self.out_shape[2]],
        )
    }

    /// Float average pooling of one sample.
    pub fn forward(&self, x: &[f64]) -> Vec<f64> {
        let div = self.divisors();
        crate::cnn::pool_sum(x, self.in_shape, self.out_shape, &self.window, 0.0)
            .into_iter()
            .enumerate()
            .map(|(k, v)| v / div[k % div.len()] as f64)
            .collect()
    }
}

/// A permutation of the axes of a per-sample tensor (a Transpose that moves data; a
/// DepthToSpace or SpaceToDepth, which are one on a finer view of the tensor), or a gather of
/// coordinates along each axis (a nearest-neighbour Resize).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transpose {
    /// The per-sample shape it views its input as and permutes.
    pub in_shape: Vec<usize>,
    /// Axis `i` of the result is axis `perm[i]` of the view (empty: none).
    pub perm: Vec<usize>,
    /// The per-sample shape of the result (the permuted view, or a coarser view of it).
    pub out_shape: Vec<usize>,
    /// How the permuted view becomes the result.
    #[serde(default)]
    pub place: crate::relayout::Placement,
}

/// Concatenation of several data tensors along a per-sample axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Concat {
    /// The per-sample axis (0 is the first axis after the batch).
    pub axis: usize,
    /// The per-sample shape of each input (equal but along `axis`).
    pub shapes: Vec<Vec<usize>>,
}

impl Concat {
    /// The output's per-sample shape.
    pub fn out_shape(&self) -> Vec<usize> {
        let mut out = self.shapes[0].clone();
        out[self.axis] = self.shapes.iter().map(|s| s[self.axis]).sum();
        out
    }

    /// `xs` joined along the axis (C order).
    pub fn forward<T: Copy>(&self, xs: &[&[T]]) -> Vec<T> {
        let outer: usize = self.shapes[0][..self.axis].iter().product();
        let chunk = |s: &Vec<usize>| s[self.axis..].iter().product::<usize>();
        let mut out = Vec::with_capacity(xs.iter().map(|x| x.len()).sum());
        for o in 0..outer {
            for (x, s) in xs.iter().zip(&self.shapes) {
                let n = chunk(s);
                out.extend_from_slice(&x[o * n..(o + 1) * n]);
            }
        }
        out
    }
}

/// The kind of an op. Matched exhaustively everywhere: adding an op kind makes the compiler
/// point at every place that must learn about it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Gemm, MatMul or MatMul followed by a constant Add (BatchNormalization folded in).
    Dense(Dense),
    /// 2-D Conv (BatchNormalization folded in; a lone BatchNormalization is a 1x1 Conv).
    Conv(Conv),
    /// 2-D MaxPool.
    MaxPool(MaxPool),
    /// 2-D AveragePool or GlobalAveragePool.
    AvgPool(AvgPool),
    /// A Transpose that moves data.
    Transpose(Transpose),
    /// `max(x, 0)`.
    Relu,
    /// An element-wise function (Sigmoid, GELU, ...; the ONNX nodes that compute it fused).
    Map(crate::map::Expr),
    /// `max(x, 0) + a_c min(x, 0)` with one slope `a_c` per channel (the first per-sample
    /// axis): PRelu with per-channel slopes (one slope is a [`Op::Map`]).
    PRelu(Vec<f64>),
    /// Softmax (or LogSoftmax, `log`) over the last axis, of rows of `n` values.
    Softmax { log: bool, n: usize },
    /// The index of the first (`last`: the last) maximum over the last axis, of rows of `n`
    /// values (one index per row).
    ArgMax { last: bool, n: usize },
    /// Flatten or static Reshape: re-indexing only (the new shape is the node's output shape).
    Reshape,
    /// Identity, or Dropout at inference.
    Identity,
    /// Elementwise `a + b` of two data tensors of the same per-sample shape (a residual join).
    Add,
    /// Concatenation of data tensors along a per-sample axis.
    Concat(Concat),
    /// An op the front end cannot take; kept so that every gap is listed at once.
    Unsupported(UnsupportedOp),
}

impl Op {
    /// Short name of the kind, for summaries.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Dense(_) => "Dense",
            Op::Conv(_) => "Conv",
            Op::MaxPool(_) => "MaxPool",
            Op::AvgPool(_) => "AvgPool",
            Op::Transpose(_) => "Transpose",
            Op::Relu => "Relu",
            Op::Map(_) => "Map",
            Op::PRelu(_) => "PRelu",
            Op::Softmax { log: false, .. } => "Softmax",
            Op::Softmax { log: true, .. } => "LogSoftmax",
            Op::ArgMax { .. } => "ArgMax",
            Op::Reshape => "Reshape",
            Op::Identity => "Identity",
            Op::Add => "Add",
            Op::Concat(_) => "Concat",
            Op::Unsupported(_) => "Unsupported",
        }
    }

    /// Number of float parameters (weights and biases).
    pub fn param_count(&self) -> usize {
        match self {
            Op::Dense(d) => d.weight.len() + d.bias.as_ref().map_or(0, Vec::len),
            Op::Conv(c) => c.weight.len() + c.bias.as_ref().map_or(0, Vec::len),
            Op::PRelu(slopes) => slopes.len(),
            Op::MaxPool(_)
            | Op::AvgPool(_)
            | Op::Transpose(_)
            | Op::Relu
            | Op::Map(_)
            | Op::Softmax { .. }
            | Op::ArgMax { .. }
            | Op::Reshape
            | Op::Identity
            | Op::Add
            | Op::Concat(_)
            | Op::Unsupported(_) => 0,
        }
    }
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Node {
    /// ONNX node name (or `#index` when the node has none).
    pub name: String,
    /// The ONNX op type(s) it came from, e.g. `Gemm` or `MatMul+Add`.
    pub onnx_op: String,
    pub op: Op,
    /// The tensors it reads, in order: 0 is the graph input, `k + 1` the output of node `k`
    /// (always an earlier node). Empty reads the previous node's output (tensor `k` for node
    /// `k`), as in a chain; the importer fills it, except for a placeholder that reads no data.
    #[serde(default)]
    pub inputs: Vec<usize>,
    /// Per-sample shape of its (first) input (`None` when unknown, after an unsupported op).
    pub in_shape: Option<Vec<usize>>,
    /// Per-sample output shape (`None` when unknown).
    pub out_shape: Option<Vec<usize>>,
}

impl Node {
    /// The tensors this node, node `k` of its graph, reads: [`Node::inputs`], or `[k]` (the
    /// previous node's output) when that is empty.
    pub fn reads(&self, k: usize) -> Vec<usize> {
        if self.inputs.is_empty() {
            vec![k]
        } else {
            self.inputs.clone()
        }
    }
}

/// An ONNX node that is not a node of the graph: a constant (a Constant node, or shape
/// arithmetic computed at import) or an op folded into its neighbour (a bias Add, a
/// BatchNormalization, a Cast between float types).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoldedNode {
    /// ONNX node name (or `#index` when the node has none).
    pub name: String,
    pub onnx_op: String,
    /// What became of it, e.g. `folded into fc1` or `constant: computed at import`.
    pub how: String,
}

/// An imported model: one input, one output (the last node's), a DAG of nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub input_name: String,
    pub output_name: String,
    /// Every graph output, in order, with the tensor each is (`k + 1`: node `k`'s output),
    /// when there are several; empty: one output (`output_name`), the last node's.
    #[serde(default)]
    pub outputs: Vec<(String, usize)>,
    pub batch: BatchDim,
    /// Per-sample input shape (batch dimension removed).
    pub input_shape: Vec<usize>,
    pub nodes: Vec<Node>,
    /// The ONNX nodes that are not graph nodes, in graph order.
    #[serde(default)]
    pub folded: Vec<FoldedNode>,
    /// Float parameters of the ONNX model: every float initializer or Constant that a node
    /// consumes, supported or not (before BatchNormalization folding).
    #[serde(default)]
    pub model_params: usize,
    /// A permutation of the input's per-sample axes applied before the first node (an input
    /// Transpose, as tf2onnx writes for NHWC models); empty: none.
    #[serde(default)]
    pub input_perm: Vec<usize>,
}

/// A tensor of per-sample `shape` (C order) with its axes permuted: axis `i` of the result is
/// axis `perm[i]` of `x`. An empty `perm` leaves it as it is.
pub fn permute<T: Copy>(x: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    if perm.is_empty() {
        return x.to_vec();
    }
    permuted_sources(shape, perm)
        .iter()
        .map(|&s| x[s])
        .collect()
}

/// For each C-order index of the permuted tensor, the C-order index of `shape` it holds.
pub fn permuted_sources(shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let mut strides = vec![1; shape.len()];
    for a in (0..shape.len().saturating_sub(1)).rev() {
        strides[a] = strides[a + 1] * shape[a + 1];
    }
    let n: usize = out_shape.iter().product();
    (0..n)
        .map(|mut j| {
            let mut s = 0;
            for (axis, &extent) in out_shape.iter().enumerate().rev() {
                s += (j % extent) * strides[perm[axis]];
                j /= extent;
            }
            s
        })
        .collect()
}

impl Graph {
    /// Number of values in one input sample.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of values of the first graph output in one sample, when known (what an input
    /// file's `output_data` holds).
    pub fn output_len(&self) -> Option<usize> {
        // the first graph output's: the last node's, or the first of several
        let node = match self.outputs.first() {
            Some((_, t)) => t.checked_sub(1).and_then(|k| self.nodes.get(k)),
            None => self.nodes.last(),
        };
        match node {
            None => Some(self.input_len()),
            Some(n) => n.out_shape.as_ref().map(|s| s.iter().product()),
        }
    }

    /// Every unsupported op, in graph order.
    pub fn unsupported(&self) -> Vec<UnsupportedOp> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.op {
                Op::Unsupported(u) => Some(u.clone()),
                Op::Dense(_)
                | Op::Conv(_)
                | Op::MaxPool(_)
                | Op::AvgPool(_)
                | Op::Transpose(_)
                | Op::Relu
                | Op::Map(_)
                | Op::PRelu(_)
                | Op::Softmax { .. }
                | Op::ArgMax { .. }
                | Op::Reshape
                | Op::Identity
                | Op::Add
                | Op::Concat(_) => None,
            })
            .collect()
    }

    /// Number of float parameters of the graph's layers (after folding).
    pub fn param_count(&self) -> usize {
        self.nodes.iter().map(|n| n.op.param_count()).sum()
    }

    /// What an input JSON document must hold for this graph.
    pub fn input_spec(&self) -> InputSpec {
        InputSpec {
            batch: self.batch,
            sample_len: self.input_len(),
            output_len: self.output_len(),
        }
    }

    /// The tensors node `k` reads ([`Node::inputs`], or `[k]` when that is empty).
    pub fn node_inputs(&self, k: usize) -> Vec<usize> {
        self.nodes.get(k).map_or_else(|| vec![k], |n| n.reads(k))
    }

    /// For each tensor (0: the input, `k + 1`: node `k`'s output), the nodes that read it, in
    /// order, once per read (a node reading a tensor twice is listed twice).
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut readers = vec![Vec::new(); self.nodes.len() + 1];
        for k in 0..self.nodes.len() {
            for t in self.node_inputs(k) {
                if let Some(r) = readers.get_mut(t) {
                    r.push(k);
                }
            }
        }
        readers
    }

    /// Float inference of one sample (flat, C order) in f64; returns every node's output, in
    /// node order.
    ///
    /// # Errors
    /// [`ModelError::Unsupported`] when the graph has placeholders, [`ModelError::Shape`] when
    /// the sample has the wrong length, a node reads a later tensor or the wrong number of
    /// tensors, or an Add's operands differ in length.
    pub fn float_forward(&self, x: &[f32]) -> Result<Vec<Vec<f64>>, ModelError> {
        let gaps = self.unsupported();
        if !gaps.is_empty() {
            return Err(ModelError::Unsupported {
                gaps: crate::error::GapList(gaps),
            });
        }
        if x.len() != self.input_len() {
            return Err(ModelError::Shape {
                node: self.input_name.clone(),
                detail: format!(
                    "expected {} input values, got {}",
                    self.input_len(),
                    x.len()
                ),
            });
        }
        let mut outs: Vec<Vec<f64>> = Vec::with_capacity(self.nodes.len());
        let x = permute(x, &self.input_shape, &self.input_perm);
        let input: Vec<f64> = x.iter().map(|&v| v as f64).collect();
        for (k, node) in self.nodes.iter().enumerate() {
            let reads = self.node_inputs(k);
            let shape_err = |detail: String| ModelError::Shape {
                node: node.name.clone(),
                detail,
            };
            let xs = reads
                .iter()
                .map(|&t| match t.checked_sub(1) {
                    None => Ok(input.as_slice()),
                    Some(j) => outs
                        .get(j)
                        .map(Vec::as_slice)
                        .ok_or_else(|| shape_err(format!("reads tensor {t}, not an earlier one"))),
                })
                .collect::<Result<Vec<&[f64]>, ModelError>>()?;
            let out = node_forward(&node.op, &xs).map_err(shape_err)?;
            outs.push(out);
        }
        Ok(outs)
    }
}

/// Float forward of one op from the tensors it reads, or why the inputs do not fit it.
fn node_forward(op: &Op, xs: &[&[f64]]) -> Result<Vec<f64>, String> {
    if let Op::Add = op {
        let [a, b] = xs else {
            return Err(format!("Add reads {} tensors, not 2", xs.len()));
        };
        if a.len() != b.len() {
            return Err(format!("Add of {} and {} values", a.len(), b.len()));
        }
        return Ok(a.iter().zip(*b).map(|(u, v)| u + v).collect());
    }
    if let Op::Concat(c) = op {
        let fits = xs.len() == c.shapes.len()
            && xs
                .iter()
                .zip(&c.shapes)
                .all(|(x, s)| x.len() == s.iter().product::<usize>());
        if !fits {
            return Err(format!(
                "Concat of {} tensors that do not fit its shapes",
                xs.len()
            ));
        }
        return Ok(c.forward(xs));
    }
    let [x] = xs else {
        return Err(format!("{} reads {} tensors, not 1", op.kind(), xs.len()));
    };
    Ok(match op {
        Op::Dense(d) => d.forward(x),
        Op::Conv(c) => c.forward(x),
        Op::MaxPool(p) => p.forward(x),
        Op::AvgPool(p) => p.forward(x),
        Op::Transpose(t) => crate::relayout::sources(&t.in_shape, &t.perm, &t.place, &t.out_shape)
            .iter()
            .map(|s| s.map_or(0.0, |s| x[s]))
            .collect(),
        Op::Relu => x.iter().map(|&v| v.max(0.0)).collect(),
        Op::Map(e) => x.iter().map(|&v| e.eval(v)).collect(),
        Op::PRelu(slopes) => {
            let per = x.len() / slopes.len().max(1);
            let slope = |j: usize| slopes.get(j / per.max(1)).copied().unwrap_or(0.0);
            (0..x.len())
                .map(|j| x[j].max(0.0) + slope(j) * x[j].min(0.0))
                .collect()
        }
        Op::ArgMax { last, n } => {
            let better = |a: f64, b: f64| if *last { a >= b } else { a > b };
            x.chunks((*n).max(1))
                .map(|x| (0..x.len()).fold(0, |k, j| if better(x[j], x[k]) { j } else { k }))
                .map(|best| best as f64)
                .collect()
        }
        Op::Softmax { log, n } => x
            .chunks((*n).max(1))
            .flat_map(|x| {
                let m = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let total: f64 = x.iter().map(|&v| (v - m).exp()).sum();
                x.iter().map(move |&v| match log {
                    false => (v - m).exp() / total,
                    true => v - m - total.ln(),
                })
            })
            .collect(),
        Op::Reshape | Op::Identity | Op::Add | Op::Concat(_) | Op::Unsupported(_) => x.to_vec(),
    })
}
