//! The paper's ablation end to end: `--without PRED` switches one validity predicate off in
//! `generate`, `synth` and `experiment`, and `experiment --ablation` writes the ablation table.
//!
//! Each fixture in tests/data/ablation/ breaks exactly one predicate. Replayed token by token
//! (`--lm replay:FILE`, no noise), the full decoder refuses it (it closes the program short of
//! the offending statement), switching off the other five still refuses it, and switching off
//! its own predicate lets it through verbatim.

mod common;

use common::{read_json, refinestat, root, scratch, stderr, stdout};
use std::path::Path;

const PREDICATES: [&str; 6] = [
    "parse",
    "distribution",
    "parameter",
    "dependency",
    "support",
    "type",
];

/// The data block the decoder writes for eight_schools, in front of every fixture.
const DATA_BLOCK: &str =
    "data {\n  int<lower=0> J;\n  vector<lower=0>[J] sigma;\n  vector[J] y;\n}\n";

fn fixture(pred: &str) -> String {
    format!("crates/cli/tests/data/ablation/{pred}.stan")
}

/// `generate` one program replaying `pred`'s fixture with `without` switched off; its record.
fn replay(dir: &Path, pred: &str, without: &[&str]) -> (String, serde_json::Value) {
    let lm = format!("replay:{}", fixture(pred));
    let d = dir.to_str().unwrap();
    let mut args = vec![
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &lm,
        "--output-dir",
        d,
        "--overwrite",
    ];
    let list = without.join(",");
    if !without.is_empty() {
        args.extend(["--without", &list]);
    }
    let out = refinestat(&args);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", stderr(&out));
    let program = std::fs::read_to_string(dir.join("program-0.stan")).unwrap();
    let text = std::fs::read_to_string(dir.join("generate.jsonl")).unwrap();
    let record = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    (program, record)
}

fn violated(record: &serde_json::Value) -> Vec<String> {
    record["check"]["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["predicate"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_predicate_switched_off_lets_through_a_program_only_it_stops() {
    for pred in PREDICATES {
        let dir = scratch("ablation", &format!("replay-{pred}"));
        let whole = format!(
            "{DATA_BLOCK}{}",
            std::fs::read_to_string(root().join(fixture(pred))).unwrap()
        );

        // Switched off, the fixture is written as it is; the full check still finds its one
        // violation, of this predicate.
        let (program, record) = replay(&dir, pred, &[pred]);
        assert_eq!(program, whole, "--without {pred}");
        assert_eq!(record["stop_reason"], "completed", "{pred}: {record}");
        assert_eq!(violated(&record), [pred], "{pred}: {record}");
        assert_eq!(record["without"], serde_json::json!([pred]));

        // The full decoder refuses it, and so does one with the other five switched off: only
        // this predicate stops it. What comes out instead checks clean under what is on.
        let others: Vec<&str> = PREDICATES.iter().copied().filter(|p| *p != pred).collect();
        for without in [&[][..], &others[..]] {
            let (program, record) = replay(&dir, pred, without);
            assert_ne!(program, whole, "{pred} with {without:?} off");
            assert!(program.starts_with(DATA_BLOCK), "{program}");
            assert!(
                !violated(&record).iter().any(|p| p == pred),
                "{pred} with {without:?} off: {record}"
            );
            if without.is_empty() {
                assert_eq!(record["check"]["valid"], true, "{record}");
                assert!(record.get("without").is_none(), "{record}");
            }
        }
    }
}

/// One `synth` attempt on eight_schools replaying `pred`'s fixture, with a small fit.
fn synth_one_replay(dir: &Path, pred: &str, extra: &[&str]) {
    let lm = format!("replay:{}", fixture(pred));
    let mut args = vec!["synth", "--dataset", "eight_schools", "--lm", &lm];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[
        "--rmax", "1", "--chains", "1", "--warmup", "50", "--draws", "50",
    ]);
    args.extend_from_slice(&["--output-dir", dir.to_str().unwrap()]);
    let out = refinestat(&args);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
}

