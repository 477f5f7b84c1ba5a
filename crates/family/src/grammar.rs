//! The weighted grammar of program structures: given a [`Schema`], every program the family
//! library can write after the data block (`parameters`, `transformed parameters`, `model`),
//! each with its probability and its structural [`Labels`]. This is the built-in proposal
//! model's grammar and the meta-prior P(M) programs are drawn from.
//!
//! The choices, each weighted by what the schema shows, never by a dataset's name:
//! - the likelihood family and link that fit the response: normal / student_t (identity),
//!   lognormal / gamma for positive skewed responses (log link; the density stays that of `y`),
//!   poisson_log / neg_binomial_2_log / an observation-level effect for counts (more weight on
//!   the overdispersed ones when the variance is well above the mean), bernoulli_logit for 0/1,
//!   binomial_logit with trials, and for overdispersed successes an observation-level effect or
//!   per-observation beta probabilities; whole numbers far below a Poisson's variance (a
//!   diameter in whole millimetres) also get a normal likelihood;
//! - covariates in the linear predictor (`beta_x * x`, a design matrix as `X * beta`), centred
//!   and scaled; under a log link positive covariates may enter through their logs (a power
//!   law), and a count's exposure (a positive covariate bounding the response) as the offset
//!   `log(exposure)`; one predictor through nonlinear curves (growth curves, logistic, a
//!   log-linear term) or a Gaussian process when a line fits poorly;
//! - each grouping index of length N with values 1..J (up to four): varying intercepts (two or
//!   more: crossed effects), varying slopes for a covariate that varies within groups,
//!   non-centred by default, centred as the alternative;
//! - a time index: a trend and an AR(1) term on the residual (likelier when the response's
//!   lag-1 autocorrelation is high);
//! - known scales (measurement error): pooled, hierarchical or unpooled means;
//! - priors: a per-program prior style and per-parameter scales near the data's scale (an
//!   identity-link intercept centred on the response's mean when that is far from 0).
//!
//! The grammar is finite (no recursion); [`structures`] enumerates its derivations with an
//! odometer over the choice points, prunes those lighter than `min_weight`, merges equal texts
//! and keeps the heaviest `max_derivations`. With `sloppiness > 0` it also writes the mistakes a
//! language model makes (a scale without `<lower=0>`, a likelihood whose support does not fit,
//! an undeclared size name), labelled [`Labels::sloppy`].

use crate::schema::{Covariate, Grouping, Response, ResponseKind, Schema};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// The longest parameter name the grammar writes: the constrained decoder's default bound on a
/// variable name (`refinestat_synthesis::GrammarBounds::identifier_chars`), so every program
/// it writes is one the decoder lets through.
pub const MAX_PARAMETER_NAME: usize = 16;

/// Settings of the grammar.
#[derive(Debug, Clone, PartialEq)]
pub struct GrammarConfig {
    /// Weight of each deliberately sloppy alternative (0 for a meta-prior of correct programs).
    pub sloppiness: f64,
    /// Derivations kept at most; the lightest are dropped beyond it.
    pub max_derivations: usize,
    /// Derivations less probable than this are never written.
    pub min_weight: f64,
}

impl Default for GrammarConfig {
    fn default() -> GrammarConfig {
        GrammarConfig {
            sloppiness: 0.0,
            max_derivations: 50_000,
            min_weight: 1e-6,
        }
    }
}

/// What a program's structure is.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Labels {
    /// Likelihood family of the primary response (`normal`, `student_t`, `lognormal`, `gamma`,
    /// `poisson`, `neg_binomial_2`, `bernoulli`, `binomial`, `multi_normal` for a GP).
    pub family: String,
    /// `identity`, `log` or `logit`.
    pub link: String,
    /// The mean's form: `intercept`, `linear`, `log_linear`, `growth_pow`, `growth_exp`,
    /// `logistic`, `gp`, `hierarchical`, `unpooled`.
    pub mean: String,
    /// Covariates in the mean.
    pub covariates: Vec<String>,
    /// `log` when every positive covariate enters through its log (a power law), else empty
    /// (a covariate spanning orders of magnitude enters through its log either way).
    pub covariate_scale: String,
    /// The covariate whose log enters the mean as an offset (an exposure), or empty.
    pub offset: String,
    /// `complete`, `partial` (varying effects) or `none` (one parameter per observation).
    pub pooling: String,
    /// Groupings with varying intercepts.
    pub groupings: Vec<String>,
    /// Groupings of few levels entered as fixed effects (the first level the baseline).
    pub fixed_groupings: Vec<String>,
    /// Covariates with varying slopes.
    pub varying_slopes: Vec<String>,
    /// `centred`, `non_centred` or empty.
    pub parameterization: String,
    /// `trend`, `ar1` or empty.
    pub time: String,
    /// `neg_binomial`, `observation_effect`, `beta` or empty.
    pub overdispersion: String,
    /// The prior style (`normal`, `heavy_tailed`, `exponential`, `gamma`).
    pub prior_style: String,
    /// Contains a deliberate mistake.
    pub sloppy: bool,
}

/// One program structure: the text after the data block, its probability and its labels.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Structure {
    /// The program after the data block.
    pub text: String,
    /// Its probability under the grammar (the weights of all structures sum to 1).
    pub weight: f64,
    /// What it is.
    pub labels: Labels,
}

/// Every structure of the grammar for `schema`, heaviest first, weights summing to 1.
pub fn structures(schema: &Schema, config: &GrammarConfig) -> Vec<Structure> {
    let analysis = Analysis::new(schema, config.sloppiness);
    let mut ch = Chooser {
        script: Vec::new(),
        points: Vec::new(),
        log_weight: 0.0,
        min_log_weight: config.min_weight.ln(),
        pruned_at: None,
        sampler: None,
    };
    let mut merged: BTreeMap<String, (f64, Labels)> = BTreeMap::new();
    loop {
        let (text, labels) = derive(&mut ch, &analysis);
        if ch.pruned_at.is_none() && ch.log_weight.is_finite() {
            merged.entry(text).or_insert((0.0, labels)).0 += ch.log_weight.exp();
        }
        if !ch.advance() {
            break;
        }
    }
    let mut out: Vec<Structure> = merged
        .into_iter()
        .map(|(text, (weight, labels))| Structure {
            text,
            weight,
            labels,
        })
        .collect();
    out.sort_by(|a, b| {
        b.weight
            .total_cmp(&a.weight)
            .then_with(|| a.text.cmp(&b.text))
    });
    out.truncate(config.max_derivations.max(1));
    let total: f64 = out.iter().map(|s| s.weight).sum();
    for s in &mut out {
        s.weight /= total.max(f64::MIN_POSITIVE);
    }
    out
}

/// One structure drawn from the grammar's distribution for `schema`: its choice points walked
/// once, each alternative chosen with its weight by a generator seeded with `seed` (SplitMix64),
/// so the same arguments give the same structure. `weight` is the probability of that
/// derivation (not summed over derivations that write the same text, nor renormalised after
/// pruning as [`structures`] does); `config.min_weight` and `max_derivations` do not apply. The
/// SPFN corpus draws its family-library programs this way, without enumerating every structure.
/// `None` only when the walk reaches an alternative of weight zero (no structure).
pub fn sample_structure(schema: &Schema, config: &GrammarConfig, seed: u64) -> Option<Structure> {
    let analysis = Analysis::new(schema, config.sloppiness);
    let mut ch = Chooser {
        script: Vec::new(),
        points: Vec::new(),
        log_weight: 0.0,
        min_log_weight: f64::NEG_INFINITY,
        pruned_at: None,
        sampler: Some(seed),
    };
    let (text, labels) = derive(&mut ch, &analysis);
    ch.log_weight.is_finite().then(|| Structure {
        text,
        weight: ch.log_weight.exp(),
        labels,
    })
}

