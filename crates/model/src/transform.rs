//! Constraining transforms (unconstrained -> constrained, with log|J|) and their inverses,
//! following the Stan reference manual. The simplex uses the stick-breaking transform of Stan
//! up to 2.35; `cholesky_factor_corr` uses tanh-transformed canonical partial correlations;
//! `cov_matrix` uses a Cholesky factor with log-transformed diagonal.
//!
//! The forward transforms are built from the differentiable operations of [`crate::ops`], so
//! gradients flow through them (and through bounds that depend on other parameters).

use crate::math;
use crate::ops;
use crate::tape::Tape;
use crate::value::{eval_err, Res, Shape, Val};

/// The constraint of a declared parameter (bounds already evaluated).
#[derive(Debug, Clone)]
pub enum Constraint {
    None,
    Lower(Val),
    Upper(Val),
    LowerUpper(Val, Val),
    OffsetMultiplier(Val, Val),
    Simplex,
    Ordered,
    PositiveOrdered,
    CholeskyCorr,
    CovMatrix,
    /// `corr_matrix`: a Cholesky factor of a correlation matrix times its transpose.
    CorrMatrix,
    /// `cholesky_factor_cov[M, N]` with this N (M is the `k` passed along).
    CholeskyCov(usize),
}

/// Unconstrained length of one base element of size `k` (vector length or matrix side).
pub fn free_len(c: &Constraint, numel: usize, k: usize) -> usize {
    match c {
        Constraint::Simplex => k.saturating_sub(1),
        Constraint::CholeskyCorr => k * k.saturating_sub(1) / 2,
        Constraint::CovMatrix => k + k * k.saturating_sub(1) / 2,
        Constraint::CorrMatrix => k * k.saturating_sub(1) / 2,
        Constraint::CholeskyCov(n) => n * (n + 1) / 2 + k.saturating_sub(*n) * n,
        _ => numel,
    }
}

fn is_neg_inf(v: &Val, tv: &[f64]) -> bool {
    v.numel() == 1 && v.elem(0, tv).0 == f64::NEG_INFINITY
}
fn is_pos_inf(v: &Val, tv: &[f64]) -> bool {
    v.numel() == 1 && v.elem(0, tv).0 == f64::INFINITY
}

/// Apply the constraint to the unconstrained value `u` (same shape as the constrained value for
/// elementwise constraints; a vector of the free length otherwise). Adds log|J| to `lj`.
pub fn constrain(
    t: &mut Tape,
    c: &Constraint,
    u: Val,
    shape: Shape,
    k: usize,
    lj: &mut Vec<Val>,
) -> Res<Val> {
    match c {
        Constraint::None => Ok(u),
        Constraint::Lower(lb) if is_neg_inf(lb, &t.val) => Ok(u),
        Constraint::Upper(ub) if is_pos_inf(ub, &t.val) => Ok(u),
        Constraint::Lower(lb) => {
            lj.push(ops::sum(t, &u));
            let e = ops::map1(t, &u, |x| {
                let y = x.exp();
                (y, y)
            });
            ops::add(t, lb, &e)
        }
        Constraint::Upper(ub) => {
            lj.push(ops::sum(t, &u));
            let e = ops::map1(t, &u, |x| {
                let y = x.exp();
                (y, y)
            });
            ops::sub(t, ub, &e)
        }
        Constraint::LowerUpper(lb, ub) => {
            let (lo_inf, hi_inf) = (is_neg_inf(lb, &t.val), is_pos_inf(ub, &t.val));
            if lo_inf && hi_inf {
                return Ok(u);
            }
            if lo_inf {
                return constrain(t, &Constraint::Upper(ub.clone()), u, shape, k, lj);
            }
            if hi_inf {
                return constrain(t, &Constraint::Lower(lb.clone()), u, shape, k, lj);
            }
            let w = ops::sub(t, ub, lb)?;
            for i in 0..w.numel() {
                if !(w.elem(i, &t.val).0 > 0.0) {
                    return eval_err("upper bound must exceed lower bound");
                }
            }
            let p = ops::map1(t, &u, |x| {
                let y = math::inv_logit(x);
                (y, y * (1.0 - y))
            });
            // log|J| = log(ub - lb) + log_inv_logit(u) + log1m_inv_logit(u)
            let l = ops::map1(t, &u, |x| {
                let v = math::log_inv_logit(x) + math::log_inv_logit(-x);
                (v, 1.0 - 2.0 * math::inv_logit(x))
            });
            lj.push(ops::sum(t, &l));
            let lw = ops::map1(t, &w, |x| (x.ln(), 1.0 / x));
            let lws = ops::sum(t, &lw);
            let times = if w.numel() == 1 { u.numel() } else { 1 };
            lj.push(ops::elt_mul(t, &lws, &Val::real(times as f64))?);
            let scaled = ops::elt_mul(t, &w, &p)?;
            let x = ops::add(t, lb, &scaled)?;
            fit(x, shape)
        }
        Constraint::OffsetMultiplier(off, mult) => {
            for i in 0..mult.numel() {
                if !(mult.elem(i, &t.val).0 > 0.0) {
                    return eval_err("multiplier must be positive");
                }
            }
            let lm = ops::map1(t, mult, |x| (x.ln(), 1.0 / x));
            let lms = ops::sum(t, &lm);
            let times = if mult.numel() == 1 { u.numel() } else { 1 };
            lj.push(ops::elt_mul(t, &lms, &Val::real(times as f64))?);
            let scaled = ops::elt_mul(t, mult, &u)?;
            let x = ops::add(t, off, &scaled)?;
            fit(x, shape)
        }
        Constraint::Simplex => simplex(t, &u, k, lj),
        Constraint::Ordered | Constraint::PositiveOrdered => {
            let positive = matches!(c, Constraint::PositiveOrdered);
            let mut out: Vec<Val> = Vec::with_capacity(k);
            for i in 0..k {
                let (v, s) = u.elem(i, &t.val);
                let ui = Val::Real(v, s);
                if i == 0 && !positive {
                    out.push(ui);
                    continue;
                }
                lj.push(ui.clone());
                let e = ops::map1(t, &ui, |x| {
                    let y = x.exp();
                    (y, y)
                });
                if i == 0 {
                    out.push(e);
                } else {
                    let prev = out[i - 1].clone();
                    out.push(ops::add(t, &prev, &e)?);
                }
            }
            ops::stack(t, &out, shape)
        }
        Constraint::CholeskyCorr => cholesky_corr(t, &u, k, lj),
        Constraint::CovMatrix => cov_matrix(t, &u, k, lj),
        Constraint::CorrMatrix => corr_matrix(t, &u, k, lj),
        Constraint::CholeskyCov(n) => cholesky_cov(t, &u, k, *n, lj),
    }
}

