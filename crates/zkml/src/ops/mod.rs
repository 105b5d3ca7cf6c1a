//! The layer kinds a proof knows, one file each behind one trait ([`LayerKind`]), and the
//! registry ([`Kind::op`]): the one place a kind is matched. Adding a kind means a file that
//! implements the trait, a [`Kind`] variant and its line in [`Kind::op`].
//!
//! Requantization is not a kind: dense, conv and average-pool layers share it as their last step
//! ([`requant`]).

pub mod add; // a + b at two scales: the accumulator is a combination of the inputs' values
pub mod argmax; // the index of each row's maximum: distinct keys, a one-hot index
pub mod avgpool; // average pool: a wiring sumcheck with unit coefficients
pub mod conv; // 2-D convolution: an im2col sumcheck and a wiring sumcheck
pub mod dense; // y = W x + b by a sumcheck over the inner index
pub mod logsoftmax; // log-softmax of each row: as softmax, then the log of the sum by bounds
pub mod map; // an element-wise function by table: one lookup per value
pub mod maxpool; // max-pool: range-checked differences, a zero-check and a wiring sumcheck
pub mod relayout; // copies of input positions (Transpose, Reshape, Concat, Resize): one wiring sumcheck
pub mod requant; // out = clamp(round(acc * m / 2^32)) by a zero-check plus lookups
mod rows; // the shared pieces of the row ops (softmax, log-softmax, argmax)
pub mod softmax; // softmax of each row: row max, exponentials by table, their sum, a division

use zkml_model::{LayerTrace, QuantLayer, Window};
use zkml_proof::field::{EF, F};
use zkml_proof::transcript::Transcript;

use crate::cheat::Hook;
use crate::error::VerifyError;
use crate::keys::ProvingKey;
use crate::layout::{Col, LayerShape, Layout, Lookup};
use crate::proof::LayerProof;
use crate::statement::{Claims, Public};
use crate::tables::Table;
use crate::witness::{LayerWitness, Witness};

/// What a layer computes, as the proof sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Dense,
    Conv(Window),
    MaxPool(Window),
    AvgPool(Window),
    Add([i64; 2]),
    Relayout,
    Map,
    Softmax,
    LogSoftmax,
    ArgMax { last: bool },
}

impl Kind {
    /// The prover and verifier of this kind.
    pub(crate) fn op(&self) -> &'static dyn LayerKind {
        match self {
            Kind::Dense => &dense::Dense,
            Kind::Conv(_) => &conv::Conv,
            Kind::MaxPool(_) => &maxpool::MaxPool,
            Kind::AvgPool(_) => &avgpool::AvgPool,
            Kind::Add(_) => &add::Add,
            Kind::Relayout => &relayout::Relayout,
            Kind::Map => &map::Map,
            Kind::Softmax => &softmax::Softmax,
            Kind::LogSoftmax => &logsoftmax::LogSoftmax,
            Kind::ArgMax { .. } => &argmax::ArgMax,
        }
    }
}

/// One layer's inputs to its witness: the model's exact integer inference on every sample.
pub(crate) struct WitnessCx<'a> {
    /// The layer's index.
    pub layer_index: usize,
    pub layer: &'a QuantLayer,
    pub shape: &'a LayerShape,
    pub bits: u32,
    /// The layer's (first) input, one unpadded row per (padded) sample.
    pub inputs: Vec<&'a [i64]>,
    /// The layer's result on each sample.
    pub traces: Vec<&'a LayerTrace>,
}

/// What one layer's prover reads.
pub(crate) struct ProveCx<'a> {
    pub l: usize,
    pub pk: &'a ProvingKey,
    pub layout: &'a Layout,
    /// The shape the prover follows (the key's, unless a cheat says otherwise).
    pub shape: &'a LayerShape,
    pub w: &'a Witness,
    pub public: &'a Public,
    pub hook: Hook<'a>,
}

impl ProveCx<'_> {
    /// This layer's input column `k`: the output of the layer it reads, or the public input.
    pub fn input(&self, k: usize) -> &[F] {
        match self
            .shape
            .inputs
            .get(k)
            .copied()
            .unwrap_or(0)
            .checked_sub(1)
        {
            None => &self.w.input,
            Some(producer) => &self.w.layers[producer].cols.out,
        }
    }

    /// This layer's padded weights and bias (empty for a layer without weights).
    pub fn weights(&self) -> (&[F], &[F]) {
        self.pk.vk.weight_columns()[self.l]
            .and_then(|c| self.pk.weights.get(c / 2))
            .map_or((&[], &[]), |(w, b)| (w.as_slice(), b.as_slice()))
    }

    /// Queues the claim `input(k)(point) = value` on this layer's input `k`.
    pub fn input_claim(&self, claims: &mut Claims, k: usize, point: Vec<EF>, value: EF) {
        // fails only for a forged witness (tests): the verifier refuses it
        claims
            .layer_input(self.layout, self.public, (self.l, k), point, value)
            .ok();
    }
}

/// What one layer's verifier reads.
pub(crate) struct VerifyCx<'a> {
    pub l: usize,
    pub layout: &'a Layout,
    pub shape: &'a LayerShape,
    pub public: &'a Public,
    /// The key's per-row multipliers of this layer (empty for a layer without requantization).
    pub multiplier: &'a [i64],
}

/// Everything a proof does for one kind of layer.
pub(crate) trait LayerKind: Sync {
    /// Layer `l`'s committed columns besides its output `Col::Out(l)` (by default those of a
    /// requantizing layer).
    fn columns(&self, l: usize, _shape: &LayerShape, _bits: u32) -> Vec<Col> {
        requant::columns(l)
    }

    /// Layer `l`'s lookups, in the order of the GKR segments (by default a requantization's).
    fn lookups(&self, l: usize, shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        requant::lookups(l, shape.relu)
    }

    /// The layer's witness columns; counts its lookups into `counts` (`Table::ALL` order). By
    /// default a requantization of the model's accumulators.
    fn witness(&self, cx: &WitnessCx<'_>, counts: &mut [(Table, Vec<u64>)]) -> LayerWitness {
        requant::witness(cx, counts)
    }

    /// Proves the layer and queues the claims it leaves.
    fn prove(&self, cx: &ProveCx<'_>, claims: &mut Claims, t: &mut Transcript) -> LayerProof;

    /// Verifies the layer's proof and queues the claims it leaves on columns, weights and its
    /// input.
    ///
    /// # Errors
    /// [`VerifyError::LayerKind`] when `proof` is another kind's, else the failed check.
    fn verify(
        &self,
        cx: &VerifyCx<'_>,
        proof: &LayerProof,
        claims: &mut Claims,
        t: &mut Transcript,
    ) -> Result<(), VerifyError>;

    /// Schwartz-Zippel numerators (degree times rounds) of the layer's challenges, for the
    /// security estimate; `sample_vars` variables index the samples.
    fn sz_terms(&self, shape: &LayerShape, sample_vars: usize) -> usize;
}
