//! Integer inference against tract's float inference, within a bound derived from the scales.

mod common;

use common::{MODELS, asset, load};
use zkml_model::requant::{activation_range, weight_max};
use zkml_model::{
    DenseLayer, FloatReference, Graph, Op, QuantConfig, QuantLayer, QuantizedModel, ScaleMode,
    quantize, random_calibration,
};

/// A float layer seen element by element: each output of a linear layer is
/// `bias + sum_(j, w) w * x_j` over its taps; each output of a pool is the max over a window.
enum FloatLayer {
    Linear {
        /// Per output element: (input index, float weight).
        taps: Vec<Vec<(usize, f64)>>,
        bias: Vec<f64>,
        /// Per output element: the weight scale of its row (output channel).
        s_w: Vec<f64>,
    },
    Pool {
        windows: Vec<Vec<usize>>,
    },
}

fn scale_of(max: f64, bits: u32) -> f64 {
    if max > 0.0 {
        max / weight_max(bits) as f64
    } else {
        1.0
    }
}

fn abs_max(w: &[f32]) -> f64 {
    w.iter().fold(0f64, |m, &v| m.max((v as f64).abs()))
}

/// The float layers of the graph, in order (one per quantized layer).
fn float_layers(graph: &Graph, mode: ScaleMode, bits: u32) -> Vec<FloatLayer> {
    let row_scale = |row: &[f32], all: &[f32]| match mode {
        ScaleMode::PerRow => scale_of(abs_max(row), bits),
        ScaleMode::PerLayer => scale_of(abs_max(all), bits),
    };
    let mut out = Vec::new();
    for node in &graph.nodes {
        match &node.op {
            Op::Dense(d) => {
                let taps = (0..d.n_out)
                    .map(|i| d.row(i).iter().map(|&w| w as f64).enumerate().collect())
                    .collect();
                let bias = (0..d.n_out).map(|i| d.bias_at(i) as f64).collect();
                let s_w = (0..d.n_out)
                    .map(|i| row_scale(d.row(i), &d.weight))
                    .collect();
                out.push(FloatLayer::Linear { taps, bias, s_w });
            }
            Op::Conv(c) => {
                let [c_in, h, w] = c.in_shape;
                let [c_out, oh, ow] = c.out_shape;
                let [kh, kw] = c.window.kernel;
                let (mut taps, mut bias, mut s_w) = (Vec::new(), Vec::new(), Vec::new());
                for o in 0..c_out {
                    let f = c.filter(o);
                    let s = row_scale(f, &c.weight);
                    for y in 0..oh {
                        for x in 0..ow {
                            let mut t = Vec::new();
                            for ci in 0..c_in {
                                for i in 0..kh {
                                    for j in 0..kw {
                                        let (Some(sy), Some(sx)) = (
                                            c.window.source(0, y, i, h),
                                            c.window.source(1, x, j, w),
                                        ) else {
                                            continue;
                                        };
                                        let wv = f[(ci * kh + i) * kw + j] as f64;
                                        t.push(((ci * h + sy) * w + sx, wv));
                                    }
                                }
                            }
                            taps.push(t);
                            bias.push(c.bias_at(o) as f64);
                            s_w.push(s);
                        }
                    }
                }
                out.push(FloatLayer::Linear { taps, bias, s_w });
            }
            Op::MaxPool(p) => {
                let [ch, h, w] = p.in_shape;
                let [_, oh, ow] = p.out_shape;
                let [kh, kw] = p.window.kernel;
                let mut windows = Vec::new();
                for c in 0..ch {
                    for y in 0..oh {
                        for x in 0..ow {
                            let mut win = Vec::new();
                            for i in 0..kh {
                                for j in 0..kw {
                                    if let (Some(sy), Some(sx)) =
                                        (p.window.source(0, y, i, h), p.window.source(1, x, j, w))
                                    {
                                        win.push((c * h + sy) * w + sx);
                                    }
                                }
                            }
                            windows.push(win);
                        }
                    }
                }
                out.push(FloatLayer::Pool { windows });
            }
            Op::AvgPool(p) => {
                // a linear layer whose weights 1 / d quantize exactly (to 1, at s_w = 1 / d) for
                // each window's divisor d
                let div = p.divisors();
                let mut s_w = Vec::new();
                let [ch, h, wd] = p.in_shape;
                let [_, oh, ow] = p.out_shape;
                let [kh, kw] = p.window.kernel;
                let mut taps = Vec::new();
                for c in 0..ch {
                    for y in 0..oh {
                        for x in 0..ow {
                            let w = 1.0 / div[y * ow + x] as f64;
                            s_w.push(w);
                            let mut t = Vec::new();
                            for i in 0..kh {
                                for j in 0..kw {
                                    if let (Some(sy), Some(sx)) =
                                        (p.window.source(0, y, i, h), p.window.source(1, x, j, wd))
                                    {
                                        t.push(((c * h + sy) * wd + sx, w));
                                    }
                                }
                            }
                            taps.push(t);
                        }
                    }
                }
                let n = taps.len();
                out.push(FloatLayer::Linear {
                    taps,
                    bias: vec![0.0; n],
                    s_w,
                });
            }
            Op::Add
            | Op::Transpose(_)
            | Op::Concat(_)
            | Op::Map(_)
            | Op::PRelu(_)
            | Op::Softmax { .. }
            | Op::ArgMax { .. } => {
                unimplemented!("the models of this test are chains of dense, conv and pools")
            }
            Op::Relu | Op::Reshape | Op::Identity | Op::Unsupported(_) => {}
        }
    }
    out
}

