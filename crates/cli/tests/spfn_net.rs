//! `refinestat spfn train` and `--lm spfn:MODEL_DIR` end to end: a tiny network trained on a
//! small corpus written by `spfn corpus`, then `generate` and `synth` with it (every program
//! checks with the data), a broken model directory a clear error naming the file. Needs the
//! `spfn` feature (`cargo test -p refinestat --features spfn`); without it, `spfn train` says
//! how to build it.

mod common;

use common::{refinestat, scratch, stderr};
#[cfg(feature = "spfn")]
use std::path::Path;

#[cfg(not(feature = "spfn"))]
#[test]
fn spfn_train_without_the_feature_says_how_to_build_it() {
    let dir = scratch("spfn-net", "no-feature");
    let out = refinestat(&[
        "spfn",
        "train",
        "--corpus",
        dir.to_str().unwrap(),
        "--out",
        dir.join("m").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cargo build --release --features spfn"),
        "{}",
        stderr(&out)
    );
}

#[cfg(feature = "spfn")]
#[test]
fn a_trained_tiny_network_writes_valid_programs() {
    let dir = scratch("spfn-net", "e2e");
    let corpus = dir.join("corpus");
    let out = refinestat(&[
        "spfn",
        "corpus",
        "--programs",
        "24",
        "--datasets-per-program",
        "2",
        "--seed",
        "1",
        "--jobs",
        "2",
        "--quiet",
        "--out",
        corpus.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let model = dir.join("model");
    let train = |steps: &str| {
        refinestat(&[
            "spfn",
            "train",
            "--corpus",
            corpus.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
            "--steps",
            steps,
            "--batch",
            "4",
            "--size",
            "tiny",
            "--checkpoint-every",
            "10",
            "--quiet",
        ])
    };
    let out = train("10");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = common::stdout(&out);
    assert!(
        text.contains("10 steps") && text.contains("loss.csv"),
        "{text}"
    );
    // A rerun with more steps resumes.
    let out = train("20");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        common::stdout(&out).contains("resumed from step 10"),
        "{}",
        common::stdout(&out)
    );
    let csv = std::fs::read_to_string(model.join("loss.csv")).unwrap();
    assert_eq!(csv.lines().count(), 21, "{csv}");
    for f in [
        "config.json",
        "vocab.json",
        "model.safetensors",
        "state.json",
    ] {
        assert!(model.join(f).is_file(), "{f}");
    }

    // spfn eval prints the recovery table of a split.
    let out = refinestat(&[
        "spfn",
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--corpus",
        corpus.to_str().unwrap(),
        "--split",
        "train",
        "--limit",
        "3",
        "--max-tokens",
        "50",
        "--samples",
        "4",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_str(&common::stdout(&out)).unwrap();
    assert_eq!(report["network"]["total"]["pairs"], 3, "{report}");
    assert_eq!(report["builtin"]["total"]["pairs"], 3, "{report}");
    assert_eq!(report["samples"], 4, "{report}");

    let spec = format!("spfn:{}", model.display());
    let gen_dir = dir.join("generate");
    let out = refinestat(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &spec,
        "--mode",
        "refinestat",
        "--grammar-bounds",
        "compact",
        "--max-tokens",
        "300",
        "--n",
        "2",
        "--output-dir",
        gen_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(gen_dir.join("generate.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let data = common::root().join("datasets/eight_schools.json");
    for row in &rows {
        assert_eq!(row["lm"], spec.as_str());
        assert_eq!(row["check"]["valid"], true, "{row}");
        let program = gen_dir.join(row["program"].as_str().unwrap());
        let check = refinestat(&[
            "check",
            program.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    }

    // synth runs the refinement loop with it: it ends with a best program or with no valid
    // program (a ten-step network proposes poorly), never with an error.
    let synth_dir = dir.join("synth");
    let out = refinestat(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--lm",
        &spec,
        "--chains",
        "1",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--rmax",
        "2",
        "--beta",
        "1",
        "--output-dir",
        synth_dir.to_str().unwrap(),
    ]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(synth_dir.join("candidates/attempt-0.json").is_file());

    // A corrupt weights file is an error naming it.
    let bytes = std::fs::read(model.join("model.safetensors")).unwrap();
    let mut bad = bytes.clone();
    let n = bad.len();
    bad[n - 5] ^= 0x21;
    std::fs::write(model.join("model.safetensors"), bad).unwrap();
    let out = refinestat(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &spec,
        "--n",
        "1",
        "--output-dir",
        dir.join("broken").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("model.safetensors"),
        "{}",
        stderr(&out)
    );
}

#[cfg(feature = "spfn")]
fn train_args<'a>(corpus: &'a str, out: &'a str) -> Vec<&'a str> {
    vec![
        "spfn",
        "train",
        "--corpus",
        corpus,
        "--out",
        out,
        "--steps",
        "150",
        "--batch",
        "4",
        "--size",
        "tiny",
        "--checkpoint-every",
        "5",
        "--quiet",
    ]
}

#[cfg(feature = "spfn")]
fn state_step(dir: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(dir.join("state.json")).ok()?;
    serde_json::from_str::<serde_json::Value>(&text).ok()?["step"].as_u64()
}

#[cfg(feature = "spfn")]
#[test]
fn a_training_run_killed_with_sigkill_resumes_to_the_bytes_of_an_uninterrupted_run() {
    use std::process::{Command, Stdio};
    let dir = scratch("spfn-net", "kill");
    let corpus = dir.join("corpus");
    let out = refinestat(&[
        "spfn",
        "corpus",
        "--programs",
        "12",
        "--datasets-per-program",
        "2",
        "--seed",
        "3",
        "--quiet",
        "--out",
        corpus.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let (full, killed) = (dir.join("full"), dir.join("killed"));
    let c = corpus.to_str().unwrap();
    let out = refinestat(&train_args(c, full.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    let mut child = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .args(train_args(c, killed.to_str().unwrap()))
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once a checkpoint exists.
    let start = std::time::Instant::now();
    while state_step(&killed).is_none() && start.elapsed().as_secs() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let reached = state_step(&killed).unwrap();
    assert!(reached < 150, "the run ended before the kill");
    let out = refinestat(&train_args(c, killed.to_str().unwrap()));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        common::stdout(&out).contains("resumed from step"),
        "{}",
        common::stdout(&out)
    );
    for f in [
        "loss.csv",
        "model.safetensors",
        "checkpoint-150.safetensors",
    ] {
        assert_eq!(
            std::fs::read(full.join(f)).unwrap(),
            std::fs::read(killed.join(f)).unwrap(),
            "{f}"
        );
    }
}

/// `--lm spfn` is the model shipped in crates/spfn-net/model: it writes programs that check with
/// the data.
#[cfg(feature = "spfn")]
#[test]
fn the_shipped_model_writes_valid_programs() {
    let dir = scratch("spfn-net", "shipped");
    let out = refinestat(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        "spfn",
        "--mode",
        "refinestat",
        "--n",
        "2",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(dir.join("generate.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["lm"], "spfn");
        assert_eq!(row["check"]["valid"], true, "{row}");
    }
}
