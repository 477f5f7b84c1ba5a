//! Augmentations: named program transformations that widen the meta-prior over programs.
//!
//! Each takes a [`Candidate`] (program + schema + labels) and returns a new one, or `None` when it
//! does not apply (no suitable statement) or its result fails `check`. Every result is re-checked
//! with the language crate's six predicates before it is returned. The list, [`AUGMENTATIONS`]:
//!
//! | name | what it does |
//! |---|---|
//! | `scale_constant` | multiplies one positive literal of a prior (not `uniform`) by 0.1, 0.5, 2 or 10 |
//! | `add_hyper_layer` | a prior's literal scale `c` becomes a parameter `s ~ normal(0, c)`, `s > 0` |
//! | `swap_distribution` | response: normal <-> student_t(4, ..), poisson <-> neg_binomial_2 (new dispersion parameter), gamma <-> lognormal (moment-matched mean), logit <-> probit link (`Phi`) |
//! | `add_unrelated_covariate` | a new data vector of the response's size that the model ignores |
//! | `drop_observations` | halves the range of the response's size (the program is unchanged) |
//! | `vary_sizes` | every size range scaled by 1/2 or 2 (doubling stops at 200) |
//! | `observation_noise` | rounding (a real response declared int: the simulator rounds) or truncation at 0 (`T[0, ]`) |
//! | `nest_hierarchical` | a scalar location parameter of the likelihood becomes group effects `a[g] ~ normal(mu, tau)` over a new grouping |
//!
//! One augmentation takes two programs, so it is not in the list: [`mix_two`] combines two
//! programs with the same observed variable as a two-component mixture (per observation,
//! `log_mix(theta_mix, ...)`); the `mixture` source ([`crate::source::Mixtures`]) applies it.

use crate::analyze::{parameter_names, response_statement, structural_labels};
use crate::schema::{base_var, literal, response_names, CovShape, Role, Schema, SchemaVar};
use rand::Rng;
use refinestat_language::ast::{
    BaseType, Bounds, Expr, ExprKind, Ident, Index, Program, Span, Stmt, StmtKind,
};
use refinestat_language::{check, parse, print_program};
use std::collections::BTreeMap;

/// A program with what the corpus needs to simulate it.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The program's syntax tree (every source and augmentation yields one that passes `check`).
    pub program: Program,
    /// Roles of its data variables: what the design generator draws and what is simulated.
    pub schema: Schema,
    /// Labels stored with every pair: the source's own (`family`, `source`, a corpus file's
    /// `labels:`), the augmentations' (`augmentations`, ...) and the structural ones read off
    /// the program ([`crate::analyze::structural_labels`]).
    pub labels: BTreeMap<String, String>,
}

/// One augmentation.
pub type Augmentation = fn(&Candidate, &mut dyn rand::RngCore) -> Option<Candidate>;

/// Every augmentation by name.
pub const AUGMENTATIONS: &[(&str, Augmentation)] = &[
    ("scale_constant", scale_constant),
    ("add_hyper_layer", add_hyper_layer),
    ("swap_distribution", swap_distribution),
    ("add_unrelated_covariate", add_unrelated_covariate),
    ("drop_observations", drop_observations),
    ("vary_sizes", vary_sizes),
    ("observation_noise", observation_noise),
    ("nest_hierarchical", nest_hierarchical),
];

