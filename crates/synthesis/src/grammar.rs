//! The grammar of whole programs, compiled with llguidance into token masks over a
//! [`Vocabulary`]: before the decoder samples a token it removes every token that cannot continue
//! the program text within the grammar.
//!
//! The grammar ([`lark_grammar`], most of it in `grammar/stan.lark`) covers the Stan subset of the
//! language crate: the six blocks, declarations with sizes, `<lower=, upper=>` and
//! `<offset=, multiplier=>` bounds, assignments (compound too), `~` with truncation `T[,]`,
//! `target +=`, `for`/`while`/`if`/`else`, local blocks, `print`/`reject`, `break`/`continue`,
//! expressions with every operator at its precedence, the ternary, calls (also the conditional
//! `f(y | theta)` form of `_lpdf`-like names), indexing with single, multi and range indexes,
//! array and row-vector literals, int and real literals with exponents, whitespace and comments.
//! The language crate stays the authority: the decoder still checks every sampled token with
//! `parse_prefix`/`check_prefix`; the grammar is the cheap first filter.
//!
//! # Bounds: termination for any proposal model
//!
//! After the data block the grammar describes a *finite* language, so that even a uniform
//! distribution over tokens, or a transformer with random weights, cannot wander forever: every
//! repetition has an upper bound ([`GrammarBounds`]), there is no `%ignore` (every terminal
//! carries its own bounded leading gap of whitespace and comments), and identifiers, literals,
//! strings and comments have bounded lengths. The data block, which is the prompt, may have any
//! number of declarations. The defaults, against the largest value the built-in model can write
//! (all derivations of its weighted grammar on the five shipped datasets and four other data
//! shapes, default and sloppy settings; `cargo run --release -p refinestat-synthesis --example
//! grammar_bounds`), and the largest in the example and test programs of the repository:
//!
//! | bound | default | built-in max | example/test files max |
//! |---|---|---|---|
//! | statements per block | 12 | 7 | 12 |
//! | statements per nested `{}` body | 6 | 1 | 3 |
//! | statement nesting (a `for` body is level 1) | 3 | 1 | 3 |
//! | expression nesting (parentheses, calls, indexes, literals) | 5 | 3 | 3 |
//! | operands of one depth's operator chain (all precedences), depth 0 to 2 | 11 | 7 | 6 |
//! | the same from depth 3 on | 3 | 2 | 2 |
//! | postfix indexes/transposes on one operand | 3 | 1 | 2 |
//! | arguments of a call (also array dims, literal items) | 6 | 3 | 4 |
//! | indexes in one `[...]` | 3 | 1 | 2 |
//! | variable name characters | 16 | 9 | 12 |
//! | digits of each part of a numeric literal | 6 | 3 | 4 |
//! | whitespace run characters | 40 | 5 | 30 |
//!
//! Each default is at least 1.5 times the built-in maximum and covers every file measured. Called
//! names are not free identifiers but the library's names ([`catalog::callable_names`], and the
//! distributions after `~`): the language crate refuses any other, and a proposal cannot spell a
//! 30-letter name into a dead end. The left side of `~` is one operand (`y`, `y[n]`, or a
//! parenthesized expression), as in every program measured. Comments are off when decoding
//! ([`GrammarOptions::comments`]): the built-in model writes none and a comment is free text a
//! proposal can wander in; with them on (for files) a gap holds at most 4 comments of at most
//! 120 characters. A data name longer than the variable bound is added to the grammar as a
//! literal for that prompt.
//!
//! Bounded is not small: a uniform proposal still writes long programs (every block filled to
//! its statement bound), so it finishes within the decoder's token budgets only some of the time
//! (measured over the built-in lexeme vocabulary, 10 seeds on each of four datasets: 11 of 40 in
//! `syntax` mode, 3 of 40 in `refinestat` mode, whose checks refuse most random statements).
//! A stranded token (one that began a lexeme no token of the vocabulary can finish) is undone by
//! the decoder one token at a time.
//!
//! # Cost
//!
//! `cargo run --release -p refinestat-local --example constraint_cost` measures it per token of
//! built-in programs written through synthetic vocabularies (figures in BENCHMARKS.md). Most of a
//! mask is llguidance's Earley parser, stepped once for every token-prefix that ends a lexeme
//! inside a token (`ab)`, `x+y`): where a name may start, tens of thousands of a large
//! vocabulary's tokens do, and llguidance reuses a step only when its previous step at that depth
//! scanned the same lexeme. Walking the token trie is most of the rest. Both shrink with the
//! token classes below, which cut a 150k-token synthetic vocabulary to about 26k trie tokens and
//! its mask time to about half. The grammar needs more Earley items per mask than llguidance's
//! default limit, so the limits are raised.
//!
//! # Token classes
//!
//! Most tokens of a large vocabulary differ from others only in letters or digits the grammar
//! cannot tell apart: `qzx)` and `wvk)` close a name of three characters, whatever the name.
//! [`token_class_key`] maps such tokens to one class; the trie holds one token per class, and
//! [`GrammarState::mask_weights`] gives every member its representative's bit. A token followed
//! in the grammar is followed by its own bytes, so the state is exactly that of its text. A
//! prompt whose data block adds long names to the grammar (literals the classes do not know) is
//! followed over a trie of every token ([`TokenEnvironment::unreduced`], built on first use);
//! [`Grammar::unreduced`] gives the same grammar over it for tests and benchmarks, which check
//! that both give the same masks.
//!
//! # Vocabulary and prompt
//!
//! The token trie is built once per [`Vocabulary`] (cached inside it and shared by its clones):
//! token texts as bytes, end-of-program as the EOS token. Tokens with empty text never get
//! through a mask (they would make no progress); tokens with the same text as another are one
//! class. The trie also holds hidden single-byte tokens for bytes the vocabulary
//! has no single-byte token for, so that any prompt (a data block, or a data block plus a kept
//! prior part) is consumed byte for byte, independent of how the vocabulary would split it.

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{
    ApproximateTokEnv, InferenceCapabilities, SimpleVob, TokEnv, TokRxInfo, TokTrie,
};
use llguidance::{Matcher, ParserFactory};
use refinestat_language::check::catalog;
use refinestat_proposal::{TokenId, Vocabulary};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The grammar text with placeholders; see [`lark_grammar`].
const STAN_LARK: &str = include_str!("grammar/stan.lark");

