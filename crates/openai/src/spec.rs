//! The `--lm openai:URL#model=NAME[&grammar=lark|gbnf|none][&timeout=S][&retries=N][&max_tokens=N][&resamples=N]`
//! spec of the OpenAI-compatible backend, parsed into [`OpenAiSpec`] with an error naming the
//! spec and what is wrong with it.

use refinestat_proposal::ProposalError;
use std::time::Duration;

/// Which grammar field a request carries, for the server to constrain each statement with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrammarKind {
    /// A Lark grammar as vLLM takes it: `structured_outputs.grammar` and the older
    /// `guided_grammar` (the default).
    Lark,
    /// A GBNF grammar as llama.cpp's server takes it: `grammar`.
    Gbnf,
    /// No grammar field: every check happens on our side.
    None,
}

impl GrammarKind {
    /// The name in a spec (`grammar=lark`).
    pub fn as_str(self) -> &'static str {
        match self {
            GrammarKind::Lark => "lark",
            GrammarKind::Gbnf => "gbnf",
            GrammarKind::None => "none",
        }
    }
}

/// A parsed `openai:` spec.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAiSpec {
    /// The API base, e.g. `http://127.0.0.1:8000/v1`, without a trailing slash; requests go to
    /// `{base_url}/completions`.
    pub base_url: String,
    /// The `model` field of every request.
    pub model: String,
    /// The statement grammar sent with each request (`grammar=`).
    pub grammar: GrammarKind,
    /// Limit on each HTTP request, connect to last byte (default 60 s).
    pub timeout: Duration,
    /// Extra attempts after a failed request (connection error, timeout, HTTP 5xx or 429,
    /// malformed JSON); default 3.
    pub retries: u32,
    /// Completion tokens per request at most: one statement rarely needs more (default 96).
    pub max_tokens: u32,
    /// Rejected draws of one statement before the decoder backtracks (default 8; at most the
    /// decoder's `max_rejections_per_statement`). Each is a request, so fewer than the token
    /// decoder's rejections.
    pub resamples: u32,
}

/// The most retries a spec may ask for (each failure waits a little longer, so more would only
/// hide a dead server).
pub const MAX_RETRIES: u32 = 20;

impl OpenAiSpec {
    /// Parses `openai:URL#model=NAME&...`.
    ///
    /// ```
    /// use refinestat_openai::{GrammarKind, OpenAiSpec};
    /// let spec = OpenAiSpec::parse("openai:http://127.0.0.1:8000/v1/#model=qwen&grammar=gbnf&timeout=2.5").unwrap();
    /// assert_eq!(spec.base_url, "http://127.0.0.1:8000/v1");
    /// assert_eq!(spec.model, "qwen");
    /// assert_eq!(spec.grammar, GrammarKind::Gbnf);
    /// assert_eq!(spec.timeout.as_secs_f64(), 2.5);
    /// assert_eq!(spec.retries, 3);
    /// assert!(OpenAiSpec::parse("openai:https://api.example.com/v1#model=x").is_err());
    /// ```
    pub fn parse(spec: &str) -> Result<OpenAiSpec, ProposalError> {
        let invalid = |problem: String| ProposalError::InvalidSpec {
            spec: spec.to_string(),
            problem,
        };
        let rest = spec
            .strip_prefix("openai:")
            .ok_or_else(|| invalid("it does not start with `openai:`".to_string()))?;
        let (url, fragment) = rest
            .split_once('#')
            .ok_or_else(|| invalid("no model given: write `openai:URL#model=NAME`".to_string()))?;
        let base_url = url.trim_end_matches('/');
        if base_url.starts_with("https://") {
            return Err(invalid(
                "https is not supported: this build has no TLS (ureq without TLS features); \
                 use an http:// URL, e.g. a server on 127.0.0.1 or behind an SSH tunnel"
                    .to_string(),
            ));
        }
        let Some(authority) = base_url.strip_prefix("http://") else {
            return Err(invalid(format!(
                "the URL `{url}` must start with http:// (e.g. http://127.0.0.1:8000/v1)"
            )));
        };
        let host = authority.split('/').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(invalid(format!("the URL `{url}` names no host")));
        }
        if let Some((_, port)) = host.rsplit_once(':').filter(|_| !host.ends_with(']')) {
            if port.parse::<u16>().is_err() {
                return Err(invalid(format!(
                    "the port `{port}` of `{url}` is not a number from 0 to 65535"
                )));
            }
        }
        if base_url.chars().any(|c| c.is_whitespace() || c == '?') {
            return Err(invalid(format!(
                "the URL `{url}` has spaces or a query string"
            )));
        }
        let mut parsed = OpenAiSpec {
            base_url: base_url.to_string(),
            model: String::new(),
            grammar: GrammarKind::Lark,
            timeout: Duration::from_secs(60),
            retries: 3,
            max_tokens: 96,
            resamples: 8,
        };
        let mut seen: Vec<&str> = Vec::new();
        for pair in fragment.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(format!("`{pair}` is not KEY=VALUE")))?;
            if seen.contains(&key) {
                return Err(invalid(format!("`{key}` is given twice")));
            }
            seen.push(key);
            match key {
                "model" => {
                    if value.is_empty() {
                        return Err(invalid("`model=` names no model".to_string()));
                    }
                    parsed.model = value.to_string();
                }
                "grammar" => {
                    parsed.grammar = match value {
                        "lark" => GrammarKind::Lark,
                        "gbnf" => GrammarKind::Gbnf,
                        "none" => GrammarKind::None,
                        other => {
                            return Err(invalid(format!(
                                "unknown grammar `{other}` (expected lark, gbnf or none)"
                            )))
                        }
                    }
                }
                "timeout" => {
                    let secs: f64 = value.parse().ok().filter(|s: &f64| *s > 0.0 && s.is_finite() && *s <= 86_400.0).ok_or_else(|| {
                        invalid(format!("timeout `{value}` is not a positive number of seconds (at most 86400)"))
                    })?;
                    parsed.timeout = Duration::from_secs_f64(secs);
                }
                "retries" => {
                    parsed.retries = value
                        .parse()
                        .ok()
                        .filter(|r| *r <= MAX_RETRIES)
                        .ok_or_else(|| {
                            invalid(format!(
                                "retries `{value}` is not a whole number from 0 to {MAX_RETRIES}"
                            ))
                        })?;
                }
                "max_tokens" => {
                    parsed.max_tokens = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=8192).contains(n))
                        .ok_or_else(|| {
                            invalid(format!(
                                "max_tokens `{value}` is not a whole number from 1 to 8192"
                            ))
                        })?;
                }
                "resamples" => {
                    parsed.resamples = value
                        .parse()
                        .ok()
                        .filter(|n| *n <= 1000)
                        .ok_or_else(|| {
                            invalid(format!(
                                "resamples `{value}` is not a whole number from 0 to 1000"
                            ))
                        })?;
                }
                other => {
                    return Err(invalid(format!(
                        "unknown setting `{other}` (expected model, grammar, timeout, retries, max_tokens or resamples)"
                    )))
                }
            }
        }
        if parsed.model.is_empty() {
            return Err(invalid(
                "no model given: write `openai:URL#model=NAME`".to_string(),
            ));
        }
        Ok(parsed)
    }

    /// The completions endpoint.
    pub fn completions_url(&self) -> String {
        format!("{}/completions", self.base_url)
    }
}