/// Apply the augmentation `name`; the result's `augmentations` label lists every augmentation
/// applied so far.
pub fn apply(name: &str, c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let f = AUGMENTATIONS.iter().find(|(n, _)| *n == name)?.1;
    let mut out = f(c, rng)?;
    let text = print_program(&out.program);
    if !check(&text, None).is_empty() {
        return None;
    }
    // Re-read the printed program so spans are consistent with the text.
    out.program = parse(&text).program;
    // The augmentation's own labels, then what the new program's structure says.
    let mut labels = out.labels.clone();
    labels.remove("noise");
    labels.extend(structural_labels(&out.program));
    let prev = labels.get("augmentations").cloned().unwrap_or_default();
    labels.insert(
        "augmentations".into(),
        if prev.is_empty() {
            name.to_string()
        } else {
            format!("{prev}+{name}")
        },
    );
    out.labels = labels;
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Building blocks.

/// A real literal (printed with enough digits to round-trip, always with a decimal point).
pub fn real_lit(v: f64) -> Expr {
    let mut text = format!("{v}");
    if !text.contains(['.', 'e', 'E', 'i', 'N']) {
        text.push_str(".0");
    }
    Expr {
        kind: ExprKind::RealLit { value: v, text },
        span: Span::default(),
    }
}

fn var(name: &str) -> Expr {
    Expr {
        kind: ExprKind::Var(Ident {
            name: name.into(),
            span: Span::default(),
        }),
        span: Span::default(),
    }
}

/// Parse one expression from text (through a throwaway statement).
fn expr(text: &str) -> Option<Expr> {
    let p = parse(&format!("model {{ target += {text}; }}"));
    if !p.errors.is_empty() {
        return None;
    }
    match &p.program.model.as_ref()?.stmts.first()?.kind {
        StmtKind::TargetPlus(e) => Some(e.clone()),
        _ => None,
    }
}

/// Parse statements of one block kind from text.
fn stmts(block: &str, text: &str) -> Option<Vec<Stmt>> {
    let p = parse(&format!("{block} {{ {text} }}"));
    if !p.errors.is_empty() {
        return None;
    }
    let b = match block {
        "data" => p.program.data,
        "parameters" => p.program.parameters,
        _ => p.program.model,
    }?;
    Some(b.stmts)
}

/// Visit every statement mutably (recursively).
pub fn visit_stmts_mut(stmts: &mut [Stmt], f: &mut dyn FnMut(&mut Stmt)) {
    for s in stmts {
        f(s);
        match &mut s.kind {
            StmtKind::For { body, .. }
            | StmtKind::ForEach { body, .. }
            | StmtKind::While { body, .. } => visit_stmts_mut(std::slice::from_mut(&mut **body), f),
            StmtKind::If {
                then, otherwise, ..
            } => {
                visit_stmts_mut(std::slice::from_mut(&mut **then), f);
                if let Some(o) = otherwise {
                    visit_stmts_mut(std::slice::from_mut(&mut **o), f);
                }
            }
            StmtKind::Block(b) => visit_stmts_mut(b, f),
            _ => {}
        }
    }
}

/// A name not used anywhere in the program text.
fn fresh(program: &Program, stem: &str) -> String {
    let text = print_program(program);
    (1..)
        .map(|i| format!("{stem}{i}"))
        .find(|n| !crate::analyze::tokens(&text).iter().any(|t| t == n))
        .expect("some fresh name")
}

/// Prior statements (`~` on a parameter) as (statement index in visit order).
fn prior_slots(program: &Program) -> usize {
    let params = parameter_names(program);
    let mut n = 0;
    if let Some(m) = &program.model {
        crate::schema::visit_stmts(&m.stmts, &mut |s| {
            if let StmtKind::Tilde { lhs, .. } = &s.kind {
                if base_var(lhs).is_some_and(|v| params.contains(v)) {
                    n += 1;
                }
            }
        });
    }
    n
}

/// Apply `f` to the `k`-th prior statement (visit order).
fn with_prior(program: &mut Program, k: usize, f: &mut dyn FnMut(&mut Stmt)) {
    let params = parameter_names(program);
    let mut i = 0;
    if let Some(m) = &mut program.model {
        visit_stmts_mut(&mut m.stmts, &mut |s| {
            if let StmtKind::Tilde { lhs, .. } = &s.kind {
                if base_var(lhs).is_some_and(|v| params.contains(v)) {
                    if i == k {
                        f(s);
                    }
                    i += 1;
                }
            }
        });
    }
}

/// Apply `f` to the first statement on a response (`~` or `target +=`).
fn with_response(program: &mut Program, f: &mut dyn FnMut(&mut Stmt) -> bool) -> bool {
    let responses = response_names(program);
    let mut done = false;
    if let Some(m) = &mut program.model {
        visit_stmts_mut(&mut m.stmts, &mut |s| {
            if done {
                return;
            }
            if let StmtKind::Tilde { lhs, .. } = &s.kind {
                if base_var(lhs).is_some_and(|v| responses.iter().any(|r| r == v)) {
                    done = f(s);
                }
            }
        });
    }
    done
}

fn add_param_decl(program: &mut Program, text: &str) -> Option<()> {
    let new = stmts("parameters", text)?;
    program
        .parameters
        .get_or_insert_with(|| refinestat_language::ast::Block {
            stmts: vec![],
            span: Span::default(),
        })
        .stmts
        .extend(new);
    Some(())
}

fn prepend_model(program: &mut Program, text: &str) -> Option<()> {
    let new = stmts("model", text)?;
    let m = program.model.as_mut()?;
    // After the model block's leading local declarations.
    let at = m
        .stmts
        .iter()
        .position(|s| !matches!(s.kind, StmtKind::Decl { .. }))
        .unwrap_or(m.stmts.len());
    for (i, s) in new.into_iter().enumerate() {
        m.stmts.insert(at + i, s);
    }
    Some(())
}

fn response_decl(program: &Program) -> Option<(String, &refinestat_language::ast::TypeDecl)> {
    let r = response_names(program).into_iter().next()?;
    program
        .data
        .iter()
        .flat_map(|b| &b.stmts)
        .find_map(|s| match &s.kind {
            StmtKind::Decl { ty, name, .. } if name.name == r => Some((r.clone(), ty)),
            _ => None,
        })
}

/// The size expression of the response's first dimension (`N` in `vector[N] y`).
fn response_size(program: &Program) -> Option<Expr> {
    let (_, ty) = response_decl(program)?;
    ty.array_dims.first().cloned().or(match &ty.base {
        BaseType::Vector(n) | BaseType::RowVector(n) => Some((**n).clone()),
        BaseType::Matrix(r, _) => Some((**r).clone()),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------------
// The augmentations.

/// Multiply one positive literal of a prior by 0.1, 0.5, 2 or 10.
pub fn scale_constant(c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let n = prior_slots(&p);
    if n == 0 {
        return None;
    }
    let factor = [0.1, 0.5, 2.0, 10.0][rng.random_range(0..4)];
    let start = rng.random_range(0..n);
    for off in 0..n {
        let mut done = false;
        with_prior(&mut p, (start + off) % n, &mut |s| {
            // A uniform prior's bounds repeat the declaration's; scaling one would contradict it.
            if let StmtKind::Tilde { args, dist, .. } = &mut s.kind {
                if dist.name == "uniform" {
                    return;
                }
                if let Some(a) = args
                    .iter_mut()
                    .rev()
                    .find(|a| literal(a).is_some_and(|v| v > 0.0))
                {
                    *a = real_lit(literal(a).unwrap_or(1.0) * factor);
                    done = true;
                }
            }
        });
        if done {
            return Some(Candidate {
                program: p,
                ..c.clone()
            });
        }
    }
    None
}

/// A prior's literal scale becomes a half-normal hyperparameter with that scale.
pub fn add_hyper_layer(c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let n = prior_slots(&p);
    if n == 0 {
        return None;
    }
    let name = fresh(&p, "hyper_scale");
    let start = rng.random_range(0..n);
    for off in 0..n {
        let mut scale = None;
        with_prior(&mut p, (start + off) % n, &mut |s| {
            if let StmtKind::Tilde { dist, args, .. } = &mut s.kind {
                if matches!(
                    dist.name.as_str(),
                    "normal" | "student_t" | "cauchy" | "double_exponential" | "logistic"
                ) {
                    if let Some(v) = args.last().and_then(literal).filter(|v| *v > 0.0) {
                        scale = Some(v);
                        *args.last_mut().expect("arg") = var(&name);
                    }
                }
            }
        });
        if let Some(v) = scale {
            add_param_decl(&mut p, &format!("real<lower=0> {name};"))?;
            prepend_model(&mut p, &format!("{name} ~ normal(0, {});", real_text(v)))?;
            return Some(Candidate {
                program: p,
                ..c.clone()
            });
        }
    }
    None
}

fn real_text(v: f64) -> String {
    match &real_lit(v).kind {
        ExprKind::RealLit { text, .. } => text.clone(),
        _ => unreachable!(),
    }
}

/// Swap the likelihood for a similar one (see the module table).
pub fn swap_distribution(c: &Candidate, _rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let phi = fresh(&p, "phi");
    let mut new_param = None;
    let ok = with_response(&mut p, &mut |s| {
        let StmtKind::Tilde { dist, args, .. } = &mut s.kind else {
            return false;
        };
        let pr = |e: &Expr| format!("({})", refinestat_language::print::print_expr(e));
        let (d, a): (&str, Vec<Expr>) = match (dist.name.as_str(), args.as_slice()) {
            ("normal", [m, s]) => ("student_t", vec![real_lit(4.0), m.clone(), s.clone()]),
            ("student_t", [_, m, s]) => ("normal", vec![m.clone(), s.clone()]),
            ("poisson", [l]) => {
                new_param = Some(phi.clone());
                ("neg_binomial_2", vec![l.clone(), var(&phi)])
            }
            ("poisson_log", [l]) => {
                new_param = Some(phi.clone());
                ("neg_binomial_2_log", vec![l.clone(), var(&phi)])
            }
            ("neg_binomial_2", [l, _]) => ("poisson", vec![l.clone()]),
            ("neg_binomial_2_log", [l, _]) => ("poisson_log", vec![l.clone()]),
            ("gamma", [a, b]) => {
                let Some(mu) = expr(&format!("log({} ./ {})", pr(a), pr(b))) else {
                    return false;
                };
                let Some(sd) = expr(&format!("1 / sqrt({})", pr(a))) else {
                    return false;
                };
                ("lognormal", vec![mu, sd])
            }
            ("lognormal", [m, s]) => {
                let Some(a) = expr(&format!("1 / square({})", pr(s))) else {
                    return false;
                };
                let Some(b) = expr(&format!("exp(-{}) / square({})", pr(m), pr(s))) else {
                    return false;
                };
                ("gamma", vec![a, b])
            }
            ("bernoulli_logit", [e]) => {
                let Some(q) = expr(&probit(&pr(e))) else {
                    return false;
                };
                ("bernoulli", vec![q])
            }
            ("bernoulli", [q]) if call_arg(q, "Phi").is_some() => (
                "bernoulli_logit",
                vec![call_arg(q, "Phi").expect("checked").clone()],
            ),
            ("bernoulli", [q]) if call_arg(q, "inv_logit").is_some() => {
                let inner = call_arg(q, "inv_logit").expect("checked");
                let Some(q) = expr(&probit(&pr(inner))) else {
                    return false;
                };
                ("bernoulli", vec![q])
            }
            ("binomial_logit", [n, e]) => {
                let Some(q) = expr(&probit(&pr(e))) else {
                    return false;
                };
                ("binomial", vec![n.clone(), q])
            }
            _ => return false,
        };
        dist.name = d.to_string();
        *args = a;
        true
    });
    if !ok {
        return None;
    }
    if let Some(phi) = new_param {
        add_param_decl(&mut p, &format!("real<lower=0> {phi};"))?;
        prepend_model(&mut p, &format!("{phi} ~ gamma(2, 0.2);"))?;
    }
    Some(Candidate {
        program: p,
        ..c.clone()
    })
}

/// The single argument of a call to `f`.
fn call_arg<'a>(e: &'a Expr, f: &str) -> Option<&'a Expr> {
    match &e.kind {
        ExprKind::Call { name, args } if name.name == f && args.len() == 1 => args.first(),
        ExprKind::Paren(x) => call_arg(x, f),
        _ => None,
    }
}

/// The probit link: the standard normal CDF, elementwise.
fn probit(x: &str) -> String {
    format!("Phi({x})")
}

/// A new covariate of the response's size that the model does not use.
pub fn add_unrelated_covariate(c: &Candidate, _rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let n = refinestat_language::print::print_expr(&response_size(&p)?);
    let name = fresh(&p, "w");
    let new = stmts("data", &format!("vector[{n}] {name};"))?;
    let data = p.data.as_mut()?;
    // Before the response's declaration, after the sizes it needs.
    let (resp, _) = response_decl(&c.program)?;
    let at = data
        .stmts
        .iter()
        .position(|s| matches!(&s.kind, StmtKind::Decl { name, .. } if name.name == resp))
        .unwrap_or(data.stmts.len());
    data.stmts.splice(at..at, new);
    let mut schema = c.schema.clone();
    let pos = schema
        .vars
        .iter()
        .position(|v| v.name == resp)
        .unwrap_or(schema.vars.len());
    schema.vars.insert(
        pos,
        SchemaVar {
            name,
            role: Role::Covariate {
                shape: CovShape::Any,
            },
        },
    );
    Some(Candidate {
        program: p,
        schema,
        labels: c.labels.clone(),
    })
}

/// Fewer observations: the response's size range is halved (the program is unchanged).
pub fn drop_observations(c: &Candidate, _rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let n = response_size(&c.program)?;
    let ExprKind::Var(id) = &n.kind else {
        return None;
    };
    let mut schema = c.schema.clone();
    match schema.role_mut(&id.name)? {
        Role::Size { min, max } if *max / 2 > *min => *max /= 2,
        Role::Size { min, max } if *max >= 4 => {
            *max /= 2;
            *min = (*max / 2).max(1);
        }
        _ => return None,
    }
    let mut labels = c.labels.clone();
    labels.insert("rows".into(), "fewer".into());
    Some(Candidate {
        program: c.program.clone(),
        schema,
        labels,
    })
}

/// Largest size `vary_sizes` doubles a range to.
pub const MAX_ROWS: i64 = 200;

/// Every size range scaled by 1/2 or 2 (doubling capped at [`MAX_ROWS`]).
pub fn vary_sizes(c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let up = rng.random_bool(0.5);
    let mut schema = c.schema.clone();
    let mut any = false;
    for v in &mut schema.vars {
        if let Role::Size { min, max } = &mut v.role {
            let (lo, hi) = if up {
                // Doubling stops at 200 rows (or the program's own maximum, when larger).
                let hi = (*max * 2).min(MAX_ROWS.max(*max));
                ((*min * 2).min(hi - 1).max(1), hi)
            } else {
                ((*min / 2).max(1), (*max / 2).max(2))
            };
            let hi = hi.max(lo + 1);
            if (lo, hi) != (*min, *max) {
                any = true;
            }
            *min = lo;
            *max = hi;
        }
    }
    if !any {
        return None;
    }
    let mut labels = c.labels.clone();
    labels.insert("sizes".into(), if up { "doubled" } else { "halved" }.into());
    Some(Candidate {
        program: c.program.clone(),
        schema,
        labels,
    })
}

/// Rounding (a real response becomes int data; the simulator rounds continuous draws) or
/// truncation at zero.
pub fn observation_noise(c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let (resp, ty) = response_decl(&p)?;
    let (dist, _) = response_statement(&p)?;
    let continuous = matches!(
        dist.as_str(),
        "normal" | "student_t" | "lognormal" | "gamma" | "cauchy" | "double_exponential"
    );
    if !continuous {
        return None;
    }
    let round = rng.random_bool(0.5) && !matches!(ty.base, BaseType::Matrix(..));
    let mut labels = c.labels.clone();
    if round {
        let mut new_ty = ty.clone();
        if let BaseType::Vector(n) | BaseType::RowVector(n) = &new_ty.base {
            new_ty.array_dims.push((**n).clone());
        }
        new_ty.base = BaseType::Int;
        if let Bounds::LowerUpper { lower, upper } = &mut new_ty.bounds {
            for b in [lower, upper] {
                if b.as_ref()
                    .and_then(literal)
                    .is_some_and(|v| v.fract() != 0.0)
                {
                    *b = None;
                }
            }
        }
        for s in p.data.as_mut()?.stmts.iter_mut() {
            if let StmtKind::Decl { ty, name, .. } = &mut s.kind {
                if name.name == resp {
                    *ty = new_ty.clone();
                }
            }
        }
        labels.insert("observation".into(), "rounded".into());
    } else {
        let ok = with_response(&mut p, &mut |s| {
            if let StmtKind::Tilde { truncation, .. } = &mut s.kind {
                if truncation.is_none() {
                    *truncation = Some(refinestat_language::ast::Truncation {
                        lower: Some(real_lit(0.0)),
                        upper: None,
                        span: Span::default(),
                    });
                    return true;
                }
            }
            false
        });
        if !ok {
            return None;
        }
        labels.insert("observation".into(), "truncated".into());
    }
    Some(Candidate {
        program: p,
        schema: c.schema.clone(),
        labels,
    })
}

/// A scalar unbounded parameter used in the likelihood becomes a vector of group effects
/// `a ~ normal(mu, tau)` indexed by a new grouping `g` of the observations.
pub fn nest_hierarchical(c: &Candidate, rng: &mut dyn rand::RngCore) -> Option<Candidate> {
    let mut p = c.program.clone();
    let size = refinestat_language::print::print_expr(&response_size(&p)?);
    let (_, args) = response_statement(&p)?;
    // Candidate parameters: scalar reals without bounds, mentioned in the likelihood.
    let used = args
        .iter()
        .flat_map(crate::analyze::expr_vars)
        .collect::<std::collections::BTreeSet<_>>();
    let scalars: Vec<String> = p
        .parameters
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { ty, name, .. }
                if matches!(ty.base, BaseType::Real)
                    && ty.array_dims.is_empty()
                    && ty.bounds == Bounds::None
                    && used.contains(&name.name) =>
            {
                Some(name.name.clone())
            }
            _ => None,
        })
        .collect();
    if scalars.is_empty() {
        return None;
    }
    let target = scalars[rng.random_range(0..scalars.len())].clone();
    let (j, g, a, tau) = (
        fresh(&p, "G"),
        fresh(&p, "grp"),
        fresh(&p, "a_grp"),
        fresh(&p, "tau_grp"),
    );
    let ok = with_response(&mut p, &mut |s| {
        let StmtKind::Tilde { lhs, args, .. } = &mut s.kind else {
            return false;
        };
        let loop_var = match &lhs.kind {
            ExprKind::Index { indices, .. } => match indices.as_slice() {
                [Index::Single(Expr {
                    kind: ExprKind::Var(i),
                    ..
                })] => Some(i.name.clone()),
                _ => return false,
            },
            _ => None,
        };
        let repl = match &loop_var {
            Some(i) => expr(&format!("{a}[{g}[{i}]]")),
            None => expr(&format!("{a}[{g}]")),
        };
        let Some(repl) = repl else { return false };
        let mut n = 0;
        for arg in args.iter_mut() {
            n += replace_var(arg, &target, &repl);
        }
        n > 0
    });
    if !ok {
        return None;
    }
    let data = p.data.as_mut()?;
    data.stmts.extend(stmts(
        "data",
        &format!("int<lower=1> {j}; array[{size}] int<lower=1, upper={j}> {g};"),
    )?);
    add_param_decl(&mut p, &format!("vector[{j}] {a}; real<lower=0> {tau};"))?;
    prepend_model(
        &mut p,
        &format!("{tau} ~ normal(0, 1); {a} ~ normal({target}, {tau});"),
    )?;
    let mut schema = c.schema.clone();
    schema.vars.push(SchemaVar {
        name: j.clone(),
        role: Role::Size { min: 2, max: 10 },
    });
    schema.vars.push(SchemaVar {
        name: g,
        role: Role::Group { groups: j },
    });
    let mut labels = c.labels.clone();
    labels.insert("grouping".into(), "nested".into());
    Some(Candidate {
        program: p,
        schema,
        labels,
    })
}

