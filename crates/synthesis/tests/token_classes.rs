//! Token classes: the grammar mask walks one token per class of tokens the grammar cannot tell
//! apart and copies its bit to the others. These tests check that this changes no mask and no
//! followed state: at every position of the built-in model's programs and of programs a uniform
//! proposal writes through a vocabulary of lexemes and random pieces, the masks of the reduced and
//! the unreduced trie are equal, and tokens followed by their bytes leave the same state.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::grammar::{special_segments, token_class_key, token_environment};
use refinestat_synthesis::{
    data_block, generate, BuiltinModel, DecodeConfig, Grammar, GrammarOptions, Mode, ProposalError,
    ProposalModel, TokenId, UniformModel, Vocabulary,
};
use std::collections::HashSet;

fn key(text: &str) -> Vec<u8> {
    token_class_key(text.as_bytes(), special_segments())
}

#[test]
fn letters_no_grammar_word_can_hold_are_one_class_per_length() {
    // Runs of letters no grammar word holds, at the same places and of the same lengths.
    assert_eq!(key("qzx)"), key("wvk)"));
    assert_eq!(key(" qzxv"), key(" bwzq"));
    assert_eq!(key("qzx,wvq"), key("zqw,vkj"));
    // A different length, or other bytes around the letters, is another class.
    assert_ne!(key("qzx)"), key("qzxw)"));
    assert_ne!(key("qzx)"), key("qzx]"));
    assert_ne!(key(" qzxv"), key("qzxv"));
    // Letters that can end, begin, be or sit inside a grammar word keep their spelling:
    // `mal(` may close `normal(`, `norm` open `normal`, `lpdf` follow `normal_`, `for` is a
    // keyword, `e` an exponent (`1e5`).
    assert_ne!(key("mal("), key("qzx("));
    assert_ne!(key(")norm"), key(")qzxv"));
    assert_ne!(key("_lpdf("), key("_qzxv("));
    assert_ne!(key("(for)"), key("(qzx)"));
    assert_ne!(key("e5"), key("q5"));
    assert_ne!(key("orma"), key("qzxv"));
}

