//! Reverse-mode gradients of the model crate against finite differences (Ridders' extrapolation
//! of central differences) of `log_density` on the unconstrained scale.
//!
//! Every reference distribution and math function case (tests/data/reference_*.json) is turned
//! into a program whose continuous arguments are PARAMETERS, declared with the bounds their
//! support needs. At the unconstrained image of the reference values the test checks
//! (1) the round trip: `log_density(unconstrain(values), jacobian = false)` is the reference
//! value, (2) the gradient with the Jacobian against finite differences, and for densities
//! (3) that `~` with propto = true drops only terms that do not depend on the parameters.
//! With the variate kept as observed data, `log_lik` there gives the reference pointwise terms.
//! A few composite models (hierarchical, GP, LKJ, mixtures, control flow) are checked at random
//! unconstrained points.

mod common;

use common::{
    check_gradient, close, compile, data_of, dist_cases, fn_cases, gaussian_loo_reference, guarded,
    program, DistCase, Failures, FnCase, FULL, FULL_JACOBIAN, PROPTO_JACOBIAN,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_language::Data;
use refinestat_model::Model;

/// Round trips are exact up to the rounding of the constraining transforms.
const ROUND_TRIP_REL: f64 = 1e-8;

/// A declaration: (Stan type, name).
type Decl = (String, String);

/// (data declarations, parameter declarations), each in declaration order.
fn split_decls<'a>(decls: &'a [Decl], params: &[String]) -> (Vec<&'a Decl>, Vec<&'a Decl>) {
    decls.iter().partition(|(_, name)| !params.contains(name))
}

/// Compile, unconstrain the parameter values, check the round-trip value, then the gradient.
fn check_at_reference(
    src: &str,
    data: &Data,
    params: &Data,
    want: f64,
) -> Result<(Model, Vec<f64>), String> {
    guarded(|| {
        let mut model = compile(src, data)?;
        let x = model
            .unconstrain(params)
            .map_err(|e| format!("unconstrain: {e}\n{src}"))?;
        if x.len() != model.dim() {
            return Err(format!(
                "unconstrain gave {} values, dim is {}",
                x.len(),
                model.dim()
            ));
        }
        let lp = model
            .log_density(&x, FULL)
            .map_err(|e| format!("log_density: {e}\n{src}"))?;
        if !close(lp, want, ROUND_TRIP_REL, 1e-10) {
            return Err(format!(
                "round trip: log_density(unconstrain(values)) = {lp:e}, want {want:e}\n{src}"
            ));
        }
        check_gradient(&mut model, &x, FULL_JACOBIAN).map_err(|e| format!("{e}\n{src}"))?;
        Ok((model, x))
    })
}

fn dist_body(case: &DistCase) -> String {
    let suffix = if case.kind == "lpmf" { "lpmf" } else { "lpdf" };
    let function = match case.kind.as_str() {
        "lcdf" | "lccdf" => format!("{}_{}", case.dist, case.kind),
        _ => format!("{}_{suffix}", case.dist),
    };
    if case.kind == "truncated" {
        return format!("  {}", sampling(case));
    }
    if case.args.is_empty() {
        format!("  target += {function}({});", case.variate)
    } else {
        format!(
            "  target += {function}({} | {});",
            case.variate,
            case.args.join(", ")
        )
    }
}

fn sampling(case: &DistCase) -> String {
    let mut s = format!("{} ~ {}({})", case.variate, case.dist, case.args.join(", "));
    if let Some((lower, upper)) = &case.truncation {
        s.push_str(&format!(
            " T[{}, {}]",
            lower.as_deref().unwrap_or(""),
            upper.as_deref().unwrap_or("")
        ));
    }
    s.push(';');
    s
}

