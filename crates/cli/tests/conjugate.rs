//! Conjugate models end to end through Stan programs: `refinestat sample` (4 chains, fixed seed)
//! must recover the closed-form posterior mean and sd of each parameter to within 4 Monte Carlo
//! standard errors, read from the run's summary.json.
//!
//! The MCSE of the mean is summary.json's `mcse_mean`. summary.json has no MCSE of the sd, so it is
//! computed here from the posterior's known kurtosis k (fourth central moment / sd^4): with n
//! effectively independent draws, Var(s^2) ~ sd^4 (k - 1) / n, and by the delta method
//! Var(s) ~ Var(s^2) / (4 sd^2), so MCSE(sd) ~ sd sqrt((k - 1) / (4 n)). For n we take the smaller
//! of the bulk and tail ESS, which errs on the side of a wider band: the sd depends on the tails,
//! and the tail ESS is usually the smaller one when they mix slower.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Closed-form posterior marginal of one quantity.
#[derive(Debug, Clone, Copy)]
struct Posterior {
    mean: f64,
    sd: f64,
    /// Fourth central moment over sd^4 (3 for a normal).
    kurtosis: f64,
}

impl Posterior {
    fn normal(mean: f64, sd: f64) -> Posterior {
        Posterior {
            mean,
            sd,
            kurtosis: 3.0,
        }
    }

    /// Gamma with shape `a` and rate `b`.
    fn gamma(a: f64, b: f64) -> Posterior {
        Posterior {
            mean: a / b,
            sd: a.sqrt() / b,
            kurtosis: 3.0 + 6.0 / a,
        }
    }

    /// Inverse gamma with shape `a` (> 4, so the kurtosis exists) and scale `b`.
    fn inv_gamma(a: f64, b: f64) -> Posterior {
        Posterior {
            mean: b / (a - 1.0),
            sd: b / ((a - 1.0) * (a - 2.0).sqrt()),
            kurtosis: 3.0 + 6.0 * (5.0 * a - 11.0) / ((a - 3.0) * (a - 4.0)),
        }
    }

    fn beta(a: f64, b: f64) -> Posterior {
        let s = a + b;
        let excess = 6.0 * ((a - b).powi(2) * (s + 1.0) - a * b * (s + 2.0))
            / (a * b * (s + 2.0) * (s + 3.0));
        Posterior {
            mean: a / s,
            sd: (a * b / (s * s * (s + 1.0))).sqrt(),
            kurtosis: 3.0 + excess,
        }
    }
}

fn out_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conjugate-{name}"))
}

/// Samples `program` on `data` and checks every listed quantity against its closed form.
fn check(name: &str, program: &str, data: &str, seed: u64, expected: &[(&str, Posterior)]) {
    let dir = out_dir(name);
    std::fs::create_dir_all(&dir).expect("create the output directory");
    let model = dir.join("model.stan");
    let data_path = dir.join("data.json");
    std::fs::write(&model, program).expect("write the program");
    std::fs::write(&data_path, data).expect("write the data");
    let out = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .arg("sample")
        .arg(&model)
        .arg("--data")
        .arg(&data_path)
        .args(["--chains", "4", "--warmup", "1000", "--draws", "1000"])
        .args(["--seed", &seed.to_string(), "--overwrite", "--output-dir"])
        .arg(&dir)
        .output()
        .expect("the refinestat binary runs");
    assert!(
        out.status.success(),
        "{name}: sample failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json written"),
    )
    .expect("summary.json is JSON");
    assert_eq!(summary["divergences"], 0, "{name}: divergent transitions");
    for (param, truth) in expected {
        let row = &summary["parameters"][*param];
        let get = |field: &str| {
            row[field]
                .as_f64()
                .unwrap_or_else(|| panic!("{name}: {param}.{field} missing in {row}"))
        };
        let (mean, sd, mcse_mean) = (get("mean"), get("sd"), get("mcse_mean"));
        let ess = get("ess_bulk").min(get("ess_tail"));
        assert!(get("rhat") < 1.01, "{name}: {param} R-hat {}", get("rhat"));
        assert!(
            (mean - truth.mean).abs() <= 4.0 * mcse_mean,
            "{name}: {param} mean {mean}, closed form {}, MCSE {mcse_mean}",
            truth.mean
        );
        let mcse_sd = truth.sd * ((truth.kurtosis - 1.0) / (4.0 * ess)).sqrt();
        assert!(
            (sd - truth.sd).abs() <= 4.0 * mcse_sd,
            "{name}: {param} sd {sd}, closed form {}, MCSE {mcse_sd}",
            truth.sd
        );
    }
}

