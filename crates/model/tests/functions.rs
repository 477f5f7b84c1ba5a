//! User-defined functions evaluate on the same tape as the rest of the program: a program written
//! with functions has the same log density and gradient as the program with the bodies written
//! inline; recursion, overloads, `_rng` functions and runaway recursion behave.

use rand::SeedableRng;
use refinestat_language::Data;
use refinestat_model::{LogDensityOptions, Model};

const OPTS: [LogDensityOptions; 2] = [
    LogDensityOptions {
        jacobian: true,
        propto: false,
    },
    LogDensityOptions {
        jacobian: true,
        propto: true,
    },
];

fn data() -> Data {
    Data::from_json_str(r#"{"N": 4, "y": [0.3, -1.1, 2.0, 0.7], "x": [1, 2, 3, 4]}"#).unwrap()
}

fn model(src: &str) -> Model {
    Model::from_source(src, &data()).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// log density and gradient of both programs agree at a few points.
fn same_density(with_functions: &str, inline: &str) {
    let mut a = model(with_functions);
    let mut b = model(inline);
    assert_eq!(a.dim(), b.dim());
    for point in [[0.1, -0.3, 0.5], [1.2, 0.4, -0.8], [-0.7, 1.1, 0.0]] {
        let x = &point[..a.dim()];
        for opts in OPTS {
            let (mut ga, mut gb) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            let la = a.log_density_gradient(x, opts, &mut ga).unwrap();
            let lb = b.log_density_gradient(x, opts, &mut gb).unwrap();
            assert!((la - lb).abs() <= 1e-12 * lb.abs().max(1.0), "{la} vs {lb}");
            for (p, q) in ga.iter().zip(&gb) {
                assert!(
                    (p - q).abs() <= 1e-12 * q.abs().max(1.0),
                    "{ga:?} vs {gb:?}"
                );
            }
        }
    }
}

#[test]
fn functions_evaluate_like_the_inline_program() {
    same_density(
        "functions {
  vector affine(vector x, real a, real b) { return a + b * x; }
  real my_lpdf(vector y, vector mu, real s) { return normal_lpdf(y | mu, s); }
}
data { int N; vector[N] y; vector[N] x; }
parameters { real a; real b; real<lower=0> s; }
model { y ~ my(affine(x, a, b), s); a ~ std_normal(); }",
        "data { int N; vector[N] y; vector[N] x; }
parameters { real a; real b; real<lower=0> s; }
model { target += normal_lpdf(y | a + b * x, s); a ~ std_normal(); }",
    );
}

#[test]
fn recursion_overloads_and_lp_functions() {
    same_density(
        "functions {
  real tri(real x, int n) { if (n == 0) return 0; return x * n + tri(x, n - 1); }
  real twice(real x) { return 2 * x; }
  vector twice(vector x) { return 2 * x; }
  void prior_lp(real a, real b) { a ~ normal(0, 1); target += -b^2; }
}
data { int N; vector[N] y; vector[N] x; }
parameters { real a; real b; }
model { prior_lp(a, b); y ~ normal(twice(x) * a, exp(tri(b, 3) / 10)); target += twice(a); }",
        "data { int N; vector[N] y; vector[N] x; }
parameters { real a; real b; }
model { a ~ normal(0, 1); target += -b^2; y ~ normal(2 * x * a, exp(6 * b / 10)); target += 2 * a; }",
    );
}

#[test]
fn runaway_recursion_is_an_error_not_a_crash() {
    let m = model(
        "functions { real f(real x) { return f(x + 1); } }
parameters { real a; }
model { target += f(a); }",
    );
    let err = m.log_density(&[0.0], OPTS[0]).unwrap_err().to_string();
    assert!(err.contains("nested more than"), "{err}");
}

#[test]
fn rng_functions_draw_in_generated_quantities() {
    let src = "functions { real shifted_rng(real mu) { return normal_rng(mu, 1) + 100; } }
parameters { real a; }
model { a ~ normal(0, 1); }
generated quantities { real z = shifted_rng(a); }";
    let m = model(src);
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let out = m.write_array(&[0.0], &mut rng).unwrap();
    let z = *out.last().unwrap();
    assert!(z > 90.0 && z < 110.0, "{out:?}");
}

