//! The inference stage of refinestat: NUTS over any log density.
//!
//! Owns: the [`LogDensity`] trait a sampler sees (dimension, value and gradient), the wrapper around
//! `nuts-rs` (private, in `backend.rs`), multi-chain seeded sampling with Stan-like initialisation,
//! a wall-clock budget and progress reports ([`sample`], [`sample_with_progress`]), the draws plus
//! CmdStan's sampler statistics ([`ChainDraws`], [`DrawStats`]), and the CmdStan-layout CSV writer
//! ([`write_cmdstan_csv`]).
//!
//! Does not own: models (it never sees an AST; the `model` crate may only ever be a
//! dev-dependency), the constraining transforms (draws come back on the unconstrained scale and
//! the caller maps them, e.g. with [`ChainDraws::transformed`]), or diagnostics.
//!
//! Behaviour worth knowing:
//! - Each chain gets its own model from a factory closure, built on the chain's thread.
//! - Chain `k` draws its initial point and its NUTS random numbers from streams derived from
//!   `(seed, k)` only, so a seed gives bit-identical draws (and CSV bytes) whatever the thread
//!   count, unless the time budget stops a chain.
//! - Initialisation is Stan's: uniform on `(-init_radius, init_radius)`, retried up to
//!   `max_init_tries` times while the density or gradient is non-finite or fails recoverably.
//! - A [`LogpFailure::Recoverable`] failure, or a non-finite value or gradient, is a divergence;
//!   a [`LogpFailure::Fatal`] failure, or a panic in the model, stops sampling with an error.
//! - The diagonal metric and step size adapt during warmup (nuts-rs's schedule, which differs
//!   from Stan's windows); warmup draws are dropped using nuts-rs's `tuning` flag. The step size
//!   is not jittered after warmup, as in CmdStan. `target_accept` is CmdStan's `delta`; nuts-rs
//!   is given `(1 + delta) / 2`, because it meets its target exactly where CmdStan ends warmup
//!   with a smaller step size (mean `accept_stat__` about 0.9 at `delta = 0.8`); see
//!   `backend.rs` for the measurements behind every setting.
//! - A trajectory diverges when its energy rises by more than 1000 (Stan's `max_deltaH`) or the
//!   density or gradient stops being finite.
//! - `lp__` is whatever the model's `logp` returns (Jacobian included); `energy__` is the
//!   Hamiltonian at the draw.
//! - The library never prints; progress goes to a callback at most ~20 times per chain.
//!
//! ```
//! use refinestat_inference::{sample, LogDensity, LogpFailure, SamplerConfig, StopReason};
//!
//! /// A standard normal in two dimensions.
//! #[derive(Clone)]
//! struct StdNormal;
//!
//! impl LogDensity for StdNormal {
//!     fn dim(&self) -> usize {
//!         2
//!     }
//!     fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
//!         let mut lp = 0.0;
//!         for (xi, gi) in x.iter().zip(grad.iter_mut()) {
//!             *gi = -xi;
//!             lp -= 0.5 * xi * xi;
//!         }
//!         Ok(lp)
//!     }
//! }
//!
//! let config = SamplerConfig { chains: 2, warmup: 200, draws: 100, seed: 7, ..Default::default() };
//! let output = sample(&config, |_chain| StdNormal).unwrap();
//! assert_eq!(output.chains.len(), 2);
//! assert_eq!(output.chains[0].draws.len(), 100);
//! assert_eq!(output.stop_reason(), StopReason::Completed);
//! ```

#![warn(missing_docs)]

mod backend;
mod csv;
mod sampler;

pub use csv::{
    cmdstan_column_name, format_f64, stan_name_from_cmdstan, write_cmdstan_csv, CsvHeader,
    SAMPLER_COLUMNS,
};
pub use sampler::{
    sample, sample_with_progress, ChainDraws, DrawStats, SampleError, SampleOutput, SamplerConfig,
    StopReason,
};

/// Why a density could not be evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogpFailure {
    /// The point is unusable (outside the support, a non-positive-definite matrix, ...): the
    /// sampler treats it as a divergence and carries on.
    Recoverable(String),
    /// Something is wrong with the model itself: the chain stops and sampling fails with this
    /// message.
    Fatal(String),
}

/// What a sampler needs from a model: an unnormalised log density on the unconstrained scale
/// (Jacobian included) and its gradient.
///
/// Each chain gets its own instance (built by the factory passed to [`sample`]), so `logp` may keep
/// scratch buffers in `&mut self`.
pub trait LogDensity {
    /// Number of unconstrained parameters.
    fn dim(&self) -> usize;

    /// Log density at `x` (length [`dim`](Self::dim)), writing its gradient into `grad` (same
    /// length). A non-finite value or gradient counts as a recoverable failure.
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure>;
}
