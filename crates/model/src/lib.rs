//! The model stage of refinestat: a checked program plus data becomes an executable model.
//!
//! Owns: the parameter layout, constraining transforms with their log|J|, the reverse-mode AD
//! tape (scalar and fused vector nodes, hand-written partials for every distribution and
//! function), the log density and its gradient, the pointwise log-likelihood of observed data,
//! generated quantities, and the prior-predictive simulator.
//!
//! Does not own: parsing or validity checking (the `language` crate), sampling (the `inference`
//! crate), diagnostics. Invariant: no sampler types appear here; a sampler sees only
//! `dim` + `log_density_gradient`.
//!
//! How it works: [`Model::new`] lowers the AST once into an IR with resolved variable slots
//! (`lower`), loads the data, runs `transformed data`, and fixes the parameter and output layouts.
//! Each evaluation interprets the IR (`interp`) over runtime values whose real elements are
//! constants or slots of a reusable AD tape (`tape`); distributions and vector functions are
//! single fused nodes with hand-written partials (`dist`, `ops`, `builtins`). The statement
//! `y ~ bernoulli_logit(alpha + X * beta)` with int data `y` and a data matrix `X` is recognised
//! and evaluated as one GLM node (Stan's `bernoulli_logit_glm`) whose loops are compiled for the
//! widest instruction set the CPU offers (AVX2 via `pulp`'s runtime dispatch); its reductions'
//! last bits therefore depend on the instruction set.
//!
//! Layouts: the unconstrained vector is in declaration order; within a variable, array elements
//! outermost (row-major), matrices column-major (Stan's serializer order). Outputs
//! ([`Model::output_names`], [`Model::write_array`]) follow CmdStan: column-major over all
//! dimensions. Transforms are Stan's (reference manual up to 2.35): simplex by stick-breaking,
//! `cholesky_factor_corr` by tanh-transformed canonical partial correlations, `cov_matrix` by a
//! Cholesky factor with log diagonal.
//!
//! Semantics: `propto` drops a term when every argument it depends on is constant (Stan's
//! `include_summand`); `target +=` and `_lpdf` keep everything, `_lupdf` follows `propto`.
//! The pointwise log-likelihood has one term per element of each observed data variable (a data
//! variable on the left of `~` or first in `target += dist_lpdf(...)`), ordered by data
//! declaration, then element in JSON order; multivariate observations give one term per vector,
//! except a single data vector observed under `multi_normal` / `multi_normal_cholesky`: that
//! likelihood does not factorize, so it gives one term per element, the exact leave-one-out
//! conditional log p(y_i | y_{-i}) = normal_lpdf(y_i | y_i - g_i / K_ii, 1 / sqrt(K_ii)) with
//! K = Sigma^{-1}, g = K (y - mu) (Vehtari et al. 2016; Bürkner, Gabry and Vehtari 2021). Those
//! terms do NOT sum to the joint log density.
//! A value outside a distribution's support, `reject`, a violated transformed-parameter bound or
//! an index out of range is a recoverable [`ModelError::Eval`].
//!
//! ```
//! use refinestat_language::Data;
//! use refinestat_model::{LogDensityOptions, Model};
//! let src = "data { int N; vector[N] y; } parameters { real mu; real<lower=0> sigma; }
//!            model { mu ~ normal(0, 10); sigma ~ exponential(1); y ~ normal(mu, sigma); }";
//! let data = Data::from_json_str(r#"{"N": 3, "y": [0.5, 1.5, 1.0]}"#).unwrap();
//! let mut model = Model::from_source(src, &data).unwrap();
//! assert_eq!(model.param_names(), ["mu", "sigma"]);
//! let x = [1.0, 0.0]; // mu = 1, log(sigma) = 0
//! let mut grad = [0.0; 2];
//! let opts = LogDensityOptions { jacobian: true, propto: false };
//! let lp = model.log_density_gradient(&x, opts, &mut grad).unwrap();
//! assert!(lp.is_finite());
//! assert_eq!(model.log_lik(&x).unwrap().len(), 3);
//! ```

// Comparisons are written `!(x > 0.0)` on purpose: they reject NaN as well.
#![allow(clippy::neg_cmp_op_on_partial_ord)]
#![warn(missing_docs)]

mod builtins;
mod dist;
mod index;
mod interp;
mod layout;
mod library;
mod lower;
mod math;
mod ode;
mod ops;
mod tape;
mod transform;
mod value;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use rand::{Rng, RngCore, SeedableRng};
use refinestat_language::{Data, DataValue, Program};

use interp::{Ctx, DeclShape, LogLik, Sim};
use lower::{Ir, Slot, TyBase, S};
use tape::Tape;
use transform::Constraint;
use value::{Base, Dims, Shape, Store, Val};

/// What `log_density` includes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogDensityOptions {
    /// Add log|J| of the unconstraining transforms.
    pub jacobian: bool,
    /// Drop constant terms of `~` statements (Stan's sampling semantics). `target +=` always keeps them.
    pub propto: bool,
}

