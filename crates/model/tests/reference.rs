//! Log densities and math functions of the model crate against independent reference values
//! (tests/data/reference_*.json, computed with mpmath at 30 digits by scripts/make_reference.py).
//!
//! Every case becomes a tiny Stan program whose inputs are data, evaluated with
//! `log_density(&[], jacobian = false, propto = false)`. Agreement is required to 1e-10 relative
//! (absolute floor 1e-12). Each test checks all cases and reports every failing one by name.
//!
//! To add a case: add it to scripts/make_reference.py (each case is one `add_dist`/`add_fn`
//! call), run `.venv/bin/python scripts/make_reference.py` (pins in scripts/requirements.txt),
//! and commit the regenerated JSON with the script. The tests here and in gradients.rs pick new
//! cases up without code changes.

mod common;

use common::{
    close, compile, data_of, dist_cases, fn_cases, gaussian_loo_reference, guarded, program,
    DistCase, Failures, FnCase, FULL,
};
use refinestat_language::Data;
use serde_json::Value;

const REL: f64 = 1e-10;
const ABS: f64 = 1e-12;

fn all_data(case_decls: &[(String, String)], values: &serde_json::Map<String, Value>) -> Data {
    data_of(values, case_decls.iter().map(|(_, name)| name))
}

/// Compile `src` with the case's data, evaluate at the empty parameter vector, compare.
fn check_value(src: &str, data: &Data, want: f64) -> Result<(), String> {
    guarded(|| {
        let model = compile(src, data)?;
        if model.dim() != 0 {
            return Err(format!("expected no parameters, dim = {}", model.dim()));
        }
        let got = model
            .log_density(&[], FULL)
            .map_err(|e| format!("log_density: {e}\n--- program ---\n{src}"))?;
        if close(got, want, REL, ABS) {
            Ok(())
        } else {
            Err(format!(
                "got {got:e}, want {want:e} (rel. error {:.2e})\n--- program ---\n{src}",
                ((got - want) / want).abs()
            ))
        }
    })
}

fn suffix(case: &DistCase) -> &'static str {
    if case.kind == "lpmf" {
        "lpmf"
    } else {
        "lpdf"
    }
}

/// `dist_lpdf(y | a, b)`; `dist_lpdf(y)` when there are no other arguments.
fn call(case: &DistCase, function: &str) -> String {
    if case.args.is_empty() {
        format!("{function}({})", case.variate)
    } else {
        format!("{function}({} | {})", case.variate, case.args.join(", "))
    }
}

/// `y ~ dist(a, b)` with the case's truncation, if any.
fn sampling_statement(case: &DistCase) -> String {
    let mut s = format!("{} ~ {}({})", case.variate, case.dist, case.args.join(", "));
    if let Some((lower, upper)) = &case.truncation {
        s.push_str(&format!(
            " T[{}, {}]",
            lower.as_deref().unwrap_or(""),
            upper.as_deref().unwrap_or("")
        ));
    }
    s.push(';');
    s
}

fn dist_program(case: &DistCase, statement: &str) -> String {
    let decls: Vec<_> = case.decls.iter().collect();
    program(&decls, &[], &format!("  {statement}"))
}

fn run_dist(what: &str, kinds: &[&str], statement: impl Fn(&DistCase) -> String) {
    let mut failures = Failures::default();
    for case in dist_cases()
        .iter()
        .filter(|c| kinds.contains(&c.kind.as_str()))
    {
        let data = all_data(&case.decls, &case.data);
        let src = dist_program(case, &statement(case));
        failures.record(&case.name, check_value(&src, &data, case.lp));
    }
    failures.assert_none(what);
}

#[test]
fn target_plus_lpdf_matches_reference() {
    run_dist("target += dist_lpdf/lpmf", &["lpdf", "lpmf"], |c| {
        format!(
            "target += {};",
            call(c, &format!("{}_{}", c.dist, suffix(c)))
        )
    });
}

#[test]
fn sampling_statement_without_propto_matches_reference() {
    run_dist(
        "y ~ dist(...) with propto = false",
        &["lpdf", "lpmf"],
        sampling_statement,
    );
}

