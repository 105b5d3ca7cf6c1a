//! The security level of a proof for a verifying key, and the assumption behind it.
//!
//! A cheating prover wins if any one part fails, so the level is the union bound over the
//! parts: `-log2(sum of their error probabilities)`, not the weakest part alone. The parts are
//! the WHIR openings (their own analysis, `zkml_proof::pcs::security`) and the interactive
//! part: every sumcheck round, zero-check, batching challenge and the logup fingerprint, each a
//! Schwartz-Zippel term `degree / |EF|`, multiplied by the list sizes of the commitments (a
//! list-decoded commitment lets a prover pick among that many polynomials).

use std::fmt;

use zkml_proof::pcs;

use crate::keys::VerifyingKey;
use crate::layout::Layout;

/// Bits of the challenge field (cubic extension of Goldilocks).
const CHALLENGE_BITS: f64 = 191.0;

/// Security of one proof (one sample; batches only add claims to the same two openings).
#[derive(Clone, Debug)]
pub struct Security {
    /// The level: the union bound over the parts below.
    pub bits: f64,
    /// The witness opening (WHIR).
    pub witness_opening_bits: f64,
    /// The weakest weight opening (infinite for a model without weights).
    pub weight_opening_bits: f64,
    /// Sumchecks, logup-GKR and lookup challenges, after the commitments' list-size loss.
    pub interactive_bits: f64,
    pub assumption: &'static str,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} bits (union bound of: openings {:.0}/{:.0}, sumcheck+lookups {:.0}) under {} with Poseidon2 and Keccak-f as random oracles",
            self.bits,
            self.witness_opening_bits,
            self.weight_opening_bits,
            self.interactive_bits,
            self.assumption
        )
    }
}

/// `-log2(sum_i 2^-bits_i)`: the level of a protocol that fails when any part fails.
pub fn union_bits(parts: &[f64]) -> f64 {
    let error: f64 = parts.iter().map(|&b| (-b).exp2()).sum();
    -error.log2()
}

/// The security level of proofs for `vk` (with `samples` samples per proof).
pub fn security(vk: &VerifyingKey, samples: usize) -> Security {
    let layout = Layout::new(vk, samples);
    let layers = layout.layers.len();
    // an upper bound on the claims the witness opening receives (fewer claims only help): a
    // column is claimed at most at its lookup leaf, its layer's check, and as the next input
    let witness_claims = 3 * layout.columns.len();
    let witness = pcs::security(&layout.commit_shape(), witness_claims);
    // a public-weights key's weights are not opened
    let opened = match vk.public_weights {
        Some(_) => Vec::new(),
        None => vk.weight_shapes(),
    };
    let weight_reports: Vec<pcs::SecurityReport> = opened
        .iter()
        .map(|shape| pcs::security(shape, 2 * layers))
        .collect();
    let weight_bits: Vec<f64> = weight_reports.iter().map(|r| r.bits).collect();
    let list: f64 = witness.log2_list_size.max(0.0)
        + weight_reports
            .iter()
            .map(|r| r.log2_list_size.max(0.0))
            .sum::<f64>();
    let interactive_bits = CHALLENGE_BITS - schwartz_zippel_terms(&layout).log2() - list;
    let mut parts = vec![witness.bits, interactive_bits];
    parts.extend(&weight_bits);
    Security {
        bits: union_bits(&parts),
        witness_opening_bits: witness.bits,
        weight_opening_bits: weight_bits.iter().copied().fold(f64::INFINITY, f64::min),
        interactive_bits,
        assumption: witness.assumption,
    }
}

/// The sum of the Schwartz-Zippel numerators (degree times rounds) of every random challenge of
/// a proof with `layout`; the interactive error is this over `|EF|`.
pub fn schwartz_zippel_terms(layout: &Layout) -> f64 {
    let sv = layout.sample_vars;
    let mut terms = 0usize;
    for shape in &layout.layers {
        terms += shape.op.kind().sz_terms(shape, sv);
    }
    // one GKR tree per block of packed segments
    let blocks: Vec<usize> = layout.lookup_groups().iter().map(|g| g.vars).collect();
    let depth = blocks.iter().copied().max().unwrap_or(0);
    for d in 0..depth {
        let active = blocks.iter().filter(|&&n| n > d).count();
        // lambda, the beta^i batching of the active trees, d rounds of degree 3, and the
        // line through the two children
        terms += 1 + active.saturating_sub(1) + 3 * d + 1;
    }
    // the logup fingerprint: sum_i 1/(alpha - a_i - beta b_i - gamma id) is a rational
    // function whose numerator has total degree at most 2 per leaf
    let leaves: usize = blocks.iter().map(|&n| 1usize << n).sum();
    terms += 2 * leaves;
    terms as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::setup;
    use crate::testing::{Spec, cnn, model};
    use zkml_model::BatchDim;

    #[test]
    fn union_bound_adds_the_error_probabilities() {
        assert!((union_bits(&[100.0, 100.0]) - 99.0).abs() < 1e-9);
        assert!((union_bits(&[100.0, 100.0, 100.0, 100.0]) - 98.0).abs() < 1e-9);
        assert!((union_bits(&[100.0, f64::INFINITY]) - 100.0).abs() < 1e-9);
        // a much stronger part barely matters
        let b = union_bits(&[100.0, 150.0]);
        assert!(b <= 100.0 && b > 99.999, "{b}");
    }

    #[test]
    fn terms_count_every_round_at_its_degree() {
        // one dense layer 4 -> 2, one sample: requant 4*1, dense 2*2; tables and lookups below
        let vk = setup(model(&[4, 2], BatchDim::Dynamic, 3)).unwrap().vk;
        let layout = Layout::new(&vk, 1);
        let layer = 4 + 2 * 2;
        let blocks: Vec<usize> = layout.lookup_groups().iter().map(|g| g.vars).collect();
        let depth = *blocks.iter().max().unwrap();
        let gkr: usize = (0..depth)
            .map(|d| {
                let active = blocks.iter().filter(|&&n| n > d).count();
                1 + (active - 1) + 3 * d + 1
            })
            .sum();
        let leaves: usize = layout.segment_vars().iter().map(|&n| 1 << n).sum();
        let expected = (layer + gkr + 2 * leaves) as f64;
        assert_eq!(schwartz_zippel_terms(&layout), expected);
    }

    #[test]
    fn a_max_pool_counts_its_product_degree() {
        let pool = |k: usize| {
            let specs = [Spec::Pool([k, k], [1, 1], [0; 4])];
            let vk = setup(cnn([1, 7, 7], &specs, BatchDim::Dynamic, 5))
                .unwrap()
                .vk;
            schwartz_zippel_terms(&Layout::new(&vk, 1))
        };
        // out 6x6 (k = 2) and 5x5 (k = 3): the same variables, a higher product degree
        assert!(pool(3) > pool(2));
    }

    #[test]
    fn the_level_is_below_every_part() {
        let vk = setup(model(&[12, 9, 4], BatchDim::Dynamic, 1)).unwrap().vk;
        let s = security(&vk, 1);
        assert!(s.bits < s.witness_opening_bits);
        assert!(s.bits < s.weight_opening_bits);
        assert!(s.bits < s.interactive_bits);
        let parts = [
            s.witness_opening_bits,
            s.weight_opening_bits,
            s.interactive_bits,
        ];
        assert!((s.bits - union_bits(&parts)).abs() < 1e-9);
    }
}
