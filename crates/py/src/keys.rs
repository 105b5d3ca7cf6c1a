//! `setup`, `inspect` and the key and proof classes of the native module.
//!
//! Files are the CLI's: `ProvingKey.to_bytes` is `model.pk`, `VerifyingKey.to_bytes` is
//! `model.vk`, `Proof.to_bytes` a proof file. Outputs come back per graph output as
//! `(name, width, f32 bytes of n rows)`, the first output first.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;
use serde_json::json;
use zkml::zkml_model::{self as model, BatchDim, QuantConfig, ScaleMode};

use crate::arrays;
use crate::background;
use crate::errors::{Failure, Kind, Result};

/// Calibration samples drawn when no calibration array is given (as the CLI).
const RANDOM_CALIBRATION: usize = 64;

/// One graph output of every row: its name, its values per row, the rows' values as bytes.
type NamedOutput = (String, usize, Vec<u8>);

/// An ONNX model given as a file path or as its bytes.
enum Source {
    Path(PathBuf),
    Bytes(Vec<u8>),
}

impl Source {
    fn from_py(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        match obj.cast::<PyBytes>() {
            Ok(b) => Ok(Self::Bytes(b.as_bytes().to_vec())),
            Err(_) => obj.extract::<PathBuf>().map(Self::Path),
        }
    }

    fn import(&self) -> Result<model::Graph> {
        match self {
            Self::Path(p) => model::import_onnx(p),
            Self::Bytes(b) => model::import_onnx_bytes(b),
        }
        .map_err(Failure::model)
    }
}

/// An array's values and shape as the Python side passes them.
type Array = (Vec<u8>, Vec<usize>);

fn array(a: Option<(&[u8], Vec<usize>)>) -> Option<Array> {
    a.map(|(bytes, shape)| (bytes.to_vec(), shape))
}

/// Quantizes and commits a model; the Python side writes the files.
#[pyfunction]
#[pyo3(signature = (model, calibration=None, bits=8, scales="per-row", public_weights=false))]
pub fn setup(
    py: Python<'_>,
    model: &Bound<'_, PyAny>,
    calibration: Option<(&[u8], Vec<usize>)>,
    bits: u32,
    scales: &str,
    public_weights: bool,
) -> PyResult<ProvingKey> {
    let source = Source::from_py(model)?;
    let calibration = array(calibration);
    let scales = match scales {
        "per-row" => ScaleMode::PerRow,
        "per-layer" => ScaleMode::PerLayer,
        other => {
            let msg = format!("scales must be 'per-row' or 'per-layer', got {other:?}");
            return Err(Failure::new(Kind::Input, msg).into_pyerr(py));
        }
    };
    let inner = background::run(py, move || {
        let graph = source.import()?;
        let calib = match calibration {
            Some((bytes, shape)) => {
                arrays::rows("calibration", &bytes, &shape, &graph.input_shape)?
            }
            None => model::random_calibration(&graph, RANDOM_CALIBRATION, 0),
        };
        let quantized = model::quantize(&graph, &calib, &QuantConfig { bits, scales })
            .map_err(Failure::model)?;
        let weights = match public_weights {
            true => zkml::Weights::Public,
            false => zkml::Weights::Committed,
        };
        zkml::setup_with(quantized, weights, &mut |_| {}).map_err(Failure::setup)
    })?;
    Ok(ProvingKey {
        inner: Arc::new(inner),
    })
}

/// The op summary of a model: `(text as zkml inspect prints it, the summary as JSON)`.
#[pyfunction]
pub fn inspect(py: Python<'_>, model: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let source = Source::from_py(model)?;
    background::run(py, move || {
        let summary = source.import()?.summary();
        let doc = serde_json::to_string(&summary)
            .map_err(|e| Failure::new(Kind::Internal, format!("summary as JSON: {e}")))?;
        Ok((summary.to_string(), doc))
    })
}

fn fixed_batch(batch: BatchDim) -> Option<usize> {
    match batch {
        BatchDim::Fixed(n) => Some(n),
        BatchDim::Dynamic => None,
    }
}

/// Per graph output, every row's values: rows of `(name, values)` turned around.
fn by_output(rows: &[Vec<(String, Vec<f32>)>]) -> Vec<NamedOutput> {
    let Some(first) = rows.first() else {
        return Vec::new();
    };
    first
        .iter()
        .enumerate()
        .map(|(k, (name, values))| {
            let bytes = arrays::to_bytes(rows.iter().filter_map(|r| r.get(k)).map(|o| &o.1[..]));
            (name.clone(), values.len(), bytes)
        })
        .collect()
}

fn outputs_to_py(py: Python<'_>, outputs: Vec<NamedOutput>) -> Vec<(String, usize, Py<PyBytes>)> {
    outputs
        .into_iter()
        .map(|(name, width, bytes)| (name, width, PyBytes::new(py, &bytes).unbind()))
        .collect()
}

/// A proving key: the quantized model and its verifying key (`model.pk`).
#[pyclass(module = "zkml._zkml", frozen)]
pub struct ProvingKey {
    inner: Arc<zkml::ProvingKey>,
}

#[pymethods]
impl ProvingKey {
    /// Parses `model.pk` bytes (the weights' commitment data from the file, or recommitted
    /// for a key without it; checked against the key's vk).
    /// Any failure is a bad file, as for the CLI's `--pk`.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let data = data.to_vec();
        let inner = background::run(py, move || {
            zkml::ProvingKey::from_bytes(&data).map_err(|e| Failure::new(Kind::Usage, e))
        })?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    #[getter]
    fn vk(&self) -> VerifyingKey {
        VerifyingKey {
            inner: Arc::new(self.inner.vk.clone()),
        }
    }

