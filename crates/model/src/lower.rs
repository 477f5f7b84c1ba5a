//! Lowering: the AST becomes an internal IR with resolved variable slots and resolved functions
//! and distributions, so evaluation never looks names up.

use std::collections::HashMap;

use refinestat_language::ast::{self, BinOp, ExprKind, StmtKind};
use refinestat_language::Program;

use crate::builtins::Builtin;
use crate::dist::{CdfKind, Dist};
use crate::math::{BinaryFn, UnaryFn};
use crate::ModelError;

pub type Slot = usize;

#[derive(Debug, Clone)]
pub enum E {
    Int(i64),
    Real(f64),
    Var(Slot),
    Bin(BinOp, Box<E>, Box<E>),
    Neg(Box<E>),
    Not(Box<E>),
    Ternary(Box<E>, Box<E>, Box<E>),
    Unary(UnaryFn, Box<E>),
    Binary(BinaryFn, Box<E>, Box<E>),
    Builtin(Builtin, Vec<E>),
    /// `propto`: `_lupdf`/`_lupmf` (constants dropped when the evaluation is propto).
    Lpdf {
        dist: Dist,
        propto: bool,
        args: Vec<E>,
    },
    Cdf {
        dist: Dist,
        kind: CdfKind,
        args: Vec<E>,
    },
    Rng {
        dist: Dist,
        args: Vec<E>,
    },
    Index(Box<E>, Vec<Ix>),
    ArrayLit(Vec<E>),
    RowVecLit(Vec<E>),
    Transpose(Box<E>),
    /// `target()`: the log density accumulated so far.
    Target,
    /// An ODE solve: the right-hand side's candidate definitions, the arguments after it,
    /// whether it is the old `integrate_ode_*` interface / takes tolerances, and the solver's
    /// default (relative tolerance, absolute tolerance, max steps) where it takes none.
    Ode {
        f: Vec<usize>,
        args: Vec<E>,
        old: bool,
        tol: bool,
        defaults: (f64, f64, usize),
    },
    /// A call of a user-defined function: the candidate definitions (indexes into
    /// [`Ir::functions`], one unless the name is overloaded with this arity) and the arguments.
    UserCall(Vec<usize>, Vec<E>),
}

#[derive(Debug, Clone)]
pub enum Ix {
    One(E),
    All,
    Range(Option<E>, Option<E>),
}

#[derive(Debug, Clone)]
pub enum TyBase {
    Int,
    Real,
    Vector(E),
    RowVector(E),
    Matrix(E, E),
    Simplex(E),
    Ordered(E),
    PositiveOrdered(E),
    CholCorr(E),
    CovMatrix(E),
    CorrMatrix(E),
    /// `cholesky_factor_cov[rows, cols]`.
    CholCov(E, E),
}

#[derive(Debug, Clone)]
pub enum BoundsIr {
    None,
    LowerUpper(Option<E>, Option<E>),
    OffsetMultiplier(Option<E>, Option<E>),
}

#[derive(Debug, Clone)]
pub struct Ty {
    pub base: TyBase,
    pub dims: Vec<E>,
    pub bounds: BoundsIr,
}

#[derive(Debug, Clone)]
pub enum PrintItem {
    Str(String),
    Expr(E),
}

/// An assignable place: a variable with zero or more index lists.
#[derive(Debug, Clone)]
pub struct Place {
    pub slot: Slot,
    pub idx: Vec<Vec<Ix>>,
}

#[derive(Debug, Clone)]
pub enum S {
    Decl {
        slot: Slot,
        ty: Ty,
        init: Option<E>,
    },
    Assign {
        place: Place,
        op: Option<BinOp>,
        rhs: E,
    },
    Tilde {
        lhs: E,
        place: Option<Place>,
        dist: Dist,
        args: Vec<E>,
        trunc: Option<(Option<E>, Option<E>)>,
        /// Index of the observed data variable on the left side, if any.
        obs: Option<usize>,
    },
    Target {
        e: E,
        /// For `target += dist_lpdf(y | ...)` with `y` data: the data variable index.
        obs: Option<usize>,
        /// For `target += dist_lpdf(y | ...)` with `y` a variable: where to put simulated draws.
        place: Option<Place>,
    },
    For {
        slot: Slot,
        lo: E,
        hi: E,
        body: Vec<S>,
        /// Byte offset of the loop in the source, for runaway-loop errors.
        at: u32,
    },
    ForEach {
        slot: Slot,
        container: E,
        body: Vec<S>,
    },
    While {
        cond: E,
        body: Vec<S>,
        /// Byte offset of the loop in the source, for runaway-loop errors.
        at: u32,
    },
    If {
        cond: E,
        then: Vec<S>,
        otherwise: Vec<S>,
    },
    Block(Vec<S>),
    /// `print(...)`: output is ignored.
    Print,
    Reject(Vec<PrintItem>),
    Break,
    Continue,
    /// `return e;` stores `e` in the function's return slot; `return;` in a void function.
    Return {
        value: Option<E>,
        slot: Slot,
    },
    /// A void function call as a statement.
    Call(E),
}

