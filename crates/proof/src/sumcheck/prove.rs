use p3_field::{ExtensionField, Field, PrimeCharacteristicRing};
use rayon::prelude::*;

use super::SumcheckProof;
use crate::field::{EF, F};
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
    /// No tables and no terms (a placeholder).
    fn empty() -> Self {
        Self {
            tables: Vec::new(),
            terms: Vec::new(),
        }
    }

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
    fn partial(
        &self,
        plan: &Plan,
        range: std::ops::Range<usize>,
        half: usize,
        d: usize,
    ) -> Vec<EF> {
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
            out[0] += plan.eval(&vals);
            // t = 1 -> skip; t = 2..=d by stepping the lines
            for (i, v) in vals.iter_mut().enumerate() {
                *v += diffs[i];
            }
            for slot in out.iter_mut().skip(1) {
                for (i, v) in vals.iter_mut().enumerate() {
                    *v += diffs[i];
                }
                *slot += plan.eval(&vals);
            }
        }
        out
    }
}

/// A term's coefficient, kept in the base field where it lies there (a cheaper product).
#[derive(Clone, Copy)]
enum Coef {
    One,
    Base(F),
    Ext(EF),
}

impl Coef {
    fn of(c: EF) -> Self {
        match c.as_base() {
            Some(f) if f == F::ONE => Coef::One,
            Some(f) => Coef::Base(f),
            None => Coef::Ext(c),
        }
    }

    /// `c * p`, with `p = None` standing for an empty product (1).
    fn times(self, p: Option<EF>) -> EF {
        match (p, self) {
            (None, Coef::One) => EF::ONE,
            (None, Coef::Base(f)) => EF::from(f),
            (None, Coef::Ext(e)) => e,
            (Some(p), Coef::One) => p,
            (Some(p), Coef::Base(f)) => p * f,
            (Some(p), Coef::Ext(e)) => p * e,
        }
    }
}

/// `sum_k c_k prod_{i in term_k} v_i` rewritten as `prod_{i in common} v_i * sum_k c_k
/// prod_{i in rest_k} v_i`, `common` the factors every term has (the `eq` table of a
/// zero-check): the same value with fewer extension-field products.
struct Plan {
    common: Vec<usize>,
    terms: Vec<(Coef, Vec<usize>)>,
}

impl Plan {
    fn new(terms: &[(EF, Vec<usize>)]) -> Self {
        let mut common: Vec<usize> = terms.first().map(|(_, t)| t.clone()).unwrap_or_default();
        common.sort_unstable();
        common.dedup();
        common.retain(|i| terms.iter().all(|(_, t)| t.contains(i)));
        let terms = terms
            .iter()
            .map(|(c, t)| {
                let mut rest = t.clone();
                // one occurrence of each common factor leaves every term
                for i in &common {
                    if let Some(at) = rest.iter().position(|j| j == i) {
                        rest.swap_remove(at);
                    }
                }
                (Coef::of(*c), rest)
            })
            .collect();
        Self { common, terms }
    }

    fn eval(&self, v: &[EF]) -> EF {
        let sum: EF = self
            .terms
            .iter()
            .map(|(c, rest)| {
                let product = rest
                    .split_first()
                    .map(|(&first, others)| others.iter().fold(v[first], |acc, &i| acc * v[i]));
                c.times(product)
            })
            .sum();
        self.common.iter().fold(sum, |acc, &i| acc * v[i])
    }
}

impl RoundKernel for ProductSum {
    fn degree(&self) -> usize {
        self.terms.iter().map(|(_, t)| t.len()).max().unwrap_or(0)
    }

