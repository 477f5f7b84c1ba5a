//! Unit tests of the model crate: gradients against central finite differences for every
//! function, distribution and transform; closed-form log densities; layouts; log_lik;
//! simulation; write_array.

use crate::{LogDensityOptions, Model, ModelError};
use rand::SeedableRng;
use refinestat_language::Data;

const FULL: LogDensityOptions = LogDensityOptions {
    jacobian: true,
    propto: false,
};
const NOJAC: LogDensityOptions = LogDensityOptions {
    jacobian: false,
    propto: false,
};
const PROPTO: LogDensityOptions = LogDensityOptions {
    jacobian: true,
    propto: true,
};

fn build(src: &str, data: &str) -> Result<Model, ModelError> {
    let p = refinestat_language::parse(src);
    assert!(p.errors.is_empty(), "parse errors: {:?}", p.errors);
    let d = Data::from_json_str(data).expect("data json");
    Model::new(&p.program, &d)
}

fn model(src: &str, data: &str) -> Model {
    build(src, data).unwrap_or_else(|e| panic!("compile: {e}\n{src}"))
}

fn lp(m: &Model, x: &[f64], o: LogDensityOptions) -> f64 {
    m.log_density(x, o)
        .unwrap_or_else(|e| panic!("log_density: {e}"))
}

/// Gradient vs central finite differences, relative tolerance `tol`.
fn check_grad(src: &str, data: &str, x: &[f64], opts: LogDensityOptions, tol: f64) {
    let mut m = model(src, data);
    assert_eq!(m.dim(), x.len(), "dim of {src}");
    let mut g = vec![0.0; x.len()];
    let v = m
        .log_density_gradient(x, opts, &mut g)
        .unwrap_or_else(|e| panic!("gradient: {e}\n{src}"));
    let v2 = lp(&m, x, opts);
    assert!((v - v2).abs() <= 1e-12 * (1.0 + v.abs()), "{v} vs {v2}");
    for i in 0..x.len() {
        let h = 1e-6 * (1.0 + x[i].abs());
        let mut xp = x.to_vec();
        let mut xm = x.to_vec();
        xp[i] += h;
        xm[i] -= h;
        // Richardson extrapolation for a tighter reference.
        let d1 = (lp(&m, &xp, opts) - lp(&m, &xm, opts)) / (2.0 * h);
        let mut xp2 = x.to_vec();
        let mut xm2 = x.to_vec();
        xp2[i] += 2.0 * h;
        xm2[i] -= 2.0 * h;
        let d2 = (lp(&m, &xp2, opts) - lp(&m, &xm2, opts)) / (4.0 * h);
        let fd = (4.0 * d1 - d2) / 3.0;
        let err = (g[i] - fd).abs();
        assert!(
            err <= tol * (1.0 + g[i].abs().max(fd.abs())),
            "d/dx[{i}]: ad {} fd {fd} (err {err})\n{src}",
            g[i]
        );
    }
}

fn grad_ok(src: &str, data: &str, x: &[f64]) {
    check_grad(src, data, x, FULL, 1e-6);
    check_grad(src, data, x, PROPTO, 1e-6);
}

#[test]
fn normal_closed_form() {
    let m = model(
        "data { real y; real mu; real sigma; } model { target += normal_lpdf(y | mu, sigma); }",
        r#"{"y": 0.3, "mu": 0.1, "sigma": 2.0}"#,
    );
    let expect =
        -0.5 * (0.2f64 / 2.0).powi(2) - 2f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
    assert!((lp(&m, &[], FULL) - expect).abs() < 1e-14);
    assert_eq!(m.dim(), 0);
}

#[test]
fn tilde_propto_drops_constants_only_when_asked() {
    let src = "data { real y; } parameters { real mu; } model { y ~ normal(mu, 2); }";
    let m = model(src, r#"{"y": 1.0}"#);
    let full = lp(&m, &[0.5], NOJAC);
    let prop = lp(&m, &[0.5], PROPTO);
    let kernel = -0.5 * (0.5f64 / 2.0).powi(2);
    assert!((prop - kernel).abs() < 1e-14);
    assert!((full - (kernel - 2f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln())).abs() < 1e-14);
}

#[test]
fn continuous_distributions_gradients() {
    let cases: &[(&str, &[f64])] = &[
        ("y ~ normal(a, exp(b));", &[0.3, -0.2]),
        ("target += normal_lpdf(y | a, exp(b));", &[0.3, -0.2]),
        ("target += normal_lupdf(y | a, exp(b));", &[0.3, -0.2]),
        (
            "y ~ std_normal(); a ~ std_normal(); b ~ normal(0, 1);",
            &[0.3, -0.2],
        ),
        ("y ~ student_t(3 + exp(b), a, 1.5);", &[0.3, 0.4]),
        ("y ~ student_t(4, a, exp(b));", &[0.3, 0.4]),
        ("y ~ cauchy(a, exp(b));", &[0.3, -0.2]),
        ("y ~ double_exponential(a, exp(b));", &[0.3, -0.2]),
        ("y ~ logistic(a, exp(b));", &[0.3, -0.2]),
        ("yp ~ lognormal(a, exp(b));", &[0.3, -0.2]),
        ("yp ~ exponential(exp(a)); b ~ normal(0, 1);", &[0.3, -0.2]),
        ("yp ~ gamma(exp(a), exp(b));", &[0.3, -0.2]),
        ("yp ~ inv_gamma(exp(a), exp(b));", &[0.3, -0.2]),
        ("yp ~ weibull(exp(a), exp(b));", &[0.3, -0.2]),
        ("yu ~ beta(exp(a), exp(b));", &[0.3, -0.2]),
        ("yu ~ uniform(a - 2, exp(b) + 1);", &[0.3, -0.2]),
        ("yp ~ chi_square(exp(a)); b ~ normal(0, 1);", &[0.3, -0.2]),
        (
            "exp(a) ~ gamma(2, 3); exp(b) ~ inv_gamma(2, 1);",
            &[0.3, -0.2],
        ),
        (
            "exp(a) ~ chi_square(3); inv_logit(b) ~ beta(2, 3);",
            &[0.3, -0.2],
        ),
        (
            "exp(a) ~ weibull(1.5, 2); exp(b) ~ lognormal(0.1, 0.7);",
            &[0.3, -0.2],
        ),
        (
            "a ~ student_t(3, 0.2, 1.1); b ~ cauchy(0.1, 0.5);",
            &[0.3, -0.2],
        ),
        (
            "a ~ double_exponential(0.2, 1.1); b ~ logistic(0.1, 0.5);",
            &[0.3, -0.2],
        ),
        (
            "exp(a) ~ exponential(2); inv_logit(b) ~ uniform(0, 1);",
            &[0.3, -0.2],
        ),
    ];
    for (stmt, x) in cases {
        let src = format!(
            "data {{ real y; real<lower=0> yp; real<lower=0, upper=1> yu; vector[3] v; }} \
             parameters {{ real a; real b; }} model {{ {stmt} }}"
        );
        grad_ok(
            &src,
            r#"{"y": 0.7, "yp": 1.3, "yu": 0.35, "v": [0.1, -0.4, 1.2]}"#,
            x,
        );
    }
}

#[test]
fn vectorised_distributions_gradients() {
    let data = r#"{"N": 3, "y": [0.1, -0.4, 1.2], "yp": [0.5, 1.5, 2.5], "k": [0, 3, 1],
                  "n": [2, 5, 3], "z": [1, 0, 1]}"#;
    let decls = "data { int N; vector[N] y; vector[N] yp; array[N] int k; array[N] int n; \
                 array[N] int z; } parameters { vector[N] m; real<lower=0> s; } model { ";
    let x = [0.2, -0.3, 0.5, -0.4];
    for stmt in [
        "y ~ normal(m, s);",
        "y ~ normal(m[1], s);",
        "m ~ normal(0, s); y ~ normal(m, 1.5);",
        "y ~ student_t(5, m, s);",
        "yp ~ lognormal(m, s);",
        "yp ~ gamma(exp(m), s);",
        "k ~ poisson(exp(m)); s ~ exponential(1);",
        "k ~ poisson_log(m); s ~ exponential(1);",
        "k ~ neg_binomial_2(exp(m), s);",
        "k ~ neg_binomial_2_log(m, s);",
        "k ~ binomial(n, inv_logit(m)); s ~ gamma(2, 2);",
        "k ~ binomial_logit(n, m); s ~ gamma(2, 2);",
        "z ~ bernoulli(inv_logit(m)); s ~ gamma(2, 2);",
        "z ~ bernoulli_logit(m * s);",
        "target += poisson_lpmf(k | exp(m)) + normal_lpdf(s | 1, 2);",
        "target += bernoulli_logit_lupmf(z | m) + gamma_lupdf(s | 2, 1);",
    ] {
        grad_ok(&format!("{decls}{stmt} }}"), data, &x);
    }
}

