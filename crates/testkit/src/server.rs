//! A loopback OpenAI-compatible completions server backed by any [`ProposalModel`]: the other end
//! of the `refinestat-openai` client for tests and offline runs, with scripted failures.
//!
//! It binds `127.0.0.1:0`, answers one connection at a time on its own thread (HTTP/1.1, bodies
//! with `Content-Length`, `Connection: close` on every answer), and stops when dropped. Routes:
//! `POST .../completions` (the OpenAI completions format with `usage`) and `GET .../models`.
//!
//! A completion samples tokens from the model with the request's `temperature` (0 = greedy),
//! `seed` and `max_tokens`, stopping at the first `stop` text. Where the stop text goes is a
//! setting ([`StopHandling`]): vLLM's way (kept with `include_stop_str_in_output`, named in
//! `stop_reason`), cut without a name, or ignored. A request with a grammar field
//! (`structured_outputs.grammar`, `guided_grammar` or `grammar`) has each token checked by the
//! server's [`PrefixValidator`] before it is taken (rejected tokens lose their mass and another
//! is drawn, as a grammar mask would do), e.g. [`stan_prefix_validator`].
//!
//! The prompt is split (by [`PromptSplit`], default [`after_data_block`]) into the context the
//! model is prompted with and text it is told it already generated, so a model that reads only
//! its own generated tokens (the built-in grammar) continues the program in the prompt.

use rand::{Rng, SeedableRng};
use refinestat_proposal::{ProposalModel, TokenId};
use refinestat_synthesis::weighted_index;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// Whether a completion (second argument) may follow the prompt (first argument).
pub type PrefixValidator = Box<dyn Fn(&str, &str) -> bool + Send>;

/// Where in a prompt the model's own generated text begins (a byte offset).
pub type PromptSplit = Box<dyn Fn(&str) -> usize + Send>;

/// How the server misbehaves, for testing a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer every request.
    Normal,
    /// Read each request and never answer (the connection stays open until the server stops).
    Stall,
    /// Answer completions with HTTP 200 and a body that is not JSON.
    GarbageText,
    /// Answer completions with HTTP 200 and JSON that is not a completion.
    GarbageShape,
    /// Answer the first `k` completion requests with HTTP 500, then normally.
    FailFirst(usize),
    /// Read each request and close the connection without answering.
    Close,
    /// Answer completions with HTTP 400, as a server refusing an unknown field does.
    BadRequest,
}

