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

use crate::error::VerifyError;
use crate::layout::{Col, LayerShape, Lookup};
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
        }]
    }

    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        let rows: Vec<&[i64]> = cx.traces.iter().map(|t| t.out.as_slice()).collect();
        let out = pad_rows(&rows, &cx.shape.out_dims);
        let x = pad_rows(&cx.inputs, &cx.shape.in_dims);
        let lo = -(1i64 << (cx.bits - 1));
        let l = cx.layer_index;
        if let Some((_, c)) = counts.iter_mut().find(|(t, _)| *t == Table::Map(l)) {
            for &v in &x {
                if let Some(slot) = usize::try_from(v - lo).ok().and_then(|i| c.get_mut(i)) {
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
