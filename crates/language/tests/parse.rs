//! Parser tests: golden files under `tests/data/parser/{valid,invalid}` (refresh the expected
//! outputs with `UPDATE_EXPECT=1 cargo test -p refinestat-language --test parse`), inline cases via
//! one `check(input, expect)` helper, and the prefix contract on every golden valid program.

use refinestat_language::ast::*;
use refinestat_language::diagnostic::line_col;
use refinestat_language::{parse, parse_prefix, print_program, Diagnostic, Predicate};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Errors as `line:col: message (hint: ...)`, one per line.
fn render_errors(src: &str, errors: &[Diagnostic]) -> String {
    let mut out = String::new();
    for e in errors {
        assert_eq!(e.predicate, Predicate::Parse);
        let (line, col) = line_col(src, e.span.start);
        write!(out, "{line}:{col}: {}", e.message).unwrap();
        if let Some(h) = &e.hint {
            write!(out, " (hint: {h})").unwrap();
        }
        out.push('\n');
    }
    out
}

/// The parse result as text: the errors, then the tree as a fully parenthesised S-expression.
fn dump(src: &str, stmt_sep: &str) -> String {
    let parsed = parse(src);
    let mut out = render_errors(src, &parsed.errors);
    if !out.is_empty() {
        out.push_str("--\n");
    }
    out.push_str(&sexp_program(&parsed.program, stmt_sep));
    out
}

/// Compare `actual` with `expect`, or write it when `UPDATE_EXPECT=1`.
fn check_file(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expect = std::fs::read_to_string(path)
        .unwrap_or_else(|_| panic!("missing {}; run with UPDATE_EXPECT=1", path.display()));
    assert_eq!(actual, expect, "golden mismatch in {}", path.display());
}

/// Inline expectation: the dump of `input` must equal `expect` (leading/trailing space trimmed).
fn check(input: &str, expect: &str) {
    let actual = dump(input, " ");
    assert_eq!(
        actual.trim(),
        expect.trim(),
        "\ninput: {input}\nactual:\n{actual}"
    );
}

fn data_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/parser")
        .join(kind)
}

fn stan_files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir(kind))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stan"))
        .filter(|p| !p.file_stem().unwrap().to_string_lossy().contains('.'))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn golden_valid_programs() {
    for path in stan_files("valid") {
        let src = std::fs::read_to_string(&path).unwrap();
        let parsed = parse(&src);
        assert!(
            parsed.errors.is_empty(),
            "{}: {}",
            path.display(),
            render_errors(&src, &parsed.errors)
        );
        check_file(&path.with_extension("ast"), &dump(&src, "\n  "));
        let printed = print_program(&parsed.program);
        check_file(&path.with_extension("printed.stan"), &printed);
        check_file(
            &path.with_extension("canonical.stan"),
            &refinestat_language::canonical(&parsed.program),
        );
    }
}

#[test]
fn golden_invalid_programs() {
    for path in stan_files("invalid") {
        let src = std::fs::read_to_string(&path).unwrap();
        let parsed = parse(&src);
        assert!(
            !parsed.errors.is_empty(),
            "{} parsed without errors",
            path.display()
        );
        check_file(
            &path.with_extension("errors"),
            &render_errors(&src, &parsed.errors),
        );
    }
}

/// The prefix contract: every char-boundary prefix of a valid program parses without errors.
#[test]
fn every_prefix_of_a_valid_program_is_accepted() {
    for path in stan_files("valid") {
        let src = std::fs::read_to_string(&path).unwrap();
        for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            let prefix = &src[..end];
            let parsed = parse_prefix(prefix);
            assert!(
                parsed.errors.is_empty(),
                "{} prefix of {end} bytes:\n{prefix}\n{}",
                path.display(),
                render_errors(prefix, &parsed.errors)
            );
        }
    }
}

