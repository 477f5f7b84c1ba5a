//! Reading CmdStan-layout CSV files (ours or CmdStan's) and summarizing several chains.
//!
//! Layout: `#` comment lines carrying the run configuration, one header line (`lp__,
//! accept_stat__, stepsize__, treedepth__, n_leapfrog__, divergent__, energy__, params...`), data
//! rows, `# Adaptation terminated` and the step size / metric comments, and timing comments at the
//! end. When the configuration says `save_warmup = 1` (or `true`), the rows before
//! `# Adaptation terminated` (or, without that line, the first `ceil(num_warmup / thin)` rows)
//! are warmup and are dropped.
//!
//! Column names `theta.1`, `L.2.1` become Stan names `theta[1]`, `L[2,1]`. Columns ending in `__`
//! are sampler statistics. `log_lik` columns become the pointwise log-likelihood and are kept out
//! of the parameter table: they are one column per observation and would dwarf summary.json,
//! while their only use in the diagnostics is PSIS-LOO.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::psis::LogLik;
use crate::summary::{ChainStats, Draws, Summary};

/// One chain read from a CmdStan-layout CSV file (post-warmup draws only).
#[derive(Debug, Clone, PartialEq)]
pub struct ChainCsv {
    /// The file it came from.
    pub path: PathBuf,
    /// The header exactly as written (CmdStan names), used to check chains agree.
    pub columns: Vec<String>,
    /// Stan-style names of the parameter columns (no sampler columns, no `log_lik`).
    pub param_names: Vec<String>,
    /// `params[draw][param]`.
    pub params: Vec<Vec<f64>>,
    /// `log_lik[draw][obs]`; rows are empty when the file has no `log_lik` columns.
    pub log_lik: Vec<Vec<f64>>,
    /// `energy__` and `divergent__` (empty when the file lacks the column).
    pub stats: ChainStats,
    /// Number of warmup rows found in the file and dropped.
    pub warmup_dropped: usize,
    /// The adaptation result written after `# Adaptation terminated` (empty when absent).
    pub adaptation: Adaptation,
}

/// The sampler's adaptation result, from the comments after `# Adaptation terminated`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Adaptation {
    /// `# Step size = ...`.
    pub step_size: Option<f64>,
    /// The inverse metric: its diagonal (`diag_e`), or the dense matrix row by row
    /// (`dense_e`).
    pub inv_metric: Vec<f64>,
    /// Inside the metric block, after its title line.
    in_metric: bool,
}

impl Adaptation {
    fn read_comment(&mut self, comment: &str) {
        let comment = comment.trim();
        if let Some(value) = comment.strip_prefix("Step size =") {
            self.step_size = value.trim().parse().ok();
        } else if comment.contains("inverse mass matrix") {
            self.in_metric = true;
        } else if self.in_metric {
            let values: Option<Vec<f64>> =
                comment.split(',').map(|v| v.trim().parse().ok()).collect();
            match values {
                Some(values) if !comment.is_empty() => self.inv_metric.extend(values),
                _ => self.in_metric = false,
            }
        }
    }
}

/// Why a CSV could not be read or combined; every variant names the file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CsvError {
    /// The file could not be read.
    Io {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        message: String,
    },
    /// No header line (the file is empty or only comments).
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// A header but no draws after warmup.
    NoDraws {
        /// The file.
        path: PathBuf,
    },
    /// The last line stops early (an interrupted write).
    Truncated {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields on the line.
        found: usize,
    },
    /// A row with a different number of fields than the header.
    Ragged {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields in the header.
        expected: usize,
        /// Fields on the line.
        found: usize,
    },
    /// A field that is not a number.
    NonNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The column's header name.
        column: String,
        /// The offending text.
        text: String,
    },
    /// A chain whose header differs from the first chain's.
    HeaderMismatch {
        /// The differing file.
        path: PathBuf,
        /// The first chain's file.
        first: PathBuf,
    },
    /// A chain with a different number of draws than the first chain.
    DrawCountMismatch {
        /// The differing file.
        path: PathBuf,
        /// Its post-warmup draws.
        draws: usize,
        /// The first chain's post-warmup draws.
        expected: usize,
    },
    /// No files were given.
    NoChains,
}

impl fmt::Display for CsvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CsvError::Io { path, message } => write!(f, "{}: {message}", path.display()),
            CsvError::Empty { path } => write!(f, "{}: no CSV header found", path.display()),
            CsvError::NoDraws { path } => write!(f, "{}: header but no draws", path.display()),
            CsvError::Truncated {
                path,
                line,
                expected,
                found,
            } => write!(
                f,
                "{}:{line}: truncated last line ({found} of {expected} fields)",
                path.display()
            ),
            CsvError::Ragged {
                path,
                line,
                expected,
                found,
            } => write!(
                f,
                "{}:{line}: {found} fields, the header has {expected}",
                path.display()
            ),
            CsvError::NonNumeric {
                path,
                line,
                column,
                text,
            } => write!(
                f,
                "{}:{line}: column {column}: {text:?} is not a number",
                path.display()
            ),
            CsvError::HeaderMismatch { path, first } => write!(
                f,
                "{}: columns differ from those of {}",
                path.display(),
                first.display()
            ),
            CsvError::DrawCountMismatch {
                path,
                draws,
                expected,
            } => write!(
                f,
                "{}: {draws} draws, the first chain has {expected}",
                path.display()
            ),
            CsvError::NoChains => write!(f, "no CSV files given"),
        }
    }
}

