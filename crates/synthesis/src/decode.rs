//! The constrained decoder: token-by-token generation from a [`ProposalModel`], with every token
//! checked so that a completed program is valid by construction.
//!
//! Local rejection sampling in the style of adaptive weighted rejection sampling: draw a token from
//! the temperature-scaled distribution, check the text it makes, and on failure remove that token's
//! mass and draw again from the rest. A statement that spends its rejection budget (or whose
//! remaining mass is negligible) is backtracked; repeated failures at the same place backtrack
//! further, one more statement each time, so a dead end caused by an earlier declaration (a scale
//! declared without `<lower=0>`) is undone. End-of-program is accepted only when the whole program
//! passes the mode's full check. Every token is counted: prompt, sampled, accepted, rejected.
//!
//! In `syntax` and `refinestat` modes the compiled program grammar ([`crate::grammar`], llguidance)
//! masks the distribution before every draw: tokens that cannot continue the text within the
//! grammar get no mass, so they are neither sampled nor counted as rejected, and end-of-program
//! is drawable only where the grammar may end. The grammar bounds what follows the data block,
//! so even a uniform proposal finishes programs. The language crate stays the authority: every
//! drawn token is still checked with [`refinestat_language::parse_prefix`] (`syntax`) or
//! [`refinestat_language::check_prefix`] (`refinestat`), end-of-program with the full check, and
//! backtracking rolls the grammar state back with the text. When the prompt itself is outside
//! the grammar (a hand-written prefix beyond its bounds) the generation runs unmasked and says so
//! in [`Generation::grammar_unavailable`]. `standard` mode is never masked.
//!
//! Budgets bound every generation (sampled tokens, program length, backtracks). When one runs out
//! in `syntax` or `refinestat` mode the decoder closes the program instead of stopping short
//! ([`DecodeConfig::close_on_budget`]): it goes back to the furthest statement boundary the
//! generation reached, appends closing braces (and an empty `model` block when there is none)
//! that pass the mode's full check and the grammar, and reports [`StopReason::Closed`] with the
//! appended tokens in [`TokenCounts::forced`]. So any proposal, a random-weight network included,
//! yields a valid program; which statements are in it is still the proposal's doing.
//!
//! The ablation ([`DecodeConfig::without`]): any of the six predicates can be switched off. Its
//! violations are dropped from every prefix, end-of-program and closing check (the language
//! crate still reports them; the decoder ignores them). Switching off `parse` also drops the
//! grammar mask, so the text is then held only to the remaining predicates; switching off
//! `distribution` lets the grammar take any name where it otherwise lists the library's
//! ([`GrammarOptions::any_callable_name`]). With nothing
//! switched off the decoder is exactly the full one (same seed, same program).

use crate::grammar::{Grammar, GrammarBounds, GrammarOptions, GrammarState};
use rand::Rng;
use refinestat_language::{
    check, check_prefix, parse, parse_prefix, Data, Diagnostic, Predicate, Span,
};
use refinestat_proposal::{ProposalModel, TokenId};
use std::collections::HashMap;

/// What a token must satisfy to be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Sample from the model unconstrained.
    Standard,
    /// Keep the text a valid prefix of the grammar.
    Syntax,
    /// Grammar plus the six validity predicates, with the data.
    Refinestat,
}

impl Mode {
    /// Whether this mode's checks include `predicate`: `refinestat` all six, `syntax` only
    /// parse, `standard` none.
    pub fn applies(self, predicate: Predicate) -> bool {
        match self {
            Mode::Standard => false,
            Mode::Syntax => predicate == Predicate::Parse,
            Mode::Refinestat => true,
        }
    }

    /// The mode's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standard => "standard",
            Mode::Syntax => "syntax",
            Mode::Refinestat => "refinestat",
        }
    }
}

impl std::str::FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        match s {
            "standard" => Ok(Mode::Standard),
            "syntax" => Ok(Mode::Syntax),
            "refinestat" => Ok(Mode::Refinestat),
            other => Err(format!(
                "unknown mode `{other}` (expected standard, syntax or refinestat)"
            )),
        }
    }
}

