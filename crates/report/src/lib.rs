//! The report stage of refinestat: one self-contained HTML page (`report.html`) of a fit or of a
//! synthesis run, readable in any browser without network access or JavaScript.
//!
//! Owns: reading an output directory of `sample` (chain-*.csv in CmdStan layout, `run_program.stan`,
//! `run_data.json`, `run.json`) or of `synth` (`candidates/`, `comparison.json`, `best/` with the best program's
//! fit), the figures (inline SVG drawn with `plotters`' SVG backend: trace, rank, pairs, energy,
//! posterior predictive checks, LOO-PIT, Pareto k), and the page. Posterior predictive
//! replicates come from the model crate ([`refinestat_model::Model::replicate`]); every
//! statistic of the summary and the seven checks from the diagnostics crate.
//!
//! Does not own: sampling, synthesis, or any statistic of the checks (it shows them). Depends on
//! language, model and diagnostics only; never on synthesis.
//!
//! Caps keep large models readable and the file small ([`ReportOptions`]): at most 12
//! parameters in trace and rank plots (those with the highest R-hat when there are more), traces
//! thinned to 400 draws per chain, a pairs plot of at most 4 parameters and 400 draws,
//! posterior predictive checks on at most 1000 thinned draws (50 of them drawn as densities).
//!
//! ```no_run
//! let written = refinestat_report::write_report(
//!     std::path::Path::new("output/eight_schools"),
//!     &refinestat_report::ReportOptions::default(),
//! )?;
//! println!("{} ({} bytes)", written.path.display(), written.bytes);
//! # Ok::<(), refinestat_report::ReportError>(())
//! ```

#![warn(missing_docs)]

mod html;
mod plots;
mod ppc;
mod synth;

use html::{esc, figure, num, verdict};
use refinestat_diagnostics::{read_cmdstan_csv, summarize_csv, ChainCsv, Check, Checks, Summary};
use refinestat_language::Data;
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// Caps and seed of a report.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    /// Parameters with trace and rank plots.
    pub max_params: usize,
    /// Draws per chain in trace plots (evenly thinned).
    pub trace_draws: usize,
    /// Parameters in the pairs plot.
    pub pairs_params: usize,
    /// Draws in the pairs plot (evenly thinned; divergent ones always kept).
    pub pairs_draws: usize,
    /// Posterior draws replicated for the predictive checks and LOO-PIT (evenly thinned).
    pub ppc_draws: usize,
    /// Replicates drawn as densities in the predictive check.
    pub ppc_overlay: usize,
    /// Seed of the replicates.
    pub seed: u64,
    /// The summary of a `sample` directory as `sample` computed it (PSIS-LOO included, which
    /// the chain files cannot give when they have no `log_lik` columns); `None`: computed from
    /// the chain files.
    pub summary: Option<Summary>,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            max_params: 12,
            trace_draws: 400,
            pairs_params: 4,
            pairs_draws: 400,
            ppc_draws: 1000,
            ppc_overlay: 50,
            seed: 1,
            summary: None,
        }
    }
}

/// Why no report was written; each names the file or directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// A file could not be read or written.
    #[error("{path}: {message}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The directory is not the output of `sample` or `synth` (the message says what is missing).
    #[error("{0}")]
    NotARun(String),
    /// The draws' CSV files could not be read as draws (the message names the file).
    #[error("{0}")]
    Draws(String),
}

fn io_error(path: &Path, e: impl std::fmt::Display) -> ReportError {
    ReportError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The written report.
#[derive(Debug, Clone)]
pub struct Written {
    /// Where the report is.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
}

/// Writes `dir/report.html` for the `sample` or `synth` output directory `dir`.
pub fn write_report(dir: &Path, options: &ReportOptions) -> Result<Written, ReportError> {
    let text = render_report(dir, options)?;
    let path = dir.join("report.html");
    std::fs::write(&path, &text).map_err(|e| io_error(&path, e))?;
    Ok(Written {
        path,
        bytes: text.len(),
    })
}

/// The report of `dir` as HTML text: a synthesis run when `dir` has `candidates/` and
/// `log.jsonl`, a fit when it has chain-*.csv files.
pub fn render_report(dir: &Path, options: &ReportOptions) -> Result<String, ReportError> {
    if dir.join("log.jsonl").is_file() && dir.join("candidates").is_dir() {
        return synth::render(dir, options);
    }
    let mut fit = FitDir::read(dir)?;
    if let Some(summary) = &options.summary {
        fit.summary = summary.clone();
    }
    let (body, nav) = fit_sections(&fit, options, "", true)?;
    let title = match &fit.program_name {
        Some(name) => format!("refinestat fit: {name}"),
        None => "refinestat fit".to_string(),
    };
    Ok(html::page(&title, &fit.subtitle(), &nav, &body))
}

/// A `sample` output directory, read.
pub(crate) struct FitDir {
    dir: PathBuf,
    chains: Vec<ChainCsv>,
    summary: Summary,
    program: Option<String>,
    program_name: Option<String>,
    data: Option<Data>,
    /// Why there is no program or data (for the notes).
    missing: Vec<String>,
}

/// chain-<k>.csv files of `dir`, by k.
fn chain_files(dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut files: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let k = name
                .strip_prefix("chain-")?
                .strip_suffix(".csv")?
                .parse()
                .ok()?;
            Some((k, e.path()))
        })
        .collect();
    files.sort();
    Ok(files.into_iter().map(|(_, p)| p).collect())
}

