//! The distributions and math functions the language knows, with their signatures and supports.
//!
//! Shared by the checker (argument kinds, supports, output ranges for interval analysis), the
//! model crate (which distributions and functions exist, argument order and names) and the decoder.
//!
//! * [`distribution`] / [`distributions`]: each [`DistSpec`] gives the variate and parameters as
//!   [`Arg`]s (name, [`ArgKind`], [`Support`]), and which suffixes exist ([`Suffix`]).
//! * [`function`] / [`functions`]: each [`FunctionSpec`] types a call and maps argument ranges to
//!   the output range ([`FunctionSpec::apply`]).
//! * [`resolve`] splits a called name like `normal_lpdf` into a distribution and suffix, or finds a
//!   math function.
//!
//! `core` marks the entries DESIGN.md requires; the others are common Stan functions accepted by
//! the checker that a back end may still reject as unsupported.
//!
//! ```
//! use refinestat_language::catalog::{self, ArgKind, Callee, Suffix, Support};
//! let normal = catalog::distribution("normal").unwrap();
//! assert_eq!(normal.params[1].name, "sigma");
//! assert_eq!(normal.params[1].support, Support::Positive);
//! assert_eq!(normal.variate.kind, ArgKind::Reals);
//! assert!(matches!(catalog::resolve("poisson_lpmf"), Some(Callee::Dist(d, Suffix::Lpmf)) if d.discrete));
//! assert!(catalog::resolve("normal_lpmf").is_none());
//! let exp = catalog::function("exp").unwrap();
//! let out = exp.apply(&[catalog::ArgInfo::new(refinestat_language::check::types::Ty::REAL)]).unwrap();
//! assert!(out.range.is_positive());
//! ```

use super::intervals::Interval;
use super::types::{Base, Sizes, Structure, Ty};
use std::fmt;

/// The kind of value an argument accepts (Stan's signature classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArgKind {
    /// One `real` (an `int` promotes).
    Real,
    /// One `int`.
    Int,
    /// Stan's vectorized `reals`: `real`, `int`, `vector`, `row_vector`, or a 1-D array of reals/ints.
    Reals,
    /// Vectorized `ints`: `int` or a 1-D array of ints.
    Ints,
    /// A `vector`.
    Vector,
    /// A `vector` or `row_vector`, or a 1-D array of them (multivariate variates and locations).
    Vectors,
    /// A `matrix`.
    Matrix,
}

impl ArgKind {
    /// Does a value of type `ty` fit this kind?
    pub fn accepts(self, ty: Ty) -> bool {
        match self {
            ArgKind::Real => ty.is_scalar(),
            ArgKind::Int => ty.is_int(),
            ArgKind::Reals => {
                ty.is_scalar()
                    || (ty.array_dims == 0 && matches!(ty.base, Base::Vector | Base::RowVector))
                    || (ty.array_dims == 1 && matches!(ty.base, Base::Int | Base::Real))
            }
            ArgKind::Ints => ty.base == Base::Int && ty.array_dims <= 1,
            ArgKind::Vector => ty == Ty::VECTOR,
            ArgKind::Vectors => {
                ty.array_dims <= 1 && matches!(ty.base, Base::Vector | Base::RowVector)
            }
            ArgKind::Matrix => ty == Ty::MATRIX,
        }
    }

    /// Would this kind accept `ty` if only ints were reals? (A real given where an int is needed.)
    pub fn accepts_if_int(self, ty: Ty) -> bool {
        match self {
            ArgKind::Int => ty == Ty::REAL,
            ArgKind::Ints => ty.base == Base::Real && ty.array_dims <= 1,
            _ => false,
        }
    }

    /// Vectorized: a container of values stands for as many scalars.
    pub fn is_vectorized(self) -> bool {
        matches!(self, ArgKind::Reals | ArgKind::Ints | ArgKind::Vectors)
    }

    /// Words for messages: "real (or a vector / array of reals)".
    pub fn describe(self) -> &'static str {
        match self {
            ArgKind::Real => "a real",
            ArgKind::Int => "an int",
            ArgKind::Reals => "a real, vector, row_vector or 1-D array of reals",
            ArgKind::Ints => "an int or 1-D array of ints",
            ArgKind::Vector => "a vector",
            ArgKind::Vectors => "a vector, row_vector, or array of them",
            ArgKind::Matrix => "a matrix",
        }
    }
}

/// Where the values of an argument (or of the variate) must lie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Support {
    /// Any real.
    Real,
    /// > 0.
    Positive,
    /// >= 0.
    NonNegative,
    /// [0, 1].
    Unit,
    /// (0, 1).
    OpenUnit,
    /// Between the values of two parameters (indexes into [`DistSpec::params`]), as for `uniform`.
    Between {
        /// Index of the lower-bound parameter.
        lower: usize,
        /// Index of the upper-bound parameter.
        upper: usize,
    },
    /// An int >= 0.
    Count,
    /// An int in 0..=the value of parameter `.0` (binomial successes out of N).
    CountUpTo(usize),
    /// 0 or 1.
    Binary,
    /// An int in 1..=the length of parameter `.0` (categorical outcomes).
    Category(usize),
    /// A simplex (non-negative, sums to 1).
    Simplex,
    /// A Cholesky factor of a correlation matrix.
    CholeskyFactorCorr,
    /// A Cholesky factor of a covariance matrix.
    CholeskyFactor,
    /// A symmetric positive-definite matrix.
    CovMatrix,
}

impl Support {
    /// The range each element must lie in, when it is a fixed interval.
    pub fn interval(self) -> Option<Interval> {
        match self {
            Support::Real => Some(Interval::ALL),
            Support::Positive => Some(Interval::POSITIVE),
            Support::NonNegative | Support::Count | Support::CountUpTo(_) => {
                Some(Interval::NON_NEGATIVE)
            }
            Support::Unit | Support::Binary | Support::Simplex => Some(Interval::UNIT),
            Support::OpenUnit => Some(Interval::OPEN_UNIT),
            Support::Category(_) => Some(Interval::new(1.0, false, f64::INFINITY, true)),
            Support::Between { .. }
            | Support::CholeskyFactorCorr
            | Support::CholeskyFactor
            | Support::CovMatrix => None,
        }
    }

    /// Values must be integers.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Support::Count | Support::CountUpTo(_) | Support::Binary | Support::Category(_)
        )
    }

    /// The structure a vector/matrix must have, if any.
    pub fn structure(self) -> Option<Structure> {
        match self {
            Support::Simplex => Some(Structure::Simplex),
            Support::CholeskyFactorCorr => Some(Structure::CholeskyFactorCorr),
            Support::CholeskyFactor => Some(Structure::CholeskyFactor),
            Support::CovMatrix => Some(Structure::CovMatrix),
            _ => None,
        }
    }

    /// Words for messages: "> 0", "in [0, 1]".
    pub fn describe(self) -> &'static str {
        match self {
            Support::Real => "any real",
            Support::Positive => "> 0",
            Support::NonNegative => ">= 0",
            Support::Unit => "in [0, 1]",
            Support::OpenUnit => "in (0, 1)",
            Support::Between { .. } => "between the lower and upper limits",
            Support::Count => "an integer >= 0",
            Support::CountUpTo(_) => "an integer between 0 and the number of trials",
            Support::Binary => "0 or 1",
            Support::Category(_) => "an integer between 1 and the number of categories",
            Support::Simplex => "a simplex (non-negative, summing to 1)",
            Support::CholeskyFactorCorr => "the Cholesky factor of a correlation matrix",
            Support::CholeskyFactor => "a Cholesky factor",
            Support::CovMatrix => "a covariance matrix",
        }
    }
}

/// One argument of a distribution: its conventional name, kind and support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arg {
    /// The conventional name (`mu`, `sigma`).
    pub name: &'static str,
    /// The types it accepts.
    pub kind: ArgKind,
    /// Where its values must lie.
    pub support: Support,
}

const fn arg(name: &'static str, kind: ArgKind, support: Support) -> Arg {
    Arg {
        name,
        kind,
        support,
    }
}

/// The suffix forms of a distribution name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suffix {
    /// `_lpdf`
    Lpdf,
    /// `_lupdf`
    Lupdf,
    /// `_lpmf`
    Lpmf,
    /// `_lupmf`
    Lupmf,
    /// `_lcdf`
    Lcdf,
    /// `_lccdf`
    Lccdf,
    /// `_cdf`
    Cdf,
    /// `_rng`
    Rng,
}

impl Suffix {
    /// Every suffix.
    pub const ALL: [Suffix; 8] = [
        Suffix::Lpdf,
        Suffix::Lupdf,
        Suffix::Lpmf,
        Suffix::Lupmf,
        Suffix::Lcdf,
        Suffix::Lccdf,
        Suffix::Cdf,
        Suffix::Rng,
    ];

    /// The suffix as written, underscore included.
    pub fn as_str(self) -> &'static str {
        match self {
            Suffix::Lpdf => "_lpdf",
            Suffix::Lupdf => "_lupdf",
            Suffix::Lpmf => "_lpmf",
            Suffix::Lupmf => "_lupmf",
            Suffix::Lcdf => "_lcdf",
            Suffix::Lccdf => "_lccdf",
            Suffix::Cdf => "_cdf",
            Suffix::Rng => "_rng",
        }
    }

    /// A log density or mass (`_lpdf`, `_lupdf`, `_lpmf`, `_lupmf`).
    pub fn is_density(self) -> bool {
        matches!(
            self,
            Suffix::Lpdf | Suffix::Lupdf | Suffix::Lpmf | Suffix::Lupmf
        )
    }

    /// Takes the variate first (`f(y | params)`): densities and cumulative forms.
    pub fn takes_variate(self) -> bool {
        self != Suffix::Rng
    }
}

/// A distribution: `name(variate | params)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DistSpec {
    /// The name without suffix (`normal`).
    pub name: &'static str,
    /// Integer variate (`_lpmf`) rather than continuous (`_lpdf`).
    pub discrete: bool,
    /// The variate's kind and support.
    pub variate: Arg,
    /// The parameters, in order.
    pub params: &'static [Arg],
    /// `_cdf`, `_lcdf`, `_lccdf` exist.
    pub has_cdf: bool,
    /// `_rng` exists.
    pub has_rng: bool,
    /// Required by DESIGN.md; the others are common Stan distributions accepted beside them.
    pub core: bool,
}