/// `~` with propto = true may drop only parameter-free terms: its gradient equals the full
/// gradient, differences of its value between two points equal those of the full density, and
/// `log_density` agrees with the value `log_density_gradient` returns.
fn check_propto(
    full: &mut Model,
    case: &DistCase,
    decls: &[Decl],
    params: &[String],
    data: &Data,
    x: &[f64],
) -> Result<(), String> {
    let (data_decls, param_decls) = split_decls(decls, params);
    let src = program(&data_decls, &param_decls, &format!("  {}", sampling(case)));
    let mut propto = compile(&src, data)?;
    let mut g_full = vec![0.0; x.len()];
    let mut g_propto = vec![0.0; x.len()];
    let mut scratch = vec![0.0; x.len()];
    let lp_full_x = full
        .log_density_gradient(x, FULL_JACOBIAN, &mut g_full)
        .map_err(|e| format!("{e}"))?;
    // A second point close by; closer when data bounds (uniform) leave little room.
    let (y, lp_full_y) = [5e-2, 5e-4, 5e-6, 5e-8]
        .iter()
        .find_map(|step| {
            let y: Vec<f64> = x
                .iter()
                .enumerate()
                .map(|(i, v)| v + step * (1.0 + i as f64).sin())
                .collect();
            let lp = full
                .log_density_gradient(&y, FULL_JACOBIAN, &mut scratch)
                .ok()?;
            Some((y, lp))
        })
        .ok_or_else(|| format!("no point near {x:?} has a finite density\n{src}"))?;
    let lp_propto_x = propto
        .log_density_gradient(x, PROPTO_JACOBIAN, &mut g_propto)
        .map_err(|e| format!("propto gradient: {e}\n{src}"))?;
    let lp_propto_y = propto
        .log_density_gradient(&y, PROPTO_JACOBIAN, &mut scratch)
        .map_err(|e| format!("propto gradient: {e}\n{src}"))?;
    for i in 0..x.len() {
        if !close(g_propto[i], g_full[i], 1e-9, 1e-12) {
            return Err(format!(
                "propto gradient[{i}] = {} but full gradient[{i}] = {}\n{src}",
                g_propto[i], g_full[i]
            ));
        }
    }
    let (d_full, d_propto) = (lp_full_y - lp_full_x, lp_propto_y - lp_propto_x);
    let scale = lp_full_x.abs().max(lp_full_y.abs()).max(1.0);
    if (d_full - d_propto).abs() > 1e-9 * scale {
        return Err(format!(
            "propto dropped a parameter-dependent term: lp(y) - lp(x) is {d_propto} with \
             propto, {d_full} without (values from log_density_gradient)\n{src}"
        ));
    }
    let plain = propto
        .log_density(x, PROPTO_JACOBIAN)
        .map_err(|e| format!("propto log_density: {e}\n{src}"))?;
    if !close(plain, lp_propto_x, 1e-12, 1e-12) {
        return Err(format!(
            "with propto, log_density gives {plain} but log_density_gradient {lp_propto_x}\n{src}"
        ));
    }
    Ok(())
}

#[test]
fn distribution_gradients_match_finite_differences() {
    let mut failures = Failures::default();
    for case in dist_cases().iter().filter(|c| !c.params.is_empty()) {
        // All continuous arguments as parameters, then each one alone (the others data), so
        // kernels with a mix of constant and variable arguments are exercised too.
        let mut subsets = vec![case.params.clone()];
        if case.params.len() > 1 {
            subsets.extend(case.params.iter().map(|p| vec![p.clone()]));
        }
        for params in subsets {
            let decls = decls_for(case, &params);
            let (data_decls, param_decls) = split_decls(&decls, &params);
            let data = data_of(&case.data, data_decls.iter().map(|(_, n)| n));
            let values = data_of(&case.data, params.iter());
            let src = program(&data_decls, &param_decls, &dist_body(case));
            let result =
                check_at_reference(&src, &data, &values, case.lp).and_then(|(mut m, x)| {
                    if matches!(case.kind.as_str(), "lpdf" | "lpmf" | "truncated") {
                        guarded(|| check_propto(&mut m, case, &decls, &params, &data, &x))
                    } else {
                        Ok(())
                    }
                });
            failures.record(&format!("{} parameters {params:?}", case.name), result);
        }
    }
    failures.assert_none("distribution gradients");
}

