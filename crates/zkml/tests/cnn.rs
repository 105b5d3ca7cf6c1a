//! CNNs: convolution, max-pool, average-pool and residual (sum) proofs for many geometries, end
//! to end, and their soundness.

mod common;

use common::{Spec, cnn, inputs};
use p3_field::PrimeCharacteristicRing;
use zkml::zkml_model::BatchDim;
use zkml::{Proof, VerifyError, prove, prove_tampered, setup, verify};
use zkml_proof::field::F;

fn round_trip(input: [usize; 3], specs: &[Spec], samples: usize, seed: u64) {
    let m = cnn(input, specs, BatchDim::Dynamic, seed);
    let xs = inputs(samples, input.iter().product(), seed + 1);
    let expected: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| m.forward(x).last().unwrap().clone())
        .collect();
    let pk = setup(m).expect("setup");
    let proof = Proof::from_bytes(&prove(&pk, &xs).expect("prove").to_bytes()).unwrap();
    let out = verify(&pk.vk, &proof).unwrap_or_else(|e| panic!("{input:?}: {e}"));
    assert_eq!(out, expected);
}

use Spec::{
    Add, ArgMax, ArgMaxRows, AvgPool, AvgPoolInside, Conv, Dense, Embed, LogSoftmax,
    LogSoftmaxRows, PRelu, Pool, Read, Relayout, Sigmoid, Softmax, SoftmaxRows, Upsample,
};

#[test]
fn lenet_style_conv_pool_dense() {
    round_trip(
        [1, 12, 12],
        &[
            Conv(4, [3, 3], [1, 1], [0; 4], true),
            Pool([2, 2], [2, 2], [0; 4]),
            Conv(6, [3, 3], [1, 1], [0; 4], true),
            Dense(5, false),
        ],
        1,
        1,
    );
}

#[test]
fn padding_strides_and_rectangular_kernels() {
    round_trip(
        [3, 13, 11],
        &[
            Conv(5, [3, 3], [2, 2], [1, 0, 2, 1], true),
            Conv(4, [3, 5], [1, 1], [1, 2, 1, 2], true),
            Pool([3, 3], [2, 2], [1, 1, 1, 1]),
            Dense(3, false),
        ],
        2,
        2,
    );
}

#[test]
fn conv_or_pool_as_the_last_layer() {
    round_trip(
        [2, 7, 6],
        &[Conv(3, [2, 3], [1, 2], [0, 1, 1, 0], false)],
        1,
        3,
    );
    round_trip(
        [2, 7, 6],
        &[
            Conv(3, [3, 3], [1, 1], [1; 4], true),
            Pool([2, 3], [1, 2], [0, 1, 0, 1]),
        ],
        3,
        4,
    );
}

#[test]
fn many_geometries_verify() {
    let mut seed = 10;
    for k in [1, 2, 3, 5] {
        for s in [1, 2, 3] {
            for p in [0, 1, 2] {
                if k + 2 * p < s {
                    continue;
                }
                seed += 1;
                round_trip(
                    [2, 9, 8],
                    &[
                        Conv(3, [k, k.max(2) - 1], [s, 1], [p, 0, p, 1], true),
                        Pool([2, 2], [1, 1], [0; 4]),
                    ],
                    1,
                    seed,
                );
            }
        }
    }
}