/// The argument types of a user-defined function, for overload resolution at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArgTy {
    pub base: ast::UnsizedBase,
    pub array_dims: u8,
}

/// A lowered user-defined function. Its arguments, locals and return slot are the env slots
/// `slots`; a call saves and restores them, so recursion works.
#[derive(Debug, Clone)]
pub struct FnIr {
    pub name: String,
    pub params: Vec<Slot>,
    pub param_tys: Vec<ArgTy>,
    /// Where `return e;` puts its value.
    pub ret_slot: Slot,
    /// `None` for `void`.
    pub ret: Option<ArgTy>,
    pub body: Vec<S>,
    pub slots: std::ops::Range<Slot>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarKind {
    Data,
    TData,
    Param,
    TParam,
    Local,
    Gq,
}

#[derive(Debug, Clone)]
pub struct VarInfo {
    pub name: String,
    pub kind: VarKind,
    /// Declared type (for top-level block variables).
    pub ty: Option<Ty>,
}

/// A lowered program.
#[derive(Debug, Clone, Default)]
pub struct Ir {
    pub vars: Vec<VarInfo>,
    /// Slots of data variables in declaration order.
    pub data: Vec<Slot>,
    pub tdata: Vec<S>,
    /// Slots of parameters in declaration order.
    pub params: Vec<Slot>,
    pub tparams: Vec<S>,
    pub tparam_vars: Vec<Slot>,
    pub model: Vec<S>,
    pub gq: Vec<S>,
    pub gq_vars: Vec<Slot>,
    /// User-defined functions (definitions only; forward declarations are resolved away).
    pub functions: Vec<FnIr>,
    /// Byte offsets where the source text's lines start, when compiled from source text
    /// ([`Ir::line_of`]); empty otherwise.
    pub line_starts: Vec<u32>,
}

impl Ir {
    /// The 1-based source line of byte offset `at`, when the program was compiled from text.
    pub fn line_of(&self, at: u32) -> Option<usize> {
        (!self.line_starts.is_empty()).then(|| self.line_starts.partition_point(|&s| s <= at))
    }

    /// `" on line N"` for byte offset `at`, or nothing without source text.
    pub fn at_line(&self, at: u32) -> String {
        self.line_of(at)
            .map_or(String::new(), |line| format!(" on line {line}"))
    }
}

/// Byte offsets where the lines of `src` start.
pub fn line_starts(src: &str) -> Vec<u32> {
    std::iter::once(0)
        .chain(src.match_indices('\n').map(|(i, _)| i as u32 + 1))
        .collect()
}

/// The ODE solvers: (old `integrate_ode_*` interface, takes tolerances).
fn ode_solver(name: &str) -> Option<(bool, bool)> {
    Some(match name {
        "integrate_ode_rk45" | "integrate_ode_bdf" | "integrate_ode_adams" | "integrate_ode" => {
            (true, false)
        }
        "ode_rk45" | "ode_bdf" | "ode_adams" | "ode_ckrk" => (false, false),
        "ode_rk45_tol" | "ode_bdf_tol" | "ode_adams_tol" | "ode_ckrk_tol" => (false, true),
        _ => return None,
    })
}

/// Stan's default tolerances of an ODE solver called without them: 1e-10, 1e-10 and 1e8 steps
/// for the removed `integrate_ode_bdf` / `integrate_ode_adams`, 1e-6, 1e-6 and 1e6 otherwise
/// (Stan Math's `integrate_ode_*` and `ode_*` signatures).
fn ode_default_tolerances(name: &str) -> (f64, f64, usize) {
    match name {
        "integrate_ode_bdf" | "integrate_ode_adams" => (1e-10, 1e-10, 100_000_000),
        _ => (1e-6, 1e-6, 1_000_000),
    }
}

fn unsupported<T>(what: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::Unsupported(what.into()))
}

