//! Data values against data-block declarations: presence, shape, int-ness, bounds, simplexes.
//!
//! A missing variable is a dependency violation, a wrong shape or a real where an int is declared
//! is a type violation, and values outside declared bounds are support violations.

use super::checker::{Checker, Declared};
use super::intervals::Interval;
use super::scope::Symbol;
use super::types::{Base, Sizes, Structure};
use crate::ast::*;
use crate::diagnostic::Predicate;

impl<'p, 'd, 's> Checker<'p, 'd, 's> {
    pub(crate) fn check_data_decl(
        &mut self,
        ty: &'p TypeDecl,
        name: &'p Ident,
        declared: &Declared,
        sym: &mut Symbol<'p, 'd>,
    ) {
        let Some(data) = self.data else { return };
        let n = name.name.as_str();
        let Some(value) = data.get(n) else {
            let keys = data.vars.keys().map(String::as_str);
            let hint = match super::catalog::closest(n, keys) {
                Some(k) => format!("the data has `{k}`; rename one of them so that they match"),
                None => format!("add \"{n}\" to the data file"),
            };
            self.report(
                Predicate::Dependency,
                name.span,
                format!("data variable `{n}` is missing from the data"),
                Some(hint),
            );
            return;
        };
        let rank = declared.ty.rank();
        let decl_text = crate::print::print_type(ty);
        // JSON cannot spell the inner sizes of an empty array (`[]` for a 0 x 3 matrix).
        let empty_ok = value.values.is_empty()
            && value.dims.first() == Some(&0)
            && value.dims.len() < rank
            && declared.sizes.get(0).is_none_or(|n| n == 0);
        if value.dims.len() != rank && !empty_ok {
            let shape = if value.dims.is_empty() {
                "a single number".to_string()
            } else {
                format!("an array of shape [{}]", join(&value.dims))
            };
            self.report(
                Predicate::Type,
                name.span,
                format!("`{n}` is declared `{decl_text}` ({rank} dimension{}), but the data holds {shape}", if rank == 1 { "" } else { "s" }),
                Some(format!("make the declaration of `{n}` match the data")),
            );
            return;
        }
        // Sizes written in the declaration, in dimension order, to name them in messages.
        let mut size_exprs: Vec<&Expr> = ty.array_dims.iter().collect();
        match &ty.base {
            BaseType::Int | BaseType::Real => {}
            BaseType::Vector(e)
            | BaseType::RowVector(e)
            | BaseType::Simplex(e)
            | BaseType::Ordered(e)
            | BaseType::PositiveOrdered(e) => size_exprs.push(e),
            BaseType::Matrix(r, c) => {
                size_exprs.push(r);
                size_exprs.push(c);
            }
            BaseType::CholeskyFactorCorr(k)
            | BaseType::CovMatrix(k)
            | BaseType::CorrMatrix(k)
            | BaseType::CholeskyFactorCov(k, None) => {
                size_exprs.push(k);
                size_exprs.push(k);
            }
            BaseType::CholeskyFactorCov(m, Some(n)) => {
                size_exprs.push(m);
                size_exprs.push(n);
            }
        }
        let mut shape_ok = true;
        for (i, &actual) in value.dims.iter().enumerate() {
            if let Some(want) = declared.sizes.get(i) {
                if want as usize != actual {
                    shape_ok = false;
                    let size_text = size_exprs.get(i).map_or(String::new(), |e| {
                        let t = self.text(e);
                        if t == want.to_string() {
                            String::new()
                        } else {
                            format!(" ({t} = {want})")
                        }
                    });
                    self.report(
                        Predicate::Type,
                        name.span,
                        format!(
                            "`{n}` is declared with size {want}{size_text} in dimension {}, but the data has {actual}",
                            i + 1
                        ),
                        Some(format!("make the size of `{n}` in the data agree with its declaration")),
                    );
                    break;
                }
            }
        }
        if declared.ty.base == Base::Int && !value.all_int {
            let bad = value
                .values
                .iter()
                .find(|x| x.fract() != 0.0 || !x.is_finite());
            let what = match bad {
                Some(x) => format!("a non-integer value {x}"),
                None => "values written as reals (with a decimal point)".to_string(),
            };
            self.report(
                Predicate::Type,
                name.span,
                format!("`{n}` is declared int, but the data has {what}"),
                Some(format!(
                    "declare `{n}` as real, or write integer values in the data"
                )),
            );
        }
        // Bounds.
        let element_of = |k: usize| {
            if value.dims.is_empty() {
                String::new()
            } else {
                format!(" (element {})", k + 1)
            }
        };
        if let Some(lo) = declared.lower.and_then(|r| r.is_point()) {
            if let Some((k, x)) = value
                .values
                .iter()
                .enumerate()
                .find(|(_, x)| x.is_nan() || **x < lo)
            {
                let msg = if x.is_nan() {
                    format!(
                        "`{n}` is declared <lower={lo}>, but the data has NaN{}",
                        element_of(k)
                    )
                } else {
                    format!(
                        "`{n}` is declared <lower={lo}>, but the data has {x}{}",
                        element_of(k)
                    )
                };
                self.report(
                    Predicate::Support,
                    name.span,
                    msg,
                    Some(format!("fix the data, or relax the lower bound of `{n}`")),
                );
            }
        }
        if let Some(hi) = declared.upper.and_then(|r| r.is_point()) {
            if let Some((k, x)) = value
                .values
                .iter()
                .enumerate()
                .find(|(_, x)| x.is_nan() || **x > hi)
            {
                let msg = if x.is_nan() {
                    format!(
                        "`{n}` is declared <upper={hi}>, but the data has NaN{}",
                        element_of(k)
                    )
                } else {
                    format!(
                        "`{n}` is declared <upper={hi}>, but the data has {x}{}",
                        element_of(k)
                    )
                };
                self.report(
                    Predicate::Support,
                    name.span,
                    msg,
                    Some(format!("fix the data, or relax the upper bound of `{n}`")),
                );
            }
        }
        if declared.structure == Structure::Simplex && shape_ok {
            let k = value.dims.last().copied().unwrap_or(0).max(1);
            for (row, chunk) in value.values.chunks(k).enumerate() {
                let sum: f64 = chunk.iter().sum();
                if chunk.iter().any(|x| x.is_nan() || *x < 0.0) || (sum - 1.0).abs() > 1e-8 {
                    self.report(
                        Predicate::Support,
                        name.span,
                        format!("`{n}` is declared a simplex, but its data values (row {}) sum to {sum} or are negative", row + 1),
                        Some("simplex data must be non-negative and sum to 1".into()),
                    );
                    break;
                }
            }
        }
        // What later checks know about the variable.
        sym.value = Some(value);
        if shape_ok {
            let dims: Vec<Option<u32>> =
                value.dims.iter().map(|&d| u32::try_from(d).ok()).collect();
            sym.sizes = Sizes::from_slice(&dims);
        }
        sym.fixed = Some(match value.min_max() {
            Some((lo, hi)) => Interval::closed(lo, hi),
            None if value.values.is_empty() => declared.range.unwrap_or(Interval::ALL),
            None => Interval::ALL,
        });
    }
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