/// The case's declarations with `params` to become parameters: a data declaration bounded by a
/// parameter loses its bounds (data cannot depend on parameters).
fn decls_for(case: &DistCase, params: &[String]) -> Vec<Decl> {
    case.decls
        .iter()
        .map(|(ty, name)| {
            let is_data = !params.contains(name);
            if is_data && params.iter().any(|p| mentions(ty, p)) {
                (without_bounds(ty), name.clone())
            } else {
                (ty.clone(), name.clone())
            }
        })
        .collect()
}

/// Whether Stan type text mentions the identifier `name`.
fn mentions(ty: &str, name: &str) -> bool {
    ty.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|word| word == name)
}

/// `real<lower=a, upper=b>` -> `real`; `vector<lower=0>[3]` -> `vector[3]`.
fn without_bounds(ty: &str) -> String {
    match (ty.find('<'), ty.rfind('>')) {
        (Some(open), Some(close)) if open < close => format!("{}{}", &ty[..open], &ty[close + 1..]),
        _ => ty.to_string(),
    }
}

/// With the arguments as parameters and the variate as observed data, `log_lik` at the
/// unconstrained image of the reference values gives the reference's pointwise terms.
#[test]
fn pointwise_log_lik_with_parameters_matches_reference() {
    let mut failures = Failures::default();
    for case in dist_cases() {
        let Some(pointwise) = gaussian_loo_reference(&case).or(case.pointwise.clone()) else {
            continue;
        };
        let params: Vec<String> = case
            .params
            .iter()
            .filter(|p| **p != case.variate)
            .cloned()
            .collect();
        if params.is_empty() {
            continue;
        }
        let decls = decls_for(&case, &params);
        let (data_decls, param_decls) = split_decls(&decls, &params);
        let data = data_of(&case.data, data_decls.iter().map(|(_, n)| n));
        let values = data_of(&case.data, params.iter());
        let src = program(&data_decls, &param_decls, &format!("  {}", sampling(&case)));
        let result = guarded(|| {
            let model = compile(&src, &data)?;
            let x = model
                .unconstrain(&values)
                .map_err(|e| format!("unconstrain: {e}\n{src}"))?;
            let got = model
                .log_lik(&x)
                .map_err(|e| format!("log_lik: {e}\n{src}"))?;
            if got.len() != pointwise.len() {
                return Err(format!(
                    "{} terms, want {}\n{src}",
                    got.len(),
                    pointwise.len()
                ));
            }
            for (i, (g, w)) in got.iter().zip(&pointwise).enumerate() {
                if !close(*g, *w, ROUND_TRIP_REL, 1e-10) {
                    return Err(format!("log_lik[{i}] = {g:e}, want {w:e}\n{src}"));
                }
            }
            Ok(())
        });
        failures.record(&case.name, result);
    }
    failures.assert_none("pointwise log_lik with parameters");
}

// ---------------------------------------------------------------------------------------------
// math functions

/// Weight for element `k` of a container result (nonzero, distinct, both signs).
fn weight(k: usize) -> f64 {
    let w = 0.25 + 0.125 * k as f64;
    if k.is_multiple_of(2) {
        w
    } else {
        -w
    }
}

/// The program and expected value for a function case with parameters: scalar results are
/// added to the target, containers through a weighted sum of every element.
fn fn_gradient_program(case: &FnCase, params: &[String]) -> (String, f64) {
    let (data_decls, param_decls) = split_decls(&case.decls, params);
    let dv = common::data_value(&case.value);
    let ty = &case.result_type;
    if ty == "real" || ty == "int" {
        let src = program(
            &data_decls,
            &param_decls,
            &format!("  target += {};", case.expr),
        );
        return (src, dv.values[0]);
    }
    let mut terms = Vec::new();
    let mut want = 0.0;
    for (k, v) in dv.values.iter().enumerate() {
        let index = common::stan_index(&dv.dims, k);
        terms.push(format!("{} * value{index}", common::literal(weight(k))));
        want += weight(k) * v;
    }
    let body = format!(
        "  {ty} value = {};\n  target += {};",
        case.expr,
        terms.join(" + ")
    );
    (program(&data_decls, &param_decls, &body), want)
}

