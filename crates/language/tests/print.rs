//! Printer tests: print -> parse round trips, canonical-form idempotence and invariance (renaming,
//! reordering independent declarations, reformatting, redundant parentheses), and robustness of
//! the parser on arbitrary input (never panics, always returns a tree).

use proptest::prelude::*;
use refinestat_language::ast::*;
use refinestat_language::print::print_expr;
use refinestat_language::{canonical, parse, parse_prefix, print_program, Program};
use std::path::Path;

/// `Debug` text of a value with every `Span { .. }` removed, for equality that ignores spans.
fn without_spans(debug: &str) -> String {
    let mut out = String::with_capacity(debug.len());
    let mut rest = debug;
    while let Some(at) = rest.find("Span { start: ") {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        let end = after.find('}').map_or(after.len(), |e| e + 1);
        out.push_str("Span");
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

fn eq_ignoring_spans(a: &Program, b: &Program) -> bool {
    without_spans(&format!("{a:?}")) == without_spans(&format!("{b:?}"))
}

fn golden_sources() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/parser/valid");
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stan"))
        .filter(|p| !p.file_stem().unwrap().to_string_lossy().contains('.'))
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 7);
    out
}

fn parse_ok(src: &str) -> Program {
    let parsed = parse(src);
    assert!(parsed.errors.is_empty(), "{src}\n{:?}", parsed.errors);
    parsed.program
}

#[test]
fn printing_golden_programs_round_trips() {
    for (path, src) in golden_sources() {
        let program = parse_ok(&src);
        let printed = print_program(&program);
        let reparsed = parse_ok(&printed);
        assert!(
            eq_ignoring_spans(&program, &reparsed),
            "{path}: print -> parse changed the tree"
        );
        assert_eq!(
            print_program(&reparsed),
            printed,
            "{path}: printing is not stable"
        );
    }
}

#[test]
fn canonical_golden_programs_is_idempotent_and_parses() {
    for (path, src) in golden_sources() {
        let once = canonical(&parse_ok(&src));
        let twice = canonical(&parse_ok(&once));
        assert_eq!(once, twice, "{path}");
    }
}

#[test]
fn house_layout() {
    let src = "data{int<lower=0>N;array[N]real y;}parameters{real mu;}\
               model{for(i in 1:N){if(y[i]>0)y[i]~normal(mu,1);else target+=-mu^2;}}";
    let expect = "\
data {
    int<lower=0> N;
    array[N] real y;
}

parameters {
    real mu;
}

model {
    for (i in 1:N) {
        if (y[i] > 0) y[i] ~ normal(mu, 1);
        else target += -mu ^ 2;
    }
}
";
    assert_eq!(print_program(&parse_ok(src)), expect);
}

#[test]
fn canonical_renames_and_sorts() {
    let a = "data { int N; vector[N] y; }
             parameters { real<lower=0> sigma; real mu; }
             model { mu ~ normal(0, 1); sigma ~ exponential(1); y ~ normal(mu, sigma); }";
    let b = "data { int N; vector[N] y; }
             parameters { real m; real<lower=0> s; }  // reordered, renamed
             model { m ~ normal(0, (1)); s ~ exponential(1); y ~ normal(m, s); }";
    let expect = "\
data {
    int N;
    vector[N] y;
}

parameters {
    real p1;
    real<lower=0> p2;
}

model {
    p1 ~ normal(0, 1);
    p2 ~ exponential(1);
    y ~ normal(p1, p2);
}
";
    assert_eq!(canonical(&parse_ok(a)), expect);
    assert_eq!(canonical(&parse_ok(b)), expect);
    // Renaming data changes the program (the data file binds by name).
    let c = a.replace(" y", " obs");
    assert_ne!(canonical(&parse_ok(&c)), expect);
    // Dependent declarations keep their order; names never collide with data names.
    let d = "data { int p1; } parameters { real<lower=0> b; real<lower=b> a; } model { a ~ normal(p1, b); }";
    let expect_d = "\
data {
    int p1;
}

parameters {
    real<lower=0> px2;
    real<lower=px2> px1;
}

model {
    px1 ~ normal(p1, px2);
}
";
    assert_eq!(canonical(&parse_ok(d)), expect_d);
}

