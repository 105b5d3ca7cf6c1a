//! Which columns a proof commits to, shared by prover and verifier.
//!
//! Every per-layer column is a tensor `[samples][dims...]` with each dimension padded to a power
//! of two (a dense layer's output has one dimension, a conv/pool output `[C][H][W]`), so its MLE
//! has `sample_vars + out_vars` variables (sample variables first, then each dimension in
//! order). Positions in the padding of a dimension are zero.

use std::collections::HashMap;

use p3_field::PrimeCharacteristicRing;
use zkml_proof::field::{EF, F};
use zkml_proof::pcs::CommitShape;

use crate::keys::{LayerOp, VerifyingKey, VkLayer};
use crate::ops::requant::{EXCESS_BITS, Limbs};
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
    /// Max-pool layer `l`: limb `t` of `out - input` at window offset `k`.
    Diff(usize, usize, usize),
    /// Column `k` of layer `l`'s own (a softmax's), laid out like its input.
    Aux(usize, usize),
    /// Per-sample column `k` of layer `l` (a softmax's row max, sum, count).
    Row(usize, usize),
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
    /// What `b` (a layer's output) is taken to hold at the padding positions of its layout
    /// (0 for every lookup but a map's): the looked-up column is `b + fill (1 - real)`, with
    /// `real` the indicator of real positions ([`real_eval`]).
    pub fill: i64,
    /// Whether the table holds one function per channel (a map's, see `ops/map.rs`): the
    /// looked-up first column is then `a + 2^bits c`, `c` the index along the first
    /// dimension of `a`'s layout, whose MLE the verifier evaluates ([`Layout::shift`]).
    pub per_channel: bool,
}

/// Shape of one layer: real dimensions of its input and output, and padded variable counts.
#[derive(Clone, Debug)]
pub struct LayerShape {
    /// What the key says the layer computes.
    pub op: LayerOp,
    pub in_dims: Vec<usize>,
    pub out_dims: Vec<usize>,
    pub in_vars: usize,
    pub out_vars: usize,
    /// Variables of the per-row multiplier (the output channel, or the dense row).
    pub mult_vars: usize,
    pub relu: bool,
    /// The tensors the layer reads: 0 is the model input, `k + 1` the output of layer `k`.
    pub inputs: Vec<usize>,
    /// A relayout's wiring: `(pad_out(j), pad_in(src(j)))` for every real output index `j`
    /// that holds an input value (empty for other kinds).
    pub gather: Vec<(usize, usize)>,
    /// How its requantization splits the excess and the remainder into limbs (bytes or 16-bit
    /// limbs: one choice per proof; the excess's bits from the key's bound on the layer).
    pub limbs: Limbs,
}

impl LayerShape {
    /// Variables of a row op's rows within a sample: the input's axes before the last (0 for
    /// one row). The position variables are these, then the row's.
    pub fn row_vars(&self) -> usize {
        self.in_vars - pow2_vars(self.in_dims.last().copied().unwrap_or(1))
    }
}

/// Per-dimension padded variable counts.
pub fn dims_vars(dims: &[usize]) -> Vec<usize> {
    dims.iter().map(|&d| pow2_vars(d)).collect()
}

/// Index in the padded layout of the real C-order index `i` of a tensor of `dims`.
pub fn padded_index(dims: &[usize], mut i: usize) -> usize {
    let vars = dims_vars(dims);
    let (mut out, mut stride) = (0, 1);
    for (&d, &v) in dims.iter().zip(&vars).rev() {
        out += (i % d) * stride;
        i /= d;
        stride <<= v;
    }
    out
}

/// Real `[n][prod dims]` rows embedded in `[samples][padded dims]` (zeros elsewhere).
pub fn embed(data: &[i64], dims: &[usize], samples: usize) -> Vec<zkml_proof::field::F> {
    let len: usize = dims.iter().product();
    let width = 1usize << dims_vars(dims).iter().sum::<usize>();
    let mut v = vec![zkml_proof::field::F::default(); samples * width];
    for (s, row) in data.chunks(len.max(1)).enumerate().take(samples) {
        for (j, &x) in row.iter().enumerate() {
            v[s * width + padded_index(dims, j)] = zkml_proof::field::from_i64(x);
        }
    }
    v
}