/// Upper bounds on what can follow the data block. See the module documentation for how the
/// defaults were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrammarBounds {
    /// Statements (declarations included) directly in a block after `data` (default 12).
    pub statements_per_block: usize,
    /// Statements in a nested `{ ... }` body (default 6).
    pub statements_per_nested_block: usize,
    /// How deep `for`/`while`/`if`/`{}` may nest; statements directly in a block are level 0
    /// (default 3).
    pub statement_nesting: usize,
    /// How deep parentheses, call arguments, indexes and literals may nest (default 5).
    pub expression_depth: usize,
    /// Operands of one chain of binary operators at one depth, whatever their precedence:
    /// `a + b * c` has 3 (default 11).
    pub chain_operands: usize,
    /// The same from depth 3 on (default 3): deep sub-expressions are short, and a uniform
    /// proposal's expression trees stop growing there.
    pub deep_chain_operands: usize,
    /// Index lists and transposes after one primary expression, `y[1][2]'` has 3 (default 3).
    pub postfix_operators: usize,
    /// Arguments of a call, items of a literal, dimensions of an array type (default 6).
    pub arguments: usize,
    /// Indexes in one `[...]` (default 3).
    pub indexes: usize,
    /// Characters of a variable name (default 16); called names come from the library.
    pub identifier_chars: usize,
    /// Digits of each part of a numeric literal (integer, fraction); exponents have at most 3
    /// (default 6).
    pub literal_digits: usize,
    /// Characters of a whitespace run between two lexemes (default 40).
    pub whitespace_chars: usize,
    /// Comments between two lexemes (default 4).
    pub comments_per_gap: usize,
    /// Characters of a comment or a string literal (default 120).
    pub comment_chars: usize,
    /// The left side of `~` may be any operand, e.g. `(y - mu) / sigma` in parentheses
    /// (default true); false allows only a variable, indexed or not, as almost every program
    /// writes it, so an untrained proposal does not start a model statement with a call it
    /// cannot finish.
    pub tilde_any_operand: bool,
}

impl Default for GrammarBounds {
    fn default() -> GrammarBounds {
        GrammarBounds {
            statements_per_block: 12,
            statements_per_nested_block: 6,
            statement_nesting: 3,
            expression_depth: 5,
            chain_operands: 11,
            deep_chain_operands: 3,
            postfix_operators: 3,
            arguments: 6,
            indexes: 3,
            identifier_chars: 16,
            literal_digits: 6,
            whitespace_chars: 40,
            comments_per_gap: 4,
            comment_chars: 120,
            tilde_any_operand: true,
        }
    }
}

impl GrammarBounds {
    /// Tight bounds for proposals that know no Stan (random weights, a uniform distribution):
    /// such a proposal fills every block to its bound, so small bounds are what make it finish
    /// within the token budgets. Still wide enough for the built-in model's largest programs
    /// apart from statement counts (its maximum is 7 per block).
    pub fn compact() -> GrammarBounds {
        GrammarBounds {
            statements_per_block: 4,
            statements_per_nested_block: 2,
            statement_nesting: 1,
            expression_depth: 2,
            chain_operands: 3,
            deep_chain_operands: 2,
            postfix_operators: 1,
            arguments: 3,
            indexes: 2,
            identifier_chars: 8,
            literal_digits: 3,
            whitespace_chars: 4,
            comments_per_gap: 0,
            comment_chars: 0,
            tilde_any_operand: false,
        }
    }
}

/// Which grammar to compile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GrammarOptions {
    /// The program must have a `model` block to end (default true, like
    /// [`crate::DecodeConfig::require_model_block`]).
    pub require_model_block: bool,
    /// Comments may appear between lexemes (default false: a generated program has none, and a
    /// comment is text a proposal can wander in; files written by people need them).
    pub comments: bool,
    /// How far each construct may repeat or nest.
    pub bounds: GrammarBounds,
    /// Any name may be called or follow `~` (default false: only the library's names). On when
    /// the distribution predicate is switched off ([`crate::DecodeConfig::without`]), since the
    /// grammar would otherwise still enforce it.
    pub any_callable_name: bool,
}

impl Default for GrammarOptions {
    fn default() -> GrammarOptions {
        GrammarOptions {
            require_model_block: true,
            comments: false,
            bounds: GrammarBounds::default(),
            any_callable_name: false,
        }
    }
}

/// Why a grammar could not be built or followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrammarError {
    /// llguidance refused the grammar (a bug in the grammar text or its bounds).
    #[error("the program grammar does not compile: {0}")]
    Compile(String),
    /// The token trie or parser factory could not be built from the vocabulary.
    #[error("the vocabulary cannot be used for grammar masks: {0}")]
    Vocabulary(String),
    /// The text leaves the grammar at byte `offset`.
    #[error("the text leaves the program grammar at byte {offset}, near `{near}`")]
    Rejected {
        /// Where, in bytes.
        offset: usize,
        /// The text around it.
        near: String,
    },
    /// The whole text is in the grammar but a program cannot end there.
    #[error("the text is a prefix of the program grammar but not a complete program")]
    Unfinished,
    /// The matcher failed while computing a mask or rolling back.
    #[error("the grammar matcher failed: {0}")]
    Matcher(String),
}

