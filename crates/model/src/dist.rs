//! Log densities and mass functions with hand-written partials, their CDFs (for truncation and
//! the `_lcdf`/`_lccdf` functions) and random number generators.
//!
//! Vectorised univariate densities run through one driver that broadcasts scalars, sums the
//! per-element terms and pushes a single reduce node whose operands carry the partials. With
//! `propto` a term is dropped when every argument it depends on is constant (Stan's
//! `include_summand`).

use rand::RngCore;
use rand_distr::Distribution;

use crate::math::{self, digamma, lgamma, LN2, LOG_PI, LOG_SQRT_2PI};
use crate::tape::{Operand, Partials, Tape, NONE};
use crate::value::{eval_err, operand_slots, Base, Res, Shape, Store, Val};
use crate::ModelError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dist {
    Normal,
    StdNormal,
    StudentT,
    Cauchy,
    DoubleExponential,
    Logistic,
    Lognormal,
    Exponential,
    Gamma,
    InvGamma,
    Weibull,
    Beta,
    Uniform,
    ChiSquare,
    Bernoulli,
    BernoulliLogit,
    Binomial,
    BinomialLogit,
    Poisson,
    PoissonLog,
    NegBinomial2,
    NegBinomial2Log,
    Categorical,
    CategoricalLogit,
    MultiNormal,
    MultiNormalCholesky,
    LkjCorrCholesky,
    Dirichlet,
}

impl Dist {
    pub fn from_name(name: &str) -> Option<Dist> {
        use Dist::*;
        Some(match name {
            "normal" => Normal,
            "std_normal" => StdNormal,
            "student_t" => StudentT,
            "cauchy" => Cauchy,
            "double_exponential" => DoubleExponential,
            "logistic" => Logistic,
            "lognormal" => Lognormal,
            "exponential" => Exponential,
            "gamma" => Gamma,
            "inv_gamma" => InvGamma,
            "weibull" => Weibull,
            "beta" => Beta,
            "uniform" => Uniform,
            "chi_square" => ChiSquare,
            "bernoulli" => Bernoulli,
            "bernoulli_logit" => BernoulliLogit,
            "binomial" => Binomial,
            "binomial_logit" => BinomialLogit,
            "poisson" => Poisson,
            "poisson_log" => PoissonLog,
            "neg_binomial_2" => NegBinomial2,
            "neg_binomial_2_log" => NegBinomial2Log,
            "categorical" => Categorical,
            "categorical_logit" => CategoricalLogit,
            "multi_normal" => MultiNormal,
            "multi_normal_cholesky" => MultiNormalCholesky,
            "lkj_corr_cholesky" => LkjCorrCholesky,
            "dirichlet" => Dirichlet,
            _ => return None,
        })
    }

    /// Number of arguments including the variate.
    pub fn arity(self) -> usize {
        use Dist::*;
        match self {
            StdNormal => 1,
            Exponential | ChiSquare | Bernoulli | BernoulliLogit | Poisson | PoissonLog
            | Categorical | CategoricalLogit | LkjCorrCholesky | Dirichlet => 2,
            StudentT => 4,
            _ => 3,
        }
    }

    pub fn name(self) -> String {
        dist_name(self)
    }

    pub fn is_discrete(self) -> bool {
        use Dist::*;
        matches!(
            self,
            Bernoulli
                | BernoulliLogit
                | Binomial
                | BinomialLogit
                | Poisson
                | PoissonLog
                | NegBinomial2
                | NegBinomial2Log
                | Categorical
                | CategoricalLogit
        )
    }

    /// A multivariate normal: an observed single vector gets one leave-one-out term per element.
    pub fn is_gaussian_vector(self) -> bool {
        matches!(self, Dist::MultiNormal | Dist::MultiNormalCholesky)
    }

    /// Size of one observation of the variate (1 for univariate; 0 = the whole vector).
    pub fn is_multivariate(self) -> bool {
        use Dist::*;
        matches!(
            self,
            MultiNormal | MultiNormalCholesky | LkjCorrCholesky | Dirichlet
        )
    }
}

/// The Stan name of a distribution (`NegBinomial2Log` -> `neg_binomial_2_log`).
pub fn dist_name(d: Dist) -> String {
    let s = format!("{d:?}");
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if ch.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
        } else if ch.is_ascii_digit() {
            out.push('_');
            out.push(ch);
        } else {
            out.push(ch);
        }
    }
    out
}

/// The vectorised univariate driver.
fn univariate<const K: usize>(
    t: &mut Tape,
    args: &[Val],
    propto: bool,
    terms: Option<&mut Vec<f64>>,
    d: Dist,
    kernel: impl Fn(&[f64; K], &[bool; K], bool) -> Result<(f64, [f64; K]), String>,
) -> Res<Val> {
    let mut n = 1usize;
    let mut any_vec = false;
    for a in args {
        let m = match a {
            Val::Int(_) | Val::Real(..) => continue,
            other => other.numel(),
        };
        if any_vec && m != n {
            return eval_err(format!(
                "{d:?}: vector arguments have different sizes ({n} and {m})"
            ));
        }
        n = m;
        any_vec = true;
    }
    let mut inc = [false; K];
    for k in 0..K {
        inc[k] = args[k].is_var();
    }
    if propto && !inc.iter().any(|&x| x) && terms.is_none() {
        return Ok(Val::real(0.0));
    }
    let first_op = t.ops.len();
    let mut slots = [None; K];
    let mut poff = [NONE; K];
    let mut scalar = [false; K];
    for k in 0..K {
        scalar[k] = matches!(&args[k], Val::Int(_) | Val::Real(..));
        if inc[k] {
            slots[k] = operand_slots(t, &args[k]);
            poff[k] = t.alloc_part(if scalar[k] { 1 } else { n });
        }
    }
    let mut total = 0.0;
    let mut terms = terms;
    {
        let Tape { val, part, .. } = &mut *t;
        let vals: [crate::value::ValSlice; K] = std::array::from_fn(|k| args[k].values(val));
        let mut x = [0.0; K];
        let mut acc = [0.0; K];
        for i in 0..n {
            for k in 0..K {
                x[k] = vals[k].get(if scalar[k] { 0 } else { i });
            }
            let (lp, d) = kernel(&x, &inc, propto)
                .map_err(|m| ModelError::Eval(format!("{}: {m}", dist_name(d))))?;
            total += lp;
            if let Some(tv) = terms.as_deref_mut() {
                tv.push(lp);
            }
            for k in 0..K {
                if inc[k] {
                    if scalar[k] {
                        acc[k] += d[k];
                    } else {
                        part[poff[k] as usize + i] = d[k];
                    }
                }
            }
        }
        for k in 0..K {
            if inc[k] && scalar[k] {
                part[poff[k] as usize] = acc[k];
            }
        }
    }
    for k in 0..K {
        if let Some(s) = slots[k] {
            t.ops.push(Operand {
                slots: s,
                n: if scalar[k] { 1 } else { n as u32 },
                p: Partials::Stored(poff[k]),
            });
        }
    }
    if !total.is_finite() && total.is_nan() {
        return eval_err(format!("{}: log density is NaN", dist_name(d)));
    }
    let out = t.reduce(total, first_op);
    Ok(Val::Real(total, out))
}

fn pos(x: f64, what: &str) -> Result<(), String> {
    if x > 0.0 && x.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} must be positive and finite, found {x}"))
    }
}
fn finite(x: f64, what: &str) -> Result<(), String> {
    if x.is_finite() {
        Ok(())
    } else {
        Err(format!("{what} must be finite, found {x}"))
    }
}
fn notnan(x: f64, what: &str) -> Result<(), String> {
    if x.is_nan() {
        Err(format!("{what} is NaN"))
    } else {
        Ok(())
    }
}
fn prob(x: f64, what: &str) -> Result<(), String> {
    if (0.0..=1.0).contains(&x) {
        Ok(())
    } else {
        Err(format!("{what} must be in [0, 1], found {x}"))
    }
}
fn count(x: f64, what: &str) -> Result<(), String> {
    if x >= 0.0 && x == x.floor() {
        Ok(())
    } else {
        Err(format!("{what} must be a non-negative integer, found {x}"))
    }
}

/// x * ln(y) with 0 * ln(0) = 0.
fn xlogy(x: f64, y: f64) -> f64 {
    if x == 0.0 {
        0.0
    } else {
        x * y.ln()
    }
}

fn k_normal(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, mu, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    let inv = 1.0 / sigma;
    let z = (y - mu) * inv;
    let mut lp = -0.5 * z * z;
    if !propto {
        lp -= LOG_SQRT_2PI;
    }
    if !propto || inc[2] {
        lp -= sigma.ln();
    }
    let dy = -z * inv;
    Ok((lp, [dy, -dy, (z * z - 1.0) * inv]))
}

fn k_std_normal(x: &[f64; 1], _inc: &[bool; 1], propto: bool) -> Result<(f64, [f64; 1]), String> {
    notnan(x[0], "random variable")?;
    let mut lp = -0.5 * x[0] * x[0];
    if !propto {
        lp -= LOG_SQRT_2PI;
    }
    Ok((lp, [-x[0]]))
}

fn k_student_t(x: &[f64; 4], inc: &[bool; 4], propto: bool) -> Result<(f64, [f64; 4]), String> {
    let (y, nu, mu, sigma) = (x[0], x[1], x[2], x[3]);
    notnan(y, "random variable")?;
    pos(nu, "degrees of freedom")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    let z = (y - mu) / sigma;
    let z2 = z * z;
    let q = z2 / nu;
    let l1 = q.ln_1p();
    let mut lp = -0.5 * (nu + 1.0) * l1;
    if !propto {
        lp -= 0.5 * LOG_PI;
    }
    if !propto || inc[1] {
        lp += lgamma(0.5 * (nu + 1.0)) - lgamma(0.5 * nu) - 0.5 * nu.ln();
    }
    if !propto || inc[3] {
        lp -= sigma.ln();
    }
    let dy = -(nu + 1.0) * z / (sigma * (nu + z2));
    let dsigma = -1.0 / sigma + (nu + 1.0) * z2 / (sigma * (nu + z2));
    let dnu = 0.5 * (digamma(0.5 * (nu + 1.0)) - digamma(0.5 * nu)) - 0.5 / nu - 0.5 * l1
        + 0.5 * (nu + 1.0) * (z2 / (nu * nu)) / (1.0 + q);
    Ok((lp, [dy, dnu, -dy, dsigma]))
}