/// Budgets and sampling settings of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeConfig {
    /// Which constraints apply to the tokens.
    pub mode: Mode,
    /// Logits are divided by this before sampling (1 = the model's own distribution).
    pub temperature: f64,
    /// Every token drawn, accepted or rejected, counts against this (default 6000).
    pub max_sampled_tokens: usize,
    /// Accepted tokens of the generated part at most (default 2000).
    pub max_program_tokens: usize,
    /// Rejections within one statement before it is backtracked (default 24).
    pub max_rejections_per_statement: usize,
    /// Backtracks in one generation before giving up (default 60).
    pub max_backtracks: usize,
    /// A position whose untried mass falls below this fraction of its original mass is a dead
    /// end: backtrack instead of drawing from the model's noise floor (default 1e-2).
    pub min_remaining_mass: f64,
    /// Outside `standard` mode, end-of-program needs a `model` block too (default true): a data
    /// block alone is a valid program, but not a model.
    pub require_model_block: bool,
    /// Tokens one statement may take before it is backtracked as a dead end (default 128; the
    /// built-in model's longest statement has about 40). Under grammar masks an off-plan token
    /// can start text that stays grammatical for long without ever becoming valid.
    pub max_statement_tokens: usize,
    /// Outside `standard` mode, mask each draw with the compiled grammar (default true); false
    /// leaves only the check after sampling, as before grammars were compiled.
    pub grammar_mask: bool,
    /// Size bounds of what the grammar lets follow the data block (default
    /// [`GrammarBounds::default`], generous; [`GrammarBounds::compact`] makes an untrained
    /// proposal finish sooner).
    pub grammar_bounds: GrammarBounds,
    /// After this many rejections at one position, check every token still in play and draw
    /// from the valid ones (default 8): the same distribution rejection sampling would reach,
    /// at a bounded cost, for proposals that put most mass on invalid tokens (an untrained
    /// model). The per-statement rejection budget does not end a statement whose position was
    /// scanned.
    pub scan_after_rejections: usize,
    /// The scan runs only when at most this many tokens are in play (default 4096), so a large
    /// vocabulary's long tail is never checked token by token.
    pub max_scan_tokens: usize,
    /// Outside `standard` mode, when a budget runs out (or no token is left) close the program
    /// instead of stopping (default true): go back to the furthest statement boundary the
    /// generation reached (then earlier ones) from which closing braces, and a `model { }` block
    /// where there is none, make a program that passes the mode's full check and the grammar,
    /// and append that text ([`StopReason::Closed`], counted as
    /// [`TokenCounts::forced`]). Every generation then ends in a valid program; the statements
    /// in it are still all the model's.
    pub close_on_budget: bool,
    /// Predicates switched off (the paper's ablation; default none): their violations never
    /// reject a token, a statement or the end of a program. Only [`Mode::Refinestat`] applies
    /// the semantic five, so only it can switch them off ([`DecodeConfig::validate`]);
    /// [`Predicate::Parse`] switches off the grammar mask as well (see
    /// [`DecodeConfig::masks`]), so only the remaining predicates constrain the text.
    pub without: Vec<Predicate>,
}

impl DecodeConfig {
    /// Whether a budget that runs out closes the program ([`DecodeConfig::close_on_budget`],
    /// which `standard` mode ignores: it promises nothing about the text).
    pub fn closes_on_budget(&self) -> bool {
        self.close_on_budget && self.mode != Mode::Standard
    }

    /// Whether draws are masked with the compiled grammar: outside `standard` mode, with
    /// [`DecodeConfig::grammar_mask`] on and [`Predicate::Parse`] not switched off.
    pub fn masks(&self) -> bool {
        self.mode != Mode::Standard
            && self.grammar_mask
            && !self.without.contains(&Predicate::Parse)
    }

    /// Whether `predicate` rejects text under this configuration: the mode applies it
    /// (`refinestat` all six, `syntax` only parse, `standard` none) and it is not switched off.
    pub fn enforces(&self, predicate: Predicate) -> bool {
        self.mode.applies(predicate) && !self.without.contains(&predicate)
    }

