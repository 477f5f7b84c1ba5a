//! Analyses of a parsed program that several stages need to agree on: an AST walker
//! ([`Stmt::children`], [`Stmt::descendants`], [`Expr::children`], [`Expr::descendants`]) and the
//! one answer to "which statements are on observed data" ([`observed_statements`]).
//!
//! A statement is *on observed data* (a likelihood statement) when it is a `~` whose left side
//! mentions a data variable outside index brackets, or a `target +=` whose expression contains an
//! `_lpdf`/`_lpmf`/`_lupdf`/`_lupmf` call whose first argument does. Model lowering uses it for
//! the pointwise log-likelihood (where the left side *is* a data variable, possibly indexed:
//! [`Observed::variable`]); synthesis uses it for what a likelihood resample regenerates and for
//! "every candidate models the response".
//!
//! ```
//! use refinestat_language::{analysis::observed_statements, parse};
//! let src = "data { int N; vector[N] x; vector[N] y; } parameters { real mu; } \
//!            model { mu ~ normal(0, 1); x ~ normal(0, 1); for (n in 1:N) y[n] ~ normal(mu, 1); }";
//! let parsed = parse(src);
//! let observed = observed_statements(&parsed.program);
//! let names: Vec<_> = observed.iter().map(|o| o.variable.as_deref().unwrap()).collect();
//! assert_eq!(names, ["x", "y"]);
//! assert_eq!(observed[1].top, 2); // the `for` loop is the model block's third statement
//! ```

use crate::ast::{Expr, ExprKind, Index, Printable, Program, Stmt, StmtKind};
use std::collections::BTreeSet;

impl Stmt {
    /// The statements directly inside this one (loop and `if` bodies, block members).
    pub fn children(&self) -> Vec<&Stmt> {
        match &self.kind {
            StmtKind::For { body, .. }
            | StmtKind::ForEach { body, .. }
            | StmtKind::While { body, .. } => vec![body],
            StmtKind::If {
                then, otherwise, ..
            } => std::iter::once(then.as_ref())
                .chain(otherwise.as_deref())
                .collect(),
            StmtKind::Block(stmts) => stmts.iter().collect(),
            _ => Vec::new(),
        }
    }

    /// This statement and every statement nested in it, in source order.
    pub fn descendants(&self) -> Vec<&Stmt> {
        let mut out = vec![self];
        for child in self.children() {
            out.extend(child.descendants());
        }
        out
    }

    /// The expressions written directly in this statement (not in nested statements), including
    /// the sizes and bounds of a declared type.
    pub fn exprs(&self) -> Vec<&Expr> {
        match &self.kind {
            StmtKind::Decl { ty, init, .. } => {
                let mut out: Vec<&Expr> = ty.array_dims.iter().collect();
                use crate::ast::{BaseType as B, Bounds};
                match &ty.base {
                    B::Int | B::Real => {}
                    B::Vector(n)
                    | B::RowVector(n)
                    | B::CholeskyFactorCorr(n)
                    | B::CorrMatrix(n)
                    | B::CovMatrix(n)
                    | B::Simplex(n)
                    | B::Ordered(n)
                    | B::PositiveOrdered(n) => out.push(n),
                    B::Matrix(r, c) => out.extend([r.as_ref(), c.as_ref()]),
                    B::CholeskyFactorCov(r, c) => {
                        out.push(r);
                        out.extend(c.as_deref());
                    }
                }
                match &ty.bounds {
                    Bounds::None => {}
                    Bounds::LowerUpper { lower, upper } => {
                        out.extend(lower.iter().chain(upper.iter()))
                    }
                    Bounds::OffsetMultiplier { offset, multiplier } => {
                        out.extend(offset.iter().chain(multiplier.iter()))
                    }
                }
                out.extend(init.iter());
                out
            }
            StmtKind::Assign { lhs, rhs, .. } => {
                let mut out: Vec<&Expr> =
                    lhs.indices.iter().flatten().flat_map(index_exprs).collect();
                out.push(rhs);
                out
            }
            StmtKind::Tilde {
                lhs,
                args,
                truncation,
                ..
            } => {
                let mut out = vec![lhs];
                out.extend(args.iter());
                if let Some(t) = truncation {
                    out.extend(t.lower.iter().chain(t.upper.iter()));
                }
                out
            }
            StmtKind::TargetPlus(e) | StmtKind::Call(e) => vec![e],
            StmtKind::Return(e) => e.iter().collect(),
            StmtKind::For { lower, upper, .. } => vec![lower, upper],
            StmtKind::ForEach { container, .. } => vec![container],
            StmtKind::While { cond, .. } | StmtKind::If { cond, .. } => vec![cond],
            StmtKind::Print(items) | StmtKind::Reject(items) => items
                .iter()
                .filter_map(|p| match p {
                    Printable::Expr(e) => Some(e),
                    Printable::Str(_) => None,
                })
                .collect(),
            StmtKind::Block(_)
            | StmtKind::Break
            | StmtKind::Continue
            | StmtKind::Empty
            | StmtKind::Error => Vec::new(),
        }
    }
}

