//! The CmdStan CSV reader: the committed two-chain fixture (checked against ArviZ's own
//! `from_cmdstan` reading of it), warmup handling, every malformed-input error, and the
//! summary.json shape.

use std::path::{Path, PathBuf};

use refinestat_diagnostics::{read_cmdstan_csv, render_table, summarize_csv, CsvError};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cmdstan")
        .join(name)
}

/// Writes `text` to a fresh file in the temp directory and returns its path.
fn temp_csv(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("refinestat-diag-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file");
    path
}

const HEADER: &str = "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,\
                      energy__,mu,theta.1,log_lik.1\n";
const ROW: &str = "-1.5,0.9,0.8,2,3,0,2.5,0.1,0.2,-0.9\n";

/// Each `"key":` first appears in `text` after the previous one.
fn assert_in_order(text: &str, keys: &[&str]) {
    let mut from = 0;
    for key in keys {
        let needle = format!("\"{key}\":");
        let at = text[from..]
            .find(&needle)
            .unwrap_or_else(|| panic!("{key} after {from}"));
        from += at + needle.len();
    }
}

fn close(got: f64, expected: f64, rel: f64) -> bool {
    (got - expected).abs() <= rel * got.abs().max(expected.abs()) + 1e-12
}

#[test]
fn reads_the_fixture_with_stan_names_and_log_lik() {
    let chain = read_cmdstan_csv(fixture("chain-1.csv")).expect("valid CSV");
    assert_eq!(
        chain.param_names,
        ["mu", "theta[1]", "theta[2]", "L[1,1]", "L[2,1]", "L[1,2]", "L[2,2]"]
    );
    assert_eq!(chain.params.len(), 10);
    assert_eq!(chain.warmup_dropped, 0);
    // First draw: mu, theta.1, theta.2, L.1.1, L.2.1, L.1.2, L.2.2 of the first data row.
    assert_eq!(
        chain.params[0],
        [-0.2241, 0.1535, 0.7709, 1.0, 0.01568, 0.0, 0.99988]
    );
    assert_eq!(chain.log_lik.len(), 10);
    assert_eq!(chain.log_lik[0], [-1.1811, -2.4052, -3.39225]);
    assert_eq!(chain.stats.energy[0], 2.64188);
    assert_eq!(chain.stats.divergent.iter().filter(|&&d| d).count(), 0);
    assert_eq!(chain.adaptation.step_size, Some(0.723401));
    assert_eq!(chain.adaptation.inv_metric, [0.912, 1.13, 0.871, 1.02]);
}

#[test]
fn two_chains_match_arviz_from_cmdstan() {
    let chains = [
        read_cmdstan_csv(fixture("chain-1.csv")).expect("chain 1"),
        read_cmdstan_csv(fixture("chain-2.csv")).expect("chain 2"),
    ];
    let summary = summarize_csv(&chains).expect("same layout");
    let text = std::fs::read_to_string(fixture("arviz_expected.json")).expect("reference");
    let expected: Value = serde_json::from_str(&text).expect("JSON");
    for (name, row) in &summary.parameters {
        let e = &expected["parameters"][name];
        assert!(e.is_object(), "{name} missing from ArviZ's reading");
        for (field, got) in [
            ("mean", row.mean),
            ("rhat", row.rhat),
            ("ess_bulk", row.ess_bulk),
            ("ess_tail", row.ess_tail),
            ("mcse_mean", row.mcse_mean),
        ] {
            match (got, e[field].as_f64()) {
                (None, None) => {}
                (Some(g), Some(x)) => assert!(close(g, x, 1e-6), "{name}.{field}: {g} vs {x}"),
                (g, x) => panic!("{name}.{field}: {g:?} vs {x:?}"),
            }
        }
    }
    assert_eq!(
        summary.divergences as u64,
        expected["divergences"].as_u64().unwrap_or(99)
    );
    for (got, e) in summary
        .bfmi
        .iter()
        .zip(expected["bfmi"].as_array().expect("bfmi"))
    {
        let (g, x) = (got.expect("bfmi"), e.as_f64().expect("bfmi"));
        assert!(close(g, x, 1e-6), "bfmi {g} vs {x}");
    }
    let loo = summary.loo.as_ref().expect("log_lik columns");
    let e = &expected["loo"];
    for (field, got) in [
        ("elpd_loo", loo.elpd_loo),
        ("se", loo.se),
        ("p_loo", loo.p_loo),
    ] {
        let x = e[field].as_f64().expect("number");
        assert!(close(got, x, 1e-6), "{field}: {got} vs {x}");
    }
    // 20 draws leave a Pareto tail of 4: too short to fit, so k is +inf, as in ArviZ.
    assert_eq!(e["pareto_k"][0], "inf");
    assert!(loo.pareto_k.iter().all(|k| *k == f64::INFINITY));
}

