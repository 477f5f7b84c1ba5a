//! The interpreter of the lowered IR: statements, expressions, the log density accumulator,
//! pointwise log-likelihood collection and the prior-predictive simulation passes.

use rand::RngCore;

use refinestat_language::ast::BinOp;

use crate::builtins;
use crate::dist::{self, Dist};
use crate::index::{self, IdxVal};
use crate::lower::{BoundsIr, Ir, Ix, Place, PrintItem, Ty, TyBase, VarKind, E, S};
use crate::ops;
use crate::tape::{Tape, NONE};
use crate::transform::Constraint;
use crate::value::{eval_err, promote, Base, Dims, Res, Shape, Store, Val};
use crate::ModelError;
use refinestat_language::ast::UnsizedBase;

/// Control flow out of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Normal,
    Break,
    Continue,
    /// `return` inside a user-defined function (the value is in the function's return slot).
    Return,
}

/// How deep user-defined functions may call each other before evaluation stops with an error
/// (instead of overflowing the stack).
const MAX_CALL_DEPTH: u32 = 40;

/// How many iterations one `while` loop may run in one evaluation before it stops with
/// [`ModelError::Runaway`]: far beyond any iterative algorithm written in a model (a second or
/// so of interpretation), so only a loop that never ends reaches it.
pub(crate) const MAX_WHILE_ITERATIONS: u64 = 10_000_000;

/// The most iterations one `for` loop may be asked for (its bounds known on entry): a loop
/// over a bound beyond any dataset this engine evaluates (a size read as 10^12) stops at once
/// with [`ModelError::Runaway`] instead of running for hours.
pub(crate) const MAX_FOR_ITERATIONS: i64 = 100_000_000;

/// Pointwise log-likelihood accumulation: per data variable, per internal element position.
#[derive(Debug, Clone, Default)]
pub struct LogLik {
    pub acc: Vec<Vec<f64>>,
}

/// Prior-predictive simulation state.
#[derive(Debug, Clone, Default)]
pub struct Sim {
    /// False: draw parameters from their priors; true: draw observed data.
    pub data_phase: bool,
    /// A parameter element was drawn in this pass.
    pub progress: bool,
    /// Data variables (by index) that were simulated.
    pub simulated: Vec<bool>,
    /// A draw that failed (reported after the pass, so it is not mistaken for "not ready").
    pub error: Option<ModelError>,
}

/// The declared shape of a variable: `None` shape for ints (with array dims).
#[derive(Debug, Clone, Copy)]
pub enum DeclShape {
    Int(Dims),
    Real(Shape),
}

pub struct Ctx<'a> {
    pub ir: &'a Ir,
    pub t: &'a mut Tape,
    pub env: &'a mut Vec<Val>,
    pub target: f64,
    pub seeds: &'a mut Vec<u32>,
    pub propto: bool,
    pub rng: Option<&'a mut dyn RngCore>,
    pub loglik: Option<&'a mut LogLik>,
    pub sim: Option<&'a mut Sim>,
    /// Argument vectors reused across calls (no allocation per call in steady state).
    pub pool: &'a mut Vec<Vec<Val>>,
    /// Index vectors reused across index operations.
    pub idx_pool: &'a mut Vec<Vec<IdxVal>>,
    /// Nesting of user-defined function calls.
    pub call_depth: u32,
}

const MAX_REJECTION_TRIES: usize = 1000;

