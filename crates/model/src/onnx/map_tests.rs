//! Element-wise functions on hand-built protobufs: each ONNX activation becomes one map, the
//! subgraphs that compute one (GELU's Erf form, SiLU, HardSwish by parts) fuse into one, and
//! affine chains and functions of two tensors do not. Float inference against tract.

use tract_onnx::pb::{NodeProto, TensorProto};

use tract_onnx::pb::AttributeProto;
use tract_onnx::pb::attribute_proto::AttributeType;

use super::cnn_tests::{float_matches_tract, int_attr, ints_attr, onnx_model, rand_vals, tensor};
use super::tests::{gap_reasons, import, node};
use crate::graph::Op;
use crate::quantize::{QuantConfig, quantize};
use crate::quantized::QuantLayer;

/// Gemm `6 -> 5` writing `h`, the `nodes` reading `h` and writing `a`, Gemm `5 -> 3` to `y`.
fn between_gemms(
    mut nodes: Vec<NodeProto>,
    mut inits: Vec<TensorProto>,
) -> tract_onnx::pb::ModelProto {
    inits.push(tensor("w1", &[5, 6], rand_vals(1, 30, -1.0, 1.0)));
    inits.push(tensor("b1", &[5], rand_vals(2, 5, -0.5, 0.5)));
    inits.push(tensor("w2", &[3, 5], rand_vals(3, 15, -1.0, 1.0)));
    inits.push(tensor("b2", &[3], rand_vals(4, 3, -0.5, 0.5)));
    let trans = || vec![int_attr("transB", 1)];
    nodes.insert(0, node("Gemm", "fc1", &["x", "w1", "b1"], "h", trans()));
    nodes.push(node("Gemm", "fc2", &["a", "w2", "b2"], "y", trans()));
    onnx_model(&[1, 6], nodes, inits)
}

fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        r#type: AttributeType::Float as i32,
        ..Default::default()
    }
}

fn scalar(name: &str, v: f32) -> TensorProto {
    tensor(name, &[], vec![v])
}