#[test]
fn synth_without_a_predicate_fits_what_it_lets_through_and_logs_it() {
    // Support off: the unbounded scale goes to the fitter (it compiles, as in Stan) instead of
    // being refused; type off: the program reaches the fitter, whose compilation refuses it.
    for (pred, compiles) in [("support", true), ("type", false)] {
        let dir = scratch("ablation", &format!("synth-{pred}"));
        synth_one_replay(&dir, pred, &["--without", pred]);
        let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
        let event: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
        assert_eq!(event["without"], serde_json::json!([pred]), "{event}");
        // Not refused by the check: the predicate that would have refused it is off.
        assert_eq!(event["check_valid"], true, "{event}");
        assert_eq!(event["candidate"], 0, "{event}");
        let fit_error = event["fit_error"].as_str().unwrap_or("");
        assert_eq!(
            fit_error.starts_with("does not compile"),
            !compiles,
            "{pred}: {event}"
        );
        let attempt = std::fs::read_to_string(dir.join("candidates/attempt-0.stan")).unwrap();
        assert!(
            attempt.ends_with(&std::fs::read_to_string(root().join(fixture(pred))).unwrap()[..])
        );
        let usage = read_json(&dir.join("token_usage.json"));
        assert_eq!(usage["settings"]["without"], serde_json::json!([pred]));
    }
}

#[test]
fn a_program_the_decoder_closed_checks_valid_in_the_attempt_record_as_in_the_log() {
    // The full decoder refuses the type fixture's `real m = theta;` and closes the program
    // there: a whole program with no violation, in log.jsonl and in candidates/attempt-0.json.
    let dir = scratch("ablation", "synth-closed");
    synth_one_replay(&dir, "type", &[]);
    let log = std::fs::read_to_string(dir.join("log.jsonl")).unwrap();
    let event: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(event["generation"], "closed", "{event}");
    assert_eq!(event["check_valid"], true, "{event}");
    let attempt = read_json(&dir.join("candidates/attempt-0.json"));
    assert_eq!(attempt["generation"], "closed", "{attempt}");
    assert_eq!(attempt["check"]["valid"], true, "{attempt}");
    assert_eq!(
        attempt["check"]["violations"],
        serde_json::json!([]),
        "{attempt}"
    );
}

