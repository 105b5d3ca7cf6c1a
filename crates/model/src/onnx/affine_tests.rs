//! Add, Sub, Mul, Div by constants: folded into the linear op before or after them where
//! exact, else a diagonal linear op; float inference against tract either way.

use tract_onnx::pb::{NodeProto, TensorProto};

use super::cnn_tests::{float_matches_tract, ints_attr, onnx_model, rand_vals, tensor};
use super::tests::{gap_reasons, import, node};
use crate::graph::{Graph, Op};

type Parts = (Vec<NodeProto>, Vec<TensorProto>);

fn kinds(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.kind()).collect()
}

fn folded_into(g: &Graph, name: &str) -> String {
    g.folded
        .iter()
        .find(|f| f.name == name)
        .map_or_else(|| format!("{name} not folded"), |f| f.how.clone())
}

/// `(x - mean) / std` per channel, then a conv with `pads`, ReLU, flatten, dense.
fn normalised_cnn(pads: usize) -> Parts {
    let pad = ints_attr("pads", &[pads; 4]);
    (
        vec![
            node("Sub", "sub", &["x", "mean"], "a", vec![]),
            node("Div", "div", &["a", "std"], "b", vec![]),
            node("Conv", "conv", &["b", "w"], "c", vec![pad]),
            node("Relu", "relu", &["c"], "r", vec![]),
            node("Flatten", "flat", &["r"], "f", vec![]),
            node("Gemm", "fc", &["f", "fc"], "y", vec![]),
        ],
        vec![
            tensor("mean", &[1, 2, 1, 1], vec![0.3, -0.2]),
            tensor("std", &[2, 1, 1], vec![0.5, 2.0]),
            tensor("w", &[3, 2, 3, 3], rand_vals(1, 54, -1.0, 1.0)),
            tensor("fc", &[1, 4], Vec::new()),
        ],
    )
}

fn with_fc(parts: Parts, n_in: usize) -> Parts {
    let (nodes, mut inits) = parts;
    inits.pop();
    inits.push(tensor("fc", &[n_in, 4], rand_vals(2, n_in * 4, -0.3, 0.3)));
    (nodes, inits)
}

#[test]
fn normalisation_folds_into_an_unpadded_conv() {
    let (nodes, inits) = with_fc(normalised_cnn(0), 3 * 5 * 5);
    let g = float_matches_tract(&onnx_model(&[1, 2, 7, 7], nodes, inits), &[1, 2, 7, 7]);
    assert_eq!(kinds(&g), ["Conv", "Relu", "Reshape", "Dense"]);
    assert_eq!(folded_into(&g, "sub"), "folded into conv");
    assert_eq!(folded_into(&g, "div"), "folded into sub");
    assert_eq!(g.nodes[0].onnx_op, "Sub+Div+Conv");
}

#[test]
fn normalisation_before_a_padded_conv_is_one_diagonal_conv() {
    // padding reads 0 after the shift: folding the shift into the conv would be wrong
    let (nodes, inits) = with_fc(normalised_cnn(1), 3 * 7 * 7);
    let g = float_matches_tract(&onnx_model(&[1, 2, 7, 7], nodes, inits), &[1, 2, 7, 7]);
    assert_eq!(kinds(&g), ["Conv", "Conv", "Relu", "Reshape", "Dense"]);
    let Op::Conv(diag) = &g.nodes[0].op else {
        unreachable!()
    };
    assert_eq!(diag.window.kernel, [1, 1]);
    assert_eq!(g.nodes[0].onnx_op, "Sub+Div");
}