/// Prefixes with a real syntax error report it; errors at the end of the input are dropped.
#[test]
fn prefix_reports_only_errors_that_no_continuation_can_repair() {
    let errors = |s: &str| render_errors(s, &parse_prefix(s).errors);
    assert_eq!(errors("model { y ~ ~"), "1:13: expected a distribution name after `~`, found `~` (hint: write e.g. `y ~ normal(mu, sigma);`)\n");
    assert_eq!(errors("model { y ~ normal(mu, "), "");
    assert_eq!(errors("model { y ~ normal(mu, sigma) T"), "");
    assert_eq!(errors("model { y ~ normal(mu, sigma) T[0, "), "");
    assert_eq!(errors("parameters { real<lower=0"), "");
    assert_eq!(errors("model { x = 1e"), "");
    assert_eq!(errors("model { x = a %/"), "");
    assert_eq!(errors("model { print(\"abc"), "");
    assert_eq!(errors("model { /* comment"), "");
    assert_eq!(
        errors("parameters { real mu; } model { mu ~ normal(0, 1); } gen"),
        ""
    );
    assert_eq!(
        errors("data { int N; } model { x = 1 + ; "),
        "1:33: expected an expression, found `;`\n"
    );
    assert_eq!(errors("data { real y[N]"), "1:14: array dimensions after the variable name are no longer Stan syntax (hint: write `array[N] real y;`)\n");
    // The whole program parses the same in both modes.
    let full = "data { int N; } model { }";
    assert!(parse_prefix(full).errors.is_empty());
}

/// A trailing unfinished statement is kept as a partial node, so checkers can look at it.
#[test]
fn prefix_keeps_partial_tilde_statement() {
    let parsed = parse_prefix("parameters { real mu; } model { y ~ normal(mu,");
    assert!(parsed.errors.is_empty());
    let model = parsed.program.model.expect("model block");
    let StmtKind::Tilde { dist, args, .. } = &model.stmts[0].kind else {
        panic!("expected a tilde statement, got {:?}", model.stmts[0].kind)
    };
    assert_eq!(dist.name, "normal");
    assert_eq!(args.len(), 2);
    assert!(matches!(&args[0].kind, ExprKind::Var(v) if v.name == "mu"));
    assert!(matches!(args[1].kind, ExprKind::Error));
}

#[test]
fn precedence() {
    check(
        "model { x = -a ^ 2 * b + c .* d ./ e \\ f % g %/% h; }",
        "(model (= x (+ (* (- (^ a 2)) b) (%/% (% (./ (.* c d) (\\ e f)) g) h))))",
    );
    check("model { x = a ^ b ^ c; }", "(model (= x (^ a (^ b c))))");
    check("model { x = a - b - c; }", "(model (= x (- (- a b) c)))");
    check(
        "model { x = a || b && c == d < e + f; }",
        "(model (= x (|| a (&& b (== c (< d (+ e f)))))))",
    );
    check(
        "model { x = c ? a : d ? e : f; }",
        "(model (= x (?: c a (?: d e f))))",
    );
    check(
        "model { x = -x'[1] ^ 2; }",
        "(model (= x (- (^ (index (' x) 1) 2))))",
    );
    check("model { x = 2 ^ -y; }", "(model (= x (^ 2 (- y))))");
    check(
        "model { x = !a + (b); }",
        "(model (= x (+ (! a) (paren b))))",
    );
}

#[test]
fn literals_and_indexing() {
    check(
        "model { x = {1, 2.50, .5, 1e-3, 2E+4}; }",
        "(model (= x (array 1 2.50 .5 1e-3 2E+4)))",
    );
    check(
        "model { x[i, :][2:, :3] = y[i:j, idx]; }",
        "(model (= (lvalue x (i :) (2: :3)) (index y i:j idx)))",
    );
    check(
        "model { z = [[1, 2], [3, 4]] * [1, 2]'; }",
        "(model (= z (* (rowvec (rowvec 1 2) (rowvec 3 4)) (' (rowvec 1 2)))))",
    );
    check(
        "model { target += normal_lupdf(y | mu, 1) + target(); }",
        "(model (target+= (+ (condcall normal_lupdf y mu 1) (call target))))",
    );
}

#[test]
fn conditional_bar_only_for_density_functions() {
    check(
        "model { target += foo(y | 1); }",
        "1:25: `|` separates the outcome only in `_lpdf`, `_lupdf`, `_lpmf`, `_lupmf`, `_lcdf`, `_lccdf` and `_cdf` calls, not in `foo` (hint: separate arguments with `,`)
--
(model (target+= (call foo y 1)))",
    );
}

#[test]
fn statement_errors_are_all_reported() {
    check(
        "model {\n  y ~ normal(0, 1)\n  x = 3;\n  z = ;\n  w ~ ;\n}",
        "2:19: expected `;` after statement, found `x` (hint: add `;` at the end of the previous line)
4:7: expected an expression, found `;`
5:7: expected a distribution name after `~`, found `;` (hint: write e.g. `y ~ normal(mu, sigma);`)
--
(model (~ y normal 0 1) (= x 3) (= z <error>) <error>)",
    );
}

