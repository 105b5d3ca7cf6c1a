//! Builders of the CNN ops: Conv, MaxPool, BatchNormalization (folded or a diagonal 1x1 Conv),
//! and the window geometry the pooling builders (`pool.rs`) share.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, const_input, shape_error, unsupported};
use super::proto::{attr_float, attr_int, attr_ints, attr_string};
use crate::cnn::Window;
use crate::graph::{Conv, MaxPool, Op};

/// The per-sample `[C, H, W]` input of a 2-D window op.
pub(super) fn chw(ctx: &Ctx) -> Result<[usize; 3], Refusal> {
    match ctx.shape.as_deref() {
        None => unsupported("per-sample input shape unknown (after an unsupported op)"),
        Some(&[c, h, w]) => Ok([c, h, w]),
        Some(s) => unsupported(format!(
            "only 2-D (NCHW) inputs are supported; per-sample input shape {s:?}"
        )),
    }
}

/// An optional attribute of two values (`default` when absent).
pub(super) fn pair(node: &NodeProto, name: &str, default: usize) -> Result<[usize; 2], Refusal> {
    match attr_ints(node, name) {
        None => Ok([default; 2]),
        Some(&[a, b]) if a >= 1 && b >= 1 => Ok([a as usize, b as usize]),
        Some(v) => unsupported(format!("{name} = {v:?} (expected two positive values)")),
    }
}

/// Dilation 1 on both axes, else a refusal.
pub(super) fn check_dilations(node: &NodeProto) -> Result<(), Refusal> {
    match attr_ints(node, "dilations") {
        None => Ok(()),
        Some(d) if d.iter().all(|&v| v == 1) => Ok(()),
        Some(d) => unsupported(format!("dilations = {d:?} (only 1 is supported)")),
    }
}

/// Kernel, strides and explicit pads `[top, left, bottom, right]` of a window op on an input
/// `[H, W]`, with `auto_pad` resolved (ONNX `pads` are `[x1_begin, x2_begin, x1_end, x2_end]`,
/// which is the same order).
pub(super) fn window(
    node: &NodeProto,
    kernel: [usize; 2],
    hw: [usize; 2],
) -> Result<Window, Refusal> {
    let stride = pair(node, "strides", 1)?;
    // the verifying key's limits; also keeps the arithmetic below far from overflow
    if kernel
        .iter()
        .chain(&stride)
        .any(|&k| !(1..=64).contains(&k))
    {
        return unsupported(format!(
            "kernel {kernel:?}, strides {stride:?} (1 to 64 are supported)"
        ));
    }
    let auto_pad = attr_string(node, "auto_pad", "NOTSET");
    let pads = match auto_pad.as_str() {
        "NOTSET" => match attr_ints(node, "pads") {
            None => [0; 4],
            Some(&[t, l, b, r]) if [t, l, b, r].iter().all(|&p| p >= 0) => {
                [t as usize, l as usize, b as usize, r as usize]
            }
            Some(p) => return unsupported(format!("pads = {p:?} (expected four values >= 0)")),
        },
        "VALID" => [0; 4],
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut pads = [0; 4];
            for axis in 0..2 {
                let out = hw[axis].div_ceil(stride[axis]);
                let total = ((out - 1) * stride[axis] + kernel[axis]).saturating_sub(hw[axis]);
                let small = total / 2;
                let (begin, end) = if auto_pad == "SAME_UPPER" {
                    (small, total - small)
                } else {
                    (total - small, small)
                };
                pads[axis] = begin;
                pads[axis + 2] = end;
            }
            pads
        }
        other => return unsupported(format!("auto_pad = {other:?}")),
    };
    if pads.iter().any(|&p| p >= 64) {
        return unsupported(format!("pads = {pads:?} (below 64 are supported)"));
    }
    Ok(Window {
        kernel,
        stride,
        pads,
    })
}

/// Output `[OH, OW]` of a window on `[H, W]`, or a shape error.
pub(super) fn output_hw(
    node: &NodeProto,
    win: &Window,
    hw: [usize; 2],
) -> Result<[usize; 2], Refusal> {
    match win.output_hw(hw[0], hw[1]) {
        Some(o) => Ok(o),
        None => shape_error(
            node,
            format!("window {win:?} does not fit the input {}x{}", hw[0], hw[1]),
        ),
    }
}

