//! Time one log-density gradient: eight schools (non-centered) and a 1000-row, 5-predictor
//! logistic regression on synthetic data from a fixed seed.

use criterion::{criterion_group, criterion_main, Criterion};
use rand::{Rng, SeedableRng};
use refinestat_language::{Data, DataValue};
use refinestat_model::{LogDensityOptions, Model};

const EIGHT_SCHOOLS: &str = "data { int<lower=0> J; array[J] real y; array[J] real<lower=0> sigma; }
parameters { real mu; real<lower=0> tau; vector[J] theta_tilde; }
transformed parameters { vector[J] theta = mu + tau * theta_tilde; }
model { mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta_tilde ~ normal(0, 1); y ~ normal(theta, sigma); }";

const LOGISTIC: &str =
    "data { int<lower=0> N; int<lower=1> K; matrix[N, K] X; array[N] int<lower=0, upper=1> y; }
parameters { real alpha; vector[K] beta; }
model { alpha ~ normal(0, 2.5); beta ~ normal(0, 2.5); y ~ bernoulli_logit(alpha + X * beta); }";

fn compile(src: &str, data: &Data) -> Model {
    let parsed = refinestat_language::parse(src);
    assert!(parsed.errors.is_empty());
    Model::new(&parsed.program, data).expect("model compiles")
}

fn value(dims: Vec<usize>, values: Vec<f64>, all_int: bool) -> DataValue {
    DataValue {
        dims,
        values,
        all_int,
    }
}

/// Synthetic logistic-regression data: X ~ N(0, 1), y ~ Bernoulli(inv_logit(0.3 + X beta)).
pub fn logistic_data(n: usize, k: usize, seed: u64) -> Data {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let beta: Vec<f64> = (0..k).map(|j| 0.5 - 0.2 * j as f64).collect();
    let mut x = Vec::with_capacity(n * k);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let row: Vec<f64> = (0..k)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        let eta = 0.3 + row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
        let p = 1.0 / (1.0 + (-eta).exp());
        y.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
        x.extend(row);
    }
    let mut d = Data::default();
    d.vars.insert("N".into(), DataValue::scalar(n as f64, true));
    d.vars.insert("K".into(), DataValue::scalar(k as f64, true));
    d.vars.insert("X".into(), value(vec![n, k], x, false));
    d.vars.insert("y".into(), value(vec![n], y, true));
    d
}

fn eight_schools_data() -> Data {
    let mut d = Data::default();
    d.vars.insert("J".into(), DataValue::scalar(8.0, true));
    d.vars.insert(
        "y".into(),
        value(vec![8], vec![28., 8., -3., 7., -1., 1., 18., 12.], true),
    );
    d.vars.insert(
        "sigma".into(),
        value(vec![8], vec![15., 10., 16., 11., 9., 11., 10., 18.], true),
    );
    d
}

fn bench(c: &mut Criterion) {
    let opts = LogDensityOptions {
        jacobian: true,
        propto: true,
    };
    let mut m = compile(EIGHT_SCHOOLS, &eight_schools_data());
    let x: Vec<f64> = (0..m.dim()).map(|i| 0.1 * i as f64 - 0.3).collect();
    let mut g = vec![0.0; m.dim()];
    c.bench_function("gradient/eight_schools_noncentered", |b| {
        b.iter(|| m.log_density_gradient(&x, opts, &mut g).expect("gradient"))
    });
    let mut m = compile(LOGISTIC, &logistic_data(1000, 5, 42));
    let x: Vec<f64> = (0..m.dim()).map(|i| 0.1 * i as f64 - 0.2).collect();
    let mut g = vec![0.0; m.dim()];
    c.bench_function("gradient/logistic_1000x5", |b| {
        b.iter(|| m.log_density_gradient(&x, opts, &mut g).expect("gradient"))
    });
}

/// Example programs on their datasets (scalar loops, a Gaussian process).
fn bench_examples(c: &mut Criterion) {
    let opts = LogDensityOptions {
        jacobian: true,
        propto: true,
    };
    let cases = [
        (
            "dugongs",
            include_str!("../../../examples/dugongs.stan"),
            include_str!("../../../datasets/dugongs.json"),
        ),
        (
            "glm",
            include_str!("../../../examples/glm.stan"),
            include_str!("../../../datasets/glm.json"),
        ),
        (
            "gp",
            include_str!("../../../examples/gp.stan"),
            include_str!("../../../datasets/gp.json"),
        ),
    ];
    for (name, src, data) in cases {
        let data = Data::from_json_str(data).expect("dataset");
        let mut m = compile(src, &data);
        let x: Vec<f64> = (0..m.dim()).map(|i| 0.1 * i as f64 - 0.2).collect();
        let mut g = vec![0.0; m.dim()];
        c.bench_function(&format!("gradient/{name}"), |b| {
            b.iter(|| m.log_density_gradient(&x, opts, &mut g).expect("gradient"))
        });
    }
}

criterion_group!(benches, bench, bench_examples);
criterion_main!(benches);
