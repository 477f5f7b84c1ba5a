//! The built-in proposal model: the family library's weighted grammar of program structures
//! ([`refinestat_family::structures`]) read token by token; it needs no trained weights.
//!
//! The grammar writes the part after the data block: `parameters`, `transformed parameters` and
//! `model`, for the response the [`Schema`] names (decided from the data, or `--response`); every
//! derivation models that response. Its choices (likelihood families and links, covariates,
//! varying effects, growth curves, Gaussian processes, measurement error, priors) are weighted by
//! what the data shows, never by a dataset's name; see the family crate.
//!
//! The grammar is finite (no recursion), so it is expanded once into its weighted derivations,
//! each lexed into tokens of a lexeme vocabulary (keywords, names in scope, operators,
//! punctuation, a small set of numeric literals, whitespace). The next-token distribution is
//! exact: the weight of the derivations that continue the tokens so far, grouped by their next
//! token. Whatever the decoder accepted is followed: a token no derivation continues with is taken
//! as a substitution for the likeliest planned token, so the plan carries on after it. A small
//! noise floor gives every token non-zero probability.
//!
//! The grammar is deliberately a little sloppy (a scale declared without `<lower=0>`, a
//! likelihood whose support does not fit the data, an undeclared size name) with probability
//! [`BuiltinConfig::sloppiness`], the kinds of mistake a language model makes; unconstrained
//! decoding keeps them and constrained decoding removes them.

use refinestat_family::{structures, GrammarConfig, Schema, SchemaOptions};
use refinestat_language::Data;
use refinestat_proposal::{ProposalError, ProposalModel, TokenId, Vocabulary};
use std::collections::{BTreeMap, BTreeSet};

/// Settings of the built-in model.
#[derive(Debug, Clone, PartialEq)]
pub struct BuiltinConfig {
    /// Probability mass spread evenly over the whole vocabulary at every step (default 1e-3).
    pub noise: f64,
    /// Weight of each deliberately sloppy alternative (default 0.08).
    pub sloppiness: f64,
    /// Derivations kept at most; the lightest are dropped beyond it (default 50 000).
    pub max_derivations: usize,
    /// Derivations less probable than this are never written (default 1e-6).
    pub min_weight: f64,
}

impl Default for BuiltinConfig {
    fn default() -> BuiltinConfig {
        BuiltinConfig {
            noise: 1e-3,
            sloppiness: 0.08,
            max_derivations: 50_000,
            min_weight: 1e-6,
        }
    }
}

/// The built-in weighted grammar as a [`ProposalModel`].
#[derive(Debug, Clone)]
pub struct BuiltinModel {
    vocabulary: Vocabulary,
    /// Derivations as token ids, sorted; end-of-program is implicit after the last token.
    programs: Vec<Vec<TokenId>>,
    /// Normalised weight of each derivation.
    weights: Vec<f64>,
    noise: f64,
}

// ---------------------------------------------------------------------------------------------
// Lexing program text into vocabulary tokens.

const MULTI_CHAR_OPS: &[&str] = &[
    "+=", "-=", "*=", "/=", "<=", ">=", "==", "!=", ".*", "./", "&&", "||",
];

/// Split program text into lexemes: names, numbers, operators, punctuation, and whitespace runs
/// (a newline with its indentation is one token).
pub fn lex(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        if c == b'\n' {
            i += 1;
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
        } else if c == b' ' || c == b'\t' {
            while i < bytes.len() && (bytes[i] == b' ' || bytes[i] == b'\t') {
                i += 1;
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'-' || bytes[j] == b'+') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
        } else if let Some(op) = MULTI_CHAR_OPS.iter().find(|op| text[i..].starts_with(**op)) {
            i += op.len();
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
        out.push(text[start..i].to_string());
    }
    out
}