/// The next uniform on [0, 1) of a SplitMix64 generator.
fn splitmix_uniform(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

// ---------------------------------------------------------------------------------------------
// Enumerating derivations of the weighted grammar.

/// Replays a script of choices and records each choice point's weights, so that every
/// derivation can be visited in turn (an odometer over the choice points).
struct Chooser {
    script: Vec<usize>,
    points: Vec<Vec<f64>>,
    log_weight: f64,
    /// Derivations lighter than this are pruned, with every derivation sharing their choices.
    min_log_weight: f64,
    /// The first choice point at which the weight fell below `min_log_weight`.
    pruned_at: Option<usize>,
    /// When set, a choice point not in the script is chosen at random by its weights, from
    /// this SplitMix64 state ([`sample_structure`]); otherwise the first alternative is.
    sampler: Option<u64>,
}

impl Chooser {
    fn pick(&mut self, weights: &[f64]) -> usize {
        let pos = self.points.len();
        let index = match self.script.get(pos) {
            Some(&i) => i,
            None => {
                let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
                let chosen = match &mut self.sampler {
                    Some(state) => {
                        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
                        let mut u = splitmix_uniform(state) * total;
                        weights
                            .iter()
                            .position(|&w| {
                                let hit = w > 0.0 && u < w;
                                if w > 0.0 {
                                    u -= w;
                                }
                                hit
                            })
                            .or_else(|| weights.iter().rposition(|&w| w > 0.0))
                            .unwrap_or(first)
                    }
                    None => first,
                };
                self.script.push(chosen);
                chosen
            }
        };
        let total: f64 = weights.iter().filter(|w| **w > 0.0).sum();
        let w = weights.get(index).copied().unwrap_or(0.0);
        self.log_weight += if total > 0.0 && w > 0.0 {
            (w / total).ln()
        } else {
            f64::NEG_INFINITY
        };
        self.points.push(weights.to_vec());
        if self.pruned_at.is_none() && self.log_weight < self.min_log_weight {
            self.pruned_at = Some(pos);
        }
        index
    }

    fn flip(&mut self, p_true: f64) -> bool {
        self.pick(&[1.0 - p_true, p_true]) == 1
    }

    /// Pick among labelled alternatives.
    fn choose<'a, T>(&mut self, options: &'a [(f64, T)]) -> &'a T {
        let weights: Vec<f64> = options.iter().map(|(w, _)| *w).collect();
        &options[self.pick(&weights)].1
    }

    /// Advance to the next script; false when every derivation has been visited.
    fn advance(&mut self) -> bool {
        let mut script = std::mem::take(&mut self.script);
        script.truncate(self.pruned_at.map_or(self.points.len(), |p| p + 1));
        self.pruned_at = None;
        while let Some(last) = script.len().checked_sub(1) {
            let weights = &self.points[last];
            if let Some(next) = (script[last] + 1..weights.len()).find(|&i| weights[i] > 0.0) {
                script[last] = next;
                self.script = script;
                self.points.clear();
                self.log_weight = 0.0;
                return true;
            }
            script.pop();
        }
        false
    }
}

/// Numbers formatted as short literals.
fn lit(x: f64) -> String {
    if x == x.round() && x.abs() < 1e6 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// Weights over candidate scales, peaked at `target` on a log scale.
fn scale_options(target: f64) -> Vec<(f64, f64)> {
    let target = if target.is_finite() && target > 0.0 {
        target
    } else {
        1.0
    };
    let mut options: Vec<(f64, f64)> = [1.0, 2.5, 5.0, 10.0, 100.0]
        .iter()
        .map(|&s| {
            let d = (s / target).ln();
            ((-0.5 * d * d).exp() + 0.02, s)
        })
        .collect();
    // The three likeliest scales, in increasing order.
    options.sort_by(|a, b| b.0.total_cmp(&a.0));
    options.truncate(3);
    options.sort_by(|a, b| a.1.total_cmp(&b.1));
    options
}

/// What the grammar knows about the data, read off the schema.
struct Analysis<'s> {
    schema: &'s Schema,
    data_names: BTreeSet<String>,
    /// Real response, with its spread and mean.
    response: Option<RealY>,
    /// Count response bounded by a total: (count, total).
    binomial: Option<(String, String)>,
    /// Predictor of the response (same length): the first real vector covariate.
    predictor: Option<Predictor>,
    /// Known per-observation scales of the real response.
    known_scale: Option<String>,
    /// Length expression of the observations.
    size: String,
    n_obs: usize,
    sloppiness: f64,
}

struct RealY {
    name: String,
    sd: f64,
    mean_abs: f64,
    positive: bool,
}

struct Predictor {
    name: String,
    positive: bool,
    /// R^2 of the response on a straight line in the predictor.
    r2_linear: f64,
    /// R^2 on log(predictor), when the predictor is positive.
    r2_log: f64,
    /// Half the predictor's range (a length scale for a GP).
    half_range: f64,
    /// Positive and spanning more than two orders of magnitude: its log is the natural scale.
    orders_of_magnitude: bool,
}

impl<'s> Analysis<'s> {
    fn new(schema: &'s Schema, sloppiness: f64) -> Analysis<'s> {
        let r = schema.response();
        let (response, binomial) = match r.kind {
            ResponseKind::Real | ResponseKind::Positive => (
                Some(RealY {
                    name: r.name.clone(),
                    sd: r.sd,
                    mean_abs: r.mean.abs(),
                    positive: r.kind == ResponseKind::Positive,
                }),
                None,
            ),
            ResponseKind::Successes => (
                None,
                Some((r.name.clone(), r.trials.clone().unwrap_or_default())),
            ),
            ResponseKind::Count | ResponseKind::Binary => (None, None),
        };
        let predictor = schema
            .covariates
            .iter()
            .find(|c| !c.is_int && !c.is_matrix())
            .map(|c| Predictor {
                name: c.name.clone(),
                positive: c.positive,
                r2_linear: c.r2_linear,
                r2_log: c.r2_log,
                half_range: c.half_range(),
                orders_of_magnitude: c.spans_orders_of_magnitude(),
            });
        Analysis {
            schema,
            data_names: schema.data_names.clone(),
            response,
            binomial,
            predictor,
            known_scale: schema.known_scale.clone(),
            size: r.size.clone(),
            n_obs: r.len,
            sloppiness,
        }
    }

    /// A parameter name that does not clash with a data name.
    /// A fresh name for a parameter of the variable `var` (`beta_x`, `sigma_a_group`), at most
    /// [`MAX_PARAMETER_NAME`] characters: a long variable name is cut and a short hash of it
    /// keeps two cut names apart.
    fn param_for(&self, prefix: &str, var: &str) -> String {
        let full = format!("{prefix}{var}");
        if full.len() <= MAX_PARAMETER_NAME {
            return self.fresh(&full);
        }
        let hash = var
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(b as u32))
            % 1296;
        let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
        let tag: String = [digits[(hash / 36) as usize], digits[(hash % 36) as usize]]
            .iter()
            .map(|&c| c as char)
            .collect();
        let keep = MAX_PARAMETER_NAME.saturating_sub(prefix.len() + 3).max(1);
        let cut: String = var.chars().take(keep).collect();
        self.fresh(&format!("{prefix}{cut}_{tag}"))
    }

    fn fresh(&self, base: &str) -> String {
        if !self.data_names.contains(base) {
            return base.to_string();
        }
        for suffix in ["_p", "_par", "_1", "_2"] {
            let name = format!("{base}{suffix}");
            if !self.data_names.contains(&name) {
                return name;
            }
        }
        format!("{base}_x")
    }

    /// A length name that is not declared (the "wrong size name" mistake).
    fn wrong_size(&self) -> Option<String> {
        ["N", "J", "K", "n"]
            .iter()
            .find(|n| !self.data_names.contains(**n))
            .map(|s| s.to_string())
    }
}

/// One program under construction.
#[derive(Default)]
struct Parts {
    style: PriorStyle,
    params: Vec<String>,
    transformed: Vec<String>,
    model_locals: Vec<String>,
    priors: Vec<String>,
    likelihood: Vec<String>,
    labels: Labels,
}

impl Parts {
    fn render(&self) -> String {
        let mut out = String::from("parameters {\n");
        for line in &self.params {
            out.push_str(&format!("  {line}\n"));
        }
        out.push_str("}\n");
        if !self.transformed.is_empty() {
            out.push_str("transformed parameters {\n");
            for line in &self.transformed {
                out.push_str(&format!("  {line}\n"));
            }
            out.push_str("}\n");
        }
        out.push_str("model {\n");
        for line in self
            .model_locals
            .iter()
            .chain(&self.priors)
            .chain(&self.likelihood)
        {
            out.push_str(&format!("  {line}\n"));
        }
        out.push_str("}\n");
        out
    }
}

/// A modeller's habit for priors, chosen once per program: the families of location and scale
/// priors (their scales are chosen per parameter).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PriorStyle {
    /// normal locations, half-normal scales
    #[default]
    Normal,
    /// student_t locations, half-Cauchy scales
    HeavyTailed,
    /// normal locations, exponential scales
    Exponential,
    /// normal locations, gamma(2, .) scales
    Gamma,
}

const PRIOR_STYLES: [(f64, PriorStyle); 4] = [
    (0.4, PriorStyle::Normal),
    (0.25, PriorStyle::HeavyTailed),
    (0.25, PriorStyle::Exponential),
    (0.1, PriorStyle::Gamma),
];

/// Priors for an unbounded location or coefficient at scale `target`.
fn location_prior(ch: &mut Chooser, style: PriorStyle, target: f64) -> String {
    location_prior_at(ch, style, 0.0, target)
}

/// [`location_prior`] centred on `centre`.
fn location_prior_at(ch: &mut Chooser, style: PriorStyle, centre: f64, target: f64) -> String {
    let (centre, scale) = (lit(centre), lit(*ch.choose(&scale_options(target))));
    match style {
        PriorStyle::HeavyTailed => format!("student_t(3, {centre}, {scale})"),
        _ => format!("normal({centre}, {scale})"),
    }
}

/// Priors for a positive scale parameter at scale `target`.
fn scale_prior(ch: &mut Chooser, style: PriorStyle, target: f64) -> String {
    let scale = *ch.choose(&scale_options(target));
    match style {
        PriorStyle::Normal => format!("normal(0, {})", lit(scale)),
        PriorStyle::HeavyTailed => format!("cauchy(0, {})", lit(scale)),
        PriorStyle::Exponential => format!("exponential({})", lit(1.0 / scale)),
        PriorStyle::Gamma => format!("gamma(2, {})", lit(2.0 / scale)),
    }
}