/// A Conv. Grouped (depthwise) and dilated convolutions are proven as the plain convolution
/// they equal: each filter is widened to every input channel and spread over the dilated
/// window, with zeros elsewhere (exact; it costs `group` times the weights and MACs, and the
/// window's area grows with the dilation).
pub(crate) fn conv(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let group = attr_int(node, "group", 1);
    let dilation = pair(node, "dilations", 1)?;
    let w = const_input(node, ctx, 1)?;
    let [c_out, c_in_w, kh, kw] = w.dims[..] else {
        return unsupported(format!(
            "weight shape {:?} (only 2-D convolutions, [C_out, C_in, kh, kw])",
            w.dims
        ));
    };
    let weight = w.floats().map_err(Refusal::Unsupported)?;
    let has_bias = node.input.get(2).is_some_and(|n| !n.is_empty());
    let bias = if has_bias {
        let b = const_input(node, ctx, 2)?;
        if b.dims != [c_out] {
            return unsupported(format!("bias shape {:?} (expected [{c_out}])", b.dims));
        }
        Some(b.floats().map_err(Refusal::Unsupported)?)
    } else {
        None
    };
    let in_shape = chw(ctx)?;
    let [c_in, h, wd] = in_shape;
    let groups = usize::try_from(group).unwrap_or(0);
    if groups == 0 || c_out % groups != 0 || c_in_w.checked_mul(groups) != Some(c_in) {
        return shape_error(
            node,
            format!(
                "weights expect {c_in_w} input channels per group, {group} groups and \
                 {c_out} outputs; the input has {c_in} channels"
            ),
        );
    }
    if let Some(k) = attr_ints(node, "kernel_shape")
        && k != [kh as i64, kw as i64]
    {
        return shape_error(
            node,
            format!("kernel_shape {k:?} differs from the weight's {kh}x{kw}"),
        );
    }
    let span = |k: usize, d: usize| (k - 1).saturating_mul(d).saturating_add(1);
    let kernel = [span(kh, dilation[0]), span(kw, dilation[1])];
    let win = window(node, kernel, [h, wd])?;
    let weight = if groups == 1 && dilation == [1, 1] {
        weight
    } else {
        widen(&weight, [c_out, c_in_w, kh, kw], groups, dilation)
    };
    let [oh, ow] = output_hw(node, &win, [h, wd])?;
    let out_shape = [c_out, oh, ow];
    Ok(Built::Op {
        op: Op::Conv(Conv {
            in_shape,
            out_shape,
            window: win,
            weight,
            bias,
        }),
        out_shape: Some(out_shape.to_vec()),
    })
}

/// The `[C_out][C_in][kh'][kw']` weights of the plain convolution equal to a grouped, dilated
/// one with weights `[C_out][C_in / groups][kh][kw]` (`kh' = (kh - 1) d + 1`).
fn widen(weight: &[f32], dims: [usize; 4], groups: usize, dilation: [usize; 2]) -> Vec<f32> {
    let [c_out, per_group, kh, kw] = dims;
    let [dh, dw] = dilation;
    let (kh2, kw2) = ((kh - 1) * dh + 1, (kw - 1) * dw + 1);
    let c_in = per_group * groups;
    let mut out = vec![0.0; c_out * c_in * kh2 * kw2];
    for o in 0..c_out {
        let first = o / (c_out / groups) * per_group;
        for cp in 0..per_group {
            for i in 0..kh {
                for j in 0..kw {
                    let at = ((o * c_in + first + cp) * kh2 + i * dh) * kw2 + j * dw;
                    out[at] = weight[((o * per_group + cp) * kh + i) * kw + j];
                }
            }
        }
    }
    out
}

/// The `kernel_shape` of a 2-D pooling op.
pub(super) fn pool_kernel(node: &NodeProto) -> Result<[usize; 2], Refusal> {
    match attr_ints(node, "kernel_shape") {
        Some(&[a, b]) if a >= 1 && b >= 1 => Ok([a as usize, b as usize]),
        Some(k) => unsupported(format!("kernel_shape = {k:?} (only 2-D pooling)")),
        None => unsupported("kernel_shape is missing"),
    }
}

