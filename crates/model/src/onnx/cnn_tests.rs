//! CNN import on hand-built protobufs: Conv / MaxPool geometry against tract, quantized conv
//! and max-pool inference within the quantization error, BatchNormalization folding, refusals.

use proptest::prelude::*;
use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};
use tract_onnx::prelude::{
    DatumType, Framework, InferenceFact, InferenceModelExt, IntoRunnable, Tensor, tract_ndarray,
    tvec,
};

use super::tests::{gap_reasons, import, model, node};
use crate::graph::{Graph, Op};
use crate::quantize::{QuantConfig, ScaleMode, quantize};
use crate::quantized::QuantLayer;
use crate::requant::activation_range;

/// Deterministic values in `[lo, hi)` (SplitMix64).
pub(super) fn rand_vals(seed: u64, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    let mut state = seed;
    (0..n)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            lo + (hi - lo) * ((z >> 40) as f32 / (1u32 << 24) as f32)
        })
        .collect()
}

pub(super) fn tensor(name: &str, dims: &[usize], values: Vec<f32>) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
        float_data: values,
        ..Default::default()
    }
}

pub(super) fn ints_attr(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        r#type: AttributeType::Ints as i32,
        ..Default::default()
    }
}

pub(super) fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        r#type: AttributeType::Int as i32,
        ..Default::default()
    }
}

pub(super) fn str_attr(name: &str, v: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: v.as_bytes().to_vec(),
        r#type: AttributeType::String as i32,
        ..Default::default()
    }
}

/// `model` with opset 13 (tract needs it).
pub(super) fn onnx_model(
    in_dims: &[usize],
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
) -> ModelProto {
    let dims: Vec<i64> = in_dims.iter().map(|&d| d as i64).collect();
    let mut m = model(&dims, nodes, inits);
    m.ir_version = 8;
    m.opset_import = vec![OperatorSetIdProto {
        domain: String::new(),
        version: 13,
    }];
    m
}

/// Run the model with tract: (output shape, values).
pub(super) fn tract_run(m: &ModelProto, in_dims: &[usize], x: &[f32]) -> (Vec<usize>, Vec<f32>) {
    let plan = tract_onnx::onnx()
        .model_for_proto_model(m)
        .and_then(|m| m.with_input_fact(0, InferenceFact::dt_shape(DatumType::F32, in_dims)))
        .and_then(|m| m.into_optimized())
        .and_then(|m| m.into_runnable())
        .unwrap();
    let t = tract_ndarray::Array::from_shape_vec(in_dims.to_vec(), x.to_vec()).unwrap();
    let y = plan.run(tvec!(Tensor::from(t).into())).unwrap();
    let view = y[0].to_plain_array_view::<f32>().unwrap();
    (y[0].shape().to_vec(), view.iter().copied().collect())
}

fn assert_close(ours: &[f64], tract: &[f32], what: &str) {
    assert_eq!(ours.len(), tract.len(), "{what}: lengths");
    for (k, (a, &b)) in ours.iter().zip(tract).enumerate() {
        let tol = 1e-4 * (1.0 + f64::from(b).abs());
        assert!(
            (a - f64::from(b)).abs() <= tol,
            "{what}[{k}]: {a} vs tract {b}"
        );
    }
}

/// One output extent of a window op, computed independently of `Window`.
fn extent(n: usize, k: usize, s: usize, pads: (usize, usize), auto_pad: &str) -> Option<usize> {
    match auto_pad {
        "SAME_UPPER" | "SAME_LOWER" => Some(n.div_ceil(s)),
        "VALID" => (n >= k).then(|| (n - k) / s + 1),
        _ => (n + pads.0 + pads.1 >= k).then(|| (n + pads.0 + pads.1 - k) / s + 1),
    }
}

/// One output extent of a MaxPool with explicit pads; with `ceil_mode`, ONNX's ceil formula
/// without the last window when it would start in the end padding.
fn pool_extent(n: usize, k: usize, s: usize, pads: (usize, usize), ceil: bool) -> Option<usize> {
    let padded = n + pads.0 + pads.1;
    if padded < k {
        return None;
    }
    if !ceil {
        return Some((padded - k) / s + 1);
    }
    let out = (padded - k).div_ceil(s) + 1;
    Some(if (out - 1) * s >= n + pads.0 {
        out - 1
    } else {
        out
    })
}

