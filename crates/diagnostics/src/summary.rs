//! The posterior summary (`summary.json`), the seven RefineStat reliability checks, and the
//! human-readable summary table.

use std::fmt::Write as _;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::mcmc::{bfmi, param_stats, ChainMatrix, ParamStats, Workspace};
use crate::psis::{psis_loo, LogLik, Loo};
use crate::DiagError;

/// Posterior draws of named scalar quantities (parameters, transformed parameters, generated
/// quantities), all chains of equal length.
#[derive(Debug, Clone, PartialEq)]
pub struct Draws {
    names: Vec<String>,
    n_chains: usize,
    n_draws: usize,
    /// `values[(param * n_chains + chain) * n_draws + draw]`.
    values: Vec<f64>,
}

impl Draws {
    /// Builds from `chains[chain][draw][param]` (the layout of CSV rows) and one Stan-style name
    /// per parameter.
    pub fn from_chains(names: Vec<String>, chains: &[Vec<Vec<f64>>]) -> Result<Draws, DiagError> {
        let n_chains = chains.len();
        let n_draws = chains.first().map_or(0, Vec::len);
        if n_chains == 0 || n_draws == 0 {
            return Err(DiagError::Shape("no draws".into()));
        }
        let n_params = names.len();
        for (c, chain) in chains.iter().enumerate() {
            if chain.len() != n_draws {
                return Err(DiagError::Shape(format!(
                    "chain {} has {} draws, chain 1 has {n_draws}",
                    c + 1,
                    chain.len()
                )));
            }
            if let Some(d) = chain.iter().position(|row| row.len() != n_params) {
                return Err(DiagError::Shape(format!(
                    "chain {} draw {} has {} values for {n_params} names",
                    c + 1,
                    d + 1,
                    chain[d].len()
                )));
            }
        }
        let mut values = vec![0.0; n_params * n_chains * n_draws];
        for (c, chain) in chains.iter().enumerate() {
            for (d, row) in chain.iter().enumerate() {
                for (p, &x) in row.iter().enumerate() {
                    values[(p * n_chains + c) * n_draws + d] = x;
                }
            }
        }
        Ok(Draws {
            names,
            n_chains,
            n_draws,
            values,
        })
    }

    /// Parameter names, in order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.n_chains
    }

    /// Draws per chain.
    pub fn n_draws(&self) -> usize {
        self.n_draws
    }

    fn param(&self, p: usize) -> ChainMatrix {
        let len = self.n_chains * self.n_draws;
        ChainMatrix {
            n_chains: self.n_chains,
            n_draws: self.n_draws,
            values: self.values[p * len..(p + 1) * len].to_vec(),
        }
    }
}

/// Sampler statistics of one chain (post-warmup), as CmdStan's `energy__` and `divergent__`.
/// An empty `energy` means the sampler did not report it (BFMI is then unavailable).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChainStats {
    /// Hamiltonian energy at each draw.
    pub energy: Vec<f64>,
    /// Whether each transition diverged.
    pub divergent: Vec<bool>,
}

/// One row of the summary; `None` (JSON `null`) where ArviZ gives NaN.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParamSummary {
    /// Posterior mean.
    pub mean: Option<f64>,
    /// Posterior standard deviation (ddof 1, as `az.summary`).
    pub sd: Option<f64>,
    /// 5% quantile (type 7).
    pub q5: Option<f64>,
    /// Median (type 7).
    pub q50: Option<f64>,
    /// 95% quantile (type 7).
    pub q95: Option<f64>,
    /// Monte Carlo standard error of the mean.
    pub mcse_mean: Option<f64>,
    /// Rank-normalized split R-hat; `None` for one chain or constant draws.
    pub rhat: Option<f64>,
    /// Bulk effective sample size.
    pub ess_bulk: Option<f64>,
    /// Tail effective sample size.
    pub ess_tail: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn not_nan(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

impl From<&ParamStats> for ParamSummary {
    fn from(s: &ParamStats) -> Self {
        ParamSummary {
            mean: not_nan(s.mean),
            sd: not_nan(s.sd),
            q5: not_nan(s.q5),
            q50: not_nan(s.q50),
            q95: not_nan(s.q95),
            mcse_mean: not_nan(s.mcse_mean),
            rhat: not_nan(s.rhat),
            ess_bulk: not_nan(s.ess_bulk),
            ess_tail: not_nan(s.ess_tail),
        }
    }
}

/// One reliability check: the measured value (`None` when it cannot be computed) and whether it
/// passes. A check that cannot be computed fails.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Check {
    /// The measured quantity (see [`Checks`] for each one's meaning).
    pub value: Option<f64>,
    /// Whether the threshold is met.
    pub pass: bool,
}

