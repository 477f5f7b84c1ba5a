//! Distribution applications (`y ~ d(...)`, `d_lpdf(y | ...)`, `d_rng(...)`): names, argument
//! counts and kinds, vectorized sizes, and the support of every argument and of the variate.

use super::catalog::{self, Arg, ArgKind, DistSpec, Suffix, Support};
use super::checker::{Checker, Info};
use super::intervals::Interval;
use super::scope::{Origin, DEP_DATA, DEP_PARAM};
use super::types::{Base, Structure, Ty};
use crate::ast::*;
use crate::diagnostic::Predicate;

impl<'p, 'd, 's> Checker<'p, 'd, 's> {
    pub(crate) fn tilde(
        &mut self,
        s: &'p Stmt,
        lhs: &'p Expr,
        dist: &'p Ident,
        args: &'p [Expr],
        truncation: Option<&'p Truncation>,
    ) {
        let lhs_info = self.expr(lhs);
        let infos: Vec<Info> = args.iter().map(|a| self.expr(a)).collect();
        let n = dist.name.as_str();
        if self.partial_name(dist.span) {
            let user = self.user_fns.iter().any(|f| {
                f.name.starts_with(n) && (f.name.ends_with("_lpdf") || f.name.ends_with("_lpmf"))
            });
            if !user
                && !catalog::distributions()
                    .iter()
                    .chain(catalog::library_distributions())
                    .any(|d| d.name.starts_with(n))
            {
                let hint = self.closest_distribution(n);
                self.report(
                    Predicate::Distribution,
                    dist.span,
                    format!("no distribution starts with `{n}`"),
                    Some(hint),
                );
            }
            return;
        }
        let Some(d) = catalog::distribution(n) else {
            if self
                .user_tilde(s, lhs, lhs_info, dist, args, &infos)
                .is_none()
            {
                self.unknown_distribution(dist);
            } else if let Some(t) = truncation {
                self.report(
                    Predicate::Parameter,
                    t.span,
                    format!("truncating the user-defined distribution `{n}` is not supported"),
                    Some(format!(
                        "write the normalisation with `{n}_lcdf`/`{n}_lccdf` in `target +=`"
                    )),
                );
            }
            return;
        };
        if lhs_info.ty.is_some()
            && !self.unfinished(lhs.span)
            && lhs_info.deps & (DEP_DATA | DEP_PARAM) == 0
        {
            // Stan accepts it (`1 ~ bernoulli(p)` scores an observed constant): a warning.
            self.warn(
                Predicate::Dependency,
                lhs.span,
                format!(
                    "the left side of `~`, `{}`, depends on neither data nor parameters",
                    self.text(lhs)
                ),
                Some("put observed data or a parameter on the left of `~`".into()),
            );
        }
        let closed = self.call_closed(dist, args);
        let mut params: Vec<(&Expr, Info)> = args.iter().zip(infos).collect();
        // `d(` at the end of a prefix: the placeholder after `(` is no argument yet.
        if !closed && params.len() == 1 && params[0].0.kind == ExprKind::Error {
            params.clear();
        }
        self.apply_dist(d, Some((lhs, lhs_info)), &params, closed, s.span, false);
        if let Some(t) = truncation {
            for e in t.lower.iter().chain(t.upper.iter()) {
                let i = self.expr(e);
                if let Some(ty) = i.ty {
                    if !ty.is_scalar() && !self.unfinished(e.span) {
                        self.report(
                            Predicate::Type,
                            e.span,
                            format!(
                                "truncation bound `{}` must be an int or real, but it is {ty}",
                                self.text(e)
                            ),
                            Some("truncate with scalar limits, e.g. `T[0, ]`".into()),
                        );
                    }
                }
            }
            if !d.has_cdf {
                self.report(
                    Predicate::Parameter,
                    t.span,
                    format!(
                        "`{n}` cannot be truncated: it has no cumulative distribution function"
                    ),
                    Some("remove T[...] or choose a univariate distribution".into()),
                );
            }
        }
    }

