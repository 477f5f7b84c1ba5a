//! `refinestat spfn ...`: the SPFN corpus commands (flags and printing; the work is in
//! `refinestat-spfn`) and `spfn train`/`spfn eval` (the network, `refinestat-spfn-net`, with
//! the `spfn` feature).

use crate::error::{emit, CliError, Result};
use clap::Subcommand;
use refinestat_spfn::{CorpusConfig, MetaPrior, RunOptions, SplitConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Subcommand)]
pub enum SpfnCommand {
    /// Write a corpus of (program, prior-predictive dataset) training pairs as shards.
    Corpus {
        /// Programs drawn from the meta-prior (human corpus, family library, augmentations).
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
        /// Only the units u with u mod N = I, `I/N` (0 <= I < N), e.g. a task of a Slurm job
        /// array (--emit-slurm); shards may fill one --out at once, and write no manifest:
        /// --merge (or a run without --shard) does.
        #[arg(long, value_name = "I/N")]
        shard: Option<String>,
        /// Write no shard: the manifest and split file from the shards present (after the
        /// --shard runs); exit 1 naming the units still missing.
        #[arg(long, conflicts_with_all = ["shard", "emit_slurm"])]
        merge: bool,
        #[command(flatten)]
        slurm: crate::shard::SlurmArgs,
        /// Split configuration (JSON; default: the one shipped in crates/spfn/corpus/split.json).
        #[arg(long)]
        split_config: Option<PathBuf>,
        /// Programs per shard (default: about 1024 pairs per shard).
        #[arg(long)]
        programs_per_shard: Option<u64>,
        /// The family library's share of the meta-prior's draws, 0 to 1 (the rest are the human
        /// corpus's); pinned in config.json.
        #[arg(long, default_value_t = refinestat_spfn::corpus::DEFAULT_FAMILY_SHARE)]
        family_share: f64,
        /// The share of two-component mixtures of programs with the same observed variable,
        /// 0 to 1; pinned in config.json.
        #[arg(long, default_value_t = refinestat_spfn::corpus::DEFAULT_MIXTURE_SHARE)]
        mixture_share: f64,
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
        /// Also redraw every pair from its seed and compare it with what is stored (exit 1
        /// naming each pair that differs).
        #[arg(long)]
        reproduce: bool,
        /// Worker threads for --reproduce (default: every core).
        #[arg(long)]
        jobs: Option<usize>,
    },
    /// Train the SPFN network on a corpus's train split (needs the `spfn` feature); a rerun
    /// with the same flags resumes from the last checkpoint.
    Train {
        /// The corpus directory (`spfn corpus --out`).
        #[arg(long)]
        corpus: PathBuf,
        /// The model directory (config.json, vocab.json, model.safetensors, loss.csv, ...).
        #[arg(long)]
        out: PathBuf,
        /// Optimizer steps in all.
        #[arg(long, default_value_t = 20_000)]
        steps: u64,
        /// Examples per step.
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Peak learning rate (AdamW; linear warm-up, then cosine decay to a tenth).
        #[arg(long, default_value_t = 1e-3)]
        lr: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Network size: tiny, small (about 1 M parameters) or base (about 4 M).
        #[arg(long, default_value = "small")]
        size: String,
        /// Steps between checkpoints and validation losses.
        #[arg(long, default_value_t = 200)]
        checkpoint_every: u64,
        /// Batches per length bucket (examples sorted by program length within `bucket` batches;
        /// 1: none).
        #[arg(long, default_value_t = 8)]
        bucket: usize,
        /// Keep whitespace runs as lexemes of the targets (the first models; slower).
        #[arg(long)]
        whitespace: bool,
        /// Start from this model directory's weights (those that fit: same names and shapes,
        /// and the rows of the lexemes both vocabularies hold).
        #[arg(long)]
        init: Option<PathBuf>,
        /// No progress bar.
        #[arg(long)]
        quiet: bool,
    },
    /// Recovery of the generating structure (constants abstracted), program and likelihood on a
    /// corpus split from sampled programs, with calibration, beside the builtin proposer on the
    /// same pairs (needs the `spfn` feature).
    Eval {
        /// The model directory (`spfn train --out`).
        #[arg(long)]
        model: PathBuf,
        /// The corpus directory.
        #[arg(long)]
        corpus: PathBuf,
        /// train, validation, test, heldout-family or heldout-range.
        #[arg(long, default_value = "test")]
        split: String,
        /// Pairs evaluated at most (the first of the split, in shard order).
        #[arg(long, default_value_t = 500)]
        limit: usize,
        /// Lexemes written per program at most.
        #[arg(long, default_value_t = 400)]
        max_tokens: usize,
        /// Programs drawn per pair and proposer (top-1 is the modal one).
        #[arg(long, default_value_t = 32)]
        samples: usize,
        /// Seed of the draws.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Leave out the builtin proposer's figures on the same pairs.
        #[arg(long)]
        no_baseline: bool,
        /// Print the counts as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The flags of `spfn train`.
#[cfg_attr(not(feature = "spfn"), allow(dead_code))]
struct TrainFlags {
    corpus: PathBuf,
    out: PathBuf,
    steps: u64,
    batch: usize,
    lr: f64,
    seed: u64,
    size: String,
    checkpoint_every: u64,
    bucket: usize,
    whitespace: bool,
    init: Option<PathBuf>,
    quiet: bool,
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
            merge,
            slurm,
            split_config,
            programs_per_shard,
            family_share,
            mixture_share,
            quiet,
        } => cmd_corpus(
            programs,
            datasets_per_program,
            seed,
            &out,
            jobs,
            Sharding {
                shard: shard.as_deref(),
                merge,
                slurm: &slurm,
            },
            split_config.as_deref(),
            programs_per_shard,
            (family_share, mixture_share),
            quiet,
        ),
        SpfnCommand::Stats {
            dir,
            json,
            reproduce,
            jobs,
        } => cmd_stats(&dir, json, reproduce.then_some(jobs)),
        SpfnCommand::Eval {
            model,
            corpus,
            split,
            limit,
            max_tokens,
            samples,
            seed,
            no_baseline,
            json,
        } => cmd_eval(
            &model,
            &corpus,
            EvalFlags {
                split,
                limit,
                max_tokens,
                samples,
                seed,
                baseline: !no_baseline,
            },
            json,
        ),
        SpfnCommand::Train {
            corpus,
            out,
            steps,
            batch,
            lr,
            seed,
            size,
            checkpoint_every,
            bucket,
            whitespace,
            init,
            quiet,
        } => cmd_train(TrainFlags {
            corpus,
            out,
            steps,
            batch,
            lr,
            seed,
            size,
            checkpoint_every,
            bucket,
            whitespace,
            init,
            quiet,
        }),
    }
}

