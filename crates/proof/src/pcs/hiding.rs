//! A hiding commitment to several columns: p3-whir's HVZK-WHIR (ePrint 2026/391) over their
//! stack, for the zero-knowledge issue. No proof uses it yet.
//!
//! p3's hiding opening takes one multilinear polynomial and plain points. The columns are
//! stacked largest first, each at an offset that is a multiple of its own size, so column `c`
//! of `n_c` variables is the stack's restriction to the `N - n_c` leading bits of its block
//! index: a claim on `c` at `z` is a claim on the stack `P` at `(bits of the block, z)`.
//!
//! p3's opening costs a pass over the whole stack per claim (about 5 ms per claim at 2^20
//! cells), so [`open`] first reduces the claims to three points (Libra's masked sumcheck,
//! Xie et al. 2019):
//!
//! 1. The verifier draws `alpha`; `sum_j alpha^j v_j = sum_y P(y) W(y)`, with `W` the
//!    `alpha`-weighted sum of the claims' eq tables.
//! 2. A zero-knowledge sumcheck ([`crate::sumcheck::zk`]) of `P W` ends at a point `s` with
//!    `e = P(s) W(s) + rho g(s)`, `g(x) = sum_i g_i(x_i)` the mask. The prover sends `P(s)`;
//!    the verifier computes `W(s)` and so learns `g(s)`.
//! 3. The mask's coefficients sit in the stack, in the low half of one block `M` of
//!    [`MASK_VARS`] variables; the high half is random (the pad). `g(s) = <M, U_s>` with
//!    `U_s` the powers of `s_i` (times the extension field's basis). The verifier draws
//!    `zeta`; the prover sends `q = M(1, zeta)`, and a plain sumcheck of `M (U_s + Z)`, `Z`
//!    the pad's `eq(zeta, .)`, proves `g(s) + q` and ends at `M(t)`.
//! 4. One hiding opening of `P` at `s`, `(M, t)` and `(M, 1, zeta)`.
//!
//! What the verifier sees besides the claimed values: the masked rounds (uniform given the
//! sum, as in [`crate::sumcheck::zk`]), `g(s)` (Libra reveals it too), and `P(s)`, `q`, the
//! second sumcheck's rounds and `M(t)`: linear functions of the stack in which the pad's 512
//! random cells appear with weights the challenges make independent, so that they are
//! uniform. p3's opening reveals nothing but the three values (its module docs list what
//! hides what). A claim may be a [`Combination`] of columns' evaluations, of which only the
//! total is revealed. Hiding the claimed values themselves is the caller's part (masked
//! columns, docs/SECURITY.md).
//!
//! It runs with folding factor 5 and masks at rate 1/32 (p3's mask code; its spot checks
//! are sized for the full security level, so a lower rate means fewer of them and a smaller
//! proof: docs/BENCHMARKS.md, R). Its composed soundness is not computed here yet: a key
//! that used it would have to report it, as [`super::security`] does for the plain
//! commitment.

use std::cmp::Reverse;

use p3_commit::MultilinearPcs;
use p3_field::{Algebra, BasedVectorSpace, Field, PrimeCharacteristicRing};
use p3_multilinear_util::point::Point;
use p3_multilinear_util::poly::Poly;
use p3_whir::parameters::{FoldingFactor, ProtocolParameters};
use p3_whir::pcs::zk::{
    HidingWhirPcs, HidingWhirProverData, ZkParameters, ZkWhirConfig, ZkWhirProof,
};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{
    Challenger, Claim, CommitShape, Dft, MAX_NUM_VARS, Mmcs, PARAMS, PcsError, Root, mmcs,
};
use crate::field::{EF, F};
use crate::mle::{eq_eval, eq_table, evaluate, fold_first};
use crate::sumcheck::zk::{self, Mask, ZkSumcheckProof};
use crate::sumcheck::{self, ProductSum, SumcheckProof};
use crate::transcript::Transcript;

type Hiding = HidingWhirPcs<EF, F, Dft, Mmcs, Challenger, StdRng>;

/// Domain label absorbed before the shape.
const LABEL: &[u8] = b"zkml-pcs-hiding-v1";

/// Domain label absorbed before the claimed values of an opening.
const OPEN_LABEL: &[u8] = b"zkml-pcs-hiding-open-v1";

