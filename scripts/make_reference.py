#!/usr/bin/env python3
"""Generate independent reference values for the model crate's distributions and math functions.

Writes crates/model/tests/data/reference_distributions.json and reference_functions.json.
Every value is computed with mpmath at 30 significant digits from the closed form in the Stan
Functions Reference (Stan's parameterisations), then stored as the nearest double. Where scipy
has the same density, the script cross-checks it (a guard against typos in the formulas below);
the LKJ normalizing constant is cross-checked by numerical integration.

Usage (from the repository root):
    python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements.txt
    .venv/bin/python scripts/make_reference.py

File format (both files): {"format": <this description>, "generator": ..., "cases": [...]}.

reference_distributions.json, one case:
  name        unique case name
  dist        Stan distribution name ("normal", "std_normal", ...)
  kind        "lpdf" | "lpmf" | "lcdf" | "lccdf" | "truncated"
  decls       [[stan_type, name], ...] in declaration order (a later bound may name an earlier
              variable); sizes are literals, so the list is a valid data block as is
  variate     name of the left-hand side (the first argument)
  args        the remaining arguments in Stan argument order: declared names, or numeric
              literals written as Stan text ("0", "2.5")
  params      names of the continuous variables a gradient test may turn into parameters
              (declared with the same type in a parameters block)
  data        Stan JSON values of every declared variable (ints are JSON integers)
  truncation  (kind "truncated" only) [lower, upper] as Stan expression text, null when absent;
              the program is `variate ~ dist(args) T[lower, upper];`
  lp          the full log density (all normalizing constants): for lpdf/lpmf the sum over the
              vectorised elements; for lcdf/lccdf the log of the (complementary) cdf (summed
              when vectorised); for truncated the truncated log density
  pointwise   (lpdf/lpmf/truncated) per-observation terms of lp, in data order (one per element
              of a vector/array variate; one per vector of an array of vectors for multivariate)

reference_functions.json, one case:
  name, decls, data, params  as above (params: inputs a gradient test may make parameters)
  expr         Stan expression text using the declared names
  result_type  Stan type of the result with literal sizes ("real", "int", "vector[3]",
               "row_vector[3]", "matrix[2,3]", "array[3] real")
  value        the result: a number, or nested lists in row-major (JSON) order
"""

import json
import math
import os
import sys

import mpmath as mpm
import numpy as np
import scipy
from scipy import integrate, stats

mpm.mp.dps = 30
mpf = mpm.mpf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "crates", "model", "tests", "data")


# ----------------------------------------------------------------------------------------------
# helpers


def M(x):
    """Exact conversion of a double (or int) input to mpmath."""
    if isinstance(x, (list, tuple)):
        return [M(v) for v in x]
    return mpf(x)


def lgamma(x):
    x = mpf(x)
    return mpm.log(abs(mpm.gamma(x)))


def log1m(x):
    return mpm.log1p(-mpf(x))


def log_inv_logit(a):
    a = mpf(a)
    return -mpm.log1p(mpm.exp(-a))


def to_float(v):
    if isinstance(v, list):
        return [to_float(u) for u in v]
    f = float(v)
    if not math.isfinite(f):
        raise ValueError(f"non-finite reference value {v}")
    return f


def close(a, b, rel=1e-8, absolute=1e-300):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + absolute


def check_scipy(name, ours, theirs, rel=1e-8):
    theirs = float(theirs)
    if not close(float(ours), theirs, rel, 1e-12):
        sys.exit(f"cross-check failed for {name}: mpmath {float(ours)!r} scipy {theirs!r}")


def broadcast(*args):
    """Stan vectorisation: every list argument has the same length n; scalars repeat."""
    n = None
    for a in args:
        if isinstance(a, list):
            if n is not None and n != len(a):
                raise ValueError("length mismatch")
            n = len(a)
    if n is None:
        return [tuple(args)]
    return [tuple(a[i] if isinstance(a, list) else a for a in args) for i in range(n)]


# ----------------------------------------------------------------------------------------------
# scalar log densities (mpmath, Stan parameterisations)

LOG_SQRT_2PI = mpm.log(mpm.sqrt(2 * mpm.pi))


def normal_lpdf(y, mu, s):
    z = (y - mu) / s
    return -z * z / 2 - mpm.log(s) - LOG_SQRT_2PI


def std_normal_lpdf(y):
    return -y * y / 2 - LOG_SQRT_2PI


def student_t_lpdf(y, nu, mu, s):
    z = (y - mu) / s
    return (lgamma((nu + 1) / 2) - lgamma(nu / 2) - mpm.log(nu * mpm.pi) / 2 - mpm.log(s)
            - (nu + 1) / 2 * mpm.log1p(z * z / nu))


def cauchy_lpdf(y, mu, s):
    z = (y - mu) / s
    return -mpm.log(mpm.pi) - mpm.log(s) - mpm.log1p(z * z)


def double_exponential_lpdf(y, mu, s):
    return -mpm.log(2) - mpm.log(s) - abs(y - mu) / s


def logistic_lpdf(y, mu, s):
    z = (y - mu) / s
    return -z - mpm.log(s) - 2 * mpm.log1p(mpm.exp(-z))


def lognormal_lpdf(y, mu, s):
    z = (mpm.log(y) - mu) / s
    return -z * z / 2 - mpm.log(s) - LOG_SQRT_2PI - mpm.log(y)


def exponential_lpdf(y, b):
    return mpm.log(b) - b * y


def gamma_lpdf(y, a, b):
    return a * mpm.log(b) - lgamma(a) + (a - 1) * mpm.log(y) - b * y


def inv_gamma_lpdf(y, a, b):
    return a * mpm.log(b) - lgamma(a) - (a + 1) * mpm.log(y) - b / y


def weibull_lpdf(y, a, s):
    return mpm.log(a) - mpm.log(s) + (a - 1) * (mpm.log(y) - mpm.log(s)) - (y / s) ** a


def beta_lpdf(y, a, b):
    return (lgamma(a + b) - lgamma(a) - lgamma(b) + (a - 1) * mpm.log(y)
            + (b - 1) * mpm.log1p(-y))


def uniform_lpdf(y, a, b):
    assert a <= y <= b
    return -mpm.log(b - a)


def chi_square_lpdf(y, nu):
    return -(nu / 2) * mpm.log(2) - lgamma(nu / 2) + (nu / 2 - 1) * mpm.log(y) - y / 2


def bernoulli_lpmf(n, th):
    return mpm.log(th) if n == 1 else log1m(th)


def bernoulli_logit_lpmf(n, a):
    return log_inv_logit(a) if n == 1 else log_inv_logit(-a)


def log_choose(N, n):
    return lgamma(N + 1) - lgamma(n + 1) - lgamma(N - n + 1)


def binomial_lpmf(n, N, th):
    return log_choose(N, n) + n * mpm.log(th) + (N - n) * log1m(th)


def binomial_logit_lpmf(n, N, a):
    return log_choose(N, n) + n * log_inv_logit(a) + (N - n) * log_inv_logit(-a)


def poisson_lpmf(n, lam):
    return n * mpm.log(lam) - lam - lgamma(n + 1)


def poisson_log_lpmf(n, a):
    return n * a - mpm.exp(a) - lgamma(n + 1)


def neg_binomial_2_lpmf(n, mu, phi):
    return (lgamma(n + phi) - lgamma(n + 1) - lgamma(phi) + n * mpm.log(mu / (mu + phi))
            + phi * mpm.log(phi / (mu + phi)))


def neg_binomial_2_log_lpmf(n, eta, phi):
    return neg_binomial_2_lpmf(n, mpm.exp(eta), phi)


def categorical_lpmf(n, theta):
    return mpm.log(theta[int(n) - 1])


def mat(rows):
    return mpm.matrix([[mpf(v) for v in r] for r in rows])


def multi_normal_lpdf(y, mu, sigma_rows):
    S = mat(sigma_rows)
    k = len(y)
    d = mpm.matrix([mpf(a) - mpf(b) for a, b in zip(y, mu)])
    quad = (d.T * mpm.lu_solve(S, d))[0]
    return -k * LOG_SQRT_2PI - mpm.log(mpm.det(S)) / 2 - quad / 2


def multi_normal_cholesky_lpdf(y, mu, L_rows):
    L = mat(L_rows)
    S = L * L.T
    return multi_normal_lpdf(y, mu, [[S[i, j] for j in range(S.cols)] for i in range(S.rows)])


def lkj_log_normalizer(K, eta):
    """log of the integral of det(Omega)^(eta-1) over K x K correlation matrices
    (Lewandowski, Kurowicka and Joe 2009, section 3.2)."""
    total = mpf(0)
    for k in range(1, K):
        total += (2 * eta - 2 + K - k) * (K - k) * mpm.log(2)
        b = eta + mpf(K - k - 1) / 2
        total += (K - k) * (2 * lgamma(b) - lgamma(2 * b))
    return total


def lkj_corr_cholesky_lpdf(L_rows, eta):
    """Stan Functions Reference: LkjCholesky(L | eta) = LKJ(L L' | eta) |J|, with
    log|J| = sum_{k>=2} (K - k) log L_kk, so the exponent of L_kk is K - k + 2 eta - 2."""
    K = len(L_rows)
    lp = -lkj_log_normalizer(K, eta)
    for k in range(2, K + 1):
        lp += (K - k + 2 * eta - 2) * mpm.log(mpf(L_rows[k - 1][k - 1]))
    return lp


def log_det(rows):
    return mpm.log(mpm.det(mat(rows)))


def rows_of(m):
    return [[m[i, j] for j in range(m.cols)] for i in range(m.rows)]


def multi_normal_prec_lpdf(y, mu, omega_rows):
    return multi_normal_lpdf(y, mu, rows_of(mat(omega_rows) ** -1))


def multi_student_t_lpdf(y, nu, mu, sigma_rows):
    S = mat(sigma_rows)
    k = len(y)
    nu = mpf(nu)
    d = mpm.matrix([mpf(a) - mpf(b) for a, b in zip(y, mu)])
    quad = (d.T * mpm.lu_solve(S, d))[0]
    return (lgamma((nu + k) / 2) - lgamma(nu / 2) - k * mpm.log(nu * mpm.pi) / 2
            - mpm.log(mpm.det(S)) / 2 - (nu + k) / 2 * mpm.log1p(quad / nu))


def multinomial_lpmf(y, theta):
    n = sum(y)
    return (lgamma(n + 1) - sum(lgamma(v + 1) for v in y)
            + sum(v * mpm.log(mpf(t)) for v, t in zip(y, theta) if v > 0))


def log_multi_gamma(k, x):
    return k * (k - 1) * mpm.log(mpm.pi) / 4 + sum(lgamma(mpf(x) + mpf(1 - j) / 2)
                                                  for j in range(1, k + 1))


def wishart_lpdf(w_rows, nu, s_rows):
    W, S = mat(w_rows), mat(s_rows)
    k, nu = W.rows, mpf(nu)
    tr = sum(((S ** -1) * W)[i, i] for i in range(k))
    return ((nu - k - 1) / 2 * mpm.log(mpm.det(W)) - tr / 2 - nu * k / 2 * mpm.log(2)
            - nu / 2 * mpm.log(mpm.det(S)) - log_multi_gamma(k, nu / 2))


def inv_wishart_lpdf(w_rows, nu, s_rows):
    W, S = mat(w_rows), mat(s_rows)
    k, nu = W.rows, mpf(nu)
    tr = sum((S * (W ** -1))[i, i] for i in range(k))
    return (nu / 2 * mpm.log(mpm.det(S)) - nu * k / 2 * mpm.log(2) - log_multi_gamma(k, nu / 2)
            - (nu + k + 1) / 2 * mpm.log(mpm.det(W)) - tr / 2)


def lkj_corr_lpdf(sigma_rows, eta):
    return -lkj_log_normalizer(len(sigma_rows), eta) + (mpf(eta) - 1) * log_det(sigma_rows)


def glm_eta(x_rows, alpha, beta):
    al = alpha if isinstance(alpha, list) else [alpha] * len(x_rows)
    return [mpf(a) + sum(mpf(xi) * mpf(b) for xi, b in zip(row, beta))
            for a, row in zip(al, x_rows)]


def dirichlet_lpdf(theta, alpha):
    return (lgamma(sum(alpha)) - sum(lgamma(a) for a in alpha)
            + sum((a - 1) * mpm.log(t) for a, t in zip(alpha, theta)))


# cdfs (value, not log), as mpmath


def normal_cdf(y, mu, s):
    return mpm.erfc(-(y - mu) / (s * mpm.sqrt(2))) / 2


def normal_ccdf(y, mu, s):
    return mpm.erfc((y - mu) / (s * mpm.sqrt(2))) / 2


def lognormal_cdf(y, mu, s):
    return normal_cdf(mpm.log(y), mu, s)


def lognormal_ccdf(y, mu, s):
    return normal_ccdf(mpm.log(y), mu, s)


def exponential_cdf(y, b):
    return -mpm.expm1(-b * y)


def exponential_ccdf(y, b):
    return mpm.exp(-b * y)


