//! The whole-model verifier. Reads untrusted proofs: checks every length against the key
//! before use, never panics, and names what failed.

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml_model::BatchDim;
use zkml_proof::field::{EF, F};
use zkml_proof::gkr;
use zkml_proof::mle::evaluate;
use zkml_proof::pcs;
use zkml_proof::transcript::Transcript;

use crate::error::VerifyError;
use crate::keys::VerifyingKey;
use crate::layout::{Col, Layout};
use crate::ops::{VerifyCx, requant};
use crate::proof::Proof;
use crate::statement::{Claims, Fork, Public, bind};
use crate::tables::combine;

/// The most samples one proof may carry.
pub const MAX_SAMPLES: usize = 1 << 20;

/// Verifies `proof` against `vk`. On success returns the quantized outputs, one row per sample.
///
/// # Errors
/// [`VerifyError`] naming the first check that failed.
pub fn verify(vk: &VerifyingKey, proof: &Proof) -> Result<Vec<Vec<i64>>, VerifyError> {
    verify_in(vk, proof, &mut Transcript::new())
}

/// [`verify`], also returning every challenge it sampled (see [`Transcript::recorded`]):
/// transcript-binding tests.
#[doc(hidden)]
pub fn verify_recording(
    vk: &VerifyingKey,
    proof: &Proof,
) -> (Result<Vec<Vec<i64>>, VerifyError>, Vec<EF>) {
    let mut t = Transcript::recording();
    let result = verify_in(vk, proof, &mut t);
    (result, t.recorded())
}

fn verify_in(
    vk: &VerifyingKey,
    proof: &Proof,
    t: &mut Transcript,
) -> Result<Vec<Vec<i64>>, VerifyError> {
    let key = vk.digest();
    if proof.key_digest != key {
        let proof = proof.key_digest.chars().take(64).collect();
        return Err(VerifyError::WrongKey { proof, key });
    }
    let layout = check_shape(vk, proof)?;
    bind(t, vk, &key, proof.num_samples, &proof.input, &proof.output);
    pcs::observe(&layout.commit_shape(), &proof.witness_commitment, t);
    let public = Public::new(&layout, &proof.input, &proof.output);
    // the lookups and the layers on forks of the transcript, at once (PROTOCOL, "Forks")
    let lookups = |t: &Transcript| {
        let (mut claims, mut t) = (Claims::new(vk), t.fork(Fork::LOOKUPS));
        let checked = verify_lookups(&layout, proof, &public, &mut claims, &mut t);
        (checked.map(|()| claims), t)
    };
    let layers = |t: &Transcript| {
        let (mut claims, mut t) = (Claims::new(vk), t.fork(Fork::LAYERS));
        let mut checked = Ok(());
        for (l, (shape, lp)) in layout.layers.iter().zip(&proof.layers).enumerate() {
            let cx = VerifyCx {
                l,
                layout: &layout,
                shape,
                public: &public,
                multiplier: &vk.layers[l].multiplier,
            };
            checked = shape.op.kind().verify(&cx, lp, &mut claims, &mut t);
            if checked.is_err() {
                break;
            }
        }
        (checked.map(|()| claims), t)
    };
    let ((lookup_claims, lookups_t), (layer_claims, layers_t)) =
        rayon::join(|| lookups(t), || layers(t));
    // the errors in order, the lookups' first; a failed fork's challenges end the recording
    let mut claims = match lookup_claims {
        Ok(claims) => claims,
        Err(e) => {
            t.keep_log(lookups_t);
            return Err(e);
        }
    };
    t.join(lookups_t);
    match layer_claims {
        Ok(more) => claims.append(more),
        Err(e) => {
            t.keep_log(layers_t);
            return Err(e);
        }
    }
    t.join(layers_t);
    // each opening on its own fork of the transcript, all at once (PROTOCOL step 13); the
    // errors in order: the witness's, then the weights' group by group
    let shapes = vk.weight_shapes();
    let (witness, weights) = rayon::join(
        || {
            let (claims, values) = (&claims.witness, &claims.witness_values);
            let (commitment, opening) = (&proof.witness_commitment, &proof.witness_opening);
            pcs::verify(
                &layout.commit_shape(),
                commitment,
                claims,
                values,
                opening,
                &mut t.fork(Fork::WITNESS_OPENING),
            )
        },
        || {
            (shapes.par_iter().zip(&vk.weight_commitments))
                .zip(&proof.weight_openings)
                .enumerate()
                .map(|(g, ((shape, commitment), opening))| {
                    let (claims, values) = (&claims.weights[g], &claims.weight_values[g]);
                    pcs::verify(
                        shape,
                        commitment,
                        claims,
                        values,
                        opening,
                        &mut t.fork(Fork::weight_opening(g)),
                    )
                })
                .collect::<Vec<_>>()
        },
    );
    witness.map_err(VerifyError::WitnessOpening)?;
    if let Some(columns) = vk.public_columns() {
        check_public_weights(vk, &columns, &claims)?;
    }
    for result in weights {
        result.map_err(VerifyError::WeightOpening)?;
    }
    Ok(proof.outputs())
}

