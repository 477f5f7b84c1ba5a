//! `synth`: the RefineStat loop from data to a reliable program (refinestat_synthesis::refine).
//!
//! Writes DIR/best_program.stan and DIR/best_program_diagnostics.json (the best program's
//! summary.json), DIR/candidates/attempt-<i>.stan and .json (every attempt: its check result or
//! fit diagnostics, and why it was not chosen), DIR/log.jsonl (one event per attempt, appended as
//! it happens; with `--without`, each event names the predicates switched off) and
//! DIR/token_usage.json. Exit code 0 with a best program, 1 when no program was
//! valid (every file but the best_program ones is still written), 2 on usage or I/O errors.

use crate::backends::proposal_from_spec;
use crate::error::{CliError, Result};
use crate::source::DataSource;
use refinestat_inference::SamplerConfig;
use refinestat_language::diagnostic::line_col;
use refinestat_language::{Data, Predicate};
use refinestat_synthesis::refine::config_for_mode;
use refinestat_synthesis::{
    refine, Attempt, AttemptKind, Candidate, DecodeConfig, NutsFitter, RefineConfig, RefineOutcome,
    RefineStop, Selection, StopReason, TokenCounts,
};
use refinestat_synthesis::{with_generated_quantities, Schema};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    #[command(flatten)]
    pub source: DataSource,
    /// refinestat (the loop, full constrained decoding), iterative (the loop, grammar-only
    /// decoding), syntax or standard (one grammar-only or unconstrained pass).
    #[arg(long, default_value = "refinestat")]
    pub mode: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where the results go (default: output/synth-<dataset>).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Replace the files of an earlier run in the output directory (otherwise refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Sampling temperature of the proposal model (default 1, the model as it is; the paper
    /// uses 0.3).
    #[arg(long, default_value_t = 1.0, long_help = TEMPERATURE_HELP)]
    pub temperature: f64,
    #[command(flatten)]
    pub run: RefineFlags,
}

/// The fitting and refinement settings `synth` and every `experiment` cell share.
#[derive(Debug, Clone, clap::Args)]
pub struct RefineFlags {
    /// Chains per fit.
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    /// Warmup iterations per chain and fit.
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    /// Draws per chain and fit.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    /// Attempts (generations) at most.
    #[arg(long, default_value_t = 100)]
    pub rmax: usize,
    /// Likelihood resamples per prior before the prior is resampled.
    #[arg(long, default_value_t = 2)]
    pub alpha: usize,
    /// Stop after this many valid programs.
    #[arg(long, default_value_t = 4)]
    pub beta: usize,
    /// Reliability score (of 7 checks) a valid program reaches at least.
    #[arg(long, default_value_t = 5)]
    pub k: u8,
    /// elpd-then-score (highest ELPD-LOO among valid programs, except that a higher-scoring
    /// program within two standard errors of the difference, at most 2 nats, below it wins, and
    /// one failing two or more checks competes only when no valid program fails at most one),
    /// elpd (highest ELPD-LOO among valid programs, the paper's rule), reliable-elpd (the
    /// highest among valid programs with at most 10% of Pareto k high, the others only if none
    /// qualifies) or score-then-elpd.
    #[arg(long, default_value = "elpd-then-score")]
    pub select: Selection,
    /// Wall-clock budget in seconds, checked before each attempt.
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Switch validity predicates off (the paper's ablation; comma-separated or repeated):
    /// parse, distribution, parameter, dependency, support, type. Their violations then stop
    /// nothing, neither in the decoder nor before a fit (the fit's compilation decides whether
    /// the program runs); `parse` also switches the grammar mask off. Refinestat mode only.
    #[arg(long, value_delimiter = ',', value_name = "PRED")]
    pub without: Vec<Predicate>,
}

/// The help text of `--temperature` (generate, synth, experiment), as a literal for `concat!`.
macro_rules! temperature_help {
    () => {
        "Sampling temperature of the proposal model (its log-probabilities are divided by it). \
The default 1 samples the model as it is: the builtin model's probabilities are its grammar's \
designed weights, and lower values make it repeat its likeliest structures; the paper samples \
its language models at 0.3, so pass --temperature 0.3 to reproduce that."
    };
}
pub(crate) use temperature_help;

/// [`temperature_help`] as a constant.
pub const TEMPERATURE_HELP: &str = temperature_help!();

/// A positive finite temperature, or a usage error.
pub fn check_temperature(t: f64) -> Result<()> {
    if t > 0.0 && t.is_finite() {
        Ok(())
    } else {
        Err(CliError::new("--temperature must be a positive number"))
    }
}

/// `preds` in the order of [`Predicate::ALL`], without repeats.
pub fn normalized(preds: &[Predicate]) -> Vec<Predicate> {
    let mut out = preds.to_vec();
    out.sort();
    out.dedup();
    out
}

impl RefineFlags {
    /// The checks that need no data: a non-negative finite time budget.
    pub fn validate(&self) -> Result<()> {
        if let Some(budget) = self.time_budget {
            if !(budget >= 0.0 && budget.is_finite()) {
                return Err(CliError::new(
                    "--time-budget must be a non-negative number of seconds",
                ));
            }
        }
        Ok(())
    }
}

/// One finished RefineStat run, its files written to `out_dir`.
pub struct SynthRun {
    pub out_dir: PathBuf,
    pub config: RefineConfig,
    pub outcome: RefineOutcome,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

fn violations_json(program: &str, attempt: &Attempt) -> Vec<serde_json::Value> {
    attempt
        .violations
        .iter()
        .map(|d| {
            let (line, column) = line_col(program, d.span.start);
            serde_json::json!({
                "predicate": d.predicate.as_str(),
                "message": d.message,
                "line": line,
                "column": column,
            })
        })
        .collect()
}

/// The log.jsonl event of one attempt; the first one also holds the schema (what is modelled,
/// and why).
fn attempt_event(
    attempt: &Attempt,
    candidates: &[Candidate],
    schema: &Schema,
    without: &[Predicate],
) -> serde_json::Value {
    let fit_error = attempt
        .candidate
        .and_then(|i| candidates.get(i))
        .and_then(|c| c.assessment.error.clone());
    let mut event = serde_json::json!({
        "attempt": attempt.index,
        "kind": attempt.kind,
        "program": format!("candidates/attempt-{}.stan", attempt.index),
        "generation": attempt.generation.as_str(),
        "tokens": attempt.tokens,
        "check_valid": attempt.violations.is_empty() && attempt.generation.is_program(),
        "violations": violations_json(&attempt.program, attempt),
        "candidate": attempt.candidate,
        "cached": attempt.cached,
        "fit_error": fit_error,
        "model_error": match &attempt.generation {
            StopReason::ModelError(e) => Some(e.as_str()),
            _ => None,
        },
        "score": attempt.score,
        "elpd_loo": attempt.elpd_loo,
        "valid": attempt.valid,
        "time_s": secs(attempt.time),
        "responses": schema.response_names(),
        "unmodelled": attempt.unmodelled,
        "redraws": attempt.redraws,
        "revision": attempt.revision.as_ref().map(|(what, of)| serde_json::json!({"change": what, "of_attempt": of})),
        "schema": (attempt.index == 0).then(|| schema.to_json()),
    });
    if !without.is_empty() {
        event["without"] = serde_json::json!(without);
    }
    event
}

pub fn cmd_synth(args: &SynthArgs) -> Result<ExitCode> {
    let SynthRun {
        out_dir,
        config,
        outcome,
    } = run_synth(args, true)?;
    let rows = crate::synth_print::comparison(&outcome);
    let (_, verdict) = crate::synth_print::comparison_text(&rows);
    crate::synth_print::write_comparison(&out_dir, &rows, verdict.as_deref())?;
    if let Some(best) = outcome.best.map(|i| &outcome.candidates[i]) {
        let data = args.source.load()?.data;
        let sampler = SamplerConfig {
            chains: args.run.chains,
            warmup: args.run.warmup,
            draws: args.run.draws,
            seed: args.seed,
            ..SamplerConfig::default()
        };
        if let Err(e) = crate::synth_print::save_best_fit(&out_dir, &best.program, &data, &sampler)
        {
            eprintln!("warning: the best program's draws were not saved: {e}");
        }
    }
    let report = crate::fit::write_report(&out_dir);
    match outcome.best {
        Some(_) => {
            crate::synth_print::print_best(
                &out_dir,
                &outcome,
                &config,
                &rows,
                verdict.as_deref(),
                report.as_deref(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        None if outcome.stop == RefineStop::ModelError => {
            let why = outcome
                .attempts
                .last()
                .and_then(|a| match &a.generation {
                    StopReason::ModelError(e) => Some(e.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            Err(CliError::new(format!(
                "the proposal model failed after {} attempt(s): {why}; see {}",
                outcome.attempts.len(),
                out_dir.join("log.jsonl").display()
            )))
        }
        None => {
            let top = outcome
                .candidates
                .iter()
                .enumerate()
                .max_by_key(|(_, c)| c.assessment.score);
            eprintln!(
                "no valid program: none of {} attempts ({} fits) reached a reliability score of {}{}; see {}",
                outcome.attempts.len(),
                outcome.fits,
                config.k,
                top.map_or(String::new(), |(_, c)| format!(
                    " (highest: {}/7, candidates/attempt-{}.stan)",
                    c.assessment.score, c.first_attempt
                )),
                report.as_deref().unwrap_or(&out_dir.join("log.jsonl")).display()
            );
            let rejected = crate::synth_print::rejected_lines(&outcome, &config);
            if !rejected.is_empty() {
                eprintln!("rejected candidates:\n{}", rejected.join("\n"));
            }
            Ok(ExitCode::from(1))
        }
    }
}

/// Runs the RefineStat loop as `synth` does and writes its output directory; `progress` prints
/// one stderr line per attempt. Shared by `synth` and `experiment`.
pub fn run_synth(args: &SynthArgs, progress: bool) -> Result<SynthRun> {
    args.run.validate()?;
    check_temperature(args.temperature)?;
    let loaded = args.source.load()?;
    // Decide what to model first: data with nothing to model stops here.
    let schema = args.source.schema(&loaded)?;
    let (source, data) = (loaded.source, loaded.data);
    if progress {
        eprintln!("{}", schema.summary());
    }
    let base = RefineConfig {
        rmax: args.run.rmax,
        alpha: args.run.alpha,
        beta: args.run.beta,
        k: args.run.k,
        select: args.run.select,
        decode: DecodeConfig {
            temperature: args.temperature,
            ..DecodeConfig::default()
        },
        seed: args.seed,
        time_budget: args.run.time_budget.map(Duration::from_secs_f64),
        responses: schema.response_names(),
        ..RefineConfig::default()
    };
    let mut config = config_for_mode(&args.mode, base).map_err(CliError::new)?;
    config.decode.without = normalized(&args.run.without);
    config
        .decode
        .validate()
        .map_err(|e| CliError::new(format!("--mode {}: {e}", args.mode)))?;
    if args.run.rmax == 0 || args.run.beta == 0 {
        return Err(CliError::new("--rmax and --beta must be at least 1"));
    }
    let sampler = SamplerConfig {
        chains: args.run.chains,
        warmup: args.run.warmup,
        draws: args.run.draws,
        seed: args.seed,
        ..SamplerConfig::default()
    };
    sampler
        .validate()
        .map_err(|e| CliError::new(e.to_string()))?;
    let mut writer = proposal_from_spec(
        &args.source.lm,
        &data,
        args.source.describe.as_deref(),
        &schema,
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    let out_dir = args.output_dir.clone().unwrap_or_else(|| {
        let stem = args
            .source
            .dataset
            .clone()
            .unwrap_or_else(|| "data".to_string());
        PathBuf::from("output").join(format!("synth-{stem}"))
    });
    crate::outdir::claim(&out_dir, &crate::outdir::SYNTH, args.overwrite, "synth")?;
    let cand_dir = out_dir.join("candidates");
    std::fs::create_dir_all(&cand_dir).map_err(|e| {
        CliError::new(format!(
            "cannot create output directory {}: {e}",
            cand_dir.display()
        ))
    })?;
    let log_path = out_dir.join("log.jsonl");
    let mut log = std::fs::File::create(&log_path)
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", log_path.display())))?;
    let mut fitter = NutsFitter { sampler };
    let mut io_error: Option<CliError> = None;
    let mut valid_so_far = 0;
    let outcome = refine(
        &mut writer,
        &data,
        &mut fitter,
        &config,
        &mut |attempt, candidates| {
            let stan = cand_dir.join(format!("attempt-{}.stan", attempt.index));
            let event = attempt_event(attempt, candidates, &schema, &config.decode.without);
            let result = write(&stan, &attempt.program).and_then(|_| {
                writeln!(log, "{event}")
                    .and_then(|_| log.flush())
                    .map_err(|e| CliError::new(format!("cannot write {}: {e}", log_path.display())))
            });
            if let Err(e) = result {
                io_error.get_or_insert(e);
            }
            if attempt.valid && !attempt.cached {
                valid_so_far += 1;
            }
            if !progress {
                return;
            }
            eprintln!(
                "{}",
                crate::synth_print::progress_line(
                    attempt,
                    candidates,
                    &config,
                    valid_so_far,
                    &generation_text(&attempt.generation)
                )
            );
        },
    );
    if let Some(e) = io_error {
        return Err(e);
    }
    write_results(&out_dir, &source, args, &config, &outcome, &schema, &data)?;
    Ok(SynthRun {
        out_dir,
        config,
        outcome,
    })
}

/// A generation's stop reason, with the model's error message when it failed.
fn generation_text(stop: &StopReason) -> String {
    match stop {
        StopReason::Closed => "closed by the decoder when a budget ran out".to_string(),
        StopReason::ModelError(e) => format!("model_error: {e}"),
        other => other.as_str().to_string(),
    }
}

fn write_results(
    out_dir: &Path,
    source: &str,
    args: &SynthArgs,
    config: &RefineConfig,
    outcome: &RefineOutcome,
    schema: &Schema,
    data: &Data,
) -> Result<()> {
    let cand_dir = out_dir.join("candidates");
    for attempt in &outcome.attempts {
        let candidate = attempt.candidate.and_then(|i| outcome.candidates.get(i));
        // The full summary goes with the attempt that ran the fit; a cached attempt points to it.
        let diagnostics = candidate
            .filter(|c| c.first_attempt == attempt.index)
            .and_then(|c| c.assessment.summary.as_ref())
            .and_then(|s| serde_json::to_value(s).ok());
        let why = match attempt.candidate {
            Some(i) => outcome.not_chosen_reason(i, config),
            None if !attempt.generation.is_program() => Some(format!(
                "generation stopped: {}",
                generation_text(&attempt.generation)
            )),
            None if !attempt.unmodelled.is_empty() => Some(format!(
                "does not model the response: no likelihood on {}",
                attempt.unmodelled.join(", ")
            )),
            None => Some(format!(
                "does not check: {} violation(s)",
                attempt.violations.len()
            )),
        };
        let record = serde_json::json!({
            "attempt": attempt.index,
            "kind": attempt.kind,
            "generation": attempt.generation.as_str(),
            "tokens": attempt.tokens,
            "check": {
                "valid": attempt.violations.is_empty() && attempt.generation.is_program(),
                "violations": violations_json(&attempt.program, attempt),
            },
            "unmodelled": attempt.unmodelled,
            "revision": attempt.revision.as_ref().map(|(what, of)| serde_json::json!({"change": what, "of_attempt": of})),
            "candidate": attempt.candidate,
            "fitted_by_attempt": candidate.map(|c| c.first_attempt),
            "fit_error": candidate.and_then(|c| c.assessment.error.clone()),
            "score": attempt.score,
            "elpd_loo": attempt.elpd_loo,
            "valid": attempt.valid,
            "chosen": attempt.candidate.is_some() && attempt.candidate == outcome.best,
            "not_chosen_because": why,
            "diagnostics": diagnostics,
        });
        let path = cand_dir.join(format!("attempt-{}.json", attempt.index));
        write(
            &path,
            &(serde_json::to_string_pretty(&record).expect("JSON of plain values") + "\n"),
        )?;
    }
    if let Some(best) = outcome.best.and_then(|i| outcome.candidates.get(i)) {
        // With `y_rep` and `log_lik`, so it runs as is in CmdStan, where our engine compiles the
        // block (otherwise the program as fitted).
        let program = with_generated_quantities(&best.program)
            .filter(|p| refinestat_model::Model::from_source(p, data).is_ok())
            .unwrap_or_else(|| best.program.clone());
        write(&out_dir.join("best_program.stan"), &program)?;
        if let Some(summary) = &best.assessment.summary {
            let mut json: serde_json::Value =
                serde_json::from_str(&summary.to_json()).expect("summary JSON");
            if let Some(map) = json.as_object_mut() {
                map.insert("schema".into(), schema.to_json());
            }
            write(
                &out_dir.join("best_program_diagnostics.json"),
                &(serde_json::to_string_pretty(&json).expect("JSON of plain values") + "\n"),
            )?;
        }
    }
    let mut by_kind = serde_json::Map::new();
    for (name, kind) in [
        ("full", AttemptKind::Full),
        ("likelihood", AttemptKind::Likelihood),
        ("revision", AttemptKind::Revision),
    ] {
        let mut t = TokenCounts::default();
        let mut n = 0;
        for a in outcome.attempts.iter().filter(|a| a.kind == kind) {
            n += 1;
            t.prompt += a.tokens.prompt;
            t.sampled += a.tokens.sampled;
            t.accepted += a.tokens.accepted;
            t.rejected += a.tokens.rejected;
        }
        by_kind.insert(
            name.to_string(),
            serde_json::json!({"attempts": n, "tokens": t}),
        );
    }
    let mut usage = serde_json::json!({
        "data": source,
        "describe": args.source.describe,
        "schema": schema.to_json(),
        "lm": args.source.lm,
        "mode": args.mode,
        "seed": args.seed,
        "settings": {
            "rmax": config.rmax, "alpha": config.alpha, "beta": config.beta, "k": config.k,
            "select": config.select.as_str(), "decode_mode": config.decode.mode.as_str(),
            "temperature": args.temperature,
            "chains": args.run.chains, "warmup": args.run.warmup, "draws": args.run.draws,
        },
        "tokens": outcome.tokens,
        "by_kind": by_kind,
        "attempts": outcome.attempts.len(),
        "cached_attempts": outcome.attempts.iter().filter(|a| a.cached).count(),
        "fits": outcome.fits,
        "fit_time_s": secs(outcome.candidates.iter().map(|c| c.fit_time).sum()),
        "valid_programs": outcome.candidates.iter().filter(|c| c.valid).count(),
        "stop": outcome.stop.as_str(),
        "best_attempt": outcome.best.map(|i| outcome.candidates[i].first_attempt),
        "wall_time_s": secs(outcome.elapsed),
    });
    if !config.decode.without.is_empty() {
        usage["settings"]["without"] = serde_json::json!(config.decode.without);
    }
    write(
        &out_dir.join("token_usage.json"),
        &(serde_json::to_string_pretty(&usage).expect("JSON of plain values") + "\n"),
    )
}