/// Variables of the mask block `M`: its low half holds the mask's coefficients (cell
/// `(3 i + c) 4 + k`: coordinate `c` of `g_i`'s coefficient of `X^k`), its high half the pad.
pub const MASK_VARS: usize = 10;

/// The variables of the pad's point `zeta`.
const PAD_VARS: usize = MASK_VARS - 1;

/// The degree of the reduction's sumcheck (`P W`), hence of each `g_i`.
const DEGREE: usize = 2;

/// The extension field's dimension over the base field.
const COORDINATES: usize = <EF as BasedVectorSpace<F>>::DIMENSION;

// the coefficients of a mask over the largest stack fit in the low half of the block
const _: () =
    assert!(MAX_NUM_VARS * COORDINATES * (DEGREE + 1).next_power_of_two() <= 1 << PAD_VARS);

/// The fewest variables of a stack (smaller ones are zero-padded): below 2^13 cells the
/// codewords at folding factor 5 lack the slack for the hiding randomness (at 2^12: "round 1:
/// 128 randomness rows exceed the 124 spare codeword rows").
const MIN_VARS: usize = 13;

/// The Merkle root of a hiding commitment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HidingCommitment(Root);

/// A hiding opening proof: the reduction of the claims to three points, then p3's opening.
#[derive(Clone, Serialize, Deserialize)]
pub struct HidingOpeningProof {
    /// Steps 1-3.
    pub reduction: Reduction,
    /// p3's opening of `P` at `s`, `(M, t)` and `(M, 1, zeta)`.
    pub opening: ZkWhirProof<F, EF, Mmcs>,
}

/// The reduction of the claims to three points (steps 1-3 of the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduction {
    /// The masked sumcheck of `P W`.
    pub masked: ZkSumcheckProof,
    /// `P(s)`.
    pub at_s: EF,
    /// `q = M(1, zeta)`, the pad's share.
    pub pad: EF,
    /// The sumcheck of `M (U_s + Z)` for `g(s) + q`.
    pub mask_rounds: SumcheckProof,
    /// `M(t)`.
    pub at_t: EF,
}

/// A claim on a linear combination of columns' evaluations, `sum_k a_k c_k(z_k)`: one value
/// is revealed, not the terms' (a masked column's `f(z) + z_a (1 - z_a) R_f(z')`, or a Libra
/// mask's `g(r)` from its coefficient columns: [`crate::sumcheck::zk::mask_claim`]).
#[derive(Clone, Debug)]
pub struct Combination {
    /// The coefficients and the point claims.
    pub terms: Vec<(EF, Claim)>,
}

impl From<Claim> for Combination {
    fn from(claim: Claim) -> Self {
        Self {
            terms: vec![(EF::ONE, claim)],
        }
    }
}

/// What [`open`] needs: the stack's layout and cells, the mask, p3's data and the prover's
/// randomness.
pub struct HidingProverData {
    stack: Stack,
    cells: Vec<F>,
    mask: Mask,
    root: HidingCommitment,
    inner: HidingWhirProverData<F, EF, Mmcs>,
    rng: StdRng,
}

/// Where each column sits in the stack; the mask block `M` follows the caller's columns.
#[derive(Clone, Debug)]
struct Stack {
    shape: CommitShape,
    offsets: Vec<usize>,
    num_vars: usize,
}

