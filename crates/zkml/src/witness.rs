//! Exact integer inference over padded tensors, producing every committed column.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml_model::{ConvLayer, DenseLayer, MaxPoolLayer, QuantLayer, QuantizedModel};
use zkml_proof::field::{F, from_i64};

use crate::layout::{LayerShape, Layout, diff_limbs, embed, padded_index};
use crate::ops::maxpool::pad_value;
use crate::ops::requant::{Decomposed, RequantColumns, decompose};
use crate::tables::Table;
use crate::wiring::Grid;

/// One layer's witness, every column `[samples][padded dims]`.
pub struct LayerWitness {
    /// Accumulators (requantizing layers; empty for max-pool).
    pub acc: Vec<F>,
    /// Requantization columns (max-pool fills only `out`).
    pub cols: RequantColumns,
    /// Max-pool: `diffs[k][t]`, limb `t` of `out - input` at window offset `k`.
    pub diffs: Vec<Vec<Vec<F>>>,
    /// Integer outputs, the next layer's input.
    pub out: Vec<i64>,
}

/// The whole witness of one proof.
pub struct Witness {
    /// Public input `[samples][padded dims]`, in the field.
    pub input: Vec<F>,
    pub layers: Vec<LayerWitness>,
    /// Lookup multiplicities per table (`Table::ALL` order, full table length).
    pub mults: Vec<(Table, Vec<F>)>,
    /// Public output, `[padded samples][output_len]` (real values, C order).
    pub output: Vec<i64>,
}

/// Runs the model on `inputs` (quantized, one per sample) padded to a power of two of samples
/// (padding samples are all-zero inputs, proven like the others).
pub fn generate(model: &QuantizedModel, layout: &Layout, inputs: &[Vec<i64>]) -> Witness {
    let samples = 1usize << layout.sample_vars;
    let real: Vec<i64> = inputs.concat();
    let input = embed(&real, &layout.layers[0].in_dims, samples);
    let mut x: Vec<i64> = input
        .iter()
        .map(|&f| zkml_proof::field::to_i64(f))
        .collect();
    let mut counts: Vec<(Table, Vec<u64>)> = Table::ALL
        .iter()
        .map(|&t| (t, vec![0u64; 1 << t.num_vars(model.bits)]))
        .collect();
    let mut layers = Vec::with_capacity(model.layers.len());
    for (layer, shape) in model.layers.iter().zip(&layout.layers) {
        let lw = match layer {
            QuantLayer::Dense(d) => requant_layer(
                dense_acc(d, shape, &x, samples),
                shape,
                &d.multiplier,
                d.relu,
                model.bits,
                &mut counts,
            ),
            QuantLayer::Conv(c) => requant_layer(
                conv_acc(c, shape, &x, samples),
                shape,
                &c.multiplier,
                c.relu,
                model.bits,
                &mut counts,
            ),
            QuantLayer::MaxPool(p) => pool_layer(p, shape, &x, samples, model.bits, &mut counts),
        };
        x.clone_from(&lw.out);
        layers.push(lw);
    }
    #[expect(
        clippy::expect_used,
        reason = "a layout has a layer: keys without one are refused at setup and on load"
    )]
    let last = layout.layers.last().expect("layers");
    let width = 1usize << last.out_vars;
    let n_out = model.output_len();
    let output = (0..samples)
        .flat_map(|s| (0..n_out).map(move |j| (s, j)))
        .map(|(s, j)| x[s * width + padded_index(&last.out_dims, j)])
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

fn dense_acc(d: &DenseLayer, shape: &LayerShape, x: &[i64], samples: usize) -> Vec<i64> {
    let (w_in, o) = (1usize << shape.in_vars, 1usize << shape.out_vars);
    let idx: Vec<usize> = (0..d.n_in)
        .map(|j| padded_index(&shape.in_dims, j))
        .collect();
    (0..samples * o)
        .into_par_iter()
        .map(|k| {
            let (s, r) = (k / o, k % o);
            if r >= d.n_out {
                return 0;
            }
            let xs = &x[s * w_in..(s + 1) * w_in];
            d.row(r)
                .iter()
                .zip(&idx)
                .map(|(&w, &j)| w * xs[j])
                .sum::<i64>()
                + d.bias[r]
        })
        .collect()
}

fn conv_acc(c: &ConvLayer, shape: &LayerShape, x: &[i64], samples: usize) -> Vec<i64> {
    let g = Grid::new(c.window, &shape.in_dims, &shape.out_dims);
    let (hp, wp) = (1usize << g.rows.in_vars(), 1usize << g.cols.in_vars());
    let (ohp, owp) = (1usize << g.rows.out_vars(), 1usize << g.cols.out_vars());
    let (w_in, w_out) = (1usize << shape.in_vars, 1usize << shape.out_vars);
    let [kh, kw] = c.window.kernel;
    (0..samples * w_out)
        .into_par_iter()
        .map(|k| {
            let (s, r) = (k / w_out, k % w_out);
            let (o, y, xx) = (r / (ohp * owp), (r / owp) % ohp, r % owp);
            if o >= c.out_shape[0] || y >= g.rows.n_out || xx >= g.cols.n_out {
                return 0;
            }
            let f = c.filter(o);
            let xs = &x[s * w_in..(s + 1) * w_in];
            let mut a = c.bias[o];
            for i in 0..kh {
                let Some(sy) = g.rows.source(y, i) else {
                    continue;
                };
                for j in 0..kw {
                    let Some(sx) = g.cols.source(xx, j) else {
                        continue;
                    };
                    for ch in 0..c.in_shape[0] {
                        a += f[(ch * kh + i) * kw + j] * xs[(ch * hp + sy) * wp + sx];
                    }
                }
            }
            a
        })
        .collect()
}

