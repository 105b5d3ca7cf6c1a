//! Tests that kill mutants `cargo mutants` found in the verifier paths (docs/SECURITY.md,
//! "Mutation testing"): each names the check it guards.

mod common;

use common::{Spec, cnn, cnn_bits, inputs, model};
use p3_field::PrimeCharacteristicRing;
use zkml::keys::{LayerOp, VkLayer};
use zkml::ops::{
    add::Add, argmax::ArgMax, avgpool::AvgPool, conv::Conv, logsoftmax::LogSoftmax, map::Map,
    maxpool::MaxPool, relayout::Relayout, softmax::Softmax,
};
use zkml::zkml_model::BatchDim;
use zkml::{FormatError, KeyProofError, VerifyingKey};
use zkml::{Proof, ProvingKey, VerifyError, prove_tampered, setup, verify};
use zkml_proof::field::{F, from_i64};
use zkml_proof::gkr::GkrError;

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

fn fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(model(&WIDTHS, BatchDim::Dynamic, 42)).unwrap();
    (pk, inputs(2, WIDTHS[0], 43))
}

/// Proofs made by an earlier build (the fuzz seeds, an MLP and a conv + max-pool CNN) verify:
/// prover and verifier share the statement binding, the claim routing and the challenge
/// combinations, so a change to both at once (e.g. no claims on the weights at all, or max-pool
/// offsets batched by `lambda^-k` instead of `lambda^k`) keeps fresh proofs verifying but
/// refuses these.
#[test]
fn proofs_made_by_the_reference_build_still_verify() {
    let mlp = setup(model(&[6, 5, 3], BatchDim::Dynamic, 42)).unwrap();
    let specs = [
        Spec::Conv(2, [3, 3], [2, 2], [1; 4], true),
        Spec::Pool([2, 2], [1, 1], [0; 4]),
        Spec::AvgPool([2, 1], [1, 1], [0, 0, 1, 0], false),
        Spec::Add(2, true),
        Spec::Relayout([2, 2, 2], Some([0, 2, 1])),
        Spec::Dense(3, false),
    ];
    let cnn = setup(cnn([1, 5, 5], &specs, BatchDim::Dynamic, 42)).unwrap();
    let seeds: [(&ProvingKey, &[u8], &[u8], usize); 2] = [
        (
            &mlp,
            include_bytes!("../../../fuzz/corpus/vk_bytes/valid.vk"),
            include_bytes!("../../../fuzz/corpus/verify_proof/valid_proof.bin"),
            2,
        ),
        (
            &cnn,
            include_bytes!("../../../fuzz/corpus/cnn_vk_bytes/valid.vk"),
            include_bytes!("../../../fuzz/corpus/verify_cnn_proof/valid_proof.bin"),
            1,
        ),
    ];
    for (fresh, vk_bytes, proof_bytes, samples) in seeds {
        let vk = VerifyingKey::from_bytes(vk_bytes).unwrap();
        // the seed states this build's key of the fuzz fixture (else: regenerate the seeds, see
        // docs/SECURITY.md, "Fuzzing"); key proofs differ from run to run (their proof-of-work
        // nonces are searched in parallel), what they certify does not
        assert!(
            fresh.vk.statement_bytes() == vk.statement_bytes(),
            "stale fuzz seeds"
        );
        let proof = Proof::from_bytes(proof_bytes).unwrap();
        let outputs = verify(&vk, &proof).unwrap();
        assert_eq!(outputs.len(), samples);
    }
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
                zkml::tables::Table::Weight => unreachable!("a key proof table in a proof"),
                // tables of other kinds: no lookups in this model
                _ => {}
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

/// The input file of `zkml verify --input`: a row of floats per sample whose quantization
/// (scale 1/127) gives back `rows`.
fn input_json(rows: &[Vec<i64>]) -> String {
    let rows: Vec<String> = rows
        .iter()
        .map(|r| {
            let vals: Vec<String> = r.iter().map(|&v| format!("{}", v as f64 / 127.0)).collect();
            format!("[{}]", vals.join(","))
        })
        .collect();
    format!("{{\"input_data\":[{}]}}", rows.join(","))
}

/// `check_input`: the file's sample count and every quantized value against the proof.
#[test]
fn check_input_compares_every_value_and_the_sample_count() {
    let (pk, xs) = fixture();
    let proof = zkml::prove(&pk, &xs).unwrap();
    verify(&pk.vk, &proof).unwrap();
    zkml::check_input(&pk.vk, &proof, &input_json(&xs)).unwrap();
    let err = zkml::check_input(&pk.vk, &proof, &input_json(&xs[..1])).unwrap_err();
    assert!(matches!(err, VerifyError::InputFile { .. }), "{err}");
    let mut other = xs.clone();
    other[1][5] = if other[1][5] == 7 { 8 } else { 7 };
    let err = zkml::check_input(&pk.vk, &proof, &input_json(&other)).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InputMismatch {
                sample: 1,
                index: 5
            }
        ),
        "{err}"
    );
}

fn shape_error(vk: &VerifyingKey, proof: &Proof) -> (&'static str, usize, usize) {
    match verify(vk, proof).unwrap_err() {
        VerifyError::Shape {
            what,
            expected,
            got,
        } => (what, expected, got),
        e => panic!("not a shape error: {e}"),
    }
}

