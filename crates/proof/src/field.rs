//! Field aliases: Goldilocks for data, its cubic extension for challenges, and the
//! signed-integer embedding used for quantized values.

use p3_field::{PrimeCharacteristicRing, PrimeField64};

pub use p3_field::{BasedVectorSpace, Field};

/// The base field: Goldilocks, p = 2^64 - 2^32 + 1.
pub type F = p3_goldilocks::Goldilocks;
/// The challenge field: the cubic extension of Goldilocks (~192 bits).
pub type EF = p3_field::extension::CubicTrinomialExtensionField<F>;

/// Goldilocks modulus.
pub const P: u64 = 0xFFFF_FFFF_0000_0001;

/// Embeds a signed integer: `v >= 0` maps to `v`, `v < 0` to `p - |v|`.
#[inline]
pub fn from_i64(v: i64) -> F {
    if v >= 0 {
        F::from_u64(v as u64)
    } else {
        -F::from_u64(v.unsigned_abs())
    }
}

/// Inverse of [`from_i64`] for values whose magnitude is below 2^63.
#[inline]
pub fn to_i64(f: F) -> i64 {
    let u = f.as_canonical_u64();
    if u <= P / 2 {
        u as i64
    } else {
        -((P - u) as i64)
    }
}

/// Embeds a slice of signed integers.
pub fn from_i64_slice(v: &[i64]) -> Vec<F> {
    v.iter().map(|&x| from_i64(x)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_embedding_round_trips() {
        for v in [0i64, 1, -1, 127, -128, i64::from(i32::MAX), -(1 << 62)] {
            assert_eq!(to_i64(from_i64(v)), v);
        }
        assert_eq!(from_i64(-3) + from_i64(3), F::ZERO);
    }
}
