//! Map: an element-wise function by table (Sigmoid, Tanh, GELU, SiLU, Clip, ...), no
//! requantization.
//!
//! The key holds the function as a table `f` of `2^bits` outputs, one per input value; the
//! output `y` keeps the input `x`'s layout. One lookup of the pair `(x, y)` per position into
//! the table `{(v, f[v])}` ([`Table::Map`]) proves `y = f[x]` at every real position. At a
//! padding position `x` is 0 (every committed layer output is 0 there) and `y` is 0 too, which
//! is no row when `f[0] != 0`: the looked-up column is `y + f[0] (1 - real)` instead, `real`
//! the indicator of real positions, whose MLE the verifier evaluates in O(vars) (so a claim on
//! the looked-up column at a point is one on `y` there). No sumcheck: the layer's claims come
//! from the lookup argument's leaves.
//!
//! A map with one function per channel (PRelu's slopes) has one table of `2^bits` rows per
//! channel `c` of its layout's first dimension (padded to a power of two), stacked:
//! `(x + 2^bits c, f_c[x])`. The looked-up first column is `x + 2^bits c(z)` at position `z`,
//! where `c(z)` is the position's channel, an affine function of the channel's variables that
//! the verifier evaluates itself (`Layout::shift`). Every function has the same value at 0
//! (the key check), so the padding fill holds in every channel.

use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Lookup, dims_vars, pow2_vars};
use crate::ops::LayerProof;
use crate::ops::{KeyCx, KeyFault, LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::statement::Claims;
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};
use serde::{Deserialize, Serialize};
use zkml_proof::transcript::Transcript;

/// The map layer kind: an element-wise function, `out = table[x + 2^(bits-1)]` for each input
/// value `x` (the output keeps the input's layout), or one function per channel (`2^bits`
/// entries per channel of the layout, the channels padded to a power of two: `out = table[c
/// 2^bits + x + 2^(bits-1)]` in channel `c`); no requantization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Map {
    pub table: Vec<i64>,
}

impl From<&zkml_model::MapLayer> for Map {
    /// One function per channel: padded to a power of two of channels with the first's.
    fn from(m: &zkml_model::MapLayer) -> Self {
        let table = match m.channels {
            0 | 1 => m.table.clone(),
            c => {
                let size = m.table.len() / c;
                let first = m.table.get(..size).unwrap_or_default();
                let pad = (c.next_power_of_two() - c) * size;
                m.table
                    .iter()
                    .chain(first.iter().cycle().take(pad))
                    .copied()
                    .collect()
            }
        };
        Self { table }
    }
}

/// The index of input value 0 in a table of `bits` bits.
fn zero_row(bits: u32) -> usize {
    1 << (bits - 1)
}

impl LayerKind for Map {
    fn columns(&self, _l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        Vec::new()
    }

    fn lookups(&self, l: usize, shape: &LayerShape, bits: u32) -> Vec<Lookup> {
        // the key check makes a map read a layer's output
        let producer = shape.inputs.first().map_or(0, |t| t.saturating_sub(1));
        vec![Lookup {
            table: Table::Map(l),
            a: Col::Out(producer),
            b: Some(Col::Out(l)),
            fill: self.table.get(zero_row(bits)).copied().unwrap_or(0),
            per_channel: self.table.len() > 1 << bits,
        }]
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let rows: Vec<&[i64]> = cx.traces.iter().map(|t| t.out.as_slice()).collect();
        let out = pad_rows(&rows, &cx.shape.out_dims);
        let x = pad_rows(&cx.inputs, &cx.shape.in_dims);
        let lo = -(1i64 << (cx.bits - 1));
        let l = cx.layer_index;
        // the row of `v` at padded position `i`: in its channel's table if one per channel
        let vars: usize = dims_vars(&cx.shape.in_dims).iter().sum();
        let inner = vars - pow2_vars(cx.shape.in_dims.first().copied().unwrap_or(1));
        let per_channel = self.table.len() > 1 << cx.bits;
        let channel = |i: usize| match per_channel {
            true => ((i % (1 << vars)) >> inner) << cx.bits,
            false => 0,
        };
        if let Some((_, c)) = counts.iter_mut().find(|(t, _)| *t == Table::Map(l)) {
            for (i, &v) in x.iter().enumerate() {
                let row = usize::try_from(v - lo).ok().map(|r| r + channel(i));
                if let Some(slot) = row.and_then(|r| c.get_mut(r)) {
                    *slot += 1;
                }
            }
        }
        LayerWitness::unrequantized(out, Vec::new())
    }

    fn prove(&self, _cx: &ProveCx<'_>, _claims: &mut Claims, _t: &mut Transcript) -> LayerProof {
        ().into()
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        _claims: &mut Claims,
        _t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        // a map has no messages: only that its part of the proof is a map's
        cx.proof::<()>(proof)?;
        Ok(())
    }

    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault> {
        // a map reads a committed column (a layer's output), one entry per input value of one
        // function, or of one per channel of its layout (padded to a power of two); all of
        // them equal at input 0 (padding, see the module docs); no requantization
        let (l, bits, table) = (cx.layer, cx.vk.bits, &self.table);
        let (lo, hi) = crate::ops::requant::range(false, bits);
        let size = 1usize << bits;
        let channels = 1 << pow2_vars(cx.dims().0.first().copied().unwrap_or(1));
        let zero = |t: &[i64]| t.get(size / 2).copied();
        (l.n_in == l.n_out
            && l.inputs.first().is_some_and(|&t| t > 0)
            && (table.len() == size || table.len() == size * channels)
            && table.iter().all(|v| (lo..=hi).contains(v))
            && table.chunks(size).all(|t| zero(t) == zero(table)))
        .then_some(0)
        .ok_or(KeyFault::Shape)
    }

    fn keeps_layout(&self) -> bool {
        true
    }

    fn tables(&self, l: usize) -> Vec<(Table, Vec<i64>)> {
        vec![(Table::Map(l), self.table.clone())]
    }

    fn sz_terms(&self, _shape: &LayerShape, _sample_vars: usize) -> usize {
        // no challenges of its own (the lookup argument's are counted with it)
        0
    }
}