/// Kernel, strides, pads and ceil_mode of a MaxPool.
type PoolGeometry = ([usize; 2], [usize; 2], [usize; 4], bool);

#[derive(Clone, Debug)]
struct Geometry {
    c_in: usize,
    c_out: usize,
    hw: [usize; 2],
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: [usize; 4],
    auto_pad: &'static str,
    bias: bool,
    relu: bool,
    /// MaxPool (kernel, stride, pads, ceil_mode) after the conv.
    pool: Option<PoolGeometry>,
    per_layer: bool,
    seed: u64,
}

fn geometry() -> impl Strategy<Value = Geometry> {
    let conv = (
        (1usize..=5, 1usize..=5, 3usize..=12, 3usize..=12),
        (1usize..=5, 1usize..=5, 1usize..=3, 1usize..=3),
        prop::array::uniform4(0usize..=2),
        prop::sample::select(vec![
            "NOTSET",
            "NOTSET",
            "VALID",
            "SAME_UPPER",
            "SAME_LOWER",
        ]),
    );
    let pool = prop::option::of((
        prop::array::uniform2(1usize..=3),
        prop::array::uniform2(1usize..=3),
        prop::array::uniform4(0usize..=2),
        any::<bool>(),
    ));
    (conv, pool, any::<(bool, bool, bool)>(), any::<u64>()).prop_map(
        |(((ci, co, h, w), (kh, kw, sh, sw), pads, auto_pad), pool, (bias, relu, pl), seed)| {
            Geometry {
                c_in: ci,
                c_out: co,
                hw: [h, w],
                kernel: [kh, kw],
                stride: [sh, sw],
                pads,
                auto_pad,
                bias,
                relu,
                // Pool pads below the kernel (as ONNX requires).
                pool: pool.map(|(k, s, p, ceil)| {
                    let p = [p[0] % k[0], p[1] % k[1], p[2] % k[0], p[3] % k[1]];
                    (k, s, p, ceil)
                }),
                per_layer: pl,
                seed,
            }
        },
    )
}

/// The ONNX model of a geometry, and its expected output shape `[C, OH, OW]` (None: no fit).
fn build(g: &Geometry) -> (ModelProto, Option<[usize; 3]>) {
    let [kh, kw] = g.kernel;
    let mut attrs = vec![
        ints_attr("kernel_shape", &g.kernel),
        ints_attr("strides", &g.stride),
    ];
    if g.auto_pad == "NOTSET" {
        attrs.push(ints_attr("pads", &g.pads));
    } else {
        attrs.push(str_attr("auto_pad", g.auto_pad));
    }
    let n_w = g.c_out * g.c_in * kh * kw;
    let mut inits = vec![tensor(
        "w",
        &[g.c_out, g.c_in, kh, kw],
        rand_vals(g.seed, n_w, -1.0, 1.0),
    )];
    let mut inputs = vec!["x", "w"];
    if g.bias {
        inits.push(tensor(
            "b",
            &[g.c_out],
            rand_vals(g.seed ^ 1, g.c_out, -0.5, 0.5),
        ));
        inputs.push("b");
    }
    let mut nodes = vec![node("Conv", "conv", &inputs, "c", attrs)];
    let mut cur = "c";
    if g.relu {
        nodes.push(node("Relu", "relu", &[cur], "r", vec![]));
        cur = "r";
    }
    let p = g.pads;
    let oh = extent(g.hw[0], kh, g.stride[0], (p[0], p[2]), g.auto_pad);
    let ow = extent(g.hw[1], kw, g.stride[1], (p[1], p[3]), g.auto_pad);
    let mut shape = oh.zip(ow).map(|(a, b)| [g.c_out, a, b]);
    if let Some((k, s, pp, ceil)) = g.pool {
        let attrs = vec![
            ints_attr("kernel_shape", &k),
            ints_attr("strides", &s),
            ints_attr("pads", &pp),
            int_attr("ceil_mode", i64::from(ceil)),
        ];
        nodes.push(node("MaxPool", "pool", &[cur], "p", attrs));
        cur = "p";
        shape = shape.and_then(|[c, h, w]| {
            let oh = pool_extent(h, k[0], s[0], (pp[0], pp[2]), ceil)?;
            let ow = pool_extent(w, k[1], s[1], (pp[1], pp[3]), ceil)?;
            Some([c, oh, ow])
        });
    }
    nodes.push(node("Identity", "out", &[cur], "y", vec![]));
    let in_dims = [1, g.c_in, g.hw[0], g.hw[1]];
    (onnx_model(&in_dims, nodes, inits), shape)
}

