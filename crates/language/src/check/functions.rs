//! User-defined functions (the `functions` block): signatures, overload resolution, Stan's rules
//! for `void`, `return`, forward declarations, `data` arguments and the name suffixes (`_lpdf`,
//! `_lpmf`, `_lcdf`, `_lccdf`, `_rng`, `_lp`), and the checking of function bodies with the same
//! predicates as the blocks.
//!
//! All signatures are collected before any body is checked, so functions may call each other in
//! any order (recursion and mutual recursion need no forward declaration, as in stanc3 since 2.32).
//! A function body sees only its arguments and its own locals. Arguments are treated like data
//! whose values are unknown: only a certain support violation inside a body is reported.

use super::catalog;
use super::checker::{Checker, Info};
use super::intervals::Interval;
use super::scope::{Origin, Symbol, DEP_DATA, DEP_PARAM};
use super::types::{Base, Sizes, Structure, Ty};
use crate::ast::*;
use crate::diagnostic::Predicate;

/// One signature of a user-defined function.
#[derive(Debug, Clone)]
pub(crate) struct UserFn<'p> {
    pub name: &'p str,
    /// Argument types and whether each is `data`-only.
    pub params: Vec<(Ty, bool)>,
    /// `None` for `void`.
    pub ret: Option<Ty>,
    pub defined: bool,
    pub span: Span,
}

/// The function whose body is being checked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FnCtx<'p> {
    pub name: &'p str,
    pub ret: Option<Ty>,
}

/// The checker's type for a signature type.
pub(crate) fn unsized_ty(t: &UnsizedType) -> Ty {
    let base = match t.base {
        UnsizedBase::Int => Base::Int,
        UnsizedBase::Real => Base::Real,
        UnsizedBase::Vector => Base::Vector,
        UnsizedBase::RowVector => Base::RowVector,
        UnsizedBase::Matrix => Base::Matrix,
    };
    Ty::array(base, t.array_dims)
}

/// Suffixes with a meaning for user-defined function names.
fn density_suffix(name: &str) -> Option<&'static str> {
    ["_lpdf", "_lpmf", "_lcdf", "_lccdf"]
        .into_iter()
        .find(|s| name.ends_with(s))
}

impl<'p> Checker<'p, '_, '_> {
    /// Collect every signature, then check every body.
    pub(crate) fn functions_block(&mut self, block: &'p FunctionsBlock) {
        for def in &block.defs {
            self.declare_function(def);
        }
        for def in &block.defs {
            if let Some(body) = &def.body {
                self.function_body(def, body);
            }
        }
        let open = self.unfinished(block.span);
        let undefined: Vec<(String, Span)> = self
            .user_fns
            .iter()
            .filter(|f| !f.defined && !open)
            .map(|f| (f.name.to_string(), f.span))
            .collect();
        for (name, span) in undefined {
            self.report(
                Predicate::Dependency,
                span,
                format!("function `{name}` is declared but never defined"),
                Some(format!(
                    "give `{name}` a body `{{ ... }}`, or remove the declaration"
                )),
            );
        }
    }

    fn declare_function(&mut self, def: &'p FunDef) {
        let name = def.name.name.as_str();
        let params: Vec<(Ty, bool)> = def
            .params
            .iter()
            .map(|p| (unsized_ty(&p.ty), p.data_only))
            .collect();
        let ret = def.ret.as_ref().map(unsized_ty);
        if catalog::resolve(name).is_some() || catalog::distribution(name).is_some() {
            self.report(
                Predicate::Dependency,
                def.name.span,
                format!("`{name}` is a built-in function or distribution and cannot be redefined"),
                Some(format!("choose another name, e.g. `my_{name}`")),
            );
            return;
        }
        self.suffix_rules(def, ret);
        let same = self.user_fns.iter().position(|f| {
            f.name == name && f.params.iter().map(|p| p.0).eq(params.iter().map(|p| p.0))
        });
        match same {
            Some(i) => {
                let prev = &self.user_fns[i];
                if prev.ret != ret {
                    self.report(
                        Predicate::Type,
                        def.name.span,
                        format!("function `{name}` is declared again with a different return type"),
                        Some("make the declaration and the definition agree".into()),
                    );
                } else if prev.defined && def.body.is_some() {
                    self.report(
                        Predicate::Dependency,
                        def.name.span,
                        format!("function `{name}` is defined twice with the same argument types"),
                        Some("remove one definition, or change its argument types".into()),
                    );
                }
                if def.body.is_some() {
                    self.user_fns[i].defined = true;
                }
            }
            None => {
                self.user_fns.push(UserFn {
                    name,
                    params,
                    ret,
                    defined: def.body.is_some(),
                    span: def.name.span,
                });
            }
        }
    }

