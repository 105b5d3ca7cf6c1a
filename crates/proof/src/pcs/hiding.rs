//! A hiding commitment to several columns: p3-whir's HVZK-WHIR (ePrint 2026/391) over their
//! stack, for the zero-knowledge issue. No proof uses it yet.
//!
//! p3's hiding opening takes one multilinear polynomial and plain points. The columns are
//! stacked largest first, each at an offset that is a multiple of its own size, so column `c`
//! of `n_c` variables is the stack's restriction to the `N - n_c` leading bits of its block
//! index: a claim on `c` at `z` is a claim on the stack at `(bits of the block, z)`. Only the
//! claimed values leave the prover unmasked (p3's module docs list what hides what).
//!
//! It runs with p3's default round rates (with our first-round shrink the codewords lack the
//! slack for the hiding randomness) and masks of `ell_zk` 4 at rate 1/2. Its composed
//! soundness is not computed here yet: a key that used it would have to report it, as
//! [`super::security`] does for the plain commitment.

use std::cmp::Reverse;

use p3_commit::MultilinearPcs;
use p3_field::PrimeCharacteristicRing;
use p3_multilinear_util::point::Point;
use p3_multilinear_util::poly::Poly;
use p3_whir::parameters::{FoldingFactor, ProtocolParameters};
use p3_whir::pcs::zk::{
    HidingWhirPcs, HidingWhirProverData, ZkParameters, ZkWhirConfig, ZkWhirProof,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{
    Challenger, Claim, CommitShape, Dft, MAX_NUM_VARS, Mmcs, PARAMS, PcsError, Root, mmcs,
};
use crate::field::{EF, F};
use crate::transcript::Transcript;

type Hiding = HidingWhirPcs<EF, F, Dft, Mmcs, Challenger, StdRng>;

/// Domain label absorbed before the shape.
const LABEL: &[u8] = b"zkml-pcs-hiding-v1";

/// The fewest variables of a stack (smaller ones are zero-padded): below 2^12 cells the
/// codewords lack the slack for the hiding randomness (at 2^11: "128 randomness rows exceed
/// the 120 spare codeword rows").
const MIN_VARS: usize = 12;

/// The Merkle root of a hiding commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HidingCommitment(Root);

/// A hiding opening proof.
#[derive(Clone, Serialize, Deserialize)]
pub struct HidingOpeningProof(ZkWhirProof<F, EF, Mmcs>);

/// What [`open`] needs: the stack's layout, p3's data and the prover's randomness.
pub struct HidingProverData {
    stack: Stack,
    root: HidingCommitment,
    inner: HidingWhirProverData<F, EF, Mmcs>,
    rng: StdRng,
}

/// Where each column sits in the stack.
#[derive(Clone, Debug)]
struct Stack {
    shape: CommitShape,
    offsets: Vec<usize>,
    num_vars: usize,
}

impl Stack {
    /// Columns largest first (ties in column order), each at the running offset.
    fn new(shape: &CommitShape) -> Result<Self, PcsError> {
        let vars = &shape.column_vars;
        if vars.is_empty() {
            return Err(PcsError::NoColumns);
        }
        let mut order: Vec<usize> = (0..vars.len()).collect();
        order.sort_by_key(|&c| (Reverse(vars[c]), c));
        let mut offsets = vec![0; vars.len()];
        let mut at = 0usize;
        for c in order {
            if vars[c] > MAX_NUM_VARS {
                let (column, num_vars, max) = (c, vars[c], MAX_NUM_VARS);
                return Err(PcsError::ColumnTooLarge {
                    column,
                    num_vars,
                    max,
                });
            }
            offsets[c] = at;
            at += 1 << vars[c];
        }
        let num_vars = (at.next_power_of_two().trailing_zeros() as usize).max(MIN_VARS);
        if num_vars > MAX_NUM_VARS {
            let (column, max) = (vars.len() - 1, MAX_NUM_VARS);
            return Err(PcsError::ColumnTooLarge {
                column,
                num_vars,
                max,
            });
        }
        Ok(Self {
            shape: shape.clone(),
            offsets,
            num_vars,
        })
    }

    /// The stack's point of claim `i` (checked against the shape).
    fn point(&self, i: usize, claim: &Claim) -> Result<Point<EF>, PcsError> {
        let vars = self.shape.claim_vars(i, claim)?;
        let prefix = self.num_vars - vars;
        let block = self.offsets[claim.column] >> vars;
        let bits = (0..prefix).map(|k| EF::from_bool((block >> (prefix - 1 - k)) & 1 == 1));
        Ok(Point::new(
            bits.chain(claim.point.iter().copied()).collect(),
        ))
    }

    fn points(&self, claims: &[Claim]) -> Result<Vec<Point<EF>>, PcsError> {
        claims
            .iter()
            .enumerate()
            .map(|(i, c)| self.point(i, c))
            .collect()
    }
}

/// p3's hiding scheme for a stack of `num_vars` variables (`rng`: the prover's randomness).
pub(super) fn make_hiding(num_vars: usize, rng: StdRng) -> Result<Hiding, PcsError> {
    let p = PARAMS;
    let params = ProtocolParameters {
        starting_log_inv_rate: p.log_inv_rate,
        round_log_inv_rates: Vec::new(),
        folding_factor: FoldingFactor::Constant(p.folding),
        soundness_type: p.assumption,
        security_level: p.security_level,
        pow_bits: p.pow_bits,
    };
    let zk = ZkParameters {
        ell_zk: 4,
        mask_log_inv_rate: 1,
    };
    let config = ZkWhirConfig::<EF, F, Challenger>::new(num_vars, params, zk)
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    Ok(HidingWhirPcs::new(config, Dft::default(), mmcs(), rng))
}

fn absorb_shape(shape: &CommitShape, t: &mut Transcript) {
    t.absorb_bytes(LABEL);
    t.absorb_u64(shape.column_vars.len() as u64);
    for &n in &shape.column_vars {
        t.absorb_u64(n as u64);
    }
}

/// Commits to base-field columns (each of power-of-two length) with the prover's randomness
/// `rng` (seed it from the operating system), and absorbs the shape and the root.
///
/// # Errors
///
/// [`PcsError::NoColumns`], [`PcsError::BadColumnLength`] or [`PcsError::ColumnTooLarge`]
/// for columns we cannot commit, [`PcsError::Whir`] if WHIR rejects the configuration.
pub fn commit(
    columns: Vec<Vec<F>>,
    mut rng: StdRng,
    t: &mut Transcript,
) -> Result<(HidingCommitment, HidingProverData), PcsError> {
    let shape = CommitShape::of(&columns)?;
    let stack = Stack::new(&shape)?;
    let mut values = vec![F::ZERO; 1 << stack.num_vars];
    for (c, column) in columns.iter().enumerate() {
        values[stack.offsets[c]..stack.offsets[c] + column.len()].copy_from_slice(column);
    }
    let pcs = make_hiding(stack.num_vars, StdRng::from_rng(&mut rng))?;
    absorb_shape(&shape, t);
    let (root, inner) = pcs
        .commit(Poly::new(values), t.challenger())
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    let root = HidingCommitment(root);
    let data = HidingProverData {
        stack,
        root: root.clone(),
        inner,
        rng,
    };
    Ok((root, data))
}

/// Verifier side of [`commit`]: absorbs the shape and the root where the prover committed.
///
/// # Errors
///
/// [`PcsError::NoColumns`] or [`PcsError::ColumnTooLarge`] for a shape no commitment has,
/// [`PcsError::Whir`] if WHIR has no configuration for it.
pub fn observe(
    shape: &CommitShape,
    c: &HidingCommitment,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    let stack = Stack::new(shape)?;
    absorb_shape(shape, t);
    make_hiding(stack.num_vars, StdRng::seed_from_u64(0))?.observe_commitment(&c.0, t.challenger());
    Ok(())
}

/// Opens `claims` (points fixed by the transcript already) in one hiding opening. Returns the
/// values, in claim order, and the proof.
///
/// # Errors
///
/// [`PcsError::BadColumn`] or [`PcsError::BadPointLength`] for a claim that does not fit,
/// [`PcsError::Whir`] when WHIR refuses (e.g. more claims than its bound allows).
pub fn open(
    data: HidingProverData,
    claims: &[Claim],
    t: &mut Transcript,
) -> Result<(Vec<EF>, HidingOpeningProof), PcsError> {
    let points = data.stack.points(claims)?;
    let pcs = make_hiding(data.stack.num_vars, data.rng)?;
    // p3's verifier binds the root again at the opening: so does the prover
    pcs.observe_commitment(&data.root.0, t.challenger());
    let proof = pcs
        .open(data.inner, points, t.challenger())
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    Ok((proof.evals.clone(), HidingOpeningProof(proof)))
}

/// Checks that `proof` opens `claims` to `values` against the hiding commitment `c` of
/// `shape`, with the transcript where the prover's was at [`open`].
///
/// # Errors
///
/// [`PcsError::BadColumn`] / [`PcsError::BadPointLength`] for a claim that does not fit,
/// [`PcsError::ValueCountMismatch`], [`PcsError::WrongValue`] when the proof opens another
/// value, [`PcsError::Whir`] when WHIR refuses the proof.
pub fn verify(
    shape: &CommitShape,
    c: &HidingCommitment,
    claims: &[Claim],
    values: &[EF],
    proof: &HidingOpeningProof,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    let stack = Stack::new(shape)?;
    let points = stack.points(claims)?;
    if values.len() != claims.len() {
        return Err(PcsError::ValueCountMismatch {
            claims: claims.len(),
            values: values.len(),
        });
    }
    if let Some(claim) = (proof.0.evals.iter().zip(values)).position(|(a, b)| a != b) {
        return Err(PcsError::WrongValue { claim });
    }
    let pcs = make_hiding(stack.num_vars, StdRng::seed_from_u64(0))?;
    pcs.verify(&c.0, &proof.0, t.challenger(), points)
        .map_err(|e| PcsError::Whir(e.to_string()))
}
