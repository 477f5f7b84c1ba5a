//! The OpenAI-compatible backend (`--lm openai:URL#model=NAME`): programs written statement by
//! statement by a completions server (vLLM, llama.cpp's server, Ollama), with every statement
//! checked on our side.
//!
//! - [`OpenAiSpec`]: the spec, `openai:http://HOST:PORT/v1#model=NAME` with optional
//!   `&grammar=lark|gbnf|none` (default `lark`), `&timeout=SECONDS` (default 60, fractions
//!   allowed), `&retries=N` (default 3), `&max_tokens=N` (per request, default 96) and
//!   `&resamples=N` (rejected draws of a statement before backtracking, default 8). Plain HTTP
//!   only: this build has no TLS. The API key comes from `OPENAI_API_KEY` when it is set.
//! - [`OpenAiModel`]: the client. Each request is `POST {URL}/completions` with the instruction
//!   (`refinestat_synthesis::instruction`) followed by the program so far, stop texts `;`, `{`, `}`, the
//!   temperature, a seed drawn from the caller's random stream, and a statement grammar where
//!   the server takes one (vLLM `structured_outputs.grammar` + `guided_grammar` for `lark`,
//!   llama.cpp `grammar` for `gbnf`). The decoding itself is the synthesis crate's statement
//!   writer (`refinestat_synthesis::statements`), which this client serves as a
//!   [`CompletionBackend`] (and is a `ProgramWriter` through it).
//!
//! This crate is compiled into the binary only with its cargo feature (`--features openai`). The
//! loopback OpenAI-compatible server the tests talk to is test kit (`refinestat-testkit`).
//!
//! The HTTP side: one `POST {URL}/completions` with bounded retries, and the parts of the response the statement decoder needs.
//!
//! A request fails over to the next attempt on a connection error, a timeout, HTTP 5xx or 429,
//! or a body that is not the completions JSON; the waits between attempts double from 50 ms and
//! stop at 400 ms, so a dead server costs about `timeout x (retries + 1)`. Other 4xx answers are
//! the request's fault and end at once. The final error names the URL, the problem and the
//! number of attempts.

#![warn(missing_docs)]

mod spec;

pub use spec::{GrammarKind, OpenAiSpec, MAX_RETRIES};

use rand::RngCore;
use refinestat_language::Data;
use refinestat_proposal::ProposalError;
use refinestat_synthesis::statements::{STATEMENT_GBNF, STATEMENT_LARK, STOP_TEXTS};
use refinestat_synthesis::{
    instruction, write_program, Completion, CompletionBackend, CompletionRequest, DecodeConfig,
    Generation, ProgramWriter,
};
use std::time::Duration;

/// A client of an OpenAI-compatible completions server that writes programs statement by
/// statement (see the crate documentation).
#[derive(Debug)]
pub struct OpenAiModel {
    spec: OpenAiSpec,
    instruction: String,
    api_key: Option<String>,
    agent: ureq::Agent,
    http_attempts: usize,
}

/// Why one attempt failed.
enum Failure {
    Timeout,
    Connect(String),
    Status(u16, String),
    BadJson(String, String),
    BadShape(String),
}

impl Failure {
    fn retryable_status(code: u16) -> bool {
        code >= 500 || code == 429 || code == 408
    }
}

/// The first `n` characters of a body, on one line, for error messages.
fn excerpt(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let trimmed = one_line.trim();
    match trimmed.char_indices().nth(160) {
        Some((i, _)) => format!("{}...", &trimmed[..i]),
        None => trimmed.to_string(),
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0}")
    } else {
        format!("{s}")
    }
}

/// The parts of a completions response, or why the JSON has the wrong shape.
fn parse_completion(value: &serde_json::Value) -> Option<Completion> {
    let choice = value.get("choices")?.get(0)?;
    let text = choice.get("text")?.as_str()?.to_string();
    let string = |v: Option<&serde_json::Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    let usage = value.get("usage");
    let count = |key: &str| {
        usage
            .and_then(|u| u.get(key))
            .and_then(serde_json::Value::as_u64)
            .map(|n| n as usize)
    };
    Some(Completion {
        text,
        finish_reason: string(choice.get("finish_reason")),
        stop_reason: string(choice.get("stop_reason")),
        prompt_tokens: count("prompt_tokens"),
        completion_tokens: count("completion_tokens"),
    })
}

