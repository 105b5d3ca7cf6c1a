//! One short builder per supported ONNX op (the registry), plus the shared checks.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::proto::{Const, attr_float, attr_int};
use crate::error::ModelError;
use crate::graph::{BatchDim, Dense, Op};

/// What a builder made of a node.
#[expect(
    clippy::large_enum_variant,
    reason = "one per ONNX node, moved once into the graph"
)]
pub(crate) enum Built {
    /// A new node of the graph, reading the node's data input(s).
    Op {
        op: Op,
        out_shape: Option<Vec<usize>>,
    },
    /// The node was folded into the one that produces its input (a bias Add, a
    /// BatchNormalization, a Cast): its output is that input under another name.
    Fused,
}

/// Why a builder did not build.
pub(crate) enum Refusal {
    /// Becomes a placeholder with this reason.
    Unsupported(String),
    /// The model is inconsistent (e.g. shapes disagree): import fails.
    Error(ModelError),
}

pub(crate) fn unsupported<T>(reason: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal::Unsupported(reason.into()))
}

pub(crate) fn shape_error<T>(node: &NodeProto, detail: String) -> Result<T, Refusal> {
    Err(Refusal::Error(ModelError::Shape {
        node: node.name.clone(),
        detail,
    }))
}

/// A builder: the node and the walk's state (its data input in `ctx.current`/`ctx.shape`).
pub(crate) type Builder = fn(&NodeProto, &mut Ctx) -> Result<Built, Refusal>;

/// The supported ONNX ops (default domain), one builder each.
const REGISTRY: &[(&str, Builder)] = &[
    ("Gemm", gemm),
    ("MatMul", matmul),
    ("Add", super::affine::arithmetic),
    ("Sub", super::affine::arithmetic),
    ("Mul", super::affine::arithmetic),
    ("Div", super::affine::arithmetic),
    ("Relu", relu),
    ("PRelu", prelu),
    ("Softmax", softmax),
    ("LogSoftmax", softmax),
    ("ArgMax", argmax),
    ("Flatten", flatten),
    ("Reshape", reshape),
    ("Identity", identity),
    ("Dropout", identity),
    ("Cast", cast),
    ("Conv", super::conv::conv),
    ("ConvTranspose", super::conv::conv_transpose),
    ("MaxPool", super::conv::max_pool),
    ("BatchNormalization", super::conv::batch_norm),
    ("AveragePool", super::pool::average_pool),
    ("GlobalAveragePool", super::pool::global_average_pool),
    ("ReduceMean", super::pool::reduce_mean),
    ("Transpose", super::transpose::transpose),
    ("DepthToSpace", super::transpose::depth_to_space),
    ("Resize", super::resize::resize),
    ("Upsample", super::resize::resize),
    ("Slice", super::slice::slice),
    ("Gather", super::slice::gather),
    ("SpaceToDepth", super::transpose::space_to_depth),
    ("Squeeze", super::squeeze::squeeze),
    ("Unsqueeze", super::squeeze::unsqueeze),
    ("Pad", super::pad::pad),
];

/// The builder for an op type, if it is supported.
pub(crate) fn builder(domain: &str, op_type: &str) -> Option<Builder> {
    if !(domain.is_empty() || domain == "ai.onnx") {
        return None;
    }
    REGISTRY
        .iter()
        .find(|(name, _)| *name == op_type)
        .map(|(_, b)| *b)
}

/// Ops known to keep their input's shape (only used to keep shapes in summaries past a gap).
pub(crate) fn is_elementwise(op_type: &str) -> bool {
    const ELEMENTWISE: &[&str] = &[
        "Sigmoid",
        "Tanh",
        "Softmax",
        "LogSoftmax",
        "Clip",
        "LeakyRelu",
        "Elu",
        "Selu",
        "Gelu",
        "HardSigmoid",
        "HardSwish",
        "Exp",
        "Log",
        "Abs",
        "Neg",
        "Sqrt",
        "Erf",
        "Softplus",
        "Relu",
        "Identity",
        "Dropout",
        "Cast",
        "BatchNormalization",
        "Add",
        "Mul",
        "Sub",
        "Div",
    ];
    ELEMENTWISE.contains(&op_type)
}

