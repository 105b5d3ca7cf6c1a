//! Cheating provers that deviate AFTER committing, one per verifier check: each lie is made
//! consistent with every other check (sumcheck rounds follow the verifier's claim, final values
//! are fixed up where asked), so that exactly one check can refuse it. Each test names that
//! check and asserts its error; deleting the check makes the proof verify (docs/SECURITY.md
//! lists the deletions that were tried).
//!
//! Also: transcript binding (changing any prover message changes every later challenge).

mod common;

use std::cell::RefCell;
use std::ops::Range;

use common::{Spec, cnn, cnn_bits, inputs, inputs_bits, interior, model};
use p3_field::{Field, PrimeCharacteristicRing};
use zkml::cheat::{Cheat, Edit, Msg, Stage, Value};
use zkml::keys::LayerOp;
use zkml::layout::Layout;
use zkml::ops::requant::{Limbs, decompose, split};
use zkml::ops::{logsoftmax, map::Map, softmax};
use zkml::proof::LayerProof;
use zkml::tables::Table;
use zkml::witness::{Witness, generate};
use zkml::zkml_model::{BatchDim, QuantLayer, QuantizedModel};
use zkml::{
    Proof, ProvingKey, VerifyError, VerifyingKey, prove_cheating, setup, verify, verify_recording,
};
use zkml_proof::field::{EF, F, from_i64, to_i64};
use zkml_proof::gkr::{GkrError, GkrMsg, Segment};

use Spec::{
    Add, ArgMax, AvgPool, AvgPoolInside, Conv, Dense, Embed, LogSoftmax, PRelu, Pool, Relayout,
    Sigmoid, Softmax, SoftmaxRows, Upsample,
};

const WIDTHS: [usize; 4] = [12, 9, 6, 4];

fn mlp() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(model(&WIDTHS, BatchDim::Dynamic, 42)).unwrap();
    (pk, inputs(1, WIDTHS[0], 43))
}

/// Conv 3x3 (pads 1) -> 2x2 max-pool -> dense, on `[2, 5, 5]`; `conv_pads` and `pool_stride`
/// let a cheater shift the windows (same output shapes, same weights).
fn cnn_specs(conv_pads: [usize; 4], pool_stride: usize) -> [Spec; 3] {
    [
        Conv(3, [3, 3], [1, 1], conv_pads, true),
        Pool([2, 2], [pool_stride; 2], [0; 4]),
        Dense(4, false),
    ]
}

fn cnn_model(specs: &[Spec]) -> QuantizedModel {
    cnn([2, 5, 5], specs, BatchDim::Dynamic, 77)
}

fn cnn_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(cnn_model(&cnn_specs([1; 4], 2))).unwrap();
    (pk, inputs(1, 50, 78))
}

/// Conv 3x3 (pads 1) -> 2x2 average pool (stride `stride`) -> dense, on `[2, 5, 5]`.
fn avg_specs(stride: usize) -> [Spec; 3] {
    [
        Conv(3, [3, 3], [1, 1], [1; 4], true),
        AvgPool([2, 2], [stride; 2], [0; 4], false),
        Dense(4, false),
    ]
}

fn avg_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(cnn_model(&avg_specs(2))).unwrap();
    (pk, inputs(1, 50, 78))
}

/// A residual block on `[2, 5, 5]`: conv (ReLU) -> conv -> sum with the block's input (the
/// model input, layer 2) and ReLU -> conv -> sum with the first conv's output (layer 4) ->
/// dense.
fn residual_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let conv = |relu| Conv(2, [3, 3], [1, 1], [1; 4], relu);
    let specs = [
        conv(true),
        conv(false),
        Add(0, true),
        conv(false),
        Add(1, false),
        Dense(4, false),
    ];
    let pk = setup(cnn_model(&specs)).unwrap();
    (pk, inputs(1, 50, 78))
}

/// Conv 3x3 (pads 1) to `[4, 5, 5]` -> its `[H][W]` axes permuted by `perm` -> conv 2x2 ->
/// dense, on `[2, 5, 5]`.
fn relayout_specs(perm: [usize; 3]) -> [Spec; 4] {
    [
        Conv(4, [3, 3], [1, 1], [1; 4], true),
        Relayout([4, 5, 5], Some(perm)),
        Conv(2, [2, 2], [1, 1], [0; 4], false),
        Dense(4, false),
    ]
}

fn relayout_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(cnn_model(&relayout_specs([0, 2, 1]))).unwrap();
    (pk, inputs(1, 50, 78))
}

/// `m_a`, `m_b` of sum layer `l`.
fn sum_scales(pk: &ProvingKey, l: usize) -> [EF; 2] {
    let LayerOp::Add(zkml::ops::add::Add { scales }) = pk.vk.layers[l].op else {
        panic!("layer {l} is not a sum")
    };
    scales.map(|m| EF::from(from_i64(m)))
}

/// Proves with `cheat`, round-trips the proof through bytes and returns the verifier's error.
fn refused(pk: &ProvingKey, xs: &[Vec<i64>], cheat: &Cheat<'_>) -> VerifyError {
    let proof = prove_cheating(pk, xs, cheat).unwrap();
    let proof = Proof::from_bytes(&proof.to_bytes()).unwrap();
    match verify(&pk.vk, &proof) {
        Ok(_) => panic!("the cheating proof was accepted"),
        Err(e) => e,
    }
}

/// [`refused`] for a prover whose only deviation is the message edit `edit`.
fn edited(pk: &ProvingKey, xs: &[Vec<i64>], edit: Edit<'_>) -> VerifyError {
    let cheat = Cheat {
        message: Some(edit),
        ..Cheat::default()
    };
    refused(pk, xs, &cheat)
}

/// [`refused`] for a prover whose only deviation is the witness edit `tamper`.
fn tampered(pk: &ProvingKey, xs: &[Vec<i64>], tamper: &dyn Fn(&mut Witness)) -> VerifyError {
    let cheat = Cheat {
        witness: Some(tamper),
        ..Cheat::default()
    };
    refused(pk, xs, &cheat)
}

fn relu(pk: &ProvingKey) -> Vec<bool> {
    pk.vk.layers.iter().map(|l| l.relu).collect()
}

/// Raises accumulator `i` of layer `l` by one and re-derives its requantization witness
/// (the output stays the same), so that the requantization proof holds for the fake value.
fn fake_acc(pk: &ProvingKey, w: &mut Witness, l: usize, i: usize, row: usize) {
    let (m, relu_l) = (pk.vk.layers[l].multiplier[row], pk.vk.layers[l].relu);
    let lw = &mut w.layers[l];
    let acc = to_i64(lw.acc[i]);
    let (old, new) = (
        decompose(acc, m, relu_l, pk.vk.bits),
        decompose(acc + 1, m, relu_l, pk.vk.bits),
    );
    assert_eq!(old.out, new.out, "the fake accumulator keeps the output");
    lw.acc[i] += F::ONE;
    lw.cols.sigma[i] = from_i64(new.sigma);
    let limbs = lw.cols.limbs;
    for (column, limb) in lw
        .cols
        .excess
        .iter_mut()
        .zip(split(new.excess, &limbs.excess()))
    {
        column[i] = F::from_u64(limb);
    }
    for (column, limb) in lw.cols.rem.iter_mut().zip(split(new.rem, &limbs.rem())) {
        column[i] = F::from_u64(limb);
    }
    w.recount(pk.vk.bits, &relu(pk));
}

#[test]
fn the_cheating_prover_without_a_deviation_is_honest() {
    let fixtures = [
        mlp(),
        cnn_fixture(),
        map_fixture(),
        softmax_fixture(),
        log_softmax_fixture(),
        argmax_fixture(),
    ];
    for (pk, xs) in fixtures {
        let proof = prove_cheating(&pk, &xs, &Cheat::default()).unwrap();
        assert!(verify(&pk.vk, &proof).is_ok());
    }
}

/// `out + d` and `rem_0 - 2^32 d`: the requantization identity still holds at the point
/// (`wide`: the proof's limbs are 16-bit).
fn requant_lie(layer: usize, wide: bool) -> impl Fn(Msg, &mut [EF]) {
    move |at, v| {
        if at == Msg::RequantEvals(layer) {
            let d = EF::from_u64(3);
            v[1] += d;
            // the first remainder limb: the remainder's limbs come last
            let rem = Limbs {
                wide,
                ..Limbs::default()
            };
            v[v.len() - rem.rem().len()] -= d * F::from_u64(1 << 32);
        }
    }
}

