//! PSIS-LOO at scale: the chunked computation against the whole-matrix one, and subsampled
//! PSIS-LOO (the difference estimator) against full PSIS-LOO and against a Python transcription
//! of the R loo package's estimator (tests/data/loo_subsample_diff_srs.json, made by
//! scripts/make_loo_subsample_fixture.py).

use std::path::Path;

use refinestat_diagnostics::{
    loo_from_points, psis_loo, psis_loo_points, srs_diff_est, srs_est, subsampled_loo, LogLik,
    LooPoints,
};
use serde_json::Value;

/// A deterministic uniform in (0, 1) from three indices (a hash, so no RNG crate is needed).
fn unit(a: u64, b: u64, c: u64) -> f64 {
    let mut x = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b.wrapping_mul(0xBF58_476D_1CE4_E5B9))
        .wrapping_add(c.wrapping_mul(0x94D0_49BB_1331_11EB))
        .wrapping_add(0x2545_F491_4F6C_DD1D);
    x ^= x >> 31;
    x = x.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    x ^= x >> 29;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^= x >> 32;
    ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A logistic-regression-like log-likelihood: observation `o` has a linear predictor whose
/// posterior draws spread around a value; some observations are surprising (heavy tails).
fn log_lik_value(chain: usize, draw: usize, obs: usize) -> f64 {
    let centre = 4.0 * unit(obs as u64, 0, 1) - 2.0;
    let spread = if obs.is_multiple_of(17) { 1.5 } else { 0.3 };
    // A normal-ish draw from the sum of three uniforms.
    let z = (0..3)
        .map(|j| unit(obs as u64, (chain * 10_000 + draw) as u64, 2 + j))
        .sum::<f64>()
        - 1.5;
    let eta = centre + spread * 2.0 * z;
    let y = !obs.is_multiple_of(3);
    let sign = if y { 1.0 } else { -1.0 };
    // log inv_logit(sign * eta)
    -(-sign * eta).exp().ln_1p()
}

fn whole(n_chains: usize, n_draws: usize, n_obs: usize) -> LogLik {
    let ll: Vec<Vec<Vec<f64>>> = (0..n_chains)
        .map(|c| {
            (0..n_draws)
                .map(|d| (0..n_obs).map(|o| log_lik_value(c, d, o)).collect())
                .collect()
        })
        .collect();
    LogLik::from_chains(&ll).expect("rectangular")
}

fn chunked_points(
    n_chains: usize,
    n_draws: usize,
    obs: &[usize],
    chunk: usize,
    r_eff: f64,
) -> LooPoints {
    psis_loo_points(obs, n_chains * n_draws, r_eff, chunk, |s, block, out| {
        let (c, d) = (s / n_draws, s % n_draws);
        for (o, slot) in block.iter().zip(out.iter_mut()) {
            *slot = log_lik_value(c, d, *o);
        }
        Ok::<(), String>(())
    })
    .expect("no error")
}

#[test]
fn chunked_psis_loo_is_identical_to_the_whole_matrix() {
    let (n_chains, n_draws, n_obs) = (3, 200, 257);
    let reference = psis_loo(&whole(n_chains, n_draws, n_obs), 0.9);
    let all: Vec<usize> = (0..n_obs).collect();
    for chunk in [1, 7, 64, n_obs, 10 * n_obs] {
        let points = chunked_points(n_chains, n_draws, &all, chunk, 0.9);
        let loo = loo_from_points(points, n_chains * n_draws, 0.9);
        // Same values, same per-observation arithmetic, same order of summation: bit for bit,
        // which is more than the 1e-12 the chunking has to meet.
        assert_eq!(loo, reference, "chunk {chunk}");
        assert!((loo.elpd_loo - reference.elpd_loo).abs() <= 1e-12 * reference.elpd_loo.abs());
    }
    // The data exercise the smoothing: some k are large, some small.
    assert!(reference.pareto_k.iter().any(|&k| k > 0.5));
    assert!(reference.pareto_k.iter().any(|&k| k < 0.2));
}

#[test]
fn a_failing_fill_stops_with_its_error() {
    let result = psis_loo_points(&[0, 1, 2], 100, 1.0, 2, |s, block, _| {
        if s == 42 && block.contains(&2) {
            Err(format!("sample {s}"))
        } else {
            Ok(())
        }
    });
    assert_eq!(result, Err("sample 42".to_string()));
}