#[test]
fn summary_json_has_the_documented_shape() {
    let chains = [
        read_cmdstan_csv(fixture("chain-1.csv")).expect("chain 1"),
        read_cmdstan_csv(fixture("chain-2.csv")).expect("chain 2"),
    ];
    let summary = summarize_csv(&chains).expect("same layout");
    let text = summary.to_json();
    let json: Value = serde_json::from_str(&text).expect("valid JSON");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["bfmi", "divergences", "loo", "parameters", "reliability"]
    );
    // serde_json::Value sorts keys, so check the written order in the text itself.
    assert_in_order(
        &text,
        &["parameters", "divergences", "bfmi", "loo", "reliability"],
    );
    let names = [
        "mu", "theta[1]", "theta[2]", "L[1,1]", "L[2,1]", "L[1,2]", "L[2,2]",
    ];
    assert_in_order(&text, &names);
    assert_eq!(
        json["parameters"].as_object().expect("map").len(),
        names.len()
    );
    let fields = [
        "mean",
        "sd",
        "q5",
        "q50",
        "q95",
        "mcse_mean",
        "rhat",
        "ess_bulk",
        "ess_tail",
    ];
    assert_in_order(&text, &fields);
    assert_eq!(
        json["parameters"]["mu"].as_object().expect("row").len(),
        fields.len()
    );
    // A constant quantity has no R-hat.
    assert!(json["parameters"]["L[1,2]"]["rhat"].is_null());
    assert_eq!(summary.parameter("L[1,2]").map(|row| row.rhat), Some(None));
    assert!(summary.parameter("log_lik[1]").is_none());
    assert_eq!(json["divergences"], 1);
    let loo_keys = [
        "elpd_loo",
        "se",
        "p_loo",
        "n_obs",
        "pareto_k",
        "pareto_k_cap",
        "pareto_k_histogram",
        "pareto_k_worst",
        "k_threshold",
        "r_eff",
        "subsample_above",
        "subsample",
    ];
    assert_in_order(&text[text.find("\"loo\"").unwrap_or(0)..], &loo_keys);
    assert_eq!(json["loo"].as_object().expect("loo").len(), loo_keys.len());
    assert!(json["loo"]["pareto_k"][0].is_null()); // +inf
                                                   // Infinite k counts in the last bin (at or above 1); nothing was subsampled.
    let n_obs = json["loo"]["n_obs"].as_u64().expect("n_obs") as usize;
    let counts = json["loo"]["pareto_k_histogram"]["counts"]
        .as_array()
        .expect("counts");
    assert_eq!(counts.len(), 12);
    assert_eq!(counts[11].as_u64(), Some(n_obs as u64));
    assert!(json["loo"]["subsample"].is_null());
    assert_eq!(
        json["loo"]["pareto_k_worst"][0]["observation"].as_u64(),
        Some(1)
    );
    let checks = &json["reliability"]["checks"];
    for key in [
        "rhat",
        "ess_bulk",
        "ess_tail",
        "divergences",
        "bfmi",
        "pareto_k",
        "elpd_finite",
    ] {
        assert!(checks[key]["pass"].is_boolean(), "{key}");
    }
    assert_eq!(checks["divergences"]["value"], 1.0);
    assert_eq!(checks["divergences"]["pass"], false);
    // 20 draws: ESS far below 400, and every k is +inf.
    assert_eq!(checks["ess_bulk"]["pass"], false);
    assert_eq!(checks["pareto_k"]["value"], 1.0);
    assert_eq!(checks["elpd_finite"]["pass"], true);
    let score = json["reliability"]["score"].as_u64().expect("score");
    let passes = [
        "rhat",
        "ess_bulk",
        "ess_tail",
        "divergences",
        "bfmi",
        "pareto_k",
        "elpd_finite",
    ]
    .iter()
    .filter(|k| checks[**k]["pass"] == true)
    .count() as u64;
    assert_eq!(score, passes);
    assert!(
        json["reliability"]["strict"]["score"]
            .as_u64()
            .expect("strict")
            <= score
    );

    let table = render_table(&summary);
    assert!(
        table.contains("theta[1]") && table.contains("L[2,2]"),
        "{table}"
    );
    assert!(table.contains("Divergences: 1"), "{table}");
    assert!(
        table.contains(&format!("Reliability: {score}/7")),
        "{table}"
    );
}