impl Stack {
    /// Columns largest first (ties in column order), each at the running offset.
    fn new(shape: &CommitShape) -> Result<Self, PcsError> {
        if shape.column_vars.is_empty() {
            return Err(PcsError::NoColumns);
        }
        let mut shape = shape.clone();
        shape.column_vars.push(MASK_VARS);
        let vars = &shape.column_vars;
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
            shape,
            offsets,
            num_vars,
        })
    }

    /// The mask block's index among the columns.
    fn mask(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The stack's point of `point` on column `column`.
    fn lift(&self, column: usize, point: &[EF]) -> Vec<EF> {
        let vars = point.len();
        let prefix = self.num_vars - vars;
        let block = self.offsets[column] >> vars;
        let bits = (0..prefix).map(|k| EF::from_bool((block >> (prefix - 1 - k)) & 1 == 1));
        bits.chain(point.iter().copied()).collect()
    }

    /// Checks the claims against the caller's columns (not the mask block).
    fn check(&self, claims: &[Combination]) -> Result<(), PcsError> {
        for (i, combination) in claims.iter().enumerate() {
            for (_, claim) in &combination.terms {
                if claim.column >= self.mask() {
                    return Err(PcsError::BadColumn {
                        claim: i,
                        column: claim.column,
                        num_columns: self.mask(),
                    });
                }
                self.shape.claim_vars(i, claim)?;
            }
        }
        Ok(())
    }

    /// `W(s) = sum_j alpha^j sum_k a_jk eq(Z_jk, s)`, the claims' weights at `s`.
    fn weight_at(&self, claims: &[Combination], alpha: EF, s: &[EF]) -> EF {
        let mut power = EF::ONE;
        let mut sum = EF::ZERO;
        for combination in claims {
            for (a, claim) in &combination.terms {
                sum += power * *a * eq_eval(&self.lift(claim.column, &claim.point), s);
            }
            power *= alpha;
        }
        sum
    }

    /// The table of `W` over the stack.
    fn weights(&self, claims: &[Combination], eqs: &EqTables, alpha: EF) -> Vec<EF> {
        let mut w = vec![EF::ZERO; 1 << self.num_vars];
        let mut power = EF::ONE;
        let mut term = 0;
        for combination in claims {
            for (a, claim) in &combination.terms {
                let at = self.offsets[claim.column];
                let eq = eqs.of(term);
                let scale = power * *a;
                w[at..at + eq.len()]
                    .par_iter_mut()
                    .zip(eq)
                    .for_each(|(x, &b)| *x += scale * b);
                term += 1;
            }
            power *= alpha;
        }
        w
    }
}

/// The eq tables of the claims' points (every term's, in order), one per distinct point.
struct EqTables {
    tables: Vec<Vec<EF>>,
    /// `which[k]`: term `k`'s table.
    which: Vec<usize>,
}

impl EqTables {
    fn new(claims: &[Combination]) -> Self {
        let mut points: Vec<&[EF]> = Vec::new();
        let which = claims
            .iter()
            .flat_map(|c| c.terms.iter().map(|(_, c)| c))
            .map(|c| {
                points
                    .iter()
                    .position(|p| *p == c.point)
                    .unwrap_or_else(|| {
                        points.push(&c.point);
                        points.len() - 1
                    })
            })
            .collect();
        let tables = points.par_iter().map(|p| eq_table(p)).collect();
        Self { tables, which }
    }

    fn of(&self, term: usize) -> &[EF] {
        &self.tables[self.which[term]]
    }
}

/// `U_s + Z` over the mask block: `basis_c s_i^k` at the coefficient `(i, c, k)` for `k <=`
/// [`DEGREE`] and `i < s.len()`, `eq(zeta, .)` over the pad, zero elsewhere.
fn mask_weights(s: &[EF], zeta: &[EF]) -> Vec<EF> {
    let mut v = vec![EF::ZERO; 1 << MASK_VARS];
    for (i, &x) in s.iter().enumerate() {
        let mut power = EF::ONE;
        for k in 0..=DEGREE {
            for c in 0..COORDINATES {
                let basis = <EF as BasedVectorSpace<F>>::ith_basis_element(c).unwrap_or(EF::ZERO);
                v[mask_cell(i, c, k)] = basis * power;
            }
            power *= x;
        }
    }
    v[1 << PAD_VARS..].copy_from_slice(&eq_table(zeta));
    v
}

/// The cell of coordinate `c` of `g_i`'s coefficient of `X^k` in the mask block.
fn mask_cell(i: usize, c: usize, k: usize) -> usize {
    (i * COORDINATES + c) * (DEGREE + 1).next_power_of_two() + k
}

/// The mask block's cells: the coefficients of `mask` in the low half, random cells above.
fn mask_block(mask: &Mask, rng: &mut StdRng) -> Vec<F> {
    let mut cells = vec![F::ZERO; 1 << MASK_VARS];
    for (i, g) in mask.coefficients.iter().enumerate() {
        for (k, a) in g.iter().enumerate() {
            for (c, &v) in a.as_basis_coefficients_slice().iter().enumerate() {
                cells[mask_cell(i, c, k)] = v;
            }
        }
    }
    for cell in &mut cells[1 << PAD_VARS..] {
        *cell = rng.random();
    }
    cells
}

