//! Rendering diagnostics as text: one line each ([`render_plain`]) or with a code frame
//! ([`render_pretty`], via codespan-reporting). Shared by the CLI and repair prompts.

use crate::diagnostic::{line_col, Diagnostic};
use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor::NoColor, Config};

/// Plain one-line-per-problem form: `path:line:col: [predicate] message (hint: ...)`.
pub fn render_plain(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let (line, col) = line_col(source, d.span.start);
        let warning = if d.is_error() { "" } else { "warning: " };
        out.push_str(&format!(
            "{path}:{line}:{col}: {warning}[{}] {}",
            d.predicate, d.message
        ));
        if let Some(h) = &d.hint {
            out.push_str(&format!(" (hint: {h})"));
        }
        out.push('\n');
    }
    out
}

/// Each problem with the source lines it points at, an underline, and its hint; no colours.
///
/// ```text
/// error[distribution]: unknown distribution `normall`
///    ┌─ model.stan:13:7
///    │
/// 13 │   y ~ normall(mu, sigma);
///    │       ^^^^^^^
///    │
///    = hint: did you mean `normal`?
/// ```
pub fn render_pretty(path: &str, source: &str, diagnostics: &[Diagnostic]) -> String {
    let file = SimpleFile::new(path, source);
    let config = Config::default();
    let mut writer = NoColor::new(Vec::<u8>::new());
    for d in diagnostics {
        let start = (d.span.start as usize).min(source.len());
        let end = (d.span.end as usize).clamp(start, source.len());
        let report = match d.severity {
            crate::diagnostic::Severity::Error => Report::error(),
            crate::diagnostic::Severity::Warning => Report::warning(),
        };
        let mut report = report
            .with_code(d.predicate.as_str())
            .with_message(&d.message)
            .with_labels(vec![Label::primary((), start..end)]);
        if let Some(h) = &d.hint {
            report = report.with_notes(vec![format!("hint: {h}")]);
        }
        if term::emit(&mut writer, &config, &file, &report).is_err() {
            // A span codespan cannot place (never expected): fall back to the plain line.
            let plain = render_plain(path, source, std::slice::from_ref(d));
            writer.get_mut().extend_from_slice(plain.as_bytes());
        }
    }
    String::from_utf8_lossy(&writer.into_inner()).into_owned()
}
