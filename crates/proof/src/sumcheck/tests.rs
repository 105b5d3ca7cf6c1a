use p3_field::PrimeCharacteristicRing;

use super::*;
use crate::field::{EF, F};
use crate::mle::{eq_eval, eq_table, evaluate};
use crate::transcript::Transcript;

fn table(n: usize, seed: u64) -> Vec<F> {
    (0..1u64 << n)
        .map(|i| F::from_u64((i * 7 + seed) * (i ^ seed) % 1000))
        .collect()
}

fn lift(v: &[F]) -> Vec<EF> {
    v.iter().map(|&x| EF::from(x)).collect()
}

/// eq(r, x) * a(x) * b(x) + 5 * c(x), a degree-3 instance.
fn instance(n: usize) -> (Vec<EF>, Vec<F>, Vec<F>, Vec<F>, ProductSum) {
    let mut t = Transcript::new();
    let r = t.sample_vec(n);
    let (a, b, c) = (table(n, 1), table(n, 2), table(n, 3));
    let ps = ProductSum {
        tables: vec![eq_table(&r), lift(&a), lift(&b), lift(&c)],
        terms: vec![(EF::ONE, vec![0, 1, 2]), (EF::from_u64(5), vec![3])],
    };
    (r, a, b, c, ps)
}

fn run(n: usize) -> (Vec<EF>, Vec<F>, Vec<F>, Vec<F>, EF, SumcheckProof) {
    let (r, a, b, c, mut ps) = instance(n);
    let sum = ps.sum();
    let (proof, _) = prove(&mut ps, n, &mut Transcript::new());
    (r, a, b, c, sum, proof)
}

#[test]
fn honest_proof_verifies_and_final_claim_matches() {
    for n in [1, 3, 12] {
        let (r, a, b, c, sum, proof) = run(n);
        let (pt, fin) = verify(sum, n, 3, &proof, &mut Transcript::new()).unwrap();
        let expect = eq_eval(&r, &pt) * evaluate(&a, &pt) * evaluate(&b, &pt)
            + EF::from_u64(5) * evaluate(&c, &pt);
        assert_eq!(fin, expect, "n = {n}");
    }
}

fn final_check(r: &[EF], a: &[F], b: &[F], c: &[F], pt: &[EF], fin: EF) -> bool {
    fin == eq_eval(r, pt) * evaluate(a, pt) * evaluate(b, pt) + EF::from_u64(5) * evaluate(c, pt)
}

#[test]
fn wrong_sum_or_corrupted_round_fails_the_final_check() {
    let n = 6;
    let (r, a, b, c, sum, proof) = run(n);
    let (pt, fin) = verify(sum + EF::ONE, n, 3, &proof, &mut Transcript::new()).unwrap();
    assert!(!final_check(&r, &a, &b, &c, &pt, fin));
    for round in [0, 3, n - 1] {
        for k in 0..3 {
            let mut bad = proof.clone();
            bad.rounds[round][k] += EF::ONE;
            let (pt, fin) = verify(sum, n, 3, &bad, &mut Transcript::new()).unwrap();
            assert!(
                !final_check(&r, &a, &b, &c, &pt, fin),
                "round {round} slot {k}"
            );
        }
    }
    let mut swapped = proof.clone();
    swapped.rounds.swap(1, 2);
    let (pt, fin) = verify(sum, n, 3, &swapped, &mut Transcript::new()).unwrap();
    assert!(!final_check(&r, &a, &b, &c, &pt, fin));
}

#[test]
fn wrong_shape_is_a_typed_error() {
    let n = 4;
    let (_, _, _, _, sum, proof) = run(n);
    let mut short = proof.clone();
    short.rounds.pop();
    assert_eq!(
        verify(sum, n, 3, &short, &mut Transcript::new()),
        Err(SumcheckError::WrongRoundCount {
            expected: 4,
            got: 3
        })
    );
    let mut deg = proof.clone();
    deg.rounds[2].push(EF::ZERO);
    assert_eq!(
        verify(sum, n, 3, &deg, &mut Transcript::new()),
        Err(SumcheckError::WrongDegree {
            round: 2,
            expected: 3,
            got: 4
        })
    );
}

