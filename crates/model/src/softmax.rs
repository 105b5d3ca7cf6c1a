//! Softmax over the last axis (a classifier's head, or each row of a tensor): exact integer
//! semantics.
//!
//! For an input row `x` (scale `s_in`, `n` values): `m = max x`, `d_j = m - x_j` (in
//! `[0, 2^bits)`), `e_j = E[d_j]` with the key's table `E[d] = round(2^EXP_BITS exp(-d s_in))`,
//! `S = sum e_j` and `y_j = floor((2 q e_j + S) / (2 S))` = `round(q e_j / S)` with
//! `q = 2^(bits-1) - 1`: probabilities at scale `1 / q`. `E[0] = 2^EXP_BITS`, so `S > 0`.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layer::{Layer, LayerTrace, first, plain};
use crate::requant::activation_range;

/// Fixed-point bits of the exponentials (`E[0] = 2^EXP_BITS`).
pub const EXP_BITS: u32 = 16;

/// The most values a softmax row may have (the count of maxima is a byte).
pub const MAX_ROW: usize = 256;

/// Softmax of each row of `n` values of a per-sample tensor `[outer.., n]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxLayer {
    pub name: String,
    pub n: usize,
    /// The per-sample axes before the last (empty: one row; else of more than one row).
    pub outer: Vec<usize>,
    /// `E[d]` for `d` in `[0, 2^bits)`.
    pub exp: Vec<i64>,
    /// `1 / q`.
    pub out_scale: f64,
}

/// The number of rows of a tensor `[outer.., n]` (1 for no outer axes).
pub fn rows(outer: &[usize]) -> usize {
    outer.iter().product()
}

/// Outer axes as a layer keeps them: none, or more than one row in all (at most `2^20`).
pub fn rows_ok(outer: &[usize]) -> bool {
    outer.is_empty()
        || outer
            .iter()
            .try_fold(1usize, |a, &d| a.checked_mul(d))
            .is_some_and(|r| (2..=1 << 20).contains(&r))
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

    /// Every row's output.
    pub fn forward(&self, x: &[i64], bits: u32) -> Vec<i64> {
        x.chunks(self.n.max(1))
            .flat_map(|r| self.row(r, bits).out)
            .collect()
    }

    /// A row of `1..=MAX_ROW` values, a table of `2^bits` entries in `[0, 2^EXP_BITS]` that
    /// starts at `2^EXP_BITS`.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let one = 1i64 << EXP_BITS;
        let ok = (1..=MAX_ROW).contains(&self.n)
            && rows_ok(&self.outer)
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

/// LogSoftmax of each row `[outer.., n]`: `m`, `d`, `e = E[d]` and `S` as for [`SoftmaxLayer`];
/// `L` the integer with `B[L] <= S < B[L + 1]` (`B[k] = ceil(2^EXP_BITS exp((k - 1/2) s_out))`
/// for `k >= 1`, `B[0] = 0`, capped at `2^(EXP_BITS + 9)`: `L = round(ln(S / 2^EXP_BITS) /
/// s_out)`), `g_j = G[d_j]` with `G[d] = min(round(d s_in / s_out), 2^(bits-1))`, and
/// `y_j = max(-2^(bits-1), -(g_j + L))`: `x_j - m - ln(sum exp(x - m))` at scale `s_out`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogSoftmaxLayer {
    pub name: String,
    pub n: usize,
    /// The per-sample axes before the last, as for [`SoftmaxLayer::outer`].
    pub outer: Vec<usize>,
    /// `E[d]` for `d` in `[0, 2^bits)`.
    pub exp: Vec<i64>,
    /// `G[d]` for `d` in `[0, 2^bits)`.
    pub steps: Vec<i64>,
    /// `B[k]` for `k` in `[0, 2^bits]`.
    pub bounds: Vec<i64>,
    pub out_scale: f64,
}

/// The pieces of one row's log-softmax, as the prover commits them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogSoftmaxRow {
    pub max: i64,
    pub d: Vec<i64>,
    pub e: Vec<i64>,
    pub sum: i64,
    /// `L`.
    pub log_sum: i64,
    /// `G[d_j]`.
    pub g: Vec<i64>,
    pub out: Vec<i64>,
}