fn k_cauchy(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, mu, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    let z = (y - mu) / sigma;
    let mut lp = -(z * z).ln_1p();
    if !propto {
        lp -= LOG_PI;
    }
    if !propto || inc[2] {
        lp -= sigma.ln();
    }
    let dy = -2.0 * z / (sigma * (1.0 + z * z));
    let ds = -1.0 / sigma + 2.0 * z * z / (sigma * (1.0 + z * z));
    Ok((lp, [dy, -dy, ds]))
}

fn k_double_exponential(
    x: &[f64; 3],
    inc: &[bool; 3],
    propto: bool,
) -> Result<(f64, [f64; 3]), String> {
    let (y, mu, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    let d = y - mu;
    let sign = if d > 0.0 {
        1.0
    } else if d < 0.0 {
        -1.0
    } else {
        0.0
    };
    let mut lp = -d.abs() / sigma;
    if !propto {
        lp -= LN2;
    }
    if !propto || inc[2] {
        lp -= sigma.ln();
    }
    Ok((
        lp,
        [
            -sign / sigma,
            sign / sigma,
            -1.0 / sigma + d.abs() / (sigma * sigma),
        ],
    ))
}

fn k_logistic(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, mu, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    let z = (y - mu) / sigma;
    let mut lp = -z - 2.0 * math::log1p_exp(-z);
    if !propto || inc[2] {
        lp -= sigma.ln();
    }
    let dz = 1.0 - 2.0 * math::inv_logit(z);
    Ok((lp, [dz / sigma, -dz / sigma, -1.0 / sigma - dz * z / sigma]))
}

fn k_lognormal(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, mu, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(mu, "location")?;
    pos(sigma, "scale")?;
    if y < 0.0 {
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    if y == 0.0 {
        return Ok((f64::NEG_INFINITY, [0.0; 3]));
    }
    let ly = y.ln();
    let z = (ly - mu) / sigma;
    // -log sqrt(2 pi) is kept under propto too, as Stan's lognormal_lpdf does (2.35: its
    // `N * NEG_LOG_SQRT_TWO_PI` is not guarded by include_summand), so that `--propto` values
    // equal Stan's log_prob.
    let mut lp = -0.5 * z * z - LOG_SQRT_2PI;
    if !propto || inc[2] {
        lp -= sigma.ln();
    }
    if !propto || inc[0] {
        lp -= ly;
    }
    let dy = -(1.0 + z / sigma) / y;
    Ok((lp, [dy, z / sigma, (z * z - 1.0) / sigma]))
}

fn k_exponential(x: &[f64; 2], inc: &[bool; 2], propto: bool) -> Result<(f64, [f64; 2]), String> {
    let (y, beta) = (x[0], x[1]);
    notnan(y, "random variable")?;
    pos(beta, "inverse scale")?;
    if y < 0.0 {
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    let mut lp = -beta * y;
    if !propto || inc[1] {
        lp += beta.ln();
    }
    Ok((lp, [-beta, 1.0 / beta - y]))
}

fn k_gamma(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, a, b) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    pos(a, "shape")?;
    pos(b, "inverse scale")?;
    if y < 0.0 {
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    let ly = y.ln();
    let mut lp = 0.0;
    if !propto || inc[1] {
        lp -= lgamma(a);
    }
    if !propto || inc[1] || inc[2] {
        lp += a * b.ln();
    }
    if !propto || inc[0] || inc[1] {
        lp += if a == 1.0 { 0.0 } else { (a - 1.0) * ly };
    }
    if !propto || inc[0] || inc[2] {
        lp -= b * y;
    }
    Ok((lp, [(a - 1.0) / y - b, b.ln() - digamma(a) + ly, a / b - y]))
}

fn k_inv_gamma(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, a, b) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    pos(a, "shape")?;
    pos(b, "scale")?;
    if y <= 0.0 {
        if y == 0.0 {
            return Ok((f64::NEG_INFINITY, [0.0; 3]));
        }
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    let ly = y.ln();
    let mut lp = 0.0;
    if !propto || inc[1] {
        lp -= lgamma(a);
    }
    if !propto || inc[1] || inc[2] {
        lp += a * b.ln();
    }
    if !propto || inc[0] || inc[1] {
        lp -= (a + 1.0) * ly;
    }
    if !propto || inc[0] || inc[2] {
        lp -= b / y;
    }
    Ok((
        lp,
        [
            -(a + 1.0) / y + b / (y * y),
            b.ln() - digamma(a) - ly,
            a / b - 1.0 / y,
        ],
    ))
}

fn k_weibull(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, alpha, sigma) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    pos(alpha, "shape")?;
    pos(sigma, "scale")?;
    if y < 0.0 {
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    let lr = (y / sigma).ln();
    let ra = (y / sigma).powf(alpha);
    // Stan's split: log(alpha) + (alpha - 1) log(y) - alpha log(sigma) - (y / sigma)^alpha.
    let mut lp = -ra;
    if !propto || inc[1] {
        lp += alpha.ln();
    }
    if !propto || inc[0] || inc[1] {
        lp += xlogy(alpha - 1.0, y);
    }
    if !propto || inc[1] || inc[2] {
        lp -= alpha * sigma.ln();
    }
    Ok((
        lp,
        [
            (alpha - 1.0) / y - alpha * ra / y,
            1.0 / alpha + lr - ra * lr,
            (-alpha + alpha * ra) / sigma,
        ],
    ))
}

fn k_beta(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, a, b) = (x[0], x[1], x[2]);
    pos(a, "first shape")?;
    pos(b, "second shape")?;
    prob(y, "random variable")?;
    let ly = y.ln();
    let l1y = (-y).ln_1p();
    let mut lp = 0.0;
    if !propto || inc[1] || inc[2] {
        lp += lgamma(a + b);
    }
    if !propto || inc[1] {
        lp -= lgamma(a);
    }
    if !propto || inc[2] {
        lp -= lgamma(b);
    }
    if !propto || inc[0] || inc[1] {
        lp += xlogy(a - 1.0, y);
    }
    if !propto || inc[0] || inc[2] {
        lp += if b == 1.0 { 0.0 } else { (b - 1.0) * l1y };
    }
    let dab = digamma(a + b);
    Ok((
        lp,
        [
            (a - 1.0) / y - (b - 1.0) / (1.0 - y),
            dab - digamma(a) + ly,
            dab - digamma(b) + l1y,
        ],
    ))
}

fn k_uniform(x: &[f64; 3], inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (y, a, b) = (x[0], x[1], x[2]);
    notnan(y, "random variable")?;
    finite(a, "lower bound")?;
    finite(b, "upper bound")?;
    if b <= a {
        return Err(format!("upper bound {b} must exceed lower bound {a}"));
    }
    if y < a || y > b {
        return Ok((f64::NEG_INFINITY, [0.0; 3]));
    }
    let w = b - a;
    let lp = if !propto || inc[1] || inc[2] {
        -w.ln()
    } else {
        0.0
    };
    Ok((lp, [0.0, 1.0 / w, -1.0 / w]))
}

fn k_chi_square(x: &[f64; 2], inc: &[bool; 2], propto: bool) -> Result<(f64, [f64; 2]), String> {
    let (y, nu) = (x[0], x[1]);
    notnan(y, "random variable")?;
    pos(nu, "degrees of freedom")?;
    if y < 0.0 {
        return Err(format!("random variable must be non-negative, found {y}"));
    }
    let ly = y.ln();
    let h = 0.5 * nu;
    let mut lp = 0.0;
    if !propto || inc[1] {
        lp -= lgamma(h) + h * LN2;
    }
    if !propto || inc[0] || inc[1] {
        lp += xlogy(h - 1.0, y);
    }
    if !propto || inc[0] {
        lp -= 0.5 * y;
    }
    Ok((
        lp,
        [(h - 1.0) / y - 0.5, 0.5 * ly - 0.5 * digamma(h) - 0.5 * LN2],
    ))
}

fn k_bernoulli(x: &[f64; 2], _inc: &[bool; 2], _propto: bool) -> Result<(f64, [f64; 2]), String> {
    let (y, th) = (x[0], x[1]);
    prob(th, "probability")?;
    if y == 1.0 {
        Ok((th.ln(), [0.0, 1.0 / th]))
    } else if y == 0.0 {
        Ok(((-th).ln_1p(), [0.0, -1.0 / (1.0 - th)]))
    } else {
        Err(format!("outcome must be 0 or 1, found {y}"))
    }
}

fn k_bernoulli_logit(
    x: &[f64; 2],
    _inc: &[bool; 2],
    _propto: bool,
) -> Result<(f64, [f64; 2]), String> {
    let (y, a) = (x[0], x[1]);
    notnan(a, "logit probability")?;
    let e = (-a.abs()).exp();
    let l1 = log1p_small(e);
    let p = if a >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    };
    if y == 1.0 {
        Ok((a.min(0.0) - l1, [0.0, 1.0 - p]))
    } else if y == 0.0 {
        Ok(((-a).min(0.0) - l1, [0.0, -p]))
    } else {
        Err(format!("outcome must be 0 or 1, found {y}"))
    }
}

/// `bernoulli_logit` for int data and a parameter vector: the sum of the log1p terms is taken
/// as the log of running products (one logarithm per 256 observations).
fn bernoulli_logit_fast(t: &mut Tape, y: &Val, eta: &Val) -> Res<Val> {
    let n = eta.numel();
    if y.numel() != n {
        return eval_err(format!(
            "bernoulli_logit: vector arguments have different sizes ({} and {n})",
            y.numel()
        ));
    }
    let first_op = t.ops.len();
    let Some(slots) = operand_slots(t, eta) else {
        return eval_err("internal: bernoulli_logit fast path on a constant");
    };
    let p = t.alloc_part(n);
    let mut lin = 0.0;
    let mut logs = 0.0;
    {
        let Tape { val, part, .. } = &mut *t;
        let ys = y.values(val);
        let es = eta.values(val);
        let ys = match ys {
            crate::value::ValSlice::Slice(s) => s,
            crate::value::ValSlice::Scalar(_) => return eval_err("internal: bernoulli_logit"),
        };
        let es = match es {
            crate::value::ValSlice::Slice(s) => s,
            crate::value::ValSlice::Scalar(_) => return eval_err("internal: bernoulli_logit"),
        };
        let ps = &mut part[p as usize..p as usize + n];
        for (cy, (ce, cp)) in ys.chunks(256).zip(es.chunks(256).zip(ps.chunks_mut(256))) {
            // Four independent products and linear sums per chunk, so the loop vectorises.
            let mut prod = [1.0f64; 4];
            let mut lin4 = [0.0f64; 4];
            let m = cy.len() / 4 * 4;
            for q in (0..m).step_by(4) {
                for l in 0..4 {
                    let (yi, a) = (cy[q + l], ce[q + l]);
                    let e = (-a.abs()).exp();
                    let one_e = 1.0 + e;
                    prod[l] *= one_e;
                    let num = if a >= 0.0 { 1.0 } else { e };
                    lin4[l] += if yi != 0.0 { a.min(0.0) } else { (-a).min(0.0) };
                    cp[q + l] = yi - num / one_e;
                }
            }
            for q in m..cy.len() {
                let (yi, a) = (cy[q], ce[q]);
                let e = (-a.abs()).exp();
                let one_e = 1.0 + e;
                prod[0] *= one_e;
                let num = if a >= 0.0 { 1.0 } else { e };
                lin4[0] += if yi != 0.0 { a.min(0.0) } else { (-a).min(0.0) };
                cp[q] = yi - num / one_e;
            }
            logs += (prod[0] * prod[1]).ln() + (prod[2] * prod[3]).ln();
            lin += lin4.iter().sum::<f64>();
        }
        for &yi in ys {
            if yi != 0.0 && yi != 1.0 {
                return eval_err(format!(
                    "bernoulli_logit: outcome must be 0 or 1, found {yi}"
                ));
            }
        }
        if es.iter().any(|a| a.is_nan()) {
            return eval_err("bernoulli_logit: logit probability is NaN");
        }
    }
    let total = lin - logs;
    t.ops.push(Operand {
        slots,
        n: n as u32,
        p: Partials::Stored(p),
    });
    Ok(Val::Real(total, t.reduce(total, first_op)))
}

/// `y ~ bernoulli_logit(alpha + X * beta)` for int data `y`, a data matrix `X` and a scalar
/// `alpha` as one node (Stan's `bernoulli_logit_glm`): the linear predictor is built column by
/// column in a scratch buffer, each row needs one exponential, and since the result is a scalar
/// the partials are just the K + 1 sums `X' (y - inv_logit(eta))` and `sum(y - inv_logit(eta))`.
/// `None` when the arguments do not have that form.
pub fn bernoulli_logit_glm(
    t: &mut Tape,
    y: &Val,
    alpha: &Val,
    x: &Val,
    beta: &Val,
) -> Option<Res<Val>> {
    let (Val::Ints(..), Val::Reals(xs, Store::Const(xa, xoff)), Val::Reals(bs, _)) = (y, x, beta)
    else {
        return None;
    };
    let (Base::Matrix(r, k), Base::Vector(kb)) = (xs.base, bs.base) else {
        return None;
    };
    if !xs.arr.is_empty() || !bs.arr.is_empty() || k != kb {
        return None;
    }
    let (a0, aslot) = alpha.as_scalar().ok()?;
    let (n, k) = (r as usize, k as usize);
    if y.numel() != n {
        return Some(eval_err(format!(
            "bernoulli_logit: vector arguments have different sizes ({} and {n})",
            y.numel()
        )));
    }
    let first_op = t.ops.len();
    let bslots = operand_slots(t, beta);
    // The K + 1 partials; scratch for eta (then y - inv_logit(eta)), 1 + exp(-|eta|) and the
    // linear part of each term lives outside the tape.
    let p = t.alloc_part(k + 1) as usize;
    let (lin, logs);
    {
        let Tape {
            val,
            part,
            fwd_scratch,
            ..
        } = &mut *t;
        let crate::value::ValSlice::Slice(ys) = y.values(val) else {
            return Some(eval_err("internal: bernoulli_logit_glm outcome"));
        };
        if fwd_scratch.len() < 3 * n {
            fwd_scratch.resize(3 * n, 0.0);
        }
        let bv = beta.values(val);
        let xm = &xa[*xoff as usize..*xoff as usize + n * k];
        let (eta, rest) = fwd_scratch[..3 * n].split_at_mut(n);
        let (one_plus, lin_terms) = rest.split_at_mut(n);
        let grads = &mut part[p..p + k + 1];
        // Plain loops, compiled for the widest instruction set the CPU has (AVX2 + FMA where
        // present; no fused multiply-adds are formed, so results do not depend on it).
        let kernel = GlmKernel {
            ys,
            xm,
            beta: bv,
            alpha: a0,
            eta,
            one_plus,
            lin_terms,
            grads,
        };
        let (l, lg, bad_y, nan) = pulp::Arch::new().dispatch(kernel);
        if bad_y {
            let bad = ys
                .iter()
                .find(|&&v| v != 0.0 && v != 1.0)
                .copied()
                .unwrap_or(f64::NAN);
            return Some(eval_err(format!(
                "bernoulli_logit: outcome must be 0 or 1, found {bad}"
            )));
        }
        if nan {
            return Some(eval_err("bernoulli_logit: logit probability is NaN"));
        }
        (lin, logs) = (l, lg);
    }
    let total = lin - logs;
    if let Some(slots) = bslots {
        t.ops.push(Operand {
            slots,
            n: k as u32,
            p: Partials::Stored(p as u32),
        });
    }
    if aslot != NONE {
        t.ops.push(Operand {
            slots: crate::tape::Slots::Scalar(aslot),
            n: 1,
            p: Partials::Stored((p + k) as u32),
        });
    }
    Some(Ok(Val::Real(total, t.reduce(total, first_op))))
}

/// The arithmetic of [`bernoulli_logit_glm`]: eta = alpha + X beta into `eta`, then per row
/// `1 + exp(-|eta|)`, the linear part of the log density and the residual y - inv_logit(eta)
/// (overwriting `eta`), then `grads` = (X' resid, sum(resid)). Returns (sum of linear parts,
/// sum of logs, whether some outcome was not 0 or 1, whether some eta was NaN).
struct GlmKernel<'a> {
    ys: &'a [f64],
    xm: &'a [f64],
    beta: crate::value::ValSlice<'a>,
    alpha: f64,
    eta: &'a mut [f64],
    one_plus: &'a mut [f64],
    lin_terms: &'a mut [f64],
    grads: &'a mut [f64],
}

