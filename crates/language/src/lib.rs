//! The language stage of refinestat: everything about Stan-subset program *text*.
//!
//! Owns: the lexer and resilient parser ([`parse`], [`parse_prefix`]), the [`ast`], the pretty and
//! canonical printers ([`print_program`], [`print_program_with_comments`], [`canonical`]), Stan JSON [`data`] loading and CSV tables
//! ([`data_csv`]), the symbol table and type checker, and the six validity predicates ([`check()`],
//! [`check_prefix`]), which return structured [`Diagnostic`]s and work on program prefixes.
//!
//! Also owns the analyses other stages must agree on ([`analysis`]: the AST walker and which
//! statements are on observed data).
//!
//! Does not own: evaluation of densities (the `model` crate), sampling, or diagnostics.
//! Invariant: nothing here knows about sampling or automatic differentiation.
//!
//! Checking never aborts: the parser always returns a tree plus every error it found.
//!
//! ```
//! use refinestat_language::{check, parse, Data};
//! let src = "data { int N; array[N] real y; } parameters { real mu; } model { y ~ normal(mu, 1); }";
//! let parsed = parse(src);
//! assert!(parsed.errors.is_empty());
//! let data = Data::from_json_str(r#"{"N": 2, "y": [0.5, 1.5]}"#).unwrap();
//! assert!(check(src, Some(&data)).is_empty());
//! ```

#![warn(missing_docs)]

pub mod analysis;
pub mod ast;
pub mod check;
pub mod comments;
pub mod data;
pub mod data_csv;
mod data_json;
pub mod diagnostic;
mod lexer;
pub mod lexicon;
mod parser;
pub mod print;
pub mod render;

pub use ast::{Program, Span};
pub use check::{catalog, check, check_prefix, check_program, validate_data};
pub use data::{Data, DataError, DataValue};
pub use data_csv::{CsvData, CsvOptions};
pub use diagnostic::{Diagnostic, Predicate, Severity};
pub use parser::{parse, parse_prefix, Parse};
pub use print::{canonical, print_program, print_program_with_comments};