/// Real input and output dimensions of every layer: a conv/pool works on `[C][H][W]`, a
/// relayout reads `in_dims` and writes `out_dims`; a dense layer takes its input tensor as
/// that tensor is laid out (flattened in C order) and gives `[n_out]`; a sum keeps the layout
/// of its first input. The model input is laid out as the first layer reads it
/// (`[input_len]` for a dense layer or a sum). Layers must read earlier tensors (checked by
/// the key's sanity check and setup).
pub fn layer_dims(input_len: usize, layers: &[VkLayer]) -> Vec<(Vec<usize>, Vec<usize>)> {
    let input = match layers.first().and_then(own_dims) {
        Some((inp, _)) => inp,
        None => vec![input_len],
    };
    let mut dims: Vec<(Vec<usize>, Vec<usize>)> = Vec::with_capacity(layers.len());
    for l in layers {
        let tensor = |t: usize| match t.checked_sub(1) {
            None => input.clone(),
            Some(k) => dims.get(k).map_or_else(|| vec![l.n_in], |d| d.1.clone()),
        };
        let first = tensor(l.inputs.first().copied().unwrap_or(0));
        let op = l.op.kind();
        let pair = match op.own_dims(l.n_in) {
            Some(fixed) => fixed,
            None if op.keeps_layout() => (first.clone(), first),
            None => (first, vec![l.n_out]),
        };
        dims.push(pair);
    }
    dims
}

/// The layouts a layer reads and writes whatever its input ([`crate::ops::LayerKind::own_dims`]).
fn own_dims(l: &VkLayer) -> Option<(Vec<usize>, Vec<usize>)> {
    l.op.kind().own_dims(l.n_in)
}

/// Why layer `l` cannot read a tensor as it was written, if it cannot.
///
/// Every committed activation is laid out padded per dimension (`[C][H][W]` for a window op,
/// `[n]` for a dense layer), and a window op (conv, pool) reads its input in its own
/// `[C][H][W]` layout, a relayout in its `in_dims`. So they must read exactly the shape their
/// input was written in: a window op reading `[n]` as `[C][H][W]` would gather the cells of
/// another tensor. A sum reads both inputs at the same point, so they must share a layout. A
/// dense layer reads any tensor (its weights are permuted at setup to that tensor's padded
/// layout). Every reader of the model input reads it in the first layer's layout.
/// Quantization puts a relayout layer wherever a layer reads another layout, so only a
/// hand-made key fails this; setup and the key check on load refuse it with this message.
/// `layers` must read earlier tensors only (checked before).
pub fn chain_error(layers: &[VkLayer]) -> Option<(usize, String)> {
    let input_len = layers.first().map_or(0, |l| l.n_in);
    let dims = layer_dims(input_len, layers);
    let written = |t: usize| match t.checked_sub(1) {
        None => dims.first().map(|d| d.0.clone()).unwrap_or_default(),
        Some(k) => dims[k].1.clone(),
    };
    layers.iter().enumerate().find_map(|(l, layer)| {
        // a layer of several inputs (a sum) reads them all at the same point
        let several = layer.op.kind().arity() > 1;
        let wants = match own_dims(layer) {
            Some((in_dims, _)) => in_dims,
            None if several => dims[l].0.clone(),
            None => return None,
        };
        let bad = layer.inputs.iter().find(|&&t| written(t) != wants)?;
        let why = match bad.checked_sub(1) {
            None => format!(
                "reads the model input as {wants:?}, the first layer reads it as {:?}",
                written(0)
            ),
            Some(_) if several => format!(
                "a sum of tensors laid out as {:?} and {:?} (a sum reads both at the same \
                 point, so they must share a layout)",
                written(layer.inputs[0]),
                written(layer.inputs[1])
            ),
            Some(_) => format!(
                "reads a tensor written as {:?} as {wants:?} (activations are laid out padded \
                 per dimension, so the proof would read it in another order)",
                written(*bad)
            ),
        };
        Some((l, why))
    })
}

