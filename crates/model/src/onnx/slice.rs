//! Slice and Gather (with constant indices) of a data tensor along per-sample axes: each output
//! coordinate copies one input coordinate per axis, so each is a graph `Transpose` with a
//! [`Placement::Gather`] (a relayout, proven as copies of input positions). Consecutive
//! gathers are merged after the walk ([`merge_gathers`]).

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::affine::{remove_node, sole_reader};
use super::ops::{Built, Refusal, const_input, shape_error, unsupported};
use super::proto::{attr_int, attr_ints};
use crate::graph::{FoldedNode, Node, Op, Transpose};
use crate::relayout::Placement;

/// `x[starts:ends:steps]` along `axes` (constants; attributes before opset 10).
pub(crate) fn slice(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let shape = known_shape(ctx)?;
    let rank = shape.len() + 1;
    let from_inputs = node.input.len() > 1;
    let list = |name: &str, k: usize| -> Result<Option<Vec<i64>>, Refusal> {
        if from_inputs {
            if node.input.get(k).is_none_or(|n| n.is_empty()) {
                return Ok(None);
            }
            let c = const_input(node, ctx, k)?;
            c.ints()
                .map(Some)
                .map_err(|e| Refusal::Unsupported(format!("{name}: {e}")))
        } else {
            Ok(attr_ints(node, name).map(<[i64]>::to_vec))
        }
    };
    let (Some(starts), Some(ends)) = (list("starts", 1)?, list("ends", 2)?) else {
        return unsupported("no starts or ends");
    };
    let axes = list("axes", 3)?.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = list("steps", 4)?.unwrap_or_else(|| vec![1; starts.len()]);
    if [ends.len(), axes.len(), steps.len()] != [starts.len(); 3] {
        return shape_error(
            node,
            "starts, ends, axes and steps of different lengths".into(),
        );
    }
    let mut maps: Vec<Vec<usize>> = shape.iter().map(|&n| (0..n).collect()).collect();
    for k in 0..starts.len() {
        let axis = if axes[k] < 0 {
            axes[k] + rank as i64
        } else {
            axes[k]
        };
        if axis == 0 {
            // the batch axis, kept whole
            if starts[k] == 0 && steps[k] == 1 && ends[k] >= i64::from(i32::MAX) {
                continue;
            }
            return unsupported("a slice of the batch axis");
        }
        let Some(a) = usize::try_from(axis - 1).ok().filter(|&a| a < shape.len()) else {
            return shape_error(node, format!("axis {} for rank {rank}", axes[k]));
        };
        maps[a] =
            coordinates(shape[a], starts[k], ends[k], steps[k]).map_err(Refusal::Unsupported)?;
    }
    gathered(shape, maps, None)
}

/// `Gather(x, indices)` along a per-sample axis with constant indices (a scalar index drops the
/// axis); negative indices count from the end.
pub(crate) fn gather(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    if node.input.first() != Some(&ctx.current) {
        return unsupported("the data must be the first input (constant indices second)");
    }
    let shape = known_shape(ctx)?;
    let rank = shape.len() + 1;
    let axis = attr_int(node, "axis", 0);
    let axis = if axis < 0 { axis + rank as i64 } else { axis };
    let Some(a) = usize::try_from(axis - 1).ok().filter(|&a| a < shape.len()) else {
        return unsupported(format!("axis {axis} (a per-sample axis, not the batch)"));
    };
    let c = const_input(node, ctx, 1)?;
    let dims = c.dims.clone();
    if dims.len() > 1 {
        return unsupported(format!(
            "indices of rank {} (0 or 1 are supported)",
            dims.len()
        ));
    }
    let n = shape[a] as i64;
    let map = c
        .ints()
        .map_err(Refusal::Unsupported)?
        .iter()
        .map(|&i| {
            let i = if i < 0 { i + n } else { i };
            usize::try_from(i).ok().filter(|&i| i < shape[a])
        })
        .collect::<Option<Vec<usize>>>();
    let Some(map) = map.filter(|m| !m.is_empty()) else {
        return shape_error(node, format!("indices outside 0..{n} (or none)"));
    };
    let mut maps: Vec<Vec<usize>> = shape.iter().map(|&n| (0..n).collect()).collect();
    maps[a] = map;
    // a scalar index drops the axis from the node's shape (the relayout keeps it, of size 1)
    gathered(shape, maps, dims.is_empty().then_some(a))
}

