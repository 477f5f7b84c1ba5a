//! The model-family library of refinestat: what a dataset is for a model, and which programs
//! fit it.
//!
//! Owns: the per-variable facts of the data ([`profile`]: the prompt's `data` block is written
//! from them), the data schema ([`schema`]: the response and its kind — real, positive, counts,
//! 0/1, successes with trials —, covariates and design matrices, grouping indexes, a time index,
//! known scales, sizes, unused variables; the response decided from the data, the user's
//! `--response` or `--describe`), and a weighted generator of program structures given a schema
//! ([`grammar`]: likelihood families and links, covariates, varying effects, time terms,
//! overdispersion, priors; every structure labelled). The builtin proposal model is this grammar
//! read token by token; the SPFN's training corpus draws its programs from it (the meta-prior
//! P(M)). It also owns the structural revisions refinement applies when the checks ask for
//! them ([`revise`]: heavier tails or overdispersion, the other parameterization, and the
//! `generated quantities` that make a program run as is in CmdStan).
//!
//! Knows no dataset by name. Does not own: decoding, fitting or scoring (the synthesis crate),
//! the language (it writes program text and uses the language crate's analyses).
//!
//! ```
//! use refinestat_family::{structures, GrammarConfig, Schema, SchemaOptions};
//! use refinestat_language::Data;
//! let data = Data::from_json_str(
//!     r#"{"N": 6, "J": 2, "group": [1, 1, 1, 2, 2, 2], "y": [3, 5, 4, 9, 11, 8]}"#,
//! ).unwrap();
//! let schema = Schema::infer(&data, &SchemaOptions::default()).unwrap();
//! assert_eq!(schema.response().name, "y");
//! assert!(schema.summary().starts_with("modelling y (counts); group indexes group 1..J"));
//! let programs = structures(&schema, &GrammarConfig::default());
//! assert!(programs.iter().all(|s| s.text.contains("[group]") && s.labels.link == "log"));
//! ```

#![warn(missing_docs)]

pub mod grammar;
pub mod profile;
pub mod revise;
pub mod schema;

pub use grammar::{
    sample_structure, structures, GrammarConfig, Labels, Structure, MAX_PARAMETER_NAME,
};
pub use profile::{data_block, DataProfile, VarProfile};
pub use revise::{heavier_likelihood, other_parameterization, with_generated_quantities};
pub use schema::{
    Covariate, Decided, Grouping, Response, ResponseKind, Schema, SchemaError, SchemaOptions,
};