#[test]
fn target_plus_lupdf_without_propto_matches_reference() {
    run_dist(
        "target += dist_lupdf/lupmf with propto = false",
        &["lpdf", "lpmf"],
        |c| {
            let lu = if suffix(c) == "lpmf" {
                "lupmf"
            } else {
                "lupdf"
            };
            format!("target += {};", call(c, &format!("{}_{lu}", c.dist)))
        },
    );
}

#[test]
fn log_cdfs_match_reference() {
    run_dist("target += dist_lcdf/lccdf", &["lcdf", "lccdf"], |c| {
        format!("target += {};", call(c, &format!("{}_{}", c.dist, c.kind)))
    });
}

#[test]
fn truncated_densities_match_reference() {
    run_dist("y ~ dist(...) T[L, U]", &["truncated"], sampling_statement);
}

#[test]
fn pointwise_log_lik_matches_reference() {
    let mut failures = Failures::default();
    for case in dist_cases() {
        let Some(pointwise) = gaussian_loo_reference(&case).or(case.pointwise.clone()) else {
            continue;
        };
        let data = all_data(&case.decls, &case.data);
        // `~` and (without truncation) `target += dist_lpdf(...)` both define log_lik terms.
        let mut statements = vec![sampling_statement(&case)];
        if case.truncation.is_none() {
            let function = format!("{}_{}", case.dist, suffix(&case));
            statements.push(format!("target += {};", call(&case, &function)));
        }
        for statement in statements {
            let src = dist_program(&case, &statement);
            let result = guarded(|| {
                let model = compile(&src, &data)?;
                let got = model
                    .log_lik(&[])
                    .map_err(|e| format!("log_lik: {e}\n{src}"))?;
                if model.n_log_lik() != pointwise.len() || got.len() != pointwise.len() {
                    return Err(format!(
                        "{} log_lik terms (n_log_lik {}), want {}\n{src}",
                        got.len(),
                        model.n_log_lik(),
                        pointwise.len()
                    ));
                }
                for (i, (g, w)) in got.iter().zip(&pointwise).enumerate() {
                    if !close(*g, *w, REL, ABS) {
                        return Err(format!("log_lik[{i}] = {g:e}, want {w:e}\n{src}"));
                    }
                }
                Ok(())
            });
            failures.record(&format!("{} `{statement}`", case.name), result);
        }
    }
    failures.assert_none("pointwise log_lik of y ~ dist(...) and target += dist_lpdf(y | ...)");
}

// ---------------------------------------------------------------------------------------------
// math functions

/// Flat row-major values and dims of a reference result.
fn flat_value(v: &Value) -> (Vec<usize>, Vec<f64>) {
    let dv = common::data_value(v);
    (dv.dims, dv.values)
}

/// Programs for a function case: one per element of the result, each `(program, expected)`.
/// With `in_transformed_data` the function is evaluated in transformed data (double
/// arithmetic), otherwise as a local variable of the model block.
fn fn_programs(case: &FnCase, in_transformed_data: bool) -> Vec<(String, f64)> {
    let (dims, values) = flat_value(&case.value);
    let ty = &case.result_type;
    let mut out = Vec::new();
    for (flat, want) in values.iter().enumerate() {
        let index = common::stan_index(&dims, flat);
        let mut src = String::new();
        if !case.decls.is_empty() {
            src.push_str("data {\n");
            for (t, name) in &case.decls {
                src.push_str(&format!("  {t} {name};\n"));
            }
            src.push_str("}\n");
        }
        let is_scalar = ty == "real" || ty == "int";
        if in_transformed_data {
            src.push_str(&format!(
                "transformed data {{\n  {ty} value = {};\n}}\nmodel {{\n  target += value{index};\n}}\n",
                case.expr
            ));
        } else if is_scalar {
            src.push_str(&format!("model {{\n  target += {};\n}}\n", case.expr));
        } else {
            src.push_str(&format!(
                "model {{\n  {ty} value = {};\n  target += value{index};\n}}\n",
                case.expr
            ));
        }
        out.push((src, *want));
    }
    out
}