/// Names used only inside other declarations are numbered independently of declaration order.
#[test]
fn canonical_names_of_declaration_only_variables() {
    let a = "parameters { real a; real c; real<lower=a> b; real<lower=c> d; }
             transformed parameters { real t = b + 1; real u = d * 2; }
             model { b ~ normal(0, 1); d ~ normal(0, 1); }
             generated quantities { real g = t - u; }";
    let b = "parameters { real zc; real za; real<lower=zc> zd; real<lower=za> zb; }
             transformed parameters { real tu = zd * 2; real tt = zb + 1; }
             model { zb ~ normal(0, 1); zd ~ normal(0, 1); }
             generated quantities { real gg = tt - tu; }";
    let ca = canonical(&parse_ok(a));
    assert_eq!(ca, canonical(&parse_ok(b)));
    assert_eq!(canonical(&parse_ok(&ca)), ca);
    assert!(
        ca.contains("real<lower=p3> p1;") && ca.contains("real<lower=p4> p2;"),
        "{ca}"
    );
}

// ------------------------------------------------------------------ expression round trips

fn leaf() -> impl Strategy<Value = Expr> {
    let sp = Span::default();
    prop_oneof![
        (0i64..1000).prop_map(move |v| Expr::new(ExprKind::IntLit(v), sp)),
        prop_oneof![
            Just("1.5"),
            Just(".5"),
            Just("1e-3"),
            Just("2E+4"),
            Just("3.")
        ]
        .prop_map(move |t| Expr::new(
            ExprKind::RealLit {
                value: t.parse().unwrap(),
                text: t.to_string()
            },
            sp
        )),
        prop_oneof![Just("x"), Just("mu"), Just("T"), Just("y_2")].prop_map(move |n| Expr::new(
            ExprKind::Var(Ident {
                name: n.to_string(),
                span: sp
            }),
            sp
        )),
    ]
}

const BIN_OPS: [BinOp; 19] = [
    BinOp::Add,
    BinOp::Sub,
    BinOp::Mul,
    BinOp::Div,
    BinOp::IntDiv,
    BinOp::Mod,
    BinOp::Pow,
    BinOp::EltMul,
    BinOp::EltDiv,
    BinOp::LeftDiv,
    BinOp::EltPow,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::Eq,
    BinOp::Ne,
    BinOp::And,
    BinOp::Or,
];

/// Random expression trees without explicit parentheses.
fn expr_tree() -> impl Strategy<Value = Expr> {
    let sp = Span::default();
    leaf().prop_recursive(5, 48, 3, move |inner| {
        let b = |e: Expr| Box::new(e);
        prop_oneof![
            (0..BIN_OPS.len(), inner.clone(), inner.clone()).prop_map(move |(i, l, r)| Expr::new(
                ExprKind::Binary {
                    op: BIN_OPS[i],
                    lhs: b(l),
                    rhs: b(r)
                },
                sp
            )),
            (0..3usize, inner.clone()).prop_map(move |(i, e)| Expr::new(
                ExprKind::Unary {
                    op: [UnOp::Neg, UnOp::Plus, UnOp::Not][i],
                    expr: b(e)
                },
                sp
            )),
            (inner.clone(), inner.clone(), inner.clone()).prop_map(move |(c, t, o)| Expr::new(
                ExprKind::Ternary {
                    cond: b(c),
                    then: b(t),
                    otherwise: b(o)
                },
                sp
            )),
            inner
                .clone()
                .prop_map(move |e| Expr::new(ExprKind::Transpose(b(e)), sp)),
            (inner.clone(), inner.clone()).prop_map(move |(e, i)| Expr::new(
                ExprKind::Index {
                    expr: b(e),
                    indices: vec![Index::Single(i), Index::All]
                },
                sp
            )),
            (inner.clone(), inner.clone()).prop_map(move |(e, i)| Expr::new(
                ExprKind::Index {
                    expr: b(e),
                    indices: vec![Index::Range {
                        lower: Some(i),
                        upper: None
                    }]
                },
                sp
            )),
            prop::collection::vec(inner.clone(), 0..3).prop_map(move |args| Expr::new(
                ExprKind::Call {
                    name: Ident {
                        name: "f".into(),
                        span: sp
                    },
                    args
                },
                sp
            )),
            prop::collection::vec(inner.clone(), 1..3).prop_map(move |args| Expr::new(
                ExprKind::CondCall {
                    name: Ident {
                        name: "normal_lpdf".into(),
                        span: sp
                    },
                    args
                },
                sp
            )),
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(move |v| Expr::new(ExprKind::ArrayLit(v), sp)),
            prop::collection::vec(inner, 1..3)
                .prop_map(move |v| Expr::new(ExprKind::RowVectorLit(v), sp)),
        ]
    })
}

