//! End-to-end: report.html from `sample`, `synth` and `refinestat report`; output directories
//! that refuse to mix runs (`--overwrite`); what `synth` prints (the best program, its summary,
//! the comparison table, rejection reasons, progress words); `--help` examples; `sample`
//! without data.

mod common;

use common::{refinestat, scratch, stderr, stdout};
use std::path::Path;

const EIGHT: &str = "examples/eight_schools_noncentered.stan";
const EIGHT_DATA: &str = "datasets/eight_schools.json";

fn sample(dir: &Path, chains: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sample",
        EIGHT,
        "--data",
        EIGHT_DATA,
        "--chains",
        chains,
        "--warmup",
        "300",
        "--draws",
        "300",
        "--output-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    refinestat(&args)
}

/// The sections every fit report has.
const FIT_SECTIONS: [&str; 10] = [
    "id=\"overview\"",
    "id=\"program\"",
    "id=\"checks\"",
    "id=\"summary\"",
    "id=\"traces\"",
    "id=\"pairs\"",
    "id=\"energy\"",
    "id=\"ppc\"",
    "id=\"loopit\"",
    "id=\"paretok\"",
];

fn svg_count(html: &str) -> usize {
    html.matches("<svg").count()
}

#[test]
fn sample_writes_a_report_with_every_section_and_refuses_to_mix_runs() {
    let dir = scratch("report", "sample");
    let out = sample(&dir, "2", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for f in [
        "chain-1.csv",
        "chain-2.csv",
        "summary.json",
        "run_program.stan",
        "run_data.json",
        "run.json",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    assert!(stdout(&out).contains("report: "), "{}", stdout(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for section in FIT_SECTIONS {
        assert!(html.contains(section), "report has {section}");
    }
    // No script, no external resource: self-contained.
    assert!(!html.contains("<script"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
    // 10 parameters x (trace + rank) + pairs + energy + PPC density + 4 statistics + LOO-PIT
    // + Pareto k.
    assert_eq!(svg_count(&html), 2 * 10 + 1 + 1 + 1 + 4 + 1 + 1, "figures");
    // The seven checks and the posterior predictive p-values are there with their values.
    assert!(html.contains("bulk ESS (min)") && html.contains("E-BFMI (min over chains)"));
    assert!(html.contains("p = Pr(T(y_rep) &gt; T(y)) + &frac12; Pr(=)"));
    assert!(html.contains("theta_tilde[8]"));

    // A second run into the same directory is refused and leaves the files alone.
    let again = sample(&dir, "1", &[]);
    assert_eq!(again.status.code(), Some(2));
    let err = stderr(&again);
    assert!(
        err.contains("--overwrite") && err.contains("chain-1.csv"),
        "{err}"
    );
    assert!(dir.join("chain-2.csv").is_file());
    // --overwrite removes the earlier run's files: no stale chain-2.csv.
    let over = sample(&dir, "1", &["--overwrite"]);
    assert_eq!(over.status.code(), Some(0), "{}", stderr(&over));
    assert!(dir.join("chain-1.csv").is_file());
    assert!(
        !dir.join("chain-2.csv").exists(),
        "stale chain file removed"
    );

    // `refinestat report DIR` writes the same page again (same seed, same bytes).
    let before = std::fs::read(dir.join("report.html")).unwrap();
    let rep = refinestat(&["report", dir.to_str().unwrap()]);
    assert_eq!(rep.status.code(), Some(0), "{}", stderr(&rep));
    assert!(stdout(&rep).contains("report.html"));
    assert_eq!(std::fs::read(dir.join("report.html")).unwrap(), before);
    // --max-params caps the trace plots: 3 parameters, so 2 x 3 of the trace/rank figures.
    let rep = refinestat(&["report", dir.to_str().unwrap(), "--max-params", "3"]);
    assert_eq!(rep.status.code(), Some(0));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_eq!(svg_count(&html), 2 * 3 + 9);
    assert!(html.contains("3 of 10 parameters: those with the highest R-hat"));
}

#[test]
fn report_of_a_directory_without_a_run_is_a_clear_error() {
    let dir = scratch("report", "empty");
    std::fs::create_dir_all(&*dir).unwrap();
    let out = refinestat(&["report", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no chain-<k>.csv"),
        "{}",
        stderr(&out)
    );
    let out = refinestat(&["report", "no/such/dir"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a directory"), "{}", stderr(&out));
}

#[test]
fn sample_without_data_for_a_program_without_a_data_block() {
    let dir = scratch("report", "nodata");
    std::fs::create_dir_all(&*dir).unwrap();
    let program = dir.join("prior.stan");
    std::fs::write(
        &program,
        "parameters { real mu; real<lower=0> s; } model { mu ~ normal(1, 2); s ~ exponential(1); }\n",
    )
    .unwrap();
    let out_dir = dir.join("out");
    let out = refinestat(&[
        "sample",
        program.to_str().unwrap(),
        "--chains",
        "1",
        "--warmup",
        "200",
        "--draws",
        "200",
        "--output-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("mu"));
    // No likelihood: the report says so instead of failing.
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(html.contains("No log-likelihood"), "report without LOO");
    // A program with a data block needs its data.
    let out = refinestat(&["sample", EIGHT]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("has a data block: give its data with --data"),
        "{}",
        stderr(&out)
    );
}

fn synth(dir: &Path, rmax: &str, beta: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "synth",
        "--dataset",
        "eight_schools",
        "--chains",
        "2",
        "--warmup",
        "300",
        "--draws",
        "300",
        "--rmax",
        rmax,
        "--beta",
        beta,
        "--k",
        "3",
        "--output-dir",
        dir.to_str().unwrap(),
    ];
    args.extend(extra);
    refinestat(&args)
}

#[test]
fn synth_prints_the_best_program_its_summary_and_the_comparison_and_writes_a_report() {
    let dir = scratch("report", "synth");
    let out = synth(&dir, "6", "3", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let usage = common::read_json(&dir.join("token_usage.json"));
    let best = usage["best_attempt"].as_u64().unwrap();
    assert!(
        text.contains(&format!("best program (attempt {best}):")),
        "{text}"
    );
    // The program itself, indented, and its posterior summary table.
    let program = std::fs::read_to_string(dir.join("best_program.stan")).unwrap();
    let first_line = program.lines().next().unwrap();
    assert!(text.contains(&format!("    {first_line}")), "{text}");
    assert!(text.contains("posterior summary of the best program:"));
    assert!(text.contains("R_hat") && text.contains("Reliability: "));
    // The comparison: header, the chosen row first with zero differences.
    assert!(
        text.contains("attempt   elpd_loo       se  elpd_diff  se_diff    p_loo  score"),
        "{text}"
    );
    let comparison = common::read_json(&dir.join("comparison.json"));
    let rows = comparison["rows"].as_array().unwrap();
    assert!(!rows.is_empty());
    assert_eq!(rows[0]["attempt"].as_u64(), Some(best));
    assert_eq!(rows[0]["elpd_diff"].as_f64(), Some(0.0));
    assert_eq!(rows[0]["chosen"].as_bool(), Some(true));
    let chosen_line = format!("{best:>8} ");
    assert!(
        text.lines()
            .any(|l| l.starts_with(&chosen_line) && l.ends_with("chosen")),
        "{text}"
    );
    for r in &rows[1..] {
        // elpd_diff is each candidate's elpd_loo minus the chosen one's.
        let diff = r["elpd_loo"].as_f64().unwrap() - rows[0]["elpd_loo"].as_f64().unwrap();
        assert!((r["elpd_diff"].as_f64().unwrap() - diff).abs() < 1e-9);
        assert!(r["se_diff"].as_f64().unwrap() > 0.0);
    }
    if rows.len() > 1 {
        let v = comparison["verdict"].as_str().unwrap();
        assert!(text.contains(v), "the verdict sentence is printed");
        let next = &rows[1];
        let within =
            next["elpd_diff"].as_f64().unwrap().abs() < 2.0 * next["se_diff"].as_f64().unwrap();
        assert_eq!(v.contains("not clearly better"), within, "{v}");
    }
    // Progress in words, numbered as the files.
    let err = stderr(&out);
    assert!(
        err.contains("[attempt 0 of at most 6] new program"),
        "{err}"
    );
    assert!(!err.contains("Full") && !err.contains("(cached)"), "{err}");
    for line in err.lines().filter(|l| l.starts_with("[attempt ")) {
        let i: usize = line["[attempt ".len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            dir.join(format!("candidates/attempt-{i}.stan")).is_file(),
            "{line}"
        );
    }

    // The report: candidates, history, the best program's fit from best/.
    assert!(dir.join("best/chain-1.csv").is_file());
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for s in [
        "id=\"compare\"",
        "id=\"candidates\"",
        "id=\"history\"",
        "id=\"best\"",
        "id=\"best-ppc\"",
        "id=\"best-paretok\"",
    ] {
        assert!(html.contains(s), "synth report has {s}");
    }
    assert!(html.contains("new program"));
    assert!(!html.contains("<script"));

    // A rerun into the same directory is refused; --overwrite starts afresh.
    let again = synth(&dir, "6", "3", &[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(stderr(&again).contains("--overwrite"), "{}", stderr(&again));
    let over = synth(&dir, "2", "1", &["--overwrite"]);
    assert!(
        over.status.code() == Some(0) || over.status.code() == Some(1),
        "{}",
        stderr(&over)
    );
    let attempts = std::fs::read_dir(dir.join("candidates")).unwrap().count();
    assert!(
        attempts <= 4,
        "only the new run's attempts remain: {attempts} files"
    );
    let chosen = (0..6)
        .filter_map(|i| {
            std::fs::read_to_string(dir.join(format!("candidates/attempt-{i}.json"))).ok()
        })
        .filter(|t| t.contains("\"chosen\": true"))
        .count();
    assert!(chosen <= 1, "one chosen candidate at most");
}

#[test]
fn rejected_candidates_name_the_failed_checks_with_values() {
    // 2 x 60 draws: no program reaches bulk ESS 400, so with k = 7 every candidate is rejected.
    let dir = scratch("report", "rejected");
    let out = refinestat(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "60",
        "--rmax",
        "2",
        "--k",
        "7",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("rejected candidates:"), "{err}");
    assert!(
        err.contains("bulk ESS ") && err.contains("(needs >= 400)"),
        "{err}"
    );
    assert!(
        err.contains("below k = 7 (failed: "),
        "progress names the failed checks: {err}"
    );
    // The report names them too.
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("failed: ") && html.contains("needs &gt;= 400"));
}

#[test]
fn every_subcommand_help_has_an_example() {
    for sub in [
        "check",
        "fmt",
        "logp",
        "simulate",
        "sample",
        "diagnose",
        "sbc",
        "generate",
        "synth",
        "experiment",
        "report",
    ] {
        let out = refinestat(&[sub, "--help"]);
        assert_eq!(out.status.code(), Some(0), "{sub}");
        let text = stdout(&out);
        assert!(
            text.contains("Example"),
            "{sub} --help has an example:\n{text}"
        );
        assert!(
            text.contains(&format!("refinestat {sub} ")),
            "{sub}: its own command"
        );
    }
    // One meaning per flag: --alpha is synth's likelihood-resample count only.
    let sbc = stdout(&refinestat(&["sbc", "--help"]));
    assert!(!sbc.contains("--alpha") && sbc.contains("--significance"));
    // --output-dir everywhere it writes; experiment's old --output is a hidden alias.
    for sub in ["sample", "sbc", "generate", "synth", "experiment"] {
        assert!(
            stdout(&refinestat(&[sub, "--help"])).contains("--output-dir"),
            "{sub}"
        );
    }
    assert!(!stdout(&refinestat(&["experiment", "--help"])).contains("--output "));
}
