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
use crate::ops::{LayerKind, ProveCx, VerifyCx, WitnessCx};
use crate::proof::LayerProof;
use crate::statement::Claims;
use crate::tables::Table;
use crate::witness::{LayerWitness, pad_rows};
use zkml_proof::transcript::Transcript;

/// The map layer kind.
pub struct Map;

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
            fill: shape
                .tables
                .first()
                .and_then(|f| f.get(zero_row(bits)))
                .copied()
                .unwrap_or(0),
            per_channel: shape.tables.first().is_some_and(|f| f.len() > 1 << bits),
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
        let per_channel = cx
            .shape
            .tables
            .first()
            .is_some_and(|f| f.len() > 1 << cx.bits);
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
        LayerProof::Map
    }

    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        _claims: &mut Claims,
        _t: &mut Transcript,
    ) -> Result<(), VerifyError> {
        match proof {
            LayerProof::Map => Ok(()),
            _ => Err(VerifyError::LayerKind { layer: cx.l }),
        }
    }

    fn sz_terms(&self, _shape: &LayerShape, _sample_vars: usize) -> usize {
        // no challenges of its own (the lookup argument's are counted with it)
        0
    }
}