/// Input `idx` of the node, which must be a constant.
pub(crate) fn const_input<'a>(
    node: &NodeProto,
    ctx: &'a Ctx,
    idx: usize,
) -> Result<&'a Const, Refusal> {
    match node.input.get(idx).filter(|n| !n.is_empty()) {
        None => unsupported(format!("input {idx} is missing")),
        Some(name) => match ctx.consts.get(name) {
            Some(c) => Ok(c),
            None if ctx.batch_dependent.contains(name) => unsupported(format!(
                "input {idx} ({name}) depends on the batch size; only a Reshape target with the \
                 batch itself first (as in x.view(x.size(0), -1)) is supported"
            )),
            None => {
                let why = match &ctx.fold_failure {
                    None => String::new(),
                    Some(f) => format!(" (constant folding with tract failed: {f})"),
                };
                unsupported(format!(
                    "input {idx} ({name}) is computed from the data at run time; it must be \
                     known at import (an initializer, a Constant, or arithmetic on constants \
                     and shapes){why}"
                ))
            }
        },
    }
}

/// Checks that the data input's per-sample shape is a flat vector of `n_in` values.
fn check_flat_input(node: &NodeProto, ctx: &Ctx, n_in: usize) -> Result<(), Refusal> {
    match ctx.shape.as_deref() {
        None => Ok(()),
        Some([n]) if *n == n_in => Ok(()),
        Some([n]) => shape_error(
            node,
            format!("weights expect {n_in} inputs, the input has {n}"),
        ),
        Some(s) => shape_error(node, format!("input per-sample shape {s:?} is not flat")),
    }
}

/// A bias of `n_out` values given as `[n_out]` or `[1, n_out]`.
fn bias_values(c: &Const, n_out: usize) -> Result<Vec<f32>, Refusal> {
    if c.dims != [n_out] && c.dims != [1, n_out] {
        return unsupported(format!(
            "bias shape {:?} (expected [{n_out}] or [1, {n_out}])",
            c.dims
        ));
    }
    c.floats().map_err(Refusal::Unsupported)
}

/// `[rows][cols]` row-major into `[cols][rows]` row-major.
fn transpose(w: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    (0..cols)
        .flat_map(|c| (0..rows).map(move |r| w[r * cols + c]))
        .collect()
}

/// A 2-D float constant: (dims, values).
fn matrix(node: &NodeProto, c: &Const) -> Result<(usize, usize, Vec<f32>), Refusal> {
    let [d0, d1] = c.dims[..] else {
        return shape_error(node, format!("weight has shape {:?}, expected 2-D", c.dims));
    };
    Ok((d0, d1, c.floats().map_err(Refusal::Unsupported)?))
}

fn gemm(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let (alpha, beta) = (
        attr_float(node, "alpha", 1.0),
        attr_float(node, "beta", 1.0),
    );
    let (trans_a, trans_b) = (attr_int(node, "transA", 0), attr_int(node, "transB", 0));
    if trans_a != 0 {
        return unsupported(format!("transA = {trans_a} (only 0 is supported)"));
    }
    if alpha != 1.0 {
        return unsupported(format!("alpha = {alpha} (only 1 is supported)"));
    }
    let (d0, d1, w) = matrix(node, const_input(node, ctx, 1)?)?;
    let (n_out, n_in, weight) = if trans_b != 0 {
        (d0, d1, w)
    } else {
        (d1, d0, transpose(&w, d0, d1))
    };
    let has_c = node.input.get(2).is_some_and(|n| !n.is_empty());
    let bias = if has_c {
        if beta != 1.0 {
            return unsupported(format!("beta = {beta} (only 1 is supported)"));
        }
        Some(bias_values(const_input(node, ctx, 2)?, n_out)?)
    } else {
        None
    };
    check_flat_input(node, ctx, n_in)?;
    let op = Op::Dense(Dense {
        n_in,
        n_out,
        weight,
        bias,
    });
    Ok(Built::Op {
        op,
        out_shape: Some(vec![n_out]),
    })
}

