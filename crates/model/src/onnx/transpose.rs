//! Transpose. One that keeps the order of the data (it moves only axes of size 1, as tf2onnx's
//! NHWC -> NCHW on a one-channel input) is a Reshape. One that moves data is folded, after the
//! walk, into the dense layer that reads it through Flatten/Reshape nodes (Keras' NCHW -> NHWC
//! before `Flatten`): the dense layer's weight columns are permuted, which is exact. Any other
//! stays a gap: a permutation of activations is not proven yet.

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::affine::{remove_node, sole_reader};
use super::ops::{Built, Refusal, unsupported};
use super::proto::attr_ints;
use crate::error::UnsupportedOp;
use crate::graph::{FoldedNode, Node, Op};

/// A data-moving Transpose waiting to be folded: its per-sample input shape and permutation.
pub(crate) struct Pending {
    pub in_shape: Vec<usize>,
    pub perm: Vec<usize>,
}

/// Why a Transpose that moves data is a gap when it cannot be folded.
const GAP: &str = "a Transpose that moves data, not read by a dense layer through \
                   Flatten/Reshape only (a permutation of activations is not proven yet)";

pub(crate) fn transpose(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let Some(shape) = ctx.shape.clone() else {
        return unsupported("per-sample input shape unknown (after an unsupported op)");
    };
    let rank = shape.len() + 1;
    let perm: Vec<usize> = match attr_ints(node, "perm") {
        None => (0..rank).rev().collect(),
        Some(p) => p
            .iter()
            .map(|&a| usize::try_from(a).unwrap_or(rank))
            .collect(),
    };
    let mut sorted = perm.clone();
    sorted.sort_unstable();
    if sorted != (0..rank).collect::<Vec<_>>() {
        return unsupported(format!(
            "perm = {perm:?} is not a permutation of {rank} axes"
        ));
    }
    if perm[0] != 0 {
        return unsupported(format!(
            "perm = {perm:?} moves the batch axis (only per-sample permutations are supported)"
        ));
    }
    let perm: Vec<usize> = perm[1..].iter().map(|&a| a - 1).collect();
    let out_shape: Vec<usize> = perm.iter().map(|&a| shape[a]).collect();
    let moved: Vec<usize> = perm.iter().copied().filter(|&a| shape[a] != 1).collect();
    if moved.windows(2).all(|w| w[0] < w[1]) {
        return Ok(Built::Op {
            op: Op::Reshape,
            out_shape: Some(out_shape),
        });
    }
    // the node this builder makes comes next
    ctx.transposes.insert(
        ctx.nodes.len(),
        Pending {
            in_shape: shape,
            perm,
        },
    );
    Ok(Built::Op {
        op: Op::Unsupported(UnsupportedOp {
            node: String::new(),
            op_type: node.op_type.clone(),
            reason: GAP.into(),
        }),
        out_shape: Some(out_shape),
    })
}

/// After the walk: folds each pending Transpose (by node index) into the dense layer that alone
/// reads it, permuting its weight columns; the others stay gaps. Returns the indices of the
/// nodes removed, from the last.
pub(crate) fn fold_forward(
    nodes: &mut Vec<Node>,
    folded: &mut Vec<FoldedNode>,
    pending: &HashMap<usize, Pending>,
) -> Vec<usize> {
    let mut ks: Vec<usize> = pending.keys().copied().collect();
    ks.sort_unstable();
    let mut removed = Vec::new();
    for &k in ks.iter().rev() {
        let p = &pending[&k];
        let Some((r, _)) = sole_reader(nodes, k) else {
            continue;
        };
        let Op::Dense(d) = &mut nodes[r].op else {
            continue;
        };
        // column j of the dense layer reads flat index j of the transposed tensor, which is
        // input index src[j]
        let src = sources(&p.in_shape, &p.perm);
        if d.n_in != src.len() {
            continue;
        }
        let old = d.weight.clone();
        for o in 0..d.n_out {
            for (j, &s) in src.iter().enumerate() {
                d.weight[o * d.n_in + s] = old[o * d.n_in + j];
            }
        }
        let gone = remove_node(nodes, k);
        let into = &mut nodes[r - 1];
        into.onnx_op = format!("{}+{}", gone.onnx_op, into.onnx_op);
        folded.push(FoldedNode {
            name: gone.name,
            onnx_op: gone.onnx_op,
            how: format!(
                "folded into {} (its weight columns permuted)",
                nodes[r - 1].name
            ),
        });
        removed.push(k);
    }
    removed
}