/// p3's hiding scheme for a stack of `num_vars` variables (`rng`: the prover's randomness).
pub(super) fn make_hiding(num_vars: usize, rng: StdRng) -> Result<Hiding, PcsError> {
    make_hiding_with(num_vars, &HIDING, rng)
}

/// The hiding scheme's knobs (p3's protocol and zero-knowledge parameters).
#[derive(Clone, Copy, Debug)]
pub(super) struct HidingParams {
    pub folding: usize,
    pub log_inv_rate: usize,
    pub ell_zk: usize,
    pub mask_log_inv_rate: usize,
}

pub(super) const HIDING: HidingParams = HidingParams {
    folding: 5,
    log_inv_rate: PARAMS.log_inv_rate,
    ell_zk: 4,
    mask_log_inv_rate: 5,
};

pub(super) fn make_hiding_with(
    num_vars: usize,
    h: &HidingParams,
    rng: StdRng,
) -> Result<Hiding, PcsError> {
    let config = hiding_config(num_vars, h)?;
    Ok(HidingWhirPcs::new(config, Dft::default(), mmcs(), rng))
}

/// p3's derived configuration for a stack of `num_vars` variables.
pub(super) fn hiding_config(
    num_vars: usize,
    h: &HidingParams,
) -> Result<ZkWhirConfig<EF, F, Challenger>, PcsError> {
    let p = PARAMS;
    let params = ProtocolParameters {
        starting_log_inv_rate: h.log_inv_rate,
        round_log_inv_rates: Vec::new(),
        folding_factor: FoldingFactor::Constant(h.folding),
        soundness_type: p.assumption,
        security_level: p.security_level,
        pow_bits: p.pow_bits,
    };
    let zk = ZkParameters {
        ell_zk: h.ell_zk,
        mask_log_inv_rate: h.mask_log_inv_rate,
    };
    ZkWhirConfig::<EF, F, Challenger>::new(num_vars, params, zk)
        .map_err(|e| PcsError::Whir(e.to_string()))
}

fn absorb_shape(shape: &CommitShape, t: &mut Transcript) {
    t.absorb_bytes(LABEL);
    t.absorb_u64(shape.column_vars.len() as u64);
    for &n in &shape.column_vars {
        t.absorb_u64(n as u64);
    }
}

/// Commits to base-field columns (each of power-of-two length) with the prover's randomness
/// `rng` (seed it from the operating system), and absorbs the shape and the root. The stack
/// also holds the mask block of the opening's reduction.
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
    let mask = Mask::new(stack.num_vars, DEGREE, &mut || rng.random());
    let mut cells = vec![F::ZERO; 1 << stack.num_vars];
    let block = mask_block(&mask, &mut rng);
    for (c, column) in columns.iter().chain([&block]).enumerate() {
        cells[stack.offsets[c]..stack.offsets[c] + column.len()].copy_from_slice(column);
    }
    let pcs = make_hiding(stack.num_vars, StdRng::from_rng(&mut rng))?;
    absorb_shape(&shape, t);
    let (root, inner) = pcs
        .commit(Poly::new(cells.clone()), t.challenger())
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    let root = HidingCommitment(root);
    let data = HidingProverData {
        stack,
        cells,
        mask,
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

/// Opens `claims` (points fixed by the transcript already): reduces them to three points by
/// the masked sumcheck of the module docs, then opens those. Returns the claimed values, in
/// claim order, and the proof.
///
/// # Errors
///
/// [`PcsError::BadColumn`] or [`PcsError::BadPointLength`] for a claim that does not fit,
/// [`PcsError::Whir`] when WHIR refuses.
pub fn open(
    data: HidingProverData,
    claims: &[Combination],
    t: &mut Transcript,
) -> Result<(Vec<EF>, HidingOpeningProof), PcsError> {
    open_deviating(data, claims, None, t)
}

/// Where a cheating [`open_deviating`] puts the error of its false first value.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub enum Hide {
    /// Nowhere: the reduction ends at a false claim.
    Nowhere,
    /// In `P(s)`.
    AtS,
    /// In `g(s)`, hence in the mask sumcheck and `M(t)`.
    AtT,
    /// In the pad `q`.
    Pad,
}

