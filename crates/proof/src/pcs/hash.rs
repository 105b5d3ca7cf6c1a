//! The commitments' Merkle trees hash with Keccak-f[1600] over canonical 64-bit words:
//!
//! - a leaf (a codeword row) by a sponge of rate 17 words and capacity 8 (512 bits), in
//!   overwrite mode from the zero state;
//! - an inner node by one permutation of its two children's digests (words 0..8), with a tag
//!   in the last capacity word, so no node input is also a leaf input.
//!
//! The first four output words, each reduced into Goldilocks, are the digest.
//!
//! Why Keccak: a 16-element codeword row takes one Keccak-f permutation, about 50 ns a row
//! eight rows at a time with AVX-512, against two width-12 Poseidon2 permutations, about
//! 540 ns; a node 34 against 220 ns (`pcs::tests::hash_widths`). No circuit ever recomputes
//! these hashes, so an arithmetic hash buys nothing here. Collisions cost about 2^128 work: a
//! digest is 256 bits (a word reduced into Goldilocks loses information only when it is at
//! least the modulus, with probability 2^-32).

use p3_field::{PackedValue, PrimeCharacteristicRing, PrimeField64};
use p3_keccak::{KeccakF, VECTOR_LEN};
use p3_symmetric::{
    CryptographicHasher, PaddingFreeSponge, Permutation, PseudoCompressionFunction,
};

use crate::field::F;

/// Words of a digest.
const DIGEST: usize = 4;

/// Keccak-f in overwrite mode without padding: rows of one tree level all have the same
/// length, so the length needs no encoding.
type Sponge = PaddingFreeSponge<KeccakF, 25, 17, DIGEST>;

/// The leaf hash of the commitments' Merkle trees (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct LeafHash;

/// The inner nodes' compression (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct NodeCompress;

/// The last capacity word of a node's state (`b"node"`): a leaf's starts at zero.
const NODE_TAG: u64 = 0x6E6F_6465;

/// A digest's words as field elements.
fn digest(words: [u64; DIGEST]) -> [F; DIGEST] {
    words.map(F::from_u64)
}

/// One row per lane: a field element is one row, a packed value's lanes are as many rows,
/// hashed `VECTOR_LEN` at a time by the vectorized permutation, each exactly as alone.
impl<P: PackedValue<Value = F>> CryptographicHasher<P, [P; DIGEST]> for LeafHash {
    fn hash_iter<I>(&self, input: I) -> [P; DIGEST]
    where
        I: IntoIterator<Item = P>,
    {
        let sponge = Sponge::new(KeccakF);
        if P::WIDTH == 1 {
            let words = input
                .into_iter()
                .map(|p| p.as_slice()[0].as_canonical_u64());
            return digest(sponge.hash_iter(words)).map(|x| P::from_fn(|_| x));
        }
        let rows: Vec<P> = input.into_iter().collect();
        let mut lanes = vec![[F::ZERO; DIGEST]; P::WIDTH];
        for first in (0..P::WIDTH).step_by(VECTOR_LEN) {
            let words = rows.iter().map(|p| {
                let row = p.as_slice();
                core::array::from_fn(|v| row.get(first + v).map_or(0, |x| x.as_canonical_u64()))
            });
            let d: [[u64; VECTOR_LEN]; DIGEST] = sponge.hash_iter(words);
            for (v, lane) in lanes[first..].iter_mut().take(VECTOR_LEN).enumerate() {
                *lane = digest(d.map(|words| words[v]));
            }
        }
        core::array::from_fn(|k| P::from_fn(|lane| lanes[lane][k]))
    }
}

/// `digest(permutation of [left, right, 0, .., NODE_TAG])` per lane.
impl<P: PackedValue<Value = F>> PseudoCompressionFunction<[P; DIGEST], 2> for NodeCompress {
    fn compress(&self, [left, right]: [[P; DIGEST]; 2]) -> [P; DIGEST] {
        // word `k` of the state in `lane` (0 past the last lane)
        let word = |k: usize, lane: usize| {
            let x = if k < DIGEST {
                left[k]
            } else {
                right[k - DIGEST]
            };
            x.as_slice().get(lane).map_or(0, |e| e.as_canonical_u64())
        };
        if P::WIDTH == 1 {
            let mut state = [0u64; 25];
            for (k, w) in state[..2 * DIGEST].iter_mut().enumerate() {
                *w = word(k, 0);
            }
            state[24] = NODE_TAG;
            KeccakF.permute_mut(&mut state);
            let d = digest(core::array::from_fn(|k| state[k]));
            return d.map(|x| P::from_fn(|_| x));
        }
        let mut lanes = vec![[F::ZERO; DIGEST]; P::WIDTH];
        for first in (0..P::WIDTH).step_by(VECTOR_LEN) {
            let mut state = [[0u64; VECTOR_LEN]; 25];
            for (k, w) in state[..2 * DIGEST].iter_mut().enumerate() {
                *w = core::array::from_fn(|v| word(k, first + v));
            }
            state[24] = [NODE_TAG; VECTOR_LEN];
            KeccakF.permute_mut(&mut state);
            for (v, lane) in lanes[first..].iter_mut().take(VECTOR_LEN).enumerate() {
                *lane = digest(core::array::from_fn(|k| state[k][v]));
            }
        }
        core::array::from_fn(|k| P::from_fn(|lane| lanes[lane][k]))
    }
}

