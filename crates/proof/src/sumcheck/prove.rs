use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;

use super::SumcheckProof;
use crate::field::EF;
use crate::transcript::Transcript;

/// The prover's per-round work: evaluate the round polynomial, then bind a variable.
pub trait RoundKernel {
    /// Maximum degree of the round polynomial.
    fn degree(&self) -> usize;
    /// `h(0), h(2), ..., h(degree)` of the current round (the sum over the remaining variables
    /// with the first one set to `t`).
    fn round_evals(&self) -> Vec<EF>;
    /// Binds the first remaining variable to `r`.
    fn fold(&mut self, r: EF);
}

/// Runs the prover: `num_vars` rounds, each message absorbed before its challenge is sampled.
/// Returns the proof and the point (MSB-first).
pub fn prove<K: RoundKernel>(
    kernel: &mut K,
    num_vars: usize,
    t: &mut Transcript,
) -> (SumcheckProof, Vec<EF>) {
    let (proof, point, _) = prove_deviating(kernel, num_vars, EF::ZERO, &mut |_, _| {}, t);
    (proof, point)
}

/// A cheating prover for soundness tests: proves the FALSE sum `sum + delta` with every round
/// consistent (each round polynomial gets `offset * X` added, so `g(0) + g(1)` equals the
/// running claim), so that only the caller's final check can refuse it; `edit` may then
/// rewrite each round message (round index, `h(0), h(2), ..`) before it is absorbed.
/// Returns the proof, the point and the final offset `delta * prod r_i`: the verifier's final
/// claim is the kernel's true value at the point plus that offset (when `edit` changed nothing).
/// With `delta = 0` and an `edit` that changes nothing this is the honest prover.
#[doc(hidden)]
pub fn prove_deviating<K: RoundKernel>(
    kernel: &mut K,
    num_vars: usize,
    delta: EF,
    edit: &mut dyn FnMut(usize, &mut [EF]),
    t: &mut Transcript,
) -> (SumcheckProof, Vec<EF>, EF) {
    let mut rounds = Vec::with_capacity(num_vars);
    let mut point = Vec::with_capacity(num_vars);
    let mut offset = delta;
    for round in 0..num_vars {
        let mut msg = kernel.round_evals();
        if offset != EF::ZERO {
            // message slots are h(0), h(2), h(3), ..: add offset * X
            for (i, slot) in msg.iter_mut().enumerate().skip(1) {
                *slot += offset * EF::from_u64(i as u64 + 1);
            }
        }
        edit(round, &mut msg);
        t.absorb_ext(&msg);
        let r = t.sample();
        kernel.fold(r);
        offset *= r;
        rounds.push(msg);
        point.push(r);
    }
    (SumcheckProof { rounds }, point, offset)
}

/// `sum_x sum_k coeff_k * prod_{i in term_k} table_i(x)`: the general kernel.
pub struct ProductSum {
    /// MLE tables, all of the same power-of-two length.
    pub tables: Vec<Vec<EF>>,
    /// Terms: a coefficient and the indices of the tables multiplied.
    pub terms: Vec<(EF, Vec<usize>)>,
}

impl ProductSum {
    /// The sum over the whole hypercube (what the prover claims).
    pub fn sum(&self) -> EF {
        let n = self.tables[0].len();
        (0..n)
            .map(|x| {
                self.terms
                    .iter()
                    .map(|(c, idx)| idx.iter().fold(*c, |acc, &i| acc * self.tables[i][x]))
                    .sum::<EF>()
            })
            .sum()
    }

    /// The evaluations `h(0), h(2..=d)` contributed by pairs `lo..hi` of the current round.
    fn partial(&self, range: std::ops::Range<usize>, half: usize, d: usize) -> Vec<EF> {
        let nt = self.tables.len();
        let mut out = vec![EF::ZERO; d];
        let mut vals = vec![EF::ZERO; nt];
        let mut diffs = vec![EF::ZERO; nt];
        for x in range {
            for (i, t) in self.tables.iter().enumerate() {
                vals[i] = t[x];
                diffs[i] = t[x + half] - t[x];
            }
            // t = 0
            out[0] += self.eval_terms(&vals);
            // t = 1 -> skip; t = 2..=d by stepping the lines
            for (i, v) in vals.iter_mut().enumerate() {
                *v += diffs[i];
            }
            for slot in out.iter_mut().skip(1) {
                for (i, v) in vals.iter_mut().enumerate() {
                    *v += diffs[i];
                }
                *slot += self.eval_terms(&vals);
            }
        }
        out
    }

    fn eval_terms(&self, vals: &[EF]) -> EF {
        self.terms
            .iter()
            .map(|(c, idx)| idx.iter().fold(*c, |acc, &i| acc * vals[i]))
            .sum()
    }
}

impl RoundKernel for ProductSum {
    fn degree(&self) -> usize {
        self.terms.iter().map(|(_, t)| t.len()).max().unwrap_or(0)
    }

    fn round_evals(&self) -> Vec<EF> {
        let d = self.degree().max(1);
        let half = self.tables[0].len() / 2;
        const CHUNK: usize = 1 << 10;
        if half <= CHUNK {
            return self.partial(0..half, half, d);
        }
        (0..half.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| self.partial(c * CHUNK..((c + 1) * CHUNK).min(half), half, d))
            .reduce(
                || vec![EF::ZERO; d],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    }

    fn fold(&mut self, r: EF) {
        self.tables
            .par_iter_mut()
            .for_each(|t| crate::mle::fold_first(t, r));
    }
}
