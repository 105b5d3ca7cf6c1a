//! Element-wise functions: every subgraph of element-wise nodes that reads one data tensor `x`
//! (and scalar constants) and is not affine becomes one [`Op::Map`] of `x`.
//!
//! Before the walk, [`fuse`] gives each element-wise node whose data inputs all derive from
//! one tensor the expression of its output in that tensor (GELU's `Div, Erf, Add, Mul, Mul`
//! is `x * (1 + erf(x / sqrt 2)) * 0.5`; SiLU's `Sigmoid, Mul` is `x * sigmoid(x)`). A node
//! whose expression is not affine and whose output leaves the subgraph (a reader that is not
//! such a node of the same tensor, or the graph output) is a root: it is rewritten to read `x`
//! and built as one map. The nodes inside, read only by such nodes, are dropped (listed as
//! fused). Affine chains (`Mul`, `Add` by constants) stay as they are: they fold into the
//! linear ops around them, exactly.

use std::collections::{HashMap, HashSet};

use tract_onnx::pb::{GraphProto, NodeProto};
use tract_onnx::prelude::DatumType;

use super::Ctx;
use super::ops::{Built, Refusal, unsupported};
use super::proto::{Const, attr_float, attr_string, constant_node_value};
use crate::graph::{FoldedNode, Op};
use crate::map::{Bin, Expr, Func};

/// The most ONNX nodes one expression takes (a longer chain becomes several maps), and the
/// most terms it has (a node that squares its input doubles them): bound the expressions'
/// depth (they are recursive) and the work of deriving them.
const MAX_FUSED: usize = 64;
const MAX_TERMS: usize = 1024;

/// The domain of a rewritten root node (so that no ONNX op type is taken for it).
pub(crate) const DOMAIN: &str = "zkml.map";

/// The graph with every root rewritten, the roots' expressions by output name, and the
/// nodes fused into them.
pub(crate) struct Fused {
    pub graph: GraphProto,
    pub exprs: HashMap<String, Expr>,
    pub folded: Vec<FoldedNode>,
}

/// What an element-wise node computes from the tensor `source`.
struct Derived {
    source: String,
    expr: Expr,
    /// The nodes of its subgraph (indices), itself included.
    members: Vec<usize>,
}

