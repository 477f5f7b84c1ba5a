//! Grids split over processes or cluster jobs: `--shard I/N` and `--emit-slurm FILE`.
//!
//! A grid command (`experiment`) numbers its cells in the order it runs them, from 0, and
//! shard I of N (numbered from 0, as `spfn corpus --shard` and Slurm's array task ids) runs the
//! cells k with k mod N = I: a round-robin deal, so every cell lands in exactly one shard and
//! consecutive cells (the seeds of one dataset) spread over the shards. Shards write into one
//! resumable output tree and leave the analysis to a merge. `--emit-slurm` writes an sbatch
//! script for a job array whose task I (0 to N-1) runs shard I/N of the same command line.

use crate::error::{CliError, Result};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Shard `index` (0-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Whether the grid's cell `k` (counted from 0 in the grid's order) is this shard's.
    pub fn owns(self, k: usize) -> bool {
        k % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `I/N` (clap's value parser for `--shard`, which names the flag in its error).
pub fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    let bad = || "expected I/N with whole numbers, 0 <= I < N (e.g. 2/4)".to_string();
    let (i, n) = text.split_once('/').ok_or_else(bad)?;
    let index: usize = i.trim().parse().map_err(|_| bad())?;
    let count: usize = n.trim().parse().map_err(|_| bad())?;
    if count == 0 {
        return Err("the number of shards N must be at least 1".to_string());
    }
    if index >= count {
        return Err(format!(
            "shards are numbered from 0, so I must be between 0 and {}",
            count - 1
        ));
    }
    Ok(Shard { index, count })
}

/// A word for a POSIX shell: as it is when plainly safe, single-quoted otherwise.
pub fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The command line `args` (without the program name) less the flags that only concern the
/// emitting run: each `(flag, takes_value)` in `drop`, as `--flag VALUE` or `--flag=VALUE`.
pub fn strip_flags(args: &[OsString], drop: &[(&str, bool)]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let arg = arg.to_str().ok_or_else(|| {
            CliError::new(format!(
                "--emit-slurm: the argument {arg:?} is not UTF-8 and cannot go into the script"
            ))
        })?;
        let dropped = drop.iter().find(|(flag, takes_value)| {
            arg == *flag || (*takes_value && arg.starts_with(&format!("{flag}=")))
        });
        match dropped {
            Some((flag, true)) if arg == *flag => {
                iter.next();
            }
            Some(_) => {}
            None => out.push(arg.to_string()),
        }
    }
    Ok(out)
}

/// `--emit-slurm FILE [--shards N] [--sbatch-option OPTION]...`, shared by the grid commands.
#[derive(Debug, Clone, clap::Args)]
pub struct SlurmArgs {
    /// Run nothing (but pin the run's settings in its output directory): write FILE, an
    /// sbatch script for a Slurm job array whose task I (0 to N-1) runs this command with
    /// `--shard I/N` instead of --emit-slurm (N from --shards), logging to slurm/shard-I.log
    /// in the output directory. Submit it with `sbatch FILE`, then run this command with
    /// --merge instead of --emit-slurm; resubmit a failed task I with `sbatch --array=I FILE`.
    #[arg(long, value_name = "FILE", conflicts_with = "shard")]
    pub emit_slurm: Option<PathBuf>,
    /// With --emit-slurm: the number of array tasks (default: one per cell or unit).
    #[arg(long, value_name = "N", requires = "emit_slurm",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub shards: Option<u64>,
    /// With --emit-slurm: a further `#SBATCH` line (repeatable), e.g.
    /// --sbatch-option=--time=02:00:00 or --sbatch-option=--partition=gpu.
    #[arg(
        long,
        value_name = "OPTION",
        requires = "emit_slurm",
        allow_hyphen_values = true
    )]
    pub sbatch_option: Vec<String>,
}

