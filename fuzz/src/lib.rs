//! Shared fixture of the fuzz targets: a small quantized model with pseudo-random weights
//! (`zkml::testing::model`), its keys and one valid proof, built once per process.
//!
//! Proving is not byte-deterministic (the proof-of-work nonces of the openings are searched in
//! parallel), so each process has its own valid proof of the same statement.
//!
//! With `ZKML_FUZZ_WRITE_SEEDS=DIR` set, the first use also writes `DIR/proof.bin` and
//! `DIR/model.vk` (how the seeds in `fuzz/corpus` were made).

use std::sync::OnceLock;

use zkml::testing::{Rng, model};
use zkml::zkml_model::BatchDim;
use zkml::{Proof, ProvingKey};

/// Layer widths of the fixture model: input 6, hidden 5 (ReLU), output 3.
pub const WIDTHS: [usize; 3] = [6, 5, 3];

/// The fixture: keys, their bytes, and a valid proof of two samples.
pub struct Fixture {
    pub pk: ProvingKey,
    pub vk_bytes: Vec<u8>,
    pub inputs: Vec<Vec<i64>>,
    pub proof: Proof,
    pub proof_bytes: Vec<u8>,
}

/// The fixture, built on first use.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let pk = zkml::setup(model(&WIDTHS, BatchDim::Dynamic, 42)).expect("fixture setup");
        let mut rng = Rng(43);
        let inputs: Vec<Vec<i64>> = (0..2)
            .map(|_| (0..WIDTHS[0]).map(|_| rng.range(-128, 127)).collect())
            .collect();
        let proof = zkml::prove(&pk, &inputs).expect("fixture proof");
        zkml::verify(&pk.vk, &proof).expect("fixture proof verifies");
        let proof_bytes = proof.to_bytes();
        let vk_bytes = pk.vk.to_bytes();
        if let Some(dir) = std::env::var_os("ZKML_FUZZ_WRITE_SEEDS") {
            let dir = std::path::Path::new(&dir);
            std::fs::create_dir_all(dir).expect("seed dir");
            std::fs::write(dir.join("proof.bin"), &proof_bytes).expect("write proof seed");
            std::fs::write(dir.join("model.vk"), &vk_bytes).expect("write vk seed");
        }
        Fixture {
            pk,
            vk_bytes,
            inputs,
            proof,
            proof_bytes,
        }
    })
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
