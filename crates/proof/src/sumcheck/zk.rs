//! A zero-knowledge sumcheck: round messages masked by a random low-degree polynomial (Libra,
//! Xie et al. 2019; Chiesa-Forbes-Spooner 2017), for the zero-knowledge issue.
//!
//! The statement is `S = sum_{x in {0,1}^n} f(x)` with `f` of degree at most `d` in each
//! variable (a [`RoundKernel`]). The prover draws a mask `g(x) = sum_i g_i(x_i)`, each `g_i` a
//! univariate of degree `d` with uniformly random coefficients in the extension field, and
//! binds a commitment to it into the transcript (the caller's job: the mask's coefficients are
//! committed with the witness). Then:
//!
//! 1. the prover sends `G = sum_x g(x)`; the verifier draws `rho`;
//! 2. both run the plain sumcheck of `f + rho g` for the sum `S + rho G`;
//! 3. the sumcheck ends at a point `r` with a claim `e`, and the verifier must check
//!    `e = f(r) + rho g(r)`: `f(r)` as it would without the mask, `g(r) = sum_i g_i(r_i)` by
//!    opening the mask's commitment ([`Mask::columns`] commits the coefficients as base-field
//!    columns of `2^k` cells, `2^k > d`; opened at [`mask_points`], their values give `g(r)`
//!    through [`mask_value`]).
//!
//! Round `i`'s message is `f`'s round polynomial plus `rho 2^(n-i-1) g_i(X)` plus a constant:
//! with `g_i` uniform and `rho != 0`, it is a uniform polynomial of degree `d` among those that
//! agree with the running claim, whatever `f` is. The messages therefore reveal nothing about
//! `f` beyond `S`; what the verifier learns at the end, `f(r)` and `g(r)`, is the caller's to
//! hide (masked witness columns and a hiding opening, not here yet).
//!
//! Soundness is the plain sumcheck's for `f + rho g`: a false `S` gives a false `S + rho G`
//! for every `rho` but one, since `G` is sent before `rho` is drawn.

use p3_field::{BasedVectorSpace, Field, PrimeCharacteristicRing};
use serde::{Deserialize, Serialize};

use super::{
    RoundKernel, SumcheckError, SumcheckProof, prove as prove_plain, verify as verify_plain,
};
use crate::field::{EF, F};
use crate::pcs::Claim;
use crate::pcs::hiding::Combination;
use crate::transcript::Transcript;

/// Domain label absorbed before the mask's sum.
const LABEL: &[u8] = b"zkml/zk-sumcheck/v1";

/// The mask `g(x) = sum_i g_i(x_i)`: `coefficients[i][k]` is the coefficient of `X^k` in `g_i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mask {
    pub coefficients: Vec<Vec<EF>>,
    /// The degree of each `g_i`: the sumcheck's.
    pub degree: usize,
}

impl Mask {
    /// A mask for `num_vars` variables and degree `degree`, its coefficients drawn by `draw`
    /// (uniform in the extension field for zero knowledge).
    pub fn new(num_vars: usize, degree: usize, draw: &mut dyn FnMut() -> EF) -> Self {
        let coefficients = (0..num_vars)
            .map(|_| (0..=degree).map(|_| draw()).collect())
            .collect();
        Self {
            coefficients,
            degree,
        }
    }

    /// `g_i(x)`.
    fn univariate(&self, i: usize, x: EF) -> EF {
        self.coefficients[i]
            .iter()
            .rev()
            .fold(EF::ZERO, |acc, &c| acc * x + c)
    }

    /// `g_i(0) + g_i(1)`.
    fn pair_sum(&self, i: usize) -> EF {
        self.univariate(i, EF::ZERO) + self.univariate(i, EF::ONE)
    }

    /// `G = sum_{x in {0,1}^n} g(x) = 2^(n-1) sum_i (g_i(0) + g_i(1))`.
    pub fn sum(&self) -> EF {
        let n = self.coefficients.len();
        let total: EF = (0..n).map(|i| self.pair_sum(i)).sum();
        (total * EF::from_u64(1 << n)).halve()
    }

