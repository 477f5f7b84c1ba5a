//! `experiment`: the grid lm x arm x dataset x seed of `synth` runs, resumable, and its analysis.
//!
//! An arm is a mode with its settings ([`Arm`]): with one temperature and nothing switched off
//! it is just the mode (`refinestat`); `--without` names it `refinestat-without-support+type`,
//! `--ablation` gives the arms `refinestat` (full), `refinestat-without-<pred>` for each of the
//! six predicates and `refinestat-grammar-only`, and several temperatures add `-t<T>`.
//! Each cell is one `synth` run (crate::synth::run_synth) into `DIR/<lm>/<arm>/<dataset>/seed_N/`;
//! a cell is finished when seed_N/done.json exists (written last, atomically). A rerun of the
//! same command skips finished cells and redoes unfinished ones from scratch; DIR/config.json
//! pins the grid and settings, and a rerun with different ones is refused. After the grid, the
//! top-level files, the per-(lm, mode, dataset) best programs and DIR/analysis/ are regenerated
//! from every finished cell.
//!
//! `--shard I/N` runs only the cells shard I owns (crate::shard) and writes no analysis;
//! `--merge` runs no cell and writes the analysis; `--emit-slurm` pins config.json and writes the
//! sbatch job array of the shards.

use crate::error::{emit, CliError, Result};
use crate::source::DataSource;
use crate::synth::{
    check_temperature, normalized, run_synth, temperature_help, RefineFlags, SynthArgs,
};
use refinestat_inference::SamplerConfig;
use refinestat_language::Predicate;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::refine::config_for_mode;
use refinestat_synthesis::{RefineConfig, RefineStop, StopReason};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Flags of `experiment`.
#[derive(Debug, clap::Args)]
pub struct ExperimentArgs {
    /// Seeds: ranges and lists, e.g. 1-10 or 1,3,5-10.
    #[arg(long)]
    pub seeds: String,
    /// Shipped datasets (comma-separated; default: all five).
    #[arg(long, value_delimiter = ',')]
    pub datasets: Vec<String>,
    /// Proposal models (comma-separated or repeated), as `synth --lm`.
    #[arg(long, value_delimiter = ',', default_value = "builtin")]
    pub lm: Vec<String>,
    /// Modes (comma-separated or repeated): refinestat, iterative, syntax, standard.
    #[arg(long, value_delimiter = ',', default_value = "refinestat")]
    pub mode: Vec<String>,
    /// The variable to model in every dataset (repeatable); default: decided per dataset from
    /// its data, as `synth` does.
    #[arg(long = "response", value_name = "NAME")]
    pub response: Vec<String>,
    /// Sampling temperatures (comma-separated or repeated): each is a further arm of the grid
    /// (see `synth --help` for the default).
    #[arg(long, value_delimiter = ',', default_value = "1", long_help = concat!(
        "Sampling temperatures (comma-separated or repeated): with several, each is an arm of \
         the grid, named <mode>-t<T>. ",
        temperature_help!()
    ))]
    pub temperature: Vec<f64>,
    /// The paper's ablation: run the grid once per switched-off predicate (parse,
    /// distribution, parameter, dependency, support, type), plus the full system and the
    /// grammar-only baseline (all five semantic predicates off), in refinestat mode; the
    /// analysis gains analysis/ablation.csv and ablation.txt.
    #[arg(long, conflicts_with = "without")]
    pub ablation: bool,
    #[command(flatten)]
    pub run: RefineFlags,
    /// The experiment directory (created; a rerun with the same flags resumes it).
    #[arg(long, alias = "output")]
    pub output_dir: PathBuf,
    /// Start afresh in a directory holding an experiment with other settings: its files are
    /// removed first (otherwise refused).
    #[arg(long, conflicts_with = "shard")]
    pub overwrite: bool,
    /// Run only shard I of N, numbered from 0 (0/4 to 3/4, as `spfn corpus --shard` and
    /// Slurm's array task ids): the grid's cells, counted from 0 in the order lm, arm, dataset,
    /// seed, are dealt round-robin, cell k to shard k mod N.
    /// Shards may run at the same time into the same --output-dir (each skips its finished
    /// cells, as a rerun does); a shard writes no analysis: --merge (or a plain rerun) does.
    #[arg(long, value_name = "I/N", value_parser = crate::shard::parse_shard)]
    pub shard: Option<crate::shard::Shard>,
    /// Run no cell: write the analysis from the finished cells in --output-dir (after the
    /// shards). Exit 1 when cells are unfinished (the analysis then covers the others).
    #[arg(long, conflicts_with_all = ["shard", "emit_slurm", "overwrite"])]
    pub merge: bool,
    // --emit-slurm also pins the grid in --output-dir (config.json).
    #[command(flatten)]
    pub slurm: crate::shard::SlurmArgs,
}

