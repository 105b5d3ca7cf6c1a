//! Constant arithmetic folded with tract (`x.view(x.size(0), -1)` and friends), no-op Casts,
//! float64 and float16 models, on hand-built protobufs.

use tract_onnx::pb::attribute_proto::AttributeType;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto};

use super::cnn_tests::{int_attr, ints_attr, rand_vals, tensor, tract_run};
use super::tests::{gap_reasons, import, model, node, value_info};
use crate::graph::{BatchDim, Op};

/// `model` (input dims with -1 for a symbolic batch) at opset 13.
fn opset13(in_dims: &[i64], nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    let mut m = model(in_dims, nodes, inits);
    m.ir_version = 8;
    m.opset_import = vec![OperatorSetIdProto {
        domain: String::new(),
        version: 13,
    }];
    m
}

fn int64s(name: &str, dims: &[i64], values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

/// `Shape -> Gather(0) -> Unsqueeze -> Concat with [-1] -> Reshape` of `x` (`[B, 2, 3]`), then
/// a Gemm 6 -> 4: the legacy PyTorch exporter's `x.view(x.size(0), -1)`. With `batch_last`
/// the target is `[-1, B]` instead.
fn view_model(batch: i64, batch_last: bool) -> ModelProto {
    let concat = if batch_last {
        ["minus1", "n1"]
    } else {
        ["n1", "minus1"]
    };
    let nodes = vec![
        node("Shape", "shape", &["x"], "s", vec![]),
        node(
            "Gather",
            "gather",
            &["s", "zero"],
            "n",
            vec![int_attr("axis", 0)],
        ),
        node("Unsqueeze", "unsqueeze", &["n", "axes"], "n1", vec![]),
        node(
            "Concat",
            "concat",
            &concat,
            "target",
            vec![int_attr("axis", 0)],
        ),
        node("Reshape", "view", &["x", "target"], "flat", vec![]),
        node(
            "Gemm",
            "fc",
            &["flat", "w", "b"],
            "y",
            vec![int_attr("transB", 1)],
        ),
    ];
    let inits = vec![
        int64s("zero", &[], &[0]),
        int64s("axes", &[1], &[0]),
        int64s("minus1", &[1], &[-1]),
        tensor("w", &[4, 6], rand_vals(1, 24, -1.0, 1.0)),
        tensor("b", &[4], rand_vals(2, 4, -0.5, 0.5)),
    ];
    opset13(&[batch, 2, 3], nodes, inits)
}

#[test]
fn view_of_the_batch_size_folds_for_dynamic_and_fixed_batches() {
    for batch in [-1, 1, 3] {
        let m = view_model(batch, false);
        let g = import(&m).unwrap();
        assert!(g.unsupported().is_empty(), "{batch}: {:?}", g.unsupported());
        assert_eq!(g.nodes.len(), 2, "{:?}", g.nodes);
        assert_eq!(g.nodes[0].op, Op::Reshape);
        assert_eq!(g.nodes[0].out_shape, Some(vec![6]));
        let folded: Vec<&str> = g.folded.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            folded,
            ["shape", "gather", "unsqueeze", "concat"],
            "{batch}"
        );
        assert!(
            g.folded
                .iter()
                .all(|f| f.how.contains("computed at import"))
        );
        let expected = if batch < 0 {
            BatchDim::Dynamic
        } else {
            BatchDim::Fixed(batch as usize)
        };
        assert_eq!(g.batch, expected);
        // the float graph agrees with tract on one sample (batch 1 or the fixed batch)
        let n = batch.max(1) as usize;
        let x = rand_vals(3, 6 * n, -1.0, 1.0);
        let (_, y) = tract_run(&m, &[n, 2, 3], &x);
        for (s, want) in x.chunks(6).zip(y.chunks(4)) {
            let ours = g.float_forward(s).unwrap().pop().unwrap();
            for (a, b) in ours.iter().zip(want) {
                assert!((a - f64::from(*b)).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }
}

#[test]
fn the_batch_size_elsewhere_in_a_target_is_refused() {
    let g = import(&view_model(-1, true)).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "view");
    assert!(gaps[0].1.contains("batch size at position 1"), "{gaps:?}");
}

#[test]
fn a_target_computed_from_the_data_is_refused_saying_so() {
    let nodes = vec![
        node("Cast", "to_int", &["x"], "xi", vec![int_attr("to", 7)]),
        node(
            "ReduceMax",
            "max",
            &["xi"],
            "m",
            vec![int_attr("keepdims", 0)],
        ),
        node("Reshape", "view", &["x", "m"], "y", vec![]),
    ];
    let g = import(&opset13(&[-1, 2], nodes, vec![])).unwrap();
    let gaps = gap_reasons(&g);
    let view = gaps.iter().find(|(n, _)| n == "view").unwrap();
    assert!(
        view.1.contains("computed from the data at run time"),
        "{gaps:?}"
    );
}

fn float_tensor_attr(name: &str, t: TensorProto) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        t: Some(t),
        r#type: AttributeType::Tensor as i32,
        ..Default::default()
    }
}

