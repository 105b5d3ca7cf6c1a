//! Prover side: commit, open, and the storage of prover data.

use p3_commit::{Mmcs as _, MultilinearPcs};
use p3_field::PrimeCharacteristicRing;
use p3_matrix::Matrix;
use p3_matrix::dense::{DenseMatrix, RowMajorMatrix};
use p3_sumcheck::PrescribedPointPcs;
use p3_sumcheck::layout::{Layout as _, Table};
use serde::{Deserialize, Serialize};

use super::{
    Challenger, Claim, CommitShape, Commitment, Lay, Layout, Mmcs, OpeningProof, Openings, PARAMS,
    Params, PcsError, ProverData, absorb_shape, make_pcs, mmcs,
};
use crate::field::{EF, F};
use crate::transcript::Transcript;

/// The Merkle tree over the codeword.
type Tree = <Mmcs as p3_commit::Mmcs<F>>::ProverData<DenseMatrix<F>>;

/// Version tag of [`ProverData::to_bytes`].
const STORE_VERSION: u32 = 1;

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
    mut columns: Vec<Vec<F>>,
    t: &mut Transcript,
) -> Result<(Commitment, ProverData), PcsError> {
    let mut column_vars = Vec::with_capacity(columns.len());
    for (column, c) in columns.iter().enumerate() {
        if !c.len().is_power_of_two() {
            return Err(PcsError::BadColumnLength {
                column,
                len: c.len(),
            });
        }
        column_vars.push(c.len().trailing_zeros() as usize);
    }
    let shape = CommitShape { column_vars };
    let layout = Layout::new(&shape, p.folding)?;
    let pcs = make_pcs(p, layout.num_variables, true)?;
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
    drop(columns);
    let witness = Lay::new_witness(tables, p.folding);
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

/// What [`ProverData::to_bytes`] writes (borrowed).
#[derive(Serialize)]
struct StoredRef<'a> {
    version: u32,
    shape: &'a CommitShape,
    root: &'a Commitment,
    tables: Vec<Vec<F>>,
    tree: &'a Tree,
}

/// What [`ProverData::from_bytes`] reads (owned; same encoding as [`StoredRef`]).
#[derive(Deserialize)]
struct Stored {
    version: u32,
    shape: CommitShape,
    root: Commitment,
    tables: Vec<Vec<F>>,
    tree: Tree,
}

