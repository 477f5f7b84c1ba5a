//! Writes a tiny random-weight transformer for `--lm local:DIR`: a byte-level BPE tokenizer
//! trained on the repository's Stan programs and the five data blocks, random weights from a
//! seed. The model knows nothing; it is the adversarial proposal for measuring how the decoder's
//! constraints alone make programs valid.
//!
//! ```text
//! cargo run --release -p refinestat-local --example tiny_model -- DIR [llama|qwen2|gemma] [SEED] [--gguf]
//! ```
//! With `--gguf`, DIR/model.gguf (Q8_0) and DIR/tokenizer.json are written instead of
//! config.json + model.safetensors (llama and qwen2 only).

use refinestat_testkit::tiny::{write_tiny_gguf, write_tiny_model, TinyFamily};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let gguf = args.iter().any(|a| a == "--gguf");
    args.retain(|a| a != "--gguf");
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: tiny_model DIR [llama|qwen2|gemma] [SEED] [--gguf]");
        return ExitCode::from(2);
    };
    let family = match args.get(1).map(String::as_str).unwrap_or("qwen2") {
        "llama" => TinyFamily::Llama,
        "qwen2" => TinyFamily::Qwen2,
        "gemma" => TinyFamily::Gemma,
        other => {
            eprintln!("unknown family `{other}` (expected llama, qwen2 or gemma)");
            return ExitCode::from(2);
        }
    };
    let seed = match args.get(2).map(|s| s.parse::<u64>()) {
        None => 1,
        Some(Ok(s)) => s,
        Some(Err(e)) => {
            eprintln!("invalid seed: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let written = if gguf {
        write_tiny_gguf(&dir.join("model.gguf"), family, seed)
    } else {
        write_tiny_model(&dir, family, seed)
    };
    match written {
        Ok(()) => {
            eprintln!(
                "wrote a tiny random {} model (seed {seed}) to {}",
                family.as_str(),
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::from(2)
        }
    }
}
