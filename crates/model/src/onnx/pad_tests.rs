//! Constant zero Pads folded into the padding of the Conv / AveragePool / MaxPool (of a Relu's
//! output) that reads them, in 2-D and 1-D, in the opset 11+ form (pads as an input) and the
//! older attribute form; float inference against tract; every refusal with its reason.

use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

use super::cnn_tests::{
    float_matches_tract, int_attr, ints_attr, onnx_model, rand_vals, str_attr, tensor,
};
use super::tests::{float_attr, gap_reasons, import, ints, node};
use crate::graph::{Graph, Op};

/// A Pad of `x` into `p` with its pads as input `pads` (and `extra` inputs after it).
fn pad(extra: &[&str], attrs: Vec<AttributeProto>) -> NodeProto {
    let mut inputs = vec!["x", "pads"];
    inputs.extend(extra);
    node("Pad", "pad", &inputs, "p", attrs)
}

fn kinds(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.kind()).collect()
}

fn conv_w(dims: &[usize]) -> TensorProto {
    let n = dims.iter().product();
    tensor("w", dims, rand_vals(n as u64, n, -1.0, 1.0))
}

#[test]
fn a_zero_pad_folds_into_the_conv_that_reads_it() {
    // ZeroPad2d((1, 2, 0, 1)) before a padded conv; the value as an explicit 0 input
    let nodes = vec![
        pad(&["zero"], vec![]),
        node(
            "Conv",
            "conv",
            &["p", "w"],
            "y",
            vec![ints_attr("pads", &[1, 0, 0, 1])],
        ),
    ];
    let inits = vec![
        ints("pads", &[0, 0, 0, 1, 0, 0, 1, 2]),
        tensor("zero", &[], vec![0.0]),
        conv_w(&[3, 2, 3, 3]),
    ];
    let g = float_matches_tract(&onnx_model(&[1, 2, 5, 6], nodes, inits), &[1, 2, 5, 6]);
    assert_eq!(kinds(&g), ["Conv"]);
    let Op::Conv(c) = &g.nodes[0].op else {
        panic!()
    };
    assert_eq!(c.in_shape, [2, 5, 6]);
    assert_eq!(c.window.pads, [1, 1, 1, 3]);
    assert_eq!(g.nodes[0].in_shape, Some(vec![2, 5, 6]));
    assert!(
        g.folded
            .iter()
            .any(|f| f.name == "pad" && f.how.contains("conv"))
    );
}

#[test]
fn a_zero_pad_of_an_ncl_tensor_folds_into_a_1d_conv_after_a_relu() {
    let nodes = vec![
        node("Conv", "c0", &["x", "w0"], "c", vec![]),
        node("Relu", "relu", &["c"], "r", vec![]),
        node("Pad", "pad", &["r", "pads"], "p", vec![]),
        node("Conv", "conv", &["p", "w"], "y", vec![]),
    ];
    let mut w0 = conv_w(&[3, 3, 1]);
    w0.name = "w0".into();
    let inits = vec![ints("pads", &[0, 0, 2, 0, 0, 1]), w0, conv_w(&[2, 3, 4])];
    let g = float_matches_tract(&onnx_model(&[1, 3, 7], nodes, inits), &[1, 3, 7]);
    assert_eq!(kinds(&g), ["Conv", "Relu", "Conv"]);
    let Op::Conv(c) = &g.nodes[2].op else {
        panic!()
    };
    assert_eq!((c.in_shape, c.window.pads), ([3, 1, 7], [0, 2, 0, 1]));
    assert_eq!(g.nodes[2].inputs, [2]);
    assert_eq!(g.nodes[2].out_shape, Some(vec![2, 7]));
}

#[test]
fn a_zero_pad_folds_into_an_average_pool_whatever_count_include_pad() {
    // the Pad's zeros are inputs ONNX divides by: the divisor is the window area either way
    for (cip, own) in [(0, [0; 4]), (1, [0; 4]), (1, [1, 0, 0, 1])] {
        let nodes = vec![
            pad(&[], vec![]),
            node(
                "AveragePool",
                "avg",
                &["p"],
                "y",
                vec![
                    ints_attr("kernel_shape", &[2, 3]),
                    ints_attr("pads", &own),
                    int_attr("count_include_pad", cip),
                ],
            ),
        ];
        let inits = vec![ints("pads", &[0, 0, 1, 1, 0, 0, 0, 1])];
        let g = float_matches_tract(&onnx_model(&[1, 2, 4, 5], nodes, inits), &[1, 2, 4, 5]);
        assert_eq!(kinds(&g), ["AvgPool"], "{cip} {own:?}");
        let Op::AvgPool(p) = &g.nodes[0].op else {
            panic!()
        };
        let want = [1 + own[0], 1 + own[1], own[2], 1 + own[3]];
        assert_eq!((p.in_shape, p.window.pads), ([2, 4, 5], want));
    }
}

