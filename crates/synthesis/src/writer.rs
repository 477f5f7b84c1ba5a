//! What the generation commands and the refinement loop write programs with: a
//! [`ProgramWriter`] turns a prompt (the data block, or a kept D || P) into a finished
//! [`Generation`]. Token-level models ([`ProposalModel`]) write through the constrained decoder
//! ([`generate`]); a remote model (an OpenAI-compatible server, `refinestat-openai`) writes
//! statement by statement ([`crate::statements`]). [`Proposer`] is either, as picked by a `--lm`
//! spec ([`crate::proposal_from_spec`] and the backends the binary was built with).

use crate::decode::{generate, DecodeConfig, Generation};
use crate::statements::{write_program, CompletionBackend};
use rand::RngCore;
use refinestat_language::Data;
use refinestat_proposal::{ProposalError, ProposalModel, TokenId, Vocabulary};

/// Writes the rest of a program after a prompt, under a decoding mode and budgets.
pub trait ProgramWriter {
    /// The program after `prompt` (a data block, valid on its own). Draws only from `rng`.
    fn write(
        &mut self,
        prompt: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation;

    /// The program after `kept`, which starts with the data block `prompt` and keeps more of an
    /// earlier program (its D || P, for likelihood resampling). `generated` is the part after
    /// `kept`. By default the same as writing after `kept`.
    fn write_after(
        &mut self,
        prompt: &str,
        kept: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        let _ = prompt;
        self.write(kept, data, config, rng)
    }
}

/// A token-level proposal model continuing a forced prefix: the decoder sees the prompt D || P,
/// the inner model sees prompt D and the tokens of P as already generated, then what the decoder
/// accepts.
struct Continuation<'a> {
    inner: &'a mut dyn ProposalModel,
    base_prompt: Vec<TokenId>,
    forced: Vec<TokenId>,
    scratch: Vec<TokenId>,
}

impl ProposalModel for Continuation<'_> {
    fn vocabulary(&self) -> &Vocabulary {
        self.inner.vocabulary()
    }

    fn encode_prompt(&self, _prompt: &str) -> Vec<TokenId> {
        let mut ids = self.base_prompt.clone();
        ids.extend_from_slice(&self.forced);
        ids
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.forced);
        self.scratch.extend_from_slice(generated);
        self.inner
            .next_token_logprobs(&self.base_prompt, &self.scratch, logprobs)
    }
}

/// [`ProgramWriter::write_after`] for a token-level model: the kept text past the data block is
/// forced as generated tokens.
fn write_tokens_after(
    model: &mut dyn ProposalModel,
    prompt: &str,
    kept: &str,
    data: &Data,
    config: &DecodeConfig,
    rng: &mut dyn RngCore,
) -> Generation {
    let base_prompt = model.encode_prompt(prompt);
    let forced = model
        .vocabulary()
        .encode(kept.get(prompt.len()..).unwrap_or(""));
    let mut cont = Continuation {
        inner: model,
        base_prompt,
        forced,
        scratch: Vec::new(),
    };
    generate(&mut cont, kept, data, config, rng)
}

impl<M: ProposalModel> ProgramWriter for M {
    fn write(
        &mut self,
        prompt: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        generate(self, prompt, data, config, rng)
    }

    fn write_after(
        &mut self,
        prompt: &str,
        kept: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        write_tokens_after(self, prompt, kept, data, config, rng)
    }
}

/// The program writer a `--lm` spec names.
pub enum Proposer {
    /// A token-level model behind the constrained decoder (`builtin`, `local:PATH`).
    Tokens(Box<dyn ProposalModel>),
    /// A remote model, statement by statement (`openai:URL#model=NAME`).
    Remote(Box<dyn CompletionBackend>),
}

impl std::fmt::Debug for Proposer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Proposer::Tokens(model) => f
                .debug_struct("Tokens")
                .field("vocabulary", &model.vocabulary().len())
                .finish(),
            Proposer::Remote(model) => f.debug_tuple("Remote").field(model).finish(),
        }
    }
}

impl ProgramWriter for Proposer {
    fn write(
        &mut self,
        prompt: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        match self {
            Proposer::Tokens(model) => generate(model.as_mut(), prompt, data, config, rng),
            Proposer::Remote(model) => write_program(model.as_mut(), prompt, data, config, rng),
        }
    }

    fn write_after(
        &mut self,
        prompt: &str,
        kept: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        match self {
            Proposer::Tokens(model) => {
                write_tokens_after(model.as_mut(), prompt, kept, data, config, rng)
            }
            // A remote model sees the kept text as its prompt.
            Proposer::Remote(model) => write_program(model.as_mut(), kept, data, config, rng),
        }
    }
}