#[test]
fn old_syntax_is_rejected_with_hints() {
    check(
        "data { real y[N, 2]; }\nmodel { y <- 1; }",
        "1:14: array dimensions after the variable name are no longer Stan syntax (hint: write `array[N, 2] real y;`)
2:11: `<-` assignment is not supported (hint: use `=` for assignment)
--
(data (decl (array N 2) real y))
(model (= y 1))",
    );
    check(
        "model { # old comment\n}",
        "1:9: `#` does not start a comment in Stan (hint: write comments with `//` or `/* ... */`)\n--\n(model)",
    );
}

#[test]
fn blocks_out_of_order_or_repeated() {
    check(
        "model { } parameters { real mu; } model { }",
        "1:11: the `parameters` block must come before the `model` block (hint: blocks go in the order data, transformed data, parameters, transformed parameters, model, generated quantities)
1:35: the `model` block appears twice (hint: merge the two blocks into one)
--
(parameters (decl real mu))
(model)",
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let src = format!("model {{ x = {}1{}; }}", "(".repeat(5000), ")".repeat(5000));
    let parsed = parse(&src);
    assert_eq!(parsed.errors.len(), 1, "{:?}", parsed.errors);
    assert!(parsed.errors[0].message.contains("nesting"));
    let src = format!("model {}", "{".repeat(5000));
    assert!(!parse(&src).errors.is_empty());
    let src = format!("model {{ x = {}1; }}", "-".repeat(5000));
    assert!(!parse(&src).errors.is_empty());
    let src = format!("model {{ x = {}1; }}", "a ? b : ".repeat(5000));
    assert!(!parse(&src).errors.is_empty());
}

/// Trees at the depth bound are still printable, canonicalisable and droppable on a small stack.
#[test]
fn deepest_accepted_trees_fit_a_small_stack() {
    let worker = std::thread::Builder::new().stack_size(1 << 20);
    let handle = worker
        .spawn(|| {
            let mut accepted = 0;
            for n in [10, 50, 90, 120, 200, 1000] {
                let cases = [
                    format!("model {{ x = {}1{}; }}", "(".repeat(n), ")".repeat(n)),
                    format!("model {{ x = {}1; }}", "a + ".repeat(n)),
                    format!("model {{ x = {}1; }}", "a ^ ".repeat(n)),
                    format!("model {{ x = {}1; }}", "-".repeat(n)),
                    format!("model {{ {} }}", "if (a) ".repeat(n) + "x = 1;"),
                    format!("model {{ x = {}1{}; }}", "{".repeat(n), "}".repeat(n)),
                ];
                for src in cases {
                    let parsed = parse(&src);
                    let ok = parsed.errors.is_empty();
                    assert!(ok || n > 50, "nesting {n} rejected: {src}");
                    assert!(!ok || n < 200, "nesting {n} accepted");
                    accepted += usize::from(ok);
                    let printed = print_program(&parsed.program);
                    let _ = refinestat_language::canonical(&parsed.program);
                    if parsed.errors.is_empty() {
                        assert!(parse(&printed).errors.is_empty());
                    }
                }
            }
            accepted
        })
        .unwrap();
    // Moderate nesting is accepted, the deepest cases are rejected, nothing overflows the stack.
    let accepted = handle.join().expect("no stack overflow");
    assert!((18..30).contains(&accepted), "accepted {accepted}");
}

// ------------------------------------------------------------------ S-expression dump

fn sexp_program(p: &Program, stmt_sep: &str) -> String {
    let mut out = String::new();
    if let Some(f) = &p.functions {
        out.push_str("(functions");
        for d in &f.defs {
            out.push_str(stmt_sep);
            let params = join(d.params.iter().map(|a| {
                format!(
                    "({}{} {})",
                    if a.data_only { "data " } else { "" },
                    a.ty,
                    a.name.name
                )
            }));
            let ret = d.ret.map_or("void".to_string(), |t| t.to_string());
            match &d.body {
                Some(b) => out.push_str(&format!(
                    "(def {ret} {} ({params}) {})",
                    d.name.name,
                    sexp_stmt(b)
                )),
                None => out.push_str(&format!("(declare {ret} {} ({params}))", d.name.name)),
            }
        }
        out.push_str(")\n");
    }
    for (kind, block) in p.blocks() {
        out.push('(');
        out.push_str(&kind.keyword().replace(' ', "_"));
        for s in &block.stmts {
            out.push_str(stmt_sep);
            out.push_str(&sexp_stmt(s));
        }
        out.push_str(")\n");
    }
    out
}

fn join(items: impl IntoIterator<Item = String>) -> String {
    items.into_iter().collect::<Vec<_>>().join(" ")
}

fn sexp_stmt(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Decl { ty, name, init } => {
            let mut t = format!("(decl {} {}", sexp_type(ty), name.name);
            if let Some(e) = init {
                t.push(' ');
                t.push_str(&sexp(e));
            }
            t.push(')');
            t
        }
        StmtKind::Assign { lhs, op, rhs } => {
            let lv = if lhs.indices.is_empty() {
                lhs.name.name.clone()
            } else {
                format!(
                    "(lvalue {} {})",
                    lhs.name.name,
                    join(lhs.indices.iter().map(|i| format!("({})", sexp_indices(i))))
                )
            };
            format!("({} {lv} {})", op.as_str(), sexp(rhs))
        }
        StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation,
        } => {
            let mut t = format!("(~ {} {}", sexp(lhs), dist.name);
            for a in args {
                t.push(' ');
                t.push_str(&sexp(a));
            }
            if let Some(tr) = truncation {
                let side = |e: &Option<Expr>| e.as_ref().map(sexp).unwrap_or_else(|| "_".into());
                t.push_str(&format!(" (T {} {})", side(&tr.lower), side(&tr.upper)));
            }
            t.push(')');
            t
        }
        StmtKind::TargetPlus(e) => format!("(target+= {})", sexp(e)),
        StmtKind::For {
            var,
            lower,
            upper,
            body,
        } => format!(
            "(for {} {} {} {})",
            var.name,
            sexp(lower),
            sexp(upper),
            sexp_stmt(body)
        ),
        StmtKind::ForEach {
            var,
            container,
            body,
        } => {
            format!(
                "(foreach {} {} {})",
                var.name,
                sexp(container),
                sexp_stmt(body)
            )
        }
        StmtKind::While { cond, body } => format!("(while {} {})", sexp(cond), sexp_stmt(body)),
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => match otherwise {
            Some(o) => format!("(if {} {} {})", sexp(cond), sexp_stmt(then), sexp_stmt(o)),
            None => format!("(if {} {})", sexp(cond), sexp_stmt(then)),
        },
        StmtKind::Block(stmts) => format!("(block {})", join(stmts.iter().map(sexp_stmt))),
        StmtKind::Print(items) => format!("(print {})", sexp_printables(items)),
        StmtKind::Reject(items) => format!("(reject {})", sexp_printables(items)),
        StmtKind::Break => "break".into(),
        StmtKind::Continue => "continue".into(),
        StmtKind::Return(None) => "return".into(),
        StmtKind::Return(Some(e)) => format!("(return {})", sexp(e)),
        StmtKind::Call(e) => format!("(call {})", sexp(e)),
        StmtKind::Empty => "empty".into(),
        StmtKind::Error => "<error>".into(),
    }
}