/// After the walk: a gather (a Slice, a Gather, a nearest Resize) whose output only the next
/// gather reads, directly and with the same axes, is merged into it (the coordinate maps
/// compose): one relayout instead of two, as for a multi-axis slice that the legacy exporter
/// writes as one Slice per axis.
pub(crate) fn merge_gathers(nodes: &mut Vec<Node>, folded: &mut Vec<FoldedNode>) {
    let mut k = 0;
    while k < nodes.len() {
        let merged = match sole_reader(nodes, k) {
            Some((r, false)) => compose(&nodes[k].op, &nodes[r].op).map(|op| (r, op)),
            _ => None,
        };
        let Some((r, op)) = merged else {
            k += 1;
            continue;
        };
        nodes[r].op = op;
        nodes[r].in_shape = nodes[k].in_shape.clone();
        let gone = remove_node(nodes, k);
        let into = &mut nodes[r - 1];
        into.onnx_op = format!("{}+{}", gone.onnx_op, into.onnx_op);
        folded.push(FoldedNode {
            name: gone.name,
            onnx_op: gone.onnx_op,
            how: format!("merged into {}", nodes[r - 1].name),
        });
    }
}

/// `second` after `first`, as one gather, when both gather coordinates (no permutation) and
/// `second` reads `first`'s output with its axes.
fn compose(first: &Op, second: &Op) -> Option<Op> {
    let (Op::Transpose(a), Op::Transpose(b)) = (first, second) else {
        return None;
    };
    let (Placement::Gather(ma), Placement::Gather(mb)) = (&a.place, &b.place) else {
        return None;
    };
    if !(a.perm.is_empty() && b.perm.is_empty() && b.in_shape == a.out_shape) {
        return None;
    }
    let maps = ma
        .iter()
        .zip(mb)
        .map(|(ma, mb)| mb.iter().map(|&c| ma[c]).collect())
        .collect();
    Some(Op::Transpose(Transpose {
        in_shape: a.in_shape.clone(),
        perm: Vec::new(),
        out_shape: b.out_shape.clone(),
        place: Placement::Gather(maps),
    }))
}

fn known_shape(ctx: &Ctx) -> Result<Vec<usize>, Refusal> {
    ctx.shape
        .clone()
        .map_or_else(|| unsupported("per-sample input shape unknown"), Ok)
}

/// The coordinates `start + k step` ONNX's Slice takes from an axis of extent `n`.
fn coordinates(n: usize, start: i64, end: i64, step: i64) -> Result<Vec<usize>, String> {
    if n == 0 {
        return Err("an empty axis".into());
    }
    let n = n as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
    let (start, end) = match step {
        0 => return Err("a step of 0".into()),
        s if s > 0 => (norm(start).clamp(0, n), norm(end).clamp(0, n)),
        _ => (norm(start).clamp(0, n - 1), norm(end).clamp(-1, n - 1)),
    };
    let v: Vec<usize> = std::iter::successors(Some(start), |&c| c.checked_add(step))
        .take_while(|&c| if step > 0 { c < end } else { c > end })
        .map(|c| c as usize)
        .collect();
    if v.is_empty() {
        return Err("an empty slice".into());
    }
    Ok(v)
}

/// A graph Transpose of `shape` gathering `maps` per axis; `drop` removes that axis (of size 1)
/// from the node's shape.
fn gathered(
    shape: Vec<usize>,
    maps: Vec<Vec<usize>>,
    drop: Option<usize>,
) -> Result<Built, Refusal> {
    let out: Vec<usize> = maps.iter().map(Vec::len).collect();
    let mut node_shape = out.clone();
    if let Some(a) = drop {
        node_shape.remove(a);
        if node_shape.is_empty() {
            return unsupported("a scalar per sample");
        }
    }
    Ok(Built::Op {
        op: Op::Transpose(Transpose {
            in_shape: shape,
            perm: Vec::new(),
            out_shape: out,
            place: Placement::Gather(maps),
        }),
        out_shape: Some(node_shape),
    })
}

#[cfg(test)]
mod tests {
    use super::super::cnn_tests::{float_matches_tract, int_attr, onnx_model, rand_vals, tensor};
    use super::super::tests::{gap_reasons, import, ints, node};
    use crate::graph::Op;

