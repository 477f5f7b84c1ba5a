//! The report of a `synth` output directory: the run, the candidates compared, the refinement
//! history, every attempt's program, and the best program's fit (from `best/`).

use crate::html::{self, esc, figure, num};
use crate::{
    checks_from_json, failed_checks, fit_sections, io_error, FitDir, ReportError, ReportOptions,
};
use serde_json::Value;
use std::fmt::Write;
use std::path::{Path, PathBuf};

fn read_json(path: &Path) -> Result<Value, ReportError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_error(path, e))?;
    serde_json::from_str(&text).map_err(|e| io_error(path, format!("not valid JSON: {e}")))
}

/// candidates/attempt-<i>.json, by i.
fn attempts(dir: &Path) -> Result<Vec<Value>, ReportError> {
    let cand = dir.join("candidates");
    let mut files: Vec<(usize, PathBuf)> = std::fs::read_dir(&cand)
        .map_err(|e| io_error(&cand, e))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let i = name
                .strip_prefix("attempt-")?
                .strip_suffix(".json")?
                .parse()
                .ok()?;
            Some((i, e.path()))
        })
        .collect();
    files.sort();
    files.iter().map(|(_, p)| read_json(p)).collect()
}

fn int(v: &Value, key: &str) -> Option<u64> {
    v.get(key).and_then(Value::as_u64)
}

/// What an attempt did, in words: `new program`, `new likelihood`, plus `same program as
/// attempt N, not refitted` for a program fitted before.
pub fn attempt_words(a: &Value) -> String {
    let kind = match a.get("kind").and_then(Value::as_str) {
        Some("likelihood") => "new likelihood",
        _ => "new program",
    };
    match (int(a, "attempt"), int(a, "fitted_by_attempt")) {
        (Some(i), Some(f)) if f != i => {
            format!("{kind}: same program as attempt {f}, not refitted")
        }
        _ => kind.to_string(),
    }
}

/// The outcome of an attempt in a few words.
fn short_outcome(a: &Value) -> String {
    let valid = a.get("valid").and_then(Value::as_bool).unwrap_or(false);
    if a.get("candidate").is_none_or(Value::is_null) {
        return "not fitted".to_string();
    }
    if a.get("fit_error").is_some_and(|e| !e.is_null()) {
        return "the fit failed".to_string();
    }
    format!(
        "score {}/7, {}",
        int(a, "score").unwrap_or(0),
        if valid { "valid" } else { "invalid" }
    )
}

/// The outcome of an attempt in words.
fn outcome(a: &Value) -> String {
    let check_valid = a
        .pointer("/check/valid")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if a.get("generation").and_then(Value::as_str) != Some("completed") && !check_valid {
        let gen = a.get("generation").and_then(Value::as_str).unwrap_or("?");
        if gen != "closed" {
            return format!("generation stopped ({gen})");
        }
    }
    if let Some(v) = a.pointer("/check/violations").and_then(Value::as_array) {
        if !v.is_empty() {
            let first = v[0].get("message").and_then(Value::as_str).unwrap_or("");
            return format!(
                "{} check violation{}: {first}",
                v.len(),
                if v.len() == 1 { "" } else { "s" }
            );
        }
    }
    if let Some(e) = a.get("fit_error").and_then(Value::as_str) {
        return format!("fit failed: {e}");
    }
    let score = int(a, "score").unwrap_or(0);
    let elpd = a.get("elpd_loo").and_then(Value::as_f64);
    let mut s = format!("score {score}/7, elpd_loo {}", num(elpd, 2));
    if let Some(checks) = a
        .pointer("/diagnostics/reliability/checks")
        .and_then(checks_from_json)
    {
        let failed = failed_checks(&checks);
        if !failed.is_empty() {
            let _ = write!(s, "; failed: {}", failed.join(", "));
        }
    }
    s
}

