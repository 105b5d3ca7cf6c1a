//! Float rows in and out of the native module.
//!
//! An array crosses the boundary as its C-order values in little-endian `f32` bytes and its
//! shape; the Python side converts dtypes. Rows are samples: `(n, *sample_shape)` or
//! `(n, sample_len)` holds `n` rows, `sample_shape` or `(sample_len,)` alone holds one.

use crate::errors::{Failure, Kind, Result};

/// Bytes per value.
const F32: usize = 4;

fn shape_text(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// How many rows an array of `shape` holds for samples of `sample_shape`, or `None` when the
/// shape fits neither form.
fn row_count(shape: &[usize], sample_shape: &[usize]) -> Option<usize> {
    let sample_len: usize = sample_shape.iter().product();
    let one_row = shape == sample_shape || shape == [sample_len];
    match shape.split_first() {
        // a 1-D array of a model with one value per sample: one value per row
        Some((&n, [])) if sample_len == 1 => Some(n),
        _ if one_row => Some(1),
        Some((&n, rest)) if rest == sample_shape || rest == [sample_len] => Some(n),
        _ => None,
    }
}

/// The rows of an array of `shape` whose values are `bytes`, checked against `sample_shape`:
/// the shape must be one of the forms above, hold at least one row, and every value be finite
/// (as the CLI's input files).
///
/// # Errors
/// [`Kind::Input`] naming `what`, the shape found and the shapes expected, or the first value
/// that is not finite.
pub fn rows(
    what: &str,
    bytes: &[u8],
    shape: &[usize],
    sample_shape: &[usize],
) -> Result<Vec<Vec<f32>>> {
    let count: usize = shape.iter().product();
    if bytes.len() != count * F32 {
        let msg = format!(
            "{what}: {} bytes for shape {}, expected {}",
            bytes.len(),
            shape_text(shape),
            count * F32
        );
        return Err(Failure::new(Kind::Input, msg));
    }
    let sample_len: usize = sample_shape.iter().product();
    let Some(n) = row_count(shape, sample_shape) else {
        let sample = shape_text(sample_shape);
        let dims: Vec<String> = sample_shape.iter().map(usize::to_string).collect();
        let mut forms = vec![format!("(n, {})", dims.join(", "))];
        if sample_shape.len() > 1 {
            forms.push(format!("(n, {sample_len})"));
        }
        let msg = format!(
            "{what} has shape {}: the model takes {} or one sample {sample}",
            shape_text(shape),
            forms.join(" or ")
        );
        return Err(Failure::new(Kind::Input, msg));
    };
    if n == 0 || sample_len == 0 {
        return Err(Failure::new(Kind::Input, format!("{what} has no rows")));
    }
    let values: Vec<f32> = bytes
        .chunks_exact(F32)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        let msg = format!(
            "{what} row {}, value {}: {} is not a finite number",
            i / sample_len,
            i % sample_len,
            values[i]
        );
        return Err(Failure::new(Kind::Input, msg));
    }
    Ok(values.chunks(sample_len).map(<[f32]>::to_vec).collect())
}

/// Little-endian `f32` bytes of rows, one after the other.
pub fn to_bytes<'a>(rows: impl IntoIterator<Item = &'a [f32]>) -> Vec<u8> {
    rows.into_iter()
        .flat_map(|r| r.iter().flat_map(|v| v.to_le_bytes()))
        .collect()
}
