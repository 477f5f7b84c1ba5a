//! The proposal-model boundary: a vocabulary (token id <-> text) and a model that, given the
//! tokens so far, returns next-token log-probabilities over that vocabulary.
//!
//! Backends (the built-in grammar here; later local models, an OpenAI-compatible server and the
//! trained SPFN) implement [`ProposalModel`]; the decoder sees nothing else. The trait is object
//! safe so a backend can be picked at run time (`Box<dyn ProposalModel>`).

use std::collections::HashMap;

/// Index of a token in a [`Vocabulary`].
pub type TokenId = u32;

/// Token texts by id; one id is end-of-program. Texts concatenate without separators, so a
/// vocabulary carries its own whitespace tokens.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    texts: Vec<String>,
    eos: TokenId,
    ids: HashMap<String, TokenId>,
    /// The grammar-mask side of this vocabulary (token trie), built on first use and shared by
    /// clones, so that a large vocabulary's trie is built once.
    grammar: crate::grammar::EnvironmentCache,
}

impl Vocabulary {
    /// A vocabulary from token texts (duplicates keep their first id); `eos` is the id of the
    /// end-of-program token, whose text is never emitted.
    pub fn new(texts: Vec<String>, eos: TokenId) -> Vocabulary {
        let mut ids = HashMap::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            ids.entry(t.clone()).or_insert(i as TokenId);
        }
        Vocabulary {
            texts,
            eos,
            ids,
            grammar: crate::grammar::EnvironmentCache::default(),
        }
    }

    /// The cache of this vocabulary's grammar environment (see [`crate::grammar`]).
    pub(crate) fn grammar_cache(&self) -> &crate::grammar::EnvironmentCache {
        &self.grammar
    }

    pub fn len(&self) -> usize {
        self.texts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    pub fn eos(&self) -> TokenId {
        self.eos
    }

    /// The text of a token; empty for end-of-program and for ids out of range.
    pub fn text(&self, id: TokenId) -> &str {
        if id == self.eos {
            return "";
        }
        self.texts
            .get(id as usize)
            .map(String::as_str)
            .unwrap_or("")
    }

    /// The id of a token text, if it is one token.
    pub fn id(&self, text: &str) -> Option<TokenId> {
        self.ids.get(text).copied()
    }

    /// Greedy longest-match tokenization; characters no token starts with are skipped.
    pub fn encode(&self, text: &str) -> Vec<TokenId> {
        let max_len = self.texts.iter().map(String::len).max().unwrap_or(0);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < text.len() {
            let mut matched = None;
            let mut end = (pos + max_len).min(text.len());
            while end > pos {
                if let Some(slice) = text.get(pos..end) {
                    if let Some(&id) = self.ids.get(slice) {
                        if id != self.eos {
                            matched = Some((id, end));
                            break;
                        }
                    }
                }
                end -= 1;
            }
            match matched {
                Some((id, end)) => {
                    out.push(id);
                    pos = end;
                }
                None => {
                    pos += text[pos..].chars().next().map_or(1, char::len_utf8);
                }
            }
        }
        out
    }

    /// The text of a token sequence (end-of-program contributes nothing).
    pub fn decode(&self, ids: &[TokenId]) -> String {
        ids.iter().map(|&id| self.text(id)).collect()
    }
}

/// Why a proposal model could not produce a distribution.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProposalError {
    /// The backend named by a `--lm` spec is not built yet.
    #[error("proposal model `{0}` is not available yet")]
    NotAvailable(String),
    /// A `--lm` spec that names no backend.
    #[error("unknown proposal model spec `{0}` (expected builtin, local:PATH, openai:URL#model=NAME or spfn:PATH)")]
    UnknownSpec(String),
    /// The backend failed while computing a distribution.
    #[error("proposal model failed: {0}")]
    Backend(String),
    /// The files of a local model are missing, malformed, or do not belong together.
    #[error("{path}: {problem}")]
    ModelFiles { path: String, problem: String },
    /// A `--lm` spec that names a backend but is malformed (e.g. `openai:` without a model).
    #[error("invalid proposal model spec `{spec}`: {problem}")]
    InvalidSpec { spec: String, problem: String },
}

/// A next-token distribution over a fixed vocabulary.
pub trait ProposalModel {
    fn vocabulary(&self) -> &Vocabulary;

    /// Tokens of the prompt text (what the model conditions on before generating).
    fn encode_prompt(&self, prompt: &str) -> Vec<TokenId> {
        self.vocabulary().encode(prompt)
    }

    /// Write the log-probability of every vocabulary token following `prompt` + `generated` into
    /// `logprobs` (length = vocabulary size; `-inf` for impossible tokens). `generated` holds the
    /// tokens the decoder accepted, which need not be ones this model would have favoured.
    fn next_token_logprobs(
        &mut self,
        prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError>;
}

/// A model that puts equal mass on every token: the adversarial proposal of the tests and a
/// floor for comparisons.
#[derive(Debug, Clone)]
pub struct UniformModel {
    vocabulary: Vocabulary,
}

impl UniformModel {
    pub fn new(vocabulary: Vocabulary) -> UniformModel {
        UniformModel { vocabulary }
    }
}

impl ProposalModel for UniformModel {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        _generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        let lp = -(logprobs.len().max(1) as f64).ln();
        logprobs.fill(lp);
        Ok(())
    }
}
