//! Where `sample` puts the pointwise log-likelihood (`--log-lik csv|file|none`) and that PSIS-LOO
//! does not depend on it: the same summary.json whatever the mode, log_lik.npy holding exactly
//! the CSV columns' values, and `diagnose --program --data` recomputing it from the draws.

use std::path::Path;

mod common;

use common::{read_json, refinestat, stderr, stdout};

const LOGISTIC: &str = "examples/logistic.stan";
const LOGISTIC_DATA: &str = "examples/data/logistic_1000x5.json";

fn scratch(name: &str) -> common::Scratch {
    common::scratch("log-lik-output", name)
}

/// A short logistic-regression fit (1000 observations) into `dir` with `extra` flags.
fn sample(dir: &Path, extra: &[&str]) -> std::process::Output {
    let out_dir = dir.to_string_lossy().into_owned();
    let mut args = vec![
        "sample",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "60",
        "--seed",
        "5",
        "--no-report",
        "--output-dir",
        &out_dir,
    ];
    args.extend_from_slice(extra);
    let out = refinestat(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    out
}

fn header(csv: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(csv).unwrap();
    let line = text.lines().find(|l| !l.starts_with('#')).unwrap();
    line.split(',').map(str::to_string).collect()
}

/// The data rows of a CmdStan CSV (comments and the header skipped).
fn rows(csv: &Path) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// (shape, values) of a little-endian f8 .npy file, checking the header as numpy writes it.
fn read_npy(path: &Path) -> (Vec<usize>, Vec<f64>) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x93NUMPY\x01\x00");
    let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    assert_eq!((10 + len) % 64, 0, "data aligned to 64 bytes");
    let dict = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
    assert!(dict.ends_with('\n'));
    assert!(dict.contains("'descr': '<f8'"), "{dict}");
    assert!(dict.contains("'fortran_order': False"), "{dict}");
    let shape_text = dict
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let shape: Vec<usize> = shape_text
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().parse().unwrap())
        .collect();
    let values: Vec<f64> = bytes[10 + len..]
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values.len(), shape.iter().product::<usize>());
    (shape, values)
}

#[test]
fn log_lik_modes_give_the_same_summary_and_the_file_holds_the_csv_values() {
    let dir = scratch("modes");
    let csv_dir = dir.join("csv");
    let file_dir = dir.join("file");
    let none_dir = dir.join("none");
    // 1000 observations: the default is csv.
    let out = sample(&csv_dir, &[]);
    assert!(stdout(&out).contains("log_lik: 1000 columns in the CSVs"));
    sample(&file_dir, &["--log-lik", "file"]);
    let out = sample(&none_dir, &["--log-lik", "none"]);
    assert!(
        stdout(&out).contains("log_lik: not written"),
        "{}",
        stdout(&out)
    );

    let with_columns = header(&csv_dir.join("chain-1.csv"));
    assert!(with_columns.iter().any(|c| c == "log_lik.1000"));
    for d in [&file_dir, &none_dir] {
        let h = header(&d.join("chain-1.csv"));
        assert!(!h.iter().any(|c| c.starts_with("log_lik")), "{d:?}");
        assert_eq!(h.len() + 1000, with_columns.len());
    }
    assert!(!none_dir.join("log_lik.npy").exists());
    assert_eq!(read_json(&none_dir.join("run.json"))["log_lik"], "none");

    // The summary does not depend on where the log-likelihood went.
    let summary = std::fs::read(csv_dir.join("summary.json")).unwrap();
    for d in [&file_dir, &none_dir] {
        assert!(
            std::fs::read(d.join("summary.json")).unwrap() == summary,
            "summary.json differs in {d:?}"
        );
    }

    // log_lik.npy: (chains, draws, observations), the CSV columns' values exactly (the CSV
    // writes shortest round-trip decimals).
    let (shape, values) = read_npy(&file_dir.join("log_lik.npy"));
    assert_eq!(shape, [2, 60, 1000]);
    let first = with_columns.iter().position(|c| c == "log_lik.1").unwrap();
    for chain in 0..2 {
        let rows = rows(&csv_dir.join(format!("chain-{}.csv", chain + 1)));
        assert_eq!(rows.len(), 60);
        for (draw, row) in rows.iter().enumerate() {
            let at = (chain * 60 + draw) * 1000;
            assert_eq!(&row[first..first + 1000], &values[at..at + 1000]);
        }
    }
}