    /// Stan's naming rules: densities return real and take their variate first, `_rng` and
    /// `_lp` may not be densities, `void` functions do not end in a density suffix.
    fn suffix_rules(&mut self, def: &FunDef, ret: Option<Ty>) {
        let name = def.name.name.as_str();
        if let Some(suffix) = density_suffix(name) {
            if ret != Some(Ty::REAL) {
                self.report(
                    Predicate::Type,
                    def.name.span,
                    format!("`{name}` ends in `{suffix}`, so it must return real"),
                    Some("declare it `real` or rename it".into()),
                );
            }
            if def.params.is_empty() {
                self.report(
                    Predicate::Parameter,
                    def.name.span,
                    format!("`{name}` ends in `{suffix}`, so it needs the variate as its first argument"),
                    Some(format!("write `real {name}(real y, ...)`")),
                );
            }
            if suffix == "_lpmf" {
                if let Some(p) = def.params.first() {
                    if p.ty.base != UnsizedBase::Int {
                        self.report(
                            Predicate::Type,
                            p.ty.span,
                            format!("the first argument of `{name}` must be int (or an int array): `_lpmf` is a mass function"),
                            Some(format!("use `{}_lpdf` for a continuous variate", name.trim_end_matches("_lpmf"))),
                        );
                    }
                }
            }
        }
    }

    fn function_body(&mut self, def: &'p FunDef, body: &'p Stmt) {
        let saved_block = self.block;
        let saved_fn = self.func;
        self.block = BlockKind::Model;
        self.func = Some(FnCtx {
            name: &def.name.name,
            ret: def.ret.as_ref().map(unsized_ty),
        });
        self.scopes.push();
        for p in &def.params {
            if let Some(prev) = self.scopes.lookup(&p.name.name) {
                let _ = prev;
                self.report(
                    Predicate::Dependency,
                    p.name.span,
                    format!("argument `{}` is declared twice", p.name.name),
                    Some("give every argument its own name".into()),
                );
            }
            self.scopes.declare(Symbol {
                name: &p.name.name,
                span: p.name.span,
                origin: Origin::Argument,
                ty: unsized_ty(&p.ty),
                sizes: Sizes::UNKNOWN,
                fixed: None,
                assigned: None,
                structure: Structure::Unknown,
                deps: DEP_DATA,
                has_lower: false,
                has_upper: false,
                value: None,
                whole_assignments: 1,
                bound_values: (None, None),
            });
        }
        self.stmt_in_function(body);
        self.scopes.pop();
        if def.ret.is_some() && !returns(body) && !self.unfinished(body.span) {
            self.report(
                Predicate::Type,
                def.name.span,
                format!(
                    "function `{}` must return a value on every path",
                    def.name.name
                ),
                Some("end every branch of the body with `return ...;`".into()),
            );
        }
        self.block = saved_block;
        self.func = saved_fn;
    }

    /// `return;` / `return e;`.
    pub(crate) fn return_stmt(&mut self, s: &'p Stmt, value: Option<&'p Expr>) {
        let info = value.map(|e| (e, self.expr(e)));
        let Some(f) = self.func else {
            // The parser reported `return` outside a function.
            return;
        };
        match (f.ret, info) {
            (None, Some((e, _))) => self.report(
                Predicate::Type,
                e.span,
                format!("`{}` is void and cannot return a value", f.name),
                Some("write `return;`, or declare a return type".into()),
            ),
            (Some(t), None) => self.report(
                Predicate::Type,
                s.span,
                format!("`{}` must return a value of type {t}", f.name),
                Some(format!("write `return <{t} expression>;`")),
            ),
            (Some(t), Some((e, i))) => {
                let name = format!("the return value of `{}`", f.name);
                self.check_assignable(e, &i, t, &Sizes::UNKNOWN, &name, false);
            }
            (None, None) => {}
        }
    }

