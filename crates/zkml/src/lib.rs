//! ZKML: proofs that a quantized neural network maps a public input to a public output.
//!
//! Joins the model front end (`zkml-model`) and the proof toolkit (`zkml-proof`).
//! Protocol notes: `docs/PROTOCOL.md`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[doc(hidden)]
pub mod cheat; // a cheating prover for soundness tests: the real prover, deviating after commit
pub mod error; // typed errors of setup, proving, verifying, file formats
pub mod keyproof; // the key proof: committed weights and biases are in range
pub mod keys; // setup, proving and verifying keys, key files
pub mod layout; // the committed columns of a proof, shared by prover and verifier
pub mod ops; // one prover/verifier per op: dense, conv, pools, sums, requantization
pub mod proof; // the proof object and its file format
pub mod prove; // the whole-model prover
pub mod security; // the security level of a key's proofs and its assumption
pub mod statement; // Fiat-Shamir binding of the statement, routing of claims
pub mod tables; // structured lookup tables and their MLEs
#[doc(hidden)]
pub mod testing; // models with pseudo-random weights for tests and benchmarks
pub mod verify; // the whole-model verifier
pub mod wiring; // gathers of window ops (conv, pool) as multilinear wiring
pub mod witness; // exact integer inference producing the committed columns

pub use error::{FormatError, KeyProofError, ProveError, SetupError, VerifyError};
pub use keys::{
    ProvingKey, SETUP_PHASES, VerifyingKey, Weights, setup, setup_tampered, setup_with,
    setup_with_progress,
};
pub use proof::Proof;
pub use prove::{
    ProveTimings, prove, prove_cheating, prove_once, prove_tampered, prove_with_progress,
};
pub use security::{Security, security};
pub use verify::{check_input, verify, verify_recording};
pub use zkml_model;
