//! Structural revisions of a fitted program when its checks ask for them, and the
//! `generated quantities` that make a program run as is in CmdStan.
//!
//! - [`heavier_likelihood`]: high Pareto k (or a failing fit check of the likelihood) -> a
//!   heavier-tailed or overdispersed likelihood: `normal` -> `student_t`, `poisson(_log)` ->
//!   `neg_binomial_2(_log)`, `binomial_logit` -> an observation-level effect on the logit.
//! - [`other_parameterization`]: divergences in a hierarchical model -> the other
//!   parameterization of its varying effects (centred <-> non-centred).
//! - [`with_generated_quantities`]: `y_rep` and `log_lik` for every vectorised likelihood
//!   statement `y ~ dist(...)` on a data variable.
//!
//! Revisions work on programs as the family grammar writes them (one statement per line, the
//! data block first); they return `None` when the program has no such structure to change.

use refinestat_language::analysis::observed_statements;
use refinestat_language::ast::{BaseType, Expr, ExprKind, Index, Program, StmtKind};
use refinestat_language::parse;
use std::collections::{BTreeMap, BTreeSet};

fn lines_of(program: &str) -> Vec<String> {
    program.lines().map(str::to_string).collect()
}

fn join(lines: &[String]) -> String {
    let mut out = lines.join("\n");
    out.push('\n');
    out
}

/// A name not used anywhere in `program`.
fn fresh(program: &str, base: &str) -> String {
    let taken = |n: &str| {
        program
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .any(|w| w == n)
    };
    if !taken(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}_{i}"))
        .find(|n| !taken(n))
        .expect("a free name")
}

/// Insert `line` as the last line of block `block` (`parameters`, `model`, ...), creating the
/// block before `before` when missing.
fn push_into_block(lines: &mut Vec<String>, block: &str, line: &str, before: &str) -> bool {
    if let Some(open) = lines
        .iter()
        .position(|l| l.trim_end() == format!("{block} {{"))
    {
        let close = (open + 1..lines.len()).find(|&i| lines[i] == "}");
        if let Some(close) = close {
            lines.insert(close, format!("  {line}"));
            return true;
        }
        return false;
    }
    match lines
        .iter()
        .position(|l| l.trim_end() == format!("{before} {{"))
    {
        Some(at) => {
            lines.splice(
                at..at,
                [format!("{block} {{"), format!("  {line}"), "}".to_string()],
            );
            true
        }
        None => false,
    }
}

/// The model-block line (index) holding `text`.
fn find_line(lines: &[String], text: &str) -> Option<usize> {
    lines.iter().position(|l| l.trim() == text.trim())
}

/// The source text of an expression.
fn src<'a>(program: &'a str, e: &Expr) -> &'a str {
    &program[e.span.range()]
}

/// The declared length of data variable `name` (`N` in `array[N] int y` / `vector[N] y`).
fn data_length(program: &str, parsed: &Program, name: &str) -> Option<String> {
    parsed
        .data
        .as_ref()?
        .stmts
        .iter()
        .find_map(|s| match &s.kind {
            StmtKind::Decl { ty, name: n, .. } if n.name == name => ty
                .array_dims
                .first()
                .map(|e| src(program, e).to_string())
                .or(match &ty.base {
                    BaseType::Vector(n) | BaseType::RowVector(n) => {
                        Some(src(program, n).to_string())
                    }
                    _ => None,
                }),
            _ => None,
        })
}