    fn closest_distribution(&self, n: &str) -> String {
        let names = catalog::distributions().iter().map(|d| d.name);
        let prefixed = names
            .clone()
            .filter(|d| n.len() >= 2 && d.starts_with(n))
            .min_by_key(|d| d.len());
        match catalog::closest(n, names).or(prefixed) {
            Some(c) => format!("did you mean `{c}`?"),
            None => {
                let names: Vec<&str> = catalog::distributions().iter().map(|d| d.name).collect();
                format!("known distributions: {}", names.join(", "))
            }
        }
    }

    fn unknown_distribution(&mut self, dist: &Ident) {
        let n = dist.name.as_str();
        if let Some((base, _)) = catalog::split_suffix(n) {
            if catalog::distribution(base).is_some() {
                self.report(
                    Predicate::Distribution,
                    dist.span,
                    format!("`~` takes a distribution name, not the function `{n}`"),
                    Some(format!("write `~ {base}(...)`")),
                );
                return;
            }
        }
        if catalog::function(n).is_some() {
            self.report(
                Predicate::Distribution,
                dist.span,
                format!("`{n}` is a function, not a distribution"),
                Some(self.closest_distribution(n)),
            );
            return;
        }
        let hint = self.closest_distribution(n);
        self.report(
            Predicate::Distribution,
            dist.span,
            format!("unknown distribution `{n}`"),
            Some(hint),
        );
    }

