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

    /// The evaluations at `pts` contributed by pairs `range` of the current round.
    fn partial(
        &self,
        plan: &Plan,
        range: std::ops::Range<usize>,
        half: usize,
        pts: Points<'_>,
    ) -> Vec<EF> {
        let nt = self.tables.len();
        let mut out = vec![EF::ZERO; pts.len()];
        let mut vals = vec![EF::ZERO; nt];
        let mut diffs = vec![EF::ZERO; nt];
        for x in range {
            for (i, t) in self.tables.iter().enumerate() {
                vals[i] = t[x];
                diffs[i] = t[x + half] - t[x];
            }
            let weight = pts.weight.map(|w| w[x]);
            let add = |slot: &mut EF, v: EF| *slot += weight.map_or(v, |w| w * v);
            // t = 0, t = 1 when asked, then t = 2.. by stepping the lines
            add(&mut out[0], plan.eval(&vals));
            for (i, v) in vals.iter_mut().enumerate() {
                *v += diffs[i];
            }
            if pts.one {
                add(&mut out[1], plan.eval(&vals));
            }
            for slot in out.iter_mut().skip(1 + usize::from(pts.one)) {
                for (i, v) in vals.iter_mut().enumerate() {
                    *v += diffs[i];
                }
                add(slot, plan.eval(&vals));
            }
        }
        out
    }

    /// The round's evaluations at `pts`, the pairs in parallel chunks.
    fn evals(&self, pts: Points<'_>) -> Vec<EF> {
        let half = self.tables[0].len() / 2;
        let plan = Plan::new(&self.terms);
        in_chunks(half, pts.len(), |range| {
            self.partial(&plan, range, half, pts)
        })
    }
}

/// Which evaluations of a round polynomial a kernel computes, and how the pairs are weighted.
#[derive(Clone, Copy)]
pub(super) struct Points<'a> {
    /// The evaluations from `t = 2` end at `t = last` (none when `last < 2`).
    pub(super) last: usize,
    /// Whether `t = 1` is evaluated (after `t = 0`).
    pub(super) one: bool,
    /// Pair `x`'s weight, when not 1.
    pub(super) weight: Option<&'a [EF]>,
}

impl Points<'_> {
    /// `h(0), h(2), .., h(d)`: a plain round's message.
    fn message(d: usize) -> Self {
        Points {
            last: d,
            one: false,
            weight: None,
        }
    }

    /// The number of evaluations: `t = 0`, `t = 1` when asked, `t = 2..=last`.
    fn len(&self) -> usize {
        1 + usize::from(self.one) + self.last.saturating_sub(1)
    }
}

/// `partial(range)` summed over `0..half` in chunks of pairs, the chunks in parallel.
fn in_chunks(
    half: usize,
    len: usize,
    partial: impl Fn(std::ops::Range<usize>) -> Vec<EF> + Sync,
) -> Vec<EF> {
    const CHUNK: usize = 1 << 10;
    if half <= CHUNK {
        return partial(0..half);
    }
    (0..half.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| partial(c * CHUNK..((c + 1) * CHUNK).min(half)))
        .reduce(
            || vec![EF::ZERO; len],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )
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
        self.evals(Points::message(self.degree().max(1)))
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

    /// The round's evaluations at `pts`.
    pub(super) fn evals(&self, pts: Points<'_>) -> Vec<EF> {
        let (base, ext, groups) = match &self.state {
            State::Folded(k) => return k.evals(pts),
            State::Base {
                base, ext, groups, ..
            } => (base, ext, groups),
        };
        let half = base.first().map_or_else(|| ext[0].len(), Vec::len) / 2;
        in_chunks(half, pts.len(), |range| {
            base_partial(base, ext, groups, range, half, pts)
        })
    }

    fn terms(&self) -> &[(EF, Vec<usize>)] {
        match &self.state {
            State::Base { terms, .. } => terms,
            State::Folded(k) => &k.terms,
        }
    }
}

/// The first round's evaluations at `pts` over pairs `range`, all arithmetic on base-field
/// factors in `F`.
fn base_partial(
    base: &[Vec<F>],
    ext: &[Vec<EF>],
    groups: &[Groups],
    range: std::ops::Range<usize>,
    half: usize,
    pts: Points<'_>,
) -> Vec<EF> {
    let mut out = vec![EF::ZERO; pts.len()];
    let (mut bv, mut bd) = (vec![F::ZERO; base.len()], vec![F::ZERO; base.len()]);
    let (mut ev, mut ed) = (vec![EF::ZERO; ext.len()], vec![EF::ZERO; ext.len()]);
    // whether some value lies outside F (else a weight multiplies a base-field value)
    let lifted = groups.iter().any(|(e, members)| {
        !e.is_empty() || members.iter().any(|(c, _)| matches!(c, Coef::Ext(_)))
    });
    // a group's base-field products are summed in F where their coefficients lie there:
    // returns the part in F (groups without extension factors) and the rest
    let eval = |bv: &[F], ev: &[EF]| -> (F, EF) {
        let (mut total_base, mut total_ext) = (F::ZERO, EF::ZERO);
        for (e, members) in groups {
            let (mut in_base, mut in_ext) = (F::ZERO, EF::ZERO);
            for (c, b) in members {
                let p = b.iter().fold(F::ONE, |acc, &i| acc * bv[i]);
                match c {
                    Coef::One => in_base += p,
                    Coef::Base(f) => in_base += *f * p,
                    Coef::Ext(x) => in_ext += *x * p,
                }
            }
            match e.is_empty() {
                true => (total_base, total_ext) = (total_base + in_base, total_ext + in_ext),
                false => total_ext += e.iter().fold(in_ext + in_base, |acc, &i| acc * ev[i]),
            }
        }
        (total_base, total_ext)
    };
    for x in range {
        for (i, t) in base.iter().enumerate() {
            (bv[i], bd[i]) = (t[x], t[x + half] - t[x]);
        }
        for (i, t) in ext.iter().enumerate() {
            (ev[i], ed[i]) = (t[x], t[x + half] - t[x]);
        }
        let weight = pts.weight.map(|w| w[x]);
        let add = |slot: &mut EF, (b, e): (F, EF)| {
            *slot += match (weight, lifted) {
                (None, _) => e + b,
                (Some(w), false) => w * b,
                (Some(w), true) => w * (e + b),
            }
        };
        let step = |bv: &mut [F], ev: &mut [EF]| {
            bv.iter_mut().zip(&bd).for_each(|(v, dv)| *v += *dv);
            ev.iter_mut().zip(&ed).for_each(|(v, dv)| *v += *dv);
        };
        // t = 0, t = 1 when asked, then t = 2.. by stepping the lines
        add(&mut out[0], eval(&bv, &ev));
        step(&mut bv, &mut ev);
        if pts.one {
            add(&mut out[1], eval(&bv, &ev));
        }
        for slot in out.iter_mut().skip(1 + usize::from(pts.one)) {
            step(&mut bv, &mut ev);
            add(slot, eval(&bv, &ev));
        }
    }
    out
}

impl RoundKernel for BaseFirst {
    fn degree(&self) -> usize {
        self.terms().iter().map(|(_, t)| t.len()).max().unwrap_or(0)
    }

    fn round_evals(&self) -> Vec<EF> {
        self.evals(Points::message(self.degree().max(1)))
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