/// A heavier-tailed or overdispersed likelihood for the first likelihood statement that has one;
/// returns the program and what changed.
pub fn heavier_likelihood(program: &str) -> Option<(String, String)> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        return None;
    }
    let mut lines = lines_of(program);
    for o in observed_statements(&parsed.program) {
        let StmtKind::Tilde {
            lhs, dist, args, ..
        } = &o.stmt.kind
        else {
            continue;
        };
        let stmt_text = &program[o.stmt.span.range()];
        if stmt_text.contains('\n') {
            continue;
        }
        let Some(at) = find_line(&lines, stmt_text) else {
            continue;
        };
        let y = src(program, lhs);
        let arg = |i: usize| src(program, &args[i]);
        let (new_stmt, params, priors, what) = match (dist.name.as_str(), args.len()) {
            ("normal", 2) => {
                let nu = fresh(program, "nu");
                (
                    format!("{y} ~ student_t({nu}, {}, {});", arg(0), arg(1)),
                    vec![format!("real<lower=1> {nu};")],
                    vec![format!("{nu} ~ gamma(2, 0.1);")],
                    "normal -> student_t (heavier tails)",
                )
            }
            ("poisson_log" | "poisson", 1) => {
                let phi = fresh(program, "phi");
                let nb = if dist.name == "poisson" {
                    "neg_binomial_2"
                } else {
                    "neg_binomial_2_log"
                };
                (
                    format!("{y} ~ {nb}({}, {phi});", arg(0)),
                    vec![format!("real<lower=0> {phi};")],
                    vec![format!("{phi} ~ exponential(0.1);")],
                    "poisson -> negative binomial (overdispersion)",
                )
            }
            ("binomial_logit", 2) => {
                let size = o
                    .variable
                    .as_deref()
                    .and_then(|v| data_length(program, &parsed.program, v))?;
                let (eps, sigma) = (fresh(program, "eps"), fresh(program, "sigma_eps"));
                (
                    format!("{y} ~ binomial_logit({}, {} + {eps});", arg(0), arg(1)),
                    vec![
                        format!("vector[{size}] {eps};"),
                        format!("real<lower=0> {sigma};"),
                    ],
                    vec![
                        format!("{sigma} ~ normal(0, 1);"),
                        format!("{eps} ~ normal(0, {sigma});"),
                    ],
                    "binomial -> binomial with an observation-level effect (overdispersion)",
                )
            }
            _ => continue,
        };
        let indent: String = lines[at].chars().take_while(|c| *c == ' ').collect();
        lines[at] = format!("{indent}{new_stmt}");
        for (k, p) in priors.iter().enumerate() {
            lines.insert(at + k, format!("{indent}{p}"));
        }
        for p in &params {
            if !push_into_block(&mut lines, "parameters", p, "model") {
                return None;
            }
        }
        return Some((join(&lines), what.to_string()));
    }
    None
}

