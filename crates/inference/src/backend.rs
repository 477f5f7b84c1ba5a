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
        let mut nuts = DiagNutsSettings {
            num_tune: settings.warmup,
            num_draws: settings.draws,
            maxdepth: settings.max_treedepth,
            num_chains: 1,
            seed: settings.seed,
            ..Default::default()
        };
        nuts.adapt_options.step_size_settings.target_accept = settings.target_accept;
        // CmdStan keeps the adapted step size fixed after warmup (stepsize_jitter = 0).
        nuts.adapt_options.step_size_settings.jitter = None;
        nuts.adapt_options.mass_matrix_options.store_mass_matrix = true;
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
