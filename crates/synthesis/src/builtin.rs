//! The built-in proposal model: a weighted probabilistic grammar over the Stan subset, with
//! weights read from the data, that needs no trained weights.
//!
//! The grammar writes the part after the data block: `parameters`, `transformed parameters` and
//! `model`. Its choices are model families (measurement error with known scales, hierarchical
//! centered / non-centered pooling, binomial and Poisson GLMs with logit / log links, nonlinear
//! growth curves such as `alpha - beta * pow(lambda, x)`, Gaussian processes with
//! `gp_exp_quad_cov` + `cholesky_decompose` + `multi_normal_cholesky`), likelihoods, priors and
//! their scales. Every choice is weighted by what the data shows, never by a dataset's name:
//! ints vs reals, counts vs {0,1}, a count array bounded by a same-length "total" array
//! (binomial), signs, a positive array named like a scale beside a real response (known
//! standard errors), size scalars, the spread of the response, and how well a straight line,
//! a log curve or neither fits the response against a predictor.
//!
//! The grammar is finite (no recursion), so it is expanded once into its weighted derivations,
//! each lexed into tokens of a lexeme vocabulary (keywords, names in scope, operators,
//! punctuation, a small set of numeric literals, whitespace). The next-token distribution is
//! exact: the weight of the derivations that continue the tokens so far, grouped by their next
//! token. Whatever the decoder accepted is followed: a token no derivation continues with is taken
//! as a substitution for the likeliest planned token, so the plan carries on after it. A small
//! noise floor gives every token non-zero probability.
//!
//! The grammar is deliberately a little sloppy (a scale declared without `<lower=0>`, a
//! likelihood whose support does not fit the data, an undeclared size name) with probability
//! [`BuiltinConfig::sloppiness`], the kinds of mistake a language model makes; unconstrained
//! decoding keeps them and constrained decoding removes them.

use crate::prompt::{DataProfile, VarProfile};
use refinestat_language::Data;
use refinestat_proposal::{ProposalError, ProposalModel, TokenId, Vocabulary};
use std::collections::{BTreeMap, BTreeSet};

/// Settings of the built-in model.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinConfig {
    /// Probability mass spread evenly over the whole vocabulary at every step (default 1e-3).
    pub noise: f64,
    /// Weight of each deliberately sloppy alternative (default 0.08).
    pub sloppiness: f64,
    /// Derivations kept at most; the lightest are dropped beyond it (default 50 000).
    pub max_derivations: usize,
    /// Derivations less probable than this are never written (default 1e-6).
    pub min_weight: f64,
}

impl Default for BuiltinConfig {
    fn default() -> BuiltinConfig {
        BuiltinConfig {
            noise: 1e-3,
            sloppiness: 0.08,
            max_derivations: 50_000,
            min_weight: 1e-6,
        }
    }
}

/// The built-in weighted grammar as a [`ProposalModel`].
#[derive(Debug, Clone)]
pub struct BuiltinModel {
    vocabulary: Vocabulary,
    /// Derivations as token ids, sorted; end-of-program is implicit after the last token.
    programs: Vec<Vec<TokenId>>,
    /// Normalised weight of each derivation.
    weights: Vec<f64>,
    noise: f64,
}

// ---------------------------------------------------------------------------------------------
// Lexing program text into vocabulary tokens.

const MULTI_CHAR_OPS: &[&str] = &[
    "+=", "-=", "*=", "/=", "<=", ">=", "==", "!=", ".*", "./", "&&", "||",
];

/// Split program text into lexemes: names, numbers, operators, punctuation, and whitespace runs
/// (a newline with its indentation is one token).
pub fn lex(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c == b'\n' {
            i += 1;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
        } else if c == b' ' || c == b'\t' {
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
        } else if let Some(op) = MULTI_CHAR_OPS.iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(text[start..i].to_string());
    }
    out
}