/// Why a model could not be built or evaluated.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// The program does not parse or check; each entry is one rendered diagnostic.
    #[error("program is not valid: {0}")]
    Invalid(String),
    /// The data does not fit the data block.
    #[error("data does not fit the program: {0}")]
    Data(String),
    /// A construct the engine does not support yet.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Evaluation failed at this point (reject(), index out of range, non-finite density ...).
    /// Recoverable: a sampler treats it as a divergence.
    #[error("evaluation error: {0}")]
    Eval(String),
    /// Given parameter values do not fit (missing, wrong size, outside constraints).
    #[error("parameter values: {0}")]
    Params(String),
    /// A loop ran past its budget in one evaluation (`while (1)`): the program would never
    /// return, so no sampler should go on.
    #[error("runaway loop: {0}")]
    Runaway(String),
}

impl ModelError {
    /// Whether a sampler may go on after this error: an evaluation failure at one point
    /// ([`ModelError::Eval`]) is recoverable (NUTS treats it as a divergence, as nuts-rs's
    /// `LogpError::is_recoverable` does); every other error is about the program, the data or the
    /// parameter layout and will recur at every point.
    pub fn is_recoverable(&self) -> bool {
        matches!(self, ModelError::Eval(_))
    }
}

/// One prior-predictive draw: constrained parameter values and simulated observed data, both in
/// the Stan JSON shape (so `data` can be written out and fed back as a data file).
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedDraw {
    /// The parameters drawn from their priors.
    pub params: Data,
    /// The data given with the observed variables replaced by their simulated values.
    pub data: Data,
}

/// Layout of one parameter.
#[derive(Debug, Clone)]
struct ParamLayout {
    slot: Slot,
    name: String,
    /// Constrained shape.
    shape: Shape,
    /// Offset and length in the unconstrained vector.
    offset: usize,
    len: usize,
    /// Structural constraint (simplex, ...) applied per array element.
    structural: bool,
    /// Vector length / matrix side of one element.
    k: usize,
}

/// One output variable (parameter, transformed parameter or generated quantity).
#[derive(Debug, Clone)]
struct OutVar {
    slot: Slot,
    /// (name, internal position) in CmdStan order.
    elems: Vec<(String, usize)>,
}

/// One observed data variable contributing log-likelihood terms.
#[derive(Debug, Clone)]
struct ObsVar {
    var: usize,
    /// Internal positions of the first element of each observation unit, in JSON order.
    units: Vec<usize>,
}

/// Everything fixed at compile time; shared by all clones.
#[derive(Debug)]
struct Compiled {
    ir: Ir,
    base_env: Vec<Val>,
    params: Vec<ParamLayout>,
    dim: usize,
    outputs: Vec<OutVar>,
    n_param_outputs: usize,
    obs: Vec<ObsVar>,
    /// A `log_lik` declared in generated quantities.
    gq_log_lik: Option<Slot>,
    n_log_lik: usize,
}

/// Reusable evaluation buffers.
#[derive(Debug, Clone, Default)]
struct Workspace {
    tape: Tape,
    env: Vec<Val>,
    seeds: Vec<u32>,
    pool: Vec<Vec<Val>>,
    idx_pool: Vec<Vec<index::IdxVal>>,
    /// log|J| terms of the current evaluation.
    lj: Vec<Val>,
}

/// An executable model. Cheap to clone; one clone per sampling chain.
#[derive(Debug, Clone)]
pub struct Model {
    c: Arc<Compiled>,
    ws: Workspace,
}

/// Adapts any `Rng` to a `dyn RngCore` the interpreter can hold.
struct RngRef<'a, R: ?Sized>(&'a mut R);

impl<R: RngCore + ?Sized> RngCore for RngRef<'_, R> {
    fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }
    fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn fill_bytes(&mut self, dst: &mut [u8]) {
        self.0.fill_bytes(dst)
    }
}

fn new_ctx<'a>(
    ir: &'a Ir,
    ws: &'a mut Workspace,
    propto: bool,
    rng: Option<&'a mut dyn RngCore>,
) -> Ctx<'a> {
    Ctx {
        ir,
        t: &mut ws.tape,
        env: &mut ws.env,
        target: 0.0,
        seeds: &mut ws.seeds,
        propto,
        rng,
        loglik: None,
        sim: None,
        pool: &mut ws.pool,
        idx_pool: &mut ws.idx_pool,
        call_depth: 0,
    }
}

/// Convert a data value (JSON order) into a runtime value of the declared shape.
fn data_to_val(name: &str, dv: &DataValue, decl: DeclShape) -> Result<Val, ModelError> {
    let bad = |m: String| Err(ModelError::Data(format!("`{name}`: {m}")));
    let (expected, is_int): (Vec<usize>, bool) = match decl {
        DeclShape::Int(d) => (d.as_slice().iter().map(|&x| x as usize).collect(), true),
        DeclShape::Real(s) => (layout::full_dims(&s), false),
    };
    let dims_ok =
        dv.dims == expected || (expected.iter().product::<usize>() == 0 && dv.values.is_empty());
    if !dims_ok {
        return bad(format!(
            "expected dimensions {:?}, found {:?}",
            expected, dv.dims
        ));
    }
    if is_int {
        if let Some(x) = dv
            .values
            .iter()
            .find(|x| x.fract() != 0.0 || !x.is_finite())
        {
            return bad(format!("expected integers, found {x}"));
        }
    }
    Ok(match decl {
        DeclShape::Int(d) if d.is_empty() => Val::Int(dv.values[0] as i64),
        DeclShape::Int(d) => Val::Ints(d, dv.values.clone().into(), 0),
        DeclShape::Real(s) if s.arr.is_empty() && s.base == Base::Real => Val::real(dv.values[0]),
        DeclShape::Real(s) => {
            let perm = layout::json_to_internal(&s);
            let mut v = vec![0.0; s.numel()];
            for (j, &p) in perm.iter().enumerate() {
                v[p] = dv.values[j];
            }
            Val::const_reals(s, v)
        }
    })
}

