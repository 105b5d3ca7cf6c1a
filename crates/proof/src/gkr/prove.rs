//! The logup-GKR prover: builds every segment's tree bottom-up once, then runs one batched
//! sumcheck per depth, top-down.

use p3_field::{ExtensionField, Field, PrimeCharacteristicRing};
use rayon::prelude::*;

use super::{
    GkrProof, LayerProof, LeafClaim, RoundPoly, Segment, absorb_shape, interpolate, powers, reduce,
};
use crate::field::{EF, F};
use crate::mle::{eq_table, fold_first, sum_out_first};
use crate::sumcheck::fold_lifted;
use crate::transcript::Transcript;

/// Below this many elements a parallel loop runs as one task.
const MIN_LEN: usize = 1 << 11;

/// Proves `sum_k sum_i num_k[i] / den_k[i] = 0` (see the module docs for the protocol) and
/// returns the proof with, in segment order, each segment's leaf claim. The verifier is
/// called with `segment_vars[k] = log2(segments[k].num.len())`.
///
/// The prover does not check that the sum is zero or that denominators are nonzero: a false
/// statement yields a proof that [`super::verify`] rejects.
///
/// # Panics
///
/// If a segment's `num` and `den` differ in length or the length is not a power of two.
pub fn prove(segments: Vec<Segment>, t: &mut Transcript) -> (GkrProof, Vec<LeafClaim>) {
    prove_deviating(segments, &mut |_, _| {}, t)
}

/// A prover message of logup-GKR, for [`prove_deviating`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GkrMsg {
    /// `(p_k, q_k)` of segment `k`'s root.
    Root(usize),
    /// Round `round` of the sumcheck at `depth`: `[g(0), g(1), g(2)]`.
    Round { depth: usize, round: usize },
    /// `[pL, pR, qL, qR]` of the `k`-th active segment at `depth`.
    Children { depth: usize, k: usize },
}

/// A cheating prover for soundness tests: [`prove`], where `edit` may rewrite each message
/// before it is absorbed. The prover carries on from the edited values (its claims follow
/// the edited roots and children, and each round's `g(1)` is derived from the running
/// claim), so every later round stays consistent with the lie.
#[doc(hidden)]
pub fn prove_deviating(
    segments: Vec<Segment>,
    edit: &mut dyn FnMut(GkrMsg, &mut [EF]),
    t: &mut Transcript,
) -> (GkrProof, Vec<LeafClaim>) {
    let trees: Vec<Tree> = segments.into_par_iter().map(Tree::build).collect();
    let vars: Vec<usize> = trees.iter().map(|tr| tr.vars).collect();
    absorb_shape(t, &vars);
    let mut roots: Vec<(EF, EF)> = trees.iter().map(Tree::root).collect();
    for (k, root) in roots.iter_mut().enumerate() {
        let mut msg = [root.0, root.1];
        edit(GkrMsg::Root(k), &mut msg);
        *root = (msg[0], msg[1]);
        t.absorb_ext(&msg);
    }

    let depth = vars.iter().copied().max().unwrap_or(0);
    let mut claims = roots.clone();
    let mut points: Vec<Vec<EF>> = vec![Vec::new()];
    let mut layers = Vec::with_capacity(depth);
    for d in 0..depth {
        let active: Vec<usize> = (0..trees.len()).filter(|&k| vars[k] > d).collect();
        let (layer, next) = prove_layer(d, &trees, &active, &mut claims, &points[d], edit, t);
        layers.push(layer);
        points.push(next);
    }
    let leaves = vars
        .iter()
        .zip(claims)
        .map(|(&n, (num, den))| LeafClaim {
            point: points[n].clone(),
            num,
            den,
        })
        .collect();
    (GkrProof { roots, layers }, leaves)
}

