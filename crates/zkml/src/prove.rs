//! The whole-model prover.

use std::time::{Duration, Instant};

use p3_field::PrimeCharacteristicRing;
use zkml_model::BatchDim;
use zkml_proof::field::{EF, F};
use zkml_proof::gkr::{self, Segment};
use zkml_proof::mle::evaluate;
use zkml_proof::pcs;
use zkml_proof::transcript::Transcript;

use crate::error::ProveError;
use crate::keys::ProvingKey;
use crate::layout::{Col, Layout};
use crate::ops::{dense, requant};
use crate::proof::{LayerProof, Proof};
use crate::statement::{Claims, Public, bind};
use crate::tables::combine;
use crate::witness::{Witness, generate};

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
    prove_inner(pk, inputs, progress, &|_| {})
}

/// A prover that lets a test rewrite the witness before anything is committed: the way to
/// show that the verifier refuses a cheating prover.
#[doc(hidden)]
pub fn prove_tampered(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    tamper: &dyn Fn(&mut Witness),
) -> Result<Proof, ProveError> {
    prove_inner(pk, inputs, &mut |_| {}, tamper).map(|(p, _)| p)
}

fn prove_inner(
    pk: &ProvingKey,
    inputs: &[Vec<i64>],
    progress: &mut dyn FnMut(&'static str),
    tamper: &dyn Fn(&mut Witness),
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
    let mut w = generate(&pk.model, inputs);
    tamper(&mut w);
    let layout = Layout::new(vk, inputs.len());
    let input: Vec<i64> = inputs.concat();
    let mut t = Transcript::new();
    bind(&mut t, vk, inputs.len(), &input, &w.output);

    phase("commit", &mut timings);
    let columns: Vec<Vec<F>> = layout
        .columns
        .iter()
        .map(|&c| column(&w, c).to_vec())
        .collect();
    let (witness_commitment, witness_data) = pcs::commit(columns, &mut t)?;

    phase("lookups", &mut timings);
    let public = Public {
        input: w.input.clone(),
        output: Public::pad(
            &w.output,
            vk.output_len(),
            1 << layout.sample_vars,
            1 << layout.layers.last().map_or(0, |l| l.out_vars),
        ),
    };
    let mut claims = Claims::new(vk);
    let (lookup, lookup_evals, table_evals) =
        prove_lookups(&layout, &w, &public, &mut claims, &mut t);

    phase("layers", &mut timings);
    let mut layers = Vec::with_capacity(layout.layers.len());
    for (l, shape) in layout.layers.iter().enumerate() {
        let lw = &w.layers[l];
        let mult: Vec<F> = crate::layout::padded(&vk.layers[l].multiplier, shape.out_vars);
        let nv = layout.sample_vars + shape.out_vars;
        let (rq, point, ev) = requant::prove(&lw.acc, &mult, &lw.cols, nv, &mut t);
        requant_claims(&layout, &public, &mut claims, l, &point, &ev).ok();
        let x: &[F] = if l == 0 {
            &w.input
        } else {
            &w.layers[l - 1].cols.out
        };
        let (wts, bias) = &pk.weights[l];
        let (dp, rho_j) = dense::prove(wts, bias, x, layout.sample_vars, &point, &mut t);
        let (rho_s, rho_o) = point.split_at(layout.sample_vars);
        claims.weights(
            l,
            [rho_o, &rho_j].concat(),
            dp.weight,
            shape.out_vars,
            dp.bias,
        );
        claims
            .layer_input(&layout, &public, l, [rho_s, &rho_j].concat(), dp.input)
            .expect("public input is the witness's");
        layers.push(LayerProof {
            requant: rq,
            requant_evals: ev,
            dense: dp,
        });
    }

    phase("open", &mut timings);
    let (_, witness_opening) = pcs::open(witness_data, &claims.witness, &mut t)?;
    let mut weight_openings = Vec::with_capacity(pk.weight_data.len());
    for (data, group) in pk.weight_data.iter().zip(&claims.weights) {
        weight_openings.push(pcs::open(data.clone(), group, &mut t)?.1);
    }
    phase("done", &mut timings);
    timings.phases.pop();
    let proof = Proof {
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
fn column(w: &Witness, col: Col) -> &[F] {
    match col {
        Col::Out(l) => &w.layers[l].cols.out,
        Col::Sigma(l) => &w.layers[l].cols.sigma,
        Col::Excess(l, k) => &w.layers[l].cols.excess[k],
        Col::Rem(l, k) => &w.layers[l].cols.rem[k],
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

fn prove_lookups(
    layout: &Layout,
    w: &Witness,
    public: &Public,
    claims: &mut Claims,
    t: &mut Transcript,
) -> LookupParts {
    let (beta, gamma, alpha) = (t.sample(), t.sample(), t.sample());
    let lookups = layout.lookups();
    let mut segments: Vec<Segment> = lookups
        .iter()
        .map(|lk| {
            let a = column(w, lk.a);
            let den = match lk.b {
                Some(b) => a
                    .iter()
                    .zip(column(w, b))
                    .map(|(&x, &y)| alpha - combine(lk.table, x.into(), y.into(), beta, gamma))
                    .collect(),
                None => a
                    .iter()
                    .map(|&x| alpha - combine(lk.table, x.into(), EF::ZERO, beta, gamma))
                    .collect(),
            };
            Segment {
                num: vec![-F::ONE; a.len()],
                den,
            }
        })
        .collect();
    for table in layout.tables() {
        let den = table
            .rows(layout.bits)
            .iter()
            .map(|&(x, s)| alpha - combine(table, x.into(), s.into(), beta, gamma))
            .collect();
        segments.push(Segment {
            num: column(w, Col::Mult(table)).to_vec(),
            den,
        });
    }
    let (proof, leaves) = gkr::prove(segments, t);
    let mut lookup_evals = Vec::new();
    for (lk, leaf) in lookups.iter().zip(&leaves) {
        for col in std::iter::once(lk.a).chain(lk.b) {
            let v = evaluate(column(w, col), &leaf.point);
            lookup_evals.push(v);
            claims
                .column(layout, public, col, leaf.point.clone(), v)
                .ok();
        }
    }
    let mut table_evals = Vec::new();
    for (table, leaf) in layout.tables().into_iter().zip(&leaves[lookups.len()..]) {
        table_evals.push(leaf.num);
        claims
            .column(
                layout,
                public,
                Col::Mult(table),
                leaf.point.clone(),
                leaf.num,
            )
            .ok();
    }
    t.absorb_ext(&lookup_evals);
    t.absorb_ext(&table_evals);
    (proof, lookup_evals, table_evals)
}

/// Queues the claims of a layer's zero-check on its committed (or public) columns.
pub(crate) fn requant_claims(
    layout: &Layout,
    public: &Public,
    claims: &mut Claims,
    l: usize,
    point: &[EF],
    ev: &requant::RequantEvals,
) -> Result<(), crate::error::VerifyError> {
    claims.column(layout, public, Col::Out(l), point.to_vec(), ev.out)?;
    claims.column(layout, public, Col::Sigma(l), point.to_vec(), ev.sigma)?;
    for (k, &v) in ev.excess.iter().enumerate() {
        claims.column(layout, public, Col::Excess(l, k), point.to_vec(), v)?;
    }
    for (k, &v) in ev.rem.iter().enumerate() {
        claims.column(layout, public, Col::Rem(l, k), point.to_vec(), v)?;
    }
    Ok(())
}
