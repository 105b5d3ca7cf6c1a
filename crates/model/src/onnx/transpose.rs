//! Transpose. One that keeps the order of the data (it moves only axes of size 1, as tf2onnx's
//! NHWC -> NCHW on a one-channel input) is a Reshape. One that is the first node and alone
//! reads the graph input (tf2onnx's NHWC -> NCHW) becomes the graph's `input_perm`: the public
//! input is permuted as it is quantized, by prover and verifier alike, and the node is a
//! Reshape. One that moves data is folded, after the walk, into the dense layer that reads it
//! through Flatten/Reshape nodes (Keras' NCHW -> NHWC before `Flatten`): the dense layer's
//! weight columns are permuted, which is exact. Any other is a graph `Transpose`, proven as a
//! permutation (a relayout layer).

use std::collections::HashMap;

use tract_onnx::pb::NodeProto;

use super::Ctx;
use super::affine::{remove_node, sole_reader};
use super::ops::{Built, Refusal, shape_error, unsupported};
use super::proto::{attr_int, attr_ints, attr_string};
use crate::graph::{FoldedNode, Node, Op, Transpose, permuted_sources};
use crate::relayout::Placement;

/// A data-moving Transpose waiting to be folded: its per-sample input shape and permutation.
pub(crate) struct Pending {
    pub in_shape: Vec<usize>,
    pub perm: Vec<usize>,
}

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
    // the data order is kept, or this reads the graph input alone and first (NHWC -> NCHW):
    // the input is permuted before the first node, and this is a Reshape
    let at_input = ctx.nodes.is_empty()
        && ctx.input_perm.is_empty()
        && matches!(ctx.sources.as_slice(), [(name, t)] if t.id == 0 && ctx.reads(name) == 1);
    if moved.windows(2).all(|w| w[0] < w[1]) || at_input {
        if !moved.windows(2).all(|w| w[0] < w[1]) {
            ctx.input_perm = perm;
        }
        return Ok(Built::Op {
            op: Op::Reshape,
            out_shape: Some(out_shape),
        });
    }
    // the node this builder makes comes next
    ctx.transposes.insert(
        ctx.nodes.len(),
        Pending {
            in_shape: shape.clone(),
            perm: perm.clone(),
        },
    );
    Ok(Built::Op {
        op: Op::Transpose(Transpose {
            in_shape: shape,
            perm,
            out_shape: out_shape.clone(),
            place: Placement::Whole,
        }),
        out_shape: Some(out_shape),
    })
}

/// DepthToSpace (PyTorch's `PixelShuffle`: mode CRD; DCR, the default, as TensorFlow writes it):
/// `[C r r, H, W] -> [C, H r, W r]`, a Transpose of a finer view of the tensor.
pub(crate) fn depth_to_space(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let ([c, h, w], r) = block(node, ctx)?;
    if c % (r * r) != 0 {
        return shape_error(node, format!("{c} channels for a block of {r}x{r}"));
    }
    let d = c / (r * r);
    let (view, perm) = match attr_string(node, "mode", "DCR").as_str() {
        "DCR" => (vec![r, r, d, h, w], vec![2, 3, 0, 4, 1]),
        "CRD" => (vec![d, r, r, h, w], vec![0, 3, 1, 4, 2]),
        other => return unsupported(format!("mode {other:?} (DCR or CRD)")),
    };
    relaid(ctx, view, perm, vec![d, h * r, w * r])
}

/// SpaceToDepth: `[C, H, W] -> [C r r, H / r, W / r]`, a Transpose of a finer view.
pub(crate) fn space_to_depth(node: &NodeProto, ctx: &mut Ctx) -> Result<Built, Refusal> {
    let ([c, h, w], r) = block(node, ctx)?;
    if h % r != 0 || w % r != 0 {
        return shape_error(node, format!("{h}x{w} for a block of {r}x{r}"));
    }
    let view = vec![c, h / r, r, w / r, r];
    relaid(
        ctx,
        view,
        vec![2, 4, 0, 1, 3],
        vec![c * r * r, h / r, w / r],
    )
}

/// The `[C, H, W]` input and the block size of a DepthToSpace or SpaceToDepth.
fn block(node: &NodeProto, ctx: &Ctx) -> Result<([usize; 3], usize), Refusal> {
    let r = attr_int(node, "blocksize", 0);
    let Some(r) = usize::try_from(r).ok().filter(|r| (1..=64).contains(r)) else {
        return unsupported(format!("blocksize = {r} (1 to 64 are supported)"));
    };
    match ctx.shape.as_deref() {
        Some(&[c, h, w]) => Ok(([c, h, w], r)),
        Some(s) => unsupported(format!("per-sample input shape {s:?} is not [C, H, W]")),
        None => unsupported("per-sample input shape unknown (after an unsupported op)"),
    }
}