fn matmul(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.input.first() != Some(&ctx.current) {
        return unsupported("the data must be the first input (x @ W)");
    }
    let (n_in, n_out, w) = matrix(node, const_input(node, ctx, 1)?)?;
    if let Some(s) = ctx.shape.as_deref().filter(|s| s.len() != 1) {
        return unsupported(format!("batched MatMul on per-sample shape {s:?}"));
    }
    check_flat_input(node, ctx, n_in)?;
    let op = Op::Dense(Dense {
        n_in,
        n_out,
        weight: transpose(&w, n_in, n_out),
        bias: None,
    });
    Ok(Built::Op {
        op,
        out_shape: Some(vec![n_out]),
    })
}

fn relu(_node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    Ok(Built::Op {
        op: Op::Relu,
        out_shape: ctx.shape.clone(),
    })
}

/// PRelu whose slope is not one scalar (that one is an element-wise function, fused before
/// the walk): one slope per channel, the first per-sample axis. The slope broadcasts against
/// the data as in numpy (`[C]` after a dense layer, `[C, 1, 1]` after a conv); slopes that
/// vary along another axis are refused.
fn prelu(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.input.first() != Some(&ctx.current) {
        return unsupported("the data must be the first input (the slope the second)");
    }
    let slope = const_input(node, ctx, 1)?;
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("PRelu of a tensor of unknown shape");
    };
    let values = slope.floats().map_err(Refusal::Unsupported)?;
    // the slope's axes, right-aligned with the data's `[N, shape...]`
    let dims = &slope.dims;
    let full: Vec<usize> = std::iter::once(1).chain(shape.iter().copied()).collect();
    if dims.len() > full.len()
        || dims
            .iter()
            .rev()
            .zip(full.iter().rev())
            .any(|(&d, &n)| d != 1 && d != n)
        || shape.contains(&0)
    {
        return shape_error(
            node,
            format!("slope shape {dims:?} does not broadcast to per-sample shape {shape:?}"),
        );
    }
    // the slope at each per-sample position, then one per channel
    let at = |j: usize| {
        let (mut rest, mut index, mut stride) = (j, 0, 1);
        for (k, &n) in shape.iter().enumerate().rev() {
            let i = rest % n;
            rest /= n;
            // per-sample axis k is slope axis k + dims.len() - shape.len() (if any)
            if let Some(a) = (k + dims.len()).checked_sub(shape.len()) {
                if dims[a] != 1 {
                    index += i * stride;
                }
                stride *= dims[a];
            }
        }
        f64::from(values.get(index).copied().unwrap_or(0.0))
    };
    let len: usize = shape.iter().product();
    let channels = shape.first().copied().unwrap_or(1).max(1);
    let per = len / channels;
    let slopes: Vec<f64> = (0..channels).map(|c| at(c * per)).collect();
    if (0..len).any(|j| at(j) != slopes[j / per]) {
        return unsupported(format!(
            "slopes of shape {dims:?} that vary along an axis other than the channel (the \
             first per-sample axis of {shape:?}); only one slope per channel is supported"
        ));
    }
    Ok(Built::Op {
        op: Op::PRelu(slopes),
        out_shape: Some(shape),
    })
}

/// Softmax or LogSoftmax over the last axis: of each row of `n <= MAX_ROW` values.
fn softmax(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let n = last_axis(node, &shape, -1, "softmax")?;
    if !(1..=crate::softmax::MAX_ROW).contains(&n) {
        return unsupported(format!(
            "softmax of rows of {n} values (at most {})",
            crate::softmax::MAX_ROW
        ));
    }
    Ok(Built::Op {
        op: Op::Softmax {
            log: node.op_type == "LogSoftmax",
            n,
        },
        out_shape: Some(shape),
    })
}

/// The length of the last axis of per-sample `shape`, if the node's `axis` (default
/// `default`) is that axis and the rows are few enough.
fn last_axis(
    node: &NodeProto,
    shape: &[usize],
    default: i64,
    what: &str,
) -> Result<usize, Refusal> {
    let rank = shape.len() as i64 + 1;
    let axis = attr_int(node, "axis", default);
    if axis != -1 && axis != rank - 1 {
        return unsupported(format!(
            "{what} over axis {axis} of a rank-{rank} tensor (only the last axis)"
        ));
    }
    let outer = &shape[..shape.len().saturating_sub(1)];
    if !crate::softmax::rows_ok(outer) && crate::softmax::rows(outer) != 1 {
        return unsupported(format!(
            "{what} of per-sample shape {shape:?}: more than 2^20 rows"
        ));
    }
    Ok(shape.last().copied().unwrap_or(1))
}