def gamma_cdf(y, a, b):
    return mpm.gammainc(a, 0, b * y, regularized=True)


def gamma_ccdf(y, a, b):
    return mpm.gammainc(a, b * y, mpm.inf, regularized=True)


def student_t_tail(y, nu, mu, s):
    """P(T < -|z|) for the standardised t."""
    z = (y - mu) / s
    x = nu / (nu + z * z)
    return mpm.betainc(nu / 2, mpf(1) / 2, 0, x, regularized=True) / 2


def student_t_cdf(y, nu, mu, s):
    tail = student_t_tail(y, nu, mu, s)
    return tail if y < mu else 1 - tail


def student_t_ccdf(y, nu, mu, s):
    tail = student_t_tail(y, nu, mu, s)
    return 1 - tail if y < mu else tail


def cauchy_cdf(y, mu, s):
    return mpf(1) / 2 + mpm.atan((y - mu) / s) / mpm.pi


def cauchy_ccdf(y, mu, s):
    return mpf(1) / 2 - mpm.atan((y - mu) / s) / mpm.pi


def poisson_cdf(n, lam):
    return mpm.gammainc(n + 1, lam, mpm.inf, regularized=True)


def poisson_ccdf(n, lam):
    return mpm.gammainc(n + 1, 0, lam, regularized=True)


LPDF = {
    "normal": normal_lpdf, "std_normal": std_normal_lpdf, "student_t": student_t_lpdf,
    "cauchy": cauchy_lpdf, "double_exponential": double_exponential_lpdf,
    "logistic": logistic_lpdf, "lognormal": lognormal_lpdf, "exponential": exponential_lpdf,
    "gamma": gamma_lpdf, "inv_gamma": inv_gamma_lpdf, "weibull": weibull_lpdf,
    "beta": beta_lpdf, "uniform": uniform_lpdf, "chi_square": chi_square_lpdf,
    "bernoulli": bernoulli_lpmf, "bernoulli_logit": bernoulli_logit_lpmf,
    "binomial": binomial_lpmf, "binomial_logit": binomial_logit_lpmf,
    "poisson": poisson_lpmf, "poisson_log": poisson_log_lpmf,
    "neg_binomial_2": neg_binomial_2_lpmf, "neg_binomial_2_log": neg_binomial_2_log_lpmf,
}
DISCRETE = {"bernoulli", "bernoulli_logit", "binomial", "binomial_logit", "poisson",
            "poisson_log", "neg_binomial_2", "neg_binomial_2_log", "categorical"}
CDF = {
    "normal": (normal_cdf, normal_ccdf), "lognormal": (lognormal_cdf, lognormal_ccdf),
    "exponential": (exponential_cdf, exponential_ccdf), "gamma": (gamma_cdf, gamma_ccdf),
    "student_t": (student_t_cdf, student_t_ccdf), "cauchy": (cauchy_cdf, cauchy_ccdf),
    "poisson": (poisson_cdf, poisson_ccdf),
}


# scipy counterparts for cross-checks, scalar arguments (floats)
def scipy_lpdf(dist, y, *a):
    if dist == "normal":
        return stats.norm.logpdf(y, a[0], a[1])
    if dist == "std_normal":
        return stats.norm.logpdf(y)
    if dist == "student_t":
        return stats.t.logpdf(y, a[0], a[1], a[2])
    if dist == "cauchy":
        return stats.cauchy.logpdf(y, a[0], a[1])
    if dist == "double_exponential":
        return stats.laplace.logpdf(y, a[0], a[1])
    if dist == "logistic":
        return stats.logistic.logpdf(y, a[0], a[1])
    if dist == "lognormal":
        return stats.lognorm.logpdf(y, a[1], scale=math.exp(a[0]))
    if dist == "exponential":
        return stats.expon.logpdf(y, scale=1 / a[0])
    if dist == "gamma":
        return stats.gamma.logpdf(y, a[0], scale=1 / a[1])
    if dist == "inv_gamma":
        return stats.invgamma.logpdf(y, a[0], scale=a[1])
    if dist == "weibull":
        return stats.weibull_min.logpdf(y, a[0], scale=a[1])
    if dist == "beta":
        return stats.beta.logpdf(y, a[0], a[1])
    if dist == "uniform":
        return stats.uniform.logpdf(y, a[0], a[1] - a[0])
    if dist == "chi_square":
        return stats.chi2.logpdf(y, a[0])
    if dist == "bernoulli":
        return stats.bernoulli.logpmf(y, a[0])
    if dist == "bernoulli_logit":
        return stats.bernoulli.logpmf(y, scipy.special.expit(a[0]))
    if dist == "binomial":
        return stats.binom.logpmf(y, a[0], a[1])
    if dist == "binomial_logit":
        return stats.binom.logpmf(y, a[0], scipy.special.expit(a[1]))
    if dist == "poisson":
        return stats.poisson.logpmf(y, a[0])
    if dist == "poisson_log":
        return stats.poisson.logpmf(y, math.exp(a[0]))
    if dist == "neg_binomial_2":
        mu, phi = a
        return stats.nbinom.logpmf(y, phi, phi / (mu + phi))
    if dist == "neg_binomial_2_log":
        mu, phi = math.exp(a[0]), a[1]
        return stats.nbinom.logpmf(y, phi, phi / (mu + phi))
    return None


def scipy_cdf(dist, lower, y, *a):
    """log cdf (lower=True) or log ccdf, or None when scipy's is not accurate enough to compare."""
    fn = "logcdf" if lower else "logsf"
    if dist == "normal":
        return getattr(stats.norm, fn)(y, a[0], a[1])
    if dist == "lognormal":
        return getattr(stats.lognorm, fn)(y, a[1], scale=math.exp(a[0]))
    if dist == "exponential":
        return getattr(stats.expon, fn)(y, scale=1 / a[0])
    if dist == "gamma":
        return getattr(stats.gamma, fn)(y, a[0], scale=1 / a[1])
    if dist == "student_t":
        return getattr(stats.t, fn)(y, a[0], a[1], a[2])
    if dist == "cauchy":
        return getattr(stats.cauchy, fn)(y, a[0], a[1])
    if dist == "poisson":
        return getattr(stats.poisson, fn)(y, a[0])
    return None


# ----------------------------------------------------------------------------------------------
# distribution cases

DIST_CASES = []


def V(name, stan_type, value, param=False):
    return (name, stan_type, value, param)


def add_dist(name, dist, kind, variables, variate, args, truncation=None):
    values = {v[0]: v[2] for v in variables}
    y = values[variate]
    # an argument is a declared name or a numeric literal (Stan text: "0", "2.5")
    argv = [values[a] if a in values else json.loads(a) for a in args]
    pointwise = None
    if kind in ("lpdf", "lpmf", "truncated"):
        if dist == "categorical":
            theta = M(argv[0])
            ys = y if isinstance(y, list) else [y]
            terms = [categorical_lpmf(n, theta) for n in ys]
        elif dist in ("multi_normal", "multi_normal_cholesky"):
            fn = multi_normal_lpdf if dist == "multi_normal" else multi_normal_cholesky_lpdf
            ys = y if isinstance(y[0], list) else [y]
            mus = argv[0] if isinstance(argv[0][0], list) else [argv[0]] * len(ys)
            terms = [fn(M(yy), M(mm), argv[1]) for yy, mm in zip(ys, mus)]
            cross = [stats.multivariate_normal.logpdf(
                yy, mm, argv[1] if dist == "multi_normal"
                else np.array(argv[1]) @ np.array(argv[1]).T) for yy, mm in zip(ys, mus)]
            for t, c in zip(terms, cross):
                check_scipy(name, t, c)
        elif dist == "lkj_corr_cholesky":
            terms = [lkj_corr_cholesky_lpdf(y, M(argv[0]))]
        elif dist in ("multi_normal_prec", "multi_student_t", "multi_student_t_cholesky"):
            ys = y if isinstance(y[0], list) else [y]
            if dist == "multi_normal_prec":
                mu_arg, nu = argv[0], None
                mat_arg = argv[1]
                cov = np.linalg.inv(np.array(mat_arg))
            else:
                nu, mu_arg, mat_arg = argv
                cov = np.array(mat_arg)
                if dist == "multi_student_t_cholesky":
                    cov = cov @ cov.T
                    mat_arg = cov.tolist()
            mus = mu_arg if isinstance(mu_arg[0], list) else [mu_arg] * len(ys)
            if dist == "multi_normal_prec":
                terms = [multi_normal_prec_lpdf(M(yy), M(mm), mat_arg) for yy, mm in zip(ys, mus)]
                cross = [stats.multivariate_normal.logpdf(yy, mm, cov) for yy, mm in zip(ys, mus)]
            else:
                terms = [multi_student_t_lpdf(M(yy), nu, M(mm), mat_arg) for yy, mm in zip(ys, mus)]
                cross = [stats.multivariate_t.logpdf(yy, loc=mm, shape=cov, df=nu)
                         for yy, mm in zip(ys, mus)]
            for t, c in zip(terms, cross):
                check_scipy(name, t, c)
        elif dist in ("multinomial", "multinomial_logit"):
            theta = argv[0]
            if dist == "multinomial_logit":
                e = [mpm.exp(mpf(g)) for g in theta]
                theta = [v / sum(e) for v in e]
            terms = [multinomial_lpmf(y, theta)]
            check_scipy(name, terms[0], stats.multinomial.logpmf(y, sum(y), [float(t) for t in theta]))
        elif dist in ("wishart", "inv_wishart"):
            fn = wishart_lpdf if dist == "wishart" else inv_wishart_lpdf
            terms = [fn(y, argv[0], argv[1])]
            ref = (stats.wishart if dist == "wishart" else stats.invwishart).logpdf(
                np.array(y), df=argv[0], scale=np.array(argv[1]))
            check_scipy(name, terms[0], ref)
        elif dist == "lkj_corr":
            terms = [lkj_corr_lpdf(y, argv[0])]
        elif dist.endswith("_glm"):
            x_rows, alpha, beta = argv[0], argv[1], argv[2]
            etas = glm_eta(x_rows, alpha, beta)
            base = {"normal_id_glm": "normal", "bernoulli_logit_glm": "bernoulli_logit",
                    "poisson_log_glm": "poisson_log",
                    "neg_binomial_2_log_glm": "neg_binomial_2_log"}[dist]
            rest = argv[3:]
            terms = []
            for i, yy in enumerate(y):
                t = LPDF[base](mpf(yy), etas[i], *M(rest))
                ref = scipy_lpdf(base, yy, float(etas[i]), *rest)
                if ref is not None:
                    check_scipy(f"{name} {i}", t, ref, rel=1e-6)
                terms.append(t)
        elif dist == "dirichlet":
            terms = [dirichlet_lpdf(M(y), M(argv[0]))]
            check_scipy(name, terms[0], stats.dirichlet.logpdf(y, argv[0]))
        else:
            fn = LPDF[dist]
            terms = []
            for tup in broadcast(y, *argv):
                t = fn(*M(list(tup)))
                ref = scipy_lpdf(dist, *tup)
                if ref is not None and math.isfinite(float(t)) and abs(float(t)) < 1e300:
                    # scipy loses digits in a few deliberate extremes; compare loosely there
                    check_scipy(f"{name} {tup}", t, ref, rel=1e-5)
                terms.append(t)
        if kind == "truncated":
            assert len(terms) == 1, "truncation cases are scalar"
            lo, hi = truncation
            cdf, ccdf = CDF[dist]
            targs = M(argv)
            env = {k: v for k, v in values.items()}
            lo_v = None if lo is None else eval(lo, {}, env)  # bound text is a literal or a name
            hi_v = None if hi is None else eval(hi, {}, env)
            if dist in DISCRETE:
                # P(lo <= Y <= hi) = F(hi) - F(lo - 1)
                mass_hi = mpf(1) if hi_v is None else cdf(mpf(hi_v), *targs)
                mass_lo = mpf(0) if lo_v is None else cdf(mpf(lo_v) - 1, *targs)
            else:
                mass_hi = mpf(1) if hi_v is None else cdf(mpf(hi_v), *targs)
                mass_lo = mpf(0) if lo_v is None else cdf(mpf(lo_v), *targs)
            if hi_v is None and lo_v is not None:
                shift = (lo_v - 1) if dist in DISCRETE else lo_v
                mass = ccdf(mpf(shift), *targs)
            else:
                mass = mass_hi - mass_lo
            verify_truncation_mass(name, dist, targs, lo_v, hi_v, mass)
            terms = [terms[0] - mpm.log(mass)]
        lp = sum(terms, mpf(0))
        pointwise = terms
    else:
        cdf, ccdf = CDF[dist]
        fn = cdf if kind == "lcdf" else ccdf
        lp = mpf(0)
        for tup in broadcast(y, *argv):
            t = mpm.log(fn(*M(list(tup))))
            ref = scipy_cdf(dist, kind == "lcdf", *tup)
            if ref is not None and math.isfinite(ref):
                check_scipy(f"{name} {tup}", t, ref, rel=1e-6)
            lp += t
    case = {
        "name": name,
        "dist": dist,
        "kind": kind,
        "decls": [[v[1], v[0]] for v in variables],
        "variate": variate,
        "args": list(args),
        "params": [v[0] for v in variables if v[3]],
        "data": values,
        "lp": to_float(lp),
    }
    if truncation is not None:
        case["truncation"] = list(truncation)
    if pointwise is not None:
        case["pointwise"] = to_float(pointwise)
    assert not any(c["name"] == name for c in DIST_CASES), name
    DIST_CASES.append(case)


