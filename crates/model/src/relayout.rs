//! A permutation of an activation: a Transpose, or a Reshape that a proof must read in another
//! layout.
//!
//! Data is flat and C-ordered, so a Reshape alone changes nothing; but a proof lays every
//! tensor out padded per dimension (`[n]` for a dense layer's output, `[C][H][W]` for a
//! window op's), so a window op reading a dense layer's output through a Reshape (`Unflatten`)
//! reads it in another layout, and a Transpose moves the data itself. A [`RelayoutLayer`]
//! does both: it views its input as `view`, permutes the axes by `perm`, and is read as
//! `out_dims`; it reads its input in the layout `in_dims` it was written in. No
//! requantization: the output keeps the input's scale.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::graph::permuted_sources;

/// Largest rank of a relayout's shapes.
pub const MAX_RANK: usize = 8;

/// `out = transpose(reshape(x, view), perm)`, laid out as `out_dims`.
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
    pub out_scale: f64,
}

impl RelayoutLayer {
    /// Number of values of its input and output.
    pub fn len(&self) -> usize {
        self.view.iter().product()
    }

    /// Always false for a validated layer.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// For each C-order output index, the C-order input index it holds.
    pub fn sources(&self) -> Vec<usize> {
        sources(&self.view, &self.perm)
    }

    /// The permuted sample.
    pub fn forward(&self, x: &[i64]) -> Vec<i64> {
        self.sources().iter().map(|&s| x[s]).collect()
    }

    /// Check that the shapes hold the same number of values and `perm` permutes `view`.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self) -> Result<(), ModelError> {
        match shape_error(&self.in_dims, &self.out_dims, &self.view, &self.perm) {
            None => Ok(()),
            Some(detail) => Err(ModelError::Quantization {
                layer: self.name.clone(),
                detail,
            }),
        }
    }
}

/// For each C-order index of `transpose(reshape(x, view), perm)`, the index of `x` it holds.
pub fn sources(view: &[usize], perm: &[usize]) -> Vec<usize> {
    if perm.is_empty() {
        (0..view.iter().product()).collect()
    } else {
        permuted_sources(view, perm)
    }
}

/// Why shapes and permutation do not make a relayout, if they do not: every shape of rank
/// 1..=[`MAX_RANK`] with non-zero extents and the same number of values (at most `2^26`), `perm`
/// empty or a permutation of `view`'s axes. Shared with the key check.
pub fn shape_error(
    in_dims: &[usize],
    out_dims: &[usize],
    view: &[usize],
    perm: &[usize],
) -> Option<String> {
    let numel = |d: &[usize]| {
        let ok = (1..=MAX_RANK).contains(&d.len()) && d.iter().all(|&e| e > 0);
        d.iter()
            .try_fold(1usize, |a, &e| a.checked_mul(e))
            .filter(|&n| ok && n <= 1 << 26)
    };
    let n = numel(view);
    if n.is_none() || numel(in_dims) != n || numel(out_dims) != n {
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
    None
}
