//! The key proof: an honest key verifies when loaded; a cheating setup for each check of the key
//! proof is refused by exactly that check, named by its error.

mod common;

use common::{Spec, cnn, model};
use p3_field::PrimeCharacteristicRing;
use zkml::keyproof::{KeyTamper, WeightColumns};
use zkml::zkml_model::{BatchDim, QuantLayer};
use zkml::{
    FormatError, KeyProofError, ProvingKey, SetupError, VerifyingKey, setup, setup_tampered,
};
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::gkr::GkrError;
use zkml_proof::pcs::PcsError;

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

fn dense_model() -> zkml::zkml_model::QuantizedModel {
    model(&WIDTHS, BatchDim::Dynamic, 42)
}

fn small_cnn() -> zkml::zkml_model::QuantizedModel {
    let specs = [
        Spec::Conv(3, [3, 3], [1, 1], [1, 1, 1, 1], true),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
        Spec::Dense(5, false),
    ];
    cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 5)
}

/// Loads `vk` from its bytes, as `zkml verify` does.
fn load(vk: &VerifyingKey) -> Result<VerifyingKey, FormatError> {
    VerifyingKey::from_bytes(&vk.to_bytes())
}

/// The key check that refused `vk`.
fn refused(vk: &VerifyingKey) -> KeyProofError {
    match load(vk) {
        Err(FormatError::KeyProof(e)) => e,
        Err(e) => panic!("refused by another check: {e}"),
        Ok(_) => panic!("a cheating key was accepted"),
    }
}

fn tampered(m: zkml::zkml_model::QuantizedModel, tamper: KeyTamper) -> ProvingKey {
    setup_tampered(m, &tamper).expect("setup runs")
}

#[test]
fn honest_keys_verify_on_load() {
    let split = model(&[64, 64, 2], BatchDim::Fixed(1), 11);
    for m in [dense_model(), small_cnn(), split] {
        let pk = setup(m).unwrap();
        let vk = load(&pk.vk).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(vk, pk.vk);
        let pk2 = ProvingKey::from_bytes(&pk.to_bytes()).unwrap();
        assert_eq!(pk2.vk, pk.vk);
        // the digest covers what the key proof certifies, not the key proof's bytes
        let mut bare = vk.clone();
        bare.key_proof = None;
        assert_eq!(bare.digest(), vk.digest());
        bare.bias_bits[0][0] += 1;
        assert_ne!(bare.digest(), vk.digest());
    }
}

#[test]
fn setup_reports_its_phases_in_order_and_makes_the_same_key() {
    let mut phases = Vec::new();
    let pk = zkml::setup_with_progress(dense_model(), &mut |p| phases.push(p)).unwrap();
    assert_eq!(phases, zkml::SETUP_PHASES);
    assert_eq!(pk.vk.digest(), setup(dense_model()).unwrap().vk.digest());
    // a refused model stops after the first phase
    let mut empty = dense_model();
    empty.layers.clear();
    let mut seen = Vec::new();
    let refused = zkml::setup_with_progress(empty, &mut |p| seen.push(p));
    assert!(matches!(refused, Err(SetupError::EmptyModel)));
    assert_eq!(seen, [zkml::SETUP_PHASES[0]]);
}

#[test]
fn biases_at_every_limb_boundary_verify() {
    // b + M and M - b need B + 1 bits: one limb up to B = 7, two from B = 8, three from B = 16
    for (bias, limbs) in [
        (127, 1),
        (128, 2),
        (255, 2),
        (256, 2),
        (32767, 2),
        (65535, 3),
    ] {
        let mut m = dense_model();
        let QuantLayer::Dense(d) = &mut m.layers[0] else {
            unreachable!("a dense model")
        };
        d.bias.fill(0);
        d.bias[0] = bias;
        d.bias[1] = -bias;
        let pk = setup(m).unwrap_or_else(|e| panic!("bias {bias}: {e}"));
        let vk = load(&pk.vk).unwrap_or_else(|e| panic!("bias {bias}: {e}"));
        let proof = vk.key_proof.as_ref().unwrap();
        assert_eq!(proof.bias_limb_evals[0].len(), 2 * limbs, "bias {bias}");
    }
}

#[test]
fn another_keys_proof_is_not_equal() {
    let a = setup(dense_model()).unwrap().vk;
    let mut b = a.clone();
    b.key_proof = setup(model(&WIDTHS, BatchDim::Dynamic, 7))
        .unwrap()
        .vk
        .key_proof;
    assert!(a.key_proof != b.key_proof, "the key proofs compare equal");
    assert!(a != b, "the keys compare equal");
}

