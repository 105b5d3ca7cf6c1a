//! The layer kinds a proof knows, one file each behind one trait ([`LayerKind`]), and the
//! registry (`registry!` below): the one place kinds are listed and matched. A kind's file
//! defines the struct the verifying key states it with (its parameters, which implements
//! [`LayerKind`]) and the type of its part of a proof; adding a kind means that file and its
//! line in the registry.
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

use serde::{Deserialize, Serialize};
use zkml_model::{LayerTrace, QuantLayer, Window};
use zkml_proof::field::{EF, F};
use zkml_proof::transcript::Transcript;

use crate::cheat::Hook;
use crate::error::VerifyError;
use crate::keys::{ProvingKey, VerifyingKey, VkLayer};
use crate::layout::{Col, LayerShape, Layout, Lookup, layer_dims};
use crate::ops::requant::BoundViolation;
use crate::statement::{Claims, Public};
use crate::tables::Table;
use crate::witness::{LayerWitness, Witness};

/// Generates, from one line per kind (`Variant(parameters, proof)`), the key's [`LayerOp`],
/// the proof's [`LayerProof`], the dispatch to a kind's [`LayerKind`] and the conversions
/// between a kind's proof and [`LayerProof`]. The variant names are those of
/// [`zkml_model::QuantLayer`], whose layers convert (`From`) into the parameters.
macro_rules! registry {
    ($($(#[doc = $doc:literal])* $kind:ident($op:ty, $proof:ty),)*) => {
        /// A layer's op as the verifying key states it: its kind and parameters.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        pub enum LayerOp {
            $($(#[doc = $doc])* $kind($op),)*
        }

        /// One layer's part of the proof.
        #[derive(Clone, Debug, Serialize, Deserialize)]
        pub enum LayerProof {
            $($kind($proof),)*
        }

        impl LayerOp {
            /// The prover and verifier of this op.
            pub(crate) fn kind(&self) -> &dyn LayerKind {
                match self {
                    $(Self::$kind(op) => op,)*
                }
            }

            /// What the key states about a quantized layer's op.
            pub fn of(layer: &QuantLayer) -> Self {
                match layer {
                    $(QuantLayer::$kind(l) => Self::$kind(l.into()),)*
                }
            }
        }

        $(
            impl From<$proof> for LayerProof {
                fn from(p: $proof) -> Self {
                    Self::$kind(p)
                }
            }

            impl<'a> TryFrom<&'a LayerProof> for &'a $proof {
                type Error = ();

                fn try_from(p: &'a LayerProof) -> Result<Self, ()> {
                    match p {
                        LayerProof::$kind(p) => Ok(p),
                        _ => Err(()),
                    }
                }
            }
        )*
    };
}

registry! {
    Dense(dense::Dense, requant::Requantized<dense::DenseProof>),
    Conv(conv::Conv, requant::Requantized<conv::ConvProof>),
    MaxPool(maxpool::MaxPool, maxpool::PoolProof),
    AvgPool(avgpool::AvgPool, requant::Requantized<avgpool::AvgPoolProof>),
    /// `a m_a + b m_b`, requantized with multiplier 1; the proof's inner part holds the two
    /// inputs at the requantization's point.
    Add(add::Add, requant::Requantized<[EF; 2]>),
    Relayout(relayout::Relayout, relayout::RelayoutProof),
    /// A map has no messages of its own (its lookups are in the lookup argument).
    Map(map::Map, ()),
    Softmax(softmax::Softmax, softmax::SoftmaxProof),
    LogSoftmax(logsoftmax::LogSoftmax, logsoftmax::LogSoftmaxProof),
    ArgMax(argmax::ArgMax, argmax::ArgMaxProof),
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

impl VerifyCx<'_> {
    /// `proof` as the proof of the kind `P` belongs to.
    ///
    /// # Errors
    /// [`VerifyError::LayerKind`] when it is another kind's.
    pub fn proof<'p, P>(&self, proof: &'p LayerProof) -> Result<&'p P, VerifyError>
    where
        &'p P: TryFrom<&'p LayerProof>,
    {
        proof
            .try_into()
            .map_err(|_| VerifyError::LayerKind { layer: self.l })
    }
}

/// Everything a proof does for one kind of layer, implemented by the struct that states the
/// kind in the key (its parameters).
pub(crate) trait LayerKind: Sync {
    /// Layer `l`'s committed columns besides its output `Col::Out(l)` (by default those of a
    /// requantizing layer).
    fn columns(&self, l: usize, shape: &LayerShape, _bits: u32) -> Vec<Col> {
        requant::columns(l, shape.limbs)
    }

    /// Layer `l`'s lookups, in the order of the GKR segments (by default a requantization's).
    fn lookups(&self, l: usize, shape: &LayerShape, _bits: u32) -> Vec<Lookup> {
        requant::lookups(l, shape.relu, shape.limbs)
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

    /// Checks the key's statement of the layer beyond what every layer shares (its inputs and
    /// widths): its parameters must be ones setup makes, so that later code may trust them.
    ///
    /// # Errors
    /// [`KeyFault::Shape`] for impossible parameters, [`KeyFault::Multipliers`] for
    /// multipliers this kind never has.
    ///
    /// # Returns
    /// The number of requantization multipliers the layer must have.
    fn check_key(&self, cx: &KeyCx<'_>) -> Result<usize, KeyFault>;

    /// Number of tensors the layer reads.
    fn arity(&self) -> usize {
        1
    }

    /// The layouts the layer reads and writes whatever its input (`n_in` values a sample): a
    /// window op's `[C][H][W]`, a relayout's, a row op's `[outer.., n]`. `None` (the default)
    /// for one that reads its first input as it was written and writes `[n_out]`, or that
    /// input's layout if [`LayerKind::keeps_layout`].
    fn own_dims(&self, _n_in: usize) -> Option<(Vec<usize>, Vec<usize>)> {
        None
    }

    /// Whether a layer without [`LayerKind::own_dims`] writes its input's layout (a sum, a
    /// map) rather than `[n_out]` (a dense layer).
    fn keeps_layout(&self) -> bool {
        false
    }

    /// Whether the layer has committed weights and a bias (dense, conv).
    fn has_weights(&self) -> bool {
        false
    }

    /// The dimensions of the layer's weight tensor, as committed (each padded to a power of
    /// two), given its input's layout; its bias has one value per first dimension. `None` for
    /// a layer without weights.
    fn weight_dims(&self, _n_out: usize, _in_dims: &[usize]) -> Option<Vec<usize>> {
        None
    }

    /// Checks every requantized row of the layer against the accumulator bound derived from
    /// public numbers (`requant::check_derived_bounds`); `bias_bits` are its bias bounds (empty
    /// for a layer without weights). Nothing to check by default.
    ///
    /// # Returns
    /// The bits of the layer's clamp excess (0 without requantization).
    ///
    /// # Errors
    /// The first row that fails.
    fn check_bounds(
        &self,
        _l: &VkLayer,
        _bits: u32,
        _bias_bits: &[u8],
    ) -> Result<u32, BoundViolation> {
        Ok(0)
    }

    /// A relayout's wiring: `(pad_out(j), pad_in(src(j)))` for every real output index `j`
    /// that holds an input value; empty by default.
    fn gather(&self, _in_dims: &[usize], _out_dims: &[usize]) -> Vec<(usize, usize)> {
        Vec::new()
    }

    /// The key's function tables of layer `l` (a map's function, a softmax's exponentials),
    /// each with the second column of its rows; none by default.
    fn tables(&self, _l: usize) -> Vec<(Table, Vec<i64>)> {
        Vec::new()
    }
}

/// What a layer's key check reads: the key and the layer's index in it.
pub(crate) struct KeyCx<'a> {
    pub vk: &'a VerifyingKey,
    pub k: usize,
    pub layer: &'a VkLayer,
}

impl KeyCx<'_> {
    /// The layer's input and output layouts (its inputs are earlier tensors: checked before).
    pub fn dims(&self) -> (Vec<usize>, Vec<usize>) {
        layer_dims(self.vk.input_len(), &self.vk.layers[..=self.k])
            .pop()
            .unwrap_or_default()
    }
}

/// Why a key's statement of a layer is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyFault {
    /// Parameters no setup makes.
    Shape,
    /// Multipliers no setup makes.
    Multipliers,
}

