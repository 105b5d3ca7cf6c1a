//! Integer inference against tract's float inference, within a bound derived from the scales.

mod common;

use common::{MODELS, asset, load};
use zkml_model::requant::{activation_range, weight_max};
use zkml_model::{
    Dense, FloatReference, Graph, Op, QuantConfig, QuantLayer, QuantizedModel, ScaleMode, quantize,
    random_calibration,
};

/// The float dense layers of the graph, in order (one per quantized layer).
fn dense_layers(graph: &Graph) -> Vec<&Dense> {
    graph
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Dense(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn weight_scale(d: &Dense, i: usize, mode: ScaleMode, bits: u32) -> f64 {
    let abs_max = |w: &[f32]| w.iter().fold(0f64, |m, &v| m.max((v as f64).abs()));
    let max = match mode {
        ScaleMode::PerRow => abs_max(d.row(i)),
        ScaleMode::PerLayer => abs_max(&d.weight),
    };
    if max > 0.0 {
        max / weight_max(bits) as f64
    } else {
        1.0
    }
}

/// Per output element, a bound on |dequantized integer output - exact float output|.
///
/// Layer by layer, with input error `e` and dequantized input `x^ = s_in * x_q`:
/// `|sum W x + b - s_in s_w acc| <= sum |W| e + s_w/2 sum |x^| + s_in s_w / 2` (weights and bias
/// rounded to the nearest step), requantization adds `s_out (1/2 + |acc| 2^-33)` (rounding, and
/// the multiplier rounded to 2^-32), clamping adds how far the float value lies outside the
/// representable range; ReLU is 1-Lipschitz.
fn error_bound(graph: &Graph, model: &QuantizedModel, x: &[f32]) -> Vec<f64> {
    let xq = model.quantize_input(x);
    let float_outs = layer_float_outputs(graph, x);
    let mut e: Vec<f64> = x
        .iter()
        .zip(&xq)
        .map(|(&v, &q)| (v as f64 - q as f64 * model.input_scale).abs())
        .collect();
    let (mut s_in, mut cur) = (model.input_scale, xq);
    let layers = model
        .layers
        .iter()
        .zip(dense_layers(graph))
        .zip(&float_outs);
    for ((layer, d), y_float) in layers {
        let QuantLayer::Dense(q) = layer;
        let acc = q.accumulate(&cur);
        let l1_x: f64 = cur.iter().map(|&v| (v as f64 * s_in).abs()).sum();
        let (lo, hi) = activation_range(model.bits);
        let (lo, hi) = (
            if q.relu { 0.0 } else { lo as f64 } * q.out_scale,
            hi as f64 * q.out_scale,
        );
        e = (0..q.n_out)
            .map(|i| {
                let s_w = weight_scale(d, i, model.scales, model.bits);
                let prop: f64 = d
                    .row(i)
                    .iter()
                    .zip(&e)
                    .map(|(&w, &ej)| (w as f64).abs() * ej)
                    .sum();
                let rounding = s_w / 2.0 * l1_x + s_in * s_w / 2.0;
                let requant = q.out_scale * (0.5 + (acc[i] as f64).abs() * 2f64.powi(-33));
                let clip = (y_float[i] - hi).max(lo - y_float[i]).max(0.0);
                prop + rounding + requant + clip
            })
            .collect();
        cur = q.forward(&cur, model.bits);
        s_in = q.out_scale;
    }
    e
}

/// The float output of each quantized layer (after its fused ReLU): the output of the last
/// graph node before the next dense node.
fn layer_float_outputs(graph: &Graph, x: &[f32]) -> Vec<Vec<f64>> {
    let outs = graph.float_forward(x).unwrap();
    let mut layers: Vec<Vec<f64>> = Vec::new();
    for (node, out) in graph.nodes.iter().zip(outs) {
        match (&node.op, layers.last_mut()) {
            (Op::Dense(_), _) => layers.push(out),
            (_, Some(last)) => *last = out,
            (_, None) => {}
        }
    }
    layers
}

/// One layer at a time: the layer's dequantized integer output against the float layer applied
/// to the dequantized integer input. The bound has no propagated term, so it is tight.
fn check_layers_one_by_one(graph: &Graph, model: &QuantizedModel, x: &[f32]) -> f64 {
    let (mut s_in, mut cur) = (model.input_scale, model.quantize_input(x));
    let mut worst = 0f64;
    for (layer, d) in model.layers.iter().zip(dense_layers(graph)) {
        let QuantLayer::Dense(q) = layer;
        let acc = q.accumulate(&cur);
        let out = q.forward(&cur, model.bits);
        let xh: Vec<f64> = cur.iter().map(|&v| v as f64 * s_in).collect();
        let l1_x: f64 = xh.iter().map(|v| v.abs()).sum();
        let (lo, hi) = activation_range(model.bits);
        let (lo, hi) = (
            if q.relu { 0.0 } else { lo as f64 } * q.out_scale,
            hi as f64 * q.out_scale,
        );
        for i in 0..q.n_out {
            let dot: f64 = d.row(i).iter().zip(&xh).map(|(&w, &v)| w as f64 * v).sum();
            let mut y = dot + d.bias_at(i) as f64;
            if q.relu {
                y = y.max(0.0);
            }
            let s_w = weight_scale(d, i, model.scales, model.bits);
            let bound = s_w / 2.0 * l1_x
                + s_in * s_w / 2.0
                + q.out_scale * (0.5 + (acc[i] as f64).abs() * 2f64.powi(-33))
                + (y - hi).max(lo - y).max(0.0);
            let err = (out[i] as f64 * q.out_scale - y).abs();
            assert!(
                err <= bound * (1.0 + 1e-9),
                "layer {} row {i}: error {err} > bound {bound}",
                q.name
            );
            worst = worst.max(err / bound);
        }
        cur = out;
        s_in = q.out_scale;
    }
    worst
}

/// Returns (max |error| vs tract, max error/bound end to end, max error/bound per layer).
fn check_model(model_file: &str, inputs_file: &str, config: &QuantConfig) -> (f64, f64, f64) {
    let (graph, inputs) = load(model_file, inputs_file);
    let reference =
        FloatReference::load(&asset(model_file), graph.batch, &graph.input_shape).unwrap();
    let batch = match graph.batch {
        zkml_model::BatchDim::Fixed(n) => n,
        zkml_model::BatchDim::Dynamic => 1,
    };
    let mut samples = inputs.samples.clone();
    samples.extend(random_calibration(&graph, 4 * batch, 99));
    let model = quantize(&graph, &samples, config).unwrap();
    let float = reference.run(&samples).unwrap();
    // The ONNX runtime outputs in the JSON agree with tract.
    for (t, o) in float.iter().zip(inputs.reference_outputs.as_ref().unwrap()) {
        for (a, b) in t.iter().zip(o) {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + b.abs()),
                "{model_file}: tract {a} vs onnxruntime {b}"
            );
        }
    }
    let (mut worst_err, mut worst_ratio, mut worst_layer) = (0f64, 0f64, 0f64);
    for (k, (x, y)) in samples.iter().zip(&float).enumerate() {
        let yq = model.forward(&model.quantize_input(x)).pop().unwrap();
        let deq = model.dequantize_output(&yq);
        let bound = error_bound(&graph, &model, x);
        for i in 0..y.len() {
            let err = (deq[i] as f64 - y[i] as f64).abs();
            let tol = bound[i] + 1e-4 * (1.0 + (y[i] as f64).abs());
            assert!(
                err <= tol,
                "{model_file} sample {k} output {i}: |{} - {}| = {err} > {tol}",
                deq[i],
                y[i]
            );
            worst_err = worst_err.max(err);
            worst_ratio = worst_ratio.max(err / tol);
        }
        worst_layer = worst_layer.max(check_layers_one_by_one(&graph, &model, x));
    }
    (worst_err, worst_ratio, worst_layer)
}

