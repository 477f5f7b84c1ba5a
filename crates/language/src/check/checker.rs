//! The checking walk: one pass over the blocks in order, declaring names as they appear and
//! checking every statement; expressions are typed in [`super::expr`], distribution applications in
//! [`super::dist`], data values in [`super::data_check`].
//!
//! Prefix mode: everything ending at or after the `frontier` (the end of the last token) may still
//! grow, so its type and value are treated as unknown, and a name touching the end of the input is
//! only required to be the start of some known name.

use super::functions::{FnCtx, UserFn};
use super::intervals::Interval;
use super::scope::{Origin, Scopes, Symbol, DEP_DATA, DEP_PARAM};
use super::types::{Base, Sizes, Structure, Ty};
use crate::ast::*;
use crate::data::Data;
use crate::diagnostic::{Diagnostic, Predicate};
use crate::print::print_expr;

/// What the checker knows about an expression.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Info {
    /// `None` when unknown (an error already reported, or an unfinished prefix).
    pub ty: Option<Ty>,
    pub sizes: Sizes,
    pub range: Interval,
    pub structure: Structure,
    pub deps: u8,
    /// The declared variable this expression reads, when it is a variable (possibly indexed).
    pub root: Option<usize>,
}

impl Info {
    pub fn unknown() -> Info {
        Info {
            ty: None,
            sizes: Sizes::UNKNOWN,
            range: Interval::ALL,
            structure: Structure::Unknown,
            deps: 0,
            root: None,
        }
    }

    pub fn of(ty: Ty, range: Interval) -> Info {
        Info {
            ty: Some(ty),
            range,
            ..Info::unknown()
        }
    }
}

pub(crate) struct Checker<'p, 'd, 's> {
    pub data: Option<&'d Data>,
    pub src: Option<&'s str>,
    pub diags: Vec<Diagnostic>,
    pub scopes: Scopes<'p, 'd>,
    pub block: BlockKind,
    pub loop_depth: u32,
    /// Byte offset of the end of the last token of a prefix; `usize::MAX` for whole programs.
    pub frontier: usize,
    /// The last token of a prefix may still grow (an identifier or number touching the end).
    pub open_end: bool,
    /// Top-level declarations of every block, for "declared later" messages.
    pub later: Vec<(&'p str, BlockKind)>,
    /// Signatures of the user-defined functions.
    pub user_fns: Vec<UserFn<'p>>,
    /// The function whose body is being checked, if any.
    pub func: Option<FnCtx<'p>>,
    /// The range found for each expression checked so far, by span (for patterns such as
    /// `a / (a + b)` that look at sub-expressions).
    pub ranges: std::collections::HashMap<(u32, u32), Interval>,
}

impl<'p, 'd, 's> Checker<'p, 'd, 's> {
    pub fn new(
        program: &'p Program,
        data: Option<&'d Data>,
        src: Option<&'s str>,
        prefix: bool,
    ) -> Self {
        let (frontier, open_end) = match (src, prefix) {
            (Some(s), true) => {
                let trimmed = s.trim_end();
                let open = trimmed.len() == s.len()
                    && trimmed
                        .chars()
                        .last()
                        .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.');
                (trimmed.len(), open)
            }
            _ => (usize::MAX, false),
        };
        let mut later = Vec::new();
        for (kind, block) in program.blocks() {
            for s in &block.stmts {
                if let StmtKind::Decl { name, .. } = &s.kind {
                    later.push((name.name.as_str(), kind));
                }
            }
        }
        Checker {
            data,
            src,
            diags: Vec::new(),
            scopes: Scopes::default(),
            block: BlockKind::Data,
            loop_depth: 0,
            frontier,
            open_end,
            later,
            user_fns: Vec::new(),
            func: None,
            ranges: std::collections::HashMap::new(),
        }
    }

    pub fn run(&mut self, program: &'p Program, only_data: bool) {
        if let (Some(f), false) = (&program.functions, only_data) {
            self.functions_block(f);
        }
        for (kind, block) in program.blocks() {
            if only_data && kind != BlockKind::Data {
                break;
            }
            self.block = kind;
            // Model-block declarations are locals: invisible to generated quantities.
            let local = kind == BlockKind::Model;
            if local {
                self.scopes.push();
            }
            for s in &block.stmts {
                self.stmt(s, true);
            }
            if local {
                self.scopes.pop();
            }
        }
    }