    /// `f(args);` as a statement: `f` must be a void user function.
    pub(crate) fn call_stmt(&mut self, e: &'p Expr) {
        let ExprKind::Call { name, args } = &e.kind else {
            self.expr(e);
            return;
        };
        let infos: Vec<Info> = args.iter().map(|a| self.expr(a)).collect();
        if !self.user_fns.iter().any(|f| f.name == name.name) {
            let _ = self.expr(e);
            return;
        }
        if let Some(ret) = self.user_call(e, name, &infos, false) {
            if ret.ty.is_some() {
                self.report(
                    Predicate::Type,
                    e.span,
                    format!(
                        "`{}` returns a value: a call of it is not a statement",
                        name.name
                    ),
                    Some("use its value in an assignment or expression".into()),
                );
            }
        }
    }

    /// Is `name` a user-defined function? (`foo_lupdf` names a user `foo_lpdf`.)
    pub(crate) fn is_user_fn(&self, name: &str) -> bool {
        let name = defined_name(name);
        self.user_fns.iter().any(|f| f.name == name)
    }

    /// Type a call of a user-defined function; `None` when it could not be resolved (reported).
    /// The returned info has `ty: None` for a void function.
    pub(crate) fn user_call(
        &mut self,
        e: &Expr,
        name: &Ident,
        infos: &[Info],
        cond: bool,
    ) -> Option<Info> {
        let n = defined_name(&name.name);
        let n = n.as_str();
        let deps = infos.iter().fold(0, |d, i| d | i.deps);
        if cond && density_suffix(n).is_none() {
            self.report(
                Predicate::Parameter,
                e.span,
                format!("`{n}` is not a density: it does not take `|`"),
                Some(format!("separate the arguments of `{n}` with commas")),
            );
        }
        self.context_rules(name);
        let candidates: Vec<UserFn<'p>> = self
            .user_fns
            .iter()
            .filter(|f| f.name == n && f.params.len() == infos.len())
            .cloned()
            .collect();
        if infos.iter().any(|i| i.ty.is_none()) {
            // An argument already failed: take the return type if it is unambiguous.
            let ret = candidates.first().and_then(|f| f.ret);
            return Some(Info {
                deps,
                ..ret.map_or(Info::unknown(), |t| Info::of(t, Interval::ALL))
            });
        }
        let tys: Vec<Ty> = infos.iter().map(|i| i.ty.unwrap_or(Ty::REAL)).collect();
        let best = candidates
            .iter()
            .filter(|f| f.params.iter().zip(&tys).all(|(p, t)| t.assignable_to(p.0)))
            .min_by_key(|f| {
                f.params
                    .iter()
                    .zip(&tys)
                    .filter(|(p, t)| p.0 != **t)
                    .count()
            });
        let Some(f) = best else {
            let sigs: Vec<String> = self
                .user_fns
                .iter()
                .filter(|f| f.name == n)
                .map(|f| {
                    let ps: Vec<String> = f
                        .params
                        .iter()
                        .map(|(t, d)| format!("{}{t}", if *d { "data " } else { "" }))
                        .collect();
                    format!("{n}({})", ps.join(", "))
                })
                .collect();
            let got: Vec<String> = tys.iter().map(|t| t.to_string()).collect();
            self.report(
                Predicate::Parameter,
                e.span,
                format!(
                    "no signature of `{n}` takes ({}): it is declared as {}",
                    got.join(", "),
                    sigs.join(" or ")
                ),
                Some("pass arguments of the declared types".into()),
            );
            return None;
        };
        if let ExprKind::Call { args, .. } | ExprKind::CondCall { args, .. } = &e.kind {
            for ((_, data_only), (a, i)) in f.params.iter().zip(args.iter().zip(infos)) {
                if *data_only && i.deps & DEP_PARAM != 0 {
                    self.report(
                        Predicate::Dependency,
                        a.span,
                        format!(
                            "argument `{}` of `{n}` must be data, but it depends on parameters",
                            self.text(a)
                        ),
                        Some(format!(
                            "pass data here, or remove the `data` qualifier in `{n}`'s signature"
                        )),
                    );
                }
            }
        }
        let range = match density_suffix(n) {
            Some("_lcdf" | "_lccdf") => Interval::new(f64::NEG_INFINITY, true, 0.0, false),
            _ => Interval::ALL,
        };
        Some(match f.ret {
            Some(t) => Info {
                deps,
                ..Info::of(t, range)
            },
            None => Info {
                deps,
                ..Info::unknown()
            },
        })
    }