#[test]
fn subsampling_every_observation_is_the_full_estimate() {
    // m = N: the difference estimator is exact whatever the approximation, with no subsampling
    // variance, and its total variance is ArviZ's se^2 = N var(elpd_i) (ddof 0).
    let (n_chains, n_draws, n_obs) = (2, 150, 120);
    let n_samples = n_chains * n_draws;
    let full = psis_loo(&whole(n_chains, n_draws, n_obs), 1.0);
    let all: Vec<usize> = (0..n_obs).collect();
    let approx: Vec<f64> = (0..n_obs).map(|o| -0.5 - unit(o as u64, 9, 9)).collect();
    let points = chunked_points(n_chains, n_draws, &all, 50, 1.0);
    let sub = subsampled_loo(&approx, "test", all, points, n_samples, 1.0);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * (1.0 + b.abs());
    assert!(close(sub.elpd_loo, full.elpd_loo));
    assert!(close(sub.se, full.se), "{} vs {}", sub.se, full.se);
    assert!(close(sub.p_loo, full.p_loo));
    let s = sub.subsample.as_ref().expect("subsampled");
    assert_eq!(s.elpd_loo_subsampling_se, 0.0);
    assert_eq!(sub.n_obs, n_obs);
}

#[test]
fn subsampled_estimates_cover_the_full_psis_loo() {
    // 100 different subsamples of 60 out of 600 observations: the full PSIS-LOO lies within two
    // reported subsampling SEs of the subsampled estimate about 95% of the time.
    let (n_chains, n_draws, n_obs, m) = (2, 200, 600, 60);
    let n_samples = n_chains * n_draws;
    let full = psis_loo(&whole(n_chains, n_draws, n_obs), 1.0);
    // plpd-like approximation: the log-likelihood at the "mean" draw, off by a smooth error.
    let approx: Vec<f64> = (0..n_obs)
        .map(|o| full.loo_i[o] + 0.05 * (unit(o as u64, 5, 5) - 0.3))
        .collect();
    let mut covered = 0;
    let mut se_ratio = Vec::new();
    for rep in 0..100u64 {
        // Simple random sample without replacement: the m smallest of N uniform keys.
        let mut keys: Vec<(f64, usize)> =
            (0..n_obs).map(|o| (unit(rep, o as u64, 77), o)).collect();
        keys.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut obs: Vec<usize> = keys[..m].iter().map(|&(_, o)| o).collect();
        obs.sort_unstable();
        let points = chunked_points(n_chains, n_draws, &obs, 16, 1.0);
        // The chunked points of a subsample are the full computation's points.
        for (j, &o) in obs.iter().enumerate() {
            assert_eq!(points.elpd[j], full.loo_i[o]);
            assert_eq!(points.pareto_k[j], full.pareto_k[o]);
        }
        let sub = subsampled_loo(&approx, "test", obs, points, n_samples, 1.0);
        let s = sub.subsample.as_ref().expect("subsampled");
        assert!(s.elpd_loo_subsampling_se > 0.0);
        if (sub.elpd_loo - full.elpd_loo).abs() <= 2.0 * s.elpd_loo_subsampling_se {
            covered += 1;
        }
        se_ratio.push(sub.se / full.se);
    }
    assert!((88..=100).contains(&covered), "covered {covered} of 100");
    // The ordinary SE is estimated too: close to the full one on average.
    let mean_ratio = se_ratio.iter().sum::<f64>() / se_ratio.len() as f64;
    assert!((mean_ratio - 1.0).abs() < 0.1, "SE ratio {mean_ratio}");
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn difference_estimator_matches_the_python_transcription_of_loo() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/loo_subsample_diff_srs.json");
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON");
    let approx = floats(&json["elpd_loo_approx"]);
    let exact = floats(&json["elpd_loo"]);
    let p_loo = floats(&json["p_loo"]);
    let idx: Vec<usize> = json["idx"]
        .as_array()
        .expect("idx")
        .iter()
        .map(|i| i.as_u64().expect("index") as usize)
        .collect();
    let n = json["n"].as_u64().expect("n") as usize;
    assert_eq!(approx.len(), n);
    let close = |a: f64, b: &Value| {
        let b = b.as_f64().expect("number");
        assert!((a - b).abs() <= 1e-9 * b.abs(), "{a} vs {b}");
    };
    let (y_hat, v_y_hat, hat_v_y) = srs_diff_est(&approx, &exact, &idx);
    let want = &json["elpd_loo_est"];
    close(y_hat, &want["y_hat"]);
    close(v_y_hat, &want["v_y_hat"]);
    close(hat_v_y, &want["hat_v_y"]);
    let (p_hat, p_v_sub, p_v_total) = srs_est(&p_loo, n);
    let want = &json["p_loo_est"];
    close(p_hat, &want["y_hat"]);
    close(p_v_sub, &want["v_y_hat"]);
    close(p_v_total, &want["hat_v_y"]);

    // The same through subsampled_loo, which takes log_sum_lik_i = p_loo_i + elpd_i + ln S.
    let n_samples = 4000;
    let points = LooPoints {
        elpd: exact.clone(),
        pareto_k: vec![0.1; exact.len()],
        log_sum_lik: p_loo
            .iter()
            .zip(&exact)
            .map(|(p, e)| p + e + (n_samples as f64).ln())
            .collect(),
    };
    let loo = subsampled_loo(&approx, "plpd", idx, points, n_samples, 1.0);
    let s = loo.subsample.as_ref().expect("subsampled");
    close(loo.elpd_loo, &json["elpd_loo_est"]["y_hat"]);
    close(
        loo.se,
        &Value::from(json["elpd_loo_est"]["hat_v_y"].as_f64().unwrap().sqrt()),
    );
    close(
        s.elpd_loo_subsampling_se,
        &Value::from(json["elpd_loo_est"]["v_y_hat"].as_f64().unwrap().sqrt()),
    );
    close(loo.p_loo, &json["p_loo_est"]["y_hat"]);
}