fn requant_layer(
    acc: Vec<i64>,
    shape: &LayerShape,
    multiplier: &[i64],
    relu: bool,
    bits: u32,
    counts: &mut [(Table, Vec<u64>)],
) -> LayerWitness {
    let rows = 1usize << shape.out_vars;
    let per_mult = rows >> shape.mult_vars;
    let decs: Vec<Decomposed> = acc
        .par_iter()
        .enumerate()
        .map(|(k, &a)| {
            decompose(
                a,
                multiplier.get((k % rows) / per_mult).copied().unwrap_or(0),
                relu,
                bits,
            )
        })
        .collect();
    let clamp = Table::clamp(relu);
    for (t, c) in counts.iter_mut() {
        for dc in &decs {
            if *t == clamp {
                c[clamp.index_of(bits, dc.out)] += 1;
            } else if *t == Table::Limb {
                dc.excess
                    .iter()
                    .chain(&dc.rem)
                    .for_each(|&l| c[usize::from(l)] += 1);
            }
        }
    }
    let out: Vec<i64> = decs.iter().map(|dc| dc.out).collect();
    let cols = RequantColumns {
        out: out.iter().map(|&v| from_i64(v)).collect(),
        sigma: decs.iter().map(|dc| from_i64(dc.sigma)).collect(),
        excess: std::array::from_fn(|k| decs.iter().map(|dc| F::from_u8(dc.excess[k])).collect()),
        rem: std::array::from_fn(|k| decs.iter().map(|dc| F::from_u8(dc.rem[k])).collect()),
    };
    LayerWitness {
        acc: acc.iter().map(|&v| from_i64(v)).collect(),
        cols,
        diffs: Vec::new(),
        out,
    }
}

fn pool_layer(
    p: &MaxPoolLayer,
    shape: &LayerShape,
    x: &[i64],
    samples: usize,
    bits: u32,
    counts: &mut [(Table, Vec<u64>)],
) -> LayerWitness {
    let g = Grid::new(p.window, &shape.in_dims, &shape.out_dims);
    let (hp, wp) = (1usize << g.rows.in_vars(), 1usize << g.cols.in_vars());
    let (ohp, owp) = (1usize << g.rows.out_vars(), 1usize << g.cols.out_vars());
    let (w_in, w_out) = (1usize << shape.in_vars, 1usize << shape.out_vars);
    let [kh, kw] = p.window.kernel;
    let pad = pad_value(bits);
    // gathered[k][pos] for every output position; phantom positions gather 0
    let gathered: Vec<Vec<i64>> = (0..kh * kw)
        .map(|k| {
            let (i, j) = (k / kw, k % kw);
            (0..samples * w_out)
                .map(|pos| {
                    let (s, r) = (pos / w_out, pos % w_out);
                    let (c, y, xx) = (r / (ohp * owp), (r / owp) % ohp, r % owp);
                    if c >= p.in_shape[0] || y >= g.rows.n_out || xx >= g.cols.n_out {
                        return 0;
                    }
                    match (g.rows.source(y, i), g.cols.source(xx, j)) {
                        (Some(sy), Some(sx)) => x[s * w_in + (c * hp + sy) * wp + sx],
                        _ => pad,
                    }
                })
                .collect()
        })
        .collect();
    let out: Vec<i64> = (0..samples * w_out)
        .map(|pos| gathered.iter().map(|gk| gk[pos]).max().unwrap_or(0))
        .collect();
    let limbs = diff_limbs(bits);
    #[expect(clippy::expect_used, reason = "counts holds every table of Table::ALL")]
    let limb_counts = &mut counts
        .iter_mut()
        .find(|(t, _)| *t == Table::Limb)
        .expect("limb table")
        .1;
    let diffs: Vec<Vec<Vec<F>>> = gathered
        .iter()
        .map(|gk| {
            let d: Vec<u64> = out.iter().zip(gk).map(|(&o, &v)| (o - v) as u64).collect();
            (0..limbs)
                .map(|t| {
                    d.iter()
                        .map(|&v| {
                            let limb = (v >> (8 * t)) & 0xFF;
                            limb_counts[limb as usize] += 1;
                            F::from_u64(limb)
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let cols = RequantColumns {
        out: out.iter().map(|&v| from_i64(v)).collect(),
        sigma: Vec::new(),
        excess: Default::default(),
        rem: Default::default(),
    };
    LayerWitness {
        acc: Vec::new(),
        cols,
        diffs,
        out,
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
            if lw.diffs.is_empty() {
                lw.cols.out.iter().for_each(|&v| bump(Table::clamp(r), v));
            }
            lw.cols
                .excess
                .iter()
                .chain(&lw.cols.rem)
                .flatten()
                .for_each(|&v| bump(Table::Limb, v));
            lw.diffs
                .iter()
                .flatten()
                .flatten()
                .for_each(|&v| bump(Table::Limb, v));
        }
        self.mults = counts
            .into_iter()
            .map(|(t, c)| (t, c.into_iter().map(F::from_u64).collect()))
            .collect();
    }
}