    /// An ODE solver call: the first argument names a user-defined function (the right-hand
    /// side), the rest are typed as usual. Old interface: `integrate_ode_*(f, array[] real y0,
    /// real t0, array[] real ts, array[] real theta, data array[] real x_r, data array[] int x_i
    /// [, rtol, atol, max_steps])` -> `array[,] real`; new: `ode_*(f, vector y0, real t0,
    /// array[] real ts, [rtol, atol, max_steps,] ...)` -> `array[] vector`.
    pub(crate) fn ode_call(&mut self, e: &'p Expr, name: &'p Ident, args: &'p [Expr]) -> Info {
        let (old, _) = ode_solver(&name.name).unwrap_or((false, false));
        let infos: Vec<Info> = args.iter().skip(1).map(|a| self.expr(a)).collect();
        let deps = infos.iter().fold(0, |d, i| d | i.deps);
        let ty = if old {
            Ty::array(Base::Real, 2)
        } else {
            Ty::array(Base::Vector, 1)
        };
        if old {
            let replacement = match name.name.replace("integrate_ode", "ode").as_str() {
                "ode" => "ode_rk45".to_string(),
                other => other.to_string(),
            };
            self.warn(
                Predicate::Distribution,
                name.span,
                format!("`{}` was removed from Stan (2.33); it is evaluated here with an explicit Runge-Kutta (Dormand-Prince) solver", name.name),
                Some(format!("use `{replacement}` (vector state, variadic arguments)")),
            );
        }
        let f = args.first().map(|a| &a.kind);
        let Some(ExprKind::Var(fname)) = f else {
            self.report(
                Predicate::Parameter,
                e.span,
                format!(
                    "the first argument of `{}` must name the function of the right-hand side",
                    name.name
                ),
                Some(
                    "define `vector f(real t, vector y, ...)` in the functions block and pass `f`"
                        .into(),
                ),
            );
            return Info {
                deps,
                ..Info::unknown()
            };
        };
        if !self.is_user_fn(&fname.name) {
            self.report(
                Predicate::Distribution,
                fname.span,
                format!("`{}` is not a user-defined function", fname.name),
                Some("define the right-hand side in the functions block".into()),
            );
        }
        if args.len() < 4 {
            self.report(
                Predicate::Parameter,
                e.span,
                format!("`{}` needs at least the function, initial state, initial time and output times", name.name),
                Some(format!("write `{}(f, y0, t0, ts, ...)`", name.name)),
            );
        }
        Info {
            deps,
            ..Info::of(ty, Interval::ALL)
        }
    }

    /// `_rng` functions only where random numbers are allowed, `_lp` functions only where the
    /// target is.
    fn context_rules(&mut self, name: &Ident) {
        let n = name.name.as_str();
        if n.ends_with("_rng") && !self.rng_allowed() {
            let place = self.place();
            self.report(
                Predicate::Dependency,
                name.span,
                format!("`{n}` draws random numbers, which is only allowed in transformed data, generated quantities and `_rng` functions, not in {place}"),
                Some("move the draw to generated quantities".into()),
            );
        }
        if n.ends_with("_lp") {
            let ok = match self.func {
                Some(f) => f.name.ends_with("_lp"),
                None => matches!(
                    self.block,
                    BlockKind::Model | BlockKind::TransformedParameters
                ),
            };
            if !ok {
                let place = self.place();
                self.report(
                    Predicate::Dependency,
                    name.span,
                    format!("`{n}` changes the target, which is only allowed in the model block, transformed parameters and `_lp` functions, not in {place}"),
                    Some("call it from the model block".into()),
                );
            }
        }
    }