fn sexp_printables(items: &[Printable]) -> String {
    join(items.iter().map(|p| match p {
        Printable::Str(s) => format!("{s:?}"),
        Printable::Expr(e) => sexp(e),
    }))
}

fn sexp_type(ty: &TypeDecl) -> String {
    let mut t = String::new();
    if !ty.array_dims.is_empty() {
        t.push_str(&format!(
            "(array {}) ",
            join(ty.array_dims.iter().map(sexp))
        ));
    }
    let base = match &ty.base {
        BaseType::Int | BaseType::Real => ty.base.keyword().to_string(),
        BaseType::Matrix(r, c) => format!("(matrix {} {})", sexp(r), sexp(c)),
        BaseType::CholeskyFactorCov(r, Some(c)) => {
            format!("(cholesky_factor_cov {} {})", sexp(r), sexp(c))
        }
        BaseType::CholeskyFactorCov(n, None) | BaseType::CorrMatrix(n) => {
            format!("({} {})", ty.base.keyword(), sexp(n))
        }
        BaseType::Vector(n)
        | BaseType::RowVector(n)
        | BaseType::CholeskyFactorCorr(n)
        | BaseType::CovMatrix(n)
        | BaseType::Simplex(n)
        | BaseType::Ordered(n)
        | BaseType::PositiveOrdered(n) => format!("({} {})", ty.base.keyword(), sexp(n)),
    };
    t.push_str(&base);
    let side = |e: &Option<Expr>| e.as_ref().map(sexp).unwrap_or_else(|| "_".into());
    match &ty.bounds {
        Bounds::None => {}
        Bounds::LowerUpper { lower, upper } => {
            t.push_str(&format!(" (lu {} {})", side(lower), side(upper)))
        }
        Bounds::OffsetMultiplier { offset, multiplier } => {
            t.push_str(&format!(" (om {} {})", side(offset), side(multiplier)))
        }
    }
    t
}