/// The varying effects of a hierarchical program in the other parameterization: a centred
/// `theta ~ normal(mu, tau)` on a vector parameter becomes `theta = mu + tau * theta_raw` with
/// `theta_raw ~ std_normal()`, and a non-centred `theta = mu + tau * z` (or `tau * z`) with
/// `z ~ std_normal()` becomes centred. Returns the program and what changed.
pub fn other_parameterization(program: &str) -> Option<(String, String)> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        return None;
    }
    let p = &parsed.program;
    let vector_params: BTreeMap<String, String> = p
        .parameters
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { ty, name, .. } if ty.array_dims.is_empty() => match &ty.base {
                BaseType::Vector(n)
                    if matches!(ty.bounds, refinestat_language::ast::Bounds::None) =>
                {
                    Some((name.name.clone(), src(program, n).to_string()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect();
    let mut lines = lines_of(program);
    let model = p.model.as_ref()?;
    // Non-centred -> centred: `vector[L] a = m + s * z;` with `z ~ std_normal()`.
    for s in p.transformed_parameters.iter().flat_map(|b| &b.stmts) {
        let StmtKind::Decl {
            ty,
            name,
            init: Some(init),
        } = &s.kind
        else {
            continue;
        };
        let BaseType::Vector(len) = &ty.base else {
            continue;
        };
        let (loc, scale, z) = match &init.kind {
            ExprKind::Binary { op, lhs, rhs } if op.as_str() == "+" => match &rhs.kind {
                ExprKind::Binary { op, lhs: s, rhs: z } if op.as_str() == "*" => {
                    (Some(src(program, lhs)), src(program, s), z)
                }
                _ => continue,
            },
            ExprKind::Binary { op, lhs: s, rhs: z } if op.as_str() == "*" => {
                (None, src(program, s), z)
            }
            _ => continue,
        };
        let ExprKind::Var(z) = &z.kind else { continue };
        if !vector_params.contains_key(&z.name) {
            continue;
        }
        let prior = model.stmts.iter().find(|st| match &st.kind {
            StmtKind::Tilde {
                lhs, dist, args, ..
            } => {
                matches!(&lhs.kind, ExprKind::Var(v) if v.name == z.name)
                    && (dist.name == "std_normal"
                        || (dist.name == "normal"
                            && args.len() == 2
                            && src(program, &args[0]) == "0"
                            && src(program, &args[1]) == "1"))
            }
            _ => false,
        })?;
        let len = src(program, len);
        let (decl_text, prior_text) = (&program[s.span.range()], &program[prior.span.range()]);
        let z_decl = format!("vector[{}] {};", vector_params[&z.name], z.name);
        let (Some(tp_at), Some(prior_at), Some(z_at)) = (
            find_line(&lines, decl_text),
            find_line(&lines, prior_text),
            find_line(&lines, &z_decl),
        ) else {
            continue;
        };
        let a = &name.name;
        let indent: String = lines[prior_at].chars().take_while(|c| *c == ' ').collect();
        lines[prior_at] = format!("{indent}{a} ~ normal({}, {scale});", loc.unwrap_or("0"));
        lines[z_at] = format!("  vector[{len}] {a};");
        lines.remove(tp_at);
        // Drop a transformed parameters block left empty.
        if let Some(open) = lines.iter().position(|l| l == "transformed parameters {") {
            if lines.get(open + 1).is_some_and(|l| l == "}") {
                lines.drain(open..open + 2);
            }
        }
        return Some((join(&lines), format!("non-centred {a} -> centred")));
    }
    // Centred -> non-centred: `theta ~ normal(m, s);` on a vector parameter.
    for st in &model.stmts {
        let StmtKind::Tilde {
            lhs, dist, args, ..
        } = &st.kind
        else {
            continue;
        };
        let ExprKind::Var(theta) = &lhs.kind else {
            continue;
        };
        let Some(len) = vector_params.get(&theta.name) else {
            continue;
        };
        if dist.name != "normal" || args.len() != 2 {
            continue;
        }
        let (m, s) = (src(program, &args[0]), src(program, &args[1]));
        // Only when the scale is a parameter (a hierarchy), not a fixed prior.
        let is_param = |e: &Expr| match &e.kind {
            ExprKind::Var(v) => p
                .parameters
                .iter()
                .flat_map(|b| &b.stmts)
                .any(|d| matches!(&d.kind, StmtKind::Decl { name, .. } if name.name == v.name)),
            _ => false,
        };
        if !is_param(&args[1]) {
            continue;
        }
        let raw = fresh(program, &format!("{}_raw", theta.name));
        let decl = format!("vector[{len}] {};", theta.name);
        let prior_text = &program[st.span.range()];
        let (Some(decl_at), Some(prior_at)) =
            (find_line(&lines, &decl), find_line(&lines, prior_text))
        else {
            continue;
        };
        let indent: String = lines[prior_at].chars().take_while(|c| *c == ' ').collect();
        lines[prior_at] = format!("{indent}{raw} ~ std_normal();");
        lines[decl_at] = format!("  vector[{len}] {raw};");
        let mean = if m == "0" {
            format!("{s} * {raw}")
        } else {
            format!("{m} + {s} * {raw}")
        };
        let tp = format!("vector[{len}] {} = {mean};", theta.name);
        if !push_into_block(&mut lines, "transformed parameters", &tp, "model") {
            return None;
        }
        return Some((
            join(&lines),
            format!("centred {} -> non-centred", theta.name),
        ));
    }
    None
}

/// Replace every whole use of a vector-valued name in `e` by its element `[n]`, so a vectorised
/// expression becomes the expression of observation `n`; `None` where that is not possible.
fn element(program: &str, e: &Expr, vectors: &BTreeSet<String>, n: &str) -> Option<String> {
    Some(match &e.kind {
        ExprKind::IntLit(_) | ExprKind::RealLit { .. } => src(program, e).to_string(),
        ExprKind::Var(v) if vectors.contains(&v.name) => format!("{}[{n}]", v.name),
        ExprKind::Var(v) => v.name.clone(),
        ExprKind::Paren(inner) => format!("({})", element(program, inner, vectors, n)?),
        ExprKind::Unary { .. } => {
            let inner = e.children()[0];
            let op = &src(program, e)[..(inner.span.start - e.span.start) as usize];
            format!("{op}{}", element(program, inner, vectors, n)?)
        }
        ExprKind::Binary { op, lhs, rhs } => {
            let sym = match op.as_str() {
                ".*" => "*",
                "./" => "/",
                s => s,
            };
            // A matrix times a coefficient vector: row n times the vector.
            if sym == "*" {
                if let (ExprKind::Var(m), ExprKind::Var(_)) = (&lhs.kind, &rhs.kind) {
                    if vectors.contains(&format!("{}#matrix", m.name)) {
                        return Some(format!("{}[{n}] * {}", m.name, src(program, rhs)));
                    }
                }
            }
            format!(
                "{} {sym} {}",
                element(program, lhs, vectors, n)?,
                element(program, rhs, vectors, n)?
            )
        }
        ExprKind::Call { name, args } => {
            if name.name == "to_vector" && args.len() == 1 {
                return element(program, &args[0], vectors, n);
            }
            let args: Option<Vec<String>> = args
                .iter()
                .map(|a| element(program, a, vectors, n))
                .collect();
            format!("{}({})", name.name, args?.join(", "))
        }
        // `a[g]` with `g` an index array: `a[g[n]]`; a single index keeps its meaning.
        ExprKind::Index { expr, indices } if indices.len() == 1 => {
            let Index::Single(i) = &indices[0] else {
                return None;
            };
            match &i.kind {
                ExprKind::Var(g) if vectors.contains(&g.name) => {
                    format!("{}[{}[{n}]]", src(program, expr), g.name)
                }
                _ => return None,
            }
        }
        _ => return None,
    })
}

/// `program` with a `generated quantities` block holding `y_rep` (draws from the likelihood)
/// and `log_lik` (pointwise log-likelihood) for its vectorised likelihood statements
/// `y ~ dist(args)` on data variables, so that it runs as is in CmdStan and `loo` reads it.
/// `None` when the program already has the block, or a likelihood statement is not of that form
/// (loops, multivariate likelihoods, model-block locals).
pub fn with_generated_quantities(program: &str) -> Option<String> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() || parsed.program.generated_quantities.is_some() {
        return None;
    }
    let p = &parsed.program;
    // Names whose value is one entry per observation: vectors and 1-D arrays of data,
    // parameters and transformed parameters; matrices are marked for `X[n] * beta`.
    let mut vectors = BTreeSet::new();
    for block in [&p.data, &p.parameters, &p.transformed_parameters]
        .into_iter()
        .flatten()
    {
        for s in &block.stmts {
            if let StmtKind::Decl { ty, name, .. } = &s.kind {
                match (&ty.base, ty.array_dims.len()) {
                    (BaseType::Vector(_) | BaseType::RowVector(_), 0) => {
                        vectors.insert(name.name.clone());
                    }
                    (BaseType::Int | BaseType::Real, 1) => {
                        vectors.insert(name.name.clone());
                    }
                    (BaseType::Matrix(..), 0) => {
                        vectors.insert(format!("{}#matrix", name.name));
                    }
                    _ => {}
                }
            }
        }
    }
    let observed = observed_statements(p);
    if observed.is_empty() {
        return None;
    }
    let mut body = Vec::new();
    let mut declared = Vec::new();
    for (k, o) in observed.iter().enumerate() {
        let StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation: None,
        } = &o.stmt.kind
        else {
            return None;
        };
        let ExprKind::Var(y) = &lhs.kind else {
            return None;
        };
        if o.top >= p.model.as_ref()?.stmts.len()
            || !matches!(p.model.as_ref()?.stmts[o.top].kind, StmtKind::Tilde { .. })
        {
            return None;
        }
        let len = data_length(program, p, &y.name)?;
        let n = fresh(program, "i");
        let n = n.as_str();
        let args: Option<Vec<String>> = args
            .iter()
            .map(|a| element(program, a, &vectors, n))
            .collect();
        let args = args?.join(", ");
        let (rng, int_valued) = match dist.name.as_str() {
            "normal" | "student_t" | "lognormal" | "gamma" | "cauchy" => {
                (format!("{}_rng", dist.name), false)
            }
            "poisson" | "poisson_log" | "neg_binomial_2" | "neg_binomial_2_log" | "bernoulli"
            | "bernoulli_logit" | "binomial" => (format!("{}_rng", dist.name), true),
            "binomial_logit" => ("binomial_logit".to_string(), true),
            _ => return None,
        };
        let suffix = if observed.len() > 1 {
            format!("_{}", y.name)
        } else {
            String::new()
        };
        let (y_rep, log_lik) = (format!("y_rep{suffix}"), format!("log_lik{suffix}"));
        let _ = k;
        let elem_type = if int_valued { "int" } else { "real" };
        declared.push(format!("  array[{len}] {elem_type} {y_rep};"));
        declared.push(format!("  vector[{len}] {log_lik};"));
        let density = if int_valued { "lpmf" } else { "lpdf" };
        let draw = if rng == "binomial_logit" {
            // binomial_logit_rng is recent in Stan; the inverse logit works everywhere.
            let (trials, eta) = args.split_once(", ")?;
            format!("binomial_rng({trials}, inv_logit({eta}))")
        } else {
            format!("{rng}({args})")
        };
        body.push(format!("  for ({n} in 1:{len}) {{"));
        body.push(format!(
            "    {log_lik}[{n}] = {}_{density}({}[{n}] | {args});",
            dist.name, y.name
        ));
        body.push(format!("    {y_rep}[{n}] = {draw};"));
        body.push("  }".to_string());
    }
    let mut out = program.trim_end().to_string();
    out.push_str("\ngenerated quantities {\n");
    for line in declared.iter().chain(&body) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("}\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinestat_language::{check, Data};

    const DATA: &str = r#"{"N": 4, "J": 2, "g": [1, 1, 2, 2], "x": [0.1, 0.5, -0.3, 1.2], "y": [1, 3, 0, 7], "n": [5, 5, 5, 9]}"#;
    const HEAD: &str = "data {\n  int<lower=0> J;\n  int<lower=0> N;\n  array[N] int<lower=0> g;\n  array[N] int<lower=0> n;\n  vector[N] x;\n  array[N] int<lower=0> y;\n}\n";

    fn checks(program: &str) {
        let data = Data::from_json_str(DATA).unwrap();
        let v = check(program, Some(&data));
        assert!(v.is_empty(), "{program}\n{v:?}");
    }

    #[test]
    fn poisson_becomes_negative_binomial() {
        let p = format!("{HEAD}parameters {{\n  real alpha;\n}}\nmodel {{\n  alpha ~ normal(0, 1);\n  y ~ poisson_log(alpha + x);\n}}\n");
        checks(&p);
        let (q, what) = heavier_likelihood(&p).unwrap();
        checks(&q);
        assert!(q.contains("y ~ neg_binomial_2_log(alpha + x, phi);"), "{q}");
        assert!(q.contains("real<lower=0> phi;"));
        assert!(what.contains("negative binomial"));
    }

    #[test]
    fn binomial_gets_an_observation_effect_and_normal_student_t() {
        let p = format!("{HEAD}parameters {{\n  real alpha;\n}}\nmodel {{\n  y ~ binomial_logit(n, alpha + x);\n}}\n");
        let (q, _) = heavier_likelihood(&p).unwrap();
        checks(&q);
        assert!(q.contains("y ~ binomial_logit(n, alpha + x + eps);"), "{q}");
        let p = format!("{HEAD}parameters {{\n  real alpha;\n  real<lower=0> sigma;\n}}\nmodel {{\n  x ~ normal(alpha, sigma);\n}}\n");
        let (q, _) = heavier_likelihood(&p).unwrap();
        checks(&q);
        assert!(q.contains("x ~ student_t(nu, alpha, sigma);"), "{q}");
    }

    #[test]
    fn parameterizations_swap_both_ways() {
        let centred = format!("{HEAD}parameters {{\n  real mu;\n  real<lower=0> tau;\n  vector[J] a;\n}}\nmodel {{\n  tau ~ normal(0, 1);\n  a ~ normal(mu, tau);\n  y ~ poisson_log(a[g]);\n}}\n");
        checks(&centred);
        let (nc, what) = other_parameterization(&centred).unwrap();
        checks(&nc);
        assert!(nc.contains("vector[J] a = mu + tau * a_raw;"), "{nc}");
        assert!(nc.contains("a_raw ~ std_normal();"));
        assert_eq!(what, "centred a -> non-centred");
        let (back, what) = other_parameterization(&nc).unwrap();
        checks(&back);
        assert!(back.contains("a ~ normal(mu, tau);"), "{back}");
        assert!(!back.contains("transformed parameters"), "{back}");
        assert_eq!(what, "non-centred a -> centred");
    }

    #[test]
    fn generated_quantities_for_vectorised_likelihoods() {
        let p = format!("{HEAD}parameters {{\n  real alpha;\n  real beta;\n  vector[J] z;\n  real<lower=0> s;\n}}\ntransformed parameters {{\n  vector[J] a = s * z;\n}}\nmodel {{\n  z ~ std_normal();\n  y ~ poisson_log(alpha + beta * x + a[g]);\n}}\n");
        let q = with_generated_quantities(&p).unwrap();
        checks(&q);
        assert!(
            q.contains("log_lik[i] = poisson_log_lpmf(y[i] | alpha + beta * x[i] + a[g[i]]);"),
            "{q}"
        );
        assert!(
            q.contains("y_rep[i] = poisson_log_rng(alpha + beta * x[i] + a[g[i]]);"),
            "{q}"
        );
        let p = format!("{HEAD}parameters {{\n  real alpha;\n}}\nmodel {{\n  y ~ binomial_logit(n, alpha + x);\n}}\n");
        let q = with_generated_quantities(&p).unwrap();
        checks(&q);
        assert!(
            q.contains("y_rep[i] = binomial_rng(n[i], inv_logit(alpha + x[i]));"),
            "{q}"
        );
    }
}
