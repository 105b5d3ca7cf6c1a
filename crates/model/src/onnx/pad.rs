//! Pad with a constant zero on the spatial axes (PyTorch's `nn.ZeroPad2d`, `F.pad`). It is not
//! an op of the graph: it is folded into the padding of the window op that alone reads it,
//! right after it, where that is exact:
//! - a Conv: its padding reads 0 too;
//! - an AveragePool: its divisor is the window area whatever the padding (`count_include_pad
//!   = 0` with padding of its own is refused by the pool), and the Pad's zeros are inputs that
//!   ONNX counts;
//! - a MaxPool, only when the Pad reads a Relu's output: its zeros then never exceed a window's
//!   max, as MaxPool's own padding never wins.
//!
//! The builder makes a placeholder with the padded shape and records the pads; the window op
//! built next removes it ([`fold`]). A Pad nothing folds stays a gap whose reason says why.

use tract_onnx::pb::NodeProto;

use super::ops::{Built, Refusal, const_input, unsupported};
use super::proto::{attr_float, attr_ints, attr_string};
use super::{Ctx, Tensor};
use crate::cnn::Window;
use crate::error::UnsupportedOp;
use crate::graph::{FoldedNode, Op};

/// A Pad waiting for the window op that reads it.
pub(crate) struct Pending {
    /// `[top, left, bottom, right]` (`[0, begin, 0, end]` for a 1-D tensor).
    pub pads: [usize; 4],
    /// The data tensor the Pad reads.
    pub source: (String, Tensor),
}

/// Why a zero Pad is a gap when no window op takes it.
const GAP: &str = "a constant zero Pad is folded only into the padding of the Conv, AveragePool \
                   or MaxPool (of a Relu's output) that alone reads it, right after it; a Pad \
                   of activations on its own is not proven";

pub(crate) fn pad(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let mode = attr_string(node, "mode", "constant");
    if mode != "constant" {
        return unsupported(format!("mode = {mode:?} (only \"constant\" is supported)"));
    }
    let value = constant_value(node, ctx)?;
    if value != 0.0 {
        return unsupported(format!(
            "constant value {value} (only a zero pad is supported: a Conv's or pool's padding \
             reads 0)"
        ));
    }
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let (begin, end) = per_axis(node, ctx, shape.len() + 1)?;
    if begin.iter().chain(&end).any(|&p| p < 0) {
        return unsupported(format!(
            "negative pads (a crop): begin {begin:?}, end {end:?}"
        ));
    }
    if begin[..2].iter().chain(&end[..2]).any(|&p| p != 0) {
        return unsupported(format!(
            "pads on the batch or channel axis (begin {begin:?}, end {end:?}): only the \
             spatial axes of an NCL or NCHW tensor may be padded"
        ));
    }
    let pads = match (shape.len(), &begin[2..], &end[2..]) {
        (2, &[l], &[r]) => [0, l, 0, r],
        (3, &[t, l], &[b, r]) => [t, l, b, r],
        _ => {
            return unsupported(format!(
                "a Pad of per-sample shape {shape:?} (only NCL and NCHW tensors)"
            ));
        }
    };
    let pads = pads.map(|p| p as usize);
    if pads == [0; 4] {
        return Ok(Built::Op {
            op: Op::Identity,
            out_shape: Some(shape),
        });
    }
    let mut out_shape = shape.clone();
    let n = out_shape.len();
    out_shape[n - 1] += pads[1] + pads[3];
    if n == 3 {
        out_shape[1] += pads[0] + pads[2];
    }
    let readers = node.output.first().map_or(0, |o| ctx.reads(o));
    let reason = if readers == 1 {
        // the node this builder makes comes next
        let source = ctx.sources.first().cloned();
        if let Some(source) = source {
            ctx.pads.insert(ctx.nodes.len(), Pending { pads, source });
        }
        GAP.to_string()
    } else {
        format!("its output has {readers} readers; {GAP}")
    };
    Ok(Built::Op {
        op: Op::Unsupported(UnsupportedOp {
            node: String::new(),
            op_type: node.op_type.clone(),
            reason,
        }),
        out_shape: Some(out_shape),
    })
}

/// The pad value: input 2 (opset 11+; absent or empty: 0), else the `value` attribute.
fn constant_value(node: &NodeProto, ctx: &Ctx) -> Result<f32, Refusal> {
    if node.input.get(2).is_none_or(|n| n.is_empty()) {
        return Ok(attr_float(node, "value", 0.0));
    }
    let v = const_input(node, ctx, 2)?
        .floats()
        .map_err(Refusal::Unsupported)?;
    match v[..] {
        [x] => Ok(x),
        _ => unsupported(format!(
            "constant value of {} values (expected one)",
            v.len()
        )),
    }
}

