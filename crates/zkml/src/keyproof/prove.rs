//! The key prover, run once by setup.

use p3_field::{PrimeCharacteristicRing, PrimeField64};
use zkml_proof::field::{EF, F, to_i64};
use zkml_proof::gkr::{self, LeafClaim, Segment};
use zkml_proof::mle::evaluate;
use zkml_proof::pcs::{self, Claim, PcsError, ProverData};
use zkml_proof::transcript::Transcript;

use super::{KeyProof, KeyShape, Seg, bind};
use crate::keys::VerifyingKey;
use crate::layout::padded_index;
use crate::tables::{LIMB_BITS, Table, combine};

/// Per layer with weights: the padded weight column and the padded bias column.
pub type WeightColumns = [(Vec<F>, Vec<F>)];

/// Rewrites of setup's data before it is committed or proven, so that tests can build the key
/// of a cheating setup (not part of the stable API). Each runs at its step of setup.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct KeyTamper {
    /// The padded `(weights, bias)` columns of every layer, before the weight commitment.
    pub columns: fn(&mut WeightColumns),
    /// The verifying key, after the weight commitment and before the key proof.
    pub vk: fn(&mut VerifyingKey),
    /// The bias limbs of every layer (`[layer][limb]`: `K` limbs of `b + M`, then `K` of
    /// `M - b`), before the multiplicities are counted.
    pub limbs: fn(&mut [Vec<Vec<F>>]),
    /// The multiplicity columns of [`Table::KEY`], before the key witness is committed.
    pub mults: fn(&mut [Vec<F>]),
}

impl Default for KeyTamper {
    fn default() -> Self {
        Self {
            columns: |_| {},
            vk: |_| {},
            limbs: |_| {},
            mults: |_| {},
        }
    }
}

/// Proves `vk`'s key proof from the padded weight columns (per layer with weights: weights,
/// bias) and the prover data of its weight commitments. The key proof field of `vk` is ignored.
///
/// A key whose columns are out of range gets a proof that [`super::verify`] refuses.
///
/// # Errors
/// [`PcsError`] when the key witness cannot be committed or an opening fails.
pub fn prove(
    vk: &VerifyingKey,
    weights: &WeightColumns,
    weight_data: &[ProverData],
    tamper: &KeyTamper,
) -> Result<KeyProof, PcsError> {
    let shape = KeyShape::new(vk);
    let mut t = Transcript::new();
    bind(&mut t, vk);
    let mut limbs: Vec<Vec<Vec<F>>> = shape
        .layers
        .iter()
        .zip(weights)
        .map(|(kl, (_, b))| bias_limbs(b, &kl.bias_max(), kl.limbs()))
        .collect();
    (tamper.limbs)(&mut limbs);
    let mut mults = multiplicities(&shape, weights, &limbs);
    (tamper.mults)(&mut mults);
    let mut columns = mults.clone();
    columns.extend(limbs.iter().flatten().cloned());
    let (witness_commitment, witness_data) = pcs::commit(columns, &mut t)?;
    let challenges = [t.sample(), t.sample(), t.sample()];
    let segments = gkr_segments(&shape, weights, &limbs, &mults, challenges);
    let (lookup, leaves) = gkr::prove(segments, &mut t);

    let data = Data {
        shape: &shape,
        locations: vk.weight_locations(),
        weights,
        limbs: &limbs,
    };
    let mut claims = Claims {
        weights: vec![Vec::new(); vk.weight_commitments.len()],
        witness: Vec::new(),
    };
    let [weight_evals, limb_evals, mult_evals] = data.leaf_evals(&leaves, &mut claims);
    t.absorb_ext(&weight_evals);
    t.absorb_ext(&limb_evals);
    t.absorb_ext(&mult_evals);
    let (bias_evals, bias_limb_evals) = data.bias_evals(&mut t, &mut claims);

    let mut weight_openings = Vec::with_capacity(weight_data.len());
    for (data, claims) in weight_data.iter().zip(&claims.weights) {
        weight_openings.push(pcs::open(data.clone(), claims, &mut t)?.1);
    }
    let (_, witness_opening) = pcs::open(witness_data, &claims.witness, &mut t)?;
    Ok(KeyProof {
        witness_commitment,
        lookup,
        weight_evals,
        limb_evals,
        mult_evals,
        bias_evals,
        bias_limb_evals,
        weight_openings,
        witness_opening,
    })
}