#[test]
fn diagnose_with_the_program_recomputes_what_none_left_out() {
    let dir = scratch("diagnose");
    let fit = dir.join("fit");
    sample(&fit, &["--log-lik", "none"]);
    let diagnosed = dir.join("diagnosed");
    let chains: Vec<String> = (1..=2)
        .map(|k| {
            fit.join(format!("chain-{k}.csv"))
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let diagnosed_dir = diagnosed.to_string_lossy().into_owned();
    let out = refinestat(&[
        "diagnose",
        &chains[0],
        &chains[1],
        "--program",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--output-dir",
        &diagnosed_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let from_sample = read_json(&fit.join("summary.json"));
    let from_diagnose = read_json(&diagnosed.join("summary.json"));
    // The draws went through CSV text and back to the unconstrained space: equal to rounding.
    let a = from_sample["loo"]["elpd_loo"].as_f64().unwrap();
    let b = from_diagnose["loo"]["elpd_loo"].as_f64().unwrap();
    assert!((a - b).abs() < 1e-8 * a.abs(), "{a} vs {b}");
    assert_eq!(from_diagnose["loo"]["n_obs"], 1000);

    // Forced subsampling: 200 of 1000 observations, the full value within 3 subsampling SEs.
    let sub_dir = dir.join("subsampled").to_string_lossy().into_owned();
    let out = refinestat(&[
        "diagnose",
        &chains[0],
        &chains[1],
        "--program",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--loo-subsample-above",
        "500",
        "--loo-subsample-size",
        "200",
        "--output-dir",
        &sub_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("subsampled: 200 of 1000 observations"),
        "{}",
        stdout(&out)
    );
    let sub = read_json(&Path::new(&sub_dir).join("summary.json"));
    let loo = &sub["loo"];
    assert_eq!(loo["subsample_above"], 500);
    assert_eq!(loo["subsample"]["observations"], 200);
    assert_eq!(loo["pareto_k"].as_array().unwrap().len(), 200);
    let se = loo["subsample"]["elpd_loo_subsampling_se"]
        .as_f64()
        .unwrap();
    let elpd = loo["elpd_loo"].as_f64().unwrap();
    assert!(
        se > 0.0 && (elpd - a).abs() <= 3.0 * se,
        "{elpd} +- {se} vs {a}"
    );
}

#[test]
fn a_bad_log_lik_mode_or_subsample_size_is_a_usage_error() {
    let out = refinestat(&[
        "sample",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--log-lik",
        "parquet",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("parquet"), "{}", stderr(&out));
    let out = refinestat(&[
        "sample",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--loo-subsample-size",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("at least 2 observations"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_report_shows_psis_loo_without_log_lik_columns() {
    let dir = scratch("report");
    let out_dir = dir.to_string_lossy().into_owned();
    let out = refinestat(&[
        "sample",
        LOGISTIC,
        "--data",
        LOGISTIC_DATA,
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "60",
        "--log-lik",
        "none",
        "--output-dir",
        &out_dir,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(!html.contains("No log-likelihood: no PSIS-LOO"));
    assert!(
        html.contains("(0.5, 0.7] ok"),
        "the Pareto k table is there"
    );
}

#[test]
fn large_data_are_named_in_run_json_not_copied() {
    let dir = scratch("large-data");
    std::fs::create_dir_all(&*dir).unwrap();
    let program = dir.join("mean.stan");
    std::fs::write(
        &program,
        "data { int N; vector[N] y; } parameters { real mu; } model { y ~ normal(mu, 1); }",
    )
    .unwrap();
    // Over 10 MB through a variable the program does not use.
    let pad: Vec<String> = (0..1_100_000)
        .map(|i| format!("{}.123456", i % 1000))
        .collect();
    let data = dir.join("data.json");
    std::fs::write(
        &data,
        format!(
            r#"{{"N": 3, "y": [0.1, -0.4, 1.2], "pad": [{}]}}"#,
            pad.join(",")
        ),
    )
    .unwrap();
    assert!(std::fs::metadata(&data).unwrap().len() > 10_000_000);
    let out_dir = dir.join("fit");
    let out = refinestat(&[
        "sample",
        &program.to_string_lossy(),
        "--data",
        &data.to_string_lossy(),
        "--chains",
        "1",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--output-dir",
        &out_dir.to_string_lossy(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!out_dir.join("run_data.json").exists());
    let run = read_json(&out_dir.join("run.json"));
    assert_eq!(run["data_copied"], false);
    let named = run["data"].as_str().unwrap();
    assert!(Path::new(named).is_absolute(), "{named}");
    assert_eq!(
        std::fs::canonicalize(named).unwrap(),
        std::fs::canonicalize(&data).unwrap()
    );
    // The report found the data through run.json: the predictive check is there.
    let html = std::fs::read_to_string(out_dir.join("report.html")).unwrap();
    assert!(!html.contains("Needs run_program.stan and run_data.json"));
    assert!(
        !html.contains("No replicated data"),
        "the replicates were drawn"
    );
}