/// [`open`] for soundness tests: with `cheat = Some((d, hide))` the first claimed value is
/// `d` off, the masked sumcheck's rounds are made consistent with the false sum, and the
/// error at its end goes where `hide` says.
#[doc(hidden)]
pub fn open_deviating(
    data: HidingProverData,
    claims: &[Combination],
    cheat: Option<(EF, Hide)>,
    t: &mut Transcript,
) -> Result<(Vec<EF>, HidingOpeningProof), PcsError> {
    let (values, reduction, points) =
        reduce(&data.stack, &data.cells, &data.mask, claims, cheat, t)?;
    let pcs = make_hiding(data.stack.num_vars, data.rng)?;
    // p3's verifier binds the root again at the opening: so does the prover
    pcs.observe_commitment(&data.root.0, t.challenger());
    let opening = pcs
        .open(data.inner, points, t.challenger())
        .map_err(|e| PcsError::Whir(e.to_string()))?;
    Ok((values, HidingOpeningProof { reduction, opening }))
}

/// The claimed values, the reduction and the points of p3's opening.
type Reduced = (Vec<EF>, Reduction, Vec<Point<EF>>);

/// Steps 1-3 of [`open`] on the stack's `cells` (the mask block holding `mask`): the claimed
/// values, the reduction and the points of p3's opening.
fn reduce(
    stack: &Stack,
    cells: &[F],
    mask: &Mask,
    claims: &[Combination],
    cheat: Option<(EF, Hide)>,
    t: &mut Transcript,
) -> Result<Reduced, PcsError> {
    stack.check(claims)?;
    let column = |c: usize, vars: usize| &cells[stack.offsets[c]..stack.offsets[c] + (1 << vars)];
    // one eq table per distinct point gives the values and, below, the weights
    let eqs = EqTables::new(claims);
    let terms: Vec<(usize, EF, &Claim)> = (claims.iter().enumerate())
        .flat_map(|(j, c)| c.terms.iter().map(move |(a, claim)| (j, *a, claim)))
        .collect();
    let term_values: Vec<EF> = terms
        .par_iter()
        .enumerate()
        .map(|(k, &(_, a, c))| {
            let cells = column(c.column, c.point.len());
            let v: EF = cells.iter().zip(eqs.of(k)).map(|(&v, &e)| e * v).sum();
            a * v
        })
        .collect();
    let mut values = vec![EF::ZERO; claims.len()];
    for (&(j, _, _), v) in terms.iter().zip(term_values) {
        values[j] += v;
    }
    let (delta, hide) = cheat.unwrap_or((EF::ZERO, Hide::Nowhere));
    if let Some(v) = values.first_mut() {
        *v += delta;
    }
    t.absorb_bytes(OPEN_LABEL);
    t.absorb_ext(&values);
    let alpha = t.sample();

    // 1-2: the masked sumcheck of P W
    let mut kernel = Deviating {
        kernel: StackProduct {
            cells,
            folded: Vec::new(),
            weights: stack.weights(claims, &eqs, alpha),
        },
        offset: delta,
    };
    let (masked, s, rho) = zk::prove(&mut kernel, mask, t);
    // the verifier's last claim is off by `offset`: move it into P(s) or g(s)
    let (mut at_s, off) = (kernel.kernel.folded[0], kernel.offset);
    let mut g_error = EF::ZERO;
    if off != EF::ZERO {
        match hide {
            Hide::AtS => at_s += off * stack.weight_at(claims, alpha, &s).inverse(),
            Hide::AtT | Hide::Pad | Hide::Nowhere => g_error = off * rho.inverse(),
        }
    }
    t.absorb_ext(&[at_s]);

    // 3: g(s) from the mask block, padded
    let zeta = t.sample_vec(PAD_VARS);
    let block = column(stack.mask(), MASK_VARS);
    let mut pad = evaluate(&block[1 << PAD_VARS..], &zeta);
    let mut mask_delta = EF::ZERO;
    match hide {
        Hide::Pad => pad -= g_error,
        Hide::AtT => mask_delta = g_error,
        Hide::AtS | Hide::Nowhere => {}
    }
    t.absorb_ext(&[pad]);
    let mut kernel = ProductSum {
        tables: vec![
            block.iter().map(|&v| EF::from(v)).collect(),
            mask_weights(&s, &zeta),
        ],
        terms: vec![(EF::ONE, vec![0, 1])],
    };
    let (mask_rounds, mask_point, off) =
        sumcheck::prove_deviating(&mut kernel, MASK_VARS, mask_delta, &mut |_, _| {}, t);
    let mut at_t = kernel.tables[0][0];
    if off != EF::ZERO {
        at_t += off * kernel.tables[1][0].inverse();
    }
    t.absorb_ext(&[at_t]);

    let reduction = Reduction {
        masked,
        at_s,
        pad,
        mask_rounds,
        at_t,
    };
    let points = final_points(stack, &s, &mask_point, &zeta);
    Ok((values, reduction, points))
}

