//! Resize (and opset 10's Upsample) with `mode = "nearest"`: each output position copies one
//! input position, picked per spatial axis by ONNX's coordinate transformation and rounding
//! rule. That is a gather of coordinates along each axis: a graph `Transpose` with a
//! [`Placement::Gather`] (a relayout, proven like a permutation; positions read several times
//! are summed in its wiring). Linear and cubic modes blend inputs and are refused.

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::ops::{Built, Refusal, const_input, shape_error, unsupported};
use super::proto::attr_string;
use crate::graph::{Op, Transpose};
use crate::relayout::Placement;

/// Output positions per axis past which a resize is refused (the key lists the map).
const MAX_EXTENT: usize = 1 << 14;

pub(crate) fn resize(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let mode = attr_string(node, "mode", "nearest");
    if mode != "nearest" {
        return unsupported(format!(
            "mode {mode:?} (only \"nearest\": the others blend inputs)"
        ));
    }
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    // Upsample (opset 10) takes the scales second; Resize takes roi, scales, sizes
    let (scales_at, sizes_at) = if node.op_type == "Upsample" {
        (1, usize::MAX)
    } else {
        (2, 3)
    };
    let given = |k: usize| node.input.get(k).is_some_and(|n| !n.is_empty());
    let rank = shape.len() + 1;
    let (out, scales) = if given(sizes_at) {
        let sizes = const_input(node, ctx, sizes_at)?
            .ints()
            .map_err(|e| Refusal::Unsupported(format!("sizes: {e}")))?;
        if sizes.len() != rank {
            return shape_error(node, format!("{} sizes for rank {rank}", sizes.len()));
        }
        let out = extents(&sizes[1..], |v| usize::try_from(*v).ok())?;
        let scales = out
            .iter()
            .zip(&shape)
            .map(|(&o, &i)| o as f64 / i as f64)
            .collect();
        (out, scales)
    } else {
        let s = const_input(node, ctx, scales_at)?
            .floats()
            .map_err(|e| Refusal::Unsupported(format!("scales: {e}")))?;
        if s.len() != rank {
            return shape_error(node, format!("{} scales for rank {rank}", s.len()));
        }
        let scales: Vec<f64> = s[1..].iter().map(|&v| f64::from(v)).collect();
        let sized: Vec<f64> = shape
            .iter()
            .zip(&scales)
            .map(|(&n, &v)| n as f64 * v)
            .collect();
        let out = extents(&sized, |n| (*n >= 1.0).then_some(n.floor() as usize))?;
        (out, scales)
    };
    if out.first() != shape.first() {
        return unsupported("a resize of the channels (only the spatial axes may change)");
    }
    let transform = attr_string(node, "coordinate_transformation_mode", "half_pixel");
    let rounding = attr_string(node, "nearest_mode", "round_prefer_floor");
    let maps = (0..shape.len())
        .map(|a| axis_map(shape[a], out[a], scales[a], &transform, &rounding))
        .collect::<Result<Vec<_>, String>>()
        .map_err(Refusal::Unsupported)?;
    Ok(Built::Op {
        op: Op::Transpose(Transpose {
            in_shape: shape,
            perm: Vec::new(),
            out_shape: out.clone(),
            place: Placement::Gather(maps),
        }),
        out_shape: Some(out),
    })
}

/// The output extent of each per-sample axis, made by `extent` from its value; refused
/// outside 1..=[`MAX_EXTENT`].
fn extents<T: std::fmt::Debug>(
    values: &[T],
    extent: impl Fn(&T) -> Option<usize>,
) -> Result<Vec<usize>, Refusal> {
    values
        .iter()
        .map(
            |v| match extent(v).filter(|n| (1..=MAX_EXTENT).contains(n)) {
                Some(n) => Ok(n),
                None => unsupported(format!("an output extent from {v:?} (1 to {MAX_EXTENT})")),
            },
        )
        .collect()
}