/// Past every sum of at most [`MAX_ROW`] exponentials.
const BOUND_CAP: i64 = 1 << (EXP_BITS + 9);

impl LogSoftmaxLayer {
    /// The smallest output scale whose `L` stays below `2^(bits-1) - 1` (so that `g + L`
    /// indexes a table of `2^bits` rows): `B[2^(bits-1) - 1]` must reach the cap,
    /// `ln(2^9) / (2^(bits-1) - 3/2)` (and a little more, for rounding).
    pub fn min_scale(bits: u32) -> f64 {
        let ratio = (BOUND_CAP >> EXP_BITS) as f64;
        ratio.ln() / ((1i64 << (bits - 1)) as f64 - 1.5) * 1.000_001
    }

    /// The tables for inputs at `s_in` and outputs at `s_out`.
    pub fn new(
        name: String,
        n: usize,
        outer: Vec<usize>,
        s_in: f64,
        s_out: f64,
        bits: u32,
    ) -> Self {
        let half = 1i64 << (bits - 1);
        let steps = (0..1i64 << bits)
            .map(|d| ((d as f64 * s_in / s_out).round() as i64).min(half))
            .collect();
        let one = f64::from(1u32 << EXP_BITS);
        let bounds = (0..=1i64 << bits)
            .map(|k| match k {
                0 => 0,
                _ => {
                    let b = (one * ((k as f64 - 0.5) * s_out).exp()).ceil();
                    if b >= BOUND_CAP as f64 {
                        BOUND_CAP
                    } else {
                        b as i64
                    }
                }
            })
            .collect();
        LogSoftmaxLayer {
            name,
            n,
            outer,
            exp: SoftmaxLayer::exp_table(s_in, bits),
            steps,
            bounds,
            out_scale: s_out,
        }
    }

    pub fn row(&self, x: &[i64], bits: u32) -> LogSoftmaxRow {
        assert_eq!(x.len(), self.n, "layer {}: input length", self.name);
        let max = x.iter().copied().max().unwrap_or(0);
        let d: Vec<i64> = x.iter().map(|&v| max - v).collect();
        let at = |t: &[i64], k: i64| t[usize::try_from(k).unwrap_or(usize::MAX).min(t.len() - 1)];
        let e: Vec<i64> = d.iter().map(|&k| at(&self.exp, k)).collect();
        let sum: i64 = e.iter().sum();
        let log_sum = self
            .bounds
            .iter()
            .skip(1)
            .take_while(|&&b| b <= sum)
            .count() as i64;
        let g: Vec<i64> = d.iter().map(|&k| at(&self.steps, k)).collect();
        let lo = -(1i64 << (bits - 1));
        let out = g.iter().map(|&v| (-(v + log_sum)).max(lo)).collect();
        LogSoftmaxRow {
            max,
            d,
            e,
            sum,
            log_sum,
            g,
            out,
        }
    }

    /// Every row's output.
    pub fn forward(&self, x: &[i64], bits: u32) -> Vec<i64> {
        x.chunks(self.n.max(1))
            .flat_map(|r| self.row(r, bits).out)
            .collect()
    }

    /// The tables have their sizes and ranges: `E` as for [`SoftmaxLayer`], `G` in
    /// `[0, 2^(bits-1)]`, `B` non-decreasing from `B[0] = 0` to the cap, with
    /// `B[2^(bits-1) - 1]` past every sum (so that `L + g < 2^bits`).
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let ok = SoftmaxLayer {
            name: self.name.clone(),
            n: self.n,
            outer: self.outer.clone(),
            exp: self.exp.clone(),
            out_scale: 1.0,
        }
        .validate(bits)
        .is_ok()
            && log_tables_ok(&self.steps, &self.bounds, bits)
            && self.steps.len() == 1 << bits;
        if ok {
            return Ok(());
        }
        Err(ModelError::Quantization {
            layer: self.name.clone(),
            detail: format!(
                "a log-softmax of {} values with tables of {}, {} and {} entries (2^{bits}, \
                 2^{bits}, 2^{bits} + 1) or values out of range (output scale {} below {})",
                self.n,
                self.exp.len(),
                self.steps.len(),
                self.bounds.len(),
                self.out_scale,
                Self::min_scale(bits)
            ),
        })
    }
}

