//! The MLP fixture's valid proof with the fuzzer's bytes applied as xor/insert/delete/truncate
//! mutations (see `zkml_fuzz::check_mutated_proof`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_mutated_proof, fixture};

fuzz_target!(|data: &[u8]| check_mutated_proof(fixture(), data));
