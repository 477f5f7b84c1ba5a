//! `--data` as people have it: CSV tables (text columns, missing values, `--drop-missing`), bare
//! `NaN`/`Infinity` in Stan JSON, and the public real-data benchmark's expert programs.

mod common;

use common::{refinestat, stderr, stdout};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("data_csv", name)
}

const GROUPED: &str = "data {
  int<lower=0> N;
  int<lower=1> J_g;
  array[N] int<lower=1, upper=J_g> g;
  vector[N] y;
  vector[N] x;
}
parameters {
  vector[J_g] mu;
}
model {
  mu ~ normal(0, 10);
  y ~ normal(mu[g], 1);
}
";

/// A text column `g`, a missing `y` on line 4 (data row 3).
const TABLE: &str = "y,g,x\n0.5,b,1\n10.5,a,2\nNA,a,3\n-0.5,b,4\n";

fn normal_lpdf(y: f64, mu: f64) -> f64 {
    -0.5 * (y - mu) * (y - mu) - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

#[test]
fn a_missing_value_in_csv_stops_with_its_line_and_column() {
    let dir = scratch("missing");
    let model = dir.join("grouped.stan");
    let data = dir.join("table.csv");
    std::fs::write(&model, GROUPED).unwrap();
    std::fs::write(&data, TABLE).unwrap();
    let out = refinestat(&[
        "check",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("line 4") && err.contains("column `y`") && err.contains("--drop-missing"),
        "{err}"
    );
}

#[test]
fn drop_missing_reads_a_text_column_as_an_index_and_counts_dropped_rows() {
    let dir = scratch("drop");
    let model = dir.join("grouped.stan");
    // No .csv extension: the content is not JSON, so it is read as CSV.
    let data = dir.join("table.txt");
    let params = dir.join("params.json");
    std::fs::write(&model, GROUPED).unwrap();
    std::fs::write(&data, TABLE).unwrap();
    std::fs::write(&params, r#"{"mu": [0, 10]}"#).unwrap();
    let (m, d, p) = (
        model.to_str().unwrap(),
        data.to_str().unwrap(),
        params.to_str().unwrap(),
    );
    let out = refinestat(&["check", m, "--data", d, "--drop-missing"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let err = stderr(&out);
    assert!(
        err.contains("dropped 1 rows") && err.contains("N = 3"),
        "{err}"
    );
    assert!(
        err.contains("text column `g`") && err.contains("J_g = 2") && err.contains("b, a"),
        "{err}"
    );

    // Levels in order of first appearance: b -> 1 (mu = 0), a -> 2 (mu = 10).
    let out = refinestat(&["logp", m, "--data", d, "--params", p, "--drop-missing"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let log_lik: Vec<f64> = json["log_lik"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let want = [
        normal_lpdf(0.5, 0.0),
        normal_lpdf(10.5, 10.0),
        normal_lpdf(-0.5, 0.0),
    ];
    assert_eq!(log_lik.len(), 3);
    for (got, want) in log_lik.iter().zip(want) {
        assert!((got - want).abs() < 1e-12, "{log_lik:?} vs {want}");
    }
}

#[test]
fn bare_nan_and_infinity_in_json_read_as_the_quoted_forms() {
    let dir = scratch("bare-nan");
    let model = dir.join("m.stan");
    std::fs::write(
        &model,
        "data { int N; vector[N] y; real u; } parameters { real mu; } model { y ~ normal(mu, 1); }",
    )
    .unwrap();
    let params = dir.join("params.json");
    std::fs::write(&params, r#"{"mu": 0.5}"#).unwrap();
    let bare = dir.join("bare.json");
    let quoted = dir.join("quoted.json");
    std::fs::write(&bare, r#"{"N": 2, "y": [1.5, -2], "u": -Infinity}"#).unwrap();
    std::fs::write(&quoted, r#"{"N": 2, "y": [1.5, -2], "u": "-Infinity"}"#).unwrap();
    let logp = |data: &std::path::Path| {
        refinestat(&[
            "logp",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
            "--params",
            params.to_str().unwrap(),
        ])
    };
    let (a, b) = (logp(&bare), logp(&quoted));
    assert_eq!(a.status.code(), Some(0), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));

    // A bare NaN in observed data is read (not "not valid JSON") and checked as Stan data.
    std::fs::write(&bare, r#"{"N": 2, "y": [NaN, 1], "u": Infinity}"#).unwrap();
    std::fs::write(&quoted, r#"{"N": 2, "y": ["NaN", 1], "u": "Infinity"}"#).unwrap();
    let check = |data: &std::path::Path| {
        refinestat(&[
            "check",
            model.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ])
    };
    let (a, b) = (check(&bare), check(&quoted));
    assert!(!stderr(&a).contains("JSON"), "{}", stderr(&a));
    assert_eq!(a.status.code(), b.status.code());
    assert_eq!(stdout(&a), stdout(&b));
}

/// The public real-data benchmark (datasets/real, examples/real).
const REAL: [&str; 12] = [
    "cars",
    "swiss",
    "birthwt",
    "insurance",
    "quine",
    "sleepstudy",
    "penicillin",
    "lakehuron",
    "mammals",
    "menarche",
    "cbpp",
    "trees",
];

#[test]
fn every_real_data_expert_program_checks_clean_with_its_data() {
    for name in REAL {
        let model = format!("examples/real/{name}.stan");
        let out = refinestat(&[
            "check",
            &model,
            "--data",
            &format!("datasets/real/{name}.json"),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
}

#[test]
fn a_real_csv_with_text_columns_reads_as_its_stan_json() {
    // Penicillin's plate and sample are text in the CSV and 1..J indexes in the JSON that
    // scripts/make_realdata.py wrote: both give the same log density.
    let dir = scratch("penicillin");
    let params = dir.join("params.json");
    let z_plate: Vec<String> = (0..24)
        .map(|k| format!("{}", (k as f64 - 12.0) / 10.0))
        .collect();
    std::fs::write(
        &params,
        format!(
            r#"{{"mu": 22.9, "sigma_plate": 0.85, "sigma_sample": 1.9, "sigma": 0.55,
                "z_plate": [{}], "z_sample": [1.1, -0.7, 0.2, 0.9, 0.1, -1.5]}}"#,
            z_plate.join(", ")
        ),
    )
    .unwrap();
    let logp = |data: &str| {
        refinestat(&[
            "logp",
            "examples/real/penicillin.stan",
            "--data",
            data,
            "--params",
            params.to_str().unwrap(),
        ])
    };
    let (json, csv) = (
        logp("datasets/real/penicillin.json"),
        logp("datasets/real/penicillin.csv"),
    );
    assert_eq!(json.status.code(), Some(0), "{}", stderr(&json));
    assert_eq!(csv.status.code(), Some(0), "{}", stderr(&csv));
    assert_eq!(stdout(&json), stdout(&csv));
    assert!(
        stderr(&csv).contains("text column `plate`"),
        "{}",
        stderr(&csv)
    );
}
