//! Kernel benchmarks at several sizes, so that a regression shows:
//! `cargo bench -p zkml --bench kernels` (criterion; add `-- NAME` to filter).

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use p3_field::PrimeCharacteristicRing;
use zkml::zkml_model::{BatchDim, DenseLayer, QuantLayer, QuantizedModel, ScaleMode};
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

/// A `depth`-layer MLP of width `width` with pseudo-random int8 weights.
fn mlp(depth: usize, width: usize) -> QuantizedModel {
    let mut s = 1u64;
    let mut rnd = |m: i64| {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((s >> 33) as i64 % (2 * m + 1)) - m
    };
    let layers = (0..depth)
        .map(|l| {
            QuantLayer::Dense(DenseLayer {
                name: format!("fc{l}"),
                n_in: width,
                n_out: width,
                weight: (0..width * width).map(|_| rnd(127)).collect(),
                bias: (0..width).map(|_| rnd(1000)).collect(),
                multiplier: vec![1 << 21; width],
                relu: l + 1 < depth,
                out_scale: 1.0,
            })
        })
        .collect();
    QuantizedModel {
        bits: 8,
        scales: ScaleMode::PerRow,
        batch: BatchDim::Fixed(1),
        input_shape: vec![width],
        input_scale: 1.0,
        layers,
    }
}

fn whole_model(c: &mut Criterion) {
    let mut g = c.benchmark_group("prove mlp");
    g.sample_size(10);
    for (d, w) in [(5, 100), (7, 50), (3, 256), (10, 128)] {
        let pk = zkml::setup(mlp(d, w)).unwrap();
        let x = vec![(0..w as i64).map(|i| i % 200 - 100).collect::<Vec<i64>>()];
        g.bench_function(format!("{d}x{w}"), |b| {
            b.iter(|| zkml::prove(&pk, &x).unwrap())
        });
    }
}

criterion_group!(
    benches,
    sumcheck_degree3,
    logup_gkr,
    commitment,
    whole_model
);
criterion_main!(benches);
