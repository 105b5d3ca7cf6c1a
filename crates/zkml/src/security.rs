//! The security level of a proof for a verifying key, and the assumption behind it.

use std::fmt;

use zkml_proof::pcs;

use crate::keys::VerifyingKey;
use crate::layout::Layout;

/// Bits of the challenge field (cubic extension of Goldilocks).
const CHALLENGE_BITS: f64 = 191.0;

/// Security of one proof (one sample; batches only add claims to the same two openings).
#[derive(Clone, Debug)]
pub struct Security {
    /// The level: the weakest of the parts below.
    pub bits: f64,
    /// The witness and weight openings (WHIR).
    pub witness_opening_bits: f64,
    pub weight_opening_bits: f64,
    /// Sumchecks, logup-GKR and lookup challenges, after the commitments' list-size loss.
    pub interactive_bits: f64,
    pub assumption: &'static str,
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} bits (openings {:.0}/{:.0}, sumcheck+lookups {:.0}) under {} with Poseidon2 as a random oracle",
            self.bits,
            self.witness_opening_bits,
            self.weight_opening_bits,
            self.interactive_bits,
            self.assumption
        )
    }
}

/// The security level of proofs for `vk` (with `samples` samples per proof).
pub fn security(vk: &VerifyingKey, samples: usize) -> Security {
    let layout = Layout::new(vk, samples);
    let layers = layout.layers.len();
    // an upper bound on the claims the witness opening receives (fewer claims only help): a
    // column is claimed at most at its lookup leaf, its layer's check, and as the next input
    let witness_claims = 3 * layout.columns.len();
    let witness = pcs::security(&layout.commit_shape(), witness_claims);
    let weight_reports: Vec<pcs::SecurityReport> = vk
        .weight_shapes()
        .iter()
        .map(|shape| pcs::security(shape, 2 * layers))
        .collect();
    let weight_bits = weight_reports
        .iter()
        .map(|r| r.bits)
        .fold(f64::INFINITY, f64::min);
    let weight_list: f64 = weight_reports
        .iter()
        .map(|r| r.log2_list_size.max(0.0))
        .sum();
    // Schwartz-Zippel terms: every sumcheck round (degree <= 3), the GKR layers, and the
    // logup fingerprint (degree up to the number of lookups plus table rows).
    let vars: usize = layout.segment_vars().iter().copied().max().unwrap_or(0);
    let rounds: usize = layout
        .layers
        .iter()
        .map(|l| 2 * (layout.sample_vars + l.out_vars) + l.in_vars)
        .sum::<usize>()
        + vars * vars;
    let lookups: usize = layout.segment_vars().iter().map(|&v| 1usize << v).sum();
    let terms = (3 * rounds + 2 * lookups) as f64;
    let list = witness.log2_list_size.max(0.0) + weight_list;
    let interactive_bits = CHALLENGE_BITS - terms.log2() - list;
    Security {
        bits: witness.bits.min(weight_bits).min(interactive_bits),
        witness_opening_bits: witness.bits,
        weight_opening_bits: weight_bits,
        interactive_bits,
        assumption: witness.assumption,
    }
}
