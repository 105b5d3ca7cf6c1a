//! Round trips, soundness (tampering) and robustness tests of the commitment wrapper.

use std::time::Instant;

use p3_field::PrimeCharacteristicRing;
use p3_multilinear_util::poly::Poly;
use p3_whir::parameters::SecurityAssumption;
use p3_whir::pcs::proof::QueryOpenings;

use super::prove::commit_with;
use super::verify::verify_with;
use super::*;
use crate::mle::evaluate;
use crate::transcript::Transcript;

/// Deterministic pseudo-random base-field values (splitmix64).
fn column(num_vars: usize, seed: u64) -> Vec<F> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    (0..1usize << num_vars)
        .map(|_| {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = s;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            F::from_u64((z ^ (z >> 31)) >> 1)
        })
        .collect()
}

fn columns(vars: &[usize]) -> Vec<Vec<F>> {
    vars.iter()
        .enumerate()
        .map(|(i, &n)| column(n, i as u64 + 1))
        .collect()
}

/// Claims on `(column, point id)` pairs: equal ids give equal points (when lengths agree).
fn claims_from(t: &mut Transcript, vars: &[usize], spec: &[(usize, usize)]) -> Vec<Claim> {
    let draws = spec.iter().map(|&(_, id)| id + 1).max().unwrap_or(0);
    let base: Vec<Vec<EF>> = (0..draws).map(|_| t.sample_vec(32)).collect();
    spec.iter()
        .map(|&(column, id)| Claim {
            column,
            point: base[id][..vars[column]].to_vec(),
        })
        .collect()
}

/// A committed and opened instance, with everything the verifier needs.
struct Instance {
    shape: CommitShape,
    commitment: Commitment,
    claims: Vec<Claim>,
    values: Vec<EF>,
    proof: OpeningProof,
    /// Number of point draws (`sample_vec(32)`) the prover made after committing.
    draws: usize,
}

fn prove_instance(vars: &[usize], spec: &[(usize, usize)]) -> Instance {
    let cols = columns(vars);
    let mut t = Transcript::new();
    t.absorb_bytes(b"before");
    let (commitment, data) = commit(cols.clone(), &mut t).unwrap();
    let claims = claims_from(&mut t, vars, spec);
    let (values, proof) = open(data.clone(), &claims, &mut t).unwrap();
    for (claim, value) in claims.iter().zip(&values) {
        assert_eq!(
            *value,
            evaluate(&cols[claim.column], &claim.point),
            "claim {claim:?}"
        );
    }
    let draws = spec.iter().map(|&(_, id)| id + 1).max().unwrap_or(0);
    Instance {
        shape: data.shape().clone(),
        commitment,
        claims,
        values,
        proof,
        draws,
    }
}

/// The verifier's transcript replay up to the opening.
fn verifier_transcript(inst: &Instance, history: &[u8]) -> Transcript {
    replay(&inst.shape, inst, history)
}

/// The verifier's transcript replay, for a verifier that believes in `shape`.
fn replay(shape: &CommitShape, inst: &Instance, history: &[u8]) -> Transcript {
    let mut t = Transcript::new();
    t.absorb_bytes(history);
    observe(shape, &inst.commitment, &mut t);
    for _ in 0..inst.draws {
        t.sample_vec(32);
    }
    t
}

fn check(inst: &Instance) -> Result<(), PcsError> {
    let mut t = verifier_transcript(inst, b"before");
    verify(
        &inst.shape,
        &inst.commitment,
        &inst.claims,
        &inst.values,
        &inst.proof,
        &mut t,
    )
}

fn run(vars: &[usize], spec: &[(usize, usize)]) -> Instance {
    let inst = prove_instance(vars, spec);
    check(&inst).unwrap();
    inst
}

const MIXED: [usize; 9] = [0, 3, 5, 5, 2, 8, 0, 1, 10];

/// ~20 claims: repeated columns at different points, several columns at one point, an exact
/// duplicate, 0-variable columns, padded small tables.
fn mixed_spec() -> Vec<(usize, usize)> {
    vec![
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (2, 1),
        (3, 2),
        (5, 3),
        (5, 4),
        (5, 3),
        (8, 5),
        (8, 6),
        (4, 7),
        (6, 7),
        (7, 8),
        (7, 9),
        (1, 10),
        (8, 0),
        (0, 11),
        (6, 12),
        (4, 13),
    ]
}

#[test]
fn round_trip_mixed_shapes() {
    run(&MIXED, &mixed_spec());
    run(&[0], &[(0, 0)]);
    run(&[0, 0, 0], &[(2, 0), (0, 1)]);
    run(&[12], &[(0, 0)]);
    run(&[6, 6, 6, 6], &[(3, 0), (0, 0), (1, 1), (3, 2)]);
    run(&[1, 7], &[(1, 0), (0, 0), (0, 1)]);
}

#[test]
fn round_trip_without_claims() {
    run(&[5, 3], &[]);
}

#[test]
fn proof_survives_postcard() {
    let mut inst = run(&MIXED, &mixed_spec());
    let bytes = postcard::to_allocvec(&inst.proof).unwrap();
    inst.proof = postcard::from_bytes(&bytes).unwrap();
    check(&inst).unwrap();
}

#[test]
fn wrong_value_is_rejected() {
    let mut inst = run(&MIXED, &mixed_spec());
    inst.values[7] += EF::ONE;
    assert!(matches!(
        check(&inst),
        Err(PcsError::WrongValue { claim: 7 })
    ));
    // an exact duplicate claim must carry the same value
    let mut inst = run(&MIXED, &mixed_spec());
    inst.values[8] += EF::ONE;
    assert!(matches!(
        check(&inst),
        Err(PcsError::WrongValue { claim: 8 })
    ));
}

#[test]
fn tampered_eval_in_proof_and_values_is_rejected() {
    let mut inst = run(&MIXED, &mixed_spec());
    let (b, pos) = (0, 0);
    let mut current = inst.proof.0.evals[b].current().to_vec();
    current[pos] += EF::ONE;
    inst.proof.0.evals[b] = p3_sumcheck::OpeningBatch::new(current, vec![]);
    // the claim(s) in that slot now carry the tampered value too
    let layout = Layout::new(&inst.shape, PARAMS.folding).unwrap();
    let openings = Openings::new(&inst.shape, &layout, &inst.claims).unwrap();
    for (i, &slot) in openings.slots.iter().enumerate() {
        if slot == (b, pos) {
            inst.values[i] += EF::ONE;
        }
    }
    assert!(matches!(check(&inst), Err(PcsError::Whir(_))));
}

