//! What `synth` tells a statistician: progress lines in plain words, and at the end the best
//! program, its posterior summary, the valid candidates compared in `loo_compare`'s form and why
//! each rejected candidate was rejected. Also the files behind the report: comparison.json and
//! the best program's draws in best/.

use crate::error::{emit, CliError, Result};
use refinestat_diagnostics::{loo_compare, render_table, Loo};
use refinestat_language::Data;
use refinestat_synthesis::{Attempt, Candidate, RefineConfig, RefineOutcome};
use std::fmt::Write;
use std::path::{Path, PathBuf};

/// `new program`, `new likelihood` (or `new <part>` for any other part the loop resamples).
pub fn attempt_words(attempt: &Attempt) -> String {
    let kind = serde_json::to_value(attempt.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    match kind.as_str() {
        "full" => "new program".to_string(),
        "likelihood" => "new likelihood".to_string(),
        other => format!("new {}", other.replace('_', " ")),
    }
}

/// The failed checks of a fitted candidate, with their values.
fn failed(candidate: &Candidate) -> Vec<String> {
    candidate
        .assessment
        .summary
        .as_ref()
        .map(|s| refinestat_report::failed_checks(&s.reliability.refinestat.checks))
        .unwrap_or_default()
}

fn elpd_text(x: Option<f64>) -> String {
    x.map_or("undefined".to_string(), |e| format!("{e:.2}"))
}

/// What became of an attempt, in words.
pub fn verdict(
    attempt: &Attempt,
    candidates: &[Candidate],
    config: &RefineConfig,
    generation: &str,
) -> String {
    if !attempt.generation.is_program() {
        return format!("generation stopped ({generation})");
    }
    if !attempt.violations.is_empty() {
        let n = attempt.violations.len();
        return format!(
            "does not check ({n} violation{}: {})",
            if n == 1 { "" } else { "s" },
            attempt.violations[0].message
        );
    }
    if !attempt.unmodelled.is_empty() {
        return format!(
            "does not model the response ({}), not fitted",
            attempt.unmodelled.join(", ")
        );
    }
    let Some(c) = attempt.candidate.and_then(|i| candidates.get(i)) else {
        return "not fitted".to_string();
    };
    let mut text = String::new();
    if attempt.cached {
        return format!(
            "same program as attempt {}, not refitted (score {}/7)",
            c.first_attempt, c.assessment.score
        );
    }
    if let Some(e) = &c.assessment.error {
        let _ = write!(text, "{e}");
        return text;
    }
    let _ = write!(
        text,
        "score {}/7, elpd_loo {}",
        c.assessment.score,
        elpd_text(c.assessment.elpd_loo)
    );
    if !c.valid {
        let failed = failed(c);
        let _ = write!(text, ", below k = {}", config.k);
        if !failed.is_empty() {
            let _ = write!(text, " (failed: {})", failed.join(", "));
        }
    }
    text
}

/// One progress line per attempt; the attempt number is the one in candidates/attempt-<i>.stan.
pub fn progress_line(
    attempt: &Attempt,
    candidates: &[Candidate],
    config: &RefineConfig,
    valid_so_far: usize,
    generation: &str,
) -> String {
    format!(
        "[attempt {} of at most {}] {}: {} -> {} ({} valid so far, {:.1} s)",
        attempt.index,
        config.rmax,
        attempt_words(attempt),
        verdict(attempt, candidates, config, generation),
        if attempt.valid { "valid" } else { "invalid" },
        valid_so_far,
        attempt.time.as_secs_f64()
    )
}

/// One row of the comparison of valid candidates.
pub struct Row {
    pub attempt: usize,
    pub loo: Loo,
    pub elpd_diff: f64,
    pub se_diff: f64,
    pub score: u8,
    /// Passes the Pareto k check (its ELPD-LOO can be trusted).
    pub pareto_k_ok: bool,
    pub chosen: bool,
}

/// The valid candidates with a PSIS-LOO, compared against the chosen one (first row), the rest
/// by decreasing elpd_loo.
pub fn comparison(outcome: &RefineOutcome) -> Vec<Row> {
    let Some(best) = outcome.best else {
        return Vec::new();
    };
    let mut members: Vec<usize> = (0..outcome.candidates.len())
        .filter(|&i| {
            let c = &outcome.candidates[i];
            (c.valid || i == best)
                && c.assessment
                    .summary
                    .as_ref()
                    .is_some_and(|s| s.loo.is_some())
        })
        .collect();
    let loo = |i: usize| -> &Loo {
        outcome.candidates[i]
            .assessment
            .summary
            .as_ref()
            .and_then(|s| s.loo.as_ref())
            .expect("filtered on a LOO")
    };
    let Some(best_pos) = members.iter().position(|&i| i == best) else {
        return Vec::new();
    };
    members.swap(0, best_pos);
    members[1..].sort_by(|&a, &b| loo(b).elpd_loo.total_cmp(&loo(a).elpd_loo));
    let loos: Vec<&Loo> = members.iter().map(|&i| loo(i)).collect();
    let diffs = loo_compare(&loos, 0);
    members
        .iter()
        .zip(diffs)
        .map(|(&i, d)| Row {
            attempt: outcome.candidates[i].first_attempt,
            loo: loo(i).clone(),
            elpd_diff: d.elpd_diff,
            se_diff: d.se_diff,
            score: outcome.candidates[i].assessment.score,
            pareto_k_ok: outcome.candidates[i]
                .assessment
                .summary
                .as_ref()
                .is_some_and(|s| s.reliability.refinestat.checks.pareto_k.pass),
            chosen: i == best,
        })
        .collect()
}

fn cell(x: f64, d: usize) -> String {
    if x.is_finite() {
        format!("{x:.d$}")
    } else {
        "NA".to_string()
    }
}

/// The comparison table and the sentence on how clear the choice is.
pub fn comparison_text(rows: &[Row]) -> (String, Option<String>) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>8} {:>10} {:>8} {:>10} {:>8} {:>8} {:>6}",
        "attempt", "elpd_loo", "se", "elpd_diff", "se_diff", "p_loo", "score"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:>8} {:>10} {:>8} {:>10} {:>8} {:>8} {:>6}{}",
            r.attempt,
            cell(r.loo.elpd_loo, 2),
            cell(r.loo.se, 2),
            cell(r.elpd_diff, 2),
            cell(r.se_diff, 2),
            cell(r.loo.p_loo, 2),
            format!("{}/7", r.score),
            if r.chosen { "  chosen" } else { "" }
        );
    }
    let verdict = rows.get(1).map(|next| {
        if next.elpd_diff.abs() < 2.0 * next.se_diff || !next.se_diff.is_finite() {
            format!(
                "The chosen program (attempt {}) is not clearly better than attempt {}: \
                 |elpd_diff| {} < 2 se_diff = {}; their predictive accuracy is within noise.",
                rows[0].attempt,
                next.attempt,
                cell(next.elpd_diff.abs(), 2),
                cell(2.0 * next.se_diff, 2)
            )
        } else if next.elpd_diff < 0.0 {
            format!(
                "The chosen program (attempt {}) predicts clearly better than the next (attempt \
                 {}): elpd_diff {} beyond 2 se_diff = {}.",
                rows[0].attempt,
                next.attempt,
                cell(next.elpd_diff, 2),
                cell(2.0 * next.se_diff, 2)
            )
        } else if !next.pareto_k_ok && rows[0].pareto_k_ok {
            format!(
                "Attempt {} has the higher ELPD-LOO (elpd_diff {}, 2 se_diff = {}), but it fails \
                 the Pareto k check (an estimate that is optimistic with many high k), which the \
                 chosen program passes.",
                next.attempt,
                cell(next.elpd_diff, 2),
                cell(2.0 * next.se_diff, 2)
            )
        } else {
            format!(
                "Attempt {} predicts clearly better than the chosen program (elpd_diff {} beyond \
                 2 se_diff = {}); it was chosen by score first.",
                next.attempt,
                cell(next.elpd_diff, 2),
                cell(2.0 * next.se_diff, 2)
            )
        }
    });
    (out, verdict)
}

