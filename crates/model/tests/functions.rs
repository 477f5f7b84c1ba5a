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