/// The seven checks of RefineStat's diagnostic-aware refinement.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Checks {
    /// Max R-hat over quantities. Constant quantities (fixed generated quantities) are skipped
    /// when some other quantity varies; a quantity without R-hat otherwise (one chain, NaN draws)
    /// makes the value `None` and the check fail.
    pub rhat: Check,
    /// Min bulk ESS over quantities.
    pub ess_bulk: Check,
    /// Min tail ESS over quantities.
    pub ess_tail: Check,
    /// Number of divergent transitions.
    pub divergences: Check,
    /// Min E-BFMI over chains; every chain must pass.
    pub bfmi: Check,
    /// Fraction of observations whose Pareto k exceeds the cut.
    pub pareto_k: Check,
    /// ELPD-LOO itself; passes when finite.
    pub elpd_finite: Check,
}

impl Checks {
    fn all(&self) -> [Check; 7] {
        [
            self.rhat,
            self.ess_bulk,
            self.ess_tail,
            self.divergences,
            self.bfmi,
            self.pareto_k,
            self.elpd_finite,
        ]
    }

    /// Number of checks passed, 0 to 7.
    pub fn score(&self) -> u8 {
        self.all().iter().filter(|c| c.pass).count() as u8
    }
}

/// Check thresholds. [`Thresholds::REFINESTAT`] decides the score; [`Thresholds::STRICT`] (the
/// current recommendations of Vehtari et al. 2021 and the loo package) is reported beside it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// R-hat must be below this.
    pub rhat_below: f64,
    /// Bulk ESS must be at least this.
    pub ess_bulk_at_least: f64,
    /// Tail ESS must be at least this.
    pub ess_tail_at_least: f64,
    /// E-BFMI of every chain must be above this.
    pub bfmi_above: f64,
    /// Pareto k above this counts as bad; `None` uses ArviZ's sample-size-dependent
    /// `k_threshold = min(1 - 1/log10 S, 0.7)`.
    pub pareto_k_cut: Option<f64>,
    /// At most this fraction of observations may have a bad k.
    pub pareto_k_bad_fraction_at_most: f64,
}

impl Thresholds {
    /// RefineStat's checks: R-hat < 1.05, ESS bulk >= 400, ESS tail >= 100, BFMI > 0.3, at most
    /// 20% of observations with k > 0.7 (and 0 divergences, finite ELPD).
    pub const REFINESTAT: Thresholds = Thresholds {
        rhat_below: 1.05,
        ess_bulk_at_least: 400.0,
        ess_tail_at_least: 100.0,
        bfmi_above: 0.3,
        pareto_k_cut: Some(0.7),
        pareto_k_bad_fraction_at_most: 0.2,
    };
    /// Modern, stricter thresholds: R-hat < 1.01, ESS bulk and tail >= 400, BFMI > 0.3, no
    /// observation with k above ArviZ's `k_threshold` (and 0 divergences, finite ELPD).
    pub const STRICT: Thresholds = Thresholds {
        rhat_below: 1.01,
        ess_bulk_at_least: 400.0,
        ess_tail_at_least: 400.0,
        bfmi_above: 0.3,
        pareto_k_cut: None,
        pareto_k_bad_fraction_at_most: 0.0,
    };
}

/// The checks and score under one set of thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Verdict {
    /// Each check's value and pass flag.
    pub checks: Checks,
    /// Checks passed, 0 to 7.
    pub score: u8,
}

/// RefineStat's verdict, with the stricter modern verdict beside it under `"strict"`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Reliability {
    /// Under [`Thresholds::REFINESTAT`]; serialized flat as `checks` and `score`.
    #[serde(flatten)]
    pub refinestat: Verdict,
    /// Under [`Thresholds::STRICT`].
    pub strict: Verdict,
}

/// Everything `summary.json` holds. Serializes to the documented shape; parameters keep their
/// order, and non-finite numbers become `null`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// Per-quantity rows in input order, Stan-style names.
    #[serde(serialize_with = "serialize_ordered")]
    pub parameters: Vec<(String, ParamSummary)>,
    /// Total divergent transitions over all chains.
    pub divergences: usize,
    /// E-BFMI per chain (`None` where it cannot be computed).
    pub bfmi: Vec<Option<f64>>,
    /// PSIS-LOO; `None` without a pointwise log-likelihood.
    #[serde(serialize_with = "serialize_loo")]
    pub loo: Option<Loo>,
    /// The seven checks and the score.
    pub reliability: Reliability,
}

