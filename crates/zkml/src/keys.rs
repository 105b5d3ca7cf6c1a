//! Setup: the proving key (model, padded weights, weight commitment) and the verifying key
//! (architecture, scales, multipliers, weight commitment root, bias bounds and the key proof
//! that certifies the committed ranges), and their files.

use serde::{Deserialize, Serialize};
use zkml_model::{
    BatchDim, OutputSpec, Placement, QuantLayer, QuantizedModel, ScaleMode, Window, relayout,
};
use zkml_proof::field::{F, from_i64};
use zkml_proof::pcs::{self, CommitShape, Commitment, ProverData};
use zkml_proof::transcript::Transcript;

use crate::error::{FormatError, KeyProofError, SetupError};
use crate::keyproof::{self, KeyProof, KeyTamper};
use crate::layout::{chain_error, dims_vars, layer_dims, padded_index, pow2_vars};
use crate::ops::requant::{
    BoundViolation, check_derived_bounds, check_pool_bounds, check_sum_bounds,
};

/// The op of a layer and its geometry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum LayerOp {
    Dense,
    Conv {
        in_shape: [usize; 3],
        out_shape: [usize; 3],
        window: Window,
    },
    MaxPool {
        in_shape: [usize; 3],
        out_shape: [usize; 3],
        window: Window,
    },
    AvgPool {
        in_shape: [usize; 3],
        out_shape: [usize; 3],
        window: Window,
    },
    /// `a m_a + b m_b`, requantized with multiplier 1 (`scales = [m_a, m_b]`).
    Add {
        scales: [i64; 2],
    },
    /// `transpose(reshape(x, view), perm)` (an empty `perm`: a reshape), read as `in_dims`,
    /// placed in `out_dims` as `place` says; no requantization.
    Relayout {
        in_dims: Vec<usize>,
        out_dims: Vec<usize>,
        view: Vec<usize>,
        perm: Vec<usize>,
        place: Placement,
    },
    /// An element-wise function: `out = table[x + 2^(bits-1)]` for each input value `x` (the
    /// output keeps the input's layout), or one function per channel (`2^bits` entries per
    /// channel of the layout, the channels padded to a power of two: `out = table[c 2^bits +
    /// x + 2^(bits-1)]` in channel `c`); no requantization.
    Map {
        table: Vec<i64>,
    },
    /// Softmax of each row of `n` values (laid out `[outer.., n]` in and out; `outer` empty
    /// for one row) with the exponential table `exp` (`zkml_model::softmax`); no
    /// requantization.
    Softmax {
        exp: Vec<i64>,
        outer: Vec<usize>,
    },
    /// LogSoftmax of each row with the exponential, step and bound tables of
    /// `zkml_model::softmax::LogSoftmaxLayer`; no requantization.
    LogSoftmax {
        exp: Vec<i64>,
        steps: Vec<i64>,
        bounds: Vec<i64>,
        outer: Vec<usize>,
    },
    /// The index of the first (`last`: the last) maximum of each row (`[outer.., n]` in,
    /// `[outer.., 1]` out); no requantization.
    ArgMax {
        last: bool,
        outer: Vec<usize>,
    },
}

impl LayerOp {
    /// `[C][H][W]` input and output shapes of a window op (conv, pools); `None` for dense.
    pub fn window_shapes(&self) -> Option<([usize; 3], [usize; 3])> {
        self.window().map(|(i, o, _)| (i, o))
    }

    /// Shapes and window of a window op (conv, pools); `None` for dense.
    pub fn window(&self) -> Option<([usize; 3], [usize; 3], Window)> {
        match self {
            LayerOp::Dense
            | LayerOp::Add { .. }
            | LayerOp::Relayout { .. }
            | LayerOp::Map { .. }
            | LayerOp::Softmax { .. }
            | LayerOp::LogSoftmax { .. }
            | LayerOp::ArgMax { .. } => None,
            LayerOp::Conv {
                in_shape,
                out_shape,
                window,
            }
            | LayerOp::MaxPool {
                in_shape,
                out_shape,
                window,
            }
            | LayerOp::AvgPool {
                in_shape,
                out_shape,
                window,
            } => Some((*in_shape, *out_shape, *window)),
        }
    }