fn run_fns(what: &str, in_transformed_data: bool) {
    let mut failures = Failures::default();
    for case in fn_cases() {
        let data = all_data(&case.decls, &case.data);
        for (i, (src, want)) in fn_programs(&case, in_transformed_data).iter().enumerate() {
            failures.record(
                &format!("{} element {i}", case.name),
                check_value(src, &data, *want),
            );
        }
    }
    failures.assert_none(what);
}

#[test]
fn math_functions_in_model_block_match_reference() {
    run_fns("math functions (model block)", false);
}

#[test]
fn math_functions_in_transformed_data_match_reference() {
    run_fns("math functions (transformed data)", true);
}

#[test]
fn fixtures_cover_the_design_lists() {
    let dists: std::collections::BTreeSet<_> = dist_cases().into_iter().map(|c| c.dist).collect();
    for d in [
        "normal",
        "std_normal",
        "student_t",
        "cauchy",
        "double_exponential",
        "logistic",
        "lognormal",
        "exponential",
        "gamma",
        "inv_gamma",
        "weibull",
        "beta",
        "uniform",
        "chi_square",
        "bernoulli",
        "bernoulli_logit",
        "binomial",
        "binomial_logit",
        "poisson",
        "poisson_log",
        "neg_binomial_2",
        "neg_binomial_2_log",
        "categorical",
        "multi_normal",
        "multi_normal_cholesky",
        "lkj_corr_cholesky",
        "dirichlet",
    ] {
        assert!(dists.contains(d), "no reference case for distribution {d}");
    }
    let exprs: Vec<String> = fn_cases().into_iter().map(|c| c.expr).collect();
    for f in [
        "exp(",
        "log(",
        "log2(",
        "log10(",
        "log1p(",
        "expm1(",
        "sqrt(",
        "square(",
        "pow(",
        "fabs(",
        "abs(",
        "min(",
        "max(",
        "pi()",
        "e()",
        "inv_logit(",
        "logit(",
        "log_inv_logit(",
        "log1m(",
        "lgamma(",
        "fmin(",
        "fmax(",
        "log_mix(",
        "sum(",
        "mean(",
        "sd(",
        "dot_product(",
        "rep_vector(",
        "rep_array(",
        "to_vector(",
        "cumulative_sum(",
        "softmax(",
        "log_sum_exp(",
        "cholesky_decompose(",
        "diag_matrix(",
        "gp_exp_quad_cov(",
        "diag_pre_multiply(",
        "rows(",
        "cols(",
        "size(",
        "num_elements(",
        "negative_infinity()",
        "not_a_number()",
    ] {
        assert!(
            exprs.iter().any(|e| e.starts_with(f)
                || e.contains(&format!(" {f}"))
                || e.contains(&format!("({f}"))),
            "no reference case for function {f}"
        );
    }
}

/// `Model::from_source` (parse + validity check + compile) accepts every reference program:
/// they are valid Stan, so a rejection is a false positive of the checker.
#[test]
fn from_source_accepts_the_reference_programs() {
    let mut failures = Failures::default();
    let mut record = |name: &str, src: &str, data: &Data| {
        let result = guarded(|| {
            refinestat_model::Model::from_source(src, data)
                .map(|_| ())
                .map_err(|e| format!("{e}\n--- program ---\n{src}"))
        });
        failures.record(name, result);
    };
    for case in dist_cases() {
        let data = all_data(&case.decls, &case.data);
        let statement = if case.kind == "lpdf" || case.kind == "lpmf" || case.kind == "truncated" {
            sampling_statement(&case)
        } else {
            format!(
                "target += {};",
                call(&case, &format!("{}_{}", case.dist, case.kind))
            )
        };
        record(&case.name, &dist_program(&case, &statement), &data);
    }
    for case in fn_cases() {
        let data = all_data(&case.decls, &case.data);
        if let Some((src, _)) = fn_programs(&case, false).first() {
            record(&case.name, src, &data);
        }
    }
    failures.assert_none("from_source on the reference programs");
}
