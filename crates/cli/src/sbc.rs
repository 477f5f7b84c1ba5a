//! `sbc`: simulation-based calibration (Talts, Betancourt, Simpson, Vehtari, Gelman 2018).
//!
//! Each replication draws parameters and data from the prior predictive of MODEL
//! ([`Model::simulate`]), refits the model (or `--fit-model`) to the simulated data with NUTS, and
//! records the rank of every true parameter value among thinned posterior draws. When the sampler
//! and the program are right, each rank is uniform on `0..=L`; a chi-square test over `B` bins per
//! parameter, Bonferroni-corrected over the parameters, says whether the ranks look uniform.
//!
//! Files in the output directory:
//! - `settings.json`: everything that decides the ranks (program and data fingerprints, sampler
//!   settings, thinning, `L`); a rerun must match it, and then it continues where the last run
//!   stopped. Each replication's random numbers come only from `(seed, replication)`, so a
//!   resumed run gives the same ranks as an uninterrupted one.
//! - `ranks.csv`: one line per finished replication, appended and flushed as it finishes (in
//!   completion order; `rep` says which): the replication's seed, the number of fits, divergences
//!   and the smallest bulk ESS of the parameters (of the last fit), seconds, then one rank per
//!   parameter (CmdStan-style column names).
//!
//! Autocorrelated draws make ranks non-uniform even for a correct sampler, so a replication whose
//! smallest bulk ESS is below `L` is refit with 2x (then 4x, up to `--max-refits`) the draws,
//! thinned as much more; that choice depends on the posterior draws only, not on the true values,
//! so it keeps the ranks uniform.
//! - `failures.jsonl`: replications whose simulation or fit failed, with the error; they are not
//!   retried (they would fail the same way) and are left out of the test, which sbc.json reports.
//! - `sbc.json`: the verdict: per-parameter chi-square statistic, p-value and bin counts.

use crate::args::SbcFlags;
use crate::commands::{load_model, read_data};
use crate::error::{emit, CliError, Result};
use crate::fit::{model_stem, SamplingDensity};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use refinestat_inference::{cmdstan_column_name, sample, SampleOutput, SamplerConfig};
use refinestat_language::{Data, Program};
use refinestat_model::Model;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

/// Posterior draws kept for ranking when `--thin` is not given: about this many in all.
const TARGET_RANK_DRAWS: usize = 200;
/// `L + 1` is made a multiple of this, so 20, 10, 5, 4 and 2 bins all hold equally many ranks.
const RANK_GRID: usize = 20;
/// The chi-square approximation wants at least this many expected counts per bin.
const MIN_EXPECTED_PER_BIN: usize = 5;

/// What decides the ranks of one replication; a resumed run must agree on all of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Settings {
    model_fingerprint: String,
    fit_model_fingerprint: String,
    data_fingerprint: String,
    seed: u64,
    chains: usize,
    warmup: usize,
    draws: usize,
    thin: usize,
    /// Ranks lie in `0..=max_rank`: the number of posterior draws used per replication.
    max_rank: usize,
    /// Refits with 2x, 4x, ... the draws allowed per replication while the bulk ESS is below L.
    max_refits: usize,
    max_treedepth: usize,
    target_accept: f64,
    /// Ranked parameters, Stan-style names, in the fitting model's order.
    parameters: Vec<String>,
}

/// One finished replication.
#[derive(Debug, Clone, PartialEq)]
struct RepResult {
    rep: usize,
    seed: u64,
    /// Fits made: 1, or more where the first was too autocorrelated.
    fits: usize,
    /// Divergent transitions of the last fit.
    divergences: usize,
    /// Smallest bulk ESS over the parameters (the last fit's draws, before thinning).
    min_ess_bulk: f64,
    seconds: f64,
    ranks: Vec<usize>,
}

