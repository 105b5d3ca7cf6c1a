//! ONNX at the edge: the raw protobuf is turned into the small [`Graph`] here and nowhere else.
//!
//! First, `fold` computes with tract every tensor that does not depend on the input (shape
//! arithmetic, weights computed from constants); those are constants from then on, and the
//! nodes that made them are listed in [`Graph::folded`]. The chain is the path from the graph output back to its input through each node's first
//! non-constant input. The walk follows it with one "current" tensor; each chain node goes
//! through the builder that `ops::builder` finds for its op type. A node without a builder,
//! with attributes we do not take, with a second data input, or off the chain becomes an
//! [`Op::Unsupported`] placeholder, so that every gap of a model is listed at once
//! (`Graph::unsupported`). Structural problems that make the rest
//! meaningless (no input, two inputs, the output not at the end of the chain) are errors.

mod affine;
mod conv;
mod fold;
mod ops;
mod pool;
mod proto;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use tract_onnx::pb::{GraphProto, ModelProto, NodeProto};
use tract_onnx::prelude::{Framework, Symbol};

use crate::error::{ModelError, UnsupportedOp};
use crate::graph::{BatchDim, FoldedNode, Graph, Node, Op};
use proto::Const;

/// Import an ONNX file into a [`Graph`].
///
/// # Errors
/// [`ModelError::Io`]/[`ModelError::Onnx`] for unreadable files, [`ModelError::Structure`] or
/// [`ModelError::Shape`] for graphs that are not one chain with consistent shapes. Unsupported
/// ops are NOT errors here: they are placeholders listed by [`Graph::unsupported`].
pub fn import_onnx(path: &Path) -> Result<Graph, ModelError> {
    let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let proto = decode(&bytes)?;
    let dir = path
        .parent()
        .and_then(Path::to_str)
        .map(|d| if d.is_empty() { "." } else { d });
    import_proto(&proto, dir)
}

/// Import an ONNX model from its bytes (external tensor data is not available this way).
///
/// # Errors
/// As [`import_onnx`].
pub fn import_onnx_bytes(bytes: &[u8]) -> Result<Graph, ModelError> {
    import_proto(&decode(bytes)?, None)
}

fn decode(bytes: &[u8]) -> Result<ModelProto, ModelError> {
    tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| ModelError::Onnx {
            detail: format!("{e:#}"),
        })
}

/// State of the walk along the chain.
pub(crate) struct Ctx {
    pub consts: HashMap<String, Const>,
    pub batch: BatchDim,
    /// Name of the tensor at the end of the chain so far.
    pub current: String,
    /// Its per-sample shape, when known.
    pub shape: Option<Vec<usize>>,
    pub nodes: Vec<Node>,
    /// ONNX nodes that are not chain nodes: constants and ops folded into a neighbour.
    pub folded: Vec<FoldedNode>,
    /// The symbol of a dynamic batch in folded shape values.
    pub batch_symbol: Option<Symbol>,
    /// Why tract could not fold constants, if it could not.
    pub fold_failure: Option<String>,
    /// Tensors computed at import that depend on the batch size (not constants).
    pub batch_dependent: HashSet<String>,
    /// Affine maps made diagonal ops, to fold into the op that reads them after the walk.
    pub affine: Vec<affine::Pending>,
}

/// Import from a decoded protobuf; `dir` is where external tensor data lives.
pub(crate) fn import_proto(proto: &ModelProto, dir: Option<&str>) -> Result<Graph, ModelError> {
    let g = proto.graph.as_ref().ok_or_else(|| ModelError::Onnx {
        detail: "model has no graph".into(),
    })?;
    let mut consts = HashMap::new();
    for t in &g.initializer {
        consts.insert(t.name.clone(), proto::load_const(t, dir)?);
    }
    let (input_name, batch, input_shape) = graph_input(g, &consts)?;
    let output_name = graph_output(g)?;
    let model_params = summary_params(g, &consts, dir);
    let folded = fold::fold(proto, dir, &input_name, batch, &input_shape);
    for (name, value) in folded.consts {
        consts.entry(name).or_insert(value);
    }
    let mut ctx = Ctx {
        consts,
        batch,
        current: input_name.clone(),
        shape: Some(input_shape.clone()),
        nodes: Vec::new(),
        folded: Vec::new(),
        batch_symbol: folded.batch,
        fold_failure: folded.failure,
        batch_dependent: folded.batch_dependent,
        affine: Vec::new(),
    };
    let chain = chain_nodes(g, &ctx.consts, &input_name, &output_name)?;
    for (index, node) in g.node.iter().enumerate() {
        visit(&mut ctx, node, index, dir, chain.contains(&index))?;
    }
    affine::fold_forward(
        &mut ctx.nodes,
        &mut ctx.folded,
        std::mem::take(&mut ctx.affine),
    );
    if ctx.current != output_name {
        return Err(ModelError::Structure {
            detail: format!(
                "graph output {output_name:?} is not the end of the chain (which is {:?})",
                ctx.current
            ),
        });
    }
    Ok(Graph {
        input_name,
        output_name,
        batch,
        input_shape,
        nodes: ctx.nodes,
        folded: ctx.folded,
        model_params,
    })
}