    /// `g(point) = sum_i g_i(point_i)`.
    pub fn evaluate(&self, point: &[EF]) -> EF {
        point
            .iter()
            .enumerate()
            .map(|(i, &x)| self.univariate(i, x))
            .sum()
    }
}

/// The extension field's dimension over the base field: a mask coefficient is committed as
/// this many base-field coordinates.
const COORDINATES: usize = <EF as BasedVectorSpace<F>>::DIMENSION;

/// Variables of one mask column: `degree + 1` coefficients padded to a power of two.
fn coefficient_vars(degree: usize) -> usize {
    (degree + 1).next_power_of_two().trailing_zeros() as usize
}

impl Mask {
    /// The base-field columns that commit the mask: column `COORDINATES * i + c` holds
    /// coordinate `c` of `g_i`'s coefficients, constant term first, zero-padded to a power of
    /// two. Open them with [`mask_points`] and combine the values with [`mask_value`].
    pub fn columns(&self) -> Vec<Vec<F>> {
        let len = 1 << coefficient_vars(self.degree);
        let mut columns = Vec::with_capacity(COORDINATES * self.coefficients.len());
        for g in &self.coefficients {
            for c in 0..COORDINATES {
                let mut column: Vec<F> = g
                    .iter()
                    .map(|v| v.as_basis_coefficients_slice()[c])
                    .collect();
                column.resize(len, F::ZERO);
                columns.push(column);
            }
        }
        columns
    }
}

/// Where to open the columns of a mask of degree `degree` to learn `g(point)`: all columns of
/// variable `i` at `z(point_i)`, where `z` has coordinates `s_b / (1 + s_b)`, `s_b = x^(2^b)`,
/// most significant bit first. The multilinear extension of coefficients `a_j` is then
/// `sum_j a_j x^j / prod_b (1 + s_b)` there. `None` when some `1 + s_b` is zero (probability
/// about `degree / |EF|` for a random point).
pub fn mask_points(degree: usize, point: &[EF]) -> Option<Vec<Vec<EF>>> {
    let k = coefficient_vars(degree);
    point
        .iter()
        .map(|&x| {
            let mut s = x;
            let mut z = Vec::with_capacity(k);
            for _ in 0..k {
                z.push(s * (EF::ONE + s).try_inverse()?);
                s = s.square();
            }
            z.reverse();
            Some(z)
        })
        .collect()
}

/// `g(point)` from the values of the mask's columns opened at [`mask_points`]: `values[j]` is
/// column `j`'s.
pub fn mask_value(degree: usize, point: &[EF], values: &[EF]) -> EF {
    let k = coefficient_vars(degree);
    let basis: Vec<EF> = (0..COORDINATES)
        .map(|c| <EF as BasedVectorSpace<F>>::ith_basis_element(c).unwrap_or(EF::ZERO))
        .collect();
    point
        .iter()
        .zip(values.chunks(COORDINATES))
        .map(|(&x, opened)| {
            let mut s = x;
            let mut scale = EF::ONE;
            for _ in 0..k {
                scale *= EF::ONE + s;
                s = s.square();
            }
            let combined: EF = basis.iter().zip(opened).map(|(&b, &v)| b * v).sum();
            scale * combined
        })
        .sum()
}

/// The claim `g(point)` on the mask's columns ([`Mask::columns`], committed from column
/// `first` of a hiding stack on): one value, the sum of every column's opening at
/// [`mask_points`] weighed as [`mask_value`] weighs it, so that no `g_i(point_i)` is revealed
/// alone. `None` where [`mask_points`] is.
pub fn mask_claim(degree: usize, first: usize, point: &[EF]) -> Option<Combination> {
    let k = coefficient_vars(degree);
    let points = mask_points(degree, point)?;
    let mut terms = Vec::with_capacity(COORDINATES * point.len());
    for (i, (&x, z)) in point.iter().zip(points).enumerate() {
        let mut s = x;
        let mut scale = EF::ONE;
        for _ in 0..k {
            scale *= EF::ONE + s;
            s = s.square();
        }
        for c in 0..COORDINATES {
            let basis = <EF as BasedVectorSpace<F>>::ith_basis_element(c).unwrap_or(EF::ZERO);
            let claim = Claim {
                column: first + COORDINATES * i + c,
                point: z.clone(),
            };
            terms.push((scale * basis, claim));
        }
    }
    Some(Combination { terms })
}

