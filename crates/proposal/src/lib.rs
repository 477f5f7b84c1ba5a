//! The boundary every proposal model of refinestat implements: a vocabulary (token id <-> text)
//! and a model that, given the tokens so far, returns next-token log-probabilities over that
//! vocabulary. It sits under the synthesis crate the way toktrie sits under llguidance.
//!
//! Owns: [`TokenId`], [`Vocabulary`], the [`ProposalModel`] trait, [`ProposalError`] and the
//! [`UniformModel`] (equal mass on every token: the adversary of the tests).
//! Does not own: any backend (the built-in grammar lives in the synthesis crate, local
//! transformers in `refinestat-local`, the OpenAI-compatible client in `refinestat-openai`, the
//! trained SPFN later), the grammar mask or the decoder. It depends on no model runtime, tokenizer
//! or grammar engine, so a backend can be added without touching the decoder: the trait is object
//! safe, and a backend is picked at run time (`Box<dyn ProposalModel>`).
//!
//! ```
//! use refinestat_proposal::{ProposalModel, UniformModel, Vocabulary};
//!
//! let vocabulary = Vocabulary::new(vec!["a".into(), "b".into(), "<eos>".into()], 2);
//! assert_eq!(vocabulary.encode("abba"), [0, 1, 1, 0]);
//! let mut model = UniformModel::new(vocabulary);
//! let mut logprobs = vec![0.0; 3];
//! model.next_token_logprobs(&[], &[], &mut logprobs).unwrap();
//! assert!((logprobs[0] - (1.0f64 / 3.0).ln()).abs() < 1e-12);
//! ```

#![warn(missing_docs)]

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Index of a token in a [`Vocabulary`].
pub type TokenId = u32;

/// Token texts by id; one id is end-of-program. Texts concatenate without separators, so a
/// vocabulary carries its own whitespace tokens.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    texts: Vec<String>,
    eos: TokenId,
    ids: HashMap<String, TokenId>,
    /// What consumers derive from this vocabulary once (the grammar mask's token trie), shared by
    /// clones, so that a large vocabulary's trie is built once.
    derived: Derived,
}

/// Values derived from a vocabulary, one per type, each built on first use ([`Vocabulary::derived`]).
#[derive(Clone, Default)]
struct Derived(Arc<Mutex<Vec<Arc<dyn Any + Send + Sync>>>>);

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0.lock().map_or(0, |slots| slots.len());
        write!(f, "Derived({n} values)")
    }
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
            derived: Derived::default(),
        }
    }

    /// The value of type `T` derived from this vocabulary: built by `build` on the first call for
    /// `T` (on this vocabulary or any clone of it), then cloned. The grammar mask keeps its token
    /// trie this way, so a consumer caches per vocabulary without the vocabulary knowing it.
    pub fn derived<T>(&self, build: impl FnOnce(&Vocabulary) -> T) -> T
    where
        T: Clone + Send + Sync + 'static,
    {
        let slot: Arc<OnceLock<T>> = {
            // A poisoned lock only means another thread panicked while pushing; the slots are
            // still whole.
            let mut slots = self.derived.0.lock().unwrap_or_else(|e| e.into_inner());
            let found = slots
                .iter()
                .find_map(|slot| Arc::clone(slot).downcast::<OnceLock<T>>().ok());
            match found {
                Some(slot) => slot,
                None => {
                    let slot = Arc::new(OnceLock::new());
                    slots.push(Arc::clone(&slot) as Arc<dyn Any + Send + Sync>);
                    slot
                }
            }
        };
        slot.get_or_init(|| build(self)).clone()
    }

    /// Number of tokens (end-of-program included).
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// The id of the end-of-program token.
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
    #[error("unknown proposal model spec `{0}` (expected builtin, local:PATH, openai:URL#model=NAME, spfn:PATH or replay:FILE)")]
    UnknownSpec(String),
    /// The backend failed while computing a distribution.
    #[error("proposal model failed: {0}")]
    Backend(String),
    /// The files of a local model are missing, malformed, or do not belong together.
    #[error("{path}: {problem}")]
    ModelFiles {
        /// The file or directory.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--lm` spec that names a backend but is malformed (e.g. `openai:` without a model).
    #[error("invalid proposal model spec `{spec}`: {problem}")]
    InvalidSpec {
        /// The spec as given.
        spec: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A `--lm` spec naming a backend this build leaves out (a cargo feature of the binary).
    #[error(
        "`--lm {spec}` needs the `{feature}` backend, which this build of refinestat leaves out; \
         build it with `cargo build --release --features {feature}`"
    )]
    NotBuilt {
        /// The spec as given.
        spec: String,
        /// The cargo feature of the `refinestat` package that adds the backend.
        feature: String,
    },
}

/// A next-token distribution over a fixed vocabulary.
pub trait ProposalModel {
    /// The tokens this model scores.
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
    /// Equal mass on every token of `vocabulary`.
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
