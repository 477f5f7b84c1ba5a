//! The family library as a corpus source: the builtin proposer's program structures over
//! synthetic data schemas, with the library's structural choices carried as labels.
//!
//! One draw ([`FamilyLibrary::sample`]):
//! 1. **A synthetic schema** ([`SchemaSpec`]): the response's kind (real 30%, positive 15%, counts
//!    25%, 0/1 15%, successes out of trials 15%), 0 to 3 covariates (shapes normal, uniform,
//!    skewed, 0/1, positive, small counts), 0 to 2 groupings (each with few levels, 2 to 4, or
//!    many, 6 to 20), a time index (one draw in four), known measurement scales (one real
//!    response in ten), and `N` from 20 to 200.
//! 2. **A representative dataset**: the covariates, groupings, times and trials from the design
//!    generator ([`crate::design`]), and a response of that kind drawn around a random linear
//!    predictor in them (random coefficients, group effects, sometimes over-dispersion, heavy
//!    tails or a trend), so the schema's summaries (dispersion, skewness, fit of a line, lag-1
//!    autocorrelation) vary as users' data do.
//! 3. **The family library** infers its schema from that dataset (`refinestat_family::Schema`,
//!    the response given) and draws one structure from its weighted grammar
//!    (`refinestat_family::sample_structure`: every choice point by its weights, no sloppy
//!    alternatives; the distribution `refinestat_family::structures` enumerates, without
//!    enumerating it). The program is the library's data block
//!    for the dataset (`refinestat_family::data_block`) followed by the structure, exactly what the
//!    builtin proposer would write for a user's dataset of that shape.
//! 4. **Roles** for the corpus: every data variable the program reads gets the design role it was
//!    drawn with (sizes from their ranges, covariates from their shape, groups, trials, times), so
//!    the design generator redraws them for every dataset and only the response is simulated.
//!
//! **Labels**: `lib_family`, `lib_link`, `lib_mean`, `lib_covariates` (names, `+`-joined),
//! `lib_n_covariates`, `lib_covariate_scale`, `lib_offset`, `lib_pooling`, `lib_groupings`,
//! `lib_fixed_groupings`, `lib_varying_slopes`, `lib_parameterization`, `lib_time`,
//! `lib_overdispersion`, `lib_prior_style` (the library's [`refinestat_family::Labels`], an empty
//! choice written `none`), and the schema drawn: `schema_response`, `schema_covariates`,
//! `schema_groupings` (`few`/`many` per grouping, `+`-joined, or `none`), `schema_time`.
//!
//! **Family** (the held-out split's key) follows the human corpus's names where a structure is
//! one of them ([`taxonomy`]): growth curves are `growth_curve` whichever source wrote them, so a
//! held-out family stays unseen in training.

use crate::design::{draw_design, rand_distr_free};
use crate::schema::{CovShape, Role, Schema, SchemaVar};
use crate::source::{ProgramSource, SourceProgram};
use rand::{Rng, RngCore};
use refinestat_family as family;
use refinestat_language::ast::StmtKind;
use refinestat_language::{check, parse, Data, DataValue};
use std::collections::BTreeMap;

/// Draws per [`FamilyLibrary::sample`] call before it gives up (a structure that does not
/// check, a schema the library reads otherwise than drawn).
pub const TRIES: usize = 8;

/// The kind of response a synthetic schema has: the family library's own kind (its `word` is
/// the value of the `schema_response` label), so a drawn schema and the profile the family
/// infers from its data speak of responses alike.
pub use refinestat_family::ResponseKind;

/// A synthetic data schema: what the data of a drawn program are.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaSpec {
    /// What the response `y` is.
    pub response: ResponseKind,
    /// Covariate names (`x1`, `x2`, `x3`) and shapes.
    pub covariates: Vec<(String, CovShape)>,
    /// Grouping index names (`group`, `site`) and whether they have many levels.
    pub groupings: Vec<(String, bool)>,
    /// An int time index `t` (1..N).
    pub time: bool,
    /// Known measurement scales `sigma` (real responses only).
    pub known_scale: bool,
}

/// Levels of a grouping with few levels (the library may enter them as fixed effects).
pub const FEW_LEVELS: (i64, i64) = (2, 4);
/// Levels of a grouping with many levels.
pub const MANY_LEVELS: (i64, i64) = (6, 20);
/// Rows of every dataset.
pub const ROWS: (i64, i64) = (20, 200);
/// Binomial trials per row.
pub const TRIALS: (i64, i64) = (1, 30);

