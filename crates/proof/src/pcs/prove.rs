//! Prover side: commit and open.

use p3_commit::MultilinearPcs;
use p3_matrix::dense::RowMajorMatrix;
use p3_sumcheck::PrescribedPointPcs;
use p3_sumcheck::layout::{Layout as _, Table, Witness};

use super::{
    Challenger, Claim, CommitShape, Commitment, Lay, Layout, OpeningProof, Openings, PARAMS,
    Params, PcsError, ProverData, absorb_shape, make_pcs,
};
use crate::field::{EF, F};
use crate::transcript::Transcript;

/// Commits to base-field columns (each of power-of-two length >= 1; lengths may differ) and
/// absorbs the shape and the Merkle root into the transcript.
///
/// # Errors
///
/// [`PcsError::NoColumns`], [`PcsError::BadColumnLength`] or [`PcsError::ColumnTooLarge`]
/// for columns we cannot commit, [`PcsError::Whir`] if WHIR rejects the configuration.
pub fn commit(
    columns: Vec<Vec<F>>,
    t: &mut Transcript,
) -> Result<(Commitment, ProverData), PcsError> {
    commit_with(&PARAMS, columns, t)
}

/// [`commit`] with explicit parameters.
pub(crate) fn commit_with(
    p: &Params,
    columns: Vec<Vec<F>>,
    t: &mut Transcript,
) -> Result<(Commitment, ProverData), PcsError> {
    let (shape, layout, witness) = witness(p, columns)?;
    let pcs = make_pcs(p, layout.num_variables, true)?;
    absorb_shape(&shape, t);
    let (root, inner) =
        <super::Pcs as MultilinearPcs<EF, Challenger>>::commit(&pcs, witness, t.challenger())
            .map_err(|e| PcsError::Whir(e.to_string()))?;
    let root = Commitment(root);
    Ok((
        root.clone(),
        ProverData {
            shape,
            root,
            inner,
            params: *p,
        },
    ))
}

/// The shape of `columns`, its layout and the stacked witness p3 commits to.
fn witness(
    p: &Params,
    mut columns: Vec<Vec<F>>,
) -> Result<(CommitShape, Layout, Witness<F>), PcsError> {
    let shape = CommitShape::of(&columns)?;
    let layout = Layout::new(&shape, p.folding)?;
    let tables = layout
        .tables
        .iter()
        .map(|tp| {
            let mut values = Vec::with_capacity(tp.columns.len() << tp.num_vars);
            for &c in &tp.columns {
                values.append(&mut columns[c]);
            }
            Table::new(RowMajorMatrix::new(values, 1 << tp.num_vars))
        })
        .collect();
    let witness = Lay::new_witness(tables, p.folding);
    Ok((shape, layout, witness))
}

/// Opens all `claims` in one WHIR opening. Claims may be many, at different points, several
/// per column, in any order; their points must already be fixed by the transcript.
///
/// Returns the evaluations (in claim order) and the proof.
///
/// # Errors
///
/// [`PcsError::BadColumn`] or [`PcsError::BadPointLength`] for a claim that does not fit the
/// commitment, [`PcsError::Whir`] if WHIR rejects the opening (e.g. too many claims for the
/// security target).
pub fn open(
    data: ProverData,
    claims: &[Claim],
    t: &mut Transcript,
) -> Result<(Vec<EF>, OpeningProof), PcsError> {
    let p = data.params;
    let layout = Layout::new(&data.shape, p.folding)?;
    let openings = Openings::new(&data.shape, &layout, claims)?;
    let pcs = make_pcs(&p, layout.num_variables, true)?;
    let proof = pcs
        .open_at(
            data.inner,
            &openings.protocol,
            &openings.points,
            t.challenger(),
        )
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    let values = openings
        .slots
        .iter()
        .map(|&(b, pos)| proof.evals[b].current()[pos])
        .collect();
    Ok((values, OpeningProof(proof)))
}