/// Per element of the conv output (after ReLU), a bound on |dequantized - exact float| for the
/// quantized conv on the quantized input (the same terms as the accuracy tests).
fn conv_bound(graph: &Graph, qm: &crate::QuantizedModel, x: &[f32]) -> Vec<f64> {
    let Op::Conv(c) = &graph.nodes[0].op else {
        panic!("not a conv")
    };
    let QuantLayer::Conv(q) = &qm.layers[0] else {
        panic!("not a quantized conv")
    };
    let s_in = qm.input_scale;
    let xq = qm.quantize_input(x);
    let e: Vec<f64> = x
        .iter()
        .zip(&xq)
        .map(|(&v, &k)| (f64::from(v) - k as f64 * s_in).abs())
        .collect();
    let acc = q.accumulate(&xq);
    let y = c.forward(&x.iter().map(|&v| f64::from(v)).collect::<Vec<_>>());
    let wmax = crate::requant::weight_max(qm.bits) as f64;
    let amax = |w: &[f32]| w.iter().fold(0f64, |m, &v| m.max(f64::from(v).abs()));
    let (lo, hi) = activation_range(qm.bits);
    let (lo, hi) = (
        if q.relu { 0.0 } else { lo as f64 } * q.out_scale,
        hi as f64 * q.out_scale,
    );
    let [c_in, h, w] = c.in_shape;
    let [c_out, oh, ow] = c.out_shape;
    let [kh, kw] = c.window.kernel;
    let mut bound = Vec::with_capacity(c_out * oh * ow);
    for o in 0..c_out {
        let f = c.filter(o);
        let m = match qm.scales {
            ScaleMode::PerRow => amax(f),
            ScaleMode::PerLayer => amax(&c.weight),
        };
        let s_w = if m > 0.0 { m / wmax } else { 1.0 };
        for yy in 0..oh {
            for xx in 0..ow {
                let (mut prop, mut l1) = (0.0, 0.0);
                for ci in 0..c_in {
                    for i in 0..kh {
                        for j in 0..kw {
                            let (Some(sy), Some(sx)) =
                                (c.window.source(0, yy, i, h), c.window.source(1, xx, j, w))
                            else {
                                continue;
                            };
                            let idx = (ci * h + sy) * w + sx;
                            prop += f64::from(f[(ci * kh + i) * kw + j]).abs() * e[idx];
                            l1 += (xq[idx] as f64 * s_in).abs();
                        }
                    }
                }
                let k = bound.len();
                let v = if q.relu { y[k].max(0.0) } else { y[k] };
                let clip = (v - hi).max(lo - v).max(0.0);
                bound.push(
                    prop + s_w / 2.0 * l1
                        + s_in * s_w / 2.0
                        + q.out_scale * (0.5 + (acc[k] as f64).abs() * 2f64.powi(-33))
                        + clip,
                );
            }
        }
    }
    bound
}

