//! The inference stage of refinestat: NUTS over any log density.
//!
//! Owns: the [`LogDensity`] trait a sampler sees (dimension, value and gradient), the wrapper around
//! `nuts-rs`, multi-chain seeded sampling, initialisation, and the draws + sampler statistics.
//! Does not own: models (it never sees an AST; the `model` crate is only a dev-dependency) or
//! diagnostics.

/// What a sampler needs from a model.
pub trait LogDensity {
    fn dim(&self) -> usize;
    /// Log density at `x`, writing its gradient into `grad`.
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, String>;
}