#[test]
fn discrete_closed_forms() {
    let m = model(
        "data { int k; int n; } model { target += binomial_lpmf(k | n, 0.3) + poisson_lpmf(k | 2.5) \
         + neg_binomial_2_lpmf(k | 2.0, 3.0) + bernoulli_logit_lpmf(1 | 0.4); }",
        r#"{"k": 2, "n": 5}"#,
    );
    let ln = |x: f64| x.ln();
    let binom = ln(10.0) + 2.0 * ln(0.3) + 3.0 * ln(0.7);
    let pois = 2.0 * ln(2.5) - 2.5 - ln(2.0);
    // NB2(k | mu, phi) = C(k + phi - 1, k) (mu/(mu+phi))^k (phi/(mu+phi))^phi; C(4, 2) = 6.
    let nb = ln(6.0) + 2.0 * ln(2.0 / 5.0) + 3.0 * ln(3.0 / 5.0);
    let bl = -(1.0 + (-0.4f64).exp()).ln();
    let expect = binom + pois + nb + bl;
    assert!(
        (lp(&m, &[], FULL) - expect).abs() < 1e-12,
        "{} vs {expect}",
        lp(&m, &[], FULL)
    );
}

#[test]
fn multivariate_distributions_gradients() {
    let data = r#"{"K": 3, "y": [0.3, -0.2, 0.5], "ys": [[0.3, -0.2, 0.5], [1.0, 0.1, -0.7]],
                  "c": [1, 3, 2, 3]}"#;
    let head = "data { int K; vector[K] y; array[2] vector[K] ys; array[4] int c; } ";
    grad_ok(
        &format!("{head} parameters {{ vector[K] mu; cov_matrix[K] S; }} model {{ y ~ multi_normal(mu, S); ys ~ multi_normal(mu, S); S[1,1] ~ gamma(2, 1); }}"),
        data,
        &[0.1, 0.2, -0.1, 0.1, 0.2, -0.3, 0.1, 0.05, 0.2],
    );
    grad_ok(
        &format!("{head} parameters {{ vector[K] mu; cholesky_factor_corr[K] L; vector<lower=0>[K] tau; }} model {{ L ~ lkj_corr_cholesky(2.5); tau ~ cauchy(0, 2); ys ~ multi_normal_cholesky(mu, diag_pre_multiply(tau, L)); y ~ multi_normal_cholesky(mu, diag_pre_multiply(tau, L)); }}"),
        data,
        &[0.1, 0.2, -0.1, 0.3, -0.2, 0.4, 0.1, -0.2, 0.3],
    );
    grad_ok(
        &format!("{head} parameters {{ simplex[K] th; real<lower=0> e; }} model {{ th ~ dirichlet(rep_vector(e, K)); c ~ categorical(th); e ~ gamma(2, 1); }}"),
        data,
        &[0.1, -0.3, 0.4],
    );
    grad_ok(
        &format!("{head} parameters {{ vector[K] b; real<lower=0> eta; }} model {{ c ~ categorical_logit(b); b ~ normal(0, 1); eta ~ gamma(2, 1); target += lkj_corr_cholesky_lpdf(diag_matrix(rep_vector(1, K)) | eta); }}"),
        data,
        &[0.1, -0.3, 0.4, 0.2],
    );
}

#[test]
fn multi_normal_closed_form() {
    // Bivariate normal with correlation 0.5, unit variances, at (1, 0) with zero mean:
    // Q = (x1^2 - 2 rho x1 x2 + x2^2) / (1 - rho^2) = 4/3, log det = ln(0.75).
    let m = model(
        "data { vector[2] y; matrix[2,2] S; } model { target += multi_normal_lpdf(y | rep_vector(0, 2), S); \
         target += multi_normal_cholesky_lpdf(y | rep_vector(0, 2), cholesky_decompose(S)); }",
        r#"{"y": [1.0, 0.0], "S": [[1.0, 0.5], [0.5, 1.0]]}"#,
    );
    let one = -(2.0 * std::f64::consts::PI).ln() - 0.5 * 0.75f64.ln() - 0.5 * 4.0 / 3.0;
    assert!((lp(&m, &[], FULL) - 2.0 * one).abs() < 1e-12);
}

#[test]
fn lkj_normalising_constant_k2() {
    // For K = 2 the LKJ density of the correlation r is (1 - r^2)^(eta - 1) / (2^(2 eta - 1) B(eta, eta)).
    let m = model(
        "data { real eta; } parameters { cholesky_factor_corr[2] L; } model { L ~ lkj_corr_cholesky(eta); }",
        r#"{"eta": 2.5}"#,
    );
    let u: f64 = 0.3;
    let r = u.tanh();
    let eta: f64 = 2.5;
    let lbeta = crate::math::lbeta(eta, eta);
    let expect = (eta - 1.0) * (1.0 - r * r).ln() - (2.0 * eta - 1.0) * 2f64.ln() - lbeta;
    assert!((lp(&m, &[u], NOJAC) - expect).abs() < 1e-12);
    // The Jacobian of tanh.
    assert!((lp(&m, &[u], FULL) - expect - (1.0 - r * r).ln()).abs() < 1e-12);
}

#[test]
fn cdfs_and_truncation_gradients() {
    let data = r#"{"y": 0.7, "yp": 1.3, "k": 3, "v": [0.1, 0.5, 1.5], "kk": [1, 0, 4]}"#;
    let head = "data { real y; real<lower=0> yp; int k; vector[3] v; array[3] int kk; } parameters { real a; real<lower=0> b; } model { ";
    let x = [0.3, 0.2];
    for stmt in [
        "y ~ normal(a, b) T[-1, 2];",
        "y ~ normal(a, b) T[0, ];",
        "y ~ normal(a, b) T[, 1.5];",
        "yp ~ lognormal(a, b) T[0.5, 3];",
        "yp ~ exponential(b) T[0.2, 4]; a ~ normal(0, 1);",
        "yp ~ gamma(b + 1, exp(a)) T[0.1, 5];",
        "y ~ student_t(3, a, b) T[-2, 2];",
        "y ~ cauchy(a, b) T[-2, 2];",
        "k ~ poisson(exp(a) + b) T[1, 8];",
        "k ~ poisson(exp(a) + b) T[1, ];",
        "v ~ normal([a, b, 0.5]', b) T[-1, 2];",
        "v ~ normal(a, [b, b + 1, 1.5]') T[[-2, -1, -3]', 3];",
        "kk ~ poisson([exp(a), b, 1.5]') T[, 8];",
        "target += normal_lcdf(y | a, b) + normal_lccdf(yp | a, b) + log(normal_cdf(y | a, b));",
        "target += logistic_lcdf(y | a, b) + cauchy_lccdf(yp | a, b) + weibull_lcdf(yp | b, exp(a));",
        "target += double_exponential_lcdf(y | a, b) + exponential_lccdf(yp | b) + gamma_lcdf(yp | 2, b);",
    ] {
        grad_ok(&format!("{head}{stmt} }}"), data, &x);
    }
}

#[test]
fn truncated_normal_closed_form() {
    let m = model(
        "data { real y; } model { y ~ normal(0, 1) T[0, ]; }",
        r#"{"y": 0.5}"#,
    );
    let expect = -0.5 * 0.25 - 0.5 * (2.0 * std::f64::consts::PI).ln() + 2f64.ln();
    assert!((lp(&m, &[], FULL) - expect).abs() < 1e-12);
    // A value outside the truncation is an evaluation error, not a panic.
    let m = model(
        "data { real y; } model { y ~ normal(0, 1) T[0, ]; }",
        r#"{"y": -0.5}"#,
    );
    assert!(matches!(m.log_density(&[], FULL), Err(ModelError::Eval(_))));
}

