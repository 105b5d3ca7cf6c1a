//! Element-wise functions of one activation (Sigmoid, Tanh, GELU, SiLU, Clip, ...): a scalar
//! [`Expr`] in the float graph, a table of its quantized values in the quantized model.
//!
//! The importer fuses every element-wise subgraph that reads one tensor (GELU's
//! `x * 0.5 * (1 + erf(x / sqrt 2))`, SiLU's `x * sigmoid(x)`) into one expression, so that a
//! whole activation is one table. A [`MapLayer`] reads an activation `x` at scale `s_in` and
//! writes `table[x - lo] = clamp(round(f(x s_in) / s_out))`: every input of the bit width has its
//! row, so the layer is exact by construction (the table is the function), and the proof is one
//! lookup of `(x, y)` per value.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::ModelError;
use crate::layer::{Layer, LayerTrace, first, plain};
use crate::requant::activation_range;

/// A scalar function of one variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Func {
    Sigmoid,
    Tanh,
    Erf,
    Exp,
    Log,
    Abs,
    Neg,
    Sqrt,
    Reciprocal,
    /// `ln(1 + e^x)`, computed without overflow.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    Sin,
    Cos,
}

impl Func {
    /// The ONNX op type of the function (also its name in summaries).
    pub const fn name(self) -> &'static str {
        match self {
            Func::Sigmoid => "Sigmoid",
            Func::Tanh => "Tanh",
            Func::Erf => "Erf",
            Func::Exp => "Exp",
            Func::Log => "Log",
            Func::Abs => "Abs",
            Func::Neg => "Neg",
            Func::Sqrt => "Sqrt",
            Func::Reciprocal => "Reciprocal",
            Func::Softplus => "Softplus",
            Func::Softsign => "Softsign",
            Func::Sin => "Sin",
            Func::Cos => "Cos",
        }
    }

    /// Every function, for lookups by ONNX op type.
    pub const ALL: [Func; 13] = [
        Func::Sigmoid,
        Func::Tanh,
        Func::Erf,
        Func::Exp,
        Func::Log,
        Func::Abs,
        Func::Neg,
        Func::Sqrt,
        Func::Reciprocal,
        Func::Softplus,
        Func::Softsign,
        Func::Sin,
        Func::Cos,
    ];

    pub fn apply(self, x: f64) -> f64 {
        match self {
            Func::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Func::Tanh => x.tanh(),
            Func::Erf => libm::erf(x),
            Func::Exp => x.exp(),
            Func::Log => x.ln(),
            Func::Abs => x.abs(),
            Func::Neg => -x,
            Func::Sqrt => x.sqrt(),
            Func::Reciprocal => 1.0 / x,
            Func::Softplus => x.max(0.0) + (-x.abs()).exp().ln_1p(),
            Func::Softsign => x / (1.0 + x.abs()),
            Func::Sin => x.sin(),
            Func::Cos => x.cos(),
        }
    }
}

/// A binary operation of an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bin {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Max,
    Min,
}

impl Bin {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Bin::Add => a + b,
            Bin::Sub => a - b,
            Bin::Mul => a * b,
            Bin::Div => a / b,
            Bin::Pow => a.powf(b),
            Bin::Max => a.max(b),
            Bin::Min => a.min(b),
        }
    }
}

/// A scalar function of the activation `x`, as the ONNX nodes that compute it say.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    X,
    Const(f64),
    Unary(Func, Box<Expr>),
    Binary(Bin, Box<Expr>, Box<Expr>),
}

impl Expr {
    pub fn unary(f: Func, e: Expr) -> Expr {
        Expr::Unary(f, Box::new(e))
    }

    pub fn binary(op: Bin, a: Expr, b: Expr) -> Expr {
        Expr::Binary(op, Box::new(a), Box::new(b))
    }

    /// The value at `x`.
    pub fn eval(&self, x: f64) -> f64 {
        match self {
            Expr::X => x,
            Expr::Const(c) => *c,
            Expr::Unary(f, e) => f.apply(e.eval(x)),
            Expr::Binary(op, a, b) => op.apply(a.eval(x), b.eval(x)),
        }
    }

