//! Arbitrary bytes as a verifying key, then the MLP fixture's valid proof against it (see
//! `zkml_fuzz::check_key_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_key_bytes, fixture};

fuzz_target!(|data: &[u8]| check_key_bytes(fixture(), data));
