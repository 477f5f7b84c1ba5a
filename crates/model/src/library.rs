//! Stan library distributions that the engine evaluates as compositions of what it already has,
//! so their values and gradients come from the same tape and the same hand-written partials.
//!
//! * The GLM distributions are rewritten at lowering: `y ~ normal_id_glm(x, alpha, beta, sigma)`
//!   is `y ~ normal(alpha + x * beta, sigma)` (and likewise `bernoulli_logit_glm`,
//!   `poisson_log_glm`, `neg_binomial_2_log_glm`); the interpreter fuses `alpha + x * beta` with a
//!   data `x` into one node, and `bernoulli_logit` over it into Stan's GLM kernel.
//! * The others are written in Stan in [`PRELUDE`] and lowered like user-defined functions:
//!   `multi_normal_prec`, `multi_student_t`, `multi_student_t_cholesky`, `multinomial`,
//!   `multinomial_logit`, `wishart`, `inv_wishart`, `lkj_corr`. Their `~` statements keep every
//!   constant (like `target += ..._lpdf`), which changes the log density only by a constant.

use crate::dist::Dist;
use crate::lower::E;
use refinestat_language::ast::BinOp;
use refinestat_language::Program;
use std::sync::OnceLock;

/// `base` of a GLM distribution name: the distribution it reduces to and how many parameters
/// follow `beta` (0 or 1).
fn glm(base: &str) -> Option<(Dist, usize)> {
    Some(match base {
        "normal_id_glm" => (Dist::Normal, 1),
        "bernoulli_logit_glm" => (Dist::BernoulliLogit, 0),
        "poisson_log_glm" => (Dist::PoissonLog, 0),
        "neg_binomial_2_log_glm" => (Dist::NegBinomial2Log, 1),
        _ => return None,
    })
}

/// Is `base` a GLM distribution?
pub fn is_glm(base: &str) -> bool {
    glm(base).is_some()
}

/// Rewrite the parameters `(x, alpha, beta, rest...)` of a GLM distribution into those of the
/// distribution it reduces to: `(alpha + x * beta, rest...)`. `None` when `base` is no GLM or the
/// argument count is wrong.
pub fn glm_params(base: &str, params: Vec<E>) -> Option<(Dist, Vec<E>)> {
    let (d, extra) = glm(base)?;
    if params.len() != 3 + extra {
        return None;
    }
    let mut it = params.into_iter();
    let x = it.next()?;
    let alpha = it.next()?;
    let beta = it.next()?;
    let eta = E::Bin(
        BinOp::Add,
        Box::new(alpha),
        Box::new(E::Bin(BinOp::Mul, Box::new(x), Box::new(beta))),
    );
    let mut out = vec![eta];
    out.extend(it);
    Some((d, out))
}