fn index_exprs(index: &Index) -> Vec<&Expr> {
    match index {
        Index::Single(e) => vec![e],
        Index::All => Vec::new(),
        Index::Range { lower, upper } => lower.iter().chain(upper.iter()).collect(),
    }
}

impl Expr {
    /// The sub-expressions directly inside this one, index expressions included.
    pub fn children(&self) -> Vec<&Expr> {
        match &self.kind {
            ExprKind::Binary { lhs, rhs, .. } => vec![lhs, rhs],
            ExprKind::Unary { expr, .. } | ExprKind::Transpose(expr) | ExprKind::Paren(expr) => {
                vec![expr]
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => vec![cond, then, otherwise],
            ExprKind::Call { args, .. }
            | ExprKind::CondCall { args, .. }
            | ExprKind::ArrayLit(args)
            | ExprKind::RowVectorLit(args) => args.iter().collect(),
            ExprKind::Index { expr, indices } => std::iter::once(expr.as_ref())
                .chain(indices.iter().flat_map(index_exprs))
                .collect(),
            ExprKind::IntLit(_)
            | ExprKind::RealLit { .. }
            | ExprKind::StrLit(_)
            | ExprKind::Var(_)
            | ExprKind::Error => Vec::new(),
        }
    }

    /// This expression and every sub-expression, in source order.
    pub fn descendants(&self) -> Vec<&Expr> {
        let mut out = vec![self];
        for child in self.children() {
            out.extend(child.descendants());
        }
        out
    }

    /// The variables this expression reads outside index brackets: `y[i]` reads `y` (and `i`
    /// only as an index), a multi-index `theta[group]` is about `theta`.
    pub fn roots(&self) -> Vec<&str> {
        match &self.kind {
            ExprKind::Var(id) => vec![id.name.as_str()],
            ExprKind::Index { expr, .. } => expr.roots(),
            _ => self.children().into_iter().flat_map(Expr::roots).collect(),
        }
    }

    /// The variable this expression is, possibly indexed (`y`, `y[n]`, `y[n][k]`).
    pub fn indexed_variable(&self) -> Option<&str> {
        match &self.kind {
            ExprKind::Var(id) => Some(&id.name),
            ExprKind::Index { expr, .. } => expr.indexed_variable(),
            _ => None,
        }
    }
}

/// Suffixes of density functions whose first argument is the variate.
pub const DENSITY_SUFFIXES: [&str; 4] = ["_lpdf", "_lpmf", "_lupdf", "_lupmf"];

/// Whether `name` is a density function (`normal_lpdf`, `poisson_lupmf`, ...).
pub fn is_density_call(name: &str) -> bool {
    DENSITY_SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// One statement on observed data, found by [`observed_statements`].
#[derive(Debug, Clone, PartialEq)]
pub struct Observed<'a> {
    /// The `~` or `target +=` statement itself.
    pub stmt: &'a Stmt,
    /// Index among the model block's statements of the top-level statement containing it (a loop,
    /// `if` or block containing a likelihood statement counts as a whole).
    pub top: usize,
    /// Every data variable the variate mentions outside index brackets.
    pub mentions: Vec<String>,
    /// The data variable the variate is, possibly indexed (`y`, `y[n]`); `None` when the variate
    /// is a transformation of data (`log(y)`), or for a `target +=` that is not one density call.
    /// Pointwise log-likelihoods exist only for these.
    pub variable: Option<String>,
}

/// The names declared in the `data` block, in order.
pub fn data_names(program: &Program) -> Vec<String> {
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

fn strip_parens(e: &Expr) -> &Expr {
    match &e.kind {
        ExprKind::Paren(inner) => strip_parens(inner),
        _ => e,
    }
}

/// The variates of the density calls in a `target +=` expression.
fn density_variates(e: &Expr) -> Vec<&Expr> {
    e.descendants()
        .into_iter()
        .filter_map(|d| match &d.kind {
            ExprKind::Call { name, args } | ExprKind::CondCall { name, args }
                if is_density_call(&name.name) =>
            {
                args.first()
            }
            _ => None,
        })
        .collect()
}

/// The model block's statements on observed data (see the module doc), in source order, with
/// the data block's declarations as the observed names.
pub fn observed_statements(program: &Program) -> Vec<Observed<'_>> {
    let data: BTreeSet<String> = data_names(program).into_iter().collect();
    observed_statements_with(program, &data)
}

/// [`observed_statements`] with the observed names given (e.g. for a program without its data
/// block).
pub fn observed_statements_with<'a>(
    program: &'a Program,
    data: &BTreeSet<String>,
) -> Vec<Observed<'a>> {
    let Some(model) = &program.model else {
        return Vec::new();
    };
    let on_data = |e: &Expr| -> Vec<String> {
        let mut names: Vec<String> = e
            .roots()
            .into_iter()
            .filter(|r| data.contains(*r))
            .map(str::to_string)
            .collect();
        names.dedup();
        names
    };
    let mut out = Vec::new();
    for (top, stmt) in model.stmts.iter().enumerate() {
        for s in stmt.descendants() {
            let (mentions, variable) = match &s.kind {
                StmtKind::Tilde { lhs, .. } => (
                    on_data(lhs),
                    lhs.indexed_variable()
                        .filter(|v| data.contains(*v))
                        .map(str::to_string),
                ),
                StmtKind::TargetPlus(e) => {
                    let variates = density_variates(e);
                    let mentions: Vec<String> = variates.iter().flat_map(|v| on_data(v)).collect();
                    let single = match &strip_parens(e).kind {
                        ExprKind::Call { name, args } | ExprKind::CondCall { name, args }
                            if is_density_call(&name.name) =>
                        {
                            args.first()
                                .and_then(Expr::indexed_variable)
                                .filter(|v| data.contains(*v))
                                .map(str::to_string)
                        }
                        _ => None,
                    };
                    (mentions, single)
                }
                _ => continue,
            };
            if !mentions.is_empty() {
                out.push(Observed {
                    stmt: s,
                    top,
                    mentions,
                    variable,
                });
            }
        }
    }
    out
}