#[test]
fn interpolation_recovers_a_cubic() {
    let f = |x: EF| x * x * x + EF::from_u64(3) * x + EF::from_u64(9);
    let evals: Vec<EF> = (0..4u64).map(|i| f(EF::from_u64(i))).collect();
    let x = EF::from_u64(12345);
    assert_eq!(interpolate_uni(&evals, x), f(x));
}

#[test]
fn a_false_sum_with_consistent_rounds_is_left_to_the_final_check() {
    let n = 5;
    let (r, a, b, c, mut ps) = instance(n);
    let sum = ps.sum();
    let delta = EF::from_u64(77);
    let (proof, pt, offset) =
        prove_deviating(&mut ps, n, delta, &mut |_, _| {}, &mut Transcript::new());
    let (vpt, fin) = verify(sum + delta, n, 3, &proof, &mut Transcript::new()).unwrap();
    assert_eq!(vpt, pt);
    // every round is consistent: the final claim is the true value plus the offset
    let truth = eq_eval(&r, &pt) * evaluate(&a, &pt) * evaluate(&b, &pt)
        + EF::from_u64(5) * evaluate(&c, &pt);
    assert_eq!(fin, truth + offset);
    assert_eq!(offset, pt.iter().fold(delta, |acc, &x| acc * x));
    assert!(!final_check(&r, &a, &b, &c, &pt, fin));
}

/// The MLE helpers the verifiers call, against their definitions (values that are not a
/// linear function of the index, a padded table, points off the hypercube).
#[test]
fn mle_helpers_match_their_definitions() {
    let r: Vec<EF> = [3u64, 5, 7].iter().map(|&x| EF::from_u64(x)).collect();
    let vals: Vec<F> = (0..6u64).map(|i| F::from_u64(i * i + 2)).collect();
    let mut padded = vals.clone();
    padded.resize(8, F::ZERO);
    let bits = |i: usize| -> Vec<EF> {
        (0..3)
            .map(|k| EF::from_u64(((i >> (2 - k)) & 1) as u64))
            .collect()
    };
    // sum_i v_i eq(r, i), written out
    let direct: EF = padded
        .iter()
        .enumerate()
        .map(|(i, &v)| eq_eval(&r, &bits(i)) * v)
        .sum();
    assert_eq!(crate::mle::evaluate_padded(&vals, &r), direct);
    assert_eq!(evaluate(&padded, &r), direct);
    // eq(a, b) = prod_k (a_k b_k + (1 - a_k)(1 - b_k))
    let s: Vec<EF> = [11u64, 13, 17].iter().map(|&x| EF::from_u64(x)).collect();
    let prod: EF = r
        .iter()
        .zip(&s)
        .map(|(&a, &b)| a * b + (EF::ONE - a) * (EF::ONE - b))
        .product();
    assert_eq!(eq_eval(&r, &s), prod);
    let table = eq_table(&r);
    for (i, &e) in table.iter().enumerate() {
        assert_eq!(e, eq_eval(&r, &bits(i)), "eq table entry {i}");
    }
    let scaled = crate::mle::eq_table_scaled(&r, EF::from_u64(9));
    assert!(
        scaled
            .iter()
            .zip(&table)
            .all(|(&a, &b)| a == b * EF::from_u64(9))
    );
}

pub(crate) mod zero_knowledge {
    use p3_field::{BasedVectorSpace, PrimeCharacteristicRing, PrimeField64};
    use rand::rngs::StdRng;
    use rand::{RngExt, SeedableRng};

    use super::super::zk::{self, Mask};
    use super::super::{ProductSum, RoundKernel};
    use super::{instance, lift, table};
    use crate::field::{EF, F};
    use crate::mle::evaluate;
    use crate::transcript::Transcript;