fn serialize_ordered<S: Serializer>(
    rows: &[(String, ParamSummary)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(rows.len()))?;
    for (name, row) in rows {
        map.serialize_entry(name, row)?;
    }
    map.end()
}

/// Per-observation Pareto k values are listed in summary.json only up to this many observations;
/// beyond it `loo.pareto_k` is `null` and `pareto_k_histogram` and `pareto_k_worst` describe them.
pub const PARETO_K_CAP: usize = 1000;

/// How many of the worst observations `loo.pareto_k_worst` lists.
pub const PARETO_K_WORST: usize = 20;

/// The `loo` object of summary.json.
///
/// `r_eff` states the relative efficiency used for the Pareto tail length. It is ArviZ 0.23's
/// default in `az.loo(reff=None)`: 1 for a single chain, otherwise the mean over every posterior
/// quantity of `ess(method="mean")`, divided by the total number of draws. (ArviZ does not use the
/// per-observation relative ESS of the likelihood, as the R loo package does; we follow ArviZ so
/// that elpd_loo and Pareto k match it.)
#[derive(Serialize)]
struct LooJson {
    elpd_loo: Option<f64>,
    se: Option<f64>,
    p_loo: Option<f64>,
    n_obs: usize,
    /// Every Pareto k (of the subsample when subsampled), or `None` above [`PARETO_K_CAP`].
    pareto_k: Option<Vec<Option<f64>>>,
    pareto_k_cap: usize,
    pareto_k_histogram: KHistogram,
    pareto_k_worst: Vec<WorstK>,
    k_threshold: Option<f64>,
    r_eff: Option<f64>,
    subsample_above: Option<usize>,
    subsample: Option<SubsampleJson>,
}

/// Counts of Pareto k: `counts[0]` below `edges[0]`, `counts[i]` in `[edges[i-1], edges[i])`,
/// the last one at or above the last edge (infinite k included); NaN k apart.
#[derive(Serialize)]
struct KHistogram {
    edges: Vec<f64>,
    counts: Vec<usize>,
    nan: usize,
}

#[derive(Serialize)]
struct WorstK {
    /// 1-based observation number.
    observation: usize,
    k: Option<f64>,
}

#[derive(Serialize)]
struct SubsampleJson {
    estimator: &'static str,
    approximation: String,
    observations: usize,
    elpd_loo_subsampling_se: Option<f64>,
    p_loo_se: Option<f64>,
    p_loo_subsampling_se: Option<f64>,
}

fn k_histogram(ks: &[f64]) -> KHistogram {
    let edges: Vec<f64> = (0..=10).map(|i| f64::from(i) / 10.0).collect();
    let mut counts = vec![0; edges.len() + 1];
    let mut nan = 0;
    for &k in ks {
        if k.is_nan() {
            nan += 1;
        } else {
            counts[edges.partition_point(|&e| e <= k)] += 1;
        }
    }
    KHistogram { edges, counts, nan }
}

/// The [`PARETO_K_WORST`] largest k (NaN first), with 1-based observation numbers.
fn worst_k(loo: &Loo) -> Vec<WorstK> {
    let observation = |i: usize| match &loo.subsample {
        Some(s) => s.observations[i] + 1,
        None => i + 1,
    };
    let mut order: Vec<usize> = (0..loo.pareto_k.len()).collect();
    let key = |i: usize| {
        let k = loo.pareto_k[i];
        if k.is_nan() {
            f64::INFINITY
        } else {
            k
        }
    };
    order.sort_by(|&a, &b| key(b).total_cmp(&key(a)).then(a.cmp(&b)));
    order
        .into_iter()
        .take(PARETO_K_WORST)
        .map(|i| WorstK {
            observation: observation(i),
            k: finite(loo.pareto_k[i]),
        })
        .collect()
}