/// Convert a runtime value (constants) into a data value in JSON order.
fn val_to_data(v: &Val) -> DataValue {
    match v {
        Val::Int(i) => DataValue::scalar(*i as f64, true),
        Val::Real(x, _) => DataValue::scalar(*x, false),
        Val::Ints(d, ..) => DataValue {
            dims: d.as_slice().iter().map(|&x| x as usize).collect(),
            values: v.to_vec(&[]),
            all_int: true,
        },
        Val::Reals(s, _) => {
            let vals = v.to_vec(&[]);
            let perm = layout::json_to_internal(s);
            DataValue {
                dims: layout::full_dims(s),
                values: perm.iter().map(|&p| vals[p]).collect(),
                all_int: false,
            }
        }
    }
}

fn walk<'a>(ss: &'a [S], f: &mut impl FnMut(&'a S)) {
    for s in ss {
        f(s);
        match s {
            S::For { body, .. } | S::ForEach { body, .. } | S::While { body, .. } => walk(body, f),
            S::If {
                then, otherwise, ..
            } => {
                walk(then, f);
                walk(otherwise, f);
            }
            S::Block(b) => walk(b, f),
            _ => {}
        }
    }
}

impl Model {
    /// Compile a parsed (and checked) program with its data.
    pub fn new(program: &Program, data: &Data) -> Result<Model, ModelError> {
        Model::compile(program, data, None)
    }

