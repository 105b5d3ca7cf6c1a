//! The whole-model prover.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use p3_field::PrimeCharacteristicRing;
use rayon::prelude::*;
use zkml_model::BatchDim;
use zkml_proof::field::{EF, F, from_i64};
use zkml_proof::gkr::{self, Segment};
use zkml_proof::mle::evaluate;
use zkml_proof::pcs::{self, ProverData};
use zkml_proof::transcript::Transcript;

use crate::cheat::{Cheat, Hook, Msg};
use crate::error::ProveError;
use crate::keys::ProvingKey;
use crate::layout::{Col, Layout, Lookup, dims_vars, pow2_vars, real_mask};
use crate::ops::{ProveCx, requant};
use crate::proof::Proof;
use crate::statement::{Claims, Fork, Public, bind};
use crate::tables::combine;
use crate::witness::{Witness, generate};

/// Openings of at most this many committed cells in all run at once (the 5x100 MLP's:
/// 2^16 + 2^13; the 264k CNN's 2^20 and more run one after the other).
const AT_ONCE_CELLS: usize = 1 << 18;

/// Time spent per phase of one proof.
#[derive(Clone, Debug, Default)]
pub struct ProveTimings {
    pub phases: Vec<(&'static str, Duration)>,
}

/// Proves that the model maps each of `inputs` (quantized samples) to its output.
///
/// # Errors
/// [`ProveError`] when the inputs do not fit the model.
pub fn prove(pk: &ProvingKey, inputs: &[Vec<i64>]) -> Result<Proof, ProveError> {
    prove_with_progress(pk, inputs, &mut |_| {}).map(|(p, _)| p)
}

/// [`prove`], calling `progress` with each phase's name as it starts; returns the timings.
///
/// # Errors
/// [`ProveError`] when the inputs do not fit the model.
pub fn prove_with_progress(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    progress: &mut dyn FnMut(&'static str),
) -> Result<(Proof, ProveTimings), ProveError> {
    prove_inner(pk, inputs, progress, None, None)
}

/// [`prove_with_progress`] for a key used once: its weight commitments' prover data is opened
/// as it is instead of being copied first (VGG-16's is about 1 GB).
///
/// # Errors
/// [`ProveError`] when the inputs do not fit the model.
pub fn prove_once(
    mut pk: ProvingKey,
    inputs: &[Vec<i64>],
    progress: &mut dyn FnMut(&'static str),
) -> Result<(Proof, ProveTimings), ProveError> {
    let weight_data = std::mem::take(&mut pk.weight_data);
    prove_inner(&pk, inputs, progress, None, Some(weight_data))
}

/// A prover that lets a test rewrite the witness before anything is committed: the way to
/// show that the verifier refuses a cheating prover.
#[doc(hidden)]
pub fn prove_tampered(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    tamper: &dyn Fn(&mut Witness),
) -> Result<Proof, ProveError> {
    let cheat = Cheat {
        witness: Some(tamper),
        ..Cheat::default()
    };
    prove_cheating(pk, inputs, &cheat)
}

/// The real prover deviating as `cheat` says (see [`crate::cheat`]): soundness tests.
#[doc(hidden)]
pub fn prove_cheating(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    cheat: &Cheat<'_>,
) -> Result<Proof, ProveError> {
    prove_inner(pk, inputs, &mut |_| {}, Some(cheat), None).map(|(p, _)| p)
}

fn prove_inner(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    progress: &mut dyn FnMut(&'static str),
    cheat: Option<&Cheat<'_>>,
    // the key's weight prover data when the caller gives it up (else each group is cloned)
    weight_data: Option<Vec<ProverData>>,
) -> Result<(Proof, ProveTimings), ProveError> {
    check_inputs(pk, inputs)?;
    let mut timings = ProveTimings::default();
    let mut clock = Instant::now();
    let mut phase = |name: &'static str, timings: &mut ProveTimings| {
        if let Some(last) = timings.phases.last_mut() {
            last.1 = clock.elapsed();
        }
        clock = Instant::now();
        progress(name);
        timings.phases.push((name, Duration::ZERO));
    };
    let vk = &pk.vk;
    phase("inference", &mut timings);
    let layout = Layout::new(vk, inputs.len());
    // a cheating prover may follow other windows than the stated key's (same shapes)
    let op_layout = cheat
        .and_then(|c| c.prover_vk)
        .map(|v| Layout::new(v, inputs.len()));
    let op_layout = op_layout.as_ref().unwrap_or(&layout);
    let mut w = generate(&pk.model, op_layout, inputs);
    if let Some(tamper) = cheat.and_then(|c| c.witness) {
        tamper(&mut w);
    }
    let input: Vec<i64> = inputs.concat();
    let recording = cheat.and_then(|c| c.challenges);
    let mut t = match recording {
        Some(_) => Transcript::recording(),
        None => Transcript::new(),
    };
    let key_digest = vk.digest();
    bind(&mut t, vk, &key_digest, inputs.len(), &input, &w.output);

    phase("commit", &mut timings);
    let columns: Vec<Vec<F>> = layout
        .columns
        .iter()
        .map(|&c| column(&w, c).to_vec())
        .collect();
    let (witness_commitment, witness_data) = pcs::commit(columns, &mut t)?;

    // the lookups and the layers on forks of the transcript, at once (PROTOCOL, "Forks"):
    // the statement and the witness commitment bind what both prove; the openings follow both
    phase("lookups+layers", &mut timings);
    let public = Public::new(&layout, &input, &w.output);
    let lookups = |cheat: Option<&Cheat<'_>>| {
        let (mut claims, mut t) = (Claims::new(vk), t.fork(Fork::LOOKUPS));
        let parts = prove_lookups(&layout, &w, &public, &mut claims, cheat, &mut t);
        (parts, claims, t)
    };
    let layers = |cheat: Option<&Cheat<'_>>| {
        let (mut claims, mut t) = (Claims::new(vk), t.fork(Fork::LAYERS));
        let mut layers = Vec::with_capacity(layout.layers.len());
        for (l, shape) in op_layout.layers.iter().enumerate() {
            let cx = ProveCx {
                l,
                pk,
                layout: &layout,
                shape,
                w: &w,
                public: &public,
                hook: Hook::new(cheat, l),
            };
            layers.push(shape.op.kind().prove(&cx, &mut claims, &mut t));
        }
        (layers, claims, t)
    };
    // (a cheat's hooks are not `Sync`: a cheating prover runs the two one after the other)
    let ((lookup_parts, mut claims, lookups_t), (layers, layer_claims, layers_t)) = match cheat {
        None => rayon::join(|| lookups(None), || layers(None)),
        Some(_) => (lookups(cheat), layers(cheat)),
    };
    let (lookup, lookup_evals, table_evals) = lookup_parts;
    claims.append(layer_claims);
    t.join(lookups_t);
    t.join(layers_t);

    phase("open", &mut timings);
    // the key's weight prover data, cloned group by group when the caller keeps the key
    let weight_data: Box<dyn Iterator<Item = ProverData>> = match weight_data {
        Some(owned) => Box::new(owned.into_iter()),
        None => Box::new(pk.weight_data.iter().cloned()),
    };
    // each opening on its own fork of the transcript (PROTOCOL step 13): at once when they are
    // small, else one after the other (each runs on both cores; at once they only add up their
    // memory: VGG-16's peak RSS 1.63 -> 1.75 GB, its openings 0.83 -> 0.89-1.2 s)
    let weight_vars = vk.weight_shapes().into_iter().flat_map(|s| s.column_vars);
    let cells: usize = (witness_data.shape().column_vars.iter().copied())
        .chain(weight_vars)
        .map(|vars| 1usize << vars)
        .sum();
    let open_witness = || {
        pcs::open(
            witness_data,
            &claims.witness,
            &mut t.fork(Fork::WITNESS_OPENING),
        )
    };
    let open_group = |(g, (data, group)): (usize, (ProverData, &Vec<pcs::Claim>))| {
        pcs::open(data, group, &mut t.fork(Fork::weight_opening(g))).map(|(_, opening)| opening)
    };
    let (witness_opening, weight_openings) = if cells <= AT_ONCE_CELLS {
        let weight_data: Vec<ProverData> = weight_data.collect();
        rayon::join(open_witness, || {
            let groups = weight_data.into_par_iter().zip(&claims.weights);
            let opened = groups.enumerate().map(open_group);
            opened.collect::<Result<Vec<_>, _>>()
        })
    } else {
        let groups = weight_data.zip(&claims.weights);
        (open_witness(), groups.enumerate().map(open_group).collect())
    };
    let (_, witness_opening) = witness_opening?;
    let weight_openings = weight_openings?;
    if let Some(sink) = cheat.and_then(|c| c.forks) {
        *sink.borrow_mut() = t.joined_forks();
    }
    if let Some(sink) = recording {
        *sink.borrow_mut() = t.recorded();
    }
    phase("done", &mut timings);
    timings.phases.pop();
    let proof = Proof {
        key_digest,
        num_samples: inputs.len(),
        input,
        output: w.output,
        witness_commitment,
        lookup,
        lookup_evals,
        table_evals,
        layers,
        witness_opening,
        weight_openings,
    };
    Ok((proof, timings))
}

fn check_inputs(pk: &ProvingKey, inputs: &[Vec<i64>]) -> Result<(), ProveError> {
    if inputs.is_empty() {
        return Err(ProveError::NoSamples);
    }
    if let BatchDim::Fixed(n) = pk.vk.batch
        && n > 1
        && inputs.len() != n
    {
        return Err(ProveError::BatchSize {
            expected: n,
            got: inputs.len(),
        });
    }
    let max = crate::verify::MAX_SAMPLES;
    if inputs.len() > max {
        return Err(ProveError::TooManySamples {
            got: inputs.len(),
            max,
        });
    }
    // peak memory, refused up front (measured ~150-170 bytes per committed witness cell)
    let shape = Layout::new(&pk.vk, inputs.len()).commit_shape();
    let estimate: u128 = shape.column_vars.iter().map(|&v| 1u128 << v).sum::<u128>() * 192;
    if estimate > crate::keys::MEMORY_LIMIT {
        let (samples, limit) = (inputs.len(), crate::keys::MEMORY_LIMIT);
        return Err(ProveError::MemoryLimit {
            samples,
            estimate,
            limit,
        });
    }
    let (lo, hi) = requant::range(false, pk.vk.bits);
    let expected = pk.vk.input_len();
    for (sample, row) in inputs.iter().enumerate() {
        if row.len() != expected {
            return Err(ProveError::InputLength {
                sample,
                expected,
                got: row.len(),
            });
        }
        if let Some((index, &value)) = row
            .iter()
            .enumerate()
            .find(|(_, v)| !(lo..=hi).contains(*v))
        {
            return Err(ProveError::InputRange {
                sample,
                index,
                value,
                bits: pk.vk.bits,
            });
        }
    }
    Ok(())
}

/// The values of a column (the public output stands in for the last layer's output).
#[expect(
    clippy::expect_used,
    reason = "the witness counts every table of Table::ALL, the only tables a proof looks up"
)]
fn column(w: &Witness, col: Col) -> &[F] {
    match col {
        Col::Out(l) => &w.layers[l].cols.out,
        Col::Sigma(l) => &w.layers[l].cols.sigma,
        Col::Excess(l, k) => &w.layers[l].cols.excess[k],
        Col::Rem(l, k) => &w.layers[l].cols.rem[k],
        Col::Diff(l, k, t) => &w.layers[l].diffs[k][t],
        Col::Aux(l, k) => &w.layers[l].aux[k],
        Col::Row(l, k) => &w.layers[l].rows[k],
        Col::Mult(t) => {
            &w.mults
                .iter()
                .find(|(tt, _)| *tt == t)
                .expect("table counted")
                .1
        }
    }
}