#[test]
fn a_key_without_its_proof_is_refused() {
    let mut vk = setup(dense_model()).unwrap().vk;
    vk.key_proof = None;
    assert!(matches!(refused(&vk), KeyProofError::Missing));
}

#[test]
fn out_of_range_weights_are_refused() {
    // just outside the 8-bit range, 2^bits, and a huge field element
    let cases: [fn(&mut WeightColumns); 3] = [
        |c| c[0].0[0] = from_i64(128),
        |c| c[1].0[3] = from_i64(256),
        |c| c[2].0[1] = F::from_u64(1 << 40) * F::from_u64(1 << 20),
    ];
    for columns in cases {
        let pk = tampered(
            dense_model(),
            KeyTamper {
                columns,
                ..KeyTamper::default()
            },
        );
        assert!(matches!(refused(&pk.vk), KeyProofError::WeightRange));
    }
    // the smallest weight -2^(bits-1) is in range
    let pk = tampered(
        dense_model(),
        KeyTamper {
            columns: |c| c[0].0[0] = from_i64(-128),
            ..KeyTamper::default()
        },
    );
    assert!(load(&pk.vk).is_ok());
}

#[test]
fn nonzero_padding_weights_are_refused() {
    // dense 12 -> 9: rows padded to 16 columns, column 13 of row 0 is padding
    let pk = tampered(
        dense_model(),
        KeyTamper {
            columns: |c| c[0].0[13] = F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::WeightRange));
    // a padded output row of the dense layer (9 rows padded to 16)
    let pk = tampered(
        dense_model(),
        KeyTamper {
            columns: |c| c[0].0[15 * 16] = -F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::WeightRange));
    // conv kernel [3][2][3][3] padded to [4][2][4][4]: kernel column 3 is padding
    let pk = tampered(
        small_cnn(),
        KeyTamper {
            columns: |c| c[0].0[3] = F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::WeightRange));
}