/// `corr_matrix`: L L' with L from [`cholesky_corr`]; log|J| adds that of L -> L L' on
/// correlation matrices, sum over i >= 2 of (K - i) log L_ii (1-based).
fn corr_matrix(t: &mut Tape, u: &Val, k: usize, lj: &mut Vec<Val>) -> Res<Val> {
    let l = cholesky_corr(t, u, k, lj)?;
    for i in 1..k {
        let c = (k - i - 1) as f64;
        if c > 0.0 {
            let d = scalar_at(t, &l, i + i * k);
            lj.push(ops::map1(t, &d, |x| (c * x.ln(), c / x)));
        }
    }
    let lt = ops::transpose(t, &l)?;
    ops::mul(t, &l, &lt)
}

/// `cholesky_factor_cov[M, N]`: rows of the lower triangle in order, the diagonal through exp;
/// log|J| is the sum of the unconstrained diagonal values (Stan's `cholesky_factor_constrain`).
fn cholesky_cov(t: &mut Tape, u: &Val, m: usize, n: usize, lj: &mut Vec<Val>) -> Res<Val> {
    let mut x: Vec<Val> = vec![Val::real(0.0); m * n];
    let mut pos = 0;
    for r in 0..m {
        for c in 0..n.min(r + 1) {
            let v = scalar_at(t, u, pos);
            pos += 1;
            x[r + c * m] = if c == r {
                lj.push(v.clone());
                ops::map1(t, &v, |y| {
                    let e = y.exp();
                    (e, e)
                })
            } else {
                v
            };
        }
    }
    ops::stack(t, &x, Shape::matrix(m, n))
}

/// Give a constrained value the declared shape (bounds may have had a different container
/// type than the parameter).
fn fit(x: Val, shape: Shape) -> Res<Val> {
    if shape.arr.is_empty() && shape.base == crate::value::Base::Real {
        if let Val::Reals(..) = x {
            return eval_err("a scalar parameter has container-valued bounds");
        }
        return Ok(x);
    }
    ops::reshape(&x, shape)
}

fn scalar_at(t: &Tape, u: &Val, i: usize) -> Val {
    let (v, s) = u.elem(i, &t.val);
    Val::Real(v, s)
}

fn simplex(t: &mut Tape, u: &Val, k: usize, lj: &mut Vec<Val>) -> Res<Val> {
    let km1 = k - 1;
    let mut stick = Val::real(1.0);
    let mut out = Vec::with_capacity(k);
    for i in 0..km1 {
        let adj = ops::sub(t, &scalar_at(t, u, i), &Val::real(((km1 - i) as f64).ln()))?;
        let z = ops::map1(t, &adj, |x| {
            let y = math::inv_logit(x);
            (y, y * (1.0 - y))
        });
        let xi = ops::elt_mul(t, &stick, &z)?;
        lj.push(ops::map1(t, &stick, |x| (x.ln(), 1.0 / x)));
        // -log1p_exp(-a) - log1p_exp(a)
        lj.push(ops::map1(t, &adj, |a| {
            (
                -math::log1p_exp(-a) - math::log1p_exp(a),
                1.0 - 2.0 * math::inv_logit(a),
            )
        }));
        stick = ops::sub(t, &stick, &xi)?;
        out.push(xi);
    }
    out.push(stick);
    ops::stack(t, &out, Shape::vector(k))
}

