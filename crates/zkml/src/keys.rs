//! Setup: the proving key (model, padded weights, weight commitment) and the verifying key
//! (architecture, scales, multipliers, weight commitment root, bias bounds and the key proof
//! that certifies the committed ranges), and their files.

use serde::{Deserialize, Serialize};
use zkml_model::{BatchDim, OutputSpec, QuantLayer, QuantizedModel, ScaleMode};
use zkml_proof::field::F;
use zkml_proof::pcs::{self, CommitShape, Commitment, PcsError, ProverData};
use zkml_proof::transcript::Transcript;

use crate::error::{FormatError, KeyProofError, SetupError};
use crate::keyproof::{self, KeyProof, KeyTamper};
use crate::layout::{chain_error, dims_vars, layer_dims, pow2_vars};
use crate::ops::requant::BoundViolation;
use crate::ops::{KeyCx, KeyFault};

pub use crate::ops::LayerOp;

/// One layer as the verifier knows it (no weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VkLayer {
    pub name: String,
    pub op: LayerOp,
    pub n_in: usize,
    pub n_out: usize,
    /// Per-row (dense) or per-output-channel (conv, average pool) fixed-point multipliers
    /// `m_i`, `M_i = m_i / 2^32`; empty for max-pool.
    pub multiplier: Vec<i64>,
    pub relu: bool,
    pub out_scale: f64,
    /// The tensors the layer reads: 0 is the model input, `k + 1` the output of layer `k`
    /// (an earlier layer).
    pub inputs: Vec<usize>,
}

/// What anyone needs to check a proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyingKey {
    pub bits: u32,
    pub scales: ScaleMode,
    pub batch: BatchDim,
    pub input_shape: Vec<usize>,
    pub input_scale: f64,
    pub layers: Vec<VkLayer>,
    /// Which weight columns each commitment holds (see [`weight_groups`]).
    pub weight_groups: Vec<Vec<usize>>,
    /// Roots of the commitments to every weight and bias, one per group.
    pub weight_commitments: Vec<Commitment>,
    /// Per layer with weights, per row (dense) or output channel (conv): the bias bound `B`,
    /// `|b| <= 2^B - 1`.
    pub bias_bits: Vec<Vec<u8>>,
    /// The permutation of the input's per-sample axes applied as it is quantized (an input
    /// Transpose, e.g. NHWC -> NCHW): the public input of a proof is the permuted one, and
    /// `check_input` permutes an input file alike. Empty: none.
    pub input_perm: Vec<usize>,
    /// The graph's outputs, in order: each one's name, length and scale in the last layer's
    /// output (`zkml_model::split_outputs`); empty: one unnamed output.
    pub outputs: Vec<OutputSpec>,
    /// A public-weights key ([`Weights::Public`]): per layer with weights, its weights (C
    /// order, as the model's layer) and bias. The verifier evaluates their MLEs itself, so
    /// such a key has no weight commitments and no key proof. `None` for committed weights.
    pub public_weights: Option<Vec<(Vec<i64>, Vec<i64>)>>,
    /// The key proof that certifies the weight and bias ranges (`crate::keyproof`); a key
    /// file with committed weights and without one is refused. The last field: [`VerifyingKey::statement_bytes`] is the
    /// encoding of every field before it.
    pub key_proof: Option<KeyProof>,
}

/// What the prover needs: the model, its padded weights and the commitment's prover data.
#[derive(Clone)]
pub struct ProvingKey {
    pub model: QuantizedModel,
    pub vk: VerifyingKey,
    /// Per layer: weights `[O][I]` and bias `[O]`, zero-padded to powers of two.
    pub(crate) weights: Vec<(Vec<F>, Vec<F>)>,
    pub(crate) weight_data: Vec<ProverData>,
}

/// Setup and proving refuse work whose estimated peak memory (bytes) exceeds this.
pub const MEMORY_LIMIT: u128 = 16 << 30;