/// For each C-order index of the transposed tensor, the C-order index of the input it holds.
fn sources(in_shape: &[usize], perm: &[usize]) -> Vec<usize> {
    let out_shape: Vec<usize> = perm.iter().map(|&a| in_shape[a]).collect();
    let mut in_strides = vec![1; in_shape.len()];
    for a in (0..in_shape.len().saturating_sub(1)).rev() {
        in_strides[a] = in_strides[a + 1] * in_shape[a + 1];
    }
    let n: usize = out_shape.iter().product();
    (0..n)
        .map(|mut j| {
            let mut s = 0;
            for (axis, &extent) in out_shape.iter().enumerate().rev() {
                s += (j % extent) * in_strides[perm[axis]];
                j /= extent;
            }
            s
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::cnn_tests::{float_matches_tract, ints_attr, onnx_model, rand_vals, tensor};
    use super::super::tests::{gap_reasons, import, node};
    use super::sources;
    use crate::graph::Op;

    #[test]
    fn sources_invert_the_permutation() {
        // [2, 3] transposed: out[j][i] = in[i][j]
        assert_eq!(sources(&[2, 3], &[1, 0]), [0, 3, 1, 4, 2, 5]);
        assert_eq!(sources(&[2, 1, 3], &[1, 2, 0]), [0, 3, 1, 4, 2, 5]);
        assert_eq!(sources(&[4], &[0]), [0, 1, 2, 3]);
    }

    #[test]
    fn an_nhwc_transpose_before_flatten_folds_into_the_dense_layer() {
        let nodes = vec![
            node("Conv", "conv", &["x", "w"], "c", vec![]),
            node(
                "Transpose",
                "nhwc",
                &["c"],
                "t",
                vec![ints_attr("perm", &[0, 2, 3, 1])],
            ),
            node("Flatten", "flat", &["t"], "f", vec![]),
            node("Gemm", "fc", &["f", "fc"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w", &[3, 2, 3, 3], rand_vals(1, 54, -1.0, 1.0)),
            tensor("fc", &[3 * 4 * 5, 4], rand_vals(2, 240, -0.5, 0.5)),
        ];
        let g = float_matches_tract(&onnx_model(&[1, 2, 6, 7], nodes, inits), &[1, 2, 6, 7]);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Conv", "Reshape", "Dense"]);
        assert_eq!(g.nodes[2].onnx_op, "Transpose+Gemm");
    }

    #[test]
    fn a_transpose_of_size_one_axes_is_a_reshape() {
        let t = node(
            "Transpose",
            "t",
            &["x"],
            "y",
            vec![ints_attr("perm", &[0, 3, 1, 2])],
        );
        let g = import(&onnx_model(&[1, 5, 4, 1], vec![t], vec![])).unwrap();
        assert!(matches!(g.nodes[0].op, Op::Reshape));
        assert_eq!(g.nodes[0].out_shape, Some(vec![1, 5, 4]));
    }

    #[test]
    fn other_transposes_are_gaps_with_their_reason() {
        let cases = [
            (vec![0, 2, 3, 1], "not read by a dense layer"),
            (vec![1, 0, 2, 3], "moves the batch axis"),
            (vec![0, 1, 1, 2], "is not a permutation"),
        ];
        for (perm, reason) in cases {
            let t = node(
                "Transpose",
                "t",
                &["x"],
                "y",
                vec![ints_attr("perm", &perm)],
            );
            let relu = node("Relu", "r", &["y"], "z", vec![]);
            let mut m = onnx_model(&[1, 2, 3, 4], vec![t, relu], vec![]);
            m.graph.as_mut().unwrap().output[0].name = "z".into();
            let gaps = gap_reasons(&import(&m).unwrap());
            assert_eq!(gaps.len(), 1, "{perm:?}: {gaps:?}");
            assert!(gaps[0].1.contains(reason), "{perm:?}: {gaps:?}");
        }
    }
}