/// `--emit-slurm`: writes the sbatch script of `count` shards of this process's command line
/// (less `--emit-slurm`, `--shards`, `--sbatch-option` and the flags in `drop`), logging to
/// `out/slurm/`; `about` heads the script. Checks that the shards' command line parses.
pub fn emit_array(
    slurm: &SlurmArgs,
    file: &Path,
    job_name: &str,
    count: usize,
    out: &Path,
    about: &[String],
    drop: &[(&str, bool)],
) -> Result<()> {
    let io = |what: &str, p: &Path, e: std::io::Error| {
        CliError::new(format!("cannot {what} {}: {e}", p.display()))
    };
    let out = std::path::absolute(out).map_err(|e| io("resolve the path", out, e))?;
    let logs = out.join("slurm");
    std::fs::create_dir_all(&logs).map_err(|e| io("create", &logs, e))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the refinestat binary: {e}")))?;
    let workdir =
        std::env::current_dir().map_err(|e| CliError::new(format!("no working directory: {e}")))?;
    let argv: Vec<OsString> = std::env::args_os().skip(1).collect();
    let mut command = vec![exe.to_str().map(str::to_string).ok_or_else(|| {
        CliError::new(format!(
            "--emit-slurm: the binary's path {} is not UTF-8",
            exe.display()
        ))
    })?];
    let mut dropped = vec![
        ("--emit-slurm", true),
        ("--shards", true),
        ("--sbatch-option", true),
    ];
    dropped.extend_from_slice(drop);
    command.extend(strip_flags(&argv, &dropped)?);
    let mut probe = command.clone();
    probe.extend(["--shard".to_string(), format!("0/{count}")]);
    if let Err(e) = <crate::args::Cli as clap::Parser>::try_parse_from(&probe) {
        return Err(CliError::new(format!(
            "--emit-slurm: the shards' command line does not parse ({}): {e}",
            probe.join(" ")
        )));
    }
    let script = sbatch_script(&SlurmJob {
        name: job_name,
        count,
        workdir: &workdir,
        logs: &logs,
        options: &slurm.sbatch_option,
        about,
        command: &command,
    })?;
    std::fs::write(file, script).map_err(|e| io("write", file, e))
}

/// What goes into an sbatch script besides the command.
pub struct SlurmJob<'a> {
    /// `#SBATCH --job-name`.
    pub name: &'a str,
    /// The array's size: task I (0 to count - 1) runs `--shard I/count`.
    pub count: usize,
    /// The directory the tasks run in (where the command was given).
    pub workdir: &'a Path,
    /// The log of task I is `logs/shard-I.log`; the directory must exist before submission.
    pub logs: &'a Path,
    /// Further `#SBATCH` options, as given.
    pub options: &'a [String],
    /// Comment lines after the shebang (without `# `).
    pub about: &'a [String],
    /// The program and its arguments, `--shard` appended per task.
    pub command: &'a [String],
}