R, P = "real", True
POS = "real<lower=0>"


def distribution_cases():
    # normal
    add_dist("normal_scalar", "normal", "lpdf",
             [V("y", R, 0.7, P), V("mu", R, -0.3, P), V("sigma", POS, 1.7, P)],
             "y", ["mu", "sigma"])
    add_dist("normal_far_tail", "normal", "lpdf",
             [V("y", R, 1.0e4, P), V("mu", R, 2.5, P), V("sigma", POS, 0.3, P)],
             "y", ["mu", "sigma"])
    add_dist("normal_vector_shared", "normal", "lpdf",
             [V("y", "vector[4]", [0.1, -2.3, 4.5, 1e-3], P), V("mu", R, 0.4, P),
              V("sigma", POS, 2.2, P)], "y", ["mu", "sigma"])
    add_dist("normal_vector_per_element", "normal", "lpdf",
             [V("y", "vector[3]", [1.5, -0.5, 3.0], P), V("mu", "vector[3]", [1.0, 0.0, -1.0], P),
              V("sigma", "vector<lower=0>[3]", [0.5, 1.5, 1e-2], P)], "y", ["mu", "sigma"])
    add_dist("normal_array_real", "normal", "lpdf",
             [V("y", "array[3] real", [2.0, 2.5, -7.0], P), V("mu", R, 1.25, P),
              V("sigma", "vector<lower=0>[3]", [3.0, 0.25, 40.0], P)], "y", ["mu", "sigma"])
    add_dist("normal_row_vector_tiny_sigma", "normal", "lpdf",
             [V("y", "row_vector[2]", [1.0 + 1e-9, 1.0 - 2e-9], P), V("mu", R, 1.0, P),
              V("sigma", POS, 1e-9, P)], "y", ["mu", "sigma"])
    # std_normal
    add_dist("std_normal_scalar", "std_normal", "lpdf", [V("y", R, 0.3, P)], "y", [])
    add_dist("std_normal_zero", "std_normal", "lpdf", [V("y", R, 0.0, P)], "y", [])
    add_dist("std_normal_tail", "std_normal", "lpdf", [V("y", R, -38.5, P)], "y", [])
    add_dist("std_normal_vector", "std_normal", "lpdf",
             [V("y", "vector[4]", [0.5, -1.5, 2.5, 1e-5], P)], "y", [])
    # student_t
    add_dist("student_t_scalar", "student_t", "lpdf",
             [V("y", R, 1.3, P), V("nu", POS, 3.5, P), V("mu", R, 0.2, P),
              V("sigma", POS, 0.8, P)], "y", ["nu", "mu", "sigma"])
    add_dist("student_t_heavy", "student_t", "lpdf",
             [V("y", R, -250.0, P), V("nu", POS, 0.6, P), V("mu", R, 1.0, P),
              V("sigma", POS, 2.0, P)], "y", ["nu", "mu", "sigma"])
    add_dist("student_t_large_nu", "student_t", "lpdf",
             [V("y", R, 0.9, P), V("nu", POS, 1000.0, P), V("mu", R, -0.1, P),
              V("sigma", POS, 1.1, P)], "y", ["nu", "mu", "sigma"])
    add_dist("student_t_vector", "student_t", "lpdf",
             [V("y", "vector[3]", [0.5, 4.0, -3.0], P), V("nu", "vector<lower=0>[3]", [1.0, 5.0, 30.0], P),
              V("mu", R, 0.0, P), V("sigma", POS, 1.5, P)], "y", ["nu", "mu", "sigma"])
    # cauchy
    add_dist("cauchy_scalar", "cauchy", "lpdf",
             [V("y", R, 2.0, P), V("mu", R, -1.0, P), V("sigma", POS, 0.5, P)], "y", ["mu", "sigma"])
    add_dist("cauchy_far", "cauchy", "lpdf",
             [V("y", R, 1e8, P), V("mu", R, 0.0, P), V("sigma", POS, 3.0, P)], "y", ["mu", "sigma"])
    add_dist("cauchy_at_location", "cauchy", "lpdf",
             [V("y", R, 0.25, P), V("mu", R, 0.25, P), V("sigma", POS, 1e-3, P)], "y", ["mu", "sigma"])
    add_dist("cauchy_vector", "cauchy", "lpdf",
             [V("y", "vector[3]", [0.1, -5.0, 12.0], P), V("mu", "vector[3]", [0.0, 1.0, 2.0], P),
              V("sigma", POS, 2.5, P)], "y", ["mu", "sigma"])
    # double_exponential
    add_dist("double_exponential_scalar", "double_exponential", "lpdf",
             [V("y", R, 1.5, P), V("mu", R, 0.3, P), V("sigma", POS, 0.7, P)], "y", ["mu", "sigma"])
    add_dist("double_exponential_left", "double_exponential", "lpdf",
             [V("y", R, -40.0, P), V("mu", R, 2.0, P), V("sigma", POS, 5.0, P)], "y", ["mu", "sigma"])
    add_dist("double_exponential_small_scale", "double_exponential", "lpdf",
             [V("y", R, 1e-6, P), V("mu", R, -1e-6, P), V("sigma", POS, 1e-6, P)], "y", ["mu", "sigma"])
    add_dist("double_exponential_vector", "double_exponential", "lpdf",
             [V("y", "vector[3]", [0.5, -0.5, 2.0], P), V("mu", R, 0.1, P),
              V("sigma", "vector<lower=0>[3]", [1.0, 2.0, 0.5], P)], "y", ["mu", "sigma"])
    # logistic
    add_dist("logistic_scalar", "logistic", "lpdf",
             [V("y", R, 0.8, P), V("mu", R, 0.2, P), V("sigma", POS, 1.3, P)], "y", ["mu", "sigma"])
    add_dist("logistic_far_right", "logistic", "lpdf",
             [V("y", R, 800.0, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)], "y", ["mu", "sigma"])
    add_dist("logistic_far_left", "logistic", "lpdf",
             [V("y", R, -900.0, P), V("mu", R, 1.0, P), V("sigma", POS, 1.0, P)], "y", ["mu", "sigma"])
    add_dist("logistic_vector", "logistic", "lpdf",
             [V("y", "vector[3]", [-1.0, 0.0, 3.5], P), V("mu", "vector[3]", [0.5, 0.5, 0.5], P),
              V("sigma", POS, 0.9, P)], "y", ["mu", "sigma"])
    # lognormal
    add_dist("lognormal_scalar", "lognormal", "lpdf",
             [V("y", POS, 2.5, P), V("mu", R, 0.4, P), V("sigma", POS, 0.6, P)], "y", ["mu", "sigma"])
    add_dist("lognormal_tiny_y", "lognormal", "lpdf",
             [V("y", POS, 1e-200, P), V("mu", R, -3.0, P), V("sigma", POS, 20.0, P)], "y", ["mu", "sigma"])
    add_dist("lognormal_huge_y", "lognormal", "lpdf",
             [V("y", POS, 1e150, P), V("mu", R, 300.0, P), V("sigma", POS, 15.0, P)], "y", ["mu", "sigma"])
    add_dist("lognormal_vector", "lognormal", "lpdf",
             [V("y", "vector<lower=0>[3]", [0.5, 1.0, 7.0], P), V("mu", R, 0.1, P),
              V("sigma", "vector<lower=0>[3]", [0.3, 1.0, 2.0], P)], "y", ["mu", "sigma"])
    # exponential
    add_dist("exponential_scalar", "exponential", "lpdf",
             [V("y", POS, 1.7, P), V("beta", POS, 0.4, P)], "y", ["beta"])
    add_dist("exponential_tiny_y", "exponential", "lpdf",
             [V("y", POS, 1e-300, P), V("beta", POS, 1e5, P)], "y", ["beta"])
    add_dist("exponential_large_y", "exponential", "lpdf",
             [V("y", POS, 5e3, P), V("beta", POS, 2.0, P)], "y", ["beta"])
    add_dist("exponential_vector", "exponential", "lpdf",
             [V("y", "vector<lower=0>[4]", [0.1, 1.0, 3.0, 9.0], P),
              V("beta", "vector<lower=0>[4]", [2.0, 1.0, 0.5, 0.1], P)], "y", ["beta"])
    # gamma
    add_dist("gamma_scalar", "gamma", "lpdf",
             [V("y", POS, 2.2, P), V("alpha", POS, 3.0, P), V("beta", POS, 1.5, P)],
             "y", ["alpha", "beta"])
    add_dist("gamma_small_shape", "gamma", "lpdf",
             [V("y", POS, 1e-8, P), V("alpha", POS, 1e-3, P), V("beta", POS, 0.5, P)],
             "y", ["alpha", "beta"])
    add_dist("gamma_large_shape", "gamma", "lpdf",
             [V("y", POS, 480.0, P), V("alpha", POS, 500.0, P), V("beta", POS, 1.0, P)],
             "y", ["alpha", "beta"])
    add_dist("gamma_vector", "gamma", "lpdf",
             [V("y", "vector<lower=0>[3]", [0.3, 1.2, 5.0], P), V("alpha", POS, 2.0, P),
              V("beta", "vector<lower=0>[3]", [1.0, 0.5, 3.0], P)], "y", ["alpha", "beta"])
    # inv_gamma
    add_dist("inv_gamma_scalar", "inv_gamma", "lpdf",
             [V("y", POS, 0.9, P), V("alpha", POS, 2.5, P), V("beta", POS, 1.2, P)],
             "y", ["alpha", "beta"])
    add_dist("inv_gamma_tiny_y", "inv_gamma", "lpdf",
             [V("y", POS, 1e-4, P), V("alpha", POS, 0.5, P), V("beta", POS, 1e-3, P)],
             "y", ["alpha", "beta"])
    add_dist("inv_gamma_large_y", "inv_gamma", "lpdf",
             [V("y", POS, 1e6, P), V("alpha", POS, 3.0, P), V("beta", POS, 20.0, P)],
             "y", ["alpha", "beta"])
    add_dist("inv_gamma_vector", "inv_gamma", "lpdf",
             [V("y", "vector<lower=0>[3]", [0.2, 1.0, 4.0], P),
              V("alpha", "vector<lower=0>[3]", [1.0, 2.0, 3.0], P), V("beta", POS, 0.7, P)],
             "y", ["alpha", "beta"])
    # weibull
    add_dist("weibull_scalar", "weibull", "lpdf",
             [V("y", POS, 1.4, P), V("alpha", POS, 1.8, P), V("sigma", POS, 2.0, P)],
             "y", ["alpha", "sigma"])
    add_dist("weibull_small_shape", "weibull", "lpdf",
             [V("y", POS, 1e-5, P), V("alpha", POS, 0.3, P), V("sigma", POS, 1.0, P)],
             "y", ["alpha", "sigma"])
    add_dist("weibull_far", "weibull", "lpdf",
             [V("y", POS, 60.0, P), V("alpha", POS, 4.0, P), V("sigma", POS, 10.0, P)],
             "y", ["alpha", "sigma"])
    add_dist("weibull_vector", "weibull", "lpdf",
             [V("y", "vector<lower=0>[3]", [0.5, 1.5, 3.0], P), V("alpha", POS, 2.5, P),
              V("sigma", "vector<lower=0>[3]", [1.0, 2.0, 0.8], P)], "y", ["alpha", "sigma"])
    # beta
    U01 = "real<lower=0, upper=1>"
    add_dist("beta_scalar", "beta", "lpdf",
             [V("theta", U01, 0.35, P), V("a", POS, 2.0, P), V("b", POS, 5.0, P)],
             "theta", ["a", "b"])
    add_dist("beta_near_zero", "beta", "lpdf",
             [V("theta", U01, 1e-12, P), V("a", POS, 0.5, P), V("b", POS, 3.0, P)],
             "theta", ["a", "b"])
    add_dist("beta_near_one", "beta", "lpdf",
             [V("theta", U01, 0.999999, P), V("a", POS, 4.0, P), V("b", POS, 0.2, P)],
             "theta", ["a", "b"])
    add_dist("beta_vector", "beta", "lpdf",
             [V("theta", "vector<lower=0, upper=1>[3]", [0.1, 0.5, 0.9], P),
              V("a", "vector<lower=0>[3]", [1.0, 2.0, 3.0], P), V("b", POS, 1.5, P)],
             "theta", ["a", "b"])
    # uniform
    add_dist("uniform_scalar", "uniform", "lpdf",
             [V("alpha", R, -1.0, P), V("beta", "real<lower=alpha>", 3.0, P),
              V("y", "real<lower=alpha, upper=beta>", 0.5, P)], "y", ["alpha", "beta"])
    add_dist("uniform_narrow", "uniform", "lpdf",
             [V("alpha", R, 1.0, P), V("beta", "real<lower=alpha>", 1.0 + 1e-6, P),
              V("y", "real<lower=alpha, upper=beta>", 1.0 + 5e-7, P)], "y", ["alpha", "beta"])
    add_dist("uniform_wide", "uniform", "lpdf",
             [V("alpha", R, -1e6, P), V("beta", "real<lower=alpha>", 2e6, P),
              V("y", "real<lower=alpha, upper=beta>", 12345.0, P)], "y", ["alpha", "beta"])
    add_dist("uniform_vector", "uniform", "lpdf",
             [V("y", "vector<lower=0, upper=2>[3]", [0.1, 1.0, 1.9], P), V("alpha", "real<upper=0>", -0.5, P),
              V("beta", "real<lower=2>", 2.5, P)], "y", ["alpha", "beta"])
    # chi_square
    add_dist("chi_square_scalar", "chi_square", "lpdf",
             [V("y", POS, 3.3, P), V("nu", POS, 4.0, P)], "y", ["nu"])
    add_dist("chi_square_small_nu", "chi_square", "lpdf",
             [V("y", POS, 1e-3, P), V("nu", POS, 0.05, P)], "y", ["nu"])
    add_dist("chi_square_large_y", "chi_square", "lpdf",
             [V("y", POS, 1500.0, P), V("nu", POS, 1400.0, P)], "y", ["nu"])
    add_dist("chi_square_vector", "chi_square", "lpdf",
             [V("y", "vector<lower=0>[3]", [0.5, 2.0, 8.0], P),
              V("nu", "vector<lower=0>[3]", [1.0, 3.0, 6.0], P)], "y", ["nu"])
    # bernoulli
    B = "int<lower=0, upper=1>"
    add_dist("bernoulli_one", "bernoulli", "lpmf", [V("n", B, 1), V("theta", U01, 0.3, P)],
             "n", ["theta"])
    add_dist("bernoulli_zero", "bernoulli", "lpmf", [V("n", B, 0), V("theta", U01, 0.3, P)],
             "n", ["theta"])
    add_dist("bernoulli_rare", "bernoulli", "lpmf", [V("n", B, 0), V("theta", U01, 1e-15, P)],
             "n", ["theta"])
    add_dist("bernoulli_array_shared", "bernoulli", "lpmf",
             [V("n", "array[5] int<lower=0, upper=1>", [1, 0, 0, 1, 1]), V("theta", U01, 0.65, P)],
             "n", ["theta"])
    add_dist("bernoulli_array_per_element", "bernoulli", "lpmf",
             [V("n", "array[3] int<lower=0, upper=1>", [1, 0, 1]),
              V("theta", "vector<lower=0, upper=1>[3]", [0.2, 0.9, 0.5], P)], "n", ["theta"])
    # bernoulli_logit
    add_dist("bernoulli_logit_one", "bernoulli_logit", "lpmf", [V("n", B, 1), V("alpha", R, 0.7, P)],
             "n", ["alpha"])
    add_dist("bernoulli_logit_saturated", "bernoulli_logit", "lpmf",
             [V("n", B, 0), V("alpha", R, 800.0, P)], "n", ["alpha"])
    add_dist("bernoulli_logit_very_negative", "bernoulli_logit", "lpmf",
             [V("n", B, 1), V("alpha", R, -745.5, P)], "n", ["alpha"])
    add_dist("bernoulli_logit_array", "bernoulli_logit", "lpmf",
             [V("n", "array[4] int<lower=0, upper=1>", [0, 1, 1, 0]),
              V("alpha", "vector[4]", [-2.0, 0.5, 40.0, -40.0], P)], "n", ["alpha"])
    # binomial
    add_dist("binomial_scalar", "binomial", "lpmf",
             [V("n", "int<lower=0>", 7), V("N", "int<lower=0>", 20), V("theta", U01, 0.4, P)],
             "n", ["N", "theta"])
    add_dist("binomial_rare", "binomial", "lpmf",
             [V("n", "int<lower=0>", 0), V("N", "int<lower=0>", 1000), V("theta", U01, 1e-10, P)],
             "n", ["N", "theta"])
    add_dist("binomial_all", "binomial", "lpmf",
             [V("n", "int<lower=0>", 50), V("N", "int<lower=0>", 50), V("theta", U01, 0.999, P)],
             "n", ["N", "theta"])
    add_dist("binomial_array", "binomial", "lpmf",
             [V("n", "array[3] int<lower=0>", [3, 0, 12]), V("N", "array[3] int<lower=0>", [10, 5, 12]),
              V("theta", "vector<lower=0, upper=1>[3]", [0.25, 0.1, 0.8], P)], "n", ["N", "theta"])
    # binomial_logit
    add_dist("binomial_logit_scalar", "binomial_logit", "lpmf",
             [V("n", "int<lower=0>", 4), V("N", "int<lower=0>", 9), V("alpha", R, -0.3, P)],
             "n", ["N", "alpha"])
    add_dist("binomial_logit_large_alpha", "binomial_logit", "lpmf",
             [V("n", "int<lower=0>", 30), V("N", "int<lower=0>", 30), V("alpha", R, 40.0, P)],
             "n", ["N", "alpha"])
    add_dist("binomial_logit_very_negative", "binomial_logit", "lpmf",
             [V("n", "int<lower=0>", 2), V("N", "int<lower=0>", 6), V("alpha", R, -50.0, P)],
             "n", ["N", "alpha"])
    add_dist("binomial_logit_array", "binomial_logit", "lpmf",
             [V("n", "array[3] int<lower=0>", [1, 5, 7]), V("N", "int<lower=0>", 8),
              V("alpha", "vector[3]", [-1.0, 0.2, 1.5], P)], "n", ["N", "alpha"])
    # poisson
    add_dist("poisson_scalar", "poisson", "lpmf",
             [V("n", "int<lower=0>", 3), V("lambda", POS, 2.5, P)], "n", ["lambda"])
    add_dist("poisson_zero_count", "poisson", "lpmf",
             [V("n", "int<lower=0>", 0), V("lambda", POS, 1e-8, P)], "n", ["lambda"])
    add_dist("poisson_large", "poisson", "lpmf",
             [V("n", "int<lower=0>", 10050), V("lambda", POS, 1e4, P)], "n", ["lambda"])
    add_dist("poisson_array", "poisson", "lpmf",
             [V("n", "array[4] int<lower=0>", [0, 1, 5, 20]), V("lambda", POS, 4.5, P)],
             "n", ["lambda"])
    add_dist("poisson_array_per_element", "poisson", "lpmf",
             [V("n", "array[3] int<lower=0>", [2, 7, 0]),
              V("lambda", "vector<lower=0>[3]", [1.5, 6.0, 0.3], P)], "n", ["lambda"])
    # poisson_log
    add_dist("poisson_log_scalar", "poisson_log", "lpmf",
             [V("n", "int<lower=0>", 5), V("alpha", R, 1.2, P)], "n", ["alpha"])
    add_dist("poisson_log_very_negative", "poisson_log", "lpmf",
             [V("n", "int<lower=0>", 0), V("alpha", R, -30.0, P)], "n", ["alpha"])
    add_dist("poisson_log_large", "poisson_log", "lpmf",
             [V("n", "int<lower=0>", 1000), V("alpha", R, 6.9, P)], "n", ["alpha"])
    add_dist("poisson_log_array", "poisson_log", "lpmf",
             [V("n", "array[3] int<lower=0>", [0, 3, 9]), V("alpha", "vector[3]", [-1.0, 1.0, 2.0], P)],
             "n", ["alpha"])
    # neg_binomial_2
    add_dist("neg_binomial_2_scalar", "neg_binomial_2", "lpmf",
             [V("n", "int<lower=0>", 4), V("mu", POS, 3.5, P), V("phi", POS, 2.0, P)],
             "n", ["mu", "phi"])
    add_dist("neg_binomial_2_small_phi", "neg_binomial_2", "lpmf",
             [V("n", "int<lower=0>", 120), V("mu", POS, 10.0, P), V("phi", POS, 1e-2, P)],
             "n", ["mu", "phi"])
    add_dist("neg_binomial_2_large_phi", "neg_binomial_2", "lpmf",
             [V("n", "int<lower=0>", 6), V("mu", POS, 4.0, P), V("phi", POS, 1e4, P)],
             "n", ["mu", "phi"])
    add_dist("neg_binomial_2_zero", "neg_binomial_2", "lpmf",
             [V("n", "int<lower=0>", 0), V("mu", POS, 0.5, P), V("phi", POS, 3.0, P)],
             "n", ["mu", "phi"])
    add_dist("neg_binomial_2_array", "neg_binomial_2", "lpmf",
             [V("n", "array[3] int<lower=0>", [0, 2, 11]), V("mu", "vector<lower=0>[3]", [1.0, 2.0, 8.0], P),
              V("phi", POS, 1.5, P)], "n", ["mu", "phi"])
    # neg_binomial_2_log
    add_dist("neg_binomial_2_log_scalar", "neg_binomial_2_log", "lpmf",
             [V("n", "int<lower=0>", 3), V("eta", R, 0.8, P), V("phi", POS, 2.5, P)],
             "n", ["eta", "phi"])
    add_dist("neg_binomial_2_log_negative_eta", "neg_binomial_2_log", "lpmf",
             [V("n", "int<lower=0>", 0), V("eta", R, -12.0, P), V("phi", POS, 0.7, P)],
             "n", ["eta", "phi"])
    add_dist("neg_binomial_2_log_large", "neg_binomial_2_log", "lpmf",
             [V("n", "int<lower=0>", 400), V("eta", R, 6.0, P), V("phi", POS, 50.0, P)],
             "n", ["eta", "phi"])
    add_dist("neg_binomial_2_log_array", "neg_binomial_2_log", "lpmf",
             [V("n", "array[3] int<lower=0>", [1, 4, 2]), V("eta", "vector[3]", [0.0, 1.0, 0.5], P),
              V("phi", "vector<lower=0>[3]", [1.0, 5.0, 0.5], P)], "n", ["eta", "phi"])
    # categorical
    add_dist("categorical_scalar", "categorical", "lpmf",
             [V("y", "int<lower=1, upper=3>", 2), V("theta", "simplex[3]", [0.2, 0.5, 0.3], P)],
             "y", ["theta"])
    add_dist("categorical_last", "categorical", "lpmf",
             [V("y", "int<lower=1, upper=4>", 4), V("theta", "simplex[4]", [0.1, 0.2, 0.3, 0.4], P)],
             "y", ["theta"])
    add_dist("categorical_rare", "categorical", "lpmf",
             [V("y", "int<lower=1, upper=3>", 1), V("theta", "simplex[3]", [1e-12, 0.5, 0.5 - 1e-12], P)],
             "y", ["theta"])
    add_dist("categorical_array", "categorical", "lpmf",
             [V("y", "array[5] int<lower=1, upper=3>", [1, 3, 3, 2, 1]),
              V("theta", "simplex[3]", [0.25, 0.35, 0.4], P)], "y", ["theta"])
    # multi_normal
    S3 = [[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]]
    add_dist("multi_normal_3", "multi_normal", "lpdf",
             [V("y", "vector[3]", [0.5, -1.0, 2.0], P), V("mu", "vector[3]", [0.0, 0.5, 1.0], P),
              V("Sigma", "cov_matrix[3]", S3, P)], "y", ["mu", "Sigma"])
    add_dist("multi_normal_2_strong_correlation", "multi_normal", "lpdf",
             [V("y", "vector[2]", [1.0, 1.1], P), V("mu", "vector[2]", [0.0, 0.0], P),
              V("Sigma", "cov_matrix[2]", [[1.0, 0.999], [0.999, 1.0]], P)], "y", ["mu", "Sigma"])
    add_dist("multi_normal_array_shared_mu", "multi_normal", "lpdf",
             [V("y", "array[2] vector[3]", [[0.1, 0.2, 0.3], [-1.0, 2.0, 0.5]], P),
              V("mu", "vector[3]", [0.0, 0.5, -0.5], P), V("Sigma", "cov_matrix[3]", S3, P)],
             "y", ["mu", "Sigma"])
    add_dist("multi_normal_array_per_mu", "multi_normal", "lpdf",
             [V("y", "array[2] vector[2]", [[1.0, 2.0], [3.0, -1.0]], P),
              V("mu", "array[2] vector[2]", [[0.5, 1.5], [2.0, 0.0]], P),
              V("Sigma", "cov_matrix[2]", [[4.0, -1.0], [-1.0, 9.0]], P)], "y", ["mu", "Sigma"])
    # multi_normal_cholesky (L is the Cholesky factor of a covariance: data only, type matrix)
    L3 = np.linalg.cholesky(np.array(S3)).tolist()
    add_dist("multi_normal_cholesky_3", "multi_normal_cholesky", "lpdf",
             [V("y", "vector[3]", [0.5, -1.0, 2.0], P), V("mu", "vector[3]", [0.0, 0.5, 1.0], P),
              V("L", "matrix[3,3]", L3)], "y", ["mu", "L"])
    add_dist("multi_normal_cholesky_diagonal", "multi_normal_cholesky", "lpdf",
             [V("y", "vector[2]", [3.0, -4.0], P), V("mu", "vector[2]", [0.0, 0.0], P),
              V("L", "matrix[2,2]", [[0.5, 0.0], [0.0, 2.0]])], "y", ["mu", "L"])
    add_dist("multi_normal_cholesky_far", "multi_normal_cholesky", "lpdf",
             [V("y", "vector[2]", [100.0, -50.0], P), V("mu", "vector[2]", [1.0, 2.0], P),
              V("L", "matrix[2,2]", [[1.5, 0.0], [-0.6, 0.8]])], "y", ["mu", "L"])
    add_dist("multi_normal_cholesky_array", "multi_normal_cholesky", "lpdf",
             [V("y", "array[3] vector[2]", [[0.0, 1.0], [1.0, 0.0], [-2.0, -2.0]], P),
              V("mu", "vector[2]", [0.3, -0.3], P), V("L", "matrix[2,2]", [[1.0, 0.0], [0.5, 0.7]])],
             "y", ["mu", "L"])
    # lkj_corr_cholesky
    for K, eta, tag in [(2, 1.0, "k2_eta1"), (3, 2.0, "k3_eta2"), (4, 0.5, "k4_eta_half"),
                        (3, 1.0, "k3_eta1"), (5, 30.0, "k5_eta30")]:
        L = random_corr_cholesky(K, seed=K * 10 + int(eta * 2))
        add_dist(f"lkj_corr_cholesky_{tag}", "lkj_corr_cholesky", "lpdf",
                 [V("L", f"cholesky_factor_corr[{K}]", L, P), V("eta", POS, eta, P)],
                 "L", ["eta"])
    # dirichlet
    add_dist("dirichlet_3", "dirichlet", "lpdf",
             [V("theta", "simplex[3]", [0.2, 0.3, 0.5], P),
              V("alpha", "vector<lower=0>[3]", [1.5, 2.0, 3.0], P)], "theta", ["alpha"])
    add_dist("dirichlet_sparse", "dirichlet", "lpdf",
             [V("theta", "simplex[4]", [1e-8, 0.5, 0.3, 0.2 - 1e-8], P),
              V("alpha", "vector<lower=0>[4]", [0.1, 0.5, 1.0, 2.0], P)], "theta", ["alpha"])
    add_dist("dirichlet_uniform", "dirichlet", "lpdf",
             [V("theta", "simplex[2]", [0.75, 0.25], P),
              V("alpha", "vector<lower=0>[2]", [1.0, 1.0], P)], "theta", ["alpha"])
    add_dist("dirichlet_concentrated", "dirichlet", "lpdf",
             [V("theta", "simplex[3]", [0.33, 0.33, 0.34], P),
              V("alpha", "vector<lower=0>[3]", [100.0, 100.0, 120.0], P)], "theta", ["alpha"])

    # library distributions evaluated through compositions (crates/model/src/library.rs)
    W3 = [[1.5, 0.2, -0.1], [0.2, 0.8, 0.3], [-0.1, 0.3, 2.2]]
    O3 = np.linalg.inv(np.array(S3)).tolist()
    add_dist("multi_normal_prec_3", "multi_normal_prec", "lpdf",
             [V("y", "vector[3]", [0.5, -1.0, 2.0], P), V("mu", "vector[3]", [0.0, 0.5, 1.0], P),
              V("Omega", "cov_matrix[3]", O3, P)], "y", ["mu", "Omega"])
    add_dist("multi_normal_prec_array", "multi_normal_prec", "lpdf",
             [V("y", "array[2] vector[3]", [[0.1, 0.2, 0.3], [-1.0, 2.0, 0.5]], P),
              V("mu", "vector[3]", [0.0, 0.5, -0.5], P), V("Omega", "cov_matrix[3]", W3, P)],
             "y", ["mu", "Omega"])
    add_dist("multi_student_t_3", "multi_student_t", "lpdf",
             [V("y", "vector[3]", [0.5, -1.0, 2.0], P), V("nu", POS, 4.5, P),
              V("mu", "vector[3]", [0.0, 0.5, 1.0], P), V("Sigma", "cov_matrix[3]", S3, P)],
             "y", ["nu", "mu", "Sigma"])
    add_dist("multi_student_t_array_per_mu", "multi_student_t", "lpdf",
             [V("y", "array[2] vector[2]", [[1.0, 2.0], [3.0, -1.0]], P), V("nu", POS, 2.0, P),
              V("mu", "array[2] vector[2]", [[0.5, 1.5], [2.0, 0.0]], P),
              V("Sigma", "cov_matrix[2]", [[4.0, -1.0], [-1.0, 9.0]], P)],
             "y", ["nu", "mu", "Sigma"])
    add_dist("multi_student_t_cholesky_3", "multi_student_t_cholesky", "lpdf",
             [V("y", "vector[3]", [0.5, -1.0, 2.0], P), V("nu", POS, 7.0, P),
              V("mu", "vector[3]", [0.0, 0.5, 1.0], P), V("L", "matrix[3,3]", L3)],
             "y", ["nu", "mu", "L"])
    add_dist("multinomial_4", "multinomial", "lpmf",
             [V("y", "array[4] int", [3, 0, 5, 2]),
              V("theta", "simplex[4]", [0.3, 0.1, 0.4, 0.2], P)], "y", ["theta"])
    add_dist("multinomial_logit_3", "multinomial_logit", "lpmf",
             [V("y", "array[3] int", [1, 4, 2]), V("gamma", "vector[3]", [0.2, -0.5, 1.0], P)],
             "y", ["gamma"])
    add_dist("wishart_3", "wishart", "lpdf",
             [V("W", "cov_matrix[3]", W3, P), V("nu", POS, 5.5, P),
              V("Sigma", "cov_matrix[3]", S3, P)], "W", ["nu", "Sigma"])
    add_dist("inv_wishart_3", "inv_wishart", "lpdf",
             [V("W", "cov_matrix[3]", W3, P), V("nu", POS, 4.5, P),
              V("Sigma", "cov_matrix[3]", S3, P)], "W", ["nu", "Sigma"])
    for K, eta, tag in [(2, 1.0, "k2_eta1"), (3, 2.0, "k3_eta2"), (4, 0.5, "k4_eta_half")]:
        L = random_corr_cholesky(K, seed=K * 10 + int(eta * 2) + 1)
        C = (np.array(L) @ np.array(L).T)
        np.fill_diagonal(C, 1.0)
        add_dist(f"lkj_corr_{tag}", "lkj_corr", "lpdf",
                 [V("Omega", f"corr_matrix[{K}]", C.tolist(), P), V("eta", POS, eta, P)],
                 "Omega", ["eta"])
    X = [[1.0, -0.5], [0.3, 2.0], [-1.2, 0.7]]
    add_dist("normal_id_glm_3", "normal_id_glm", "lpdf",
             [V("y", "vector[3]", [0.4, 1.5, -2.0]), V("x", "matrix[3,2]", X),
              V("alpha", "real", 0.3, P), V("beta", "vector[2]", [0.8, -0.4], P),
              V("sigma", POS, 1.3, P)], "y", ["x", "alpha", "beta", "sigma"])
    add_dist("bernoulli_logit_glm_3", "bernoulli_logit_glm", "lpmf",
             [V("y", "array[3] int", [1, 0, 1]), V("x", "matrix[3,2]", X),
              V("alpha", "vector[3]", [0.3, -0.2, 0.1], P), V("beta", "vector[2]", [0.8, -0.4], P)],
             "y", ["x", "alpha", "beta"])
    add_dist("poisson_log_glm_3", "poisson_log_glm", "lpmf",
             [V("y", "array[3] int", [2, 0, 7]), V("x", "matrix[3,2]", X),
              V("alpha", "real", 0.5, P), V("beta", "vector[2]", [0.8, -0.4], P)],
             "y", ["x", "alpha", "beta"])
    add_dist("neg_binomial_2_log_glm_3", "neg_binomial_2_log_glm", "lpmf",
             [V("y", "array[3] int", [2, 0, 7]), V("x", "matrix[3,2]", X),
              V("alpha", "real", 0.5, P), V("beta", "vector[2]", [0.8, -0.4], P),
              V("phi", POS, 2.5, P)], "y", ["x", "alpha", "beta", "phi"])

    # large parameters (lgamma differences of large numbers)
    add_dist("beta_large_parameters", "beta", "lpdf",
             [V("theta", U01, 0.34, P), V("a", POS, 1000.0, P), V("b", POS, 2000.0, P)], "theta", ["a", "b"])
    add_dist("neg_binomial_2_large_counts", "neg_binomial_2", "lpmf",
             [V("n", "int<lower=0>", 10200), V("mu", POS, 1e4, P), V("phi", POS, 10.0, P)], "n", ["mu", "phi"])
    add_dist("binomial_large_size", "binomial", "lpmf",
             [V("n", "int<lower=0>", 30100), V("N", "int<lower=0>", 100000), V("theta", U01, 0.3, P)],
             "n", ["N", "theta"])
    add_dist("chi_square_large_nu", "chi_square", "lpdf",
             [V("y", POS, 1.01e4, P), V("nu", POS, 1e4, P)], "y", ["nu"])
    add_dist("weibull_large_shape", "weibull", "lpdf",
             [V("y", POS, 0.98, P), V("alpha", POS, 50.0, P), V("sigma", POS, 1.0, P)], "y", ["alpha", "sigma"])

    # integer data under a continuous density, literal arguments
    add_dist("normal_int_data_literal_args", "normal", "lpdf",
             [V("y", "array[3] int", [1, 2, 5])], "y", ["0", "2.5"])
    add_dist("student_t_literal_nu", "student_t", "lpdf",
             [V("y", R, 0.4, P), V("mu", R, 0.1, P), V("sigma", POS, 1.3, P)], "y", ["3", "mu", "sigma"])
    add_dist("poisson_literal_rate", "poisson", "lpmf", [V("n", "int<lower=0>", 3)], "n", ["4.5"])
    add_dist("binomial_literal_size", "binomial", "lpmf",
             [V("n", "int<lower=0>", 4), V("theta", U01, 0.35, P)], "n", ["10", "theta"])
    add_dist("exponential_int_data", "exponential", "lpdf",
             [V("y", "array[2] int<lower=0>", [0, 3]), V("beta", POS, 0.7, P)], "y", ["beta"])
    add_dist("normal_mixed_containers", "normal", "lpdf",
             [V("y", "row_vector[3]", [0.5, 1.5, -2.0], P), V("mu", "array[3] real", [0.0, 1.0, -1.0], P),
              V("sigma", "vector<lower=0>[3]", [1.0, 0.5, 2.0], P)], "y", ["mu", "sigma"])

    # cumulative distribution functions
    cdf_cases = [
        ("normal", [V("y", R, 0.4, P), V("mu", R, 0.1, P), V("sigma", POS, 1.2, P)], ["mu", "sigma"], "mid"),
        ("normal", [V("y", R, -30.0, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)], ["mu", "sigma"], "left_tail"),
        ("normal", [V("y", R, 9.0, P), V("mu", R, 1.0, P), V("sigma", POS, 0.5, P)], ["mu", "sigma"], "right_tail"),
        ("normal", [V("y", "vector[3]", [-1.0, 0.0, 2.0], P), V("mu", R, 0.5, P), V("sigma", POS, 1.5, P)],
         ["mu", "sigma"], "vector"),
        ("lognormal", [V("y", POS, 1.5, P), V("mu", R, 0.2, P), V("sigma", POS, 0.8, P)], ["mu", "sigma"], "mid"),
        ("lognormal", [V("y", POS, 1e-6, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)], ["mu", "sigma"], "left_tail"),
        ("exponential", [V("y", POS, 0.8, P), V("beta", POS, 1.3, P)], ["beta"], "mid"),
        ("exponential", [V("y", POS, 1e-10, P), V("beta", POS, 2.0, P)], ["beta"], "tiny_y"),
        ("exponential", [V("y", POS, 30.0, P), V("beta", POS, 1.5, P)], ["beta"], "right_tail"),
        ("gamma", [V("y", POS, 2.0, P), V("alpha", POS, 2.5, P), V("beta", POS, 1.1, P)], ["alpha", "beta"], "mid"),
        ("gamma", [V("y", POS, 50.0, P), V("alpha", POS, 2.0, P), V("beta", POS, 1.0, P)], ["alpha", "beta"], "right_tail"),
        ("gamma", [V("y", POS, 1e-3, P), V("alpha", POS, 3.0, P), V("beta", POS, 2.0, P)], ["alpha", "beta"], "left_tail"),
        ("student_t", [V("y", R, 0.7, P), V("nu", POS, 4.0, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)],
         ["nu", "mu", "sigma"], "mid"),
        ("student_t", [V("y", R, -40.0, P), V("nu", POS, 2.5, P), V("mu", R, 1.0, P), V("sigma", POS, 2.0, P)],
         ["nu", "mu", "sigma"], "left_tail"),
        ("student_t", [V("y", R, 12.0, P), V("nu", POS, 7.0, P), V("mu", R, -1.0, P), V("sigma", POS, 0.5, P)],
         ["nu", "mu", "sigma"], "right_tail"),
        ("cauchy", [V("y", R, 0.3, P), V("mu", R, -0.2, P), V("sigma", POS, 1.4, P)], ["mu", "sigma"], "mid"),
        ("cauchy", [V("y", R, -1e6, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)], ["mu", "sigma"], "left_tail"),
        ("cauchy", [V("y", R, 3e3, P), V("mu", R, 2.0, P), V("sigma", POS, 0.5, P)], ["mu", "sigma"], "right_tail"),
        ("student_t", [V("y", R, -1e4, P), V("nu", POS, 2.5, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)],
         ["nu", "mu", "sigma"], "far_left_tail"),
        ("gamma", [V("y", POS, 450.0, P), V("alpha", POS, 500.0, P), V("beta", POS, 1.0, P)], ["alpha", "beta"],
         "large_shape"),
        ("lognormal", [V("y", POS, 1e6, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)], ["mu", "sigma"],
         "right_tail"),
        ("poisson", [V("n", "int<lower=0>", 900), V("lambda", POS, 1000.0, P)], ["lambda"], "large_rate"),
        ("poisson", [V("n", "int<lower=0>", 3), V("lambda", POS, 2.5, P)], ["lambda"], "mid"),
        ("poisson", [V("n", "int<lower=0>", 0), V("lambda", POS, 0.1, P)], ["lambda"], "zero"),
        ("poisson", [V("n", "int<lower=0>", 40), V("lambda", POS, 5.0, P)], ["lambda"], "right_tail"),
        ("poisson", [V("n", "array[3] int<lower=0>", [1, 4, 9]), V("lambda", POS, 3.0, P)], ["lambda"], "array"),
    ]
    for dist, variables, args, tag in cdf_cases:
        variate = variables[0][0]
        for kind in ("lcdf", "lccdf"):
            add_dist(f"{dist}_{kind}_{tag}", dist, kind, variables, variate, args)

    # truncated densities (propto = false, so the normalizer is included)
    add_dist("normal_truncated_both", "normal", "truncated",
             [V("y", "real<lower=-1.5, upper=2.0>", 0.3, P), V("mu", R, 0.5, P), V("sigma", POS, 1.2, P)],
             "y", ["mu", "sigma"], truncation=["-1.5", "2.0"])
    add_dist("normal_truncated_lower", "normal", "truncated",
             [V("y", "real<lower=0>", 0.4, P), V("mu", R, 1.0, P), V("sigma", POS, 2.0, P)],
             "y", ["mu", "sigma"], truncation=["0", None])
    add_dist("normal_truncated_upper", "normal", "truncated",
             [V("y", "real<upper=3.5>", 2.0, P), V("mu", R, 3.0, P), V("sigma", POS, 0.7, P)],
             "y", ["mu", "sigma"], truncation=[None, "3.5"])
    add_dist("normal_truncated_far_tail", "normal", "truncated",
             [V("y", "real<lower=8.0, upper=9.0>", 8.2, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)],
             "y", ["mu", "sigma"], truncation=["8.0", "9.0"])
    add_dist("normal_truncated_data_bounds", "normal", "truncated",
             [V("L", R, -0.5), V("U", "real<lower=L>", 1.0), V("y", "real<lower=L, upper=U>", 0.0, P),
              V("mu", R, 0.2, P), V("sigma", POS, 0.9, P)],
             "y", ["mu", "sigma"], truncation=["L", "U"])
    add_dist("lognormal_truncated", "lognormal", "truncated",
             [V("y", "real<lower=0.5, upper=4.0>", 1.2, P), V("mu", R, 0.0, P), V("sigma", POS, 1.0, P)],
             "y", ["mu", "sigma"], truncation=["0.5", "4.0"])
    add_dist("exponential_truncated_upper", "exponential", "truncated",
             [V("y", "real<lower=0, upper=2.0>", 1.5, P), V("beta", POS, 0.8, P)],
             "y", ["beta"], truncation=[None, "2.0"])
    add_dist("gamma_truncated_lower", "gamma", "truncated",
             [V("y", "real<lower=1.0>", 2.5, P), V("alpha", POS, 2.0, P), V("beta", POS, 1.5, P)],
             "y", ["alpha", "beta"], truncation=["1.0", None])
    add_dist("student_t_truncated", "student_t", "truncated",
             [V("y", "real<lower=-2.0, upper=5.0>", 1.0, P), V("nu", POS, 3.0, P), V("mu", R, 0.5, P),
              V("sigma", POS, 1.5, P)], "y", ["nu", "mu", "sigma"], truncation=["-2.0", "5.0"])
    add_dist("cauchy_truncated_lower", "cauchy", "truncated",
             [V("y", "real<lower=0>", 3.0, P), V("mu", R, 1.0, P), V("sigma", POS, 2.0, P)],
             "y", ["mu", "sigma"], truncation=["0", None])
    add_dist("poisson_truncated_both", "poisson", "truncated",
             [V("n", "int<lower=2, upper=8>", 4), V("lambda", POS, 3.0, P)],
             "n", ["lambda"], truncation=["2", "8"])
    add_dist("poisson_truncated_lower", "poisson", "truncated",
             [V("n", "int<lower=1>", 1), V("lambda", POS, 0.4, P)],
             "n", ["lambda"], truncation=["1", None])
    add_dist("poisson_truncated_upper", "poisson", "truncated",
             [V("n", "int<lower=0, upper=5>", 5), V("lambda", POS, 6.0, P)],
             "n", ["lambda"], truncation=[None, "5"])


