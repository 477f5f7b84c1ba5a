//! The prompt writer on the five shipped datasets: exact data blocks, and each one accepted by
//! the checker together with its data.

use refinestat_language::check;
use refinestat_synthesis::data_block;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};

fn block(name: &str) -> String {
    data_block(&dataset(name).expect("shipped dataset"))
}

#[test]
fn eight_schools() {
    assert_eq!(
        block("eight_schools"),
        "data {\n  int<lower=0> J;\n  vector<lower=0>[J] sigma;\n  vector[J] y;\n}\n"
    );
}

#[test]
fn dugongs() {
    assert_eq!(
        block("dugongs"),
        "data {\n  int<lower=0> N;\n  vector<lower=0>[N] Y;\n  vector<lower=0>[N] x;\n}\n"
    );
}

#[test]
fn glm() {
    assert_eq!(
        block("glm"),
        "data {\n  int<lower=0> nyears;\n  array[nyears] int<lower=0> C;\n  array[nyears] int<lower=0> N;\n  vector[nyears] year;\n}\n"
    );
}

#[test]
fn gp() {
    assert_eq!(
        block("gp"),
        "data {\n  int<lower=0> N;\n  array[N] int<lower=0> k;\n  vector[N] x;\n  vector<lower=0>[N] y;\n}\n"
    );
}

#[test]
fn surgical() {
    assert_eq!(
        block("surgical"),
        "data {\n  int<lower=0> N;\n  array[N] int<lower=0> n;\n  array[N] int<lower=0> r;\n}\n"
    );
}

#[test]
fn every_data_block_checks_with_its_data() {
    for name in DATASET_NAMES {
        let data = dataset(name).unwrap();
        let diags = check(&data_block(&data), Some(&data));
        assert!(diags.is_empty(), "{name}: {diags:?}");
    }
}

#[test]
fn binary_matrix_and_unmatched_sizes() {
    let data = refinestat_language::Data::from_json_str(
        r#"{"K": 2, "z": [0, 1, 1], "X": [[0.5, 1], [2, -3], [1, 1]], "t": -4}"#,
    )
    .unwrap();
    assert_eq!(
        data_block(&data),
        "data {\n  int<lower=0> K;\n  int t;\n  matrix[3, K] X;\n  array[3] int<lower=0, upper=1> z;\n}\n"
    );
}
