//! Multilinear polynomial commitment: a thin wrapper over WHIR (`p3-whir` 0.8.0) so that the
//! rest of the system never touches Plonky3 types.
//!
//! # What it does
//!
//! [`commit`] takes any number of base-field columns, each of `2^n` evaluations (`n >= 0`,
//! different `n` allowed), and commits to all of them under one Merkle root. [`open`] proves
//! any number of evaluation claims `column(point) = value` (several per column, at different
//! points, in any order) in ONE WHIR opening; [`verify`] checks it. Points follow the crate's
//! MSB-first variable order ([`crate::mle::evaluate`]).
//!
//! Internally, columns with the same number of variables form one `p3-sumcheck` `Table` (one
//! polynomial per row); the tables are stacked into one polynomial that WHIR commits to.
//! Tables with fewer variables than the first folding factor are zero-padded at the end, so
//! a column of `n` variables padded to `k` holds its data at indices `< 2^n`: a claim at
//! `point` becomes a claim at `(0, .., 0, point)`. Claims at the same point on the same table
//! share one opening batch; a claim repeated exactly is opened once.
//!
//! # Transcript
//!
//! [`commit`] (prover) and [`observe`] (verifier) absorb a label, the shape and the Merkle root.
//! The opening continues on the transcript it is given (in a proof, a fork of the proof's
//! transcript that binds the commitment, `Transcript::fork`); the points must be fixed by the
//! transcript (drawn after the commitment) before [`open`]/[`verify`] is called.
//!
//! # Parameters and security
//!
//! Folding factor 4, starting rate 1/2 (log inverse rate 1), WHIR per-term target 105 bits with
//! at most 8 bits of grinding per phase, cubic-extension challenges (~191 bits), Merkle trees
//! with 4-element (256-bit) digests hashed by Keccak-f (`hash.rs`: a 16-element row or a node
//! in one permutation, eight rows at a time with AVX-512: about 50 ns a row and 34 ns a node,
//! where the width-12 Poseidon2 sponge took about 540 ns a row and the width-8 permutation
//! 220 ns a node; `pcs::tests::hash_widths`). The transcript stays a Poseidon2 sponge.
//!
//! The first round shrinks the evaluation domain by 4 (by 8 from 2^20 cells of the stacked
//! polynomial) instead of halving it as p3-whir would; the later rounds halve it. The first
//! round's codeword is the one big Merkle tree an opening builds (in the extension field: three
//! base elements a cell); halving makes it `2^n` cells for a `2^n`-cell polynomial, shrinking by
//! 4 or 8 makes it `2^(n-1)` or `2^(n-2)`. The price is the next round's rate (1/8 or 1/4
//! instead of 1/16), so more queries there: +4 or +14 KiB per opening at the same composed
//! security. Measured with `explore_parameters` (grid `4,1,12,S`, S the log2 of the first
//! shrink; the first of two runs): at 2^20 cells, opening 0.38, 0.21, 0.10, 0.06 s and proof 78,
//! 82, 92, 119 KiB for S = 1, 2, 3, 4; at 2^18, 91, 53, 30 ms and 62, 66, 75 KiB for S = 1, 2, 3.
//! S = 3 below 2^20 would cost the 264k CNN's proof (two 2^19-cell openings) its 250 KB
//! budget for about 15% of its prove time.
//!
//! Each later round folds the polynomial 16 times smaller but, left alone, only halves the
//! domain, so the rate grows (1/64 two rounds on) and each codeword is half the one before: at
//! 2^22 cells the rounds' codewords held 1.75x the first one's cells. From 2^15 cells (two
//! rounds or more) no round's rate drops below 1/4 (`rate_cap`; 1/8 in 2^17..2^20,
//! `band_cap`), so each codeword is 16 times (8 times in the band) smaller than the one before.
//! The price is more queries in the later rounds (48 instead of 32, 16, 11): at 2^19 cells,
//! measured with `explore_parameters` (grid `4,1,12,2,C`, medians of 7), opening 107, 76,
//! 49 ms and proof 77, 89, 102 KiB uncapped and with C = 3, 2; at 2^16, 29, 24, 18 ms and 57,
//! 61, 73 KiB; at 2^13, one round, 8 ms uncapped and 36 against 42 KiB. The band holds the
//! 264k CNN's two 2^19-cell openings, which its 250 KB proof budget bounds: uncapped 225 KB,
//! C = 3 251 KB and C = 2 278 KB with one logup-GKR tree per segment; since the segments are
//! packed into blocks (`crate::gkr::pack`, about 20 KB fewer), C = 3 gave 229 KB, and 238.6 KB
//! with 8 bits of grinding (docs/BENCHMARKS.md, U and V).
//!
//! Assumption: `CapacityBound` (p3-security's name), proximity radius `1 - rho - eta` with
//! `eta = rho / 20`: the conjecture that Reed-Solomon codes are list-decodable and have
//! (mutual) correlated agreement up to capacity (WHIR, ePrint 2024/1586; the regime most
//! deployed FRI/WHIR parameter sets rely on). Nothing beyond it is conjectured.
//! [`security`] reports the union-bounded algebraic error of one opening as p3-whir composes
//! it: >= 102 bits for
//! every shape up to 2^30 cells and any claim count up to 1000 (tested), so a proof with up to
//! four openings plus its sumcheck/GKR terms stays >= 100 bits; hash and sponge security is
//! 128 bits.
//!
//! Why not a proven regime: at 2^20 cells and the same >= 102 composed bits (measured below),
//! `JohnsonBound` costs 1.9x the proof bytes at rate 1/2 (147 vs 78 KiB) or 2x the prover time
//! at rate 1/4 (1.7 vs 0.83 s, 102 KiB); `UniqueDecoding` 3.4x the bytes (264 KiB). Both exceed
//! the 1.5x we accept for a proven bound. Switching is one line (`PARAMS.assumption`).
//! Grinding: 8 bits. A grinding site tries 2^bits candidates in expectation (about 0.3 us of
//! CPU each: eight per packed permutation), geometrically spread, and the transcript fixes
//! which draw a proof gets. At 12 bits a 5x100 MLP proof's five sites (two in its 2^13-cell
//! witness opening, three in its 2^16-cell weight opening) took about 3 ms of its 10-14 ms of
//! openings, more or less by the luck of its transcript. 8 bits cost 1-4% more bytes (that
//! MLP 133.6 -> 137.3 KB, the 264k CNN 230.2 -> 238.6 KB; 10 bits: 134.2 and 233.5 KB).
//! 16-20 bits save only 2-5% of the bytes but add 0.05-1 s.
//!
//! Under a list-decoding assumption the commitment binds the prover to one of up to
//! `2^log2_list_size` polynomials (about `num_vars + 6` bits here), not to a unique one: a
//! protocol that draws challenges after the commitment and before the opening (the sumcheck
//! and GKR reductions that produce the claims) must subtract
//! [`SecurityReport::log2_list_size`] bits from its own soundness. With ~191-bit challenges
//! those reductions stay far above 100 bits.
//!
//! # Measurements
//!
//! This machine (2 cores, `target-cpu=native`, p3 with its `parallel` feature), five
//! columns (three of `2^(n-2)`, two of `2^(n-3)` cells), 20 claims at 10 points, proof
//! size as postcard bytes, with the Keccak-f trees (two runs, 2026-12-03):
//!
//! | cells | commit        | open          | verify       | proof     |
//! |-------|---------------|---------------|--------------|-----------|
//! | 2^12  | 0.7 ms        | 6.2-7.6 ms    | 0.8-1.0 ms   | 35.0 KiB  |
//! | 2^16  | 3.5-11.7 ms   | 13.2-13.4 ms  | 1.4-1.6 ms   | 77.5 KiB  |
//! | 2^20  | 47-50 ms      | 75-76 ms      | 2.1-2.4 ms   | 122.0 KiB |
//!
//! With Poseidon2 trees and before the later rounds' rates were capped (an earlier session),
//! 2^12: 0.9 / 8.2 ms / 1.1 ms / 33.1 KiB; 2^16: 7.7 / 18 / 1.9 ms / 58.0 KiB; 2^20: 110 /
//! 138 / 2.8 ms / 94.2 KiB; 2^25: commit 3.61 s, open 3.29 s, verify 3.7 ms, 129.3 KiB.
//!
//! With the width-12 leaf hash and the capped rates (docs/BENCHMARKS.md, T), the same test on a
//! busier machine, before / after, three and two runs: 2^12 cells, open 9.1-10.6 / 9.3 ms, proof
//! 33.1 / 33.1 KiB; 2^16, open 23-25 / 14-19 ms, proof 58.0 / 75.1 KiB; 2^20, commit 165-178
//! / 152-161 ms, open 162-182 / 128-133 ms, proof 94.2 / 116.9 KiB. (The Poseidon2 figures
//! above predate both.)
//!
//! (Before the first round shrank the domain by more than 2, in an earlier session: opening
//! 3.8 ms, 35 ms, 578 ms and proof 30.9, 53.8, 78.8 KiB. At 2^12 the shrink changes nothing:
//! 11-12 ms with either in `explore_parameters` today, 9 ms without grinding; the 3.8 ms came
//! from an older state of the tree.)
//!
//! Each claim at a point of its own adds work over its column: at 2^20 cells in seven columns
//! (`explore_parameters`, `PCS_CLAIMS`), 1, 10 and 40 claims open in 102, 121 and 156 ms; 20
//! claims on one 2^20-cell column take about 290-350 ms (`hiding_parameters`). Small openings feel
//! the distinct points most: 20 claims at one point against 20 points (`PCS_POINTS=1`) open in
//! 3 against 7-9 ms at 2^12 cells, 13 against 22-24 ms at 2^16, 133-160 against 158-181 ms at
//! 2^20 (p3-sumcheck's initial fold builds accumulators per point). Reducing each table's
//! claims to one point by a sumcheck of our own did not pay: its sumchecks cost more than WHIR
//! saved (docs/BENCHMARKS.md, P).
//! Reproduce with `cargo test --release -p zkml-proof pcs::tests::bench -- --ignored
//! --nocapture` (add 25 to its sizes for 2^25 cells); the parameter comparison with
//! `pcs::tests::explore_parameters`.
//!
//! # No stored digests
//!
//! Proving keys used to store their weight commitments' Merkle digests (8 bytes per cell) so
//! that loading a key skipped the hashing. With Keccak-f a tree costs less to hash again than
//! its digests cost to read and check: VGG-16's key shrank from 285 to 16 MB, its `zkml prove`
//! peak RSS from 2.17 to 1.63 GB, and its wall from 2.9-4.4 to 2.3-3.0 s over five alternating
//! rounds (docs/BENCHMARKS.md Y).

