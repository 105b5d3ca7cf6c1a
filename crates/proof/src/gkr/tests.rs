//! Completeness, soundness (tampering, wrong statements) and property tests for logup-GKR.

use p3_field::{Field, PrimeCharacteristicRing};
use proptest::prelude::*;

use super::*;
use crate::mle::evaluate;

/// A deterministic splitmix64 generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A random extension element drawn from a transcript seeded with `seed`.
fn random_ext(seed: u64) -> EF {
    let mut t = Transcript::new();
    t.absorb_u64(seed);
    t.sample()
}

/// A logup instance: lookup columns of `2^lookup_vars[i]` values drawn from a table of
/// `2^table_vars` distinct values (the table segment is last), with `bad` values added to the
/// first lookup when set.
fn logup(lookup_vars: &[usize], table_vars: usize, bad: Option<u64>, seed: u64) -> Vec<Segment> {
    let mut rng = Rng(seed);
    let alpha = random_ext(seed);
    let table: Vec<u64> = (0..1u64 << table_vars).map(|i| 3 * i + 7).collect();
    let mut mult = vec![0u64; table.len()];
    let mut segments = Vec::new();
    for (i, &n) in lookup_vars.iter().enumerate() {
        let vals: Vec<u64> = (0..1usize << n)
            .map(|j| match bad {
                Some(v) if i == 0 && j == 0 => v,
                _ => {
                    let idx = rng.below(table.len() as u64) as usize;
                    mult[idx] += 1;
                    table[idx]
                }
            })
            .collect();
        segments.push(Segment {
            num: vec![F::NEG_ONE; vals.len()],
            den: vals.iter().map(|&v| alpha - F::from_u64(v)).collect(),
        });
    }
    segments.push(Segment {
        num: mult.iter().map(|&m| F::from_u64(m)).collect(),
        den: table.iter().map(|&v| alpha - F::from_u64(v)).collect(),
    });
    segments
}

fn vars_of(segments: &[Segment]) -> Vec<usize> {
    segments
        .iter()
        .map(|s| s.num.len().trailing_zeros() as usize)
        .collect()
}

fn prove_fresh(segments: &[Segment]) -> (GkrProof, Vec<LeafClaim>) {
    prove(segments.to_vec(), &mut Transcript::new())
}

fn verify_fresh(vars: &[usize], proof: &GkrProof) -> Result<Vec<LeafClaim>, GkrError> {
    verify(vars, proof, &mut Transcript::new())
}

/// Proves, verifies, and checks the leaf claims against the segments' MLEs.
fn assert_complete(segments: &[Segment]) -> GkrProof {
    let vars = vars_of(segments);
    let (proof, prover_leaves) = prove_fresh(segments);
    let leaves = verify_fresh(&vars, &proof).expect("honest proof verifies");
    assert_eq!(leaves, prover_leaves);
    for (seg, leaf) in segments.iter().zip(&leaves) {
        assert_eq!(leaf.point.len(), seg.num.len().trailing_zeros() as usize);
        assert_eq!(leaf.num, evaluate(&seg.num, &leaf.point));
        assert_eq!(leaf.den, evaluate(&seg.den, &leaf.point));
    }
    proof
}

#[test]
fn completeness_segments_of_different_sizes() {
    assert_complete(&logup(&[0, 1, 3, 10], 4, None, 1));
    // the deepest segment is the only one active at most depths
    assert_complete(&logup(&[0, 0, 10], 1, None, 2));
    // the table is the deepest segment
    assert_complete(&logup(&[2, 0], 6, None, 3));
    // a single lookup of one value into a one-entry table: no layers at all
    let segs = logup(&[0], 0, None, 4);
    let proof = assert_complete(&segs);
    assert!(proof.layers.is_empty());
}

#[test]
fn completeness_single_segment_and_no_segment() {
    let a = random_ext(9);
    let seg = Segment {
        num: vec![F::ONE, F::NEG_ONE, F::TWO, -F::TWO],
        den: vec![a, a, a, a],
    };
    assert_complete(&[seg]);
    let (proof, leaves) = prove_fresh(&[]);
    assert!(leaves.is_empty());
    assert_eq!(verify_fresh(&[], &proof), Ok(Vec::new()));
}

#[test]
fn proof_serializes_round_trip() {
    let segs = logup(&[3, 5], 3, None, 5);
    let (proof, _) = prove_fresh(&segs);
    let bytes = postcard::to_allocvec(&proof).unwrap();
    let back: GkrProof = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(back, proof);
    assert!(verify_fresh(&vars_of(&segs), &back).is_ok());
}

