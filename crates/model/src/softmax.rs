//! Softmax over the per-sample vector (a classifier's head): exact integer semantics.
//!
//! For an input row `x` (scale `s_in`, `n` values): `m = max x`, `d_j = m - x_j` (in
//! `[0, 2^bits)`), `e_j = E[d_j]` with the key's table `E[d] = round(2^EXP_BITS exp(-d s_in))`,
//! `S = sum e_j` and `y_j = floor((2 q e_j + S) / (2 S))` = `round(q e_j / S)` with
//! `q = 2^(bits-1) - 1`: probabilities at scale `1 / q`. `E[0] = 2^EXP_BITS`, so `S > 0`.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::requant::activation_range;

/// Fixed-point bits of the exponentials (`E[0] = 2^EXP_BITS`).
pub const EXP_BITS: u32 = 16;

/// The most values a softmax row may have (the count of maxima is a byte).
pub const MAX_ROW: usize = 256;

/// Softmax of a per-sample vector of `n` values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxLayer {
    pub name: String,
    pub n: usize,
    /// `E[d]` for `d` in `[0, 2^bits)`.
    pub exp: Vec<i64>,
    /// `1 / q`.
    pub out_scale: f64,
}

/// The pieces of one row's softmax, as the prover commits them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SoftmaxRow {
    pub max: i64,
    /// `m - x_j`.
    pub d: Vec<i64>,
    /// `E[d_j]`.
    pub e: Vec<i64>,
    pub sum: i64,
    /// `y_j`.
    pub out: Vec<i64>,
    /// `2 q e_j + S - 2 S y_j`, in `[0, 2 S)`.
    pub rem: Vec<i64>,
}

impl SoftmaxLayer {
    /// The exponential table for inputs at scale `s_in`.
    pub fn exp_table(s_in: f64, bits: u32) -> Vec<i64> {
        let one = f64::from(1u32 << EXP_BITS);
        (0..1i64 << bits)
            .map(|d| (one * (-(d as f64) * s_in).exp()).round() as i64)
            .collect()
    }

    /// The largest output, `q = 2^(bits-1) - 1` (probability 1).
    pub fn q(bits: u32) -> i64 {
        activation_range(bits).1
    }

    /// One row, step by step.
    pub fn row(&self, x: &[i64], bits: u32) -> SoftmaxRow {
        assert_eq!(x.len(), self.n, "layer {}: input length", self.name);
        let max = x.iter().copied().max().unwrap_or(0);
        let d: Vec<i64> = x.iter().map(|&v| max - v).collect();
        let e: Vec<i64> = d
            .iter()
            .map(|&k| {
                self.exp[usize::try_from(k)
                    .unwrap_or(usize::MAX)
                    .min(self.exp.len() - 1)]
            })
            .collect();
        let sum: i64 = e.iter().sum();
        let q = Self::q(bits);
        let out: Vec<i64> = e.iter().map(|&v| (2 * q * v + sum) / (2 * sum)).collect();
        let rem = e
            .iter()
            .zip(&out)
            .map(|(&v, &y)| 2 * q * v + sum - 2 * sum * y)
            .collect();
        SoftmaxRow {
            max,
            d,
            e,
            sum,
            out,
            rem,
        }
    }

    pub fn forward(&self, x: &[i64], bits: u32) -> Vec<i64> {
        self.row(x, bits).out
    }

    /// A row of `1..=MAX_ROW` values, a table of `2^bits` entries in `[0, 2^EXP_BITS]` that
    /// starts at `2^EXP_BITS`.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let one = 1i64 << EXP_BITS;
        let ok = (1..=MAX_ROW).contains(&self.n)
            && self.exp.len() == 1 << bits
            && self.exp.first() == Some(&one)
            && self.exp.iter().all(|v| (0..=one).contains(v));
        if ok {
            return Ok(());
        }
        Err(ModelError::Quantization {
            layer: self.name.clone(),
            detail: format!(
                "a softmax of {} values (1..={MAX_ROW}) with an exponential table of {} entries \
                 (2^{bits}, from 2^{EXP_BITS} down to 0)",
                self.n,
                self.exp.len()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_to_the_float_softmax() {
        let s_in = 0.05;
        let layer = SoftmaxLayer {
            name: "sm".into(),
            n: 5,
            exp: SoftmaxLayer::exp_table(s_in, 8),
            out_scale: 1.0 / 127.0,
        };
        assert!(layer.validate(8).is_ok());
        let x = [10, -20, 127, 126, -128];
        let r = layer.row(&x, 8);
        assert_eq!((r.max, r.d[2], r.e[2]), (127, 0, 1 << EXP_BITS));
        let f: Vec<f64> = x.iter().map(|&v| (v as f64 * s_in).exp()).collect();
        let total: f64 = f.iter().sum();
        for (j, &y) in r.out.iter().enumerate() {
            assert!(
                (y as f64 / 127.0 - f[j] / total).abs() <= 0.5 / 127.0 + 1e-4,
                "{j}"
            );
            assert!((0..2 * r.sum).contains(&r.rem[j]));
        }
        // one value: probability 1
        let one = SoftmaxLayer { n: 1, ..layer };
        assert_eq!(one.forward(&[-3], 8), vec![127]);
        assert!(one.validate(9).is_err());
    }
}