POSITIVE_SUPPORT = {"lognormal", "exponential", "gamma", "poisson"}


def verify_truncation_mass(name, dist, targs, lo, hi, mass):
    """The normalizer of a truncated density must be the density's mass between the bounds,
    found here by quadrature (or summation) instead of through the cdf."""
    density = LPDF[dist]
    if dist in DISCRETE:
        top = hi if hi is not None else 400
        total = mpm.fsum(mpm.exp(density(mpf(n), *targs)) for n in range(lo or 0, top + 1))
    else:
        a = mpf(lo) if lo is not None else (mpf(0) if dist in POSITIVE_SUPPORT else -mpm.inf)
        b = mpf(hi) if hi is not None else mpm.inf
        total = mpm.quad(lambda t: mpm.exp(density(t, *targs)), [a, b])
    if not close(float(total), float(mass), 1e-12):
        sys.exit(f"truncation mass check failed for {name}: quadrature {total} cdf {mass}")


def random_corr_cholesky(K, seed):
    """A Cholesky factor of a random correlation matrix (rows normalised to unit length)."""
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(K, K + 2))
    S = A @ A.T
    d = np.sqrt(np.diag(S))
    C = S / np.outer(d, d)
    L = np.linalg.cholesky(C)
    L = L / np.linalg.norm(L, axis=1, keepdims=True)  # exact unit rows in double precision
    return L.tolist()


