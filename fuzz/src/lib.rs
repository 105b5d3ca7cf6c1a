//! Shared fixtures of the fuzz targets: two small quantized models with pseudo-random weights
//! (`zkml::testing`), an MLP and a CNN (conv, max-pool, average pool, a residual sum, a
//! relayout, dense:
//! those proof parts and key entries get decoded and verified too), their keys and one valid
//! proof each, built once per process.
//!
//! Proving is not byte-deterministic (the proof-of-work nonces of the openings are searched in
//! parallel), so each process has its own valid proof of the same statement.
//!
//! With `ZKML_FUZZ_WRITE_SEEDS=DIR` set, the first use also writes `DIR/proof.bin` and
//! `DIR/model.vk` (MLP), `DIR/cnn_proof.bin` and `DIR/cnn_model.vk` (CNN): how the seeds in
//! `fuzz/corpus` were made (`ZKML_FUZZ_WRITE_SEEDS=DIR cargo test --release` here).

use std::sync::OnceLock;

use zkml::testing::Spec::{Add, AvgPool, Conv, Dense, Pool, Relayout};
use zkml::testing::{Rng, cnn, model};
use zkml::zkml_model::BatchDim;
use zkml::{Proof, ProvingKey, VerifyingKey, verify};

/// Layer widths of the MLP fixture: input 6, hidden 5 (ReLU), output 3.
pub const WIDTHS: [usize; 3] = [6, 5, 3];

/// Input shape of the CNN fixture: conv 3x3 (pads 1, stride 2) to 2 channels, 2x2 max-pool
/// with stride 1, a 2x1 average pool (padded), its sum with the max-pool's output (ReLU), its
/// rows and columns transposed, dense to 3 outputs.
pub const CNN_INPUT: [usize; 3] = [1, 5, 5];

/// A fixture: keys, their bytes, and a valid proof.
pub struct Fixture {
    pub pk: ProvingKey,
    pub vk_bytes: Vec<u8>,
    pub inputs: Vec<Vec<i64>>,
    pub proof: Proof,
    pub proof_bytes: Vec<u8>,
}

/// The MLP fixture (a proof of two samples), built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pk = zkml::setup(model(&WIDTHS, BatchDim::Dynamic, 42)).expect("fixture setup");
        build(pk, 2, WIDTHS[0], "")
    })
}

/// The CNN fixture (a proof of one sample), built on first use.
pub fn cnn_fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let specs = [
            Conv(2, [3, 3], [2, 2], [1; 4], true),
            Pool([2, 2], [1, 1], [0; 4]),
            AvgPool([2, 1], [1, 1], [0, 0, 1, 0], false),
            Add(2, true),
            Relayout([2, 2, 2], Some([0, 2, 1])),
            Dense(3, false),
        ];
        let m = cnn(CNN_INPUT, &specs, BatchDim::Dynamic, 42);
        let pk = zkml::setup(m).expect("CNN fixture setup");
        build(pk, 1, CNN_INPUT.iter().product(), "cnn_")
    })
}

fn build(pk: ProvingKey, samples: usize, len: usize, prefix: &str) -> Fixture {
    let mut rng = Rng(43);
    let inputs: Vec<Vec<i64>> = (0..samples)
        .map(|_| (0..len).map(|_| rng.range(-128, 127)).collect())
        .collect();
    let proof = zkml::prove(&pk, &inputs).expect("fixture proof");
    zkml::verify(&pk.vk, &proof).expect("fixture proof verifies");
    let proof_bytes = proof.to_bytes();
    let vk_bytes = pk.vk.to_bytes();
    if let Some(dir) = std::env::var_os("ZKML_FUZZ_WRITE_SEEDS") {
        let dir = std::path::Path::new(&dir);
        std::fs::create_dir_all(dir).expect("seed dir");
        std::fs::write(dir.join(format!("{prefix}proof.bin")), &proof_bytes)
            .expect("write proof seed");
        std::fs::write(dir.join(format!("{prefix}model.vk")), &vk_bytes).expect("write vk seed");
    }
    Fixture {
        pk,
        vk_bytes,
        inputs,
        proof,
        proof_bytes,
    }
}

