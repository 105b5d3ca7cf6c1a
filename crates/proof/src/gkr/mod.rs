//! Batched fractional-sum GKR ("logup-GKR", Papini-Haböck) over several trees of different
//! depths, proving `sum_k sum_i num_k[i] / den_k[i] = 0`.
//!
//! # Trees and conventions
//!
//! Segment `k` has `2^{n_k}` leaves (`n_k >= 0`). Its tree has, at depth `d` (`0 <= d <= n_k`),
//! a layer of `2^d` fractions `(p_d[j], q_d[j])`; depth `n_k` is the leaves and depth 0 the
//! root. A parent combines the children `j` and `j + 2^d` of the layer below:
//!
//! ```text
//! p_d[j] = p_{d+1}[j] * q_{d+1}[j + 2^d] + p_{d+1}[j + 2^d] * q_{d+1}[j]
//! q_d[j] = q_{d+1}[j] * q_{d+1}[j + 2^d]
//! ```
//!
//! so, as MLEs in the crate's MSB-first order, the child bit is the FIRST (most significant)
//! variable of layer `d + 1`: `V_{d+1}(b, x)` with `b` the child bit and `x` the parent index.
//! Every point in this module is MSB-first, and [`LeafClaim::point`] can be fed directly to
//! [`crate::mle::evaluate`] on the segment's leaf tables.
//!
//! # Protocol
//!
//! 1. The transcript absorbs a label, the number of segments and every `n_k`, then every root
//!    `(p_k, q_k)`. The verifier checks each `q_k != 0` and `sum_k p_k / q_k == 0`.
//! 2. All trees share one point per depth (`r_0 = []`). At depth `d = 0, 1, ..`, the segments
//!    with `n_k > d` are *active*; they hold claims `(P_k, Q_k) = (p_d, q_d)(r_d)`. The verifier
//!    samples `lambda`, then `beta`, and the active segments (the `i`-th with coefficient
//!    `beta^i`) run ONE sumcheck over `d` variables of
//!    `sum_x eq(r_d, x) * sum_i beta^i [pL qR + pR qL + lambda qL qR](x)` where
//!    `pL(x) = p_{d+1}(0, x)`, `pR(x) = p_{d+1}(1, x)` (same for `q`), with claimed sum
//!    `sum_i beta^i (P_k + lambda Q_k)`.
//! 3. Round `j` binds the `j`-th (most significant remaining) variable. Following Gruen, the
//!    eq factor `eq(r_d[j], X)` is kept out of the message: the prover sends the degree-2
//!    polynomial `g_j(X) = sum_{x'} eq(r_d[j+1..], x') F(s_0..s_{j-1}, X, x')` as its values
//!    `[g_j(0), g_j(1), g_j(2)]` (type [`RoundPoly`]); the verifier checks
//!    `(1 - r_d[j]) g_j(0) + r_d[j] g_j(1) == claim`, samples `s_j`, and sets
//!    `claim = g_j(s_j)`. After the `d` rounds the claim must equal the batched combination of
//!    the children values (no eq factor left), which the prover sends as
//!    `[pL, pR, qL, qR](s)` per active segment (type [`LayerProof::children`]).
//! 4. The verifier samples `c`, sets `r_{d+1} = (c, s_0, .., s_{d-1})` and each active claim to
//!    `(pL + c (pR - pL), qL + c (qR - qL))`. A segment with `n_k = d + 1` stops there: its
//!    claim is its [`LeafClaim`].
//!
//! Every prover message is absorbed before the next challenge is sampled.
//!
//! # Soundness (what the caller must still check)
//!
//! [`verify`] only reduces the statement to the returned [`LeafClaim`]s. The caller must:
//! - check each `LeafClaim` (`num`, `den` at `point`) against the MLEs it knows or has
//!   committed (e.g. `num = -1` for a lookup column, `den = alpha - combined columns`);
//! - take `segment_vars` from the statement, never from the prover;
//! - sample `alpha` (and any column-combining challenges) only after the columns are bound to
//!   the transcript.
//!
//! A nonzero root denominator means every leaf denominator is nonzero (the root denominator is
//! their product), so the fractions are well defined and the checked sum is the real one.

mod error;
mod prove;
#[cfg(test)]
mod tests;
mod verify;

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};

use crate::field::{EF, F};
use crate::transcript::Transcript;

pub use error::GkrError;
pub use prove::{GkrMsg, prove, prove_deviating};
pub use verify::verify;

/// One segment: numerators (base field: `-1` for a lookup column, multiplicities for a table)
/// and denominators (`alpha - combined value`), both of length `2^n` (`n >= 0`).
#[derive(Clone, Debug)]
pub struct Segment {
    /// Leaf numerators `p_k`.
    pub num: Vec<F>,
    /// Leaf denominators `q_k`.
    pub den: Vec<EF>,
}

/// The claim left for one segment: its leaf MLEs evaluated at `point` (length `n_k`,
/// MSB-first). The caller must check `num`/`den` against what it knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafClaim {
    /// The evaluation point, MSB-first (coordinate 0 = most significant bit of the leaf index).
    pub point: Vec<EF>,
    /// `p_k(point)`.
    pub num: EF,
    /// `q_k(point)`.
    pub den: EF,
}

/// One sumcheck round: the degree-2 polynomial `g_j` as `[g_j(0), g_j(1), g_j(2)]`.
pub type RoundPoly = [EF; 3];

