use p3_field::PrimeCharacteristicRing;
use zkml_proof::field::{EF, F};
use zkml_proof::mle::evaluate;

use super::{bias_bits, less_than_mle, real_mle};
use crate::layout::{dims_vars, padded_index};
use crate::testing::Rng;

/// The real-cell indicator as a table, brute force.
fn real_table(dims: &[usize]) -> Vec<F> {
    let vars: usize = dims_vars(dims).iter().sum();
    let mut t = vec![F::ZERO; 1 << vars];
    for j in 0..dims.iter().product() {
        t[padded_index(dims, j)] = F::ONE;
    }
    t
}

#[test]
fn real_cell_mle_equals_the_brute_force_mle() {
    let mut rng = Rng(7);
    let shapes: [&[usize]; 7] = [
        &[1],
        &[5],
        &[8],
        &[3, 5],
        &[10, 3, 5, 5],
        &[4, 2, 1, 7],
        &[6, 1],
    ];
    for dims in shapes {
        let table = real_table(dims);
        let vars: usize = dims_vars(dims).iter().sum();
        for _ in 0..4 {
            let z: Vec<EF> = (0..vars)
                .map(|_| EF::from_u64(rng.next_u64() >> 1))
                .collect();
            assert_eq!(real_mle(dims, &z), evaluate(&table, &z), "dims {dims:?}");
        }
        // and on the hypercube
        for (i, &v) in table.iter().enumerate() {
            let z: Vec<EF> = (0..vars)
                .map(|k| EF::from_u64(((i >> (vars - 1 - k)) & 1) as u64))
                .collect();
            assert_eq!(real_mle(dims, &z), EF::from(v));
        }
    }
}

#[test]
fn less_than_mle_counts_every_n() {
    for vars in 0..5usize {
        for n in 0..=(1usize << vars) + 1 {
            let table: Vec<F> = (0..1usize << vars).map(|j| F::from_bool(j < n)).collect();
            let z: Vec<EF> = (0..vars).map(|k| EF::from_u64(3 * k as u64 + 5)).collect();
            assert_eq!(
                less_than_mle(n, &z),
                evaluate(&table, &z),
                "n {n} vars {vars}"
            );
        }
    }
}

#[test]
fn bias_bits_is_the_smallest_bound() {
    assert_eq!(bias_bits(&[]), Vec::<u8>::new());
    assert_eq!(bias_bits(&[0, 1, -1, 2, -255, 256]), vec![0, 1, 1, 2, 8, 9]);
    assert_eq!(bias_bits(&[i64::MIN + 1]), vec![63]);
}
