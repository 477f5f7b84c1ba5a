//! The six validity predicates on whole programs and prefixes, data validation, and rendering.
//!
//! Each violating program goes through one helper, [`violation`], with the expected first
//! diagnostic written as `"line:col predicate message-fragment"`.

use refinestat_language::diagnostic::line_col;
use refinestat_language::{check, check_prefix, parse, validate_data, Data, Diagnostic, Predicate};
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn dataset(name: &str) -> Data {
    Data::from_path(&root().join("datasets").join(format!("{name}.json"))).unwrap()
}

fn example(name: &str) -> String {
    std::fs::read_to_string(root().join("examples").join(format!("{name}.stan"))).unwrap()
}

fn show(src: &str, diags: &[Diagnostic]) -> String {
    refinestat_language::render::render_plain("input", src, diags)
}

/// The valid examples with their data sets.
const EXAMPLES: [(&str, &str); 7] = [
    ("eight_schools_centered", "eight_schools"),
    ("eight_schools_noncentered", "eight_schools"),
    ("dugongs", "dugongs"),
    ("glm", "glm"),
    ("surgical", "surgical"),
    ("gp", "gp"),
    ("gp_poisson", "gp"),
];

/// Check `src` (with optional Stan JSON `data`) and compare the first diagnostic with `expected`:
/// `"line:col predicate fragment"`, where the message or hint contains the fragment.
#[track_caller]
fn violation(src: &str, data: Option<&str>, expected: &str) -> Diagnostic {
    let data = data.map(|d| Data::from_json_str(d).unwrap());
    let diags = check(src, data.as_ref());
    let mut parts = expected.splitn(3, ' ');
    let (pos, pred, fragment) = (
        parts.next().unwrap(),
        parts.next().unwrap(),
        parts.next().unwrap_or(""),
    );
    let first = diags
        .first()
        .unwrap_or_else(|| panic!("no violation found in:\n{src}\nexpected {expected}"));
    for d in diags.iter().filter(|d| d.predicate != Predicate::Parse) {
        assert!(d.hint.is_some(), "no hint: {}", d.message);
    }
    let (l, c) = line_col(src, first.span.start);
    let text = format!(
        "{} {}",
        first.message,
        first.hint.clone().unwrap_or_default()
    );
    assert!(
        format!("{l}:{c}") == pos && first.predicate.as_str() == pred && text.contains(fragment),
        "expected {expected}\ngot:\n{}",
        show(src, &diags)
    );
    first.clone()
}

/// A model with the usual declarations; `body` goes into the model block.
fn model(body: &str) -> String {
    format!(
        "data {{\n  int<lower=0> N;\n  vector[N] y;\n  array[N] int<lower=0> k;\n}}\nparameters {{\n  real mu;\n  real<lower=0> sigma;\n  real<lower=0> lambda;\n}}\nmodel {{\n  // body\n{body}\n}}\n"
    )
}

const DATA: &str = r#"{"N": 3, "y": [0.5, -1.2, 2.0], "k": [0, 3, 7]}"#;

// ---------------------------------------------------------------- valid programs

#[test]
fn examples_are_valid_with_and_without_data() {
    for (prog, data) in EXAMPLES {
        let src = example(prog);
        let d = dataset(data);
        let with = check(&src, Some(&d));
        assert!(with.is_empty(), "{prog} with data:\n{}", show(&src, &with));
        let without = check(&src, None);
        assert!(
            without.is_empty(),
            "{prog} without data:\n{}",
            show(&src, &without)
        );
        let parsed = parse(&src);
        assert!(validate_data(&parsed.program, &d).is_empty(), "{prog}");
    }
}