fn invalid<T>(what: impl Into<String>) -> Result<T, ModelError> {
    Err(ModelError::Invalid(what.into()))
}

struct Lowerer {
    ir: Ir,
    scopes: Vec<HashMap<String, Slot>>,
    /// User function name -> indexes into `ir.functions`.
    fn_index: HashMap<String, Vec<usize>>,
    /// The return slot of the function being lowered.
    ret_slot: Option<Slot>,
    /// The library prelude's functions have been added.
    prelude_lowered: bool,
    /// The model block's statements on observed data (by span) and the data variable each one's
    /// variate is, from the language crate's one analysis of the likelihood.
    observed: HashMap<ast::Span, Option<String>>,
}

fn arg_ty(t: &ast::UnsizedType) -> ArgTy {
    ArgTy {
        base: t.base,
        array_dims: t.array_dims,
    }
}

pub fn lower(p: &Program) -> Result<Ir, ModelError> {
    let mut l = Lowerer {
        ir: Ir::default(),
        scopes: vec![HashMap::new()],
        fn_index: HashMap::new(),
        ret_slot: None,
        prelude_lowered: false,
        observed: refinestat_language::analysis::observed_statements(p)
            .into_iter()
            .map(|o| (o.stmt.span, o.variable))
            .collect(),
    };
    if let Some(f) = &p.functions {
        let defs: Vec<&ast::FunDef> = f.defs.iter().collect();
        l.functions(&defs)?;
    }
    if let Some(b) = &p.data {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Decl { ty, name, init } => {
                    if init.is_some() {
                        return invalid("data variables cannot be initialised");
                    }
                    let slot = l.declare_top(name, ty, VarKind::Data)?;
                    l.ir.data.push(slot);
                }
                StmtKind::Empty => {}
                StmtKind::Error => return invalid("the data block contains a syntax error"),
                _ => return invalid("the data block may only contain declarations"),
            }
        }
    }
    if let Some(b) = &p.transformed_data {
        l.ir.tdata = l.top_block(b, VarKind::TData)?.0;
    }
    if let Some(b) = &p.parameters {
        for s in &b.stmts {
            match &s.kind {
                StmtKind::Decl { ty, name, init } => {
                    if init.is_some() {
                        return invalid("parameters cannot be initialised");
                    }
                    if matches!(ty.base, ast::BaseType::Int) {
                        return invalid(format!("parameter `{name}` cannot be an int"));
                    }
                    let slot = l.declare_top(name, ty, VarKind::Param)?;
                    l.ir.params.push(slot);
                }
                StmtKind::Empty => {}
                StmtKind::Error => return invalid("the parameters block contains a syntax error"),
                _ => return invalid("the parameters block may only contain declarations"),
            }
        }
    }
    if let Some(b) = &p.transformed_parameters {
        let (stmts, vars) = l.top_block(b, VarKind::TParam)?;
        l.ir.tparams = stmts;
        l.ir.tparam_vars = vars;
    }
    if let Some(b) = &p.model {
        l.scopes.push(HashMap::new());
        l.ir.model = l.stmts(&b.stmts)?;
        l.scopes.pop();
    }
    if let Some(b) = &p.generated_quantities {
        let (stmts, vars) = l.top_block(b, VarKind::Gq)?;
        l.ir.gq = stmts;
        l.ir.gq_vars = vars;
    }
    Ok(l.ir)
}