// ---------------------------------------------------------------------------------------------
// The grammar text.

/// Regex (Rust `regex` syntax, escaped for a Lark `/.../` literal) of a gap: a whitespace run,
/// with comments when `options.comments`; `nonempty` requires at least one character.
fn gap_regex(options: &GrammarOptions, nonempty: bool) -> String {
    let b = &options.bounds;
    let ws = format!("[ \\t\\r\\n]{{0,{}}}", b.whitespace_chars);
    if !options.comments {
        let min = usize::from(nonempty);
        return format!("[ \\t\\r\\n]{{{min},{}}}", b.whitespace_chars.max(1));
    }
    let comment = comment_regex(b);
    let gap = format!("{ws}(?:{comment}{ws}){{0,{}}}", b.comments_per_gap);
    if nonempty {
        format!("(?:[ \\t\\r\\n]|{comment}){gap}")
    } else {
        gap
    }
}

/// A line comment (with its newline) or a block comment.
fn comment_regex(b: &GrammarBounds) -> String {
    let n = b.comment_chars;
    format!("(?:\\/\\/[^\\n]{{0,{n}}}\\n|\\/\\*(?:[^*]|\\*{{1,8}}[^*\\/]){{0,{n}}}\\*{{1,8}}\\/)")
}

/// The trailing gap after the last block (non-empty; may end in a line comment without newline).
fn end_gap_regex(options: &GrammarOptions) -> String {
    if !options.comments {
        return gap_regex(options, true);
    }
    format!(
        "{g1}(?:\\/\\/[^\\n]{{0,{n}}})?|{g}\\/\\/[^\\n]{{0,{n}}}",
        g1 = gap_regex(options, true),
        g = gap_regex(options, false),
        n = options.bounds.comment_chars
    )
}

/// Names as a Lark alternation of string literals.
fn alternation<I: IntoIterator<Item = String>>(names: I) -> String {
    let mut names: Vec<String> = names.into_iter().filter(|n| is_plain_name(n)).collect();
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|n| format!("\"{n}\""))
        .collect::<Vec<_>>()
        .join(" | ")
}

/// Suffixes of the names that take the conditional `f(y | theta)` form (as the parser has them).
const CONDITIONAL_SUFFIXES: &[&str] = &[
    "_lpdf", "_lupdf", "_lpmf", "_lupmf", "_lcdf", "_lccdf", "_cdf",
];

/// Whitespace and comments of any length before the data block (part of the prompt, like the
/// data block itself: a file's header comment).
const LEADING_GAP: &str = "(?:[ \\t\\r\\n]|\\/\\/[^\\n]*\\n|\\/\\*(?:[^*]|\\*+[^*\\/])*\\*+\\/)+";

/// The Lark text of the program grammar, with `extra_names` (identifiers longer than the bound,
/// e.g. long data names) allowed as identifiers too.
pub fn lark_grammar(options: &GrammarOptions, extra_names: &[String]) -> String {
    let b = &options.bounds;
    let digits = b.literal_digits.max(1);
    let start = if options.require_model_block {
        "(LEADING_GAP? data_block)? tdata_block? params_block? tparams_block? model_block gq_block? END_GAP?"
    } else {
        "(LEADING_GAP? data_block)? tdata_block? params_block? tparams_block? model_block? gq_block? END_GAP?"
    };
    let callable: Vec<String> = catalog::callable_names().collect();
    let conditional = callable.iter().filter(|n| {
        catalog::split_suffix(n)
            .is_some_and(|(_, suffix)| CONDITIONAL_SUFFIXES.contains(&suffix.as_str()))
    });
    let (functions, cond_functions, distributions) = if options.any_callable_name {
        // As long as the library's longest name (`multi_normal_cholesky` is longer than the
        // variable-name bound), so that every name the grammar otherwise lists is still taken.
        let longest = callable
            .iter()
            .map(String::len)
            .chain(catalog::distributions().iter().map(|d| d.name.len()))
            .max()
            .unwrap_or(0)
            .max(b.identifier_chars);
        let name = format!("[a-zA-Z][a-zA-Z0-9_]{{0,{}}}", longest.max(1) - 1);
        let suffixes = CONDITIONAL_SUFFIXES.join("|");
        (
            format!("/{name}/"),
            format!("/{name}({suffixes})/"),
            format!("/{name}/"),
        )
    } else {
        (
            alternation(callable.iter().cloned()),
            alternation(conditional.cloned()),
            alternation(
                catalog::distributions()
                    .iter()
                    .filter(|d| d.suffixes().iter().any(|s| s.is_density()))
                    .map(|d| d.name.to_string()),
            ),
        )
    };
    let extra: String = extra_names
        .iter()
        .filter(|n| is_plain_name(n))
        .map(|n| format!("| \"{n}\" "))
        .collect();
    let real = format!(
        "(?:[0-9]{{1,{d}}}\\.[0-9]{{0,{d}}}|\\.[0-9]{{1,{d}}})(?:[eE][+-]?[0-9]{{1,3}})?|[0-9]{{1,{d}}}[eE][+-]?[0-9]{{1,3}}",
        d = digits
    );
    let mut text = STAN_LARK
        .replace(
            "@TILDE_LEFT@",
            &if b.tilde_any_operand {
                "unary0".to_string()
            } else {
                format!(
                    "IDENT {}",
                    upto("LBRACK index_list1 RBRACK", b.postfix_operators)
                )
            },
        )
        .replace("@START@", start)
        .replace("@BLOCK_STMTS@", &b.statements_per_block.to_string())
        .replace("@POSTFIX@", &b.postfix_operators.to_string())
        .replace("@MORE_ARGS@", &b.arguments.saturating_sub(1).to_string())
        .replace(
            "@MORE_OPERANDS@",
            &format!("{{0,{}}}", b.chain_operands.saturating_sub(1)),
        )
        .replace("@GAP@", &gap_regex(options, false))
        .replace("@GAP1@", &gap_regex(options, true))
        .replace("@END_GAP@", &end_gap_regex(options))
        .replace("@FUNCTIONS@", &functions)
        .replace("@COND_FUNCTIONS@", &cond_functions)
        .replace("@DISTRIBUTIONS@", &distributions)
        .replace("@LEADING_GAP@", LEADING_GAP)
        .replace(
            "@NAME_RX@",
            &format!(
                "[a-zA-Z][a-zA-Z0-9_]{{0,{}}}",
                b.identifier_chars.max(1) - 1
            ),
        )
        .replace("@EXTRA_NAMES@", &extra)
        .replace("@INT_RX@", &format!("[0-9]{{1,{digits}}}"))
        .replace("@REAL_RX@", &real)
        .replace(
            "@STRING_RX@",
            &format!("\"[^\"\\n]{{0,{}}}\"", b.comment_chars),
        );
    text.push_str(&leveled_rules(b));
    text
}