    pub fn report(
        &mut self,
        predicate: Predicate,
        span: Span,
        message: String,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::new(predicate, span, message);
        d.hint = hint;
        self.diags.push(d);
    }

    /// The same as [`Self::report`], as a warning: a violation interval analysis cannot rule out
    /// but that is not certain either.
    pub fn warn(
        &mut self,
        predicate: Predicate,
        span: Span,
        message: String,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::new(predicate, span, message);
        d.hint = hint;
        d.severity = crate::diagnostic::Severity::Warning;
        self.diags.push(d);
    }

    /// Does every value of the checker's range of `e` certainly occur, so that a range outside a
    /// support is a certain violation (an error) rather than a possible one (a warning)? True
    /// for literals and for a data variable with known values read directly (possibly indexed).
    /// Not for a parameter: its declared range says where the sampler may go, not where it
    /// goes, and the density rejects values outside a support at run time, as Stan's does
    /// (`real<lower=0> sigma; sigma ~ uniform(0, 100)` compiles and samples in Stan; it is a
    /// warning here, an error under `check --strict` and for the decoder).
    pub fn exact_range(&self, e: &Expr) -> bool {
        let mut e = e.unparen();
        loop {
            match &e.kind {
                ExprKind::IntLit(_) | ExprKind::RealLit { .. } => return true,
                ExprKind::Unary {
                    op: UnOp::Neg,
                    expr,
                } if matches!(
                    expr.unparen().kind,
                    ExprKind::IntLit(_) | ExprKind::RealLit { .. }
                ) =>
                {
                    return true
                }
                ExprKind::Index { expr, .. } => e = expr.unparen(),
                ExprKind::Var(id) => {
                    let Some(i) = self.scopes.lookup(&id.name) else {
                        return false;
                    };
                    return self.scopes.symbols[i].value.is_some();
                }
                _ => return false,
            }
        }
    }

    /// Ends at or after the frontier: may still grow.
    pub fn unfinished(&self, span: Span) -> bool {
        span.end as usize >= self.frontier
    }

    /// A name touching the end of a prefix: more characters may follow.
    pub fn partial_name(&self, span: Span) -> bool {
        self.open_end && span.end as usize >= self.frontier
    }

    /// The statement text ends with its `;`, so nothing can extend it.
    pub fn ends_with_semicolon(&self, span: Span) -> bool {
        self.src
            .and_then(|s| s.get(..span.end as usize))
            .is_some_and(|t| t.ends_with(';'))
    }

    pub fn text(&self, e: &Expr) -> String {
        print_expr(e)
    }

    // ------------------------------------------------------------------ statements

