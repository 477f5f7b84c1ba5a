//! `sample` and `diagnose`: a fit (`refinestat_workflow::fit`) written as CmdStan CSV,
//! summary.json and the summary table.

use crate::args::{LogLikMode, LooFlags, SampleFlags};
use crate::commands::{load_model, read_data};
use crate::error::{emit, CliError, Result};
use refinestat_diagnostics::{render_table, Summary};
use refinestat_inference::{write_cmdstan_csv, CsvHeader, SamplerConfig, StopReason};
use refinestat_workflow::{fit_model_with, FitOptions};
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

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

/// The data of `sample`: the file given, or none for a program without data.
fn sample_data(model_path: &Path, data_path: Option<&Path>) -> Result<refinestat_language::Data> {
    match data_path {
        Some(p) => read_data(p),
        None => {
            let source = crate::commands::read_source(model_path)?;
            let parsed = refinestat_language::parse(&source);
            let declares_data = parsed
                .program
                .data
                .as_ref()
                .is_some_and(|b| !b.stmts.is_empty());
            if declares_data {
                return Err(CliError::new(format!(
                    "{} has a data block: give its data with --data FILE",
                    model_path.display()
                )));
            }
            Ok(refinestat_language::Data::default())
        }
    }
}

/// Data files larger than this are not copied into a `sample` directory: run.json names the
/// file (by absolute path) instead, and `refinestat report` reads it from there.
const DATA_COPY_MAX_BYTES: u64 = 10_000_000;

/// Copies of the program and data beside the draws, so `refinestat report DIR` needs nothing
/// else, and run.json naming where they came from. A data file over [`DATA_COPY_MAX_BYTES`] is
/// not copied (`"data_copied": false`; `"data"` is then its absolute path).
fn write_run_files(
    out_dir: &Path,
    model_path: &Path,
    source: &str,
    data_path: Option<&Path>,
    data: &refinestat_language::Data,
    log_lik: LogLikMode,
) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = out_dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
    };
    write("run_program.stan", source)?;
    let large = data_path
        .and_then(|p| std::fs::metadata(p).ok())
        .is_some_and(|m| m.len() > DATA_COPY_MAX_BYTES);
    let data_name = match data_path {
        Some(p) if large => Some(
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.to_path_buf())
                .display()
                .to_string(),
        ),
        Some(p) => Some(p.display().to_string()),
        None => None,
    };
    if !large {
        write("run_data.json", &(data.to_json_string() + "\n"))?;
    }
    let run = serde_json::json!({
        "command": "sample",
        "program": model_path.display().to_string(),
        "data": data_name,
        "data_copied": !large,
        "log_lik": log_lik_word(log_lik),
    });
    write(
        "run.json",
        &(serde_json::to_string_pretty(&run).expect("JSON of plain values") + "\n"),
    )
}

fn log_lik_word(mode: LogLikMode) -> &'static str {
    match mode {
        LogLikMode::Csv => "csv",
        LogLikMode::File => "file",
        LogLikMode::None => "none",
    }
}

/// Writes DIR/report.html; a report that cannot be made is a warning, not a failed run.
pub(crate) fn write_report(out_dir: &Path) -> Option<PathBuf> {
    write_fit_report(out_dir, None)
}

/// [`write_report`] of a `sample` directory with the summary `sample` computed (its PSIS-LOO
/// does not need `log_lik` columns in the CSVs).
fn write_fit_report(out_dir: &Path, summary: Option<&Summary>) -> Option<PathBuf> {
    let options = refinestat_report::ReportOptions {
        summary: summary.cloned(),
        ..refinestat_report::ReportOptions::default()
    };
    match refinestat_report::write_report(out_dir, &options) {
        Ok(written) => Some(written.path),
        Err(e) => {
            eprintln!("warning: no report.html: {e}");
            None
        }
    }
}