#[test]
fn average_pools_of_every_geometry_prove_the_models_function() {
    // strided, padded (padding counts as 0), rectangular, global, fused ReLU, after a
    // max-pool, as the last layer, over several samples
    round_trip(
        [2, 8, 8],
        &[
            Conv(3, [3, 3], [1, 1], [1; 4], true),
            AvgPool([2, 2], [2, 2], [0; 4], false),
            Conv(4, [3, 3], [1, 1], [1; 4], false),
            AvgPool([3, 2], [1, 2], [1, 0, 1, 1], true),
            AvgPool([4, 2], [1, 1], [0; 4], false),
            Dense(3, false),
        ],
        3,
        5,
    );
    round_trip(
        [3, 7, 5],
        &[
            Pool([2, 2], [1, 1], [0; 4]),
            AvgPool([6, 4], [1, 1], [0; 4], true),
        ],
        2,
        6,
    );
    let mut seed = 30;
    for k in [1, 2, 3] {
        for s in [1, 2, 3] {
            seed += 1;
            round_trip(
                [2, 7, 6],
                &[AvgPool([k, k + 1], [s, 1], [k / 2, 0, k / 2, 1], false)],
                1,
                seed,
            );
            // each window divided by its positions inside the input: per-position multipliers
            round_trip(
                [2, 7, 6],
                &[
                    AvgPoolInside([k, k + 1], [s, 1], [k / 2, 0, k / 2, 1]),
                    Dense(3, false),
                ],
                2,
                seed,
            );
        }
    }
}

#[test]
fn residual_networks_prove_the_models_function() {
    let conv = |c, relu| Conv(c, [3, 3], [1, 1], [1; 4], relu);
    // basic blocks: an identity shortcut from the model input, a strided 1x1-conv shortcut
    // (a branch read from layer 2's output), a max-pool after a sum, a sum as the last layer
    // (tensors: 0 the input, k + 1 layer k's output)
    round_trip(
        [2, 8, 8],
        &[
            conv(2, true),
            conv(2, false),
            Add(0, true),
            Conv(4, [3, 3], [2, 2], [1; 4], true),
            conv(4, false),
            Read(3),
            Conv(4, [1, 1], [2, 2], [0; 4], false),
            Add(5, true),
            Pool([2, 2], [2, 2], [0; 4]),
            AvgPool([1, 1], [1, 1], [0; 4], false),
            Read(8),
            Add(9, false),
        ],
        3,
        40,
    );
    // an MLP residual, a tensor read by three layers, a sum of a tensor with itself
    round_trip(
        [12, 1, 1],
        &[
            Dense(8, true),
            Dense(8, false),
            Add(1, true),
            Read(1),
            Dense(8, false),
            Add(3, false),
            Add(5, false),
            Dense(3, false),
        ],
        2,
        41,
    );
}

#[test]
fn relayouts_prove_the_models_function() {
    let c3 = |c, relu| Conv(c, [3, 3], [1, 1], [1; 4], relu);
    // a conv after a dense layer, unflattened NHWC (Keras: Reshape then Transpose)
    round_trip(
        [1, 6, 6],
        &[
            c3(2, true),
            Dense(24, true),
            Relayout([3, 4, 2], Some([2, 0, 1])),
            c3(3, false),
            Pool([2, 2], [2, 2], [0; 4]),
            Dense(5, false),
        ],
        3,
        50,
    );
    // the input permuted first, a Reshape between two convs, a sum of a conv's output and a
    // relayout of it, a permutation as the last layer
    round_trip(
        [2, 4, 6],
        &[
            Relayout([2, 4, 6], Some([0, 2, 1])),
            Conv(2, [1, 1], [1, 1], [0; 4], true),
            Relayout([4, 2, 6], None),
            c3(4, false),
            Relayout([4, 2, 6], Some([0, 2, 1])),
            Relayout([4, 6, 2], Some([0, 2, 1])),
            Add(4, true),
            Relayout([4, 2, 6], Some([2, 1, 0])),
        ],
        2,
        51,
    );
}

#[test]
fn concatenations_prove_the_models_function() {
    // Inception-style: two conv branches of the input concatenated along the channels (each
    // placed by a relayout, joined by a sum), then along the rows with a third branch
    // (tensors: 0 the input, k + 1 layer k's output)
    let c3 = |c| Conv(c, [3, 3], [1, 1], [1; 4], true);
    round_trip(
        [2, 4, 4],
        &[
            c3(3),
            Read(0),
            c3(2),
            Embed([5, 4, 4], [3, 0, 0]),
            Read(1),
            Embed([5, 4, 4], [0, 0, 0]),
            Add(4, true),
            Embed([5, 7, 4], [0, 0, 0]),
            Read(0),
            Conv(5, [2, 1], [2, 1], [0; 4], false),
            Embed([5, 7, 4], [0, 4, 0]),
            Add(8, false),
            Dense(3, false),
        ],
        2,
        52,
    );
}

