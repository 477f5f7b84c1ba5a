//! Tokens of the Stan subset, with byte spans.
//!
//! The lexer never fails: malformed input becomes [`TokenKind::Error`] tokens (or is skipped) and a
//! diagnostic. In prefix mode, trouble caused only by the input ending (an unterminated string or
//! block comment, a real literal cut before its exponent digits) is not reported; the lexer instead
//! remembers where the possibly unfinished last token starts (`incomplete_from`), so that the parser
//! can ignore errors it detects there.

use crate::ast::Span;
use crate::diagnostic::{Diagnostic, Predicate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    Ident,
    Int,
    Real,
    Str,
    LBrace,
    RBrace,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Lt,
    Gt,
    Le,
    Ge,
    EqEq,
    Ne,
    Not,
    AndAnd,
    OrOr,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    IntDiv,
    Caret,
    EltMul,
    EltDiv,
    EltPow,
    Backslash,
    Quote,
    Question,
    Colon,
    Semi,
    Comma,
    Bar,
    Tilde,
    Assign,
    PlusAssign,
    MinusAssign,
    StarAssign,
    SlashAssign,
    EltMulAssign,
    EltDivAssign,
    /// Something that is not a token; already reported by the lexer.
    Error,
    Eof,
}

impl TokenKind {
    /// How the token is shown in messages.
    pub(crate) fn describe(self) -> &'static str {
        use TokenKind::*;
        match self {
            Ident => "identifier",
            Int => "integer literal",
            Real => "real literal",
            Str => "string literal",
            LBrace => "`{`",
            RBrace => "`}`",
            LParen => "`(`",
            RParen => "`)`",
            LBracket => "`[`",
            RBracket => "`]`",
            Lt => "`<`",
            Gt => "`>`",
            Le => "`<=`",
            Ge => "`>=`",
            EqEq => "`==`",
            Ne => "`!=`",
            Not => "`!`",
            AndAnd => "`&&`",
            OrOr => "`||`",
            Plus => "`+`",
            Minus => "`-`",
            Star => "`*`",
            Slash => "`/`",
            Percent => "`%`",
            IntDiv => "`%/%`",
            Caret => "`^`",
            EltMul => "`.*`",
            EltDiv => "`./`",
            EltPow => "`.^`",
            Backslash => "`\\`",
            Quote => "`'`",
            Question => "`?`",
            Colon => "`:`",
            Semi => "`;`",
            Comma => "`,`",
            Bar => "`|`",
            Tilde => "`~`",
            Assign => "`=`",
            PlusAssign => "`+=`",
            MinusAssign => "`-=`",
            StarAssign => "`*=`",
            SlashAssign => "`/=`",
            EltMulAssign => "`.*=`",
            EltDivAssign => "`./=`",
            Error => "invalid token",
            Eof => "end of input",
        }
    }

    /// Whether appending characters to this token could turn it into a different token, so that a
    /// program prefix ending exactly here may not yet show its real next token.
    fn extendable(self) -> bool {
        use TokenKind::*;
        matches!(
            self,
            Ident
                | Int
                | Real
                | Str
                | Lt
                | Gt
                | Assign
                | Not
                | Plus
                | Minus
                | Star
                | Slash
                | Percent
                | Bar
                | EltMul
                | EltDiv
                | Error
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// The token stream plus lexical errors.
pub(crate) struct Lexed {
    pub tokens: Vec<Token>,
    pub errors: Vec<Diagnostic>,
    /// In prefix mode: the byte offset from which errors may be artefacts of the input ending.
    /// Equals the source length otherwise (or when the last token is complete).
    pub incomplete_from: usize,
}

fn error(span: Span, message: impl Into<String>) -> Diagnostic {
    Diagnostic::new(Predicate::Parse, span, message)
}

/// Split `src` into tokens; the last token is always [`TokenKind::Eof`].
pub(crate) fn lex(src: &str, prefix: bool) -> Lexed {
    let bytes = src.as_bytes();
    let n = bytes.len();
    let mut tokens = Vec::new();
    let mut errors = Vec::new();
    let mut incomplete_from = n;
    // A byte-order mark is not part of the program.
    let mut i = if src.starts_with('\u{feff}') { 3 } else { 0 };
    while i < n {
        let c = bytes[i];
        let start = i;
        // Whitespace and comments.
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'/') {
            while i < n && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            loop {
                if i >= n {
                    if prefix {
                        incomplete_from = incomplete_from.min(start);
                    } else {
                        errors.push(
                            error(Span::new(start, start + 2), "unterminated block comment")
                                .with_hint("close the comment with `*/`"),
                        );
                    }
                    break;
                }
                if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                    i += 2;
                    break;
                }
                i += 1;
            }
            continue;
        }
        if c == b'#' {
            errors.push(
                error(
                    Span::new(start, start + 1),
                    "`#` does not start a comment in Stan",
                )
                .with_hint("write comments with `//` or `/* ... */`"),
            );
            while i < n && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        let kind;
        if c.is_ascii_alphabetic() || c == b'_' {
            while i < n && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            kind = TokenKind::Ident;
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let (end, is_real, complete) = scan_number(bytes, i);
            i = end;
            kind = if is_real {
                TokenKind::Real
            } else {
                TokenKind::Int
            };
            if !complete {
                if prefix && end == n {
                    incomplete_from = incomplete_from.min(start);
                } else {
                    errors.push(
                        error(
                            Span::new(start, end),
                            "malformed real literal: the exponent has no digits",
                        )
                        .with_hint("write e.g. `1e-3`"),
                    );
                }
            }
        } else if c == b'"' {
            i += 1;
            while i < n && bytes[i] != b'"' && bytes[i] != b'\n' {
                i += 1;
            }
            if i < n && bytes[i] == b'"' {
                i += 1;
            } else if prefix && i == n {
                incomplete_from = incomplete_from.min(start);
            } else {
                errors.push(
                    error(Span::new(start, i), "unterminated string literal")
                        .with_hint("close the string with `\"` on the same line"),
                );
            }
            kind = TokenKind::Str;
        } else {
            let next = bytes.get(i + 1).copied();
            let next2 = bytes.get(i + 2).copied();
            let (k, len) = match (c, next, next2) {
                (b'{', _, _) => (TokenKind::LBrace, 1),
                (b'}', _, _) => (TokenKind::RBrace, 1),
                (b'(', _, _) => (TokenKind::LParen, 1),
                (b')', _, _) => (TokenKind::RParen, 1),
                (b'[', _, _) => (TokenKind::LBracket, 1),
                (b']', _, _) => (TokenKind::RBracket, 1),
                (b'<', Some(b'='), _) => (TokenKind::Le, 2),
                (b'<', Some(b'-'), _) => {
                    errors.push(
                        error(
                            Span::new(start, start + 2),
                            "`<-` assignment is not supported",
                        )
                        .with_hint("use `=` for assignment"),
                    );
                    (TokenKind::Assign, 2)
                }
                (b'<', _, _) => (TokenKind::Lt, 1),
                (b'>', Some(b'='), _) => (TokenKind::Ge, 2),
                (b'>', _, _) => (TokenKind::Gt, 1),
                (b'=', Some(b'='), _) => (TokenKind::EqEq, 2),
                (b'=', _, _) => (TokenKind::Assign, 1),
                (b'!', Some(b'='), _) => (TokenKind::Ne, 2),
                (b'!', _, _) => (TokenKind::Not, 1),
                (b'&', Some(b'&'), _) => (TokenKind::AndAnd, 2),
                (b'|', Some(b'|'), _) => (TokenKind::OrOr, 2),
                (b'|', _, _) => (TokenKind::Bar, 1),
                (b'+', Some(b'='), _) => (TokenKind::PlusAssign, 2),
                (b'+', _, _) => (TokenKind::Plus, 1),
                (b'-', Some(b'='), _) => (TokenKind::MinusAssign, 2),
                (b'-', _, _) => (TokenKind::Minus, 1),
                (b'*', Some(b'='), _) => (TokenKind::StarAssign, 2),
                (b'*', _, _) => (TokenKind::Star, 1),
                (b'/', Some(b'='), _) => (TokenKind::SlashAssign, 2),
                (b'/', _, _) => (TokenKind::Slash, 1),
                (b'%', Some(b'/'), Some(b'%')) => (TokenKind::IntDiv, 3),
                (b'%', _, _) => (TokenKind::Percent, 1),
                (b'^', _, _) => (TokenKind::Caret, 1),
                (b'.', Some(b'*'), Some(b'=')) => (TokenKind::EltMulAssign, 3),
                (b'.', Some(b'*'), _) => (TokenKind::EltMul, 2),
                (b'.', Some(b'/'), Some(b'=')) => (TokenKind::EltDivAssign, 3),
                (b'.', Some(b'/'), _) => (TokenKind::EltDiv, 2),
                (b'.', Some(b'^'), _) => (TokenKind::EltPow, 2),
                (b'\\', _, _) => (TokenKind::Backslash, 1),
                (b'\'', _, _) => (TokenKind::Quote, 1),
                (b'?', _, _) => (TokenKind::Question, 1),
                (b':', _, _) => (TokenKind::Colon, 1),
                (b';', _, _) => (TokenKind::Semi, 1),
                (b',', _, _) => (TokenKind::Comma, 1),
                (b'~', _, _) => (TokenKind::Tilde, 1),
                _ => (TokenKind::Error, 0),
            };
            if k == TokenKind::Error {
                // One error for a run of characters that start no token.
                i += utf8_len(c);
                while i < n && !starts_token(bytes[i]) {
                    i += utf8_len(bytes[i]);
                }
                i = i.min(n);
                let text = &src[start..i];
                let at_end = i == n;
                let partial = (text == "." || text == "&" || text == "%/") && at_end;
                if prefix && partial {
                    incomplete_from = incomplete_from.min(start);
                } else {
                    let message = match text {
                        "&" => "unexpected `&`; the logical and is `&&`".to_string(),
                        _ => format!(
                            "unexpected character{} `{}`",
                            if text.chars().count() > 1 { "s" } else { "" },
                            text
                        ),
                    };
                    errors.push(error(Span::new(start, i), message));
                }
            } else {
                i += len;
            }
            kind = k;
        }
        tokens.push(Token {
            kind,
            span: Span::new(start, i),
        });
    }
    if prefix {
        if let Some(last) = tokens.last() {
            if last.span.end as usize == n && last.kind.extendable() {
                incomplete_from = incomplete_from.min(last.span.start as usize);
            }
        }
    }
    tokens.push(Token {
        kind: TokenKind::Eof,
        span: Span::new(n, n),
    });
    Lexed {
        tokens,
        errors,
        incomplete_from,
    }
}

/// Bytes that may begin a token (or whitespace/comment), used to group junk characters.
fn starts_token(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || b.is_ascii_whitespace()
        || b"{}()[]<>=!|+-*/%^\\'?:;,~\"_#".contains(&b)
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// Scan a number starting at `i`: returns (end, is_real, complete). Follows stanc3: `1`, `1.`,
/// `1.5`, `.5`, `1e3`, `1.5E-3`.
fn scan_number(bytes: &[u8], mut i: usize) -> (usize, bool, bool) {
    let n = bytes.len();
    let mut is_real = false;
    while i < n && bytes[i].is_ascii_digit() {
        i += 1;
    }
    // A `.` followed by `*`, `/` or `^` is an elementwise operator, not a decimal point.
    if i < n && bytes[i] == b'.' && !matches!(bytes.get(i + 1), Some(b'*' | b'/' | b'^')) {
        is_real = true;
        i += 1;
        while i < n && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < n && (bytes[i] == b'e' || bytes[i] == b'E') {
        let mark = i;
        let mut j = i + 1;
        if j < n && (bytes[j] == b'+' || bytes[j] == b'-') {
            j += 1;
        }
        if j < n && bytes[j].is_ascii_digit() {
            while j < n && bytes[j].is_ascii_digit() {
                j += 1;
            }
            return (j, true, true);
        }
        // `1e` / `1e-` without digits: malformed when something else follows directly.
        if j == n || !(bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
            return (j, true, false);
        }
        // `2else`-like text: leave the letter to the next token.
        return (mark, is_real, true);
    }
    (i, is_real, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<TokenKind> {
        lex(src, false).tokens.iter().map(|t| t.kind).collect()
    }

    #[test]
    fn numbers_and_elementwise_operators() {
        use TokenKind::*;
        assert_eq!(
            kinds("1 1.5 .5 1e-3 2E+4 1."),
            vec![Int, Real, Real, Real, Real, Real, Eof]
        );
        assert_eq!(
            kinds("a.*b ./ c .^ d %/% e"),
            vec![Ident, EltMul, Ident, EltDiv, Ident, EltPow, Ident, IntDiv, Ident, Eof]
        );
        assert_eq!(
            kinds("x' + y[1]'"),
            vec![Ident, Quote, Plus, Ident, LBracket, Int, RBracket, Quote, Eof]
        );
    }

    #[test]
    fn comments_are_skipped_and_hash_is_an_error() {
        let lexed = lex("a // c\n/* b */ b # c\n", false);
        assert_eq!(lexed.tokens.len(), 3);
        assert_eq!(lexed.errors.len(), 1);
        assert!(lexed.errors[0].message.contains('#'));
    }

    #[test]
    fn prefix_mode_marks_unfinished_last_token() {
        let lexed = lex("x = 1e", true);
        assert!(lexed.errors.is_empty());
        assert_eq!(lexed.incomplete_from, 4);
        let lexed = lex("x = 1e ", true);
        assert_eq!(lexed.errors.len(), 1);
        let lexed = lex("y ~ ~", true);
        assert_eq!(lexed.incomplete_from, 5);
    }
}
