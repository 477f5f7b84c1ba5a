//! End-to-end runs of `refinestat generate`: files and JSON lines written, every refinestat-mode
//! program valid under `refinestat check`, resumption, reproducibility, and unavailable backends.

use std::path::Path;

mod common;

use common::refinestat;

fn scratch(name: &str) -> common::Scratch {
    common::scratch("generate", name)
}

fn records(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("generate.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn refinestat_mode_programs_pass_check_and_runs_resume() {
    let dir = scratch("resume");
    let d = dir.to_str().unwrap();
    let args = [
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        "builtin",
        "--mode",
        "refinestat",
        "--seed",
        "5",
        "--output-dir",
        d,
    ];
    let out = refinestat(&[&args[..], &["--n", "3"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = records(&dir);
    assert_eq!(first.len(), 3);
    for (i, r) in first.iter().enumerate() {
        assert_eq!(r["index"], i);
        assert_eq!(r["stop_reason"], "completed");
        assert_eq!(r["check"]["valid"], true);
        let t = &r["tokens"];
        assert_eq!(
            t["sampled"].as_u64().unwrap(),
            t["accepted"].as_u64().unwrap() + t["rejected"].as_u64().unwrap()
        );
        assert!(t["prompt"].as_u64().unwrap() > 0);
        let program = dir.join(format!("program-{i}.stan"));
        let check = refinestat(&[
            "check",
            program.to_str().unwrap(),
            "--data",
            "datasets/eight_schools.json",
        ]);
        assert_eq!(
            check.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
    let program_1 = std::fs::read_to_string(dir.join("program-1.stan")).unwrap();
    // Resuming to 5 adds only indexes 3 and 4, and leaves the first programs as they were.
    let out = refinestat(&[&args[..], &["--n", "5"]].concat());
    assert!(out.status.success());
    let all = records(&dir);
    assert_eq!(all.len(), 5);
    assert_eq!(all[3]["index"], 3);
    assert_eq!(all[4]["index"], 4);
    assert_eq!(
        std::fs::read_to_string(dir.join("program-1.stan")).unwrap(),
        program_1
    );
    // A fresh directory with the same seed writes the same program 1.
    let again = scratch("again");
    let a = again.to_str().unwrap();
    let out = refinestat(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--mode",
        "refinestat",
        "--seed",
        "5",
        "--n",
        "2",
        "--output-dir",
        a,
    ]);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(again.join("program-1.stan")).unwrap(),
        program_1
    );
}

#[test]
fn data_file_and_standard_mode() {
    let dir = scratch("datafile");
    let out = refinestat(&[
        "generate",
        "--data",
        "datasets/surgical.json",
        "--describe",
        "deaths out of operations",
        "--mode",
        "standard",
        "--n",
        "2",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = records(&dir);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["mode"], "standard");
    assert_eq!(r[0]["describe"], "deaths out of operations");
    assert_eq!(r[0]["tokens"]["rejected"], 0);
}

#[test]
fn unavailable_or_missing_proposal_models_are_clear_errors() {
    let dir = scratch("lm");
    // With their features, local: loads at once (a missing model is an error naming it) and
    // openai: runs against a loopback server in crates/cli/tests/openai.rs; without them, either
    // spec says how to build a binary that has the backend.
    let local = if cfg!(feature = "local") {
        "/models/qwen: does not exist"
    } else {
        "needs the `local` backend, which this build of refinestat leaves out; build it with \
         `cargo build --release --features local`"
    };
    let openai = if cfg!(feature = "openai") {
        "invalid proposal model spec `openai:http://127.0.0.1:9/v1`"
    } else {
        "build it with `cargo build --release --features openai`"
    };
    let spfn = if cfg!(feature = "spfn") {
        "model.bin: not a model directory"
    } else {
        "needs the `spfn` backend, which this build of refinestat leaves out; build it with \
         `cargo build --release --features spfn`"
    };
    for (lm, expected) in [
        ("local:/models/qwen", local),
        ("openai:http://127.0.0.1:9/v1", openai),
        ("spfn:model.bin", spfn),
    ] {
        let out = refinestat(&[
            "generate",
            "--dataset",
            "gp",
            "--lm",
            lm,
            "--n",
            "1",
            "--output-dir",
            dir.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{lm}: {err}");
    }
    let out = refinestat(&[
        "generate",
        "--dataset",
        "nope",
        "--n",
        "1",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("eight_schools"));
}

#[test]
fn a_directory_of_another_run_is_refused_unless_overwrite() {
    let dir = scratch("overwrite");
    let d = dir.to_str().unwrap();
    let run = |seed: &str, extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--dataset",
            "eight_schools",
            "--seed",
            seed,
            "--n",
            "2",
            "--output-dir",
            d,
        ];
        args.extend(extra);
        refinestat(&args)
    };
    assert!(run("1", &[]).status.success());
    // Same settings: resumes (nothing left to do).
    let out = run("1", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Another seed: refused, the first run's programs untouched.
    let before = std::fs::read_to_string(dir.join("program-0.stan")).unwrap();
    let out = run("2", &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--overwrite") && err.contains("generate.jsonl"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("program-0.stan")).unwrap(),
        before
    );
    // --overwrite: only the new run's records remain.
    assert!(run("2", &["--overwrite"]).status.success());
    let all = records(&dir);
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|r| r["seed"] == 2));
}
