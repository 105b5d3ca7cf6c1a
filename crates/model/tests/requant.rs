//! `requantize` against straightforward references: exact i128 remainder, and f64 where exact.

use proptest::prelude::*;
use zkml_model::requant::{
    activation_range, check_row_bounds, max_abs_acc, multiplier_from_real, row_multiplier,
    weight_max,
};
use zkml_model::{REQUANT_SHIFT, requantize};

/// Round half up of `acc * m / 2^32` by quotient and remainder, then clamp.
fn reference(acc: i64, m: i64, relu: bool, bits: u32) -> i64 {
    let p = acc as i128 * m as i128;
    let d = 1i128 << REQUANT_SHIFT;
    let (q, r) = (p.div_euclid(d), p.rem_euclid(d));
    let rounded = if 2 * r >= d { q + 1 } else { q };
    let lo = if relu { 0 } else { -(1i128 << (bits - 1)) };
    let hi = (1i128 << (bits - 1)) - 1;
    rounded.clamp(lo, hi) as i64
}

/// The same in f64 (exact when |acc * m| < 2^52).
fn reference_f64(acc: i64, m: i64, relu: bool, bits: u32) -> i64 {
    let v = (acc as f64 * m as f64 / 2f64.powi(32) + 0.5).floor();
    let (lo, hi) = activation_range(bits);
    v.clamp(if relu { 0.0 } else { lo as f64 }, hi as f64) as i64
}

proptest! {
    #[test]
    fn matches_exact_reference(acc in -(1i64 << 40)..(1i64 << 40), m in 0i64..(1i64 << 21),
                               relu: bool, bits in 2u32..=16) {
        prop_assert_eq!(requantize(acc, m, relu, bits), reference(acc, m, relu, bits));
    }

    #[test]
    fn matches_f64_reference_when_exact(acc in -(1i64 << 26)..(1i64 << 26), m in 0i64..(1i64 << 25),
                                        relu: bool, bits in 2u32..=16) {
        prop_assert_eq!(requantize(acc, m, relu, bits), reference_f64(acc, m, relu, bits));
    }

    #[test]
    fn full_range_at_the_bounds(acc: i64, m in 0i64..(1i64 << 62), relu: bool, bits in 2u32..=16) {
        prop_assert_eq!(requantize(acc, m, relu, bits), reference(acc, m, relu, bits));
    }

    /// m = 2^31 makes every odd accumulator an exact tie: half rounds up (towards +inf).
    #[test]
    fn ties_round_half_up(k in -1000i64..1000, bits in 12u32..=16) {
        let acc = 2 * k + 1;
        prop_assert_eq!(requantize(acc, 1 << 31, false, bits), k + 1);
    }

    #[test]
    fn output_in_range(acc: i64, m in 0i64..(1i64 << 62), relu: bool, bits in 2u32..=16) {
        let (lo, hi) = activation_range(bits);
        let q = requantize(acc, m, relu, bits);
        let lo = if relu { 0 } else { lo };
        prop_assert!((lo..=hi).contains(&q));
    }
}

#[test]
fn ties_and_clamps_by_hand() {
    let half = 1i64 << 31;
    assert_eq!(requantize(1, half, false, 8), 1); // 0.5 -> 1
    assert_eq!(requantize(-1, half, false, 8), 0); // -0.5 -> 0 (half up)
    assert_eq!(requantize(3, half, false, 8), 2); // 1.5 -> 2
    assert_eq!(requantize(-3, half, false, 8), -1); // -1.5 -> -1
    assert_eq!(requantize(-5, 1 << 32, true, 8), 0); // ReLU clamp
    assert_eq!(requantize(1000, 1 << 32, false, 8), 127);
    assert_eq!(requantize(-1000, 1 << 32, false, 8), -128);
    assert_eq!(requantize(-1000, 1 << 32, false, 16), -1000);
    assert_eq!(requantize(40000, 1 << 32, false, 16), 32767);
    assert_eq!(requantize(i64::MAX, (1 << 62) - 1, false, 8), 127);
    assert_eq!(requantize(i64::MIN, (1 << 62) - 1, true, 8), 0);
    assert_eq!(requantize(12345, 0, false, 8), 0);
}

#[test]
fn multipliers_and_bounds() {
    assert_eq!(multiplier_from_real(0.5), Some(1 << 31));
    assert_eq!(multiplier_from_real(-0.1), None);
    assert_eq!(multiplier_from_real(f64::NAN), None);
    assert_eq!(multiplier_from_real(2f64.powi(30)), None); // 2^62
    assert_eq!(weight_max(8), 127);
    assert_eq!(max_abs_acc(&[1, -2, 3], -5, 8), 6 * 128 + 5);
    assert!(check_row_bounds(1 << 20, 1 << 32, 8).is_ok());
    let err = check_row_bounds(1 << 30, 1 << 32, 8).unwrap_err();
    assert!(err.contains("2^62"), "{err}");
    // A * m + 2^31 = 2^60 + 2^31 < 2^62: accepted (the 2^32 bound then holds too).
    assert!(check_row_bounds(1 << 28, 1 << 32, 8).is_ok());
    assert!(check_row_bounds(10, -1, 8).is_err());
    assert!(check_row_bounds(1 << 62, 0, 8).is_err());
}

proptest! {
    /// A row multiplier capped at 2^(32 + bits) requantizes every accumulator as the uncapped
    /// one does: from 2^bits on, every non-zero accumulator clamps.
    #[test]
    fn a_capped_row_multiplier_computes_the_same(acc in -(1i64 << 20)..(1i64 << 20),
                                                 real in 0.0f64..1e9, relu: bool,
                                                 bits in 2u32..=16) {
        let capped = row_multiplier(real, bits).unwrap();
        prop_assert!(capped <= 1i64 << (32 + bits));
        // real < 1e9: the uncapped multiplier fits an i64
        let exact = (real * 2f64.powi(32)).round() as i64;
        let full = reference(acc, exact, relu, bits);
        prop_assert_eq!(requantize(acc, capped, relu, bits), full);
    }
}