impl DistSpec {
    /// The suffixed forms this distribution has.
    pub fn suffixes(&self) -> Vec<Suffix> {
        let mut v = if self.discrete {
            vec![Suffix::Lpmf, Suffix::Lupmf]
        } else {
            vec![Suffix::Lpdf, Suffix::Lupdf]
        };
        if self.has_cdf {
            v.extend([Suffix::Lcdf, Suffix::Lccdf, Suffix::Cdf]);
        }
        if self.has_rng {
            v.push(Suffix::Rng);
        }
        v
    }

    /// Does this distribution have the suffixed form `s`?
    pub fn has_suffix(&self, s: Suffix) -> bool {
        match s {
            Suffix::Lpdf | Suffix::Lupdf => !self.discrete,
            Suffix::Lpmf | Suffix::Lupmf => self.discrete,
            Suffix::Lcdf | Suffix::Lccdf | Suffix::Cdf => self.has_cdf,
            Suffix::Rng => self.has_rng,
        }
    }

    /// The density suffix of this distribution (`_lpdf` or `_lpmf`).
    pub fn density_suffix(&self) -> Suffix {
        if self.discrete {
            Suffix::Lpmf
        } else {
            Suffix::Lpdf
        }
    }

    /// `normal(real y | real mu, real<lower=0> sigma)`-style text for messages and hints.
    pub fn signature(&self) -> String {
        let show = |a: &Arg| a.name.to_string();
        let params: Vec<String> = self.params.iter().map(show).collect();
        if params.is_empty() {
            format!("{}({})", self.name, self.variate.name)
        } else {
            format!(
                "{}({} | {})",
                self.name,
                self.variate.name,
                params.join(", ")
            )
        }
    }

    /// `y ~ normal(mu, sigma)`-style usage text.
    pub fn usage(&self) -> String {
        let params: Vec<&str> = self.params.iter().map(|a| a.name).collect();
        format!(
            "{} ~ {}({})",
            self.variate.name,
            self.name,
            params.join(", ")
        )
    }
}

use ArgKind as K;
use Support as S;