#[test]
fn integer_inference_matches_tract_within_the_bound() {
    for bits in [8, 6, 12, 16] {
        for scales in [ScaleMode::PerRow, ScaleMode::PerLayer] {
            let config = QuantConfig { bits, scales };
            for (model, inputs) in MODELS {
                let (err, ratio, layer) = check_model(model, inputs, &config);
                println!(
                    "{model} bits {bits} {scales:?}: max |error| {err:.5}, error/bound {ratio:.3}, per layer {layer:.3}"
                );
            }
        }
    }
}

/// Quantized vs float argmax (and vs labels) on the 100 held-out digits.
fn digits_agreement(model_file: &str, json: &str, config: &QuantConfig) -> (usize, usize, usize) {
    let (graph, inputs) = load(model_file, json);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asset(json)).unwrap()).unwrap();
    let labels: Vec<usize> = doc["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let model = quantize(&graph, &inputs.samples, config).unwrap();
    let reference =
        FloatReference::load(&asset(model_file), graph.batch, &graph.input_shape).unwrap();
    let float = reference.run(&inputs.samples).unwrap();
    let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
    let (mut agree, mut float_ok, mut quant_ok) = (0, 0, 0);
    for ((x, y), &label) in inputs.samples.iter().zip(&float).zip(&labels) {
        let yq = model.forward(&model.quantize_input(x)).pop().unwrap();
        let (qa, fa) = (argmax(&model.dequantize_output(&yq)), argmax(y));
        agree += usize::from(qa == fa);
        float_ok += usize::from(fa == label);
        quant_ok += usize::from(qa == label);
    }
    (agree, float_ok, quant_ok)
}

#[test]
fn digits_quantized_argmax_agrees_with_float() {
    let (agree, float_ok, quant_ok) = digits_agreement(
        "digits_mlp_5x100.onnx",
        "digits_mlp_5x100_test.json",
        &QuantConfig::default(),
    );
    println!(
        "digits_mlp_5x100 8-bit per-row: argmax agreement {agree}/100, float accuracy {float_ok}/100, quantized accuracy {quant_ok}/100"
    );
    assert!(agree >= 97, "argmax agreement {agree}/100");
    for (model, json) in [
        ("digits_mlp_5x100.onnx", "digits_mlp_5x100_test.json"),
        ("digits_mlp_7x50.onnx", "digits_mlp_7x50_test.json"),
    ] {
        for bits in [4, 6, 8] {
            for scales in [ScaleMode::PerRow, ScaleMode::PerLayer] {
                let (a, f, q) = digits_agreement(model, json, &QuantConfig { bits, scales });
                println!(
                    "{model} bits {bits} {scales:?}: agreement {a}/100, float acc {f}/100, quantized acc {q}/100"
                );
            }
        }
    }
}
