//! Expression typing: Stan's operator and indexing rules, sizes where known, value ranges for
//! support analysis, and call resolution against the [`super::catalog`].

use super::catalog::{self, ArgInfo, Callee};
use super::checker::{Checker, Info};
use super::intervals::Interval;
use super::types::{Base, Sizes, Structure, Ty};
use crate::ast::*;
use crate::diagnostic::Predicate;

impl<'p, 'd, 's> Checker<'p, 'd, 's> {
    pub(crate) fn expr(&mut self, e: &'p Expr) -> Info {
        let mut info = self.expr_inner(e);
        if self.unfinished(e.span) {
            // More text may still change what this is.
            info.ty = None;
            info.range = Interval::ALL;
            info.structure = Structure::Unknown;
            info.sizes = Sizes::UNKNOWN;
        }
        self.ranges.insert((e.span.start, e.span.end), info.range);
        info
    }

    /// The range recorded for an expression already checked.
    fn range_of(&self, e: &Expr) -> Option<Interval> {
        self.ranges.get(&(e.span.start, e.span.end)).copied()
    }

    /// Ranges that interval arithmetic misses but simple algebra gives: `a / (a + b)` and
    /// `a / (b + a)` with `a, b >= 0` lie in [0, 1]; the convex combination
    /// `w * p + (1 - w) * q` with `w` in [0, 1] lies between the ranges of `p` and `q`.
    fn pattern_range(&self, op: BinOp, lhs: &Expr, rhs: &Expr) -> Option<Interval> {
        let (l, r) = (lhs.unparen(), rhs.unparen());
        match op {
            BinOp::Div | BinOp::EltDiv => {
                let ExprKind::Binary {
                    op: BinOp::Add,
                    lhs: x,
                    rhs: y,
                } = &r.kind
                else {
                    return None;
                };
                let other = if same_expr(l, x) {
                    y
                } else if same_expr(l, y) {
                    x
                } else {
                    return None;
                };
                let a = self.range_of(l).or_else(|| self.range_of(lhs))?;
                let b = self.range_of(other)?;
                (a.is_non_negative() && b.is_non_negative()).then_some(Interval::UNIT)
            }
            BinOp::Add => {
                let (w, p) = mul_parts(l)?;
                let (one_minus, q) = mul_parts(r)?;
                // Which factor of each product is the weight: `w` and `1 - w`.
                for (w, p) in [(w, p), (p, w)] {
                    for (v, q) in [(one_minus, q), (q, one_minus)] {
                        let ExprKind::Binary {
                            op: BinOp::Sub,
                            lhs: one,
                            rhs: w2,
                        } = &v.unparen().kind
                        else {
                            continue;
                        };
                        let is_one = matches!(one.unparen().kind, ExprKind::IntLit(1))
                            || matches!(one.unparen().kind, ExprKind::RealLit { value, .. } if value == 1.0);
                        if !is_one || !same_expr(w, w2) {
                            continue;
                        }
                        let wr = self.range_of(w)?;
                        if !wr.within(&Interval::UNIT) {
                            return None;
                        }
                        let (pr, qr) = (self.range_of(p)?, self.range_of(q)?);
                        return Some(pr.union(&qr));
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn expr_inner(&mut self, e: &'p Expr) -> Info {
        match &e.kind {
            ExprKind::IntLit(v) => Info::of(Ty::INT, Interval::point(*v as f64)),
            ExprKind::RealLit { value, .. } => Info::of(Ty::REAL, Interval::point(*value)),
            ExprKind::StrLit(_) | ExprKind::Error => Info::unknown(),
            ExprKind::Var(id) => match self.scopes.lookup(&id.name) {
                Some(i) => {
                    let s = &self.scopes.symbols[i];
                    Info {
                        ty: Some(s.ty),
                        sizes: s.sizes,
                        range: s.range(),
                        structure: s.structure,
                        deps: s.deps,
                        root: Some(i),
                    }
                }
                None => {
                    self.undeclared(id);
                    Info::unknown()
                }
            },
            ExprKind::Paren(inner) => self.expr(inner),
            ExprKind::Unary { op, expr } => {
                let a = self.expr(expr);
                let Some(t) = a.ty else {
                    return Info {
                        deps: a.deps,
                        ..Info::unknown()
                    };
                };
                match op {
                    // Stan negates arrays elementwise too.
                    UnOp::Neg | UnOp::Plus => Info {
                        range: if *op == UnOp::Neg {
                            a.range.neg()
                        } else {
                            a.range
                        },
                        structure: Structure::Unknown,
                        root: None,
                        ..a
                    },
                    UnOp::Not => {
                        if !t.is_scalar() {
                            self.report(
                                Predicate::Type,
                                e.span,
                                format!(
                                    "`!` needs an int or real, but `{}` is {t}",
                                    self.text(expr)
                                ),
                                Some("negate a comparison, e.g. `!(x > 0)`".into()),
                            );
                        }
                        Info {
                            deps: a.deps,
                            ..Info::of(Ty::INT, Interval::UNIT)
                        }
                    }
                }
            }
            ExprKind::Binary { op, lhs, rhs } => {
                let a = self.expr(lhs);
                let b = self.expr(rhs);
                self.binary_info(*op, &a, &b, e.span, Some(lhs), Some(rhs))
            }
            ExprKind::Ternary {
                cond,
                then,
                otherwise,
            } => {
                let c = self.expr(cond);
                if let Some(t) = c.ty {
                    if !t.is_scalar() && !self.unfinished(cond.span) {
                        self.report(
                            Predicate::Type,
                            cond.span,
                            format!(
                                "condition `{}` must be an int or real, but it is {t}",
                                self.text(cond)
                            ),
                            Some("compare scalars, e.g. `x > 0 ? a : b`".into()),
                        );
                    }
                }
                let a = self.expr(then);
                let b = self.expr(otherwise);
                let deps = c.deps | a.deps | b.deps;
                match (a.ty, b.ty) {
                    (Some(x), Some(y)) => {
                        let ty = if x == y {
                            x
                        } else if x.promoted() == y.promoted() {
                            x.promoted()
                        } else {
                            if !self.unfinished(e.span) {
                                self.report(
                                    Predicate::Type,
                                    e.span,
                                    format!(
                                        "the branches of `?:` have different types: {x} and {y}"
                                    ),
                                    Some("make both branches the same type".into()),
                                );
                            }
                            return Info {
                                deps,
                                ..Info::unknown()
                            };
                        };
                        Info {
                            ty: Some(ty),
                            sizes: a.sizes,
                            range: a.range.union(&b.range),
                            structure: if a.structure == b.structure {
                                a.structure
                            } else {
                                Structure::Unknown
                            },
                            deps,
                            root: None,
                        }
                    }
                    _ => Info {
                        deps,
                        ..Info::unknown()
                    },
                }
            }
            ExprKind::Call { name, args } => self.call(e, name, args, false),
            ExprKind::CondCall { name, args } => self.call(e, name, args, true),
            ExprKind::Index { expr, indices } => {
                let base = self.expr(expr);
                self.index(base, indices, e.span)
            }
            ExprKind::Transpose(inner) => {
                let a = self.expr(inner);
                let Some(t) = a.ty else {
                    return Info {
                        deps: a.deps,
                        ..Info::unknown()
                    };
                };
                let (ty, sizes) = match (t.array_dims, t.base) {
                    (0, Base::Vector) => (Ty::ROW_VECTOR, a.sizes),
                    (0, Base::RowVector) => (Ty::VECTOR, a.sizes),
                    (0, Base::Matrix) => (
                        Ty::MATRIX,
                        Sizes::from_slice(&[a.sizes.get(1), a.sizes.get(0)]),
                    ),
                    _ => {
                        self.report(
                            Predicate::Type,
                            e.span,
                            format!("cannot transpose `{}` of type {t}", self.text(inner)),
                            Some("only vectors, row vectors and matrices have a transpose".into()),
                        );
                        return Info {
                            deps: a.deps,
                            ..Info::unknown()
                        };
                    }
                };
                Info {
                    ty: Some(ty),
                    sizes,
                    range: a.range,
                    structure: Structure::Unknown,
                    deps: a.deps,
                    root: None,
                }
            }
            ExprKind::ArrayLit(items) => {
                let infos: Vec<Info> = items.iter().map(|i| self.expr(i)).collect();
                self.literal(e, &infos, true)
            }
            ExprKind::RowVectorLit(items) => {
                let infos: Vec<Info> = items.iter().map(|i| self.expr(i)).collect();
                self.literal(e, &infos, false)
            }
        }
    }

    fn literal(&mut self, e: &Expr, infos: &[Info], array: bool) -> Info {
        let deps = infos.iter().fold(0, |d, i| d | i.deps);
        let range = infos
            .iter()
            .map(|i| i.range)
            .reduce(|a, b| a.union(&b))
            .unwrap_or(Interval::ALL);
        let mut elem: Option<Ty> = None;
        for i in infos {
            let Some(t) = i.ty else {
                return Info {
                    deps,
                    ..Info::unknown()
                };
            };
            elem = match elem {
                None => Some(t),
                Some(p) if p == t => Some(p),
                Some(p) if p.promoted() == t.promoted() => Some(p.promoted()),
                Some(p) => {
                    self.report(
                        Predicate::Type,
                        e.span,
                        format!(
                            "the elements of this {} have different types: {p} and {t}",
                            if array { "array" } else { "row vector" }
                        ),
                        Some("make every element the same type".into()),
                    );
                    return Info {
                        deps,
                        ..Info::unknown()
                    };
                }
            };
        }
        let n = Some(infos.len() as u32);
        if array {
            let Some(t) = elem else {
                return Info {
                    deps,
                    ..Info::unknown()
                };
            };
            let first = infos.first().map_or(Sizes::UNKNOWN, |i| i.sizes);
            Info {
                ty: Some(t.wrap()),
                sizes: first.push_front(n),
                range,
                structure: Structure::Unknown,
                deps,
                root: None,
            }
        } else {
            let (ty, sizes) = match elem {
                None => (Ty::ROW_VECTOR, Sizes::from_slice(&[Some(0)])),
                Some(t) if t.is_scalar() => (Ty::ROW_VECTOR, Sizes::from_slice(&[n])),
                Some(t) if t == Ty::ROW_VECTOR => {
                    (Ty::MATRIX, Sizes::from_slice(&[n, infos[0].sizes.get(0)]))
                }
                Some(t) => {
                    self.report(
                        Predicate::Type,
                        e.span,
                        format!("a `[...]` literal holds reals or row vectors, not {t}"),
                        Some("use `{...}` for an array".into()),
                    );
                    return Info {
                        deps,
                        ..Info::unknown()
                    };
                }
            };
            Info {
                ty: Some(ty),
                sizes,
                range,
                structure: Structure::Unknown,
                deps,
                root: None,
            }
        }
    }

    /// Check an index expression on its own (used where there is no base to index).
    pub(crate) fn index_expr(&mut self, idx: &'p Index) -> Info {
        match idx {
            Index::Single(e) => self.expr(e),
            Index::All => Info::unknown(),
            Index::Range { lower, upper } => {
                let mut deps = 0;
                for e in lower.iter().chain(upper.iter()) {
                    deps |= self.expr(e).deps;
                }
                Info {
                    deps,
                    ..Info::unknown()
                }
            }
        }
    }

    /// Type `base[indices]`.
    pub(crate) fn index(&mut self, base: Info, indices: &'p [Index], span: Span) -> Info {
        let idx_infos: Vec<(Info, Option<Info>)> = indices
            .iter()
            .map(|i| match i {
                Index::Single(e) => (self.expr(e), None),
                Index::All => (Info::unknown(), None),
                Index::Range { lower, upper } => (
                    lower.as_ref().map_or(Info::unknown(), |e| self.expr(e)),
                    upper.as_ref().map(|e| self.expr(e)),
                ),
            })
            .collect();
        let deps = idx_infos
            .iter()
            .fold(base.deps, |d, (a, b)| d | a.deps | b.map_or(0, |b| b.deps));
        let Some(ty) = base.ty else {
            return Info {
                deps,
                ..Info::unknown()
            };
        };
        let rank = ty.rank();
        if indices.len() > rank {
            if !self.unfinished(span) {
                self.report(
                    Predicate::Type,
                    span,
                    format!("too many indexes: a value of type {ty} takes at most {rank}, but {} are given", indices.len()),
                    Some("remove the extra indexes".into()),
                );
            }
            return Info {
                deps,
                ..Info::unknown()
            };
        }
        let mut kept: Vec<(usize, Option<u32>)> = Vec::with_capacity(rank);
        for (k, (idx, (a, b))) in indices.iter().zip(&idx_infos).enumerate() {
            let dim_size = base.sizes.get(k);
            match idx {
                Index::Single(e) => {
                    match a.ty {
                        Some(t) if t.is_int() => {
                            if let (Some(v), Some(n)) = (a.range.is_point(), dim_size) {
                                if (v < 1.0 || v > n as f64) && !self.unfinished(e.span) {
                                    self.report(
                                    Predicate::Type,
                                    e.span,
                                    format!("index {v} is out of range: the size is {n} (indexes run from 1 to {n})"),
                                    Some(format!("use an index between 1 and {n}")),
                                );
                                }
                            }
                        }
                        Some(t) if t.base == Base::Int && t.array_dims == 1 => {
                            kept.push((k, a.sizes.get(0)))
                        }
                        Some(t) if !self.unfinished(e.span) => {
                            self.report(
                            Predicate::Type,
                            e.span,
                            format!("index `{}` must be an int (or an array of ints), but it is {t}", self.text(e)),
                            Some("indexes are ints; a real cannot index".into()),
                        );
                            return Info {
                                deps,
                                ..Info::unknown()
                            };
                        }
                        _ => kept.push((k, None)),
                    }
                }
                Index::All => kept.push((k, dim_size)),
                Index::Range { lower, .. } => {
                    let lo = if lower.is_some() {
                        a.range.is_point()
                    } else {
                        Some(1.0)
                    };
                    let hi = match b {
                        Some(b) => b.range.is_point(),
                        None => dim_size.map(|n| n as f64),
                    };
                    let n = match (lo, hi) {
                        (Some(l), Some(h)) if h >= l - 1.0 => Some((h - l + 1.0) as u32),
                        _ => None,
                    };
                    kept.push((k, n));
                }
            }
        }
        for k in indices.len()..rank {
            kept.push((k, base.sizes.get(k)));
        }
        let adims = ty.array_dims as usize;
        let kept_arrays = kept.iter().filter(|(k, _)| *k < adims).count();
        let kept_base: Vec<usize> = kept
            .iter()
            .filter(|(k, _)| *k >= adims)
            .map(|(k, _)| k - adims)
            .collect();
        let new_base = match (ty.base, kept_base.as_slice()) {
            (Base::Matrix, [0, 1]) => Base::Matrix,
            (Base::Matrix, [0]) => Base::Vector,
            (Base::Matrix, [1]) => Base::RowVector,
            (Base::Vector, [0]) => Base::Vector,
            (Base::RowVector, [0]) => Base::RowVector,
            (Base::Int, _) => Base::Int,
            _ => Base::Real,
        };
        let sizes: Vec<Option<u32>> = kept.iter().map(|(_, n)| *n).collect();
        Info {
            ty: Some(Ty::array(new_base, kept_arrays as u8)),
            sizes: Sizes::from_slice(&sizes),
            range: base.range,
            structure: Structure::Unknown,
            deps,
            root: base.root,
        }
    }

    /// Type a binary operation; `lhs`/`rhs` expressions give better messages when present.
    pub(crate) fn binary_info(
        &mut self,
        op: BinOp,
        a: &Info,
        b: &Info,
        span: Span,
        lhs: Option<&Expr>,
        rhs: Option<&Expr>,
    ) -> Info {
        let deps = a.deps | b.deps;
        let (Some(ta), Some(tb)) = (a.ty, b.ty) else {
            return Info {
                deps,
                ..Info::unknown()
            };
        };
        let finished = !self.unfinished(span);
        match binop_type(op, ta, tb, &a.sizes, &b.sizes) {
            Err(msg) => {
                if finished {
                    let hint = binop_hint(op, ta, tb)
                        .unwrap_or_else(|| "check the types of both operands".into());
                    self.report(Predicate::Type, span, msg, Some(hint));
                }
                Info {
                    deps,
                    ..Info::unknown()
                }
            }
            Ok((ty, sizes, mismatch)) => {
                if let (Some(m), true) = (mismatch, finished) {
                    let what = match (lhs, rhs) {
                        (Some(l), Some(r)) => {
                            format!(" in `{} {} {}`", self.text(l), op.as_str(), self.text(r))
                        }
                        _ => String::new(),
                    };
                    self.report(
                        Predicate::Type,
                        span,
                        format!("size mismatch{what}: {m}"),
                        Some("make the sizes agree".into()),
                    );
                }
                let same = match (lhs, rhs) {
                    (Some(l), Some(r)) if op == BinOp::Mul && ta.is_scalar() && tb.is_scalar() => {
                        same_expr(l, r)
                    }
                    _ => false,
                };
                let mut range = if same {
                    a.range.square()
                } else {
                    self.binary_range(op, &a.range, &b.range)
                };
                if let (Some(l), Some(r)) = (lhs, rhs) {
                    if let Some(p) = self.pattern_range(op, l, r) {
                        range = range.intersect(&p);
                    }
                }
                if ty.base == Base::Int
                    && matches!(op, BinOp::Div | BinOp::IntDiv)
                    && ta.is_int()
                    && tb.is_int()
                {
                    range = a.range.int_div(&b.range);
                }
                // Matrix products sum over an inner dimension.
                if op == BinOp::Mul && !ta.is_scalar() && !tb.is_scalar() {
                    range = range.sum_of(None);
                }
                Info {
                    ty: Some(ty),
                    sizes,
                    range,
                    structure: Structure::Unknown,
                    deps,
                    root: None,
                }
            }
        }
    }

    pub(crate) fn binary_range(&self, op: BinOp, a: &Interval, b: &Interval) -> Interval {
        match op {
            BinOp::Add => a.add(b),
            BinOp::Sub => a.sub(b),
            BinOp::Mul | BinOp::EltMul => a.mul(b),
            BinOp::Div | BinOp::EltDiv => a.div(b),
            BinOp::Pow | BinOp::EltPow => a.pow(b),
            BinOp::IntDiv => a.int_div(b),
            BinOp::Mod | BinOp::LeftDiv => Interval::ALL,
            BinOp::Lt
            | BinOp::Le
            | BinOp::Gt
            | BinOp::Ge
            | BinOp::Eq
            | BinOp::Ne
            | BinOp::And
            | BinOp::Or => Interval::UNIT,
        }
    }

    /// Is the call `name(` closed by its `)`? Whole programs always are.
    pub(crate) fn call_closed(&self, name: &Ident, args: &[Expr]) -> bool {
        // Without the text (a tree from elsewhere) calls are taken as written completely. With it,
        // a call is closed when its `)` follows the last argument: a prefix may still add
        // arguments, and a parse error may have cut the list short.
        let Some(src) = self.src else { return true };
        let from = args
            .last()
            .map_or(name.span.end as usize, |a| a.span.end as usize);
        let mut rest = skip_trivia(src.get(from..).unwrap_or(""));
        if args.is_empty() {
            rest = skip_trivia(rest.strip_prefix('(').unwrap_or(rest));
        }
        if let Some(r) = rest.strip_prefix('|') {
            rest = skip_trivia(r);
        }
        rest.starts_with(')')
    }

    fn call(&mut self, e: &'p Expr, name: &'p Ident, args: &'p [Expr], cond: bool) -> Info {
        if !cond && super::functions::ode_solver(&name.name).is_some() {
            return self.ode_call(e, name, args);
        }
        let infos: Vec<Info> = args.iter().map(|a| self.expr(a)).collect();
        let deps = infos.iter().fold(0, |d, i| d | i.deps);
        let closed = self.call_closed(name, args);
        let n = name.name.as_str();
        if self.is_user_fn(n) {
            let Some(info) = self.user_call(e, name, &infos, cond) else {
                return Info {
                    deps,
                    ..Info::unknown()
                };
            };
            if info.ty.is_none() && self.user_fns.iter().any(|f| f.name == n && f.ret.is_none()) {
                self.report(
                    Predicate::Type,
                    e.span,
                    format!(
                        "`{n}` is void: it returns nothing and cannot be used in an expression"
                    ),
                    Some(format!("call it as a statement, `{n}(...);`")),
                );
            }
            return info;
        }
        match catalog::resolve(n) {
            Some(Callee::Function(f)) => {
                if cond {
                    self.report(
                        Predicate::Parameter,
                        e.span,
                        format!("`{n}` is not a density: it does not take `|`"),
                        Some(format!("separate the arguments of `{n}` with commas")),
                    );
                    return Info {
                        deps,
                        ..Info::unknown()
                    };
                }
                if !closed || infos.iter().any(|i| i.ty.is_none()) {
                    return Info {
                        deps,
                        ..Info::unknown()
                    };
                }
                let arg_infos: Vec<ArgInfo> = infos
                    .iter()
                    .map(|i| ArgInfo {
                        ty: i.ty.unwrap_or(Ty::REAL),
                        sizes: i.sizes,
                        range: i.range,
                        structure: i.structure,
                    })
                    .collect();
                match f.apply(&arg_infos) {
                    Ok(out) => Info {
                        ty: Some(out.ty),
                        sizes: out.sizes,
                        range: out.range,
                        structure: out.structure,
                        deps,
                        root: None,
                    },
                    Err(msg) => {
                        let got: Vec<String> = infos
                            .iter()
                            .map(|i| i.ty.map_or("?".into(), |t| t.to_string()))
                            .collect();
                        self.report(
                            Predicate::Parameter,
                            e.span,
                            format!("wrong arguments to `{n}` (given {}): {msg}", got.join(", ")),
                            Some(format!("call it as {}", f.signatures[0])),
                        );
                        Info {
                            deps,
                            ..Info::unknown()
                        }
                    }
                }
            }
            Some(Callee::Dist(d, suffix)) => {
                self.dist_call(e, name, d, suffix, args, &infos, cond, closed)
            }
            None => {
                self.unknown_callee(name);
                Info {
                    deps,
                    ..Info::unknown()
                }
            }
        }
    }

    /// Report a called name that is neither a function nor a distribution with that suffix.
    fn unknown_callee(&mut self, name: &Ident) {
        let n = name.name.as_str();
        if let Some((base, suffix)) = catalog::split_suffix(n) {
            if let Some(d) = catalog::distribution(base) {
                let have: Vec<String> = d
                    .suffixes()
                    .iter()
                    .map(|s| format!("{base}{}", s.as_str()))
                    .collect();
                let why = if suffix.is_density() {
                    if d.discrete {
                        format!(
                            "`{base}` is a discrete distribution: its log mass is `{base}_lpmf`"
                        )
                    } else {
                        format!("`{base}` is a continuous distribution: its log density is `{base}_lpdf`")
                    }
                } else {
                    format!("`{base}` has no `{}` form", suffix.as_str())
                };
                self.report(
                    Predicate::Distribution,
                    name.span,
                    format!("unknown function `{n}`: {why}"),
                    Some(format!("use one of {}", have.join(", "))),
                );
                return;
            }
        }
        if let Some(d) = catalog::distribution(n) {
            self.report(
                Predicate::Distribution,
                name.span,
                format!("`{n}` is a distribution, not a function"),
                Some(format!(
                    "write `y ~ {n}(...)` as a statement, or call `{n}{}({} | ...)`",
                    d.density_suffix().as_str(),
                    d.variate.name
                )),
            );
            return;
        }
        if let Some(replacement) = catalog::removed_function(n) {
            self.report(
                Predicate::Distribution,
                name.span,
                format!("`{n}` was removed from Stan (2.33)"),
                Some(format!("use {replacement}")),
            );
            return;
        }
        let hint = catalog::closest_callable(n)
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| "see the list of supported functions and distributions".into());
        self.report(
            Predicate::Distribution,
            name.span,
            format!("unknown function `{n}`"),
            Some(hint),
        );
    }
}

/// The text after whitespace and comments.
fn skip_trivia(mut s: &str) -> &str {
    loop {
        s = s.trim_start();
        if let Some(r) = s.strip_prefix("//") {
            s = r.find('\n').map_or("", |i| &r[i..]);
        } else if let Some(r) = s.strip_prefix("/*") {
            s = r.find("*/").map_or("", |i| &r[i + 2..]);
        } else {
            return s;
        }
    }
}

/// Stan's operator typing: the result type and sizes, and a size mismatch message if any.
#[allow(clippy::type_complexity)]
fn binop_type(
    op: BinOp,
    a: Ty,
    b: Ty,
    sa: &Sizes,
    sb: &Sizes,
) -> Result<(Ty, Sizes, Option<String>), String> {
    use Base::*;
    let scalar_result = |a: Ty, b: Ty| {
        if a.is_int() && b.is_int() {
            Ty::INT
        } else {
            Ty::REAL
        }
    };
    let la = |t: Ty| t.is_linear_algebra();
    let mismatch = |x: Option<u32>, y: Option<u32>, what: &str| match (x, y) {
        (Some(x), Some(y)) if x != y => Some(format!("{what}: {x} vs {y}")),
        _ => None,
    };
    let same_shape = |a: Ty| {
        let m = (0..a.rank()).find_map(|i| mismatch(sa.get(i), sb.get(i), "sizes differ"));
        (a, *sa, m)
    };
    let cannot = |verb: &str| {
        Err(format!(
            "cannot {verb} {a} and {b}{}",
            if a.is_array() || b.is_array() {
                ": arithmetic on arrays is not allowed"
            } else {
                ""
            }
        ))
    };
    match op {
        BinOp::Add | BinOp::Sub => {
            if a.is_scalar() && b.is_scalar() {
                Ok((scalar_result(a, b), Sizes::UNKNOWN, None))
            } else if a.is_scalar() && la(b) {
                Ok((b, *sb, None))
            } else if b.is_scalar() && la(a) {
                Ok((a, *sa, None))
            } else if la(a) && a == b {
                Ok(same_shape(a))
            } else {
                cannot(if op == BinOp::Add { "add" } else { "subtract" })
            }
        }
        BinOp::Mul => {
            if a.is_scalar() && b.is_scalar() {
                return Ok((scalar_result(a, b), Sizes::UNKNOWN, None));
            }
            if a.is_scalar() && la(b) {
                return Ok((b, *sb, None));
            }
            if b.is_scalar() && la(a) {
                return Ok((a, *sa, None));
            }
            if !(la(a) && la(b)) {
                return cannot("multiply");
            }
            let inner = |x: Option<u32>, y: Option<u32>| {
                mismatch(x, y, "inner sizes of the product differ")
            };
            match (a.base, b.base) {
                (RowVector, Vector) => Ok((Ty::REAL, Sizes::UNKNOWN, inner(sa.get(0), sb.get(0)))),
                (Vector, RowVector) => {
                    Ok((Ty::MATRIX, Sizes::from_slice(&[sa.get(0), sb.get(0)]), None))
                }
                (Matrix, Vector) => Ok((
                    Ty::VECTOR,
                    Sizes::from_slice(&[sa.get(0)]),
                    inner(sa.get(1), sb.get(0)),
                )),
                (RowVector, Matrix) => Ok((
                    Ty::ROW_VECTOR,
                    Sizes::from_slice(&[sb.get(1)]),
                    inner(sa.get(0), sb.get(0)),
                )),
                (Matrix, Matrix) => Ok((
                    Ty::MATRIX,
                    Sizes::from_slice(&[sa.get(0), sb.get(1)]),
                    inner(sa.get(1), sb.get(0)),
                )),
                _ => Err(format!(
                    "cannot multiply {a} by {b} with `*` (matrix product)"
                )),
            }
        }
        BinOp::Div => {
            if a.is_scalar() && b.is_scalar() {
                Ok((scalar_result(a, b), Sizes::UNKNOWN, None))
            } else if la(a) && b.is_scalar() {
                Ok((a, *sa, None))
            } else if a.is_scalar() && la(b) {
                Ok((b, *sb, None))
            } else if a.base == RowVector && b == Ty::MATRIX && !a.is_array() {
                Ok((a, Sizes::from_slice(&[sb.get(0)]), None))
            } else if a == Ty::MATRIX && b == Ty::MATRIX {
                Ok((a, Sizes::from_slice(&[sa.get(0), sb.get(0)]), None))
            } else {
                Err(format!("cannot divide {a} by {b} with `/`"))
            }
        }
        BinOp::EltMul | BinOp::EltDiv | BinOp::EltPow => {
            if a.is_scalar() && b.is_scalar() {
                Ok((Ty::REAL, Sizes::UNKNOWN, None))
            } else if la(a) && a == b {
                Ok(same_shape(a))
            } else if a.is_scalar() && la(b) {
                Ok((b, *sb, None))
            } else if b.is_scalar() && la(a) {
                Ok((a, *sa, None))
            } else {
                Err(format!("cannot apply `{}` to {a} and {b}", op.as_str()))
            }
        }
        BinOp::Pow => {
            if a.is_scalar() && b.is_scalar() {
                Ok((Ty::REAL, Sizes::UNKNOWN, None))
            } else if la(a) && (b.is_scalar() || a == b) {
                Ok((a, *sa, None))
            } else if a.is_scalar() && la(b) {
                Ok((b, *sb, None))
            } else {
                Err(format!("cannot raise {a} to the power {b}"))
            }
        }
        BinOp::Mod | BinOp::IntDiv => {
            if a.is_int() && b.is_int() {
                Ok((Ty::INT, Sizes::UNKNOWN, None))
            } else {
                Err(format!("`{}` needs two ints, got {a} and {b}", op.as_str()))
            }
        }
        BinOp::LeftDiv if a.is_scalar() && b.is_scalar() => Ok((Ty::REAL, Sizes::UNKNOWN, None)),
        BinOp::LeftDiv => match (a == Ty::MATRIX, b) {
            (true, t) if t == Ty::MATRIX => {
                Ok((Ty::MATRIX, Sizes::from_slice(&[sa.get(1), sb.get(1)]), None))
            }
            (true, t) if t == Ty::VECTOR => Ok((Ty::VECTOR, Sizes::from_slice(&[sa.get(1)]), None)),
            _ => Err(format!("cannot left-divide {a} by {b}")),
        },
        BinOp::Lt
        | BinOp::Le
        | BinOp::Gt
        | BinOp::Ge
        | BinOp::Eq
        | BinOp::Ne
        | BinOp::And
        | BinOp::Or => {
            if a.is_scalar() && b.is_scalar() {
                Ok((Ty::INT, Sizes::UNKNOWN, None))
            } else {
                Err(format!(
                    "`{}` compares two ints or reals, got {a} and {b}",
                    op.as_str()
                ))
            }
        }
    }
}

fn binop_hint(op: BinOp, a: Ty, b: Ty) -> Option<String> {
    if a.is_array() || b.is_array() {
        return Some("declare the values as vectors, or convert with to_vector(...)".into());
    }
    match (op, a.base, b.base) {
        (BinOp::Mul, Base::Vector, Base::Vector)
        | (BinOp::Mul, Base::RowVector, Base::RowVector) => {
            Some("use `.*` for elementwise products or dot_product(a, b)".into())
        }
        (BinOp::Div, _, _) => Some("use `./` for elementwise division".into()),
        _ => None,
    }
}

/// The factors of a product `a * b` or `a .* b`.
fn mul_parts(e: &Expr) -> Option<(&Expr, &Expr)> {
    match &e.unparen().kind {
        ExprKind::Binary {
            op: BinOp::Mul | BinOp::EltMul,
            lhs,
            rhs,
        } => Some((lhs, rhs)),
        _ => None,
    }
}

/// Structural equality ignoring spans and parentheses (for `x * x` ranges).
fn same_expr(a: &Expr, b: &Expr) -> bool {
    let (a, b) = (a.unparen(), b.unparen());
    match (&a.kind, &b.kind) {
        (ExprKind::Var(x), ExprKind::Var(y)) => x.name == y.name,
        (ExprKind::IntLit(x), ExprKind::IntLit(y)) => x == y,
        (
            ExprKind::Index {
                expr: e1,
                indices: i1,
            },
            ExprKind::Index {
                expr: e2,
                indices: i2,
            },
        ) => {
            same_expr(e1, e2)
                && i1.len() == i2.len()
                && i1.iter().zip(i2).all(|(p, q)| match (p, q) {
                    (Index::Single(p), Index::Single(q)) => same_expr(p, q),
                    _ => false,
                })
        }
        _ => false,
    }
}
