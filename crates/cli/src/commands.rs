//! One function per subcommand; each turns validated flags into one library call and prints.

use crate::args::{Cli, Command};
use crate::error::{emit, CliError, Result};
use refinestat_language::{
    check, diagnostic::line_col, parse, CsvOptions, Data, Diagnostic, Severity,
};
use refinestat_model::{LogDensityOptions, Model};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--drop-missing`, a global flag: read by [`read_data`] wherever `--data` is loaded.
static DROP_MISSING: AtomicBool = AtomicBool::new(false);

pub fn run(cli: Cli) -> Result<ExitCode> {
    DROP_MISSING.store(cli.drop_missing, Ordering::Relaxed);
    match cli.command {
        Command::Check {
            model,
            data,
            json,
            strict,
        } => cmd_check(&model, data.as_deref(), json, strict),
        Command::Fmt {
            model,
            canonical,
            check,
            in_place,
        } => cmd_fmt(&model, canonical, check, in_place),
        Command::Logp {
            model,
            data,
            params,
            unconstrained,
            propto,
        } => {
            let point = match (params, unconstrained) {
                (Some(p), _) => Point::Constrained(p),
                (None, Some(u)) => Point::Unconstrained(u),
                (None, None) => unreachable!("clap requires --params or --unconstrained"),
            };
            cmd_logp(&model, &data, &point, propto)
        }
        Command::Simulate {
            model,
            data,
            draws,
            seed,
        } => cmd_simulate(&model, &data, draws, seed),
        Command::Sample { model, data, flags } => {
            crate::fit::cmd_sample(&model, data.as_deref(), &flags)
        }
        Command::Report { dir, max_params } => cmd_report(&dir, max_params),
        Command::Diagnose {
            csv,
            output_dir,
            json,
            program,
            data,
            loo,
        } => {
            let program = program.as_deref().zip(data.as_deref());
            crate::fit::cmd_diagnose(&csv, output_dir.as_deref(), json, program, &loo)
        }
        Command::Sbc { model, data, flags } => crate::sbc::cmd_sbc(&model, &data, &flags),
        Command::Generate(args) => crate::generate::cmd_generate(&args),
        Command::Synth(args) => crate::synth::cmd_synth(&args),
        Command::Experiment(args) => crate::experiment::cmd_experiment(&args),
        Command::Spfn(cmd) => crate::spfn::run(cmd),
    }
}

pub fn read_source(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read model file {}: {e}", path.display())))
}

/// Reads `--data`: Stan JSON, or a CSV table when the file is named `.csv` or does not start with
/// `{` (text columns become 1..J indexes with a size `J_<name>`; what was converted or dropped is
/// said on stderr).
pub fn read_data(path: &Path) -> Result<Data> {
    read_data_in_order(path).map(|(data, _)| data)
}

/// [`read_data`], with the file's variables in the order it lists them (a CSV's columns after
/// `N`, a JSON object's keys): the response is decided with it.
pub fn read_data_in_order(path: &Path) -> Result<(Data, Vec<String>)> {
    let at = |e: refinestat_language::DataError| CliError::new(format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read data file {}: {e}", path.display())))?;
    let named_csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if !named_csv && !Data::looks_like_csv(&text) {
        let data = Data::from_json_str(&text).map_err(at)?;
        return Ok((data, Data::variable_order(&text)));
    }
    let options = CsvOptions {
        drop_missing: DROP_MISSING.load(Ordering::Relaxed),
    };
    let table = Data::from_csv_str(&text, options).map_err(at)?;
    let file = path.display();
    for (raw, name) in &table.renamed {
        eprintln!("{file}: column `{raw}` is read as `{name}`");
    }
    for (name, levels) in &table.levels {
        let shown: Vec<&str> = levels.iter().take(8).map(String::as_str).collect();
        let more = if levels.len() > 8 { ", ..." } else { "" };
        eprintln!(
            "{file}: text column `{name}` is read as an index 1..{} (J_{name} = {}): {}{more}",
            levels.len(),
            levels.len(),
            shown.join(", ")
        );
    }
    if !table.dropped_lines.is_empty() {
        let lines: Vec<String> = table
            .dropped_lines
            .iter()
            .take(10)
            .map(u64::to_string)
            .collect();
        let more = if table.dropped_lines.len() > 10 {
            ", ..."
        } else {
            ""
        };
        eprintln!(
            "{file}: dropped {} rows with a missing value (lines {}{more}); N = {}",
            table.dropped_lines.len(),
            lines.join(", "),
            table
                .data
                .get("N")
                .and_then(|n| n.as_scalar())
                .unwrap_or(0.0)
        );
    }
    Ok((table.data, table.columns))
}

fn diagnostic_json(source: &str, d: &Diagnostic) -> serde_json::Value {
    let (line, column) = line_col(source, d.span.start);
    let (end_line, end_column) = line_col(source, d.span.end);
    serde_json::json!({
        "predicate": d.predicate.as_str(),
        "severity": d.severity.as_str(),
        "message": d.message,
        "hint": d.hint,
        "line": line,
        "column": column,
        "end_line": end_line,
        "end_column": end_column,
        "span": [d.span.start, d.span.end],
    })
}

fn cmd_check(model: &Path, data: Option<&Path>, json: bool, strict: bool) -> Result<ExitCode> {
    let source = read_source(model)?;
    let data = data.map(read_data).transpose()?;
    let mut diagnostics = check(&source, data.as_ref());
    if strict {
        for d in &mut diagnostics {
            d.severity = Severity::Error;
        }
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    let path = model.display().to_string();
    if json {
        let out = serde_json::json!({
            "file": path,
            "valid": errors == 0,
            "errors": errors,
            "warnings": warnings,
            "violations": diagnostics.iter().map(|d| diagnostic_json(&source, d)).collect::<Vec<_>>(),
        });
        emit(&(serde_json::to_string_pretty(&out).expect("JSON of plain values") + "\n"))?;
    } else if diagnostics.is_empty() {
        emit(&(format!("{path}: valid") + "\n"))?;
    } else {
        emit(&refinestat_language::render::render_pretty(
            &path,
            &source,
            &diagnostics,
        ))?;
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let summary = if errors == 0 {
            format!("{path}: valid, {warnings} warning{}", plural(warnings))
        } else if warnings == 0 {
            format!("{path}: {errors} violation{}", plural(errors))
        } else {
            format!(
                "{path}: {errors} violation{}, {warnings} warning{}",
                plural(errors),
                plural(warnings)
            )
        };
        emit(&(summary + "\n"))?;
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn cmd_fmt(models: &[PathBuf], canonical: bool, check: bool, in_place: bool) -> Result<ExitCode> {
    if !check && !in_place && models.len() != 1 {
        return Err(CliError::new(format!(
            "fmt prints one program; {} were given (use --check or --in-place for several)",
            models.len()
        )));
    }
    let mut changed = Vec::new();
    for model in models {
        let source = read_source(model)?;
        let parsed = parse(&source);
        let path = model.display().to_string();
        if !parsed.errors.is_empty() {
            eprint!(
                "{}",
                refinestat_language::render::render_pretty(&path, &source, &parsed.errors)
            );
            return Err(CliError::new(format!(
                "{path} does not parse; nothing formatted"
            )));
        }
        let text = if canonical {
            refinestat_language::canonical(&parsed.program)
        } else {
            refinestat_language::print_program_with_comments(&parsed.program, &source)
        };
        if check {
            if text != source {
                eprintln!("{path} would be reformatted");
                changed.push(path);
            }
        } else if in_place {
            if text != source {
                std::fs::write(model, &text)
                    .map_err(|e| CliError::new(format!("cannot write {path}: {e}")))?;
                eprintln!("reformatted {path}");
            }
        } else {
            emit(&text)?;
        }
    }
    if check && !changed.is_empty() {
        eprintln!(
            "{} of {} file(s) would be reformatted",
            changed.len(),
            models.len()
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Compile a model file with its data, turning check violations into one readable error.
pub fn load_model(model: &Path, data: &Data) -> Result<(String, Model)> {
    let source = read_source(model)?;
    let diagnostics = check(&source, Some(data));
    let path = model.display().to_string();
    let (errors, warnings): (Vec<Diagnostic>, Vec<Diagnostic>) =
        diagnostics.into_iter().partition(|d| d.is_error());
    if !errors.is_empty() {
        return Err(CliError::new(format!(
            "{path} is not a valid program for this data:\n{}",
            refinestat_language::render::render_plain(&path, &source, &errors).trim_end()
        )));
    }
    if !warnings.is_empty() {
        // Warnings go to stderr so that stdout stays the command's output.
        eprint!(
            "{}",
            refinestat_language::render::render_plain(&path, &source, &warnings)
        );
    }
    let compiled = Model::from_source(&source, data)?;
    Ok((source, compiled))
}

/// A JSON number, or null where the value is not finite (JSON has no inf/NaN).
fn num(x: f64) -> serde_json::Value {
    serde_json::Number::from_f64(x)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

/// Where `logp` evaluates: constrained values by name, or Stan's unconstrained vector.
enum Point {
    Constrained(std::path::PathBuf),
    Unconstrained(std::path::PathBuf),
}

/// An unconstrained point: a JSON array of finite numbers.
fn read_unconstrained(path: &Path) -> Result<Vec<f64>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| CliError::new(format!("{}: not JSON: {e}", path.display())))?;
    let not_array = || {
        CliError::new(format!(
            "{}: expected a JSON array of numbers (the unconstrained parameter vector)",
            path.display()
        ))
    };
    let items = value.as_array().ok_or_else(not_array)?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(CliError::new(format!(
                "{}: element {} is {v}, not a finite number",
                path.display(),
                i + 1
            ))),
        })
        .collect()
}

fn cmd_logp(model: &Path, data: &Path, point: &Point, propto: bool) -> Result<ExitCode> {
    let data = read_data(data)?;
    let (_, mut compiled) = load_model(model, &data)?;
    let x = match point {
        Point::Constrained(params) => compiled.unconstrain(&read_data(params)?)?,
        Point::Unconstrained(path) => {
            let x = read_unconstrained(path)?;
            if x.len() != compiled.dim() {
                return Err(CliError::new(format!(
                    "{}: {} values, but the program has {} unconstrained parameters",
                    path.display(),
                    x.len(),
                    compiled.dim()
                )));
            }
            x
        }
    };
    let opts = |jacobian| LogDensityOptions { jacobian, propto };
    let lp = compiled.log_density(&x, opts(false))?;
    let mut grad = vec![0.0; compiled.dim()];
    let lp_jacobian = compiled.log_density_gradient(&x, opts(true), &mut grad)?;
    let mut grad_no_jacobian = vec![0.0; compiled.dim()];
    compiled.log_density_gradient(&x, opts(false), &mut grad_no_jacobian)?;
    let log_lik = compiled.log_lik(&x)?;
    let nums = |v: &[f64]| v.iter().map(|&g| num(g)).collect::<Vec<_>>();
    let out = serde_json::json!({
        "lp": num(lp),
        "lp_jacobian": num(lp_jacobian),
        "grad": nums(&grad),
        "grad_no_jacobian": nums(&grad_no_jacobian),
        "propto": propto,
        "unconstrained": nums(&x),
        "log_lik": nums(&log_lik),
    });
    emit(&(serde_json::to_string_pretty(&out).expect("JSON of plain values") + "\n"))?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_simulate(model: &Path, data: &Path, draws: usize, seed: u64) -> Result<ExitCode> {
    use rand::SeedableRng;
    let data = read_data(data)?;
    let (_, compiled) = load_model(model, &data)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Draws are written one per line inside the array so long runs stream and stay readable.
    let mut out = String::from("{\"draws\": [\n");
    for i in 0..draws {
        let draw = compiled
            .simulate(&mut rng)
            .map_err(|e| CliError::new(format!("prior-predictive draw {}: {e}", i + 1)))?;
        if i > 0 {
            out.push_str(",\n");
        }
        out.push_str(&format!(
            "{{\"params\": {}, \"data\": {}}}",
            draw.params.to_json_string(),
            draw.data.to_json_string()
        ));
    }
    out.push_str("\n]}\n");
    emit(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn cmd_report(dir: &Path, max_params: usize) -> Result<ExitCode> {
    let options = refinestat_report::ReportOptions {
        max_params,
        ..refinestat_report::ReportOptions::default()
    };
    let written =
        refinestat_report::write_report(dir, &options).map_err(|e| CliError::new(e.to_string()))?;
    emit(&format!(
        "report: {} ({} KiB)\n",
        written.path.display(),
        written.bytes.div_ceil(1024)
    ))?;
    Ok(ExitCode::SUCCESS)
}