/// `verify_proof`: `data` as a proof against `f`'s key must never panic, decoding is canonical,
/// and an accepted proof states what the fixture proved (its samples, input and output).
/// Honest proofs of one statement are not byte-identical (the openings' proof-of-work nonces are
/// searched in parallel), so the seed proof, made by another process, is one of them.
pub fn check_proof_bytes(f: &Fixture, data: &[u8]) {
    let Ok(proof) = Proof::from_bytes(data) else {
        return;
    };
    assert_eq!(
        proof.to_bytes(),
        data,
        "non-canonical proof bytes were parsed"
    );
    if let Ok(outputs) = verify(&f.pk.vk, &proof) {
        let statement = (proof.num_samples, &proof.input, &proof.output);
        let proven = (f.proof.num_samples, &f.proof.input, &f.proof.output);
        assert_eq!(
            statement, proven,
            "a proof of another statement was accepted"
        );
        assert_eq!(outputs, f.proof.outputs());
    }
}

/// `mutate_proof`: `f`'s valid proof with `ops` applied ([`mutate`]) is never accepted unless
/// identical to the original.
pub fn check_mutated_proof(f: &Fixture, ops: &[u8]) {
    let bytes = mutate(&f.proof_bytes, ops);
    let accepted = Proof::from_bytes(&bytes).is_ok_and(|p| verify(&f.pk.vk, &p).is_ok());
    if bytes != f.proof_bytes {
        assert!(!accepted, "a mutated proof was accepted");
    } else {
        assert!(accepted, "the original proof was refused");
    }
}

/// `vk_bytes`: `data` as a verifying key, then `f`'s valid proof checked against it: must never
/// panic, decoding is canonical, and the proof is accepted only by a key with the fixture's
/// statement (every field but the key proof, which `from_bytes` has checked: any valid one
/// certifies the same).
pub fn check_key_bytes(f: &Fixture, data: &[u8]) {
    let Ok(vk) = VerifyingKey::from_bytes(data) else {
        return;
    };
    assert_eq!(vk.to_bytes(), data, "non-canonical key bytes were parsed");
    // the helpers the CLI calls on a loaded key must not panic either
    let _ = vk.digest();
    let _ = vk.input_spec();
    let _ = zkml::security(&vk, 1);
    if verify(&vk, &f.proof).is_ok() {
        assert_eq!(
            vk.statement_bytes(),
            f.pk.vk.statement_bytes(),
            "another key accepted the proof"
        );
    }
}

/// Applies mutations read from `ops` to `bytes`. Each op is 4 bytes `[kind, pos_lo, pos_hi,
/// value]` (the position is taken modulo the current length): kind % 4 = 0 xors `value` (or 1
/// when `value` is 0) into a byte, 1 inserts `value`, 2 deletes a byte, 3 truncates at the
/// position. At most 8 ops are applied.
pub fn mutate(bytes: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    for op in ops.chunks_exact(4).take(8) {
        let pos = usize::from(u16::from_le_bytes([op[1], op[2]]));
        let value = op[3];
        match op[0] % 4 {
            0 if !out.is_empty() => {
                let i = pos % out.len();
                out[i] ^= value.max(1);
            }
            1 => {
                let i = pos % (out.len() + 1);
                out.insert(i, value);
            }
            2 if !out.is_empty() => {
                let i = pos % out.len();
                out.remove(i);
            }
            3 if !out.is_empty() => {
                let i = pos % out.len();
                out.truncate(i);
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_build_and_verify() {
        for f in [fixture(), cnn_fixture()] {
            assert!(zkml::verify(&f.pk.vk, &Proof::from_bytes(&f.proof_bytes).unwrap()).is_ok());
            // the properties hold on the valid proof and key themselves
            check_proof_bytes(f, &f.proof_bytes);
            check_mutated_proof(f, &[]);
            check_key_bytes(f, &f.vk_bytes);
        }
    }
}
