//! A verifier that refuses: tampered public data, tampered proof bytes, other keys, and cheating
//! provers that commit a wrong witness. Each case asserts the error that names the failed check.

mod common;

use common::{inputs, interior, model};
use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml::zkml_model::{BatchDim, QuantLayer};
use zkml::{Proof, ProvingKey, VerifyError, prove, prove_tampered, setup, verify};
use zkml_proof::field::F;
use zkml_proof::gkr::GkrError;

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

fn fixture() -> (ProvingKey, Vec<Vec<i64>>, Proof) {
    let pk = setup(model(&WIDTHS, BatchDim::Dynamic, 42)).unwrap();
    let xs = inputs(2, WIDTHS[0], 43);
    let proof = prove(&pk, &xs).unwrap();
    assert!(verify(&pk.vk, &proof).is_ok());
    (pk, xs, proof)
}

fn relu(pk: &ProvingKey) -> Vec<bool> {
    pk.vk.layers.iter().map(|l| l.relu).collect()
}

#[test]
fn changed_output_element_is_refused() {
    let (pk, _, proof) = fixture();
    for i in [0, 3, proof.output.len() - 1] {
        let mut bad = proof.clone();
        bad.output[i] = if bad.output[i] == 5 { 6 } else { 5 };
        let err = verify(&pk.vk, &bad).unwrap_err();
        assert!(matches!(err, VerifyError::Gkr(_)), "output {i}: {err}");
    }
}

#[test]
fn changed_input_element_is_refused() {
    let (pk, _, proof) = fixture();
    let mut bad = proof.clone();
    bad.input[5] = if bad.input[5] == 1 { 2 } else { 1 };
    assert!(matches!(
        verify(&pk.vk, &bad).unwrap_err(),
        VerifyError::Gkr(_)
    ));
}

#[test]
fn out_of_range_public_values_are_refused() {
    let (pk, _, proof) = fixture();
    let mut bad = proof.clone();
    bad.input[0] = 128;
    assert!(matches!(
        verify(&pk.vk, &bad).unwrap_err(),
        VerifyError::PublicRange { which: "input", .. }
    ));
    let mut bad = proof;
    bad.output.push(0);
    assert!(matches!(
        verify(&pk.vk, &bad).unwrap_err(),
        VerifyError::Shape { .. }
    ));
}

#[test]
fn every_byte_of_the_proof_is_bound() {
    // the smallest fixture (one weight, one sample): every byte, one bit flipped each (the bit
    // moves along with the position so that all eight are used), in parallel
    let pk = setup(model(&[1, 1], BatchDim::Dynamic, 5)).unwrap();
    let proof = prove(&pk, &inputs(1, 1, 6)).unwrap();
    let bytes = proof.to_bytes();
    let start = std::time::Instant::now();
    let accepted: Vec<usize> = (0..bytes.len())
        .into_par_iter()
        .filter(|&i| {
            let mut b = bytes.clone();
            b[i] ^= 1 << (i % 8);
            Proof::from_bytes(&b).is_ok_and(|p| verify(&pk.vk, &p).is_ok())
        })
        .collect();
    eprintln!(
        "{} bytes, each flipped, in {:?}",
        bytes.len(),
        start.elapsed()
    );
    assert!(accepted.is_empty(), "flips accepted at bytes {accepted:?}");
    assert!(Proof::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(Proof::from_bytes(&longer).is_err());
}

#[test]
fn another_models_key_is_refused() {
    // each part starts from the key the proof was made for (which accepts it) and changes one
    // thing: the whole key, only the weight commitment, only a multiplier. The proof names its
    // key's digest, so the verifier says WrongKey first; a proof that names the other key's
    // digest still fails, because the key is bound before the first challenge: every challenge
    // moves and the first check that depends on one (the GKR's first sumcheck round) refuses.
    let (pk, _, proof) = fixture();
    let other = setup(model(&WIDTHS, BatchDim::Dynamic, 7)).unwrap();
    let mut only_commitment = pk.vk.clone();
    only_commitment.weight_commitments = other.vk.weight_commitments.clone();
    assert_ne!(only_commitment.weight_commitments, pk.vk.weight_commitments);
    let mut only_multiplier = pk.vk.clone();
    only_multiplier.layers[1].multiplier[0] += 1;
    for (what, vk) in [
        ("another model", &other.vk),
        ("another weight commitment", &only_commitment),
        ("another multiplier", &only_multiplier),
    ] {
        let err = verify(vk, &proof).unwrap_err();
        assert!(
            matches!(&err, VerifyError::WrongKey { proof: p, key: k }
                if *p == pk.vk.digest() && *k == vk.digest()),
            "{what}: {err}"
        );
        let mut renamed = proof.clone();
        renamed.key_digest = vk.digest();
        let err = verify(vk, &renamed).unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::Gkr(GkrError::RoundMismatch { depth: 1, round: 0 })
            ),
            "{what}: {err}"
        );
    }
}