fn check_geometry(g: &Geometry) -> Result<bool, TestCaseError> {
    let (m, shape) = build(g);
    let Some(shape) = shape else {
        // The window does not fit: a shape error naming the node.
        let err = import(&m).unwrap_err();
        prop_assert!(err.to_string().contains("does not fit"), "{}", err);
        return Ok(false);
    };
    let graph = import(&m).unwrap();
    prop_assert!(graph.unsupported().is_empty(), "{:?}", graph.unsupported());
    prop_assert_eq!(graph.output_len(), Some(shape.iter().product::<usize>()));
    let in_dims = [1, g.c_in, g.hw[0], g.hw[1]];
    let x = rand_vals(g.seed ^ 7, graph.input_len(), -1.0, 1.0);
    let (t_shape, y) = tract_run(&m, &in_dims, &x);
    prop_assert_eq!(&t_shape[1..], &shape[..]);
    let ours = graph.float_forward(&x).unwrap().pop().unwrap();
    assert_close(&ours, &y, "float");

    let scales = if g.per_layer {
        ScaleMode::PerLayer
    } else {
        ScaleMode::PerRow
    };
    let config = QuantConfig { bits: 8, scales };
    let qm = quantize(&graph, std::slice::from_ref(&x), &config).unwrap();
    prop_assert_eq!(qm.layers.len(), 1 + usize::from(g.pool.is_some()));
    let outs = qm.forward(&qm.quantize_input(&x));
    let mut bound = conv_bound(&graph, &qm, &x);
    if let (Some(QuantLayer::MaxPool(p)), Some(conv_out)) = (qm.layers.get(1), outs.first()) {
        // Max-pool is exact on the integers; its error is the largest in its window.
        let [c, h, w] = p.in_shape;
        let [_, oh, ow] = p.out_shape;
        let (mut pooled, mut pooled_bound) = (Vec::new(), Vec::new());
        for ch in 0..c {
            for yy in 0..oh {
                for xx in 0..ow {
                    let (mut v, mut b) = (i64::MIN, 0f64);
                    for i in 0..p.window.kernel[0] {
                        for j in 0..p.window.kernel[1] {
                            if let (Some(sy), Some(sx)) =
                                (p.window.source(0, yy, i, h), p.window.source(1, xx, j, w))
                            {
                                v = v.max(conv_out[(ch * h + sy) * w + sx]);
                                b = b.max(bound[(ch * h + sy) * w + sx]);
                            }
                        }
                    }
                    pooled.push(v);
                    pooled_bound.push(b);
                }
            }
        }
        prop_assert_eq!(&pooled, &outs[1]);
        prop_assert_eq!(p.out_scale, qm.layers[0].out_scale());
        bound = pooled_bound;
    }
    let deq = qm.dequantize_output(outs.last().unwrap());
    for (k, (&a, &b)) in deq.iter().zip(&y).enumerate() {
        let err = f64::from(a - b).abs();
        let tol = bound[k] + 1e-4 * (1.0 + f64::from(b).abs());
        prop_assert!(
            err <= tol,
            "output {}: |{} - {}| = {} > {}",
            k,
            a,
            b,
            err,
            tol
        );
    }
    Ok(true)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn conv_and_maxpool_match_tract_within_the_quantization_error(g in geometry()) {
        check_geometry(&g)?;
    }
}

#[test]
fn most_random_geometries_fit() {
    // The proptest above mostly checks real convolutions, not "does not fit" errors.
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut fit, n) = (0, 200);
    for _ in 0..n {
        let g = geometry().new_tree(&mut runner).unwrap().current();
        fit += usize::from(check_geometry(&g).unwrap());
    }
    assert!(fit * 10 >= n * 7, "{fit}/{n} geometries fit");
}

#[test]
fn auto_pad_resolves_to_explicit_pads() {
    for (auto_pad, pads) in [
        ("SAME_UPPER", [1, 0, 2, 1]),
        ("SAME_LOWER", [2, 1, 1, 0]),
        ("VALID", [0, 0, 0, 0]),
    ] {
        let g = Geometry {
            c_in: 1,
            c_out: 1,
            hw: [7, 8],
            kernel: [4, 3],
            stride: [2, 2],
            pads: [0; 4],
            auto_pad,
            bias: false,
            relu: false,
            pool: None,
            per_layer: false,
            seed: 3,
        };
        let graph = import(&build(&g).0).unwrap();
        let Op::Conv(c) = &graph.nodes[0].op else {
            panic!()
        };
        // H: out 4, total (4-1)*2+4-7 = 3; W: out 4, total (4-1)*2+3-8 = 1.
        assert_eq!(c.window.pads, pads, "{auto_pad}");
        assert!(check_geometry(&g).unwrap());
    }
}

