//! Small models with pseudo-random weights for tests, benchmarks and fuzz targets (not part
//! of the stable API).
#![allow(
    clippy::expect_used,
    reason = "test and benchmark fixtures: a fixture that cannot be built is a bug in the test"
)]

use zkml_model::softmax::row_layout;
use zkml_model::{
    AddLayer, ArgMaxLayer, AvgPoolLayer, BatchDim, ConvLayer, DenseLayer, Expr, Func,
    LogSoftmaxLayer, MapLayer, MaxPoolLayer, Placement, QuantLayer, QuantizedModel, RelayoutLayer,
    ScaleMode, SoftmaxLayer, Window,
};

/// Index of an element of layer `l`'s output strictly inside the clamp range (`0 < out < 100`:
/// `sigma = 0`, and `out + 1` stays inside), for tests that forge a witness.
pub fn interior(w: &crate::witness::Witness, l: usize) -> usize {
    let out = &w.layers[l].out;
    out.iter()
        .position(|&v| v > 0 && v < 100)
        .expect("an unclamped element")
}

/// A deterministic pseudo-random generator (xorshift), so tests need no extra crates.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in `[lo, hi]`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }
}

/// Largest `bits`-bit magnitude: weights and inputs lie in `[-hi - 1, hi]`.
fn hi(bits: u32) -> i64 {
    (1 << (bits - 1)) - 1
}

/// Random weights, biases and multipliers of one layer with `rows` outputs of `fan_in` terms
/// each. The multiplier is about `2^32 * 2 / (hi * sqrt(fan_in))` (times 0.5..1.5): an output's
/// spread is then about its inputs', so outputs follow the input instead of saturating or
/// collapsing to the bias; biases are small next to the sums.
fn layer_params(rng: &mut Rng, rows: usize, fan_in: usize, bits: u32) -> [Vec<i64>; 3] {
    let h = hi(bits);
    let weight = (0..rows * fan_in).map(|_| rng.range(-h, h)).collect();
    let b = h * h * (fan_in as f64).sqrt() as i64 / 8;
    let bias = (0..rows).map(|_| rng.range(-b, b)).collect();
    let base = (2f64.powi(33) / (h as f64 * (fan_in.max(1) as f64).sqrt())) as i64;
    let multiplier = (0..rows)
        .map(|_| rng.range(base / 2, base * 3 / 2))
        .collect();
    [weight, bias, multiplier]
}

/// A dense chain `widths[0] -> widths[1] -> ...`, ReLU on every layer but the last (8 bits).
pub fn model(widths: &[usize], batch: BatchDim, seed: u64) -> QuantizedModel {
    model_bits(widths, batch, seed, 8)
}

/// [`model`] at `bits` bits.
pub fn model_bits(widths: &[usize], batch: BatchDim, seed: u64, bits: u32) -> QuantizedModel {
    let mut rng = Rng(seed | 1);
    let layers = widths
        .windows(2)
        .enumerate()
        .map(|(i, w)| {
            let (n_in, n_out) = (w[0], w[1]);
            let [weight, bias, multiplier] = layer_params(&mut rng, n_out, n_in, bits);
            QuantLayer::Dense(DenseLayer {
                name: format!("dense{i}"),
                n_in,
                n_out,
                weight,
                bias,
                multiplier,
                relu: i + 2 < widths.len(),
                out_scale: 0.05,
            })
        })
        .collect();
    QuantizedModel {
        bits,
        scales: ScaleMode::PerRow,
        batch,
        input_shape: vec![widths[0]],
        input_scale: 1.0 / 127.0,
        layers,
        inputs: Vec::new(),
        input_perm: Vec::new(),
        outputs: Vec::new(),
    }
}

/// `n` random int8 samples of length `len`.
pub fn inputs(n: usize, len: usize, seed: u64) -> Vec<Vec<i64>> {
    inputs_bits(n, len, seed, 8)
}

/// `n` random `bits`-bit samples of length `len`.
pub fn inputs_bits(n: usize, len: usize, seed: u64, bits: u32) -> Vec<Vec<i64>> {
    let mut rng = Rng(seed | 1);
    let h = hi(bits);
    (0..n)
        .map(|_| (0..len).map(|_| rng.range(-h - 1, h)).collect())
        .collect()
}

