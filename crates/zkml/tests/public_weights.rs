//! Public-weights keys (`Weights::Public`): the verifying key holds the weights, the verifier
//! evaluates their MLEs itself, proofs carry no weight opening. Each check of the path has a
//! test that fails without it: a wrong weight or bias evaluation, weights other than the
//! prover's, out-of-range or mis-sized weights in a key file, a weight opening in a proof.

mod common;

use common::{Spec, cnn, inputs, model};
use p3_field::PrimeCharacteristicRing;
use zkml::cheat::{Cheat, Msg, Value};
use zkml::zkml_model::{BatchDim, QuantizedModel};
use zkml::{
    FormatError, KeyProofError, Proof, ProvingKey, VerifyError, VerifyingKey, Weights, prove,
    prove_cheating, security, setup, setup_with, verify,
};
use zkml_proof::field::EF;

fn public(m: QuantizedModel) -> ProvingKey {
    setup_with(m, Weights::Public, &mut |_| {}).unwrap()
}

fn dense() -> QuantizedModel {
    model(&[12, 8, 4], BatchDim::Dynamic, 61)
}

fn conv() -> QuantizedModel {
    let specs = [
        Spec::Conv(3, [3, 3], [1, 1], [1, 1, 1, 1], true),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
        Spec::Dense(4, false),
    ];
    cnn([2, 5, 5], &specs, BatchDim::Dynamic, 62)
}

fn load(vk: &VerifyingKey) -> Result<VerifyingKey, FormatError> {
    VerifyingKey::from_bytes(&vk.to_bytes())
}

#[test]
fn public_weight_keys_prove_what_committed_keys_prove() {
    for (m, width) in [(dense(), 12), (conv(), 50)] {
        let committed = setup(m.clone()).unwrap();
        let pk = public(m);
        assert!(pk.vk.weight_commitments.is_empty() && pk.vk.key_proof.is_none());
        assert!(pk.vk.public_weights.is_some());
        let xs = inputs(3, width, 63);
        let proof = Proof::from_bytes(&prove(&pk, &xs).unwrap().to_bytes()).unwrap();
        assert!(proof.weight_openings.is_empty());
        let outputs = verify(&pk.vk, &proof).unwrap();
        let theirs = verify(&committed.vk, &prove(&committed, &xs).unwrap()).unwrap();
        assert_eq!(outputs, theirs);
        // through the key files
        let vk = load(&pk.vk).unwrap();
        assert_eq!(vk, pk.vk);
        let pk2 = ProvingKey::from_bytes(&pk.to_bytes()).unwrap();
        assert_eq!(verify(&vk, &prove(&pk2, &xs).unwrap()).unwrap(), outputs);
        assert!(security(&vk, 3).bits >= 100.0);
        assert_ne!(vk.digest(), committed.vk.digest());
    }
}

#[test]
fn a_wrong_weight_evaluation_is_caught_by_the_public_weights() {
    // the dense layer's bias + 5 with the weight evaluation fixed so that the dense final
    // check holds (as in cheating.rs against committed weights, caught there by the opening):
    // the weight claim, checked first, is then wrong
    let pk = public(dense());
    let xs = inputs(1, 12, 64);
    let edit = |at, v: &mut [EF]| {
        if at == Msg::Value(1, Value::Bias) {
            v[0] += EF::from_u64(5);
        }
    };
    let cheat = Cheat {
        message: Some(&edit),
        fix: vec![(1, Value::Weight)],
        ..Cheat::default()
    };
    let proof = prove_cheating(&pk, &xs, &cheat).unwrap();
    let err = verify(&pk.vk, &proof).unwrap_err();
    // layer 1's weight column is 2 (layer 0's weights and bias are 0 and 1)
    assert!(
        matches!(err, VerifyError::PublicWeights { column: 2 }),
        "{err}"
    );
}

