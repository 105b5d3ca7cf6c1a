//! ONNX at the edge: the raw protobuf is turned into the small [`Graph`] here and nowhere else.
//!
//! First, `fold` computes with tract every tensor that does not depend on the input (shape
//! arithmetic, weights computed from constants); those are constants from then on, and the
//! nodes that made them are listed in [`Graph::folded`]. The data path is the set of nodes
//! that read (through non-constant inputs) from the graph input and lead to its output: a DAG.
//! The walk visits its nodes in graph order, knowing for every data tensor which graph tensor
//! it is (a node's output, or an alias of one when a node was folded away); each node goes
//! through the builder that `ops::builder` finds for its op type, with the tensor it reads as
//! the "current" one (an Add or Sum of two data tensors goes to `join::add`). A node without a
//! builder, with attributes we do not take, with several data inputs (other than that Add), or
//! off the data path becomes an [`Op::Unsupported`] placeholder, so that every gap of a model is
//! listed at once (`Graph::unsupported`). Structural problems that make the rest meaningless
//! (no input, two inputs, the output not the last node's) are errors.
//!
//! Folding backward (a BatchNormalization or constant affine map into the Conv/Dense before
//! it) changes that node's output, so it is done only when the folded node is the only reader
//! of that output ([`Ctx::fold_target`]).

mod affine;
mod conv;
mod fold;
mod join;
mod map;
mod ops;
mod pad;
mod pool;
mod proto;
mod resize;
mod slice;
mod squeeze;
mod transpose;

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
/// [`ModelError::Shape`] for graphs without one input, one output (the last node's) and a
/// path of ops between them with consistent shapes. Unsupported
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

/// A data tensor of the ONNX graph as the walk knows it.
#[derive(Clone, Debug)]
pub(crate) struct Tensor {
    /// The graph tensor it is: 0 the input, `k + 1` the output of node `k`.
    pub id: usize,
    /// Its per-sample shape, when known.
    pub shape: Option<Vec<usize>>,
    /// Whether a map may be folded into the node that produces it: this ONNX tensor has one
    /// reader, and so does every ONNX tensor it aliases (a Cast, a folded map in between).
    pub exclusive: bool,
}

/// State of the walk along the data path.
pub(crate) struct Ctx {
    pub consts: HashMap<String, Const>,
    pub batch: BatchDim,
    /// Name of the data tensor the node being built reads (its first data input).
    pub current: String,
    /// Its per-sample shape, when known.
    pub shape: Option<Vec<usize>>,
    /// The data inputs of the node being built, in input order (a repeated input repeats).
    pub sources: Vec<(String, Tensor)>,
    /// Every data tensor met so far, by ONNX name.
    pub tensors: HashMap<String, Tensor>,
    /// Number of reads of each ONNX tensor by data-path nodes (the graph output counts one).
    pub readers: HashMap<String, usize>,
    pub nodes: Vec<Node>,
    /// ONNX nodes that are not graph nodes: constants and ops folded into a neighbour.
    pub folded: Vec<FoldedNode>,
    /// The expressions of the element-wise functions, by the output of the node that ends each
    /// (`map::fuse`).
    pub maps: HashMap<String, crate::map::Expr>,
    /// The symbol of a dynamic batch in folded shape values.
    pub batch_symbol: Option<Symbol>,
    /// Why tract could not fold constants, if it could not.
    pub fold_failure: Option<String>,
    /// Tensors computed at import that depend on the batch size (not constants).
    pub batch_dependent: HashSet<String>,
    /// Affine maps made diagonal ops, to fold into the op that reads them after the walk.
    pub affine: Vec<affine::Pending>,
    /// Transposes that move data, by node index, to fold into a dense reader after the walk.
    pub transposes: HashMap<usize, transpose::Pending>,
    /// The permutation of the input's axes an input Transpose stands for (empty: none).
    pub input_perm: Vec<usize>,
    /// Zero Pads, by node index, waiting for the window op that reads them (`pad::fold`).
    pub pads: HashMap<usize, pad::Pending>,
}