/// ArgMax over the last axis: one index per row.
fn argmax(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let n = last_axis(node, &shape, 0, "argmax")?;
    let mut out_shape = shape.clone();
    if attr_int(node, "keepdims", 1) == 0 {
        out_shape.pop();
    } else if let Some(last) = out_shape.last_mut() {
        *last = 1;
    }
    Ok(Built::Op {
        op: Op::ArgMax {
            last: attr_int(node, "select_last_index", 0) == 1,
            n,
        },
        out_shape: Some(out_shape),
    })
}

fn identity(_node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    Ok(Built::Op {
        op: Op::Identity,
        out_shape: ctx.shape.clone(),
    })
}

/// A Cast between float types (a Keras `MatMul -> Cast -> Add`, a float64 model's cast to
/// float32): the quantized model computes in integers, so it is a no-op, folded into the node
/// that produces its input (an Identity when it reads the graph input).
fn cast(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    use tract_onnx::pb::tensor_proto::DataType;
    let to = attr_int(node, "to", 0);
    let floats = [DataType::Float, DataType::Double, DataType::Float16].map(|d| d as i64);
    let ints = [DataType::Int64, DataType::Int32].map(|d| d as i64);
    // an index (an ArgMax's, through reshapes) is an integer: a cast to an integer type keeps it
    if !(floats.contains(&to) || ints.contains(&to) && is_index(ctx)) {
        let name = i32::try_from(to)
            .ok()
            .and_then(|t| DataType::try_from(t).ok())
            .map_or("unknown", |d| d.as_str_name());
        return unsupported(format!(
            "cast of the data to {name} (only casts between FLOAT, DOUBLE and FLOAT16 are no-ops)"
        ));
    }
    match ctx.producer().and_then(|k| ctx.nodes.get_mut(k)) {
        Some(last) => {
            last.onnx_op.push_str("+Cast");
            Ok(Built::Fused)
        }
        None => identity(node, ctx),
    }
}

/// Whether the data the node being built reads is an ArgMax's index (through reshapes).
fn is_index(ctx: &Ctx) -> bool {
    let mut k = ctx.producer();
    while let Some(node) = k.and_then(|k| ctx.nodes.get(k)) {
        match node.op {
            Op::ArgMax { .. } => return true,
            Op::Reshape | Op::Identity => k = node.inputs.first().and_then(|t| t.checked_sub(1)),
            _ => return false,
        }
    }
    false
}

/// scikit-learn's `ArrayFeatureExtractor(classes, index)` (domain `ai.onnx.ml`): the class of an
/// ArgMax's index. Classes `0, 1, .., n - 1` make it the index itself.
pub(crate) fn array_feature_extractor(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.input.first() == Some(&ctx.current) {
        return unsupported("a lookup in data (only of constant classes by an index)");
    }
    let classes = const_input(node, ctx, 0)?;
    let Ok(values) = classes.ints() else {
        return unsupported("classes that are not integers (e.g. strings)");
    };
    if !is_index(ctx) {
        return unsupported("a lookup by data that is not an ArgMax's index");
    }
    if values.iter().enumerate().any(|(i, &c)| c != i as i64) {
        return unsupported(format!("classes {values:?} other than 0, 1, .., n - 1"));
    }
    if let Some(last) = ctx.producer().and_then(|k| ctx.nodes.get_mut(k)) {
        last.onnx_op.push_str("+ArrayFeatureExtractor");
    }
    Ok(Built::Fused)
}

fn flatten(_node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let mut axis = attr_int(_node, "axis", 1);
    if axis < 0 {
        let Some(s) = ctx.shape.as_ref() else {
            return unsupported(format!("axis = {axis} on an input of unknown rank"));
        };
        axis += s.len() as i64 + 1;
    }
    if axis != 1 {
        return unsupported(format!(
            "axis = {axis}: only axis 1 keeps the batch dimension"
        ));
    }
    let out_shape = ctx.shape.as_ref().and_then(|s| numel(s)).map(|n| vec![n]);
    Ok(Built::Op {
        op: Op::Reshape,
        out_shape,
    })
}