/// A graph Transpose of `view` by `perm`, read as `out_shape`; queued for folding into a
/// dense layer that alone reads it, like a Transpose.
fn relaid(
    ctx: &mut Ctx,
    view: Vec<usize>,
    perm: Vec<usize>,
    out_shape: Vec<usize>,
) -> Result<Built, Refusal> {
    ctx.transposes.insert(
        ctx.nodes.len(),
        Pending {
            in_shape: view.clone(),
            perm: perm.clone(),
        },
    );
    Ok(Built::Op {
        op: Op::Transpose(Transpose {
            in_shape: view,
            perm,
            out_shape: out_shape.clone(),
            place: Placement::Whole,
        }),
        out_shape: Some(out_shape),
    })
}

/// After the walk: folds each pending Transpose (by node index) into the dense layer that alone
/// reads it, permuting its weight columns; the others stay graph Transposes. Returns the indices of the
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
        let src = permuted_sources(&p.in_shape, &p.perm);
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

#[cfg(test)]
mod tests {
    use super::super::cnn_tests::{float_matches_tract, ints_attr, onnx_model, rand_vals, tensor};
    use super::super::tests::{gap_reasons, import, node};
    use crate::graph::Op;
    use crate::graph::permuted_sources as sources;

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
    fn a_transpose_of_the_input_permutes_the_input() {
        // tf2onnx's NHWC model: Transpose to NCHW, a padded conv, back to NHWC, Flatten, Gemm
        let nodes = vec![
            node(
                "Transpose",
                "in",
                &["x"],
                "t",
                vec![ints_attr("perm", &[0, 3, 1, 2])],
            ),
            node(
                "Conv",
                "conv",
                &["t", "w"],
                "c",
                vec![ints_attr("pads", &[1; 4])],
            ),
            node(
                "Transpose",
                "out",
                &["c"],
                "u",
                vec![ints_attr("perm", &[0, 2, 3, 1])],
            ),
            node("Flatten", "flat", &["u"], "f", vec![]),
            node("Gemm", "fc", &["f", "fc"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w", &[2, 3, 3, 3], rand_vals(3, 54, -1.0, 1.0)),
            tensor("fc", &[2 * 5 * 4, 3], rand_vals(4, 120, -0.5, 0.5)),
        ];
        let g = float_matches_tract(&onnx_model(&[1, 5, 4, 3], nodes, inits), &[1, 5, 4, 3]);
        assert_eq!(g.input_perm, [2, 0, 1]);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Reshape", "Conv", "Reshape", "Dense"]);
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

    /// NHWC Keras style inside a model on `[1, 2, 6, 7]`: a conv, NCHW -> NHWC, a ReLU,
    /// NHWC -> NCHW, a conv.
    fn transposes_around_a_relu() -> tract_onnx::pb::ModelProto {
        let nodes = vec![
            node("Conv", "c1", &["x", "w1"], "a", vec![]),
            node(
                "Transpose",
                "t1",
                &["a"],
                "b",
                vec![ints_attr("perm", &[0, 2, 3, 1])],
            ),
            node("Relu", "r", &["b"], "c", vec![]),
            node(
                "Transpose",
                "t2",
                &["c"],
                "d",
                vec![ints_attr("perm", &[0, 3, 1, 2])],
            ),
            node("Conv", "c2", &["d", "w2"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w1", &[3, 2, 3, 3], rand_vals(5, 54, -1.0, 1.0)),
            tensor("w2", &[2, 3, 2, 2], rand_vals(6, 24, -1.0, 1.0)),
        ];
        onnx_model(&[1, 2, 6, 7], nodes, inits)
    }

    #[test]
    fn a_transpose_between_convs_is_a_graph_transpose() {
        let g = float_matches_tract(&transposes_around_a_relu(), &[1, 2, 6, 7]);
        let kinds: Vec<&str> = g.nodes.iter().map(|n| n.op.kind()).collect();
        assert_eq!(kinds, ["Conv", "Transpose", "Relu", "Transpose", "Conv"]);
        let Op::Transpose(t) = &g.nodes[1].op else {
            unreachable!()
        };
        assert_eq!(
            (t.in_shape.as_slice(), t.perm.as_slice()),
            (&[3, 4, 5][..], &[1, 2, 0][..])
        );
    }

    #[test]
    fn quantization_relays_out_what_a_window_op_reads_in_another_layout() {
        use crate::quantize::{QuantConfig, quantize};
        use crate::quantized::QuantLayer;
        let layers = |m: &tract_onnx::pb::ModelProto, dims: &[usize]| {
            let g = float_matches_tract(m, dims);
            let x = rand_vals(7, dims.iter().product(), -1.0, 1.0);
            let q = quantize(&g, std::slice::from_ref(&x), &QuantConfig::default()).unwrap();
            // integer inference runs through the relayouts
            q.forward(&q.quantize_input(&x));
            q.layers
        };
        // the Transposes around the ReLU become one relayout each, the ReLU the first conv's
        let q = layers(&transposes_around_a_relu(), &[1, 2, 6, 7]);
        assert!(matches!(&q[0], QuantLayer::Conv(c) if c.relu));
        assert!(matches!(&q[1], QuantLayer::Relayout(r) if r.out_dims == [4, 5, 3]));
        assert!(matches!(&q[2], QuantLayer::Relayout(r) if r.in_dims == [4, 5, 3]));
        assert!(matches!(&q[3], QuantLayer::Conv(_)));
        // a conv after a dense layer reads its output through a relayout [12] -> [3, 2, 2]
        let nodes = vec![
            node("Gemm", "fc", &["x", "fc"], "a", vec![]),
            node("Reshape", "un", &["a", "shape"], "b", vec![]),
            node("Conv", "c", &["b", "w"], "y", vec![]),
        ];
        let inits = vec![
            tensor("fc", &[5, 12], rand_vals(8, 60, -1.0, 1.0)),
            super::super::tests::ints("shape", &[1, 3, 2, 2]),
            tensor("w", &[2, 3, 2, 2], rand_vals(9, 24, -1.0, 1.0)),
        ];
        let q = layers(&onnx_model(&[1, 5], nodes, inits), &[1, 5]);
        let QuantLayer::Relayout(r) = &q[1] else {
            panic!("no relayout")
        };
        assert_eq!(
            (r.in_dims.as_slice(), r.out_dims.as_slice()),
            (&[12][..], &[3, 2, 2][..])
        );
        assert!(r.perm.is_empty());
    }

    #[test]
    fn depth_to_space_and_space_to_depth_match_tract() {
        use super::super::cnn_tests::{int_attr, str_attr};
        for (op, mode, dims, out) in [
            ("DepthToSpace", "DCR", [1, 8, 3, 2], vec![2, 6, 4]),
            ("DepthToSpace", "CRD", [1, 8, 3, 2], vec![2, 6, 4]),
            ("SpaceToDepth", "DCR", [1, 2, 4, 6], vec![8, 2, 3]),
        ] {
            // after a conv (a Transpose of the graph input would be the input's permutation)
            let c = dims[1];
            let mut attrs = vec![int_attr("blocksize", 2)];
            if op == "DepthToSpace" {
                attrs.push(str_attr("mode", mode));
            }
            let nodes = vec![
                node("Conv", "conv", &["x", "w"], "c", vec![]),
                node(op, "d2s", &["c"], "y", attrs),
            ];
            let inits = vec![tensor("w", &[c, c, 1, 1], rand_vals(7, c * c, -1.0, 1.0))];
            let g = float_matches_tract(&onnx_model(&dims, nodes, inits), &dims);
            assert!(matches!(g.nodes[1].op, Op::Transpose(_)), "{op} {mode}");
            assert_eq!(g.nodes[1].out_shape, Some(out), "{op} {mode}");
        }
    }

    #[test]
    fn other_transposes_are_gaps_with_their_reason() {
        let cases = [
            (vec![1, 0, 2, 3], "moves the batch axis"),
            (vec![0, 1, 1, 2], "is not a permutation"),
        ];
        for (perm, reason) in cases {
            // after a Relu: a Transpose of the graph input itself is the input's permutation
            let relu = node("Relu", "r", &["x"], "r", vec![]);
            let t = node(
                "Transpose",
                "t",
                &["r"],
                "y",
                vec![ints_attr("perm", &perm)],
            );
            let m = onnx_model(&[1, 2, 3, 4], vec![relu, t], vec![]);
            let gaps = gap_reasons(&import(&m).unwrap());
            assert_eq!(gaps.len(), 1, "{perm:?}: {gaps:?}");
            assert!(gaps[0].1.contains(reason), "{perm:?}: {gaps:?}");
        }
    }
}