/// Lexemes every builtin vocabulary has, beyond the ones its derivations use, so that other
/// continuations are expressible (and an adversarial sampler has real choices).
const BASE_LEXEMES: &[&str] = &[
    "parameters",
    "transformed",
    "model",
    "generated",
    "quantities",
    "data",
    "real",
    "int",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "simplex",
    "ordered",
    "cholesky_factor_corr",
    "lower",
    "upper",
    "offset",
    "multiplier",
    "for",
    "in",
    "if",
    "else",
    "while",
    "target",
    "normal",
    "std_normal",
    "student_t",
    "cauchy",
    "lognormal",
    "exponential",
    "gamma",
    "inv_gamma",
    "beta",
    "uniform",
    "poisson",
    "poisson_log",
    "binomial",
    "binomial_logit",
    "bernoulli_logit",
    "neg_binomial_2_log",
    "multi_normal_cholesky",
    "exp",
    "log",
    "sqrt",
    "square",
    "pow",
    "inv_logit",
    "sum",
    "mean",
    "rep_vector",
    "to_array_1d",
    "cholesky_decompose",
    "gp_exp_quad_cov",
    "add_diag",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    ";",
    ",",
    ":",
    "=",
    "~",
    "+",
    "-",
    "*",
    "/",
    "^",
    "'",
    ".*",
    "./",
    "+=",
    "0",
    "1",
    "2",
    "3",
    "5",
    "10",
    "100",
    "0.5",
    "2.5",
    " ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
];

/// The end-of-program token's text in the vocabulary (never emitted).
pub const EOS_TEXT: &str = "</s>";

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
}

