//! CPU time of one log-density gradient of the 1000-row, 5-predictor logistic regression of the
//! `gradient` bench, measured from this thread's scheduler run time (/proc/thread-self/schedstat,
//! nanoseconds on a CPU), so that a machine loaded by other work does not inflate it the way wall
//! time does. Usage: `cargo run --release -p refinestat-model --example gradient_cpu [evals]`.

use rand::{Rng, SeedableRng};
use refinestat_language::{Data, DataValue};
use refinestat_model::{LogDensityOptions, Model};

const LOGISTIC: &str =
    "data { int<lower=0> N; int<lower=1> K; matrix[N, K] X; array[N] int<lower=0, upper=1> y; }
parameters { real alpha; vector[K] beta; }
model { alpha ~ normal(0, 2.5); beta ~ normal(0, 2.5); y ~ bernoulli_logit(alpha + X * beta); }";

/// The bench's synthetic data: X ~ N(0, 1), y ~ Bernoulli(inv_logit(0.3 + X beta)).
fn logistic_data(n: usize, k: usize, seed: u64) -> Data {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let beta: Vec<f64> = (0..k).map(|j| 0.5 - 0.2 * j as f64).collect();
    let (mut x, mut y) = (Vec::with_capacity(n * k), Vec::with_capacity(n));
    for _ in 0..n {
        let row: Vec<f64> = (0..k)
            .map(|_| rng.sample::<f64, _>(rand_distr::StandardNormal))
            .collect();
        let eta = 0.3 + row.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>();
        let p = 1.0 / (1.0 + (-eta).exp());
        y.push(if rng.random::<f64>() < p { 1.0 } else { 0.0 });
        x.extend(row);
    }
    let value = |dims, values, all_int| DataValue {
        dims,
        values,
        all_int,
    };
    let mut d = Data::default();
    d.vars.insert("N".into(), DataValue::scalar(n as f64, true));
    d.vars.insert("K".into(), DataValue::scalar(k as f64, true));
    d.vars.insert("X".into(), value(vec![n, k], x, false));
    d.vars.insert("y".into(), value(vec![n], y, true));
    d
}

/// Nanoseconds this thread has run on a CPU (None where /proc does not provide it).
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

fn main() {
    let evals: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let parsed = refinestat_language::parse(LOGISTIC);
    let mut m = match Model::new(&parsed.program, &logistic_data(1000, 5, 1)) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("model: {e}");
            std::process::exit(1);
        }
    };
    let opts = LogDensityOptions {
        jacobian: true,
        propto: true,
    };
    let x: Vec<f64> = (0..m.dim()).map(|i| 0.1 * i as f64 - 0.3).collect();
    let mut g = vec![0.0; m.dim()];
    let mut check = 0.0;
    for _ in 0..evals / 10 {
        check += m.log_density_gradient(&x, opts, &mut g).unwrap_or(f64::NAN);
    }
    let (cpu0, wall0) = (thread_cpu_ns(), std::time::Instant::now());
    for _ in 0..evals {
        check += m.log_density_gradient(&x, opts, &mut g).unwrap_or(f64::NAN);
    }
    let wall = wall0.elapsed().as_nanos() as f64 / evals as f64;
    let cpu = thread_cpu_ns()
        .zip(cpu0)
        .map(|(b, a)| (b - a) as f64 / evals as f64);
    println!(
        "logistic 1000x5 gradient: cpu {} ns, wall {wall:.0} ns per evaluation (lp {:.6}, grad[0] {:.6}, checksum {check:.3e})",
        cpu.map_or("n/a".to_string(), |c| format!("{c:.0}")),
        m.log_density(&x, opts).unwrap_or(f64::NAN),
        g[0]
    );
}