fn replace_var(e: &mut Expr, name: &str, with: &Expr) -> usize {
    if matches!(&e.kind, ExprKind::Var(id) if id.name == name) {
        *e = with.clone();
        return 1;
    }
    match &mut e.kind {
        ExprKind::Binary { lhs, rhs, .. } => {
            replace_var(lhs, name, with) + replace_var(rhs, name, with)
        }
        ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) | ExprKind::Transpose(expr) => {
            replace_var(expr, name, with)
        }
        ExprKind::Call { args, .. } | ExprKind::CondCall { args, .. } => {
            args.iter_mut().map(|a| replace_var(a, name, with)).sum()
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            replace_var(cond, name, with)
                + replace_var(then, name, with)
                + replace_var(otherwise, name, with)
        }
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------------
// Two programs as a two-component mixture.

/// The parameter [`mix_two`] adds: the first component's mixing proportion.
pub const MIX_PROPORTION: &str = "theta_mix";

/// Distributions of discrete variates (their density is `_lpmf`).
const DISCRETE: &[&str] = &[
    "poisson",
    "poisson_log",
    "neg_binomial",
    "neg_binomial_2",
    "neg_binomial_2_log",
    "binomial",
    "binomial_logit",
    "bernoulli",
    "bernoulli_logit",
    "beta_binomial",
    "categorical",
    "categorical_logit",
    "ordered_logistic",
    "ordered_probit",
    "discrete_range",
    "hypergeometric",
    "skellam",
];

/// The likelihood of a program's only response, as [`mix_two`] needs it: one `~` statement,
/// untruncated, either vectorised at the top level (`y ~ d(args)`) or the only statement of a
/// top-level loop (`for (i in lo:hi) y[i] ~ d(args);`).
struct Likelihood {
    /// Index of the top-level model statement.
    top: usize,
    dist: String,
    args: Vec<Expr>,
    /// `(loop variable, lower, upper)` of the loop form.
    each: Option<(String, Expr, Expr)>,
}

fn likelihood_of(p: &Program, response: &str) -> Option<Likelihood> {
    let model = p.model.as_ref()?;
    let observed: Vec<_> = refinestat_language::analysis::observed_statements(p)
        .into_iter()
        .filter(|o| o.mentions.iter().any(|m| m == response))
        .collect();
    let [o] = observed.as_slice() else {
        return None;
    };
    let tilde = |s: &Stmt| match &s.kind {
        StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation: None,
        } => Some((lhs.clone(), dist.name.clone(), args.clone())),
        _ => None,
    };
    let top = &model.stmts[o.top];
    if let Some((lhs, dist, args)) = tilde(top) {
        return matches!(&lhs.kind, ExprKind::Var(id) if id.name == response).then_some(
            Likelihood {
                top: o.top,
                dist,
                args,
                each: None,
            },
        );
    }
    let StmtKind::For {
        var,
        lower,
        upper,
        body,
    } = &top.kind
    else {
        return None;
    };
    let inner = match &body.kind {
        StmtKind::Block(b) if b.len() == 1 => &b[0],
        StmtKind::Block(_) => return None,
        _ => &**body,
    };
    let (lhs, dist, args) = tilde(inner)?;
    let ExprKind::Index { expr, indices } = &lhs.kind else {
        return None;
    };
    let plain = matches!(&expr.kind, ExprKind::Var(id) if id.name == response);
    let by_loop = matches!(indices.as_slice(),
        [Index::Single(Expr { kind: ExprKind::Var(i), .. })] if i.name == var.name);
    (plain && by_loop).then(|| Likelihood {
        top: o.top,
        dist,
        args,
        each: Some((var.name.clone(), lower.clone(), upper.clone())),
    })
}

