//! Sampler behaviour beyond posterior accuracy: seeding, initialisation, failures, budgets, tree
//! depth, progress, thinning and the CSV output.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use refinestat_inference::{
    cmdstan_column_name, sample, sample_with_progress, write_cmdstan_csv, CsvHeader, LogDensity,
    LogpFailure, SampleError, SampleOutput, SamplerConfig, StopReason, SAMPLER_COLUMNS,
};

fn small(seed: u64) -> SamplerConfig {
    SamplerConfig {
        chains: 4,
        warmup: 200,
        draws: 200,
        seed,
        ..SamplerConfig::default()
    }
}

/// The deterministic part of an output, as bits (so NaN and -0.0 compare exactly).
fn fingerprint(output: &SampleOutput) -> Vec<u64> {
    let mut bits = Vec::new();
    for chain in &output.chains {
        bits.push(chain.step_size.to_bits());
        bits.extend(chain.inv_metric.iter().map(|v| v.to_bits()));
        bits.extend(chain.init.iter().map(|v| v.to_bits()));
        for (draw, stat) in chain.draws.iter().zip(&chain.stats) {
            bits.extend(draw.iter().map(|v| v.to_bits()));
            bits.extend([stat.lp, stat.accept_stat, stat.stepsize, stat.energy].map(f64::to_bits));
            bits.extend([stat.treedepth, stat.n_leapfrog, u64::from(stat.divergent)]);
        }
    }
    bits
}

fn csv_bytes(output: &SampleOutput, config: &SamplerConfig, chain: usize) -> Vec<u8> {
    let columns: Vec<String> = (1..=output.dim)
        .map(|i| cmdstan_column_name(&format!("x[{i}]")))
        .collect();
    let draws = &output.chains[chain];
    let header = CsvHeader::for_chain("test_model", config, draws);
    let mut bytes = Vec::new();
    write_cmdstan_csv(&mut bytes, &header, &columns, &draws.stats, &draws.draws).unwrap();
    bytes
}

#[test]
fn same_seed_gives_identical_draws_regardless_of_threads() {
    let config = small(42);
    let model = CorrelatedNormal2 {
        mean: [0.5, 1.0],
        sd: [1.0, 2.0],
        rho: 0.5,
    };
    let first = sample(&config, |_| model.clone()).unwrap();
    let single_thread = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let second = single_thread.install(|| sample(&config, |_| model.clone()).unwrap());
    assert_eq!(fingerprint(&first), fingerprint(&second));
    for chain in 0..config.chains {
        assert_eq!(
            csv_bytes(&first, &config, chain),
            csv_bytes(&second, &config, chain)
        );
    }
    // Chains differ from each other, and another seed gives other draws.
    assert_ne!(first.chains[0].draws, first.chains[1].draws);
    let other = sample(&small(43), |_| model.clone()).unwrap();
    assert_ne!(fingerprint(&first), fingerprint(&other));
    assert_ne!(first.chains[0].init, other.chains[0].init);
}

#[test]
fn initial_points_follow_the_radius() {
    let config = SamplerConfig {
        init_radius: 0.5,
        ..small(1)
    };
    let output = sample(&config, |_| IndependentNormal::standard(5)).unwrap();
    for chain in &output.chains {
        assert!(chain.init.iter().all(|x| x.abs() < 0.5), "{:?}", chain.init);
    }
    let zero = SamplerConfig {
        init_radius: 0.0,
        ..small(1)
    };
    let output = sample(&zero, |_| IndependentNormal::standard(5)).unwrap();
    assert!(output
        .chains
        .iter()
        .all(|c| c.init.iter().all(|&x| x == 0.0)));
}

/// `-inf` everywhere: no initial point exists.
#[derive(Clone)]
struct Impossible {
    calls: Arc<Mutex<usize>>,
}

impl LogDensity for Impossible {
    fn dim(&self) -> usize {
        3
    }
    fn logp(&mut self, _x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        *self.calls.lock().unwrap() += 1;
        grad.fill(0.0);
        Ok(f64::NEG_INFINITY)
    }
}

