//! Data schemas: which data variables a program is given (sizes, covariates, group indexes,
//! trials, times, constants) and which it simulates (responses).
//!
//! A schema is inferred from the program's data block and model block, then corrected by the
//! explicit `// given:` line of a corpus file. Inference rules (each overridable):
//! - a data variable on the left of `~` (or the first argument of `target += d_lpdf(y | ...)`)
//!   is a **response**;
//! - an `int` scalar is a **size**, its range by the first letter of its name: `N` 20..200,
//!   `T` 20..120, `K` 1..4, `J`/`G`/`L` 2..12, otherwise 2..8;
//! - an int array whose upper bound is a data variable `J` is a **group index** into 1..J;
//! - an int array used as the first argument of `binomial`/`binomial_logit` is **trials** (1..30);
//! - another int array is a **count covariate**; a real variable a **covariate** whose shape the
//!   design generator chooses (bounded `<lower=0, upper=1>`: unit; `<lower=0>`: positive).

use crate::SpfnError;
use refinestat_language::ast::{BaseType, Bounds, Expr, ExprKind, Program, Stmt, StmtKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The shape of a covariate's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CovShape {
    /// The design generator picks one of normal, uniform, skewed, binary per draw.
    Any,
    /// Standard normal.
    Normal,
    /// Uniform on (-2, 2).
    Uniform,
    /// Right-skewed: log-normal(0, 0.75) minus its median 1.
    Skewed,
    /// 0 or 1, each with probability 1/2.
    Binary,
    /// Positive reals (log-normal(0, 0.5)).
    Positive,
    /// Reals in (0, 1).
    Unit,
    /// Small non-negative counts (Poisson(3)).
    Count,
}

impl CovShape {
    fn parse(s: &str) -> Option<CovShape> {
        Some(match s {
            "any" => CovShape::Any,
            "normal" => CovShape::Normal,
            "uniform" => CovShape::Uniform,
            "skewed" => CovShape::Skewed,
            "binary" => CovShape::Binary,
            "positive" => CovShape::Positive,
            "unit" => CovShape::Unit,
            "count" => CovShape::Count,
            _ => return None,
        })
    }
}

/// What one data variable is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum Role {
    /// An `int` size drawn uniformly from `min..=max`.
    Size {
        /// Smallest size drawn.
        min: i64,
        /// Largest size drawn (inclusive).
        max: i64,
    },
    /// A given covariate, drawn by the design generator.
    Covariate {
        /// The distribution of its values.
        shape: CovShape,
    },
    /// Group indexes into `1..=J`, `J` the named size.
    Group {
        /// Name of the size variable `J` that counts the groups (declared before the index).
        groups: String,
    },
    /// Binomial trials, uniform on `min..=max`.
    Trials {
        /// Fewest trials drawn.
        min: i64,
        /// Most trials drawn (inclusive).
        max: i64,
    },
    /// Observation times: `1..n` for int data, sorted uniform on (0, 10) for real data.
    Time,
    /// A fixed value (every element).
    Const {
        /// The value every element takes.
        value: f64,
    },
    /// Simulated from the program.
    Response,
}

/// One data variable of a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaVar {
    /// The variable's name in the data block.
    pub name: String,
    /// What the variable is (serialised inline, tagged `role`).
    #[serde(flatten)]
    pub role: Role,
}

/// Roles of every data variable, in data-block order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schema {
    /// The data variables with their roles.
    pub vars: Vec<SchemaVar>,
}

impl Schema {
    /// The role of the data variable `name` (`None` when the schema has no such variable).
    pub fn role(&self, name: &str) -> Option<&Role> {
        self.vars.iter().find(|v| v.name == name).map(|v| &v.role)
    }

    /// The role of the data variable `name`, to change it (`None` when there is none).
    pub fn role_mut(&mut self, name: &str) -> Option<&mut Role> {
        self.vars
            .iter_mut()
            .find(|v| v.name == name)
            .map(|v| &mut v.role)
    }

    /// Names of the simulated variables.
    pub fn responses(&self) -> Vec<&str> {
        self.vars
            .iter()
            .filter(|v| v.role == Role::Response)
            .map(|v| v.name.as_str())
            .collect()
    }