#[test]
fn nearest_upsampling_proves_the_models_function() {
    // U-Net style: a strided conv, upsampled back (each value copied to 2x2 or 1x3 positions)
    // and summed with the skip connection from the first conv
    round_trip(
        [2, 6, 6],
        &[
            Conv(3, [3, 3], [1, 1], [1; 4], true),
            Conv(3, [2, 2], [2, 2], [0; 4], true),
            Upsample([2, 2]),
            Add(1, true),
            Upsample([1, 3]),
            Dense(3, false),
        ],
        2,
        53,
    );
}

#[test]
fn a_wrong_permuted_value_is_refused() {
    let specs = [
        Dense(12, false),
        Relayout([2, 3, 2], Some([2, 0, 1])),
        Conv(2, [2, 2], [1, 1], [0; 4], false),
    ];
    let pk = setup(cnn([10, 1, 1], &specs, BatchDim::Dynamic, 9)).unwrap();
    let xs = inputs(2, 10, 10);
    for cell in [0, 5, 6] {
        let proof = prove_tampered(&pk, &xs, &|w| w.layers[1].cols.out[cell] += F::ONE).unwrap();
        assert!(verify(&pk.vk, &proof).is_err(), "cell {cell}");
    }
}

#[test]
fn a_wrong_window_sum_is_refused() {
    let specs = [
        Conv(3, [3, 3], [1, 1], [1; 4], true),
        AvgPool([2, 2], [2, 2], [0; 4], false),
    ];
    let pk = setup(cnn([2, 6, 6], &specs, BatchDim::Dynamic, 7)).unwrap();
    let xs = inputs(1, 72, 8);
    let proof = prove_tampered(&pk, &xs, &|w| w.layers[1].acc[3] += F::ONE).unwrap();
    assert!(verify(&pk.vk, &proof).is_err());
}

fn fixture() -> (zkml::ProvingKey, Vec<Vec<i64>>) {
    let specs = [
        Conv(3, [3, 3], [1, 1], [1; 4], true),
        Pool([2, 2], [2, 2], [0; 4]),
        Dense(4, false),
    ];
    let pk = setup(cnn([2, 6, 6], &specs, BatchDim::Dynamic, 77)).unwrap();
    (pk, inputs(1, 72, 78))
}

#[test]
fn wrong_conv_output_element_is_refused() {
    let (pk, xs) = fixture();
    let relu: Vec<bool> = pk.vk.layers.iter().map(|l| l.relu).collect();
    let proof = prove_tampered(&pk, &xs, &|w| {
        let i = w.layers[0]
            .out
            .iter()
            .position(|&v| v > 0 && v < 100)
            .unwrap();
        w.layers[0].cols.out[i] += F::ONE;
        w.recount(8, &relu);
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::Requant { layer: 0 }
    ));
}

#[test]
fn wrong_conv_accumulator_is_refused() {
    let (pk, xs) = fixture();
    let proof = prove_tampered(&pk, &xs, &|w| w.layers[0].acc[5] += F::ONE).unwrap();
    assert!(verify(&pk.vk, &proof).is_err());
}

#[test]
fn a_max_that_is_not_the_largest_is_refused() {
    let (pk, xs) = fixture();
    let relu: Vec<bool> = pk.vk.layers.iter().map(|l| l.relu).collect();
    // lower one pooled value by 1: every difference drops by one, one becomes -1 (not a byte)
    let proof = prove_tampered(&pk, &xs, &|w| {
        let lw = &mut w.layers[1];
        lw.cols.out[0] -= F::ONE;
        for limbs in &mut lw.diffs {
            limbs[0][0] -= F::ONE;
        }
        w.recount(8, &relu);
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::Gkr(_)
    ));
}