type LookupParts = (gkr::GkrProof, Vec<EF>, Vec<EF>);

/// Lookup `lk`'s second column `b`, with [`Lookup::fill`] at the padding positions.
/// (Borrowed unless filled: most lookups fill nothing.)
fn filled<'a>(layout: &Layout, w: &'a Witness, lk: &Lookup, b: Col) -> Cow<'a, [F]> {
    let values = column(w, b);
    let dims = match layout.col_dims(b) {
        Some(dims) if lk.fill != 0 => dims,
        _ => return Cow::Borrowed(values),
    };
    let mask = real_mask(dims);
    let fill = from_i64(lk.fill);
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| if mask[i % mask.len()] { v } else { v + fill })
        .collect::<Vec<F>>()
        .into()
}

/// Lookup `lk`'s first column `a`, plus `2^bits c` at each position of channel `c` when
/// [`Lookup::per_channel`]. (Borrowed unless shifted.)
fn shifted<'a>(layout: &Layout, w: &'a Witness, lk: &Lookup) -> Cow<'a, [F]> {
    let values = column(w, lk.a);
    let dims = match layout.col_dims(lk.a) {
        Some(dims) if lk.per_channel => dims,
        _ => return Cow::Borrowed(values),
    };
    let vars: usize = dims_vars(dims).iter().sum();
    let inner = vars - pow2_vars(dims.first().copied().unwrap_or(1));
    let width = 1usize << vars;
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| v + F::from_u64((((i % width) >> inner) as u64) << layout.bits))
        .collect::<Vec<F>>()
        .into()
}

