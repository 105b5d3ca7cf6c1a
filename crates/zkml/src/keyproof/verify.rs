//! The key verifier, run whenever a verifying key is loaded.

use p3_field::{Field, PrimeCharacteristicRing};
use zkml_proof::field::EF;
use zkml_proof::gkr::{self, LeafClaim};
use zkml_proof::mle::evaluate_padded;
use zkml_proof::pcs::{self, Claim};
use zkml_proof::transcript::Transcript;

use super::{KeyProof, KeyProofError, KeyShape, Seg, bind, real_mle, recompose};
use crate::keys::VerifyingKey;
use crate::tables::{Table, combine};

/// Claims on the weight commitments and the key witness, with their values.
struct Claims {
    weights: Vec<Vec<Claim>>,
    weight_values: Vec<Vec<EF>>,
    witness: Vec<Claim>,
    witness_values: Vec<EF>,
}

/// Verifies the key proof of `vk`. `vk` must have passed its sanity checks (its lengths are
/// trusted here); [`VerifyingKey::from_bytes`] runs both.
///
/// # Errors
/// [`KeyProofError`] naming the failed check: the proof's shape, a table's lookups that do not
/// balance, the GKR reduction, a lookup leaf, a bias identity, or an opening.
///
/// # Soundness
/// Success means every committed weight is in `[-2^(bits-1), 2^(bits-1))` with zero padding
/// and every bias within its row's bound `|b| <= 2^B - 1`. The caller must still check the derived accumulator bound
/// ([`crate::ops::requant::check_derived_bounds`]).
pub fn verify(vk: &VerifyingKey, proof: &KeyProof) -> Result<(), KeyProofError> {
    let shape = KeyShape::new(vk);
    check_shape(vk, &shape, proof)?;
    let mut t = Transcript::new();
    bind(&mut t, vk);
    let witness_shape = shape.witness_shape();
    pcs::observe(&witness_shape, &proof.witness_commitment, &mut t);
    let (beta, gamma, alpha) = (t.sample(), t.sample(), t.sample());
    check_table_sums(&shape, proof)?;
    let leaves =
        gkr::verify(&shape.segment_vars(), &proof.lookup, &mut t).map_err(KeyProofError::Lookup)?;
    let mut claims = Claims {
        weights: vec![Vec::new(); vk.weight_commitments.len()],
        weight_values: vec![Vec::new(); vk.weight_commitments.len()],
        witness: Vec::new(),
        witness_values: Vec::new(),
    };
    let locations = vk.weight_locations();
    check_leaves(
        &shape,
        proof,
        &leaves,
        [alpha, beta, gamma],
        &locations,
        &mut claims,
    )?;
    t.absorb_ext(&proof.weight_evals);
    t.absorb_ext(&proof.limb_evals);
    t.absorb_ext(&proof.mult_evals);

    check_biases(vk, &shape, proof, &locations, &mut t, &mut claims)?;

    let shapes = vk.weight_shapes();
    let groups = shapes.iter().zip(&vk.weight_commitments);
    for (g, ((shape, c), opening)) in groups.zip(&proof.weight_openings).enumerate() {
        let (claims, values) = (&claims.weights[g], &claims.weight_values[g]);
        pcs::verify(shape, c, claims, values, opening, &mut t)
            .map_err(KeyProofError::WeightOpening)?;
    }
    pcs::verify(
        &witness_shape,
        &proof.witness_commitment,
        &claims.witness,
        &claims.witness_values,
        &proof.witness_opening,
        &mut t,
    )
    .map_err(KeyProofError::WitnessOpening)
}

/// Per layer: samples the random point and checks both bias identities there, then queues the
/// claims on the bias and its limbs.
fn check_biases(
    vk: &VerifyingKey,
    shape: &KeyShape,
    proof: &KeyProof,
    locations: &[(usize, usize)],
    t: &mut Transcript,
    claims: &mut Claims,
) -> Result<(), KeyProofError> {
    for (i, kl) in shape.layers.iter().enumerate() {
        let r = t.sample_vec(kl.bias_vars);
        let (bias, limbs) = (proof.bias_evals[i], &proof.bias_limb_evals[i]);
        t.absorb_ext(&[bias]);
        t.absorb_ext(limbs);
        let m = evaluate_padded(&kl.bias_max(), &r);
        let (plus, minus) = limbs.split_at(kl.limbs());
        if bias + m != recompose(plus) || m - bias != recompose(minus) {
            return Err(KeyProofError::BiasIdentity {
                layer: vk.layers[kl.layer].name.clone(),
            });
        }
        let (group, column) = locations[kl.column + 1];
        claims.weights[group].push(Claim {
            column,
            point: r.clone(),
        });
        claims.weight_values[group].push(bias);
        for (k, &v) in limbs.iter().enumerate() {
            let column = shape.limb_column(i, k);
            let point = r.clone();
            claims.witness.push(Claim { column, point });
            claims.witness_values.push(v);
        }
    }
    Ok(())
}