/// The sample count is checked first, against 1..=MAX_SAMPLES and a fixed batch.
#[test]
fn the_sample_count_is_checked_before_the_lengths() {
    let max = zkml::verify::MAX_SAMPLES;
    let (pk, xs) = fixture();
    let proof = zkml::prove(&pk, &xs).unwrap();
    let with = |n: usize| {
        let mut p = proof.clone();
        p.num_samples = n;
        p
    };
    let count = "number of samples";
    assert_eq!(shape_error(&pk.vk, &with(0)), (count, 1, 0));
    assert_eq!(shape_error(&pk.vk, &with(max + 1)), (count, max, max + 1));
    // at the bound the count is fine and the input length is not
    let input_len = 2 * WIDTHS[0];
    assert_eq!(
        shape_error(&pk.vk, &with(max)),
        ("input length", max * WIDTHS[0], input_len)
    );

    // a fixed batch of 2: a key for a batch of 4 refuses the count first
    let pk = setup(model(&[5, 3], BatchDim::Fixed(2), 3)).unwrap();
    let proof = zkml::prove(&pk, &inputs(2, 5, 4)).unwrap();
    verify(&pk.vk, &proof).unwrap();
    let mut vk = pk.vk.clone();
    vk.batch = BatchDim::Fixed(4);
    let mut renamed = proof.clone();
    renamed.key_digest = vk.digest();
    assert_eq!(shape_error(&vk, &renamed), (count, 4, 2));
    // a fixed batch of 1 is no constraint (as for the prover)
    let pk = setup(model(&[5, 3], BatchDim::Fixed(1), 3)).unwrap();
    let proof = zkml::prove(&pk, &inputs(2, 5, 4)).unwrap();
    verify(&pk.vk, &proof).unwrap();
}

/// The leaves of the table segments: a multiplicity evaluation other than the GKR leaf's
/// numerator is refused at once, naming the block its table's segment (after the lookups'
/// segments) is packed in.
#[test]
fn a_wrong_multiplicity_evaluation_names_its_tables_block() {
    let (pk, xs) = fixture();
    let proof = zkml::prove(&pk, &xs).unwrap();
    let layout = zkml::layout::Layout::new(&pk.vk, xs.len());
    let lookups = layout.lookups().len();
    let groups = layout.lookup_groups();
    let block =
        |segment: usize| (groups.iter()).position(|g| g.members.iter().any(|&(k, _)| k == segment));
    assert!(lookups > 2);
    for k in 0..proof.table_evals.len() {
        let mut bad = proof.clone();
        bad.table_evals[k] += zkml_proof::field::EF::ONE;
        let err = verify(&pk.vk, &bad).unwrap_err();
        assert!(
            matches!(err, VerifyError::LookupLeaf { group } if Some(group) == block(lookups + k)),
            "table {k}: {err}"
        );
    }
    // and a lookup's evaluation other than its leaf's denominator
    let mut bad = proof.clone();
    bad.lookup_evals[3] += zkml_proof::field::EF::ONE;
    let err = verify(&pk.vk, &bad).unwrap_err();
    assert!(matches!(err, VerifyError::LookupLeaf { .. }), "{err}");
}

/// Max-pool padding reads `-2^(bits-1)`, which never wins: on negative inputs a padded window
/// takes its largest real value. Padding that read another value would prove another network
/// (prover and verifier share `pad_value`), so the verified outputs are compared with the
/// model's own integer inference.
#[test]
fn a_padded_max_pool_over_negative_inputs_proves_the_models_function() {
    use common::{Spec, cnn};
    let specs = [
        Spec::Pool([2, 2], [2, 2], [1, 1, 1, 1]),
        Spec::Dense(3, false),
    ];
    let m = cnn([2, 5, 5], &specs, BatchDim::Dynamic, 5);
    let xs: Vec<Vec<i64>> = inputs(2, 50, 6)
        .into_iter()
        .map(|x| x.into_iter().map(|v| -2 - v.abs() % 100).collect())
        .collect();
    let expected: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| m.forward(x).last().unwrap().clone())
        .collect();
    let pk = setup(m).unwrap();
    let proof = zkml::prove(&pk, &xs).unwrap();
    assert_eq!(verify(&pk.vk, &proof).unwrap(), expected);
}

