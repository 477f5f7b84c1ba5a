//! The only file that knows `nuts-rs`: it adapts a [`LogDensity`] to `nuts_rs::CpuLogpFunc`, builds a
//! diagonal-metric NUTS chain and turns each `nuts-rs` draw into our own [`Iteration`].
//!
//! `nuts-rs` changes its API often; keeping every use of it here means an upgrade touches one file.
//! What we rely on (checked by the compiler and by tests): the public fields of the per-draw stats
//! (`point.logp`, `point.energy`, `adapt.step_size.mean_tree_accept`, `depth`, ...; the diagonal
//! metric's `mass_matrix_inv` holds the square root of the inverse-metric diagonal), and the
//! `tuning` flag of each draw.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Instant;

use nuts_rs::rand::rngs::ChaCha8Rng;
use nuts_rs::rand::SeedableRng;
use nuts_rs::{
    Chain, CpuLogpFunc, CpuMath, CpuMathError, DiagNutsSettings, HasDims, LogpError, Settings,
};

use crate::{DrawStats, LogDensity, LogpFailure};

/// What the sampler loop needs from one chain of a NUTS implementation. `nuts-rs` sits behind
/// this; replacing it (or following its next API change) means implementing these three methods.
pub(crate) trait ChainBackend {
    /// Runs one iteration (warmup or sampling).
    fn step(&mut self) -> Result<Iteration, BackendError>;
    /// The step size of the last iteration (NaN before the first).
    fn step_size(&self) -> f64;
    /// Diagonal of the current inverse metric (the adapted posterior variance estimate).
    fn inv_metric(&self) -> &[f64];
}

/// The NUTS settings we pass through to the backend.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BackendSettings {
    pub warmup: u64,
    pub draws: u64,
    pub max_treedepth: u64,
    pub target_accept: f64,
    pub seed: u64,
}

/// One NUTS iteration as the rest of the crate sees it.
pub(crate) struct Iteration {
    pub position: Box<[f64]>,
    pub stats: DrawStats,
    pub tuning: bool,
}

/// Why the backend could not produce an iteration.
#[derive(Debug)]
pub(crate) enum BackendError {
    /// The wall-clock deadline passed inside a density evaluation.
    Deadline,
    /// The model reported a fatal failure.
    ModelFatal(String),
    /// `nuts-rs` itself failed.
    Internal(String),
}