    /// Drops the violations of predicates switched off ([`DecodeConfig::without`]).
    pub fn keep_enforced(&self, violations: &mut Vec<Diagnostic>) {
        if !self.without.is_empty() {
            violations.retain(|d| !self.without.contains(&d.predicate));
        }
    }

    /// A predicate can be switched off only where the mode applies it: `refinestat` any of
    /// the six, `syntax` only parse, `standard` none.
    pub fn validate(&self) -> Result<(), String> {
        match self.without.iter().find(|&&p| !self.mode.applies(p)) {
            Some(p) => Err(format!(
                "decoding mode {} does not apply the {p} predicate, so --without cannot switch \
                 it off (refinestat mode applies all six)",
                self.mode.as_str()
            )),
            None => Ok(()),
        }
    }
}

impl Default for DecodeConfig {
    fn default() -> DecodeConfig {
        DecodeConfig {
            mode: Mode::Refinestat,
            temperature: 1.0,
            max_sampled_tokens: 6000,
            max_program_tokens: 2000,
            max_rejections_per_statement: 24,
            max_backtracks: 60,
            min_remaining_mass: 1e-2,
            require_model_block: true,
            max_statement_tokens: 128,
            grammar_mask: true,
            grammar_bounds: GrammarBounds::default(),
            scan_after_rejections: 8,
            max_scan_tokens: 4096,
            close_on_budget: true,
            without: Vec::new(),
        }
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The model ended the program and (outside `standard` mode) it passed the full check.
    Completed,
    /// A budget ran out (see [`Generation::closed_after`]) and the decoder closed the program at
    /// a statement boundary ([`DecodeConfig::close_on_budget`]); it passes the full check.
    Closed,
    /// The global token budget (sampled tokens) or the program length ran out.
    TokenBudget,
    /// No token of the vocabulary continues the text validly, and nothing is left to backtrack.
    NoValidToken,
    /// Too many backtracks.
    BacktrackBudget,
    /// The proposal model failed.
    ModelError(String),
}

impl StopReason {
    /// The reason's name in logs.
    pub fn as_str(&self) -> &str {
        match self {
            StopReason::Completed => "completed",
            StopReason::Closed => "closed",
            StopReason::TokenBudget => "token_budget",
            StopReason::NoValidToken => "no_valid_token",
            StopReason::BacktrackBudget => "backtrack_budget",
            StopReason::ModelError(_) => "model_error",
        }
    }

    /// Whether the generation ended in a whole program (completed by the model, or closed by
    /// the decoder), as opposed to a prefix cut short.
    pub fn is_program(&self) -> bool {
        matches!(self, StopReason::Completed | StopReason::Closed)
    }
}

/// Token counts of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TokenCounts {
    /// Tokens of the prompt.
    pub prompt: usize,
    /// Tokens drawn from the model (accepted + rejected).
    pub sampled: usize,
    /// Draws that passed the check (including ones later undone by backtracking).
    pub accepted: usize,
    /// Draws that failed the check.
    pub rejected: usize,
    /// Tokens checked without being drawn, by the exhaustive scan of a position where rejection
    /// sampling kept failing (see [`DecodeConfig::scan_after_rejections`]).
    #[serde(default)]
    pub scanned: usize,
    /// Tokens appended by the decoder to close a program when a budget ran out
    /// ([`StopReason::Closed`]); not drawn, not in `sampled`.
    #[serde(default)]
    pub forced: usize,
}

/// The result of one generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// Prompt followed by the generated text.
    pub program: String,
    /// The generated part alone.
    pub generated: String,
    /// Why the generation ended.
    pub stop: StopReason,
    /// Tokens of the prompt, sampled, accepted and rejected.
    pub tokens: TokenCounts,
    /// Tokens taken back after a dead end.
    pub backtracks: usize,
    /// Grammar masks computed (one per position visited; 0 in `standard` mode).
    pub masks: usize,
    /// Why a constrained generation ran without grammar masks (`None` when masked, or in
    /// `standard` mode, or with masks switched off).
    pub grammar_unavailable: Option<String>,
    /// For a [`StopReason::Closed`] generation, the budget that ran out before the decoder
    /// closed it.
    pub closed_after: Option<StopReason>,
}

