//! A permutation of an activation: a Transpose, or a Reshape that a proof must read in another
//! layout.
//!
//! Data is flat and C-ordered, so a Reshape alone changes nothing; but a proof lays every
//! tensor out padded per dimension (`[n]` for a dense layer's output, `[C][H][W]` for a
//! window op's), so a window op reading a dense layer's output through a Reshape (`Unflatten`)
//! reads it in another layout, and a Transpose moves the data itself. A [`RelayoutLayer`]
//! does both: it views its input as `view`, permutes the axes by `perm`, and is read as
//! `out_dims`; it reads its input in the layout `in_dims` it was written in. Its [`Placement`]
//! may instead put the permuted tensor at an offset inside a larger `out_dims`, zero elsewhere
//! (one input of a Concat, which sums of such embeddings join), or pick along each axis the
//! coordinate each output position copies (a nearest-neighbour Resize repeats them). No
//! requantization: the output keeps the input's scale.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::graph::permuted_sources;
use crate::layer::{Layer, LayerTrace, first, plain};

/// Largest rank of a relayout's shapes.
pub const MAX_RANK: usize = 8;

/// How the permuted tensor `t = transpose(reshape(x, view), perm)` becomes the output.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Placement {
    /// `t` is the output, read as `out_dims` (the same number of values).
    #[default]
    Whole,
    /// `t` sits at this offset inside `out_dims` (the same rank), zeros elsewhere.
    Offset(Vec<usize>),
    /// Output coordinate `o` of axis `a` copies coordinate `maps[a][o]` of `t` (the same
    /// rank; `out_dims[a] = maps[a].len()`): a nearest-neighbour resize.
    Gather(Vec<Vec<usize>>),
    /// Output coordinate `o` of axis `a` copies coordinate `o / s[a]` of `t` when `s[a]`
    /// divides it, else is zero (the same rank; `out_dims[a] = (t[a] - 1) s[a] + 1`): the
    /// input of a ConvTranspose, spread by its strides.
    Spread(Vec<usize>),
}

/// `out = transpose(reshape(x, view), perm)`, placed in `out_dims` as `place` says.
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
    pub place: Placement,
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
        sources(&self.view, &self.perm, &self.place, &self.out_dims)
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
            &self.place,
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
/// view), perm)` placed in `out_dims` as `place` says (`None`: a zero). The shapes must pass
/// [`shape_error`].
pub fn sources(
    view: &[usize],
    perm: &[usize],
    place: &Placement,
    out_dims: &[usize],
) -> Vec<Option<usize>> {
    let inner: Vec<usize> = if perm.is_empty() {
        (0..view.iter().product()).collect()
    } else {
        permuted_sources(view, perm)
    };
    let t = permuted(view, perm);
    // the coordinate of `t` that output coordinate `c` of axis `a` holds, if any
    let pick = |a: usize, c: usize| match place {
        Placement::Whole => Some(c),
        Placement::Offset(offset) => c.checked_sub(offset[a]).filter(|&c| c < t[a]),
        Placement::Gather(maps) => Some(maps[a][c]),
        Placement::Spread(s) => c.is_multiple_of(s[a]).then_some(c / s[a]),
    };
    if *place == Placement::Whole {
        return inner.into_iter().map(Some).collect();
    }
    (0..out_dims.iter().product())
        .map(|j: usize| {
            let (mut rest, mut at, mut stride) = (j, 0, 1);
            for a in (0..out_dims.len()).rev() {
                let c = pick(a, rest % out_dims[a])?;
                rest /= out_dims[a];
                at += c * stride;
                stride *= t[a];
            }
            Some(inner[at])
        })
        .collect()
}

/// Why shapes and permutation do not make a relayout, if they do not: shapes of rank
/// 1..=[`MAX_RANK`] with non-zero extents and at most `2^26` values, `in_dims` and `view` of the
/// same size, `perm` empty or a permutation of `view`'s axes; placed whole, `out_dims` of the
/// same size; at an offset, the permuted shape inside `out_dims` (same rank); gathered, one map
/// per axis (same rank) of `out_dims[a]` coordinates, each inside the permuted shape. Shared
/// with the key check.
pub fn shape_error(
    in_dims: &[usize],
    out_dims: &[usize],
    view: &[usize],
    perm: &[usize],
    place: &Placement,
) -> Option<String> {
    let numel = |d: &[usize]| {
        let ok = (1..=MAX_RANK).contains(&d.len()) && d.iter().all(|&e| e > 0);
        d.iter()
            .try_fold(1usize, |a, &e| a.checked_mul(e))
            .filter(|&n| ok && n <= 1 << 26)
    };
    let n = numel(view);
    let out = numel(out_dims);
    let sizes = match place {
        Placement::Whole => out == n,
        Placement::Offset(_) | Placement::Gather(_) | Placement::Spread(_) => out.is_some(),
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
    let rank = t.len();
    let fits = match place {
        Placement::Whole => true,
        Placement::Offset(offset) => {
            offset.len() == rank
                && out_dims.len() == rank
                && (0..rank).all(|a| {
                    offset[a]
                        .checked_add(t[a])
                        .is_some_and(|e| e <= out_dims[a])
                })
        }
        Placement::Gather(maps) => {
            maps.len() == rank
                && out_dims.len() == rank
                && (0..rank)
                    .all(|a| maps[a].len() == out_dims[a] && maps[a].iter().all(|&c| c < t[a]))
        }
        Placement::Spread(s) => {
            s.len() == rank
                && out_dims.len() == rank
                && (0..rank)
                    .all(|a| (1..=64).contains(&s[a]) && (t[a] - 1) * s[a] + 1 == out_dims[a])
        }
    };
    if !fits {
        return Some(format!(
            "a {t:?} tensor does not fit {out_dims:?} at its offset or coordinate maps"
        ));
    }
    None
}

impl Layer for RelayoutLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.view.iter().product()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.out_dims.clone()
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(self.in_dims.clone())
    }

    fn trace(&self, xs: &[&[i64]], _bits: u32) -> LayerTrace {
        plain(self.forward(first(xs)))
    }

    fn check(&self, _bits: u32) -> Result<(), ModelError> {
        self.validate()
    }
}