#[test]
fn a_max_that_is_not_in_the_window_is_refused() {
    let (pk, xs) = fixture();
    let relu: Vec<bool> = pk.vk.layers.iter().map(|l| l.relu).collect();
    // raise one pooled value by 1: all differences stay bytes but none is zero
    let proof = prove_tampered(&pk, &xs, &|w| {
        let lw = &mut w.layers[1];
        lw.cols.out[0] += F::ONE;
        for limbs in &mut lw.diffs {
            limbs[0][0] += F::ONE;
        }
        w.recount(8, &relu);
    })
    .unwrap();
    assert!(matches!(
        verify(&pk.vk, &proof).unwrap_err(),
        VerifyError::MaxPool { layer: 1 }
    ));
}

/// `cargo test --release -p zkml --test cnn -- --ignored --nocapture`: phase times of the
/// 264k-parameter CNN (a profile, not a benchmark: `cargo bench` and `zkml bench` measure).
#[test]
#[ignore]
fn profile_cifar_264k() {
    let (c5, p2) = (
        |c, relu| Conv(c, [5, 5], [1, 1], [0; 4], relu),
        Pool([2, 2], [2, 2], [0; 4]),
    );
    let specs = [
        c5(32, true),
        p2,
        c5(64, true),
        p2,
        Dense(128, true),
        Dense(10, false),
    ];
    let pk = setup(cnn([3, 32, 32], &specs, BatchDim::Fixed(1), 3)).unwrap();
    let xs = inputs(1, 3 * 32 * 32, 4);
    for _ in 0..3 {
        let (proof, t) = zkml::prove_with_progress(&pk, &xs, &mut |_| {}).unwrap();
        let start = std::time::Instant::now();
        verify(&pk.vk, &proof).unwrap();
        println!(
            "{:?} verify {:?} proof {} bytes",
            t.phases,
            start.elapsed(),
            proof.to_bytes().len()
        );
    }
}

#[test]
#[ignore]
fn print_security_264k() {
    let pk = setup(cnn(
        [3, 32, 32],
        &common::cifar_264k_specs(),
        BatchDim::Fixed(1),
        3,
    ))
    .unwrap();
    let layout = zkml::layout::Layout::new(&pk.vk, 1);
    let w = zkml_proof::pcs::security(&layout.commit_shape(), 100);
    println!("witness {:?}", w);
    for s in pk.vk.weight_shapes() {
        println!(
            "weights {:?} {:?}",
            s.column_vars,
            zkml_proof::pcs::security(&s, 8)
        );
    }
    println!("{}", zkml::security(&pk.vk, 1));
}

#[test]
fn element_wise_functions_anywhere_in_the_graph() {
    // after a conv (a [4, 8, 8]-padded layout), after a pool, read twice (a residual), and as
    // the last layer (5 outputs padded to 8: the public output's padding holds 0, not f(0))
    round_trip(
        [2, 5, 5],
        &[
            Conv(3, [3, 3], [1, 1], [1; 4], false),
            Sigmoid,
            Pool([2, 2], [1, 1], [0; 4]),
            Sigmoid,
            Add(3, false),
            Dense(5, false),
            Sigmoid,
        ],
        3,
        61,
    );
    // on the model input (a relayout copies it into the witness first: see quantization)
    round_trip([1, 3, 3], &[Dense(6, false), Sigmoid, Sigmoid], 2, 62);
}

#[test]
fn per_channel_prelu_proves_the_models_function() {
    // after a conv (3 channels padded to 4: the padding channel's table is the first's), after
    // a dense layer (a slope per feature: 6 padded to 8), and as the last layer
    round_trip(
        [2, 5, 5],
        &[
            Conv(3, [3, 3], [1, 1], [1; 4], false),
            PRelu,
            Pool([2, 2], [1, 1], [0; 4]),
            Dense(6, false),
            PRelu,
            Dense(5, false),
            PRelu,
        ],
        3,
        63,
    );
}