#[test]
fn value_missing_from_table_is_rejected() {
    let segs = logup(&[3, 5], 3, Some(1_000_000), 6);
    let (proof, _) = prove_fresh(&segs);
    assert_eq!(
        verify_fresh(&vars_of(&segs), &proof),
        Err(GkrError::NonZeroSum)
    );
}

#[test]
fn different_transcript_is_rejected() {
    let segs = logup(&[3, 5], 3, None, 7);
    let (proof, _) = prove_fresh(&segs);
    let mut t = Transcript::new();
    t.absorb_bytes(b"other context");
    assert!(verify(&vars_of(&segs), &proof, &mut t).is_err());
}

#[test]
fn tampered_roots_are_rejected() {
    let segs = logup(&[2, 6], 3, None, 8);
    let vars = vars_of(&segs);
    let (proof, _) = prove_fresh(&segs);

    let mut p = proof.clone();
    p.roots[1].0 += EF::ONE;
    assert_eq!(verify_fresh(&vars, &p), Err(GkrError::NonZeroSum));

    let mut p = proof.clone();
    p.roots[2].1 = EF::ZERO;
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::RootDenominatorZero { segment: 2 })
    );

    // same fraction, different representation: the sum still checks, the layer does not
    let mut p = proof.clone();
    let two = EF::TWO;
    p.roots[1] = (p.roots[1].0 * two, p.roots[1].1 * two);
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::LayerClaimMismatch { depth: 0 })
    );
}

#[test]
fn tampered_rounds_are_rejected() {
    let segs = logup(&[2, 7], 4, None, 9);
    let vars = vars_of(&segs);
    let (proof, _) = prove_fresh(&segs);
    let depth = 4;
    assert_eq!(proof.layers[depth].rounds.len(), 4);

    for round in 0..depth {
        for idx in 0..2 {
            let mut p = proof.clone();
            p.layers[depth].rounds[round][idx] += EF::ONE;
            assert_eq!(
                verify_fresh(&vars, &p),
                Err(GkrError::RoundMismatch { depth, round })
            );
        }
    }
    // g(2) is only used through g(s): the next check fails
    let mut p = proof.clone();
    p.layers[depth].rounds[1][2] += EF::ONE;
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::RoundMismatch { depth, round: 2 })
    );
    let mut p = proof.clone();
    p.layers[depth].rounds[3][2] += EF::ONE;
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::LayerClaimMismatch { depth })
    );

    let mut p = proof.clone();
    p.layers[depth].rounds.swap(1, 2);
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::RoundMismatch { depth, round: 1 })
    );
}

#[test]
fn tampered_children_are_rejected() {
    let segs = logup(&[2, 7], 4, None, 10);
    let vars = vars_of(&segs);
    let (proof, _) = prove_fresh(&segs);
    // a middle layer (depth 3: segments 1 and 2 active), every position of every child
    for seg in 0..2 {
        for idx in 0..4 {
            let mut p = proof.clone();
            p.layers[3].children[seg][idx] += EF::ONE;
            assert_eq!(
                verify_fresh(&vars, &p),
                Err(GkrError::LayerClaimMismatch { depth: 3 })
            );
        }
    }
    // the leaf evaluations of the deepest segment (last layer)
    let last = proof.layers.len() - 1;
    let mut p = proof.clone();
    p.layers[last].children[0][1] += EF::ONE;
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::LayerClaimMismatch { depth: last })
    );
    // swapping two segments' children
    let mut p = proof.clone();
    p.layers[3].children.swap(0, 1);
    assert_eq!(
        verify_fresh(&vars, &p),
        Err(GkrError::LayerClaimMismatch { depth: 3 })
    );
}