    /// [`Model::new`], with the source text `program` was parsed from when there is one (errors
    /// then name source lines).
    fn compile(program: &Program, data: &Data, src: Option<&str>) -> Result<Model, ModelError> {
        let mut ir = lower::lower(program)?;
        if let Some(src) = src {
            ir.line_starts = lower::line_starts(src);
        }
        let mut ws = Workspace {
            env: vec![Val::Int(0); ir.vars.len()],
            ..Workspace::default()
        };
        let mut td_rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
        // Data.
        {
            let mut ctx = new_ctx(&ir, &mut ws, false, None);
            for &slot in &ir.data {
                let info = &ir.vars[slot];
                let ty = info.ty.as_ref().expect("data type");
                let decl = ctx
                    .decl_shape(ty)
                    .map_err(|e| ModelError::Data(format!("size of `{}`: {e}", info.name)))?;
                let dv = data.get(&info.name).ok_or_else(|| {
                    ModelError::Data(format!("missing data variable `{}`", info.name))
                })?;
                let v = data_to_val(&info.name, dv, decl)?;
                ctx.check_bounds(&info.name, ty, &v)
                    .map_err(|e| ModelError::Data(e.to_string()))?;
                ctx.env[slot] = v;
            }
            ctx.rng = Some(&mut td_rng);
            ctx.exec_block(&ir.tdata).map_err(|e| match e {
                ModelError::Eval(m) => ModelError::Data(format!("transformed data: {m}")),
                other => other,
            })?;
        }
        // Parameter layout.
        let mut params = vec![];
        let mut offset = 0;
        let mut outputs = vec![];
        {
            let mut ctx = new_ctx(&ir, &mut ws, false, None);
            for &slot in &ir.params {
                let info = &ir.vars[slot];
                let ty = info.ty.as_ref().expect("param type");
                let shape = match ctx.decl_shape(ty).map_err(|e| {
                    ModelError::Data(format!("size of parameter `{}`: {e}", info.name))
                })? {
                    DeclShape::Real(s) => s,
                    DeclShape::Int(_) => {
                        return Err(ModelError::Invalid(format!(
                            "parameter `{}` cannot be an int",
                            info.name
                        )))
                    }
                };
                let structural = matches!(
                    ty.base,
                    TyBase::Simplex(_)
                        | TyBase::Ordered(_)
                        | TyBase::PositiveOrdered(_)
                        | TyBase::CholCorr(_)
                        | TyBase::CovMatrix(_)
                        | TyBase::CorrMatrix(_)
                        | TyBase::CholCov(..)
                );
                let k = match shape.base {
                    Base::Vector(n) | Base::RowVector(n) => n as usize,
                    Base::Matrix(r, _) => r as usize,
                    Base::Real => 1,
                };
                let kind = match ty.base {
                    TyBase::Simplex(_) => Constraint::Simplex,
                    TyBase::CholCorr(_) => Constraint::CholeskyCorr,
                    TyBase::CovMatrix(_) => Constraint::CovMatrix,
                    TyBase::CorrMatrix(_) => Constraint::CorrMatrix,
                    TyBase::CholCov(..) => match shape.base {
                        Base::Matrix(_, c) => Constraint::CholeskyCov(c as usize),
                        _ => Constraint::None,
                    },
                    _ => Constraint::None,
                };
                if matches!(ty.base, TyBase::Simplex(_)) && k == 0 {
                    return Err(ModelError::Data(format!(
                        "simplex `{}` must have at least one element",
                        info.name
                    )));
                }
                let len = shape.arr.numel() * transform::free_len(&kind, shape.base.numel(), k);
                params.push(ParamLayout {
                    slot,
                    name: info.name.clone(),
                    shape,
                    offset,
                    len,
                    structural,
                    k,
                });
                outputs.push(OutVar {
                    slot,
                    elems: layout::output_elements(&info.name, &shape),
                });
                offset += len;
            }
            for &slot in ir.tparam_vars.iter().chain(&ir.gq_vars) {
                let info = &ir.vars[slot];
                let ty = info.ty.as_ref().expect("type");
                let shape = match ctx
                    .decl_shape(ty)
                    .map_err(|e| ModelError::Data(format!("size of `{}`: {e}", info.name)))?
                {
                    DeclShape::Real(s) => s,
                    DeclShape::Int(d) => Shape::array(d),
                };
                outputs.push(OutVar {
                    slot,
                    elems: layout::output_elements(&info.name, &shape),
                });
            }
        }
        let n_param_outputs = params.len();
        // Observed data for the pointwise log-likelihood.
        let gq_log_lik = ir
            .gq_vars
            .iter()
            .copied()
            .find(|&s| ir.vars[s].name == "log_lik");
        let mut event: Vec<Option<usize>> = vec![None; ir.data.len()];
        // `None`: a user-defined (or library) density, one term per vector of an array of
        // vectors, else one term for the whole value.
        let mut note = |var: usize, d: Option<dist::Dist>| {
            let slot = ir.data[var];
            let size = match d {
                Some(d) if d.is_multivariate() && !dist::loo_per_element(d, &ws.env[slot]) => {
                    match &ws.env[slot] {
                        Val::Reals(s, _) => s.base.numel().max(1),
                        _ => 1,
                    }
                }
                Some(_) => 1,
                None => match &ws.env[slot] {
                    Val::Reals(s, _) if s.arr.n == 1 && s.base != Base::Real => s.base.numel(),
                    v => v.numel().max(1),
                },
            };
            let e = event[var].get_or_insert(size);
            *e = (*e).max(size);
        };
        walk(&ir.model, &mut |s| match s {
            S::Tilde {
                obs: Some(o), dist, ..
            } => note(*o, Some(*dist)),
            S::Target {
                obs: Some(o),
                e: lower::E::Lpdf { dist, .. },
                ..
            } => note(*o, Some(*dist)),
            S::Target {
                obs: Some(o),
                e: lower::E::UserCall(..),
                ..
            } => note(*o, None),
            _ => {}
        });
        let mut obs = vec![];
        for (var, ev) in event.iter().enumerate() {
            let Some(ev) = ev else { continue };
            let v = &ws.env[ir.data[var]];
            let shape = match v {
                Val::Ints(d, ..) => Shape::array(*d),
                Val::Reals(s, _) => *s,
                _ => Shape::array(Dims::default()),
            };
            let units: Vec<usize> = layout::json_to_internal(&shape)
                .into_iter()
                .filter(|p| p % ev == 0)
                .collect();
            obs.push(ObsVar { var, units });
        }
        let n_log_lik = match gq_log_lik {
            Some(s) => outputs
                .iter()
                .find(|o| o.slot == s)
                .map_or(0, |o| o.elems.len()),
            None => obs.iter().map(|o| o.units.len()).sum(),
        };
        let base_env = ws.env.clone();
        let c = Compiled {
            ir,
            base_env,
            params,
            dim: offset,
            outputs,
            n_param_outputs,
            obs,
            gq_log_lik,
            n_log_lik,
        };
        Ok(Model { c: Arc::new(c), ws })
    }

    /// Parse, check and compile source text. Checker diagnostics of the `support` predicate
    /// and warnings do not stop compilation (evaluation reports values outside a support
    /// itself).
    pub fn from_source(src: &str, data: &Data) -> Result<Model, ModelError> {
        let parsed = refinestat_language::parse(src);
        if !parsed.errors.is_empty() {
            let msgs: Vec<String> = parsed.errors.iter().map(|d| d.message.clone()).collect();
            return Err(ModelError::Invalid(msgs.join("; ")));
        }
        let diags: Vec<String> = refinestat_language::check_program(&parsed.program, Some(data))
            .into_iter()
            .filter(|d| d.predicate != refinestat_language::Predicate::Support && d.is_error())
            .map(|d| format!("{}: {}", d.predicate, d.message))
            .collect();
        if !diags.is_empty() {
            return Err(ModelError::Invalid(diags.join("; ")));
        }
        Model::compile(&parsed.program, data, Some(src))
    }

