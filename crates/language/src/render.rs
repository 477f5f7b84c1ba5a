//! Rendering diagnostics as text with a code frame (shared by the CLI and repair prompts).

use crate::diagnostic::{line_col, Diagnostic};

/// Plain one-line-per-problem form: `path:line:col: [predicate] message (hint: ...)`.
pub fn render_plain(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let (line, col) = line_col(source, d.span.start);
        out.push_str(&format!("{path}:{line}:{col}: [{}] {}", d.predicate, d.message));
        if let Some(h) = &d.hint {
            out.push_str(&format!(" (hint: {h})"));
        }
        out.push('\n');
    }
    out
}
