//! Fitting one compiled program: NUTS on Stan's sampling density, the draws mapped to constrained
//! outputs and the pointwise log-likelihood, and the diagnostics [`Summary`] (seven checks,
//! PSIS-LOO). The CLI's `sample` writes its CSV files from a [`Fit`]; the refinement loop scores
//! candidates with it.

use rand::SeedableRng;
use refinestat_diagnostics::{summarize, ChainStats, Draws, LogLik, Summary};
use refinestat_inference::{
    sample_with_progress, LogDensity, LogpFailure, SampleOutput, SamplerConfig,
};
use refinestat_model::{LogDensityOptions, Model, ModelError};

/// The model as the sampler sees it: Stan's sampling density (Jacobian on, constants dropped).
pub struct SamplingDensity(pub Model);

impl LogDensity for SamplingDensity {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let opts = LogDensityOptions {
            jacobian: true,
            propto: true,
        };
        self.0
            .log_density_gradient(x, opts, grad)
            .map_err(|e| match e {
                ModelError::Eval(msg) => LogpFailure::Recoverable(msg),
                other => LogpFailure::Fatal(other.to_string()),
            })
    }
}

/// Why a fit produced no summary (the message is meant for people).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FitError(pub String);

/// Constrained outputs of one chain: `values[draw]` (params, TPs, GQs) and `log_lik[draw]`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainOutputs {
    pub values: Vec<Vec<f64>>,
    pub log_lik: Vec<Vec<f64>>,
}

/// Everything a fit produced.
#[derive(Debug, Clone)]
pub struct Fit {
    /// The sampler's draws (unconstrained) and statistics.
    pub sample: SampleOutput,
    /// The model's output names (params, TPs, GQs), Stan style.
    pub names: Vec<String>,
    /// Per chain, in chain order.
    pub outputs: Vec<ChainOutputs>,
    /// The program declares its own `log_lik` generated quantity (so `outputs.log_lik` is not
    /// what the summary used).
    pub own_log_lik: bool,
    /// Diagnostics over every output except `log_lik`, with PSIS-LOO.
    pub summary: Summary,
}

fn is_log_lik(name: &str) -> bool {
    name == "log_lik" || name.starts_with("log_lik[")
}

/// Samples `model` with `config` and summarizes. `progress(chain, iterations_done, total)` is
/// called from the chains' threads. Generated quantities of chain `k` use their own stream
/// `(config.seed, 1000 + k)`, so results do not depend on thread scheduling.
pub fn fit_model<P>(model: &Model, config: &SamplerConfig, progress: P) -> Result<Fit, FitError>
where
    P: FnMut(usize, usize, usize) + Send,
{
    let output = sample_with_progress(config, |_| SamplingDensity(model.clone()), progress)
        .map_err(|e| FitError(e.to_string()))?;

    use rayon::prelude::*;
    let outputs: Vec<ChainOutputs> = output
        .chains
        .par_iter()
        .map(|chain| -> Result<ChainOutputs, FitError> {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(1000 + chain.chain as u64);
            let mut values = Vec::with_capacity(chain.draws.len());
            let mut log_lik = Vec::with_capacity(chain.draws.len());
            for (i, x) in chain.draws.iter().enumerate() {
                let context = |e: ModelError| {
                    FitError(format!("chain {} draw {}: {e}", chain.chain + 1, i + 1))
                };
                values.push(model.write_array(x, &mut rng).map_err(context)?);
                log_lik.push(model.log_lik(x).map_err(context)?);
            }
            Ok(ChainOutputs { values, log_lik })
        })
        .collect::<Result<_, _>>()?;

    let names = model.output_names();
    // A program's own `log_lik` generated quantity already is the pointwise log-likelihood.
    let own_log_lik = names.iter().any(|n| is_log_lik(n));
    let keep: Vec<usize> = (0..names.len())
        .filter(|&i| !is_log_lik(&names[i]))
        .collect();
    let pick = |idx: &[usize]| -> Vec<Vec<Vec<f64>>> {
        outputs
            .iter()
            .map(|c| {
                c.values
                    .iter()
                    .map(|row| idx.iter().map(|&i| row[i]).collect())
                    .collect()
            })
            .collect()
    };
    let draw_rows = pick(&keep);
    let kept_names: Vec<String> = keep.iter().map(|&i| names[i].clone()).collect();
    let log_lik_rows = if own_log_lik {
        let ll_idx: Vec<usize> = (0..names.len())
            .filter(|&i| is_log_lik(&names[i]))
            .collect();
        pick(&ll_idx)
    } else {
        outputs.iter().map(|c| c.log_lik.clone()).collect()
    };
    let stats: Vec<ChainStats> = output
        .chains
        .iter()
        .map(|c| ChainStats {
            energy: c.stats.iter().map(|s| s.energy).collect(),
            divergent: c.stats.iter().map(|s| s.divergent).collect(),
        })
        .collect();
    let summary = summarize_outputs(kept_names, &draw_rows, &stats, &log_lik_rows)?;
    Ok(Fit {
        sample: output,
        names,
        outputs,
        own_log_lik,
        summary,
    })
}

/// The summary of constrained draws (`draws[chain][draw][quantity]`), sampler statistics and a
/// pointwise log-likelihood (`log_lik[chain][draw][observation]`; all empty = none).
pub fn summarize_outputs(
    names: Vec<String>,
    draws: &[Vec<Vec<f64>>],
    stats: &[ChainStats],
    log_lik: &[Vec<Vec<f64>>],
) -> Result<Summary, FitError> {
    let draws = Draws::from_chains(names, draws).map_err(|e| FitError(e.to_string()))?;
    let log_lik = if log_lik.iter().all(|c| c.iter().all(Vec::is_empty)) {
        None
    } else {
        LogLik::from_chains(log_lik)
    };
    summarize(&draws, stats, log_lik.as_ref()).map_err(|e| FitError(e.to_string()))
}