    /// Length of the unconstrained parameter vector.
    pub fn dim(&self) -> usize {
        self.c.dim
    }

    /// Stan-style names of the constrained parameters in declaration order, column-major
    /// (`mu`, `theta[1]`, `L[2,1]`).
    pub fn param_names(&self) -> Vec<String> {
        self.c.outputs[..self.c.n_param_outputs]
            .iter()
            .flat_map(|o| o.elems.iter().map(|(n, _)| n.clone()))
            .collect()
    }

    /// Stan-style names of everything `write_array` returns: parameters, then transformed
    /// parameters, then generated quantities (as CmdStan's CSV columns, in Stan notation).
    pub fn output_names(&self) -> Vec<String> {
        self.c
            .outputs
            .iter()
            .flat_map(|o| o.elems.iter().map(|(n, _)| n.clone()))
            .collect()
    }

    /// Number of pointwise log-likelihood terms.
    pub fn n_log_lik(&self) -> usize {
        self.c.n_log_lik
    }

    /// Map constrained parameter values (Stan JSON shape, by name) to the unconstrained vector.
    pub fn unconstrain(&self, params: &Data) -> Result<Vec<f64>, ModelError> {
        let c = &self.c;
        let mut ws = self.fresh_ws();
        let mut out = Vec::with_capacity(c.dim);
        let mut ctx = new_ctx(&c.ir, &mut ws, false, None);
        for p in &c.params {
            let dv = params
                .get(&p.name)
                .ok_or_else(|| ModelError::Params(format!("missing parameter `{}`", p.name)))?;
            let v = data_to_val(&p.name, dv, DeclShape::Real(p.shape)).map_err(|e| {
                ModelError::Params(e.to_string().replace("data does not fit the program: ", ""))
            })?;
            let ty = c.ir.vars[p.slot].ty.clone().expect("param type");
            let cons = ctx.constraint(&ty)?;
            let xs = v.to_vec(&[]);
            let elems = p.shape.arr.numel().max(1);
            let free = if p.structural {
                let per = p.shape.base.numel();
                let mut all = vec![];
                for e in 0..elems {
                    let part = transform::free(&cons, &xs[e * per..(e + 1) * per], p.k)
                        .map_err(|m| ModelError::Params(format!("`{}` {m}", p.name)))?;
                    all.extend(part);
                }
                all
            } else {
                transform::free(&cons, &xs, p.k)
                    .map_err(|m| ModelError::Params(format!("`{}`: {m}", p.name)))?
            };
            if free.iter().any(|x| !x.is_finite()) {
                return Err(ModelError::Params(format!(
                    "`{}` lies on the boundary of its constraint",
                    p.name
                )));
            }
            out.extend(free);
            ctx.env[p.slot] = v;
        }
        Ok(out)
    }

    fn fresh_ws(&self) -> Workspace {
        Workspace {
            env: self.c.base_env.clone(),
            ..Workspace::default()
        }
    }

    /// Log density at an unconstrained point.
    pub fn log_density(&self, x: &[f64], opts: LogDensityOptions) -> Result<f64, ModelError> {
        let mut ws = self.fresh_ws();
        density(&self.c, &mut ws, x, opts, None)
    }

    /// Log density and its gradient with respect to the unconstrained vector.
    pub fn log_density_gradient(
        &mut self,
        x: &[f64],
        opts: LogDensityOptions,
        grad: &mut [f64],
    ) -> Result<f64, ModelError> {
        if grad.len() != self.c.dim {
            return Err(ModelError::Params(format!(
                "gradient buffer has length {}, expected {}",
                grad.len(),
                self.c.dim
            )));
        }
        let lp = density(&self.c, &mut self.ws, x, opts, None)?;
        if !lp.is_finite() {
            return Err(ModelError::Eval(format!("log density is {lp}")));
        }
        let ws = &mut self.ws;
        let seeds = std::mem::take(&mut ws.seeds);
        ws.tape.backward(&seeds);
        ws.seeds = seeds;
        grad.copy_from_slice(&ws.tape.adj[..self.c.dim]);
        if let Some(g) = grad.iter().find(|g| !g.is_finite()) {
            return Err(ModelError::Eval(format!("gradient is not finite ({g})")));
        }
        Ok(lp)
    }

    /// Pointwise log-likelihood of the observed data (normalizing constants included), in data
    /// order; a `log_lik` declared in generated quantities wins.
    ///
    /// A single data vector observed under `multi_normal` / `multi_normal_cholesky` gives one term
    /// per element: the exact leave-one-out conditional density log p(y_i | y_{-i}) of the
    /// multivariate normal, for PSIS-LOO of a non-factorized model. These terms do NOT sum to
    /// the joint log density; every other observation's terms do.
    pub fn log_lik(&self, x: &[f64]) -> Result<Vec<f64>, ModelError> {
        let c = &self.c;
        if let Some(slot) = c.gq_log_lik {
            let mut rng = rand::rngs::StdRng::seed_from_u64(0);
            let vals = self.write_array(x, &mut rng)?;
            let mut pos = 0;
            for o in &c.outputs {
                if o.slot == slot {
                    return Ok(vals[pos..pos + o.elems.len()].to_vec());
                }
                pos += o.elems.len();
            }
            return Ok(vec![]);
        }
        let mut ws = self.fresh_ws();
        let mut ll = LogLik {
            acc: c
                .ir
                .data
                .iter()
                .map(|&s| vec![0.0; c.base_env[s].numel()])
                .collect(),
        };
        let opts = LogDensityOptions {
            jacobian: false,
            propto: false,
        };
        density(c, &mut ws, x, opts, Some(&mut ll))?;
        let mut out = Vec::with_capacity(c.n_log_lik);
        for o in &c.obs {
            for &u in &o.units {
                out.push(ll.acc[o.var][u]);
            }
        }
        Ok(out)
    }

