//! Posterior predictive checks: observed data replicated by the program at posterior draws
//! ([`refinestat_model::Model::replicate`]), test statistics with posterior predictive p-values,
//! and LOO-PIT values from PSIS weights.

use rand::SeedableRng;
use refinestat_diagnostics::{psis_weights, ChainCsv, LogLik};
use refinestat_language::Data;
use refinestat_model::Model;

/// One observed data variable and its replicates.
pub struct Observed {
    pub name: String,
    /// Row-major (Stan JSON order) observed values.
    pub values: Vec<f64>,
    /// Every observed value is an integer (counts are plotted as bars).
    pub integer: bool,
    /// `replicates[k][element]`, one per used draw.
    pub replicates: Vec<Vec<f64>>,
    /// Log-likelihood terms of this variable (observation units).
    pub units: usize,
}

/// Replicated data for a thinned set of draws.
pub struct Replicates {
    pub vars: Vec<Observed>,
    /// Global sample index (chain-major: chain k's draw d is `k * draws + d`) of each replicate.
    pub samples: Vec<usize>,
    /// Draws whose replicate failed (an evaluation error), left out.
    pub failed: usize,
    pub first_error: Option<String>,
    /// Draws in all chains.
    pub total: usize,
}

/// At most this many replicated values (draws x observed values) are held: with large data the
/// replicated draws are thinned further (at least [`MIN_PPC_DRAWS`]), so memory stays bounded.
pub const MAX_PPC_VALUES: usize = 20_000_000;

/// The fewest replicated draws when [`MAX_PPC_VALUES`] thins them.
pub const MIN_PPC_DRAWS: usize = 20;

