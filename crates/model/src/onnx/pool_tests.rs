//! Average pools on hand-built protobufs: float inference against tract, the quantized pool
//! within one step of the float one (divisors that vary by position included), ReLU fusion,
//! and the options that are refused.

use tract_onnx::pb::NodeProto;

use super::cnn_tests::{
    float_matches_tract, int_attr, ints_attr, onnx_model, rand_vals, str_attr, tensor,
};
use super::tests::{gap_reasons, import, ints, node};
use crate::graph::Op;
use crate::quantize::{QuantConfig, quantize};
use crate::quantized::QuantLayer;

fn pool_node(op: &str, attrs: Vec<tract_onnx::pb::AttributeProto>) -> NodeProto {
    node(op, "pool", &["x"], "y", attrs)
}

#[test]
fn average_pools_match_tract_within_one_step_when_quantized() {
    let k = |a, b| ints_attr("kernel_shape", &[a, b]);
    let cases: Vec<(Vec<usize>, NodeProto, [usize; 3])> = vec![
        (
            vec![1, 2, 6, 6],
            pool_node("AveragePool", vec![k(2, 2), ints_attr("strides", &[2, 2])]),
            [2, 3, 3],
        ),
        (
            vec![1, 3, 5, 7],
            pool_node(
                "AveragePool",
                vec![
                    k(3, 2),
                    ints_attr("pads", &[1, 0, 1, 1]),
                    int_attr("count_include_pad", 1),
                ],
            ),
            [3, 5, 7],
        ),
        (
            // ceil_mode that adds no window: the same as floor
            vec![1, 1, 5, 5],
            pool_node(
                "AveragePool",
                vec![
                    k(3, 3),
                    ints_attr("strides", &[2, 2]),
                    int_attr("ceil_mode", 1),
                ],
            ),
            [1, 2, 2],
        ),
        (
            vec![1, 2, 4, 4],
            pool_node("AveragePool", vec![k(2, 2), str_attr("auto_pad", "VALID")]),
            [2, 3, 3],
        ),
        (
            vec![1, 4, 3, 5],
            pool_node("GlobalAveragePool", vec![]),
            [4, 1, 1],
        ),
        // divisors that vary by position: border windows without the pads
        // (count_include_pad = 0, as Keras' padding="same"), a ceil-mode window past the input
        // (divided by its positions in the input), past the pads (by those in the padded input)
        (
            vec![1, 2, 6, 6],
            pool_node(
                "AveragePool",
                vec![k(3, 3), ints_attr("pads", &[1, 1, 1, 1])],
            ),
            [2, 6, 6],
        ),
        (
            vec![1, 2, 5, 6],
            pool_node(
                "AveragePool",
                vec![
                    k(2, 2),
                    ints_attr("strides", &[2, 2]),
                    str_attr("auto_pad", "SAME_UPPER"),
                ],
            ),
            [2, 3, 3],
        ),
        (
            vec![1, 2, 6, 6],
            pool_node(
                "AveragePool",
                vec![
                    k(3, 3),
                    ints_attr("strides", &[2, 2]),
                    int_attr("ceil_mode", 1),
                ],
            ),
            [2, 3, 3],
        ),
        (
            vec![1, 1, 6, 7],
            pool_node(
                "AveragePool",
                vec![
                    k(3, 3),
                    ints_attr("strides", &[2, 2]),
                    ints_attr("pads", &[1, 0, 1, 2]),
                    int_attr("count_include_pad", 1),
                    int_attr("ceil_mode", 1),
                ],
            ),
            [1, 4, 4],
        ),
        (
            vec![1, 4, 3, 3],
            node(
                "ReduceMean",
                "pool",
                &["x"],
                "y",
                vec![ints_attr("axes", &[2, 3]), int_attr("keepdims", 1)],
            ),
            [4, 1, 1],
        ),
    ];
    for (dims, n, out) in cases {
        let m = onnx_model(&dims, vec![n], vec![]);
        let g = float_matches_tract(&m, &dims);
        let Op::AvgPool(p) = &g.nodes[0].op else {
            panic!("{:?}", g.nodes[0].op)
        };
        assert_eq!(p.out_shape, out);
        let x = rand_vals(11, g.input_len(), -1.0, 1.0);
        let qm = quantize(&g, std::slice::from_ref(&x), &QuantConfig::default()).unwrap();
        let xq = qm.quantize_input(&x);
        let y = qm.forward(&xq).pop().unwrap();
        let x_back: Vec<f32> = xq
            .iter()
            .map(|&v| (v as f64 * qm.input_scale) as f32)
            .collect();
        let want = g.float_forward(&x_back).unwrap().pop().unwrap();
        let QuantLayer::AvgPool(q) = &qm.layers[0] else {
            panic!()
        };
        for (&yq, &w) in y.iter().zip(&want) {
            let got = yq as f64 * q.out_scale;
            assert!((got - w).abs() <= q.out_scale, "{dims:?}: {got} vs {w}");
        }
    }
}