    /// Constrained parameters, transformed parameters and generated quantities at `x`
    /// (the order of [`Model::output_names`]).
    pub fn write_array<R: Rng + ?Sized>(
        &self,
        x: &[f64],
        rng: &mut R,
    ) -> Result<Vec<f64>, ModelError> {
        let c = &self.c;
        let mut ws = self.fresh_ws();
        let mut rr = RngRef(rng);
        {
            let mut ctx = new_ctx(&c.ir, &mut ws, false, Some(&mut rr));
            set_params(c, &mut ctx, x, false, &mut vec![])?;
            ctx.exec_block(&c.ir.tparams)?;
            check_block_bounds(c, &mut ctx, &c.ir.tparam_vars)?;
            ctx.exec_block(&c.ir.gq)?;
            check_block_bounds(c, &mut ctx, &c.ir.gq_vars)?;
        }
        Ok(collect_outputs(&ws.env, &c.outputs))
    }

    /// One prior-predictive draw: parameters from their `~` (or `target += dist_lpdf(x | ...)`)
    /// statements, respecting declared bounds by rejection (at most 1000 tries per element);
    /// statements whose arguments depend on parameters not yet drawn are retried in later passes,
    /// so priors may appear in any order. A bounded parameter without a prior is uniform on its
    /// bounds (a simplex flat, a correlation factor LKJ(1)); any other parameter without a
    /// drawable prior is an error. Then the transformed parameters, then the observed data from
    /// the statements on data (int data drawn from a continuous distribution is rounded;
    /// `target += log_mix(theta, d1_lpdf(y | ..), d2_lpdf(y | ..))` with the same variate in both
    /// draws one component with probability `theta`, then `y` from it, once per statement run).
    pub fn simulate<R: Rng + ?Sized>(&self, rng: &mut R) -> Result<SimulatedDraw, ModelError> {
        let c = &self.c;
        let mut ws = self.fresh_ws();
        let mut rr = RngRef(rng);
        for p in &c.params {
            ws.env[p.slot] = if p.shape.arr.is_empty() && p.shape.base == Base::Real {
                Val::real(f64::NAN)
            } else {
                Val::const_reals(p.shape, vec![f64::NAN; p.shape.numel()])
            };
        }
        let mut sim = Sim {
            data_phase: false,
            progress: false,
            simulated: vec![false; c.ir.data.len()],
            error: None,
        };
        let max_passes = c.params.len() + 2;
        let mut passes = 0;
        loop {
            passes += 1;
            sim.progress = false;
            {
                let mut ctx = new_ctx(&c.ir, &mut ws, false, Some(&mut rr));
                ctx.sim = Some(&mut sim);
                ctx.exec_block(&c.ir.tparams)?;
                ctx.exec_block(&c.ir.model)?;
            }
            if let Some(e) = sim.error.take() {
                return Err(e);
            }
            let undrawn: Vec<&ParamLayout> = c
                .params
                .iter()
                .filter(|p| ws.env[p.slot].to_vec(&[]).iter().any(|x| x.is_nan()))
                .collect();
            if undrawn.is_empty() {
                break;
            }
            if sim.progress && passes < max_passes {
                continue;
            }
            // Parameters without a usable prior: uniform on finite bounds, flat on a simplex,
            // LKJ(1) on a correlation factor.
            let mut fallback = false;
            for p in undrawn {
                let ty = c.ir.vars[p.slot].ty.clone().expect("type");
                let mut ctx = new_ctx(&c.ir, &mut ws, false, Some(&mut rr));
                let cons = ctx.constraint(&ty)?;
                let v = fallback_draw(&cons, p, ctx.rng.as_deref_mut().expect("rng"))?;
                if let Some(v) = v {
                    ctx.env[p.slot] = v;
                    fallback = true;
                } else {
                    return Err(ModelError::Eval(format!(
                        "cannot simulate parameter `{}`: it has no prior statement that can be \
                         drawn (or is used before its prior is drawn)",
                        p.name
                    )));
                }
            }
            if !fallback || passes > 2 * max_passes {
                return Err(ModelError::Eval(
                    "cannot simulate the parameters from their priors".into(),
                ));
            }
        }
        // Independent draws for an ordered vector are sorted: for exchangeable priors the sorted
        // draws are exactly the prior restricted to the ordering.
        for p in &c.params {
            let ty = c.ir.vars[p.slot].ty.as_ref().expect("type");
            if matches!(ty.base, TyBase::Ordered(_) | TyBase::PositiveOrdered(_)) && p.k > 0 {
                let mut v = ws.env[p.slot].to_vec(&[]);
                for chunk in v.chunks_mut(p.k) {
                    chunk.sort_by(f64::total_cmp);
                }
                ws.env[p.slot] = Val::const_reals(p.shape, v);
            }
        }
        // Observed data.
        sim.data_phase = true;
        {
            let mut ctx = new_ctx(&c.ir, &mut ws, false, Some(&mut rr));
            ctx.exec_block(&c.ir.tparams)?;
            ctx.sim = Some(&mut sim);
            ctx.exec_block(&c.ir.model)?;
        }
        let mut params = Data::default();
        for p in &c.params {
            params
                .vars
                .insert(p.name.clone(), val_to_data(&ws.env[p.slot]));
        }
        let mut data = Data::default();
        for &slot in &c.ir.data {
            data.vars
                .insert(c.ir.vars[slot].name.clone(), val_to_data(&ws.env[slot]));
        }
        Ok(SimulatedDraw { params, data })
    }
}

