//! End-to-end runs of `refinestat generate` and `synth` with `--lm openai:URL#model=NAME` against
//! a loopback OpenAI-compatible server started in the test (backed by the built-in model): valid
//! programs, token accounting, the request carrying the key and the description, and a dead
//! server ending the run with a clear error (exit 2) instead of waiting out every program.

//! Needs the `openai` feature (`cargo test -p refinestat --features openai`).

#![cfg(feature = "openai")]

use refinestat_language::check;
use refinestat_synthesis::datasets::dataset;
use refinestat_synthesis::BuiltinModel;
use refinestat_testkit::server::{stan_prefix_validator, Behaviour, CompletionServer};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod common;

fn refinestat_with_key(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .args(args)
        .current_dir(common::root())
        .env("OPENAI_API_KEY", "sk-cli-test")
        .output()
        .expect("the refinestat binary runs")
}

fn server(behaviour: Behaviour) -> CompletionServer {
    let data = dataset("eight_schools").unwrap();
    CompletionServer::builder(Box::new(BuiltinModel::new(&data)))
        .behaviour(behaviour)
        .validator(stan_prefix_validator())
        .start()
        .unwrap()
}

const DESCRIBE: &str = "coaching effects in eight schools";

#[test]
fn generate_writes_valid_programs_through_an_openai_compatible_server() {
    let server = server(Behaviour::Normal);
    let dir = common::scratch("openai", "generate");
    let lm = server.spec("tiny", "&timeout=20");
    let out = refinestat_with_key(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &lm,
        "--describe",
        DESCRIBE,
        "--n",
        "2",
        "--seed",
        "3",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let data = dataset("eight_schools").unwrap();
    let text = std::fs::read_to_string(dir.join("generate.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["lm"], lm.as_str());
        assert_eq!(r["stop_reason"], "completed", "{r}");
        assert_eq!(r["check"]["valid"], true, "{r}");
        let t = &r["tokens"];
        assert_eq!(
            t["sampled"].as_u64().unwrap(),
            t["accepted"].as_u64().unwrap() + t["rejected"].as_u64().unwrap()
        );
        assert!(t["prompt"].as_u64().unwrap() > 0);
        let program = std::fs::read_to_string(dir.join(format!("program-{i}.stan"))).unwrap();
        assert!(check(&program, Some(&data)).is_empty(), "{program}");
    }
    let requests = server.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(request.header("authorization"), Some("Bearer sk-cli-test"));
        let body = request.json().unwrap();
        assert_eq!(body["model"], "tiny");
        assert!(body["prompt"].as_str().unwrap().contains(DESCRIBE));
    }
}

#[test]
fn a_stalling_server_ends_generate_and_synth_with_a_clear_error() {
    let server = server(Behaviour::Stall);
    let dir = common::scratch("openai", "stall");
    let lm = server.spec("tiny", "&timeout=0.3&retries=1");
    let start = Instant::now();
    let out = refinestat_with_key(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &lm,
        "--n",
        "5",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let stderr = common::stderr(&out);
    let expected = format!(
        "server at {} did not answer within 0.3 s (2 attempts)",
        server.base_url()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert!(start.elapsed() < Duration::from_secs(10));
    // The failed program is recorded with the error; the other four were not attempted.
    let text = std::fs::read_to_string(dir.join("generate.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert_eq!(record["stop_reason"], "model_error");
    assert!(record["error"].as_str().unwrap().contains(&expected));
    assert_eq!(server.requests().len(), 2);

    let synth_dir = common::scratch("openai", "stall-synth");
    let out = refinestat_with_key(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--lm",
        &lm,
        "--rmax",
        "5",
        "--output-dir",
        synth_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    assert!(common::stderr(&out).contains(&expected));
    let usage = common::read_json(&synth_dir.join("token_usage.json"));
    assert_eq!(usage["stop"], "model_error");
    assert_eq!(usage["attempts"], 1);
}

#[test]
fn synth_finds_a_program_through_the_server() {
    let server = server(Behaviour::Normal);
    let dir = common::scratch("openai", "synth");
    let lm = server.spec("tiny", "");
    let out = refinestat_with_key(&[
        "synth",
        "--dataset",
        "eight_schools",
        "--lm",
        &lm,
        "--chains",
        "1",
        "--warmup",
        "150",
        "--draws",
        "150",
        "--rmax",
        "2",
        "--beta",
        "1",
        "--k",
        "0",
        "--output-dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let best = std::fs::read_to_string(dir.join("best_program.stan")).unwrap();
    let data = dataset("eight_schools").unwrap();
    assert!(check(&best, Some(&data)).is_empty(), "{best}");
    let usage = common::read_json(&dir.join("token_usage.json"));
    assert!(usage["tokens"]["sampled"].as_u64().unwrap() > 0);
}
