//! Builders of the CNN ops: Conv, MaxPool, BatchNormalization (folded or a diagonal 1x1 Conv),
//! and the window geometry the pooling builders (`pool.rs`) share. A 1-D op (input `[N, C, L]`)
//! is the 2-D op on `[C, 1, L]` (the same data): kernel `[1, k]`, pads `[0, p0, 0, p1]`; the
//! walk keeps ONNX's `[C, L']` as the shape of its output.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, const_input, shape_error, unsupported};
use super::pad;
use super::proto::{attr_float, attr_int, attr_ints, attr_string};
use crate::cnn::Window;
use crate::graph::{Conv, MaxPool, Op};

/// The per-sample input of a window op seen as `[C, H, W]`, with its spatial rank: `[C, H, W]`
/// (2-D, NCHW) as it is, `[C, L]` (1-D, NCL) as `[C, 1, L]` (the same data, in the same order).
pub(super) fn spatial_input(ctx: &Ctx) -> Result<(usize, [usize; 3]), Refusal> {
    match ctx.shape.as_deref() {
        None => unsupported("per-sample input shape unknown (after an unsupported op)"),
        Some(&[c, l]) => Ok((1, [c, 1, l])),
        Some(&[c, h, w]) => Ok((2, [c, h, w])),
        Some(s) => unsupported(format!(
            "only 1-D (NCL) and 2-D (NCHW) inputs are supported; per-sample input shape {s:?}"
        )),
    }
}

/// The shape the walk tracks for a window op's `[C, OH, OW]` output: ONNX's own, `[C, OW]`
/// for a 1-D op (its `OH` is 1).
pub(super) fn tracked(rank: usize, out: [usize; 3]) -> Vec<usize> {
    if rank == 1 {
        vec![out[0], out[2]]
    } else {
        out.to_vec()
    }
}

/// An optional per-axis attribute of `rank` positive values (`default` when absent), as
/// `[H, W]`: a 1-D op's `[v]` is `[1, v]`.
pub(super) fn pair(
    node: &NodeProto,
    name: &str,
    rank: usize,
    default: usize,
) -> Result<[usize; 2], Refusal> {
    match attr_ints(node, name) {
        None => Ok([default; 2]),
        Some(v) if v.len() == rank && v.iter().all(|&a| a >= 1) => {
            let v: Vec<usize> = v.iter().map(|&a| a as usize).collect();
            Ok(if rank == 1 { [1, v[0]] } else { [v[0], v[1]] })
        }
        Some(v) => unsupported(format!("{name} = {v:?} (expected {rank} positive values)")),
    }
}

/// Dilation 1 on every axis, else a refusal.
pub(super) fn check_dilations(node: &NodeProto) -> Result<(), Refusal> {
    match attr_ints(node, "dilations") {
        None => Ok(()),
        Some(d) if d.iter().all(|&v| v == 1) => Ok(()),
        Some(d) => unsupported(format!("dilations = {d:?} (only 1 is supported)")),
    }
}

/// Explicit `pads` of a window op of spatial rank `rank` as `[top, left, bottom, right]`: ONNX
/// `pads` are `[x1_begin, x2_begin, x1_end, x2_end]` (the same order), a 1-D op's
/// `[begin, end]` pads only `W`.
fn explicit_pads(node: &NodeProto, rank: usize) -> Result<[usize; 4], Refusal> {
    let Some(p) = attr_ints(node, "pads") else {
        return Ok([0; 4]);
    };
    if p.len() != 2 * rank || p.iter().any(|&v| v < 0) {
        return unsupported(format!("pads = {p:?} (expected {} values >= 0)", 2 * rank));
    }
    let p: Vec<usize> = p.iter().map(|&v| v as usize).collect();
    Ok(if rank == 1 {
        [0, p[0], 0, p[1]]
    } else {
        [p[0], p[1], p[2], p[3]]
    })
}

