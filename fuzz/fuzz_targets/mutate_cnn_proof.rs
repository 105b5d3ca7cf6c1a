//! `mutate_proof` on the CNN fixture (conv, max-pool, dense): its valid proof with the
//! fuzzer's bytes applied as xor/insert/delete/truncate mutations (see `zkml_fuzz::mutate`) is
//! never accepted unless identical to the original.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml::{Proof, verify};
use zkml_fuzz::{cnn_fixture, mutate};

fuzz_target!(|data: &[u8]| {
    let f = cnn_fixture();
    let bytes = mutate(&f.proof_bytes, data);
    let accepted = Proof::from_bytes(&bytes).is_ok_and(|p| verify(&f.pk.vk, &p).is_ok());
    if bytes != f.proof_bytes {
        assert!(!accepted, "a mutated proof was accepted");
    } else {
        assert!(accepted, "the original proof was refused");
    }
});