/// Simulates the observed data of `program` at up to `max_draws` evenly thinned posterior draws
/// of `chains` (fewer with large data: see [`MAX_PPC_VALUES`]). Seeded: the same inputs give the
/// same replicates.
pub fn replicate(
    program: &str,
    data: &Data,
    chains: &[ChainCsv],
    max_draws: usize,
    seed: u64,
) -> Result<Replicates, String> {
    let model = Model::from_source(program, data).map_err(|e| e.to_string())?;
    let units = model.observation_units();
    if units.is_empty() {
        return Err("the program has no statement on observed data".into());
    }
    let names = model.param_names();
    let first = chains.first().ok_or("no chains")?;
    let columns: Vec<usize> = names
        .iter()
        .map(|n| {
            first
                .param_names
                .iter()
                .position(|c| c == n)
                .ok_or_else(|| format!("the draws have no column for parameter `{n}`"))
        })
        .collect::<Result<_, _>>()?;
    let per_chain = chains.iter().map(|c| c.params.len()).min().unwrap_or(0);
    let total = per_chain * chains.len();
    if total == 0 {
        return Err("no draws".into());
    }
    let n_values: usize = units
        .iter()
        .filter_map(|(name, _)| data.get(name).map(|v| v.values.len()))
        .sum();
    let max_draws = max_draws.min((MAX_PPC_VALUES / n_values.max(1)).max(MIN_PPC_DRAWS));
    let step = total.div_ceil(max_draws.max(1));
    let mut vars: Vec<Observed> = Vec::new();
    for (name, n_units) in &units {
        let Some(value) = data.get(name) else {
            return Err(format!("observed variable `{name}` is not in the data"));
        };
        vars.push(Observed {
            name: name.clone(),
            values: value.values.clone(),
            integer: value.values.iter().all(|v| v.fract() == 0.0),
            replicates: Vec::new(),
            units: *n_units,
        });
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut samples = Vec::new();
    let mut failed = 0;
    let mut first_error = None;
    let mut params = vec![0.0; columns.len()];
    for s in (0..total).step_by(step) {
        let (chain, draw) = (s / per_chain, s % per_chain);
        let row = &chains[chain].params[draw];
        for (p, &c) in params.iter_mut().zip(&columns) {
            *p = row[c];
        }
        match model.replicate(&params, &mut rng) {
            Ok(rep) => {
                let mut ok = true;
                let mut values = Vec::with_capacity(vars.len());
                for var in &vars {
                    match rep.get(&var.name) {
                        Some(v) if v.values.len() == var.values.len() => {
                            values.push(v.values.clone())
                        }
                        _ => ok = false,
                    }
                }
                if ok {
                    for (var, v) in vars.iter_mut().zip(values) {
                        var.replicates.push(v);
                    }
                    samples.push(s);
                } else {
                    failed += 1;
                    first_error.get_or_insert_with(|| {
                        "the program did not draw every observed value".to_string()
                    });
                }
            }
            Err(e) => {
                failed += 1;
                first_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
    if samples.is_empty() {
        return Err(format!(
            "no replicate could be drawn: {}",
            first_error.unwrap_or_default()
        ));
    }
    Ok(Replicates {
        vars,
        samples,
        failed,
        first_error,
        total,
    })
}

/// A test statistic of a data set.
pub type Stat = fn(&[f64]) -> f64;

/// mean, sd, min, max.
pub const STATS: [(&str, Stat); 4] = [("mean", mean), ("sd", sd), ("min", min), ("max", max)];

pub fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

pub fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() as f64 - 1.0).max(1.0)).sqrt()
}

pub fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

pub fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

/// The posterior predictive p-value `Pr(T(y_rep) > T(y)) + Pr(T(y_rep) = T(y)) / 2` (the mid
/// p-value: a statistic that every replicate ties, such as the minimum of binary data, gets 0.5,
/// not 1).
pub fn p_value(observed: f64, replicated: &[f64]) -> f64 {
    let above = replicated.iter().filter(|&&t| t > observed).count() as f64;
    let ties = replicated.iter().filter(|&&t| t == observed).count() as f64;
    (above + 0.5 * ties) / replicated.len() as f64
}

/// LOO-PIT values `Pr(y_rep_i < y_i | y_-i) + U Pr(y_rep_i = y_i | y_-i)`, weighting the
/// replicates by PSIS-LOO weights restricted to the replicated draws. `U` is uniform on (0, 1)
/// (seeded): the randomized PIT, uniform for a calibrated model of discrete data too, and the
/// plain PIT for continuous data (where ties do not occur). An error (with the reason) unless
/// every observed variable is observed element by element and the CSVs hold one log-likelihood
/// column per element.
pub fn loo_pit(
    reps: &Replicates,
    chains: &[ChainCsv],
    r_eff: f64,
    seed: u64,
) -> Result<Vec<f64>, String> {
    use rand::Rng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    if let Some(v) = reps.vars.iter().find(|v| v.units != v.values.len()) {
        return Err(format!(
            "`{}` has {} observation units for {} values (a multivariate outcome): LOO-PIT is \
             defined for scalar observations",
            v.name,
            v.units,
            v.values.len()
        ));
    }
    let n: usize = reps.vars.iter().map(|v| v.values.len()).sum();
    let per_chain = chains.iter().map(|c| c.log_lik.len()).min().unwrap_or(0);
    let ll: Vec<Vec<Vec<f64>>> = chains
        .iter()
        .map(|c| c.log_lik[..per_chain].to_vec())
        .collect();
    let log_lik = LogLik::from_chains(&ll).ok_or("the draws have no log_lik columns")?;
    if log_lik.n_obs() != n {
        return Err(format!(
            "{} log_lik columns for {n} observed values",
            log_lik.n_obs()
        ));
    }
    let weights = psis_weights(&log_lik, r_eff);
    let mut pit = Vec::with_capacity(n);
    let mut obs = 0;
    for var in &reps.vars {
        for (e, &y) in var.values.iter().enumerate() {
            let w = &weights[obs];
            let (mut below, mut equal, mut norm) = (0.0, 0.0, 0.0);
            for (k, &s) in reps.samples.iter().enumerate() {
                let yr = var.replicates[k][e];
                let ws = w[s];
                norm += ws;
                if yr < y {
                    below += ws;
                } else if yr == y {
                    equal += ws;
                }
            }
            let u: f64 = rng.random();
            pit.push(if norm > 0.0 {
                (below + u * equal) / norm
            } else {
                f64::NAN
            });
            obs += 1;
        }
    }
    Ok(pit)
}
