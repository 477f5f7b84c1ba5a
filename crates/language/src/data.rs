//! Stan JSON data: loading, and the in-memory form every later stage reads.
//!
//! A value is a rectangular array of numbers, stored flat in JSON (row-major) order with its
//! dimensions, so `matrix[2,3]` data `[[1,2,3],[4,5,6]]` is dims `[2,3]`, values `[1,2,3,4,5,6]`.
//! `"NaN"`, `"inf"`, `"-inf"` (and `"Infinity"`, `"-Infinity"`) are accepted as numbers.
//! Validation against a program's data block lives in [`crate::check()`] (module `check`).

use std::collections::BTreeMap;
use std::path::Path;

/// One variable's value.
#[derive(Debug, Clone, PartialEq)]
pub struct DataValue {
    /// Sizes, outermost first; empty for a scalar.
    pub dims: Vec<usize>,
    /// Elements in row-major (JSON) order.
    pub values: Vec<f64>,
    /// True when every element was written as an integer literal.
    pub all_int: bool,
}

impl DataValue {
    /// A scalar value.
    pub fn scalar(x: f64, is_int: bool) -> DataValue {
        DataValue {
            dims: vec![],
            values: vec![x],
            all_int: is_int,
        }
    }

    /// A rectangular array; `values` in row-major order.
    pub fn array(dims: Vec<usize>, values: Vec<f64>, all_int: bool) -> DataValue {
        DataValue {
            dims,
            values,
            all_int,
        }
    }

    /// Is it a scalar (no dimensions)?
    pub fn is_scalar(&self) -> bool {
        self.dims.is_empty()
    }

    /// The value of a scalar (or of a one-element array).
    pub fn as_scalar(&self) -> Option<f64> {
        (self.values.len() == 1).then(|| self.values[0])
    }

    /// The smallest and largest element, ignoring NaN; `None` when there is no non-NaN element.
    pub fn min_max(&self) -> Option<(f64, f64)> {
        let mut it = self.values.iter().copied().filter(|x| !x.is_nan());
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), x| (lo.min(x), hi.max(x))))
    }

    /// Does any element equal NaN?
    pub fn has_nan(&self) -> bool {
        self.values.iter().any(|x| x.is_nan())
    }
}

/// A data set: variable name -> value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Data {
    /// The variables by name.
    pub vars: BTreeMap<String, DataValue>,
}

/// Why a data file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    #[error("cannot read data file {path}: {source}")]
    /// The file could not be read.
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("data is not valid JSON: {0}")]
    /// Malformed JSON, with the parser's message.
    Json(String),
    #[error("data is not valid CSV: {0}")]
    /// Malformed CSV, with the reader's message.
    Csv(String),
    #[error("data variable `{name}`: {message}")]
    /// A variable whose value cannot be used.
    Value {
        /// The variable.
        name: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Data {
    /// The value of a variable, if present.
    pub fn get(&self, name: &str) -> Option<&DataValue> {
        self.vars.get(name)
    }

    /// Parse Stan JSON text.
    pub fn from_json_str(text: &str) -> Result<Data, DataError> {
        crate::data_json::parse(text)
    }

    /// Stan JSON text (one variable per line; ints without a decimal point; non-finite numbers as
    /// `"NaN"`, `"inf"`, `"-inf"`). Reading it back with [`Data::from_json_str`] gives `self`.
    pub fn to_json_string(&self) -> String {
        crate::data_json::write(self)
    }

    /// Read a CSV table (header row, one row per observation): see [`crate::data_csv`].
    pub fn from_csv_str(
        text: &str,
        options: crate::data_csv::CsvOptions,
    ) -> Result<crate::data_csv::CsvData, DataError> {
        crate::data_csv::parse(text, options)
    }

    /// The variables of data text (Stan JSON or CSV) in the order the text lists them: `Data`
    /// keeps its variables by name, but the order a user wrote them in says something (an
    /// outcome is mostly the last column, or the first). CSV text columns add `J_<name>` after
    /// themselves and `N` comes first. Empty when the text does not parse.
    pub fn variable_order(text: &str) -> Vec<String> {
        if crate::data_csv::looks_like_csv(text) {
            crate::data_csv::parse(text, crate::data_csv::CsvOptions { drop_missing: true })
                .map(|t| t.columns)
                .unwrap_or_default()
        } else {
            crate::data_json::key_order(text)
        }
    }

    /// Whether data text is CSV rather than Stan JSON (it does not start with `{`).
    pub fn looks_like_csv(text: &str) -> bool {
        crate::data_csv::looks_like_csv(text)
    }

    /// Read and parse a Stan JSON file.
    pub fn from_path(path: &Path) -> Result<Data, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Data::from_json_str(&text)
    }
}
