//! Honest proofs of every supported layer shape verify and prove the model's exact outputs.

mod common;

use common::{inputs, model};
use zkml::zkml_model::{BatchDim, QuantLayer};
use zkml::{FormatError, Proof, ProvingKey, SetupError, VerifyingKey, prove, setup, verify};

fn round_trip(widths: &[usize], batch: BatchDim, samples: usize, seed: u64) {
    let m = model(widths, batch, seed);
    let xs = inputs(samples, widths[0], seed + 1);
    let expected: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| m.forward(x).last().unwrap().clone())
        .collect();
    let pk = setup(m).expect("setup");
    let proof = prove(&pk, &xs).expect("prove");
    let bytes = proof.to_bytes();
    let proof = Proof::from_bytes(&bytes).expect("decode");
    let out = verify(&pk.vk, &proof).unwrap_or_else(|e| panic!("{widths:?} x{samples}: {e}"));
    assert_eq!(out, expected, "{widths:?} x{samples}");
}

#[test]
fn odd_widths_and_depths_verify() {
    round_trip(&[13, 7, 5], BatchDim::Fixed(1), 1, 1);
    round_trip(&[64, 100, 100, 10], BatchDim::Fixed(1), 1, 2);
    round_trip(&[1, 1], BatchDim::Fixed(1), 1, 3);
    round_trip(&[3, 17, 2, 9, 33, 4], BatchDim::Fixed(1), 1, 4);
}

/// `prove_once` (the command line's prover: it opens the key's weight prover data without a
/// copy) makes the proof `prove` makes, over two weight commitments: the same bytes on one
/// thread (on two, the grinding may find another nonce first).
#[test]
fn prove_once_makes_the_proof_prove_makes() {
    let pk = setup(model(&[64, 64, 2], BatchDim::Dynamic, 11)).unwrap();
    assert_eq!(pk.vk.weight_commitments.len(), 2);
    let xs = inputs(2, 64, 12);
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let shared = one.install(|| prove(&pk, &xs)).unwrap();
    let vk = pk.vk.clone();
    let once = one
        .install(|| zkml::prove_once(pk, &xs, &mut |_| {}))
        .unwrap()
        .0;
    assert_eq!(shared.to_bytes(), once.to_bytes());
    verify(&vk, &once).unwrap();
}

#[test]
fn weights_split_over_two_commitments_verify() {
    // 64x64 weights fill 2^12 cells and the rest would double the commitment: two commitments
    let pk = setup(model(&[64, 64, 2], BatchDim::Fixed(1), 11)).unwrap();
    assert_eq!(pk.vk.weight_commitments.len(), 2);
    assert!(zkml::security(&pk.vk, 1).bits >= 100.0);
    round_trip(&[64, 64, 2], BatchDim::Dynamic, 3, 11);
}

#[test]
fn batches_verify_in_one_proof() {
    round_trip(&[10, 6, 4], BatchDim::Dynamic, 3, 5);
    round_trip(&[10, 6, 4], BatchDim::Dynamic, 8, 6);
    round_trip(&[8, 5], BatchDim::Fixed(4), 4, 7);
}

#[test]
fn keys_round_trip_through_bytes() {
    let pk = setup(model(&[6, 5, 3], BatchDim::Fixed(1), 9)).unwrap();
    let vk = VerifyingKey::from_bytes(&pk.vk.to_bytes()).unwrap();
    assert_eq!(vk, pk.vk);
    let pk2 = ProvingKey::from_bytes(&pk.to_bytes()).unwrap();
    let xs = inputs(2, 6, 10);
    let proof = prove(&pk2, &xs).unwrap();
    assert!(verify(&vk, &proof).is_ok());
}

#[test]
fn a_proving_key_file_keeps_the_weight_commitment() {
    let pk = setup(model(&[6, 5, 3], BatchDim::Fixed(1), 9)).unwrap();
    let bytes = pk.to_bytes();
    let xs = inputs(1, 6, 11);
    // the file is the model and the verifying key; loading commits to the weights again
    let head = 8 + postcard::to_allocvec(&(&pk.model, &pk.vk)).unwrap().len();
    assert_eq!(bytes.len(), head);
    let loaded = ProvingKey::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.vk.weight_commitments, pk.vk.weight_commitments);
    assert!(verify(&pk.vk, &prove(&loaded, &xs).unwrap()).is_ok());
    // weights other than the key's commitment's are refused, not recommitted
    let mut other = pk.clone();
    let QuantLayer::Dense(d) = &mut other.model.layers[0] else {
        unreachable!("a dense model")
    };
    d.weight[0] = if d.weight[0] == 1 { 2 } else { 1 };
    assert!(matches!(
        ProvingKey::from_bytes(&other.to_bytes()),
        Err(SetupError::KeyMismatch)
    ));
    // so are bytes after the key (the Merkle digests an earlier format stored)
    let mut longer = bytes.clone();
    longer.extend([0; 16]);
    assert!(matches!(
        ProvingKey::from_bytes(&longer),
        Err(SetupError::Format(FormatError::TrailingBytes {
            count: 16,
            ..
        }))
    ));
}
