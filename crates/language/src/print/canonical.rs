//! The canonical printer: one text for programs that differ only in names of non-data variables,
//! formatting, comments, redundant parentheses, or the order of independent declarations.
//!
//! Method: strip explicit parentheses (the printer re-adds the needed ones); rename every variable
//! except data (and `log_lik`, which the LOO machinery looks up by name) by category and order of
//! first use, model block first, then generated quantities, transformed parameters, parameters and
//! transformed data: `p1..` parameters, `tp1..` transformed parameters, `gq1..` generated
//! quantities, `td1..` transformed data, `l1..` locals and loop variables; then sort the leading run
//! of declarations of every statement list by printed text, keeping each declaration after the ones
//! it refers to. Declaration expressions are walked after all statements, the declaration of the
//! earliest-used name first. Known limit: variables that nothing uses at all (e.g. several unused
//! generated quantities) are numbered in declaration order, then re-sorted until stable; two such
//! declarations that differ only deep in what they refer to may keep their input order.

use super::{print_program, simple_stmt_text};
use crate::ast::*;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Canonical text: equal for programs that differ only in names of locals/parameters, formatting,
/// comments, or the order of independent declarations.
pub fn canonical(program: &Program) -> String {
    let mut p = program.clone();
    strip_parens_program(&mut p);
    // Names of variables used only inside declarations depend on the declaration order, which the
    // sort changes; a few rounds settle both (usually two).
    let mut text = normalise_once(&mut p);
    for _ in 0..MAX_ROUNDS {
        let next = normalise_once(&mut p);
        if next == text {
            break;
        }
        text = next;
    }
    text
}

const MAX_ROUNDS: usize = 6;

/// Rename, sort, print.
fn normalise_once(p: &mut Program) -> String {
    rename(p);
    for kind in BlockKind::ALL {
        if let Some(b) = p.block_mut(kind) {
            sort_decls(&mut b.stmts);
        }
    }
    print_program(p)
}

// ------------------------------------------------------------------ renaming

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Category {
    Data,
    TransformedData,
    Parameter,
    TransformedParameter,
    GeneratedQuantity,
    Local,
}

impl Category {
    fn prefix(self) -> &'static str {
        match self {
            Category::Data => "",
            Category::TransformedData => "td",
            Category::Parameter => "p",
            Category::TransformedParameter => "tp",
            Category::GeneratedQuantity => "gq",
            Category::Local => "l",
        }
    }
}

struct Binding {
    category: Category,
    original: String,
    /// (block priority, position in the walk) of the first use.
    first_use: Option<(u8, usize)>,
}

/// Resolves names with Stan's scoping; run once to collect first uses, once to apply new names.
struct Renamer {
    scopes: Vec<HashMap<String, usize>>,
    bindings: Vec<Binding>,
    /// Next binding id to hand out (the second pass replays the first pass's order).
    next_id: usize,
    seq: usize,
    priority: u8,
    new_names: Option<Vec<String>>,
    /// Names used but not declared anywhere (kept as they are).
    free: HashSet<String>,
    /// Block-level declarations whose expressions are walked after all statements.
    deferred: Vec<Deferred>,
}

/// A postponed declaration: where it is and the binding it declares.
struct Deferred {
    block: BlockKind,
    index: usize,
    binding: usize,
}

fn block_priority(kind: BlockKind) -> u8 {
    match kind {
        BlockKind::Model => 0,
        BlockKind::GeneratedQuantities => 1,
        BlockKind::TransformedParameters => 2,
        BlockKind::Parameters => 3,
        BlockKind::TransformedData => 4,
        BlockKind::Data => 5,
    }
}

fn block_category(kind: BlockKind) -> Category {
    match kind {
        BlockKind::Data => Category::Data,
        BlockKind::TransformedData => Category::TransformedData,
        BlockKind::Parameters => Category::Parameter,
        BlockKind::TransformedParameters => Category::TransformedParameter,
        BlockKind::Model => Category::Local,
        BlockKind::GeneratedQuantities => Category::GeneratedQuantity,
    }
}

