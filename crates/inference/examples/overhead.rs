//! Measures the sampler's own cost per gradient evaluation on a 10-D standard normal
//! (4 chains x 1000 warmup + 1000 draws): total time minus the time the density itself takes,
//! divided by the number of density evaluations. Run with `cargo run --release --example overhead`.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use refinestat_inference::{sample, LogDensity, LogpFailure, SamplerConfig};

#[derive(Clone)]
struct CountingStdNormal {
    dim: usize,
    calls: Arc<AtomicU64>,
}

fn std_normal(x: &[f64], grad: &mut [f64]) -> f64 {
    let mut lp = 0.0;
    for (xi, gi) in x.iter().zip(grad.iter_mut()) {
        *gi = -xi;
        lp -= 0.5 * xi * xi;
    }
    lp
}

impl LogDensity for CountingStdNormal {
    fn dim(&self) -> usize {
        self.dim
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        Ok(std_normal(x, grad))
    }
}

fn main() {
    let config = SamplerConfig {
        seed: 1,
        ..SamplerConfig::default()
    };
    let calls = Arc::new(AtomicU64::new(0));
    let model = CountingStdNormal {
        dim: 10,
        calls: Arc::clone(&calls),
    };

    // Sequential: one thread, so time is CPU time of the sampler plus the density.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let started = Instant::now();
    let output = pool.install(|| sample(&config, |_| model.clone()).unwrap());
    let sequential = started.elapsed().as_secs_f64();
    let evaluations = calls.load(Ordering::Relaxed);
    let leapfrogs: u64 = output.chains.iter().map(|c| c.gradient_evaluations).sum();

    // The density alone, on the same number of varied points.
    let mut x = [0.0; 10];
    let mut grad = [0.0; 10];
    let started = Instant::now();
    let mut sink = 0.0;
    for i in 0..evaluations {
        x[(i % 10) as usize] = (i % 7) as f64 * 0.1;
        sink += std_normal(black_box(&x), black_box(&mut grad));
    }
    black_box(sink);
    let density = started.elapsed().as_secs_f64();

    calls.store(0, Ordering::Relaxed);
    let started = Instant::now();
    sample(&config, |_| model.clone()).unwrap();
    let parallel = started.elapsed().as_secs_f64();

    println!("10-D standard normal, 4 chains x (1000 warmup + 1000 draws)");
    println!("density evaluations: {evaluations} (leapfrog steps: {leapfrogs})");
    println!("sequential wall time: {:.3} s", sequential);
    println!(
        "parallel wall time ({} threads): {:.3} s",
        rayon::current_num_threads(),
        parallel
    );
    println!(
        "density alone: {:.1} ns per evaluation",
        density / evaluations as f64 * 1e9
    );
    println!(
        "sampler overhead: {:.1} ns per gradient",
        (sequential - density) / evaluations as f64 * 1e9
    );
}