/// Max-pool batches its window offsets with the powers of a random `lambda`: errors on the
/// offsets (1, -2, 1, 0) cancel under any coefficients affine in `lambda`, never under its
/// powers. The forged differences keep the zero-check (the max stays at offset 3) and the
/// byte range; only the wiring's final check sees the gathered values moved.
#[test]
fn max_pool_offsets_are_batched_by_powers_of_lambda() {
    use common::{Spec, cnn};
    use p3_field::PrimeField64;
    let specs = [
        Spec::Conv(3, [3, 3], [1, 1], [1; 4], true),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
        Spec::Dense(4, false),
    ];
    let pk = setup(cnn([2, 6, 6], &specs, BatchDim::Dynamic, 77)).unwrap();
    let xs = inputs(1, 72, 78);
    let relu: Vec<bool> = pk.vk.layers.iter().map(|l| l.relu).collect();
    let proof = prove_tampered(&pk, &xs, &|w| {
        let diffs = &mut w.layers[1].diffs;
        let value = |limbs: &[Vec<F>], i: usize| -> i64 {
            limbs.iter().rev().fold(0i64, |acc, l| {
                acc * 256 + i64::try_from(l[i].as_canonical_u64()).unwrap()
            })
        };
        let n = diffs[0][0].len();
        let i = (0..n)
            .find(|&i| {
                let d: Vec<i64> = diffs.iter().map(|limbs| value(limbs, i)).collect();
                d[3] == 0 && d[0] >= 1 && d[2] >= 1
            })
            .expect("a window whose max is at offset 3");
        for (k, e) in [(0, 1i64), (1, -2), (2, 1)] {
            let v = value(&diffs[k], i) - e;
            for (t, limb) in diffs[k].iter_mut().enumerate() {
                limb[i] = from_i64((v >> (8 * t)) & 0xFF);
            }
        }
        w.recount(8, &relu);
    })
    .unwrap();
    let err = verify(&pk.vk, &proof).unwrap_err();
    assert!(matches!(err, VerifyError::MaxPool { layer: 1 }), "{err}");
}

/// The max-pool proof's difference evaluations are counted before use (12 bits: two limbs per
/// difference, four offsets), and the error says how many were expected.
#[test]
fn max_pool_difference_counts_are_checked() {
    use common::{Spec, cnn};
    use zkml::proof::LayerProof;
    let specs = [
        Spec::Conv(2, [3, 3], [1, 1], [1; 4], true),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
        Spec::Dense(3, false),
    ];
    let mut m = cnn([1, 4, 4], &specs, BatchDim::Dynamic, 9);
    m.bits = 12;
    let pk = setup(m).unwrap();
    let proof = zkml::prove(&pk, &inputs(1, 16, 10)).unwrap();
    verify(&pk.vk, &proof).unwrap();
    let limbs = zkml::layout::diff_limbs(12);
    assert_eq!(limbs, 2);
    for name in ["one offset less", "one limb less"] {
        let mut bad = proof.clone();
        let LayerProof::MaxPool(pp) = &mut bad.layers[1] else {
            panic!("layer 1 is the pool")
        };
        if name == "one offset less" {
            pp.diffs.pop();
        } else {
            pp.diffs[1].pop();
        }
        let got = pp.diffs.iter().map(Vec::len).sum::<usize>();
        assert_eq!(
            shape_error(&pk.vk, &bad),
            ("max-pool difference evaluations", 4 * limbs, got),
            "{name}"
        );
    }
}

/// Why loading `vk` failed, as `zkml verify` would report it.
fn load_error(vk: &VerifyingKey) -> FormatError {
    VerifyingKey::from_bytes(&vk.to_bytes()).expect_err("the key loads")
}

fn small_cnn() -> VerifyingKey {
    let specs = [
        Spec::Conv(3, [3, 3], [1, 1], [1, 1, 1, 1], true),
        Spec::Pool([2, 2], [2, 2], [0; 4]),
        Spec::Dense(5, false),
    ];
    setup(cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 5))
        .unwrap()
        .vk
}

/// The key's sanity check names the first layer with a shape no setup writes, each part of
/// the test alone: a dense layer reading more than its predecessor wrote, a conv whose input
/// channels do not multiply out to what it reads (its window geometry still fits).
#[test]
fn a_key_with_one_impossible_shape_is_refused_by_the_sanity_check() {
    let impossible = |vk: &VerifyingKey, layer: &str| match load_error(vk) {
        FormatError::Malformed { why, .. } => {
            assert_eq!(why, format!("layer {layer} has an impossible shape"));
        }
        e => panic!("refused by another check: {e}"),
    };
    let mut vk = fixture().0.vk;
    vk.layers[1].n_in += 1;
    impossible(&vk, "dense1");

    let mut vk = small_cnn();
    let LayerOp::Conv(Conv { in_shape, .. }) = &mut vk.layers[0].op else {
        unreachable!("the first layer is a conv")
    };
    in_shape[0] += 1;
    impossible(&vk, &vk.layers[0].name.clone());

    // pads of 64 (at most 63), with the output shape and the next layer's fan-in made to fit
    let mut vk = small_cnn();
    let pool = vk.layers[1].clone();
    let LayerOp::MaxPool(MaxPool {
        in_shape,
        out_shape,
        mut window,
    }) = pool.op
    else {
        unreachable!("the second layer is a max-pool")
    };
    window.pads = [64; 4];
    let [h, w] = window.output_hw(in_shape[1], in_shape[2]).unwrap();
    let out_shape = [out_shape[0], h, w];
    let n_out = out_shape.iter().product();
    vk.layers[1].op = LayerOp::MaxPool(MaxPool {
        in_shape,
        out_shape,
        window,
    });
    vk.layers[1].n_out = n_out;
    vk.layers[2].n_in = n_out;
    impossible(&vk, &pool.name);
}

/// The conv fan-in of the derived accumulator bound is `C * KH * KW` (here 2 * 3 * 3).
#[test]
fn a_conv_multiplier_past_its_derived_bound_is_refused() {
    let mut vk = small_cnn();
    vk.layers[0].multiplier[1] = 1 << 40;
    let b = vk.bias_bits[0][1];
    match load_error(&vk) {
        FormatError::KeyProof(KeyProofError::DerivedBound {
            row: 1, acc_max, ..
        }) => assert_eq!(acc_max, 18 * (1 << 14) + (1i128 << b) - 1),
        e => panic!("refused by another check: {e}"),
    }
}

