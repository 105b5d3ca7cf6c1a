//! Float reference inference with tract (used by tests and accuracy reports).

use std::path::Path;

use tract_onnx::prelude::*;

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
}

impl FloatReference {
    /// Load `path` with tract, with the input batch fixed to the model's batch (1 if dynamic).
    /// `sample_shape` is the per-sample input shape (e.g. [`crate::Graph::input_shape`]).
    ///
    /// # Errors
    /// [`ModelError::Reference`] when tract cannot load or optimize the model.
    pub fn load(path: &Path, batch: BatchDim, sample_shape: &[usize]) -> Result<Self, ModelError> {
        let n = match batch {
            BatchDim::Fixed(n) => n,
            BatchDim::Dynamic => 1,
        };
        let shape: Vec<usize> = std::iter::once(n)
            .chain(sample_shape.iter().copied())
            .collect();
        let plan = tract_onnx::onnx()
            .model_for_path(path)
            .and_then(|m| m.with_input_fact(0, f32::fact(&shape).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(reference_err)?;
        Ok(FloatReference {
            plan,
            batch: n,
            sample_shape: sample_shape.to_vec(),
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
            let y = self
                .plan
                .run(tvec!(Tensor::from(x).into()))
                .map_err(reference_err)?;
            let y: Vec<f32> = y[0]
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
