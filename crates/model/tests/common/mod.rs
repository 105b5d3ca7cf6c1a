//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

use zkml_model::{Graph, Inputs, import_onnx, load_inputs};

/// The bundled models with their input files.
pub const MODELS: &[(&str, &str)] = &[
    ("digits_mlp_5x100.onnx", "digits_mlp_5x100_test.json"),
    ("digits_mlp_7x50.onnx", "digits_mlp_7x50_test.json"),
    ("mlp_matmul_add.onnx", "mlp_matmul_add_input.json"),
    ("mlp_flatten.onnx", "mlp_flatten_input.json"),
    ("mlp_batch4.onnx", "mlp_batch4_input.json"),
    (
        "mlp_dropout_identity.onnx",
        "mlp_dropout_identity_input.json",
    ),
    ("digits_cnn.onnx", "digits_cnn_test.json"),
    ("lenet_28.onnx", "lenet_28_input.json"),
    ("cnn_pad_stride_bn.onnx", "cnn_pad_stride_bn_input.json"),
    ("cifar_cnn_264k.onnx", "cifar_cnn_264k_input.json"),
];

pub fn asset(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets/models")
        .join(name)
}

pub fn load(model: &str, inputs: &str) -> (Graph, Inputs) {
    let graph = import_onnx(&asset(model)).unwrap_or_else(|e| panic!("{model}: {e}"));
    let inputs = load_inputs(&asset(inputs), &graph.input_spec()).unwrap();
    (graph, inputs)
}
