//! Pretty printer and canonical printer.
//!
//! [`print_program`] writes the house layout: blocks separated by a blank line, 4-space indent, one
//! statement per line, spaces around binary operators, real literals as written. It keeps explicit
//! parentheses ([`ExprKind::Paren`]) and adds only the parentheses a tree without them needs, so a
//! parsed program prints to text that parses back to the same tree (spans aside).
//!
//! [`canonical`] (in `canonical` module) normalises names, declaration order and
//! parentheses before printing.

mod canonical;

pub use canonical::canonical;

use crate::ast::*;

/// Stan source text in the house layout (4-space indent, one statement per line).
pub fn print_program(program: &Program) -> String {
    Printer::new("", Vec::new()).program(program)
}

/// [`print_program`] keeping the comments of `src`, the text `program` was parsed from: a comment
/// is printed on its own line before the statement, declaration or block it precedes (at that
/// statement's indent), or after the statement it follows on the same line. A comment inside a
/// statement's own text (between two arguments, say) moves to just after that statement. Nothing
/// of a comment is lost or changed; printing the result again gives the same text.
pub fn print_program_with_comments(program: &Program, src: &str) -> String {
    Printer::new(src, crate::comments::comments(src)).program(program)
}

/// One expression as source text (minimal parentheses, explicit ones kept).
pub fn print_expr(expr: &Expr) -> String {
    expr_text(expr)
}

/// One statement (and its nested statements) as source text, starting at indent level 0.
pub fn print_stmt(stmt: &Stmt) -> String {
    let mut p = Printer::new("", Vec::new());
    p.stmt(stmt, 0);
    p.out
}

/// A declared type as source text, e.g. `array[N] vector<lower=0>[K]`.
pub fn print_type(ty: &TypeDecl) -> String {
    type_text(ty)
}

const INDENT: &str = "    ";

struct Printer<'a> {
    out: String,
    /// The source text the comments came from (empty when none are kept).
    src: &'a str,
    /// The comments still to print, in source order, from `next` on.
    comments: Vec<crate::comments::Comment>,
    next: usize,
}

impl<'a> Printer<'a> {
    fn new(src: &'a str, comments: Vec<crate::comments::Comment>) -> Printer<'a> {
        Printer {
            out: String::new(),
            src,
            comments,
            next: 0,
        }
    }

    fn program(mut self, program: &Program) -> String {
        if let Some(f) = &program.functions {
            self.leading(f.span.start, 0);
            self.out.push_str("functions {\n");
            for (i, def) in f.defs.iter().enumerate() {
                if i > 0 && (def.body.is_some() || f.defs[i - 1].body.is_some()) {
                    self.out.push('\n');
                }
                self.leading(def.span.start, 1);
                self.pad(1);
                self.out.push_str(&fun_signature(def));
                match &def.body {
                    None => self.out.push_str(";\n"),
                    Some(body) => {
                        self.out.push(' ');
                        self.stmt_tail(body, 1);
                    }
                }
                self.trailing(def.span.end);
            }
            self.leading(f.span.end, 1);
            self.out.push_str("}\n");
        }
        for (i, (kind, block)) in program.blocks().enumerate() {
            if i > 0 || program.functions.is_some() {
                self.out.push('\n');
            }
            self.leading(block.span.start, 0);
            self.out.push_str(kind.keyword());
            self.out.push_str(" {\n");
            for s in &block.stmts {
                self.stmt(s, 1);
            }
            self.leading(block.span.end, 1);
            self.out.push_str("}\n");
        }
        self.leading(u32::MAX, 0);
        self.out
    }

    /// Print, each on its own line at `indent`, the comments that start before byte `before`.
    fn leading(&mut self, before: u32, indent: usize) {
        while let Some(c) = self.comments.get(self.next) {
            if c.span.start >= before {
                break;
            }
            let text = c.text.clone();
            self.next += 1;
            self.pad(indent);
            self.out.push_str(&text);
            self.out.push('\n');
        }
    }

    /// Append to the line just written the comment that starts on the source line where the
    /// statement ending at byte `end` ends, if there is one.
    fn trailing(&mut self, end: u32) {
        let Some(c) = self.comments.get(self.next) else {
            return;
        };
        let between = self.src.get(end as usize..c.span.start as usize);
        if c.own_line || c.span.start < end || between.is_none_or(|t| t.contains('\n')) {
            return;
        }
        if self.out.ends_with('\n') {
            self.out.pop();
        }
        let text = c.text.clone();
        self.next += 1;
        self.out.push(' ');
        self.out.push_str(&text);
        self.out.push('\n');
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push_str(INDENT);
        }
    }

