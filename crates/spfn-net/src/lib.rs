//! SPFN part 2: the network that reads a dataset and writes its program, trained on the
//! (program, prior-predictive dataset) pairs of `refinestat-spfn`'s corpus, and used as a
//! proposal model (`--lm spfn:MODEL_DIR`) behind the constrained decoder.
//!
//! Owns:
//! - [`features`]: what the encoder reads of a dataset (one token per data variable: per-cell
//!   features and summary statistics, invariant to the order of rows);
//! - [`vocab`]: the decoder's lexeme vocabulary and the training targets (data variable names as
//!   pointers to their encoder tokens);
//! - [`net`]: the encoder-decoder network (candle, CPU);
//! - [`fast`]: its decoder one lexeme at a time in plain Rust (proposing);
//! - [`layout`]: the whitespace of programs written without it (models trained without
//!   whitespace lexemes);
//! - [`mod@train`]: the training run (streamed shards, AdamW with warm-up and cosine decay,
//!   validation loss, checkpoints and resume, the loss curve);
//! - [`propose`]: the trained network as a [`refinestat_proposal::ProposalModel`];
//! - [`eval`]: recovery of the generating structure, program and likelihood on a corpus split,
//!   calibration, and the builtin proposer on the same pairs.
//!
//! Does not own: the corpus and its shards (`refinestat-spfn`), the grammar mask and the decoder
//! that keep proposals valid (`refinestat-synthesis`), anything printed (the CLI's `spfn train`
//! shows progress). It is compiled into the binary only with its `spfn` feature.

#![warn(missing_docs)]

pub mod eval;
pub mod fast;
pub mod features;
pub mod layout;
pub mod net;
pub mod propose;
pub mod train;
pub mod vocab;

pub use propose::{from_spec, SpfnModel};
pub use train::{train, Progress, TrainConfig, TrainReport};

use std::path::Path;

/// Errors of the SPFN network.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A file of a model directory is missing, malformed or does not belong (names the file).
    #[error("{path}: {problem}")]
    Files {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The corpus cannot be trained on.
    #[error("corpus: {0}")]
    Corpus(String),
    /// Bad settings.
    #[error("{0}")]
    Usage(String),
    /// The tensor library failed.
    #[error("network: {0}")]
    Candle(String),
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> NetError {
    NetError::Files {
        path: path.display().to_string(),
        problem: e.to_string(),
    }
}