impl FitDir {
    pub(crate) fn read(dir: &Path) -> Result<FitDir, ReportError> {
        if !dir.is_dir() {
            return Err(ReportError::NotARun(format!(
                "{} is not a directory",
                dir.display()
            )));
        }
        let files = chain_files(dir)?;
        if files.is_empty() {
            return Err(ReportError::NotARun(format!(
                "{} holds no chain-<k>.csv files (the output of `refinestat sample`) and no \
                 log.jsonl with candidates/ (the output of `refinestat synth`)",
                dir.display()
            )));
        }
        let chains = files
            .iter()
            .map(|p| read_cmdstan_csv(p).map_err(|e| ReportError::Draws(e.to_string())))
            .collect::<Result<Vec<_>, _>>()?;
        let summary = summarize_csv(&chains).map_err(|e| ReportError::Draws(e.to_string()))?;
        let mut missing = Vec::new();
        let program_path = dir.join("run_program.stan");
        let program = match std::fs::read_to_string(&program_path) {
            Ok(p) => Some(p),
            Err(_) => {
                missing.push(format!("no {}", program_path.display()));
                None
            }
        };
        let run = std::fs::read_to_string(dir.join("run.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        let program_name = run
            .as_ref()
            .and_then(|v| v.get("program")?.as_str().map(str::to_string));
        // Large data are not copied into the directory: run.json names the file instead.
        let not_copied = run
            .as_ref()
            .filter(|v| v.get("data_copied").and_then(|c| c.as_bool()) == Some(false))
            .and_then(|v| v.get("data")?.as_str().map(PathBuf::from));
        let data_path = not_copied.unwrap_or_else(|| dir.join("run_data.json"));
        let data = if data_path.is_file() {
            match Data::from_path(&data_path) {
                Ok(d) => Some(d),
                Err(e) => {
                    missing.push(format!("{}: {e}", data_path.display()));
                    None
                }
            }
        } else {
            missing.push(format!("no {}", data_path.display()));
            None
        };
        Ok(FitDir {
            dir: dir.to_path_buf(),
            chains,
            summary,
            program,
            program_name,
            data,
            missing,
        })
    }

    fn draws_per_chain(&self) -> usize {
        self.chains
            .iter()
            .map(|c| c.params.len())
            .min()
            .unwrap_or(0)
    }

    fn subtitle(&self) -> String {
        let r = &self.summary.reliability;
        format!(
            "{} &middot; {} chains &times; {} draws &middot; reliability {}/7 (strict {}/7)",
            esc(&self.dir.display().to_string()),
            self.chains.len(),
            self.draws_per_chain(),
            r.refinestat.score,
            r.strict.score
        )
    }
}

/// One line per failed check of RefineStat's seven, with its value and threshold
/// (`R-hat 1.08 (needs < 1.05)`); empty when all pass.
pub fn failed_checks(checks: &Checks) -> Vec<String> {
    check_rows(checks)
        .into_iter()
        .filter(|(_, c, ..)| !c.pass)
        .map(|(_, c, what, need, d)| match c.value {
            Some(v) if v.is_finite() => format!("{what} {} (needs {need})", num(Some(v), d)),
            _ => format!("{what} not computable (needs {need})"),
        })
        .collect()
}

/// (label, check, short name, requirement, decimals) of the seven checks.
fn check_rows(c: &Checks) -> [(&'static str, Check, &'static str, &'static str, usize); 7] {
    [
        ("R-hat (max over quantities)", c.rhat, "R-hat", "< 1.05", 3),
        ("bulk ESS (min)", c.ess_bulk, "bulk ESS", ">= 400", 0),
        ("tail ESS (min)", c.ess_tail, "tail ESS", ">= 100", 0),
        (
            "divergent transitions",
            c.divergences,
            "divergences",
            "= 0",
            0,
        ),
        ("E-BFMI (min over chains)", c.bfmi, "E-BFMI", "> 0.3", 3),
        (
            "share of observations with Pareto k > 0.7",
            c.pareto_k,
            "share of Pareto k > 0.7",
            "<= 0.2",
            3,
        ),
        ("ELPD-LOO", c.elpd_finite, "ELPD-LOO", "finite", 2),
    ]
}

/// The seven checks as summary.json writes them (`{"rhat": {"value": .., "pass": ..}, ..}`).
pub fn checks_from_json(checks: &serde_json::Value) -> Option<Checks> {
    let one = |name: &str| -> Option<Check> {
        let c = checks.get(name)?;
        Some(Check {
            value: c.get("value").and_then(serde_json::Value::as_f64),
            pass: c.get("pass")?.as_bool()?,
        })
    };
    Some(Checks {
        rhat: one("rhat")?,
        ess_bulk: one("ess_bulk")?,
        ess_tail: one("ess_tail")?,
        divergences: one("divergences")?,
        bfmi: one("bfmi")?,
        pareto_k: one("pareto_k")?,
        elpd_finite: one("elpd_finite")?,
    })
}

/// Evenly spaced indexes `0..n`, at most `max` of them.
fn thin(n: usize, max: usize) -> impl Iterator<Item = usize> {
    (0..n).step_by(n.div_ceil(max.max(1)).max(1))
}

/// The sections of a fit (ids prefixed by `prefix`) and the navigation entries.
pub(crate) fn fit_sections(
    fit: &FitDir,
    options: &ReportOptions,
    prefix: &str,
    show_program: bool,
) -> Result<(String, Vec<(String, String)>), ReportError> {
    let mut out = String::new();
    let s = &fit.summary;
    let names = fit.chains[0].param_names.clone();
    let per_chain = fit.draws_per_chain();
    let column = |j: usize, chain: &ChainCsv| -> Vec<f64> {
        chain.params[..per_chain].iter().map(|r| r[j]).collect()
    };

    // The model's own parameters (not transformed parameters or generated quantities) when the
    // program compiles with the data; otherwise every column.
    let model = match (&fit.program, &fit.data) {
        (Some(p), Some(d)) => refinestat_model::Model::from_source(p, d).ok(),
        _ => None,
    };
    let param_set: Vec<usize> = match &model {
        Some(m) => {
            let own = m.param_names();
            let idx: Vec<usize> = (0..names.len())
                .filter(|&j| own.contains(&names[j]))
                .collect();
            if idx.is_empty() {
                (0..names.len()).collect()
            } else {
                idx
            }
        }
        None => (0..names.len()).collect(),
    };

    // Overview and notes.
    let _ = writeln!(out, "<h2 id=\"{prefix}overview\">Overview</h2>");
    let r = &s.reliability;
    let _ = writeln!(
        out,
        "<p class=\"score\">Reliability: {}/7 checks pass (strict thresholds: {}/7).</p>",
        r.refinestat.score, r.strict.score
    );
    let mut notes = vec![format!(
        "{} chains &times; {per_chain} post-warmup draws; files in <code>{}</code>.",
        fit.chains.len(),
        esc(&fit.dir.display().to_string())
    )];
    if !fit.missing.is_empty() {
        notes.push(format!(
            "Without the program and data ({}), the posterior predictive check and LOO-PIT are \
             left out.",
            esc(&fit.missing.join("; "))
        ));
    }
    for n in notes {
        let _ = writeln!(out, "<p class=\"note\">{n}</p>");
    }

    // Program.
    let program = fit.program.as_ref().filter(|_| show_program);
    if let Some(p) = program {
        let _ = writeln!(
            out,
            "<h2 id=\"{prefix}program\">Program</h2>\n<pre>{}</pre>",
            esc(p.trim_end())
        );
    }

    // Checks.
    let _ = writeln!(out, "<h2 id=\"{prefix}checks\">Reliability checks</h2>");
    out.push_str("<table><tr><th class=\"l\">check</th><th>RefineStat needs</th><th>value</th><th>RefineStat</th><th>strict needs</th><th>value</th><th>strict</th></tr>\n");
    let strict = check_rows(&r.strict.checks);
    let strict_needs = [
        "< 1.01",
        ">= 400",
        ">= 400",
        "= 0",
        "> 0.3",
        "0 (share of k > k_threshold)",
        "finite",
    ];
    for ((row, st), st_need) in check_rows(&r.refinestat.checks)
        .iter()
        .zip(strict)
        .zip(strict_needs)
    {
        let (label, c, _, need, d) = row;
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{label}</td><td>{}</td><td>{}</td>{}<td>{}</td><td>{}</td>{}</tr>",
            esc(need),
            num(c.value, *d),
            verdict(c.pass),
            esc(st_need),
            num(st.1.value, *d),
            verdict(st.1.pass)
        );
    }
    out.push_str("</table>\n<p class=\"note\">The score counts RefineStat's thresholds; the strict column applies current recommendations (Vehtari et al. 2021; ArviZ's sample-size dependent k_threshold).</p>\n");
    if let Some(loo) = &s.loo {
        let _ = writeln!(
            out,
            "<p>PSIS-LOO: elpd_loo {} (se {}), p_loo {}.</p>",
            num(Some(loo.elpd_loo), 2),
            num(Some(loo.se), 2),
            num(Some(loo.p_loo), 2)
        );
    }

    // Summary table.
    let _ = writeln!(out, "<h2 id=\"{prefix}summary\">Posterior summary</h2>");
    out.push_str("<table><tr><th class=\"l\"></th><th>mean</th><th>sd</th><th>5%</th><th>50%</th><th>95%</th><th>MCSE</th><th>R-hat</th><th>ESS bulk</th><th>ESS tail</th></tr>\n");
    const MAX_ROWS: usize = 200;
    for (name, p) in s.parameters.iter().take(MAX_ROWS) {
        let bad = |bad: bool| if bad { " class=\"bad\"" } else { "" };
        let _ = writeln!(
            out,
            "<tr><td class=\"l\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td{}>{}</td><td{}>{}</td></tr>",
            esc(name),
            num(p.mean, 3),
            num(p.sd, 3),
            num(p.q5, 3),
            num(p.q50, 3),
            num(p.q95, 3),
            num(p.mcse_mean, 4),
            bad(p.rhat.is_some_and(|v| v >= 1.05)),
            num(p.rhat, 3),
            bad(p.ess_bulk.is_some_and(|v| v < 400.0)),
            num(p.ess_bulk, 0),
            bad(p.ess_tail.is_some_and(|v| v < 100.0)),
            num(p.ess_tail, 0),
        );
    }
    out.push_str("</table>\n");
    if s.parameters.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "<p class=\"note\">First {MAX_ROWS} of {} quantities; all are in summary.json.</p>",
            s.parameters.len()
        );
    }