pub fn cmd_sample(
    model_path: &Path,
    data_path: Option<&Path>,
    flags: &SampleFlags,
) -> Result<ExitCode> {
    let data = sample_data(model_path, data_path)?;
    let (source, model) = load_model(model_path, &data)?;
    let stem = model_stem(model_path);
    let out_dir = flags
        .output_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("output").join(&stem));
    crate::outdir::claim(&out_dir, &crate::outdir::SAMPLE, flags.overwrite, "sample")?;
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

    let n_log_lik = model.n_log_lik();
    let log_lik = flags
        .log_lik
        .unwrap_or(if n_log_lik <= flags.log_lik_csv_max {
            LogLikMode::Csv
        } else {
            LogLikMode::None
        });
    let options = FitOptions {
        log_lik_rows: Some(log_lik == LogLikMode::Csv),
        loo: flags.loo.options(flags.seed),
    };

    let total = (config.chains * (config.warmup + config.draws)) as u64;
    let bar = progress_bar(total);
    let mut done = vec![0usize; config.chains];
    let fit = fit_model_with(&model, &config, &options, |chain, iterations, _| {
        if let Some(bar) = &bar {
            done[chain] = iterations;
            bar.set_position(done.iter().sum::<usize>() as u64);
        }
    })
    .map_err(|e| CliError::new(e.to_string()))?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }

    // Written once there are draws: a run that fails before its first draw leaves nothing.
    write_run_files(&out_dir, model_path, &source, data_path, &data, log_lik)?;
    write_chain_files(&out_dir, &stem, &config, &fit)?;
    let log_lik_line = match log_lik {
        _ if fit.n_log_lik() == 0 => "log_lik: none (no statement on observed data)".into(),
        LogLikMode::Csv if fit.layout.own_log_lik => {
            "log_lik: the program's own, in the CSVs".into()
        }
        LogLikMode::Csv => format!("log_lik: {n_log_lik} columns in the CSVs"),
        LogLikMode::File => {
            let path = out_dir.join("log_lik.npy");
            write_log_lik_npy(&path, &fit)?;
            format!("log_lik: {}", path.display())
        }
        LogLikMode::None => format!(
            "log_lik: not written ({n_log_lik} observations; --log-lik csv|file writes it, \
             `diagnose --program --data` recomputes it)"
        ),
    };

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
    let report = if flags.no_report {
        None
    } else {
        write_fit_report(&out_dir, Some(&summary))
    };
    if flags.json {
        emit(&(summary.to_json() + "\n"))?;
    } else {
        emit(&render_table(&summary))?;
        emit(&format!("{depth_line}\n"))?;
        emit(&format!("output: {}\n", out_dir.display()))?;
        emit(&format!("{log_lik_line}\n"))?;
        if let Some(report) = report {
            emit(&format!("report: {}\n", report.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// chain-<k>.csv of every chain of `fit` in `out_dir`.
pub(crate) fn write_chain_files(
    out_dir: &Path,
    stem: &str,
    config: &SamplerConfig,
    fit: &refinestat_workflow::fit::Fit,
) -> Result<()> {
    // One file per chain, written in parallel: formatting the numbers is most of the work when
    // there is a log-likelihood column per observation.
    use rayon::prelude::*;
    fit.sample
        .chains
        .par_iter()
        .zip(&fit.rows)
        .map(|(chain, rows)| {
            let path = out_dir.join(format!("chain-{}.csv", chain.chain + 1));
            let header = CsvHeader::for_chain(stem, config, chain);
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
        .collect::<Result<()>>()
}

/// log_lik.npy: the pointwise log-likelihood of every kept draw (see
/// [`refinestat_workflow::Fit::write_log_lik_npy`]), written to a temporary name and renamed.
fn write_log_lik_npy(path: &Path, fit: &refinestat_workflow::Fit) -> Result<()> {
    let fail = |e: String| CliError::new(format!("cannot write {}: {e}", path.display()));
    let partial = path.with_extension("npy.partial");
    let file = std::fs::File::create(&partial).map_err(|e| fail(e.to_string()))?;
    let mut writer = BufWriter::new(file);
    fit.write_log_lik_npy(&mut writer).map_err(|e| fail(e.0))?;
    writer.flush().map_err(|e| fail(e.to_string()))?;
    drop(writer);
    std::fs::rename(&partial, path).map_err(|e| fail(e.to_string()))
}

fn write_summary(dir: &Path, summary: &Summary) -> Result<()> {
    let path = dir.join("summary.json");
    std::fs::write(&path, summary.to_json() + "\n")
        .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

/// `diagnose`: summarizes CmdStan-layout CSVs. With `program = Some((program, data))` the
/// pointwise log-likelihood comes from the program at each draw instead of `log_lik` columns.
pub fn cmd_diagnose(
    csv: &[PathBuf],
    output_dir: Option<&Path>,
    json: bool,
    program: Option<(&Path, &Path)>,
    loo: &LooFlags,
) -> Result<ExitCode> {
    let mut chains = csv
        .iter()
        .map(|p| {
            refinestat_diagnostics::read_cmdstan_csv(p).map_err(|e| CliError::new(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let summary = match program {
        Some((program, data)) => {
            let (model, draws) = draws_for_program(&chains, program, data)?;
            let draws: Vec<&[Vec<f64>]> = draws.iter().map(Vec::as_slice).collect();
            // The files' log_lik columns are not used: the program's replaces them.
            for chain in &mut chains {
                chain.log_lik.clear();
            }
            let options = loo.options(1);
            let mut failure = None;
            let summary = refinestat_diagnostics::summarize_csv_with_loo(&chains, |r_eff| {
                match refinestat_workflow::loo_from_model(&model, &draws, r_eff, &options) {
                    Ok(loo) => Ok(loo),
                    Err(e) => {
                        failure = Some(e);
                        Ok(None)
                    }
                }
            })
            .map_err(|e| CliError::new(e.to_string()))?;
            if let Some(e) = failure {
                return Err(CliError::new(e.to_string()));
            }
            summary
        }
        None => {
            let mut summary = refinestat_diagnostics::summarize_csv(&chains)
                .map_err(|e| CliError::new(e.to_string()))?;
            // The files' log_lik columns are used whole (there is no program for the
            // approximation subsampling needs); below the threshold that is what `sample` and
            // `--program` compute too, so the summary states the same threshold.
            let options = loo.options(1);
            if let Some(l) = summary.loo.as_mut() {
                if options
                    .subsample_above
                    .is_some_and(|above| l.n_obs <= above)
                {
                    l.subsample_above = options.subsample_above;
                }
            }
            summary
        }
    };
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

/// One parameter of the program as the CSV columns spell it: its Stan name (`L`), its sizes
/// (from the largest index of each position, so `L[2,3]` makes `[2, 3]`), and each element's
/// Stan name (`L[2,1]`) with its place in row-major (Stan JSON) order.
struct ParamColumns {
    name: String,
    dims: Vec<usize>,
    elements: Vec<(String, usize)>,
}

/// `L[2,1]` -> (`L`, [2, 1]); `mu` -> (`mu`, []). Indexes are 1-based.
fn split_stan_name(name: &str) -> (&str, Vec<usize>) {
    match name.split_once('[') {
        Some((base, rest)) => {
            let indexes = rest
                .trim_end_matches(']')
                .split(',')
                .filter_map(|i| i.trim().parse().ok())
                .collect();
            (base, indexes)
        }
        None => (name, Vec::new()),
    }
}

/// An element's Stan name (`L[2,1]`) and its 1-based indexes (`[2, 1]`).
type IndexedElement = (String, Vec<usize>);

/// Groups the model's element names (`theta[1]`, `theta[2]`, `tau`) by parameter.
fn param_columns(element_names: &[String]) -> Vec<ParamColumns> {
    let mut params: Vec<(String, Vec<IndexedElement>)> = Vec::new();
    for element in element_names {
        let (base, indexes) = split_stan_name(element);
        match params.iter_mut().find(|(name, _)| name == base) {
            Some((_, elements)) => elements.push((element.clone(), indexes)),
            None => params.push((base.to_string(), vec![(element.clone(), indexes)])),
        }
    }
    params
        .into_iter()
        .map(|(name, elements)| {
            let rank = elements.first().map_or(0, |(_, i)| i.len());
            let dims: Vec<usize> = (0..rank)
                .map(|k| {
                    elements
                        .iter()
                        .map(|(_, i)| i.get(k).copied().unwrap_or(1))
                        .max()
                        .unwrap_or(1)
                })
                .collect();
            let elements = elements
                .into_iter()
                .map(|(element, indexes)| {
                    let position = indexes
                        .iter()
                        .zip(&dims)
                        .fold(0, |acc, (&i, &d)| acc * d + i.saturating_sub(1));
                    (element, position)
                })
                .collect();
            ParamColumns {
                name,
                dims,
                elements,
            }
        })
        .collect()
}

/// The program of `diagnose --program` and every chain's draws on its unconstrained space: the
/// constrained parameter columns are read back into named values and mapped to the
/// unconstrained space, where [`refinestat_workflow::loo_from_model`] evaluates the pointwise
/// log-likelihood chunk by chunk. Transformed parameters and generated quantities in the files
/// are not used (the program recomputes them).
fn draws_for_program(
    chains: &[refinestat_diagnostics::ChainCsv],
    program: &Path,
    data_path: &Path,
) -> Result<(refinestat_model::Model, Vec<Vec<Vec<f64>>>)> {
    use rayon::prelude::*;
    use refinestat_inference::cmdstan_column_name;
    use refinestat_language::{Data, DataValue};

    let data = read_data(data_path)?;
    let (_, model) = load_model(program, &data)?;
    if model.n_log_lik() == 0 {
        return Err(CliError::new(format!(
            "{} has no observed data with {}: there is no log-likelihood for PSIS-LOO",
            program.display(),
            data_path.display()
        )));
    }
    let params = param_columns(&model.param_names());
    let mut draws = Vec::with_capacity(chains.len());
    for chain in chains.iter() {
        let file = chain.path.display().to_string();
        let column_of = |element: &str| chain.param_names.iter().position(|n| n == element);
        // Columns of a parameter that the program with this data does not have: the CSV was
        // sampled with other sizes (other data) or from another program.
        for column in &chain.param_names {
            let (base, _) = split_stan_name(column);
            if let Some(param) = params.iter().find(|p| p.name == base) {
                if !param.elements.iter().any(|(e, _)| e == column) {
                    return Err(CliError::new(format!(
                        "{file}: column `{}` does not fit parameter `{base}` of {}, which has \
                         sizes {:?} with data {}",
                        cmdstan_column_name(column),
                        program.display(),
                        param.dims,
                        data_path.display()
                    )));
                }
            }
        }
        // For each parameter: its sizes and, per element, (CSV column, row-major position).
        let mut layout: Vec<(&ParamColumns, Vec<(usize, usize)>)> = Vec::new();
        for param in &params {
            let mut columns = Vec::with_capacity(param.elements.len());
            for (element, position) in &param.elements {
                let column = column_of(element).ok_or_else(|| {
                    CliError::new(format!(
                        "{file}: no column `{}` for parameter `{element}` of {}",
                        cmdstan_column_name(element),
                        program.display()
                    ))
                })?;
                columns.push((column, *position));
            }
            layout.push((param, columns));
        }
        let unconstrained = chain
            .params
            .par_iter()
            .enumerate()
            .map(|(draw, row)| {
                let mut values = Data::default();
                for (param, columns) in &layout {
                    let mut flat = vec![0.0; param.elements.len()];
                    for &(column, position) in columns {
                        flat[position] = row[column];
                    }
                    let value = if param.dims.is_empty() {
                        DataValue::scalar(flat[0], false)
                    } else {
                        DataValue::array(param.dims.clone(), flat, false)
                    };
                    values.vars.insert(param.name.clone(), value);
                }
                let at_draw = |e: refinestat_model::ModelError| {
                    CliError::new(format!("{file}: draw {} (after warmup): {e}", draw + 1))
                };
                model.unconstrain(&values).map_err(at_draw)
            })
            .collect::<Result<Vec<Vec<f64>>>>()?;
        draws.push(unconstrained);
    }
    Ok((model, draws))
}
