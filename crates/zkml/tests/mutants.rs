//! Tests that kill mutants `cargo mutants` found in the verifier paths (docs/SECURITY.md,
//! "Mutation testing"): each names the check it guards.

mod common;

use common::{inputs, model};
use p3_field::PrimeCharacteristicRing;
use zkml::VerifyingKey;
use zkml::zkml_model::BatchDim;
use zkml::{Proof, ProvingKey, VerifyError, prove_tampered, setup, verify};
use zkml_proof::field::{F, from_i64};
use zkml_proof::gkr::GkrError;

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

fn fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(model(&WIDTHS, BatchDim::Dynamic, 42)).unwrap();
    (pk, inputs(2, WIDTHS[0], 43))
}

/// A proof made by an earlier build (the fuzz seed) verifies: prover and verifier share the
/// statement binding and the claim routing, so a change to both at once (e.g. no claims on the
/// weights at all) keeps fresh proofs verifying but refuses this one.
#[test]
fn a_proof_made_by_the_reference_build_still_verifies() {
    let vk_bytes = include_bytes!("../../../fuzz/corpus/vk_bytes/valid.vk");
    let proof_bytes = include_bytes!("../../../fuzz/corpus/verify_proof/valid_proof.bin");
    let vk = VerifyingKey::from_bytes(vk_bytes).unwrap();
    // the seed is this build's key of the fuzz fixture (else: regenerate the seeds, see
    // docs/SECURITY.md, "Fuzzing")
    let fresh = setup(model(&[6, 5, 3], BatchDim::Dynamic, 42)).unwrap();
    assert_eq!(fresh.vk, vk, "stale fuzz seeds");
    let proof = Proof::from_bytes(proof_bytes).unwrap();
    let outputs = verify(&vk, &proof).unwrap();
    assert_eq!(outputs.len(), 2);
}

/// The table tag separates the tables of one lookup argument: a last-layer element claimed
/// as "clamped at 0" (`out = 0`, `sigma = -1`, excess `-q`) is a row of the ReLU clamp table
/// but not of this layer's plain clamp table. The identity of the zero-check holds, the
/// multiplicity sits on the ReLU table's row: only the tag refuses it.
#[test]
fn a_lookup_into_another_layers_table_is_refused() {
    let (pk, xs) = fixture();
    let last = WIDTHS.len() - 2;
    let proof = prove_tampered(&pk, &xs, &|w| {
        let lw = &mut w.layers[last];
        // a real element whose honest output is negative and not clamped
        let i = lw
            .out
            .iter()
            .position(|&v| (-100..0).contains(&v))
            .expect("a negative output");
        let q = lw.out[i];
        let e = u64::try_from(-q).unwrap();
        lw.out[i] = 0;
        lw.cols.out[i] = F::ZERO;
        lw.cols.sigma[i] = from_i64(-1);
        for (k, limb) in lw.cols.excess.iter_mut().enumerate() {
            limb[i] = from_i64(((e >> (8 * k)) & 0xFF) as i64);
        }
        // the public output (4 real outputs per sample, no padding) follows the witness
        w.output[i] = 0;
        // the multiplicities: one lookup less of q in the plain clamp table, one more of
        // (0, -1) in the ReLU clamp table; the excess limb e is a byte (already counted as 0)
        let (clamp_lo, relu_lo) = (-128i64, 0i64);
        for (table, m) in &mut w.mults {
            match table {
                zkml::tables::Table::Clamp => {
                    m[usize::try_from(q - clamp_lo).unwrap()] -= F::ONE;
                }
                zkml::tables::Table::ClampRelu => {
                    m[usize::try_from(-relu_lo).unwrap()] += F::ONE;
                }
                zkml::tables::Table::Limb => {
                    m[0] -= F::ONE;
                    m[usize::try_from(e).unwrap()] += F::ONE;
                }
            }
        }
    })
    .unwrap();
    let err = verify(&pk.vk, &proof).unwrap_err();
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}
