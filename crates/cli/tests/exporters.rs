//! Small exports of the real exporters (`assets/scripts/make_exporter_fixtures.py`: PyTorch's
//! legacy exporter at opsets 11/13/17 with `x.view(x.size(0), -1)` and a dynamic batch, the
//! dynamo exporter, `MaxPool2d(ceil_mode=True)`, average pools (`AvgPool2d`,
//! `AdaptiveAvgPool2d`, `mean`), normalisation by constants inside `forward`, a MobileNet-style
//! block (depthwise, pointwise and dilated convs), a 1-D CNN (Conv1d, MaxPool1d, AvgPool1d),
//! zero Pads (`nn.ZeroPad2d`, `F.pad`) before a conv and pools, float64 models, skl2onnx,
//! Keras 3): each imports, the float graph and tract agree with onnxruntime's stored outputs
//! (PyTorch's for `torch_ceil_last_window`, which onnxruntime rejects), and the binary sets up,
//! proves and verifies it. Residual networks (an MLP residual, a ResNet-style CNN from the legacy
//! and the dynamo exporters) import as DAGs and agree with onnxruntime. A model with ops not
//! supported yet exits 3 naming them.

use std::path::{Path, PathBuf};
mod common;

use common::{Scratch, zkml};
use zkml_model::{FloatReference, Graph, Inputs, QuantConfig, import_onnx, parse_inputs, quantize};

/// The fixtures whose ops are all supported.
const SUPPORTED: &[&str] = &[
    "torch_view_opset11",
    "torch_view_opset13",
    "torch_view_opset17",
    "torch_view_dynamo",
    "torch_ceil_pool",
    "torch_ceil_last_window",
    "torch_float64",
    "torch_cast_input",
    "torch_avgpool",
    "torch_avgpool_dynamo",
    "torch_mean",
    "torch_normalised",
    "torch_mobile",
    "torch_cnn1d",
    "torch_cnn1d_dynamo",
    "torch_pad",
    "torch_pad_dynamo",
    "skl_mlp_regressor",
    "keras_mlp",
    "keras_cnn",
    "torch_unflatten",
    "torch_unflatten_dynamo",
    "torch_permuted",
    "torch_concat",
    "torch_concat_dynamo",
    "torch_pixel_shuffle",
    "torch_pixel_shuffle_dynamo",
    "torch_upsample",
    "torch_upsample_dynamo",
    "torch_slice",
    "torch_slice_dynamo",
    "torch_conv_transpose",
    "torch_conv_transpose_dynamo",
];

/// The fixtures whose graphs are DAGs (residual joins), all supported too.
const RESIDUAL: &[&str] = &["torch_residual", "torch_resnet", "torch_resnet_dynamo"];

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/exporters")
        .join(name)
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_owned()
}

fn load(stem: &str) -> (Graph, Inputs) {
    let graph = import_onnx(&fixture(&format!("{stem}.onnx"))).unwrap();
    let text = std::fs::read_to_string(fixture(&format!("{stem}.json"))).unwrap();
    let inputs = parse_inputs(&text, &graph.input_spec()).unwrap();
    (graph, inputs)
}

fn assert_close(ours: &[f64], ort: &[f32], what: &str) {
    assert_eq!(ours.len(), ort.len(), "{what}: lengths");
    for (k, (a, &b)) in ours.iter().zip(ort).enumerate() {
        let tol = 1e-4 * (1.0 + f64::from(b).abs());
        assert!(
            (a - f64::from(b)).abs() <= tol,
            "{what}[{k}]: {a} vs onnxruntime {b}"
        );
    }
}