impl pulp::WithSimd for GlmKernel<'_> {
    type Output = (f64, f64, bool, bool);

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> Self::Output {
        let GlmKernel {
            ys,
            xm,
            beta,
            alpha,
            eta,
            one_plus,
            lin_terms,
            grads,
        } = self;
        let n = eta.len();
        let k = grads.len() - 1;
        eta.fill(alpha);
        for (l, col) in xm.chunks_exact(n.max(1)).enumerate().take(k) {
            let bl = beta.get(l);
            for (e, xi) in eta.iter_mut().zip(col) {
                *e += xi * bl;
            }
        }
        let nan = eta.iter().fold(false, |acc, a| acc | a.is_nan());
        let ys = &ys[..n];
        let bad_y = ys
            .iter()
            .fold(false, |acc, &v| acc | ((v != 0.0) & (v != 1.0)));
        let (one_plus, lin_terms) = (&mut one_plus[..n], &mut lin_terms[..n]);
        for i in 0..n {
            let (av, yi) = (eta[i], ys[i]);
            let e = math::exp_nonpos(-av.abs());
            let one_e = 1.0 + e;
            one_plus[i] = one_e;
            // log inv_logit(+-a) = min(+-a, 0) - log(1 + exp(-|a|)).
            lin_terms[i] = if yi != 0.0 {
                av.min(0.0)
            } else {
                (-av).min(0.0)
            };
            let num = if av >= 0.0 { 1.0 } else { e };
            eta[i] = yi - num / one_e;
        }
        // One logarithm per block of 512 factors in (1, 2] (eight running products).
        let mut logs = 0.0;
        for block in one_plus.chunks(512) {
            let mut prod = [1.0f64; 8];
            let (b8, tail) = block.split_at(block.len() / 8 * 8);
            for c in b8.chunks_exact(8) {
                for l in 0..8 {
                    prod[l] *= c[l];
                }
            }
            for (l, &v) in tail.iter().enumerate() {
                prod[l] *= v;
            }
            logs += ((prod[0] * prod[1]) * (prod[2] * prod[3])).ln()
                + ((prod[4] * prod[5]) * (prod[6] * prod[7])).ln();
        }
        let lin = simd_dot(simd, lin_terms, None);
        let resid: &[f64] = eta;
        for (l, col) in xm.chunks_exact(n.max(1)).enumerate().take(k) {
            grads[l] = simd_dot(simd, col, Some(resid));
        }
        grads[k] = simd_dot(simd, resid, None);
        (lin, logs, bad_y, nan)
    }
}