#[test]
fn constants_around_dense_layers_fold_into_them() {
    let n =
        |op: &str, name: &str, a: &str, b: &str, out: &str| node(op, name, &[a, b], out, vec![]);
    let nodes: Vec<NodeProto> = vec![
        n("Sub", "center", "x", "half", "a"),
        n("Mul", "scale", "two", "a", "b"),
        n("MatMul", "fc1", "b", "w1", "c"),
        n("Add", "bias", "c", "b1", "d"),
        n("Mul", "bn_mul", "d", "gamma", "e"),
        n("Add", "bn_add", "e", "beta", "f"),
        node("Relu", "relu", &["f"], "g", vec![]),
        n("Sub", "neg", "one", "g", "h"),
        n("Gemm", "fc2", "h", "w2", "y"),
    ];
    let inits = vec![
        tensor("half", &[], vec![0.5]),
        tensor("two", &[1], vec![2.0]),
        tensor("w1", &[6, 5], rand_vals(3, 30, -1.0, 1.0)),
        tensor("b1", &[5], rand_vals(4, 5, -1.0, 1.0)),
        tensor("gamma", &[1, 5], rand_vals(5, 5, 0.5, 1.5)),
        tensor("beta", &[5], rand_vals(6, 5, -0.5, 0.5)),
        tensor("one", &[], vec![1.0]),
        tensor("w2", &[5, 3], rand_vals(7, 15, -1.0, 1.0)),
    ];
    let g = float_matches_tract(&onnx_model(&[1, 6], nodes, inits), &[1, 6]);
    // `1 - relu(..)` folds forward into fc2
    assert_eq!(kinds(&g), ["Dense", "Relu", "Dense"]);
    assert_eq!(g.nodes[0].onnx_op, "Sub+Mul+MatMul+Add+Mul+Add");
    assert_eq!(g.nodes[2].onnx_op, "Sub+Gemm");
}

#[test]
fn a_per_channel_map_folds_forward_through_a_flatten() {
    let nodes = vec![
        node("Mul", "mul", &["x", "s"], "a", vec![]),
        node("Add", "add", &["a", "t"], "b", vec![]),
        node("Flatten", "flat", &["b"], "f", vec![]),
        node("Gemm", "fc", &["f", "w"], "y", vec![]),
    ];
    let inits = vec![
        tensor("s", &[3, 1, 1], vec![0.5, 2.0, -1.0]),
        tensor("t", &[3, 1, 1], vec![0.1, 0.2, 0.3]),
        tensor("w", &[12, 2], rand_vals(8, 24, -1.0, 1.0)),
    ];
    let g = float_matches_tract(&onnx_model(&[1, 3, 2, 2], nodes, inits), &[1, 3, 2, 2]);
    assert_eq!(kinds(&g), ["Reshape", "Dense"]);
}

#[test]
fn constants_that_are_not_per_channel_or_divide_by_the_data_are_gaps() {
    let cases: Vec<(NodeProto, Vec<f32>, Vec<usize>, &str)> = vec![
        (
            node("Add", "op", &["x", "c"], "y", vec![]),
            rand_vals(1, 8, -1.0, 1.0),
            vec![1, 2, 2, 2],
            "only a scalar or one value per channel",
        ),
        // (a scalar divided by the data is an element-wise function: map_tests)
        (
            node("Div", "op", &["c", "x"], "y", vec![]),
            vec![1.0, 2.0],
            vec![2, 1, 1],
            "division of a constant by the data",
        ),
        (
            node("Div", "op", &["x", "c"], "y", vec![]),
            vec![2.0, 0.0],
            vec![2, 1, 1],
            "a constant that is zero",
        ),
    ];
    for (n, values, dims, reason) in cases {
        let m = onnx_model(&[1, 2, 2, 2], vec![n], vec![tensor("c", &dims, values)]);
        let gaps = gap_reasons(&import(&m).unwrap());
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].1.contains(reason), "{reason}: {gaps:?}");
    }
}

#[test]
fn a_map_over_a_huge_flat_input_is_a_gap_not_a_huge_allocation() {
    let nodes = vec![node("Sub", "sub", &["x", "c"], "y", vec![])];
    let m = onnx_model(&[1, 5000], nodes, vec![tensor("c", &[], vec![0.5])]);
    let gaps = gap_reasons(&import(&m).unwrap());
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].1.contains("5000 x 5000 diagonal layer"), "{gaps:?}");
}