/// The fixture imports without gaps and its float graph and tract agree with the stored
/// outputs; returns the graph.
fn agrees_with_onnxruntime(stem: &str) -> Graph {
    let (graph, inputs) = load(stem);
    assert!(
        graph.unsupported().is_empty(),
        "{stem}: {:?}",
        graph.unsupported()
    );
    let expected = inputs.reference_outputs.as_ref().unwrap();
    for (i, (x, y)) in inputs.samples.iter().zip(expected).enumerate() {
        let ours = graph.float_forward(x).unwrap().pop().unwrap();
        assert_close(&ours, y, &format!("{stem} sample {i}"));
    }
    let path = fixture(&format!("{stem}.onnx"));
    let tract = FloatReference::load(&path, graph.batch, &graph.input_shape)
        .and_then(|r| r.run(&inputs.samples));
    // what tract 0.23.9 cannot run: a float64 Gemm (it builds it with float32 constants), the
    // Keras Flatten's Reshape to a shape computed from the dynamic batch
    let tract_fails = [
        ("torch_float64", "F32"),
        ("keras_cnn", "shape input is variable"),
    ];
    if let Some((_, why)) = tract_fails.iter().find(|(s, _)| *s == stem) {
        let err = tract.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains(why), "tract ran {stem}: update this test");
        return graph;
    }
    for (i, (t, y)) in tract.unwrap().iter().zip(expected).enumerate() {
        let t: Vec<f64> = t.iter().map(|&v| f64::from(v)).collect();
        assert_close(&t, y, &format!("{stem} sample {i} (tract)"));
    }
    graph
}

#[test]
fn exports_import_and_agree_with_onnxruntime() {
    for stem in SUPPORTED {
        agrees_with_onnxruntime(stem);
    }
}

#[test]
fn residual_exports_import_as_dags_and_agree_with_onnxruntime() {
    for stem in RESIDUAL {
        let graph = agrees_with_onnxruntime(stem);
        let joins = graph.nodes.iter().filter(|n| n.op.kind() == "Add").count();
        let want = if *stem == "torch_residual" { 1 } else { 2 };
        assert_eq!(joins, want, "{stem}: {}", graph.summary());
        // integer inference of the quantized DAG stays close to onnxruntime's float outputs
        let (_, inputs) = load(stem);
        let model = quantize(&graph, &inputs.samples, &QuantConfig::default()).unwrap();
        assert!(!model.inputs.is_empty(), "{stem}: not a chain");
        let expected = inputs.reference_outputs.unwrap();
        let scale = expected.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
        for (i, (x, y)) in inputs.samples.iter().zip(&expected).enumerate() {
            let out = model.forward(&model.quantize_input(x)).pop().unwrap();
            for (k, (got, want)) in model.dequantize_output(&out).iter().zip(y).enumerate() {
                assert!(
                    (got - want).abs() <= 0.1 * scale,
                    "{stem} sample {i}[{k}]: quantized {got}, onnxruntime {want} (max |y| {scale})"
                );
            }
        }
    }
}

#[test]
fn view_exports_fold_the_shape_arithmetic() {
    for stem in [
        "torch_view_opset11",
        "torch_view_opset13",
        "torch_view_opset17",
    ] {
        let (graph, _) = load(stem);
        assert_eq!(graph.batch, zkml_model::BatchDim::Dynamic, "{stem}");
        let folded: Vec<&str> = graph.folded.iter().map(|f| f.onnx_op.as_str()).collect();
        for op in ["Shape", "Gather", "Unsqueeze", "Concat"] {
            assert!(folded.contains(&op), "{stem}: {op} not folded: {folded:?}");
        }
        let text = graph.summary().to_string();
        assert!(text.contains("constant: computed at import"), "{text}");
    }
}