#[test]
fn bad_without_lists_are_usage_errors() {
    let dir = scratch("ablation", "usage");
    let d = dir.to_str().unwrap();
    let cases: [&[&str]; 6] = [
        &["generate", "--dataset", "glm", "--without", "grammar"],
        &[
            "generate",
            "--dataset",
            "glm",
            "--mode",
            "syntax",
            "--without",
            "support",
        ],
        &[
            "synth",
            "--dataset",
            "glm",
            "--mode",
            "standard",
            "--without",
            "parse",
        ],
        &[
            "experiment",
            "--seeds",
            "1",
            "--ablation",
            "--without",
            "type",
        ],
        &[
            "experiment",
            "--seeds",
            "1",
            "--ablation",
            "--mode",
            "iterative",
        ],
        &["experiment", "--seeds", "1", "--temperature", "0.3,0.3"],
    ];
    for args in cases {
        let mut args = args.to_vec();
        args.extend(["--output-dir", d]);
        let out = refinestat(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    }
    let out = refinestat(&[
        "generate",
        "--dataset",
        "glm",
        "--without",
        "grammar",
        "--output-dir",
        d,
    ]);
    assert!(
        stderr(&out).contains("unknown predicate `grammar`"),
        "{}",
        stderr(&out)
    );
    // Nothing was pinned by a refused experiment.
    assert!(!dir.join("config.json").exists());
}

fn csv(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn experiment_ablation_writes_the_table() {
    let dir = scratch("ablation", "experiment");
    let d = dir.to_str().unwrap();
    let args = [
        "experiment",
        "--ablation",
        "--seeds",
        "1",
        "--datasets",
        "eight_schools",
        "--rmax",
        "1",
        "--chains",
        "1",
        "--warmup",
        "50",
        "--draws",
        "50",
        "--output-dir",
        d,
    ];
    let out = refinestat(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("Ablation"), "{}", stdout(&out));

    let config = read_json(&dir.join("config.json"));
    assert_eq!(config["ablation"], true);
    assert_eq!(config["arms"].as_array().unwrap().len(), 8);

    // One arm per switched-off predicate, plus the full system and grammar only; each cell's
    // synth run records what it switched off.
    let mut arms = vec![("full", "refinestat".to_string(), vec![])];
    for p in PREDICATES {
        arms.push((p, format!("refinestat-without-{p}"), vec![p]));
    }
    arms.push((
        "grammar-only",
        "refinestat-grammar-only".to_string(),
        vec!["distribution", "parameter", "dependency", "support", "type"],
    ));
    let rows = csv(&dir.join("analysis/ablation.csv"));
    assert_eq!(rows.len(), 16, "{rows:?}");
    for (removed, label, without) in &arms {
        let cell = dir.join(format!("builtin/{label}/eight_schools/seed_1"));
        let done = read_json(&cell.join("done.json"));
        let usage = read_json(&cell.join("token_usage.json"));
        if without.is_empty() {
            assert!(usage["settings"].get("without").is_none());
        } else {
            assert_eq!(usage["settings"]["without"], serde_json::json!(without));
            assert_eq!(done["without"], serde_json::json!(without));
        }
        for ds in ["eight_schools", "all"] {
            let row = rows
                .iter()
                .find(|r| r[2] == *removed && r[3] == ds)
                .unwrap_or_else(|| panic!("no row for {removed} {ds}: {rows:?}"));
            assert_eq!(row[0], "builtin");
            assert_eq!(row[4], "1");
            let rate: f64 = row[5].parse().unwrap();
            assert_eq!(rate, if done["valid"] == true { 1.0 } else { 0.0 });
            let attempts = done["attempts"].as_f64().unwrap();
            assert!(attempts >= 1.0, "{done}");
            let programs_run: f64 = row[7].parse().unwrap();
            assert!((programs_run - done["ran"].as_f64().unwrap() / attempts).abs() < 1e-4);
            let score: f64 = row[9].parse().unwrap();
            assert_eq!(score, done["score"].as_f64().unwrap());
            // The Δ columns are against the full system; the full row has none.
            assert_eq!(row[6].is_empty(), *removed == "full", "{row:?}");
            assert_eq!(row[8].is_empty(), *removed == "full", "{row:?}");
        }
    }
    let text = std::fs::read_to_string(dir.join("analysis/ablation.txt")).unwrap();
    for p in PREDICATES {
        assert!(text.contains(p), "{text}");
    }
    // Rerunning the same command resumes: every cell is skipped.
    let again = refinestat(&args);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert_eq!(
        stderr(&again).matches("finished earlier, skipped").count(),
        8
    );
}

#[test]
fn experiment_takes_several_temperatures() {
    let dir = scratch("ablation", "temperatures");
    let out = refinestat(&[
        "experiment",
        "--seeds",
        "1",
        "--datasets",
        "surgical",
        "--mode",
        "syntax",
        "--temperature",
        "0.3,1",
        "--chains",
        "1",
        "--warmup",
        "50",
        "--draws",
        "50",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        read_json(&dir.join("config.json"))["temperature"],
        serde_json::json!([0.3, 1.0])
    );
    for (t, label) in [(0.3, "syntax-t0.3"), (1.0, "syntax-t1")] {
        let usage =
            read_json(&dir.join(format!("builtin/{label}/surgical/seed_1/token_usage.json")));
        assert_eq!(usage["settings"]["temperature"], t);
        assert_eq!(usage["mode"], "syntax");
    }
    let rows = csv(&dir.join("analysis/aggregated_stats.csv"));
    let modes: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    assert_eq!(modes, ["syntax-t0.3", "syntax-t1"]);
}
