//! Measures what one decoder step costs with a local transformer: a Qwen2-0.5B-sized network
//! with random weights (or a model given with `--model PATH`), ~300 tokens of context run in one
//! pass, then tokens one at a time through the key/value cache, as the decoder feeds them.
//!
//! Usage: `cargo run --release -p refinestat-local --example forward_cost --
//! [--context N] [--tokens N] [--model PATH] [--tiny]`.

use refinestat_local::LocalModel;
use refinestat_testkit::tiny::{
    measure_forward_cost, qwen2_0_5b_config, random_qwen2, write_tiny_model, TinyFamily,
};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let mut context = 300;
    let mut tokens = 32;
    let mut model_path: Option<PathBuf> = None;
    let mut tiny = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| die(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--context" => context = number("--context"),
            "--tokens" => tokens = number("--tokens"),
            "--model" => {
                model_path = Some(
                    args.next()
                        .map(PathBuf::from)
                        .unwrap_or_else(|| die("--model needs a path")),
                )
            }
            "--tiny" => tiny = true,
            other => die(&format!("unknown argument `{other}`")),
        }
    }

    let start = Instant::now();
    let _cleanup;
    let (label, mut model) = if let Some(path) = model_path {
        let model = LocalModel::load(&path, None).unwrap_or_else(|e| die(&e.to_string()));
        (path.display().to_string(), model)
    } else if tiny {
        let dir = std::env::temp_dir().join(format!("forward-cost-tiny-{}", std::process::id()));
        write_tiny_model(&dir, TinyFamily::Qwen2, 1).unwrap_or_else(|e| die(&e.to_string()));
        let model = LocalModel::load(&dir, None).unwrap_or_else(|e| die(&e.to_string()));
        _cleanup = RemoveOnDrop(dir);
        ("tiny qwen2 (hidden 64, 2 layers)".to_string(), model)
    } else {
        let model = random_qwen2(&qwen2_0_5b_config(), 1).unwrap_or_else(|e| die(&e.to_string()));
        ("Qwen2-0.5B shape, random f32 weights".to_string(), model)
    };
    eprintln!(
        "{label}: built in {:.1} s ({:?})",
        start.elapsed().as_secs_f64(),
        model.architecture()
    );
    let cost = measure_forward_cost(&mut model, context, tokens, 7)
        .unwrap_or_else(|e| die(&e.to_string()));
    println!(
        "{label}: prefill {} tokens {:.1} ms; then {:.2} ms/token over {} tokens (cached context {}..{})",
        cost.context,
        cost.prefill_ms,
        cost.per_token_ms,
        cost.tokens,
        cost.context,
        cost.context + cost.tokens
    );
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn die(message: &str) -> ! {
    eprintln!("forward_cost: {message}");
    std::process::exit(2)
}