mod error;
mod hash;
pub mod hiding;
mod prove;
mod verify;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use p3_challenger::DuplexChallenger;
use p3_dft::Radix2DFTSmallBatch;
use p3_field::{Field, PrimeCharacteristicRing};
use p3_merkle_tree::MerkleTreeMmcs;
use p3_multilinear_util::point::Point;
use p3_sumcheck::layout::{SuffixProver, TableShape, plan_stacked_layout};
use p3_sumcheck::{OpeningBatch, OpeningProtocol, PrescribedPointPcs, TableSpec};
use p3_whir::parameters::{FoldingFactor, ProtocolParameters, SecurityAssumption, WhirConfig};
use p3_whir::pcs::proof::PcsProof;
use p3_whir::pcs::prover::WhirProver;
use serde::{Deserialize, Serialize};

pub use error::PcsError;
pub use prove::{commit, open};
pub use verify::{observe, verify};

use crate::field::{EF, F};
use crate::transcript::Perm;

type Challenger = DuplexChallenger<F, Perm, 8, 4>;
/// Leaves are hashed by Keccak-f ([`hash`]).
type MerkleHash = hash::LeafHash;
type MerkleCompress = hash::NodeCompress;
type PackedF = <F as Field>::Packing;
type Mmcs = MerkleTreeMmcs<PackedF, PackedF, MerkleHash, MerkleCompress, 2, 4>;
type Dft = Radix2DFTSmallBatch<F>;
type Lay = SuffixProver<F, EF>;
type Pcs = WhirProver<EF, F, Dft, Mmcs, Challenger, Lay>;
type Root = <Mmcs as p3_commit::Mmcs<F>>::Commitment;
type InnerData = p3_whir::WhirProverData<F, EF, Mmcs, Lay>;