pub(crate) fn render(dir: &Path, options: &ReportOptions) -> Result<String, ReportError> {
    let attempts = attempts(dir)?;
    let usage = read_json(&dir.join("token_usage.json")).ok();
    let comparison = read_json(&dir.join("comparison.json")).ok();
    let mut out = String::new();
    let mut nav: Vec<(String, String)> = vec![
        ("run".into(), "run".into()),
        ("compare".into(), "comparison".into()),
        ("candidates".into(), "candidates".into()),
        ("history".into(), "history".into()),
    ];
    let best_attempt = usage.as_ref().and_then(|u| int(u, "best_attempt"));
    let data_name = usage
        .as_ref()
        .and_then(|u| u.get("data")?.as_str().map(str::to_string))
        .unwrap_or_else(|| "data".to_string());

    // The run.
    out.push_str("<h2 id=\"run\">The run</h2>\n");
    if let Some(u) = &usage {
        let s = |k: &str| {
            u.pointer(k)
                .map(|v| v.to_string().trim_matches('"').to_string())
                .unwrap_or_default()
        };
        let _ = writeln!(
            out,
            "<p>Data <b>{}</b>; proposal model <code>{}</code>, mode {}, seed {}. {} attempts, {} \
             fits, {} valid programs; stopped: {}; {} s in all.</p>\n<p class=\"note\">Settings: \
             rmax {}, alpha {}, beta {}, k {}, select {}; {} chains &times; {} warmup + {} draws \
             per fit.</p>",
            esc(&data_name),
            esc(&s("/lm")),
            esc(&s("/mode")),
            s("/seed"),
            s("/attempts"),
            s("/fits"),
            s("/valid_programs"),
            esc(&s("/stop")),
            s("/wall_time_s"),
            s("/settings/rmax"),
            s("/settings/alpha"),
            s("/settings/beta"),
            s("/settings/k"),
            esc(&s("/settings/select")),
            s("/settings/chains"),
            s("/settings/warmup"),
            s("/settings/draws"),
        );
    }
    match std::fs::read_to_string(dir.join("best_program.stan")) {
        Ok(best) => {
            let _ = writeln!(
                out,
                "<h3>Best program{}</h3>\n<pre>{}</pre>",
                best_attempt.map_or(String::new(), |a| format!(" (attempt {a})")),
                esc(best.trim_end())
            );
        }
        Err(_) => out.push_str("<p class=\"score\">No valid program: no best program.</p>\n"),
    }

    // Comparison.
    out.push_str("<h2 id=\"compare\">Valid candidates compared (PSIS-LOO)</h2>\n");
    match comparison
        .as_ref()
        .and_then(|c| c.get("rows")?.as_array().cloned())
    {
        Some(rows) if !rows.is_empty() => {
            out.push_str("<table><tr><th class=\"l\">attempt</th><th>elpd_loo</th><th>se</th><th>elpd_diff</th><th>se_diff</th><th>p_loo</th><th>score</th></tr>\n");
            for r in &rows {
                let chosen = r.get("chosen").and_then(Value::as_bool).unwrap_or(false);
                let f = |k: &str, d: usize| num(r.get(k).and_then(Value::as_f64), d);
                let _ = writeln!(
                    out,
                    "<tr{}><td class=\"l\">{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/7</td></tr>",
                    if chosen { " class=\"chosen\"" } else { "" },
                    int(r, "attempt").map_or("?".into(), |a| a.to_string()),
                    if chosen { " (chosen)" } else { "" },
                    f("elpd_loo", 2),
                    f("se", 2),
                    f("elpd_diff", 2),
                    f("se_diff", 2),
                    f("p_loo", 2),
                    int(r, "score").unwrap_or(0)
                );
            }
            out.push_str("</table>\n");
            match comparison
                .as_ref()
                .and_then(|c| c.get("verdict")?.as_str().map(str::to_string))
            {
                Some(verdict) => {
                    let _ = writeln!(out, "<p>{}</p>", esc(&verdict));
                }
                None => {
                    out.push_str("<p>Only one valid candidate: nothing to compare it with.</p>\n")
                }
            }
            out.push_str("<p class=\"note\">elpd_diff and se_diff against the chosen program, as R's loo_compare: se_diff = sqrt(n) sd(elpd_i - elpd_i(chosen)). A difference within 2 se_diff is not a clear preference.</p>\n");
        }
        _ => out.push_str(
            "<p class=\"note\">No valid candidates to compare (or no comparison.json).</p>\n",
        ),
    }

    // Candidates.
    out.push_str("<h2 id=\"candidates\">Every attempt</h2>\n");
    out.push_str("<table><tr><th>attempt</th><th class=\"l\">what</th><th class=\"l\">outcome</th><th>valid</th><th class=\"l\">verdict</th></tr>\n");
    for a in &attempts {
        let chosen = a.get("chosen").and_then(Value::as_bool).unwrap_or(false);
        let valid = a.get("valid").and_then(Value::as_bool).unwrap_or(false);
        let why = a
            .get("not_chosen_because")
            .and_then(Value::as_str)
            .unwrap_or(if chosen { "chosen" } else { "" });
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td>{}<td class=\"l\">{}</td></tr>",
            if chosen { " class=\"chosen\"" } else { "" },
            int(a, "attempt").map_or("?".into(), |i| i.to_string()),
            esc(&attempt_words(a)),
            esc(&outcome(a)),
            if valid { "<td class=\"pass\">valid</td>" } else { "<td class=\"fail\">invalid</td>" },
            esc(if chosen { "chosen" } else { why })
        );
    }
    out.push_str("</table>\n");

    // History.
    out.push_str("<h2 id=\"history\">Refinement history</h2>\n");
    let points: Vec<(u64, Option<u64>, bool, bool, bool)> = attempts
        .iter()
        .map(|a| {
            let fitted = a.get("candidate").is_some_and(|c| !c.is_null());
            (
                int(a, "attempt").unwrap_or(0),
                fitted.then(|| int(a, "score").unwrap_or(0)),
                a.get("kind").and_then(Value::as_str) == Some("likelihood"),
                a.get("valid").and_then(Value::as_bool).unwrap_or(false),
                a.get("chosen").and_then(Value::as_bool).unwrap_or(false),
            )
        })
        .collect();
    let k = usage
        .as_ref()
        .and_then(|u| u.pointer("/settings/k")?.as_u64())
        .unwrap_or(5);
    out.push_str(&figure(
        &history_plot(&points, k),
        "Reliability score of each attempt (circles: a new program; triangles: a new likelihood \
         after the kept prior; crosses at 0: the program did not check or failed to fit; ringed: \
         chosen). The dashed line is k, the score a valid program reaches.",
    ));
    out.push_str("<ol start=\"0\">\n");
    for (n, a) in attempts.iter().enumerate() {
        let why = if n == 0 {
            "first program".to_string()
        } else {
            format!(
                "after attempt {}: {}",
                n - 1,
                short_outcome(&attempts[n - 1])
            )
        };
        let i = int(a, "attempt").unwrap_or(n as u64);
        let program = std::fs::read_to_string(dir.join(format!("candidates/attempt-{i}.stan")))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<li><b>{}</b> ({}) &rarr; {}<details><summary>program</summary><pre>{}</pre></details></li>",
            esc(&attempt_words(a)),
            esc(&why),
            esc(&outcome(a)),
            esc(program.trim_end())
        );
    }
    out.push_str("</ol>\n");

    // The best program's fit.
    let best_dir = dir.join("best");
    if best_dir.join("chain-1.csv").is_file() {
        out.push_str("<h2 id=\"best\" style=\"border-bottom: 3px solid #2f3e4e\">The best program's fit</h2>\n");
        let fit = FitDir::read(&best_dir)?;
        let (body, fit_nav) = fit_sections(&fit, options, "best-", false)?;
        out.push_str(&body);
        nav.push(("best".into(), "best fit:".into()));
        nav.extend(fit_nav);
    }
    let subtitle = format!(
        "{} &middot; {} attempts{}",
        esc(&dir.display().to_string()),
        attempts.len(),
        best_attempt.map_or(" &middot; no valid program".to_string(), |a| format!(
            " &middot; best: attempt {a}"
        ))
    );
    Ok(html::page(
        &format!("refinestat synth: {data_name}"),
        &subtitle,
        &nav,
        &out,
    ))
}

