//! `vk_bytes` on the CNN fixture (conv, max-pool, dense): arbitrary bytes as a verifying key
//! (conv and pool entries included), then the fixture's valid proof checked against it: must
//! never panic, and the proof is accepted only by the fixture's own key (byte for byte).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml::{VerifyingKey, verify};
use zkml_fuzz::cnn_fixture;

fuzz_target!(|data: &[u8]| {
    let f = cnn_fixture();
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
            data,
            f.vk_bytes.as_slice(),
            "another key accepted the proof"
        );
    }
});