impl SchemaSpec {
    /// Draw a schema (the proportions in the module doc).
    pub fn draw(rng: &mut dyn RngCore) -> SchemaSpec {
        let u: f64 = rng.random_range(0.0..1.0);
        let response = match u {
            u if u < 0.30 => ResponseKind::Real,
            u if u < 0.45 => ResponseKind::Positive,
            u if u < 0.70 => ResponseKind::Count,
            u if u < 0.85 => ResponseKind::Binary,
            _ => ResponseKind::Successes,
        };
        let n_cov = [0, 1, 1, 2, 2, 3][rng.random_range(0..6)];
        let shapes = [
            CovShape::Normal,
            CovShape::Normal,
            CovShape::Uniform,
            CovShape::Skewed,
            CovShape::Binary,
            CovShape::Positive,
            CovShape::Count,
        ];
        let covariates = (1..=n_cov)
            .map(|i| (format!("x{i}"), shapes[rng.random_range(0..shapes.len())]))
            .collect();
        let n_groups = [0, 0, 1, 1, 2][rng.random_range(0..5)];
        let groupings = ["group", "site"]
            .iter()
            .take(n_groups)
            .map(|g| (g.to_string(), rng.random_bool(0.5)))
            .collect();
        let time = rng.random_bool(0.25);
        let known_scale = response == ResponseKind::Real && rng.random_bool(0.1);
        SchemaSpec {
            response,
            covariates,
            groupings,
            time,
            known_scale,
        }
    }

    /// Every data variable: its declaration (for the design generator) and its role.
    fn variables(&self) -> Vec<(String, String, Role)> {
        let size = |(min, max): (i64, i64)| Role::Size { min, max };
        let mut v = vec![("N".into(), "int<lower=1> N;".into(), size(ROWS))];
        for (g, many) in &self.groupings {
            let j = format!("J_{g}");
            let levels = if *many { MANY_LEVELS } else { FEW_LEVELS };
            v.push((j.clone(), format!("int<lower=1> {j};"), size(levels)));
        }
        for (g, _) in &self.groupings {
            let j = format!("J_{g}");
            v.push((
                g.clone(),
                format!("array[N] int<lower=1, upper={j}> {g};"),
                Role::Group { groups: j },
            ));
        }
        for (x, shape) in &self.covariates {
            let decl = match shape {
                CovShape::Binary | CovShape::Count => format!("array[N] int<lower=0> {x};"),
                CovShape::Positive => format!("vector<lower=0>[N] {x};"),
                _ => format!("vector[N] {x};"),
            };
            v.push((x.clone(), decl, Role::Covariate { shape: *shape }));
        }
        if self.time {
            v.push(("t".into(), "array[N] int<lower=1> t;".into(), Role::Time));
        }
        if self.known_scale {
            v.push((
                "sigma".into(),
                "vector<lower=0>[N] sigma;".into(),
                Role::Covariate {
                    shape: CovShape::Positive,
                },
            ));
        }
        if self.response == ResponseKind::Successes {
            v.push((
                "n".into(),
                "array[N] int<lower=1> n;".into(),
                Role::Trials {
                    min: TRIALS.0,
                    max: TRIALS.1,
                },
            ));
        }
        let y = match self.response {
            ResponseKind::Real => "vector[N] y;",
            ResponseKind::Positive => "vector<lower=0>[N] y;",
            _ => "array[N] int<lower=0> y;",
        };
        v.push(("y".into(), y.into(), Role::Response));
        v
    }

    /// The labels that describe the schema itself.
    fn labels(&self) -> BTreeMap<String, String> {
        let mut l = BTreeMap::new();
        l.insert("schema_response".into(), self.response.word().into());
        l.insert(
            "schema_covariates".into(),
            self.covariates.len().to_string(),
        );
        let groups: Vec<&str> = self
            .groupings
            .iter()
            .map(|(_, many)| if *many { "many" } else { "few" })
            .collect();
        l.insert("schema_groupings".into(), joined(&groups));
        l.insert("schema_time".into(), self.time.to_string());
        l
    }
}

fn joined<S: AsRef<str>>(items: &[S]) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items
            .iter()
            .map(|s| s.as_ref())
            .collect::<Vec<_>>()
            .join("+")
    }
}