/// The uniformity test of one parameter's ranks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct UniformityTest {
    /// Pearson's chi-square statistic against the uniform distribution of ranks.
    pub chi_square: f64,
    /// Degrees of freedom: bins - 1.
    pub df: usize,
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
fn flatten_by_name(data: &Data) -> BTreeMap<String, f64> {
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
fn rep_seed(seed: u64, rep: usize) -> u64 {
    let mut z = seed ^ (rep as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of a text: enough to notice that a resumed run's program or data changed.
fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// What every replication shares.
struct Plan<'a> {
    simulator: &'a Model,
    fit_program: &'a Program,
    base_data: &'a Data,
    settings: &'a Settings,
}

fn replicate(plan: &Plan, rep: usize) -> std::result::Result<RepResult, String> {
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
            .collect::<std::result::Result<_, _>>()?;

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
        .collect::<std::result::Result<_, _>>()?;
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
) -> std::result::Result<Vec<Vec<Vec<f64>>>, String> {
    let mut per_param: Vec<Vec<Vec<f64>>> = vec![Vec::with_capacity(output.chains.len()); n_params];
    for chain in &output.chains {
        let mut columns = vec![Vec::with_capacity(chain.draws.len()); n_params];
        for x in &chain.draws {
            let values = model
                .write_array(x, rng)
                .map_err(|e| format!("constraining a draw: {e}"))?;
            for (column, &v) in columns.iter_mut().zip(&values[..n_params]) {
                column.push(v);
            }
        }
        for (p, column) in columns.into_iter().enumerate() {
            per_param[p].push(column);
        }
    }
    Ok(per_param)
}

fn ranks_header(parameters: &[String]) -> String {
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

fn ranks_line(r: &RepResult) -> String {
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

fn parse_ranks_line(line: &str, n_params: usize) -> Option<RepResult> {
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

fn io_error(path: &Path, e: std::io::Error) -> CliError {
    CliError::new(format!("{}: {e}", path.display()))
}

/// Finished replications in `ranks.csv` (a line cut off by a killed run is dropped, and the file
/// is truncated to its complete lines so appends stay well formed).
fn read_ranks(path: &Path, header: &str, n_params: usize) -> Result<Vec<RepResult>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(io_error(path, e)),
    };
    let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    if complete.len() != text.len() {
        std::fs::write(path, complete).map_err(|e| io_error(path, e))?;
    }
    let mut lines = complete.lines();
    match lines.next() {
        None => return Ok(vec![]),
        Some(h) if h == header => {}
        Some(h) => {
            return Err(CliError::new(format!(
                "{} has columns `{h}`, this run needs `{header}`; use another --output-dir",
                path.display()
            )))
        }
    }
    lines
        .enumerate()
        .map(|(i, line)| {
            parse_ranks_line(line, n_params).ok_or_else(|| {
                CliError::new(format!("{} line {}: malformed", path.display(), i + 2))
            })
        })
        .collect()
}

/// Replications recorded as failed: `rep -> error`.
fn read_failures(path: &Path) -> Result<BTreeMap<usize, String>> {
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(io_error(path, e)),
    };
    let mut out = BTreeMap::new();
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| io_error(path, e))?;
        // A line cut off by a killed run does not parse; that replication simply runs again.
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if let (Some(rep), Some(err)) = (v["rep"].as_u64(), v["error"].as_str()) {
                out.insert(rep as usize, err.to_string());
            }
        }
    }
    Ok(out)
}

/// Appends lines to a file, each written whole and flushed.
struct Appender {
    path: PathBuf,
    file: std::fs::File,
}

impl Appender {
    fn open(path: PathBuf, header: Option<&str>) -> Result<Appender> {
        let fresh = std::fs::metadata(&path).map_or(true, |m| m.len() == 0);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| io_error(&path, e))?;
        if let (true, Some(h)) = (fresh, header) {
            file.write_all(format!("{h}\n").as_bytes())
                .map_err(|e| io_error(&path, e))?;
        }
        Ok(Appender { path, file })
    }

    fn line(&mut self, line: &str) -> Result<()> {
        self.file
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|_| self.file.flush())
            .map_err(|e| io_error(&self.path, e))
    }
}

/// Progress on stderr: a bar on a terminal, otherwise a line about every 5% of the replications.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: usize,
    /// The next count at which a line is printed (without a bar).
    next_report: usize,
    start: Instant,
}