impl OpenAiModel {
    /// A client for `spec`; `describe` (a sentence about the data) goes into the instruction.
    /// The API key comes from `OPENAI_API_KEY` when it is set. Nothing is sent yet.
    pub fn new(spec: OpenAiSpec, describe: Option<&str>) -> OpenAiModel {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(spec.timeout))
            .http_status_as_error(false)
            .build();
        OpenAiModel {
            instruction: instruction(describe),
            api_key: std::env::var("OPENAI_API_KEY")
                .ok()
                .filter(|k| !k.is_empty()),
            agent: ureq::Agent::new_with_config(config),
            spec,
            http_attempts: 0,
        }
    }

    /// Parses an `openai:` spec and makes its client.
    pub fn from_spec(spec: &str, describe: Option<&str>) -> Result<OpenAiModel, ProposalError> {
        Ok(OpenAiModel::new(OpenAiSpec::parse(spec)?, describe))
    }

    /// Replaces the API key (`None`: send no `Authorization` header).
    pub fn with_api_key(mut self, key: Option<String>) -> OpenAiModel {
        self.api_key = key;
        self
    }

    /// The spec the client was made from.
    pub fn spec(&self) -> &OpenAiSpec {
        &self.spec
    }

    /// The text before the program in every prompt.
    pub fn instruction(&self) -> &str {
        &self.instruction
    }

    /// HTTP attempts made so far, retries included.
    pub fn http_attempts(&self) -> usize {
        self.http_attempts
    }

    /// The JSON body of a request.
    pub fn request_body(&self, request: &CompletionRequest) -> serde_json::Value {
        let mut body = serde_json::json!({
            "model": self.spec.model,
            "prompt": request.prompt,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
            "n": 1,
            "stream": false,
            "stop": STOP_TEXTS,
            // vLLM: keep the stop text in the reply; other servers ignore it, and the decoder
            // then puts the stop text back itself.
            "include_stop_str_in_output": true,
        });
        match self.spec.grammar {
            // The parse predicate is switched off: the server samples without a grammar.
            _ if !request.grammar => {}
            GrammarKind::Lark => {
                body["structured_outputs"] = serde_json::json!({ "grammar": STATEMENT_LARK });
                body["guided_grammar"] = serde_json::json!(STATEMENT_LARK);
            }
            GrammarKind::Gbnf => body["grammar"] = serde_json::json!(STATEMENT_GBNF),
            GrammarKind::None => {}
        }
        body
    }

    /// One completion, with the spec's retries. The error names the URL and the problem.
    pub fn complete(&mut self, request: &CompletionRequest) -> Result<Completion, ProposalError> {
        let body = self.request_body(request).to_string();
        let url = self.spec.completions_url();
        let attempts = self.spec.retries as usize + 1;
        let mut last = Failure::Timeout;
        for attempt in 0..attempts {
            if attempt > 0 {
                let wait = Duration::from_millis(50 << (attempt - 1).min(3));
                std::thread::sleep(wait);
            }
            self.http_attempts += 1;
            match self.attempt(&url, &body) {
                Ok(completion) => return Ok(completion),
                Err(Failure::Status(code, text)) if !Failure::retryable_status(code) => {
                    let hint = if code == 400 && self.spec.grammar != GrammarKind::None {
                        " (a server that takes no grammar field may need `&grammar=none` or \
                         `&grammar=gbnf` in the spec)"
                    } else {
                        ""
                    };
                    return Err(ProposalError::Backend(format!(
                        "server at {} rejected the request with HTTP {code}: {}{hint}",
                        self.spec.base_url,
                        excerpt(&text)
                    )));
                }
                Err(failure) => last = failure,
            }
        }
        let base = &self.spec.base_url;
        let n = if attempts == 1 {
            "1 attempt".to_string()
        } else {
            format!("{attempts} attempts")
        };
        Err(ProposalError::Backend(match last {
            Failure::Timeout => format!(
                "server at {base} did not answer within {} s ({n})",
                seconds(self.spec.timeout)
            ),
            Failure::Connect(e) => format!("could not talk to server at {base}: {e} ({n})"),
            Failure::Status(code, text) => format!(
                "server at {base} returned HTTP {code} ({n}): {}",
                excerpt(&text)
            ),
            Failure::BadJson(e, text) => format!(
                "server at {base} returned invalid JSON ({n}): {e}; the body starts `{}`",
                excerpt(&text)
            ),
            Failure::BadShape(text) => format!(
                "server at {base} returned JSON that is not a completion (no choices[0].text) ({n}): `{}`",
                excerpt(&text)
            ),
        }))
    }

    fn attempt(&self, url: &str, body: &str) -> Result<Completion, Failure> {
        let mut request = self
            .agent
            .post(url)
            .header("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let classify = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            ureq::Error::Io(io)
                if matches!(
                    io.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                Failure::Timeout
            }
            other => Failure::Connect(other.to_string()),
        };
        let mut response = request.send(body).map_err(classify)?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().map_err(classify)?;
        if !(200..300).contains(&status) {
            return Err(Failure::Status(status, text));
        }
        let value: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Failure::BadJson(e.to_string(), text.clone()))?;
        parse_completion(&value).ok_or(Failure::BadShape(text))
    }
}

impl CompletionBackend for OpenAiModel {
    fn instruction(&self) -> &str {
        &self.instruction
    }

    fn max_tokens(&self) -> u32 {
        self.spec.max_tokens
    }

    fn resamples(&self) -> u32 {
        self.spec.resamples
    }

    fn complete(&mut self, request: &CompletionRequest) -> Result<Completion, ProposalError> {
        OpenAiModel::complete(self, request)
    }
}

/// Writes the rest of a program after `prompt` (a data block, or a kept D || P), step by step,
/// with the synthesis crate's statement writer ([`write_program`]).
impl ProgramWriter for OpenAiModel {
    fn write(
        &mut self,
        prompt: &str,
        data: &Data,
        config: &DecodeConfig,
        rng: &mut dyn RngCore,
    ) -> Generation {
        write_program(self, prompt, data, config, rng)
    }
}