fn prove_lookups(
    layout: &Layout,
    w: &Witness,
    public: &Public,
    claims: &mut Claims,
    cheat: Option<&Cheat<'_>>,
    t: &mut Transcript,
) -> LookupParts {
    let (beta, gamma, alpha) = (t.sample(), t.sample(), t.sample());
    let lookups = layout.lookups();
    // each lookup's second column, filled at the padding (a map's)
    let looked_up: Vec<Option<Cow<'_, [F]>>> = lookups
        .iter()
        .map(|lk| lk.b.map(|b| filled(layout, w, lk, b)))
        .collect();
    let firsts: Vec<Cow<'_, [F]>> = lookups.iter().map(|lk| shifted(layout, w, lk)).collect();
    // the segments, packed into power-of-two blocks (one GKR tree each) and written in place:
    // a lookup's denominators are `alpha - combine(a, b)`, its numerators `-1`; a table's
    // numerators are its multiplicities
    let segment_vars = layout.segment_vars();
    let groups = layout.lookup_groups();
    let tables = layout.tables();
    let mut blocks: Vec<Segment> = groups
        .iter()
        .map(|group| {
            let mut num: Vec<F> = Vec::with_capacity(1 << group.vars);
            let mut den: Vec<EF> = Vec::with_capacity(1 << group.vars);
            for &(k, _) in &group.members {
                match (lookups.get(k), firsts.get(k), looked_up.get(k)) {
                    (Some(lk), Some(a), Some(b)) => {
                        // alpha - combine(x, y) = (alpha - combine(0, 0)) - x - beta y
                        let at_zero = alpha - combine(lk.table, EF::ZERO, EF::ZERO, beta, gamma);
                        match b {
                            Some(b) => den.par_extend(
                                (a.par_iter().zip(b.par_iter()))
                                    .map(|(&x, &y)| at_zero - beta * y - x),
                            ),
                            None => den.par_extend(a.par_iter().map(|&x| at_zero - x)),
                        }
                        num.resize(den.len(), -F::ONE);
                    }
                    _ => {
                        let table = tables[k - lookups.len()];
                        num.extend_from_slice(column(w, Col::Mult(table)));
                        den.extend(layout.table_rows(table).iter().map(|&(x, s)| {
                            alpha - combine(table, x.into(), s.into(), beta, gamma)
                        }));
                    }
                }
            }
            Segment { num, den }
        })
        .collect();
    if let Some(rewrite) = cheat.and_then(|c| c.lookup_segment) {
        for (group, block) in groups.iter().zip(&mut blocks) {
            for &(k, offset) in group.members.iter().filter(|m| m.0 < lookups.len()) {
                let at = offset..offset + (1 << segment_vars[k]);
                let mut segment = Segment {
                    num: block.num[at.clone()].to_vec(),
                    den: block.den[at.clone()].to_vec(),
                };
                rewrite(k, &mut segment);
                block.num[at.clone()].copy_from_slice(&segment.num);
                block.den[at].copy_from_slice(&segment.den);
            }
        }
    }
    let edit = cheat.and_then(|c| c.message);
    let (proof, leaves) = match edit {
        None => gkr::prove(blocks, t),
        Some(e) => gkr::prove_deviating(blocks, &mut |at, v| e(Msg::Gkr(at), v), t),
    };
    let block_points: Vec<Vec<EF>> = leaves.into_iter().map(|leaf| leaf.point).collect();
    let points: Vec<Vec<EF>> = gkr::unpack(&groups, &segment_vars, &block_points)
        .into_iter()
        .map(|(_, point)| point)
        .collect();
    // each lookup's columns at its point: the first, then the second if any
    let per_lookup: Vec<Vec<EF>> = (firsts.par_iter().zip(looked_up.par_iter()))
        .zip(points.par_iter())
        .map(|((a, b), point)| {
            let b = b.as_ref().map(|b| evaluate(b, point));
            std::iter::once(evaluate(a, point)).chain(b).collect()
        })
        .collect();
    let mut lookup_evals = per_lookup.concat();
    let mut table_evals: Vec<EF> = (tables.iter())
        .zip(&points[lookups.len()..])
        .map(|(&table, point)| evaluate(column(w, Col::Mult(table)), point))
        .collect();
    if let Some(e) = edit {
        e(Msg::LookupEvals, &mut lookup_evals);
        e(Msg::TableEvals, &mut table_evals);
    }
    let mut values = lookup_evals.iter();
    for (lk, point) in lookups.iter().zip(&points) {
        for (k, col) in std::iter::once(lk.a).chain(lk.b).enumerate() {
            let mut v = values.next().copied().unwrap_or_default();
            v -= match k {
                0 => layout.shift(lk, col, point),
                _ => layout.unfill(lk, col, point),
            };
            claims.column(layout, public, col, point.clone(), v).ok();
        }
    }
    for ((table, point), &v) in tables
        .iter()
        .zip(&points[lookups.len()..])
        .zip(&table_evals)
    {
        claims
            .column(layout, public, Col::Mult(*table), point.clone(), v)
            .ok();
    }
    t.absorb_ext(&lookup_evals);
    t.absorb_ext(&table_evals);
    (proof, lookup_evals, table_evals)
}