fn sexp_indices(idx: &[Index]) -> String {
    join(idx.iter().map(|i| match i {
        Index::Single(e) => sexp(e),
        Index::All => ":".into(),
        Index::Range { lower, upper } => format!(
            "{}:{}",
            lower.as_ref().map(sexp).unwrap_or_default(),
            upper.as_ref().map(sexp).unwrap_or_default()
        ),
    }))
}

fn sexp(e: &Expr) -> String {
    match &e.kind {
        ExprKind::IntLit(v) => v.to_string(),
        ExprKind::RealLit { text, .. } => text.clone(),
        ExprKind::StrLit(s) => format!("{s:?}"),
        ExprKind::Var(v) => v.name.clone(),
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.as_str(), sexp(lhs), sexp(rhs))
        }
        ExprKind::Unary { op, expr } => format!("({} {})", op.as_str(), sexp(expr)),
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            format!("(?: {} {} {})", sexp(cond), sexp(then), sexp(otherwise))
        }
        ExprKind::Call { name, args } if args.is_empty() => format!("(call {})", name.name),
        ExprKind::Call { name, args } => {
            format!("(call {} {})", name.name, join(args.iter().map(sexp)))
        }
        ExprKind::CondCall { name, args } => {
            format!("(condcall {} {})", name.name, join(args.iter().map(sexp)))
        }
        ExprKind::Index { expr, indices } => {
            format!("(index {} {})", sexp(expr), sexp_indices(indices))
        }
        ExprKind::Transpose(inner) => format!("(' {})", sexp(inner)),
        ExprKind::ArrayLit(items) => format!("(array {})", join(items.iter().map(sexp))),
        ExprKind::RowVectorLit(items) => format!("(rowvec {})", join(items.iter().map(sexp))),
        ExprKind::Paren(inner) => format!("(paren {})", sexp(inner)),
        ExprKind::Error => "<error>".into(),
    }
}

/// Spans are byte ranges of exactly the text each node came from.
#[test]
fn spans_cover_the_source_text_of_each_node() {
    let src = "data { array[N] real<lower=0> y; }\nmodel {\n  y ~ normal(mu + 1, (sigma)) T[0, ];\n  x[i, 2:] += -f(a)';\n}";
    let parsed = parse(src);
    assert!(parsed.errors.is_empty());
    let text = |s: Span| &src[s.range()];
    let data = parsed.program.data.as_ref().unwrap();
    assert_eq!(text(data.span), "data { array[N] real<lower=0> y; }");
    let StmtKind::Decl { ty, name, .. } = &data.stmts[0].kind else {
        panic!("not a declaration")
    };
    assert_eq!(text(data.stmts[0].span), "array[N] real<lower=0> y;");
    assert_eq!(text(ty.span), "array[N] real<lower=0>");
    assert_eq!(text(name.span), "y");
    let model = parsed.program.model.as_ref().unwrap();
    assert!(text(model.span).starts_with("model {") && text(model.span).ends_with('}'));
    let StmtKind::Tilde {
        lhs,
        dist,
        args,
        truncation,
    } = &model.stmts[0].kind
    else {
        panic!("not a tilde statement")
    };
    assert_eq!(
        text(model.stmts[0].span),
        "y ~ normal(mu + 1, (sigma)) T[0, ];"
    );
    assert_eq!(text(lhs.span), "y");
    assert_eq!(text(dist.span), "normal");
    assert_eq!(text(args[0].span), "mu + 1");
    assert_eq!(text(args[1].span), "(sigma)");
    assert_eq!(text(truncation.as_ref().unwrap().span), "T[0, ]");
    let StmtKind::Assign { lhs, rhs, .. } = &model.stmts[1].kind else {
        panic!("not an assignment")
    };
    assert_eq!(text(lhs.span), "x[i, 2:]");
    assert_eq!(text(lhs.name.span), "x");
    assert_eq!(text(rhs.span), "-f(a)'");
}