    /// The layouts a window op or a relayout reads and writes; `None` for the others (a dense
    /// layer reads any layout and writes `[n_out]`, a sum keeps its first input's).
    pub fn fixed_dims(&self) -> Option<(Vec<usize>, Vec<usize>)> {
        match self {
            LayerOp::Relayout {
                in_dims, out_dims, ..
            } => Some((in_dims.clone(), out_dims.clone())),
            _ => self.window_shapes().map(|(i, o)| (i.to_vec(), o.to_vec())),
        }
    }

    /// The axes before the last of a row op (softmax, log-softmax, argmax); `None` for the
    /// others.
    pub fn outer(&self) -> Option<&[usize]> {
        match self {
            LayerOp::Softmax { outer, .. }
            | LayerOp::LogSoftmax { outer, .. }
            | LayerOp::ArgMax { outer, .. } => Some(outer),
            _ => None,
        }
    }

    /// Whether the layer has committed weights and a bias (dense, conv).
    pub fn has_weights(&self) -> bool {
        matches!(self, LayerOp::Dense | LayerOp::Conv { .. })
    }

    /// Whether the layer is a pool (one output channel per input channel).
    pub fn is_pool(&self) -> bool {
        matches!(self, LayerOp::MaxPool { .. } | LayerOp::AvgPool { .. })
    }

    /// Number of tensors the layer reads.
    pub fn arity(&self) -> usize {
        if matches!(self, LayerOp::Add { .. }) {
            2
        } else {
            1
        }
    }
}

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
    /// The key proof that certifies the weight and bias ranges (`crate::keyproof`); a key
    /// file without one is refused. The last field: [`VerifyingKey::statement_bytes`] is the
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

/// Key file magics: 7 bytes, then the format version (one for keys and proofs).
const PK_MAGIC: &[u8; 8] = &magic(b"ZKMLPK\0");
const VK_MAGIC: &[u8; 8] = &magic(b"ZKMLVK\0");

const fn magic(name: &[u8; 7]) -> [u8; 8] {
    let mut m = [crate::proof::FORMAT_VERSION; 8];
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
    setup_inner(model, &KeyTamper::default(), progress)
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
    setup_inner(model, tamper, &mut |_| {})
}