#[test]
fn weights_other_than_the_provers_are_caught() {
    // a key whose public weights differ from those the prover used (same digest: the prover
    // binds the edited key)
    for m in [dense(), conv()] {
        let mut pk = public(m);
        let weights = pk.vk.public_weights.as_mut().unwrap();
        let w = &mut weights.last_mut().unwrap().0[1];
        *w = if *w == 1 { 2 } else { 1 };
        let xs = inputs(1, pk.vk.input_len(), 65);
        let err = verify(&pk.vk, &prove(&pk, &xs).unwrap()).unwrap_err();
        assert!(matches!(err, VerifyError::PublicWeights { .. }), "{err}");
    }
}

#[test]
fn public_weight_keys_refuse_values_out_of_range() {
    let pk = public(dense());
    let half = 1i64 << (pk.vk.bits - 1);
    let mut bad = pk.vk.clone();
    bad.public_weights.as_mut().unwrap()[0].0[3] = half;
    match load(&bad) {
        Err(FormatError::KeyProof(KeyProofError::PublicWeight {
            what, index, value, ..
        })) => assert_eq!((what, index, value), ("weight", 3, half)),
        r => panic!("{:?}", r.map(|_| ())),
    }
    // the lowest weight is in range
    let mut low = pk.vk.clone();
    low.public_weights.as_mut().unwrap()[0].0[3] = -half;
    load(&low).unwrap();
    // a bias at its row's bound 2^B - 1 loads, one past it does not
    let mut edge = pk.vk.clone();
    let bound = (1i64 << edge.bias_bits[1][2]) - 1;
    edge.public_weights.as_mut().unwrap()[1].1[2] = -bound;
    load(&edge).unwrap();
    let mut bad = edge.clone();
    bad.public_weights.as_mut().unwrap()[1].1[2] = -bound - 1;
    match load(&bad) {
        Err(FormatError::KeyProof(KeyProofError::PublicWeight {
            what, index, value, ..
        })) => assert_eq!((what, index, value), ("bias", 2, -bound - 1)),
        r => panic!("{:?}", r.map(|_| ())),
    }
}

#[test]
fn public_weight_keys_of_impossible_shapes_are_refused() {
    let pk = public(conv());
    let malformed = |vk: &VerifyingKey| match load(vk) {
        Err(FormatError::Malformed { why, .. }) => why,
        r => panic!("{:?}", r.map(|_| ())),
    };
    type Edit = fn(&mut VerifyingKey);
    let edits: [(&str, Edit); 5] = [
        ("public weights", |vk| {
            vk.public_weights.as_mut().unwrap()[0].0.pop();
        }),
        ("public weights", |vk| {
            vk.public_weights.as_mut().unwrap()[1].1.push(0);
        }),
        ("public weights", |vk| {
            vk.public_weights.as_mut().unwrap().pop();
        }),
        ("public weights", |vk| {
            let committed = setup(conv()).unwrap().vk;
            vk.key_proof = committed.key_proof;
        }),
        ("weight groups", |vk| {
            let committed = setup(conv()).unwrap().vk;
            vk.weight_commitments = committed.weight_commitments;
        }),
    ];
    for (why, edit) in edits {
        let mut vk = pk.vk.clone();
        edit(&mut vk);
        assert_eq!(malformed(&vk), why);
    }
    // and a committed key without its commitments
    let mut vk = setup(conv()).unwrap().vk;
    vk.weight_commitments.clear();
    assert_eq!(malformed(&vk), "weight groups");
}

#[test]
fn a_weight_opening_in_a_public_weights_proof_is_refused() {
    let m = dense();
    let pk = public(m.clone());
    let xs = inputs(1, 12, 66);
    let mut proof = prove(&pk, &xs).unwrap();
    let committed = setup(m).unwrap();
    let other = prove(&committed, &xs).unwrap();
    proof.weight_openings = other.weight_openings;
    match verify(&pk.vk, &proof).unwrap_err() {
        VerifyError::Shape {
            what,
            expected,
            got,
        } => assert_eq!((what, expected, got), ("number of weight openings", 0, 1)),
        e => panic!("{e}"),
    }
}