/// The random stream of program `index` in a run seeded with `seed`: ChaCha8 seeded with `seed`,
/// on stream `index`, so each program depends only on (seed, index) and a resumed or partial run
/// writes the same programs.
pub fn program_rng(seed: u64, index: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(index);
    rng
}

/// Why `text` is not acceptable as a prefix under `config`'s mode, less the predicates it
/// switches off (empty = acceptable).
pub(crate) fn prefix_violations(config: &DecodeConfig, text: &str, data: &Data) -> Vec<Diagnostic> {
    let mut violations = match config.mode {
        Mode::Standard => Vec::new(),
        Mode::Syntax => parse_prefix(text).errors,
        Mode::Refinestat => check_prefix(text, Some(data)),
    };
    config.keep_enforced(&mut violations);
    violations
}

/// Why `text` is not acceptable as a finished program under `config`'s mode, less the
/// predicates it switches off (empty = acceptable). A program without a `model` block is never
/// acceptable when [`DecodeConfig::require_model_block`] holds, whatever is switched off.
pub(crate) fn complete_violations(
    config: &DecodeConfig,
    text: &str,
    data: &Data,
) -> Vec<Diagnostic> {
    let mut violations = match config.mode {
        Mode::Standard => return Vec::new(),
        Mode::Syntax => parse(text).errors,
        Mode::Refinestat => check(text, Some(data)),
    };
    config.keep_enforced(&mut violations);
    if config.require_model_block && violations.is_empty() && parse(text).program.model.is_none() {
        let end = text.len() as u32;
        violations.push(Diagnostic::new(
            Predicate::Parse,
            Span { start: end, end },
            "the program ends without a model block",
        ));
    }
    violations
}

/// The name a violation blames on a declaration: from a hint "declare NAME with ...", or the
/// identifier the violation points at.
pub(crate) fn blamed_name(text: &str, d: &Diagnostic) -> Option<String> {
    if let Some(rest) = d.hint.as_deref().and_then(|h| h.strip_prefix("declare ")) {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            return Some(name);
        }
    }
    let span = text.get(d.span.start as usize..d.span.end as usize)?;
    let is_ident = !span.is_empty()
        && span.chars().all(|c| c.is_alphanumeric() || c == '_')
        && !span.starts_with(|c: char| c.is_ascii_digit());
    is_ident.then(|| span.to_string())
}

/// Types that start a declaration statement.
const TYPE_WORDS: &[&str] = refinestat_language::lexicon::DECLARATION_TYPES;

/// Whether a statement's text declares `name`.
pub(crate) fn declares(statement: &str, name: &str) -> bool {
    let s = statement.trim_start();
    let first: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if !TYPE_WORDS.contains(&first.as_str()) {
        return false;
    }
    // Drop bounds `<...>` and sizes `[...]`, then the declared name ends at `;` or `=`.
    let mut plain = String::new();
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '<' | '[' => depth += 1,
            '>' | ']' => depth -= 1,
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let head = plain.split([';', '=']).next().unwrap_or("");
    head.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .rfind(|w| !w.is_empty())
        == Some(name)
}

/// The full check of a finished program with the data (what `refinestat check --data` reports).
pub fn check_program_text(program: &str, data: &Data) -> Vec<Diagnostic> {
    check(program, Some(data))
}

/// A token that ends a statement or opens/closes a block: statements start after one.
fn is_boundary(text: &str) -> bool {
    let t = text.trim_end();
    t.ends_with(';') || t.ends_with('{') || t.ends_with('}')
}

/// Statement boundaries among `ids`: how far a generation has got, for choosing what to close.
fn boundaries(model: &dyn ProposalModel, ids: &[TokenId]) -> usize {
    ids.iter()
        .filter(|&&id| is_boundary(model.vocabulary().text(id)))
        .count()
}

/// The grammar state of a constrained generation, or why there is none.
fn start_grammar(
    model: &dyn ProposalModel,
    prompt: &str,
    config: &DecodeConfig,
) -> (Option<GrammarState>, Option<String>) {
    if !config.masks() {
        return (None, None);
    }
    let options = GrammarOptions {
        require_model_block: config.require_model_block,
        bounds: config.grammar_bounds.clone(),
        any_callable_name: config.without.contains(&Predicate::Distribution),
        ..GrammarOptions::default()
    };
    match Grammar::new(model.vocabulary(), &options).and_then(|g| g.start(prompt)) {
        Ok(state) => (Some(state), None),
        Err(e) => (None, Some(e.to_string())),
    }
}