/// The one map of a graph `fc1 -> map -> fc2`, and its ONNX op types.
fn the_map(nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> (crate::map::Expr, String) {
    let g = float_matches_tract(&between_gemms(nodes, inits), &[1, 6]);
    assert_eq!(g.nodes.len(), 3, "{:?}", g.nodes);
    match &g.nodes[1].op {
        Op::Map(e) => (e.clone(), g.nodes[1].onnx_op.clone()),
        op => panic!("{op:?}"),
    }
}

#[test]
fn each_activation_is_one_map() {
    let one = |op: &str, attrs| vec![node(op, "act", &["h"], "a", attrs)];
    for op in [
        "Sigmoid",
        "Tanh",
        "Erf",
        "Softplus",
        "Softsign",
        "Elu",
        "Selu",
        "HardSigmoid",
        "HardSwish",
        "Abs",
        "Exp",
    ] {
        let (_, onnx) = the_map(one(op, vec![]), vec![]);
        assert_eq!(onnx, op);
    }
    let (e, _) = the_map(one("LeakyRelu", vec![float_attr("alpha", 0.2)]), vec![]);
    assert!((e.eval(-1.0) + 0.2).abs() < 1e-7);
    let (e, _) = the_map(one("Elu", vec![float_attr("alpha", 0.5)]), vec![]);
    assert!((e.eval(-30.0) + 0.5).abs() < 1e-9);
    // Clip with constant bounds (ReLU6), and with only an upper one
    let clip = vec![node("Clip", "act", &["h", "lo", "hi"], "a", vec![])];
    let (e, onnx) = the_map(clip, vec![scalar("lo", 0.0), scalar("hi", 0.5)]);
    assert_eq!(
        (e.eval(-1.0), e.eval(0.25), e.eval(9.0), onnx.as_str()),
        (0.0, 0.25, 0.5, "Clip")
    );
    // a scalar divided by the data
    let div = vec![node("Div", "act", &["two", "h"], "a", vec![])];
    let (e, _) = the_map(div, vec![scalar("two", 2.0)]);
    assert_eq!(e.eval(4.0), 0.5);
    let clip = vec![node("Clip", "act", &["h", "", "hi"], "a", vec![])];
    let (e, _) = the_map(clip, vec![scalar("hi", 0.5)]);
    assert_eq!((e.eval(-1.0), e.eval(9.0)), (-1.0, 0.5));
}

#[test]
fn gelu_and_silu_subgraphs_fuse_into_one_map() {
    // GELU as the legacy exporter writes it: x * 0.5 * (1 + erf(x / sqrt 2))
    let nodes = vec![
        node("Div", "div", &["h", "sqrt2"], "d", vec![]),
        node("Erf", "erf", &["d"], "e", vec![]),
        node("Add", "add", &["e", "one"], "p", vec![]),
        node("Mul", "mul", &["h", "p"], "m", vec![]),
        node("Mul", "half", &["m", "0.5"], "a", vec![]),
    ];
    let inits = vec![
        scalar("sqrt2", std::f32::consts::SQRT_2),
        scalar("one", 1.0),
        scalar("0.5", 0.5),
    ];
    let (e, onnx) = the_map(nodes, inits);
    assert_eq!(onnx, "Div+Erf+Add+Mul+Mul");
    let gelu = crate::map::Expr::gelu(false);
    for x in [-3.0, -0.5, 0.0, 0.7, 2.5] {
        assert!((e.eval(x) - gelu.eval(x)).abs() < 1e-6, "{x}");
    }
    // SiLU: x * sigmoid(x); the tanh GELU with Pow
    let silu = vec![
        node("Sigmoid", "sig", &["h"], "s", vec![]),
        node("Mul", "mul", &["h", "s"], "a", vec![]),
    ];
    let (e, onnx) = the_map(silu, vec![]);
    assert_eq!(onnx, "Sigmoid+Mul");
    assert!((e.eval(1.0) - 1.0 / (1.0 + (-1f64).exp())).abs() < 1e-12);
    let cube = vec![
        node("Pow", "pow", &["h", "three"], "c", vec![]),
        node("Mul", "k", &["c", "k"], "kc", vec![]),
        node("Add", "arg", &["h", "kc"], "u", vec![]),
        node("Tanh", "tanh", &["u"], "a", vec![]),
    ];
    let (_, onnx) = the_map(cube, vec![scalar("three", 3.0), scalar("k", 0.044_715)]);
    assert_eq!(onnx, "Pow+Mul+Add+Tanh");
}

#[test]
fn affine_chains_and_functions_of_two_tensors_are_not_maps() {
    // Mul and Add by constants fold into the Gemm before them
    let nodes = vec![
        node("Mul", "mul", &["h", "two"], "m", vec![]),
        node("Add", "add", &["m", "one"], "a", vec![]),
    ];
    let m = between_gemms(nodes, vec![scalar("two", 2.0), scalar("one", 1.0)]);
    let g = float_matches_tract(&m, &[1, 6]);
    assert!(g.nodes.iter().all(|n| !matches!(n.op, Op::Map(_))));
    // a gate of two different tensors: the Mul of two activations stays a gap
    let nodes = vec![
        node("Sigmoid", "sig", &["x"], "s", vec![]),
        node("Mul", "gate", &["h", "s2"], "a", vec![]),
        node(
            "Gemm",
            "fc0",
            &["s", "w0", "b0"],
            "s2",
            vec![int_attr("transB", 1)],
        ),
    ];
    let inits = vec![
        tensor("w0", &[5, 6], rand_vals(5, 30, -1.0, 1.0)),
        tensor("b0", &[5], rand_vals(6, 5, -0.5, 0.5)),
    ];
    let mut m = between_gemms(nodes, inits);
    // graph order: fc1, sig, fc0, gate, fc2
    let g = &mut m.graph.as_mut().unwrap().node;
    g.swap(2, 3);
    let g = import(&m).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "gate");
}