/// An average pool's key: its accumulator bound is the window area times `2^(bits-1)` (here
/// 3 * 2 * 128), its channels are kept, and it has one multiplier per channel.
#[test]
fn an_average_pool_key_is_checked_like_a_requantizing_layer() {
    let specs = [
        Spec::Conv(3, [3, 3], [1, 1], [1, 1, 1, 1], true),
        Spec::AvgPool([3, 2], [1, 2], [0; 4], false),
        Spec::Dense(5, false),
    ];
    let vk = setup(cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 5))
        .unwrap()
        .vk;
    let name = vk.layers[1].name.clone();
    let mut big = vk.clone();
    big.layers[1].multiplier[2] = 1 << 48;
    match load_error(&big) {
        FormatError::KeyProof(KeyProofError::DerivedBound {
            layer,
            row: 2,
            acc_max,
            ..
        }) => assert_eq!((layer, acc_max), (name.clone(), 6 * 128)),
        e => panic!("refused by another check: {e}"),
    }
    // a multiplier just inside the bound passes it: q_max + 128 < 2^24
    let mut edge = vk.clone();
    let m = ((((1i128 << 24) - 130) << 32) - (1 << 31)) / (6 * 128);
    edge.layers[1].multiplier[2] = i64::try_from(m).unwrap();
    assert!(!matches!(
        load_error(&edge),
        FormatError::KeyProof(KeyProofError::DerivedBound { .. })
    ));
    let mut fewer = vk.clone();
    fewer.layers[1].multiplier.pop();
    match load_error(&fewer) {
        FormatError::Malformed { why, .. } => assert_eq!(why, format!("layer {name} multipliers")),
        e => panic!("refused by another check: {e}"),
    }
    let mut wider = vk.clone();
    let LayerOp::AvgPool(AvgPool { out_shape, .. }) = &mut wider.layers[1].op else {
        unreachable!("the second layer is an average pool")
    };
    out_shape[0] += 1;
    let n_out: usize = out_shape.iter().product();
    wider.layers[1].n_out = n_out;
    wider.layers[1].multiplier.push(1);
    wider.layers[2].n_in = n_out;
    match load_error(&wider) {
        FormatError::Malformed { why, .. } => {
            assert_eq!(why, format!("layer {name} has an impossible shape"));
        }
        e => panic!("refused by another check: {e}"),
    }
}

/// A sum's key: its multipliers are 1, it reads two earlier tensors laid out alike, its scales
/// are below 2^42, and its accumulator bound is `(m_a + m_b) 2^(bits-1)`; each defect alone
/// is named.
#[test]
fn a_sum_key_is_checked_like_a_requantizing_layer() {
    let conv = Spec::Conv(2, [3, 3], [1, 1], [1; 4], false);
    let specs = [
        conv,
        Spec::Read(0),
        Spec::Dense(72, false),
        Spec::Read(1),
        conv,
        Spec::Add(1, false),
        Spec::Dense(5, false),
    ];
    let vk = setup(cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 5))
        .unwrap()
        .vk;
    let name = vk.layers[3].name.clone();
    let malformed = |vk: &VerifyingKey| match load_error(vk) {
        FormatError::Malformed { why, .. } => why,
        e => panic!("refused by another check: {e}"),
    };
    let mut bad = vk.clone();
    bad.layers[3].multiplier[1] = 2;
    assert_eq!(malformed(&bad), format!("layer {name} multipliers"));
    let mut bad = vk.clone();
    bad.layers[3].inputs = vec![3, 5];
    assert_eq!(
        malformed(&bad),
        format!("layer {name} has an impossible shape")
    );
    let mut bad = vk.clone();
    bad.layers[3].inputs = vec![3];
    assert_eq!(
        malformed(&bad),
        format!("layer {name} has an impossible shape")
    );
    let mut bad = vk.clone();
    bad.layers[3].inputs = vec![3, 2];
    assert_eq!(
        malformed(&bad),
        format!(
            "layer {name}: a sum of tensors laid out as [2, 6, 6] and [72] (a sum reads both \
             at the same point, so they must share a layout)"
        )
    );
    let mut big = vk.clone();
    big.layers[3].op = LayerOp::Add(Add {
        scales: [1 << 42, 1],
    });
    assert_eq!(
        malformed(&big),
        format!("layer {name} has an impossible shape")
    );
    // scales below 2^42 pass the bound at 8 bits; at 16 bits, 2^41 + 2^41 does not
    let vk16 = setup(cnn_bits([2, 6, 6], &specs, BatchDim::Fixed(1), 5, 16))
        .unwrap()
        .vk;
    let mut big = vk16.clone();
    big.layers[3].op = LayerOp::Add(Add {
        scales: [1 << 41, 1 << 41],
    });
    match load_error(&big) {
        FormatError::KeyProof(KeyProofError::DerivedBound { layer, acc_max, .. }) => {
            assert_eq!((layer, acc_max), (name, 1i128 << 57))
        }
        e => panic!("refused by another check: {e}"),
    }
}