/// One op of a test CNN.
#[derive(Clone, Copy)]
pub enum Spec {
    /// Conv: out channels, kernel, stride, pads [top, left, bottom, right], relu.
    Conv(usize, [usize; 2], [usize; 2], [usize; 4], bool),
    /// MaxPool: kernel, stride, pads.
    Pool([usize; 2], [usize; 2], [usize; 4]),
    /// Dense: outputs, relu.
    Dense(usize, bool),
    /// AveragePool: kernel, stride, pads, relu.
    AvgPool([usize; 2], [usize; 2], [usize; 4], bool),
    /// AveragePool dividing each window by its positions inside the input (ONNX's
    /// `count_include_pad = 0`): one multiplier per output position. Kernel, stride, pads.
    AvgPoolInside([usize; 2], [usize; 2], [usize; 4]),
    /// The next layer reads tensor `t` (0: the input, `k + 1`: layer `k`) instead of the last
    /// layer's output (a branch); makes no layer.
    Read(usize),
    /// The sum of the current tensor and tensor `t` (same shape), relu.
    Add(usize, bool),
    /// The current tensor viewed as `view`, its axes permuted by `perm` (none: a reshape).
    Relayout([usize; 3], Option<[usize; 3]>),
    /// The current `[C][H][W]` tensor placed at `offset` inside a zero tensor of shape `out`
    /// (one input of a Concat).
    Embed([usize; 3], [usize; 3]),
    /// The current `[C][H][W]` tensor upsampled by repeating each row and column (a nearest
    /// Resize by integer factors).
    Upsample([usize; 2]),
    /// A sigmoid of the current tensor (a map: inputs at scale 1/16, outputs at 1/hi, so the
    /// table is not 0 at input 0).
    Sigmoid,
    /// PRelu of the current tensor with one slope per channel (its first dimension), each
    /// different (a map with one table per channel; inputs and outputs at scale 1/16).
    PRelu,
    /// A softmax of the current tensor, flat (inputs at scale 1/16).
    Softmax,
    /// A log-softmax of the current tensor, flat (inputs at scale 1/16, outputs at 1/8).
    LogSoftmax,
    /// A softmax of each row (the last axis) of the current tensor, its layout kept.
    SoftmaxRows,
    /// A log-softmax of each row of the current tensor, its layout kept.
    LogSoftmaxRows,
    /// The index of each row's first (`true`: last) maximum: `[outer.., 1]` out.
    ArgMaxRows(bool),
    /// The index of the current tensor's first (`true`: last) maximum, flat.
    ArgMax(bool),
}

/// A row op's row length and outer axes on a tensor of `shape`: over its last axis (`rows`),
/// or flat.
fn rows_of(shape: &[usize], rows: bool) -> (usize, Vec<usize>) {
    match rows {
        true => (
            shape.last().copied().unwrap_or(1),
            shape[..shape.len() - 1].to_vec(),
        ),
        false => (shape.iter().product(), Vec::new()),
    }
}

/// A CNN on `[C, H, W]` inputs built from `specs`, with random int8 weights.
pub fn cnn(input: [usize; 3], specs: &[Spec], batch: BatchDim, seed: u64) -> QuantizedModel {
    cnn_bits(input, specs, batch, seed, 8)
}

