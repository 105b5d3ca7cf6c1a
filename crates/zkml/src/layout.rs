//! Which columns a proof commits to, shared by prover and verifier.
//!
//! Every per-layer column is a tensor `[samples][rows]` padded to powers of two, so its MLE has
//! `sample_vars + out_vars` variables (sample variables first).

use std::collections::HashMap;

use zkml_proof::pcs::CommitShape;

use crate::keys::VerifyingKey;
use crate::ops::requant::{E_LIMBS, R_LIMBS};
use crate::tables::Table;

/// A column of the per-proof witness (or a public tensor that takes a column's place).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Col {
    /// Requantized output of layer `l`; the last one is the public output.
    Out(usize),
    /// Clamp indicator of layer `l`: +1 at the top of the range, -1 at the bottom, else 0.
    Sigma(usize),
    /// Limb `k` of the clamp excess `|q - out|` of layer `l`.
    Excess(usize, usize),
    /// Limb `k` of the rounding remainder of layer `l`.
    Rem(usize, usize),
    /// Lookup multiplicities of a table.
    Mult(Table),
}

/// Where the verifier finds a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Column `i` of the witness commitment.
    Witness(usize),
    /// The public output carried in the proof.
    PublicOutput,
}

/// A lookup: `(a, b)` (or `(a, 0)`) into `table`, one entry per element of the columns.
#[derive(Clone, Copy, Debug)]
pub struct Lookup {
    pub table: Table,
    pub a: Col,
    pub b: Option<Col>,
}

/// Shape of one dense layer after padding.
#[derive(Clone, Copy, Debug)]
pub struct LayerShape {
    pub in_vars: usize,
    pub out_vars: usize,
    pub relu: bool,
}

/// The column layout of one proof.
pub struct Layout {
    pub bits: u32,
    pub sample_vars: usize,
    pub layers: Vec<LayerShape>,
    /// Committed columns, in commitment order.
    pub columns: Vec<Col>,
    index: HashMap<Col, usize>,
}

impl Layout {
    /// The layout for `num_samples` samples of the model behind `vk`.
    pub fn new(vk: &VerifyingKey, num_samples: usize) -> Self {
        let sample_vars = num_samples.next_power_of_two().trailing_zeros() as usize;
        let layers: Vec<LayerShape> = vk
            .layers
            .iter()
            .map(|l| LayerShape {
                in_vars: pow2_vars(l.n_in),
                out_vars: pow2_vars(l.n_out),
                relu: l.relu,
            })
            .collect();
        let last = layers.len() - 1;
        let mut columns = Vec::new();
        for l in 0..layers.len() {
            if l != last {
                columns.push(Col::Out(l));
            }
            columns.push(Col::Sigma(l));
            columns.extend((0..E_LIMBS).map(|k| Col::Excess(l, k)));
            columns.extend((0..R_LIMBS).map(|k| Col::Rem(l, k)));
        }
        let mut layout = Self {
            bits: vk.bits,
            sample_vars,
            layers,
            columns,
            index: HashMap::new(),
        };
        let tables = layout.tables();
        layout.columns.extend(tables.into_iter().map(Col::Mult));
        layout.index = layout
            .columns
            .iter()
            .enumerate()
            .map(|(i, &c)| (c, i))
            .collect();
        layout
    }

    /// Number of variables of a column.
    pub fn col_vars(&self, col: Col) -> usize {
        match col {
            Col::Out(l) | Col::Sigma(l) | Col::Excess(l, _) | Col::Rem(l, _) => {
                self.sample_vars + self.layers[l].out_vars
            }
            Col::Mult(t) => t.num_vars(self.bits),
        }
    }

    /// Where a column lives.
    pub fn source(&self, col: Col) -> Source {
        match self.index.get(&col) {
            Some(&i) => Source::Witness(i),
            None => Source::PublicOutput,
        }
    }

    /// The tables this model looks into.
    pub fn tables(&self) -> Vec<Table> {
        Table::ALL
            .into_iter()
            .filter(|&t| match t {
                Table::Limb => true,
                Table::ClampRelu => self.layers.iter().any(|l| l.relu),
                Table::Clamp => self.layers.iter().any(|l| !l.relu),
            })
            .collect()
    }

    /// Every lookup, in the order of the GKR segments (the table segments follow).
    pub fn lookups(&self) -> Vec<Lookup> {
        let mut v = Vec::new();
        for (l, shape) in self.layers.iter().enumerate() {
            v.push(Lookup {
                table: Table::clamp(shape.relu),
                a: Col::Out(l),
                b: Some(Col::Sigma(l)),
            });
            for k in 0..E_LIMBS {
                v.push(Lookup {
                    table: Table::Limb,
                    a: Col::Excess(l, k),
                    b: None,
                });
            }
            for k in 0..R_LIMBS {
                v.push(Lookup {
                    table: Table::Limb,
                    a: Col::Rem(l, k),
                    b: None,
                });
            }
        }
        v
    }

    /// Variables of every GKR segment: lookups, then tables.
    pub fn segment_vars(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .lookups()
            .iter()
            .map(|lk| self.col_vars(lk.a))
            .collect();
        v.extend(self.tables().iter().map(|t| t.num_vars(self.bits)));
        v
    }

    /// The shape of the witness commitment.
    pub fn commit_shape(&self) -> CommitShape {
        CommitShape {
            column_vars: self.columns.iter().map(|&c| self.col_vars(c)).collect(),
        }
    }
}

/// `log2` of the next power of two of `n`.
pub fn pow2_vars(n: usize) -> usize {
    n.max(1).next_power_of_two().trailing_zeros() as usize
}

/// Signed integers embedded and zero-padded to `2^vars` entries.
pub fn padded(values: &[i64], vars: usize) -> Vec<zkml_proof::field::F> {
    let mut v = vec![zkml_proof::field::F::default(); 1 << vars];
    for (slot, &x) in v.iter_mut().zip(values) {
        *slot = zkml_proof::field::from_i64(x);
    }
    v
}
