//! The logup-GKR verifier.

use p3_field::{Field, PrimeCharacteristicRing};

use super::{GkrError, GkrProof, LeafClaim, absorb_shape, combine, interpolate, powers, reduce};
use crate::field::EF;
use crate::transcript::Transcript;

/// Verifies a batched logup-GKR proof that `sum_k sum_i p_k[i] / q_k[i] = 0`, and returns,
/// in segment order, the claims on each segment's leaf MLEs.
///
/// `segment_vars[k] = n_k` (segment `k` has `2^{n_k}` leaves) comes from the statement, never
/// from the proof. The whole shape of the proof (segment count, layer count, rounds per layer,
/// children per layer) is checked against it before anything is read or absorbed; the round
/// polynomials' degree is fixed by their type. The verifier never panics.
///
/// # Errors
///
/// - [`GkrError::WrongSegmentCount`], [`GkrError::WrongLayerCount`],
///   [`GkrError::WrongRoundCount`], [`GkrError::WrongChildCount`]: the proof's shape does not
///   match `segment_vars`;
/// - [`GkrError::RootDenominatorZero`]: a root denominator is zero;
/// - [`GkrError::NonZeroSum`]: the root fractions do not sum to zero;
/// - [`GkrError::RoundMismatch`]: a sumcheck round is inconsistent with the running claim;
/// - [`GkrError::LayerClaimMismatch`]: the children values contradict a layer's sumcheck.
///
/// # Soundness
///
/// A success only means: if every returned [`LeafClaim`] is true (the segment's leaf MLEs
/// take the values `num`, `den` at `point`), then, except with negligible probability, the
/// sum of fractions is zero and every leaf denominator is nonzero. The caller must check each
/// `LeafClaim` against the columns it knows or has committed, and must have bound those
/// columns (and sampled `alpha` after them) in `t` before calling.
pub fn verify(
    segment_vars: &[usize],
    proof: &GkrProof,
    t: &mut Transcript,
) -> Result<Vec<LeafClaim>, GkrError> {
    check_shape(segment_vars, proof)?;
    absorb_shape(t, segment_vars);
    for &(p, q) in &proof.roots {
        t.absorb_ext(&[p, q]);
    }
    check_roots(&proof.roots)?;

    // `claims[k]` is segment k's claim at `points[min(d, n_k)]`.
    let mut claims: Vec<(EF, EF)> = proof.roots.clone();
    let mut points: Vec<Vec<EF>> = vec![Vec::new()];
    for (depth, layer) in proof.layers.iter().enumerate() {
        let active: Vec<usize> = (0..segment_vars.len())
            .filter(|&k| segment_vars[k] > depth)
            .collect();
        let r = &points[depth];
        let lambda = t.sample();
        let coeffs = powers(t.sample(), active.len());
        let mut claim: EF = active
            .iter()
            .zip(&coeffs)
            .map(|(&k, &b)| b * (claims[k].0 + lambda * claims[k].1))
            .sum();
        let mut s = Vec::with_capacity(depth + 1);
        for (round, g) in layer.rounds.iter().enumerate() {
            let rj = r[round];
            if (EF::ONE - rj) * g[0] + rj * g[1] != claim {
                return Err(GkrError::RoundMismatch { depth, round });
            }
            t.absorb_ext(g);
            let x = t.sample();
            claim = interpolate(g, x);
            s.push(x);
        }
        for c in &layer.children {
            t.absorb_ext(c);
        }
        let expected: EF = layer
            .children
            .iter()
            .zip(&coeffs)
            .map(|(c, &b)| b * combine(c, lambda))
            .sum();
        if expected != claim {
            return Err(GkrError::LayerClaimMismatch { depth });
        }
        let c = t.sample();
        for (&k, ch) in active.iter().zip(&layer.children) {
            claims[k] = reduce(ch, c);
        }
        let mut next = Vec::with_capacity(depth + 1);
        next.push(c);
        next.extend_from_slice(&s);
        points.push(next);
    }
    Ok(segment_vars
        .iter()
        .zip(claims)
        .map(|(&n, (num, den))| LeafClaim {
            point: points[n].clone(),
            num,
            den,
        })
        .collect())
}

/// Checks the proof's shape against `segment_vars` (before anything is read).
fn check_shape(segment_vars: &[usize], proof: &GkrProof) -> Result<(), GkrError> {
    if proof.roots.len() != segment_vars.len() {
        return Err(GkrError::WrongSegmentCount {
            expected: segment_vars.len(),
            got: proof.roots.len(),
        });
    }
    let depth = segment_vars.iter().copied().max().unwrap_or(0);
    if proof.layers.len() != depth {
        return Err(GkrError::WrongLayerCount {
            expected: depth,
            got: proof.layers.len(),
        });
    }
    for (d, layer) in proof.layers.iter().enumerate() {
        if layer.rounds.len() != d {
            return Err(GkrError::WrongRoundCount {
                depth: d,
                expected: d,
                got: layer.rounds.len(),
            });
        }
        let active = segment_vars.iter().filter(|&&n| n > d).count();
        if layer.children.len() != active {
            return Err(GkrError::WrongChildCount {
                depth: d,
                expected: active,
                got: layer.children.len(),
            });
        }
    }
    Ok(())
}

/// Checks every root denominator is nonzero and the root fractions sum to zero.
fn check_roots(roots: &[(EF, EF)]) -> Result<(), GkrError> {
    // sum p_k / q_k = 0  <=>  sum p_k * prod_{l != k} q_l = 0 (all q nonzero): fold pairwise.
    let mut acc = (EF::ZERO, EF::ONE);
    for (segment, &(p, q)) in roots.iter().enumerate() {
        if q.is_zero() {
            return Err(GkrError::RootDenominatorZero { segment });
        }
        acc = (acc.0 * q + p * acc.1, acc.1 * q);
    }
    if acc.0.is_zero() {
        Ok(())
    } else {
        Err(GkrError::NonZeroSum)
    }
}