#[test]
fn a_function_shared_with_another_reader_is_kept_and_a_relu_after_a_map_is_in_its_table() {
    // s = sigmoid(h) read by the SiLU's Mul and by an Add with h: two maps, both of h
    let nodes = vec![
        node("Sigmoid", "sig", &["h"], "s", vec![]),
        node("Mul", "mul", &["h", "s"], "m", vec![]),
        node("Add", "join", &["m", "s"], "j", vec![]),
        node("Relu", "relu", &["j"], "a", vec![]),
    ];
    let g = float_matches_tract(&between_gemms(nodes, vec![]), &[1, 6]);
    let kinds: Vec<&str> = g.nodes.iter().map(|n| n.onnx_op.as_str()).collect();
    // the Add of two functions of h is itself a function of h: one map, then the ReLU
    assert_eq!(
        kinds,
        ["Gemm", "Sigmoid+Mul+Add", "Relu", "Gemm"],
        "{kinds:?}"
    );
    let calib: Vec<Vec<f32>> = (0..4).map(|k| rand_vals(10 + k, 6, -1.0, 1.0)).collect();
    let q = quantize(&g, &calib, &QuantConfig::default()).unwrap();
    let QuantLayer::Map(m) = &q.layers[1] else {
        panic!("{:?}", q.layers[1])
    };
    assert!(m.table.iter().all(|&v| v >= 0), "the ReLU is in the table");
    assert_eq!(q.layers.len(), 3);
}

/// A padded 3x3 conv of a `[1, 2, 4, 5]` input to 3 channels, then `PRelu` with slopes of
/// shape `dims`.
fn conv_prelu(dims: &[usize]) -> tract_onnx::pb::ModelProto {
    let inits = vec![
        tensor("w", &[3, 2, 3, 3], rand_vals(8, 54, -1.0, 1.0)),
        tensor(
            "slope",
            dims,
            rand_vals(9, dims.iter().product(), -0.5, 0.5),
        ),
    ];
    let conv = node(
        "Conv",
        "conv",
        &["x", "w"],
        "c",
        vec![ints_attr("pads", &[1; 4])],
    );
    let nodes = vec![conv, node("PRelu", "act", &["c", "slope"], "y", vec![])];
    onnx_model(&[1, 2, 4, 5], nodes, inits)
}

#[test]
fn per_channel_prelu_is_one_map_with_a_table_per_channel() {
    let slopes = rand_vals(7, 5, -0.5, 0.5);
    // after a dense layer: a slope per feature, `[5]`
    let prelu = vec![node("PRelu", "act", &["h", "slope"], "a", vec![])];
    let g = float_matches_tract(
        &between_gemms(prelu, vec![tensor("slope", &[5], slopes)]),
        &[1, 6],
    );
    assert!(
        matches!(&g.nodes[1].op, Op::PRelu(a) if a.len() == 5),
        "{:?}",
        g.nodes[1]
    );
    // after a conv: a slope per channel, `[3, 1, 1]` and `[1, 3, 1, 1]`, its table per channel
    for dims in [&[3, 1, 1][..], &[1, 3, 1, 1]] {
        let g = float_matches_tract(&conv_prelu(dims), &[1, 2, 4, 5]);
        let calib = vec![rand_vals(10, 40, -1.0, 1.0)];
        let q = quantize(&g, &calib, &QuantConfig::default()).unwrap();
        match &q.layers[1] {
            QuantLayer::Map(m) => {
                assert_eq!(
                    (m.channels, m.table.len(), &m.dims[..]),
                    (3, 768, &[3, 4, 5][..])
                );
            }
            l => panic!("{l:?}"),
        }
    }
    // slopes along the width, or per position: gaps that say so
    for dims in [&[1, 1, 5][..], &[3, 4, 5]] {
        let g = import(&conv_prelu(dims)).unwrap();
        let gaps = gap_reasons(&g);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert!(gaps[0].1.contains("only one slope per channel"), "{gaps:?}");
    }
}