/// `sum_y P(y) W(y)`, the stack's cells read in the base field until the first round binds
/// a variable (no extension-field copy of the stack).
struct StackProduct<'a> {
    cells: &'a [F],
    /// `P` with the bound variables fixed; empty before the first fold.
    folded: Vec<EF>,
    weights: Vec<EF>,
}

/// `h(0), h(2)` of `sum p w` over the first variable.
fn product_round<T>(p: &[T], w: &[EF]) -> Vec<EF>
where
    T: PrimeCharacteristicRing + Copy + Send + Sync,
    EF: Algebra<T>,
{
    let half = w.len() / 2;
    let [at0, at2] = (0..half)
        .into_par_iter()
        .with_min_len(1 << 10)
        .map(|x| {
            let (p0, p1, w0, w1) = (p[x], p[x + half], w[x], w[x + half]);
            [w0 * p0, (w1.double() - w0) * (p1.double() - p0)]
        })
        .reduce(|| [EF::ZERO; 2], |a, b| [a[0] + b[0], a[1] + b[1]]);
    vec![at0, at2]
}

impl sumcheck::RoundKernel for StackProduct<'_> {
    fn degree(&self) -> usize {
        DEGREE
    }

    fn round_evals(&self) -> Vec<EF> {
        match self.folded.is_empty() {
            true => product_round(self.cells, &self.weights),
            false => product_round(&self.folded, &self.weights),
        }
    }

    fn fold(&mut self, r: EF) {
        if self.folded.is_empty() {
            let half = self.cells.len() / 2;
            let (lo, hi) = self.cells.split_at(half);
            self.folded = (lo.par_iter().zip(hi))
                .map(|(&a, &b)| r * (b - a) + a)
                .collect();
        } else {
            fold_first(&mut self.folded, r);
        }
        fold_first(&mut self.weights, r);
    }
}

/// A kernel whose rounds prove its sum plus `offset` (as [`sumcheck::prove_deviating`]):
/// each round gets `offset * X` added, and `offset` follows the challenges.
struct Deviating<K> {
    kernel: K,
    offset: EF,
}

impl<K: sumcheck::RoundKernel> sumcheck::RoundKernel for Deviating<K> {
    fn degree(&self) -> usize {
        self.kernel.degree()
    }

    fn round_evals(&self) -> Vec<EF> {
        let mut evals = self.kernel.round_evals();
        // slots: h(0), h(2), h(3), ..
        for (slot, value) in evals.iter_mut().enumerate().skip(1) {
            *value += self.offset * EF::from_u64(slot as u64 + 1);
        }
        evals
    }

    fn fold(&mut self, r: EF) {
        self.offset *= r;
        self.kernel.fold(r);
    }
}

/// The points of p3's opening: `s`, `(M, t)`, `(M, 1, zeta)`.
fn final_points(stack: &Stack, s: &[EF], t: &[EF], zeta: &[EF]) -> Vec<Point<EF>> {
    let pad: Vec<EF> = [EF::ONE].iter().chain(zeta).copied().collect();
    vec![
        Point::new(s.to_vec()),
        Point::new(stack.lift(stack.mask(), t)),
        Point::new(stack.lift(stack.mask(), &pad)),
    ]
}