/// Version of the key formats this build reads and writes (proofs have their own,
/// [`crate::proof::FORMAT_VERSION`]).
pub const KEY_FORMAT_VERSION: u8 = 12;

/// Key file magics: 7 bytes, then the key format version.
const PK_MAGIC: &[u8; 8] = &magic(b"ZKMLPK\0");
const VK_MAGIC: &[u8; 8] = &magic(b"ZKMLVK\0");

const fn magic(name: &[u8; 7]) -> [u8; 8] {
    let mut m = [KEY_FORMAT_VERSION; 8];
    let mut i = 0;
    while i < 7 {
        m[i] = name[i];
        i += 1;
    }
    m
}

/// The security level setup insists on.
pub const MIN_SECURITY_BITS: f64 = 100.0;

/// Splits the weight columns (layer `l`: weights `2l`, bias `2l + 1`) between commitments.
///
/// One commitment holds everything unless the columns add up to just past a power of two (a
/// 2048x2048 layer plus its bias would double the committed size): then the largest column gets
/// a commitment of its own when that shrinks the committed cells by a third or more (a second
/// opening costs ~5 ms and ~50 KiB, which a smaller saving would not repay).
/// Depends on the column sizes alone, so prover and verifier derive the same split.
pub fn weight_groups(vars: &[usize]) -> Vec<Vec<usize>> {
    // the commitment pads tiny columns to 2^4 cells (its folding factor)
    let cells = |v: usize| 1u128 << v.max(4);
    let padded = |total: u128| total.next_power_of_two();
    let all: Vec<usize> = (0..vars.len()).collect();
    let largest = (0..vars.len()).max_by_key(|&i| (vars[i], std::cmp::Reverse(i)));
    let Some(largest) = largest.filter(|_| vars.len() > 1) else {
        // no weights (a model of max-pools only): no commitment at all
        return if all.is_empty() {
            Vec::new()
        } else {
            vec![all]
        };
    };
    let whole = padded(vars.iter().map(|&v| cells(v)).sum());
    let rest: Vec<usize> = all.iter().copied().filter(|&i| i != largest).collect();
    let split = cells(vars[largest]) + padded(rest.iter().map(|&i| cells(vars[i])).sum());
    if 3 * split <= 2 * whole {
        vec![vec![largest], rest]
    } else {
        vec![all]
    }
}

/// Quantized model -> keys. Commits to the weights once and proves the key proof.
///
/// # Errors
/// [`SetupError`] when a layer's accumulator range does not fit the requantization argument,
/// or the layers do not chain.
pub fn setup(model: QuantizedModel) -> Result<ProvingKey, SetupError> {
    setup_with_progress(model, &mut |_| {})
}

/// [`setup`], calling `progress` with each phase's name as it starts: [`SETUP_PHASES`].
///
/// # Errors
/// As [`setup`].
pub fn setup_with_progress(
    model: QuantizedModel,
    progress: &mut dyn FnMut(&'static str),
) -> Result<ProvingKey, SetupError> {
    setup_with(model, Weights::Committed, progress)
}

/// Where a key keeps the model's weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Weights {
    /// Committed (the default): the verifying key holds their commitment and a key proof of
    /// their ranges, not the weights; proofs open the commitment.
    #[default]
    Committed,
    /// Public, for a model anyone may know: the verifying key holds the weights, the verifier
    /// evaluates their MLEs itself (its cost grows with the parameter count), proofs carry no
    /// weight opening and setup commits to nothing.
    Public,
}