/// `sum_i a_i b_i` (or `sum_i a_i` when `b` is `None`) with two SIMD accumulators of the
/// dispatched width (4 lanes with AVX2): the summation order, and so the last bits, depend on
/// the instruction set.
#[inline(always)]
fn simd_dot<S: pulp::Simd>(simd: S, a: &[f64], b: Option<&[f64]>) -> f64 {
    let (av, at) = S::as_simd_f64s(a);
    let (mut acc0, mut acc1) = (simd.splat_f64s(0.0), simd.splat_f64s(0.0));
    let tail = match b {
        Some(b) => {
            let (bv, bt) = S::as_simd_f64s(&b[..a.len()]);
            let (av2, bv2) = (av.chunks_exact(2), bv.chunks_exact(2));
            let (ar, br) = (av2.remainder(), bv2.remainder());
            for (x, y) in av2.zip(bv2) {
                acc0 = simd.add_f64s(acc0, simd.mul_f64s(x[0], y[0]));
                acc1 = simd.add_f64s(acc1, simd.mul_f64s(x[1], y[1]));
            }
            if let (Some(x), Some(y)) = (ar.first(), br.first()) {
                acc0 = simd.add_f64s(acc0, simd.mul_f64s(*x, *y));
            }
            at.iter().zip(bt).map(|(x, y)| x * y).sum::<f64>()
        }
        None => {
            let av2 = av.chunks_exact(2);
            let ar = av2.remainder();
            for x in av2 {
                acc0 = simd.add_f64s(acc0, x[0]);
                acc1 = simd.add_f64s(acc1, x[1]);
            }
            if let Some(x) = ar.first() {
                acc0 = simd.add_f64s(acc0, *x);
            }
            at.iter().sum::<f64>()
        }
    };
    simd.reduce_sum_f64s(simd.add_f64s(acc0, acc1)) + tail
}

/// log1p(e) for e in [0, 1]: `ln(1 + e)` is accurate there except for tiny e, where the series
/// takes over; much cheaper than `ln_1p`.
#[inline]
fn log1p_small(e: f64) -> f64 {
    if e > 1e-4 {
        (1.0 + e).ln()
    } else {
        e * (1.0 - e * (0.5 - e * (1.0 / 3.0)))
    }
}

fn k_binomial(x: &[f64; 3], _inc: &[bool; 3], propto: bool) -> Result<(f64, [f64; 3]), String> {
    let (n, big_n, th) = (x[0], x[1], x[2]);
    count(n, "successes")?;
    count(big_n, "trials")?;
    prob(th, "probability")?;
    if n > big_n {
        return Err(format!("successes {n} exceed trials {big_n}"));
    }
    let mut lp = xlogy(n, th) + xlogy(big_n - n, 1.0 - th);
    if !propto {
        lp += math::lchoose(big_n, n);
    }
    let d = if n == 0.0 {
        -(big_n - n) / (1.0 - th)
    } else if n == big_n {
        n / th
    } else {
        n / th - (big_n - n) / (1.0 - th)
    };
    Ok((lp, [0.0, 0.0, d]))
}

fn k_binomial_logit(
    x: &[f64; 3],
    _inc: &[bool; 3],
    propto: bool,
) -> Result<(f64, [f64; 3]), String> {
    let (n, big_n, a) = (x[0], x[1], x[2]);
    count(n, "successes")?;
    count(big_n, "trials")?;
    notnan(a, "logit probability")?;
    if n > big_n {
        return Err(format!("successes {n} exceed trials {big_n}"));
    }
    let mut lp = 0.0;
    if n != 0.0 {
        lp += n * math::log_inv_logit(a);
    }
    if big_n != n {
        lp += (big_n - n) * math::log_inv_logit(-a);
    }
    if !propto {
        lp += math::lchoose(big_n, n);
    }
    Ok((lp, [0.0, 0.0, n - big_n * math::inv_logit(a)]))
}

fn k_poisson(x: &[f64; 2], _inc: &[bool; 2], propto: bool) -> Result<(f64, [f64; 2]), String> {
    let (n, lam) = (x[0], x[1]);
    count(n, "count")?;
    if !(lam >= 0.0) || lam.is_infinite() {
        return Err(format!("rate must be non-negative and finite, found {lam}"));
    }
    let mut lp = xlogy(n, lam) - lam;
    if !propto {
        lp -= lgamma(n + 1.0);
    }
    let d = if n == 0.0 { -1.0 } else { n / lam - 1.0 };
    Ok((lp, [0.0, d]))
}

fn k_poisson_log(x: &[f64; 2], _inc: &[bool; 2], propto: bool) -> Result<(f64, [f64; 2]), String> {
    let (n, eta) = (x[0], x[1]);
    count(n, "count")?;
    notnan(eta, "log rate")?;
    if eta == f64::INFINITY {
        return Err("log rate is infinite".into());
    }
    let e = eta.exp();
    let mut lp = if n == 0.0 { -e } else { n * eta - e };
    if !propto {
        lp -= lgamma(n + 1.0);
    }
    Ok((lp, [0.0, n - e]))
}

fn nb2_core(n: f64, mu: f64, lmu: f64, phi: f64, inc_phi: bool, propto: bool) -> (f64, f64, f64) {
    // log(mu + phi) computed stably from log mu.
    let lmp = math::log_sum_exp2(lmu, phi.ln());
    let mut lp = 0.0;
    if !propto {
        lp -= lgamma(n + 1.0);
    }
    if !propto || inc_phi {
        lp += lgamma(n + phi) - lgamma(phi) + phi * phi.ln();
    }
    lp += if n == 0.0 { 0.0 } else { n * lmu } - (n + phi) * lmp;
    let frac = (n + phi) / (mu + phi);
    let dmu = if n == 0.0 { -frac } else { n / mu - frac };
    let dphi = digamma(n + phi) - digamma(phi) + phi.ln() + 1.0 - lmp - frac;
    (lp, dmu, dphi)
}

fn k_neg_binomial_2(
    x: &[f64; 3],
    inc: &[bool; 3],
    propto: bool,
) -> Result<(f64, [f64; 3]), String> {
    let (n, mu, phi) = (x[0], x[1], x[2]);
    count(n, "count")?;
    pos(mu, "location")?;
    pos(phi, "precision")?;
    let (lp, dmu, dphi) = nb2_core(n, mu, mu.ln(), phi, inc[2], propto);
    Ok((lp, [0.0, dmu, dphi]))
}

fn k_neg_binomial_2_log(
    x: &[f64; 3],
    inc: &[bool; 3],
    propto: bool,
) -> Result<(f64, [f64; 3]), String> {
    let (n, eta, phi) = (x[0], x[1], x[2]);
    count(n, "count")?;
    finite(eta, "log location")?;
    pos(phi, "precision")?;
    let mu = eta.exp();
    let (lp, dmu, dphi) = nb2_core(n, mu, eta, phi, inc[2], propto);
    Ok((lp, [0.0, dmu * mu, dphi]))
}

/// `dist_lpdf(args...)` (or `~`). `terms` receives one log density per observation when given.
pub fn lpdf(
    t: &mut Tape,
    d: Dist,
    args: &[Val],
    propto: bool,
    terms: Option<&mut Vec<f64>>,
) -> Res<Val> {
    use Dist::*;
    if args.len() != d.arity() {
        return eval_err(format!(
            "{d:?} takes {} arguments, found {}",
            d.arity(),
            args.len()
        ));
    }
    let a = args;
    let name = d;
    match d {
        Normal => univariate(t, a, propto, terms, name, k_normal),
        StdNormal => univariate(t, a, propto, terms, name, k_std_normal),
        StudentT => univariate(t, a, propto, terms, name, k_student_t),
        Cauchy => univariate(t, a, propto, terms, name, k_cauchy),
        DoubleExponential => univariate(t, a, propto, terms, name, k_double_exponential),
        Logistic => univariate(t, a, propto, terms, name, k_logistic),
        Lognormal => univariate(t, a, propto, terms, name, k_lognormal),
        Exponential => univariate(t, a, propto, terms, name, k_exponential),
        Gamma => univariate(t, a, propto, terms, name, k_gamma),
        InvGamma => univariate(t, a, propto, terms, name, k_inv_gamma),
        Weibull => univariate(t, a, propto, terms, name, k_weibull),
        Beta => univariate(t, a, propto, terms, name, k_beta),
        Uniform => univariate(t, a, propto, terms, name, k_uniform),
        ChiSquare => univariate(t, a, propto, terms, name, k_chi_square),
        Bernoulli => univariate(t, a, propto, terms, name, k_bernoulli),
        BernoulliLogit => match (terms, &args[0], &args[1]) {
            (None, Val::Ints(..), eta @ Val::Reals(..)) if eta.is_var() => {
                bernoulli_logit_fast(t, &args[0], eta)
            }
            (terms, ..) => univariate(t, a, propto, terms, name, k_bernoulli_logit),
        },
        Binomial => univariate(t, a, propto, terms, name, k_binomial),
        BinomialLogit => univariate(t, a, propto, terms, name, k_binomial_logit),
        Poisson => univariate(t, a, propto, terms, name, k_poisson),
        PoissonLog => univariate(t, a, propto, terms, name, k_poisson_log),
        NegBinomial2 => univariate(t, a, propto, terms, name, k_neg_binomial_2),
        NegBinomial2Log => univariate(t, a, propto, terms, name, k_neg_binomial_2_log),
        Categorical | CategoricalLogit => categorical(t, &args[0], &args[1], d, terms),
        MultiNormal => multi_normal(t, &args[0], &args[1], &args[2], false, propto, terms),
        MultiNormalCholesky => multi_normal(t, &args[0], &args[1], &args[2], true, propto, terms),
        LkjCorrCholesky => {
            let v = lkj_corr_cholesky(t, &args[0], &args[1], propto)?;
            if let Some(tv) = terms {
                tv.push(v.as_f64()?);
            }
            Ok(v)
        }
        Dirichlet => dirichlet(t, &args[0], &args[1], propto, terms),
    }
}