impl Ctx<'_> {
    pub fn add_target(&mut self, v: &Val) -> Res<()> {
        let v = match v {
            Val::Real(..) | Val::Int(_) => v.clone(),
            other => ops::sum(self.t, other),
        };
        let (x, s) = v.as_scalar()?;
        self.target += x;
        if s != NONE {
            self.seeds.push(s);
        }
        Ok(())
    }

    fn sim_params_phase(&self) -> bool {
        self.sim.as_ref().is_some_and(|s| !s.data_phase)
    }

    pub fn exec_block(&mut self, ss: &[S]) -> Res<Flow> {
        for s in ss {
            let f = match self.exec(s) {
                Ok(f) => f,
                // While drawing parameters, statements that depend on undrawn parameters fail;
                // skip them (their targets stay NaN) and let a later pass retry.
                Err(ModelError::Eval(_)) if self.sim_params_phase() => {
                    if let S::Decl { slot, ty, .. } = s {
                        if let Ok(v) = self.default_value(ty) {
                            self.env[*slot] = v;
                        }
                    }
                    Flow::Normal
                }
                Err(e) => return Err(e),
            };
            if f != Flow::Normal {
                return Ok(f);
            }
        }
        Ok(Flow::Normal)
    }

    pub fn decl_shape(&mut self, ty: &Ty) -> Res<DeclShape> {
        let mut dims = Vec::with_capacity(ty.dims.len());
        for d in &ty.dims {
            dims.push(self.size(d)?);
        }
        let dims = Dims::from_slice(&dims)?;
        let base = match &ty.base {
            TyBase::Int => return Ok(DeclShape::Int(dims)),
            TyBase::Real => Base::Real,
            TyBase::Vector(n)
            | TyBase::Simplex(n)
            | TyBase::Ordered(n)
            | TyBase::PositiveOrdered(n) => Base::Vector(self.size(n)? as u32),
            TyBase::RowVector(n) => Base::RowVector(self.size(n)? as u32),
            TyBase::Matrix(r, c) => Base::Matrix(self.size(r)? as u32, self.size(c)? as u32),
            TyBase::CholCorr(k) | TyBase::CovMatrix(k) | TyBase::CorrMatrix(k) => {
                let k = self.size(k)? as u32;
                Base::Matrix(k, k)
            }
            TyBase::CholCov(m, n) => {
                let (m, n) = (self.size(m)?, self.size(n)?);
                if n > m {
                    return eval_err(format!(
                        "cholesky_factor_cov[{m}, {n}] needs at least as many rows as columns"
                    ));
                }
                Base::Matrix(m as u32, n as u32)
            }
        };
        Ok(DeclShape::Real(Shape { arr: dims, base }))
    }

    fn size(&mut self, e: &E) -> Res<usize> {
        let n = self.eval(e)?.as_int()?;
        if n < 0 {
            return eval_err(format!("size must be non-negative, found {n}"));
        }
        Ok(n as usize)
    }

    pub fn default_value(&mut self, ty: &Ty) -> Res<Val> {
        Ok(match self.decl_shape(ty)? {
            DeclShape::Int(d) if d.is_empty() => Val::Int(i64::MIN),
            DeclShape::Int(d) => Val::Ints(d, vec![i64::MIN as f64; d.numel()].into(), 0),
            DeclShape::Real(s) if s.arr.is_empty() && s.base == Base::Real => Val::real(f64::NAN),
            DeclShape::Real(s) => Val::const_reals(s, vec![f64::NAN; s.numel()]),
        })
    }

    /// A value with the declared shape but no meaningful contents, as an assignment target.
    fn shape_only(&mut self, ty: &Ty) -> Res<Val> {
        Ok(match self.decl_shape(ty)? {
            DeclShape::Int(d) if d.is_empty() => Val::Int(0),
            DeclShape::Int(d) => Val::Ints(d, vec![].into(), 0),
            DeclShape::Real(s) if s.arr.is_empty() && s.base == Base::Real => Val::real(0.0),
            DeclShape::Real(s) => Val::Reals(s, Store::Tape(0)),
        })
    }

    /// The constraint of a declared type, with bounds evaluated now.
    pub fn constraint(&mut self, ty: &Ty) -> Res<Constraint> {
        match &ty.base {
            TyBase::Simplex(_) => return Ok(Constraint::Simplex),
            TyBase::Ordered(_) => return Ok(Constraint::Ordered),
            TyBase::PositiveOrdered(_) => return Ok(Constraint::PositiveOrdered),
            TyBase::CholCorr(_) => return Ok(Constraint::CholeskyCorr),
            TyBase::CovMatrix(_) => return Ok(Constraint::CovMatrix),
            TyBase::CorrMatrix(_) => return Ok(Constraint::CorrMatrix),
            TyBase::CholCov(_, n) => return Ok(Constraint::CholeskyCov(self.size(n)?)),
            _ => {}
        }
        Ok(match &ty.bounds {
            BoundsIr::None => Constraint::None,
            BoundsIr::LowerUpper(lo, hi) => {
                let lo = lo.as_ref().map(|e| self.eval(e)).transpose()?.map(promote);
                let hi = hi.as_ref().map(|e| self.eval(e)).transpose()?.map(promote);
                match (lo, hi) {
                    (None, None) => Constraint::None,
                    (Some(l), None) => Constraint::Lower(l),
                    (None, Some(h)) => Constraint::Upper(h),
                    (Some(l), Some(h)) => Constraint::LowerUpper(l, h),
                }
            }
            BoundsIr::OffsetMultiplier(o, m) => {
                let o = match o {
                    Some(e) => promote(self.eval(e)?),
                    None => Val::real(0.0),
                };
                let m = match m {
                    Some(e) => promote(self.eval(e)?),
                    None => Val::real(1.0),
                };
                Constraint::OffsetMultiplier(o, m)
            }
        })
    }

    /// Check a value against declared bounds (transformed parameters, generated quantities,
    /// data).
    pub fn check_bounds(&mut self, name: &str, ty: &Ty, v: &Val) -> Res<()> {
        let BoundsIr::LowerUpper(lo, hi) = &ty.bounds else {
            return Ok(());
        };
        let lo = lo.as_ref().map(|e| self.eval(e)).transpose()?;
        let hi = hi.as_ref().map(|e| self.eval(e)).transpose()?;
        let n = v.numel();
        for i in 0..n {
            let x = v.elem(i, &self.t.val).0;
            if let Some(l) = &lo {
                let lv = l.elem(if l.numel() == 1 { 0 } else { i }, &self.t.val).0;
                if !(x >= lv) {
                    return eval_err(format!("`{name}` is {x}, below its lower bound {lv}"));
                }
            }
            if let Some(h) = &hi {
                let hv = h.elem(if h.numel() == 1 { 0 } else { i }, &self.t.val).0;
                if !(x <= hv) {
                    return eval_err(format!("`{name}` is {x}, above its upper bound {hv}"));
                }
            }
        }
        Ok(())
    }

    fn eval_idx(&mut self, ix: &[Ix]) -> Res<Vec<IdxVal>> {
        let mut out = self.idx_pool.pop().unwrap_or_default();
        out.clear();
        for i in ix {
            out.push(match i {
                Ix::One(e) => match self.eval(e)? {
                    Val::Int(k) => IdxVal::One(k),
                    Val::Ints(d, data, off) => {
                        let o = off as usize;
                        IdxVal::Many(data[o..o + d.numel()].iter().map(|&x| x as i64).collect())
                    }
                    other => {
                        return eval_err(format!(
                            "index must be an int or int array, found {}",
                            other.type_name()
                        ))
                    }
                },
                Ix::All => IdxVal::All,
                Ix::Range(lo, hi) => {
                    let lo = match lo {
                        Some(e) => Some(self.eval(e)?.as_int()?),
                        None => None,
                    };
                    let hi = match hi {
                        Some(e) => Some(self.eval(e)?.as_int()?),
                        None => None,
                    };
                    match (lo, hi) {
                        (None, None) => IdxVal::All,
                        (l, h) => {
                            let l = l.unwrap_or(1);
                            // An open upper end is resolved against the indexed size by
                            // `Range` below; encode as All-from-l by using a sentinel.
                            match h {
                                Some(h) => IdxVal::Many((l..=h).collect()),
                                None => IdxVal::Many(vec![-l]),
                            }
                        }
                    }
                }
            });
        }
        Ok(out)
    }

    /// Resolve open-ended ranges (`l:`) encoded as `Many([-l])` against the value's dims.
    fn resolve_open(v: &Val, idx: &mut [IdxVal]) {
        let open = |ix: &IdxVal| matches!(ix, IdxVal::Many(m) if m.len() == 1 && m[0] < 0);
        if !idx.iter().any(open) {
            return;
        }
        let dims: Vec<usize> = match v {
            Val::Ints(d, ..) => d.as_slice().iter().map(|&x| x as usize).collect(),
            Val::Reals(s, _) => crate::layout::full_dims(s),
            _ => return,
        };
        for (k, ix) in idx.iter_mut().enumerate() {
            if let IdxVal::Many(v) = ix {
                if v.len() == 1 && v[0] < 0 {
                    let l = -v[0];
                    let n = dims.get(k).copied().unwrap_or(0) as i64;
                    *ix = IdxVal::Many((l..=n).collect());
                }
            }
        }
    }

    /// Apply a sequence of index lists (`x[i][j]`) to a value.
    /// Apply a sequence of index lists (`x[i][j]`) to a value without copying it first.
    fn index_chain(t: &Tape, base: &Val, lists: &[Vec<IdxVal>]) -> Res<Val> {
        let mut cur: Option<Val> = None;
        for l in lists {
            let mut l = l.clone();
            let src = cur.as_ref().unwrap_or(base);
            Self::resolve_open(src, &mut l);
            cur = Some(index::index(t, src, &l)?);
        }
        Ok(cur.unwrap_or_else(|| base.clone()))
    }

    pub fn eval(&mut self, e: &E) -> Res<Val> {
        match e {
            E::Int(i) => Ok(Val::Int(*i)),
            E::Real(x) => Ok(Val::real(*x)),
            E::Var(s) => Ok(self.env[*s].clone()),
            E::Bin(op, a, b) => self.binary(*op, a, b),
            E::Neg(a) => {
                let v = self.eval(a)?;
                Ok(ops::neg(self.t, &v))
            }
            E::Not(a) => {
                let v = self.eval(a)?;
                Ok(Val::Int(!v.truthy()? as i64))
            }
            E::Ternary(c, a, b) => {
                if self.eval(c)?.truthy()? {
                    self.eval(a)
                } else {
                    self.eval(b)
                }
            }
            E::Unary(f, a) => {
                let v = self.eval(a)?;
                Ok(ops::map1(self.t, &v, f))
            }
            E::Binary(f, a, b) => {
                let va = self.eval(a)?;
                let vb = self.eval(b)?;
                ops::map2(
                    self.t,
                    &va,
                    &vb,
                    "function",
                    ops::Known::Stored,
                    ops::Known::Stored,
                    f,
                )
            }
            E::Builtin(b, args) => {
                let vals = self.eval_args(args)?;
                let r = builtins::call(self.t, *b, &vals);
                self.give(vals);
                r
            }
            E::Lpdf { dist, propto, args } => {
                let vals = self.eval_args(args)?;
                let r = dist::lpdf(self.t, *dist, &vals, *propto && self.propto, None);
                self.give(vals);
                r
            }
            E::Cdf { dist, kind, args } => {
                let vals = self.eval_args(args)?;
                let r = dist::cdf_fn(self.t, *dist, *kind, &vals);
                self.give(vals);
                r
            }
            E::Rng { dist, args } => {
                let vals = self.eval_args(args)?;
                let Some(rng) = self.rng.as_deref_mut() else {
                    return eval_err(format!(
                        "{}_rng is only available in transformed data and generated quantities",
                        dist.name()
                    ));
                };
                dist::rng(*dist, &vals, &self.t.val, rng)
            }
            E::Index(b, ix) => {
                // Fast path for the loop idiom `x[i]` on a one-dimensional container.
                if let (E::Var(s), [Ix::One(E::Var(iv))]) = (b.as_ref(), ix.as_slice()) {
                    if let Val::Int(k) = self.env[*iv] {
                        if let Some(v) = index_1d(&self.env[*s], k, &self.t.val) {
                            return v;
                        }
                    }
                }
                let mut idx = self.eval_idx(ix)?;
                let r = if let E::Var(s) = b.as_ref() {
                    let v = &self.env[*s];
                    Self::resolve_open(v, &mut idx);
                    index::index(self.t, v, &idx)
                } else {
                    match self.eval(b) {
                        Ok(v) => {
                            Self::resolve_open(&v, &mut idx);
                            index::index(self.t, &v, &idx)
                        }
                        Err(e) => Err(e),
                    }
                };
                idx.clear();
                self.idx_pool.push(idx);
                r
            }
            E::ArrayLit(xs) => {
                let vals = self.eval_args(xs)?;
                array_literal(self.t, vals)
            }
            E::RowVecLit(xs) => {
                let vals = self.eval_args(xs)?;
                row_vector_literal(self.t, vals)
            }
            E::Transpose(a) => {
                let v = self.eval(a)?;
                ops::transpose(self.t, &v)
            }
            E::UserCall(cands, args) => self.user_call(cands, args),
            E::Ode {
                f,
                args,
                old,
                tol,
                defaults,
            } => self.ode(f, args, *old, *tol, *defaults),
            E::Target => {
                let v = self.target;
                let seeds: Vec<u32> = self.seeds.iter().copied().filter(|&s| s != NONE).collect();
                if seeds.is_empty() {
                    return Ok(Val::real(v));
                }
                let first_op = self.t.ops.len();
                let off = self.t.push_idx(&seeds);
                self.t.ops.push(crate::tape::Operand {
                    slots: crate::tape::Slots::Idx(off),
                    n: seeds.len() as u32,
                    p: crate::tape::Partials::Ones,
                });
                Ok(Val::Real(v, self.t.reduce(v, first_op)))
            }
        }
    }

    /// Call a user-defined function: pick the definition by the arguments' types, save the
    /// function's slots (for recursion), bind the arguments, run the body, restore.
    fn user_call(&mut self, cands: &[usize], args: &[E]) -> Res<Val> {
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.eval(a)?);
        }
        self.call_with(cands, vals)
    }

    /// Pointwise terms of a user-defined (or library) density observing `vals[0]`: one per
    /// vector of an array of vectors (each scored by its own call, with arguments of the same
    /// array length indexed alike), else the whole value is one term.
    fn unit_terms(&mut self, cands: &[usize], vals: &[Val], total: f64) -> Res<Vec<f64>> {
        let n = match &vals[0] {
            Val::Reals(s, _) if s.arr.n == 1 && s.base != Base::Real => s.arr.d[0] as usize,
            _ => return Ok(vec![total]),
        };
        let same_len = |v: &Val| matches!(v, Val::Reals(s, _) if s.arr.n == 1 && s.arr.d[0] as usize == n && s.base != Base::Real);
        let mut terms = Vec::with_capacity(n);
        for i in 0..n {
            let mut vi = Vec::with_capacity(vals.len());
            for (k, v) in vals.iter().enumerate() {
                vi.push(if k == 0 || same_len(v) {
                    index::index(self.t, v, &[IdxVal::One(i as i64 + 1)])?
                } else {
                    v.clone()
                });
            }
            terms.push(self.call_with(cands, vi)?.as_f64()?);
        }
        Ok(terms)
    }

    /// Call a user-defined function on evaluated arguments.
    pub(crate) fn call_with(&mut self, cands: &[usize], vals: Vec<Val>) -> Res<Val> {
        let ir = self.ir;
        let fi = if cands.len() == 1 {
            cands[0]
        } else {
            pick_overload(ir, cands, &vals)?
        };
        let f = &ir.functions[fi];
        if self.call_depth >= MAX_CALL_DEPTH {
            return eval_err(format!(
                "`{}`: user-defined functions nested more than {MAX_CALL_DEPTH} calls deep (runaway recursion?)",
                f.name
            ));
        }
        let saved: Vec<Val> = self.env[f.slots.clone()].to_vec();
        for ((slot, v), ty) in f.params.iter().zip(vals).zip(&f.param_tys) {
            self.env[*slot] = if ty.base == UnsizedBase::Int {
                v
            } else {
                promote(v)
            };
        }
        self.env[f.ret_slot] = Val::Int(0);
        self.call_depth += 1;
        let flow = self.exec_block(&f.body);
        self.call_depth -= 1;
        let out = std::mem::replace(&mut self.env[f.ret_slot], Val::Int(0));
        for (slot, v) in f.slots.clone().zip(saved) {
            self.env[slot] = v;
        }
        let flow = flow?;
        if f.ret.is_some() && flow != Flow::Return {
            return eval_err(format!("`{}` ended without returning a value", f.name));
        }
        Ok(match f.ret {
            Some(t) if t.base != UnsizedBase::Int => promote(out),
            _ => out,
        })
    }

    fn eval_args(&mut self, args: &[E]) -> Res<Vec<Val>> {
        let mut out = self.pool.pop().unwrap_or_default();
        for a in args {
            match self.eval(a) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.give(out);
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Return an argument vector to the pool.
    fn give(&mut self, mut v: Vec<Val>) {
        v.clear();
        self.pool.push(v);
    }

    /// For `a + b` of the form `scalar + x * v` (either order): the three operands evaluated in
    /// source order (which matters only for `_rng` calls), and whether the scalar came first.
    #[allow(clippy::type_complexity)]
    fn eval_affine_parts(&mut self, a: &E, b: &E) -> Res<Option<(Val, Val, Val, bool)>> {
        let (scalar, x, v) = match (a, b) {
            (s, E::Bin(BinOp::Mul, x, v)) | (E::Bin(BinOp::Mul, x, v), s) => (s, x, v),
            _ => return Ok(None),
        };
        let scalar_first = std::ptr::eq(scalar, a);
        let mut vs = Val::Int(0);
        if scalar_first {
            vs = self.eval(scalar)?;
        }
        let vx = self.eval(x)?;
        let vv = self.eval(v)?;
        if !scalar_first {
            vs = self.eval(scalar)?;
        }
        Ok(Some((vs, vx, vv, scalar_first)))
    }

    /// `scalar + x * v` from evaluated operands: one fused node when `x` is a data matrix.
    fn combine_affine(&mut self, vs: &Val, vx: &Val, vv: &Val, scalar_first: bool) -> Res<Val> {
        if matches!(vs, Val::Int(_) | Val::Real(..)) {
            if let Some(r) = ops::affine(self.t, vs, vx, vv) {
                return Ok(r);
            }
        }
        let prod = binop(self.t, BinOp::Mul, vx, vv)?;
        if scalar_first {
            binop(self.t, BinOp::Add, vs, &prod)
        } else {
            binop(self.t, BinOp::Add, &prod, vs)
        }
    }

    /// `y ~ bernoulli_logit(alpha + X * beta)` (int data `y`, data matrix `X`) as one GLM node:
    /// `Ok(None)` when the statement does not have that form (nothing was evaluated then).
    fn tilde_bernoulli_logit_glm(&mut self, lhs: &E, args: &[E]) -> Res<Option<()>> {
        let [E::Bin(BinOp::Add, a, b)] = args else {
            return Ok(None);
        };
        if !matches!(a.as_ref(), E::Bin(BinOp::Mul, ..))
            && !matches!(b.as_ref(), E::Bin(BinOp::Mul, ..))
        {
            return Ok(None);
        }
        let y = self.eval(lhs)?;
        let Some((vs, vx, vv, scalar_first)) = self.eval_affine_parts(a, b)? else {
            return Ok(None);
        };
        let lp = match dist::bernoulli_logit_glm(self.t, &y, &vs, &vx, &vv) {
            Some(lp) => lp?,
            None => {
                let eta = self.combine_affine(&vs, &vx, &vv, scalar_first)?;
                dist::lpdf(self.t, Dist::BernoulliLogit, &[y, eta], self.propto, None)?
            }
        };
        self.add_target(&lp)?;
        Ok(Some(()))
    }

    fn binary(&mut self, op: BinOp, a: &E, b: &E) -> Res<Val> {
        if op == BinOp::And {
            if !self.eval(a)?.truthy()? {
                return Ok(Val::Int(0));
            }
            return Ok(Val::Int(self.eval(b)?.truthy()? as i64));
        }
        if op == BinOp::Or {
            if self.eval(a)?.truthy()? {
                return Ok(Val::Int(1));
            }
            return Ok(Val::Int(self.eval(b)?.truthy()? as i64));
        }
        // `alpha + X * beta` (either order) with data X: one fused node.
        if op == BinOp::Add {
            if let Some((vs, vx, vv, scalar_first)) = self.eval_affine_parts(a, b)? {
                return self.combine_affine(&vs, &vx, &vv, scalar_first);
            }
        }
        let va = self.eval(a)?;
        let vb = self.eval(b)?;
        binop(self.t, op, &va, &vb)
    }

    pub fn exec(&mut self, s: &S) -> Res<Flow> {
        match s {
            S::Decl { slot, ty, init } => {
                match init {
                    None => {
                        let v = self.default_value(ty)?;
                        self.env[*slot] = v;
                    }
                    Some(e) => {
                        let rhs = self.eval(e)?;
                        let mut target = self.shape_only(ty)?;
                        index::assign(self.t, &mut target, &[], &rhs)?;
                        self.env[*slot] = target;
                    }
                }
                Ok(Flow::Normal)
            }
            S::Assign { place, op, rhs } => {
                let rhs = self.eval(rhs)?;
                self.assign(place, *op, rhs)?;
                Ok(Flow::Normal)
            }
            S::Tilde {
                lhs,
                place,
                dist,
                args,
                trunc,
                obs,
            } => {
                if self.sim.is_some() {
                    return self.sim_tilde(lhs, place.as_ref(), *dist, args, trunc, *obs);
                }
                let collect = obs.is_some() && self.loglik.is_some();
                if *dist == Dist::BernoulliLogit
                    && !collect
                    && trunc.is_none()
                    && self.tilde_bernoulli_logit_glm(lhs, args)?.is_some()
                {
                    return Ok(Flow::Normal);
                }
                let y = self.eval(lhs)?;
                let mut all = self.eval_args(args)?;
                all.insert(0, y);
                let mut terms = Vec::new();
                let lp = dist::lpdf(
                    self.t,
                    *dist,
                    &all,
                    self.propto && !collect,
                    if collect { Some(&mut terms) } else { None },
                )?;
                self.add_target(&lp)?;
                if let Some((lo, hi)) = trunc {
                    let lo = lo.as_ref().map(|e| self.eval(e)).transpose()?;
                    let hi = hi.as_ref().map(|e| self.eval(e)).transpose()?;
                    let n = all[0].numel();
                    for i in 0..n {
                        let x = all[0].elem(i, &self.t.val).0;
                        let bound = |b: &Option<Val>| {
                            b.as_ref()
                                .map(|v| v.elem(if v.numel() == 1 { 0 } else { i }, &self.t.val).0)
                        };
                        if !dist::in_bounds(x, bound(&lo), bound(&hi)) {
                            return eval_err(format!(
                                "{}: value {x} outside its truncation bounds",
                                dist.name()
                            ));
                        }
                    }
                    let (tr, tr_terms) =
                        dist::truncation(self.t, *dist, &all[1..], lo.as_ref(), hi.as_ref(), n)?;
                    self.add_target(&tr)?;
                    if collect {
                        if tr_terms.len() == terms.len() {
                            terms.iter_mut().zip(&tr_terms).for_each(|(x, t)| *x += t);
                        } else {
                            let per = tr.as_f64()? / terms.len().max(1) as f64;
                            terms.iter_mut().for_each(|x| *x += per);
                        }
                    }
                }
                if collect {
                    self.gaussian_loo(obs.expect("obs"), *dist, &all, &mut terms)?;
                    self.record_loglik(obs.expect("obs"), lhs, dist.is_multivariate(), &terms)?;
                }
                self.give(all);
                Ok(Flow::Normal)
            }
            S::Target { e, obs, place } => {
                if self.sim.is_some() {
                    if let (E::Builtin(builtins::Builtin::LogMix, margs), Some(place)) = (e, place)
                    {
                        return self.sim_log_mix(margs, place);
                    }
                    // `target += dist_lpdf(x | ...)` simulates like `x ~ dist(...)`.
                    if let E::Lpdf { dist, args, .. } = e {
                        if let Some(first) = args.first() {
                            return self.sim_tilde(
                                first,
                                place.as_ref(),
                                *dist,
                                &args[1..],
                                &None,
                                *obs,
                            );
                        }
                    }
                    return Ok(Flow::Normal);
                }
                if let (Some(o), Some(_), E::Lpdf { dist, args, .. }) = (obs, &self.loglik, e) {
                    let vals = self.eval_args(args)?;
                    let mut terms = Vec::new();
                    let lp = dist::lpdf(self.t, *dist, &vals, false, Some(&mut terms))?;
                    self.add_target(&lp)?;
                    self.gaussian_loo(*o, *dist, &vals, &mut terms)?;
                    self.record_loglik(*o, &args[0], dist.is_multivariate(), &terms)?;
                    return Ok(Flow::Normal);
                }
                if let (Some(o), Some(_), E::UserCall(cands, args)) = (obs, &self.loglik, e) {
                    let mut vals = Vec::with_capacity(args.len());
                    for a in args {
                        vals.push(self.eval(a)?);
                    }
                    let total = self.call_with(cands, vals.clone())?;
                    self.add_target(&total)?;
                    let terms = self.unit_terms(cands, &vals, total.as_f64()?)?;
                    self.record_loglik(*o, &args[0], true, &terms)?;
                    return Ok(Flow::Normal);
                }
                let v = self.eval(e)?;
                self.add_target(&v)?;
                Ok(Flow::Normal)
            }
            S::For {
                slot,
                lo,
                hi,
                body,
                at,
            } => {
                let lo = self.eval(lo)?.as_int()?;
                let hi = self.eval(hi)?.as_int()?;
                if (hi as i128) - (lo as i128) >= MAX_FOR_ITERATIONS as i128 {
                    return Err(ModelError::Runaway(format!(
                        "the `for` loop{} over {lo}:{hi} would run more than \
                         {MAX_FOR_ITERATIONS} iterations in one evaluation of the program (is a \
                         size in the data far larger than meant?)",
                        self.ir.at_line(*at)
                    )));
                }
                let mut i = lo;
                while i <= hi {
                    self.env[*slot] = Val::Int(i);
                    match self.exec_block(body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Continue | Flow::Normal => {}
                    }
                    match i.checked_add(1) {
                        Some(n) => i = n,
                        None => break,
                    }
                }
                Ok(Flow::Normal)
            }
            S::ForEach {
                slot,
                container,
                body,
            } => {
                let c = self.eval(container)?;
                let n = match &c {
                    Val::Ints(d, ..) => d.d[0] as usize,
                    Val::Reals(s, _) if !s.arr.is_empty() => s.arr.d[0] as usize,
                    Val::Reals(s, _) => s.numel(),
                    _ => return eval_err("foreach needs a container"),
                };
                for i in 0..n {
                    let item = match &c {
                        Val::Reals(s, _) if s.arr.is_empty() => {
                            let (x, sl) = c.elem(i, &self.t.val);
                            Val::Real(x, sl)
                        }
                        _ => index::index(self.t, &c, &[IdxVal::One(i as i64 + 1)])?,
                    };
                    self.env[*slot] = item;
                    match self.exec_block(body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Continue | Flow::Normal => {}
                    }
                }
                Ok(Flow::Normal)
            }
            S::While { cond, body, at } => {
                let mut iterations: u64 = 0;
                while self.eval(cond)?.truthy()? {
                    iterations += 1;
                    if iterations > MAX_WHILE_ITERATIONS {
                        return Err(ModelError::Runaway(format!(
                            "the `while` loop{} ran more than {MAX_WHILE_ITERATIONS} \
                             iterations in one evaluation of the program (does its condition \
                             ever become false?)",
                            self.ir.at_line(*at)
                        )));
                    }
                    match self.exec_block(body)? {
                        Flow::Break => break,
                        Flow::Return => return Ok(Flow::Return),
                        Flow::Continue | Flow::Normal => {}
                    }
                }
                Ok(Flow::Normal)
            }
            S::If {
                cond,
                then,
                otherwise,
            } => {
                if self.eval(cond)?.truthy()? {
                    self.exec_block(then)
                } else {
                    self.exec_block(otherwise)
                }
            }
            S::Block(ss) => self.exec_block(ss),
            S::Print => Ok(Flow::Normal),
            S::Reject(items) => {
                let mut msg = String::new();
                for it in items {
                    match it {
                        PrintItem::Str(s) => msg.push_str(s),
                        PrintItem::Expr(e) => {
                            let v = self.eval(e)?;
                            let xs = v.to_vec(&self.t.val);
                            if xs.len() == 1 {
                                msg.push_str(&format!("{}", xs[0]));
                            } else {
                                msg.push_str(&format!("{xs:?}"));
                            }
                        }
                    }
                }
                Err(ModelError::Eval(format!("reject: {msg}")))
            }
            S::Break => Ok(Flow::Break),
            S::Continue => Ok(Flow::Continue),
            S::Return { value, slot } => {
                if let Some(e) = value {
                    let v = self.eval(e)?;
                    self.env[*slot] = v;
                }
                Ok(Flow::Return)
            }
            S::Call(e) => {
                self.eval(e)?;
                Ok(Flow::Normal)
            }
        }
    }

    fn assign(&mut self, place: &Place, op: Option<BinOp>, rhs: Val) -> Res<()> {
        // The common case, one index list, without intermediate vectors.
        if place.idx.len() <= 1 {
            let mut idx = match place.idx.first() {
                Some(l) => self.eval_idx(l)?,
                None => {
                    let mut v = self.idx_pool.pop().unwrap_or_default();
                    v.clear();
                    v
                }
            };
            let r = self.assign_flat(place.slot, op, rhs, &mut idx);
            idx.clear();
            self.idx_pool.push(idx);
            return r;
        }
        let mut lists = Vec::with_capacity(place.idx.len());
        for l in &place.idx {
            lists.push(self.eval_idx(l)?);
        }
        let rhs = match op {
            None => rhs,
            Some(op) => {
                let cur = Self::index_chain(self.t, &self.env[place.slot], &lists)?;
                binop(self.t, op, &cur, &rhs)?
            }
        };
        // `x[i][j] = v` is applied as x[i, j].
        let mut flat: Vec<IdxVal> = lists.into_iter().flatten().collect();
        self.assign_flat(place.slot, None, rhs, &mut flat)
    }

    /// Assign `rhs` (combined with the current value by `op`) at `idx` of the variable.
    fn assign_flat(
        &mut self,
        slot: usize,
        op: Option<BinOp>,
        rhs: Val,
        idx: &mut [IdxVal],
    ) -> Res<()> {
        Self::resolve_open(&self.env[slot], idx);
        let rhs = match op {
            None => rhs,
            Some(op) => {
                let cur = if idx.is_empty() {
                    self.env[slot].clone()
                } else {
                    index::index(self.t, &self.env[slot], idx)?
                };
                binop(self.t, op, &cur, &rhs)?
            }
        };
        let mut target = std::mem::replace(&mut self.env[slot], Val::Int(0));
        let r = index::assign(self.t, &mut target, idx, &rhs);
        self.env[slot] = target;
        r
    }

    /// Replace the per-vector terms of a multivariate normal observing a single data vector by
    /// its per-element leave-one-out terms (see [`dist::loo_per_element`]).
    fn gaussian_loo(&self, var: usize, d: Dist, args: &[Val], terms: &mut Vec<f64>) -> Res<()> {
        if dist::loo_per_element(d, &self.env[self.ir.data[var]]) {
            *terms =
                dist::multi_normal_loo_terms(&self.t.val, d == Dist::MultiNormalCholesky, args)?;
        }
        Ok(())
    }

    fn record_loglik(&mut self, var: usize, lhs: &E, multivariate: bool, terms: &[f64]) -> Res<()> {
        // Positions of the left side's elements within the data variable: index a surrogate
        // holding 0..n.
        let slot = self.ir.data[var];
        let data_val = self.env[slot].clone();
        let n = data_val.numel();
        let shape = match &data_val {
            Val::Ints(d, ..) => Shape::array(*d),
            Val::Reals(s, _) => *s,
            Val::Int(_) | Val::Real(..) => Shape::array(Dims::default()),
        };
        let surrogate = if matches!(data_val, Val::Int(_) | Val::Real(..)) {
            Val::real(0.0)
        } else {
            Val::const_reals(shape, (0..n).map(|i| i as f64).collect())
        };
        let saved = std::mem::replace(&mut self.env[slot], surrogate);
        let pos = self.eval(lhs);
        self.env[slot] = saved;
        let pos: Vec<usize> = pos?
            .to_vec(&self.t.val)
            .iter()
            .map(|&x| x as usize)
            .collect();
        let Some(ll) = self.loglik.as_deref_mut() else {
            return Ok(());
        };
        let acc = &mut ll.acc[var];
        if multivariate {
            let k = if terms.is_empty() {
                0
            } else {
                pos.len() / terms.len()
            };
            for (i, t) in terms.iter().enumerate() {
                acc[pos[i * k]] += t;
            }
        } else if terms.len() == pos.len() {
            for (p, t) in pos.iter().zip(terms) {
                acc[*p] += t;
            }
        } else if let Some(&p0) = pos.first() {
            acc[p0] += terms.iter().sum::<f64>();
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Prior-predictive simulation.

    fn sim_tilde(
        &mut self,
        lhs: &E,
        place: Option<&Place>,
        d: Dist,
        args: &[E],
        trunc: &Option<(Option<E>, Option<E>)>,
        obs: Option<usize>,
    ) -> Res<Flow> {
        let data_phase = self.sim.as_ref().is_some_and(|s| s.data_phase);
        let Some(place) = place else {
            return Ok(Flow::Normal);
        };
        let kind = self.ir.vars[place.slot].kind;
        let is_param = kind == VarKind::Param;
        if data_phase != obs.is_some() || (!data_phase && !is_param) {
            return Ok(Flow::Normal);
        }
        let cur = self.eval(lhs)?;
        if !data_phase {
            let xs = cur.to_vec(&self.t.val);
            if !xs.iter().any(|x| x.is_nan()) {
                return Ok(Flow::Normal);
            }
        }
        let vals = match self.eval_args(args) {
            Ok(v) => v,
            Err(ModelError::Eval(_)) if !data_phase => return Ok(Flow::Normal),
            Err(e) => return Err(e),
        };
        let any_nan = vals
            .iter()
            .any(|v| v.to_vec(&self.t.val).iter().any(|x| x.is_nan()));
        if any_nan {
            if data_phase {
                return eval_err(format!(
                    "cannot simulate from {}: an argument is not a number",
                    d.name()
                ));
            }
            return Ok(Flow::Normal);
        }
        // Bounds to respect: declared bounds of a parameter, truncation of data.
        let (lo, hi) = if data_phase {
            match trunc {
                Some((l, h)) => (
                    l.as_ref().map(|e| self.eval(e)).transpose()?,
                    h.as_ref().map(|e| self.eval(e)).transpose()?,
                ),
                None => (None, None),
            }
        } else {
            let ty = self.ir.vars[place.slot].ty.clone().expect("param type");
            match self.constraint(&ty) {
                Ok(Constraint::Lower(l)) => (Some(l), None),
                Ok(Constraint::Upper(h)) => (None, Some(h)),
                Ok(Constraint::LowerUpper(l, h)) => (Some(l), Some(h)),
                Ok(_) => (None, None),
                Err(_) => return Ok(Flow::Normal),
            }
        };
        let lo_f =
            lo.as_ref().map(|v| v.as_f64()).transpose().map_err(|_| {
                ModelError::Unsupported("simulation with vector-valued bounds".into())
            })?;
        let hi_f =
            hi.as_ref().map(|v| v.as_f64()).transpose().map_err(|_| {
                ModelError::Unsupported("simulation with vector-valued bounds".into())
            })?;
        if lo_f.is_some_and(f64::is_nan) || hi_f.is_some_and(f64::is_nan) {
            return Ok(Flow::Normal);
        }
        let n = cur.numel();
        let drawn = match self.draw(d, &vals, &cur, n, lo_f, hi_f) {
            Ok(v) => v,
            Err(e) => {
                if let Some(sim) = self.sim.as_deref_mut() {
                    sim.error.get_or_insert(e.clone());
                }
                return Err(e);
            }
        };
        let mut lists = Vec::with_capacity(place.idx.len());
        for l in &place.idx {
            lists.push(self.eval_idx(l)?);
        }
        let mut flat: Vec<IdxVal> = lists.into_iter().flatten().collect();
        let mut target = std::mem::replace(&mut self.env[place.slot], Val::Int(0));
        Self::resolve_open(&target, &mut flat);
        let r = index::assign(self.t, &mut target, &flat, &drawn);
        self.env[place.slot] = target;
        r?;
        if let Some(sim) = self.sim.as_deref_mut() {
            sim.progress = true;
            if let Some(o) = obs {
                sim.simulated[o] = true;
            }
        }
        Ok(Flow::Normal)
    }

    /// `target += log_mix(theta, d1_lpdf(y | a1), d2_lpdf(y | a2))` on data `y` (the lowering
    /// set `place` only when both variates are `y`): in the data phase, the first component with
    /// probability `theta`, else the second, then `y` from that component as `y ~ d(a)` would
    /// be. One component per statement executed: a loop over observations draws one per
    /// observation, a vectorised statement one for the whole vector (as its density says).
    fn sim_log_mix(&mut self, margs: &[E], place: &Place) -> Res<Flow> {
        let data_phase = self.sim.as_ref().is_some_and(|s| s.data_phase);
        let obs = self.ir.data.iter().position(|&s| s == place.slot);
        let (
            true,
            Some(obs),
            [theta, E::Lpdf {
                dist: d1, args: a1, ..
            }, E::Lpdf {
                dist: d2, args: a2, ..
            }],
        ) = (data_phase, obs, margs)
        else {
            return Ok(Flow::Normal);
        };
        let theta = self.eval(theta)?.as_f64()?;
        if !(0.0..=1.0).contains(&theta) {
            return eval_err(format!(
                "cannot simulate from log_mix: mixing proportion {theta} outside [0, 1]"
            ));
        }
        let Some(rng) = self.rng.as_deref_mut() else {
            return eval_err("simulation needs a random number generator");
        };
        let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let (d, args) = if u < theta { (*d1, a1) } else { (*d2, a2) };
        let (Some(variate), Some(rest)) = (args.first(), args.get(1..)) else {
            return Ok(Flow::Normal);
        };
        self.sim_tilde(variate, Some(place), d, rest, &None, Some(obs))
    }

    /// Draw a value shaped like `like` (n elements) from `d` with the given parameters,
    /// rejecting draws outside [lo, hi].
    fn draw(
        &mut self,
        d: Dist,
        params: &[Val],
        like: &Val,
        n: usize,
        lo: Option<f64>,
        hi: Option<f64>,
    ) -> Res<Val> {
        let Some(rng) = self.rng.as_deref_mut() else {
            return eval_err("simulation needs a random number generator");
        };
        let tape: &Tape = self.t;
        let tv = &tape.val;
        let mut out = Vec::with_capacity(n);
        match d {
            Dist::MultiNormal | Dist::MultiNormalCholesky | Dist::Dirichlet => {
                let k = match like {
                    Val::Reals(s, _) => s.base.numel(),
                    _ => return eval_err("multivariate draw needs a vector"),
                };
                let obs = n.checked_div(k).unwrap_or(0);
                for o in 0..obs {
                    let ps: Vec<Val> = params
                        .iter()
                        .map(|p| match p {
                            Val::Reals(s, _) if !s.arr.is_empty() => {
                                index::index(tape, p, &[IdxVal::One(o as i64 + 1)])
                            }
                            other => Ok(other.clone()),
                        })
                        .collect::<Res<_>>()?;
                    let v = dist::rng(d, &ps, tv, rng)?;
                    out.extend(v.to_vec(tv));
                }
            }
            Dist::LkjCorrCholesky => {
                let k = (n as f64).sqrt().round() as i64;
                let v = dist::rng(d, &[Val::Int(k), params[0].clone()], tv, rng)?;
                out.extend(v.to_vec(tv));
            }
            Dist::Categorical | Dist::CategoricalLogit => {
                for _ in 0..n {
                    let v = dist::rng(d, params, tv, rng)?;
                    out.push(v.as_f64()?);
                }
            }
            _ => {
                let mut p = vec![0.0; params.len()];
                for i in 0..n {
                    for (k, a) in params.iter().enumerate() {
                        let m = a.numel();
                        p[k] = a.elem(if m == 1 { 0 } else { i }, tv).0;
                    }
                    let mut tries = 0;
                    loop {
                        let x = dist::rng_scalar(d, &p, rng)?;
                        if dist::in_bounds(x, lo, hi) {
                            out.push(x);
                            break;
                        }
                        tries += 1;
                        if tries >= MAX_REJECTION_TRIES {
                            return eval_err(format!(
                                "cannot draw from {} inside the bounds [{}, {}] in {MAX_REJECTION_TRIES} tries",
                                d.name(),
                                lo.unwrap_or(f64::NEG_INFINITY),
                                hi.unwrap_or(f64::INFINITY)
                            ));
                        }
                    }
                }
            }
        }
        if out.len() != n {
            return eval_err(format!(
                "{}: drew {} values for {} elements",
                d.name(),
                out.len(),
                n
            ));
        }
        Ok(match like {
            // Int data under a continuous distribution: simulated values are rounded so the
            // draw stays a valid data set for the declared type.
            Val::Int(_) => Val::Int(out[0].round() as i64),
            Val::Real(..) => Val::real(out[0]),
            Val::Ints(dims, ..) => {
                let rounded: Vec<f64> = out.iter().map(|x| x.round()).collect();
                Val::Ints(*dims, rounded.into(), 0)
            }
            Val::Reals(s, _) => Val::const_reals(*s, out),
        })
    }
}

/// The definition among `cands` whose argument types fit the values (exact kinds first, then
/// with ints promoted to reals).
fn pick_overload(ir: &Ir, cands: &[usize], vals: &[Val]) -> Res<usize> {
    let kind = |v: &Val| -> (UnsizedBase, u8) {
        match v {
            Val::Int(_) => (UnsizedBase::Int, 0),
            Val::Real(..) => (UnsizedBase::Real, 0),
            Val::Ints(d, ..) => (UnsizedBase::Int, d.n),
            Val::Reals(s, _) => (
                match s.base {
                    Base::Real => UnsizedBase::Real,
                    Base::Vector(_) => UnsizedBase::Vector,
                    Base::RowVector(_) => UnsizedBase::RowVector,
                    Base::Matrix(..) => UnsizedBase::Matrix,
                },
                s.arr.n,
            ),
        }
    };
    let kinds: Vec<(UnsizedBase, u8)> = vals.iter().map(kind).collect();
    let score = |i: usize| -> Option<usize> {
        let f = &ir.functions[i];
        let mut promotions = 0;
        for (t, (b, n)) in f.param_tys.iter().zip(&kinds) {
            if t.array_dims != *n {
                return None;
            }
            if t.base != *b {
                if t.base == UnsizedBase::Real && *b == UnsizedBase::Int {
                    promotions += 1;
                } else {
                    return None;
                }
            }
        }
        Some(promotions)
    };
    cands
        .iter()
        .filter_map(|&i| score(i).map(|s| (s, i)))
        .min()
        .map(|(_, i)| i)
        .ok_or_else(|| {
            ModelError::Eval(format!(
                "no definition of `{}` fits these arguments",
                ir.functions[cands[0]].name
            ))
        })
}

/// `v[k]` for a one-dimensional container (1-D array, vector, row vector); `None` for other
/// shapes.
fn index_1d(v: &Val, k: i64, tv: &[f64]) -> Option<Res<Val>> {
    let n = match v {
        Val::Ints(d, ..) if d.n == 1 => d.d[0] as usize,
        Val::Reals(s, _) => match (s.arr.n, s.base) {
            (1, Base::Real) => s.arr.d[0] as usize,
            (0, Base::Vector(n) | Base::RowVector(n)) => n as usize,
            _ => return None,
        },
        _ => return None,
    };
    if k < 1 || k as usize > n {
        return Some(eval_err(format!(
            "index {k} out of range; expecting index in 1..{n}"
        )));
    }
    let i = k as usize - 1;
    Some(Ok(match v {
        Val::Ints(_, data, off) => Val::Int(data[*off as usize + i] as i64),
        _ => {
            let (x, s) = v.elem(i, tv);
            Val::Real(x, s)
        }
    }))
}

/// Binary operators on values.
pub fn binop(t: &mut Tape, op: BinOp, a: &Val, b: &Val) -> Res<Val> {
    use BinOp::*;
    match op {
        Add => ops::add(t, a, b),
        Sub => ops::sub(t, a, b),
        Mul => ops::mul(t, a, b),
        Div => ops::div(t, a, b),
        EltMul => ops::elt_mul(t, a, b),
        EltDiv => ops::elt_div(t, a, b),
        Pow | EltPow => ops::pow(t, a, b),
        IntDiv | Mod => {
            let (x, y) = (a.as_int()?, b.as_int()?);
            if y == 0 {
                return eval_err("integer division by zero");
            }
            Ok(Val::Int(if op == IntDiv {
                x.wrapping_div(y)
            } else {
                x.wrapping_rem(y)
            }))
        }
        Lt | Le | Gt | Ge | Eq | Ne => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            let r = match op {
                Lt => x < y,
                Le => x <= y,
                Gt => x > y,
                Ge => x >= y,
                Eq => x == y,
                _ => x != y,
            };
            Ok(Val::Int(r as i64))
        }
        And => Ok(Val::Int((a.truthy()? && b.truthy()?) as i64)),
        Or => Ok(Val::Int((a.truthy()? || b.truthy()?) as i64)),
        // A \ B = inverse(A) * B.
        LeftDiv => {
            if let Val::Int(_) | Val::Real(..) = a {
                return ops::div(t, b, a);
            }
            let inv = builtins::call(t, builtins::Builtin::Inverse, std::slice::from_ref(a))?;
            ops::mul(t, &inv, b)
        }
    }
}

fn array_literal(t: &Tape, vals: Vec<Val>) -> Res<Val> {
    let n = vals.len();
    if n == 0 {
        return eval_err("empty array literal");
    }
    if vals.iter().all(|v| matches!(v, Val::Int(_))) {
        let xs: Vec<f64> = vals.iter().map(|v| v.as_f64().unwrap_or(0.0)).collect();
        return Ok(Val::Ints(Dims::from_slice(&[n])?, xs.into(), 0));
    }
    if vals.iter().all(|v| matches!(v, Val::Ints(..))) {
        let Val::Ints(d0, ..) = &vals[0] else {
            unreachable!()
        };
        let dims = d0.push_front(n)?;
        let mut xs = vec![];
        for v in &vals {
            xs.extend(v.to_vec(&t.val));
        }
        if xs.len() != dims.numel() {
            return eval_err("array literal elements differ in size");
        }
        return Ok(Val::Ints(dims, xs.into(), 0));
    }
    let vals: Vec<Val> = vals.into_iter().map(promote).collect();
    let shape = match &vals[0] {
        Val::Real(..) => Shape::array(Dims::from_slice(&[n])?),
        Val::Reals(s, _) => Shape {
            arr: s.arr.push_front(n)?,
            base: s.base,
        },
        _ => return eval_err("array literal of unsupported element type"),
    };
    ops::stack(t, &vals, shape)
}

fn row_vector_literal(t: &Tape, vals: Vec<Val>) -> Res<Val> {
    let n = vals.len();
    if vals
        .iter()
        .all(|v| matches!(v, Val::Int(_) | Val::Real(..)))
    {
        return ops::stack(t, &vals, Shape::row_vector(n));
    }
    // Rows of a matrix.
    let c = vals[0].numel();
    let mut items = Vec::with_capacity(n * c);
    for j in 0..c {
        for row in &vals {
            if row.numel() != c {
                return eval_err("matrix literal rows differ in length");
            }
            let (x, s) = row.elem(j, &t.val);
            items.push(Val::Real(x, s));
        }
    }
    ops::stack(t, &items, Shape::matrix(n, c))
}