impl Ctx {
    /// The node whose output the node being built reads first (`None`: the graph input).
    pub fn producer(&self) -> Option<usize> {
        self.sources.first().and_then(|(_, t)| t.id.checked_sub(1))
    }

    /// The node into which a map of the data may be folded backward: the producer of the data
    /// tensor, when the node being built is the only reader of its output.
    pub fn fold_target(&self) -> Option<usize> {
        match self.sources.as_slice() {
            [(_, t)] if t.exclusive => t.id.checked_sub(1),
            _ => None,
        }
    }

    /// Number of data-path reads of an ONNX tensor.
    pub fn reads(&self, name: &str) -> usize {
        self.readers.get(name).copied().unwrap_or(0)
    }
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
    let outputs = graph_outputs(g)?;
    let output_name = outputs[0].clone();
    let model_params = summary_params(g, &consts, dir);
    let folded = fold::fold(proto, dir, &input_name, batch, &input_shape);
    for (name, value) in folded.consts {
        consts.entry(name).or_insert(value);
    }
    let fused = map::fuse(g, &consts, dir, &outputs);
    let g = &fused.graph;
    let path = data_path(g, &consts, &folded.batch_dependent, &input_name, &outputs)?;
    let readers = count_readers(g, &path, &outputs);
    let input = Tensor {
        id: 0,
        shape: Some(input_shape.clone()),
        exclusive: false,
    };
    let mut ctx = Ctx {
        consts,
        batch,
        current: input_name.clone(),
        shape: Some(input_shape.clone()),
        sources: Vec::new(),
        tensors: HashMap::from([(input_name.clone(), input)]),
        readers,
        nodes: Vec::new(),
        folded: fused.folded,
        maps: fused.exprs,
        batch_symbol: folded.batch,
        fold_failure: folded.failure,
        batch_dependent: folded.batch_dependent,
        affine: Vec::new(),
        transposes: HashMap::new(),
        input_perm: Vec::new(),
        pads: HashMap::new(),
    };
    for (index, node) in g.node.iter().enumerate() {
        visit(&mut ctx, node, index, dir, path.contains(&index))?;
    }
    // one output is the last node's; several, each by the name of the node that makes it
    // (folding renumbers nodes)
    if outputs.len() == 1 {
        check_output(&ctx, &output_name)?;
    }
    let mut named: Vec<(String, String)> = Vec::new();
    for name in outputs.iter().filter(|_| outputs.len() > 1) {
        let node = ctx
            .tensors
            .get(name)
            .and_then(|t| t.id.checked_sub(1))
            .and_then(|k| ctx.nodes.get(k))
            .ok_or_else(|| ModelError::Structure {
                detail: format!(
                    "graph output {name:?} is not the output of a node of the data path"
                ),
            })?;
        named.push((name.clone(), node.name.clone()));
    }
    for k in transpose::fold_forward(&mut ctx.nodes, &mut ctx.folded, &ctx.transposes) {
        // a removed node shifts the indices after it
        for p in ctx.affine.iter_mut().filter(|p| p.node > k) {
            p.node -= 1;
        }
    }
    affine::fold_forward(
        &mut ctx.nodes,
        &mut ctx.folded,
        std::mem::take(&mut ctx.affine),
    );
    slice::merge_gathers(&mut ctx.nodes, &mut ctx.folded);
    let outputs = named
        .into_iter()
        .map(
            |(output, node)| match ctx.nodes.iter().position(|n| n.name == node) {
                Some(k) => Ok((output, k + 1)),
                None => Err(ModelError::Structure {
                    detail: format!("graph output {output:?}: its node {node} was folded away"),
                }),
            },
        )
        .collect::<Result<_, _>>()?;
    Ok(Graph {
        input_name,
        output_name,
        outputs,
        batch,
        input_shape,
        nodes: ctx.nodes,
        folded: ctx.folded,
        model_params,
        input_perm: ctx.input_perm,
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
        // Keras 3's export writes a Normalization layer's mean and variance as graph inputs
        let why = if names.len() > 1 {
            " (the model's data input and inputs without a value in the file: constants such as \
             a normalisation's mean and variance must be initializers; Keras 3's \
             `model.export(format=\"onnx\")` writes a Normalization layer's statistics as \
             inputs: export with tf2onnx.convert.from_keras, or normalise outside the model)"
        } else {
            ""
        };
        return Err(ModelError::Structure {
            detail: format!("expected exactly one graph input, found {names:?}{why}"),
        });
    };
    let (batch, shape) = proto::input_shape(input)?;
    Ok((input.name.clone(), batch, shape))
}

/// The graph's outputs (at least one), in order.
fn graph_outputs(g: &GraphProto) -> Result<Vec<String>, ModelError> {
    let outs: Vec<String> = g.output.iter().map(|o| o.name.clone()).collect();
    // skl2onnx's classifiers: a label and a map of probabilities (ZipMap), not a tensor
    if g.node.iter().any(|n| n.op_type == "ZipMap") {
        return Err(ModelError::Structure {
            detail: format!(
                "graph outputs {outs:?}: the probabilities are a ZipMap (a map per sample, not \
                 a tensor): export with skl2onnx's options={{id(model): {{\"zipmap\": False}}}}"
            ),
        });
    }
    if outs.is_empty() {
        return Err(ModelError::Structure {
            detail: "the graph has no output".into(),
        });
    }
    Ok(outs)
}

/// The graph output must be the last node's output (or the input, when there is no node).
fn check_output(ctx: &Ctx, output: &str) -> Result<(), ModelError> {
    let id = ctx.tensors.get(output).map(|t| t.id);
    if id == Some(ctx.nodes.len()) {
        return Ok(());
    }
    let last = ctx.nodes.last().map_or("the input", |n| n.name.as_str());
    let detail = match id {
        None => format!("graph output {output:?} is not computed from the data path"),
        Some(id) => format!(
            "graph output {output:?} is tensor {id}, not the output of the last node ({last})"
        ),
    };
    Err(ModelError::Structure { detail })
}

/// Indices of the nodes on the data path: those that read, through non-constant inputs, from
/// the graph input and lead to the graph output.
fn data_path(
    g: &GraphProto,
    consts: &HashMap<String, Const>,
    batch_dependent: &HashSet<String>,
    input: &str,
    outputs: &[String],
) -> Result<HashSet<usize>, ModelError> {
    let constant_outputs: HashSet<&str> = g
        .node
        .iter()
        .filter(|n| n.op_type == "Constant")
        .flat_map(|n| n.output.iter().map(String::as_str))
        .collect();
    let is_data = |name: &String| {
        !name.is_empty()
            && !consts.contains_key(name)
            && !batch_dependent.contains(name)
            && !constant_outputs.contains(name.as_str())
    };
    // graph order is topological in valid ONNX (one pass each way); repeat until stable for
    // files that are not
    let mut from_input: HashSet<&str> = HashSet::from([input]);
    let mut forward = HashSet::new();
    let mut changed = true;
    while std::mem::take(&mut changed) {
        for (i, n) in g.node.iter().enumerate() {
            let reads = |t: &String| is_data(t) && from_input.contains(t.as_str());
            if !forward.contains(&i) && n.input.iter().any(reads) {
                forward.insert(i);
                from_input.extend(n.output.iter().filter(|o| is_data(o)).map(String::as_str));
                changed = true;
            }
        }
    }
    let mut to_output: HashSet<&str> = outputs.iter().map(String::as_str).collect();
    let mut path = HashSet::new();
    changed = true;
    while std::mem::take(&mut changed) {
        for (i, n) in g.node.iter().enumerate().rev() {
            let leads = n.output.iter().any(|o| to_output.contains(o.as_str()));
            if forward.contains(&i) && !path.contains(&i) && leads {
                path.insert(i);
                to_output.extend(n.input.iter().filter(|t| is_data(t)).map(String::as_str));
                changed = true;
            }
        }
    }
    if let Some(output) = outputs.iter().find(|o| !from_input.contains(o.as_str())) {
        return Err(ModelError::Structure {
            detail: format!("no chain of ops leads from input {input:?} to output {output:?}"),
        });
    }
    Ok(path)
}

/// Number of reads of each tensor by the nodes of the data path, plus one for the output.
fn count_readers(
    g: &GraphProto,
    path: &HashSet<usize>,
    outputs: &[String],
) -> HashMap<String, usize> {
    let mut readers: HashMap<String, usize> = outputs.iter().map(|o| (o.clone(), 1)).collect();
    let inputs = path.iter().flat_map(|&i| &g.node[i].input);
    for t in inputs.filter(|t| !t.is_empty()) {
        *readers.entry(t.clone()).or_default() += 1;
    }
    readers
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

/// Process one ONNX node: a constant, a node of the data path, or a placeholder.
fn visit(
    ctx: &mut Ctx,
    node: &NodeProto,
    index: usize,
    dir: Option<&str>,
    on_path: bool,
) -> Result<(), ModelError> {
    let name = node_name(node, index);
    if !on_path && constant(ctx, node, &name, dir) {
        return Ok(());
    }
    let data: Vec<&String> = node
        .input
        .iter()
        .filter(|i| !i.is_empty() && !ctx.consts.contains_key(*i))
        .collect();
    let sources: Vec<(String, Tensor)> = node
        .input
        .iter()
        .filter_map(|i| ctx.tensors.get(i).map(|t| (i.clone(), t.clone())))
        .collect();
    (ctx.current, ctx.shape) = match sources.first() {
        Some((n, t)) => (n.clone(), t.shape.clone()),
        None => (String::new(), None),
    };
    ctx.sources = sources;
    let builder = pick_builder(node, ctx.sources.len());
    if let Some(reason) = structure_refusal(ctx, node, &data, on_path, builder.is_some()) {
        push_gap(ctx, node, name, reason, on_path);
        return Ok(());
    }
    let built = match builder {
        None => Err(ops::Refusal::Unsupported("no support for this op".into())),
        Some(build) => build(node, ctx),
    };
    match built {
        Ok(ops::Built::Fused) => fused(ctx, node, name),
        Ok(ops::Built::Op { op, out_shape }) => {
            push_node(ctx, node, name, op, out_shape);
        }
        Err(ops::Refusal::Unsupported(reason)) => push_gap(ctx, node, name, reason, true),
        Err(ops::Refusal::Error(e)) => return Err(e),
    }
    Ok(())
}

/// The builder for a node with `n_sources` data inputs: `join::add` for an Add or Sum of two,
/// `join::concat` for a Concat, none for other joins of several, else the registry's (a builder reads its first data input
/// and refuses a data tensor where it wants a constant, saying so).
fn pick_builder(node: &NodeProto, n_sources: usize) -> Option<ops::Builder> {
    let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
    let op = node.op_type.as_str();
    if node.domain == map::DOMAIN {
        return Some(map::build);
    }
    if node.domain == "ai.onnx.ml" && op == "ArrayFeatureExtractor" && n_sources == 1 {
        return Some(ops::array_feature_extractor);
    }
    match n_sources {
        2 if default_domain && matches!(op, "Add" | "Sum") => Some(join::add),
        1.. if default_domain && op == "Concat" => Some(join::concat),
        0 | 1 => ops::builder(&node.domain, op),
        _ if JOINS.contains(&op) => None,
        _ => ops::builder(&node.domain, op),
    }
}

/// A node folded away: its output is another name for the tensor it read, exclusive when that
/// one was and nothing else reads it.
fn fused(ctx: &mut Ctx, node: &NodeProto, name: String) {
    let how = match ctx.producer().and_then(|k| ctx.nodes.get(k)) {
        Some(p) => format!("folded into {}", p.name),
        None => "no-op".into(),
    };
    push_folded(ctx, node, name, &how);
    let Some((_, source)) = ctx.sources.first() else {
        return;
    };
    if let Some(out) = node.output.first() {
        let alias = Tensor {
            id: source.id,
            shape: ctx.shape.clone(),
            exclusive: source.exclusive && ctx.reads(out) == 1,
        };
        ctx.tensors.insert(out.clone(), alias);
    }
}

/// Append a node reading the node's data inputs; its output becomes a data tensor.
fn push_node(
    ctx: &mut Ctx,
    node: &NodeProto,
    name: String,
    mut op: Op,
    out_shape: Option<Vec<usize>>,
) {
    let id = ctx.nodes.len() + 1;
    // a builder's placeholder is named like the node
    if let Op::Unsupported(u) = &mut op {
        u.node.clone_from(&name);
    }
    // a builder reads its first data input only; a join or a placeholder lists them all
    let all = match op {
        Op::Add | Op::Concat(_) | Op::Unsupported(_) => ctx.sources.len(),
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
        | Op::Identity => 1,
    };
    ctx.nodes.push(Node {
        name,
        onnx_op: node.op_type.clone(),
        op,
        inputs: ctx.sources.iter().take(all).map(|(_, t)| t.id).collect(),
        in_shape: ctx.shape.take(),
        out_shape: out_shape.clone(),
    });
    if let Some(out) = node.output.first() {
        let exclusive = ctx.reads(out) == 1;
        let tensor = Tensor {
            id,
            shape: out_shape,
            exclusive,
        };
        ctx.tensors.insert(out.clone(), tensor);
    }
}

/// A node off the data path that is a Constant or whose outputs were all computed at import:
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

/// Why a node cannot be built where it is: off the data path, or several data inputs that
/// no builder takes. `None` when its builder should decide (a builder that takes one data
/// input and constants says which input is not constant).
fn structure_refusal(
    ctx: &Ctx,
    node: &NodeProto,
    data: &[&String],
    on_path: bool,
    has_builder: bool,
) -> Option<String> {
    if !on_path {
        return Some(if data.is_empty() {
            let why = ctx
                .fold_failure
                .as_deref()
                .unwrap_or("tract found no value for it");
            format!("computes from constants only, but could not be computed at import: {why}")
        } else {
            "on a side branch: it computes from the data, but its result does not lead to the \
             graph output"
                .into()
        });
    }
    let n = ctx.sources.len();
    let names: Vec<&str> = ctx.sources.iter().map(|(s, _)| s.as_str()).collect();
    match n {
        0 => Some(format!(
            "reads no tensor computed from the graph input ({data:?})"
        )),
        _ if has_builder => None,
        1 => None,
        _ if JOINS.contains(&node.op_type.as_str()) => Some(format!(
            "joins {n} tensors computed from the data ({names:?}): two branches meet here; only \
             an Add (or Sum) of two tensors is supported"
        )),
        _ => Some(format!(
            "reads {n} tensors computed from the data ({names:?}) and has no support (one data \
             input at most, the others constants)"
        )),
    }
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

/// Record a placeholder. When it is on the data path, it reads the data tensors of its inputs
/// and its output becomes a data tensor, whose shape is kept for ops known to be elementwise
/// (for a readable summary), else unknown.
fn push_gap(ctx: &mut Ctx, node: &NodeProto, name: String, reason: String, on_path: bool) {
    let gap = Op::Unsupported(UnsupportedOp {
        node: name.clone(),
        op_type: node.op_type.clone(),
        reason,
    });
    if !on_path {
        ctx.nodes.push(Node {
            name,
            onnx_op: node.op_type.clone(),
            op: gap,
            inputs: ctx.sources.iter().map(|(_, t)| t.id).collect(),
            in_shape: None,
            out_shape: None,
        });
        return;
    }
    let out_shape = if ops::is_elementwise(&node.op_type) {
        ctx.shape.clone()
    } else {
        None
    };
    push_node(ctx, node, name, gap, out_shape);
}

#[cfg(test)]
mod affine_tests;
#[cfg(test)]
mod cnn_tests;
#[cfg(test)]
mod dag_tests;
#[cfg(test)]
mod fold_tests;
#[cfg(test)]
mod map_tests;
#[cfg(test)]
mod oned_tests;
#[cfg(test)]
mod pad_tests;
#[cfg(test)]
mod pool_tests;
#[cfg(test)]
mod tests;
