//! Input JSON in the EZKL/DeepProve format:
//! `{"input_data": [[...], ...], "output_data": [[...], ...]}` (`output_data` optional, other
//! keys ignored). Each row is a flattened (C order) tensor. For a model with a fixed batch
//! N > 1, one row holds the whole N-sample tensor and is split into N samples (several rows are
//! an error for inputs; calibration files may have many). For batch 1 or a dynamic batch each row
//! is one sample.

use std::path::Path;

use serde_json::Value;

use crate::error::ModelError;
use crate::graph::BatchDim;

/// What an input document must hold: batch handling and per-sample lengths.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    pub batch: BatchDim,
    /// Values in one sample.
    pub sample_len: usize,
    /// Values in one output sample, when known (checks `output_data`).
    pub output_len: Option<usize>,
}

/// Parsed inputs: one flat vector per sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    pub samples: Vec<Vec<f32>>,
    /// `output_data`, split per sample like the inputs.
    pub reference_outputs: Option<Vec<Vec<f32>>>,
}

fn rows_of(doc: &Value, key: &str) -> Result<Option<Vec<Vec<f32>>>, ModelError> {
    let Some(v) = doc.get(key) else {
        return Ok(None);
    };
    let rows = v
        .as_array()
        .ok_or_else(|| ModelError::input(format!("{key} must be a list of rows")))?;
    if rows.is_empty() {
        return Err(ModelError::input(format!("{key} is empty")));
    }
    let mut out = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        let vals = row.as_array().ok_or_else(|| {
            ModelError::input(format!(
                "{key} row {r} is not a list of numbers (got {row})"
            ))
        })?;
        let mut parsed = Vec::with_capacity(vals.len());
        for (c, v) in vals.iter().enumerate() {
            let x = v.as_f64().ok_or_else(|| {
                ModelError::input(format!("{key} row {r} column {c}: not a number ({v})"))
            })? as f32;
            if !x.is_finite() {
                let msg = format!("{key} row {r} column {c}: {v} is not a finite f32");
                return Err(ModelError::input(msg));
            }
            parsed.push(x);
        }
        out.push(parsed);
    }
    Ok(Some(out))
}

/// Append the samples of row `r` (`per_row` samples of `len` values) to `out`.
fn split_row(
    key: &str,
    r: usize,
    row: &[f32],
    (len, per_row): (usize, usize),
    out: &mut Vec<Vec<f32>>,
) -> Result<(), ModelError> {
    if row.len() != len * per_row {
        let what = if per_row == 1 {
            "one sample".to_string()
        } else {
            format!("the whole batch of {per_row} samples of {len}")
        };
        let msg = format!(
            "{key} row {r}: expected {} values ({what}), got {}",
            len * per_row,
            row.len()
        );
        return Err(ModelError::input(msg));
    }
    out.extend(row.chunks(len.max(1)).map(<[f32]>::to_vec));
    Ok(())
}

/// Split rows into samples of `len` values; a row holds `per_row` samples.
fn split(
    key: &str,
    rows: &[Vec<f32>],
    len: usize,
    per_row: usize,
) -> Result<Vec<Vec<f32>>, ModelError> {
    let mut samples = Vec::with_capacity(rows.len() * per_row);
    for (r, row) in rows.iter().enumerate() {
        split_row(key, r, row, (len, per_row), &mut samples)?;
    }
    Ok(samples)
}

fn parse_doc(json: &str) -> Result<Value, ModelError> {
    let doc: Value = serde_json::from_str(json)
        .map_err(|e| ModelError::input(format!("not valid JSON: {e}")))?;
    if !doc.is_object() {
        return Err(ModelError::input("expected an object with input_data"));
    }
    Ok(doc)
}

/// Parse an input document for a model described by `spec`.
///
/// # Errors
/// [`ModelError::Input`] naming the key, row and column: invalid JSON, missing or empty
/// `input_data`, non-numbers, values that are not finite f32, wrong row lengths (expected vs
/// got), several rows for a fixed batch N > 1, `output_data` with another number of samples.
pub fn parse_inputs(json: &str, spec: &InputSpec) -> Result<Inputs, ModelError> {
    let doc = parse_doc(json)?;
    let rows =
        rows_of(&doc, "input_data")?.ok_or_else(|| ModelError::input("missing input_data"))?;
    let per_row = match spec.batch {
        BatchDim::Fixed(n) if n > 1 => {
            if rows.len() != 1 {
                let msg = format!(
                    "the model has a fixed batch of {n}: input_data must hold one row with the whole batch, got {} rows",
                    rows.len()
                );
                return Err(ModelError::input(msg));
            }
            n
        }
        BatchDim::Fixed(_) | BatchDim::Dynamic => 1,
    };
    let samples = split("input_data", &rows, spec.sample_len, per_row)?;
    let reference_outputs = match rows_of(&doc, "output_data")? {
        None => None,
        Some(out_rows) => Some(split_outputs(out_rows, spec, per_row, samples.len())?),
    };
    Ok(Inputs {
        samples,
        reference_outputs,
    })
}

fn split_outputs(
    rows: Vec<Vec<f32>>,
    spec: &InputSpec,
    per_row: usize,
    n_samples: usize,
) -> Result<Vec<Vec<f32>>, ModelError> {
    if rows.len() * per_row != n_samples {
        let msg = format!(
            "output_data has {} rows, input_data has {}",
            rows.len(),
            n_samples / per_row
        );
        return Err(ModelError::input(msg));
    }
    let len = match spec.output_len {
        Some(len) => len,
        None if rows[0].len().is_multiple_of(per_row) => rows[0].len() / per_row,
        None => {
            return Err(ModelError::input(
                "output_data row 0 does not split into the batch",
            ));
        }
    };
    split("output_data", &rows, len, per_row)
}

/// Read and parse an input file (see [`parse_inputs`]).
///
/// # Errors
/// [`ModelError::Io`] or as [`parse_inputs`].
pub fn load_inputs(path: &Path, spec: &InputSpec) -> Result<Inputs, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_inputs(&text, spec).map_err(|e| match e {
        ModelError::Input { detail } => ModelError::input(format!("{}: {detail}", path.display())),
        other => other,
    })
}

/// Parse calibration samples: the input format with any number of rows; for a fixed batch
/// N > 1 a row may hold one sample or the whole batch. `output_data` is ignored.
///
/// # Errors
/// As [`parse_inputs`].
pub fn parse_calibration(json: &str, spec: &InputSpec) -> Result<Vec<Vec<f32>>, ModelError> {
    let doc = parse_doc(json)?;
    let rows =
        rows_of(&doc, "input_data")?.ok_or_else(|| ModelError::input("missing input_data"))?;
    let mut samples = Vec::new();
    for (r, row) in rows.into_iter().enumerate() {
        let per_row = match spec.batch {
            BatchDim::Fixed(n) if n > 1 && row.len() == n * spec.sample_len => n,
            BatchDim::Fixed(_) | BatchDim::Dynamic => 1,
        };
        split_row(
            "input_data",
            r,
            &row,
            (spec.sample_len, per_row),
            &mut samples,
        )?;
    }
    Ok(samples)
}

/// Read calibration samples from a file (see [`parse_calibration`]).
///
/// # Errors
/// [`ModelError::Io`] or as [`parse_calibration`].
pub fn load_calibration(path: &Path, spec: &InputSpec) -> Result<Vec<Vec<f32>>, ModelError> {
    let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_calibration(&text, spec)
}
