//! Import edge cases on hand-built protobufs.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::{Dimension, dimension};
use tract_onnx::pb::type_proto::{Tensor as TensorType, Value as TypeValue};
use tract_onnx::pb::{
    AttributeProto, GraphProto, ModelProto, NodeProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

use super::import_proto;
use crate::error::ModelError;
use crate::graph::{BatchDim, Graph, Op};

pub(super) fn value_info(name: &str, dims: &[i64], elem: DataType) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 {
                dimension::Value::DimParam("N".into())
            } else {
                dimension::Value::DimValue(d)
            }),
            ..Default::default()
        })
        .collect();
    let tt = TensorType {
        elem_type: elem as i32,
        shape: Some(TensorShapeProto { dim }),
    };
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(TypeValue::TensorType(tt)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(super) fn floats(name: &str, dims: &[i64]) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: DataType::Float as i32,
        float_data: (0..n).map(|i| i as f32 * 0.1 - 0.3).collect(),
        ..Default::default()
    }
}

pub(super) fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: DataType::Int64 as i32,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

pub(super) fn node(
    op: &str,
    name: &str,
    inputs: &[&str],
    output: &str,
    attrs: Vec<AttributeProto>,
) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attrs,
        ..Default::default()
    }
}

pub(super) fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        ..Default::default()
    }
}

pub(super) fn float_attr(name: &str, f: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f,
        ..Default::default()
    }
}

/// A model with input `x` of `in_dims`, output `y`, the given nodes and initializers.
pub(super) fn model(in_dims: &[i64], nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    let graph = GraphProto {
        node: nodes,
        initializer: inits,
        input: vec![value_info("x", in_dims, DataType::Float)],
        output: vec![value_info("y", &[], DataType::Float)],
        ..Default::default()
    };
    ModelProto {
        graph: Some(graph),
        ..Default::default()
    }
}

pub(super) fn import(m: &ModelProto) -> Result<Graph, ModelError> {
    import_proto(m, None)
}

pub(super) fn gap_reasons(g: &Graph) -> Vec<(String, String)> {
    g.unsupported()
        .into_iter()
        .map(|u| (u.node, u.reason))
        .collect()
}

#[test]
fn gemm_attributes_become_gaps() {
    let nodes = vec![
        node(
            "Gemm",
            "ta",
            &["x", "w", "b"],
            "h1",
            vec![int_attr("transA", 1)],
        ),
        node(
            "Gemm",
            "beta",
            &["h1", "w2", "b2"],
            "h2",
            vec![float_attr("beta", 2.0)],
        ),
        node(
            "Gemm",
            "ok",
            &["h2", "w3"],
            "y",
            vec![int_attr("transB", 1)],
        ),
    ];
    let inits = vec![
        floats("w", &[4, 3]),
        floats("b", &[3]),
        floats("w2", &[3, 3]),
    ];
    let mut inits = inits;
    inits.extend([floats("b2", &[3]), floats("w3", &[2, 3])]);
    let g = import(&model(&[1, 4], nodes, inits)).unwrap();
    let gaps = gap_reasons(&g);
    assert_eq!(gaps.len(), 2, "{gaps:?}");
    assert!(gaps[0].1.contains("transA = 1"));
    assert!(gaps[1].1.contains("beta = 2"));
    let Op::Dense(d) = &g.nodes[2].op else {
        panic!()
    };
    assert_eq!((d.n_in, d.n_out), (3, 2));
    // Shapes are unknown after a gap that is not elementwise.
    assert_eq!(g.nodes[2].in_shape, None);
    assert_eq!(g.nodes[2].out_shape, Some(vec![2]));
}

#[test]
fn transb_layouts_agree() {
    // transB = 0: B is [in, out]; the graph stores [out][in].
    let nodes = vec![node("Gemm", "g", &["x", "w"], "y", vec![])];
    let g = import(&model(&[1, 2], nodes, vec![floats("w", &[2, 3])])).unwrap();
    let Op::Dense(d) = &g.nodes[0].op else {
        panic!()
    };
    let w = floats("w", &[2, 3]).float_data;
    assert_eq!(d.weight, vec![w[0], w[3], w[1], w[4], w[2], w[5]]);
}

#[test]
fn shape_mismatch_is_an_error() {
    let nodes = vec![node(
        "Gemm",
        "g",
        &["x", "w"],
        "y",
        vec![int_attr("transB", 1)],
    )];
    let err = import(&model(&[1, 5], nodes, vec![floats("w", &[3, 4])])).unwrap_err();
    assert!(
        matches!(&err, ModelError::Shape { node, .. } if node == "g"),
        "{err}"
    );
    assert!(
        err.to_string().contains("expect 4 inputs, the input has 5"),
        "{err}"
    );
}

#[test]
fn structure_errors() {
    let mut m = model(
        &[1, 2],
        vec![node("Relu", "r", &["x"], "y", vec![])],
        vec![],
    );
    m.graph
        .as_mut()
        .unwrap()
        .input
        .push(value_info("x2", &[1, 2], DataType::Float));
    assert!(matches!(import(&m), Err(ModelError::Structure { .. })));

    let m = model(
        &[1, 2],
        vec![node("Relu", "r", &["x"], "z", vec![])],
        vec![],
    );
    let err = import(&m).unwrap_err();
    assert!(err.to_string().contains("no chain of ops"), "{err}");

    let mut m = model(&[2], vec![node("Relu", "r", &["x"], "y", vec![])], vec![]);
    assert!(matches!(import(&m), Err(ModelError::Structure { .. })));
    m.graph.as_mut().unwrap().input = vec![value_info("x", &[1, 2], DataType::Int64)];
    let err = import(&m).unwrap_err();
    assert!(err.to_string().contains("INT64"), "{err}");
}

