//! Quantized CNN layers: 2-D convolution (fused requantization and ReLU), max-pooling and
//! average pooling (fused requantization), on per-sample NCHW tensors `[C][H][W]` flattened in
//! C order.

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layer::{Layer, LayerTrace, first, plain, requantized};
use crate::requant::{check_row_bounds, max_abs_acc, weight_max};

/// The geometry of a 2-D window op: kernel, strides and pads (auto_pad already resolved).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub stride: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
}

impl Window {
    /// Output `[OH, OW]` for an input `[H, W]` (`None` when the window does not fit).
    pub fn output_hw(&self, h: usize, w: usize) -> Option<[usize; 2]> {
        let dim = |n: usize, k: usize, s: usize, a: usize, b: usize| {
            let padded = n + a + b;
            (s > 0 && k > 0 && padded >= k).then(|| (padded - k) / s + 1)
        };
        Some([
            dim(
                h,
                self.kernel[0],
                self.stride[0],
                self.pads[0],
                self.pads[2],
            )?,
            dim(
                w,
                self.kernel[1],
                self.stride[1],
                self.pads[1],
                self.pads[3],
            )?,
        ])
    }

    /// Input row (axis 0) or column (axis 1) read by output position `o` at kernel offset `k`,
    /// or `None` when it falls in the padding (`n` = input extent on that axis).
    pub fn source(&self, axis: usize, o: usize, k: usize, n: usize) -> Option<usize> {
        (o * self.stride[axis] + k)
            .checked_sub(self.pads[axis])
            .filter(|&i| i < n)
    }
}

/// A 2-D convolution (dilation 1, group 1) with integer weights and fused requantization:
/// `out[o][y][x] = requantize(b[o] + sum_{c,i,j} W[o][c][i][j] X[c][y sh + i - pt][x sw + j - pl])`
/// (padding reads 0), multiplier per output channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvLayer {
    pub name: String,
    /// `[C_in, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C_out, OH, OW]`.
    pub out_shape: [usize; 3],
    pub window: Window,
    /// `[C_out][C_in][kh][kw]`.
    pub weight: Vec<i64>,
    /// Per output channel.
    pub bias: Vec<i64>,
    /// Per output channel, `M = m / 2^REQUANT_SHIFT`.
    pub multiplier: Vec<i64>,
    pub relu: bool,
    pub out_scale: f64,
}

/// 2-D max-pooling (dilation 1); padding never wins. No requantization: the scale is kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaxPoolLayer {
    pub name: String,
    /// `[C, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C, OH, OW]`.
    pub out_shape: [usize; 3],
    pub window: Window,
    pub out_scale: f64,
}

/// 2-D average pooling (dilation 1) with fused requantization: the window sum (padding reads
/// 0) times the multiplier `m ~ s_in / (d s_out)` for the window's divisor `d`: one per
/// channel (all equal) when every window has the same divisor, else one per output position
/// `[C][OH][OW]` (ONNX's `count_include_pad = 0` with padding, ceil-mode overhang).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AvgPoolLayer {
    pub name: String,
    /// `[C, H, W]`.
    pub in_shape: [usize; 3],
    /// `[C, OH, OW]`.
    pub out_shape: [usize; 3],
    pub window: Window,
    /// Per channel, or per output position, `M = m / 2^REQUANT_SHIFT`.
    pub multiplier: Vec<i64>,
    pub relu: bool,
    pub out_scale: f64,
}

/// The number of positions of each window `[OH][OW]` that lie in the input or in the counted
/// pads (`counted`: top, left, bottom, right, each at most the window's pad).
pub fn window_counts(
    window: &Window,
    counted: [usize; 4],
    in_hw: [usize; 2],
    out_hw: [usize; 2],
) -> Vec<usize> {
    // per axis: positions o * s + k (padded coordinates) inside [pad - counted, pad + n + counted)
    let axis = |a: usize| -> Vec<usize> {
        let (s, k, pad) = (window.stride[a], window.kernel[a], window.pads[a]);
        let lo = pad.saturating_sub(counted[a]);
        let hi = pad + in_hw[a] + counted[a + 2];
        (0..out_hw[a])
            .map(|o| (o * s..o * s + k).filter(|p| (lo..hi).contains(p)).count())
            .collect()
    };
    let (rows, cols) = (axis(0), axis(1));
    rows.iter()
        .flat_map(|&r| cols.iter().map(move |&c| r * c))
        .collect()
}