impl ProverData {
    /// Serializes the data (columns, codeword, Merkle tree) with postcard plus a checksum, so
    /// that a later process can open without recommitting (~7x faster than [`commit`], ~32
    /// bytes per committed cell; see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let layout_tables = Layout::new(&self.shape, self.params.folding)
            .map(|l| l.tables.len())
            .unwrap_or(0);
        let tables = (0..layout_tables)
            .map(|id| {
                self.inner
                    .table(id)
                    .iter_polys()
                    .flatten()
                    .copied()
                    .collect()
            })
            .collect();
        let stored = StoredRef {
            version: STORE_VERSION,
            shape: &self.shape,
            root: &self.root,
            tables,
            tree: &self.inner.merkle_data,
        };
        let mut bytes = postcard::to_allocvec(&stored).unwrap_or_default();
        let sum = checksum(&bytes);
        bytes.extend_from_slice(&sum.to_le_bytes());
        bytes
    }

    /// Whether the data holds exactly `columns` (in commitment order, as [`commit`] took
    /// them): a cheap check (no hashing) that stored data belongs to the columns it is meant
    /// to open.
    pub fn holds(&self, columns: &[&[F]]) -> bool {
        let Ok(layout) = Layout::new(&self.shape, self.params.folding) else {
            return false;
        };
        let fits = |poly: &[F], column: &[F]| {
            poly.len() >= column.len()
                && poly[..column.len()] == *column
                && poly[column.len()..].iter().all(|v| *v == F::ZERO)
        };
        columns.len() == self.shape.column_vars.len()
            && layout.tables.iter().enumerate().all(|(id, tp)| {
                let polys: Vec<&[F]> = self.inner.table(id).iter_polys().collect();
                polys.len() == tp.columns.len()
                    && (polys.iter().zip(&tp.columns)).all(|(p, &c)| fits(p, columns[c]))
            })
    }

    /// Reads what [`ProverData::to_bytes`] wrote. Checks the checksum, the version, the table
    /// sizes against the shape, the codeword dimensions and that the tree's root is the stored
    /// commitment; it does not rehash the tree (the file is the prover's own: a deliberately
    /// crafted file can make a later [`open`] produce a rejected proof).
    ///
    /// # Errors
    ///
    /// [`PcsError::Decode`] when the bytes do not decode or do not fit together.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, PcsError> {
        let bad = |reason: String| PcsError::Decode {
            what: "prover data",
            reason,
        };
        let split = bytes
            .len()
            .checked_sub(8)
            .ok_or_else(|| bad("too short".into()))?;
        let (payload, sum) = bytes.split_at(split);
        if sum != checksum(payload).to_le_bytes() {
            return Err(bad("checksum mismatch".into()));
        }
        let stored: Stored = postcard::from_bytes(payload).map_err(|e| bad(e.to_string()))?;
        if stored.version != STORE_VERSION {
            return Err(bad(format!("version {}", stored.version)));
        }
        let p = PARAMS;
        let layout = Layout::new(&stored.shape, p.folding)?;
        if stored.tables.len() != layout.tables.len() {
            return Err(bad("table count".into()));
        }
        let mut tables = Vec::with_capacity(layout.tables.len());
        for (values, tp) in stored.tables.into_iter().zip(&layout.tables) {
            if values.len() != tp.columns.len() << tp.padded_vars {
                return Err(bad("table size".into()));
            }
            tables.push(Table::new(RowMajorMatrix::new(values, 1 << tp.padded_vars)));
        }
        let expected = codeword_dims(&p, layout.num_variables);
        let dims: Vec<_> = mmcs()
            .get_matrices(&stored.tree)
            .iter()
            .map(|m| (m.height(), m.width()))
            .collect();
        if dims != [expected] || stored.tree.num_layers() == 0 {
            return Err(bad("codeword dimensions".into()));
        }
        if stored.tree.cap(0) != stored.root.0 {
            return Err(bad("Merkle root".into()));
        }
        let mut inner = placeholder_data(&p)?;
        inner.layout = Lay::from_witness(Lay::new_witness(tables, p.folding));
        inner.merkle_data = stored.tree;
        Ok(Self {
            shape: stored.shape,
            root: stored.root,
            inner,
            params: p,
        })
    }
}

/// A fast 64-bit checksum against accidental corruption of stored prover data (not a
/// cryptographic hash: the file is the prover's own).
fn checksum(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut h = 0x243F_6A88_85A3_08D3_u64 ^ bytes.len() as u64;
    let mut mix = |w: u64| h = (h ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(29);
    for c in &mut chunks {
        mix(u64::from_le_bytes([
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7],
        ]));
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    mix(u64::from_le_bytes(last));
    h
}

/// (height, width) of the codeword matrix of a stacked polynomial of `num_variables`.
fn codeword_dims(p: &Params, num_variables: usize) -> (usize, usize) {
    (
        1 << (num_variables + p.log_inv_rate - p.folding),
        1 << p.folding,
    )
}

/// A `WhirProverData` of the smallest commitment: p3 offers no constructor from parts, but
/// its two fields are public, so [`ProverData::from_bytes`] overwrites them.
fn placeholder_data(p: &Params) -> Result<super::InnerData, PcsError> {
    let pcs = make_pcs(p, p.folding, true)?;
    let zero = Table::new(RowMajorMatrix::new(
        vec![F::ZERO; 1 << p.folding],
        1 << p.folding,
    ));
    let witness = Lay::new_witness(vec![zero], p.folding);
    let mut challenger = Transcript::new();
    let (_, data) = <super::Pcs as MultilinearPcs<EF, Challenger>>::commit(
        &pcs,
        witness,
        challenger.challenger(),
    )
    .map_err(|e| PcsError::Whir(e.to_string()))?;
    Ok(data)
}