#[test]
fn biases_outside_their_bound_are_refused() {
    // the key claims one bit less than a bias needs
    let pk = tampered(
        dense_model(),
        KeyTamper {
            vk: |vk| vk.bias_bits[0][3] -= 1,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
    // a committed bias far outside the key's bound
    let pk = tampered(
        dense_model(),
        KeyTamper {
            columns: |c| c[1].1[2] = from_i64(1 << 40),
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
    // exactly 2^B and -2^B, one past the largest allowed either way
    let pk = tampered(
        dense_model(),
        KeyTamper {
            vk: |vk| vk.bias_bits[0][0] = 13,
            columns: |c| c[0].1[0] = from_i64(1 << 13),
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
    let pk = tampered(
        dense_model(),
        KeyTamper {
            vk: |vk| vk.bias_bits[0][0] = 13,
            columns: |c| c[0].1[0] = from_i64(-(1 << 13)),
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
    // 2^B - 1 is allowed
    let pk = tampered(
        dense_model(),
        KeyTamper {
            vk: |vk| vk.bias_bits[0][0] = 13,
            columns: |c| c[0].1[0] = from_i64(-(1 << 13) + 1),
            ..KeyTamper::default()
        },
    );
    assert!(load(&pk.vk).is_ok());
    // a nonzero bias in a padding row (bound 0)
    let pk = tampered(
        dense_model(),
        KeyTamper {
            columns: |c| c[0].1[12] = F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
}

#[test]
fn limbs_that_do_not_add_up_to_the_bias_are_refused() {
    let pk = tampered(
        dense_model(),
        KeyTamper {
            limbs: |l| {
                let v = &mut l[1][0][0];
                *v = if *v == F::ZERO { F::ONE } else { *v - F::ONE };
            },
            ..KeyTamper::default()
        },
    );
    assert!(matches!(
        refused(&pk.vk),
        KeyProofError::BiasIdentity { layer } if layer == "dense1"
    ));
}

#[test]
fn tampered_multiplicities_are_refused() {
    let pk = tampered(
        dense_model(),
        KeyTamper {
            mults: |m| m[0][7] += F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::WeightRange));
    let pk = tampered(
        dense_model(),
        KeyTamper {
            mults: |m| m[1][0] += F::ONE,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(refused(&pk.vk), KeyProofError::BiasRange));
    // a lie about the committed multiplicities at the GKR leaf
    let mut vk = setup(dense_model()).unwrap().vk;
    let proof = vk.key_proof.as_mut().unwrap();
    let segments = proof.lookup.roots.len();
    proof.mult_evals[1] += EF::ONE;
    assert!(matches!(
        refused(&vk),
        KeyProofError::LookupLeaf { segment } if segment == segments - 1
    ));
}

#[test]
fn tampered_gkr_messages_are_refused() {
    let mut vk = setup(dense_model()).unwrap().vk;
    let proof = vk.key_proof.as_mut().unwrap();
    proof.lookup.layers[2].rounds[1][0] += EF::ONE;
    assert!(matches!(
        refused(&vk),
        KeyProofError::Lookup(GkrError::RoundMismatch { depth: 2, round: 1 })
    ));
    // a weight value at its leaf
    let mut vk = setup(dense_model()).unwrap().vk;
    vk.key_proof.as_mut().unwrap().weight_evals[1] += EF::ONE;
    assert!(matches!(
        refused(&vk),
        KeyProofError::LookupLeaf { segment: 1 }
    ));
}

#[test]
fn tampered_openings_are_refused() {
    // a bias evaluation and its limbs moved together: the identities hold, the opening does not
    let mut vk = setup(dense_model()).unwrap().vk;
    let proof = vk.key_proof.as_mut().unwrap();
    // the last layer's: an earlier one would move the later layers' random points
    let last = proof.bias_evals.len() - 1;
    proof.bias_evals[last] += EF::ONE;
    let limbs = &mut proof.bias_limb_evals[last];
    let k = limbs.len() / 2;
    limbs[0] += EF::ONE; // of b + M
    limbs[k] -= EF::ONE; // of M - b
    let err = refused(&vk);
    assert!(
        matches!(
            err,
            KeyProofError::WeightOpening(PcsError::WrongValue { .. })
        ),
        "{err}"
    );
    // the key witness opening of another model with the same shape
    let other = setup(model(&WIDTHS, BatchDim::Dynamic, 77)).unwrap().vk;
    let mut vk = setup(dense_model()).unwrap().vk;
    let theirs = other.key_proof.unwrap().witness_opening;
    vk.key_proof.as_mut().unwrap().witness_opening = theirs;
    assert!(matches!(refused(&vk), KeyProofError::WitnessOpening(_)));
}

#[test]
fn multipliers_beyond_the_derived_bound_are_refused() {
    // derived |acc| <= 12 * 2^14 + 2^B - 1; this multiplier puts the clamp excess past 2^24
    let big = 1i64 << 40;
    let pk = tampered(
        dense_model(),
        KeyTamper {
            vk: |vk| vk.layers[0].multiplier[2] = 1 << 40,
            ..KeyTamper::default()
        },
    );
    assert!(matches!(
        refused(&pk.vk),
        KeyProofError::DerivedBound { layer, row: 2, acc_max, multiplier }
            if layer == "dense0" && acc_max == 12 * (1 << 14) + (1 << pk.vk.bias_bits[0][2]) - 1
                && multiplier == big
    ));
    // and setup refuses such a model up front, naming the same numbers
    let mut m = dense_model();
    if let QuantLayer::Dense(d) = &mut m.layers[0] {
        d.multiplier[2] = big;
    }
    let err = setup(m).err().expect("refused");
    assert!(
        matches!(&err, SetupError::AccumulatorRange { layer, row: 2, .. } if layer == "dense0"),
        "{err}"
    );
}

#[test]
fn another_models_key_proof_is_refused() {
    let theirs = setup(model(&WIDTHS, BatchDim::Dynamic, 77)).unwrap().vk;
    // same architecture and limb counts (bias bounds of up to 13 bits need two limbs each)
    let mut vk = setup(dense_model()).unwrap().vk;
    assert!(load(&theirs).is_ok());
    vk.key_proof = theirs.key_proof;
    assert!(matches!(refused(&vk), KeyProofError::Lookup(_)));
}

#[test]
fn key_proofs_of_the_wrong_shape_are_refused_before_use() {
    let vk = setup(dense_model()).unwrap().vk;
    type Edit = fn(&mut zkml::keyproof::KeyProof);
    let edits: [(Edit, &str); 6] = [
        (
            |p| p.weight_evals.truncate(p.weight_evals.len() - 1),
            "weight evaluations",
        ),
        (|p| p.limb_evals.push(EF::ZERO), "limb evaluations"),
        (
            |p| p.mult_evals.truncate(p.mult_evals.len() - 1),
            "table evaluations",
        ),
        (
            |p| p.bias_evals.truncate(p.bias_evals.len() - 1),
            "bias evaluations",
        ),
        (|p| p.bias_limb_evals[1].push(EF::ZERO), "bias limbs"),
        (
            |p| p.weight_openings.truncate(p.weight_openings.len() - 1),
            "weight openings",
        ),
    ];
    for (edit, name) in edits {
        let mut bad = vk.clone();
        edit(bad.key_proof.as_mut().unwrap());
        assert!(
            matches!(refused(&bad), KeyProofError::Shape { what, .. } if what == name),
            "{name}"
        );
    }
}