fn graph_input(
    g: &GraphProto,
    consts: &HashMap<String, Const>,
) -> Result<(String, BatchDim, Vec<usize>), ModelError> {
    let inputs: Vec<_> = g
        .input
        .iter()
        .filter(|i| !consts.contains_key(&i.name))
        .collect();
    let [input] = inputs.as_slice() else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(ModelError::Structure {
            detail: format!("expected exactly one graph input, found {names:?}"),
        });
    };
    let (batch, shape) = proto::input_shape(input)?;
    Ok((input.name.clone(), batch, shape))
}

fn graph_output(g: &GraphProto) -> Result<String, ModelError> {
    match g.output.as_slice() {
        [o] => Ok(o.name.clone()),
        outs => Err(ModelError::Structure {
            detail: format!(
                "expected exactly one graph output, found {:?}",
                outs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>()
            ),
        }),
    }
}

/// Indices of the nodes on the path from the graph output back to the input, following each
/// node's first non-constant input.
fn chain_nodes(
    g: &GraphProto,
    consts: &HashMap<String, Const>,
    input: &str,
    output: &str,
) -> Result<HashSet<usize>, ModelError> {
    let is_const = |name: &str| {
        consts.contains_key(name)
            || g.node
                .iter()
                .any(|n| n.op_type == "Constant" && n.output.iter().any(|o| o == name))
    };
    let mut producer = HashMap::new();
    for (i, n) in g.node.iter().enumerate() {
        for o in n.output.iter().filter(|o| !o.is_empty()) {
            producer.insert(o.as_str(), i);
        }
    }
    let mut chain = HashSet::new();
    let mut tensor = output;
    while tensor != input {
        let next = producer.get(tensor).and_then(|&i| {
            let first = g.node[i]
                .input
                .iter()
                .find(|t| !t.is_empty() && !is_const(t))?;
            chain.insert(i).then_some(first.as_str())
        });
        tensor = next.ok_or_else(|| ModelError::Structure {
            detail: format!("no chain of ops leads from input {input:?} to output {output:?}"),
        })?;
    }
    Ok(chain)
}

fn node_name(node: &NodeProto, index: usize) -> String {
    if node.name.is_empty() {
        format!("#{index}")
    } else {
        node.name.clone()
    }
}

/// Ops that combine activations elementwise or by concatenation (a join of two branches when
/// two of their inputs come from the data).
const JOINS: &[&str] = &[
    "Add", "Sub", "Mul", "Div", "Sum", "Max", "Min", "Mean", "Concat",
];

/// Process one ONNX node: a constant, a chain op, or a placeholder.
fn visit(
    ctx: &mut Ctx,
    node: &NodeProto,
    index: usize,
    dir: Option<&str>,
    on_chain: bool,
) -> Result<(), ModelError> {
    let name = node_name(node, index);
    if !on_chain && constant(ctx, node, &name, dir) {
        return Ok(());
    }
    let data: Vec<&String> = node
        .input
        .iter()
        .filter(|i| !i.is_empty() && !ctx.consts.contains_key(*i))
        .collect();
    let builder = ops::builder(&node.domain, &node.op_type);
    if let Some(reason) = structure_refusal(ctx, node, &data, on_chain, builder.is_some()) {
        push_gap(ctx, node, name, reason, on_chain);
        return Ok(());
    }
    let built = match builder {
        None => Err(ops::Refusal::Unsupported("no support for this op".into())),
        Some(build) => build(node, ctx),
    };
    match built {
        Ok(ops::Built::Fused) => {
            let how = match ctx.nodes.last() {
                Some(last) => format!("folded into {}", last.name),
                None => "no-op".into(),
            };
            push_folded(ctx, node, name, &how);
        }
        Ok(ops::Built::Op { op, out_shape }) => {
            let in_shape = ctx.shape.take();
            ctx.nodes.push(Node {
                name,
                onnx_op: node.op_type.clone(),
                op,
                in_shape,
                out_shape: out_shape.clone(),
            });
            ctx.shape = out_shape;
        }
        Err(ops::Refusal::Unsupported(reason)) => push_gap(ctx, node, name, reason, true),
        Err(ops::Refusal::Error(e)) => return Err(e),
    }
    if let Some(out) = node.output.first() {
        ctx.current = out.clone();
    }
    Ok(())
}