/// The Cholesky factor of a correlation matrix from row-wise canonical partial correlations.
pub fn cpc_to_cholesky(z: &[f64], k: usize) -> Vec<f64> {
    let mut x = vec![0.0; k * k];
    if k == 0 {
        return x;
    }
    x[0] = 1.0;
    let mut pos = 0;
    for i in 1..k {
        let mut sum_sqs: f64 = 0.0;
        for j in 0..i {
            let v = z[pos] * (1.0 - sum_sqs).sqrt();
            pos += 1;
            x[i + j * k] = v;
            sum_sqs += v * v;
        }
        x[i + i * k] = (1.0 - sum_sqs).max(0.0).sqrt();
    }
    x
}

fn cholesky_corr(t: &mut Tape, u: &Val, k: usize, lj: &mut Vec<Val>) -> Res<Val> {
    let mut m: Vec<Val> = vec![Val::real(0.0); k * k];
    if k == 0 {
        return ops::stack(t, &m, Shape::matrix(0, 0));
    }
    m[0] = Val::real(1.0);
    let mut pos = 0;
    for i in 1..k {
        let mut sum_sqs = Val::real(0.0);
        for j in 0..i {
            let ui = scalar_at(t, u, pos);
            pos += 1;
            let z = ops::map1(t, &ui, |x| {
                let y = x.tanh();
                (y, 1.0 - y * y)
            });
            // log|J| of tanh: log1m(z^2)
            lj.push(ops::map1(t, &z, |x| {
                ((-x * x).ln_1p(), -2.0 * x / (1.0 - x * x))
            }));
            let v = if j == 0 {
                z
            } else {
                lj.push(ops::map1(t, &sum_sqs, |s| {
                    (0.5 * (-s).ln_1p(), -0.5 / (1.0 - s))
                }));
                let r = ops::map1(t, &sum_sqs, |s| {
                    let y = (1.0 - s).sqrt();
                    (y, -0.5 / y)
                });
                ops::elt_mul(t, &z, &r)?
            };
            let sq = ops::map1(t, &v, |x| (x * x, 2.0 * x));
            sum_sqs = ops::add(t, &sum_sqs, &sq)?;
            m[i + j * k] = v;
        }
        m[i + i * k] = ops::map1(t, &sum_sqs, |s| {
            let y = (1.0 - s).max(0.0).sqrt();
            (y, if y > 0.0 { -0.5 / y } else { 0.0 })
        });
    }
    ops::stack(t, &m, Shape::matrix(k, k))
}

fn cov_matrix(t: &mut Tape, u: &Val, k: usize, lj: &mut Vec<Val>) -> Res<Val> {
    let mut l: Vec<Val> = vec![Val::real(0.0); k * k];
    let mut pos = 0;
    for m in 0..k {
        for j in 0..m {
            l[m + j * k] = scalar_at(t, u, pos);
            pos += 1;
        }
        let d = scalar_at(t, u, pos);
        pos += 1;
        lj.push(ops::elt_mul(t, &d, &Val::real((k - m + 1) as f64))?);
        l[m + m * k] = ops::map1(t, &d, |x| {
            let y = x.exp();
            (y, y)
        });
    }
    lj.push(Val::real(k as f64 * math::LN2));
    let lm = ops::stack(t, &l, Shape::matrix(k, k))?;
    let lt = ops::transpose(t, &lm)?;
    ops::mul(t, &lm, &lt)
}

// ---------------------------------------------------------------------------------------------
// Inverse transforms on plain values (for `unconstrain`).

fn bound_at(b: &Val, i: usize) -> f64 {
    let n = b.numel();
    b.elem(if n == 1 { 0 } else { i }, &[]).0
}

