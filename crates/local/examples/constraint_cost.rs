//! What constrained decoding costs per token at the vocabulary sizes of real language models:
//! the grammar mask (llguidance over the whole vocabulary), following the sampled token in the
//! grammar, and the semantic check of the sampled token (`check_prefix` on the text so far),
//! averaged over the tokens of real programs. Usage:
//! `cargo run --release -p refinestat-local --example constraint_cost [PROGRAMS_PER_DATASET]
//! [--no-forward] [--unreduced]`; `--unreduced` masks over a trie of every token instead of one
//! per token class (the masks are the same; see `refinestat_synthesis::grammar`).
//!
//! The vocabularies are synthetic, deterministic from a seed: end-of-program, every lexeme of the
//! language (keywords, operators, punctuation, whitespace runs, the library's function and
//! distribution names), the built-in model's vocabularies of the five datasets, the printable
//! ASCII characters, and then random pieces until the size is reached: lengths 1 to 12 with
//! weights falling like a BPE vocabulary's (most 3 to 6 bytes), mostly lowercase letters with some
//! capitals, digits, `_` and punctuation, and a quarter of them with a leading space.
//!
//! The programs are the built-in model's, written through the large vocabulary (the built-in
//! distribution placed on the built-in tokens, which the large vocabulary contains), so the
//! masks are computed at the positions real programs pass through.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_language::check_prefix;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::grammar::token_environment;
use refinestat_synthesis::{
    data_block, generate, BuiltinModel, DecodeConfig, Grammar, GrammarOptions, Mode, ProposalError,
    ProposalModel, StopReason, TokenId, Vocabulary,
};
use refinestat_testkit::tiny::{measure_forward_cost, qwen2_0_5b_config, random_qwen2};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

