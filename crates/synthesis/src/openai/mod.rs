//! The OpenAI-compatible backend (`--lm openai:URL#model=NAME`): programs written statement by
//! statement by a completions server (vLLM, llama.cpp's server, Ollama), with every statement
//! checked on our side.
//!
//! - [`OpenAiSpec`]: the spec, `openai:http://HOST:PORT/v1#model=NAME` with optional
//!   `&grammar=lark|gbnf|none` (default `lark`), `&timeout=SECONDS` (default 60, fractions
//!   allowed), `&retries=N` (default 3), `&max_tokens=N` (per request, default 96) and
//!   `&resamples=N` (rejected draws of a statement before backtracking, default 8). Plain HTTP
//!   only: this build has no TLS. The API key comes from `OPENAI_API_KEY` when it is set.
//! - [`OpenAiModel`]: the client. Each request is `POST {URL}/completions` with the instruction
//!   ([`crate::instruction`]) followed by the program so far, stop texts `;`, `{`, `}`, the
//!   temperature, a seed drawn from the caller's random stream, and a statement grammar where
//!   the server takes one (vLLM `structured_outputs.grammar` + `guided_grammar` for `lark`,
//!   llama.cpp `grammar` for `gbnf`). The decoding itself is in `statements.rs`
//!   ([`OpenAiModel::write_program`]).
//! - [`server::CompletionServer`]: a loopback OpenAI-compatible server backed by any
//!   [`crate::ProposalModel`], with scripted failures, for tests and offline runs.

mod client;
pub mod server;
mod spec;
mod statements;

pub use client::{
    Completion, CompletionRequest, OpenAiModel, STATEMENT_GBNF, STATEMENT_LARK, STOP_TEXTS,
};
pub use spec::{GrammarKind, OpenAiSpec, MAX_RETRIES};