def verify_lkj_normalizer():
    """Integrate det(Omega)^(eta-1) over 3 x 3 correlation matrices and compare."""
    for eta in (1.0, 2.0, 0.5 + 1e-9 + 1.0):
        def integrand(r23, r13, r12):
            det = 1 - r12 ** 2 - r13 ** 2 - r23 ** 2 + 2 * r12 * r13 * r23
            return max(det, 0.0) ** (eta - 1)

        def lo(r12, r13):
            return r12 * r13 - math.sqrt((1 - r12 ** 2) * (1 - r13 ** 2))

        def hi(r12, r13):
            return r12 * r13 + math.sqrt((1 - r12 ** 2) * (1 - r13 ** 2))

        val, _ = integrate.tplquad(integrand, -1, 1, -1, 1,
                                   lambda r12, r13: lo(r13, r12), lambda r12, r13: hi(r13, r12),
                                   epsabs=1e-10, epsrel=1e-8)
        ours = float(mpm.exp(lkj_log_normalizer(3, mpf(eta))))
        if not close(val, ours, 1e-6):
            sys.exit(f"LKJ normalizer check failed for eta={eta}: quad {val} formula {ours}")
    # K = 2: integral of (1 - r^2)^(eta - 1) over (-1, 1)
    for eta in (0.7, 3.0):
        val = float(mpm.quad(lambda r: (1 - r * r) ** (mpf(eta) - 1), [-1, 1]))
        ours = float(mpm.exp(lkj_log_normalizer(2, mpf(eta))))
        if not close(val, ours, 1e-10):
            sys.exit(f"LKJ normalizer check failed for K=2 eta={eta}")