/// Follow an accepted token in the grammar: false when the grammar refuses it. A failing matcher
/// switches masking off for the rest of the generation (the checks still hold).
fn follow_grammar(
    grammar: &mut Option<GrammarState>,
    unavailable: &mut Option<String>,
    id: TokenId,
) -> bool {
    let Some(state) = grammar.as_mut() else {
        return true;
    };
    match state.consume(id) {
        Ok(followed) => followed,
        Err(e) => {
            *unavailable = Some(e.to_string());
            *grammar = None;
            true
        }
    }
}

/// Most closing braces tried when closing a program (nested loops and conditionals inside a
/// block; the compact grammar bounds allow less).
const MAX_CLOSING_BRACES: usize = 6;

/// Texts that may close a program at a statement boundary, fewest braces first: closing braces
/// for the open blocks, then the same with a `model { }` block where the program has none.
fn closing_texts() -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for depth in 0..=MAX_CLOSING_BRACES {
        for sep in [" ", "\n", ""] {
            let braces = format!("{sep}}}").repeat(depth);
            for closing in [braces.clone(), format!("{braces}{sep}model {{{sep}}}")] {
                if !out.contains(&closing) {
                    out.push(closing);
                }
            }
        }
    }
    out
}

/// The closed programs `base` (a program text ending at a statement boundary) becomes with each
/// of `closings` that passes the mode's full check, in order, with the closing text.
fn passing_closings<'c>(
    config: &'c DecodeConfig,
    data: &'c Data,
    base: &'c str,
    closings: &'c [String],
) -> impl Iterator<Item = (String, &'c String)> + 'c {
    closings.iter().filter_map(move |closing| {
        let candidate = format!("{base}{closing}");
        complete_violations(config, &candidate, data)
            .is_empty()
            .then_some((candidate, closing))
    })
}

/// A text-level closing for writers that work statement by statement: the first of `bases`
/// (program texts that end at a statement boundary, latest first) that a closing text turns into
/// a program passing the mode's full check, closed, with the closing text.
pub(crate) fn close_text<'a>(
    config: &DecodeConfig,
    data: &Data,
    bases: impl IntoIterator<Item = &'a str>,
) -> Option<(String, String)> {
    let closings = closing_texts();
    bases.into_iter().find_map(|base| {
        passing_closings(config, data, base, &closings)
            .next()
            .map(|(closed, closing)| (closed, closing.clone()))
    })
}

/// The closed program and the number of tokens appended: `accepted` (a valid prefix after
/// `prompt`) closed at its latest statement boundary where a closing text passes the mode's full
/// check and, when masking, the grammar.
fn close_program(
    model: &dyn ProposalModel,
    prompt: &str,
    data: &Data,
    config: &DecodeConfig,
    accepted: &[TokenId],
) -> Option<(String, usize)> {
    let vocab = model.vocabulary();
    let mut text = prompt.to_string();
    let mut text_lens = Vec::with_capacity(accepted.len());
    for &id in accepted {
        text.push_str(vocab.text(id));
        text_lens.push(text.len());
    }
    // A fresh grammar state: this may not be the prefix the decoder's state is at.
    let (mut grammar, _) = start_grammar(model, prompt, config);
    if let Some(state) = grammar.as_mut() {
        for &id in accepted {
            if !matches!(state.consume(id), Ok(true)) {
                grammar = None;
                break;
            }
        }
    }
    let closings = closing_texts();
    let mut position = accepted.len();
    for k in (0..=accepted.len()).rev() {
        if k > 0 && !is_boundary(vocab.text(accepted[k - 1])) {
            continue;
        }
        if let Some(state) = grammar.as_mut() {
            if state.rollback(position - k).is_err() {
                grammar = None;
            }
        }
        position = k;
        let base = &text[..if k == 0 {
            prompt.len()
        } else {
            text_lens[k - 1]
        }];
        for (candidate, closing) in passing_closings(config, data, base, &closings) {
            let ids = vocab.encode(closing);
            if vocab.decode(&ids) != *closing {
                continue;
            }
            let Some(state) = grammar.as_mut() else {
                return Some((candidate, ids.len()));
            };
            let mut consumed = 0;
            for &id in &ids {
                if !matches!(state.consume(id), Ok(true)) {
                    break;
                }
                consumed += 1;
            }
            if consumed == ids.len() && state.is_accepting() {
                return Some((candidate, ids.len()));
            }
            if state.rollback(consumed).is_err() {
                grammar = None;
            }
        }
    }
    None
}

