//! The model stage of refinestat: a checked program plus data becomes an executable model.
//!
//! Owns: the parameter layout, constraining transforms with their log|J|, the reverse-mode AD
//! tape (scalar and fused vector nodes, hand-written partials for every distribution and
//! function), the log density and its gradient, the pointwise log-likelihood of observed data,
//! generated quantities, and the prior-predictive simulator.
//!
//! Does not own: parsing or validity checking (the `language` crate), sampling (the `inference`
//! crate), diagnostics. Invariant: no sampler types appear here; a sampler sees only
//! `dim` + `log_density_gradient`.

use rand::Rng;
use refinestat_language::{Data, Program};

/// What `log_density` includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogDensityOptions {
    /// Add log|J| of the unconstraining transforms.
    pub jacobian: bool,
    /// Drop constant terms of `~` statements (Stan's sampling semantics). `target +=` always keeps them.
    pub propto: bool,
}

/// Why a model could not be built or evaluated.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The program does not parse or check; each entry is one rendered diagnostic.
    #[error("program is not valid: {0}")]
    Invalid(String),
    /// The data does not fit the data block.
    #[error("data does not fit the program: {0}")]
    Data(String),
    /// A construct the engine does not support yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Evaluation failed at this point (reject(), index out of range, non-finite density ...).
    /// Recoverable: a sampler treats it as a divergence.
    #[error("evaluation error: {0}")]
    Eval(String),
    /// Given parameter values do not fit (missing, wrong size, outside constraints).
    #[error("parameter values: {0}")]
    Params(String),
}

/// One prior-predictive draw: constrained parameter values and simulated observed data, both in
/// the Stan JSON shape (so `data` can be written out and fed back as a data file).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedDraw {
    pub params: Data,
    pub data: Data,
}

/// An executable model. Cheap to clone; one clone per sampling chain.
#[derive(Debug, Clone)]
pub struct Model {
    _private: (),
}

impl Model {
    /// Compile a parsed (and checked) program with its data.
    pub fn new(program: &Program, data: &Data) -> Result<Model, ModelError> {
        let _ = (program, data);
        todo!("model compile")
    }

    /// Parse, check and compile source text.
    pub fn from_source(src: &str, data: &Data) -> Result<Model, ModelError> {
        let _ = (src, data);
        todo!("model compile")
    }

    /// Length of the unconstrained parameter vector.
    pub fn dim(&self) -> usize {
        todo!()
    }

    /// Stan-style names of the constrained parameters in declaration order, column-major
    /// (`mu`, `theta[1]`, `L[2,1]`).
    pub fn param_names(&self) -> Vec<String> {
        todo!()
    }

    /// Stan-style names of everything `write_array` returns: parameters, then transformed
    /// parameters, then generated quantities (as CmdStan's CSV columns, in Stan notation).
    pub fn output_names(&self) -> Vec<String> {
        todo!()
    }

    /// Number of pointwise log-likelihood terms.
    pub fn n_log_lik(&self) -> usize {
        todo!()
    }

    /// Map constrained parameter values (Stan JSON shape, by name) to the unconstrained vector.
    pub fn unconstrain(&self, params: &Data) -> Result<Vec<f64>, ModelError> {
        let _ = params;
        todo!()
    }

    /// Log density at an unconstrained point.
    pub fn log_density(&self, x: &[f64], opts: LogDensityOptions) -> Result<f64, ModelError> {
        let _ = (x, opts);
        todo!()
    }

    /// Log density and its gradient with respect to the unconstrained vector.
    pub fn log_density_gradient(
        &mut self,
        x: &[f64],
        opts: LogDensityOptions,
        grad: &mut [f64],
    ) -> Result<f64, ModelError> {
        let _ = (x, opts, grad);
        todo!()
    }

    /// Pointwise log-likelihood of the observed data (normalizing constants included), in data
    /// order; a `log_lik` declared in generated quantities wins.
    pub fn log_lik(&self, x: &[f64]) -> Result<Vec<f64>, ModelError> {
        let _ = x;
        todo!()
    }

    /// Constrained parameters, transformed parameters and generated quantities at `x`
    /// (the order of [`Model::output_names`]).
    pub fn write_array<R: Rng + ?Sized>(
        &self,
        x: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>, ModelError> {
        let _ = (x, rng);
        todo!()
    }

    /// One prior-predictive draw.
    pub fn simulate<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<SimulatedDraw, ModelError> {
        let _ = rng;
        todo!()
    }
}