/// Lexemes every builtin vocabulary has, beyond the ones its derivations use, so that other
/// continuations are expressible (and an adversarial sampler has real choices).
const BASE_LEXEMES: &[&str] = &[
    "parameters",
    "transformed",
    "model",
    "generated",
    "quantities",
    "data",
    "real",
    "int",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "simplex",
    "ordered",
    "cholesky_factor_corr",
    "lower",
    "upper",
    "offset",
    "multiplier",
    "for",
    "in",
    "if",
    "else",
    "while",
    "target",
    "normal",
    "std_normal",
    "student_t",
    "cauchy",
    "lognormal",
    "exponential",
    "gamma",
    "inv_gamma",
    "beta",
    "uniform",
    "poisson",
    "poisson_log",
    "binomial",
    "binomial_logit",
    "bernoulli_logit",
    "neg_binomial_2_log",
    "multi_normal_cholesky",
    "exp",
    "log",
    "sqrt",
    "square",
    "pow",
    "inv_logit",
    "sum",
    "mean",
    "rep_vector",
    "to_array_1d",
    "cholesky_decompose",
    "gp_exp_quad_cov",
    "add_diag",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    ";",
    ",",
    ":",
    "=",
    "~",
    "+",
    "-",
    "*",
    "/",
    "^",
    "'",
    ".*",
    "./",
    "+=",
    "0",
    "1",
    "2",
    "3",
    "5",
    "10",
    "100",
    "0.5",
    "2.5",
    " ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
];

/// The end-of-program token's text in the vocabulary (never emitted).
pub const EOS_TEXT: &str = "</s>";

impl BuiltinModel {
    /// The built-in model for `data` with default settings.
    pub fn new(data: &Data) -> BuiltinModel {
        BuiltinModel::with_config(data, &BuiltinConfig::default())
    }

    /// The built-in model for `data` with `config`, its response decided from the data alone.
    /// Data with nothing to model (no array) gets a model of one standard-normal parameter;
    /// callers that want the error use [`BuiltinModel::with_schema`].
    pub fn with_config(data: &Data, config: &BuiltinConfig) -> BuiltinModel {
        match Schema::infer(data, &SchemaOptions::default()) {
            Ok(schema) => BuiltinModel::with_schema(data, &schema, config),
            Err(_) => BuiltinModel::from_texts(
                data,
                vec![(
                    1.0,
                    "parameters {\n  real theta;\n}\nmodel {\n  theta ~ std_normal();\n}\n"
                        .to_string(),
                )],
                config,
            ),
        }
    }

    /// The built-in model for `data` whose programs model `schema`'s response: the weighted
    /// program structures of the family library ([`refinestat_family::structures`]).
    pub fn with_schema(data: &Data, schema: &Schema, config: &BuiltinConfig) -> BuiltinModel {
        let grammar = GrammarConfig {
            sloppiness: config.sloppiness,
            max_derivations: config.max_derivations,
            min_weight: config.min_weight,
        };
        let weighted = structures(schema, &grammar)
            .into_iter()
            .map(|s| (s.weight, s.text))
            .collect();
        BuiltinModel::from_texts(data, weighted, config)
    }

    /// A model that writes exactly `program` (the text after the data block) token by token,
    /// with no noise: every other token has probability zero. The `replay:FILE` spec; it shows
    /// what a decoding mode lets through of a given program (a full decoder refuses the first
    /// token that breaks a predicate, then backtracks and closes the program short of it).
    pub fn replay(data: &Data, program: &str) -> BuiltinModel {
        BuiltinModel::from_texts(
            data,
            vec![(1.0, program.to_string())],
            &BuiltinConfig {
                noise: 0.0,
                ..BuiltinConfig::default()
            },
        )
    }

