//! Multi-chain sampling: configuration, Stan-like initialisation, seeding, the wall-clock budget,
//! progress reports and the per-chain results.
//!
//! Chains run in parallel on rayon's global pool. Each chain's random numbers come only from
//! `(seed, chain index)`, so a seed gives bit-identical draws however the threads are scheduled
//! (unless the time budget stops a chain, which depends on the clock).

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::backend::{BackendError, BackendSettings, ChainBackend, NutsDriver};
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
    /// Target mean acceptance statistic for step-size adaptation (CmdStan's `delta`). nuts-rs is
    /// given `(1 + delta) / 2` so that the adapted step size behaves like CmdStan's (see the
    /// crate docs).
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
    /// Mean acceptance probability over the trajectory (drives step-size adaptation).
    pub accept_stat: f64,
    /// Step size of the iteration (constant after warmup).
    pub stepsize: f64,
    /// Depth of the NUTS tree (`n_leapfrog <= 2^treedepth - 1`).
    pub treedepth: u64,
    /// Leapfrog steps, i.e. density-and-gradient evaluations, in the iteration.
    pub n_leapfrog: u64,
    /// Whether the trajectory diverged (including recoverable density failures).
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
    /// Whether the chain finished or ran out of time.
    pub stop_reason: StopReason,
    /// Density-and-gradient evaluations by the sampler (sum of `n_leapfrog`, warmup included).
    pub gradient_evaluations: u64,
    /// Wall-clock time of the chain, initialisation included.
    pub elapsed: Duration,
}

impl ChainDraws {
    /// Divergent kept draws.
    pub fn divergences(&self) -> usize {
        self.stats.iter().filter(|s| s.divergent).count()
    }

    /// Maps every kept draw from the unconstrained scale to output values (constrained
    /// parameters, transformed parameters, generated quantities) with the caller's transform.
    pub fn transformed<T>(&self, mut transform: T) -> Vec<Vec<f64>>
    where
        T: FnMut(&[f64]) -> Vec<f64>,
    {
        self.draws.iter().map(|draw| transform(draw)).collect()
    }
}

/// All chains of one `sample` call, in chain order.
#[derive(Clone, Debug, PartialEq)]
pub struct SampleOutput {
    /// Length of each draw (the model's unconstrained dimension).
    pub dim: usize,
    /// One entry per chain, in chain order.
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

/// Why sampling failed. Chain indexes are 0-based in the fields; the messages number chains from
/// 1, as the CSV files (`chain-1.csv`) do. Iterations are 1-based (0 = initialisation).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SampleError {
    /// A [`SamplerConfig`] value NUTS cannot work with.
    #[error("invalid sampler configuration: {0}")]
    InvalidConfig(String),
    /// Every random initial point had a non-finite density or gradient.
    #[error(
        "chain {}: no initial point with a finite log density and gradient after {tries} \
         tries (uniform on (-{radius}, {radius}) on the unconstrained scale); last problem: {last}",
        .chain + 1
    )]
    InitFailed {
        /// The chain.
        chain: usize,
        /// Points tried.
        tries: usize,
        /// The initialisation radius.
        radius: f64,
        /// What was wrong with the last point.
        last: String,
    },
    /// The model reported a fatal failure.
    #[error("chain {}: the model failed at iteration {iteration}: {message}", .chain + 1)]
    ModelFailed {
        /// The chain.
        chain: usize,
        /// 1-based iteration; 0 during initialisation.
        iteration: usize,
        /// The model's message.
        message: String,
    },
    /// The factory built models of different dimensions.
    #[error("chain {}: the model's dimension is {found}, but chain 1's is {expected}", .chain + 1)]
    DimensionMismatch {
        /// The chain whose model differs.
        chain: usize,
        /// Chain 0's dimension.
        expected: usize,
        /// This chain's dimension.
        found: usize,
    },
    /// The model panicked (a bug in the model, caught so the caller survives).
    #[error("chain {}: the model panicked: {message}", .chain + 1)]
    ModelPanicked {
        /// The chain.
        chain: usize,
        /// The panic message.
        message: String,
    },
    /// `nuts-rs` itself failed.
    #[error("chain {}: the NUTS sampler failed at iteration {iteration}: {message}", .chain + 1)]
    Sampler {
        /// The chain.
        chain: usize,
        /// 1-based iteration; 0 during initialisation.
        iteration: usize,
        /// The sampler's message.
        message: String,
    },
}