    fn stmt(&mut self, s: &'p Stmt, top_level: bool) {
        match &s.kind {
            StmtKind::Decl { ty, name, init } => self.decl(s, ty, name, init.as_ref(), top_level),
            StmtKind::Assign { lhs, op, rhs } => self.assign(s, lhs, *op, rhs),
            StmtKind::Tilde {
                lhs,
                dist,
                args,
                truncation,
            } => {
                if !self.target_allowed() {
                    self.report(
                        Predicate::Dependency,
                        s.span,
                        format!(
                            "`~` statements are only allowed in the model block{}, not in {}",
                            if self.func.is_some() {
                                " and in `_lp` functions"
                            } else {
                                ""
                            },
                            self.place()
                        ),
                        Some("move this statement into the model block".into()),
                    );
                }
                self.tilde(s, lhs, dist, args, truncation.as_ref());
            }
            StmtKind::TargetPlus(e) => {
                if !self.target_allowed() {
                    self.report(
                        Predicate::Dependency,
                        s.span,
                        format!(
                            "`target +=` is only allowed in the model block{}, not in {}",
                            if self.func.is_some() {
                                " and in `_lp` functions"
                            } else {
                                ""
                            },
                            self.place()
                        ),
                        Some("move this statement into the model block".into()),
                    );
                }
                self.expr(e);
            }
            StmtKind::For {
                var,
                lower,
                upper,
                body,
            } => {
                let lo = self.expr(lower);
                let hi = self.expr(upper);
                for (e, i) in [(lower, &lo), (upper, &hi)] {
                    if let Some(t) = i.ty {
                        if !t.is_int() && !self.unfinished(e.span) {
                            self.report(
                                Predicate::Type,
                                e.span,
                                format!(
                                    "loop bound `{}` must be an int, but it is {t}",
                                    self.text(e)
                                ),
                                Some("loop bounds are ints, e.g. `for (n in 1:N)`".into()),
                            );
                        }
                    }
                }
                let range = Interval::new(lo.range.lo, false, hi.range.hi, false);
                self.scopes.push();
                self.declare_loop_var(var, Ty::INT, Sizes::UNKNOWN, range, lo.deps | hi.deps);
                self.loop_depth += 1;
                self.stmt(body, false);
                self.loop_depth -= 1;
                self.scopes.pop();
            }
            StmtKind::ForEach {
                var,
                container,
                body,
            } => {
                let c = self.expr(container);
                let (ty, sizes) = match c.ty {
                    Some(t) if t.is_array() => {
                        (t.index_once().unwrap_or(Ty::REAL), c.sizes.drop_front(1))
                    }
                    Some(t) if t.is_linear_algebra() => (Ty::REAL, Sizes::UNKNOWN),
                    Some(t) if !self.unfinished(container.span) => {
                        self.report(
                            Predicate::Type,
                            container.span,
                            format!("cannot loop over `{}` of type {t}", self.text(container)),
                            Some(
                                "loop over an array, vector or matrix, or use `for (i in 1:N)`"
                                    .into(),
                            ),
                        );
                        (Ty::REAL, Sizes::UNKNOWN)
                    }
                    _ => (Ty::REAL, Sizes::UNKNOWN),
                };
                self.scopes.push();
                self.declare_loop_var(var, ty, sizes, c.range, c.deps);
                self.loop_depth += 1;
                self.stmt(body, false);
                self.loop_depth -= 1;
                self.scopes.pop();
            }
            StmtKind::While { cond, body } => {
                self.condition(cond);
                self.loop_depth += 1;
                self.stmt(body, false);
                self.loop_depth -= 1;
            }
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => {
                self.condition(cond);
                self.scoped(then);
                if let Some(o) = otherwise {
                    self.scoped(o);
                }
            }
            StmtKind::Block(stmts) => {
                self.scopes.push();
                for st in stmts {
                    self.stmt(st, false);
                }
                self.scopes.pop();
            }
            StmtKind::Print(items) | StmtKind::Reject(items) => {
                for p in items {
                    if let Printable::Expr(e) = p {
                        self.expr(e);
                    }
                }
            }
            StmtKind::Return(value) => self.return_stmt(s, value.as_ref()),
            StmtKind::Call(e) => self.call_stmt(e),
            StmtKind::Break | StmtKind::Continue | StmtKind::Empty | StmtKind::Error => {}
        }
    }

    /// Check a function body (a statement in a local scope).
    pub(crate) fn stmt_in_function(&mut self, s: &'p Stmt) {
        self.stmt(s, false);
    }

    fn scoped(&mut self, s: &'p Stmt) {
        self.scopes.push();
        self.stmt(s, false);
        self.scopes.pop();
    }

    fn condition(&mut self, cond: &'p Expr) {
        let info = self.expr(cond);
        if let Some(t) = info.ty {
            if !t.is_scalar() && !self.unfinished(cond.span) {
                self.report(
                    Predicate::Type,
                    cond.span,
                    format!(
                        "condition `{}` must be an int or real, but it is {t}",
                        self.text(cond)
                    ),
                    Some("compare scalars, e.g. `if (x > 0)`".into()),
                );
            }
        }
    }

    fn declare_loop_var(
        &mut self,
        var: &'p Ident,
        ty: Ty,
        sizes: Sizes,
        range: Interval,
        deps: u8,
    ) {
        self.check_redeclaration(var);
        self.scopes.declare(Symbol {
            name: &var.name,
            span: var.span,
            origin: Origin::LoopVar,
            ty,
            sizes,
            fixed: Some(range),
            assigned: None,
            structure: Structure::Unknown,
            deps,
            has_lower: true,
            has_upper: true,
            value: None,
            whole_assignments: 1,
            bound_values: (None, None),
        });
    }

