//! Joins of data tensors: an `Add` (or a two-input `Sum`) of two branches, as in a residual
//! block, becomes [`Op::Add`] (only equal per-sample shapes: broadcasting one activation
//! against another is refused); a `Concat` of data tensors along a per-sample axis becomes
//! [`Op::Concat`].

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, unsupported};
use super::proto::attr_int;
use crate::graph::{Concat, Op};

/// `a + b` of the node's two data inputs (`ctx.sources`), of equal per-sample shapes.
pub(crate) fn add(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.input.iter().filter(|i| !i.is_empty()).count() != 2 {
        return unsupported(format!(
            "{} of {} inputs: only a sum of two data tensors is supported",
            node.op_type,
            node.input.len()
        ));
    }
    let [(a_name, a), (b_name, b)] = ctx.sources.as_slice() else {
        return unsupported("a sum of other than two data tensors");
    };
    let (Some(a_shape), Some(b_shape)) = (&a.shape, &b.shape) else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    if a_shape != b_shape {
        return unsupported(format!(
            "adds {a_name:?} of per-sample shape {a_shape:?} to {b_name:?} of shape {b_shape:?}: \
             broadcasting between two data tensors is not supported (the shapes must be equal)"
        ));
    }
    Ok(Built::Op {
        op: Op::Add,
        out_shape: Some(a_shape.clone()),
    })
}

/// `Concat` of the node's inputs, all data tensors, along a per-sample axis.
pub(crate) fn concat(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if ctx.sources.len() != node.input.iter().filter(|i| !i.is_empty()).count() {
        return unsupported("concatenates constants with data (only data tensors are supported)");
    }
    let shapes = ctx
        .sources
        .iter()
        .map(|(_, t)| t.shape.clone())
        .collect::<Option<Vec<Vec<usize>>>>();
    let Some(shapes) = shapes else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let rank = shapes[0].len() as i64 + 1;
    let axis = attr_int(node, "axis", i64::MIN);
    let axis = if axis < 0 { axis + rank } else { axis };
    let Some(axis) = usize::try_from(axis)
        .ok()
        .filter(|a| (1..rank as usize).contains(a))
    else {
        return unsupported(format!(
            "axis {} (a per-sample axis of a rank-{rank} tensor, not the batch)",
            attr_int(node, "axis", i64::MIN)
        ));
    };
    let axis = axis - 1;
    let fits = |s: &Vec<usize>| {
        s.len() == shapes[0].len() && (0..s.len()).all(|a| a == axis || s[a] == shapes[0][a])
    };
    if !shapes.iter().all(fits) {
        return unsupported(format!(
            "shapes {shapes:?} differ off the concatenation axis {}",
            axis + 1
        ));
    }
    if shapes.len() == 1 {
        return Ok(Built::Op {
            op: Op::Identity,
            out_shape: Some(shapes[0].clone()),
        });
    }
    let c = Concat { axis, shapes };
    Ok(Built::Op {
        out_shape: Some(c.out_shape()),
        op: Op::Concat(c),
    })
}