/// Declare a positive scale parameter: usually with `<lower=0>`, sometimes (sloppily) without.
fn declare_scale(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, name: &str) {
    if ch.flip(a.sloppiness) {
        parts.labels.sloppy = true;
        parts.params.push(format!("real {name};"));
    } else {
        parts.params.push(format!("real<lower=0> {name};"));
    }
}

/// The length of per-observation vectors; sometimes (sloppily) a name that is not declared.
fn obs_size(ch: &mut Chooser, a: &Analysis, parts: &mut Parts) -> String {
    match a.wrong_size() {
        Some(wrong) if a.size != wrong && ch.flip(a.sloppiness / 2.0) => {
            parts.labels.sloppy = true;
            wrong
        }
        _ => a.size.clone(),
    }
}

/// Hierarchical effects `name` ~ normal(mu, tau), centered or non-centered; returns the name
/// the effects go by (`name`, or a variant when the data already uses it).
fn hierarchical_effects(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    name: &str,
    mu_target: f64,
    tau_target: f64,
) -> String {
    let mu = a.fresh("mu");
    let tau = a.fresh(if name == "theta" { "tau" } else { "sigma" });
    let name = &a.fresh(name);
    let size = obs_size(ch, a, parts);
    parts.params.push(format!("real {mu};"));
    declare_scale(ch, a, parts, &tau);
    let mu_prior = location_prior(ch, parts.style, mu_target);
    parts.priors.push(format!("{mu} ~ {mu_prior};"));
    let tau_prior = scale_prior(ch, parts.style, tau_target);
    parts.priors.push(format!("{tau} ~ {tau_prior};"));
    parts.labels.pooling = "partial".into();
    let non_centred = ch.flip(0.55);
    parts.labels.parameterization = if non_centred {
        "non_centred"
    } else {
        "centred"
    }
    .into();
    if non_centred {
        let raw = format!("{name}_raw");
        parts.params.push(format!("vector[{size}] {raw};"));
        parts
            .transformed
            .push(format!("vector[{size}] {name} = {mu} + {tau} * {raw};"));
        let std = *ch.choose(&[(0.6, "std_normal()"), (0.4, "normal(0, 1)")]);
        parts.priors.push(format!("{raw} ~ {std};"));
    } else {
        parts.params.push(format!("vector[{size}] {name};"));
        parts.priors.push(format!("{name} ~ normal({mu}, {tau});"));
    }
    name.clone()
}

/// Measurement-error models: y[j] ~ normal(theta[j], s[j]) with known s.
fn measurement_error(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &RealY, s: &str) {
    let target = (y.sd + y.mean_abs).max(1.0);
    parts.labels.family = "normal".into();
    parts.labels.link = "identity".into();
    let kind = *ch.choose(&[(0.15, "pooled"), (0.75, "hierarchical"), (0.1, "unpooled")]);
    parts.labels.mean = kind.into();
    parts.labels.pooling = match kind {
        "pooled" => "complete",
        "hierarchical" => "partial",
        _ => "none",
    }
    .into();
    match kind {
        "pooled" => {
            let mu = a.fresh("mu");
            parts.params.push(format!("real {mu};"));
            let p = location_prior(ch, parts.style, target);
            parts.priors.push(format!("{mu} ~ {p};"));
            parts
                .likelihood
                .push(format!("{} ~ normal({mu}, {s});", y.name));
        }
        "hierarchical" => {
            let theta = hierarchical_effects(ch, a, parts, "theta", target, y.sd.max(1.0));
            parts
                .likelihood
                .push(format!("{} ~ normal({theta}, {s});", y.name));
        }
        _ => {
            let size = obs_size(ch, a, parts);
            let theta = a.fresh("theta");
            parts.params.push(format!("vector[{size}] {theta};"));
            let p = location_prior(ch, parts.style, target * 2.0);
            parts.priors.push(format!("{theta} ~ {p};"));
            parts
                .likelihood
                .push(format!("{} ~ normal({theta}, {s});", y.name));
        }
    }
}

/// Binomial models of count c out of total t: pooled, hierarchical logit, logistic GLMs.
fn binomial_models(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, c: &str, t: &str) {
    let has_x = a.predictor.is_some();
    let options = [
        (0.1, "pooled"),
        (if has_x { 0.15 } else { 0.6 }, "hierarchical"),
        (if has_x { 0.6 } else { 0.0 }, "glm"),
        (if has_x { 0.15 } else { 0.0 }, "glm_overdispersed"),
        (if has_x { 0.0 } else { 0.3 }, "hierarchical_beta"),
    ];
    let kind = *ch.choose(&options);
    parts.labels.family = "binomial".into();
    parts.labels.mean = kind.into();
    parts.labels.pooling = if kind == "pooled" || kind.starts_with("glm") {
        "complete"
    } else {
        "partial"
    }
    .into();
    match kind {
        "pooled" => {
            let p = a.fresh("p");
            parts.params.push(format!("real<lower=0, upper=1> {p};"));
            let prior = *ch.choose(&[
                (0.5, "beta(1, 1)"),
                (0.3, "uniform(0, 1)"),
                (0.2, "beta(2, 2)"),
            ]);
            parts.priors.push(format!("{p} ~ {prior};"));
            parts.likelihood.push(format!("{c} ~ binomial({t}, {p});"));
        }
        "hierarchical" => {
            let b = hierarchical_effects(ch, a, parts, "b", 2.5, 1.0);
            binomial_likelihood(ch, a, parts, c, t, &b);
        }
        "hierarchical_beta" => {
            let size = obs_size(ch, a, parts);
            let p = a.fresh("p");
            parts
                .params
                .push(format!("vector<lower=0, upper=1>[{size}] {p};"));
            let (a_p, b_p) = (a.fresh("a_p"), a.fresh("b_p"));
            parts.params.push(format!("real<lower=0> {a_p};"));
            parts.params.push(format!("real<lower=0> {b_p};"));
            parts.priors.push(format!("{a_p} ~ gamma(2, 0.1);"));
            parts.priors.push(format!("{b_p} ~ gamma(2, 0.1);"));
            parts.priors.push(format!("{p} ~ beta({a_p}, {b_p});"));
            parts.labels.overdispersion = "beta".into();
            parts.likelihood.push(format!("{c} ~ binomial({t}, {p});"));
        }
        kind => {
            let x = a
                .predictor
                .as_ref()
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let alpha = a.fresh("alpha");
            let beta = a.fresh("beta");
            parts.params.push(format!("real {alpha};"));
            parts.params.push(format!("real {beta};"));
            let mut eta = format!("{alpha} + {beta} * {x}");
            parts.labels.covariates.push(x.clone());
            let pa = location_prior(ch, parts.style, 2.5);
            parts.priors.push(format!("{alpha} ~ {pa};"));
            let pb = location_prior(ch, parts.style, 2.5);
            parts.priors.push(format!("{beta} ~ {pb};"));
            if ch.flip(0.5) {
                let beta2 = a.fresh("beta2");
                parts.params.push(format!("real {beta2};"));
                let p2 = location_prior(ch, parts.style, 2.5);
                parts.priors.push(format!("{beta2} ~ {p2};"));
                eta = format!("{eta} + {beta2} * {x} .* {x}");
            }
            if kind == "glm_overdispersed" {
                let size = obs_size(ch, a, parts);
                let sigma = a.fresh("sigma");
                let eps = a.fresh("eps");
                parts.params.push(format!("vector[{size}] {eps};"));
                declare_scale(ch, a, parts, &sigma);
                let ps = scale_prior(ch, parts.style, 1.0);
                parts.priors.push(format!("{sigma} ~ {ps};"));
                parts.priors.push(format!("{eps} ~ normal(0, {sigma});"));
                eta = format!("{eta} + {eps}");
                parts.labels.overdispersion = "observation_effect".into();
            }
            binomial_likelihood(ch, a, parts, c, t, &eta);
        }
    }
}

fn binomial_likelihood(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    c: &str,
    t: &str,
    eta: &str,
) {
    let form = *ch.choose(&[
        (0.75, "logit"),
        ((0.25 - a.sloppiness / 2.0).max(0.0), "inv_logit"),
        (a.sloppiness / 2.0, "sloppy"),
    ]);
    parts.labels.link = if form == "sloppy" {
        "identity"
    } else {
        "logit"
    }
    .into();
    parts.labels.sloppy |= form == "sloppy";
    parts.likelihood.push(match form {
        "logit" => format!("{c} ~ binomial_logit({t}, {eta});"),
        "inv_logit" => format!("{c} ~ binomial({t}, inv_logit({eta}));"),
        // A linear predictor used directly as a probability: may leave [0, 1].
        _ => format!("{c} ~ binomial({t}, {eta});"),
    });
}