impl Lowerer {
    /// Register every definition, then lower the bodies (so calls may go in any direction).
    fn functions(&mut self, defs: &[&ast::FunDef]) -> Result<(), ModelError> {
        let defs: Vec<&ast::FunDef> = defs.iter().copied().filter(|d| d.body.is_some()).collect();
        let first = self.ir.functions.len();
        for d in &defs {
            let i = self.ir.functions.len();
            self.ir.functions.push(FnIr {
                name: d.name.name.clone(),
                params: vec![],
                param_tys: d.params.iter().map(|p| arg_ty(&p.ty)).collect(),
                ret_slot: 0,
                ret: d.ret.as_ref().map(arg_ty),
                body: vec![],
                slots: 0..0,
            });
            self.fn_index
                .entry(d.name.name.clone())
                .or_default()
                .push(i);
        }
        let saved_ret = self.ret_slot;
        for (k, d) in defs.iter().enumerate() {
            let i = first + k;
            let saved = std::mem::replace(&mut self.scopes, vec![HashMap::new()]);
            let start = self.ir.vars.len();
            let ret_slot = self.new_slot(&format!("{}__return", d.name.name), VarKind::Local, None);
            self.ret_slot = Some(ret_slot);
            let mut params = vec![];
            for p in &d.params {
                params.push(self.new_slot(&p.name.name, VarKind::Local, None));
            }
            let body = match d.body.as_ref() {
                Some(b) => self.stmt(b),
                None => Ok(None),
            };
            self.scopes = saved;
            self.ret_slot = None;
            let body = body?;
            let f = &mut self.ir.functions[i];
            f.params = params;
            f.ret_slot = ret_slot;
            f.body = body.into_iter().collect();
            f.slots = start..self.ir.vars.len();
        }
        self.ret_slot = saved_ret;
        Ok(())
    }

    /// The definitions of a user-defined or library (prelude) function, lowering the prelude on
    /// first use.
    fn user_fn(&mut self, name: &str) -> Result<Option<Vec<usize>>, ModelError> {
        if let Some(c) = self.fn_index.get(name) {
            return Ok(Some(c.clone()));
        }
        if !self.prelude_lowered && crate::library::in_prelude(name) {
            self.prelude_lowered = true;
            let prelude = crate::library::prelude();
            let defs: Vec<&ast::FunDef> = prelude
                .functions
                .iter()
                .flat_map(|f| f.defs.iter())
                // A user definition of the same name wins.
                .filter(|d| !self.fn_index.contains_key(&d.name.name))
                .collect();
            self.functions(&defs)?;
            return Ok(self.fn_index.get(name).cloned());
        }
        Ok(None)
    }

    fn new_slot(&mut self, name: &str, kind: VarKind, ty: Option<Ty>) -> Slot {
        let slot = self.ir.vars.len();
        self.ir.vars.push(VarInfo {
            name: name.to_string(),
            kind,
            ty,
        });
        self.scopes
            .last_mut()
            .expect("scope")
            .insert(name.to_string(), slot);
        slot
    }

    fn declare_top(
        &mut self,
        name: &ast::Ident,
        ty: &ast::TypeDecl,
        kind: VarKind,
    ) -> Result<Slot, ModelError> {
        if self.scopes[0].contains_key(&name.name) {
            return invalid(format!("`{}` is declared twice", name.name));
        }
        let t = self.ty(ty)?;
        Ok(self.new_slot(&name.name, kind, Some(t)))
    }

    /// A block whose top-level declarations are block variables of `kind`.
    fn top_block(
        &mut self,
        b: &ast::Block,
        kind: VarKind,
    ) -> Result<(Vec<S>, Vec<Slot>), ModelError> {
        let mut out = vec![];
        let mut vars = vec![];
        for s in &b.stmts {
            if let StmtKind::Decl { ty, name, init } = &s.kind {
                let slot = self.declare_top(name, ty, kind)?;
                vars.push(slot);
                let ty = self.ir.vars[slot].ty.clone().expect("ty");
                let init = init.as_ref().map(|e| self.expr(e)).transpose()?;
                out.push(S::Decl { slot, ty, init });
            } else if let Some(st) = self.stmt(s)? {
                out.push(st);
            }
        }
        Ok((out, vars))
    }

    fn lookup(&self, name: &str) -> Result<Slot, ModelError> {
        for sc in self.scopes.iter().rev() {
            if let Some(&s) = sc.get(name) {
                return Ok(s);
            }
        }
        invalid(format!("unknown variable `{name}`"))
    }