    /// Quantized inference of every row; float outputs per graph output.
    fn run(
        &self,
        py: Python<'_>,
        data: &[u8],
        shape: Vec<usize>,
    ) -> PyResult<Vec<(String, usize, Py<PyBytes>)>> {
        let (pk, data) = (Arc::clone(&self.inner), data.to_vec());
        let outputs = background::run(py, move || {
            let rows = arrays::rows("inputs", &data, &shape, &pk.model.input_shape)?;
            let named: Vec<_> = rows
                .iter()
                .map(|x| {
                    let y = pk.model.forward(&pk.model.quantize_input(x));
                    let last = y.last().map_or(&[][..], Vec::as_slice);
                    pk.model.output_rows(last)
                })
                .collect();
            Ok(by_output(&named))
        })?;
        Ok(outputs_to_py(py, outputs))
    }

    /// Proves every row in one proof.
    fn prove(&self, py: Python<'_>, data: &[u8], shape: Vec<usize>) -> PyResult<Proof> {
        let (pk, data) = (Arc::clone(&self.inner), data.to_vec());
        let inner = background::run(py, move || {
            let rows = arrays::rows("inputs", &data, &shape, &pk.model.input_shape)?;
            let xq: Vec<Vec<i64>> = rows.iter().map(|x| pk.model.quantize_input(x)).collect();
            zkml::prove(&pk, &xq).map_err(|e| Failure::new(Kind::Usage, e))
        })?;
        Ok(Proof { inner })
    }
}

/// A verifying key (`model.vk`).
#[pyclass(module = "zkml._zkml", frozen)]
pub struct VerifyingKey {
    inner: Arc<zkml::VerifyingKey>,
}

#[pymethods]
impl VerifyingKey {
    /// Parses `model.vk` bytes and checks the key (its key proof included).
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        let data = data.to_vec();
        let inner = background::run(py, move || {
            zkml::VerifyingKey::from_bytes(&data).map_err(|e| Failure::new(Kind::Usage, e))
        })?;
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// The digest `zkml setup` prints; a proof names the digest of its key.
    #[getter]
    fn digest(&self) -> String {
        self.inner.digest()
    }

    /// The security level of a one-sample proof, as `zkml setup` prints it.
    #[getter]
    fn security(&self) -> String {
        zkml::security(&self.inner, 1).to_string()
    }

    /// The shape of one sample, as the ONNX model's input without its batch dimension.
    #[getter]
    fn input_shape(&self) -> Vec<usize> {
        self.inner.input_shape.clone()
    }

    /// The batch size written in the model, `None` for a dynamic batch.
    #[getter]
    fn batch(&self) -> Option<usize> {
        fixed_batch(self.inner.batch)
    }

    /// Every graph output: `(name, values per sample)`, the first output first.
    #[getter]
    fn outputs(&self) -> Vec<(String, usize)> {
        self.inner
            .outputs
            .iter()
            .map(|o| (o.name.clone(), o.len))
            .collect()
    }

    /// Verifies `proof`, and when `inputs` is given that the proof's input is their
    /// quantization; returns the proven outputs.
    #[pyo3(signature = (proof, inputs=None))]
    fn verify(
        &self,
        py: Python<'_>,
        proof: &Proof,
        inputs: Option<(&[u8], Vec<usize>)>,
    ) -> PyResult<Vec<(String, usize, Py<PyBytes>)>> {
        let (vk, proof, inputs) = (Arc::clone(&self.inner), proof.inner.clone(), array(inputs));
        let outputs = background::run(py, move || {
            let refused =
                |e: zkml::VerifyError| Failure::new(Kind::Refused, format!("proof refused: {e}"));
            let outputs = zkml::verify(&vk, &proof).map_err(refused)?;
            if let Some((bytes, shape)) = inputs {
                let rows = arrays::rows("inputs", &bytes, &shape, &vk.input_shape)?;
                zkml::check_input(&vk, &proof, &input_json(&rows, vk.batch)).map_err(refused)?;
            }
            let named: Vec<_> = outputs.iter().map(|y| vk.output_rows(y)).collect();
            Ok(by_output(&named))
        })?;
        Ok(outputs_to_py(py, outputs))
    }
}

/// The rows as an input file (`check_input` reads the CLI's format, so that both check alike):
/// a fixed batch N > 1 is one row of the whole batch.
fn input_json(rows: &[Vec<f32>], batch: BatchDim) -> String {
    let doc = match batch {
        BatchDim::Fixed(n) if n > 1 => json!({ "input_data": [rows.concat()] }),
        _ => json!({ "input_data": rows }),
    };
    doc.to_string()
}

/// A proof of inference (a proof file's bytes).
#[pyclass(module = "zkml._zkml", frozen)]
pub struct Proof {
    inner: zkml::Proof,
}

#[pymethods]
impl Proof {
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<Self> {
        zkml::Proof::from_bytes(data)
            .map(|inner| Self { inner })
            .map_err(|e| Failure::new(Kind::Usage, e).into_pyerr(py))
    }

    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.to_bytes())
    }

    /// The number of rows proven (as the proof claims until verified).
    #[getter]
    fn num_samples(&self) -> usize {
        self.inner.num_samples
    }

    /// The digest of the verifying key the proof was made for (as the proof claims).
    #[getter]
    fn key_digest(&self) -> String {
        self.inner.key_digest.clone()
    }
}