#[test]
fn impossible_density_fails_initialisation_with_a_clear_error() {
    let calls = Arc::new(Mutex::new(0));
    let model = Impossible {
        calls: Arc::clone(&calls),
    };
    let config = SamplerConfig {
        max_init_tries: 25,
        ..small(3)
    };
    let error = sample(&config, |_| model.clone()).unwrap_err();
    assert!(
        matches!(
            error,
            SampleError::InitFailed {
                chain: 0,
                tries: 25,
                ..
            }
        ),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(message.contains("after 25 tries"), "{message}");
    assert!(message.contains("-inf"), "{message}");
    // Every chain tried exactly max_init_tries points and stopped.
    assert_eq!(*calls.lock().unwrap(), 4 * 25);
}

/// A standard normal that fails (recoverably, or with NaN) above `bound` in the first coordinate:
/// a truncated normal whose wall the sampler only sees as divergences.
#[derive(Clone)]
struct Walled {
    bound: f64,
    nan_instead_of_error: bool,
}

impl LogDensity for Walled {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        if x[0] > self.bound {
            if self.nan_instead_of_error {
                return Ok(f64::NAN);
            }
            return Err(LogpFailure::Recoverable(format!(
                "x[0] = {} above the wall",
                x[0]
            )));
        }
        grad[0] = -x[0];
        grad[1] = -x[1];
        Ok(-0.5 * (x[0] * x[0] + x[1] * x[1]))
    }
}

#[test]
fn recoverable_failures_are_divergences_not_crashes() {
    for nan_instead_of_error in [false, true] {
        let model = Walled {
            bound: 0.5,
            nan_instead_of_error,
        };
        let config = SamplerConfig {
            draws: 1000,
            ..small(5)
        };
        let output = sample(&config, |_| model.clone()).unwrap();
        assert_eq!(output.stop_reason(), StopReason::Completed);
        let divergent: usize = output
            .chains
            .iter()
            .map(|c| c.divergences() + c.warmup_divergences)
            .sum();
        assert!(divergent > 0, "the wall must show up as divergences");
        for chain in &output.chains {
            assert_eq!(chain.draws.len(), 1000);
            assert!(chain.draws.iter().all(|d| d[0] <= 0.5));
        }
        // The first coordinate is a standard normal truncated above at 0.5:
        // mean -phi(0.5)/Phi(0.5), variance 1 - 0.5 phi/Phi - (phi/Phi)^2.
        let ratio: f64 = 0.352_065_326_764_299_5 / 0.691_462_461_274_013_1;
        let sd = (1.0 - 0.5 * ratio - ratio * ratio).sqrt();
        assert_posterior("truncated x[0]", &output, |x| x[0], -ratio, sd);
        // The second coordinate is untouched by the wall.
        assert_posterior("free x[1]", &output, |x| x[1], 0.0, 1.0);
    }
}

/// Fails fatally after `budget` evaluations.
#[derive(Clone)]
struct Breaks {
    evaluations: usize,
    budget: usize,
}

impl LogDensity for Breaks {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        self.evaluations += 1;
        if self.evaluations > self.budget {
            return Err(LogpFailure::Fatal("the model broke".into()));
        }
        grad[0] = -x[0];
        grad[1] = -x[1];
        Ok(-0.5 * (x[0] * x[0] + x[1] * x[1]))
    }
}

#[test]
fn fatal_failures_stop_sampling_with_the_model_message() {
    let model = Breaks {
        evaluations: 0,
        budget: 300,
    };
    let error = sample(&small(6), |_| model.clone()).unwrap_err();
    match &error {
        SampleError::ModelFailed {
            chain,
            iteration,
            message,
        } => {
            assert_eq!(*chain, 0, "the lowest failing chain is reported");
            assert!(*iteration >= 1 && *iteration < 300);
            assert_eq!(message, "the model broke");
        }
        other => panic!("unexpected {other:?}"),
    }
    // Fatal during initialisation: iteration 0.
    let model = Breaks {
        evaluations: 0,
        budget: 0,
    };
    let error = sample(&small(6), |_| model.clone()).unwrap_err();
    assert!(
        matches!(error, SampleError::ModelFailed { iteration: 0, .. }),
        "{error:?}"
    );
}

/// A standard normal that sleeps on every evaluation.
#[derive(Clone)]
struct Slow;

impl LogDensity for Slow {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        std::thread::sleep(Duration::from_millis(1));
        grad[0] = -x[0];
        grad[1] = -x[1];
        Ok(-0.5 * (x[0] * x[0] + x[1] * x[1]))
    }
}

#[test]
fn time_budget_stops_chains_promptly() {
    let config = SamplerConfig {
        chains: 2,
        time_budget: Some(Duration::from_millis(200)),
        ..SamplerConfig::default()
    };
    // An own pool, so other tests' chains cannot hold up this one's threads.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let started = Instant::now();
    let output = pool.install(|| sample(&config, |_| Slow).unwrap());
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_millis(1500), "took {elapsed:?}");
    assert_eq!(output.stop_reason(), StopReason::TimeBudget);
    for chain in &output.chains {
        assert_eq!(chain.stop_reason, StopReason::TimeBudget);
        assert!(chain.warmup_iterations + chain.sampling_iterations < 2000);
        assert_eq!(chain.draws.len(), chain.stats.len());
    }
}

/// A flat density: trajectories never turn, so every tree hits the depth limit.
#[derive(Clone)]
struct Flat;

