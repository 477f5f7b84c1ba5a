//! `refinestat spfn ...`: the SPFN corpus commands (flags and printing; the work is in
//! `refinestat-spfn`).

use crate::error::{emit, CliError, Result};
use clap::Subcommand;
use refinestat_spfn::{CorpusConfig, MetaPrior, RunOptions, SplitConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SpfnCommand {
    /// Write a corpus of (program, prior-predictive dataset) training pairs as shards.
    Corpus {
        /// Programs drawn from the meta-prior (human corpus + augmentations).
        #[arg(long)]
        programs: u64,
        /// Datasets simulated per program.
        #[arg(long)]
        datasets_per_program: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output directory (a rerun with the same flags resumes it).
        #[arg(long)]
        out: PathBuf,
        /// Worker threads (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
        /// Only this part of the units, `I/N` (0-based I), e.g. for a Slurm job array.
        #[arg(long)]
        shard: Option<String>,
        /// Split configuration (JSON; default: the one shipped in crates/spfn/corpus/split.json).
        #[arg(long)]
        split_config: Option<PathBuf>,
        /// Programs per shard (default: about 1024 pairs per shard).
        #[arg(long)]
        programs_per_shard: Option<u64>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Counts of a corpus by family, label, size, split and rejection reason.
    Stats {
        /// The corpus directory.
        dir: PathBuf,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(cmd: SpfnCommand) -> Result<ExitCode> {
    match cmd {
        SpfnCommand::Corpus {
            programs,
            datasets_per_program,
            seed,
            out,
            jobs,
            shard,
            split_config,
            programs_per_shard,
            quiet,
        } => cmd_corpus(
            programs,
            datasets_per_program,
            seed,
            &out,
            jobs,
            shard.as_deref(),
            split_config.as_deref(),
            programs_per_shard,
            quiet,
        ),
        SpfnCommand::Stats { dir, json } => cmd_stats(&dir, json),
    }
}

fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let bad = || CliError::new(format!("--shard {s}: expected I/N with 0 <= I < N"));
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (u64, u64) = (
        i.trim().parse().map_err(|_| bad())?,
        n.trim().parse().map_err(|_| bad())?,
    );
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

#[allow(clippy::too_many_arguments)]
fn cmd_corpus(
    programs: u64,
    k: u64,
    seed: u64,
    out: &Path,
    jobs: Option<usize>,
    shard: Option<&str>,
    split_config: Option<&Path>,
    programs_per_shard: Option<u64>,
    quiet: bool,
) -> Result<ExitCode> {
    if programs == 0 || k == 0 {
        return Err(CliError::new(
            "--programs and --datasets-per-program must be at least 1",
        ));
    }
    let shard = shard.map(parse_shard).transpose()?;
    let split = match split_config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| CliError::new(format!("cannot read {}: {e}", p.display())))?;
            serde_json::from_str::<SplitConfig>(&text).map_err(|e| {
                CliError::new(format!("{}: not a split configuration: {e}", p.display()))
            })?
        }
        None => SplitConfig::default_config(),
    };
    let prior = MetaPrior::default_prior().map_err(|e| CliError::new(e.to_string()))?;
    let cfg = CorpusConfig::new(programs, k, seed, programs_per_shard, split);
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let opts = RunOptions {
        out: out.to_path_buf(),
        jobs,
        shard,
    };
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(programs * k);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {pos}/{len} pairs ({per_sec}, eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    };
    let start = std::time::Instant::now();
    let report = refinestat_spfn::corpus::run(&prior, &cfg, &opts, &|n| bar.inc(n))
        .map_err(|e| CliError::new(e.to_string()))?;
    bar.finish_and_clear();
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let secs = start.elapsed().as_secs_f64();
    emit(&format!(
        "{}: {} units ({} written, {} already present), {} pairs written in {:.1} s \
         ({:.0} pairs/s, {:.0} bytes/pair)\n",
        out.display(),
        report.units_total,
        report.units_written,
        report.units_skipped,
        report.records_written,
        secs,
        report.records_written as f64 / secs.max(1e-9),
        report.bytes_written as f64 / (report.records_written.max(1)) as f64,
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_stats(dir: &Path, json: bool) -> Result<ExitCode> {
    if !dir.is_dir() {
        return Err(CliError::new(format!(
            "{} is not a corpus directory",
            dir.display()
        )));
    }
    let st = refinestat_spfn::corpus::stats(dir).map_err(|e| CliError::new(e.to_string()))?;
    for s in &st.skipped {
        eprintln!("warning: {s}; skipped");
    }
    if json {
        emit(&(serde_json::to_string_pretty(&st).expect("plain values") + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let out = st.table();
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
