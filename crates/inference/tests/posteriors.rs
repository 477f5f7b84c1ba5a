//! Posterior means and sds against closed forms, within 4 Monte Carlo standard errors.

mod common;

use common::*;
use refinestat_inference::{sample, SamplerConfig, StopReason};

fn config(seed: u64) -> SamplerConfig {
    SamplerConfig {
        chains: 4,
        warmup: 500,
        draws: 1000,
        seed,
        ..SamplerConfig::default()
    }
}

#[test]
fn standard_normal_10d() {
    let output = sample(&config(11), |_| IndependentNormal::standard(10)).unwrap();
    assert_eq!(output.stop_reason(), StopReason::Completed);
    assert_eq!(output.dim, 10);
    for chain in &output.chains {
        assert_eq!(chain.draws.len(), 1000);
        assert_eq!(chain.stats.len(), 1000);
        assert_eq!(chain.warmup_iterations, 500);
        assert_eq!(chain.sampling_iterations, 1000);
        assert_eq!(chain.divergences(), 0);
        // Standard normal: the adapted inverse metric is close to the identity.
        for v in &chain.inv_metric {
            assert!((0.6..1.6).contains(v), "inverse metric {v}");
        }
        // lp__ is the log density at the draw.
        for (draw, stat) in chain.draws.iter().zip(&chain.stats) {
            let lp = -0.5 * draw.iter().map(|x| x * x).sum::<f64>();
            assert!((stat.lp - lp).abs() < 1e-9);
            assert!(
                stat.energy >= -stat.lp - 1e-9,
                "energy includes non-negative kinetic part"
            );
            assert!(stat.stepsize == chain.step_size);
            assert!((0.0..=1.0).contains(&stat.accept_stat));
        }
    }
    for i in 0..10 {
        assert_posterior(&format!("x[{i}]"), &output, |x| x[i], 0.0, 1.0);
    }
    // -lp__ of a 10-D standard normal is chi-square(10)/2: mean 5, sd sqrt(5).
    let lp: Vec<Vec<f64>> = output
        .chains
        .iter()
        .map(|c| c.stats.iter().map(|s| -s.lp).collect())
        .collect();
    let e = estimate(&lp);
    assert!(
        (e.mean - 5.0).abs() < 4.0 * e.mcse_mean,
        "-lp mean {}",
        e.mean
    );
}

#[test]
fn correlated_gaussian_2d() {
    let model = CorrelatedNormal2 {
        mean: [1.0, -2.0],
        sd: [1.0, 3.0],
        rho: 0.9,
    };
    let output = sample(&config(12), |_| model.clone()).unwrap();
    assert_posterior("x0", &output, |x| x[0], 1.0, 1.0);
    assert_posterior("x1", &output, |x| x[1], -2.0, 3.0);
    // E[z0 z1] = rho for the standardised coordinates.
    assert_posterior(
        "z0*z1",
        &output,
        |x| (x[0] - 1.0) * (x[1] + 2.0) / 3.0,
        0.9,
        (1.0f64 + 0.81).sqrt(), // Var(z0 z1) = 1 + rho^2
    );
}

#[test]
fn normal_normal_conjugate() {
    let model = NormalNormal {
        y: vec![2.1, 3.4, 1.7, 2.9, 4.2, 2.2, 3.1, 1.5, 2.8, 3.6],
        sigma: 2.0,
        prior_mean: 0.0,
        prior_sd: 5.0,
    };
    let (mean, sd) = model.posterior();
    let output = sample(&config(13), |_| model.clone()).unwrap();
    assert_posterior("mu", &output, |x| x[0], mean, sd);
    // The adapted inverse metric estimates the posterior variance.
    for chain in &output.chains {
        let ratio = chain.inv_metric[0] / (sd * sd);
        assert!((0.6..1.6).contains(&ratio), "inv metric ratio {ratio}");
    }
}

#[test]
fn gamma_posterior_via_log_transform() {
    let model = GammaPoisson {
        y: vec![3, 1, 4, 1, 5, 2, 6],
        shape: 2.0,
        rate: 1.0,
    };
    let (mean, sd) = model.posterior();
    let output = sample(&config(14), |_| model.clone()).unwrap();
    // The caller maps unconstrained draws to lambda.
    assert_posterior("lambda", &output, |x| x[0].exp(), mean, sd);
}

#[test]
fn beta_posterior_via_logit() {
    let model = BetaBinomial {
        successes: 7,
        trials: 20,
        a: 2.0,
        b: 3.0,
    };
    let (mean, sd) = model.posterior();
    let output = sample(&config(15), |_| model.clone()).unwrap();
    assert_posterior("p", &output, |x| inv_logit(x[0]), mean, sd);
}

#[test]
fn inverse_metric_matches_scales() {
    let model = IndependentNormal {
        mean: vec![0.0, 0.0],
        sd: vec![0.5, 3.0],
    };
    let output = sample(&config(16), |_| model.clone()).unwrap();
    for chain in &output.chains {
        let [small, large] = [chain.inv_metric[0], chain.inv_metric[1]];
        assert!(
            (0.25 * 0.7..0.25 * 1.4).contains(&small),
            "inv metric {small} vs 0.25"
        );
        assert!(
            (9.0 * 0.7..9.0 * 1.4).contains(&large),
            "inv metric {large} vs 9"
        );
    }
    assert_posterior("x0", &output, |x| x[0], 0.0, 0.5);
    assert_posterior("x1", &output, |x| x[1], 0.0, 3.0);
}