#[test]
fn softmax_over_the_last_axis_is_an_op_and_over_another_a_gap() {
    let axis = |a: i64| vec![int_attr("axis", a)];
    for attrs in [vec![], axis(-1), axis(1)] {
        for (op, log) in [("Softmax", false), ("LogSoftmax", true)] {
            let nodes = vec![node(op, "sm", &["h"], "a", attrs.clone())];
            let g = float_matches_tract(&between_gemms(nodes, vec![]), &[1, 6]);
            assert_eq!(g.nodes[1].op, Op::Softmax { log, n: 5 }, "{:?}", g.nodes[1]);
        }
    }
    // over the last axis of a [2, 3, 4] per-sample tensor: rows of 4 (float against tract);
    // over another axis: a gap
    for (op, log) in [("Softmax", false), ("LogSoftmax", true)] {
        let nodes = vec![node(op, "sm", &["x"], "y", axis(-1))];
        let g = float_matches_tract(&onnx_model(&[1, 2, 3, 4], nodes, vec![]), &[1, 2, 3, 4]);
        assert_eq!(g.nodes[0].op, Op::Softmax { log, n: 4 });
        let calib = vec![rand_vals(11, 24, -1.0, 1.0)];
        let q = quantize(&g, &calib, &QuantConfig::default()).unwrap();
        assert_eq!(q.layers.last().unwrap().out_layout(), [2, 3, 4]);
    }
    let nodes = vec![node("Softmax", "sm", &["x"], "y", axis(1))];
    let g = import(&onnx_model(&[1, 2, 3], nodes, vec![])).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert!(gaps[0].1.contains("only the last axis"), "{gaps:?}");
}

#[test]
fn a_long_chain_of_functions_becomes_several_bounded_maps() {
    // 1000 Sigmoids in a row (a hostile or generated file): maps of at most 64 nodes each,
    // no deep recursion
    let mut nodes = Vec::new();
    for i in 0..1000 {
        let input = if i == 0 {
            "h".to_string()
        } else {
            format!("s{i}")
        };
        let output = if i == 999 {
            "a".to_string()
        } else {
            format!("s{}", i + 1)
        };
        nodes.push(node(
            "Sigmoid",
            &format!("sig{i}"),
            &[&input],
            &output,
            vec![],
        ));
    }
    let g = import(&between_gemms(nodes, vec![])).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", gap_reasons(&g));
    let maps = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Map(_)))
        .count();
    assert_eq!(maps, 1000usize.div_ceil(64));
    let x = rand_vals(3, 6, -1.0, 1.0);
    assert!(g.float_forward(&x).is_ok());
}

#[test]
fn repeated_squaring_stays_a_small_expression() {
    // x, x^2, x^4, ... as Mul(a, a) 60 times: the terms would double each time
    let mut nodes = vec![node("Sigmoid", "sig", &["h"], "s0", vec![])];
    for i in 0..60 {
        let (input, output) = (format!("s{i}"), format!("s{}", i + 1));
        nodes.push(node(
            "Mul",
            &format!("sq{i}"),
            &[&input, &input],
            &output,
            vec![],
        ));
    }
    nodes.push(node("Identity", "out", &["s60"], "a", vec![]));
    let g = import(&between_gemms(nodes, vec![])).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", gap_reasons(&g));
    for n in &g.nodes {
        if let Op::Map(e) = &n.op {
            assert!(e.size() <= 1024, "{}", e.size());
        }
    }
}

#[test]
fn argmax_over_the_last_axis_is_an_op() {
    for (attrs, last, out) in [
        (vec![int_attr("axis", -1)], false, vec![1]),
        (
            vec![int_attr("axis", 1), int_attr("keepdims", 0)],
            false,
            vec![],
        ),
        (
            vec![int_attr("axis", -1), int_attr("select_last_index", 1)],
            true,
            vec![1],
        ),
    ] {
        let nodes = vec![node("ArgMax", "am", &["x"], "y", attrs)];
        let g = import(&onnx_model(&[1, 6], nodes, vec![])).unwrap();
        assert_eq!(g.nodes[0].op, Op::ArgMax { last, n: 6 });
        assert_eq!(g.nodes[0].out_shape, Some(out));
        let x = [0.5, 2.0, -1.0, 2.0, 0.0, 1.0];
        let y = g.float_forward(&x).unwrap().pop().unwrap();
        assert_eq!(y, vec![if last { 3.0 } else { 1.0 }]);
    }
    // one index per row of a [3, 4] per-sample tensor
    let nodes = vec![node("ArgMax", "am", &["x"], "y", vec![int_attr("axis", 2)])];
    let g = import(&onnx_model(&[1, 3, 4], nodes, vec![])).unwrap();
    assert_eq!(g.nodes[0].op, Op::ArgMax { last: false, n: 4 });
    assert_eq!(g.nodes[0].out_shape, Some(vec![3, 1]));
    let x = [0.5, 2.0, -1.0, 2.0, 0.0, 1.0, 3.0, 1.0, 7.0, 6.0, 5.0, 4.0];
    assert_eq!(
        g.float_forward(&x).unwrap().pop().unwrap(),
        vec![1.0, 2.0, 0.0]
    );
    // the default axis 0 is the batch
    let nodes = vec![node("ArgMax", "am", &["x"], "y", vec![])];
    let g = import(&onnx_model(&[1, 6], nodes, vec![])).unwrap();
    assert!(gap_reasons(&g)[0].1.contains("only the last axis"));
}