#[test]
fn function_gradients_match_finite_differences() {
    let mut failures = Failures::default();
    for case in fn_cases().iter().filter(|c| !c.params.is_empty()) {
        // All differentiable inputs as parameters, then each alone (the others data).
        let mut subsets = vec![case.params.clone()];
        if case.params.len() > 1 {
            subsets.extend(case.params.iter().map(|p| vec![p.clone()]));
        }
        for params in subsets {
            let (data_decls, _) = split_decls(&case.decls, &params);
            let data = data_of(&case.data, data_decls.iter().map(|(_, n)| n));
            let values = data_of(&case.data, params.iter());
            let (src, want) = fn_gradient_program(case, &params);
            failures.record(
                &format!("{} parameters {params:?}", case.name),
                check_at_reference(&src, &data, &values, want).map(|_| ()),
            );
        }
    }
    failures.assert_none("function gradients");
}

// ---------------------------------------------------------------------------------------------
// composite models at random unconstrained points

struct Composite {
    name: &'static str,
    data: &'static str,
    src: &'static str,
}

const COMPOSITES: &[Composite] = &[
    Composite {
        name: "user functions: _lpdf under ~, recursion, overloads, _lp, void",
        data: r#"{"N": 3, "y": [0.3, -1.1, 2.0], "k": [1, 0, 1]}"#,
        src: "functions {
  real halving_sum(real x, int n);
  real my_normal_lpdf(vector y, real mu, real sigma) {
    return normal_lpdf(y | mu, sigma);
  }
  real my_bern_lpmf(array[] int k, real theta) {
    real lp = 0;
    for (i in 1:size(k)) {
      lp += k[i] == 1 ? log(theta) : log1m(theta);
    }
    return lp;
  }
  real sq(real x) { return x * x; }
  vector sq(vector x) { return x .* x; }
  real halving_sum(real x, int n) {
    if (n == 0) {
      return x;
    }
    return x + halving_sum(x / 2, n - 1);
  }
  void tau_prior_lp(real tau) {
    tau ~ normal(0, 1);
  }
  void check_scale(data real lower, real s) {
    if (s <= lower) reject(\"scale must be positive\");
  }
}
data { int N; vector[N] y; array[N] int k; }
parameters { real mu; real<lower=0> sigma; real tau; real<lower=0, upper=1> theta; }
model {
  check_scale(0, sigma);
  y ~ my_normal(mu + halving_sum(tau, 3), sigma);
  k ~ my_bern(theta);
  target += -0.5 * sq(mu) - 0.1 * sum(sq(y - mu));
  tau_prior_lp(tau);
  target += my_normal_lupdf(y | tau, 2);
}",
    },
    Composite {
        name: "eight_schools_noncentered_offset_multiplier",
        data: r#"{"J": 4, "y": [28.0, 8.0, -3.0, 7.0], "sigma": [15.0, 10.0, 16.0, 11.0]}"#,
        src: "data { int<lower=0> J; array[J] real y; array[J] real<lower=0> sigma; }
parameters { real mu; real<lower=0> tau; vector<offset=mu, multiplier=tau>[J] theta; }
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}",
    },
    Composite {
        name: "lkj_multi_normal_cholesky",
        data: r#"{"N": 4, "y": [[0.1, -0.3, 1.2], [1.0, 0.4, -0.2], [-0.7, 0.0, 0.5], [0.3, 0.9, 1.1]]}"#,
        src: "data { int<lower=1> N; array[N] vector[3] y; }
parameters { cholesky_factor_corr[3] L; vector<lower=0>[3] s; vector[3] m; }
model {
  L ~ lkj_corr_cholesky(2.0);
  s ~ exponential(1);
  m ~ normal(0, 2);
  y ~ multi_normal_cholesky(m, diag_pre_multiply(s, L));
}",
    },
    Composite {
        name: "gaussian_process_cholesky",
        data: r#"{"N": 5, "x": [-2.0, -1.0, 0.0, 1.5, 3.0], "y": [0.5, 0.9, 0.1, -0.6, -1.1]}"#,
        src: "data { int<lower=1> N; array[N] real x; vector[N] y; }
parameters { real<lower=0> rho; real<lower=0> alpha; real<lower=0> sigma; }
model {
  matrix[N, N] K = gp_exp_quad_cov(x, alpha, rho);
  for (n in 1:N) {
    K[n, n] = K[n, n] + square(sigma);
  }
  rho ~ inv_gamma(5, 5);
  alpha ~ std_normal();
  sigma ~ std_normal();
  y ~ multi_normal_cholesky(rep_vector(0, N), cholesky_decompose(K));
}",
    },
    Composite {
        name: "gp_multi_normal_gp_exp_quad_cov",
        data: r#"{"N": 3, "x": [0.0, 0.7, 2.0], "y": [1.0, 0.4, -0.3]}"#,
        src: "data { int<lower=1> N; array[N] real x; vector[N] y; }
parameters { real<lower=0> rho; real<lower=0> alpha; }
model {
  matrix[N, N] K = gp_exp_quad_cov(x, alpha, rho) + diag_matrix(rep_vector(0.1, N));
  rho ~ gamma(2, 2);
  alpha ~ normal(0, 1);
  y ~ multi_normal(rep_vector(0, N), K);
}",
    },
    Composite {
        name: "binomial_logit_regression",
        data: r#"{"N": 4, "K": 2, "n": [3, 0, 7, 5], "T": [10, 4, 9, 5], "X": [[1.0, 0.5], [-0.3, 2.0], [0.8, -1.0], [0.0, 0.1]]}"#,
        src: "data { int N; int K; array[N] int<lower=0> n; array[N] int<lower=0> T; matrix[N, K] X; }
parameters { real a; vector[K] beta; }
model {
  a ~ student_t(3, 0, 2.5);
  beta ~ double_exponential(0, 1);
  n ~ binomial_logit(T, X * beta + a);
}",
    },
    Composite {
        name: "ordered_mixture_log_mix",
        data: r#"{"N": 5, "y": [-1.2, -0.8, 2.9, 3.4, 0.1]}"#,
        src: "data { int N; vector[N] y; }
parameters { ordered[2] mu; real<lower=0> s; real<lower=0, upper=1> lambda; }
model {
  mu ~ normal(0, 3);
  s ~ lognormal(0, 1);
  lambda ~ beta(2, 2);
  for (n in 1:N) {
    target += log_mix(lambda, normal_lpdf(y[n] | mu[1], s), normal_lpdf(y[n] | mu[2], s));
  }
}",
    },
    Composite {
        name: "softmax_categorical_and_dirichlet",
        data: r#"{"N": 4, "y": [1, 3, 2, 3], "x": [0.5, -1.0, 2.0, 0.0]}"#,
        src: "data { int N; array[N] int<lower=1, upper=3> y; array[N] real x; }
parameters { vector[3] beta; simplex[3] base; }
model {
  beta ~ normal(0, 1);
  base ~ dirichlet(rep_vector(2.0, 3));
  for (n in 1:N) {
    y[n] ~ categorical(softmax(beta * x[n] + log(base)));
  }
}",
    },
    Composite {
        name: "control_flow_and_compound_assignment",
        data: r#"{"N": 3, "y": [4, 0, 2]}"#,
        src: "data { int N; array[N] int<lower=0> y; }
parameters { real<lower=0> lambda; positive_ordered[2] scale; }
model {
  real acc = 0;
  int i = 1;
  while (i <= N) {
    if (y[i] > 0) {
      acc += poisson_lpmf(y[i] | lambda * scale[2]);
    } else {
      acc += poisson_log_lpmf(y[i] | log(lambda) + log(scale[1]));
    }
    i += 1;
  }
  target += acc;
  scale ~ weibull(1.5, 2.0);
  lambda ~ chi_square(3);
}",
    },
    Composite {
        name: "cov_matrix_parameter_and_neg_binomial",
        data: r#"{"y": [[0.2, -0.1], [1.0, 0.4]], "k": [3, 8]}"#,
        src: "data { array[2] vector[2] y; array[2] int<lower=0> k; }
parameters { cov_matrix[2] Sigma; real<lower=0> mu; real<lower=0> phi; }
model {
  y ~ multi_normal(rep_vector(0, 2), Sigma);
  k ~ neg_binomial_2(mu, phi);
  k ~ neg_binomial_2_log(log(mu) - 0.1, phi);
  mu ~ inv_gamma(3, 4);
  phi ~ exponential(0.5);
}",
    },
    Composite {
        name: "bounded_by_parameters_uniform",
        data: r#"{"y": [0.4, 1.2]}"#,
        src: "data { array[2] real y; }
parameters { real<upper=0.4> lo; real<lower=1.2> hi; real<lower=lo, upper=hi> z; }
model {
  y ~ uniform(lo, hi);
  z ~ logistic(0.5, 1);
  lo ~ normal(0, 1);
  hi ~ normal(2, 1);
}",
    },
];