/// Largest number of variables of one column (and of the stacked polynomial): Goldilocks has
/// two-adicity 32 and the rate-1/2 codeword of the stacked polynomial must fit.
pub const MAX_NUM_VARS: usize = 30;

/// Security of the hashes: 128-bit collisions (the transcript's Poseidon2 sponge with a
/// 4-element capacity; the Merkle trees' Keccak-f with 256-bit digests).
const HASH_BITS: f64 = 128.0;

/// Domain-separation label absorbed before the shape.
const LABEL: &[u8] = b"zkml-pcs-whir-v1";

/// The WHIR parameters (see the module docs for the choice).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Params {
    /// Variables folded per WHIR round; also the minimum table arity.
    pub(crate) folding: usize,
    /// Log2 of the inverse starting rate.
    pub(crate) log_inv_rate: usize,
    /// Per-error-term target of WHIR's parameter derivation.
    pub(crate) security_level: usize,
    /// Grinding budget per phase.
    pub(crate) pow_bits: usize,
    /// Reed-Solomon proximity regime.
    pub(crate) assumption: SecurityAssumption,
    /// Log2 of the factor by which the first WHIR round shrinks the evaluation domain, for
    /// polynomials of fewer than [`LARGE_VARS`] variables and from there (p3-whir's default is
    /// 1, halving); later rounds halve it.
    pub(crate) first_shrink: (usize, usize),
    /// Largest log2 inverse rate of any round's codeword, for polynomials of at least
    /// `capped_from` variables outside `band` (from, to exclusive); smaller ones' rates grow
    /// as p3-whir's do.
    pub(crate) rate_cap: usize,
    /// See `rate_cap`.
    pub(crate) capped_from: usize,
    /// Variables (from, to exclusive) whose rates stop at `band_cap` instead of `rate_cap`.
    pub(crate) band: (usize, usize),
    /// See `band`.
    pub(crate) band_cap: usize,
}

