//! Simulation-based calibration (Talts, Betancourt, Simpson, Vehtari, Gelman 2018), the library
//! part: one replication ([`replicate`]: a prior-predictive draw of parameters and data
//! ([`Model::simulate`]), a NUTS refit to the simulated data, the rank of every true value among
//! thinned posterior draws), the rank plan ([`rank_plan`], [`default_bins`]), the uniformity test
//! ([`uniformity_test`], chi-square over bins), and the line format of `ranks.csv`
//! ([`ranks_header`], [`ranks_line`], [`parse_ranks_line`]).
//!
//! When the sampler and the program are right, each rank is uniform on `0..=L`. Each
//! replication's random numbers come only from `(seed, replication)` ([`rep_seed`]), so a resumed
//! run gives the same ranks as an uninterrupted one. Autocorrelated draws make ranks non-uniform
//! even for a correct sampler, so a replication whose smallest bulk ESS is below `L` is refit with
//! 2x (then 4x, up to [`Settings::max_refits`]) the draws, thinned as much more; that choice
//! depends on the posterior draws only, not on the true values, so it keeps the ranks uniform.
//!
//! Does not own: the files of a run, progress or the report (the CLI's `sbc`).

use crate::fit::{output_rows, SamplingDensity};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_inference::{cmdstan_column_name, sample, SampleOutput, SamplerConfig};
use refinestat_language::{Data, Program};
use refinestat_model::Model;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::BTreeMap;
use std::time::Instant;

/// Posterior draws kept for ranking when `--thin` is not given: about this many in all.
const TARGET_RANK_DRAWS: usize = 200;
/// `L + 1` is made a multiple of this, so 20, 10, 5, 4 and 2 bins all hold equally many ranks.
const RANK_GRID: usize = 20;
/// The chi-square approximation wants at least this many expected counts per bin.
const MIN_EXPECTED_PER_BIN: usize = 5;

/// What decides the ranks of one replication; a resumed run must agree on all of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// [`fingerprint`] of the simulating program's source.
    pub model_fingerprint: String,
    /// [`fingerprint`] of the fitting program's source.
    pub fit_model_fingerprint: String,
    /// [`fingerprint`] of the data (its JSON text).
    pub data_fingerprint: String,
    /// The run seed; each replication's comes from it ([`rep_seed`]).
    pub seed: u64,
    /// Chains per fit.
    pub chains: usize,
    /// Warmup iterations per chain.
    pub warmup: usize,
    /// Post-warmup draws per chain (of the first fit).
    pub draws: usize,
    /// Every `thin`-th draw of each chain is ranked against.
    pub thin: usize,
    /// Ranks lie in `0..=max_rank`: the number of posterior draws used per replication.
    pub max_rank: usize,
    /// Refits with 2x, 4x, ... the draws allowed per replication while the bulk ESS is below L.
    pub max_refits: usize,
    /// NUTS maximum tree depth.
    pub max_treedepth: usize,
    /// NUTS target acceptance rate.
    pub target_accept: f64,
    /// Ranked parameters, Stan-style names, in the fitting model's order.
    pub parameters: Vec<String>,
}

/// One finished replication.
#[derive(Debug, Clone, PartialEq)]
pub struct RepResult {
    /// The replication, from 1.
    pub rep: usize,
    /// The replication's own seed ([`rep_seed`]).
    pub seed: u64,
    /// Fits made: 1, or more where the first was too autocorrelated.
    pub fits: usize,
    /// Divergent transitions of the last fit.
    pub divergences: usize,
    /// Smallest bulk ESS over the parameters (the last fit's draws, before thinning).
    pub min_ess_bulk: f64,
    /// Wall-clock seconds of the replication.
    pub seconds: f64,
    /// One rank per parameter, in [`Settings::parameters`] order.
    pub ranks: Vec<usize>,
}

/// The uniformity test of one parameter's ranks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UniformityTest {
    /// Pearson's chi-square statistic against the uniform distribution of ranks.
    pub chi_square: f64,
    /// Degrees of freedom: bins - 1.
    pub df: usize,
    /// Probability of a statistic at least this large under uniformity.
    pub p_value: f64,
    /// Replications per bin.
    pub counts: Vec<usize>,
    /// Expected replications per bin under uniformity.
    pub expected: Vec<f64>,
}

/// Rank of `truth` among `draws`: the number of draws below it, ties split at random with the
/// uniform `u` (in [0, 1)) so a discrete posterior still gives uniform ranks.
pub fn rank_of(truth: f64, draws: &[f64], u: f64) -> usize {
    let below = draws.iter().filter(|&&d| d < truth).count();
    let ties = draws.iter().filter(|&&d| d == truth).count();
    below + ((u * (ties + 1) as f64) as usize).min(ties)
}

