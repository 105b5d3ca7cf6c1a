//! What both sides absorb before the first challenge, and how claims on columns are routed.

use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::mle::evaluate;
use zkml_proof::pcs::{self, Claim};
use zkml_proof::transcript::Transcript;

use crate::error::VerifyError;
use crate::keys::VerifyingKey;
use crate::layout::{Col, Layout, Source, embed};
use crate::ops::requant::{EXCESS_BITS, REM_BITS, WIDE_FROM};
use crate::proof::FORMAT_VERSION;
use crate::tables::LIMB_BITS;

/// The forks of the transcript (PROTOCOL, "Forks"), both sides: after the witness commitment
/// the lookups' and the layers'; after those are joined, one per opening.
pub struct Fork;

impl Fork {
    pub const LOOKUPS: u64 = 0;
    pub const LAYERS: u64 = 1;
    pub const WITNESS_OPENING: u64 = 0;

    /// The fork of weight group `g`'s opening.
    pub fn weight_opening(g: usize) -> u64 {
        g as u64 + 1
    }
}

/// Binds the protocol, the key (`key_digest` is [`VerifyingKey::digest`], which hashes every
/// public weight: computed once per proof by the caller), the input and the output, then the
/// weight commitment.
pub fn bind(
    t: &mut Transcript,
    vk: &VerifyingKey,
    key_digest: &str,
    num_samples: usize,
    input: &[i64],
    output: &[i64],
) {
    t.absorb_bytes(b"zkml proof");
    t.absorb_u64(u64::from(FORMAT_VERSION));
    t.absorb_u64(u64::from(LIMB_BITS));
    t.absorb_u64(u64::from(EXCESS_BITS));
    t.absorb_u64(u64::from(REM_BITS));
    t.absorb_u64(WIDE_FROM as u64);
    t.absorb_bytes(key_digest.as_bytes());
    t.absorb_u64(num_samples as u64);
    t.absorb_base(&input.iter().map(|&v| from_i64(v)).collect::<Vec<F>>());
    t.absorb_base(&output.iter().map(|&v| from_i64(v)).collect::<Vec<F>>());
    for (shape, c) in vk.weight_shapes().iter().zip(&vk.weight_commitments) {
        pcs::observe(shape, c, t);
    }
}

/// The public tensors of a proof, padded as the columns they stand for.
pub struct Public {
    /// `[samples][I0]`.
    pub input: Vec<F>,
    /// `[samples][O_last]`.
    pub output: Vec<F>,
}

impl Public {
    /// The public input and output of a proof, embedded in the layout's padded tensors.
    pub fn new(layout: &Layout, input: &[i64], output: &[i64]) -> Self {
        let samples = 1 << layout.sample_vars;
        #[expect(
            clippy::expect_used,
            reason = "a layout has a layer: keys without one are refused at setup and on load"
        )]
        let last = layout.layers.last().expect("layers");
        Self {
            input: embed(input, &layout.layers[0].in_dims, samples),
            output: embed(output, &last.out_dims, samples),
        }
    }
}

/// Evaluation claims collected along the proof, in the order both sides produce them.
pub struct Claims {
    pub witness: Vec<Claim>,
    pub witness_values: Vec<EF>,
    /// Per weight commitment: claims and their values.
    pub weights: Vec<Vec<Claim>>,
    pub weight_values: Vec<Vec<EF>>,
    weight_locations: Vec<(usize, usize)>,
    weight_columns: Vec<Option<usize>>,
}

impl Claims {
    /// No claims yet, for a proof against `vk`.
    pub fn new(vk: &VerifyingKey) -> Self {
        let groups = vk.weight_groups.len();
        Self {
            witness: Vec::new(),
            witness_values: Vec::new(),
            weights: vec![Vec::new(); groups],
            weight_values: vec![Vec::new(); groups],
            weight_locations: vk.weight_locations(),
            weight_columns: vk.weight_columns(),
        }
    }

    /// A claim `col(point) = value`: public columns are checked at once, committed ones queued.
    ///
    /// # Errors
    /// [`VerifyError::PublicOutput`] when a public column disagrees.
    pub fn column(
        &mut self,
        layout: &Layout,
        public: &Public,
        col: Col,
        point: Vec<EF>,
        value: EF,
    ) -> Result<(), VerifyError> {
        match layout.source(col) {
            Source::Witness(column) => {
                self.witness.push(Claim { column, point });
                self.witness_values.push(value);
                Ok(())
            }
            Source::PublicOutput if evaluate(&public.output, &point) == value => Ok(()),
            Source::PublicOutput => Err(VerifyError::PublicOutput),
        }
    }

    /// A claim on input `k` of layer `l`: the output column of the layer it reads, or the
    /// public input (checked at once).
    ///
    /// # Errors
    /// [`VerifyError::PublicInput`] when the public input disagrees.
    pub fn layer_input(
        &mut self,
        layout: &Layout,
        public: &Public,
        (l, k): (usize, usize),
        point: Vec<EF>,
        value: EF,
    ) -> Result<(), VerifyError> {
        let tensor = layout.layers[l].inputs.get(k).copied().unwrap_or(0);
        let Some(producer) = tensor.checked_sub(1) else {
            return if evaluate(&public.input, &point) == value {
                Ok(())
            } else {
                Err(VerifyError::PublicInput)
            };
        };
        self.column(layout, public, Col::Out(producer), point, value)
    }

    /// Appends `other`'s claims after these.
    pub fn append(&mut self, mut other: Claims) {
        self.witness.append(&mut other.witness);
        self.witness_values.append(&mut other.witness_values);
        for (mine, theirs) in self.weights.iter_mut().zip(&mut other.weights) {
            mine.append(theirs);
        }
        for (mine, theirs) in self.weight_values.iter_mut().zip(&mut other.weight_values) {
            mine.append(theirs);
        }
    }

    /// Claims on layer `l`'s weights and bias.
    pub fn weights(
        &mut self,
        l: usize,
        weight_point: Vec<EF>,
        weight: EF,
        bias_vars: usize,
        bias: EF,
    ) {
        let bias_point = weight_point[..bias_vars].to_vec();
        #[expect(
            clippy::expect_used,
            reason = "called for dense and conv layers only, which have weight columns"
        )]
        let first = self.weight_columns[l].expect("a layer with weights");
        for (column, point, value) in [(first, weight_point, weight), (first + 1, bias_point, bias)]
        {
            let (group, column) = self.weight_locations[column];
            self.weights[group].push(Claim { column, point });
            self.weight_values[group].push(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Fork;

    /// Forks of one state are told apart by their indices: the lookups' from the layers', and
    /// every opening's from every other's (the witness's and the weight groups').
    #[test]
    fn forks_of_one_state_have_distinct_indices() {
        assert_ne!(Fork::LOOKUPS, Fork::LAYERS);
        let mut openings: Vec<u64> = (0..5).map(Fork::weight_opening).collect();
        openings.push(Fork::WITNESS_OPENING);
        let count = openings.len();
        openings.sort_unstable();
        openings.dedup();
        assert_eq!(openings.len(), count, "{openings:?}");
    }
}