    /// A call of a distribution function with a suffix.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn dist_call(
        &mut self,
        e: &'p Expr,
        name: &'p Ident,
        d: &'static DistSpec,
        suffix: Suffix,
        args: &'p [Expr],
        infos: &[Info],
        cond: bool,
        closed: bool,
    ) -> Info {
        let deps = infos.iter().fold(0, |acc, i| acc | i.deps);
        let n = name.name.as_str();
        if suffix == Suffix::Rng {
            if !self.rng_allowed() {
                self.report(
                    Predicate::Dependency,
                    name.span,
                    format!("`{n}` draws random numbers, which is only allowed in transformed data and generated quantities, not in {}", self.place()),
                    Some("move the draw to generated quantities".into()),
                );
            }
            if cond {
                self.report(
                    Predicate::Parameter,
                    e.span,
                    format!("`{n}` takes no `|`: its arguments are the parameters"),
                    Some(format!("separate the arguments of `{n}` with commas")),
                );
            }
            if d.name == "lkj_corr_cholesky" {
                if closed && args.len() != 2 {
                    self.report(
                        Predicate::Parameter,
                        e.span,
                        format!(
                            "`{n}` takes 2 arguments (K, eta) but {} given",
                            were(args.len())
                        ),
                        Some(format!("write `{n}(K, eta)`")),
                    );
                }
                return Info {
                    deps,
                    ..Info::of(Ty::MATRIX, Interval::closed(-1.0, 1.0))
                };
            }
            let mut params: Vec<(&Expr, Info)> = args.iter().zip(infos.iter().copied()).collect();
            if !closed && params.len() == 1 && params[0].0.kind == ExprKind::Error {
                params.clear();
            }
            self.apply_dist(d, None, &params, closed, e.span, true);
            let ty = rng_type(d, infos);
            let range = d.variate.support.interval().unwrap_or(Interval::ALL);
            return Info {
                deps,
                sizes: infos
                    .iter()
                    .find(|i| i.ty.is_some_and(|t| !t.is_scalar()))
                    .map_or(Default::default(), |i| i.sizes),
                ..Info::of(ty, range)
            };
        }
        if matches!(suffix, Suffix::Lupdf | Suffix::Lupmf)
            && self.block != BlockKind::Model
            && self.func.is_none()
        {
            self.report(
                Predicate::Dependency,
                name.span,
                format!("`{n}` (unnormalized) is only allowed in the model block"),
                Some(format!(
                    "use `{}{}` here",
                    d.name,
                    d.density_suffix().as_str()
                )),
            );
        }
        // Before a second argument the `|` may still come.
        if !cond && suffix != Suffix::Cdf && (args.len() >= 2 || (closed && !args.is_empty())) {
            let params: Vec<&str> = d.params.iter().map(|a| a.name).collect();
            self.report(
                Predicate::Parameter,
                e.span,
                format!("`{n}` separates the outcome from the parameters with `|`"),
                Some(format!(
                    "write `{n}({} | {})`",
                    d.variate.name,
                    params.join(", ")
                )),
            );
        }
        let range = match suffix {
            Suffix::Cdf => Interval::UNIT,
            Suffix::Lcdf | Suffix::Lccdf => Interval::new(f64::NEG_INFINITY, true, 0.0, false),
            _ => Interval::ALL,
        };
        let out = Info {
            deps,
            ..Info::of(Ty::REAL, range)
        };
        let Some((first, rest)) = args.split_first() else {
            if closed {
                self.report(
                    Predicate::Parameter,
                    e.span,
                    format!("`{n}` needs the outcome and {} argument(s)", d.params.len()),
                    Some(format!(
                        "write `{n}({})`",
                        d.signature()
                            .trim_start_matches(d.name)
                            .trim_matches(|c| c == '(' || c == ')')
                    )),
                );
            }
            return out;
        };
        let mut params: Vec<(&Expr, Info)> = rest.iter().zip(infos[1..].iter().copied()).collect();
        // `d_lpdf(y |` at the end of a prefix: the placeholder after `|` is no argument yet.
        if !closed && params.len() == 1 && params[0].0.kind == ExprKind::Error {
            params.clear();
        }
        self.apply_dist(d, Some((first, infos[0])), &params, closed, e.span, true);
        out
    }

    /// Check the parameters (and variate) of one application of `d`.
    pub(crate) fn apply_dist(
        &mut self,
        d: &'static DistSpec,
        variate: Option<(&Expr, Info)>,
        params: &[(&Expr, Info)],
        closed: bool,
        span: Span,
        as_function: bool,
    ) {
        let expected = d.params.len();
        let given = params.len();
        if (closed && given != expected) || given > expected {
            let names: Vec<&str> = d.params.iter().map(|a| a.name).collect();
            let usage = if as_function {
                d.signature()
            } else {
                let lhs = variate
                    .as_ref()
                    .map_or_else(|| d.variate.name.to_string(), |(e, _)| self.text(e));
                format!("{lhs} ~ {}({})", d.name, names.join(", "))
            };
            self.report(
                Predicate::Parameter,
                span,
                format!(
                    "{} takes {expected} argument{} ({}) but {} given",
                    d.name,
                    if expected == 1 { "" } else { "s" },
                    names.join(", "),
                    were(given)
                ),
                Some(format!("write `{usage}`")),
            );
        }
        let mut kinds_ok = vec![true; given];
        // With the wrong number of arguments, which argument is which is a guess: check no further.
        let arity_ok = given == expected || (!closed && given < expected);
        for (i, ((e, info), arg)) in params.iter().zip(d.params).enumerate().filter(|_| arity_ok) {
            if self.unfinished(e.span) {
                kinds_ok[i] = false;
                continue;
            }
            let Some(ty) = info.ty else {
                kinds_ok[i] = false;
                continue;
            };
            if !arg.kind.accepts(ty) {
                kinds_ok[i] = false;
                let (pred, extra) = if arg.kind.accepts_if_int(ty) {
                    (Predicate::Type, " (counts must be ints)")
                } else {
                    (Predicate::Parameter, "")
                };
                self.report(
                    pred,
                    e.span,
                    format!(
                        "argument `{}` ({}) of {} must be {}, but it is {ty}{extra}",
                        self.text(e),
                        arg.name,
                        d.name,
                        arg.kind.describe()
                    ),
                    Some(kind_hint(arg.kind, ty)),
                );
                continue;
            }
            self.param_support(d, arg, e, info);
        }
        if let Some((e, info)) = variate {
            if !self.unfinished(e.span) {
                if let Some(ty) = info.ty {
                    if self.variate_kind(d, e, &info, ty) {
                        self.variate_support(d, e, &info, params);
                    }
                }
            }
        }
        self.sizes_agree(d, variate.as_ref(), params, &kinds_ok);
    }

    /// Is the variate's kind right? Reports and returns false when not.
    fn variate_kind(&mut self, d: &DistSpec, e: &Expr, info: &Info, ty: Ty) -> bool {
        let kind = d.variate.kind;
        if kind.accepts(ty) {
            return true;
        }
        let text = self.text(e);
        let (message, hint) = if kind.accepts_if_int(ty) || (d.discrete && ty.base == Base::Real) {
            let root_is_param = info.root.is_some_and(|r| {
                matches!(
                    self.scopes.symbols[r].origin,
                    Origin::Block(BlockKind::Parameters | BlockKind::TransformedParameters)
                )
            });
            (
                format!(
                    "{} is a distribution over ints (counts), but `{text}` is {ty}",
                    d.name
                ),
                if root_is_param {
                    "parameters are continuous: give them a continuous distribution (normal, gamma, beta, ...)".to_string()
                } else {
                    match info.root.map(|r| self.scopes.symbols[r].name) {
                        Some(name) => format!("declare `{name}` as int (e.g. `array[N] int {name};`), or use a continuous distribution such as normal"),
                        None => "use an int-valued expression or a continuous distribution such as normal".to_string(),
                    }
                },
            )
        } else {
            (
                format!(
                    "{} needs {} on the left of `~`, but `{text}` is {ty}",
                    d.name,
                    kind.describe()
                ),
                kind_hint(kind, ty),
            )
        };
        self.report(Predicate::Type, e.span, message, Some(hint));
        false
    }

    fn param_support(&mut self, d: &DistSpec, arg: &Arg, e: &Expr, info: &Info) {
        let text = self.text(e);
        if let Some(req) = arg.support.structure() {
            let s = info.structure;
            if s == Structure::Free || (s != Structure::Unknown && !s.satisfies(req)) {
                let hint = structure_hint(req, info.root.map(|r| self.scopes.symbols[r].name));
                self.report(
                    Predicate::Support,
                    e.span,
                    format!(
                        "{} argument `{text}` of {} must be {}, but it is {}",
                        role(d.name, arg.name),
                        d.name,
                        req.describe(),
                        s.describe()
                    ),
                    Some(hint),
                );
            }
            return;
        }
        let Some(req) = arg.support.interval() else {
            return;
        };
        if req == Interval::ALL || info.range.within(&req) {
            return;
        }
        // Values fixed by data: without the data, or through arithmetic that widens ranges, only
        // a certain violation counts; a data variable read directly is judged on its values.
        if info.deps & DEP_PARAM == 0 && !info.range.disjoint(&req) {
            let direct = matches!(&e.unparen().kind, ExprKind::Var(_) | ExprKind::Index { .. })
                && info
                    .root
                    .is_some_and(|r| self.scopes.symbols[r].value.is_some());
            let literal = info.range.is_point().is_some();
            if !(direct || literal) {
                return;
            }
        }
        let (reason, hint) = self.range_reason(info, arg.support, &text);
        let bad = bad_words(arg.support);
        let message = match info.range.is_point() {
            Some(v) if info.ty.is_some_and(|t| t.is_scalar()) => format!(
                "{} argument `{text}` of {} is {v}, but it must be {}",
                role(d.name, arg.name),
                d.name,
                arg.support.describe()
            ),
            _ => format!(
                "{} argument `{text}` of {} may be {bad}: {reason}",
                role(d.name, arg.name),
                d.name
            ),
        };
        if info.range.disjoint(&req) || self.exact_range(e) {
            self.report(Predicate::Support, e.span, message, Some(hint));
        } else {
            self.warn(Predicate::Support, e.span, message, Some(hint));
        }
    }

    /// Why a value may leave `support`, and what to do.
    fn range_reason(&self, info: &Info, support: Support, text: &str) -> (String, String) {
        let bounds = match support {
            Support::Unit | Support::OpenUnit => "<lower=0, upper=1>",
            _ => "<lower=0>",
        };
        if let Some(r) = info.root {
            let sym = &self.scopes.symbols[r];
            let name = sym.name;
            if let Some(v) = sym.value {
                if let Some((lo, hi)) = v.min_max() {
                    return (
                        format!("the data values of `{name}` range from {lo} to {hi}"),
                        format!(
                            "check the data for `{name}`; values must be {}",
                            support.describe()
                        ),
                    );
                }
            }
            let is_param = matches!(sym.origin, Origin::Block(BlockKind::Parameters));
            let declared = matches!(sym.origin, Origin::Block(_));
            let missing_lower = !sym.has_lower;
            let missing_upper =
                matches!(support, Support::Unit | Support::OpenUnit) && !sym.has_upper;
            let from_declaration = declared && (sym.fixed.is_some() || sym.assigned.is_none());
            let reason = if from_declaration && (missing_lower || missing_upper) {
                if missing_lower && missing_upper {
                    format!("`{name}` is declared without bounds")
                } else if missing_lower {
                    format!("`{name}` is declared without a lower bound")
                } else {
                    format!("`{name}` is declared without an upper bound")
                }
            } else {
                format!("`{name}` may take values in {}", sym.range())
            };
            let hint = if is_param || matches!(sym.origin, Origin::Block(BlockKind::Data)) {
                format!("declare {name} with {bounds}")
            } else {
                generic_hint(support)
            };
            return (reason, hint);
        }
        (
            format!("`{text}` may take values in {}", info.range),
            generic_hint(support),
        )
    }

    fn variate_support(&mut self, d: &DistSpec, e: &Expr, info: &Info, params: &[(&Expr, Info)]) {
        let text = self.text(e);
        let sup = d.variate.support;
        if let Some(req) = sup.structure() {
            let s = info.structure;
            if s == Structure::Free || (s != Structure::Unknown && !s.satisfies(req)) {
                self.report(
                    Predicate::Support,
                    e.span,
                    format!(
                        "the left side `{text}` of {} must be {}, but it is {}",
                        d.name,
                        req.describe(),
                        s.describe()
                    ),
                    Some(structure_hint(
                        req,
                        info.root.map(|r| self.scopes.symbols[r].name),
                    )),
                );
            }
            return;
        }
        let param_range = |i: usize| params.get(i).and_then(|(_, p)| p.ty.map(|_| p.range));
        let req = match sup {
            Support::Between { lower, upper } => {
                let sampled = [lower, upper]
                    .iter()
                    .any(|&i| params.get(i).is_some_and(|(_, p)| p.deps & DEP_PARAM != 0));
                match (param_range(lower), param_range(upper)) {
                    // Limits that are parameters can move: only values outside every possible
                    // support count.
                    (Some(l), Some(u)) if sampled => Interval::closed(l.lo, u.hi),
                    (Some(l), Some(u)) if l.hi <= u.lo => Interval::closed(l.hi, u.lo),
                    _ => return,
                }
            }
            Support::CountUpTo(i) => Interval::new(
                0.0,
                false,
                param_range(i).map_or(f64::INFINITY, |r| r.hi),
                false,
            ),
            Support::Category(i) => {
                let k = params.get(i).and_then(|(_, p)| p.sizes.get(0));
                Interval::new(1.0, false, k.map_or(f64::INFINITY, f64::from), false)
            }
            other => match other.interval() {
                Some(r) => r,
                None => return,
            },
        };
        let observed = info.deps & DEP_PARAM == 0;
        let root = info.root.map(|r| self.scopes.symbols[r].clone());
        if observed {
            if let Some(v) = root.as_ref().and_then(|s| s.value) {
                if v.has_nan() {
                    self.report(
                        Predicate::Support,
                        e.span,
                        format!(
                            "observed values of `{text}` include NaN, which {} cannot score",
                            d.name
                        ),
                        Some("remove or impute the missing values before fitting".into()),
                    );
                    return;
                }
            }
            if let Support::CountUpTo(i) = sup {
                if let Some((e2, _)) = params.get(i).filter(|(e2, _)| !self.unfinished(e2.span)) {
                    if self.counts_exceed_trials(d, e, e2) {
                        return;
                    }
                }
            }
        }
        let bad = if req == Interval::ALL {
            false
        } else if observed && (self.data.is_none() || self.func.is_some()) {
            info.range.disjoint(&req)
        } else {
            !info.range.within(&req)
        };
        if !bad {
            return;
        }
        let support_text = match sup {
            Support::Between { .. } | Support::CountUpTo(_) | Support::Category(_) => {
                format!("{req}")
            }
            other => other.describe().to_string(),
        };
        let sure = info.range.disjoint(&req) || self.exact_range(e);
        let report = if sure { Self::report } else { Self::warn };
        if observed {
            report(
                self,
                Predicate::Support,
                e.span,
                format!(
                    "observed values of `{text}` {} outside the support of {} ({support_text}): they range over {}",
                    if sure { "lie" } else { "may lie" },
                    d.name, info.range
                ),
                Some(observed_hint(d)),
            );
        } else {
            let bounds = match sup {
                Support::Between { .. } => match (req.lo.is_finite(), req.hi.is_finite()) {
                    (true, true) => {
                        format!("<lower={}, upper={}>", fmt_num(req.lo), fmt_num(req.hi))
                    }
                    (true, false) => format!("<lower={}>", fmt_num(req.lo)),
                    (false, true) => format!("<upper={}>", fmt_num(req.hi)),
                    (false, false) => "bounds".into(),
                },
                Support::Unit | Support::OpenUnit => "<lower=0, upper=1>".into(),
                _ => "<lower=0>".into(),
            };
            let (reason, hint) = match root {
                Some(s) if matches!(s.origin, Origin::Block(BlockKind::Parameters)) => {
                    let why = if !s.has_lower && !s.has_upper {
                        format!("`{}` is declared without bounds", s.name)
                    } else {
                        format!(
                            "`{}` is declared with bounds allowing {}",
                            s.name,
                            s.range()
                        )
                    };
                    (why, format!("declare {} with {bounds}", s.name))
                }
                _ => (
                    format!("its values may range over {}", info.range),
                    format!("make sure the left side always lies in {support_text}"),
                ),
            };
            report(
                self,
                Predicate::Support,
                e.span,
                format!(
                    "`{text}` may lie outside the support of {} ({support_text}): {reason}",
                    d.name
                ),
                Some(hint),
            );
        }
    }

    /// Binomial successes above the number of trials, compared element by element on data values.
    /// Returns true when it reported.
    fn counts_exceed_trials(&mut self, d: &DistSpec, counts: &Expr, trials: &Expr) -> bool {
        let (Some((y, yi)), Some((n, ni))) =
            (self.data_elements(counts), self.data_elements(trials))
        else {
            return false;
        };
        if yi != ni && ni.is_some() {
            return false;
        }
        for (k, &yv) in y.values.iter().enumerate() {
            let nv = if n.values.len() == 1 {
                n.values[0]
            } else if n.values.len() == y.values.len() {
                n.values[k]
            } else {
                return false;
            };
            if yv > nv {
                let (yt, nt) = (self.text(counts), self.text(trials));
                self.report(
                    Predicate::Support,
                    counts.span,
                    format!(
                        "observed count {yv} (element {} of `{yt}`) exceeds the number of trials {nv} (`{nt}`) of {}",
                        k + 1,
                        d.name
                    ),
                    Some("successes must lie between 0 and the number of trials; check which variable is which".into()),
                );
                return true;
            }
        }
        false
    }

    /// A data variable's value, read whole (`y`) or with one loop-variable index (`y[i]`).
    fn data_elements(&self, e: &Expr) -> Option<(&'d crate::data::DataValue, Option<String>)> {
        match &e.unparen().kind {
            ExprKind::Var(id) => {
                let s = &self.scopes.symbols[self.scopes.lookup(&id.name)?];
                Some((s.value?, None))
            }
            ExprKind::Index { expr, indices } => {
                let ExprKind::Var(id) = &expr.unparen().kind else {
                    return None;
                };
                let [Index::Single(ix)] = indices.as_slice() else {
                    return None;
                };
                let ExprKind::Var(iv) = &ix.unparen().kind else {
                    return None;
                };
                let s = &self.scopes.symbols[self.scopes.lookup(&id.name)?];
                let is_loop = self
                    .scopes
                    .lookup(&iv.name)
                    .is_some_and(|i| self.scopes.symbols[i].origin == Origin::LoopVar);
                if !is_loop || s.value?.dims.len() != 1 {
                    return None;
                }
                Some((s.value?, Some(iv.name.clone())))
            }
            _ => None,
        }
    }

    /// Vectorized arguments must have one length; multivariate ones must agree in dimension.
    fn sizes_agree(
        &mut self,
        d: &DistSpec,
        variate: Option<&(&Expr, Info)>,
        params: &[(&Expr, Info)],
        kinds_ok: &[bool],
    ) {
        let mut lens: Vec<(&Expr, u32)> = Vec::new();
        let multivariate = matches!(
            d.variate.kind,
            ArgKind::Vectors | ArgKind::Vector | ArgKind::Matrix
        );
        if let Some((e, info)) = variate {
            for n in self.lengths(d.variate.kind, e, info, multivariate) {
                lens.push((e, n));
            }
        }
        for (i, ((e, info), arg)) in params.iter().zip(d.params).enumerate() {
            if kinds_ok.get(i).copied().unwrap_or(false) {
                for n in self.lengths(arg.kind, e, info, multivariate) {
                    lens.push((e, n));
                }
            }
        }
        if d.name == "lkj_corr_cholesky" {
            return;
        }
        let Some(&(first, n0)) = lens.first() else {
            return;
        };
        if let Some(&(other, n1)) = lens.iter().find(|(_, n)| *n != n0) {
            let (a, b) = (self.text(first), self.text(other));
            let message = if multivariate {
                format!(
                    "size mismatch in {}: `{a}` has size {n0} but `{b}` has size {n1}",
                    d.name
                )
            } else {
                format!(
                    "size mismatch in {}: `{a}` has {n0} elements but `{b}` has {n1}",
                    d.name
                )
            };
            self.report(
                Predicate::Type,
                other.span,
                message,
                Some(if multivariate {
                    "the outcome, location and covariance must have the same size".into()
                } else {
                    "vectorized arguments must have the same number of elements".into()
                }),
            );
        }
    }
}

