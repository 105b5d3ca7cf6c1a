//! Constant folding through tract: every tensor whose value does not depend on the graph input
//! (shape arithmetic such as `Shape -> Gather -> Unsqueeze -> Concat`, `ConstantOfShape`,
//! `Cast`/`Slice`/`Concat` of constants, weights transposed by an op) becomes a constant, so
//! that the chain walk sees one data input and a Reshape gets a known target.
//!
//! tract analyses the model with the input's per-sample shape fixed and its batch either fixed
//! (as written in the file) or a symbol. A value that contains the batch symbol is kept as a
//! symbolic tensor: a Reshape target `[N, -1]` keeps the batch, anything else that depends on
//! it is refused where it is used. The analysis is obstinate (it continues past ops tract
//! cannot take); when tract cannot read the model at all, nothing is folded and the reason is
//! kept for the messages of the ops that needed a folded value.

use std::collections::HashMap;

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::{DatumType, InferenceFact, InferenceModelExt, Symbol, TDim, Tensor};
use tract_onnx::tract_hir::infer::Factoid;
use tract_onnx::tract_hir::internal::{OutletId, tvec};

use super::proto::Const;
use crate::graph::BatchDim;

/// What constant folding found.
#[derive(Default)]
pub(crate) struct Folded {
    /// Values of tensors produced by nodes (initializers and the input are not in it), by
    /// ONNX tensor name.
    pub consts: HashMap<String, Const>,
    /// Why tract could not analyse the model, if it could not.
    pub failure: Option<String>,
    /// The symbol that stands for a dynamic batch in symbolic values.
    pub batch: Option<Symbol>,
}

/// Fold every input-independent tensor of `proto` with tract.
///
/// `input` is the name of the graph input, `batch` its batch dimension and `sample` its
/// per-sample shape; `dir` is where external tensor data lives.
pub(crate) fn fold(
    proto: &ModelProto,
    dir: Option<&str>,
    input: &str,
    batch: BatchDim,
    sample: &[usize],
) -> Folded {
    if let Some(missing) = unproduced_output(proto) {
        return Folded {
            failure: Some(format!("no node produces the graph output {missing:?}")),
            ..Folded::default()
        };
    }
    // tract is not written for untrusted files: a panic in it means no folding, not a crash
    let run = std::panic::AssertUnwindSafe(|| analyse(proto, dir, input, batch, sample));
    let result = match std::panic::catch_unwind(run) {
        Ok(result) => result,
        Err(_) => Err(tract_onnx::prelude::TractError::msg("tract panicked")),
    };
    match result {
        Ok((consts, batch)) => Folded {
            consts,
            failure: None,
            batch,
        },
        Err(e) => Folded {
            failure: Some(format!("{e:#}")),
            ..Folded::default()
        },
    }
}

fn analyse(
    proto: &ModelProto,
    dir: Option<&str>,
    input: &str,
    batch: BatchDim,
    sample: &[usize],
) -> tract_onnx::prelude::TractResult<(HashMap<String, Const>, Option<Symbol>)> {
    let parsed = tract_onnx::onnx().parse(proto, dir)?;
    let mut model = parsed.model;
    let (batch_dim, symbol) = match batch {
        BatchDim::Fixed(n) => (TDim::Val(n as i64), None),
        BatchDim::Dynamic => {
            let s = model
                .symbols
                .sym(&batch_param(proto).unwrap_or_else(|| "N".into()));
            (TDim::Sym(s.clone()), Some(s))
        }
    };
    let ix = model
        .inputs
        .iter()
        .position(|o| model.outlet_label(*o) == Some(input) || model.node(o.node).name == input)
        .unwrap_or(0);
    let dt = model
        .input_fact(ix)?
        .datum_type
        .concretize()
        .unwrap_or(DatumType::F32);
    let mut dims = tvec![batch_dim];
    dims.extend(sample.iter().map(|&d| TDim::Val(d as i64)));
    model.set_input_fact(ix, InferenceFact::dt_shape(dt, dims))?;
    // obstinate: facts stay as far as tract got; an error only means some values are unknown
    let _ = model.analyse(true);
    let mut consts = HashMap::new();
    for (name, outlet) in &parsed.outlets_by_name {
        if name == input || proto_initializer(proto, name) {
            continue;
        }
        if let Some(c) = value(&model, *outlet) {
            consts.insert(name.clone(), c);
        }
    }
    Ok((consts, symbol))
}

/// A graph output that no node, input or initializer produces (tract's parser would panic).
fn unproduced_output(proto: &ModelProto) -> Option<String> {
    let g = proto.graph.as_ref()?;
    let known = |name: &str| {
        g.node.iter().any(|n| n.output.iter().any(|o| o == name))
            || g.input.iter().any(|i| i.name == name)
            || g.initializer.iter().any(|t| t.name == name)
    };
    g.output
        .iter()
        .find(|o| !known(&o.name))
        .map(|o| o.name.clone())
}

fn proto_initializer(proto: &ModelProto, name: &str) -> bool {
    proto
        .graph
        .as_ref()
        .is_some_and(|g| g.initializer.iter().any(|t| t.name == name))
}

/// The name of the input's symbolic batch dimension in the file, if it has one (so that
/// value_info facts written with it agree with ours).
fn batch_param(proto: &ModelProto) -> Option<String> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
    use tract_onnx::pb::type_proto::Value as TypeValue;
    let g = proto.graph.as_ref()?;
    let input = g
        .input
        .iter()
        .find(|i| !g.initializer.iter().any(|t| t.name == i.name))?;
    let Some(TypeValue::TensorType(tt)) = input.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    match tt.shape.as_ref()?.dim.first()?.value.as_ref()? {
        Dim::DimParam(p) if !p.is_empty() => Some(p.clone()),
        _ => None,
    }
}

/// The value tract computed for `outlet`: a symbolic (`TDim`) tensor becomes `I64` when every
/// element is a number, and stays symbolic otherwise (its users decide whether they take it).
fn value(model: &tract_onnx::prelude::InferenceModel, outlet: OutletId) -> Option<Const> {
    let fact = model.outlet_fact(outlet).ok()?;
    let tensor: Tensor = (*fact.value.concretize()?).clone();
    if tensor.datum_type() != DatumType::TDim {
        return Some(Const::new(tensor));
    }
    let dims = tensor.to_plain_array_view::<TDim>().ok()?;
    let ints: Option<Vec<i64>> = dims.iter().map(TDim::as_i64).collect();
    match ints {
        Some(ints) => Tensor::from_shape(tensor.shape(), &ints)
            .ok()
            .map(Const::new),
        None => Some(Const::new(tensor)),
    }
}
