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
//! Does not own: the language, models, sampling or diagnostics, which it calls. Other backends
//! (local models, HTTP servers, the trained SPFN) come later.
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
pub mod prompt;
pub mod proposal;
pub mod refine;

pub use builtin::{BuiltinConfig, BuiltinModel};
pub use decode::{generate, program_rng, DecodeConfig, Generation, Mode, StopReason, TokenCounts};
pub use grammar::{Grammar, GrammarBounds, GrammarError, GrammarOptions, GrammarState};
pub use prompt::{data_block, instruction, text_prompt, DataProfile, VarProfile};
pub use proposal::{ProposalError, ProposalModel, TokenId, UniformModel, Vocabulary};
pub use refine::{
    likelihood_start, refine, Assessment, Attempt, AttemptKind, Candidate, Fitter, NutsFitter,
    RefineConfig, RefineOutcome, RefineStop, Selection,
};

/// The proposal model named by a `--lm` spec; only `builtin` exists in this version.
pub fn proposal_from_spec(
    spec: &str,
    data: &refinestat_language::Data,
) -> Result<Box<dyn ProposalModel>, ProposalError> {
    match spec.split_once(':').map_or(spec, |(kind, _)| kind) {
        "builtin" if spec == "builtin" => Ok(Box::new(BuiltinModel::new(data))),
        "local" | "openai" | "spfn" => Err(ProposalError::NotAvailable(spec.to_string())),
        _ => Err(ProposalError::UnknownSpec(spec.to_string())),
    }
}