/// Push a reduce node over the given (value, per-element gradient) operands.
fn reduce_multi(t: &mut Tape, total: f64, parts: &[(&Val, &[f64])]) -> Val {
    let first_op = t.ops.len();
    for (v, g) in parts {
        if let Some(slots) = operand_slots(t, v) {
            let p = t.alloc_part(g.len());
            t.part[p as usize..p as usize + g.len()].copy_from_slice(g);
            t.ops.push(Operand {
                slots,
                n: g.len() as u32,
                p: Partials::Stored(p),
            });
        }
    }
    Val::Real(total, t.reduce(total, first_op))
}

fn categorical(
    t: &mut Tape,
    y: &Val,
    theta: &Val,
    d: Dist,
    terms: Option<&mut Vec<f64>>,
) -> Res<Val> {
    let th = theta.to_vec(&t.val);
    let k = th.len();
    let ys = y.to_vec(&t.val);
    let mut g = vec![0.0; k];
    let mut total = 0.0;
    let mut terms = terms;
    let (lse, soft) = if d == Dist::CategoricalLogit {
        let m = th.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = th.iter().map(|x| (x - m).exp()).sum();
        let lse = m + s.ln();
        (lse, th.iter().map(|x| (x - lse).exp()).collect::<Vec<_>>())
    } else {
        for &p in &th {
            if !(0.0..=1.0).contains(&p) {
                return eval_err(format!("categorical: probability {p} outside [0, 1]"));
            }
        }
        (0.0, vec![])
    };
    for &yv in &ys {
        if yv < 1.0 || yv > k as f64 || yv != yv.floor() {
            return eval_err(format!("categorical: outcome {yv} outside 1..{k}"));
        }
        let i = yv as usize - 1;
        let lp = if d == Dist::CategoricalLogit {
            for j in 0..k {
                g[j] -= soft[j];
            }
            g[i] += 1.0;
            th[i] - lse
        } else {
            g[i] += 1.0 / th[i];
            th[i].ln()
        };
        total += lp;
        if let Some(tv) = terms.as_deref_mut() {
            tv.push(lp);
        }
    }
    Ok(reduce_multi(t, total, &[(theta, &g)]))
}

/// The observations of a multivariate variate: one vector, or an array of vectors.
fn split_vectors(v: &Val, tv: &[f64]) -> Res<(usize, usize, Vec<f64>)> {
    match v {
        Val::Reals(s, _) => {
            let k = match s.base {
                Base::Vector(k) | Base::RowVector(k) => k as usize,
                _ => return eval_err(format!("expected vectors, found {}", s.describe())),
            };
            let n = s.arr.numel();
            Ok((n, k, v.to_vec(tv)))
        }
        other => eval_err(format!("expected vectors, found {}", other.type_name())),
    }
}

/// Cholesky factor (column-major, lower) of a symmetric positive-definite matrix.
pub fn cholesky(a: &[f64], n: usize) -> Option<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for j in 0..n {
        let mut d = a[j + j * n];
        for k in 0..j {
            d -= l[j + k * n] * l[j + k * n];
        }
        if !(d > 0.0) || !d.is_finite() {
            return None;
        }
        let djj = d.sqrt();
        l[j + j * n] = djj;
        for i in j + 1..n {
            let mut s = a[i + j * n];
            for k in 0..j {
                s -= l[i + k * n] * l[j + k * n];
            }
            l[i + j * n] = s / djj;
        }
    }
    Some(l)
}

/// Solve L z = r (forward substitution), L lower column-major.
fn forward_solve(l: &[f64], n: usize, r: &mut [f64]) {
    for i in 0..n {
        let mut s = r[i];
        for k in 0..i {
            s -= l[i + k * n] * r[k];
        }
        r[i] = s / l[i + i * n];
    }
}

/// Solve L^T w = z (back substitution).
fn back_solve_t(l: &[f64], n: usize, z: &mut [f64]) {
    for i in (0..n).rev() {
        let mut s = z[i];
        for k in i + 1..n {
            s -= l[k + i * n] * z[k];
        }
        z[i] = s / l[i + i * n];
    }
}

/// Whether observing the data value `v` under `d` gives one log-likelihood term per element (a
/// single vector under a multivariate normal: the likelihood does not factorize, so the terms are
/// the exact leave-one-out conditionals) rather than one per variate vector.
pub fn loo_per_element(d: Dist, v: &Val) -> bool {
    d.is_gaussian_vector()
        && matches!(v, Val::Reals(s, _) if s.arr.is_empty() && matches!(s.base, Base::Vector(_) | Base::RowVector(_)))
}

/// Exact leave-one-out terms of a multivariate normal (`args` = variate, location, covariance or
/// its Cholesky factor), one per element of each variate vector:
/// log p(y_i | y_{-i}) = normal_lpdf(y_i | y_i - g_i / K_ii, 1 / sqrt(K_ii)) with K = Sigma^{-1},
/// g = K (y - mu) (Vehtari et al. 2016, "LOO for non-factorized models"). They do not sum to
/// the joint density.
pub fn multi_normal_loo_terms(tv: &[f64], is_chol: bool, args: &[Val]) -> Res<Vec<f64>> {
    let [y, mu, sm] = args else {
        return eval_err("multi_normal: expected three arguments");
    };
    let (ny, k, yv) = split_vectors(y, tv)?;
    let (nm, km, mv) = match mu {
        Val::Int(_) | Val::Real(..) => (1, k, vec![mu.as_f64()?; k]),
        _ => split_vectors(mu, tv)?,
    };
    let sv = sm.to_vec(tv);
    if km != k || sv.len() != k * k {
        return eval_err("multi_normal: argument sizes do not match the variate");
    }
    let l = if is_chol {
        sv
    } else {
        cholesky(&sv, k).ok_or_else(|| {
            ModelError::Eval("multi_normal: covariance matrix is not positive definite".into())
        })?
    };
    // K_ii = |L^{-1} e_i|^2.
    let mut k_diag = vec![0.0; k];
    let mut e = vec![0.0; k];
    for (i, kd) in k_diag.iter_mut().enumerate() {
        e.iter_mut().for_each(|x| *x = 0.0);
        e[i] = 1.0;
        forward_solve(&l, k, &mut e);
        *kd = e.iter().map(|x| x * x).sum();
    }
    let n = ny.max(nm);
    let mut out = Vec::with_capacity(n * k);
    for obs in 0..n {
        let yo = if ny == 1 { 0 } else { obs * k };
        let mo = if nm == 1 { 0 } else { obs * k };
        let mut g: Vec<f64> = (0..k).map(|i| yv[yo + i] - mv[mo + i]).collect();
        forward_solve(&l, k, &mut g);
        back_solve_t(&l, k, &mut g);
        for (gi, kii) in g.iter().zip(&k_diag) {
            out.push(-LOG_SQRT_2PI + 0.5 * kii.ln() - 0.5 * gi * gi / kii);
        }
    }
    Ok(out)
}

fn multi_normal(
    t: &mut Tape,
    y: &Val,
    mu: &Val,
    sm: &Val,
    is_chol: bool,
    propto: bool,
    terms: Option<&mut Vec<f64>>,
) -> Res<Val> {
    let (ny, k, yv) = split_vectors(y, &t.val)?;
    let (nm, km, mv) = match mu {
        Val::Int(_) | Val::Real(..) => {
            let x = mu.as_f64()?;
            (1, k, vec![x; k])
        }
        _ => split_vectors(mu, &t.val)?,
    };
    if km != k {
        return eval_err(format!(
            "multi_normal: location has size {km}, variate has size {k}"
        ));
    }
    let sv = sm.to_vec(&t.val);
    if sv.len() != k * k {
        return eval_err("multi_normal: covariance size does not match the variate".to_string());
    }
    let n = ny.max(nm);
    if (ny != 1 && ny != n) || (nm != 1 && nm != n) {
        return eval_err("multi_normal: different numbers of observations in variate and location");
    }
    let l = if is_chol {
        for i in 0..k {
            if !(sv[i + i * k] > 0.0) {
                return eval_err("multi_normal_cholesky: factor has a non-positive diagonal");
            }
        }
        sv.clone()
    } else {
        for i in 0..k {
            for j in 0..i {
                let (a, b) = (sv[i + j * k], sv[j + i * k]);
                if (a - b).abs() > 1e-8 * (1.0 + a.abs().max(b.abs())) {
                    return eval_err("multi_normal: covariance matrix is not symmetric");
                }
            }
        }
        match cholesky(&sv, k) {
            Some(l) => l,
            None => return eval_err("multi_normal: covariance matrix is not positive definite"),
        }
    };
    let log_det_half: f64 = (0..k).map(|i| l[i + i * k].ln()).sum();
    let mut total = 0.0;
    let mut gy = vec![0.0; yv.len()];
    let mut gm = vec![0.0; mv.len()];
    let mut gs = vec![0.0; k * k];
    let mut terms = terms;
    let inc_s = sm.is_var();
    // Sigma^{-1} for the covariance gradient.
    let mut sinv = vec![];
    if inc_s && !is_chol {
        sinv = vec![0.0; k * k];
        for j in 0..k {
            let mut e = vec![0.0; k];
            e[j] = 1.0;
            forward_solve(&l, k, &mut e);
            back_solve_t(&l, k, &mut e);
            for i in 0..k {
                sinv[i + j * k] = e[i];
            }
        }
    }
    for obs in 0..n {
        let yo = if ny == 1 { 0 } else { obs * k };
        let mo = if nm == 1 { 0 } else { obs * k };
        let mut z: Vec<f64> = (0..k).map(|i| yv[yo + i] - mv[mo + i]).collect();
        forward_solve(&l, k, &mut z);
        let q: f64 = z.iter().map(|x| x * x).sum();
        let mut lp = -0.5 * q;
        if !propto {
            lp -= k as f64 * LOG_SQRT_2PI;
        }
        if !propto || inc_s {
            lp -= log_det_half;
        }
        total += lp;
        if let Some(tv) = terms.as_deref_mut() {
            tv.push(lp);
        }
        let mut w = z.clone();
        back_solve_t(&l, k, &mut w);
        for i in 0..k {
            gy[yo + i] -= w[i];
            gm[mo + i] += w[i];
        }
        if inc_s {
            if is_chol {
                for j in 0..k {
                    for i in j..k {
                        gs[i + j * k] += w[i] * z[j];
                    }
                    gs[j + j * k] -= 1.0 / l[j + j * k];
                }
            } else {
                for j in 0..k {
                    for i in 0..k {
                        gs[i + j * k] += -0.5 * (sinv[i + j * k] - w[i] * w[j]);
                    }
                }
            }
        }
    }
    Ok(reduce_multi(t, total, &[(y, &gy), (mu, &gm), (sm, &gs)]))
}