fn rename(p: &mut Program) {
    let mut r = Renamer {
        scopes: Vec::new(),
        bindings: Vec::new(),
        next_id: 0,
        seq: 0,
        priority: 0,
        new_names: None,
        free: HashSet::new(),
        deferred: Vec::new(),
    };
    r.walk_program(p);
    let names = r.assign_names();
    r.scopes.clear();
    r.next_id = 0;
    r.new_names = Some(names);
    r.walk_program(p);
}

impl Renamer {
    fn walk_program(&mut self, p: &mut Program) {
        self.scopes.push(HashMap::new());
        for kind in BlockKind::ALL {
            let Some(block) = p.block_mut(kind) else {
                continue;
            };
            self.priority = block_priority(kind);
            let local = kind == BlockKind::Model;
            if local {
                self.scopes.push(HashMap::new());
            }
            // Block-level declarations outside the model block only see block-level names, so
            // their expressions can wait until every statement has been walked.
            let defer = (!local).then_some(kind);
            self.walk_list(&mut block.stmts, block_category(kind), defer);
            if local {
                self.scopes.pop();
            }
        }
        self.walk_deferred(p);
        self.scopes.pop();
    }

    /// Walk the postponed declaration expressions, the declaration of the earliest-used name
    /// first (not in declaration order, which canonicalisation must not depend on).
    fn walk_deferred(&mut self, p: &mut Program) {
        let mut pending = std::mem::take(&mut self.deferred);
        while !pending.is_empty() {
            let key = |d: &Deferred| {
                let first = self.bindings.get(d.binding).and_then(|b| b.first_use);
                first.unwrap_or((u8::MAX, usize::MAX))
            };
            let Some((at, _)) = pending.iter().enumerate().min_by_key(|(i, d)| (key(d), *i)) else {
                break;
            };
            let d = pending.remove(at);
            self.priority = block_priority(d.block);
            let Some(block) = p.block_mut(d.block) else {
                continue;
            };
            if let Some(StmtKind::Decl { ty, init, .. }) =
                block.stmts.get_mut(d.index).map(|s| &mut s.kind)
            {
                walk_type(ty, &mut |e| self.walk_expr(e));
                if let Some(e) = init {
                    self.walk_expr(e);
                }
            }
        }
    }

    /// Number each category by first use; data, `log_lik` and free names stay as they are.
    fn assign_names(&self) -> Vec<String> {
        let kept: HashSet<&str> = self
            .bindings
            .iter()
            .filter(|b| b.category == Category::Data || b.original == "log_lik")
            .map(|b| b.original.as_str())
            .chain(self.free.iter().map(String::as_str))
            .collect();
        let mut names: Vec<String> = self.bindings.iter().map(|b| b.original.clone()).collect();
        for category in [
            Category::TransformedData,
            Category::Parameter,
            Category::TransformedParameter,
            Category::GeneratedQuantity,
            Category::Local,
        ] {
            let mut prefix = category.prefix().to_string();
            // Never produce a name that a kept name already has.
            while kept.iter().any(|k| {
                k.strip_prefix(prefix.as_str()).is_some_and(|rest| {
                    !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                })
            }) {
                prefix.push('x');
            }
            let mut ids: Vec<usize> = (0..self.bindings.len())
                .filter(|&i| {
                    self.bindings[i].category == category && self.bindings[i].original != "log_lik"
                })
                .collect();
            ids.sort_by_key(|&i| {
                (
                    self.bindings[i].first_use.unwrap_or((u8::MAX, usize::MAX)),
                    i,
                )
            });
            for (n, &i) in ids.iter().enumerate() {
                names[i] = format!("{prefix}{}", n + 1);
            }
        }
        names
    }

    /// Bind `ident` in the innermost scope; returns the binding id.
    fn declare(&mut self, ident: &mut Ident, category: Category) -> usize {
        let id = self.next_id;
        self.next_id += 1;
        if self.new_names.is_none() {
            self.bindings.push(Binding {
                category,
                original: ident.name.clone(),
                first_use: None,
            });
        }
        if let Some(scope) = self.scopes.last_mut() {
            scope.insert(ident.name.clone(), id);
        }
        if let Some(names) = &self.new_names {
            ident.name = names[id].clone();
        }
        id
    }