/// Whether `name` is an identifier that can be written as a Lark string literal as it is.
fn is_plain_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `{0,n}` in Lark, or nothing when `n` is 0 (a repetition that must not happen).
fn upto(item: &str, n: usize) -> String {
    if n == 0 {
        String::new()
    } else {
        format!("({item}){{0,{n}}}")
    }
}

/// The rules that exist once per expression depth and statement nesting level: `exprD` may
/// contain brackets only while `D` is below the bound, `stmtS` compound statements only while
/// `S` is below it.
fn leveled_rules(b: &GrammarBounds) -> String {
    let mut out = String::new();
    let max_d = b.expression_depth;
    for d in 0..=max_d {
        let more = if d < 3 {
            b.chain_operands
        } else {
            b.deep_chain_operands
        }
        .saturating_sub(1);
        let n = d + 1;
        let inner = d < max_d;
        if inner {
            out.push_str(&format!(
                "expr{d}: chain{d} | chain{d} QUESTION expr{n} COLON expr{n}\n"
            ));
        } else {
            out.push_str(&format!("expr{d}: chain{d}\n"));
        }
        // Precedence decides the tree, not which texts are expressions: one flat chain of
        // operands per depth accepts the same texts, and bounds them all at once.
        out.push_str(&format!(
            "chain{d}: unary{d} {}\n",
            upto(&format!("BINARY_OP unary{d}"), more)
        ));
        out.push_str(&format!("unary{d}: PREFIX_OP? postfix{d}\n"));
        let suffix = if inner {
            format!("QUOTE | LBRACK index_list{n} RBRACK")
        } else {
            "QUOTE".to_string()
        };
        out.push_str(&format!(
            "postfix{d}: primary{d} {}\n",
            upto(&suffix, b.postfix_operators)
        ));
        let mut primary = format!("primary{d}: INT_LIT | REAL_LIT | IDENT | TARGET_CALL");
        if inner {
            primary.push_str(&format!(
                " | LPAREN expr{n} RPAREN | FUNCTION LPAREN args{n}? RPAREN \
                 | COND_FUNCTION LPAREN expr{n} BAR args{n}? RPAREN \
                 | LBRACE args{n} RBRACE | LBRACK args{n}? RBRACK"
            ));
        }
        out.push_str(&primary);
        out.push('\n');
        if d >= 1 {
            out.push_str(&format!(
                "args{d}: expr{d} {}\n",
                upto(&format!("COMMA expr{d}"), b.arguments.saturating_sub(1))
            ));
            out.push_str(&format!(
                "index_list{d}: index{d}? {}\n",
                upto(&format!("COMMA index{d}?"), b.indexes.saturating_sub(1))
            ));
            out.push_str(&format!(
                "index{d}: expr{d} | expr{d} COLON | COLON expr{d} | expr{d} COLON expr{d} | COLON\n"
            ));
        }
    }
    // `args`/`index_list` one level past the deepest expression are never used but keep the
    // rule names defined for every level that refers to them.
    let max_s = b.statement_nesting;
    for s in 0..=max_s {
        let n = s + 1;
        if s < max_s {
            out.push_str(&format!(
                "stmt{s}: simple_stmt | block{s} | for{s} | while{s} | if{s}\n"
            ));
            out.push_str(&format!(
                "block{s}: LBRACE nested_stmt{n}{{0,{}}} RBRACE\n",
                b.statements_per_nested_block
            ));
            // A body is a block (its statements one level deeper) or one statement.
            let deeper = if n < max_s {
                format!(" | for{n} | while{n} | if{n}")
            } else {
                String::new()
            };
            out.push_str(&format!("body{s}: block{s} | simple_stmt{deeper}\n"));
            out.push_str(&format!(
                "for{s}: FOR LPAREN IDENT IN expr1 (COLON expr1)? RPAREN body{s}\n"
            ));
            out.push_str(&format!("while{s}: WHILE LPAREN expr1 RPAREN body{s}\n"));
            out.push_str(&format!(
                "if{s}: IF LPAREN expr1 RPAREN body{s} (ELSE block{s} | ELSE_SP body{s})?\n"
            ));
        } else {
            out.push_str(&format!("stmt{s}: simple_stmt\n"));
        }
        if s >= 1 {
            out.push_str(&format!("nested_stmt{s}: local_decl | stmt{s}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The token environment of a vocabulary.

/// The llguidance side of a [`Vocabulary`]: its token trie and parser factory, plus the grammars
/// compiled against them. Built once per vocabulary (see [`token_environment`]).
///
/// The trie holds one token per *class* of tokens the grammar cannot tell apart (see
/// [`token_class_key`]); the mask of a class's representative is the mask of all its members.
/// An environment built with [`TokenEnvironment::unreduced`] holds every token instead (used for
/// prompts that add literal names to the grammar, and by tests comparing the two).
pub struct TokenEnvironment {
    factory: ParserFactory,
    /// Tokens of the vocabulary proper; ids from here on are hidden single-byte tokens.
    vocab_len: usize,
    /// The vocabulary's end-of-program token.
    eos: TokenId,
    /// Texts of the vocabulary's tokens (end-of-program empty), to follow a token that is not in
    /// the trie by its bytes.
    texts: Vec<Vec<u8>>,
    /// Whether the token is in the trie itself (a class representative).
    in_trie: Vec<bool>,
    /// (representative, range in `members`) for each class with members besides it.
    classes: Vec<(TokenId, std::ops::Range<usize>)>,
    /// The other members of each class, grouped as `classes` says.
    members: Vec<TokenId>,
    /// Whether the trie holds one token per class (false: every token).
    reduced: bool,
    /// The unreduced environment of the same vocabulary, built on first use.
    unreduced: OnceLock<Result<Arc<TokenEnvironment>, GrammarError>>,
    /// Fresh matchers by grammar text.
    compiled: Mutex<HashMap<String, Matcher>>,
    build_time: Duration,
}

impl std::fmt::Debug for TokenEnvironment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEnvironment")
            .field("vocab_len", &self.vocab_len)
            .field("classes", &self.classes.len())
            .field("members", &self.members.len())
            .field("reduced", &self.reduced)
            .field("build_time", &self.build_time)
            .finish_non_exhaustive()
    }
}

impl TokenEnvironment {
    fn new(vocabulary: &Vocabulary) -> Result<TokenEnvironment, GrammarError> {
        let eos = vocabulary.eos();
        let texts: Vec<Vec<u8>> = (0..vocabulary.len() as TokenId)
            .map(|id| {
                if id == eos {
                    Vec::new()
                } else {
                    vocabulary.text(id).as_bytes().to_vec()
                }
            })
            .collect();
        TokenEnvironment::build(texts, eos, true)
    }

    /// The environment of token `texts` (end-of-program, `eos`, has none).
    fn build(
        texts: Vec<Vec<u8>>,
        eos: TokenId,
        reduced: bool,
    ) -> Result<TokenEnvironment, GrammarError> {
        let started = Instant::now();
        let vocab_len = texts.len();
        // One token per class in the trie (the first of its class); the others get no text
        // there, which keeps them out of every mask until `mask_weights` copies their
        // representative's bit. Tokens with the same text are one class in either case.
        let special = special_segments();
        let mut representative: HashMap<Vec<u8>, TokenId> = HashMap::new();
        let mut class_of: Vec<Option<TokenId>> = vec![None; vocab_len];
        for (id, text) in texts.iter().enumerate() {
            if text.is_empty() {
                continue;
            }
            let key = if reduced {
                token_class_key(text, special)
            } else {
                text.clone()
            };
            let rep = *representative.entry(key).or_insert(id as TokenId);
            class_of[id] = Some(rep);
        }
        let mut words: Vec<Vec<u8>> = texts
            .iter()
            .enumerate()
            .map(|(id, text)| {
                if class_of[id] == Some(id as TokenId) {
                    text.clone()
                } else {
                    Vec::new()
                }
            })
            .collect();
        let in_trie: Vec<bool> = words.iter().map(|w| !w.is_empty()).collect();
        let mut grouped: HashMap<TokenId, Vec<TokenId>> = HashMap::new();
        for (id, rep) in class_of.iter().enumerate() {
            if let Some(rep) = *rep {
                if rep as usize != id {
                    grouped.entry(rep).or_default().push(id as TokenId);
                }
            }
        }
        let mut reps: Vec<TokenId> = grouped.keys().copied().collect();
        reps.sort_unstable();
        let mut classes = Vec::with_capacity(reps.len());
        let mut members = Vec::new();
        for rep in reps {
            let start = members.len();
            members.extend(&grouped[&rep]);
            classes.push((rep, start..members.len()));
        }
        // Hidden single bytes, so that any prompt text can be consumed exactly. 0xFF marks
        // special tokens in the trie and never occurs in UTF-8 text.
        let mut single = [false; 256];
        for w in &words {
            if let [b] = w.as_slice() {
                single[*b as usize] = true;
            }
        }
        for b in 0..=254u8 {
            if !single[b as usize] {
                words.push(vec![b]);
            }
        }
        let eos_id = if (eos as usize) < vocab_len {
            eos
        } else {
            // A vocabulary without a real end token: give the trie a hidden one.
            words.push(b"\xFF<eos>".to_vec());
            (words.len() - 1) as TokenId
        };
        let info = TokRxInfo::new(words.len() as u32, eos_id);
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(ApproximateTokEnv::new(trie));
        let mut factory = ParserFactory::new(&env, InferenceCapabilities::default(), &[])
            .map_err(|e| GrammarError::Vocabulary(e.to_string()))?;
        factory.quiet();
        // Tokens of large vocabularies span several lexemes (` (x`, `);`): allow the Earley
        // parser more work per mask than llguidance's defaults before it calls a mask too complex.
        // (With 150k tokens, a `for` body's first mask needs over a million items.)
        let limits = factory.limits_mut();
        limits.verbose_errors = false;
        limits.step_max_items = 4_000_000;
        limits.step_lexer_fuel = 4_000_000;
        limits.max_items_in_row = 20_000;
        Ok(TokenEnvironment {
            factory,
            vocab_len,
            eos,
            texts,
            in_trie,
            classes,
            members,
            reduced,
            unreduced: OnceLock::new(),
            compiled: Mutex::new(HashMap::new()),
            build_time: started.elapsed(),
        })
    }

    /// The environment of the same vocabulary whose trie holds every token (itself when it
    /// already does); built on first use.
    pub fn unreduced(self: &Arc<Self>) -> Result<Arc<TokenEnvironment>, GrammarError> {
        if !self.reduced {
            return Ok(self.clone());
        }
        self.unreduced
            .get_or_init(|| {
                TokenEnvironment::build(self.texts.clone(), self.eos, false).map(Arc::new)
            })
            .clone()
    }

    /// Number of tokens in the trie that stand for the vocabulary (one per class).
    pub fn trie_tokens(&self) -> usize {
        self.in_trie.iter().filter(|&&t| t).count()
    }

    /// How long building the trie and factory took.
    pub fn build_time(&self) -> Duration {
        self.build_time
    }

    /// A fresh matcher for `lark` (compiled on first use, then cloned).
    fn matcher(&self, lark: &str) -> Result<Matcher, GrammarError> {
        let mut compiled = self
            .compiled
            .lock()
            .map_err(|_| GrammarError::Matcher("a grammar compilation panicked".into()))?;
        if let Some(m) = compiled.get(lark) {
            return Ok(m.clone());
        }
        let parser = self
            .factory
            .create_parser(TopLevelGrammar::from_lark(lark.to_string()))
            .map_err(|e| GrammarError::Compile(e.to_string()))?;
        let matcher = Matcher::new(Ok(parser));
        if let Some(e) = matcher.get_error() {
            return Err(GrammarError::Compile(e));
        }
        compiled.insert(lark.to_string(), matcher.clone());
        Ok(matcher)
    }
}

/// The token environment of `vocabulary`, built on first use and kept with the vocabulary (and
/// its clones) as [`Vocabulary::derived`] data, so a large vocabulary's trie is built once.
pub fn token_environment(vocabulary: &Vocabulary) -> Result<Arc<TokenEnvironment>, GrammarError> {
    vocabulary.derived(|v| TokenEnvironment::new(v).map(Arc::new))
}

/// The letter runs and digit runs of every word the grammar spells out (keywords, reserved
/// words, the library's function and distribution names, bound words, conditional suffixes,
/// and whatever its regexes hold, such as `e`/`E` of exponents): the runs whose exact spelling
/// can matter to the grammar. Kept as the sets a token's runs are looked up in by
/// [`token_class_key`].
#[derive(Debug, Default)]
pub struct SpecialSegments {
    whole: HashSet<Vec<u8>>,
    prefixes: HashSet<Vec<u8>>,
    suffixes: HashSet<Vec<u8>>,
    substrings: HashSet<Vec<u8>>,
}

/// Which run a byte belongs to: 1 for ASCII letters, 2 for digits, 0 for any other byte.
fn run_class(b: u8) -> u8 {
    if b.is_ascii_alphabetic() {
        1
    } else if b.is_ascii_digit() {
        2
    } else {
        0
    }
}

/// The maximal runs of letters and of digits in `text`, as (start, end) pairs.
fn runs(text: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        let class = run_class(text[i]);
        let mut j = i + 1;
        if class != 0 {
            while j < text.len() && run_class(text[j]) == class {
                j += 1;
            }
            out.push((i, j));
        }
        i = j;
    }
    out
}

impl SpecialSegments {
    /// The runs of `words` (spelled-out text).
    pub fn new<'a>(words: impl IntoIterator<Item = &'a str>) -> SpecialSegments {
        let mut out = SpecialSegments::default();
        for word in words {
            out.add(word.as_bytes(), runs(word.as_bytes()));
        }
        out
    }

    /// Adds the runs of `regex` and each letter or digit of it alone (`[eE]` matches `e`),
    /// after dropping escapes (`\t`, `\x00`), ranges (`a-z`) and repetition counts (`{0,40}`),
    /// which match no literal letter or digit.
    pub fn add_regex(&mut self, regex: &str) {
        let b = regex.as_bytes();
        let mut kept = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'\\' {
                i += if b.get(i + 1) == Some(&b'x') { 4 } else { 2 };
            } else if b[i] == b'{' {
                let close = b[i..].iter().position(|&c| c == b'}');
                i += close.map_or(1, |c| c + 1);
                kept.push(b' ');
            } else if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_some_and(|c| run_class(*c) != 0)
            {
                i += 3;
                kept.push(b' ');
            } else {
                kept.push(b[i]);
                i += 1;
            }
        }
        let singles = (0..kept.len()).filter(|&i| run_class(kept[i]) != 0);
        let spans: Vec<(usize, usize)> = runs(&kept)
            .into_iter()
            .chain(singles.map(|i| (i, i + 1)))
            .collect();
        self.add(&kept, spans);
    }

    fn add(&mut self, text: &[u8], spans: Vec<(usize, usize)>) {
        for (start, end) in spans {
            let run = &text[start..end];
            self.whole.insert(run.to_vec());
            for i in 0..run.len() {
                self.suffixes.insert(run[i..].to_vec());
                self.prefixes.insert(run[..=i].to_vec());
                for j in i + 1..=run.len() {
                    self.substrings.insert(run[i..j].to_vec());
                }
            }
        }
    }
}