#[test]
fn a_zero_pad_of_a_relu_output_folds_into_a_max_pool() {
    let nodes = vec![
        node("Conv", "conv", &["x", "w"], "c", vec![]),
        node("Relu", "relu", &["c"], "r", vec![]),
        node("Pad", "pad", &["r", "pads"], "p", vec![]),
        node(
            "MaxPool",
            "max",
            &["p"],
            "y",
            vec![
                ints_attr("kernel_shape", &[2, 2]),
                ints_attr("strides", &[2, 2]),
            ],
        ),
    ];
    let inits = vec![
        ints("pads", &[0, 0, 1, 1, 0, 0, 1, 1]),
        conv_w(&[2, 2, 1, 1]),
    ];
    let g = float_matches_tract(&onnx_model(&[1, 2, 4, 4], nodes, inits), &[1, 2, 4, 4]);
    assert_eq!(kinds(&g), ["Conv", "Relu", "MaxPool"]);
    let Op::MaxPool(p) = &g.nodes[2].op else {
        panic!()
    };
    assert_eq!((p.in_shape, p.window.pads), ([2, 4, 4], [1, 1, 1, 1]));
}

#[test]
fn the_attribute_form_before_opset_11_and_the_axes_input_of_opset_18() {
    // opset 10: pads and value are attributes
    let nodes = vec![
        node(
            "Pad",
            "pad",
            &["x"],
            "p",
            vec![
                ints_attr("pads", &[0, 0, 1, 0, 0, 0, 2, 1]),
                str_attr("mode", "constant"),
                float_attr("value", 0.0),
            ],
        ),
        node("Conv", "conv", &["p", "w"], "y", vec![]),
    ];
    let mut m = onnx_model(&[1, 2, 4, 4], nodes, vec![conv_w(&[2, 2, 3, 3])]);
    m.opset_import[0].version = 10;
    let g = import(&m).unwrap();
    let Op::Conv(c) = &g.nodes[0].op else {
        panic!("{:?}", g.nodes)
    };
    assert_eq!(c.window.pads, [1, 0, 2, 1]);
    // opset 18: pads on the axes listed (the last one, counted from the end)
    let nodes = vec![
        pad(&["", "axes"], vec![]),
        node("Conv", "conv", &["p", "w"], "y", vec![]),
    ];
    let inits = vec![
        ints("pads", &[3, 1]),
        ints("axes", &[-1]),
        conv_w(&[2, 2, 3]),
    ];
    let mut m = onnx_model(&[1, 2, 4], nodes, inits);
    m.opset_import[0].version = 18;
    let g = import(&m).unwrap();
    let Op::Conv(c) = &g.nodes[0].op else {
        panic!("{:?}", g.nodes)
    };
    assert_eq!(c.window.pads, [0, 3, 0, 1]);
}

