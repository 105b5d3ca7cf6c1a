//! Verifier side: observe a commitment, verify an opening.

use p3_sumcheck::PrescribedPointPcs;
use p3_sumcheck::layout::observe_commitment;
use p3_whir::pcs::proof::PcsProof;

use super::{
    Claim, CommitShape, Commitment, Layout, Mmcs, OpeningProof, Openings, PARAMS, Params, PcsError,
    absorb_shape, make_pcs,
};
use crate::field::{EF, F};
use crate::transcript::Transcript;

/// Verifier side of [`super::commit`]: absorbs the shape and the Merkle root. Must be called at
/// the transcript position where the prover committed.
pub fn observe(shape: &CommitShape, c: &Commitment, t: &mut Transcript) {
    absorb_shape(shape, t);
    observe_commitment::<F, _, _>(t.challenger(), c.0.clone());
}

/// Checks that `proof` opens `claims` to exactly `values` against the commitment `c` of
/// shape `shape`. The transcript must be where the prover's was when it called
/// [`super::open`].
///
/// Never panics: claims are checked against the shape, and the proof's lengths against the
/// claims and WHIR's configuration before any of it is read.
///
/// # Errors
///
/// [`PcsError::BadColumn`] / [`PcsError::BadPointLength`] for a claim that does not fit the
/// shape, [`PcsError::ValueCountMismatch`] when `values` and `claims` differ in length,
/// [`PcsError::MalformedProof`] for a proof of the wrong structure, [`PcsError::WrongValue`]
/// when the proof opens another value, [`PcsError::Whir`] when WHIR rejects the proof.
pub fn verify(
    shape: &CommitShape,
    c: &Commitment,
    claims: &[Claim],
    values: &[EF],
    proof: &OpeningProof,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    verify_with(&PARAMS, shape, c, claims, values, proof, t)
}

/// [`verify`] with explicit parameters.
pub(crate) fn verify_with(
    p: &Params,
    shape: &CommitShape,
    c: &Commitment,
    claims: &[Claim],
    values: &[EF],
    proof: &OpeningProof,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    let layout = Layout::new(shape, p.folding)?;
    let openings = Openings::new(shape, &layout, claims)?;
    if values.len() != claims.len() {
        return Err(PcsError::ValueCountMismatch {
            claims: claims.len(),
            values: values.len(),
        });
    }
    check_evals(&openings, &proof.0)?;
    for (claim, (&(b, pos), &value)) in openings.slots.iter().zip(values).enumerate() {
        if proof.0.evals[b].current()[pos] != value {
            return Err(PcsError::WrongValue { claim });
        }
    }
    let pcs = make_pcs(p, layout.num_variables, false)?;
    pcs.verify_at(
        &c.0,
        &proof.0,
        &openings.protocol,
        &openings.points,
        t.challenger(),
    )
    .map_err(|e| PcsError::Whir(e.to_string()))?;
    Ok(())
}

/// The proof's evaluation batches must match the claims' batches exactly.
///
/// # Errors
///
/// [`PcsError::MalformedProof`] on the first mismatch.
fn check_evals(openings: &Openings, proof: &PcsProof<F, EF, Mmcs>) -> Result<(), PcsError> {
    let malformed = |what: String| Err(PcsError::MalformedProof { what });
    if proof.evals.len() != openings.batch_sizes.len() {
        let (n, m) = (proof.evals.len(), openings.batch_sizes.len());
        return malformed(format!("{n} evaluation batches, expected {m}"));
    }
    for (b, (evals, &size)) in proof.evals.iter().zip(&openings.batch_sizes).enumerate() {
        if evals.current().len() != size || !evals.next().is_empty() {
            return malformed(format!("evaluation batch {b} has the wrong size"));
        }
    }
    Ok(())
}