    /// Whether the function is not affine (an affine map folds into a linear op instead).
    pub fn is_nonlinear(&self) -> bool {
        match self {
            Expr::X | Expr::Const(_) => false,
            Expr::Unary(Func::Neg, e) => e.is_nonlinear(),
            Expr::Unary(..) => true,
            Expr::Binary(op, a, b) => {
                let both = a.has_x() && b.has_x();
                let piecewise = matches!(op, Bin::Pow | Bin::Max | Bin::Min) && a.has_x();
                let divides_by_x = matches!(op, Bin::Div | Bin::Pow) && b.has_x();
                both || piecewise || divides_by_x || a.is_nonlinear() || b.is_nonlinear()
            }
        }
    }

    /// The number of terms (leaves and operations).
    pub fn size(&self) -> usize {
        match self {
            Expr::X | Expr::Const(_) => 1,
            Expr::Unary(_, e) => 1 + e.size(),
            Expr::Binary(_, a, b) => 1 + a.size() + b.size(),
        }
    }

    fn has_x(&self) -> bool {
        match self {
            Expr::X => true,
            Expr::Const(_) => false,
            Expr::Unary(_, e) => e.has_x(),
            Expr::Binary(_, a, b) => a.has_x() || b.has_x(),
        }
    }

    /// `max(x, 0) + a min(x, 0)`: LeakyRelu (and PRelu with one slope).
    pub fn leaky_relu(alpha: f64) -> Expr {
        let neg = Expr::binary(Bin::Min, Expr::X, Expr::Const(0.0));
        Expr::binary(
            Bin::Add,
            Expr::binary(Bin::Max, Expr::X, Expr::Const(0.0)),
            Expr::binary(Bin::Mul, Expr::Const(alpha), neg),
        )
    }

    /// `max(x, 0) + alpha (e^min(x, 0) - 1)`: Elu.
    pub fn elu(alpha: f64) -> Expr {
        let neg = Expr::binary(Bin::Min, Expr::X, Expr::Const(0.0));
        let tail = Expr::binary(Bin::Sub, Expr::unary(Func::Exp, neg), Expr::Const(1.0));
        Expr::binary(
            Bin::Add,
            Expr::binary(Bin::Max, Expr::X, Expr::Const(0.0)),
            Expr::binary(Bin::Mul, Expr::Const(alpha), tail),
        )
    }

    /// `max(lo, min(hi, x))`: Clip (either bound may be absent).
    pub fn clip(lo: Option<f64>, hi: Option<f64>) -> Expr {
        let mut e = Expr::X;
        if let Some(hi) = hi {
            e = Expr::binary(Bin::Min, e, Expr::Const(hi));
        }
        if let Some(lo) = lo {
            e = Expr::binary(Bin::Max, e, Expr::Const(lo));
        }
        e
    }

    /// `max(0, min(1, alpha x + beta))`: HardSigmoid.
    pub fn hard_sigmoid(alpha: f64, beta: f64) -> Expr {
        let lin = Expr::binary(
            Bin::Add,
            Expr::binary(Bin::Mul, Expr::Const(alpha), Expr::X),
            Expr::Const(beta),
        );
        Expr::binary(
            Bin::Max,
            Expr::binary(Bin::Min, lin, Expr::Const(1.0)),
            Expr::Const(0.0),
        )
    }

    /// `0.5 x (1 + erf(x / sqrt 2))`, or the tanh approximation: Gelu.
    pub fn gelu(tanh: bool) -> Expr {
        let inner = if tanh {
            let cube = Expr::binary(Bin::Pow, Expr::X, Expr::Const(3.0));
            let arg = Expr::binary(
                Bin::Add,
                Expr::X,
                Expr::binary(Bin::Mul, Expr::Const(0.044_715), cube),
            );
            let scaled = Expr::binary(
                Bin::Mul,
                Expr::Const((2.0 / std::f64::consts::PI).sqrt()),
                arg,
            );
            Expr::unary(Func::Tanh, scaled)
        } else {
            let arg = Expr::binary(
                Bin::Mul,
                Expr::X,
                Expr::Const(std::f64::consts::FRAC_1_SQRT_2),
            );
            Expr::unary(Func::Erf, arg)
        };
        let half = Expr::binary(Bin::Mul, Expr::Const(0.5), Expr::X);
        Expr::binary(
            Bin::Mul,
            half,
            Expr::binary(Bin::Add, Expr::Const(1.0), inner),
        )
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::X => write!(f, "x"),
            Expr::Const(c) => write!(f, "{c}"),
            Expr::Unary(Func::Neg, e) => write!(f, "-({e})"),
            Expr::Unary(func, e) => write!(f, "{}({e})", func.name()),
            Expr::Binary(op, a, b) => {
                let sym = match op {
                    Bin::Add => "+",
                    Bin::Sub => "-",
                    Bin::Mul => "*",
                    Bin::Div => "/",
                    Bin::Pow => "^",
                    Bin::Max => return write!(f, "max({a}, {b})"),
                    Bin::Min => return write!(f, "min({a}, {b})"),
                };
                let operand = |e: &Expr, f: &mut fmt::Formatter<'_>| match e {
                    Expr::Binary(..) => write!(f, "({e})"),
                    _ => write!(f, "{e}"),
                };
                operand(a, f)?;
                write!(f, " {sym} ")?;
                operand(b, f)
            }
        }
    }
}

