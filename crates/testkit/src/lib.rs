//! Test kit of refinestat (not published; a dev-dependency): stand-ins for the outside world that
//! the proposal backends talk to, so their tests and benchmarks run offline and seeded.
//!
//! Owns: [`server`], a loopback OpenAI-compatible completions server backed by any
//! [`ProposalModel`](refinestat_proposal::ProposalModel), with scripted failures (the other end
//! of `refinestat-openai`); and, with the `local` feature, `tiny`, small random-weight
//! transformers in the formats `local:PATH` reads (`refinestat-local`), written from a seed.
//! Does not own: anything the binary runs; no library crate depends on it except as a
//! dev-dependency.

#![warn(missing_docs)]

pub mod server;
#[cfg(feature = "local")]
pub mod tiny;
