//! Arbitrary bytes as an ONNX model: import must return a graph or an error, never panic; an
//! imported graph is then quantized with random calibration, set up and run on one input, as
//! `zkml setup` and `zkml run` would.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_model::{QuantConfig, ScaleMode, import_onnx_bytes, quantize, random_calibration};

/// Skip graphs whose calibration alone would be large (not a finding: the CLI would be slow).
const MAX_INPUT_LEN: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Ok(graph) = import_onnx_bytes(data) else {
        return;
    };
    let _ = graph.summary().to_string();
    let _ = graph.unsupported();
    if graph.input_len() > MAX_INPUT_LEN || graph.param_count() > 1 << 22 {
        return;
    }
    let calib = random_calibration(&graph, 4, 0);
    for scales in [ScaleMode::PerRow, ScaleMode::PerLayer] {
        let Ok(q) = quantize(&graph, &calib, &QuantConfig { bits: 8, scales }) else {
            continue;
        };
        let x = q.quantize_input(&calib[0]);
        let _ = q.forward(&x);
    }
});