/// A representative dataset of `spec`: the design generator's given data and a response of the
/// spec's kind around a random linear predictor in them.
pub fn representative_data(spec: &SchemaSpec, rng: &mut dyn RngCore) -> Option<Data> {
    let vars = spec.variables();
    let text = format!(
        "data {{ {} }}",
        vars.iter()
            .map(|v| v.1.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let program = parse(&text).program;
    // The representative dataset has more rows than any grouping has levels, so the library
    // reads the grouping indexes as such (later datasets take any size in range).
    let mut schema = Schema {
        vars: vars
            .iter()
            .map(|(name, _, role)| SchemaVar {
                name: name.clone(),
                role: role.clone(),
            })
            .collect(),
    };
    if let Some(Role::Size { min, .. }) = schema.role_mut("N") {
        *min = MANY_LEVELS.1 * 2;
    }
    let mut data = draw_design(&program, &schema, rng).ok()?;
    let n = data.get("N")?.as_scalar()? as usize;
    // A count covariate can be zero in any later dataset: the library must not read one that
    // happens to be positive here as a positive covariate (whose log it may take).
    for (x, shape) in &spec.covariates {
        if *shape == CovShape::Count {
            let v = data.vars.get_mut(x)?;
            if v.values.iter().all(|a| *a > 0.0) {
                v.values[0] = 0.0;
            }
        }
    }
    let col = |data: &Data, name: &str| -> Vec<f64> {
        data.get(name).map(|v| v.values.clone()).unwrap_or_default()
    };
    // The linear predictor: standardised covariates with random slopes, group effects.
    let mut eta = vec![0.0; n];
    for (x, _) in &spec.covariates {
        let v = col(&data, x);
        let mean = v.iter().sum::<f64>() / n as f64;
        let sd = (v.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64)
            .sqrt()
            .max(1e-9);
        let b = 0.6 * rand_distr_free::normal(rng);
        for (e, a) in eta.iter_mut().zip(&v) {
            *e += b * (a - mean) / sd;
        }
    }
    for (g, _) in &spec.groupings {
        let j = data.get(&format!("J_{g}"))?.as_scalar()? as usize;
        let tau = rng.random_range(0.0..1.0);
        let effects: Vec<f64> = (0..j).map(|_| tau * rand_distr_free::normal(rng)).collect();
        for (e, l) in eta.iter_mut().zip(col(&data, g)) {
            *e += effects[(l as usize).clamp(1, j) - 1];
        }
    }
    if spec.time && rng.random_bool(0.5) {
        // A trend, or a random walk (a series with memory).
        let walk = rng.random_bool(0.5);
        let slope = rand_distr_free::normal(rng) / n as f64;
        let mut level = 0.0;
        for (i, e) in eta.iter_mut().enumerate() {
            level += if walk {
                0.3 * rand_distr_free::normal(rng)
            } else {
                0.0
            };
            *e += slope * i as f64 + level;
        }
    }
    let heavy = rng.random_bool(0.2);
    let noise = |rng: &mut dyn RngCore| {
        let z = rand_distr_free::normal(rng);
        if heavy {
            // Student-t with 3 degrees of freedom, roughly: a normal over a chi.
            let c: f64 = (0..3).map(|_| rand_distr_free::normal(rng).powi(2)).sum();
            z / (c / 3.0).sqrt().max(0.05)
        } else {
            z
        }
    };
    let inv_logit = |x: f64| 1.0 / (1.0 + (-x).exp());
    let y: Vec<f64> = match spec.response {
        ResponseKind::Real => {
            let (c, s) = (rng.random_range(-5.0..5.0), rng.random_range(0.5..10.0));
            let sigma = rng.random_range(0.2..1.5);
            (0..n)
                .map(|i| c + s * (eta[i] + sigma * noise(rng)))
                .collect()
        }
        ResponseKind::Positive => {
            let m = rng.random_range(-1.0..3.0);
            let sigma = rng.random_range(0.1..1.0);
            (0..n)
                .map(|i| (m + eta[i] + sigma * noise(rng)).exp())
                .collect()
        }
        ResponseKind::Count => {
            let m = rng.random_range(-0.5..3.0);
            let od = if rng.random_bool(0.5) {
                rng.random_range(0.2..1.0)
            } else {
                0.0
            };
            (0..n)
                .map(|i| {
                    let rate = (m + eta[i] + od * rand_distr_free::normal(rng)).exp();
                    poisson(rng, rate.min(1e4))
                })
                .collect()
        }
        ResponseKind::Binary => {
            let m = rng.random_range(-1.5..1.5);
            (0..n)
                .map(|i| f64::from(u8::from(rng.random_bool(inv_logit(m + eta[i])))))
                .collect()
        }
        ResponseKind::Successes => {
            let m = rng.random_range(-1.5..1.5);
            let od = if rng.random_bool(0.5) { 0.8 } else { 0.0 };
            let trials = col(&data, "n");
            (0..n)
                .map(|i| {
                    let p = inv_logit(m + eta[i] + od * rand_distr_free::normal(rng));
                    (0..trials[i] as usize)
                        .filter(|_| rng.random_bool(p))
                        .count() as f64
                })
                .collect()
        }
    };
    let is_int = !matches!(spec.response, ResponseKind::Real | ResponseKind::Positive);
    data.vars
        .insert("y".into(), DataValue::array(vec![n], y, is_int));
    Some(data)
}

/// A Poisson draw (inversion for small rates, a rounded normal for large ones).
fn poisson(rng: &mut dyn RngCore, rate: f64) -> f64 {
    if rate > 30.0 {
        (rate + rate.sqrt() * rand_distr_free::normal(rng))
            .round()
            .max(0.0)
    } else {
        rand_distr_free::poisson(rng, rate)
    }
}

/// The held-out-split family of a library structure: the human corpus's name for it where there
/// is one.
///
/// | structure | family |
/// |---|---|
/// | growth curves, logistic curves (`mean` `growth_pow`, `growth_exp`, `logistic`) | `growth_curve` |
/// | a Gaussian process | `gaussian_process` |
/// | known measurement scales | `measurement_error` |
/// | AR(1) errors | `time_series` |
/// | two or more groupings with varying intercepts | `crossed_effects` |
/// | one grouping with varying effects | `hierarchical_poisson` / `_logistic` / `_binomial` / `_normal` (normal, student_t), else `hierarchical_regression` |
/// | none of these: by likelihood | `linear_regression`, `robust_regression`, `lognormal_regression`, `gamma_regression`, `poisson_regression`, `negbin_regression`, `logistic_regression`, `binomial_regression` |
pub fn taxonomy(l: &family::Labels, known_scale: bool) -> String {
    let by_likelihood = match l.family.as_str() {
        "normal" => "linear_regression",
        "student_t" => "robust_regression",
        "lognormal" => "lognormal_regression",
        "gamma" => "gamma_regression",
        "poisson" => "poisson_regression",
        "neg_binomial_2" => "negbin_regression",
        "bernoulli" => "logistic_regression",
        "binomial" => "binomial_regression",
        "multi_normal" => "gaussian_process",
        other => return format!("library_{other}"),
    };
    let name = if matches!(l.mean.as_str(), "growth_pow" | "growth_exp" | "logistic") {
        "growth_curve"
    } else if l.mean == "gp" {
        "gaussian_process"
    } else if known_scale {
        "measurement_error"
    } else if l.time == "ar1" {
        "time_series"
    } else if l.groupings.len() >= 2 {
        "crossed_effects"
    } else if l.groupings.len() == 1 {
        match l.family.as_str() {
            "poisson" | "neg_binomial_2" => "hierarchical_poisson",
            "bernoulli" => "hierarchical_logistic",
            "binomial" => "hierarchical_binomial",
            "normal" | "student_t" if l.covariates.is_empty() => "hierarchical_normal",
            _ => "hierarchical_regression",
        }
    } else {
        by_likelihood
    };
    name.into()
}

/// The library's labels as corpus labels (`lib_*`; the module doc lists them).
pub fn library_labels(l: &family::Labels) -> BTreeMap<String, String> {
    let word = |s: &str| {
        if s.is_empty() {
            "none".to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = BTreeMap::new();
    for (k, v) in [
        ("lib_family", &l.family),
        ("lib_link", &l.link),
        ("lib_mean", &l.mean),
        ("lib_covariate_scale", &l.covariate_scale),
        ("lib_offset", &l.offset),
        ("lib_pooling", &l.pooling),
        ("lib_parameterization", &l.parameterization),
        ("lib_time", &l.time),
        ("lib_overdispersion", &l.overdispersion),
        ("lib_prior_style", &l.prior_style),
    ] {
        out.insert(k.to_string(), word(v));
    }
    for (k, v) in [
        ("lib_covariates", &l.covariates),
        ("lib_groupings", &l.groupings),
        ("lib_fixed_groupings", &l.fixed_groupings),
        ("lib_varying_slopes", &l.varying_slopes),
    ] {
        out.insert(k.to_string(), joined(v));
    }
    out.insert("lib_n_covariates".into(), l.covariates.len().to_string());
    out
}

/// The family library as a [`ProgramSource`] (named `family`).
#[derive(Debug, Clone, Default)]
pub struct FamilyLibrary {
    /// The library's grammar settings (no sloppy alternatives by default).
    pub grammar: family::GrammarConfig,
}

/// A drawn schema with its dataset and the library's reading of it.
struct Drawn {
    spec: SchemaSpec,
    data: Data,
    schema: family::Schema,
}

impl FamilyLibrary {
    fn draw_schema(&self, rng: &mut dyn RngCore) -> Option<Drawn> {
        let spec = SchemaSpec::draw(rng);
        let data = representative_data(&spec, rng)?;
        let options = family::SchemaOptions {
            responses: vec!["y".into()],
            ..family::SchemaOptions::default()
        };
        let schema = family::Schema::infer(&data, &options).ok()?;
        Some(Drawn { spec, data, schema })
    }

    /// A structure for `d` drawn from the library's grammar, as a corpus program (`None` when it
    /// does not check).
    fn program(&self, d: &Drawn, rng: &mut dyn RngCore) -> Option<SourceProgram> {
        let chosen = family::sample_structure(&d.schema, &self.grammar, rng.next_u64())?;
        let text = format!("{}{}", family::data_block(&d.data), chosen.text);
        if !check(&text, None).is_empty() {
            return None;
        }
        let program = parse(&text).program;
        // Roles by name, in the program's data-block order.
        let roles: BTreeMap<String, Role> = d
            .spec
            .variables()
            .into_iter()
            .map(|(name, _, role)| (name, role))
            .collect();
        let mut vars = Vec::new();
        for s in program.data.iter().flat_map(|b| &b.stmts) {
            if let StmtKind::Decl { name, .. } = &s.kind {
                vars.push(SchemaVar {
                    name: name.name.clone(),
                    role: roles.get(&name.name)?.clone(),
                });
            }
        }
        let mut labels = d.spec.labels();
        labels.extend(library_labels(&chosen.labels));
        let family = taxonomy(&chosen.labels, d.schema.known_scale.is_some());
        Some(SourceProgram {
            id: format!("family/{family}"),
            family,
            program,
            schema: Schema { vars },
            labels,
        })
    }

    /// One try: a schema, its representative dataset, a structure, the program and its roles.
    pub fn try_sample(&self, rng: &mut dyn RngCore) -> Option<SourceProgram> {
        let d = self.draw_schema(rng)?;
        self.program(&d, rng)
    }

    /// Two different structures over one drawn schema (the same data block and response): the
    /// two components of a mixture ([`crate::augment::mix_two`]).
    pub fn sample_pair(&self, rng: &mut dyn RngCore) -> Option<(SourceProgram, SourceProgram)> {
        for _ in 0..TRIES {
            let Some(d) = self.draw_schema(rng) else {
                continue;
            };
            let Some(first) = self.program(&d, rng) else {
                continue;
            };
            for _ in 0..TRIES {
                if let Some(second) = self.program(&d, rng) {
                    if second.program != first.program {
                        return Some((first, second));
                    }
                }
            }
        }
        None
    }
}

impl ProgramSource for FamilyLibrary {
    fn name(&self) -> &str {
        "family"
    }

    fn sample(&self, rng: &mut dyn RngCore) -> Option<SourceProgram> {
        (0..TRIES).find_map(|_| self.try_sample(rng))
    }

    fn families(&self) -> Vec<String> {
        let mut f: Vec<String> = [
            "growth_curve",
            "gaussian_process",
            "measurement_error",
            "time_series",
            "crossed_effects",
            "hierarchical_poisson",
            "hierarchical_logistic",
            "hierarchical_binomial",
            "hierarchical_normal",
            "hierarchical_regression",
            "linear_regression",
            "robust_regression",
            "lognormal_regression",
            "gamma_regression",
            "poisson_regression",
            "negbin_regression",
            "logistic_regression",
            "binomial_regression",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        f.sort();
        f
    }
}