/// Regression of a real response on a predictor: linear, log, growth curves, or a GP.
fn regression(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &RealY, x: &Predictor) {
    let saturating = x.positive && x.r2_log > x.r2_linear + 0.02;
    // A predictor over orders of magnitude (body weights from grams to tonnes) is a log-scale
    // quantity whatever the straight-line fits say: a few huge values decide them.
    let log_natural = x.orders_of_magnitude;
    let wiggly = x.r2_linear.max(x.r2_log) < 0.5;
    let small = a.n_obs <= 60;
    let options = [
        (if wiggly || log_natural { 0.1 } else { 0.3 }, "linear"),
        (
            if log_natural {
                0.5
            } else if saturating {
                0.1
            } else {
                0.0
            },
            "log_linear",
        ),
        (if saturating { 0.25 } else { 0.03 }, "growth_pow"),
        (if saturating { 0.15 } else { 0.03 }, "growth_exp"),
        (if saturating { 0.1 } else { 0.03 }, "logistic"),
        (
            if wiggly && small {
                0.6
            } else if small {
                0.05
            } else {
                0.0
            },
            "gp",
        ),
    ];
    let target_y = (y.sd + y.mean_abs).max(1.0);
    let kind = *ch.choose(&options);
    parts.labels.mean = kind.into();
    parts.labels.pooling = "complete".into();
    if kind == "gp" {
        gaussian_process(ch, a, parts, y, x);
        return;
    }
    let xn = &x.name;
    let alpha = a.fresh("alpha");
    let beta = a.fresh("beta");
    parts.params.push(format!("real {alpha};"));
    let mean = match kind {
        "linear" | "log_linear" => {
            parts.params.push(format!("real {beta};"));
            let xs = if kind == "log_linear" {
                format!("log({xn})")
            } else {
                xn.clone()
            };
            format!("{alpha} + {beta} * {xs}")
        }
        "growth_pow" => {
            let lambda = a.fresh("lambda");
            parts.params.push(format!("real<lower=0> {beta};"));
            parts
                .params
                .push(format!("real<lower=0, upper=1> {lambda};"));
            let pl = *ch.choose(&[(0.5, "uniform(0, 1)"), (0.5, "beta(2, 2)")]);
            parts.priors.push(format!("{lambda} ~ {pl};"));
            let size = obs_size(ch, a, parts);
            let m = a.fresh("m");
            parts.transformed.push(format!("vector[{size}] {m};"));
            parts.transformed.push(format!("for (i in 1:{size}) {{"));
            parts.transformed.push(format!(
                "  {m}[i] = {alpha} - {beta} * pow({lambda}, {xn}[i]);"
            ));
            parts.transformed.push("}".to_string());
            m
        }
        "growth_exp" => {
            let gamma = a.fresh("gamma");
            parts.params.push(format!("real<lower=0> {beta};"));
            parts.params.push(format!("real<lower=0> {gamma};"));
            let pg = scale_prior(ch, parts.style, 1.0);
            parts.priors.push(format!("{gamma} ~ {pg};"));
            format!("{alpha} - {beta} * exp(-{gamma} * {xn})")
        }
        _ => {
            // logistic growth
            let gamma = a.fresh("gamma");
            let delta = a.fresh("delta");
            parts.params.push(format!("real<lower=0> {gamma};"));
            parts.params.push(format!("real {delta};"));
            let pg = scale_prior(ch, parts.style, 1.0);
            parts.priors.push(format!("{gamma} ~ {pg};"));
            let pd = location_prior(ch, parts.style, x.half_range);
            parts.priors.push(format!("{delta} ~ {pd};"));
            format!("{alpha} * inv_logit({gamma} * ({xn} - {delta}))")
        }
    };
    let pa = location_prior(ch, parts.style, target_y);
    parts.priors.insert(0, format!("{alpha} ~ {pa};"));
    if kind != "logistic" {
        let pb = location_prior(ch, parts.style, target_y);
        parts.priors.insert(1, format!("{beta} ~ {pb};"));
    }
    let sigma = a.fresh("sigma");
    declare_scale(ch, a, parts, &sigma);
    let ps = scale_prior(ch, parts.style, y.sd.max(0.1));
    parts.priors.push(format!("{sigma} ~ {ps};"));
    // A positive response may be modelled on the log scale (a multiplicative-error regression).
    let log_scale = y.positive
        && matches!(kind, "linear" | "log_linear")
        && ch.flip(if log_natural && kind == "log_linear" {
            0.6
        } else {
            0.2
        });
    if log_scale {
        parts.labels.family = "lognormal".into();
        parts.labels.link = "log".into();
        parts
            .likelihood
            .push(format!("{} ~ lognormal({mean}, {sigma});", y.name));
    } else {
        real_likelihood(ch, a, parts, y, &mean, &sigma);
    }
}

fn real_likelihood(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    y: &RealY,
    mean: &str,
    sigma: &str,
) {
    let family = *ch.choose(&[
        (0.8, "normal"),
        ((0.2 - a.sloppiness / 2.0).max(0.0), "student_t"),
        (a.sloppiness / 2.0, "poisson"),
    ]);
    let yn = &y.name;
    parts.labels.family = family.into();
    parts.labels.link = "identity".into();
    parts.labels.sloppy |= family == "poisson";
    if family == "student_t" {
        parts.labels.overdispersion = "student_t".into();
    }
    match family {
        "normal" => parts
            .likelihood
            .push(format!("{yn} ~ normal({mean}, {sigma});")),
        "student_t" => {
            let nu = a.fresh("nu");
            parts.params.push(format!("real<lower=1> {nu};"));
            parts.priors.push(format!("{nu} ~ gamma(2, 0.1);"));
            parts
                .likelihood
                .push(format!("{yn} ~ student_t({nu}, {mean}, {sigma});"));
        }
        // Real data under a count distribution.
        _ => parts.likelihood.push(format!("{yn} ~ poisson({mean});")),
    }
}

/// GP regression: y ~ multi_normal_cholesky(mu, cholesky(K + sigma^2 I)).
fn gaussian_process(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &RealY, x: &Predictor) {
    let (rho, alpha, sigma, mu) = (
        a.fresh("rho"),
        a.fresh("alpha"),
        a.fresh("sigma"),
        a.fresh("mu"),
    );
    parts.params.push(format!("real<lower=0> {rho};"));
    parts.labels.family = "multi_normal".into();
    parts.labels.link = "identity".into();
    declare_scale(ch, a, parts, &alpha);
    parts.params.push(format!("real<lower=0> {sigma};"));
    parts.params.push(format!("real {mu};"));
    let size = a.size.clone();
    let (k, l_k) = (a.fresh("K"), a.fresh("L_K"));
    let kernel = "gp_exp_quad_cov";
    let cov = format!("{kernel}(to_array_1d({}), {alpha}, {rho})", x.name);
    let with_noise = if ch.flip(0.6) {
        format!("add_diag({cov}, square({sigma}))")
    } else {
        format!("{cov} + diag_matrix(rep_vector(square({sigma}), {size}))")
    };
    parts
        .model_locals
        .push(format!("matrix[{size}, {size}] {k} = {with_noise};"));
    parts.model_locals.push(format!(
        "matrix[{size}, {size}] {l_k} = cholesky_decompose({k});"
    ));
    let rho_options = [
        (
            0.4,
            format!(
                "inv_gamma(5, {})",
                lit((5.0 * x.half_range / 2.0).round().max(1.0))
            ),
        ),
        (
            0.3,
            format!(
                "gamma(2, {})",
                lit(((4.0 / x.half_range) * 10.0).round().max(1.0) / 10.0)
            ),
        ),
        (
            0.3,
            format!("lognormal({}, 1)", lit((x.half_range / 2.0).ln().round())),
        ),
    ];
    let rho_prior = ch.choose(&rho_options);
    parts.priors.push(format!("{rho} ~ {rho_prior};"));
    let pa = scale_prior(ch, parts.style, y.sd.max(0.1));
    parts.priors.push(format!("{alpha} ~ {pa};"));
    let ps = scale_prior(ch, parts.style, y.sd.max(0.1));
    parts.priors.push(format!("{sigma} ~ {ps};"));
    let pm = location_prior(ch, parts.style, (y.mean_abs + y.sd).max(1.0));
    parts.priors.push(format!("{mu} ~ {pm};"));
    parts.likelihood.push(format!(
        "{} ~ multi_normal_cholesky(rep_vector({mu}, {size}), {l_k});",
        y.name
    ));
}

/// A real response with no predictor: iid normal / student_t / lognormal.
fn iid_real(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &RealY) {
    let mu = a.fresh("mu");
    let sigma = a.fresh("sigma");
    parts.params.push(format!("real {mu};"));
    declare_scale(ch, a, parts, &sigma);
    let pm = location_prior(ch, parts.style, (y.mean_abs + y.sd).max(1.0));
    parts.priors.push(format!("{mu} ~ {pm};"));
    let ps = scale_prior(ch, parts.style, y.sd.max(0.1));
    parts.priors.push(format!("{sigma} ~ {ps};"));
    parts.labels.mean = "intercept".into();
    parts.labels.pooling = "complete".into();
    if y.positive && ch.flip(0.3) {
        parts.labels.family = "lognormal".into();
        parts.labels.link = "log".into();
        parts
            .likelihood
            .push(format!("{} ~ lognormal({mu}, {sigma});", y.name));
    } else {
        real_likelihood(ch, a, parts, y, &mu, &sigma);
    }
}

