//! End-to-end runs of `refinestat synth`: the output files, the best program checking clean and
//! matching its diagnostics, the log and token accounting agreeing, and the no-valid-program exit.

use std::path::{Path, PathBuf};

mod common;

use common::refinestat;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("refinestat-synth-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const SMALL: [&str; 8] = [
    "--chains", "2", "--warmup", "300", "--draws", "300", "--rmax", "6",
];

#[test]
fn eight_schools_writes_a_best_program_that_checks() {
    let dir = scratch("eight");
    let dir_s = dir.to_str().unwrap();
    let mut args = vec!["synth", "--dataset", "eight_schools", "--output-dir", dir_s];
    args.extend(SMALL);
    args.extend(["--beta", "2", "--k", "3"]);
    let out = refinestat(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("[attempt 0 of at most 6] new program"),
        "progress on stderr: {stderr}"
    );

    let best = dir.join("best_program.stan");
    let check = refinestat(&[
        "check",
        best.to_str().unwrap(),
        "--data",
        "datasets/eight_schools.json",
    ]);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );

    let usage = json(&dir.join("token_usage.json"));
    let log: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("log.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let attempts = usage["attempts"].as_u64().unwrap() as usize;
    assert!((1..=6).contains(&attempts));
    assert_eq!(log.len(), attempts);
    let sampled: u64 = log
        .iter()
        .map(|e| e["tokens"]["sampled"].as_u64().unwrap())
        .sum();
    assert_eq!(usage["tokens"]["sampled"].as_u64().unwrap(), sampled);
    assert!(sampled > 0);
    let fits = usage["fits"].as_u64().unwrap();
    let fresh = log
        .iter()
        .filter(|e| e["candidate"].is_u64() && e["cached"] == false)
        .count() as u64;
    assert_eq!(fits, fresh, "one fit per distinct program");

    // The diagnostics are the best program's: its score and ELPD are the chosen attempt's.
    let diag = json(&dir.join("best_program_diagnostics.json"));
    let best_attempt = usage["best_attempt"].as_u64().unwrap() as usize;
    let record = json(&dir.join(format!("candidates/attempt-{best_attempt}.json")));
    assert_eq!(record["chosen"], true);
    assert!(record["not_chosen_because"].is_null());
    assert_eq!(diag["reliability"]["score"], record["score"]);
    assert!(diag["reliability"]["score"].as_u64().unwrap() >= 3);
    assert_eq!(diag["loo"]["elpd_loo"], record["elpd_loo"]);
    // best_program.stan is the chosen candidate plus its generated quantities (y_rep, log_lik).
    let best_text = std::fs::read_to_string(&best).unwrap();
    let chosen =
        std::fs::read_to_string(dir.join(format!("candidates/attempt-{best_attempt}.stan")))
            .unwrap();
    assert!(best_text.starts_with(&chosen), "{best_text}\nvs\n{chosen}");
    assert!(best_text[chosen.len()..].starts_with("generated quantities {"));
    // Every attempt left its program and record.
    for i in 0..attempts {
        assert!(dir.join(format!("candidates/attempt-{i}.stan")).is_file());
        assert!(dir.join(format!("candidates/attempt-{i}.json")).is_file());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_valid_program_exits_1_without_a_best_program() {
    let dir = scratch("none");
    let dir_s = dir.to_str().unwrap();
    // k = 8 of 7 checks cannot be reached.
    let out = refinestat(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--output-dir",
        dir_s,
        "--chains",
        "1",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--rmax",
        "1",
        "--k",
        "8",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no valid program"));
    assert!(!dir.join("best_program.stan").exists());
    let usage = json(&dir.join("token_usage.json"));
    assert_eq!(usage["stop"], "no_valid_program");
    assert_eq!(usage["attempts"], 1);
    let record = json(&dir.join("candidates/attempt-0.json"));
    assert!(record["not_chosen_because"]
        .as_str()
        .unwrap()
        .contains("below k = 8"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_usage_errors() {
    let out = refinestat(&["synth", "--dataset", "eight_schools", "--mode", "magic"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown mode"));
    let out = refinestat(&["synth", "--dataset", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let out = refinestat(&["synth", "--dataset", "eight_schools", "--time-budget=-1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--time-budget"));
    let dir = scratch("zero-draws");
    let out = refinestat(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--draws",
        "0",
        "--rmax",
        "1",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    // Zero draws is no fit: the one attempt is invalid, which is exit 1, not a crash.
    assert_eq!(out.status.code(), Some(1));
    let record = json(&dir.join("candidates/attempt-0.json"));
    assert!(record["fit_error"].as_str().unwrap().contains("no draws"));
    let _ = std::fs::remove_dir_all(&dir);
}