    fn stmt(&mut self, s: &Stmt, indent: usize) {
        self.leading(s.span.start, indent);
        self.pad(indent);
        self.stmt_tail(s, indent);
        self.trailing(s.span.end);
    }

    /// Write `s` from the current position (the line is already indented); ends with a newline.
    fn stmt_tail(&mut self, s: &Stmt, indent: usize) {
        match &s.kind {
            StmtKind::Block(stmts) => {
                self.out.push_str("{\n");
                for s in stmts {
                    self.stmt(s, indent + 1);
                }
                self.leading(s.span.end, indent + 1);
                self.pad(indent);
                self.out.push_str("}\n");
            }
            StmtKind::For {
                var,
                lower,
                upper,
                body,
            } => {
                self.out.push_str(&format!(
                    "for ({} in {}:{}) ",
                    var.name,
                    expr_min(lower, 1),
                    expr_min(upper, 0)
                ));
                self.stmt_tail(body, indent);
            }
            StmtKind::ForEach {
                var,
                container,
                body,
            } => {
                self.out
                    .push_str(&format!("for ({} in {}) ", var.name, expr_text(container)));
                self.stmt_tail(body, indent);
            }
            StmtKind::While { cond, body } => {
                self.out.push_str(&format!("while ({}) ", expr_text(cond)));
                self.stmt_tail(body, indent);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.out.push_str(&format!("if ({}) ", expr_text(cond)));
                match otherwise {
                    None => self.stmt_tail(then, indent),
                    Some(otherwise) => {
                        if ends_in_open_if(then) {
                            // Braces keep a dangling `else` attached to this `if`.
                            let wrapped = Stmt {
                                kind: StmtKind::Block(vec![(**then).clone()]),
                                span: then.span,
                            };
                            self.stmt_tail(&wrapped, indent);
                        } else {
                            self.stmt_tail(then, indent);
                        }
                        if self.out.ends_with("}\n") {
                            self.out.pop();
                            self.out.push(' ');
                        } else {
                            self.pad(indent);
                        }
                        self.out.push_str("else ");
                        self.stmt_tail(otherwise, indent);
                    }
                }
            }
            _ => {
                self.out.push_str(&simple_stmt_text(s));
                self.out.push('\n');
            }
        }
    }
}

/// `real foo(data real x, vector y)`: a function's signature without body.
pub fn fun_signature(def: &FunDef) -> String {
    let ret = def.ret.map_or("void".to_string(), |t| t.to_string());
    let params: Vec<String> = def
        .params
        .iter()
        .map(|p| {
            format!(
                "{}{} {}",
                if p.data_only { "data " } else { "" },
                p.ty,
                p.name.name
            )
        })
        .collect();
    format!("{ret} {}({})", def.name.name, params.join(", "))
}

/// Whether `s` ends in an `if` without `else` (an `else` printed after it would attach to it).
fn ends_in_open_if(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::If {
            otherwise: None, ..
        } => true,
        StmtKind::If {
            otherwise: Some(o), ..
        } => ends_in_open_if(o),
        StmtKind::For { body, .. }
        | StmtKind::ForEach { body, .. }
        | StmtKind::While { body, .. } => ends_in_open_if(body),
        _ => false,
    }
}

