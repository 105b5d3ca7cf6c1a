//! Shared by the integration tests: the builders live in `zkml::testing`.
#![allow(unused_imports)]

pub use zkml::testing::*;