/// An input permutation must permute the input's axes (or be empty).
#[test]
fn a_key_whose_input_permutation_is_not_one_is_refused() {
    let vk = small_cnn();
    for perm in [vec![0, 0, 1], vec![0, 1], vec![1, 2, 3]] {
        let mut bad = vk.clone();
        bad.input_perm = perm.clone();
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => {
                assert_eq!(why, "the input permutation", "{perm:?}");
            }
            e => panic!("{perm:?}: refused by another check: {e}"),
        }
    }
}

type KeyEdit = fn(&mut VerifyingKey);

/// The weight groups must split the weight columns exactly, one commitment each, and the bias
/// bounds must match the rows: each defect alone is named by the sanity check.
#[test]
fn a_key_whose_columns_do_not_add_up_is_refused_by_the_sanity_check() {
    let vk = fixture().0.vk;
    let columns = 2 * (WIDTHS.len() - 1);
    assert_eq!(vk.weight_groups, vec![(0..columns).collect::<Vec<_>>()]);
    let edits: [(KeyEdit, &str); 8] = [
        (|vk| vk.weight_groups[0].push(0), "weight groups"),
        (|vk| vk.weight_groups[0].push(6), "weight groups"),
        (
            |vk| {
                vk.weight_groups[0].pop();
            },
            "weight groups",
        ),
        (
            |vk| {
                vk.weight_groups.push(Vec::new());
                vk.weight_commitments.push(vk.weight_commitments[0].clone());
            },
            "weight groups",
        ),
        (
            |vk| vk.weight_commitments.push(vk.weight_commitments[0].clone()),
            "weight groups",
        ),
        (|vk| vk.bias_bits.push(vec![1]), "bias bounds"),
        (|vk| vk.bias_bits[1].push(1), "bias bounds"),
        (|vk| vk.bias_bits[0][0] = 63, "bias bounds"),
    ];
    for (k, (edit, expected)) in edits.into_iter().enumerate() {
        let mut bad = vk.clone();
        edit(&mut bad);
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => assert_eq!(why, expected, "edit {k}"),
            e => panic!("edit {k}: refused by another check: {e}"),
        }
    }
    // a bias bound of 62 bits is well formed (the derived accumulator bound then refuses it)
    let mut big = vk.clone();
    big.bias_bits[0][0] = 62;
    assert!(
        matches!(
            load_error(&big),
            FormatError::KeyProof(KeyProofError::DerivedBound { row: 0, .. })
        ),
        "a 62-bit bias bound"
    );
}

/// A key file shorter than its 8-byte magic and version is a bad magic, never a panic; the
/// magic and version alone are a body that does not decode.
#[test]
fn a_key_shorter_than_its_magic_is_refused_as_such() {
    let bytes = fixture().0.vk.to_bytes();
    for n in [0, 1, 7] {
        let err = VerifyingKey::from_bytes(&bytes[..n]).unwrap_err();
        assert!(
            matches!(err, FormatError::BadMagic { .. }),
            "{n} bytes: {err}"
        );
    }
    let err = VerifyingKey::from_bytes(&bytes[..8]).unwrap_err();
    assert!(
        matches!(err, FormatError::Malformed { .. }),
        "8 bytes: {err}"
    );
}

/// The key check on load refuses a layer that reads another layout than its input was written
/// in (`layout::chain_error`; quantization puts a relayout there), naming the layer: a pool
/// reading a `[C][H][W]` the conv before it did not write (same count), and a pool after a
/// dense layer.
#[test]
fn a_key_whose_layers_do_not_chain_names_the_reading_layer() {
    let chain_error = |vk: &VerifyingKey| match load_error(vk) {
        FormatError::Malformed { why, .. } => why,
        e => panic!("refused by another check: {e}"),
    };
    let mut vk = small_cnn();
    let LayerOp::MaxPool(MaxPool { window, .. }) = vk.layers[1].op.clone() else {
        unreachable!("the second layer is a max-pool")
    };
    vk.layers[1].op = LayerOp::MaxPool(MaxPool {
        in_shape: [12, 3, 3],
        out_shape: [12, 1, 1],
        window,
    });
    vk.layers[1].n_out = 12;
    vk.layers[2].n_in = 12;
    let why = chain_error(&vk);
    let expected = format!(
        "layer {}: reads a tensor written as [3, 6, 6] as [12, 3, 3] (activations",
        vk.layers[1].name
    );
    assert!(why.starts_with(&expected), "{why}");

    let mut vk = small_cnn();
    let mut pool = vk.layers[1].clone();
    pool.name = "pool_after_dense".into();
    pool.op = LayerOp::MaxPool(MaxPool {
        in_shape: [5, 1, 1],
        out_shape: [5, 1, 1],
        window: zkml::zkml_model::Window {
            kernel: [1, 1],
            stride: [1, 1],
            pads: [0; 4],
        },
    });
    (pool.n_in, pool.n_out) = (5, 5);
    pool.inputs = vec![vk.layers.len()];
    vk.layers.push(pool);
    let why = chain_error(&vk);
    assert!(
        why.starts_with("layer pool_after_dense: reads a tensor written as [5] as [5, 1, 1]"),
        "{why}"
    );
}