#[test]
fn math_functions_gradients() {
    let data = r#"{"N": 3, "x": [0.1, -0.4, 1.2], "M": [[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]]}"#;
    let head = "data { int N; array[N] real x; matrix[2, N] M; } parameters { real<lower=0.1, upper=0.9> p; real a; vector[N] v; } model { ";
    let x = [0.2, 0.3, -0.5, 0.4, 0.7];
    let exprs = [
        "exp(a) + log(p) + log2(p) + log10(p) + log1p(p) + expm1(a)",
        "sqrt(p) + square(a) + pow(p, a) + p ^ 2.5 + 2 ^ a + fabs(a) + abs(a - 1)",
        "min(a, p) + max(a, p) + fmin(a, 0.1) + fmax(a, p) + min(v) + max(v)",
        "inv_logit(a) + logit(p) + log_inv_logit(a) + log1m(p) + lgamma(p + a) + log1m_inv_logit(a)",
        "log_mix(p, a, 2 * a) + log_mix(softmax(v), v) + log_sum_exp(a, p) + log_sum_exp(v)",
        "sum(v) + mean(v) + sd(v) + variance(v) + dot_product(v, v) + dot_self(v) + prod(v)",
        "sum(exp(v)) + sum(log1p_exp(v)) + sum(inv_logit(v)) + sum(square(v)) + sum(fabs(v))",
        "sum(cumulative_sum(v)) * a + sum(softmax(v) .* v) + sum(log_softmax(v)) * p",
        "sum(v .* v ./ (1 + exp(v))) + sum(v / p) + sum(p * v) + sum(v - a) + sum(a - v)",
        "sum(M * v) + sum((M * v)' * M) + sum(v' * v) + sum(v * v') + sum(rep_vector(a, 3) .* v)",
        "sum(to_vector(rep_array(a, 2))) + sum(diag_matrix(v)) + sum(diag_pre_multiply(v, diag_matrix(v)))",
        "sum(cholesky_decompose(add_diag(tcrossprod(to_matrix_helper), 1.5)))",
        "sum(gp_exp_quad_cov(x, p, exp(a))) + sum(gp_exp_quad_cov(x, exp(a), p))",
        "sum(multiply_lower_tri_self_transpose(diag_matrix(v))) + sum(crossprod(M) * v)",
        "tanh(a) + sin(a) + cos(a) + atan(a) + erf(a) + erfc(a) + Phi(a) + Phi_approx(a) + inv(p) + inv_sqrt(p)",
        "lbeta(p, p + a * a) + hypot(a, p) + fma(a, p, a) + log_diff_exp(a + 2, a) + sum(head(v, 2)) + sum(tail(v, 1)) * a",
        "a > 0 ? a * p : -a * p + sum(segment(v, 2, 2)) + sum(reverse(v) .* v) + sum(append_row(v, a) .* append_row(v, a))",
        "sum(v[2:3]) * a + v[1] * v[3] + sum(v[{3, 1}] .* v[1:2]) + sum(M[1] * v) + sum(col(M, 2)) + sum(row(M, 1)) * a",
        "sum(sort_asc(v) .* [1, 2, 3]') + sum(block(M, 1, 1, 2, 2)) + sum(columns_dot_self(diag_matrix(v))) + sum(rows_dot_self(diag_matrix(v)))",
        "sum(append_col(v, v) * [a, p]') + sum(diagonal(diag_matrix(v))) + sum(to_row_vector(v) * v) + sum(rep_matrix(v, 2))",
    ];
    for e in exprs {
        let e = e.replace(
            "to_matrix_helper",
            "append_col(append_col(v, exp(v)), rep_vector(a, 3))",
        );
        grad_ok(&format!("{head} target += {e}; }}"), data, &x);
    }
}