/// Statements without nested statements, as one line without the newline.
pub(crate) fn simple_stmt_text(s: &Stmt) -> String {
    match &s.kind {
        StmtKind::Decl { ty, name, init } => match init {
            Some(e) => format!("{} {} = {};", type_text(ty), name.name, expr_text(e)),
            None => format!("{} {};", type_text(ty), name.name),
        },
        StmtKind::Assign { lhs, op, rhs } => {
            format!("{} {} {};", lvalue_text(lhs), op.as_str(), expr_text(rhs))
        }
        StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation,
        } => {
            let mut t = format!("{} ~ {}({})", expr_text(lhs), dist.name, list(args));
            if let Some(tr) = truncation {
                let lo = tr.lower.as_ref().map(expr_text).unwrap_or_default();
                let hi = tr.upper.as_ref().map(expr_text).unwrap_or_default();
                t.push_str(&format!(" T[{lo}, {hi}]"));
            }
            t.push(';');
            t
        }
        StmtKind::TargetPlus(e) => format!("target += {};", expr_text(e)),
        StmtKind::Print(items) => format!("print({});", printables(items)),
        StmtKind::Reject(items) => format!("reject({});", printables(items)),
        StmtKind::Break => "break;".to_string(),
        StmtKind::Continue => "continue;".to_string(),
        StmtKind::Return(None) => "return;".to_string(),
        StmtKind::Return(Some(e)) => format!("return {};", expr_text(e)),
        StmtKind::Call(e) => format!("{};", expr_text(e)),
        StmtKind::Empty => ";".to_string(),
        StmtKind::Error => "__error__;".to_string(),
        // Compound statements are printed by `Printer::stmt_tail`; inline fallback for completeness.
        StmtKind::Block(_)
        | StmtKind::For { .. }
        | StmtKind::ForEach { .. }
        | StmtKind::While { .. }
        | StmtKind::If { .. } => {
            let mut p = Printer::new("", Vec::new());
            p.stmt_tail(s, 0);
            p.out.trim_end().to_string()
        }
    }
}