#[test]
fn requant_evaluation_lie_is_caught_by_the_witness_opening() {
    // caught by: the opening of the witness commitment (Out(1) at the zero-check point)
    let (pk, xs) = mlp();
    let edit = requant_lie(1, false);
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
}

#[test]
fn requant_evaluation_lie_on_the_last_layer_is_caught_by_the_public_output() {
    // caught first by: Claims::column on the public output (the last layer's Out is public).
    // The lie also moves `rem_0`, a committed column: without that check the witness opening
    // refuses it (the public-output check alone: `forged_max_pool_as_the_last_layer_..`).
    let (pk, xs) = mlp();
    let edit = requant_lie(2, false);
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::PublicOutput), "{err}");
}

#[test]
fn lookup_evaluation_lie_is_caught_by_the_witness_opening() {
    // the first lookup is (Out(0), Sigma(0)) into the clamp table, its leaf checked through
    // `a + beta b`: `a + beta e` and `b - e` keep the leaf check. `beta` is the first challenge
    // (the prover is deterministic up to the lookups, so an honest run tells it).
    // Caught by: the opening of the witness commitment (Out(0) and Sigma(0) at the leaf).
    let (pk, xs) = mlp();
    let (_, honest) = recorded(&pk, &xs, None);
    let beta = honest[0];
    let edit = move |at, v: &mut [EF]| {
        if at == Msg::LookupEvals {
            let e = EF::from_u64(4);
            v[0] += beta * e;
            v[1] -= e;
        }
    };
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
}

#[test]
fn a_lookup_counted_twice_is_caught_by_the_lookup_leaf_check() {
    // two rows of the first lookup with the same value: one counted twice (numerator -2), the
    // other not at all (0). The logup sum is unchanged, so the GKR and every layer check pass;
    // the lookup column is no longer the one the table's multiplicities count (a row with
    // numerator 0 could hold any value). Caught by: the leaf check, numerator -1 at the leaf.
    let (pk, xs) = mlp();
    let rewrite = |k: usize, seg: &mut Segment| {
        if k != 0 {
            return;
        }
        let (i, j) = (0..seg.den.len())
            .flat_map(|i| (i + 1..seg.den.len()).map(move |j| (i, j)))
            .find(|&(i, j)| seg.den[i] == seg.den[j])
            .expect("two rows with one value");
        seg.num[i] = -F::TWO;
        seg.num[j] = F::ZERO;
    };
    let cheat = Cheat {
        lookup_segment: Some(&rewrite),
        ..Cheat::default()
    };
    let err = refused(&pk, &xs, &cheat);
    let block = (Layout::new(&pk.vk, xs.len()).lookup_groups().iter())
        .position(|g| g.members.iter().any(|&(k, _)| k == 0));
    assert!(
        matches!(err, VerifyError::LookupLeaf { group } if Some(group) == block),
        "{err}"
    );
}

#[test]
fn pool_difference_lie_is_caught_by_the_witness_opening() {
    // at 16 bits a difference has two byte limbs: limb 0 + 256 d and limb 1 - d recombine to
    // the same value, so the zero-check and the wiring claim are unchanged. Caught by: the
    // opening of the witness commitment (the limb columns at the zero-check point).
    let pk = setup(cnn_bits(
        [2, 5, 5],
        &cnn_specs([1; 4], 2),
        BatchDim::Dynamic,
        77,
        16,
    ))
    .unwrap();
    let xs = inputs_bits(1, 50, 78, 16);
    let edit = |at, v: &mut [EF]| {
        if at == Msg::Diffs(1, 2) {
            let d = EF::from_u64(3);
            v[0] += d * F::from_u64(256);
            v[1] -= d;
        }
    };
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
}

#[test]
fn bias_lie_is_caught_by_the_weight_opening() {
    // bias + 5, the dense sumcheck proves the shifted sum with consistent rounds and the weight
    // evaluation is fixed so that the dense final check holds. Caught by: the weight opening.
    let (pk, xs) = mlp();
    let edit = |at, v: &mut [EF]| {
        if at == Msg::Value(1, Value::Bias) {
            v[0] += EF::from_u64(5);
        }
    };
    let cheat = Cheat {
        message: Some(&edit),
        fix: vec![(1, Value::Weight)],
        ..Cheat::default()
    };
    let err = refused(&pk, &xs, &cheat);
    assert!(matches!(err, VerifyError::WeightOpening(_)), "{err}");
}

#[test]
fn fake_dense_accumulator_is_caught_by_the_dense_final_check() {
    // acc + 1 with its requantization proven honestly; the dense sumcheck proves the false sum
    // with consistent rounds, true final evaluations. Caught by: dense.rs `fin != weight * input`.
    let (pk, xs) = mlp();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 1, 2, 2);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Dense { layer: 1 }), "{err}");
}

#[test]
fn false_conv_patch_sum_is_caught_by_the_patch_final_check() {
    // a fake conv accumulator, true final evaluations: the wiring claim is then true.
    // Caught by: conv.rs `fin != weight * unfolded`.
    let (pk, xs) = cnn_fixture();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 0, 0, 0);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Conv { layer: 0 }), "{err}");
}

#[test]
fn false_conv_wiring_claim_is_caught_by_the_wiring_final_check() {
    // a fake conv accumulator with `unfolded` fixed so that the patch check holds: the false
    // value moves to the wiring sumcheck (consistent rounds, true input).
    // Caught by: conv.rs `fin != input * wire`.
    let (pk, xs) = cnn_fixture();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 0, 0, 0);
    let cheat = Cheat {
        witness: Some(&tamper),
        fix: vec![(0, Value::Unfolded)],
        ..Cheat::default()
    };
    let err = refused(&pk, &xs, &cheat);
    assert!(matches!(err, VerifyError::Conv { layer: 0 }), "{err}");
}

/// A proving key with the fixture's weights and key, and the key whose windows it follows.
fn shifted(specs: &[Spec]) -> (ProvingKey, VerifyingKey) {
    shifted_from(&cnn_specs([1; 4], 2), specs)
}

/// A proving key with the weights and key of the model of `honest` specs, and the key of
/// `specs` (whose windows it follows).
fn shifted_from(honest: &[Spec], specs: &[Spec]) -> (ProvingKey, VerifyingKey) {
    let honest = setup(cnn_model(honest)).unwrap();
    let mut cheat = setup(cnn_model(specs)).unwrap();
    let shifted_vk = std::mem::replace(&mut cheat.vk, honest.vk.clone());
    let (a, b) = (Layout::new(&honest.vk, 1), Layout::new(&shifted_vk, 1));
    assert!(
        a.layers
            .iter()
            .zip(&b.layers)
            .all(|(x, y)| x.out_dims == y.out_dims)
    );
    (cheat, shifted_vk)
}

#[test]
fn shifted_conv_window_is_caught_by_the_conv_wiring_check() {
    // the conv gathers with pads [0, 0, 2, 2] instead of [1, 1, 1, 1] (same output shape):
    // the witness and both conv sumchecks are those of the shifted conv. Caught by: conv.rs
    // wiring check (the verifier's wiring table is the stated window's).
    let (pk, shifted_vk) = shifted(&cnn_specs([0, 0, 2, 2], 2));
    let xs = inputs(1, 50, 78);
    let cheat = Cheat {
        prover_vk: Some(&shifted_vk),
        ..Cheat::default()
    };
    let err = refused(&pk, &xs, &cheat);
    assert!(matches!(err, VerifyError::Conv { layer: 0 }), "{err}");
}

#[test]
fn shifted_pool_window_is_caught_by_the_pool_wiring_check() {
    // the max-pool gathers with stride 3 instead of 2 (5x5 -> 2x2 either way, no padding read).
    // Caught by: maxpool.rs wiring check.
    let (pk, shifted_vk) = shifted(&cnn_specs([1; 4], 3));
    let xs = inputs(1, 50, 78);
    let cheat = Cheat {
        prover_vk: Some(&shifted_vk),
        ..Cheat::default()
    };
    let err = refused(&pk, &xs, &cheat);
    assert!(matches!(err, VerifyError::MaxPool { layer: 1 }), "{err}");
}

#[test]
fn shifted_average_pool_window_is_caught_by_its_wiring_check() {
    // the average pool sums windows at stride 3 instead of 2 (5x5 -> 2x2 either way): witness
    // and wiring sumcheck are those of the shifted pool. Caught by: avgpool.rs wiring check.
    let (pk, shifted_vk) = shifted_from(&avg_specs(2), &avg_specs(3));
    let cheat = Cheat {
        prover_vk: Some(&shifted_vk),
        ..Cheat::default()
    };
    let err = refused(&pk, &inputs(1, 50, 78), &cheat);
    assert!(matches!(err, VerifyError::AvgPool { layer: 1 }), "{err}");
}