    // Trace and rank plots.
    let _ = writeln!(out, "<h2 id=\"{prefix}traces\">Trace and rank plots</h2>");
    let mut shown: Vec<usize> = param_set.clone();
    if shown.len() > options.max_params {
        let rhat = |j: usize| {
            s.parameter(&names[j])
                .and_then(|p| p.rhat)
                .unwrap_or(f64::INFINITY)
        };
        shown.sort_by(|&a, &b| rhat(b).total_cmp(&rhat(a)));
        shown.truncate(options.max_params);
        shown.sort();
        let _ = writeln!(
            out,
            "<p class=\"note\">{} of {} parameters: those with the highest R-hat.</p>",
            shown.len(),
            param_set.len()
        );
    }
    let _ = writeln!(
        out,
        "<p class=\"note\">Left: draws by iteration, one colour per chain{}. Right: rank plot \
         (ranks of each chain's draws among all draws, 20 bins); well-mixed chains stay near the \
         dashed line.</p>",
        if per_chain > options.trace_draws {
            format!(
                ", every {}th draw shown",
                per_chain.div_ceil(options.trace_draws)
            )
        } else {
            String::new()
        }
    );
    out.push_str("<div class=\"pairs\">\n");
    for &j in &shown {
        let traces: Vec<Vec<(f64, f64)>> = fit
            .chains
            .iter()
            .map(|c| {
                thin(per_chain, options.trace_draws)
                    .map(|d| ((d + 1) as f64, c.params[d][j]))
                    .collect()
            })
            .collect();
        let cols: Vec<Vec<f64>> = fit.chains.iter().map(|c| column(j, c)).collect();
        let _ = writeln!(
            out,
            "<div class=\"pair\">{}{}</div>",
            figure(&plots::trace(&names[j], &traces), ""),
            figure(&plots::ranks(&format!("{} ranks", names[j]), &cols, 20), "")
        );
    }
    out.push_str("</div>\n");

