//! Arbitrary bytes as a verifying key, then the fixture's valid proof checked against it: must
//! never panic, and the proof is accepted only by a key with the fixture's statement (every field
//! but the key proof, which `from_bytes` has checked: any valid one certifies the same).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml::{VerifyingKey, verify};
use zkml_fuzz::fixture;

fuzz_target!(|data: &[u8]| {
    let f = fixture();
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
});
