//! Graphs that are DAGs on hand-built protobufs: residual blocks (identity and strided 1x1
//! conv shortcuts), an MLP residual, a tensor read by three nodes, folding that must not
//! happen into a shared output, and the joins that stay refused. Float inference against
//! tract, quantized inference within a few steps of the float one.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto};

use super::cnn_tests::{float_matches_tract, int_attr, ints_attr, onnx_model, rand_vals, tensor};
use super::tests::{gap_reasons, import, node};
use crate::error::ModelError;
use crate::graph::Graph;
use crate::quantize::{QuantConfig, quantize};
use crate::quantized::{QuantLayer, QuantizedModel};

/// Nodes and initializers of a model under construction; `seed` makes every weight different.
#[derive(Default)]
struct Parts {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    seed: u64,
}

impl Parts {
    fn values(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        self.seed += 1;
        rand_vals(100 + self.seed, n, lo, hi)
    }

    /// A `k x k` Conv `c_in -> c_out` with bias, padding `k / 2`.
    fn conv(&mut self, name: &str, x: &str, y: &str, c: [usize; 2], k: usize, stride: usize) {
        let [c_in, c_out] = c;
        let scale = 1.0 / ((c_in * k * k) as f32).sqrt();
        let w = self.values(c_out * c_in * k * k, -scale, scale);
        let b = self.values(c_out, -0.1, 0.1);
        let (wn, bn) = (format!("{name}.w"), format!("{name}.b"));
        self.inits.push(tensor(&wn, &[c_out, c_in, k, k], w));
        self.inits.push(tensor(&bn, &[c_out], b));
        let attrs = vec![
            ints_attr("kernel_shape", &[k, k]),
            ints_attr("strides", &[stride, stride]),
            ints_attr("pads", &[k / 2; 4]),
        ];
        self.nodes
            .push(node("Conv", name, &[x, &wn, &bn], y, attrs));
    }

    /// An inference BatchNormalization of `c` channels with random statistics.
    fn bn(&mut self, name: &str, x: &str, y: &str, c: usize) {
        let names = ["gamma", "beta", "mean", "var"].map(|p| format!("{name}.{p}"));
        for (i, p) in names.iter().enumerate() {
            let (lo, hi) = if i == 3 { (0.3, 2.0) } else { (-0.8, 0.8) };
            let v = self.values(c, lo, hi);
            self.inits.push(tensor(p, &[c], v));
        }
        let mut inputs = vec![x];
        inputs.extend(names.iter().map(String::as_str));
        let mut n = node("BatchNormalization", name, &inputs, y, vec![]);
        n.attribute.push(AttributeProto {
            name: "epsilon".into(),
            f: 1e-3,
            r#type: AttributeType::Float as i32,
            ..Default::default()
        });
        self.nodes.push(n);
    }

    /// A Gemm `n_in -> n_out` with bias (`transB = 1`).
    fn gemm(&mut self, name: &str, x: &str, y: &str, n_in: usize, n_out: usize) {
        let scale = 1.0 / (n_in as f32).sqrt();
        let w = self.values(n_out * n_in, -scale, scale);
        let b = self.values(n_out, -0.1, 0.1);
        let (wn, bn) = (format!("{name}.w"), format!("{name}.b"));
        self.inits.push(tensor(&wn, &[n_out, n_in], w));
        self.inits.push(tensor(&bn, &[n_out], b));
        let trans = vec![int_attr("transB", 1)];
        self.nodes
            .push(node("Gemm", name, &[x, &wn, &bn], y, trans));
    }

    fn op(&mut self, op: &str, name: &str, inputs: &[&str], y: &str) {
        self.nodes.push(node(op, name, inputs, y, vec![]));
    }
}

fn kinds(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.kind()).collect()
}

fn inputs(g: &Graph) -> Vec<Vec<usize>> {
    g.nodes.iter().map(|n| n.inputs.clone()).collect()
}

