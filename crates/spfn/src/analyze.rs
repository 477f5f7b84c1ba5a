//! Reading structure off a program: structural labels, the token sequence, and the prior-narrowing
//! rule used for programs whose prior-predictive draws are mostly degenerate.

use crate::schema::{base_var, literal, response_names, visit_stmts};
use refinestat_language::ast::{Expr, ExprKind, Program, StmtKind};
use std::collections::{BTreeMap, BTreeSet};

/// Names declared in the parameters block.
pub fn parameter_names(program: &Program) -> BTreeSet<String> {
    program
        .parameters
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { name, .. } => Some(name.name.clone()),
            _ => None,
        })
        .collect()
}

fn vars_in(e: &Expr, out: &mut BTreeSet<String>) {
    match &e.kind {
        ExprKind::Var(id) => {
            out.insert(id.name.clone());
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            vars_in(lhs, out);
            vars_in(rhs, out);
        }
        ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) | ExprKind::Transpose(expr) => {
            vars_in(expr, out)
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            vars_in(cond, out);
            vars_in(then, out);
            vars_in(otherwise, out);
        }
        ExprKind::Call { args, .. }
        | ExprKind::CondCall { args, .. }
        | ExprKind::ArrayLit(args)
        | ExprKind::RowVectorLit(args) => args.iter().for_each(|a| vars_in(a, out)),
        ExprKind::Index { expr, indices } => {
            vars_in(expr, out);
            for i in indices {
                match i {
                    refinestat_language::ast::Index::Single(e) => vars_in(e, out),
                    refinestat_language::ast::Index::Range { lower, upper } => lower
                        .iter()
                        .chain(upper.iter())
                        .for_each(|e| vars_in(e, out)),
                    refinestat_language::ast::Index::All => {}
                }
            }
        }
        _ => {}
    }
}

/// Variables an expression mentions.
pub fn expr_vars(e: &Expr) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    vars_in(e, &mut out);
    out
}