impl Chooser {
    fn pick(&mut self, weights: &[f64]) -> usize {
        let pos = self.points.len();
        let index = match self.script.get(pos) {
            Some(&i) => i,
            None => {
                let first = weights.iter().position(|&w| w > 0.0).unwrap_or(0);
                self.script.push(first);
                first
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

/// What the grammar knows about the data.
struct Analysis {
    data_names: BTreeSet<String>,
    /// Real response, with its spread and mean.
    response: Option<Response>,
    /// Count response bounded by a total: (count, total).
    binomial: Option<(String, String)>,
    /// Count response without a total.
    counts: Option<String>,
    /// Predictor of the response (same length).
    predictor: Option<Predictor>,
    /// Known per-observation scales of the real response.
    known_scale: Option<String>,
    /// Length expression of the observations.
    size: String,
    n_obs: usize,
    sloppiness: f64,
}

struct Response {
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
}

fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn r_squared(x: &[f64], y: &[f64]) -> f64 {
    if x.len() != y.len() || x.len() < 3 {
        return 0.0;
    }
    let (mx, sx) = mean_sd(x);
    let (my, sy) = mean_sd(y);
    if sx == 0.0 || sy == 0.0 {
        return 0.0;
    }
    let n = x.len() as f64;
    let cov = x
        .iter()
        .zip(y)
        .map(|(a, b)| (a - mx) * (b - my))
        .sum::<f64>()
        / (n - 1.0);
    let r = cov / (sx * sy);
    if r.is_finite() {
        r * r
    } else {
        0.0
    }
}

fn name_rank(name: &str, preferred: &[&str]) -> usize {
    preferred
        .iter()
        .position(|p| *p == name)
        .unwrap_or(preferred.len() + usize::from(!name.starts_with(preferred[0])))
}

impl Analysis {
    fn new(data: &Data, config: &BuiltinConfig) -> Analysis {
        let profile = DataProfile::new(data);
        let values = |v: &VarProfile| {
            data.get(&v.name)
                .map(|d| d.values.clone())
                .unwrap_or_default()
        };
        let arrays: Vec<&VarProfile> = profile.vars.iter().filter(|v| v.is_1d()).collect();
        // Binomial: an int array bounded elementwise by another int array of the same length.
        let mut binomial = None;
        for c in arrays.iter().filter(|v| v.is_int && v.nonneg) {
            for t in arrays
                .iter()
                .filter(|v| v.is_int && v.name != c.name && v.dims == c.dims)
            {
                let (cv, tv) = (values(c), values(t));
                if cv.iter().zip(&tv).all(|(a, b)| a <= b)
                    && tv.iter().sum::<f64>() > cv.iter().sum::<f64>()
                {
                    binomial = Some((c.name.clone(), t.name.clone()));
                }
            }
        }
        // Real response: prefer names y, Y; never a known-scale array.
        let scale_like = |v: &VarProfile| {
            let l = v.name.to_ascii_lowercase();
            !v.is_int
                && v.positive
                && ["sigma", "sd", "se", "s", "err", "scale"]
                    .iter()
                    .any(|p| l == *p || l.starts_with(&format!("{p}_")))
        };
        let mut reals: Vec<&VarProfile> = arrays
            .iter()
            .copied()
            .filter(|v| !v.is_int && !scale_like(v))
            .collect();
        reals.sort_by_key(|v| (name_rank(&v.name, &["y", "Y"]), v.name.clone()));
        // Counts out of totals are the response when present.
        let response_var = if binomial.is_some() {
            None
        } else {
            reals.first().copied()
        };
        let obs_var = response_var.or_else(|| {
            binomial
                .as_ref()
                .and_then(|(c, _)| arrays.iter().copied().find(|v| &v.name == c))
        });
        let counts = if response_var.is_none() && binomial.is_none() {
            arrays
                .iter()
                .find(|v| v.is_int && v.nonneg)
                .map(|v| v.name.clone())
        } else {
            None
        };
        let obs_var = obs_var.or_else(|| {
            counts
                .as_ref()
                .and_then(|c| arrays.iter().copied().find(|v| &v.name == c))
        });
        let response = response_var.map(|v| {
            let vals = values(v);
            let (mean, sd) = mean_sd(&vals);
            Response {
                name: v.name.clone(),
                sd,
                mean_abs: mean.abs(),
                positive: v.positive,
            }
        });
        let (size, n_obs) = obs_var.map_or((String::from("1"), 1), |v| (v.size_expr(0), v.dims[0]));
        let known_scale = response_var.and_then(|r| {
            arrays
                .iter()
                .find(|v| scale_like(v) && v.dims == r.dims)
                .map(|v| v.name.clone())
        });
        // Predictor: another real array of the same length, named like x first.
        let taken: Vec<String> = [
            response.as_ref().map(|r| r.name.clone()),
            known_scale.clone(),
            binomial.as_ref().map(|b| b.0.clone()),
            binomial.as_ref().map(|b| b.1.clone()),
            counts.clone(),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut candidates: Vec<&VarProfile> = arrays
            .iter()
            .copied()
            .filter(|v| {
                !v.is_int
                    && !taken.contains(&v.name)
                    && obs_var.is_some_and(|o| o.dims == v.dims)
                    && !scale_like(v)
            })
            .collect();
        candidates.sort_by_key(|v| {
            (
                name_rank(&v.name, &["x", "X", "t", "time", "year", "age"]),
                v.name.clone(),
            )
        });
        let predictor = candidates.first().map(|p| {
            let xs = values(p);
            let ys = obs_var.map(values).unwrap_or_default();
            let r2_log = if p.positive {
                r_squared(&xs.iter().map(|x| x.ln()).collect::<Vec<_>>(), &ys)
            } else {
                0.0
            };
            Predictor {
                name: p.name.clone(),
                positive: p.positive,
                r2_linear: r_squared(&xs, &ys),
                r2_log,
                half_range: ((p.max - p.min) / 2.0).max(1e-3),
            }
        });
        Analysis {
            data_names: profile.vars.iter().map(|v| v.name.clone()).collect(),
            response,
            binomial,
            counts,
            predictor,
            known_scale,
            size,
            n_obs,
            sloppiness: config.sloppiness,
        }
    }

    /// A parameter name that does not clash with a data name.
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
    let scale = lit(*ch.choose(&scale_options(target)));
    match style {
        PriorStyle::HeavyTailed => format!("student_t(3, 0, {scale})"),
        _ => format!("normal(0, {scale})"),
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
        parts.params.push(format!("real {name};"));
    } else {
        parts.params.push(format!("real<lower=0> {name};"));
    }
}

/// The length of per-observation vectors; sometimes (sloppily) a name that is not declared.
fn obs_size(ch: &mut Chooser, a: &Analysis) -> String {
    match a.wrong_size() {
        Some(wrong) if a.size != wrong && ch.flip(a.sloppiness / 2.0) => wrong,
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
    let size = obs_size(ch, a);
    parts.params.push(format!("real {mu};"));
    declare_scale(ch, a, parts, &tau);
    let mu_prior = location_prior(ch, parts.style, mu_target);
    parts.priors.push(format!("{mu} ~ {mu_prior};"));
    let tau_prior = scale_prior(ch, parts.style, tau_target);
    parts.priors.push(format!("{tau} ~ {tau_prior};"));
    if ch.flip(0.55) {
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
fn measurement_error(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &Response, s: &str) {
    let target = (y.sd + y.mean_abs).max(1.0);
    match *ch.choose(&[(0.15, "pooled"), (0.75, "hierarchical"), (0.1, "unpooled")]) {
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
            let size = obs_size(ch, a);
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
    match *ch.choose(&options) {
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
            let size = obs_size(ch, a);
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
                let size = obs_size(ch, a);
                let sigma = a.fresh("sigma");
                let eps = a.fresh("eps");
                parts.params.push(format!("vector[{size}] {eps};"));
                declare_scale(ch, a, parts, &sigma);
                let ps = scale_prior(ch, parts.style, 1.0);
                parts.priors.push(format!("{sigma} ~ {ps};"));
                parts.priors.push(format!("{eps} ~ normal(0, {sigma});"));
                eta = format!("{eta} + {eps}");
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
    parts.likelihood.push(match form {
        "logit" => format!("{c} ~ binomial_logit({t}, {eta});"),
        "inv_logit" => format!("{c} ~ binomial({t}, inv_logit({eta}));"),
        // A linear predictor used directly as a probability: may leave [0, 1].
        _ => format!("{c} ~ binomial({t}, {eta});"),
    });
}

/// Regression of a real response on a predictor: linear, log, growth curves, or a GP.
fn regression(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &Response, x: &Predictor) {
    let saturating = x.positive && x.r2_log > x.r2_linear + 0.02;
    let wiggly = x.r2_linear.max(x.r2_log) < 0.5;
    let small = a.n_obs <= 60;
    let options = [
        (if wiggly { 0.1 } else { 0.3 }, "linear"),
        (if saturating { 0.1 } else { 0.0 }, "log_linear"),
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
            let size = obs_size(ch, a);
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
    let log_scale = y.positive && matches!(kind, "linear" | "log_linear") && ch.flip(0.2);
    if log_scale {
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
    y: &Response,
    mean: &str,
    sigma: &str,
) {
    let family = *ch.choose(&[
        (0.8, "normal"),
        ((0.2 - a.sloppiness / 2.0).max(0.0), "student_t"),
        (a.sloppiness / 2.0, "poisson"),
    ]);
    let yn = &y.name;
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
fn gaussian_process(
    ch: &mut Chooser,
    a: &Analysis,
    parts: &mut Parts,
    y: &Response,
    x: &Predictor,
) {
    let (rho, alpha, sigma, mu) = (
        a.fresh("rho"),
        a.fresh("alpha"),
        a.fresh("sigma"),
        a.fresh("mu"),
    );
    parts.params.push(format!("real<lower=0> {rho};"));
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
fn iid_real(ch: &mut Chooser, a: &Analysis, parts: &mut Parts, y: &Response) {
    let mu = a.fresh("mu");
    let sigma = a.fresh("sigma");
    parts.params.push(format!("real {mu};"));
    declare_scale(ch, a, parts, &sigma);
    let pm = location_prior(ch, parts.style, (y.mean_abs + y.sd).max(1.0));
    parts.priors.push(format!("{mu} ~ {pm};"));
    let ps = scale_prior(ch, parts.style, y.sd.max(0.1));
    parts.priors.push(format!("{sigma} ~ {ps};"));
    if y.positive && ch.flip(0.3) {
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
    }
    if ch.flip(0.4) {
        let b = hierarchical_effects(ch, a, parts, "b", 1.0, 1.0);
        eta = format!("{eta} + {b}");
    }
    if ch.flip(0.3) {
        let phi = a.fresh("phi");
        declare_scale(ch, a, parts, &phi);
        parts.priors.push(format!("{phi} ~ exponential(0.1);"));
        parts
            .likelihood
            .push(format!("{c} ~ neg_binomial_2_log({eta}, {phi});"));
    } else {
        parts.likelihood.push(format!("{c} ~ poisson_log({eta});"));
    }
}

/// One derivation of the grammar.
fn derive(ch: &mut Chooser, a: &Analysis) -> String {
    let mut parts = Parts {
        style: *ch.choose(&PRIOR_STYLES),
        ..Parts::default()
    };
    match (
        &a.response,
        &a.known_scale,
        &a.binomial,
        &a.predictor,
        &a.counts,
    ) {
        (Some(y), Some(s), _, _, _) => measurement_error(ch, a, &mut parts, y, s),
        (_, _, Some((c, t)), _, _) => binomial_models(ch, a, &mut parts, c, t),
        (Some(y), None, None, Some(x), _) => regression(ch, a, &mut parts, y, x),
        (Some(y), None, None, None, _) => iid_real(ch, a, &mut parts, y),
        (None, _, None, _, Some(c)) => count_models(ch, a, &mut parts, c),
        _ => {
            // Nothing recognisable to model: a single standard-normal parameter.
            parts.params.push(format!("real {};", a.fresh("theta")));
            parts
                .priors
                .push(format!("{} ~ std_normal();", a.fresh("theta")));
        }
    }
    parts.render()
}

impl BuiltinModel {
    /// The built-in model for `data` with default settings.
    pub fn new(data: &Data) -> BuiltinModel {
        BuiltinModel::with_config(data, &BuiltinConfig::default())
    }

    pub fn with_config(data: &Data, config: &BuiltinConfig) -> BuiltinModel {
        let analysis = Analysis::new(data, config);
        // Expand every derivation with its weight.
        let mut derivations: Vec<(f64, String)> = Vec::new();
        let mut ch = Chooser {
            script: Vec::new(),
            points: Vec::new(),
            log_weight: 0.0,
            min_log_weight: config.min_weight.ln(),
            pruned_at: None,
        };
        loop {
            let text = derive(&mut ch, &analysis);
            if ch.pruned_at.is_none() && ch.log_weight.is_finite() {
                derivations.push((ch.log_weight, text));
            }
            if !ch.advance() {
                break;
            }
        }
        // Merge identical texts, drop the lightest beyond the cap.
        let mut merged: BTreeMap<String, f64> = BTreeMap::new();
        for (lw, text) in derivations {
            *merged.entry(text).or_insert(0.0) += lw.exp();
        }
        let mut weighted: Vec<(f64, String)> = merged.into_iter().map(|(t, w)| (w, t)).collect();
        if weighted.len() > config.max_derivations {
            weighted.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            weighted.truncate(config.max_derivations);
        }
        // Vocabulary: end-of-program, the base lexemes, the data block's and derivations' lexemes.
        let lexed: Vec<(f64, Vec<String>)> =
            weighted.into_iter().map(|(w, t)| (w, lex(&t))).collect();
        let mut texts: BTreeSet<String> = BASE_LEXEMES.iter().map(|s| s.to_string()).collect();
        texts.extend(lex(&crate::prompt::data_block(data)));
        for (_, tokens) in &lexed {
            texts.extend(tokens.iter().cloned());
        }
        let mut vocab_texts = vec![EOS_TEXT.to_string()];
        vocab_texts.extend(texts.into_iter().filter(|t| t != EOS_TEXT));
        let vocabulary = Vocabulary::new(vocab_texts, 0);
        let mut programs: Vec<(Vec<TokenId>, f64)> = lexed
            .into_iter()
            .map(|(w, tokens)| {
                let ids = tokens.iter().filter_map(|t| vocabulary.id(t)).collect();
                (ids, w)
            })
            .collect();
        programs.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = programs.iter().map(|p| p.1).sum();
        let weights = programs
            .iter()
            .map(|p| p.1 / total.max(f64::MIN_POSITIVE))
            .collect();
        BuiltinModel {
            vocabulary,
            programs: programs.into_iter().map(|p| p.0).collect(),
            weights,
            noise: config.noise.clamp(0.0, 1.0),
        }
    }

    /// How many distinct programs the grammar can write.
    pub fn derivations(&self) -> usize {
        self.programs.len()
    }

    /// The programs the grammar can write (generated part only), with their probabilities.
    pub fn programs(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        self.programs
            .iter()
            .zip(&self.weights)
            .map(|(p, &w)| (self.vocabulary.decode(p), w))
    }

    /// Within `range` (programs sharing their first `pos` tokens), the sub-range whose token at
    /// `pos` is `token`; programs that end at `pos` sort first.
    fn narrow(&self, range: (usize, usize), pos: usize, token: TokenId) -> (usize, usize) {
        let slice = &self.programs[range.0..range.1];
        let key = |p: &Vec<TokenId>| p.get(pos).map_or(-1, |&t| i64::from(t));
        let lo = slice.partition_point(|p| key(p) < i64::from(token));
        let hi = slice.partition_point(|p| key(p) <= i64::from(token));
        (range.0 + lo, range.0 + hi)
    }

    /// The heaviest next token of the programs in `range` at `pos` (None when all have ended).
    fn likeliest_next(&self, range: (usize, usize), pos: usize) -> Option<TokenId> {
        let mut by_token: BTreeMap<TokenId, f64> = BTreeMap::new();
        for i in range.0..range.1 {
            if let Some(&t) = self.programs[i].get(pos) {
                *by_token.entry(t).or_insert(0.0) += self.weights[i];
            }
        }
        by_token
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(t, _)| t)
    }
}

impl ProposalModel for BuiltinModel {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        if logprobs.len() != self.vocabulary.len() {
            return Err(ProposalError::Backend(format!(
                "expected {} log-probabilities, got a buffer of {}",
                self.vocabulary.len(),
                logprobs.len()
            )));
        }
        // Follow the accepted tokens through the derivations; an unplanned token substitutes
        // for the likeliest planned one.
        let mut range = (0, self.programs.len());
        for (pos, &token) in generated.iter().enumerate() {
            let next = self.narrow(range, pos, token);
            range = if next.0 < next.1 {
                next
            } else {
                match self.likeliest_next(range, pos) {
                    Some(planned) => self.narrow(range, pos, planned),
                    None => (range.0, range.0),
                }
            };
            if range.0 == range.1 {
                break;
            }
        }
        let pos = generated.len();
        let mut plan = vec![0.0; self.vocabulary.len()];
        let mut plan_total = 0.0;
        for i in range.0..range.1 {
            let t = self.programs[i]
                .get(pos)
                .copied()
                .unwrap_or(self.vocabulary.eos());
            plan[t as usize] += self.weights[i];
            plan_total += self.weights[i];
        }
        let uniform = 1.0 / self.vocabulary.len() as f64;
        // Off every plan (the decoder refused the planned end): end soon rather than wander.
        let (plan_share, noise_share) = if plan_total > 0.0 {
            (1.0 - self.noise, self.noise)
        } else {
            plan[self.vocabulary.eos() as usize] = 1.0;
            plan_total = 1.0;
            (0.5, 0.5)
        };
        for (lp, p) in logprobs.iter_mut().zip(&plan) {
            *lp = (plan_share * p / plan_total + noise_share * uniform).ln();
        }
        Ok(())
    }
}
