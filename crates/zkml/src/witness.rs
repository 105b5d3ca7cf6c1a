//! The committed columns of a proof, from the model's own exact integer inference
//! ([`QuantizedModel::trace`]) laid out padded per dimension.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml_model::QuantizedModel;
use zkml_proof::field::{F, from_i64};

use crate::layout::{Layout, dims_vars, embed, padded_index};
use crate::ops::WitnessCx;
use crate::ops::requant::{RequantColumns, limb_table};
use crate::tables::Table;

/// One layer's witness, every column `[samples][padded dims]`.
pub struct LayerWitness {
    /// Accumulators (requantizing layers; empty for max-pool).
    pub acc: Vec<F>,
    /// Requantization columns (max-pool fills only `out`).
    pub cols: RequantColumns,
    /// Max-pool: `diffs[k][t]`, limb `t` of `out - input` at window offset `k`.
    pub diffs: Vec<Vec<Vec<F>>>,
    /// Integer outputs, padded.
    pub out: Vec<i64>,
    /// A kind's own columns `Col::Aux(l, k)`, laid out like the layer's input.
    pub aux: Vec<Vec<F>>,
    /// A kind's own per-sample columns `Col::Row(l, k)`.
    pub rows: Vec<Vec<F>>,
}

impl LayerWitness {
    /// The witness of a layer without requantization (max-pool, relayout): its padded integer
    /// outputs, committed as `out`, and the max-pool's difference limbs (`diffs`).
    pub(crate) fn unrequantized(out: Vec<i64>, diffs: Vec<Vec<Vec<F>>>) -> Self {
        LayerWitness {
            acc: Vec::new(),
            cols: RequantColumns {
                out: field(&out),
                sigma: Vec::new(),
                excess: Vec::new(),
                rem: Vec::new(),
                limbs: Default::default(),
            },
            diffs,
            out,
            aux: Vec::new(),
            rows: Vec::new(),
        }
    }
}

/// The whole witness of one proof.
pub struct Witness {
    /// Public input `[samples][padded dims]`, in the field.
    pub input: Vec<F>,
    pub layers: Vec<LayerWitness>,
    /// Lookup multiplicities per table (`Layout::count_tables` order, full table length).
    pub mults: Vec<(Table, Vec<F>)>,
    /// Public output, `[padded samples][output_len]` (real values, C order).
    pub output: Vec<i64>,
}

/// Runs the model on `inputs` (quantized, one per sample) padded to a power of two of samples
/// (padding samples are all-zero inputs, proven like the others).
pub fn generate(model: &QuantizedModel, layout: &Layout, inputs: &[Vec<i64>]) -> Witness {
    let samples = 1usize << layout.sample_vars;
    let zero = vec![0; model.input_len()];
    let rows: Vec<&[i64]> = (0..samples)
        .map(|s| inputs.get(s).map_or(zero.as_slice(), Vec::as_slice))
        .collect();
    let traces: Vec<_> = rows.par_iter().map(|x| model.trace(x)).collect();
    let input = embed(&inputs.concat(), &layout.layers[0].in_dims, samples);
    let mut counts: Vec<(Table, Vec<u64>)> = layout
        .count_tables()
        .into_iter()
        .map(|t| (t, vec![0u64; 1 << layout.table_vars(t)]))
        .collect();
    let mut layers = Vec::with_capacity(model.layers.len());
    for (l, (layer, shape)) in model.layers.iter().zip(&layout.layers).enumerate() {
        let cx = WitnessCx {
            layer_index: l,
            layer,
            shape,
            bits: model.bits,
            inputs: match shape.inputs.first().copied().unwrap_or(0).checked_sub(1) {
                None => rows.clone(),
                Some(producer) => traces.iter().map(|t| t[producer].out.as_slice()).collect(),
            },
            traces: traces.iter().map(|t| &t[l]).collect(),
        };
        layers.push(shape.op.kind().witness(&cx, &mut counts));
    }
    let output = traces
        .iter()
        .flat_map(|t| t.last().map(|t| t.out.clone()).unwrap_or_default())
        .collect();
    let mults = counts
        .into_iter()
        .map(|(t, c)| (t, c.into_iter().map(F::from_u64).collect()))
        .collect();
    Witness {
        input,
        layers,
        mults,
        output,
    }
}

/// Unpadded rows (one per sample) laid out `[samples][padded dims]`, zero elsewhere.
pub(crate) fn pad_rows<T: AsRef<[i64]>>(rows: &[T], dims: &[usize]) -> Vec<i64> {
    let width = 1usize << dims_vars(dims).iter().sum::<usize>();
    let index: Vec<usize> = (0..dims.iter().product())
        .map(|j| padded_index(dims, j))
        .collect();
    let mut v = vec![0; rows.len() * width];
    for (s, row) in rows.iter().enumerate() {
        for (&j, &x) in index.iter().zip(row.as_ref()) {
            v[s * width + j] = x;
        }
    }
    v
}

/// Signed integers in the field.
pub(crate) fn field(values: &[i64]) -> Vec<F> {
    values.iter().map(|&v| from_i64(v)).collect()
}

impl Witness {
    /// Recomputes the multiplicities of `Table::ALL` from the committed columns (values outside
    /// every table are not counted; a map's are kept). Used by tests that forge a witness.
    pub fn recount(&mut self, bits: u32, relu: &[bool]) {
        let mut counts: Vec<(Table, Vec<u64>)> = Table::ALL
            .iter()
            .map(|&t| (t, vec![0u64; 1 << t.num_vars(bits)]))
            .collect();
        let mut bump = |table: Table, v: F| {
            let x = zkml_proof::field::to_i64(v) - table.lo(bits);
            #[expect(clippy::expect_used, reason = "counts holds every table of Table::ALL")]
            let c = &mut counts
                .iter_mut()
                .find(|(t, _)| *t == table)
                .expect("every table")
                .1;
            if let Some(slot) = usize::try_from(x).ok().and_then(|i| c.get_mut(i)) {
                *slot += 1;
            }
        };
        for (lw, &r) in self.layers.iter().zip(relu) {
            // a requantizing layer looks its output up in the clamp table
            if !lw.cols.sigma.is_empty() {
                lw.cols.out.iter().for_each(|&v| bump(Table::clamp(r), v));
            }
            let limbs = lw.cols.limbs;
            let widths = limbs.excess().into_iter().chain(limbs.rem());
            for (column, w) in lw.cols.excess.iter().chain(&lw.cols.rem).zip(widths) {
                column.iter().for_each(|&v| bump(limb_table(w), v));
            }
            lw.diffs
                .iter()
                .flatten()
                .flatten()
                .for_each(|&v| bump(Table::Limb, v));
        }
        // a map's multiplicities are kept as they are
        let maps: Vec<(Table, Vec<F>)> = std::mem::take(&mut self.mults)
            .into_iter()
            .filter(|(t, _)| matches!(t, Table::Map(_)))
            .collect();
        self.mults = counts
            .into_iter()
            .map(|(t, c)| (t, c.into_iter().map(F::from_u64).collect()))
            .chain(maps)
            .collect();
    }
}