static DISTRIBUTIONS: &[DistSpec] = &[
    cont(
        "normal",
        S::Real,
        &[
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    DistSpec {
        name: "std_normal",
        discrete: false,
        variate: arg("y", K::Reals, S::Real),
        params: &[],
        has_cdf: true,
        has_rng: true,
        core: true,
    },
    cont(
        "student_t",
        S::Real,
        &[
            arg("nu", K::Reals, S::Positive),
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "cauchy",
        S::Real,
        &[
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "double_exponential",
        S::Real,
        &[
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "logistic",
        S::Real,
        &[
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "lognormal",
        S::Positive,
        &[
            arg("mu", K::Reals, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "exponential",
        S::NonNegative,
        &[arg("beta", K::Reals, S::Positive)],
    ),
    cont(
        "gamma",
        S::Positive,
        &[
            arg("alpha", K::Reals, S::Positive),
            arg("beta", K::Reals, S::Positive),
        ],
    ),
    cont(
        "inv_gamma",
        S::Positive,
        &[
            arg("alpha", K::Reals, S::Positive),
            arg("beta", K::Reals, S::Positive),
        ],
    ),
    cont(
        "weibull",
        S::NonNegative,
        &[
            arg("alpha", K::Reals, S::Positive),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    cont(
        "beta",
        S::OpenUnit,
        &[
            arg("alpha", K::Reals, S::Positive),
            arg("beta", K::Reals, S::Positive),
        ],
    ),
    cont(
        "uniform",
        S::Between { lower: 0, upper: 1 },
        &[
            arg("alpha", K::Reals, S::Real),
            arg("beta", K::Reals, S::Real),
        ],
    ),
    cont(
        "chi_square",
        S::NonNegative,
        &[arg("nu", K::Reals, S::Positive)],
    ),
    disc(
        "bernoulli",
        S::Binary,
        true,
        &[arg("theta", K::Reals, S::Unit)],
    ),
    disc(
        "bernoulli_logit",
        S::Binary,
        false,
        &[arg("alpha", K::Reals, S::Real)],
    ),
    disc(
        "binomial",
        S::CountUpTo(0),
        true,
        &[arg("N", K::Ints, S::Count), arg("theta", K::Reals, S::Unit)],
    ),
    disc(
        "binomial_logit",
        S::CountUpTo(0),
        false,
        &[arg("N", K::Ints, S::Count), arg("alpha", K::Reals, S::Real)],
    ),
    disc(
        "poisson",
        S::Count,
        true,
        &[arg("lambda", K::Reals, S::NonNegative)],
    ),
    disc(
        "poisson_log",
        S::Count,
        false,
        &[arg("alpha", K::Reals, S::Real)],
    ),
    disc(
        "neg_binomial_2",
        S::Count,
        true,
        &[
            arg("mu", K::Reals, S::Positive),
            arg("phi", K::Reals, S::Positive),
        ],
    ),
    disc(
        "neg_binomial_2_log",
        S::Count,
        false,
        &[
            arg("eta", K::Reals, S::Real),
            arg("phi", K::Reals, S::Positive),
        ],
    ),
    DistSpec {
        name: "categorical",
        discrete: true,
        variate: arg("y", K::Ints, S::Category(0)),
        params: &[arg("theta", K::Vector, S::Simplex)],
        has_cdf: false,
        has_rng: true,
        core: true,
    },
    DistSpec {
        name: "categorical_logit",
        discrete: true,
        variate: arg("y", K::Ints, S::Category(0)),
        params: &[arg("beta", K::Vector, S::Real)],
        has_cdf: false,
        has_rng: true,
        core: false,
    },
    multi(
        "multi_normal",
        arg("y", K::Vectors, S::Real),
        &[
            arg("mu", K::Vectors, S::Real),
            arg("Sigma", K::Matrix, S::CovMatrix),
        ],
    ),
    multi(
        "multi_normal_cholesky",
        arg("y", K::Vectors, S::Real),
        &[
            arg("mu", K::Vectors, S::Real),
            arg("L", K::Matrix, S::CholeskyFactor),
        ],
    ),
    multi(
        "lkj_corr_cholesky",
        arg("L", K::Matrix, S::CholeskyFactorCorr),
        &[arg("eta", K::Real, S::Positive)],
    ),
    multi(
        "dirichlet",
        arg("theta", K::Vector, S::Simplex),
        &[arg("alpha", K::Vector, S::Positive)],
    ),
];

const fn cont(name: &'static str, support: Support, params: &'static [Arg]) -> DistSpec {
    DistSpec {
        name,
        discrete: false,
        variate: arg("y", K::Reals, support),
        params,
        has_cdf: true,
        has_rng: true,
        core: true,
    }
}

const fn disc(
    name: &'static str,
    support: Support,
    has_cdf: bool,
    params: &'static [Arg],
) -> DistSpec {
    DistSpec {
        name,
        discrete: true,
        variate: arg("n", K::Ints, support),
        params,
        has_cdf,
        has_rng: true,
        core: true,
    }
}

const fn multi(name: &'static str, variate: Arg, params: &'static [Arg]) -> DistSpec {
    DistSpec {
        name,
        discrete: false,
        variate,
        params,
        has_cdf: false,
        has_rng: true,
        core: true,
    }
}

/// Distributions of Stan's library that real programs use beyond DESIGN.md's list. The checker
/// and the model know them; they are not part of [`distributions`], which is also the vocabulary
/// the synthesis grammar offers, so generation is unchanged by them.
static LIBRARY_DISTRIBUTIONS: &[DistSpec] = &[
    library(
        "normal_id_glm",
        false,
        arg("y", K::Reals, S::Real),
        &[
            arg("x", K::Matrix, S::Real),
            arg("alpha", K::Reals, S::Real),
            arg("beta", K::Vector, S::Real),
            arg("sigma", K::Reals, S::Positive),
        ],
    ),
    library(
        "bernoulli_logit_glm",
        true,
        arg("y", K::Ints, S::Binary),
        &[
            arg("x", K::Matrix, S::Real),
            arg("alpha", K::Reals, S::Real),
            arg("beta", K::Vector, S::Real),
        ],
    ),
    library(
        "poisson_log_glm",
        true,
        arg("y", K::Ints, S::Count),
        &[
            arg("x", K::Matrix, S::Real),
            arg("alpha", K::Reals, S::Real),
            arg("beta", K::Vector, S::Real),
        ],
    ),
    library(
        "neg_binomial_2_log_glm",
        true,
        arg("y", K::Ints, S::Count),
        &[
            arg("x", K::Matrix, S::Real),
            arg("alpha", K::Reals, S::Real),
            arg("beta", K::Vector, S::Real),
            arg("phi", K::Reals, S::Positive),
        ],
    ),
    library(
        "multi_normal_prec",
        false,
        arg("y", K::Vectors, S::Real),
        &[
            arg("mu", K::Vectors, S::Real),
            arg("Omega", K::Matrix, S::CovMatrix),
        ],
    ),
    library(
        "multi_student_t",
        false,
        arg("y", K::Vectors, S::Real),
        &[
            arg("nu", K::Real, S::Positive),
            arg("mu", K::Vectors, S::Real),
            arg("Sigma", K::Matrix, S::CovMatrix),
        ],
    ),
    library(
        "multi_student_t_cholesky",
        false,
        arg("y", K::Vectors, S::Real),
        &[
            arg("nu", K::Real, S::Positive),
            arg("mu", K::Vectors, S::Real),
            arg("L", K::Matrix, S::CholeskyFactor),
        ],
    ),
    library(
        "multinomial",
        true,
        arg("y", K::Ints, S::Count),
        &[arg("theta", K::Vector, S::Simplex)],
    ),
    library(
        "multinomial_logit",
        true,
        arg("y", K::Ints, S::Count),
        &[arg("gamma", K::Vector, S::Real)],
    ),
    library(
        "wishart",
        false,
        arg("W", K::Matrix, S::CovMatrix),
        &[
            arg("nu", K::Real, S::Positive),
            arg("Sigma", K::Matrix, S::CovMatrix),
        ],
    ),
    library(
        "inv_wishart",
        false,
        arg("W", K::Matrix, S::CovMatrix),
        &[
            arg("nu", K::Real, S::Positive),
            arg("Sigma", K::Matrix, S::CovMatrix),
        ],
    ),
    library(
        "neg_binomial",
        true,
        arg("n", K::Ints, S::Count),
        &[
            arg("alpha", K::Real, S::Positive),
            arg("beta", K::Real, S::Positive),
        ],
    ),
    library(
        "pareto",
        false,
        arg("y", K::Reals, S::Positive),
        &[
            arg("y_min", K::Real, S::Positive),
            arg("alpha", K::Real, S::Positive),
        ],
    ),
    library(
        "beta_binomial",
        true,
        arg("n", K::Ints, S::CountUpTo(0)),
        &[
            arg("N", K::Ints, S::Count),
            arg("alpha", K::Reals, S::Positive),
            arg("beta", K::Reals, S::Positive),
        ],
    ),
    library(
        "lkj_corr",
        false,
        arg("y", K::Matrix, S::CovMatrix),
        &[arg("eta", K::Real, S::Positive)],
    ),
];

const fn library(
    name: &'static str,
    discrete: bool,
    variate: Arg,
    params: &'static [Arg],
) -> DistSpec {
    DistSpec {
        name,
        discrete,
        variate,
        params,
        has_cdf: false,
        has_rng: false,
        core: false,
    }
}

/// Every distribution, in DESIGN.md's order (the generation vocabulary; see also
/// [`library_distributions`]).
pub fn distributions() -> &'static [DistSpec] {
    DISTRIBUTIONS
}

/// The further library distributions the checker and the model know (not offered to generation).
pub fn library_distributions() -> &'static [DistSpec] {
    LIBRARY_DISTRIBUTIONS
}

/// A distribution by its bare name (`normal`, not `normal_lpdf`).
pub fn distribution(name: &str) -> Option<&'static DistSpec> {
    DISTRIBUTIONS
        .iter()
        .chain(LIBRARY_DISTRIBUTIONS)
        .find(|d| d.name == name)
}

/// What a called name refers to.
#[derive(Debug, Clone, Copy)]
pub enum Callee {
    /// `normal_lpdf`, `poisson_rng`, ...
    Dist(&'static DistSpec, Suffix),
    /// A math function.
    Function(&'static FunctionSpec),
}

/// Split `name` into a distribution and a suffix it has, or find a math function.
pub fn resolve(name: &str) -> Option<Callee> {
    if let Some(f) = function(name) {
        return Some(Callee::Function(f));
    }
    let (base, suffix) = split_suffix(name)?;
    let d = distribution(base)?;
    d.has_suffix(suffix).then_some(Callee::Dist(d, suffix))
}

/// `normal_lpdf` -> (`normal`, Lpdf); `None` when no known suffix ends the name.
pub fn split_suffix(name: &str) -> Option<(&str, Suffix)> {
    Suffix::ALL
        .iter()
        .find_map(|s| name.strip_suffix(s.as_str()).map(|base| (base, *s)))
}

/// Every name a call may use: functions and each distribution with each of its suffixes.
pub fn callable_names() -> impl Iterator<Item = String> {
    FUNCTIONS
        .iter()
        .map(|f| f.name.to_string())
        .chain(DISTRIBUTIONS.iter().flat_map(|d| {
            d.suffixes()
                .into_iter()
                .map(move |s| format!("{}{}", d.name, s.as_str()))
        }))
}

/// [`callable_names`], collected once.
pub fn callable_name_list() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| callable_names().collect())
}

/// The callable name [`closest`] to an unknown function name `n`, remembered per name (per
/// thread, up to 4096 names): the decoder re-checks the program at every token, so the same
/// unknown name is hinted at again and again, and a random-weight model writes hundreds.
pub fn closest_callable(n: &str) -> Option<String> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    thread_local! {
        static SEEN: RefCell<HashMap<String, Option<String>>> = RefCell::new(HashMap::new());
    }
    SEEN.with(|seen| {
        if let Some(hit) = seen.borrow().get(n) {
            return hit.clone();
        }
        let found = closest(n, callable_name_list().iter().map(String::as_str)).map(str::to_string);
        let mut seen = seen.borrow_mut();
        if seen.len() >= 4096 {
            seen.clear();
        }
        seen.insert(n.to_string(), found.clone());
        found
    })
}

// ---------------------------------------------------------------------------------------------
// Math functions
// ---------------------------------------------------------------------------------------------

/// What the checker knows about one argument of a call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ArgInfo {
    /// Its type.
    pub ty: Ty,
    /// Its sizes, where known.
    pub sizes: Sizes,
    /// The range of every element.
    pub range: Interval,
    /// A structural guarantee (simplex, Cholesky factor, ...), where known.
    pub structure: Structure,
}

impl ArgInfo {
    /// An argument of type `ty` about which nothing else is known.
    pub fn new(ty: Ty) -> ArgInfo {
        ArgInfo {
            ty,
            sizes: Sizes::UNKNOWN,
            range: Interval::ALL,
            structure: Structure::Unknown,
        }
    }

    /// The value when it is a known scalar.
    pub fn value(&self) -> Option<f64> {
        if self.ty.is_scalar() {
            self.range.is_point()
        } else {
            None
        }
    }

    /// The value as a size, when it is a known non-negative int.
    fn size_value(&self) -> Option<u32> {
        let v = self.value()?;
        (v >= 0.0 && v.fract() == 0.0 && v < u32::MAX as f64).then_some(v as u32)
    }

    /// Number of elements, when every size is known.
    pub fn element_count(&self) -> Option<u64> {
        self.sizes.count(self.ty.rank())
    }
}

/// The type, sizes, range and structure of a call's result.
pub type Output = ArgInfo;

/// How a function types its arguments.
#[derive(Clone, Copy)]
enum FnKind {
    /// Elementwise on any numeric value; the result has the argument's shape (ints become reals
    /// unless `keeps_int`), and each element's range is mapped by the function.
    Unary {
        range: fn(Interval) -> Interval,
        keeps_int: bool,
    },
    /// Elementwise on two arguments (scalars, or containers of one shape with scalars broadcast).
    Binary {
        range: fn(Interval, Interval) -> Interval,
    },
    /// A constant of no arguments.
    Constant(f64),
    Custom(fn(&[ArgInfo]) -> Result<Output, String>),
}

/// A math function.
#[derive(Clone, Copy)]
pub struct FunctionSpec {
    /// The name as called.
    pub name: &'static str,
    /// Human-readable signatures, e.g. `exp(reals x) -> reals`.
    pub signatures: &'static [&'static str],
    /// Required by DESIGN.md (the model crate implements it).
    pub core: bool,
    kind: FnKind,
}

impl fmt::Debug for FunctionSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionSpec")
            .field("name", &self.name)
            .field("signatures", &self.signatures)
            .field("core", &self.core)
            .finish()
    }
}

impl FunctionSpec {
    /// Type a call: the output's type, sizes, range and structure, or why the arguments do not fit
    /// (wrong number or kinds), as a sentence naming what was expected.
    pub fn apply(&self, args: &[ArgInfo]) -> Result<Output, String> {
        match self.kind {
            FnKind::Unary { range, keeps_int } => {
                let [a] = args else {
                    return Err(self.arity_error(args.len()));
                };
                if a.ty.array_dims > 0 && a.ty.is_linear_algebra() {
                    return Err(self.expected());
                }
                let ty = if keeps_int { a.ty } else { a.ty.promoted() };
                Ok(ArgInfo {
                    ty,
                    sizes: a.sizes,
                    range: range(a.range),
                    structure: Structure::Unknown,
                })
            }
            FnKind::Binary { range } => {
                let [a, b] = args else {
                    return Err(self.arity_error(args.len()));
                };
                let ty = if a.ty.is_scalar() && b.ty.is_scalar() {
                    Ty::REAL
                } else if a.ty.promoted() == b.ty.promoted() || b.ty.is_scalar() {
                    a.ty.promoted()
                } else if a.ty.is_scalar() {
                    b.ty.promoted()
                } else {
                    return Err(self.expected());
                };
                let sizes = if a.ty.is_scalar() { b.sizes } else { a.sizes };
                Ok(ArgInfo {
                    ty,
                    sizes,
                    range: range(a.range, b.range),
                    structure: Structure::Unknown,
                })
            }
            FnKind::Constant(x) => {
                if !args.is_empty() {
                    return Err(self.arity_error(args.len()));
                }
                Ok(ArgInfo {
                    ty: Ty::REAL,
                    sizes: Sizes::UNKNOWN,
                    range: Interval::point(x),
                    structure: Structure::Unknown,
                })
            }
            FnKind::Custom(f) => {
                f(args).map_err(|e| if e.is_empty() { self.expected() } else { e })
            }
        }
    }

    /// The result type for argument types alone (`None` when they do not fit).
    pub fn return_type(&self, arg_types: &[Ty]) -> Option<Ty> {
        let args: Vec<ArgInfo> = arg_types.iter().map(|t| ArgInfo::new(*t)).collect();
        self.apply(&args).ok().map(|o| o.ty)
    }

    fn arity_error(&self, got: usize) -> String {
        format!(
            "{got} argument{} given; expected {}",
            if got == 1 { "" } else { "s" },
            self.signatures.join(" or ")
        )
    }

    fn expected(&self) -> String {
        format!("expected {}", self.signatures.join(" or "))
    }
}

/// Every math function.
pub fn functions() -> &'static [FunctionSpec] {
    FUNCTIONS
}

/// A math function by name (also the [`library_functions`]).
pub fn function(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS
        .iter()
        .chain(LIBRARY_FUNCTIONS)
        .find(|f| f.name == name)
}

/// Functions of Stan's library that real programs use beyond DESIGN.md's list: known to the
/// checker and the model, not offered to generation (like [`library_distributions`]).
pub fn library_functions() -> &'static [FunctionSpec] {
    LIBRARY_FUNCTIONS
}