    /// Infer the schema of `program` (rules in the module doc), then apply `overrides`
    /// (`name=role(args)` items separated by whitespace, as on a corpus file's `// given:` line).
    pub fn infer(program: &Program, overrides: &str) -> Result<Schema, SpfnError> {
        let responses = response_names(program);
        let trials = trials_names(program);
        let mut vars = Vec::new();
        for stmt in program.data.iter().flat_map(|b| &b.stmts) {
            let StmtKind::Decl { ty, name, .. } = &stmt.kind else {
                continue;
            };
            let name = name.name.clone();
            let is_int = matches!(ty.base, BaseType::Int);
            let role = if responses.contains(&name) {
                Role::Response
            } else if is_int && ty.array_dims.is_empty() {
                default_size(&name)
            } else if is_int {
                match &ty.bounds {
                    Bounds::LowerUpper {
                        upper:
                            Some(Expr {
                                kind: ExprKind::Var(j),
                                ..
                            }),
                        ..
                    } => Role::Group {
                        groups: j.name.clone(),
                    },
                    _ if trials.contains(&name) => Role::Trials { min: 1, max: 30 },
                    _ => Role::Covariate {
                        shape: CovShape::Count,
                    },
                }
            } else {
                let (lo, hi) = literal_bounds(&ty.bounds);
                let shape = match (lo, hi) {
                    (Some(l), Some(h)) if l >= 0.0 && h <= 1.0 => CovShape::Unit,
                    (Some(l), _) if l >= 0.0 => CovShape::Positive,
                    _ => CovShape::Any,
                };
                Role::Covariate { shape }
            };
            vars.push(SchemaVar { name, role });
        }
        let mut schema = Schema { vars };
        for item in overrides.split_whitespace() {
            let (name, role) = parse_override(item)?;
            match schema.role_mut(&name) {
                Some(r) => *r = role,
                None => {
                    return Err(SpfnError::Schema(format!(
                        "`given: {item}` names `{name}`, which is not a data variable"
                    )))
                }
            }
        }
        if schema.responses().is_empty() {
            return Err(SpfnError::Schema(
                "no data variable is simulated (none appears on the left of `~`)".into(),
            ));
        }
        Ok(schema)
    }
}

fn default_size(name: &str) -> Role {
    let (min, max) = match name.chars().next() {
        Some('N') => (20, 200),
        Some('T') => (20, 120),
        Some('K') => (1, 4),
        Some('J' | 'G' | 'L') => (2, 12),
        _ => (2, 8),
    };
    Role::Size { min, max }
}

fn literal_bounds(b: &Bounds) -> (Option<f64>, Option<f64>) {
    let lit = |e: &Option<Expr>| e.as_ref().and_then(literal);
    match b {
        Bounds::LowerUpper { lower, upper } => (lit(lower), lit(upper)),
        _ => (None, None),
    }
}

/// The value of a numeric literal (with an optional minus sign).
pub fn literal(e: &Expr) -> Option<f64> {
    match &e.kind {
        ExprKind::IntLit(i) => Some(*i as f64),
        ExprKind::RealLit { value, .. } => Some(*value),
        ExprKind::Unary {
            op: refinestat_language::ast::UnOp::Neg,
            expr,
        } => literal(expr).map(|v| -v),
        ExprKind::Paren(e) => literal(e),
        _ => None,
    }
}

fn parse_override(item: &str) -> Result<(String, Role), SpfnError> {
    let bad = |why: &str| SpfnError::Schema(format!("`given: {item}`: {why}"));
    let (name, spec) = item
        .split_once('=')
        .ok_or_else(|| bad("expected name=role"))?;
    let (head, args) = match spec.split_once('(') {
        Some((h, rest)) => (
            h,
            rest.strip_suffix(')')
                .ok_or_else(|| bad("missing `)`"))?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>(),
        ),
        None => (spec, vec![]),
    };
    let int = |s: &str| s.parse::<i64>().map_err(|_| bad("expected an integer"));
    let two = |args: &[&str]| -> Result<(i64, i64), SpfnError> {
        match args {
            [a, b] => {
                let (a, b) = (int(a)?, int(b)?);
                if a > b {
                    return Err(bad("range is empty"));
                }
                Ok((a, b))
            }
            _ => Err(bad("expected (min,max)")),
        }
    };
    let role = match head {
        "size" => {
            let (min, max) = two(&args)?;
            Role::Size { min, max }
        }
        "trials" => {
            let (min, max) = two(&args)?;
            Role::Trials { min, max }
        }
        "covariate" => Role::Covariate {
            shape: match args.as_slice() {
                [] => CovShape::Any,
                [s] => CovShape::parse(s).ok_or_else(|| bad("unknown covariate shape"))?,
                _ => return Err(bad("expected one shape")),
            },
        },
        "group" => match args.as_slice() {
            [g] => Role::Group {
                groups: g.to_string(),
            },
            _ => return Err(bad("expected group(J)")),
        },
        "time" => Role::Time,
        "response" => Role::Response,
        "const" => match args.as_slice() {
            [v] => Role::Const {
                value: v.parse().map_err(|_| bad("expected a number"))?,
            },
            _ => return Err(bad("expected const(value)")),
        },
        _ => return Err(bad("unknown role")),
    };
    Ok((name.to_string(), role))
}