/// The parameters every commitment uses.
pub(crate) const PARAMS: Params = Params {
    folding: 4,
    log_inv_rate: 1,
    security_level: 105,
    pow_bits: 8,
    assumption: SecurityAssumption::CapacityBound,
    first_shrink: (2, 3),
    rate_cap: 2,
    capped_from: 15,
    band: (17, LARGE_VARS),
    band_cap: 3,
};

/// From this many variables of the stacked polynomial on, the first round shrinks the domain
/// by `first_shrink.1`.
const LARGE_VARS: usize = 20;

/// Which columns a commitment holds: the number of variables of each column, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitShape {
    /// `column_vars[i]` is the number of variables of column `i` (it has `2^n` cells).
    pub column_vars: Vec<usize>,
}

impl CommitShape {
    /// The shape of `columns`.
    ///
    /// # Errors
    ///
    /// [`PcsError::BadColumnLength`] for a column whose length is not a power of two.
    fn of(columns: &[Vec<F>]) -> Result<Self, PcsError> {
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
        Ok(Self { column_vars })
    }

    /// The number of variables of claim `i`'s column, once the claim is checked to fit.
    ///
    /// # Errors
    ///
    /// [`PcsError::BadColumn`] or [`PcsError::BadPointLength`] for a claim that does not fit.
    fn claim_vars(&self, i: usize, claim: &Claim) -> Result<usize, PcsError> {
        let num_columns = self.column_vars.len();
        let &expected = self
            .column_vars
            .get(claim.column)
            .ok_or(PcsError::BadColumn {
                claim: i,
                column: claim.column,
                num_columns,
            })?;
        if claim.point.len() != expected {
            let actual = claim.point.len();
            return Err(PcsError::BadPointLength {
                claim: i,
                expected,
                actual,
            });
        }
        Ok(expected)
    }
}

/// The Merkle root of a commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commitment(Root);

