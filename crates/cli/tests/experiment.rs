//! End-to-end runs of `refinestat experiment`: the output tree and CSV rows agree with the
//! per-seed synth outputs, a run killed mid-grid resumes without redoing finished cells, and a
//! directory holding another configuration is refused.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::{refinestat, root};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "refinestat-experiment-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn grid_args(dir: &Path, seeds: &str) -> Vec<String> {
    [
        "experiment",
        "--seeds",
        seeds,
        "--datasets",
        "eight_schools,dugongs",
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--rmax",
        "2",
        "--output",
        dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_grid(dir: &Path, seeds: &str) -> Output {
    let args = grid_args(dir, seeds);
    refinestat(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

const CELLS: [(&str, u64); 4] = [
    ("eight_schools", 1),
    ("eight_schools", 2),
    ("dugongs", 1),
    ("dugongs", 2),
];

fn cell(dir: &Path, ds: &str, seed: u64) -> PathBuf {
    dir.join("builtin/refinestat")
        .join(ds)
        .join(format!("seed_{seed}"))
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Every cell's row in the all-seeds CSV matches its synth output (token_usage.json, best
/// program diagnostics), and the aggregates are recomputed from those rows.
fn assert_analysis_matches_cells(dir: &Path) {
    let rows = csv_rows(&dir.join("analysis/all_seeds_best_programs_summary.csv"));
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (ds, seed) in CELLS {
        let row = rows
            .iter()
            .find(|r| r[2] == ds && r[3] == seed.to_string())
            .unwrap_or_else(|| panic!("row for {ds} seed {seed}: {rows:?}"));
        assert_eq!(&row[..2], ["builtin", "refinestat"]);
        let c = cell(dir, ds, seed);
        let usage = json(&c.join("token_usage.json"));
        assert_eq!(row[7], usage["tokens"]["sampled"].to_string());
        let valid = c.join("best_program_diagnostics.json").exists();
        assert_eq!(row[4], valid.to_string());
        if valid {
            let d = json(&c.join("best_program_diagnostics.json"));
            let elpd: f64 = row[6].parse().unwrap();
            assert!((elpd - d["loo"]["elpd_loo"].as_f64().unwrap()).abs() < 1e-4);
            assert_eq!(row[5], d["reliability"]["score"].to_string());
        } else {
            assert_eq!(row[6], "");
        }
    }
    let agg = csv_rows(&dir.join("analysis/aggregated_stats.csv"));
    assert_eq!(agg.len(), 2);
    for a in &agg {
        let mine: Vec<&Vec<String>> = rows.iter().filter(|r| r[2] == a[2]).collect();
        let valid = mine.iter().filter(|r| r[4] == "true").count();
        let rate: f64 = a[4].parse().unwrap();
        assert!((rate - valid as f64 / 2.0).abs() < 1e-9, "{a:?}");
        let tokens: Vec<f64> = mine.iter().map(|r| r[7].parse().unwrap()).collect();
        let mean: f64 = a[9].parse().unwrap();
        assert!((mean - (tokens[0] + tokens[1]) / 2.0).abs() < 1e-3);
        let std: f64 = a[10].parse().unwrap();
        assert!((std - (tokens[0] - tokens[1]).abs() / 2f64.sqrt()).abs() < 1e-3);
    }
    let best = csv_rows(&dir.join("analysis/best_programs_summary.csv"));
    assert_eq!(best.len(), 2);
    let max_tokens = rows
        .iter()
        .map(|r| r[7].parse::<u64>().unwrap())
        .max()
        .unwrap();
    let budget = json(&dir.join("token_budget.json"));
    assert_eq!(budget["max_tokens_per_run"], max_tokens);
    assert_eq!(
        budget["token_budget"].as_u64().unwrap(),
        (max_tokens as f64 * 1.2).ceil() as u64
    );
    let cumulative = json(&dir.join("cumulative_tokens.json"));
    assert_eq!(
        cumulative.as_array().unwrap().last().unwrap()["cumulative_tokens"]
            .as_u64()
            .unwrap(),
        rows.iter()
            .map(|r| r[7].parse::<u64>().unwrap())
            .sum::<u64>()
    );
}

#[test]
fn grid_writes_the_tree_and_the_analysis() {
    let dir = scratch("tree");
    let out = run_grid(&dir, "1-2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("[cell 4/4]"), "progress: {stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("run rate") && stdout.contains("dugongs"),
        "{stdout}"
    );
    for file in [
        "config.json",
        "summary.txt",
        "token_usage.json",
        "cumulative_tokens.json",
        "token_budget.json",
        "analysis/aggregated_summary.txt",
    ] {
        assert!(dir.join(file).is_file(), "{file}");
    }
    for (ds, seed) in CELLS {
        let c = cell(&dir, ds, seed);
        for file in ["done.json", "token_usage.json", "log.jsonl"] {
            assert!(c.join(file).is_file(), "{}", c.join(file).display());
        }
    }
    assert_analysis_matches_cells(&dir);
    // The group's best program is the valid seed with the highest ELPD-LOO.
    let rows = csv_rows(&dir.join("analysis/all_seeds_best_programs_summary.csv"));
    for best in csv_rows(&dir.join("analysis/best_programs_summary.csv")) {
        let group = dir.join("builtin/refinestat").join(&best[2]);
        let valid: Vec<&Vec<String>> = rows
            .iter()
            .filter(|r| r[2] == best[2] && r[4] == "true")
            .collect();
        if valid.is_empty() {
            assert_eq!(best[4], "false");
            assert!(!group.join("best_program.stan").exists());
            continue;
        }
        let top = valid
            .iter()
            .max_by(|a, b| {
                a[6].parse::<f64>()
                    .unwrap()
                    .total_cmp(&b[6].parse::<f64>().unwrap())
            })
            .unwrap();
        assert_eq!(best[3], top[3]);
        let seed: u64 = top[3].parse().unwrap();
        assert_eq!(
            std::fs::read_to_string(group.join("best_program.stan")).unwrap(),
            std::fs::read_to_string(cell(&dir, &best[2], seed).join("best_program.stan")).unwrap()
        );
    }
    let summary = std::fs::read_to_string(dir.join("analysis/aggregated_summary.txt")).unwrap();
    assert!(summary.contains("eight_schools") && summary.contains("dugongs"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn killed_grid_resumes_without_redoing_finished_cells() {
    let dir = scratch("resume");
    let args = grid_args(&dir, "1-2");
    let mut child = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .args(&args)
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first_done = cell(&dir, "eight_schools", 1).join("done.json");
    let start = Instant::now();
    while !first_done.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "first cell never finished"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before: Vec<(PathBuf, String)> = CELLS
        .iter()
        .map(|&(ds, seed)| cell(&dir, ds, seed).join("done.json"))
        .filter(|p| p.exists())
        .map(|p| {
            let id = json(&p)["run_id"].as_str().unwrap().to_string();
            (p, id)
        })
        .collect();
    assert!(!before.is_empty());
    assert!(
        before.len() < 4,
        "the kill came after the whole grid; the test needs slower cells"
    );

    // An unfinished cell's directory is redone from scratch: a file left there goes.
    let (ds, seed) = CELLS
        .iter()
        .copied()
        .find(|&(ds, seed)| !cell(&dir, ds, seed).join("done.json").exists())
        .unwrap();
    std::fs::create_dir_all(cell(&dir, ds, seed)).unwrap();
    let stale = cell(&dir, ds, seed).join("stale.txt");
    std::fs::write(&stale, "left by a killed run").unwrap();

    let out = run_grid(&dir, "1-2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(!stale.exists(), "the partial cell was not cleared");
    assert_eq!(
        stderr.matches("finished earlier, skipped").count(),
        before.len(),
        "{stderr}"
    );
    for (path, id) in &before {
        assert_eq!(
            json(path)["run_id"].as_str().unwrap(),
            id,
            "{} was redone",
            path.display()
        );
    }
    for (ds, seed) in CELLS {
        assert!(cell(&dir, ds, seed).join("done.json").is_file());
    }
    assert_analysis_matches_cells(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn another_configuration_in_the_same_directory_is_refused() {
    let dir = scratch("mismatch");
    let out = run_grid(&dir, "1");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let out = run_grid(&dir, "1-2");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("other settings"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        config
    );
    assert!(!cell(&dir, "eight_schools", 2).exists());
    // --overwrite starts afresh: the old grid's cells and config are gone, the new grid is done.
    let mut args = grid_args(&dir, "2");
    args.push("--overwrite".to_string());
    let out = refinestat(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !cell(&dir, "eight_schools", 1).exists(),
        "the old grid's cell removed"
    );
    assert!(cell(&dir, "eight_schools", 2).join("done.json").is_file());
    assert_ne!(
        std::fs::read_to_string(dir.join("config.json")).unwrap(),
        config
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_seed_lists_and_names_are_usage_errors() {
    let dir = scratch("bad");
    let d = dir.to_str().unwrap();
    for args in [
        vec!["experiment", "--seeds", "3-1", "--output", d],
        vec!["experiment", "--seeds", "1,x", "--output", d],
        vec![
            "experiment",
            "--seeds",
            "1",
            "--datasets",
            "nope",
            "--output",
            d,
        ],
        vec![
            "experiment",
            "--seeds",
            "1",
            "--mode",
            "nope",
            "--output",
            d,
        ],
    ] {
        let out = refinestat(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn temperature_reaches_every_cell() {
    let dir = scratch("temperature");
    let d = dir.to_str().unwrap();
    let out = refinestat(&[
        "experiment",
        "--seeds",
        "1",
        "--datasets",
        "surgical",
        "--mode",
        "syntax",
        "--temperature",
        "0.5",
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--output",
        d,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&dir.join("config.json"))["temperature"], 0.5);
    let usage = json(&dir.join("builtin/syntax/surgical/seed_1/token_usage.json"));
    assert_eq!(usage["settings"]["temperature"], 0.5);
    assert_eq!(usage["mode"], "syntax");
    assert_eq!(usage["attempts"], 1);
    let _ = std::fs::remove_dir_all(&dir);
}