#[test]
fn joins_other_than_add_and_unknown_ops_are_gaps() {
    let nodes = vec![
        node("Shape", "shape", &["x"], "s", vec![]),
        node("Relu", "r", &["x"], "r_out", vec![]),
        node("Mul", "residual", &["r_out", "x"], "sum", vec![]),
        node("Add", "lonely_add", &["sum", "b"], "a", vec![]),
        NodeProto {
            domain: "com.microsoft".into(),
            ..node("Relu", "custom", &["a"], "y", vec![])
        },
    ];
    let g = import(&model(&[1, 2], nodes, vec![floats("b", &[2])])).unwrap();
    let gaps = gap_reasons(&g);
    let names: Vec<&str> = gaps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["residual", "custom"]);
    assert!(gaps[0].1.contains("two branches meet here"), "{gaps:?}");
    // an Add of a constant with no linear op to fold into is a diagonal linear op
    let add = g.nodes.iter().find(|n| n.name == "lonely_add").unwrap();
    assert!(matches!(&add.op, Op::Dense(d) if d.n_in == 2 && d.weight == [1.0, 0.0, 0.0, 1.0]));
    // the Shape of the input is a constant (folded), not a gap
    assert_eq!(g.folded[0].name, "shape");
}

#[test]
fn reshape_and_flatten_rules() {
    let reshape = |target: &[i64], in_dims: &[i64]| {
        let nodes = vec![node("Reshape", "rs", &["x", "t"], "y", vec![])];
        import(&model(in_dims, nodes, vec![ints("t", target)]))
    };
    let g = reshape(&[1, 3, 4], &[1, 12]).unwrap();
    assert_eq!(g.nodes[0].out_shape, Some(vec![3, 4]));
    let g = reshape(&[-1, 12], &[-1, 3, 4]).unwrap();
    assert_eq!(
        (g.batch, g.nodes[0].out_shape.clone()),
        (BatchDim::Dynamic, Some(vec![12]))
    );
    // [1, ...] on a dynamic batch: each sample runs as a batch of 1
    let g = reshape(&[1, 12], &[-1, 3, 4]).unwrap();
    assert_eq!(g.nodes[0].out_shape, Some(vec![12]));
    let g = reshape(&[2, 6], &[-1, 12]).unwrap();
    assert!(gap_reasons(&g)[0].1.contains("changes the batch"));
    let g = reshape(&[0, 2, -1], &[-1, 12]).unwrap();
    assert_eq!(g.nodes[0].out_shape, Some(vec![2, 6]));
    let g = reshape(&[2, 6], &[1, 12]).unwrap();
    assert!(gap_reasons(&g)[0].1.contains("changes the batch"));
    let g = reshape(&[-1, 6], &[1, 12]).unwrap();
    assert!(gap_reasons(&g)[0].1.contains("changes the batch"));
    assert!(matches!(
        reshape(&[1, 5], &[1, 12]),
        Err(ModelError::Shape { .. })
    ));

    let flatten = |axis: i64| {
        let nodes = vec![node(
            "Flatten",
            "f",
            &["x"],
            "y",
            vec![int_attr("axis", axis)],
        )];
        import(&model(&[1, 2, 3, 4], nodes, vec![]))
    };
    assert_eq!(flatten(1).unwrap().nodes[0].out_shape, Some(vec![24]));
    assert_eq!(flatten(-3).unwrap().nodes[0].out_shape, Some(vec![24]));
    assert!(gap_reasons(&flatten(2).unwrap())[0].1.contains("axis = 2"));
}

#[test]
fn matmul_with_constant_node_weights_and_bias() {
    let value = AttributeProto {
        name: "value".into(),
        t: Some(floats("", &[3, 2])),
        ..Default::default()
    };
    let nodes = vec![
        node("Constant", "c", &[], "w", vec![value]),
        node("MatMul", "mm", &["x", "w"], "h", vec![]),
        node("Add", "bias", &["b", "h"], "y", vec![]),
    ];
    let g = import(&model(&[-1, 3], nodes, vec![floats("b", &[1, 2])])).unwrap();
    assert!(g.unsupported().is_empty());
    assert_eq!(g.nodes.len(), 1);
    let Op::Dense(d) = &g.nodes[0].op else {
        panic!()
    };
    assert_eq!(g.nodes[0].onnx_op, "MatMul+Add");
    assert_eq!(d.bias.as_ref().unwrap().len(), 2);
    let w = floats("", &[3, 2]).float_data;
    assert_eq!(d.row(0), [w[0], w[2], w[4]]);
}

#[test]
fn initializers_of_types_tract_cannot_decode_are_errors_not_panics() {
    // found by fuzzing: tract's tensor loader panics on raw BFLOAT16 / COMPLEX64 / STRING data
    for (data_type, raw) in [(16, true), (14, true), (8, true), (14, false)] {
        let mut w = floats("w", &[2, 3]);
        w.float_data.clear();
        w.data_type = data_type;
        if raw {
            w.raw_data = vec![0; 24];
        }
        let nodes = vec![node("Gemm", "g", &["x", "w"], "y", vec![])];
        let err = import(&model(&[1, 2], nodes, vec![w])).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("data type {data_type} is not supported")),
            "{err}"
        );
    }
}