/// The string literals (`false`) and regexes (`true`) of a Lark grammar text (comment lines
/// skipped), with their escapes left in: every text the grammar can match literally is spelled
/// out in one of them.
fn lark_literals(lark: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for line in lark.lines() {
        if line.trim_start().starts_with("//") {
            continue;
        }
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            if c != '"' && c != '/' {
                continue;
            }
            let mut literal = String::new();
            let mut escaped = false;
            for d in chars.by_ref() {
                if escaped {
                    escaped = false;
                } else if d == '\\' {
                    escaped = true;
                } else if d == c {
                    break;
                }
                literal.push(d);
            }
            out.push((c == '/', literal));
        }
    }
    out
}

/// The special segments of the program grammar: the runs of its string literals and regexes
/// with the library's names listed (comments on or off changes no literal; `any_callable_name`
/// only replaces names by a regex), and of the conditional suffixes.
pub fn special_segments() -> &'static SpecialSegments {
    static SEGMENTS: OnceLock<SpecialSegments> = OnceLock::new();
    SEGMENTS.get_or_init(|| {
        let literals = lark_literals(&lark_grammar(&GrammarOptions::default(), &[]));
        let mut out = SpecialSegments::new(
            literals
                .iter()
                .filter(|(regex, _)| !regex)
                .map(|(_, text)| text.as_str())
                .chain(CONDITIONAL_SUFFIXES.iter().copied()),
        );
        for (_, regex) in literals.iter().filter(|(regex, _)| *regex) {
            out.add_regex(regex);
        }
        out
    })
}