/// A vocabulary of the built-in tokens, single characters, grammar words cut at every place,
/// and random pieces (letters, digits, punctuation, leading spaces), deterministic.
fn mixed_vocabulary(pieces: usize) -> Vocabulary {
    let mut seen = HashSet::new();
    let mut texts = vec!["</s>".to_string()];
    let mut add = |t: String, texts: &mut Vec<String>| {
        if !t.is_empty() && seen.insert(t.clone()) {
            texts.push(t);
        }
    };
    for name in DATASET_NAMES {
        let v = BuiltinModel::new(&dataset(name).unwrap())
            .vocabulary()
            .clone();
        for id in 0..v.len() as TokenId {
            if id != v.eos() {
                add(v.text(id).to_string(), &mut texts);
            }
        }
    }
    for b in 0x20u8..0x7f {
        add((b as char).to_string(), &mut texts);
    }
    for word in [
        "normal",
        "multi_normal_cholesky",
        "lower",
        "for",
        "target",
        "1e-3",
    ] {
        for i in 0..word.len() {
            add(word[i..].to_string(), &mut texts);
            add(word[..=i].to_string(), &mut texts);
            add(format!("{}(", &word[..=i]), &mut texts);
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const OTHER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.,;:()[]{}<>=+-*/'!?~| ";
    let target = texts.len() + pieces;
    while texts.len() < target {
        let len = rng.random_range(1..=7);
        let mut piece = String::new();
        if rng.random::<f64>() < 0.25 {
            piece.push(' ');
        }
        for _ in 0..len {
            let set = if rng.random::<f64>() < 0.8 {
                LOWER
            } else {
                OTHER
            };
            piece.push(set[rng.random_range(0..set.len())] as char);
        }
        add(piece, &mut texts);
    }
    Vocabulary::new(texts, 0)
}

/// A proposal that remembers the tokens of its latest request.
struct Recorder<M: ProposalModel> {
    inner: M,
    last: Vec<TokenId>,
}

impl<M: ProposalModel> ProposalModel for Recorder<M> {
    fn vocabulary(&self) -> &Vocabulary {
        self.inner.vocabulary()
    }

    fn next_token_logprobs(
        &mut self,
        prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        self.last = generated.to_vec();
        self.inner.next_token_logprobs(prompt, generated, logprobs)
    }
}

fn allowed(state: &mut refinestat_synthesis::GrammarState, n: usize) -> Vec<usize> {
    let mut w = vec![1.0; n];
    state.mask_weights(&mut w).unwrap();
    (0..n).filter(|&i| w[i] > 0.0).collect()
}

/// Replays `tokens` after `prompt` through both grammars, comparing the masks at every position
/// (and once more after rolling the last few tokens back); returns the positions compared.
fn compare(vocabulary: &Vocabulary, prompt: &str, tokens: &[TokenId]) -> usize {
    let options = GrammarOptions::default();
    let reduced = Grammar::new(vocabulary, &options).unwrap();
    let unreduced = Grammar::unreduced(vocabulary, &options).unwrap();
    let mut a = reduced.start(prompt).unwrap();
    let mut b = unreduced.start(prompt).unwrap();
    let n = vocabulary.len();
    let mut text = prompt.to_string();
    let mut compared = 0;
    for &t in tokens {
        let (ma, mb) = (allowed(&mut a, n), allowed(&mut b, n));
        assert_eq!(ma, mb, "masks differ after {text:?}");
        compared += 1;
        if t == vocabulary.eos() {
            break;
        }
        text.push_str(vocabulary.text(t));
        assert!(a.consume(t).unwrap() && b.consume(t).unwrap(), "{text:?}");
        assert_eq!(a.is_accepting(), b.is_accepting());
    }
    let back = 3.min(a.generated());
    a.rollback(back).unwrap();
    b.rollback(back).unwrap();
    assert_eq!(allowed(&mut a, n), allowed(&mut b, n), "after rolling back");
    compared + 1
}

#[test]
fn reduced_and_unreduced_tries_give_the_same_masks() {
    let vocabulary = mixed_vocabulary(2500);
    let env = token_environment(&vocabulary).unwrap();
    assert!(
        env.trie_tokens() * 4 < vocabulary.len() * 3,
        "{} classes for {} tokens",
        env.trie_tokens(),
        vocabulary.len()
    );
    let mut compared = 0;
    for (i, name) in DATASET_NAMES.iter().enumerate() {
        let data = dataset(name).unwrap();
        let prompt = data_block(&data);
        let config = DecodeConfig {
            mode: Mode::Syntax,
            ..DecodeConfig::default()
        };
        // The built-in model's program, in its own tokens (all in the mixed vocabulary).
        let mut builtin = Recorder {
            inner: BuiltinModel::new(&data),
            last: Vec::new(),
        };
        let mut rng = refinestat_synthesis::program_rng(7, i as u64);
        let out = generate(&mut builtin, &prompt, &data, &config, &mut rng);
        assert!(out.program.starts_with(&prompt));
        let inner = builtin.inner.vocabulary().clone();
        let tokens: Vec<TokenId> = builtin
            .last
            .iter()
            .map(|&t| {
                if t == inner.eos() {
                    vocabulary.eos()
                } else {
                    vocabulary.id(inner.text(t)).unwrap()
                }
            })
            .collect();
        compared += compare(&vocabulary, &prompt, &tokens);
        // A uniform proposal over the mixed vocabulary, under the (reduced) masks: names,
        // numbers and operators cut at odd places.
        let mut uniform = Recorder {
            inner: UniformModel::new(vocabulary.clone()),
            last: Vec::new(),
        };
        let config = DecodeConfig {
            max_sampled_tokens: 60,
            ..config
        };
        generate(&mut uniform, &prompt, &data, &config, &mut rng);
        compared += compare(&vocabulary, &prompt, &uniform.last);
    }
    assert!(compared > 200, "{compared} positions");
}

#[test]
fn digits_are_classed_like_letters() {
    // Digits of numbers and names: any run of the same length does the same, unless a library
    // name holds it (`log10`, `atan2`) or it stands next to an exponent letter.
    assert_eq!(key("(37)"), key("(58)"));
    assert_ne!(key("(37)"), key("(378)"));
    assert_ne!(key("(37)"), key("(ab)"));
    assert_ne!(key("1e5"), key("1q5"));
    assert_ne!(key("10("), key("57("));
}

#[test]
fn a_long_data_name_is_followed_letter_for_letter() {
    // `qzxw` and `wvkq` are one class, but only one of them continues the long data name (a
    // literal of the prompt's grammar, beyond the name-length bound).
    assert_eq!(key("qzxw"), key("wvkq"));
    let texts: Vec<String> = [
        "</s>",
        "measurement",
        "_of_",
        "qzxw",
        "wvkq",
        "_total",
        " ",
        "~",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let vocabulary = Vocabulary::new(texts, 0);
    let grammar = Grammar::new(&vocabulary, &GrammarOptions::default()).unwrap();
    let prompt = "data {\n  real measurement_of_qzxw_total;\n}\nmodel {\n  ";
    let mut state = grammar.start(prompt).unwrap();
    for t in ["measurement", "_of_"] {
        assert!(state.consume(vocabulary.id(t).unwrap()).unwrap(), "{t}");
    }
    let ok = allowed(&mut state, vocabulary.len());
    assert!(ok.contains(&3) && !ok.contains(&4), "{ok:?}");
    assert!(!state.consume(4).unwrap());
    assert!(state.consume(3).unwrap());
    assert!(state.consume(vocabulary.id("_total").unwrap()).unwrap());
}