#[test]
fn false_average_pool_sum_is_caught_by_its_final_check() {
    // a window sum raised by one (requantization re-derived, same output), the wiring rounds
    // following the false sum, the true input value at the end.
    // Caught by: avgpool.rs `fin != input * wire`.
    let (pk, xs) = avg_fixture();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 1, 0, 0);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::AvgPool { layer: 1 }), "{err}");
}

#[test]
fn another_permutation_is_caught_by_the_relayout_wiring_check() {
    // the relayout keeps [H][W] instead of transposing them (same shapes): the witness, the
    // layers after it and the wiring sumcheck are those of the other permutation. Caught by:
    // relayout.rs `fin != input * wire` (the verifier's table is the stated permutation's).
    let (pk, other_vk) = shifted_from(&relayout_specs([0, 2, 1]), &relayout_specs([0, 1, 2]));
    let cheat = Cheat {
        prover_vk: Some(&other_vk),
        ..Cheat::default()
    };
    let err = refused(&pk, &inputs(1, 50, 78), &cheat);
    assert!(matches!(err, VerifyError::Relayout { layer: 1 }), "{err}");
}

#[test]
fn nonzero_padding_of_a_relayout_output_is_caught_by_its_wiring_check() {
    // relayout output [4, 5, 5] padded to [4, 8, 8]: cell 5 is column 5 (padding), which the
    // conv after it never reads. Caught by: relayout.rs `fin != input * wire` (padding
    // positions appear in no sum).
    let (pk, xs) = relayout_fixture();
    let tamper = |w: &mut Witness| w.layers[1].cols.out[5] = F::from_u64(5);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Relayout { layer: 1 }), "{err}");
}

#[test]
fn a_value_outside_an_embedded_input_is_caught_by_the_relayout_wiring_check() {
    // a conv's [2, 5, 5] output placed at channel 1 of a [3, 5, 5] output (a Concat input),
    // the last layer: the stated output holds 5 at channel 0 (real, outside the embedded
    // input), the committed column too. Caught by: relayout.rs `fin != input * wire`
    // (positions outside the input appear in no sum).
    let specs = [
        Conv(2, [3, 3], [1, 1], [1; 4], true),
        Embed([3, 5, 5], [1, 0, 0]),
    ];
    let pk = setup(cnn_model(&specs)).unwrap();
    let tamper = |w: &mut Witness| {
        w.layers[1].cols.out[0] = F::from_u64(5);
        w.output[0] = 5;
    };
    let err = tampered(&pk, &inputs(1, 50, 78), &tamper);
    assert!(matches!(err, VerifyError::Relayout { layer: 1 }), "{err}");
}

#[test]
fn an_upsampled_copy_that_differs_from_its_source_is_caught_by_the_relayout_wiring_check() {
    // a conv's [2, 5, 5] output upsampled 2x2 as the last layer: the stated output's second
    // copy of the first value (cell 1) is raised by one, the committed column too. Caught
    // by: relayout.rs `fin != input * wire`.
    let specs = [Conv(2, [3, 3], [1, 1], [1; 4], true), Upsample([2, 2])];
    let pk = setup(cnn_model(&specs)).unwrap();
    let tamper = |w: &mut Witness| {
        w.layers[1].cols.out[1] += F::ONE;
        w.output[1] += 1;
    };
    let err = tampered(&pk, &inputs(1, 50, 78), &tamper);
    assert!(matches!(err, VerifyError::Relayout { layer: 1 }), "{err}");
}

/// Conv 3x3 (pads 1) to `[3, 5, 5]` -> sigmoid -> dense 5 -> sigmoid, on `[2, 5, 5]`.
fn map_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let specs = [
        Conv(3, [3, 3], [1, 1], [1; 4], false),
        Sigmoid,
        Dense(5, false),
        Sigmoid,
    ];
    let pk = setup(cnn_model(&specs)).unwrap();
    (pk, inputs(2, 50, 78))
}