    /// Where the statement being checked is, in words.
    pub(crate) fn place(&self) -> String {
        match self.func {
            Some(f) => format!("function `{}`", f.name),
            None => self.block.keyword().to_string(),
        }
    }

    /// May `~` and `target +=` appear here?
    pub(crate) fn target_allowed(&self) -> bool {
        match self.func {
            Some(f) => f.name.ends_with("_lp"),
            None => self.block == BlockKind::Model,
        }
    }

    /// May `_rng` functions be called here?
    pub(crate) fn rng_allowed(&self) -> bool {
        match self.func {
            Some(f) => f.name.ends_with("_rng"),
            None => matches!(
                self.block,
                BlockKind::TransformedData | BlockKind::GeneratedQuantities
            ),
        }
    }

    /// `y ~ foo(args)` with a user-defined `foo_lpdf` / `foo_lpmf`: `Some(())` when handled.
    pub(crate) fn user_tilde(
        &mut self,
        s: &'p Stmt,
        lhs: &'p Expr,
        lhs_info: Info,
        dist: &'p Ident,
        args: &'p [Expr],
        infos: &[Info],
    ) -> Option<()> {
        let n = &dist.name;
        let full = ["_lpdf", "_lpmf"]
            .iter()
            .map(|s| format!("{n}{s}"))
            .find(|f| self.is_user_fn(f))?;
        let mut all = vec![lhs_info];
        all.extend_from_slice(infos);
        let ident = Ident {
            name: full,
            span: dist.span,
        };
        let mut call_args = vec![lhs.clone()];
        call_args.extend(args.iter().cloned());
        let call = Expr::new(
            ExprKind::CondCall {
                name: ident.clone(),
                args: call_args,
            },
            s.span,
        );
        self.user_call(&call, &ident, &all, true);
        Some(())
    }
}

/// The defining name of a called name: `foo_lupdf` / `foo_lupmf` call `foo_lpdf` / `foo_lpmf`.
fn defined_name(name: &str) -> String {
    if let Some(b) = name.strip_suffix("_lupdf") {
        format!("{b}_lpdf")
    } else if let Some(b) = name.strip_suffix("_lupmf") {
        format!("{b}_lpmf")
    } else {
        name.to_string()
    }
}

/// The ODE solvers: `(name, old interface, takes tolerances)`. The `integrate_ode_*` forms were
/// removed from Stan in 2.33; they are accepted with a warning naming the replacement.
pub(crate) fn ode_solver(name: &str) -> Option<(bool, bool)> {
    Some(match name {
        "integrate_ode_rk45" | "integrate_ode_bdf" | "integrate_ode_adams" | "integrate_ode" => {
            (true, false)
        }
        "ode_rk45" | "ode_bdf" | "ode_adams" | "ode_ckrk" => (false, false),
        "ode_rk45_tol" | "ode_bdf_tol" | "ode_adams_tol" | "ode_ckrk_tol" => (false, true),
        _ => return None,
    })
}

/// Does every path through `s` end in `return` (or `reject`)?
fn returns(s: &Stmt) -> bool {
    match &s.kind {
        StmtKind::Return(_) | StmtKind::Reject(_) => true,
        StmtKind::Block(stmts) => stmts.iter().any(returns),
        StmtKind::If {
            then,
            otherwise: Some(o),
            ..
        } => returns(then) && returns(o),
        // A `while (1)` loop only ends through `return`.
        StmtKind::While { cond, .. } => matches!(cond.kind, ExprKind::IntLit(v) if v != 0),
        StmtKind::Error => true,
        _ => false,
    }
}