/// Prover-side data kept between [`commit`] and [`open`]: the columns, the codeword and its
/// Merkle tree. Opening consumes it; clone it to open the same commitment again.
#[derive(Clone)]
pub struct ProverData {
    shape: CommitShape,
    root: Commitment,
    inner: InnerData,
    params: Params,
}

impl ProverData {
    /// The shape of the committed columns.
    pub fn shape(&self) -> &CommitShape {
        &self.shape
    }

    /// The commitment this data opens.
    pub fn commitment(&self) -> &Commitment {
        &self.root
    }
}

/// A claim: the MLE of column `column` evaluated at `point` (`point.len()` equals the column's
/// number of variables).
#[derive(Clone, Debug)]
pub struct Claim {
    /// Index of the column in the commitment.
    pub column: usize,
    /// The evaluation point, MSB-first.
    pub point: Vec<EF>,
}

/// One WHIR opening proof of a list of claims.
#[derive(Clone, Serialize, Deserialize)]
pub struct OpeningProof(PcsProof<F, EF, Mmcs>);

impl std::fmt::Debug for OpeningProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpeningProof")
            .field("batches", &self.0.evals.len())
            .field("rounds", &self.0.whir.rounds.len())
            .finish_non_exhaustive()
    }
}

/// The security of one opening.
#[derive(Clone, Debug, PartialEq)]
pub struct SecurityReport {
    /// Bits of security: the smaller of the algebraic and hash bits.
    pub bits: f64,
    /// The composed (union-bounded) algebraic soundness error of the opening, in bits.
    pub algebraic_bits: f64,
    /// Collision resistance of the Merkle hash and sponge capacity, in bits.
    pub hash_bits: f64,
    /// Log2 of the number of polynomials a commitment may still be opened to under the
    /// assumption; a protocol drawing challenges between commit and open loses these bits.
    pub log2_list_size: f64,
    /// The named soundness assumption.
    pub assumption: &'static str,
}

/// Bits of security of one opening of `num_claims` claims on a commitment of this shape.
///
/// Returns zero bits when the shape is invalid or WHIR has no bound for it.
pub fn security(shape: &CommitShape, num_claims: usize) -> SecurityReport {
    security_with(&PARAMS, shape, num_claims)
}

/// [`security`] for explicit parameters.
pub(crate) fn security_with(p: &Params, shape: &CommitShape, num_claims: usize) -> SecurityReport {
    let assumption = match p.assumption {
        SecurityAssumption::UniqueDecoding => "UniqueDecoding (proven)",
        SecurityAssumption::JohnsonBound => "JohnsonBound (proven, list decoding to Johnson)",
        SecurityAssumption::CapacityBound => "CapacityBound (conjectured RS list decoding)",
    };
    let evidence = Layout::new(shape, p.folding).ok().and_then(|layout| {
        let pcs = make_pcs(p, layout.num_variables, false).ok()?;
        // the error depends only on the claim count: put every claim on column 0
        let mut specs = layout.specs(|_| Vec::new());
        let schedule = (0..num_claims)
            .map(|_| OpeningBatch::new(vec![0], vec![]))
            .collect();
        specs[0] = TableSpec::new(*specs[0].shape(), schedule);
        pcs.prescribed_security(&OpeningProtocol::new(specs))
    });
    let (algebraic_bits, log2_list_size) = evidence.map_or((0.0, f64::INFINITY), |e| {
        (e.error().bits(), e.log2_max_candidates)
    });
    SecurityReport {
        bits: algebraic_bits.min(HASH_BITS),
        algebraic_bits,
        hash_bits: HASH_BITS,
        log2_list_size,
        assumption,
    }
}

/// One p3 table: the columns with the same number of variables.
#[derive(Clone, Debug)]
struct TablePlan {
    /// Variables of each column.
    num_vars: usize,
    /// Variables after zero-padding to the folding factor.
    padded_vars: usize,
    /// The commitment's column indices, in row order.
    columns: Vec<usize>,
}

/// How a shape maps onto p3 tables and the stacked polynomial. Prover and verifier derive it
/// from the shape alone.
#[derive(Clone, Debug)]
struct Layout {
    /// Tables in increasing number of variables.
    tables: Vec<TablePlan>,
    /// `position[column] = (table, row)`.
    position: Vec<(usize, usize)>,
    /// Variables of the stacked polynomial.
    num_variables: usize,
}

