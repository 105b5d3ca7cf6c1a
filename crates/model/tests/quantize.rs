//! Quantization rules and refusals on small hand-made graphs.

use zkml_model::requant::activation_range;
use zkml_model::{
    BatchDim, Dense, Graph, ModelError, Node, Op, QuantConfig, QuantLayer, QuantizedModel,
    ScaleMode, quantize, random_calibration,
};

fn node(name: &str, op: Op) -> Node {
    Node {
        name: name.into(),
        onnx_op: op.kind().into(),
        op,
        inputs: Vec::new(),
        in_shape: None,
        out_shape: None,
    }
}

fn dense(n_in: usize, n_out: usize, weight: Vec<f32>, bias: Option<Vec<f32>>) -> Op {
    Op::Dense(Dense {
        n_in,
        n_out,
        weight,
        bias,
    })
}

fn graph(nodes: Vec<Node>, n_in: usize) -> Graph {
    Graph {
        input_name: "x".into(),
        output_name: "y".into(),
        outputs: Vec::new(),
        batch: BatchDim::Fixed(1),
        input_shape: vec![n_in],
        nodes,
        folded: Vec::new(),
        model_params: 0,
        input_perm: Vec::new(),
    }
}

fn first_dense(m: &QuantizedModel) -> &zkml_model::DenseLayer {
    let QuantLayer::Dense(d) = &m.layers[0] else {
        panic!("not a dense layer")
    };
    d
}

#[test]
fn scales_weights_bias_and_multiplier_follow_the_rules() {
    // Row 0 max 2, row 1 all zero, row 2 max 0.5.
    let w = vec![2.0, -1.0, 0.0, 0.0, 0.25, -0.5];
    let g = graph(
        vec![node("fc", dense(2, 3, w, Some(vec![0.1, 0.0, -0.3])))],
        2,
    );
    let calib = vec![vec![1.0, -0.5], vec![0.25, 0.5]];
    let m = quantize(&g, &calib, &QuantConfig::default()).unwrap();
    let s_x = 1.0 / 127.0;
    assert_eq!(m.input_scale, s_x);
    let d = first_dense(&m);
    assert_eq!(d.weight, vec![127, -64, 0, 0, 64, -127]);
    // Float outputs: [2.5, 0, -0.3 - 0.25 + ...]: max |y| over the samples sets s_out.
    let outs: Vec<Vec<f64>> = calib
        .iter()
        .map(|x| g.float_forward(x).unwrap()[0].clone())
        .collect();
    let max = outs.iter().flatten().fold(0f64, |m, v| m.max(v.abs()));
    assert_eq!(d.out_scale, max / 127.0);
    let s_w = [2.0 / 127.0, 1.0, 0.5 / 127.0];
    for i in 0..3 {
        let b = [0.1, 0.0, -0.3][i] as f32 as f64;
        assert_eq!(d.bias[i], (b / (s_x * s_w[i])).round() as i64);
        assert_eq!(
            d.multiplier[i],
            (s_x * s_w[i] / d.out_scale * 2f64.powi(32)).round() as i64
        );
    }
    let per_layer = quantize(
        &g,
        &calib,
        &QuantConfig {
            bits: 8,
            scales: ScaleMode::PerLayer,
        },
    )
    .unwrap();
    assert_eq!(
        first_dense(&per_layer).weight,
        vec![127, -64, 0, 0, 16, -32]
    );
}

#[test]
fn relu_is_fused_and_forward_is_exact() {
    let nodes = vec![
        node(
            "fc1",
            dense(2, 2, vec![1.0, -1.0, 0.5, 0.5], Some(vec![0.0, 0.1])),
        ),
        node("flat", Op::Reshape),
        node("relu", Op::Relu),
        node("fc2", dense(2, 1, vec![1.0, 2.0], None)),
    ];
    let g = graph(nodes, 2);
    let m = quantize(&g, &random_calibration(&g, 32, 1), &QuantConfig::default()).unwrap();
    assert_eq!(m.layers.len(), 2);
    let QuantLayer::Dense(l1) = &m.layers[0] else {
        panic!("not a dense layer")
    };
    let QuantLayer::Dense(l2) = &m.layers[1] else {
        panic!("not a dense layer")
    };
    assert!(l1.relu && !l2.relu);
    let xq = m.quantize_input(&[0.3, -0.7]);
    let outs = m.forward(&xq);
    assert!(outs[0].iter().all(|&v| v >= 0));
    let acc: Vec<i64> = (0..2)
        .map(|i| l1.weight[2 * i] * xq[0] + l1.weight[2 * i + 1] * xq[1] + l1.bias[i])
        .collect();
    let expect: Vec<i64> = acc
        .iter()
        .zip(&l1.multiplier)
        .map(|(&a, &mm)| zkml_model::requantize(a, mm, true, 8))
        .collect();
    assert_eq!(outs[0], expect);
    assert_eq!(m.output_len(), 1);
    assert_eq!(
        m.dequantize_output(&[10]),
        vec![(10.0 * l2.out_scale) as f32]
    );
}