    fn check_redeclaration(&mut self, name: &Ident) {
        if self.partial_name(name.span) {
            return;
        }
        if let Some(prev) = self.scopes.lookup(&name.name) {
            let prev_span = self.scopes.symbols[prev].span;
            let where_ = self.src.map_or(String::new(), |s| {
                let (l, c) = crate::diagnostic::line_col(s, prev_span.start);
                format!(" (at {l}:{c})")
            });
            self.report(
                Predicate::Dependency,
                name.span,
                format!("`{}` is already declared{where_}", name.name),
                Some(format!("choose a different name than `{}`", name.name)),
            );
        }
    }

    // ------------------------------------------------------------------ declarations

    fn decl(
        &mut self,
        s: &'p Stmt,
        ty: &'p TypeDecl,
        name: &'p Ident,
        init: Option<&'p Expr>,
        top_level: bool,
    ) {
        let finished = !self.unfinished(s.span) || self.ends_with_semicolon(s.span);
        let declared = self.decl_type(ty);
        if self.block == BlockKind::Parameters
            && declared.ty.base == Base::Int
            && !self.unfinished(ty.span)
        {
            self.report(
                Predicate::Type,
                ty.span,
                format!(
                    "parameter `{}` cannot be an int: parameters are continuous",
                    name.name
                ),
                Some("declare it real (or move it to the data block if it is observed)".into()),
            );
        }
        self.check_redeclaration(name);
        let origin = if top_level && self.block != BlockKind::Model {
            Origin::Block(self.block)
        } else {
            Origin::Local(self.block)
        };
        let deps = match self.block {
            BlockKind::Data | BlockKind::TransformedData => DEP_DATA,
            BlockKind::Parameters | BlockKind::TransformedParameters => DEP_PARAM,
            _ => 0,
        };
        let mut sym = Symbol {
            name: &name.name,
            span: name.span,
            origin,
            ty: declared.ty,
            sizes: declared.sizes,
            fixed: declared.range,
            assigned: None,
            structure: declared.structure,
            deps,
            has_lower: declared.has_lower,
            has_upper: declared.has_upper,
            value: None,
            whole_assignments: 0,
            bound_values: (
                declared.lower.and_then(|r| r.is_point()),
                declared.upper.and_then(|r| r.is_point()),
            ),
        };
        if self.block == BlockKind::Parameters
            && declared.structure == Structure::Unknown
            && !declared.ty.is_scalar()
        {
            sym.structure = Structure::Free;
        }
        if self.block == BlockKind::Data && finished && self.data.is_some() {
            self.check_data_decl(ty, name, &declared, &mut sym);
        }
        if let Some(init) = init {
            let info = self.expr(init);
            if !self.unfinished(init.span) {
                self.check_assignable(init, &info, declared.ty, &declared.sizes, &name.name, false);
                self.check_bounds_kept(&sym, init, &info.range, info.deps);
            }
            if sym.fixed.is_none() {
                sym.assigned = Some(info.range);
            }
            sym.deps |= info.deps;
            if sym.structure == Structure::Unknown {
                sym.structure = info.structure;
            }
            sym.whole_assignments = 1;
        }
        self.scopes.declare(sym);
    }