    fn ty(&mut self, t: &ast::TypeDecl) -> Result<Ty, ModelError> {
        use ast::BaseType as B;
        let base = match &t.base {
            B::Int => TyBase::Int,
            B::Real => TyBase::Real,
            B::Vector(n) => TyBase::Vector(self.expr(n)?),
            B::RowVector(n) => TyBase::RowVector(self.expr(n)?),
            B::Matrix(r, c) => TyBase::Matrix(self.expr(r)?, self.expr(c)?),
            B::CholeskyFactorCorr(n) => TyBase::CholCorr(self.expr(n)?),
            B::CovMatrix(n) => TyBase::CovMatrix(self.expr(n)?),
            B::CorrMatrix(n) => TyBase::CorrMatrix(self.expr(n)?),
            B::CholeskyFactorCov(m, n) => {
                let rows = self.expr(m)?;
                let cols = match n {
                    Some(n) => self.expr(n)?,
                    None => rows.clone(),
                };
                TyBase::CholCov(rows, cols)
            }
            B::Simplex(n) => TyBase::Simplex(self.expr(n)?),
            B::Ordered(n) => TyBase::Ordered(self.expr(n)?),
            B::PositiveOrdered(n) => TyBase::PositiveOrdered(self.expr(n)?),
        };
        let bounds = match &t.bounds {
            ast::Bounds::None => BoundsIr::None,
            ast::Bounds::LowerUpper { lower, upper } => BoundsIr::LowerUpper(
                lower.as_ref().map(|e| self.expr(e)).transpose()?,
                upper.as_ref().map(|e| self.expr(e)).transpose()?,
            ),
            ast::Bounds::OffsetMultiplier { offset, multiplier } => BoundsIr::OffsetMultiplier(
                offset.as_ref().map(|e| self.expr(e)).transpose()?,
                multiplier.as_ref().map(|e| self.expr(e)).transpose()?,
            ),
        };
        let dims = t
            .array_dims
            .iter()
            .map(|e| self.expr(e))
            .collect::<Result<_, _>>()?;
        Ok(Ty { base, dims, bounds })
    }

    fn stmts(&mut self, ss: &[ast::Stmt]) -> Result<Vec<S>, ModelError> {
        let mut out = vec![];
        for s in ss {
            if let Some(st) = self.stmt(s)? {
                out.push(st);
            }
        }
        Ok(out)
    }

    fn scoped(&mut self, s: &ast::Stmt) -> Result<Vec<S>, ModelError> {
        self.scopes.push(HashMap::new());
        let r = self.stmt(s);
        self.scopes.pop();
        Ok(r?.into_iter().collect())
    }

    /// For a statement on observed data whose variate is a data variable (possibly indexed), that
    /// variable's index among the data variables.
    fn observed(&self, stmt: &ast::Stmt) -> Option<usize> {
        let name = self.observed.get(&stmt.span)?.as_deref()?;
        self.ir
            .data
            .iter()
            .position(|&slot| self.ir.vars[slot].name == name)
    }

    /// For `target += log_mix(theta, d1_lpdf(y | ...), d2_lpdf(y | ...))` whose two densities
    /// have the same variate (by its text), where to put a simulated draw of it.
    fn mixture_place(s: &ast::Stmt, margs: &[E]) -> Option<Place> {
        let StmtKind::TargetPlus(ast_e) = &s.kind else {
            return None;
        };
        let ast::ExprKind::Call { args, .. } = &ast_e.unparen().kind else {
            return None;
        };
        let variate = |e: &ast::Expr| match &e.unparen().kind {
            ast::ExprKind::CondCall { args, .. } => args
                .first()
                .map(|a| refinestat_language::print::print_expr(a.unparen())),
            _ => None,
        };
        match (args.as_slice(), margs) {
            ([_, a, b], [_, E::Lpdf { args: la, .. }, E::Lpdf { .. }])
                if variate(a).is_some() && variate(a) == variate(b) =>
            {
                la.first().and_then(Self::place_of)
            }
            _ => None,
        }
    }