impl Model {
    /// Names of the observed data variables: those the program draws when it simulates data
    /// (the left side of a `~` or the first argument of a `target +=` density on data), in
    /// data-block order.
    pub fn observed_names(&self) -> Vec<String> {
        let c = &self.c;
        let observed: std::collections::HashSet<usize> = c.obs.iter().map(|o| o.var).collect();
        c.ir.data
            .iter()
            .enumerate()
            .filter(|(i, _)| observed.contains(i))
            .map(|(_, &slot)| c.ir.vars[slot].name.clone())
            .collect()
    }

    /// Per observed data variable (in log-likelihood order): its name and how many pointwise
    /// log-likelihood terms (observation units) it contributes; a variable with as many units as
    /// elements is observed element by element.
    pub fn observation_units(&self) -> Vec<(String, usize)> {
        let c = &self.c;
        c.obs
            .iter()
            .map(|o| (c.ir.vars[c.ir.data[o.var]].name.clone(), o.units.len()))
            .collect()
    }

    /// One posterior-predictive replicate: the observed data drawn from the program's statements
    /// on data with the parameters fixed at `params`, constrained values in the order of
    /// [`Model::param_names`] (what a CSV row holds). Transformed parameters are recomputed from
    /// them. Returns only the data variables the program draws (Stan JSON shape), so each can be
    /// set beside the observed value of the same name.
    pub fn replicate<R: Rng + ?Sized>(
        &self,
        params: &[f64],
        rng: &mut R,
    ) -> Result<Data, ModelError> {
        let c = &self.c;
        let n_params: usize = c.outputs[..c.n_param_outputs]
            .iter()
            .map(|o| o.elems.len())
            .sum();
        if params.len() != n_params {
            return Err(ModelError::Params(format!(
                "{} parameter values, expected {n_params}",
                params.len()
            )));
        }
        let mut ws = self.fresh_ws();
        let mut at = 0;
        for (o, p) in c.outputs[..c.n_param_outputs].iter().zip(&c.params) {
            let mut internal = vec![f64::NAN; p.shape.numel()];
            for (_, pos) in &o.elems {
                if let Some(slot) = internal.get_mut(*pos) {
                    *slot = params[at];
                }
                at += 1;
            }
            ws.env[p.slot] = if p.shape.arr.is_empty() && p.shape.base == Base::Real {
                Val::real(internal.first().copied().unwrap_or(f64::NAN))
            } else {
                Val::const_reals(p.shape, internal)
            };
        }
        let mut rr = RngRef(rng);
        let mut sim = Sim {
            data_phase: true,
            progress: false,
            simulated: vec![false; c.ir.data.len()],
            error: None,
        };
        {
            let mut ctx = new_ctx(&c.ir, &mut ws, false, Some(&mut rr));
            ctx.exec_block(&c.ir.tparams)?;
            ctx.sim = Some(&mut sim);
            ctx.exec_block(&c.ir.model)?;
        }
        if let Some(e) = sim.error.take() {
            return Err(e);
        }
        let mut data = Data::default();
        for (i, &slot) in c.ir.data.iter().enumerate() {
            if sim.simulated[i] {
                data.vars
                    .insert(c.ir.vars[slot].name.clone(), val_to_data(&ws.env[slot]));
            }
        }
        Ok(data)
    }
}