#[test]
fn weights_and_biases_computed_from_constants_are_folded() {
    // W = Transpose(wt), b = ConstantOfShape([4], 0.5): x @ W + b is a Dense layer
    let nodes = vec![
        node(
            "Transpose",
            "wt_t",
            &["wt"],
            "w",
            vec![ints_attr("perm", &[1, 0])],
        ),
        node("MatMul", "mm", &["x", "w"], "m", vec![]),
        node(
            "ConstantOfShape",
            "fill",
            &["dims"],
            "b",
            vec![float_tensor_attr("value", tensor("v", &[1], vec![0.5]))],
        ),
        node("Add", "bias", &["m", "b"], "y", vec![]),
    ];
    let wt = rand_vals(4, 12, -1.0, 1.0);
    let inits = vec![
        tensor("wt", &[4, 3], wt.clone()),
        int64s("dims", &[1], &[4]),
    ];
    let g = import(&opset13(&[-1, 3], nodes, inits)).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", g.unsupported());
    let [n] = &g.nodes[..] else {
        panic!("{:?}", g.nodes)
    };
    let Op::Dense(d) = &n.op else { panic!() };
    assert_eq!(d.weight, wt, "W^T rows are wt's rows");
    assert_eq!(d.bias, Some(vec![0.5; 4]));
    assert_eq!(n.onnx_op, "MatMul+Add");
}

#[test]
fn float_casts_on_the_chain_are_no_ops_and_others_are_refused() {
    let w = || tensor("w", &[3, 4], rand_vals(5, 12, -1.0, 1.0));
    let b = || tensor("b", &[4], vec![0.1, 0.2, 0.3, 0.4]);
    // Keras: MatMul -> Cast(float) -> Add
    let nodes = vec![
        node("MatMul", "mm", &["x", "w"], "m", vec![]),
        node("Cast", "cast", &["m"], "c", vec![int_attr("to", 1)]),
        node("Add", "bias", &["c", "b"], "y", vec![]),
    ];
    let g = import(&opset13(&[-1, 3], nodes, vec![w(), b()])).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", g.unsupported());
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].onnx_op, "MatMul+Cast+Add");
    assert!(matches!(&g.nodes[0].op, Op::Dense(d) if d.bias == Some(vec![0.1, 0.2, 0.3, 0.4])));
    // a cast to an integer type changes the data
    let nodes = vec![
        node("MatMul", "mm", &["x", "w"], "m", vec![]),
        node("Cast", "to_int", &["m"], "y", vec![int_attr("to", 7)]),
    ];
    let g = import(&opset13(&[-1, 3], nodes, vec![w()])).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "to_int");
    assert!(gaps[0].1.contains("cast of the data to INT64"), "{gaps:?}");
}

#[test]
fn float64_and_float16_models_import_as_float32() {
    let w64 = TensorProto {
        name: "w".into(),
        dims: vec![2, 3],
        data_type: DataType::Double as i32,
        double_data: vec![0.5, -1.0, 0.25, 2.0, 0.0, -0.5],
        ..Default::default()
    };
    // float16 bits of 1.0, -2.0 (stored in int32_data)
    let b16 = TensorProto {
        name: "b".into(),
        dims: vec![3],
        data_type: DataType::Float16 as i32,
        int32_data: vec![0x3C00, 0xC000, 0x3C00],
        ..Default::default()
    };
    let nodes = vec![
        node("Gemm", "fc", &["x", "w", "b"], "g", vec![]),
        node("Cast", "to_float", &["g"], "y", vec![int_attr("to", 1)]),
    ];
    let mut m = opset13(&[-1, 2], nodes, vec![w64, b16]);
    let graph = m.graph.as_mut().unwrap();
    graph.input = vec![value_info("x", &[-1, 2], DataType::Double)];
    let g = import(&m).unwrap();
    assert!(g.unsupported().is_empty(), "{:?}", g.unsupported());
    let y = g.float_forward(&[1.0, 2.0]).unwrap().pop().unwrap();
    // x @ W + b with W = [[0.5, -1, 0.25], [2, 0, -0.5]]
    assert_eq!(y, vec![4.5 + 1.0, -1.0 - 2.0, -0.75 + 1.0]);
    assert_eq!(g.model_params, 6 + 3);
    // an integer input is still refused, naming the input
    graph_input_refused(DataType::Int64, "INT64");
}

fn graph_input_refused(dt: DataType, name: &str) {
    let mut m = opset13(
        &[-1, 2],
        vec![node("Relu", "r", &["x"], "y", vec![])],
        vec![],
    );
    m.graph.as_mut().unwrap().input = vec![value_info("x", &[-1, 2], dt)];
    let err = import(&m).unwrap_err().to_string();
    assert!(err.contains(name) && err.contains("\"x\""), "{err}");
}