#[test]
fn several_graph_outputs_are_joined_into_one_proven_output() {
    // a classifier as skl2onnx writes it: probabilities (Softmax, through an Identity) and the
    // label (ArgMax, ArrayFeatureExtractor of classes 0..4, Reshape, Cast to int64)
    let mut inits = vec![
        tensor("w1", &[5, 6], rand_vals(1, 30, -1.0, 1.0)),
        tensor("b1", &[5], rand_vals(2, 5, -0.5, 0.5)),
    ];
    let mut classes = super::tests::ints("classes", &[0, 1, 2, 3, 4]);
    classes.name = "classes".into();
    inits.push(classes);
    inits.push(super::tests::ints("shape", &[-1]));
    let nodes = vec![
        node(
            "Gemm",
            "fc",
            &["x", "w1", "b1"],
            "h",
            vec![int_attr("transB", 1)],
        ),
        node("Softmax", "sm", &["h"], "p", vec![]),
        node("Identity", "id", &["p"], "probabilities", vec![]),
        node(
            "ArgMax",
            "am",
            &["probabilities"],
            "i",
            vec![int_attr("axis", 1)],
        ),
        {
            let mut n = node(
                "ArrayFeatureExtractor",
                "afe",
                &["classes", "i"],
                "c",
                vec![],
            );
            n.domain = "ai.onnx.ml".into();
            n
        },
        node("Reshape", "rs", &["c", "shape"], "r", vec![]),
        node("Cast", "cast", &["r"], "label", vec![int_attr("to", 7)]),
    ];
    let mut m = onnx_model(&[1, 6], nodes, inits);
    use tract_onnx::pb::tensor_proto::DataType;
    let label = super::tests::value_info("label", &[1], DataType::Int64);
    let probs = super::tests::value_info("probabilities", &[1, 5], DataType::Float);
    // the probabilities first (not the last node's output) is as good
    let graph = m.graph.as_mut().unwrap();
    graph.output = vec![probs.clone(), label.clone()];
    let g = import(&m).unwrap();
    assert_eq!(g.output_len(), Some(5), "the first output's");
    let calib: Vec<Vec<f32>> = (0..8).map(|k| rand_vals(20 + k, 6, -1.0, 1.0)).collect();
    let q = quantize(&g, &calib, &QuantConfig::default()).unwrap();
    let names: Vec<&str> = q.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["probabilities", "label"]);
    let graph = m.graph.as_mut().unwrap();
    graph.output = vec![label, probs];
    let g = import(&m).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", gap_reasons(&g));
    assert_eq!(g.output_name, "label");
    assert_eq!(g.output_len(), Some(1));
    assert_eq!(g.outputs.len(), 2);
    let text = g.summary().to_string();
    assert!(
        text.contains("-> outputs label [1], probabilities [1, 5]"),
        "{text}"
    );
    let q = quantize(&g, &calib, &QuantConfig::default()).unwrap();
    let names: Vec<(&str, usize)> = q.outputs.iter().map(|o| (o.name.as_str(), o.len)).collect();
    assert_eq!(names, [("label", 1), ("probabilities", 5)]);
    for x in &calib {
        let rows = q.output_rows(q.forward(&q.quantize_input(x)).last().unwrap());
        let (label, probs) = (&rows[0].1, &rows[1].1);
        let best = (0..5).fold(0, |b, k| if probs[k] > probs[b] { k } else { b });
        assert_eq!(label, &vec![best as f32]);
        let total: f32 = probs.iter().sum();
        assert!((total - 1.0).abs() < 0.03, "{total}");
    }
}