#[test]
fn transforms_gradients_and_round_trip() {
    let cases: &[(&str, &str, &[f64])] = &[
        ("real<lower=1.5> a;", "a ~ normal(2, 1);", &[0.3]),
        ("real<upper=-1> a;", "a ~ normal(-2, 1);", &[0.3]),
        ("real<lower=-1, upper=3> a;", "a ~ normal(0, 1);", &[0.3]),
        (
            "real<offset=1, multiplier=3> a;",
            "a ~ normal(1, 3);",
            &[0.3],
        ),
        (
            "vector<lower=0>[3] a;",
            "a ~ gamma(2, 1);",
            &[0.3, -0.2, 0.1],
        ),
        (
            "array[2] real<lower=0, upper=1> a;",
            "a ~ beta(2, 3);",
            &[0.3, -0.2],
        ),
        (
            "real m; real<lower=m> a;",
            "m ~ normal(0, 1); a ~ normal(m + 1, 1);",
            &[0.3, -0.2],
        ),
        (
            "real<lower=0> s; vector<offset=1, multiplier=s>[2] a;",
            "s ~ gamma(2, 2); a ~ normal(1, s);",
            &[0.3, -0.2, 0.5],
        ),
        (
            "simplex[4] a;",
            "a ~ dirichlet([1.5, 2, 3, 1]');",
            &[0.3, -0.2, 0.5],
        ),
        (
            "array[2] simplex[3] a;",
            "a[1] ~ dirichlet([1.5, 2, 3]'); a[2] ~ dirichlet([2, 2, 2]');",
            &[0.3, -0.2, 0.5, 0.1],
        ),
        ("ordered[3] a;", "a ~ normal(0, 2);", &[0.3, -0.2, 0.5]),
        (
            "positive_ordered[3] a;",
            "a ~ gamma(2, 1);",
            &[0.3, -0.2, 0.5],
        ),
        (
            "cholesky_factor_corr[3] a;",
            "a ~ lkj_corr_cholesky(2);",
            &[0.3, -0.2, 0.5],
        ),
        (
            "cov_matrix[2] a;",
            "target += -0.5 * trace_helper;",
            &[0.3, -0.2, 0.5],
        ),
        (
            "matrix<lower=0>[2, 2] a;",
            "to_vector(a) ~ exponential(1);",
            &[0.3, -0.2, 0.5, 0.1],
        ),
    ];
    for (decl, stmt, x) in cases {
        let stmt = stmt.replace("trace_helper", "(a[1, 1] + a[2, 2]) + a[1, 2]");
        let src = format!("parameters {{ {decl} }} model {{ {stmt} }}");
        grad_ok(&src, "{}", x);
        check_grad(&src, "{}", x, NOJAC, 1e-6);
        // Constrain then unconstrain.
        let m = model(&src, "{}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let vals = m.write_array(x, &mut rng).expect("write_array");
        let names = m.param_names();
        assert_eq!(names.len(), vals.len());
        let data = params_to_data(&m, &vals);
        let back = m
            .unconstrain(&data)
            .unwrap_or_else(|e| panic!("{e}: {src}"));
        for (a, b) in back.iter().zip(x.iter()) {
            assert!((a - b).abs() < 1e-9, "round trip {a} vs {b} for {src}");
        }
    }
}

/// Rebuild JSON-shaped parameter values from write_array output (column-major, via names).
fn params_to_data(m: &Model, vals: &[f64]) -> Data {
    let names = m.param_names();
    let mut groups: std::collections::BTreeMap<String, Vec<(Vec<usize>, f64)>> = Default::default();
    for (n, v) in names.iter().zip(vals) {
        let (base, idx) = match n.find('[') {
            Some(i) => (
                n[..i].to_string(),
                n[i + 1..n.len() - 1]
                    .split(',')
                    .map(|s| s.parse::<usize>().unwrap() - 1)
                    .collect(),
            ),
            None => (n.clone(), vec![]),
        };
        groups.entry(base).or_default().push((idx, *v));
    }
    let mut json = serde_json::Map::new();
    for (name, elems) in groups {
        if elems[0].0.is_empty() {
            json.insert(name, serde_json::json!(elems[0].1));
            continue;
        }
        let nd = elems[0].0.len();
        let dims: Vec<usize> = (0..nd)
            .map(|d| elems.iter().map(|(i, _)| i[d]).max().unwrap() + 1)
            .collect();
        fn build(
            dims: &[usize],
            prefix: &mut Vec<usize>,
            elems: &[(Vec<usize>, f64)],
        ) -> serde_json::Value {
            if prefix.len() == dims.len() {
                let v = elems.iter().find(|(i, _)| i == prefix).unwrap().1;
                return serde_json::json!(v);
            }
            let mut arr = vec![];
            for k in 0..dims[prefix.len()] {
                prefix.push(k);
                arr.push(build(dims, prefix, elems));
                prefix.pop();
            }
            serde_json::Value::Array(arr)
        }
        json.insert(name, build(&dims, &mut vec![], &elems));
    }
    Data::from_json_str(&serde_json::Value::Object(json).to_string()).unwrap()
}

const EIGHT_SCHOOLS_NC: &str = "data { int<lower=0> J; array[J] real y; array[J] real<lower=0> sigma; }
parameters { real mu; real<lower=0> tau; vector[J] theta_tilde; }
transformed parameters { vector[J] theta = mu + tau * theta_tilde; }
model { mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta_tilde ~ normal(0, 1); y ~ normal(theta, sigma); }";

const EIGHT_SCHOOLS_DATA: &str = r#"{"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12],
    "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}"#;

fn eight_schools_point() -> Vec<f64> {
    vec![1.5, 0.7, 0.3, -0.2, 0.1, 0.5, -1.0, 0.8, 0.2, -0.4]
}

#[test]
fn eight_schools_lp_and_gradient() {
    let m = model(EIGHT_SCHOOLS_NC, EIGHT_SCHOOLS_DATA);
    assert_eq!(m.dim(), 10);
    let x = eight_schools_point();
    let (mu, tau) = (x[0], x[1].exp());
    let y = [28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0];
    let s = [15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0];
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    let norm = |x: f64, m: f64, sd: f64| -0.5 * ((x - m) / sd).powi(2) - sd.ln() - 0.5 * ln2pi;
    let mut expect = norm(mu, 0.0, 5.0);
    expect += -(std::f64::consts::PI).ln() - 5f64.ln() - (1.0 + (tau / 5.0).powi(2)).ln();
    for j in 0..8 {
        expect += norm(x[2 + j], 0.0, 1.0);
        expect += norm(y[j], mu + tau * x[2 + j], s[j]);
    }
    assert!((lp(&m, &x, NOJAC) - expect).abs() < 1e-11);
    assert!((lp(&m, &x, FULL) - (expect + x[1])).abs() < 1e-11);
    check_grad(EIGHT_SCHOOLS_NC, EIGHT_SCHOOLS_DATA, &x, FULL, 1e-7);
    // log_lik: one term per school, normalizing constants included.
    let ll = m.log_lik(&x).unwrap();
    assert_eq!(m.n_log_lik(), 8);
    for j in 0..8 {
        assert!((ll[j] - norm(y[j], mu + tau * x[2 + j], s[j])).abs() < 1e-12);
    }
    let names = m.output_names();
    assert_eq!(names[0], "mu");
    assert_eq!(names[2], "theta_tilde[1]");
    assert_eq!(names[10], "theta[1]");
    assert_eq!(names.len(), 18);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let out = m.write_array(&x, &mut rng).unwrap();
    assert!((out[1] - tau).abs() < 1e-14);
    assert!((out[10] - (mu + tau * x[2])).abs() < 1e-14);
}

#[test]
fn log_lik_loops_and_declared() {
    let data = r#"{"N": 3, "y": [0.1, -0.4, 1.2], "k": [1, 0, 2]}"#;
    let m = model(
        "data { int N; array[N] real y; array[N] int k; } parameters { real mu; }
         model { for (n in 1:N) { y[n] ~ normal(mu, 1); } k ~ poisson(exp(mu)); mu ~ normal(0, 1); }",
        data,
    );
    assert_eq!(m.n_log_lik(), 6);
    let ll = m.log_lik(&[0.2]).unwrap();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    assert!((ll[0] - (-0.5 * 0.01 - 0.5 * ln2pi)).abs() < 1e-12);
    let lam = 0.2f64.exp();
    assert!((ll[5] - (2.0 * lam.ln() - lam - 2f64.ln())).abs() < 1e-12);
    // A log_lik in generated quantities wins.
    let m = model(
        "data { int N; array[N] real y; array[N] int k; } parameters { real mu; }
         model { y ~ normal(mu, 1); }
         generated quantities { vector[N] log_lik; for (n in 1:N) log_lik[n] = normal_lpdf(y[n] | mu, 2); }",
        data,
    );
    assert_eq!(m.n_log_lik(), 3);
    let ll = m.log_lik(&[0.2]).unwrap();
    assert!((ll[1] - (-0.5 * (0.6f64 / 2.0).powi(2) - 2f64.ln() - 0.5 * ln2pi)).abs() < 1e-12);
}

/// log p(y_i | y_{-i}) of a trivariate normal by explicit conditioning on the other two
/// elements (2x2 Schur complement), independent of the precision-matrix formula in the model.
fn conditional_normal_3(y: [f64; 3], mu: [f64; 3], s: [[f64; 3]; 3], i: usize) -> f64 {
    let o: Vec<usize> = (0..3).filter(|&j| j != i).collect();
    let (a, b, c) = (s[o[0]][o[0]], s[o[0]][o[1]], s[o[1]][o[1]]);
    let det = a * c - b * b;
    let inv = [[c / det, -b / det], [-b / det, a / det]];
    let s_io = [s[i][o[0]], s[i][o[1]]];
    let r = [y[o[0]] - mu[o[0]], y[o[1]] - mu[o[1]]];
    let w = [
        s_io[0] * inv[0][0] + s_io[1] * inv[1][0],
        s_io[0] * inv[0][1] + s_io[1] * inv[1][1],
    ];
    let m = mu[i] + w[0] * r[0] + w[1] * r[1];
    let v = s[i][i] - (w[0] * s_io[0] + w[1] * s_io[1]);
    -0.5 * (2.0 * std::f64::consts::PI * v).ln() - 0.5 * (y[i] - m).powi(2) / v
}

#[test]
fn multi_normal_log_lik_is_pointwise_leave_one_out() {
    let y = [0.5, -1.0, 2.0];
    let mu = [0.0, 0.5, 1.0];
    let s = [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]];
    let data = r#"{"y": [0.5, -1.0, 2.0], "mu": [0.0, 0.5, 1.0],
                   "S": [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]]}"#;
    let want: Vec<f64> = (0..3).map(|i| conditional_normal_3(y, mu, s, i)).collect();
    let head = "data { vector[3] y; vector[3] mu; cov_matrix[3] S; } parameters { real a; } ";
    for body in [
        "model { a ~ normal(0, 1); y ~ multi_normal(mu + a, S); }",
        "model { a ~ normal(0, 1); y ~ multi_normal_cholesky(mu + a, cholesky_decompose(S)); }",
        "model { a ~ normal(0, 1); target += multi_normal_lpdf(y | mu + a, S); }",
        "model { a ~ normal(0, 1); target += multi_normal_cholesky_lpdf(y | mu + a, cholesky_decompose(S)); }",
    ] {
        let m = model(&format!("{head}{body}"), data);
        assert_eq!(m.n_log_lik(), 3, "{body}");
        let ll = m.log_lik(&[0.0]).unwrap();
        assert_eq!(ll.len(), 3, "{body}");
        for (g, w) in ll.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{body}: {g} vs {w}");
        }
        // Non-factorized: the leave-one-out terms do not add up to the joint density.
        let joint = lp(&m, &[0.0], NOJAC) + 0.5 * (2.0 * std::f64::consts::PI).ln();
        assert!((ll.iter().sum::<f64>() - joint).abs() > 1e-3, "{body}");
    }
    // The shift a moves mu, so the terms at a = 0.7 are those at mu + 0.7.
    let m = model(
        &format!("{head}model {{ y ~ multi_normal(mu + a, S); }}"),
        data,
    );
    let mu2 = mu.map(|x| x + 0.7);
    for (i, g) in m.log_lik(&[0.7]).unwrap().iter().enumerate() {
        assert!((g - conditional_normal_3(y, mu2, s, i)).abs() < 1e-12);
    }
    // Independent vectors (an array) keep one joint term per vector.
    let m = model(
        "data { array[2] vector[3] ys; cov_matrix[3] S; } parameters { real a; }
         model { ys ~ multi_normal(rep_vector(a, 3), S); }",
        r#"{"ys": [[0.5, -1.0, 2.0], [0.1, 0.2, 0.3]],
            "S": [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]]}"#,
    );
    assert_eq!(m.n_log_lik(), 2);
    let ll = m.log_lik(&[0.0]).unwrap();
    assert!((ll.iter().sum::<f64>() - lp(&m, &[0.0], NOJAC)).abs() < 1e-12);
}