/// `x -> prefix nodes -> BatchNormalization -> y` with random BN parameters.
fn bn_model(
    in_dims: &[usize],
    mut nodes: Vec<NodeProto>,
    mut inits: Vec<TensorProto>,
    channels: usize,
) -> ModelProto {
    let input = nodes
        .last()
        .map_or("x".to_string(), |n| n.output[0].clone());
    let names = ["gamma", "beta", "mean", "var"];
    for (i, name) in names.iter().enumerate() {
        let (lo, hi) = if *name == "var" {
            (0.2, 2.0)
        } else {
            (-1.0, 1.0)
        };
        inits.push(tensor(
            name,
            &[channels],
            rand_vals(40 + i as u64, channels, lo, hi),
        ));
    }
    let mut bn = node(
        "BatchNormalization",
        "bn",
        &[&input, "gamma", "beta", "mean", "var"],
        "y",
        vec![],
    );
    bn.attribute.push(AttributeProto {
        name: "epsilon".into(),
        f: 1e-3,
        r#type: AttributeType::Float as i32,
        ..Default::default()
    });
    nodes.push(bn);
    onnx_model(in_dims, nodes, inits)
}

pub(super) fn float_matches_tract(m: &ModelProto, in_dims: &[usize]) -> Graph {
    let graph = import(m).unwrap();
    assert!(graph.unsupported().is_empty(), "{:?}", graph.unsupported());
    let x = rand_vals(5, graph.input_len(), -1.0, 1.0);
    let (_, y) = tract_run(m, in_dims, &x);
    assert_close(&graph.float_forward(&x).unwrap().pop().unwrap(), &y, "bn");
    let calib = vec![x.clone(), rand_vals(6, graph.input_len(), -1.0, 1.0)];
    quantize(&graph, &calib, &QuantConfig::default()).unwrap();
    graph
}

#[test]
fn batch_norm_folds_into_conv_and_gemm() {
    let conv = |with_bias: bool| {
        let mut inits = vec![tensor("w", &[4, 3, 3, 2], rand_vals(1, 72, -1.0, 1.0))];
        let mut inputs = vec!["x", "w"];
        if with_bias {
            inits.push(tensor("b", &[4], rand_vals(2, 4, -0.5, 0.5)));
            inputs.push("b");
        }
        let attrs = vec![ints_attr("pads", &[1, 0, 0, 1])];
        (vec![node("Conv", "conv", &inputs, "c", attrs)], inits)
    };
    for with_bias in [true, false] {
        let (nodes, inits) = conv(with_bias);
        let m = bn_model(&[1, 3, 5, 6], nodes, inits, 4);
        let g = float_matches_tract(&m, &[1, 3, 5, 6]);
        assert_eq!(g.nodes.len(), 1);
        assert_eq!(g.nodes[0].onnx_op, "Conv+BatchNormalization");
        let Op::Conv(c) = &g.nodes[0].op else {
            panic!()
        };
        assert!(c.bias.is_some());
    }
    let gemm = node(
        "Gemm",
        "fc",
        &["x", "w", "b"],
        "h",
        vec![int_attr("transB", 1)],
    );
    let inits = vec![
        tensor("w", &[5, 7], rand_vals(3, 35, -1.0, 1.0)),
        tensor("b", &[5], rand_vals(4, 5, -1.0, 1.0)),
    ];
    let m = bn_model(&[1, 7], vec![gemm], inits, 5);
    let g = float_matches_tract(&m, &[1, 7]);
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].onnx_op, "Gemm+BatchNormalization");
}

#[test]
fn lone_batch_norm_is_a_diagonal_linear_op() {
    // On the input: a 1x1 diagonal Conv.
    let m = bn_model(&[1, 3, 4, 5], vec![], vec![], 3);
    let g = float_matches_tract(&m, &[1, 3, 4, 5]);
    let Op::Conv(c) = &g.nodes[0].op else {
        panic!("{:?}", g.nodes[0].op)
    };
    assert_eq!(
        (c.window.kernel, c.in_shape, c.out_shape),
        ([1, 1], [3, 4, 5], [3, 4, 5])
    );
    assert_eq!(c.weight[1], 0.0);
    assert_ne!(c.weight[0], 0.0);
    // After a ReLU (not a linear op): not folded.
    let conv = node("Conv", "conv", &["x", "w"], "c", vec![]);
    let relu = node("Relu", "relu", &["c"], "r", vec![]);
    let w = tensor("w", &[2, 2, 1, 1], rand_vals(8, 4, -1.0, 1.0));
    let m = bn_model(&[1, 2, 3, 3], vec![conv, relu], vec![w], 2);
    let g = float_matches_tract(&m, &[1, 2, 3, 3]);
    assert_eq!(g.nodes.len(), 3);
    assert!(matches!(g.nodes[2].op, Op::Conv(_)));
    // On a flat input: a diagonal Dense.
    let m = bn_model(&[1, 6], vec![], vec![], 6);
    let g = float_matches_tract(&m, &[1, 6]);
    assert!(matches!(&g.nodes[0].op, Op::Dense(d) if d.n_in == 6 && d.n_out == 6));
}