static LIBRARY_FUNCTIONS: &[FunctionSpec] = &[
    custom(
        "sort_indices_asc",
        &["sort_indices_asc(container x) -> array[] int"],
        false,
        sort_indices,
    ),
    custom(
        "sort_indices_desc",
        &["sort_indices_desc(container x) -> array[] int"],
        false,
        sort_indices,
    ),
    custom(
        "rank",
        &["rank(container x, int s) -> int"],
        false,
        |a| match a {
            [x, s] if (is_1d(x.ty) || x.ty.array_dims == 1) && s.ty.is_int() => Ok(int_out(None)),
            _ => Err(String::new()),
        },
    ),
    custom("dims", &["dims(T x) -> array[] int"], false, |a| match a {
        [x] => Ok(ArgInfo {
            ty: Ty::array(Base::Int, 1),
            sizes: Sizes::from_slice(&[Some(x.ty.rank() as u32)]),
            range: Interval::NON_NEGATIVE,
            structure: Structure::Unknown,
        }),
        _ => Err(String::new()),
    }),
    custom(
        "sub_col",
        &["sub_col(matrix x, int i, int j, int n_rows) -> vector"],
        false,
        |a| sub_matrix(a, Ty::VECTOR),
    ),
    custom(
        "sub_row",
        &["sub_row(matrix x, int i, int j, int n_cols) -> row_vector"],
        false,
        |a| sub_matrix(a, Ty::ROW_VECTOR),
    ),
    custom(
        "inverse_spd",
        &["inverse_spd(matrix A) -> matrix"],
        false,
        square_matrix,
    ),
    custom(
        "symmetrize_from_lower_tri",
        &["symmetrize_from_lower_tri(matrix A) -> matrix"],
        false,
        square_matrix,
    ),
    custom(
        "append_array",
        &["append_array(array[] T x, array[] T y) -> array[] T"],
        false,
        |a| match a {
            [x, y] if x.ty.array_dims == 1 && x.ty == y.ty => {
                let mut sizes = x.sizes;
                sizes.set(0, x.sizes.get(0).zip(y.sizes.get(0)).map(|(p, q)| p + q));
                Ok(ArgInfo {
                    ty: x.ty,
                    sizes,
                    range: x.range.union(&y.range),
                    structure: Structure::Unknown,
                })
            }
            _ => Err(String::new()),
        },
    ),
    unary("inv_Phi", &["inv_Phi(reals p) -> reals"], false, all),
];

fn sort_indices(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x] if is_1d(x.ty) || x.ty.array_dims == 1 => Ok(ArgInfo {
            ty: Ty::array(Base::Int, 1),
            sizes: Sizes::from_slice(&[x.sizes.get(0)]),
            range: Interval::new(1.0, false, f64::INFINITY, true),
            structure: Structure::Unknown,
        }),
        _ => Err(String::new()),
    }
}

fn sub_matrix(a: &[ArgInfo], out: Ty) -> Result<Output, String> {
    match a {
        [x, i, j, n] if x.ty == Ty::MATRIX && i.ty.is_int() && j.ty.is_int() && n.ty.is_int() => {
            Ok(ArgInfo {
                ty: out,
                sizes: Sizes::from_slice(&[n.size_value()]),
                range: x.range,
                structure: Structure::Unknown,
            })
        }
        _ => Err(String::new()),
    }
}

fn square_matrix(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x] if x.ty == Ty::MATRIX => Ok(ArgInfo {
            ty: Ty::MATRIX,
            sizes: x.sizes,
            range: Interval::ALL,
            structure: Structure::Unknown,
        }),
        _ => Err(String::new()),
    }
}

const fn unary(
    name: &'static str,
    sig: &'static [&'static str],
    core: bool,
    range: fn(Interval) -> Interval,
) -> FunctionSpec {
    FunctionSpec {
        name,
        signatures: sig,
        core,
        kind: FnKind::Unary {
            range,
            keeps_int: false,
        },
    }
}

const fn binary(
    name: &'static str,
    sig: &'static [&'static str],
    core: bool,
    range: fn(Interval, Interval) -> Interval,
) -> FunctionSpec {
    FunctionSpec {
        name,
        signatures: sig,
        core,
        kind: FnKind::Binary { range },
    }
}

const fn custom(
    name: &'static str,
    sig: &'static [&'static str],
    core: bool,
    f: fn(&[ArgInfo]) -> Result<Output, String>,
) -> FunctionSpec {
    FunctionSpec {
        name,
        signatures: sig,
        core,
        kind: FnKind::Custom(f),
    }
}

const fn constant(name: &'static str, core: bool, x: f64) -> FunctionSpec {
    FunctionSpec {
        name,
        signatures: &["() -> real"],
        core,
        kind: FnKind::Constant(x),
    }
}

fn all(_: Interval) -> Interval {
    Interval::ALL
}

fn logit_range(x: Interval) -> Interval {
    x.map_increasing(|p| (p / (1.0 - p)).ln())
}

fn inv_logit_range(x: Interval) -> Interval {
    x.map_increasing(|v| 1.0 / (1.0 + (-v).exp()))
}

fn positive_if_positive(x: Interval) -> Interval {
    if x.is_positive() {
        Interval::POSITIVE
    } else if x.is_non_negative() {
        Interval::NON_NEGATIVE
    } else {
        Interval::ALL
    }
}

