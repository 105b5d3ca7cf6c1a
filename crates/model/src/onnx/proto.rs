//! Reading the raw ONNX protobuf: attributes, constant tensors, the input's shape.

use tract_onnx::data_resolver::FopenDataResolver;
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::tensor_shape_proto::dimension::Value as Dim;
use tract_onnx::pb::type_proto::Value as TypeValue;
use tract_onnx::pb::{AttributeProto, NodeProto, TensorProto, ValueInfoProto};
use tract_onnx::prelude::{DatumType, Symbol, TDim, Tensor};

use crate::error::ModelError;
use crate::graph::BatchDim;

/// A constant tensor (initializer or Constant node), values in C order.
#[derive(Clone, Debug)]
pub(crate) struct Const {
    pub dims: Vec<usize>,
    pub tensor: Tensor,
}

impl Const {
    pub(crate) fn new(tensor: Tensor) -> Self {
        Const {
            dims: tensor.shape().to_vec(),
            tensor,
        }
    }

    /// Float values; refuses non-float tensors.
    pub fn floats(&self) -> Result<Vec<f32>, String> {
        let dt = self.tensor.datum_type();
        if !matches!(dt, DatumType::F16 | DatumType::F32 | DatumType::F64) {
            return Err(format!("constant of type {dt:?} where floats are expected"));
        }
        let t = self.tensor.cast_to::<f32>().map_err(|e| e.to_string())?;
        let view = t.to_plain_array_view::<f32>().map_err(|e| e.to_string())?;
        Ok(view.iter().copied().collect())
    }

    /// Integer values; refuses non-integer tensors.
    pub fn ints(&self) -> Result<Vec<i64>, String> {
        let dt = self.tensor.datum_type();
        if dt == DatumType::TDim {
            return Err("a value that depends on the batch size".into());
        }
        if !dt.is_integer() {
            return Err(format!(
                "constant of type {dt:?} where integers are expected"
            ));
        }
        let t = self.tensor.cast_to::<i64>().map_err(|e| e.to_string())?;
        let view = t.to_plain_array_view::<i64>().map_err(|e| e.to_string())?;
        Ok(view.iter().copied().collect())
    }
}

impl Const {
    /// Integer values where an element that is the symbolic `batch` is `None` (a folded
    /// `Shape` of a dynamic-batch tensor); refuses other symbolic values.
    pub fn dims(&self, batch: Option<&Symbol>) -> Result<Vec<Option<i64>>, String> {
        if self.tensor.datum_type() != DatumType::TDim {
            return Ok(self.ints()?.into_iter().map(Some).collect());
        }
        let view = self
            .tensor
            .to_plain_array_view::<TDim>()
            .map_err(|e| e.to_string())?;
        view.iter()
            .map(|d| match (d, batch) {
                (TDim::Sym(s), Some(b)) if s == b => Ok(None),
                _ => d.as_i64().map(Some).ok_or_else(|| {
                    format!("{d} depends on the input's shape (only the batch itself is taken)")
                }),
            })
            .collect()
    }
}

/// The ONNX data types tract decodes (it panics on the others, and on STRING as raw bytes).
const DECODED: [DataType; 12] = [
    DataType::Float,
    DataType::Uint8,
    DataType::Int8,
    DataType::Uint16,
    DataType::Int16,
    DataType::Int32,
    DataType::Int64,
    DataType::Bool,
    DataType::Float16,
    DataType::Double,
    DataType::Uint32,
    DataType::Uint64,
];

/// Decode an initializer or a Constant's `value` (external data is looked up in `model_dir`).
pub(crate) fn load_const(t: &TensorProto, model_dir: Option<&str>) -> Result<Const, ModelError> {
    let raw = !t.raw_data.is_empty()
        || t.data_location == Some(tract_onnx::pb::tensor_proto::DataLocation::External as i32);
    let decoded = DECODED.iter().any(|&d| d as i32 == t.data_type)
        || (!raw && t.data_type == DataType::String as i32);
    if !decoded {
        let how = if raw { " as raw data" } else { "" };
        return Err(ModelError::Onnx {
            detail: format!(
                "tensor {:?}: data type {} is not supported{how}",
                t.name, t.data_type
            ),
        });
    }
    tract_onnx::tensor::load_tensor(&FopenDataResolver, t, model_dir)
        .map(Const::new)
        .map_err(|e| ModelError::Onnx {
            detail: format!("tensor {:?}: {e:#}", t.name),
        })
}