/// The conditions on a log-softmax's step and bound tables that its proof relies on.
pub fn log_tables_ok(steps: &[i64], bounds: &[i64], bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    steps.len() == 1 << bits
        && steps.iter().all(|v| (0..=half).contains(v))
        && bounds.len() == (1 << bits) + 1
        && bounds[0] == 0
        && bounds.windows(2).all(|w| w[0] <= w[1])
        && bounds[usize::try_from(half - 1).unwrap_or(0)] >= BOUND_CAP
        && bounds.iter().all(|&b| b <= BOUND_CAP)
}

/// The `Layer` of a row op over the last axis whose `forward` takes the row values and the
/// bit width (softmax and log-softmax alike).
macro_rules! row_layer {
    ($kind:ty) => {
        impl Layer for $kind {
            fn name(&self) -> &str {
                &self.name
            }

            fn out_scale(&self) -> f64 {
                self.out_scale
            }

            fn input_len(&self) -> usize {
                self.n * rows(&self.outer)
            }

            fn out_layout(&self) -> Vec<usize> {
                row_layout(&self.outer, self.n)
            }

            fn in_layout(&self) -> Option<Vec<usize>> {
                Some(row_layout(&self.outer, self.n))
            }

            fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
                plain(self.forward(first(xs), bits))
            }

            fn check(&self, bits: u32) -> Result<(), ModelError> {
                self.validate(bits)
            }
        }
    };
}

row_layer!(SoftmaxLayer);
row_layer!(LogSoftmaxLayer);

/// The layout of a row op's tensor `[outer.., n]`: `[n]` for one row.
pub fn row_layout(outer: &[usize], n: usize) -> Vec<usize> {
    outer.iter().copied().chain([n]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_to_the_float_softmax() {
        let s_in = 0.05;
        let mut layer = SoftmaxLayer {
            name: "sm".into(),
            n: 5,
            outer: Vec::new(),
            exp: SoftmaxLayer::exp_table(s_in, 8),
            out_scale: 1.0 / 127.0,
        };
        assert!(layer.validate(8).is_ok());
        // rows: each its own softmax; outer axes of one row in all are refused
        layer.outer = vec![2, 1];
        let rows = layer.forward(&[10, -20, 127, 126, -128, 0, 0, 0, 0, 0], 8);
        assert_eq!(rows[..5], layer.row(&[10, -20, 127, 126, -128], 8).out[..]);
        assert_eq!(rows[5..], [25; 5]);
        assert!(layer.validate(8).is_ok());
        layer.outer = vec![1, 1];
        assert!(layer.validate(8).is_err());
        layer.outer = Vec::new();
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

    #[test]
    fn log_rows_are_the_float_log_softmax_within_two_steps() {
        let (s_in, bits) = (0.05, 8);
        let s_out = 20.0 / 127.0;
        let layer = LogSoftmaxLayer::new("ls".into(), 5, Vec::new(), s_in, s_out, bits);
        assert!(layer.validate(bits).is_ok(), "{:?}", layer.validate(bits));
        for x in [
            [10, -20, 127, 126, -128],
            [0, 0, 0, 0, 0],
            [-128, -128, 127, -128, -128],
        ] {
            let r = layer.row(&x, bits);
            assert!(layer.bounds[r.log_sum as usize] <= r.sum);
            assert!(r.sum < layer.bounds[r.log_sum as usize + 1]);
            let total: f64 = x.iter().map(|&v| ((v - r.max) as f64 * s_in).exp()).sum();
            for (j, &y) in r.out.iter().enumerate() {
                let f = (x[j] - r.max) as f64 * s_in - total.ln();
                let want = (f / s_out).max(-128.0);
                assert!(
                    (y as f64 - want).abs() <= 1.0 + 1e-6,
                    "{x:?} {j}: {y} vs {want}"
                );
            }
        }
        // a scale so small that L could reach 2^(bits-1) is refused
        let fine = LogSoftmaxLayer::new("ls".into(), 5, Vec::new(), s_in, 0.01, bits);
        assert!(fine.validate(bits).is_err());
        let min = LogSoftmaxLayer::min_scale(bits);
        assert!(min < 0.05);
        let coarse = LogSoftmaxLayer::new("ls".into(), 5, Vec::new(), s_in, min, bits);
        assert!(coarse.validate(bits).is_ok());
    }
}
