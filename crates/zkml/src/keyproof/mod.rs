//! The key proof: made once at setup and stored in the verifying key, it certifies that the
//! committed weights and biases lie in the ranges the requantization argument assumes, so a
//! verifier trusts nothing about the party that ran setup beyond the key file itself.
//!
//! # Statement
//!
//! For every layer `l` with weights, of padded weight column `W_l` and bias column `b_l` in the
//! weight commitment(s) of the key:
//! - every real weight is in `[-2^(bits-1), 2^(bits-1))` and every weight in the power-of-two
//!   padding is 0: one lookup of the pair `(W_l(i), pad_l(i))` into [`Table::Weight`], whose
//!   rows are `(x, 0)` for `x` in range and `(0, 1)`. `pad_l = 1 - real_l` is public:
//!   `real_l(i) = prod_d [i_d < n_d]` over the tensor's dimensions, and the verifier evaluates
//!   its MLE in O(log) ([`real_mle`]);
//! - every bias of row `o` satisfies `|b(o)| <= M(o) = 2^B(o) - 1` for the key's public per-row
//!   bound `B(o) = bias_bits[l][o]` (rows of the padding: `M = 0`, so padding biases are zero):
//!   `b + M = sum_k 256^k X_k` and `M - b = sum_k 256^k Y_k`, with `K = ceil((max B + 1) / 8)`
//!   limbs each committed in the *key witness* and every limb a byte ([`Table::Limb`] lookups).
//!   Then `x = b + M` is in `[0, 2^(8K))` and `2M - x` too, so `-M <= b <= M`. Both identities
//!   are linear in the MLEs and checked at a random point `r_l` (Schwartz-Zippel), `M(r_l)`
//!   computed by the verifier from the key (key-sized, like the multipliers). The bound is per
//!   row because the multipliers are: with per-row scales one row's large bias comes with a
//!   small multiplier, and a per-layer bound would pair it with another row's large one.
//!
//! The multiplicity columns of both tables live in the key witness too. All lookups form one
//! batched logup-GKR instance. Claims on the weight columns are opened against the key's weight
//! commitments, claims on the limbs and multiplicities against the key witness commitment.
//!
//! # Transcript
//!
//! Its own transcript: the label `zkml key proof`, the key format version, the postcard bytes of
//! every field of the verifying key except the key proof ([`VerifyingKey::statement_bytes`]),
//! the weight commitments, then the key witness commitment; challenges follow. The digest that
//! proofs bind ([`VerifyingKey::digest`]) hashes the same statement bytes: everything the key
//! proof certifies, not the key proof itself, which is checked whenever a key is loaded (any
//! valid key proof certifies the same statement, and hashing 150 KiB of key proof would cost
//! ~10 ms per proof). No circularity: neither hash covers the key proof.
//!
//! # Soundness (what the caller must still check)
//!
//! [`verify`] proves the ranges above. The derived accumulator bound
//! ([`crate::ops::requant::check_derived_bounds`]) is checked on public numbers by
//! [`VerifyingKey::from_bytes`] next to it; both are needed for the requantization argument.

mod prove;
#[cfg(test)]
mod tests;
mod verify;

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F};
use zkml_proof::gkr::GkrProof;
use zkml_proof::pcs::{self, CommitShape, Commitment, OpeningProof};
use zkml_proof::transcript::Transcript;

use crate::keys::VerifyingKey;
use crate::layout::{dims_vars, layer_dims, pow2_vars};
use crate::tables::{LIMB_BITS, Table};

pub use crate::error::KeyProofError;
pub use prove::{KeyTamper, WeightColumns, prove};
pub use verify::verify;

