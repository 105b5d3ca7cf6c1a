//! `vk_bytes` on the CNN fixture (conv, max-pool, dense): conv and pool key entries included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use zkml_fuzz::{check_key_bytes, cnn_fixture};

fuzz_target!(|data: &[u8]| check_key_bytes(cnn_fixture(), data));
