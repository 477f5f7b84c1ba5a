//! One fit of a compiled program: NUTS on Stan's sampling density, the draws mapped to
//! constrained output rows and the pointwise log-likelihood, and the diagnostics [`Summary`]
//! (seven checks, PSIS-LOO). The CLI's `sample` writes its CSV files from a [`Fit`]; the
//! refinement loop scores candidates with it; SBC ([`crate::sbc`]) maps its draws with the same
//! [`output_rows`].

use rand::{Rng, SeedableRng};
use refinestat_diagnostics::{
    loo_from_points, psis_loo_points, subsampled_loo, summarize, summarize_with_loo, ChainStats,
    DiagError, Draws, LogLik, Loo, Summary,
};
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

impl From<DiagError> for FitError {
    fn from(e: DiagError) -> Self {
        FitError(e.to_string())
    }
}

/// Observations up to which [`FitOptions::default`] keeps the pointwise log-likelihood in the
/// output rows (and so in `sample`'s CSV files); above it the log-likelihood is computed again
/// from the draws when PSIS-LOO needs it.
pub const LOG_LIK_ROWS_MAX: usize = 1000;

/// How a fit treats the pointwise log-likelihood.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitOptions {
    /// Keep the model's pointwise log-likelihood in the output rows (`log_lik[i]` columns):
    /// `Some(true)` always, `Some(false)` never, `None` when the likelihood has at most
    /// [`LOG_LIK_ROWS_MAX`] observations. A program's own `log_lik` generated quantity is always
    /// in the rows.
    pub log_lik_rows: Option<bool>,
    /// How PSIS-LOO is computed.
    pub loo: LooOptions,
}

/// How PSIS-LOO is computed from a fit.
#[derive(Debug, Clone, PartialEq)]
pub struct LooOptions {
    /// At most this many log-likelihood values (draws x observations) are held at once:
    /// observations are processed in chunks of `max(1, block_values / draws)`.
    pub block_values: usize,
    /// With more observations than this, PSIS-LOO is subsampled (the difference estimator with
    /// the `plpd` approximation); `None`: never.
    pub subsample_above: Option<usize>,
    /// Observations in the subsample (at least 2; fewer means no subsampling).
    pub subsample_size: usize,
    /// Seed of the subsample (the same seed and number of observations give the same
    /// subsample, so candidates fitted to the same data compare pointwise).
    pub seed: u64,
}

/// Default of [`LooOptions::subsample_above`].
pub const SUBSAMPLE_ABOVE: usize = 50_000;

/// Default of [`LooOptions::subsample_size`].
pub const SUBSAMPLE_SIZE: usize = 2000;

impl Default for LooOptions {
    fn default() -> Self {
        LooOptions {
            // 2^26 values: 512 MiB of f64.
            block_values: 1 << 26,
            subsample_above: Some(SUBSAMPLE_ABOVE),
            subsample_size: SUBSAMPLE_SIZE,
            seed: 1,
        }
    }
}

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
    /// Observations in the pointwise log-likelihood, whether or not its columns are in the rows.
    pub n_log_lik: usize,
}

impl OutputLayout {
    /// The layout of a model with output names `names` (see [`Model::output_names`]) and
    /// `n_log_lik` observations in its likelihood.
    pub fn new(names: Vec<String>, n_log_lik: usize) -> OutputLayout {
        OutputLayout::with_log_lik(names, n_log_lik, true)
    }

