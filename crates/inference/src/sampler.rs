//! Multi-chain sampling: configuration, Stan-like initialisation, seeding, the wall-clock budget,
//! progress reports and the per-chain results.
//!
//! Chains run in parallel on rayon's global pool. Each chain's random numbers come only from
//! `(seed, chain index)`, so a seed gives bit-identical draws however the threads are scheduled
//! (unless the time budget stops a chain, which depends on the clock).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::backend::{BackendError, BackendSettings, NutsDriver};
use crate::{LogDensity, LogpFailure};

/// How to run NUTS. The defaults are CmdStan's.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplerConfig {
    /// Number of chains (run in parallel).
    pub chains: usize,
    /// Warmup (adaptation) iterations per chain; not returned.
    pub warmup: usize,
    /// Post-warmup iterations per chain.
    pub draws: usize,
    /// Keep every `thin`-th post-warmup iteration (CmdStan: `ceil(draws / thin)` kept).
    pub thin: usize,
    /// A trajectory has at most `2^max_treedepth - 1` leapfrog steps.
    pub max_treedepth: usize,
    /// Target mean acceptance statistic for step-size adaptation (CmdStan's `delta`).
    pub target_accept: f64,
    /// Master seed; chain `k` derives its own streams from `(seed, k)`.
    pub seed: u64,
    /// Initial values are uniform on `(-init_radius, init_radius)` on the unconstrained scale.
    pub init_radius: f64,
    /// How many random initial points to try before giving up.
    pub max_init_tries: usize,
    /// Wall-clock budget for the whole call; chains stop cleanly when it runs out.
    pub time_budget: Option<Duration>,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        SamplerConfig {
            chains: 4,
            warmup: 1000,
            draws: 1000,
            thin: 1,
            max_treedepth: 10,
            target_accept: 0.8,
            seed: 0,
            init_radius: 2.0,
            max_init_tries: 100,
            time_budget: None,
        }
    }
}

impl SamplerConfig {
    /// Checks the values NUTS cannot work with.
    pub fn validate(&self) -> Result<(), SampleError> {
        let invalid = |msg: String| Err(SampleError::InvalidConfig(msg));
        if self.chains == 0 {
            return invalid("chains must be at least 1".into());
        }
        if self.thin == 0 {
            return invalid("thin must be at least 1".into());
        }
        if self.max_treedepth == 0 || self.max_treedepth > 30 {
            return invalid(format!(
                "max_treedepth must be in 1..=30, got {}",
                self.max_treedepth
            ));
        }
        if !(self.target_accept > 0.0 && self.target_accept < 1.0) {
            return invalid(format!(
                "target_accept must be in (0, 1), got {}",
                self.target_accept
            ));
        }
        if !(self.init_radius.is_finite() && self.init_radius >= 0.0) {
            return invalid(format!(
                "init_radius must be finite and >= 0, got {}",
                self.init_radius
            ));
        }
        if self.max_init_tries == 0 {
            return invalid("max_init_tries must be at least 1".into());
        }
        if self.warmup.checked_add(self.draws).is_none() {
            return invalid("warmup + draws is too large".into());
        }
        Ok(())
    }
}

/// Why a chain stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// All requested iterations were run.
    Completed,
    /// The wall-clock budget ran out; the chain holds what was drawn before.
    TimeBudget,
}

/// Sampler statistics of one iteration, as CmdStan names them (`lp__`, `accept_stat__`, ...).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DrawStats {
    /// Log density including the Jacobian (what the model's `logp` returned).
    pub lp: f64,
    pub accept_stat: f64,
    pub stepsize: f64,
    pub treedepth: u64,
    pub n_leapfrog: u64,
    pub divergent: bool,
    /// The Hamiltonian (potential plus kinetic energy) at the draw.
    pub energy: f64,
}

/// What one chain produced.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainDraws {
    /// 0-based chain index (CmdStan's `id` is this plus one).
    pub chain: usize,
    /// Kept post-warmup draws, on the unconstrained scale (the caller maps them to outputs).
    pub draws: Vec<Vec<f64>>,
    /// Sampler statistics, one per kept draw.
    pub stats: Vec<DrawStats>,
    /// The initial point on the unconstrained scale.
    pub init: Vec<f64>,
    /// Warmup iterations run.
    pub warmup_iterations: usize,
    /// Divergent warmup iterations.
    pub warmup_divergences: usize,
    /// Post-warmup iterations run (before thinning).
    pub sampling_iterations: usize,
    /// Adapted step size.
    pub step_size: f64,
    /// Adapted diagonal of the inverse metric (CmdStan's "inverse mass matrix").
    pub inv_metric: Vec<f64>,
    pub stop_reason: StopReason,
    /// Density-and-gradient evaluations by the sampler (sum of `n_leapfrog`, warmup included).
    pub gradient_evaluations: u64,
    pub elapsed: Duration,
}