/// Counts without a total: Poisson / negative binomial, with a log link on a predictor.
fn count_models(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, c: &str) {
    let alpha = a.fresh("alpha");
    parts.params.push(format!("real {alpha};"));
    let pa = location_prior(ch, parts.style, 2.5);
    parts.priors.push(format!("{alpha} ~ {pa};"));
    let mut eta = alpha.clone();
    if let Some(x) = &a.predictor {
        let beta = a.fresh("beta");
        parts.params.push(format!("real {beta};"));
        let pb = location_prior(ch, parts.style, 1.0);
        parts.priors.push(format!("{beta} ~ {pb};"));
        eta = format!("{alpha} + {beta} * {}", x.name);
        parts.labels.covariates.push(x.name.clone());
    }
    parts.labels.mean = if a.predictor.is_some() {
        "linear"
    } else {
        "intercept"
    }
    .into();
    parts.labels.link = "log".into();
    if ch.flip(0.4) {
        let b = hierarchical_effects(ch, a, parts, "b", 1.0, 1.0);
        eta = format!("{eta} + {b}");
        parts.labels.overdispersion = "observation_effect".into();
    } else {
        parts.labels.pooling = "complete".into();
    }
    if ch.flip(0.3) {
        parts.labels.family = "neg_binomial_2".into();
        parts.labels.overdispersion = "neg_binomial".into();
        let phi = a.fresh("phi");
        declare_scale(ch, a, parts, &phi);
        parts.priors.push(format!("{phi} ~ exponential(0.1);"));
        parts
            .likelihood
            .push(format!("{c} ~ neg_binomial_2_log({eta}, {phi});"));
    } else {
        parts.labels.family = "poisson".into();
        parts.likelihood.push(format!("{c} ~ poisson_log({eta});"));
    }
}

impl PriorStyle {
    fn label(self) -> &'static str {
        match self {
            PriorStyle::Normal => "normal",
            PriorStyle::HeavyTailed => "heavy_tailed",
            PriorStyle::Exponential => "exponential",
            PriorStyle::Gamma => "gamma",
        }
    }
}

/// A covariate as a term of a vectorised linear predictor (int arrays through `to_vector`).
/// `x` as it enters a linear predictor: as is when it is 0/1 or already within [-3, 3],
/// otherwise centred on the middle of its range and divided by half its range, so that it lies
/// in [-1, 1] and a coefficient's prior means the same whatever the units (a covariate in the
/// hundreds under a log link overflows `exp` at the sampler's first points otherwise).
///
/// A positive covariate spanning more than two orders of magnitude (a body weight from grams to
/// tonnes) enters through its log, centred and scaled the same way: on the raw scale a few
/// huge values would decide every fit.
///
/// With `log_positive` (a log-link model whose covariates act multiplicatively, a power law
/// such as volume ~ girth^2 height) every positive covariate enters through its log.
fn scaled(x: &Covariate, log_positive: bool) -> String {
    let v = as_vector(x);
    if x.binary || !(x.min.is_finite() && x.max.is_finite()) {
        return v;
    }
    let (v, min, max) = if x.spans_orders_of_magnitude() || (log_positive && x.min > 0.0) {
        (format!("log({v})"), x.min.ln(), x.max.ln())
    } else {
        (v, x.min, x.max)
    };
    if min >= -3.0 && max <= 3.0 {
        return v;
    }
    let mid = round_to(0.5 * (min + max), 3);
    let half = round_to(((max - min) / 2.0).max(1e-3), 2);
    if mid == 0.0 {
        format!("({v} / {})", lit(half))
    } else if mid > 0.0 {
        format!("(({v} - {}) / {})", lit(mid), lit(half))
    } else {
        format!("(({v} + {}) / {})", lit(-mid), lit(half))
    }
}

/// `x` rounded to `digits` significant digits.
fn round_to(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let p = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * p).round() / p
}

fn as_vector(x: &Covariate) -> String {
    if x.is_int {
        format!("to_vector({})", x.name)
    } else {
        x.name.clone()
    }
}

/// Varying effects over a grouping's levels: non-centred `sigma * z` or centred
/// `normal(0, sigma)`; returns the effects' name.
fn varying_effects(
    ch_centred: bool,
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    (prefix, group): (&str, &str),
    levels: &str,
    scale_target: f64,
) -> String {
    let effects = a.param_for(prefix, group);
    let sigma = a.param_for(&format!("sigma_{prefix}"), group);
    declare_scale(ch, a, parts, &sigma);
    let ps = scale_prior(ch, parts.style, scale_target);
    parts.priors.push(format!("{sigma} ~ {ps};"));
    if ch_centred {
        parts.params.push(format!("vector[{levels}] {effects};"));
        parts
            .priors
            .push(format!("{effects} ~ normal(0, {sigma});"));
    } else {
        let z = a.param_for(&format!("z_{prefix}"), group);
        parts.params.push(format!("vector[{levels}] {z};"));
        parts
            .transformed
            .push(format!("vector[{levels}] {effects} = {sigma} * {z};"));
        parts.priors.push(format!("{z} ~ std_normal();"));
    }
    effects
}

/// Fixed effects of a grouping: the first level the baseline (0), the others free with a
/// weakly informative prior; returns the name of the vector of `levels` effects.
fn fixed_effects(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    group: &str,
    levels: &str,
    scale_target: f64,
) -> String {
    let contrasts = a.param_for("b_", group);
    let effects = a.param_for("e_", group);
    parts
        .params
        .push(format!("vector[{levels} - 1] {contrasts};"));
    let pb = location_prior(ch, parts.style, scale_target);
    parts.priors.push(format!("{contrasts} ~ {pb};"));
    parts.transformed.push(format!(
        "vector[{levels}] {effects} = append_row(0, {contrasts});"
    ));
    effects
}

/// Groupings with at most this many levels may enter as fixed effects.
const FEW_LEVELS: usize = 4;

/// The linear predictor of a generalised linear (mixed) model for `r`: an intercept, the
/// covariates, varying intercepts per grouping and varying slopes; returns it as an expression
/// of length `r.size`.
/// Groupings a linear predictor takes at most (factorial designs beyond this are rare and each
/// grouping is a variance to learn).
const MAX_GROUPINGS: usize = 4;