#[test]
fn normal_mean_with_known_sd() {
    // mu ~ N(1, 2^2), y_i ~ N(mu, 1.5^2): precision 1/4 + 6/2.25, mean (1/4 + sum(y)/2.25) / prec.
    let y = [2.1, 0.4, 3.3, 1.8, 2.9, 1.2];
    let precision = 1.0 / 4.0 + y.len() as f64 / 2.25;
    let mean = (1.0 / 4.0 + y.iter().sum::<f64>() / 2.25) / precision;
    check(
        "normal_normal",
        "data { int<lower=1> N; vector[N] y; }\n\
         parameters { real mu; }\n\
         model { mu ~ normal(1, 2); y ~ normal(mu, 1.5); }\n",
        r#"{"N": 6, "y": [2.1, 0.4, 3.3, 1.8, 2.9, 1.2]}"#,
        1,
        &[("mu", Posterior::normal(mean, precision.sqrt().recip()))],
    );
}

#[test]
fn beta_binomial() {
    // theta ~ Beta(2, 3); 10 successes in 30 trials over three groups: Beta(12, 23).
    check(
        "beta_binomial",
        "data { int<lower=1> K; array[K] int<lower=0> n; array[K] int<lower=0> y; }\n\
         parameters { real<lower=0, upper=1> theta; }\n\
         model { theta ~ beta(2, 3); y ~ binomial(n, theta); }\n",
        r#"{"K": 3, "n": [10, 12, 8], "y": [3, 5, 2]}"#,
        2,
        &[("theta", Posterior::beta(12.0, 23.0))],
    );
}

#[test]
fn gamma_poisson() {
    // lambda ~ Gamma(3, rate 0.5); seven counts summing to 35: Gamma(38, rate 7.5).
    check(
        "gamma_poisson",
        "data { int<lower=1> N; array[N] int<lower=0> y; }\n\
         parameters { real<lower=0> lambda; }\n\
         model { lambda ~ gamma(3, 0.5); y ~ poisson(lambda); }\n",
        r#"{"N": 7, "y": [4, 7, 3, 6, 5, 8, 2]}"#,
        3,
        &[("lambda", Posterior::gamma(38.0, 7.5))],
    );
}

#[test]
fn normal_variance_with_known_mean() {
    // sigma2 ~ InvGamma(3, 2), y_i ~ N(0.5, sigma2): InvGamma(3 + N/2, 2 + sum((y - 0.5)^2) / 2).
    let y = [1.2, -0.3, 0.9, 2.1, 0.4, -1.0, 1.5, 0.2];
    let ss: f64 = y.iter().map(|v| (v - 0.5) * (v - 0.5)).sum();
    check(
        "normal_inv_gamma",
        "data { int<lower=1> N; vector[N] y; }\n\
         parameters { real<lower=0> sigma2; }\n\
         model { sigma2 ~ inv_gamma(3, 2); y ~ normal(0.5, sqrt(sigma2)); }\n",
        r#"{"N": 8, "y": [1.2, -0.3, 0.9, 2.1, 0.4, -1.0, 1.5, 0.2]}"#,
        4,
        &[(
            "sigma2",
            Posterior::inv_gamma(3.0 + y.len() as f64 / 2.0, 2.0 + ss / 2.0),
        )],
    );
}

#[test]
fn exponential_gamma() {
    // lambda ~ Gamma(2, rate 1), y_i ~ Exponential(lambda): Gamma(2 + N, rate 1 + sum(y)).
    let y = [0.8, 0.3, 1.9, 0.5, 0.1, 1.2, 0.7, 2.4, 0.6, 0.4];
    check(
        "exponential_gamma",
        "data { int<lower=1> N; vector<lower=0>[N] y; }\n\
         parameters { real<lower=0> lambda; }\n\
         model { lambda ~ gamma(2, 1); y ~ exponential(lambda); }\n",
        r#"{"N": 10, "y": [0.8, 0.3, 1.9, 0.5, 0.1, 1.2, 0.7, 2.4, 0.6, 0.4]}"#,
        5,
        &[(
            "lambda",
            Posterior::gamma(2.0 + y.len() as f64, 1.0 + y.iter().sum::<f64>()),
        )],
    );
}

#[test]
fn dirichlet_categorical() {
    // theta ~ Dirichlet(1, 2, 3); category counts (4, 2, 6): Dirichlet(5, 4, 9), whose marginals
    // are Beta(alpha_k, 18 - alpha_k).
    check(
        "dirichlet_categorical",
        "data { int<lower=1> N; array[N] int<lower=1, upper=3> y; }\n\
         parameters { simplex[3] theta; }\n\
         model { theta ~ dirichlet([1, 2, 3]'); y ~ categorical(theta); }\n",
        r#"{"N": 12, "y": [1, 3, 3, 1, 2, 3, 1, 3, 2, 3, 1, 3]}"#,
        6,
        &[
            ("theta[1]", Posterior::beta(5.0, 13.0)),
            ("theta[2]", Posterior::beta(4.0, 14.0)),
            ("theta[3]", Posterior::beta(9.0, 9.0)),
        ],
    );
}