/// Runs the batched sumcheck of depth `d` at point `r` (length `d`) for the `active` trees,
/// updates their claims to the next depth and returns the layer's messages and the next point.
fn prove_layer(
    d: usize,
    trees: &[Tree],
    active: &[usize],
    claims: &mut [(EF, EF)],
    r: &[EF],
    edit: &mut dyn FnMut(GkrMsg, &mut [EF]),
    t: &mut Transcript,
) -> (LayerProof, Vec<EF>) {
    let lambda = t.sample();
    let coeffs = powers(t.sample(), active.len());
    let mut claim: EF = active
        .iter()
        .zip(&coeffs)
        .map(|(&k, &b)| b * (claims[k].0 + lambda * claims[k].1))
        .sum();
    let mut tables: Vec<Tables<'_>> = active.iter().map(|&k| trees[k].children(d)).collect();
    let mut rounds = Vec::with_capacity(d);
    let mut s = Vec::with_capacity(d + 1);
    // eq(r[j+1..], .) for the current round j; the next one sums out its first variable
    let mut e = if d > 0 { eq_table(&r[1..]) } else { Vec::new() };
    for (j, &rj) in r.iter().enumerate() {
        if j > 0 {
            sum_out_first(&mut e);
        }
        let mut g = round_poly(&tables, &coeffs, &e, lambda, rj, claim);
        edit(GkrMsg::Round { depth: d, round: j }, &mut g);
        t.absorb_ext(&g);
        let x = t.sample();
        claim = interpolate(&g, x);
        for tb in &mut tables {
            tb.fold(x);
        }
        rounds.push(g);
        s.push(x);
    }
    let mut children: Vec<[EF; 4]> = tables.iter().map(Tables::values).collect();
    for (k, c) in children.iter_mut().enumerate() {
        edit(GkrMsg::Children { depth: d, k }, c);
        t.absorb_ext(c);
    }
    let c = t.sample();
    for (&k, ch) in active.iter().zip(&children) {
        claims[k] = reduce(ch, c);
    }
    let mut next = Vec::with_capacity(d + 1);
    next.push(c);
    next.extend_from_slice(&s);
    (LayerProof { rounds, children }, next)
}

/// The round polynomial `[g(0), g(1), g(2)]` of the batched sumcheck, where `g(1)` comes from
/// `(1 - rj) g(0) + rj g(1) = claim` (computed directly in the negligible case `rj = 0`).
fn round_poly(
    tables: &[Tables<'_>],
    coeffs: &[EF],
    e: &[EF],
    lambda: EF,
    rj: EF,
    claim: EF,
) -> RoundPoly {
    let (mut g0, mut gq) = (EF::ZERO, EF::ZERO);
    for (tb, &b) in tables.iter().zip(coeffs) {
        let (a0, aq) = tb.sums(e, lambda);
        g0 += b * a0;
        gq += b * aq;
    }
    let g1 = match rj.try_inverse() {
        Some(inv) => (claim - (EF::ONE - rj) * g0) * inv,
        None => tables
            .iter()
            .zip(coeffs)
            .map(|(tb, &b)| b * tb.sum_at_one(e, lambda))
            .sum(),
    };
    // g(X) = g0 + (g1 - g0 - gq) X + gq X^2
    [g0, g1, g1.double() - g0 + gq.double()]
}

/// The first round polynomial of depth `d` at point `r` for a single segment (tests only).
#[cfg(test)]
pub(super) fn first_round_poly(
    seg: Segment,
    d: usize,
    r: &[EF],
    lambda: EF,
    claim: EF,
) -> RoundPoly {
    let tree = Tree::build(seg);
    round_poly(
        &[tree.children(d)],
        &[EF::ONE],
        &eq_table(&r[1..]),
        lambda,
        r[0],
        claim,
    )
}

/// One segment's fraction tree.
struct Tree {
    vars: usize,
    num: Vec<F>,
    den: Vec<EF>,
    /// Every leaf numerator is `-1` (a looked-up column's): the leaves' products by the
    /// numerators are negations.
    unit: bool,
    /// `layers[d] = (p_d, q_d)` for `d < vars` (the leaves are `num`, `den`).
    layers: Vec<(Vec<EF>, Vec<EF>)>,
}

impl Tree {
    fn build(seg: Segment) -> Self {
        let Segment { num, den } = seg;
        assert_eq!(num.len(), den.len(), "segment num/den lengths differ");
        assert!(
            num.len().is_power_of_two(),
            "segment length {} is not a power of two",
            num.len()
        );
        let vars = num.len().trailing_zeros() as usize;
        let unit = num.iter().all(|&x| x == -F::ONE);
        let mut layers = Vec::with_capacity(vars);
        if vars > 0 {
            layers.push(match unit {
                true => unit_parent_layer(&den),
                false => parent_layer(&num, &den),
            });
            for _ in 1..vars {
                let (p, q) = &layers[layers.len() - 1];
                let next = parent_layer(p, q);
                layers.push(next);
            }
            layers.reverse();
        }
        Self {
            vars,
            num,
            den,
            unit,
            layers,
        }
    }

    fn root(&self) -> (EF, EF) {
        match self.layers.first() {
            Some((p, q)) => (p[0], q[0]),
            None => (EF::from(self.num[0]), self.den[0]),
        }
    }

    /// The layer below depth `d < vars`, split into its two children halves.
    fn children(&self, d: usize) -> Tables<'_> {
        if d + 1 == self.vars && self.unit {
            let (ql, qr) = self.den.split_at(self.den.len() / 2);
            Tables::UnitLeaves([ql, qr])
        } else if d + 1 == self.vars {
            Tables::Leaves(Halves::split(&self.num, &self.den))
        } else {
            let (p, q) = &self.layers[d + 1];
            Tables::Inner(Halves::split(p, q))
        }
    }
}