#[test]
fn a_map_output_other_than_the_function_is_caught_by_the_lookup_sum() {
    // the sigmoid's output at one real position raised by one (in range, committed, read by
    // the dense layer after it consistently). Its pair (x, y + 1) is no row of the table, so
    // no multiplicities balance the logup sum. Caught by: the GKR root sum check.
    let (pk, xs) = map_fixture();
    let tamper = |w: &mut Witness| w.layers[1].cols.out[0] -= F::ONE;
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn a_prelu_output_by_another_channels_slope_is_caught_by_the_lookup_sum() {
    // conv to [3, 5, 5] (padded [4, 8, 8]) -> PRelu (slopes 0.9, 0.6, 0.3) -> dense. At a
    // negative input of channel 1 the cheater outputs channel 0's value and counts the lookup
    // in channel 0's rows: the pair it looks up, (x + 2^bits, f_0(x)), is no row of the stacked
    // tables (the verifier adds the channel itself). Caught by: the GKR root sum check.
    let pk = setup(cnn_model(&[
        Conv(3, [3, 3], [1, 1], [1; 4], false),
        PRelu,
        Dense(4, false),
    ]))
    .unwrap();
    let xs = inputs(1, 50, 78);
    let LayerOp::Map(Map { table }) = &pk.vk.layers[1].op else {
        panic!("a map")
    };
    let w = generate(&pk.model, &Layout::new(&pk.vk, 1), &xs);
    // a real position of channel 1 (padded index 64 + 8 row + col) where the slopes differ
    let (pos, x) = (64..64 + 5 * 8)
        .filter(|p| p % 8 < 5)
        .map(|p| (p, to_i64(w.layers[0].cols.out[p])))
        .find(|&(_, x)| x < 0 && table[(x + 128) as usize + 256] != table[(x + 128) as usize])
        .expect("a negative input in channel 1");
    let (own, other) = ((x + 128) as usize + 256, (x + 128) as usize);
    let forged = table[other];
    let tamper = move |w: &mut Witness| {
        w.layers[1].cols.out[pos] = from_i64(forged);
        let mults = &mut w
            .mults
            .iter_mut()
            .find(|(t, _)| *t == Table::Map(1))
            .unwrap()
            .1;
        mults[own] -= F::ONE;
        mults[other] += F::ONE;
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn another_kinds_proof_in_place_of_a_map_softmax_log_softmax_or_argmax_is_refused() {
    // a map (no messages of its own) given the proof of the layer before it; a softmax, a
    // log-softmax and an argmax given a map's. Caught by: each kind's check of the proof's
    // kind.
    let fixtures = [
        map_fixture(),
        softmax_fixture(),
        log_softmax_fixture(),
        argmax_fixture(),
    ];
    for (pk, xs) in fixtures {
        let mut proof = zkml::prove(&pk, &xs).unwrap();
        let l = pk
            .vk
            .layers
            .iter()
            .position(|l| !matches!(l.op, LayerOp::Dense(_) | LayerOp::Conv(_)))
            .unwrap();
        proof.layers[l] = match proof.layers[l] {
            LayerProof::Map(()) => proof.layers[l - 1].clone(),
            _ => LayerProof::Map(()),
        };
        let err = verify(&pk.vk, &proof).unwrap_err();
        assert!(
            matches!(err, VerifyError::LayerKind { layer } if layer == l),
            "{err}"
        );
    }
}

#[test]
fn nonzero_padding_of_a_map_output_is_caught_by_the_lookup_sum() {
    // the map's output [3, 5, 5] padded to [4, 8, 8]: cell 5 is column 5 (padding), read by no
    // layer. Its looked-up pair is (0, 1 + f(0)), no row. Caught by: the GKR root sum check.
    let (pk, xs) = map_fixture();
    let tamper = |w: &mut Witness| w.layers[1].cols.out[5] = F::ONE;
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

/// Dense 10 -> softmax (the last layer: its output is public), on `[1, 4, 4]`, two samples.
fn softmax_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(cnn(
        [1, 4, 4],
        &[Dense(10, false), Softmax],
        BatchDim::Dynamic,
        91,
    ))
    .unwrap();
    (pk, inputs(2, 16, 92))
}

/// What a cheating prover rewrites in softmax layer `l` for sample `s`.
#[derive(Default)]
struct SoftmaxForgery<'a> {
    /// New differences `m - x` (all of the row) and max.
    d: Option<(&'a [i64], i64)>,
    sum: Option<i64>,
    count: Option<i64>,
    /// Position `j`'s output raised by one, the remainder and gap moved to keep the division.
    y_plus_one: Option<usize>,
}

/// Rewrites softmax layer `l` of sample `s` as `f` says, every other column of the row made
/// consistent (`e = E[d]`, `z`, `S`, `y`, `rem`, `gap`, the count) and the lookup
/// multiplicities recounted, so that only the check a forgery breaks can refuse it.
fn forge_softmax(pk: &ProvingKey, w: &mut Witness, l: usize, s: usize, f: &SoftmaxForgery<'_>) {
    let LayerOp::Softmax(softmax::Softmax { exp, .. }) = &pk.vk.layers[l].op else {
        panic!("layer {l} is not a softmax")
    };
    let (n, bits) = (pk.vk.layers[l].n_out, pk.vk.bits);
    let width = n.next_power_of_two();
    let q = (1i64 << (bits - 1)) - 1;
    let count_all = |w: &mut Witness, sign: i64| {
        let lw = &w.layers[l];
        let mut bumps: Vec<(Table, i64)> = Vec::new();
        for j in 0..n {
            let d = to_i64(lw.aux[0][s * width + j]);
            bumps.push((Table::Exp(l), d));
            bumps.push((Table::IsZero, d));
            for k in 3..13 {
                bumps.push((Table::Limb, to_i64(lw.aux[k][s * width + j])));
            }
        }
        bumps.push((Table::Limb, to_i64(lw.rows[2][s])));
        for (t, v) in bumps {
            let m = &mut w.mults.iter_mut().find(|(tt, _)| *tt == t).unwrap().1;
            if let Some(slot) = usize::try_from(v).ok().and_then(|i| m.get_mut(i)) {
                *slot += from_i64(sign);
            }
        }
    };
    count_all(w, -1);
    let lw = &mut w.layers[l];
    let row = |k: usize, lw: &zkml::witness::LayerWitness| to_i64(lw.rows[k][s]);
    let (d, m): (Vec<i64>, i64) = match f.d {
        Some((d, m)) => (d.to_vec(), m),
        None => (
            (0..n).map(|j| to_i64(lw.aux[0][s * width + j])).collect(),
            row(0, lw),
        ),
    };
    let e: Vec<i64> = d
        .iter()
        .map(|&v| exp[usize::try_from(v).unwrap()])
        .collect();
    let sum = f.sum.unwrap_or(e.iter().sum());
    let count = f
        .count
        .unwrap_or(d.iter().filter(|&&v| v == 0).count() as i64);
    for j in 0..n {
        let mut y = (2 * q * e[j] + sum) / (2 * sum);
        let rem = 2 * q * e[j] + sum - 2 * sum * y;
        let gap = 2 * sum - 1 - rem;
        let limbs = |v: i64| (0..4).map(move |k| (v >> (8 * k)) & 0xFF);
        let (mut rem_limbs, mut gap_limbs): (Vec<i64>, Vec<i64>) =
            (limbs(rem).collect(), limbs(gap).collect());
        if f.y_plus_one == Some(j) {
            // y + 1 with rem - 2S and gap + 2S: every identity holds, two limbs leave a byte
            y += 1;
            rem_limbs[0] -= 2 * sum;
            gap_limbs[0] += 2 * sum;
        }
        let at = s * width + j;
        let values = [d[j], e[j], i64::from(d[j] == 0), y & 0xFF, y >> 8];
        for (k, v) in values
            .into_iter()
            .chain(rem_limbs)
            .chain(gap_limbs)
            .enumerate()
        {
            lw.aux[k][at] = from_i64(v);
        }
        lw.cols.out[at] = from_i64(y);
        w.output[s * n + j] = y;
    }
    let lw = &mut w.layers[l];
    lw.rows[0][s] = from_i64(m);
    lw.rows[1][s] = from_i64(sum);
    lw.rows[2][s] = from_i64(count - 1);
    count_all(w, 1);
}

#[test]
fn a_padding_row_of_a_softmax_that_counts_is_caught_by_the_row_sums() {
    // softmax over the rows of the model input [2, 3, 4] (rows [2, 3] padded to [2, 4]): the
    // padding row 3 (per-row column index 3 of sample 0) given a count of maxima c = 2 (c - 1 =
    // 1, a byte, recounted) or a sum S = 5. The real rows are honest; the verifier's row sums
    // count only the real rows (`rows(tau_r)`), so the claimed sums are not the sumcheck's.
    // Caught by: softmax.rs `fin != value` (the count and the sum terms).
    let pk = setup(cnn([2, 3, 4], &[SoftmaxRows], BatchDim::Dynamic, 98)).unwrap();
    let xs = inputs(1, 24, 99);
    let count = |w: &mut Witness| {
        w.layers[0].rows[2][3] = F::ONE;
        let limbs = &mut w
            .mults
            .iter_mut()
            .find(|(t, _)| *t == Table::Limb)
            .unwrap()
            .1;
        limbs[0] -= F::ONE;
        limbs[1] += F::ONE;
    };
    let sum = |w: &mut Witness| w.layers[0].rows[1][3] = from_i64(5);
    for tamper in [&count as &dyn Fn(&mut Witness), &sum] {
        let err = tampered(&pk, &xs, tamper);
        assert!(matches!(err, VerifyError::Softmax { layer: 0 }), "{err}");
    }
}

#[test]
fn the_softmax_forger_without_a_change_is_honest() {
    let (pk, xs) = softmax_fixture();
    let tamper = |w: &mut Witness| forge_softmax(&pk, w, 1, 1, &SoftmaxForgery::default());
    let proof = zkml::prove_tampered(&pk, &xs, &tamper).unwrap();
    assert!(verify(&pk.vk, &proof).is_ok());
}

#[test]
fn a_softmax_output_other_than_the_quotient_is_caught_by_its_final_check() {
    // one output raised by one (its limbs kept: they are not the output's any more). Caught by:
    // softmax.rs `fin != value` (the division and the limbs' sum at that position).
    let (pk, xs) = softmax_fixture();
    let tamper = |w: &mut Witness| {
        w.layers[1].cols.out[3] += F::ONE;
        w.output[3] += 1;
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Softmax { layer: 1 }), "{err}");
}

#[test]
fn a_softmax_quotient_with_a_remainder_out_of_range_is_caught_by_the_byte_lookups() {
    // y + 1 with the remainder 2S lower and the gap 2S higher: every identity of the sumcheck
    // holds; the low limbs of both are no bytes. Caught by: the logup root sum.
    let (pk, xs) = softmax_fixture();
    let forgery = SoftmaxForgery {
        y_plus_one: Some(2),
        ..SoftmaxForgery::default()
    };
    let tamper = |w: &mut Witness| forge_softmax(&pk, w, 1, 0, &forgery);
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn a_softmax_bound_above_the_max_is_caught_by_the_count_lookup() {
    // m + 1 (every difference one more, the row recomputed from them): no difference is zero,
    // so the count of maxima is 0 and c - 1 = -1 is no byte. Caught by: the logup root sum.
    let (pk, xs) = softmax_fixture();
    let tamper = |w: &mut Witness| {
        let width = 16;
        let d: Vec<i64> = (0..10)
            .map(|j| to_i64(w.layers[1].aux[0][width + j]) + 1)
            .collect();
        let m = to_i64(w.layers[1].rows[0][1]) + 1;
        let forgery = SoftmaxForgery {
            d: Some((&d, m)),
            ..SoftmaxForgery::default()
        };
        forge_softmax(&pk, w, 1, 1, &forgery);
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn softmax_lies_that_keep_every_lookup_are_caught_by_its_final_check() {
    // Caught by: softmax.rs `fin != value`, each time one term of the combined sumcheck:
    // a count of maxima one more (the count sum), a sum one more (the exponentials' sum, the
    // outputs recomputed from it), one difference one more (d - m + x, its exponential and
    // the outputs recomputed).
    let (pk, xs) = softmax_fixture();
    let count = |w: &mut Witness| {
        let c = to_i64(w.layers[1].rows[2][0]) + 2;
        let forgery = SoftmaxForgery {
            count: Some(c),
            ..SoftmaxForgery::default()
        };
        forge_softmax(&pk, w, 1, 0, &forgery);
    };
    let sum = |w: &mut Witness| {
        let forgery = SoftmaxForgery {
            sum: Some(to_i64(w.layers[1].rows[1][0]) + 1),
            ..SoftmaxForgery::default()
        };
        forge_softmax(&pk, w, 1, 0, &forgery);
    };
    let difference = |w: &mut Witness| {
        let mut d: Vec<i64> = (0..10).map(|j| to_i64(w.layers[1].aux[0][j])).collect();
        let j = d.iter().position(|&v| v > 0 && v < 200).unwrap();
        d[j] += 1;
        let forgery = SoftmaxForgery {
            d: Some((&d, to_i64(w.layers[1].rows[0][0]))),
            ..SoftmaxForgery::default()
        };
        forge_softmax(&pk, w, 1, 0, &forgery);
    };
    for tamper in [&count as &dyn Fn(&mut Witness), &sum, &difference] {
        let err = tampered(&pk, &xs, tamper);
        assert!(matches!(err, VerifyError::Softmax { layer: 1 }), "{err}");
    }
}

#[test]
fn nonzero_padding_of_a_softmax_exponential_is_caught_by_the_lookup() {
    // position 12 of sample 0 is padding (10 values padded to 16), read by no sum: its
    // exponential 1 makes the pair (0, 1 + E[0]), no row. Caught by: the logup root sum.
    let (pk, xs) = softmax_fixture();
    let tamper = |w: &mut Witness| w.layers[1].aux[1][12] = F::ONE;
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

/// Dense 10 -> log-softmax (the last layer), on `[1, 4, 4]`, two samples.
fn log_softmax_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let specs = [Dense(10, false), LogSoftmax];
    let pk = setup(cnn([1, 4, 4], &specs, BatchDim::Dynamic, 93)).unwrap();
    (pk, inputs(2, 16, 94))
}

/// Moves one count of `table` from row `old` to row `new` (a forged column keeps its lookup
/// multiplicities right).
fn recount_one(w: &mut Witness, table: Table, old: i64, new: i64) {
    let m = &mut w.mults.iter_mut().find(|(t, _)| *t == table).unwrap().1;
    m[usize::try_from(old).unwrap()] -= F::ONE;
    m[usize::try_from(new).unwrap()] += F::ONE;
}

#[test]
fn a_log_softmax_bound_limb_off_by_one_is_caught_by_the_bound_check() {
    // the low limb of S - B[L] of sample 0 one more (still a byte, recounted). Caught by:
    // logsoftmax.rs, the identity `S - B[L] = limbs` at tau_s.
    let (pk, xs) = log_softmax_fixture();
    let tamper = |w: &mut Witness| {
        let v = to_i64(w.layers[1].rows[6][0]);
        let new = if v < 255 { v + 1 } else { v - 1 };
        w.layers[1].rows[6][0] = from_i64(new);
        recount_one(w, Table::Limb, v, new);
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::LogSoftmax { layer: 1 }), "{err}");
}

#[test]
fn a_log_softmax_shift_other_than_its_log_sum_is_caught_by_its_final_check() {
    // t = g + L one more at position 0 of sample 0, the output its clamped negation (so the
    // lookups hold; the output is public and follows). Caught by: logsoftmax.rs `fin != value`.
    let (pk, xs) = log_softmax_fixture();
    let tamper = |w: &mut Witness| {
        let t = to_i64(w.layers[1].aux[4][0]);
        w.layers[1].aux[4][0] = from_i64(t + 1);
        recount_one(w, Table::NegClamp, t, t + 1);
        let y = (-(t + 1)).max(-128);
        w.layers[1].cols.out[0] = from_i64(y);
        w.output[0] = y;
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::LogSoftmax { layer: 1 }), "{err}");
}

#[test]
fn a_log_softmax_output_other_than_its_clamped_negation_is_caught_by_the_lookup() {
    // the output at position 3 of sample 1 one less (public, followed). Its pair (t, y - 1) is
    // no row of the clamped negation. Caught by: the logup root sum.
    let (pk, xs) = log_softmax_fixture();
    let tamper = |w: &mut Witness| {
        w.layers[1].cols.out[16 + 3] -= F::ONE;
        w.output[10 + 3] -= 1;
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn a_log_sum_above_its_bounds_is_caught_by_the_byte_lookups() {
    // L + 1 for sample 0 with B[L + 1], B[L + 2] from the key's bounds, every t one more and
    // every output its clamped negation: the identities hold (S - B[L + 1] and B[L + 2] - 1 - S
    // put in their low limbs), but S < B[L + 1] makes that low limb no byte. Caught by: the
    // logup root sum.
    let (pk, xs) = log_softmax_fixture();
    let LayerOp::LogSoftmax(logsoftmax::LogSoftmax { bounds, .. }) = &pk.vk.layers[1].op else {
        panic!("a log-softmax")
    };
    let tamper = |w: &mut Witness| {
        let lw = &mut w.layers[1];
        let (sum, log) = (to_i64(lw.rows[1][0]), to_i64(lw.rows[3][0]) + 1);
        let (lo, hi) = (bounds[log as usize], bounds[log as usize + 1]);
        lw.rows[3][0] = from_i64(log);
        lw.rows[4][0] = from_i64(lo);
        lw.rows[5][0] = from_i64(hi);
        lw.rows[6][0] = from_i64(sum - lo);
        lw.rows[10][0] = from_i64(hi - 1 - sum);
        for k in [7, 8, 9, 11, 12, 13] {
            lw.rows[k][0] = F::ZERO;
        }
        for j in 0..10 {
            let t = to_i64(lw.aux[4][j]) + 1;
            lw.aux[4][j] = from_i64(t);
            let y = (-t).max(-128);
            lw.cols.out[j] = from_i64(y);
            w.output[j] = y;
        }
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

/// The argmax of the model input (7 values, the last layer), two samples with ties: the
/// maximum 9 at indices 1, 4 and 6, the maximum 3 at 0 and 2.
fn argmax_fixture() -> (ProvingKey, Vec<Vec<i64>>) {
    let pk = setup(cnn([1, 1, 7], &[ArgMax(false)], BatchDim::Dynamic, 95)).unwrap();
    let xs = vec![vec![5, 9, -3, 0, 9, 2, 9], vec![3, -8, 3, -128, 1, 0, 2]];
    (pk, xs)
}

/// The argmax layer of its fixture (the first: it reads the input where the public input is).
const ARGMAX: usize = 0;

#[test]
fn the_argmax_fixture_proves_the_first_maximum() {
    let (pk, xs) = argmax_fixture();
    assert!(matches!(
        pk.vk.layers[ARGMAX].op,
        LayerOp::ArgMax(zkml::ops::argmax::ArgMax { last: false, .. })
    ));
    let out = verify(&pk.vk, &zkml::prove(&pk, &xs).unwrap()).unwrap();
    assert_eq!(out, vec![vec![1], vec![0]]);
}

#[test]
fn another_maximum_or_index_is_caught_by_the_argmax_final_check() {
    // the output and the one-hot moved to the last maximum (a tie: the same value, another
    // key), or to a smaller value; the keys' differences kept. Caught by: argmax.rs
    // `fin != value` (sum h d = 0 fails: the key there is below M).
    let (pk, xs) = argmax_fixture();
    for to in [6, 2] {
        let tamper = |w: &mut Witness| {
            let lw = &mut w.layers[ARGMAX];
            lw.aux[0][1] = F::ZERO;
            lw.aux[0][to] = F::ONE;
            lw.cols.out[0] = F::from_u64(to as u64);
            w.output[0] = to as i64;
        };
        let err = tampered(&pk, &xs, &tamper);
        assert!(
            matches!(err, VerifyError::ArgMax { layer: ARGMAX }),
            "{err}"
        );
    }
}

#[test]
fn a_one_hot_that_is_not_boolean_is_caught_by_the_argmax_final_check() {
    // the one-hot at index 1 plus weights w on indices 0, 2, 3 with sum w = 0 and
    // sum w d = 0 (so every row sum but the index holds) and sum j w = 1: the output 2, an
    // index with a smaller value. Only h^2 = h fails. Caught by: argmax.rs `fin != value`.
    let (pk, xs) = argmax_fixture();
    let tamper = |w: &mut Witness| {
        let lw = &mut w.layers[ARGMAX];
        let d = |j: usize| {
            (1..5).fold(F::ZERO, |acc, k| {
                acc + lw.aux[k][j] * F::from_u64(1 << (8 * (k - 1)))
            })
        };
        let (d0, d2, d3) = (d(0), d(2), d(3));
        // w0 + w2 + w3 = 0, w0 d0 + w2 d2 + w3 d3 = 0, 0 w0 + 2 w2 + 3 w3 = 1
        // from the first two: w2 = w0 (d3 - d0) / (d2 - d3), w3 = -w0 - w2
        let r = (d3 - d0) * (d2 - d3).try_inverse().unwrap();
        let (w2_per, w3_per) = (r, -F::ONE - r);
        let w0 = (F::TWO * w2_per + F::from_u64(3) * w3_per)
            .try_inverse()
            .unwrap();
        for (j, v) in [(0, w0), (2, w0 * w2_per), (3, w0 * w3_per)] {
            lw.aux[0][j] = v;
        }
        lw.cols.out[0] = F::TWO;
        w.output[0] = 2;
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::ArgMax { layer: ARGMAX }),
        "{err}"
    );
}

#[test]
fn an_argmax_input_lie_that_keeps_its_final_check_is_caught_by_the_public_input() {
    // the input at the sumcheck's point one more and the largest key n more: every term of
    // the final check is unchanged (d - M + n x + tie). The argmax reads the model input.
    // Caught by: the public input check of the claim on it.
    let (pk, xs) = argmax_fixture();
    let n = EF::from_u64(7);
    let edit = |m: Msg, v: &mut [EF]| {
        if m == Msg::SoftmaxEvals(ARGMAX) {
            v[5] += EF::ONE;
            v[6] += n;
        }
    };
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::PublicInput), "{err}");
}

#[test]
fn softmax_and_log_softmax_input_lies_that_keep_their_final_checks_are_caught_by_the_openings() {
    // the input at the sumcheck's point one more and the difference d one less: d - m + x and
    // every other term unchanged. The softmax reads the dense layer's committed output.
    // Caught by: the witness opening of the claims on d and the input.
    for ((pk, xs), x) in [(softmax_fixture(), 14), (log_softmax_fixture(), 5)] {
        let edit = |m: Msg, v: &mut [EF]| {
            if m == Msg::SoftmaxEvals(1) {
                v[0] -= EF::ONE;
                v[x] += EF::ONE;
            }
        };
        let err = edited(&pk, &xs, &edit);
        assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
    }
}

#[test]
fn a_log_softmax_upper_bound_limb_off_by_one_is_caught_by_the_bound_check() {
    // the low limb of B[L + 1] - 1 - S of sample 1 one more (still a byte, recounted); the lower
    // bound's identity still holds. Caught by: logsoftmax.rs, the identity
    // `B[L + 1] - 1 - S = limbs` at tau_s.
    let (pk, xs) = log_softmax_fixture();
    let tamper = |w: &mut Witness| {
        let v = to_i64(w.layers[1].rows[10][1]);
        let new = if v < 255 { v + 1 } else { v - 1 };
        w.layers[1].rows[10][1] = from_i64(new);
        recount_one(w, Table::Limb, v, new);
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::LogSoftmax { layer: 1 }), "{err}");
}

#[test]
fn a_bound_below_the_largest_key_is_caught_by_the_byte_lookups() {
    // M one less for sample 1 (its index and one-hot kept, every difference one less): the
    // difference at the index is -1, no four bytes. Caught by: the logup root sum.
    let (pk, xs) = argmax_fixture();
    let tamper = |w: &mut Witness| {
        let lw = &mut w.layers[ARGMAX];
        lw.rows[0][1] -= F::ONE;
        for j in 0..7 {
            let at = 8 + j;
            let d: i64 = (1..5)
                .map(|k| to_i64(lw.aux[k][at]) << (8 * (k - 1)))
                .sum::<i64>()
                - 1;
            for k in 1..5 {
                lw.aux[k][at] = if d < 0 && k == 1 {
                    from_i64(d)
                } else {
                    from_i64((d.max(0) >> (8 * (k - 1))) & 0xFF)
                };
            }
        }
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(
        matches!(err, VerifyError::Gkr(GkrError::NonZeroSum)),
        "{err}"
    );
}

#[test]
fn another_per_position_multiplier_is_caught_by_the_requant_check() {
    // an average pool dividing border windows by their positions inside the input (one
    // multiplier per position); the prover's model has the multipliers of the border
    // positions raised, its witness requantized with them. Caught by: requant.rs final check
    // (the verifier evaluates the key's per-position multipliers).
    let specs = [
        Conv(2, [3, 3], [1, 1], [1; 4], true),
        AvgPoolInside([3, 3], [1, 1], [1; 4]),
        Dense(4, false),
    ];
    let honest = setup(cnn_model(&specs)).unwrap();
    let mut other = cnn_model(&specs);
    let QuantLayer::AvgPool(p) = &mut other.layers[1] else {
        unreachable!()
    };
    assert_eq!(p.multiplier.len(), 2 * 5 * 5);
    for (i, m) in p.multiplier.iter_mut().enumerate() {
        let (y, x) = (i % 25 / 5, i % 5);
        if y % 4 == 0 || x % 4 == 0 {
            *m += 1 << 28;
        }
    }
    let mut cheat = setup(other).unwrap();
    cheat.vk = honest.vk.clone();
    let err = refused(&cheat, &inputs(1, 50, 78), &Cheat::default());
    assert!(matches!(err, VerifyError::Requant { layer: 1 }), "{err}");
}

#[test]
fn false_sum_accumulator_is_caught_by_the_sum_check() {
    // a sum's accumulator raised by one (requantization re-derived, same output), the true
    // inputs sent. Caught by: add.rs `acc != m_a a + m_b b`.
    let (pk, xs) = residual_fixture();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 4, 0, 0);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Add { layer: 4 }), "{err}");
}

#[test]
fn sum_input_lies_that_keep_the_sum_are_caught_by_the_inputs_checks() {
    // a(rho) + m_b, b(rho) - m_a: the same m_a a + m_b b, two false input claims. Caught by:
    // the witness opening (layer 4 reads committed columns), the public input check (layer 2
    // reads the model input, its second input).
    for (layer, caught_by_public_input) in [(4, false), (2, true)] {
        let (pk, xs) = residual_fixture();
        let [ma, mb] = sum_scales(&pk, layer);
        let edit = move |m: Msg, v: &mut [EF]| {
            if m == Msg::SumInputs(layer) {
                v[0] += mb;
                v[1] -= ma;
            }
        };
        let err = edited(&pk, &xs, &edit);
        if caught_by_public_input {
            assert!(matches!(err, VerifyError::PublicInput), "{err}");
        } else {
            assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
        }
    }
}

#[test]
fn gkr_child_lie_is_caught_by_the_next_layer_claim_check() {
    // at depth 1, segment 0's children change as pL + e qL, pR - e qR: their combination (the
    // depth-1 check) is unchanged, the reduced claim is false; the prover carries on from it
    // (consistent rounds) with true children at depth 2. Caught by: gkr verify's
    // `LayerClaimMismatch` at depth 2.
    let (pk, xs) = mlp();
    let edit = |at, v: &mut [EF]| {
        if at == Msg::Gkr(GkrMsg::Children { depth: 1, k: 0 }) {
            let e = EF::from_u64(9);
            v[0] += e * v[2];
            v[1] -= e * v[3];
        }
    };
    let err = edited(&pk, &xs, &edit);
    assert!(
        matches!(
            err,
            VerifyError::Gkr(GkrError::LayerClaimMismatch { depth: 2 })
        ),
        "{err}"
    );
}

#[test]
fn witness_for_another_input_is_caught_by_the_public_input_check() {
    // the whole witness (and the output) is computed for another input, the stated input is
    // unchanged. Caught by: statement.rs `Claims::layer_input` of layer 0.
    for (pk, xs) in [mlp(), cnn_fixture()] {
        let other: Vec<Vec<i64>> = xs
            .iter()
            .map(|x| x.iter().map(|&v| if v == 5 { 6 } else { 5 }).collect())
            .collect();
        let tamper = |w: &mut Witness| {
            *w = generate(&pk.model, &Layout::new(&pk.vk, xs.len()), &other);
        };
        let cheat = Cheat {
            witness: Some(&tamper),
            ..Cheat::default()
        };
        let err = refused(&pk, &xs, &cheat);
        assert!(matches!(err, VerifyError::PublicInput), "{err}");
    }
}

#[test]
fn nonzero_padding_of_a_pool_output_is_caught_by_the_pool_wiring_check() {
    // pool output [3, 2, 2] padded to [4, 2, 2]: cell 12 is channel 3 (padding). out = 5 there,
    // with differences 0, 5, 5, 5 (bytes, one zero: the lookups and the zero-check hold).
    // Caught by: maxpool.rs wiring check (padding positions gather nothing).
    let (pk, xs) = cnn_fixture();
    let r = relu(&pk);
    let tamper = |w: &mut Witness| {
        let lw = &mut w.layers[1];
        lw.cols.out[12] = F::from_u64(5);
        for limbs in lw.diffs.iter_mut().skip(1) {
            limbs[0][12] = F::from_u64(5);
        }
        w.recount(8, &r);
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::MaxPool { layer: 1 }), "{err}");
}

