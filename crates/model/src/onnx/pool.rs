//! Builders of the average pools: AveragePool, GlobalAveragePool, and ReduceMean over the two
//! spatial axes. All become [`Op::AvgPool`], which divides each window by the positions ONNX
//! counts (`count_include_pad`, a ceil-mode window's overhang).

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::conv::{ceil_window, check_dilations, chw, output_hw, pool_kernel, window};
use super::ops::{Built, Refusal, const_input, unsupported};
use super::proto::{attr_int, attr_ints};
use crate::cnn::Window;
use crate::graph::{AvgPool, Op};

pub(crate) fn average_pool(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    check_dilations(node)?;
    let kernel = pool_kernel(node)?;
    let in_shape = chw(ctx)?;
    let [c, h, w] = in_shape;
    let win = window(node, kernel, [h, w])?;
    // ONNX divides by the window positions inside the input, and inside the pads too with
    // count_include_pad = 1 (never the ceil-mode overhang past them)
    let counted_pads = match attr_int(node, "count_include_pad", 0) {
        0 => [0; 4],
        _ => win.pads,
    };
    let window = match attr_int(node, "ceil_mode", 0) {
        0 => win,
        1 => ceil_window(win, [h, w]),
        other => return unsupported(format!("ceil_mode = {other} (0 or 1 are supported)")),
    };
    let [oh, ow] = output_hw(node, &window, [h, w])?;
    pool(in_shape, [c, oh, ow], window, counted_pads, vec![c, oh, ow])
}

pub(crate) fn global_average_pool(_node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let in_shape = chw(ctx)?;
    global(in_shape, vec![in_shape[0], 1, 1])
}

/// ReduceMean over the two spatial axes of an NCHW tensor (axes from the attribute, or from
/// the second input since opset 18): a global average pool.
pub(crate) fn reduce_mean(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let axes = match attr_ints(node, "axes") {
        Some(a) => a.to_vec(),
        None if node.input.get(1).is_some_and(|n| !n.is_empty()) => const_input(node, ctx, 1)?
            .ints()
            .map_err(Refusal::Unsupported)?,
        None => return unsupported("a mean over every axis (no axes given)"),
    };
    let mut axes: Vec<i64> = axes
        .iter()
        .map(|&a| if a < 0 { a + 4 } else { a })
        .collect();
    axes.sort_unstable();
    if axes != [2, 3] {
        return unsupported(format!(
            "axes = {axes:?} (only the two spatial axes of an NCHW tensor, [2, 3])"
        ));
    }
    let in_shape = chw(ctx)?;
    let keep = attr_int(node, "keepdims", 1) != 0;
    let out = if keep {
        vec![in_shape[0], 1, 1]
    } else {
        vec![in_shape[0]]
    };
    global(in_shape, out)
}

/// A pool whose one window is the whole `[H, W]` plane.
fn global(in_shape: [usize; 3], out: Vec<usize>) -> Result<Built, Refusal> {
    let [c, h, w] = in_shape;
    if h > 64 || w > 64 {
        return unsupported(format!(
            "a global average over {h}x{w} (windows up to 64x64 are supported)"
        ));
    }
    let win = Window {
        kernel: [h, w],
        stride: [1, 1],
        pads: [0; 4],
    };
    pool(in_shape, [c, 1, 1], win, [0; 4], out)
}

fn pool(
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    window: Window,
    counted_pads: [usize; 4],
    node_shape: Vec<usize>,
) -> Result<Built, Refusal> {
    Ok(Built::Op {
        op: Op::AvgPool(AvgPool {
            in_shape,
            out_shape,
            window,
            counted_pads,
        }),
        out_shape: Some(node_shape),
    })
}
