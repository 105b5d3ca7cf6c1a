//! Per-channel affine maps `y = a_c x + s_c` by constants: Add, Sub, Mul and Div with one
//! constant operand (in-model normalisation, tf2onnx's BatchNormalization as Mul + Add) and
//! BatchNormalization itself.
//!
//! Each is folded into a neighbouring linear op where that is exact, else proven as a diagonal
//! linear op (a 1x1 Conv `C -> C`, or a diagonal Dense on a flat input):
//! - backward, at build time, into the Conv or Dense that produces the data it maps, when the
//!   map is the only reader of that output (rows scaled, bias `b a + s`);
//! - forward, after the walk ([`fold_forward`]), into the Dense that reads it (through
//!   Reshapes) or the Conv that reads it when the Conv has no padding or the shift is zero
//!   (padding reads 0 after the map, which a folded shift would not), when that reader (and
//!   each Reshape between) is the only reader.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, unsupported};
use super::proto::Const;
use crate::cnn::Window;
use crate::graph::{Conv, Dense, FoldedNode, Node, Op};

/// The largest diagonal layer an affine map may become (weights), before it is folded: a map
/// on a flat input of `n` values is an `n x n` dense layer.
const MAX_DIAGONAL: usize = 1 << 24;

/// A diagonal op made from an affine map, not folded yet: its node index and the map.
pub(crate) struct Pending {
    pub node: usize,
    pub scale: Vec<f64>,
    pub shift: Vec<f64>,
}

/// `Add`, `Sub`, `Mul`, `Div` of the data and a constant that is a scalar or per channel.
pub(crate) fn arithmetic(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let Some(data_first) = node.input.first().map(|n| *n == ctx.current) else {
        return unsupported("no inputs");
    };
    let c = super::ops::const_input(node, ctx, usize::from(data_first))?;
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let c = per_channel(c, &shape).map_err(Refusal::Unsupported)?;
    let n = c.len();
    let (scale, shift) = match (node.op_type.as_str(), data_first) {
        ("Add", _) => (vec![1.0; n], c),
        ("Sub", true) => (vec![1.0; n], c.iter().map(|v| -v).collect()),
        ("Sub", false) => (vec![-1.0; n], c),
        ("Mul", _) => (c, vec![0.0; n]),
        ("Div", true) => {
            if c.contains(&0.0) {
                return unsupported("division by a constant that is zero");
            }
            (c.iter().map(|v| 1.0 / v).collect(), vec![0.0; n])
        }
        ("Div", false) => return unsupported("division of a constant by the data"),
        (other, _) => return unsupported(format!("{other} is not an affine map")),
    };
    apply(ctx, &node.op_type, &shape, scale, shift)
}

/// A constant broadcast against `[N, ...shape]` as one value per channel (axis 1), or why it
/// is not one.
fn per_channel(c: &Const, shape: &[usize]) -> Result<Vec<f64>, String> {
    let channels = shape.first().copied().unwrap_or(1);
    let rank = shape.len() + 1;
    if c.dims.len() > rank {
        return Err(format!(
            "a constant of shape {:?} on data of rank {rank}",
            c.dims
        ));
    }
    let mut dims = vec![1; rank - c.dims.len()];
    dims.extend(&c.dims);
    let values = c.floats()?;
    let per_channel_only = dims[0] == 1 && dims[2..].iter().all(|&d| d == 1);
    match dims[1] {
        1 if per_channel_only => Ok(vec![f64::from(values[0]); channels]),
        d if per_channel_only && d == channels => Ok(values.iter().map(|&v| v.into()).collect()),
        _ => Err(format!(
            "a constant of shape {:?} on per-sample shape {shape:?}: only a scalar or one value \
             per channel is supported",
            c.dims
        )),
    }
}