    /// Evaluate a declared type: sizes, bounds, structure.
    pub(crate) fn decl_type(&mut self, ty: &'p TypeDecl) -> Declared {
        let mut sizes: Vec<Option<u32>> = Vec::new();
        for d in &ty.array_dims {
            sizes.push(self.size_expr(d));
        }
        let (base, structure, range) = match &ty.base {
            BaseType::Int => (Base::Int, Structure::Unknown, None),
            BaseType::Real => (Base::Real, Structure::Unknown, None),
            BaseType::Vector(n) => {
                sizes.push(self.size_expr(n));
                (Base::Vector, Structure::Unknown, None)
            }
            BaseType::RowVector(n) => {
                sizes.push(self.size_expr(n));
                (Base::RowVector, Structure::Unknown, None)
            }
            BaseType::Matrix(r, c) => {
                sizes.push(self.size_expr(r));
                sizes.push(self.size_expr(c));
                (Base::Matrix, Structure::Unknown, None)
            }
            BaseType::Simplex(n) => {
                sizes.push(self.size_expr(n));
                (Base::Vector, Structure::Simplex, Some(Interval::UNIT))
            }
            BaseType::Ordered(n) => {
                sizes.push(self.size_expr(n));
                (Base::Vector, Structure::Ordered, None)
            }
            BaseType::PositiveOrdered(n) => {
                sizes.push(self.size_expr(n));
                (
                    Base::Vector,
                    Structure::PositiveOrdered,
                    Some(Interval::POSITIVE),
                )
            }
            BaseType::CholeskyFactorCorr(n) => {
                let k = self.size_expr(n);
                sizes.push(k);
                sizes.push(k);
                (
                    Base::Matrix,
                    Structure::CholeskyFactorCorr,
                    Some(Interval::closed(-1.0, 1.0)),
                )
            }
            BaseType::CovMatrix(n) => {
                let k = self.size_expr(n);
                sizes.push(k);
                sizes.push(k);
                (Base::Matrix, Structure::CovMatrix, None)
            }
            BaseType::CorrMatrix(n) => {
                let k = self.size_expr(n);
                sizes.push(k);
                sizes.push(k);
                (
                    Base::Matrix,
                    Structure::CovMatrix,
                    Some(Interval::closed(-1.0, 1.0)),
                )
            }
            BaseType::CholeskyFactorCov(m, n) => {
                let rows = self.size_expr(m);
                let cols = match n {
                    Some(n) => self.size_expr(n),
                    None => rows,
                };
                sizes.push(rows);
                sizes.push(cols);
                (Base::Matrix, Structure::CholeskyFactor, None)
            }
        };
        let ty_out = Ty::array(base, ty.array_dims.len().min(255) as u8);
        let mut out = Declared {
            ty: ty_out,
            sizes: Sizes::from_slice(&sizes),
            range,
            structure,
            has_lower: false,
            has_upper: false,
            lower: None,
            upper: None,
        };
        match &ty.bounds {
            Bounds::None => {}
            Bounds::LowerUpper { lower, upper } => {
                // Reals are strictly inside their declared bounds on the constrained scale;
                // ints can sit on them.
                let open = base != Base::Int;
                let lo = lower.as_ref().map(|e| (e, self.expr(e)));
                let hi = upper.as_ref().map(|e| (e, self.expr(e)));
                for (e, i) in lo.iter().chain(hi.iter()) {
                    if let Some(t) = i.ty {
                        if !(t.is_scalar()
                            || t.is_linear_algebra()
                            || t.is_array()
                            || self.unfinished(e.span))
                        {
                            self.report(
                                Predicate::Type,
                                e.span,
                                format!("bound `{}` must be a number, but it is {t}", self.text(e)),
                                Some("write the bound as an int or real expression".into()),
                            );
                        }
                    }
                }
                let lo_end = lo.as_ref().map(|(_, i)| i.range);
                let hi_end = hi.as_ref().map(|(_, i)| i.range);
                if let (Some((_, l)), Some((e, u))) = (&lo, &hi) {
                    if let (Some(a), Some(b)) = (l.range.is_point(), u.range.is_point()) {
                        if a >= b && !self.unfinished(e.span) {
                            self.report(
                                Predicate::Support,
                                e.span,
                                format!("the lower bound {a} is not below the upper bound {b}: no value fits"),
                                Some("swap the bounds or widen them".into()),
                            );
                        }
                    }
                }
                out.has_lower = lo.is_some();
                out.has_upper = hi.is_some();
                out.lower = lo_end;
                out.upper = hi_end;
                let r = Interval::new(
                    lo_end.map_or(f64::NEG_INFINITY, |r| r.lo),
                    open,
                    hi_end.map_or(f64::INFINITY, |r| r.hi),
                    open,
                );
                out.range = Some(match out.range {
                    Some(c) => c.intersect(&r),
                    None => r,
                });
            }
            Bounds::OffsetMultiplier { offset, multiplier } => {
                if let Some(e) = offset {
                    self.expr(e);
                }
                if let Some(e) = multiplier {
                    let m = self.expr(e);
                    // A multiplier scales the unconstrained value: it must be positive.
                    let certain = m.deps & DEP_PARAM != 0 || m.range.is_point().is_some();
                    let bad = m.ty.is_some_and(|t| t.is_scalar())
                        && !self.unfinished(e.span)
                        && if certain {
                            !m.range.is_positive()
                        } else {
                            m.range.disjoint(&Interval::POSITIVE)
                        };
                    if bad {
                        let sure = m.range.disjoint(&Interval::POSITIVE) || self.exact_range(e);
                        let report = if sure { Self::report } else { Self::warn };
                        report(
                            self,
                            Predicate::Support,
                            e.span,
                            format!("multiplier `{}` may be <= 0: it takes values in {}", self.text(e), m.range),
                            Some("use a positive multiplier, e.g. a parameter declared with <lower=0>".into()),
                        );
                    }
                }
            }
        }
        out
    }