/// The mask's part of the round kernel: its round polynomial is
/// `2^(n-i-1) (sum_{j<i} g_j(r_j) + g_i(X)) + 2^(n-i-2) sum_{j>i} (g_j(0) + g_j(1))`.
struct Masked<'a, K> {
    kernel: &'a mut K,
    mask: &'a Mask,
    rho: EF,
    round: usize,
    /// `sum_{j<i} g_j(r_j)`.
    bound: EF,
}

impl<K: RoundKernel> RoundKernel for Masked<'_, K> {
    fn degree(&self) -> usize {
        self.mask.degree
    }

    fn round_evals(&self) -> Vec<EF> {
        let n = self.mask.coefficients.len();
        let i = self.round;
        let rest: EF = (i + 1..n).map(|j| self.mask.pair_sum(j)).sum();
        let outer = EF::from_u64(1 << (n - i - 1));
        let tail = match n - i {
            1 => EF::ZERO,
            _ => rest * EF::from_u64(1 << (n - i - 2)),
        };
        let mask_at =
            |x: u64| outer * (self.bound + self.mask.univariate(i, EF::from_u64(x))) + tail;
        let mut evals = self.kernel.round_evals();
        // slots: h(0), h(2), h(3), ..
        for (slot, value) in evals.iter_mut().enumerate() {
            let x = if slot == 0 { 0 } else { slot as u64 + 1 };
            *value += self.rho * mask_at(x);
        }
        evals
    }

    fn fold(&mut self, r: EF) {
        self.bound += self.mask.univariate(self.round, r);
        self.round += 1;
        self.kernel.fold(r);
    }
}

/// A zero-knowledge sumcheck proof: the mask's sum, then the masked rounds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZkSumcheckProof {
    /// `G`, the mask's sum over the hypercube.
    pub mask_sum: EF,
    /// The sumcheck of `f + rho g`.
    pub rounds: SumcheckProof,
}

/// Runs the prover for `kernel` with `mask` (of the kernel's degree and number of variables),
/// whose commitment the transcript must already hold. Returns the proof, the point and `rho`.
pub fn prove<K: RoundKernel>(
    kernel: &mut K,
    mask: &Mask,
    t: &mut Transcript,
) -> (ZkSumcheckProof, Vec<EF>, EF) {
    debug_assert_eq!(
        kernel.degree().max(1),
        mask.degree,
        "the mask has the kernel's degree"
    );
    let mask_sum = mask.sum();
    t.absorb_bytes(LABEL);
    t.absorb_ext(&[mask_sum]);
    let rho = t.sample();
    let num_vars = mask.coefficients.len();
    let mut masked = Masked {
        kernel,
        mask,
        rho,
        round: 0,
        bound: EF::ZERO,
    };
    let (rounds, point) = prove_plain(&mut masked, num_vars, t);
    (ZkSumcheckProof { mask_sum, rounds }, point, rho)
}

/// Verifies a zero-knowledge sumcheck of `num_vars` rounds and degree `degree` for
/// `claimed_sum`. Returns the point, the final claim `e` and `rho`: the caller must check
/// `e = f(point) + rho g(point)`, with `g(point)` from the mask's commitment.
///
/// # Errors
/// [`SumcheckError`] when the round count or a round's degree differs from the statement.
pub fn verify(
    claimed_sum: EF,
    num_vars: usize,
    degree: usize,
    proof: &ZkSumcheckProof,
    t: &mut Transcript,
) -> Result<(Vec<EF>, EF, EF), SumcheckError> {
    t.absorb_bytes(LABEL);
    t.absorb_ext(&[proof.mask_sum]);
    let rho = t.sample();
    let sum = claimed_sum + rho * proof.mask_sum;
    let (point, claim) = verify_plain(sum, num_vars, degree, &proof.rounds, t)?;
    Ok((point, claim, rho))
}