/// Library functions and distributions written in the prelude (or as builtins) give the values
/// of their definitions: transformed data rejects on any mismatch.
#[test]
fn library_functions_and_distributions_have_their_values() {
    let src = "transformed data {
  matrix[3, 3] A = [[1, 2, 3], [4, 5, 6], [7, 8, 9]];
  vector[2] c = sub_col(A, 2, 3, 2);
  row_vector[2] r = sub_row(A, 3, 1, 2);
  array[4] real xs = {3.5, -1.0, 2.0, 0.5};
  array[4] int up = sort_indices_asc(xs);
  array[4] int down = sort_indices_desc(xs);
  array[3] real joined = append_array({1.0, 2.0}, {3.0});
  array[2] int d = dims(A);
  matrix[2, 2] S = symmetrize_from_lower_tri([[1, 9], [2, 3]]);
  if (c[1] != 6 || c[2] != 9) reject(\"sub_col\");
  if (r[1] != 7 || r[2] != 8) reject(\"sub_row\");
  if (up[1] != 2 || up[2] != 4 || up[3] != 3 || up[4] != 1) reject(\"sort_indices_asc\");
  if (down[1] != 1 || down[4] != 2) reject(\"sort_indices_desc\");
  if (rank(xs, 1) != 3) reject(\"rank\");
  if (joined[3] != 3 || size(joined) != 3) reject(\"append_array\");
  if (d[1] != 3 || d[2] != 3) reject(\"dims\");
  if (S[1, 2] != 2) reject(\"symmetrize_from_lower_tri\");
  if (fabs(inv_Phi(Phi(1.3)) - 1.3) > 1e-12) reject(\"inv_Phi\");
  if (fabs(inv_Phi(1e-10) + 6.361340902404056) > 1e-9) reject(\"inv_Phi tail\");
  // pareto(2 | 1, 3) = log 3 + 3 log 1 - 4 log 2
  if (fabs(pareto_lpdf(2 | 1, 3) - (log(3) - 4 * log(2))) > 1e-12) reject(\"pareto\");
  // neg_binomial(2 | 3, 0.5) = log(choose(4, 2)) + 3 log(1/3) - 2 log(1.5)
  if (fabs(neg_binomial_lpmf(2 | 3, 0.5) - (log(6) + 3 * log(1.0 / 3) - 2 * log(1.5))) > 1e-12)
    reject(\"neg_binomial\");
  // beta_binomial(1 | 2, 1, 1) = 1/3
  if (fabs(beta_binomial_lpmf(1 | 2, 1, 1) - log(1.0 / 3)) > 1e-12) reject(\"beta_binomial\");
}
parameters { real a; }
model { a ~ normal(0, 1); }";
    let parsed = refinestat_language::parse(src);
    assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
    let diags = refinestat_language::check(src, None);
    assert!(diags.is_empty(), "{diags:?}");
    Model::new(&parsed.program, &Data::default()).unwrap_or_else(|e| panic!("{e}"));
}

/// `ode_rk45_tol` and `integrate_ode_rk45` on exponential decay agree with the closed form,
/// value and gradient (through the solver's tape), to the solver's tolerance.
#[test]
fn ode_solvers_match_closed_forms() {
    let data =
        Data::from_json_str(r#"{"T": 3, "ts": [0.5, 1.0, 2.5], "z": [1.6, 1.1, 0.4]}"#).unwrap();
    let head = "data { int T; array[T] real ts; array[T] real z; }
transformed data { array[0] real x_r; array[0] int x_i; }
parameters { real<lower=0> k; real<lower=0> y0; }";
    let new = format!(
        "functions {{ vector decay(real t, vector y, real k) {{ return -k * y; }} }}
{head}
model {{
  array[T] vector[1] y = ode_rk45_tol(decay, [y0]', 0, ts, 1e-10, 1e-10, 100000, k);
  for (i in 1:T) z[i] ~ normal(y[i][1], 0.2);
}}"
    );
    let old = format!(
        "functions {{
  array[] real decay(real t, array[] real y, array[] real theta, array[] real x_r, array[] int x_i) {{
    return {{-theta[1] * y[1]}};
  }}
}}
{head}
model {{
  array[T, 1] real y = integrate_ode_rk45(decay, {{y0}}, 0, ts, {{k}}, x_r, x_i, 1e-10, 1e-10, 100000);
  for (i in 1:T) z[i] ~ normal(y[i, 1], 0.2);
}}"
    );
    let exact = format!(
        "{head}
model {{ for (i in 1:T) z[i] ~ normal(y0 * exp(-k * ts[i]), 0.2); }}"
    );
    let mut want = Model::from_source(&exact, &data).unwrap();
    for src in [new, old] {
        let mut got = Model::from_source(&src, &data).unwrap_or_else(|e| panic!("{e}\n{src}"));
        for x in [[0.1, 0.6], [-0.5, 0.3], [0.7, 0.9]] {
            let (mut g1, mut g2) = ([0.0; 2], [0.0; 2]);
            let a = got.log_density_gradient(&x, OPTS[0], &mut g1).unwrap();
            let b = want.log_density_gradient(&x, OPTS[0], &mut g2).unwrap();
            assert!((a - b).abs() < 1e-7 * b.abs().max(1.0), "{a} vs {b}");
            for (p, q) in g1.iter().zip(&g2) {
                assert!((p - q).abs() < 1e-6 * q.abs().max(1.0), "{g1:?} vs {g2:?}");
            }
        }
    }
}

/// Called without tolerances, the removed `integrate_ode_bdf` / `integrate_ode_adams` solve to
/// Stan's defaults for them, 1e-10 relative and absolute (not the 1e-6 of `integrate_ode_rk45`
/// and the `ode_*` functions): the log density matches the closed form to 1e-9, which the 1e-6
/// defaults miss (posteriordb's one_comp_mm_elim_abs against Stan, BENCHMARKS.md issue 14).
#[test]
fn removed_bdf_and_adams_solvers_default_to_stans_tight_tolerances() {
    let data =
        Data::from_json_str(r#"{"T": 3, "ts": [0.5, 1.0, 2.5], "z": [1.6, 1.1, 0.4]}"#).unwrap();
    let head = "functions {
  array[] real decay(real t, array[] real y, array[] real theta, array[] real x_r, array[] int x_i) {
    return {-theta[1] * y[1]};
  }
}
data { int T; array[T] real ts; array[T] real z; }
transformed data { array[0] real x_r; array[0] int x_i; }
parameters { real<lower=0> k; real<lower=0> y0; }";
    let solved = |solver: &str| {
        format!(
            "{head}
model {{
  array[T, 1] real y = {solver}(decay, {{y0}}, 0, ts, {{k}}, x_r, x_i);
  for (i in 1:T) z[i] ~ normal(y[i, 1], 0.01);
}}"
        )
    };
    let exact = "data { int T; array[T] real ts; array[T] real z; }
parameters { real<lower=0> k; real<lower=0> y0; }
model { for (i in 1:T) z[i] ~ normal(y0 * exp(-k * ts[i]), 0.01); }";
    let want = Model::from_source(exact, &data).unwrap();
    let error = |solver: &str| {
        let got = Model::from_source(&solved(solver), &data).unwrap();
        [[0.1, 0.6], [1.5, 0.3], [0.7, 0.9]]
            .iter()
            .map(|x| {
                let a = got.log_density(x, OPTS[0]).unwrap();
                let b = want.log_density(x, OPTS[0]).unwrap();
                (a - b).abs() / b.abs().max(1.0)
            })
            .fold(0.0, f64::max)
    };
    for solver in ["integrate_ode_bdf", "integrate_ode_adams"] {
        let e = error(solver);
        assert!(e < 1e-9, "{solver}: relative error {e:e}");
    }
    let e = error("integrate_ode_rk45");
    assert!(e > 1e-9, "integrate_ode_rk45 at 1e-6: relative error {e:e}");
}

/// Stan's sqrt passes no adjoint through a zero value, so `sqrt(exp(x))` with an underflowed exp
/// (as in posteriordb's accel_gp, whose spectral density underflows for long length scales) has
/// a finite gradient: the other terms' gradient, not inf * 0 = NaN.
#[test]
fn sqrt_of_an_underflowed_value_passes_no_gradient_as_in_stan() {
    let src = "parameters { real<lower=0> s; }
model { target += sqrt(exp(-800 * s)); s ~ normal(1, 1); }";
    let mut m = Model::from_source(src, &Data::default()).unwrap();
    let opts = LogDensityOptions {
        jacobian: false,
        propto: false,
    };
    let mut g = [0.0];
    // s = 1: exp(-800) underflows to 0.
    let lp = m.log_density_gradient(&[0.0], opts, &mut g).unwrap();
    let want = -0.5 * (2.0 * std::f64::consts::PI).ln();
    assert!((lp - want).abs() < 1e-12, "{lp} vs {want}");
    // d/dx of normal_lpdf(exp(x) | 1, 1) at x = 0: -(1 - 1) * 1 = 0.
    assert_eq!(g[0], 0.0);
    // Away from underflow the derivative is the ordinary one: s = exp(-6), target += exp(-400 s).
    let x = -6.0f64;
    let s = x.exp();
    let lp = m.log_density_gradient(&[x], opts, &mut g).unwrap();
    let a = (-800.0 * s).exp().sqrt();
    assert!((lp - (a + want - 0.5 * (s - 1.0) * (s - 1.0))).abs() < 1e-12);
    let dg = (-400.0 * a - (s - 1.0)) * s;
    assert!(
        (g[0] - dg).abs() < 1e-12 * dg.abs().max(1.0),
        "{} vs {dg}",
        g[0]
    );
}