#[test]
fn composite_model_gradients_match_finite_differences() {
    let mut failures = Failures::default();
    let mut rng = ChaCha8Rng::seed_from_u64(20_261_121);
    for composite in COMPOSITES {
        let data = common::data_from_json(composite.data);
        let points: Vec<Vec<f64>> = (0..3)
            .map(|_| (0..64).map(|_| rng.random_range(-1.5..1.5)).collect())
            .collect();
        for (p, point) in points.iter().enumerate() {
            for opts in [FULL_JACOBIAN, PROPTO_JACOBIAN, FULL] {
                let result = guarded(|| {
                    let mut model = compile(composite.src, &data)?;
                    let x = &point[..model.dim()];
                    check_gradient(&mut model, x, opts)
                });
                failures.record(&format!("{} point {p} {opts:?}", composite.name), result);
            }
        }
    }
    failures.assert_none("composite model gradients");
}

/// The finite-difference check itself: it accepts the true derivative of smooth functions
/// (including one with a kink close by and one with a short length scale) and rejects one off
/// by 1e-5 relative.
#[test]
fn finite_difference_check_accepts_true_and_rejects_wrong_derivatives() {
    type Case = (&'static str, fn(f64) -> f64, f64, f64);
    let cases: [Case; 4] = [
        (
            "sin*exp",
            |x| x.sin() * x.exp(),
            0.7,
            0.7f64.exp() * (0.7f64.sin() + 0.7f64.cos()),
        ),
        ("kink near x", |x| (x - 1e-6).abs() * 3.0 + x, 3e-6, 4.0),
        (
            "short scale",
            |x| (-(x / 1e-4).powi(2)).exp(),
            5e-5,
            -2.0 * 5e-5 / 1e-8 * (-0.25f64).exp(),
        ),
        ("large x", |x| 1e9 * x.ln(), 1e9, 1.0),
    ];
    for (name, f, x, truth) in cases {
        let mut along = |t: f64| Some(f(t));
        let estimates = common::derivative_estimates(&mut along, x);
        assert!(
            estimates.iter().any(|&e| common::agrees(truth, e)),
            "{name}: true derivative {truth} rejected, estimates {estimates:?}"
        );
        let wrong = truth * (1.0 + 1e-5);
        assert!(
            !estimates.iter().any(|&e| common::agrees(wrong, e)),
            "{name}: wrong derivative {wrong} accepted, estimates {estimates:?}"
        );
        let (d, _) = common::derivative(&mut along, x);
        assert!(
            (d - truth).abs() <= 1e-7 * truth.abs(),
            "{name}: derivative {d}, want {truth}"
        );
    }
}