/// Applies `tamper` to a fresh proof and expects a WHIR rejection.
fn rejects(name: &str, tamper: impl Fn(&mut PcsProof<F, EF, Mmcs>)) {
    let mut inst = run(&MIXED, &mixed_spec());
    tamper(&mut inst.proof.0);
    let r = check(&inst);
    assert!(matches!(r, Err(PcsError::Whir(_))), "{name}: {r:?}");
}

#[test]
fn tampered_proof_parts_are_rejected() {
    rejects("merkle sibling", |p| match &mut p.whir.rounds[0].openings {
        QueryOpenings::Base(o) => o.proof.sibling_hashes[3][1] += F::ONE,
        QueryOpenings::Extension(o) => o.proof.sibling_hashes[3][1] += F::ONE,
    });
    rejects("opened base row", |p| {
        match &mut p.whir.rounds[0].openings {
            QueryOpenings::Base(o) => o.rows[2][1] += F::ONE,
            QueryOpenings::Extension(o) => o.rows[2][1] += EF::ONE,
        }
    });
    rejects("opened final row", |p| match &mut p.whir.final_openings {
        QueryOpenings::Base(o) => o.rows[0][0] += F::ONE,
        QueryOpenings::Extension(o) => o.rows[0][0] += EF::ONE,
    });
    rejects("initial sumcheck", |p| {
        p.whir.initial_sumcheck.polynomial_evaluations[1][0] += EF::ONE;
    });
    rejects("round sumcheck", |p| {
        p.whir.rounds[0].sumcheck.polynomial_evaluations[0][1] += EF::ONE
    });
    rejects("ood answer", |p| p.whir.initial_ood_answers[0] += EF::ONE);
    rejects("round ood answer", |p| {
        p.whir.rounds[0].ood_answers[0] += EF::ONE
    });
    rejects("final poly", |p| {
        if let Some(f) = p.whir.final_poly.as_mut() {
            f.as_mut_slice()[0] += EF::ONE;
        }
    });
    rejects("pow witness", |p| p.whir.rounds[0].pow_witness += F::ONE);
}

#[test]
fn bad_claims_are_errors_not_panics() {
    let inst = run(&MIXED, &mixed_spec());
    let mut bad = inst.claims.clone();
    bad[3].column = MIXED.len();
    let mut t = verifier_transcript(&inst, b"before");
    let r = verify(
        &inst.shape,
        &inst.commitment,
        &bad,
        &inst.values,
        &inst.proof,
        &mut t,
    );
    assert!(matches!(r, Err(PcsError::BadColumn { claim: 3, .. })));
    let mut bad = inst.claims.clone();
    bad[4].point.push(EF::ONE);
    let mut t = verifier_transcript(&inst, b"before");
    let r = verify(
        &inst.shape,
        &inst.commitment,
        &bad,
        &inst.values,
        &inst.proof,
        &mut t,
    );
    assert!(matches!(r, Err(PcsError::BadPointLength { claim: 4, .. })));
    // fewer claims than the proof opens
    let mut t = verifier_transcript(&inst, b"before");
    let (c, v) = (&inst.claims[..5], &inst.values[..5]);
    let r = verify(&inst.shape, &inst.commitment, c, v, &inst.proof, &mut t);
    assert!(matches!(r, Err(PcsError::MalformedProof { .. })), "{r:?}");
    let mut t = verifier_transcript(&inst, b"before");
    let r = verify(
        &inst.shape,
        &inst.commitment,
        &inst.claims,
        &inst.values[1..],
        &inst.proof,
        &mut t,
    );
    assert!(matches!(r, Err(PcsError::ValueCountMismatch { .. })));
    // the prover side too
    let (_, data) = commit(columns(&[3]), &mut Transcript::new()).unwrap();
    let r = open(
        data,
        &[Claim {
            column: 0,
            point: vec![EF::ONE; 2],
        }],
        &mut Transcript::new(),
    );
    assert!(matches!(r, Err(PcsError::BadPointLength { claim: 0, .. })));
    assert!(matches!(
        commit(vec![vec![F::ONE; 3]], &mut Transcript::new()),
        Err(PcsError::BadColumnLength { .. })
    ));
    assert!(matches!(
        commit(vec![], &mut Transcript::new()),
        Err(PcsError::NoColumns)
    ));
}

#[test]
fn wrong_shape_or_transcript_history_fails() {
    let inst = run(&MIXED, &mixed_spec());
    let mut t = verifier_transcript(&inst, b"other");
    let r = verify(
        &inst.shape,
        &inst.commitment,
        &inst.claims,
        &inst.values,
        &inst.proof,
        &mut t,
    );
    assert!(matches!(r, Err(PcsError::Whir(_))), "{r:?}");
    // same claims, but the verifier believes in a different shape (one more column)
    let mut shape = inst.shape.clone();
    shape.column_vars.push(11);
    let mut t = replay(&shape, &inst, b"before");
    let r = verify(
        &shape,
        &inst.commitment,
        &inst.claims,
        &inst.values,
        &inst.proof,
        &mut t,
    );
    assert!(r.is_err());
}

/// `observe` binds the shape and the root: another shape or another root gives other
/// challenges, and the verifier's transcript matches the prover's after `commit`.
#[test]
fn observe_binds_the_shape_and_the_root() {
    let next = |vars: &[usize], c: &Commitment| {
        let mut t = Transcript::new();
        let shape = CommitShape {
            column_vars: vars.to_vec(),
        };
        observe(&shape, c, &mut t);
        t.sample()
    };
    let mut tp = Transcript::new();
    let (c1, _) = commit(columns(&[3, 5]), &mut tp).unwrap();
    let (c2, _) = commit(columns(&[5, 3]), &mut Transcript::new()).unwrap();
    assert_ne!(c1, c2);
    let a = next(&[3, 5], &c1);
    assert_eq!(a, tp.sample(), "verifier and prover transcripts agree");
    assert_ne!(a, next(&[3, 5], &c2), "the root is bound");
    assert_ne!(a, next(&[5, 3], &c1), "the shape is bound");
    assert_ne!(a, next(&[3, 5, 0], &c1), "the column count is bound");
    assert_ne!(a, Transcript::new().sample());
}