impl LogDensity for Flat {
    fn dim(&self) -> usize {
        3
    }
    fn logp(&mut self, _x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        grad.fill(0.0);
        Ok(0.0)
    }
}

#[test]
fn tree_depth_is_bounded() {
    let config = SamplerConfig {
        max_treedepth: 4,
        ..small(8)
    };
    let output = sample(&config, |_| Flat).unwrap();
    for chain in &output.chains {
        assert_eq!(chain.draws.len(), 200);
        for stat in &chain.stats {
            assert_eq!(stat.treedepth, 4);
            assert_eq!(stat.n_leapfrog, 15, "a full tree of depth 4");
        }
    }
}

#[test]
fn progress_is_reported_sparingly_and_finishes() {
    let calls = Mutex::new(Vec::new());
    let config = small(9);
    sample_with_progress(
        &config,
        |_| IndependentNormal::standard(2),
        |chain, done, total| calls.lock().unwrap().push((chain, done, total)),
    )
    .unwrap();
    let calls = calls.into_inner().unwrap();
    for chain in 0..config.chains {
        let mine: Vec<_> = calls.iter().filter(|c| c.0 == chain).collect();
        assert!((2..=21).contains(&mine.len()), "{} calls", mine.len());
        assert!(
            mine.windows(2).all(|w| w[0].1 < w[1].1),
            "iterations increase"
        );
        assert_eq!(*mine.last().unwrap(), &(chain, 400, 400));
    }
}

#[test]
fn thinning_warmup_zero_and_counts() {
    let config = SamplerConfig {
        chains: 1,
        warmup: 50,
        draws: 10,
        thin: 3,
        ..small(10)
    };
    let output = sample(&config, |_| IndependentNormal::standard(2)).unwrap();
    let chain = &output.chains[0];
    assert_eq!((chain.draws.len(), chain.sampling_iterations), (4, 10));
    assert_eq!(chain.warmup_iterations, 50);

    let config = SamplerConfig {
        warmup: 0,
        draws: 30,
        ..small(10)
    };
    let output = sample(&config, |_| IndependentNormal::standard(2)).unwrap();
    assert!(output
        .chains
        .iter()
        .all(|c| c.draws.len() == 30 && c.warmup_iterations == 0));
}

#[test]
fn invalid_configurations_are_errors() {
    let bad = [
        SamplerConfig {
            chains: 0,
            ..small(0)
        },
        SamplerConfig {
            thin: 0,
            ..small(0)
        },
        SamplerConfig {
            max_treedepth: 0,
            ..small(0)
        },
        SamplerConfig {
            target_accept: 1.0,
            ..small(0)
        },
        SamplerConfig {
            init_radius: f64::NAN,
            ..small(0)
        },
        SamplerConfig {
            max_init_tries: 0,
            ..small(0)
        },
    ];
    for config in bad {
        let error = sample(&config, |_| IndependentNormal::standard(2)).unwrap_err();
        assert!(
            matches!(error, SampleError::InvalidConfig(_)),
            "{config:?}: {error:?}"
        );
    }
    let error = sample(&small(0), |chain| IndependentNormal::standard(2 + chain)).unwrap_err();
    assert!(
        matches!(
            error,
            SampleError::DimensionMismatch {
                chain: 1,
                expected: 2,
                found: 3
            }
        ),
        "{error:?}"
    );
}

/// Parses a CmdStan CSV: comment lines, the header and the numeric rows.
fn parse_csv(text: &str) -> (Vec<String>, Vec<String>, Vec<Vec<f64>>) {
    let mut comments = Vec::new();
    let mut header = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix('#') {
            comments.push(comment.trim().to_string());
        } else if header.is_empty() {
            header = line.split(',').map(str::to_string).collect();
        } else {
            rows.push(line.split(',').map(|v| v.parse::<f64>().unwrap()).collect());
        }
    }
    (comments, header, rows)
}