impl Checker<'_, '_, '_> {
    /// The lengths an argument contributes to the size agreement of one application.
    fn lengths(&self, kind: ArgKind, e: &Expr, info: &Info, multivariate: bool) -> Vec<u32> {
        if self.unfinished(e.span) {
            return vec![];
        }
        let Some(ty) = info.ty else { return vec![] };
        if !kind.accepts(ty) {
            return vec![];
        }
        let first = info.sizes.get(0);
        let found = if multivariate {
            match kind {
                ArgKind::Vectors if ty.array_dims == 1 => vec![info.sizes.get(1)],
                ArgKind::Vectors | ArgKind::Vector => vec![first],
                ArgKind::Matrix => vec![first, info.sizes.get(1)],
                _ => vec![],
            }
        } else if matches!(kind, ArgKind::Reals | ArgKind::Ints) && !ty.is_scalar() {
            vec![first]
        } else {
            vec![]
        };
        found.into_iter().flatten().collect()
    }
}

fn were(n: usize) -> String {
    if n == 1 {
        "1 was".into()
    } else {
        format!("{n} were")
    }
}

fn fmt_num(x: f64) -> String {
    format!("{x}")
}

fn rng_type(d: &DistSpec, infos: &[Info]) -> Ty {
    match d.name {
        "multi_normal" | "multi_normal_cholesky" => match infos.first().and_then(|i| i.ty) {
            Some(t) if t.is_array() => Ty::VECTOR.wrap(),
            _ => Ty::VECTOR,
        },
        "dirichlet" => Ty::VECTOR,
        "categorical" | "categorical_logit" => Ty::INT,
        _ => {
            let base = if d.discrete { Base::Int } else { Base::Real };
            let vectorized = infos.iter().any(|i| i.ty.is_some_and(|t| !t.is_scalar()));
            Ty::array(base, u8::from(vectorized))
        }
    }
}