/// The key struct of a window op (conv, pools): its `[C][H][W]` input and output shapes and its
/// window, converted from the model's layer.
macro_rules! window_kind {
    ($(#[doc = $doc:literal])* $name:ident, $layer:ty) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            /// `[C][H][W]` of the input.
            pub in_shape: [usize; 3],
            /// `[C][H][W]` of the output.
            pub out_shape: [usize; 3],
            pub window: zkml_model::Window,
        }

        impl From<&$layer> for $name {
            fn from(l: &$layer) -> Self {
                Self {
                    in_shape: l.in_shape,
                    out_shape: l.out_shape,
                    window: l.window,
                }
            }
        }
    };
}
pub(crate) use window_kind;

/// The key check shared by the window ops (conv, pools): `n_in`, `n_out` match the shapes,
/// the window is one setup makes and maps the input's height and width to the output's.
pub(crate) fn window_ok(
    l: &VkLayer,
    in_shape: [usize; 3],
    out_shape: [usize; 3],
    w: Window,
) -> bool {
    let numel = |s: [usize; 3]| s.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
    numel(in_shape) == Some(l.n_in)
        && numel(out_shape) == Some(l.n_out)
        && w.kernel.iter().all(|&k| (1..=64).contains(&k))
        && w.stride.iter().all(|&k| (1..=64).contains(&k))
        && w.pads.iter().all(|&p| p < 64)
        && w.output_hw(in_shape[1], in_shape[2]) == Some([out_shape[1], out_shape[2]])
}
