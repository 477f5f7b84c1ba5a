//! The diagnostics stage of refinestat: the Bayesian-workflow verdict on a set of draws.
//!
//! Owns: rank-normalized split R-hat, bulk/tail ESS, MCSE, E-BFMI, divergence counts, PSIS-LOO,
//! the seven RefineStat reliability checks, summary.json, and reading CmdStan-layout CSV.
//! Does not own: sampling or models; it sees only numbers. Invariant: depends on no other
//! refinestat crate.
//!
//! Every statistic transcribes ArviZ 0.23's code (`az.rhat(method="rank")`, `az.ess(method=
//! "bulk" | "tail")`, `az.mcse(method="mean")`, `az.bfmi`, `az.loo`) and is tested against
//! ArviZ 0.23.4's own output (tests/data, made by scripts/make_arviz_fixtures.py) to 1e-6
//! relative; in practice they agree to about 1e-11.
//!
//! Key items: [`summarize`] turns [`Draws`], per-chain [`ChainStats`] and an optional [`LogLik`]
//! into a [`Summary`], which serializes to summary.json ([`Summary::to_json`]) and prints as a
//! table ([`render_table`]). [`read_cmdstan_csv`], [`summarize_csv`] and
//! [`summarize_csv_files`] do the same from CmdStan CSV files. The single statistics are
//! [`rhat`], [`ess_bulk`], [`ess_tail`], [`mcse_mean`], [`bfmi`] and [`psis_loo`]. At scale,
//! [`psis_loo_points`] computes PSIS-LOO chunk by chunk from a callback (memory draws x chunk)
//! and [`subsampled_loo`] estimates it from a subsample (Magnusson et al. 2020).
//!
//! Conventions of summary.json:
//! * a value that does not exist (R-hat of one chain, of constant draws; anything of NaN
//!   draws; an infinite Pareto k) is `null`;
//! * `log_lik` columns are not in `parameters`: they feed PSIS-LOO only;
//! * `loo.r_eff` is ArviZ's default: 1 for one chain, else the mean over all quantities of the
//!   mean-ESS divided by the number of draws (not the R loo package's per-observation r_eff);
//! * `reliability` holds RefineStat's `checks` and `score`, plus `strict`: the same seven checks
//!   under current thresholds ([`Thresholds::STRICT`]);
//! * `loo.pareto_k` lists every observation's k only up to [`PARETO_K_CAP`] observations (else
//!   `null`); `loo.pareto_k_histogram` (bins of 0.1 on [0, 1], below and above) and
//!   `loo.pareto_k_worst` (the [`PARETO_K_WORST`] largest, 1-based observation numbers) are
//!   always there;
//! * `loo.n_obs` is the number of observations; `loo.subsample_above` the threshold above which
//!   the caller subsamples (`null`: never); `loo.subsample` (`null` unless subsampled) the
//!   subsample size and standard errors of [`subsampled_loo`], whose `elpd_loo`, `se` and
//!   `p_loo` then replace the full ones.
//!
//! R-hat follows `az.rhat`, which folds around the median of the split chains; `az.summary`
//! folds around the median of all draws. The two differ only for odd-length chains.
//!
//! ```
//! use refinestat_diagnostics::{render_table, rhat, summarize, ChainStats, Draws, LogLik};
//!
//! // 4 chains x 100 draws of one quantity, and one observation's log-likelihood.
//! let value = |c: usize, d: usize| ((d * 37 + c * 11) % 101) as f64 / 100.0;
//! let chains: Vec<Vec<Vec<f64>>> =
//!     (0..4).map(|c| (0..100).map(|d| vec![value(c, d)]).collect()).collect();
//! let ll: Vec<Vec<Vec<f64>>> =
//!     (0..4).map(|c| (0..100).map(|d| vec![-0.5 * value(c, d).powi(2)]).collect()).collect();
//! let draws = Draws::from_chains(vec!["mu".to_string()], &chains)?;
//! let log_lik = LogLik::from_chains(&ll).expect("rectangular");
//! let stats = vec![ChainStats { energy: (0..100).map(|d| value(3, d)).collect(),
//!                               divergent: vec![false; 100] }; 4];
//!
//! let summary = summarize(&draws, &stats, Some(&log_lik))?;
//! assert!(summary.parameters[0].1.rhat.is_some_and(|r| r < 1.05));
//! assert_eq!(summary.divergences, 0);
//! assert!(summary.to_json().contains("\"reliability\""));
//! assert!(render_table(&summary).contains("mu"));
//!
//! // One chain: R-hat does not exist.
//! let single: Vec<Vec<f64>> = vec![(0..100).map(|d| value(0, d)).collect()];
//! assert_eq!(rhat(&single), None);
//! # Ok::<(), refinestat_diagnostics::DiagError>(())
//! ```

#![warn(missing_docs)]

mod compare;
mod csv;
mod mcmc;
mod normal;
mod psis;
mod summary;

pub use compare::{loo_compare, Comparison};
pub use csv::{
    read_cmdstan_csv, summarize_csv, summarize_csv_files, summarize_csv_with_loo, Adaptation,
    ChainCsv, CsvError,
};
pub use mcmc::{bfmi, ess_bulk, ess_tail, mcse_mean, rhat};
pub use psis::{
    loo_from_points, psis_loo, psis_loo_points, psis_weights, srs_diff_est, srs_est,
    subsampled_loo, LogLik, Loo, LooPoints, Subsample,
};
pub use summary::{
    render_table, summarize, summarize_with_loo, ChainStats, Check, Checks, Draws, ParamSummary,
    Reliability, Summary, Thresholds, Verdict, PARETO_K_CAP, PARETO_K_WORST,
};

/// Inputs whose shapes do not fit together.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DiagError {
    /// Chains, draws, names or statistics disagree in size; the message says which.
    #[error("inconsistent shapes: {0}")]
    Shape(String),
}
