//! A printable description of a [`Graph`] for `zkml inspect`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cnn::Window;
use crate::error::UnsupportedOp;
use crate::graph::{BatchDim, FoldedNode, Graph, Op};
use crate::relayout::Placement;

/// One op in a [`Summary`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSummary {
    pub name: String,
    /// Kind in the internal graph with its geometry (`Dense 64->10`,
    /// `Conv 3->8 k3x3 s2x2 p1,0,2,1` with pads top,left,bottom,right, `MaxPool k2x2 s2x2 p0,0,0,0`,
    /// `Relu`, ...).
    pub kind: String,
    /// ONNX op type(s) it came from.
    pub onnx_op: String,
    /// Per-sample shapes; `None` when unknown.
    pub in_shape: Option<Vec<usize>>,
    pub out_shape: Option<Vec<usize>>,
    pub params: usize,
    /// Where its inputs come from (`input` or a node name), when that is not just the previous
    /// node's output; empty otherwise.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Whether and how it will be proven, e.g. `proven: dense + requantization`,
    /// `re-indexing (nothing to prove)`, `unsupported`.
    pub proof: String,
}

/// Summary of a graph: ops, shapes, parameter counts, gaps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub input_name: String,
    pub batch: BatchDim,
    pub input_shape: Vec<usize>,
    pub output_shape: Option<Vec<usize>>,
    /// Every graph output by name with its per-sample shape, when there are several.
    pub outputs: Vec<(String, Option<Vec<usize>>)>,
    pub ops: Vec<OpSummary>,
    /// Parameters of the graph's layers (after BatchNormalization folding).
    pub total_params: usize,
    /// Every float parameter of the ONNX model, supported or not.
    pub model_params: usize,
    /// ONNX nodes that are constants or were folded into a neighbour.
    pub folded: Vec<FoldedNode>,
    pub unsupported: Vec<UnsupportedOp>,
}

impl Graph {
    /// Describe the graph (see [`Summary`]'s `Display` for the text form).
    pub fn summary(&self) -> Summary {
        let ops = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| OpSummary {
                name: n.name.clone(),
                kind: match &n.op {
                    Op::Dense(d) => format!("Dense {}->{}", d.n_in, d.n_out),
                    Op::Conv(c) => format!(
                        "Conv {}->{} {}",
                        c.c_in(),
                        c.c_out(),
                        window_text(&c.window)
                    ),
                    Op::MaxPool(p) => format!("MaxPool {}", window_text(&p.window)),
                    Op::AvgPool(p) => format!("AvgPool {}", window_text(&p.window)),
                    Op::Transpose(t) if t.place != Placement::Whole => "Gather".into(),
                    Op::Transpose(t) => format!("Transpose {:?}", t.perm),
                    Op::Concat(c) => format!("Concat axis {}", c.axis + 1),
                    Op::Map(e) => format!("Map {e}"),
                    Op::PRelu(slopes) => format!("PRelu {} slopes", slopes.len()),
                    Op::Softmax { .. } | Op::ArgMax { .. } => n.op.kind().to_string(),
                    Op::Relu | Op::Reshape | Op::Identity | Op::Add | Op::Unsupported(_) => {
                        n.op.kind().to_string()
                    }
                },
                onnx_op: n.onnx_op.clone(),
                in_shape: n.in_shape.clone(),
                out_shape: n.out_shape.clone(),
                params: n.op.param_count(),
                inputs: self.input_names(i),
                proof: self.proof_of(i),
            })
            .collect();
        let output_shape = match self.nodes.last() {
            None => Some(self.input_shape.clone()),
            Some(n) => n.out_shape.clone(),
        };
        Summary {
            input_name: self.input_name.clone(),
            batch: self.batch,
            input_shape: self.input_shape.clone(),
            output_shape,
            outputs: self
                .outputs
                .iter()
                .map(|(name, t)| {
                    let shape = t.checked_sub(1).and_then(|k| self.nodes.get(k));
                    (name.clone(), shape.and_then(|n| n.out_shape.clone()))
                })
                .collect(),
            ops,
            total_params: self.param_count(),
            model_params: self.model_params,
            folded: self.folded.clone(),
            unsupported: self.unsupported(),
        }
    }

    /// The names of the tensors node `i` reads, unless it reads just the previous node.
    fn input_names(&self, i: usize) -> Vec<String> {
        let reads = self.node_inputs(i);
        if reads == [i] {
            return Vec::new();
        }
        reads
            .iter()
            .map(
                |&t| match t.checked_sub(1).and_then(|k| self.nodes.get(k)) {
                    Some(n) => n.name.clone(),
                    None => "input".to_string(),
                },
            )
            .collect()
    }

    /// How node `i` will be proven (the same grouping as quantization: a ReLU is the clamp of
    /// the dense, conv, average-pool or sum layer that produces its input, through max-pools
    /// and reshapes).
    fn proof_of(&self, i: usize) -> String {
        match &self.nodes[i].op {
            Op::Dense(_) => "proven: dense + requantization".into(),
            Op::Conv(_) => "proven: conv + requantization".into(),
            Op::MaxPool(_) => "proven: max-pool".into(),
            Op::AvgPool(_) => "proven: window sum + requantization".into(),
            Op::Add => "proven: rescaled sum + requantization".into(),
            Op::Transpose(t) if t.place != Placement::Whole => {
                "proven: copies of input positions (wiring)".into()
            }
            Op::Transpose(_) => "proven: permutation (wiring)".into(),
            Op::Concat(_) => "proven: each input placed by a permutation, rescaled sums".into(),
            Op::Map(_) => "proven: a lookup of each value in the function's table".into(),
            Op::PRelu(_) => "proven: a lookup of each value in its channel's table".into(),
            Op::Softmax { log: false, .. } => {
                "proven: the row max, exponentials by table, their sum, a division".into()
            }
            Op::ArgMax { .. } => {
                "proven: the row max of distinct keys, a one-hot index, its position".into()
            }
            Op::Softmax { log: true, .. } => {
                "proven: the row max, exponentials by table, their sum, its log by bounds".into()
            }
            Op::Relu => match self.clamped_layer(i) {
                Ok(n) => format!("proven: in the requantization clamp of {n}"),
                Err(why) => format!("unsupported: {why}"),
            },
            Op::Reshape => {
                "re-indexing (a proven permutation where a conv or pool reads it)".into()
            }
            Op::Identity => "no-op".into(),
            Op::Unsupported(_) => "unsupported (see below)".into(),
        }
    }

    /// The name of the requantizing node whose output ReLU node `i` clamps, following its input
    /// back through max-pools, ReLUs and re-indexing, or why there is none.
    fn clamped_layer(&self, i: usize) -> Result<&str, &'static str> {
        let none = "no dense, conv, average-pool or sum layer before it";
        let readers = self.consumers();
        let mut t = self.node_inputs(i).first().copied().ok_or(none)?;
        loop {
            let k = t.checked_sub(1).ok_or(none)?;
            let n = self.nodes.get(k).ok_or(none)?;
            if readers.get(t).map(Vec::len) != Some(1) {
                return Err("the output it clamps is also read by other nodes");
            }
            match n.op {
                Op::Dense(_)
                | Op::Conv(_)
                | Op::AvgPool(_)
                | Op::Add
                | Op::Concat(_)
                | Op::Map(_)
                | Op::PRelu(_)
                | Op::Softmax { .. }
                | Op::ArgMax { .. } => {
                    return Ok(&n.name);
                }
                Op::MaxPool(_) | Op::Transpose(_) | Op::Relu | Op::Reshape | Op::Identity => {
                    t = self.node_inputs(k).first().copied().ok_or(none)?;
                }
                Op::Unsupported(_) => return Err(none),
            }
        }
    }
}