    // Pairs.
    let _ = writeln!(out, "<h2 id=\"{prefix}pairs\">Pairs plot</h2>");
    let pooled: Vec<Vec<f64>> = param_set
        .iter()
        .take(60)
        .map(|&j| fit.chains.iter().flat_map(|c| column(j, c)).collect())
        .collect();
    let divergent: Vec<bool> = fit
        .chains
        .iter()
        .flat_map(|c| {
            let d = &c.stats.divergent;
            (0..per_chain).map(move |i| d.get(i).copied().unwrap_or(false))
        })
        .collect();
    // With divergences, start from the parameter whose divergent draws lie furthest from its
    // bulk (a funnel's scale parameter), so the plot shows where the sampler struggles.
    let first = divergent_outlier(&pooled, &divergent);
    let picked = most_correlated(&pooled, options.pairs_params, first);
    if picked.len() < 2 {
        out.push_str("<p class=\"note\">Fewer than two varying parameters: no pairs plot.</p>\n");
    } else {
        let total = divergent.len();
        let keep: Vec<usize> = (0..total)
            .filter(|&i| divergent[i] || i % total.div_ceil(options.pairs_draws).max(1) == 0)
            .collect();
        let cols: Vec<Vec<f64>> = picked
            .iter()
            .map(|&p| keep.iter().map(|&i| pooled[p][i]).collect())
            .collect();
        let div: Vec<bool> = keep.iter().map(|&i| divergent[i]).collect();
        let labels: Vec<String> = picked
            .iter()
            .map(|&p| names[param_set[p]].clone())
            .collect();
        let caption = match first {
            Some(f) => format!(
                "{}, whose divergent draws lie furthest from the rest, and the parameters most \
                 correlated with it; {} of {total} draws, with all {} divergent transitions in red.",
                names[param_set[f]],
                keep.len(),
                s.divergences
            ),
            None => format!(
                "The {} most correlated parameters; {} of {total} draws (no divergent \
                 transitions; they would be red).",
                picked.len(),
                keep.len(),
            ),
        };
        out.push_str(&figure(&plots::pairs(&labels, &cols, &div), &caption));
    }

