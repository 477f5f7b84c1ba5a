//! End-to-end runs of the `refinestat` binary: check, fmt, logp and simulate, as a user runs them.

mod common;

use common::{refinestat, stderr, stdout};

fn scratch(name: &str) -> common::Scratch {
    common::scratch("cli", name)
}

const EXAMPLES: [(&str, &str); 7] = [
    (
        "examples/eight_schools_centered.stan",
        "datasets/eight_schools.json",
    ),
    (
        "examples/eight_schools_noncentered.stan",
        "datasets/eight_schools.json",
    ),
    ("examples/dugongs.stan", "datasets/dugongs.json"),
    ("examples/glm.stan", "datasets/glm.json"),
    ("examples/surgical.stan", "datasets/surgical.json"),
    ("examples/gp.stan", "datasets/gp.json"),
    ("examples/gp_poisson.stan", "datasets/gp.json"),
];

#[test]
fn every_example_checks_clean_with_its_data() {
    for (model, data) in EXAMPLES {
        let out = refinestat(&["check", model, "--data", data]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{model}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        assert!(stdout(&out).contains("valid"), "{model}: {}", stdout(&out));
    }
}

#[test]
fn every_example_evaluates_logp_at_a_point_from_its_prior() {
    let dir = scratch("logp-examples");
    for (i, (model, data)) in EXAMPLES.iter().enumerate() {
        let params = dir.join(format!("params-{i}.json"));
        // The posteriordb priors of dugongs (tau ~ gamma(1e-4, 1e-4)) and surgical
        // (sigmasq ~ inv_gamma(1e-3, 1e-3)) are so vague that prior draws overflow the scale
        // (sigma = inf), so these two get a posterior-like point instead of a prior draw.
        if model.contains("dugongs") {
            std::fs::write(
                &params,
                r#"{"alpha": 2.65, "beta": 0.97, "lambda": 0.86, "tau": 100}"#,
            )
            .unwrap();
        } else if model.contains("surgical") {
            let b = "[-3.5, -2.2, -2.6, -2.9, -3.1, -2.8, -2.9, -2.1, -2.9, -2.6, -2.3, -2.7]";
            std::fs::write(
                &params,
                format!(r#"{{"mu": -2.6, "sigmasq": 0.15, "b": {b}}}"#),
            )
            .unwrap();
        } else {
            // A prior draw gives parameter values inside every constraint.
            let sim = refinestat(&["simulate", model, "--data", data, "--seed", "3"]);
            assert_eq!(sim.status.code(), Some(0), "{model}: {}", stderr(&sim));
            let sim: serde_json::Value = serde_json::from_str(&stdout(&sim)).unwrap();
            std::fs::write(&params, sim["draws"][0]["params"].to_string()).unwrap();
        }
        let out = refinestat(&[
            "logp",
            model,
            "--data",
            data,
            "--params",
            params.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(0), "{model}: {}", stderr(&out));
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
        assert!(v["lp"].as_f64().unwrap().is_finite(), "{model}: {v}");
        assert!(
            v["lp_jacobian"].as_f64().unwrap().is_finite(),
            "{model}: {v}"
        );
        assert!(!v["grad"].as_array().unwrap().is_empty(), "{model}: {v}");
        assert!(!v["log_lik"].as_array().unwrap().is_empty(), "{model}: {v}");
    }
}

fn normal_lpdf(y: f64, mu: f64, sigma: f64) -> f64 {
    let z = (y - mu) / sigma;
    -0.5 * z * z - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
}

fn cauchy_lpdf(y: f64, mu: f64, sigma: f64) -> f64 {
    let z = (y - mu) / sigma;
    -(std::f64::consts::PI * sigma).ln() - (1.0 + z * z).ln()
}

#[test]
fn logp_of_eight_schools_matches_the_closed_form() {
    let dir = scratch("logp-eight");
    let params = dir.join("params.json");
    let mu = 1.5;
    let tau = 2.5;
    let theta_tilde = [0.1, -0.3, 0.5, 1.2, -0.8, 0.0, 0.4, -1.1];
    std::fs::write(
        &params,
        serde_json::json!({"mu": mu, "tau": tau, "theta_tilde": theta_tilde}).to_string(),
    )
    .unwrap();
    let out = refinestat(&[
        "logp",
        "examples/eight_schools_noncentered.stan",
        "--data",
        "datasets/eight_schools.json",
        "--params",
        params.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();

    let y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0];
    let sigma = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];
    let log_lik: Vec<f64> = (0..8)
        .map(|j| normal_lpdf(y[j], mu + tau * theta_tilde[j], sigma[j]))
        .collect();
    let lp = normal_lpdf(mu, 0.0, 5.0)
        + cauchy_lpdf(tau, 0.0, 5.0)
        + theta_tilde
            .iter()
            .map(|&t| normal_lpdf(t, 0.0, 1.0))
            .sum::<f64>()
        + log_lik.iter().sum::<f64>();
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-10 * b.abs().max(1.0);
    assert!(
        close(v["lp"].as_f64().unwrap(), lp),
        "lp {} vs {lp}",
        v["lp"]
    );
    // tau has <lower=0>: the unconstraining transform is log, so log|J| = log(tau).
    assert!(close(v["lp_jacobian"].as_f64().unwrap(), lp + tau.ln()));
    let got: Vec<f64> = v["log_lik"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(got.len(), 8);
    for (g, w) in got.iter().zip(&log_lik) {
        assert!(close(*g, *w), "log_lik {g} vs {w}");
    }
    // d lp_jacobian / d mu = -mu/25 + sum_j (y_j - theta_j) / sigma_j^2
    let dmu = -mu / 25.0
        + (0..8)
            .map(|j| (y[j] - mu - tau * theta_tilde[j]) / (sigma[j] * sigma[j]))
            .sum::<f64>();
    let grad = v["grad"].as_array().unwrap();
    assert_eq!(grad.len(), 10);
    assert!(
        close(grad[0].as_f64().unwrap(), dmu),
        "grad mu {} vs {dmu}",
        grad[0]
    );
}

/// `logp --unconstrained X` evaluates at Stan's unconstrained vector: the point `--params` maps
/// to gives the same numbers, `--propto` drops exactly the constants of the `~` statements, and
/// the gradient without the Jacobian differs from `grad` by d log|J| (1 in log tau's slot).
#[test]
fn logp_takes_an_unconstrained_point_and_drops_constants_with_propto() {
    let dir = scratch("logp-unconstrained");
    let (mu, tau) = (1.5f64, 2.5f64);
    let theta_tilde = [0.1, -0.3, 0.5, 1.2, -0.8, 0.0, 0.4, -1.1];
    let params = dir.join("params.json");
    std::fs::write(
        &params,
        serde_json::json!({"mu": mu, "tau": tau, "theta_tilde": theta_tilde}).to_string(),
    )
    .unwrap();
    let mut x = vec![mu, tau.ln()];
    x.extend(theta_tilde);
    let point = dir.join("x.json");
    std::fs::write(&point, serde_json::json!(x).to_string()).unwrap();
    let run = |extra: &[&str]| {
        let mut argv = vec![
            "logp",
            "examples/eight_schools_noncentered.stan",
            "--data",
            "datasets/eight_schools.json",
        ];
        argv.extend(extra);
        let out = refinestat(&argv);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        serde_json::from_str::<serde_json::Value>(&stdout(&out)).unwrap()
    };
    let f = |v: &serde_json::Value| v.as_f64().unwrap();
    let fs = |v: &serde_json::Value| v.as_array().unwrap().iter().map(f).collect::<Vec<_>>();
    let by_name = run(&["--params", params.to_str().unwrap()]);
    let by_vector = run(&["--unconstrained", point.to_str().unwrap()]);
    let propto = run(&["--unconstrained", point.to_str().unwrap(), "--propto"]);
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
    for (u, w) in fs(&by_name["unconstrained"]).iter().zip(&x) {
        assert!(close(*u, *w), "unconstrained {u} vs {w}");
    }
    for key in ["lp", "lp_jacobian"] {
        assert!(close(f(&by_vector[key]), f(&by_name[key])), "{key}");
    }
    // Dropped: -log(sqrt(2 pi)) for each of the 17 normal terms, log 5 twice (mu's and tau's
    // scale), log pi (cauchy) and log sigma_j of the likelihood.
    let sigma = [15.0f64, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];
    let constants = -17.0 * 0.5 * (2.0 * std::f64::consts::PI).ln()
        - 2.0 * 5f64.ln()
        - std::f64::consts::PI.ln()
        - sigma.iter().map(|s| s.ln()).sum::<f64>();
    for key in ["lp", "lp_jacobian"] {
        assert!(
            close(f(&propto[key]) + constants, f(&by_vector[key])),
            "{key}: {} + {constants} vs {}",
            propto[key],
            by_vector[key]
        );
    }
    assert!(close(
        f(&propto["lp_jacobian"]),
        f(&propto["lp"]) + tau.ln()
    ));
    let (g, g0) = (fs(&propto["grad"]), fs(&propto["grad_no_jacobian"]));
    assert_eq!(
        g,
        fs(&by_vector["grad"]),
        "constants do not move the gradient"
    );
    for (k, (a, b)) in g.iter().zip(&g0).enumerate() {
        let jacobian = if k == 1 { 1.0 } else { 0.0 };
        assert!(close(*a, b + jacobian), "grad[{k}] {a} vs {b} + {jacobian}");
    }

    // A vector of the wrong length or not of numbers is a usage error naming the file.
    for bad in ["[1, 2]", "{\"mu\": 1}", "[1, \"a\", 3]"] {
        std::fs::write(&point, bad).unwrap();
        let out = refinestat(&[
            "logp",
            "examples/eight_schools_noncentered.stan",
            "--data",
            "datasets/eight_schools.json",
            "--unconstrained",
            point.to_str().unwrap(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(stderr(&out).contains("x.json"), "{bad}: {}", stderr(&out));
    }
    let out = refinestat(&[
        "logp",
        "examples/eight_schools_noncentered.stan",
        "--data",
        "datasets/eight_schools.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "--params or --unconstrained");
}

#[test]
fn check_reports_violations_with_predicate_and_position_and_exit_code_1() {
    let dir = scratch("check-bad");
    let model = dir.join("bad.stan");
    std::fs::write(
        &model,
        "data { int N; array[N] real y; }\nparameters { real mu; real<upper=0> sigma; }\nmodel {\n  y ~ normal(mu, sigma);\n}\n",
    )
    .unwrap();
    // A scale declared without a lower bound may be negative: a warning (exit 0), as Stan
    // compiles and samples it; `--strict` makes it an error.
    let loose = dir.join("loose.stan");
    std::fs::write(
        &loose,
        "data { int N; array[N] real y; }\nparameters { real mu; real sigma; }\nmodel {\n  y ~ normal(mu, sigma);\n}\n",
    )
    .unwrap();
    let out = refinestat(&["check", loose.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("warning"), "{}", stdout(&out));
    let out = refinestat(&["check", "--strict", loose.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    // A scale declared <upper=0> is never positive: an error.
    let out = refinestat(&["check", model.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("support"), "{text}");
    assert!(text.contains("bad.stan:4:"), "{text}");

    let out = refinestat(&["check", model.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["valid"], false);
    let first = &v["violations"][0];
    assert_eq!(first["predicate"], "support");
    assert_eq!(first["line"], 4);
    assert!(
        first["hint"].as_str().unwrap().contains("lower=0"),
        "{first}"
    );
    assert_eq!(first["severity"], "error", "{first}");
}

#[test]
fn missing_files_and_bad_data_are_usage_errors_with_exit_code_2() {
    let out = refinestat(&["check", "no/such/model.stan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no/such/model.stan"),
        "{}",
        stderr(&out)
    );

    let dir = scratch("bad-data");
    let data = dir.join("data.json");
    std::fs::write(&data, "{\"J\": 8, \"y\": [1, 2,").unwrap();
    let out = refinestat(&[
        "logp",
        "examples/eight_schools_noncentered.stan",
        "--data",
        data.to_str().unwrap(),
        "--params",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("data.json"), "{}", stderr(&out));

    // Data that parses but does not fit the data block names the variable.
    std::fs::write(
        &data,
        r#"{"J": 8, "y": [1, 2, 3], "sigma": [1, 1, 1, 1, 1, 1, 1, 1]}"#,
    )
    .unwrap();
    let out = refinestat(&[
        "simulate",
        "examples/eight_schools_noncentered.stan",
        "--data",
        data.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains('y'), "{}", stderr(&out));
}

#[test]
fn fmt_output_is_stable_and_canonical_form_ignores_names_and_order() {
    let out = refinestat(&["fmt", "examples/surgical.stan"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dir = scratch("fmt");
    let once = dir.join("once.stan");
    std::fs::write(&once, stdout(&out)).unwrap();
    let twice = refinestat(&["fmt", once.to_str().unwrap()]);
    assert_eq!(stdout(&out), stdout(&twice), "fmt is not idempotent");

    let a = dir.join("a.stan");
    let b = dir.join("b.stan");
    std::fs::write(
        &a,
        "data { int N; vector[N] y; }\nparameters { real mu; real<lower=0> sigma; }\nmodel { mu ~ normal(0, 1); sigma ~ exponential(1); y ~ normal(mu, sigma); }\n",
    )
    .unwrap();
    std::fs::write(
        &b,
        "// same model, other names and order\ndata { int N; vector[N] y; }\nparameters {\n  real<lower=0> s;\n  real m;\n}\nmodel {\n  m ~ normal(0, 1);\n  s ~ exponential(1);\n  y ~ normal(m, s);\n}\n",
    )
    .unwrap();
    let ca = refinestat(&["fmt", "--canonical", a.to_str().unwrap()]);
    let cb = refinestat(&["fmt", "--canonical", b.to_str().unwrap()]);
    assert_eq!(ca.status.code(), Some(0));
    assert_eq!(stdout(&ca), stdout(&cb));
}

#[test]
fn fmt_keeps_comments_check_names_changed_files_and_in_place_rewrites_them() {
    let dir = scratch("fmt_check");
    let messy = dir.join("messy.stan");
    let src = "// a mean\ndata { int N; vector[N] y; } // the data\nparameters { real mu; }\nmodel {\n  mu ~ normal(0, 10); /* weak */\n  y ~ normal(mu, 1);\n}\n";
    std::fs::write(&messy, src).unwrap();
    let printed = refinestat(&["fmt", messy.to_str().unwrap()]);
    assert_eq!(printed.status.code(), Some(0), "{}", stderr(&printed));
    for comment in ["// a mean", "// the data", "/* weak */"] {
        assert!(stdout(&printed).contains(comment), "{}", stdout(&printed));
    }
    let tidy = dir.join("tidy.stan");
    std::fs::write(&tidy, stdout(&printed)).unwrap();

    let check = refinestat(&[
        "fmt",
        "--check",
        tidy.to_str().unwrap(),
        messy.to_str().unwrap(),
    ]);
    assert_eq!(check.status.code(), Some(1), "{}", stderr(&check));
    assert!(stderr(&check).contains("messy.stan would be reformatted"));
    assert!(
        !stderr(&check).contains("tidy.stan would"),
        "{}",
        stderr(&check)
    );
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        src,
        "--check wrote"
    );

    let in_place = refinestat(&["fmt", "--in-place", messy.to_str().unwrap()]);
    assert_eq!(in_place.status.code(), Some(0), "{}", stderr(&in_place));
    assert_eq!(
        std::fs::read_to_string(&messy).unwrap(),
        stdout(&printed),
        "--in-place writes what fmt prints"
    );
    let again = refinestat(&["fmt", "--check", messy.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));

    let two = refinestat(&["fmt", tidy.to_str().unwrap(), messy.to_str().unwrap()]);
    assert_eq!(two.status.code(), Some(2));
    assert!(
        stderr(&two).contains("--check or --in-place"),
        "{}",
        stderr(&two)
    );
}

#[test]
fn simulate_is_reproducible_and_shaped_like_the_data() {
    let args = [
        "simulate",
        "examples/eight_schools_noncentered.stan",
        "--data",
        "datasets/eight_schools.json",
        "--draws",
        "3",
        "--seed",
        "11",
    ];
    let first = refinestat(&args);
    let second = refinestat(&args);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    assert_eq!(first.stdout, second.stdout);
    let v: serde_json::Value = serde_json::from_str(&stdout(&first)).unwrap();
    let draws = v["draws"].as_array().unwrap();
    assert_eq!(draws.len(), 3);
    for d in draws {
        assert_eq!(d["data"]["y"].as_array().unwrap().len(), 8);
        assert!(d["params"]["tau"].as_f64().unwrap() > 0.0);
        assert_eq!(d["params"]["theta_tilde"].as_array().unwrap().len(), 8);
    }
    assert_ne!(draws[0]["params"]["mu"], draws[1]["params"]["mu"]);
}
