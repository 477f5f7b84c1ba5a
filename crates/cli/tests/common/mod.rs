//! Helpers shared by the end-to-end tests: run the built binary from the repository root, read
//! its output, and scratch directories.

#![allow(dead_code)] // each test file uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (examples/ and datasets/ are relative to it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `refinestat ARGS` in the repository root.
pub fn refinestat(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_refinestat"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("the refinestat binary runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A fresh scratch directory for one test (unique per process and test name), removed when the
/// test passes and kept for inspection when it fails.
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// `suite` names the test file, `name` the test.
pub fn scratch(suite: &str, name: &str) -> Scratch {
    let dir =
        std::env::temp_dir().join(format!("refinestat-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}