/// Map constrained values (storage order) to unconstrained values.
pub fn free(c: &Constraint, x: &[f64], k: usize) -> Result<Vec<f64>, String> {
    let check = |ok: bool, i: usize, v: f64, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("element {} = {v} violates {what}", i + 1))
        }
    };
    match c {
        Constraint::None => Ok(x.to_vec()),
        Constraint::Lower(lb) => x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let l = bound_at(lb, i);
                if l == f64::NEG_INFINITY {
                    return Ok(v);
                }
                check(v > l, i, v, &format!("lower bound {l}"))?;
                Ok((v - l).ln())
            })
            .collect(),
        Constraint::Upper(ub) => x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let u = bound_at(ub, i);
                if u == f64::INFINITY {
                    return Ok(v);
                }
                check(v < u, i, v, &format!("upper bound {u}"))?;
                Ok((u - v).ln())
            })
            .collect(),
        Constraint::LowerUpper(lb, ub) => x
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (l, u) = (bound_at(lb, i), bound_at(ub, i));
                match (l == f64::NEG_INFINITY, u == f64::INFINITY) {
                    (true, true) => Ok(v),
                    (true, false) => {
                        check(v < u, i, v, &format!("upper bound {u}"))?;
                        Ok((u - v).ln())
                    }
                    (false, true) => {
                        check(v > l, i, v, &format!("lower bound {l}"))?;
                        Ok((v - l).ln())
                    }
                    (false, false) => {
                        check(v > l && v < u, i, v, &format!("bounds ({l}, {u})"))?;
                        let p = (v - l) / (u - l);
                        Ok((p / (1.0 - p)).ln())
                    }
                }
            })
            .collect(),
        Constraint::OffsetMultiplier(off, mult) => Ok(x
            .iter()
            .enumerate()
            .map(|(i, &v)| (v - bound_at(off, i)) / bound_at(mult, i))
            .collect()),
        Constraint::Simplex => {
            let s: f64 = x.iter().sum();
            if x.iter().any(|&v| v < 0.0) || (s - 1.0).abs() > 1e-8 {
                return Err(format!("is not a simplex (sum {s})"));
            }
            let km1 = k - 1;
            let mut y = vec![0.0; km1];
            let mut stick = x[km1];
            for i in (0..km1).rev() {
                stick += x[i];
                let z = x[i] / stick;
                y[i] = (z / (1.0 - z)).ln() + ((km1 - i) as f64).ln();
            }
            Ok(y)
        }
        Constraint::Ordered | Constraint::PositiveOrdered => {
            let mut y = Vec::with_capacity(k);
            for i in 0..k {
                if i == 0 {
                    if matches!(c, Constraint::PositiveOrdered) {
                        check(x[0] > 0.0, 0, x[0], "positivity")?;
                        y.push(x[0].ln());
                    } else {
                        y.push(x[0]);
                    }
                } else {
                    check(x[i] > x[i - 1], i, x[i], "ordering")?;
                    y.push((x[i] - x[i - 1]).ln());
                }
            }
            Ok(y)
        }
        Constraint::CholeskyCorr => {
            let mut y = vec![];
            for i in 0..k {
                if (x[i + i * k]) <= 0.0 {
                    return Err("is not a Cholesky factor of a correlation matrix".into());
                }
                let row: f64 = (0..=i).map(|j| x[i + j * k] * x[i + j * k]).sum();
                if (row - 1.0).abs() > 1e-8 {
                    return Err("is not a Cholesky factor of a correlation matrix".into());
                }
            }
            for i in 1..k {
                let mut sum_sqs: f64 = 0.0;
                for j in 0..i {
                    let v = x[i + j * k];
                    let z = v / (1.0 - sum_sqs).sqrt();
                    y.push(z.atanh());
                    sum_sqs += v * v;
                }
            }
            Ok(y)
        }
        Constraint::CorrMatrix => {
            for i in 0..k {
                if (x[i + i * k] - 1.0).abs() > 1e-8 {
                    return Err("is not a correlation matrix (unit diagonal)".into());
                }
            }
            let l = crate::dist::cholesky(x, k)
                .ok_or_else(|| "is not a symmetric positive-definite matrix".to_string())?;
            free(&Constraint::CholeskyCorr, &l, k)
        }
        Constraint::CholeskyCov(n) => {
            let n = *n;
            let mut y = vec![];
            for r in 0..k {
                for c in 0..n {
                    let v = x[r + c * k];
                    if c > r {
                        check(v == 0.0, r + c * k, v, "lower triangularity")?;
                    } else if c == r {
                        check(v > 0.0, r + c * k, v, "a positive diagonal")?;
                        y.push(v.ln());
                    } else {
                        y.push(v);
                    }
                }
            }
            Ok(y)
        }
        Constraint::CovMatrix => {
            for i in 0..k {
                for j in 0..i {
                    let (a, b) = (x[i + j * k], x[j + i * k]);
                    if (a - b).abs() > 1e-8 * (1.0 + a.abs().max(b.abs())) {
                        return Err("is not symmetric".into());
                    }
                }
            }
            let l = crate::dist::cholesky(x, k)
                .ok_or_else(|| "is not a symmetric positive-definite matrix".to_string())?;
            let mut y = vec![];
            for m in 0..k {
                for j in 0..m {
                    y.push(l[m + j * k]);
                }
                y.push(l[m + m * k].ln());
            }
            Ok(y)
        }
    }
}