    /// A declared size: must be an int; its value when known.
    fn size_expr(&mut self, e: &'p Expr) -> Option<u32> {
        let info = self.expr(e);
        if self.unfinished(e.span) {
            return None;
        }
        let ty = info.ty?;
        if !ty.is_int() {
            self.report(
                Predicate::Type,
                e.span,
                format!("size `{}` must be an int, but it is {ty}", self.text(e)),
                Some("sizes are ints, usually data like `N`".into()),
            );
            return None;
        }
        let v = info.range.is_point()?;
        if v < 0.0 {
            self.report(
                Predicate::Type,
                e.span,
                format!("size `{}` is negative ({v})", self.text(e)),
                Some("sizes must be zero or more".into()),
            );
            return None;
        }
        (v.fract() == 0.0 && v < u32::MAX as f64).then_some(v as u32)
    }

    // ------------------------------------------------------------------ assignment

    fn assign(&mut self, s: &'p Stmt, lhs: &'p LValue, op: AssignOp, rhs: &'p Expr) {
        let rhs_info = self.expr(rhs);
        let Some(id) = self.scopes.lookup(&lhs.name.name) else {
            for idx in lhs.indices.iter().flatten() {
                self.index_expr(idx);
            }
            self.undeclared(&lhs.name);
            return;
        };
        let sym = self.scopes.symbols[id].clone();
        if let Some(problem) = self.assignment_forbidden(&sym) {
            self.report(
                Predicate::Dependency,
                lhs.name.span,
                problem.0,
                Some(problem.1),
            );
        }
        // The type of the assigned part.
        let mut target = Info {
            ty: Some(sym.ty),
            sizes: sym.sizes,
            range: sym.range(),
            structure: sym.structure,
            deps: sym.deps,
            root: Some(id),
        };
        for list in &lhs.indices {
            target = self.index(target, list, lhs.span);
        }
        let finished = !self.unfinished(s.span) || !self.unfinished(rhs.span);
        if finished {
            if let (Some(tt), Some(_)) = (target.ty, rhs_info.ty) {
                let value = match op.binary() {
                    None => rhs_info,
                    Some(bop) => self.binary_info(bop, &target, &rhs_info, s.span, None, Some(rhs)),
                };
                let desc = if lhs.indices.is_empty() {
                    lhs.name.name.clone()
                } else {
                    self.src
                        .and_then(|src| src.get(lhs.span.range()))
                        .map_or_else(|| lhs.name.name.clone(), str::to_string)
                };
                self.check_assignable(
                    rhs,
                    &value,
                    tt,
                    &target.sizes,
                    &desc,
                    !lhs.indices.is_empty(),
                );
            }
        }
        // Track what the variable may now hold.
        let in_loop = self.loop_depth > 0;
        let new_range = match op.binary() {
            None => rhs_info.range,
            Some(bop) => self.binary_range(bop, &target.range, &rhs_info.range),
        };
        if !self.unfinished(rhs.span) {
            self.check_bounds_kept(&sym, rhs, &new_range, rhs_info.deps | sym.deps);
        }
        let symm = &mut self.scopes.symbols[id];
        symm.deps |= rhs_info.deps;
        if symm.fixed.is_none() {
            let old = symm.assigned;
            let mut r = match old {
                Some(o) => o.union(&new_range),
                None => new_range,
            };
            if in_loop && (op != AssignOp::Set || rhs_info.root == Some(id)) {
                if let Some(o) = old {
                    r = r.widen_from(&o);
                }
            }
            symm.assigned = Some(r);
        }
        if lhs.indices.is_empty() && op == AssignOp::Set && symm.whole_assignments == 0 {
            if symm.structure == Structure::Unknown {
                symm.structure = rhs_info.structure;
            }
        } else if !matches!(symm.block(), Some(BlockKind::Parameters)) && symm.whole_assignments > 0
        {
            symm.structure = Structure::Unknown;
        }
        symm.whole_assignments += 1;
    }