/// The column layout of one proof.
pub struct Layout {
    pub bits: u32,
    pub sample_vars: usize,
    pub layers: Vec<LayerShape>,
    /// Committed columns, in commitment order.
    pub columns: Vec<Col>,
    /// `max(-2^(bits-1), -t)` for `t` in `[0, 2^bits)` ([`Table::NegClamp`]).
    neg_clamp: Vec<i64>,
    /// The key's function tables, layer by layer ([`crate::ops::LayerKind::tables`]).
    functions: Vec<(Table, Vec<i64>)>,
    index: HashMap<Col, usize>,
}

impl Layout {
    /// The layout for `num_samples` samples of the model behind `vk`.
    pub fn new(vk: &VerifyingKey, num_samples: usize) -> Self {
        let sample_vars = num_samples.next_power_of_two().trailing_zeros() as usize;
        let mut layers: Vec<LayerShape> = layer_dims(vk.input_len(), &vk.layers)
            .into_iter()
            .zip(&vk.layers)
            .map(|((in_dims, out_dims), l)| {
                let op = l.op.kind();
                LayerShape {
                    in_vars: dims_vars(&in_dims).iter().sum(),
                    out_vars: dims_vars(&out_dims).iter().sum(),
                    // one multiplier per row or channel, or per position (an average pool)
                    mult_vars: if l.multiplier.len() > out_dims[0] {
                        dims_vars(&out_dims).iter().sum()
                    } else {
                        pow2_vars(out_dims[0])
                    },
                    gather: op.gather(&in_dims, &out_dims),
                    op: l.op.clone(),
                    in_dims,
                    out_dims,
                    relu: l.relu,
                    inputs: l.inputs.clone(),
                    limbs: Limbs::default(),
                }
            })
            .collect();
        // the requantizing layers are those with a clamp indicator
        let requantized: usize = (layers.iter().enumerate())
            .filter(|(l, shape)| {
                (shape.op.kind().columns(*l, shape, vk.bits)).contains(&Col::Sigma(*l))
            })
            .map(|(_, shape)| 1usize << (sample_vars + shape.out_vars))
            .sum();
        let wide = Limbs::wide_for(requantized);
        // a key whose bounds fail is refused on load and at setup; its layers keep the most
        // excess bits here
        let excess_bits = vk.check_bounds().unwrap_or_default();
        for (l, shape) in layers.iter_mut().enumerate() {
            shape.limbs = Limbs {
                wide,
                excess_bits: excess_bits.get(l).copied().unwrap_or(EXCESS_BITS),
            };
        }
        let last = layers.len() - 1;
        let mut columns = Vec::new();
        for (l, shape) in layers.iter().enumerate() {
            if l != last {
                columns.push(Col::Out(l));
            }
            columns.extend(shape.op.kind().columns(l, shape, vk.bits));
        }
        let mut layout = Self {
            bits: vk.bits,
            sample_vars,
            layers,
            columns,
            neg_clamp: (0..1i64 << vk.bits)
                .map(|t| (-t).max(-(1i64 << (vk.bits - 1))))
                .collect(),
            functions: (vk.layers.iter().enumerate())
                .flat_map(|(l, layer)| layer.op.kind().tables(l))
                .collect(),
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
            Col::Out(l)
            | Col::Sigma(l)
            | Col::Excess(l, _)
            | Col::Rem(l, _)
            | Col::Diff(l, _, _) => self.sample_vars + self.layers[l].out_vars,
            Col::Aux(l, _) => self.sample_vars + self.layers[l].in_vars,
            Col::Row(l, _) => self.sample_vars + self.layers[l].row_vars(),
            Col::Mult(t) => self.table_vars(t),
        }
    }