    pub(super) fn draw(rng: &mut StdRng) -> impl FnMut() -> EF + '_ {
        || EF::from_basis_coefficients_fn(|_| F::from_u64(rng.random::<u64>()))
    }

    #[test]
    fn the_final_claim_is_the_masked_sum_at_the_point() {
        let mut rng = StdRng::seed_from_u64(1);
        for n in [1, 3, 8] {
            let (r, a, b, c, mut ps) = instance(n);
            let sum = ps.sum();
            let mask = Mask::new(n, 3, &mut draw(&mut rng));
            let (proof, point, rho) = zk::prove(&mut ps, &mask, &mut Transcript::new());
            let (pt, fin, rho2) = zk::verify(sum, n, 3, &proof, &mut Transcript::new()).unwrap();
            assert_eq!((&pt, rho2), (&point, rho));
            let f = crate::mle::eq_eval(&r, &pt) * evaluate(&a, &pt) * evaluate(&b, &pt)
                + EF::from_u64(5) * evaluate(&c, &pt);
            assert_eq!(fin, f + rho * mask.evaluate(&pt), "n = {n}");
            // a false sum ends at a false claim
            let (pt, fin, rho) =
                zk::verify(sum + EF::ONE, n, 3, &proof, &mut Transcript::new()).unwrap();
            let f = crate::mle::eq_eval(&r, &pt) * evaluate(&a, &pt) * evaluate(&b, &pt)
                + EF::from_u64(5) * evaluate(&c, &pt);
            assert_ne!(fin, f + rho * mask.evaluate(&pt), "n = {n}");
        }
    }

    #[test]
    fn the_mask_sum_and_evaluation_are_its_hypercube_sum_and_value() {
        let mut rng = StdRng::seed_from_u64(2);
        let n = 4;
        let mask = Mask::new(n, 2, &mut draw(&mut rng));
        let cube: EF = (0..1u32 << n)
            .map(|x| {
                let point: Vec<EF> = (0..n)
                    .map(|i| EF::from_u64(u64::from(x >> (n - 1 - i) & 1)))
                    .collect();
                mask.evaluate(&point)
            })
            .sum();
        assert_eq!(mask.sum(), cube);
    }

    /// `a * b` over 3 variables, or the same tables reversed: the same sum, another function.
    fn pair(reversed: bool) -> ProductSum {
        let (mut a, mut b) = (lift(&table(3, 4)), lift(&table(3, 5)));
        if reversed {
            a.reverse();
            b.reverse();
        }
        ProductSum {
            tables: vec![a, b],
            terms: vec![(EF::ONE, vec![0, 1])],
        }
    }

    /// One of 16 bins for `values`: their coordinates mixed (splitmix64).
    pub(crate) fn bin(values: &[EF]) -> usize {
        let mut h = 0u64;
        for v in values {
            let coordinates: &[F] = v.as_basis_coefficients_slice();
            for c in coordinates {
                let mut z = (h ^ c.as_canonical_u64()).wrapping_add(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                h = z ^ (z >> 31);
            }
        }
        (h % 16) as usize
    }

    /// The bin of the first round message.
    fn first_message_bin(reversed: bool, mask: &Mask) -> usize {
        let (proof, _, _) = zk::prove(&mut pair(reversed), mask, &mut Transcript::new());
        bin(&proof.rounds.rounds[0])
    }

    /// Two-sample chi-square statistic of the first round messages of `a * b` and of its
    /// reversal (same sum), over `proofs` proofs each with fresh masks (`zeroed`: all zero).
    fn chi_square(proofs: usize, zeroed: bool) -> f64 {
        let mut rng = StdRng::seed_from_u64(3);
        let mut counts = [[0f64; 16]; 2];
        for (side, reversed) in [false, true].into_iter().enumerate() {
            for _ in 0..proofs {
                let mut mask = Mask::new(3, 2, &mut draw(&mut rng));
                if zeroed {
                    mask.coefficients
                        .iter_mut()
                        .flatten()
                        .for_each(|c| *c = EF::ZERO);
                }
                counts[side][first_message_bin(reversed, &mask)] += 1.0;
            }
        }
        (0..16)
            .filter(|&k| counts[0][k] + counts[1][k] > 0.0)
            .map(|k| (counts[0][k] - counts[1][k]).powi(2) / (counts[0][k] + counts[1][k]))
            .sum()
    }

    /// The masked first messages of two functions with the same sum are identically
    /// distributed (seeded: 2000 proofs each; 15 degrees of freedom, 37.7 is the 0.1% critical
    /// value), and without the mask the same test tells them apart.
    #[test]
    fn masked_messages_do_not_depend_on_the_function() {
        assert_eq!(pair(false).sum(), pair(true).sum());
        assert_ne!(pair(false).round_evals(), pair(true).round_evals());
        let masked = chi_square(2000, false);
        assert!(masked < 37.7, "masked: chi-square {masked}");
        let unmasked = chi_square(50, true);
        println!("chi-square: masked {masked:.1}, unmasked {unmasked:.1}");
        assert!(unmasked > 37.7, "unmasked: chi-square {unmasked}");
    }
}

