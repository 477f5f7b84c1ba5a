//! The data schema: what each data variable is for a model (the response and its kind,
//! covariates, design matrices, grouping indexes, a time index, known scales, sizes, unused),
//! decided from the data alone, or with the user's `--response` and `--describe`.
//!
//! How the response is chosen when not given ([`Schema::infer`]): every 1-D array is a candidate
//! except grouping indexes (an int array of values in 1..J, J < its length), the trials beside a
//! count (an int array bounding a count elementwise), and known scales (a positive array named
//! like `sigma`/`se` beside a real one). A candidate scores for its name (`y`, `Y`, `count`,
//! `outcome`, `score`, `response`, ...), for being named in the description, for what the
//! description says ("counts", "proportion", "binary"), for being successes with trials, for
//! being the last (or, less, the first) array in the order the data file lists them
//! ([`SchemaOptions::order`]), and against it for looking like a time index (sorted, evenly
//! spaced). A value type alone (integers, 0/1) is no evidence. Ties go to the later array (to the
//! earlier name when the order is unknown). The reason is kept in [`Schema::reason`].

use crate::profile::{DataProfile, VarProfile};
use refinestat_language::Data;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// What kind of values the response has, which decides its likelihood family and link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseKind {
    /// Real values of either sign.
    Real,
    /// Real values, all > 0.
    Positive,
    /// Non-negative ints.
    Count,
    /// Ints that are all 0 or 1.
    Binary,
    /// Non-negative ints bounded elementwise by a trials array ([`Response::trials`]).
    Successes,
}

impl ResponseKind {
    /// The word printed in the decision line.
    pub fn word(self) -> &'static str {
        match self {
            ResponseKind::Real => "real",
            ResponseKind::Positive => "positive",
            ResponseKind::Count => "counts",
            ResponseKind::Binary => "binary",
            ResponseKind::Successes => "successes",
        }
    }
}

/// The modelled variable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Response {
    /// Its data name.
    pub name: String,
    /// What its values are (real, positive, counts, 0/1, successes with trials).
    pub kind: ResponseKind,
    /// The trials array of a [`ResponseKind::Successes`] response.
    pub trials: Option<String>,
    /// Its length, as written in declarations (a size name or a literal).
    pub size: String,
    /// Its number of observations.
    pub len: usize,
    /// Mean of its values.
    pub mean: f64,
    /// Standard deviation of its values.
    pub sd: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Variance over mean (counts; 1 for a Poisson).
    pub dispersion: f64,
    /// Skewness (0 for a symmetric distribution).
    pub skewness: f64,
    /// Excess kurtosis (0 for a normal).
    pub kurtosis: f64,
    /// Lag-1 autocorrelation in the data's order (a series' memory when a time index orders it).
    pub autocorrelation: f64,
    /// Counts: Pearson chi-square over its degrees of freedom after a Poisson GLM of the
    /// schema's groupings, covariates and exposure (the quasi-Poisson dispersion; 1 for a
    /// Poisson); `None` when that GLM cannot be fitted (then [`Response::dispersion`] speaks).
    pub residual_dispersion: Option<f64>,
}

impl Response {
    /// Counts whose variance is well above their mean.
    pub fn overdispersed(&self) -> bool {
        // Raw counts vary with their covariates and exposure as well: what those leave over
        // is the overdispersion a likelihood must carry.
        matches!(self.kind, ResponseKind::Count)
            && self.residual_dispersion.unwrap_or(self.dispersion) > 2.0
    }
    /// Whole numbers whose variance is well below their mean, away from zero (diameters in
    /// whole millimetres, scores): no Poisson or negative binomial fits them, a normal may.
    pub fn underdispersed(&self) -> bool {
        matches!(self.kind, ResponseKind::Count) && self.dispersion < 0.5 && self.mean >= 5.0
    }
    /// A positive response with a long right tail.
    pub fn skewed(&self) -> bool {
        matches!(self.kind, ResponseKind::Positive)
            && (self.skewness > 1.0 || self.max > 20.0 * self.min)
    }
    /// A real response with heavy tails.
    pub fn heavy_tailed(&self) -> bool {
        matches!(self.kind, ResponseKind::Real | ResponseKind::Positive) && self.kurtosis > 2.0
    }
}

/// A covariate: an array of the response's length, or a design matrix with one row per
/// observation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Covariate {
    /// Its data name.
    pub name: String,
    /// `Some(columns)` for a matrix (its column count as written in declarations).
    pub columns: Option<String>,
    /// Declared as integers.
    pub is_int: bool,
    /// Only 0 and 1.
    pub binary: bool,
    /// Every value above 0.
    pub positive: bool,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sorted and evenly spaced, or named like a time.
    pub time_like: bool,
    /// R^2 of the response on a straight line in it (vectors).
    pub r2_linear: f64,
    /// R^2 on its log (positive vectors).
    pub r2_log: f64,
    /// R^2 of the response's log on its log (both positive; 0 otherwise): a power law
    /// (volume against girth) is a straight line on these scales.
    pub r2_loglog: f64,
    /// An exposure of a count response: positive, spanning at least a factor of ten, and at
    /// least the response in every row (claims among holders, cases among a population); its
    /// log may enter a log-link mean as an offset.
    pub exposure: bool,
}