/// A node off the chain that is a Constant or whose outputs were all computed at import:
/// recorded (a Constant's value read, or a gap when it cannot be), returns true.
fn constant(ctx: &mut Ctx, node: &NodeProto, name: &str, dir: Option<&str>) -> bool {
    if node.op_type == "Constant" && node.domain.is_empty() {
        match proto::constant_node_value(node, dir) {
            Ok(c) => {
                if let Some(out) = node.output.first() {
                    ctx.consts.insert(out.clone(), c);
                }
                push_folded(ctx, node, name.to_string(), "constant");
            }
            Err(reason) => push_gap(ctx, node, name.to_string(), reason, false),
        }
        return true;
    }
    let outputs: Vec<&String> = node.output.iter().filter(|o| !o.is_empty()).collect();
    let known = |o: &&String| ctx.consts.contains_key(*o) || ctx.batch_dependent.contains(*o);
    if outputs.is_empty() || !outputs.iter().all(known) {
        return false;
    }
    let how = if outputs.iter().all(|o| ctx.consts.contains_key(*o)) {
        "constant: computed at import"
    } else {
        "computed at import from the batch size"
    };
    push_folded(ctx, node, name.to_string(), how);
    true
}

/// Why a node cannot be built where it is: off the chain, a second data input, two branches
/// joining. `None` when its builder should decide (a builder that takes one data input and
/// constants says which input is not constant).
fn structure_refusal(
    ctx: &Ctx,
    node: &NodeProto,
    data: &[&String],
    on_chain: bool,
    has_builder: bool,
) -> Option<String> {
    if !on_chain {
        return Some(if data.is_empty() {
            let why = ctx
                .fold_failure
                .as_deref()
                .unwrap_or("tract found no value for it");
            format!("computes from constants only, but could not be computed at import: {why}")
        } else {
            "on a side branch: it computes from the data, but not on the single chain from \
             the graph input to its output (branches are not supported yet)"
                .into()
        });
    }
    if data.len() == 1 && data[0] == &ctx.current {
        return None;
    }
    if !data.contains(&&ctx.current) {
        return Some(format!(
            "not a single chain: data inputs {data:?}, the chain is at {:?}",
            ctx.current
        ));
    }
    (JOINS.contains(&node.op_type.as_str()) || !has_builder).then(|| {
        format!(
            "joins {} tensors computed from the data ({data:?}): two branches meet here, as in \
             a residual block; only a single chain of ops is supported yet",
            data.len()
        )
    })
}

fn push_folded(ctx: &mut Ctx, node: &NodeProto, name: String, how: &str) {
    ctx.folded.push(FoldedNode {
        name,
        onnx_op: node.op_type.clone(),
        how: how.to_string(),
    });
}

/// Number of float values in the initializers and Constant nodes that nodes consume (each
/// tensor once), whether or not the node is supported.
fn summary_params(g: &GraphProto, consts: &HashMap<String, Const>, dir: Option<&str>) -> usize {
    let mut values: HashMap<&str, usize> = HashMap::new();
    for (name, c) in consts {
        if c.tensor.datum_type().is_float() {
            values.insert(name, c.tensor.len());
        }
    }
    for n in g.node.iter().filter(|n| n.op_type == "Constant") {
        if let (Ok(c), Some(out)) = (proto::constant_node_value(n, dir), n.output.first())
            && c.tensor.datum_type().is_float()
        {
            values.insert(out, c.tensor.len());
        }
    }
    let used: HashSet<&str> = g
        .node
        .iter()
        .flat_map(|n| &n.input)
        .map(String::as_str)
        .collect();
    values
        .iter()
        .filter(|(name, _)| used.contains(*name))
        .map(|(_, n)| n)
        .sum()
}

/// Record a placeholder. When it is on the chain, its output shape is kept for ops known to be
/// elementwise (for a readable summary), else it becomes unknown.
fn push_gap(ctx: &mut Ctx, node: &NodeProto, name: String, reason: String, on_chain: bool) {
    let gap = UnsupportedOp {
        node: name.clone(),
        op_type: node.op_type.clone(),
        reason,
    };
    let in_shape = if on_chain { ctx.shape.clone() } else { None };
    let out_shape = if on_chain && ops::is_elementwise(&node.op_type) {
        in_shape.clone()
    } else {
        None
    };
    if on_chain {
        ctx.shape = out_shape.clone();
        if let Some(out) = node.output.first() {
            ctx.current = out.clone();
        }
    }
    ctx.nodes.push(Node {
        name,
        onnx_op: node.op_type.clone(),
        op: Op::Unsupported(gap),
        in_shape,
        out_shape,
    });
}

#[cfg(test)]
mod affine_tests;
#[cfg(test)]
mod cnn_tests;
#[cfg(test)]
mod fold_tests;
#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;