    /// A conv to `[4, 5, 6]`, then `op` reading it and the constants `inputs`.
    fn after_conv(
        op: &str,
        inputs: &[&str],
        attrs: Vec<tract_onnx::pb::AttributeProto>,
        consts: Vec<tract_onnx::pb::TensorProto>,
    ) -> Vec<usize> {
        let dims = [1, 2, 5, 6];
        let mut all = vec!["c"];
        all.extend_from_slice(inputs);
        let nodes = vec![
            node("Conv", "conv", &["x", "w"], "c", vec![]),
            node(op, "cut", &all, "y", attrs),
        ];
        let mut inits = vec![tensor("w", &[4, 2, 1, 1], rand_vals(9, 8, -1.0, 1.0))];
        inits.extend(consts);
        let g = float_matches_tract(&onnx_model(&dims, nodes, inits), &dims);
        assert!(matches!(g.nodes[1].op, Op::Transpose(_)), "{op}");
        g.nodes[1].out_shape.clone().unwrap()
    }

    #[test]
    fn slices_match_tract() {
        // channels 1..3, every second row from the end backwards, columns -4..
        let consts = vec![
            ints("starts", &[1, -1, -4]),
            ints("ends", &[3, -100, 1000]),
            ints("axes", &[1, 2, -1]),
            ints("steps", &[1, -2, 1]),
        ];
        let out = after_conv(
            "Slice",
            &["starts", "ends", "axes", "steps"],
            vec![],
            consts,
        );
        assert_eq!(out, [2, 3, 4]);
        // no axes or steps: the leading axes, the batch kept whole
        let consts = vec![ints("starts", &[0, 2]), ints("ends", &[i64::MAX, 4])];
        assert_eq!(
            after_conv("Slice", &["starts", "ends"], vec![], consts),
            [2, 5, 6]
        );
    }

    #[test]
    fn consecutive_slices_merge_into_one_gather() {
        // a crop written as one Slice per axis, as the legacy exporter does
        let dims = [1, 2, 5, 6];
        let nodes = vec![
            node("Conv", "conv", &["x", "w"], "c", vec![]),
            node("Slice", "rows", &["c", "s1", "e1", "a1"], "r", vec![]),
            node("Slice", "cols", &["r", "s2", "e2", "a2"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w", &[4, 2, 1, 1], rand_vals(9, 8, -1.0, 1.0)),
            ints("s1", &[1]),
            ints("e1", &[4]),
            ints("a1", &[2]),
            ints("s2", &[-5]),
            ints("e2", &[-1]),
            ints("a2", &[3]),
        ];
        let g = float_matches_tract(&onnx_model(&dims, nodes, inits), &dims);
        assert_eq!(g.nodes.len(), 2, "{}", g.summary());
        assert_eq!(g.nodes[1].onnx_op, "Slice+Slice");
        assert_eq!(g.nodes[1].out_shape, Some(vec![4, 3, 4]));
        assert_eq!(g.folded.last().unwrap().how, "merged into cols");
    }

    #[test]
    fn gathers_of_constant_indices_match_tract() {
        let idx = vec![ints("idx", &[3, 0, -1, 0])];
        let out = after_conv("Gather", &["idx"], vec![int_attr("axis", 1)], idx);
        assert_eq!(out, [4, 5, 6]);
        // a scalar index drops the axis
        let mut scalar = ints("idx", &[2]);
        scalar.dims.clear();
        let out = after_conv("Gather", &["idx"], vec![int_attr("axis", -1)], vec![scalar]);
        assert_eq!(out, [4, 5]);
    }

    #[test]
    fn slices_of_the_batch_or_empty_ones_are_gaps() {
        for (starts, ends, axes, reason) in [
            (0, 1, 0, "a slice of the batch axis"),
            (3, 3, 1, "an empty slice"),
        ] {
            let relu = node("Relu", "r", &["x"], "r", vec![]);
            let cut = node("Slice", "cut", &["r", "s", "e", "a"], "y", vec![]);
            let consts = vec![ints("s", &[starts]), ints("e", &[ends]), ints("a", &[axes])];
            let m = onnx_model(&[1, 2, 3, 3], vec![relu, cut], consts);
            let gaps = gap_reasons(&import(&m).unwrap());
            assert!(gaps[0].1.contains(reason), "{gaps:?}");
        }
    }
}
