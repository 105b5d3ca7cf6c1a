//! 1-D Conv / MaxPool / AveragePool / GlobalAveragePool / ReduceMean on NCL inputs: imported as
//! the 2-D ops on `[C, 1, L]`, with ONNX's `[C, L']` tracked for the nodes after them; float
//! inference against tract, quantization, and the refusals.

use tract_onnx::pb::{NodeProto, TensorProto};

use super::cnn_tests::{
    float_matches_tract, int_attr, ints_attr, onnx_model, rand_vals, str_attr, tensor,
};
use super::tests::{gap_reasons, import, ints, node};
use crate::graph::Op;
use crate::quantize::{QuantConfig, quantize};

fn kinds(g: &crate::Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.kind()).collect()
}

#[test]
fn a_1d_cnn_matches_tract_and_tracks_ncl_shapes() {
    // Conv1d(2 -> 4, k 3, pad 1) + ReLU + MaxPool1d(2) + Conv1d(4 -> 3, k 2, stride 2,
    // dilation 2) + AvgPool1d(2, stride 1) + Flatten + Linear: L 12 -> 12 -> 6 -> 2 -> 1
    let nodes = vec![
        node(
            "Conv",
            "c1",
            &["x", "w1", "b1"],
            "c1",
            vec![ints_attr("pads", &[1, 1]), ints_attr("kernel_shape", &[3])],
        ),
        node("Relu", "r1", &["c1"], "r1", vec![]),
        node(
            "MaxPool",
            "mp",
            &["r1"],
            "mp",
            vec![ints_attr("kernel_shape", &[2]), ints_attr("strides", &[2])],
        ),
        node(
            "Conv",
            "c2",
            &["mp", "w2"],
            "c2",
            vec![ints_attr("strides", &[2]), ints_attr("dilations", &[2])],
        ),
        node(
            "AveragePool",
            "ap",
            &["c2"],
            "ap",
            vec![ints_attr("kernel_shape", &[2])],
        ),
        node("Flatten", "fl", &["ap"], "fl", vec![]),
        node(
            "Gemm",
            "fc",
            &["fl", "fc"],
            "y",
            vec![int_attr("transB", 1)],
        ),
    ];
    let inits = vec![
        tensor("w1", &[4, 2, 3], rand_vals(1, 24, -1.0, 1.0)),
        tensor("b1", &[4], rand_vals(2, 4, -0.5, 0.5)),
        tensor("w2", &[3, 4, 2], rand_vals(3, 24, -1.0, 1.0)),
        tensor("fc", &[5, 3], rand_vals(4, 15, -1.0, 1.0)),
    ];
    let g = float_matches_tract(&onnx_model(&[1, 2, 12], nodes, inits), &[1, 2, 12]);
    assert_eq!(
        kinds(&g),
        [
            "Conv", "Relu", "MaxPool", "Conv", "AvgPool", "Reshape", "Dense"
        ]
    );
    let shapes: Vec<_> = g
        .nodes
        .iter()
        .map(|n| n.out_shape.clone().unwrap())
        .collect();
    assert_eq!(
        shapes,
        [
            vec![4, 12],
            vec![4, 12],
            vec![4, 6],
            vec![3, 2],
            vec![3, 1],
            vec![3],
            vec![5]
        ]
    );
    let Op::Conv(c) = &g.nodes[0].op else {
        panic!()
    };
    assert_eq!((c.in_shape, c.out_shape), ([2, 1, 12], [4, 1, 12]));
    assert_eq!((c.window.kernel, c.window.pads), ([1, 3], [0, 1, 0, 1]));
    let Op::Conv(c) = &g.nodes[3].op else {
        panic!()
    };
    // dilation 2 widens the kernel to 3
    assert_eq!((c.window.kernel, c.window.stride), ([1, 3], [1, 2]));
}

