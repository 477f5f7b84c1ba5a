//! Measures the sizes that the grammar of `refinestat_synthesis::grammar` bounds, over every
//! program the built-in model can write (all derivations of its weighted grammar, default and
//! sloppy settings, on the five shipped datasets) and over Stan files given on the command line:
//! statements per block, statement nesting, expression nesting, operator chains (all operators of
//! one depth), postfix operators, arguments, indexes, variable name and literal lengths,
//! whitespace runs.
//! Usage: `cargo run --release -p refinestat-synthesis --example grammar_bounds [FILE.stan ...]`.

use refinestat_language::ast::{BlockKind, Expr, ExprKind, Index, Printable, Stmt, StmtKind};
use refinestat_language::{parse, Data};
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{data_block, BuiltinConfig, BuiltinModel};
use std::collections::BTreeMap;

/// The largest value seen of each measured size, with an example of where.
#[derive(Default)]
struct Maxima(BTreeMap<&'static str, (usize, String)>);

impl Maxima {
    fn see(&mut self, what: &'static str, value: usize, origin: &str) {
        let entry = self.0.entry(what).or_insert((0, String::new()));
        if value > entry.0 {
            *entry = (value, origin.to_string());
        }
    }
}

/// Operands of the operator chain rooted at `e`, whatever the operators' precedence: the grammar
/// writes one depth level's operators as one flat chain.
fn chain_operands(e: &Expr) -> usize {
    match &e.kind {
        ExprKind::Binary { lhs, rhs, .. } => chain_operands(lhs) + chain_operands(rhs),
        ExprKind::Unary { expr, .. } => chain_operands(expr),
        _ => 1,
    }
}

/// Walk an expression at nesting `depth` (0 = not inside any bracket).
fn expr(e: &Expr, depth: usize, src: &str, m: &mut Maxima, origin: &str) {
    m.see("expression depth", depth, origin);
    const AT_DEPTH: [&str; 6] = [
        "chain operands at depth 0",
        "chain operands at depth 1",
        "chain operands at depth 2",
        "chain operands at depth 3",
        "chain operands at depth 4",
        "chain operands at depth 5+",
    ];
    m.see(AT_DEPTH[depth.min(5)], chain_operands(e), origin);
    match &e.kind {
        ExprKind::IntLit(_) | ExprKind::RealLit { .. } => {
            m.see("numeric literal chars", src[e.span.range()].len(), origin)
        }
        ExprKind::Var(name) => m.see("identifier chars", name.name.len(), origin),
        ExprKind::StrLit(_) | ExprKind::Error => {}
        ExprKind::Binary { lhs, rhs, .. } => {
            expr(lhs, depth, src, m, origin);
            expr(rhs, depth, src, m, origin);
        }
        ExprKind::Unary { expr: inner, .. } => expr(inner, depth, src, m, origin),
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => {
            m.see("ternaries", 1, origin);
            expr(cond, depth, src, m, origin);
            expr(then, depth + 1, src, m, origin);
            expr(otherwise, depth + 1, src, m, origin);
        }
        ExprKind::Call { name, args } | ExprKind::CondCall { name, args } => {
            m.see("function name chars", name.name.len(), origin);
            m.see("arguments", args.len(), origin);
            for a in args {
                expr(a, depth + 1, src, m, origin);
            }
        }
        ExprKind::Index {
            expr: inner,
            indices,
        } => {
            let mut postfix = 1;
            let mut base = inner.as_ref();
            while let ExprKind::Index { expr, .. } | ExprKind::Transpose(expr) = &base.kind {
                postfix += 1;
                base = expr;
            }
            m.see("postfix operators", postfix, origin);
            expr(inner, depth, src, m, origin);
            index_list(indices, depth + 1, src, m, origin);
        }
        ExprKind::Transpose(inner) => expr(inner, depth, src, m, origin),
        ExprKind::ArrayLit(items) | ExprKind::RowVectorLit(items) => {
            m.see("arguments", items.len(), origin);
            for a in items {
                expr(a, depth + 1, src, m, origin);
            }
        }
        ExprKind::Paren(inner) => expr(inner, depth + 1, src, m, origin),
    }
}

fn index_list(indices: &[Index], depth: usize, src: &str, m: &mut Maxima, origin: &str) {
    m.see("indexes", indices.len(), origin);
    for i in indices {
        match i {
            Index::Single(e) => expr(e, depth, src, m, origin),
            Index::All => {}
            Index::Range { lower, upper } => {
                for e in lower.iter().chain(upper) {
                    expr(e, depth, src, m, origin);
                }
            }
        }
    }
}

/// Walk a statement at statement nesting `level` (0 = directly in a block).
fn stmt(s: &Stmt, level: usize, src: &str, m: &mut Maxima, origin: &str) {
    m.see("statement nesting", level, origin);
    let body = |b: &Stmt, m: &mut Maxima| match &b.kind {
        StmtKind::Block(stmts) => {
            m.see("statements per nested block", stmts.len(), origin);
            for s in stmts {
                stmt(s, level + 1, src, m, origin);
            }
        }
        _ => stmt(b, level + 1, src, m, origin),
    };
    match &s.kind {
        StmtKind::Decl { ty, name, init } => {
            m.see("identifier chars", name.name.len(), origin);
            m.see("indexes", ty.array_dims.len(), origin);
            for e in &ty.array_dims {
                expr(e, 1, src, m, origin);
            }
            if let Some(e) = init {
                expr(e, 0, src, m, origin);
            }
        }
        StmtKind::Assign { lhs, rhs, .. } => {
            m.see("identifier chars", lhs.name.name.len(), origin);
            m.see("postfix operators", lhs.indices.len(), origin);
            for list in &lhs.indices {
                index_list(list, 1, src, m, origin);
            }
            expr(rhs, 0, src, m, origin);
        }
        StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation,
        } => {
            expr(lhs, 0, src, m, origin);
            m.see("function name chars", dist.name.len(), origin);
            m.see("arguments", args.len(), origin);
            for a in args {
                expr(a, 1, src, m, origin);
            }
            if let Some(t) = truncation {
                for e in t.lower.iter().chain(&t.upper) {
                    expr(e, 1, src, m, origin);
                }
            }
        }
        StmtKind::TargetPlus(e) => expr(e, 0, src, m, origin),
        StmtKind::For {
            lower,
            upper,
            body: b,
            ..
        } => {
            expr(lower, 1, src, m, origin);
            expr(upper, 1, src, m, origin);
            body(b, m);
        }
        StmtKind::ForEach {
            container, body: b, ..
        } => {
            expr(container, 1, src, m, origin);
            body(b, m);
        }
        StmtKind::While { cond, body: b } => {
            expr(cond, 1, src, m, origin);
            body(b, m);
        }
        StmtKind::If {
            cond,
            then,
            otherwise,
        } => {
            expr(cond, 1, src, m, origin);
            body(then, m);
            if let Some(o) = otherwise {
                body(o, m);
            }
        }
        StmtKind::Block(stmts) => {
            m.see("statements per nested block", stmts.len(), origin);
            for s in stmts {
                stmt(s, level + 1, src, m, origin);
            }
        }
        StmtKind::Print(items) | StmtKind::Reject(items) => {
            m.see("arguments", items.len(), origin);
            for item in items {
                if let Printable::Expr(e) = item {
                    expr(e, 1, src, m, origin);
                }
            }
        }
        _ => {}
    }
}

