//! The SPFN stage of refinestat, part 1: programs as generators of their own training data.
//!
//! A symbolic prior-data fitted network learns q(program | data) from (data, program) pairs that
//! cost only simulation: every valid program, run forward (parameters from the priors, then data
//! given a design), describes its own prior predictive. This crate builds the meta-prior over
//! programs and turns it into a corpus of training pairs.
//!
//! Owns:
//! - [`source`]: the [`source::ProgramSource`] trait, the human-written corpus
//!   (`crates/spfn/corpus/*.stan`, each with its family, labels and data schema) and the
//!   two-program mixtures ([`source::Mixtures`]);
//! - [`library`]: the family library (`refinestat-family`, the builtin proposer's grammar) as a
//!   source: synthetic data schemas, a structure drawn for each, its structural labels;
//! - [`schema`]: which data a program is given (sizes, covariates, group indexes, trials, times)
//!   and which it simulates;
//! - [`design`]: the design generator for the given data;
//! - [`augment`]: named program transformations (scale a constant, add a hyperparameter layer,
//!   swap similar distributions, ..., and two programs as a mixture);
//! - [`analyze`]: structural labels, tokens, and the prior-narrowing rule;
//! - [`simulate`]: datasets through the model crate's prior-predictive simulator, with rejection
//!   of degenerate draws;
//! - [`shard`] and [`corpus`]: the shard format, the deterministic, resumable corpus run, its
//!   manifest and split file, and the stats of a corpus directory.
//!
//! Does not own: parsing, checking or canonical printing (the language crate), simulation itself
//! (the model crate), the grammar of program structures and data schemas of users' data (the
//! family crate), the network and its training (SPFN part 2), or anything printed: the CLI
//! reports progress and warnings.

#![warn(missing_docs)]

pub mod analyze;
pub mod augment;
pub mod corpus;
pub mod design;
pub mod library;
pub mod schema;
pub mod shard;
pub mod simulate;
pub mod source;

pub use corpus::{CorpusConfig, MetaPrior, RunOptions, SplitConfig, Stats};
pub use library::FamilyLibrary;
pub use source::{HumanCorpus, Mixtures, ProgramSource, SourceProgram};

/// Errors of the SPFN corpus stage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpfnError {
    /// A data schema is wrong (names the variable).
    #[error("schema: {0}")]
    Schema(String),
    /// A corpus program or directory is wrong (names the file).
    #[error("corpus: {0}")]
    Corpus(String),
    /// Reading or writing a file failed (names the file).
    #[error("{0}")]
    Io(String),
}
