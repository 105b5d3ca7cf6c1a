//! Float reference inference with tract (used by tests and accuracy reports).

use std::path::Path;

use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

use crate::error::ModelError;
use crate::graph::BatchDim;

fn reference_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Reference {
        detail: format!("{e:#}"),
    }
}

/// An ONNX model optimized and made runnable by tract, for one fixed batch size.
pub struct FloatReference {
    plan: Arc<TypedRunnableModel>,
    /// Samples per run: the model's fixed batch, or 1 for a dynamic batch.
    batch: usize,
    sample_shape: Vec<usize>,
    input_type: DatumType,
}

impl FloatReference {
    /// Load `path` with tract, for the model's fixed batch, or runs of one sample when the batch
    /// is dynamic.
    /// `sample_shape` is the per-sample input shape (e.g. [`crate::Graph::input_shape`]).
    ///
    /// # Errors
    /// [`ModelError::Reference`] when tract cannot load or optimize the model.
    pub fn load(path: &Path, batch: BatchDim, sample_shape: &[usize]) -> Result<Self, ModelError> {
        let n = match batch {
            BatchDim::Fixed(n) => n,
            BatchDim::Dynamic => 1,
        };
        let model = tract_onnx::onnx()
            .model_for_path(path)
            .map_err(reference_err)?;
        // a dynamic batch stays the file's symbol (facts the file writes for inner tensors use
        // it too); tract binds it to the batch of each run
        let batch_dim: TDim = match batch {
            BatchDim::Fixed(n) => n.into(),
            BatchDim::Dynamic => {
                let file_dim = model
                    .input_fact(0)
                    .ok()
                    .and_then(|f| f.shape.dims().next().and_then(|d| d.concretize()));
                match file_dim {
                    Some(d @ TDim::Sym(_)) => d,
                    _ => model.symbols.sym("N").into(),
                }
            }
        };
        let shape: TVec<TDim> = std::iter::once(batch_dim)
            .chain(sample_shape.iter().map(|&d| d.into()))
            .collect();
        // a float64 or float16 model takes its own type; samples are cast to it
        let dt = model
            .input_fact(0)
            .ok()
            .and_then(|f| f.datum_type.concretize())
            .filter(|dt| dt.is_float())
            .unwrap_or(DatumType::F32);
        let plan = model
            .with_input_fact(0, InferenceFact::dt_shape(dt, shape))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(reference_err)?;
        Ok(FloatReference {
            plan,
            batch: n,
            sample_shape: sample_shape.to_vec(),
            input_type: dt,
        })
    }

    /// Run every sample (grouped by the batch size); returns one flat output per sample.
    ///
    /// # Errors
    /// [`ModelError::Reference`] on a wrong sample length, a sample count that is not a multiple
    /// of a fixed batch, or a tract failure.
    pub fn run(&self, samples: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, ModelError> {
        let len: usize = self.sample_shape.iter().product();
        if !samples.len().is_multiple_of(self.batch) {
            let msg = format!(
                "{} samples for a fixed batch of {}",
                samples.len(),
                self.batch
            );
            return Err(reference_err(msg));
        }
        let mut outs = Vec::with_capacity(samples.len());
        for chunk in samples.chunks(self.batch) {
            if let Some(s) = chunk.iter().find(|s| s.len() != len) {
                return Err(reference_err(format!(
                    "sample of {} values, expected {len}",
                    s.len()
                )));
            }
            let flat: Vec<f32> = chunk.iter().flatten().copied().collect();
            let shape: Vec<usize> = std::iter::once(self.batch)
                .chain(self.sample_shape.iter().copied())
                .collect();
            let x = tract_ndarray::Array::from_shape_vec(shape, flat).map_err(reference_err)?;
            let x = Tensor::from(x)
                .cast_to_dt(self.input_type)
                .map_err(reference_err)?
                .into_owned();
            let y = self.plan.run(tvec!(x.into())).map_err(reference_err)?;
            let y = y[0].cast_to::<f32>().map_err(reference_err)?;
            let y: Vec<f32> = y
                .to_plain_array_view::<f32>()
                .map_err(reference_err)?
                .iter()
                .copied()
                .collect();
            let per = y.len() / self.batch;
            outs.extend(y.chunks(per.max(1)).map(<[f32]>::to_vec));
        }
        Ok(outs)
    }
}