    // Energy.
    let _ = writeln!(out, "<h2 id=\"{prefix}energy\">Energy and E-BFMI</h2>");
    let energy: Vec<f64> = fit
        .chains
        .iter()
        .flat_map(|c| c.stats.energy.iter().take(per_chain).copied())
        .collect();
    if energy.is_empty() {
        out.push_str("<p class=\"note\">The draws have no energy__ column.</p>\n");
    } else {
        let transition: Vec<f64> = fit
            .chains
            .iter()
            .flat_map(|c| {
                let e = &c.stats.energy[..per_chain.min(c.stats.energy.len())];
                e.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>()
            })
            .collect();
        let bfmi: Vec<String> = s
            .bfmi
            .iter()
            .enumerate()
            .map(|(k, b)| {
                let low = b.is_none_or(|b| b <= 0.3);
                format!(
                    "chain {}: <span{}>{}</span>",
                    k + 1,
                    if low {
                        " style=\"color:#a11c1c;font-weight:600\""
                    } else {
                        ""
                    },
                    num(*b, 3)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "<p>E-BFMI per chain (needs &gt; 0.3): {}.</p>",
            bfmi.join(", ")
        );
        out.push_str(&figure(
            &plots::energy(&energy, &transition),
            "When the energy transitions (orange) are much narrower than the marginal energy \
             (blue), the sampler explores the tails slowly: low E-BFMI.",
        ));
    }

    // Posterior predictive check and LOO-PIT.
    let _ = writeln!(
        out,
        "<h2 id=\"{prefix}ppc\">Posterior predictive check</h2>"
    );
    let reps = match (&fit.program, &fit.data) {
        (Some(p), Some(d)) => Some(ppc::replicate(
            p,
            d,
            &fit.chains,
            options.ppc_draws,
            options.seed,
        )),
        _ => None,
    };
    match &reps {
        None => out
            .push_str("<p class=\"note\">Needs run_program.stan and run_data.json in the directory (written by `sample`).</p>\n"),
        Some(Err(e)) => {
            let _ = writeln!(out, "<p class=\"note\">No replicated data: {}</p>", esc(e));
        }
        Some(Ok(reps)) => ppc_section(
            &mut out,
            reps,
            options,
            &int_data_names(fit.program.as_deref().unwrap_or("")),
        ),
    }
    let _ = writeln!(out, "<h2 id=\"{prefix}loopit\">LOO-PIT</h2>");
    match (&reps, &s.loo) {
        (Some(Ok(reps)), Some(loo)) => {
            match ppc::loo_pit(reps, &fit.chains, loo.r_eff, options.seed) {
                Ok(pit) => {
                    out.push_str(&figure(
                    &plots::loo_pit(&pit),
                    &format!(
                        "LOO-PIT of {} observations (PSIS weights over {} replicated draws): the \
                         probability that a replicate falls below the observed value, predicted \
                         without it (randomized over ties, so counts are covered too). Calibrated \
                         predictions give uniform values: the ECDF difference stays in the band. An S below then above zero means the \
                         predictions are too wide; above then below, too narrow.",
                        pit.len(),
                        reps.samples.len()
                    ),
                ));
                }
                Err(e) => {
                    let _ = writeln!(out, "<p class=\"note\">Not shown: {}</p>", esc(&e));
                }
            }
        }
        (_, None) => {
            out.push_str("<p class=\"note\">Not shown: the draws have no log-likelihood.</p>\n")
        }
        _ => out.push_str("<p class=\"note\">Not shown: needs the replicated data.</p>\n"),
    }

    // Pareto k.
    let _ = writeln!(out, "<h2 id=\"{prefix}paretok\">Pareto k</h2>");
    match &s.loo {
        Some(loo) => {
            let count =
                |lo: f64, hi: f64| loo.pareto_k.iter().filter(|&&k| k > lo && k <= hi).count();
            let _ = writeln!(
                out,
                "<table><tr><th class=\"l\">Pareto k</th><th>observations</th></tr>\
                 <tr><td class=\"l\">(-inf, 0.5] good</td><td>{}</td></tr>\
                 <tr><td class=\"l\">(0.5, 0.7] ok</td><td>{}</td></tr>\
                 <tr><td class=\"l\">(0.7, 1] bad</td><td{}>{}</td></tr>\
                 <tr><td class=\"l\">(1, inf) very bad</td><td{}>{}</td></tr></table>",
                count(f64::NEG_INFINITY, 0.5),
                count(0.5, 0.7),
                if count(0.7, 1.0) > 0 {
                    " class=\"warn\""
                } else {
                    ""
                },
                count(0.7, 1.0),
                if count(1.0, f64::INFINITY) > 0 || loo.pareto_k.iter().any(|k| k.is_nan()) {
                    " class=\"bad\""
                } else {
                    ""
                },
                count(1.0, f64::INFINITY) + loo.pareto_k.iter().filter(|k| k.is_nan()).count(),
            );
            out.push_str(&figure(
                &plots::pareto_k(&loo.pareto_k, loo.k_threshold),
                &format!(
                    "Pareto k of each observation's PSIS weights. Above 0.7 (orange line) the \
                     importance sampling estimate of that observation's elpd is unreliable; \
                     ArviZ's sample-size threshold is {:.2}.",
                    loo.k_threshold
                ),
            ));
        }
        None => out.push_str("<p class=\"note\">No log-likelihood: no PSIS-LOO.</p>\n"),
    }

    let nav = [
        ("overview", "overview"),
        ("program", "program"),
        ("checks", "checks"),
        ("summary", "summary"),
        ("traces", "traces"),
        ("pairs", "pairs"),
        ("energy", "energy"),
        ("ppc", "predictive check"),
        ("loopit", "LOO-PIT"),
        ("paretok", "Pareto k"),
    ]
    .iter()
    .filter(|(id, _)| *id != "program" || program.is_some())
    .map(|(id, label)| (format!("{prefix}{id}"), label.to_string()))
    .collect();
    Ok((out, nav))
}

/// Names of the data variables the program declares `int` (counts are plotted as bars).
fn int_data_names(program: &str) -> Vec<String> {
    use refinestat_language::ast::{BaseType, StmtKind};
    let parsed = refinestat_language::parse(program);
    parsed
        .program
        .data
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { ty, name, .. } if matches!(ty.base, BaseType::Int) => {
                Some(name.name.clone())
            }
            _ => None,
        })
        .collect()
}

