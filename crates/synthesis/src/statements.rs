//! Statement-level constrained decoding through a remote model (an OpenAI-compatible server, the
//! `refinestat-openai` crate, behind [`CompletionBackend`]): each request asks
//! for one step of the program (a statement ending in `;`, a block or loop header ending in `{`,
//! a closer `}`, or the end of the program), and our side checks it with the language crate
//! before keeping it.
//!
//! Servers differ in what they do with stop texts: vLLM keeps them with
//! `include_stop_str_in_output` and names them in `stop_reason`; others cut them off and say only
//! `finish_reason: "stop"`, which also means the model ended its text; some ignore `stop`. So a
//! reply is split at every `;`, `{` and `}` into steps; a reply with none of them that stopped is
//! either a step whose stop text was cut (put back the one the parser accepts, headers preferring
//! `{`) or the end of the program. Steps after the first are kept while they pass, so a server
//! that ignores `stop` still works.
//!
//! Checks per mode, as in [`crate::decode`]: `refinestat` checks every step with
//! `check_prefix` (grammar + the six predicates, with the data) and the end with `check`;
//! `syntax` parses only; `standard` keeps everything. Predicates switched off
//! ([`DecodeConfig::without`]) reject nothing, and without `parse` no grammar goes to the server. A rejected step is drawn again with a new
//! seed; after `resamples` rejections (the spec's, at most the decoder's
//! `max_rejections_per_statement`) the last step is undone (one more for
//! each earlier failure at the same place, or back to the declaration of a name the rejections
//! blamed, as the token decoder does), up to `max_backtracks`. Tokens are the server's
//! `usage` counts (an estimate of 4 characters per token when it reports none): prompt tokens
//! of every request, completion tokens as sampled, split between accepted and rejected by the
//! characters kept.

use crate::decode::{
    blamed_name, close_text, complete_violations, declares, prefix_violations, DecodeConfig,
    Generation, StopReason, TokenCounts,
};
use crate::proposal::ProposalError;
use rand::RngCore;
use refinestat_language::{parse, parse_prefix, Data, Predicate};
use std::collections::HashMap;

/// The Lark grammar of one statement (see `grammar/statement.lark`).
pub const STATEMENT_LARK: &str = include_str!("grammar/statement.lark");
/// The GBNF grammar of one statement (see `grammar/statement.gbnf`).
pub const STATEMENT_GBNF: &str = include_str!("grammar/statement.gbnf");

/// The texts at which the server should stop: each ends a statement or opens/closes a block, so
/// one reply is one step of the program.
pub const STOP_TEXTS: [&str; 3] = [";", "{", "}"];

/// One completion request.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest<'a> {
    /// The whole text the model continues (instruction + program so far).
    pub prompt: &'a str,
    /// Completion tokens asked for, at most.
    pub max_tokens: u32,
    /// Sampling temperature.
    pub temperature: f64,
    /// The request's seed (31 bits: every server takes it).
    pub seed: u64,
    /// Whether the statement grammar may go with the request (false when the parse predicate
    /// is switched off, [`DecodeConfig::without`]).
    pub grammar: bool,
}

/// What a server answered, as far as the decoder cares.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// `choices[0].text`.
    pub text: String,
    /// `choices[0].finish_reason`: `stop` (a stop text or end of text), `length`, or absent.
    pub finish_reason: Option<String>,
    /// `choices[0].stop_reason` (vLLM): the stop text that ended the reply, when one did.
    pub stop_reason: Option<String>,
    /// `usage.prompt_tokens`, when the server reports usage.
    pub prompt_tokens: Option<usize>,
    /// `usage.completion_tokens`, when the server reports usage.
    pub completion_tokens: Option<usize>,
}

/// A remote model that writes a program one step at a time, answering [`CompletionRequest`]s:
/// the OpenAI-compatible client (`refinestat-openai`), or anything that speaks the same
/// requests. [`write_program`] does the decoding and checks every step with the language crate;
/// a backend only answers requests.
pub trait CompletionBackend: std::fmt::Debug {
    /// The text before the program in every request (see [`crate::instruction`]).
    fn instruction(&self) -> &str;
    /// Completion tokens per request, at most.
    fn max_tokens(&self) -> u32;
    /// Rejected draws of a statement before backtracking.
    fn resamples(&self) -> u32;
    /// One completion (with the backend's own retries); the error says what failed and where.
    fn complete(&mut self, request: &CompletionRequest) -> Result<Completion, ProposalError>;
}