/// Checks every claim on the weights of a public-weights key by evaluating the claimed
/// column's MLE (`columns`: the key's padded weight and bias columns).
///
/// # Errors
/// [`VerifyError::PublicWeights`] naming the first column whose claim is wrong.
fn check_public_weights(
    vk: &VerifyingKey,
    columns: &[(Vec<F>, Vec<F>)],
    claims: &Claims,
) -> Result<(), VerifyError> {
    let flat: Vec<&[F]> = columns.iter().flat_map(|(w, b)| [&w[..], &b[..]]).collect();
    for (g, group) in vk.weight_groups.iter().enumerate() {
        for (claim, &value) in claims.weights[g].iter().zip(&claims.weight_values[g]) {
            let column = group[claim.column];
            let holds = flat.get(column).is_some_and(|c| {
                c.len() == 1 << claim.point.len() && evaluate(c, &claim.point) == value
            });
            if !holds {
                return Err(VerifyError::PublicWeights { column });
            }
        }
    }
    Ok(())
}

/// Checks that the proof's public input is the quantization of the float input in `json`
/// (the input file format of `prove`). Call after [`verify`] succeeded.
///
/// # Errors
/// [`VerifyError::InputFile`] when the file does not parse, [`VerifyError::InputMismatch`]
/// naming the first value that differs.
pub fn check_input(vk: &VerifyingKey, proof: &Proof, json: &str) -> Result<(), VerifyError> {
    let inputs = zkml_model::parse_inputs(json, &vk.input_spec())
        .map_err(|e| VerifyError::InputFile { why: e.to_string() })?;
    if inputs.samples.len() != proof.num_samples {
        return Err(VerifyError::InputFile {
            why: format!(
                "{} samples in the file, {} in the proof",
                inputs.samples.len(),
                proof.num_samples
            ),
        });
    }
    for (sample, (x, proven)) in inputs
        .samples
        .iter()
        .zip(proof.input.chunks(vk.input_len().max(1)))
        .enumerate()
    {
        let x = zkml_model::graph::permute(x, &vk.input_shape, &vk.input_perm);
        let q = zkml_model::quantize_values(&x, vk.input_scale, vk.bits);
        if let Some(index) = q.iter().zip(proven).position(|(a, b)| a != b) {
            return Err(VerifyError::InputMismatch { sample, index });
        }
    }
    Ok(())
}