/// The affine map `y = scale_c x + shift_c` on the data tensor at per-sample `shape`: folded
/// into the linear op that produces it when nothing else reads it ([`Ctx::fold_target`]), or
/// a diagonal op recorded for [`fold_forward`].
pub(crate) fn apply(
    ctx: &mut Ctx,
    op_type: &str,
    shape: &[usize],
    scale: Vec<f64>,
    shift: Vec<f64>,
) -> Result<Built, Refusal> {
    if scale.iter().chain(&shift).any(|v| !v.is_finite()) {
        return unsupported("the affine map's constants are not finite");
    }
    let channels = scale.len();
    let at = ctx.fold_target();
    if let Some(last) = at.and_then(|k| ctx.nodes.get_mut(k)) {
        let folded = match &mut last.op {
            Op::Conv(conv) if conv.c_out() == channels => {
                let per = conv.weight.len() / channels;
                fold_rows(&mut conv.weight, &mut conv.bias, per, &scale, &shift);
                true
            }
            Op::Dense(d) if d.n_out == channels && shape.len() == 1 => {
                fold_rows(&mut d.weight, &mut d.bias, d.n_in, &scale, &shift);
                true
            }
            _ => false,
        };
        if folded {
            last.onnx_op = format!("{}+{op_type}", last.onnx_op);
            // a diagonal op not folded yet composes with this map
            if let Some(p) = ctx.affine.iter_mut().find(|p| Some(p.node) == at) {
                for c in 0..channels {
                    p.shift[c] = scale[c] * p.shift[c] + shift[c];
                    p.scale[c] *= scale[c];
                }
            }
            return Ok(Built::Fused);
        }
    }
    let op = diagonal(shape, &scale, &shift)?;
    ctx.affine.push(Pending {
        node: ctx.nodes.len(),
        scale,
        shift,
    });
    Ok(Built::Op {
        op,
        out_shape: Some(shape.to_vec()),
    })
}

/// The diagonal linear op of an affine map on `shape`.
fn diagonal(shape: &[usize], scale: &[f64], shift: &[f64]) -> Result<Op, Refusal> {
    let n = scale.len();
    if n.checked_mul(n).is_none_or(|cells| cells > MAX_DIAGONAL) {
        return unsupported(format!(
            "an affine map over {n} channels (values of a flat input) would be a {n} x {n} \
             diagonal layer; at most {MAX_DIAGONAL} weights are allowed"
        ));
    }
    let weight: Vec<f32> = (0..n * n)
        .map(|k| {
            if k / n == k % n {
                scale[k / n] as f32
            } else {
                0.0
            }
        })
        .collect();
    let bias = Some(shift.iter().map(|&v| v as f32).collect());
    let in_shape = match *shape {
        [c] => {
            return Ok(Op::Dense(Dense {
                n_in: c,
                n_out: c,
                weight,
                bias,
            }));
        }
        [c, h] => [c, h, 1],
        [c, h, w] => [c, h, w],
        _ => return unsupported(format!("per-sample input shape {shape:?} (rank 1 to 3)")),
    };
    Ok(Op::Conv(Conv {
        in_shape,
        out_shape: in_shape,
        window: Window {
            kernel: [1, 1],
            stride: [1, 1],
            pads: [0; 4],
        },
        weight,
        bias,
        spread: None,
    }))
}

/// `w'[o] = w[o] a_o`, `b'_o = b_o a_o + s_o` for rows of `per` weights.
fn fold_rows(
    weight: &mut [f32],
    bias: &mut Option<Vec<f32>>,
    per: usize,
    scale: &[f64],
    shift: &[f64],
) {
    for (o, row) in weight.chunks_mut(per).enumerate() {
        row.iter_mut()
            .for_each(|w| *w = (f64::from(*w) * scale[o]) as f32);
    }
    let b = bias.get_or_insert_with(|| vec![0.0; scale.len()]);
    for (o, v) in b.iter_mut().enumerate() {
        *v = (f64::from(*v) * scale[o] + shift[o]) as f32;
    }
}