/// Fuses the element-wise subgraphs of `g` (see the module doc).
pub(crate) fn fuse(
    g: &GraphProto,
    consts: &HashMap<String, Const>,
    dir: Option<&str>,
    outputs: &[String],
) -> Fused {
    // constants by name: a scalar is an operand, any other is no source of data
    let mut constants: HashMap<&str, Option<f64>> = consts
        .iter()
        .map(|(name, c)| (name.as_str(), scalar(c)))
        .collect();
    for n in g.node.iter().filter(|n| n.op_type == "Constant") {
        if let Some(out) = n.output.first() {
            let value = constant_node_value(n, dir).ok().as_ref().and_then(scalar);
            constants.insert(out, value);
        }
    }
    let mut derived: HashMap<&str, Derived> = HashMap::new();
    let mut by_node: Vec<Option<&str>> = vec![None; g.node.len()];
    for (i, node) in g.node.iter().enumerate() {
        let Some(out) = node.output.first() else {
            continue;
        };
        // a node past the cap starts a new expression of the tensors it reads
        let d = derive(node, i, &constants, Some(&derived))
            .filter(|d| d.members.len() <= MAX_FUSED && d.expr.size() <= MAX_TERMS)
            .or_else(|| derive(node, i, &constants, None));
        if let Some(d) = d {
            derived.insert(out, d);
            by_node[i] = Some(out);
        }
    }
    let mut readers: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, node) in g.node.iter().enumerate() {
        for input in &node.input {
            readers.entry(input).or_default().push(i);
        }
    }
    // a node whose every reader extends its expression (same source) is inside a subgraph
    let absorbed = |out: &str, source: &str| {
        !outputs.iter().any(|o| o == out)
            && readers.get(out).is_some_and(|rs| {
                rs.iter().all(|&r| {
                    by_node[r]
                        .and_then(|o| derived.get(o))
                        .is_some_and(|d| d.source == source)
                })
            })
    };
    let roots: Vec<usize> = (0..g.node.len())
        .filter(|&i| {
            by_node[i].is_some_and(|out| {
                let d = &derived[out];
                d.expr.is_nonlinear() && !absorbed(out, &d.source)
            })
        })
        .collect();
    let root_set: HashSet<usize> = roots.iter().copied().collect();
    // members read only by other dropped members or by roots (which will read the source)
    let mut dropped: HashSet<usize> = roots
        .iter()
        .flat_map(|&r| {
            derived[by_node[r].unwrap_or_default()]
                .members
                .iter()
                .copied()
        })
        .filter(|m| !root_set.contains(m))
        .collect();
    loop {
        let keep: Vec<usize> = dropped
            .iter()
            .copied()
            .filter(|&m| {
                g.node[m].output.iter().any(|o| {
                    outputs.contains(o)
                        || readers.get(o.as_str()).is_some_and(|rs| {
                            rs.iter()
                                .any(|r| !dropped.contains(r) && !root_set.contains(r))
                        })
                })
            })
            .collect();
        if keep.is_empty() {
            break;
        }
        for m in keep {
            dropped.remove(&m);
        }
    }
    let mut graph = g.clone();
    let mut exprs = HashMap::new();
    for &r in &roots {
        let out = by_node[r].unwrap_or_default();
        let d = &derived[out];
        let mut members = d.members.clone();
        members.sort_unstable();
        let ops: Vec<&str> = members
            .iter()
            .map(|&m| g.node[m].op_type.as_str())
            .collect();
        let node = &mut graph.node[r];
        node.input = vec![d.source.clone()];
        node.op_type = ops.join("+");
        node.domain = DOMAIN.to_string();
        exprs.insert(out.to_string(), d.expr.clone());
    }
    let mut folded = Vec::new();
    let mut order: Vec<usize> = dropped.into_iter().collect();
    order.sort_unstable();
    for &m in order.iter().rev() {
        let node = graph.node.remove(m);
        let root = roots
            .iter()
            .find(|&&r| derived[by_node[r].unwrap_or_default()].members.contains(&m))
            .map_or(String::new(), |&r| super::node_name(&g.node[r], r));
        folded.push(FoldedNode {
            name: super::node_name(&node, m),
            onnx_op: node.op_type,
            how: format!("fused into the element-wise function {root}"),
        });
    }
    folded.reverse();
    Fused {
        graph,
        exprs,
        folded,
    }
}

/// The value of a constant with one element.
fn scalar(c: &Const) -> Option<f64> {
    if c.dims.iter().product::<usize>() != 1
        || !matches!(
            c.tensor.datum_type(),
            DatumType::F16 | DatumType::F32 | DatumType::F64
        )
    {
        return None;
    }
    let t = c.tensor.cast_to::<f64>().ok()?;
    t.to_plain_array_view::<f64>().ok()?.iter().next().copied()
}

/// An operand of an element-wise node: a scalar constant or an expression in a data tensor.
enum Operand {
    Const(f64),
    Of(String, Expr, Vec<usize>),
}

/// What node `i` computes from one data tensor, if it is element-wise in one: in the tensors
/// its inputs derive from (`derived`), or in its inputs themselves (`None`).
fn derive(
    node: &NodeProto,
    i: usize,
    constants: &HashMap<&str, Option<f64>>,
    derived: Option<&HashMap<&str, Derived>>,
) -> Option<Derived> {
    if !(node.domain.is_empty() || node.domain == "ai.onnx") || node.output.len() != 1 {
        return None;
    }
    let operand = |name: &str| -> Option<Operand> {
        if let Some(&c) = constants.get(name) {
            return c.map(Operand::Const);
        }
        Some(match derived.and_then(|d| d.get(name)) {
            Some(d) => Operand::Of(d.source.clone(), d.expr.clone(), d.members.clone()),
            None => Operand::Of(name.to_string(), Expr::X, Vec::new()),
        })
    };
    let mut source: Option<String> = None;
    let mut members = vec![i];
    let mut args = Vec::new();
    for (k, name) in node.input.iter().enumerate() {
        if name.is_empty() {
            // an absent optional input (Clip's bounds)
            args.push(None);
            continue;
        }
        match operand(name)? {
            Operand::Const(v) => args.push(Some(Expr::Const(v))),
            Operand::Of(s, e, m) => {
                if source.as_ref().is_some_and(|t| *t != s) || (k > 0 && node.op_type == "Clip") {
                    return None;
                }
                source = Some(s);
                members.extend(m);
                args.push(Some(e));
            }
        }
    }
    let expr = expression(node, &args)?;
    members.sort_unstable();
    members.dedup();
    Some(Derived {
        source: source?,
        expr,
        members,
    })
}