#[test]
fn tampered_vk_is_refused() {
    let (pk, _, proof) = fixture();
    let mut vk = pk.vk.clone();
    vk.layers[0].multiplier[2] += 1;
    assert!(verify(&vk, &proof).is_err());
    let mut vk = pk.vk.clone();
    vk.layers[2].relu = !vk.layers[2].relu;
    assert!(verify(&vk, &proof).is_err());
    let mut vk = pk.vk.clone();
    vk.input_scale *= 2.0;
    assert!(verify(&vk, &proof).is_err(), "the digest binds the scales");
}

#[test]
fn wrong_requantized_value_is_refused_by_the_zero_check() {
    let (pk, xs, _) = fixture();
    let r = relu(&pk);
    let proof = prove_tampered(&pk, &xs, &|w| {
        let i = interior(w, 0);
        w.layers[0].cols.out[i] += F::ONE;
        w.recount(8, &r);
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::Requant { layer: 0 }
    ));
}

#[test]
fn remainder_outside_its_limbs_is_refused_by_the_lookup() {
    let (pk, xs, _) = fixture();
    let r = relu(&pk);
    // out + 1 balanced by remainder - 2^32: the identity holds but a limb leaves the byte range
    let proof = prove_tampered(&pk, &xs, &|w| {
        let i = interior(w, 1);
        let c = &mut w.layers[1].cols;
        c.out[i] += F::ONE;
        c.rem[3][i] -= F::from_u64(256);
        w.recount(8, &r);
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::Gkr(_)
    ));
}

#[test]
fn wrong_clamp_indicator_is_refused_by_the_lookup() {
    let (pk, xs, _) = fixture();
    let r = relu(&pk);
    let proof = prove_tampered(&pk, &xs, &|w| {
        let i = interior(w, 0);
        w.layers[0].cols.sigma[i] = F::ONE;
        w.recount(8, &r);
    })
    .unwrap();
    // (out, 1) with out below the top of the range is no row of the clamp table
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::Gkr(GkrError::NonZeroSum)
    ));
}

#[test]
fn wrong_accumulator_is_refused_by_the_requant_check() {
    // an accumulator changed alone breaks its requantization first; a fake accumulator whose
    // requantization holds is `cheating.rs`'s `fake_dense_accumulator_..` (the dense check)
    let (pk, xs, _) = fixture();
    let proof = prove_tampered(&pk, &xs, &|w| w.layers[1].acc[2] += F::ONE).unwrap();
    let err = verify(&pk.vk, &proof).unwrap_err();
    assert!(matches!(err, VerifyError::Requant { layer: 1 }), "{err}");
}

#[test]
fn claimed_output_different_from_the_computation_is_refused() {
    let (pk, xs, _) = fixture();
    let proof = prove_tampered(&pk, &xs, &|w| {
        w.output[1] = if w.output[1] == 3 { 4 } else { 3 }
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::PublicOutput
    ));
}

#[test]
fn weights_other_than_the_committed_ones_are_refused_by_the_opening() {
    for widths in [&WIDTHS[..], &[64, 64, 2]] {
        let honest = setup(model(widths, BatchDim::Dynamic, 1)).unwrap();
        // a prover holding other weights (same shapes, biases, multipliers), claiming the honest key
        let mut other = model(widths, BatchDim::Dynamic, 1);
        let QuantLayer::Dense(d) = &mut other.layers[0] else {
            unreachable!()
        };
        d.weight.iter_mut().step_by(3).for_each(|w| *w = -*w);
        let mut cheat = setup(other).unwrap();
        cheat.vk = honest.vk.clone();
        let proof = prove(&cheat, &inputs(1, widths[0], 3)).unwrap();
        let err = verify(&honest.vk, &proof).unwrap_err();
        assert!(
            matches!(err, VerifyError::WeightOpening(_)),
            "{widths:?}: {err}"
        );
    }
}
