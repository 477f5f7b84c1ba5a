//! Structured problems found in a program: a predicate, a byte span, a message and a hint.
//!
//! Rendering with a code frame lives in [`crate::render`]; the same plain text also feeds repair
//! prompts in synthesis.

use crate::ast::Span;
use std::fmt;

/// The six validity predicates of RefineStat, in Stan terms (DESIGN.md, "The six validity predicates").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Predicate {
    /// The text is not in the grammar.
    Parse,
    /// A `~` or `_lpdf` names a distribution or function that does not exist.
    Distribution,
    /// A distribution or function gets the wrong number or kinds of arguments.
    Parameter,
    /// A name is used before it is declared, or data/parameters are assigned to.
    Dependency,
    /// An argument can leave the distribution's support, or observed values lie outside it.
    Support,
    /// Shapes or int/real kinds do not fit.
    Type,
}

impl Predicate {
    /// The six predicates, in the order they are reported.
    pub const ALL: [Predicate; 6] = [
        Predicate::Parse,
        Predicate::Distribution,
        Predicate::Parameter,
        Predicate::Dependency,
        Predicate::Support,
        Predicate::Type,
    ];

    /// The lowercase name (`support`).
    pub fn as_str(self) -> &'static str {
        match self {
            Predicate::Parse => "parse",
            Predicate::Distribution => "distribution",
            Predicate::Parameter => "parameter",
            Predicate::Dependency => "dependency",
            Predicate::Support => "support",
            Predicate::Type => "type",
        }
    }
}

impl std::str::FromStr for Predicate {
    type Err = String;
    /// The lowercase name [`Predicate::as_str`] gives.
    fn from_str(s: &str) -> Result<Predicate, String> {
        Predicate::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown predicate `{s}` (expected parse, distribution, parameter, \
                     dependency, support or type)"
                )
            })
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How sure a diagnostic is, as stanc distinguishes errors from warnings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Severity {
    /// Certain: no value the program can produce satisfies the predicate (or the text is wrong).
    #[default]
    Error,
    /// Interval analysis cannot rule a violation out ("may be outside [0, 1]"), but it is not
    /// certain either. The decoder treats it as a violation (it needs certainty); `check`,
    /// `sample` and `logp` report it and go on.
    Warning,
}

impl Severity {
    /// The lowercase name (`error`, `warning`).
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One violation of one predicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Which predicate is violated.
    pub predicate: Predicate,
    /// [`Severity::Error`] unless only possibly violated.
    pub severity: Severity,
    /// Where: the byte range of the offending text.
    pub span: Span,
    /// What is wrong, in words a person understands ("scale of normal may be <= 0").
    pub message: String,
    /// What to do about it ("declare sigma with <lower=0>").
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error of `predicate` at `span` saying `message`, without hint.
    pub fn new(predicate: Predicate, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            predicate,
            severity: Severity::Error,
            span,
            message: message.into(),
            hint: None,
        }
    }

    /// Is this certain (not a warning)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Add a hint saying what to do about it.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }
}

/// 1-based line and column of a byte offset (columns count chars, not bytes).
pub fn line_col(source: &str, offset: u32) -> (usize, usize) {
    let offset = (offset as usize).min(source.len());
    let mut line = 1;
    let mut line_start = 0;
    for (i, b) in source.bytes().enumerate() {
        if i >= offset {
            break;
        }
        if b == b'\n' {
            line += 1;
            line_start = i + 1;
        }
    }
    let col = source
        .get(line_start..offset)
        .map(|s| s.chars().count())
        .unwrap_or(offset - line_start)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_from_one() {
        let src = "ab\ncd\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 1), (1, 2));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 4), (2, 2));
        assert_eq!(line_col(src, 100), (3, 1));
    }
}
