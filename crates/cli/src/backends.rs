//! The proposal backends compiled into this binary: `builtin` always (the synthesis crate);
//! `local:PATH` with the `local` feature (`refinestat-local`, candle) and `openai:URL#model=NAME`
//! with the `openai` feature (`refinestat-openai`); `spfn` (the shipped model) and `spfn:MODEL_DIR` with the `spfn` feature
//! (`refinestat-spfn-net`, candle). A spec naming a backend this build leaves out
//! is an error that says which feature adds it (`cargo build --release --features local`).

use refinestat_language::Data;
use refinestat_synthesis::{ProposalError, Proposer, Schema};

/// The program writer a `--lm` spec names; `describe` is the user's sentence about the data and
/// `schema` the decided roles of its variables (the builtin writes only programs on its response).
pub fn proposal_from_spec(
    spec: &str,
    data: &Data,
    describe: Option<&str>,
    schema: &Schema,
) -> Result<Proposer, ProposalError> {
    match spec.split_once(':').map_or(spec, |(kind, _)| kind) {
        #[cfg(feature = "local")]
        "local" => Ok(Proposer::Tokens(Box::new(refinestat_local::from_spec(
            spec, describe,
        )?))),
        #[cfg(feature = "spfn")]
        "spfn" => Ok(Proposer::Tokens(Box::new(refinestat_spfn_net::from_spec(
            spec, data,
        )?))),
        #[cfg(feature = "openai")]
        "openai" => Ok(Proposer::Remote(Box::new(
            refinestat_openai::OpenAiModel::from_spec(spec, describe)?,
        ))),
        _ => refinestat_synthesis::proposal_for_schema(spec, data, describe, schema),
    }
}