fn ppc_section(
    out: &mut String,
    reps: &ppc::Replicates,
    options: &ReportOptions,
    int_data: &[String],
) {
    let _ = writeln!(
        out,
        "<p class=\"note\">Replicated data drawn by the program at {} of {} posterior draws \
         (evenly thinned){}.</p>",
        reps.samples.len(),
        reps.total,
        if reps.failed > 0 {
            format!(
                "; {} draws failed and are left out (first: {})",
                reps.failed,
                esc(reps.first_error.as_deref().unwrap_or(""))
            )
        } else {
            String::new()
        }
    );
    for var in reps.vars.iter().take(4) {
        let overlay: Vec<Vec<f64>> = thin(var.replicates.len(), options.ppc_overlay)
            .map(|k| var.replicates[k].clone())
            .collect();
        let distinct = {
            let mut v = var.values.clone();
            v.sort_by(f64::total_cmp);
            v.dedup();
            v.len()
        };
        // Bars per value only while there are few values to show.
        let spread = ppc::max(&var.values) - ppc::min(&var.values);
        let counts =
            var.integer && int_data.contains(&var.name) && distinct <= 30 && spread <= 30.0;
        let title = format!("{} ({} values)", var.name, var.values.len());
        let (svg, caption) = if counts {
            (
                plots::ppc_counts(&title, &var.values, &var.replicates),
                "Observed counts of each value (grey bars) against the replicated data: median \
                 and 90% interval of the count over replicates (blue).",
            )
        } else {
            (
                plots::ppc_density(&title, &var.values, &overlay),
                "Density of the observed data (dark) and of replicated data sets (blue, one line \
                 each).",
            )
        };
        let _ = writeln!(out, "<h3>{}</h3>", esc(&var.name));
        out.push_str(&figure(&svg, caption));
        out.push_str("<table><tr><th class=\"l\">statistic</th><th>observed</th><th>replicated mean</th><th>replicated 5%</th><th>replicated 95%</th><th>p = Pr(T(y_rep) &gt; T(y)) + &frac12; Pr(=)</th></tr>\n");
        let mut stat_figs = String::new();
        for (label, stat) in ppc::STATS {
            let observed = stat(&var.values);
            let mut rep: Vec<f64> = var.replicates.iter().map(|r| stat(r)).collect();
            let p = ppc::p_value(observed, &rep);
            let mean = ppc::mean(&rep);
            rep.sort_by(f64::total_cmp);
            let extreme = !(0.025..=0.975).contains(&p);
            let _ = writeln!(
                out,
                "<tr><td class=\"l\">{label}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                plots::tick(observed),
                plots::tick(mean),
                plots::tick(plots::quantile(&rep, 0.05)),
                plots::tick(plots::quantile(&rep, 0.95)),
                if extreme { " class=\"bad\"" } else { "" },
                num(Some(p), 3)
            );
            stat_figs.push_str(&figure(
                &plots::ppc_stat(&format!("{label}({})", var.name), observed, &rep),
                "",
            ));
        }
        out.push_str("</table>\n");
        let _ = writeln!(
            out,
            "<div class=\"grid\">{stat_figs}</div><p class=\"note\">Histograms: the statistic over \
             replicated data sets; dark line: its observed value. A p-value near 0 or 1 (red, \
             outside 0.025-0.975) means the model rarely reproduces that feature of the data.</p>"
        );
    }
    if reps.vars.len() > 4 {
        let _ = writeln!(
            out,
            "<p class=\"note\">The first 4 of {} observed variables are shown.</p>",
            reps.vars.len()
        );
    }
}