#[cfg(test)]
mod tests {
    use p3_field::Field;

    use super::*;

    type PackedF = <F as Field>::Packing;
    const LANES: usize = <PackedF as PackedValue>::WIDTH;

    /// Arbitrary field elements, some of them at the top of the field.
    fn element(i: usize) -> F {
        match i % 5 {
            0 => -F::from_u64(i as u64),
            _ => F::from_u64((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        }
    }

    #[test]
    fn every_lane_is_hashed_as_its_own_row() {
        for len in [0, 1, 4, 16, 17, 18, 48] {
            let rows: Vec<Vec<F>> = (0..LANES)
                .map(|lane| (0..len).map(|i| element(lane * 131 + i)).collect())
                .collect();
            let packed = (0..len).map(|i| PackedF::from_fn(|lane| rows[lane][i]));
            let got: [PackedF; DIGEST] = LeafHash.hash_iter(packed);
            for (lane, row) in rows.iter().enumerate() {
                let want: [F; DIGEST] = LeafHash.hash_iter(row.iter().copied());
                let lane_digest: [F; DIGEST] = got.map(|p| p.as_slice()[lane]);
                assert_eq!(lane_digest, want, "row length {len}, lane {lane}");
            }
        }
    }

    #[test]
    fn every_lane_is_compressed_as_its_own_node() {
        let digest_of = |i: usize| core::array::from_fn::<F, DIGEST, _>(|k| element(i * 7 + k));
        let nodes: Vec<[[F; DIGEST]; 2]> = (0..LANES)
            .map(|lane| [digest_of(2 * lane), digest_of(2 * lane + 1)])
            .collect();
        let packed: [[PackedF; DIGEST]; 2] = core::array::from_fn(|c| {
            core::array::from_fn(|k| PackedF::from_fn(|lane| nodes[lane][c][k]))
        });
        let got = NodeCompress.compress(packed);
        for (lane, node) in nodes.iter().enumerate() {
            let want: [F; DIGEST] = NodeCompress.compress(*node);
            assert_eq!(got.map(|p| p.as_slice()[lane]), want, "lane {lane}");
        }
    }

    #[test]
    fn a_node_is_not_hashed_as_a_leaf_of_its_children() {
        let (left, right) = ([F::ONE; DIGEST], [F::TWO; DIGEST]);
        let node: [F; DIGEST] = NodeCompress.compress([left, right]);
        let leaf: [F; DIGEST] = LeafHash.hash_iter(left.into_iter().chain(right));
        assert_ne!(node, leaf);
        // the children's order counts
        assert_ne!(NodeCompress.compress([right, left]), node);
        let mut state = [0u64; 25];
        state[..DIGEST].fill(1);
        state[DIGEST..2 * DIGEST].fill(2);
        state[24] = NODE_TAG;
        KeccakF.permute_mut(&mut state);
        assert_eq!(node, digest(core::array::from_fn(|k| state[k])));
    }

    #[test]
    fn the_digest_is_keccak_of_the_canonical_words() {
        // one element past the rate: two permutations; a non-canonical representation of a
        // value (p + 1 for 1) hashes as the value
        let row: Vec<F> = (0..18).map(element).collect();
        let words: Vec<u64> = row.iter().map(|x| x.as_canonical_u64()).collect();
        let want = digest(Sponge::new(KeccakF).hash_iter(words));
        assert_eq!(LeafHash.hash_iter(row.iter().copied()), want);
        let one: [F; DIGEST] = LeafHash.hash_iter([F::ONE]);
        let wrapped: [F; DIGEST] = LeafHash.hash_iter([F::from_u64(F::ORDER_U64) + F::ONE]);
        assert_eq!(one, wrapped);
        // changing any element changes the digest
        for i in 0..row.len() {
            let mut other = row.clone();
            other[i] += F::ONE;
            assert_ne!(LeafHash.hash_iter(other), want, "element {i}");
        }
    }
}