/// For each output coordinate of one axis (input extent `n`, output `m`, scale `s`), the input
/// coordinate it copies, by ONNX's rules.
fn axis_map(
    n: usize,
    m: usize,
    s: f64,
    transform: &str,
    rounding: &str,
) -> Result<Vec<usize>, String> {
    if n == 0 || !(s.is_finite() && s > 0.0) {
        return Err(format!("a resize of an extent of {n} by {s}"));
    }
    (0..m)
        .map(|o| {
            let o = o as f64;
            let x = match transform {
                "half_pixel" => (o + 0.5) / s - 0.5,
                "pytorch_half_pixel" if m > 1 => (o + 0.5) / s - 0.5,
                "pytorch_half_pixel" => 0.0,
                "asymmetric" => o / s,
                "tf_half_pixel_for_nn" => (o + 0.5) / s,
                "align_corners" if m > 1 => o * (n as f64 - 1.0) / (m as f64 - 1.0),
                "align_corners" => 0.0,
                other => return Err(format!("coordinate_transformation_mode {other:?}")),
            };
            let x = match rounding {
                "round_prefer_floor" => (x - 0.5).ceil(),
                "round_prefer_ceil" => (x + 0.5).floor(),
                "floor" => x.floor(),
                "ceil" => x.ceil(),
                other => return Err(format!("nearest_mode {other:?}")),
            };
            Ok(x.clamp(0.0, n as f64 - 1.0) as usize)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::cnn_tests::{float_matches_tract, onnx_model, rand_vals, str_attr, tensor};
    use super::super::tests::{gap_reasons, import, ints, node};
    use crate::graph::Op;
    use tract_onnx::pb::TensorProto;

    fn floats(name: &str, v: &[f32]) -> TensorProto {
        tensor(name, &[v.len()], v.to_vec())
    }

    /// Conv, then a Resize reading (roi, scales, sizes) as given, with `attrs`.
    fn resized(inputs: &[&str], attrs: Vec<(&str, &str)>, extra: Vec<TensorProto>) -> Vec<usize> {
        let dims = [1, 2, 3, 5];
        let mut nodes = vec![node("Conv", "conv", &["x", "w"], "c", vec![])];
        let mut all = vec!["c"];
        all.extend_from_slice(inputs);
        let attrs = attrs.into_iter().map(|(k, v)| str_attr(k, v)).collect();
        nodes.push(node("Resize", "up", &all, "y", attrs));
        let mut inits = vec![tensor("w", &[2, 2, 1, 1], rand_vals(3, 4, -1.0, 1.0))];
        inits.extend(extra);
        let g = float_matches_tract(&onnx_model(&dims, nodes, inits), &dims);
        assert!(matches!(g.nodes[1].op, Op::Transpose(_)));
        g.nodes[1].out_shape.clone().unwrap()
    }

    #[test]
    fn nearest_resizes_match_tract_in_every_coordinate_mode() {
        let scales = || floats("scales", &[1.0, 1.0, 2.0, 3.0]);
        for (transform, rounding) in [
            ("half_pixel", "round_prefer_floor"),
            ("asymmetric", "floor"),
            ("pytorch_half_pixel", "round_prefer_ceil"),
            ("align_corners", "round_prefer_floor"),
        ] {
            let attrs = vec![
                ("mode", "nearest"),
                ("coordinate_transformation_mode", transform),
                ("nearest_mode", rounding),
            ];
            let out = resized(&["", "scales"], attrs, vec![scales()]);
            assert_eq!(out, [2, 6, 15], "{transform} {rounding}");
        }
        // target sizes instead of scales (not a whole multiple), the default modes
        let sizes = ints("sizes", &[1, 2, 4, 7]);
        assert_eq!(resized(&["", "", "sizes"], vec![], vec![sizes]), [2, 4, 7]);
    }

    #[test]
    fn coordinate_maps_are_onnxruntimes() {
        // 5 -> 15 values, as onnxruntime 1.32 computes them (tract 0.23.9 differs on the
        // deprecated tf_half_pixel_for_nn)
        let map = |t, r| super::axis_map(5, 15, 3.0, t, r).unwrap();
        let thirds: Vec<usize> = (0..15).map(|o| o / 3).collect();
        assert_eq!(map("half_pixel", "round_prefer_floor"), thirds);
        assert_eq!(
            map("tf_half_pixel_for_nn", "ceil"),
            [1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 4]
        );
        assert_eq!(
            map("tf_half_pixel_for_nn", "round_prefer_floor"),
            [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 4]
        );
        assert!(super::axis_map(5, 15, 3.0, "tf_crop_and_resize", "floor").is_err());
    }

    #[test]
    fn resizes_that_blend_or_change_the_channels_are_gaps() {
        for (attrs, scales, reason) in [
            (
                vec![str_attr("mode", "linear")],
                [1.0, 1.0, 2.0, 2.0],
                "mode \"linear\"",
            ),
            (vec![], [1.0, 2.0, 2.0, 2.0], "resize of the channels"),
        ] {
            let relu = node("Relu", "r", &["x"], "r", vec![]);
            let up = node("Resize", "up", &["r", "", "scales"], "y", attrs);
            let m = onnx_model(
                &[1, 2, 3, 3],
                vec![relu, up],
                vec![floats("scales", &scales)],
            );
            let gaps = gap_reasons(&import(&m).unwrap());
            assert!(gaps[0].1.contains(reason), "{gaps:?}");
        }
    }
}