fn reshape(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let dims = const_input(node, ctx, 1)?
        .dims(ctx.batch_symbol.as_ref())
        .map_err(|e| Refusal::Unsupported(format!("target shape: {e}")))?;
    let allow_zero = attr_int(node, "allowzero", 0) != 0;
    if allow_zero && dims.contains(&Some(0)) {
        return unsupported("allowzero = 1 with a zero dimension");
    }
    // the batch itself (a folded `x.size(0)`) in front keeps the batch, like a 0 does
    let target = dims
        .iter()
        .enumerate()
        .map(|(j, d)| match d {
            Some(v) => Ok(*v),
            None if j == 0 => Ok(0),
            None => unsupported(format!(
                "the target shape has the batch size at position {j}; only position 0 keeps it"
            )),
        })
        .collect::<Result<Vec<i64>, Refusal>>()?;
    let Some(in_shape) = ctx.shape.clone() else {
        // an explicit target (no 0 or -1; not empty; a product that fits) gives the shape
        let explicit = target.get(1..).filter(|rest| {
            rest.iter().all(|&d| d > 0)
                && rest
                    .iter()
                    .try_fold(1i64, |a, &d| a.checked_mul(d))
                    .is_some()
        });
        let out_shape = explicit.map(|rest| rest.iter().map(|&d| d as usize).collect());
        return Ok(Built::Op {
            op: Op::Reshape,
            out_shape,
        });
    };
    let out_shape = reshape_target(node, ctx.batch, &in_shape, &target)?;
    Ok(Built::Op {
        op: Op::Reshape,
        out_shape: Some(out_shape),
    })
}

/// Number of elements of a shape read from the file; `None` when the product overflows.
fn numel(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
}

/// Per-sample output shape of `Reshape(x, target)` for a per-sample input shape `in_shape`.
fn reshape_target(
    node: &NodeProto,
    batch: BatchDim,
    in_shape: &[usize],
    target: &[i64],
) -> Result<Vec<usize>, Refusal> {
    let Some((&first, rest)) = target.split_first() else {
        return unsupported("reshape to a scalar");
    };
    // a dynamic batch runs one sample at a time (batch 1), where a leading 1 keeps it; a model
    // whose target is [1, ...] does not run at any other batch size
    let keeps_batch = match (first, batch) {
        (0 | -1, _) | (1, BatchDim::Dynamic) => true,
        (n, BatchDim::Fixed(b)) => n == b as i64,
        (_, BatchDim::Dynamic) => false,
    };
    if !keeps_batch {
        return unsupported(format!(
            "target {target:?} changes the batch dimension {batch:?}"
        ));
    }
    let Some(total) = numel(in_shape) else {
        return shape_error(node, format!("input shape {in_shape:?} is too large"));
    };
    let mut out = Vec::with_capacity(rest.len());
    let mut infer = None;
    for (j, &d) in rest.iter().enumerate() {
        out.push(match d {
            0 => match in_shape.get(j) {
                Some(&v) => v,
                None => {
                    return shape_error(node, format!("target {target:?} copies a missing dim"));
                }
            },
            -1 if first != -1 && infer.is_none() => {
                infer = Some(j);
                1
            }
            d if d > 0 => d as usize,
            _ => return shape_error(node, format!("invalid reshape target {target:?}")),
        });
    }
    // dims come from the file: a product that overflows is refused, not wrapped
    let Some(known) = numel(&out) else {
        return shape_error(node, format!("reshape target {target:?} is too large"));
    };
    if let Some(j) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return shape_error(node, format!("cannot reshape {in_shape:?} to {target:?}"));
        }
        out[j] = total / known;
    }
    if numel(&out) != Some(total) {
        if first == -1 {
            return unsupported(format!("target {target:?} changes the batch dimension"));
        }
        return shape_error(node, format!("cannot reshape {in_shape:?} to {target:?}"));
    }
    Ok(out)
}
