//! `verify_proof` on the CNN fixture (conv, max-pool, dense): arbitrary bytes as a proof
//! against its verifying key must never panic, and an accepted proof must state what the
//! fixture proved (its samples, input and output).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml::{Proof, verify};
use zkml_fuzz::cnn_fixture;

fuzz_target!(|data: &[u8]| {
    let f = cnn_fixture();
    let Ok(proof) = Proof::from_bytes(data) else {
        return;
    };
    // decoding is canonical: a parsed proof re-encodes to the same bytes
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
});