impl Layout {
    /// Groups the columns of `shape` by number of variables.
    ///
    /// # Errors
    ///
    /// [`PcsError::NoColumns`] or [`PcsError::ColumnTooLarge`] for shapes we do not support.
    fn new(shape: &CommitShape, folding: usize) -> Result<Self, PcsError> {
        if shape.column_vars.is_empty() {
            return Err(PcsError::NoColumns);
        }
        let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (column, &num_vars) in shape.column_vars.iter().enumerate() {
            if num_vars > MAX_NUM_VARS {
                return Err(PcsError::ColumnTooLarge {
                    column,
                    num_vars,
                    max: MAX_NUM_VARS,
                });
            }
            groups.entry(num_vars).or_default().push(column);
        }
        let mut position = vec![(0, 0); shape.column_vars.len()];
        let tables: Vec<TablePlan> = groups
            .into_iter()
            .enumerate()
            .map(|(t, (num_vars, columns))| {
                for (row, &c) in columns.iter().enumerate() {
                    position[c] = (t, row);
                }
                TablePlan {
                    num_vars,
                    padded_vars: num_vars.max(folding),
                    columns,
                }
            })
            .collect();
        // cells fit easily: each table has < 2^31 cells per column and a usize count of columns
        let cells = tables.iter().try_fold(0usize, |acc, t| {
            acc.checked_add(t.columns.len().checked_mul(1usize << t.padded_vars)?)
        });
        if cells.is_none_or(|c| c > 1 << MAX_NUM_VARS) {
            let column = shape.column_vars.len() - 1;
            let num_vars = MAX_NUM_VARS + 1;
            return Err(PcsError::ColumnTooLarge {
                column,
                num_vars,
                max: MAX_NUM_VARS,
            });
        }
        let shapes: Vec<TableShape> = tables
            .iter()
            .map(|t| TableShape::new(t.padded_vars, t.columns.len()))
            .collect();
        let (num_variables, _) = plan_stacked_layout(&shapes);
        Ok(Self {
            tables,
            position,
            num_variables,
        })
    }

    /// One table spec per table, with the schedule `schedule(table)`.
    fn specs(&self, mut schedule: impl FnMut(usize) -> Vec<OpeningBatch<usize>>) -> Vec<TableSpec> {
        self.tables
            .iter()
            .enumerate()
            .map(|(i, t)| {
                TableSpec::new(TableShape::new(t.padded_vars, t.columns.len()), schedule(i))
            })
            .collect()
    }
}

/// The claims of one opening, arranged as p3 opening batches.
struct Openings {
    /// Tables and their batches.
    protocol: OpeningProtocol,
    /// One (padded) point per batch, in transcript order.
    points: Vec<Point<EF>>,
    /// `slots[claim] = (batch, position in its batch)`.
    slots: Vec<(usize, usize)>,
    /// Number of columns of each batch.
    batch_sizes: Vec<usize>,
}