    fn use_name(&mut self, ident: &mut Ident) {
        let found = self
            .scopes
            .iter()
            .rev()
            .find_map(|s| s.get(&ident.name).copied());
        match found {
            Some(id) => match &self.new_names {
                Some(names) => ident.name = names[id].clone(),
                None => {
                    self.seq += 1;
                    let key = (self.priority, self.seq);
                    let b = &mut self.bindings[id];
                    if b.first_use.is_none_or(|k| key < k) {
                        b.first_use = Some(key);
                    }
                }
            },
            None => {
                self.free.insert(ident.name.clone());
            }
        }
    }

    /// A statement list: its leading declarations are declared first, the statements after them
    /// are walked next, and the declarations' own expressions last (their order may change).
    fn walk_list(&mut self, stmts: &mut [Stmt], category: Category, defer: Option<BlockKind>) {
        let run = leading_decls(stmts);
        let mut ids = Vec::with_capacity(run);
        for s in &mut stmts[..run] {
            if let StmtKind::Decl { name, .. } = &mut s.kind {
                ids.push(self.declare(name, category));
            }
        }
        for s in &mut stmts[run..] {
            self.walk_stmt(s, category);
        }
        if let Some(block) = defer {
            for (index, binding) in ids.into_iter().enumerate() {
                self.deferred.push(Deferred {
                    block,
                    index,
                    binding,
                });
            }
            return;
        }
        for s in &mut stmts[..run] {
            if let StmtKind::Decl { ty, init, .. } = &mut s.kind {
                walk_type(ty, &mut |e| self.walk_expr(e));
                if let Some(e) = init {
                    self.walk_expr(e);
                }
            }
        }
    }

    fn walk_expr(&mut self, e: &mut Expr) {
        if let ExprKind::Var(id) = &mut e.kind {
            self.use_name(id);
            return;
        }
        walk_expr_children(e, &mut |c| self.walk_expr(c));
    }

    fn scoped_stmt(&mut self, s: &mut Stmt) {
        self.scopes.push(HashMap::new());
        self.walk_stmt(s, Category::Local);
        self.scopes.pop();
    }

    fn walk_stmt(&mut self, s: &mut Stmt, category: Category) {
        match &mut s.kind {
            StmtKind::Decl { ty, name, init } => {
                walk_type(ty, &mut |e| self.walk_expr(e));
                if let Some(e) = init {
                    self.walk_expr(e);
                }
                self.declare(name, category);
            }
            StmtKind::Assign { lhs, rhs, .. } => {
                self.use_name(&mut lhs.name);
                for idx in &mut lhs.indices {
                    idx.iter_mut()
                        .for_each(|i| walk_index(i, &mut |e| self.walk_expr(e)));
                }
                self.walk_expr(rhs);
            }
            StmtKind::For {
                var,
                lower,
                upper,
                body,
            } => {
                self.walk_expr(lower);
                self.walk_expr(upper);
                self.scopes.push(HashMap::new());
                self.declare(var, Category::Local);
                self.scoped_stmt(body);
                self.scopes.pop();
            }
            StmtKind::ForEach {
                var,
                container,
                body,
            } => {
                self.walk_expr(container);
                self.scopes.push(HashMap::new());
                self.declare(var, Category::Local);
                self.scoped_stmt(body);
                self.scopes.pop();
            }
            StmtKind::While { cond, body } => {
                self.walk_expr(cond);
                self.scoped_stmt(body);
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.walk_expr(cond);
                self.scoped_stmt(then);
                if let Some(o) = otherwise {
                    self.scoped_stmt(o);
                }
            }
            StmtKind::Block(stmts) => {
                self.scopes.push(HashMap::new());
                self.walk_list(stmts, Category::Local, None);
                self.scopes.pop();
            }
            _ => walk_stmt_exprs(s, &mut |e| self.walk_expr(e)),
        }
    }
}

