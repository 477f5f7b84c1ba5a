//! `sample` and `diagnose`: the model adapted to the sampler, draws turned into CmdStan CSV,
//! summary.json and the summary table.

use crate::args::SampleFlags;
use crate::commands::{load_model, read_data};
use crate::error::{emit, CliError, Result};
use rand::SeedableRng;
use refinestat_diagnostics::{render_table, summarize, ChainStats, Draws, LogLik, Summary};
use refinestat_inference::{
    cmdstan_column_name, sample_with_progress, write_cmdstan_csv, CsvHeader, LogDensity,
    LogpFailure, SamplerConfig, StopReason,
};
use refinestat_model::{LogDensityOptions, Model, ModelError};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// The model as the sampler sees it: Stan's sampling density (Jacobian on, constants dropped).
pub(crate) struct SamplingDensity(pub(crate) Model);

impl LogDensity for SamplingDensity {
    fn dim(&self) -> usize {
        self.0.dim()
    }

    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> std::result::Result<f64, LogpFailure> {
        let opts = LogDensityOptions {
            jacobian: true,
            propto: true,
        };
        self.0
            .log_density_gradient(x, opts, grad)
            .map_err(|e| match e {
                ModelError::Eval(msg) => LogpFailure::Recoverable(msg),
                other => LogpFailure::Fatal(other.to_string()),
            })
    }
}

pub(crate) fn model_stem(model: &Path) -> String {
    model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_string())
}

/// A progress bar on stderr, only when stderr is a terminal.
fn progress_bar(total: u64) -> Option<indicatif::ProgressBar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} sampling [{bar:40}] {pos}/{len} iterations ({elapsed})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    Some(bar)
}

