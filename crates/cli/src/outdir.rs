//! Output directories never mix runs: a command that finds files it would write (from an earlier
//! run) in its output directory refuses, unless `--overwrite`, which removes exactly those files.

use crate::error::{CliError, Result};
use std::path::{Path, PathBuf};

/// The entries a command owns in its output directory: exact names, and `prefix*suffix`
/// patterns (`chain-*.csv`). Directories among them are removed whole.
pub struct Owned {
    pub exact: &'static [&'static str],
    pub patterns: &'static [(&'static str, &'static str)],
}

pub const SAMPLE: Owned = Owned {
    exact: &[
        "summary.json",
        "run_program.stan",
        "run_data.json",
        "run.json",
        "report.html",
        "log_lik.npy",
    ],
    patterns: &[("chain-", ".csv")],
};

pub const SYNTH: Owned = Owned {
    exact: &[
        "best_program.stan",
        "best_program_diagnostics.json",
        "candidates",
        "log.jsonl",
        "token_usage.json",
        "comparison.json",
        "best",
        "report.html",
    ],
    patterns: &[],
};

pub const GENERATE: Owned = Owned {
    exact: &["generate.jsonl"],
    patterns: &[("program-", ".stan")],
};

pub const EXPERIMENT: Owned = Owned {
    exact: &[
        "config.json",
        "analysis",
        "summary.txt",
        "token_usage.json",
        "cumulative_tokens.json",
        "token_budget.json",
        "slurm",
    ],
    patterns: &[],
};

impl Owned {
    fn matches(&self, name: &str) -> bool {
        self.exact.contains(&name)
            || self.patterns.iter().any(|(p, s)| {
                name.len() >= p.len() + s.len() && name.starts_with(p) && name.ends_with(s)
            })
    }

    /// The entries of `dir` this command owns, sorted by name (none when `dir` does not exist).
    pub fn present(&self, dir: &Path) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| self.matches(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        found.sort();
        found
    }
}

/// Removes `paths` (directories recursively).
pub fn remove(paths: &[PathBuf]) -> Result<()> {
    for p in paths {
        let r = if p.is_dir() {
            std::fs::remove_dir_all(p)
        } else {
            std::fs::remove_file(p)
        };
        r.map_err(|e| CliError::new(format!("cannot remove {}: {e}", p.display())))?;
    }
    Ok(())
}

/// The refusal for `dir` holding `found` (an earlier run's files).
pub fn refusal(dir: &Path, found: &[PathBuf], command: &str) -> CliError {
    let names: Vec<String> = found
        .iter()
        .take(4)
        .map(|p| {
            p.file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
        })
        .collect();
    CliError::new(format!(
        "{} already holds the output of an earlier run ({}{}); `{command}` does not mix runs: \
         pass --overwrite to remove those files first, or choose another --output-dir",
        dir.display(),
        names.join(", "),
        if found.len() > 4 {
            format!(" and {} more", found.len() - 4)
        } else {
            String::new()
        }
    ))
}

/// Makes `dir` ready for a new run of `command`: created when missing; with files the command
/// owns, refused, or (with `overwrite`) those files removed.
pub fn claim(dir: &Path, owned: &Owned, overwrite: bool, command: &str) -> Result<()> {
    let found = owned.present(dir);
    if !found.is_empty() {
        if !overwrite {
            return Err(refusal(dir, &found, command));
        }
        remove(&found)?;
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        CliError::new(format!(
            "cannot create output directory {}: {e}",
            dir.display()
        ))
    })
}