/// The library distributions written in Stan (see the module doc).
pub const PRELUDE: &str = r#"functions {
  real multi_normal_prec_lpdf(vector y, vector mu, matrix Omega) {
    int K = rows(y);
    matrix[K, K] L = cholesky_decompose(Omega);
    return -0.5 * K * log(2 * pi()) + sum(log(diagonal(L))) - 0.5 * quad_form(Omega, y - mu);
  }
  real multi_normal_prec_lpdf(array[] vector y, vector mu, matrix Omega) {
    real lp = 0;
    for (n in 1:size(y)) {
      lp += multi_normal_prec_lpdf(y[n] | mu, Omega);
    }
    return lp;
  }
  real multi_normal_prec_lpdf(array[] vector y, array[] vector mu, matrix Omega) {
    real lp = 0;
    for (n in 1:size(y)) {
      lp += multi_normal_prec_lpdf(y[n] | mu[n], Omega);
    }
    return lp;
  }
  real multi_student_t_cholesky_lpdf(vector y, real nu, vector mu, matrix L) {
    int K = rows(y);
    real q = dot_self(mdivide_left_tri_low(L, y - mu));
    return lgamma((nu + K) / 2) - lgamma(nu / 2) - 0.5 * K * log(nu * pi())
           - sum(log(diagonal(L))) - (nu + K) / 2 * log1p(q / nu);
  }
  real multi_student_t_cholesky_lpdf(array[] vector y, real nu, vector mu, matrix L) {
    real lp = 0;
    for (n in 1:size(y)) {
      lp += multi_student_t_cholesky_lpdf(y[n] | nu, mu, L);
    }
    return lp;
  }
  real multi_student_t_cholesky_lpdf(array[] vector y, real nu, array[] vector mu, matrix L) {
    real lp = 0;
    for (n in 1:size(y)) {
      lp += multi_student_t_cholesky_lpdf(y[n] | nu, mu[n], L);
    }
    return lp;
  }
  real multi_student_t_lpdf(vector y, real nu, vector mu, matrix Sigma) {
    return multi_student_t_cholesky_lpdf(y | nu, mu, cholesky_decompose(Sigma));
  }
  real multi_student_t_lpdf(array[] vector y, real nu, vector mu, matrix Sigma) {
    return multi_student_t_cholesky_lpdf(y | nu, mu, cholesky_decompose(Sigma));
  }
  real multi_student_t_lpdf(array[] vector y, real nu, array[] vector mu, matrix Sigma) {
    return multi_student_t_cholesky_lpdf(y | nu, mu, cholesky_decompose(Sigma));
  }
  real multinomial_lpmf(array[] int y, vector theta) {
    real lp = lgamma(sum(y) + 1);
    for (k in 1:size(y)) {
      if (y[k] < 0) reject("multinomial: counts must be non-negative");
      if (y[k] > 0) {
        lp += y[k] * log(theta[k]) - lgamma(y[k] + 1);
      }
    }
    return lp;
  }
  real multinomial_logit_lpmf(array[] int y, vector gamma) {
    vector[rows(gamma)] lt = log_softmax(gamma);
    real lp = lgamma(sum(y) + 1);
    for (k in 1:size(y)) {
      if (y[k] < 0) reject("multinomial_logit: counts must be non-negative");
      if (y[k] > 0) {
        lp += y[k] * lt[k] - lgamma(y[k] + 1);
      }
    }
    return lp;
  }
  real refinestat_log_multi_gamma(int K, real x) {
    real lp = K * (K - 1) / 4.0 * log(pi());
    for (j in 1:K) {
      lp += lgamma(x + (1 - j) / 2.0);
    }
    return lp;
  }
  real refinestat_log_det_spd(matrix A) {
    return 2 * sum(log(diagonal(cholesky_decompose(A))));
  }
  real wishart_lpdf(matrix W, real nu, matrix S) {
    int K = rows(W);
    if (nu <= K - 1) reject("wishart: degrees of freedom must exceed K - 1");
    return (nu - K - 1) / 2 * refinestat_log_det_spd(W) - 0.5 * sum(diagonal(inverse(S) * W))
           - nu * K / 2 * log(2) - nu / 2 * refinestat_log_det_spd(S) - refinestat_log_multi_gamma(K, nu / 2);
  }
  real inv_wishart_lpdf(matrix W, real nu, matrix S) {
    int K = rows(W);
    if (nu <= K - 1) reject("inv_wishart: degrees of freedom must exceed K - 1");
    return nu / 2 * refinestat_log_det_spd(S) - nu * K / 2 * log(2) - refinestat_log_multi_gamma(K, nu / 2)
           - (nu + K + 1) / 2 * refinestat_log_det_spd(W) - 0.5 * sum(diagonal(S * inverse(W)));
  }
  real neg_binomial_lpmf(int n, real alpha, real beta) {
    if (n < 0) reject("neg_binomial: counts must be non-negative");
    return lgamma(n + alpha) - lgamma(n + 1) - lgamma(alpha)
           + alpha * log(beta / (1 + beta)) - n * log1p(beta);
  }
  real neg_binomial_lpmf(array[] int n, real alpha, real beta) {
    real lp = 0;
    for (i in 1:size(n)) {
      lp += neg_binomial_lpmf(n[i] | alpha, beta);
    }
    return lp;
  }
  real pareto_lpdf(real y, real y_min, real alpha) {
    if (y < y_min) return negative_infinity();
    return log(alpha) + alpha * log(y_min) - (alpha + 1) * log(y);
  }
  real pareto_lpdf(vector y, real y_min, real alpha) {
    real lp = 0;
    for (i in 1:rows(y)) {
      lp += pareto_lpdf(y[i] | y_min, alpha);
    }
    return lp;
  }
  real pareto_lpdf(array[] real y, real y_min, real alpha) {
    return pareto_lpdf(to_vector(y) | y_min, alpha);
  }
  real beta_binomial_lpmf(int n, int N, real alpha, real beta) {
    if (n < 0 || n > N) reject("beta_binomial: successes must lie in 0..N");
    return lchoose(N, n) + lbeta(n + alpha, N - n + beta) - lbeta(alpha, beta);
  }
  real beta_binomial_lpmf(array[] int n, array[] int N, real alpha, real beta) {
    real lp = 0;
    for (i in 1:size(n)) {
      lp += beta_binomial_lpmf(n[i] | N[i], alpha, beta);
    }
    return lp;
  }
  real beta_binomial_lpmf(array[] int n, array[] int N, vector alpha, vector beta) {
    real lp = 0;
    for (i in 1:size(n)) {
      lp += beta_binomial_lpmf(n[i] | N[i], alpha[i], beta[i]);
    }
    return lp;
  }
  vector sub_col(matrix x, int i, int j, int n_rows) {
    return x[i:(i + n_rows - 1), j];
  }
  row_vector sub_row(matrix x, int i, int j, int n_cols) {
    return x[i, j:(j + n_cols - 1)];
  }
  matrix inverse_spd(matrix A) {
    return inverse(A);
  }
  matrix symmetrize_from_lower_tri(matrix A) {
    int K = rows(A);
    matrix[K, K] S = A;
    for (i in 1:K) {
      for (j in (i + 1):K) {
        S[i, j] = A[j, i];
      }
    }
    return S;
  }
  array[] real append_array(array[] real a, array[] real b) {
    array[size(a) + size(b)] real out;
    for (i in 1:size(a)) out[i] = a[i];
    for (i in 1:size(b)) out[size(a) + i] = b[i];
    return out;
  }
  array[] int append_array(array[] int a, array[] int b) {
    array[size(a) + size(b)] int out;
    for (i in 1:size(a)) out[i] = a[i];
    for (i in 1:size(b)) out[size(a) + i] = b[i];
    return out;
  }
  array[] vector append_array(array[] vector a, array[] vector b) {
    array[size(a) + size(b)] vector[size(a) > 0 ? rows(a[1]) : rows(b[1])] out;
    for (i in 1:size(a)) out[i] = a[i];
    for (i in 1:size(b)) out[size(a) + i] = b[i];
    return out;
  }
  real lkj_corr_lpdf(matrix Sigma, real eta) {
    int K = rows(Sigma);
    matrix[K, K] L = cholesky_decompose(Sigma);
    real lp = lkj_corr_cholesky_lpdf(L | eta);
    for (i in 2:K) {
      lp -= (K - i) * log(L[i, i]);
    }
    return lp;
  }
}
"#;

/// The parsed prelude (parsed once per process).
pub fn prelude() -> &'static Program {
    static P: OnceLock<Program> = OnceLock::new();
    P.get_or_init(|| {
        let parsed = refinestat_language::parse(PRELUDE);
        debug_assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        parsed.program
    })
}

/// Does the prelude define `name`?
pub fn in_prelude(name: &str) -> bool {
    prelude()
        .functions
        .as_ref()
        .is_some_and(|f| f.defs.iter().any(|d| d.name.name == name))
}
