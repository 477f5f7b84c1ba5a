//! Measures the OpenAI-compatible backend against the loopback server backed by the built-in
//! model, next to the token-level decoder on the same model: per dataset and stop-text handling
//! (vLLM keeps them, others cut or ignore them), how many refinestat-mode programs complete and
//! check, requests per program, tokens and time. Usage: `openai_loopback [N]` (default 10).

use refinestat_language::check;
use refinestat_openai::OpenAiModel;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{
    data_block, program_rng, BuiltinModel, DecodeConfig, Generation, Mode, ProgramWriter,
    StopReason,
};
use refinestat_testkit::server::{stan_prefix_validator, CompletionServer, StopHandling};
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let config = DecodeConfig {
        mode: Mode::Refinestat,
        ..DecodeConfig::default()
    };
    println!(
        "{:<14} {:<8} {:>6} {:>9} {:>8} {:>8} {:>9} {:>8}",
        "dataset", "path", "valid", "requests", "sampled", "rejected", "prompt", "ms/prog"
    );
    for name in DATASET_NAMES {
        let data = dataset(name).expect("a shipped dataset");
        let prompt = data_block(&data);
        let report = |path: &str, gens: &[Generation], requests: usize, ms: f64| {
            let valid = gens
                .iter()
                .filter(|g| {
                    g.stop == StopReason::Completed && check(&g.program, Some(&data)).is_empty()
                })
                .count();
            let mean = |f: &dyn Fn(&Generation) -> usize| {
                gens.iter().map(f).sum::<usize>() as f64 / gens.len().max(1) as f64
            };
            println!(
                "{name:<14} {path:<8} {:>6} {:>9.1} {:>8.1} {:>8.1} {:>9.0} {:>8.1}",
                format!("{valid}/{}", gens.len()),
                requests as f64 / gens.len().max(1) as f64,
                mean(&|g| g.tokens.sampled),
                mean(&|g| g.tokens.rejected),
                mean(&|g| g.tokens.prompt),
                ms / gens.len().max(1) as f64,
            );
        };
        let mut model = BuiltinModel::new(&data);
        let start = Instant::now();
        let gens: Vec<Generation> = (0..n)
            .map(|i| model.write(&prompt, &data, &config, &mut program_rng(1, i)))
            .collect();
        report("tokens", &gens, 0, start.elapsed().as_secs_f64() * 1e3);
        for (label, stop) in [
            ("vllm", StopHandling::Vllm),
            ("cut", StopHandling::Cut),
            ("ignore", StopHandling::Ignore),
        ] {
            let server = CompletionServer::builder(Box::new(BuiltinModel::new(&data)))
                .stop_handling(stop)
                .validator(stan_prefix_validator())
                .start()
                .expect("a loopback server");
            let mut client =
                OpenAiModel::from_spec(&server.spec("tiny", ""), None).expect("a valid spec");
            let start = Instant::now();
            let gens: Vec<Generation> = (0..n)
                .map(|i| client.write(&prompt, &data, &config, &mut program_rng(1, i)))
                .collect();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            report(label, &gens, client.http_attempts(), ms);
        }
    }
}