    /// As [`OutputLayout::new`], with the model's `log_lik[i]` columns only when
    /// `log_lik_columns` (a program's own `log_lik` is always there).
    pub fn with_log_lik(
        mut names: Vec<String>,
        n_log_lik: usize,
        log_lik_columns: bool,
    ) -> OutputLayout {
        let own_log_lik = names.iter().any(|n| is_log_lik(n));
        if !own_log_lik && log_lik_columns {
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
            n_log_lik,
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
    /// The model fitted: the pointwise log-likelihood is computed again from it when it is not
    /// in `rows`.
    pub model: Model,
    /// How PSIS-LOO is computed.
    pub loo_options: LooOptions,
}

/// Samples `model` with `config` and maps every draw to its output row. `progress(chain,
/// iterations_done, total)` is called from the chains' threads. Generated quantities of chain `k`
/// use their own stream `(config.seed, 1000 + k)`, so results do not depend on thread scheduling.
///
/// With [`FitOptions::default`]: the log-likelihood is in the rows up to [`LOG_LIK_ROWS_MAX`]
/// observations, and PSIS-LOO is subsampled above [`SUBSAMPLE_ABOVE`] (see [`fit_model_with`]).
pub fn fit_model<P>(model: &Model, config: &SamplerConfig, progress: P) -> Result<Fit, FitError>
where
    P: FnMut(usize, usize, usize) + Send,
{
    let mut options = FitOptions::default();
    options.loo.seed = config.seed;
    fit_model_with(model, config, &options, progress)
}

/// [`fit_model`] with explicit [`FitOptions`].
pub fn fit_model_with<P>(
    model: &Model,
    config: &SamplerConfig,
    options: &FitOptions,
    progress: P,
) -> Result<Fit, FitError>
where
    P: FnMut(usize, usize, usize) + Send,
{
    let sample = sample_with_progress(config, |_| SamplingDensity(model.clone()), progress)
        .map_err(|e| FitError(e.to_string()))?;
    let n_log_lik = model.n_log_lik();
    let keep = options
        .log_lik_rows
        .unwrap_or(n_log_lik <= LOG_LIK_ROWS_MAX);
    let layout = OutputLayout::with_log_lik(model.output_names(), n_log_lik, keep);
    let with_log_lik = !layout.own_log_lik && !layout.log_lik_columns.is_empty();
    let rows = chain_rows(model, &sample.chains, config.seed, with_log_lik)?;
    Ok(Fit {
        sample,
        layout,
        rows,
        model: model.clone(),
        loo_options: options.loo.clone(),
    })
}

/// Every chain's output rows, computed from the unconstrained draws in parallel; chain `k` draws
/// its generated quantities from the stream `(seed, 1000 + k)`.
fn chain_rows(
    model: &Model,
    chains: &[ChainDraws],
    seed: u64,
    with_log_lik: bool,
) -> Result<Vec<Vec<Vec<f64>>>, FitError> {
    use rayon::prelude::*;
    chains
        .par_iter()
        .map(|chain| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(1000 + chain.chain as u64);
            // With its own `log_lik` the program already wrote it; computing it again would
            // re-run the generated quantities.
            output_rows(model, &chain.draws, &mut rng, with_log_lik).map_err(|(i, e)| {
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

    /// The chains the summary uses (those with a draw), in order.
    fn summary_chains(&self) -> Vec<usize> {
        (0..self.sample.chains.len())
            .filter(|&k| !self.sample.chains[k].draws.is_empty())
            .collect()
    }

    /// Diagnostics over every output but the log-likelihood, with PSIS-LOO on it (see
    /// [`Fit::loo`]).
    pub fn summarize(&self) -> Result<Summary, FitError> {
        let kept = self.kept_draws();
        if kept == 0 {
            return Err(FitError(
                "no draws to summarise: no chain has post-warmup draws (--draws 0, or the time \
                 budget ran out during warmup)"
                    .into(),
            ));
        }
        let chains = self.summary_chains();
        let layout = &self.layout;
        let draws: Vec<Vec<Vec<f64>>> = chains
            .iter()
            .map(|&k| layout.select(&self.rows[k][..kept], &layout.summary_columns))
            .collect();
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
        let draws = Draws::from_chains(names, &draws)?;
        summarize_with_loo(&draws, &stats, |r_eff| self.loo(r_eff))
    }

    /// Number of observations of the pointwise log-likelihood.
    pub fn n_log_lik(&self) -> usize {
        if self.layout.log_lik_columns.is_empty() {
            self.layout.n_log_lik
        } else {
            self.layout.log_lik_columns.len()
        }
    }

    /// The pointwise log-likelihood of every observation at draw `draw` of chain `chain`: read
    /// from the rows when they hold it, else computed by the model.
    pub fn log_lik_at(&self, chain: usize, draw: usize) -> Result<Vec<f64>, FitError> {
        if self.layout.log_lik_columns.is_empty() {
            self.model
                .log_lik(&self.sample.chains[chain].draws[draw])
                .map_err(|e| FitError(format!("chain {} draw {}: {e}", chain + 1, draw + 1)))
        } else {
            let row = &self.rows[chain][draw];
            Ok(self
                .layout
                .log_lik_columns
                .iter()
                .map(|&i| row[i])
                .collect())
        }
    }

    /// Writes the pointwise log-likelihood of the first [`Fit::kept_draws`] draws of every chain
    /// with draws as a NumPy `.npy` file (format 1.0, little-endian `f8`, C order) of shape
    /// `(chains, draws, observations)`, ArviZ's `log_likelihood` layout: `numpy.load` reads it,
    /// and `az.from_dict(log_likelihood={"y": numpy.load(path)})` takes it as it is. Draws are
    /// evaluated in parallel batches; memory is a few draws' worth of values.
    pub fn write_log_lik_npy<W: std::io::Write>(&self, out: &mut W) -> Result<(), FitError> {
        use rayon::prelude::*;
        let io = |e: std::io::Error| FitError(e.to_string());
        let kept = self.kept_draws();
        let chains = self.summary_chains();
        let n_obs = self.n_log_lik();
        out.write_all(&npy_header(&[chains.len(), kept, n_obs]))
            .map_err(io)?;
        let batch = ((1usize << 23) / n_obs.max(1)).clamp(1, 256);
        let mut bytes = Vec::new();
        for &k in &chains {
            for start in (0..kept).step_by(batch) {
                let end = (start + batch).min(kept);
                let rows = (start..end)
                    .into_par_iter()
                    .map(|d| self.log_lik_at(k, d))
                    .collect::<Result<Vec<_>, _>>()?;
                bytes.clear();
                for row in &rows {
                    if row.len() != n_obs {
                        return Err(FitError(format!(
                            "chain {} draw {}: {} log-likelihood values for {n_obs} observations",
                            k + 1,
                            start + 1,
                            row.len()
                        )));
                    }
                    for v in row {
                        bytes.extend_from_slice(&v.to_le_bytes());
                    }
                }
                out.write_all(&bytes).map_err(io)?;
            }
        }
        Ok(())
    }

    /// PSIS-LOO of the first [`Fit::kept_draws`] draws of every chain with draws, with relative
    /// efficiency `r_eff`; `None` without a likelihood. Computed in chunks of observations
    /// ([`LooOptions::block_values`]) from the rows or, where they do not hold the
    /// log-likelihood, from the model at each draw; subsampled above
    /// [`LooOptions::subsample_above`] observations. The result does not depend on whether the
    /// rows hold the log-likelihood.
    pub fn loo(&self, r_eff: f64) -> Result<Option<Loo>, FitError> {
        let kept = self.kept_draws();
        if self.n_log_lik() == 0 || kept == 0 {
            return Ok(None);
        }
        let chains = self.summary_chains();
        let draws: Vec<&[Vec<f64>]> = chains
            .iter()
            .map(|&k| &self.sample.chains[k].draws[..kept])
            .collect();
        if self.layout.log_lik_columns.is_empty() {
            return loo_from_model(&self.model, &draws, r_eff, &self.loo_options);
        }
        let columns = &self.layout.log_lik_columns;
        let fill = |s: usize, block: &[usize], out: &mut [f64]| -> Result<(), FitError> {
            let row = &self.rows[chains[s / kept]][s % kept];
            for (slot, &o) in out.iter_mut().zip(block) {
                *slot = row[columns[o]];
            }
            Ok(())
        };
        let loo = loo_by(
            columns.len(),
            chains.len() * kept,
            r_eff,
            &self.loo_options,
            fill,
            || plpd(&self.model, &draws),
        )?;
        Ok(Some(loo))
    }
}

/// PSIS-LOO of `model`'s pointwise log-likelihood evaluated at the unconstrained draws
/// `chains[chain][draw]` (chains of equal length), with relative efficiency `r_eff`, in chunks
/// of observations and subsampled as `opts` says; `None` when the model has no likelihood.
/// Memory is `O(draws x chunk)` plus one log-likelihood vector per thread.
pub fn loo_from_model(
    model: &Model,
    chains: &[&[Vec<f64>]],
    r_eff: f64,
    opts: &LooOptions,
) -> Result<Option<Loo>, FitError> {
    let n_obs = model.n_log_lik();
    let kept = chains.first().map_or(0, |c| c.len());
    if n_obs == 0 || kept == 0 {
        return Ok(None);
    }
    if let Some(k) = chains.iter().position(|c| c.len() != kept) {
        return Err(FitError(format!(
            "chain {} has {} draws, chain 1 has {kept}",
            k + 1,
            chains[k].len()
        )));
    }
    let fill = |s: usize, block: &[usize], out: &mut [f64]| -> Result<(), FitError> {
        let (chain, draw) = (s / kept, s % kept);
        let all = model
            .log_lik(&chains[chain][draw])
            .map_err(|e| FitError(format!("chain {} draw {}: {e}", chain + 1, draw + 1)))?;
        for (slot, &o) in out.iter_mut().zip(block) {
            *slot = all[o];
        }
        Ok(())
    };
    let loo = loo_by(n_obs, chains.len() * kept, r_eff, opts, fill, || {
        plpd(model, chains)
    })?;
    Ok(Some(loo))
}

/// PSIS-LOO of `n_obs` observations over `n_samples` draws whose log-likelihood `fill` writes
/// (see [`psis_loo_points`]), full or subsampled against the approximation `approx()`.
fn loo_by<F, A>(
    n_obs: usize,
    n_samples: usize,
    r_eff: f64,
    opts: &LooOptions,
    fill: F,
    approx: A,
) -> Result<Loo, FitError>
where
    F: Fn(usize, &[usize], &mut [f64]) -> Result<(), FitError> + Sync,
    A: FnOnce() -> Result<Vec<f64>, FitError>,
{
    let chunk = (opts.block_values / n_samples.max(1)).max(1);
    // The subsampling variance needs two observations; a subsample of all of them is no subsample.
    let subsample = opts.subsample_above.is_some_and(|above| {
        n_obs > above && opts.subsample_size >= 2 && opts.subsample_size < n_obs
    });
    let mut loo = if subsample {
        let approx = approx()?;
        let observations = subsample_indices(n_obs, opts.subsample_size, opts.seed);
        let points = psis_loo_points(&observations, n_samples, r_eff, chunk, fill)?;
        subsampled_loo(&approx, "plpd", observations, points, n_samples, r_eff)
    } else {
        let all: Vec<usize> = (0..n_obs).collect();
        let points = psis_loo_points(&all, n_samples, r_eff, chunk, fill)?;
        loo_from_points(points, n_samples, r_eff)
    };
    loo.subsample_above = opts.subsample_above;
    Ok(loo)
}

/// The `plpd` approximation of every observation's elpd (the loo package's
/// `loo_approximation = "plpd"`): the log-likelihood at the posterior mean, here the mean of
/// the unconstrained draws.
fn plpd(model: &Model, chains: &[&[Vec<f64>]]) -> Result<Vec<f64>, FitError> {
    let mut mean = vec![0.0; model.dim()];
    let mut n = 0usize;
    for x in chains.iter().flat_map(|c| c.iter()) {
        for (m, v) in mean.iter_mut().zip(x) {
            *m += v;
        }
        n += 1;
    }
    for m in &mut mean {
        *m /= n as f64;
    }
    model
        .log_lik(&mean)
        .map_err(|e| FitError(format!("the log-likelihood at the posterior mean: {e}")))
}

/// The header of a NumPy format 1.0 file of little-endian doubles in C order with `shape`,
/// padded so the data start at a multiple of 64 bytes.
pub fn npy_header(shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict = format!("{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}");
    // magic (6) + version (2) + length (2) + dict + padding + newline = multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// A simple random sample without replacement of `m` of `0..n`, ascending, drawn from the
/// stream `(seed, 2000)`.
pub fn subsample_indices(n: usize, m: usize, seed: u64) -> Vec<usize> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(2000);
    let mut idx = rand::seq::index::sample(&mut rng, n, m.min(n)).into_vec();
    idx.sort_unstable();
    idx
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
