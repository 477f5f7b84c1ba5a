//! `sbc`: simulation-based calibration (Talts, Betancourt, Simpson, Vehtari, Gelman 2018).
//!
//! Each replication draws parameters and data from the prior predictive of MODEL
//! (`Model::simulate`; the library part is `refinestat_workflow::sbc`), refits the model (or `--fit-model`) to the simulated data with NUTS, and
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
use crate::fit::model_stem;
use rayon::prelude::*;
use refinestat_workflow::sbc::{
    default_bins, fingerprint, parse_ranks_line, rank_plan, ranks_header, ranks_line, replicate,
    uniformity_test, Plan, RepResult, Settings, UniformityTest,
};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

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
}