fn serialize_loo<S: Serializer>(loo: &Option<Loo>, serializer: S) -> Result<S::Ok, S::Error> {
    match loo {
        None => serializer.serialize_none(),
        Some(loo) => LooJson {
            elpd_loo: finite(loo.elpd_loo),
            se: finite(loo.se),
            p_loo: finite(loo.p_loo),
            n_obs: loo.n_obs,
            pareto_k: (loo.pareto_k.len() <= PARETO_K_CAP)
                .then(|| loo.pareto_k.iter().map(|&k| finite(k)).collect()),
            pareto_k_cap: PARETO_K_CAP,
            pareto_k_histogram: k_histogram(&loo.pareto_k),
            pareto_k_worst: worst_k(loo),
            k_threshold: finite(loo.k_threshold),
            r_eff: finite(loo.r_eff),
            subsample_above: loo.subsample_above,
            subsample: loo.subsample.as_ref().map(|s| SubsampleJson {
                estimator: "diff_srs",
                approximation: s.approximation.clone(),
                observations: s.observations.len(),
                elpd_loo_subsampling_se: finite(s.elpd_loo_subsampling_se),
                p_loo_se: finite(s.p_loo_se),
                p_loo_subsampling_se: finite(s.p_loo_subsampling_se),
            }),
        }
        .serialize(serializer),
    }
}

impl Summary {
    /// The row of the quantity with this Stan-style name (`theta[1]`).
    pub fn parameter(&self, name: &str) -> Option<&ParamSummary> {
        self.parameters
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, row)| row)
    }

    /// summary.json text (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

/// Summarizes draws, sampler statistics (one entry per chain, or none) and an optional pointwise
/// log-likelihood (same chains and draws as `draws`) into a [`Summary`].
///
/// PSIS-LOO uses ArviZ's default relative efficiency (see the `loo.r_eff` field of summary.json):
/// 1 for one chain, else the mean of `ess(method="mean")` over all quantities in `draws` divided by
/// the total number of draws.
pub fn summarize(
    draws: &Draws,
    stats: &[ChainStats],
    log_lik: Option<&LogLik>,
) -> Result<Summary, DiagError> {
    if let Some(ll) = log_lik {
        if ll.n_chains() != draws.n_chains || ll.n_draws() != draws.n_draws {
            return Err(DiagError::Shape(format!(
                "log_lik has {}x{} chains x draws, draws have {}x{}",
                ll.n_chains(),
                ll.n_draws(),
                draws.n_chains,
                draws.n_draws
            )));
        }
    }
    summarize_with_loo(draws, stats, |r_eff| {
        Ok::<_, DiagError>(log_lik.map(|ll| psis_loo(ll, r_eff)))
    })
}

/// [`summarize`] with PSIS-LOO computed by the caller: `loo(r_eff)` receives ArviZ's default
/// relative efficiency of `draws` (see [`summarize`]) and returns the estimate, if any (for
/// example from [`crate::psis_loo_points`] over a log-likelihood that is never held whole, or
/// [`crate::subsampled_loo`]).
pub fn summarize_with_loo<E, F>(draws: &Draws, stats: &[ChainStats], loo: F) -> Result<Summary, E>
where
    E: From<DiagError>,
    F: FnOnce(f64) -> Result<Option<Loo>, E>,
{
    if !stats.is_empty() && stats.len() != draws.n_chains {
        return Err(DiagError::Shape(format!(
            "{} chains of sampler statistics for {} chains of draws",
            stats.len(),
            draws.n_chains
        ))
        .into());
    }
    for (c, s) in stats.iter().enumerate() {
        for (what, len) in [("energy", s.energy.len()), ("divergent", s.divergent.len())] {
            if len != 0 && len != draws.n_draws {
                return Err(DiagError::Shape(format!(
                    "chain {}: {len} {what} values for {} draws",
                    c + 1,
                    draws.n_draws
                ))
                .into());
            }
        }
    }

    let mut workspace = Workspace::default();
    let mut all_stats = Vec::with_capacity(draws.names.len());
    let mut constant = Vec::with_capacity(draws.names.len());
    for p in 0..draws.names.len() {
        let m = draws.param(p);
        let first = m.values[0];
        constant.push(first.is_finite() && m.values.iter().all(|&x| x == first));
        all_stats.push(param_stats(&m, &mut workspace));
    }
    let parameters: Vec<(String, ParamSummary)> = draws
        .names
        .iter()
        .zip(&all_stats)
        .map(|(name, s)| (name.clone(), ParamSummary::from(s)))
        .collect();

    let divergences = stats
        .iter()
        .flat_map(|s| &s.divergent)
        .filter(|&&d| d)
        .count();
    let bfmi: Vec<Option<f64>> = stats
        .iter()
        .filter(|s| !s.energy.is_empty())
        .map(|s| bfmi(&s.energy))
        .collect();

    let n_samples = (draws.n_chains * draws.n_draws) as f64;
    let r_eff = if draws.n_chains == 1 {
        1.0
    } else {
        all_stats.iter().map(|s| s.ess_mean).sum::<f64>() / all_stats.len() as f64 / n_samples
    };
    let loo = loo(r_eff)?;

    let evidence = Evidence {
        params: &all_stats,
        constant: &constant,
        divergences,
        bfmi: &bfmi,
        n_chains: draws.n_chains,
        loo: loo.as_ref(),
    };
    let reliability = Reliability {
        refinestat: evidence.verdict(&Thresholds::REFINESTAT),
        strict: evidence.verdict(&Thresholds::STRICT),
    };
    Ok(Summary {
        parameters,
        divergences,
        bfmi,
        loo,
        reliability,
    })
}