/// The lookup argument holds exactly the tables a model looks into (the byte table always): an
/// unused table would cost the prover its size and change the proof's shape.
#[test]
fn a_proof_looks_into_exactly_the_tables_its_layers_use() {
    use zkml::layout::Layout;
    use zkml::tables::Table;
    let tables = |m| Layout::new(&setup(m).unwrap().vk, 1).tables();
    let pools = [Spec::Pool([2, 2], [2, 2], [0; 4])];
    assert_eq!(
        tables(cnn([1, 4, 4], &pools, BatchDim::Dynamic, 3)),
        [Table::Limb]
    );
    let relu = [Spec::Dense(5, true), Spec::Dense(4, true)];
    let relu_only = cnn([1, 2, 3], &relu, BatchDim::Dynamic, 3);
    assert_eq!(tables(relu_only), [Table::Limb, Table::ClampRelu]);
    let plain = [Spec::Dense(5, false)];
    let plain_only = cnn([1, 2, 3], &plain, BatchDim::Dynamic, 3);
    assert_eq!(tables(plain_only), [Table::Limb, Table::Clamp]);
}

/// Keys with relayouts (a permutation, an embedding at an offset) and an average pool with
/// per-position multipliers load from their bytes (the sanity check takes what setup writes);
/// a relayout whose permutation is not one, or whose sizes are not the layer's, is refused.
#[test]
fn relayout_and_per_position_keys_load_and_bad_relayouts_are_refused() {
    let specs = [
        Spec::Conv(2, [3, 3], [1, 1], [1; 4], true),
        Spec::Relayout([2, 6, 6], Some([0, 2, 1])),
        Spec::Embed([3, 6, 6], [1, 0, 0]),
        Spec::AvgPoolInside([3, 3], [1, 1], [1; 4]),
        Spec::Dense(4, false),
    ];
    let vk = setup(cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 6))
        .unwrap()
        .vk;
    assert_eq!(vk.layers[3].multiplier.len(), 3 * 6 * 6);
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let bad = |edit: &dyn Fn(&mut LayerOp, &mut usize)| {
        let mut bad = vk.clone();
        let layer = &mut bad.layers[1];
        edit(&mut layer.op, &mut layer.n_out);
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    let set_perm = |op: &mut LayerOp, _: &mut usize| {
        if let LayerOp::Relayout(Relayout { perm, .. }) = op {
            *perm = vec![0, 1, 1];
        }
    };
    assert!(bad(&set_perm).contains("impossible shape"));
    // the view of another size than the layer reads (the output as written kept)
    let set_view = |op: &mut LayerOp, _: &mut usize| {
        if let LayerOp::Relayout(Relayout { view, .. }) = op {
            *view = vec![2, 6, 5];
        }
    };
    assert!(bad(&set_view).contains("impossible shape"));
    // a width other than the output's size (the dense layer after it reads that width)
    let specs = [
        Spec::Conv(2, [3, 3], [1, 1], [1; 4], true),
        Spec::Relayout([2, 6, 6], Some([0, 2, 1])),
        Spec::Dense(4, false),
    ];
    let mut bad = setup(cnn([2, 6, 6], &specs, BatchDim::Fixed(1), 7))
        .unwrap()
        .vk;
    bad.layers[1].n_out += 1;
    bad.layers[2].n_in += 1;
    match load_error(&bad) {
        FormatError::Malformed { why, .. } => {
            assert!(
                why.contains(&format!(
                    "layer {} has an impossible shape",
                    bad.layers[1].name
                )),
                "{why}"
            );
        }
        e => panic!("refused by another check: {e}"),
    }
}