/// The sbatch script of a job array: one task per shard, all running `command` in `workdir`.
pub fn sbatch_script(job: &SlurmJob) -> Result<String> {
    let path = |p: &Path, what: &str| {
        p.to_str().map(str::to_string).ok_or_else(|| {
            CliError::new(format!(
                "--emit-slurm: the {what} {} is not UTF-8 and cannot go into the script",
                p.display()
            ))
        })
    };
    let logs = path(job.logs, "log directory")?;
    let workdir = path(job.workdir, "working directory")?;
    // sbatch reads #SBATCH lines verbatim (no shell), so a path with spaces cannot be quoted
    // there; refuse it rather than write a script that logs somewhere else.
    if logs.chars().any(char::is_whitespace) {
        return Err(CliError::new(format!(
            "--emit-slurm: the output directory {logs} has white space, which #SBATCH --output cannot hold"
        )));
    }
    let mut s = String::from("#!/bin/bash\n");
    for line in job.about {
        let _ = writeln!(s, "# {line}");
    }
    let _ = writeln!(s, "#SBATCH --job-name={}", job.name);
    let _ = writeln!(s, "#SBATCH --array=0-{}", job.count - 1);
    let _ = writeln!(s, "#SBATCH --ntasks=1");
    let _ = writeln!(s, "#SBATCH --output={logs}/shard-%a.log");
    for option in job.options {
        let _ = writeln!(s, "#SBATCH {option}");
    }
    let _ = writeln!(s, "set -euo pipefail");
    let _ = writeln!(s, "cd {}", shell_quote(&workdir));
    let words: Vec<String> = job.command.iter().map(|w| shell_quote(w)).collect();
    let _ = writeln!(
        s,
        "exec {} --shard \"${{SLURM_ARRAY_TASK_ID}}/{}\"",
        words.join(" "),
        job.count
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_zero_and_refuse_the_rest() {
        assert_eq!(parse_shard("0/4").unwrap(), Shard { index: 0, count: 4 });
        assert_eq!(parse_shard("3/4").unwrap(), Shard { index: 3, count: 4 });
        assert!(parse_shard("4/4").unwrap_err().contains("between 0 and 3"));
        assert!(parse_shard("5/4").unwrap_err().contains("numbered from 0"));
        assert!(parse_shard("1/0").unwrap_err().contains("at least 1"));
        for bad in ["a/b", "1", "1/", "/4", "-1/4", "1/4/2", "1.5/4", ""] {
            assert!(
                parse_shard(bad).unwrap_err().contains("expected I/N"),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_cell_lands_in_exactly_one_shard() {
        for count in 1..=7 {
            for k in 0..50 {
                let owners = (0..count)
                    .filter(|&index| Shard { index, count }.owns(k))
                    .count();
                assert_eq!(owners, 1, "cell {k} of {count} shards");
            }
        }
        // Round robin: shard 1/4 has cells 1, 5, 9.
        let two = Shard { index: 1, count: 4 };
        let mine: Vec<usize> = (0..12).filter(|&k| two.owns(k)).collect();
        assert_eq!(mine, vec![1, 5, 9]);
    }

    #[test]
    fn shell_words_are_quoted_when_needed() {
        assert_eq!(shell_quote("--seeds"), "--seeds");
        assert_eq!(shell_quote("1-3,5"), "1-3,5");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn emitting_flags_are_stripped_in_both_spellings() {
        let args: Vec<OsString> = [
            "experiment",
            "--seeds",
            "1-3",
            "--emit-slurm",
            "job.sh",
            "--shards=4",
            "--overwrite",
            "--sbatch-option",
            "--time=1:00:00",
            "--output",
            "out",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let kept = strip_flags(
            &args,
            &[
                ("--emit-slurm", true),
                ("--shards", true),
                ("--sbatch-option", true),
                ("--overwrite", false),
            ],
        )
        .unwrap();
        assert_eq!(kept, ["experiment", "--seeds", "1-3", "--output", "out"]);
    }

    #[test]
    fn the_script_is_an_array_with_one_shard_per_task() {
        let command = vec![
            "/bin/refinestat".to_string(),
            "experiment".to_string(),
            "--output".to_string(),
            "my out".to_string(),
        ];
        let script = sbatch_script(&SlurmJob {
            name: "refinestat-experiment",
            count: 4,
            workdir: Path::new("/home/me/project"),
            logs: Path::new("/scratch/out/slurm"),
            options: &["--time=02:00:00".to_string()],
            about: &["a grid".to_string()],
            command: &command,
        })
        .unwrap();
        assert!(script.starts_with("#!/bin/bash\n# a grid\n"), "{script}");
        assert!(script.contains("#SBATCH --array=0-3\n"), "{script}");
        assert!(
            script.contains("#SBATCH --output=/scratch/out/slurm/shard-%a.log\n"),
            "{script}"
        );
        assert!(script.contains("#SBATCH --time=02:00:00\n"), "{script}");
        assert!(script.contains("cd /home/me/project\n"), "{script}");
        assert!(script.ends_with(
            "exec /bin/refinestat experiment --output 'my out' --shard \"${SLURM_ARRAY_TASK_ID}/4\"\n"
        ));
        let spaced = sbatch_script(&SlurmJob {
            logs: Path::new("/my out/slurm"),
            ..SlurmJob {
                name: "x",
                count: 1,
                workdir: Path::new("/"),
                logs: Path::new("/"),
                options: &[],
                about: &[],
                command: &command,
            }
        });
        assert!(spaced.unwrap_err().to_string().contains("white space"));
    }
}