/// What the server does with the request's `stop` texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopHandling {
    /// vLLM: stop at the first one, keep it when `include_stop_str_in_output` is true, name it
    /// in `choices[0].stop_reason`.
    Vllm,
    /// Stop at the first one and cut it off, naming none (OpenAI's and llama.cpp's way).
    Cut,
    /// Ignore `stop` altogether: run to end of text or `max_tokens`.
    Ignore,
}

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq)]
pub struct SeenRequest {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request path, e.g. `/v1/completions`.
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl SeenRequest {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// The offset just after the first `data { ... }` block of `prompt` (its closing `}` and the
/// newline after it), or the end of the prompt when it has none.
///
/// ```
/// use refinestat_testkit::server::after_data_block;
/// let prompt = "Write a model.\n\ndata {\n  int N;\n}\nparameters {";
/// assert_eq!(&prompt[after_data_block(prompt)..], "parameters {");
/// ```
pub fn after_data_block(prompt: &str) -> usize {
    let Some(start) = prompt.find("data {") else {
        return prompt.len();
    };
    match prompt[start..].find("\n}") {
        Some(close) => {
            let end = start + close + 2;
            if prompt[end..].starts_with('\n') {
                end + 1
            } else {
                end
            }
        }
        None => prompt.len(),
    }
}

/// A validator that keeps the Stan program in the prompt (from its `data {`) plus the completion
/// a valid prefix by the language crate's parser: a stand-in for a compiled grammar.
pub fn stan_prefix_validator() -> PrefixValidator {
    Box::new(|prompt: &str, completion: &str| {
        let program = &prompt[prompt.find("data {").unwrap_or(0)..];
        refinestat_language::parse_prefix(&format!("{program}{completion}"))
            .errors
            .is_empty()
    })
}

/// A validator that keeps the completion a prefix of the Lark grammar `lark` (e.g.
/// `refinestat_synthesis::statements::STATEMENT_LARK`), compiled by llguidance over single-byte tokens; the prompt is not
/// looked at. Errors name the grammar problem.
///
/// ```
/// use refinestat_testkit::server::lark_prefix_validator;
/// use refinestat_synthesis::statements::STATEMENT_LARK;
/// let valid = lark_prefix_validator(STATEMENT_LARK).unwrap();
/// assert!(valid("", "\n  real<lower=0> sigma;"));
/// assert!(valid("", "\nmodel {"));
/// assert!(!valid("", "\n  real sigma; real tau;"));
/// ```
pub fn lark_prefix_validator(lark: &str) -> Result<PrefixValidator, String> {
    use llguidance::api::TopLevelGrammar;
    use llguidance::toktrie::ApproximateTokEnv;
    let env = ApproximateTokEnv::single_byte_env();
    let factory = llguidance::ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
    let parser = factory
        .create_parser(TopLevelGrammar::from_lark(lark.to_string()))
        .map_err(|e| format!("the Lark grammar does not compile: {e}"))?;
    let template = Mutex::new(llguidance::Matcher::new(Ok(parser)));
    Ok(Box::new(move |_prompt: &str, completion: &str| {
        let Ok(template) = template.lock() else {
            return false;
        };
        let mut matcher = template.deep_clone();
        // Single-byte tokens: token id = byte.
        let bytes: Vec<u32> = completion.bytes().map(u32::from).collect();
        matcher
            .validate_tokens(&bytes)
            .is_ok_and(|n| n == bytes.len())
    }))
}

/// Settings of a [`CompletionServer`] before it starts.
pub struct ServerBuilder {
    model: Box<dyn ProposalModel + Send>,
    model_name: String,
    behaviour: Behaviour,
    stop_handling: StopHandling,
    validator: Option<PrefixValidator>,
    split: PromptSplit,
}

impl ServerBuilder {
    /// The name `GET /v1/models` lists (default `tiny`).
    pub fn model_name(mut self, name: &str) -> ServerBuilder {
        self.model_name = name.to_string();
        self
    }

    /// Scripted failures (see [`Behaviour`]).
    pub fn behaviour(mut self, behaviour: Behaviour) -> ServerBuilder {
        self.behaviour = behaviour;
        self
    }

    /// What the server does with stop texts (see [`StopHandling`]).
    pub fn stop_handling(mut self, stop_handling: StopHandling) -> ServerBuilder {
        self.stop_handling = stop_handling;
        self
    }

    /// Checks tokens of requests that carry a grammar (without one, grammars are not enforced).
    pub fn validator(mut self, validator: PrefixValidator) -> ServerBuilder {
        self.validator = Some(validator);
        self
    }

    /// Where a prompt is split into context and already-generated text (see [`PromptSplit`]).
    pub fn split(mut self, split: PromptSplit) -> ServerBuilder {
        self.split = split;
        self
    }

    /// Binds `127.0.0.1:0` and starts serving on a thread.
    pub fn start(self) -> std::io::Result<CompletionServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
        });
        let mut state = ServerState {
            model: self.model,
            model_name: self.model_name,
            behaviour: self.behaviour,
            stop_handling: self.stop_handling,
            validator: self.validator,
            split: self.split,
            completions: 0,
            held: Vec::new(),
            shared: Arc::clone(&shared),
        };
        let thread = std::thread::Builder::new()
            .name("completion-server".to_string())
            .spawn(move || {
                for stream in listener.incoming() {
                    if state.shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        state.serve(stream);
                    }
                }
            })?;
        Ok(CompletionServer {
            addr,
            shared,
            thread: Some(thread),
        })
    }
}

/// A running loopback server; stops when dropped.
pub struct CompletionServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    stop: AtomicBool,
    requests: Mutex<Vec<SeenRequest>>,
}

impl CompletionServer {
    /// A server for `model` with default settings: normal behaviour, vLLM stop handling, no
    /// grammar enforcement, prompts split after the data block.
    pub fn builder(model: Box<dyn ProposalModel + Send>) -> ServerBuilder {
        ServerBuilder {
            model,
            model_name: "tiny".to_string(),
            behaviour: Behaviour::Normal,
            stop_handling: StopHandling::Vllm,
            validator: None,
            split: Box::new(after_data_block),
        }
    }

