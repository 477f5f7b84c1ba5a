//! The comments of a program's text, for printers that keep them (`fmt`).
//!
//! The lexer skips comments; the tree has no place for them. [`comments`] finds them in the
//! source text with their byte spans, and the pretty printer
//! ([`print_program_with_comments`](crate::print::print_program_with_comments)) attaches each one
//! to the statement or declaration it precedes, or, when it starts on the line a statement ends
//! on, to that statement as a trailing comment.

use crate::ast::Span;

/// One `// ...` or `/* ... */` comment of the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// From the opening `//` or `/*` to the end of the line (newline excluded) or the closing `*/`.
    pub span: Span,
    /// The comment as written, markers included (`// prior`, `/* K >= 1 */`).
    pub text: String,
    /// Nothing but whitespace precedes it on its line.
    pub own_line: bool,
}

/// Every comment of `src`, in source order. String literals (`print("// no")`) are skipped; an
/// unterminated block comment runs to the end of the text (the parser reports it).
pub fn comments(src: &str) -> Vec<Comment> {
    let bytes = src.as_bytes();
    let n = bytes.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        match bytes[i] {
            b'"' => {
                // A Stan string has no escapes and no newlines.
                i += 1;
                while i < n && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += 1;
                }
                i += 1;
            }
            b'/' if matches!(bytes.get(i + 1), Some(b'/') | Some(b'*')) => {
                let start = i;
                let line_start = src[..start].rfind('\n').map_or(0, |p| p + 1);
                let own_line = src[line_start..start].trim().is_empty();
                if bytes[i + 1] == b'/' {
                    while i < n && bytes[i] != b'\n' {
                        i += 1;
                    }
                } else {
                    i += 2;
                    while i < n && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                        i += 1;
                    }
                    i = (i + 2).min(n);
                }
                out.push(Comment {
                    span: Span::new(start, i),
                    text: src[start..i].trim_end().to_string(),
                    own_line,
                });
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_block_comments_with_their_placement() {
        let src = "// head\ndata {\n  int N; // trailing\n  /* block\n     two lines */\n}\n";
        let found = comments(src);
        let texts: Vec<&str> = found.iter().map(|c| c.text.as_str()).collect();
        assert_eq!(
            texts,
            ["// head", "// trailing", "/* block\n     two lines */"]
        );
        assert_eq!(
            found.iter().map(|c| c.own_line).collect::<Vec<_>>(),
            [true, false, true]
        );
        assert_eq!(&src[found[1].span.range()], "// trailing");
    }

    #[test]
    fn comment_markers_inside_strings_are_not_comments() {
        let src = "model { print(\"a // b /* c\"); } // real";
        let found = comments(src);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "// real");
        assert!(!found[0].own_line);
    }

    #[test]
    fn an_unterminated_block_comment_runs_to_the_end() {
        let found = comments("data { } /* open");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].text, "/* open");
    }
}
