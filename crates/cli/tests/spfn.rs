//! `refinestat spfn corpus` and `spfn stats` end to end: a run killed with SIGKILL mid-way
//! resumes to the same bytes as an uninterrupted run; a corrupt shard is named and skipped.

mod common;

use common::{refinestat, stderr, stdout};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

const ARGS: [&str; 10] = [
    "spfn",
    "corpus",
    "--programs",
    "40",
    "--datasets-per-program",
    "20",
    "--seed",
    "5",
    "--programs-per-shard",
    "2",
];

fn shards(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".rss"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_run_killed_with_sigkill_resumes_to_the_bytes_of_an_uninterrupted_run() {
    let dir = common::scratch("spfn", "kill");
    let full = dir.join("full");
    let killed = dir.join("killed");
    let out = refinestat(
        &[
            &ARGS[..],
            &["--out", full.to_str().unwrap(), "--jobs", "2", "--quiet"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = shards(&full);
    assert_eq!(reference.len(), 20);

    let mut child = Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .args(ARGS)
        .args(["--out", killed.to_str().unwrap(), "--jobs", "1", "--quiet"])
        .current_dir(common::root())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once some but not all shards exist.
    let start = std::time::Instant::now();
    loop {
        let n = if killed.exists() {
            shards(&killed).len()
        } else {
            0
        };
        if n >= 3 || start.elapsed().as_secs() > 300 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    let partial = shards(&killed).len();
    assert!(
        (3..20).contains(&partial),
        "{partial} shards before the kill"
    );
    // A half-written unit may have left a .tmp file; the resume removes it.
    let out = refinestat(
        &[
            &ARGS[..],
            &["--out", killed.to_str().unwrap(), "--jobs", "2", "--quiet"],
        ]
        .concat(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("{partial} already present")),
        "{}",
        stdout(&out)
    );
    assert_eq!(shards(&killed), reference);
    assert!(std::fs::read_dir(&killed)
        .unwrap()
        .flatten()
        .all(|e| !e.file_name().to_string_lossy().ends_with(".tmp")));

    // Stats over the corpus, then with one shard corrupted.
    let out = refinestat(&["spfn", "stats", full.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    for heading in [
        "by family",
        "by source",
        "by split",
        "by rows",
        "by label",
        "rejected draws by reason",
    ] {
        assert!(text.contains(heading), "{text}");
    }
    // Every pair redrawn from its seed.
    let out = refinestat(&["spfn", "stats", full.to_str().unwrap(), "--reproduce"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("reproduced "))
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[1], words[3], "{line}");
    assert!(words[1].parse::<u64>().unwrap() > 100, "{line}");

    let victim = full.join("shard-000003.rss");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes.truncate(bytes.len() - 7);
    std::fs::write(&victim, bytes).unwrap();
    let out = refinestat(&["spfn", "stats", full.to_str().unwrap()]);
    assert!(out.status.success());
    assert!(
        stderr(&out).contains("warning: corrupt shard")
            && stderr(&out).contains("shard-000003.rss"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bad_flags_are_clear_errors() {
    let out = refinestat(&[
        "spfn",
        "corpus",
        "--programs",
        "2",
        "--datasets-per-program",
        "2",
        "--out",
        "/tmp/x",
        "--shard",
        "3/2",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--shard 3/2"), "{}", stderr(&out));
    let out = refinestat(&["spfn", "stats", "/nonexistent/corpus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/corpus"));
    // Shares of the meta-prior outside [0, 1], or adding up to more than 1.
    for shares in [["1.5", "0"], ["0.7", "0.4"]] {
        let out = refinestat(&[
            "spfn",
            "corpus",
            "--programs",
            "2",
            "--datasets-per-program",
            "2",
            "--out",
            "/tmp/x",
            "--family-share",
            shares[0],
            "--mixture-share",
            shares[1],
        ]);
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr(&out).contains("--family-share"), "{}", stderr(&out));
    }
}

#[test]
fn the_meta_prior_shares_are_pinned_with_the_corpus() {
    let dir = common::scratch("spfn", "shares");
    let run = |family: &str| {
        refinestat(&[
            "spfn",
            "corpus",
            "--programs",
            "6",
            "--datasets-per-program",
            "2",
            "--out",
            dir.to_str().unwrap(),
            "--quiet",
            "--family-share",
            family,
        ])
    };
    let out = run("0.5");
    assert!(out.status.success(), "{}", stderr(&out));
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    assert!(config.contains("\"family\": 0.5"), "{config}");
    // The same directory with another share is another corpus: refused, not mixed.
    let out = run("0.2");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("other parameters"),
        "{}",
        stderr(&out)
    );
    assert!(run("0.5").status.success());
}
