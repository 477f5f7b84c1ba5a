//! The OpenAI-compatible backend against the loopback server: programs written statement by
//! statement through a server backed by the built-in model (valid in refinestat mode whatever
//! the server does with stop texts, tokens counted, the request carrying the instruction, data
//! block and grammar), budgets, likelihood resampling in the refinement loop, and the failure
//! modes (stalls, garbage, HTTP 500s, closed and refused connections, bad specs).

use refinestat_language::{check, parse, Data, Predicate};
use refinestat_openai::{GrammarKind, OpenAiModel, OpenAiSpec};
use refinestat_synthesis::datasets::dataset;
use refinestat_synthesis::statements::{CompletionRequest, STATEMENT_GBNF, STATEMENT_LARK};
use refinestat_synthesis::{
    data_block, instruction, program_rng, refine, Assessment, AttemptKind, BuiltinModel,
    DecodeConfig, Fitter, Generation, Mode, ProgramWriter, ProposalError, ProposalModel, Proposer,
    RefineConfig, RefineStop, StopReason, UniformModel,
};
use refinestat_testkit::server::{
    lark_prefix_validator, stan_prefix_validator, Behaviour, CompletionServer, StopHandling,
};
use std::time::{Duration, Instant};

const DESCRIBE: &str = "test scores of students in eight schools";

fn eight_schools() -> Data {
    dataset("eight_schools").unwrap()
}

fn builtin_server(data: &Data, stop: StopHandling) -> CompletionServer {
    CompletionServer::builder(Box::new(BuiltinModel::new(data)))
        .stop_handling(stop)
        .validator(stan_prefix_validator())
        .start()
        .unwrap()
}

fn client(server: &CompletionServer, extra: &str) -> OpenAiModel {
    OpenAiModel::from_spec(&server.spec("tiny", extra), Some(DESCRIBE))
        .unwrap()
        .with_api_key(Some("sk-test".to_string()))
}

fn write(model: &mut OpenAiModel, data: &Data, config: &DecodeConfig, index: u64) -> Generation {
    let mut rng = program_rng(1, index);
    model.write(&data_block(data), data, config, &mut rng)
}

fn refinestat() -> DecodeConfig {
    DecodeConfig {
        mode: Mode::Refinestat,
        ..DecodeConfig::default()
    }
}

fn assert_counted(g: &Generation) {
    let t = g.tokens;
    assert!(t.prompt > 0 && t.sampled > 0, "{t:?}");
    assert_eq!(t.sampled, t.accepted + t.rejected, "{t:?}");
}

/// What a binary built with `--features openai` resolves a `--lm` spec to (the CLI's backends):
/// `openai:` specs here, everything else in the synthesis crate.
fn proposal_from_spec(
    spec: &str,
    data: &Data,
    describe: Option<&str>,
) -> Result<Proposer, ProposalError> {
    if spec.split_once(':').map_or(spec, |(kind, _)| kind) == "openai" {
        Ok(Proposer::Remote(Box::new(OpenAiModel::from_spec(
            spec, describe,
        )?)))
    } else {
        refinestat_synthesis::proposal_from_spec(spec, data, describe)
    }
}

