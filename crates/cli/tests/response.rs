//! `synth` on ordinary data: it models the response (not a covariate), says what it decided,
//! uses a grouping index, stops at once on data with nothing to model, and `--response`
//! chooses another variable. Data: `crates/cli/tests/data/*.json` (a Poisson regression, a
//! binary response, a grouped normal response, a count outcome with a 0/1 covariate).

mod common;

use common::{read_json, refinestat, scratch, stderr};
use refinestat_language::analysis::modelled_variables;
use refinestat_language::parse;
use std::path::Path;

/// A short synth run (every fitted program counts as valid, so the run is about structure).
fn synth(data: &str, dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "synth",
        "--data",
        data,
        "--output-dir",
        dir.to_str().unwrap(),
        "--chains",
        "1",
        "--warmup",
        "150",
        "--draws",
        "150",
        "--rmax",
        "3",
        "--beta",
        "2",
        "--k",
        "0",
    ];
    args.extend(extra);
    refinestat(&args)
}

/// Every attempt that is a whole program has a likelihood on `response`; returns the best
/// program's text.
fn every_program_models(dir: &Path, response: &str) -> String {
    let log: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!log.is_empty());
    for event in &log {
        let i = event["attempt"].as_u64().unwrap();
        let text =
            std::fs::read_to_string(dir.join(format!("candidates/attempt-{i}.stan"))).unwrap();
        if event["check_valid"] == true {
            assert!(
                modelled_variables(&parse(&text).program).contains(response),
                "attempt {i} does not model {response}:\n{text}"
            );
        }
    }
    assert_eq!(log[0]["schema"]["responses"][0]["name"], response);
    let best = std::fs::read_to_string(dir.join("best_program.stan")).unwrap();
    assert!(
        modelled_variables(&parse(&best).program).contains(response),
        "{best}"
    );
    let diag = read_json(&dir.join("best_program_diagnostics.json"));
    assert_eq!(diag["schema"]["responses"][0]["name"], response);
    best
}

#[test]
fn poisson_regression_models_the_counts_given_x() {
    let dir = scratch("response", "poisson");
    let out = synth("crates/cli/tests/data/poisson_regression.json", &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("modelling y (counts) given x"), "{err}");
    let best = every_program_models(&dir, "y");
    assert!(
        best.contains("y ~ poisson_log(") || best.contains("y ~ neg_binomial_2_log("),
        "{best}"
    );
    assert!(!best.contains("x ~"), "{best}");
    // The best program carries its own y_rep and log_lik.
    assert!(
        best.contains("generated quantities") && best.contains("log_lik"),
        "{best}"
    );
}

#[test]
fn binary_response_gets_a_logit_likelihood() {
    let dir = scratch("response", "binary");
    let out = synth("crates/cli/tests/data/binary_regression.json", &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("modelling y (binary) given x"), "{err}");
    let best = every_program_models(&dir, "y");
    assert!(best.contains("y ~ bernoulli_logit("), "{best}");
}

#[test]
fn grouped_data_uses_the_grouping() {
    let dir = scratch("response", "grouped");
    let out = synth("crates/cli/tests/data/grouped.json", &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("modelling y (real); group indexes group 1..J"),
        "{err}"
    );
    let best = every_program_models(&dir, "y");
    assert!(best.contains("[group]"), "{best}");
}

#[test]
fn a_binary_covariate_is_not_the_successes_of_the_outcome() {
    let dir = scratch("response", "covariate");
    let out = synth("crates/cli/tests/data/binary_covariate.json", &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("modelling y (counts) given treat"), "{err}");
    let best = every_program_models(&dir, "y");
    assert!(
        !modelled_variables(&parse(&best).program).contains("treat"),
        "{best}"
    );
}

#[test]
fn nothing_to_model_stops_at_once() {
    let dir = scratch("response", "degenerate");
    let out = synth("crates/cli/tests/data/nothing_to_model.json", &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("nothing to model"), "{err}");
    assert!(err.contains("mu (real)"), "{err}");
    assert!(!dir.join("log.jsonl").exists(), "no attempt was made");
    let out = refinestat(&[
        "generate",
        "--data",
        "crates/cli/tests/data/nothing_to_model.json",
        "--n",
        "1",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn response_flag_chooses_another_variable() {
    let dir = scratch("response", "flag");
    let out = synth(
        "crates/cli/tests/data/poisson_regression.json",
        &dir,
        &["--response", "x"],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("modelling x (real)"), "{err}");
    assert!(err.contains("(--response)"), "{err}");
    every_program_models(&dir, "x");
    let out = synth(
        "crates/cli/tests/data/poisson_regression.json",
        &dir,
        &["--response", "nope"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no variable `nope`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn without_names_the_last_column_is_the_response() {
    // Two integer columns, neither named like a response: the file's last column is modelled,
    // in JSON and in CSV (the data itself keeps variables by name, so this needs the file order).
    let dir = scratch("response", "last-column");
    std::fs::create_dir_all(&*dir).unwrap();
    // speed unsorted, so that it is no time index.
    let rows: Vec<(i64, i64)> = (0..20)
        .map(|i| {
            let speed = 4 + (i * 7) % 20;
            (speed, 3 * speed - 8 + (i % 3))
        })
        .collect();
    let csv = std::iter::once("speed,dist".to_string())
        .chain(rows.iter().map(|(s, d)| format!("{s},{d}")))
        .collect::<Vec<_>>()
        .join("\n");
    let json = format!(
        "{{\"N\": 20, \"speed\": [{}], \"dist\": [{}]}}",
        rows.iter()
            .map(|r| r.0.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        rows.iter()
            .map(|r| r.1.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    // The reverse order models the other column.
    let json_reversed = format!(
        "{{\"N\": 20, \"dist\": [{}], \"speed\": [{}]}}",
        rows.iter()
            .map(|r| r.1.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        rows.iter()
            .map(|r| r.0.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (file, text, response) in [
        ("d.csv", csv.as_str(), "dist"),
        ("d.json", json.as_str(), "dist"),
        ("r.json", json_reversed.as_str(), "speed"),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        let out_dir = dir.join(format!("out-{file}"));
        let out = refinestat(&[
            "generate",
            "--data",
            path.to_str().unwrap(),
            "--n",
            "1",
            "--output-dir",
            out_dir.to_str().unwrap(),
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert!(
            err.contains(&format!("modelling {response} (counts)")),
            "{file}: {err}"
        );
    }
}