/// One step of a reply.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    /// Text ending in a stop text.
    Step(String),
    /// The model ended the program after this text.
    End(String),
    /// Text cut off by `max_tokens`.
    Unfinished(String),
}

impl Piece {
    fn len(&self) -> usize {
        match self {
            Piece::Step(s) | Piece::End(s) | Piece::Unfinished(s) => s.len(),
        }
    }
}

/// Words that start a step ending in `{`.
const OPENERS: &[&str] = &[
    "functions",
    "data",
    "transformed",
    "parameters",
    "model",
    "generated",
    "for",
    "while",
    "if",
    "else",
];

/// A stopped reply without a stop text: the step it most likely was, by the parser.
fn infer_stop(program: &str, text: &str) -> Piece {
    let trimmed = text.trim();
    let first_word = trimmed
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("");
    let order: &[&str] = if trimmed.is_empty() {
        &["}", ""]
    } else if OPENERS.contains(&first_word) {
        &["{", ";", "}", ""]
    } else {
        &[";", "{", "}", ""]
    };
    let piece = |stop: &str| {
        if stop.is_empty() {
            Piece::End(text.to_string())
        } else {
            Piece::Step(format!("{text}{stop}"))
        }
    };
    for stop in order {
        let candidate = format!("{program}{text}{stop}");
        let parses = if stop.is_empty() {
            parse(&candidate).errors.is_empty()
        } else {
            parse_prefix(&candidate).errors.is_empty()
        };
        if parses {
            return piece(stop);
        }
    }
    // Nothing parses (standard mode keeps invalid text): an empty reply is the end of the text,
    // anything else the step its shape suggests.
    if trimmed.is_empty() {
        piece("")
    } else {
        piece(order[0])
    }
}

/// The steps of a reply to a request continuing `program`.
fn split_reply(program: &str, reply: &Completion) -> Vec<Piece> {
    let text = reply.text.as_str();
    let mut pieces = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, ';' | '{' | '}') {
            pieces.push(Piece::Step(text[start..=i].to_string()));
            start = i + 1;
        }
    }
    let rest = &text[start..];
    let cut_off = reply.finish_reason.as_deref() == Some("length");
    if let Some(stop) = reply
        .stop_reason
        .as_deref()
        .filter(|s| STOP_TEXTS.contains(s))
    {
        // The server names the stop text; it is missing unless the text ends with it.
        if !rest.is_empty() || pieces.is_empty() {
            pieces.push(Piece::Step(format!("{rest}{stop}")));
        }
        return pieces;
    }
    if !pieces.is_empty() {
        // Either the stop text was kept (nothing after it), or the server ignored `stop` and
        // `rest` is what followed the last step.
        if !rest.is_empty() {
            pieces.push(if cut_off {
                Piece::Unfinished(rest.to_string())
            } else {
                Piece::End(rest.to_string())
            });
        }
        return pieces;
    }
    if cut_off {
        return vec![Piece::Unfinished(rest.to_string())];
    }
    vec![infer_stop(program, rest)]
}

/// Tokens of a text when the server reports no usage: about 4 characters each.
fn estimate_tokens(text: &str) -> usize {
    text.chars().count().div_ceil(4).max(1)
}

/// An accepted step: where the text was before it, and its share of the reply's tokens.
struct Step {
    text_len_before: usize,
    tokens: usize,
}