/// Samples `config.chains` chains, building each chain's model with `make_model(chain)` on the
/// chain's own thread (so models need not be `Send`; clone a shared one in the closure).
///
/// Draws are returned on the unconstrained scale; map them to constrained outputs with the model's
/// own transform ([`ChainDraws::transformed`]). A chain that fails (fatal model error, panic,
/// sampler error) makes the call fail, reporting the lowest such chain index.
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
    let results: Vec<(usize, Result<ChainDraws, SampleError>)> = (0..config.chains)
        .into_par_iter()
        .map(|chain| {
            let model = make_model(chain);
            let dim = model.dim();
            // A bug in a model (an index out of range, say) must not take the caller down; the
            // model is dropped with the chain, so no broken state is observed afterwards.
            let result = catch_unwind(AssertUnwindSafe(|| {
                run_chain(config, chain, model, deadline, &progress)
            }))
            .unwrap_or_else(|payload| {
                Err(SampleError::ModelPanicked {
                    chain,
                    message: panic_message(payload.as_ref()),
                })
            });
            (dim, result)
        })
        .collect();
    let dim = results[0].0;
    let mut chains = Vec::with_capacity(results.len());
    for (chain, (found, result)) in results.into_iter().enumerate() {
        if found != dim {
            return Err(SampleError::DimensionMismatch {
                chain,
                expected: dim,
                found,
            });
        }
        chains.push(result?);
    }
    Ok(SampleOutput { dim, chains })
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic payload".to_string()
    }
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

/// Largest gradient coordinate accepted at an initial point when a tamer one can be found: the
/// backend scales its first mass matrix by the initial gradient, and a point where the gradient
/// is astronomical (an ARMA model's errors exploding for |theta| > 1 gives 1e112) leaves the
/// chain with a step size that underflows to nothing and every draw divergent.
const MAX_INIT_GRADIENT: f64 = 1e8;