fn linear_predictor(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    r: &Response,
    link: &str,
    structured: bool,
) -> String {
    let schema = a.schema;
    let (intercept_target, coef_target, effect_target) = match link {
        "log" => (r.mean.abs().max(1e-3).ln().abs() + 1.0, 1.0, 1.0),
        "logit" => (2.5, 2.5, 1.0),
        _ => ((r.mean.abs() + r.sd).max(1.0), r.sd.max(0.1), r.sd.max(0.1)),
    };
    let alpha = a.fresh("alpha");
    parts.params.push(format!("real {alpha};"));
    // An identity-link mean far from zero (diameters around 23 mm with sd 2) gets an intercept
    // prior centred on the response's mean, as brms does: one centred on 0 would fight the data
    // and leave the varying effects to carry the level.
    let pa = if link == "identity" && r.mean.abs() > 2.0 * r.sd {
        let centre = round_to(r.mean, 2);
        location_prior_at(ch, parts.style, centre, (2.5 * r.sd).max(0.1))
    } else {
        location_prior(ch, parts.style, intercept_target)
    };
    parts.priors.push(format!("{alpha} ~ {pa};"));
    let mut terms = vec![alpha];
    if !structured {
        parts.labels.mean = "intercept".into();
        parts.labels.pooling = "complete".into();
        return terms.remove(0);
    }
    let vectors: Vec<&Covariate> = schema
        .covariates
        .iter()
        .filter(|c| !c.is_matrix())
        .collect();
    let matrices: Vec<&Covariate> = schema.covariates.iter().filter(|c| c.is_matrix()).collect();
    let used: Vec<&Covariate> = if vectors.len() > 1 && !ch.flip(0.8) {
        vectors[..1].to_vec()
    } else {
        vectors.clone()
    };
    // Under a log link, positive covariates may act as powers (log-log, elasticities); likelier
    // when the response already lies on a log-log line in one of them.
    let powers: Vec<&&Covariate> = used
        .iter()
        .filter(|x| !x.binary && x.min > 0.0 && !x.spans_orders_of_magnitude())
        .collect();
    let log_positive = link == "log"
        && !powers.is_empty()
        && ch.flip(if powers.iter().any(|x| x.multiplicative()) {
            0.8
        } else {
            0.4
        });
    if log_positive {
        parts.labels.covariate_scale = "log".into();
    }
    // A count's exposure may enter as the offset log(exposure): a rate per unit of it.
    let offset = used
        .iter()
        .find(|x| x.exposure && link == "log")
        .filter(|_| ch.flip(0.5))
        .map(|x| x.name.clone());
    if !used.is_empty() || !matrices.is_empty() {
        // One prior scale for every coefficient.
        let pb = location_prior(ch, parts.style, coef_target);
        for x in &used {
            if offset.as_ref() == Some(&x.name) {
                terms.push(format!("log({})", as_vector(x)));
                parts.labels.covariates.push(x.name.clone());
                parts.labels.offset = x.name.clone();
                continue;
            }
            let beta = a.param_for("beta_", &x.name);
            parts.params.push(format!("real {beta};"));
            parts.priors.push(format!("{beta} ~ {pb};"));
            terms.push(format!("{beta} * {}", scaled(x, log_positive)));
            parts.labels.covariates.push(x.name.clone());
        }
        for m in &matrices {
            let cols = m.columns.clone().unwrap_or_default();
            let beta = a.param_for("beta_", &m.name);
            parts.params.push(format!("vector[{cols}] {beta};"));
            parts.priors.push(format!("{beta} ~ {pb};"));
            terms.push(format!("{} * {beta}", m.name));
            parts.labels.covariates.push(m.name.clone());
        }
    }
    parts.labels.mean = if terms.len() > 1 {
        "linear"
    } else {
        "intercept"
    }
    .into();
    parts.labels.pooling = "complete".into();
    if !schema.groupings.is_empty() {
        let centred = ch.flip(0.3);
        let groupings = &schema.groupings[..schema.groupings.len().min(MAX_GROUPINGS)];
        // A variance learnt from two to four levels is mostly prior, and its funnel makes
        // divergences: such factors (sex, treatment arm, age band) are usually fixed effects.
        let fixed_few = groupings.iter().any(|g| g.n_levels <= FEW_LEVELS) && ch.flip(0.75);
        let is_fixed = |g: &Grouping| fixed_few && g.n_levels <= FEW_LEVELS;
        if groupings.iter().any(|g| !is_fixed(g)) {
            parts.labels.parameterization = if centred { "centred" } else { "non_centred" }.into();
            parts.labels.pooling = "partial".into();
        }
        for g in groupings {
            if is_fixed(g) {
                let effects = fixed_effects(ch, a, parts, &g.name, &g.levels, effect_target);
                terms.push(format!("{effects}[{}]", g.name));
                parts.labels.fixed_groupings.push(g.name.clone());
                continue;
            }
            let effects = varying_effects(
                centred,
                ch,
                a,
                parts,
                ("a_", &g.name),
                &g.levels,
                effect_target,
            );
            terms.push(format!("{effects}[{}]", g.name));
            parts.labels.groupings.push(g.name.clone());
        }
        // Varying slopes of the first grouping, for a used covariate that varies within groups.
        let g = &schema.groupings[0];
        if let Some(x) = used.iter().find(|x| {
            !is_fixed(g) && g.varying.contains(&x.name) && offset.as_ref() != Some(&x.name)
        }) {
            if ch.flip(0.35) {
                let slopes = varying_effects(
                    centred,
                    ch,
                    a,
                    parts,
                    ("b_", &g.name),
                    &g.levels,
                    coef_target,
                );
                terms.push(format!(
                    "{slopes}[{}] .* {}",
                    g.name,
                    scaled(x, log_positive)
                ));
                parts.labels.varying_slopes.push(x.name.clone());
            }
        }
    }
    if schema
        .time
        .as_ref()
        .is_some_and(|t| used.iter().any(|x| &x.name == t))
    {
        parts.labels.time = "trend".into();
    }
    terms.join(" + ")
}

/// An observation-level effect `eps ~ normal(0, sigma)` added to `eta`.
fn observation_effect(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    r: &Response,
    eta: &str,
) -> String {
    let sigma = a.fresh("sigma_eps");
    declare_scale(ch, a, parts, &sigma);
    let ps = scale_prior(ch, parts.style, 1.0);
    parts.priors.push(format!("{sigma} ~ {ps};"));
    parts.labels.overdispersion = "observation_effect".into();
    // Non-centred by default: data with little overdispersion push sigma towards 0, where the
    // centred effects make a funnel NUTS cannot cross.
    if ch.flip(0.7) {
        let z = a.fresh("z_eps");
        parts.params.push(format!("vector[{}] {z};", r.size));
        parts.priors.push(format!("{z} ~ std_normal();"));
        format!("{eta} + {sigma} * {z}")
    } else {
        let eps = a.fresh("eps");
        parts.params.push(format!("vector[{}] {eps};", r.size));
        parts.priors.push(format!("{eps} ~ normal(0, {sigma});"));
        format!("{eta} + {eps}")
    }
}

/// A generalised linear (mixed) model of response `r` with the likelihood its kind calls for;
/// `structured` = with the schema's covariates and groupings (false: intercept only).
fn glm(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, r: &Response, structured: bool) {
    let y = &r.name;
    match r.kind {
        ResponseKind::Real | ResponseKind::Positive => {
            let (normal_w, t_w) = if r.heavy_tailed() {
                (0.4, 0.6)
            } else {
                (0.75, 0.25)
            };
            // A response that follows a power of a covariate is multiplicative: a log link
            // (lognormal or gamma) with that covariate's log writes it as a straight line.
            let multiplicative = a.schema.covariates.iter().any(|x| x.multiplicative());
            let (ln_w, gamma_w) = match (r.kind, r.skewed() || multiplicative) {
                (ResponseKind::Positive, true) => (0.45, 0.35),
                (ResponseKind::Positive, false) => (0.15, 0.1),
                _ => (0.0, 0.0),
            };
            let rest = 1.0 - ln_w - gamma_w;
            let family = *ch.choose(&[
                (rest * normal_w, "normal"),
                (rest * t_w, "student_t"),
                (ln_w, "lognormal"),
                (gamma_w, "gamma"),
            ]);
            let link = if matches!(family, "normal" | "student_t") {
                "identity"
            } else {
                "log"
            };
            let eta = linear_predictor(ch, a, parts, r, link, structured);
            parts.labels.family = family.into();
            parts.labels.link = link.into();
            let sigma = a.fresh("sigma");
            match family {
                "gamma" => {
                    let phi = a.fresh("phi");
                    declare_scale(ch, a, parts, &phi);
                    parts.priors.push(format!("{phi} ~ gamma(2, 0.1);"));
                    parts
                        .likelihood
                        .push(format!("{y} ~ gamma({phi}, {phi} * exp(-({eta})));"));
                    return;
                }
                _ => {
                    declare_scale(ch, a, parts, &sigma);
                    let target = if family == "lognormal" {
                        1.0
                    } else {
                        r.sd.max(0.1)
                    };
                    let ps = scale_prior(ch, parts.style, target);
                    parts.priors.push(format!("{sigma} ~ {ps};"));
                }
            }
            let dist_args = |mean: &str| match family {
                "student_t" => {
                    let nu = a.fresh("nu");
                    (format!("student_t({nu}, {mean}, {sigma})"), Some(nu))
                }
                "lognormal" => (format!("lognormal({mean}, {sigma})"), None),
                _ => (format!("normal({mean}, {sigma})"), None),
            };
            // AR(1) on the residual of a time-indexed normal response.
            // A series with memory (lag-1 autocorrelation above 0.5) makes AR(1) likelier.
            let ar = structured
                && family == "normal"
                && a.schema.time.is_some()
                && a.schema.groupings.is_empty()
                && ch.flip(if r.autocorrelation > 0.5 { 0.6 } else { 0.3 });
            if ar {
                let (mu, rho) = (a.fresh("mu"), a.fresh("rho"));
                parts.params.push(format!("real<lower=-1, upper=1> {rho};"));
                parts.priors.push(format!("{rho} ~ normal(0, 0.5);"));
                parts
                    .model_locals
                    .push(format!("vector[{}] {mu} = {eta};", r.size));
                parts
                    .likelihood
                    .push(format!("{y}[1] ~ normal({mu}[1], {sigma});"));
                let n = a.fresh("n");
                parts.likelihood.push(format!(
                    "for ({n} in 2:{}) {y}[{n}] ~ normal({mu}[{n}] + {rho} * ({y}[{n} - 1] - {mu}[{n} - 1]), {sigma});",
                    r.size
                ));
                parts.labels.time = "ar1".into();
                return;
            }
            let (dist, nu) = dist_args(&eta);
            if let Some(nu) = nu {
                parts.params.push(format!("real<lower=1> {nu};"));
                parts.priors.push(format!("{nu} ~ gamma(2, 0.1);"));
                parts.labels.overdispersion = "student_t".into();
            }
            parts.likelihood.push(format!("{y} ~ {dist};"));
        }
        // Far below a Poisson's variance (a third of the mean), a count likelihood is the
        // wrong family; below half, likely so.
        ResponseKind::Count
            if r.underdispersed() && ch.flip(if r.dispersion < 0.3 { 0.8 } else { 0.5 }) =>
        {
            // A continuous likelihood for whole numbers a count likelihood cannot fit.
            let as_real = Response {
                kind: ResponseKind::Real,
                ..r.clone()
            };
            glm(ch, a, parts, &as_real, structured);
        }
        ResponseKind::Count => {
            let (p_w, nb_w, eps_w) = if r.overdispersed() {
                (0.2, 0.5, 0.3)
            } else {
                (0.6, 0.25, 0.15)
            };
            let family = *ch.choose(&[
                (p_w, "poisson"),
                (nb_w, "neg_binomial_2"),
                (eps_w, "observation_effect"),
            ]);
            let mut eta = linear_predictor(ch, a, parts, r, "log", structured);
            parts.labels.link = "log".into();
            match family {
                "neg_binomial_2" => {
                    let phi = a.fresh("phi");
                    declare_scale(ch, a, parts, &phi);
                    parts.priors.push(format!("{phi} ~ exponential(0.1);"));
                    parts
                        .likelihood
                        .push(format!("{y} ~ neg_binomial_2_log({eta}, {phi});"));
                    parts.labels.family = "neg_binomial_2".into();
                    parts.labels.overdispersion = "neg_binomial".into();
                }
                _ => {
                    if family == "observation_effect" {
                        eta = observation_effect(ch, a, parts, r, &eta);
                    }
                    parts.likelihood.push(format!("{y} ~ poisson_log({eta});"));
                    parts.labels.family = "poisson".into();
                }
            }
        }
        ResponseKind::Binary => {
            let eta = linear_predictor(ch, a, parts, r, "logit", structured);
            parts.labels.family = "bernoulli".into();
            parts.labels.link = "logit".into();
            parts
                .likelihood
                .push(format!("{y} ~ bernoulli_logit({eta});"));
        }
        ResponseKind::Successes => {
            let t = r.trials.clone().unwrap_or_default();
            let mut eta = linear_predictor(ch, a, parts, r, "logit", structured);
            parts.labels.family = "binomial".into();
            parts.labels.link = "logit".into();
            if ch.flip(0.35) {
                eta = observation_effect(ch, a, parts, r, &eta);
            }
            parts
                .likelihood
                .push(format!("{y} ~ binomial_logit({t}, {eta});"));
        }
    }
}