/// `k3x3 s2x2 p1,0,2,1` (kernel, strides, pads top,left,bottom,right).
fn window_text(w: &Window) -> String {
    let [t, l, b, r] = w.pads;
    format!(
        "k{}x{} s{}x{} p{t},{l},{b},{r}",
        w.kernel[0], w.kernel[1], w.stride[0], w.stride[1]
    )
}

fn shape_text(batch: BatchDim, shape: &Option<Vec<usize>>) -> String {
    let b = match batch {
        BatchDim::Fixed(n) => n.to_string(),
        BatchDim::Dynamic => "N".to_string(),
    };
    match shape {
        None => format!("[{b}, ?]"),
        Some(s) => {
            let dims: Vec<String> = std::iter::once(b)
                .chain(s.iter().map(usize::to_string))
                .collect();
            format!("[{}]", dims.join(", "))
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = shape_text(self.batch, &Some(self.input_shape.clone()));
        let output = match self.outputs.as_slice() {
            [] => format!("output {}", shape_text(self.batch, &self.output_shape)),
            outs => {
                let each: Vec<String> = outs
                    .iter()
                    .map(|(name, s)| format!("{name} {}", shape_text(self.batch, s)))
                    .collect();
                format!("outputs {}", each.join(", "))
            }
        };
        writeln!(f, "input {}: {input} -> {output}", self.input_name)?;
        let w = self
            .ops
            .iter()
            .map(|o| o.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let k = self
            .ops
            .iter()
            .map(|o| o.kind.len())
            .max()
            .unwrap_or(0)
            .max(16);
        let x = self
            .ops
            .iter()
            .map(|o| o.onnx_op.len())
            .max()
            .unwrap_or(0)
            .max(12);
        let shapes = self.ops.iter().flat_map(|o| [&o.in_shape, &o.out_shape]);
        let s = shapes
            .map(|sh| shape_text(self.batch, sh).len())
            .max()
            .unwrap_or(0)
            .max(16);
        writeln!(
            f,
            "{:>3}  {:<w$}  {:<k$} {:<x$} {:<s$} {:<s$} {:>9}  proof",
            "#", "name", "kind", "onnx", "in", "out", "params"
        )?;
        for (i, op) in self.ops.iter().enumerate() {
            writeln!(
                f,
                "{:>3}  {:<w$}  {:<k$} {:<x$} {:<s$} {:<s$} {:>9}  {}",
                i,
                op.name,
                op.kind,
                op.onnx_op,
                shape_text(self.batch, &op.in_shape),
                shape_text(self.batch, &op.out_shape),
                op.params,
                op.proof
            )?;
            if !op.inputs.is_empty() {
                writeln!(f, "{:>3}  {:<w$}  reads {}", "", "", op.inputs.join(", "))?;
            }
        }
        if !self.folded.is_empty() {
            writeln!(f, "not proven apart ({} ONNX nodes):", self.folded.len())?;
            for n in &self.folded {
                writeln!(f, "  - {} ({}): {}", n.name, n.onnx_op, n.how)?;
            }
        }
        writeln!(
            f,
            "parameters: {} in the model, {} in the proven layers (after folding)",
            self.model_params, self.total_params
        )?;
        if self.unsupported.is_empty() {
            write!(f, "unsupported ops: none")
        } else {
            write!(f, "unsupported ops: {}", self.unsupported.len())?;
            for gap in &self.unsupported {
                write!(f, "\n  - {gap}")?;
            }
            Ok(())
        }
    }
}