/// The key proof (see the module docs). Lengths are checked against the key before use.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeyProof {
    /// Root of the key witness: multiplicities of [`Table::KEY`], then the bias limbs.
    pub witness_commitment: Commitment,
    /// The batched logup-GKR proof of every lookup.
    pub lookup: GkrProof,
    /// Per layer with weights: `W_l` at its lookup leaf point.
    pub weight_evals: Vec<EF>,
    /// Per limb lookup segment: the limb at its leaf point.
    pub limb_evals: Vec<EF>,
    /// Per table of [`Table::KEY`]: its multiplicities at its leaf point.
    pub mult_evals: Vec<EF>,
    /// Per layer: `b_l(r_l)` and its limbs `L_k(r_l)`.
    pub bias_evals: Vec<EF>,
    pub bias_limb_evals: Vec<Vec<EF>>,
    /// One opening per weight commitment, then the key witness opening.
    pub weight_openings: Vec<OpeningProof>,
    pub witness_opening: OpeningProof,
}

impl PartialEq for KeyProof {
    fn eq(&self, other: &Self) -> bool {
        // openings have no equality of their own: compare the encodings
        postcard::to_allocvec(self).ok() == postcard::to_allocvec(other).ok()
    }
}

/// Format version of the key proof, absorbed first.
pub const KEY_PROOF_VERSION: u64 = 1;

/// One layer with weights, as the key proof sees it.
#[derive(Clone, Debug)]
pub(crate) struct KeyLayer {
    /// Index in the key's layers.
    pub layer: usize,
    /// Index of its weight column (the bias is the next).
    pub column: usize,
    /// Real dimensions of the weight tensor, outermost first (`[O, in dims..]` or `[O, C, KH, KW]`).
    pub dims: Vec<usize>,
    /// Variables of the bias column.
    pub bias_vars: usize,
    /// The public per-row bias bounds `B(o)`: `|b(o)| <= 2^B(o) - 1`.
    pub bias_bits: Vec<u8>,
}

impl KeyLayer {
    /// Limbs of each of `b + M` and `M - b`: `ceil((max B + 1) / 8)`.
    pub fn limbs(&self) -> usize {
        let max = self.bias_bits.iter().copied().max().unwrap_or(0);
        (usize::from(max) + 1).div_ceil(LIMB_BITS as usize)
    }

    /// The column `M(o) = 2^B(o) - 1`, zero-padded to `2^bias_vars` rows.
    pub fn bias_max(&self) -> Vec<F> {
        let mut m = vec![F::ZERO; 1 << self.bias_vars];
        for (slot, &b) in m.iter_mut().zip(&self.bias_bits) {
            *slot = F::from_u64((1u64 << b.min(62)) - 1);
        }
        m
    }
}

/// A lookup segment of the key proof.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    /// `(W_l, pad_l)` into [`Table::Weight`], for key layer `i`.
    Weight(usize),
    /// `(L_k, 0)` into [`Table::Limb`], for key layer `i`: limbs `0..K` of `b + M`, then
    /// `K..2K` of `M - b`.
    Limb { i: usize, k: usize },
}

/// What both sides derive from the key.
pub(crate) struct KeyShape {
    pub bits: u32,
    pub layers: Vec<KeyLayer>,
    pub segments: Vec<Seg>,
    /// Variables of every weight column.
    pub weight_vars: Vec<usize>,
}

impl KeyShape {
    /// The shape of `vk`'s key proof. The caller has checked `vk` (`check_sane`), so
    /// `bias_bits` has one entry per layer with weights.
    pub fn new(vk: &VerifyingKey) -> Self {
        let columns = vk.weight_columns();
        let weight_vars = vk.weight_vars();
        let dims = layer_dims(vk.input_len(), &vk.layers);
        let mut layers = Vec::new();
        for (l, ((in_dims, _), col)) in dims.iter().zip(&columns).enumerate() {
            let Some(column) = *col else { continue };
            let layer = &vk.layers[l];
            let dims = (layer.op.kind())
                .weight_dims(layer.n_out, in_dims)
                .unwrap_or_default();
            let bias_bits = vk.bias_bits.get(layers.len()).cloned().unwrap_or_default();
            layers.push(KeyLayer {
                layer: l,
                column,
                bias_vars: pow2_vars(dims[0]),
                dims,
                bias_bits,
            });
        }
        let mut segments: Vec<Seg> = (0..layers.len()).map(Seg::Weight).collect();
        for (i, kl) in layers.iter().enumerate() {
            segments.extend((0..2 * kl.limbs()).map(|k| Seg::Limb { i, k }));
        }
        Self {
            bits: vk.bits,
            layers,
            segments,
            weight_vars,
        }
    }

