//! Pretty printer and canonical printer.

use crate::ast::Program;

/// Stan source text in the house layout (4-space indent, one statement per line).
pub fn print_program(program: &Program) -> String {
    let _ = program;
    todo!("printer")
}

/// Canonical text: equal for programs that differ only in names of locals/parameters, formatting,
/// comments, or the order of independent declarations.
pub fn canonical(program: &Program) -> String {
    let _ = program;
    todo!("canonical printer")
}
