//! The design generator: draws what a program is given but does not simulate.
//!
//! For each data variable in data-block order, by its [`Role`]:
//! - **size**: uniform on its `min..=max` range;
//! - **covariate**: shape `any` picks, per variable (per matrix column) and per draw, one of
//!   standard normal, uniform on (-2, 2), skewed (log-normal(0, 0.75) minus its median 1) and
//!   binary (Bernoulli(0.5)); `positive` is log-normal(0, 0.5), `unit`
//!   uniform on (0, 1), `count` Poisson(3); the fixed shapes are what they say;
//! - **group index** into `1..=J`: balanced (round robin, shuffled) or, with probability 1/2,
//!   unbalanced (group weights from a flat Dirichlet), every group used once when `n >= J`;
//! - **trials**: one value for all observations (probability 1/2) or one per observation,
//!   uniform on the range;
//! - **time**: `1..n` for int data, otherwise evenly spaced on (0, 10] in half the draws and
//!   sorted uniform on (0, 10) in the others;
//! - **const**: the value;
//! - **response**: a placeholder inside the declared bounds (the lower bound, else 0), replaced by
//!   the simulator.
//!
//! Sizes are evaluated from declarations (`vector[N]`, `array[N, K] int`, `matrix[N, K]`, with
//! `+ - *` of sizes and literals).

use crate::schema::{CovShape, Role, Schema};
use crate::SpfnError;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr_free::{lognormal, normal, poisson};
use refinestat_language::ast::{BaseType, BinOp, Bounds, Expr, ExprKind, Program, StmtKind};
use refinestat_language::{Data, DataValue};

/// Draw the given data (and response placeholders) of `program` under `schema`.
pub fn draw_design<R: Rng + ?Sized>(
    program: &Program,
    schema: &Schema,
    rng: &mut R,
) -> Result<Data, SpfnError> {
    let mut data = Data::default();
    for stmt in program.data.iter().flat_map(|b| &b.stmts) {
        let StmtKind::Decl { ty, name, .. } = &stmt.kind else {
            continue;
        };
        let name = name.name.as_str();
        let role = schema.role(name).ok_or_else(|| {
            SpfnError::Schema(format!("data variable `{name}` has no role in the schema"))
        })?;
        let is_int = matches!(ty.base, BaseType::Int);
        let mut dims = Vec::new();
        for e in &ty.array_dims {
            dims.push(eval_size(e, &data, name)?);
        }
        match &ty.base {
            BaseType::Int | BaseType::Real => {}
            BaseType::Vector(n) | BaseType::RowVector(n) => dims.push(eval_size(n, &data, name)?),
            BaseType::Matrix(r, c) => {
                dims.push(eval_size(r, &data, name)?);
                dims.push(eval_size(c, &data, name)?);
            }
            other => {
                return Err(SpfnError::Schema(format!(
                    "data variable `{name}`: the design generator does not draw `{}` data",
                    other.keyword()
                )))
            }
        }
        let n: usize = dims.iter().product();
        let values: Vec<f64> = match role {
            Role::Size { min, max } => {
                if !dims.is_empty() {
                    return Err(SpfnError::Schema(format!(
                        "size `{name}` must be an int scalar"
                    )));
                }
                vec![rng.random_range(*min..=*max) as f64]
            }
            Role::Const { value } => vec![*value; n],
            Role::Trials { min, max } => {
                if rng.random_bool(0.5) {
                    vec![rng.random_range(*min..=*max) as f64; n]
                } else {
                    (0..n)
                        .map(|_| rng.random_range(*min..=*max) as f64)
                        .collect()
                }
            }
            Role::Group { groups } => {
                let j = data
                    .get(groups)
                    .and_then(DataValue::as_scalar)
                    .ok_or_else(|| {
                        SpfnError::Schema(format!(
                            "group index `{name}` counts groups with `{groups}`, which is not a \
                             size declared before it"
                        ))
                    })?
                    .max(1.0) as usize;
                group_index(n, j, rng)
            }
            Role::Time => {
                if is_int {
                    let per = dims.last().copied().unwrap_or(1).max(1);
                    (0..n).map(|i| (i % per + 1) as f64).collect()
                } else if rng.random_bool(0.5) {
                    (0..n).map(|i| 10.0 * (i + 1) as f64 / n as f64).collect()
                } else {
                    let mut v: Vec<f64> = (0..n).map(|_| rng.random_range(0.0..10.0)).collect();
                    v.sort_by(f64::total_cmp);
                    v
                }
            }
            Role::Covariate { shape } => {
                let cols = match &ty.base {
                    BaseType::Matrix(..) => *dims.last().unwrap_or(&1),
                    _ => 1,
                };
                let shapes: Vec<CovShape> = (0..cols).map(|_| pick_shape(*shape, rng)).collect();
                (0..n)
                    .map(|i| {
                        let v = draw_cov(shapes[i % cols], rng);
                        if is_int {
                            v.round()
                        } else {
                            v
                        }
                    })
                    .collect()
            }
            Role::Response => {
                let (lo, hi) = match &ty.bounds {
                    Bounds::LowerUpper { lower, upper } => (
                        lower.as_ref().and_then(crate::schema::literal),
                        upper.as_ref().and_then(crate::schema::literal),
                    ),
                    _ => (None, None),
                };
                let v = lo.unwrap_or(0.0).min(hi.unwrap_or(f64::INFINITY));
                vec![v; n]
            }
        };
        let value = if dims.is_empty() {
            DataValue::scalar(values[0], is_int)
        } else {
            DataValue::array(dims, values, is_int)
        };
        data.vars.insert(name.to_string(), value);
    }
    Ok(data)
}

