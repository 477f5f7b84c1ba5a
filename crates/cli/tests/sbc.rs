//! `refinestat sbc` end to end, kept minimal so it runs in a debug build in seconds: a calibrated
//! conjugate normal model must pass the rank-uniformity test, a deliberately miscalibrated fit
//! (a prior ten times too narrow) must fail it, and an interrupted run must resume to the same
//! ranks as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sbc")
}

fn out_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sbc-{name}"));
    // Stale results from an earlier test run would be resumed, not recomputed.
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Runs `refinestat sbc` on the normal-mean model with small sampler settings (300 warmup, 400
/// draws thinned by 2: ranks 0..199).
fn run_sbc(dir: &Path, reps: usize, extra: &[&str]) -> Output {
    let d = data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .arg("sbc")
        .arg(d.join("normal_mean.stan"))
        .arg("--data")
        .arg(d.join("normal_mean.json"))
        .args(["--reps", &reps.to_string()])
        .args([
            "--warmup", "300", "--draws", "400", "--thin", "2", "--seed", "11",
        ])
        .arg("--output-dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("the refinestat binary runs");
    assert!(
        output.status.code().is_some_and(|c| c == 0 || c == 1),
        "sbc failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("sbc.json written");
    serde_json::from_str(&text).expect("sbc.json is JSON")
}

fn mu_p_value(report: &serde_json::Value) -> f64 {
    report["parameters"]["mu"]["p_value"]
        .as_f64()
        .expect("a p-value for mu")
}

/// Lines of ranks.csv after the header, sorted by replication.
fn sorted_rank_rows(dir: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(dir.join("ranks.csv")).expect("ranks.csv written");
    let mut rows: Vec<Vec<String>> = text
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    rows.sort_by_key(|r| r[0].parse::<usize>().expect("rep number"));
    rows
}

#[test]
fn calibrated_model_passes_and_overconfident_fit_fails() {
    let dir = out_dir("calibrated");
    let out = run_sbc(&dir, 60, &["--bins", "6"]);
    let report = read_json(&dir.join("sbc.json"));
    assert_eq!(report["reps_completed"], 60);
    assert_eq!(report["reps_failed"], 0);
    assert_eq!(report["max_rank"], 199);
    let counts: Vec<u64> = report["parameters"]["mu"]["counts"]
        .as_array()
        .expect("bin counts")
        .iter()
        .map(|c| c.as_u64().expect("count"))
        .collect();
    assert_eq!(counts.len(), 6);
    assert_eq!(counts.iter().sum::<u64>(), 60);
    // One parameter, so the Bonferroni level is alpha itself.
    assert!(mu_p_value(&report) > 0.05, "{report:#}");
    assert_eq!(report["reject"], false);
    assert_eq!(out.status.code(), Some(0));

    let dir = out_dir("overconfident");
    let fit = data_dir().join("normal_mean_overconfident.stan");
    let out = run_sbc(
        &dir,
        60,
        &[
            "--bins",
            "6",
            "--fit-model",
            fit.to_str().expect("utf-8 path"),
        ],
    );
    let report = read_json(&dir.join("sbc.json"));
    assert_eq!(report["reps_completed"], 60);
    // True values from N(0, 1) against posteriors of sd about 0.09 near 0: almost every rank is
    // 0 or L, so the outer bins hold nearly everything.
    assert!(mu_p_value(&report) < 1e-6, "{report:#}");
    assert_eq!(report["reject"], true);
    assert_eq!(out.status.code(), Some(1));
    let counts = &report["parameters"]["mu"]["counts"];
    let outer = counts[0].as_u64().unwrap_or(0) + counts[5].as_u64().unwrap_or(0);
    assert!(outer >= 40, "{counts}");
}

#[test]
fn an_interrupted_run_resumes_to_the_same_ranks() {
    let whole = out_dir("whole");
    run_sbc(&whole, 16, &[]);
    let parts = out_dir("parts");
    run_sbc(&parts, 6, &[]);
    // A run killed while writing leaves a partial last line; the resumed run drops it.
    let ranks = parts.join("ranks.csv");
    let mut text = std::fs::read_to_string(&ranks).expect("ranks.csv");
    text.push_str("99,123");
    std::fs::write(&ranks, text).expect("write ranks.csv");
    let out = run_sbc(&parts, 16, &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("6 replications done, 10 to go"), "{stderr}");

    let a = sorted_rank_rows(&whole);
    let b = sorted_rank_rows(&parts);
    assert_eq!(a.len(), 16);
    // Same replications, seeds, divergences and ranks; ESS and timing columns aside.
    let key = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
        rows.iter()
            .map(|r| vec![r[0].clone(), r[1].clone(), r[2].clone(), r[5].clone()])
            .collect()
    };
    assert_eq!(key(&a), key(&b));

    // Other sampler settings in the same directory are refused, not mixed in.
    let d = data_dir();
    let refused = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .arg("sbc")
        .arg(d.join("normal_mean.stan"))
        .arg("--data")
        .arg(d.join("normal_mean.json"))
        .args([
            "--reps", "16", "--warmup", "300", "--draws", "500", "--thin", "2",
        ])
        .args(["--seed", "11", "--output-dir"])
        .arg(&parts)
        .output()
        .expect("the refinestat binary runs");
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("other settings"));
}