/// The messages of one depth `d`: `d` sumcheck rounds, then `[pL, pR, qL, qR]` at the
/// sumcheck point for every active segment (those with `n_k > d`), in segment order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerProof {
    /// One polynomial per round (`d` rounds at depth `d`).
    pub rounds: Vec<RoundPoly>,
    /// `[pL, pR, qL, qR]` per active segment.
    pub children: Vec<[EF; 4]>,
}

/// A batched logup-GKR proof.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GkrProof {
    /// Root fraction `(p_k, q_k)` of every segment, in segment order.
    pub roots: Vec<(EF, EF)>,
    /// One entry per depth `0..max_k n_k`.
    pub layers: Vec<LayerProof>,
}

/// Segments laid end to end in one block of `2^vars` leaves (see [`pack`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    /// The block has `2^vars` leaves.
    pub vars: usize,
    /// `(segment, offset)` in placement order: the segment's leaves start at `offset`, a
    /// multiple of their count.
    pub members: Vec<(usize, usize)>,
}

/// Packs segments of `2^{n_k}` leaves (`segment_vars[k] = n_k`) into as few power-of-two
/// blocks as their total allows, one per set bit of `sum_k 2^{n_k}`, with no padding: the
/// segments in order of decreasing size (ties by index) fill the largest block, then the next.
/// Sizes are powers of two taken largest first, so every offset is a multiple of its
/// segment's size and each block fills exactly.
///
/// A GKR over the blocks proves the same sum as one over the segments, with fewer trees: a
/// block's leaf MLE at `point` is `sum eq(point[..vars - n_k], offset / 2^{n_k}) *
/// segment_k(point[vars - n_k..])` over its members ([`member_at`]).
pub fn pack(segment_vars: &[usize]) -> Vec<Group> {
    let mut order: Vec<usize> = (0..segment_vars.len()).collect();
    order.sort_by_key(|&k| std::cmp::Reverse(segment_vars[k]));
    let mut left: usize = segment_vars.iter().map(|&n| 1usize << n).sum();
    let mut groups: Vec<Group> = Vec::new();
    let mut filled = 0usize;
    for k in order {
        if filled == 0 {
            groups.push(Group {
                vars: left.ilog2() as usize,
                members: Vec::new(),
            });
        }
        let Some(group) = groups.last_mut() else {
            continue;
        };
        let size = 1usize << segment_vars[k];
        group.members.push((k, filled));
        filled += size;
        left -= size;
        if filled == 1 << group.vars {
            filled = 0;
        }
    }
    groups
}

/// A member's part of its block at the block's point `point`: the weight
/// `eq(point[..len - n], offset / 2^n)` (the prefix bits select the member's place, most
/// significant first) and the member's own point, the last `n` coordinates.
///
/// # Panics
///
/// If `n > point.len()` (a member is never larger than its block).
pub fn member_at(point: &[EF], n: usize, offset: usize) -> (EF, &[EF]) {
    let (prefix, own) = point.split_at(point.len() - n);
    let place = offset >> n;
    let weight = prefix
        .iter()
        .rev()
        .enumerate()
        .map(|(bit, &z)| match (place >> bit) & 1 {
            1 => z,
            _ => EF::ONE - z,
        })
        .product();
    (weight, own)
}

/// Each segment's `(weight, point)` in its block ([`member_at`]), in segment order, given
/// each block's point (in the order of `groups`).
pub fn unpack(groups: &[Group], segment_vars: &[usize], points: &[Vec<EF>]) -> Vec<(EF, Vec<EF>)> {
    let mut out = vec![(EF::ZERO, Vec::new()); segment_vars.len()];
    for (group, point) in groups.iter().zip(points) {
        for &(k, offset) in &group.members {
            let (weight, own) = member_at(point, segment_vars[k], offset);
            out[k] = (weight, own.to_vec());
        }
    }
    out
}

/// Absorbs the domain label and the shape (number of segments, every `n_k`).
fn absorb_shape(t: &mut Transcript, segment_vars: &[usize]) {
    t.absorb_bytes(b"zkml/logup-gkr/v1");
    t.absorb_u64(segment_vars.len() as u64);
    for &n in segment_vars {
        t.absorb_u64(n as u64);
    }
}

/// `[beta^0, beta^1, ..]` of length `n`.
fn powers(beta: EF, n: usize) -> Vec<EF> {
    let mut out = Vec::with_capacity(n);
    let mut cur = EF::ONE;
    for _ in 0..n {
        out.push(cur);
        cur *= beta;
    }
    out
}

/// The value at `x` of the degree-2 polynomial given by its values at 0, 1, 2.
fn interpolate(g: &RoundPoly, x: EF) -> EF {
    let [g0, g1, g2] = *g;
    // g(x) = g0 + x (g1 - g0) + x (x - 1) / 2 * (g2 - 2 g1 + g0)
    let second = g2 - g1.double() + g0;
    g0 + x * (g1 - g0) + (x * (x - EF::ONE)).halve() * second
}

/// `pL qR + pR qL + lambda qL qR` on the children values `[pL, pR, qL, qR]`.
fn combine(c: &[EF; 4], lambda: EF) -> EF {
    let [pl, pr, ql, qr] = *c;
    pl * qr + pr * ql + lambda * ql * qr
}

/// Reduces the two children claims to one at `c`: `(pL + c (pR - pL), qL + c (qR - qL))`.
fn reduce(c: &[EF; 4], r: EF) -> (EF, EF) {
    let [pl, pr, ql, qr] = *c;
    (pl + r * (pr - pl), ql + r * (qr - ql))
}