/// Checks every length in the proof against the key and the public values' ranges.
fn check_shape(vk: &VerifyingKey, proof: &Proof) -> Result<Layout, VerifyError> {
    let shape = |what, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(VerifyError::Shape {
                what,
                expected,
                got,
            })
        }
    };
    let n = proof.num_samples;
    if n == 0 || n > MAX_SAMPLES {
        return Err(VerifyError::Shape {
            what: "number of samples",
            expected: MAX_SAMPLES.min(n.max(1)),
            got: n,
        });
    }
    if let BatchDim::Fixed(b) = vk.batch
        && b > 1
    {
        shape("number of samples", b, n)?;
    }
    shape("input length", n * vk.input_len(), proof.input.len())?;
    shape(
        "output length",
        n.next_power_of_two() * vk.output_len(),
        proof.output.len(),
    )?;
    let (lo, hi) = requant::range(false, vk.bits);
    for (which, data) in [("input", &proof.input), ("output", &proof.output)] {
        if let Some((index, &value)) = data
            .iter()
            .enumerate()
            .find(|(_, v)| !(lo..=hi).contains(*v))
        {
            return Err(VerifyError::PublicRange {
                which,
                index,
                value,
                bits: vk.bits,
            });
        }
    }
    let layout = Layout::new(vk, n);
    shape("number of layers", layout.layers.len(), proof.layers.len())?;
    // none for a public-weights key
    let groups = match vk.public_weights {
        Some(_) => 0,
        None => vk.weight_shapes().len(),
    };
    shape(
        "number of weight commitments",
        groups,
        vk.weight_commitments.len(),
    )?;
    shape(
        "number of weight openings",
        groups,
        proof.weight_openings.len(),
    )?;
    let lookups = layout.lookups();
    let expected_evals = lookups
        .iter()
        .map(|lk| 1 + usize::from(lk.b.is_some()))
        .sum();
    shape(
        "lookup evaluations",
        expected_evals,
        proof.lookup_evals.len(),
    )?;
    shape(
        "table evaluations",
        layout.tables().len(),
        proof.table_evals.len(),
    )?;
    Ok(layout)
}

fn verify_lookups(
    layout: &Layout,
    proof: &Proof,
    public: &Public,
    claims: &mut Claims,
    t: &mut Transcript,
) -> Result<(), VerifyError> {
    let (beta, gamma, alpha) = (t.sample(), t.sample(), t.sample());
    // the segments are packed into power-of-two blocks, one GKR tree each (`gkr::pack`)
    let segment_vars = layout.segment_vars();
    let groups = layout.lookup_groups();
    let group_vars: Vec<usize> = groups.iter().map(|g| g.vars).collect();
    let leaves = gkr::verify(&group_vars, &proof.lookup, t)?;
    let block_points: Vec<Vec<EF>> = leaves.iter().map(|leaf| leaf.point.clone()).collect();
    let members = gkr::unpack(&groups, &segment_vars, &block_points);
    // every segment's leaf values `(num, den)` at its point, from the claimed evaluations
    // (their counts are checked with the proof's shape)
    let lookups = layout.lookups();
    let tables = layout.tables();
    let mut evals = proof.lookup_evals.iter().copied();
    let mut values: Vec<(EF, EF)> = Vec::with_capacity(segment_vars.len());
    let mut firsts = Vec::with_capacity(lookups.len());
    for lk in &lookups {
        let a = evals.next().unwrap_or_default();
        let b = lk.b.map(|_| evals.next().unwrap_or_default());
        values.push((
            -EF::ONE,
            alpha - combine(lk.table, a, b.unwrap_or_default(), beta, gamma),
        ));
        firsts.push((a, b));
    }
    for ((&table, (_, point)), &mult) in (tables.iter())
        .zip(&members[lookups.len()..])
        .zip(&proof.table_evals)
    {
        let (x, s) = layout.table_eval(table, point);
        values.push((mult, alpha - combine(table, x, s, beta, gamma)));
    }
    // each block's leaf is its members' values, weighted by their places
    for (group, (block, leaf)) in groups.iter().zip(&leaves).enumerate() {
        let (num, den) = (block.members.iter()).fold((EF::ZERO, EF::ZERO), |(n, d), &(k, _)| {
            let (weight, (num, den)) = (members[k].0, values[k]);
            (n + weight * num, d + weight * den)
        });
        if leaf.num != num || leaf.den != den {
            return Err(VerifyError::LookupLeaf { group });
        }
    }
    for (lk, ((a, b), (_, point))) in lookups.iter().zip(firsts.into_iter().zip(&members)) {
        let a = a - layout.shift(lk, lk.a, point);
        claims.column(layout, public, lk.a, point.clone(), a)?;
        if let (Some(col), Some(b)) = (lk.b, b) {
            let b = b - layout.unfill(lk, col, point);
            claims.column(layout, public, col, point.clone(), b)?;
        }
    }
    for ((table, (_, point)), &mult) in tables
        .into_iter()
        .zip(&members[lookups.len()..])
        .zip(&proof.table_evals)
    {
        claims.column(layout, public, Col::Mult(table), point.clone(), mult)?;
    }
    t.absorb_ext(&proof.lookup_evals);
    t.absorb_ext(&proof.table_evals);
    Ok(())
}