impl Covariate {
    /// A design matrix (one row per observation) rather than a vector.
    pub fn is_matrix(&self) -> bool {
        self.columns.is_some()
    }
    /// Half its range (a length scale).
    pub fn half_range(&self) -> f64 {
        ((self.max - self.min) / 2.0).max(1e-3)
    }
    /// Positive and spanning more than two orders of magnitude: its log is its natural scale.
    pub fn spans_orders_of_magnitude(&self) -> bool {
        self.min > 0.0 && self.max / self.min > 100.0
    }
    /// The response follows a power of it: the log-log line leaves clearly less unexplained
    /// (at most [`MULTIPLICATIVE_RESIDUAL`] of the straight line's) and explains at least half.
    pub fn multiplicative(&self) -> bool {
        self.r2_loglog >= 0.5
            && 1.0 - self.r2_loglog < MULTIPLICATIVE_RESIDUAL * (1.0 - self.r2_linear)
    }
}

/// The share of a straight line's unexplained variance below which a log-log line is clearly
/// the better description (see [`Covariate::multiplicative`]).
pub const MULTIPLICATIVE_RESIDUAL: f64 = 0.85;

/// A grouping: an int array of the response's length with values in 1..J.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Grouping {
    /// Its data name.
    pub name: String,
    /// The number of groups as written in declarations (`J`, or a literal).
    pub levels: String,
    /// The number of groups.
    pub n_levels: usize,
    /// Vector covariates that take more than one value within some group (candidates for
    /// varying slopes).
    pub varying: Vec<String>,
}

/// Who chose the response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decided {
    /// `--response`.
    User,
    /// From the data (and the description).
    Data,
}

/// What every data variable is for a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schema {
    /// The modelled variables, the primary first.
    pub responses: Vec<Response>,
    /// Covariates of the primary response, the likeliest predictor first.
    pub covariates: Vec<Covariate>,
    /// Grouping indexes of the primary response, in data order.
    pub groupings: Vec<Grouping>,
    /// A covariate that is a time or order index.
    pub time: Option<String>,
    /// Known per-observation scales of a real response (measurement error).
    pub known_scale: Option<String>,
    /// Int scalars that are sizes of arrays.
    pub sizes: Vec<String>,
    /// Variables no model uses.
    pub unused: Vec<String>,
    /// Who chose the response: the user or the data.
    pub decided: Decided,
    /// Why the response was chosen.
    pub reason: String,
    /// Every data name (parameters must not clash with them).
    #[serde(skip)]
    pub data_names: BTreeSet<String>,
}

/// Why no schema could be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SchemaError {
    /// The data has no array to model.
    #[error("nothing to model: the data has no array of observations (it has {variables}); give the observations as an array, e.g. \"y\": [1.2, 0.4, ...]")]
    NothingToModel {
        /// The data's variables with their types.
        variables: String,
    },
    /// `--response` names no data variable.
    #[error("--response {name}: the data has no variable `{name}` (it has {available})")]
    UnknownResponse {
        /// The name given.
        name: String,
        /// The data's variables with their types.
        available: String,
    },
    /// `--response` names a scalar.
    #[error(
        "--response {name}: `{name}` is a scalar; the response must be an array of observations"
    )]
    ScalarResponse {
        /// The name given.
        name: String,
    },
    /// `--response` names an array of more than one dimension.
    #[error("--response {name}: `{name}` is a {dims}-dimensional array; the response must be a vector or 1-D array")]
    NotOneDimensional {
        /// The name given.
        name: String,
        /// Its number of dimensions.
        dims: usize,
    },
}

/// The user's say in the schema.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SchemaOptions {
    /// `--response NAME`, in order (empty: decide from the data).
    pub responses: Vec<String>,
    /// `--describe TEXT`.
    pub describe: Option<String>,
    /// The data's variables in the order its file lists them (empty: unknown). An outcome is
    /// mostly the last column of a table, or the first.
    pub order: Vec<String>,
}

const RESPONSE_NAMES: [&str; 14] = [
    "y", "outcome", "response", "count", "counts", "score", "target", "yobs", "y_obs", "obs",
    "value", "values", "result", "z",
];
const TRIALS_NAMES: [&str; 11] = [
    "n", "trials", "total", "totals", "size", "sizes", "number", "tries", "attempts", "n_trials",
    "ntrials",
];
const SUCCESS_NAMES: [&str; 10] = [
    "r",
    "k",
    "successes",
    "success",
    "events",
    "deaths",
    "hits",
    "wins",
    "cases",
    "positive",
];
const GROUP_NAMES: [&str; 16] = [
    "group", "groups", "g", "grp", "id", "cluster", "block", "site", "unit", "subject", "county",
    "school", "state", "region", "item", "person",
];
const TIME_NAMES: [&str; 9] = [
    "t", "time", "year", "years", "day", "days", "week", "month", "date",
];
const SCALE_NAMES: [&str; 8] = ["sigma", "sd", "se", "s", "err", "error", "scale", "stderr"];

fn lower_in(name: &str, list: &[&str]) -> bool {
    let l = name.to_ascii_lowercase();
    list.iter()
        .any(|p| l == *p || l.starts_with(&format!("{p}_")) || l.ends_with(&format!("_{p}")))
}

pub(crate) fn scale_like(v: &VarProfile) -> bool {
    let l = v.name.to_ascii_lowercase();
    v.positive
        && SCALE_NAMES
            .iter()
            .any(|p| l == *p || l.starts_with(&format!("{p}_")))
}

pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