# ----------------------------------------------------------------------------------------------
# math function cases

FN_CASES = []


def add_fn(name, expr, variables, result_type, value):
    def conv(v):
        if isinstance(v, mpm.matrix):
            return [[to_float(v[i, j]) for j in range(v.cols)] for i in range(v.rows)]
        if isinstance(v, list):
            return [conv(u) for u in v]
        if isinstance(v, int) and result_type == "int":
            return v
        return to_float(v)

    assert not any(c["name"] == name for c in FN_CASES), name
    FN_CASES.append({
        "name": name,
        "expr": expr,
        "decls": [[v[1], v[0]] for v in variables],
        "params": [v[0] for v in variables if v[3]],
        "data": {v[0]: v[2] for v in variables},
        "result_type": result_type,
        "value": conv(value),
    })


def unary(fname, fn, cases, decl=R):
    for tag, x in cases:
        add_fn(f"{fname}_{tag}", f"{fname}(x)", [V("x", decl, x, P)], "real", fn(mpf(x)))


def function_cases():
    unary("exp", mpm.exp, [("small", -3.5), ("large", 700.0), ("tiny", 1e-12), ("very_negative", -700.0)])
    unary("log", mpm.log, [("mid", 2.5), ("tiny", 1e-300), ("huge", 1e300), ("near_one", 1 + 1e-10)], POS)
    for tag, x in [("mid", 10.0), ("power", 1024.0), ("small", 3e-5), ("big", 7e20)]:
        add_fn(f"log2_{tag}", "log2(x)", [V("x", POS, x, P)], "real", mpm.log(mpf(x), 2))
    for tag, x in [("mid", 42.0), ("power", 1e-5), ("small", 3e-200), ("big", 7e200)]:
        add_fn(f"log10_{tag}", "log10(x)", [V("x", POS, x, P)], "real", mpm.log(mpf(x), 10))
    unary("log1p", mpm.log1p, [("small", 1e-10), ("mid", 0.75), ("negative", -0.9), ("large", 1e10)],
          "real<lower=-1>")
    unary("expm1", mpm.expm1, [("small", 1e-10), ("mid", 0.75), ("negative", -20.0), ("large", 300.0)])
    unary("sqrt", mpm.sqrt, [("mid", 2.0), ("tiny", 1e-300), ("large", 1e300), ("square", 6.25)], POS)
    unary("square", lambda x: x * x, [("mid", 1.5), ("negative", -3.0), ("large", 1e150), ("tiny", 1e-150)])
    for tag, x, y in [("mid", 2.0, 0.5), ("negative_base", -2.0, 3.0), ("fractional", 7.5, -1.25),
                      ("large", 10.0, 300.0)]:
        differentiable = P if x > 0 else False  # d/dy pow(x, y) needs log(x)
        add_fn(f"pow_{tag}", "pow(x, y)", [V("x", R, x, differentiable), V("y", R, y, differentiable)], "real",
               mpf(x) ** mpf(y))
    for fname in ("fabs", "abs"):
        for tag, x in [("positive", 2.5), ("negative", -3.25), ("tiny", -1e-300), ("large", -1e300)]:
            # no gradient check next to the kink at 0
            add_fn(f"{fname}_{tag}", f"{fname}(x)", [V("x", R, x, abs(x) > 1e-3)], "real", abs(mpf(x)))
    for tag, n in [("int_negative", -7), ("int_positive", 12)]:
        add_fn(f"abs_{tag}", "abs(n)", [V("n", "int", n)], "int", abs(n))
    for fname, fn in [("min", min), ("max", max), ("fmin", min), ("fmax", max)]:
        for tag, x, y in [("mixed", -1.5, 2.0), ("close", 1.0, 1.0 + 2e-16), ("large", 1e300, -1e300),
                          ("negatives", -3.0, -4.0)]:
            differentiable = P if x != y and tag != "close" else False
            add_fn(f"{fname}_{tag}", f"{fname}(x, y)", [V("x", R, x, differentiable), V("y", R, y, differentiable)],
                   "real", fn(mpf(x), mpf(y)))
    for fname, fn in [("min", min), ("max", max)]:
        add_fn(f"{fname}_ints", f"{fname}(m, n)", [V("m", "int", 3), V("n", "int", -8)], "int", fn(3, -8))
        add_fn(f"{fname}_vector", f"{fname}(v)", [V("v", "vector[4]", [0.5, -2.0, 3.5, 1.0], P)], "real",
               fn(M([0.5, -2.0, 3.5, 1.0])))
    add_fn("fmax_nan", "fmax(not_a_number(), x)", [V("x", R, 1.5, P)], "real", mpf(1.5))
    add_fn("fmin_nan", "fmin(x, not_a_number())", [V("x", R, -2.5, P)], "real", mpf(-2.5))
    add_fn("exp_negative_infinity", "exp(negative_infinity())", [], "real", mpf(0))
    add_fn("log_sum_exp_negative_infinity", "log_sum_exp(negative_infinity(), x)", [V("x", R, 0.75, P)],
           "real", mpf(0.75))
    add_fn("pi", "pi()", [], "real", mpm.pi)
    add_fn("e", "e()", [], "real", mpm.e)
    add_fn("pi_times_x", "pi() * x", [V("x", R, 2.0, P)], "real", mpm.pi * 2)

    def inv_logit(x):
        return 1 / (1 + mpm.exp(-x))
    unary("inv_logit", inv_logit, [("mid", 0.3), ("large", 40.0), ("very_negative", -700.0), ("zero", 0.0)])
    unary("logit", lambda p: mpm.log(p / (1 - p)),
          [("mid", 0.3), ("tiny", 1e-300), ("half", 0.5)], "real<lower=0, upper=1>")
    # a parameter this close to its upper bound cannot round-trip 1 - p to 1e-8, so data only
    add_fn("logit_near_one", "logit(x)", [V("x", "real<lower=0, upper=1>", 1 - 1e-12)], "real",
           mpm.log(mpf(1 - 1e-12) / (1 - mpf(1 - 1e-12))))
    unary("log_inv_logit", lambda x: -mpm.log1p(mpm.exp(-x)),
          [("mid", 0.3), ("large", 800.0), ("very_negative", -800.0), ("small", -1e-8)])
    unary("log1m", lambda x: mpm.log1p(-x), [("mid", 0.3), ("small", 1e-12), ("near_one", 1 - 1e-10),
                                              ("negative", -5.0)], "real<upper=1>")
    unary("lgamma", lgamma, [("mid", 4.5), ("large", 1e10), ("negative", -2.5),
                             ("near_one", 1 + 1e-9), ("near_two", 2 - 1e-9)])
    # next to the pole at 0: positive, so finite differences stay on one side of it
    add_fn("lgamma_tiny", "lgamma(x)", [V("x", POS, 1e-8, P)], "real", lgamma(mpf(1e-8)))
    for tag, th, a, b in [("mid", 0.3, -1.0, -2.0), ("extreme", 1e-8, -800.0, -1.0), ("large", 0.7, 700.0, 720.0),
                          ("equal", 0.5, -3.0, -3.0)]:
        add_fn(f"log_mix_{tag}", "log_mix(theta, lp1, lp2)",
               [V("theta", "real<lower=0, upper=1>", th, P), V("lp1", R, a, P), V("lp2", R, b, P)], "real",
               mpm.log(mpf(th) * mpm.exp(mpf(a)) + (1 - mpf(th)) * mpm.exp(mpf(b))))
    thv, lpv = [0.2, 0.5, 0.3], [-1.0, -4.0, -0.5]
    add_fn("log_mix_vector", "log_mix(theta, lps)",
           [V("theta", "simplex[3]", thv, P), V("lps", "vector[3]", lpv, P)], "real",
           mpm.log(sum(mpf(t) * mpm.exp(mpf(v)) for t, v in zip(thv, lpv))))

    vec = [1.5, -0.25, 3.0, 0.125, -2.0]
    mv = M(vec)
    n = len(vec)
    VEC = f"vector[{n}]"
    add_fn("sum_vector", "sum(v)", [V("v", VEC, vec, P)], "real", sum(mv))
    add_fn("sum_array_real", "sum(a)", [V("a", "array[3] real", [1.5, -2.25, 4.0], P)], "real", mpf(3.25))
    add_fn("sum_array_int", "sum(k)", [V("k", "array[4] int", [3, -1, 7, 2])], "int", 11)
    add_fn("sum_matrix", "sum(A)", [V("A", "matrix[2,2]", [[1.0, 2.0], [3.5, -0.5]], P)], "real", mpf(6))
    mean = sum(mv) / n
    add_fn("mean_vector", "mean(v)", [V("v", VEC, vec, P)], "real", mean)
    add_fn("mean_array", "mean(a)", [V("a", "array[3] real", [1.0, 2.0, 4.0], P)], "real", mpf(7) / 3)
    add_fn("mean_row_vector", "mean(r)", [V("r", "row_vector[2]", [1.5, 2.25], P)], "real", mpf(1.875))
    add_fn("mean_offset", "mean(v)", [V("v", "vector[3]", [1e8 + 1, 1e8 + 2, 1e8 + 4], P)], "real",
           mpf(1e8) + mpf(7) / 3)
    sd = mpm.sqrt(sum((x - mean) ** 2 for x in mv) / (n - 1))
    add_fn("sd_vector", "sd(v)", [V("v", VEC, vec, P)], "real", sd)
    add_fn("sd_array", "sd(a)", [V("a", "array[4] real", [2.0, 4.0, 4.0, 5.0], P)], "real",
           mpm.sqrt(sum((mpf(x) - mpf(15) / 4) ** 2 for x in [2, 4, 4, 5]) / 3))
    offs = [1e9 + 0.5, 1e9 + 1.5, 1e9 + 3.5]
    mo = sum(M(offs)) / 3
    add_fn("sd_offset", "sd(v)", [V("v", "vector[3]", offs, P)], "real",
           mpm.sqrt(sum((x - mo) ** 2 for x in M(offs)) / 2))
    add_fn("sd_two", "sd(v)", [V("v", "vector[2]", [0.1, 0.7], P)], "real",
           abs(mpf(0.7) - mpf(0.1)) / mpm.sqrt(2))
    w = [0.5, 2.0, -1.0, 4.0, 0.25]
    add_fn("dot_product_vectors", "dot_product(v, w)", [V("v", VEC, vec, P), V("w", VEC, w, P)], "real",
           sum(a * b for a, b in zip(mv, M(w))))
    add_fn("dot_product_row_col", "dot_product(r, v)",
           [V("r", "row_vector[3]", [1.0, 2.0, 3.0], P), V("v", "vector[3]", [0.5, -0.5, 0.25], P)], "real",
           mpf(0.5 - 1.0 + 0.75))
    add_fn("dot_product_arrays", "dot_product(a, b)",
           [V("a", "array[2] real", [1e8, 3.0], P), V("b", "array[2] real", [1e-8, -2.0], P)], "real", mpf(-5))
    # data only: rounding at 1e10 leaves finite differences no digits to check a gradient with
    add_fn("dot_product_cancellation", "dot_product(v, w)",
           [V("v", "vector[3]", [1e10, 1.0, -1e10]), V("w", "vector[3]", [1.0, 0.5, 1.0])], "real",
           mpf(0.5))
    add_fn("log_sum_exp_vector", "log_sum_exp(v)", [V("v", VEC, vec, P)], "real",
           mpm.log(sum(mpm.exp(x) for x in mv)))
    add_fn("log_sum_exp_large", "log_sum_exp(v)", [V("v", "vector[3]", [1000.0, 999.0, 998.0], P)], "real",
           mpm.log(sum(mpm.exp(x) for x in M([1000.0, 999.0, 998.0]))))
    add_fn("log_sum_exp_very_negative", "log_sum_exp(v)", [V("v", "vector[2]", [-1000.0, -1001.0], P)], "real",
           mpm.log(mpm.exp(-1000) + mpm.exp(-1001)))
    add_fn("log_sum_exp_two", "log_sum_exp(x, y)", [V("x", R, 3.0, P), V("y", R, -40.0, P)], "real",
           mpm.log(mpm.exp(3) + mpm.exp(-40)))
    add_fn("log_sum_exp_array", "log_sum_exp(a)", [V("a", "array[3] real", [0.1, 0.2, 0.3], P)], "real",
           mpm.log(sum(mpm.exp(x) for x in M([0.1, 0.2, 0.3]))))

    # vector- and matrix-valued functions
    add_fn("rep_vector", "rep_vector(x, 3)", [V("x", R, 2.5, P)], "vector[3]", [mpf(2.5)] * 3)
    add_fn("rep_vector_data_size", "rep_vector(x, n)", [V("n", "int<lower=0>", 4), V("x", R, -1.0, P)],
           "vector[4]", [mpf(-1)] * 4)
    add_fn("rep_array_real", "rep_array(x, 3)", [V("x", R, 0.5, P)], "array[3] real", [mpf(0.5)] * 3)
    add_fn("rep_array_int", "rep_array(n, 2)", [V("n", "int", 7)], "array[2] int", [7, 7])
    add_fn("to_vector_array", "to_vector(a)", [V("a", "array[3] real", [1.0, -2.0, 3.5], P)], "vector[3]",
           M([1.0, -2.0, 3.5]))
    add_fn("to_vector_row_vector", "to_vector(r)", [V("r", "row_vector[2]", [0.5, 0.25], P)], "vector[2]",
           M([0.5, 0.25]))
    add_fn("to_vector_matrix_column_major", "to_vector(A)",
           [V("A", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], P)], "vector[6]",
           M([1.0, 4.0, 2.0, 5.0, 3.0, 6.0]))
    add_fn("to_vector_int_array", "to_vector(k)", [V("k", "array[3] int", [3, -1, 2])], "vector[3]",
           M([3.0, -1.0, 2.0]))
    add_fn("cumulative_sum_vector", "cumulative_sum(v)", [V("v", VEC, vec, P)], VEC,
           [sum(mv[: i + 1]) for i in range(n)])
    add_fn("cumulative_sum_array", "cumulative_sum(a)", [V("a", "array[3] real", [0.1, 0.2, 0.3], P)],
           "array[3] real", [mpf(0.1), mpf(0.1) + mpf(0.2), mpf(0.1) + mpf(0.2) + mpf(0.3)])
    add_fn("cumulative_sum_row_vector", "cumulative_sum(r)", [V("r", "row_vector[3]", [1.0, -1.0, 5.0], P)],
           "row_vector[3]", M([1.0, 0.0, 5.0]))
    add_fn("cumulative_sum_int", "cumulative_sum(k)", [V("k", "array[3] int", [1, 2, 3])], "array[3] int",
           [1, 3, 6])

    def softmax(xs):
        m = max(xs)
        ex = [mpm.exp(x - m) for x in xs]
        s = sum(ex)
        return [e / s for e in ex]
    add_fn("softmax_mid", "softmax(v)", [V("v", VEC, vec, P)], VEC, softmax(mv))
    add_fn("softmax_large", "softmax(v)", [V("v", "vector[3]", [1000.0, 1001.0, 999.0], P)], "vector[3]",
           softmax(M([1000.0, 1001.0, 999.0])))
    add_fn("softmax_very_negative", "softmax(v)", [V("v", "vector[3]", [-1000.0, -1002.0, -1000.5], P)],
           "vector[3]", softmax(M([-1000.0, -1002.0, -1000.5])))
    add_fn("softmax_spread", "softmax(v)", [V("v", "vector[3]", [0.0, 30.0, -30.0], P)], "vector[3]",
           softmax(M([0.0, 30.0, -30.0])))

    S = [[4.0, 1.2, -0.8], [1.2, 2.0, 0.3], [-0.8, 0.3, 1.5]]
    add_fn("cholesky_decompose_3", "cholesky_decompose(S)", [V("S", "cov_matrix[3]", S, P)], "matrix[3,3]",
           mpm.cholesky(mat(S)))
    add_fn("cholesky_decompose_diagonal", "cholesky_decompose(S)",
           [V("S", "cov_matrix[2]", [[9.0, 0.0], [0.0, 0.25]], P)], "matrix[2,2]", mpm.cholesky(mat([[9.0, 0.0], [0.0, 0.25]])))
    S4 = (np.array([[1.0, 0.9, 0.81, 0.729], [0.9, 1.0, 0.9, 0.81], [0.81, 0.9, 1.0, 0.9],
                    [0.729, 0.81, 0.9, 1.0]])).tolist()
    add_fn("cholesky_decompose_ar1", "cholesky_decompose(S)", [V("S", "cov_matrix[4]", S4, P)], "matrix[4,4]",
           mpm.cholesky(mat(S4)))
    add_fn("cholesky_decompose_scaled", "cholesky_decompose(S)",
           [V("S", "cov_matrix[2]", [[1e6, 2e5], [2e5, 1e5]], P)], "matrix[2,2]",
           mpm.cholesky(mat([[1e6, 2e5], [2e5, 1e5]])))
    add_fn("diag_matrix_3", "diag_matrix(v)", [V("v", "vector[3]", [1.5, -2.0, 0.5], P)], "matrix[3,3]",
           mpm.diag(M([1.5, -2.0, 0.5])))
    add_fn("diag_matrix_1", "diag_matrix(v)", [V("v", "vector[1]", [7.0], P)], "matrix[1,1]", mpm.diag(M([7.0])))

    def gp(xs, alpha, rho, dist2):
        K = len(xs)
        out = mpm.matrix(K, K)
        for i in range(K):
            for j in range(K):
                out[i, j] = mpf(alpha) ** 2 * mpm.exp(-dist2(xs[i], xs[j]) / (2 * mpf(rho) ** 2))
        return out

    def d2(a, b):
        return (mpf(a) - mpf(b)) ** 2
    xs = [-1.0, 0.0, 0.5, 2.0]
    for fname in ("gp_exp_quad_cov",):
        add_fn(f"{fname}_1d", f"{fname}(x, alpha, rho)",
               [V("x", "array[4] real", xs), V("alpha", POS, 1.3, P), V("rho", POS, 0.8, P)], "matrix[4,4]",
               gp(xs, 1.3, 0.8, d2))
    add_fn("gp_exp_quad_cov_short_length", "gp_exp_quad_cov(x, alpha, rho)",
           [V("x", "array[3] real", [0.0, 1.0, 10.0]), V("alpha", POS, 2.0, P), V("rho", POS, 0.1, P)],
           "matrix[3,3]", gp([0.0, 1.0, 10.0], 2.0, 0.1, d2))
    xv = [[0.0, 1.0], [1.0, 1.0], [0.5, -0.5]]

    def d2v(a, b):
        return sum((mpf(u) - mpf(v)) ** 2 for u, v in zip(a, b))
    add_fn("gp_exp_quad_cov_vectors", "gp_exp_quad_cov(x, alpha, rho)",
           [V("x", "array[3] vector[2]", xv), V("alpha", POS, 0.7, P), V("rho", POS, 1.5, P)], "matrix[3,3]",
           gp(xv, 0.7, 1.5, d2v))
    A = [[1.0, 0.5, -1.0], [2.0, -0.5, 0.25], [0.0, 3.0, 1.0]]
    dv = [2.0, -1.0, 0.5]
    add_fn("diag_pre_multiply_3", "diag_pre_multiply(d, A)",
           [V("d", "vector[3]", dv, P), V("A", "matrix[3,3]", A, P)], "matrix[3,3]",
           mpm.diag(M(dv)) * mat(A))
    Lc = random_corr_cholesky(3, seed=7)
    sig = [0.5, 2.0, 1.5]
    add_fn("diag_pre_multiply_corr_cholesky", "diag_pre_multiply(sigma, L)",
           [V("sigma", "vector<lower=0>[3]", sig, P), V("L", "cholesky_factor_corr[3]", Lc, P)], "matrix[3,3]",
           mpm.diag(M(sig)) * mat(Lc))
    add_fn("diag_pre_multiply_rectangular", "diag_pre_multiply(d, B)",
           [V("d", "vector[2]", [3.0, -0.5], P), V("B", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], P)],
           "matrix[2,3]", mpm.diag(M([3.0, -0.5])) * mat([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    add_fn("diag_pre_multiply_row_vector", "diag_pre_multiply(r, A)",
           [V("r", "row_vector[3]", [1.0, 0.0, -2.0], P), V("A", "matrix[3,3]", A, P)], "matrix[3,3]",
           mpm.diag(M([1.0, 0.0, -2.0])) * mat(A))

    # elementwise (vectorised) unary functions
    vin = [0.25, 1.5, 3.0]
    for fname, fn in [("exp", mpm.exp), ("log", mpm.log), ("log1p", mpm.log1p), ("expm1", mpm.expm1),
                      ("sqrt", mpm.sqrt), ("square", lambda x: x * x), ("lgamma", lgamma),
                      ("inv_logit", lambda x: 1 / (1 + mpm.exp(-x))),
                      ("log_inv_logit", lambda x: -mpm.log1p(mpm.exp(-x))),
                      ("fabs", abs), ("abs", abs)]:
        add_fn(f"{fname}_vector", f"{fname}(v)", [V("v", "vector<lower=0>[3]", vin, P)], "vector[3]",
               [fn(x) for x in M(vin)])
    pin = [0.1, 0.5, 0.95]
    for fname, fn in [("logit", lambda p: mpm.log(p / (1 - p))), ("log1m", lambda p: mpm.log1p(-p))]:
        add_fn(f"{fname}_vector", f"{fname}(v)", [V("v", "vector<lower=0, upper=1>[3]", pin, P)], "vector[3]",
               [fn(x) for x in M(pin)])
    add_fn("exp_row_vector", "exp(r)", [V("r", "row_vector[2]", [-1.0, 2.0], P)], "row_vector[2]",
           [mpm.exp(-1), mpm.exp(2)])
    add_fn("log_array", "log(a)", [V("a", "array[3] real<lower=0>", [0.5, 2.0, 10.0], P)], "array[3] real",
           [mpm.log(x) for x in M([0.5, 2.0, 10.0])])
    add_fn("inv_logit_matrix", "inv_logit(A)", [V("A", "matrix[2,2]", [[0.0, 1.0], [-2.0, 3.0]], P)],
           "matrix[2,2]", [[1 / (1 + mpm.exp(-mpf(x))) for x in row] for row in [[0.0, 1.0], [-2.0, 3.0]]])
    add_fn("rep_array_2d", "rep_array(x, 2, 3)", [V("x", R, 1.25, P)], "array[2, 3] real",
           [[mpf(1.25)] * 3] * 2)
    add_fn("max_int_array", "max(k)", [V("k", "array[4] int", [3, -1, 9, 2])], "int", 9)
    add_fn("min_int_array", "min(k)", [V("k", "array[4] int", [3, -1, 9, 2])], "int", -1)
    add_fn("pow_ints", "pow(m, n)", [V("m", "int", 2), V("n", "int", 10)], "real", mpf(1024))
    add_fn("power_operator_ints", "m ^ n", [V("m", "int", 3), V("n", "int", 4)], "real", mpf(81))

    # operators, indexing and literals
    add_fn("comparisons", "(x > 1.0) + 2 * (x <= 0.5) + 4 * (m == 3) + 8 * (m != 3)",
           [V("x", R, 1.5), V("m", "int", 3)], "int", 5)
    add_fn("logical_operators", "(x > 1.0 && m < 2) + 2 * (x > 1.0 || m < 2) + 4 * (!(m == 3))",
           [V("x", R, 1.5), V("m", "int", 3)], "int", 2)
    add_fn("int_modulus", "m % n", [V("m", "int", 17), V("n", "int", 5)], "int", 2)
    add_fn("unary_minus_vector", "-v", [V("v", "vector[2]", [1.5, -2.0], P)], "vector[2]", M([-1.5, 2.0]))
    vidx = [1.0, 2.0, 3.0, 4.0, 5.0]
    add_fn("range_index", "v[2:4]", [V("v", "vector[5]", vidx, P)], "vector[3]", M([2.0, 3.0, 4.0]))
    add_fn("multi_index", "v[idx]", [V("v", "vector[5]", vidx, P), V("idx", "array[3] int", [3, 1, 3])],
           "vector[3]", M([3.0, 1.0, 3.0]))
    add_fn("open_range_index", "v[4:]", [V("v", "vector[5]", vidx, P)], "vector[2]", M([4.0, 5.0]))
    Aidx = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    add_fn("matrix_row_index", "A[2]", [V("A", "matrix[2,3]", Aidx, P)], "row_vector[3]", M([4.0, 5.0, 6.0]))
    add_fn("matrix_column_index", "A[:, 2]", [V("A", "matrix[2,3]", Aidx, P)], "vector[2]", M([2.0, 5.0]))
    add_fn("matrix_element_index", "A[2, 3]", [V("A", "matrix[2,3]", Aidx, P)], "real", mpf(6.0))
    add_fn("matrix_block_index", "A[1:2, 2:3]", [V("A", "matrix[2,3]", Aidx, P)], "matrix[2,2]",
           mat([[2.0, 3.0], [5.0, 6.0]]))
    add_fn("array_of_vectors_index", "a[2, 1]", [V("a", "array[2] vector[2]", [[1.0, 2.0], [3.0, 4.0]], P)],
           "real", mpf(3.0))
    add_fn("array_literal", "{x, 2.0, 3.5}", [V("x", R, 0.5, P)], "array[3] real", M([0.5, 2.0, 3.5]))
    add_fn("vector_literal", "[x, 2.0]'", [V("x", R, 0.5, P)], "vector[2]", M([0.5, 2.0]))
    add_fn("row_vector_literal", "[x, -x, 1]", [V("x", R, 0.5, P)], "row_vector[3]", M([0.5, -0.5, 1.0]))

    # sizes
    add_fn("rows_matrix", "rows(A)", [V("A", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])], "int", 2)
    add_fn("cols_matrix", "cols(A)", [V("A", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])], "int", 3)
    add_fn("rows_vector", "rows(v)", [V("v", "vector[4]", [1.0, 2.0, 3.0, 4.0])], "int", 4)
    add_fn("cols_row_vector", "cols(r)", [V("r", "row_vector[5]", [1.0] * 5)], "int", 5)
    add_fn("size_array", "size(a)", [V("a", "array[3] real", [1.0, 2.0, 3.0])], "int", 3)
    add_fn("size_int_array", "size(k)", [V("k", "array[2] int", [5, 6])], "int", 2)
    add_fn("num_elements_matrix", "num_elements(A)", [V("A", "matrix[2,3]", [[1.0] * 3, [2.0] * 3])], "int", 6)
    add_fn("num_elements_nested_array", "num_elements(a)", [V("a", "array[2, 3] real", [[1.0] * 3, [2.0] * 3])],
           "int", 6)
    add_fn("num_elements_vector", "num_elements(v)", [V("v", "vector[4]", [1.0] * 4)], "int", 4)

    # operators on vectors and matrices
    add_fn("elementwise_product", "v .* w", [V("v", "vector[3]", [1.0, 2.0, 3.0], P),
                                             V("w", "vector[3]", [0.5, -1.0, 2.0], P)], "vector[3]",
           M([0.5, -2.0, 6.0]))
    add_fn("elementwise_division", "v ./ w", [V("v", "vector[3]", [1.0, 2.0, 3.0], P),
                                              V("w", "vector[3]", [0.5, -4.0, 3.0], P)], "vector[3]",
           [mpf(2), mpf(-0.5), mpf(1)])
    add_fn("matrix_vector_product", "A * v", [V("A", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], P),
                                              V("v", "vector[3]", [0.5, -1.0, 2.0], P)], "vector[2]",
           list(mat([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]) * mpm.matrix(M([0.5, -1.0, 2.0]))))
    add_fn("row_vector_times_vector", "r * v", [V("r", "row_vector[3]", [1.0, -2.0, 0.5], P),
                                                V("v", "vector[3]", [4.0, 0.25, 2.0], P)], "real", mpf(4.5))
    add_fn("transpose_vector", "v'", [V("v", "vector[2]", [1.5, -2.5], P)], "row_vector[2]", M([1.5, -2.5]))
    add_fn("transpose_matrix", "A'", [V("A", "matrix[2,3]", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], P)],
           "matrix[3,2]", mat([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).T)
    add_fn("matrix_product", "A * B", [V("A", "matrix[2,2]", [[1.0, 2.0], [3.0, 4.0]], P),
                                       V("B", "matrix[2,2]", [[0.5, -1.0], [2.0, 0.25]], P)], "matrix[2,2]",
           mat([[1.0, 2.0], [3.0, 4.0]]) * mat([[0.5, -1.0], [2.0, 0.25]]))
    add_fn("vector_scalar_arithmetic", "(v - x) / y + 2 * v", [V("v", "vector[2]", [1.0, 3.0], P),
                                                               V("x", R, 0.5, P), V("y", POS, 4.0, P)],
           "vector[2]", [(mpf(1) - mpf(0.5)) / 4 + 2, (mpf(3) - mpf(0.5)) / 4 + 6])
    add_fn("integer_division", "x / 2 + 7 / 2", [V("x", R, 5.0, P)], "real", mpf(2.5) + 3)
    add_fn("ternary", "x > 0 ? log(x) : -x", [V("x", R, 2.0, P)], "real", mpm.log(2))
    add_fn("power_operator", "x ^ 3", [V("x", R, 1.5, P)], "real", mpf(1.5) ** 3)


def main():
    verify_lkj_normalizer()
    distribution_cases()
    function_cases()
    os.makedirs(OUT_DIR, exist_ok=True)
    doc = __doc__.split("File format")[1].strip()
    generator = (f"scripts/make_reference.py with mpmath {mpm.__version__} (dps {mpm.mp.dps}), "
                 f"numpy {np.__version__}, scipy {scipy.__version__}")
    for fname, cases in [("reference_distributions.json", DIST_CASES), ("reference_functions.json", FN_CASES)]:
        path = os.path.join(OUT_DIR, fname)
        with open(path, "w") as f:
            json.dump({"format": doc, "generator": generator, "cases": cases}, f, indent=1, allow_nan=False)
            f.write("\n")
        print(f"wrote {len(cases)} cases to {os.path.relpath(path, ROOT)}")


if __name__ == "__main__":
    main()
