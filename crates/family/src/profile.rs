//! What each data variable is as far as its values tell ([`VarProfile`]): dimensions, int or
//! real, sign, 0/1, and the int scalar naming each length, in the order the prompt's `data` block
//! declares them ([`DataProfile`]).
//!
//! Declarations follow what the values allow: ints that are all >= 0 become `int<lower=0>`, {0,1}
//! arrays `int<lower=0, upper=1>`, real arrays (and int arrays with negative values, or positive
//! int arrays named like a scale, e.g. `sigma`) become `vector`, with `<lower=0>` when no value
//! is negative. An array length equal to an int scalar's value is written as that scalar's name
//! (`vector[J] y` when `J = 8` and `y` has 8 values), so sizes are tied to the data.

use refinestat_language::{Data, DataValue};

/// What one data variable is, as far as its values tell.
#[derive(Debug, Clone, PartialEq)]
pub struct VarProfile {
    /// Its data name.
    pub name: String,
    /// Sizes, outermost first; empty for a scalar.
    pub dims: Vec<usize>,
    /// Declared as int (otherwise real / vector / matrix).
    pub is_int: bool,
    /// No value is negative.
    pub nonneg: bool,
    /// Every value is > 0.
    pub positive: bool,
    /// Every value is 0 or 1 (ints only).
    pub binary: bool,
    /// Per dimension: the int scalar whose value is that length, if any.
    pub size_names: Vec<Option<String>>,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
}

impl VarProfile {
    /// A single value.
    pub fn is_scalar(&self) -> bool {
        self.dims.is_empty()
    }

    /// A 1-D array or vector.
    pub fn is_1d(&self) -> bool {
        self.dims.len() == 1
    }

    /// The length of a 1-D variable, as written in declarations (size name or literal).
    pub fn size_expr(&self, dim: usize) -> String {
        match self.size_names.get(dim) {
            Some(Some(name)) => name.clone(),
            _ => self.dims.get(dim).copied().unwrap_or(0).to_string(),
        }
    }

    /// The Stan type of its declaration, without the name.
    pub fn declared_type(&self) -> String {
        let sizes: Vec<String> = (0..self.dims.len()).map(|d| self.size_expr(d)).collect();
        let int_bounds = if self.binary {
            "<lower=0, upper=1>"
        } else if self.nonneg {
            "<lower=0>"
        } else {
            ""
        };
        let real_bounds = if self.nonneg { "<lower=0>" } else { "" };
        match (self.dims.len(), self.is_int) {
            (0, true) => format!("int{int_bounds}"),
            (0, false) => "real".to_string(),
            (1, false) => format!("vector{real_bounds}[{}]", sizes[0]),
            (2, false) => format!("matrix{real_bounds}[{}, {}]", sizes[0], sizes[1]),
            (_, true) => format!("array[{}] int{int_bounds}", sizes.join(", ")),
            (_, false) => format!("array[{}] real{real_bounds}", sizes.join(", ")),
        }
    }
}

/// Every data variable in declaration order: size scalars first, then other scalars, then arrays,
/// each group by name.
#[derive(Debug, Clone, PartialEq)]
pub struct DataProfile {
    /// One profile per data variable.
    pub vars: Vec<VarProfile>,
}

/// Names that suggest a per-observation known scale (standard error), so positive ints under
/// such a name are still reals.
fn looks_like_scale(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    ["sigma", "sd", "se", "s", "err", "error", "scale", "stderr"]
        .iter()
        .any(|p| lower == *p || lower.starts_with(&format!("{p}_")))
}

fn profile_var(name: &str, value: &DataValue) -> VarProfile {
    let (min, max) = value.min_max().unwrap_or((0.0, 0.0));
    let nonneg = min >= 0.0;
    let declared_int = value.all_int && (value.dims.is_empty() || nonneg) && {
        // A positive int array named like a scale is a known standard error, i.e. real.
        !(value.dims.len() == 1 && looks_like_scale(name))
    };
    VarProfile {
        name: name.to_string(),
        dims: value.dims.clone(),
        is_int: declared_int,
        nonneg,
        positive: min > 0.0,
        binary: declared_int
            && !value.dims.is_empty()
            && value.values.iter().all(|&v| v == 0.0 || v == 1.0),
        size_names: Vec::new(),
        min,
        max,
    }
}

/// Preference among int scalars that could name the same length.
fn size_name_rank(name: &str) -> usize {
    ["N", "J", "K", "n", "M", "T"]
        .iter()
        .position(|p| *p == name)
        .unwrap_or(usize::MAX)
}

impl DataProfile {
    /// The profile of every variable of `data`.
    pub fn new(data: &Data) -> DataProfile {
        let mut vars: Vec<VarProfile> = data
            .vars
            .iter()
            .map(|(name, value)| profile_var(name, value))
            .collect();
        // Int scalars >= 0 that can name a size.
        let mut size_scalars: Vec<(String, usize)> = vars
            .iter()
            .filter(|v| v.is_scalar() && v.is_int && v.nonneg)
            .map(|v| (v.name.clone(), v.min as usize))
            .collect();
        size_scalars.sort_by_key(|(name, _)| (size_name_rank(name), name.clone()));
        for var in &mut vars {
            var.size_names = var
                .dims
                .iter()
                .map(|&len| {
                    size_scalars
                        .iter()
                        .find(|(_, value)| *value == len)
                        .map(|(name, _)| name.clone())
                })
                .collect();
        }
        let used_as_size = |name: &str| {
            vars.iter()
                .any(|v| v.size_names.iter().any(|s| s.as_deref() == Some(name)))
        };
        let group = |v: &VarProfile| {
            if v.is_scalar() && used_as_size(&v.name) {
                0
            } else if v.is_scalar() {
                1
            } else {
                2
            }
        };
        let mut keyed: Vec<(usize, VarProfile)> =
            vars.iter().map(|v| (group(v), v.clone())).collect();
        keyed.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
        DataProfile {
            vars: keyed.into_iter().map(|(_, v)| v).collect(),
        }
    }

    /// The profile of the variable `name`.
    pub fn get(&self, name: &str) -> Option<&VarProfile> {
        self.vars.iter().find(|v| v.name == name)
    }
}

/// The `data { ... }` block for `data`, ending with a newline; the model writes what follows.
///
/// ```
/// use refinestat_language::Data;
/// let data = Data::from_json_str(r#"{"J": 2, "y": [1.5, -2], "sigma": [1, 2]}"#).unwrap();
/// assert_eq!(
///     refinestat_family::profile::data_block(&data),
///     "data {\n  int<lower=0> J;\n  vector<lower=0>[J] sigma;\n  vector[J] y;\n}\n"
/// );
/// ```
pub fn data_block(data: &Data) -> String {
    let profile = DataProfile::new(data);
    let mut out = String::from("data {\n");
    for var in &profile.vars {
        out.push_str(&format!("  {} {};\n", var.declared_type(), var.name));
    }
    out.push_str("}\n");
    out
}