/// Parses `1-10`, `1,3,5-10`: sorted, without repeats.
pub fn parse_seeds(text: &str) -> std::result::Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim) {
        let bad = || format!("bad seed list `{text}` (expected e.g. 1-10 or 1,3,5-10)");
        if let Some((lo, hi)) = part.split_once('-') {
            let lo: u64 = lo.trim().parse().map_err(|_| bad())?;
            let hi: u64 = hi.trim().parse().map_err(|_| bad())?;
            if lo > hi {
                return Err(bad());
            }
            if hi - lo >= 100_000 {
                return Err(format!("seed range `{part}` is too long"));
            }
            seeds.extend(lo..=hi);
        } else {
            seeds.push(part.parse().map_err(|_| bad())?);
        }
    }
    seeds.sort_unstable();
    seeds.dedup();
    Ok(seeds)
}

/// A directory name for an lm spec (`local:/a/b` -> `local__a_b`).
fn lm_dir(lm: &str) -> String {
    lm.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> CliError {
    CliError::new(format!("cannot {what} {}: {e}", path.display()))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_err("write", path, e))
}

/// Writes via a temporary file and a rename, so a reader sees the whole file or none (the
/// temporary name is the process's own: shards may write the same file at once).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let name = path
        .file_name()
        .map_or_else(|| "file".to_string(), |n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    write(&tmp, text)?;
    std::fs::rename(&tmp, path).map_err(|e| io_err("rename into", path, e))
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).expect("JSON of plain values") + "\n"
}

struct Grid {
    lms: Vec<String>,
    arms: Vec<Arm>,
    datasets: Vec<String>,
    seeds: Vec<u64>,
}

/// One column of the grid: a mode, the predicates switched off, a temperature, and the name
/// its cells go under (the `mode` column of the analysis).
#[derive(Debug, Clone, PartialEq)]
struct Arm {
    mode: String,
    without: Vec<Predicate>,
    temperature: f64,
    /// The directory name and the analysis's `mode` column.
    label: String,
    /// In an ablation: `full`, `grammar-only`, or the predicate switched off.
    removed: Option<String>,
}

/// The predicates the grammar-only baseline switches off: all but parse.
const SEMANTIC: [Predicate; 5] = [
    Predicate::Distribution,
    Predicate::Parameter,
    Predicate::Dependency,
    Predicate::Support,
    Predicate::Type,
];

/// The arms of the grid: each mode (or the ablation's variants of it) at each temperature.
fn arms(modes: &[String], without: &[Predicate], temps: &[f64], ablation: bool) -> Vec<Arm> {
    // (mode, label, predicates off, what the ablation removed)
    let mut variants: Vec<(&str, String, Vec<Predicate>, Option<String>)> = Vec::new();
    for mode in modes {
        if ablation {
            variants.push((mode, mode.clone(), Vec::new(), Some("full".to_string())));
            for p in Predicate::ALL {
                variants.push((
                    mode,
                    format!("{mode}-without-{p}"),
                    vec![p],
                    Some(p.as_str().to_string()),
                ));
            }
            variants.push((
                mode,
                format!("{mode}-grammar-only"),
                SEMANTIC.to_vec(),
                Some("grammar-only".to_string()),
            ));
        } else if without.is_empty() {
            variants.push((mode, mode.clone(), Vec::new(), None));
        } else {
            let names: Vec<&str> = without.iter().map(|p| p.as_str()).collect();
            let label = format!("{mode}-without-{}", names.join("+"));
            variants.push((mode, label, without.to_vec(), None));
        }
    }
    let mut out = Vec::new();
    for (mode, label, without, removed) in variants {
        for &t in temps {
            out.push(Arm {
                mode: mode.to_string(),
                without: without.clone(),
                temperature: t,
                label: if temps.len() > 1 {
                    format!("{label}-t{t}")
                } else {
                    label.clone()
                },
                removed: removed.clone(),
            });
        }
    }
    out
}

/// One cell's done.json.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CellRecord {
    lm: String,
    mode: String,
    dataset: String,
    seed: u64,
    /// A program reached the reliability threshold.
    valid: bool,
    /// The chosen program's score; without one, the highest score any fit reached (0 if none).
    score: u8,
    /// The chosen program's ELPD-LOO.
    elpd_loo: Option<f64>,
    /// Tokens drawn from the proposal model over the run.
    tokens: usize,
    wall_s: f64,
    /// Distinguishes reruns of the same cell.
    run_id: String,
    /// Attempts the loop made, and how many of them ran: their program compiled and its fit
    /// finished (a cached attempt counts as its fit did). Absent in cells written before these
    /// were recorded.
    #[serde(default)]
    attempts: usize,
    #[serde(default)]
    ran: usize,
    /// Predicates switched off in this cell (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    without: Vec<Predicate>,
}

fn cell_dir(out: &Path, lm: &str, mode: &str, ds: &str, seed: u64) -> PathBuf {
    group_dir(out, lm, mode, ds).join(format!("seed_{seed}"))
}

fn group_dir(out: &Path, lm: &str, mode: &str, ds: &str) -> PathBuf {
    out.join(lm_dir(lm)).join(mode).join(ds)
}