impl AvgPoolLayer {
    /// How many consecutive outputs share a multiplier: a channel's `OH OW`, or 1.
    pub fn output_len_per_multiplier(&self) -> usize {
        let [c, oh, ow] = self.out_shape;
        if self.multiplier.len() == c {
            oh * ow
        } else {
            1
        }
    }

    /// The window sums `[C][OH][OW]` of one sample.
    pub fn accumulate(&self, x: &[i64]) -> Vec<i64> {
        pool_sum(x, self.in_shape, self.out_shape, &self.window, 0)
    }

    /// Check shapes and the requantization bound of every multiplier (window sums of at most
    /// `kh kw` inputs).
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer and the numbers.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Quantization {
            layer: self.name.clone(),
            detail,
        };
        let [c, oh, ow] = self.out_shape;
        if !pool_shapes_fit(self.in_shape, self.out_shape, &self.window)
            || (self.multiplier.len() != c && self.multiplier.len() != c * oh * ow)
        {
            return Err(err(format!(
                "inconsistent shapes {:?} -> {:?}",
                self.in_shape, self.out_shape
            )));
        }
        let area = (self.window.kernel[0] * self.window.kernel[1]) as i128;
        for (o, &m) in self.multiplier.iter().enumerate() {
            check_row_bounds(area << (bits - 1), m, bits)
                .map_err(|d| err(format!("multiplier {o}: {d}")))?;
        }
        Ok(())
    }
}

impl ConvLayer {
    /// Weights of output channel `o`, `[C_in][kh][kw]`.
    pub fn filter(&self, o: usize) -> &[i64] {
        let n = self.in_shape[0] * self.window.kernel[0] * self.window.kernel[1];
        &self.weight[o * n..(o + 1) * n]
    }

    /// The accumulators `[C_out][OH][OW]` of one sample.
    pub fn accumulate(&self, x: &[i64]) -> Vec<i64> {
        conv_accumulate(
            x,
            &self.weight,
            &self.bias,
            self.in_shape,
            self.out_shape,
            &self.window,
        )
    }

    /// Check shapes, weight range and the requantization bounds of every output channel.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer and the numbers.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Quantization {
            layer: self.name.clone(),
            detail,
        };
        let [c_in, h, w] = self.in_shape;
        let [c_out, oh, ow] = self.out_shape;
        let per_filter = c_in * self.window.kernel[0] * self.window.kernel[1];
        if self.window.output_hw(h, w) != Some([oh, ow])
            || c_out.checked_mul(per_filter) != Some(self.weight.len())
            || self.bias.len() != c_out
            || self.multiplier.len() != c_out
        {
            return Err(err(format!(
                "inconsistent shapes {:?} -> {:?}",
                self.in_shape, self.out_shape
            )));
        }
        let wmax = weight_max(bits);
        if let Some(v) = self.weight.iter().find(|v| v.abs() > wmax) {
            return Err(err(format!("weight {v} outside [-{wmax}, {wmax}]")));
        }
        for o in 0..c_out {
            let a = max_abs_acc(self.filter(o), self.bias[o], bits);
            check_row_bounds(a, self.multiplier[o], bits)
                .map_err(|d| err(format!("channel {o}: {d}")))?;
        }
        Ok(())
    }
}

impl MaxPoolLayer {
    /// Max over each window of one sample (in-range positions only).
    pub fn forward(&self, x: &[i64]) -> Vec<i64> {
        max_pool(x, self.in_shape, self.out_shape, &self.window, i64::MIN)
    }

    /// Check shapes, and that every window holds at least one input (so the max exists).
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self) -> Result<(), ModelError> {
        let err = |detail: String| ModelError::Quantization {
            layer: self.name.clone(),
            detail,
        };
        let [_, h, w] = self.in_shape;
        let [_, oh, ow] = self.out_shape;
        if !pool_shapes_fit(self.in_shape, self.out_shape, &self.window) {
            return Err(err(format!(
                "inconsistent shapes {:?} -> {:?}",
                self.in_shape, self.out_shape
            )));
        }
        let empty = |axis: usize, n: usize, out: usize| {
            (0..out).any(|o| {
                (0..self.window.kernel[axis]).all(|k| self.window.source(axis, o, k, n).is_none())
            })
        };
        if empty(0, h, oh) || empty(1, w, ow) {
            return Err(err("a pooling window lies entirely in the padding".into()));
        }
        Ok(())
    }
}