    /// Where a column lives.
    pub fn source(&self, col: Col) -> Source {
        match self.index.get(&col) {
            Some(&i) => Source::Witness(i),
            None => Source::PublicOutput,
        }
    }

    /// The tables this proof looks into (the byte table always), in `Table::ALL` order, then
    /// one per map layer.
    pub fn tables(&self) -> Vec<Table> {
        let lookups = self.lookups();
        Table::ALL
            .into_iter()
            .filter(|&t| t == Table::Limb || lookups.iter().any(|lk| lk.table == t))
            .chain(self.map_tables())
            .collect()
    }

    /// Every table a witness counts into: `Table::ALL` (the 16-bit table only where the
    /// limbs are 16-bit), then one per map or softmax layer.
    pub fn count_tables(&self) -> Vec<Table> {
        let wide = self.layers.iter().any(|shape| shape.limbs.wide);
        (Table::ALL.into_iter())
            .filter(|&t| wide || t != Table::Limb16)
            .chain(self.map_tables())
            .collect()
    }

    /// The tables of the key's functions: a map's, a softmax's exponentials, a log-softmax's
    /// exponentials, steps and bounds.
    fn map_tables(&self) -> impl Iterator<Item = Table> + '_ {
        self.functions.iter().map(|(t, _)| *t)
    }

    /// The second column of a function table (empty for the others).
    pub fn table_function(&self, table: Table) -> &[i64] {
        match table {
            Table::NegClamp => &self.neg_clamp,
            _ => (self.functions.iter())
                .find(|(t, _)| *t == table)
                .map_or(&[], |(_, f)| f.as_slice()),
        }
    }

    /// The rows of a table.
    pub fn table_rows(&self, table: Table) -> Vec<(F, F)> {
        table.rows(self.bits, self.table_function(table))
    }

    /// Both columns' MLEs of a table at `z`.
    pub fn table_eval(&self, table: Table, z: &[EF]) -> (EF, EF) {
        table.eval(self.bits, z, self.table_function(table))
    }

    /// The per-sample layout of a layer's output or own column (`None` for the others).
    pub fn col_dims(&self, col: Col) -> Option<&[usize]> {
        match col {
            Col::Out(l) => Some(&self.layers[l].out_dims),
            Col::Aux(l, _) => Some(&self.layers[l].in_dims),
            _ => None,
        }
    }

    /// What [`Lookup::fill`] adds to lookup `lk`'s second column `col` at `point` (samples
    /// first; every sample is real): the looked-up value minus this is the column's own.
    pub fn unfill(&self, lk: &Lookup, col: Col, point: &[EF]) -> EF {
        let Some(dims) = self.col_dims(col) else {
            return EF::ZERO;
        };
        if lk.fill == 0 {
            return EF::ZERO;
        }
        let real = real_eval(dims, &point[self.sample_vars..]);
        EF::from(zkml_proof::field::from_i64(lk.fill)) * (EF::ONE - real)
    }

    /// What [`Lookup::per_channel`] adds to lookup `lk`'s first column `col` at `point`
    /// (samples first): `2^bits c(point)`, `c` the MLE of the channel index.
    pub fn shift(&self, lk: &Lookup, col: Col, point: &[EF]) -> EF {
        match self.col_dims(col) {
            Some(dims) if lk.per_channel => {
                let vars = pow2_vars(dims.first().copied().unwrap_or(1));
                let z = &point[self.sample_vars..self.sample_vars + vars];
                let c = z.iter().fold(EF::ZERO, |acc, &zk| acc.double() + zk);
                c * F::from_u64(1 << self.bits)
            }
            _ => EF::ZERO,
        }
    }

    /// `log2 |T|`: a function table's length (one function per channel, for a map's), else
    /// [`Table::num_vars`].
    pub fn table_vars(&self, table: Table) -> usize {
        match self.table_function(table).len() {
            0 => table.num_vars(self.bits),
            n => n.trailing_zeros() as usize,
        }
    }

    /// Every lookup, in the order of the GKR segments (the table segments follow).
    pub fn lookups(&self) -> Vec<Lookup> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(l, shape)| shape.op.kind().lookups(l, shape, self.bits))
            .collect()
    }

    /// Variables of every GKR segment: lookups, then tables.
    pub fn segment_vars(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .lookups()
            .iter()
            .map(|lk| self.col_vars(lk.a))
            .collect();
        v.extend(self.tables().iter().map(|&t| self.table_vars(t)));
        v
    }

    /// The blocks the segments are packed into, one GKR tree each ([`zkml_proof::gkr::pack`]):
    /// the lookups' segments apart from the tables', so that a block of lookups keeps the
    /// numerators all `-1` (the GKR prover's faster path).
    pub fn lookup_groups(&self) -> Vec<zkml_proof::gkr::Group> {
        let vars = self.segment_vars();
        let lookups = self.lookups().len().min(vars.len());
        let mut groups = zkml_proof::gkr::pack(&vars[..lookups]);
        groups.extend(
            zkml_proof::gkr::pack(&vars[lookups..])
                .into_iter()
                .map(|mut g| {
                    g.members.iter_mut().for_each(|m| m.0 += lookups);
                    g
                }),
        );
        groups
    }

    /// The shape of the witness commitment.
    pub fn commit_shape(&self) -> CommitShape {
        CommitShape {
            column_vars: self.columns.iter().map(|&c| self.col_vars(c)).collect(),
        }
    }
}