/// One derivation of the grammar: the program text after the data block and its labels.
fn derive(ch: &mut Chooser, a: &Analysis) -> (String, Labels) {
    let mut parts = Parts {
        style: *ch.choose(&PRIOR_STYLES),
        ..Parts::default()
    };
    parts.labels.prior_style = parts.style.label().into();
    let schema = a.schema;
    let r = schema.response();
    let simple = schema.groupings.is_empty() && !schema.covariates.iter().any(Covariate::is_matrix);
    let vectors = schema.covariates.len();
    match (&a.response, &a.known_scale, &a.binomial, &a.predictor) {
        (Some(y), Some(s), _, _) => measurement_error(ch, a, &mut parts, y, s),
        (_, _, Some((c, t)), x) if simple && (vectors == 0 || (vectors == 1 && x.is_some())) => {
            binomial_models(ch, a, &mut parts, c, t)
        }
        (Some(y), None, None, Some(x)) if simple => {
            // One real predictor: the curve family; more covariates or a time index: also the
            // linear model in all of them.
            // A small design over a time-like index whose response no line fits is the Gaussian
            // process's ground, whatever its memory or other covariates.
            let gp_ground = x.r2_linear.max(x.r2_log) < 0.5 && a.n_obs <= 60;
            let glm_weight = if schema.time.is_some() && gp_ground {
                0.2
            } else if vectors > 1 {
                // Several covariates: mostly the model in all of them, a curve in one at times.
                0.7
            } else if schema.time.is_none() {
                0.0
            } else if r.autocorrelation > 0.5 {
                // A series with memory: the linear model is where AR(1) errors are written.
                0.7
            } else {
                0.5
            };
            if ch.flip(glm_weight) {
                glm(ch, a, &mut parts, r, true);
            } else {
                parts.labels.covariates.push(x.name.clone());
                regression(ch, a, &mut parts, y, x);
            }
        }
        (Some(y), None, None, None) if simple && vectors == 0 => iid_real(ch, a, &mut parts, y),
        (None, None, None, x)
            if simple
                && r.kind == ResponseKind::Count
                && !r.underdispersed()
                && (vectors == 0 || (vectors == 1 && x.is_some())) =>
        {
            count_models(ch, a, &mut parts, &r.name)
        }
        _ => glm(ch, a, &mut parts, r, true),
    }
    // Further responses: their own intercept-only model each.
    for other in &schema.responses[1..] {
        let mut extra = Parts {
            style: parts.style,
            ..Parts::default()
        };
        glm(ch, a, &mut extra, other, false);
        rename_into(&mut parts, extra, &other.name);
    }
    (parts.render(), parts.labels)
}