/// comparison.json: the rows and the sentence, for the report.
pub fn write_comparison(out_dir: &Path, rows: &[Row], verdict: Option<&str>) -> Result<()> {
    let num = |x: f64| {
        serde_json::Number::from_f64(x)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null)
    };
    let json = serde_json::json!({
        "reference": "the chosen program",
        "rows": rows.iter().map(|r| serde_json::json!({
            "attempt": r.attempt,
            "elpd_loo": num(r.loo.elpd_loo),
            "se": num(r.loo.se),
            "elpd_diff": num(r.elpd_diff),
            "se_diff": num(r.se_diff),
            "p_loo": num(r.loo.p_loo),
            "score": r.score,
            "chosen": r.chosen,
        })).collect::<Vec<_>>(),
        "verdict": verdict,
    });
    let path = out_dir.join("comparison.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&json).expect("JSON of plain values") + "\n",
    )
    .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
}

/// Lines of the rejected candidates (fitted, not valid): why, with the failed checks' values.
pub fn rejected_lines(outcome: &RefineOutcome, config: &RefineConfig) -> Vec<String> {
    outcome
        .candidates
        .iter()
        .filter(|c| !c.valid)
        .map(|c| {
            let why = match &c.assessment.error {
                Some(e) => e.clone(),
                None => {
                    let failed = failed(c);
                    format!(
                        "score {}/7 below k = {}{}",
                        c.assessment.score,
                        config.k,
                        if failed.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", failed.join(", "))
                        }
                    )
                }
            };
            format!("  attempt {}: {why}", c.first_attempt)
        })
        .collect()
}