/// The class of a token text: tokens with the same key are accepted or refused together after
/// any text, and leave the grammar in states that accept the same continuations.
///
/// Every maximal run of ASCII letters, or of digits, in the token that cannot be part of a word
/// the grammar spells out ([`SpecialSegments`]) is replaced by its kind and length; everything
/// else is kept. A run inside the token (other bytes on both sides) is a whole run of the text,
/// so it matters only if it *is* a special segment; a run opening the token may end one (it
/// matters if it is a suffix of one), a run closing it may begin one (a prefix), and a token
/// that is one run may sit inside one (a substring). Otherwise the grammar sees the run only
/// through character classes: letters or digits of a name (`[a-zA-Z][a-zA-Z0-9_]*` up to a
/// length, reserved words and names ending in `__` excluded, which depend on special words and
/// underscores alone) or digits of a number, where any run of the same kind and length does the
/// same.
pub fn token_class_key(text: &[u8], special: &SpecialSegments) -> Vec<u8> {
    let mut key = Vec::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in runs(text) {
        let run = &text[start..end];
        let matters = match (start == 0, end == text.len()) {
            (true, true) => special.substrings.contains(run),
            (true, false) => special.suffixes.contains(run),
            (false, true) => special.prefixes.contains(run),
            (false, false) => special.whole.contains(run),
        };
        if !matters {
            key.extend_from_slice(&text[copied..start]);
            // 0xFF never occurs in UTF-8 text, so the marker cannot be confused with text.
            key.push(0xFF);
            key.push(run_class(run[0]));
            key.extend_from_slice(&(run.len() as u32).to_le_bytes());
            copied = end;
        }
    }
    key.extend_from_slice(&text[copied..]);
    key
}