#[test]
fn pool_options_are_gaps_naming_the_node() {
    let cases: Vec<(NodeProto, Vec<TensorProto>, &str)> = vec![
        (
            node(
                "MaxPool",
                "ceil",
                &["x"],
                "y",
                vec![ints_attr("kernel_shape", &[2, 2]), int_attr("ceil_mode", 2)],
            ),
            vec![],
            "ceil_mode = 2",
        ),
        (
            node(
                "MaxPool",
                "dilpool",
                &["x"],
                "y",
                vec![
                    ints_attr("kernel_shape", &[2, 2]),
                    ints_attr("dilations", &[1, 2]),
                ],
            ),
            vec![],
            "dilations = [1, 2]",
        ),
        (
            node(
                "MaxPool",
                "storage",
                &["x"],
                "y",
                vec![
                    ints_attr("kernel_shape", &[2, 2]),
                    int_attr("storage_order", 1),
                ],
            ),
            vec![],
            "storage_order = 1",
        ),
    ];
    for (n, inits, reason) in cases {
        let name = n.name.clone();
        let g = import(&onnx_model(&[1, 2, 6, 6], vec![n], inits)).unwrap();
        let gaps = gap_reasons(&g);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].0, name);
        assert!(gaps[0].1.contains(reason), "{gaps:?}");
        let err = quantize(&g, &[vec![0.0; 72]], &QuantConfig::default()).unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
    }
}

#[test]
fn relu_after_max_pool_fuses_into_the_conv() {
    let w = tensor("w", &[2, 1, 3, 3], rand_vals(9, 18, -1.0, 1.0));
    let nodes = vec![
        node("Conv", "conv", &["x", "w"], "c", vec![]),
        node(
            "MaxPool",
            "pool",
            &["c"],
            "p",
            vec![
                ints_attr("kernel_shape", &[2, 2]),
                ints_attr("strides", &[2, 2]),
            ],
        ),
        node("Relu", "relu", &["p"], "y", vec![]),
    ];
    let m = onnx_model(&[1, 1, 6, 6], nodes, vec![w]);
    let g = float_matches_tract(&m, &[1, 1, 6, 6]);
    let qm = quantize(&g, &[rand_vals(5, 36, -1.0, 1.0)], &QuantConfig::default()).unwrap();
    let QuantLayer::Conv(c) = &qm.layers[0] else {
        panic!()
    };
    assert!(c.relu);
    assert_eq!(qm.layers.len(), 2);
}

/// In channels, out channels, group, kernel, dilations, pads.
type GroupedCase = (usize, usize, usize, [usize; 2], [usize; 2], [usize; 4]);

#[test]
fn grouped_depthwise_and_dilated_convs_match_tract() {
    let cases: [GroupedCase; 5] = [
        (4, 6, 2, [3, 3], [1, 1], [1; 4]),
        (3, 3, 3, [3, 3], [1, 1], [1; 4]),
        (4, 8, 4, [3, 1], [1, 1], [0, 0, 1, 0]),
        (2, 3, 1, [3, 3], [2, 2], [2; 4]),
        (4, 4, 4, [2, 3], [2, 1], [1, 0, 1, 2]),
    ];
    for (c_in, c_out, group, k, dil, pads) in cases {
        let per = c_in / group;
        let n = c_out * per * k[0] * k[1];
        let w = tensor(
            "w",
            &[c_out, per, k[0], k[1]],
            rand_vals(n as u64, n, -1.0, 1.0),
        );
        let b = tensor("b", &[c_out], rand_vals(3, c_out, -0.5, 0.5));
        let conv = node(
            "Conv",
            "conv",
            &["x", "w", "b"],
            "c",
            vec![
                int_attr("group", group as i64),
                ints_attr("dilations", &dil),
                ints_attr("pads", &pads),
            ],
        );
        let relu = node("Relu", "relu", &["c"], "y", vec![]);
        let dims = [1, c_in, 7, 6];
        let g = float_matches_tract(&onnx_model(&dims, vec![conv, relu], vec![w, b]), &dims);
        let Op::Conv(c) = &g.nodes[0].op else {
            panic!()
        };
        let span = |k: usize, d: usize| (k - 1) * d + 1;
        assert_eq!(c.window.kernel, [span(k[0], dil[0]), span(k[1], dil[1])]);
        assert_eq!(
            c.weight.len(),
            c_out * c_in * c.window.kernel[0] * c.window.kernel[1]
        );
    }
}

