//! `refinestat diagnose CSV... --program P --data D`: the pointwise log-likelihood evaluated by the
//! program at each draw of CSVs that have no `log_lik` columns (CmdStan's, PyStan's) gives the
//! same PSIS-LOO as the `log_lik` columns `refinestat sample` writes; missing or misshapen
//! parameter columns are clear errors naming the column and the file.

use std::path::{Path, PathBuf};
use std::process::Output;

mod common;

use common::{read_json, refinestat, stderr};

const EIGHT_SCHOOLS: &str = "examples/eight_schools_noncentered.stan";
const EIGHT_SCHOOLS_DATA: &str = "datasets/eight_schools.json";

fn scratch(name: &str) -> common::Scratch {
    common::scratch("diagnose-program", name)
}

fn path_str(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// `refinestat sample` with 2 short chains into `dir`; returns the chain files.
fn sample(program: &str, data: &str, dir: &Path) -> Vec<PathBuf> {
    let out = refinestat(&[
        "sample",
        program,
        "--data",
        data,
        "--chains",
        "2",
        "--warmup",
        "150",
        "--draws",
        "100",
        "--seed",
        "3",
        "--output-dir",
        &path_str(dir),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    (1..=2)
        .map(|k| dir.join(format!("chain-{k}.csv")))
        .collect()
}

/// Copies each CSV into `dir` without the columns `drop` selects (by CmdStan column name).
fn strip_columns(files: &[PathBuf], dir: &Path, drop: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let mut keep: Option<Vec<bool>> = None;
            let mut out = String::new();
            for line in text.lines() {
                if line.starts_with('#') || line.trim().is_empty() {
                    out.push_str(line);
                } else {
                    let fields: Vec<&str> = line.split(',').collect();
                    let keep =
                        keep.get_or_insert_with(|| fields.iter().map(|c| !drop(c)).collect());
                    let kept: Vec<&str> = fields
                        .iter()
                        .zip(keep.iter())
                        .filter(|(_, k)| **k)
                        .map(|(f, _)| *f)
                        .collect();
                    out.push_str(&kept.join(","));
                }
                out.push('\n');
            }
            let stripped = dir.join(file.file_name().unwrap());
            std::fs::write(&stripped, out).unwrap();
            stripped
        })
        .collect()
}

fn is_log_lik(column: &str) -> bool {
    column == "log_lik" || column.starts_with("log_lik.")
}

/// `refinestat diagnose FILES --output-dir OUT [extra...]`.
fn diagnose(files: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
    let mut args: Vec<String> = vec!["diagnose".into()];
    args.extend(files.iter().map(|f| path_str(f)));
    args.extend(["--output-dir".into(), path_str(out)]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    refinestat(&args)
}

/// The `loo` object of the summary.json `diagnose` wrote into `out`.
fn loo_of(out: &Path) -> serde_json::Value {
    read_json(&out.join("summary.json"))["loo"].clone()
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * (1.0 + a.abs()),
        "{what}: {a} vs {b}"
    );
}

/// The same `elpd_loo`, `p_loo`, `r_eff` and every pointwise Pareto k.
fn assert_same_loo(expected: &serde_json::Value, found: &serde_json::Value) {
    for key in ["elpd_loo", "se", "p_loo", "r_eff"] {
        let a = expected[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        let b = found[key].as_f64().unwrap_or_else(|| panic!("{key}"));
        assert_close(a, b, key);
    }
    let ks = |v: &serde_json::Value| -> Vec<f64> {
        v["pareto_k"]
            .as_array()
            .expect("pareto_k")
            .iter()
            .map(|k| k.as_f64().unwrap())
            .collect()
    };
    let (a, b) = (ks(expected), ks(found));
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_close(*x, *y, "pareto k");
    }
}

/// Exit code 2 and every needle in the message, no panic.
fn assert_error(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in needles {
        assert!(err.contains(needle), "`{needle}` missing from: {err}");
    }
}

#[test]
fn eight_schools_draws_without_log_lik_give_the_same_loo_as_the_sampled_log_lik() {
    let dir = scratch("eight-schools");
    let files = sample(EIGHT_SCHOOLS, EIGHT_SCHOOLS_DATA, &dir.join("fit"));
    let header = std::fs::read_to_string(&files[0]).unwrap();
    assert!(header.contains(",log_lik.8"), "sample wrote no log_lik");

    let with_columns = dir.join("with-columns");
    let out = diagnose(&files, &with_columns, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let expected = loo_of(&with_columns);
    assert_eq!(expected["pareto_k"].as_array().unwrap().len(), 8);

    let stripped = strip_columns(&files, &dir.join("stripped"), is_log_lik);
    assert!(!std::fs::read_to_string(&stripped[0])
        .unwrap()
        .contains("log_lik"));
    let no_program = dir.join("no-program");
    let out = diagnose(&stripped, &no_program, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(loo_of(&no_program).is_null(), "LOO without log_lik");

    let from_program = dir.join("from-program");
    let out = diagnose(
        &stripped,
        &from_program,
        &["--program", EIGHT_SCHOOLS, "--data", EIGHT_SCHOOLS_DATA],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same_loo(&expected, &loo_of(&from_program));

    // The parameter table is the files' own (the program adds nothing but log_lik).
    let table = |d: &Path| read_json(&d.join("summary.json"))["parameters"].clone();
    assert_eq!(table(&with_columns), table(&from_program));

    // With log_lik columns present, the program's values replace them (and agree).
    let replaced = dir.join("replaced");
    let out = diagnose(
        &files,
        &replaced,
        &["--program", EIGHT_SCHOOLS, "--data", EIGHT_SCHOOLS_DATA],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same_loo(&expected, &loo_of(&replaced));
}

/// A matrix and a simplex: the columns `B.1.2` and `B.2.1` must land in the right places of the
/// row-major value `unconstrain` reads (the likelihood tells them apart), and the simplex must
/// round-trip through its transform.
const MATRIX_PROGRAM: &str = "data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  matrix[2, 3] B;
  simplex[3] w;
  real<lower=0> s;
}
model {
  for (i in 1:2) {
    for (j in 1:3) {
      B[i, j] ~ normal(0, 1);
    }
  }
  s ~ normal(0, 1);
  y ~ normal(B[1, 2] - 2 * B[2, 1] + 3 * w[2] + 0.5 * B[2, 3], s);
}
";

const MATRIX_DATA: &str = r#"{"N": 6, "y": [0.3, -0.8, 1.9, 0.4, 2.2, -0.1]}"#;

#[test]
fn matrix_and_simplex_columns_map_to_the_right_elements() {
    let dir = scratch("matrix");
    let program = path_str(&dir.join("matrix.stan"));
    let data = path_str(&dir.join("matrix.json"));
    std::fs::write(&program, MATRIX_PROGRAM).unwrap();
    std::fs::write(&data, MATRIX_DATA).unwrap();
    let files = sample(&program, &data, &dir.join("fit"));
    let header = std::fs::read_to_string(&files[0]).unwrap();
    assert!(header.contains(",B.1.2,") && header.contains(",w.3,"));

    let with_columns = dir.join("with-columns");
    let out = diagnose(&files, &with_columns, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stripped = strip_columns(&files, &dir.join("stripped"), is_log_lik);
    let from_program = dir.join("from-program");
    let out = diagnose(
        &stripped,
        &from_program,
        &["--program", &program, "--data", &data],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_same_loo(&loo_of(&with_columns), &loo_of(&from_program));
}

#[test]
fn a_missing_parameter_column_names_the_column_and_the_file() {
    let dir = scratch("missing-column");
    let files = sample(EIGHT_SCHOOLS, EIGHT_SCHOOLS_DATA, &dir.join("fit"));
    let stripped = strip_columns(&files, &dir.join("stripped"), |c| {
        is_log_lik(c) || c == "theta_tilde.5"
    });
    let out = diagnose(
        &stripped,
        &dir.join("out"),
        &["--program", EIGHT_SCHOOLS, "--data", EIGHT_SCHOOLS_DATA],
    );
    assert_error(
        &out,
        &["no column `theta_tilde.5`", &path_str(&stripped[0])],
    );
    assert!(!dir.join("out").join("summary.json").exists());
}

#[test]
fn draws_of_other_sizes_are_a_clear_error() {
    let dir = scratch("sizes");
    let files = sample(EIGHT_SCHOOLS, EIGHT_SCHOOLS_DATA, &dir.join("fit"));
    // Seven schools: the files' theta_tilde has 8 elements, the program's 7.
    let seven = path_str(&dir.join("seven.json"));
    std::fs::write(
        &seven,
        r#"{"J": 7, "y": [28, 8, -3, 7, -1, 1, 18], "sigma": [15, 10, 16, 11, 9, 11, 10]}"#,
    )
    .unwrap();
    let out = diagnose(
        &files,
        &dir.join("out"),
        &["--program", EIGHT_SCHOOLS, "--data", &seven],
    );
    assert_error(
        &out,
        &[
            "column `theta_tilde.8`",
            "parameter `theta_tilde`",
            "[7]",
            &path_str(&files[0]),
        ],
    );
}

#[test]
fn a_program_without_observations_or_without_data_is_refused() {
    let dir = scratch("refused");
    let files = sample(EIGHT_SCHOOLS, EIGHT_SCHOOLS_DATA, &dir.join("fit"));
    let prior_only = path_str(&dir.join("prior.stan"));
    std::fs::write(
        &prior_only,
        "parameters {\n  real mu;\n}\nmodel {\n  mu ~ normal(0, 5);\n}\n",
    )
    .unwrap();
    let out = diagnose(
        &files,
        &dir.join("out"),
        &["--program", &prior_only, "--data", EIGHT_SCHOOLS_DATA],
    );
    assert_error(&out, &["no observed data", "prior.stan"]);

    // --program needs --data (a usage error from the argument parser).
    let out = diagnose(&files, &dir.join("out"), &["--program", EIGHT_SCHOOLS]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--data"), "{err}");
}
