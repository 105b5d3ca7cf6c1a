//! Kernel benchmarks at several sizes, so that a regression shows:
//! `cargo bench -p zkml --bench kernels` (criterion; add `-- NAME` to filter).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use p3_field::PrimeCharacteristicRing;
use zkml::testing::Spec::{Conv, Dense, Pool};
use zkml::testing::{cifar_264k_specs, cnn, inputs, model};
use zkml::zkml_model::{BatchDim, QuantizedModel};
use zkml_proof::field::{EF, F};
use zkml_proof::gkr::{self, Segment};
use zkml_proof::mle::eq_table;
use zkml_proof::pcs::{self, Claim};
use zkml_proof::sumcheck::{self, ProductSum};
use zkml_proof::transcript::Transcript;

fn column(n: usize, seed: u64) -> Vec<F> {
    (0..1u64 << n)
        .map(|i| F::from_u64((i * 0x9E37 + seed) % 255))
        .collect()
}

fn sumcheck_degree3(c: &mut Criterion) {
    let mut g = c.benchmark_group("sumcheck eq*a*b");
    for n in [12, 16, 20] {
        let lift = |v: Vec<F>| v.into_iter().map(EF::from).collect::<Vec<EF>>();
        let r = Transcript::new().sample_vec(n);
        let tables = vec![eq_table(&r), lift(column(n, 1)), lift(column(n, 2))];
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, &n| {
            b.iter(|| {
                let mut k = ProductSum {
                    tables: tables.clone(),
                    terms: vec![(EF::ONE, vec![0, 1, 2])],
                };
                sumcheck::prove(&mut k, n, &mut Transcript::new())
            });
        });
    }
}

fn logup_gkr(c: &mut Criterion) {
    let mut g = c.benchmark_group("logup-gkr");
    g.sample_size(10);
    for n in [12, 16, 20] {
        let alpha = EF::from_u64(1 << 40);
        // lookups of bytes into the byte table, multiplicities counted
        let values = column(n, 3);
        let mut mult = vec![0u64; 256];
        values
            .iter()
            .for_each(|v| mult[p3_field::PrimeField64::as_canonical_u64(v) as usize] += 1);
        let segments = || {
            vec![
                Segment {
                    num: vec![-F::ONE; values.len()],
                    den: values.iter().map(|&v| alpha - v).collect(),
                },
                Segment {
                    num: mult.iter().map(|&m| F::from_u64(m)).collect(),
                    den: (0..256u64).map(|i| alpha - F::from_u64(i)).collect(),
                },
            ]
        };
        g.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| gkr::prove(segments(), &mut Transcript::new()));
        });
    }
}

fn commitment(c: &mut Criterion) {
    let mut g = c.benchmark_group("whir");
    g.sample_size(10);
    for n in [12, 16, 20] {
        let cols = vec![column(n - 1, 4), column(n - 2, 5), column(n - 2, 6)];
        g.bench_with_input(BenchmarkId::new("commit", n), &n, |b, _| {
            b.iter(|| pcs::commit(cols.clone(), &mut Transcript::new()).unwrap());
        });
        let mut t = Transcript::new();
        let (_, data) = pcs::commit(cols.clone(), &mut t).unwrap();
        let claims: Vec<Claim> = (0..20)
            .map(|k| Claim {
                column: k % 3,
                point: t.sample_vec(if k % 3 == 0 { n - 1 } else { n - 2 }),
            })
            .collect();
        g.bench_with_input(BenchmarkId::new("open 20 claims", n), &n, |b, _| {
            b.iter(|| pcs::open(data.clone(), &claims, &mut t.clone()).unwrap());
        });
    }
}

fn whole_model(c: &mut Criterion) {
    let mut g = c.benchmark_group("prove");
    g.sample_size(10);
    let mut bench = |name: &str, m: QuantizedModel| {
        let xs = inputs(1, m.input_len(), 5);
        let pk = zkml::setup(m).unwrap();
        g.bench_function(name, |b| b.iter(|| zkml::prove(&pk, &xs).unwrap()));
    };
    for (d, w) in [(5, 100), (7, 50), (3, 256), (10, 128)] {
        let widths: Vec<usize> = std::iter::repeat_n(w, d + 1).collect();
        bench(
            &format!("mlp {d}x{w}"),
            model(&widths, BatchDim::Fixed(1), 1),
        );
    }
    let (c5, p2) = (
        |c, relu| Conv(c, [5, 5], [1, 1], [0; 4], relu),
        Pool([2, 2], [2, 2], [0; 4]),
    );
    let lenet = [
        c5(6, true),
        p2,
        c5(16, true),
        p2,
        Dense(120, true),
        Dense(84, true),
        Dense(10, false),
    ];
    bench(
        "lenet 1x28x28",
        cnn([1, 28, 28], &lenet, BatchDim::Fixed(1), 2),
    );
    bench(
        "cnn 264k 3x32x32",
        cnn([3, 32, 32], &cifar_264k_specs(), BatchDim::Fixed(1), 3),
    );
}

criterion_group!(
    benches,
    sumcheck_degree3,
    logup_gkr,
    commitment,
    whole_model
);
criterion_main!(benches);