impl ChainDraws {
    /// Divergent kept draws.
    pub fn divergences(&self) -> usize {
        self.stats.iter().filter(|s| s.divergent).count()
    }
}

/// All chains of one `sample` call, in chain order.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOutput {
    /// Length of each draw (the model's unconstrained dimension).
    pub dim: usize,
    pub chains: Vec<ChainDraws>,
}

impl SampleOutput {
    /// `TimeBudget` if any chain ran out of time.
    pub fn stop_reason(&self) -> StopReason {
        if self
            .chains
            .iter()
            .any(|c| c.stop_reason == StopReason::TimeBudget)
        {
            StopReason::TimeBudget
        } else {
            StopReason::Completed
        }
    }

    /// Divergent kept draws over all chains.
    pub fn divergences(&self) -> usize {
        self.chains.iter().map(ChainDraws::divergences).sum()
    }
}

/// Why sampling failed. Chain indexes are 0-based; iterations are 1-based (0 = initialisation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    #[error("invalid sampler configuration: {0}")]
    InvalidConfig(String),
    #[error(
        "chain {chain}: no initial point with a finite log density and gradient after {tries} \
         tries (uniform on (-{radius}, {radius}) on the unconstrained scale); last problem: {last}"
    )]
    InitFailed {
        chain: usize,
        tries: usize,
        radius: f64,
        last: String,
    },
    #[error("chain {chain}: the model failed at iteration {iteration}: {message}")]
    ModelFailed {
        chain: usize,
        iteration: usize,
        message: String,
    },
    #[error("chain {chain}: the model's dimension is {found}, but chain 0's is {expected}")]
    DimensionMismatch {
        chain: usize,
        expected: usize,
        found: usize,
    },
    #[error("chain {chain}: the NUTS sampler failed at iteration {iteration}: {message}")]
    Sampler {
        chain: usize,
        iteration: usize,
        message: String,
    },
}

/// Samples `config.chains` chains, building each chain's model with `make_model(chain)`.
///
/// Draws are returned on the unconstrained scale; map them to constrained outputs with the model's
/// own transform (e.g. `chain.draws.iter().map(|x| model.constrain(x))`). A chain that hits a fatal
/// model error makes the call fail with the lowest such chain index.
pub fn sample<M, F>(config: &SamplerConfig, make_model: F) -> Result<SampleOutput, SampleError>
where
    M: LogDensity,
    F: Fn(usize) -> M + Sync,
{
    sample_with_progress(config, make_model, |_, _, _| {})
}

/// [`sample`] with a progress callback `progress(chain, iterations_done, iterations_total)`, called
/// at most about 20 times per chain (always for the last iteration), from the chains' threads.
pub fn sample_with_progress<M, F, P>(
    config: &SamplerConfig,
    make_model: F,
    progress: P,
) -> Result<SampleOutput, SampleError>
where
    M: LogDensity,
    F: Fn(usize) -> M + Sync,
    P: FnMut(usize, usize, usize) + Send,
{
    config.validate()?;
    let deadline = config.time_budget.map(|budget| Instant::now() + budget);
    let progress = Mutex::new(progress);
    let dim = make_model(0).dim();
    let results: Vec<Result<ChainDraws, SampleError>> = (0..config.chains)
        .into_par_iter()
        .map(|chain| {
            let model = make_model(chain);
            if model.dim() != dim {
                return Err(SampleError::DimensionMismatch {
                    chain,
                    expected: dim,
                    found: model.dim(),
                });
            }
            run_chain(config, chain, model, deadline, &progress)
        })
        .collect();
    let chains = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(SampleOutput { dim, chains })
}