#[test]
fn nonzero_padding_of_a_conv_output_is_caught_by_the_requant_check() {
    // conv output [3, 5, 5] padded to [4, 8, 8]: cell 5 is column 5 (padding). out = 5 there
    // with sigma 0 (a row of the clamp table; the accumulator is 0). Caught by: requant.rs
    // zero-check final check.
    let (pk, xs) = cnn_fixture();
    let r = relu(&pk);
    let tamper = |w: &mut Witness| {
        w.layers[0].cols.out[5] = F::from_u64(5);
        w.layers[0].cols.sigma[5] = F::ZERO;
        w.recount(8, &r);
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Requant { layer: 0 }), "{err}");
}

#[test]
fn forged_max_pool_as_the_last_layer_is_caught_by_the_public_output() {
    // the stated output of a final max-pool differs in one cell from the committed computation.
    // Caught by: statement.rs `Claims::column` on the public output.
    let specs = [
        Conv(3, [3, 3], [1, 1], [1; 4], true),
        Pool([2, 2], [2, 2], [0; 4]),
    ];
    let pk = setup(cnn_model(&specs)).unwrap();
    let xs = inputs(1, 50, 78);
    let tamper = |w: &mut Witness| w.output[3] = if w.output[3] == 7 { 8 } else { 7 };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::PublicOutput), "{err}");
}