fn dirichlet(
    t: &mut Tape,
    theta: &Val,
    alpha: &Val,
    propto: bool,
    terms: Option<&mut Vec<f64>>,
) -> Res<Val> {
    let th = theta.to_vec(&t.val);
    let al = alpha.to_vec(&t.val);
    if th.len() != al.len() {
        return eval_err("dirichlet: sizes of variate and concentration differ");
    }
    let mut s = 0.0;
    for &a in &al {
        if !(a > 0.0) {
            return eval_err(format!(
                "dirichlet: concentration must be positive, found {a}"
            ));
        }
        s += a;
    }
    for &x in &th {
        if !(0.0..=1.0).contains(&x) {
            return eval_err(format!("dirichlet: variate {x} outside [0, 1]"));
        }
    }
    let inc_a = alpha.is_var();
    let mut lp = 0.0;
    if !propto || inc_a {
        lp += lgamma(s);
        for &a in &al {
            lp -= lgamma(a);
        }
    }
    let ds = digamma(s);
    let mut gt = vec![0.0; th.len()];
    let mut ga = vec![0.0; al.len()];
    for i in 0..th.len() {
        lp += xlogy(al[i] - 1.0, th[i]);
        gt[i] = (al[i] - 1.0) / th[i];
        ga[i] = ds - digamma(al[i]) + th[i].ln();
    }
    if let Some(tv) = terms {
        tv.push(lp);
    }
    Ok(reduce_multi(t, lp, &[(theta, &gt), (alpha, &ga)]))
}

/// log of the LKJ normalising constant (Lewandowski, Kurowicka and Joe 2009, theorem 5).
fn lkj_log_const(eta: f64, k: usize) -> (f64, f64) {
    let mut c = 0.0;
    let mut dc = 0.0;
    for kk in 1..k {
        let m = (k - kk) as f64;
        let b = eta + 0.5 * (m - 1.0);
        c += (2.0 * eta - 2.0 + m) * m * LN2 + m * math::lbeta(b, b);
        dc += 2.0 * m * LN2 + m * 2.0 * (digamma(b) - digamma(2.0 * b));
    }
    (-c, -dc)
}

fn lkj_corr_cholesky(t: &mut Tape, l: &Val, eta: &Val, propto: bool) -> Res<Val> {
    let lv = l.to_vec(&t.val);
    let k = (lv.len() as f64).sqrt().round() as usize;
    if k * k != lv.len() {
        return eval_err("lkj_corr_cholesky: variate is not a square matrix");
    }
    let (e, _) = eta.as_scalar()?;
    if !(e > 0.0) {
        return eval_err(format!(
            "lkj_corr_cholesky: shape must be positive, found {e}"
        ));
    }
    let mut lp = 0.0;
    let mut de = 0.0;
    if !propto || eta.is_var() {
        let (c, dc) = lkj_log_const(e, k);
        lp += c;
        de += dc;
    }
    let mut gl = vec![0.0; k * k];
    for i in 1..k {
        let d = lv[i + i * k];
        if !(d > 0.0) {
            return eval_err("lkj_corr_cholesky: factor has a non-positive diagonal");
        }
        let coef = (k - i - 1) as f64 + 2.0 * e - 2.0;
        lp += coef * d.ln();
        gl[i + i * k] = coef / d;
        de += 2.0 * d.ln();
    }
    Ok(reduce_multi(t, lp, &[(l, &gl), (eta, &[de])]))
}

// ---------------------------------------------------------------------------------------------
// CDFs for truncation and the _lcdf / _lccdf / _cdf functions.

/// (F, 1 - F, dF/dx, dF/dparams) of a univariate distribution at x.
pub struct Cdf {
    pub f: f64,
    pub s: f64,
    pub dx: f64,
    pub dp: [f64; 3],
}

fn numdiff(f: impl Fn(f64) -> f64, x: f64) -> f64 {
    let h = 1e-5 * x.abs().max(1.0);
    (f(x + h) - f(x - h)) / (2.0 * h)
}

fn gamma_cdf(x: f64, a: f64, b: f64) -> f64 {
    math::gamma_p(a, b * x)
}

/// 0.5 * I_{nu/(nu+t^2)}(nu/2, 1/2): the probability beyond |t|.
fn student_tail(tv: f64, nu: f64) -> f64 {
    0.5 * math::inc_beta(nu / (nu + tv * tv), 0.5 * nu, 0.5)
}

fn student_cdf(tv: f64, nu: f64) -> (f64, f64) {
    // Returns (F, 1 - F) of the standard t distribution at tv.
    let xb = nu / (nu + tv * tv);
    let tail = 0.5 * math::inc_beta(xb, 0.5 * nu, 0.5);
    if tv > 0.0 {
        (1.0 - tail, tail)
    } else {
        (tail, 1.0 - tail)
    }
}

fn student_pdf(tv: f64, nu: f64) -> f64 {
    (lgamma(0.5 * (nu + 1.0))
        - lgamma(0.5 * nu)
        - 0.5 * (nu * std::f64::consts::PI).ln()
        - 0.5 * (nu + 1.0) * (tv * tv / nu).ln_1p())
    .exp()
}