/// Lexemes of the language beyond names: keywords, operators, punctuation, whitespace.
const LEXEMES: &[&str] = &[
    "data",
    "transformed",
    "parameters",
    "model",
    "generated",
    "quantities",
    "int",
    "real",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "simplex",
    "ordered",
    "positive_ordered",
    "cholesky_factor_corr",
    "cov_matrix",
    "lower",
    "upper",
    "offset",
    "multiplier",
    "for",
    "in",
    "while",
    "if",
    "else",
    "print",
    "reject",
    "break",
    "continue",
    "target",
    "T",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "<",
    ">",
    "<=",
    ">=",
    "==",
    "!=",
    "!",
    "&&",
    "||",
    "+",
    "-",
    "*",
    "/",
    "%",
    "%/%",
    "^",
    ".*",
    "./",
    ".^",
    "\\",
    "'",
    "?",
    ":",
    ";",
    ",",
    "|",
    "~",
    "=",
    "+=",
    "-=",
    "*=",
    "/=",
    ".*=",
    "./=",
    " ",
    "  ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    " {",
    " }",
    " =",
    " ~",
    " +",
    " *",
    ");",
    "];",
];

/// A vocabulary of `size` tokens as described in the module documentation.
fn synthetic_vocabulary(size: usize, seed: u64) -> Vocabulary {
    let mut seen: HashSet<String> = HashSet::new();
    let mut texts = vec!["</s>".to_string()];
    let mut add = |t: String, texts: &mut Vec<String>| {
        if !t.is_empty() && seen.insert(t.clone()) {
            texts.push(t);
        }
    };
    for l in LEXEMES {
        add(l.to_string(), &mut texts);
    }
    for name in refinestat_language::check::catalog::callable_names() {
        add(name, &mut texts);
    }
    for d in refinestat_language::check::catalog::distributions() {
        add(d.name.to_string(), &mut texts);
    }
    for name in DATASET_NAMES {
        let data = dataset(name).expect("shipped dataset");
        let v = BuiltinModel::new(&data).vocabulary().clone();
        for id in 0..v.len() as TokenId {
            if id != v.eos() {
                add(v.text(id).to_string(), &mut texts);
            }
        }
    }
    for b in 0x20u8..0x7f {
        add((b as char).to_string(), &mut texts);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Piece lengths 1..=12, weighted like a BPE vocabulary's.
    let length_weights = [
        2.0, 6.0, 10.0, 12.0, 12.0, 10.0, 8.0, 6.0, 4.0, 3.0, 2.0, 1.0,
    ];
    let total: f64 = length_weights.iter().sum();
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const OTHER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,;:()[]{}<>=+-*/'\"!?";
    while texts.len() < size {
        let mut target = rng.random::<f64>() * total;
        let mut len = 1;
        for (i, w) in length_weights.iter().enumerate() {
            if target < *w {
                len = i + 1;
                break;
            }
            target -= w;
        }
        let mut piece = String::new();
        if rng.random::<f64>() < 0.25 {
            piece.push(' ');
        }
        for _ in 0..len {
            let c = if rng.random::<f64>() < 0.85 {
                LOWER[rng.random_range(0..LOWER.len())]
            } else {
                OTHER[rng.random_range(0..OTHER.len())]
            };
            piece.push(c as char);
        }
        add(piece, &mut texts);
    }
    texts.truncate(size);
    Vocabulary::new(texts, 0)
}

/// The built-in model speaking through a larger vocabulary that contains all its tokens.
struct Embedded {
    inner: BuiltinModel,
    vocabulary: Vocabulary,
    /// Outer id of each inner token.
    to_outer: Vec<TokenId>,
    to_inner: HashMap<TokenId, TokenId>,
    inner_generated: Vec<TokenId>,
    inner_logprobs: Vec<f64>,
    /// The outer tokens of the latest request (the whole program when it ended).
    last_generated: Vec<TokenId>,
}

impl Embedded {
    fn new(inner: BuiltinModel, vocabulary: &Vocabulary) -> Embedded {
        let iv = inner.vocabulary();
        let to_outer: Vec<TokenId> = (0..iv.len() as TokenId)
            .map(|id| {
                if id == iv.eos() {
                    vocabulary.eos()
                } else {
                    vocabulary
                        .id(iv.text(id))
                        .expect("built-in token in vocabulary")
                }
            })
            .collect();
        let to_inner = to_outer
            .iter()
            .enumerate()
            .map(|(i, &o)| (o, i as TokenId))
            .collect();
        let n = iv.len();
        Embedded {
            inner,
            vocabulary: vocabulary.clone(),
            to_outer,
            to_inner,
            inner_generated: Vec::new(),
            inner_logprobs: vec![0.0; n],
            last_generated: Vec::new(),
        }
    }
}

impl ProposalModel for Embedded {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        self.last_generated = generated.to_vec();
        self.inner_generated.clear();
        for t in generated {
            let inner = self.to_inner.get(t).ok_or_else(|| {
                ProposalError::Backend(format!("token {t} is not a built-in token"))
            })?;
            self.inner_generated.push(*inner);
        }
        self.inner
            .next_token_logprobs(&[], &self.inner_generated, &mut self.inner_logprobs)?;
        logprobs.fill(f64::NEG_INFINITY);
        for (i, &lp) in self.inner_logprobs.iter().enumerate() {
            logprobs[self.to_outer[i] as usize] = lp;
        }
        Ok(())
    }
}

/// Per-token costs measured over real programs.
#[derive(Default)]
struct Costs {
    tokens: usize,
    mask: Duration,
    follow: Duration,
    check: Duration,
}

fn micros_per_token(d: Duration, tokens: usize) -> f64 {
    d.as_secs_f64() * 1e6 / tokens.max(1) as f64
}

/// Per-token forward time of a randomly initialised Qwen2-0.5B-shaped network (candle, f32 on
/// the CPU) whose output layer has this vocabulary's size: 300 tokens of context in one pass,
/// then 16 tokens one at a time with the KV cache, as the decoder calls it. `--no-forward`
/// skips it (it needs ~2.5 GB and a minute).
fn forward_time_per_token(vocabulary: &Vocabulary) -> Option<Duration> {
    if std::env::args().any(|a| a == "--no-forward") {
        return None;
    }
    let mut config = qwen2_0_5b_config();
    config.vocab_size = vocabulary.len();
    let mut model = match random_qwen2(&config, 7) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("forward model: {e}");
            return None;
        }
    };
    match measure_forward_cost(&mut model, 300, 16, 7) {
        Ok(cost) => Some(Duration::from_secs_f64(cost.per_token_ms / 1e3)),
        Err(e) => {
            eprintln!("forward model: {e}");
            None
        }
    }
}

