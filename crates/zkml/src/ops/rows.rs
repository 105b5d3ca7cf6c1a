//! What the row ops (softmax, log-softmax, argmax) share: the first tables of their one
//! sumcheck over `[samples][rows][row]`, their per-row columns and the claims on their own
//! columns.
//!
//! A row op works on each row (the last axis) of its input `[outer.., n]`, laid out padded per
//! dimension, so a position's variables are the sample's, the row's within the sample (`outer`,
//! none for one row) and the value's within the row; the first two together are the row
//! variables (`prefix`). Per-row columns (`Col::Row`) have the row variables; at a padding row
//! they hold 0 (a log-softmax's upper bound: see there), and identities that sum over every row
//! count the real ones with [`real_rows`].

use p3_field::PrimeCharacteristicRing;
use zkml_proof::field::EF;
use zkml_proof::mle::eq_table;

use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Layout, real_eval, real_mask};
use crate::statement::{Claims, Public};
use crate::witness::pad_rows;

/// The number of row variables of a row op: samples, then rows within a sample.
pub(crate) fn prefix(layout: &Layout, shape: &LayerShape) -> usize {
    layout.sample_vars + shape.row_vars()
}

/// The MLE at `z` (the rows' variables within a sample) of the indicator of real rows.
pub(crate) fn real_rows(shape: &LayerShape, z: &[EF]) -> EF {
    real_eval(&shape.in_dims[..shape.in_dims.len() - 1], z)
}

/// `eq(tau, z)`, `eq(tau_r, z_r)` (`tau_r` the first `prefix` variables) and the real-position
/// indicator of `dims` (one sample's), over every position `z`: the weights of the sumcheck's
/// terms.
pub(crate) fn base_tables(tau: &[EF], prefix: usize, dims: &[usize]) -> Vec<Vec<EF>> {
    let real: Vec<EF> = real_mask(dims)
        .iter()
        .map(|&r| if r { EF::ONE } else { EF::ZERO })
        .collect();
    let eq_r = broadcast(&eq_table(&tau[..prefix]), 1 << (tau.len() - prefix));
    let samples = (1usize << tau.len()) / real.len();
    vec![eq_table(tau), eq_r, real.repeat(samples)]
}

/// A per-row column: each sample's row values (`rows` per sample, C order over `outer`) laid
/// out `[samples][outer padded]`, `fill` at the padding rows.
pub(crate) fn row_column(values: &[Vec<i64>], outer: &[usize], fill: i64) -> Vec<i64> {
    let mut col = pad_rows(values, outer);
    let mask = real_mask(outer);
    for (i, v) in col.iter_mut().enumerate() {
        if !mask[i % mask.len()] {
            *v = fill;
        }
    }
    col
}

/// The axes before the last of a row op's input layout.
pub(crate) fn outer(shape: &LayerShape) -> &[usize] {
    &shape.in_dims[..shape.in_dims.len() - 1]
}

/// A column in the extension field.
pub(crate) fn lift<T: Copy + Into<EF>>(col: &[T]) -> Vec<EF> {
    col.iter().map(|&v| v.into()).collect()
}

/// A per-sample column repeated over each sample's `width` positions.
pub(crate) fn broadcast<T: Copy + Into<EF>>(col: &[T], width: usize) -> Vec<EF> {
    col.iter()
        .flat_map(|&v| std::iter::repeat_n(v.into(), width))
        .collect()
}

/// Queues the claims `Col::Aux(l, k)(point) = values[k]` for every `k < values.len()`.
pub(crate) fn aux_claims(
    layout: &Layout,
    public: &Public,
    claims: &mut Claims,
    l: usize,
    point: &[EF],
    values: &[EF],
) -> Result<(), VerifyError> {
    for (k, &v) in values.iter().enumerate() {
        claims.column(layout, public, Col::Aux(l, k), point.to_vec(), v)?;
    }
    Ok(())
}

/// Whether `len` values are rows of `1..=most` values each, as many rows as `outer` says
/// (none or more than one; `zkml_model::softmax::rows_ok`).
pub(crate) fn rows_fit(outer: &[usize], len: usize, most: usize) -> bool {
    // (the product only once it is known not to overflow)
    zkml_model::softmax::rows_ok(outer) && {
        let rows = zkml_model::softmax::rows(outer);
        len.is_multiple_of(rows) && (1..=most).contains(&(len / rows))
    }
}

/// A softmax's exponential table: `2^bits` entries in `[0, 2^EXP_BITS]` from `2^EXP_BITS`.
pub(crate) fn exp_ok(exp: &[i64], bits: u32) -> bool {
    let one = 1i64 << zkml_model::softmax::EXP_BITS;
    exp.len() == 1 << bits && exp.first() == Some(&one) && exp.iter().all(|v| (0..=one).contains(v))
}

/// A row op's layouts (`[outer.., n]` in, `[outer.., out]` out, `[n]` for one row), `n_in`
/// values a sample: `n` is the row length.
pub(crate) fn row_dims(
    outer: &[usize],
    n_in: usize,
    out: Option<usize>,
) -> (Vec<usize>, Vec<usize>) {
    let n = n_in / zkml_model::softmax::rows(outer).max(1);
    let row = |len: usize| outer.iter().copied().chain([len]).collect::<Vec<usize>>();
    (row(n), row(out.unwrap_or(n)))
}