#[test]
fn conv_transposes_match_tract_and_quantize() {
    // (kernel, strides, pads, output_padding, group, dilations) on a [3, 4, 5] input; the
    // weight is [3, 2, kh, kw], so 2 output channels per group
    let cases = [
        ([2, 2], [2, 2], [0; 4], [0, 0], 1, [1, 1]),
        ([3, 3], [2, 2], [1, 1, 1, 1], [1, 1], 1, [1, 1]),
        ([3, 2], [1, 3], [1, 0, 2, 1], [0, 2], 1, [1, 1]),
        ([1, 1], [3, 2], [0; 4], [2, 1], 1, [1, 1]),
        ([2, 3], [2, 1], [1, 0, 0, 2], [1, 0], 3, [2, 1]),
    ];
    for (k, s, p, extra, group, dilation) in cases {
        let attrs = vec![
            ints_attr("strides", &s),
            ints_attr("pads", &p),
            ints_attr("output_padding", &extra),
            int_attr("group", group),
            ints_attr("dilations", &dilation),
        ];
        // after a conv (a ReLU must follow a layer)
        let nodes = vec![
            node("Conv", "c", &["x", "w0"], "c", vec![]),
            node("Relu", "r", &["c"], "r", vec![]),
            node("ConvTranspose", "up", &["r", "w", "b"], "y", attrs),
        ];
        let c_out = 2 * group as usize;
        let inits = vec![
            tensor("w0", &[3, 3, 1, 1], rand_vals(6, 9, -1.0, 1.0)),
            tensor(
                "w",
                &[3, 2, k[0], k[1]],
                rand_vals(7, 6 * k[0] * k[1], -1.0, 1.0),
            ),
            tensor("b", &[c_out], rand_vals(8, c_out, -0.2, 0.2)),
        ];
        let g = float_matches_tract(&onnx_model(&[1, 3, 4, 5], nodes, inits), &[1, 3, 4, 5]);
        let x = rand_vals(8, 60, -1.0, 1.0);
        let q = quantize(&g, std::slice::from_ref(&x), &QuantConfig::default()).unwrap();
        // the conv, the spread (a relayout), then the transposed conv as a conv
        assert!(
            matches!(q.layers[1], QuantLayer::Relayout(_)),
            "{k:?} {s:?}"
        );
        assert!(matches!(q.layers[2], QuantLayer::Conv(_)), "{k:?} {s:?}");
        q.forward(&q.quantize_input(&x));
    }
}

#[test]
fn conv_transposes_that_crop_are_gaps_and_bad_groups_errors() {
    let model = |attrs| {
        let nodes = vec![
            node("Relu", "r", &["x"], "r", vec![]),
            node("ConvTranspose", "up", &["r", "w"], "y", attrs),
        ];
        let inits = vec![tensor("w", &[3, 1, 2, 2], rand_vals(7, 12, -1.0, 1.0))];
        onnx_model(&[1, 3, 4, 5], nodes, inits)
    };
    let g = import(&model(vec![ints_attr("pads", &[2, 0, 0, 0])])).unwrap();
    let gaps = gap_reasons(&g);
    assert!(gaps[0].1.contains("past the kernel's reach"), "{gaps:?}");
    let err = import(&model(vec![int_attr("group", 2)]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("group 2 for 3 input channels"), "{err}");
}