fn read_done(dir: &Path) -> Option<CellRecord> {
    let text = std::fs::read_to_string(dir.join("done.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn grid_is_empty(seeds: &[u64], lms: &[String], modes: &[String]) -> bool {
    seeds.is_empty() || lms.is_empty() || modes.is_empty()
}

fn run_id() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}-{nanos}", std::process::id())
}

pub fn cmd_experiment(args: &ExperimentArgs) -> Result<ExitCode> {
    let seeds = parse_seeds(&args.seeds).map_err(CliError::new)?;
    let datasets = if args.datasets.is_empty() {
        DATASET_NAMES.iter().map(|s| s.to_string()).collect()
    } else {
        args.datasets.clone()
    };
    for ds in &datasets {
        if dataset(ds).is_none() {
            return Err(CliError::new(format!(
                "unknown dataset `{ds}` (shipped: {})",
                DATASET_NAMES.join(", ")
            )));
        }
    }
    // Checked here, before config.json pins the flags, so a typo does not lock the directory.
    args.run.validate()?;
    if args.run.rmax == 0 || args.run.beta == 0 {
        return Err(CliError::new("--rmax and --beta must be at least 1"));
    }
    SamplerConfig {
        chains: args.run.chains,
        warmup: args.run.warmup,
        draws: args.run.draws,
        ..SamplerConfig::default()
    }
    .validate()
    .map_err(|e| CliError::new(e.to_string()))?;
    if grid_is_empty(&seeds, &args.lm, &args.mode) || args.temperature.is_empty() {
        return Err(CliError::new("the grid is empty"));
    }
    let probe = RefineConfig::default();
    for mode in &args.mode {
        config_for_mode(mode, probe.clone()).map_err(CliError::new)?;
    }
    for (i, &t) in args.temperature.iter().enumerate() {
        check_temperature(t)?;
        if args.temperature[..i].contains(&t) {
            return Err(CliError::new(format!("--temperature lists {t} twice")));
        }
    }
    if args.ablation && args.mode.iter().any(|m| m != "refinestat") {
        return Err(CliError::new(
            "--ablation switches predicates off one at a time in refinestat mode; \
             give no --mode other than refinestat",
        ));
    }
    let without = normalized(&args.run.without);
    let arms = arms(&args.mode, &without, &args.temperature, args.ablation);
    for arm in &arms {
        let mut config = config_for_mode(&arm.mode, probe.clone()).map_err(CliError::new)?;
        config.decode.without = arm.without.clone();
        config
            .decode
            .validate()
            .map_err(|e| CliError::new(format!("--mode {}: {e}", arm.mode)))?;
    }
    let mut dirs: Vec<String> = args.lm.iter().map(|l| lm_dir(l)).collect();
    dirs.sort();
    dirs.dedup();
    if dirs.len() != args.lm.len() {
        return Err(CliError::new(
            "two --lm specs map to the same directory name",
        ));
    }
    let grid = Grid {
        lms: args.lm.clone(),
        arms,
        datasets,
        seeds,
    };
    let temperature = match args.temperature.as_slice() {
        [one] => serde_json::json!(one),
        several => serde_json::json!(several),
    };
    let mut config = serde_json::json!({
        "lm": grid.lms, "mode": args.mode, "datasets": grid.datasets, "seeds": grid.seeds,
        "temperature": temperature, "chains": args.run.chains, "warmup": args.run.warmup,
        "draws": args.run.draws, "rmax": args.run.rmax, "alpha": args.run.alpha, "beta": args.run.beta,
        "k": args.run.k, "select": args.run.select.as_str(), "time_budget": args.run.time_budget,
    });
    // Only when used, so the configuration of a full-system grid stays as it was.
    if !without.is_empty() {
        config["without"] = serde_json::json!(without);
    }
    if args.ablation {
        config["ablation"] = serde_json::json!(true);
        config["arms"] = serde_json::json!(grid
            .arms
            .iter()
            .map(|a| serde_json::json!({
                "name": a.label, "mode": a.mode, "without": a.without,
                "temperature": a.temperature,
            }))
            .collect::<Vec<_>>());
    }
    let total = grid.lms.len() * grid.arms.len() * grid.datasets.len() * grid.seeds.len();
    if let Some(n) = args.slurm.shards.filter(|&n| n as usize > total) {
        return Err(CliError::new(format!(
            "--shards {n} is more than the grid's {total} cells"
        )));
    }
    let out = &args.output_dir;
    let config_path = out.join("config.json");
    if args.merge && !config_path.exists() {
        return Err(CliError::new(format!(
            "--merge: {} holds no experiment (no config.json); run the grid or its shards first",
            out.display()
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| io_err("create", out, e))?;
    let old_config = std::fs::read_to_string(&config_path)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
    if args.overwrite && old_config.as_ref() != Some(&config) {
        crate::outdir::remove(&crate::outdir::EXPERIMENT.present(out))?;
        // Cells live under one directory per proposal model, of the old grid and the new.
        let old_lms: Vec<String> = old_config
            .as_ref()
            .and_then(|c| c.get("lm")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect();
        for lm in grid.lms.iter().chain(&old_lms) {
            let dir = out.join(lm_dir(lm));
            if dir.is_dir() {
                crate::outdir::remove(&[dir])?;
            }
        }
    }
    match std::fs::read_to_string(&config_path) {
        Ok(text) => {
            let old: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                CliError::new(format!("{} is not JSON: {e}", config_path.display()))
            })?;
            if old != config {
                return Err(CliError::new(format!(
                    "{} holds an experiment with other settings; use another --output-dir, the same \
                     flags, or --overwrite (there: {old}; now: {config})",
                    out.display()
                )));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            write_atomic(&config_path, &pretty(&config))?
        }
        Err(e) => return Err(io_err("read", &config_path, e)),
    }

    if let Some(file) = &args.slurm.emit_slurm {
        return emit_slurm(args, file, total);
    }
    if args.merge {
        return merge(args, &grid, total);
    }
    let mut i = 0;
    let (mut skipped, mut ran) = (0, 0);
    for lm in &grid.lms {
        for arm in &grid.arms {
            let mode = &arm.label;
            for ds in &grid.datasets {
                for &seed in &grid.seeds {
                    i += 1;
                    if args.shard.is_some_and(|s| !s.owns(i - 1)) {
                        continue;
                    }
                    let dir = cell_dir(out, lm, mode, ds, seed);
                    let label = format!("lm={lm} mode={mode} dataset={ds} seed={seed}");
                    if read_done(&dir).is_some() {
                        eprintln!("[cell {i}/{total}] {label}: finished earlier, skipped");
                        skipped += 1;
                        continue;
                    }
                    if dir.exists() {
                        std::fs::remove_dir_all(&dir)
                            .map_err(|e| io_err("remove partial cell", &dir, e))?;
                    }
                    let record = run_cell(args, lm, arm, ds, seed, &dir)?;
                    write_atomic(
                        &dir.join("done.json"),
                        &(serde_json::to_string_pretty(&record).expect("plain values") + "\n"),
                    )?;
                    ran += 1;
                    eprintln!(
                        "[cell {i}/{total}] {label}: {} (score {}/7, elpd_loo {}, {} tokens, {:.1} s)",
                        if record.valid { "valid" } else { "no valid program" },
                        record.score,
                        record
                            .elpd_loo
                            .map_or("undefined".to_string(), |e| format!("{e:.2}")),
                        record.tokens,
                        record.wall_s
                    );
                }
            }
        }
    }
    if let Some(shard) = args.shard {
        eprintln!(
            "experiment: shard {shard}: {ran} cells run, {skipped} skipped; when every shard \
             has finished, the same command with --merge instead of --shard writes the analysis"
        );
        return Ok(ExitCode::SUCCESS);
    }
    let finished = write_analysis(out, &grid)?;
    print_tables(args, out)?;
    eprintln!(
        "experiment: {ran} cells run, {skipped} skipped, {finished}/{total} finished; see {}",
        out.join("analysis").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints the aggregated table (and the ablation table) the analysis wrote.
fn print_tables(args: &ExperimentArgs, out: &Path) -> Result<()> {
    let mut table = std::fs::read_to_string(out.join("analysis/aggregated_summary.txt"))
        .map_err(|e| io_err("read", &out.join("analysis/aggregated_summary.txt"), e))?;
    if args.ablation {
        let path = out.join("analysis/ablation.txt");
        let ablation = std::fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
        table = format!("{table}\n{ablation}");
    }
    emit(&table)
}

/// `--merge`: the analysis of the finished cells on disk; exit 1 naming the unfinished ones.
fn merge(args: &ExperimentArgs, grid: &Grid, total: usize) -> Result<ExitCode> {
    let out = &args.output_dir;
    let finished = write_analysis(out, grid)?;
    print_tables(args, out)?;
    let mut missing = Vec::new();
    for lm in &grid.lms {
        for arm in &grid.arms {
            for ds in &grid.datasets {
                for &seed in &grid.seeds {
                    if read_done(&cell_dir(out, lm, &arm.label, ds, seed)).is_none() {
                        missing.push(format!(
                            "lm={lm} mode={} dataset={ds} seed={seed}",
                            arm.label
                        ));
                    }
                }
            }
        }
    }
    if missing.is_empty() {
        eprintln!(
            "experiment: merged {finished}/{total} cells; see {}",
            out.join("analysis").display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let shown = missing.len().min(5);
    eprintln!(
        "experiment: merged {finished}/{total} cells; {} unfinished ({}{}): rerun their shards, \
         or the command without --merge to run them here",
        missing.len(),
        missing[..shown].join("; "),
        if missing.len() > shown { "; ..." } else { "" }
    );
    Ok(ExitCode::from(1))
}

/// `--emit-slurm FILE`: the sbatch script of a job array running this command's shards.
fn emit_slurm(args: &ExperimentArgs, file: &Path, total: usize) -> Result<ExitCode> {
    let count = args.slurm.shards.map_or(total, |n| n as usize);
    let out = std::path::absolute(&args.output_dir)
        .map_err(|e| io_err("resolve the path", &args.output_dir, e))?;
    let about = [
        format!(
            "refinestat experiment into {}: {total} cells in {count} shards; array task I \
             (0 to {}) runs shard I/{count}.",
            out.display(),
            count - 1
        ),
        "Submit with `sbatch THIS_FILE`; after the tasks, the same command with --merge".into(),
        "(or without --emit-slurm, which also runs any cell left unfinished) writes the".into(),
        "analysis. Resubmit a failed task I with `sbatch --array=I THIS_FILE`: it skips its".into(),
        "finished cells and redoes an unfinished one.".into(),
    ];
    crate::shard::emit_array(
        &args.slurm,
        file,
        "refinestat-experiment",
        count,
        &out,
        &about,
        &[("--overwrite", false)],
    )?;
    eprintln!(
        "experiment: wrote {} (an array of {count} shards over {total} cells); submit it with \
         `sbatch {}`, then run this command with --merge instead of --emit-slurm",
        file.display(),
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn run_cell(
    args: &ExperimentArgs,
    lm: &str,
    arm: &Arm,
    ds: &str,
    seed: u64,
    dir: &Path,
) -> Result<CellRecord> {
    let mode = &arm.label;
    let mut run = args.run.clone();
    run.without = arm.without.clone();
    let synth_args = SynthArgs {
        source: DataSource {
            dataset: Some(ds.to_string()),
            data: None,
            describe: None,
            response: args.response.clone(),
            lm: lm.to_string(),
        },
        mode: arm.mode.clone(),
        seed,
        output_dir: Some(dir.to_path_buf()),
        // The cell's directory belongs to the experiment: an unfinished cell is rerun afresh.
        overwrite: true,
        temperature: arm.temperature,
        run,
    };
    let run = run_synth(&synth_args, false)?;
    let outcome = &run.outcome;
    // A model that failed (a server down through its retries) fails every cell: stop the grid
    // without recording this cell, so a rerun resumes here.
    if outcome.stop == RefineStop::ModelError {
        let why = outcome
            .attempts
            .last()
            .and_then(|a| match &a.generation {
                StopReason::ModelError(e) => Some(e.as_str()),
                _ => None,
            })
            .unwrap_or("");
        return Err(CliError::new(format!(
            "lm={lm} mode={mode} dataset={ds} seed={seed}: the proposal model failed: {why}"
        )));
    }
    let best = outcome.best.and_then(|b| outcome.candidates.get(b));
    let score = match best {
        Some(c) => c.assessment.score,
        None => outcome
            .candidates
            .iter()
            .map(|c| c.assessment.score)
            .max()
            .unwrap_or(0),
    };
    Ok(CellRecord {
        lm: lm.to_string(),
        mode: mode.to_string(),
        dataset: ds.to_string(),
        seed,
        valid: best.is_some(),
        score,
        elpd_loo: best.and_then(|c| c.assessment.elpd_loo),
        tokens: outcome.tokens.sampled,
        wall_s: (outcome.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        run_id: run_id(),
        attempts: outcome.attempts.len(),
        ran: outcome
            .attempts
            .iter()
            .filter(|a| {
                a.candidate
                    .and_then(|i| outcome.candidates.get(i))
                    .is_some_and(|c| c.assessment.error.is_none())
            })
            .count(),
        without: arm.without.clone(),
    })
}

/// The better of two valid cells: higher ELPD-LOO, then higher score, then lower seed.
fn better(a: &CellRecord, b: &CellRecord) -> bool {
    let ea = a.elpd_loo.unwrap_or(f64::NEG_INFINITY);
    let eb = b.elpd_loo.unwrap_or(f64::NEG_INFINITY);
    ea > eb || (ea == eb && a.score > b.score)
}

fn fmt_opt(x: Option<f64>) -> String {
    x.map_or(String::new(), |v| format!("{v:.4}"))
}

/// Mean and sample standard deviation (n - 1); the deviation is undefined below two values.
fn mean_std(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (Some(mean), None);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (Some(mean), Some(var.sqrt()))
}

fn copy_or_remove(from: &Path, to: &Path) -> Result<()> {
    if from.exists() {
        std::fs::copy(from, to).map_err(|e| io_err("copy to", to, e))?;
    } else if to.exists() {
        std::fs::remove_file(to).map_err(|e| io_err("remove", to, e))?;
    }
    Ok(())
}

/// Regenerates the top-level files, best programs and analysis/ from the finished cells;
/// returns how many cells are finished.
fn write_analysis(out: &Path, grid: &Grid) -> Result<usize> {
    let analysis = out.join("analysis");
    std::fs::create_dir_all(&analysis).map_err(|e| io_err("create", &analysis, e))?;
    let mut all = String::from("lm,mode,dataset,seed,valid,score,elpd_loo,tokens,wall_s\n");
    let mut best_csv =
        String::from("lm,mode,dataset,best_seed,valid,score,elpd_loo,tokens,wall_s\n");
    let mut agg = String::from(
        "lm,mode,dataset,seeds_finished,run_rate,score_mean,score_std,elpd_loo_mean,elpd_loo_std,tokens_mean,tokens_std\n",
    );
    // Arm names longer than a mode (refinestat-without-support) widen their column.
    let mw = grid
        .arms
        .iter()
        .map(|a| a.label.len())
        .max()
        .unwrap_or(0)
        .max(11);
    let mut table = format!(
        "{:<12} {:<mw$} {:<14} {:>5} {:>8} {:>13} {:>20} {:>18}\n",
        "lm", "mode", "dataset", "seeds", "run rate", "score", "elpd_loo", "tokens"
    );
    let mut runs = Vec::new();
    let mut cumulative = Vec::new();
    let mut total_tokens = serde_json::Map::new();
    let (mut sum_sampled, mut max_sampled) = (0usize, 0usize);
    let mut finished = 0;
    let mut valid_total = 0;
    // Every finished cell's record by (lm, arm, dataset), for the ablation table.
    let mut by_group: Vec<(&str, &Arm, &str, Vec<CellRecord>)> = Vec::new();
    for lm in &grid.lms {
        for arm in &grid.arms {
            let mode = &arm.label;
            for ds in &grid.datasets {
                let mut records = Vec::new();
                for &seed in &grid.seeds {
                    let dir = cell_dir(out, lm, mode, ds, seed);
                    let Some(r) = read_done(&dir) else { continue };
                    let usage: serde_json::Value =
                        std::fs::read_to_string(dir.join("token_usage.json"))
                            .ok()
                            .and_then(|t| serde_json::from_str(&t).ok())
                            .unwrap_or(serde_json::Value::Null);
                    let tokens = usage
                        .get("tokens")
                        .cloned()
                        .unwrap_or(serde_json::Value::Null);
                    for key in ["prompt", "sampled", "accepted", "rejected"] {
                        let v = tokens.get(key).and_then(|v| v.as_u64()).unwrap_or(0);
                        let entry = total_tokens.entry(key).or_insert(serde_json::json!(0));
                        *entry = serde_json::json!(entry.as_u64().unwrap_or(0) + v);
                    }
                    sum_sampled += r.tokens;
                    max_sampled = max_sampled.max(r.tokens);
                    runs.push(serde_json::json!({
                        "lm": lm, "mode": mode, "dataset": ds, "seed": seed, "tokens": tokens,
                    }));
                    cumulative.push(serde_json::json!({
                        "lm": lm, "mode": mode, "dataset": ds, "seed": seed,
                        "tokens": r.tokens, "cumulative_tokens": sum_sampled,
                    }));
                    let _ = writeln!(
                        all,
                        "{lm},{mode},{ds},{seed},{},{},{},{},{}",
                        r.valid,
                        r.score,
                        fmt_opt(r.elpd_loo),
                        r.tokens,
                        r.wall_s
                    );
                    records.push(r);
                }
                if records.is_empty() {
                    continue;
                }
                finished += records.len();
                let group = group_dir(out, lm, mode, ds);
                let best = records.iter().filter(|r| r.valid).fold(
                    None::<&CellRecord>,
                    |acc, r| match acc {
                        Some(a) if !better(r, a) => Some(a),
                        _ => Some(r),
                    },
                );
                let source = best.map(|b| cell_dir(out, lm, mode, ds, b.seed));
                for file in ["best_program.stan", "best_program_diagnostics.json"] {
                    match &source {
                        Some(src) => copy_or_remove(&src.join(file), &group.join(file))?,
                        None => copy_or_remove(&group.join("no-such-file"), &group.join(file))?,
                    }
                }
                if let Some(b) = best {
                    let _ = writeln!(
                        best_csv,
                        "{lm},{mode},{ds},{},true,{},{},{},{}",
                        b.seed,
                        b.score,
                        fmt_opt(b.elpd_loo),
                        b.tokens,
                        b.wall_s
                    );
                } else {
                    let _ = writeln!(best_csv, "{lm},{mode},{ds},,false,,,,");
                }
                let n_valid = records.iter().filter(|r| r.valid).count();
                valid_total += n_valid;
                let rate = n_valid as f64 / records.len() as f64;
                let scores: Vec<f64> = records.iter().map(|r| f64::from(r.score)).collect();
                let elpds: Vec<f64> = records.iter().filter_map(|r| r.elpd_loo).collect();
                let tokens: Vec<f64> = records.iter().map(|r| r.tokens as f64).collect();
                let (sm, ss) = mean_std(&scores);
                let (em, es) = mean_std(&elpds);
                let (tm, ts) = mean_std(&tokens);
                let _ = writeln!(
                    agg,
                    "{lm},{mode},{ds},{},{rate:.4},{},{},{},{},{},{}",
                    records.len(),
                    fmt_opt(sm),
                    fmt_opt(ss),
                    fmt_opt(em),
                    fmt_opt(es),
                    fmt_opt(tm),
                    fmt_opt(ts)
                );
                let pm = |m: Option<f64>, s: Option<f64>, p: usize| match (m, s) {
                    (Some(m), Some(s)) => format!("{m:.p$} ± {s:.p$}"),
                    (Some(m), None) => format!("{m:.p$}"),
                    _ => "-".to_string(),
                };
                let _ = writeln!(
                    table,
                    "{:<12} {:<mw$} {:<14} {:>5} {:>7.0}% {:>13} {:>20} {:>18}",
                    lm,
                    mode,
                    ds,
                    records.len(),
                    rate * 100.0,
                    pm(sm, ss, 2),
                    pm(em, es, 2),
                    pm(tm, ts, 0)
                );
                by_group.push((lm, arm, ds, records));
            }
        }
    }
    if grid.arms.iter().any(|a| a.removed.is_some()) {
        let (csv, text) = ablation_table(grid, &by_group);
        write(&analysis.join("ablation.csv"), &csv)?;
        write(&analysis.join("ablation.txt"), &text)?;
    }
    write(&analysis.join("all_seeds_best_programs_summary.csv"), &all)?;
    write(&analysis.join("best_programs_summary.csv"), &best_csv)?;
    write(&analysis.join("aggregated_stats.csv"), &agg)?;
    let header = "Mean ± sample std across finished seeds; run rate = share of seeds with a valid \
                  program; elpd_loo over valid seeds only.\n\n";
    write(
        &analysis.join("aggregated_summary.txt"),
        &format!("{header}{table}"),
    )?;
    let total = grid.lms.len() * grid.arms.len() * grid.datasets.len() * grid.seeds.len();
    write(
        &out.join("summary.txt"),
        &format!(
            "refinestat experiment: {} lm x {} mode x {} dataset x {} seed = {total} cells\n\
             finished: {finished}/{total}; with a valid program: {valid_total}\n\
             tokens sampled in all: {sum_sampled}\n\n{header}{table}",
            grid.lms.len(),
            grid.arms.len(),
            grid.datasets.len(),
            grid.seeds.len()
        ),
    )?;
    write(
        &out.join("token_usage.json"),
        &pretty(&serde_json::json!({"total": total_tokens, "runs": runs})),
    )?;
    write(
        &out.join("cumulative_tokens.json"),
        &pretty(&serde_json::json!(cumulative)),
    )?;
    write(
        &out.join("token_budget.json"),
        &pretty(&serde_json::json!({
            "max_tokens_per_run": max_sampled,
            "factor": 1.2,
            "token_budget": (max_sampled as f64 * 1.2).ceil() as usize,
        })),
    )?;
    Ok(finished)
}

/// Mean of the values present (`None` when there are none).
fn mean(xs: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = xs
        .into_iter()
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The ablation table (analysis/ablation.csv and ablation.txt): for each lm and temperature,
/// each removed predicate's run rate, mean reliability score and ELPD-LOO per dataset and over
/// all datasets, next to the full system's. Δ run rate is in percentage points; Δ elpd is the
/// mean over (dataset, seed) pairs where both the full system and the ablated one found a valid
/// program of the ablated ELPD-LOO minus the full one (ELPD is not comparable across datasets,
/// so the overall row has only this paired difference).
fn ablation_table(grid: &Grid, groups: &[(&str, &Arm, &str, Vec<CellRecord>)]) -> (String, String) {
    let mut csv = String::from(
        "lm,temperature,removed,dataset,seeds_finished,run_rate,run_rate_delta,programs_run,programs_run_delta,score_mean,elpd_loo_mean,elpd_loo_delta_paired,paired_seeds\n",
    );
    let mut text = String::from(
        "Ablation: one validity predicate switched off at a time (grammar-only: all five semantic \
         ones off), next to the full system.\nrun rate = share of seeds with a valid program (Δ in \
         points from the full system); programs run = share of all attempts whose program \
         compiled and whose fit finished (the paper's run rate; Δ in points); score = mean reliability score (of 7) of each seed's \
         chosen program, or its best fit; elpd = mean ELPD-LOO over valid seeds; Δ elpd = mean \
         paired difference from the full system over seeds where both are valid.\n",
    );
    let fmt = |x: Option<f64>, p: usize| x.map_or("-".to_string(), |v| format!("{v:.p$}"));
    let temps: Vec<f64> = {
        let mut t: Vec<f64> = Vec::new();
        for a in &grid.arms {
            if !t.contains(&a.temperature) {
                t.push(a.temperature);
            }
        }
        t
    };
    for lm in &grid.lms {
        for &temp in &temps {
            let arms: Vec<&Arm> = grid
                .arms
                .iter()
                .filter(|a| a.temperature == temp && a.removed.is_some())
                .collect();
            let cells = |arm: &Arm, ds: Option<&str>| -> Vec<&CellRecord> {
                groups
                    .iter()
                    .filter(|(l, a, d, _)| {
                        l == lm && a.label == arm.label && ds.is_none_or(|ds| ds == *d)
                    })
                    .flat_map(|(_, _, _, r)| r.iter())
                    .collect()
            };
            let full = arms.iter().find(|a| a.removed.as_deref() == Some("full"));
            let _ = write!(
                text,
                "\nlm {lm}, temperature {temp}\n{:<14} {:<14} {:>5} {:>8} {:>5} {:>12} {:>5} {:>6} {:>10} {:>8} {:>6}\n",
                "removed", "dataset", "seeds", "run rate", "Δ", "programs run", "Δ", "score",
                "elpd", "Δ elpd", "pairs"
            );
            let datasets: Vec<Option<&str>> = grid
                .datasets
                .iter()
                .map(|d| Some(d.as_str()))
                .chain(std::iter::once(None))
                .collect();
            for ds in datasets {
                for arm in &arms {
                    let mine = cells(arm, ds);
                    if mine.is_empty() {
                        continue;
                    }
                    let rate = |rs: &[&CellRecord]| {
                        mean(rs.iter().map(|r| if r.valid { 1.0 } else { 0.0 }))
                    };
                    let run_rate = rate(&mine);
                    let base = full.map(|f| cells(f, ds)).unwrap_or_default();
                    let is_full = arm.removed.as_deref() == Some("full");
                    let delta = if is_full {
                        None
                    } else {
                        rate(&base).zip(run_rate).map(|(b, r)| (r - b) * 100.0)
                    };
                    let runs = |rs: &[&CellRecord]| {
                        let attempts: usize = rs.iter().map(|r| r.attempts).sum();
                        let ran: usize = rs.iter().map(|r| r.ran).sum();
                        (attempts > 0).then(|| ran as f64 / attempts as f64)
                    };
                    let programs_run = runs(&mine);
                    let runs_delta = if is_full {
                        None
                    } else {
                        runs(&base).zip(programs_run).map(|(b, r)| (r - b) * 100.0)
                    };
                    let score = mean(mine.iter().map(|r| f64::from(r.score)));
                    // ELPD is per dataset; the overall row has only the paired difference.
                    let elpd = ds.and_then(|_| mean(mine.iter().filter_map(|r| r.elpd_loo)));
                    let pairs: Vec<f64> = if is_full {
                        Vec::new()
                    } else {
                        mine.iter()
                            .filter_map(|r| {
                                let b = base
                                    .iter()
                                    .find(|b| b.dataset == r.dataset && b.seed == r.seed)?;
                                Some(r.elpd_loo? - b.elpd_loo?)
                            })
                            .collect()
                    };
                    let delta_elpd = mean(pairs.iter().copied());
                    let removed = arm.removed.as_deref().unwrap_or("");
                    let ds_name = ds.unwrap_or("all");
                    let _ = writeln!(
                        csv,
                        "{lm},{temp},{removed},{ds_name},{},{},{},{},{},{},{},{},{}",
                        mine.len(),
                        fmt_opt(run_rate),
                        fmt_opt(delta),
                        fmt_opt(programs_run),
                        fmt_opt(runs_delta),
                        fmt_opt(score),
                        fmt_opt(elpd),
                        fmt_opt(delta_elpd),
                        pairs.len()
                    );
                    let _ = writeln!(
                        text,
                        "{:<14} {:<14} {:>5} {:>7.0}% {:>5} {:>12} {:>5} {:>6} {:>10} {:>8} {:>6}",
                        if is_full { "(none: full)" } else { removed },
                        ds_name,
                        mine.len(),
                        run_rate.unwrap_or(0.0) * 100.0,
                        delta.map_or(String::new(), |d| format!("{d:+.0}")),
                        programs_run.map_or("-".to_string(), |r| format!("{:.0}%", r * 100.0)),
                        runs_delta.map_or(String::new(), |d| format!("{d:+.0}")),
                        fmt(score, 2),
                        fmt(elpd, 2),
                        if is_full {
                            String::new()
                        } else {
                            fmt(delta_elpd, 2)
                        },
                        if is_full {
                            String::new()
                        } else {
                            pairs.len().to_string()
                        },
                    );
                }
            }
        }
    }
    (csv, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_lists_expand_ranges_sort_and_dedup() {
        assert_eq!(parse_seeds("1-3").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_seeds("1,3,5-7").unwrap(), vec![1, 3, 5, 6, 7]);
        assert_eq!(parse_seeds("4, 2-4 ,2").unwrap(), vec![2, 3, 4]);
        for bad in ["", "3-1", "a", "1-", "1,,2", "-3"] {
            assert!(parse_seeds(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mean_and_sample_std() {
        let (m, s) = mean_std(&[2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]);
        assert_eq!(m, Some(5.0));
        // Sum of squared deviations 32 over n - 1 = 7.
        assert!((s.unwrap() - (32.0f64 / 7.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_std(&[3.0]), (Some(3.0), None));
        assert_eq!(mean_std(&[]), (None, None));
    }

    #[test]
    fn lm_specs_become_plain_directory_names() {
        assert_eq!(lm_dir("builtin"), "builtin");
        assert_eq!(lm_dir("local:/a/b.gguf"), "local__a_b.gguf");
        assert_eq!(
            lm_dir("openai:http://h:8/v1#model=x"),
            "openai_http___h_8_v1_model_x"
        );
    }
}
