//! Times `summarize` on 4 chains x 1000 draws x 10 parameters + 50 observations (the speed target
//! is a few milliseconds): `cargo run --release -p refinestat-diagnostics --example bench_summary`.

use std::time::Instant;

use refinestat_diagnostics::{summarize, ChainStats, Draws, LogLik};

/// A small deterministic generator (xorshift64*), uniform in (0, 1).
struct Uniform(u64);

impl Uniform {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Standard normal by Box-Muller.
    fn normal(&mut self) -> f64 {
        (-2.0 * self.next().ln()).sqrt() * (2.0 * std::f64::consts::PI * self.next()).cos()
    }
}

fn main() {
    let (n_chains, n_draws, n_params, n_obs) = (4, 1000, 10, 50);
    let mut rng = Uniform(0x9e37_79b9_7f4a_7c15);
    let names: Vec<String> = (1..=n_params).map(|p| format!("theta[{p}]")).collect();
    let mut state = vec![0.0; n_params];
    let chains: Vec<Vec<Vec<f64>>> = (0..n_chains)
        .map(|_| {
            (0..n_draws)
                .map(|_| {
                    for s in state.iter_mut() {
                        *s = 0.5 * *s + 0.866 * rng.normal();
                    }
                    state.clone()
                })
                .collect()
        })
        .collect();
    let ll: Vec<Vec<Vec<f64>>> = chains
        .iter()
        .map(|chain| {
            chain
                .iter()
                .map(|draw| {
                    (0..n_obs)
                        .map(|i| -0.5 * (draw[0] * 0.1 - i as f64 / 50.0).powi(2) - 0.92)
                        .collect()
                })
                .collect()
        })
        .collect();
    let stats: Vec<ChainStats> = (0..n_chains)
        .map(|_| ChainStats {
            energy: (0..n_draws).map(|_| 10.0 + 3.0 * rng.normal()).collect(),
            divergent: vec![false; n_draws],
        })
        .collect();
    let draws = Draws::from_chains(names, &chains).expect("rectangular");
    let log_lik = LogLik::from_chains(&ll).expect("rectangular");

    // On-CPU time of this thread (Linux schedstat), so a loaded machine does not inflate it.
    let cpu_ns = || -> Option<f64> {
        let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
        text.split_whitespace().next()?.parse().ok()
    };
    let time = |label: &str, f: &dyn Fn()| {
        let runs = 40;
        let (start, cpu_start) = (Instant::now(), cpu_ns());
        for _ in 0..runs {
            f();
        }
        let wall = start.elapsed().as_secs_f64() * 1e3 / runs as f64;
        let cpu = cpu_ns()
            .zip(cpu_start)
            .map(|(end, start)| (end - start) / 1e6 / runs as f64);
        println!("{label}: {cpu:.2?} ms on-CPU, {wall:.2} ms wall");
    };
    time("draws only", &|| {
        std::hint::black_box(summarize(&draws, &stats, None).expect("consistent"));
    });
    time("psis_loo only", &|| {
        std::hint::black_box(refinestat_diagnostics::psis_loo(&log_lik, 0.9));
    });
    time("summarize 4x1000x10 + 50 obs", &|| {
        std::hint::black_box(summarize(&draws, &stats, Some(&log_lik)).expect("consistent"));
    });
}
