//! `generate`: N programs written by a proposal model after the data block, under a decoding
//! mode; DIR/program-<i>.stan plus one JSON line per program in DIR/generate.jsonl. Resumable:
//! indexes already in generate.jsonl are skipped, and program i depends only on (seed, i).
//! `--without` switches predicates off in the decoder (recorded as `without` in each record);
//! each record's `check` is still the full check, so it shows what got through.

use crate::backends::proposal_from_spec;
use crate::error::{CliError, Result};
use crate::source::DataSource;
use refinestat_language::{check, diagnostic::line_col, Predicate};
use refinestat_synthesis::{
    data_block, program_rng, DecodeConfig, GrammarBounds, Mode, ProgramWriter, StopReason,
};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Flags of `generate`.
#[derive(Debug, clap::Args)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub source: DataSource,
    /// Decoding mode: standard, syntax or refinestat.
    #[arg(long, default_value = "refinestat")]
    pub mode: Mode,
    /// How many programs.
    #[arg(long, default_value_t = 1)]
    pub n: usize,
    /// Program i is drawn from ChaCha8 stream i of this seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sampling temperature of the proposal model (default 1, the model as it is; the paper
    /// uses 0.3).
    #[arg(long, default_value_t = 1.0, long_help = crate::synth::TEMPERATURE_HELP)]
    pub temperature: f64,
    /// Switch validity predicates off (comma-separated or repeated): parse, distribution,
    /// parameter, dependency, support, type; `parse` also switches the grammar mask off.
    /// Refinestat mode applies all six, syntax mode only parse.
    #[arg(long, value_delimiter = ',', value_name = "PRED")]
    pub without: Vec<Predicate>,
    /// Tokens drawn per program at most, accepted or rejected (the decoder's budget).
    #[arg(long, default_value_t = DecodeConfig::default().max_sampled_tokens)]
    pub max_tokens: usize,
    /// Size bounds of the grammar after the data block: `default` (generous) or `compact`
    /// (for proposals that know no Stan, e.g. random weights: they fill every block to its
    /// bound, so small bounds make them finish).
    #[arg(long, default_value = "default", value_parser = ["default", "compact"])]
    pub grammar_bounds: String,
    /// When a budget runs out, stop with the prefix written so far instead of closing the
    /// program at its last finished statement (closing is the default outside `standard` mode;
    /// such programs have `stop_reason` "closed" and the budget in `closed_after`).
    #[arg(long)]
    pub no_close: bool,
    /// Where program-<i>.stan (i from 0) and generate.jsonl go; an existing generate.jsonl of
    /// the same settings resumes.
    #[arg(long)]
    pub output_dir: PathBuf,
    /// Remove the programs and generate.jsonl of an earlier run first (a directory holding a
    /// run with other settings is otherwise refused).
    #[arg(long)]
    pub overwrite: bool,
}

/// The settings of a generate.jsonl record that must agree for a rerun to resume it.
const RESUME_KEYS: [&str; 7] = [
    "data",
    "lm",
    "mode",
    "seed",
    "temperature",
    "grammar_bounds",
    "without",
];

/// Whether `dir` holds another run's programs: files of `generate` without a generate.jsonl,
/// or a generate.jsonl whose first record has other settings than `now`.
fn another_run(dir: &Path, now: &serde_json::Value) -> bool {
    let found = crate::outdir::GENERATE.present(dir);
    if found.is_empty() {
        return false;
    }
    let Ok(text) = std::fs::read_to_string(dir.join("generate.jsonl")) else {
        return true;
    };
    let Some(first) = text
        .lines()
        .find_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
    else {
        return false;
    };
    RESUME_KEYS.iter().any(|k| first.get(k) != now.get(k))
}

/// Indexes already recorded in a generate.jsonl.
fn finished_indexes(jsonl: &Path) -> BTreeSet<usize> {
    let Ok(text) = std::fs::read_to_string(jsonl) else {
        return BTreeSet::new();
    };
    text.lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|v| v.get("index").and_then(serde_json::Value::as_u64))
        .map(|i| i as usize)
        .collect()
}