/// Claims on the weight commitments (per group) and on the key witness, in proof order.
struct Claims {
    weights: Vec<Vec<Claim>>,
    witness: Vec<Claim>,
}

/// What the claims are made on.
struct Data<'a> {
    shape: &'a KeyShape,
    /// `(group, column in group)` of every weight column.
    locations: Vec<(usize, usize)>,
    weights: &'a WeightColumns,
    limbs: &'a [Vec<Vec<F>>],
}

impl Data<'_> {
    /// The columns' values at their GKR leaves (weights, limbs, multiplicities), with claims.
    fn leaf_evals(&self, leaves: &[LeafClaim], claims: &mut Claims) -> [Vec<EF>; 3] {
        let (mut weight_evals, mut limb_evals) = (Vec::new(), Vec::new());
        for (&s, leaf) in self.shape.segments.iter().zip(leaves) {
            let point = leaf.point.clone();
            match s {
                Seg::Weight(i) => {
                    let (group, column) = self.locations[self.shape.layers[i].column];
                    weight_evals.push(evaluate(&self.weights[i].0, &point));
                    claims.weights[group].push(Claim { column, point });
                }
                Seg::Limb { i, k } => {
                    limb_evals.push(evaluate(&self.limbs[i][k], &point));
                    let column = self.shape.limb_column(i, k);
                    claims.witness.push(Claim { column, point });
                }
            }
        }
        let tables = &leaves[self.shape.segments.len()..];
        for (column, leaf) in tables.iter().enumerate() {
            let point = leaf.point.clone();
            claims.witness.push(Claim { column, point });
        }
        let mult_evals = tables.iter().map(|leaf| leaf.num).collect();
        [weight_evals, limb_evals, mult_evals]
    }

    /// Per layer: a random point, the bias and its limbs there (absorbed), with claims.
    fn bias_evals(&self, t: &mut Transcript, claims: &mut Claims) -> (Vec<EF>, Vec<Vec<EF>>) {
        let (mut bias_evals, mut bias_limb_evals) = (Vec::new(), Vec::new());
        for (i, kl) in self.shape.layers.iter().enumerate() {
            let r = t.sample_vec(kl.bias_vars);
            let bias = evaluate(&self.weights[i].1, &r);
            let evals: Vec<EF> = self.limbs[i].iter().map(|l| evaluate(l, &r)).collect();
            t.absorb_ext(&[bias]);
            t.absorb_ext(&evals);
            bias_evals.push(bias);
            bias_limb_evals.push(evals);
            let (group, column) = self.locations[kl.column + 1];
            claims.weights[group].push(Claim {
                column,
                point: r.clone(),
            });
            for k in 0..2 * kl.limbs() {
                let column = self.shape.limb_column(i, k);
                let point = r.clone();
                claims.witness.push(Claim { column, point });
            }
        }
        (bias_evals, bias_limb_evals)
    }
}

/// Every GKR segment: the lookups, then the tables with their multiplicities.
fn gkr_segments(
    shape: &KeyShape,
    weights: &WeightColumns,
    limbs: &[Vec<Vec<F>>],
    mults: &[Vec<F>],
    [beta, gamma, alpha]: [EF; 3],
) -> Vec<Segment> {
    let mut segments: Vec<Segment> = shape
        .segments
        .iter()
        .map(|&s| lookup_segment(shape, s, weights, limbs, [alpha, beta, gamma]))
        .collect();
    for (table, mult) in Table::KEY.iter().zip(mults) {
        let den = table
            .rows(shape.bits, &[])
            .iter()
            .map(|&(x, s)| alpha - combine(*table, x.into(), s.into(), beta, gamma))
            .collect();
        segments.push(Segment {
            num: mult.clone(),
            den,
        });
    }
    segments
}

