//! Setup: the proving key (model, padded weights, weight commitment) and the verifying key
//! (architecture, scales, multipliers, weight commitment root), and their files.

use serde::{Deserialize, Serialize};
use zkml_model::{BatchDim, QuantLayer, QuantizedModel, ScaleMode};
use zkml_proof::field::{F, from_i64};
use zkml_proof::pcs::{self, CommitShape, Commitment, ProverData};
use zkml_proof::transcript::Transcript;

use crate::error::{FormatError, SetupError};
use crate::layout::pow2_vars;
use crate::ops::requant::check_layer_bounds;

/// One dense layer as the verifier knows it (no weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VkLayer {
    pub name: String,
    pub n_in: usize,
    pub n_out: usize,
    /// Per-row fixed-point multipliers `m_i`, `M_i = m_i / 2^32`.
    pub multiplier: Vec<i64>,
    pub relu: bool,
    pub out_scale: f64,
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
    /// Roots of the commitments to every weight and bias (see [`weight_groups`]).
    pub weight_commitments: Vec<Commitment>,
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

const PK_MAGIC: &[u8; 8] = b"ZKMLPK\0\x01";
const VK_MAGIC: &[u8; 8] = b"ZKMLVK\0\x01";

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
        return vec![all];
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

/// Quantized model -> keys. Commits to the weights once.
///
/// # Errors
/// [`SetupError`] when a layer's accumulator range does not fit the requantization argument,
/// or the layers do not chain.
pub fn setup(model: QuantizedModel) -> Result<ProvingKey, SetupError> {
    if model.layers.is_empty() {
        return Err(SetupError::EmptyModel);
    }
    if !(2..=16).contains(&model.bits) {
        return Err(SetupError::Bits { bits: model.bits });
    }
    model.validate()?;
    let mut expected_in = model.input_len();
    for QuantLayer::Dense(d) in &model.layers {
        if d.n_in != expected_in {
            return Err(SetupError::Chain {
                layer: d.name.clone(),
                expected: expected_in,
                got: d.n_in,
            });
        }
        check_layer_bounds(d, model.bits)?;
        expected_in = d.n_out;
    }
    let weights = padded_weights(&model);
    let columns: Vec<&Vec<F>> = weights.iter().flat_map(|(w, b)| [w, b]).collect();
    let vars: Vec<usize> = columns
        .iter()
        .map(|c| c.len().trailing_zeros() as usize)
        .collect();
    let mut weight_commitments = Vec::new();
    let mut weight_data = Vec::new();
    for group in weight_groups(&vars) {
        let cols = group.iter().map(|&i| columns[i].clone()).collect();
        let (c, d) = pcs::commit(cols, &mut Transcript::new())?;
        weight_commitments.push(c);
        weight_data.push(d);
    }
    let vk = VerifyingKey {
        bits: model.bits,
        scales: model.scales,
        batch: model.batch,
        input_shape: model.input_shape.clone(),
        input_scale: model.input_scale,
        layers: model
            .layers
            .iter()
            .map(|QuantLayer::Dense(d)| VkLayer {
                name: d.name.clone(),
                n_in: d.n_in,
                n_out: d.n_out,
                multiplier: d.multiplier.clone(),
                relu: d.relu,
                out_scale: d.out_scale,
            })
            .collect(),
        weight_commitments,
    };
    Ok(ProvingKey {
        model,
        vk,
        weights,
        weight_data,
    })
}

fn padded_weights(model: &QuantizedModel) -> Vec<(Vec<F>, Vec<F>)> {
    model
        .layers
        .iter()
        .map(|QuantLayer::Dense(d)| {
            let (o, i) = (1 << pow2_vars(d.n_out), 1 << pow2_vars(d.n_in));
            let mut w = vec![F::default(); o * i];
            for r in 0..d.n_out {
                for c in 0..d.n_in {
                    w[r * i + c] = from_i64(d.weight[r * d.n_in + c]);
                }
            }
            let mut b = vec![F::default(); o];
            for (r, &v) in d.bias.iter().enumerate() {
                b[r] = from_i64(v);
            }
            (w, b)
        })
        .collect()
}

impl VerifyingKey {
    /// Shape of the weight commitment: per layer, weights then bias.
    pub fn weight_vars(&self) -> Vec<usize> {
        self.layers
            .iter()
            .flat_map(|l| {
                let (o, i) = (pow2_vars(l.n_out), pow2_vars(l.n_in));
                [o + i, o]
            })
            .collect()
    }

    /// Shapes of the weight commitments, one per group of [`weight_groups`].
    pub fn weight_shapes(&self) -> Vec<CommitShape> {
        let vars = self.weight_vars();
        weight_groups(&vars)
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
        for (g, group) in weight_groups(&vars).iter().enumerate() {
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
            output_len: Some(self.output_len()),
        }
    }

    /// Real values of a quantized output row.
    pub fn dequantize_output(&self, yq: &[i64]) -> Vec<f32> {
        let scale = self.layers.last().map_or(1.0, |l| l.out_scale);
        yq.iter().map(|&v| (v as f64 * scale) as f32).collect()
    }

    /// Serialized key: magic, format version, postcard body.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = VK_MAGIC.to_vec();
        out.extend(postcard::to_allocvec(self).expect("vk serializes"));
        out
    }

    /// Parses a key file.
    ///
    /// # Errors
    /// [`FormatError`] on a wrong magic or version, a malformed body or trailing bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, FormatError> {
        let body = crate::proof::strip_magic(bytes, VK_MAGIC, "verifying key")?;
        let vk: Self = crate::proof::decode_all(body, "verifying key")?;
        vk.check_sane()?;
        Ok(vk)
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
        let mut n_in = self.input_len();
        for l in &self.layers {
            if l.n_in != n_in
                || l.n_out == 0
                || l.n_in == 0
                || l.n_in > 1 << 26
                || l.n_out > 1 << 26
            {
                return bad(format!("layer {} has an impossible shape", l.name));
            }
            if l.multiplier.len() != l.n_out
                || l.multiplier.iter().any(|&m| !(0..1 << 62).contains(&m))
            {
                return bad(format!("layer {} multipliers", l.name));
            }
            n_in = l.n_out;
        }
        Ok(())
    }

    /// A 256-bit digest of the whole key (Poseidon2 sponge over its bytes), hex.
    pub fn digest(&self) -> String {
        let mut t = Transcript::new();
        t.absorb_bytes(b"zkml vk digest");
        t.absorb_bytes(&self.to_bytes());
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
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = PK_MAGIC.to_vec();
        out.extend(postcard::to_allocvec(&(&self.model, &self.vk)).expect("pk serializes"));
        out
    }

    /// Parses a proving key file and recommits its weights; the result must match its vk.
    ///
    /// # Errors
    /// [`SetupError`] when the file is malformed or its weights do not match its commitment.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SetupError> {
        let body = crate::proof::strip_magic(bytes, PK_MAGIC, "proving key")?;
        let (model, vk): (QuantizedModel, VerifyingKey) =
            crate::proof::decode_all(body, "proving key")?;
        let pk = setup(model)?;
        if pk.vk != vk {
            return Err(SetupError::KeyMismatch);
        }
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
    }
}