#[test]
fn refinestat_programs_through_the_server_are_valid_and_the_request_carries_prompt_and_grammar() {
    let data = eight_schools();
    let server = builtin_server(&data, StopHandling::Vllm);
    let mut model = client(&server, "");
    let mut programs = Vec::new();
    for index in 0..3 {
        let g = write(&mut model, &data, &refinestat(), index);
        assert_eq!(g.stop, StopReason::Completed, "{}", g.program);
        assert!(g.program.starts_with(&data_block(&data)));
        assert_eq!(g.program, format!("{}{}", data_block(&data), g.generated));
        assert!(check(&g.program, Some(&data)).is_empty(), "{}", g.program);
        assert!(parse(&g.program).program.model.is_some());
        assert_counted(&g);
        programs.push(g.program);
    }
    let requests = server.requests();
    assert!(requests.len() >= 6, "one request per statement");
    let expected_start = format!("{}{}", instruction(Some(DESCRIBE)), data_block(&data));
    for request in &requests {
        assert_eq!(request.method, "POST");
        assert_eq!(request.path, "/v1/completions");
        assert_eq!(request.header("authorization"), Some("Bearer sk-test"));
        let body = request.json().expect("a JSON body");
        assert_eq!(body["model"], "tiny");
        let prompt = body["prompt"].as_str().unwrap();
        assert!(prompt.starts_with(&expected_start), "{prompt}");
        assert!(prompt.contains(DESCRIBE));
        assert_eq!(body["stop"], serde_json::json!([";", "{", "}"]));
        assert_eq!(body["structured_outputs"]["grammar"], STATEMENT_LARK);
        assert_eq!(body["guided_grammar"], STATEMENT_LARK);
        assert!(body.get("grammar").is_none());
        assert_eq!(body["temperature"], 1.0);
        assert!(body["seed"].as_u64().is_some());
        assert!(body["max_tokens"].as_u64().unwrap() <= 96);
    }
    // Same seeds, same programs.
    let mut again = client(&server, "");
    for (index, program) in programs.iter().enumerate() {
        assert_eq!(
            &write(&mut again, &data, &refinestat(), index as u64).program,
            program
        );
    }
}

#[test]
fn programs_are_valid_whether_the_server_keeps_cuts_or_ignores_stop_texts() {
    let data = eight_schools();
    for stop in [StopHandling::Cut, StopHandling::Ignore] {
        let server = builtin_server(&data, stop);
        let mut model = client(&server, "&grammar=gbnf");
        for index in 0..2 {
            let g = write(&mut model, &data, &refinestat(), index);
            assert_eq!(g.stop, StopReason::Completed, "{stop:?}: {}", g.program);
            assert!(check(&g.program, Some(&data)).is_empty(), "{}", g.program);
            assert_counted(&g);
        }
        let body = server.requests()[0].json().unwrap();
        assert_eq!(body["grammar"], STATEMENT_GBNF);
        assert!(body.get("guided_grammar").is_none());
    }
}

#[test]
fn syntax_mode_parses_and_standard_mode_keeps_what_the_server_writes() {
    let data = eight_schools();
    let server = CompletionServer::start(Box::new(BuiltinModel::new(&data))).unwrap();
    let mut model = client(&server, "&grammar=none");
    for mode in [Mode::Syntax, Mode::Standard] {
        let config = DecodeConfig {
            mode,
            ..DecodeConfig::default()
        };
        let g = write(&mut model, &data, &config, 0);
        assert_eq!(g.stop, StopReason::Completed, "{mode:?}: {}", g.program);
        if mode == Mode::Syntax {
            assert!(parse(&g.program).errors.is_empty(), "{}", g.program);
        }
        if mode == Mode::Standard {
            assert_eq!(g.tokens.rejected, 0, "standard mode keeps everything");
        }
    }
    let body = server.requests()[0].json().unwrap();
    for field in ["grammar", "guided_grammar", "structured_outputs"] {
        assert!(body.get(field).is_none());
    }
}