/// Kernel, strides and explicit pads `[top, left, bottom, right]` of a window op of spatial
/// rank `rank` on an input `[H, W]` (`H = 1` for a 1-D op), with `auto_pad` resolved.
pub(super) fn window(
    node: &NodeProto,
    rank: usize,
    kernel: [usize; 2],
    hw: [usize; 2],
) -> Result<Window, Refusal> {
    let stride = pair(node, "strides", rank, 1)?;
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
        "NOTSET" => explicit_pads(node, rank)?,
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
    check_pads(pads)?;
    Ok(Window {
        kernel,
        stride,
        pads,
    })
}

/// Pads below 64 (the verifying key's limit), else a refusal.
pub(super) fn check_pads(pads: [usize; 4]) -> Result<(), Refusal> {
    if pads.iter().any(|&p| p >= 64) {
        return unsupported(format!("pads = {pads:?} (below 64 are supported)"));
    }
    Ok(())
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

/// A Conv, 2-D (`[C_out, C_in, kh, kw]` weights) or 1-D (`[C_out, C_in, k]`, proven as the 2-D
/// conv with `kh = 1`). Grouped (depthwise) and dilated convolutions are proven as the plain
/// convolution they equal: each filter is widened to every input channel and spread over the
/// dilated window, with zeros elsewhere (exact; it costs `group` times the weights and MACs, and
/// the window's area grows with the dilation). A zero Pad that alone feeds it is folded into
/// its padding.
pub(crate) fn conv(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let group = attr_int(node, "group", 1);
    let w = const_input(node, ctx, 1)?;
    let (rank, [c_out, c_in_w, kh, kw]) = match w.dims[..] {
        [o, i, k] => (1, [o, i, 1, k]),
        [o, i, kh, kw] => (2, [o, i, kh, kw]),
        _ => {
            return unsupported(format!(
                "weight shape {:?} (only 1-D and 2-D convolutions, [C_out, C_in, k] or \
                 [C_out, C_in, kh, kw])",
                w.dims
            ));
        }
    };
    let dilation = pair(node, "dilations", rank, 1)?;
    let weight = w.floats().map_err(Refusal::Unsupported)?;
    let bias = conv_bias(node, ctx, c_out)?;
    let (in_rank, in_shape) = spatial_input(ctx)?;
    if in_rank != rank {
        return shape_error(
            node,
            format!("{rank}-D weights {:?} on a {in_rank}-D input", w.dims),
        );
    }
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
    let spatial: Vec<i64> = w.dims[2..].iter().map(|&d| d as i64).collect();
    if let Some(k) = attr_ints(node, "kernel_shape")
        && k != spatial
    {
        let detail = format!("kernel_shape {k:?} differs from the weight's {spatial:?}");
        return shape_error(node, detail);
    }
    let span = |k: usize, d: usize| (k - 1).saturating_mul(d).saturating_add(1);
    let kernel = [span(kh, dilation[0]), span(kw, dilation[1])];
    let win = window(node, rank, kernel, [h, wd])?;
    let weight = if groups == 1 && dilation == [1, 1] {
        weight
    } else {
        widen(&weight, [c_out, c_in_w, kh, kw], groups, dilation)
    };
    let [oh, ow] = output_hw(node, &win, [h, wd])?;
    let out_shape = [c_out, oh, ow];
    let (in_shape, window) = pad::fold(ctx, node, in_shape, win, |_, w, _| check_pads(w.pads))?;
    Ok(Built::Op {
        op: Op::Conv(Conv {
            in_shape,
            out_shape,
            window,
            weight,
            bias,
            spread: None,
        }),
        out_shape: Some(tracked(rank, out_shape)),
    })
}

/// The Conv's optional bias, `[C_out]`.
/// A 2-D ConvTranspose: the plain convolution, with the kernel flipped and its channel axes
/// swapped (grouped and dilated ones widened as a Conv's are), of the input spread by the
/// strides (zeros between its values) and padded by `span - 1 - pad` (plus `output_padding`
/// at the end), `span = d (k - 1) + 1`. The spread is a relayout.
pub(crate) fn conv_transpose(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let w = const_input(node, ctx, 1)?;
    let [c_in_w, c_out_g, kh, kw] = match w.dims[..] {
        [i, o, kh, kw] => [i, o, kh, kw],
        _ => {
            let detail = format!(
                "weight shape {:?} (only 2-D, [C_in, C_out, kh, kw])",
                w.dims
            );
            return unsupported(detail);
        }
    };
    let weight = w.floats().map_err(Refusal::Unsupported)?;
    let dilation = pair(node, "dilations", 2, 1)?;
    let groups = usize::try_from(attr_int(node, "group", 1)).unwrap_or(0);
    if groups == 0 || c_in_w % groups != 0 {
        return shape_error(node, format!("group {groups} for {c_in_w} input channels"));
    }
    let c_out = c_out_g * groups;
    if !matches!(
        attr_string(node, "auto_pad", "NOTSET").as_str(),
        "NOTSET" | "VALID"
    ) || attr_ints(node, "output_shape").is_some()
    {
        return unsupported("auto_pad SAME or an output_shape (explicit pads are supported)");
    }
    let span = |k: usize, d: usize| (k - 1).saturating_mul(d).saturating_add(1);
    let kernel = [span(kh, dilation[0]), span(kw, dilation[1])];
    if [kh, kw].contains(&0) || kernel.iter().any(|k| *k > 64) {
        return unsupported(format!(
            "kernel {kh}x{kw} with dilations {dilation:?} (spans of 1 to 64 are supported)"
        ));
    }
    let bias = conv_bias(node, ctx, c_out)?;
    let (rank, [c_in, h, wd]) = spatial_input(ctx)?;
    if rank != 2 || c_in != c_in_w {
        let detail = format!("weights {:?} on a per-sample input {:?}", w.dims, ctx.shape);
        return shape_error(node, detail);
    }
    let stride = pair(node, "strides", 2, 1)?;
    if stride.iter().any(|s| !(1..=64).contains(s)) {
        return unsupported(format!("strides {stride:?} (1 to 64 are supported)"));
    }
    let [pt, pl, pb, pr] = match attr_ints(node, "pads") {
        None => [0; 4],
        Some(&[t, l, b, r]) => [t, l, b, r],
        Some(p) => return unsupported(format!("pads = {p:?} (expected four values)")),
    };
    let ([eh, ew], [sh, sw]) = match attr_ints(node, "output_padding").unwrap_or(&[0, 0]) {
        &[eh, ew] => ([eh, ew], [kernel[0] as i64 - 1, kernel[1] as i64 - 1]),
        _ => return unsupported("output_padding of other than two values"),
    };
    // the padding of the equivalent convolution; a negative one would crop
    let pads = [sh - pt, sw - pl, sh - pb + eh, sw - pr + ew];
    let Some(pads) = pads
        .iter()
        .map(|&p| usize::try_from(p).ok())
        .collect::<Option<Vec<usize>>>()
    else {
        return unsupported(format!(
            "pads {:?} past the kernel's reach (a crop of the output)",
            [pt, pl, pb, pr]
        ));
    };
    let window = Window {
        kernel,
        stride: [1, 1],
        pads: [pads[0], pads[1], pads[2], pads[3]],
    };
    check_pads(window.pads)?;
    let in_shape = [c_in, (h - 1) * stride[0] + 1, (wd - 1) * stride[1] + 1];
    let [oh, ow] = output_hw(node, &window, [in_shape[1], in_shape[2]])?;
    // per group: W'[o][i][y][x] = W[i][o][kh - 1 - y][kw - 1 - x], laid out as a grouped
    // conv's [C_out][C_in / group][kh][kw]
    let in_group = c_in / groups;
    let mut flipped = vec![0f32; weight.len()];
    for i in 0..c_in {
        let (g, i_local) = (i / in_group, i % in_group);
        for o_local in 0..c_out_g {
            let o = g * c_out_g + o_local;
            for y in 0..kh {
                for x in 0..kw {
                    let from = ((i * c_out_g + o_local) * kh + (kh - 1 - y)) * kw + (kw - 1 - x);
                    flipped[((o * in_group + i_local) * kh + y) * kw + x] = weight[from];
                }
            }
        }
    }
    let weight = if groups == 1 && dilation == [1, 1] {
        flipped
    } else {
        widen(&flipped, [c_out, in_group, kh, kw], groups, dilation)
    };
    Ok(Built::Op {
        op: Op::Conv(Conv {
            in_shape,
            out_shape: [c_out, oh, ow],
            window,
            weight,
            bias,
            spread: Some([stride[0], stride[1]]),
        }),
        out_shape: Some(vec![c_out, oh, ow]),
    })
}

fn conv_bias(node: &NodeProto, ctx: &Ctx, c_out: usize) -> Result<Option<Vec<f32>>, Refusal> {
    if node.input.get(2).is_none_or(|n| n.is_empty()) {
        return Ok(None);
    }
    let b = const_input(node, ctx, 2)?;
    if b.dims != [c_out] {
        return unsupported(format!("bias shape {:?} (expected [{c_out}])", b.dims));
    }
    Ok(Some(b.floats().map_err(Refusal::Unsupported)?))
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

/// The `kernel_shape` of a pooling op of spatial rank `rank`, as `[kh, kw]` (`[1, k]` in 1-D).
pub(super) fn pool_kernel(node: &NodeProto, rank: usize) -> Result<[usize; 2], Refusal> {
    match attr_ints(node, "kernel_shape") {
        None => unsupported("kernel_shape is missing"),
        Some(k) if k.len() != rank => unsupported(format!(
            "kernel_shape = {k:?} on a {rank}-D input (only 1-D pooling on NCL and 2-D \
             pooling on NCHW inputs)"
        )),
        Some(_) => pair(node, "kernel_shape", rank, 1),
    }
}

/// A MaxPool, 2-D or 1-D (as 2-D with `kh = 1`). A zero Pad that alone feeds it is folded into
/// its padding only when it reads a Relu's output: the Pad's zeros then never exceed a window's
/// max (a window must still hold an input value).
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
    let (rank, in_shape) = spatial_input(ctx)?;
    let kernel = pool_kernel(node, rank)?;
    let [c, h, w] = in_shape;
    let mut win = window(node, rank, kernel, [h, w])?;
    if ceil && !attr_string(node, "auto_pad", "NOTSET").starts_with("SAME") {
        win = ceil_window(win, [h, w]);
        check_pads(win.pads)?;
    }
    let [oh, ow] = output_hw(node, &win, [h, w])?;
    if has_empty_window(&win, [h, w], [oh, ow]) {
        return unsupported("a pooling window lies entirely in the padding");
    }
    let out_shape = [c, oh, ow];
    let (in_shape, window) = pad::fold(ctx, node, in_shape, win, |ctx, merged, unpadded| {
        if !pad::reads_relu(ctx) {
            return unsupported(
                "a zero Pad before a MaxPool of values that may be negative: its zeros could \
                 win the max, where MaxPool's own padding never does (folded only when the Pad \
                 reads a Relu's output)",
            );
        }
        check_pads(merged.pads)?;
        if has_empty_window(merged, [unpadded[1], unpadded[2]], [oh, ow]) {
            return unsupported(
                "folded into the MaxPool, a pooling window would lie entirely in the padding",
            );
        }
        Ok(())
    })?;
    Ok(Built::Op {
        op: Op::MaxPool(MaxPool {
            in_shape,
            out_shape,
            window,
        }),
        out_shape: Some(tracked(rank, out_shape)),
    })
}

/// Whether some window of `win` on `[h, w]` (output `[oh, ow]`) reads padding only.
fn has_empty_window(win: &Window, hw: [usize; 2], out: [usize; 2]) -> bool {
    (0..2).any(|axis| {
        (0..out[axis])
            .any(|o| (0..win.kernel[axis]).all(|k| win.source(axis, o, k, hw[axis]).is_none()))
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