/// Chi-square test that `ranks` (each in `0..=max_rank`) are uniform, over `bins` bins of
/// consecutive ranks. Rank `r` falls in bin `floor(r * bins / (max_rank + 1))`; a bin's expected
/// count is proportional to how many ranks it holds, so the test is exact in its expectations
/// even when `bins` does not divide `max_rank + 1`.
pub fn uniformity_test(ranks: &[usize], max_rank: usize, bins: usize) -> Option<UniformityTest> {
    let n_values = max_rank + 1;
    if bins < 2 || bins > n_values || ranks.is_empty() || ranks.iter().any(|&r| r > max_rank) {
        return None;
    }
    let bin_of = |r: usize| r * bins / n_values;
    let mut counts = vec![0usize; bins];
    for &r in ranks {
        counts[bin_of(r)] += 1;
    }
    let mut width = vec![0usize; bins];
    for r in 0..n_values {
        width[bin_of(r)] += 1;
    }
    let n = ranks.len() as f64;
    let expected: Vec<f64> = width
        .iter()
        .map(|&w| n * w as f64 / n_values as f64)
        .collect();
    let chi_square: f64 = counts
        .iter()
        .zip(&expected)
        .map(|(&c, &e)| (c as f64 - e).powi(2) / e)
        .sum();
    let df = bins - 1;
    let p_value = ChiSquared::new(df as f64).ok()?.sf(chi_square);
    Some(UniformityTest {
        chi_square,
        df,
        p_value,
        counts,
        expected,
    })
}

/// Default bins: 20, or fewer (a divisor of 20) so that each bin expects at least 5 replications.
pub fn default_bins(reps: usize) -> usize {
    [20, 10, 5, 4]
        .into_iter()
        .find(|&b| reps >= b * MIN_EXPECTED_PER_BIN)
        .unwrap_or(2)
}

/// Thinning and the number of ranked draws `L` for `chains x draws` post-warmup draws: every
/// `thin`-th draw of each chain is kept, and the first `L` kept draws are ranked against, with
/// `L + 1` a multiple of 20 where there are enough draws.
pub fn rank_plan(chains: usize, draws: usize, thin: Option<usize>) -> (usize, usize) {
    let total = chains * draws;
    let thin = thin.unwrap_or((total / TARGET_RANK_DRAWS).max(1)).max(1);
    let kept = chains * draws.div_ceil(thin);
    let max_rank = if kept + 1 >= RANK_GRID {
        (kept + 1) / RANK_GRID * RANK_GRID - 1
    } else {
        kept
    };
    (thin, max_rank)
}

/// Every element of every variable by its Stan-style name (`mu`, `theta[2]`, `L[2,1]`), reading
/// the row-major values of the Stan JSON shape.
pub fn flatten_by_name(data: &Data) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for (name, value) in &data.vars {
        if value.dims.is_empty() {
            if let Some(&x) = value.values.first() {
                out.insert(name.clone(), x);
            }
            continue;
        }
        for (flat, &x) in value.values.iter().enumerate() {
            let mut index = vec![0usize; value.dims.len()];
            let mut rest = flat;
            for (slot, &d) in index.iter_mut().zip(&value.dims).rev() {
                *slot = rest % d.max(1) + 1;
                rest /= d.max(1);
            }
            let index: Vec<String> = index.iter().map(usize::to_string).collect();
            out.insert(format!("{name}[{}]", index.join(",")), x);
        }
    }
    out
}

