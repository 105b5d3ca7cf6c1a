//! `mutate_proof` on the CNN fixture (conv, max-pool, dense).
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_mutated_proof, cnn_fixture};

fuzz_target!(|data: &[u8]| check_mutated_proof(cnn_fixture(), data));