/// The linear parts of a quantized layer: (accumulators, relu, out_scale), `None` for a pool.
fn linear_parts(layer: &QuantLayer, x: &[i64]) -> Option<(Vec<i64>, bool, f64)> {
    match layer {
        QuantLayer::Dense(d) => Some((d.accumulate(x), d.relu, d.out_scale)),
        QuantLayer::Conv(c) => Some((c.accumulate(x), c.relu, c.out_scale)),
        QuantLayer::AvgPool(p) => Some((p.accumulate(x), p.relu, p.out_scale)),
        QuantLayer::MaxPool(_) => None,
        QuantLayer::Add(_)
        | QuantLayer::Relayout(_)
        | QuantLayer::Map(_)
        | QuantLayer::Softmax(_)
        | QuantLayer::LogSoftmax(_)
        | QuantLayer::ArgMax(_) => {
            unimplemented!("the models of this test are chains without relayouts or maps")
        }
    }
}

/// The layers that stand for graph nodes, as one chain: without the flattening relayouts
/// quantization puts before a dense layer whose weights would otherwise be committed in a padded
/// `[C][H][W]` layout (`[n]` in, `[n]` out: the identity on the values), and with the row pieces
/// of a dense layer it splits (`{name}/rows{start}`, each reading the same input) joined back
/// into one layer, without the relayouts and exact sums that join their outputs.
fn graph_layers(model: &QuantizedModel) -> Vec<QuantLayer> {
    let mut layers: Vec<QuantLayer> = Vec::new();
    for l in &model.layers {
        let whole = |name: &str| name.split("/rows").next().unwrap_or(name).to_string();
        match (l, layers.last_mut()) {
            (QuantLayer::Relayout(r), _)
                if r.out_dims.len() == 1 && r.view.len() == 1 && r.perm.is_empty() => {}
            (QuantLayer::Dense(d), Some(QuantLayer::Dense(m)))
                if d.name.contains("/rows") && m.name == whole(&d.name) =>
            {
                m.n_out += d.n_out;
                m.weight.extend(&d.weight);
                m.bias.extend(&d.bias);
                m.multiplier.extend(&d.multiplier);
            }
            (QuantLayer::Dense(d), _) if d.name.contains("/rows") => {
                layers.push(QuantLayer::Dense(DenseLayer {
                    name: whole(&d.name),
                    ..d.clone()
                }));
            }
            (QuantLayer::Add(a), Some(QuantLayer::Dense(m))) if whole(&a.name) == m.name => {}
            _ => layers.push(l.clone()),
        }
    }
    layers
}

#[test]
fn a_dense_layer_split_by_rows_computes_the_whole_layer() {
    // the 264k CNN's fc7 (1600 -> 131, read flat: 2048 cells) is proven as rows 0..128 and
    // 128..131; joined, the pieces' outputs are the whole layer's, bit for bit
    let (graph, inputs) = load("cifar_cnn_264k.onnx", "cifar_cnn_264k_input.json");
    let model = quantize(
        &graph,
        &random_calibration(&graph, 8, 3),
        &QuantConfig::default(),
    )
    .unwrap();
    let names: Vec<&str> = model.layers.iter().map(|l| l.name()).collect();
    let piece = |n: &str| names.iter().position(|&m| m == n).unwrap();
    let (head, rest, joined) = (piece("fc7/rows0"), piece("fc7/rows128"), piece("fc7"));
    let rows = |l: usize| match &model.layers[l] {
        QuantLayer::Dense(d) => d.n_out,
        _ => panic!("{} is not a dense layer", names[l]),
    };
    assert_eq!((rows(head), rows(rest)), (128, 3));
    assert_eq!(model.layer_inputs(head), model.layer_inputs(rest));
    let whole = graph_layers(&model)
        .into_iter()
        .find(|l| l.name() == "fc7")
        .unwrap();
    for x in &inputs.samples {
        let traces = model.trace(&model.quantize_input(x));
        let input = match model.layer_inputs(head)[0] {
            0 => model.quantize_input(x),
            t => traces[t - 1].out.clone(),
        };
        assert_eq!(whole.run(&[&input], model.bits), traces[joined].out);
    }
}