/// Merge a further response's parts into `parts`, its parameter names suffixed by the response's
/// name so they do not clash.
fn rename_into(parts: &mut Parts, extra: Parts, response: &str) {
    let names: Vec<String> = extra
        .params
        .iter()
        .chain(&extra.transformed)
        .filter_map(|line| {
            line.split(';')
                .next()
                .and_then(|decl| decl.split('=').next())
                .and_then(|decl| decl.split_whitespace().last())
                .map(str::to_string)
        })
        .collect();
    let rename = |line: &String| -> String {
        let mut out = String::new();
        let mut word = String::new();
        let flush = |word: &mut String, out: &mut String| {
            if names.contains(word) {
                out.push_str(&format!("{word}_{response}"));
            } else {
                out.push_str(word);
            }
            word.clear();
        };
        for c in line.chars() {
            if c.is_alphanumeric() || c == '_' {
                word.push(c);
            } else {
                flush(&mut word, &mut out);
                out.push(c);
            }
        }
        flush(&mut word, &mut out);
        out
    };
    parts.params.extend(extra.params.iter().map(rename));
    parts
        .transformed
        .extend(extra.transformed.iter().map(rename));
    parts
        .model_locals
        .extend(extra.model_locals.iter().map(rename));
    parts.priors.extend(extra.priors.iter().map(rename));
    parts.likelihood.extend(extra.likelihood.iter().map(rename));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::SchemaOptions;
    use refinestat_language::{analysis::modelled_variables, check, parse, Data};

    fn all(json: &str) -> (Data, Vec<Structure>) {
        let data = Data::from_json_str(json).unwrap();
        let schema = Schema::infer(&data, &SchemaOptions::default()).unwrap();
        let s = structures(&schema, &GrammarConfig::default());
        (data, s)
    }

    /// Every structure checks with the data and models the response; returns the texts.
    fn checked(json: &str, response: &str) -> Vec<Structure> {
        let (data, s) = all(json);
        assert!(!s.is_empty());
        let block = crate::profile::data_block(&data);
        let total: f64 = s.iter().map(|x| x.weight).sum();
        assert!((total - 1.0).abs() < 1e-9);
        for st in &s {
            let program = format!("{block}{}", st.text);
            let violations = check(&program, Some(&data));
            assert!(violations.is_empty(), "{program}\n{violations:?}");
            let modelled = modelled_variables(&parse(&program).program);
            assert!(modelled.contains(response), "{program}");
        }
        s
    }

    #[test]
    fn poisson_regression_structures_model_the_counts() {
        let s = checked(
            r#"{"N": 6, "x": [0.1, 0.5, -0.3, 1.2, 0.8, -1.0], "y": [1, 3, 0, 7, 4, 0]}"#,
            "y",
        );
        assert!(s.iter().all(|x| x.labels.link == "log"));
        assert!(s
            .iter()
            .any(|x| x.text.contains("poisson_log(alpha + beta * x)")));
    }

    #[test]
    fn binary_response_gets_a_logit_model() {
        let s = checked(
            r#"{"N": 6, "x": [0.1, 0.5, -0.3, 1.2, 0.8, -1.0], "y": [0, 1, 0, 1, 1, 0]}"#,
            "y",
        );
        assert!(s.iter().all(|x| x.labels.family == "bernoulli"));
        assert!(s.iter().all(|x| x.text.contains("y ~ bernoulli_logit(")));
    }

    #[test]
    fn grouped_data_gets_varying_intercepts() {
        let s = checked(
            r#"{"N": 10, "J": 5, "group": [1, 1, 2, 2, 2, 3, 3, 4, 5, 5], "x": [0.5, 1, 0.2, 0.3, 0.9, 1.1, 0.4, 0.8, 0.6, 0.1], "y": [0.1, 0.3, 2.1, 2.5, 1.9, -1, -0.8, -1.2, 0.4, 0.9]}"#,
            "y",
        );
        assert!(s.iter().all(|x| x.text.contains("[group]")));
        assert!(s.iter().all(|x| x.labels.fixed_groupings.is_empty()));
        assert!(s.iter().all(|x| x.labels.pooling == "partial"));
        let weight = |p: &str| -> f64 {
            s.iter()
                .filter(|x| x.labels.parameterization == p)
                .map(|x| x.weight)
                .sum()
        };
        assert!(weight("non_centred") > weight("centred") && weight("centred") > 0.0);
        assert!(s.iter().any(|x| x.labels.varying_slopes == ["x"]));
    }

    #[test]
    fn crossed_groupings_and_overdispersed_counts() {
        let s = checked(
            r#"{"N": 8, "J": 2, "K": 4, "a": [1, 2, 1, 2, 1, 2, 1, 2], "b": [1, 1, 2, 2, 3, 3, 4, 4], "y": [0, 12, 3, 40, 1, 25, 0, 60]}"#,
            "y",
        );
        // Two and four levels: fixed effects (the first level the baseline) three times in four.
        let mut fixed = 0.0;
        for x in &s {
            let mut all = x.labels.groupings.clone();
            all.extend(x.labels.fixed_groupings.iter().cloned());
            all.sort();
            assert_eq!(all, ["a", "b"], "{}", x.text);
            if x.labels.fixed_groupings == ["a", "b"] {
                assert!(x.text.contains("vector[J - 1] b_a;"), "{}", x.text);
                assert!(x.text.contains("append_row(0, b_a)"), "{}", x.text);
                assert!(x.text.contains("e_b[b]"), "{}", x.text);
                assert!(x.labels.groupings.is_empty() && x.labels.pooling == "complete");
                fixed += x.weight;
            }
        }
        assert!((fixed - 0.75).abs() < 0.05, "{fixed}");
        let nb: f64 = s
            .iter()
            .filter(|x| x.labels.family == "neg_binomial_2")
            .map(|x| x.weight)
            .sum();
        assert!(nb > 0.4, "{nb}");
    }

    #[test]
    fn underdispersed_whole_numbers_also_get_a_normal_likelihood() {
        // Whole millimetres around 23 with variance about 2: no count likelihood fits them.
        let json = r#"{"N": 8, "J": 2, "g": [1, 1, 1, 1, 2, 2, 2, 2], "y": [23, 24, 22, 23, 25, 24, 26, 25]}"#;
        let s = checked(json, "y");
        let normal: f64 = s
            .iter()
            .filter(|x| x.labels.family == "normal")
            .map(|x| x.weight)
            .sum();
        assert!((0.3..0.7).contains(&normal), "{normal}");
        // Their intercept's prior is centred on the mean (24), not on 0.
        for x in s.iter().filter(|x| x.labels.link == "identity") {
            assert!(
                x.text.contains("alpha ~ normal(24, ")
                    || x.text.contains("alpha ~ student_t(3, 24, "),
                "{}",
                x.text
            );
        }
        // Ordinary counts keep count likelihoods only.
        let s = checked(r#"{"N": 6, "y": [0, 3, 1, 7, 2, 12]}"#, "y");
        assert!(s.iter().all(|x| x.labels.family != "normal"));
    }

    #[test]
    fn positive_covariates_of_a_log_link_model_may_act_as_powers() {
        // Volume grows as girth^2 height: two positive covariates within one order of magnitude.
        let json = r#"{"N": 8, "girth": [8.3, 10.5, 11.0, 12.9, 13.8, 16.3, 17.9, 20.6], "height": [70, 72, 66, 74, 64, 77, 80, 87], "y": [10.3, 16.4, 15.6, 22.2, 24.2, 42.6, 58.3, 77.0]}"#;
        let s = checked(json, "y");
        let power: Vec<&Structure> = s
            .iter()
            .filter(|x| x.labels.covariate_scale == "log")
            .collect();
        assert!(!power.is_empty());
        for x in &power {
            assert_eq!(x.labels.link, "log");
            assert!(!x.labels.covariates.is_empty());
            for c in &x.labels.covariates {
                let logged = [format!("log({c})"), format!("log(to_vector({c}))")];
                assert!(logged.iter().any(|l| x.text.contains(l)), "{}", x.text);
            }
        }
        let weight: f64 = power.iter().map(|x| x.weight).sum();
        assert!((0.05..0.5).contains(&weight), "{weight}");
    }

    #[test]
    fn a_series_with_memory_makes_ar1_likelier() {
        let ar1 = |json: &str| -> f64 {
            checked(json, "y")
                .iter()
                .filter(|x| x.labels.time == "ar1")
                .map(|x| x.weight)
                .sum()
        };
        let smooth = ar1(
            r#"{"T": 8, "t": [1, 2, 3, 4, 5, 6, 7, 8], "y": [0.1, 0.3, 0.6, 0.8, 0.7, 0.4, 0.2, 0.1]}"#,
        );
        let rough = ar1(
            r#"{"T": 8, "t": [1, 2, 3, 4, 5, 6, 7, 8], "y": [0.1, 0.8, 0.2, 0.7, 0.1, 0.9, 0.3, 0.6]}"#,
        );
        assert!(smooth > 1.5 * rough, "{smooth} vs {rough}");
    }

    #[test]
    fn counts_with_an_exposure_and_three_factors() {
        let json = r#"{"N": 8, "J_District": 2, "J_Group": 2, "J_Age": 2,
            "District": [1, 1, 1, 1, 2, 2, 2, 2], "Group": [1, 1, 2, 2, 1, 1, 2, 2],
            "Age": [1, 2, 1, 2, 1, 2, 1, 2], "Holders": [197, 264, 246, 1680, 12, 25, 30, 400],
            "Claims": [38, 35, 20, 156, 2, 5, 4, 40]}"#;
        // Three factors make tens of thousands of structures: every one is checked for its
        // labels, the heaviest (and the heaviest with the offset) through the language's check.
        let (data, s) = all(json);
        let block = crate::profile::data_block(&data);
        let offsets = s.iter().filter(|x| !x.labels.offset.is_empty()).take(30);
        for x in s.iter().take(30).chain(offsets) {
            let program = format!("{block}{}", x.text);
            assert!(check(&program, Some(&data)).is_empty(), "{program}");
            assert!(modelled_variables(&parse(&program).program).contains("Claims"));
        }
        // Every factor, each effect sized by its own level count.
        for x in &s {
            let mut groupings = x.labels.groupings.clone();
            groupings.extend(x.labels.fixed_groupings.iter().cloned());
            groupings.sort();
            assert_eq!(groupings, ["Age", "District", "Group"], "{}", x.text);
            for g in ["District", "Group", "Age"] {
                assert!(
                    !x.text.contains(&format!("[J_{g}] a_{}", other(g))),
                    "{}",
                    x.text
                );
            }
        }
        let offset: f64 = s
            .iter()
            .filter(|x| x.labels.offset == "Holders")
            .inspect(|x| assert!(x.text.contains("+ log(to_vector(Holders))"), "{}", x.text))
            .map(|x| x.weight)
            .sum();
        assert!((0.2..0.8).contains(&offset), "{offset}");
    }

    /// A grouping name that is not `g`.
    fn other(g: &str) -> &'static str {
        if g == "Age" {
            "District"
        } else {
            "Age"
        }
    }

    #[test]
    fn parameter_names_fit_the_decoders_bound() {
        let json = r#"{"N": 6, "J_Province_Region": 2, "Province_Region": [1, 1, 1, 2, 2, 2],
            "Infant_Mortality": [20.1, 22.5, 18.3, 24.1, 19.0, 21.2],
            "Infant_Mortality_Rate": [2.1, 2.5, 1.3, 2.1, 1.0, 1.2],
            "y": [70.1, 80.2, 75.3, 60.4, 66.5, 71.6]}"#;
        let (data, s) = all(json);
        let block = crate::profile::data_block(&data);
        for x in s.iter().take(20) {
            let program = format!("{block}{}", x.text);
            assert!(check(&program, Some(&data)).is_empty(), "{program}");
        }
        for x in &s {
            for word in x
                .text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("beta_") || w.contains("_a_") || w.starts_with("a_"))
            {
                assert!(word.len() <= MAX_PARAMETER_NAME, "{word} in {}", x.text);
            }
        }
        // Two long covariates sharing their first characters keep distinct coefficients.
        assert!(s.iter().any(|x| {
            let betas: BTreeSet<&str> = x
                .text
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("beta_Infant"))
                .collect();
            betas.len() == 2
        }));
    }

    #[test]
    fn skewed_positive_and_design_matrix() {
        let s = checked(
            r#"{"N": 6, "K": 2, "X": [[1, 0.5], [0.2, 1], [0.3, 0.3], [1, 1], [0.1, 2], [2, 0.1]], "y": [0.5, 1.2, 30.0, 2.2, 0.9, 80.0]}"#,
            "y",
        );
        assert!(s.iter().all(|x| x.text.contains("X * beta_X")));
        let skewed: f64 = s
            .iter()
            .filter(|x| matches!(x.labels.family.as_str(), "lognormal" | "gamma"))
            .map(|x| x.weight)
            .sum();
        assert!(skewed > 0.5, "{skewed}");
    }

    #[test]
    fn successes_with_covariates_and_a_time_series() {
        checked(
            r#"{"N": 5, "n": [10, 12, 8, 20, 15], "r": [3, 0, 2, 9, 7], "x": [0.1, 0.4, 0.2, 0.9, 0.5], "w": [1, 0, 1, 1, 0]}"#,
            "r",
        );
        let s = checked(
            r#"{"T": 6, "t": [1, 2, 3, 4, 5, 6], "y": [0.3, 0.5, 0.4, 0.9, 1.2, 1.1]}"#,
            "y",
        );
        assert!(s.iter().any(|x| x.labels.time == "ar1"));
    }
}