/// The parent layer: `p[j] = pL qR + pR qL`, `q[j] = qL qR` with `L = j`, `R = j + len/2`.
fn parent_layer<T: Field>(p: &[T], q: &[EF]) -> (Vec<EF>, Vec<EF>)
where
    EF: ExtensionField<T>,
{
    let h = p.len() / 2;
    let (pl, pr) = p.split_at(h);
    let (ql, qr) = q.split_at(h);
    (pl, pr, ql, qr)
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|(&pl, &pr, &ql, &qr)| (qr * pl + ql * pr, ql * qr))
        .unzip()
}

/// [`parent_layer`] for numerators that are all `-1`: `p[j] = -(qL + qR)`.
fn unit_parent_layer(q: &[EF]) -> (Vec<EF>, Vec<EF>) {
    let (ql, qr) = q.split_at(q.len() / 2);
    (ql, qr)
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|(&ql, &qr)| (-(ql + qr), ql * qr))
        .unzip()
}

/// The children of a layer as four MLEs over the parent index: `pL = p[..half]`,
/// `pR = p[half..]` (same for `q`).
#[derive(Clone, Copy)]
struct Halves<'a, T> {
    pl: &'a [T],
    pr: &'a [T],
    ql: &'a [EF],
    qr: &'a [EF],
}

impl<'a, T> Halves<'a, T> {
    fn split(p: &'a [T], q: &'a [EF]) -> Self {
        let (pl, pr) = p.split_at(p.len() / 2);
        let (ql, qr) = q.split_at(q.len() / 2);
        Self { pl, pr, ql, qr }
    }
}

