//! A permutation of an activation: a Transpose, or a Reshape that a proof must read in another
//! layout.
//!
//! Data is flat and C-ordered, so a Reshape alone changes nothing; but a proof lays every
//! tensor out padded per dimension (`[n]` for a dense layer's output, `[C][H][W]` for a
//! window op's), so a window op reading a dense layer's output through a Reshape (`Unflatten`)
//! reads it in another layout, and a Transpose moves the data itself. A [`RelayoutLayer`]
//! does both: it views its input as `view`, permutes the axes by `perm`, and is read as
//! `out_dims`; it reads its input in the layout `in_dims` it was written in. With an `offset`
//! it places the permuted tensor at that offset inside a larger `out_dims`, zero elsewhere
//! (one input of a Concat, which sums of such embeddings join). No requantization: the output
//! keeps the input's scale.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::graph::permuted_sources;

/// Largest rank of a relayout's shapes.
pub const MAX_RANK: usize = 8;

/// `out = transpose(reshape(x, view), perm)`, laid out as `out_dims` (or placed at `offset`
/// inside `out_dims`, zero elsewhere).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RelayoutLayer {
    pub name: String,
    /// The layout its input is written in.
    pub in_dims: Vec<usize>,
    /// The layout it writes (the shape its readers read).
    pub out_dims: Vec<usize>,
    /// The shape the permutation acts on.
    pub view: Vec<usize>,
    /// Axis `i` of the result is axis `perm[i]` of `view`; empty: none (a reshape).
    pub perm: Vec<usize>,
    /// Where the permuted tensor starts inside `out_dims` (same rank); empty: it fills
    /// `out_dims` (same number of values).
    pub offset: Vec<usize>,
    pub out_scale: f64,
}

impl RelayoutLayer {
    /// Number of values of its input.
    pub fn input_len(&self) -> usize {
        self.view.iter().product()
    }

    /// Number of values of its output.
    pub fn output_len(&self) -> usize {
        self.out_dims.iter().product()
    }

    /// For each C-order output index, the C-order input index it holds (`None`: a zero).
    pub fn sources(&self) -> Vec<Option<usize>> {
        sources(&self.view, &self.perm, &self.offset, &self.out_dims)
    }

    /// The permuted sample.
    pub fn forward(&self, x: &[i64]) -> Vec<i64> {
        self.sources()
            .iter()
            .map(|s| s.map_or(0, |s| x[s]))
            .collect()
    }

    /// Check that the shapes fit and `perm` permutes `view`.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self) -> Result<(), ModelError> {
        let err = shape_error(
            &self.in_dims,
            &self.out_dims,
            &self.view,
            &self.perm,
            &self.offset,
        );
        match err {
            None => Ok(()),
            Some(detail) => Err(ModelError::Quantization {
                layer: self.name.clone(),
                detail,
            }),
        }
    }
}

/// The shape of `transpose(reshape(x, view), perm)`.
fn permuted(view: &[usize], perm: &[usize]) -> Vec<usize> {
    if perm.is_empty() {
        view.to_vec()
    } else {
        perm.iter().map(|&a| view[a]).collect()
    }
}

/// For each C-order index of the output, the index of `x` it holds: `transpose(reshape(x,
/// view), perm)` read as `out_dims`, or placed at `offset` inside `out_dims` (`None` outside).
/// The shapes must pass [`shape_error`].
pub fn sources(
    view: &[usize],
    perm: &[usize],
    offset: &[usize],
    out_dims: &[usize],
) -> Vec<Option<usize>> {
    let inner: Vec<usize> = if perm.is_empty() {
        (0..view.iter().product()).collect()
    } else {
        permuted_sources(view, perm)
    };
    if offset.is_empty() {
        return inner.into_iter().map(Some).collect();
    }
    let t = permuted(view, perm);
    (0..out_dims.iter().product())
        .map(|j: usize| {
            let (mut rest, mut at, mut stride) = (j, 0, 1);
            for a in (0..out_dims.len()).rev() {
                let c = (rest % out_dims[a]).checked_sub(offset[a])?;
                rest /= out_dims[a];
                if c >= t[a] {
                    return None;
                }
                at += c * stride;
                stride *= t[a];
            }
            Some(inner[at])
        })
        .collect()
}

/// Why shapes and permutation do not make a relayout, if they do not: shapes of rank
/// 1..=[`MAX_RANK`] with non-zero extents and at most `2^26` values, `in_dims` and `view` of the
/// same size, `perm` empty or a permutation of `view`'s axes; without an offset `out_dims` of
/// the same size, with one the permuted shape placed inside `out_dims` (same rank). Shared with
/// the key check.
pub fn shape_error(
    in_dims: &[usize],
    out_dims: &[usize],
    view: &[usize],
    perm: &[usize],
    offset: &[usize],
) -> Option<String> {
    let numel = |d: &[usize]| {
        let ok = (1..=MAX_RANK).contains(&d.len()) && d.iter().all(|&e| e > 0);
        d.iter()
            .try_fold(1usize, |a, &e| a.checked_mul(e))
            .filter(|&n| ok && n <= 1 << 26)
    };
    let n = numel(view);
    let out = numel(out_dims);
    let sizes = if offset.is_empty() {
        out == n
    } else {
        out.is_some()
    };
    if n.is_none() || numel(in_dims) != n || !sizes {
        return Some(format!(
            "shapes {in_dims:?} -> view {view:?} -> {out_dims:?} do not hold the same number \
             of values (1..=2^26, rank 1..={MAX_RANK})"
        ));
    }
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if !perm.is_empty() && sorted != (0..view.len()).collect::<Vec<_>>() {
        return Some(format!(
            "{perm:?} is not a permutation of {} axes",
            view.len()
        ));
    }
    let t = permuted(view, perm);
    let inside = offset.len() == t.len()
        && out_dims.len() == t.len()
        && (0..t.len()).all(|a| {
            offset[a]
                .checked_add(t[a])
                .is_some_and(|e| e <= out_dims[a])
        });
    if !offset.is_empty() && !inside {
        return Some(format!(
            "a {t:?} tensor at offset {offset:?} is not inside {out_dims:?}"
        ));
    }
    None
}