fn leading_decls(stmts: &[Stmt]) -> usize {
    stmts
        .iter()
        .take_while(|s| matches!(s.kind, StmtKind::Decl { .. }))
        .count()
}

// ------------------------------------------------------------------ declaration order

/// Sort the leading declarations of `stmts` (and of every nested list) by printed text, keeping
/// each declaration after the declarations its sizes, bounds and initial value mention.
fn sort_decls(stmts: &mut Vec<Stmt>) {
    for s in stmts.iter_mut() {
        sort_nested(s);
    }
    let run = leading_decls(stmts);
    if run < 2 {
        return;
    }
    let names: Vec<String> = stmts[..run]
        .iter()
        .map(|s| match &s.kind {
            StmtKind::Decl { name, .. } => name.name.clone(),
            _ => String::new(),
        })
        .collect();
    let texts: Vec<String> = stmts[..run].iter().map(simple_stmt_text).collect();
    // deps[j] = earlier declarations that declaration j mentions.
    let mut deps: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); run];
    for (j, s) in stmts[..run].iter_mut().enumerate() {
        let mut used = HashSet::new();
        if let StmtKind::Decl { ty, init, .. } = &mut s.kind {
            walk_type(ty, &mut |e| collect_vars(e, &mut used));
            if let Some(e) = init {
                collect_vars(e, &mut used);
            }
        }
        for (i, name) in names[..j].iter().enumerate() {
            if used.contains(name) {
                deps[j].insert(i);
            }
        }
    }
    let mut placed = vec![false; run];
    let mut order = Vec::with_capacity(run);
    while order.len() < run {
        let next = (0..run)
            .filter(|&j| !placed[j] && deps[j].iter().all(|&i| placed[i]))
            .min_by(|&a, &b| texts[a].cmp(&texts[b]).then(a.cmp(&b)));
        // The candidates are never empty: dependencies only point backwards.
        let Some(next) = next else { break };
        placed[next] = true;
        order.push(next);
    }
    let mut old: Vec<Option<Stmt>> = stmts.drain(..run).map(Some).collect();
    let sorted: Vec<Stmt> = order.iter().filter_map(|&i| old[i].take()).collect();
    stmts.splice(0..0, sorted);
}

fn sort_nested(s: &mut Stmt) {
    match &mut s.kind {
        StmtKind::Block(stmts) => sort_decls(stmts),
        StmtKind::For { body, .. }
        | StmtKind::ForEach { body, .. }
        | StmtKind::While { body, .. } => sort_nested(body),
        StmtKind::If {
            then, otherwise, ..
        } => {
            sort_nested(then);
            if let Some(o) = otherwise {
                sort_nested(o);
            }
        }
        _ => {}
    }
}

fn collect_vars(e: &mut Expr, out: &mut HashSet<String>) {
    if let ExprKind::Var(id) = &e.kind {
        out.insert(id.name.clone());
        return;
    }
    walk_expr_children(e, &mut |c| collect_vars(c, out));
}

// ------------------------------------------------------------------ traversal helpers

fn strip_parens_program(p: &mut Program) {
    if let Some(f) = &mut p.functions {
        for body in f.defs.iter_mut().filter_map(|d| d.body.as_mut()) {
            walk_stmt_exprs(body, &mut strip_parens);
        }
    }
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
        BaseType::Matrix(r, c) | BaseType::CholeskyFactorCov(r, Some(c)) => {
            f(r);
            f(c);
        }
        BaseType::Vector(n)
        | BaseType::RowVector(n)
        | BaseType::CholeskyFactorCorr(n)
        | BaseType::CholeskyFactorCov(n, None)
        | BaseType::CorrMatrix(n)
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
        StmtKind::TargetPlus(e) | StmtKind::Call(e) | StmtKind::Return(Some(e)) => f(e),
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
        StmtKind::Break
        | StmtKind::Continue
        | StmtKind::Return(None)
        | StmtKind::Empty
        | StmtKind::Error => {}
    }
}