#[test]
fn map_keys_load_and_bad_tables_are_refused() {
    // the map as wide as the model input, so that reading the input keeps every width
    let specs = [Spec::Dense(8, false), Spec::Sigmoid, Spec::Dense(3, false)];
    let vk = setup(cnn([1, 2, 4], &specs, BatchDim::Fixed(1), 8))
        .unwrap()
        .vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let why = |edit: &dyn Fn(&mut VkLayer)| {
        let mut bad = vk.clone();
        edit(&mut bad.layers[1]);
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
    let table = |edit: fn(&mut Vec<i64>)| {
        why(&|l: &mut VkLayer| {
            if let LayerOp::Map(Map { table }) = &mut l.op {
                edit(table);
            }
        })
    };
    // an entry out of the 8-bit range, at either end; a table one entry short or long
    assert_eq!(table(|t| t[3] = 128), shape);
    assert_eq!(table(|t| t[3] = -129), shape);
    assert_eq!(table(|t| t.truncate(255)), shape);
    assert_eq!(table(|t| t.push(0)), shape);
    // a map that reads the model input (no committed column to look up)
    assert_eq!(why(&|l| l.inputs = vec![0]), shape);
    // a map whose width is not its input's
    let mut bad = vk.clone();
    bad.layers[1].n_out += 1;
    bad.layers[2].n_in += 1;
    match load_error(&bad) {
        FormatError::Malformed { why, .. } => assert_eq!(why, shape),
        e => panic!("refused by another check: {e}"),
    }
    // the extremes of the range pass the sanity check (the key proof, which certifies the
    // table as part of the statement, then refuses the edited key)
    let mut edge = vk.clone();
    if let LayerOp::Map(Map { table }) = &mut edge.layers[1].op {
        table[0] = -128;
        table[255] = 127;
    }
    assert!(matches!(load_error(&edge), FormatError::KeyProof(_)));
}

#[test]
fn per_channel_map_keys_load_and_bad_tables_are_refused() {
    // PRelu on a dense layer's 6 outputs: 8 tables (6 padded to a power of two)
    let specs = [Spec::Dense(6, false), Spec::PRelu, Spec::Dense(3, false)];
    let vk = setup(cnn([1, 2, 4], &specs, BatchDim::Fixed(1), 8))
        .unwrap()
        .vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let LayerOp::Map(Map { table }) = &vk.layers[1].op else {
        panic!("a map")
    };
    assert_eq!(table.len(), 8 * 256);
    let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
    let why = |edit: &dyn Fn(&mut Vec<i64>)| {
        let mut bad = vk.clone();
        if let LayerOp::Map(Map { table }) = &mut bad.layers[1].op {
            edit(table);
        }
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    // as many tables as real channels (6, not a power of two), or 4 or 16 of them
    assert_eq!(why(&|t| t.truncate(6 * 256)), shape);
    assert_eq!(why(&|t| t.truncate(4 * 256)), shape);
    assert_eq!(why(&|t| t.extend(t.clone())), shape);
    // a channel whose function is not the others' at input 0 (padding would not hold 0)
    assert_eq!(why(&|t| t[3 * 256 + 128] = 1), shape);
    assert_eq!(why(&|t| t[7 * 256 + 128] = -1), shape);
    // an entry out of range in the last table
    assert_eq!(why(&|t| t[7 * 256 + 5] = 128), shape);
}

#[test]
fn row_op_keys_load_and_impossible_rows_are_refused() {
    // softmax, log-softmax and argmax over the rows of a conv's [2, 3, 4] output
    let conv = Spec::Conv(2, [1, 1], [1, 1], [0; 4], false);
    for (head, seed) in [
        (Spec::SoftmaxRows, 11),
        (Spec::LogSoftmaxRows, 12),
        (Spec::ArgMaxRows(false), 13),
    ] {
        let vk = setup(cnn([1, 3, 4], &[conv, head], BatchDim::Fixed(1), seed))
            .unwrap()
            .vk;
        let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
        assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
        let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
        let why = |edit: &dyn Fn(&mut VkLayer)| {
            let mut bad = vk.clone();
            edit(&mut bad.layers[1]);
            match load_error(&bad) {
                FormatError::Malformed { why, .. } => why,
                e => panic!("refused by another check: {e}"),
            }
        };
        let outer = |o: Vec<usize>| {
            move |l: &mut VkLayer| match &mut l.op {
                LayerOp::Softmax(Softmax { outer, .. })
                | LayerOp::LogSoftmax(LogSoftmax { outer, .. })
                | LayerOp::ArgMax(ArgMax { outer, .. }) => *outer = o.clone(),
                _ => panic!("a row op"),
            }
        };
        // rows that do not divide the input (5 of 24), one row written as outer axes, no rows,
        // a product that overflows
        assert_eq!(why(&outer(vec![5])), shape);
        assert_eq!(why(&outer(vec![1, 1])), shape);
        assert_eq!(why(&outer(vec![0])), shape);
        assert_eq!(why(&outer(vec![usize::MAX, 4])), shape);
        // other rows of the same length: another layout than the conv writes
        let other = outer(vec![6]);
        let err = why(&|l: &mut VkLayer| {
            other(l);
            if matches!(l.op, LayerOp::ArgMax(_)) {
                l.n_out = 6;
            }
        });
        assert!(
            err.contains("reads a tensor written as [2, 3, 4] as [6, 4]"),
            "{err}"
        );
        if matches!(vk.layers[1].op, LayerOp::ArgMax(_)) {
            // an index per row: not one in all
            assert_eq!(why(&|l| l.n_out = 1), shape);
        }
    }
}

#[test]
fn softmax_keys_load_and_bad_exponential_tables_are_refused() {
    let specs = [Spec::Dense(6, false), Spec::Softmax, Spec::Dense(3, false)];
    let vk = setup(cnn([1, 2, 4], &specs, BatchDim::Fixed(1), 9))
        .unwrap()
        .vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
    let exp = |edit: fn(&mut Vec<i64>)| {
        let mut bad = vk.clone();
        if let LayerOp::Softmax(Softmax { exp, .. }) = &mut bad.layers[1].op {
            edit(exp);
        }
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    // E[0] other than 2^16 (a sum could be 0), an entry below 0 or above 2^16, a table one
    // entry short or long
    assert_eq!(exp(|e| e[0] -= 1), shape);
    assert_eq!(exp(|e| e[5] = -1), shape);
    assert_eq!(exp(|e| e[5] = (1 << 16) + 1), shape);
    assert_eq!(exp(|e| e.truncate(255)), shape);
    assert_eq!(exp(|e| e.push(0)), shape);
    // the extremes pass the sanity check (the key proof then refuses the edited statement)
    let mut edge = vk.clone();
    if let LayerOp::Softmax(Softmax { exp, .. }) = &mut edge.layers[1].op {
        exp[1] = 1 << 16;
        exp[255] = 0;
    }
    assert!(matches!(load_error(&edge), FormatError::KeyProof(_)));
    // a row of 257 values (its count of maxima would not be a byte), the dense layer before
    // it as wide
    let mut bad = vk.clone();
    bad.layers[0].n_out = 257;
    bad.layers[0].multiplier = vec![1; 257];
    (bad.layers[1].n_in, bad.layers[1].n_out, bad.layers[2].n_in) = (257, 257, 257);
    match load_error(&bad) {
        FormatError::Malformed { why, .. } => assert_eq!(why, shape),
        e => panic!("refused by another check: {e}"),
    }
}

#[test]
fn log_softmax_keys_load_and_bad_tables_are_refused() {
    let specs = [
        Spec::Dense(6, false),
        Spec::LogSoftmax,
        Spec::Dense(3, false),
    ];
    let vk = setup(cnn([1, 2, 4], &specs, BatchDim::Fixed(1), 10))
        .unwrap()
        .vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
    let why = |edit: fn(&mut Vec<i64>, &mut Vec<i64>, &mut Vec<i64>)| {
        let mut bad = vk.clone();
        if let LayerOp::LogSoftmax(LogSoftmax {
            exp, steps, bounds, ..
        }) = &mut bad.layers[1].op
        {
            edit(exp, steps, bounds);
        }
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    const CAP: i64 = 1 << 25;
    // the exponentials as for softmax; a step below 0 or above 2^(bits-1); bounds that do not
    // start at 0, decrease, pass the cap, or stay below it at 2^(bits-1) - 1 (L could reach
    // 2^(bits-1)); tables of other lengths
    assert_eq!(why(|e, _, _| e[0] = 0), shape);
    assert_eq!(why(|_, g, _| g[4] = -1), shape);
    assert_eq!(why(|_, g, _| g[4] = 129), shape);
    assert_eq!(why(|_, _, b| b[0] = 1), shape);
    assert_eq!(why(|_, _, b| b[3] = b[2] - 1), shape);
    assert_eq!(why(|_, _, b| b[200] = CAP + 1), shape);
    assert_eq!(
        why(|_, _, b| b.iter_mut().skip(100).for_each(|v| *v = CAP - 1)),
        shape
    );
    assert_eq!(why(|_, g, _| g.push(0)), shape);
    assert_eq!(why(|_, _, b| b.truncate(256)), shape);
}

#[test]
fn argmax_keys_load_and_bad_shapes_are_refused() {
    let specs = [
        Spec::Dense(6, false),
        Spec::ArgMax(false),
        Spec::Dense(3, false),
    ];
    let vk = setup(cnn([1, 2, 4], &specs, BatchDim::Fixed(1), 11))
        .unwrap()
        .vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.statement_bytes(), vk.statement_bytes());
    let shape = format!("layer {} has an impossible shape", vk.layers[1].name);
    let why = |edit: &dyn Fn(&mut VerifyingKey)| {
        let mut bad = vk.clone();
        edit(&mut bad);
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => why,
            e => panic!("refused by another check: {e}"),
        }
    };
    // two outputs; 129 values at 8 bits (an index past the activation range), the dense
    // layer before as wide
    let two = |k: &mut VerifyingKey| {
        k.layers[1].n_out = 2;
        k.layers[2].n_in = 2;
    };
    assert_eq!(why(&two), shape);
    let wide = |k: &mut VerifyingKey| {
        k.layers[0].n_out = 129;
        k.layers[0].multiplier = vec![1; 129];
        k.layers[1].n_in = 129;
    };
    assert_eq!(why(&wide), shape);
    // 128 values pass the argmax's check (another one then refuses the dense layer's widened
    // weights)
    let edge = |k: &mut VerifyingKey| {
        k.layers[0].n_out = 128;
        k.layers[0].multiplier = vec![1; 128];
        k.layers[1].n_in = 128;
    };
    assert_ne!(why(&edge), shape);
}

#[test]
fn output_splits_that_do_not_cover_the_last_layer_are_refused() {
    let mut model = cnn([1, 2, 4], &[Spec::Dense(6, false)], BatchDim::Fixed(1), 12);
    let spec = |name: &str, len, scale| zkml::zkml_model::OutputSpec {
        name: name.into(),
        len,
        scale,
    };
    model.outputs = vec![spec("label", 1, 1.0), spec("probabilities", 5, 0.1)];
    let vk = setup(model).unwrap().vk;
    let loaded = VerifyingKey::from_bytes(&vk.to_bytes()).unwrap();
    assert_eq!(loaded.outputs, vk.outputs);
    assert_eq!(
        vk.output_rows(&[3, 1, 2, 3, 4, 5]),
        vec![
            ("label".to_string(), vec![3.0]),
            ("probabilities".to_string(), vec![0.1, 0.2, 0.3, 0.4, 0.5]),
        ]
    );
    for edit in [
        |o: &mut Vec<zkml::zkml_model::OutputSpec>| o[1].len = 4,
        |o: &mut Vec<zkml::zkml_model::OutputSpec>| o[0].len = 2,
        |o: &mut Vec<zkml::zkml_model::OutputSpec>| o[1].scale = f64::NAN,
    ] {
        let mut bad = vk.clone();
        edit(&mut bad.outputs);
        match load_error(&bad) {
            FormatError::Malformed { why, .. } => assert!(why.contains("outputs of"), "{why}"),
            e => panic!("refused by another check: {e}"),
        }
    }
}