/// summary.json of a one-parameter posterior with `loo` given.
fn summary_json(loo: refinestat_diagnostics::Loo) -> Value {
    use refinestat_diagnostics::{summarize_with_loo, ChainStats, DiagError, Draws};
    let chains: Vec<Vec<Vec<f64>>> = (0..2)
        .map(|c| (0..50).map(|d| vec![unit(c, d, 3)]).collect())
        .collect();
    let draws = Draws::from_chains(vec!["mu".into()], &chains).expect("draws");
    let stats = vec![ChainStats::default(); 2];
    let summary =
        summarize_with_loo(&draws, &stats, |_| Ok::<_, DiagError>(Some(loo))).expect("summary");
    serde_json::from_str(&summary.to_json()).expect("JSON")
}

#[test]
fn summary_json_caps_per_observation_pareto_k() {
    use refinestat_diagnostics::{Subsample, PARETO_K_CAP, PARETO_K_WORST};
    let n = PARETO_K_CAP + 500;
    // k = 0.0005 i: observation i + 1 has k 0.0005 i; one NaN and one infinite k.
    let mut pareto_k: Vec<f64> = (0..n).map(|i| 0.0005 * i as f64).collect();
    pareto_k[10] = f64::NAN;
    pareto_k[20] = f64::INFINITY;
    let loo = |pareto_k: Vec<f64>, subsample: Option<Subsample>| refinestat_diagnostics::Loo {
        elpd_loo: -1.0,
        se: 0.1,
        p_loo: 1.0,
        loo_i: vec![-0.001; pareto_k.len()],
        n_obs: n,
        pareto_k,
        k_threshold: 0.7,
        r_eff: 1.0,
        subsample,
        subsample_above: Some(5),
    };
    let json = summary_json(loo(pareto_k.clone(), None));
    let l = &json["loo"];
    assert!(l["pareto_k"].is_null(), "no list above the cap");
    assert_eq!(l["pareto_k_cap"], PARETO_K_CAP);
    let counts: Vec<u64> = l["pareto_k_histogram"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(l["pareto_k_histogram"]["nan"], 1);
    assert_eq!(counts.iter().sum::<u64>() as usize, n - 1);
    // [0, 0.1): i < 200 (less the NaN at 10 and the infinite k at 20); at or above 1: the
    // infinite k and i >= 2000 (none: n = 1500).
    assert_eq!(counts[0], 0);
    assert_eq!(counts[1], 198);
    assert_eq!(counts[11], 1);
    let worst = l["pareto_k_worst"].as_array().unwrap();
    assert_eq!(worst.len(), PARETO_K_WORST);
    // NaN first, then +inf (both null in JSON), then the largest finite k: observation n.
    assert_eq!(worst[0]["observation"], 11);
    assert!(worst[0]["k"].is_null());
    assert_eq!(worst[1]["observation"], 21);
    assert_eq!(worst[2]["observation"], n);
    assert_eq!(worst[2]["k"].as_f64(), Some(0.0005 * (n - 1) as f64));

    // Below the cap the list is there; subsampled observations are numbered in the data.
    let sub = Subsample {
        observations: vec![3, 70, 400],
        elpd_loo_subsampling_se: 0.5,
        p_loo_se: 0.2,
        p_loo_subsampling_se: 0.1,
        approximation: "plpd".into(),
    };
    let json = summary_json(loo(vec![0.2, 0.9, 0.1], Some(sub)));
    let l = &json["loo"];
    assert_eq!(l["pareto_k"].as_array().unwrap().len(), 3);
    assert_eq!(l["pareto_k_worst"][0]["observation"], 71);
    assert_eq!(l["subsample"]["observations"], 3);
    assert_eq!(l["subsample"]["elpd_loo_subsampling_se"], 0.5);
    assert_eq!(l["subsample_above"], 5);
    assert_eq!(l["n_obs"], n);
}