/// What an argument is for, in words.
fn role(dist: &str, param: &str) -> &'static str {
    match (dist, param) {
        (_, "sigma") => "scale",
        ("neg_binomial_2", "mu") => "mean",
        (_, "mu") => "location",
        (_, "nu") => "degrees-of-freedom",
        ("categorical", "theta") => "probability vector",
        ("categorical_logit", "beta") => "log-odds vector",
        (_, "theta") => "probability",
        (_, "lambda") => "rate",
        (_, "phi") => "dispersion",
        ("dirichlet", "alpha") => "concentration",
        (_, "alpha") => "shape",
        ("gamma" | "exponential", "beta") => "rate",
        ("inv_gamma", "beta") => "scale",
        (_, "beta") => "shape",
        (_, "eta") => "shape",
        (_, "N") => "number-of-trials",
        (_, "L") => "Cholesky factor",
        (_, "Sigma") => "covariance",
        _ => "the",
    }
}

fn bad_words(s: Support) -> &'static str {
    match s {
        Support::Positive => "<= 0",
        Support::NonNegative | Support::Count => "negative",
        Support::Unit => "outside [0, 1]",
        Support::OpenUnit => "outside (0, 1)",
        _ => "outside its support",
    }
}

fn generic_hint(s: Support) -> String {
    match s {
        Support::Unit | Support::OpenUnit => {
            "map it into [0, 1], e.g. with inv_logit(...), or use the _logit form of the distribution".into()
        }
        _ => "use a positive expression, e.g. exp(...), or a parameter declared with <lower=0>".into(),
    }
}