/// The pads at the beginning and the end of each of the `rank` axes (batch first): from input 1
/// (opset 11+, with the optional `axes` of input 3) or the `pads` attribute (before opset 11).
fn per_axis(node: &NodeProto, ctx: &Ctx, rank: usize) -> Result<(Vec<i64>, Vec<i64>), Refusal> {
    let pads = if node.input.get(1).is_some_and(|n| !n.is_empty()) {
        const_input(node, ctx, 1)?
            .ints()
            .map_err(Refusal::Unsupported)?
    } else if let Some(p) = attr_ints(node, "pads") {
        p.to_vec()
    } else {
        return unsupported("pads are missing");
    };
    let axes: Vec<usize> = if node.input.get(3).is_some_and(|n| !n.is_empty()) {
        let axes = const_input(node, ctx, 3)?
            .ints()
            .map_err(Refusal::Unsupported)?;
        let r = rank as i64;
        let norm: Vec<i64> = axes
            .iter()
            .map(|&a| if a < 0 { a + r } else { a })
            .collect();
        if norm.iter().any(|a| !(0..r).contains(a)) {
            return unsupported(format!("axes = {axes:?} on a tensor of rank {rank}"));
        }
        norm.iter().map(|&a| a as usize).collect()
    } else {
        (0..rank).collect()
    };
    if pads.len() != 2 * axes.len() {
        return unsupported(format!(
            "pads = {pads:?} for {} axes (expected {} values)",
            axes.len(),
            2 * axes.len()
        ));
    }
    let (mut begin, mut end) = (vec![0; rank], vec![0; rank]);
    for (j, &a) in axes.iter().enumerate() {
        begin[a] += pads[j];
        end[a] += pads[j + axes.len()];
    }
    Ok((begin, end))
}

/// The Pad the window op being built may take: built just before it and read by it alone.
fn pending(ctx: &Ctx) -> Option<(usize, &Pending)> {
    let k = ctx.fold_target()?;
    if k + 1 != ctx.nodes.len() {
        return None;
    }
    ctx.pads.get(&k).map(|p| (k, p))
}

/// Whether the pending Pad reads the output of a Relu (values that are never negative).
pub(super) fn reads_relu(ctx: &Ctx) -> bool {
    pending(ctx)
        .and_then(|(_, p)| p.source.1.id.checked_sub(1))
        .and_then(|j| ctx.nodes.get(j))
        .is_some_and(|n| matches!(n.op, Op::Relu))
}

/// The window op being built on `in_shape` with `win`, with the Pad it reads (if any) folded
/// in: on the Pad's input, the Pad's pads added to its own. `check` sees the merged window and
/// the Pad's input shape; when it refuses, the Pad stays a gap with that reason and the op is
/// built as it was.
///
/// # Errors
/// The [`Refusal::Error`] that `check` returns.
pub(super) fn fold(
    ctx: &mut Ctx,
    node: &NodeProto,
    in_shape: [usize; 3],
    win: Window,
    check: impl FnOnce(&Ctx, &Window, [usize; 3]) -> Result<(), Refusal>,
) -> Result<([usize; 3], Window), Refusal> {
    let Some((k, p)) = pending(ctx) else {
        return Ok((in_shape, win));
    };
    let [t, l, b, r] = p.pads;
    let [c, h, w] = in_shape;
    let unpadded = [c, h - t - b, w - l - r];
    let mut merged = win;
    for (m, add) in merged.pads.iter_mut().zip(p.pads) {
        *m += add;
    }
    match check(ctx, &merged, unpadded) {
        Ok(()) => {}
        Err(Refusal::Unsupported(why)) => {
            if let Some(Op::Unsupported(u)) = ctx.nodes.get_mut(k).map(|n| &mut n.op) {
                u.reason = format!("not folded into the {} that reads it: {why}", node.op_type);
            }
            return Ok((in_shape, win));
        }
        Err(e) => return Err(e),
    }
    let (Some(p), Some(gone)) = (ctx.pads.remove(&k), ctx.nodes.pop()) else {
        return Ok((in_shape, win));
    };
    let into = if node.name.is_empty() {
        node.op_type.as_str()
    } else {
        node.name.as_str()
    };
    ctx.folded.push(FoldedNode {
        name: gone.name,
        onnx_op: gone.onnx_op,
        how: format!("folded into the padding of {into}"),
    });
    ctx.current.clone_from(&p.source.0);
    ctx.shape.clone_from(&p.source.1.shape);
    if let Some(first) = ctx.sources.first_mut() {
        *first = p.source;
    }
    Ok((unpadded, merged))
}