/// Quantize with random calibration samples and check that integer inference of each sample
/// is within `steps` output steps of float inference; returns the model.
fn quantized_within(g: &Graph, steps: f64) -> QuantizedModel {
    let samples: Vec<Vec<f32>> = (0..6)
        .map(|s| rand_vals(60 + s, g.input_len(), -1.0, 1.0))
        .collect();
    let qm = quantize(g, &samples, &QuantConfig::default()).unwrap();
    let out_scale = qm.layers.last().map(|l| l.out_scale()).unwrap();
    for x in &samples {
        let yq = qm.forward(&qm.quantize_input(x)).pop().unwrap();
        let got = qm.dequantize_output(&yq);
        let want = g.float_forward(x).unwrap().pop().unwrap();
        for (a, b) in got.iter().zip(&want) {
            let err = (f64::from(*a) - b).abs() / out_scale;
            assert!(err <= steps, "{a} vs float {b}: {err} steps");
        }
    }
    qm
}

/// x [4, 6, 6] -> conv -> bn -> relu -> conv -> bn -> Add(x) -> relu.
fn identity_block() -> Parts {
    let mut p = Parts::default();
    p.conv("conv1", "x", "c1", [4, 4], 3, 1);
    p.bn("bn1", "c1", "b1", 4);
    p.op("Relu", "relu1", &["b1"], "r1");
    p.conv("conv2", "r1", "c2", [4, 4], 3, 1);
    p.bn("bn2", "c2", "b2", 4);
    p.op("Add", "add", &["b2", "x"], "s");
    p.op("Relu", "relu2", &["s"], "y");
    p
}

#[test]
fn a_residual_block_with_an_identity_shortcut_imports_quantizes_and_runs() {
    let p = identity_block();
    let m = onnx_model(&[1, 4, 6, 6], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 4, 6, 6]);
    assert_eq!(kinds(&g), ["Conv", "Relu", "Conv", "Add", "Relu"]);
    assert_eq!(inputs(&g), [vec![0], vec![1], vec![2], vec![3, 0], vec![4]]);
    assert_eq!(g.nodes[2].onnx_op, "Conv+BatchNormalization");
    let qm = quantized_within(&g, 3.0);
    assert_eq!(qm.inputs, [vec![0], vec![1], vec![2, 0]]);
    let QuantLayer::Add(add) = &qm.layers[2] else {
        panic!("{:?}", qm.layers[2])
    };
    assert!(add.relu && add.shape == [4, 6, 6]);
    let text = g.summary().to_string();
    assert!(text.contains("reads conv2, input"), "{text}");
    assert!(
        text.contains("proven: rescaled sum + requantization"),
        "{text}"
    );
    assert!(
        text.contains("proven: in the requantization clamp of add"),
        "{text}"
    );
}

#[test]
fn a_residual_block_with_a_strided_1x1_conv_shortcut_imports_quantizes_and_runs() {
    let mut p = Parts::default();
    p.conv("conv1", "x", "c1", [3, 6], 3, 2);
    p.bn("bn1", "c1", "b1", 6);
    p.op("Relu", "relu1", &["b1"], "r1");
    p.conv("conv2", "r1", "c2", [6, 6], 3, 1);
    p.bn("bn2", "c2", "b2", 6);
    p.conv("down", "x", "d", [3, 6], 1, 2);
    p.bn("down_bn", "d", "db", 6);
    p.op("Add", "add", &["b2", "db"], "s");
    p.op("Relu", "relu2", &["s"], "r2");
    p.op("GlobalAveragePool", "gap", &["r2"], "pooled");
    p.op("Flatten", "flat", &["pooled"], "f");
    p.gemm("fc", "f", "y", 6, 3);
    let m = onnx_model(&[1, 3, 8, 8], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 3, 8, 8]);
    let want = [
        "Conv", "Relu", "Conv", "Conv", "Add", "Relu", "AvgPool", "Reshape", "Dense",
    ];
    assert_eq!(kinds(&g), want);
    assert_eq!(g.nodes[3].onnx_op, "Conv+BatchNormalization");
    assert_eq!(g.nodes[4].inputs, [3, 4]);
    let qm = quantized_within(&g, 3.0);
    let reads = [vec![0], vec![1], vec![0], vec![2, 3], vec![4], vec![5]];
    assert_eq!(qm.inputs, reads);
}