/// The column whose divergent draws' mean lies furthest from its overall mean, in standard
/// deviations; `None` without divergent draws.
fn divergent_outlier(columns: &[Vec<f64>], divergent: &[bool]) -> Option<usize> {
    if !divergent.iter().any(|&d| d) {
        return None;
    }
    let score = |c: &Vec<f64>| {
        let all = ppc::mean(c);
        let sd = ppc::sd(c);
        let div: Vec<f64> = c
            .iter()
            .zip(divergent)
            .filter(|(_, d)| **d)
            .map(|(v, _)| *v)
            .collect();
        let z = (ppc::mean(&div) - all).abs() / sd;
        if z.is_finite() {
            z
        } else {
            0.0
        }
    };
    (0..columns.len()).max_by(|&a, &b| score(&columns[a]).total_cmp(&score(&columns[b])))
}

/// Up to `k` columns, greedily: `first` (or else the pair with the largest |correlation|), then
/// the column most correlated with those chosen. Constant columns are never chosen.
fn most_correlated(columns: &[Vec<f64>], k: usize, first: Option<usize>) -> Vec<usize> {
    let n = columns.len();
    let varying: Vec<usize> = (0..n)
        .filter(|&i| {
            let (lo, hi) = columns[i]
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            hi > lo
        })
        .collect();
    if varying.len() < 2 {
        return varying;
    }
    let mut corr = vec![vec![0.0; n]; n];
    for (a, &i) in varying.iter().enumerate() {
        for &j in &varying[a + 1..] {
            let r = plots::correlation(&columns[i], &columns[j]).map_or(0.0, f64::abs);
            corr[i][j] = r;
            corr[j][i] = r;
        }
    }
    let mut best = (varying[0], varying[1], -1.0);
    for (a, &i) in varying.iter().enumerate() {
        for &j in &varying[a + 1..] {
            if corr[i][j] > best.2 {
                best = (i, j, corr[i][j]);
            }
        }
    }
    let mut chosen = match first.filter(|f| varying.contains(f)) {
        Some(f) => vec![f],
        None => vec![best.0, best.1],
    };
    while chosen.len() < k.min(varying.len()) {
        let next = varying
            .iter()
            .copied()
            .filter(|i| !chosen.contains(i))
            .max_by(|&a, &b| {
                let score = |i: usize| chosen.iter().map(|&c| corr[i][c]).fold(0.0, f64::max);
                score(a).total_cmp(&score(b))
            });
        match next {
            Some(i) => chosen.push(i),
            None => break,
        }
    }
    chosen.sort();
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_checks_name_the_value_and_the_threshold() {
        let pass = Check {
            value: Some(1.0),
            pass: true,
        };
        let checks = Checks {
            rhat: Check {
                value: Some(1.0834),
                pass: false,
            },
            ess_bulk: Check {
                value: Some(212.4),
                pass: false,
            },
            ess_tail: pass,
            divergences: pass,
            bfmi: Check {
                value: None,
                pass: false,
            },
            pareto_k: pass,
            elpd_finite: pass,
        };
        assert_eq!(
            failed_checks(&checks),
            vec![
                "R-hat 1.083 (needs < 1.05)",
                "bulk ESS 212 (needs >= 400)",
                "E-BFMI not computable (needs > 0.3)"
            ]
        );
        let json = serde_json::json!({
            "rhat": {"value": 1.0834, "pass": false}, "ess_bulk": {"value": 212.4, "pass": false},
            "ess_tail": {"value": 1.0, "pass": true}, "divergences": {"value": 1.0, "pass": true},
            "bfmi": {"value": null, "pass": false}, "pareto_k": {"value": 1.0, "pass": true},
            "elpd_finite": {"value": 1.0, "pass": true},
        });
        assert_eq!(checks_from_json(&json), Some(checks));
    }

    #[test]
    fn the_most_correlated_columns_are_picked_and_constants_never() {
        let a: Vec<f64> = (0..50).map(|i| (i as f64 * 0.37).sin()).collect();
        let b: Vec<f64> = a.iter().map(|x| 2.0 * x + 0.01).collect();
        let c: Vec<f64> = (0..50).map(|i| (i as f64 * 1.91).cos()).collect();
        let constant = vec![3.0; 50];
        let cols = [c.clone(), constant.clone(), a, b];
        assert_eq!(most_correlated(&cols, 2, None), vec![2, 3]);
        // Starting from column 0: the column most correlated with it joins.
        assert_eq!(most_correlated(&cols, 2, Some(0)).len(), 2);
        assert!(most_correlated(&cols, 2, Some(0)).contains(&0));
        assert_eq!(most_correlated(&[c.clone(), constant], 4, None), vec![0]);
        // The divergent draws of the second column sit at its edge.
        let edge: Vec<f64> = (0..50).map(|i| i as f64).collect();
        let divergent: Vec<bool> = (0..50).map(|i| i < 3).collect();
        assert_eq!(divergent_outlier(&[c, edge], &divergent), Some(1));
        assert_eq!(divergent_outlier(&[vec![1.0; 3]], &[false; 3]), None);
    }

    #[test]
    fn thinning_keeps_at_most_the_cap_evenly() {
        assert_eq!(thin(10, 4).collect::<Vec<_>>(), vec![0, 3, 6, 9]);
        assert_eq!(thin(3, 400).count(), 3);
    }

    #[test]
    fn kde_integrates_to_one_and_p_values_count_ties() {
        let values: Vec<f64> = (0..200).map(|i| ((i * 7919) % 200) as f64 / 50.0).collect();
        let grid: Vec<f64> = (0..=400).map(|i| -2.0 + i as f64 * 0.02).collect();
        let density = plots::kde(&values, &grid);
        let integral: f64 = density.iter().sum::<f64>() * 0.02;
        assert!((integral - 1.0).abs() < 0.01, "{integral}");
        // Mid p-value: above 2.0 are two of four, the tie counts half.
        assert_eq!(ppc::p_value(2.0, &[1.0, 2.0, 3.0, 4.0]), 0.625);
        assert_eq!(ppc::p_value(0.0, &[0.0; 10]), 0.5);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(html::esc("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