fn history_plot(points: &[(u64, Option<u64>, bool, bool, bool)], k: u64) -> Result<String, String> {
    use plotters::prelude::*;
    let n = points.len().max(1) as f64;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (640, 220)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(40)
            .build_cartesian_2d(-0.5..(n - 0.5), -0.5..7.5)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(235, 235, 235))
            .y_labels(8)
            .x_labels(points.len().min(20))
            .label_style(("sans-serif", 10))
            .x_desc("attempt")
            .y_desc("score")
            .x_label_formatter(&|v| {
                if v.fract().abs() < 1e-9 && *v >= 0.0 {
                    format!("{v:.0}")
                } else {
                    String::new()
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(-0.5, k as f64), (n - 0.5, k as f64)],
                5,
                4,
                RGBColor(0x88, 0x88, 0x88).stroke_width(1),
            ))
            .map_err(|e| e.to_string())?;
        let color = |valid: bool| {
            if valid {
                RGBColor(0x1e, 0x8b, 0x3a)
            } else {
                RGBColor(0xd6, 0x27, 0x28)
            }
        };
        for &(i, score, likelihood, valid, chosen) in points {
            let x = i as f64;
            match score {
                None => {
                    chart
                        .draw_series(std::iter::once(Cross::new(
                            (x, 0.0),
                            4,
                            color(false).stroke_width(2),
                        )))
                        .map_err(|e| e.to_string())?;
                }
                Some(s) => {
                    let y = s as f64;
                    if likelihood {
                        chart
                            .draw_series(std::iter::once(TriangleMarker::new(
                                (x, y),
                                6,
                                color(valid).filled(),
                            )))
                            .map_err(|e| e.to_string())?;
                    } else {
                        chart
                            .draw_series(std::iter::once(Circle::new(
                                (x, y),
                                5,
                                color(valid).filled(),
                            )))
                            .map_err(|e| e.to_string())?;
                    }
                    if chosen {
                        chart
                            .draw_series(std::iter::once(Circle::new(
                                (x, y),
                                9,
                                BLACK.stroke_width(2),
                            )))
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}
