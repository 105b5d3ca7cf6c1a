//! `verify_proof` on the CNN fixture (conv, max-pool, dense): the conv and pool proof parts
//! get decoded and verified too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_proof_bytes, cnn_fixture};

fuzz_target!(|data: &[u8]| check_proof_bytes(cnn_fixture(), data));
