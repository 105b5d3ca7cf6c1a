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
