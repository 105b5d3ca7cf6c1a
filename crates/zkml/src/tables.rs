//! The lookup tables of the proof and their MLEs.
//!
//! The range and clamp tables are structured: the verifier evaluates their MLEs in O(log |T|)
//! and never materializes them. A function table (a map's, a softmax's exponentials, a
//! log-softmax's steps and bounds, the clamped negation) has a structured first column and
//! its second from the key, evaluated in O(|T|). A lookup of the pair `(a, b)` into table `id`
//! is the single value `a + beta * b + gamma * id` (random `beta`, `gamma` drawn after the
//! witness commitment).

use p3_field::PrimeCharacteristicRing;
use serde::{Deserialize, Serialize};
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::evaluate;

/// Bits of one range-check limb.
pub const LIMB_BITS: u32 = 8;

/// The tables of one model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Table {
    /// `x` in `[0, 2^LIMB_BITS)`, second column 0: range checks of limbs.
    Limb,
    /// `x` in `[0, 2^16)`, second column 0: range checks of a requantization's 16-bit limbs
    /// (`ops::requant::Limbs::Wide`).
    Limb16,
    /// `x` in `[0, 2^(bits-1) - 1]` with `sigma(x) = [x = hi] - [x = lo]`: clamp fused with ReLU.
    ClampRelu,
    /// `x` in `[-2^(bits-1), 2^(bits-1) - 1]` with `sigma(x) = [x = hi] - [x = lo]`: plain clamp.
    Clamp,
    /// Key proof: `2^(bits+1)` rows, the first half `(x, 0)` for `x` in
    /// `[-2^(bits-1), 2^(bits-1) - 1]`, the second half `(0, 1)`. A lookup of
    /// `(weight, pad)` proves a real weight in range and a padding weight zero.
    Weight,
    /// `(x, f[x])` for `x` in `[-2^(bits-1), 2^(bits-1) - 1]`: the function of map layer `l`
    /// (its key's table `f`, indexed from the lowest input).
    Map(usize),
    /// `(d, E[d])` for `d` in `[0, 2^bits)`: the exponentials of softmax layer `l` (its key's
    /// table `E`).
    Exp(usize),
    /// `(d, [d = 0])` for `d` in `[0, 2^bits)`: which differences are zero (a softmax's
    /// maxima).
    IsZero,
    /// `(t, max(-2^(bits-1), -t))` for `t` in `[0, 2^bits)`: a log-softmax's clamped output.
    NegClamp,
    /// `(d, G[d])`, `d` in `[0, 2^bits)`: log-softmax layer `l`'s steps (its key's table).
    LogSteps(usize),
    /// `(k, B[k])`, `k` in `[0, 2^bits)`: log-softmax layer `l`'s lower bounds.
    LogLo(usize),
    /// `(k, B[k + 1])`, `k` in `[0, 2^bits)`: log-softmax layer `l`'s upper bounds.
    LogHi(usize),
}

impl Table {
    /// All tables, in the order their multiplicity columns are committed.
    pub const ALL: [Table; 6] = [
        Table::Limb,
        Table::Limb16,
        Table::ClampRelu,
        Table::Clamp,
        Table::IsZero,
        Table::NegClamp,
    ];

    /// The tables of the key proof, in the order their multiplicity columns are committed.
    pub const KEY: [Table; 2] = [Table::Weight, Table::Limb];

    /// The tag that separates tables inside one lookup argument.
    pub fn id(self) -> u64 {
        match self {
            Table::Limb => 0,
            Table::ClampRelu => 1,
            Table::Clamp => 2,
            Table::Weight => 3,
            Table::IsZero => 4,
            Table::NegClamp => 5,
            Table::Limb16 => 6,
            // one layer is one kind: a map's table and a softmax's exponentials share a tag
            Table::Map(l) | Table::Exp(l) => 7 + 4 * l as u64,
            Table::LogSteps(l) => 8 + 4 * l as u64,
            Table::LogLo(l) => 9 + 4 * l as u64,
            Table::LogHi(l) => 10 + 4 * l as u64,
        }
    }