    fn from_texts(
        data: &Data,
        weighted: Vec<(f64, String)>,
        config: &BuiltinConfig,
    ) -> BuiltinModel {
        // Vocabulary: end-of-program, the base lexemes, the data block's and derivations' lexemes.
        let lexed: Vec<(f64, Vec<String>)> =
            weighted.into_iter().map(|(w, t)| (w, lex(&t))).collect();
        let mut texts: BTreeSet<String> = BASE_LEXEMES.iter().map(|s| s.to_string()).collect();
        texts.extend(lex(&crate::prompt::data_block(data)));
        for (_, tokens) in &lexed {
            texts.extend(tokens.iter().cloned());
        }
        let mut vocab_texts = vec![EOS_TEXT.to_string()];
        vocab_texts.extend(texts.into_iter().filter(|t| t != EOS_TEXT));
        let vocabulary = Vocabulary::new(vocab_texts, 0);
        let mut programs: Vec<(Vec<TokenId>, f64)> = lexed
            .into_iter()
            .map(|(w, tokens)| {
                let ids = tokens.iter().filter_map(|t| vocabulary.id(t)).collect();
                (ids, w)
            })
            .collect();
        programs.sort_by(|a, b| a.0.cmp(&b.0));
        let total: f64 = programs.iter().map(|p| p.1).sum();
        let weights = programs
            .iter()
            .map(|p| p.1 / total.max(f64::MIN_POSITIVE))
            .collect();
        BuiltinModel {
            vocabulary,
            programs: programs.into_iter().map(|p| p.0).collect(),
            weights,
            noise: config.noise.clamp(0.0, 1.0),
        }
    }

    /// How many distinct programs the grammar can write.
    pub fn derivations(&self) -> usize {
        self.programs.len()
    }

    /// The programs the grammar can write (generated part only), with their probabilities.
    pub fn programs(&self) -> impl Iterator<Item = (String, f64)> + '_ {
        self.programs
            .iter()
            .zip(&self.weights)
            .map(|(p, &w)| (self.vocabulary.decode(p), w))
    }

    /// Within `range` (programs sharing their first `pos` tokens), the sub-range whose token at
    /// `pos` is `token`; programs that end at `pos` sort first.
    fn narrow(&self, range: (usize, usize), pos: usize, token: TokenId) -> (usize, usize) {
        let slice = &self.programs[range.0..range.1];
        let key = |p: &Vec<TokenId>| p.get(pos).map_or(-1, |&t| i64::from(t));
        let lo = slice.partition_point(|p| key(p) < i64::from(token));
        let hi = slice.partition_point(|p| key(p) <= i64::from(token));
        (range.0 + lo, range.0 + hi)
    }

    /// The heaviest next token of the programs in `range` at `pos` (None when all have ended).
    fn likeliest_next(&self, range: (usize, usize), pos: usize) -> Option<TokenId> {
        let mut by_token: BTreeMap<TokenId, f64> = BTreeMap::new();
        for i in range.0..range.1 {
            if let Some(&t) = self.programs[i].get(pos) {
                *by_token.entry(t).or_insert(0.0) += self.weights[i];
            }
        }
        by_token
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
            .map(|(t, _)| t)
    }
}

impl ProposalModel for BuiltinModel {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        if logprobs.len() != self.vocabulary.len() {
            return Err(ProposalError::Backend(format!(
                "expected {} log-probabilities, got a buffer of {}",
                self.vocabulary.len(),
                logprobs.len()
            )));
        }
        // Follow the accepted tokens through the derivations; an unplanned token substitutes
        // for the likeliest planned one.
        let mut range = (0, self.programs.len());
        for (pos, &token) in generated.iter().enumerate() {
            let next = self.narrow(range, pos, token);
            range = if next.0 < next.1 {
                next
            } else {
                match self.likeliest_next(range, pos) {
                    Some(planned) => self.narrow(range, pos, planned),
                    None => (range.0, range.0),
                }
            };
            if range.0 == range.1 {
                break;
            }
        }
        let pos = generated.len();
        let mut plan = vec![0.0; self.vocabulary.len()];
        let mut plan_total = 0.0;
        for i in range.0..range.1 {
            let t = self.programs[i]
                .get(pos)
                .copied()
                .unwrap_or(self.vocabulary.eos());
            plan[t as usize] += self.weights[i];
            plan_total += self.weights[i];
        }
        let uniform = 1.0 / self.vocabulary.len() as f64;
        // Off every plan (the decoder refused the planned end): end soon rather than wander.
        let (plan_share, noise_share) = if plan_total > 0.0 {
            (1.0 - self.noise, self.noise)
        } else {
            plan[self.vocabulary.eos() as usize] = 1.0;
            plan_total = 1.0;
            (0.5, 0.5)
        };
        for (lp, p) in logprobs.iter_mut().zip(&plan) {
            *lp = (plan_share * p / plan_total + noise_share * uniform).ln();
        }
        Ok(())
    }
}