/// One active segment's sumcheck tables: borrowed from its tree until the first fold.
enum Tables<'a> {
    Leaves(Halves<'a, F>),
    /// Leaves whose numerators are all `-1`: only the denominators' halves `[qL, qR]`.
    UnitLeaves([&'a [EF]; 2]),
    Inner(Halves<'a, EF>),
    Folded([Vec<EF>; 4]),
    /// [`Tables::UnitLeaves`] folded: the numerators stay `-1`.
    UnitFolded([Vec<EF>; 2]),
}

impl Tables<'_> {
    fn sums(&self, e: &[EF], lambda: EF) -> (EF, EF) {
        match self {
            Self::Leaves(h) => round_sums(h, e, lambda),
            Self::UnitLeaves([ql, qr]) => unit_round_sums(ql, qr, e, lambda),
            Self::Inner(h) => round_sums(h, e, lambda),
            Self::Folded([pl, pr, ql, qr]) => round_sums(&Halves { pl, pr, ql, qr }, e, lambda),
            Self::UnitFolded([ql, qr]) => unit_round_sums(ql, qr, e, lambda),
        }
    }

    fn sum_at_one(&self, e: &[EF], lambda: EF) -> EF {
        match self {
            Self::Leaves(h) => sum_at_one(h, e, lambda),
            Self::UnitLeaves([ql, qr]) => unit_sum_at_one(ql, qr, e, lambda),
            Self::Inner(h) => sum_at_one(h, e, lambda),
            Self::Folded([pl, pr, ql, qr]) => sum_at_one(&Halves { pl, pr, ql, qr }, e, lambda),
            Self::UnitFolded([ql, qr]) => unit_sum_at_one(ql, qr, e, lambda),
        }
    }

    fn fold(&mut self, r: EF) {
        let folded = match self {
            Self::Leaves(h) => fold_halves(h, r),
            Self::Inner(h) => fold_halves(h, r),
            Self::UnitLeaves([ql, qr]) => {
                *self = Self::UnitFolded([fold_lifted(ql, r), fold_lifted(qr, r)]);
                return;
            }
            Self::Folded(v) => return v.iter_mut().for_each(|t| fold_first(t, r)),
            Self::UnitFolded(v) => return v.iter_mut().for_each(|t| fold_first(t, r)),
        };
        *self = Self::Folded(folded);
    }

    /// `[pL, pR, qL, qR]` once every variable is bound (each table has one entry).
    fn values(&self) -> [EF; 4] {
        match self {
            Self::Leaves(h) => [h.pl[0].into(), h.pr[0].into(), h.ql[0], h.qr[0]],
            Self::UnitLeaves([ql, qr]) => [-EF::ONE, -EF::ONE, ql[0], qr[0]],
            Self::Inner(h) => [h.pl[0], h.pr[0], h.ql[0], h.qr[0]],
            Self::Folded(v) => [v[0][0], v[1][0], v[2][0], v[3][0]],
            Self::UnitFolded([ql, qr]) => [-EF::ONE, -EF::ONE, ql[0], qr[0]],
        }
    }
}

/// `(sum_i e[i] F_i(0), sum_i e[i] F_i'')` where, with `a(X) = a[i] + X (a[i+m] - a[i])`
/// for each table, `F_i(X) = pL qR + pR qL + lambda qL qR` and `F_i''` is its `X^2`
/// coefficient (`m = e.len()`, tables of length `2m`).
fn round_sums<T: Field>(h: &Halves<'_, T>, e: &[EF], lambda: EF) -> (EF, EF)
where
    EF: ExtensionField<T>,
{
    let m = e.len();
    let (pl0, pl1) = h.pl.split_at(m);
    let (pr0, pr1) = h.pr.split_at(m);
    let (ql0, ql1) = h.ql.split_at(m);
    let (qr0, qr1) = h.qr.split_at(m);
    (e, pl0, pr0, ql0, qr0, pl1, pr1, ql1, qr1)
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .fold(
            || (EF::ZERO, EF::ZERO),
            |(a0, aq), (&e, &pl0, &pr0, &ql0, &qr0, &pl1, &pr1, &ql1, &qr1)| {
                let f0 = qr0 * pl0 + ql0 * (lambda * qr0 + pr0);
                let (dpl, dpr, dql, dqr) = (pl1 - pl0, pr1 - pr0, ql1 - ql0, qr1 - qr0);
                let fq = dqr * dpl + dql * (lambda * dqr + dpr);
                (a0 + e * f0, aq + e * fq)
            },
        )
        .reduce(|| (EF::ZERO, EF::ZERO), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// [`round_sums`] with `pL = pR = -1`: `F(X) = lambda qL qR - qL - qR`, whose `X^2`
/// coefficient is `lambda dqL dqR`.
fn unit_round_sums(ql: &[EF], qr: &[EF], e: &[EF], lambda: EF) -> (EF, EF) {
    let m = e.len();
    let (ql0, ql1) = ql.split_at(m);
    let (qr0, qr1) = qr.split_at(m);
    (e, ql0, qr0, ql1, qr1)
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .fold(
            || (EF::ZERO, EF::ZERO),
            |(a0, aq), (&e, &ql0, &qr0, &ql1, &qr1)| {
                let f0 = lambda * ql0 * qr0 - ql0 - qr0;
                let fq = lambda * (ql1 - ql0) * (qr1 - qr0);
                (a0 + e * f0, aq + e * fq)
            },
        )
        .reduce(|| (EF::ZERO, EF::ZERO), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// [`sum_at_one`] with `pL = pR = -1`.
fn unit_sum_at_one(ql: &[EF], qr: &[EF], e: &[EF], lambda: EF) -> EF {
    let m = e.len();
    (e, &ql[m..], &qr[m..])
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|(&e, &ql, &qr)| e * (lambda * ql * qr - ql - qr))
        .sum()
}

/// `sum_i e[i] F_i(1)` (see [`round_sums`]).
fn sum_at_one<T: Field>(h: &Halves<'_, T>, e: &[EF], lambda: EF) -> EF
where
    EF: ExtensionField<T>,
{
    let m = e.len();
    let (pl, pr, ql, qr) = (&h.pl[m..], &h.pr[m..], &h.ql[m..], &h.qr[m..]);
    (e, pl, pr, ql, qr)
        .into_par_iter()
        .with_min_len(MIN_LEN)
        .map(|(&e, &pl, &pr, &ql, &qr)| e * (qr * pl + ql * (lambda * qr + pr)))
        .sum()
}

/// Binds the first variable of each of the four tables at `r` into new tables.
fn fold_halves<T: Field>(h: &Halves<'_, T>, r: EF) -> [Vec<EF>; 4]
where
    EF: ExtensionField<T>,
{
    [
        fold_lifted(h.pl, r),
        fold_lifted(h.pr, r),
        fold_lifted::<EF>(h.ql, r),
        fold_lifted::<EF>(h.qr, r),
    ]
}