/// The flags of `spfn eval`.
#[cfg_attr(not(feature = "spfn"), allow(dead_code))]
struct EvalFlags {
    split: String,
    limit: usize,
    max_tokens: usize,
    samples: usize,
    seed: u64,
    baseline: bool,
}

#[cfg(not(feature = "spfn"))]
fn cmd_eval(_model: &Path, _corpus: &Path, _flags: EvalFlags, _json: bool) -> Result<ExitCode> {
    Err(CliError::new(
        "`spfn eval` needs the `spfn` feature, which this build of refinestat leaves out; \
         build it with `cargo build --release --features spfn`",
    ))
}

#[cfg(feature = "spfn")]
fn cmd_eval(model: &Path, corpus: &Path, f: EvalFlags, json: bool) -> Result<ExitCode> {
    let split = f.split.as_str();
    const SPLITS: [&str; 5] = [
        "train",
        "validation",
        "test",
        "heldout-family",
        "heldout-range",
    ];
    if !SPLITS.contains(&split) {
        return Err(CliError::new(format!(
            "--split {split}: expected one of {}",
            SPLITS.join(", ")
        )));
    }
    if f.samples == 0 {
        return Err(CliError::new("--samples must be at least 1"));
    }
    let config = refinestat_spfn_net::eval::EvalConfig {
        split: split.to_string(),
        limit: f.limit.max(1),
        samples: f.samples,
        seed: f.seed,
        max_tokens: f.max_tokens,
        baseline: f.baseline,
    };
    let report = refinestat_spfn_net::eval::evaluate(model, corpus, &config)
        .map_err(|e| CliError::new(e.to_string()))?;
    if json {
        emit(&(serde_json::to_string_pretty(&report).expect("plain values") + "\n"))?;
    } else {
        emit(&report.table())?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "spfn"))]