/// Limbs of `b + M` then of `M - b` per bias cell: bytes, the top limb taking the rest (so a
/// bias out of range keeps the identities and fails the range lookup instead).
fn bias_limbs(bias: &[F], bias_max: &[F], n: usize) -> Vec<Vec<F>> {
    let mut limbs = vec![vec![F::ZERO; bias.len()]; 2 * n];
    for (j, (&b, &m)) in bias.iter().zip(bias_max).enumerate() {
        for (half, v) in [(0, b + m), (n, m - b)] {
            let v = v.as_canonical_u64();
            for k in 0..n {
                let part = v >> (LIMB_BITS as usize * k);
                let part = if k + 1 == n { part } else { part & 0xff };
                limbs[half + k][j] = F::from_u64(part);
            }
        }
    }
    limbs
}

/// Multiplicities of the lookups in [`Table::KEY`]; values outside a table are not counted
/// (their proof fails).
fn multiplicities(shape: &KeyShape, weights: &WeightColumns, limbs: &[Vec<Vec<F>>]) -> Vec<Vec<F>> {
    let bits = shape.bits;
    let (lo, hi) = (-(1i64 << (bits - 1)), 1i64 << (bits - 1));
    let mut counts: Vec<Vec<u64>> = Table::KEY
        .iter()
        .map(|t| vec![0; 1 << t.num_vars(bits)])
        .collect();
    for (kl, (w, _)) in shape.layers.iter().zip(weights) {
        let mut real = vec![false; w.len()];
        for j in 0..kl.dims.iter().product() {
            if let Some(slot) = real.get_mut(padded_index(&kl.dims, j)) {
                *slot = true;
            }
        }
        for (&x, &is_real) in w.iter().zip(&real) {
            let v = to_i64(x);
            let row = match is_real {
                true if (lo..hi).contains(&v) => Some(Table::Weight.index_of(bits, v)),
                false if x == F::ZERO => Some(Table::pad_row(bits)),
                _ => None,
            };
            if let Some(row) = row {
                counts[0][row] += 1;
            }
        }
    }
    for &s in &shape.segments {
        if let Seg::Limb { i, k } = s {
            for &x in &limbs[i][k] {
                let v = x.as_canonical_u64();
                if v < 1 << LIMB_BITS {
                    counts[1][v as usize] += 1;
                }
            }
        }
    }
    counts
        .into_iter()
        .map(|c| c.into_iter().map(F::from_u64).collect())
        .collect()
}

/// The segment of one lookup: numerators `-1`, denominators `alpha - combined pair`.
fn lookup_segment(
    shape: &KeyShape,
    s: Seg,
    weights: &WeightColumns,
    limbs: &[Vec<Vec<F>>],
    [alpha, beta, gamma]: [EF; 3],
) -> Segment {
    let den: Vec<EF> = match s {
        Seg::Weight(i) => {
            let kl = &shape.layers[i];
            let w = &weights[i].0;
            let mut pad = vec![EF::ONE; w.len()];
            for j in 0..kl.dims.iter().product() {
                if let Some(slot) = pad.get_mut(padded_index(&kl.dims, j)) {
                    *slot = EF::ZERO;
                }
            }
            w.iter()
                .zip(&pad)
                .map(|(&x, &p)| alpha - combine(Table::Weight, x.into(), p, beta, gamma))
                .collect()
        }
        Seg::Limb { i, k } => limbs[i][k]
            .iter()
            .map(|&x| alpha - combine(Table::Limb, x.into(), EF::ZERO, beta, gamma))
            .collect(),
    };
    Segment {
        num: vec![-F::ONE; den.len()],
        den,
    }
}