/// Checks that `proof` opens `claims` to `values` against the hiding commitment `c` of
/// `shape`, with the transcript where the prover's was at [`open`].
///
/// # Errors
///
/// [`PcsError::BadColumn`] / [`PcsError::BadPointLength`] for a claim that does not fit,
/// [`PcsError::ValueCountMismatch`], [`PcsError::MalformedProof`] for sumcheck rounds of
/// another count or degree, [`PcsError::WrongValue`] when a step of the reduction does not
/// hold (`claim` 0: `rho` is zero, so `g(s)` is undetermined, probability `1/|EF|`; 1: the
/// mask sumcheck's last claim is not `M(t) (U_s + Z)(t)`; 2-4: p3 opens another `P(s)`,
/// `M(t)` or pad),
/// [`PcsError::Whir`] when WHIR refuses the proof.
pub fn verify(
    shape: &CommitShape,
    c: &HidingCommitment,
    claims: &[Combination],
    values: &[EF],
    proof: &HidingOpeningProof,
    t: &mut Transcript,
) -> Result<(), PcsError> {
    let stack = Stack::new(shape)?;
    stack.check(claims)?;
    if values.len() != claims.len() {
        return Err(PcsError::ValueCountMismatch {
            claims: claims.len(),
            values: values.len(),
        });
    }
    let malformed = |e: crate::sumcheck::SumcheckError| PcsError::MalformedProof {
        what: e.to_string(),
    };
    t.absorb_bytes(OPEN_LABEL);
    t.absorb_ext(values);
    let alpha = t.sample();
    let mut power = EF::ONE;
    let mut sum = EF::ZERO;
    for &v in values {
        sum += power * v;
        power *= alpha;
    }

    let n = stack.num_vars;
    let r = &proof.reduction;
    let (s, e, rho) = zk::verify(sum, n, DEGREE, &r.masked, t).map_err(malformed)?;
    t.absorb_ext(&[r.at_s]);
    // e = P(s) W(s) + rho g(s) gives g(s); rho = 0 happens with probability 1/|EF|
    let g_s = (e - r.at_s * stack.weight_at(claims, alpha, &s))
        * rho.try_inverse().ok_or(PcsError::WrongValue { claim: 0 })?;

    let zeta = t.sample_vec(PAD_VARS);
    t.absorb_ext(&[r.pad]);
    let (point, last) =
        sumcheck::verify(g_s + r.pad, MASK_VARS, DEGREE, &r.mask_rounds, t).map_err(malformed)?;
    t.absorb_ext(&[r.at_t]);
    if last != r.at_t * evaluate(&mask_weights(&s, &zeta), &point) {
        return Err(PcsError::WrongValue { claim: 1 });
    }

    let opened = [r.at_s, r.at_t, r.pad];
    if proof.opening.evals.len() != opened.len() {
        return Err(PcsError::MalformedProof {
            what: format!("{} opened values, not 3", proof.opening.evals.len()),
        });
    }
    if let Some(k) = (proof.opening.evals.iter().zip(&opened)).position(|(a, b)| a != b) {
        return Err(PcsError::WrongValue { claim: 2 + k });
    }
    let pcs = make_hiding(n, StdRng::seed_from_u64(0))?;
    pcs.verify(
        &c.0,
        &proof.opening,
        t.challenger(),
        final_points(&stack, &s, &point, &zeta),
    )
    .map_err(|e| PcsError::Whir(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sumcheck::tests::zero_knowledge::bin;

    /// The block's coefficient half weighed by `U_s` is `g(s)`, up to the largest stack; the
    /// pad half weighed by `eq(zeta, .)` is the pad's share.
    #[test]
    fn the_mask_block_holds_the_mask() {
        let mut rng = StdRng::seed_from_u64(2);
        for n in [MIN_VARS, 21, 22, MAX_NUM_VARS] {
            let mask = Mask::new(n, DEGREE, &mut || rng.random());
            let block = mask_block(&mask, &mut rng);
            let s: Vec<EF> = (0..n).map(|_| rng.random()).collect();
            let zeta: Vec<EF> = (0..PAD_VARS).map(|_| rng.random()).collect();
            let weights = mask_weights(&s, &zeta);
            let dot = |range: std::ops::Range<usize>| -> EF {
                range.map(|i| weights[i] * block[i]).sum()
            };
            assert_eq!(dot(0..1 << PAD_VARS), mask.evaluate(&s), "{n} variables");
            let pad = evaluate(&block[1 << PAD_VARS..], &zeta);
            assert_eq!(dot(1 << PAD_VARS..1 << MASK_VARS), pad);
        }
    }

    /// Two stacks of one 2^13-cell column with the same value at a base-field point `z`
    /// (they differ by a vector orthogonal to `eq(z, .)`), and the claim.
    fn twins() -> (Stack, [Vec<F>; 2], Vec<Combination>) {
        let stack = Stack::new(&CommitShape {
            column_vars: vec![13],
        })
        .unwrap();
        let z: Vec<EF> = (0..13).map(|k| EF::from_u64(k + 2)).collect();
        let eq = eq_table(&z);
        let one: Vec<F> = (0..1u64 << 13).map(|i| F::from_u64(i * i + 7)).collect();
        let mut two = one.clone();
        // D = e_0 - (eq_0 / eq_1) e_1, in the base field since z is
        let ratio = eq[0] * eq[1].inverse();
        two[0] += F::ONE;
        let ratio: &[F] = ratio.as_basis_coefficients_slice();
        two[1] -= ratio[0];
        let claim = Claim {
            column: 0,
            point: z,
        };
        (stack, [one, two], vec![claim.into()])
    }

    /// Over `runs` reductions of each twin with fresh masks (`zero_mask`, `zero_pad`: the
    /// Libra mask's coefficients, or the pad, all zero): the two-sample chi-square of the last
    /// round messages between the twins, and the chi-squares of the mask's sum `G` and of the
    /// pad's share `q` against uniform bins.
    fn statistics(runs: usize, zero_mask: bool, zero_pad: bool) -> [f64; 3] {
        let (stack, twins, claims) = twins();
        let mut rng = StdRng::seed_from_u64(11);
        let mut last = [[0f64; 16]; 2];
        let mut sums = [0f64; 16];
        let mut pads = [0f64; 16];
        for (side, column) in twins.iter().enumerate() {
            for _ in 0..runs {
                let mut mask = Mask::new(stack.num_vars, DEGREE, &mut || rng.random());
                if zero_mask {
                    mask.coefficients
                        .iter_mut()
                        .flatten()
                        .for_each(|c| *c = EF::ZERO);
                }
                let mut block = mask_block(&mask, &mut rng);
                if zero_pad {
                    block[1 << PAD_VARS..].fill(F::ZERO);
                }
                let mut cells = vec![F::ZERO; 1 << stack.num_vars];
                cells[..column.len()].copy_from_slice(column);
                let at = stack.offsets[stack.mask()];
                cells[at..at + block.len()].copy_from_slice(&block);
                let (values, r, _) =
                    reduce(&stack, &cells, &mask, &claims, None, &mut Transcript::new()).unwrap();
                assert_eq!(values[0], evaluate(&twins[0], &claims[0].terms[0].1.point));
                // the twins differ in the last variable only: so do their last rounds
                last[side][bin(&r.masked.rounds.rounds[stack.num_vars - 1][..1])] += 1.0;
                sums[bin(&[r.masked.mask_sum])] += 1.0;
                pads[bin(&[r.pad])] += 1.0;
            }
        }
        let two_sample = (0..16)
            .filter(|&k| last[0][k] + last[1][k] > 0.0)
            .map(|k| (last[0][k] - last[1][k]).powi(2) / (last[0][k] + last[1][k]))
            .sum();
        let expected = 2.0 * runs as f64 / 16.0;
        let uniform = |counts: &[f64; 16]| {
            counts
                .iter()
                .map(|&c| (c - expected).powi(2) / expected)
                .sum()
        };
        [two_sample, uniform(&sums), uniform(&pads)]
    }

    /// With its masks, the reduction's last messages do not tell the twins apart, and the
    /// mask's sum and the pad's share are uniform (seeded, 600 runs of each twin; 15 degrees
    /// of freedom, 37.7 is the 0.1% critical value). Without the Libra mask its sum is
    /// constant; without the pad its share is; without both (the pad's random cells mask the
    /// rounds too, once the sumcheck has bound the variables above them) the last messages
    /// tell the twins apart.
    #[test]
    fn removing_a_mask_shows() {
        let [last, sum, pad] = statistics(600, false, false);
        assert!(last < 37.7, "masked last messages: chi-square {last}");
        assert!(sum < 37.7, "mask sum: chi-square {sum}");
        assert!(pad < 37.7, "pad share: chi-square {pad}");
        let [_, sum, _] = statistics(50, true, false);
        assert!(sum > 37.7, "without the Libra mask: chi-square {sum}");
        let [_, _, pad] = statistics(50, false, true);
        assert!(pad > 37.7, "without the pad: chi-square {pad}");
        let [last, _, _] = statistics(50, true, true);
        assert!(last > 37.7, "without both: chi-square {last}");
    }
}
