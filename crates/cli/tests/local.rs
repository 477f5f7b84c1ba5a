//! `generate --lm local:DIR` end to end on a tiny random-weight transformer the test writes
//! (tokenizer trained here, weights from a seed): every program passes `check` with the data
//! (the model's own, or closed by the decoder when the budget ran out), and a broken model
//! directory is a clear error naming the file. Needs the `local` feature
//! (`cargo test -p refinestat --features local`).

#![cfg(feature = "local")]

mod common;

use common::{refinestat, scratch, stderr};
use refinestat_testkit::tiny::{write_tiny_model, TinyFamily};

#[test]
fn a_random_weight_model_writes_only_valid_programs() {
    let dir = scratch("local", "tiny");
    let model = dir.join("model");
    write_tiny_model(&model, TinyFamily::Qwen2, 7).unwrap();
    let out_dir = dir.join("out");
    let spec = format!("local:{}", model.display());
    let out = refinestat(&[
        "generate",
        "--dataset",
        "eight_schools",
        "--lm",
        &spec,
        "--mode",
        "refinestat",
        "--grammar-bounds",
        "compact",
        "--max-tokens",
        "400",
        "--n",
        "2",
        "--output-dir",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = std::fs::read_to_string(out_dir.join("generate.jsonl")).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    let data = common::root().join("datasets/eight_schools.json");
    for row in &rows {
        assert_eq!(row["lm"], spec.as_str());
        assert!(row["tokens"]["prompt"].as_u64().unwrap() > 50, "{row}");
        let stop = row["stop_reason"].as_str().unwrap();
        assert!(stop == "completed" || stop == "closed", "{row}");
        assert_eq!(row["closed_after"].is_null(), stop == "completed", "{row}");
        assert_eq!(row["check"]["valid"], true, "{row}");
        let program = out_dir.join(row["program"].as_str().unwrap());
        let check = refinestat(&[
            "check",
            program.to_str().unwrap(),
            "--data",
            data.to_str().unwrap(),
        ]);
        assert_eq!(check.status.code(), Some(0), "{}", stderr(&check));
    }
}

#[test]
fn a_model_directory_without_a_tokenizer_is_a_clear_error() {
    let dir = scratch("local", "no-tokenizer");
    let model = dir.join("model");
    write_tiny_model(&model, TinyFamily::Llama, 1).unwrap();
    std::fs::remove_file(model.join("tokenizer.json")).unwrap();
    let out = refinestat(&[
        "generate",
        "--dataset",
        "gp",
        "--lm",
        &format!("local:{}", model.display()),
        "--n",
        "1",
        "--output-dir",
        dir.join("out").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("tokenizer.json"), "{err}");
}