static FUNCTIONS: &[FunctionSpec] = &[
    unary("exp", &["exp(reals x) -> reals"], true, |x| {
        x.map_increasing(f64::exp)
    }),
    // log, log2 and log10 also exist as constants with no arguments.
    custom(
        "log",
        &["log(reals x) -> reals", "log() -> real"],
        true,
        |a| log_like(a, f64::ln, std::f64::consts::E),
    ),
    custom(
        "log2",
        &["log2(reals x) -> reals", "log2() -> real"],
        true,
        |a| log_like(a, f64::log2, 2.0),
    ),
    custom(
        "log10",
        &["log10(reals x) -> reals", "log10() -> real"],
        true,
        |a| log_like(a, f64::log10, 10.0),
    ),
    unary("log1p", &["log1p(reals x) -> reals"], true, |x| {
        x.map_increasing(f64::ln_1p)
    }),
    unary("expm1", &["expm1(reals x) -> reals"], true, |x| {
        x.map_increasing(f64::exp_m1)
    }),
    unary("sqrt", &["sqrt(reals x) -> reals"], true, |x| {
        x.intersect(&Interval::NON_NEGATIVE)
            .map_increasing(|v| v.max(0.0).sqrt())
    }),
    unary("square", &["square(reals x) -> reals"], true, |x| {
        x.square()
    }),
    binary("pow", &["pow(real x, real y) -> real"], true, |a, b| {
        a.pow(&b)
    }),
    unary("fabs", &["fabs(reals x) -> reals"], true, |x| x.abs()),
    FunctionSpec {
        name: "abs",
        signatures: &["abs(T x) -> T"],
        core: true,
        kind: FnKind::Unary {
            range: |x| x.abs(),
            keeps_int: true,
        },
    },
    custom(
        "min",
        &[
            "min(int a, int b) -> int",
            "min(real a, real b) -> real",
            "min(container x) -> real",
        ],
        true,
        |a| min_max(a, Interval::min),
    ),
    custom(
        "max",
        &[
            "max(int a, int b) -> int",
            "max(real a, real b) -> real",
            "max(container x) -> real",
        ],
        true,
        |a| min_max(a, Interval::max),
    ),
    constant("pi", true, std::f64::consts::PI),
    constant("e", true, std::f64::consts::E),
    constant("negative_infinity", true, f64::NEG_INFINITY),
    constant("positive_infinity", false, f64::INFINITY),
    FunctionSpec {
        name: "not_a_number",
        signatures: &["() -> real"],
        core: true,
        kind: FnKind::Custom(|a| {
            if !a.is_empty() {
                return Err(String::new());
            }
            Ok(ArgInfo::new(Ty::REAL))
        }),
    },
    constant("machine_precision", false, f64::EPSILON),
    constant("sqrt2", false, std::f64::consts::SQRT_2),
    unary(
        "inv_logit",
        &["inv_logit(reals x) -> reals"],
        true,
        inv_logit_range,
    ),
    unary("logit", &["logit(reals p) -> reals"], true, logit_range),
    unary(
        "log_inv_logit",
        &["log_inv_logit(reals x) -> reals"],
        true,
        |x| inv_logit_range(x).map_increasing(f64::ln),
    ),
    unary(
        "log1m_inv_logit",
        &["log1m_inv_logit(reals x) -> reals"],
        false,
        |x| inv_logit_range(x.neg()).map_increasing(f64::ln),
    ),
    unary("log1m", &["log1m(reals x) -> reals"], true, |x| {
        x.neg().map_increasing(f64::ln_1p)
    }),
    unary("lgamma", &["lgamma(reals x) -> reals"], true, all),
    custom("fmin", &["fmin(real a, real b) -> real"], true, |a| {
        binary_scalar(a, Interval::min)
    }),
    custom("fmax", &["fmax(real a, real b) -> real"], true, |a| {
        binary_scalar(a, Interval::max)
    }),
    custom(
        "log_mix",
        &[
            "log_mix(real theta, real lp1, real lp2) -> real",
            "log_mix(vector theta, vector lps) -> real",
        ],
        true,
        log_mix,
    ),
    custom(
        "sum",
        &["sum(container x) -> real (int for int arrays)"],
        true,
        |a| reduce(a, |x| x.range.sum_of(x.element_count()), true),
    ),
    custom("prod", &["prod(container x) -> real"], false, |a| {
        reduce(a, |x| positive_if_positive(x.range), true)
    }),
    custom("mean", &["mean(container x) -> real"], true, |a| {
        reduce(a, |x| x.range, false)
    }),
    custom("sd", &["sd(container x) -> real"], true, |a| {
        reduce(a, |_| Interval::NON_NEGATIVE, false)
    }),
    custom("variance", &["variance(container x) -> real"], false, |a| {
        reduce(a, |_| Interval::NON_NEGATIVE, false)
    }),
    custom(
        "log_sum_exp",
        &[
            "log_sum_exp(container x) -> real",
            "log_sum_exp(real a, real b) -> real",
        ],
        true,
        |a| {
            if a.len() == 2 {
                binary_scalar(a, |x, y| {
                    x.max(y).add(&Interval::closed(0.0, std::f64::consts::LN_2))
                })
            } else {
                reduce(a, |_| Interval::ALL, false)
            }
        },
    ),
    custom(
        "dot_product",
        &["dot_product(vector a, vector b) -> real"],
        true,
        dot_product,
    ),
    custom(
        "dot_self",
        &["dot_self(vector x) -> real"],
        false,
        |a| match a {
            [x] if is_vec_like(x.ty) => Ok(real_out(Interval::NON_NEGATIVE)),
            _ => Err(String::new()),
        },
    ),
    custom(
        "rep_vector",
        &["rep_vector(real x, int n) -> vector"],
        true,
        |a| rep_vec(a, Base::Vector),
    ),
    custom(
        "rep_row_vector",
        &["rep_row_vector(real x, int n) -> row_vector"],
        false,
        |a| rep_vec(a, Base::RowVector),
    ),
    custom(
        "rep_matrix",
        &[
            "rep_matrix(real x, int m, int n) -> matrix",
            "rep_matrix(vector v, int n) -> matrix",
        ],
        false,
        rep_matrix,
    ),
    custom(
        "rep_array",
        &[
            "rep_array(T x, int n) -> array[] T",
            "rep_array(T x, int m, int n) -> array[,] T",
        ],
        true,
        rep_array,
    ),
    custom(
        "to_vector",
        &["to_vector(container x) -> vector"],
        true,
        |a| to_linear(a, Base::Vector),
    ),
    custom(
        "to_row_vector",
        &["to_row_vector(container x) -> row_vector"],
        false,
        |a| to_linear(a, Base::RowVector),
    ),
    custom(
        "to_array_1d",
        &["to_array_1d(container x) -> array[] real"],
        false,
        |a| match a {
            [x] if !x.ty.is_scalar() => Ok(ArgInfo {
                ty: Ty::array(
                    if x.ty.base == Base::Int {
                        Base::Int
                    } else {
                        Base::Real
                    },
                    1,
                ),
                sizes: Sizes::from_slice(&[x.element_count().map(|n| n as u32)]),
                range: x.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "cumulative_sum",
        &["cumulative_sum(T x) -> T (vector, row_vector or 1-D array)"],
        true,
        |a| match a {
            [x] if x.ty.array_dims <= 1 && !(x.ty.base == Base::Matrix) && !x.ty.is_scalar() => {
                Ok(ArgInfo {
                    ty: x.ty,
                    sizes: x.sizes,
                    range: x.range.sum_of(x.element_count()).union(&x.range),
                    structure: Structure::Unknown,
                })
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "softmax",
        &["softmax(vector x) -> vector"],
        true,
        |a| match a {
            [x] if x.ty == Ty::VECTOR => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: x.sizes,
                range: Interval::OPEN_UNIT,
                structure: Structure::Simplex,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "log_softmax",
        &["log_softmax(vector x) -> vector"],
        false,
        |a| match a {
            [x] if x.ty == Ty::VECTOR => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: x.sizes,
                range: Interval::new(f64::NEG_INFINITY, true, 0.0, true),
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "cholesky_decompose",
        &["cholesky_decompose(matrix A) -> matrix"],
        true,
        |a| match a {
            [x] if x.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: x.sizes,
                range: Interval::ALL,
                structure: Structure::CholeskyFactor,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "diag_matrix",
        &["diag_matrix(vector d) -> matrix"],
        true,
        |a| match a {
            [x] if x.ty == Ty::VECTOR => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[x.sizes.get(0), x.sizes.get(0)]),
                range: x.range.union(&Interval::point(0.0)),
                structure: if x.range.is_positive() {
                    Structure::CovMatrix
                } else {
                    Structure::Unknown
                },
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "diagonal",
        &["diagonal(matrix A) -> vector"],
        false,
        |a| match a {
            [x] if x.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: Sizes::from_slice(&[x.sizes.get(0)]),
                range: x.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "gp_exp_quad_cov",
        &[
            "gp_exp_quad_cov(array[] real x, real alpha, real rho) -> matrix",
            "gp_exp_quad_cov(array[] real x1, array[] real x2, real alpha, real rho) -> matrix",
        ],
        true,
        gp_cov,
    ),
    custom(
        "diag_pre_multiply",
        &["diag_pre_multiply(vector d, matrix A) -> matrix"],
        true,
        |a| match a {
            [d, m] if is_vec_like(d.ty) && m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: m.sizes,
                range: Interval::ALL,
                structure: if m.structure.satisfies(Structure::CholeskyFactor)
                    && d.range.is_positive()
                {
                    Structure::CholeskyFactor
                } else {
                    Structure::Unknown
                },
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "diag_post_multiply",
        &["diag_post_multiply(matrix A, vector d) -> matrix"],
        false,
        |a| match a {
            [m, d] if is_vec_like(d.ty) && m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: m.sizes,
                range: Interval::ALL,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "add_diag",
        &[
            "add_diag(matrix A, real d) -> matrix",
            "add_diag(matrix A, vector d) -> matrix",
        ],
        false,
        |a| match a {
            [m, d] if m.ty == Ty::MATRIX && (d.ty.is_scalar() || is_vec_like(d.ty)) => {
                Ok(ArgInfo {
                    ty: Ty::MATRIX,
                    sizes: m.sizes,
                    range: Interval::ALL,
                    structure: if m.structure == Structure::CovMatrix && d.range.is_non_negative() {
                        Structure::CovMatrix
                    } else {
                        Structure::Unknown
                    },
                })
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "identity_matrix",
        &["identity_matrix(int n) -> matrix"],
        false,
        |a| match a {
            [n] if n.ty.is_int() => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[n.size_value(), n.size_value()]),
                range: Interval::UNIT,
                structure: Structure::CovMatrix,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "multiply_lower_tri_self_transpose",
        &["multiply_lower_tri_self_transpose(matrix L) -> matrix"],
        false,
        |a| match a {
            [m] if m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[m.sizes.get(0), m.sizes.get(0)]),
                range: Interval::ALL,
                structure: if m.structure.satisfies(Structure::CholeskyFactor) {
                    Structure::CovMatrix
                } else {
                    Structure::Unknown
                },
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "rows",
        &["rows(vector|row_vector|matrix x) -> int"],
        true,
        |a| match a {
            [x] if x.ty.is_linear_algebra() => Ok(int_out(match x.ty.base {
                Base::RowVector => Some(1),
                _ => x.sizes.get(0),
            })),
            _ => Err(String::new()),
        },
    ),
    custom(
        "cols",
        &["cols(vector|row_vector|matrix x) -> int"],
        true,
        |a| match a {
            [x] if x.ty.is_linear_algebra() => Ok(int_out(match x.ty.base {
                Base::Vector => Some(1),
                Base::RowVector => x.sizes.get(0),
                _ => x.sizes.get(1),
            })),
            _ => Err(String::new()),
        },
    ),
    custom(
        "size",
        &["size(array or vector x) -> int"],
        true,
        |a| match a {
            [x] if !x.ty.is_scalar() => Ok(int_out(
                if x.ty.base == Base::Matrix && x.ty.array_dims == 0 {
                    x.element_count().map(|n| n as u32)
                } else {
                    x.sizes.get(0)
                },
            )),
            _ => Err(String::new()),
        },
    ),
    custom(
        "num_elements",
        &["num_elements(container x) -> int"],
        true,
        |a| match a {
            [x] if !x.ty.is_scalar() => Ok(int_out(
                x.element_count().and_then(|n| u32::try_from(n).ok()),
            )),
            _ => Err(String::new()),
        },
    ),
    // Common extras beyond DESIGN.md's list.
    custom("target", &["target() -> real"], false, |a| {
        if a.is_empty() {
            Ok(real_out(Interval::ALL))
        } else {
            Err(String::new())
        }
    }),
    custom(
        "quad_form_diag",
        &["quad_form_diag(matrix m, vector v) -> matrix"],
        false,
        |a| match a {
            [m, v] if m.ty == Ty::MATRIX && is_vec_like(v.ty) => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: m.sizes,
                range: Interval::ALL,
                structure: if m.structure == Structure::CovMatrix && v.range.is_positive() {
                    Structure::CovMatrix
                } else {
                    Structure::Unknown
                },
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "quad_form",
        &[
            "quad_form(matrix A, matrix B) -> matrix",
            "quad_form(matrix A, vector v) -> real",
        ],
        false,
        |a| match a {
            [m, b] if m.ty == Ty::MATRIX && b.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[b.sizes.get(1), b.sizes.get(1)]),
                range: Interval::ALL,
                structure: Structure::Unknown,
            }),
            [m, v] if m.ty == Ty::MATRIX && v.ty == Ty::VECTOR => Ok(real_out(Interval::ALL)),
            _ => Err(String::new()),
        },
    ),
    custom(
        "mdivide_left_tri_low",
        &[
            "mdivide_left_tri_low(matrix L, vector b) -> vector",
            "mdivide_left_tri_low(matrix L, matrix B) -> matrix",
        ],
        false,
        |a| match a {
            [l, b] if l.ty == Ty::MATRIX && (b.ty == Ty::VECTOR || b.ty == Ty::MATRIX) => {
                Ok(ArgInfo {
                    ty: b.ty,
                    sizes: b.sizes,
                    range: Interval::ALL,
                    structure: Structure::Unknown,
                })
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "mdivide_right_tri_low",
        &[
            "mdivide_right_tri_low(row_vector b, matrix L) -> row_vector",
            "mdivide_right_tri_low(matrix B, matrix L) -> matrix",
        ],
        false,
        |a| match a {
            [b, l] if l.ty == Ty::MATRIX && (b.ty == Ty::ROW_VECTOR || b.ty == Ty::MATRIX) => {
                Ok(ArgInfo {
                    ty: b.ty,
                    sizes: b.sizes,
                    range: Interval::ALL,
                    structure: Structure::Unknown,
                })
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "col",
        &["col(matrix x, int n) -> vector"],
        false,
        |a| match a {
            [m, n] if m.ty == Ty::MATRIX && n.ty.is_int() => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: Sizes::from_slice(&[m.sizes.get(0)]),
                range: m.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "row",
        &["row(matrix x, int m) -> row_vector"],
        false,
        |a| match a {
            [m, n] if m.ty == Ty::MATRIX && n.ty.is_int() => Ok(ArgInfo {
                ty: Ty::ROW_VECTOR,
                sizes: Sizes::from_slice(&[m.sizes.get(1)]),
                range: m.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "block",
        &["block(matrix x, int i, int j, int n_rows, int n_cols) -> matrix"],
        false,
        |a| match a {
            [m, i, j, r, c] if m.ty == Ty::MATRIX && [i, j, r, c].iter().all(|x| x.ty.is_int()) => {
                Ok(ArgInfo {
                    ty: Ty::MATRIX,
                    sizes: Sizes::from_slice(&[r.size_value(), c.size_value()]),
                    range: m.range,
                    structure: Structure::Unknown,
                })
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "to_matrix",
        &[
            "to_matrix(container x) -> matrix",
            "to_matrix(container x, int m, int n) -> matrix",
        ],
        false,
        |a| match a {
            [x] if !x.ty.is_scalar() => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: if x.ty == Ty::MATRIX {
                    x.sizes
                } else {
                    Sizes::UNKNOWN
                },
                range: x.range,
                structure: Structure::Unknown,
            }),
            [x, m, n] if !x.ty.is_scalar() && m.ty.is_int() && n.ty.is_int() => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[m.size_value(), n.size_value()]),
                range: x.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    unary("inv", &["inv(reals x) -> reals"], false, |x| x.recip()),
    unary("inv_sqrt", &["inv_sqrt(reals x) -> reals"], false, |x| {
        x.intersect(&Interval::NON_NEGATIVE)
            .map_increasing(|v| v.max(0.0).sqrt())
            .recip()
    }),
    unary(
        "inv_square",
        &["inv_square(reals x) -> reals"],
        false,
        |x| x.square().recip(),
    ),
    unary("Phi", &["Phi(reals x) -> reals"], false, |_| Interval::UNIT),
    unary(
        "Phi_approx",
        &["Phi_approx(reals x) -> reals"],
        false,
        |_| Interval::UNIT,
    ),
    unary(
        "inv_cloglog",
        &["inv_cloglog(reals x) -> reals"],
        false,
        |_| Interval::UNIT,
    ),
    unary(
        "expit",
        &["expit(reals x) -> reals"],
        false,
        inv_logit_range,
    ),
    unary("tan", &["tan(reals x) -> reals"], false, all),
    unary("asin", &["asin(reals x) -> reals"], false, |_| {
        Interval::closed(-2.0, 2.0)
    }),
    unary("acos", &["acos(reals x) -> reals"], false, |_| {
        Interval::closed(0.0, 4.0)
    }),
    unary("sinh", &["sinh(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::sinh)
    }),
    unary("cosh", &["cosh(reals x) -> reals"], false, |_| {
        Interval::closed(1.0, f64::INFINITY)
    }),
    unary("asinh", &["asinh(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::asinh)
    }),
    unary("acosh", &["acosh(reals x) -> reals"], false, |_| {
        Interval::NON_NEGATIVE
    }),
    unary("atanh", &["atanh(reals x) -> reals"], false, all),
    unary("digamma", &["digamma(reals x) -> reals"], false, all),
    binary("fmod", &["fmod(real a, real b) -> real"], false, |_, _| {
        Interval::ALL
    }),
    binary(
        "log_inv_logit_diff",
        &["log_inv_logit_diff(real a, real b) -> real"],
        false,
        |_, _| Interval::new(f64::NEG_INFINITY, true, 0.0, true),
    ),
    custom(
        "fma",
        &["fma(real x, real y, real z) -> real"],
        false,
        |a| match a {
            [x, y, z] if x.ty.is_scalar() && y.ty.is_scalar() && z.ty.is_scalar() => {
                Ok(real_out(x.range.mul(&y.range).add(&z.range)))
            }
            _ => Err(String::new()),
        },
    ),
    custom(
        "columns_dot_self",
        &["columns_dot_self(matrix x) -> row_vector"],
        false,
        |a| match a {
            [m] if m.ty.is_linear_algebra() => Ok(ArgInfo {
                ty: Ty::ROW_VECTOR,
                sizes: Sizes::from_slice(&[if m.ty == Ty::MATRIX {
                    m.sizes.get(1)
                } else {
                    None
                }]),
                range: Interval::NON_NEGATIVE,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "rows_dot_self",
        &["rows_dot_self(matrix x) -> vector"],
        false,
        |a| match a {
            [m] if m.ty.is_linear_algebra() => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: Sizes::from_slice(&[if m.ty == Ty::MATRIX {
                    m.sizes.get(0)
                } else {
                    None
                }]),
                range: Interval::NON_NEGATIVE,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "transpose",
        &["transpose(vector|row_vector|matrix x) -> the transpose"],
        false,
        |a| match a {
            [x] if x.ty.is_linear_algebra() => Ok(ArgInfo {
                ty: match x.ty.base {
                    Base::Vector => Ty::ROW_VECTOR,
                    Base::RowVector => Ty::VECTOR,
                    _ => Ty::MATRIX,
                },
                sizes: if x.ty == Ty::MATRIX {
                    Sizes::from_slice(&[x.sizes.get(1), x.sizes.get(0)])
                } else {
                    x.sizes
                },
                range: x.range,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    unary("tanh", &["tanh(reals x) -> reals"], false, |_| {
        Interval::closed(-1.0, 1.0)
    }),
    unary("sin", &["sin(reals x) -> reals"], false, |_| {
        Interval::closed(-1.0, 1.0)
    }),
    unary("cos", &["cos(reals x) -> reals"], false, |_| {
        Interval::closed(-1.0, 1.0)
    }),
    unary("atan", &["atan(reals x) -> reals"], false, |_| {
        Interval::closed(-2.0, 2.0)
    }),
    unary("log1p_exp", &["log1p_exp(reals x) -> reals"], false, |_| {
        Interval::POSITIVE
    }),
    unary("log1m_exp", &["log1m_exp(reals x) -> reals"], false, |_| {
        Interval::new(f64::NEG_INFINITY, true, 0.0, true)
    }),
    unary(
        "tgamma",
        &["tgamma(reals x) -> reals"],
        false,
        positive_if_positive,
    ),
    unary("cbrt", &["cbrt(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::cbrt)
    }),
    unary("erf", &["erf(reals x) -> reals"], false, |_| {
        Interval::closed(-1.0, 1.0)
    }),
    unary("erfc", &["erfc(reals x) -> reals"], false, |_| {
        Interval::closed(0.0, 2.0)
    }),
    unary("exp2", &["exp2(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::exp2)
    }),
    unary("floor", &["floor(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::floor)
    }),
    unary("ceil", &["ceil(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::ceil)
    }),
    unary("round", &["round(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::round)
    }),
    unary("trunc", &["trunc(reals x) -> reals"], false, |x| {
        x.map_increasing(f64::trunc)
    }),
    binary("fdim", &["fdim(real a, real b) -> real"], false, |_, _| {
        Interval::NON_NEGATIVE
    }),
    binary(
        "hypot",
        &["hypot(real a, real b) -> real"],
        false,
        |_, _| Interval::NON_NEGATIVE,
    ),
    binary(
        "atan2",
        &["atan2(real y, real x) -> real"],
        false,
        |_, _| Interval::closed(-4.0, 4.0),
    ),
    binary(
        "log_diff_exp",
        &["log_diff_exp(real a, real b) -> real"],
        false,
        |_, _| Interval::ALL,
    ),
    binary(
        "lbeta",
        &["lbeta(real a, real b) -> real"],
        false,
        |_, _| Interval::ALL,
    ),
    binary(
        "lchoose",
        &["lchoose(real n, real k) -> real"],
        false,
        |_, _| Interval::NON_NEGATIVE,
    ),
    custom(
        "append_row",
        &[
            "append_row(vector a, vector b) -> vector",
            "append_row(matrix a, matrix b) -> matrix",
        ],
        false,
        |a| append(a, true),
    ),
    custom(
        "append_col",
        &[
            "append_col(row_vector a, row_vector b) -> row_vector",
            "append_col(matrix a, matrix b) -> matrix",
        ],
        false,
        |a| append(a, false),
    ),
    custom("head", &["head(T x, int n) -> T"], false, |a| slice(a, 1)),
    custom("tail", &["tail(T x, int n) -> T"], false, |a| slice(a, 1)),
    custom(
        "segment",
        &["segment(T x, int start, int n) -> T"],
        false,
        |a| slice(a, 2),
    ),
    custom("reverse", &["reverse(T x) -> T"], false, |a| {
        same_container(a)
    }),
    custom("sort_asc", &["sort_asc(T x) -> T"], false, |a| {
        same_container(a)
    }),
    custom("sort_desc", &["sort_desc(T x) -> T"], false, |a| {
        same_container(a)
    }),
    custom("is_inf", &["is_inf(real x) -> int"], false, |a| {
        predicate_fn(a)
    }),
    custom("is_nan", &["is_nan(real x) -> int"], false, |a| {
        predicate_fn(a)
    }),
    custom("step", &["step(real x) -> real"], false, |a| match a {
        [x] if x.ty.is_scalar() => Ok(real_out(Interval::UNIT)),
        _ => Err(String::new()),
    }),
    custom("int_step", &["int_step(real x) -> int"], false, |a| {
        predicate_fn(a)
    }),
    custom(
        "choose",
        &["choose(int n, int k) -> int"],
        false,
        |a| match a {
            [n, k] if n.ty.is_int() && k.ty.is_int() => Ok(ArgInfo {
                range: Interval::NON_NEGATIVE,
                ..ArgInfo::new(Ty::INT)
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "linspaced_vector",
        &["linspaced_vector(int n, real lo, real hi) -> vector"],
        false,
        |a| match a {
            [n, lo, hi] if n.ty.is_int() && lo.ty.is_scalar() && hi.ty.is_scalar() => Ok(ArgInfo {
                ty: Ty::VECTOR,
                sizes: Sizes::from_slice(&[n.size_value()]),
                range: lo.range.union(&hi.range),
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "crossprod",
        &["crossprod(matrix x) -> matrix"],
        false,
        |a| match a {
            [m] if m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[m.sizes.get(1), m.sizes.get(1)]),
                range: Interval::ALL,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "tcrossprod",
        &["tcrossprod(matrix x) -> matrix"],
        false,
        |a| match a {
            [m] if m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[m.sizes.get(0), m.sizes.get(0)]),
                range: Interval::ALL,
                structure: Structure::Unknown,
            }),
            _ => Err(String::new()),
        },
    ),
    custom(
        "inverse",
        &["inverse(matrix A) -> matrix"],
        false,
        |a| match a {
            [m] if m.ty == Ty::MATRIX => Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: m.sizes,
                range: Interval::ALL,
                structure: if m.structure == Structure::CovMatrix {
                    Structure::CovMatrix
                } else {
                    Structure::Unknown
                },
            }),
            _ => Err(String::new()),
        },
    ),
];

fn real_out(range: Interval) -> Output {
    ArgInfo {
        range,
        ..ArgInfo::new(Ty::REAL)
    }
}

fn int_out(value: Option<u32>) -> Output {
    ArgInfo {
        range: value.map_or(Interval::NON_NEGATIVE, |v| Interval::point(v as f64)),
        ..ArgInfo::new(Ty::INT)
    }
}

fn is_vec_like(ty: Ty) -> bool {
    ty.array_dims == 0 && matches!(ty.base, Base::Vector | Base::RowVector)
}

/// A 1-D container of reals: vector, row_vector or 1-D array.
fn is_1d(ty: Ty) -> bool {
    is_vec_like(ty) || (ty.array_dims == 1 && matches!(ty.base, Base::Int | Base::Real))
}

fn log_like(a: &[ArgInfo], f: fn(f64) -> f64, base: f64) -> Result<Output, String> {
    match a {
        [] => Ok(real_out(Interval::point(f(base)))),
        [x] if !(x.ty.array_dims > 0 && x.ty.is_linear_algebra()) => Ok(ArgInfo {
            ty: x.ty.promoted(),
            sizes: x.sizes,
            range: x.range.map_increasing(f),
            structure: Structure::Unknown,
        }),
        _ => Err(String::new()),
    }
}

fn binary_scalar(
    a: &[ArgInfo],
    range: fn(&Interval, &Interval) -> Interval,
) -> Result<Output, String> {
    match a {
        [x, y] if x.ty.is_scalar() && y.ty.is_scalar() => Ok(real_out(range(&x.range, &y.range))),
        _ => Err(String::new()),
    }
}

fn min_max(a: &[ArgInfo], range: fn(&Interval, &Interval) -> Interval) -> Result<Output, String> {
    match a {
        [x, y] if x.ty.is_scalar() && y.ty.is_scalar() => Ok(ArgInfo {
            ty: if x.ty.is_int() && y.ty.is_int() {
                Ty::INT
            } else {
                Ty::REAL
            },
            range: range(&x.range, &y.range),
            ..ArgInfo::new(Ty::REAL)
        }),
        [x] if !x.ty.is_scalar() => Ok(ArgInfo {
            ty: if x.ty.base == Base::Int && x.ty.array_dims == 1 {
                Ty::INT
            } else {
                Ty::REAL
            },
            range: x.range,
            ..ArgInfo::new(Ty::REAL)
        }),
        _ => Err(String::new()),
    }
}

/// A reduction of a container to one scalar; `int_stays` keeps int arrays int (sum, prod).
fn reduce(
    a: &[ArgInfo],
    range: fn(&ArgInfo) -> Interval,
    int_stays: bool,
) -> Result<Output, String> {
    match a {
        [x] if !x.ty.is_scalar() && (x.ty.array_dims <= 1 || !x.ty.is_linear_algebra()) => {
            let ty = if int_stays && x.ty.base == Base::Int {
                Ty::INT
            } else {
                Ty::REAL
            };
            Ok(ArgInfo {
                range: range(x),
                ..ArgInfo::new(ty)
            })
        }
        _ => Err(String::new()),
    }
}

fn log_mix(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [t, x, y] if t.ty.is_scalar() && x.ty.is_scalar() && y.ty.is_scalar() => {
            Ok(real_out(Interval::ALL))
        }
        [t, l] if is_1d(t.ty) && !l.ty.is_scalar() => Ok(real_out(Interval::ALL)),
        _ => Err(String::new()),
    }
}

fn dot_product(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x, y] if is_1d(x.ty) && is_1d(y.ty) => {
            if let (Some(n), Some(m)) = (x.sizes.get(0), y.sizes.get(0)) {
                if n != m {
                    return Err(format!("the vectors have different sizes, {n} and {m}"));
                }
            }
            Ok(real_out(x.range.mul(&y.range).sum_of(x.element_count())))
        }
        _ => Err(String::new()),
    }
}

fn rep_vec(a: &[ArgInfo], base: Base) -> Result<Output, String> {
    match a {
        [x, n] if x.ty.is_scalar() && n.ty.is_int() => Ok(ArgInfo {
            ty: Ty::of(base),
            sizes: Sizes::from_slice(&[n.size_value()]),
            range: x.range,
            structure: Structure::Unknown,
        }),
        _ => Err(String::new()),
    }
}

fn rep_matrix(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x, m, n] if x.ty.is_scalar() && m.ty.is_int() && n.ty.is_int() => Ok(ArgInfo {
            ty: Ty::MATRIX,
            sizes: Sizes::from_slice(&[m.size_value(), n.size_value()]),
            range: x.range,
            structure: Structure::Unknown,
        }),
        [v, n] if is_vec_like(v.ty) && n.ty.is_int() => {
            let sizes = if v.ty.base == Base::Vector {
                Sizes::from_slice(&[v.sizes.get(0), n.size_value()])
            } else {
                Sizes::from_slice(&[n.size_value(), v.sizes.get(0)])
            };
            Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes,
                range: v.range,
                structure: Structure::Unknown,
            })
        }
        _ => Err(String::new()),
    }
}

fn rep_array(a: &[ArgInfo]) -> Result<Output, String> {
    let Some((x, dims)) = a.split_first() else {
        return Err(String::new());
    };
    if dims.is_empty() || dims.len() > 3 || dims.iter().any(|d| !d.ty.is_int()) {
        return Err(String::new());
    }
    let mut sizes = x.sizes;
    for d in dims.iter().rev() {
        sizes = sizes.push_front(d.size_value());
    }
    Ok(ArgInfo {
        ty: Ty::array(x.ty.base, x.ty.array_dims + dims.len() as u8),
        sizes,
        range: x.range,
        structure: Structure::Unknown,
    })
}

fn to_linear(a: &[ArgInfo], base: Base) -> Result<Output, String> {
    match a {
        [x] if !(x.ty.array_dims > 0 && x.ty.is_linear_algebra())
            && (x.ty.array_dims <= 1 || !x.ty.is_linear_algebra()) =>
        {
            let len = if x.ty.is_scalar() {
                Some(1)
            } else {
                x.element_count()
            };
            Ok(ArgInfo {
                ty: Ty::of(base),
                sizes: Sizes::from_slice(&[len.and_then(|n| u32::try_from(n).ok())]),
                range: x.range,
                structure: Structure::Unknown,
            })
        }
        _ => Err(String::new()),
    }
}

fn gp_cov(a: &[ArgInfo]) -> Result<Output, String> {
    let points_ok =
        |t: Ty| t.array_dims == 1 && matches!(t.base, Base::Int | Base::Real | Base::Vector);
    match a {
        [x, alpha, rho] if points_ok(x.ty) && alpha.ty.is_scalar() && rho.ty.is_scalar() => {
            Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[x.sizes.get(0), x.sizes.get(0)]),
                range: Interval::ALL,
                // Positive semi-definite; a positive diagonal term makes it a covariance matrix.
                structure: Structure::Unknown,
            })
        }
        [x1, x2, alpha, rho]
            if points_ok(x1.ty)
                && points_ok(x2.ty)
                && alpha.ty.is_scalar()
                && rho.ty.is_scalar() =>
        {
            Ok(ArgInfo {
                ty: Ty::MATRIX,
                sizes: Sizes::from_slice(&[x1.sizes.get(0), x2.sizes.get(0)]),
                range: Interval::ALL,
                structure: Structure::Unknown,
            })
        }
        _ => Err(String::new()),
    }
}

fn append(a: &[ArgInfo], rows: bool) -> Result<Output, String> {
    let [x, y] = a else {
        return Err(String::new());
    };
    let shape = |t: Ty| {
        if t.is_scalar() {
            None
        } else if t.array_dims == 0 {
            Some(t.base)
        } else {
            None
        }
    };
    let (bx, by) = (
        if x.ty.is_scalar() {
            Some(Base::Real)
        } else {
            shape(x.ty)
        },
        if y.ty.is_scalar() {
            Some(Base::Real)
        } else {
            shape(y.ty)
        },
    );
    let (Some(bx), Some(by)) = (bx, by) else {
        return Err(String::new());
    };
    let ty = match (rows, bx, by) {
        (true, Base::Vector | Base::Real, Base::Vector | Base::Real)
            if bx == Base::Vector || by == Base::Vector =>
        {
            Ty::VECTOR
        }
        (false, Base::RowVector | Base::Real, Base::RowVector | Base::Real)
            if bx == Base::RowVector || by == Base::RowVector =>
        {
            Ty::ROW_VECTOR
        }
        (_, Base::Matrix, _) | (_, _, Base::Matrix) => Ty::MATRIX,
        _ => return Err(String::new()),
    };
    let len = |i: &ArgInfo| {
        if i.ty.is_scalar() {
            Some(1)
        } else {
            i.sizes.get(0)
        }
    };
    let sizes = if ty.base != Base::Matrix {
        Sizes::from_slice(&[len(x).zip(len(y)).map(|(p, q)| p + q)])
    } else {
        Sizes::UNKNOWN
    };
    Ok(ArgInfo {
        ty,
        sizes,
        range: x.range.union(&y.range),
        structure: Structure::Unknown,
    })
}

fn slice(a: &[ArgInfo], n_ints: usize) -> Result<Output, String> {
    let Some((x, ints)) = a.split_first() else {
        return Err(String::new());
    };
    if ints.len() != n_ints
        || ints.iter().any(|i| !i.ty.is_int())
        || (!is_1d(x.ty) && x.ty.array_dims != 1)
    {
        return Err(String::new());
    }
    let mut sizes = x.sizes;
    sizes.set(0, ints.last().and_then(|n| n.size_value()));
    Ok(ArgInfo {
        ty: x.ty,
        sizes,
        range: x.range,
        structure: Structure::Unknown,
    })
}

fn same_container(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x] if is_1d(x.ty) || x.ty.array_dims == 1 => Ok(ArgInfo {
            structure: Structure::Unknown,
            ..*x
        }),
        _ => Err(String::new()),
    }
}

fn predicate_fn(a: &[ArgInfo]) -> Result<Output, String> {
    match a {
        [x] if x.ty.is_scalar() => Ok(ArgInfo {
            range: Interval::closed(0.0, 1.0),
            ..ArgInfo::new(Ty::INT)
        }),
        _ => Err(String::new()),
    }
}

/// Functions Stan has removed, with what replaces them: a program that calls one would not
/// compile in current Stan (2.33 removed these), so the checker names the replacement.
pub const REMOVED_FUNCTIONS: &[(&str, &str)] = &[
    ("cov_exp_quad", "gp_exp_quad_cov"),
    ("multiply_log", "lmultiply"),
    ("binomial_coefficient_log", "lchoose"),
    ("integrate_ode_rk45", "ode_rk45"),
    ("if_else", "the conditional operator `c ? a : b`"),
    ("increment_log_prob", "`target +=`"),
    ("get_lp", "`target()`"),
];

/// The replacement of a function Stan has removed, if `name` is one.
pub fn removed_function(name: &str) -> Option<&'static str> {
    REMOVED_FUNCTIONS
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| *new)
}

/// Levenshtein distance, for "did you mean" hints.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    edit_distance_within(a, &b, usize::MAX).unwrap_or(usize::MAX)
}

/// The Levenshtein distance of `a` and `b` if it is at most `limit`: a row whose least entry
/// exceeds `limit` ends the computation (every later row's least entry is at least as large).
fn edit_distance_within(a: &str, b: &[char], limit: usize) -> Option<usize> {
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        if cur.iter().min().is_some_and(|&m| m > limit) {
            return None;
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    Some(prev[b.len()]).filter(|&d| d <= limit)
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo
/// (a different case, or a few edits that leave most of the name intact). Candidates whose
/// length alone puts them out of reach are skipped before any distance is computed, so a long
/// unknown name (as a random-weight model writes, many per program) costs little.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = (len / 3).clamp(1, 3);
    let mut buf: Vec<char> = Vec::new();
    candidates
        .into_iter()
        .filter_map(|c| {
            if c.eq_ignore_ascii_case(name) {
                return Some((0, c));
            }
            buf.clear();
            buf.extend(c.chars());
            // The distance is at least the difference of the lengths.
            if buf.len().abs_diff(len) > limit {
                return None;
            }
            let d = edit_distance_within(name, &buf, limit)?;
            (d < len && d < buf.len()).then_some((d, c))
        })
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_design_distribution_is_listed_once() {
        let names = [
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
        ];
        assert_eq!(
            distributions().iter().filter(|d| d.core).count(),
            names.len()
        );
        for n in names {
            assert!(distribution(n).is_some(), "{n}");
        }
    }

    #[test]
    fn every_design_function_is_listed() {
        for n in [
            "exp",
            "log",
            "log2",
            "log10",
            "log1p",
            "expm1",
            "sqrt",
            "square",
            "pow",
            "fabs",
            "abs",
            "min",
            "max",
            "pi",
            "e",
            "negative_infinity",
            "not_a_number",
            "inv_logit",
            "logit",
            "log_inv_logit",
            "log1m",
            "lgamma",
            "fmin",
            "fmax",
            "log_mix",
            "sum",
            "mean",
            "sd",
            "dot_product",
            "rep_vector",
            "rep_array",
            "to_vector",
            "cumulative_sum",
            "softmax",
            "log_sum_exp",
            "cholesky_decompose",
            "diag_matrix",
            "gp_exp_quad_cov",
            "diag_pre_multiply",
            "rows",
            "cols",
            "size",
            "num_elements",
        ] {
            let f = function(n).unwrap_or_else(|| panic!("{n} missing"));
            assert!(f.core, "{n} should be core");
        }
        let mut names: Vec<&str> = functions().iter().map(|f| f.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), functions().len(), "duplicate function names");
    }

    #[test]
    fn suffixes_resolve() {
        assert!(
            matches!(resolve("normal_lpdf"), Some(Callee::Dist(d, Suffix::Lpdf)) if d.name == "normal")
        );
        assert!(resolve("normal_lpmf").is_none());
        assert!(
            matches!(resolve("poisson_lupmf"), Some(Callee::Dist(d, Suffix::Lupmf)) if d.name == "poisson")
        );
        assert!(resolve("poisson_lpdf").is_none());
        assert!(matches!(resolve("exp"), Some(Callee::Function(_))));
        assert!(resolve("dirichlet_lcdf").is_none());
    }

    #[test]
    fn function_typing_and_ranges() {
        let real = ArgInfo::new(Ty::REAL);
        let exp = function("exp").unwrap();
        assert!(exp.apply(&[real]).unwrap().range.is_positive());
        assert_eq!(exp.return_type(&[Ty::VECTOR]), Some(Ty::VECTOR));
        assert_eq!(
            exp.return_type(&[Ty::array(Base::Int, 1)]),
            Some(Ty::array(Base::Real, 1))
        );
        assert!(exp.apply(&[real, real]).is_err());
        let n = ArgInfo {
            range: Interval::point(5.0),
            ..ArgInfo::new(Ty::INT)
        };
        let rv = function("rep_vector").unwrap().apply(&[real, n]).unwrap();
        assert_eq!((rv.ty, rv.sizes.get(0)), (Ty::VECTOR, Some(5)));
        let sm = function("softmax").unwrap().apply(&[rv]).unwrap();
        assert_eq!(sm.structure, Structure::Simplex);
        assert!(function("square")
            .unwrap()
            .apply(&[real])
            .unwrap()
            .range
            .is_non_negative());
        assert!(function("inv_logit")
            .unwrap()
            .apply(&[real])
            .unwrap()
            .range
            .within(&Interval::UNIT));
        assert_eq!(
            function("size")
                .unwrap()
                .apply(&[rv])
                .unwrap()
                .range
                .is_point(),
            Some(5.0)
        );
        assert_eq!(function("log").unwrap().return_type(&[]), Some(Ty::REAL));
    }

    #[test]
    fn closest_name_is_a_likely_typo() {
        let names = distributions().iter().map(|d| d.name);
        assert_eq!(closest("normall", names.clone()), Some("normal"));
        assert_eq!(closest("possion", names.clone()), Some("poisson"));
        assert_eq!(closest("zzzzzzzzzz", names), None);
    }

    #[test]
    fn closest_skips_only_candidates_out_of_reach() {
        // The unbounded rule `closest` implements: the nearest candidate within the limit.
        fn reference<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
            let len = name.chars().count();
            let limit = (len / 3).clamp(1, 3);
            candidates
                .iter()
                .filter_map(|&c| {
                    if c.eq_ignore_ascii_case(name) {
                        return Some((0, c));
                    }
                    let d = edit_distance(name, c);
                    (d <= limit && d < len && d < c.chars().count()).then_some((d, c))
                })
                .min_by_key(|(d, _)| *d)
                .map(|(_, c)| c)
        }
        let names: Vec<&str> = distributions().iter().map(|d| d.name).collect();
        let mut found = 0;
        for name in [
            "normall",
            "Normal",
            "nrmal",
            "poison",
            "cauchyy",
            "gama",
            "beta_binomal",
            "lkj",
            "x",
            "ab",
            "student",
            "normalcauchy0cholesky_factor_corr",
            "Binomial",
            "bernouli",
            "exponental",
            "lognormall",
            "zzzzzzzzzz",
            "",
        ] {
            let got = closest(name, names.iter().copied());
            assert_eq!(got, reference(name, &names), "{name}");
            found += usize::from(got.is_some());
        }
        assert!(found >= 10, "{found}");
        for (a, b) in [
            ("kitten", "sitting"),
            ("", "abc"),
            ("normal", "normal"),
            ("ab", "ba"),
        ] {
            let bc: Vec<char> = b.chars().collect();
            let d = edit_distance(a, b);
            assert_eq!(edit_distance_within(a, &bc, d), Some(d), "{a} {b}");
            if d > 0 {
                assert_eq!(edit_distance_within(a, &bc, d - 1), None, "{a} {b}");
            }
        }
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_callable_remembers_what_closest_finds() {
        let all: Vec<String> = callable_names().collect();
        assert_eq!(callable_name_list(), &all[..]);
        for name in [
            "normal_lpd",
            "expp",
            "Log",
            "cholesky_decompos",
            "vectorgoneskyda",
            "q",
        ] {
            let want = closest(name, all.iter().map(String::as_str)).map(str::to_string);
            assert_eq!(closest_callable(name), want, "{name}");
            assert_eq!(closest_callable(name), want, "{name}, remembered");
        }
        assert_eq!(closest_callable("expp").as_deref(), Some("exp"));
    }
}