    /// Variables of every GKR segment: the lookups, then the tables of [`Table::KEY`].
    pub fn segment_vars(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .segments
            .iter()
            .map(|s| match *s {
                Seg::Weight(i) => self.weight_vars[self.layers[i].column],
                Seg::Limb { i, .. } => self.layers[i].bias_vars,
            })
            .collect();
        v.extend(Table::KEY.iter().map(|t| t.num_vars(self.bits)));
        v
    }

    /// Columns of the key witness: the multiplicities of [`Table::KEY`], then per layer its
    /// limbs. Returns the shape and the index of limb `k` of layer `i` (`limb_column`).
    pub fn witness_shape(&self) -> CommitShape {
        let mut column_vars: Vec<usize> =
            Table::KEY.iter().map(|t| t.num_vars(self.bits)).collect();
        for kl in &self.layers {
            column_vars.extend(std::iter::repeat_n(kl.bias_vars, 2 * kl.limbs()));
        }
        CommitShape { column_vars }
    }

    /// Index in the key witness of limb `k` (of `2K`) of key layer `i`.
    pub fn limb_column(&self, i: usize, k: usize) -> usize {
        let before: usize = self.layers[..i].iter().map(|kl| 2 * kl.limbs()).sum();
        Table::KEY.len() + before + k
    }

    /// The number of limb segments.
    pub fn limb_segments(&self) -> usize {
        self.segments.len() - self.layers.len()
    }
}

/// Binds the key (without its proof) and its weight commitments.
pub(crate) fn bind(t: &mut Transcript, vk: &VerifyingKey) {
    t.absorb_bytes(b"zkml key proof");
    t.absorb_u64(KEY_PROOF_VERSION);
    t.absorb_bytes(&vk.statement_bytes());
    for (shape, c) in vk.weight_shapes().iter().zip(&vk.weight_commitments) {
        pcs::observe(shape, c, t);
    }
}

/// Per bias, the smallest `B` with `|b| < 2^B` (0 for a zero bias).
pub fn bias_bits(bias: &[i64]) -> Vec<u8> {
    bias.iter()
        .map(|b| (u64::BITS - b.unsigned_abs().leading_zeros()) as u8)
        .collect()
}

/// MLE of `[j < n]` over `vars` variables (MSB-first) at `z`, in O(vars): `j < n` iff at the
/// first bit where they differ `n` has 1 and `j` has 0.
pub fn less_than_mle(n: usize, z: &[EF]) -> EF {
    let vars = z.len();
    if vars >= usize::BITS as usize || n >= 1 << vars {
        return if n == 0 { EF::ZERO } else { EF::ONE };
    }
    let (mut sum, mut prefix) = (EF::ZERO, EF::ONE);
    for (k, &zk) in z.iter().enumerate() {
        if (n >> (vars - 1 - k)) & 1 == 1 {
            sum += prefix * (EF::ONE - zk);
            prefix *= zk;
        } else {
            prefix *= EF::ONE - zk;
        }
    }
    sum
}

/// MLE of the real-cell indicator of a tensor of real dimensions `dims`, each padded to a power
/// of two and laid out outermost first, at `z` (`sum_d pow2_vars(dims[d])` coordinates).
pub fn real_mle(dims: &[usize], z: &[EF]) -> EF {
    let mut rest = z;
    let mut out = EF::ONE;
    for (&n, &v) in dims.iter().zip(&dims_vars(dims)) {
        let (head, tail) = rest.split_at(v.min(rest.len()));
        out *= less_than_mle(n, head);
        rest = tail;
    }
    out
}

/// `sum_k 256^k limbs[k]`.
pub(crate) fn recompose(limbs: &[EF]) -> EF {
    limbs
        .iter()
        .rev()
        .fold(EF::ZERO, |acc, &l| acc * F::from_u64(1 << LIMB_BITS) + l)
}