#[test]
fn softmax_heads_and_a_softmax_inside_prove_the_models_function() {
    // softmax and log-softmax: a classifier head (10 values padded to 16), one of 5 in the
    // middle read by a dense layer, one of the model input, and a single value
    for (head, seed) in [(Softmax, 71), (LogSoftmax, 75)] {
        round_trip([1, 4, 4], &[Dense(10, false), head], 3, seed);
        round_trip(
            [2, 3, 3],
            &[Dense(5, false), head, Dense(3, false)],
            2,
            seed + 1,
        );
        round_trip([1, 1, 6], &[head, Dense(3, false)], 2, seed + 2);
        round_trip([1, 2, 2], &[Dense(1, false), head], 1, seed + 3);
    }
}

#[test]
fn row_ops_over_the_last_axis_of_a_tensor_prove_the_models_function() {
    // each row of a conv's [3, 5, 5] output (15 rows of 5, padded to 4 x 8 rows of 8): softmax
    // and log-softmax read by a dense layer, argmax (first and last maximum) as the output
    // ([3, 5, 1]); and of the model input [2, 3, 4] (rows padded to 4 x 4 of 4)
    let conv = Conv(3, [3, 3], [1, 1], [1; 4], false);
    for (head, seed) in [(SoftmaxRows, 91), (LogSoftmaxRows, 93)] {
        round_trip([2, 5, 5], &[conv, head, Dense(4, false)], 3, seed);
        round_trip([2, 3, 4], &[head, Dense(3, false)], 2, seed + 1);
    }
    for (last, seed) in [(false, 95), (true, 96)] {
        round_trip([2, 5, 5], &[conv, ArgMaxRows(last)], 3, seed);
    }
    round_trip([2, 3, 4], &[ArgMaxRows(false), Dense(3, false)], 2, 97);
}

/// [`round_trip`] at `bits` bits (2 samples).
fn round_trip_bits(input: [usize; 3], specs: &[Spec], bits: u32, seed: u64) {
    let m = common::cnn_bits(input, specs, BatchDim::Dynamic, seed, bits);
    let xs = common::inputs_bits(2, input.iter().product(), seed + 1, bits);
    let expected: Vec<Vec<i64>> = xs
        .iter()
        .map(|x| m.forward(x).last().unwrap().clone())
        .collect();
    let pk = setup(m).expect("setup");
    let out = verify(&pk.vk, &prove(&pk, &xs).expect("prove")).expect("verify");
    assert_eq!(out, expected, "{bits} bits");
}

#[test]
fn softmax_at_other_bit_widths_proves_the_models_function() {
    for (bits, seed, head) in [
        (4, 81, Softmax),
        (12, 82, Softmax),
        (4, 83, LogSoftmax),
        (12, 84, LogSoftmax),
        (2, 85, Softmax),
        (2, 86, LogSoftmax),
    ] {
        round_trip_bits([1, 3, 3], &[Dense(7, false), head], bits, seed);
    }
}

#[test]
fn argmax_heads_prove_the_models_label() {
    // after a dense layer (10 values padded to 16), after a softmax (ties of rounded
    // probabilities: the first or the last), of the model input, of one value, read by a dense
    // layer
    round_trip([1, 4, 4], &[Dense(10, false), ArgMax(false)], 4, 101);
    round_trip(
        [1, 4, 4],
        &[Dense(10, false), Softmax, ArgMax(false)],
        4,
        102,
    );
    round_trip(
        [1, 4, 4],
        &[Dense(10, false), Softmax, ArgMax(true)],
        4,
        103,
    );
    round_trip([1, 1, 7], &[ArgMax(false)], 3, 104);
    round_trip([1, 2, 2], &[Dense(1, false), ArgMax(false)], 2, 105);
    round_trip(
        [1, 3, 3],
        &[Dense(6, false), ArgMax(true), Dense(2, false)],
        2,
        106,
    );
}

#[test]
fn vector_heads_at_their_largest_rows_prove_the_models_function() {
    // softmax and log-softmax of 256 values (a count of maxima still a byte), argmax of 300 at
    // 16 bits (keys up to 2^31: four limbs)
    for (n, head) in [(256, Softmax), (256, LogSoftmax), (300, ArgMax(false))] {
        round_trip_bits([1, 2, 2], &[Dense(n, false), head], 16, 7);
    }
}