#[test]
fn csv_parses_back_to_the_same_numbers() {
    let config = small(12);
    let output = sample(&config, |_| GammaPoisson {
        y: vec![1, 2, 3],
        shape: 2.0,
        rate: 1.0,
    })
    .unwrap();
    let chain = &output.chains[2];
    // The caller writes constrained outputs: lambda = exp(u), plus a derived column.
    let outputs = chain.transformed(|u| vec![u[0].exp(), u[0]]);
    assert_eq!(outputs.len(), chain.draws.len());
    let columns = vec![cmdstan_column_name("lambda"), cmdstan_column_name("u[1]")];
    let header = CsvHeader::for_chain("gamma_poisson", &config, chain);
    let mut bytes = Vec::new();
    write_cmdstan_csv(&mut bytes, &header, &columns, &chain.stats, &outputs).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let (comments, names, rows) = parse_csv(&text);

    let mut expected_names: Vec<String> = SAMPLER_COLUMNS.iter().map(|s| s.to_string()).collect();
    expected_names.extend(["lambda".to_string(), "u.1".to_string()]);
    assert_eq!(names, expected_names);
    assert!(comments.contains(&"model = gamma_poisson".to_string()));
    assert!(comments.contains(&"num_samples = 200".to_string()));
    assert!(comments.contains(&"num_warmup = 200".to_string()));
    assert!(comments.contains(&"seed = 12".to_string()));
    assert!(comments.contains(&"id = 3".to_string()));
    assert!(comments.contains(&"Adaptation terminated".to_string()));
    let step = comments
        .iter()
        .find_map(|c| c.strip_prefix("Step size = "))
        .unwrap();
    assert_eq!(
        step.parse::<f64>().unwrap().to_bits(),
        chain.step_size.to_bits()
    );
    let metric_at = comments
        .iter()
        .position(|c| c == "Diagonal elements of inverse mass matrix:")
        .unwrap();
    let metric: Vec<f64> = comments[metric_at + 1]
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(metric, chain.inv_metric);

    assert_eq!(rows.len(), chain.draws.len());
    for ((row, stat), out) in rows.iter().zip(&chain.stats).zip(&outputs) {
        let expected = [
            stat.lp,
            stat.accept_stat,
            stat.stepsize,
            stat.treedepth as f64,
            stat.n_leapfrog as f64,
            f64::from(u8::from(stat.divergent)),
            stat.energy,
            out[0],
            out[1],
        ];
        let row_bits: Vec<u64> = row.iter().map(|v| v.to_bits()).collect();
        let expected_bits: Vec<u64> = expected.iter().map(|v| v.to_bits()).collect();
        assert_eq!(row_bits, expected_bits);
    }
}

#[test]
fn csv_writer_rejects_mismatched_shapes() {
    let config = small(13);
    let output = sample(
        &SamplerConfig {
            chains: 1,
            ..config.clone()
        },
        |_| IndependentNormal::standard(2),
    )
    .unwrap();
    let chain = &output.chains[0];
    let header = CsvHeader::for_chain("m", &config, chain);
    let one_column = vec!["x".to_string()];
    let mut sink = Vec::new();
    let error =
        write_cmdstan_csv(&mut sink, &header, &one_column, &chain.stats, &chain.draws).unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    let error = write_cmdstan_csv(
        &mut sink,
        &header,
        &one_column,
        &chain.stats[1..],
        &chain.draws,
    )
    .unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
}

/// No parameters at all (a program with only generated quantities).
#[derive(Clone)]
struct Empty;

impl LogDensity for Empty {
    fn dim(&self) -> usize {
        0
    }
    fn logp(&mut self, _x: &[f64], _grad: &mut [f64]) -> Result<f64, LogpFailure> {
        Ok(-1.5)
    }
}

#[test]
fn zero_dimensional_models_give_empty_draws() {
    let output = sample(&small(14), |_| Empty).unwrap();
    assert_eq!(output.dim, 0);
    for chain in &output.chains {
        assert_eq!(chain.draws.len(), 200);
        assert!(chain.draws.iter().all(Vec::is_empty));
        assert!(chain.stats.iter().all(|s| s.lp == -1.5 && !s.divergent));
    }
}

#[test]
fn an_exhausted_budget_returns_at_once() {
    let config = SamplerConfig {
        time_budget: Some(Duration::ZERO),
        ..small(15)
    };
    let output = sample(&config, |_| IndependentNormal::standard(3)).unwrap();
    assert_eq!(output.stop_reason(), StopReason::TimeBudget);
    assert!(output
        .chains
        .iter()
        .all(|c| c.draws.is_empty() && c.warmup_iterations == 0));
}

/// Panics in the second coordinate's region `x[1] > 1` (a model bug, not a density failure).
#[derive(Clone)]
struct Buggy;

impl LogDensity for Buggy {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let offsets = std::hint::black_box([0.0; 2]);
        let index = if x[1] > 1.0 { 2 } else { 0 }; // the bug: 2 is out of range
        grad[0] = -x[0] + offsets[index];
        grad[1] = -x[1];
        Ok(-0.5 * (x[0] * x[0] + x[1] * x[1]))
    }
}

#[test]
fn a_panicking_model_is_an_error_not_a_crash() {
    match sample(&small(16), |_| Buggy) {
        Err(SampleError::ModelPanicked { chain, message }) => {
            assert_eq!(chain, 0);
            assert!(message.contains("index out of bounds"), "{message}");
        }
        Err(other) => panic!("unexpected error {other:?}"),
        Ok(_) => panic!("the buggy region was never reached"),
    }
}