/// The CDF of `d` at `x` with parameters `p` (values only; the caller handles slots).
pub fn cdf(d: Dist, x: f64, p: &[f64]) -> Res<Cdf> {
    use Dist::*;
    let bad = |m: &str| Err(ModelError::Eval(format!("{d:?} cdf: {m}")));
    Ok(match d {
        Normal | Lognormal => {
            let (mu, sigma) = (p[0], p[1]);
            if !(sigma > 0.0) {
                return bad("scale must be positive");
            }
            let (xx, jac) = if d == Lognormal {
                if x <= 0.0 {
                    return Ok(Cdf {
                        f: 0.0,
                        s: 1.0,
                        dx: 0.0,
                        dp: [0.0; 3],
                    });
                }
                (x.ln(), 1.0 / x)
            } else {
                (x, 1.0)
            };
            let z = (xx - mu) / sigma;
            let pdf = math::std_normal_pdf(z);
            Cdf {
                f: math::phi(z),
                s: math::phi(-z),
                dx: pdf / sigma * jac,
                dp: [-pdf / sigma, -pdf * z / sigma, 0.0],
            }
        }
        Exponential => {
            let b = p[0];
            if !(b > 0.0) {
                return bad("rate must be positive");
            }
            if x <= 0.0 {
                return Ok(Cdf {
                    f: 0.0,
                    s: 1.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                });
            }
            let s = (-b * x).exp();
            Cdf {
                f: -(-b * x).exp_m1(),
                s,
                dx: b * s,
                dp: [x * s, 0.0, 0.0],
            }
        }
        Gamma => {
            let (a, b) = (p[0], p[1]);
            if !(a > 0.0 && b > 0.0) {
                return bad("shape and rate must be positive");
            }
            if x <= 0.0 {
                return Ok(Cdf {
                    f: 0.0,
                    s: 1.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                });
            }
            let u = b * x;
            let (f, s) = if u < a + 1.0 {
                let f = gamma_cdf(x, a, b);
                (f, 1.0 - f)
            } else {
                let s = math::gamma_q(a, u);
                (1.0 - s, s)
            };
            let g = ((a - 1.0) * u.ln() - u - lgamma(a)).exp();
            // Differentiate the smaller tail numerically (the other loses its digits).
            let da = if f < 0.5 {
                numdiff(|aa| gamma_cdf(x, aa, b), a)
            } else {
                -numdiff(|aa| math::gamma_q(aa, u), a)
            };
            Cdf {
                f,
                s,
                dx: g * b,
                dp: [da, g * x, 0.0],
            }
        }
        StudentT => {
            let (nu, mu, sigma) = (p[0], p[1], p[2]);
            if !(nu > 0.0 && sigma > 0.0) {
                return bad("degrees of freedom and scale must be positive");
            }
            let tv = (x - mu) / sigma;
            let (f, s) = student_cdf(tv, nu);
            let pdf = student_pdf(tv, nu);
            Cdf {
                f,
                s,
                dx: pdf / sigma,
                dp: [
                    if tv > 0.0 {
                        -numdiff(|n| student_tail(tv, n), nu)
                    } else {
                        numdiff(|n| student_tail(tv, n), nu)
                    },
                    -pdf / sigma,
                    -pdf * tv / sigma,
                ],
            }
        }
        Cauchy => {
            let (mu, sigma) = (p[0], p[1]);
            if !(sigma > 0.0) {
                return bad("scale must be positive");
            }
            let z = (x - mu) / sigma;
            let pdf = 1.0 / (std::f64::consts::PI * (1.0 + z * z));
            let a = z.atan() / std::f64::consts::PI;
            Cdf {
                f: 0.5 + a,
                s: 0.5 - a,
                dx: pdf / sigma,
                dp: [-pdf / sigma, -pdf * z / sigma, 0.0],
            }
        }
        Logistic => {
            let (mu, sigma) = (p[0], p[1]);
            if !(sigma > 0.0) {
                return bad("scale must be positive");
            }
            let z = (x - mu) / sigma;
            let f = math::inv_logit(z);
            let pdf = f * (1.0 - f);
            Cdf {
                f,
                s: math::inv_logit(-z),
                dx: pdf / sigma,
                dp: [-pdf / sigma, -pdf * z / sigma, 0.0],
            }
        }
        DoubleExponential => {
            let (mu, sigma) = (p[0], p[1]);
            if !(sigma > 0.0) {
                return bad("scale must be positive");
            }
            let z = (x - mu) / sigma;
            let (f, s) = if z < 0.0 {
                let f = 0.5 * z.exp();
                (f, 1.0 - f)
            } else {
                let s = 0.5 * (-z).exp();
                (1.0 - s, s)
            };
            let pdf = 0.5 * (-z.abs()).exp();
            Cdf {
                f,
                s,
                dx: pdf / sigma,
                dp: [-pdf / sigma, -pdf * z / sigma, 0.0],
            }
        }
        Weibull => {
            let (alpha, sigma) = (p[0], p[1]);
            if !(alpha > 0.0 && sigma > 0.0) {
                return bad("shape and scale must be positive");
            }
            if x <= 0.0 {
                return Ok(Cdf {
                    f: 0.0,
                    s: 1.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                });
            }
            let r = x / sigma;
            let ra = r.powf(alpha);
            let s = (-ra).exp();
            Cdf {
                f: -(-ra).exp_m1(),
                s,
                dx: s * alpha * ra / x,
                dp: [s * ra * r.ln(), -s * alpha * ra / sigma, 0.0],
            }
        }
        Uniform => {
            let (a, b) = (p[0], p[1]);
            if !(b > a) {
                return bad("upper bound must exceed lower bound");
            }
            let w = b - a;
            if x <= a {
                Cdf {
                    f: 0.0,
                    s: 1.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                }
            } else if x >= b {
                Cdf {
                    f: 1.0,
                    s: 0.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                }
            } else {
                let f = (x - a) / w;
                Cdf {
                    f,
                    s: 1.0 - f,
                    dx: 1.0 / w,
                    dp: [(x - b) / (w * w), -(x - a) / (w * w), 0.0],
                }
            }
        }
        Poisson => {
            let lam = p[0];
            if !(lam >= 0.0) {
                return bad("rate must be non-negative");
            }
            if x < 0.0 {
                return Ok(Cdf {
                    f: 0.0,
                    s: 1.0,
                    dx: 0.0,
                    dp: [0.0; 3],
                });
            }
            let k = x.floor();
            // P(X <= k) = Q(k + 1, lam) = 1 - P(k + 1, lam); d/dlam = -pmf(k).
            let pl = math::gamma_p(k + 1.0, lam);
            let pmf = (xlogy(k, lam) - lam - lgamma(k + 1.0)).exp();
            Cdf {
                f: 1.0 - pl,
                s: pl,
                dx: 0.0,
                dp: [-pmf, 0.0, 0.0],
            }
        }
        _ => {
            return Err(ModelError::Unsupported(format!(
                "cumulative distribution function of {d:?}"
            )))
        }
    })
}

/// Which tail function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CdfKind {
    Cdf,
    Lcdf,
    Lccdf,
}

/// `dist_lcdf(x | params)` etc. summed over vectorised x (Stan semantics), with gradients.
pub fn cdf_fn(t: &mut Tape, d: Dist, kind: CdfKind, args: &[Val]) -> Res<Val> {
    if args.len() != d.arity() {
        return eval_err(format!("{d:?} cdf takes {} arguments", d.arity()));
    }
    let n = args.iter().map(|a| a.numel()).max().unwrap_or(1);
    let mut g: Vec<Vec<f64>> = args.iter().map(|a| vec![0.0; a.numel()]).collect();
    let mut total = if kind == CdfKind::Cdf { 1.0 } else { 0.0 };
    let mut rows = vec![];
    for i in 0..n {
        let get = |a: &Val| {
            let m = a.numel();
            a.elem(if m == 1 { 0 } else { i }, &t.val).0
        };
        let x = get(&args[0]);
        let p: Vec<f64> = args[1..].iter().map(get).collect();
        let c = cdf(d, x, &p)?;
        let (v, dx, dp) = match kind {
            CdfKind::Cdf => (c.f, c.dx, c.dp),
            CdfKind::Lcdf => (c.f.ln(), c.dx / c.f, c.dp.map(|q| q / c.f)),
            CdfKind::Lccdf => (c.s.ln(), -c.dx / c.s, c.dp.map(|q| -q / c.s)),
        };
        rows.push((v, dx, dp));
        if kind == CdfKind::Cdf {
            total *= v;
        } else {
            total += v;
        }
    }
    for (i, (v, dx, dp)) in rows.iter().enumerate() {
        // For a product of CDFs the partial of factor i is total / v_i times its derivative.
        let scale = if kind == CdfKind::Cdf {
            if *v == 0.0 {
                0.0
            } else {
                total / v
            }
        } else {
            1.0
        };
        let idx = |a: &Val| if a.numel() == 1 { 0 } else { i };
        g[0][idx(&args[0])] += scale * dx;
        for k in 1..args.len() {
            let j = idx(&args[k]);
            g[k][j] += scale * dp[k - 1];
        }
    }
    let parts: Vec<(&Val, &[f64])> = args
        .iter()
        .zip(&g)
        .map(|(a, g)| (a, g.as_slice()))
        .collect();
    Ok(reduce_multi(t, total, &parts))
}

/// The truncation correction `-log(F(U) - F(L))` summed over `n_obs` observations (parameters
/// and bounds broadcast), with `lower`/`upper` optional. Discrete distributions use `F(L - 1)`
/// for the lower end. Also returns the per-observation terms.
pub fn truncation(
    t: &mut Tape,
    d: Dist,
    params: &[Val],
    lower: Option<&Val>,
    upper: Option<&Val>,
    n_obs: usize,
) -> Res<(Val, Vec<f64>)> {
    if lower.is_none() && upper.is_none() {
        return Ok((Val::real(0.0), vec![0.0; n_obs]));
    }
    let discrete = d.is_discrete();
    let mut n = n_obs;
    for v in params.iter().chain(lower).chain(upper) {
        let m = v.numel();
        if m != 1 && m != n {
            if n == 1 {
                n = m;
            } else {
                return eval_err(format!(
                    "{}: truncation arguments have different sizes ({n} and {m})",
                    d.name()
                ));
            }
        }
    }
    let at = |v: &Val, i: usize, tv: &[f64]| v.elem(if v.numel() == 1 { 0 } else { i }, tv).0;
    let mut gp: Vec<Vec<f64>> = params.iter().map(|p| vec![0.0; p.numel()]).collect();
    let mut glo = vec![0.0; lower.map_or(0, |v| v.numel())];
    let mut ghi = vec![0.0; upper.map_or(0, |v| v.numel())];
    let mut terms = Vec::with_capacity(n);
    let mut total = 0.0;
    for i in 0..n {
        let pv: Vec<f64> = params.iter().map(|p| at(p, i, &t.val)).collect();
        let cl = match lower {
            Some(l) => {
                let lv = at(l, i, &t.val);
                Some(cdf(d, if discrete { lv - 1.0 } else { lv }, &pv)?)
            }
            None => None,
        };
        let cu = match upper {
            Some(u) => Some(cdf(d, at(u, i, &t.val), &pv)?),
            None => None,
        };
        // mass = F(U) - F(L), computed from the side with less cancellation.
        let (mass, dmass, dlo, dhi) = match (&cl, &cu) {
            (Some(l), Some(u)) => {
                let m = if l.f > 0.5 { l.s - u.s } else { u.f - l.f };
                let dp = [u.dp[0] - l.dp[0], u.dp[1] - l.dp[1], u.dp[2] - l.dp[2]];
                (m, dp, -l.dx, u.dx)
            }
            (Some(l), None) => (l.s, l.dp.map(|x| -x), -l.dx, 0.0),
            (None, Some(u)) => (u.f, u.dp, 0.0, u.dx),
            (None, None) => (1.0, [0.0; 3], 0.0, 0.0),
        };
        if !(mass > 0.0) {
            return eval_err(format!(
                "{}: truncation interval has zero probability",
                d.name()
            ));
        }
        let term = -mass.ln();
        // Scalar arguments with a single observation repeated n_obs times (n_obs > n only
        // when everything is scalar).
        let reps = if n == 1 { n_obs as f64 } else { 1.0 };
        total += reps * term;
        for _ in 0..(if n == 1 { n_obs } else { 1 }) {
            terms.push(term);
        }
        for (k, p) in params.iter().enumerate() {
            let j = if p.numel() == 1 { 0 } else { i };
            gp[k][j] += -reps * dmass[k] / mass;
        }
        if let Some(l) = lower {
            glo[if l.numel() == 1 { 0 } else { i }] += -reps * dlo / mass;
        }
        if let Some(u) = upper {
            ghi[if u.numel() == 1 { 0 } else { i }] += -reps * dhi / mass;
        }
    }
    let mut parts: Vec<(&Val, &[f64])> = params
        .iter()
        .zip(&gp)
        .map(|(p, g)| (p, g.as_slice()))
        .collect();
    if let Some(l) = lower {
        parts.push((l, &glo));
    }
    if let Some(u) = upper {
        parts.push((u, &ghi));
    }
    Ok((reduce_multi(t, total, &parts), terms))
}