/// A replication's own seed, a mix of the run seed and the replication (splitmix64), so
/// replications neither share streams nor depend on which ran first.
pub fn rep_seed(seed: u64, rep: usize) -> u64 {
    let mut z = seed ^ (rep as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a text: enough to notice that a resumed run's program or data changed.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What every replication shares.
pub struct Plan<'a> {
    /// The program whose prior predictive draws the true values and the data.
    pub simulator: &'a Model,
    /// The program fitted to each simulated data set.
    pub fit_program: &'a Program,
    /// The data the simulated observations are added to (sizes and covariates).
    pub base_data: &'a Data,
    /// What decides the ranks.
    pub settings: &'a Settings,
}

/// Replication `rep` of `plan`: simulate, refit (more draws while the bulk ESS is below `L`),
/// rank. The error says what failed (the simulation, the model on the simulated data, sampling),
/// for `failures.jsonl`; such a replication would fail the same way again.
pub fn replicate(plan: &Plan, rep: usize) -> Result<RepResult, String> {
    let start = Instant::now();
    let s = plan.settings;
    let seed = rep_seed(s.seed, rep);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let draw = plan
        .simulator
        .simulate(&mut rng)
        .map_err(|e| format!("prior-predictive draw: {e}"))?;
    let truth = flatten_by_name(&draw.params);
    let truth: Vec<f64> =
        s.parameters
            .iter()
            .map(|name| {
                truth.get(name).copied().ok_or_else(|| {
                    format!("the simulating model drew no value for parameter `{name}`")
                })
            })
            .collect::<Result<_, _>>()?;

    let mut data = plan.base_data.clone();
    data.vars.extend(draw.data.vars);
    let model = Model::new(plan.fit_program, &data)
        .map_err(|e| format!("fitting model on the simulated data: {e}"))?;

    // Refit with twice the draws (thinned twice as much) while the draws are too autocorrelated
    // for L roughly independent ones. The decision looks only at the posterior draws, never at
    // the true values, so it leaves the ranks uniform.
    let mut fits = 0;
    let (divergences, min_ess_bulk, per_param, thin) = loop {
        let factor = 1usize << fits;
        fits += 1;
        let config = SamplerConfig {
            chains: s.chains,
            warmup: s.warmup,
            draws: s.draws * factor,
            thin: 1,
            max_treedepth: s.max_treedepth,
            target_accept: s.target_accept,
            seed: seed.wrapping_add(fits as u64 - 1),
            ..SamplerConfig::default()
        };
        let output = sample(&config, |_| SamplingDensity(model.clone()))
            .map_err(|e| format!("sampling: {e}"))?;
        let per_param = constrained_draws(&model, &output, s.parameters.len(), &mut rng)?;
        let min_ess_bulk = per_param
            .iter()
            .filter_map(|chains| refinestat_diagnostics::ess_bulk(chains))
            .fold(f64::INFINITY, f64::min);
        if min_ess_bulk >= s.max_rank as f64 || fits > s.max_refits {
            break (
                output.divergences(),
                min_ess_bulk,
                per_param,
                s.thin * factor,
            );
        }
    };
    let ranks = per_param
        .iter()
        .zip(&truth)
        .map(|(chains, &t)| {
            let thinned: Vec<f64> = chains
                .iter()
                .flat_map(|c| c.iter().step_by(thin).copied())
                .take(s.max_rank)
                .collect();
            if thinned.len() < s.max_rank {
                return Err(format!(
                    "only {} posterior draws to rank against, {} needed",
                    thinned.len(),
                    s.max_rank
                ));
            }
            Ok(rank_of(t, &thinned, rng.random::<f64>()))
        })
        .collect::<Result<_, _>>()?;
    Ok(RepResult {
        rep,
        seed,
        fits,
        divergences,
        min_ess_bulk,
        seconds: start.elapsed().as_secs_f64(),
        ranks,
    })
}

/// Constrained parameter values as `[parameter][chain][draw]`; write_array's leading entries are
/// the parameters in `param_names` order.
fn constrained_draws(
    model: &Model,
    output: &SampleOutput,
    n_params: usize,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<Vec<Vec<f64>>>, String> {
    let mut per_param: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(output.chains.len()); n_params];
    for chain in &output.chains {
        let rows = output_rows(model, &chain.draws, rng, false)
            .map_err(|(_, e)| format!("constraining a draw: {e}"))?;
        for (p, per_chain) in per_param.iter_mut().enumerate() {
            per_chain.push(rows.iter().map(|row| row[p]).collect());
        }
    }
    Ok(per_param)
}

/// The header line of `ranks.csv` for these parameters (Stan-style names).
pub fn ranks_header(parameters: &[String]) -> String {
    let mut cols = vec![
        "rep".to_string(),
        "seed".into(),
        "fits".into(),
        "divergences".into(),
        "min_ess_bulk".into(),
        "seconds".into(),
    ];
    cols.extend(parameters.iter().map(|p| cmdstan_column_name(p)));
    cols.join(",")
}

/// The `ranks.csv` line of a finished replication.
pub fn ranks_line(r: &RepResult) -> String {
    let mut cols = vec![
        r.rep.to_string(),
        r.seed.to_string(),
        r.fits.to_string(),
        r.divergences.to_string(),
        format!("{:.1}", r.min_ess_bulk),
        format!("{:.3}", r.seconds),
    ];
    cols.extend(r.ranks.iter().map(usize::to_string));
    cols.join(",")
}

/// A `ranks.csv` line back into its replication; `None` when it is not one for `n_params`
/// parameters.
pub fn parse_ranks_line(line: &str, n_params: usize) -> Option<RepResult> {
    let f: Vec<&str> = line.split(',').collect();
    if f.len() != 6 + n_params {
        return None;
    }
    Some(RepResult {
        rep: f[0].parse().ok()?,
        seed: f[1].parse().ok()?,
        fits: f[2].parse().ok()?,
        divergences: f[3].parse().ok()?,
        min_ess_bulk: f[4].parse().ok()?,
        seconds: f[5].parse().ok()?,
        ranks: f[6..]
            .iter()
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn rank_counts_draws_below_and_splits_ties() {
        let draws = [0.1, 0.5, 0.5, 0.9];
        assert_eq!(rank_of(0.0, &draws, 0.3), 0);
        assert_eq!(rank_of(1.0, &draws, 0.3), 4);
        assert_eq!(rank_of(0.7, &draws, 0.99), 3);
        // Two ties: rank 1, 2 or 3 with equal chance.
        assert_eq!(rank_of(0.5, &draws, 0.0), 1);
        assert_eq!(rank_of(0.5, &draws, 0.5), 2);
        assert_eq!(rank_of(0.5, &draws, 0.999), 3);
    }

    #[test]
    fn chi_square_matches_the_closed_form_for_three_degrees_of_freedom() {
        // Counts [3, 7, 10, 10] against 7.5 each: X2 = 33 / 7.5 = 4.4; for 3 degrees of freedom
        // the survival function is erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) = 0.22138538718948...
        let ranks: Vec<usize> = [(0usize, 3usize), (1, 7), (2, 10), (3, 10)]
            .iter()
            .flat_map(|&(bin, n)| std::iter::repeat_n(bin * 10 + 4, n))
            .collect();
        let t = uniformity_test(&ranks, 39, 4).unwrap();
        assert_eq!(t.counts, vec![3, 7, 10, 10]);
        assert_eq!(t.df, 3);
        assert!((t.chi_square - 4.4).abs() < 1e-12);
        assert!(
            (t.p_value - 0.221_385_387_189_488_1).abs() < 1e-10,
            "{}",
            t.p_value
        );
    }

    #[test]
    fn unequal_bins_expect_proportionally() {
        // Ranks 0..=4 (5 values) in 2 bins: ranks 0,1,2 -> bin 0 (3 of 5), 3,4 -> bin 1.
        let t = uniformity_test(&[0, 1, 2, 3, 4], 4, 2).unwrap();
        assert_eq!(t.counts, vec![3, 2]);
        assert_eq!(t.expected, vec![3.0, 2.0]);
        assert_eq!(t.chi_square, 0.0);
        assert!((t.p_value - 1.0).abs() < 1e-12);
        assert!(uniformity_test(&[5], 4, 2).is_none());
        assert!(uniformity_test(&[], 4, 2).is_none());
    }

    #[test]
    fn plan_keeps_about_200_draws_with_l_plus_1_a_multiple_of_20() {
        assert_eq!(rank_plan(1, 1000, None), (5, 199));
        assert_eq!(rank_plan(4, 1000, None), (20, 199));
        assert_eq!(rank_plan(1, 100, None), (1, 99));
        assert_eq!(rank_plan(1, 100, Some(3)), (3, 19));
        assert_eq!(rank_plan(1, 10, None), (1, 10));
        assert_eq!(default_bins(200), 20);
        assert_eq!(default_bins(60), 10);
        assert_eq!(default_bins(30), 5);
        assert_eq!(default_bins(5), 2);
    }

    #[test]
    fn flattening_names_elements_as_stan_does() {
        let data =
            Data::from_json_str(r#"{"mu": 1.5, "theta": [1, 2], "L": [[1, 2, 3], [4, 5, 6]]}"#)
                .unwrap();
        let flat = flatten_by_name(&data);
        assert_eq!(flat["mu"], 1.5);
        assert_eq!(flat["theta[2]"], 2.0);
        assert_eq!(flat["L[1,3]"], 3.0);
        assert_eq!(flat["L[2,1]"], 4.0);
        assert_eq!(flat.len(), 9);
    }

    #[test]
    fn ranks_lines_round_trip() {
        let r = RepResult {
            rep: 7,
            seed: 123,
            fits: 2,
            divergences: 2,
            min_ess_bulk: 345.5,
            seconds: 0.25,
            ranks: vec![0, 199, 42],
        };
        assert_eq!(parse_ranks_line(&ranks_line(&r), 3), Some(r));
        assert_eq!(parse_ranks_line("1,2,3", 3), None);
    }

    #[test]
    fn replication_seeds_differ() {
        let seeds: BTreeSet<u64> = (1..=1000).map(|r| rep_seed(1, r)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_ne!(rep_seed(1, 1), rep_seed(2, 1));
    }
}
