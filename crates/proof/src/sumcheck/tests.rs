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