#[test]
fn an_mlp_residual_imports_quantizes_and_runs() {
    let mut p = Parts::default();
    p.gemm("fc1", "x", "h1", 6, 6);
    p.op("Relu", "relu1", &["h1"], "r1");
    p.gemm("fc2", "r1", "h2", 6, 6);
    p.op("Add", "add", &["x", "h2"], "s");
    p.op("Relu", "relu2", &["s"], "r2");
    p.gemm("fc3", "r2", "y", 6, 3);
    let m = onnx_model(&[1, 6], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 6]);
    assert_eq!(
        kinds(&g),
        ["Dense", "Relu", "Dense", "Add", "Relu", "Dense"]
    );
    assert_eq!(g.nodes[3].inputs, [0, 3]);
    let qm = quantized_within(&g, 3.0);
    assert_eq!(qm.inputs, [vec![0], vec![1], vec![0, 2], vec![3]]);
}

#[test]
fn a_tensor_read_by_three_nodes_feeds_each_of_them() {
    let mut p = Parts::default();
    p.gemm("fc0", "x", "h0", 5, 5);
    p.op("Relu", "relu0", &["h0"], "h");
    p.gemm("fa", "h", "a", 5, 5);
    p.gemm("fb", "h", "b", 5, 5);
    p.op("Sum", "ab", &["a", "b"], "s");
    p.op("Add", "out", &["s", "h"], "y");
    let m = onnx_model(&[1, 5], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 5]);
    assert_eq!(kinds(&g), ["Dense", "Relu", "Dense", "Dense", "Add", "Add"]);
    assert_eq!(g.consumers()[2], [2, 3, 5]);
    let qm = quantized_within(&g, 3.0);
    let reads = [vec![0], vec![1], vec![1], vec![2, 3], vec![4, 1]];
    assert_eq!(qm.inputs, reads);
}

#[test]
fn batch_norm_is_not_folded_into_a_conv_whose_output_has_two_readers() {
    let mut p = Parts::default();
    p.conv("conv", "x", "c", [2, 3], 3, 1);
    p.bn("bn", "c", "b", 3);
    p.op("Add", "add", &["b", "c"], "y");
    let m = onnx_model(&[1, 2, 5, 5], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 2, 5, 5]);
    assert_eq!(kinds(&g), ["Conv", "Conv", "Add"]);
    assert_eq!(g.nodes[0].onnx_op, "Conv");
    assert_eq!(g.nodes[1].onnx_op, "BatchNormalization");
    assert_eq!(inputs(&g), [vec![0], vec![1], vec![2, 1]]);
    quantized_within(&g, 3.0);
}

#[test]
fn a_map_folds_forward_only_into_its_only_reader_and_the_reads_are_renumbered() {
    let mut p = Parts::default();
    p.inits.push(tensor("two", &[], vec![2.0]));
    // the input has two readers: the Mul is a diagonal op, folded forward into fa
    p.op("Mul", "double", &["x", "two"], "m");
    p.gemm("fa", "m", "a", 4, 4);
    p.op("Add", "skip", &["a", "x"], "s");
    // s has two readers: this Mul stays a diagonal op
    p.op("Mul", "twice", &["s", "two"], "t");
    p.gemm("fb", "t", "b", 4, 4);
    p.gemm("fc", "t", "c", 4, 4);
    p.op("Add", "join", &["b", "c"], "y");
    let m = onnx_model(&[1, 4], p.nodes, p.inits);
    let g = float_matches_tract(&m, &[1, 4]);
    assert_eq!(
        kinds(&g),
        ["Dense", "Add", "Dense", "Dense", "Dense", "Add"]
    );
    assert_eq!(g.nodes[0].onnx_op, "Mul+Gemm");
    assert_eq!(g.nodes[2].name, "twice");
    let reads = [vec![0], vec![1, 0], vec![2], vec![3], vec![3], vec![4, 5]];
    assert_eq!(inputs(&g), reads);
    quantized_within(&g, 3.0);
}

