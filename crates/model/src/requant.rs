//! Exact requantization: the one definition shared bit for bit by inference, prover and verifier.
//!
//! A linear layer's wide accumulator `acc` is mapped back to `bits`-bit activations by the
//! fixed-point multiplier `m / 2^REQUANT_SHIFT` (`m >= 0`), rounding half up (towards +inf),
//! then clamping to `[lo, hi]`, with `lo = 0` when a ReLU is fused, `-2^(bits-1)` otherwise,
//! and `hi = 2^(bits-1) - 1`:
//!
//! ```text
//! v = acc * m + 2^(SHIFT-1)        (in i128)
//! q = floor(v / 2^SHIFT)           (arithmetic shift right)
//! out = clamp(q, lo, hi)
//! ```

/// Fractional bits of the requantization multiplier.
pub const REQUANT_SHIFT: u32 = 32;

/// Largest allowed multiplier (exclusive) and bound on `A * m + 2^31` (exclusive): 2^62.
pub const REQUANT_BOUND: i128 = 1 << 62;

/// Requantize an accumulator: `clamp(floor((acc * m + 2^31) / 2^32), lo, hi)`.
///
/// `bits` is the activation bit width (2..=16); `relu` sets the lower clamp to 0.
pub fn requantize(acc: i64, m: i64, relu: bool, bits: u32) -> i64 {
    let v = acc as i128 * m as i128 + (1i128 << (REQUANT_SHIFT - 1));
    let q = v >> REQUANT_SHIFT;
    let (lo, hi) = activation_range(bits);
    let lo = if relu { 0 } else { lo };
    q.clamp(lo as i128, hi as i128) as i64
}

/// Activation range `[-2^(bits-1), 2^(bits-1) - 1]`.
pub fn activation_range(bits: u32) -> (i64, i64) {
    let half = 1i64 << (bits - 1);
    (-half, half - 1)
}

/// Largest weight magnitude `2^(bits-1) - 1` (weights are symmetric: `[-max, max]`).
pub fn weight_max(bits: u32) -> i64 {
    (1i64 << (bits - 1)) - 1
}

/// The fixed-point multiplier `round(real * 2^32)` of a real multiplier `real >= 0`
/// (`None` when not finite, negative, or not below 2^62).
pub fn multiplier_from_real(real: f64) -> Option<i64> {
    let m = (real * (1u64 << REQUANT_SHIFT) as f64).round();
    (m.is_finite() && m >= 0.0 && m < REQUANT_BOUND as f64).then_some(m as i64)
}

/// The multiplier of a requantizing row with real multiplier `real` at `bits` bits:
/// [`multiplier_from_real`], capped at `2^(32 + bits)`. From `2^bits` on, every non-zero
/// accumulator requantizes past the activation range (`|acc| m / 2^32 >= 2^bits`) and clamps,
/// so the cap computes the same function, within the bounds the proof needs (a row dividing by
/// a near-zero variance would otherwise exceed them).
pub fn row_multiplier(real: f64, bits: u32) -> Option<i64> {
    multiplier_from_real(real.min(f64::from(1u32 << bits)))
}

/// `A = sum_j |w_j| * 2^(bits-1) + |b|`: the largest `|acc|` a row can produce on in-range inputs.
pub fn max_abs_acc(row: &[i64], bias: i64, bits: u32) -> i128 {
    let l1: i128 = row.iter().map(|&w| (w as i128).abs()).sum();
    l1 * (1i128 << (bits - 1)) + (bias as i128).abs()
}

/// The bounds the prover relies on, for one row with max `|acc|` = `a` and multiplier `m`:
/// `0 <= m < 2^62`, `a < 2^62` (the accumulator fits an i64), `a * m + 2^31 < 2^62`, and
/// `(a * m >> 32) + 2^(bits-1) < 2^32`. Returns a description of the first that fails.
pub fn check_row_bounds(a: i128, m: i64, bits: u32) -> Result<(), String> {
    let m = m as i128;
    if !(0..REQUANT_BOUND).contains(&m) {
        return Err(format!("multiplier m = {m} is outside [0, 2^62)"));
    }
    if a >= REQUANT_BOUND {
        return Err(format!("max |acc| A = {a} is not below 2^62"));
    }
    let prod = a * m;
    let half = 1i128 << (REQUANT_SHIFT - 1);
    if prod + half >= REQUANT_BOUND {
        return Err(format!(
            "A * m + 2^31 = {a} * {m} + 2^31 = {} is not below 2^62",
            prod + half
        ));
    }
    let shifted = (prod >> REQUANT_SHIFT) + (1i128 << (bits - 1));
    if shifted >= 1i128 << 32 {
        return Err(format!(
            "(A * m >> 32) + 2^(bits-1) = ({a} * {m} >> 32) + 2^{} = {shifted} is not below 2^32",
            bits - 1
        ));
    }
    Ok(())
}