/// Imports `nodes` on an input `dims` and returns the gaps: (node, reason).
fn gaps(dims: &[usize], nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> Vec<(String, String)> {
    gap_reasons(&import(&onnx_model(dims, nodes, inits)).unwrap())
}

#[test]
fn pads_that_are_not_a_zero_border_are_gaps_with_their_reason() {
    let conv = || node("Conv", "conv", &["p", "w"], "y", vec![]);
    let spatial = [0, 0, 1, 1, 0, 0, 1, 1];
    let cases: Vec<(NodeProto, Vec<i64>, Vec<TensorProto>, &str)> = vec![
        (
            pad(&[], vec![str_attr("mode", "reflect")]),
            spatial.to_vec(),
            vec![],
            "mode = \"reflect\"",
        ),
        (
            pad(&[], vec![str_attr("mode", "edge")]),
            spatial.to_vec(),
            vec![],
            "mode = \"edge\"",
        ),
        (
            pad(&["v"], vec![]),
            spatial.to_vec(),
            vec![tensor("v", &[], vec![0.5])],
            "constant value 0.5",
        ),
        (
            pad(&[], vec![]),
            vec![0, 0, -1, 0, 0, 0, 0, 0],
            vec![],
            "negative pads",
        ),
        (
            pad(&[], vec![]),
            vec![0, 1, 0, 0, 0, 0, 0, 0],
            vec![],
            "pads on the batch or channel axis",
        ),
        (
            pad(&[], vec![]),
            vec![0, 0, 1, 1],
            vec![],
            "pads = [0, 0, 1, 1] for 4 axes",
        ),
    ];
    for (p, pads, mut inits, reason) in cases {
        inits.push(ints("pads", &pads));
        inits.push(conv_w(&[2, 2, 3, 3]));
        let gaps = gaps(&[1, 2, 5, 5], vec![p, conv()], inits);
        assert!(
            gaps.iter().any(|(n, r)| n == "pad" && r.contains(reason)),
            "{reason}: {gaps:?}"
        );
    }
}

#[test]
fn a_pad_no_window_op_can_take_stays_a_gap_saying_why() {
    let inits = |w: &[usize]| vec![ints("pads", &[0, 0, 1, 1, 0, 0, 1, 1]), conv_w(w)];
    let max = |input: &str| {
        node(
            "MaxPool",
            "max",
            &[input],
            "y",
            vec![ints_attr("kernel_shape", &[2, 2])],
        )
    };
    let cases: Vec<(Vec<NodeProto>, Vec<TensorProto>, &str)> = vec![
        // a MaxPool of data that may be negative: the zeros could win
        (
            vec![pad(&[], vec![]), max("p")],
            inits(&[1, 1, 1, 1]),
            "not folded into the MaxPool that reads it: a zero Pad before a MaxPool of values \
             that may be negative",
        ),
        // read by a Dense (through Flatten)
        (
            vec![
                pad(&[], vec![]),
                node("Flatten", "fl", &["p"], "f", vec![]),
                node("MatMul", "fc", &["f", "w"], "y", vec![]),
            ],
            vec![
                ints("pads", &[0, 0, 1, 1, 0, 0, 1, 1]),
                tensor("w", &[2 * 7 * 7, 3], vec![0.1; 294]),
            ],
            "a constant zero Pad is folded only into the padding of the Conv",
        ),
        // two readers
        (
            vec![
                pad(&[], vec![]),
                node("Conv", "c1", &["p", "w"], "a", vec![]),
                node("Conv", "c2", &["p", "w"], "b", vec![]),
                node("Add", "add", &["a", "b"], "y", vec![]),
            ],
            inits(&[2, 2, 3, 3]),
            "its output has 2 readers",
        ),
        // the merged padding past the key's limit
        (
            vec![
                pad(&[], vec![]),
                node(
                    "Conv",
                    "conv",
                    &["p", "w"],
                    "y",
                    vec![ints_attr("pads", &[63, 0, 0, 0])],
                ),
            ],
            inits(&[2, 2, 3, 3]),
            "not folded into the Conv that reads it: pads = [64, 1, 1, 1] (below 64",
        ),
    ];
    for (nodes, inits, reason) in cases {
        let gaps = gaps(&[1, 2, 5, 5], nodes, inits);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].0, "pad");
        assert!(gaps[0].1.contains(reason), "{reason}: {gaps:?}");
    }
}

#[test]
fn a_max_pool_window_in_the_pad_zeros_alone_is_not_folded() {
    // a 2-wide pad and a 2x2 window at stride 2: the first window reads the Pad's zeros only
    let nodes = vec![
        node("Relu", "relu", &["x"], "r", vec![]),
        node("Pad", "pad", &["r", "pads"], "p", vec![]),
        node(
            "MaxPool",
            "max",
            &["p"],
            "y",
            vec![
                ints_attr("kernel_shape", &[2, 2]),
                ints_attr("strides", &[2, 2]),
            ],
        ),
    ];
    let inits = vec![ints("pads", &[0, 0, 2, 0, 0, 0, 0, 0])];
    let gaps = gaps(&[1, 1, 4, 4], nodes, inits);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].1.contains("entirely in the padding"), "{gaps:?}");
}