/// Stan's initialisation: uniform on `(-r, r)` per coordinate, retried while the density or its
/// gradient is not finite (or fails recoverably). A finite point whose gradient exceeds
/// [`MAX_INIT_GRADIENT`] is kept as a fallback while the draws go on.
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
    let mut steep: Option<Vec<f64>> = None;
    for _ in 0..config.max_init_tries {
        if past(deadline) {
            return Ok(InitOutcome::OutOfTime);
        }
        for x in point.iter_mut() {
            *x = config.init_radius * (2.0 * rng.random::<f64>() - 1.0);
        }
        match model.logp(&point, &mut grad) {
            Ok(lp) if lp.is_finite() && grad.iter().all(|g| g.is_finite()) => {
                if grad.iter().all(|g| g.abs() <= MAX_INIT_GRADIENT) {
                    return Ok(InitOutcome::Found(point));
                }
                steep.get_or_insert_with(|| point.clone());
                last = "gradient is too steep".into();
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
    if let Some(point) = steep {
        return Ok(InitOutcome::Found(point));
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
    let reason = match run_iterations(&mut driver, config, deadline, &mut out, |done| {
        throttle.report(done, progress)
    }) {
        Ok(reason) => reason,
        Err((error, iteration)) => match backend_error(error, iteration) {
            Some(error) => return Err(error),
            None => StopReason::TimeBudget,
        },
    };
    out.step_size = driver.step_size();
    out.inv_metric = driver.inv_metric().to_vec();
    finish(out, reason)
}

/// Runs warmup and sampling iterations into `out`, stopping at the deadline. An error comes with
/// the 1-based iteration it happened in.
fn run_iterations<B: ChainBackend>(
    backend: &mut B,
    config: &SamplerConfig,
    deadline: Option<Instant>,
    out: &mut ChainDraws,
    mut report: impl FnMut(usize),
) -> Result<StopReason, (BackendError, usize)> {
    let total = config.warmup + config.draws;
    // Filter warmup by the backend's `tuning` flag rather than by counting, but never run more than
    // `total` iterations, so a disagreement cannot loop forever.
    for iteration in 1..=total {
        if out.sampling_iterations == config.draws {
            break;
        }
        if past(deadline) {
            return Ok(StopReason::TimeBudget);
        }
        let step = backend.step().map_err(|error| (error, iteration))?;
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
        report(iteration);
    }
    Ok(StopReason::Completed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Iteration;

    /// Reports `tuning` for its first `tuning_iterations` steps and fails at `fail_at`.
    struct ScriptedBackend {
        steps: usize,
        tuning_iterations: usize,
        fail_at: Option<usize>,
    }

    impl ChainBackend for ScriptedBackend {
        fn step(&mut self) -> Result<Iteration, BackendError> {
            self.steps += 1;
            if Some(self.steps) == self.fail_at {
                return Err(BackendError::Internal("scripted".into()));
            }
            Ok(Iteration {
                position: vec![self.steps as f64].into_boxed_slice(),
                stats: DrawStats {
                    lp: 0.0,
                    accept_stat: 1.0,
                    stepsize: 0.5,
                    treedepth: 1,
                    n_leapfrog: 2,
                    divergent: self.steps.is_multiple_of(2),
                    energy: 0.0,
                },
                tuning: self.steps <= self.tuning_iterations,
            })
        }
        fn step_size(&self) -> f64 {
            0.5
        }
        fn inv_metric(&self) -> &[f64] {
            &[]
        }
    }

    fn empty_chain() -> ChainDraws {
        ChainDraws {
            chain: 0,
            draws: Vec::new(),
            stats: Vec::new(),
            init: Vec::new(),
            warmup_iterations: 0,
            warmup_divergences: 0,
            sampling_iterations: 0,
            step_size: f64::NAN,
            inv_metric: Vec::new(),
            stop_reason: StopReason::Completed,
            gradient_evaluations: 0,
            elapsed: Duration::ZERO,
        }
    }

    fn run(
        tuning_iterations: usize,
        fail_at: Option<usize>,
        thin: usize,
    ) -> (ChainDraws, Result<StopReason, usize>, Vec<usize>) {
        let config = SamplerConfig {
            warmup: 4,
            draws: 6,
            thin,
            ..SamplerConfig::default()
        };
        let mut backend = ScriptedBackend {
            steps: 0,
            tuning_iterations,
            fail_at,
        };
        let mut out = empty_chain();
        let mut reports = Vec::new();
        let result = run_iterations(&mut backend, &config, None, &mut out, |done| {
            reports.push(done)
        })
        .map_err(|(_, iteration)| iteration);
        (out, result, reports)
    }

    fn kept(out: &ChainDraws) -> Vec<f64> {
        out.draws.iter().map(|d| d[0]).collect()
    }

    #[test]
    fn warmup_is_filtered_by_the_tuning_flag_and_thinned() {
        let (out, result, reports) = run(4, None, 1);
        assert_eq!(result, Ok(StopReason::Completed));
        assert_eq!(kept(&out), [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
        assert_eq!((out.warmup_iterations, out.warmup_divergences), (4, 2));
        assert_eq!(out.gradient_evaluations, 20);
        assert_eq!(reports, (1..=10).collect::<Vec<_>>());

        let (out, _, _) = run(4, None, 4);
        assert_eq!(kept(&out), [5.0, 9.0]);
        assert_eq!(out.sampling_iterations, 6);
    }

    #[test]
    fn a_backend_that_never_stops_tuning_is_still_bounded() {
        let (out, result, _) = run(usize::MAX, None, 1);
        assert_eq!(result, Ok(StopReason::Completed));
        assert_eq!(out.warmup_iterations, 4);
        assert_eq!(kept(&out), [5.0, 6.0, 7.0, 8.0, 9.0, 10.0]);
    }

    #[test]
    fn early_end_of_tuning_still_keeps_exactly_draws() {
        let (out, _, reports) = run(2, None, 1);
        assert_eq!(out.warmup_iterations, 2);
        assert_eq!(kept(&out), [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        assert_eq!(reports.len(), 8);
    }

    #[test]
    fn errors_carry_their_iteration() {
        let (out, result, _) = run(4, Some(7), 1);
        assert_eq!(result, Err(7));
        assert_eq!(kept(&out), [5.0, 6.0]);
    }

    #[test]
    fn seeds_differ_per_chain_and_stream() {
        let seeds = [
            derive_seed(0, 0, INIT_STREAM),
            derive_seed(0, 0, NUTS_STREAM),
            derive_seed(0, 1, INIT_STREAM),
            derive_seed(1, 0, INIT_STREAM),
        ];
        for i in 0..seeds.len() {
            for j in i + 1..seeds.len() {
                assert_ne!(seeds[i], seeds[j]);
            }
        }
        assert_eq!(
            derive_seed(7, 3, NUTS_STREAM),
            derive_seed(7, 3, NUTS_STREAM)
        );
    }

    /// A density whose gradient is astronomical where `x[0] > 0` (as an ARMA model's exploding
    /// errors make it) and tame elsewhere.
    struct SteepHalf {
        dim: usize,
        steep_everywhere: bool,
    }

    impl crate::LogDensity for SteepHalf {
        fn dim(&self) -> usize {
            self.dim
        }
        fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, crate::LogpFailure> {
            let scale = if self.steep_everywhere || x[0] > 0.0 {
                1e12
            } else {
                1.0
            };
            for (g, v) in grad.iter_mut().zip(x) {
                *g = -scale * v;
            }
            Ok(-0.5 * scale * x.iter().map(|v| v * v).sum::<f64>())
        }
    }

    #[test]
    fn an_initial_point_with_an_astronomical_gradient_is_redrawn() {
        let config = SamplerConfig::default();
        for chain in 0..20 {
            let mut model = SteepHalf {
                dim: 3,
                steep_everywhere: false,
            };
            match find_initial_point(&mut model, &config, chain, None).unwrap() {
                InitOutcome::Found(point) => assert!(point[0] <= 0.0, "chain {chain}: {point:?}"),
                InitOutcome::OutOfTime => panic!("no deadline was set"),
            }
        }
        // Where every point is steep, the first finite one is still used.
        let mut model = SteepHalf {
            dim: 3,
            steep_everywhere: true,
        };
        assert!(matches!(
            find_initial_point(&mut model, &config, 0, None).unwrap(),
            InitOutcome::Found(_)
        ));
    }
}
