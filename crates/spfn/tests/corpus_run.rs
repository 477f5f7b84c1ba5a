//! A corpus run end to end (library level): same seed same bytes whatever `--jobs`; every
//! stored pair reproduces bit for bit from its seed; a corrupt shard is skipped by `stats` with
//! its name and rewritten by the next run.

use refinestat_spfn::corpus::{self, reproduce};
use refinestat_spfn::{shard, CorpusConfig, MetaPrior, RunOptions, SplitConfig};
use std::collections::BTreeMap;
use std::path::Path;

fn cfg() -> CorpusConfig {
    CorpusConfig::new(12, 6, 42, Some(3), SplitConfig::default_config())
}

fn run(dir: &Path, jobs: usize) -> corpus::CorpusReport {
    let prior = MetaPrior::default_prior().unwrap();
    corpus::run(
        &prior,
        &cfg(),
        &RunOptions {
            out: dir.to_path_buf(),
            jobs,
            shard: None,
        },
        &|_| {},
    )
    .unwrap()
}

fn shard_bytes(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    corpus::shard_files(dir)
        .unwrap()
        .into_iter()
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

#[test]
fn same_seed_same_bytes_and_every_pair_reproduces() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ra = run(a.path(), 1);
    let rb = run(b.path(), 2);
    assert_eq!(ra.units_total, 4);
    assert!(ra.records_written > 40, "{} records", ra.records_written);
    assert_eq!(shard_bytes(a.path()), shard_bytes(b.path()));
    let mut n = 0;
    for p in corpus::shard_files(a.path()).unwrap() {
        let (_, records) = shard::read(&p).unwrap();
        for r in records {
            let (data, params) = reproduce(&r).unwrap();
            assert_eq!(
                serde_json::to_string(&data).unwrap(),
                serde_json::to_string(&r.data).unwrap()
            );
            assert_eq!(
                serde_json::to_string(&params).unwrap(),
                serde_json::to_string(&r.params).unwrap()
            );
            assert!(!r.tokens.is_empty());
            let split = SplitConfig::default_config();
            let family = &r.labels["family"];
            if split.heldout_families.contains(family) {
                assert_eq!(r.split, "heldout-family");
            } else if r.split == "heldout-range" {
                let noise = &r.labels["noise"];
                assert!(r.params[noise].as_f64().unwrap() > split.heldout_noise_above);
            } else {
                assert!(["train", "validation", "test"].contains(&r.split.as_str()));
            }
            assert!(r.labels.contains_key("family") && r.labels.contains_key("likelihood"));
            n += 1;
        }
    }
    assert_eq!(n, rb.records_written);
    // A rerun writes nothing.
    let again = run(a.path(), 2);
    assert_eq!((again.units_written, again.units_skipped), (0, 4));
}

#[test]
fn a_corrupt_shard_is_skipped_with_its_name_and_rewritten_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let before = shard_bytes(dir.path());
    let full = corpus::stats(dir.path()).unwrap();
    let victim = corpus::shard_files(dir.path()).unwrap()[1].clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&victim, &bytes).unwrap();
    let st = corpus::stats(dir.path()).unwrap();
    assert_eq!(st.skipped.len(), 1);
    assert!(
        st.skipped[0].contains(&victim.display().to_string()),
        "{:?}",
        st.skipped
    );
    assert!(st.records < full.records);
    let report = run(dir.path(), 2);
    assert_eq!(report.units_written, 1);
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("shard-000001.rss")),
        "{:?}",
        report.warnings
    );
    assert_eq!(shard_bytes(dir.path()), before);
    assert!(victim.with_extension("rss.corrupt").exists());
}

#[test]
fn reproduce_all_redraws_every_pair_and_names_one_that_differs() {
    let dir = tempfile::tempdir().unwrap();
    let written = run(dir.path(), 2).records_written;
    let ok = corpus::reproduce_all(dir.path(), 2).unwrap();
    assert_eq!(ok.checked, written);
    assert!(ok.mismatches.is_empty(), "{:?}", ok.mismatches);
    // One stored seed changed, the shard rewritten with valid checksums.
    let path = corpus::shard_files(dir.path()).unwrap()[2].clone();
    let (summary, mut records) = shard::read(&path).unwrap();
    records[0].seed ^= 1;
    shard::write(&path, &summary, &records).unwrap();
    let bad = corpus::reproduce_all(dir.path(), 1).unwrap();
    assert_eq!(bad.checked, written);
    assert_eq!(bad.mismatches.len(), 1, "{:?}", bad.mismatches);
    assert!(
        bad.mismatches[0].contains("shard-000002.rss") && bad.mismatches[0].contains("record 1 "),
        "{}",
        bad.mismatches[0]
    );
}

#[test]
fn another_runs_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 1);
    let prior = MetaPrior::default_prior().unwrap();
    let other = CorpusConfig::new(12, 6, 43, Some(3), SplitConfig::default_config());
    let err = corpus::run(
        &prior,
        &other,
        &RunOptions {
            out: dir.path().to_path_buf(),
            jobs: 1,
            shard: None,
        },
        &|_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("other parameters"), "{err}");
}