/// Whether a pool's window maps `in_shape` to `out_shape`, channels kept.
fn pool_shapes_fit(in_shape: [usize; 3], out_shape: [usize; 3], window: &Window) -> bool {
    let [c, h, w] = in_shape;
    let [co, oh, ow] = out_shape;
    co == c && window.output_hw(h, w) == Some([oh, ow])
}

/// `bias[o] + sum_{c,i,j} W[o][c][i][j] X[c][y sh + i - pt][x sw + j - pl]` over the in-range
/// window positions (padding reads 0) of one `[C][H][W]` sample, `[C_out][OH][OW]` out; shared
/// by the integer layer and the float graph.
pub fn conv_accumulate<T>(
    x: &[T],
    weight: &[T],
    bias: &[T],
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    window: &Window,
) -> Vec<T>
where
    T: Copy + std::ops::Add<Output = T> + std::ops::Mul<Output = T>,
{
    let [c_in, h, w] = in_shape;
    let [c_out, oh, ow] = out_shape;
    let [kh, kw] = window.kernel;
    let [sw, pl] = [window.stride[1], window.pads[1]];
    let per_filter = c_in * kh * kw;
    // per kernel column j, the output columns whose source `x sw + j - pl` lies in [0, w) (an
    // empty range, possibly with lo > hi, where none does)
    let columns: Vec<std::ops::Range<usize>> = (0..kw)
        .map(|j| {
            let lo = pl.saturating_sub(j).div_ceil(sw);
            let hi = (w + pl).saturating_sub(j).div_ceil(sw).min(ow);
            lo..hi
        })
        .collect();
    let mut acc = Vec::with_capacity(c_out * oh * ow);
    // every output adds its terms in (c, i, j) order after the bias, as a direct sum would
    for (o, &b) in bias.iter().enumerate().take(c_out) {
        let f = &weight[o * per_filter..(o + 1) * per_filter];
        let start = acc.len();
        acc.resize(start + oh * ow, b);
        let out = &mut acc[start..];
        for c in 0..c_in {
            for y in 0..oh {
                let orow = &mut out[y * ow..(y + 1) * ow];
                for i in 0..kh {
                    let Some(sy) = window.source(0, y, i, h) else {
                        continue;
                    };
                    let row = &x[(c * h + sy) * w..(c * h + sy + 1) * w];
                    for (j, cols) in columns.iter().enumerate() {
                        if cols.is_empty() {
                            continue;
                        }
                        let wv = f[(c * kh + i) * kw + j];
                        if sw == 1 {
                            let src = &row[cols.start + j - pl..cols.end + j - pl];
                            for (a, &v) in orow[cols.clone()].iter_mut().zip(src) {
                                *a = *a + wv * v;
                            }
                        } else {
                            for xx in cols.clone() {
                                orow[xx] = orow[xx] + wv * row[xx * sw + j - pl];
                            }
                        }
                    }
                }
            }
        }
    }
    acc
}

/// Max-pooling of one `[C][H][W]` sample over in-range positions (`lowest` where a window
/// holds none); shared by the integer layer and the float graph.
pub fn max_pool<T: Copy + PartialOrd>(
    x: &[T],
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    window: &Window,
    lowest: T,
) -> Vec<T> {
    window_fold(x, in_shape, out_shape, window, lowest, |m, v| {
        if v > m { v } else { m }
    })
}

/// The sum over each window of one `[C][H][W]` sample (padding reads 0): an average pool's
/// accumulator; shared by the integer layer and the float graph.
pub fn pool_sum<T: Copy + std::ops::Add<Output = T>>(
    x: &[T],
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    window: &Window,
    zero: T,
) -> Vec<T> {
    window_fold(x, in_shape, out_shape, window, zero, |a, v| a + v)
}