/// After the walk: folds each diagonal op still pending into the linear op that reads it,
/// where exact (see the module docs), recording it in `folded`. Node indices of `pending`
/// refer to `nodes` as the walk left them.
pub(crate) fn fold_forward(
    nodes: &mut Vec<Node>,
    folded: &mut Vec<FoldedNode>,
    pending: Vec<Pending>,
) {
    // from the last, so that removing a node leaves the earlier indices valid
    for p in pending.into_iter().rev() {
        let Some((r, through_reshape)) = sole_reader(nodes, p.node) else {
            continue;
        };
        let zero_shift = p.shift.iter().all(|&s| s == 0.0);
        let done = match &mut nodes[r].op {
            Op::Dense(d) if d.n_in % p.scale.len() == 0 => {
                let per = d.n_in / p.scale.len();
                let (n_in, n_out) = (d.n_in, d.n_out);
                let bias = d.bias.get_or_insert_with(|| vec![0.0; n_out]);
                for (o, b) in bias.iter_mut().enumerate() {
                    let row = &mut d.weight[o * n_in..(o + 1) * n_in];
                    let mut extra = 0.0;
                    for (j, w) in row.iter_mut().enumerate() {
                        extra += f64::from(*w) * p.shift[j / per];
                        *w = (f64::from(*w) * p.scale[j / per]) as f32;
                    }
                    *b = (f64::from(*b) + extra) as f32;
                }
                true
            }
            Op::Conv(c)
                if !through_reshape
                    && c.c_in() == p.scale.len()
                    && (zero_shift || (c.window.pads == [0; 4] && c.spread.is_none())) =>
            {
                let per = c.window.kernel[0] * c.window.kernel[1];
                let (c_in, c_out) = (c.c_in(), c.c_out());
                let bias = c.bias.get_or_insert_with(|| vec![0.0; c_out]);
                for (o, b) in bias.iter_mut().enumerate() {
                    let filter = &mut c.weight[o * c_in * per..(o + 1) * c_in * per];
                    let mut extra = 0.0;
                    for (j, w) in filter.iter_mut().enumerate() {
                        extra += f64::from(*w) * p.shift[j / per];
                        *w = (f64::from(*w) * p.scale[j / per]) as f32;
                    }
                    *b = (f64::from(*b) + extra) as f32;
                }
                true
            }
            _ => false,
        };
        if done {
            let gone = remove_node(nodes, p.node);
            // the map keeps the shape: the reader's input shape is unchanged
            let into = &mut nodes[r - 1];
            into.onnx_op = format!("{}+{}", gone.onnx_op, into.onnx_op);
            folded.push(FoldedNode {
                name: gone.name,
                onnx_op: gone.onnx_op,
                how: format!("folded into {}", nodes[r - 1].name),
            });
        }
    }
}

/// The Dense or Conv (or other non-reshaping node) that reads node `k`'s output, and whether
/// Reshape/Identity nodes lie between: `None` unless each tensor on the way, from node `k`'s
/// output on, has exactly one reader.
pub(super) fn sole_reader(nodes: &[Node], k: usize) -> Option<(usize, bool)> {
    let mut tensor = k + 1;
    let mut crossed = false;
    loop {
        let mut readers = nodes
            .iter()
            .enumerate()
            .flat_map(|(j, n)| n.reads(j).into_iter().map(move |t| (j, t)))
            .filter(|&(_, t)| t == tensor)
            .map(|(j, _)| j);
        let (Some(r), None) = (readers.next(), readers.next()) else {
            return None;
        };
        if !matches!(nodes[r].op, Op::Reshape | Op::Identity) {
            return Some((r, crossed));
        }
        tensor = r + 1;
        crossed = true;
    }
}

/// Remove node `k`, a map of one tensor folded into its reader: whatever read its output reads
/// its input instead, and the tensors after it are renumbered.
pub(super) fn remove_node(nodes: &mut Vec<Node>, k: usize) -> Node {
    let source = nodes[k].reads(k).first().copied().unwrap_or(k);
    for (j, n) in nodes.iter_mut().enumerate().skip(k + 1) {
        n.inputs = n
            .reads(j)
            .into_iter()
            .map(|t| match t {
                t if t == k + 1 => source,
                t if t > k + 1 => t - 1,
                t => t,
            })
            .collect();
    }
    nodes.remove(k)
}