#[test]
fn simulate_is_reproducible_and_respects_bounds() {
    let m = model(EIGHT_SCHOOLS_NC, EIGHT_SCHOOLS_DATA);
    let mut r1 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut r2 = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let a = m.simulate(&mut r1).unwrap();
    let b = m.simulate(&mut r2).unwrap();
    assert_eq!(a, b);
    let c = m.simulate(&mut r1).unwrap();
    assert_ne!(a, c);
    assert!(a.params.get("tau").unwrap().values[0] > 0.0);
    let y = a.data.get("y").unwrap();
    assert_eq!(y.dims, vec![8]);
    assert_ne!(y.values, vec![28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]);
    assert_eq!(a.data.get("J").unwrap().values, vec![8.0]);
    // Draws lie on the constrained scale: they unconstrain cleanly.
    assert_eq!(m.unconstrain(&a.params).unwrap().len(), 10);
    // Discrete data stays integral; bounded-without-prior draws are uniform on the bounds.
    let m = model(
        "data { int N; array[N] int k; } parameters { real<lower=0, upper=2> lam; } model { k ~ poisson(lam); }",
        r#"{"N": 4, "k": [1, 2, 0, 3]}"#,
    );
    for _ in 0..20 {
        let d = m.simulate(&mut r1).unwrap();
        let lam = d.params.get("lam").unwrap().values[0];
        assert!((0.0..2.0).contains(&lam));
        assert!(d
            .data
            .get("k")
            .unwrap()
            .values
            .iter()
            .all(|x| x.fract() == 0.0 && *x >= 0.0));
    }
    // Half-normal by rejection.
    let m = model(
        "parameters { real<lower=0> s; } model { s ~ normal(0, 1); }",
        "{}",
    );
    for _ in 0..20 {
        assert!(m.simulate(&mut r1).unwrap().params.get("s").unwrap().values[0] > 0.0);
    }
    // An improper prior cannot be simulated: a clear error.
    let m = model("parameters { real mu; } model { }", "{}");
    assert!(matches!(m.simulate(&mut r1), Err(ModelError::Eval(_))));
}

#[test]
fn out_of_support_is_a_recoverable_error() {
    let mut m = model("parameters { real a; } model { a ~ normal(0, a); }", "{}");
    let mut g = [0.0];
    assert!(matches!(
        m.log_density_gradient(&[-1.0], FULL, &mut g),
        Err(ModelError::Eval(_))
    ));
    let mut m = model(
        "parameters { real a; } model { if (a > 0) reject(\"a is \", a); a ~ normal(0, 1); }",
        "{}",
    );
    assert!(matches!(
        m.log_density_gradient(&[1.0], FULL, &mut g),
        Err(ModelError::Eval(_))
    ));
    assert!(m.log_density_gradient(&[-1.0], FULL, &mut g).is_ok());
    let m = model(
        "parameters { real a; } transformed parameters { real<lower=0> b = a; } model { a ~ normal(0, 1); }",
        "{}",
    );
    assert!(matches!(
        m.log_density(&[-1.0], FULL),
        Err(ModelError::Eval(_))
    ));
    let m = model(
        "data { array[2] real y; } parameters { real a; } model { y[3] ~ normal(a, 1); }",
        r#"{"y": [1, 2]}"#,
    );
    assert!(matches!(
        m.log_density(&[0.0], FULL),
        Err(ModelError::Eval(_))
    ));
}