pub fn cmd_generate(args: &GenerateArgs) -> Result<ExitCode> {
    crate::synth::check_temperature(args.temperature)?;
    let without = crate::synth::normalized(&args.without);
    let probe = DecodeConfig {
        mode: args.mode,
        without: without.clone(),
        ..DecodeConfig::default()
    };
    probe
        .validate()
        .map_err(|e| CliError::new(format!("--mode {}: {e}", args.mode.as_str())))?;
    let loaded = args.source.load()?;
    let schema = args.source.schema(&loaded)?;
    let (source, data) = (loaded.source, loaded.data);
    eprintln!("{}", schema.summary());
    let mut writer = proposal_from_spec(
        &args.source.lm,
        &data,
        args.source.describe.as_deref(),
        &schema,
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    let mut now = serde_json::json!({
        "data": source, "lm": args.source.lm, "mode": args.mode.as_str(), "seed": args.seed,
        "temperature": args.temperature, "grammar_bounds": args.grammar_bounds,
    });
    // Recorded only when something is switched off, so a full run's records stay as they were.
    if !without.is_empty() {
        now["without"] = serde_json::json!(without);
    }
    if args.overwrite {
        crate::outdir::remove(&crate::outdir::GENERATE.present(&args.output_dir))?;
    } else if another_run(&args.output_dir, &now) {
        return Err(crate::outdir::refusal(
            &args.output_dir,
            &crate::outdir::GENERATE.present(&args.output_dir),
            "generate",
        ));
    }
    std::fs::create_dir_all(&args.output_dir).map_err(|e| {
        CliError::new(format!(
            "cannot create output directory {}: {e}",
            args.output_dir.display()
        ))
    })?;
    let jsonl_path = args.output_dir.join("generate.jsonl");
    let done = finished_indexes(&jsonl_path);
    let mut jsonl = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&jsonl_path)
        .map_err(|e| CliError::new(format!("cannot open {}: {e}", jsonl_path.display())))?;
    let prompt = data_block(&data);
    let config = DecodeConfig {
        mode: args.mode,
        temperature: args.temperature,
        max_sampled_tokens: args.max_tokens,
        grammar_bounds: if args.grammar_bounds == "compact" {
            GrammarBounds::compact()
        } else {
            GrammarBounds::default()
        },
        close_on_budget: !args.no_close,
        without: without.clone(),
        ..DecodeConfig::default()
    };
    for index in 0..args.n {
        if done.contains(&index) {
            eprintln!(
                "[{}/{}] program-{index}.stan: already done",
                index + 1,
                args.n
            );
            continue;
        }
        // Program i depends only on (seed, i), so a resumed run writes the same programs.
        let mut rng = program_rng(args.seed, index as u64);
        let start = Instant::now();
        let out = writer.write(&prompt, &data, &config, &mut rng);
        let time_ms = start.elapsed().as_secs_f64() * 1000.0;
        let file = format!("program-{index}.stan");
        let path = args.output_dir.join(&file);
        std::fs::write(&path, &out.program)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
        let violations = check(&out.program, Some(&data));
        let mut record = serde_json::json!({
            "index": index,
            "program": file,
            "data": source,
            "describe": args.source.describe,
            "responses": schema.response_names(),
            "lm": args.source.lm,
            "mode": args.mode.as_str(),
            "seed": args.seed,
            "temperature": args.temperature,
            "grammar_bounds": args.grammar_bounds,
            "tokens": out.tokens,
            "backtracks": out.backtracks,
            "stop_reason": out.stop.as_str(),
            "closed_after": out.closed_after.as_ref().map(StopReason::as_str),
            "error": match &out.stop {
                StopReason::ModelError(e) => Some(e.as_str()),
                _ => None,
            },
            "check": {
                "valid": violations.is_empty(),
                "violations": violations.iter().map(|d| {
                    let (line, column) = line_col(&out.program, d.span.start);
                    serde_json::json!({
                        "predicate": d.predicate.as_str(),
                        "message": d.message,
                        "line": line,
                        "column": column,
                    })
                }).collect::<Vec<_>>(),
            },
            "time_ms": (time_ms * 1000.0).round() / 1000.0,
        });
        if !without.is_empty() {
            record["without"] = serde_json::json!(without);
        }
        writeln!(jsonl, "{record}")
            .and_then(|_| jsonl.flush())
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", jsonl_path.display())))?;
        eprintln!(
            "[{}/{}] {file}: {}, {} ({} tokens sampled, {} rejected, {:.0} ms)",
            index + 1,
            args.n,
            out.stop.as_str(),
            if violations.is_empty() {
                "valid"
            } else {
                "invalid"
            },
            out.tokens.sampled,
            out.tokens.rejected,
            time_ms
        );
        // A model that failed (a server down through its retries) would fail every program
        // the same way, each after the same wait: stop here; a rerun resumes.
        if let StopReason::ModelError(e) = &out.stop {
            return Err(CliError::new(format!("{file}: {e}")));
        }
    }
    Ok(ExitCode::SUCCESS)
}