/// tf2onnx's flatten: `Shape -> Cast(int32) -> Slice(0:1) -> Concat with [-1] -> Cast(int64)
/// -> Reshape`.
#[test]
fn shape_slice_concat_with_casts_folds() {
    for batch in [-1, 2] {
        let nodes = vec![
            node("Shape", "shape", &["x"], "s", vec![]),
            node("Cast", "to_i32", &["s"], "s32", vec![int_attr("to", 6)]),
            node(
                "Slice",
                "slice",
                &["s32", "starts", "ends", "axes"],
                "n",
                vec![],
            ),
            node(
                "Concat",
                "concat",
                &["n", "minus1"],
                "t32",
                vec![int_attr("axis", 0)],
            ),
            node(
                "Cast",
                "to_i64",
                &["t32"],
                "target",
                vec![int_attr("to", 7)],
            ),
            node("Reshape", "flatten", &["x", "target"], "y", vec![]),
        ];
        let i32s = |name: &str, v: i32| TensorProto {
            name: name.into(),
            dims: vec![1],
            data_type: DataType::Int32 as i32,
            int32_data: vec![v],
            ..Default::default()
        };
        let inits = vec![
            int64s("starts", &[1], &[0]),
            int64s("ends", &[1], &[1]),
            int64s("axes", &[1], &[0]),
            i32s("minus1", -1),
        ];
        let g = import(&opset13(&[batch, 3, 2], nodes, inits)).unwrap();
        assert!(g.unsupported().is_empty(), "{batch}: {:?}", g.unsupported());
        assert_eq!(g.nodes.len(), 1, "{:?}", g.nodes);
        assert_eq!(g.nodes[0].out_shape, Some(vec![6]));
    }
}

/// `x.view(2 * x.size(0), -1)`, through a Cast (so only the concrete analyses see it): the
/// shape arithmetic is listed as computed at import, the Reshape is refused.
#[test]
fn a_target_that_scales_the_batch_is_refused() {
    let i32s = |name: &str, v: i32| TensorProto {
        name: name.into(),
        dims: vec![1],
        data_type: DataType::Int32 as i32,
        int32_data: vec![v],
        ..Default::default()
    };
    let nodes = vec![
        node("Shape", "shape", &["x"], "s", vec![]),
        node("Cast", "to_i32", &["s"], "s32", vec![int_attr("to", 6)]),
        node(
            "Slice",
            "slice",
            &["s32", "starts", "ends", "axes"],
            "n",
            vec![],
        ),
        node("Mul", "twice", &["n", "two"], "n2", vec![]),
        node(
            "Concat",
            "concat",
            &["n2", "minus1"],
            "t32",
            vec![int_attr("axis", 0)],
        ),
        node(
            "Cast",
            "to_i64",
            &["t32"],
            "target",
            vec![int_attr("to", 7)],
        ),
        node("Reshape", "view", &["x", "target"], "y", vec![]),
    ];
    let inits = vec![
        int64s("starts", &[1], &[0]),
        int64s("ends", &[1], &[1]),
        int64s("axes", &[1], &[0]),
        i32s("two", 2),
        i32s("minus1", -1),
    ];
    let g = import(&opset13(&[-1, 4], nodes, inits)).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "view");
    assert!(gaps[0].1.contains("depends on the batch size"), "{gaps:?}");
    let twice = g.folded.iter().find(|f| f.name == "twice").unwrap();
    assert!(twice.how.contains("from the batch size"), "{twice:?}");
}

/// A generator asking for 2^40 values: no folding (tract would allocate them), a clear gap.
#[test]
fn a_huge_constant_of_shape_is_not_folded() {
    let nodes = vec![
        node("ConstantOfShape", "huge", &["dims"], "big", vec![]),
        node("Relu", "relu", &["x"], "y", vec![]),
    ];
    let inits = vec![int64s("dims", &[2], &[1 << 20, 1 << 20])];
    let g = import(&opset13(&[-1, 3], nodes, inits)).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0].0, "huge");
    assert!(
        gaps[0].1.contains("would make 1099511627776 values"),
        "{gaps:?}"
    );
}

/// An out-of-range Gather index makes tract 0.23.9 panic while folding (found by the
/// `onnx_import` fuzz target): import goes on without folding, silently, and says why.
#[test]
fn a_panic_in_tract_is_caught_quietly() {
    let nodes = vec![
        node("Shape", "shape", &["x"], "s", vec![]),
        node(
            "Gather",
            "gather",
            &["s", "seven"],
            "n",
            vec![int_attr("axis", 0)],
        ),
        node("Reshape", "view", &["x", "n"], "y", vec![]),
    ];
    let g = import(&opset13(&[1, 3], nodes, vec![int64s("seven", &[1], &[7])])).unwrap();
    let gaps = gap_reasons(&g);
    let view = gaps.iter().find(|(n, _)| n == "view").unwrap();
    assert!(view.1.contains("tract panicked"), "{gaps:?}");
}
