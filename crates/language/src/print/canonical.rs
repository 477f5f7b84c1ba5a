//! The canonical printer: one text for programs that differ only in names of non-data variables,
//! formatting, comments, redundant parentheses, or the order of independent declarations.

use super::print_program;
use crate::ast::*;

/// Canonical text: equal for programs that differ only in names of locals/parameters, formatting,
/// comments, or the order of independent declarations.
pub fn canonical(program: &Program) -> String {
    let mut p = program.clone();
    strip_parens_program(&mut p);
    print_program(&p)
}

fn strip_parens_program(p: &mut Program) {
    for kind in BlockKind::ALL {
        if let Some(b) = p.block_mut(kind) {
            for s in &mut b.stmts {
                walk_stmt_exprs(s, &mut strip_parens);
            }
        }
    }
}

/// Remove every explicit parenthesis in `e` (the printer re-adds the needed ones).
fn strip_parens(e: &mut Expr) {
    while let ExprKind::Paren(inner) = &mut e.kind {
        let inner = std::mem::replace(&mut **inner, Expr::new(ExprKind::Error, Span::default()));
        *e = inner;
    }
    walk_expr_children(e, &mut strip_parens);
}

/// Apply `f` to each direct sub-expression of `e`.
pub(crate) fn walk_expr_children(e: &mut Expr, f: &mut dyn FnMut(&mut Expr)) {
    match &mut e.kind {
        ExprKind::IntLit(_)
        | ExprKind::RealLit { .. }
        | ExprKind::StrLit(_)
        | ExprKind::Var(_)
        | ExprKind::Error => {}
        ExprKind::Binary { lhs, rhs, .. } => {
            f(lhs);
            f(rhs);
        }
        ExprKind::Unary { expr, .. } | ExprKind::Transpose(expr) | ExprKind::Paren(expr) => f(expr),
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            f(cond);
            f(then);
            f(otherwise);
        }
        ExprKind::Call { args, .. } | ExprKind::CondCall { args, .. } => {
            args.iter_mut().for_each(f)
        }
        ExprKind::Index { expr, indices } => {
            f(expr);
            indices.iter_mut().for_each(|i| walk_index(i, f));
        }
        ExprKind::ArrayLit(items) | ExprKind::RowVectorLit(items) => items.iter_mut().for_each(f),
    }
}

fn walk_index(i: &mut Index, f: &mut dyn FnMut(&mut Expr)) {
    match i {
        Index::Single(e) => f(e),
        Index::All => {}
        Index::Range { lower, upper } => {
            if let Some(e) = lower {
                f(e);
            }
            if let Some(e) = upper {
                f(e);
            }
        }
    }
}

fn walk_type(ty: &mut TypeDecl, f: &mut dyn FnMut(&mut Expr)) {
    ty.array_dims.iter_mut().for_each(&mut *f);
    match &mut ty.base {
        BaseType::Int | BaseType::Real => {}
        BaseType::Matrix(r, c) => {
            f(r);
            f(c);
        }
        BaseType::Vector(n)
        | BaseType::RowVector(n)
        | BaseType::CholeskyFactorCorr(n)
        | BaseType::CovMatrix(n)
        | BaseType::Simplex(n)
        | BaseType::Ordered(n)
        | BaseType::PositiveOrdered(n) => f(n),
    }
    match &mut ty.bounds {
        Bounds::None => {}
        Bounds::LowerUpper { lower: a, upper: b }
        | Bounds::OffsetMultiplier {
            offset: a,
            multiplier: b,
        } => {
            if let Some(e) = a {
                f(e);
            }
            if let Some(e) = b {
                f(e);
            }
        }
    }
}

/// Apply `f` to every top-level expression of `s` and its nested statements (not recursing into
/// expressions: `f` does that itself when it needs to).
fn walk_stmt_exprs(s: &mut Stmt, f: &mut dyn FnMut(&mut Expr)) {
    match &mut s.kind {
        StmtKind::Decl { ty, init, .. } => {
            walk_type(ty, f);
            if let Some(e) = init {
                f(e);
            }
        }
        StmtKind::Assign { lhs, rhs, .. } => {
            for idx in &mut lhs.indices {
                idx.iter_mut().for_each(|i| walk_index(i, f));
            }
            f(rhs);
        }
        StmtKind::Tilde {
            lhs,
            args,
            truncation,
            ..
        } => {
            f(lhs);
            args.iter_mut().for_each(&mut *f);
            if let Some(t) = truncation {
                if let Some(e) = &mut t.lower {
                    f(e);
                }
                if let Some(e) = &mut t.upper {
                    f(e);
                }
            }
        }
        StmtKind::TargetPlus(e) => f(e),
        StmtKind::For {
            lower, upper, body, ..
        } => {
            f(lower);
            f(upper);
            walk_stmt_exprs(body, f);
        }
        StmtKind::ForEach {
            container, body, ..
        } => {
            f(container);
            walk_stmt_exprs(body, f);
        }
        StmtKind::While { cond, body } => {
            f(cond);
            walk_stmt_exprs(body, f);
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            f(cond);
            walk_stmt_exprs(then, f);
            if let Some(o) = otherwise {
                walk_stmt_exprs(o, f);
            }
        }
        StmtKind::Block(stmts) => stmts.iter_mut().for_each(|s| walk_stmt_exprs(s, f)),
        StmtKind::Print(items) | StmtKind::Reject(items) => {
            for p in items {
                if let Printable::Expr(e) = p {
                    f(e);
                }
            }
        }
        StmtKind::Break | StmtKind::Continue | StmtKind::Empty | StmtKind::Error => {}
    }
}