pub(crate) fn max_pool(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return unsupported("the Indices output is not supported");
    }
    check_dilations(node)?;
    let storage = attr_int(node, "storage_order", 0);
    if storage != 0 {
        return unsupported(format!("storage_order = {storage} (only 0 is supported)"));
    }
    let ceil = match attr_int(node, "ceil_mode", 0) {
        0 => false,
        1 => true,
        other => return unsupported(format!("ceil_mode = {other} (0 or 1 are supported)")),
    };
    let kernel = pool_kernel(node)?;
    let in_shape = chw(ctx)?;
    let [c, h, w] = in_shape;
    let mut win = window(node, kernel, [h, w])?;
    if ceil && !attr_string(node, "auto_pad", "NOTSET").starts_with("SAME") {
        win = ceil_window(win, [h, w]);
        if win.pads.iter().any(|&p| p >= 64) {
            return unsupported(format!("pads = {:?} (below 64 are supported)", win.pads));
        }
    }
    let [oh, ow] = output_hw(node, &win, [h, w])?;
    let empty = |axis: usize, n: usize, out: usize| {
        (0..out).any(|o| (0..kernel[axis]).all(|k| win.source(axis, o, k, n).is_none()))
    };
    if empty(0, h, oh) || empty(1, w, ow) {
        return unsupported("a pooling window lies entirely in the padding");
    }
    let out_shape = [c, oh, ow];
    Ok(Built::Op {
        op: Op::MaxPool(MaxPool {
            in_shape,
            out_shape,
            window: win,
        }),
        out_shape: Some(out_shape.to_vec()),
    })
}

/// `ceil_mode = 1`: the output extent is `ceil((n + pads - k) / s) + 1`, less one when the last
/// window would start past the input and its leading padding (ONNX Runtime and PyTorch drop
/// that window). The windows the floor formula leaves out get extra end padding, which never
/// wins the max.
pub(super) fn ceil_window(mut win: Window, hw: [usize; 2]) -> Window {
    for (axis, n) in hw.into_iter().enumerate() {
        let (k, s) = (win.kernel[axis], win.stride[axis]);
        let (begin, end) = (win.pads[axis], win.pads[axis + 2]);
        let padded = n + begin + end;
        if padded < k {
            continue; // does not fit at all: output_hw reports it
        }
        let mut out = (padded - k).div_ceil(s) + 1;
        if (out - 1) * s >= n + begin {
            out -= 1;
        }
        let needed = (out - 1) * s + k;
        win.pads[axis + 2] += needed.saturating_sub(padded);
    }
    win
}

/// Inference BatchNormalization `y = a_c x + shift_c` with `a = scale / sqrt(var + eps)`,
/// `shift = B - mean a`: folded into the Conv or Dense just before it, or else a diagonal 1x1
/// Conv (a diagonal Dense on a flat `[C]` input).
pub(crate) fn batch_norm(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if attr_int(node, "training_mode", 0) != 0 {
        return unsupported("training_mode = 1 (only inference is supported)");
    }
    if attr_int(node, "spatial", 1) != 1 {
        return unsupported("spatial = 0 (only per-channel statistics are supported)");
    }
    if node.output.iter().skip(1).any(|o| !o.is_empty()) {
        return unsupported("running mean/var outputs (training) are not supported");
    }
    let eps = f64::from(attr_float(node, "epsilon", 1e-5));
    let mut params = Vec::with_capacity(4);
    for idx in 1..=4 {
        let c = const_input(node, ctx, idx)?;
        if c.dims.len() != 1 {
            return unsupported(format!("input {idx} has shape {:?}, expected [C]", c.dims));
        }
        params.push(c.floats().map_err(Refusal::Unsupported)?);
    }
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let channels = shape.first().copied().unwrap_or(0);
    let lens: Vec<usize> = params.iter().map(Vec::len).collect();
    if lens.iter().any(|&n| n != channels) {
        let detail = format!("parameters of lengths {lens:?} for {channels} channels");
        return shape_error(node, detail);
    }
    let (gamma, beta, mean, var) = (&params[0], &params[1], &params[2], &params[3]);
    let a: Vec<f64> = (0..channels)
        .map(|c| f64::from(gamma[c]) / (f64::from(var[c]) + eps).sqrt())
        .collect();
    if a.iter().any(|v| !v.is_finite()) {
        return unsupported("scale / sqrt(var + epsilon) is not finite");
    }
    let shift: Vec<f64> = (0..channels)
        .map(|c| f64::from(beta[c]) - f64::from(mean[c]) * a[c])
        .collect();
    super::affine::apply(ctx, "BatchNormalization", &shape, a, shift)
}