impl std::error::Error for CsvError {}

/// CmdStan column name to Stan name: `theta.1` -> `theta[1]`, `L.2.1` -> `L[2,1]`. Names whose
/// dotted parts are not all indices are kept as they are.
fn stan_name(column: &str) -> String {
    let mut parts = column.split('.');
    let base = parts.next().unwrap_or_default();
    let indices: Vec<&str> = parts.collect();
    if indices.is_empty()
        || indices
            .iter()
            .any(|i| i.is_empty() || !i.bytes().all(|b| b.is_ascii_digit()))
    {
        return column.to_string();
    }
    format!("{base}[{}]", indices.join(","))
}

/// Run configuration gathered from the comment lines before the header.
#[derive(Default)]
struct Config {
    save_warmup: bool,
    num_warmup: Option<usize>,
    thin: Option<usize>,
}

impl Config {
    fn read_comment(&mut self, comment: &str) {
        let Some((key, value)) = comment.split_once('=') else {
            return;
        };
        // Values may carry a "(Default)" suffix.
        let value = value.split_whitespace().next().unwrap_or_default();
        match key.trim() {
            "save_warmup" => self.save_warmup = value == "1" || value == "true",
            "num_warmup" => self.num_warmup = value.parse().ok(),
            "thin" => self.thin = value.parse().ok(),
            _ => {}
        }
    }
}

/// Reads one chain from a CmdStan-layout CSV file. Never panics on bad input.
pub fn read_cmdstan_csv(path: impl AsRef<Path>) -> Result<ChainCsv, CsvError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| CsvError::Io {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    parse_cmdstan_csv(&text, path)
}

/// Parses CSV text; `path` only names the source in errors.
fn parse_cmdstan_csv(text: &str, path: &Path) -> Result<ChainCsv, CsvError> {
    let path_buf = || path.to_path_buf();
    let mut config = Config::default();
    let mut columns: Option<Vec<String>> = None;
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut rows_before_adaptation: Option<usize> = None;
    let mut adaptation = Adaptation::default();
    let ends_with_newline = text.ends_with('\n');
    let lines: Vec<&str> = text.split('\n').collect();
    // A trailing newline leaves one empty piece after it.
    let last_line = if ends_with_newline {
        lines.len() - 1
    } else {
        lines.len()
    };

    for (index, raw) in lines.iter().enumerate().take(last_line) {
        let line_no = index + 1;
        let line = raw.trim_end_matches('\r').trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if columns.is_none() {
                config.read_comment(comment);
            } else if comment.contains("Adaptation terminated") && rows_before_adaptation.is_none()
            {
                rows_before_adaptation = Some(rows.len());
            } else if rows_before_adaptation.is_some() {
                adaptation.read_comment(comment);
            }
            continue;
        }
        let Some(header) = &columns else {
            columns = Some(line.split(',').map(|c| c.trim().to_string()).collect());
            continue;
        };
        let fields: Vec<&str> = line.split(',').collect();
        if fields.len() != header.len() {
            let is_last = line_no == last_line;
            if is_last && !ends_with_newline && fields.len() < header.len() {
                return Err(CsvError::Truncated {
                    path: path_buf(),
                    line: line_no,
                    expected: header.len(),
                    found: fields.len(),
                });
            }
            return Err(CsvError::Ragged {
                path: path_buf(),
                line: line_no,
                expected: header.len(),
                found: fields.len(),
            });
        }
        let mut row = Vec::with_capacity(fields.len());
        for (field, column) in fields.iter().zip(header) {
            let field = field.trim();
            let value: f64 = field.parse().map_err(|_| CsvError::NonNumeric {
                path: path_buf(),
                line: line_no,
                column: column.clone(),
                text: field.to_string(),
            })?;
            row.push(value);
        }
        rows.push(row);
    }

    let Some(columns) = columns else {
        return Err(CsvError::Empty { path: path_buf() });
    };
    let warmup_dropped = if config.save_warmup {
        match rows_before_adaptation {
            Some(n) => n,
            None => {
                let thin = config.thin.unwrap_or(1).max(1);
                config
                    .num_warmup
                    .unwrap_or(0)
                    .div_ceil(thin)
                    .min(rows.len())
            }
        }
    } else {
        0
    };
    let rows = &rows[warmup_dropped..];
    if rows.is_empty() {
        return Err(CsvError::NoDraws { path: path_buf() });
    }

    let mut param_cols = Vec::new();
    let mut log_lik_cols = Vec::new();
    let mut param_names = Vec::new();
    let mut energy_col = None;
    let mut divergent_col = None;
    for (i, column) in columns.iter().enumerate() {
        match column.as_str() {
            "energy__" => energy_col = Some(i),
            "divergent__" => divergent_col = Some(i),
            c if c.ends_with("__") => {}
            c => {
                let name = stan_name(c);
                if name == "log_lik" || name.starts_with("log_lik[") {
                    log_lik_cols.push(i);
                } else {
                    param_cols.push(i);
                    param_names.push(name);
                }
            }
        }
    }
    let pick = |cols: &[usize]| -> Vec<Vec<f64>> {
        rows.iter()
            .map(|r| cols.iter().map(|&i| r[i]).collect())
            .collect()
    };
    let stats = ChainStats {
        energy: energy_col
            .map(|i| rows.iter().map(|r| r[i]).collect())
            .unwrap_or_default(),
        divergent: divergent_col
            .map(|i| rows.iter().map(|r| r[i] != 0.0).collect())
            .unwrap_or_default(),
    };
    Ok(ChainCsv {
        path: path.to_path_buf(),
        params: pick(&param_cols),
        log_lik: pick(&log_lik_cols),
        columns,
        param_names,
        stats,
        warmup_dropped,
        adaptation,
    })
}

