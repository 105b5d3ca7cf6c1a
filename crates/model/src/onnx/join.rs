//! Joins of two data tensors: an `Add` (or a two-input `Sum`) of two branches, as in a
//! residual block, becomes [`Op::Add`]. Only equal per-sample shapes are taken: broadcasting
//! one activation against another is refused.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, unsupported};
use crate::graph::Op;

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
