//! Arbitrary bytes as a proof against the MLP fixture's verifying key (see
//! `zkml_fuzz::check_proof_bytes`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_proof_bytes, fixture};

fuzz_target!(|data: &[u8]| check_proof_bytes(fixture(), data));