/// [`setup_with_progress`] with the weights kept as `weights` says.
///
/// # Errors
/// As [`setup`].
pub fn setup_with(
    model: QuantizedModel,
    weights: Weights,
    progress: &mut dyn FnMut(&'static str),
) -> Result<ProvingKey, SetupError> {
    setup_inner(model, &KeyTamper::default(), weights, progress)
}

/// The phases of [`setup_with_progress`], in order (the last two take the time).
pub const SETUP_PHASES: [&str; 3] = ["check the model", "commit to the weights", "prove the key"];

/// [`setup`] with rewrites of its data at each step, to build the keys of a cheating setup
/// in tests (not part of the stable API).
///
/// # Errors
/// As [`setup`].
#[doc(hidden)]
pub fn setup_tampered(model: QuantizedModel, tamper: &KeyTamper) -> Result<ProvingKey, SetupError> {
    setup_inner(model, tamper, Weights::Committed, &mut |_| {})
}

fn setup_inner(
    model: QuantizedModel,
    tamper: &KeyTamper,
    weights: Weights,
    progress: &mut dyn FnMut(&'static str),
) -> Result<ProvingKey, SetupError> {
    let mut pk = setup_unproven(model, tamper, weights, progress)?;
    (tamper.vk)(&mut pk.vk);
    if weights == Weights::Public {
        return Ok(pk);
    }
    progress(SETUP_PHASES[2]);
    let proof = keyproof::prove(&pk.vk, &pk.weights, &pk.weight_data, tamper)
        .map_err(SetupError::KeyProof)?;
    pk.vk.key_proof = Some(proof);
    Ok(pk)
}

/// Setup up to the key proof: checks, the verifying key without its proof, the commitments.
fn setup_unproven(
    model: QuantizedModel,
    tamper: &KeyTamper,
    weights_kept: Weights,
    progress: &mut dyn FnMut(&'static str),
) -> Result<ProvingKey, SetupError> {
    progress(SETUP_PHASES[0]);
    if model.layers.is_empty() {
        return Err(SetupError::EmptyModel);
    }
    if !(2..=16).contains(&model.bits) {
        return Err(SetupError::Bits { bits: model.bits });
    }
    model.validate()?;
    let vk_layers: Vec<VkLayer> = (0..model.layers.len())
        .map(|l| vk_layer(&model.layers[l], model.layer_inputs(l)))
        .collect();
    if let Some((l, why)) = chain_error(&vk_layers) {
        let layer = vk_layers[l].name.clone();
        return Err(SetupError::Unsupported { layer, why });
    }
    let dims = layer_dims(model.input_len(), &vk_layers);
    let mut weights = padded_weights(&vk_layers, &model, &dims);
    (tamper.columns)(&mut weights);
    let columns: Vec<&Vec<F>> = weights.iter().flat_map(|(w, b)| [w, b]).collect();
    let vars: Vec<usize> = columns
        .iter()
        .map(|c| c.len().trailing_zeros() as usize)
        .collect();
    // peak memory of the commitment, refused up front (measured ~50 bytes per padded cell)
    let estimate: u128 = vars.iter().map(|&v| 1u128 << v.max(4)).sum::<u128>() * 64;
    if estimate > MEMORY_LIMIT {
        let limit = MEMORY_LIMIT;
        return Err(SetupError::MemoryLimit { estimate, limit });
    }
    let bias_bits = model
        .layers
        .iter()
        .filter_map(|l| l.weights().map(|(_, bias)| keyproof::bias_bits(bias)))
        .collect();
    let mut vk = VerifyingKey {
        bits: model.bits,
        scales: model.scales,
        batch: model.batch,
        input_shape: model.input_shape.clone(),
        input_scale: model.input_scale,
        layers: vk_layers,
        weight_groups: weight_groups(&vars),
        weight_commitments: Vec::new(),
        bias_bits,
        input_perm: model.input_perm.clone(),
        outputs: model.outputs.clone(),
        public_weights: None,
        key_proof: None,
    };
    vk.check_bounds()
        .map_err(|(layer, v)| SetupError::AccumulatorRange {
            layer,
            row: v.row,
            acc_max: v.acc_max,
            multiplier: v.multiplier,
        })?;
    // a second commitment costs list-decoding bits (docs/SECURITY.md): keep one if it must
    if vk.weight_groups.len() > 1 && crate::security::security(&vk, 1).bits < MIN_SECURITY_BITS {
        vk.weight_groups = vec![(0..vars.len()).collect()];
    }
    progress(SETUP_PHASES[1]);
    if weights_kept == Weights::Public {
        let own = |l: &QuantLayer| l.weights().map(|(w, b)| (w.to_vec(), b.to_vec()));
        vk.public_weights = Some(model.layers.iter().filter_map(own).collect());
        return Ok(ProvingKey {
            model,
            vk,
            weights,
            weight_data: Vec::new(),
        });
    }
    let weight_data: Vec<ProverData> = (vk.weight_groups.iter())
        .map(|group| {
            let cols = group.iter().map(|&i| columns[i].clone()).collect();
            pcs::commit(cols, &mut Transcript::new()).map(|(_, d)| d)
        })
        .collect::<Result<_, PcsError>>()?;
    vk.weight_commitments = weight_data.iter().map(|d| d.commitment().clone()).collect();
    Ok(ProvingKey {
        model,
        vk,
        weights,
        weight_data,
    })
}

fn vk_layer(layer: &QuantLayer, inputs: Vec<usize>) -> VkLayer {
    let (multiplier, relu) = layer
        .requantization()
        .map_or((Vec::new(), false), |(m, _, relu)| (m.to_vec(), relu));
    VkLayer {
        name: layer.name().to_string(),
        op: LayerOp::of(layer),
        n_in: layer.input_len(),
        n_out: layer.output_len(),
        multiplier,
        relu,
        out_scale: layer.out_scale(),
        inputs,
    }
}

/// Per layer with weights: weights and bias, zero-padded per dimension
/// ([`crate::ops::LayerKind::weight_dims`]). A dense layer after a conv or pool takes its input
/// in the padded `[C][H][W]` layout, so its columns are permuted.
fn padded_weights(
    layers: &[VkLayer],
    model: &QuantizedModel,
    dims: &[(Vec<usize>, Vec<usize>)],
) -> Vec<(Vec<F>, Vec<F>)> {
    (layers.iter().zip(&model.layers).zip(dims))
        .filter_map(|((l, layer), (in_dims, _))| {
            let (w, b) = layer.weights()?;
            padded_layer(l, in_dims, w, b)
        })
        .collect()
}

/// One layer's padded weight and bias columns (`None` for a layer without weights).
fn padded_layer(l: &VkLayer, in_dims: &[usize], w: &[i64], b: &[i64]) -> Option<(Vec<F>, Vec<F>)> {
    let wdims = l.op.kind().weight_dims(l.n_out, in_dims)?;
    let bias = crate::layout::padded(b, pow2_vars(wdims[0]));
    Some((crate::layout::embed(w, &wdims, 1), bias))
}

impl VerifyingKey {
    /// Shape of the weight commitment: per layer with weights, the variables of its weights
    /// then of its bias.
    pub fn weight_vars(&self) -> Vec<usize> {
        layer_dims(self.input_len(), &self.layers)
            .iter()
            .zip(&self.layers)
            .filter_map(|((in_dims, _), l)| l.op.kind().weight_dims(l.n_out, in_dims))
            .flat_map(|dims| {
                let vars = dims_vars(&dims);
                [vars.iter().sum(), vars.first().copied().unwrap_or(0)]
            })
            .collect()
    }

    /// Index of the weight column of each layer (its bias is the next), `None` for a pool.
    pub fn weight_columns(&self) -> Vec<Option<usize>> {
        let mut next = 0;
        self.layers
            .iter()
            .map(|l| {
                l.op.kind().has_weights().then(|| {
                    next += 2;
                    next - 2
                })
            })
            .collect()
    }

    /// Shapes of the weight commitments, one per group of [`weight_groups`].
    pub fn weight_shapes(&self) -> Vec<CommitShape> {
        let vars = self.weight_vars();
        self.weight_groups
            .iter()
            .map(|g| CommitShape {
                column_vars: g.iter().map(|&i| vars[i]).collect(),
            })
            .collect()
    }

    /// `(group, column within the group)` of every weight column.
    pub fn weight_locations(&self) -> Vec<(usize, usize)> {
        let vars = self.weight_vars();
        let mut loc = vec![(0, 0); vars.len()];
        for (g, group) in self.weight_groups.iter().enumerate() {
            for (k, &i) in group.iter().enumerate() {
                loc[i] = (g, k);
            }
        }
        loc
    }

    /// Number of input values of one sample.
    pub fn input_len(&self) -> usize {
        self.input_shape.iter().product()
    }

    /// Number of output values of one sample.
    pub fn output_len(&self) -> usize {
        self.layers.last().map_or(0, |l| l.n_out)
    }

    /// What an input file must hold for this model.
    pub fn input_spec(&self) -> zkml_model::InputSpec {
        zkml_model::InputSpec {
            batch: self.batch,
            sample_len: self.input_len(),
            // a reference output is the first graph output's
            output_len: Some(self.outputs.first().map_or(self.output_len(), |o| o.len)),
        }
    }

    /// Real values of a quantized output row.
    pub fn dequantize_output(&self, yq: &[i64]) -> Vec<f32> {
        self.output_rows(yq).swap_remove(0).1
    }

    /// Every graph output of one sample's proven output, by name.
    pub fn output_rows(&self, yq: &[i64]) -> Vec<(String, Vec<f32>)> {
        let scale = self.layers.last().map_or(1.0, |l| l.out_scale);
        zkml_model::split_outputs(&self.outputs, yq, scale)
    }

    /// Serialized key: magic, format version, postcard body.
    #[expect(
        clippy::expect_used,
        reason = "postcard fails only on types it cannot encode; a key has none"
    )]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = VK_MAGIC.to_vec();
        out.extend(postcard::to_allocvec(self).expect("vk serializes"));
        out
    }

    /// Parses a key file and checks it: its numbers, the accumulator bound derived from them,
    /// and its key proof (the committed weights and biases are in range, padding is zero).
    ///
    /// # Errors
    /// [`FormatError`] on a wrong magic or version, a malformed body or trailing bytes;
    /// [`FormatError::KeyProof`] naming the key check that failed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = crate::proof::strip_magic(bytes, VK_MAGIC, "verifying key")?;
        let vk: Self = crate::proof::decode_all(body, "verifying key")?;
        vk.check_sane()?;
        vk.check_key()?;
        Ok(vk)
    }

    /// The key checks of [`VerifyingKey::from_bytes`] after parsing: the derived accumulator
    /// bound, then the key proof. The key must have passed its sanity checks.
    ///
    /// # Errors
    /// [`KeyProofError`] naming the failed check.
    fn check_key(&self) -> Result<(), KeyProofError> {
        self.check_bounds()
            .map_err(|(layer, v)| KeyProofError::DerivedBound {
                layer,
                row: v.row,
                acc_max: v.acc_max,
                multiplier: v.multiplier,
            })?;
        if let Some(weights) = &self.public_weights {
            return self.check_public_weights(weights);
        }
        let proof = self.key_proof.as_ref().ok_or(KeyProofError::Missing)?;
        keyproof::verify(self, proof)
    }

    /// What the key proof certifies of committed weights, checked on a public-weights key's
    /// own: every weight in `[-2^(bits-1), 2^(bits-1))`, every bias within its row's bound
    /// `|b(o)| <= 2^B(o) - 1`. The key has passed its sanity checks (the lengths fit).
    ///
    /// # Errors
    /// [`KeyProofError::PublicWeight`] naming the first value out of range.
    fn check_public_weights(&self, weights: &[(Vec<i64>, Vec<i64>)]) -> Result<(), KeyProofError> {
        let half = 1i64 << (self.bits - 1);
        let layers = self.layers.iter().filter(|l| l.op.kind().has_weights());
        for ((l, (w, b)), bounds) in layers.zip(weights).zip(&self.bias_bits) {
            let out = |what, index, value| KeyProofError::PublicWeight {
                layer: l.name.clone(),
                what,
                index,
                value,
            };
            if let Some((i, &v)) = w
                .iter()
                .enumerate()
                .find(|(_, v)| !(-half..half).contains(*v))
            {
                return Err(out("weight", i, v));
            }
            let bias_ok = |(&v, &bits): (&i64, &u8)| v.unsigned_abs() < 1u64 << bits;
            if let Some(i) = b.iter().zip(bounds).position(|p| !bias_ok(p)) {
                return Err(out("bias", i, b[i]));
            }
        }
        Ok(())
    }

    /// The padded weight and bias columns of a public-weights key (as setup pads them; `None`
    /// for committed weights). The key has passed its sanity checks.
    pub fn public_columns(&self) -> Option<Vec<(Vec<F>, Vec<F>)>> {
        let weights = self.public_weights.as_ref()?;
        let dims = layer_dims(self.input_len(), &self.layers);
        let mut own = weights.iter();
        let with_weights = (self.layers.iter().zip(&dims))
            .filter(|(l, _)| l.op.kind().has_weights())
            .map(|(l, (in_dims, _))| {
                let (w, b) = own.next().map_or((&[][..], &[][..]), |(w, b)| (w, b));
                (l, in_dims.as_slice(), w, b)
            });
        Some(
            with_weights
                .filter_map(|(l, d, w, b)| padded_layer(l, d, w, b))
                .collect(),
        )
    }

    /// Checks every requantized row against the accumulator bound derived from public numbers
    /// (real fan-in, bit width, bias bound; see [`check_derived_bounds`]).
    ///
    /// # Returns
    /// The bits of each layer's clamp excess (0 for a layer without requantization).
    ///
    /// # Errors
    /// The name of the first layer that fails, and its row.
    pub fn check_bounds(&self) -> Result<Vec<u32>, (String, BoundViolation)> {
        let mut bias_bits = self.bias_bits.iter();
        let mut excess_bits = Vec::with_capacity(self.layers.len());
        for l in &self.layers {
            let op = l.op.kind();
            // one bound per multiplier of a layer with weights: checked by `check_sane`, built
            // so by setup
            let b = match op.has_weights() {
                true => bias_bits.next().map_or(&[][..], Vec::as_slice),
                false => &[],
            };
            excess_bits.push(
                op.check_bounds(l, self.bits, b)
                    .map_err(|v| (l.name.clone(), v))?,
            );
        }
        Ok(excess_bits)
    }

    /// The encoding of every field but the key proof: what the key proof certifies.
    pub fn statement_bytes(&self) -> Vec<u8> {
        // destructured so that a new field cannot be left out silently
        let Self {
            bits,
            scales,
            batch,
            input_shape,
            input_scale,
            layers,
            weight_groups,
            weight_commitments,
            bias_bits,
            input_perm,
            outputs,
            public_weights,
            key_proof: _,
        } = self;
        let fields = (
            bits,
            scales,
            batch,
            input_shape,
            input_scale,
            layers,
            weight_groups,
            weight_commitments,
            bias_bits,
            input_perm,
            outputs,
            public_weights,
        );
        postcard::to_allocvec(&fields).unwrap_or_default()
    }

    /// Rejects keys whose numbers no setup produces (so later code may trust them).
    fn check_sane(&self) -> Result<(), FormatError> {
        let bad = |why: String| {
            Err(FormatError::Malformed {
                what: "verifying key",
                why,
            })
        };
        if !(2..=16).contains(&self.bits) || self.layers.is_empty() {
            return bad("bits outside 2..=16 or no layers".into());
        }
        // products of untrusted dimensions must not overflow (input_len() would wrap)
        let numel = |dims: &[usize]| dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
        let Some(input_len) = numel(&self.input_shape).filter(|n| (1..=1 << 26).contains(n)) else {
            return bad("impossible input shape".into());
        };
        let mut axes = self.input_perm.clone();
        axes.sort_unstable();
        if !axes.is_empty() && axes != (0..self.input_shape.len()).collect::<Vec<_>>() {
            return bad("the input permutation".into());
        }
        for (k, l) in self.layers.iter().enumerate() {
            // each input an earlier tensor of the layer's width (0: the model input)
            let width = |t: usize| t.checked_sub(1).map_or(input_len, |p| self.layers[p].n_out);
            let shape_ok = l.inputs.len() == l.op.kind().arity()
                && l.inputs.iter().all(|&t| t <= k && width(t) == l.n_in)
                && (1..=1 << 26).contains(&l.n_in)
                && (1..=1 << 26).contains(&l.n_out);
            if !shape_ok {
                return bad(format!("layer {} has an impossible shape", l.name));
            }
            let cx = KeyCx {
                vk: self,
                k,
                layer: l,
            };
            let expected = match l.op.kind().check_key(&cx) {
                Ok(expected) => expected,
                Err(KeyFault::Shape) => {
                    return bad(format!("layer {} has an impossible shape", l.name));
                }
                Err(KeyFault::Multipliers) => return bad(format!("layer {} multipliers", l.name)),
            };
            if l.multiplier.len() != expected
                || l.multiplier.iter().any(|&m| !(0..1 << 62).contains(&m))
            {
                return bad(format!("layer {} multipliers", l.name));
            }
        }
        // the outputs split the last layer's output exactly
        let total: usize = self.outputs.iter().map(|o| o.len).sum();
        let last = self.layers.last().map_or(0, |l| l.n_out);
        if !self.outputs.is_empty()
            && (total != last || self.outputs.iter().any(|o| !o.scale.is_finite()))
        {
            return bad(format!(
                "outputs of {total} values in all, the last layer has {last}"
            ));
        }
        if let Some((l, why)) = chain_error(&self.layers) {
            return bad(format!("layer {}: {why}", self.layers[l].name));
        }
        self.check_columns()
    }

    /// The part of [`VerifyingKey::check_sane`] on the weight columns: groups and bias bounds.
    fn check_columns(&self) -> Result<(), FormatError> {
        let bad = |why: String| {
            Err(FormatError::Malformed {
                what: "verifying key",
                why,
            })
        };
        // the weight groups must split the weight columns exactly, one commitment each
        let n = self.weight_vars().len();
        let mut seen = vec![false; n];
        for &i in self.weight_groups.iter().flatten() {
            if i >= n || std::mem::replace(&mut seen[i], true) {
                return bad("weight groups".into());
            }
        }
        // committed weights: one commitment per group and a key proof; public weights: none
        // of either, and each layer's weights and bias at their real sizes
        let commitments = match self.public_weights {
            Some(_) => 0,
            None => self.weight_groups.len(),
        };
        if seen.contains(&false)
            || self.weight_groups.iter().any(Vec::is_empty)
            || self.weight_commitments.len() != commitments
        {
            return bad("weight groups".into());
        }
        if let Some(weights) = &self.public_weights
            && (self.key_proof.is_some() || !self.public_sizes_fit(weights))
        {
            return bad("public weights".into());
        }
        let rows = self.layers.iter().filter(|l| l.op.kind().has_weights());
        if self.bias_bits.len() != n / 2
            || rows
                .zip(&self.bias_bits)
                .any(|(l, b)| b.len() != l.multiplier.len())
            || self.bias_bits.iter().flatten().any(|&b| b > 62)
        {
            return bad("bias bounds".into());
        }
        Ok(())
    }

    /// Whether a public-weights key holds one weight tensor and one bias per layer with
    /// weights, each of its real size.
    fn public_sizes_fit(&self, weights: &[(Vec<i64>, Vec<i64>)]) -> bool {
        let dims = layer_dims(self.input_len(), &self.layers);
        let sizes: Vec<(usize, usize)> = (self.layers.iter().zip(&dims))
            .filter_map(|(l, (in_dims, _))| l.op.kind().weight_dims(l.n_out, in_dims))
            .map(|d| (d.iter().product(), d.first().copied().unwrap_or(0)))
            .collect();
        sizes.len() == weights.len()
            && (sizes.iter().zip(weights)).all(|(&(w, b), (ws, bs))| ws.len() == w && bs.len() == b)
    }

    /// A 256-bit digest of the key (Keccak-256 of [`VerifyingKey::statement_bytes`]), hex:
    /// every field but the key proof, so everything the key proof certifies. The key proof
    /// itself is left out because it is checked when the key is loaded and any valid one
    /// certifies the same statement; hashing it (150 KiB for the 264k CNN) would cost time on
    /// every prove and verify. Keccak rather than the transcript's Poseidon2 sponge: a
    /// public-weights key's statement holds every weight, and the sponge (seven bytes per
    /// scalar absorb) took 1.7 ms of a 5x100 MLP's 10 ms proof for its 38k weights.
    pub fn digest(&self) -> String {
        use p3_symmetric::CryptographicHasher;
        let bytes = self.statement_bytes();
        let hash = p3_keccak::Keccak256Hash.hash_iter_slices([&b"zkml vk digest v3"[..], &bytes]);
        hash.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl ProvingKey {
    /// Serialized key: magic, version, the quantized model and its verifying key.
    #[expect(
        clippy::expect_used,
        reason = "postcard fails only on types it cannot encode; a key has none"
    )]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = PK_MAGIC.to_vec();
        out.extend(postcard::to_allocvec(&(&self.model, &self.vk)).expect("pk serializes"));
        out
    }

    /// Parses a proving key file: re-runs setup's checks on its model, commits to its weights
    /// (the commitments are not stored: hashing them again costs less than reading their
    /// Merkle digests did, docs/BENCHMARKS.md Y), and checks that the result is its verifying
    /// key, whose key proof is checked (not proven again).
    ///
    /// # Errors
    /// [`SetupError`] when the file is malformed, its weights do not match its commitment, or
    /// its key proof fails.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SetupError> {
        const WHAT: &str = "proving key";
        let body = crate::proof::strip_magic(bytes, PK_MAGIC, WHAT)?;
        let (model, vk): (QuantizedModel, VerifyingKey) = crate::proof::decode_all(body, WHAT)?;
        let kept = match vk.public_weights {
            Some(_) => Weights::Public,
            None => Weights::Committed,
        };
        let mut pk = setup_unproven(model, &KeyTamper::default(), kept, &mut |_| {})?;
        if pk.vk.statement_bytes() != vk.statement_bytes() {
            return Err(SetupError::KeyMismatch);
        }
        vk.check_key().map_err(FormatError::from)?;
        pk.vk = vk;
        Ok(pk)
    }
}

#[cfg(test)]
mod tests {
    use super::weight_groups;

    #[test]
    fn weights_just_past_a_power_of_two_get_split() {
        // 2048x2048 + bias + a small head: 2^22 + 2^11 + 2^15 + 2^4 cells would pad to 2^23
        assert_eq!(
            weight_groups(&[22, 11, 15, 4]),
            vec![vec![0], vec![1, 2, 3]]
        );
        // a model whose columns fill their power of two stays in one commitment
        assert_eq!(
            weight_groups(&[14, 7, 14, 7, 13, 7, 11, 4]),
            vec![(0..8).collect::<Vec<_>>()]
        );
        assert_eq!(weight_groups(&[3]), vec![vec![0]]);
        assert!(weight_groups(&[]).is_empty());
    }
}