/// What the checks look at.
struct Evidence<'a> {
    params: &'a [ParamStats],
    constant: &'a [bool],
    divergences: usize,
    bfmi: &'a [Option<f64>],
    n_chains: usize,
    loo: Option<&'a Loo>,
}

impl Evidence<'_> {
    fn verdict(&self, t: &Thresholds) -> Verdict {
        let checks = Checks {
            rhat: self.rhat_check(t),
            ess_bulk: min_check(self.params.iter().map(|s| s.ess_bulk), |v| {
                v >= t.ess_bulk_at_least
            }),
            ess_tail: min_check(self.params.iter().map(|s| s.ess_tail), |v| {
                v >= t.ess_tail_at_least
            }),
            divergences: Check {
                value: Some(self.divergences as f64),
                pass: self.divergences == 0,
            },
            bfmi: self.bfmi_check(t),
            pareto_k: self.pareto_check(t),
            elpd_finite: match self.loo {
                Some(loo) => Check {
                    value: finite(loo.elpd_loo),
                    pass: loo.elpd_loo.is_finite(),
                },
                None => Check {
                    value: None,
                    pass: false,
                },
            },
        };
        Verdict {
            checks,
            score: checks.score(),
        }
    }

    fn rhat_check(&self, t: &Thresholds) -> Check {
        let varying: Vec<f64> = self
            .params
            .iter()
            .zip(self.constant)
            .filter(|(_, &is_constant)| !is_constant)
            .map(|(s, _)| s.rhat)
            .collect();
        // Every quantity constant (a stuck sampler looks like this) or none at all: no evidence
        // of convergence.
        if self.n_chains < 2 || varying.is_empty() || varying.iter().any(|r| r.is_nan()) {
            return Check {
                value: None,
                pass: false,
            };
        }
        let max = varying.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Check {
            value: Some(max),
            pass: max < t.rhat_below,
        }
    }

    fn bfmi_check(&self, t: &Thresholds) -> Check {
        // Every chain must report energy and pass.
        if self.bfmi.len() != self.n_chains || self.bfmi.iter().any(Option::is_none) {
            return Check {
                value: None,
                pass: false,
            };
        }
        let min = self
            .bfmi
            .iter()
            .flatten()
            .copied()
            .fold(f64::INFINITY, f64::min);
        Check {
            value: Some(min),
            pass: min > t.bfmi_above,
        }
    }

    fn pareto_check(&self, t: &Thresholds) -> Check {
        let Some(loo) = self.loo else {
            return Check {
                value: None,
                pass: false,
            };
        };
        if loo.pareto_k.is_empty() {
            return Check {
                value: None,
                pass: false,
            };
        }
        let cut = t.pareto_k_cut.unwrap_or(loo.k_threshold);
        // NaN k (failed fit) counts as bad.
        let bad = loo
            .pareto_k
            .iter()
            .filter(|&&k| k.is_nan() || k > cut)
            .count();
        let fraction = bad as f64 / loo.pareto_k.len() as f64;
        Check {
            value: Some(fraction),
            pass: fraction <= t.pareto_k_bad_fraction_at_most,
        }
    }
}

/// Minimum over quantities; a NaN (or no quantity at all) makes it unavailable.
fn min_check(values: impl Iterator<Item = f64>, pass: impl Fn(f64) -> bool) -> Check {
    let values: Vec<f64> = values.collect();
    if values.is_empty() || values.iter().any(|v| v.is_nan()) {
        return Check {
            value: None,
            pass: false,
        };
    }
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    Check {
        value: Some(min),
        pass: pass(min),
    }
}