fn printables(items: &[Printable]) -> String {
    items
        .iter()
        .map(|p| match p {
            Printable::Str(s) => format!("\"{s}\""),
            Printable::Expr(e) => expr_text(e),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn lvalue_text(lv: &LValue) -> String {
    let mut t = lv.name.name.clone();
    for idx in &lv.indices {
        t.push_str(&format!("[{}]", indices_text(idx)));
    }
    t
}

fn type_text(ty: &TypeDecl) -> String {
    let mut t = String::new();
    if !ty.array_dims.is_empty() {
        t.push_str(&format!("array[{}] ", list(&ty.array_dims)));
    }
    t.push_str(ty.base.keyword());
    let bound =
        |name: &str, e: &Option<Expr>| e.as_ref().map(|e| format!("{name}={}", expr_min(e, 5)));
    let parts: Vec<String> = match &ty.bounds {
        Bounds::None => Vec::new(),
        Bounds::LowerUpper { lower, upper } => [bound("lower", lower), bound("upper", upper)]
            .into_iter()
            .flatten()
            .collect(),
        Bounds::OffsetMultiplier { offset, multiplier } => {
            [bound("offset", offset), bound("multiplier", multiplier)]
                .into_iter()
                .flatten()
                .collect()
        }
    };
    if !parts.is_empty() {
        t.push_str(&format!("<{}>", parts.join(", ")));
    }
    match &ty.base {
        BaseType::Int | BaseType::Real => {}
        BaseType::Matrix(r, c) | BaseType::CholeskyFactorCov(r, Some(c)) => {
            t.push_str(&format!("[{}, {}]", expr_text(r), expr_text(c)))
        }
        BaseType::CholeskyFactorCov(n, None) | BaseType::CorrMatrix(n) => {
            t.push_str(&format!("[{}]", expr_text(n)))
        }
        BaseType::Vector(n)
        | BaseType::RowVector(n)
        | BaseType::CholeskyFactorCorr(n)
        | BaseType::CovMatrix(n)
        | BaseType::Simplex(n)
        | BaseType::Ordered(n)
        | BaseType::PositiveOrdered(n) => t.push_str(&format!("[{}]", expr_text(n))),
    }
    t
}

fn list(items: &[Expr]) -> String {
    items.iter().map(expr_text).collect::<Vec<_>>().join(", ")
}

fn indices_text(idx: &[Index]) -> String {
    idx.iter()
        .map(|i| match i {
            Index::Single(e) => expr_text(e),
            Index::All => ":".to_string(),
            Index::Range { lower, upper } => format!(
                "{}:{}",
                lower.as_ref().map(|e| expr_min(e, 1)).unwrap_or_default(),
                upper.as_ref().map(|e| expr_min(e, 1)).unwrap_or_default()
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Binding strength of the expression's outermost construct (higher binds tighter).
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Ternary { .. } => 0,
        ExprKind::Binary { op, .. } => op.precedence(),
        ExprKind::Unary { .. } => 8,
        ExprKind::IntLit(v) if *v < 0 => 8,
        ExprKind::RealLit { value, text }
            if text.starts_with('-') || (text.is_empty() && value.is_sign_negative()) =>
        {
            8
        }
        ExprKind::Index { .. } | ExprKind::Transpose(_) => 10,
        _ => 11,
    }
}

/// `e`, parenthesised when it binds looser than `min`.
fn expr_min(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", expr_text(e))
    } else {
        expr_text(e)
    }
}

fn expr_text(e: &Expr) -> String {
    match &e.kind {
        ExprKind::IntLit(v) => v.to_string(),
        ExprKind::RealLit { value, text } => {
            if text.is_empty() {
                format!("{value:?}")
            } else {
                text.clone()
            }
        }
        ExprKind::StrLit(s) => format!("\"{s}\""),
        ExprKind::Var(id) => id.name.clone(),
        ExprKind::Binary { op, lhs, rhs } => {
            let p = op.precedence();
            let (lmin, rmin) = if op.right_assoc() {
                (p + 1, p)
            } else {
                (p, p + 1)
            };
            // A unary operator may always start a right operand: `a * -b`, `2 ^ -x`.
            let rhs_text = if matches!(rhs.kind, ExprKind::Unary { .. }) {
                expr_text(rhs)
            } else {
                expr_min(rhs, rmin)
            };
            format!("{} {} {}", expr_min(lhs, lmin), op.as_str(), rhs_text)
        }
        ExprKind::Unary { op, expr } => format!("{}{}", op.as_str(), expr_min(expr, 8)),
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => format!(
            "{} ? {} : {}",
            expr_min(cond, 1),
            expr_text(then),
            expr_text(otherwise)
        ),
        ExprKind::Call { name, args } => format!("{}({})", name.name, list(args)),
        ExprKind::CondCall { name, args } => match args.split_first() {
            Some((first, [])) => {
                format!("{}({} |)", name.name, expr_text(first))
            }
            Some((first, rest)) => format!("{}({} | {})", name.name, expr_text(first), list(rest)),
            None => format!("{}()", name.name),
        },
        ExprKind::Index { expr, indices } => {
            format!("{}[{}]", expr_min(expr, 10), indices_text(indices))
        }
        ExprKind::Transpose(inner) => format!("{}'", expr_min(inner, 10)),
        ExprKind::ArrayLit(items) => format!("{{{}}}", list(items)),
        ExprKind::RowVectorLit(items) => format!("[{}]", list(items)),
        ExprKind::Paren(inner) => format!("({})", expr_text(inner)),
        ExprKind::Error => "__error__".to_string(),
    }
}
