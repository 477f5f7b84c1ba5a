//! One fit of a compiled program: NUTS on Stan's sampling density, the draws mapped to
//! constrained output rows and the pointwise log-likelihood, and the diagnostics [`Summary`]
//! (seven checks, PSIS-LOO). The CLI's `sample` writes its CSV files from a [`Fit`]; the
//! refinement loop scores candidates with it; SBC ([`crate::sbc`]) maps its draws with the same
//! [`output_rows`].

use rand::{Rng, SeedableRng};
use refinestat_diagnostics::{summarize, ChainStats, Draws, LogLik, Summary};
use refinestat_inference::{
    cmdstan_column_name, sample_with_progress, ChainDraws, LogDensity, LogpFailure, SampleOutput,
    SamplerConfig,
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
        self.0.log_density_gradient(x, opts, grad).map_err(|e| {
            let recoverable = e.is_recoverable();
            // An evaluation failure's own words, without the "evaluation error" prefix.
            let message = match e {
                ModelError::Eval(message) => message,
                other => other.to_string(),
            };
            if recoverable {
                LogpFailure::Recoverable(message)
            } else {
                LogpFailure::Fatal(message)
            }
        })
    }
}

/// Why a fit produced no summary (the message is meant for people).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct FitError(pub String);

fn is_log_lik(name: &str) -> bool {
    name == "log_lik" || name.starts_with("log_lik[")
}

/// Which output column is what: the model's outputs (parameters, transformed parameters,
/// generated quantities), then, unless the program declares its own `log_lik`, the pointwise
/// log-likelihood the model computes (`log_lik[1]`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct OutputLayout {
    /// Stan names of every column after the sampler's, in file order.
    pub names: Vec<String>,
    /// CmdStan names of the same columns.
    pub columns: Vec<String>,
    /// Columns that go into the summary (all but the log-likelihood).
    pub summary_columns: Vec<usize>,
    /// The pointwise log-likelihood columns, in observation order.
    pub log_lik_columns: Vec<usize>,
    /// The program declares its own `log_lik` generated quantity.
    pub own_log_lik: bool,
}

impl OutputLayout {
    /// The layout of a model with output names `names` (see [`Model::output_names`]) and
    /// `n_log_lik` observations in its likelihood.
    pub fn new(mut names: Vec<String>, n_log_lik: usize) -> OutputLayout {
        let own_log_lik = names.iter().any(|n| is_log_lik(n));
        if !own_log_lik {
            names.extend((1..=n_log_lik).map(|i| format!("log_lik[{i}]")));
        }
        let (log_lik_columns, summary_columns) =
            (0..names.len()).partition(|&i| is_log_lik(&names[i]));
        OutputLayout {
            columns: names.iter().map(|n| cmdstan_column_name(n)).collect(),
            names,
            summary_columns,
            log_lik_columns,
            own_log_lik,
        }
    }

    /// The `columns` of every row.
    pub fn select(&self, rows: &[Vec<f64>], columns: &[usize]) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|row| columns.iter().map(|&i| row[i]).collect())
            .collect()
    }
}

/// Everything a fit produced: the sampler's output and, per chain, one row per kept draw with
/// every output column of [`OutputLayout`] (what a CSV holds after the sampler columns).
#[derive(Debug, Clone)]
pub struct Fit {
    /// The sampler's draws (unconstrained) and statistics.
    pub sample: SampleOutput,
    /// What each column of `rows` is.
    pub layout: OutputLayout,
    /// `rows[chain][draw][column]`.
    pub rows: Vec<Vec<Vec<f64>>>,
}