/// Combines chains read by [`read_cmdstan_csv`] into one [`Summary`]. All chains must have the
/// same columns and number of draws; the error names the first file that differs.
pub fn summarize_csv(chains: &[ChainCsv]) -> Result<Summary, CsvError> {
    let first = chains.first().ok_or(CsvError::NoChains)?;
    let has_log_lik = first.log_lik.first().is_some_and(|row| !row.is_empty());
    let log_lik = if has_log_lik {
        let ll: Vec<Vec<Vec<f64>>> = chains.iter().map(|c| c.log_lik.clone()).collect();
        LogLik::from_chains(&ll)
    } else {
        None
    };
    summarize_csv_with_loo(chains, |r_eff| {
        Ok(log_lik.as_ref().map(|ll| crate::psis_loo(ll, r_eff)))
    })
}

/// [`summarize_csv`] with PSIS-LOO computed by the caller from the relative efficiency (see
/// [`crate::summarize_with_loo`]); the files' own `log_lik` columns are not used.
pub fn summarize_csv_with_loo<F>(chains: &[ChainCsv], loo: F) -> Result<Summary, CsvError>
where
    F: FnOnce(f64) -> Result<Option<crate::Loo>, CsvError>,
{
    let first = chains.first().ok_or(CsvError::NoChains)?;
    for chain in &chains[1..] {
        if chain.columns != first.columns {
            return Err(CsvError::HeaderMismatch {
                path: chain.path.clone(),
                first: first.path.clone(),
            });
        }
        if chain.params.len() != first.params.len() {
            return Err(CsvError::DrawCountMismatch {
                path: chain.path.clone(),
                draws: chain.params.len(),
                expected: first.params.len(),
            });
        }
    }
    let shape_error = |e: crate::DiagError| CsvError::Io {
        path: first.path.clone(),
        message: e.to_string(),
    };
    let per_chain: Vec<Vec<Vec<f64>>> = chains.iter().map(|c| c.params.clone()).collect();
    let draws = Draws::from_chains(first.param_names.clone(), &per_chain).map_err(shape_error)?;
    let stats: Vec<ChainStats> = chains.iter().map(|c| c.stats.clone()).collect();
    let mut loo_error = None;
    let summary = crate::summarize_with_loo(&draws, &stats, |r_eff| match loo(r_eff) {
        Ok(loo) => Ok(loo),
        Err(e) => {
            loo_error = Some(e);
            Ok(None)
        }
    })
    .map_err(shape_error)?;
    match loo_error {
        Some(e) => Err(e),
        None => Ok(summary),
    }
}

/// Reads CmdStan CSV files (one chain each) and summarizes them together: what
/// `refinestat diagnose` does.
pub fn summarize_csv_files<P: AsRef<Path>>(paths: &[P]) -> Result<Summary, CsvError> {
    let chains = paths
        .iter()
        .map(read_cmdstan_csv)
        .collect::<Result<Vec<_>, _>>()?;
    summarize_csv(&chains)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stan_names() {
        assert_eq!(stan_name("theta.1"), "theta[1]");
        assert_eq!(stan_name("L.2.1"), "L[2,1]");
        assert_eq!(stan_name("mu"), "mu");
        assert_eq!(stan_name("z.real"), "z.real");
        assert_eq!(stan_name("a."), "a.");
    }
}