#[test]
fn dense_weights_in_another_column_order_are_caught_by_the_weight_opening() {
    // a dense layer after a conv reads [C][H][W]; the prover's weights are ordered as if it read
    // [H][W][C] (a flatten-order mistake), its witness computed with them. Caught by: the
    // weight opening.
    let specs = [Conv(3, [3, 3], [1, 1], [1; 4], true), Dense(4, false)];
    let honest = setup(cnn_model(&specs)).unwrap();
    let mut other = cnn_model(&specs);
    let QuantLayer::Dense(d) = &mut other.layers[1] else {
        unreachable!()
    };
    let (c, h, wd) = (3, 5, 5);
    let original = d.weight.clone();
    for r in 0..d.n_out {
        for ch in 0..c {
            for y in 0..h {
                for x in 0..wd {
                    let (chw, hwc) = ((ch * h + y) * wd + x, (y * wd + x) * c + ch);
                    d.weight[r * d.n_in + hwc] = original[r * d.n_in + chw];
                }
            }
        }
    }
    assert_ne!(d.weight, original);
    let mut cheat = setup(other).unwrap();
    cheat.vk = honest.vk.clone();
    let err = refused(&cheat, &inputs(1, 50, 5), &Cheat::default());
    assert!(matches!(err, VerifyError::WeightOpening(_)), "{err}");
}