/// Remove explicit parentheses (the parser keeps them; generated trees have none).
fn strip_parens(e: &Expr) -> Expr {
    let b = |e: &Expr| Box::new(strip_parens(e));
    let idx = |i: &Index| match i {
        Index::Single(e) => Index::Single(strip_parens(e)),
        Index::All => Index::All,
        Index::Range { lower, upper } => Index::Range {
            lower: lower.as_ref().map(strip_parens),
            upper: upper.as_ref().map(strip_parens),
        },
    };
    let kind = match &e.kind {
        ExprKind::Paren(inner) => return strip_parens(inner),
        ExprKind::Binary { op, lhs, rhs } => ExprKind::Binary {
            op: *op,
            lhs: b(lhs),
            rhs: b(rhs),
        },
        ExprKind::Unary { op, expr } => ExprKind::Unary {
            op: *op,
            expr: b(expr),
        },
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => ExprKind::Ternary {
            cond: b(cond),
            then: b(then),
            otherwise: b(otherwise),
        },
        ExprKind::Call { name, args } => ExprKind::Call {
            name: name.clone(),
            args: args.iter().map(strip_parens).collect(),
        },
        ExprKind::CondCall { name, args } => ExprKind::CondCall {
            name: name.clone(),
            args: args.iter().map(strip_parens).collect(),
        },
        ExprKind::Index { expr, indices } => ExprKind::Index {
            expr: b(expr),
            indices: indices.iter().map(idx).collect(),
        },
        ExprKind::Transpose(inner) => ExprKind::Transpose(b(inner)),
        ExprKind::ArrayLit(v) => ExprKind::ArrayLit(v.iter().map(strip_parens).collect()),
        ExprKind::RowVectorLit(v) => ExprKind::RowVectorLit(v.iter().map(strip_parens).collect()),
        other => other.clone(),
    };
    Expr::new(kind, e.span)
}

fn parse_rhs(text: &str) -> Option<Expr> {
    let parsed = parse(&format!("model {{ z = {text}; }}"));
    if !parsed.errors.is_empty() {
        return None;
    }
    match parsed.program.model?.stmts.into_iter().next()?.kind {
        StmtKind::Assign { rhs, .. } => Some(rhs),
        _ => None,
    }
}

// ------------------------------------------------------------------ program variants

const PARAM_TYPES: [&str; 5] = [
    "real",
    "real<lower=0>",
    "vector[N]",
    "real<lower=0, upper=1>",
    "array[N] real",
];

/// A small model: parameters of the given types, each with a prior, plus a likelihood.
#[derive(Debug, Clone)]
struct ModelSpec {
    types: Vec<usize>,
    /// Which parameters enter the likelihood's location (by index).
    location: Vec<usize>,
    /// Types of generated quantities that nothing uses.
    extra: Vec<usize>,
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    (
        prop::collection::vec(0..PARAM_TYPES.len(), 1..6),
        prop::collection::vec(0..PARAM_TYPES.len(), 0..4),
    )
        .prop_flat_map(|(types, extra)| {
            let n = types.len();
            (Just(types), prop::collection::vec(0..n, 1..4), Just(extra)).prop_map(
                |(types, location, extra)| ModelSpec {
                    types,
                    location,
                    extra,
                },
            )
        })
}

/// Render the spec with the given parameter names, declaration order and local name.
fn render(
    spec: &ModelSpec,
    names: &[String],
    decl_order: &[usize],
    local: &str,
    parens: bool,
) -> String {
    let reverse_extras = !parens;
    let mut s = String::from("data {\n  int<lower=1> N;\n  vector[N] y;\n}\nparameters {\n");
    for &i in decl_order {
        s.push_str(&format!("  {} {};\n", PARAM_TYPES[spec.types[i]], names[i]));
    }
    s.push_str("}\nmodel {\n");
    s.push_str(&format!("  vector[N] {local} = rep_vector(0, N);\n"));
    for (i, &t) in spec.types.iter().enumerate() {
        let prior = match t {
            1 => "exponential(1)",
            3 => "beta(2, 2)",
            _ => "normal(0, 1)",
        };
        s.push_str(&format!("  {} ~ {prior};\n", names[i]));
    }
    for &i in &spec.location {
        let term = match spec.types[i] {
            2 => names[i].clone(),
            4 => format!("to_vector({})", names[i]),
            _ if parens => format!("({} * 2)", names[i]),
            _ => format!("{} * 2", names[i]),
        };
        s.push_str(&format!("  {local} = {local} + {term};\n"));
    }
    s.push_str(&format!("  y ~ normal({local}, 1);\n}}\n"));
    // Unused generated quantities, declared in the given order.
    s.push_str("generated quantities {\n");
    let extras: Vec<usize> = if reverse_extras {
        (0..spec.extra.len()).rev().collect()
    } else {
        (0..spec.extra.len()).collect()
    };
    for i in extras {
        s.push_str(&format!(
            "  {} {}_{i};\n",
            PARAM_TYPES[spec.extra[i]], local
        ));
    }
    s.push_str("}\n");
    s
}

