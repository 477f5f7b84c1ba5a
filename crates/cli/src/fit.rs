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

/// Per-chain outputs in constrained space: `values[draw]` (params, TPs, GQs) and `log_lik[draw]`.
struct ChainOutputs {
    values: Vec<Vec<f64>>,
    log_lik: Vec<Vec<f64>>,
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
    if output.stop_reason() == StopReason::TimeBudget {
        eprintln!("warning: the time budget ran out; the results hold the draws made before it");
    }

    // Constrained outputs per chain, in parallel; each chain's generated quantities get their own
    // seeded stream so the files do not depend on thread scheduling.
    use rayon::prelude::*;
    let outputs: Vec<ChainOutputs> = output
        .chains
        .par_iter()
        .map(|chain| -> Result<ChainOutputs> {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(flags.seed);
            rng.set_stream(1000 + chain.chain as u64);
            let mut values = Vec::with_capacity(chain.draws.len());
            let mut log_lik = Vec::with_capacity(chain.draws.len());
            for (i, x) in chain.draws.iter().enumerate() {
                let context = |e: ModelError| {
                    CliError::new(format!("chain {} draw {}: {e}", chain.chain + 1, i + 1))
                };
                values.push(model.write_array(x, &mut rng).map_err(context)?);
                log_lik.push(model.log_lik(x).map_err(context)?);
            }
            Ok(ChainOutputs { values, log_lik })
        })
        .collect::<Result<_>>()?;

    let names = model.output_names();
    // A program's own `log_lik` generated quantity already is the pointwise log-likelihood.
    let own_log_lik = names
        .iter()
        .any(|n| n == "log_lik" || n.starts_with("log_lik["));
    let n_obs = outputs
        .first()
        .and_then(|c| c.log_lik.first())
        .map_or(0, Vec::len);
    let mut columns: Vec<String> = names.iter().map(|n| cmdstan_column_name(n)).collect();
    if !own_log_lik {
        columns.extend((1..=n_obs).map(|i| format!("log_lik.{i}")));
    }
    for (chain, out) in output.chains.iter().zip(&outputs) {
        let path = out_dir.join(format!("chain-{}.csv", chain.chain + 1));
        let rows: Vec<Vec<f64>> = out
            .values
            .iter()
            .zip(&out.log_lik)
            .map(|(v, ll)| {
                let mut row = v.clone();
                if !own_log_lik {
                    row.extend_from_slice(ll);
                }
                row
            })
            .collect();
        let header = CsvHeader::for_chain(&stem, &config, chain);
        let file = std::fs::File::create(&path)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
        let mut writer = BufWriter::new(file);
        write_cmdstan_csv(&mut writer, &header, &columns, &chain.stats, &rows)
            .and_then(|_| writer.flush())
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }

    // Summary over everything but the log-likelihood columns, as summary.json documents.
    let keep: Vec<usize> = (0..names.len())
        .filter(|&i| !(names[i] == "log_lik" || names[i].starts_with("log_lik[")))
        .collect();
    let draw_rows: Vec<Vec<Vec<f64>>> = outputs
        .iter()
        .map(|c| {
            c.values
                .iter()
                .map(|row| keep.iter().map(|&i| row[i]).collect())
                .collect()
        })
        .collect();
    let kept_names: Vec<String> = keep.iter().map(|&i| names[i].clone()).collect();
    let log_lik_rows: Vec<Vec<Vec<f64>>> = if own_log_lik {
        let ll_idx: Vec<usize> = (0..names.len())
            .filter(|&i| names[i] == "log_lik" || names[i].starts_with("log_lik["))
            .collect();
        outputs
            .iter()
            .map(|c| {
                c.values
                    .iter()
                    .map(|row| ll_idx.iter().map(|&i| row[i]).collect())
                    .collect()
            })
            .collect()
    } else {
        outputs.iter().map(|c| c.log_lik.clone()).collect()
    };
    let stats: Vec<ChainStats> = output
        .chains
        .iter()
        .map(|c| ChainStats {
            energy: c.stats.iter().map(|s| s.energy).collect(),
            divergent: c.stats.iter().map(|s| s.divergent).collect(),
        })
        .collect();
    let summary = summarize_outputs(kept_names, &draw_rows, &stats, &log_lik_rows)?;
    write_summary(&out_dir, &summary)?;
    if flags.json {
        emit(&(summary.to_json() + "\n"))?;
    } else {
        emit(&render_table(&summary))?;
        emit(&(format!("output: {}", out_dir.display()) + "\n"))?;
    }
    Ok(ExitCode::SUCCESS)
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