#[test]
fn rejected_statements_are_resampled_backtracked_and_counted_within_the_budgets() {
    let data = eight_schools();
    // Uniform over the built-in vocabulary: almost nothing it writes is a valid statement.
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let server = CompletionServer::start(Box::new(UniformModel::new(vocabulary))).unwrap();
    let mut model = client(&server, "&grammar=none&max_tokens=8");
    let config = DecodeConfig {
        max_sampled_tokens: 400,
        max_rejections_per_statement: 3,
        ..refinestat()
    };
    let g = write(&mut model, &data, &config, 0);
    // The budget runs out and the program is closed at its last accepted statement.
    assert_eq!(g.stop, StopReason::Closed);
    assert!(g.closed_after.is_some());
    assert!(g.tokens.forced > 0);
    assert!(g.tokens.rejected > 0);
    assert!(g.backtracks > 0);
    assert!(g.tokens.sampled <= 400, "{:?}", g.tokens);
    assert_counted(&g);
    assert!(refinestat_language::check(&g.program, Some(&data)).is_empty());
    // Without closing, what was kept is still a valid prefix.
    let open = DecodeConfig {
        close_on_budget: false,
        ..config
    };
    let g = write(&mut model, &data, &open, 0);
    assert!(!g.stop.is_program(), "{:?}", g.stop);
    assert!(refinestat_language::check_prefix(&g.program, Some(&data)).is_empty());
    // Budgets of the built-in path bound the remote one too.
    let tight = DecodeConfig {
        max_sampled_tokens: 30,
        ..refinestat()
    };
    let server = builtin_server(&data, StopHandling::Vllm);
    let g = write(&mut client(&server, ""), &data, &tight, 0);
    assert_eq!(g.stop, StopReason::Closed);
    assert_eq!(g.closed_after, Some(StopReason::TokenBudget));
    assert!(refinestat_language::check(&g.program, Some(&data)).is_empty());
    assert!(g.tokens.sampled <= 30, "{:?}", g.tokens);
}

struct LowScores;

impl Fitter for LowScores {
    fn fit(&mut self, _program: &str, _data: &Data) -> Assessment {
        Assessment {
            score: 2,
            elpd_loo: Some(-10.0),
            summary: None,
            error: None,
        }
    }
}

#[test]
fn the_refinement_loop_resamples_the_likelihood_after_the_kept_prior_through_the_server() {
    let data = eight_schools();
    let server = builtin_server(&data, StopHandling::Vllm);
    let mut proposer = proposal_from_spec(&server.spec("tiny", ""), &data, Some(DESCRIBE)).unwrap();
    assert!(matches!(proposer, Proposer::Remote(_)));
    let config = RefineConfig {
        rmax: 3,
        ..RefineConfig::default()
    };
    let out = refine(
        &mut proposer,
        &data,
        &mut LowScores,
        &config,
        &mut |_, _| {},
    );
    let kinds: Vec<AttemptKind> = out.attempts.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        [
            AttemptKind::Full,
            AttemptKind::Likelihood,
            AttemptKind::Likelihood
        ]
    );
    let kept = &out.attempts[0].program
        [..refinestat_synthesis::likelihood_start(&out.attempts[0].program).unwrap()];
    for a in &out.attempts[1..] {
        assert!(a.program.starts_with(kept), "{}", a.program);
    }
    // The server saw the kept D || P after the instruction.
    let prefix = format!("{}{kept}", instruction(Some(DESCRIBE)));
    assert!(server
        .requests()
        .iter()
        .any(|r| r.json().unwrap()["prompt"].as_str().unwrap() == prefix));
    assert_eq!(out.stop, RefineStop::NoValidProgram);
}

fn probe(model: &mut OpenAiModel) -> Result<refinestat_synthesis::Completion, ProposalError> {
    model.complete(&CompletionRequest {
        prompt: "data {\n}\n",
        max_tokens: 4,
        temperature: 1.0,
        seed: 1,
        grammar: true,
    })
}

fn tiny_server(behaviour: Behaviour) -> CompletionServer {
    let data = eight_schools();
    CompletionServer::builder(Box::new(BuiltinModel::new(&data)))
        .behaviour(behaviour)
        .start()
        .unwrap()
}