fn fallback_draw(
    cons: &Constraint,
    p: &ParamLayout,
    rng: &mut dyn RngCore,
) -> Result<Option<Val>, ModelError> {
    let n = p.shape.numel();
    let unif = |rng: &mut dyn RngCore| ((rng.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let vals: Vec<f64> = match cons {
        Constraint::LowerUpper(l, h) => {
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let lo = l.elem(if l.numel() == 1 { 0 } else { i }, &[]).0;
                let hi = h.elem(if h.numel() == 1 { 0 } else { i }, &[]).0;
                if !(lo.is_finite() && hi.is_finite()) {
                    return Ok(None);
                }
                out.push(lo + (hi - lo) * unif(rng));
            }
            out
        }
        Constraint::Simplex => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..p.shape.arr.numel().max(1) {
                let g: Vec<f64> = (0..p.k).map(|_| -unif(rng).ln()).collect();
                let s: f64 = g.iter().sum();
                out.extend(g.iter().map(|x| x / s));
            }
            out
        }
        Constraint::CholeskyCorr => {
            let mut out = Vec::with_capacity(n);
            for _ in 0..p.shape.arr.numel().max(1) {
                let v = dist::rng(
                    dist::Dist::LkjCorrCholesky,
                    &[Val::Int(p.k as i64), Val::real(1.0)],
                    &[],
                    rng,
                )?;
                out.extend(v.to_vec(&[]));
            }
            out
        }
        _ => return Ok(None),
    };
    Ok(Some(
        if p.shape.arr.is_empty() && p.shape.base == Base::Real {
            Val::real(vals[0])
        } else {
            Val::const_reals(p.shape, vals)
        },
    ))
}

/// Set every parameter from the unconstrained vector (as tape inputs when `use_tape`),
/// collecting log|J| terms.
fn set_params(
    c: &Compiled,
    ctx: &mut Ctx,
    x: &[f64],
    use_tape: bool,
    lj: &mut Vec<Val>,
) -> Result<(), ModelError> {
    if x.len() != c.dim {
        return Err(ModelError::Params(format!(
            "unconstrained vector has length {}, expected {}",
            x.len(),
            c.dim
        )));
    }
    if use_tape {
        for &v in x {
            ctx.t.input(v);
        }
    }
    for p in &c.params {
        let ty = &c.ir.vars[p.slot].ty.as_ref().expect("param type");
        let cons = ctx.constraint(ty)?;
        let free_val = |shape: Shape, off: usize| -> Val {
            let n = shape.numel();
            if shape.arr.is_empty() && shape.base == Base::Real {
                return Val::Real(x[off], if use_tape { off as u32 } else { tape::NONE });
            }
            if use_tape {
                if n == 0 {
                    return Val::const_reals(shape, vec![]);
                }
                Val::Reals(shape, Store::Tape(off as u32))
            } else {
                Val::const_reals(shape, x[off..off + n].to_vec())
            }
        };
        let v = if p.structural {
            let per_free = p.len / p.shape.arr.numel().max(1);
            let elem_shape = Shape {
                arr: Dims::default(),
                base: p.shape.base,
            };
            if p.shape.arr.is_empty() {
                let u = free_val(Shape::vector(per_free), p.offset);
                transform::constrain(ctx.t, &cons, u, elem_shape, p.k, lj)?
            } else {
                let mut items = vec![];
                for e in 0..p.shape.arr.numel() {
                    let u = free_val(Shape::vector(per_free), p.offset + e * per_free);
                    items.push(transform::constrain(ctx.t, &cons, u, elem_shape, p.k, lj)?);
                }
                ops::stack(ctx.t, &items, p.shape)?
            }
        } else {
            let u = free_val(p.shape, p.offset);
            transform::constrain(ctx.t, &cons, u, p.shape, p.k, lj)?
        };
        ctx.env[p.slot] = v;
    }
    Ok(())
}

fn check_block_bounds(c: &Compiled, ctx: &mut Ctx, vars: &[Slot]) -> Result<(), ModelError> {
    for &slot in vars {
        let info = &c.ir.vars[slot];
        let ty = info.ty.as_ref().expect("type");
        let v = ctx.env[slot].clone();
        ctx.check_bounds(&info.name, ty, &v)?;
    }
    Ok(())
}

/// Evaluate the log density; leaves the tape and seeds in `ws` for a backward pass.
fn density(
    c: &Compiled,
    ws: &mut Workspace,
    x: &[f64],
    opts: LogDensityOptions,
    loglik: Option<&mut LogLik>,
) -> Result<f64, ModelError> {
    ws.tape.clear();
    ws.seeds.clear();
    let mut lj = std::mem::take(&mut ws.lj);
    lj.clear();
    let mut ctx = new_ctx(&c.ir, ws, opts.propto, None);
    ctx.loglik = loglik;
    // Always on the tape, also without a gradient: `propto` decides what to drop by what
    // depends on parameters.
    set_params(c, &mut ctx, x, true, &mut lj)?;
    if opts.jacobian {
        for v in &lj {
            ctx.add_target(v)?;
        }
    }
    ctx.exec_block(&c.ir.tparams)?;
    check_block_bounds(c, &mut ctx, &c.ir.tparam_vars)?;
    ctx.exec_block(&c.ir.model)?;
    let lp = ctx.target;
    lj.clear();
    ws.lj = lj;
    if lp.is_nan() {
        return Err(ModelError::Eval("log density is NaN".into()));
    }
    Ok(lp)
}

fn collect_outputs(env: &[Val], outs: &[OutVar]) -> Vec<f64> {
    let mut v = Vec::new();
    for o in outs {
        let vals = env[o.slot].to_vec(&[]);
        for (_, p) in &o.elems {
            v.push(vals.get(*p).copied().unwrap_or(f64::NAN));
        }
    }
    v
}
