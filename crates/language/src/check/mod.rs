//! The six validity predicates over a parsed program (and over prefixes), plus data validation.
//!
//! One pass walks the blocks in order with a symbol table ([`scope`]), typing every expression per
//! Stan's rules ([`types`], [`expr`]), checking distribution applications ([`dist`]) against the
//! [`catalog`], deciding supports by interval analysis ([`intervals`]) and checking data values
//! against the data block ([`data_check`]). Checking never aborts: every violation found is
//! returned as a [`Diagnostic`], in source order.
//!
//! Prefixes ([`check_prefix`]): whatever touches the end of the text may still grow, so it is only
//! checked as far as it goes; missing blocks and unused names are never violations.
//!
//! ```
//! use refinestat_language::{check, check_prefix, Predicate};
//! let head = "data { int N; vector[N] y; } parameters { real mu; real s; } model { ";
//! // Still fine: `norm` may become `normal`.
//! assert!(check_prefix(&format!("{head}y ~ norm"), None).is_empty());
//! // No continuation repairs an unknown distribution.
//! let d = check_prefix(&format!("{head}y ~ normall("), None);
//! assert_eq!(d[0].predicate, Predicate::Distribution);
//! // `s` has no lower bound, so as a scale it may be <= 0.
//! let d = check(&format!("{head}y ~ normal(mu, s); }}"), None);
//! assert_eq!(d[0].predicate, Predicate::Support);
//! assert_eq!(d[0].hint.as_deref(), Some("declare s with <lower=0>"));
//! ```

pub mod catalog;
mod checker;
mod data_check;
mod dist;
mod expr;
mod functions;
pub mod intervals;
mod scope;
mod tail;
pub mod types;

use crate::data::Data;
use crate::diagnostic::Diagnostic;
use crate::parser::{parse, parse_prefix_tokens};
use crate::Program;
use checker::Checker;

/// Parse and check a whole program; returns every violation (empty = valid).
pub fn check(src: &str, data: Option<&Data>) -> Vec<Diagnostic> {
    let parsed = parse(src);
    let mut diags = parsed.errors;
    let mut checker = Checker::new(&parsed.program, data, Some(src), false);
    checker.run(&parsed.program, false);
    diags.extend(checker.diags);
    sort(&mut diags);
    diags
}

/// Check an already parsed program (parse errors are the parser's to report).
pub fn check_program(program: &Program, data: Option<&Data>) -> Vec<Diagnostic> {
    let mut checker = Checker::new(program, data, None, false);
    checker.run(program, false);
    let mut diags = checker.diags;
    sort(&mut diags);
    diags
}

/// Check a program prefix: empty means "this prefix can still become a valid program".
pub fn check_prefix(src: &str, data: Option<&Data>) -> Vec<Diagnostic> {
    // One lexing serves the parser and the pass over the unfinished statement.
    let (parsed, tokens, incomplete_from) = parse_prefix_tokens(src);
    let mut diags = parsed.errors;
    let mut checker = Checker::new(&parsed.program, data, Some(src), true);
    checker.run(&parsed.program, false);
    diags.extend(checker.diags);
    diags.extend(tail::unfinished_statement_names(
        src,
        tokens,
        incomplete_from,
    ));
    sort(&mut diags);
    diags
}

/// Check data values against the program's data block: every variable present, sizes and int-ness
/// as declared, declared bounds respected.
pub fn validate_data(program: &Program, data: &Data) -> Vec<Diagnostic> {
    let mut checker = Checker::new(program, Some(data), None, false);
    checker.run(program, true);
    let mut diags = checker.diags;
    sort(&mut diags);
    diags
}

fn sort(diags: &mut Vec<Diagnostic>) {
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    diags.dedup();
}