fn setup_inner(
    model: QuantizedModel,
    tamper: &KeyTamper,
    progress: &mut dyn FnMut(&'static str),
) -> Result<ProvingKey, SetupError> {
    let mut pk = setup_unproven(model, tamper, progress)?;
    (tamper.vk)(&mut pk.vk);
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
    let mut weights = padded_weights(&model, &dims);
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
        .filter_map(|l| match l {
            QuantLayer::Dense(d) => Some(keyproof::bias_bits(&d.bias)),
            QuantLayer::Conv(c) => Some(keyproof::bias_bits(&c.bias)),
            QuantLayer::MaxPool(_)
            | QuantLayer::AvgPool(_)
            | QuantLayer::Add(_)
            | QuantLayer::Relayout(_)
            | QuantLayer::Map(_)
            | QuantLayer::Softmax(_)
            | QuantLayer::LogSoftmax(_)
            | QuantLayer::ArgMax(_) => None,
        })
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
    let mut weight_data = Vec::new();
    for group in &vk.weight_groups {
        let cols = group.iter().map(|&i| columns[i].clone()).collect();
        let (c, d) = pcs::commit(cols, &mut Transcript::new())?;
        vk.weight_commitments.push(c);
        weight_data.push(d);
    }
    Ok(ProvingKey {
        model,
        vk,
        weights,
        weight_data,
    })
}

fn vk_layer(layer: &QuantLayer, inputs: Vec<usize>) -> VkLayer {
    let (op, multiplier, relu, out_scale) = match layer {
        QuantLayer::Dense(d) => (LayerOp::Dense, d.multiplier.clone(), d.relu, d.out_scale),
        QuantLayer::Conv(c) => (
            LayerOp::Conv {
                in_shape: c.in_shape,
                out_shape: c.out_shape,
                window: c.window,
            },
            c.multiplier.clone(),
            c.relu,
            c.out_scale,
        ),
        QuantLayer::MaxPool(p) => (
            LayerOp::MaxPool {
                in_shape: p.in_shape,
                out_shape: p.out_shape,
                window: p.window,
            },
            Vec::new(),
            false,
            p.out_scale,
        ),
        QuantLayer::AvgPool(p) => (
            LayerOp::AvgPool {
                in_shape: p.in_shape,
                out_shape: p.out_shape,
                window: p.window,
            },
            p.multiplier.clone(),
            p.relu,
            p.out_scale,
        ),
        QuantLayer::Add(a) => (
            LayerOp::Add { scales: a.scales },
            a.multiplier.clone(),
            a.relu,
            a.out_scale,
        ),
        QuantLayer::Softmax(s) => (
            LayerOp::Softmax {
                exp: s.exp.clone(),
                outer: s.outer.clone(),
            },
            Vec::new(),
            false,
            s.out_scale,
        ),
        QuantLayer::ArgMax(a) => (
            LayerOp::ArgMax {
                last: a.last,
                outer: a.outer.clone(),
            },
            Vec::new(),
            false,
            1.0,
        ),
        QuantLayer::LogSoftmax(s) => (
            LayerOp::LogSoftmax {
                exp: s.exp.clone(),
                steps: s.steps.clone(),
                bounds: s.bounds.clone(),
                outer: s.outer.clone(),
            },
            Vec::new(),
            false,
            s.out_scale,
        ),
        // one function per channel: padded to a power of two of channels with the first's
        QuantLayer::Map(m) => (
            LayerOp::Map {
                table: match m.channels {
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
                },
            },
            Vec::new(),
            false,
            m.out_scale,
        ),
        QuantLayer::Relayout(r) => (
            LayerOp::Relayout {
                in_dims: r.in_dims.clone(),
                out_dims: r.out_dims.clone(),
                view: r.view.clone(),
                perm: r.perm.clone(),
                place: r.place.clone(),
            },
            Vec::new(),
            false,
            r.out_scale,
        ),
    };
    VkLayer {
        name: layer.name().to_string(),
        op,
        n_in: layer.input_len(),
        n_out: layer.output_len(),
        multiplier,
        relu,
        out_scale,
        inputs,
    }
}

/// Per layer with weights: weights and bias, zero-padded per dimension. A dense layer after a
/// conv or pool takes its input in the padded `[C][H][W]` layout, so its columns are permuted.
fn padded_weights(
    model: &QuantizedModel,
    dims: &[(Vec<usize>, Vec<usize>)],
) -> Vec<(Vec<F>, Vec<F>)> {
    let bias = |b: &[i64], n: usize| crate::layout::padded(b, pow2_vars(n));
    model
        .layers
        .iter()
        .zip(dims)
        .filter_map(|(layer, (in_dims, _))| match layer {
            QuantLayer::Dense(d) => {
                let i_pad = 1usize << dims_vars(in_dims).iter().sum::<usize>();
                let mut w = vec![F::default(); (1 << pow2_vars(d.n_out)) * i_pad];
                for r in 0..d.n_out {
                    for c in 0..d.n_in {
                        w[r * i_pad + padded_index(in_dims, c)] =
                            from_i64(d.weight[r * d.n_in + c]);
                    }
                }
                Some((w, bias(&d.bias, d.n_out)))
            }
            QuantLayer::Conv(c) => {
                let kdims = [
                    c.out_shape[0],
                    c.in_shape[0],
                    c.window.kernel[0],
                    c.window.kernel[1],
                ];
                let w = crate::layout::embed(&c.weight, &kdims, 1);
                Some((w, bias(&c.bias, c.out_shape[0])))
            }
            QuantLayer::MaxPool(_)
            | QuantLayer::AvgPool(_)
            | QuantLayer::Add(_)
            | QuantLayer::Relayout(_)
            | QuantLayer::Map(_)
            | QuantLayer::Softmax(_)
            | QuantLayer::LogSoftmax(_)
            | QuantLayer::ArgMax(_) => None,
        })
        .collect()
}

impl VerifyingKey {
    /// Shape of the weight commitment: per layer, weights then bias.
    pub fn weight_vars(&self) -> Vec<usize> {
        layer_dims(self.input_len(), &self.layers)
            .iter()
            .zip(&self.layers)
            .filter_map(|((in_dims, _), l)| match l.op {
                LayerOp::Dense => {
                    let o = pow2_vars(l.n_out);
                    Some([o + dims_vars(in_dims).iter().sum::<usize>(), o])
                }
                LayerOp::Conv {
                    in_shape,
                    out_shape,
                    window,
                } => {
                    let o = pow2_vars(out_shape[0]);
                    let k = pow2_vars(in_shape[0])
                        + pow2_vars(window.kernel[0])
                        + pow2_vars(window.kernel[1]);
                    Some([o + k, o])
                }
                LayerOp::MaxPool { .. }
                | LayerOp::AvgPool { .. }
                | LayerOp::Add { .. }
                | LayerOp::Relayout { .. }
                | LayerOp::Map { .. }
                | LayerOp::Softmax { .. }
                | LayerOp::LogSoftmax { .. }
                | LayerOp::ArgMax { .. } => None,
            })
            .flatten()
            .collect()
    }

    /// Index of the weight column of each layer (its bias is the next), `None` for a pool.
    pub fn weight_columns(&self) -> Vec<Option<usize>> {
        let mut next = 0;
        self.layers
            .iter()
            .map(|l| {
                l.op.has_weights().then(|| {
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
        let proof = self.key_proof.as_ref().ok_or(KeyProofError::Missing)?;
        keyproof::verify(self, proof)
    }

    /// Checks every requantized row against the accumulator bound derived from public numbers
    /// (real fan-in, bit width, bias bound; see [`check_derived_bounds`]).
    ///
    /// # Errors
    /// The name of the first layer that fails, and its row.
    pub fn check_bounds(&self) -> Result<(), (String, BoundViolation)> {
        let mut bias_bits = self.bias_bits.iter();
        for l in &self.layers {
            let fan_in = match l.op {
                LayerOp::Dense => l.n_in,
                LayerOp::Conv {
                    in_shape, window, ..
                } => in_shape[0] * window.kernel[0] * window.kernel[1],
                LayerOp::AvgPool { window, .. } => {
                    let area = window.kernel[0] * window.kernel[1];
                    check_pool_bounds(area, self.bits, &l.multiplier)
                        .map_err(|v| (l.name.clone(), v))?;
                    continue;
                }
                LayerOp::Add { scales } => {
                    check_sum_bounds(scales, self.bits, &l.multiplier)
                        .map_err(|v| (l.name.clone(), v))?;
                    continue;
                }
                LayerOp::MaxPool { .. }
                | LayerOp::Relayout { .. }
                | LayerOp::Map { .. }
                | LayerOp::Softmax { .. }
                | LayerOp::LogSoftmax { .. }
                | LayerOp::ArgMax { .. } => continue,
            };
            // one bound per multiplier: checked by `check_sane`, built so by setup
            let b = bias_bits.next().map_or(&[][..], Vec::as_slice);
            check_derived_bounds(fan_in, self.bits, b, &l.multiplier)
                .map_err(|v| (l.name.clone(), v))?;
        }
        Ok(())
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
            let shape_ok = l.inputs.len() == l.op.arity()
                && l.inputs.iter().all(|&t| t <= k && width(t) == l.n_in)
                && (1..=1 << 26).contains(&l.n_in)
                && (1..=1 << 26).contains(&l.n_out);
            let (op_ok, channels) = match &l.op {
                LayerOp::Dense => (true, Some(l.n_out)),
                LayerOp::Add { scales } => (
                    l.n_in == l.n_out && scales.iter().all(|&m| (0..1 << 42).contains(&m)),
                    None,
                ),
                // a map reads a committed column (a layer's output), one entry per input value
                // of one function, or of one per channel of its layout (padded to a power of
                // two); all of them equal at input 0 (padding, see `ops/map.rs`)
                LayerOp::Map { table } => {
                    let (lo, hi) = crate::ops::requant::range(false, self.bits);
                    let size = 1usize << self.bits;
                    let channels = layer_dims(input_len, &self.layers[..=k])
                        .pop()
                        .map_or(1, |(d, _)| 1 << pow2_vars(d.first().copied().unwrap_or(1)));
                    let zero = |t: &[i64]| t.get(size / 2).copied();
                    (
                        l.n_in == l.n_out
                            && l.inputs.first().is_some_and(|&t| t > 0)
                            && (table.len() == size || table.len() == size * channels)
                            && table.iter().all(|v| (lo..=hi).contains(v))
                            && table.chunks(size).all(|t| zero(t) == zero(table)),
                        None,
                    )
                }
                // rows of 1..=256 values (the count of maxima is a byte), exponentials from
                // 2^EXP_BITS down, so that every sum is at least 2^EXP_BITS
                LayerOp::Softmax { exp, outer } => (
                    l.n_in == l.n_out
                        && rows_fit(outer, l.n_in, zkml_model::softmax::MAX_ROW)
                        && exp_ok(exp, self.bits),
                    None,
                ),
                // one index out per row; every index an activation, every key below 2^32 (4
                // limbs)
                LayerOp::ArgMax { outer, .. } => (
                    rows_fit(outer, l.n_in, 1 << (self.bits - 1))
                        && l.n_out == zkml_model::softmax::rows(outer),
                    None,
                ),
                // and steps, bounds as `log_tables_ok` says (so that `g + L < 2^bits`)
                LayerOp::LogSoftmax {
                    exp,
                    steps,
                    bounds,
                    outer,
                } => (
                    l.n_in == l.n_out
                        && rows_fit(outer, l.n_in, zkml_model::softmax::MAX_ROW)
                        && exp_ok(exp, self.bits)
                        && zkml_model::softmax::log_tables_ok(steps, bounds, self.bits),
                    None,
                ),
                LayerOp::Relayout {
                    in_dims,
                    out_dims,
                    view,
                    perm,
                    place,
                } => (
                    relayout::shape_error(in_dims, out_dims, view, perm, place).is_none()
                        && numel(view) == Some(l.n_in)
                        && numel(out_dims) == Some(l.n_out),
                    None,
                ),
                LayerOp::Conv {
                    in_shape,
                    out_shape,
                    window,
                }
                | LayerOp::MaxPool {
                    in_shape,
                    out_shape,
                    window,
                }
                | LayerOp::AvgPool {
                    in_shape,
                    out_shape,
                    window,
                } => {
                    let geometry = numel(in_shape) == Some(l.n_in)
                        && numel(out_shape) == Some(l.n_out)
                        && window.kernel.iter().all(|&k| (1..=64).contains(&k))
                        && window.stride.iter().all(|&k| (1..=64).contains(&k))
                        && window.pads.iter().all(|&p| p < 64)
                        && window.output_hw(in_shape[1], in_shape[2])
                            == Some([out_shape[1], out_shape[2]]);
                    let max_pool = matches!(l.op, LayerOp::MaxPool { .. });
                    (
                        geometry && (!l.op.is_pool() || in_shape[0] == out_shape[0]),
                        (!max_pool).then_some(out_shape[0]),
                    )
                }
            };
            if !shape_ok || !op_ok {
                return bad(format!("layer {} has an impossible shape", l.name));
            }
            // a sum's requantization multipliers are 1, one per channel of its layout
            let expected = match l.op {
                LayerOp::Add { .. } => layer_dims(input_len, &self.layers[..=k])
                    .pop()
                    .map_or(0, |(_, out)| out[0]),
                // an average pool whose divisor varies has one per output position
                LayerOp::AvgPool { .. } if l.multiplier.len() == l.n_out => l.n_out,
                _ => channels.unwrap_or(0),
            };
            let is_sum = matches!(l.op, LayerOp::Add { .. });
            if l.multiplier.len() != expected
                || l.multiplier.iter().any(|&m| !(0..1 << 62).contains(&m))
                || (is_sum && l.multiplier.iter().any(|&m| m != 1))
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
        if seen.contains(&false)
            || self.weight_groups.iter().any(Vec::is_empty)
            || self.weight_commitments.len() != self.weight_groups.len()
        {
            return bad("weight groups".into());
        }
        let rows = self.layers.iter().filter(|l| l.op.has_weights());
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

    /// A 256-bit digest of the key (Poseidon2 sponge over [`VerifyingKey::statement_bytes`]),
    /// hex: every field but the key proof, so everything the key proof certifies. The key
    /// proof itself is left out because it is checked when the key is loaded and any valid one
    /// certifies the same statement; hashing it (150 KiB for the 264k CNN) would cost ~10 ms
    /// on every prove and verify.
    pub fn digest(&self) -> String {
        let mut t = Transcript::new();
        t.absorb_bytes(b"zkml vk digest v2");
        t.absorb_bytes(&self.statement_bytes());
        (0..4)
            .map(|_| {
                format!(
                    "{:016x}",
                    p3_field::PrimeField64::as_canonical_u64(&t.sample_base())
                )
            })
            .collect()
    }
}

impl ProvingKey {
    /// Serialized key: magic, version, the quantized model (weights are recommitted on load).
    #[expect(
        clippy::expect_used,
        reason = "postcard fails only on types it cannot encode; a key has none"
    )]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = PK_MAGIC.to_vec();
        out.extend(postcard::to_allocvec(&(&self.model, &self.vk)).expect("pk serializes"));
        out
    }

    /// Parses a proving key file and recommits its weights; the result must match its vk,
    /// whose key proof is checked (not proven again).
    ///
    /// # Errors
    /// [`SetupError`] when the file is malformed, its weights do not match its commitment, or
    /// its key proof fails.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SetupError> {
        let body = crate::proof::strip_magic(bytes, PK_MAGIC, "proving key")?;
        let (model, vk): (QuantizedModel, VerifyingKey) =
            crate::proof::decode_all(body, "proving key")?;
        let mut pk = setup_unproven(model, &KeyTamper::default(), &mut |_| {})?;
        if pk.vk.statement_bytes() != vk.statement_bytes() {
            return Err(SetupError::KeyMismatch);
        }
        vk.check_key().map_err(FormatError::from)?;
        pk.vk = vk;
        Ok(pk)
    }
}

/// Whether `len` values are rows of `1..=most` values each, as many rows as `outer` says
/// (none or more than one; `zkml_model::softmax::rows_ok`).
fn rows_fit(outer: &[usize], len: usize, most: usize) -> bool {
    // (the product only once it is known not to overflow)
    zkml_model::softmax::rows_ok(outer) && {
        let rows = zkml_model::softmax::rows(outer);
        len.is_multiple_of(rows) && (1..=most).contains(&(len / rows))
    }
}

/// A softmax's exponential table: `2^bits` entries in `[0, 2^EXP_BITS]` from `2^EXP_BITS`.
fn exp_ok(exp: &[i64], bits: u32) -> bool {
    let one = 1i64 << zkml_model::softmax::EXP_BITS;
    exp.len() == 1 << bits && exp.first() == Some(&one) && exp.iter().all(|v| (0..=one).contains(v))
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