#[test]
fn unsupported_and_bad_inputs_are_errors() {
    assert!(matches!(
        build("parameters { real a; } model { a ~ frobnicate(1); }", "{}"),
        Err(ModelError::Unsupported(_))
    ));
    assert!(matches!(
        build("data { int N; } model { }", "{}"),
        Err(ModelError::Data(_))
    ));
    assert!(matches!(
        build("data { int N; } model { }", r#"{"N": 1.5}"#),
        Err(ModelError::Data(_))
    ));
    assert!(matches!(
        build("data { vector[2] y; } model { }", r#"{"y": [1, 2, 3]}"#),
        Err(ModelError::Data(_))
    ));
    let m = model("parameters { real<lower=0> s; } model { }", "{}");
    let d = Data::from_json_str(r#"{"s": -1}"#).unwrap();
    assert!(matches!(m.unconstrain(&d), Err(ModelError::Params(_))));
    assert!(matches!(
        m.unconstrain(&Data::default()),
        Err(ModelError::Params(_))
    ));
}

#[test]
fn statements_and_control_flow() {
    let src =
        "data { int N; vector[N] y; } transformed data { real s = 0; for (n in 1:N) s += y[n]; }
    parameters { real mu; }
    model {
      vector[N] m;
      int count = 0;
      for (n in 1:N) { m[n] = mu * n; }
      while (count < 10) { count += 1; if (count > 3) break; }
      for (v in y) { if (v < 0) continue; target += -0.5 * square(v - mu); }
      { real local = s; target += -local * mu; }
      target += -0.5 * dot_self(m) + count;
      m[2:3] = m[1:2];
      m *= 2;
      target += sum(m);
    }";
    let m = model(src, r#"{"N": 3, "y": [1.0, -2.0, 3.0]}"#);
    let mu: f64 = 0.4;
    let expect =
        -0.5 * ((1.0 - mu).powi(2) + (3.0 - mu).powi(2)) - 2.0 * mu - 0.5 * (mu * mu * 14.0)
            + 4.0
            + 2.0 * (mu + mu + 2.0 * mu);
    assert!((lp(&m, &[mu], FULL) - expect).abs() < 1e-12);
    grad_ok(src, r#"{"N": 3, "y": [1.0, -2.0, 3.0]}"#, &[mu]);
}

#[test]
fn matrices_layout_and_names() {
    let m = model(
        "data { matrix[2, 3] X; } parameters { matrix[2, 2] B; array[2] vector[2] z; }
         model { to_vector(B) ~ normal(0, 1); z[1] ~ normal(0, 1); z[2] ~ normal(X[1, 1:2]', 1); }",
        r#"{"X": [[1, 2, 3], [4, 5, 6]]}"#,
    );
    assert_eq!(
        m.param_names(),
        vec!["B[1,1]", "B[2,1]", "B[1,2]", "B[2,2]", "z[1,1]", "z[2,1]", "z[1,2]", "z[2,2]"]
    );
    // Unconstrained: B column-major, z array-major.
    let x = [0.1, 0.2, 0.3, 0.4, 1.0, 2.0, 3.0, 4.0];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let out = m.write_array(&x, &mut rng).unwrap();
    assert_eq!(out, vec![0.1, 0.2, 0.3, 0.4, 1.0, 3.0, 2.0, 4.0]);
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    // z[2] = (3, 4) against X[1, 1:2] = (1, 2).
    let direct: f64 = [0.1f64, 0.2, 0.3, 0.4, 1.0, 2.0]
        .iter()
        .map(|v| -0.5 * v * v)
        .sum::<f64>()
        - 0.5 * 4.0
        - 0.5 * 4.0
        - 8.0 * 0.5 * ln2pi;
    assert!((lp(&m, &x, FULL) - direct).abs() < 1e-12);
}

fn repo_file(rel: &str) -> String {
    let path = format!("{}/../../{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn example_programs_evaluate_with_correct_gradients() {
    let cases = [
        ("eight_schools_centered", "eight_schools", 8),
        ("eight_schools_noncentered", "eight_schools", 8),
        ("dugongs", "dugongs", 27),
        ("glm", "glm", 40),
        ("surgical", "surgical", 12),
        ("gp", "gp", 11),
        ("gp_poisson", "gp", 11),
    ];
    for (prog, data, n_ll) in cases {
        let src = repo_file(&format!("examples/{prog}.stan"));
        let data = repo_file(&format!("datasets/{data}.json"));
        let m = model(&src, &data);
        let x: Vec<f64> = (0..m.dim())
            .map(|i| 0.1 + 0.05 * ((i * 7) % 11) as f64 - 0.25)
            .collect();
        check_grad(&src, &data, &x, FULL, 1e-6);
        check_grad(&src, &data, &x, PROPTO, 1e-6);
        assert_eq!(m.n_log_lik(), n_ll, "{prog}");
        let ll = m.log_lik(&x).unwrap();
        assert_eq!(ll.len(), n_ll);
        assert!(ll.iter().all(|v| v.is_finite()), "{prog}: {ll:?}");
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        match m.simulate(&mut rng) {
            Ok(draw) => {
                let back = m
                    .unconstrain(&draw.params)
                    .unwrap_or_else(|e| panic!("{prog}: {e}"));
                assert_eq!(back.len(), m.dim());
            }
            // gamma(0.0001, 0.0001) on a precision draws values that underflow to zero.
            // (and inv_gamma(0.001, 0.001) on a variance to infinity).
            Err(ModelError::Eval(m)) if prog == "dugongs" || prog == "surgical" => {
                assert!(m.contains("_rng"), "{m}")
            }
            Err(e) => panic!("{prog}: {e}"),
        }
        let out = m.write_array(&x, &mut rng).unwrap();
        assert_eq!(out.len(), m.output_names().len());
    }
}

#[test]
fn bernoulli_logit_fast_path_matches_kernel() {
    // The fused path (int data, parameter vector) against the generic kernel (via log_lik).
    let n = 600;
    let y: Vec<i32> = (0..n).map(|i| ((i * 7) % 3 == 0) as i32).collect();
    let data = format!(r#"{{"N": {n}, "y": {y:?}}}"#);
    let src = "data { int N; array[N] int y; } parameters { vector[N] a; } model { y ~ bernoulli_logit(a); }";
    let m = model(src, &data);
    let x: Vec<f64> = (0..n).map(|i| ((i as f64) * 0.37).sin() * 40.0).collect();
    let total = lp(&m, &x, FULL);
    let ll: f64 = m.log_lik(&x).unwrap().iter().sum();
    assert!(
        (total - ll).abs() < 1e-10 * (1.0 + ll.abs()),
        "{total} vs {ll}"
    );
    check_grad(src, &data, &x[..n], FULL, 1e-6);
}

#[test]
fn from_source_checks_and_compiles_examples() {
    for (prog, data) in [
        ("eight_schools_noncentered", "eight_schools"),
        ("dugongs", "dugongs"),
        ("glm", "glm"),
        ("surgical", "surgical"),
        ("gp", "gp"),
        ("gp_poisson", "gp"),
    ] {
        let src = repo_file(&format!("examples/{prog}.stan"));
        let data = Data::from_json_str(&repo_file(&format!("datasets/{data}.json"))).unwrap();
        let m = Model::from_source(&src, &data).unwrap_or_else(|e| panic!("{prog}: {e}"));
        assert!(m.dim() > 0);
    }
    assert!(matches!(
        Model::from_source(
            "parameters { real a; } model { a ~ normal(0, 1) }",
            &Data::default()
        ),
        Err(ModelError::Invalid(_))
    ));
}

#[test]
fn model_is_send_and_sync_and_clones_evaluate_independently() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Model>();
    let mut a = model(EIGHT_SCHOOLS_NC, EIGHT_SCHOOLS_DATA);
    let mut b = a.clone();
    let x = eight_schools_point();
    let mut ga = vec![0.0; 10];
    let mut gb = vec![0.0; 10];
    let la = a.log_density_gradient(&x, FULL, &mut ga).unwrap();
    let y: Vec<f64> = x.iter().map(|v| v * 0.5).collect();
    b.log_density_gradient(&y, FULL, &mut gb).unwrap();
    let la2 = a.log_density_gradient(&x, FULL, &mut gb).unwrap();
    assert_eq!(la, la2);
    assert_eq!(ga, gb);
}

#[test]
fn count_data_under_a_continuous_model_simulates_integers() {
    let m = model(
        "data { int N; array[N] int y; } parameters { real mu; } model { mu ~ normal(10, 1); y ~ normal(mu, 2); }",
        r#"{"N": 5, "y": [9, 10, 11, 12, 8]}"#,
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let d = m.simulate(&mut rng).unwrap();
    let y = d.data.get("y").unwrap();
    assert!(y.all_int && y.values.iter().all(|v| v.fract() == 0.0));
    assert!(y.values.iter().any(|v| *v != 10.0));
}

#[test]
fn every_library_distribution_is_evaluated() {
    use refinestat_language::catalog;
    for d in catalog::library_distributions() {
        let suffix = if d.discrete { "_lpmf" } else { "_lpdf" };
        assert!(
            crate::library::is_glm(d.name)
                || crate::library::in_prelude(&format!("{}{suffix}", d.name)),
            "{} has no evaluation",
            d.name
        );
    }
}

#[test]
fn every_library_function_is_evaluated() {
    use refinestat_language::catalog;
    for f in catalog::library_functions() {
        let known = crate::math::unary_fn(f.name).is_some()
            || crate::builtins::Builtin::from_name(f.name).is_some()
            || crate::library::in_prelude(f.name);
        assert!(known, "{} has no evaluation", f.name);
    }
}

#[test]
fn every_catalog_distribution_and_function_is_known() {
    use refinestat_language::catalog;
    let mut missing = vec![];
    for d in catalog::distributions() {
        if crate::dist::Dist::from_name(d.name).is_none() {
            missing.push(format!("dist {} (core {})", d.name, d.core));
        }
    }
    for f in catalog::functions() {
        let known = crate::math::unary_fn(f.name).is_some()
            || crate::math::binary_fn(f.name).is_some()
            || crate::builtins::Builtin::from_name(f.name).is_some()
            || f.name == "target";
        if !known {
            missing.push(format!("fn {} (core {})", f.name, f.core));
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
}

#[test]
fn matrix_and_misc_functions_gradients() {
    let data = r#"{"A": [[2.0, 0.3], [0.1, 1.5]], "b": [0.4, -0.2]}"#;
    let head = "data { matrix[2, 2] A; vector[2] b; } parameters { vector[2] v; real<lower=0> s; } model { ";
    let x = [0.3, -0.4, 0.2];
    for e in [
        "sum(quad_form_diag(A, v)) + quad_form(A, v) + sum(quad_form(diag_matrix(v), A))",
        "sum(mdivide_left_tri_low(diag_matrix(exp(v)) + [[0, 0], [s, 0]], v + b))",
        "sum(mdivide_right_tri_low(v', diag_matrix(exp(v)) + [[0, 0], [s, 0]]))",
        "sum(inverse(A + diag_matrix(exp(v)))) + sum(to_matrix(v, 2, 1)) + sum(to_matrix(append_col(v, v)))",
        "sum(inv_cloglog(v)) + sum(identity_matrix(2) * v) + choose(5, 2) * s + sum(linspaced_vector(3, 0, 1)) * s",
        "target() + sum(v) * s",
    ] {
        grad_ok(&format!("{head} v ~ normal(0, 1); target += {e}; }}"), data, &x);
    }
    // Closed forms.
    let m = model(
        "data { matrix[2, 2] A; } model { target += choose(5, 2) + sum(inverse(A)) + sum(mdivide_left_tri_low([[2, 0], [1, 4]], [2, 9]')); }",
        r#"{"A": [[2.0, 1.0], [1.0, 1.0]]}"#,
    );
    // inverse([[2,1],[1,1]]) = [[1,-1],[-1,2]] (sum 1); L x = b: x = (1, 2).
    assert!((lp(&m, &[], FULL) - (10.0 + 1.0 + 3.0)).abs() < 1e-12);
}

/// Made-up data for a program's data block: int scalars 3 (or 1 when bounded above by 1),
/// containers sized from their declared size expressions, values that fit common bounds.
fn synthetic_data(p: &refinestat_language::Program) -> Data {
    use refinestat_language::ast::{BaseType, BinOp, Bounds, ExprKind, StmtKind};
    use refinestat_language::DataValue;
    let mut ints: std::collections::HashMap<String, i64> = Default::default();
    fn size(
        e: &refinestat_language::ast::Expr,
        ints: &std::collections::HashMap<String, i64>,
    ) -> i64 {
        match &e.kind {
            ExprKind::IntLit(i) => *i,
            ExprKind::Var(id) => *ints.get(&id.name).unwrap_or(&3),
            ExprKind::Paren(x) => size(x, ints),
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (size(lhs, ints), size(rhs, ints));
                match op {
                    BinOp::Add => a + b,
                    BinOp::Sub => a - b,
                    BinOp::Mul => a * b,
                    _ => 3,
                }
            }
            _ => 3,
        }
        .clamp(0, 6)
    }
    let mut d = Data::default();
    let Some(b) = &p.data else { return d };
    for s in &b.stmts {
        let StmtKind::Decl { ty, name, .. } = &s.kind else {
            continue;
        };
        let mut dims: Vec<usize> = ty
            .array_dims
            .iter()
            .map(|e| size(e, &ints) as usize)
            .collect();
        let is_int = matches!(ty.base, BaseType::Int);
        match &ty.base {
            BaseType::Vector(n)
            | BaseType::RowVector(n)
            | BaseType::Simplex(n)
            | BaseType::Ordered(n)
            | BaseType::PositiveOrdered(n) => dims.push(size(n, &ints) as usize),
            BaseType::Matrix(r, c) | BaseType::CholeskyFactorCov(r, Some(c)) => {
                dims.push(size(r, &ints) as usize);
                dims.push(size(c, &ints) as usize);
            }
            BaseType::CholeskyFactorCorr(k)
            | BaseType::CovMatrix(k)
            | BaseType::CorrMatrix(k)
            | BaseType::CholeskyFactorCov(k, None) => {
                let k = size(k, &ints) as usize;
                dims.push(k);
                dims.push(k);
            }
            BaseType::Int | BaseType::Real => {}
        }
        let n: usize = dims.iter().product();
        let upper_one = matches!(&ty.bounds, Bounds::LowerUpper { upper: Some(u), .. }
            if matches!(u.kind, ExprKind::IntLit(1)));
        let values: Vec<f64> = (0..n)
            .map(|i| match (&ty.base, is_int) {
                (_, true) if upper_one => (i % 2) as f64,
                (_, true) if dims.is_empty() => 3.0,
                (_, true) => 1.0 + (i % 3) as f64,
                (BaseType::CholeskyFactorCorr(_) | BaseType::CovMatrix(_), _) => {
                    let k = dims[dims.len() - 1];
                    if (i % (k * k)).is_multiple_of(k + 1) {
                        1.0
                    } else {
                        0.0
                    }
                }
                (BaseType::Simplex(_), _) => 1.0 / dims[dims.len() - 1] as f64,
                (BaseType::Ordered(_) | BaseType::PositiveOrdered(_), _) => 1.0 + i as f64,
                _ => 0.25 + 0.1 * (i % 5) as f64,
            })
            .collect();
        if is_int && dims.is_empty() {
            ints.insert(name.name.clone(), values[0] as i64);
        }
        d.vars.insert(
            name.name.clone(),
            DataValue {
                dims,
                values,
                all_int: is_int,
            },
        );
    }
    d
}

#[test]
fn parser_corpus_never_panics() {
    let root = format!("{}/../language/tests/data", env!("CARGO_MANIFEST_DIR"));
    let mut paths = vec![];
    for dir in ["parser/valid", "check/valid", "check/invalid"] {
        for entry in std::fs::read_dir(format!("{root}/{dir}")).expect("corpus") {
            paths.push(entry.unwrap().path());
        }
    }
    let mut n = 0;
    for path in paths {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if !name.ends_with(".stan") || name.matches('.').count() > 1 {
            continue;
        }
        let src = std::fs::read_to_string(&path).unwrap();
        let parsed = refinestat_language::parse(&src);
        if !parsed.errors.is_empty() {
            continue;
        }
        n += 1;
        let json = path.with_extension("json");
        let data = match std::fs::read_to_string(&json) {
            Ok(text) => {
                Data::from_json_str(&text).unwrap_or_else(|_| synthetic_data(&parsed.program))
            }
            Err(_) => synthetic_data(&parsed.program),
        };
        // Errors are fine; panics are not.
        let mut m = match Model::new(&parsed.program, &data) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
        for scale in [0.0, 0.3, -1.5] {
            let x: Vec<f64> = (0..m.dim())
                .map(|i| scale * (1.0 + (i % 3) as f64))
                .collect();
            let mut g = vec![0.0; m.dim()];
            if let Err(e) = m.log_density_gradient(&x, FULL, &mut g) {
                eprintln!("{name}: {e}");
            }
            let _ = m.log_lik(&x);
            let _ = m.write_array(&x, &mut rng);
        }
        if let Err(e) = m.simulate(&mut rng) {
            eprintln!("{name} simulate: {e}");
        }
    }
    assert!(n >= 10, "only {n} corpus programs parsed");
}

#[test]
fn matrix_division_and_lkj_simulation() {
    let data = r#"{"A": [[2.0, 0.3], [0.1, 1.5]], "b": [0.4, -0.2]}"#;
    grad_ok(
        "data { matrix[2, 2] A; vector[2] b; } parameters { vector[2] v; } model { v ~ normal(0, 1); target += sum(A \\ v) + sum(v' / A) + sum((A + diag_matrix(exp(v))) \\ b); }",
        data,
        &[0.3, -0.2],
    );
    let m = model(
        "parameters { cholesky_factor_corr[3] L; } model { L ~ lkj_corr_cholesky(2); } generated quantities { matrix[3, 3] R = lkj_corr_cholesky_rng(3, 2.0); }",
        "{}",
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let d = m.simulate(&mut rng).unwrap();
    let l = &d.params.get("L").unwrap().values; // row-major JSON order
    for i in 0..3 {
        let row: f64 = (0..3).map(|j| l[i * 3 + j] * l[i * 3 + j]).sum();
        assert!((row - 1.0).abs() < 1e-12);
        for j in i + 1..3 {
            assert_eq!(l[i * 3 + j], 0.0);
        }
    }
    assert!(m.unconstrain(&d.params).is_ok());
    let out = m.write_array(&[0.1, 0.2, 0.3], &mut rng).unwrap();
    assert_eq!(out.len(), 18);
}

#[test]
fn truncated_log_lik_terms_are_per_observation() {
    let m = model(
        "data { vector[2] y; } parameters { vector[2] mu; } model { mu ~ normal(0, 1); y ~ normal(mu, 1) T[0, ]; }",
        r#"{"y": [0.5, 1.5]}"#,
    );
    let ll = m.log_lik(&[0.0, 1.0]).unwrap();
    let ln2pi = (2.0 * std::f64::consts::PI).ln();
    // mu = 0: P(y > 0) = 1/2. mu = 1: P(y > 0) = Phi(1).
    let phi1 = 0.841_344_746_068_542_9_f64;
    assert!((ll[0] - (-0.125 - 0.5 * ln2pi + 2f64.ln())).abs() < 1e-12);
    assert!((ll[1] - (-0.125 - 0.5 * ln2pi - phi1.ln())).abs() < 1e-12);
}

#[test]
fn target_plus_lpdf_on_a_parameter_simulates_like_tilde() {
    let m = model(
        "data { int N; vector[N] y; } parameters { real<lower=0> s; } model { target += exponential_lpdf(s | 1); target += normal_lpdf(y | 0, s); }",
        r#"{"N": 3, "y": [0.1, 0.2, 0.3]}"#,
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
    let d = m.simulate(&mut rng).unwrap();
    assert!(d.params.get("s").unwrap().values[0] > 0.0);
    assert_ne!(d.data.get("y").unwrap().values, vec![0.1, 0.2, 0.3]);
    assert_eq!(m.n_log_lik(), 3);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const SRC: &str = "parameters { real<lower=-1, upper=2> a; simplex[4] s; ordered[3] o;
        positive_ordered[2] po; cholesky_factor_corr[3] l; cov_matrix[3] c;
        array[2] vector<lower=0.5>[2] v; real<offset=1, multiplier=2> om; }
        model { }";

    fn the_model() -> &'static Model {
        static M: std::sync::OnceLock<Model> = std::sync::OnceLock::new();
        M.get_or_init(|| model(SRC, "{}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// constrain (write_array) then unconstrain is the identity on the unconstrained space.
        #[test]
        fn constrain_unconstrain_round_trip(x in proptest::collection::vec(-3.0f64..3.0, 23)) {
            let m = the_model();
            prop_assert_eq!(m.dim(), 23);
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            let vals = m.write_array(&x, &mut rng).unwrap();
            let back = m.unconstrain(&params_to_data(m, &vals)).unwrap();
            for (a, b) in back.iter().zip(&x) {
                prop_assert!((a - b).abs() < 1e-7 * (1.0 + b.abs()), "{} vs {}", a, b);
            }
        }

        /// Without a model block the density is exactly zero and the log Jacobian is finite.
        #[test]
        fn log_jacobian_is_finite(x in proptest::collection::vec(-3.0f64..3.0, 23)) {
            let m = the_model();
            let with = m.log_density(&x, FULL).unwrap();
            let without = m.log_density(&x, NOJAC).unwrap();
            prop_assert_eq!(without, 0.0);
            prop_assert!(with.is_finite());
        }
    }
}

#[test]
fn fused_affine_matches_unfused() {
    let data = r#"{"X": [[1.0, 2.0], [0.5, -1.0], [3.0, 0.2]], "y": [1, 0, 1]}"#;
    let head =
        "data { matrix[3, 2] X; array[3] int y; } parameters { real a; vector[2] b; } model { ";
    let x = [0.3, -0.2, 0.4];
    for stmt in [
        "y ~ bernoulli_logit(a + X * b);",
        "y ~ bernoulli_logit(X * b + a);",
        "y ~ bernoulli_logit(2.5 + X * b); a ~ normal(0, 1);",
        "y ~ bernoulli_logit(to_vector({a, a, a}) + X * b);",
    ] {
        grad_ok(&format!("{head}{stmt} }}"), data, &x);
    }
    let fused = model(&format!("{head} y ~ bernoulli_logit(a + X * b); }}"), data);
    let plain = model(
        &format!("{head} y ~ bernoulli_logit(rep_vector(a, 3) + X * b); }}"),
        data,
    );
    assert!((lp(&fused, &x, FULL) - lp(&plain, &x, FULL)).abs() < 1e-13);
}

#[test]
fn ordered_parameters_simulate_sorted() {
    let m = model(
        "parameters { positive_ordered[4] c; ordered[3] o; } model { c ~ exponential(1); o ~ normal(0, 1); }",
        "{}",
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    for _ in 0..10 {
        let d = m.simulate(&mut rng).unwrap();
        for name in ["c", "o"] {
            let v = &d.params.get(name).unwrap().values;
            assert!(v.windows(2).all(|w| w[0] < w[1]), "{name}: {v:?}");
        }
        assert!(m.unconstrain(&d.params).is_ok());
    }
}

#[test]
fn exp_nonpos_agrees_with_std_exp() {
    let mut worst: f64 = 0.0;
    for i in 0..=200_000 {
        let x = -(i as f64) * 0.003_731;
        let (got, want) = (crate::math::exp_nonpos(x), x.exp());
        if want > f64::MIN_POSITIVE {
            worst = worst.max(((got - want) / want).abs());
        } else {
            // Subnormal results: within one unit of the smallest subnormal.
            assert!((got - want).abs() <= 5e-324, "{x}: {got:e} vs {want:e}");
        }
    }
    assert!(worst < 1e-15, "worst relative error {worst:e}");
    assert_eq!(crate::math::exp_nonpos(0.0), 1.0);
    assert_eq!(crate::math::exp_nonpos(f64::NEG_INFINITY), 0.0);
    assert!(crate::math::exp_nonpos(-1e-300) == 1.0);
}

#[test]
fn bernoulli_logit_glm_matches_closed_form_and_gradient() {
    // 523 rows: several 256-row chunks and a tail that is not a multiple of four; logits up to
    // about +-60 so both branches of the stable form are exercised.
    let (n, k) = (523usize, 3usize);
    let xm: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..k)
                .map(|j| ((i * (j + 3)) as f64 * 0.61).sin() * 7.0)
                .collect()
        })
        .collect();
    let y: Vec<i32> = (0..n).map(|i| ((i * 5) % 7 < 3) as i32).collect();
    let data = format!(r#"{{"N": {n}, "K": {k}, "X": {xm:?}, "y": {y:?}}}"#);
    let src = "data { int N; int K; matrix[N, K] X; array[N] int y; }
               parameters { real a; vector[K] b; } model { y ~ bernoulli_logit(a + X * b); }";
    let m = model(src, &data);
    let theta = [0.4, 2.5, -1.5, 0.8];
    let mut want = 0.0;
    for i in 0..n {
        let eta = theta[0] + (0..k).map(|j| xm[i][j] * theta[1 + j]).sum::<f64>();
        // log inv_logit(+-eta) = -softplus(-+eta), with std's exp and ln_1p.
        let softplus = |z: f64| z.max(0.0) + (-z.abs()).exp().ln_1p();
        want -= if y[i] == 1 {
            softplus(-eta)
        } else {
            softplus(eta)
        };
    }
    let got = lp(&m, &theta, FULL);
    assert!((got - want).abs() < 1e-12 * want.abs(), "{got} vs {want}");
    // The generic kernel (log_lik path) agrees tightly.
    let ll: f64 = m.log_lik(&theta).unwrap().iter().sum();
    assert!((got - ll).abs() < 1e-11 * ll.abs(), "{got} vs {ll}");
    check_grad(src, &data, &theta, FULL, 1e-6);
    // An outcome outside {0, 1} is an evaluation error, as on the generic path.
    let bad = data.replacen("\"y\": [1", "\"y\": [2", 1);
    let m = model(src, &bad);
    assert!(matches!(
        m.clone().log_density(&theta, FULL),
        Err(ModelError::Eval(_))
    ));
}

#[test]
fn replicate_draws_the_observed_data_at_given_parameters() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    // A tiny scale: the replicate is the location to within 1e-4.
    let m = model(
        "data { int N; vector[N] y; real s; } parameters { real mu; real<lower=0> tau; } \
         transformed parameters { real m2 = 2 * mu; } model { y ~ normal(m2, s); }",
        r#"{"N": 3, "y": [1, 2, 3], "s": 1e-6}"#,
    );
    assert_eq!(m.observed_names(), vec!["y".to_string()]);
    assert_eq!(m.observation_units(), vec![("y".to_string(), 3)]);
    let rep = m.replicate(&[1.5, 0.2], &mut rng).unwrap();
    assert_eq!(rep.vars.keys().collect::<Vec<_>>(), vec!["y"]);
    let y = rep.get("y").unwrap();
    assert_eq!(y.dims, vec![3]);
    assert!(y.values.iter().all(|v| (v - 3.0).abs() < 1e-4), "{y:?}");
    // Wrong number of values: a clear error.
    assert!(matches!(
        m.replicate(&[1.0], &mut rng),
        Err(ModelError::Params(_))
    ));
    // Counts stay integral; the mean of many replicates is near the rate.
    let m = model(
        "data { int N; array[N] int k; } parameters { real<lower=0> lam; } model { k ~ poisson(lam); }",
        r#"{"N": 2000, "k": [0]}"#.replace("[0]", &format!("{:?}", vec![1; 2000])).as_str(),
    );
    let k = m.replicate(&[4.0], &mut rng).unwrap();
    let k = &k.get("k").unwrap().values;
    assert!(k.iter().all(|x| x.fract() == 0.0 && *x >= 0.0));
    let mean = k.iter().sum::<f64>() / k.len() as f64;
    assert!((mean - 4.0).abs() < 0.2, "{mean}");
    // Matrices are read column-major, as CSV columns are.
    let m = model(
        "data { vector[2] y; } parameters { matrix[2, 2] B; } model { to_vector(B) ~ normal(0, 1); \
         y ~ normal([B[1, 2], B[2, 1]]', 1e-9); }",
        r#"{"y": [0, 0]}"#,
    );
    // param_names order: B[1,1], B[2,1], B[1,2], B[2,2].
    let y = m.replicate(&[11.0, 21.0, 12.0, 22.0], &mut rng).unwrap();
    let y = &y.get("y").unwrap().values;
    assert!(
        (y[0] - 12.0).abs() < 1e-6 && (y[1] - 21.0).abs() < 1e-6,
        "{y:?}"
    );
}