#[test]
fn auto_pad_ceil_mode_and_batch_norm_in_1d() {
    let nodes = vec![
        node(
            "Conv",
            "c",
            &["x", "w"],
            "c",
            vec![
                str_attr("auto_pad", "SAME_UPPER"),
                ints_attr("strides", &[2]),
            ],
        ),
        node(
            "BatchNormalization",
            "bn",
            &["c", "g", "b", "m", "v"],
            "bn",
            vec![],
        ),
        node(
            "MaxPool",
            "mp",
            &["bn"],
            "mp",
            vec![
                ints_attr("kernel_shape", &[2]),
                ints_attr("strides", &[2]),
                int_attr("ceil_mode", 1),
            ],
        ),
        node(
            "AveragePool",
            "ap",
            &["mp"],
            "y",
            vec![
                ints_attr("kernel_shape", &[3]),
                ints_attr("pads", &[1, 1]),
                int_attr("count_include_pad", 1),
            ],
        ),
    ];
    let inits = vec![
        tensor("w", &[3, 1, 4], rand_vals(5, 12, -1.0, 1.0)),
        tensor("g", &[3], rand_vals(6, 3, 0.5, 1.5)),
        tensor("b", &[3], rand_vals(7, 3, -0.5, 0.5)),
        tensor("m", &[3], rand_vals(8, 3, -0.5, 0.5)),
        tensor("v", &[3], rand_vals(9, 3, 0.5, 1.5)),
    ];
    // L 13 -> SAME at stride 2: 7 -> ceil pool: 4 -> padded avg: 4
    let g = float_matches_tract(&onnx_model(&[1, 1, 13], nodes, inits), &[1, 1, 13]);
    assert_eq!(kinds(&g), ["Conv", "MaxPool", "AvgPool"]);
    assert_eq!(g.nodes[0].onnx_op, "Conv+BatchNormalization");
    assert_eq!(g.nodes[1].out_shape, Some(vec![3, 4]));
    assert_eq!(g.nodes[2].out_shape, Some(vec![3, 4]));
}

#[test]
fn reshapes_after_a_1d_op_see_its_onnx_shape() {
    // [0, 0, -1] copies C and L' from the tracked [C, L'] (a [C, 1, L'] would break it)
    let cases: Vec<(Vec<i64>, Vec<usize>)> = vec![
        (vec![0, 0, -1], vec![3, 4]),
        (vec![0, -1], vec![12]),
        (vec![0, 6, 2], vec![6, 2]),
    ];
    for (target, shape) in cases {
        let nodes = vec![
            node("Conv", "c", &["x", "w"], "c", vec![]),
            node("Reshape", "r", &["c", "t"], "r", vec![]),
            node("Flatten", "fl", &["r"], "fl", vec![]),
            node("Gemm", "fc", &["fl", "fc"], "y", vec![]),
        ];
        let inits = vec![
            tensor("w", &[3, 2, 3], rand_vals(1, 18, -1.0, 1.0)),
            ints("t", &target),
            tensor("fc", &[12, 2], rand_vals(2, 24, -1.0, 1.0)),
        ];
        let g = float_matches_tract(&onnx_model(&[1, 2, 6], nodes, inits), &[1, 2, 6]);
        assert_eq!(g.nodes[1].out_shape, Some(shape), "{target:?}");
    }
}

#[test]
fn global_pools_of_ncl_tensors() {
    let cases: Vec<(NodeProto, Vec<TensorProto>, i64, Vec<usize>)> = vec![
        (
            node("GlobalAveragePool", "p", &["c"], "p", vec![]),
            vec![],
            13,
            vec![3, 1],
        ),
        (
            node(
                "ReduceMean",
                "p",
                &["c"],
                "p",
                vec![ints_attr("axes", &[2]), int_attr("keepdims", 1)],
            ),
            vec![],
            13,
            vec![3, 1],
        ),
        (
            node(
                "ReduceMean",
                "p",
                &["c", "axes"],
                "p",
                vec![int_attr("keepdims", 0)],
            ),
            vec![ints("axes", &[-1])],
            18,
            vec![3],
        ),
    ];
    for (pool, extra, opset, shape) in cases {
        let mut inits = vec![
            tensor("w", &[3, 2, 3], rand_vals(1, 18, -1.0, 1.0)),
            tensor("fc", &[3, 2], rand_vals(2, 6, -1.0, 1.0)),
        ];
        inits.extend(extra);
        let nodes = vec![
            node("Conv", "c", &["x", "w"], "c", vec![]),
            pool,
            node("Flatten", "fl", &["p"], "fl", vec![]),
            node("MatMul", "fc", &["fl", "fc"], "y", vec![]),
        ];
        let mut m = onnx_model(&[1, 2, 9], nodes, inits);
        m.opset_import[0].version = opset;
        let g = float_matches_tract(&m, &[1, 2, 9]);
        assert_eq!(kinds(&g), ["Conv", "AvgPool", "Reshape", "Dense"]);
        assert_eq!(g.nodes[1].out_shape, Some(shape));
        let Op::AvgPool(p) = &g.nodes[1].op else {
            panic!()
        };
        assert_eq!((p.in_shape, p.window.kernel), ([3, 1, 7], [1, 7]));
    }
}

