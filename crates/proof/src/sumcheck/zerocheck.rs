//! The prover of a sumcheck over `eq(tau, x) P(x)` that keeps the eq factor out of its
//! tables (Gruen, "Some Improvements for the PIOP for ZeroCheck", 2024).

use std::cell::RefCell;

use p3_field::{Field, PrimeCharacteristicRing};

use super::interpolate_uni;
use super::prove::{BaseFirst, Points, RoundKernel};
use crate::field::{EF, F};
use crate::mle::{eq_table, sum_out_first};

/// `sum_x eq(tau, x) P(x)` with `P = sum_k coeff_k prod_{i in term_k} table_i` (tables as in
/// [`BaseFirst`]). It sends the messages of the [`BaseFirst`] over the same tables and
/// `eq(tau, .)` with `eq` in every term, bit for bit, with less work: round `j`'s
/// polynomial is `h(X) = s eq(tau_j, X) q(X)`, where `s = prod_{i<j} eq(tau_i, r_i)` and
/// `q(X) = sum_x eq(tau_{j+1..}, x) P(r_{<j}, X, x)` has one degree less. The prover
/// evaluates `q` at `0, 2, .., D` (`D` the degree of `P`), takes `q(1)` from the running
/// claim `(1 - tau_j) q(0) + tau_j q(1)` and `q(D + 1)` by interpolation, and never folds
/// an eq table: `eq(tau_{j+1..}, .)` is the previous round's with its first variable summed
/// out.
pub struct ZeroCheck {
    inner: BaseFirst,
    tau: Vec<EF>,
    round: usize,
    /// `prod_{i < round} eq(tau_i, r_i)`.
    scale: EF,
    /// `eq(tau[round + 1..], .)`: the weight of each pair of the round.
    weights: Vec<EF>,
    /// `q(r)` of the previous round: the sum over the remaining variables of
    /// `eq(tau[round..], x) P(r, x)` (unknown before the first round).
    claim: Option<EF>,
    /// This round's `q(0), q(1), .., q(D)`, for the fold.
    q: RefCell<Vec<EF>>,
}

impl ZeroCheck {
    /// The sum of `eq(tau, x) sum_k coeff_k prod_{i in term_k} table_i(x)` over the tables
    /// `base` then `ext` (indexed as in [`BaseFirst::new`]). Every table has `2^tau.len()`
    /// entries.
    ///
    /// # Panics
    /// When no term has a table (`P` of degree 0).
    pub fn new(
        base: Vec<Vec<F>>,
        ext: Vec<Vec<EF>>,
        terms: Vec<(EF, Vec<usize>)>,
        tau: &[EF],
    ) -> Self {
        let inner = BaseFirst::new(base, ext, terms);
        assert!(inner.degree() > 0, "a zero-check over constants");
        let weights = match tau.split_first() {
            Some((_, rest)) => eq_table(rest),
            None => Vec::new(),
        };
        Self {
            inner,
            tau: tau.to_vec(),
            round: 0,
            scale: EF::ONE,
            weights,
            claim: None,
            q: RefCell::new(Vec::new()),
        }
    }

    /// Each table's value once every variable is bound, in table order (no eq table).
    pub fn values(&self) -> Vec<EF> {
        self.inner.values()
    }

    /// The sum over the remaining variables (what the prover claims before the first round).
    pub fn sum(&self) -> EF {
        let Some(&tj) = self.tau.get(self.round) else {
            return self.scale * self.inner.sum();
        };
        let q = self.inner.evals(Points {
            last: 1,
            one: true,
            weight: Some(&self.weights),
        });
        self.scale * ((EF::ONE - tj) * q[0] + tj * q[1])
    }
}

/// `eq(tau, x) = (1 - tau)(1 - x) + tau x`.
fn eq_at(tau: EF, x: EF) -> EF {
    (EF::ONE - tau) * (EF::ONE - x) + tau * x
}

impl RoundKernel for ZeroCheck {
    fn degree(&self) -> usize {
        self.inner.degree() + 1
    }

    fn round_evals(&self) -> Vec<EF> {
        let tj = self.tau[self.round];
        let d = self.inner.degree();
        let mut pts = Points {
            last: d,
            one: false,
            weight: Some(&self.weights),
        };
        let q = match self.claim.zip(tj.try_inverse()) {
            Some((claim, inv)) => {
                let v = self.inner.evals(pts);
                let q1 = (claim - (EF::ONE - tj) * v[0]) * inv;
                let mut q = vec![v[0], q1];
                q.extend_from_slice(&v[1..]);
                q
            }
            // the first round, or tau_j = 0: q(1) evaluated too
            None => {
                pts.one = true;
                self.inner.evals(pts)
            }
        };
        let node = |t: usize| EF::from_u64(t as u64);
        let after = interpolate_uni(&q, node(d + 1));
        let msg = std::iter::once(0)
            .chain(2..=d + 1)
            .map(|t| self.scale * eq_at(tj, node(t)) * q.get(t).copied().unwrap_or(after))
            .collect();
        *self.q.borrow_mut() = q;
        msg
    }

    fn fold(&mut self, r: EF) {
        let tj = self.tau[self.round];
        self.claim = Some(interpolate_uni(&self.q.take(), r));
        self.scale *= eq_at(tj, r);
        self.inner.fold(r);
        self.round += 1;
        // (after the last round: empty)
        sum_out_first(&mut self.weights);
    }
}