/// The masked sumcheck with its mask committed and opened through the commitment scheme.
#[test]
fn a_committed_mask_opens_to_its_value_at_the_point() {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::zk::{self, Mask, mask_points, mask_value};
    use crate::pcs::{self, Claim, CommitShape};

    let mut rng = StdRng::seed_from_u64(4);
    for degree in [1, 2, 3] {
        let n = 5;
        let (r, a, b, c, _) = instance(n);
        let mut ps = ProductSum {
            tables: vec![eq_table(&r), lift(&a), lift(&b), lift(&c)],
            terms: match degree {
                1 => vec![(EF::ONE, vec![3])],
                2 => vec![(EF::ONE, vec![1, 2])],
                _ => vec![(EF::ONE, vec![0, 1, 2])],
            },
        };
        let f = |pt: &[EF]| match degree {
            1 => evaluate(&c, pt),
            2 => evaluate(&a, pt) * evaluate(&b, pt),
            _ => eq_eval(&r, pt) * evaluate(&a, pt) * evaluate(&b, pt),
        };
        let sum = ps.sum();
        let mask = Mask::new(n, degree, &mut zero_knowledge::draw(&mut rng));
        let columns = mask.columns();
        let shape = CommitShape {
            column_vars: columns
                .iter()
                .map(|c| c.len().trailing_zeros() as usize)
                .collect(),
        };
        let claims = |point: &[EF]| -> Vec<Claim> {
            let points = mask_points(degree, point).unwrap();
            (0..shape.column_vars.len())
                .map(|column| Claim {
                    column,
                    point: points[column / 3].clone(),
                })
                .collect()
        };
        let mut t = Transcript::new();
        let (commitment, data) = pcs::commit(columns, &mut t).unwrap();
        let (proof, point, _) = zk::prove(&mut ps, &mask, &mut t);
        let (values, opening) = pcs::open(data, &claims(&point), &mut t).unwrap();

        let mut t = Transcript::new();
        pcs::observe(&shape, &commitment, &mut t);
        let (pt, fin, rho) = zk::verify(sum, n, degree, &proof, &mut t).unwrap();
        pcs::verify(&shape, &commitment, &claims(&pt), &values, &opening, &mut t).unwrap();
        let g = mask_value(degree, &pt, &values);
        assert_eq!(g, mask.evaluate(&pt), "degree {degree}");
        assert_eq!(fin, f(&pt) + rho * g, "degree {degree}");
    }
}

/// [`BaseFirst`] sends the messages of the [`ProductSum`] over its tables lifted, bit for bit,
/// ends at the same point with the same table values, and states the same sum: random shapes,
/// terms with shared, empty and repeated factors, coefficients of one, in the base field and
/// outside it, chunked (parallel) and small first rounds.
mod base_first {
    use proptest::prelude::*;

    use super::*;

    pub(super) fn ext_table(n: usize, seed: u64) -> Vec<EF> {
        let mut t = Transcript::new();
        t.absorb_ext(&[EF::from_u64(seed)]);
        t.sample_vec(1 << n)
    }

    /// A term drawn by the tests: a coefficient (one or in the base field, or drawn outside
    /// it when the flag is set) and table indices (taken modulo the number of tables).
    pub(super) type RawTerm = (u64, bool, Vec<usize>);