/// Whether `x` lies inside the truncation bounds.
pub fn in_bounds(x: f64, lo: Option<f64>, hi: Option<f64>) -> bool {
    lo.is_none_or(|l| x >= l) && hi.is_none_or(|h| x <= h)
}

// ---------------------------------------------------------------------------------------------
// Random number generation.

fn rng_err(d: Dist, m: impl std::fmt::Display) -> ModelError {
    ModelError::Eval(format!("{}_rng: {m}", d.name()))
}

/// One draw of a univariate distribution with scalar parameters.
pub fn rng_scalar(d: Dist, p: &[f64], rng: &mut dyn RngCore) -> Res<f64> {
    use rand_distr as rd;
    use Dist::*;
    let e = |m: &dyn std::fmt::Display| rng_err(d, m);
    Ok(match d {
        Normal => rd::Normal::new(p[0], p[1]).map_err(|x| e(&x))?.sample(rng),
        StdNormal => rd::StandardNormal.sample(rng),
        StudentT => {
            let t: f64 = rd::StudentT::new(p[0]).map_err(|x| e(&x))?.sample(rng);
            p[1] + p[2] * t
        }
        Cauchy => rd::Cauchy::new(p[0], p[1]).map_err(|x| e(&x))?.sample(rng),
        DoubleExponential => {
            let u: f64 = rng_uniform(rng) - 0.5;
            p[0] - p[1] * u.signum() * (1.0 - 2.0 * u.abs()).ln()
        }
        Logistic => {
            let u = rng_uniform(rng);
            p[0] + p[1] * (u / (1.0 - u)).ln()
        }
        Lognormal => rd::LogNormal::new(p[0], p[1])
            .map_err(|x| e(&x))?
            .sample(rng),
        Exponential => rd::Exp::new(p[0]).map_err(|x| e(&x))?.sample(rng),
        Gamma => rd::Gamma::new(p[0], 1.0 / p[1])
            .map_err(|x| e(&x))?
            .sample(rng),
        InvGamma => {
            let g: f64 = rd::Gamma::new(p[0], 1.0 / p[1])
                .map_err(|x| e(&x))?
                .sample(rng);
            1.0 / g
        }
        Weibull => rd::Weibull::new(p[1], p[0]).map_err(|x| e(&x))?.sample(rng),
        Beta => rd::Beta::new(p[0], p[1]).map_err(|x| e(&x))?.sample(rng),
        Uniform => {
            if !(p[1] > p[0]) {
                return Err(e(&"upper bound must exceed lower bound"));
            }
            p[0] + (p[1] - p[0]) * rng_uniform(rng)
        }
        ChiSquare => rd::ChiSquared::new(p[0]).map_err(|x| e(&x))?.sample(rng),
        Bernoulli => {
            if !(0.0..=1.0).contains(&p[0]) {
                return Err(e(&"probability outside [0, 1]"));
            }
            (rng_uniform(rng) < p[0]) as i64 as f64
        }
        BernoulliLogit => (rng_uniform(rng) < math::inv_logit(p[0])) as i64 as f64,
        Binomial | BinomialLogit => {
            let th = if d == BinomialLogit {
                math::inv_logit(p[1])
            } else {
                p[1]
            };
            if p[0] < 0.0 {
                return Err(e(&"negative number of trials"));
            }
            rd::Binomial::new(p[0] as u64, th)
                .map_err(|x| e(&x))?
                .sample(rng) as f64
        }
        Poisson | PoissonLog => {
            let lam = if d == PoissonLog { p[0].exp() } else { p[0] };
            poisson(lam, rng).map_err(|m| e(&m))?
        }
        NegBinomial2 | NegBinomial2Log => {
            let mu = if d == NegBinomial2Log {
                p[0].exp()
            } else {
                p[0]
            };
            let phi = p[1];
            let lam: f64 = rd::Gamma::new(phi, mu / phi)
                .map_err(|x| e(&x))?
                .sample(rng);
            poisson(lam, rng).map_err(|m| e(&m))?
        }
        _ => return Err(e(&"needs vector arguments")),
    })
}

fn rng_uniform(rng: &mut dyn RngCore) -> f64 {
    // 53 random bits in (0, 1).
    ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

fn poisson(lam: f64, rng: &mut dyn RngCore) -> Result<f64, String> {
    if lam == 0.0 {
        return Ok(0.0);
    }
    if !(lam > 0.0) || lam > 1e15 {
        return Err(format!("rate {lam} out of range"));
    }
    let p = rand_distr::Poisson::new(lam).map_err(|x| x.to_string())?;
    Ok(p.sample(rng))
}

/// Vectorised `_rng`: broadcasts scalar parameters; returns one draw per element.
pub fn rng(d: Dist, args: &[Val], tv: &[f64], rng: &mut dyn RngCore) -> Res<Val> {
    use Dist::*;
    // lkj_corr_cholesky_rng(K, eta) also takes the size.
    let nparams = d.arity() - 1 + (d == LkjCorrCholesky) as usize;
    if args.len() != nparams {
        return eval_err(format!("{}_rng takes {nparams} arguments", d.name()));
    }
    match d {
        MultiNormal | MultiNormalCholesky => {
            let mu = args[0].to_vec(tv);
            let k = mu.len();
            let sv = args[1].to_vec(tv);
            if sv.len() != k * k {
                return eval_err("multi_normal_rng: covariance size does not match location");
            }
            let l = if d == MultiNormal {
                cholesky(&sv, k)
                    .ok_or_else(|| rng_err(d, "covariance matrix is not positive definite"))?
            } else {
                sv
            };
            let z: Vec<f64> = (0..k)
                .map(|_| rand_distr::StandardNormal.sample(&mut *rng))
                .collect();
            let out: Vec<f64> = (0..k)
                .map(|i| mu[i] + (0..=i).map(|j| l[i + j * k] * z[j]).sum::<f64>())
                .collect();
            Ok(Val::const_reals(Shape::vector(k), out))
        }
        Dirichlet => {
            let al = args[0].to_vec(tv);
            let mut g: Vec<f64> = al
                .iter()
                .map(|&a| {
                    rand_distr::Gamma::new(a, 1.0)
                        .map(|gd| gd.sample(&mut *rng))
                        .map_err(|x| rng_err(d, x))
                })
                .collect::<Res<_>>()?;
            let s: f64 = g.iter().sum();
            g.iter_mut().for_each(|x| *x /= s);
            Ok(Val::const_reals(Shape::vector(al.len()), g))
        }
        Categorical | CategoricalLogit => {
            let mut th = args[0].to_vec(tv);
            if d == CategoricalLogit {
                let m = th.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                th.iter_mut().for_each(|x| *x = (*x - m).exp());
            }
            let s: f64 = th.iter().sum();
            let u = rng_uniform(rng) * s;
            let mut c = 0.0;
            for (i, p) in th.iter().enumerate() {
                c += p;
                if u < c {
                    return Ok(Val::Int(i as i64 + 1));
                }
            }
            Ok(Val::Int(th.len() as i64))
        }
        LkjCorrCholesky => {
            let k = args[0].as_int()? as usize;
            let eta = args[1].as_f64()?;
            Ok(Val::const_reals(Shape::matrix(k, k), lkj_rng(k, eta, rng)?))
        }
        _ => {
            let n = args.iter().map(|a| a.numel()).max().unwrap_or(1);
            let vector_arg = args
                .iter()
                .find(|a| !matches!(a, Val::Int(_) | Val::Real(..)));
            let mut out = Vec::with_capacity(n);
            let mut p = vec![0.0; nparams];
            for i in 0..n {
                for (k, a) in args.iter().enumerate() {
                    let m = a.numel();
                    p[k] = a.elem(if m == 1 { 0 } else { i }, tv).0;
                }
                out.push(rng_scalar(d, &p, rng)?);
            }
            match vector_arg {
                None => Ok(if d.is_discrete() {
                    Val::Int(out[0] as i64)
                } else {
                    Val::real(out[0])
                }),
                Some(_) => {
                    if d.is_discrete() {
                        let dims = crate::value::Dims::from_slice(&[n])?;
                        Ok(Val::Ints(dims, out.into(), 0))
                    } else {
                        // Stan returns an array of reals for vectorised _rng.
                        let dims = crate::value::Dims::from_slice(&[n])?;
                        Ok(Val::const_reals(Shape::array(dims), out))
                    }
                }
            }
        }
    }
}

/// LKJ Cholesky factor draw via the onion/CPC method: partial correlations from
/// Beta(eta - 1 + K/2 - ..) mapped to [-1, 1].
fn lkj_rng(k: usize, eta: f64, rng: &mut dyn RngCore) -> Res<Vec<f64>> {
    // Stan's lkj_corr_cholesky_rng: partial correlations column by column, then read_corr_L,
    // which builds the factor from them exactly as the cholesky_factor_corr transform does.
    let mut cpc = vec![0.0; k * k];
    let mut alpha = eta + 0.5 * (k as f64 - 1.0);
    for i in 0..k.saturating_sub(1) {
        alpha -= 0.5;
        let b =
            rand_distr::Beta::new(alpha, alpha).map_err(|x| rng_err(Dist::LkjCorrCholesky, x))?;
        for j in i + 1..k {
            let x: f64 = b.sample(&mut *rng);
            cpc[j + i * k] = 2.0 * x - 1.0;
        }
    }
    let mut rowwise = vec![];
    for i in 1..k {
        for j in 0..i {
            rowwise.push(cpc[i + j * k]);
        }
    }
    Ok(crate::transform::cpc_to_cholesky(&rowwise, k))
}