fn cmd_train(_flags: TrainFlags) -> Result<ExitCode> {
    Err(CliError::new(
        "`spfn train` needs the `spfn` feature, which this build of refinestat leaves out; \
         build it with `cargo build --release --features spfn`",
    ))
}

#[cfg(feature = "spfn")]
fn cmd_train(f: TrainFlags) -> Result<ExitCode> {
    use refinestat_spfn_net::TrainConfig;
    if !f.corpus.is_dir() {
        return Err(CliError::new(format!(
            "{} is not a corpus directory",
            f.corpus.display()
        )));
    }
    let mut config = TrainConfig::new(f.steps, f.batch, f.lr, f.seed);
    config.size = f.size;
    config.checkpoint_every = f.checkpoint_every;
    if f.bucket == 0 {
        return Err(CliError::new("--bucket must be at least 1"));
    }
    config.bucket = f.bucket;
    config.whitespace = f.whitespace;
    config.init = f.init.map(|p| p.display().to_string());
    let bar = if f.quiet {
        indicatif::ProgressBar::hidden()
    } else {
        let b = indicatif::ProgressBar::new(f.steps);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] step {pos}/{len} {msg} (eta {eta})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    };
    let mut val = None;
    let report = refinestat_spfn_net::train(&f.corpus, &f.out, &config, &mut |p| {
        if p.val_loss.is_some() {
            val = p.val_loss;
        }
        bar.set_position(p.step);
        bar.set_message(format!(
            "loss {:.3}{} lr {:.1e} {:.1} examples/s",
            p.loss,
            val.map_or(String::new(), |v| format!(" val {v:.3}")),
            p.lr,
            p.examples_per_sec
        ));
        true
    })
    .map_err(|e| CliError::new(e.to_string()))?;
    bar.finish_and_clear();
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    emit(&format!(
        "{}: {} steps{} ({} parameters), train loss {:.4}{}; loss curve in {}\n",
        f.out.display(),
        report.steps,
        if report.resumed_from > 0 {
            format!(" (resumed from step {})", report.resumed_from)
        } else {
            String::new()
        },
        report.parameters,
        report.final_loss,
        report
            .val_loss
            .map_or(String::new(), |v| format!(", validation loss {v:.4}")),
        f.out.join("loss.csv").display(),
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `--shard I/N` as `experiment` reads it (crate::shard): 0 <= I < N.
fn parse_shard(s: &str) -> Result<(u64, u64)> {
    let shard =
        crate::shard::parse_shard(s).map_err(|e| CliError::new(format!("--shard {s}: {e}")))?;
    Ok((shard.index as u64, shard.count as u64))
}

/// `spfn corpus`'s --shard, --merge and --emit-slurm.
struct Sharding<'a> {
    shard: Option<&'a str>,
    merge: bool,
    slurm: &'a crate::shard::SlurmArgs,
}

#[allow(clippy::too_many_arguments)]
fn cmd_corpus(
    programs: u64,
    k: u64,
    seed: u64,
    out: &Path,
    jobs: Option<usize>,
    sharding: Sharding,
    split_config: Option<&Path>,
    programs_per_shard: Option<u64>,
    (family_share, mixture_share): (f64, f64),
    quiet: bool,
) -> Result<ExitCode> {
    if programs == 0 || k == 0 {
        return Err(CliError::new(
            "--programs and --datasets-per-program must be at least 1",
        ));
    }
    let shard = sharding.shard.map(parse_shard).transpose()?;
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
    let prior = MetaPrior::with_shares(family_share, mixture_share).map_err(|e| {
        CliError::new(format!(
            "--family-share {family_share} --mixture-share {mixture_share}: {e}"
        ))
    })?;
    let cfg = CorpusConfig::new(programs, k, seed, programs_per_shard, split).for_prior(&prior);
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    if let Some(file) = &sharding.slurm.emit_slurm {
        return emit_corpus_array(sharding.slurm, file, &cfg, out);
    }
    if sharding.merge {
        return merge_corpus(&prior, &cfg, out, jobs);
    }
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
    if let Some((i, n)) = shard {
        eprintln!(
            "spfn corpus: shard {i}/{n} done; when every shard has finished, the same command \
             with --merge instead of --shard writes the manifest"
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `spfn corpus --merge`.
fn merge_corpus(
    prior: &MetaPrior,
    cfg: &CorpusConfig,
    out: &Path,
    jobs: usize,
) -> Result<ExitCode> {
    let report = refinestat_spfn::corpus::merge(prior, cfg, out, jobs)
        .map_err(|e| CliError::new(format!("--merge: {e}")))?;
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let present = report.units_total - report.missing.len() as u64;
    if report.missing.is_empty() {
        emit(&format!(
            "{}: merged {present}/{} units; manifest.json and split.json written\n",
            out.display(),
            report.units_total
        ))?;
        return Ok(ExitCode::SUCCESS);
    }
    let shown: Vec<String> = report.missing.iter().take(10).map(u64::to_string).collect();
    eprintln!(
        "{}: merged {present}/{} units; missing or corrupt: unit {}{} (rerun their shards, or \
         the command without --merge to write them here)",
        out.display(),
        report.units_total,
        shown.join(", "),
        if report.missing.len() > shown.len() {
            ", ..."
        } else {
            ""
        }
    );
    Ok(ExitCode::from(1))
}

/// `spfn corpus --emit-slurm FILE`: pins config.json and writes the job array of the shards.
fn emit_corpus_array(
    slurm: &crate::shard::SlurmArgs,
    file: &Path,
    cfg: &CorpusConfig,
    out: &Path,
) -> Result<ExitCode> {
    let units = refinestat_spfn::corpus::max_units(cfg) as usize;
    let count = slurm.shards.map_or(units, |n| n as usize);
    if count > units {
        return Err(CliError::new(format!(
            "--shards {count} is more than the corpus's {units} units"
        )));
    }
    refinestat_spfn::corpus::pin_config(cfg, out).map_err(|e| CliError::new(e.to_string()))?;
    let abs = std::path::absolute(out)
        .map_err(|e| CliError::new(format!("cannot resolve {}: {e}", out.display())))?;
    let about = [
        format!(
            "refinestat spfn corpus into {}: {units} units in {count} shards; array task I \
             (0 to {}) runs shard I/{count}.",
            abs.display(),
            count - 1
        ),
        "Submit with `sbatch THIS_FILE`; after the tasks, the same command with --merge".into(),
        "writes the manifest. Resubmit a failed task I with `sbatch --array=I THIS_FILE`: it"
            .into(),
        "skips its finished units and rewrites an unfinished one.".into(),
    ];
    crate::shard::emit_array(
        slurm,
        file,
        "refinestat-spfn-corpus",
        count,
        &abs,
        &about,
        &[],
    )?;
    eprintln!(
        "spfn corpus: wrote {} (an array of {count} shards over {units} units); submit it with \
         `sbatch {}`, then run this command with --merge instead of --emit-slurm",
        file.display(),
        file.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `spfn stats`; `reproduce` is `Some(--jobs)` with --reproduce.
fn cmd_stats(dir: &Path, json: bool, reproduce: Option<Option<usize>>) -> Result<ExitCode> {
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
    } else {
        emit(&st.table())?;
    }
    let Some(jobs) = reproduce else {
        return Ok(ExitCode::SUCCESS);
    };
    let jobs = jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let report = refinestat_spfn::corpus::reproduce_all(dir, jobs)
        .map_err(|e| CliError::new(e.to_string()))?;
    for m in &report.mismatches {
        eprintln!("not reproduced: {m}");
    }
    let line = format!(
        "reproduced {} of {} pairs bit for bit from their seeds\n",
        report.checked - report.mismatches.len() as u64,
        report.checked
    );
    if json {
        eprint!("{line}");
    } else {
        emit(&format!("\n{line}"))?;
    }
    Ok(if report.mismatches.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