    type Terms = Vec<(EF, Vec<usize>)>;

    /// One to four [`RawTerm`]s of up to three factors each.
    pub(super) fn raw_terms() -> impl Strategy<Value = Vec<RawTerm>> {
        prop::collection::vec(
            (
                prop_oneof![Just(1u64), 2u64..1000],
                any::<bool>(),
                prop::collection::vec(0usize..8, 0..4),
            ),
            1..5,
        )
    }

    /// Terms over `num_base` base-field then `num_ext` extension-field tables of `2^n` entries.
    pub(super) fn kernel(
        n: usize,
        num_base: usize,
        num_ext: usize,
        raw_terms: Vec<RawTerm>,
    ) -> (Terms, Vec<Vec<F>>, Vec<Vec<EF>>) {
        let width = num_base + num_ext;
        let terms = raw_terms
            .into_iter()
            .map(|(c, in_ext, idx)| {
                let c = if in_ext {
                    ext_table(0, c)[0]
                } else {
                    EF::from_u64(c)
                };
                (c, idx.into_iter().map(|i| i % width).collect())
            })
            .collect();
        let base = (0..num_base).map(|k| table(n, k as u64 + 1)).collect();
        let ext = (0..num_ext).map(|k| ext_table(n, k as u64)).collect();
        (terms, base, ext)
    }

    /// `sum_k c_k prod_{i in term_k} values[i]`.
    pub(super) fn terms_at(terms: &[(EF, Vec<usize>)], values: &[EF]) -> EF {
        terms
            .iter()
            .map(|(c, idx)| idx.iter().fold(*c, |acc, &i| acc * values[i]))
            .sum()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn matches_the_lifted_product_sum(
            n in prop_oneof![0usize..6, Just(12usize)],
            num_base in 0usize..4,
            num_ext in 0usize..3,
            raw_terms in raw_terms(),
        ) {
            prop_assume!(num_base + num_ext > 0);
            let (terms, base, ext) = kernel(n, num_base, num_ext, raw_terms);
            let mut tables: Vec<Vec<EF>> = base.iter().map(|t| lift(t)).collect();
            tables.extend(ext.iter().cloned());
            let mut plain = ProductSum { tables, terms: terms.clone() };
            let mut mixed = BaseFirst::new(base, ext, terms.clone());
            let sum = mixed.sum();
            prop_assert_eq!(sum, plain.sum());
            let (want, want_point) = prove(&mut plain, n, &mut Transcript::new());
            let (got, got_point) = prove(&mut mixed, n, &mut Transcript::new());
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(&got_point, &want_point);
            let values: Vec<EF> = plain.tables.iter().map(|t| t[0]).collect();
            prop_assert_eq!(mixed.values(), values.clone());
            prop_assert_eq!(mixed.sum(), plain.sum());
            // and both are right: the verifier's final claim is the terms at the point
            let degree = mixed.degree().max(1);
            let (point, fin) = verify(sum, n, degree, &got, &mut Transcript::new()).unwrap();
            prop_assert_eq!(point, got_point);
            prop_assert_eq!(fin, terms_at(&terms, &values));
        }
    }
}