    /// Starts a server for `model` with default settings.
    pub fn start(model: Box<dyn ProposalModel + Send>) -> std::io::Result<CompletionServer> {
        CompletionServer::builder(model).start()
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The API base, `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// An `openai:` spec for this server and `model`, with extra settings appended (`&k=v`).
    pub fn spec(&self, model: &str, extra: &str) -> String {
        format!("openai:{}#model={model}{extra}", self.base_url())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<SeenRequest> {
        self.shared
            .requests
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default()
    }
}

impl Drop for CompletionServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct ServerState {
    model: Box<dyn ProposalModel + Send>,
    model_name: String,
    behaviour: Behaviour,
    stop_handling: StopHandling,
    validator: Option<PrefixValidator>,
    split: PromptSplit,
    /// Completion requests so far.
    completions: usize,
    /// Connections of stalled requests, kept open until the server stops.
    held: Vec<TcpStream>,
    shared: Arc<Shared>,
}

/// Reads one request; `None` when the connection closes or the request is malformed.
fn read_request(stream: &TcpStream) -> Option<SeenRequest> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    let mut head_bytes = line.len();
    loop {
        let mut header = String::new();
        let n = reader.read_line(&mut header).ok()?;
        head_bytes += n;
        if n == 0 || head_bytes > 64 * 1024 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if length > 16 * 1024 * 1024 {
        return None;
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(SeenRequest {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn respond(mut stream: &TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        _ => "Internal Server Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream
        .write_all(head.as_bytes())
        .and_then(|_| stream.write_all(body.as_bytes()))
        .and_then(|_| stream.flush());
}

fn error_body(message: &str) -> String {
    serde_json::json!({"error": {"message": message, "type": "invalid_request_error"}}).to_string()
}

impl ServerState {
    fn serve(&mut self, stream: TcpStream) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
        let Some(request) = read_request(&stream) else {
            return;
        };
        if let Ok(mut seen) = self.shared.requests.lock() {
            seen.push(request.clone());
        }
        match self.behaviour {
            Behaviour::Stall => {
                self.held.push(stream);
                return;
            }
            Behaviour::Close => return,
            _ => {}
        }
        let route = request.path.split('?').next().unwrap_or("");
        match (request.method.as_str(), route) {
            ("GET", p) if p.ends_with("/models") => {
                let body = serde_json::json!({
                    "object": "list",
                    "data": [{"id": self.model_name, "object": "model", "owned_by": "refinestat"}],
                });
                respond(&stream, 200, &body.to_string());
            }
            ("POST", p) if p.ends_with("/completions") => {
                self.completions += 1;
                match self.behaviour {
                    Behaviour::GarbageText => {
                        return respond(&stream, 200, "<html>this is not JSON</html>");
                    }
                    Behaviour::GarbageShape => {
                        return respond(&stream, 200, r#"{"result": "ok", "choices": []}"#);
                    }
                    Behaviour::BadRequest => {
                        return respond(
                            &stream,
                            400,
                            &error_body("unrecognized request argument: guided_grammar"),
                        );
                    }
                    Behaviour::FailFirst(k) if self.completions <= k => {
                        return respond(&stream, 500, &error_body("scripted failure"));
                    }
                    _ => {}
                }
                match request.json() {
                    Some(body) => match self.complete(&body) {
                        Ok(answer) => respond(&stream, 200, &answer.to_string()),
                        Err((status, message)) => respond(&stream, status, &error_body(&message)),
                    },
                    None => respond(&stream, 400, &error_body("the body is not JSON")),
                }
            }
            _ => respond(
                &stream,
                404,
                &error_body(&format!("no route {} {}", request.method, request.path)),
            ),
        }
    }

    /// A completions answer for `body`, or an HTTP status and message.
    fn complete(&mut self, body: &serde_json::Value) -> Result<serde_json::Value, (u16, String)> {
        let bad = |m: &str| (400, m.to_string());
        let prompt = match &body["prompt"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(items) if items.len() == 1 => items[0]
                .as_str()
                .ok_or_else(|| bad("`prompt` must be a string"))?
                .to_string(),
            _ => return Err(bad("`prompt` must be a string")),
        };
        let max_tokens = body["max_tokens"].as_u64().unwrap_or(16) as usize;
        let temperature = body["temperature"].as_f64().unwrap_or(1.0);
        if temperature < 0.0 {
            return Err(bad("`temperature` must be >= 0"));
        }
        let seed = body["seed"].as_u64().unwrap_or(self.completions as u64);
        let stops: Vec<String> = match &body["stop"] {
            serde_json::Value::String(s) => vec![s.clone()],
            serde_json::Value::Array(items) => items
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .filter(|s| !s.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        let include_stop = body["include_stop_str_in_output"]
            .as_bool()
            .unwrap_or(false);
        let has_grammar = body["structured_outputs"]["grammar"].is_string()
            || body["guided_grammar"].is_string()
            || body["grammar"].is_string();

        let split = (self.split)(&prompt).min(prompt.len());
        let split = if prompt.is_char_boundary(split) {
            split
        } else {
            prompt.len()
        };
        let prompt_ids = self.model.encode_prompt(&prompt[..split]);
        let mut ids: Vec<TokenId> = self.model.vocabulary().encode(&prompt[split..]);
        let prompt_tokens = prompt_ids.len() + ids.len();
        let vocab_len = self.model.vocabulary().len();
        let eos = self.model.vocabulary().eos();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut logprobs = vec![f64::NEG_INFINITY; vocab_len];
        let mut weights = vec![0.0; vocab_len];
        let mut completion = String::new();
        let mut sampled = 0;
        let mut finish = "length";
        let mut stop_reason: Option<String> = None;
        while sampled < max_tokens {
            logprobs.fill(f64::NEG_INFINITY);
            self.model
                .next_token_logprobs(&prompt_ids, &ids, &mut logprobs)
                .map_err(|e| (500, e.to_string()))?;
            let max_lp = logprobs
                .iter()
                .copied()
                .filter(|x| x.is_finite())
                .fold(f64::NEG_INFINITY, f64::max);
            for (w, &lp) in weights.iter_mut().zip(&logprobs) {
                *w = if !lp.is_finite() {
                    0.0
                } else if temperature == 0.0 {
                    if lp == max_lp {
                        1.0
                    } else {
                        0.0
                    }
                } else {
                    ((lp - max_lp) / temperature).exp()
                };
            }
            // Draw, dropping tokens the grammar stand-in refuses.
            let mut chosen = None;
            for _ in 0..256 {
                let total: f64 = weights.iter().sum();
                if total <= 0.0 {
                    break;
                }
                let target = if temperature == 0.0 {
                    0.0
                } else {
                    rng.random::<f64>() * total
                };
                let Some(token) = weighted_index(&weights, target) else {
                    break;
                };
                let id = token as TokenId;
                let allowed = id == eos
                    || !has_grammar
                    || self.validator.as_ref().is_none_or(|valid| {
                        valid(
                            &prompt,
                            &format!("{completion}{}", self.model.vocabulary().text(id)),
                        )
                    });
                if allowed {
                    chosen = Some(id);
                    break;
                }
                weights[token] = 0.0;
            }
            sampled += 1;
            let id = chosen.unwrap_or(eos);
            if id == eos {
                finish = "stop";
                break;
            }
            ids.push(id);
            completion.push_str(self.model.vocabulary().text(id));
            if self.stop_handling == StopHandling::Ignore {
                continue;
            }
            let first_stop = stops
                .iter()
                .filter_map(|s| completion.find(s.as_str()).map(|at| (at, s)))
                .min_by_key(|(at, _)| *at);
            if let Some((at, stop)) = first_stop {
                let keep = self.stop_handling == StopHandling::Vllm && include_stop;
                completion.truncate(if keep { at + stop.len() } else { at });
                finish = "stop";
                if self.stop_handling == StopHandling::Vllm {
                    stop_reason = Some(stop.clone());
                }
                break;
            }
        }
        let mut choice = serde_json::json!({
            "index": 0,
            "text": completion,
            "logprobs": null,
            "finish_reason": finish,
        });
        if self.stop_handling == StopHandling::Vllm {
            choice["stop_reason"] = serde_json::json!(stop_reason);
        }
        Ok(serde_json::json!({
            "id": format!("cmpl-{}", self.completions),
            "object": "text_completion",
            "created": 0,
            "model": body["model"].as_str().unwrap_or(&self.model_name),
            "choices": [choice],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": sampled,
                "total_tokens": prompt_tokens + sampled,
            },
        }))
    }
}