impl Progress {
    fn new(total: usize, done: usize) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "sbc [{bar:40}] {pos}/{len} replications ({elapsed}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_position(done as u64);
            bar
        });
        Progress {
            bar,
            total,
            done,
            next_report: done + 1,
            start: Instant::now(),
        }
    }

    fn tick(&mut self, failed: Option<(usize, &str)>) {
        self.done += 1;
        if let Some((rep, err)) = failed {
            let msg = format!("sbc: replication {rep} failed: {err}");
            match &self.bar {
                Some(bar) => bar.println(msg),
                None => eprintln!("{msg}"),
            }
        }
        match &self.bar {
            Some(bar) => bar.set_position(self.done as u64),
            None if self.done >= self.next_report || self.done == self.total => {
                eprintln!(
                    "sbc: {}/{} replications ({:.1} s)",
                    self.done,
                    self.total,
                    self.start.elapsed().as_secs_f64()
                );
                self.next_report = self.done + (self.total / 20).max(1);
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// A JSON object that keeps its keys in insertion order (serde_json's map sorts them).
enum Node {
    Value(serde_json::Value),
    Map(Vec<(String, Node)>),
}

impl Node {
    fn map<const N: usize>(entries: [(&str, serde_json::Value); N]) -> Node {
        Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), Node::Value(v)))
                .collect(),
        )
    }
}