    /// Whether the second column is a function table `f` (from the key, or the clamped
    /// negation) that the MLE evaluation reads in `O(|f|)`.
    pub fn is_function(self) -> bool {
        matches!(
            self,
            Table::Map(_)
                | Table::Exp(_)
                | Table::NegClamp
                | Table::LogSteps(_)
                | Table::LogLo(_)
                | Table::LogHi(_)
        )
    }

    /// The clamp table for a layer.
    pub fn clamp(relu: bool) -> Table {
        if relu { Table::ClampRelu } else { Table::Clamp }
    }

    /// `log2 |T|` for activations of `bits` bits (a map's table with one function per channel
    /// is longer: `Layout::table_vars`).
    pub fn num_vars(self, bits: u32) -> usize {
        match self {
            Table::Limb => LIMB_BITS as usize,
            Table::Limb16 => 16,
            Table::ClampRelu => bits as usize - 1,
            Table::Clamp
            | Table::Map(_)
            | Table::Exp(_)
            | Table::IsZero
            | Table::NegClamp
            | Table::LogSteps(_)
            | Table::LogLo(_)
            | Table::LogHi(_) => bits as usize,
            Table::Weight => bits as usize + 1,
        }
    }

    /// The smallest first-column value.
    pub fn lo(self, bits: u32) -> i64 {
        match self {
            Table::Limb
            | Table::Limb16
            | Table::ClampRelu
            | Table::Exp(_)
            | Table::IsZero
            | Table::NegClamp
            | Table::LogSteps(_)
            | Table::LogLo(_)
            | Table::LogHi(_) => 0,
            Table::Clamp | Table::Weight | Table::Map(_) => -(1i64 << (bits - 1)),
        }
    }

    /// Row index of the value `x` (the caller guarantees it is in range; for
    /// [`Table::Weight`], `x` is a real weight and the row is `(x, 0)`).
    pub fn index_of(self, bits: u32, x: i64) -> usize {
        (x - self.lo(bits)) as usize
    }

    /// The rows `(x, sigma)` of the table; `f` is a map table's function (ignored by the
    /// others).
    pub fn rows(self, bits: u32, f: &[i64]) -> Vec<(F, F)> {
        let n = 1usize << self.num_vars(bits);
        let lo = self.lo(bits);
        if self.is_function() {
            // (a map with one function per channel: `f` is longer, row `i` is channel
            // `i >> bits`'s value at `lo + i mod 2^bits`, first column `lo + i`)
            return f
                .iter()
                .enumerate()
                .map(|(i, &y)| (from_i64(lo + i as i64), from_i64(y)))
                .collect();
        }
        if self == Table::Weight {
            let half = n / 2;
            return (0..n)
                .map(|i| match i < half {
                    true => (from_i64(lo + i as i64), F::ZERO),
                    false => (F::ZERO, F::ONE),
                })
                .collect();
        }
        (0..n)
            .map(|i| {
                let sigma = match self {
                    Table::Limb | Table::Limb16 => 0,
                    Table::IsZero => i64::from(i == 0),
                    _ => i64::from(i == n - 1) - i64::from(i == 0),
                };
                (from_i64(lo + i as i64), from_i64(sigma))
            })
            .collect()
    }

    /// The row of the padding pair `(0, 1)` in [`Table::Weight`] (the first of its second half).
    pub fn pad_row(bits: u32) -> usize {
        1 << bits
    }