/// The index where `target` (in [0, sum of `weights`)) falls when the positive weights are laid
/// end to end; the last positive one when rounding leaves `target` past the end; `None` when no
/// weight is positive.
pub(crate) fn weighted_index(weights: &[f64], mut target: f64) -> Option<usize> {
    let mut index = None;
    for (i, &w) in weights.iter().enumerate() {
        if w > 0.0 {
            index = Some(i);
            if target < w {
                break;
            }
            target -= w;
        }
    }
    index
}

/// Generate one program after `prompt` (which must itself be acceptable, e.g. a data block).
pub fn generate<R: Rng + ?Sized>(
    model: &mut dyn ProposalModel,
    prompt: &str,
    data: &Data,
    config: &DecodeConfig,
    rng: &mut R,
) -> Generation {
    let prompt_ids = model.encode_prompt(prompt);
    let vocab_len = model.vocabulary().len();
    let eos = model.vocabulary().eos();
    let temperature = if config.temperature > 0.0 {
        config.temperature
    } else {
        1.0
    };
    let mut counts = TokenCounts {
        prompt: prompt_ids.len(),
        ..TokenCounts::default()
    };
    let (mut grammar, mut grammar_unavailable) = start_grammar(&*model, prompt, config);
    let mut masks = 0;
    let mut accepted: Vec<TokenId> = Vec::new();
    // Text length after each accepted token, so backtracking can truncate the text.
    let mut text = prompt.to_string();
    let mut text_lens: Vec<usize> = Vec::new();
    // Statement starts (indexes into `accepted`); 0 is always one.
    let mut failures_at: HashMap<usize, usize> = HashMap::new();
    let mut backtracks = 0;
    let mut statement_rejections = 0;
    // Tokens accepted since the current statement started.
    let mut statement_tokens: usize = 0;
    // A name the latest rejection in this statement blamed (for backtracking to its declaration).
    let mut blamed: Option<String> = None;
    let mut logprobs = vec![f64::NEG_INFINITY; vocab_len];
    let mut weights = vec![0.0; vocab_len];
    // Tokens that left no vocabulary token to follow them, by position in `accepted` (valid
    // while the tokens before that position stay).
    let mut stranded: Vec<Vec<TokenId>> = Vec::new();
    // The accepted tokens at the statement boundary with the most statements so far: what a
    // budget closes, so that backtracking late in a generation does not throw away statements.
    let mut furthest: (usize, Vec<TokenId>) = (0, Vec::new());

    let finish = |stop: StopReason,
                  text: &str,
                  counts: TokenCounts,
                  backtracks: usize,
                  masks: usize,
                  grammar_unavailable: &Option<String>| Generation {
        program: text.to_string(),
        generated: text[prompt.len()..].to_string(),
        stop,
        tokens: counts,
        backtracks,
        masks,
        grammar_unavailable: grammar_unavailable.clone(),
        closed_after: None,
    };

    // A budget ran out: close the program where a statement ends, or stop with `$reason`.
    macro_rules! out_of_budget {
        ($reason:expr) => {{
            let reason = $reason;
            if config.closes_on_budget() {
                let keep = if furthest.0 > boundaries(&*model, &accepted) {
                    &furthest.1
                } else {
                    &accepted
                };
                if let Some((closed, forced)) = close_program(&*model, prompt, data, config, keep) {
                    counts.forced = forced;
                    let mut generation = finish(
                        StopReason::Closed,
                        &closed,
                        counts,
                        backtracks,
                        masks,
                        &grammar_unavailable,
                    );
                    generation.closed_after = Some(reason);
                    return generation;
                }
            }
            return finish(
                reason,
                &text,
                counts,
                backtracks,
                masks,
                &grammar_unavailable,
            );
        }};
    }

    loop {
        if counts.sampled >= config.max_sampled_tokens
            || accepted.len() >= config.max_program_tokens
        {
            out_of_budget!(StopReason::TokenBudget);
        }
        logprobs.fill(f64::NEG_INFINITY);
        if let Err(err) = model.next_token_logprobs(&prompt_ids, &accepted, &mut logprobs) {
            return finish(
                StopReason::ModelError(err.to_string()),
                &text,
                counts,
                backtracks,
                masks,
                &grammar_unavailable,
            );
        }
        let max_lp = logprobs
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f64::NEG_INFINITY, f64::max);
        for (w, &lp) in weights.iter_mut().zip(&logprobs) {
            *w = if lp.is_finite() && max_lp.is_finite() {
                ((lp - max_lp) / temperature).exp()
            } else {
                0.0
            };
        }
        // The grammar removes what cannot continue the text before anything is drawn; the mass
        // left is this position's whole mass.
        if let Some(state) = grammar.as_mut() {
            match state.mask_weights(&mut weights) {
                Ok(allowed) => {
                    masks += 1;
                    let here = stranded.get(accepted.len()).map_or(&[][..], Vec::as_slice);
                    for &t in here {
                        weights[t as usize] = 0.0;
                    }
                    let open = allowed - here.iter().filter(|&&t| state.allows(t)).count();
                    if open == 0 && !accepted.is_empty() {
                        // No token of this vocabulary continues: the last token began a lexeme
                        // only other tokens could finish (`multi_normal_cholesky` without an
                        // `_lpdf` token). Undo it and never offer it again after this prefix.
                        let last = accepted.pop().unwrap_or(eos);
                        text_lens.pop();
                        text.truncate(text_lens.last().copied().unwrap_or(prompt.len()));
                        if let Err(e) = state.rollback(1) {
                            grammar_unavailable = Some(e.to_string());
                            grammar = None;
                        }
                        stranded.truncate(accepted.len() + 1);
                        stranded.resize(accepted.len() + 1, Vec::new());
                        stranded[accepted.len()].push(last);
                        statement_tokens = statement_tokens.saturating_sub(1);
                        continue;
                    }
                }
                Err(e) => {
                    grammar_unavailable = Some(e.to_string());
                    grammar = None;
                }
            }
        }
        let mut total: f64 = weights.iter().sum();
        let original_total = total;

        // Local rejection sampling at this position.
        let mut chosen = None;
        let mut dead_end = statement_tokens >= config.max_statement_tokens;
        let mut position_rejections = 0;
        let mut scanned = false;
        while chosen.is_none() && !dead_end {
            if !scanned && position_rejections >= config.scan_after_rejections.max(1) {
                let in_play = weights.iter().filter(|&&w| w > 0.0).count();
                if in_play <= config.max_scan_tokens {
                    // Exhaustive scan: keep only tokens whose text passes the check.
                    scanned = true;
                    for (i, w) in weights.iter_mut().enumerate() {
                        if *w <= 0.0 {
                            continue;
                        }
                        let id = i as TokenId;
                        counts.scanned += 1;
                        let ok = if id == eos {
                            complete_violations(config, &text, data).is_empty()
                        } else {
                            let candidate = format!("{text}{}", model.vocabulary().text(id));
                            prefix_violations(config, &candidate, data).is_empty()
                        };
                        if !ok {
                            *w = 0.0;
                        }
                    }
                    total = weights.iter().sum();
                    if total <= 0.0 {
                        dead_end = true;
                        break;
                    }
                    // The remaining mass is all valid: the mass floor no longer applies.
                    continue;
                }
            }
            if !scanned && (total <= original_total * config.min_remaining_mass || total <= 0.0) {
                dead_end = true;
                break;
            }
            if total <= 0.0 {
                dead_end = true;
                break;
            }
            if counts.sampled >= config.max_sampled_tokens {
                out_of_budget!(StopReason::TokenBudget);
            }
            let token = weighted_index(&weights, rng.random::<f64>() * total);
            let Some(token) = token else {
                dead_end = true;
                break;
            };
            counts.sampled += 1;
            let id = token as TokenId;
            let candidate = format!("{text}{}", model.vocabulary().text(id));
            let violations = if id == eos {
                complete_violations(config, &text, data)
            } else {
                prefix_violations(config, &candidate, data)
            };
            if let Some(name) = violations.iter().find_map(|d| blamed_name(&candidate, d)) {
                blamed = Some(name);
            }
            let passed = violations.is_empty()
                && (id == eos || follow_grammar(&mut grammar, &mut grammar_unavailable, id));
            if passed {
                counts.accepted += 1;
                chosen = Some(id);
            } else {
                counts.rejected += 1;
                statement_rejections += 1;
                position_rejections += 1;
                total -= weights[token];
                weights[token] = 0.0;
                // A scanned position draws only from checked tokens, so it ends when none is
                // left; one the scan can still reach is scanned before giving up on it.
                let scannable = scanned
                    || weights.iter().filter(|&&w| w > 0.0).count() <= config.max_scan_tokens;
                if statement_rejections > config.max_rejections_per_statement && !scannable {
                    dead_end = true;
                    break;
                }
            }
        }

        if let Some(id) = chosen {
            if id == eos {
                return finish(
                    StopReason::Completed,
                    &text,
                    counts,
                    backtracks,
                    masks,
                    &grammar_unavailable,
                );
            }
            let piece = model.vocabulary().text(id);
            text.push_str(piece);
            stranded.truncate(accepted.len() + 1);
            accepted.push(id);
            text_lens.push(text.len());
            statement_tokens += 1;
            if is_boundary(piece) {
                let statements = boundaries(&*model, &accepted);
                if statements > furthest.0 {
                    furthest = (statements, accepted.clone());
                }
                statement_rejections = 0;
                statement_tokens = 0;
                blamed = None;
            }
            continue;
        }
        debug_assert!(dead_end);

        // Backtrack: undo the current statement, and one more for each earlier failure here.
        let starts: Vec<usize> = std::iter::once(0)
            .chain(
                accepted
                    .iter()
                    .enumerate()
                    .filter(|(_, &id)| is_boundary(model.vocabulary().text(id)))
                    .map(|(i, _)| i + 1),
            )
            .filter(|&s| s <= accepted.len())
            .collect();
        let current = starts.len() - 1;
        if accepted.is_empty() && weights.iter().all(|&w| w == 0.0) {
            out_of_budget!(StopReason::NoValidToken);
        }
        if backtracks >= config.max_backtracks {
            out_of_budget!(StopReason::BacktrackBudget);
        }
        let failures = failures_at.entry(starts[current]).or_insert(0);
        *failures += 1;
        let back = if starts[current] == accepted.len() {
            *failures
        } else {
            *failures - 1
        };
        let mut keep = starts[current.saturating_sub(back)].min(accepted.len());
        // Dependency-directed: a dead end blamed on a name goes back to that name's declaration
        // (e.g. a scale declared without `<lower=0>`), when it lies further back.
        if let Some(name) = blamed.take() {
            let stmt_text = |k: usize| {
                let from = if starts[k] == 0 {
                    prompt.len()
                } else {
                    text_lens[starts[k] - 1]
                };
                let to = if k + 1 < starts.len() {
                    text_lens[starts[k + 1] - 1]
                } else {
                    text.len()
                };
                &text[from..to]
            };
            if let Some(k) = (0..current).rev().find(|&k| declares(stmt_text(k), &name)) {
                keep = keep.min(starts[k]);
            }
        }
        if let Some(state) = grammar.as_mut() {
            if let Err(e) = state.rollback(accepted.len() - keep) {
                grammar_unavailable = Some(e.to_string());
                grammar = None;
            }
        }
        accepted.truncate(keep);
        stranded.truncate(keep + 1);
        text_lens.truncate(keep);
        text.truncate(text_lens.last().copied().unwrap_or(prompt.len()));
        backtracks += 1;
        statement_rejections = 0;
        statement_tokens = 0;
    }
}