#[test]
fn a_relu_after_an_average_pool_is_its_clamp_and_reduce_mean_may_drop_the_axes() {
    let w = tensor("w", &[3, 2, 3, 3], rand_vals(3, 54, -1.0, 1.0));
    let fc = tensor("fc", &[3, 4], rand_vals(4, 12, -1.0, 1.0));
    let nodes = vec![
        node("Conv", "conv", &["x", "w"], "c", vec![]),
        node("Relu", "r1", &["c"], "r", vec![]),
        node(
            "AveragePool",
            "avg",
            &["r"],
            "a",
            vec![ints_attr("kernel_shape", &[2, 2])],
        ),
        node("Relu", "r2", &["a"], "b", vec![]),
        node(
            "ReduceMean",
            "gap",
            &["b", "axes"],
            "g",
            vec![int_attr("keepdims", 0)],
        ),
        node("MatMul", "fc", &["g", "fc"], "y", vec![]),
    ];
    let mut m = onnx_model(&[1, 2, 7, 7], nodes, vec![w, fc, ints("axes", &[-2, -1])]);
    m.opset_import[0].version = 18;
    let g = float_matches_tract(&m, &[1, 2, 7, 7]);
    let qm = quantize(&g, &[rand_vals(5, 98, -1.0, 1.0)], &QuantConfig::default()).unwrap();
    let kinds: Vec<(bool, bool)> = qm
        .layers
        .iter()
        .map(|l| match l {
            QuantLayer::Conv(c) => (false, c.relu),
            QuantLayer::AvgPool(p) => (true, p.relu),
            QuantLayer::Dense(d) => (false, d.relu),
            QuantLayer::MaxPool(_)
            | QuantLayer::Add(_)
            | QuantLayer::Relayout(_)
            | QuantLayer::Map(_)
            | QuantLayer::Softmax(_)
            | QuantLayer::LogSoftmax(_)
            | QuantLayer::ArgMax(_) => {
                panic!("no max-pool, sum, relayout, map or softmax here")
            }
        })
        .collect();
    // conv (ReLU), avgpool (ReLU), the global pool (no ReLU after it), the dense head
    assert_eq!(
        kinds,
        [(false, true), (true, true), (true, false), (false, false)]
    );
    assert_eq!(g.nodes[4].out_shape, Some(vec![3]));
}

#[test]
fn average_pool_options_that_are_not_supported_are_gaps() {
    let k = || ints_attr("kernel_shape", &[3, 3]);
    let cases: Vec<(NodeProto, &str)> = vec![
        (
            pool_node("AveragePool", vec![k(), ints_attr("dilations", &[2, 2])]),
            "dilations = [2, 2]",
        ),
        (
            node(
                "ReduceMean",
                "pool",
                &["x"],
                "y",
                vec![ints_attr("axes", &[1, 2, 3])],
            ),
            "axes = [1, 2, 3]",
        ),
    ];
    for (n, reason) in cases {
        let g = import(&onnx_model(&[1, 2, 6, 6], vec![n], vec![])).unwrap();
        let gaps = gap_reasons(&g);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].0, "pool");
        assert!(gaps[0].1.contains(reason), "{reason}: {gaps:?}");
    }
}