fn pick_shape<R: Rng + ?Sized>(shape: CovShape, rng: &mut R) -> CovShape {
    match shape {
        CovShape::Any => [
            CovShape::Normal,
            CovShape::Uniform,
            CovShape::Skewed,
            CovShape::Binary,
        ][rng.random_range(0..4)],
        s => s,
    }
}

fn draw_cov<R: Rng + ?Sized>(shape: CovShape, rng: &mut R) -> f64 {
    match shape {
        CovShape::Normal | CovShape::Any => normal(rng),
        CovShape::Uniform => rng.random_range(-2.0..2.0),
        CovShape::Skewed => lognormal(rng, 0.0, 0.75) - 1.0,
        CovShape::Binary => f64::from(u8::from(rng.random_bool(0.5))),
        CovShape::Positive => lognormal(rng, 0.0, 0.5),
        CovShape::Unit => rng.random_range(0.0..1.0),
        CovShape::Count => poisson(rng, 3.0),
    }
}

fn group_index<R: Rng + ?Sized>(n: usize, j: usize, rng: &mut R) -> Vec<f64> {
    let mut out: Vec<f64> = if rng.random_bool(0.5) {
        (0..n).map(|i| (i % j + 1) as f64).collect()
    } else {
        let w: Vec<f64> = (0..j)
            .map(|_| -rng.random_range(f64::EPSILON..1.0).ln())
            .collect();
        let total: f64 = w.iter().sum();
        (0..n)
            .map(|i| {
                if i < j {
                    return (i + 1) as f64;
                }
                let mut u = rng.random_range(0.0..total);
                for (g, wg) in w.iter().enumerate() {
                    if u < *wg {
                        return (g + 1) as f64;
                    }
                    u -= wg;
                }
                j as f64
            })
            .collect()
    };
    out.shuffle(rng);
    out
}

fn eval_size(e: &Expr, data: &Data, var: &str) -> Result<usize, SpfnError> {
    let v = eval_int(e, data).ok_or_else(|| {
        SpfnError::Schema(format!(
            "size of data variable `{var}`: cannot evaluate `{}` from the sizes before it",
            refinestat_language::print::print_expr(e)
        ))
    })?;
    usize::try_from(v)
        .map_err(|_| SpfnError::Schema(format!("size of data variable `{var}` is negative ({v})")))
}

fn eval_int(e: &Expr, data: &Data) -> Option<i64> {
    match &e.kind {
        ExprKind::IntLit(i) => Some(*i),
        ExprKind::Var(id) => data.get(&id.name)?.as_scalar().map(|x| x as i64),
        ExprKind::Paren(e) => eval_int(e, data),
        ExprKind::Binary { op, lhs, rhs } => {
            let (a, b) = (eval_int(lhs, data)?, eval_int(rhs, data)?);
            match op {
                BinOp::Add => Some(a + b),
                BinOp::Sub => Some(a - b),
                BinOp::Mul => Some(a * b),
                BinOp::IntDiv if b != 0 => Some(a / b),
                _ => None,
            }
        }
        _ => None,
    }
}

/// Small samplers from uniforms, so the crate needs no distribution library.
pub(crate) mod rand_distr_free {
    use rand::Rng;

    pub fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
        // Box-Muller.
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    pub fn lognormal<R: Rng + ?Sized>(rng: &mut R, mu: f64, sigma: f64) -> f64 {
        (mu + sigma * normal(rng)).exp()
    }

    pub fn poisson<R: Rng + ?Sized>(rng: &mut R, lambda: f64) -> f64 {
        // Knuth: fine for the small rates used here.
        let l = (-lambda).exp();
        let mut k = 0.0;
        let mut p = 1.0;
        loop {
            p *= rng.random_range(0.0..1.0);
            if p <= l {
                return k;
            }
            k += 1.0;
        }
    }
}