    fn place_of(e: &E) -> Option<Place> {
        match e {
            E::Var(s) => Some(Place {
                slot: *s,
                idx: vec![],
            }),
            E::Index(b, ix) => {
                let mut p = Self::place_of(b)?;
                p.idx.push(ix.clone());
                Some(p)
            }
            _ => None,
        }
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Result<Option<S>, ModelError> {
        Ok(Some(match &s.kind {
            StmtKind::Decl { ty, name, init } => {
                let t = self.ty(ty)?;
                let init = init.as_ref().map(|e| self.expr(e)).transpose()?;
                let slot = self.new_slot(&name.name, VarKind::Local, None);
                S::Decl { slot, ty: t, init }
            }
            StmtKind::Assign { lhs, op, rhs } => {
                let slot = self.lookup(&lhs.name.name)?;
                let kind = self.ir.vars[slot].kind;
                if matches!(kind, VarKind::Data | VarKind::Param) {
                    return invalid(format!("cannot assign to `{}`", lhs.name.name));
                }
                let idx = lhs
                    .indices
                    .iter()
                    .map(|l| l.iter().map(|i| self.index(i)).collect())
                    .collect::<Result<_, _>>()?;
                S::Assign {
                    place: Place { slot, idx },
                    op: op.binary(),
                    rhs: self.expr(rhs)?,
                }
            }
            StmtKind::Tilde {
                lhs,
                dist,
                args,
                truncation,
            } => {
                if crate::library::is_glm(&dist.name) {
                    let Some((d, params)) =
                        crate::library::glm_params(&dist.name, self.exprs(args)?)
                    else {
                        return invalid(format!("wrong number of arguments to `{}`", dist.name));
                    };
                    if truncation.is_some() {
                        return unsupported(format!("truncation of `{}`", dist.name));
                    }
                    let lhs = self.expr(lhs)?;
                    let obs = self.observed(s);
                    return Ok(Some(S::Tilde {
                        place: Self::place_of(&lhs),
                        lhs,
                        dist: d,
                        args: params,
                        trunc: None,
                        obs,
                    }));
                }
                let Some(d) = Dist::from_name(&dist.name) else {
                    let mut user = None;
                    for suf in ["_lpdf", "_lpmf"] {
                        if user.is_none() {
                            user = self.user_fn(&format!("{}{suf}", dist.name))?;
                        }
                    }
                    let Some(cands) = user else {
                        return unsupported(format!("distribution `{}`", dist.name));
                    };
                    if truncation.is_some() {
                        return unsupported(format!(
                            "truncation of the user-defined distribution `{}`",
                            dist.name
                        ));
                    }
                    let lhs = self.expr(lhs)?;
                    let obs = self.observed(s);
                    let place = Self::place_of(&lhs);
                    let mut all = vec![lhs];
                    all.extend(self.exprs(args)?);
                    return Ok(Some(S::Target {
                        e: E::UserCall(cands, all),
                        obs,
                        place,
                    }));
                };
                let lhs = self.expr(lhs)?;
                let args: Vec<E> = args
                    .iter()
                    .map(|a| self.expr(a))
                    .collect::<Result<_, _>>()?;
                if args.len() + 1 != d.arity() {
                    return invalid(format!(
                        "`{}` takes {} arguments, found {}",
                        dist.name,
                        d.arity() - 1,
                        args.len()
                    ));
                }
                let trunc = match truncation {
                    None => None,
                    Some(t) => Some((
                        t.lower.as_ref().map(|e| self.expr(e)).transpose()?,
                        t.upper.as_ref().map(|e| self.expr(e)).transpose()?,
                    )),
                };
                let obs = self.observed(s);
                S::Tilde {
                    place: Self::place_of(&lhs),
                    lhs,
                    dist: d,
                    args,
                    trunc,
                    obs,
                }
            }
            StmtKind::TargetPlus(e) => {
                let e = self.expr(e)?;
                let density = |e: &E| match e {
                    E::Lpdf { .. } => true,
                    E::UserCall(c, _) => {
                        let n = &self.ir.functions[c[0]].name;
                        n.ends_with("_lpdf") || n.ends_with("_lpmf")
                    }
                    _ => false,
                };
                let (obs, place) = match &e {
                    E::Lpdf { args, .. } | E::UserCall(_, args) if density(&e) => {
                        (self.observed(s), args.first().and_then(Self::place_of))
                    }
                    // `log_mix(theta, d1_lpdf(y | ...), d2_lpdf(y | ...))` with the same variate
                    // in both: the simulator draws `y` from one component or the other.
                    E::Builtin(Builtin::LogMix, margs) => (None, Self::mixture_place(s, margs)),
                    _ => (None, None),
                };
                S::Target { e, obs, place }
            }
            StmtKind::For {
                var,
                lower,
                upper,
                body,
            } => {
                let lo = self.expr(lower)?;
                let hi = self.expr(upper)?;
                self.scopes.push(HashMap::new());
                let slot = self.new_slot(&var.name, VarKind::Local, None);
                let body = self.stmt(body);
                self.scopes.pop();
                S::For {
                    slot,
                    lo,
                    hi,
                    body: body?.into_iter().collect(),
                    at: s.span.start,
                }
            }
            StmtKind::ForEach {
                var,
                container,
                body,
            } => {
                let container = self.expr(container)?;
                self.scopes.push(HashMap::new());
                let slot = self.new_slot(&var.name, VarKind::Local, None);
                let body = self.stmt(body);
                self.scopes.pop();
                S::ForEach {
                    slot,
                    container,
                    body: body?.into_iter().collect(),
                }
            }
            StmtKind::While { cond, body } => S::While {
                cond: self.expr(cond)?,
                body: self.scoped(body)?,
                at: s.span.start,
            },
            StmtKind::If {
                cond,
                then,
                otherwise,
            } => S::If {
                cond: self.expr(cond)?,
                then: self.scoped(then)?,
                otherwise: match otherwise {
                    Some(o) => self.scoped(o)?,
                    None => vec![],
                },
            },
            StmtKind::Block(ss) => {
                self.scopes.push(HashMap::new());
                let r = self.stmts(ss);
                self.scopes.pop();
                S::Block(r?)
            }
            StmtKind::Print(_) => S::Print,
            StmtKind::Reject(items) => S::Reject(self.printables(items)?),
            StmtKind::Break => S::Break,
            StmtKind::Continue => S::Continue,
            StmtKind::Return(e) => S::Return {
                value: e.as_ref().map(|e| self.expr(e)).transpose()?,
                slot: self.ret_slot.unwrap_or(0),
            },
            StmtKind::Call(e) => S::Call(self.expr(e)?),
            StmtKind::Empty => return Ok(None),
            StmtKind::Error => return invalid("the program contains a syntax error"),
        }))
    }

    fn printables(&mut self, items: &[ast::Printable]) -> Result<Vec<PrintItem>, ModelError> {
        items
            .iter()
            .map(|p| {
                Ok(match p {
                    ast::Printable::Str(s) => PrintItem::Str(s.clone()),
                    ast::Printable::Expr(e) => PrintItem::Expr(self.expr(e)?),
                })
            })
            .collect()
    }

    fn index(&mut self, i: &ast::Index) -> Result<Ix, ModelError> {
        Ok(match i {
            ast::Index::Single(e) => Ix::One(self.expr(e)?),
            ast::Index::All => Ix::All,
            ast::Index::Range { lower, upper } => Ix::Range(
                lower.as_ref().map(|e| self.expr(e)).transpose()?,
                upper.as_ref().map(|e| self.expr(e)).transpose()?,
            ),
        })
    }

    fn exprs(&mut self, es: &[ast::Expr]) -> Result<Vec<E>, ModelError> {
        es.iter().map(|e| self.expr(e)).collect()
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<E, ModelError> {
        Ok(match &e.kind {
            ExprKind::IntLit(i) => E::Int(*i),
            ExprKind::RealLit { value, .. } => E::Real(*value),
            ExprKind::StrLit(_) => return invalid("a string is only allowed in print/reject"),
            ExprKind::Var(id) => E::Var(self.lookup(&id.name)?),
            ExprKind::Binary { op, lhs, rhs } => {
                E::Bin(*op, Box::new(self.expr(lhs)?), Box::new(self.expr(rhs)?))
            }
            ExprKind::Unary { op, expr } => {
                let inner = self.expr(expr)?;
                match op {
                    ast::UnOp::Neg => E::Neg(Box::new(inner)),
                    ast::UnOp::Plus => inner,
                    ast::UnOp::Not => E::Not(Box::new(inner)),
                }
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => E::Ternary(
                Box::new(self.expr(cond)?),
                Box::new(self.expr(then)?),
                Box::new(self.expr(otherwise)?),
            ),
            ExprKind::Call { name, args } if ode_solver(&name.name).is_some() => {
                let (old, tol) = ode_solver(&name.name).unwrap_or((false, false));
                let Some(ExprKind::Var(fname)) = args.first().map(|a| &a.kind) else {
                    return invalid(format!(
                        "`{}` needs a function as its first argument",
                        name.name
                    ));
                };
                let Some(f) = self.user_fn(&fname.name)? else {
                    return invalid(format!("`{}` is not a user-defined function", fname.name));
                };
                E::Ode {
                    f,
                    args: self.exprs(&args[1..])?,
                    old,
                    tol,
                    defaults: ode_default_tolerances(&name.name),
                }
            }
            ExprKind::Call { name, args } | ExprKind::CondCall { name, args } => {
                let args = self.exprs(args)?;
                self.call(&name.name, args)?
            }
            ExprKind::Index { expr, indices } => {
                let b = self.expr(expr)?;
                let ix = indices
                    .iter()
                    .map(|i| self.index(i))
                    .collect::<Result<_, _>>()?;
                E::Index(Box::new(b), ix)
            }
            ExprKind::Transpose(x) => E::Transpose(Box::new(self.expr(x)?)),
            ExprKind::ArrayLit(xs) => E::ArrayLit(self.exprs(xs)?),
            ExprKind::RowVectorLit(xs) => E::RowVecLit(self.exprs(xs)?),
            ExprKind::Paren(x) => self.expr(x)?,
            ExprKind::Error => return invalid("the program contains a syntax error"),
        })
    }

    fn call(&mut self, name: &str, mut args: Vec<E>) -> Result<E, ModelError> {
        let user_name = match name.strip_suffix("_lupdf") {
            Some(b) => format!("{b}_lpdf"),
            None => match name.strip_suffix("_lupmf") {
                Some(b) => format!("{b}_lpmf"),
                None => name.to_string(),
            },
        };
        if let Some(cands) = self.user_fn(&user_name)? {
            let cands: Vec<usize> = cands
                .iter()
                .copied()
                .filter(|&i| self.ir.functions[i].param_tys.len() == args.len())
                .collect();
            if cands.is_empty() {
                return invalid(format!(
                    "no definition of `{name}` takes {} arguments",
                    args.len()
                ));
            }
            return Ok(E::UserCall(cands, args));
        }
        for suf in ["_lpdf", "_lupdf", "_lpmf", "_lupmf"] {
            let Some(base) = name.strip_suffix(suf) else {
                continue;
            };
            if !crate::library::is_glm(base) || args.is_empty() {
                break;
            }
            let y = args.remove(0);
            let Some((dist, mut params)) = crate::library::glm_params(base, args) else {
                return invalid(format!("wrong number of arguments to `{name}`"));
            };
            params.insert(0, y);
            return Ok(E::Lpdf {
                dist,
                propto: suf.starts_with("_lu"),
                args: params,
            });
        }
        const SUFFIXES: [&str; 9] = [
            "_lupdf", "_lupmf", "_lpdf", "_lpmf", "_lcdf", "_lccdf", "_cdf", "_rng", "_log",
        ];
        for suf in SUFFIXES {
            if let Some(base) = name.strip_suffix(suf) {
                let Some(dist) = Dist::from_name(base) else {
                    if Builtin::from_name(name).is_some() {
                        break;
                    }
                    return unsupported(format!("function `{name}`"));
                };
                return Ok(match suf {
                    "_lupdf" | "_lupmf" => E::Lpdf {
                        dist,
                        propto: true,
                        args,
                    },
                    "_lpdf" | "_lpmf" | "_log" => E::Lpdf {
                        dist,
                        propto: false,
                        args,
                    },
                    "_lcdf" => E::Cdf {
                        dist,
                        kind: CdfKind::Lcdf,
                        args,
                    },
                    "_lccdf" => E::Cdf {
                        dist,
                        kind: CdfKind::Lccdf,
                        args,
                    },
                    "_cdf" => E::Cdf {
                        dist,
                        kind: CdfKind::Cdf,
                        args,
                    },
                    _ => E::Rng { dist, args },
                });
            }
        }
        if args.len() == 1 {
            if let Some(f) = crate::math::unary_fn(name) {
                return Ok(E::Unary(f, Box::new(args.pop().expect("arg"))));
            }
        }
        if args.len() == 2 && name != "log_sum_exp" && name != "min" && name != "max" {
            if let Some(f) = crate::math::binary_fn(name) {
                let b = args.pop().expect("arg");
                let a = args.pop().expect("arg");
                return Ok(E::Binary(f, Box::new(a), Box::new(b)));
            }
        }
        if (name == "target" || name == "get_lp") && args.is_empty() {
            return Ok(E::Target);
        }
        if (name == "log2" || name == "log10") && !args.is_empty() {
            return unsupported(format!("function `{name}` with {} arguments", args.len()));
        }
        match Builtin::from_name(name) {
            Some(b) => Ok(E::Builtin(b, args)),
            None => unsupported(format!("function `{name}`")),
        }
    }
}
