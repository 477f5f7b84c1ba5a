//! The CLI's error type: every failure a person sees, with the file or flag it concerns.

use std::fmt;

/// A failure that ends the command with exit code 2.
#[derive(Debug)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CliError {
    pub fn new(msg: impl Into<String>) -> CliError {
        CliError(msg.into())
    }
}

impl From<refinestat_language::DataError> for CliError {
    fn from(e: refinestat_language::DataError) -> CliError {
        CliError(e.to_string())
    }
}

impl From<refinestat_model::ModelError> for CliError {
    fn from(e: refinestat_model::ModelError) -> CliError {
        CliError(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, CliError>;

/// Writes command output to stdout. A closed pipe (`refinestat ... | head`) is not an error:
/// the reader has what it wanted, so the rest is dropped instead of panicking like `print!`.
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}