/// The value of a Constant node, or why it cannot be read.
pub(crate) fn constant_node_value(node: &NodeProto, dir: Option<&str>) -> Result<Const, String> {
    let attr = node.attribute.first().ok_or("Constant without a value")?;
    let tensor = match attr.name.as_str() {
        "value" => {
            let t = attr.t.as_ref().ok_or("Constant value without a tensor")?;
            return load_const(t, dir).map_err(|e| e.to_string());
        }
        "value_float" => Tensor::from(attr.f),
        "value_floats" => Tensor::from(tract_onnx::prelude::tract_ndarray::arr1(&attr.floats)),
        "value_int" => Tensor::from(attr.i),
        "value_ints" => Tensor::from(tract_onnx::prelude::tract_ndarray::arr1(&attr.ints)),
        other => return Err(format!("Constant attribute {other} is not supported")),
    };
    Ok(Const::new(tensor))
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

/// Integer attribute with a default.
pub(crate) fn attr_int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).map_or(default, |a| a.i)
}

/// Integer list attribute (`None` when absent).
pub(crate) fn attr_ints<'a>(node: &'a NodeProto, name: &str) -> Option<&'a [i64]> {
    attr(node, name).map(|a| a.ints.as_slice())
}

/// String attribute with a default.
pub(crate) fn attr_string(node: &NodeProto, name: &str, default: &str) -> String {
    attr(node, name).map_or(default.to_string(), |a| {
        String::from_utf8_lossy(&a.s).into_owned()
    })
}

/// Float attribute with a default.
pub(crate) fn attr_float(node: &NodeProto, name: &str, default: f32) -> f32 {
    attr(node, name).map_or(default, |a| a.f)
}

/// Batch dimension and per-sample shape of the graph input.
pub(crate) fn input_shape(vi: &ValueInfoProto) -> Result<(BatchDim, Vec<usize>), ModelError> {
    let err = |detail: String| ModelError::Structure {
        detail: format!("input {:?}: {detail}", vi.name),
    };
    let Some(TypeValue::TensorType(tt)) = vi.r#type.as_ref().and_then(|t| t.value.as_ref()) else {
        return Err(err("not a tensor".into()));
    };
    // float64 and float16 inputs are read as float32: the quantized model sees integers
    let floats = [DataType::Float, DataType::Double, DataType::Float16].map(|d| d as i32);
    if !floats.contains(&tt.elem_type) {
        let name = DataType::try_from(tt.elem_type).map_or("unknown", |d| d.as_str_name());
        return Err(err(format!(
            "element type {name}, only FLOAT, DOUBLE and FLOAT16 are supported"
        )));
    }
    let dims = tt
        .shape
        .as_ref()
        .map(|s| s.dim.as_slice())
        .unwrap_or_default();
    if dims.len() < 2 {
        return Err(err(format!(
            "rank {} (expected [batch, features...] with at least 2 dims)",
            dims.len()
        )));
    }
    let batch = match dims[0].value {
        Some(Dim::DimValue(n)) if n >= 1 => BatchDim::Fixed(n as usize),
        Some(Dim::DimValue(n)) if n != 0 => return Err(err(format!("batch dimension {n}"))),
        _ => BatchDim::Dynamic,
    };
    let mut shape = Vec::with_capacity(dims.len() - 1);
    for (i, d) in dims.iter().enumerate().skip(1) {
        match d.value {
            Some(Dim::DimValue(n)) if n >= 1 => shape.push(n as usize),
            ref other => {
                return Err(err(format!(
                    "dimension {i} is {other:?}; only the batch may be symbolic"
                )));
            }
        }
    }
    // Bounds from the file, checked before anything is sized by them (the prover's limits are
    // lower still): a sample of at most 2^26 values, a fixed batch of at most 2^20.
    let len = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    if len.is_none_or(|n| n > MAX_SAMPLE_LEN) {
        return Err(err(format!(
            "shape {shape:?} has more than {MAX_SAMPLE_LEN} values per sample"
        )));
    }
    if let BatchDim::Fixed(n) = batch
        && n > MAX_BATCH
    {
        return Err(err(format!("batch dimension {n} exceeds {MAX_BATCH}")));
    }
    Ok((batch, shape))
}

/// Most values in one input sample that import takes.
pub(crate) const MAX_SAMPLE_LEN: usize = 1 << 26;
/// Largest fixed batch dimension that import takes.
pub(crate) const MAX_BATCH: usize = 1 << 20;