fn names_strategy(n: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::hash_set("[a-z][a-z0-9_]{0,5}[a-z0-9]", n..=n)
        .prop_map(|set| set.into_iter().collect())
}

/// Reformat `text` (which has no string literals): vary each space and line break.
fn reformat(text: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    let mut k = 0;
    for c in text.chars() {
        let pick = choices.get(k % choices.len().max(1)).copied().unwrap_or(0);
        match c {
            ' ' => {
                k += 1;
                out.push_str([" ", "  ", "\n", " /* note */ ", "\t"][pick as usize % 5]);
            }
            '\n' => {
                k += 1;
                out.push_str(["\n", "\n\n", " // comment\n", "\n  "][pick as usize % 4]);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Reformat arbitrary program text: vary whitespace around spaces and around the one-character
/// tokens `( ) [ ] , ;` (never inside string literals), and add comments.
fn reformat_tokens(text: &str, choices: &[u8]) -> String {
    const GAPS: [&str; 6] = ["", "", " ", "\n", " /* c */ ", "\n// c\n"];
    let mut out = String::new();
    let mut in_string = false;
    let mut k = 0;
    let mut next = || {
        k += 1;
        GAPS[choices.get(k % choices.len().max(1)).copied().unwrap_or(0) as usize % GAPS.len()]
    };
    for c in text.chars() {
        if c == '"' {
            in_string = !in_string;
        }
        if in_string || c == '"' {
            out.push(c);
            continue;
        }
        match c {
            '(' | ')' | '[' | ']' | ',' | ';' => {
                out.push_str(next());
                out.push(c);
                out.push_str(next());
            }
            ' ' => {
                let gap = next();
                out.push_str(if gap.is_empty() { " " } else { gap });
            }
            _ => out.push(c),
        }
    }
    out
}

fn is_usable_name(n: &str) -> bool {
    let parsed = parse(&format!("data {{ real {n}; }}"));
    parsed.errors.is_empty() && !["N", "y", "eta", "loc"].contains(&n)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// print_expr adds exactly the parentheses the tree needs.
    #[test]
    fn expression_print_parse_round_trip(e in expr_tree()) {
        let text = print_expr(&e);
        let reparsed = parse_rhs(&text);
        prop_assert!(reparsed.is_some(), "did not parse: {}", text);
        let reparsed = strip_parens(&reparsed.unwrap());
        prop_assert_eq!(without_spans(&format!("{reparsed:?}")), without_spans(&format!("{e:?}")), "text: {}", text);
    }

    /// Renaming parameters, reordering their declarations and reformatting keep the canonical text.
    #[test]
    fn canonical_is_invariant(
        spec in model_spec(),
        names_a in names_strategy(6),
        names_b in names_strategy(6),
        shuffle in any::<prop::sample::Index>(),
        choices in prop::collection::vec(0u8..20, 1..40),
    ) {
        let n = spec.types.len();
        prop_assume!(names_a.iter().chain(&names_b).all(|n| is_usable_name(n)));
        let order_a: Vec<usize> = (0..n).collect();
        let mut order_b = order_a.clone();
        let rot = shuffle.index(n.max(1));
        order_b.rotate_left(rot);
        order_b.reverse();
        let a = render(&spec, &names_a[..n], &order_a, "eta", true);
        let b = reformat(&render(&spec, &names_b[..n], &order_b, "loc", false), &choices);
        let ca = canonical(&parse_ok(&a));
        let cb = canonical(&parse_ok(&b));
        prop_assert_eq!(&ca, &cb, "\n{}\n---\n{}", a, b);
        // Idempotent, and printing the tree round-trips.
        prop_assert_eq!(&canonical(&parse_ok(&ca)), &ca);
        let pa = parse_ok(&a);
        prop_assert!(eq_ignoring_spans(&pa, &parse_ok(&print_program(&pa))));
    }

    /// Random bytes (made UTF-8) never panic either.
    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let src = String::from_utf8_lossy(&bytes);
        for parsed in [parse(&src), parse_prefix(&src)] {
            let _ = print_program(&parsed.program);
            let _ = canonical(&parsed.program);
        }
    }

    /// Token soup (more likely to reach deep parser states than random characters).
    #[test]
    fn token_soup_never_panics(tokens in prop::collection::vec(prop_oneof![
        Just("data"), Just("parameters"), Just("model"), Just("transformed"), Just("generated"), Just("quantities"),
        Just("{"), Just("}"), Just("("), Just(")"), Just("["), Just("]"), Just(";"), Just(","), Just("~"),
        Just("="), Just("+="), Just("<"), Just(">"), Just("lower"), Just("upper"), Just("real"), Just("vector"),
        Just("array"), Just("int"), Just("for"), Just("in"), Just("if"), Just("else"), Just("while"), Just(":"),
        Just("?"), Just("|"), Just("'"), Just("x"), Just("normal"), Just("T"), Just("1"), Just("2.5"), Just("-"),
        Just("*"), Just("^"), Just("target"), Just("print"), Just("\"s\""), Just("/*"), Just("//"), Just("\n"),
    ], 0..80)) {
        let src = tokens.join(" ");
        // Prefix mode only drops errors (those at the end of the input); it never invents any.
        let full = parse(&src).errors;
        for e in parse_prefix(&src).errors {
            prop_assert!(full.contains(&e), "{}\nprefix-only error {:?}\nfull: {:?}", src, e, full);
        }
        for (parsed, complete) in [(parse(&src), true), (parse_prefix(&src), false)] {
            let printed = print_program(&parsed.program);
            if complete && parsed.errors.is_empty() {
                // A clean parse prints to text that parses to the same tree.
                let again = parse(&printed);
                prop_assert!(again.errors.is_empty(), "{}\n=>\n{}\n{:?}", src, printed, again.errors);
                let c = canonical(&parsed.program);
                prop_assert_eq!(canonical(&parse_ok(&c)), c);
            }
        }
    }
}

// Checking every prefix is quadratic in the program length: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Reformatted golden programs parse to the same tree, and every prefix is accepted.
    #[test]
    fn reformatted_golden_programs(which in 0usize..64, choices in prop::collection::vec(0u8..30, 1..60)) {
        let sources = golden_sources();
        let (path, src) = &sources[which % sources.len()];
        let program = parse_ok(&print_program(&parse_ok(src)));
        let text = reformat_tokens(&print_program(&program), &choices);
        let reparsed = parse(&text);
        prop_assert!(reparsed.errors.is_empty(), "{}:\n{}\n{:?}", path, text, reparsed.errors);
        prop_assert!(eq_ignoring_spans(&program, &reparsed.program));
        prop_assert_eq!(canonical(&program), canonical(&reparsed.program));
        for end in (0..=text.len()).filter(|&i| text.is_char_boundary(i)) {
            let errors = parse_prefix(&text[..end]).errors;
            prop_assert!(errors.is_empty(), "{}: prefix {:?}: {:?}", path, &text[..end], errors);
        }
    }

    /// Every prefix of a generated valid program is accepted by parse_prefix.
    #[test]
    fn prefixes_of_generated_programs_are_accepted(spec in model_spec(), names in names_strategy(6), choices in prop::collection::vec(0u8..20, 1..40)) {
        prop_assume!(names.iter().all(|n| is_usable_name(n)));
        let order: Vec<usize> = (0..spec.types.len()).collect();
        let src = reformat(&render(&spec, &names, &order, "eta", true), &choices);
        for end in 0..=src.len() {
            let errors = parse_prefix(&src[..end]).errors;
            prop_assert!(errors.is_empty(), "prefix {:?}: {:?}", &src[..end], errors);
        }
    }

    /// Arbitrary text never panics, and the tree that comes back can be printed.
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}") {
        for parsed in [parse(&src), parse_prefix(&src)] {
            let _ = print_program(&parsed.program);
            let _ = canonical(&parsed.program);
        }
    }
}