// ---- transcript binding ----

/// Every message point of a proof of `pk`, with the number of values it carries.
fn message_points(pk: &ProvingKey, samples: usize) -> Vec<(Msg, usize)> {
    let layout = Layout::new(&pk.vk, samples);
    // the GKR's trees: one per block of packed segments, the last ones of fewer leaves
    let blocks: Vec<usize> = layout.lookup_groups().iter().map(|g| g.vars).collect();
    let active = blocks.iter().filter(|&&n| n > 0).count();
    assert!(active >= 2 && blocks[0] > 3, "{blocks:?}");
    let mut v = vec![
        (Msg::Gkr(GkrMsg::Root(0)), 2),
        (Msg::Gkr(GkrMsg::Root(blocks.len() - 1)), 2),
        (Msg::Gkr(GkrMsg::Round { depth: 2, round: 1 }), 3),
        (
            Msg::Gkr(GkrMsg::Children {
                depth: 0,
                k: active - 1,
            }),
            4,
        ),
        (Msg::Gkr(GkrMsg::Children { depth: 3, k: 0 }), 4),
        (Msg::LookupEvals, 2),
        (Msg::TableEvals, 1),
    ];
    let round = |layer, stage, round| Msg::Round {
        layer,
        stage,
        round,
    };
    for (l, shape) in layout.layers.iter().enumerate() {
        let value = |f| (Msg::Value(l, f), 1);
        match &shape.op {
            LayerOp::MaxPool(p) => {
                v.push((
                    round(l, Stage::ZeroCheck, 0),
                    p.window.kernel[0] * p.window.kernel[1] + 1,
                ));
                v.push((round(l, Stage::ZeroCheck, 1), 1));
                v.push(value(Value::Out));
                v.push((Msg::Diffs(l, 0), 1));
                v.push((Msg::Diffs(l, 3), 1));
                v.push((round(l, Stage::Wiring, 0), 2));
                v.push(value(Value::Input));
            }
            LayerOp::Add(_) => {
                v.push((round(l, Stage::Requant, 0), 3));
                v.push((round(l, Stage::Requant, 1), 3));
                v.push((Msg::RequantEvals(l), shape.limbs.evals()));
                v.push((Msg::SumInputs(l), 2));
            }
            LayerOp::AvgPool(_) => {
                v.push((round(l, Stage::Requant, 0), 3));
                v.push((round(l, Stage::Requant, 1), 3));
                v.push((Msg::RequantEvals(l), shape.limbs.evals()));
                v.push((round(l, Stage::Wiring, 0), 2));
                v.push((round(l, Stage::Wiring, 1), 2));
                v.push(value(Value::Input));
            }
            // no messages of its own
            LayerOp::Map(_) => {}
            LayerOp::Softmax(_) => {
                v.push((Msg::SoftmaxSums(l), 2));
                v.push((round(l, Stage::ZeroCheck, 0), 4));
                v.push((round(l, Stage::ZeroCheck, 1), 4));
                v.push((Msg::SoftmaxEvals(l), 15));
            }
            LayerOp::ArgMax(_) => {
                v.push((Msg::ArgMaxIndex(l), 1));
                v.push((round(l, Stage::ZeroCheck, 0), 4));
                v.push((round(l, Stage::ZeroCheck, 1), 4));
                v.push((Msg::SoftmaxEvals(l), 7));
            }
            LayerOp::LogSoftmax(_) => {
                v.push((Msg::LogSoftmaxRows(l), 13));
                v.push((round(l, Stage::ZeroCheck, 0), 3));
                v.push((round(l, Stage::ZeroCheck, 1), 3));
                v.push((Msg::SoftmaxEvals(l), 6));
            }
            LayerOp::Relayout(_) => {
                v.push(value(Value::Out));
                v.push((round(l, Stage::Wiring, 0), 2));
                v.push((round(l, Stage::Wiring, 1), 2));
                v.push(value(Value::Input));
            }
            LayerOp::Dense(_) | LayerOp::Conv(_) => {
                v.push((round(l, Stage::Requant, 0), 3));
                v.push((round(l, Stage::Requant, 1), 3));
                v.push((Msg::RequantEvals(l), shape.limbs.evals()));
                v.push(value(Value::Bias));
                let stages: &[Stage] = match shape.op {
                    LayerOp::Dense(_) => &[Stage::Dense],
                    _ => &[Stage::Patches, Stage::Wiring],
                };
                for &s in stages {
                    v.push((round(l, s, 0), 2));
                    v.push((round(l, s, 1), 2));
                }
                v.push(value(Value::Weight));
                v.push(value(Value::Input));
                if matches!(shape.op, LayerOp::Conv(_)) {
                    v.push(value(Value::Unfolded));
                }
            }
        }
    }
    v
}

/// Proves with `edit`, returning the proof and the prover's challenges.
fn recorded(pk: &ProvingKey, xs: &[Vec<i64>], edit: Option<Edit<'_>>) -> (Proof, Vec<EF>) {
    let (proof, challenges, _) = recorded_forks(pk, xs, edit);
    (proof, challenges)
}

/// [`recorded`], also returning where the lookups' and the layers' forks of the transcript
/// sit among the challenges.
fn recorded_forks(
    pk: &ProvingKey,
    xs: &[Vec<i64>],
    edit: Option<Edit<'_>>,
) -> (Proof, Vec<EF>, Vec<Range<usize>>) {
    let (sink, forks) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
    let cheat = Cheat {
        message: edit,
        challenges: Some(&sink),
        forks: Some(&forks),
        ..Cheat::default()
    };
    let proof = prove_cheating(pk, xs, &cheat).unwrap();
    (proof, sink.into_inner(), forks.into_inner())
}

