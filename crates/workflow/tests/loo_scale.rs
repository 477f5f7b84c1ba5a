//! PSIS-LOO of a fit whatever holds the log-likelihood: the rows (CSV columns) or the model at
//! each stored draw, whole or in chunks of observations, full or subsampled.

use refinestat_inference::SamplerConfig;
use refinestat_language::Data;
use refinestat_model::Model;
use refinestat_workflow::{fit_model, fit_model_with, FitOptions, LooOptions};

/// A logistic regression with `n` rows and two covariates, deterministic data.
fn logistic(n: usize) -> Model {
    let x: Vec<String> = (0..n)
        .map(|i| {
            let a = ((i * 37 % 101) as f64 / 50.0) - 1.0;
            let b = ((i * 53 % 89) as f64 / 44.0) - 1.0;
            format!("[{a}, {b}]")
        })
        .collect();
    let y: Vec<String> = (0..n)
        .map(|i| if (i * 7919 % 13) < 7 { "1" } else { "0" }.to_string())
        .collect();
    let json = format!(
        r#"{{"N": {n}, "X": [{}], "y": [{}]}}"#,
        x.join(","),
        y.join(",")
    );
    let data = Data::from_json_str(&json).expect("data");
    let src = "data { int N; matrix[N, 2] X; array[N] int<lower=0, upper=1> y; }
               parameters { real alpha; vector[2] beta; }
               model { alpha ~ normal(0, 2); beta ~ normal(0, 2);
                       y ~ bernoulli_logit(alpha + X * beta); }";
    Model::from_source(src, &data).expect("model")
}

fn config() -> SamplerConfig {
    SamplerConfig {
        chains: 2,
        warmup: 150,
        draws: 150,
        seed: 7,
        ..SamplerConfig::default()
    }
}

fn options(rows: bool, block_values: usize, subsample_above: Option<usize>) -> FitOptions {
    FitOptions {
        log_lik_rows: Some(rows),
        loo: LooOptions {
            block_values,
            subsample_above,
            subsample_size: 40,
            seed: 3,
        },
    }
}

#[test]
fn loo_is_the_same_from_rows_and_from_the_model_in_chunks() {
    let model = logistic(300);
    let with_rows = fit_model_with(
        &model,
        &config(),
        &options(true, 1 << 26, None),
        |_, _, _| {},
    )
    .expect("fit");
    assert_eq!(with_rows.layout.log_lik_columns.len(), 300);
    let reference = with_rows.summarize().expect("summary");
    // The model at each draw, 7 observations at a time (300 draws x 7 values held).
    let without = fit_model_with(
        &model,
        &config(),
        &options(false, 300 * 7, None),
        |_, _, _| {},
    )
    .expect("fit");
    assert!(without.layout.log_lik_columns.is_empty());
    assert!(!without
        .layout
        .names
        .iter()
        .any(|n| n.starts_with("log_lik")));
    assert_eq!(without.n_log_lik(), 300);
    let chunked = without.summarize().expect("summary");
    let (a, b) = (
        reference.loo.as_ref().expect("loo"),
        chunked.loo.as_ref().expect("loo"),
    );
    assert_eq!(a.pareto_k.len(), 300);
    assert!((a.elpd_loo - b.elpd_loo).abs() <= 1e-12 * a.elpd_loo.abs());
    // In fact identical: same values, same arithmetic.
    assert_eq!(a, b);
    assert_eq!(reference, chunked);
}

#[test]
fn many_observations_are_subsampled_within_the_subsampling_se() {
    let model = logistic(400);
    let full = fit_model_with(
        &model,
        &config(),
        &options(false, 1 << 20, None),
        |_, _, _| {},
    )
    .expect("fit")
    .summarize()
    .expect("summary")
    .loo
    .expect("loo");
    assert!(full.subsample.is_none());
    let fit = fit_model_with(
        &model,
        &config(),
        &options(false, 1 << 20, Some(100)),
        |_, _, _| {},
    )
    .expect("fit");
    let summary = fit.summarize().expect("summary");
    let sub = summary.loo.as_ref().expect("loo");
    let s = sub
        .subsample
        .as_ref()
        .expect("subsampled above 100 observations");
    assert_eq!(s.observations.len(), 40);
    assert_eq!(sub.pareto_k.len(), 40);
    assert_eq!(sub.n_obs, 400);
    assert_eq!(sub.subsample_above, Some(100));
    assert!(s.elpd_loo_subsampling_se > 0.0);
    assert!(
        (sub.elpd_loo - full.elpd_loo).abs() <= 3.0 * s.elpd_loo_subsampling_se,
        "subsampled {} +- {} vs full {}",
        sub.elpd_loo,
        s.elpd_loo_subsampling_se,
        full.elpd_loo
    );
    // The subsample's pointwise values are the full computation's.
    for (j, &o) in s.observations.iter().enumerate() {
        assert_eq!(sub.loo_i[j], full.loo_i[o]);
    }
    // summary.json states the threshold and the subsample.
    let json: serde_json::Value = serde_json::from_str(&summary.to_json()).expect("JSON");
    assert_eq!(json["loo"]["subsample_above"], 100);
    assert_eq!(json["loo"]["subsample"]["observations"], 40);
    assert_eq!(json["loo"]["subsample"]["estimator"], "diff_srs");
    assert_eq!(json["loo"]["n_obs"], 400);
}

#[test]
fn the_default_keeps_log_lik_columns_only_for_small_data() {
    let small = fit_model(&logistic(50), &config(), |_, _, _| {}).expect("fit");
    assert_eq!(small.layout.log_lik_columns.len(), 50);
    let large = fit_model(&logistic(1500), &config(), |_, _, _| {}).expect("fit");
    assert!(large.layout.log_lik_columns.is_empty());
    let loo = large.summarize().expect("summary").loo.expect("loo");
    assert_eq!(loo.n_obs, 1500);
    assert!(loo.subsample.is_none());
    assert!(loo.elpd_loo.is_finite());
}