/// What made the adapter abort a draw; read back after `nuts-rs` returns its own error.
enum Abort {
    Deadline,
    Fatal(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
struct AdapterError {
    message: String,
    recoverable: bool,
}

impl LogpError for AdapterError {
    fn is_recoverable(&self) -> bool {
        self.recoverable
    }
}

/// Wraps a model for `nuts-rs`: non-finite values become recoverable errors (divergences), fatal
/// failures and the deadline are remembered in `abort` so the driver can tell them apart.
struct Adapter<M> {
    model: M,
    dim: usize,
    deadline: Option<Instant>,
    abort: Rc<RefCell<Option<Abort>>>,
}

/// `nuts-rs` refuses a point where any gradient component is exactly zero whenever it
/// (re)initialises its step size, at the start and again after the first metric update (a
/// symmetric model at its centre, an init radius of 0, a parameter the density ignores); Stan
/// accepts such points. Exact zeros are reported as this value instead: far too small to change
/// the momentum (its effect is below f64 rounding), but non-zero for the check.
const GRADIENT_ZERO_STANDIN: f64 = 1e-200;

impl<M> Adapter<M> {
    fn fail(&self, abort: Abort, message: String) -> AdapterError {
        *self.abort.borrow_mut() = Some(abort);
        AdapterError {
            message,
            recoverable: false,
        }
    }
}

impl<M: LogDensity> HasDims for Adapter<M> {
    fn dim_sizes(&self) -> HashMap<String, u64> {
        // `dim` is the dimension `nuts-rs` stores expanded draws under; declare it even though we
        // keep draws ourselves, so any storage backend stays consistent.
        let dim = self.dim as u64;
        HashMap::from([
            ("unconstrained_parameter".to_string(), dim),
            ("dim".to_string(), dim),
        ])
    }
}

impl<M: LogDensity> CpuLogpFunc for Adapter<M> {
    type LogpError = AdapterError;
    type FlowParameters = ();
    type ExpandedVector = Vec<f64>;

    fn dim(&self) -> usize {
        self.dim
    }

    fn logp(&mut self, position: &[f64], gradient: &mut [f64]) -> Result<f64, AdapterError> {
        if let Some(deadline) = self.deadline {
            if Instant::now() >= deadline {
                return Err(self.fail(Abort::Deadline, "time budget exhausted".into()));
            }
        }
        match self.model.logp(position, gradient) {
            Ok(value) if value.is_finite() && gradient.iter().all(|g| g.is_finite()) => {
                for g in gradient.iter_mut().filter(|g| **g == 0.0) {
                    *g = GRADIENT_ZERO_STANDIN;
                }
                Ok(value)
            }
            Ok(value) => Err(AdapterError {
                message: format!("non-finite log density ({value}) or gradient"),
                recoverable: true,
            }),
            Err(LogpFailure::Recoverable(message)) => Err(AdapterError {
                message,
                recoverable: true,
            }),
            Err(LogpFailure::Fatal(message)) => {
                let text = message.clone();
                Err(self.fail(Abort::Fatal(message), text))
            }
        }
    }

    fn expand_vector<R>(&mut self, _rng: &mut R, _array: &[f64]) -> Result<Vec<f64>, CpuMathError>
    where
        R: nuts_rs::rand::Rng + ?Sized,
    {
        // Draws are taken from the position `nuts-rs` returns; nothing to expand.
        Ok(Vec::new())
    }
}

/// Stan's `max_deltaH`: a leapfrog step whose energy rises by more than this (or becomes
/// non-finite) ends the trajectory as a divergence. `nuts-rs` applies the same test
/// (`energy - initial_energy > max_energy_error`).
pub(crate) const MAX_ENERGY_ERROR: f64 = 1000.0;

/// `nuts-rs`'s step-size target for a CmdStan `delta` (what users ask for as `target_accept`):
/// the same rejection rate, halved, i.e. `(1 + delta) / 2`.
///
/// Why: `nuts-rs` lands its post-warmup mean `accept_stat__` on its target almost exactly
/// (0.81 for a target of 0.8 on eight schools), while CmdStan ends warmup with a smaller step
/// size than its target implies (its final step size is the dual-averaging mean `x_bar` over
/// the short 50-iteration term buffer, restarted from `10 * epsilon`): with `delta = 0.8` its
/// draws commonly have a mean `accept_stat__` near 0.9 (CmdStan's own examples; CmdStan could
/// not be run where this was tuned, so the factor is calibrated on the divergence counts below,
/// not on a side-by-side run). With `delta` passed through
/// unchanged, the non-centered eight schools (whose posterior has no funnel to speak of) showed
/// divergences for 9 of seeds 1..=10 (22 in all, step size about 0.62), where CmdStan shows
/// none for nearly every seed; with `(1 + delta) / 2` it showed none for seeds 1..=10 and one
/// for seeds 11..=20 (step size about 0.49, mean accept 0.90), while the centered version (a
/// real funnel) still diverged for every seed. The map keeps CmdStan's ordering and limits:
/// 0.8 -> 0.9, 0.9 -> 0.95, 0.95 -> 0.975, 0.99 -> 0.995. The price is more leapfrog steps: 7.1
/// instead of 6.6 per draw on eight schools, 5.9 instead of 3.5 on a 1000-row logistic
/// regression.
pub(crate) fn nuts_target_accept(delta: f64) -> f64 {
    0.5 * (1.0 + delta)
}

/// The `nuts-rs` settings for a chain, as close to CmdStan's sampler as `nuts-rs` allows.
///
/// - Divergence: energy error above [`MAX_ENERGY_ERROR`] (Stan's `max_deltaH = 1000`), or a
///   non-finite density or gradient (which Stan also counts as divergent).
/// - Step size: dual averaging with Stan's constants (`gamma = 0.05`, `t0 = 10`, `kappa = 0.75`,
///   `nuts-rs`'s defaults), started by the same doubling/halving search as Stan's
///   `init_stepsize` (restarted when the metric first changes), towards
///   [`nuts_target_accept`]`(delta)`; no jitter after warmup (CmdStan's `stepsize_jitter = 0`).
/// - Metric: diagonal. `nuts-rs` estimates it from draws *and* gradients
///   (`sqrt(var(x) / var(grad))`), where Stan uses the regularised draw variance. Tried both:
///   the draw-variance estimate (`use_grad_based_estimate = false`) gave smaller step sizes
///   (0.39 vs 0.49 on eight schools at the same target) and more divergences (3 vs 0 over seeds
///   1..=10), so the gradient-based one stays.
/// - Warmup schedule: `nuts-rs`'s (an early 30% with a metric refreshed every 10 draws, then
///   windows growing by 1.5x from 80 draws, then a final 15% adapting the step size only), not
///   Stan's 75/25../50 windows, which `nuts-rs` cannot express. Stan-like values tried on eight
///   schools (a final step-size window of 5%, an early window of 10%, `gamma = 0.1`) all gave
///   more divergences than the defaults; only the target moved the count.
/// - Gradients are not soft-clipped (`nuts-rs` clips at 1e10 by default; Stan never clips, and
///   the clip costs an `asinh` per component per gradient).
/// - Tree depth, draws and seed as asked; nothing stored beyond what [`DrawStats`] needs, plus
///   the metric (for the CSV's adaptation block).
fn nuts_settings(settings: &BackendSettings) -> DiagNutsSettings {
    let mut nuts = DiagNutsSettings {
        num_tune: settings.warmup,
        num_draws: settings.draws,
        maxdepth: settings.max_treedepth,
        num_chains: 1,
        seed: settings.seed,
        max_energy_error: MAX_ENERGY_ERROR,
        gradient_clipping: None,
        store_divergences: false,
        ..Default::default()
    };
    let step = &mut nuts.adapt_options.step_size_settings;
    step.target_accept = nuts_target_accept(settings.target_accept);
    step.jitter = None;
    nuts.adapt_options.mass_matrix_options.store_mass_matrix = true;
    nuts.adapt_options
        .mass_matrix_options
        .use_grad_based_estimate = true;
    nuts
}

type NutsChainOf<M> = <DiagNutsSettings as Settings>::Chain<CpuMath<Adapter<M>>>;

/// A single diagonal-metric NUTS chain.
pub(crate) struct NutsDriver<M: LogDensity> {
    chain: NutsChainOf<M>,
    abort: Rc<RefCell<Option<Abort>>>,
    step_size: f64,
    inv_metric: Vec<f64>,
}

impl<M: LogDensity> NutsDriver<M> {
    /// Builds a chain for `model` starting at `init` (which the caller has checked to be finite).
    pub fn new(
        model: M,
        chain_index: u64,
        settings: BackendSettings,
        init: &[f64],
        deadline: Option<Instant>,
    ) -> Result<Self, BackendError> {
        let dim = model.dim();
        let abort = Rc::new(RefCell::new(None));
        let adapter = Adapter {
            model,
            dim,
            deadline,
            abort: Rc::clone(&abort),
        };
        let nuts = nuts_settings(&settings);
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let chain = nuts
            .new_chain(chain_index, CpuMath::new(adapter), &mut rng)
            .map_err(|e| BackendError::Internal(format!("{e:#}")))?;
        let mut driver = NutsDriver {
            chain,
            abort,
            step_size: f64::NAN,
            inv_metric: vec![1.0; dim],
        };
        if let Err(e) = driver.chain.set_position(init) {
            return Err(driver.classify(format!("{e:#}")));
        }
        Ok(driver)
    }

    fn classify(&self, message: String) -> BackendError {
        match self.abort.borrow_mut().take() {
            Some(Abort::Deadline) => BackendError::Deadline,
            Some(Abort::Fatal(model_message)) => BackendError::ModelFatal(model_message),
            // `nuts-rs` formats some inner errors with `{:?}`, which drags in a backtrace.
            None => BackendError::Internal(match message.split_once("\n\nStack backtrace") {
                Some((head, _)) => head.to_string(),
                None => message,
            }),
        }
    }
}

impl<M: LogDensity> ChainBackend for NutsDriver<M> {
    /// Runs one NUTS iteration.
    fn step(&mut self) -> Result<Iteration, BackendError> {
        let (position, _expanded, stats, progress) = match self.chain.expanded_draw() {
            Ok(draw) => draw,
            Err(e) => return Err(self.classify(format!("{e:#}"))),
        };
        // Read the statistics' public fields directly: going through `Storable::get_all` allocates
        // a name and a value for every statistic on every draw, which cost more than the leapfrog
        // steps themselves on small models.
        if let Some(stds) = &stats.hamiltonian.transformation.mass_matrix_inv {
            self.inv_metric = stds.iter().map(|s| s * s).collect();
        }
        let stats = DrawStats {
            lp: stats.point.logp,
            accept_stat: stats.adapt.step_size.mean_tree_accept,
            stepsize: stats.hamiltonian.step_size,
            treedepth: stats.depth,
            n_leapfrog: stats.adapt.step_size.n_steps,
            divergent: stats.divergence.diverging,
            energy: stats.point.energy,
        };
        self.step_size = stats.stepsize;
        Ok(Iteration {
            position,
            stats,
            tuning: progress.tuning,
        })
    }

    /// The step size of the last iteration (NaN before the first).
    fn step_size(&self) -> f64 {
        self.step_size
    }

    /// Diagonal of the current inverse metric (the adapted posterior variance estimate).
    fn inv_metric(&self) -> &[f64] {
        &self.inv_metric
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(target_accept: f64) -> BackendSettings {
        BackendSettings {
            warmup: 10,
            draws: 5,
            max_treedepth: 7,
            target_accept,
            seed: 3,
        }
    }

    #[test]
    fn target_map_halves_the_rejection_rate() {
        for (delta, expected) in [(0.8, 0.9), (0.9, 0.95), (0.95, 0.975), (0.99, 0.995)] {
            assert!(
                (nuts_target_accept(delta) - expected).abs() < 1e-12,
                "{delta}"
            );
        }
    }

    #[test]
    fn settings_follow_stan() {
        let nuts = nuts_settings(&settings(0.8));
        assert_eq!(nuts.max_energy_error, 1000.0);
        assert!(nuts.gradient_clipping.is_none());
        assert!(nuts.adapt_options.step_size_settings.jitter.is_none());
        assert!((nuts.adapt_options.step_size_settings.target_accept - 0.9).abs() < 1e-12);
        assert_eq!(nuts.maxdepth, 7);
        assert_eq!((nuts.num_tune, nuts.num_draws, nuts.seed), (10, 5, 3));
        let dual = nuts
            .adapt_options
            .step_size_settings
            .adapt_options
            .dual_average;
        assert_eq!((dual.gamma, dual.t0, dual.k), (0.05, 10.0, 0.75));
    }
}