impl serde::Serialize for Node {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Node::Value(v) => v.serialize(serializer),
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

fn json_num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// A p-value with four decimals, or in scientific notation when that would show only zeros.
fn format_p(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// A one-line histogram of bin counts, for the table.
fn sparkline(counts: &[usize]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&c| LEVELS[(c * (LEVELS.len() - 1) + max / 2) / max])
        .collect()
}

pub fn cmd_sbc(model_path: &Path, data_path: &Path, flags: &SbcFlags) -> Result<ExitCode> {
    let wall = Instant::now();
    if flags.reps == 0 || flags.draws == 0 || flags.chains == 0 {
        return Err(CliError::new(
            "--reps, --draws and --chains must be at least 1",
        ));
    }
    if flags.thin == Some(0) {
        return Err(CliError::new("--thin must be at least 1"));
    }
    if !(flags.significance > 0.0 && flags.significance < 1.0) {
        return Err(CliError::new("--significance must be in (0, 1)"));
    }
    let data = read_data(data_path)?;
    let (model_source, simulator) = load_model(model_path, &data)?;
    let fit_path = flags.fit_model.as_deref().unwrap_or(model_path);
    let (fit_source, fit_model) = load_model(fit_path, &data)?;
    let fit_program = refinestat_language::parse(&fit_source).program;

    let parameters = fit_model.param_names();
    if parameters.is_empty() {
        return Err(CliError::new(format!(
            "{} has no parameters to calibrate",
            fit_path.display()
        )));
    }
    let simulated: BTreeSet<String> = simulator.param_names().into_iter().collect();
    if let Some(missing) = parameters.iter().find(|p| !simulated.contains(*p)) {
        return Err(CliError::new(format!(
            "parameter `{missing}` of {} is not a parameter of {}",
            fit_path.display(),
            model_path.display()
        )));
    }

    let (thin, max_rank) = rank_plan(flags.chains, flags.draws, flags.thin);
    let bins = flags.bins.unwrap_or_else(|| default_bins(flags.reps));
    if bins < 2 || bins > max_rank + 1 {
        return Err(CliError::new(format!(
            "--bins must be in 2..={} (ranks run 0..={max_rank})",
            max_rank + 1
        )));
    }
    let settings = Settings {
        model_fingerprint: fingerprint(&model_source),
        fit_model_fingerprint: fingerprint(&fit_source),
        data_fingerprint: fingerprint(&data.to_json_string()),
        seed: flags.seed,
        chains: flags.chains,
        warmup: flags.warmup,
        draws: flags.draws,
        thin,
        max_rank,
        max_refits: flags.max_refits,
        max_treedepth: flags.max_treedepth,
        target_accept: flags.target_accept,
        parameters,
    };

    let out_dir = flags
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(format!("{}-sbc", model_stem(model_path))));
    std::fs::create_dir_all(&out_dir).map_err(|e| io_error(&out_dir, e))?;
    let settings_path = out_dir.join("settings.json");
    match std::fs::read_to_string(&settings_path) {
        Ok(text) => {
            let old: Settings = serde_json::from_str(&text)
                .map_err(|e| CliError::new(format!("{}: {e}", settings_path.display())))?;
            if old != settings {
                return Err(CliError::new(format!(
                    "{} holds an SBC run with other settings (program, data, seed, sampler or \
                     thinning differ); use another --output-dir or remove it",
                    out_dir.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let text = serde_json::to_string_pretty(&settings).expect("JSON of plain values");
            std::fs::write(&settings_path, text + "\n").map_err(|e| io_error(&settings_path, e))?;
        }
        Err(e) => return Err(io_error(&settings_path, e)),
    }

    let n_params = settings.parameters.len();
    let header = ranks_header(&settings.parameters);
    let ranks_path = out_dir.join("ranks.csv");
    let failures_path = out_dir.join("failures.jsonl");
    let previous = read_ranks(&ranks_path, &header, n_params)?;
    let previous_failures = read_failures(&failures_path)?;
    let done: BTreeSet<usize> = previous
        .iter()
        .map(|r| r.rep)
        .chain(previous_failures.keys().copied())
        .collect();
    let pending: Vec<usize> = (1..=flags.reps).filter(|r| !done.contains(r)).collect();
    if !done.is_empty() && !pending.is_empty() {
        eprintln!(
            "sbc: continuing in {}: {} replications done, {} to go",
            out_dir.display(),
            flags.reps - pending.len(),
            pending.len()
        );
    }

    let plan = Plan {
        simulator: &simulator,
        fit_program: &fit_program,
        base_data: &data,
        settings: &settings,
    };
    let ranks_file = Mutex::new(Appender::open(ranks_path.clone(), Some(&header))?);
    let failures_file = Mutex::new(Appender::open(failures_path.clone(), None)?);
    let progress = Mutex::new(Progress::new(flags.reps, flags.reps - pending.len()));
    let lock_failed = || CliError::new("a replication thread panicked");
    pending.par_iter().try_for_each(|&rep| -> Result<()> {
        match replicate(&plan, rep) {
            Ok(result) => {
                ranks_file
                    .lock()
                    .map_err(|_| lock_failed())?
                    .line(&ranks_line(&result))?;
                progress.lock().map_err(|_| lock_failed())?.tick(None);
            }
            Err(err) => {
                let line = serde_json::json!({"rep": rep, "error": err}).to_string();
                failures_file
                    .lock()
                    .map_err(|_| lock_failed())?
                    .line(&line)?;
                progress
                    .lock()
                    .map_err(|_| lock_failed())?
                    .tick(Some((rep, &err)));
            }
        }
        Ok(())
    })?;
    progress.lock().map_err(|_| lock_failed())?.finish();

    // The verdict is computed from the files, the one record of every replication.
    let mut results: Vec<RepResult> = read_ranks(&ranks_path, &header, n_params)?
        .into_iter()
        .filter(|r| r.rep <= flags.reps)
        .collect();
    results.sort_by_key(|r| r.rep);
    let failures: BTreeMap<usize, String> = read_failures(&failures_path)?
        .into_iter()
        .filter(|(rep, _)| *rep <= flags.reps)
        .collect();
    let report = Report::new(
        &settings,
        &results,
        &failures,
        bins,
        flags.significance,
        wall.elapsed().as_secs_f64(),
    );
    let json_text = report.to_json(model_path, fit_path, data_path, flags.reps);
    let sbc_path = out_dir.join("sbc.json");
    std::fs::write(&sbc_path, format!("{json_text}\n")).map_err(|e| io_error(&sbc_path, e))?;
    if flags.json {
        emit(&format!("{json_text}\n"))?;
    } else {
        emit(&report.table(model_path))?;
        emit(&(format!("output: {}", out_dir.display()) + "\n"))?;
    }
    // Exit 0 when the ranks look uniform, 1 when calibration fails (as `check` does for
    // violations), so scripts can act on the verdict.
    Ok(if report.reject {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The verdict over all finished replications.
struct Report<'a> {
    settings: &'a Settings,
    tests: Vec<(String, Option<UniformityTest>)>,
    completed: usize,
    failures: &'a BTreeMap<usize, String>,
    bins: usize,
    alpha: f64,
    threshold: f64,
    reject: bool,
    divergences: usize,
    reps_with_divergences: usize,
    /// Replications refit with more draws because the first fit's ESS was below L.
    reps_refit: usize,
    /// Replications whose smallest bulk ESS stayed below L: their thinned draws are
    /// autocorrelated, which by itself makes ranks non-uniform (Talts et al. section 5.1).
    reps_with_low_ess: usize,
    replication_seconds: f64,
    wall_seconds: f64,
}

impl<'a> Report<'a> {
    fn new(
        settings: &'a Settings,
        results: &[RepResult],
        failures: &'a BTreeMap<usize, String>,
        bins: usize,
        alpha: f64,
        wall_seconds: f64,
    ) -> Report<'a> {
        let tests: Vec<(String, Option<UniformityTest>)> = settings
            .parameters
            .iter()
            .enumerate()
            .map(|(p, name)| {
                let ranks: Vec<usize> = results.iter().map(|r| r.ranks[p]).collect();
                (
                    name.clone(),
                    uniformity_test(&ranks, settings.max_rank, bins),
                )
            })
            .collect();
        let threshold = alpha / tests.len() as f64;
        let reject = tests
            .iter()
            .any(|(_, t)| t.as_ref().is_some_and(|t| t.p_value < threshold));
        Report {
            settings,
            tests,
            completed: results.len(),
            failures,
            bins,
            alpha,
            threshold,
            reject,
            divergences: results.iter().map(|r| r.divergences).sum(),
            reps_with_divergences: results.iter().filter(|r| r.divergences > 0).count(),
            reps_refit: results.iter().filter(|r| r.fits > 1).count(),
            reps_with_low_ess: results
                .iter()
                .filter(|r| r.min_ess_bulk < settings.max_rank as f64)
                .count(),
            replication_seconds: results.iter().map(|r| r.seconds).sum(),
            wall_seconds,
        }
    }

    /// sbc.json, with the parameters (and every other key) in a fixed, readable order.
    fn to_json(&self, model: &Path, fit_model: &Path, data: &Path, reps: usize) -> String {
        use serde_json::json;
        let parameters = self
            .tests
            .iter()
            .map(|(name, test)| {
                let value = match test {
                    Some(t) => Node::map([
                        ("chi_square", json_num(t.chi_square)),
                        ("df", json!(t.df)),
                        ("p_value", json_num(t.p_value)),
                        ("reject", json!(t.p_value < self.threshold)),
                        ("counts", json!(t.counts)),
                        (
                            "expected",
                            json!(t.expected.iter().map(|&e| json_num(e)).collect::<Vec<_>>()),
                        ),
                    ]),
                    None => Node::Value(serde_json::Value::Null),
                };
                (name.clone(), value)
            })
            .collect();
        let s = self.settings;
        let failures: Vec<serde_json::Value> = self
            .failures
            .iter()
            .map(|(rep, e)| json!({"rep": rep, "error": e}))
            .collect();
        let mut top: Vec<(String, Node)> = [
            ("model", json!(model.display().to_string())),
            ("fit_model", json!(fit_model.display().to_string())),
            ("data", json!(data.display().to_string())),
            ("reps", json!(reps)),
            ("reps_completed", json!(self.completed)),
            ("reps_failed", json!(self.failures.len())),
            ("seed", json!(s.seed)),
            ("chains", json!(s.chains)),
            ("warmup", json!(s.warmup)),
            ("draws", json!(s.draws)),
            ("thin", json!(s.thin)),
            ("max_rank", json!(s.max_rank)),
            ("bins", json!(self.bins)),
            ("alpha", json!(self.alpha)),
            ("bonferroni_threshold", json_num(self.threshold)),
            ("reject", json!(self.reject)),
            (
                "verdict",
                json!(if self.reject {
                    "miscalibrated"
                } else {
                    "calibrated"
                }),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), Node::Value(v)))
        .collect();
        top.push(("parameters".into(), Node::Map(parameters)));
        for (k, v) in [
            ("divergences", json!(self.divergences)),
            ("reps_with_divergences", json!(self.reps_with_divergences)),
            ("reps_refit", json!(self.reps_refit)),
            ("reps_with_low_ess", json!(self.reps_with_low_ess)),
            ("failures", json!(failures)),
            ("replication_seconds", json_num(self.replication_seconds)),
            ("wall_seconds", json_num(self.wall_seconds)),
        ] {
            top.push((k.into(), Node::Value(v)));
        }
        serde_json::to_string_pretty(&Node::Map(top)).expect("JSON of plain values")
    }

    fn table(&self, model: &Path) -> String {
        let s = self.settings;
        let mut out = format!(
            "SBC of {}: {} replications ({} failed), ranks 0..{} from every {} of {} x {} draws, \
             {} bins\n",
            model.display(),
            self.completed,
            self.failures.len(),
            s.max_rank,
            s.thin,
            s.chains,
            s.draws,
            self.bins
        );
        let width = self
            .tests
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(0)
            .max(9);
        out += &format!(
            "{:<width$}  {:>9}  {:>8}  {:<7}  histogram\n",
            "parameter", "chi2", "p-value", "verdict"
        );
        for (name, test) in &self.tests {
            match test {
                Some(t) => {
                    out += &format!(
                        "{name:<width$}  {:>9.2}  {:>8}  {:<7}  {}\n",
                        t.chi_square,
                        format_p(t.p_value),
                        if t.p_value < self.threshold {
                            "REJECT"
                        } else {
                            "ok"
                        },
                        sparkline(&t.counts)
                    )
                }
                None => out += &format!("{name:<width$}  {:>9}  {:>8}  no ranks\n", "-", "-"),
            }
        }
        if self.divergences > 0 {
            out += &format!(
                "warning: {} divergent transitions in {} replications\n",
                self.divergences, self.reps_with_divergences
            );
        }
        if self.reps_refit > 0 {
            out += &format!(
                "note: {} replications were refit with more draws (bulk ESS below {})\n",
                self.reps_refit, s.max_rank
            );
        }
        if self.reps_with_low_ess > 0 {
            out += &format!(
                "warning: {} replications kept a bulk ESS below {} after {} refits \
                 (autocorrelated ranks can fail the test by themselves); consider more --draws \
                 or --max-refits\n",
                self.reps_with_low_ess, s.max_rank, s.max_refits
            );
        }
        out += &format!(
            "verdict: {} (Bonferroni: p < {:.2e} = {} / {} parameters rejects); {:.1} s of \
             replications, {:.1} s wall\n",
            if self.reject {
                "MISCALIBRATED"
            } else {
                "calibrated"
            },
            self.threshold,
            self.alpha,
            self.tests.len(),
            self.replication_seconds,
            self.wall_seconds
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn json_objects_keep_insertion_order() {
        let node = Node::map([("theta[10]", 1.into()), ("theta[2]", 2.into())]);
        let text = serde_json::to_string(&node).unwrap();
        assert_eq!(text, r#"{"theta[10]":1,"theta[2]":2}"#);
    }

    #[test]
    fn small_p_values_stay_readable() {
        assert_eq!(format_p(0.52241), "0.5224");
        assert_eq!(format_p(3.2e-9), "3.2e-9");
        assert_eq!(sparkline(&[0, 5, 10]), "▁▅█");
    }

    #[test]
    fn replication_seeds_differ() {
        let seeds: BTreeSet<u64> = (1..=1000).map(|r| rep_seed(1, r)).collect();
        assert_eq!(seeds.len(), 1000);
        assert_ne!(rep_seed(1, 1), rep_seed(2, 1));
    }
}