    /// A value assigned to a variable declared with bounds must respect them (Stan rejects the
    /// draw otherwise).
    fn check_bounds_kept(&mut self, sym: &Symbol, rhs: &Expr, value: &Interval, deps: u8) {
        let (lower, upper) = sym.bound_values;
        let name = sym.name;
        let sampled = deps & DEP_PARAM != 0;
        let mut problem = None;
        if let Some(l) = lower {
            let allowed = Interval::new(l, false, f64::INFINITY, true);
            let bad = if sampled {
                !value.within(&allowed)
            } else {
                value.disjoint(&allowed)
            };
            if bad {
                problem = Some(("lower", l, "below"));
            }
        }
        if let (None, Some(u)) = (problem, upper) {
            let allowed = Interval::new(f64::NEG_INFINITY, true, u, false);
            let bad = if sampled {
                !value.within(&allowed)
            } else {
                value.disjoint(&allowed)
            };
            if bad {
                problem = Some(("upper", u, "above"));
            }
        }
        if let Some((which, b, side)) = problem {
            let allowed = if which == "lower" {
                Interval::new(b, false, f64::INFINITY, true)
            } else {
                Interval::new(f64::NEG_INFINITY, true, b, false)
            };
            let sure = value.disjoint(&allowed) || self.exact_range(rhs);
            let report = if sure { Self::report } else { Self::warn };
            report(
                self,
                Predicate::Support,
                rhs.span,
                format!(
                    "`{name}` is declared <{which}={b}>, but the value assigned, `{}`, may be {side} {b} (it takes values in {value})",
                    self.text(rhs)
                ),
                Some(if which == "lower" && b == 0.0 {
                    "compute it with a positive expression such as exp(...), or drop the bound".into()
                } else {
                    format!("make sure the value stays {} {b}, or drop the bound", if which == "lower" { "above" } else { "below" })
                }),
            );
        }
    }

    /// Why assigning to `sym` here is not allowed: (message, hint).
    fn assignment_forbidden(&self, sym: &Symbol) -> Option<(String, String)> {
        let name = sym.name;
        match sym.origin {
            Origin::LoopVar => Some((
                format!("cannot assign to loop variable `{name}`"),
                format!("use a local variable instead of changing `{name}`"),
            )),
            Origin::Argument => Some((
                format!("cannot assign to function argument `{name}`"),
                format!("copy `{name}` into a local variable and change that"),
            )),
            Origin::Block(BlockKind::Data) => Some((
                format!("cannot assign to data variable `{name}`: data are fixed"),
                format!("declare a new variable in transformed data, e.g. `real {name}_new = ...;`"),
            )),
            Origin::Block(BlockKind::Parameters) => Some((
                format!("cannot assign to parameter `{name}`: parameters are sampled, not computed"),
                format!("declare a transformed parameter computed from `{name}` instead"),
            )),
            Origin::Block(b @ (BlockKind::TransformedData | BlockKind::TransformedParameters | BlockKind::GeneratedQuantities))
                if b != self.block =>
            {
                Some((
                    format!(
                        "cannot assign to `{name}` here: it is declared in {} and can only be assigned there",
                        b.keyword()
                    ),
                    format!("assign `{name}` inside the {} block, or use a local variable", b.keyword()),
                ))
            }
            _ => None,
        }
    }

    /// Check that a value of `value` fits a target of type `target` (and sizes).
    pub(crate) fn check_assignable(
        &mut self,
        rhs: &Expr,
        value: &Info,
        target: Ty,
        target_sizes: &Sizes,
        target_name: &str,
        indexed: bool,
    ) {
        let Some(vt) = value.ty else { return };
        if !vt.assignable_to(target) {
            let hint = if target.base == Base::Int
                && vt.base == Base::Real
                && target.array_dims == vt.array_dims
            {
                format!("`{target_name}` is an int; declare it real, or compute an int (e.g. with integer division `%/%`)")
            } else if vt.is_array() && target.is_linear_algebra() {
                format!("convert with to_vector(...) or declare `{target_name}` as an array")
            } else if target.is_array() && vt.is_linear_algebra() {
                "convert with to_array_1d(...) or declare the target as a vector".to_string()
            } else {
                format!("make both sides the same type ({target})")
            };
            self.report(
                Predicate::Type,
                rhs.span,
                format!(
                    "cannot assign `{}` of type {vt} to `{target_name}` of type {target}",
                    self.text(rhs)
                ),
                Some(hint),
            );
            return;
        }
        let _ = indexed;
        if let Some((i, want, got)) = target_sizes.first_mismatch(&value.sizes, target.rank()) {
            self.report(
                Predicate::Type,
                rhs.span,
                format!(
                    "size mismatch: `{target_name}` has size {want} in dimension {} but `{}` has size {got}",
                    i + 1,
                    self.text(rhs)
                ),
                Some("make the declared sizes agree".into()),
            );
        }
    }