#[test]
fn quantize_input_rounds_half_away_from_zero_and_clamps() {
    let g = graph(vec![node("fc", dense(8, 1, vec![1.0; 8], None))], 8);
    let m = quantize(&g, &[vec![127.0; 8]], &QuantConfig::default()).unwrap();
    assert_eq!(m.input_scale, 1.0);
    let q = m.quantize_input(&[0.5, -0.5, 1.5, -2.5, 0.49, 500.0, -500.0, f32::NAN]);
    let (lo, hi) = activation_range(8);
    assert_eq!(q, vec![1, -1, 2, -3, 0, hi, lo, 0]);
}

#[test]
fn refusals_name_the_problem() {
    let relu_first = graph(
        vec![
            node("r0", Op::Relu),
            node("fc", dense(1, 1, vec![1.0], None)),
        ],
        1,
    );
    let e = quantize(&relu_first, &[vec![1.0]], &QuantConfig::default()).unwrap_err();
    assert!(
        matches!(&e, ModelError::ReluWithoutDense { node } if node == "r0"),
        "{e}"
    );

    let g = graph(vec![node("fc", dense(1, 1, vec![1.0], None))], 1);
    for bits in [1, 17] {
        let e = quantize(
            &g,
            &[vec![1.0]],
            &QuantConfig {
                bits,
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(matches!(e, ModelError::Config { .. }), "{e}");
    }
    let e = quantize(&g, &[], &QuantConfig::default()).unwrap_err();
    assert!(matches!(e, ModelError::Calibration { .. }), "{e}");
    let e = quantize(&g, &[vec![1.0, 2.0]], &QuantConfig::default()).unwrap_err();
    assert!(e.to_string().contains("expected 1"), "{e}");

    let only_reshape = graph(vec![node("flat", Op::Reshape)], 1);
    assert!(quantize(&only_reshape, &[vec![1.0]], &QuantConfig::default()).is_err());
}

#[test]
fn bound_violations_name_layer_and_numbers() {
    // A tiny output range and a huge input: the multiplier would exceed 2^62.
    let g = graph(vec![node("big", dense(1, 1, vec![1.0], None))], 1);
    let mut m = quantize(&g, &[vec![1.0]], &QuantConfig::default()).unwrap();
    let QuantLayer::Dense(d) = &mut m.layers[0] else {
        panic!("not a dense layer")
    };
    d.multiplier[0] = 1 << 61;
    let e = m.validate().unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("big") && text.contains("row 0") && text.contains("2^62"),
        "{text}"
    );
    // Alternating weights that cancel on the calibration sample: a tiny output range, hence a
    // large multiplier (capped at 2^40, where every non-zero accumulator clamps), while the
    // worst-case accumulator of 1024 inputs stays large.
    let w: Vec<f32> = (0..1024)
        .map(|j| if j % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    let g = graph(
        vec![node("cancel", dense(1024, 1, w, Some(vec![1e-8])))],
        1024,
    );
    let e = quantize(&g, &[vec![1.0; 1024]], &QuantConfig::default()).unwrap_err();
    let text = e.to_string();
    assert!(
        matches!(&e, ModelError::Quantization { layer, .. } if layer == "cancel"),
        "{text}"
    );
    assert!(
        text.contains("row 0") && text.contains("A * m + 2^31"),
        "{text}"
    );
}

#[test]
fn random_calibration_is_deterministic_and_in_range() {
    let g = graph(vec![node("fc", dense(3, 1, vec![1.0; 3], None))], 3);
    let a = random_calibration(&g, 10, 42);
    assert_eq!(a, random_calibration(&g, 10, 42));
    assert_ne!(a, random_calibration(&g, 10, 43));
    assert_eq!(a.len(), 10);
    assert!(a.iter().flatten().all(|v| (-1.0..1.0).contains(v)));
}

#[test]
fn quantized_model_serde_round_trip() {
    let g = graph(
        vec![node("fc", dense(2, 1, vec![0.5, -0.25], Some(vec![0.1])))],
        2,
    );
    let m = quantize(&g, &random_calibration(&g, 8, 3), &QuantConfig::default()).unwrap();
    let json = serde_json::to_string(&m).unwrap();
    let back: QuantizedModel = serde_json::from_str(&json).unwrap();
    assert_eq!(back, m);
}

#[test]
fn weights_of_inputs_that_calibration_never_sets_do_not_set_the_row_scale() {
    // a normalisation folded into the weights divided an input that is always 0 by a
    // near-zero variance: its weight is 1e7 times the others
    let w = vec![0.5f32, -0.25, 1e7, 0.125];
    let g = graph(vec![node("fc", dense(4, 1, w, None))], 4);
    let calibration = [vec![1.0, -1.0, 0.0, 0.5], vec![-0.5, 0.25, 0.0, 1.0]];
    let m = quantize(&g, &calibration, &QuantConfig::default()).unwrap();
    let QuantLayer::Dense(d) = &m.layers[0] else {
        panic!("not a dense layer")
    };
    // the row scale comes from 0.5 (127); the huge weight clamps
    assert_eq!(d.weight, [127, -64, 127, 32]);
    // when every input is set, every weight counts
    let calibration = [vec![1.0, -1.0, 1.0, 0.5]];
    let m = quantize(&g, &calibration, &QuantConfig::default()).unwrap();
    let QuantLayer::Dense(d) = &m.layers[0] else {
        panic!("not a dense layer")
    };
    assert_eq!(d.weight, [0, 0, 127, 0]);
}
