//! The six validity predicates over a parsed program (and over prefixes), plus data validation.
//!
//! Submodules: [`catalog`] (distributions and functions), [`types`] (the checker's types),
//! [`intervals`] (support analysis).

pub mod catalog;
pub mod intervals;
pub mod types;

use crate::data::Data;
use crate::diagnostic::Diagnostic;
use crate::Program;

/// Parse and check a whole program; returns every violation (empty = valid).
pub fn check(src: &str, data: Option<&Data>) -> Vec<Diagnostic> {
    let _ = (src, data);
    todo!("checker")
}

/// Check an already parsed program.
pub fn check_program(program: &Program, data: Option<&Data>) -> Vec<Diagnostic> {
    let _ = (program, data);
    todo!("checker")
}

/// Check a program prefix: empty means "this prefix can still become a valid program".
pub fn check_prefix(src: &str, data: Option<&Data>) -> Vec<Diagnostic> {
    let _ = (src, data);
    todo!("checker")
}
