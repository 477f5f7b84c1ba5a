//! Constraining transforms of the model crate, checked as properties for every constrained type
//! (lower, upper, lower+upper, offset/multiplier, vector-valued bounds, simplex, ordered,
//! positive_ordered, cholesky_factor_corr, cov_matrix, and arrays of them):
//!
//! * round trip: `unconstrain(values)` has length `dim`, and `log_density` (no Jacobian) there
//!   equals the closed-form density of the constrained values; `write_array` returns them,
//!   matched by `param_names`;
//! * log|J|: `lp_jacobian - lp` equals log|det d(free constrained coordinates)/dx| computed by
//!   finite differences (the free coordinates: all elements of elementwise transforms, the first
//!   K-1 of a simplex, the strict lower triangle of a Cholesky factor of a correlation matrix,
//!   the lower triangle of a covariance matrix);
//! * gradients with the Jacobian against finite differences at several points;
//! * values outside the support are rejected by `unconstrain` with an error.

mod common;

use common::{
    check_gradient, close, compile, data_from_json, derivative, guarded, literal, log_abs_det,
    stan_index, Failures, FULL, FULL_JACOBIAN,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_language::Data;
use refinestat_model::Model;

struct TransformCase {
    name: &'static str,
    /// Declaration of the parameter `a`.
    decl: &'static str,
    /// Stan JSON value of `a`.
    value: &'static str,
    /// Row-major positions of the free constrained coordinates (`None`: every element).
    free: Option<&'static [usize]>,
    /// Length of the unconstrained vector.
    dim: usize,
    /// Data block declarations and values the bounds use ("" when none).
    data_decls: &'static str,
    data: &'static str,
}

const fn case(
    name: &'static str,
    decl: &'static str,
    value: &'static str,
    free: Option<&'static [usize]>,
    dim: usize,
) -> TransformCase {
    TransformCase {
        name,
        decl,
        value,
        free,
        dim,
        data_decls: "",
        data: "{}",
    }
}

const CASES: &[TransformCase] = &[
    case("lower", "real<lower=1.5>", "2.7", None, 1),
    case("lower_close_to_bound", "real<lower=0>", "1e-5", None, 1),
    case("upper", "real<upper=-0.5>", "-3.0", None, 1),
    case("lower_upper", "real<lower=-1, upper=2>", "0.4", None, 1),
    case(
        "lower_upper_near_bound",
        "real<lower=0, upper=1>",
        "0.999",
        None,
        1,
    ),
    case(
        "offset_multiplier",
        "real<offset=1, multiplier=3>",
        "2.2",
        None,
        1,
    ),
    case("offset_only", "real<offset=-2>", "0.5", None, 1),
    case("multiplier_only", "real<multiplier=0.5>", "-1.25", None, 1),
    case(
        "vector_lower",
        "vector<lower=0>[3]",
        "[0.5, 2.0, 7.0]",
        None,
        3,
    ),
    case(
        "vector_lower_upper",
        "vector<lower=-2, upper=5>[3]",
        "[-1.9, 0.0, 4.5]",
        None,
        3,
    ),
    case(
        "vector_offset_multiplier",
        "vector<offset=0.5, multiplier=2>[3]",
        "[1.0, -3.0, 0.25]",
        None,
        3,
    ),
    case(
        "row_vector_upper",
        "row_vector<upper=0>[2]",
        "[-0.1, -3.0]",
        None,
        2,
    ),
    case(
        "matrix_lower",
        "matrix<lower=0>[2, 2]",
        "[[1.0, 2.0], [0.5, 3.0]]",
        None,
        4,
    ),
    TransformCase {
        name: "vector_valued_bounds",
        decl: "vector<lower=lb, upper=ub>[3]",
        value: "[0.5, 1.1, 2.0]",
        free: None,
        dim: 3,
        data_decls: "vector[3] lb; vector[3] ub;",
        data: r#"{"lb": [0.0, 1.0, -1.0], "ub": [1.0, 4.0, 2.5]}"#,
    },
    TransformCase {
        name: "data_dependent_offset_multiplier",
        decl: "vector<offset=m, multiplier=s>[2]",
        value: "[0.3, -0.7]",
        free: None,
        dim: 2,
        data_decls: "real m; real<lower=0> s;",
        data: r#"{"m": 1.5, "s": 0.25}"#,
    },
    case(
        "simplex_4",
        "simplex[4]",
        "[0.1, 0.2, 0.3, 0.4]",
        Some(&[0, 1, 2]),
        3,
    ),
    case("simplex_2", "simplex[2]", "[0.9, 0.1]", Some(&[0]), 1),
    case("ordered_3", "ordered[3]", "[-1.0, 0.5, 0.6]", None, 3),
    case(
        "positive_ordered_3",
        "positive_ordered[3]",
        "[0.1, 1.0, 5.0]",
        None,
        3,
    ),
    case(
        "cholesky_factor_corr_2",
        "cholesky_factor_corr[2]",
        "[[1.0, 0.0], [0.6, 0.8]]",
        Some(&[2]),
        1,
    ),
    case(
        "cholesky_factor_corr_3",
        "cholesky_factor_corr[3]",
        "[[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.48, -0.6, 0.64]]",
        Some(&[3, 6, 7]),
        3,
    ),
    case(
        "cov_matrix_3",
        "cov_matrix[3]",
        "[[2.0, 0.3, -0.4], [0.3, 1.0, 0.2], [-0.4, 0.2, 1.5]]",
        Some(&[0, 3, 4, 6, 7, 8]),
        6,
    ),
    case(
        "array_lower",
        "array[2] real<lower=0>",
        "[0.3, 4.0]",
        None,
        2,
    ),
    case(
        "array_2d_lower_upper",
        "array[2, 2] real<lower=-1, upper=1>",
        "[[0.5, -0.5], [0.9, 0.0]]",
        None,
        4,
    ),
    case(
        "array_vector_lower_upper",
        "array[2] vector<lower=0, upper=1>[2]",
        "[[0.2, 0.7], [0.5, 0.05]]",
        None,
        4,
    ),
    case(
        "array_simplex",
        "array[2] simplex[3]",
        "[[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]",
        Some(&[0, 1, 3, 4]),
        4,
    ),
    case(
        "array_ordered",
        "array[2] ordered[2]",
        "[[-1.0, 1.0], [0.0, 0.1]]",
        None,
        4,
    ),
    case(
        "array_positive_ordered",
        "array[2] positive_ordered[2]",
        "[[0.5, 1.0], [2.0, 2.5]]",
        None,
        4,
    ),
    case(
        "array_cholesky_factor_corr",
        "array[2] cholesky_factor_corr[2]",
        "[[[1.0, 0.0], [0.6, 0.8]], [[1.0, 0.0], [-0.28, 0.96]]]",
        Some(&[2, 6]),
        2,
    ),
    case(
        "array_cov_matrix",
        "array[2] cov_matrix[2]",
        "[[[1.0, 0.5], [0.5, 2.0]], [[3.0, -1.0], [-1.0, 1.0]]]",
        Some(&[0, 2, 3, 4, 6, 7]),
        6,
    ),
];

impl TransformCase {
    fn values(&self) -> (Vec<usize>, Vec<f64>) {
        let v: serde_json::Value = serde_json::from_str(self.value).expect("case value");
        let dv = common::data_value(&v);
        (dv.dims, dv.values)
    }

    fn params(&self) -> Data {
        data_from_json(&format!(r#"{{"a": {}}}"#, self.value))
    }

    fn data(&self) -> Data {
        data_from_json(self.data)
    }

    fn free(&self) -> Vec<usize> {
        match self.free {
            Some(f) => f.to_vec(),
            None => (0..self.values().1.len()).collect(),
        }
    }

    /// Program with the parameter `a` and the given model body.
    fn program(&self, body: &str) -> String {
        let data = if self.data_decls.is_empty() {
            String::new()
        } else {
            format!("data {{ {} }}\n", self.data_decls)
        };
        format!(
            "{data}parameters {{\n  {} a;\n}}\nmodel {{\n{body}\n}}\n",
            self.decl
        )
    }

    /// Mean of the normal density put on element `k`.
    fn mean(k: usize) -> f64 {
        0.1 * k as f64 - 0.3
    }

    /// `target += normal_lpdf(a[i, j] | m_k, 2)` for every element, and its closed form.
    fn density_program(&self) -> (String, f64) {
        let (dims, values) = self.values();
        let mut body = String::new();
        let mut want = 0.0;
        for (k, v) in values.iter().enumerate() {
            let m = Self::mean(k);
            body.push_str(&format!(
                "  target += normal_lpdf(a{} | {}, 2);\n",
                stan_index(&dims, k),
                literal(m)
            ));
            let z = (v - m) / 2.0;
            want += -0.5 * z * z - 2f64.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln();
        }
        (self.program(&body), want)
    }
}

fn unconstrained(model: &Model, case: &TransformCase) -> Result<Vec<f64>, String> {
    let x = model
        .unconstrain(&case.params())
        .map_err(|e| format!("unconstrain: {e}"))?;
    if x.len() != case.dim || model.dim() != case.dim {
        return Err(format!(
            "unconstrained length {} and dim {}, want {}",
            x.len(),
            model.dim(),
            case.dim
        ));
    }
    Ok(x)
}

#[test]
fn unconstrain_then_log_density_gives_the_constrained_density() {
    let mut failures = Failures::default();
    for case in CASES {
        let result = guarded(|| {
            let (src, want) = case.density_program();
            let model = compile(&src, &case.data())?;
            let x = unconstrained(&model, case)?;
            let lp = model.log_density(&x, FULL).map_err(|e| format!("{e}"))?;
            if close(lp, want, 1e-10, 1e-12) {
                Ok(())
            } else {
                Err(format!("lp {lp:e}, closed form {want:e}\n{src}"))
            }
        });
        failures.record(case.name, result);
    }
    failures.assert_none("round trip through unconstrain");
}

/// `L[2,1]` -> [2, 1].
fn name_indices(name: &str) -> Option<Vec<usize>> {
    let open = name.find('[')?;
    let inner = name[open + 1..].strip_suffix(']')?;
    inner
        .split(',')
        .map(|s| s.trim().parse::<usize>().ok())
        .collect()
}

#[test]
fn write_array_returns_the_constrained_values() {
    let mut failures = Failures::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for case in CASES {
        let result = guarded(|| {
            let (src, _) = case.density_program();
            let model = compile(&src, &case.data())?;
            let x = unconstrained(&model, case)?;
            let (dims, values) = case.values();
            let names = model.param_names();
            let out = model
                .write_array(&x, &mut rng)
                .map_err(|e| format!("{e}"))?;
            if names.len() != values.len() || out.len() < names.len() {
                return Err(format!(
                    "{} names, {} outputs for {} values",
                    names.len(),
                    out.len(),
                    values.len()
                ));
            }
            for (name, got) in names.iter().zip(&out) {
                let flat = if dims.is_empty() {
                    (name == "a").then_some(0)
                } else {
                    name_indices(name)
                        .filter(|idx| idx.len() == dims.len())
                        .map(|idx| {
                            idx.iter()
                                .zip(&dims)
                                .fold(0, |acc, (i, d)| acc * d + (i - 1))
                        })
                };
                let Some(flat) = flat else {
                    return Err(format!("unexpected parameter name {name:?}"));
                };
                let want = values[flat];
                if !close(*got, want, 1e-9, 1e-12) {
                    return Err(format!("{name} = {got}, want {want}"));
                }
            }
            Ok(())
        });
        failures.record(case.name, result);
    }
    failures.assert_none("write_array after unconstrain");
}

/// Unconstrained points to test at: the image of the case's values, then random ones.
fn test_points(x0: &[f64], rng: &mut ChaCha8Rng) -> Vec<Vec<f64>> {
    let mut points = vec![x0.to_vec()];
    for _ in 0..2 {
        points.push(x0.iter().map(|_| rng.random_range(-1.5..1.5)).collect());
    }
    points
}

#[test]
fn log_jacobian_matches_finite_difference_determinant() {
    let mut failures = Failures::default();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for case in CASES {
        let result = guarded(|| {
            let (dims, _) = case.values();
            let free = case.free();
            let data = case.data();
            // One program per free coordinate: its lp without Jacobian is that coordinate.
            let coordinates: Vec<Model> = free
                .iter()
                .map(|&k| {
                    compile(
                        &case.program(&format!("  target += a{};", stan_index(&dims, k))),
                        &data,
                    )
                })
                .collect::<Result<_, _>>()?;
            let x0 = unconstrained(&coordinates[0], case)?;
            if free.len() != x0.len() {
                return Err(format!(
                    "{} free coordinates for dim {}",
                    free.len(),
                    x0.len()
                ));
            }
            let n = x0.len();
            for x in test_points(&x0, &mut rng) {
                let mut jac = vec![0.0; n * n];
                for (r, model) in coordinates.iter().enumerate() {
                    for c in 0..n {
                        let mut point = x.clone();
                        let mut along = |t: f64| {
                            point[c] = t;
                            model.log_density(&point, FULL).ok()
                        };
                        let (d, err) = derivative(&mut along, x[c]);
                        if err > 1e-7 * d.abs().max(1.0) {
                            return Err(format!("finite difference did not converge at {x:?}"));
                        }
                        jac[r * n + c] = d;
                    }
                }
                let want = log_abs_det(jac, n);
                let model = &coordinates[0];
                let with = model
                    .log_density(&x, FULL_JACOBIAN)
                    .map_err(|e| format!("{e}"))?;
                let without = model.log_density(&x, FULL).map_err(|e| format!("{e}"))?;
                let got = with - without;
                if (got - want).abs() > 1e-6 * want.abs().max(1.0) {
                    return Err(format!(
                        "at x = {x:?}: lp_jacobian - lp = {got}, FD log|det J| = {want}"
                    ));
                }
            }
            Ok(())
        });
        failures.record(case.name, result);
    }
    failures.assert_none("log|J| of the constraining transforms");
}

#[test]
fn transform_gradients_match_finite_differences() {
    let mut failures = Failures::default();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    for case in CASES {
        let result = guarded(|| {
            let (src, _) = case.density_program();
            let mut model = compile(&src, &case.data())?;
            let x0 = unconstrained(&model, case)?;
            for x in test_points(&x0, &mut rng) {
                check_gradient(&mut model, &x, FULL_JACOBIAN).map_err(|e| format!("{e}\n{src}"))?;
            }
            Ok(())
        });
        failures.record(case.name, result);
    }
    failures.assert_none("gradients through the transforms");
}

#[test]
fn unconstrain_rejects_values_outside_the_support() {
    let bad: &[(&str, &str, &str)] = &[
        ("below_lower", "real<lower=0>", "-1.0"),
        ("above_upper", "real<lower=0, upper=1>", "1.5"),
        (
            "simplex_not_summing_to_one",
            "simplex[3]",
            "[0.5, 0.5, 0.5]",
        ),
        ("simplex_negative", "simplex[3]", "[1.2, -0.1, -0.1]"),
        ("ordered_not_ordered", "ordered[3]", "[0.0, 2.0, 1.0]"),
        (
            "positive_ordered_negative",
            "positive_ordered[2]",
            "[-1.0, 1.0]",
        ),
        (
            "corr_cholesky_not_unit_rows",
            "cholesky_factor_corr[2]",
            "[[1.0, 0.0], [0.5, 0.5]]",
        ),
        (
            "cov_not_symmetric",
            "cov_matrix[2]",
            "[[1.0, 0.5], [0.2, 1.0]]",
        ),
        (
            "cov_not_positive_definite",
            "cov_matrix[2]",
            "[[1.0, 2.0], [2.0, 1.0]]",
        ),
        ("wrong_size", "vector[3]", "[1.0, 2.0]"),
    ];
    let mut failures = Failures::default();
    for (name, decl, value) in bad {
        let result = guarded(|| {
            let src = format!("parameters {{ {decl} a; }}\nmodel {{ }}\n");
            let model = compile(&src, &Data::default())?;
            let params = data_from_json(&format!(r#"{{"a": {value}}}"#));
            match model.unconstrain(&params) {
                Err(_) => Ok(()),
                Ok(x) => Err(format!("accepted {value} for {decl}, gave {x:?}")),
            }
        });
        failures.record(name, result);
    }
    let missing = guarded(|| {
        let model = compile("parameters { real a; }\nmodel { }\n", &Data::default())?;
        match model.unconstrain(&Data::default()) {
            Err(_) => Ok(()),
            Ok(x) => Err(format!("accepted a missing parameter, gave {x:?}")),
        }
    });
    failures.record("missing_parameter", missing);
    failures.assert_none("unconstrain of invalid values");
}