/// Writes the rest of a program after `prompt` (a data block, or a kept D || P) with `backend`,
/// step by step; the server sees the instruction followed by the program so far. Server failures
/// (after the backend's retries) end the generation with [`StopReason::ModelError`].
pub fn write_program<B: CompletionBackend + ?Sized>(
    backend: &mut B,
    prompt: &str,
    data: &Data,
    config: &DecodeConfig,
    rng: &mut dyn RngCore,
) -> Generation {
    let temperature = if config.temperature > 0.0 {
        config.temperature
    } else {
        1.0
    };
    // Each rejection here is a whole statement (a request), not one token.
    let max_rejections = config
        .max_rejections_per_statement
        .min(backend.resamples() as usize);
    let mut text = prompt.to_string();
    let mut steps: Vec<Step> = Vec::new();
    let mut program_tokens = 0usize;
    let mut counts = TokenCounts::default();
    let mut backtracks = 0;
    let mut rejections = 0;
    let mut failures_at: HashMap<usize, usize> = HashMap::new();
    // A name the latest rejection at this place blamed.
    let mut blamed: Option<String> = None;
    let finish =
        |stop: StopReason, text: &str, counts: TokenCounts, backtracks: usize| Generation {
            program: text.to_string(),
            generated: text[prompt.len()..].to_string(),
            stop,
            tokens: counts,
            backtracks,
            // The server applies the grammar (when it takes one); no masks are computed here.
            masks: 0,
            grammar_unavailable: None,
            closed_after: None,
        };
    // A budget ran out: close the program at the latest statement boundary where a closing
    // passes the full check (see `DecodeConfig::close_on_budget`), or stop with `reason`.
    let out_of_budget = |reason: StopReason,
                         text: &str,
                         steps: &[Step],
                         mut counts: TokenCounts,
                         backtracks: usize| {
        if config.closes_on_budget() {
            let bases = std::iter::once(text)
                .chain(steps.iter().rev().map(|s| &text[..s.text_len_before]))
                .chain(std::iter::once(prompt));
            if let Some((closed, closing)) = close_text(config, data, bases) {
                counts.forced = estimate_tokens(&closing);
                let mut generation = finish(StopReason::Closed, &closed, counts, backtracks);
                generation.closed_after = Some(reason);
                return generation;
            }
        }
        finish(reason, text, counts, backtracks)
    };

    loop {
        if counts.sampled >= config.max_sampled_tokens
            || program_tokens >= config.max_program_tokens
        {
            return out_of_budget(StopReason::TokenBudget, &text, &steps, counts, backtracks);
        }
        let left = config.max_sampled_tokens - counts.sampled;
        let full_prompt = format!("{}{}", backend.instruction(), text);
        let request = CompletionRequest {
            prompt: &full_prompt,
            max_tokens: backend
                .max_tokens()
                .min(u32::try_from(left).unwrap_or(u32::MAX))
                .max(1),
            temperature,
            // 31 bits: every server takes it (llama.cpp reads a 32-bit seed).
            seed: rng.next_u64() >> 33,
            grammar: !config.without.contains(&Predicate::Parse),
        };
        let reply = match backend.complete(&request) {
            Ok(reply) => reply,
            Err(e) => {
                return finish(
                    StopReason::ModelError(e.to_string()),
                    &text,
                    counts,
                    backtracks,
                )
            }
        };
        let reply_tokens = reply
            .completion_tokens
            .unwrap_or_else(|| estimate_tokens(&reply.text))
            .max(1);
        counts.prompt += reply
            .prompt_tokens
            .unwrap_or_else(|| estimate_tokens(&full_prompt));
        counts.sampled += reply_tokens;

        let pieces = split_reply(&text, &reply);
        let total_chars: usize = pieces.iter().map(Piece::len).sum();
        let mut kept: Vec<(usize, usize)> = Vec::new(); // (text length before, chars)
        let mut first_rejected = false;
        let mut ended = false;
        for (i, piece) in pieces.iter().enumerate() {
            let ok = match piece {
                Piece::Step(s) => {
                    let candidate = format!("{text}{s}");
                    let violations = prefix_violations(config, &candidate, data);
                    if let Some(name) = violations.iter().find_map(|d| blamed_name(&candidate, d)) {
                        blamed = Some(name);
                    }
                    violations.is_empty()
                }
                Piece::End(s) => {
                    complete_violations(config, &format!("{text}{s}"), data).is_empty()
                }
                Piece::Unfinished(_) => false,
            };
            if !ok {
                first_rejected = i == 0;
                break;
            }
            let (Piece::Step(s) | Piece::End(s)) = piece else {
                unreachable!("unfinished pieces are never kept")
            };
            kept.push((text.len(), s.len()));
            text.push_str(s);
            if matches!(piece, Piece::End(_)) {
                ended = true;
                break;
            }
        }
        let kept_chars: usize = kept.iter().map(|k| k.1).sum();
        let accepted_tokens = if total_chars == 0 {
            if ended {
                reply_tokens
            } else {
                0
            }
        } else {
            (reply_tokens * kept_chars)
                .div_ceil(total_chars)
                .min(reply_tokens)
        };
        counts.accepted += accepted_tokens;
        counts.rejected += reply_tokens - accepted_tokens;
        let mut shared = 0;
        for (j, &(before, chars)) in kept.iter().enumerate() {
            let tokens = if j + 1 == kept.len() {
                accepted_tokens - shared
            } else {
                (accepted_tokens * chars) / kept_chars.max(1)
            };
            shared += tokens;
            program_tokens += tokens;
            steps.push(Step {
                text_len_before: before,
                tokens,
            });
        }
        if ended {
            return finish(StopReason::Completed, &text, counts, backtracks);
        }
        if !first_rejected {
            rejections = 0;
            blamed = None;
            continue;
        }
        rejections += 1;
        if rejections <= max_rejections {
            continue;
        }
        // Backtrack: undo the last step, and one more for each earlier failure here.
        if backtracks >= config.max_backtracks {
            return out_of_budget(
                StopReason::BacktrackBudget,
                &text,
                &steps,
                counts,
                backtracks,
            );
        }
        let failures = failures_at.entry(steps.len()).or_insert(0);
        *failures += 1;
        let mut keep = steps.len() - (*failures).min(steps.len());
        // Dependency-directed: a dead end blamed on a name goes back to the step declaring
        // it (e.g. a scale declared without `<lower=0>`), when that lies further back.
        if let Some(name) = blamed.take() {
            let step_text = |k: usize| {
                let end = steps.get(k + 1).map_or(text.len(), |s| s.text_len_before);
                &text[steps[k].text_len_before..end]
            };
            if let Some(k) = (0..keep).rev().find(|&k| declares(step_text(k), &name)) {
                keep = k;
            }
        }
        while steps.len() > keep {
            if let Some(step) = steps.pop() {
                text.truncate(step.text_len_before);
                program_tokens -= step.tokens;
            }
        }
        backtracks += 1;
        rejections = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str, finish: Option<&str>, stop: Option<&str>) -> Completion {
        Completion {
            text: text.to_string(),
            finish_reason: finish.map(str::to_string),
            stop_reason: stop.map(str::to_string),
            prompt_tokens: None,
            completion_tokens: None,
        }
    }

    const PROGRAM: &str = "data {\n  int<lower=0> N;\n  vector[N] y;\n}\n";

    #[test]
    fn replies_split_into_steps_whatever_the_server_does_with_stop_texts() {
        let step = |s: &str| Piece::Step(s.to_string());
        // vLLM with include_stop_str_in_output.
        assert_eq!(
            split_reply(PROGRAM, &reply("parameters {", Some("stop"), Some("{"))),
            [step("parameters {")]
        );
        // vLLM without it: the stop text is named.
        assert_eq!(
            split_reply(PROGRAM, &reply("parameters ", Some("stop"), Some("{"))),
            [step("parameters {")]
        );
        // Cut without a name: the parser decides.
        assert_eq!(
            split_reply(PROGRAM, &reply("parameters ", Some("stop"), None)),
            [step("parameters {")]
        );
        let inside = format!("{PROGRAM}parameters {{\n  real mu;");
        assert_eq!(
            split_reply(
                &inside,
                &reply("\n  real<lower=0> sigma", Some("stop"), None)
            ),
            [step("\n  real<lower=0> sigma;")]
        );
        assert_eq!(
            split_reply(&inside, &reply("\n", Some("stop"), None)),
            [step("\n}")]
        );
        let done = format!("{PROGRAM}model {{\n  y ~ normal(0, 1);\n}}");
        assert_eq!(
            split_reply(&done, &reply("\n", Some("stop"), None)),
            [Piece::End("\n".to_string())]
        );
        // A server that ignores stop texts.
        assert_eq!(
            split_reply(
                PROGRAM,
                &reply("parameters {\n  real mu;\n  real s", Some("length"), None)
            ),
            [
                step("parameters {"),
                step("\n  real mu;"),
                Piece::Unfinished("\n  real s".to_string())
            ]
        );
        assert_eq!(
            split_reply(PROGRAM, &reply("\n  real", Some("length"), None)),
            [Piece::Unfinished("\n  real".to_string())]
        );
    }
}