/// `x` with each `X` replaced by `inner`.
fn compose(outer: &Expr, inner: &Expr) -> Expr {
    match outer {
        Expr::X => inner.clone(),
        Expr::Const(c) => Expr::Const(*c),
        Expr::Unary(f, e) => Expr::unary(*f, compose(e, inner)),
        Expr::Binary(op, a, b) => Expr::binary(*op, compose(a, inner), compose(b, inner)),
    }
}

/// The expression of an element-wise node from its operands' (`None`: absent input).
fn expression(node: &NodeProto, args: &[Option<Expr>]) -> Option<Expr> {
    let op = node.op_type.as_str();
    let alpha = |default: f32| f64::from(attr_float(node, "alpha", default));
    let x = args.first()?.clone()?;
    let of = |f: Expr| Some(compose(&f, &x));
    if let Some(f) = Func::ALL.into_iter().find(|f| f.name() == op) {
        return (args.len() == 1).then(|| Expr::unary(f, x.clone()));
    }
    let binary = |b: Bin| match args {
        [Some(a), Some(c)] => Some(Expr::binary(b, a.clone(), c.clone())),
        _ => None,
    };
    match op {
        "Add" => binary(Bin::Add),
        "Sub" => binary(Bin::Sub),
        "Mul" => binary(Bin::Mul),
        "Div" => binary(Bin::Div),
        "Pow" => binary(Bin::Pow),
        "Max" => binary(Bin::Max),
        "Min" => binary(Bin::Min),
        "LeakyRelu" => of(Expr::leaky_relu(alpha(0.01))),
        "PRelu" => match args.get(1)? {
            Some(Expr::Const(slope)) => of(Expr::leaky_relu(*slope)),
            _ => None,
        },
        "Elu" => of(Expr::elu(alpha(1.0))),
        "Selu" => {
            let gamma = f64::from(attr_float(node, "gamma", 1.050_701));
            let elu = Expr::elu(alpha(1.673_263_2));
            of(Expr::binary(Bin::Mul, Expr::Const(gamma), elu))
        }
        "Celu" => {
            let a = alpha(1.0);
            let exp = Expr::unary(Func::Exp, Expr::binary(Bin::Div, Expr::X, Expr::Const(a)));
            let neg = Expr::binary(
                Bin::Mul,
                Expr::Const(a),
                Expr::binary(Bin::Sub, exp, Expr::Const(1.0)),
            );
            of(Expr::binary(
                Bin::Add,
                Expr::binary(Bin::Max, Expr::X, Expr::Const(0.0)),
                Expr::binary(Bin::Min, neg, Expr::Const(0.0)),
            ))
        }
        "HardSigmoid" => of(Expr::hard_sigmoid(
            alpha(0.2),
            f64::from(attr_float(node, "beta", 0.5)),
        )),
        "HardSwish" => of(Expr::binary(
            Bin::Mul,
            Expr::X,
            Expr::hard_sigmoid(1.0 / 6.0, 0.5),
        )),
        "Mish" => of(Expr::binary(
            Bin::Mul,
            Expr::X,
            Expr::unary(Func::Tanh, Expr::unary(Func::Softplus, Expr::X)),
        )),
        "Gelu" => match attr_string(node, "approximate", "none").as_str() {
            "none" => of(Expr::gelu(false)),
            "tanh" => of(Expr::gelu(true)),
            _ => None,
        },
        "Clip" => {
            let bound = |k: usize, attr: &str| match args.get(k) {
                Some(Some(Expr::Const(v))) => Some(*v),
                Some(_) => None,
                None => node
                    .attribute
                    .iter()
                    .find(|a| a.name == attr)
                    .map(|a| f64::from(a.f)),
            };
            of(Expr::clip(bound(1, "min"), bound(2, "max")))
        }
        _ => None,
    }
}

/// The builder of a rewritten root: the map of its expression.
pub(crate) fn build(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let expr = node.output.first().and_then(|o| ctx.maps.get(o));
    match expr {
        Some(e) => Ok(Built::Op {
            op: Op::Map(e.clone()),
            out_shape: ctx.shape.clone(),
        }),
        None => unsupported("an element-wise function without its expression"),
    }
}