#[test]
fn concatenations_import_quantize_and_run() {
    // Inception-style: three branches of x [3, 6, 6] concatenated along the channels (one of
    // them x itself), a ReLU after, then along the rows with the input, a dense head
    let mut p = Parts::default();
    p.conv("a", "x", "ca", [3, 2], 3, 1);
    p.conv("b", "x", "cb", [3, 4], 1, 1);
    let cat = vec![int_attr("axis", 1)];
    p.nodes
        .push(node("Concat", "cat", &["ca", "x", "cb"], "k", cat));
    p.op("Relu", "relu", &["k"], "r");
    p.conv("c", "r", "cc", [9, 3], 3, 1);
    let rows = vec![int_attr("axis", -2)];
    p.nodes
        .push(node("Concat", "rows", &["cc", "x"], "j", rows));
    p.op("Flatten", "flat", &["j"], "f");
    p.gemm("fc", "f", "y", 3 * 12 * 6, 4);
    let g = float_matches_tract(&onnx_model(&[1, 3, 6, 6], p.nodes, p.inits), &[1, 3, 6, 6]);
    assert_eq!(
        kinds(&g),
        [
            "Conv", "Conv", "Concat", "Relu", "Conv", "Concat", "Reshape", "Dense"
        ]
    );
    assert_eq!(g.nodes[2].out_shape, Some(vec![9, 6, 6]));
    assert_eq!(g.nodes[5].out_shape, Some(vec![3, 12, 6]));
    // each Concat: one relayout per input, sums joining them, the ReLU the last sum's clamp
    let qm = quantized_within(&g, 3.0);
    let kinds: Vec<&str> = qm
        .layers
        .iter()
        .map(|l| match l {
            QuantLayer::Relayout(_) => "Relayout",
            QuantLayer::Map(_) => "Map",
            QuantLayer::Softmax(_) => "Softmax",
            QuantLayer::LogSoftmax(_) => "LogSoftmax",
            QuantLayer::ArgMax(_) => "ArgMax",
            QuantLayer::Add(a) if a.relu => "Add+Relu",
            QuantLayer::Add(_) => "Add",
            QuantLayer::Conv(_) => "Conv",
            QuantLayer::Dense(_) => "Dense",
            QuantLayer::MaxPool(_) | QuantLayer::AvgPool(_) => "Pool",
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Conv", "Conv", "Relayout", "Relayout", "Relayout", "Add", "Add+Relu", "Conv",
            "Relayout", "Relayout", "Add", "Dense"
        ]
    );
}

#[test]
fn concatenations_of_constants_along_the_batch_or_of_other_shapes_are_gaps() {
    let cat = |name: &str, inputs: &[&str], y: &str, axis: i64| {
        node("Concat", name, inputs, y, vec![int_attr("axis", axis)])
    };
    let mut p = Parts::default();
    p.gemm("fa", "x", "a", 4, 3);
    p.gemm("fb", "x", "b", 4, 3);
    p.nodes.push(cat("batch", &["a", "b"], "c", 0));
    p.nodes.push(cat("constant", &["a", "fb.b"], "d", 1));
    p.gemm("fc", "x", "e", 4, 6);
    p.nodes.push(cat("shapes", &["c", "d", "e"], "y", 1));
    let g = import(&onnx_model(&[1, 4], p.nodes, p.inits)).unwrap();
    let gaps = gap_reasons(&g);
    assert!(gaps[0].1.contains("axis 0 (a per-sample axis"), "{gaps:?}");
    assert!(
        gaps[1].1.contains("concatenates constants with data"),
        "{gaps:?}"
    );
    assert_eq!(gaps.len(), 3, "{gaps:?}");
}

#[test]
fn joins_of_other_shapes_or_ops_are_gaps_listed_together() {
    let mut p = Parts::default();
    p.gemm("fa", "x", "a", 4, 3);
    p.gemm("fb", "x", "b", 4, 4);
    p.op("Add", "broadcast", &["a", "b"], "s");
    p.op("Mul", "product", &["s", "b"], "q");
    p.op("Sub", "difference", &["q", "b"], "y");
    let g = import(&onnx_model(&[1, 4], p.nodes, p.inits)).unwrap();
    let gaps = gap_reasons(&g);
    let names: Vec<&str> = gaps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["broadcast", "product", "difference"]);
    assert!(gaps[0].1.contains("broadcasting"), "{gaps:?}");
    assert!(gaps[1].1.contains("joins 2 tensors"), "{gaps:?}");
    assert!(gaps[2].1.contains("joins 2 tensors"), "{gaps:?}");
}

#[test]
fn a_relu_of_an_output_that_another_node_reads_is_refused_at_quantization() {
    let mut p = Parts::default();
    p.gemm("fc", "x", "h", 3, 3);
    p.op("Relu", "relu", &["h"], "r");
    p.op("Add", "add", &["r", "h"], "y");
    let m = onnx_model(&[1, 3], p.nodes, p.inits);
    let g = import(&m).unwrap();
    assert!(g.unsupported().is_empty());
    let text = g.summary().to_string();
    assert!(
        text.contains("unsupported: the output it clamps is also read"),
        "{text}"
    );
    let err = quantize(&g, &[vec![0.5; 3]], &QuantConfig::default()).unwrap_err();
    let ModelError::Structure { detail } = &err else {
        panic!("{err}")
    };
    assert!(detail.contains("ReLU node relu"), "{detail}");
}