/// `f` folded over the in-range positions of each window, per channel, from `init`.
fn window_fold<T: Copy>(
    x: &[T],
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    window: &Window,
    init: T,
    f: impl Fn(T, T) -> T,
) -> Vec<T> {
    let [c, h, w] = in_shape;
    let [_, oh, ow] = out_shape;
    let [kh, kw] = window.kernel;
    let mut out = Vec::with_capacity(c * oh * ow);
    for ch in 0..c {
        for y in 0..oh {
            for xx in 0..ow {
                let mut m = init;
                for i in 0..kh {
                    let Some(sy) = window.source(0, y, i, h) else {
                        continue;
                    };
                    for j in 0..kw {
                        let Some(sx) = window.source(1, xx, j, w) else {
                            continue;
                        };
                        m = f(m, x[(ch * h + sy) * w + sx]);
                    }
                }
                out.push(m);
            }
        }
    }
    out
}

impl Layer for ConvLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.in_shape.iter().product()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.out_shape.to_vec()
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(self.in_shape.to_vec())
    }

    fn weights(&self) -> Option<(&[i64], &[i64])> {
        Some((&self.weight, &self.bias))
    }

    fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        let per = self.out_shape[1] * self.out_shape[2];
        Some((&self.multiplier, per, self.relu))
    }

    fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
        let per = self.out_shape[1] * self.out_shape[2];
        requantized(
            self.accumulate(first(xs)),
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

impl Layer for MaxPoolLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.in_shape.iter().product()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.out_shape.to_vec()
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(self.in_shape.to_vec())
    }

    fn trace(&self, xs: &[&[i64]], _bits: u32) -> LayerTrace {
        plain(self.forward(first(xs)))
    }

    fn check(&self, _bits: u32) -> Result<(), ModelError> {
        self.validate()
    }
}

impl Layer for AvgPoolLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.in_shape.iter().product()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.out_shape.to_vec()
    }

    fn in_layout(&self) -> Option<Vec<usize>> {
        Some(self.in_shape.to_vec())
    }

    fn requantization(&self) -> Option<(&[i64], usize, bool)> {
        Some((
            &self.multiplier,
            self.output_len_per_multiplier(),
            self.relu,
        ))
    }

    fn trace(&self, xs: &[&[i64]], bits: u32) -> LayerTrace {
        let per = self.output_len_per_multiplier();
        requantized(
            self.accumulate(first(xs)),
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::{Window, conv_accumulate};

    /// The convolution as its definition reads: each output a direct sum over its window.
    fn direct(
        x: &[i64],
        weight: &[i64],
        bias: &[i64],
        in_shape: [usize; 3],
        out_shape: [usize; 3],
        window: &Window,
    ) -> Vec<i64> {
        let [c_in, h, w] = in_shape;
        let [c_out, oh, ow] = out_shape;
        let [kh, kw] = window.kernel;
        let mut acc = Vec::new();
        for o in 0..c_out {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut a = bias[o];
                    for c in 0..c_in {
                        for i in 0..kh {
                            for j in 0..kw {
                                let (Some(sy), Some(sx)) =
                                    (window.source(0, y, i, h), window.source(1, xx, j, w))
                                else {
                                    continue;
                                };
                                a += weight[((o * c_in + c) * kh + i) * kw + j]
                                    * x[(c * h + sy) * w + sx];
                            }
                        }
                    }
                    acc.push(a);
                }
            }
        }
        acc
    }

    proptest! {
        #[test]
        fn conv_accumulate_is_the_direct_sum(
            c_in in 1usize..3, c_out in 1usize..3, h in 1usize..7, w in 1usize..7,
            kernel in prop::array::uniform2(1usize..4), stride in prop::array::uniform2(1usize..4),
            pads in prop::array::uniform4(0usize..3), seed in any::<u64>(),
        ) {
            let window = Window { kernel, stride, pads };
            let Some([oh, ow]) = window.output_hw(h, w) else {
                return Ok(());
            };
            let mut state = seed;
            let mut next = || {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 40) as i64 % 255 - 127
            };
            let x: Vec<i64> = (0..c_in * h * w).map(|_| next()).collect();
            let weight: Vec<i64> = (0..c_out * c_in * kernel[0] * kernel[1]).map(|_| next()).collect();
            let bias: Vec<i64> = (0..c_out).map(|_| next()).collect();
            let shapes = ([c_in, h, w], [c_out, oh, ow]);
            prop_assert_eq!(
                conv_accumulate(&x, &weight, &bias, shapes.0, shapes.1, &window),
                direct(&x, &weight, &bias, shapes.0, shapes.1, &window)
            );
        }
    }
}