/// The data variables some likelihood statement of `program` models (mentions in its variate).
pub fn modelled_variables(program: &Program) -> BTreeSet<String> {
    observed_statements(program)
        .into_iter()
        .flat_map(|o| o.mentions)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn observed(src: &str) -> Vec<(usize, Vec<String>, Option<String>)> {
        let parsed = parse(src);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        observed_statements(&parsed.program)
            .into_iter()
            .map(|o| (o.top, o.mentions, o.variable))
            .collect()
    }

    const DATA: &str = "data { int N; array[N] int g; vector[N] y; vector[N] x; }\n\
                        parameters { real mu; vector[3] a; }\n";

    #[test]
    fn tilde_on_data_indexed_or_not() {
        let src = format!(
            "{DATA}model {{ mu ~ normal(0, 1); a ~ normal(0, 1); y ~ normal(a[g], 1); \
             for (n in 1:N) x[n] ~ normal(mu, 1); }}"
        );
        assert_eq!(
            observed(&src),
            vec![
                (2, vec!["y".into()], Some("y".into())),
                (3, vec!["x".into()], Some("x".into())),
            ]
        );
    }

    #[test]
    fn an_index_is_not_a_mention() {
        // `a[g]` on the left reads the parameter `a`; `g` is only an index.
        let src = format!("{DATA}model {{ a[g] ~ normal(0, 1); }}");
        assert!(observed(&src).is_empty());
    }

    #[test]
    fn transformed_variates_and_target() {
        let src = format!(
            "{DATA}model {{ log(y) ~ normal(mu, 1); target += normal_lpdf(x | mu, 1); \
             target += normal_lupdf(y | mu, 1) + normal_lpdf(mu | 0, 1); target += -mu; \
             if (N > 1) {{ target += poisson_lpmf(g | 3); }} }}"
        );
        assert_eq!(
            observed(&src),
            vec![
                (0, vec!["y".into()], None),
                (1, vec!["x".into()], Some("x".into())),
                (2, vec!["y".into()], None),
                (4, vec!["g".into()], Some("g".into())),
            ]
        );
    }

    #[test]
    fn walker_visits_every_node() {
        let parsed = parse(&format!(
            "{DATA}model {{ for (n in 1:N) {{ if (n > 1) y[n] ~ normal(a[g[n]], 1); }} }}"
        ));
        let model = parsed.program.model.as_ref().unwrap();
        let stmts = model.stmts[0].descendants();
        assert_eq!(stmts.len(), 4); // for, block, if, tilde
        let vars: Vec<&str> = stmts
            .iter()
            .flat_map(|s| s.exprs())
            .flat_map(|e| e.descendants())
            .filter_map(|e| match &e.kind {
                ExprKind::Var(id) => Some(id.name.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(vars, ["N", "n", "y", "n", "a", "g", "n"]);
    }
}