/// [`ZeroCheck`] sends the messages of the [`BaseFirst`] over its tables and `eq(tau, .)`, eq
/// in every term, bit for bit, ends at the same point with the same table values and states
/// the same sum, true or false (not only zero): random shapes and terms as above, and points
/// `tau` with zero coordinates (whose rounds evaluate `q(1)`).
mod zero_check {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(40))]
        #[test]
        fn matches_the_base_first_kernel_with_eq(
            n in prop_oneof![0usize..6, Just(12usize)],
            num_base in 0usize..4,
            num_ext in 0usize..3,
            zero_at in prop::option::of(0usize..12),
            raw_terms in base_first::raw_terms(),
        ) {
            prop_assume!(num_base + num_ext > 0);
            prop_assume!(raw_terms.iter().any(|(_, _, idx)| !idx.is_empty()));
            let width = num_base + num_ext;
            let (terms, base, ext) = base_first::kernel(n, num_base, num_ext, raw_terms);
            let mut tau = base_first::ext_table(4, 77)[..n].to_vec();
            if let Some(k) = zero_at.filter(|&k| k < n) {
                tau[k] = EF::ZERO;
            }
            let eq = width;
            let with_eq: Vec<(EF, Vec<usize>)> = terms
                .iter()
                .map(|(c, idx)| (*c, idx.iter().copied().chain([eq]).collect()))
                .collect();
            let mut ext_eq = ext.clone();
            ext_eq.push(eq_table(&tau));
            let mut plain = BaseFirst::new(base.clone(), ext_eq, with_eq.clone());
            let mut gruen = ZeroCheck::new(base, ext, terms, &tau);
            prop_assert_eq!(gruen.degree(), plain.degree());
            let sum = gruen.sum();
            prop_assert_eq!(sum, plain.sum());
            let (want, want_point) = prove(&mut plain, n, &mut Transcript::new());
            let (got, got_point) = prove(&mut gruen, n, &mut Transcript::new());
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(&got_point, &want_point);
            let mut values = gruen.values();
            prop_assert_eq!(&plain.values()[..width], &values[..]);
            // and both are right: the final claim is eq(tau, point) times the terms there
            let (point, fin) = verify(sum, n, gruen.degree(), &got, &mut Transcript::new()).unwrap();
            prop_assert_eq!(&point, &got_point);
            values.push(eq_eval(&tau, &point));
            prop_assert_eq!(fin, base_first::terms_at(&with_eq, &values));
            // once every variable is bound, the sum is that final claim
            prop_assert_eq!(gruen.sum(), fin);
        }
    }
}

/// The requantization zero-check's shape (seven base-field columns and `eq`, degree 3) at
/// 2^`SC_VARS` cells (default 19): [`BaseFirst`] against [`ProductSum`] over lifted tables,
/// and [`ZeroCheck`].
/// `cargo test --release -p zkml-proof sumcheck::tests::base_first_speed -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn base_first_speed() {
    use std::time::Instant;
    let n: usize = std::env::var("SC_VARS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(19);
    let base: Vec<Vec<F>> = (0..7).map(|k| table(n, k + 1)).collect();
    let tau = Transcript::new().sample_vec(n);
    let eq = eq_table(&tau);
    let terms = vec![
        (EF::ONE, vec![7, 0, 1]),
        (EF::from_u64(3), vec![7]),
        (EF::from_u64(5), vec![7, 2]),
        (EF::from_u64(7), vec![7, 3, 4]),
        (EF::from_u64(9), vec![7, 5]),
        (EF::from_u64(11), vec![7, 6]),
    ];
    for _ in 0..3 {
        let start = Instant::now();
        let mut tables: Vec<Vec<EF>> = base.iter().map(|t| lift(t)).collect();
        tables.push(eq.clone());
        let mut plain = ProductSum {
            tables,
            terms: terms.clone(),
        };
        let first = plain.round_evals();
        let t_first = start.elapsed();
        prove(&mut plain, n, &mut Transcript::new());
        let t_plain = start.elapsed();
        let start = Instant::now();
        let mut mixed = BaseFirst::new(base.clone(), vec![eq.clone()], terms.clone());
        assert_eq!(mixed.round_evals(), first);
        let m_first = start.elapsed();
        prove(&mut mixed, n, &mut Transcript::new());
        let m_all = start.elapsed();
        let start = Instant::now();
        let without_eq = terms
            .iter()
            .map(|(c, idx)| (*c, idx[1..].to_vec()))
            .collect();
        let mut gruen = ZeroCheck::new(base.clone(), Vec::new(), without_eq, &tau);
        prove(&mut gruen, n, &mut Transcript::new());
        let g_all = start.elapsed();
        println!(
            "2^{n}: lifted {t_plain:.1?} (first round {t_first:.1?}), base first {m_all:.1?} \
             (first round {m_first:.1?}), zero-check {g_all:.1?}"
        );
    }
}