/// An element-wise function as a quantized layer: `out = table[x - lo]` for each value `x`
/// of the input (which keeps its layout).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MapLayer {
    pub name: String,
    /// The function, for summaries.
    pub function: String,
    /// The layout of the input, which the output keeps.
    pub dims: Vec<usize>,
    /// `2^bits` outputs per channel, one per input value from `lo = -2^(bits-1)` up: the
    /// table of channel `c` (the index along `dims[0]`) is `table[c 2^bits..(c + 1) 2^bits]`.
    pub table: Vec<i64>,
    /// 1 (one table for every value) or `dims[0]` (one table per channel).
    pub channels: usize,
    pub out_scale: f64,
}

impl MapLayer {
    /// The table of `f` (then a ReLU when `relu`) from input scale `s_in` to `s_out`: each
    /// value rounded to nearest, clamped to the activation range (a value that is not a
    /// number, e.g. `log` of a negative input, becomes 0; an infinity clamps).
    pub fn table(expr: &Expr, relu: bool, s_in: f64, s_out: f64, bits: u32) -> Vec<i64> {
        let (lo, hi) = activation_range(bits);
        (lo..=hi)
            .map(|q| {
                let mut v = expr.eval(q as f64 * s_in);
                if relu {
                    v = v.max(0.0);
                }
                let r = (v / s_out).round();
                if r.is_nan() {
                    0
                } else {
                    // an f64 -> i64 cast saturates; the clamp then puts it in range
                    (r as i64).clamp(lo, hi)
                }
            })
            .collect()
    }

    pub fn input_len(&self) -> usize {
        self.dims.iter().product()
    }

    /// The table entry of each input value (in its channel's table).
    pub fn forward(&self, x: &[i64]) -> Vec<i64> {
        let size = self.table.len() / self.channels.max(1);
        let lo = -(size as i64 / 2);
        let per = x.len().div_ceil(self.channels.max(1)).max(1);
        x.iter()
            .enumerate()
            .map(|(j, &v)| {
                let i = usize::try_from(v - lo).unwrap_or(usize::MAX);
                assert!(i < size, "layer {}: input {v} out of range", self.name);
                self.table[j / per * size + i]
            })
            .collect()
    }

    /// The table has one in-range entry per input value of the bit width.
    ///
    /// # Errors
    /// [`ModelError::Quantization`] naming the layer.
    pub fn validate(&self, bits: u32) -> Result<(), ModelError> {
        let (lo, hi) = activation_range(bits);
        let channels_ok =
            self.channels == 1 || self.channels > 1 && Some(&self.channels) == self.dims.first();
        if !channels_ok
            || self.table.len() != self.channels << bits
            || self.table.iter().any(|v| !(lo..=hi).contains(v))
        {
            return Err(ModelError::Quantization {
                layer: self.name.clone(),
                detail: format!(
                    "{} function tables of {} entries in all, not 2^{bits} each in [{lo}, {hi}] \
                     for 1 or {:?} channels",
                    self.channels,
                    self.table.len(),
                    self.dims.first()
                ),
            });
        }
        // a padding value is 0 in every channel, so every table has one value at input 0
        let zero = 1usize << (bits - 1);
        if self
            .table
            .chunks(1 << bits)
            .any(|t| t[zero] != self.table[zero])
        {
            return Err(ModelError::Quantization {
                layer: self.name.clone(),
                detail: "channels whose functions differ at input 0".into(),
            });
        }
        Ok(())
    }
}

