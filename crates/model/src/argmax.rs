//! ArgMax over the last axis (a classifier's label, or one per row of a tensor): the index of the first maximum (the
//! last with ONNX's `select_last_index = 1`), an integer at scale 1.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layer::{Layer, LayerTrace, first, plain};
use crate::requant::activation_range;
use crate::softmax::{row_layout, rows};

/// ArgMax of each row of `n` values of a per-sample tensor `[outer.., n]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ArgMaxLayer {
    pub name: String,
    pub n: usize,
    /// The per-sample axes before the last, as for [`crate::softmax::SoftmaxLayer::outer`].
    pub outer: Vec<usize>,
    /// The last maximum rather than the first.
    pub last: bool,
}

impl ArgMaxLayer {
    /// The key of value `x` at index `j`: distinct for distinct `j`, ordered as the values, ties
    /// broken towards the first index (the last with `last`): `n x + (n - 1 - j)` (`+ j`).
    pub fn key(&self, x: i64, j: usize) -> i64 {
        let n = self.n as i64;
        n * x
            + if self.last {
                j as i64
            } else {
                n - 1 - j as i64
            }
    }

    /// The index of one row's maximum.
    pub fn index(&self, x: &[i64]) -> i64 {
        assert_eq!(x.len(), self.n, "layer {}: input length", self.name);
        (0..self.n).max_by_key(|&j| self.key(x[j], j)).unwrap_or(0) as i64
    }

    /// Every row's index.
    pub fn forward(&self, x: &[i64]) -> Vec<i64> {
        x.chunks(self.n.max(1)).map(|r| self.index(r)).collect()
    }

    /// A row of `1..=2^(bits-1)` values (every index is an activation).
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let most = activation_range(bits).1 as usize + 1;
        if (1..=most).contains(&self.n) && crate::softmax::rows_ok(&self.outer) {
            return Ok(());
        }
        Err(ModelError::Quantization {
            layer: self.name.clone(),
            detail: format!("an argmax of {} values (1..={most} at {bits} bits)", self.n),
        })
    }
}

impl Layer for ArgMaxLayer {
    fn name(&self) -> &str {
        &self.name
    }

    /// An index is an integer: scale 1.
    fn out_scale(&self) -> f64 {
        1.0
    }

    fn input_len(&self) -> usize {
        self.n * rows(&self.outer)
    }

    fn out_layout(&self) -> Vec<usize> {
        row_layout(&self.outer, 1)
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(row_layout(&self.outer, self.n))
    }

    fn trace(&self, xs: &[&[i64]], _bits: u32) -> LayerTrace {
        plain(self.forward(first(xs)))
    }

    fn check(&self, bits: u32) -> Result<(), ModelError> {
        self.validate(bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_the_first_or_the_last_maximum() {
        let mut layer = ArgMaxLayer {
            name: "a".into(),
            n: 5,
            outer: Vec::new(),
            last: false,
        };
        assert_eq!(layer.forward(&[3, 7, -1, 7, 2]), vec![1]);
        assert_eq!(layer.forward(&[-128, -128, -128, -128, -128]), vec![0]);
        layer.last = true;
        assert_eq!(layer.forward(&[3, 7, -1, 7, 2]), vec![3]);
        assert!(layer.validate(8).is_ok());
        layer.n = 129;
        assert!(layer.validate(8).is_err());
    }
}
