//! The simulator against closed forms: for 20 corpus programs with conjugate or closed-form prior
//! predictives, the mean and variance of the first observation over M datasets match.
//!
//! Tolerances come from the sample size: the mean within 5 standard errors (sqrt(Var / M) from
//! the closed-form variance), the variance within 5 standard errors of a sample variance
//! (sqrt((m4 - s^4) / M), m4 the sample fourth central moment).

use refinestat_spfn::schema::Role;
use refinestat_spfn::simulate::{draw_dataset, mix};
use refinestat_spfn::HumanCorpus;

const M: u64 = 4000;

/// Simpson's rule on [a, b] with n (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, n: usize) -> f64 {
    let h = (b - a) / n as f64;
    let mut s = f(a) + f(b);
    for i in 1..n {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    s * h / 3.0
}

fn closed_forms() -> Vec<(&'static str, &'static str, f64, f64)> {
    use std::f64::consts::PI;
    let ln_mean = (0.25f64).exp();
    let ln_var = ((0.5f64).exp() - 1.0) * (0.5f64).exp();
    let pl_mean = (1.0f64 + 0.045).exp();
    let pl_var = pl_mean + (2.0f64 + 0.18).exp() - pl_mean * pl_mean;
    // Beta(a, 2) response with a ~ Gamma(20, 10): integrate the conditional moments.
    let gamma_pdf = |a: f64| {
        use statrs::distribution::{Continuous, Gamma};
        Gamma::new(20.0, 10.0).unwrap().pdf(a)
    };
    let m1 = simpson(|a| gamma_pdf(a) * a / (a + 2.0), 1e-9, 10.0, 4000);
    let m2 = simpson(
        |a| gamma_pdf(a) * a * (a + 1.0) / ((a + 2.0) * (a + 3.0)),
        1e-9,
        10.0,
        4000,
    );
    vec![
        ("conj_normal_known_sd", "", 1.0, 5.0),
        ("conj_poisson_gamma", "", 2.0, 3.0),
        ("conj_beta_binomial", "", 4.0, 6.0),
        ("conj_beta_bernoulli", "", 0.6, 0.24),
        ("conj_gamma_exponential", "", 1.0, 32.0 / 12.0 - 1.0),
        ("conj_normal_linear", "x=const(2)", 1.0, 4.25),
        ("conj_inv_gamma_variance", "", 0.0, 2.0),
        ("conj_lognormal_location", "", ln_mean, ln_var),
        ("conj_hier_normal", "J=size(3,3)", 0.0, 6.0),
        ("conj_poisson_lognormal_rate", "", pl_mean, pl_var),
        ("conj_uniform_location", "", 0.0, 4.0),
        ("conj_gamma_gamma", "", 5.0 / 3.0, 300.0 / 72.0 - 25.0 / 9.0),
        ("conj_negbin_mean", "", 3.0, 6.6),
        ("conj_student_location", "", 2.0, 2.5),
        (
            "conj_binomial_logit_fixed",
            "",
            10.0,
            5.0 - 1.25e-4 + 0.0025,
        ),
        ("conj_double_exponential", "", -1.0, 9.0),
        ("conj_weibull_scale", "", 2.0, 26.0 / 3.0 - 4.0),
        ("conj_logistic_location", "", 0.0, 1.0 + PI * PI / 3.0),
        ("conj_beta_response", "", m1, m2 - m1 * m1),
        ("conj_normal_two_level_sd", "", 0.0, 9.0 + 1.0 + 1.0 / 12.0),
    ]
}

#[test]
fn twenty_programs_match_their_closed_form_prior_predictive_moments() {
    let corpus = HumanCorpus::embedded().expect("corpus loads");
    let cases = closed_forms();
    assert_eq!(cases.len(), 20);
    let mut failures = Vec::new();
    for (name, extra, mean, var) in cases {
        let sp = corpus
            .programs
            .iter()
            .find(|p| p.id == format!("human/{name}"))
            .unwrap_or_else(|| panic!("{name} is in the corpus"));
        let mut schema = sp.schema.clone();
        // One observation per dataset, so no degeneracy rejection can bias the moments.
        *schema.role_mut("N").expect("N") = Role::Size { min: 1, max: 1 };
        for item in extra.split_whitespace() {
            let (var, spec) = item.split_once('=').unwrap();
            let override_schema =
                refinestat_spfn::schema::Schema::infer(&sp.program, &format!("{var}={spec}"))
                    .unwrap();
            *schema.role_mut(var).unwrap() = override_schema.role(var).unwrap().clone();
        }
        let resp = schema.responses()[0].to_string();
        let mut xs = Vec::with_capacity(M as usize);
        for i in 0..M {
            let ds = draw_dataset(&sp.program, &schema, mix(7, &[i]))
                .unwrap_or_else(|r| panic!("{name}: draw {i} rejected ({})", r.name()));
            xs.push(ds.data.get(&resp).unwrap().values[0]);
        }
        let n = M as f64;
        let m = xs.iter().sum::<f64>() / n;
        let v = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0);
        let m4 = xs.iter().map(|x| (x - m).powi(4)).sum::<f64>() / n;
        let tol_mean = 5.0 * (var / n).sqrt();
        let tol_var = 5.0 * ((m4 - v * v).max(0.0) / n).sqrt();
        if (m - mean).abs() > tol_mean || (v - var).abs() > tol_var {
            failures.push(format!(
                "{name}: mean {m:.4} vs {mean:.4} (tol {tol_mean:.4}), var {v:.4} vs {var:.4} (tol {tol_var:.4})"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
