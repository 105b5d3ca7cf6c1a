//! A printable description of a [`Graph`] for `zkml inspect`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::cnn::Window;
use crate::error::UnsupportedOp;
use crate::graph::{BatchDim, FoldedNode, Graph, Op};

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
    pub ops: Vec<OpSummary>,
    /// Parameters of the chain's layers (after BatchNormalization folding).
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
                    Op::Relu | Op::Reshape | Op::Identity | Op::Unsupported(_) => {
                        n.op.kind().to_string()
                    }
                },
                onnx_op: n.onnx_op.clone(),
                in_shape: n.in_shape.clone(),
                out_shape: n.out_shape.clone(),
                params: n.op.param_count(),
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
            ops,
            total_params: self.param_count(),
            model_params: self.model_params,
            folded: self.folded.clone(),
            unsupported: self.unsupported(),
        }
    }

    /// How node `i` will be proven (the same grouping as quantization: a ReLU is the clamp
    /// of the last dense, conv or average-pool layer before it, max-pools included).
    fn proof_of(&self, i: usize) -> String {
        match &self.nodes[i].op {
            Op::Dense(_) => "proven: dense + requantization".into(),
            Op::Conv(_) => "proven: conv + requantization".into(),
            Op::MaxPool(_) => "proven: max-pool".into(),
            Op::AvgPool(_) => "proven: window sum + requantization".into(),
            Op::Relu => {
                let linear = self.nodes[..i]
                    .iter()
                    .rev()
                    .find(|n| matches!(n.op, Op::Dense(_) | Op::Conv(_) | Op::AvgPool(_)));
                match linear {
                    Some(n) => format!("proven: in the requantization clamp of {}", n.name),
                    None => "unsupported: no dense, conv or average-pool layer before it".into(),
                }
            }
            Op::Reshape => "re-indexing (nothing to prove)".into(),
            Op::Identity => "no-op".into(),
            Op::Unsupported(_) => "unsupported (see below)".into(),
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
        let output = shape_text(self.batch, &self.output_shape);
        writeln!(f, "input {}: {input} -> output {output}", self.input_name)?;
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