fn main() {
    let per_dataset: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let seed = 20_261_121;
    let unreduced = std::env::args().any(|a| a == "--unreduced");
    println!(
        "constraint cost per token (refinestat mode, built-in programs, {per_dataset} per dataset, \
         {} trie)",
        if unreduced { "unreduced" } else { "class" }
    );
    println!(
        "{:>8} {:>11} {:>10} {:>11} {:>9} {:>9} {:>9} {:>9} {:>10} {:>10} {:>9}",
        "vocab",
        "trie tokens",
        "trie ms",
        "compile ms",
        "mask us",
        "follow us",
        "check us",
        "total us",
        "forward us",
        "constraint/forward",
        "tokens"
    );
    for size in [32_000usize, 150_000] {
        let vocabulary = synthetic_vocabulary(size, seed);
        let started = Instant::now();
        let mut env = token_environment(&vocabulary).expect("vocabulary trie");
        if unreduced {
            env = env.unreduced().expect("vocabulary trie");
        }
        let trie_time = started.elapsed();
        debug_assert!(env.build_time() <= trie_time);
        let started = Instant::now();
        let grammar = if unreduced {
            Grammar::unreduced(&vocabulary, &GrammarOptions::default()).expect("grammar")
        } else {
            Grammar::new(&vocabulary, &GrammarOptions::default()).expect("grammar")
        };
        let compile_time = started.elapsed();
        let trie_tokens = grammar.environment().trie_tokens();
        let mut costs = Costs::default();
        let mut weights = vec![1.0; vocabulary.len()];
        for name in DATASET_NAMES {
            let data = dataset(name).expect("shipped dataset");
            let prompt = data_block(&data);
            let mut model = Embedded::new(BuiltinModel::new(&data), &vocabulary);
            for index in 0..per_dataset {
                let mut rng = refinestat_synthesis::program_rng(seed, index);
                let config = DecodeConfig {
                    mode: Mode::Refinestat,
                    ..DecodeConfig::default()
                };
                let out = generate(&mut model, &prompt, &data, &config, &mut rng);
                if out.stop != StopReason::Completed {
                    eprintln!("{name} #{index}: {}", out.stop.as_str());
                    continue;
                }
                let tokens = model.last_generated.clone();
                // Replay the program: mask, follow and check each token as the decoder does.
                let mut state = grammar.start(&prompt).expect("prompt in grammar");
                let mut text = prompt.clone();
                for &t in &tokens {
                    weights.fill(1.0);
                    let at = Instant::now();
                    state.mask_weights(&mut weights).expect("mask");
                    costs.mask += at.elapsed();
                    assert!(
                        weights[t as usize] > 0.0,
                        "{name}: mask refuses a program token"
                    );
                    let at = Instant::now();
                    state.consume(t).expect("follow");
                    costs.follow += at.elapsed();
                    text.push_str(vocabulary.text(t));
                    let at = Instant::now();
                    let violations = check_prefix(&text, Some(&data));
                    costs.check += at.elapsed();
                    assert!(violations.is_empty());
                    costs.tokens += 1;
                }
            }
        }
        let mask = micros_per_token(costs.mask, costs.tokens);
        let follow = micros_per_token(costs.follow, costs.tokens);
        let check = micros_per_token(costs.check, costs.tokens);
        let forward_time = forward_time_per_token(&vocabulary);
        let forward = forward_time.map_or("n/a".to_string(), |d| {
            format!("{:.0}", d.as_secs_f64() * 1e6)
        });
        let share = forward_time.map_or("n/a".to_string(), |d| {
            format!(
                "{:.1}%",
                100.0 * (mask + follow + check) / (d.as_secs_f64() * 1e6)
            )
        });
        println!(
            "{:>8} {:>11} {:>10.1} {:>11.1} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>10} {:>9}",
            vocabulary.len(),
            trie_tokens,
            trie_time.as_secs_f64() * 1e3,
            compile_time.as_secs_f64() * 1e3,
            mask,
            follow,
            check,
            mask + follow + check,
            forward,
            share,
            costs.tokens
        );
    }
    // The distinct token lengths, as a sanity check of the synthetic vocabularies.
    let v = synthetic_vocabulary(32_000, seed);
    let lengths: BTreeSet<usize> = (0..v.len() as TokenId).map(|i| v.text(i).len()).collect();
    println!("token lengths in the 32k vocabulary: {lengths:?}");
}