#[test]
fn wrong_shapes_are_errors() {
    let segs = logup(&[2, 5], 3, None, 11);
    let vars = vars_of(&segs); // [2, 5, 3]
    let (proof, _) = prove_fresh(&segs);

    let err = verify_fresh(&[2, 5], &proof);
    assert_eq!(
        err,
        Err(GkrError::WrongSegmentCount {
            expected: 2,
            got: 3
        })
    );
    let err = verify_fresh(&[2, 6, 3], &proof);
    assert_eq!(
        err,
        Err(GkrError::WrongLayerCount {
            expected: 6,
            got: 5
        })
    );
    let err = verify_fresh(&[2, 5, 4], &proof);
    assert_eq!(
        err,
        Err(GkrError::WrongChildCount {
            depth: 3,
            expected: 2,
            got: 1
        })
    );
    let err = verify_fresh(&[2, usize::MAX, 3], &proof);
    assert_eq!(
        err,
        Err(GkrError::WrongLayerCount {
            expected: usize::MAX,
            got: 5
        })
    );
    let err = verify_fresh(&vars, &GkrProof::default());
    assert_eq!(
        err,
        Err(GkrError::WrongSegmentCount {
            expected: 3,
            got: 0
        })
    );

    let mut p = proof.clone();
    p.layers[2].rounds.pop();
    let err = verify_fresh(&vars, &p);
    assert_eq!(
        err,
        Err(GkrError::WrongRoundCount {
            depth: 2,
            expected: 2,
            got: 1
        })
    );
    let mut p = proof.clone();
    p.layers.swap(1, 2);
    let err = verify_fresh(&vars, &p);
    assert_eq!(
        err,
        Err(GkrError::WrongRoundCount {
            depth: 1,
            expected: 1,
            got: 2
        })
    );
    let mut p = proof;
    p.layers[0].children.push([EF::ONE; 4]);
    let err = verify_fresh(&vars, &p);
    assert_eq!(
        err,
        Err(GkrError::WrongChildCount {
            depth: 0,
            expected: 3,
            got: 4
        })
    );
}

/// The parent layer computed naively: children `j` and `j + half`.
fn naive_parent(p: &[EF], q: &[EF]) -> (Vec<EF>, Vec<EF>) {
    let h = p.len() / 2;
    (0..h)
        .map(|j| (p[j] * q[j + h] + p[j + h] * q[j], q[j] * q[j + h]))
        .unzip()
}

#[test]
fn round_polynomial_matches_layer_and_does_not_depend_on_rj() {
    let segs = balanced(&[4], 13);
    let seg = segs[0].clone();
    let p4: Vec<EF> = seg.num.iter().map(|&x| EF::from(x)).collect();
    let (p3, q3) = naive_parent(&p4, &seg.den);
    let (p2, q2) = naive_parent(&p3, &q3);
    let lambda = random_ext(1);
    let r = [random_ext(2), random_ext(3)];
    // depth 2: the claim is on layer 2 at r, the sumcheck runs over layer 3's halves
    let claim = evaluate(&p2, &r) + lambda * evaluate(&q2, &r);
    let g = prove::first_round_poly(seg.clone(), 2, &r, lambda, claim);
    assert_eq!((EF::ONE - r[0]) * g[0] + r[0] * g[1], claim);
    // with r[0] = 0 the prover computes g(1) directly; g itself does not depend on r[0]
    let r0 = [EF::ZERO, r[1]];
    let claim0 = evaluate(&p2, &r0) + lambda * evaluate(&q2, &r0);
    assert_eq!(prove::first_round_poly(seg, 2, &r0, lambda, claim0), g);
}

/// Random segments whose fractions sum to zero: the last (one-leaf) segment balances the rest.
fn balanced(vars: &[usize], seed: u64) -> Vec<Segment> {
    let mut rng = Rng(seed);
    let mut segments: Vec<Segment> = vars
        .iter()
        .enumerate()
        .map(|(k, &n)| Segment {
            num: (0..1usize << n)
                .map(|_| F::from_u64(rng.below(1000)))
                .collect(),
            den: (0..1usize << n)
                .map(|i| random_ext(seed ^ ((k as u64) << 40) ^ i as u64))
                .collect(),
        })
        .collect();
    let sum: EF = segments
        .iter()
        .flat_map(|s| s.num.iter().zip(&s.den).map(|(&p, &q)| q.inverse() * p))
        .sum();
    let den = if sum.is_zero() {
        EF::ONE
    } else {
        -sum.inverse()
    };
    let num = if sum.is_zero() { F::ZERO } else { F::ONE };
    segments.push(Segment {
        num: vec![num],
        den: vec![den],
    });
    segments
}

/// A block's leaves: its members' leaves at their offsets.
fn concatenated<T: Copy + Default>(group: &Group, parts: &[Vec<T>]) -> Vec<T> {
    let mut out = vec![T::default(); 1 << group.vars];
    for &(k, offset) in &group.members {
        out[offset..offset + parts[k].len()].copy_from_slice(&parts[k]);
    }
    out
}

#[test]
fn packing_fills_blocks_without_padding() {
    // 2^3 + 3 * 2^2 + 2^1 + 2 * 2^0 = 24 = 2^4 + 2^3
    let vars = [2, 0, 3, 2, 1, 0, 2];
    let groups = pack(&vars);
    let expected = vec![
        Group {
            vars: 4,
            members: vec![(2, 0), (0, 8), (3, 12)],
        },
        Group {
            vars: 3,
            members: vec![(6, 0), (4, 4), (1, 6), (5, 7)],
        },
    ];
    assert_eq!(groups, expected);
    assert_eq!(pack(&[]), Vec::<Group>::new());
    assert_eq!(
        pack(&[5]),
        vec![Group {
            vars: 5,
            members: vec![(0, 0)]
        }]
    );
}

