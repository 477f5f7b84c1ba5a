//! `sample` and `diagnose`: a fit (`refinestat_synthesis::fit`) written as CmdStan CSV,
//! summary.json and the summary table.

use crate::args::SampleFlags;
use crate::commands::{load_model, read_data};
use crate::error::{emit, CliError, Result};
use refinestat_diagnostics::{render_table, Summary};
use refinestat_inference::{write_cmdstan_csv, CsvHeader, SamplerConfig, StopReason};
use refinestat_synthesis::fit::fit_model;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

pub(crate) use refinestat_synthesis::fit::SamplingDensity;

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
    let fit = fit_model(&model, &config, |chain, iterations, _| {
        if let Some(bar) = &bar {
            done[chain] = iterations;
            bar.set_position(done.iter().sum::<usize>() as u64);
        }
    })
    .map_err(|e| CliError::new(e.to_string()))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    // One file per chain, written in parallel: formatting the numbers is most of the work when
    // there is a log-likelihood column per observation.
    use rayon::prelude::*;
    fit.sample
        .chains
        .par_iter()
        .zip(&fit.rows)
        .map(|(chain, rows)| {
            let path = out_dir.join(format!("chain-{}.csv", chain.chain + 1));
            let header = CsvHeader::for_chain(&stem, &config, chain);
            let file = std::fs::File::create(&path)
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
            let mut writer = BufWriter::new(file);
            write_cmdstan_csv(
                &mut writer,
                &header,
                &fit.layout.columns,
                &chain.stats,
                rows,
            )
            .and_then(|_| writer.flush())
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
        })
        .collect::<Result<()>>()?;

    let kept_draws = fit.kept_draws();
    if fit.sample.stop_reason() == StopReason::TimeBudget {
        let chains = &fit.sample.chains;
        let empty = chains.iter().filter(|c| c.draws.is_empty()).count();
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
            chains.len() - empty,
            if empty > 0 {
                format!(" ({empty} chain(s) had no post-warmup draws)")
            } else {
                String::new()
            }
        );
    }
    let summary = fit.summarize().map_err(|e| CliError::new(e.to_string()))?;
    write_summary(&out_dir, &summary)?;

    let depth_hits: usize = fit
        .sample
        .chains
        .iter()
        .flat_map(|c| &c.stats)
        .filter(|s| s.treedepth >= config.max_treedepth as u64)
        .count();
    let total_draws: usize = fit.sample.chains.iter().map(|c| c.stats.len()).sum();
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
