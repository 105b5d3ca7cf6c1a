//! Importing every bundled model: structure, shapes, summaries, gaps.

mod common;

use common::{MODELS, asset, load};
use zkml_model::{
    BatchDim, ModelError, Op, QuantConfig, import_onnx, import_onnx_bytes, quantize,
    random_calibration,
};

fn kinds(graph: &zkml_model::Graph) -> Vec<&'static str> {
    graph.nodes.iter().map(|n| n.op.kind()).collect()
}

#[test]
fn every_bundled_model_imports_without_gaps() {
    for (model, inputs) in MODELS {
        let (graph, inputs) = load(model, inputs);
        assert!(
            graph.unsupported().is_empty(),
            "{model}: {:?}",
            graph.unsupported()
        );
        assert_eq!(
            graph.output_len(),
            Some(inputs.reference_outputs.unwrap()[0].len())
        );
        let summary = graph.summary();
        assert_eq!(summary.total_params, graph.param_count());
        // BatchNormalization folding removes parameters, nothing adds any
        assert!(graph.model_params >= graph.param_count(), "{model}");
        println!("{model}\n{summary}\n");
    }
}

#[test]
fn digits_5x100_structure() {
    let graph = import_onnx(&asset("digits_mlp_5x100.onnx")).unwrap();
    assert_eq!(graph.batch, BatchDim::Fixed(1));
    assert_eq!(graph.input_shape, vec![64]);
    let dense: Vec<(usize, usize)> = graph
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Dense(d) => Some((d.n_in, d.n_out)),
            _ => None,
        })
        .collect();
    assert_eq!(
        dense,
        vec![(64, 100), (100, 100), (100, 100), (100, 100), (100, 10)]
    );
    assert_eq!(
        graph.param_count(),
        64 * 100 + 3 * 100 * 100 + 100 * 10 + 4 * 100 + 10
    );
    let text = graph.summary().to_string();
    assert!(
        text.contains("Dense 64->100") && text.contains("unsupported ops: none"),
        "{text}"
    );
    assert_eq!(graph.model_params, graph.param_count());
    for proof in [
        "proven: dense + requantization",
        "requantization clamp of fc0",
    ] {
        assert!(text.contains(proof), "{proof}: {text}");
    }
}

#[test]
fn matmul_add_is_fused_and_batch_is_dynamic() {
    let graph = import_onnx(&asset("mlp_matmul_add.onnx")).unwrap();
    assert_eq!(graph.batch, BatchDim::Dynamic);
    assert_eq!(kinds(&graph), ["Dense", "Relu", "Dense"]);
    assert_eq!(graph.nodes[0].onnx_op, "MatMul+Add");
    assert_eq!(graph.nodes[2].out_shape, Some(vec![5]));
    let text = graph.summary().to_string();
    assert!(
        text.contains("[N, 13]") && text.contains("[N, 5]"),
        "{text}"
    );
}

#[test]
fn flatten_and_reshape_shapes() {
    let graph = import_onnx(&asset("mlp_flatten.onnx")).unwrap();
    assert_eq!(graph.input_shape, vec![1, 8, 8]);
    assert_eq!(kinds(&graph), ["Reshape", "Dense", "Relu", "Dense"]);
    assert_eq!(graph.nodes[0].out_shape, Some(vec![64]));
    let Op::Dense(d) = &graph.nodes[3].op else {
        panic!()
    };
    assert!(d.bias.is_none());

    let graph = import_onnx(&asset("mlp_dropout_identity.onnx")).unwrap();
    let shapes: Vec<_> = graph
        .nodes
        .iter()
        .map(|n| n.out_shape.clone().unwrap())
        .collect();
    assert_eq!(
        kinds(&graph),
        [
            "Identity", "Reshape", "Reshape", "Dense", "Identity", "Relu", "Identity", "Dense"
        ]
    );
    assert_eq!(shapes[1], vec![3, 4]);
    assert_eq!(shapes[2], vec![12]);
    assert_eq!(graph.nodes[7].onnx_op, "MatMul+Add");
}

#[test]
fn batch4_is_fixed() {
    let (graph, inputs) = load("mlp_batch4.onnx", "mlp_batch4_input.json");
    assert_eq!(graph.batch, BatchDim::Fixed(4));
    assert_eq!(inputs.samples.len(), 4);
    assert_eq!(inputs.reference_outputs.unwrap().len(), 4);
}