/// Fits the best program again (same sampler settings and seed as in the loop, so the same
/// draws) and writes its draws, summary, program and data to `out_dir/best/` as `sample` does,
/// so the report can show its fit.
pub fn save_best_fit(
    out_dir: &Path,
    program: &str,
    data: &Data,
    sampler: &refinestat_inference::SamplerConfig,
) -> Result<PathBuf> {
    let dir = out_dir.join("best");
    std::fs::create_dir_all(&dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    let model = refinestat_model::Model::from_source(program, data)
        .map_err(|e| CliError::new(format!("best program: {e}")))?;
    let fit = refinestat_workflow::fit::fit_model(&model, sampler, |_, _, _| {})
        .map_err(|e| CliError::new(format!("best program: {e}")))?;
    crate::fit::write_chain_files(&dir, "best_program", sampler, &fit)?;
    let summary = fit
        .summarize()
        .map_err(|e| CliError::new(format!("best program: {e}")))?;
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))
    };
    write("summary.json", &(summary.to_json() + "\n"))?;
    write("run_program.stan", program)?;
    write("run_data.json", &(data.to_json_string() + "\n"))?;
    write(
        "run.json",
        "{\"command\": \"synth\", \"program\": \"best_program.stan\"}\n",
    )?;
    Ok(dir)
}

/// Everything `synth` prints at the end of a run with a best program.
pub fn print_best(
    out_dir: &Path,
    outcome: &RefineOutcome,
    config: &RefineConfig,
    rows: &[Row],
    verdict: Option<&str>,
    report: Option<&Path>,
) -> Result<()> {
    let Some(best) = outcome.best.and_then(|i| outcome.candidates.get(i)) else {
        return Ok(());
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "best program (attempt {}): {}\n",
        best.first_attempt,
        out_dir.join("best_program.stan").display()
    );
    for line in best.program.trim_end().lines() {
        let _ = writeln!(out, "    {line}");
    }
    if let Some(summary) = &best.assessment.summary {
        let _ = writeln!(out, "\nposterior summary of the best program:\n");
        out.push_str(&render_table(summary));
    }
    if !rows.is_empty() {
        let _ = writeln!(
            out,
            "\nvalid candidates compared by PSIS-LOO (elpd_diff, se_diff against the chosen \
             program, as loo_compare):\n"
        );
        let (table, _) = comparison_text(rows);
        out.push_str(&table);
        match verdict {
            Some(v) => {
                let _ = writeln!(out, "{v}");
            }
            None => {
                let _ = writeln!(out, "Only one valid candidate: nothing to compare it with.");
            }
        }
    }
    let rejected = rejected_lines(outcome, config);
    if !rejected.is_empty() {
        let _ = writeln!(
            out,
            "\nrejected candidates (reliability score below k = {}):",
            config.k
        );
        for line in rejected {
            let _ = writeln!(out, "{line}");
        }
    }
    let not_checked = outcome
        .attempts
        .iter()
        .filter(|a| a.candidate.is_none())
        .count();
    let _ = writeln!(
        out,
        "\n{} attempts ({} new programs fitted, {} reused an earlier fit, {} did not check or \
         stopped early), {} tokens sampled, {:.1} s; stop: {}",
        outcome.attempts.len(),
        outcome.fits,
        outcome.attempts.iter().filter(|a| a.cached).count(),
        not_checked,
        outcome.tokens.sampled,
        outcome.elapsed.as_secs_f64(),
        outcome.stop.as_str(),
    );
    if let Some(r) = report {
        let _ = writeln!(out, "report: {}", r.display());
    }
    emit(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(attempt: usize, elpd: f64, elpd_diff: f64, se_diff: f64, k_ok: bool) -> Row {
        Row {
            attempt,
            loo: Loo {
                elpd_loo: elpd,
                se: 5.0,
                p_loo: 3.0,
                pareto_k: vec![0.1; 4],
                n_obs: 4,
                loo_i: vec![elpd / 4.0; 4],
                k_threshold: 0.7,
                r_eff: 1.0,
                subsample: None,
                subsample_above: None,
            },
            elpd_diff,
            se_diff,
            score: if k_ok { 7 } else { 5 },
            pareto_k_ok: k_ok,
            chosen: attempt == 0,
        }
    }

    #[test]
    fn the_verdict_says_why_a_clearly_higher_elpd_was_passed_over() {
        // The next program predicts clearly better by PSIS-LOO but fails the Pareto k check.
        let rows = [
            row(0, -100.0, 0.0, 0.0, true),
            row(3, -89.0, 11.0, 4.5, false),
        ];
        let verdict = comparison_text(&rows).1.unwrap();
        assert!(verdict.contains("fails the Pareto k check"), "{verdict}");
        assert!(
            verdict.starts_with("Attempt 3 has the higher ELPD-LOO"),
            "{verdict}"
        );
        // Passing it, it was passed over for the chosen program's score.
        let rows = [
            row(0, -100.0, 0.0, 0.0, true),
            row(3, -89.0, 11.0, 4.5, true),
        ];
        let verdict = comparison_text(&rows).1.unwrap();
        assert!(verdict.contains("chosen by score first"), "{verdict}");
        // Within the noise either way.
        let rows = [
            row(0, -100.0, 0.0, 0.0, true),
            row(3, -99.0, 1.0, 4.5, false),
        ];
        let verdict = comparison_text(&rows).1.unwrap();
        assert!(verdict.contains("not clearly better"), "{verdict}");
    }
}
