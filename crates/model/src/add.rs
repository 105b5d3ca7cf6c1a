//! The sum of two activations at different scales (a residual join), requantized.
//!
//! `acc = a m_a + b m_b` with `m_x = round(s_x / s_out 2^32)`, then the shared requantization
//! with multiplier 1: `out = clamp(floor((acc + 2^31) / 2^32))`, so `out s_out ~ a s_a + b s_b`.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layer::{Layer, LayerTrace, first, requantized};
use crate::requant::check_row_bounds;

/// Elementwise `a + b` of two tensors of the same shape, rescaled and requantized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AddLayer {
    pub name: String,
    /// Per-sample shape of both inputs and the output (`[C][H][W]` or `[n]`).
    pub shape: Vec<usize>,
    /// `m_a`, `m_b`: each input's scale over the output's, times `2^REQUANT_SHIFT`.
    pub scales: [i64; 2],
    /// The requantization multiplier of every channel: 1 (the input scales do the rescaling).
    pub multiplier: Vec<i64>,
    pub relu: bool,
    pub out_scale: f64,
}

impl AddLayer {
    /// `a m_a + b m_b` elementwise (no overflow for in-range inputs of a validated layer).
    pub fn accumulate(&self, a: &[i64], b: &[i64]) -> Vec<i64> {
        let [ma, mb] = self.scales;
        a.iter().zip(b).map(|(&x, &y)| x * ma + y * mb).collect()
    }

    /// Number of values of each input and of the output.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// Always false: a layer has at least one value.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The largest `|acc|` on in-range inputs: `2^(bits-1) (m_a + m_b)`.
    pub fn acc_max(&self, bits: u32) -> i128 {
        let [ma, mb] = self.scales.map(|m| i128::from(m).abs());
        (ma + mb) << (bits - 1)
    }

    /// Check the shape, the scales and the requantization bound.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer and the numbers.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Quantization {
            layer: self.name.clone(),
            detail,
        };
        let channels = self.shape.first().copied().unwrap_or(0);
        if self.shape.is_empty() || self.shape.len() > 3 || self.is_empty() {
            return Err(err(format!("impossible shape {:?}", self.shape)));
        }
        if self.multiplier.len() != channels || self.multiplier.iter().any(|&m| m != 1) {
            return Err(err("the requantization multipliers must be 1".into()));
        }
        if self.scales.iter().any(|&m| !(0..1i64 << 42).contains(&m)) {
            return Err(err(format!(
                "input scales {:?} outside [0, 2^42)",
                self.scales
            )));
        }
        check_row_bounds(self.acc_max(bits), 1, bits).map_err(err)
    }
}

impl Layer for AddLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.len()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.shape.clone()
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(self.shape.clone())
    }

    fn arity(&self) -> usize {
        2
    }

    fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        let per = self.shape[1..].iter().product();
        Some((&self.multiplier, per, self.relu))
    }

    fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
        let b = xs.get(1).copied().unwrap_or_default();
        let per = self.shape[1..].iter().product();
        requantized(
            self.accumulate(first(xs), b),
            &self.multiplier,
            per,
            self.relu,
            bits,
        )
    }

    fn check(&self, bits: u32) -> Result<(), ModelError> {
        self.validate(bits)
    }
}
