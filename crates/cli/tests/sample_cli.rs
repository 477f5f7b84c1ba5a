//! End-to-end runs of `refinestat sample` and `refinestat diagnose` on good and bad input: the
//! eight schools acceptance run, models the sampler cannot start or finish, broken CSV files,
//! CmdStan's own CSV layout, the sample -> diagnose round trip and seed reproducibility.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

mod common;

use common::{read_json, refinestat, root, stderr, stdout};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("sample-cli", name)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// Exit code 2, a message on stderr that contains every one of `needles`, and no panic.
fn assert_usage_error(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: "), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

const EIGHT_SCHOOLS: &str = "examples/eight_schools_noncentered.stan";
const EIGHT_SCHOOLS_DATA: &str = "datasets/eight_schools.json";

/// The acceptance run: CmdStan's defaults (4 chains, 1000 warmup, 1000 draws, delta 0.8).
#[test]
fn eight_schools_noncentered_with_default_settings_has_no_divergences() {
    let dir = scratch("eight-schools-defaults");
    let out_dir = dir.to_string_lossy().into_owned();
    let out = refinestat(&[
        "sample",
        EIGHT_SCHOOLS,
        "--data",
        EIGHT_SCHOOLS_DATA,
        "--output-dir",
        &out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = read_json(&dir.join("summary.json"));
    assert_eq!(summary["divergences"].as_u64(), Some(0));
    let parameters = summary["parameters"].as_object().unwrap();
    assert_eq!(parameters.len(), 18);
    for (name, row) in parameters {
        let rhat = row["rhat"].as_f64().unwrap();
        assert!(rhat < 1.01, "{name}: R-hat {rhat}");
    }
    // PSIS-LOO of this posterior (posteriordb reference fits): elpd_loo = -30.69.
    let elpd = summary["loo"]["elpd_loo"].as_f64().unwrap();
    assert!((elpd + 30.69).abs() < 0.2, "elpd_loo {elpd}");
    // The posterior mean of mu is about 4.4 with a posterior sd of 3.3; the MCSE is ~0.05.
    let mu = parameters["mu"]["mean"].as_f64().unwrap();
    assert!((mu - 4.4).abs() < 0.4, "mu {mu}");
}

#[test]
fn the_centered_funnel_reports_divergences() {
    let dir = scratch("centered");
    let out_dir = dir.to_string_lossy().into_owned();
    let out = refinestat(&[
        "sample",
        "examples/eight_schools_centered.stan",
        "--data",
        EIGHT_SCHOOLS_DATA,
        "--output-dir",
        &out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = read_json(&dir.join("summary.json"));
    let divergences = summary["divergences"].as_u64().unwrap();
    assert!(divergences > 0, "the centered eight schools has a funnel");
    assert!(stdout(&out).contains(&format!("Divergences: {divergences}\n")));
}

#[test]
fn a_density_that_is_never_finite_is_a_clear_error() {
    let dir = scratch("never-finite");
    let data = write(&dir, "empty.json", "{}");
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let cases = [
        (
            "parameters { real mu; }\nmodel { target += not_a_number(); }\n",
            "NaN",
        ),
        (
            "parameters { real mu; }\nmodel { reject(\"no value is acceptable\"); }\n",
            "no value is acceptable",
        ),
        (
            "parameters { real<lower=0> sigma; }\nmodel { target += negative_infinity(); }\n",
            "-inf",
        ),
    ];
    for (i, (program, reason)) in cases.into_iter().enumerate() {
        let model = write(&dir, &format!("model{i}.stan"), program);
        let out = refinestat(&["sample", &model, "--data", &data, "--output-dir", &out_dir]);
        assert_usage_error(&out, &["no initial point", "100 tries", reason]);
    }
}

#[test]
fn a_flat_posterior_terminates_and_reports_the_tree_depth() {
    let dir = scratch("flat");
    let data = write(&dir, "empty.json", "{}");
    let model = write(&dir, "flat.stan", "parameters { real mu; }\nmodel { }\n");
    let out_dir = dir.join("out");
    let out = refinestat(&[
        "sample",
        &model,
        "--data",
        &data,
        "--chains",
        "2",
        "--warmup",
        "30",
        "--draws",
        "20",
        "--max-treedepth",
        "6",
        "--output-dir",
        &out_dir.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // With nothing to turn it around, every trajectory runs to the maximum depth.
    assert!(
        stdout(&out).contains("Max tree depth (6) hit: 40 of 40 draws"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("warning: 40 of 40 draws hit the maximum tree depth (6)"));
    let csv = std::fs::read_to_string(out_dir.join("chain-1.csv")).unwrap();
    let rows: Vec<&str> = csv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lp__"))
        .collect();
    assert_eq!(rows.len(), 20);
    for row in rows {
        let fields: Vec<&str> = row.split(',').collect();
        assert_eq!((fields[3], fields[4]), ("6", "63"), "{row}");
    }
}

#[test]
fn a_flat_posterior_under_a_time_budget_returns_promptly_with_a_warning() {
    let dir = scratch("flat-budget");
    let data = write(&dir, "empty.json", "{}");
    let model = write(&dir, "flat.stan", "parameters { real mu; }\nmodel { }\n");
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let start = Instant::now();
    let out = refinestat(&[
        "sample",
        &model,
        "--data",
        &data,
        "--time-budget",
        "1",
        "--output-dir",
        &out_dir,
    ]);
    let elapsed = start.elapsed();
    // Without the budget this run takes 4 x 2000 iterations of 1023 leapfrog steps.
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    match out.status.code() {
        Some(0) => assert!(err.contains("warning: the time budget ran out"), "{err}"),
        Some(2) => assert!(
            err.contains("error: the time budget ran out before any chain finished warmup"),
            "{err}"
        ),
        other => panic!("exit code {other:?}: {err}"),
    }
}

#[test]
fn data_that_does_not_fit_the_program_names_the_variable() {
    let dir = scratch("bad-data");
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let missing = write(
        &dir,
        "missing.json",
        r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12]}"#,
    );
    let out = refinestat(&[
        "sample",
        EIGHT_SCHOOLS,
        "--data",
        &missing,
        "--output-dir",
        &out_dir,
    ]);
    assert_usage_error(&out, &["`sigma`", "missing"]);
    let short = write(
        &dir,
        "short.json",
        r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#,
    );
    let out = refinestat(&[
        "sample",
        EIGHT_SCHOOLS,
        "--data",
        &short,
        "--output-dir",
        &out_dir,
    ]);
    assert_usage_error(&out, &["`y`", "size 8", "has 7"]);
    assert!(!dir.join("out").join("chain-1.csv").exists());
}

/// Runs a short eight schools fit into `dir` and returns the chain files.
fn short_fit(dir: &Path, seed: &str) -> Vec<String> {
    let out = refinestat(&[
        "sample",
        EIGHT_SCHOOLS,
        "--data",
        EIGHT_SCHOOLS_DATA,
        "--chains",
        "2",
        "--warmup",
        "150",
        "--draws",
        "100",
        "--seed",
        seed,
        "--output-dir",
        &dir.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (1..=2)
        .map(|k| {
            dir.join(format!("chain-{k}.csv"))
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn diagnose_reads_back_what_sample_wrote_to_the_same_summary() {
    let dir = scratch("round-trip");
    let files = short_fit(&dir.join("fit"), "11");
    let diagnosed = dir.join("diagnosed");
    let mut args = vec!["diagnose"];
    args.extend(files.iter().map(String::as_str));
    let diagnosed_dir = diagnosed.to_string_lossy().into_owned();
    args.extend(["--output-dir", &diagnosed_dir]);
    let out = refinestat(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_sample = std::fs::read(dir.join("fit").join("summary.json")).unwrap();
    let from_diagnose = std::fs::read(diagnosed.join("summary.json")).unwrap();
    assert!(from_sample.len() > 1000);
    assert!(
        from_sample == from_diagnose,
        "summary.json differs between sample and diagnose"
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let dir = scratch("seeds");
    let first = short_fit(&dir.join("a"), "5");
    let second = short_fit(&dir.join("b"), "5");
    let other = short_fit(&dir.join("c"), "6");
    for ((a, b), c) in first.iter().zip(&second).zip(&other) {
        let a = std::fs::read(a).unwrap();
        assert!(a == std::fs::read(b).unwrap(), "chain files differ");
        assert!(a != std::fs::read(c).unwrap(), "seed is ignored");
    }
    let summary = |d: &str| std::fs::read(dir.join(d).join("summary.json")).unwrap();
    assert!(summary("a") == summary("b"));
    assert!(summary("a") != summary("c"));
}

/// Runs `diagnose` on `files` (paths inside `dir`).
fn diagnose(dir: &Path, files: &[&str]) -> Output {
    let mut args = vec!["diagnose".to_string()];
    args.extend(
        files
            .iter()
            .map(|f| dir.join(f).to_string_lossy().into_owned()),
    );
    args.extend([
        "--output-dir".to_string(),
        dir.to_string_lossy().into_owned(),
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refinestat(&args)
}

#[test]
fn diagnose_rejects_broken_csv_files_naming_the_file() {
    let dir = scratch("broken-csv");
    let good = std::fs::read_to_string(root().join(CMDSTAN_CHAIN_1)).unwrap();
    write(&dir, "good.csv", &good);
    write(&dir, "empty.csv", "");
    let header_only: String = good
        .lines()
        .take_while(|l| l.starts_with('#') || l.starts_with("lp__"))
        .map(|l| format!("{l}\n"))
        .collect();
    write(&dir, "header_only.csv", &header_only);
    // The last draw cut in the middle, as a killed process leaves it.
    let last_draw = good
        .lines()
        .rfind(|l| !l.starts_with('#'))
        .unwrap()
        .to_string();
    let cut = good.rfind(&last_draw).unwrap() + last_draw.len() / 2;
    write(&dir, "truncated.csv", &good[..cut]);
    // Another model: a column renamed.
    write(&dir, "other_model.csv", &good.replace(",mu,", ",nu,"));

    assert_usage_error(&diagnose(&dir, &["empty.csv"]), &["empty.csv"]);
    assert_usage_error(&diagnose(&dir, &["header_only.csv"]), &["header_only.csv"]);
    assert_usage_error(&diagnose(&dir, &["truncated.csv"]), &["truncated.csv"]);
    assert_usage_error(
        &diagnose(&dir, &["good.csv", "other_model.csv"]),
        &["other_model.csv", "good.csv"],
    );
    assert_usage_error(&diagnose(&dir, &["no_such.csv"]), &["no_such.csv"]);
    assert!(!dir.join("summary.json").exists());
}

const CMDSTAN_CHAIN_1: &str = "crates/diagnostics/tests/data/cmdstan/chain-1.csv";
const CMDSTAN_CHAIN_2: &str = "crates/diagnostics/tests/data/cmdstan/chain-2.csv";

/// CmdStan's layout (configuration comments, adaptation block, timing block at the end) against
/// ArviZ's numbers for the same draws (crates/diagnostics/tests/data/cmdstan/arviz_expected.json).
#[test]
fn diagnose_reads_cmdstan_output_and_agrees_with_arviz() {
    let dir = scratch("cmdstan");
    let files = [
        root().join(CMDSTAN_CHAIN_1).to_string_lossy().into_owned(),
        root().join(CMDSTAN_CHAIN_2).to_string_lossy().into_owned(),
    ];
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(text.contains("# Adaptation terminated") && text.contains("Elapsed Time"));
    let out_dir = dir.to_string_lossy().into_owned();
    let out = refinestat(&[
        "diagnose",
        &files[0],
        &files[1],
        "--output-dir",
        &out_dir,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let summary = read_json(&dir.join("summary.json"));
    let printed: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary, printed);
    let expected =
        read_json(&root().join("crates/diagnostics/tests/data/cmdstan/arviz_expected.json"));
    assert_eq!(summary["divergences"], expected["divergences"]);
    for name in ["mu", "theta[1]", "theta[2]", "L[2,1]", "L[2,2]"] {
        for stat in ["mean", "rhat", "ess_bulk", "ess_tail", "mcse_mean"] {
            let got = summary["parameters"][name][stat].as_f64().unwrap();
            let want = expected["parameters"][name][stat].as_f64().unwrap();
            assert!(
                (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                "{name} {stat}: {got} vs ArviZ {want}"
            );
        }
    }
    let elpd = summary["loo"]["elpd_loo"].as_f64().unwrap();
    let want = expected["loo"]["elpd_loo"].as_f64().unwrap();
    assert!((elpd - want).abs() < 1e-9, "elpd_loo {elpd} vs {want}");
}

#[test]
fn a_while_loop_that_never_ends_stops_with_a_clear_error() {
    let dir = scratch("runaway");
    let data = write(&dir, "empty.json", "{}");
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let model = write(
        &dir,
        "runaway.stan",
        "parameters { real mu; }\nmodel { mu ~ normal(0, 1);\n  while (1) { }\n}\n",
    );
    let out = refinestat(&["sample", &model, "--data", &data, "--output-dir", &out_dir]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runaway loop"), "{err}");
    assert!(err.contains("`while` loop on line 3"), "{err}");
    let params = write(&dir, "params.json", "{\"mu\": 0.5}");
    let out = refinestat(&["logp", &model, "--data", &data, "--params", &params]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("runaway loop: the `while` loop on line 3"),
        "{err}"
    );
    let out = refinestat(&["simulate", &model, "--data", &data, "--draws", "2"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("prior-predictive draw 1: runaway loop: the `while` loop on line 3"),
        "{err}"
    );
}

#[test]
fn a_for_loop_over_a_huge_data_bound_stops_at_once() {
    let dir = scratch("runaway-for");
    let data = write(&dir, "huge.json", "{\"N\": 1000000000000}");
    let model = write(
        &dir,
        "huge.stan",
        "data { int N; }\nparameters { real mu; }\nmodel { mu ~ normal(0, 1);\n  for (n in 1:N) { }\n}\n",
    );
    let params = write(&dir, "params.json", "{\"mu\": 0.5}");
    let out = refinestat(&["logp", &model, "--data", &data, "--params", &params]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("runaway loop"), "{err}");
    assert!(
        err.contains("`for` loop on line 4 over 1:1000000000000"),
        "{err}"
    );
    let out = refinestat(&["simulate", &model, "--data", &data, "--draws", "2"]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`for` loop on line 4 over 1:1000000000000"),
        "{err}"
    );
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let out = refinestat(&["sample", &model, "--data", &data, "--output-dir", &out_dir]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("`for` loop on line 4 over 1:1000000000000"),
        "{err}"
    );
}

#[test]
fn synth_rejects_a_candidate_whose_loop_runs_away_and_names_its_line() {
    // The candidate (replayed token by token after the data block the decoder writes) loops
    // 10^12 times over a data-given bound; synth must reject it with the loop's line, not hang.
    let dir = scratch("runaway-synth");
    let out_dir = dir.join("out").to_string_lossy().into_owned();
    let out = refinestat(&[
        "synth",
        "--data",
        "crates/cli/tests/data/runaway/huge_bound.json",
        "--response",
        "y",
        "--lm",
        "replay:crates/cli/tests/data/runaway/huge_bound_replay.stan",
        "--output-dir",
        &out_dir,
        "--seed",
        "1",
        "--k",
        "1",
        "--chains",
        "1",
        "--warmup",
        "20",
        "--draws",
        "20",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("runaway loop: the `for` loop on line 12 over 1:1000000000000"),
        "{err}"
    );
}