/// The clamp range `[lo, hi]` of a linear layer's output, in real units.
fn real_range(bits: u32, relu: bool, out_scale: f64) -> (f64, f64) {
    let (lo, hi) = activation_range(bits);
    (
        if relu { 0.0 } else { lo as f64 } * out_scale,
        hi as f64 * out_scale,
    )
}

/// Per output element, a bound on |dequantized integer output - exact float output|.
///
/// Layer by layer, with input error `e` and dequantized input `x^ = s_in * x_q`:
/// `|sum W x + b - s_in s_w acc| <= sum |W| e + s_w/2 sum |x^| + s_in s_w / 2` (weights and bias
/// rounded to the nearest step), requantization adds `s_out (1/2 + |acc| 2^-33)` (rounding, and
/// the multiplier rounded to 2^-32), clamping adds how far the float value lies outside the
/// representable range; ReLU is 1-Lipschitz; a max-pool output errs by at most the largest
/// error in its window (the scale is kept).
fn error_bound(graph: &Graph, model: &QuantizedModel, x: &[f32]) -> Vec<f64> {
    let xq = model.quantize_input(x);
    let float_outs = layer_float_outputs(graph, x);
    let mut e: Vec<f64> = x
        .iter()
        .zip(&xq)
        .map(|(&v, &q)| (v as f64 - q as f64 * model.input_scale).abs())
        .collect();
    let (mut s_in, mut cur) = (model.input_scale, xq);
    let flayers = float_layers(graph, model.scales, model.bits);
    let layers = graph_layers(model);
    assert_eq!(flayers.len(), layers.len());
    for ((layer, fl), y_float) in layers.iter().zip(&flayers).zip(&float_outs) {
        e = match (fl, linear_parts(layer, &cur)) {
            (FloatLayer::Pool { windows }, None) => windows
                .iter()
                .map(|w| w.iter().map(|&j| e[j]).fold(0.0, f64::max))
                .collect(),
            (FloatLayer::Linear { taps, s_w, .. }, Some((acc, relu, s_out))) => {
                let (lo, hi) = real_range(model.bits, relu, s_out);
                (0..taps.len())
                    .map(|k| {
                        let prop: f64 = taps[k].iter().map(|&(j, w)| w.abs() * e[j]).sum();
                        let l1_x: f64 = taps[k]
                            .iter()
                            .map(|&(j, _)| (cur[j] as f64 * s_in).abs())
                            .sum();
                        let rounding = s_w[k] / 2.0 * l1_x + s_in * s_w[k] / 2.0;
                        let requant = s_out * (0.5 + (acc[k] as f64).abs() * 2f64.powi(-33));
                        let y = if relu {
                            y_float[k].max(0.0)
                        } else {
                            y_float[k]
                        };
                        let clip = (y - hi).max(lo - y).max(0.0);
                        prop + rounding + requant + clip
                    })
                    .collect()
            }
            _ => panic!("layer {} does not match the graph", layer.name()),
        };
        cur = layer.run(&[&cur], model.bits);
        s_in = layer.out_scale();
    }
    e
}

/// The float output of each quantized layer (after its fused ReLU): the output of the last
/// graph node before the next layer-making node.
fn layer_float_outputs(graph: &Graph, x: &[f32]) -> Vec<Vec<f64>> {
    let outs = graph.float_forward(x).unwrap();
    let mut layers: Vec<Vec<f64>> = Vec::new();
    for (node, out) in graph.nodes.iter().zip(outs) {
        match (&node.op, layers.last_mut()) {
            (Op::Dense(_) | Op::Conv(_) | Op::MaxPool(_), _) => layers.push(out),
            (_, Some(last)) => *last = out,
            (_, None) => {}
        }
    }
    layers
}