#[test]
fn a_graph_output_that_is_not_the_last_node_is_an_error() {
    let mut p = Parts::default();
    // out of graph order: the Relu (the output) comes before the Gemm it reads
    p.op("Relu", "relu", &["h"], "y");
    p.gemm("fc", "x", "h", 3, 3);
    let err = import(&onnx_model(&[1, 3], p.nodes, p.inits)).unwrap_err();
    let ModelError::Structure { detail } = &err else {
        panic!("{err}")
    };
    assert!(
        detail.contains("not the output of the last node"),
        "{detail}"
    );
}

#[test]
fn a_cast_names_the_tensor_it_reads_so_folding_looks_through_it() {
    let cast = |from: &str, to: &str| {
        let to_float = super::cnn_tests::int_attr("to", 1);
        node("Cast", &format!("cast_{from}"), &[from], to, vec![to_float])
    };
    // conv -> Cast -> BN: the BN folds into the conv through the Cast
    let mut p = Parts::default();
    p.conv("conv", "x", "c", [2, 3], 3, 1);
    p.nodes.push(cast("c", "cc"));
    p.bn("bn", "cc", "b", 3);
    p.op("Relu", "relu", &["b"], "y");
    let g = float_matches_tract(&onnx_model(&[1, 2, 5, 5], p.nodes, p.inits), &[1, 2, 5, 5]);
    assert_eq!(kinds(&g), ["Conv", "Relu"]);
    assert_eq!(g.nodes[0].onnx_op, "Conv+Cast+BatchNormalization");
    // conv -> Cast -> (BN, Add): the Cast's output has two readers, nothing folds
    let mut p = Parts::default();
    p.conv("conv", "x", "c", [2, 3], 3, 1);
    p.nodes.push(cast("c", "cc"));
    p.bn("bn", "cc", "b", 3);
    p.op("Add", "add", &["b", "cc"], "y");
    let g = float_matches_tract(&onnx_model(&[1, 2, 5, 5], p.nodes, p.inits), &[1, 2, 5, 5]);
    assert_eq!(kinds(&g), ["Conv", "Conv", "Add"]);
    assert_eq!(inputs(&g), [vec![0], vec![1], vec![2, 1]]);
    quantized_within(&g, 3.0);
}

#[test]
fn a_relu_after_a_max_pool_is_fused_before_the_pool_only_when_nothing_else_reads_between() {
    let pool = |x: &str, y: &str| {
        let attrs = vec![
            ints_attr("kernel_shape", &[2, 2]),
            ints_attr("strides", &[2, 2]),
        ];
        node("MaxPool", &format!("pool_{x}"), &[x], y, attrs)
    };
    let build = |shared: bool| {
        let mut p = Parts::default();
        p.conv("conv", "x", "c", [2, 3], 3, 1);
        p.nodes.push(pool("c", "m"));
        p.op("Relu", "relu", &["m"], "r");
        p.conv("conv2", "r", "d", [3, 3], 1, 1);
        // the shortcut reads the conv output (before the pool) or the ReLU
        let shortcut = if shared { "m" } else { "r" };
        p.op("Add", "add", &["d", shortcut], "y");
        onnx_model(&[1, 2, 6, 6], p.nodes, p.inits)
    };
    let g = float_matches_tract(&build(false), &[1, 2, 6, 6]);
    assert_eq!(kinds(&g), ["Conv", "MaxPool", "Relu", "Conv", "Add"]);
    let qm = quantized_within(&g, 3.0);
    let QuantLayer::Conv(c) = &qm.layers[0] else {
        panic!()
    };
    assert!(c.relu);
    assert_eq!(qm.inputs, [vec![0], vec![1], vec![2], vec![3, 2]]);
    let g = import(&build(true)).unwrap();
    let err = quantize(&g, &[vec![0.5; 72]], &QuantConfig::default()).unwrap_err();
    assert!(err.to_string().contains("other nodes also read"), "{err}");
}