    fn round_evals(&self) -> Vec<EF> {
        let d = self.degree().max(1);
        let half = self.tables[0].len() / 2;
        let plan = Plan::new(&self.terms);
        const CHUNK: usize = 1 << 10;
        if half <= CHUNK {
            return self.partial(&plan, 0..half, half, d);
        }
        (0..half.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| self.partial(&plan, c * CHUNK..((c + 1) * CHUNK).min(half), half, d))
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

/// A [`ProductSum`] whose tables start in the base field, for the sumchecks over committed
/// columns: its first round multiplies the base-field factors of each term in `F` and lifts
/// once per group of terms, and its first fold turns every table into an extension-field
/// table of half the length (no extension-field copy of the full columns). The round
/// messages are those of the [`ProductSum`] over the same tables lifted, bit for bit.
pub struct BaseFirst {
    state: State,
}

enum State {
    /// Before the first fold: `base` tables are indices `0..base.len()`, `ext` tables follow.
    Base {
        base: Vec<Vec<F>>,
        ext: Vec<Vec<EF>>,
        terms: Vec<(EF, Vec<usize>)>,
        /// The terms grouped by their extension-field factors: `(ext indices, [(coefficient,
        /// base indices)])`.
        groups: Vec<Groups>,
    },
    Folded(ProductSum),
}

type Groups = (Vec<usize>, Vec<(Coef, Vec<usize>)>);

impl BaseFirst {
    /// `sum_x sum_k coeff_k * prod_{i in term_k} table_i(x)` over the tables `base` then
    /// `ext` (a term's index `i` names `base[i]` below `base.len()`, else `ext[i -
    /// base.len()]`). All tables have the same power-of-two length.
    pub fn new(base: Vec<Vec<F>>, ext: Vec<Vec<EF>>, terms: Vec<(EF, Vec<usize>)>) -> Self {
        let nb = base.len();
        let mut groups: Vec<Groups> = Vec::new();
        for (c, idx) in &terms {
            let (b, e): (Vec<usize>, Vec<usize>) = idx.iter().partition(|&&i| i < nb);
            let e: Vec<usize> = e.into_iter().map(|i| i - nb).collect();
            let member = (Coef::of(*c), b);
            match groups.iter_mut().find(|(g, _)| *g == e) {
                Some((_, members)) => members.push(member),
                None => groups.push((e, vec![member])),
            }
        }
        Self {
            state: State::Base {
                base,
                ext,
                terms,
                groups,
            },
        }
    }

    /// The sum over the whole hypercube.
    pub fn sum(&self) -> EF {
        match &self.state {
            State::Folded(k) => k.sum(),
            State::Base {
                base, ext, terms, ..
            } => {
                let nb = base.len();
                let n = base.first().map_or_else(|| ext[0].len(), Vec::len);
                (0..n)
                    .map(|x| {
                        terms
                            .iter()
                            .map(|(c, idx)| {
                                idx.iter().fold(*c, |acc, &i| match i < nb {
                                    true => acc * base[i][x],
                                    false => acc * ext[i - nb][x],
                                })
                            })
                            .sum::<EF>()
                    })
                    .sum()
            }
        }
    }

    /// Each table's value once every variable is bound (length-1 tables), in table order.
    pub fn values(&self) -> Vec<EF> {
        match &self.state {
            State::Folded(k) => k.tables.iter().map(|t| t[0]).collect(),
            State::Base { base, ext, .. } => {
                let base = base.iter().map(|t| EF::from(t[0]));
                base.chain(ext.iter().map(|t| t[0])).collect()
            }
        }
    }

    fn terms(&self) -> &[(EF, Vec<usize>)] {
        match &self.state {
            State::Base { terms, .. } => terms,
            State::Folded(k) => &k.terms,
        }
    }
}

/// `h(0), h(2..=d)` of the first round over pairs `range`, all arithmetic on base-field
/// factors in `F`.
fn base_partial(
    base: &[Vec<F>],
    ext: &[Vec<EF>],
    groups: &[Groups],
    range: std::ops::Range<usize>,
    half: usize,
    d: usize,
) -> Vec<EF> {
    let mut out = vec![EF::ZERO; d];
    let (mut bv, mut bd) = (vec![F::ZERO; base.len()], vec![F::ZERO; base.len()]);
    let (mut ev, mut ed) = (vec![EF::ZERO; ext.len()], vec![EF::ZERO; ext.len()]);
    // a group's base-field products are summed in F where their coefficients lie there
    let eval = |bv: &[F], ev: &[EF]| -> EF {
        groups
            .iter()
            .map(|(e, members)| {
                let (mut in_base, mut in_ext) = (F::ZERO, EF::ZERO);
                for (c, b) in members {
                    let p = b.iter().fold(F::ONE, |acc, &i| acc * bv[i]);
                    match c {
                        Coef::One => in_base += p,
                        Coef::Base(f) => in_base += *f * p,
                        Coef::Ext(x) => in_ext += *x * p,
                    }
                }
                e.iter().fold(in_ext + in_base, |acc, &i| acc * ev[i])
            })
            .sum()
    };
    for x in range {
        for (i, t) in base.iter().enumerate() {
            (bv[i], bd[i]) = (t[x], t[x + half] - t[x]);
        }
        for (i, t) in ext.iter().enumerate() {
            (ev[i], ed[i]) = (t[x], t[x + half] - t[x]);
        }
        let step = |bv: &mut [F], ev: &mut [EF]| {
            bv.iter_mut().zip(&bd).for_each(|(v, dv)| *v += *dv);
            ev.iter_mut().zip(&ed).for_each(|(v, dv)| *v += *dv);
        };
        // t = 0, then t = 1 skipped, then t = 2..=d by stepping the lines
        out[0] += eval(&bv, &ev);
        step(&mut bv, &mut ev);
        for slot in out.iter_mut().skip(1) {
            step(&mut bv, &mut ev);
            *slot += eval(&bv, &ev);
        }
    }
    out
}

impl RoundKernel for BaseFirst {
    fn degree(&self) -> usize {
        self.terms().iter().map(|(_, t)| t.len()).max().unwrap_or(0)
    }

    fn round_evals(&self) -> Vec<EF> {
        let (base, ext, groups) = match &self.state {
            State::Folded(k) => return k.round_evals(),
            State::Base {
                base, ext, groups, ..
            } => (base, ext, groups),
        };
        let d = self.degree().max(1);
        let half = base.first().map_or_else(|| ext[0].len(), Vec::len) / 2;
        const CHUNK: usize = 1 << 10;
        if half <= CHUNK {
            return base_partial(base, ext, groups, 0..half, half, d);
        }
        (0..half.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| {
                let range = c * CHUNK..((c + 1) * CHUNK).min(half);
                base_partial(base, ext, groups, range, half, d)
            })
            .reduce(
                || vec![EF::ZERO; d],
                |mut a, b| {
                    a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    a
                },
            )
    }

    fn fold(&mut self, r: EF) {
        let state = std::mem::replace(&mut self.state, State::Folded(ProductSum::empty()));
        self.state = match state {
            State::Folded(mut k) => {
                k.fold(r);
                State::Folded(k)
            }
            State::Base {
                base,
                mut ext,
                terms,
                ..
            } => {
                let mut tables: Vec<Vec<EF>> = base.iter().map(|t| fold_lifted(t, r)).collect();
                ext.par_iter_mut()
                    .for_each(|t| crate::mle::fold_first(t, r));
                tables.extend(ext);
                State::Folded(ProductSum { tables, terms })
            }
        };
    }
}

/// Binds the first (most significant) variable of `t` at `r` into a new extension-field table
/// of half the length (base-field or extension-field data).
pub(crate) fn fold_lifted<T: Field>(t: &[T], r: EF) -> Vec<EF>
where
    EF: ExtensionField<T>,
{
    let (lo, hi) = t.split_at(t.len() / 2);
    (lo, hi)
        .into_par_iter()
        .with_min_len(1 << 11)
        .map(|(&a, &b)| r * (b - a) + a)
        .collect()
}