    /// The MLEs of both columns at `z` (length `num_vars(bits)`), in O(|z|) (a map table's
    /// second column, the function `f`, in O(|f|)).
    pub fn eval(self, bits: u32, z: &[EF], f: &[i64]) -> (EF, EF) {
        if self == Table::Weight {
            // first variable: which half; the rest index a signed value in the first half
            let Some((&z0, rest)) = z.split_first() else {
                return (EF::ZERO, EF::ZERO);
            };
            let (x, _) = Table::Clamp.eval(bits, rest, &[]);
            return ((EF::ONE - z0) * x, z0);
        }
        let n = z.len();
        let x = z
            .iter()
            .enumerate()
            .fold(EF::from(from_i64(self.lo(bits))), |acc, (k, &zk)| {
                acc + zk * F::from_u64(1u64 << (n - 1 - k))
            });
        let sigma = match self {
            Table::Limb | Table::Limb16 => EF::ZERO,
            _ if self.is_function() => {
                evaluate(&f.iter().map(|&v| from_i64(v)).collect::<Vec<_>>(), z)
            }
            Table::IsZero => z.iter().map(|&zk| EF::ONE - zk).product(),
            _ => {
                let all_one: EF = z.iter().copied().product();
                let all_zero: EF = z.iter().map(|&zk| EF::ONE - zk).product();
                all_one - all_zero
            }
        };
        (x, sigma)
    }
}

/// The value a lookup of `(a, b)` into `table` contributes: `a + beta b + gamma id`.
pub fn combine(table: Table, a: EF, b: EF, beta: EF, gamma: EF) -> EF {
    a + beta * b + gamma * F::from_u64(table.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_mles_equal_the_tables_on_the_hypercube() {
        for bits in [2u32, 4, 8] {
            let f: Vec<i64> = (0..1i64 << bits).map(|i| (i * 37 % 11) - 5).collect();
            let more = [Table::Weight, Table::Map(3), Table::Exp(2)];
            for table in Table::ALL.into_iter().chain(more) {
                let rows = table.rows(bits, &f);
                let n = table.num_vars(bits);
                let xs: Vec<F> = rows.iter().map(|r| r.0).collect();
                let ss: Vec<F> = rows.iter().map(|r| r.1).collect();
                for i in 0..rows.len() {
                    let z: Vec<EF> = (0..n)
                        .map(|k| EF::from_u64(((i >> (n - 1 - k)) & 1) as u64))
                        .collect();
                    assert_eq!(table.eval(bits, &z, &f), (EF::from(xs[i]), EF::from(ss[i])));
                }
                // and off the hypercube the closed form agrees with the MLE of the rows
                let z: Vec<EF> = (0..n).map(|k| EF::from_u64(k as u64 * 31 + 7)).collect();
                assert_eq!(
                    table.eval(bits, &z, &f),
                    (evaluate(&xs, &z), evaluate(&ss, &z))
                );
            }
        }
    }

    #[test]
    fn clamp_table_sigma_marks_the_ends() {
        let rows = Table::ClampRelu.rows(8, &[]);
        assert_eq!(rows.len(), 128);
        assert_eq!(rows[0], (F::ZERO, -F::ONE));
        assert_eq!(rows[127], (F::from_u64(127), F::ONE));
        let rows = Table::Clamp.rows(8, &[]);
        assert_eq!(rows[0].0, from_i64(-128));
        assert_eq!(Table::Clamp.index_of(8, -128), 0);
        let rows = Table::Weight.rows(4, &[]);
        assert_eq!(rows.len(), 32);
        assert_eq!(rows[Table::Weight.index_of(4, -8)], (from_i64(-8), F::ZERO));
        assert_eq!(rows[Table::Weight.index_of(4, 7)], (from_i64(7), F::ZERO));
        assert_eq!(rows[Table::pad_row(4)], (F::ZERO, F::ONE));
        assert_eq!(rows[31], (F::ZERO, F::ONE));
    }

    /// Tags separate tables inside the one lookup argument: two tables with one tag would let
    /// a pair of one be found in the other.
    #[test]
    fn every_table_has_its_own_tag() {
        let mut tags = std::collections::HashSet::new();
        let per_layer = |l| {
            [
                Table::Map(l),
                Table::LogSteps(l),
                Table::LogLo(l),
                Table::LogHi(l),
            ]
        };
        let fixed = Table::ALL.into_iter().chain([Table::Weight]);
        for table in fixed.chain((0..64).flat_map(per_layer)) {
            assert!(tags.insert(table.id()), "{table:?}");
        }
        // a softmax's exponentials take the tag of a map of the same layer (one kind a layer)
        assert_eq!(Table::Exp(5).id(), Table::Map(5).id());
    }
}