pub(crate) fn r_squared(x: &[f64], y: &[f64]) -> f64 {
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

/// Standardised third and (excess) fourth moments.
fn moments(values: &[f64]) -> (f64, f64) {
    let (mean, sd) = mean_sd(values);
    if sd == 0.0 || values.len() < 4 {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let m3 = values
        .iter()
        .map(|v| ((v - mean) / sd).powi(3))
        .sum::<f64>()
        / n;
    let m4 = values
        .iter()
        .map(|v| ((v - mean) / sd).powi(4))
        .sum::<f64>()
        / n;
    (m3, m4 - 3.0)
}

/// The quasi-Poisson dispersion of counts `y`: Pearson chi-square over `N - p` after a Poisson
/// GLM (log link, IRLS) on an intercept, the groupings' levels (first level the baseline), the
/// standardized vector covariates, and the log of an exposure as an offset. `None` when the
/// design has as many columns as half the rows, or the fit does not converge.
#[allow(clippy::needless_range_loop)] // the normal equations read best with indices
fn poisson_glm_dispersion(
    y: &[f64],
    covariates: &[Covariate],
    groupings: &[Grouping],
    column: &dyn Fn(&str) -> Vec<f64>,
) -> Option<f64> {
    let n = y.len();
    let mut design: Vec<Vec<f64>> = vec![vec![1.0; n]];
    let mut offset = vec![0.0; n];
    for x in covariates.iter().filter(|x| !x.is_matrix()) {
        let v = column(&x.name);
        if v.len() != n {
            return None;
        }
        if x.exposure {
            offset = v.iter().map(|e| e.ln()).collect();
            continue;
        }
        let v: Vec<f64> = if x.spans_orders_of_magnitude() {
            v.iter().map(|e| e.ln()).collect()
        } else {
            v
        };
        let (mean, sd) = mean_sd(&v);
        if sd > 0.0 {
            design.push(v.iter().map(|e| (e - mean) / sd).collect());
        }
    }
    for g in groupings {
        let levels = column(&g.name);
        for level in 2..=g.n_levels {
            design.push(
                levels
                    .iter()
                    .map(|l| f64::from(u8::from(*l as usize == level)))
                    .collect(),
            );
        }
    }
    let p = design.len();
    if 2 * p > n || y.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return None;
    }
    // IRLS from the mean rate.
    let rate = (y.iter().sum::<f64>() + 0.5) / offset.iter().map(|o| o.exp()).sum::<f64>();
    let mut beta = vec![0.0; p];
    beta[0] = rate.ln();
    // The linear predictor of row i, offset included.
    let eta = |beta: &[f64], i: usize| -> f64 {
        offset[i] + (0..p).map(|j| design[j][i] * beta[j]).sum::<f64>()
    };
    for _ in 0..50 {
        // Normal equations of the weighted least squares step: (X' W X) b = X' W z, with
        // weights mu and working response z = (eta - offset) + (y - mu) / mu.
        let mut xtwx = vec![vec![0.0; p]; p];
        let mut xtwz = vec![0.0; p];
        for i in 0..n {
            let eta_i = eta(&beta, i).clamp(-30.0, 30.0);
            let mu = eta_i.exp();
            let z = eta_i - offset[i] + (y[i] - mu) / mu;
            for a in 0..p {
                let wa = mu * design[a][i];
                xtwz[a] += wa * z;
                for b in 0..=a {
                    xtwx[a][b] += wa * design[b][i];
                }
            }
        }
        for a in 0..p {
            xtwx[a][a] += 1e-8;
            for b in 0..a {
                xtwx[b][a] = xtwx[a][b];
            }
        }
        let next = solve_symmetric(xtwx, xtwz)?;
        let change = next
            .iter()
            .zip(&beta)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        beta = next;
        if change < 1e-8 {
            let chi2: f64 = (0..n)
                .map(|i| {
                    let m = eta(&beta, i).exp();
                    (y[i] - m).powi(2) / m
                })
                .sum();
            return chi2.is_finite().then_some(chi2 / (n - p) as f64);
        }
    }
    None
}

/// Solves `a x = b` for a symmetric positive definite `a` by Cholesky; `None` if it is not.
#[allow(clippy::needless_range_loop)]
fn solve_symmetric(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let p = b.len();
    for j in 0..p {
        let d = a[j][j] - (0..j).map(|k| a[j][k] * a[j][k]).sum::<f64>();
        if d <= 0.0 || !d.is_finite() {
            return None;
        }
        a[j][j] = d.sqrt();
        for i in j + 1..p {
            a[i][j] = (a[i][j] - (0..j).map(|k| a[i][k] * a[j][k]).sum::<f64>()) / a[j][j];
        }
    }
    for i in 0..p {
        b[i] = (b[i] - (0..i).map(|k| a[i][k] * b[k]).sum::<f64>()) / a[i][i];
    }
    for i in (0..p).rev() {
        b[i] = (b[i] - (i + 1..p).map(|k| a[k][i] * b[k]).sum::<f64>()) / a[i][i];
    }
    Some(b)
}

/// The lag-1 autocorrelation (0 for fewer than three values or no variance).
fn lag1_autocorrelation(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 3 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
    if var <= 0.0 {
        return 0.0;
    }
    let cov: f64 = values
        .windows(2)
        .map(|w| (w[0] - mean) * (w[1] - mean))
        .sum();
    cov / var
}

/// Sorted strictly increasing with near-constant steps.
fn evenly_spaced(values: &[f64]) -> bool {
    if values.len() < 4 {
        return false;
    }
    let steps: Vec<f64> = values.windows(2).map(|w| w[1] - w[0]).collect();
    let first = steps[0];
    first > 0.0
        && steps
            .iter()
            .all(|s| (s - first).abs() <= 1e-6 * first.abs().max(1.0) + 0.01 * first)
}

/// The words of a description, lowercased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Where (in words) a description first mentions the variable `name`: the name itself in any
/// case, a word it begins (`dist` in "distance", three letters at least), or its `_`-separated
/// parts as consecutive words (`infant mortality` for `Infant_Mortality`).
fn mention(words: &[String], name: &str) -> Option<usize> {
    let name = name.to_lowercase();
    let parts: Vec<&str> = name.split('_').filter(|p| !p.is_empty()).collect();
    (0..words.len()).find(|&i| {
        let w = &words[i];
        *w == name
            || (name.len() >= 3 && w.starts_with(&name))
            || (parts.len() > 1
                && words.len() >= i + parts.len()
                && parts.iter().zip(&words[i..]).all(|(p, w)| p == w))
    })
}

/// Where a description starts naming predictors ("y given x", "y against x"), in words.
fn predictors_from(words: &[String]) -> Option<usize> {
    const MARKERS: [&[&str]; 8] = [
        &["given"],
        &["against"],
        &["versus"],
        &["vs"],
        &["conditional", "on"],
        &["explained", "by"],
        &["predicted", "by"],
        &["as", "a", "function", "of"],
    ];
    (0..words.len()).find(|&i| {
        MARKERS
            .iter()
            .any(|m| words.len() >= i + m.len() && m.iter().zip(&words[i..]).all(|(a, b)| a == b))
    })
}

impl Schema {
    /// The schema of `data` (see the module doc for how the response is chosen).
    pub fn infer(data: &Data, options: &SchemaOptions) -> Result<Schema, SchemaError> {
        let profile = DataProfile::new(data);
        let values = |name: &str| data.get(name).map(|d| d.values.clone()).unwrap_or_default();
        let describe = options
            .describe
            .as_deref()
            .unwrap_or("")
            .to_ascii_lowercase();
        let described = words(options.describe.as_deref().unwrap_or(""));
        let predictors_at = predictors_from(&described).unwrap_or(usize::MAX);
        let listing = || {
            profile
                .vars
                .iter()
                .map(|v| format!("{} ({})", v.name, v.declared_type()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        for name in &options.responses {
            match profile.get(name) {
                None => {
                    return Err(SchemaError::UnknownResponse {
                        name: name.clone(),
                        available: listing(),
                    })
                }
                Some(v) if v.is_scalar() => {
                    return Err(SchemaError::ScalarResponse { name: name.clone() })
                }
                Some(v) if !v.is_1d() => {
                    return Err(SchemaError::NotOneDimensional {
                        name: name.clone(),
                        dims: v.dims.len(),
                    })
                }
                Some(_) => {}
            }
        }
        let arrays: Vec<&VarProfile> = profile
            .vars
            .iter()
            .filter(|v| v.is_1d() && v.dims[0] > 0)
            .collect();
        if arrays.is_empty() {
            return Err(SchemaError::NothingToModel {
                variables: if profile.vars.is_empty() {
                    "no variables".to_string()
                } else {
                    listing()
                },
            });
        }
        let int_scalar = |value: usize| {
            profile
                .vars
                .iter()
                .filter(|s| s.is_scalar() && s.is_int && s.min == value as f64)
                .map(|s| s.name.clone())
                .min_by_key(|n| (n.len(), n.clone()))
        };
        // Grouping indexes: ints in 1..J with J < length, J an int scalar or a group-like name.
        let group_levels = |v: &VarProfile| -> Option<(String, usize)> {
            if !v.is_int || v.min < 1.0 || v.max < 2.0 || v.max >= v.dims[0] as f64 {
                return None;
            }
            let j = v.max as usize;
            // Its own size first (`J_group` for `group`, as CSV reading names it), then any int
            // scalar of that value.
            let own = format!("J_{}", v.name);
            if profile
                .vars
                .iter()
                .any(|s| s.name == own && s.is_scalar() && s.is_int && s.min == j as f64)
            {
                return Some((own, j));
            }
            match int_scalar(j) {
                Some(name) => Some((name, j)),
                None if lower_in(&v.name, &GROUP_NAMES) => Some((j.to_string(), j)),
                None => None,
            }
        };
        let user_set: BTreeSet<&str> = options.responses.iter().map(String::as_str).collect();
        // Successes with trials: c <= t elementwise, where t is named like trials, c like
        // successes, or the description speaks of proportions.
        let describe_trials = ["out of", "proportion", "trials", "successes", "fraction"]
            .iter()
            .any(|w| describe.contains(w));
        let trials_of = |c: &VarProfile| -> Option<String> {
            if !(c.is_int && c.nonneg) {
                return None;
            }
            let cv = values(&c.name);
            arrays
                .iter()
                .filter(|t| {
                    t.is_int
                        && t.name != c.name
                        && t.dims == c.dims
                        && t.min >= 1.0
                        && !user_set.contains(t.name.as_str())
                        && (lower_in(&t.name, &TRIALS_NAMES)
                            || lower_in(&c.name, &SUCCESS_NAMES)
                            || describe_trials)
                })
                .filter(|t| {
                    let tv = values(&t.name);
                    cv.iter().zip(&tv).all(|(a, b)| a <= b)
                        && tv.iter().sum::<f64>() > cv.iter().sum::<f64>()
                })
                .min_by_key(|t| (!lower_in(&t.name, &TRIALS_NAMES), t.name.clone()))
                .map(|t| t.name.clone())
        };
        let response_named = |v: &VarProfile| lower_in(&v.name, &RESPONSE_NAMES) || v.name == "Y";
        let mut trials_arrays: BTreeSet<String> = BTreeSet::new();
        for c in &arrays {
            // A named response's partner; an unnamed pair where the bounded array is not itself
            // a grouping index.
            if let Some(t) = trials_of(c) {
                if !response_named(&profiles_get(&arrays, &t)) || response_named(c) {
                    trials_arrays.insert(t);
                }
            }
        }
        let real_arrays: Vec<&&VarProfile> = arrays.iter().filter(|v| !scale_like(v)).collect();
        let known_scale_of = |r: &VarProfile| -> Option<String> {
            if r.is_int && !r.nonneg {
                // ints with negatives are reals too
            } else if r.is_int {
                return None;
            }
            arrays
                .iter()
                .find(|v| scale_like(v) && v.dims == r.dims && v.name != r.name)
                .map(|v| v.name.clone())
        };
        // Choose the responses.
        let (response_names, decided, reason) = if !options.responses.is_empty() {
            (
                options.responses.clone(),
                Decided::User,
                "given by --response".to_string(),
            )
        } else {
            // (score, position, name, reasons); positions follow the file when it is known.
            let mut scored: Vec<(i32, usize, String, Vec<String>)> = Vec::new();
            let mut candidates: Vec<&VarProfile> = arrays
                .iter()
                .copied()
                .filter(|v| {
                    !(trials_arrays.contains(&v.name)
                        || group_levels(v).is_some()
                        || (scale_like(v) && real_arrays.iter().any(|r| r.dims == v.dims)))
                })
                .collect();
            let position = |name: &str| options.order.iter().position(|o| o == name);
            let ordered = candidates.iter().all(|v| position(&v.name).is_some());
            if ordered {
                candidates.sort_by_key(|v| position(&v.name));
            }
            for (at, v) in candidates.iter().enumerate() {
                let mut score = 0;
                let mut why = Vec::new();
                if v.name == "y" || v.name == "Y" {
                    score += 10;
                    why.push("named y".to_string());
                } else if response_named(v) {
                    score += 8;
                    why.push(format!("named like a response ({})", v.name));
                }
                // Named in the description: the first-named variable most ("y against x"); one
                // named after "given" or "against" is a predictor.
                if let Some(at) = mention(&described, &v.name) {
                    if at > predictors_at {
                        score -= 2;
                        why.push("named as a predictor in --describe".to_string());
                    } else {
                        let first = arrays
                            .iter()
                            .filter_map(|o| mention(&described, &o.name))
                            .min()
                            == Some(at);
                        score += if first { 4 } else { 2 };
                        why.push("named in --describe".to_string());
                    }
                }
                let successes = trials_of(v).is_some_and(|t| trials_arrays.contains(&t));
                if successes {
                    score += 3;
                    why.push("counts out of a trials array".to_string());
                } else if v.is_int
                    && v.binary
                    && ["binary", "yes/no", "whether", "success", "failure"]
                        .iter()
                        .any(|w| describe.contains(w))
                {
                    // A value type alone is no evidence of a role (a 0/1 treatment, an integer
                    // age or percentage): only the description makes it one.
                    score += 3;
                    why.push("0/1 values, described so".to_string());
                } else if v.is_int
                    && v.nonneg
                    && !v.binary
                    && ["count", "number of", "how many"]
                        .iter()
                        .any(|w| describe.contains(w))
                {
                    score += 3;
                    why.push("counts, described so".to_string());
                }
                if successes
                    && ["proportion", "rate", "out of", "successes", "fraction"]
                        .iter()
                        .any(|w| describe.contains(w))
                {
                    score += 3;
                }
                let vals = values(&v.name);
                if lower_in(&v.name, &TIME_NAMES) || evenly_spaced(&vals) {
                    score -= 4;
                    why.push("looks like a time or order index".to_string());
                }
                if arrays.iter().any(|o| o.name != v.name && o.dims == v.dims) {
                    score += 1;
                }
                // Tables and data blocks are mostly written covariates first, outcome last; the
                // first column is the other common place for it.
                if ordered && candidates.len() > 1 {
                    if at + 1 == candidates.len() {
                        score += 2;
                        why.push("the last array".to_string());
                    } else if at == 0 {
                        score += 1;
                        why.push("the first array".to_string());
                    }
                }
                scored.push((score, at, v.name.clone(), why));
            }
            if scored.is_empty() {
                // Every array has another role; model the first array anyway.
                let v = arrays[0];
                (
                    vec![v.name.clone()],
                    Decided::Data,
                    "the only arrays have other roles; modelling the first".to_string(),
                )
            } else {
                // Ties: the later array in the file's order; by name when the order is unknown.
                scored.sort_by(|a, b| {
                    b.0.cmp(&a.0).then_with(|| {
                        if ordered {
                            b.1.cmp(&a.1)
                        } else {
                            a.1.cmp(&b.1)
                        }
                    })
                });
                let (_, _, name, why) = scored.swap_remove(0);
                let mut reason = if why.is_empty() {
                    "the first array without another role".to_string()
                } else {
                    why.join(", ")
                };
                // Position alone is weak evidence (tables put the outcome first or last): say
                // so, and how to choose another.
                let by_position_only = why
                    .iter()
                    .all(|w| w == "the last array" || w == "the first array");
                if by_position_only {
                    let others: Vec<&str> = scored.iter().map(|s| s.2.as_str()).take(3).collect();
                    if !others.is_empty() {
                        reason.push_str(&format!(
                            "; a guess from the layout alone: if the outcome is another variable \
                             ({}{}), name it with --response or --describe",
                            others.join(", "),
                            if scored.len() > 3 { ", ..." } else { "" }
                        ));
                    }
                }
                (vec![name], Decided::Data, reason)
            }
        };
        let mut responses = Vec::new();
        let mut taken: BTreeSet<String> = BTreeSet::new();
        for name in &response_names {
            let v = profile.get(name).expect("validated above");
            let vals = values(name);
            let trials = trials_of(v).filter(|t| !response_names.contains(t));
            let kind = if trials.is_some() {
                ResponseKind::Successes
            } else if v.is_int && v.binary {
                ResponseKind::Binary
            } else if v.is_int && v.nonneg {
                ResponseKind::Count
            } else if v.positive {
                ResponseKind::Positive
            } else {
                ResponseKind::Real
            };
            let trials = trials.filter(|_| kind == ResponseKind::Successes);
            let (mean, sd) = mean_sd(&vals);
            let (skewness, kurtosis) = moments(&vals);
            taken.insert(name.clone());
            if let Some(t) = &trials {
                taken.insert(t.clone());
            }
            responses.push(Response {
                name: name.clone(),
                kind,
                trials,
                size: v.size_expr(0),
                len: v.dims[0],
                mean,
                sd,
                min: v.min,
                max: v.max,
                dispersion: if mean > 0.0 { sd * sd / mean } else { 1.0 },
                skewness,
                kurtosis,
                autocorrelation: lag1_autocorrelation(&vals),
                residual_dispersion: None,
            });
        }
        let primary = &responses[0];
        let primary_profile = profile.get(&primary.name).expect("a data variable");
        let known_scale = if matches!(primary.kind, ResponseKind::Real | ResponseKind::Positive) {
            known_scale_of(primary_profile).filter(|s| !taken.contains(s))
        } else {
            None
        };
        if let Some(s) = &known_scale {
            taken.insert(s.clone());
        }
        let y = values(&primary.name);
        let mut groupings = Vec::new();
        let mut covariates = Vec::new();
        let mut unused = Vec::new();
        let mut sizes = Vec::new();
        for v in &profile.vars {
            if taken.contains(&v.name) {
                continue;
            }
            let used_as_size = profile.vars.iter().any(|o| {
                o.size_names
                    .iter()
                    .any(|s| s.as_deref() == Some(v.name.as_str()))
            });
            if v.is_scalar() {
                if used_as_size || (v.is_int && groupings_use(&profile, v)) {
                    sizes.push(v.name.clone());
                } else {
                    unused.push(v.name.clone());
                }
                continue;
            }
            let same_rows = v.dims.first() == Some(&primary.len);
            if v.is_1d() && same_rows {
                if let Some((levels, n_levels)) = group_levels(v) {
                    groupings.push(Grouping {
                        name: v.name.clone(),
                        levels,
                        n_levels,
                        varying: Vec::new(),
                    });
                    continue;
                }
                let xs = values(&v.name);
                let log_x = || xs.iter().map(|x| x.ln()).collect::<Vec<_>>();
                let r2_log = if v.positive {
                    r_squared(&log_x(), &y)
                } else {
                    0.0
                };
                let r2_loglog = if v.positive && y.iter().all(|y| *y > 0.0) {
                    r_squared(&log_x(), &y.iter().map(|y| y.ln()).collect::<Vec<_>>())
                } else {
                    0.0
                };
                covariates.push(Covariate {
                    name: v.name.clone(),
                    columns: None,
                    is_int: v.is_int,
                    binary: v.binary,
                    positive: v.positive,
                    min: v.min,
                    max: v.max,
                    time_like: lower_in(&v.name, &TIME_NAMES) || evenly_spaced(&xs),
                    r2_linear: r_squared(&xs, &y),
                    r2_log,
                    r2_loglog,
                    exposure: primary.kind == ResponseKind::Count
                        && v.min > 0.0
                        && v.max >= 10.0 * v.min
                        && xs.iter().zip(&y).all(|(x, y)| y <= x),
                });
            } else if v.dims.len() == 2 && same_rows && !v.is_int {
                covariates.push(Covariate {
                    name: v.name.clone(),
                    columns: Some(v.size_expr(1)),
                    is_int: false,
                    binary: false,
                    positive: v.positive,
                    min: v.min,
                    max: v.max,
                    time_like: false,
                    r2_linear: 0.0,
                    r2_log: 0.0,
                    r2_loglog: 0.0,
                    exposure: false,
                });
            } else {
                unused.push(v.name.clone());
            }
        }
        // The likeliest predictor first: real before int, then x-like names, then the stronger
        // straight-line fit.
        covariates.sort_by(|a, b| {
            let key = |c: &Covariate| {
                (
                    c.is_matrix(),
                    c.is_int,
                    name_rank(&c.name, &["x", "X", "t", "time", "year", "age"]),
                )
            };
            key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
        });
        for g in &mut groupings {
            let gv = values(&g.name);
            g.varying = covariates
                .iter()
                .filter(|c| !c.is_matrix())
                .filter(|c| {
                    let xv = values(&c.name);
                    (1..=g.n_levels).any(|level| {
                        let mut seen = xv
                            .iter()
                            .zip(&gv)
                            .filter(|(_, &gl)| gl as usize == level)
                            .map(|(x, _)| *x);
                        let first = seen.next();
                        first.is_some_and(|f| seen.any(|x| x != f))
                    })
                })
                .map(|c| c.name.clone())
                .collect();
        }
        // A size scalar that names only unused arrays is still a size.
        let time = covariates
            .iter()
            .find(|c| c.time_like && !c.is_matrix())
            .map(|c| c.name.clone());
        if let Some(r) = responses.first_mut() {
            if r.kind == ResponseKind::Count {
                let column = |name: &str| values(name);
                r.residual_dispersion =
                    poisson_glm_dispersion(&column(&r.name), &covariates, &groupings, &column);
            }
        }
        Ok(Schema {
            responses,
            covariates,
            groupings,
            time,
            known_scale,
            sizes,
            unused,
            decided,
            reason,
            data_names: profile.vars.iter().map(|v| v.name.clone()).collect(),
        })
    }

    /// The primary response.
    pub fn response(&self) -> &Response {
        &self.responses[0]
    }

    /// Every response's name.
    pub fn response_names(&self) -> Vec<String> {
        self.responses.iter().map(|r| r.name.clone()).collect()
    }

    /// The decision as one line: `modelling y (counts) given x; group indexes 1..J; unused: z`.
    pub fn summary(&self) -> String {
        let responses: Vec<String> = self
            .responses
            .iter()
            .map(|r| match &r.trials {
                Some(t) => format!("{} (successes out of {t})", r.name),
                None => format!("{} ({})", r.name, r.kind.word()),
            })
            .collect();
        let mut out = format!("modelling {}", responses.join(", "));
        if let Some(s) = &self.known_scale {
            out.push_str(&format!(" with known scales {s}"));
        }
        if !self.covariates.is_empty() {
            let names: Vec<&str> = self.covariates.iter().map(|c| c.name.as_str()).collect();
            out.push_str(&format!(" given {}", names.join(", ")));
        }
        for g in &self.groupings {
            out.push_str(&format!("; group indexes {} 1..{}", g.name, g.levels));
        }
        if let Some(t) = &self.time {
            out.push_str(&format!("; time index {t}"));
        }
        if !self.unused.is_empty() {
            out.push_str(&format!("; unused: {}", self.unused.join(", ")));
        }
        out.push_str(&format!(
            " ({})",
            match self.decided {
                Decided::User => "--response".to_string(),
                Decided::Data => format!("chosen from the data: {}", self.reason),
            }
        ));
        out
    }

    /// The schema as JSON (for logs and the diagnostics file).
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("summary".into(), self.summary().into());
        }
        value
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

fn profiles_get(arrays: &[&VarProfile], name: &str) -> VarProfile {
    arrays
        .iter()
        .find(|v| v.name == name)
        .map(|v| (*v).clone())
        .expect("a listed array")
}

/// Whether an int scalar is the level count of some grouping-like array.
fn groupings_use(profile: &DataProfile, scalar: &VarProfile) -> bool {
    profile
        .vars
        .iter()
        .any(|v| v.is_1d() && v.is_int && v.min >= 1.0 && v.max == scalar.min)
}

pub(crate) fn name_rank(name: &str, preferred: &[&str]) -> usize {
    preferred
        .iter()
        .position(|p| *p == name)
        .unwrap_or(preferred.len() + usize::from(!name.starts_with(preferred[0])))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> Schema {
        Schema::infer(
            &Data::from_json_str(json).unwrap(),
            &SchemaOptions::default(),
        )
        .unwrap()
    }

    #[test]
    fn poisson_regression_models_the_counts() {
        let s =
            schema(r#"{"N": 6, "x": [0.1, 0.5, -0.3, 1.2, 0.8, -1.0], "y": [1, 3, 0, 7, 4, 0]}"#);
        assert_eq!(s.response().name, "y");
        assert_eq!(s.response().kind, ResponseKind::Count);
        assert_eq!(s.covariates[0].name, "x");
        assert!(
            s.summary().starts_with("modelling y (counts) given x"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn a_response_chosen_by_position_alone_says_it_is_a_guess() {
        let s = schema(r#"{"N": 3, "a": [1.5, 2.5, 0.3], "b": [0.2, 1.1, 3.3]}"#);
        let other = if s.response().name == "a" { "b" } else { "a" };
        assert!(
            s.summary().contains(&format!(
                "a guess from the layout alone: if the outcome is another variable ({other})"
            )),
            "{}",
            s.summary()
        );
        // A name is evidence: no such hedge.
        let s = schema(r#"{"N": 3, "x": [1.5, 2.5, 0.3], "y": [0.2, 1.1, 3.3]}"#);
        assert!(!s.summary().contains("guess"), "{}", s.summary());
    }

    #[test]
    fn counts_explained_by_their_factors_and_exposure_are_not_overdispersed() {
        // Claims = exposure x a factor's rate, exactly: the raw counts' variance is hundreds of
        // times their mean, the Poisson GLM's Pearson dispersion far below 2.
        let exposure = [
            10.0, 200.0, 35.0, 900.0, 60.0, 15.0, 400.0, 80.0, 120.0, 30.0, 700.0, 50.0,
        ];
        let group = [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2];
        let claims: Vec<i64> = exposure
            .iter()
            .zip(group)
            .map(|(e, g)| (e * if g == 1 { 0.1_f64 } else { 0.3 }).round() as i64)
            .collect();
        let json = format!(
            r#"{{"N": 12, "J": 2, "group": {group:?}, "Holders": {exposure:?}, "Claims": {claims:?}}}"#
        );
        let s = schema(&json);
        let r = s.response();
        assert_eq!(r.name, "Claims");
        assert!(r.dispersion > 20.0, "{}", r.dispersion);
        let residual = r.residual_dispersion.unwrap();
        assert!(residual < 0.5, "{residual}");
        assert!(!r.overdispersed());
        // Counts that vary beyond their factor stay overdispersed.
        let noisy: Vec<i64> = claims
            .iter()
            .enumerate()
            .map(|(i, c)| if i % 3 == 0 { c * 3 } else { c / 2 })
            .collect();
        let s = schema(&json.replace(&format!("{claims:?}"), &format!("{noisy:?}")));
        assert!(s.response().residual_dispersion.unwrap() > 2.0);
        assert!(s.response().overdispersed());
    }

    #[test]
    fn a_power_law_is_multiplicative_and_a_line_is_not() {
        // y = x^3 (volume against girth): a straight line on log-log scales, a curve on the
        // natural ones; z = 2 x + 1 is the other way round.
        let x: Vec<f64> = (1..=12).map(|i| 8.0 + i as f64).collect();
        let cube: Vec<f64> = x.iter().map(|x| x * x * x / 100.0).collect();
        let line: Vec<f64> = x.iter().map(|x| 2.0 * x + 1.0).collect();
        let json = |y: &[f64]| format!(r#"{{"N": 12, "x": {x:?}, "y": {y:?}}}"#);
        let power = schema(&json(&cube));
        let x_cov = &power.covariates[0];
        assert!(
            x_cov.r2_loglog > 0.999 && x_cov.r2_linear < 0.99,
            "{x_cov:?}"
        );
        assert!(x_cov.multiplicative());
        assert!(!schema(&json(&line)).covariates[0].multiplicative());
    }

    #[test]
    fn binary_response_beside_a_real_covariate() {
        let s =
            schema(r#"{"N": 6, "x": [0.1, 0.5, -0.3, 1.2, 0.8, -1.0], "y": [0, 1, 0, 1, 1, 0]}"#);
        assert_eq!(s.response().name, "y");
        assert_eq!(s.response().kind, ResponseKind::Binary);
    }

    #[test]
    fn grouping_index_is_not_the_response() {
        let s = schema(
            r#"{"N": 8, "J": 3, "group": [1, 1, 2, 2, 2, 3, 3, 3], "y": [0.1, 0.3, 2.1, 2.5, 1.9, -1, -0.8, -1.2]}"#,
        );
        assert_eq!(s.response().name, "y");
        assert_eq!(s.groupings.len(), 1);
        assert_eq!(s.groupings[0].name, "group");
        assert_eq!(s.groupings[0].levels, "J");
        assert!(
            s.summary().contains("group indexes group 1..J"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn a_binary_covariate_is_not_successes_of_the_outcome() {
        let s =
            schema(r#"{"N": 6, "treat": [0, 1, 0, 1, 1, 0], "y": [3, 5, 2, 8, 6, 1], "z": 2.5}"#);
        assert_eq!(s.response().name, "y");
        assert_eq!(s.response().kind, ResponseKind::Count);
        assert!(s.covariates.iter().any(|c| c.name == "treat" && c.binary));
        assert_eq!(s.unused, ["z"]);
    }

    #[test]
    fn successes_with_trials_without_names() {
        let s = schema(r#"{"N": 4, "n": [10, 12, 8, 20], "r": [3, 0, 2, 9]}"#);
        assert_eq!(s.response().name, "r");
        assert_eq!(s.response().kind, ResponseKind::Successes);
        assert_eq!(s.response().trials.as_deref(), Some("n"));
    }

    #[test]
    fn known_scales_and_counts_beside_a_time_index() {
        let s = schema(r#"{"J": 3, "y": [28, 8, -3], "sigma": [15, 10, 16]}"#);
        assert_eq!(s.response().name, "y");
        assert_eq!(s.known_scale.as_deref(), Some("sigma"));
        let s =
            schema(r#"{"nyears": 5, "year": [-1, -0.5, 0, 0.5, 1], "C": [27, 42, 35, 55, 61]}"#);
        assert_eq!(s.response().name, "C");
        assert_eq!(s.time.as_deref(), Some("year"));
    }

    #[test]
    fn describe_and_response_flag_decide() {
        let data = Data::from_json_str(
            r#"{"N": 4, "a": [1.0, 2.5, 0.3, 4.1], "b": [0.2, 0.1, 0.5, 0.9]}"#,
        )
        .unwrap();
        let s = Schema::infer(
            &data,
            &SchemaOptions {
                responses: vec![],
                describe: Some("b against a".into()),
                ..SchemaOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.response().name, "b");
        // Any case, a word the name begins, its parts as words; predictors after "given".
        let named = Data::from_json_str(
            r#"{"N": 4, "Infant_Mortality": [20.1, 22.5, 18.3, 24.1], "speed": [4, 7, 8, 9], "dist": [2.0, 10.0, 16.0, 10.0], "last": [0.2, 0.1, 0.5, 0.9]}"#,
        )
        .unwrap();
        let decide = |describe: &str| {
            let options = SchemaOptions {
                describe: Some(describe.into()),
                ..SchemaOptions::default()
            };
            Schema::infer(&named, &options)
                .unwrap()
                .response()
                .name
                .clone()
        };
        assert_eq!(decide("stopping distance of cars given speed"), "dist");
        assert_eq!(decide("the speed of cars"), "speed");
        assert_eq!(decide("infant mortality per province"), "Infant_Mortality");
        assert_eq!(decide("Speed, given the stopping distance"), "speed");
        let s = Schema::infer(
            &data,
            &SchemaOptions {
                responses: vec!["a".into()],
                describe: None,
                ..SchemaOptions::default()
            },
        )
        .unwrap();
        assert_eq!(s.response().name, "a");
        assert_eq!(s.decided, Decided::User);
        let err = Schema::infer(
            &data,
            &SchemaOptions {
                responses: vec!["q".into()],
                describe: None,
                ..SchemaOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("no variable `q`"), "{err}");
        let err = Schema::infer(
            &data,
            &SchemaOptions {
                responses: vec!["N".into()],
                describe: None,
                ..SchemaOptions::default()
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("scalar"), "{err}");
    }

    #[test]
    fn no_array_is_an_error() {
        let err = Schema::infer(
            &Data::from_json_str(r#"{"N": 3, "mu": 1.5}"#).unwrap(),
            &SchemaOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, SchemaError::NothingToModel { .. }));
        assert!(err.to_string().contains("nothing to model"), "{err}");
    }
}