impl Openings {
    /// Validates the claims against the shape and arranges them into batches.
    ///
    /// # Errors
    ///
    /// [`PcsError::BadColumn`] or [`PcsError::BadPointLength`] for a claim that does not fit.
    fn new(shape: &CommitShape, layout: &Layout, claims: &[Claim]) -> Result<Self, PcsError> {
        // per table: its batches as (point, rows); per claim: (table, batch in table, pos)
        let mut batches: Vec<Vec<(&[EF], Vec<usize>)>> = vec![Vec::new(); layout.tables.len()];
        let mut index: BTreeMap<(usize, Vec<u64>), usize> = BTreeMap::new();
        let mut local = Vec::with_capacity(claims.len());
        for (i, claim) in claims.iter().enumerate() {
            shape.claim_vars(i, claim)?;
            let (table, row) = layout.position[claim.column];
            let key = (table, point_key(&claim.point));
            let b = *index.entry(key).or_insert_with(|| {
                batches[table].push((&claim.point, Vec::new()));
                batches[table].len() - 1
            });
            let rows = &mut batches[table][b].1;
            let pos = rows.iter().position(|&r| r == row).unwrap_or_else(|| {
                rows.push(row);
                rows.len() - 1
            });
            local.push((table, b, pos));
        }
        let mut offsets = Vec::with_capacity(batches.len());
        let mut points = Vec::new();
        let mut batch_sizes = Vec::new();
        for (t, table_batches) in batches.iter().enumerate() {
            offsets.push(points.len());
            let pad = layout.tables[t].padded_vars - layout.tables[t].num_vars;
            for (point, rows) in table_batches {
                let mut padded = vec![EF::ZERO; pad];
                padded.extend_from_slice(point);
                points.push(Point::new(padded));
                batch_sizes.push(rows.len());
            }
        }
        let specs = layout.specs(|t| {
            let table_batches = std::mem::take(&mut batches[t]);
            table_batches
                .into_iter()
                .map(|(_, rows)| OpeningBatch::new(rows, vec![]))
                .collect()
        });
        let slots = local
            .into_iter()
            .map(|(t, b, pos)| (offsets[t] + b, pos))
            .collect();
        Ok(Self {
            protocol: OpeningProtocol::new(specs),
            points,
            slots,
            batch_sizes,
        })
    }
}

/// A hashable key of a point (canonical coordinates of every extension element).
fn point_key(point: &[EF]) -> Vec<u64> {
    use p3_field::{BasedVectorSpace, PrimeField64};
    point
        .iter()
        .flat_map(|x| {
            let coefficients: &[F] = x.as_basis_coefficients_slice();
            coefficients.iter().map(PrimeField64::as_canonical_u64)
        })
        .collect()
}

/// The Merkle tree scheme (Keccak-f, binary, full root).
fn mmcs() -> Mmcs {
    Mmcs::new(MerkleHash::default(), MerkleCompress::default(), 0)
}

/// A WHIR instance for a stacked polynomial of `num_variables` variables.
///
/// # Errors
///
/// [`PcsError::Whir`] when WHIR cannot derive a configuration.
fn make_pcs(p: &Params, num_variables: usize, prover: bool) -> Result<Pcs, PcsError> {
    let params = ProtocolParameters {
        starting_log_inv_rate: p.log_inv_rate,
        round_log_inv_rates: round_rates(p, num_variables),
        folding_factor: FoldingFactor::Constant(p.folding),
        soundness_type: p.assumption,
        security_level: p.security_level,
        pow_bits: p.pow_bits,
    };
    let config = WhirConfig::<EF, F, Challenger>::new(num_variables, params)
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    let dft = if prover {
        Dft::new(1 << config.max_fft_size())
    } else {
        Dft::default()
    };
    Ok(Pcs::new(config, dft, mmcs()))
}

/// The log inverse rate of each round's codeword: the first round shrinks the domain by
/// `2^first_shrink`, the others halve it, and no rate passes the cap.
fn round_rates(p: &Params, num_variables: usize) -> Vec<usize> {
    let first_shrink = if num_variables < LARGE_VARS {
        p.first_shrink.0
    } else {
        p.first_shrink.1
    };
    let schedule = FoldingFactor::Constant(p.folding)
        .compute_folding_schedule(num_variables)
        .unwrap_or_default();
    let cap = if num_variables < p.capped_from {
        usize::MAX
    } else if (p.band.0..p.band.1).contains(&num_variables) {
        p.band_cap
    } else {
        p.rate_cap
    };
    let mut rate = p.log_inv_rate;
    let mut rates = Vec::new();
    for (round, &k) in schedule
        .iter()
        .take(schedule.len().saturating_sub(1))
        .enumerate()
    {
        rate = (rate + k - if round == 0 { first_shrink } else { 1 }).min(cap);
        rates.push(rate);
    }
    rates
}

/// Absorbs the label and the shape (both sides, before the root).
fn absorb_shape(shape: &CommitShape, t: &mut crate::transcript::Transcript) {
    t.absorb_bytes(LABEL);
    t.absorb_u64(shape.column_vars.len() as u64);
    for &n in &shape.column_vars {
        t.absorb_u64(n as u64);
    }
}