/// The lookups and the layers run on forks of the transcript: a message changes every later
/// challenge but the other fork's (the layers' fork comes second in the recording).
#[test]
fn changing_any_prover_message_changes_every_later_challenge_of_its_fork() {
    let fixtures = [
        mlp(),
        cnn_fixture(),
        avg_fixture(),
        residual_fixture(),
        relayout_fixture(),
        map_fixture(),
        softmax_fixture(),
        log_softmax_fixture(),
        argmax_fixture(),
    ];
    for (pk, xs) in fixtures {
        let (proof, honest, forks) = recorded_forks(&pk, &xs, None);
        let (result, v) = verify_recording(&pk.vk, &proof);
        assert!(result.is_ok());
        assert_eq!(v[..v.len() - 1], honest[..honest.len() - 1]);
        let [lookups, layers] = &forks[..] else {
            panic!("two forks: {forks:?}");
        };
        assert!(lookups.end == layers.start && !lookups.is_empty() && !layers.is_empty());
        for (at, len) in message_points(&pk, xs.len()) {
            let in_lookups = matches!(at, Msg::Gkr(_) | Msg::LookupEvals | Msg::TableEvals);
            let own = if in_lookups { lookups } else { layers };
            for i in 0..len {
                let edit = |m: Msg, vals: &mut [EF]| {
                    if m == at {
                        vals[i] += EF::ONE;
                    }
                };
                let (proof, c) = recorded(&pk, &xs, Some(&edit));
                assert_eq!(c.len(), honest.len(), "{at:?}[{i}]");
                let k = c
                    .iter()
                    .zip(&honest)
                    .position(|(a, b)| a != b)
                    .unwrap_or_else(|| panic!("{at:?}[{i}] changes no challenge"));
                assert!(
                    own.contains(&k),
                    "{at:?}[{i}]: first change at {k}, not in {own:?}"
                );
                for (j, (a, b)) in c.iter().zip(&honest).enumerate().skip(k) {
                    let unseen = in_lookups && layers.contains(&j);
                    assert_eq!(a == b, unseen, "{at:?}[{i}]: challenge {j}");
                }
                // the verifier reads the changed message from the proof: its challenges are
                // the prover's until it refuses the proof
                let (result, v) = verify_recording(&pk.vk, &proof);
                assert!(result.is_err(), "{at:?}[{i}] accepted");
                assert_eq!(v[..v.len() - 1], c[..v.len() - 1], "{at:?}[{i}]");
            }
        }
    }
}

#[test]
fn changing_the_statement_changes_every_challenge() {
    let (pk, xs) = mlp();
    let (proof, honest) = recorded(&pk, &xs, None);
    for which in 0..3 {
        let mut bad = proof.clone();
        match which {
            0 => bad.input[0] = if bad.input[0] == 1 { 2 } else { 1 },
            1 => bad.output[0] = if bad.output[0] == 1 { 2 } else { 1 },
            _ => {
                let other = prove_cheating(&pk, &inputs(1, 12, 99), &Cheat::default()).unwrap();
                bad.witness_commitment = other.witness_commitment;
            }
        }
        let (result, v) = verify_recording(&pk.vk, &bad);
        assert!(result.is_err());
        assert!(v.len() > 1, "statement {which}: no challenge drawn");
        assert!(
            v.iter().zip(&honest).all(|(a, b)| a != b),
            "statement {which}"
        );
    }
}

/// The MLP proving 2048 samples: 2048 x 28 requantized values (outputs padded to 16, 8 and 4),
/// past `WIDE_FROM`, so its proofs split the excess and the remainder into 16-bit limbs.
fn wide_mlp() -> (ProvingKey, Vec<Vec<i64>>) {
    let (pk, _) = mlp();
    (pk, inputs(2048, WIDTHS[0], 43))
}

#[test]
fn a_proof_takes_wide_limbs_from_enough_requantized_values() {
    let (pk, xs) = wide_mlp();
    // 1024 samples: 28672 values; 1025 pad to 2048: 57344
    let excess_bits = pk.vk.check_bounds().unwrap();
    for (samples, wide) in [(1, false), (1024, false), (1025, true), (2048, true)] {
        let layout = Layout::new(&pk.vk, samples);
        for (shape, &bits) in layout.layers.iter().zip(&excess_bits) {
            assert_eq!(
                shape.limbs,
                Limbs {
                    wide,
                    excess_bits: bits
                },
                "{samples}"
            );
        }
        assert_eq!(layout.tables().contains(&Table::Limb16), wide, "{samples}");
        assert!(layout.tables().contains(&Table::Limb));
    }
    // the key's bounds leave fewer than 24 bits of excess: fewer limbs
    assert!(
        excess_bits.iter().all(|&b| (8..=16).contains(&b)),
        "{excess_bits:?}"
    );
    let proof = prove_cheating(&pk, &xs, &Cheat::default()).unwrap();
    let proof = Proof::from_bytes(&proof.to_bytes()).unwrap();
    assert_eq!(verify(&pk.vk, &proof).unwrap().len(), 2048);
}

#[test]
fn wide_requant_evaluation_lie_is_caught_by_the_witness_opening() {
    let (pk, xs) = wide_mlp();
    let edit = requant_lie(1, true);
    let err = edited(&pk, &xs, &edit);
    assert!(matches!(err, VerifyError::WitnessOpening(_)), "{err}");
}

#[test]
fn wide_fake_dense_accumulator_is_caught_by_the_dense_final_check() {
    let (pk, xs) = wide_mlp();
    let tamper = |w: &mut Witness| fake_acc(&pk, w, 1, 2, 2);
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Dense { layer: 1 }), "{err}");
}

#[test]
fn wide_remainder_outside_its_limbs_is_refused_by_the_lookup() {
    // out + 1 balanced by remainder - 2^32: the identity holds, the top 16-bit limb goes
    // negative. Caught by: the lookup of that limb into the 16-bit table.
    let (pk, xs) = wide_mlp();
    let tamper = |w: &mut Witness| {
        let i = interior(w, 1);
        let c = &mut w.layers[1].cols;
        c.out[i] += F::ONE;
        c.rem[1][i] -= F::from_u64(1 << 16);
        w.recount(8, &relu(&pk));
    };
    let err = tampered(&pk, &xs, &tamper);
    assert!(matches!(err, VerifyError::Gkr(_)), "{err}");
}

#[test]
fn excess_top_limb_is_within_its_bits() {
    // where out is inside the range, sigma = 0 and the excess does not enter the identity: a
    // top limb of 2^width (an excess past what the key's bounds allow) keeps every other
    // check. Caught by: the lookup of that limb into its table (bytes, or 16-bit limbs).
    for (pk, xs) in [mlp(), wide_mlp()] {
        let tamper = |w: &mut Witness| {
            let i = interior(w, 1);
            let c = &mut w.layers[1].cols;
            let widths = c.limbs.excess();
            let top = widths.len() - 1;
            c.excess[top][i] = F::from_u64(1 << widths[top]);
            w.recount(8, &relu(&pk));
        };
        let err = tampered(&pk, &xs, &tamper);
        assert!(matches!(err, VerifyError::Gkr(_)), "{err}");
    }
}

#[test]
fn requant_evaluations_with_another_limb_count_are_refused() {
    // each layer's zero-check sends the layout's limbs: bytes for one sample, 16-bit limbs
    // for 2048; one more or one fewer is refused before the check
    for (pk, xs) in [mlp(), wide_mlp()] {
        let proof = prove_cheating(&pk, &xs, &Cheat::default()).unwrap();
        let limbs = Layout::new(&pk.vk, xs.len()).layers[0].limbs;
        type Part = fn(&mut zkml::ops::requant::RequantEvals) -> &mut Vec<EF>;
        let parts: [(&str, usize, Part); 2] = [
            ("excess limbs", limbs.excess().len(), |e| &mut e.excess),
            ("remainder limbs", limbs.rem().len(), |e| &mut e.rem),
        ];
        for (what, expected, part) in parts {
            for got in [expected - 1, expected + 1] {
                let mut bad = proof.clone();
                let LayerProof::Dense(r) = &mut bad.layers[0] else {
                    panic!("a dense layer")
                };
                part(&mut r.requant_evals).resize(got, EF::ZERO);
                let err = verify(&pk.vk, &bad).unwrap_err();
                assert!(
                    matches!(err, VerifyError::Shape { what: w, expected: e, got: g }
                        if w == what && e == expected && g == got),
                    "{err}"
                );
            }
        }
    }
}