fn structure_hint(req: Structure, name: Option<&str>) -> String {
    let name = name.unwrap_or("it");
    match req {
        Structure::Simplex => format!("declare {name} as simplex[K], or pass softmax(...)"),
        Structure::CholeskyFactorCorr => format!("declare {name} as cholesky_factor_corr[K]"),
        Structure::CholeskyFactor => {
            format!("pass cholesky_decompose(Sigma), or declare {name} as cholesky_factor_corr[K]")
        }
        Structure::CovMatrix => format!(
            "declare {name} as cov_matrix[K], or build it from a kernel plus a positive diagonal"
        ),
        _ => "check the argument".into(),
    }
}

fn observed_hint(d: &DistSpec) -> String {
    match d.variate.support {
        Support::Positive | Support::NonNegative => format!(
            "{} models positive values; use a distribution on the real line such as normal or student_t",
            d.name
        ),
        Support::Unit | Support::OpenUnit => format!("{} models values in (0, 1); rescale the data or choose another distribution", d.name),
        Support::Binary => "bernoulli outcomes must be 0 or 1".into(),
        Support::Count | Support::CountUpTo(_) => "counts must be non-negative ints".into(),
        Support::Category(_) => "categories must be numbered 1..K".into(),
        Support::Between { .. } => "widen the uniform limits to cover the data".into(),
        _ => "check the data".into(),
    }
}

fn kind_hint(kind: ArgKind, ty: Ty) -> String {
    match (kind, ty.base) {
        (ArgKind::Reals, Base::Matrix) => "flatten it with to_vector(...)".into(),
        (ArgKind::Reals, _) if ty.array_dims > 1 => {
            "pass one row at a time, or flatten with to_array_1d(...)".into()
        }
        (ArgKind::Ints | ArgKind::Int, Base::Real) => "declare it as int".into(),
        (ArgKind::Vector, _) => "pass a vector (e.g. to_vector(...))".into(),
        (ArgKind::Matrix, _) => "pass a matrix".into(),
        (ArgKind::Real, _) => "pass a single real".into(),
        _ => format!("pass {}", kind.describe()),
    }
}