/// The benchmark logistic regression has generated data only; it checks clean without data.
#[test]
fn logistic_example_is_valid_without_data() {
    let src = example("logistic");
    let diags = check(&src, None);
    assert!(diags.is_empty(), "{}", show(&src, &diags));
    for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
        assert!(check_prefix(&src[..end], None).is_empty(), "prefix {end}");
    }
    let d = Data::from_json_str(r#"{"N": 2, "K": 1, "X": [[0.5], [1.5]], "y": [0, 1]}"#).unwrap();
    assert!(check(&src, Some(&d)).is_empty());
    let wrong =
        Data::from_json_str(r#"{"N": 2, "K": 1, "X": [[0.5], [1.5]], "y": [0, 2]}"#).unwrap();
    let diags = check(&src, Some(&wrong));
    assert_eq!(diags.len(), 2, "{}", show(&src, &diags));
    assert!(diags.iter().all(|d| d.predicate == Predicate::Support));
}

#[test]
fn common_idioms_are_valid() {
    let ok = [
        "  y ~ normal(mu, sigma);\n  k ~ poisson(lambda);",
        "  y ~ normal(mu, exp(mu));\n  k ~ poisson_log(mu);",
        "  target += normal_lpdf(y | mu, sigma);\n  target += poisson_lupmf(k | lambda);",
        "  for (n in 1:N) {\n    y[n] ~ student_t(3, mu, sigma);\n  }",
        "  k ~ poisson(exp(mu) + lambda);\n  sigma ~ exponential(1);\n  lambda ~ gamma(2, 0.5);",
        "  vector[N] m = rep_vector(mu, N);\n  y ~ normal(m, square(sigma) + 1);",
        "  k ~ neg_binomial_2(lambda + 1, sigma);\n  y ~ cauchy(mu, 2.5);",
        "  // count data under normal is fine\n  k ~ normal(mu, sigma);",
        "  real s = sqrt(lambda);\n  y ~ normal(mu, s);\n  mu ~ std_normal();",
        "  k ~ binomial(10, inv_logit(mu));\n  y ~ double_exponential(mu, sigma);",
        "  vector[N] r;\n  for (n in 1:N) r[n] = exp(y[n] * mu);\n  y ~ normal(mu, r);",
        "  target += categorical_logit_lpmf(2 | rep_vector(mu, 3)) + fma(mu, 2, 1) + tan(mu) + digamma(lambda);",
        "  y ~ uniform(-5, lambda + 3);\n  target += categorical_lpmf(3 | softmax(rep_vector(mu, 7)));",
    ];
    let data = Data::from_json_str(DATA).unwrap();
    for body in ok {
        let src = model(body);
        for d in [None, Some(&data)] {
            let diags = check(&src, d);
            assert!(diags.is_empty(), "{body}\n{}", show(&src, &diags));
        }
    }
}

// ---------------------------------------------------------------- parse

#[test]
fn parse_violations() {
    violation(
        "parameters { real mu }\nmodel { mu ~ normal(0, 1); }",
        None,
        "1:22 parse",
    );
    violation(
        "parameters { real mu; }\nmodel {\n  mu ~ normal(0, 1)\n}",
        None,
        "3:20 parse",
    );
    violation("parameters {\n  real 1mu;\n}", None, "2:8 parse");
    violation("modle {\n}", None, "1:1 parse");
    violation(
        "parameters { real mu; }\nmodel {\n  mu ~ normal(0, 1;\n}",
        None,
        "3:19 parse",
    );
}

// ---------------------------------------------------------------- distribution

#[test]
fn distribution_violations() {
    violation(
        &model("  y ~ normall(mu, sigma);"),
        None,
        "13:7 distribution did you mean `normal`?",
    );
    violation(
        &model("  k ~ possion(lambda);"),
        None,
        "13:7 distribution did you mean `poisson`?",
    );
    violation(
        &model("  target += normal_lpmf(y | mu, sigma);"),
        None,
        "13:13 distribution normal_lpdf",
    );
    violation(
        &model("  target += poisson_lpdf(k | lambda);"),
        None,
        "13:13 distribution poisson_lpmf",
    );
    violation(
        &model("  mu ~ exp(1);"),
        None,
        "13:8 distribution is a function, not a distribution",
    );
    violation(
        &model("  y ~ normal_lpdf(mu, sigma);"),
        None,
        "13:7 distribution write `~ normal(...)`",
    );
    violation(
        &model("  real z = logg(lambda);"),
        None,
        "13:12 distribution did you mean `log`?",
    );
    violation(
        &model("  target += dirichlet_lcdf(y | y);"),
        None,
        "13:13 distribution no `_lcdf` form",
    );
    // Functions current Stan no longer has (stanc 2.35 rejects them): name the replacement.
    violation(
        &model("  real z = binomial_coefficient_log(5, 2);"),
        None,
        "13:12 distribution removed from Stan",
    );
    violation(
        &model("  real z = multiply_log(lambda, 2);"),
        None,
        "13:12 distribution use lmultiply",
    );
}

// ---------------------------------------------------------------- parameter

#[test]
fn parameter_violations() {
    violation(
        &model("  y ~ normal(mu);"),
        None,
        "13:3 parameter normal takes 2 arguments (mu, sigma) but 1 was given",
    );
    violation(
        &model("  k ~ poisson(lambda, 2);"),
        None,
        "13:3 parameter poisson takes 1 argument (lambda) but 2 were given",
    );
    violation(
        &model("  real z = exp(mu, 2);"),
        None,
        "13:12 parameter wrong arguments to `exp`",
    );
    violation(
        &model("  matrix[2, 2] S;\n  y ~ normal(mu, S);"),
        None,
        "14:18 parameter must be a real, vector, row_vector or 1-D array",
    );
    violation(
        &model("  target += normal_lpdf(y, mu, sigma);"),
        None,
        "13:13 parameter `|`",
    );
    violation(
        &model("  vector[3] v = rep_vector(1.0);"),
        None,
        "13:17 parameter rep_vector",
    );
    violation(
        &model("  y ~ student_t(mu, sigma);"),
        None,
        "13:3 parameter student_t takes 3 arguments",
    );
    violation(
        &model("  y ~ multi_normal(y, sigma);"),
        None,
        "13:23 parameter must be a matrix",
    );
}

// ---------------------------------------------------------------- dependency

#[test]
fn dependency_violations() {
    violation(
        &model("  y ~ normal(nu, sigma);"),
        None,
        "13:14 dependency `nu` is not declared",
    );
    violation(
        &model("  N = 4;"),
        None,
        "13:3 dependency cannot assign to data variable `N`",
    );
    violation(
        &model("  mu = 1.0;"),
        None,
        "13:3 dependency cannot assign to parameter `mu`",
    );
    violation(
        "data {\n  real x;\n}\ntransformed data {\n  real z = mu * 2;\n}\nparameters {\n  real mu;\n}\nmodel {\n  mu ~ normal(z, 1);\n}\n",
        None,
        "5:12 dependency used before it is declared",
    );
    violation(
        "parameters {\n  real mu;\n}\nmodel {\n  mu ~ normal(yrep, 1);\n}\ngenerated quantities {\n  real yrep = normal_rng(mu, 1);\n}\n",
        None,
        "5:15 dependency generated quantity",
    );
    violation(
        &model("  for (n in 1:N) {\n    n = 2;\n  }"),
        None,
        "14:5 dependency loop variable `n`",
    );
    violation(
        &model("  5 ~ normal(mu, sigma);"),
        None,
        "13:3 dependency neither data nor parameters",
    );
    violation(
        "parameters {\n  real mu;\n}\nmodel {\n  mu ~ normal(0, 1);\n}\ngenerated quantities {\n  mu ~ normal(0, 1);\n}\n",
        None,
        "8:3 dependency only allowed in the model block",
    );
    violation(
        "data {\n  int N;\n}\ntransformed data {\n  real c = 2;\n}\nparameters {\n  real mu;\n}\nmodel {\n  c = 3;\n  mu ~ normal(c, 1);\n}\n",
        None,
        "11:3 dependency transformed data",
    );
    violation(
        &model("  real z = normal_rng(mu, sigma);"),
        None,
        "13:12 dependency only allowed in transformed data and generated quantities",
    );
    violation(
        &model("  y ~ normal(mu, sigma);"),
        Some(r#"{"N": 3, "k": [1, 2, 3]}"#),
        "3:13 dependency `y` is missing from the data",
    );
    violation(
        &model("  real mu = 2;"),
        None,
        "13:8 dependency already declared",
    );
    violation(
        "parameters {\n  real mu;\n}\nmodel {\n  real m = 2 * mu;\n  mu ~ normal(0, 1);\n}\ngenerated quantities {\n  real z = m;\n}\n",
        None,
        "9:12 dependency `m` is local to the model block",
    );
}

// ---------------------------------------------------------------- support

#[test]
fn support_violations() {
    let d = violation(
        "parameters {\n  real sigma;\n}\nmodel {\n  sigma ~ exponential(1);\n}\n",
        None,
        "5:3 support declare sigma with <lower=0>",
    );
    assert_eq!(d.hint.as_deref(), Some("declare sigma with <lower=0>"));
    let d = violation(
        "data {\n  vector[3] y;\n}\nparameters {\n  real mu;\n  real s;\n}\nmodel {\n  y ~ normal(mu, s);\n}\n",
        None,
        "9:18 support scale argument `s` of normal may be <= 0: `s` is declared without a lower bound",
    );
    assert_eq!(d.hint.as_deref(), Some("declare s with <lower=0>"));
    violation(
        "data {\n  array[3] int y;\n}\nparameters {\n  real p;\n}\nmodel {\n  y ~ bernoulli(p);\n}\n",
        None,
        "8:17 support probability argument `p` of bernoulli may be outside [0, 1]",
    );
    violation(
        "data {\n  vector[3] y;\n}\nparameters {\n  real mu;\n  real<lower=0> s;\n}\nmodel {\n  y ~ lognormal(mu, s);\n}\n",
        Some(r#"{"y": [1.0, -2.0, 3.0]}"#),
        "9:3 support observed values of `y` lie outside the support of lognormal",
    );
    violation(
        "data {\n  array[2] int n;\n  array[2] int r;\n}\nparameters {\n  real<lower=0, upper=1> p;\n}\nmodel {\n  r ~ binomial(n, p);\n}\n",
        Some(r#"{"n": [10, 5], "r": [3, 6]}"#),
        "9:3 support exceeds the number of trials 5",
    );
    violation(
        "parameters {\n  real s;\n  real<offset=0, multiplier=s> z;\n}\nmodel {\n  z ~ normal(0, 1);\n}\n",
        None,
        "3:29 support multiplier `s` may be <= 0",
    );
    violation(
        "parameters {\n  real<lower=1, upper=0> p;\n}\nmodel {\n  p ~ normal(0, 1);\n}\n",
        None,
        "2:23 support the lower bound 1 is not below the upper bound 0",
    );
    violation(
        "data {\n  int N;\n  vector[N] x;\n  array[N] int k;\n}\nparameters {\n  real a;\n  real b;\n}\ntransformed parameters {\n  vector<lower=0>[N] lambda = a + b * x;\n}\nmodel {\n  k ~ poisson(lambda);\n}\n",
        None,
        "11:31 support `lambda` is declared <lower=0>, but the value assigned, `a + b * x`, may be below 0",
    );
    violation(
        &model("  y ~ uniform(0, 1);"),
        Some(DATA),
        "13:3 support observed values of `y` lie outside the support of uniform ([0, 1])",
    );
    violation(
        &model("  y ~ normal(mu, 0);"),
        None,
        "13:18 support scale argument `0` of normal is 0, but it must be > 0",
    );
    violation(
        &model("  y ~ normal(mu, mu - 1);"),
        None,
        "13:18 support may be <= 0",
    );
    violation(
        "data {\n  array[3] int y;\n}\nparameters {\n  vector[4] theta;\n}\nmodel {\n  y ~ categorical(theta);\n}\n",
        None,
        "8:19 support must be a simplex",
    );
    violation(
        &model("  k ~ poisson(lambda);"),
        Some(r#"{"N": 3, "y": [1, 2, 3], "k": [1, -2, 3]}"#),
        "4:25 support declared <lower=0>",
    );
    violation(
        "data {\n  array[3] int y;\n}\nparameters {\n  real<lower=0> l;\n}\nmodel {\n  y ~ poisson(l);\n}\n",
        Some(r#"{"y": [1, -2, 3]}"#),
        "8:3 support observed values of `y` lie outside the support of poisson",
    );
    violation(
        "parameters {\n  real lambda;\n}\nmodel {\n  lambda ~ uniform(0.5, 1);\n}\n",
        None,
        "5:3 support declare lambda with <lower=0.5, upper=1>",
    );
    violation(
        "data {\n  array[3] int y;\n}\nparameters {\n  real b;\n}\nmodel {\n  y ~ bernoulli(b * 2);\n}\n",
        None,
        "8:17 support map it into [0, 1]",
    );
}

// ---------------------------------------------------------------- type

#[test]
fn type_violations() {
    violation(
        "data {\n  array[3] real y;\n}\nparameters {\n  real<lower=0> l;\n}\nmodel {\n  y ~ poisson(l);\n}\n",
        None,
        "8:3 type poisson is a distribution over ints",
    );
    violation(
        &model("  int j = 2.5;"),
        None,
        "13:11 type cannot assign `2.5` of type real to `j` of type int",
    );
    violation(
        &model("  matrix[N, N] m;\n  vector[N] v = m;"),
        None,
        "14:17 type cannot assign `m` of type matrix",
    );
    violation(
        &model("  vector[3] a = [1, 2]';"),
        None,
        "13:17 type size mismatch",
    );
    violation(
        &model("  if (y) {\n    mu ~ normal(0, 1);\n  }"),
        None,
        "13:7 type condition `y` must be an int or real",
    );
    violation(
        &model("  vector[N] v = y * y;"),
        None,
        "13:17 type cannot multiply vector by vector",
    );
    violation(
        &model("  real z = y[1.5];"),
        None,
        "13:14 type index `1.5` must be an int",
    );
    violation(
        &model("  y ~ normal(k + 1, sigma);"),
        None,
        "13:14 type arithmetic on arrays is not allowed",
    );
    violation(
        &model("  y ~ normal(mu, sigma);"),
        Some(r#"{"N": 2, "y": [1.0, 2.0, 3.0], "k": [1, 2]}"#),
        "3:13 type declared with size 2 (N = 2)",
    );
    violation(
        &model("  y ~ normal(mu, sigma);"),
        Some(r#"{"N": 2.5, "y": [1.0, 2.0], "k": [1, 2]}"#),
        "2:16 type `N` is declared int, but the data has a non-integer value 2.5",
    );
    violation(
        "data {\n  vector[3] y;\n  vector[4] m;\n}\nparameters {\n  real<lower=0> s;\n}\nmodel {\n  y ~ normal(m, s);\n}\n",
        None,
        "9:14 type size mismatch in normal: `y` has 3 elements but `m` has 4",
    );
    violation(
        "data {\n  int<lower=0> N;\n  array[N] int y;\n}\nparameters {\n  real<lower=0> l;\n}\nmodel {\n  y ~ poisson(rep_vector(l, 4));\n}\n",
        Some(r#"{"N": 3, "y": [1, 2, 3]}"#),
        "9:15 type size mismatch in poisson",
    );
    violation(
        "data {\n  int<lower=0> N;\n  array[N] real y;\n}\nparameters {\n  int mu;\n}\nmodel {\n  y ~ normal(mu, 1);\n}\n",
        None,
        "6:3 type parameters are continuous",
    );
}

// ---------------------------------------------------------------- data validation

#[test]
fn data_validation() {
    let src = "data {\n  int<lower=1> N;\n  array[N] real<lower=0> x;\n  array[N] int<lower=0, upper=1> z;\n  matrix[N, 2] M;\n}\n";
    let program = parse(src).program;
    let run = |json: &str| {
        let d = Data::from_json_str(json).unwrap();
        validate_data(&program, &d)
            .into_iter()
            .map(|d| {
                let (l, c) = line_col(src, d.span.start);
                format!("{l}:{c} {} {}", d.predicate, d.message)
            })
            .collect::<Vec<_>>()
    };
    let good = r#"{"N": 2, "x": [0.5, 1], "z": [0, 1], "M": [[1, 2], [3, 4]]}"#;
    assert_eq!(run(good), Vec::<String>::new());
    // Missing variable.
    let r = run(r#"{"N": 2, "x": [0.5, 1], "z": [0, 1]}"#);
    assert_eq!(
        r,
        vec!["5:16 dependency data variable `M` is missing from the data"]
    );
    // NaN where a bound is declared.
    let r = run(r#"{"N": 2, "x": ["NaN", 1], "z": [0, 1], "M": [[1, 2], [3, 4]]}"#);
    assert_eq!(
        r,
        vec!["3:26 support `x` is declared <lower=0>, but the data has NaN (element 1)"]
    );
    // Infinity is fine for a lower bound; below the bound is not.
    let r = run(r#"{"N": 2, "x": ["inf", -1], "z": [0, 1], "M": [[1, 2], [3, 4]]}"#);
    assert_eq!(
        r,
        vec!["3:26 support `x` is declared <lower=0>, but the data has -1 (element 2)"]
    );
    // Upper bound.
    let r = run(r#"{"N": 2, "x": [1, 1], "z": [0, 2], "M": [[1, 2], [3, 4]]}"#);
    assert_eq!(
        r,
        vec!["4:34 support `z` is declared <upper=1>, but the data has 2 (element 2)"]
    );
    // Real where int is declared.
    let r = run(r#"{"N": 2, "x": [1, 1], "z": [0, 0.5], "M": [[1, 2], [3, 4]]}"#);
    assert_eq!(
        r,
        vec!["4:34 type `z` is declared int, but the data has a non-integer value 0.5"]
    );
    // Wrong sizes and wrong rank.
    let r = run(r#"{"N": 2, "x": [1, 1, 1], "z": [0, 1], "M": [[1, 2], [3, 4]]}"#);
    assert_eq!(
        r,
        vec!["3:26 type `x` is declared with size 2 (N = 2) in dimension 1, but the data has 3"]
    );
    let r = run(r#"{"N": 2, "x": [1, 1], "z": [0, 1], "M": [[1, 2, 3], [3, 4, 5]]}"#);
    assert_eq!(
        r,
        vec!["5:16 type `M` is declared with size 2 in dimension 2, but the data has 3"]
    );
    let r = run(r#"{"N": 2, "x": [1, 1], "z": [0, 1], "M": [1, 2]}"#);
    assert_eq!(r.len(), 1);
    assert!(r[0].starts_with("5:16 type `M` is declared `matrix[N, 2]` (2 dimensions), but the data holds an array of shape [2]"), "{r:?}");
    // Bound violated by a size variable; an empty matrix is written `[]`.
    let r = run(r#"{"N": 0, "x": [], "z": [], "M": []}"#);
    assert_eq!(
        r,
        vec!["2:16 support `N` is declared <lower=1>, but the data has 0"]
    );
}

// ---------------------------------------------------------------- prefixes

#[test]
fn every_prefix_of_every_example_can_continue() {
    for (prog, data) in EXAMPLES {
        let src = example(prog);
        let d = dataset(data);
        for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            let prefix = &src[..end];
            let diags = check_prefix(prefix, Some(&d));
            assert!(
                diags.is_empty(),
                "{prog} prefix of {end} bytes:\n{prefix}\n---\n{}",
                show(prefix, &diags)
            );
        }
    }
}

#[test]
fn prefix_violations() {
    let head = "data {\n  int N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n  real<lower=0> sigma;\n}\nmodel {\n";
    let prefix_case = |tail: &str, expected: Option<(Predicate, &str)>| {
        let src = format!("{head}{tail}");
        let diags = check_prefix(&src, None);
        match expected {
            None => assert!(diags.is_empty(), "{tail}:\n{}", show(&src, &diags)),
            Some((p, fragment)) => {
                let first = diags
                    .first()
                    .unwrap_or_else(|| panic!("no violation for {tail}"));
                assert_eq!(first.predicate, p, "{tail}:\n{}", show(&src, &diags));
                assert!(
                    first.message.contains(fragment)
                        || first.hint.as_deref().unwrap_or("").contains(fragment),
                    "{tail}:\n{}",
                    show(&src, &diags)
                );
            }
        }
    };
    prefix_case(
        "  y ~ normall(",
        Some((Predicate::Distribution, "unknown distribution `normall`")),
    );
    prefix_case("  y ~ norm", None);
    // Names in the statement not yet finished: an undeclared complete name is refused at once,
    // a name still touching the end, a loop variable or a name being declared is not.
    prefix_case(
        "  y ~ normal(mu + sigmamu ",
        Some((Predicate::Dependency, "`sigmamu` is not declared")),
    );
    prefix_case("  y ~ normal(mu + sigm", None);
    prefix_case("  for (i in 1:N) y[i] ~ normal(mu + i ", None);
    prefix_case("  real tau = sigma ", None);
    prefix_case("  vector[N] z ", None);
    prefix_case("  vector[N] zzzz", None);
    prefix_case("  rea", None);
    prefix_case(
        "  2.5 ~ norm",
        Some((
            Predicate::Dependency,
            "depends on neither data nor parameters",
        )),
    );
    prefix_case("  (y - mu) ~ norm", None);
    prefix_case("  y ~ normal(mu, sigma) T[si", None);
    prefix_case(
        "  mposeUdi",
        Some((Predicate::Dependency, "starts with `mposeUdi`")),
    );
    prefix_case(
        "  vector[N] z = mu * w ",
        Some((Predicate::Dependency, "`w` is not declared")),
    );
    prefix_case(
        "  y ~ normx",
        Some((
            Predicate::Distribution,
            "no distribution starts with `normx`",
        )),
    );
    prefix_case("  y ~ normal(mu", None);
    prefix_case(
        "  y ~ normal(mu, sigma, ",
        Some((Predicate::Parameter, "normal takes 2 arguments")),
    );
    prefix_case("  y ~ normal(mu, sig", None);
    prefix_case(
        "  y ~ normal(mu, sigx",
        Some((
            Predicate::Dependency,
            "no declared variable or function starts with `sigx`",
        )),
    );
    prefix_case("  y ~ normal(mu, 0", None);
    prefix_case(
        "  y ~ normal(mu, 0)",
        Some((Predicate::Support, "scale argument `0` of normal is 0")),
    );
    prefix_case("  y ~ normal(mu, sigma)", None);
    prefix_case(
        "  y ~ normal(mu)",
        Some((Predicate::Parameter, "normal takes 2 arguments")),
    );
    prefix_case(
        "  mu = ",
        Some((Predicate::Dependency, "cannot assign to parameter `mu`")),
    );
    prefix_case(
        "  real z = y[1.5]",
        Some((Predicate::Type, "index `1.5` must be an int")),
    );
    prefix_case("  y ~ normal(mu, sigma);\n  sigma ~ exponential(", None);
    // Missing blocks and unused names are fine for a prefix.
    assert!(check_prefix(
        "data {\n  int N;\n  vector[N] y;\n}\nparameters {\n  real unused;\n",
        None
    )
    .is_empty());
    // A data variable missing from the data is already fatal once its declaration is complete.
    let d = Data::from_json_str(r#"{"N": 3}"#).unwrap();
    assert!(check_prefix("data {\n  int N;\n  vector[N] y", Some(&d)).is_empty());
    let diags = check_prefix("data {\n  int N;\n  vector[N] y;\n", Some(&d));
    assert_eq!(
        diags.first().map(|d| d.predicate),
        Some(Predicate::Dependency),
        "{diags:?}"
    );
}

// ---------------------------------------------------------------- rendering

#[test]
fn pretty_rendering_has_a_code_frame() {
    let src = model("  y ~ normall(mu, sigma);");
    let diags = check(&src, None);
    let text = refinestat_language::render::render_pretty("model.stan", &src, &diags);
    assert!(text.contains("model.stan:13:7"), "{text}");
    assert!(text.contains("y ~ normall(mu, sigma);"), "{text}");
    assert!(text.contains("^^^^^^^"), "{text}");
    assert!(text.contains("did you mean `normal`?"), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in a String");
    let plain = refinestat_language::render::render_plain("model.stan", &src, &diags);
    assert!(plain.starts_with("model.stan:13:7: [distribution] unknown distribution `normall` (hint: did you mean `normal`?)"), "{plain}");
}

#[test]
fn valid_corpus_has_no_violations() {
    let dir = root().join("crates/language/tests/data/check/valid");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "stan") {
            continue;
        }
        n += 1;
        let src = std::fs::read_to_string(&path).unwrap();
        let data = Data::from_path(&path.with_extension("json")).unwrap();
        for d in [None, Some(&data)] {
            let diags = check(&src, d);
            assert!(
                diags.is_empty(),
                "{} (data: {}):\n{}",
                path.display(),
                d.is_some(),
                show(&src, &diags)
            );
        }
        for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
            let diags = check_prefix(&src[..end], Some(&data));
            assert!(
                diags.is_empty(),
                "{} prefix {end}:\n{}\n---\n{}",
                path.display(),
                &src[..end],
                show(&src[..end], &diags)
            );
        }
    }
    assert!(n >= 5, "found {n} programs");
}

/// Whenever a whole program checks clean, so does every prefix of it (prefix checking never
/// rejects text that can still become valid); malformed programs never make the checker panic.
#[test]
fn parser_goldens_clean_programs_have_clean_prefixes() {
    let base = root().join("crates/language/tests/data/parser");
    let mut clean = 0;
    for sub in ["valid", "invalid"] {
        let Ok(entries) = std::fs::read_dir(base.join(sub)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "stan") {
                continue;
            }
            let src = std::fs::read_to_string(&path).unwrap();
            let whole_clean = check(&src, None).is_empty();
            clean += usize::from(whole_clean);
            for end in (0..=src.len()).filter(|&i| src.is_char_boundary(i)) {
                let diags = check_prefix(&src[..end], None);
                assert!(
                    !whole_clean || diags.is_empty(),
                    "{} prefix {end}:\n{}",
                    path.display(),
                    show(&src[..end], &diags)
                );
            }
        }
    }
    assert!(clean >= 5, "only {clean} clean parser goldens");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const SNIPPETS: [&str; 16] = [
        "",
        " ",
        ";",
        "}",
        "{",
        "(",
        ")",
        "normal(",
        "sigma",
        "mu",
        "0",
        "-1",
        "[",
        "]",
        "~ poisson(",
        "vector[N] ",
    ];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Arbitrary statement soup never makes checking panic, whole or as a prefix.
        #[test]
        fn arbitrary_text_never_panics(body in "[a-z_NTy ~;{}()\\[\\]<>=,.0-9|:'+*/!?-]{0,120}") {
            let src = format!("data {{ int N; vector[N] y; }} parameters {{ real mu; }} model {{ {body}");
            let d = Data::from_json_str(r#"{"N": 2, "y": [1, 2]}"#).unwrap();
            let _ = check(&src, Some(&d));
            let _ = check(&src, None);
            for end in (0..=src.len()).step_by(5) {
                let _ = check_prefix(&src[..end], Some(&d));
            }
        }

        /// A violation found in a prefix stays a violation of the whole program.
        #[test]
        fn prefix_violations_are_never_repaired_later(
            which in 0usize..EXAMPLES.len(),
            at in 0.0f64..1.0,
            len in 0usize..6,
            snippet in 0usize..SNIPPETS.len(),
            cut in 0.0f64..1.0,
        ) {
            let (prog, data) = EXAMPLES[which];
            let src = example(prog);
            let d = dataset(data);
            let mut pos = ((src.len() as f64) * at) as usize;
            while !src.is_char_boundary(pos) { pos -= 1; }
            let mut end = (pos + len).min(src.len());
            while !src.is_char_boundary(end) { end -= 1; }
            let mutated = format!("{}{}{}", &src[..pos], SNIPPETS[snippet], &src[end..]);
            let whole = check(&mutated, Some(&d));
            let mut k = ((mutated.len() as f64) * cut) as usize;
            while !mutated.is_char_boundary(k) { k -= 1; }
            let prefix = check_prefix(&mutated[..k], Some(&d));
            prop_assert!(
                prefix.is_empty() || !whole.is_empty(),
                "prefix of {} bytes reports\n{}but the whole program is clean:\n{}",
                k, show(&mutated[..k], &prefix), mutated
            );
        }
    }
}

/// Golden diagnostics for realistic broken programs: `tests/data/check/invalid/NAME.stan` is checked
/// with the benchmark data set its name starts with, and the plain rendering must equal
/// `NAME.expected` (regenerate with `UPDATE_EXPECT=1`, then review the diff).
#[test]
fn invalid_corpus_matches_expected_diagnostics() {
    let dir = root().join("crates/language/tests/data/check/invalid");
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "stan") {
            continue;
        }
        n += 1;
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let data = ["eight_schools", "dugongs", "glm", "gp", "surgical"]
            .into_iter()
            .find(|d| name.starts_with(d.split('_').next().unwrap_or(d)))
            .map(dataset);
        let src = std::fs::read_to_string(&path).unwrap();
        let diags = check(&src, data.as_ref());
        assert!(!diags.is_empty(), "{name} has no violations");
        let actual =
            refinestat_language::render::render_plain(&format!("{name}.stan"), &src, &diags);
        let expected_path = path.with_extension("expected");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(
            actual, expected,
            "{name}: rerun with UPDATE_EXPECT=1 and review the diff"
        );
    }
    assert!(n >= 5, "found {n} programs");
}

/// `check_program` on a parsed tree finds what `check` finds, minus the parser's own errors.
#[test]
fn check_program_agrees_with_check() {
    let dir = root().join("crates/language/tests/data/check/invalid");
    let mut sources: Vec<String> = EXAMPLES.iter().map(|(p, _)| example(p)).collect();
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "stan") {
            sources.push(std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    for src in &sources {
        let parsed = parse(src);
        let key = |d: &Diagnostic| (d.predicate, d.span);
        let from_tree: Vec<_> = refinestat_language::check_program(&parsed.program, None)
            .iter()
            .map(key)
            .collect();
        let from_text: Vec<_> = check(src, None)
            .iter()
            .filter(|d| d.predicate != Predicate::Parse)
            .map(key)
            .collect();
        assert_eq!(from_tree, from_text, "{src}");
    }
}

// ---------------------------------------------------------------- user-defined functions

const FUNCTIONS_OK: &str = "functions {
  real twice(real x);
  real twice(real x) { return 2 * x; }
  vector twice(vector x) { return 2 * x; }
  real fib(int n) { if (n < 2) return n; return fib(n - 1) + fib(n - 2); }
  real my_normal_lpdf(vector y, real mu, real sigma) { return normal_lpdf(y | mu, sigma); }
  real shifted_rng(real mu) { return normal_rng(mu, 1) + 1; }
  void prior_lp(real s) { s ~ exponential(1); }
  void check_pos(data real x) { if (x < 0) reject(\"negative\"); }
}
data { int N; vector[N] y; real c; }
parameters { real mu; real<lower=0> sigma; }
model {
  check_pos(c);
  prior_lp(sigma);
  y ~ my_normal(twice(mu), sigma);
  target += my_normal_lupdf(y | mu, fib(3) + sigma);
  mu ~ normal(twice(1.0), 1);
}
generated quantities { real z = shifted_rng(mu); vector[N] t = twice(y); }";

#[test]
fn user_defined_functions_check_clean() {
    let diags = check(FUNCTIONS_OK, None);
    assert!(diags.is_empty(), "{}", show(FUNCTIONS_OK, &diags));
    let d = Data::from_json_str(r#"{"N": 2, "y": [1, 2], "c": 1.5}"#).unwrap();
    let diags = check(FUNCTIONS_OK, Some(&d));
    assert!(diags.is_empty(), "{}", show(FUNCTIONS_OK, &diags));
}

#[test]
fn user_defined_function_violations() {
    let head = "data { int N; vector[N] y; }\nparameters { real mu; }\n";
    // Wrong return type.
    violation(
        &format!("functions {{\n  real f(real x) {{ return {{x}}; }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "2:27 type cannot assign",
    );
    // Missing return on a path.
    violation(
        &format!("functions {{\n  real f(real x) {{ if (x > 0) return x; }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "2:8 type must return a value on every path",
    );
    // No signature fits.
    violation(
        &format!("functions {{\n  real f(real x) {{ return x; }}\n}}\n{head}model {{ mu ~ normal(f(y), 1); }}"),
        None,
        "6:21 parameter no signature of `f` takes (vector)",
    );
    // A parameter passed as a data-only argument.
    violation(
        &format!("functions {{\n  real f(data real x) {{ return x; }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "6:23 dependency must be data",
    );
    // Bodies see only their arguments.
    violation(
        &format!("functions {{\n  real f(real x) {{ return x + N; }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "2:31 dependency sees only its arguments",
    );
    // `target +=` outside an `_lp` function.
    violation(
        &format!("functions {{\n  void f(real x) {{ target += x; }}\n}}\n{head}model {{ f(mu); }}"),
        None,
        "2:20 dependency _lp",
    );
    // `_rng` functions only where random numbers are allowed.
    violation(
        &format!("functions {{\n  real f_rng(real x) {{ return normal_rng(x, 1); }}\n}}\n{head}model {{ mu ~ normal(f_rng(0), 1); }}"),
        None,
        "6:21 dependency draws random numbers",
    );
    // A value-returning function is not a statement; a void one is not a value.
    violation(
        &format!("functions {{\n  real f(real x) {{ return x; }}\n}}\n{head}model {{ f(mu); }}"),
        None,
        "6:9 type not a statement",
    );
    violation(
        &format!(
            "functions {{\n  void f(real x) {{ }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"
        ),
        None,
        "6:21 type is void",
    );
    // Assigning to an argument.
    violation(
        &format!("functions {{\n  real f(real x) {{ x = 1; return x; }}\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "2:20 dependency function argument",
    );
    // Declared, never defined.
    violation(
        &format!("functions {{\n  real f(real x);\n}}\n{head}model {{ mu ~ normal(f(mu), 1); }}"),
        None,
        "2:8 dependency never defined",
    );
    // `_lpdf` must return real.
    violation(
        &format!("functions {{\n  vector g_lpdf(real x) {{ return [x]'; }}\n}}\n{head}model {{ mu ~ normal(0, 1); }}"),
        None,
        "2:10 type must return real",
    );
    // `return` outside a function.
    violation(
        &format!("{head}model {{ return; }}"),
        None,
        "3:9 parse only allowed inside a function",
    );
}

/// ODE solvers take a user-defined right-hand side; the removed `integrate_ode_*` forms are a
/// warning naming the replacement, not an error.
#[test]
fn ode_solvers_check() {
    let src = "functions {
  vector rhs(real t, vector y, real k) { return -k * y; }
  array[] real old_rhs(real t, array[] real y, array[] real th, array[] real xr, array[] int xi) {
    return {-th[1] * y[1]};
  }
}
data { int T; array[T] real ts; array[0] real xr; array[0] int xi; }
parameters { real<lower=0> k; }
model {
  array[T] vector[1] y = ode_rk45(rhs, [1.0]', 0, ts, k);
  array[T, 1] real z = integrate_ode_rk45(old_rhs, {1.0}, 0, ts, {k}, xr, xi);
  k ~ exponential(1);
}";
    let diags = check(src, None);
    assert_eq!(diags.len(), 1, "{}", show(src, &diags));
    assert!(!diags[0].is_error());
    assert!(diags[0].hint.as_deref().unwrap().contains("ode_rk45"));
    violation(
        &src.replace("ode_rk45(rhs", "ode_rk45(nope"),
        None,
        "10:35 distribution not a user-defined function",
    );
}

/// Certain violations stay errors; ones interval analysis cannot rule out are warnings; ratio
/// and convex-combination ranges are exact enough not to warn.
#[test]
fn warnings_and_errors() {
    let head = "data { int N; array[N] int<lower=0, upper=1> y; }
parameters { real<lower=0> a; real<lower=0> b; real<lower=0, upper=1> w; real<lower=-1> s; real u; }
model {\n";
    // A parameter whose declaration allows values outside a support: a warning, as Stan
    // compiles the program and rejects those values at run time.
    let d = violation(
        &format!("{head}  y ~ bernoulli(u);\n}}"),
        None,
        "4:17 support may be outside",
    );
    assert!(!d.is_error());
    let d = violation(
        &format!("{head}  u ~ normal(0, s);\n}}"),
        None,
        "4:17 support may be <= 0",
    );
    assert!(!d.is_error());
    // A declaration entirely outside the support, or data values outside it: errors.
    let d = violation(
        "data { int N; }\nparameters { real<upper=-1> s; real u; }\nmodel {\n  u ~ normal(0, s);\n}",
        None,
        "4:17 support may be <= 0",
    );
    assert!(d.is_error());
    let d = violation(
        "data { int N; vector[N] x; }\nparameters { real u; }\nmodel {\n  u ~ normal(0, x[1]);\n}",
        Some(r#"{"N": 2, "x": [-0.5, 1.5]}"#),
        "4:17 support",
    );
    assert!(d.is_error(), "{d:?}");
    // A computed value interval analysis over-approximates: a warning.
    let d = violation(
        &format!("{head}  y ~ bernoulli(a * w);\n}}"),
        None,
        "4:17 support may be outside",
    );
    assert!(!d.is_error());
    // Ratios of non-negative terms and convex combinations are in [0, 1]: nothing to report.
    for e in [
        "a / (a + b)",
        "b / (a + b)",
        "w * 0.3 + (1 - w) * 0.9",
        "w * (a / (a + b)) + (1 - w) * 0.5",
    ] {
        let src = format!("{head}  y ~ bernoulli({e});\n}}");
        let diags = check(&src, None);
        assert!(diags.is_empty(), "{e}: {}", show(&src, &diags));
    }
}
