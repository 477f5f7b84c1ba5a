//! `experiment --shard I/N`, `--emit-slurm` and `--merge`: a grid run as 4 shards into one
//! output directory, then merged, gives the same analysis files as the grid run in one process
//! (byte for byte; in the two CSVs that hold each cell's wall-clock seconds, every other
//! column), and a shard killed in the middle of a cell and run again loses nothing.
//!
//! The shards run the emitted sbatch script: here with bash, one process per array task
//! (always), and on a real Slurm as a job array, a task cancelled with `scancel` and
//! resubmitted (only with `REFINESTAT_SLURM_TEST=1`, which .ci/run sets after
//! `.ci/slurm/start.sh` has started munged, slurmctld and slurmd; skipped otherwise).

mod common;

use common::{refinestat, root, scratch, stderr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// 2 datasets x 3 seeds = 6 cells, counted from 0: shards 0/4 to 3/4 hold cells {0, 4},
/// {1, 5}, {2} and {3}.
fn grid(dir: &Path) -> Vec<String> {
    [
        "experiment",
        "--seeds",
        "1-3",
        "--datasets",
        "eight_schools,dugongs",
        "--chains",
        "2",
        "--warmup",
        "100",
        "--draws",
        "100",
        "--rmax",
        "3",
        "--beta",
        "1",
        "--k",
        "3",
        "--output-dir",
        dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run(args: &[String]) -> Output {
    refinestat(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

fn with(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = grid(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn ok(out: &Output, what: &str) {
    assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
}

/// Shard 0/4's second cell: dugongs seed 2 (cell 4).
fn shard0_second_cell(dir: &Path) -> PathBuf {
    dir.join("builtin/refinestat/dugongs/seed_2")
}

/// Shard 0/4's first cell: eight_schools seed 1 (cell 0).
fn shard0_first_cell(dir: &Path) -> PathBuf {
    dir.join("builtin/refinestat/eight_schools/seed_1")
}

/// The files outside the cells (seed_N/) and the Slurm logs, by path relative to `dir`.
fn analysis_files(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if path.is_dir() {
                if !name.starts_with("seed_") && name != "slurm" {
                    walk(base, &path, out);
                }
            } else {
                out.push(path.strip_prefix(base).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The two CSVs whose last column is a cell's wall-clock seconds.
const TIMED: [&str; 2] = [
    "analysis/all_seeds_best_programs_summary.csv",
    "analysis/best_programs_summary.csv",
];

/// Every line without its last field (the header's must be `wall_s`).
fn without_wall_s(text: &str) -> String {
    assert!(text.lines().next().unwrap().ends_with(",wall_s"), "{text}");
    text.lines()
        .map(|l| &l[..l.rfind(',').unwrap()])
        .collect::<Vec<_>>()
        .join("\n")
}

/// The same analysis files with the same bytes (wall-clock seconds aside); returns how many.
fn assert_same_analysis(one: &Path, sharded: &Path) -> usize {
    let files = analysis_files(one);
    assert_eq!(files, analysis_files(sharded), "the same files");
    for must in [
        "analysis/aggregated_stats.csv",
        "analysis/aggregated_summary.txt",
        "summary.txt",
        "token_usage.json",
        "builtin/refinestat/dugongs/best_program.stan",
    ] {
        assert!(files.contains(&PathBuf::from(must)), "{must} in {files:?}");
    }
    for file in &files {
        let a = std::fs::read(one.join(file)).unwrap();
        let b = std::fs::read(sharded.join(file)).unwrap();
        if TIMED.iter().any(|t| Path::new(t) == file) {
            let (a, b) = (String::from_utf8(a).unwrap(), String::from_utf8(b).unwrap());
            assert_eq!(without_wall_s(&a), without_wall_s(&b), "{}", file.display());
        } else {
            assert!(a == b, "{} differs", file.display());
        }
    }
    files.len()
}

/// `summary.txt` says every cell finished.
fn assert_all_finished(dir: &Path) {
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    assert!(summary.contains("finished: 6/6"), "{summary}");
}

/// `--emit-slurm FILE --shards 4` for the grid in `dir`; checks the script's array lines.
fn emit(dir: &Path, script: &Path) {
    let out = run(&with(
        dir,
        &[
            "--emit-slurm",
            script.to_str().unwrap(),
            "--shards",
            "4",
            "--sbatch-option=--time=00:10:00",
        ],
    ));
    ok(&out, "--emit-slurm");
    assert!(dir.join("config.json").is_file(), "the grid is pinned");
    assert!(dir.join("slurm").is_dir(), "the log directory exists");
    let text = std::fs::read_to_string(script).unwrap();
    assert!(text.contains("\n#SBATCH --array=0-3\n"), "{text}");
    assert!(text.contains("\n#SBATCH --time=00:10:00\n"), "{text}");
    assert!(
        text.trim_end()
            .ends_with("--shard \"${SLURM_ARRAY_TASK_ID}/4\""),
        "{text}"
    );
    for gone in ["--emit-slurm", "--shards", "--sbatch-option"] {
        assert!(!text.contains(&format!("{gone} ")), "{gone} in {text}");
    }
}

/// Array task `task` of the script, run by bash as Slurm would run it.
fn task(script: &Path, task: usize) -> Child {
    Command::new("bash")
        .arg(script)
        .env("SLURM_ARRAY_TASK_ID", task.to_string())
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash runs")
}

/// Waits until shard 0/4 has finished its first cell and is inside its second; `alive` says
/// whether the shard still runs.
fn wait_mid_second_cell(dir: &Path, mut alive: impl FnMut() -> bool) {
    let start = Instant::now();
    for polls in 0.. {
        let second = shard0_second_cell(dir);
        if second.is_dir() && !second.join("done.json").exists() {
            assert!(shard0_first_cell(dir).join("done.json").is_file());
            return;
        }
        // Whether the shard still runs is asked every 0.2 s (squeue is an RPC).
        assert!(
            !second.join("done.json").exists() && (polls % 40 != 0 || alive()),
            "shard 0/4 ended before it could be killed in its second cell"
        );
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "shard 0/4 did not reach its second cell"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A killed shard left its first cell finished and its second unfinished: a merge names it and
/// exits 1; returns the first cell's done.json (its run id must survive the rerun).
fn assert_one_cell_missing(dir: &Path) -> String {
    let first = std::fs::read_to_string(shard0_first_cell(dir).join("done.json")).unwrap();
    assert!(!shard0_second_cell(dir).join("done.json").exists());
    let merged = run(&with(dir, &["--merge"]));
    assert_eq!(merged.status.code(), Some(1), "{}", stderr(&merged));
    assert!(
        stderr(&merged)
            .contains("1 unfinished (lm=builtin mode=refinestat dataset=dugongs seed=2)"),
        "{}",
        stderr(&merged)
    );
    let summary = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    assert!(summary.contains("finished: 5/6"), "{summary}");
    first
}

/// After the rerun of shard 0/4: its first cell was skipped, not redone.
fn assert_first_cell_kept(dir: &Path, first_done: &str, rerun_log: &str) {
    assert!(
        rerun_log.contains("dataset=eight_schools seed=1: finished earlier, skipped"),
        "{rerun_log}"
    );
    let again = std::fs::read_to_string(shard0_first_cell(dir).join("done.json")).unwrap();
    assert_eq!(again, first_done, "the finished cell was not redone");
}

#[test]
fn four_shards_and_a_merge_equal_one_run_and_a_killed_shard_loses_nothing() {
    let base = scratch("shard", "plain");
    let one = base.join("one");
    ok(&run(&grid(&one)), "the grid in one process");
    assert_all_finished(&one);

    let sharded = base.join("sharded");
    let script = base.join("grid.sbatch");
    emit(&sharded, &script);
    // Tasks 1-3 run to their end while task 0 is killed (SIGKILL) inside its second cell.
    let mut first = task(&script, 0);
    let rest: Vec<Child> = (1..=3).map(|i| task(&script, i)).collect();
    wait_mid_second_cell(&sharded, || first.try_wait().unwrap().is_none());
    first.kill().unwrap();
    first.wait().unwrap();
    for (i, child) in rest.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        ok(&out, &format!("array task {}", i + 1));
        assert!(
            stderr(&out).contains(&format!("shard {}/4", i + 1)),
            "{}",
            stderr(&out)
        );
    }
    let first_done = assert_one_cell_missing(&sharded);

    let rerun = task(&script, 0).wait_with_output().unwrap();
    ok(&rerun, "array task 0 again");
    assert_first_cell_kept(&sharded, &first_done, &stderr(&rerun));
    assert!(
        stderr(&rerun).contains("shard 0/4: 1 cells run, 1 skipped"),
        "{}",
        stderr(&rerun)
    );
    let merged = run(&with(&sharded, &["--merge"]));
    ok(&merged, "--merge");
    assert!(
        stderr(&merged).contains("merged 6/6 cells"),
        "{}",
        stderr(&merged)
    );
    assert_all_finished(&sharded);
    let n = assert_same_analysis(&one, &sharded);
    assert!(n >= 10, "{n} files compared");

    // A plain rerun over the merged directory runs nothing and writes the same analysis.
    let plain = run(&grid(&sharded));
    ok(&plain, "a plain rerun");
    assert!(
        stderr(&plain).contains("0 cells run, 6 skipped"),
        "{}",
        stderr(&plain)
    );
    assert_same_analysis(&one, &sharded);
}

#[test]
fn bad_shards_and_misplaced_flags_are_usage_errors_naming_the_flag() {
    let dir = scratch("shard", "bad");
    let out_dir = dir.join("out");
    for (extra, says) in [
        (vec!["--shard", "4/4"], "between 0 and 3"),
        (vec!["--shard", "5/4"], "numbered from 0"),
        (vec!["--shard=-1/4"], "expected I/N"),
        (vec!["--shard", "a/b"], "expected I/N"),
        (vec!["--shard", "1/0"], "at least 1"),
        (vec!["--shard", "4"], "expected I/N"),
    ] {
        let out = run(&with(&out_dir, &extra));
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        let err = stderr(&out);
        assert!(
            err.contains("--shard") && err.contains(says),
            "{extra:?}: {err}"
        );
    }
    for (extra, names) in [
        (vec!["--shard", "0/4", "--overwrite"], "--overwrite"),
        (vec!["--shard", "0/4", "--merge"], "--merge"),
        (vec!["--shards", "4"], "--emit-slurm"),
        (vec!["--emit-slurm", "x.sh", "--shards", "0"], "--shards"),
    ] {
        let out = run(&with(&out_dir, &extra));
        assert_eq!(out.status.code(), Some(2), "{extra:?}");
        assert!(stderr(&out).contains(names), "{extra:?}: {}", stderr(&out));
    }
    let too_many = run(&with(
        &out_dir,
        &[
            "--emit-slurm",
            dir.join("x.sh").to_str().unwrap(),
            "--shards",
            "7",
        ],
    ));
    assert_eq!(too_many.status.code(), Some(2));
    assert!(
        stderr(&too_many).contains("--shards 7 is more than the grid's 6 cells"),
        "{}",
        stderr(&too_many)
    );
    let merge = run(&with(&dir.join("empty"), &["--merge"]));
    assert_eq!(merge.status.code(), Some(2));
    assert!(
        stderr(&merge).contains("--merge") && stderr(&merge).contains("no config.json"),
        "{}",
        stderr(&merge)
    );
    assert!(!out_dir.join("config.json").exists(), "nothing was pinned");
}

/// `cmd ARGS` with SLURM_CONF from the environment; panics with its output when it fails.
fn slurm(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| panic!("{cmd} runs: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether the Slurm tests run (REFINESTAT_SLURM_TEST=1); when they do, a Slurm must answer.
fn slurm_wanted() -> bool {
    if std::env::var("REFINESTAT_SLURM_TEST").as_deref() != Ok("1") {
        eprintln!(
            "skipped: the Slurm tests run with REFINESTAT_SLURM_TEST=1 and a Slurm started by \
             .ci/slurm/start.sh (as .ci/run does)"
        );
        return false;
    }
    // With the test asked for, a missing or silent Slurm is a failure, not a skip.
    let sinfo = slurm("sinfo", &["-h", "-o", "%T"]);
    assert!(
        sinfo.contains("idle") || sinfo.contains("mix") || sinfo.contains("alloc"),
        "sinfo: {sinfo}"
    );
    true
}

/// The tasks of job `id` still known to squeue.
fn queued(id: &str) -> usize {
    slurm("squeue", &["-h", "-j", id, "-o", "%i"])
        .lines()
        .count()
}

/// `sbatch --parsable ARGS`: the job id.
fn submit(args: &[&str]) -> String {
    let mut all = vec!["--parsable"];
    all.extend(args);
    let id = slurm("sbatch", &all);
    id.trim().split(';').next().unwrap().to_string()
}

/// Waits until no task of job `id` is pending or running (`sbatch --wait` polls every few
/// seconds; this every 0.2 s).
fn wait_for(id: &str) {
    let start = Instant::now();
    while queued(id) > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "job {id} did not end"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn shard_log(dir: &Path, task: usize) -> String {
    std::fs::read_to_string(dir.join(format!("slurm/shard-{task}.log"))).unwrap_or_default()
}

#[test]
fn a_slurm_job_array_of_four_shards_and_a_merge_equal_one_run() {
    if !slurm_wanted() {
        return;
    }
    let base = scratch("shard", "slurm");
    let one = base.join("one");
    ok(&run(&grid(&one)), "the grid in one process");

    // The whole array, waited for.
    let sharded = base.join("array");
    let script = base.join("array.sbatch");
    emit(&sharded, &script);
    wait_for(&submit(&[script.to_str().unwrap()]));
    for i in 0..4 {
        assert!(
            shard_log(&sharded, i).contains(&format!("shard {i}/4")),
            "task {i}: {}",
            shard_log(&sharded, i)
        );
    }
    ok(&run(&with(&sharded, &["--merge"])), "--merge");
    assert_same_analysis(&one, &sharded);

    // Task 0 cancelled inside its second cell, the others to their end, task 0 resubmitted.
    let killed = base.join("killed");
    let script = base.join("killed.sbatch");
    emit(&killed, &script);
    let id = submit(&[script.to_str().unwrap()]);
    let task0 = format!("{id}_0");
    wait_mid_second_cell(&killed, || queued(&task0) > 0);
    slurm("scancel", &[&task0]);
    wait_for(&id);
    assert!(
        shard_log(&killed, 0).contains("CANCELLED"),
        "{}",
        shard_log(&killed, 0)
    );
    let first_done = assert_one_cell_missing(&killed);
    wait_for(&submit(&["--array=0", script.to_str().unwrap()]));
    assert_first_cell_kept(&killed, &first_done, &shard_log(&killed, 0));
    ok(&run(&with(&killed, &["--merge"])), "--merge");
    assert_all_finished(&killed);
    assert_same_analysis(&one, &killed);
}

#[test]
fn emitted_arrays_default_to_one_task_per_cell() {
    let dir = scratch("shard", "array-size");
    for (shards, array) in [(None, "0-5"), (Some("1"), "0-0"), (Some("6"), "0-5")] {
        let out_dir = dir.join(format!("out-{array}-{}", shards.unwrap_or("default")));
        let script = dir.join("job.sbatch");
        let mut extra = vec!["--emit-slurm", script.to_str().unwrap()];
        if let Some(n) = shards {
            extra.extend(["--shards", n]);
        }
        ok(&run(&with(&out_dir, &extra)), "--emit-slurm");
        let text = std::fs::read_to_string(&script).unwrap();
        assert!(
            text.contains(&format!("\n#SBATCH --array={array}\n")),
            "{shards:?}: {text}"
        );
        // Nothing ran: no cell and no analysis yet.
        assert!(!out_dir.join("builtin").exists() && !out_dir.join("analysis").exists());
    }
}

/// A corpus of 12 programs in 6 units of 2, 4 datasets each.
fn corpus(dir: &Path) -> Vec<String> {
    [
        "spfn",
        "corpus",
        "--programs",
        "12",
        "--datasets-per-program",
        "4",
        "--seed",
        "7",
        "--programs-per-shard",
        "2",
        "--jobs",
        "1",
        "--quiet",
        "--out",
        dir.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Every file of a corpus directory but the Slurm logs, by name, with its bytes.
fn corpus_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

/// `spfn corpus --emit-slurm FILE --shards 4`.
fn emit_corpus(dir: &Path, script: &Path) {
    let mut args = corpus(dir);
    args.extend(["--emit-slurm", script.to_str().unwrap(), "--shards", "4"].map(String::from));
    ok(&run(&args), "spfn corpus --emit-slurm");
    let text = std::fs::read_to_string(script).unwrap();
    assert!(text.contains("\n#SBATCH --array=0-3\n"), "{text}");
    assert!(dir.join("config.json").is_file());
}

#[test]
fn spfn_corpus_shards_at_once_and_a_merge_equal_one_run() {
    let base = scratch("shard", "corpus");
    let one = base.join("one");
    ok(&run(&corpus(&one)), "the corpus in one process");
    let sharded = base.join("sharded");
    let script = base.join("corpus.sbatch");
    emit_corpus(&sharded, &script);
    // Three of the four array tasks at once, then a merge that names the missing units.
    let tasks: Vec<Child> = (0..3).map(|i| task(&script, i)).collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t.wait_with_output().unwrap();
        ok(&out, &format!("array task {i}"));
        assert!(
            stderr(&out).contains(&format!("shard {i}/4 done")),
            "{}",
            stderr(&out)
        );
    }
    assert!(
        !sharded.join("manifest.json").exists(),
        "a shard writes no manifest"
    );
    let mut merge = corpus(&sharded);
    merge.push("--merge".into());
    let out = run(&merge);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // Units 3 of 6 belongs to shard 3/4 (units 0 and 4 to shard 0/4, 1 and 5 to 1/4).
    assert!(
        stderr(&out).contains("merged 5/6 units; missing or corrupt: unit 3 "),
        "{}",
        stderr(&out)
    );
    ok(
        &task(&script, 3).wait_with_output().unwrap(),
        "array task 3",
    );
    ok(&run(&merge), "--merge");
    let (a, b) = (corpus_files(&one), corpus_files(&sharded));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    assert!(a.contains_key("manifest.json") && a.contains_key("shard-000005.rss"));
    for (name, bytes) in &a {
        assert!(&b[name] == bytes, "{name} differs");
    }
}

#[test]
fn a_slurm_job_array_writes_the_same_corpus() {
    if !slurm_wanted() {
        return;
    }
    let base = scratch("shard", "slurm-corpus");
    let one = base.join("one");
    ok(&run(&corpus(&one)), "the corpus in one process");
    let sharded = base.join("array");
    let script = base.join("corpus.sbatch");
    emit_corpus(&sharded, &script);
    wait_for(&submit(&[script.to_str().unwrap()]));
    for i in 0..4 {
        assert!(
            shard_log(&sharded, i).contains(&format!("shard {i}/4 done")),
            "task {i}: {}",
            shard_log(&sharded, i)
        );
    }
    let mut merge = corpus(&sharded);
    merge.push("--merge".into());
    ok(&run(&merge), "--merge");
    assert_eq!(corpus_files(&one), corpus_files(&sharded));
}