/// Derives an independent 64-bit seed for `(seed, chain, stream)` (splitmix64 finaliser).
fn derive_seed(seed: u64, chain: usize, stream: u64) -> u64 {
    let mut z = seed
        ^ (chain as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const INIT_STREAM: u64 = 1;
const NUTS_STREAM: u64 = 2;

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

enum InitOutcome {
    Found(Vec<f64>),
    OutOfTime,
}

/// Stan's initialisation: uniform on `(-r, r)` per coordinate, retried while the density or its
/// gradient is not finite (or fails recoverably).
fn find_initial_point<M: LogDensity>(
    model: &mut M,
    config: &SamplerConfig,
    chain: usize,
    deadline: Option<Instant>,
) -> Result<InitOutcome, SampleError> {
    let dim = model.dim();
    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(config.seed, chain, INIT_STREAM));
    let mut point = vec![0.0; dim];
    let mut grad = vec![0.0; dim];
    let mut last = String::new();
    for _ in 0..config.max_init_tries {
        if past(deadline) {
            return Ok(InitOutcome::OutOfTime);
        }
        for x in point.iter_mut() {
            *x = config.init_radius * (2.0 * rng.random::<f64>() - 1.0);
        }
        match model.logp(&point, &mut grad) {
            Ok(lp) if lp.is_finite() && grad.iter().all(|g| g.is_finite()) => {
                return Ok(InitOutcome::Found(point));
            }
            Ok(lp) if !lp.is_finite() => last = format!("log density is {lp}"),
            Ok(_) => last = "gradient is not finite".into(),
            Err(LogpFailure::Recoverable(message)) => last = message,
            Err(LogpFailure::Fatal(message)) => {
                return Err(SampleError::ModelFailed {
                    chain,
                    iteration: 0,
                    message,
                })
            }
        }
    }
    Err(SampleError::InitFailed {
        chain,
        tries: config.max_init_tries,
        radius: config.init_radius,
        last,
    })
}

struct ProgressThrottle {
    chain: usize,
    total: usize,
    every: usize,
}

impl ProgressThrottle {
    fn report<P: FnMut(usize, usize, usize)>(&self, done: usize, progress: &Mutex<P>) {
        if done.is_multiple_of(self.every) || done == self.total {
            if let Ok(mut callback) = progress.lock() {
                callback(self.chain, done, self.total);
            }
        }
    }
}

fn run_chain<M, P>(
    config: &SamplerConfig,
    chain: usize,
    mut model: M,
    deadline: Option<Instant>,
    progress: &Mutex<P>,
) -> Result<ChainDraws, SampleError>
where
    M: LogDensity,
    P: FnMut(usize, usize, usize),
{
    let started = Instant::now();
    let total = config.warmup + config.draws;
    let throttle = ProgressThrottle {
        chain,
        total,
        every: total.div_ceil(20).max(1),
    };
    let dim = model.dim();
    let mut out = ChainDraws {
        chain,
        draws: Vec::with_capacity(config.draws.div_ceil(config.thin)),
        stats: Vec::with_capacity(config.draws.div_ceil(config.thin)),
        init: Vec::new(),
        warmup_iterations: 0,
        warmup_divergences: 0,
        sampling_iterations: 0,
        step_size: f64::NAN,
        inv_metric: vec![1.0; dim],
        stop_reason: StopReason::Completed,
        gradient_evaluations: 0,
        elapsed: Duration::ZERO,
    };
    let finish = |mut out: ChainDraws, reason: StopReason| {
        out.stop_reason = reason;
        out.elapsed = started.elapsed();
        Ok(out)
    };

    out.init = match find_initial_point(&mut model, config, chain, deadline)? {
        InitOutcome::Found(point) => point,
        InitOutcome::OutOfTime => return finish(out, StopReason::TimeBudget),
    };
    let settings = BackendSettings {
        warmup: config.warmup as u64,
        draws: config.draws as u64,
        max_treedepth: config.max_treedepth as u64,
        target_accept: config.target_accept,
        seed: derive_seed(config.seed, chain, NUTS_STREAM),
    };
    let backend_error = |error: BackendError, iteration: usize| match error {
        BackendError::Deadline => None,
        BackendError::ModelFatal(message) => Some(SampleError::ModelFailed {
            chain,
            iteration,
            message,
        }),
        BackendError::Internal(message) => Some(SampleError::Sampler {
            chain,
            iteration,
            message,
        }),
    };
    let mut driver = match NutsDriver::new(model, chain as u64, settings, &out.init, deadline) {
        Ok(driver) => driver,
        Err(error) => match backend_error(error, 0) {
            Some(error) => return Err(error),
            None => return finish(out, StopReason::TimeBudget),
        },
    };

    // Filter warmup by the backend's `tuning` flag rather than by counting, but never run more than
    // `total` iterations, so a disagreement cannot loop forever.
    for iteration in 1..=total {
        if out.sampling_iterations == config.draws {
            break;
        }
        if past(deadline) {
            out.step_size = driver.step_size();
            out.inv_metric = driver.inv_metric().to_vec();
            return finish(out, StopReason::TimeBudget);
        }
        let step = match driver.step() {
            Ok(step) => step,
            Err(error) => match backend_error(error, iteration) {
                Some(error) => return Err(error),
                None => {
                    out.step_size = driver.step_size();
                    out.inv_metric = driver.inv_metric().to_vec();
                    return finish(out, StopReason::TimeBudget);
                }
            },
        };
        out.gradient_evaluations += step.stats.n_leapfrog;
        if step.tuning && out.warmup_iterations < config.warmup {
            out.warmup_iterations += 1;
            out.warmup_divergences += usize::from(step.stats.divergent);
        } else {
            if out.sampling_iterations.is_multiple_of(config.thin) {
                out.draws.push(step.position.into_vec());
                out.stats.push(step.stats);
            }
            out.sampling_iterations += 1;
        }
        throttle.report(iteration, progress);
    }
    out.step_size = driver.step_size();
    out.inv_metric = driver.inv_metric().to_vec();
    finish(out, StopReason::Completed)
}