/// The base variable name of an expression (`y`, `y[i]`, `y[2:3]`).
pub fn base_var(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Var(id) => Some(&id.name),
        ExprKind::Index { expr, .. } => base_var(expr),
        ExprKind::Paren(e) => base_var(e),
        _ => None,
    }
}

/// Visit every statement (recursively) of the model block.
pub fn visit_stmts<'a>(stmts: &'a [Stmt], f: &mut dyn FnMut(&'a Stmt)) {
    for s in stmts {
        f(s);
        match &s.kind {
            StmtKind::For { body, .. }
            | StmtKind::ForEach { body, .. }
            | StmtKind::While { body, .. } => visit_stmts(std::slice::from_ref(&**body), f),
            StmtKind::If {
                then, otherwise, ..
            } => {
                visit_stmts(std::slice::from_ref(&**then), f);
                if let Some(o) = otherwise {
                    visit_stmts(std::slice::from_ref(&**o), f);
                }
            }
            StmtKind::Block(b) => visit_stmts(b, f),
            _ => {}
        }
    }
}

fn data_names(program: &Program) -> BTreeSet<String> {
    program
        .data
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { name, .. } => Some(name.name.clone()),
            _ => None,
        })
        .collect()
}

/// Visit every `_lpdf(y | ...)` conditional call inside an expression.
fn cond_calls<'a>(e: &'a Expr, f: &mut dyn FnMut(&'a str, &'a [Expr])) {
    match &e.kind {
        ExprKind::CondCall { name, args } => {
            f(&name.name, args);
            args.iter().for_each(|a| cond_calls(a, f));
        }
        ExprKind::Call { args, .. } | ExprKind::ArrayLit(args) | ExprKind::RowVectorLit(args) => {
            args.iter().for_each(|a| cond_calls(a, f))
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            cond_calls(lhs, f);
            cond_calls(rhs, f);
        }
        ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) | ExprKind::Transpose(expr) => {
            cond_calls(expr, f)
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            cond_calls(cond, f);
            cond_calls(then, f);
            cond_calls(otherwise, f);
        }
        _ => {}
    }
}

/// Data variables the model block draws (left of `~`, or first argument of a `target +=`
/// density), in first-appearance order.
pub fn response_names(program: &Program) -> Vec<String> {
    let data = data_names(program);
    let mut out: Vec<String> = Vec::new();
    let mut push = |n: &str| {
        if data.contains(n) && !out.iter().any(|o| o == n) {
            out.push(n.to_string());
        }
    };
    if let Some(m) = &program.model {
        visit_stmts(&m.stmts, &mut |s| match &s.kind {
            StmtKind::Tilde { lhs, .. } => {
                if let Some(n) = base_var(lhs) {
                    push(n);
                }
            }
            StmtKind::TargetPlus(e) => cond_calls(e, &mut |_, args| {
                if let Some(n) = args.first().and_then(base_var) {
                    push(n);
                }
            }),
            _ => {}
        });
    }
    out
}

fn trials_names(program: &Program) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(m) = &program.model {
        visit_stmts(&m.stmts, &mut |s| {
            if let StmtKind::Tilde { dist, args, .. } = &s.kind {
                if matches!(dist.name.as_str(), "binomial" | "binomial_logit") {
                    if let Some(n) = args.first().and_then(base_var) {
                        out.insert(n.to_string());
                    }
                }
            }
        });
    }
    out
}