impl Layer for MapLayer {
    fn name(&self) -> &str {
        &self.name
    }

    fn out_scale(&self) -> f64 {
        self.out_scale
    }

    fn input_len(&self) -> usize {
        self.dims.iter().product()
    }

    fn out_layout(&self) -> Vec<usize> {
        self.dims.clone()
    }

    /// A map of one table keeps its input's layout; one with a table per channel reads the
    /// channel first, as `dims` says.
    fn in_layout(&self) -> Option<Vec<usize>> {
        (self.channels > 1).then(|| self.dims.clone())
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
    fn named_functions_match_their_definitions() {
        let gelu = Expr::gelu(false);
        let gelu_tanh = Expr::gelu(true);
        for i in -40..=40 {
            let x = f64::from(i) / 8.0;
            let exact = 0.5 * x * (1.0 + libm::erf(x / 2f64.sqrt()));
            assert!((gelu.eval(x) - exact).abs() < 1e-12);
            assert!((gelu_tanh.eval(x) - exact).abs() < 1e-3, "{x}");
            let leaky = if x > 0.0 { x } else { 0.1 * x };
            assert!((Expr::leaky_relu(0.1).eval(x) - leaky).abs() < 1e-12);
            let elu = if x > 0.0 { x } else { x.exp() - 1.0 };
            assert!((Expr::elu(1.0).eval(x) - elu).abs() < 1e-12);
            assert_eq!(Expr::clip(Some(0.0), Some(6.0)).eval(x), x.clamp(0.0, 6.0));
            let hs = (0.2 * x + 0.5).clamp(0.0, 1.0);
            assert!((Expr::hard_sigmoid(0.2, 0.5).eval(x) - hs).abs() < 1e-12);
            let softplus = (1.0 + x.exp()).ln();
            assert!((Func::Softplus.apply(x) - softplus).abs() < 1e-12);
        }
        assert_eq!(Func::Softplus.apply(1000.0), 1000.0);
        assert!(gelu.is_nonlinear() && Expr::clip(None, Some(6.0)).is_nonlinear());
        let affine = Expr::binary(
            Bin::Add,
            Expr::binary(Bin::Div, Expr::X, Expr::Const(2.0)),
            Expr::Const(1.0),
        );
        assert!(!affine.is_nonlinear());
        assert_eq!(affine.to_string(), "(x / 2) + 1");
    }

    #[test]
    fn tables_round_and_clamp_every_input() {
        let sigmoid = Expr::unary(Func::Sigmoid, Expr::X);
        // inputs at scale 1/16 (x in [-8, 7.94]), outputs at scale 1/127
        let t = MapLayer::table(&sigmoid, false, 1.0 / 16.0, 1.0 / 127.0, 8);
        assert_eq!(t.len(), 256);
        assert_eq!(t[128], 64); // sigmoid(0) = 0.5 -> 63.5 rounds away from zero
        assert_eq!(t[0], 0); // sigmoid(-8) * 127 = 0.04
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        // log of a negative input is not a number: 0; an infinity clamps
        let log = Expr::unary(Func::Log, Expr::X);
        let t = MapLayer::table(&log, false, 1.0, 1.0, 4);
        assert_eq!(t[..8], [0; 8]);
        assert_eq!(t[8], -8); // log(0) = -inf
        assert_eq!(t[9], 0);
        let layer = MapLayer {
            name: "log".into(),
            function: log.to_string(),
            dims: vec![3],
            table: t,
            channels: 1,
            out_scale: 1.0,
        };
        assert_eq!(layer.forward(&[-8, 0, 7]), vec![0, -8, 2]);
        assert!(layer.validate(4).is_ok());
        assert!(layer.validate(5).is_err());
        // one table per channel of [2, 3]: slopes 1/2 and 1/4 (half rounds away from zero)
        let tables = [0.5, 0.25].map(|a| MapLayer::table(&Expr::leaky_relu(a), false, 1.0, 1.0, 4));
        let mut prelu = MapLayer {
            name: "prelu".into(),
            function: "prelu".into(),
            dims: vec![2, 3],
            table: tables.concat(),
            channels: 2,
            out_scale: 1.0,
        };
        assert_eq!(
            prelu.forward(&[-8, -3, 5, -8, -3, 5]),
            vec![-4, -2, 5, -2, -1, 5]
        );
        assert!(prelu.validate(4).is_ok());
        prelu.channels = 3;
        assert!(prelu.validate(4).is_err());
        prelu.channels = 2;
        prelu.table[16 + 8] = 1;
        let err = prelu.validate(4).unwrap_err().to_string();
        assert!(err.contains("differ at input 0"), "{err}");
    }

    /// Every function the importer makes, over its whole input range at 8 and 16 bits: inputs
    /// `x` in `[-8, 8)` (scale `8 / 2^(bits-1)`), outputs at the scale calibration would pick
    /// (`max |f|` over the range). Bound: half an output step for the table's own inputs, plus
    /// the input's rounding (`L s_in / 2`, `L` the largest slope) for any `x` in the range.
    /// Run with `--nocapture` for the table in docs/MODELS.md (the error in output steps).
    #[test]
    fn every_function_is_within_its_error_bound_at_8_and_16_bits() {
        let x = || Expr::X;
        let f = |func| Expr::unary(func, x());
        let silu = Expr::binary(Bin::Mul, x(), f(Func::Sigmoid));
        let mish = Expr::binary(Bin::Mul, x(), Expr::unary(Func::Tanh, f(Func::Softplus)));
        let hard_swish = Expr::binary(Bin::Mul, x(), Expr::hard_sigmoid(1.0 / 6.0, 0.5));
        let selu = Expr::binary(Bin::Mul, Expr::Const(1.0507), Expr::elu(1.6733));
        let cases = [
            ("Sigmoid", f(Func::Sigmoid)),
            ("Tanh", f(Func::Tanh)),
            ("Erf", f(Func::Erf)),
            ("GELU", Expr::gelu(false)),
            ("GELU (tanh)", Expr::gelu(true)),
            ("SiLU", silu),
            ("Mish", mish),
            ("Softplus", f(Func::Softplus)),
            ("Softsign", f(Func::Softsign)),
            ("ELU", Expr::elu(1.0)),
            ("SELU", selu),
            ("LeakyReLU 0.1", Expr::leaky_relu(0.1)),
            ("ReLU6", Expr::clip(Some(0.0), Some(6.0))),
            ("HardSigmoid", Expr::hard_sigmoid(0.2, 0.5)),
            ("HardSwish", hard_swish),
            ("Exp", f(Func::Exp)),
            ("Abs", f(Func::Abs)),
        ];
        for (name, e) in &cases {
            let mut row = format!("| {name} |");
            for bits in [8u32, 16] {
                let (lo, hi) = activation_range(bits);
                let s_in = 8.0 / (1u64 << (bits - 1)) as f64;
                let grid: Vec<f64> = (lo..=hi).map(|q| q as f64 * s_in).collect();
                let max = grid.iter().fold(0f64, |m, &v| m.max(e.eval(v).abs()));
                let s_out = max / hi as f64;
                let table = MapLayer::table(e, false, s_in, s_out, bits);
                // at the table's own inputs: the rounding of the output only
                let own = grid
                    .iter()
                    .zip(&table)
                    .map(|(&v, &t)| (t as f64 * s_out - e.eval(v)).abs())
                    .fold(0f64, f64::max);
                assert!(own <= s_out / 2.0 * (1.0 + 1e-9), "{name} {bits}: {own}");
                // anywhere in the range: also the input's rounding, at most L s_in / 2 (L from
                // the steepest secant between neighbours, plus 10% for convex functions)
                let slope = 1.1
                    * grid
                        .windows(2)
                        .map(|w| ((e.eval(w[1]) - e.eval(w[0])) / s_in).abs())
                        .fold(0f64, f64::max);
                let mut worst = 0f64;
                let (first, last) = (grid[0], grid[grid.len() - 1]);
                for k in 0..20_000 {
                    let v = first + (last - first) * (k as f64 + 0.5) / 20_000.0;
                    let q = ((v / s_in).round() as i64).clamp(lo, hi);
                    let got = table[usize::try_from(q - lo).unwrap()] as f64 * s_out;
                    worst = worst.max((got - e.eval(v)).abs());
                }
                let bound = s_out / 2.0 + slope * s_in / 2.0;
                assert!(worst <= bound * 1.01, "{name} {bits}: {worst} > {bound}");
                row += &format!(" {worst:.2e} ({:.2} steps) |", worst / s_out);
            }
            println!("{row}");
        }
    }
}
