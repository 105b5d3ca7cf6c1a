//! What the ops on a per-sample vector (softmax, log-softmax, argmax) share: the first tables
//! of their one sumcheck over `[samples][positions]`, and the claims on their own columns.

use p3_field::PrimeCharacteristicRing;
use zkml_proof::field::EF;
use zkml_proof::mle::eq_table;

use crate::error::VerifyError;
use crate::layout::{Col, Layout, real_mask};
use crate::statement::{Claims, Public};

/// `eq(tau, z)`, `eq(tau_s, z_s)` and the real-position indicator of `dims`, over every
/// position `z = (z_s, z_o)`: the weights of the sumcheck's terms.
pub(crate) fn base_tables(tau: &[EF], sample_vars: usize, dims: &[usize]) -> Vec<Vec<EF>> {
    let real: Vec<EF> = real_mask(dims)
        .iter()
        .map(|&r| if r { EF::ONE } else { EF::ZERO })
        .collect();
    let eq_s = broadcast(&eq_table(&tau[..sample_vars]), real.len());
    vec![eq_table(tau), eq_s, real.repeat(1 << sample_vars)]
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