/// One layer at a time: the layer's dequantized integer output against the float layer applied
/// to the dequantized integer input. The bound has no propagated term, so it is tight; a
/// max-pool must be exact.
fn check_layers_one_by_one(graph: &Graph, model: &QuantizedModel, x: &[f32]) -> f64 {
    let (mut s_in, mut cur) = (model.input_scale, model.quantize_input(x));
    let mut worst = 0f64;
    let flayers = float_layers(graph, model.scales, model.bits);
    for (layer, fl) in graph_layers(model).iter().zip(&flayers) {
        let out = layer.run(&[&cur], model.bits);
        match (fl, linear_parts(layer, &cur)) {
            (FloatLayer::Pool { windows }, None) => {
                for (k, w) in windows.iter().enumerate() {
                    assert_eq!(out[k], w.iter().map(|&j| cur[j]).max().unwrap());
                }
                assert_eq!(layer.out_scale(), s_in);
            }
            (FloatLayer::Linear { taps, bias, s_w }, Some((acc, relu, s_out))) => {
                let (lo, hi) = real_range(model.bits, relu, s_out);
                for k in 0..taps.len() {
                    let dot: f64 = taps[k].iter().map(|&(j, w)| w * cur[j] as f64 * s_in).sum();
                    let l1_x: f64 = taps[k]
                        .iter()
                        .map(|&(j, _)| (cur[j] as f64 * s_in).abs())
                        .sum();
                    let mut y = dot + bias[k];
                    if relu {
                        y = y.max(0.0);
                    }
                    let bound = s_w[k] / 2.0 * l1_x
                        + s_in * s_w[k] / 2.0
                        + s_out * (0.5 + (acc[k] as f64).abs() * 2f64.powi(-33))
                        + (y - hi).max(lo - y).max(0.0);
                    let err = (out[k] as f64 * s_out - y).abs();
                    assert!(
                        err <= bound * (1.0 + 1e-9) + 1e-12,
                        "layer {} output {k}: error {err} > bound {bound}",
                        layer.name()
                    );
                    worst = worst.max(err / bound);
                }
            }
            _ => panic!("layer {} does not match the graph", layer.name()),
        }
        cur = out;
        s_in = layer.out_scale();
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
        // The graph's own f64 float inference agrees with tract.
        let own = graph.float_forward(x).unwrap().pop().unwrap();
        for (a, b) in own.iter().zip(y) {
            let tol = 1e-4 * (1.0 + (*b as f64).abs());
            assert!(
                (a - *b as f64).abs() <= tol,
                "{model_file}: {a} vs tract {b}"
            );
        }
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

/// Quantized vs float argmax (and vs labels) on the 100 held-out digits, calibrated on the 200
/// training rows of `<stem>_calibration.json`.
fn digits_agreement(stem: &str, config: &QuantConfig) -> (usize, usize, usize) {
    let (model_file, json) = (format!("{stem}.onnx"), format!("{stem}_test.json"));
    let (graph, inputs) = load(&model_file, &json);
    let calibration = zkml_model::load_calibration(
        &asset(&format!("{stem}_calibration.json")),
        &graph.input_spec(),
    )
    .unwrap();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(asset(&json)).unwrap()).unwrap();
    let labels: Vec<usize> = doc["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let model = quantize(&graph, &calibration, config).unwrap();
    let reference =
        FloatReference::load(&asset(&model_file), graph.batch, &graph.input_shape).unwrap();
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

/// The numbers in docs/MODELS.md: `cargo test --release -p zkml-model --test accuracy
/// digits -- --nocapture`.
#[test]
fn digits_quantized_argmax_agrees_with_float() {
    for stem in ["digits_mlp_5x100", "digits_mlp_7x50", "digits_cnn"] {
        let (agree, float_ok, quant_ok) = digits_agreement(stem, &QuantConfig::default());
        println!(
            "{stem} 8-bit per-row: argmax agreement {agree}/100, float accuracy {float_ok}/100, quantized accuracy {quant_ok}/100"
        );
        assert!(agree >= 97, "{stem}: argmax agreement {agree}/100");
        for bits in [4, 6, 8] {
            for scales in [ScaleMode::PerRow, ScaleMode::PerLayer] {
                let (a, f, q) = digits_agreement(stem, &QuantConfig { bits, scales });
                println!(
                    "{stem} bits {bits} {scales:?}: agreement {a}/100, float acc {f}/100, quantized acc {q}/100"
                );
            }
        }
    }
}
