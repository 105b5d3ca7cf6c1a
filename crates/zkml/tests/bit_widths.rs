//! The shared fixtures compute functions of their input, and proofs verify at every bit width.

mod common;

use std::collections::HashSet;

use common::{Spec, cnn_bits, inputs_bits, model_bits};
use zkml::zkml_model::{BatchDim, QuantizedModel};
use zkml::{Proof, prove, setup, verify};

use Spec::{Conv, Dense, Pool};

const CNN_SPECS: [Spec; 3] = [
    Conv(3, [3, 3], [1, 1], [1; 4], true),
    Pool([2, 2], [2, 2], [0; 4]),
    Dense(4, false),
];

fn mlps(bits: u32) -> Vec<(QuantizedModel, usize)> {
    [
        &[12usize, 9, 6, 4][..],
        &[6, 5, 3],
        &[64, 64, 2],
        &[10, 6, 4],
    ]
    .iter()
    .map(|w| (model_bits(w, BatchDim::Dynamic, 42, bits), w[0]))
    .collect()
}

fn small_cnn(bits: u32) -> (QuantizedModel, usize) {
    (
        cnn_bits([2, 5, 5], &CNN_SPECS, BatchDim::Dynamic, 77, bits),
        50,
    )
}

#[test]
fn fixture_outputs_depend_on_the_input() {
    for bits in [4, 8, 12, 16] {
        let mut models = mlps(bits);
        models.push(small_cnn(bits));
        for (m, len) in models {
            let xs = inputs_bits(200, len, 7, bits);
            let outs: HashSet<Vec<i64>> = xs
                .iter()
                .map(|x| m.forward(x).last().unwrap().clone())
                .collect();
            // (once 4 distinct outputs over 202 inputs); 4-bit cells take 16 values: ask less
            let want = if bits == 4 { 90 } else { 180 };
            assert!(
                outs.len() >= want,
                "{bits} bits, input {len}: {} distinct outputs over 200 inputs",
                outs.len()
            );
        }
    }
}

fn round_trip(m: QuantizedModel, len: usize, samples: usize) {
    let bits = m.bits;
    let xs = inputs_bits(samples, len, 11, bits);
    let expected: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| m.forward(x).last().unwrap().clone())
        .collect();
    let pk = setup(m).expect("setup");
    let proof = Proof::from_bytes(&prove(&pk, &xs).expect("prove").to_bytes()).unwrap();
    let out = verify(&pk.vk, &proof).unwrap_or_else(|e| panic!("{bits} bits: {e}"));
    assert_eq!(out, expected, "{bits} bits");
}

#[test]
fn mlps_verify_at_4_12_and_16_bits() {
    for bits in [4, 12, 16] {
        let (m, len) = mlps(bits).swap_remove(0);
        round_trip(m, len, 2);
    }
}

#[test]
fn cnns_verify_at_4_12_and_16_bits() {
    for bits in [4, 12, 16] {
        let (m, len) = small_cnn(bits);
        round_trip(m, len, 1);
    }
}