/// [`cnn`] at `bits` bits.
pub fn cnn_bits(
    input: [usize; 3],
    specs: &[Spec],
    batch: BatchDim,
    seed: u64,
    bits: u32,
) -> QuantizedModel {
    let mut rng = Rng(seed | 1);
    // the shape of every tensor (0: the input, k + 1: layer k), the tensor read next
    let mut shapes = vec![input.to_vec()];
    let mut cur = 0;
    let mut layers = Vec::new();
    let mut inputs = Vec::new();
    for (n, spec) in specs.iter().enumerate() {
        let name = format!("op{n}");
        let mut shape = shapes[cur].clone();
        let mut reads = vec![cur];
        match *spec {
            Spec::Read(t) => {
                cur = t;
                continue;
            }
            Spec::Add(t, relu) => {
                assert_eq!(shapes[t], shape, "a sum of two shapes");
                reads.push(t);
                let scales = [0; 2].map(|_| rng.range(1 << 31, 1 << 32));
                layers.push(QuantLayer::Add(AddLayer {
                    name,
                    shape: shape.clone(),
                    scales,
                    multiplier: vec![1; shape[0]],
                    relu,
                    out_scale: 0.05,
                }));
            }
            Spec::Conv(c_out, kernel, stride, pads, relu) => {
                let window = Window {
                    kernel,
                    stride,
                    pads,
                };
                let [oh, ow] = window.output_hw(shape[1], shape[2]).expect("geometry");
                let per = shape[0] * kernel[0] * kernel[1];
                let [weight, bias, multiplier] = layer_params(&mut rng, c_out, per, bits);
                layers.push(QuantLayer::Conv(ConvLayer {
                    name,
                    in_shape: [shape[0], shape[1], shape[2]],
                    out_shape: [c_out, oh, ow],
                    window,
                    weight,
                    bias,
                    multiplier,
                    relu,
                    out_scale: 0.05,
                }));
                shape = vec![c_out, oh, ow];
            }
            Spec::Pool(kernel, stride, pads) => {
                let window = Window {
                    kernel,
                    stride,
                    pads,
                };
                let [oh, ow] = window.output_hw(shape[1], shape[2]).expect("geometry");
                layers.push(QuantLayer::MaxPool(MaxPoolLayer {
                    name,
                    in_shape: [shape[0], shape[1], shape[2]],
                    out_shape: [shape[0], oh, ow],
                    window,
                    out_scale: 0.05,
                }));
                shape = vec![shape[0], oh, ow];
            }
            Spec::AvgPool(kernel, stride, pads, _) | Spec::AvgPoolInside(kernel, stride, pads) => {
                let window = Window {
                    kernel,
                    stride,
                    pads,
                };
                let [oh, ow] = window.output_hw(shape[1], shape[2]).expect("geometry");
                // about the average, times a factor in [1/2, 2): per channel (the divisor
                // kh kw), or per position (the window's positions inside the input)
                let (multiplier, relu) = match *spec {
                    Spec::AvgPool(.., relu) => {
                        let area = (kernel[0] * kernel[1]) as i64;
                        let m = (0..shape[0])
                            .map(|_| rng.range(1 << 31, 1 << 33) / area)
                            .collect();
                        (m, relu)
                    }
                    _ => {
                        let hw = [shape[1], shape[2]];
                        let counts = zkml_model::cnn::window_counts(&window, [0; 4], hw, [oh, ow]);
                        let m = (0..shape[0])
                            .flat_map(|_| counts.clone())
                            .map(|n| rng.range(1 << 31, 1 << 33) / n.max(1) as i64)
                            .collect();
                        (m, false)
                    }
                };
                layers.push(QuantLayer::AvgPool(AvgPoolLayer {
                    name,
                    in_shape: [shape[0], shape[1], shape[2]],
                    out_shape: [shape[0], oh, ow],
                    window,
                    multiplier,
                    relu,
                    out_scale: 0.05,
                }));
                shape = vec![shape[0], oh, ow];
            }
            Spec::Relayout(view, perm) => {
                let out = perm.map_or(view, |p| p.map(|a| view[a]));
                layers.push(QuantLayer::Relayout(RelayoutLayer {
                    name,
                    in_dims: shape,
                    out_dims: out.to_vec(),
                    view: view.to_vec(),
                    perm: perm.map_or_else(Vec::new, |p| p.to_vec()),
                    place: Placement::Whole,
                    out_scale: 0.05,
                }));
                shape = out.to_vec();
            }
            Spec::Embed(out, offset) => {
                layers.push(QuantLayer::Relayout(RelayoutLayer {
                    name,
                    in_dims: shape.clone(),
                    out_dims: out.to_vec(),
                    view: shape.clone(),
                    perm: Vec::new(),
                    place: Placement::Offset(offset.to_vec()),
                    out_scale: 0.05,
                }));
                shape = out.to_vec();
            }
            Spec::Upsample(factor) => {
                let out = vec![shape[0], shape[1] * factor[0], shape[2] * factor[1]];
                let maps = vec![
                    (0..shape[0]).collect(),
                    (0..out[1]).map(|y| y / factor[0]).collect(),
                    (0..out[2]).map(|x| x / factor[1]).collect(),
                ];
                layers.push(QuantLayer::Relayout(RelayoutLayer {
                    name,
                    in_dims: shape.clone(),
                    out_dims: out.clone(),
                    view: shape.clone(),
                    perm: Vec::new(),
                    place: Placement::Gather(maps),
                    out_scale: 0.05,
                }));
                shape = out;
            }
            Spec::Sigmoid => {
                let f = Expr::unary(Func::Sigmoid, Expr::X);
                let table = MapLayer::table(&f, false, 1.0 / 16.0, 1.0 / hi(bits) as f64, bits);
                layers.push(QuantLayer::Map(MapLayer {
                    name,
                    function: f.to_string(),
                    dims: shape.clone(),
                    table,
                    channels: 1,
                    out_scale: 0.05,
                }));
            }
            Spec::PRelu => {
                let slopes: Vec<f64> = (0..shape[0]).map(|c| 0.9 - 0.3 * c as f64).collect();
                let table = slopes
                    .iter()
                    .flat_map(|&a| {
                        MapLayer::table(&Expr::leaky_relu(a), false, 1.0 / 16.0, 1.0 / 16.0, bits)
                    })
                    .collect();
                layers.push(QuantLayer::Map(MapLayer {
                    name,
                    function: format!("prelu({} slopes)", slopes.len()),
                    dims: shape.clone(),
                    table,
                    channels: slopes.len(),
                    out_scale: 0.05,
                }));
            }
            Spec::Softmax | Spec::SoftmaxRows => {
                let (n, outer) = rows_of(&shape, matches!(spec, Spec::SoftmaxRows));
                layers.push(QuantLayer::Softmax(SoftmaxLayer {
                    name,
                    n,
                    outer: outer.clone(),
                    exp: SoftmaxLayer::exp_table(1.0 / 16.0, bits),
                    out_scale: 1.0 / SoftmaxLayer::q(bits) as f64,
                }));
                shape = row_layout(&outer, n);
            }
            Spec::ArgMax(last) | Spec::ArgMaxRows(last) => {
                let (n, outer) = rows_of(&shape, matches!(spec, Spec::ArgMaxRows(_)));
                shape = row_layout(&outer, 1);
                layers.push(QuantLayer::ArgMax(ArgMaxLayer {
                    name,
                    n,
                    outer,
                    last,
                }));
            }
            Spec::LogSoftmax | Spec::LogSoftmaxRows => {
                let (n, outer) = rows_of(&shape, matches!(spec, Spec::LogSoftmaxRows));
                let s_out = (1.0f64 / 8.0).max(LogSoftmaxLayer::min_scale(bits));
                shape = row_layout(&outer, n);
                layers.push(QuantLayer::LogSoftmax(LogSoftmaxLayer::new(
                    name,
                    n,
                    outer,
                    1.0 / 16.0,
                    s_out,
                    bits,
                )));
            }
            Spec::Dense(n_out, relu) => {
                let n_in: usize = shape.iter().product();
                let [weight, bias, multiplier] = layer_params(&mut rng, n_out, n_in, bits);
                layers.push(QuantLayer::Dense(DenseLayer {
                    name,
                    n_in,
                    n_out,
                    weight,
                    bias,
                    multiplier,
                    relu,
                    out_scale: 0.05,
                }));
                shape = vec![n_out];
            }
        }
        shapes.push(shape);
        inputs.push(reads);
        cur = layers.len();
    }
    QuantizedModel {
        bits,
        scales: ScaleMode::PerRow,
        batch,
        input_shape: input.to_vec(),
        input_scale: 1.0 / 127.0,
        layers,
        inputs,
        input_perm: Vec::new(),
        outputs: Vec::new(),
    }
}

/// A LeNet-style CNN on 3x32x32 widened to about 264k parameters (the model DeepProve
/// headlines): conv 5x5 to 32 and 64 channels, 2x2 max-pools, dense 1600 -> 128 -> 10.
pub fn cifar_264k_specs() -> [Spec; 6] {
    let (c5, p2) = (
        |c, relu| Spec::Conv(c, [5, 5], [1, 1], [0; 4], relu),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
    );
    [
        c5(32, true),
        p2,
        c5(64, true),
        p2,
        Spec::Dense(128, true),
        Spec::Dense(10, false),
    ]
}