/// Checks every length of the proof against the key before anything is read.
fn check_shape(vk: &VerifyingKey, shape: &KeyShape, proof: &KeyProof) -> Result<(), KeyProofError> {
    let check = |what, expected: usize, got: usize| match expected == got {
        true => Ok(()),
        false => Err(KeyProofError::Shape {
            what,
            expected,
            got,
        }),
    };
    let layers = shape.layers.len();
    check("weight evaluations", layers, proof.weight_evals.len())?;
    check(
        "limb evaluations",
        shape.limb_segments(),
        proof.limb_evals.len(),
    )?;
    check(
        "table evaluations",
        Table::KEY.len(),
        proof.mult_evals.len(),
    )?;
    check("bias evaluations", layers, proof.bias_evals.len())?;
    check("bias limb lists", layers, proof.bias_limb_evals.len())?;
    for (kl, limbs) in shape.layers.iter().zip(&proof.bias_limb_evals) {
        check("bias limbs", 2 * kl.limbs(), limbs.len())?;
    }
    check(
        "weight openings",
        vk.weight_commitments.len(),
        proof.weight_openings.len(),
    )?;
    let segments = shape.segments.len() + Table::KEY.len();
    check("lookup roots", segments, proof.lookup.roots.len())
}

/// Each table's lookups must balance on their own (the GKR checks only the total): a failure
/// here names the table whose lookups left its range. Skipped for a zero denominator, which
/// [`gkr::verify`] refuses.
fn check_table_sums(shape: &KeyShape, proof: &KeyProof) -> Result<(), KeyProofError> {
    let n = shape.segments.len();
    for (index, table) in Table::KEY.into_iter().enumerate() {
        let mut sum = EF::ZERO;
        for (k, &(p, q)) in proof.lookup.roots.iter().enumerate() {
            let of_table = match shape.segments.get(k) {
                Some(Seg::Weight(_)) => table == Table::Weight,
                Some(Seg::Limb { .. }) => table == Table::Limb,
                None => k - n == index,
            };
            if of_table {
                let Some(inv) = q.try_inverse() else {
                    return Ok(());
                };
                sum += p * inv;
            }
        }
        if sum != EF::ZERO {
            return Err(match table {
                Table::Weight => KeyProofError::WeightRange,
                _ => KeyProofError::BiasRange,
            });
        }
    }
    Ok(())
}

/// Checks every GKR leaf against the claimed column values and the public MLEs (padding
/// indicator, tables), and queues the claims on the committed columns.
fn check_leaves(
    shape: &KeyShape,
    proof: &KeyProof,
    leaves: &[LeafClaim],
    [alpha, beta, gamma]: [EF; 3],
    locations: &[(usize, usize)],
    claims: &mut Claims,
) -> Result<(), KeyProofError> {
    let (mut weights, mut limbs) = (proof.weight_evals.iter(), proof.limb_evals.iter());
    for (segment, (&s, leaf)) in shape.segments.iter().zip(leaves).enumerate() {
        let bad = || KeyProofError::LookupLeaf { segment };
        let den = match s {
            Seg::Weight(i) => {
                let kl = &shape.layers[i];
                let &w = weights.next().ok_or_else(bad)?;
                let pad = EF::ONE - real_mle(&kl.dims, &leaf.point);
                let (group, column) = locations[kl.column];
                claims.weights[group].push(Claim {
                    column,
                    point: leaf.point.clone(),
                });
                claims.weight_values[group].push(w);
                combine(Table::Weight, w, pad, beta, gamma)
            }
            Seg::Limb { i, k } => {
                let &v = limbs.next().ok_or_else(bad)?;
                claims.witness.push(Claim {
                    column: shape.limb_column(i, k),
                    point: leaf.point.clone(),
                });
                claims.witness_values.push(v);
                combine(Table::Limb, v, EF::ZERO, beta, gamma)
            }
        };
        if leaf.num != -EF::ONE || leaf.den != alpha - den {
            return Err(bad());
        }
    }
    let n = shape.segments.len();
    for (k, (table, leaf)) in Table::KEY.iter().zip(&leaves[n..]).enumerate() {
        let (x, s) = table.eval(shape.bits, &leaf.point, &[]);
        let mult = proof.mult_evals[k];
        if leaf.num != mult || leaf.den != alpha - combine(*table, x, s, beta, gamma) {
            return Err(KeyProofError::LookupLeaf { segment: n + k });
        }
        claims.witness.push(Claim {
            column: k,
            point: leaf.point.clone(),
        });
        claims.witness_values.push(mult);
    }
    Ok(())
}