pub fn cmd_sample(model_path: &Path, data_path: &Path, flags: &SampleFlags) -> Result<ExitCode> {
    let data = read_data(data_path)?;
    let (_, model) = load_model(model_path, &data)?;
    let stem = model_stem(model_path);
    let out_dir = flags
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&stem));
    std::fs::create_dir_all(&out_dir).map_err(|e| {
        CliError::new(format!(
            "cannot create output directory {}: {e}",
            out_dir.display()
        ))
    })?;
    let config = SamplerConfig {
        chains: flags.chains,
        warmup: flags.warmup,
        draws: flags.draws,
        thin: flags.thin,
        max_treedepth: flags.max_treedepth,
        target_accept: flags.target_accept,
        seed: flags.seed,
        time_budget: flags.time_budget.map(Duration::from_secs_f64),
        ..SamplerConfig::default()
    };

    let total = (config.chains * (config.warmup + config.draws)) as u64;
    let bar = progress_bar(total);
    let mut done = vec![0usize; config.chains];
    let output = sample_with_progress(
        &config,
        |_| SamplingDensity(model.clone()),
        |chain, iterations, _| {
            if let Some(bar) = &bar {
                done[chain] = iterations;
                bar.set_position(done.iter().sum::<usize>() as u64);
            }
        },
    )
    .map_err(|e| CliError::new(e.to_string()))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let rows_per_chain = output_rows(&model, &output.chains, flags.seed)?;
    let layout = OutputLayout::new(model.output_names(), model.n_log_lik());

    // One file per chain, written in parallel: formatting the numbers is most of the work when
    // there is a log-likelihood column per observation.
    use rayon::prelude::*;
    output
        .chains
        .par_iter()
        .zip(&rows_per_chain)
        .map(|(chain, rows)| {
            let path = out_dir.join(format!("chain-{}.csv", chain.chain + 1));
            let header = CsvHeader::for_chain(&stem, &config, chain);
            let file = std::fs::File::create(&path)
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
            let mut writer = BufWriter::new(file);
            write_cmdstan_csv(&mut writer, &header, &layout.columns, &chain.stats, rows)
                .and_then(|_| writer.flush())
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
        })
        .collect::<Result<()>>()?;

    // A time budget can stop chains at different points (or before their first kept draw); the
    // diagnostics need chains of equal length, so they see each non-empty chain's first draws.
    let kept_draws = output
        .chains
        .iter()
        .map(|c| c.draws.len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    if output.stop_reason() == StopReason::TimeBudget {
        let empty = output.chains.iter().filter(|c| c.draws.is_empty()).count();
        if kept_draws == 0 {
            return Err(CliError::new(format!(
                "the time budget ran out before any chain finished warmup; no draws to summarise \
                 (chain files are in {})",
                out_dir.display()
            )));
        }
        eprintln!(
            "warning: the time budget ran out; summarising the first {kept_draws} draws of {} \
             chain(s){}",
            output.chains.len() - empty,
            if empty > 0 {
                format!(" ({empty} chain(s) had no post-warmup draws)")
            } else {
                String::new()
            }
        );
    }
    let summarised: Vec<usize> = (0..output.chains.len())
        .filter(|&k| !output.chains[k].draws.is_empty())
        .collect();
    let draw_rows: Vec<Vec<Vec<f64>>> = summarised
        .iter()
        .map(|&k| layout.select(&rows_per_chain[k][..kept_draws], &layout.summary_columns))
        .collect();
    let log_lik_rows: Vec<Vec<Vec<f64>>> = summarised
        .iter()
        .map(|&k| layout.select(&rows_per_chain[k][..kept_draws], &layout.log_lik_columns))
        .collect();
    let stats: Vec<ChainStats> = summarised
        .iter()
        .map(|&k| {
            let s = &output.chains[k].stats[..kept_draws];
            ChainStats {
                energy: s.iter().map(|s| s.energy).collect(),
                divergent: s.iter().map(|s| s.divergent).collect(),
            }
        })
        .collect();
    let summary_names = layout
        .summary_columns
        .iter()
        .map(|&i| layout.names[i].clone())
        .collect();
    let summary = summarize_outputs(summary_names, &draw_rows, &stats, &log_lik_rows)?;
    write_summary(&out_dir, &summary)?;

    let depth_hits: usize = output
        .chains
        .iter()
        .flat_map(|c| &c.stats)
        .filter(|s| s.treedepth >= config.max_treedepth as u64)
        .count();
    let total_draws: usize = output.chains.iter().map(|c| c.stats.len()).sum();
    let depth_line = format!(
        "Max tree depth ({}) hit: {depth_hits} of {total_draws} draws",
        config.max_treedepth
    );
    if depth_hits > 0 {
        eprintln!(
            "warning: {depth_hits} of {total_draws} draws hit the maximum tree depth ({}); the \
             posterior may be improper or badly scaled, or --max-treedepth too small",
            config.max_treedepth
        );
    }
    if flags.json {
        emit(&(summary.to_json() + "\n"))?;
    } else {
        emit(&render_table(&summary))?;
        emit(&format!("{depth_line}\n"))?;
        emit(&format!("output: {}\n", out_dir.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Which output column is what: the model's outputs (parameters, transformed parameters,
/// generated quantities), then, unless the program declares its own `log_lik`, the pointwise
/// log-likelihood the model computes (`log_lik.1`, ...).
struct OutputLayout {
    /// Stan names of every column after the sampler's, in file order.
    names: Vec<String>,
    /// CmdStan names of the same columns.
    columns: Vec<String>,
    /// Columns that go into the summary table (all but the log-likelihood).
    summary_columns: Vec<usize>,
    /// The pointwise log-likelihood columns, in observation order.
    log_lik_columns: Vec<usize>,
}

fn is_log_lik(name: &str) -> bool {
    name == "log_lik" || name.starts_with("log_lik[")
}

impl OutputLayout {
    fn new(mut names: Vec<String>, n_log_lik: usize) -> OutputLayout {
        let own_log_lik = names.iter().any(|n| is_log_lik(n));
        if !own_log_lik {
            names.extend((1..=n_log_lik).map(|i| format!("log_lik[{i}]")));
        }
        let (log_lik_columns, summary_columns) =
            (0..names.len()).partition(|&i| is_log_lik(&names[i]));
        OutputLayout {
            columns: names.iter().map(|n| cmdstan_column_name(n)).collect(),
            names,
            summary_columns,
            log_lik_columns,
        }
    }

    /// The `columns` of every row.
    fn select(&self, rows: &[Vec<f64>], columns: &[usize]) -> Vec<Vec<f64>> {
        rows.iter()
            .map(|row| columns.iter().map(|&i| row[i]).collect())
            .collect()
    }
}

/// Every chain's CSV rows after the sampler columns (see [`OutputLayout`]), computed from the
/// unconstrained draws in parallel. Each chain's generated quantities get their own seeded stream
/// so the files do not depend on thread scheduling.
fn output_rows(
    model: &Model,
    chains: &[refinestat_inference::ChainDraws],
    seed: u64,
) -> Result<Vec<Vec<Vec<f64>>>> {
    use rayon::prelude::*;
    let own_log_lik = model.output_names().iter().any(|n| is_log_lik(n));
    chains
        .par_iter()
        .map(|chain| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(1000 + chain.chain as u64);
            chain
                .draws
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let context = |e: ModelError| {
                        CliError::new(format!("chain {} draw {}: {e}", chain.chain + 1, i + 1))
                    };
                    let mut row = model.write_array(x, &mut rng).map_err(context)?;
                    // With its own `log_lik` the program already wrote it; computing it again
                    // would re-run the generated quantities.
                    if !own_log_lik {
                        row.extend(model.log_lik(x).map_err(context)?);
                    }
                    Ok(row)
                })
                .collect()
        })
        .collect()
}

fn summarize_outputs(
    names: Vec<String>,
    draws: &[Vec<Vec<f64>>],
    stats: &[ChainStats],
    log_lik: &[Vec<Vec<f64>>],
) -> Result<Summary> {
    let draws = Draws::from_chains(names, draws).map_err(|e| CliError::new(e.to_string()))?;
    let log_lik = if log_lik.iter().all(|c| c.iter().all(Vec::is_empty)) {
        None
    } else {
        LogLik::from_chains(log_lik)
    };
    summarize(&draws, stats, log_lik.as_ref()).map_err(|e| CliError::new(e.to_string()))
}

fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    let path = dir.join("summary.json");
    std::fs::write(&path, summary.to_json() + "\n")
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

pub fn cmd_diagnose(csv: &[PathBuf], output_dir: Option<&Path>, json: bool) -> Result<ExitCode> {
    let chains = csv
        .iter()
        .map(|p| {
            refinestat_diagnostics::read_cmdstan_csv(p).map_err(|e| CliError::new(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let summary =
        refinestat_diagnostics::summarize_csv(&chains).map_err(|e| CliError::new(e.to_string()))?;
    let dir = match output_dir {
        Some(d) => d.to_path_buf(),
        None => csv[0]
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    };
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    write_summary(&dir, &summary)?;
    if json {
        emit(&(summary.to_json() + "\n"))?;
    } else {
        emit(&render_table(&summary))?;
    }
    Ok(ExitCode::SUCCESS)
}