/// The likelihood of the first response: `(distribution, arguments)`.
pub fn response_statement(program: &Program) -> Option<(String, Vec<Expr>)> {
    let responses = response_names(program);
    let mut found = None;
    if let Some(m) = &program.model {
        visit_stmts(&m.stmts, &mut |s| {
            if found.is_some() {
                return;
            }
            match &s.kind {
                StmtKind::Tilde {
                    lhs, dist, args, ..
                } if base_var(lhs).is_some_and(|n| responses.iter().any(|r| r == n)) => {
                    found = Some((dist.name.clone(), args.clone()));
                }
                StmtKind::TargetPlus(e) => {
                    let mut stack = vec![e];
                    while let Some(e) = stack.pop() {
                        match &e.kind {
                            ExprKind::CondCall { name, args }
                                if args
                                    .first()
                                    .and_then(base_var)
                                    .is_some_and(|n| responses.iter().any(|r| r == n)) =>
                            {
                                let d = name
                                    .name
                                    .trim_end_matches("_lpdf")
                                    .trim_end_matches("_lpmf")
                                    .trim_end_matches("_lupdf")
                                    .trim_end_matches("_lupmf");
                                found = Some((d.to_string(), args[1..].to_vec()));
                                return;
                            }
                            ExprKind::Call { args, .. } => stack.extend(args.iter()),
                            ExprKind::Binary { lhs, rhs, .. } => {
                                stack.push(lhs);
                                stack.push(rhs);
                            }
                            ExprKind::Paren(x) | ExprKind::Unary { expr: x, .. } => stack.push(x),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        });
    }
    found
}

fn top_call(e: &Expr) -> Option<&str> {
    match &e.kind {
        ExprKind::Call { name, .. } => Some(&name.name),
        ExprKind::Paren(x) => top_call(x),
        _ => None,
    }
}

/// Structural labels read off the program: `likelihood`, `link`, `pooling` (partial when some
/// prior's arguments mention a parameter), `truncated`, `noise` (the response's scale parameter,
/// when it is a plain parameter), `n_params` (declared parameter names).
pub fn structural_labels(program: &Program) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let params = parameter_names(program);
    if let Some((dist, args)) = response_statement(program) {
        let link = match dist.as_str() {
            "poisson_log" | "neg_binomial_2_log" => "log",
            "bernoulli_logit" | "binomial_logit" => "logit",
            _ => {
                let mean_arg = match dist.as_str() {
                    "binomial" | "student_t" => args.get(1),
                    _ => args.first(),
                };
                match mean_arg.and_then(top_call) {
                    Some("inv_logit") => "logit",
                    Some("Phi") => "probit",
                    Some("exp") => "log",
                    _ => "identity",
                }
            }
        };
        let family = dist
            .trim_end_matches("_log")
            .trim_end_matches("_logit")
            .to_string();
        labels.insert("likelihood".into(), family);
        labels.insert("link".into(), link.into());
        let scale = match dist.as_str() {
            "normal" | "student_t" | "lognormal" | "cauchy" | "double_exponential" | "logistic" => {
                args.last()
            }
            _ => None,
        };
        if let Some(ExprKind::Var(id)) = scale.map(|e| &e.kind) {
            if params.contains(&id.name) {
                labels.insert("noise".into(), id.name.clone());
            }
        }
    }
    let mut pooling = "none";
    let mut truncated = false;
    if let Some(m) = &program.model {
        visit_stmts(&m.stmts, &mut |s| {
            if let StmtKind::Tilde {
                lhs,
                args,
                truncation,
                ..
            } = &s.kind
            {
                let lhs_param = base_var(lhs).is_some_and(|n| params.contains(n));
                if lhs_param && args.iter().any(|a| !expr_vars(a).is_disjoint(&params)) {
                    pooling = "partial";
                }
                if !lhs_param && truncation.is_some() {
                    truncated = true;
                }
            }
        });
    }
    labels.insert("pooling".into(), pooling.into());
    labels.insert("truncated".into(), truncated.to_string());
    labels.insert("n_params".into(), params.len().to_string());
    labels
}

/// The program's lexemes without whitespace: names, numbers, operators and punctuation, as the
/// SPFN decoder's vocabulary sees them.
pub fn tokens(text: &str) -> Vec<String> {
    const OPS: &[&str] = &[
        "+=", "-=", "*=", "/=", "<=", ">=", "==", "!=", ".*", "./", "&&", "||",
    ];
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
            continue;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                let mut j = i + 1;
                if j < b.len() && (b[j] == b'-' || b[j] == b'+') {
                    j += 1;
                }
                if j < b.len() && b[j].is_ascii_digit() {
                    i = j;
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
        } else if OPS.iter().any(|op| text[i..].starts_with(op)) {
            i += 2;
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(text[start..i].to_string());
    }
    out
}

/// Distributions whose last argument is a scale.
const SCALE_LAST: &[&str] = &[
    "normal",
    "student_t",
    "cauchy",
    "double_exponential",
    "logistic",
    "lognormal",
];

/// The narrowing rule: every prior (a `~` on a parameter) whose scale is a positive literal gets
/// half that scale (`normal`, `student_t`, `cauchy`, `double_exponential`, `logistic`,
/// `lognormal`: last argument), and every `exponential` prior with a literal rate twice the rate.
/// Returns how many priors changed.
pub fn narrow_priors(program: &mut Program) -> usize {
    let params = parameter_names(program);
    let mut changed = 0;
    if let Some(m) = &mut program.model {
        crate::augment::visit_stmts_mut(&mut m.stmts, &mut |s| {
            if let StmtKind::Tilde {
                lhs, dist, args, ..
            } = &mut s.kind
            {
                if !base_var(lhs).is_some_and(|n| params.contains(n)) {
                    return;
                }
                let (pos, factor) = if SCALE_LAST.contains(&dist.name.as_str()) {
                    (args.len().wrapping_sub(1), 0.5)
                } else if dist.name == "exponential" {
                    (0, 2.0)
                } else {
                    return;
                };
                if let Some(a) = args.get_mut(pos) {
                    if let Some(v) = literal(a).filter(|v| *v > 0.0) {
                        *a = crate::augment::real_lit(v * factor);
                        changed += 1;
                    }
                }
            }
        });
    }
    changed
}