/// Measure the part of `program` after its data block.
fn measure(program: &str, m: &mut Maxima, origin: &str) {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        eprintln!("{origin}: does not parse: {:?}", parsed.errors[0]);
        return;
    }
    let mut after_data = 0;
    for (kind, block) in parsed.program.blocks() {
        if kind == BlockKind::Data {
            after_data = block.span.end as usize;
            continue;
        }
        m.see("statements per block", block.stmts.len(), origin);
        for s in &block.stmts {
            stmt(s, 0, program, m, origin);
        }
    }
    let rest = &program[after_data..];
    let longest_ws = rest
        .split(|c: char| !c.is_ascii_whitespace())
        .map(str::len)
        .max()
        .unwrap_or(0);
    m.see("whitespace run chars", longest_ws, origin);
    m.see(
        "comments",
        rest.matches("//").count() + rest.matches("/*").count(),
        origin,
    );
}

fn main() {
    let mut builtin = Maxima::default();
    let mut derivations = 0;
    let shapes = [
        r#"{"N": 5, "y": [1.2, 0.3, -0.5, 2.2, 1.1], "x": [1, 2, 3, 4, 5], "mu": 1.0, "sigma": 2.0, "alpha": 0.5, "K": 3}"#,
        r#"{"N": 6, "x": [0.1, 0.5, 0.9, 1.3, 1.7, 2.1], "k": [0, 2, 1, 4, 7, 9]}"#,
        r#"{"T": 4, "z": [3.5, 4.1, 2.9, 5.0]}"#,
        r#"{"N": 5, "b": [0, 1, 1, 0, 1], "theta": 2}"#,
    ];
    let mut datasets: Vec<(String, Data)> = DATASET_NAMES
        .iter()
        .map(|n| (n.to_string(), dataset(n).expect("shipped dataset")))
        .collect();
    for (i, text) in shapes.iter().enumerate() {
        let data = Data::from_json_str(text).expect("valid JSON");
        datasets.push((format!("shape{i}"), data));
    }
    for (name, data) in &datasets {
        for sloppiness in [BuiltinConfig::default().sloppiness, 0.5] {
            let config = BuiltinConfig {
                sloppiness,
                ..BuiltinConfig::default()
            };
            let model = BuiltinModel::with_config(data, &config);
            let prompt = data_block(data);
            for (i, (generated, _)) in model.programs().enumerate() {
                derivations += 1;
                let program = format!("{prompt}{generated}");
                measure(&program, &mut builtin, &format!("{name}#{i}"));
            }
        }
    }
    println!("built-in model: {derivations} derivations");
    for (what, (value, origin)) in &builtin.0 {
        println!("  {what:<30} {value:>4}   ({origin})");
    }
    let files: Vec<String> = std::env::args().skip(1).collect();
    if !files.is_empty() {
        let mut given = Maxima::default();
        for f in &files {
            match std::fs::read_to_string(f) {
                Ok(text) => measure(&text, &mut given, f),
                Err(e) => eprintln!("{f}: {e}"),
            }
        }
        println!("{} files", files.len());
        for (what, (value, origin)) in &given.0 {
            println!("  {what:<30} {value:>4}   ({origin})");
        }
    }
}