#[test]
fn unsupported_lists_every_gap_at_once() {
    let graph = import_onnx(&asset("unsupported.onnx")).unwrap();
    let gaps = graph.unsupported();
    let names: Vec<(&str, &str)> = gaps
        .iter()
        .map(|g| (g.node.as_str(), g.op_type.as_str()))
        .collect();
    // (the Sigmoid is proven, by table)
    assert_eq!(names, [("fc2_scaled", "Gemm"), ("softmax", "Softmax")]);
    assert!(gaps[0].reason.contains("alpha = 0.5"), "{}", gaps[0].reason);
    let summary = graph.summary();
    assert_eq!(summary.unsupported.len(), 2);
    let text = summary.to_string();
    assert!(text.contains("unsupported ops: 2"), "{text}");
    // the unsupported Gemm's weights count among the model's parameters
    assert!(graph.model_params > graph.param_count(), "{text}");
    assert!(text.contains(&format!("{} in the model", graph.model_params)));
    let row = text.lines().find(|l| l.contains("fc2_scaled")).unwrap();
    assert!(row.ends_with("unsupported (see below)"), "{row}");
    let calib = random_calibration(&graph, 4, 1);
    let err = quantize(&graph, &calib, &QuantConfig::default()).unwrap_err();
    let ModelError::Unsupported { gaps: list } = &err else {
        panic!("{err}")
    };
    assert_eq!(list.0.len(), 2);
    let text = err.to_string();
    for name in ["fc2_scaled", "softmax"] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn import_from_bytes_matches_path() {
    let path = asset("mlp_flatten.onnx");
    let from_bytes = import_onnx_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(from_bytes, import_onnx(&path).unwrap());
}

#[test]
fn bad_files_are_errors() {
    assert!(matches!(
        import_onnx(&asset("missing.onnx")),
        Err(ModelError::Io { .. })
    ));
    assert!(matches!(
        import_onnx_bytes(b"not a protobuf at all"),
        Err(ModelError::Onnx { .. })
    ));
}

#[test]
fn cnn_geometry_in_the_summary() {
    let graph = import_onnx(&asset("cnn_pad_stride_bn.onnx")).unwrap();
    assert_eq!(graph.input_shape, vec![3, 13, 11]);
    let shapes: Vec<(&str, Option<Vec<usize>>)> = graph
        .nodes
        .iter()
        .map(|n| (n.op.kind(), n.out_shape.clone()))
        .collect();
    assert_eq!(
        shapes,
        vec![
            ("Conv", Some(vec![8, 7, 5])),
            ("Relu", Some(vec![8, 7, 5])),
            ("Conv", Some(vec![8, 7, 5])),
            ("Relu", Some(vec![8, 7, 5])),
            ("MaxPool", Some(vec![8, 4, 3])),
            ("Reshape", Some(vec![96])),
            ("Dense", Some(vec![5])),
            ("Identity", Some(vec![5])),
        ]
    );
    assert_eq!(graph.nodes[0].onnx_op, "Conv+BatchNormalization");
    let text = graph.summary().to_string();
    assert!(text.contains("folded into "), "BatchNormalization: {text}");
    assert!(text.contains("proven: max-pool") && text.contains("re-indexing"));
    for part in [
        "Conv 3->8 k3x3 s2x2 p1,0,2,1",
        "Conv 8->8 k3x5 s1x1 p1,2,1,2",
        "MaxPool k3x3 s2x2 p1,1,1,1",
        "[1, 8, 7, 5]",
        "unsupported ops: none",
    ] {
        assert!(text.contains(part), "{part} not in\n{text}");
    }
    // BatchNorm folded: 8 * 27 + 8 (conv) + 8 * 120 + 8 + 96 * 5 + 5.
    assert_eq!(graph.param_count(), 224 + 968 + 485);

    let params = |m: &str| import_onnx(&asset(m)).unwrap().param_count();
    assert_eq!(params("cifar_cnn_264k.onnx"), 264_747);
    assert_eq!(params("lenet_28.onnx"), 44_426);
    assert_eq!(params("digits_cnn.onnx"), 1_898);
}