#[test]
fn a_1d_model_quantizes_with_the_2d_layers() {
    let nodes = vec![
        node("Conv", "c", &["x", "w"], "c", vec![]),
        node("Relu", "r", &["c"], "r", vec![]),
        node(
            "AveragePool",
            "ap",
            &["r"],
            "y",
            vec![ints_attr("kernel_shape", &[2]), ints_attr("strides", &[2])],
        ),
    ];
    let inits = vec![tensor("w", &[2, 3, 3], rand_vals(1, 18, -1.0, 1.0))];
    let g = float_matches_tract(&onnx_model(&[1, 3, 10], nodes, inits), &[1, 3, 10]);
    let x = rand_vals(3, 30, -1.0, 1.0);
    let qm = quantize(&g, std::slice::from_ref(&x), &QuantConfig::default()).unwrap();
    assert_eq!(qm.layers.len(), 2);
    assert_eq!(qm.forward(&qm.quantize_input(&x)).pop().unwrap().len(), 8);
}

#[test]
fn one_d_options_out_of_reach_are_gaps_and_rank_mismatches_errors() {
    let cases: Vec<(NodeProto, Vec<TensorProto>, &str)> = vec![
        (
            node(
                "MaxPool",
                "p",
                &["x"],
                "y",
                vec![ints_attr("kernel_shape", &[2, 2])],
            ),
            vec![],
            "kernel_shape = [2, 2] on a 1-D input",
        ),
        (
            node(
                "AveragePool",
                "p",
                &["x"],
                "y",
                vec![
                    ints_attr("kernel_shape", &[2]),
                    ints_attr("pads", &[1, 1, 1, 1]),
                ],
            ),
            vec![],
            "pads = [1, 1, 1, 1] (expected 2 values >= 0)",
        ),
        (
            node(
                "Conv",
                "p",
                &["x", "w"],
                "y",
                vec![ints_attr("strides", &[1, 1])],
            ),
            vec![tensor("w", &[2, 2, 3], vec![0.5; 12])],
            "strides = [1, 1] (expected 1 positive values)",
        ),
        (
            node(
                "ReduceMean",
                "p",
                &["x"],
                "y",
                vec![ints_attr("axes", &[1, 2])],
            ),
            vec![],
            "axes = [1, 2] (only the spatial axes",
        ),
        (
            node(
                "Conv",
                "p",
                &["x", "w"],
                "y",
                vec![ints_attr("dilations", &[0])],
            ),
            vec![tensor("w", &[2, 2, 3], vec![0.5; 12])],
            "dilations = [0]",
        ),
    ];
    for (n, inits, reason) in cases {
        let g = import(&onnx_model(&[1, 2, 8], vec![n], inits)).unwrap();
        let gaps = gap_reasons(&g);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].1.contains(reason), "{reason}: {gaps:?}");
    }
    // 2-D weights on an NCL input, and 1-D weights on an NCHW one: the model is inconsistent
    for (dims, w) in [
        (vec![1, 2, 8], vec![2, 2, 3, 3]),
        (vec![1, 2, 8, 8], vec![2, 2, 3]),
    ] {
        let conv = node("Conv", "p", &["x", "w"], "y", vec![]);
        let n = w.iter().product();
        let err = import(&onnx_model(
            &dims,
            vec![conv],
            vec![tensor("w", &w, vec![0.5; n])],
        ))
        .unwrap_err();
        assert!(err.to_string().contains("weights"), "{err}");
    }
}