/// The MLE of `[i < n]` over `z.len()` variables (most significant first), in O(|z|).
fn below_eval(z: &[EF], n: usize) -> EF {
    let Some((&z0, rest)) = z.split_first() else {
        return if n >= 1 { EF::ONE } else { EF::ZERO };
    };
    let half = 1usize << rest.len();
    if n >= 2 * half {
        EF::ONE
    } else if n > half {
        (EF::ONE - z0) + z0 * below_eval(rest, n - half)
    } else {
        (EF::ONE - z0) * below_eval(rest, n)
    }
}

/// The MLE at `z` of the indicator of the real positions of a tensor of `dims` laid out
/// padded per dimension, in O(|z|).
pub fn real_eval(dims: &[usize], z: &[EF]) -> EF {
    let mut at = 0;
    dims.iter()
        .zip(dims_vars(dims))
        .map(|(&n, v)| {
            at += v;
            below_eval(&z[at - v..at], n)
        })
        .product()
}

/// The indicator of the real positions of one sample of a tensor of `dims`, padded.
pub fn real_mask(dims: &[usize]) -> Vec<bool> {
    let mut mask = vec![false; 1 << dims_vars(dims).iter().sum::<usize>()];
    for j in 0..dims.iter().product() {
        mask[padded_index(dims, j)] = true;
    }
    mask
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

/// Byte limbs of a max-pool difference (`0 <= out - input < 2^bits`).
pub fn diff_limbs(bits: u32) -> usize {
    bits.div_ceil(crate::tables::LIMB_BITS) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use zkml_proof::mle::evaluate;

    #[test]
    fn the_real_indicator_at_a_point_is_its_evaluation() {
        for dims in [
            vec![1],
            vec![5],
            vec![8],
            vec![3, 5, 6],
            vec![4, 1, 7],
            vec![2, 9],
        ] {
            let mask: Vec<F> = real_mask(&dims)
                .iter()
                .map(|&r| F::from_u64(u64::from(r)))
                .collect();
            let vars = dims_vars(&dims).iter().sum::<usize>();
            let z: Vec<EF> = (0..vars).map(|k| EF::from_u64(k as u64 * 7 + 3)).collect();
            assert_eq!(real_eval(&dims, &z), evaluate(&mask, &z), "{dims:?}");
            let ones = mask.iter().filter(|&&m| m == F::ONE).count();
            assert_eq!(ones, dims.iter().product::<usize>());
        }
    }
}