#[test]
fn saved_warmup_is_dropped() {
    let chain = read_cmdstan_csv(fixture("warmup-chain-1.csv")).expect("valid CSV");
    assert_eq!(chain.warmup_dropped, 3);
    assert_eq!(chain.params.len(), 10);
    // Without an "Adaptation terminated" line the configured num_warmup / thin decides.
    let text = format!(
        "# method = sample (Default)\n#     num_warmup = 4\n#     save_warmup = true\n\
         #     thin = 2\n{HEADER}{}",
        ROW.repeat(5)
    );
    let chain = read_cmdstan_csv(temp_csv("warmup-no-adapt.csv", &text)).expect("valid");
    assert_eq!((chain.warmup_dropped, chain.params.len()), (2, 3));
}

#[test]
fn malformed_files_are_errors_naming_the_place() {
    let empty = temp_csv("empty.csv", "");
    assert_eq!(
        read_cmdstan_csv(&empty),
        Err(CsvError::Empty {
            path: empty.clone()
        })
    );

    let comments = temp_csv("comments.csv", "# only comments\n#\n");
    assert!(matches!(
        read_cmdstan_csv(&comments),
        Err(CsvError::Empty { .. })
    ));

    let header_only = temp_csv("header-only.csv", &format!("# x = 1\n{HEADER}"));
    assert!(matches!(
        read_cmdstan_csv(&header_only),
        Err(CsvError::NoDraws { .. })
    ));

    let truncated = temp_csv("truncated.csv", &format!("{HEADER}{ROW}{ROW}-1.5,0.9,0.8"));
    assert_eq!(
        read_cmdstan_csv(&truncated),
        Err(CsvError::Truncated {
            path: truncated.clone(),
            line: 4,
            expected: 10,
            found: 3
        })
    );

    let ragged = temp_csv("ragged.csv", &format!("{HEADER}{ROW}1,2,3\n{ROW}"));
    assert_eq!(
        read_cmdstan_csv(&ragged),
        Err(CsvError::Ragged {
            path: ragged.clone(),
            line: 3,
            expected: 10,
            found: 3
        })
    );

    let word = temp_csv(
        "word.csv",
        &format!("{HEADER}{ROW}-1.5,0.9,0.8,2,3,0,2.5,abc,0.2,-0.9\n"),
    );
    let err = read_cmdstan_csv(&word).expect_err("non-numeric");
    assert_eq!(
        err,
        CsvError::NonNumeric {
            path: word.clone(),
            line: 3,
            column: "mu".into(),
            text: "abc".into()
        }
    );
    assert!(err.to_string().contains("word.csv:3"), "{err}");

    let missing = fixture("no-such-file.csv");
    assert!(matches!(
        read_cmdstan_csv(&missing),
        Err(CsvError::Io { .. })
    ));

    // Non-finite values as CmdStan writes them are numbers, not errors.
    let special = temp_csv(
        "special.csv",
        &format!("{HEADER}-inf,nan,0.8,2,3,0,inf,0.1,0.2,-0.9\n"),
    );
    let chain = read_cmdstan_csv(&special).expect("inf and nan parse");
    assert!(chain.stats.energy[0].is_infinite());
}

#[test]
fn chains_must_agree() {
    let first = read_cmdstan_csv(fixture("chain-1.csv")).expect("chain 1");
    let other_header = HEADER.replace("theta.1", "theta.2");
    let other = temp_csv("other.csv", &format!("{other_header}{}", ROW.repeat(10)));
    let other = read_cmdstan_csv(&other).expect("valid alone");
    let err = summarize_csv(&[first.clone(), other.clone()]).expect_err("mismatch");
    assert_eq!(
        err,
        CsvError::HeaderMismatch {
            path: other.path.clone(),
            first: first.path.clone()
        }
    );
    assert!(err.to_string().contains("other.csv"), "{err}");

    let mut short = first.clone();
    short.path = PathBuf::from("short.csv");
    short.params.truncate(5);
    short.log_lik.truncate(5);
    let err = summarize_csv(&[first, short]).expect_err("draw count");
    assert!(
        matches!(
            err,
            CsvError::DrawCountMismatch {
                draws: 5,
                expected: 10,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(summarize_csv(&[]), Err(CsvError::NoChains));
}