#[test]
fn a_stalling_server_times_out_after_the_retries_with_a_clear_error() {
    let server = tiny_server(Behaviour::Stall);
    let mut model = client(&server, "&timeout=0.3&retries=2");
    let start = Instant::now();
    let err = probe(&mut model).unwrap_err().to_string();
    let elapsed = start.elapsed();
    assert!(
        err.contains(&format!(
            "server at {} did not answer within 0.3 s (3 attempts)",
            server.base_url()
        )),
        "{err}"
    );
    assert!(elapsed >= Duration::from_millis(850), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert_eq!(model.http_attempts(), 3);
    assert_eq!(server.requests().len(), 3);
    // Through the writer, the generation ends with the same error.
    let data = eight_schools();
    let g = write(
        &mut client(&server, "&timeout=0.2&retries=0"),
        &data,
        &refinestat(),
        0,
    );
    assert!(
        matches!(&g.stop, StopReason::ModelError(e) if e.contains("did not answer within 0.2 s (1 attempt)")),
        "{:?}",
        g.stop
    );
    assert_eq!(g.program, data_block(&data));
}

#[test]
fn garbage_answers_fail_after_the_retries_naming_the_problem() {
    let server = tiny_server(Behaviour::GarbageText);
    let mut model = client(&server, "&retries=2");
    let err = probe(&mut model).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "server at {} returned invalid JSON (3 attempts)",
            server.base_url()
        )),
        "{err}"
    );
    assert!(err.contains("<html>this is not JSON</html>"), "{err}");
    assert_eq!(server.requests().len(), 3);

    let server = tiny_server(Behaviour::GarbageShape);
    let mut model = client(&server, "&retries=1");
    let err = probe(&mut model).unwrap_err().to_string();
    assert!(
        err.contains("is not a completion (no choices[0].text) (2 attempts)"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn http_500s_are_retried_and_a_server_that_recovers_succeeds() {
    let server = tiny_server(Behaviour::FailFirst(2));
    let mut model = client(&server, "&retries=3");
    let reply = probe(&mut model).unwrap();
    assert_eq!(server.requests().len(), 3);
    assert!(reply.completion_tokens.is_some_and(|n| n >= 1));
    assert_eq!(model.http_attempts(), 3);

    let server = tiny_server(Behaviour::FailFirst(10));
    let err = probe(&mut client(&server, "&retries=1"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("returned HTTP 500 (2 attempts)"), "{err}");
    assert!(err.contains("scripted failure"), "{err}");
}

#[test]
fn a_refused_request_is_not_retried_and_the_error_suggests_another_grammar_setting() {
    let server = tiny_server(Behaviour::BadRequest);
    let err = probe(&mut client(&server, "&retries=3"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("rejected the request with HTTP 400")
            && err.contains("unrecognized request argument: guided_grammar")
            && err.contains("&grammar=none"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn closed_and_refused_connections_fail_with_the_url() {
    let server = tiny_server(Behaviour::Close);
    let mut model = client(&server, "&retries=1");
    let err = probe(&mut model).unwrap_err().to_string();
    assert!(
        err.contains(&format!(
            "could not talk to server at {}",
            server.base_url()
        )) && err.contains("(2 attempts)"),
        "{err}"
    );
    assert_eq!(server.requests().len(), 2);

    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let spec = format!("openai:http://127.0.0.1:{port}/v1#model=x&retries=0&timeout=2");
    let start = Instant::now();
    let err = probe(&mut OpenAiModel::from_spec(&spec, None).unwrap())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!(
            "could not talk to server at http://127.0.0.1:{port}/v1"
        )) && err.contains("refused")
            && err.contains("(1 attempt)"),
        "{err}"
    );
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn the_server_lists_its_model_and_refuses_bad_requests() {
    use std::io::{Read, Write};
    let server = tiny_server(Behaviour::Normal);
    let ask = |request: &str| {
        let mut stream = std::net::TcpStream::connect(server.addr()).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        answer
    };
    let models = ask("GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(models.starts_with("HTTP/1.1 200"), "{models}");
    assert!(models.contains(r#""id":"tiny""#), "{models}");
    let bad = ask("POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
    assert!(bad.starts_with("HTTP/1.1 400"), "{bad}");
    let missing = ask("GET /v2/nothing HTTP/1.1\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

#[test]
fn specs_parse_with_defaults_and_malformed_ones_say_what_is_wrong() {
    let spec =
        OpenAiSpec::parse("openai:http://127.0.0.1:8000/v1#model=Qwen/Qwen2.5-0.5B").unwrap();
    assert_eq!(spec.base_url, "http://127.0.0.1:8000/v1");
    assert_eq!(
        spec.completions_url(),
        "http://127.0.0.1:8000/v1/completions"
    );
    assert_eq!(spec.model, "Qwen/Qwen2.5-0.5B");
    assert_eq!(spec.grammar, GrammarKind::Lark);
    assert_eq!(spec.timeout, Duration::from_secs(60));
    assert_eq!(spec.retries, 3);
    let spec = OpenAiSpec::parse(
        "openai:http://localhost:11434/v1#model=llama3&grammar=none&timeout=5&retries=0&max_tokens=32&resamples=2",
    )
    .unwrap();
    assert_eq!(
        (
            spec.grammar,
            spec.timeout,
            spec.retries,
            spec.max_tokens,
            spec.resamples
        ),
        (GrammarKind::None, Duration::from_secs(5), 0, 32, 2)
    );
    let data = eight_schools();
    for (spec, problem) in [
        ("openai:https://api.openai.com/v1#model=gpt", "no TLS"),
        ("openai:http://127.0.0.1:8000/v1", "no model given"),
        ("openai:http://127.0.0.1:8000/v1#model=", "names no model"),
        ("openai:ftp://host/v1#model=x", "must start with http://"),
        ("openai:http://:80/v1#model=x", "names no host"),
        ("openai:http://h:99999/v1#model=x", "port `99999`"),
        (
            "openai:http://h/v1#model=x&grammar=regex",
            "unknown grammar `regex`",
        ),
        ("openai:http://h/v1#model=x&timeout=0", "timeout `0`"),
        ("openai:http://h/v1#model=x&timeout=soon", "timeout `soon`"),
        ("openai:http://h/v1#model=x&retries=-1", "retries `-1`"),
        ("openai:http://h/v1#model=x&max_tokens=0", "max_tokens `0`"),
        (
            "openai:http://h/v1#model=x&resamples=many",
            "resamples `many`",
        ),
        (
            "openai:http://h/v1#model=x&temperature=2",
            "unknown setting `temperature`",
        ),
        (
            "openai:http://h/v1#model=x&model=y",
            "`model` is given twice",
        ),
        ("openai:http://h/v1#model", "`model` is not KEY=VALUE"),
    ] {
        let err = proposal_from_spec(spec, &data, None).unwrap_err();
        assert!(
            matches!(err, ProposalError::InvalidSpec { .. }),
            "{spec}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains(spec) && message.contains(problem),
            "{spec}: {message}"
        );
    }
}

#[test]
fn the_builtin_proposer_writes_exactly_what_the_decoder_writes() {
    let data = eight_schools();
    let mut proposer = proposal_from_spec("builtin", &data, None).unwrap();
    assert!(matches!(proposer, Proposer::Tokens(_)));
    let mut model = BuiltinModel::new(&data);
    for index in 0..3 {
        let mut a = program_rng(7, index);
        let mut b = program_rng(7, index);
        let direct = refinestat_synthesis::generate(
            &mut model,
            &data_block(&data),
            &data,
            &refinestat(),
            &mut a,
        );
        let written = proposer.write(&data_block(&data), &data, &refinestat(), &mut b);
        assert_eq!(direct, written);
    }
}

#[test]
fn the_statement_grammar_compiles_with_llguidance_and_admits_each_step_of_a_program() {
    let valid = lark_prefix_validator(STATEMENT_LARK).unwrap();
    let data = eight_schools();
    let model = BuiltinModel::new(&data);
    for (program, _) in model.programs().take(50) {
        let mut start = 0;
        for (i, c) in program.char_indices() {
            if matches!(c, ';' | '{' | '}') {
                let step = &program[start..=i];
                assert!(valid("", step), "{step:?}");
                start = i + 1;
            }
        }
    }
    assert!(valid("", ""), "the end of the program");
    assert!(valid("", "\n}"));
    for bad in ["real mu; real tau;", "}}", "model { mu", ";"] {
        assert!(!valid("", bad), "{bad:?}");
    }
    assert!(lark_prefix_validator("start: (").is_err());
    // The server enforcing it through llguidance still leads to valid programs.
    let server = CompletionServer::builder(Box::new(BuiltinModel::new(&data)))
        .stop_handling(StopHandling::Cut)
        .validator(valid)
        .start()
        .unwrap();
    let g = write(&mut client(&server, ""), &data, &refinestat(), 0);
    assert_eq!(g.stop, StopReason::Completed, "{}", g.program);
    assert!(check(&g.program, Some(&data)).is_empty());
}

/// Writes one fixed program step by step (each token is a whole step), declaring the scale
/// `sigma` without `<lower=0>` nine times in ten: the mistake the check catches only later, at
/// the likelihood.
struct SloppyScale {
    vocabulary: refinestat_synthesis::Vocabulary,
}

const SLOPPY_STEPS: [&str; 7] = [
    "",
    "parameters {",
    "\n  real sigma;",
    "\n  real<lower=0> sigma;",
    "\n}",
    "\nmodel {",
    "\n  y ~ normal(0, sigma);",
];

impl ProposalModel for SloppyScale {
    fn vocabulary(&self) -> &refinestat_synthesis::Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[u32],
        generated: &[u32],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        logprobs.fill(f64::NEG_INFINITY);
        match generated.len() {
            0 => logprobs[1] = 0.0,
            1 => {
                logprobs[2] = 0.9f64.ln();
                logprobs[3] = 0.1f64.ln();
            }
            2 | 5 => logprobs[4] = 0.0,
            3 => logprobs[5] = 0.0,
            4 => logprobs[6] = 0.0,
            _ => logprobs[0] = 0.0,
        }
        Ok(())
    }
}

#[test]
fn a_statement_blamed_on_a_declaration_backtracks_to_that_declaration() {
    let data = Data::from_json_str(r#"{"N": 3, "y": [0.5, -1.0, 2.0]}"#).unwrap();
    let vocabulary = refinestat_synthesis::Vocabulary::new(
        SLOPPY_STEPS.iter().map(|s| s.to_string()).collect(),
        0,
    );
    let server = CompletionServer::start(Box::new(SloppyScale { vocabulary })).unwrap();
    let mut model = client(&server, "&grammar=none&resamples=1");
    let mut backtracks = 0;
    for index in 0..4 {
        let g = write(&mut model, &data, &refinestat(), index);
        assert_eq!(g.stop, StopReason::Completed, "{}", g.program);
        assert!(g.program.contains("real<lower=0> sigma;"), "{}", g.program);
        assert!(!g.program.contains("real sigma;"));
        assert_counted(&g);
        backtracks += g.backtracks;
    }
    assert!(backtracks > 0);
    // Each time the unbounded declaration was kept, the likelihood was refused, and the decoder
    // went straight back to before the declaration: the step after it was asked for only once.
    let prompts: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json().unwrap()["prompt"].as_str().unwrap().to_string())
        .collect();
    let kept = prompts
        .iter()
        .filter(|p| p.ends_with("real sigma;"))
        .count();
    let after = prompts
        .iter()
        .filter(|p| p.ends_with("real sigma;\n}"))
        .count();
    assert_eq!(kept, after, "{prompts:#?}");
    assert_eq!(backtracks, kept);
}

/// With the parse predicate switched off (`--without parse`) no grammar goes with a request,
/// whatever the spec says; with it on, the spec's grammar does.
#[test]
fn parse_switched_off_sends_no_grammar() {
    let data = eight_schools();
    for (without, sent) in [(vec![], true), (vec![Predicate::Parse], false)] {
        let server = CompletionServer::start(Box::new(BuiltinModel::new(&data))).unwrap();
        let mut model = client(&server, "&grammar=lark");
        let config = DecodeConfig {
            without,
            ..refinestat()
        };
        let g = write(&mut model, &data, &config, 0);
        assert!(g.stop.is_program(), "{}", g.program);
        for request in server.requests() {
            let body = request.json().unwrap();
            assert_eq!(body.get("guided_grammar").is_some(), sent, "{body}");
            assert_eq!(body.get("structured_outputs").is_some(), sent, "{body}");
        }
    }
}