/// Every name a program declares outside its data block (transformed data, parameters,
/// transformed parameters, model and generated-quantities declarations, loop variables).
fn declared_names(p: &Program) -> Vec<String> {
    let mut out = Vec::new();
    for b in [
        &p.transformed_data,
        &p.parameters,
        &p.transformed_parameters,
        &p.model,
        &p.generated_quantities,
    ]
    .into_iter()
    .flatten()
    {
        crate::schema::visit_stmts(&b.stmts, &mut |s| match &s.kind {
            StmtKind::Decl { name, .. } => out.push(name.name.clone()),
            StmtKind::For { var, .. } | StmtKind::ForEach { var, .. } => out.push(var.name.clone()),
            _ => {}
        });
    }
    out.sort();
    out.dedup();
    out
}

/// Replace every whole identifier of `text` found in `names` by its new name.
fn rename_words(text: &str, names: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        out.push_str(names.get(word.as_str()).unwrap_or(word));
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// `e` at observation `i`: every variable of `per_obs` (those sized like the response) indexed
/// by `i`. `None` where a per-observation variable is already indexed (a slice of it).
fn at_observation(e: &Expr, per_obs: &std::collections::BTreeSet<String>, i: &str) -> Option<Expr> {
    let mut e = e.clone();
    fn walk(e: &mut Expr, per_obs: &std::collections::BTreeSet<String>, i: &str) -> bool {
        match &mut e.kind {
            ExprKind::Var(id) if per_obs.contains(&id.name) => {
                let base = e.clone();
                e.kind = ExprKind::Index {
                    expr: Box::new(base),
                    indices: vec![Index::Single(var(i))],
                };
                true
            }
            ExprKind::Index { expr, indices } => {
                if base_var(expr).is_some_and(|v| per_obs.contains(v)) {
                    return false;
                }
                let mut ok = walk(expr, per_obs, i);
                for ix in indices.iter_mut() {
                    ok &= match ix {
                        Index::Single(x) => walk(x, per_obs, i),
                        Index::Range { lower, upper } => {
                            lower.iter_mut().all(|x| walk(x, per_obs, i))
                                && upper.iter_mut().all(|x| walk(x, per_obs, i))
                        }
                        Index::All => true,
                    };
                }
                ok
            }
            ExprKind::Binary { lhs, rhs, .. } => walk(lhs, per_obs, i) && walk(rhs, per_obs, i),
            ExprKind::Unary { expr, .. } | ExprKind::Paren(expr) | ExprKind::Transpose(expr) => {
                walk(expr, per_obs, i)
            }
            ExprKind::Call { name, args } => {
                let ok = args.iter_mut().all(|a| walk(a, per_obs, i));
                // A container conversion of one observation is the observation itself
                // (`to_vector(x)` of an int array becomes `x[i]`).
                let conversion = matches!(
                    name.name.as_str(),
                    "to_vector" | "to_row_vector" | "to_array_1d"
                );
                if let ([arg], true) = (args.as_slice(), conversion) {
                    if matches!(&arg.kind, ExprKind::Index { expr, .. }
                        if base_var(expr).is_some_and(|v| per_obs.contains(v)))
                    {
                        *e = arg.clone();
                    }
                }
                ok
            }
            ExprKind::CondCall { args, .. }
            | ExprKind::ArrayLit(args)
            | ExprKind::RowVectorLit(args) => args.iter_mut().all(|a| walk(a, per_obs, i)),
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => walk(cond, per_obs, i) && walk(then, per_obs, i) && walk(otherwise, per_obs, i),
            _ => true,
        }
    }
    walk(&mut e, per_obs, i).then_some(e)
}

/// Names of every variable whose declaration's first size prints as `size`.
fn sized_like(p: &Program, size: &str) -> std::collections::BTreeSet<String> {
    use refinestat_language::print::print_expr;
    let mut out = std::collections::BTreeSet::new();
    let first = |ty: &refinestat_language::ast::TypeDecl| -> Option<String> {
        ty.array_dims.first().map(print_expr).or(match &ty.base {
            BaseType::Vector(n) | BaseType::RowVector(n) => Some(print_expr(n)),
            BaseType::Matrix(r, _) => Some(print_expr(r)),
            _ => None,
        })
    };
    for b in [
        &p.data,
        &p.transformed_data,
        &p.parameters,
        &p.transformed_parameters,
        &p.model,
    ]
    .into_iter()
    .flatten()
    {
        crate::schema::visit_stmts(&b.stmts, &mut |s| {
            if let StmtKind::Decl { ty, name, .. } = &s.kind {
                if first(ty).as_deref() == Some(size) {
                    out.insert(name.name.clone());
                }
            }
        });
    }
    out
}

/// Combine two programs with the same observed variable as a two-component mixture: the data of
/// both (shared names must be declared alike and have the same role), the parameters and model
/// statements of both (the second program's names renamed apart with `_2`), a mixing proportion
/// `theta_mix ~ beta(2, 2)`, and the two likelihoods as one per-observation mixture,
///
/// ```text
/// for (i in 1:N) target += log_mix(theta_mix, d1_lpdf(y[i] | ...), d2_lpdf(y[i] | ...));
/// ```
///
/// (vectorised arguments indexed by the observation: every variable sized like the response).
/// Generated quantities are left out. `None` when the two do not share their only response, a
/// likelihood is not one untruncated `~` statement (vectorised or in a loop over the
/// observations), a program has functions, or the result fails `check`. The labels are the first
/// program's with `mixture` (`two_component`) and `mixture_families` (both families, `+`-joined);
/// the family is `mixture`.
pub fn mix_two(a: &Candidate, b: &Candidate) -> Option<Candidate> {
    use refinestat_language::print::{print_expr, print_stmt};
    let responses = a.schema.responses();
    let [y] = responses.as_slice() else {
        return None;
    };
    if b.schema.responses() != responses
        || a.program.functions.is_some()
        || b.program.functions.is_some()
    {
        return None;
    }
    let decls = |p: &Program| -> Vec<(String, String)> {
        p.data
            .iter()
            .flat_map(|b| &b.stmts)
            .filter_map(|s| match &s.kind {
                StmtKind::Decl { name, .. } => {
                    Some((name.name.clone(), print_stmt(s).trim_end().to_string()))
                }
                _ => None,
            })
            .collect()
    };
    // The second program's names apart from every name of the first.
    let a_text = print_program(&a.program);
    let a_words: std::collections::BTreeSet<String> =
        crate::analyze::tokens(&a_text).into_iter().collect();
    let mut renames = BTreeMap::new();
    for n in declared_names(&b.program) {
        let new = (2..)
            .map(|k| format!("{n}_{k}"))
            .find(|c| !a_words.contains(c))
            .expect("a fresh name");
        renames.insert(n, new);
    }
    let b_program = parse(&rename_words(&print_program(&b.program), &renames)).program;
    let (la, lb) = (likelihood_of(&a.program, y)?, likelihood_of(&b_program, y)?);
    // Data: the first program's, then the second's others; shared ones alike.
    let (da, db) = (decls(&a.program), decls(&b_program));
    let mut data: Vec<String> = da.iter().map(|d| d.1.clone()).collect();
    let mut schema = a.schema.clone();
    for (name, text) in &db {
        match da.iter().find(|d| &d.0 == name) {
            Some(d) if &d.1 != text => return None,
            Some(_) if a.schema.role(name) != b.schema.role(name) => return None,
            Some(_) => {}
            None => {
                data.push(text.clone());
                schema.vars.push(SchemaVar {
                    name: name.clone(),
                    role: b.schema.role(name)?.clone(),
                });
            }
        }
    }
    let block = |name: &str, stmts: Vec<String>| -> String {
        if stmts.is_empty() {
            String::new()
        } else {
            format!("{name} {{\n{}\n}}\n", stmts.join("\n"))
        }
    };
    let stmts_of = |b: &Option<refinestat_language::ast::Block>| -> Vec<String> {
        b.iter()
            .flat_map(|b| &b.stmts)
            .map(|s| print_stmt(s).trim_end().to_string())
            .collect()
    };
    let both = |f: &dyn Fn(&Program) -> &Option<refinestat_language::ast::Block>| {
        let mut v = stmts_of(f(&a.program));
        v.extend(stmts_of(f(&b_program)));
        v
    };
    let mut params = both(&|p| &p.parameters);
    params.push(format!("real<lower=0, upper=1> {MIX_PROPORTION};"));
    // Model: both programs' leading declarations, then their other statements without the
    // likelihoods, then the mixing proportion's prior and the mixture.
    let split = |p: &Program, skip: usize| -> (Vec<String>, Vec<String>) {
        let stmts = p.model.as_ref().map(|m| m.stmts.as_slice()).unwrap_or(&[]);
        let lead = stmts
            .iter()
            .position(|s| !matches!(s.kind, StmtKind::Decl { .. }))
            .unwrap_or(stmts.len());
        let rest = stmts
            .iter()
            .enumerate()
            .skip(lead)
            .filter(|(k, _)| *k != skip)
            .map(|(_, s)| print_stmt(s).trim_end().to_string())
            .collect();
        let lead = stmts[..lead]
            .iter()
            .map(|s| print_stmt(s).trim_end().to_string())
            .collect();
        (lead, rest)
    };
    let (a_lead, a_rest) = split(&a.program, la.top);
    let (b_lead, b_rest) = split(&b_program, lb.top);
    let size = print_expr(&response_size(&a.program)?);
    let (i, lo, hi) = match &la.each {
        Some((i, lo, hi)) => (i.clone(), print_expr(lo), print_expr(hi)),
        None => (
            (1..)
                .map(|k| format!("i_mix{k}"))
                .find(|c| !a_words.contains(c))
                .expect("a fresh name"),
            "1".to_string(),
            size.clone(),
        ),
    };
    let per_obs = {
        let mut s = sized_like(&a.program, &size);
        s.extend(sized_like(&b_program, &size));
        s.remove(*y);
        s
    };
    let args_at = |l: &Likelihood| -> Option<Vec<String>> {
        l.args
            .iter()
            .map(|e| {
                Some(match &l.each {
                    // Loop form: the other loop's variable is this one's.
                    Some((j, _, _)) => {
                        rename_words(&print_expr(e), &BTreeMap::from([(j.clone(), i.clone())]))
                    }
                    None => print_expr(&at_observation(e, &per_obs, &i)?),
                })
            })
            .collect()
    };
    if let Some((_, blo, bhi)) = &lb.each {
        if (print_expr(blo), print_expr(bhi)) != (lo.clone(), hi.clone()) {
            return None;
        }
    }
    let density = |l: &Likelihood, args: Vec<String>| {
        let suffix = if DISCRETE.contains(&l.dist.as_str()) {
            "lpmf"
        } else {
            "lpdf"
        };
        format!("{}_{suffix}({y}[{i}] | {})", l.dist, args.join(", "))
    };
    let mixture = format!(
        "for ({i} in {lo}:{hi}) {{\n target += log_mix({MIX_PROPORTION}, {}, {});\n}}",
        density(&la, args_at(&la)?),
        density(&lb, args_at(&lb)?)
    );
    let mut model = a_lead;
    model.extend(b_lead);
    model.extend(a_rest);
    model.extend(b_rest);
    model.push(format!("{MIX_PROPORTION} ~ beta(2, 2);"));
    model.push(mixture);
    let text = [
        block("data", data),
        block("transformed data", both(&|p| &p.transformed_data)),
        block("parameters", params),
        block(
            "transformed parameters",
            both(&|p| &p.transformed_parameters),
        ),
        block("model", model),
    ]
    .concat();
    if !check(&text, None).is_empty() {
        return None;
    }
    let program = parse(&text).program;
    // The schema in the new data block's order.
    let vars = program
        .data
        .iter()
        .flat_map(|b| &b.stmts)
        .filter_map(|s| match &s.kind {
            StmtKind::Decl { name, .. } => {
                schema.vars.iter().find(|v| v.name == name.name).cloned()
            }
            _ => None,
        })
        .collect();
    let mut labels = a.labels.clone();
    labels.insert("mixture".into(), "two_component".into());
    labels.insert(
        "mixture_families".into(),
        format!(
            "{}+{}",
            a.labels.get("family").map_or("", String::as_str),
            b.labels.get("family").map_or("", String::as_str)
        ),
    );
    labels.insert("family".into(), "mixture".into());
    labels.remove("noise");
    labels.extend(structural_labels(&program));
    Some(Candidate {
        program,
        schema: Schema { vars },
        labels,
    })
}