#[test]
fn a_block_evaluates_as_its_weighted_members() {
    let vars = [2, 0, 3, 2, 1, 0, 2];
    let mut rng = Rng(11);
    let parts: Vec<Vec<F>> = vars
        .iter()
        .map(|&n| (0..1 << n).map(|_| F::from_u64(rng.next())).collect())
        .collect();
    for (g, group) in pack(&vars).iter().enumerate() {
        let point: Vec<EF> = (0..group.vars)
            .map(|i| random_ext(100 * g as u64 + i as u64))
            .collect();
        let members: EF = group
            .members
            .iter()
            .map(|&(k, offset)| {
                let (weight, own) = member_at(&point, vars[k], offset);
                weight * evaluate(&parts[k], own)
            })
            .sum();
        assert_eq!(evaluate(&concatenated(group, &parts), &point), members);
    }
}

#[test]
fn unpacking_gives_every_segment_its_place_in_its_block() {
    let vars = [2, 0, 3, 2, 1, 0, 2];
    let groups = pack(&vars);
    let points: Vec<Vec<EF>> = (groups.iter().enumerate())
        .map(|(g, group)| {
            (0..group.vars)
                .map(|i| random_ext(10 * g as u64 + i as u64))
                .collect()
        })
        .collect();
    let members = unpack(&groups, &vars, &points);
    assert_eq!(members.len(), vars.len());
    for (group, point) in groups.iter().zip(&points) {
        for &(k, offset) in &group.members {
            let (weight, own) = member_at(point, vars[k], offset);
            assert_eq!(members[k], (weight, own.to_vec()));
            assert_eq!(own.len(), vars[k]);
        }
    }
    // segment 2 fills the first half of the 16-leaf block: its weight is 1 - point[0]
    assert_eq!(members[2].0, EF::ONE - points[0][0]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn packing_partitions_into_exact_aligned_blocks(vars in prop::collection::vec(0usize..9, 0..12)) {
        let groups = pack(&vars);
        let total: usize = vars.iter().map(|&n| 1usize << n).sum();
        prop_assert_eq!(groups.len(), total.count_ones() as usize);
        let mut seen = vec![false; vars.len()];
        let mut last_vars = usize::MAX;
        for group in &groups {
            prop_assert!(group.vars < last_vars);
            last_vars = group.vars;
            let mut filled = 0;
            for &(k, offset) in &group.members {
                prop_assert!(!seen[k]);
                seen[k] = true;
                prop_assert_eq!(offset, filled);
                prop_assert_eq!(offset % (1 << vars[k]), 0);
                filled += 1 << vars[k];
            }
            prop_assert_eq!(filled, 1 << group.vars);
        }
        prop_assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn random_sizes_complete(vars in prop::collection::vec(0usize..7, 0..5), seed: u64) {
        assert_complete(&balanced(&vars, seed));
    }

    #[test]
    fn random_tampering_is_rejected(
        vars in prop::collection::vec(1usize..6, 1..4),
        seed: u64,
        pick: u64,
    ) {
        let segs = balanced(&vars, seed);
        let (mut proof, _) = prove_fresh(&segs);
        let layers = proof.layers.len();
        let d = (pick as usize) % layers;
        let layer = &mut proof.layers[d];
        let n_pos = layer.rounds.len() * 3 + layer.children.len() * 4;
        let pos = ((pick >> 16) as usize) % n_pos;
        if pos < layer.rounds.len() * 3 {
            layer.rounds[pos / 3][pos % 3] += EF::ONE;
        } else {
            let c = pos - layer.rounds.len() * 3;
            layer.children[c / 4][c % 4] += EF::ONE;
        }
        prop_assert!(verify_fresh(&vars_of(&segs), &proof).is_err());
    }

    #[test]
    fn verifier_never_panics_on_foreign_shapes(
        vars in prop::collection::vec(0usize..6, 0..4),
        claimed in prop::collection::vec(0usize..8, 0..5),
        seed: u64,
    ) {
        let (proof, _) = prove_fresh(&balanced(&vars, seed));
        let _ = verify_fresh(&claimed, &proof);
    }
}

/// Times prove and verify (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn time_prove_verify() {
    for total in [16usize, 20] {
        // lookups of 2^(total-1) and 2^(total-2) values into a 2^(total-2) table
        let segs = logup(&[total - 1, total - 2], total - 2, None, 12);
        let vars = vars_of(&segs);
        let start = std::time::Instant::now();
        let (proof, _) = prove_fresh(&segs);
        let prove_time = start.elapsed();
        let start = std::time::Instant::now();
        verify_fresh(&vars, &proof).unwrap();
        let verify_time = start.elapsed();
        let size = postcard::to_allocvec(&proof).unwrap().len();
        println!(
            "2^{total} leaves: prove {prove_time:?}, verify {verify_time:?}, proof {size} bytes"
        );
    }
}

/// The helpers shared by prover and verifier, against their definitions: a mutation that both
/// sides share would keep honest proofs verifying and so must be caught here.
#[test]
fn helpers_match_their_definitions() {
    let (b, x) = (random_ext(21), random_ext(22));
    assert_eq!(powers(b, 4), vec![EF::ONE, b, b * b, b * b * b]);
    assert!(powers(b, 0).is_empty());
    // the quadratic through (0, g0), (1, g1), (2, g2), at x and on the nodes
    let quad = |t: EF| EF::from_u64(3) * t * t - EF::from_u64(5) * t + EF::from_u64(7);
    let g = [quad(EF::ZERO), quad(EF::ONE), quad(EF::TWO)];
    assert_eq!(interpolate(&g, x), quad(x));
    for (i, &gi) in g.iter().enumerate() {
        assert_eq!(interpolate(&g, EF::from_u64(i as u64)), gi);
    }
    let c = [
        random_ext(23),
        random_ext(24),
        random_ext(25),
        random_ext(26),
    ];
    let [pl, pr, ql, qr] = c;
    assert_eq!(combine(&c, x), pl * qr + pr * ql + x * ql * qr);
    assert_eq!(reduce(&c, x), (pl + x * (pr - pl), ql + x * (qr - ql)));
    assert_eq!(reduce(&c, EF::ZERO), (pl, ql));
    assert_eq!(reduce(&c, EF::ONE), (pr, qr));
}

/// The statement's shape enters the transcript before any challenge: two statements with
/// different segment sizes never share challenges.
#[test]
fn the_shape_is_bound_before_any_challenge() {
    let first = |vars: &[usize]| {
        let mut t = Transcript::new();
        absorb_shape(&mut t, vars);
        t.sample()
    };
    let fresh = Transcript::new().sample();
    let a = first(&[1, 2]);
    for other in [&[2, 1][..], &[1, 2, 0], &[1], &[1, 3], &[]] {
        assert_ne!(a, first(other), "{other:?}");
        assert_ne!(first(other), fresh, "{other:?}");
    }
}

/// Root checks with three segments: the pairwise fold must be the real sum of fractions.
#[test]
fn root_sum_uses_every_fraction() {
    let segs = balanced(&[2, 3, 1], 31);
    let vars = vars_of(&segs);
    let (proof, _) = prove_fresh(&segs);
    assert!(verify_fresh(&vars, &proof).is_ok());
    // p1/q1 + p2/q2 + ... with one root scaled: still nonzero denominators, wrong sum
    for k in 0..proof.roots.len() {
        let mut p = proof.clone();
        p.roots[k].1 *= EF::TWO;
        assert_eq!(
            verify_fresh(&vars, &p),
            Err(GkrError::NonZeroSum),
            "root {k}"
        );
    }
}

/// Times the GKR prover on unit segments of LeNet-28's sizes at 64 samples, one tree per
/// segment against one per packed block (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn time_packed_against_separate() {
    let vars: Vec<usize> = [19, 17, 16, 14, 13, 13, 10]
        .iter()
        .flat_map(|&n| [n; 4])
        .collect();
    let segments: Vec<Segment> = vars
        .iter()
        .enumerate()
        .map(|(k, &n)| Segment {
            num: vec![-F::ONE; 1 << n],
            den: (0..1u64 << n)
                .map(|i| EF::from_u64(i + 1) + random_ext(k as u64))
                .collect(),
        })
        .collect();
    let packed: Vec<Segment> = pack(&vars)
        .iter()
        .map(|g| Segment {
            num: g
                .members
                .iter()
                .flat_map(|&(k, _)| segments[k].num.clone())
                .collect(),
            den: g
                .members
                .iter()
                .flat_map(|&(k, _)| segments[k].den.clone())
                .collect(),
        })
        .collect();
    for round in 0..3 {
        for (name, input) in [("separate", &segments), ("packed", &packed)] {
            let input = input.clone();
            let start = std::time::Instant::now();
            let (proof, _) = prove(input, &mut Transcript::new());
            let size = postcard::to_allocvec(&proof).unwrap().len();
            println!("{round} {name}: {:?}, {size} bytes", start.elapsed());
        }
    }
}