/// Commit + open + verify with explicit parameters; returns (commit s, open s, verify s, bytes).
fn measure(p: &Params, vars: &[usize], num_claims: usize) -> (f64, f64, f64, usize) {
    let cols = columns(vars);
    // `PCS_POINTS`: how many distinct points the claims use (default: one each)
    let points: usize = std::env::var("PCS_POINTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(num_claims)
        .max(1);
    let spec: Vec<(usize, usize)> = (0..num_claims)
        .map(|i| (i % vars.len(), i % points))
        .collect();
    let mut t = Transcript::new();
    let start = Instant::now();
    let (commitment, data) = commit_with(p, cols, &mut t).unwrap();
    let t_commit = start.elapsed().as_secs_f64();
    let shape = data.shape().clone();
    let claims = claims_from(&mut t, vars, &spec);
    let start = Instant::now();
    let (values, proof) = open(data, &claims, &mut t).unwrap();
    let t_open = start.elapsed().as_secs_f64();
    let bytes = postcard::to_allocvec(&proof).unwrap().len();
    let mut t = Transcript::new();
    observe(&shape, &commitment, &mut t);
    claims_from(&mut t, vars, &spec);
    let start = Instant::now();
    verify_with(p, &shape, &commitment, &claims, &values, &proof, &mut t).unwrap();
    (t_commit, t_open, start.elapsed().as_secs_f64(), bytes)
}

/// Explores parameter choices: composed security, proof size and times.
/// `cargo test --release -p zkml-proof pcs::tests::explore_parameters -- --ignored --nocapture`
#[test]
#[ignore = "exploration; slow"]
fn explore_parameters() {
    let log_cells: usize = std::env::var("PCS_LOG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16);
    let vars = vec![
        log_cells - 2,
        log_cells - 2,
        log_cells - 3,
        log_cells - 3,
        log_cells - 4,
        3,
        0,
    ];
    let shape = CommitShape {
        column_vars: vars.clone(),
    };
    let grid: Vec<(usize, usize, usize, usize, usize)> = std::env::var("PCS_GRID")
        .ok()
        .map(|g| {
            g.split(';')
                .map(|t| {
                    let v: Vec<usize> = t.split(',').map(|x| x.parse().unwrap()).collect();
                    (
                        v[0],
                        v[1],
                        v[2],
                        v.get(3).copied().unwrap_or(1),
                        v.get(4).copied().unwrap_or(usize::MAX),
                    )
                })
                .collect()
        })
        .unwrap_or_else(|| vec![(4, 1, 16, 1, usize::MAX), (4, 2, 16, 1, usize::MAX)]);
    for assumption in [
        SecurityAssumption::CapacityBound,
        SecurityAssumption::JohnsonBound,
        SecurityAssumption::UniqueDecoding,
    ] {
        if std::env::var("PCS_CB_ONLY").is_ok() && assumption != SecurityAssumption::CapacityBound {
            continue;
        }
        for &(folding, log_inv_rate, pow_bits, first_shrink, rate_cap) in &grid {
            // smallest per-term level whose composed security reaches 100 bits
            let found = (100..130).find_map(|security_level| {
                let p = Params {
                    folding,
                    log_inv_rate,
                    security_level,
                    pow_bits,
                    assumption,
                    first_shrink: (first_shrink, first_shrink),
                    rate_cap,
                    capped_from: 0,
                    band: (0, 0),
                    band_cap: rate_cap,
                };
                let report = security_with(&p, &shape, 20);
                (report.algebraic_bits >= 102.0).then_some((p, report))
            });
            let Some((p, report)) = found else {
                println!("{assumption:?} k={folding} rate={log_inv_rate} pow={pow_bits}: none");
                continue;
            };
            let pcs = make_pcs(&p, report_vars(&shape, &p), false).unwrap();
            let cfg = &pcs_config(&pcs);
            println!("  {cfg}");
            let nc = std::env::var("PCS_CLAIMS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(20);
            // `PCS_REPEATS`: runs per setting; the medians are printed
            let repeats: usize = std::env::var("PCS_REPEATS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let runs: Vec<_> = (0..repeats).map(|_| measure(&p, &vars, nc)).collect();
            let median = |f: fn(&(f64, f64, f64, usize)) -> f64| {
                let mut v: Vec<f64> = runs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let (c, o, v, bytes) = (median(|r| r.0), median(|r| r.1), median(|r| r.2), runs[0].3);
            println!(
                "{assumption:?} k={folding} rate={log_inv_rate} pow={pow_bits} shrink={first_shrink} cap={rate_cap} level={} bits={:.1} \
                 list={:.1}: commit {c:.3}s open {o:.3}s verify {:.1}ms proof {} KiB",
                p.security_level,
                report.algebraic_bits,
                report.log2_list_size,
                v * 1e3,
                bytes / 1024
            );
        }
    }
}

fn report_vars(shape: &CommitShape, p: &Params) -> usize {
    Layout::new(shape, p.folding).unwrap().num_variables
}

fn pcs_config(pcs: &Pcs) -> String {
    let c: &WhirConfig<EF, F, Challenger> = pcs;
    let rounds: Vec<_> = c
        .round_parameters()
        .iter()
        .map(|r| (r.num_queries, r.pow_bits, r.folding_pow_bits, r.ood_samples))
        .collect();
    format!(
        "ood {} fold_pow {} rounds (queries, pow, fold_pow, ood) {:?} terminal {:?} final_rounds {} final_pow {}",
        c.commitment_ood_samples(),
        c.starting_folding_pow_bits(),
        rounds,
        c.terminal(),
        c.final_sumcheck_rounds(),
        c.final_folding_pow_bits()
    )
}

/// The structural mutations [`mutate`] applies, by case number.
const MUTATIONS: [&str; 20] = [
    "drop round",
    "duplicate round",
    "no final poly",
    "short final poly",
    "drop query row",
    "short query rows",
    "long final rows",
    "extra final row",
    "drop sibling",
    "extra sibling",
    "base-field final openings",
    "short sumcheck",
    "long sumcheck",
    "pow witnesses",
    "no final sumcheck",
    "no round commitment",
    "extra ood answer",
    "no round ood answers",
    "drop eval batch",
    "successor evals",
];

/// Applies structural mutation `case` (see [`MUTATIONS`]) to a proof.
fn mutate(case: usize, p: &mut PcsProof<F, EF, Mmcs>) {
    let w = &mut p.whir;
    let QueryOpenings::Base(base) = &mut w.rounds[0].openings else {
        unreachable!("the first round opens the base-field commitment")
    };
    let QueryOpenings::Extension(last) = &mut w.final_openings else {
        unreachable!("the final round opens an extension-field codeword")
    };
    match case {
        0 => _ = w.rounds.pop(),
        1 => w.rounds.push(w.rounds[0].clone()),
        2 => w.final_poly = None,
        3 => w.final_poly = Some(Poly::new(vec![EF::ONE; 2])),
        4 => _ = base.rows.pop(),
        5 => base.rows.iter_mut().for_each(|r| _ = r.pop()),
        6 => last.rows.iter_mut().for_each(|r| r.push(EF::ONE)),
        7 => last.rows.push(last.rows[0].clone()),
        8 => _ = base.proof.sibling_hashes.pop(),
        9 => last.proof.sibling_hashes.push([F::ONE; 4]),
        10 => w.final_openings = w.rounds[0].openings.clone(),
        11 => _ = w.initial_sumcheck.polynomial_evaluations.pop(),
        12 => w.rounds[0]
            .sumcheck
            .polynomial_evaluations
            .push([EF::ONE; 2]),
        13 => w.initial_sumcheck.pow_witnesses.push(F::ZERO),
        14 => w.final_sumcheck = None,
        15 => w.rounds[0].commitment = None,
        16 => w.initial_ood_answers.push(EF::ONE),
        17 => w.rounds[0].ood_answers.clear(),
        18 => _ = p.evals.pop(),
        _ => {
            let current = p.evals[0].current().to_vec();
            p.evals[0] = p3_sumcheck::OpeningBatch::new(current, vec![EF::ONE]);
        }
    }
}

/// Structural mutations of the proof: every one must be an error, none a panic.
#[test]
fn malformed_proofs_are_errors_not_panics() {
    let inst = run(&MIXED, &mixed_spec());
    for (case, name) in MUTATIONS.iter().enumerate() {
        let mut proof = inst.proof.clone();
        mutate(case, &mut proof.0);
        let mut t = verifier_transcript(&inst, b"before");
        let r = verify(
            &inst.shape,
            &inst.commitment,
            &inst.claims,
            &inst.values,
            &proof,
            &mut t,
        );
        assert!(r.is_err(), "{name} accepted");
        // the evaluation batches are checked against the claims before WHIR runs
        if matches!(*name, "drop eval batch" | "successor evals") {
            assert!(
                matches!(r, Err(PcsError::MalformedProof { .. })),
                "{name}: {r:?}"
            );
        }
    }
}

/// Random byte corruption of the serialized proof: decoding or verification fails, never a
/// panic (a corruption that decodes to the same proof is skipped).
#[test]
fn corrupted_proof_bytes_never_panic() {
    let inst = run(&MIXED, &mixed_spec());
    let bytes = postcard::to_allocvec(&inst.proof).unwrap();
    let noise = column(11, 99);
    let mut accepted_or_decoded = (0, 0);
    for (i, r) in noise.iter().enumerate().take(1500) {
        let r = p3_field::PrimeField64::as_canonical_u64(r);
        let mut bad = bytes.clone();
        let pos = (r as usize) % bad.len();
        match i % 3 {
            0 => bad[pos] ^= 1 << ((r >> 40) % 8),
            1 => bad[pos] = (r >> 48) as u8,
            _ => bad.truncate(pos),
        }
        let Ok(proof) = postcard::from_bytes::<OpeningProof>(&bad) else {
            continue;
        };
        accepted_or_decoded.1 += 1;
        if postcard::to_allocvec(&proof).unwrap() == bytes {
            continue;
        }
        let mut t = verifier_transcript(&inst, b"before");
        if verify(
            &inst.shape,
            &inst.commitment,
            &inst.claims,
            &inst.values,
            &proof,
            &mut t,
        )
        .is_ok()
        {
            accepted_or_decoded.0 += 1;
        }
    }
    println!(
        "{} of 1500 corruptions decoded, all rejected",
        accepted_or_decoded.1
    );
    assert_eq!(
        accepted_or_decoded.0, 0,
        "decoded {}",
        accepted_or_decoded.1
    );
}

#[test]
fn security_is_at_least_100_bits() {
    for log in [0, 4, 8, 12, 16, 20, 24, 28, 30] {
        for claims in [0, 1, 20, 1000] {
            let shape = CommitShape {
                column_vars: vec![log],
            };
            let report = security(&shape, claims);
            assert!(
                report.bits >= 102.0,
                "2^{log} cells, {claims} claims: {report:?}"
            );
        }
    }
    let report = security(
        &CommitShape {
            column_vars: MIXED.to_vec(),
        },
        20,
    );
    assert!(report.assumption.starts_with("CapacityBound"));
    assert_eq!(
        security(
            &CommitShape {
                column_vars: vec![]
            },
            1
        )
        .bits,
        0.0
    );
}

/// The first round shrinks the domain by 4 below 2^20 cells and by 8 from there, the others
/// halve it, and from 2^15 cells no codeword's rate drops below 1/4 (1/8 in 2^17..2^20): each
/// codeword's size `2^(vars + rate)` follows.
#[test]
fn round_codewords_follow_the_shrink_and_the_cap() {
    let codewords = |num_variables: usize| -> Vec<usize> {
        let pcs = make_pcs(&PARAMS, num_variables, false).unwrap();
        let c: &WhirConfig<EF, F, Challenger> = &pcs;
        c.round_parameters()
            .iter()
            .map(|r| r.num_variables + r.log_inv_rate)
            .collect()
    };
    // uncapped: the commitment is 2^(n+1); after the first fold of 4 variables, 2^(n-1), then
    // halving
    assert_eq!(codewords(14), vec![13]);
    // capped at rate 1/8: 2^(n-1), then 4 variables (16 times) smaller each round
    assert_eq!(codewords(17), vec![16, 12]);
    assert_eq!(codewords(19), vec![18, 14, 10]);
    // capped at rate 1/4: 2^(n-2), then 4 variables (16 times) smaller each round
    assert_eq!(codewords(15), vec![13, 9]);
    assert_eq!(codewords(16), vec![14, 10]);
    assert_eq!(codewords(20), vec![18, 14, 10]);
    assert_eq!(codewords(24), vec![22, 18, 14, 10]);
    assert_eq!(round_rates(&PARAMS, 4), Vec::<usize>::new());
    // every size a stacked polynomial can have (the layout pads to the folding factor) gets a
    // configuration
    for n in PARAMS.folding..=MAX_NUM_VARS {
        assert!(make_pcs(&PARAMS, n, false).is_ok(), "{n} variables");
    }
}

/// The numbers in the module docs: `cargo test --release -p zkml-proof pcs::tests::bench --
/// --ignored --nocapture` (a few columns, 20 claims, 2^12, 2^16, 2^20 cells).
#[test]
#[ignore = "benchmark"]
fn bench() {
    println!("| cells | commit | open | verify | proof |");
    for log in [12, 16, 20] {
        let vars = [log - 2, log - 2, log - 2, log - 3, log - 3];
        let spec: Vec<(usize, usize)> = (0..20).map(|i| (i % vars.len(), i / 2)).collect();
        let mut t = Transcript::new();
        let start = Instant::now();
        let (commitment, data) = commit(columns(&vars), &mut t).unwrap();
        let t_commit = start.elapsed();
        let claims = claims_from(&mut t, &vars, &spec);
        let start = Instant::now();
        let (values, proof) = open(data, &claims, &mut t).unwrap();
        let t_open = start.elapsed();
        let size = postcard::to_allocvec(&proof).unwrap().len();
        let mut t = Transcript::new();
        observe(
            &CommitShape {
                column_vars: vars.to_vec(),
            },
            &commitment,
            &mut t,
        );
        claims_from(&mut t, &vars, &spec);
        let shape = CommitShape {
            column_vars: vars.to_vec(),
        };
        let start = Instant::now();
        verify(&shape, &commitment, &claims, &values, &proof, &mut t).unwrap();
        let t_verify = start.elapsed();
        println!(
            "| 2^{log} | {t_commit:.2?} | {t_open:.2?} | {t_verify:.2?} | {:.1} KiB |",
            size as f64 / 1024.0
        );
    }
}

/// The hiding scheme's cost against its knobs, on one column of 2^`HIDING_VARS` cells (default
/// 20) with 1 and `HIDING_CLAIMS` claims (default 20):
/// `cargo test --release -p zkml-proof pcs::tests::hiding_parameters -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn hiding_parameters() {
    use p3_commit::MultilinearPcs;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::hiding::{HidingParams, make_hiding_with};

    fn kib<T: serde::Serialize>(v: &T) -> usize {
        postcard::to_allocvec(v).unwrap().len() / 1024
    }

    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let log = env("HIDING_VARS", 20);
    let many = env("HIDING_CLAIMS", 20);
    println!("2^{log} cells");
    println!("| folding, rate, ell_zk, mask rate | claims | commit | open | verify | proof |");
    let (c, o, v, bytes) = measure(&PARAMS, &[log], many);
    println!(
        "| plain, {many} claims | {:.1} ms, {:.1} ms, {:.1} ms, {} KiB |",
        c * 1e3,
        o * 1e3,
        v * 1e3,
        bytes / 1024
    );
    for (folding, log_inv_rate, ell_zk, mask_log_inv_rate) in [
        (4, 1, 4, 1),
        (4, 1, 4, 5),
        (5, 1, 4, 1),
        (5, 1, 4, 3),
        (5, 1, 4, 5),
        (5, 1, 4, 8),
        (6, 1, 4, 5),
        (5, 2, 4, 5),
    ] {
        let h = HidingParams {
            folding,
            log_inv_rate,
            ell_zk,
            mask_log_inv_rate,
        };
        for claims in [1, many] {
            let Ok(pcs) = make_hiding_with(log, &h, StdRng::seed_from_u64(7)) else {
                println!("| {folding}, {log_inv_rate}, {ell_zk}, {mask_log_inv_rate} | refused |");
                break;
            };
            let poly = Poly::new(column(log, 3));
            let mut t = Transcript::new();
            let start = Instant::now();
            let (commitment, data) = pcs.commit(poly, t.challenger()).unwrap();
            let c = start.elapsed();
            let mut draw = Transcript::new();
            let points: Vec<Point<EF>> = (0..claims)
                .map(|_| Point::new(draw.sample_vec(log)))
                .collect();
            let start = Instant::now();
            let proof = pcs.open(data, points.clone(), t.challenger()).unwrap();
            let o = start.elapsed();
            let bytes = postcard::to_allocvec(&proof).unwrap().len();
            println!(
                "  sumchecks {} KiB, rounds {} KiB, base case {} KiB",
                kib(&proof.sumchecks),
                kib(&proof.rounds),
                kib(&proof.base_case)
            );
            let mut t = Transcript::new();
            let start = Instant::now();
            pcs.verify(&commitment, &proof, t.challenger(), points)
                .unwrap();
            let v = start.elapsed();
            println!(
                "| {folding}, {log_inv_rate}, {ell_zk}, {mask_log_inv_rate} | {claims} | {c:.1?} | \
                 {o:.1?} | {v:.1?} | {} KiB |",
                bytes / 1024
            );
        }
    }
}

/// How many openings of one hiding commitment stay hidden. p3 gives the committed oracle `u_0`
/// as many randomness coefficients per limb as one opening spot-checks it
/// (`ZkWhirConfig::oracle_randomness`, "at least the spot checks ever opened against the
/// oracle"), so a commitment is hidden for ONE opening: a weight commitment made at setup
/// and opened by every proof would reveal new codeword positions of the same limbs each
/// time. Prints, per stack size, that budget and an upper bound on the openings a larger
/// budget could cover: the codeword's slack (the rows a rate-1/2 code leaves free) over one
/// opening's spot checks. p3 does not let the budget grow, and growing it would also raise
/// the first round's effective rate (docs/SECURITY.md, "Hidden weights across proofs").
/// `cargo test --release -p zkml-proof pcs::tests::hiding_budget -- --ignored --nocapture`
#[test]
#[ignore = "report"]
fn hiding_budget() {
    use super::hiding::{HIDING, hiding_config};

    println!(
        "| stack | spot checks of u_0 per opening | message rows | slack rows | openings, at most |"
    );
    for n in 13..=26 {
        let config = hiding_config(n, &HIDING).unwrap();
        let budget = config.oracle_randomness()[0];
        let rows = 1usize << (n - HIDING.folding);
        let slack = (rows << HIDING.log_inv_rate) - rows;
        println!(
            "| 2^{n} | {budget} | {rows} | {slack} | {} |",
            slack / budget
        );
    }
}

mod hiding_stack {
    use p3_field::PrimeCharacteristicRing;
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::super::hiding::{self, Combination, Hide, HidingCommitment, HidingOpeningProof};
    use super::{MIXED, claims_from, column, columns, mixed_spec};
    use crate::field::{EF, F};
    use crate::mle::evaluate;
    use crate::pcs::{Claim, CommitShape, PcsError};
    use crate::transcript::Transcript;

    #[derive(Clone)]
    struct Hidden {
        shape: CommitShape,
        commitment: HidingCommitment,
        claims: Vec<Combination>,
        values: Vec<EF>,
        proof: HidingOpeningProof,
    }

    fn combinations(claims: Vec<Claim>) -> Vec<Combination> {
        claims.into_iter().map(Combination::from).collect()
    }

    fn run(seed: u64) -> Hidden {
        run_deviating(seed, None)
    }

    fn run_deviating(seed: u64, cheat: Option<(EF, Hide)>) -> Hidden {
        let cols = columns(&MIXED);
        let mut t = Transcript::new();
        let (commitment, data) =
            hiding::commit(cols.clone(), StdRng::seed_from_u64(seed), &mut t).unwrap();
        let claims = combinations(claims_from(&mut t, &MIXED, &mixed_spec()));
        let (values, proof) = hiding::open_deviating(data, &claims, cheat, &mut t).unwrap();
        // the stacked points give each column's own evaluation (the first is a cheat's)
        for (claim, &v) in claims.iter().zip(&values).skip(cheat.map_or(0, |_| 1)) {
            let (_, claim) = &claim.terms[0];
            assert_eq!(v, evaluate(&cols[claim.column], &claim.point));
        }
        let shape = CommitShape {
            column_vars: MIXED.to_vec(),
        };
        Hidden {
            shape,
            commitment,
            claims,
            values,
            proof,
        }
    }

    /// Verifies `h`, the transcript first absorbing `history` when it is not empty.
    fn check(h: &Hidden, history: &[u8]) -> Result<(), PcsError> {
        let mut t = Transcript::new();
        if !history.is_empty() {
            t.absorb_bytes(history);
        }
        hiding::observe(&h.shape, &h.commitment, &mut t)?;
        claims_from(&mut t, &MIXED, &mixed_spec());
        hiding::verify(
            &h.shape,
            &h.commitment,
            &h.claims,
            &h.values,
            &h.proof,
            &mut t,
        )
    }

    /// The hiding stack against our commitment on a witness-like shape: 20 columns of 2^12 to
    /// 2^17 cells (2^19.9 in all), 140 claims at 28 points (the 264k CNN's witness opening has
    /// 141 at 28). `cargo test --release -p zkml-proof hiding_stack::overhead -- --ignored
    /// --nocapture`
    #[test]
    #[ignore = "benchmark"]
    fn overhead() {
        use std::time::Instant;
        let vars = [
            17, 17, 17, 17, 16, 16, 16, 16, 15, 15, 15, 15, 14, 14, 14, 14, 13, 13, 12, 12,
        ];
        let spec: Vec<(usize, usize)> = (0..140).map(|i| (i % vars.len(), i % 28)).collect();
        let shape = CommitShape {
            column_vars: vars.to_vec(),
        };
        for round in 0..2 {
            let mut t = Transcript::new();
            let start = Instant::now();
            let (c, data) = crate::pcs::commit(columns(&vars), &mut t).unwrap();
            let claims = claims_from(&mut t, &vars, &spec);
            let (values, proof) = crate::pcs::open(data, &claims, &mut t).unwrap();
            let ours = start.elapsed();
            let mut tv = Transcript::new();
            crate::pcs::observe(&shape, &c, &mut tv);
            claims_from(&mut tv, &vars, &spec);
            let start = Instant::now();
            crate::pcs::verify(&shape, &c, &claims, &values, &proof, &mut tv).unwrap();
            let ours_v = start.elapsed();
            let ours_bytes = postcard::to_allocvec(&proof).unwrap().len();

            let mut t = Transcript::new();
            let start = Instant::now();
            let rng = StdRng::seed_from_u64(round);
            let (hc, data) = hiding::commit(columns(&vars), rng, &mut t).unwrap();
            let claims = combinations(claims_from(&mut t, &vars, &spec));
            let (values, proof) = hiding::open(data, &claims, &mut t).unwrap();
            let hidden = start.elapsed();
            let mut tv = Transcript::new();
            hiding::observe(&shape, &hc, &mut tv).unwrap();
            claims_from(&mut tv, &vars, &spec);
            let start = Instant::now();
            hiding::verify(&shape, &hc, &claims, &values, &proof, &mut tv).unwrap();
            let hidden_v = start.elapsed();
            let hidden_bytes = postcard::to_allocvec(&proof).unwrap().len();
            println!(
                "commit + open: ours {ours:.1?}, hiding {hidden:.1?}; verify {ours_v:.1?} / \
                 {hidden_v:.1?}; proof {} / {} KiB",
                ours_bytes / 1024,
                hidden_bytes / 1024
            );
        }
    }

    /// Two shapes with the same stack (2^12 cells) and root bind different transcripts.
    #[test]
    fn observe_binds_the_shape() {
        let (commitment, _) = hiding::commit(
            columns(&[12]),
            StdRng::seed_from_u64(5),
            &mut Transcript::new(),
        )
        .unwrap();
        let next = |vars: &[usize]| {
            let mut t = Transcript::new();
            let shape = CommitShape {
                column_vars: vars.to_vec(),
            };
            hiding::observe(&shape, &commitment, &mut t).unwrap();
            t.sample()
        };
        assert_ne!(next(&[12]), next(&[11, 11]));
    }

    #[test]
    fn a_hiding_stack_opens_every_column_and_refuses_wrong_values() {
        let h = run(1);
        check(&h, b"").unwrap();
        // a wrong value changes the sum the reduction proves: its mask sumcheck ends wrong
        let mut bad = h.clone();
        bad.values[7] += EF::ONE;
        let wrong = |r: Result<(), PcsError>, k: usize| {
            assert!(
                matches!(r, Err(PcsError::WrongValue { claim }) if claim == k),
                "{:?}",
                r.err()
            );
        };
        wrong(check(&bad, b""), 1);
        wrong(check(&h, b"other history"), 1);
        let mut short = h.clone();
        short.values.pop();
        assert!(matches!(
            check(&short, b""),
            Err(PcsError::ValueCountMismatch { .. })
        ));
        // randomized: the same columns commit to other roots under other randomness
        assert_ne!(run(2).commitment, h.commitment);
    }

    /// One cheating prover per check of the reduction: a false first value whose error the
    /// prover hides in one place, caught by that place's check alone.
    #[test]
    fn each_check_of_the_reduction_refuses_its_cheat() {
        let delta = EF::from_u64(5);
        for (hide, claim) in [
            (Hide::Nowhere, 1),
            (Hide::AtS, 2),
            (Hide::AtT, 3),
            (Hide::Pad, 4),
        ] {
            let h = run_deviating(3, Some((delta, hide)));
            let r = check(&h, b"");
            assert!(
                matches!(r, Err(PcsError::WrongValue { claim: k }) if k == claim),
                "{hide:?}: {:?}",
                r.err()
            );
        }
    }

    /// Every part of the proof is bound: changing it is refused.
    #[test]
    fn every_part_of_the_proof_is_checked() {
        let h = run(4);
        type Edit = fn(&mut HidingOpeningProof);
        let edits: Vec<(&str, Edit)> = vec![
            ("mask sum", |p| p.reduction.masked.mask_sum += EF::ONE),
            ("a reduction round", |p| {
                p.reduction.masked.rounds.rounds[3][1] += EF::ONE
            }),
            ("P(s)", |p| p.reduction.at_s += EF::ONE),
            ("the pad", |p| p.reduction.pad += EF::ONE),
            ("a mask round", |p| {
                p.reduction.mask_rounds.rounds[2][0] += EF::ONE
            }),
            ("M(t)", |p| p.reduction.at_t += EF::ONE),
            ("an opened value", |p| p.opening.evals[1] += EF::ONE),
        ];
        for (what, edit) in edits {
            let mut bad = h.clone();
            edit(&mut bad.proof);
            assert!(check(&bad, b"").is_err(), "{what}");
        }
        let mut bad = h.clone();
        bad.proof.reduction.masked.rounds.rounds.pop();
        assert!(matches!(
            check(&bad, b""),
            Err(PcsError::MalformedProof { .. })
        ));
        let mut bad = h.clone();
        bad.proof.reduction.mask_rounds.rounds[0].push(EF::ONE);
        assert!(matches!(
            check(&bad, b""),
            Err(PcsError::MalformedProof { .. })
        ));
        let mut bad = h;
        bad.proof.opening.evals.push(EF::ONE);
        assert!(matches!(
            check(&bad, b""),
            Err(PcsError::MalformedProof { .. })
        ));
    }

    /// Random shapes and claims: the honest opening verifies, with each claim's own value, and
    /// a value one off is refused.
    #[test]
    fn random_shapes_open_and_refuse_a_wrong_value() {
        use proptest::prelude::*;
        use proptest::test_runner::{Config, TestRunner};

        let shapes = prop::collection::vec(0usize..14, 1..6);
        let mut runner = TestRunner::new(Config {
            cases: 12,
            ..Config::default()
        });
        let strategy = (
            shapes,
            prop::collection::vec((0usize..6, 0usize..4), 1..12),
            any::<u64>(),
        );
        runner
            .run(&strategy, |(vars, picks, seed)| {
                let spec: Vec<(usize, usize)> =
                    picks.iter().map(|&(c, p)| (c % vars.len(), p)).collect();
                let cols = columns(&vars);
                let shape = CommitShape {
                    column_vars: vars.clone(),
                };
                let mut t = Transcript::new();
                let (c, data) =
                    hiding::commit(cols.clone(), StdRng::seed_from_u64(seed), &mut t).unwrap();
                let claims = combinations(claims_from(&mut t, &vars, &spec));
                let (values, proof) = hiding::open(data, &claims, &mut t).unwrap();
                for (claim, &v) in claims.iter().zip(&values) {
                    let (_, claim) = &claim.terms[0];
                    prop_assert_eq!(v, evaluate(&cols[claim.column], &claim.point));
                }
                let check = |values: &[EF]| {
                    let mut t = Transcript::new();
                    hiding::observe(&shape, &c, &mut t).unwrap();
                    claims_from(&mut t, &vars, &spec);
                    hiding::verify(&shape, &c, &claims, values, &proof, &mut t)
                };
                prop_assert!(check(&values).is_ok());
                let k = (seed as usize) % values.len();
                let mut wrong = values.clone();
                wrong[k] += EF::ONE;
                let refused = matches!(check(&wrong), Err(PcsError::WrongValue { claim: 1 }));
                prop_assert!(refused, "a wrong value of claim {} verified", k);
                Ok(())
            })
            .unwrap();
    }

    /// A zero-knowledge sumcheck of a committed column end to end: `S = sum_x f(x) h(x)` (`h`
    /// public) over the masked column `f^ = f + x_0 (1 - x_0) R` (equal to `f` on the cube),
    /// its Libra mask's coefficients in the hiding stack; the verifier's last check takes
    /// `f^(r)` and `g(r)`, each one value of a combination the hiding stack opens, so `f(r)`
    /// itself is never sent. A false `S` is refused by that check.
    #[test]
    fn a_masked_sumcheck_of_a_committed_column_opens_through_the_stack() {
        use crate::sumcheck::ProductSum;
        use crate::sumcheck::zk::{self, Mask};

        const N: usize = 6;
        const DEGREE: usize = 4;
        let f = column(N, 21);
        let r_f = column(N - 1, 22);
        let h: Vec<EF> = column(N, 23).into_iter().map(EF::from).collect();
        let sum: EF = f.iter().zip(&h).map(|(&a, &b)| b * a).sum();
        // f^(r) = f(r) + r_0 (1 - r_0) R_f(r_1..), and g(r)
        let claims_at = |r: &[EF]| {
            [
                Combination {
                    terms: vec![
                        (
                            EF::ONE,
                            Claim {
                                column: 0,
                                point: r.to_vec(),
                            },
                        ),
                        (
                            r[0] * (EF::ONE - r[0]),
                            Claim {
                                column: 1,
                                point: r[1..].to_vec(),
                            },
                        ),
                    ],
                },
                zk::mask_claim(DEGREE, 2, r).unwrap(),
            ]
        };
        let prove = |claimed: EF| {
            let mut rng = StdRng::seed_from_u64(9);
            let mask = Mask::new(N, DEGREE, &mut || rng.random());
            let mut cols = vec![f.clone(), r_f.clone()];
            cols.extend(mask.columns());
            let mut t = Transcript::new();
            let (c, data) = hiding::commit(cols, StdRng::seed_from_u64(10), &mut t).unwrap();
            t.absorb_ext(&[claimed]);
            let lift = |v: &[F]| v.iter().map(|&x| EF::from(x)).collect::<Vec<EF>>();
            let x0: Vec<EF> = (0..1usize << N)
                .map(|x| EF::from_bool(x >> (N - 1) == 1))
                .collect();
            let mut kernel = ProductSum {
                tables: vec![
                    lift(&f),
                    h.clone(),
                    x0.iter().map(|&v| EF::ONE - v).collect(),
                    x0,
                    lift(&r_f).repeat(2),
                ],
                terms: vec![(EF::ONE, vec![0, 1]), (EF::ONE, vec![3, 2, 4, 1])],
            };
            let (rounds, r, _) = zk::prove(&mut kernel, &mask, &mut t);
            let claims = claims_at(&r);
            let (values, opening) = hiding::open(data, &claims, &mut t).unwrap();
            (c, rounds, values, opening)
        };
        let verify = |claimed: EF, (c, rounds, values, opening): &(_, _, Vec<EF>, _)| {
            let shape = CommitShape {
                column_vars: [N, N - 1]
                    .into_iter()
                    .chain(std::iter::repeat_n(3, 3 * N))
                    .collect(),
            };
            let mut t = Transcript::new();
            hiding::observe(&shape, c, &mut t)?;
            t.absorb_ext(&[claimed]);
            let (r, e, rho) = zk::verify(claimed, N, DEGREE, rounds, &mut t).unwrap();
            if e != values[0] * evaluate(&h, &r) + rho * values[1] {
                return Err(PcsError::WrongValue { claim: usize::MAX });
            }
            let claims = claims_at(&r);
            hiding::verify(&shape, c, &claims, values, opening, &mut t)
        };
        let honest = prove(sum);
        verify(sum, &honest).unwrap();
        let false_sum = sum + EF::ONE;
        assert!(matches!(
            verify(false_sum, &prove(false_sum)),
            Err(PcsError::WrongValue { claim: usize::MAX })
        ));
        let mut bad = honest;
        bad.2[1] += EF::ONE;
        assert!(verify(sum, &bad).is_err());
    }

    /// The mask block is the opening's own: no claim may name it.
    #[test]
    fn claims_on_the_mask_block_are_refused() {
        let mut h = run(5);
        h.claims[0].terms[0].1 = Claim {
            column: MIXED.len(),
            point: vec![EF::ONE; hiding::MASK_VARS],
        };
        assert!(matches!(
            check(&h, b""),
            Err(PcsError::BadColumn { claim: 0, .. })
        ));
        let mut t = Transcript::new();
        let (_, data) = hiding::commit(columns(&MIXED), StdRng::seed_from_u64(5), &mut t).unwrap();
        let r = hiding::open(data, &h.claims, &mut t);
        assert!(matches!(r, Err(PcsError::BadColumn { claim: 0, .. })));
    }
}

/// The Merkle hashes (module docs): one packed Poseidon2 permutation (eight lanes with
/// AVX-512) at widths 8, 12 and 16, which the trees used, against the Keccak-f leaf hash of a
/// 16-element row and node compression they use now. `cargo test --release -p zkml-proof
/// pcs::tests::hash_widths -- --ignored --nocapture`
#[test]
#[ignore = "measurement"]
fn hash_widths() {
    use p3_field::PackedValue;
    use p3_goldilocks::{
        default_goldilocks_poseidon2_8, default_goldilocks_poseidon2_12,
        default_goldilocks_poseidon2_16,
    };
    use p3_symmetric::Permutation;
    use p3_symmetric::{CryptographicHasher, PseudoCompressionFunction};
    type P = <F as p3_field::Field>::Packing;
    let n = 200_000;
    macro_rules! run {
        ($w:expr, $perm:expr) => {{
            let perm = $perm;
            let mut s = [P::from(F::ONE); $w];
            let t = Instant::now();
            for _ in 0..n {
                perm.permute_mut(&mut s);
            }
            let e = t.elapsed().as_secs_f64();
            let ns = e * 1e9 / n as f64;
            // rate: the width less the 4-element capacity
            let per_element = ns / (P::WIDTH * ($w - 4)) as f64;
            println!("width {}: {ns:.0} ns per packed permutation, {per_element:.0} ns per absorbed element ({:?})", $w, s[0].as_slice()[0]);
        }};
    }
    run!(8, default_goldilocks_poseidon2_8());
    run!(12, default_goldilocks_poseidon2_12());
    run!(16, default_goldilocks_poseidon2_16());

    let row = [P::from(F::ONE); 16];
    let t = Instant::now();
    let mut d = [P::from(F::ZERO); 4];
    for _ in 0..n {
        d = super::hash::LeafHash.hash_iter(row.iter().map(|&x| x + d[0]));
    }
    let leaf = t.elapsed().as_secs_f64() * 1e9 / (n * P::WIDTH) as f64;
    let t = Instant::now();
    for _ in 0..n {
        d = super::hash::NodeCompress.compress([d, d]);
    }
    let node = t.elapsed().as_secs_f64() * 1e9 / (n * P::WIDTH) as f64;
    println!(
        "keccak-f: {leaf:.0} ns per 16-element row, {node:.0} ns per node ({:?})",
        d[0].as_slice()[0]
    );
}