// ---------------------------------------------------------------------------------------------
// Compiled grammars and their per-generation state.

/// The program grammar compiled against one vocabulary.
#[derive(Clone)]
pub struct Grammar {
    env: Arc<TokenEnvironment>,
    options: GrammarOptions,
    /// The fresh matcher of the grammar without extra names.
    fresh: Matcher,
}

impl std::fmt::Debug for Grammar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grammar")
            .field("env", &self.env)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Grammar {
    /// Compile the program grammar for `vocabulary` (the trie is built once per vocabulary, the
    /// grammar once per vocabulary and options).
    pub fn new(vocabulary: &Vocabulary, options: &GrammarOptions) -> Result<Grammar, GrammarError> {
        Grammar::with_environment(token_environment(vocabulary)?, options)
    }

    /// The same grammar over a trie that holds every token of the vocabulary rather than one
    /// per class: the same masks, computed more slowly (for tests and benchmarks).
    pub fn unreduced(
        vocabulary: &Vocabulary,
        options: &GrammarOptions,
    ) -> Result<Grammar, GrammarError> {
        Grammar::with_environment(token_environment(vocabulary)?.unreduced()?, options)
    }

    fn with_environment(
        env: Arc<TokenEnvironment>,
        options: &GrammarOptions,
    ) -> Result<Grammar, GrammarError> {
        let fresh = env.matcher(&lark_grammar(options, &[]))?;
        Ok(Grammar {
            env,
            options: options.clone(),
            fresh,
        })
    }

    /// The token environment the masks are computed over.
    pub fn environment(&self) -> &Arc<TokenEnvironment> {
        &self.env
    }

    /// A generation state that has consumed `prompt` (which must itself be in the grammar: a
    /// data block, or a data block followed by a kept part of a program).
    pub fn start(&self, prompt: &str) -> Result<GrammarState, GrammarError> {
        let long = long_names(prompt, self.options.bounds.identifier_chars);
        // Long names are literals of the grammar whose letters the classes do not know: such a
        // prompt is followed over the trie of every token.
        let (env, mut matcher) = if long.is_empty() {
            (self.env.clone(), self.fresh.clone())
        } else {
            let env = self.env.unreduced()?;
            let matcher = env.matcher(&lark_grammar(&self.options, &long))?;
            (env, matcher)
        };
        let trie = env.factory.tok_env().tok_trie();
        let tokens = trie.greedy_tokenize(prompt.as_bytes());
        let consumed = matcher
            .try_consume_tokens(&tokens)
            .map_err(|e| GrammarError::Matcher(e.to_string()))?;
        if consumed < tokens.len() {
            let offset: usize = tokens[..consumed].iter().map(|&t| trie.token_len(t)).sum();
            return Err(rejected_at(prompt, offset));
        }
        Ok(GrammarState {
            matcher,
            mask: SimpleVob::new(),
            env,
            pieces: Vec::new(),
            masks: 0,
        })
    }
}

/// Identifiers longer than `limit` characters in the data block at the start of `text` (up to its
/// closing brace: a data block has no nested braces), which later statements may refer to.
fn long_names(text: &str, limit: usize) -> Vec<String> {
    let data_block = text.find('}').map_or("", |end| &text[..end]);
    let mut names: Vec<String> = data_block
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.len() > limit && is_plain_name(w))
        .map(str::to_string)
        .collect();
    names.sort();
    names.dedup();
    names
}

