//! Exact integer inference over padded tensors, producing every committed column.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml_model::{QuantLayer, QuantizedModel};
use zkml_proof::field::{F, from_i64};

use crate::layout::pow2_vars;
use crate::ops::requant::{Decomposed, RequantColumns, decompose};
use crate::tables::Table;

/// One layer's witness: accumulators and requantization columns, `[samples][rows]` padded.
pub struct LayerWitness {
    pub acc: Vec<F>,
    pub cols: RequantColumns,
    /// Integer outputs `[samples][rows]` (padded), the next layer's input.
    pub out: Vec<i64>,
}

/// The whole witness of one proof.
pub struct Witness {
    /// Public input `[samples][I0]`, padded, in the field.
    pub input: Vec<F>,
    pub layers: Vec<LayerWitness>,
    /// Lookup multiplicities per table (`Table::ALL` order, full table length).
    pub mults: Vec<(Table, Vec<F>)>,
    /// Public output, `[padded samples][n_out]` (rows not padded).
    pub output: Vec<i64>,
}

/// Runs the model on `inputs` (quantized, one per sample) padded to a power of two of samples
/// (padding samples are all-zero inputs, proven like the others).
pub fn generate(model: &QuantizedModel, inputs: &[Vec<i64>]) -> Witness {
    let samples = inputs.len().next_power_of_two();
    let i0 = 1 << pow2_vars(model.input_len());
    let mut x = vec![0i64; samples * i0];
    for (s, row) in inputs.iter().enumerate() {
        x[s * i0..s * i0 + row.len()].copy_from_slice(row);
    }
    let input: Vec<F> = x.iter().map(|&v| from_i64(v)).collect();
    let mut counts: Vec<(Table, Vec<u64>)> = Table::ALL
        .iter()
        .map(|&t| (t, vec![0u64; 1 << t.num_vars(model.bits)]))
        .collect();
    let mut layers = Vec::with_capacity(model.layers.len());
    let mut width = i0;
    for QuantLayer::Dense(d) in &model.layers {
        let o = 1 << pow2_vars(d.n_out);
        let acc_i: Vec<i64> = (0..samples * o)
            .into_par_iter()
            .map(|idx| {
                let (s, r) = (idx / o, idx % o);
                if r >= d.n_out {
                    return 0;
                }
                let row = &d.weight[r * d.n_in..(r + 1) * d.n_in];
                let xs = &x[s * width..s * width + d.n_in];
                row.iter().zip(xs).map(|(&w, &v)| w * v).sum::<i64>() + d.bias[r]
            })
            .collect();
        let decs: Vec<Decomposed> = acc_i
            .par_iter()
            .enumerate()
            .map(|(idx, &a)| {
                let m = d.multiplier.get(idx % o).copied().unwrap_or(0);
                decompose(a, m, d.relu, model.bits)
            })
            .collect();
        let acc: Vec<F> = acc_i.iter().map(|&v| from_i64(v)).collect();
        count(&mut counts, &decs, d.relu, model.bits);
        let out: Vec<i64> = decs.iter().map(|dc| dc.out).collect();
        let cols = RequantColumns {
            out: out.iter().map(|&v| from_i64(v)).collect(),
            sigma: decs.iter().map(|dc| from_i64(dc.sigma)).collect(),
            excess: std::array::from_fn(|k| {
                decs.iter().map(|dc| F::from_u8(dc.excess[k])).collect()
            }),
            rem: std::array::from_fn(|k| decs.iter().map(|dc| F::from_u8(dc.rem[k])).collect()),
        };
        layers.push(LayerWitness {
            acc,
            cols,
            out: out.clone(),
        });
        x = out;
        width = o;
    }
    let n_out = model.output_len();
    let output = (0..samples)
        .flat_map(|s| x[s * width..s * width + n_out].to_vec())
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

impl Witness {
    /// Recomputes the multiplicities from the committed columns (values outside every table
    /// are not counted). Used by tests that forge a witness.
    pub fn recount(&mut self, bits: u32, relu: &[bool]) {
        let mut counts: Vec<(Table, Vec<u64>)> = Table::ALL
            .iter()
            .map(|&t| (t, vec![0u64; 1 << t.num_vars(bits)]))
            .collect();
        let mut bump = |table: Table, v: F| {
            let x = zkml_proof::field::to_i64(v) - table.lo(bits);
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
            lw.cols.out.iter().for_each(|&v| bump(Table::clamp(r), v));
            lw.cols
                .excess
                .iter()
                .chain(&lw.cols.rem)
                .flatten()
                .for_each(|&v| bump(Table::Limb, v));
        }
        self.mults = counts
            .into_iter()
            .map(|(t, c)| (t, c.into_iter().map(F::from_u64).collect()))
            .collect();
    }
}

fn count(counts: &mut [(Table, Vec<u64>)], decs: &[Decomposed], relu: bool, bits: u32) {
    let clamp = Table::clamp(relu);
    for (t, c) in counts.iter_mut() {
        if *t == clamp {
            for dc in decs {
                c[clamp.index_of(bits, dc.out)] += 1;
            }
        } else if *t == Table::Limb {
            for dc in decs {
                dc.excess.iter().for_each(|&l| c[usize::from(l)] += 1);
                dc.rem.iter().for_each(|&l| c[usize::from(l)] += 1);
            }
        }
    }
}
