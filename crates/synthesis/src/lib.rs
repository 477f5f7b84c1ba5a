//! The synthesis stage of refinestat: proposal models and the constrained decoder that writes
//! the rest of a Stan program after a data block, token by token, valid by construction.
//!
//! Owns: the proposal-model boundary ([`ProposalModel`], [`Vocabulary`]), the built-in weighted
//! grammar ([`BuiltinModel`], needs no weights), the prompt ([`data_block`] written from the
//! data), the compiled program grammar ([`grammar`]: llguidance token masks over a vocabulary,
//! bounded after the data block), and the decoder ([`generate`]) with its modes ([`Mode`]:
//! `standard`, `syntax`, `refinestat`), budgets ([`DecodeConfig`]) and [`StopReason`].
//! Also owns fitting one program for scoring ([`fit`]: NUTS + diagnostics, shared with the CLI's
//! `sample`) and the RefineStat refinement loop ([`refine()`]).
//! Programs are written by a [`ProgramWriter`]; [`proposal_from_spec`] turns a `--lm` spec into
//! a [`Proposer`]: a token-level model behind the decoder (`builtin`, or a transformer run by
//! candle from `local:PATH`, see [`local`]), or an OpenAI-compatible server writing statement by
//! statement ([`openai`], `openai:http://HOST:PORT/v1#model=NAME`).
//! Does not own: the language, models, sampling or diagnostics, which it calls. The trained SPFN
//! backend comes later.
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

pub mod builtin;
pub mod datasets;
pub mod decode;
pub mod fit;
pub mod grammar;
pub mod local;
pub mod openai;
pub mod prompt;
pub mod proposal;
pub mod refine;
pub mod writer;

pub use builtin::{BuiltinConfig, BuiltinModel};
pub use decode::{generate, program_rng, DecodeConfig, Generation, Mode, StopReason, TokenCounts};
pub use grammar::{Grammar, GrammarBounds, GrammarError, GrammarOptions, GrammarState};
pub use local::LocalModel;
pub use openai::{OpenAiModel, OpenAiSpec};
pub use prompt::{data_block, instruction, text_prompt, DataProfile, VarProfile};
pub use proposal::{ProposalError, ProposalModel, TokenId, UniformModel, Vocabulary};
pub use refine::{
    likelihood_start, refine, unmodelled_responses, Assessment, Attempt, AttemptKind, Candidate,
    Fitter, NutsFitter, RefineConfig, RefineOutcome, RefineStop, Selection,
};
pub use refinestat_family::{with_generated_quantities, Schema, SchemaError, SchemaOptions};
pub use writer::{ProgramWriter, Proposer};

/// The program writer named by a `--lm` spec: `builtin` (the built-in grammar for `data`),
/// `local:PATH` (a model directory or .gguf file, loaded now), or `openai:URL#model=NAME[&...]` (see [`openai`]; nothing is sent until the first program).
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
    match spec.split_once(':').map_or(spec, |(kind, _)| kind) {
        "builtin" if spec == "builtin" => Ok(Proposer::Tokens(Box::new(match schema {
            Some(schema) => BuiltinModel::with_schema(data, schema, &BuiltinConfig::default()),
            None => BuiltinModel::new(data),
        }))),
        "openai" => Ok(Proposer::Remote(OpenAiModel::from_spec(spec, describe)?)),
        "local" => {
            let path = &spec["local:".len()..];
            if path.is_empty() {
                return Err(ProposalError::InvalidSpec {
                    spec: spec.to_string(),
                    problem: "expected local:PATH (a model directory or a .gguf file)".into(),
                });
            }
            let model = LocalModel::load(std::path::Path::new(path), describe)?;
            Ok(Proposer::Tokens(Box::new(model)))
        }
        "spfn" => Err(ProposalError::NotAvailable(spec.to_string())),
        _ => Err(ProposalError::UnknownSpec(spec.to_string())),
    }
}