/// Samples `model` with `config` and maps every draw to its output row. `progress(chain,
/// iterations_done, total)` is called from the chains' threads. Generated quantities of chain `k`
/// use their own stream `(config.seed, 1000 + k)`, so results do not depend on thread scheduling.
pub fn fit_model<P>(model: &Model, config: &SamplerConfig, progress: P) -> Result<Fit, FitError>
where
    P: FnMut(usize, usize, usize) + Send,
{
    let sample = sample_with_progress(config, |_| SamplingDensity(model.clone()), progress)
        .map_err(|e| FitError(e.to_string()))?;
    let layout = OutputLayout::new(model.output_names(), model.n_log_lik());
    let rows = chain_rows(model, &sample.chains, config.seed, layout.own_log_lik)?;
    Ok(Fit {
        sample,
        layout,
        rows,
    })
}

/// Every chain's output rows, computed from the unconstrained draws in parallel; chain `k` draws
/// its generated quantities from the stream `(seed, 1000 + k)`.
fn chain_rows(
    model: &Model,
    chains: &[ChainDraws],
    seed: u64,
    own_log_lik: bool,
) -> Result<Vec<Vec<Vec<f64>>>, FitError> {
    use rayon::prelude::*;
    chains
        .par_iter()
        .map(|chain| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(1000 + chain.chain as u64);
            // With its own `log_lik` the program already wrote it; computing it again would
            // re-run the generated quantities.
            output_rows(model, &chain.draws, &mut rng, !own_log_lik).map_err(|(i, e)| {
                FitError(format!("chain {} draw {}: {e}", chain.chain + 1, i + 1))
            })
        })
        .collect()
}

/// The output row of each unconstrained draw in `draws`: [`Model::write_array`] (parameters,
/// transformed parameters, generated quantities, drawing from `rng` in draw order) followed, with
/// `with_log_lik`, by [`Model::log_lik`]. An error comes with the 0-based index of its draw.
pub fn output_rows<R: Rng + ?Sized>(
    model: &Model,
    draws: &[Vec<f64>],
    rng: &mut R,
    with_log_lik: bool,
) -> Result<Vec<Vec<f64>>, (usize, ModelError)> {
    draws
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let mut row = model.write_array(x, rng).map_err(|e| (i, e))?;
            if with_log_lik {
                row.extend(model.log_lik(x).map_err(|e| (i, e))?);
            }
            Ok(row)
        })
        .collect()
}

impl Fit {
    /// Draws per chain that the summary uses: a time budget can stop chains at different points
    /// (or before their first kept draw), and the diagnostics need chains of equal length, so they
    /// see the first `kept_draws` of every non-empty chain. 0 when no chain has a draw.
    pub fn kept_draws(&self) -> usize {
        self.sample
            .chains
            .iter()
            .map(|c| c.draws.len())
            .filter(|&n| n > 0)
            .min()
            .unwrap_or(0)
    }

    /// Diagnostics over every output but the log-likelihood, with PSIS-LOO on it.
    pub fn summarize(&self) -> Result<Summary, FitError> {
        let kept = self.kept_draws();
        if kept == 0 {
            return Err(FitError(
                "no draws to summarise: no chain has post-warmup draws (--draws 0, or the time \
                 budget ran out during warmup)"
                    .into(),
            ));
        }
        let chains: Vec<usize> = (0..self.sample.chains.len())
            .filter(|&k| !self.sample.chains[k].draws.is_empty())
            .collect();
        let layout = &self.layout;
        let pick = |columns: &[usize]| -> Vec<Vec<Vec<f64>>> {
            chains
                .iter()
                .map(|&k| layout.select(&self.rows[k][..kept], columns))
                .collect()
        };
        let stats: Vec<ChainStats> = chains
            .iter()
            .map(|&k| {
                let s = &self.sample.chains[k].stats[..kept];
                ChainStats {
                    energy: s.iter().map(|s| s.energy).collect(),
                    divergent: s.iter().map(|s| s.divergent).collect(),
                }
            })
            .collect();
        let names = layout
            .summary_columns
            .iter()
            .map(|&i| layout.names[i].clone())
            .collect();
        summarize_outputs(
            names,
            &pick(&layout.summary_columns),
            &stats,
            &pick(&layout.log_lik_columns),
        )
    }
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