/// A number in at most `width` columns: fixed with `decimals` places when it fits, else
/// scientific; `NA` when absent or not finite.
fn cell(x: Option<f64>, decimals: usize) -> String {
    match x {
        Some(v) if v.is_finite() => {
            let fixed = format!("{v:.decimals$}");
            if fixed.len() <= 10 && (v == 0.0 || v.abs() >= 1e-3 || decimals == 0) {
                fixed
            } else {
                format!("{v:.3e}")
            }
        }
        _ => "NA".to_string(),
    }
}

/// A CmdStan-like plain-text table: one row per quantity (name, mean, sd, q5, q50, q95, mcse,
/// rhat, ess_bulk, ess_tail), then divergences, BFMI, LOO and the reliability verdicts.
pub fn render_table(summary: &Summary) -> String {
    let name_width = summary
        .parameters
        .iter()
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = String::new();
    let header = [
        "Mean", "SD", "5%", "50%", "95%", "MCSE", "R_hat", "ESS_bulk", "ESS_tail",
    ];
    let _ = write!(out, "{:<name_width$}", "");
    for h in header {
        let _ = write!(out, " {h:>10}");
    }
    out.push('\n');
    for (name, row) in &summary.parameters {
        let cells = [
            cell(row.mean, 3),
            cell(row.sd, 3),
            cell(row.q5, 3),
            cell(row.q50, 3),
            cell(row.q95, 3),
            cell(row.mcse_mean, 4),
            cell(row.rhat, 3),
            cell(row.ess_bulk, 0),
            cell(row.ess_tail, 0),
        ];
        let _ = write!(out, "{name:<name_width$}");
        for c in cells {
            let _ = write!(out, " {c:>10}");
        }
        out.push('\n');
    }
    out.push('\n');
    let _ = writeln!(out, "Divergences: {}", summary.divergences);
    let bfmi: Vec<String> = summary.bfmi.iter().map(|b| cell(*b, 3)).collect();
    let _ = writeln!(
        out,
        "E-BFMI per chain: {}",
        if bfmi.is_empty() {
            "NA".to_string()
        } else {
            bfmi.join(", ")
        }
    );
    match &summary.loo {
        Some(loo) => {
            let bad = loo
                .pareto_k
                .iter()
                .filter(|&&k| k.is_nan() || k > 0.7)
                .count();
            let _ = writeln!(
                out,
                "PSIS-LOO: elpd_loo {} (se {}), p_loo {}, r_eff {}; Pareto k > 0.7: {} of {} \
                 (k_threshold {})",
                cell(finite(loo.elpd_loo), 2),
                cell(finite(loo.se), 2),
                cell(finite(loo.p_loo), 2),
                cell(finite(loo.r_eff), 3),
                bad,
                loo.pareto_k.len(),
                cell(Some(loo.k_threshold), 2)
            );
            if let Some(sub) = &loo.subsample {
                let _ = writeln!(
                    out,
                    "  subsampled: {} of {} observations exact (difference estimator, {} \
                     approximation); subsampling SE of elpd_loo {}, of p_loo {}",
                    sub.observations.len(),
                    loo.n_obs,
                    sub.approximation,
                    cell(finite(sub.elpd_loo_subsampling_se), 2),
                    cell(finite(sub.p_loo_subsampling_se), 2)
                );
            }
        }
        None => {
            let _ = writeln!(out, "PSIS-LOO: NA (no log_lik)");
        }
    }
    let r = &summary.reliability;
    let line = |c: &Check, label: &str, decimals: usize| {
        format!(
            "  {label:<34} {:>10}  {}\n",
            cell(c.value, decimals),
            pass_word(c.pass)
        )
    };
    let _ = writeln!(
        out,
        "Reliability: {}/7 (strict: {}/7)",
        r.refinestat.score, r.strict.score
    );
    let c = &r.refinestat.checks;
    out.push_str(&line(&c.rhat, "R-hat < 1.05 (max)", 3));
    out.push_str(&line(&c.ess_bulk, "ESS bulk >= 400 (min)", 0));
    out.push_str(&line(&c.ess_tail, "ESS tail >= 100 (min)", 0));
    out.push_str(&line(&c.divergences, "divergences = 0", 0));
    out.push_str(&line(&c.bfmi, "E-BFMI > 0.3 (min over chains)", 3));
    out.push_str(&line(&c.pareto_k, "share of k > 0.7 <= 20%", 3));
    out.push_str(&line(&c.elpd_finite, "ELPD-LOO finite", 2));
    out
}

fn pass_word(pass: bool) -> &'static str {
    if pass {
        "pass"
    } else {
        "FAIL"
    }
}
