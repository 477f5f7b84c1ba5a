//! The synthesis stage of refinestat: proposal models and the constrained decoder that writes
//! the rest of a Stan program after a data block, token by token, valid by construction.
//!
//! Owns: the built-in weighted grammar ([`BuiltinModel`], needs no weights), the prompt
//! ([`data_block`] written from the data), the compiled program grammar ([`grammar`]: llguidance token masks over a vocabulary,
//! bounded after the data block), and the decoder ([`generate`]) with its modes ([`Mode`]:
//! `standard`, `syntax`, `refinestat`), budgets ([`DecodeConfig`]) and [`StopReason`].
//! Also owns the RefineStat refinement loop ([`refine()`]), which scores candidates with one fit
//! each (`refinestat_workflow::fit_model`).
//! Programs are written by a [`ProgramWriter`]; a [`Proposer`] is a token-level model behind the
//! decoder, or a remote model writing statement by statement ([`statements`]: the decoding and
//! checks here, the requests behind [`CompletionBackend`]). [`proposal_from_spec`] resolves the
//! `builtin` spec, and `replay:FILE` ([`BuiltinModel::replay`]: the program in FILE, after the
//! data block, proposed token by token with no noise, to see what a decoding mode lets through).
//! Does not own: the proposal-model boundary (`refinestat-proposal`, re-exported here:
//! [`ProposalModel`], [`Vocabulary`]); the backends that need a model runtime or a network client, each a crate of
//! its own behind a cargo feature of the binary (`refinestat-local` for `local:PATH`,
//! `refinestat-openai` for `openai:URL#model=NAME`; the binary resolves their specs); the
//! language, models, sampling, fitting or diagnostics, which it calls. The trained SPFN backend
//! is `refinestat-spfn-net` (`spfn:MODEL_DIR`).
//!
//! ```
//! use rand::SeedableRng;
//! use refinestat_language::{check, Data};
//! use refinestat_synthesis::{data_block, generate, BuiltinModel, DecodeConfig, Mode, StopReason};
//!
//! let data = Data::from_json_str(r#"{"N": 3, "y": [0.1, -1.2, 2.3]}"#).unwrap();
//! let prompt = data_block(&data);
//! let mut model = BuiltinModel::new(&data);
//! let config = DecodeConfig { mode: Mode::Refinestat, ..DecodeConfig::default() };
//! let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
//! let out = generate(&mut model, &prompt, &data, &config, &mut rng);
//! assert_eq!(out.stop, StopReason::Completed);
//! assert!(check(&out.program, Some(&data)).is_empty());
//! ```

#![warn(missing_docs)]

pub mod builtin;
pub mod datasets;
pub mod decode;
pub mod grammar;
pub mod prompt;
pub mod refine;
pub mod statements;
pub mod writer;

pub use builtin::{BuiltinConfig, BuiltinModel};
pub use decode::{generate, program_rng, DecodeConfig, Generation, Mode, StopReason, TokenCounts};
pub use grammar::{Grammar, GrammarBounds, GrammarError, GrammarOptions, GrammarState};
pub use prompt::{data_block, instruction, text_prompt, DataProfile, VarProfile};
pub use refine::{
    likelihood_start, refine, structure_key, unmodelled_responses, Assessment, Attempt,
    AttemptKind, Candidate, Fitter, NutsFitter, RefineConfig, RefineOutcome, RefineStop, Selection,
};
pub use refinestat_family::{with_generated_quantities, Schema, SchemaError, SchemaOptions};
/// The proposal-model boundary (the `refinestat-proposal` crate), also reachable from here.
pub use refinestat_proposal as proposal;
pub use refinestat_proposal::{ProposalError, ProposalModel, TokenId, UniformModel, Vocabulary};
pub use statements::{write_program, Completion, CompletionBackend, CompletionRequest};
pub use writer::{ProgramWriter, Proposer};

/// The program writer named by a `--lm` spec that this crate can build: `builtin` (the built-in
/// grammar for `data`), `replay:FILE` (the program in FILE, see [`BuiltinModel::replay`]).
/// `local:PATH`, `openai:URL#model=NAME` and `spfn:MODEL_DIR` name backends of their own crates
/// (`refinestat-local`, `refinestat-openai`, `refinestat-spfn-net`), which the binary resolves
/// before calling this when
/// it was built with them; here they are [`ProposalError::NotBuilt`], naming the cargo feature.
/// `describe` is the user's sentence about the data, for models that read an instruction.
pub fn proposal_from_spec(
    spec: &str,
    data: &refinestat_language::Data,
    describe: Option<&str>,
) -> Result<Proposer, ProposalError> {
    proposal_for(spec, data, describe, None)
}

/// [`proposal_from_spec`] for a decided [`Schema`]: the builtin model writes only programs that
/// model its response(s).
pub fn proposal_for_schema(
    spec: &str,
    data: &refinestat_language::Data,
    describe: Option<&str>,
    schema: &Schema,
) -> Result<Proposer, ProposalError> {
    proposal_for(spec, data, describe, Some(schema))
}

fn proposal_for(
    spec: &str,
    data: &refinestat_language::Data,
    describe: Option<&str>,
    schema: Option<&Schema>,
) -> Result<Proposer, ProposalError> {
    let _ = describe;
    match spec.split_once(':').map_or(spec, |(kind, _)| kind) {
        "builtin" if spec == "builtin" => Ok(Proposer::Tokens(Box::new(match schema {
            Some(schema) => BuiltinModel::with_schema(data, schema, &BuiltinConfig::default()),
            None => BuiltinModel::new(data),
        }))),
        "replay" => {
            let path = spec
                .strip_prefix("replay:")
                .filter(|p| !p.is_empty())
                .ok_or_else(|| ProposalError::InvalidSpec {
                    spec: spec.to_string(),
                    problem: "expected replay:FILE".to_string(),
                })?;
            let text = std::fs::read_to_string(path).map_err(|e| ProposalError::ModelFiles {
                path: path.to_string(),
                problem: format!("cannot read the program to replay: {e}"),
            })?;
            Ok(Proposer::Tokens(Box::new(BuiltinModel::replay(
                data, &text,
            ))))
        }
        kind @ ("local" | "openai" | "spfn") => Err(ProposalError::NotBuilt {
            spec: spec.to_string(),
            feature: kind.to_string(),
        }),
        _ => Err(ProposalError::UnknownSpec(spec.to_string())),
    }
}

/// The index where `target` (in [0, sum of `weights`)) falls when the positive weights are laid
/// end to end (the decoder's weighted draw, for backends and test servers that sample the same
/// way); `None` when no weight is positive.
pub fn weighted_index(weights: &[f64], target: f64) -> Option<usize> {
    decode::weighted_index(weights, target)
}