fn json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn exports_set_up_prove_and_verify() {
    for stem in SUPPORTED.iter().chain(RESIDUAL) {
        let dir = Scratch::new(&format!("exporters-{stem}"));
        let (model, input) = (
            fixture(&format!("{stem}.onnx")),
            fixture(&format!("{stem}.json")),
        );
        let (pk, vk, proof) = (
            dir.join("model.pk"),
            dir.join("model.vk"),
            dir.join("p.bin"),
        );
        let args = [
            "setup",
            &s(&model),
            "--out",
            &s(&dir),
            "--calibration",
            &s(&input),
        ];
        let (code, _, err) = zkml(&args);
        assert_eq!(code, 0, "{stem} setup: {err}");
        let args = [
            "prove",
            "--pk",
            &s(&pk),
            "--input",
            &s(&input),
            "--proof",
            &s(&proof),
        ];
        let (code, _, err) = zkml(&args);
        assert_eq!(code, 0, "{stem} prove: {err}");
        let args = [
            "verify",
            "--vk",
            &s(&vk),
            "--proof",
            &s(&proof),
            "--input",
            &s(&input),
            "--json",
        ];
        let (code, out, err) = zkml(&args);
        assert_eq!(code, 0, "{stem} verify: {err}");
        // the verified outputs are close to onnxruntime's float outputs
        let (_, inputs) = load(stem);
        let expected = inputs.reference_outputs.unwrap();
        let outputs = &json(&out)["outputs"];
        let scale = expected.iter().flatten().fold(0f32, |m, v| m.max(v.abs()));
        for (i, y) in expected.iter().enumerate() {
            for (k, &want) in y.iter().enumerate() {
                let got = outputs[i][k].as_f64().unwrap() as f32;
                assert!(
                    (got - want).abs() <= 0.1 * scale,
                    "{stem} sample {i}[{k}]: verified {got}, onnxruntime {want} (max |y| {scale})"
                );
            }
        }
    }
}

#[test]
fn a_keras_cnn_folds_its_nhwc_transposes() {
    // NHWC: the input's Transpose is a Reshape here (one channel); the one before Flatten moves
    // data and is folded into the dense layer's weight columns
    let (code, out, err) = zkml(&["inspect", &s(&fixture("keras_cnn.onnx"))]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(
            "(Transpose): folded into sequential_1_1/dense_2_1/MatMul (its weight columns permuted)"
        ),
        "{out}"
    );
    // the Keras Flatten's shape arithmetic (Shape, Cast, Slice, Concat) is folded
    assert!(
        out.contains("(Slice): constant: computed at import"),
        "{out}"
    );
}

#[test]
fn an_sklearn_binary_classifier_proves_its_label_and_probabilities() {
    // MLPClassifier on two classes: Sigmoid and 1 - Sigmoid (two maps) joined by a Concat, the
    // label by ArgMax and ArrayFeatureExtractor; two graph outputs, both proven
    let model = s(&fixture("skl_mlp_classifier.onnx"));
    let input = s(&fixture("skl_mlp_classifier.json"));
    let dir = Scratch::new("exporters-skl");
    let (pk, vk, proof) = (
        dir.join("model.pk"),
        dir.join("model.vk"),
        dir.join("proof.bin"),
    );
    let (code, _, err) = zkml(&["setup", &model, "--out", &s(&dir), "--calibration", &input]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = zkml(&[
        "prove",
        "--pk",
        &s(&pk),
        "--input",
        &input,
        "--proof",
        &s(&proof),
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = zkml(&[
        "verify",
        "--vk",
        &s(&vk),
        "--proof",
        &s(&proof),
        "--input",
        &input,
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&input).unwrap()).unwrap();
    assert_eq!(doc["outputs"], doc["outputs_by_name"]["label"]);
    let labels = |v: &serde_json::Value| -> Vec<i64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r[0].as_f64().unwrap() as i64)
            .collect()
    };
    assert_eq!(labels(&doc["outputs"]), labels(&reference["output_data"]));
    let probs = doc["outputs_by_name"]["probabilities"].as_array().unwrap();
    let want = reference["probabilities_data"].as_array().unwrap();
    for (p, w) in probs.iter().zip(want) {
        for (a, b) in p.as_array().unwrap().iter().zip(w.as_array().unwrap()) {
            assert!(
                (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 0.02,
                "{p} {w}"
            );
        }
    }
}

#[test]
fn a_keras_3_normalization_exported_as_graph_inputs_is_refused_with_3_saying_why() {
    // Keras 3's export writes a Normalization layer's mean and variance as graph inputs with
    // no value in the file
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras/mlp_norm_k3.onnx");
    let (code, out, err) = zkml(&["inspect", &s(&model)]);
    assert_eq!(code, 3, "{out}{err}");
    assert!(
        err.contains("expected exactly one graph input") && err.contains("must be initializers"),
        "{err}"
    );
}