    pub(crate) fn undeclared(&mut self, name: &Ident) {
        if self.partial_name(name.span) {
            let n = name.name.as_str();
            let known = self.scopes.visible_names().any(|v| v.starts_with(n))
                || KEYWORDS
                    .iter()
                    .flat_map(|l| l.iter())
                    .any(|k| k.starts_with(n))
                || super::catalog::callable_name_list()
                    .iter()
                    .any(|f| f.starts_with(n))
                || self.user_fns.iter().any(|f| f.name.starts_with(n));
            if !known {
                self.report(
                    Predicate::Dependency,
                    name.span,
                    format!("no declared variable or function starts with `{n}`"),
                    Some(self.closest_visible(n).map_or_else(
                        || "use a declared variable".to_string(),
                        |c| format!("did you mean `{c}`?"),
                    )),
                );
            }
            return;
        }
        let n = name.name.as_str();
        if let Some(f) = self.func {
            let (message, hint) = if self.is_user_fn(n) {
                (
                    format!("`{n}` is a function, not a variable"),
                    format!("call it: `{n}(...)`"),
                )
            } else {
                (
                    format!("`{n}` is not declared in function `{}`: a function body sees only its arguments and its own variables", f.name),
                    format!("pass `{n}` to `{}` as an argument", f.name),
                )
            };
            self.report(Predicate::Dependency, name.span, message, Some(hint));
            return;
        }
        let later = self.later.iter().find(|(v, _)| *v == n).map(|(_, b)| *b);
        let (message, hint) = match later {
            Some(BlockKind::GeneratedQuantities) if self.block != BlockKind::GeneratedQuantities => (
                format!(
                    "`{n}` is a generated quantity and cannot be used in the {} block",
                    self.block.keyword()
                ),
                "generated quantities are computed after sampling; compute the value in transformed parameters instead"
                    .to_string(),
            ),
            Some(BlockKind::Model) if self.block > BlockKind::Model => (
                format!(
                    "`{n}` is local to the model block and cannot be used in the {} block",
                    self.block.keyword()
                ),
                format!("declare `{n}` in transformed parameters to use it here"),
            ),
            Some(b) => (
                format!("`{n}` is used before it is declared (it is declared later, in the {} block)", b.keyword()),
                format!("declare `{n}` before its first use"),
            ),
            None if super::catalog::function(n).is_some() => (
                format!("`{n}` is a function, not a variable"),
                format!("call it: `{n}(...)`"),
            ),
            None => (
                format!("`{n}` is not declared"),
                match self.closest_visible(n) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("declare `{n}` (e.g. in the data or parameters block) before using it"),
                },
            ),
        };
        self.report(Predicate::Dependency, name.span, message, Some(hint));
    }

    fn closest_visible(&self, n: &str) -> Option<String> {
        super::catalog::closest(n, self.scopes.visible_names()).map(str::to_string)
    }
}

/// Words a name at the end of a prefix may still grow into besides variables and functions.
const KEYWORDS: [&[&str]; 3] = [
    crate::lexicon::STATEMENT_WORDS,
    crate::lexicon::DECLARATION_TYPES,
    crate::lexicon::BOUND_WORDS,
];

/// A declared type, evaluated.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Declared {
    pub ty: Ty,
    pub sizes: Sizes,
    /// The element range implied by bounds and constrained types.
    pub range: Option<Interval>,
    pub structure: Structure,
    pub has_lower: bool,
    pub has_upper: bool,
    /// Ranges of the bound expressions.
    pub lower: Option<Interval>,
    pub upper: Option<Interval>,
}