fn rejected_at(text: &str, offset: usize) -> GrammarError {
    let mut from = offset.saturating_sub(30);
    while !text.is_char_boundary(from) {
        from -= 1;
    }
    let mut to = (offset + 10).min(text.len());
    while !text.is_char_boundary(to) {
        to += 1;
    }
    GrammarError::Rejected {
        offset,
        near: text[from..to].to_string(),
    }
}

/// Where one generation stands in the grammar: computes masks, follows accepted tokens, rolls
/// back for backtracking.
pub struct GrammarState {
    matcher: Matcher,
    /// The latest mask (vocabulary and hidden tokens).
    mask: SimpleVob,
    env: Arc<TokenEnvironment>,
    /// For each vocabulary token consumed after the prompt, the trie tokens it was followed
    /// with (one, or its bytes in trie tokens when it is not in the trie itself).
    pieces: Vec<usize>,
    masks: usize,
}

impl std::fmt::Debug for GrammarState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarState")
            .field("generated", &self.pieces.len())
            .field("masks", &self.masks)
            .finish_non_exhaustive()
    }
}

impl GrammarState {
    /// Zero the weight of every token the grammar does not allow next (end-of-program included
    /// unless a program may end here); returns how many tokens stay allowed.
    pub fn mask_weights(&mut self, weights: &mut [f64]) -> Result<usize, GrammarError> {
        let mut mask = self
            .matcher
            .compute_mask()
            .or_else(|e| {
                // "No token allowed" stops llguidance's parser; report it as an empty mask.
                if self.matcher.is_stopped() && !self.matcher.is_error() {
                    Ok(self.env.factory.tok_env().tok_trie().alloc_token_set())
                } else {
                    Err(e)
                }
            })
            .map_err(|e| GrammarError::Matcher(e.to_string()))?;
        self.masks += 1;
        for (rep, range) in &self.env.classes {
            if mask.is_allowed(*rep) {
                for &member in &self.env.members[range.clone()] {
                    mask.allow_token(member);
                }
            }
        }
        self.mask = mask;
        let mut allowed = 0;
        let words = self.mask.as_slice();
        for (chunk, &word) in weights.chunks_mut(32).zip(words) {
            if word == 0 {
                chunk.fill(0.0);
                continue;
            }
            for (bit, w) in chunk.iter_mut().enumerate() {
                if word & (1 << bit) == 0 {
                    *w = 0.0;
                } else {
                    allowed += 1;
                }
            }
        }
        let covered = words.len() * 32;
        if weights.len() > covered {
            weights[covered..].fill(0.0);
        }
        Ok(allowed)
    }

    /// Whether the latest mask allows `token`.
    pub fn allows(&self, token: TokenId) -> bool {
        (token as usize) < self.env.vocab_len
            && (token as usize) < self.mask.len()
            && self.mask.is_allowed(token)
    }

    /// Follow an accepted token; `false` (and no change) when the grammar does not allow it.
    pub fn consume(&mut self, token: TokenId) -> Result<bool, GrammarError> {
        let id = token as usize;
        if id >= self.env.vocab_len || self.env.texts[id].is_empty() {
            return Ok(false);
        }
        let pieces = if self.env.in_trie[id] {
            vec![token]
        } else {
            // Another token of its class stands for it in the trie; follow its own bytes.
            self.env
                .factory
                .tok_env()
                .tok_trie()
                .greedy_tokenize(&self.env.texts[id])
        };
        let n = self
            .matcher
            .try_consume_tokens(&pieces)
            .map_err(|e| GrammarError::Matcher(e.to_string()))?;
        if n < pieces.len() {
            if n > 0 {
                self.matcher
                    .rollback(n)
                    .map_err(|e| GrammarError::Matcher(e.to_string()))?;
            }
            return Ok(false);
        }
        self.pieces.push(n);
        Ok(true)
    }

    /// Undo the last `n` consumed tokens (never into the prompt).
    pub fn rollback(&mut self, n: usize) -> Result<(), GrammarError> {
        let n = n.min(self.pieces.len());
        let pieces: usize = self.pieces[self.pieces.len() - n..].iter().sum();
        self.matcher
            .rollback(pieces)
            .map_err(|e| GrammarError::Matcher(e.to_string()))?;
        self.pieces.truncate(self.pieces.len() - n);
        Ok(())
    }

    /// Whether a program may end here.
    pub fn is_accepting(&mut self) -> bool {
        self.matcher.is_accepting().unwrap_or(false)
    }

    /// Tokens consumed after the prompt.
    pub fn generated(&self) -> usize {
        self.pieces.len()
    }

    /// Masks computed so far.
    pub fn masks(&self) -> usize {
        self.masks
    }
}

/// A vocabulary of the ASCII characters (and end-of-program; other bytes are the trie's hidden
/// tokens), to follow any text byte by byte.
fn byte_vocabulary() -> &'static Vocabulary {
    static BYTES: OnceLock<Vocabulary> = OnceLock::new();
    BYTES.get_or_init(|| {
        let mut texts = vec!["</s>".to_string()];
        texts.extend((0..128u8).map(|b| (b as char).to_string()));
        Vocabulary::new(texts, 0)
    })
}

/// Whether `text` is a complete program of the grammar; the error says where it leaves it.
pub fn grammar_accepts(text: &str, options: &GrammarOptions) -> Result<(), GrammarError> {
    let grammar = Grammar::new(byte_vocabulary(), options)?;
    let mut state = grammar.start(text)?;
    if state.is_accepting() {
        Ok(())
    } else {
        Err(GrammarError::Unfinished)
    }
}
