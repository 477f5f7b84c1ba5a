//! Names in the statement a prefix has not finished: the parser drops an unfinished statement
//! from the tree, so without this pass `y ~ normal(sigmamuN + ` would be accepted until its `;`
//! and a proposal could spend a hundred tokens on a statement that can never be valid.
//!
//! Deliberately lenient (it must never refuse a prefix that can still become valid): a name is
//! known when anything in the text declares it, whatever the scope (the full check applies scopes
//! when the statement ends); names being declared, loop variables, keywords, called names and
//! distributions are left to the grammar and the full check.

use super::catalog;
use crate::diagnostic::{Diagnostic, Predicate};
use crate::lexer::{Token, TokenKind};
use std::collections::HashSet;

/// Words that are not variable names where they appear in a statement or block header: block,
/// statement and bound keywords, and `T` of a truncation.
const WORDS: [&[&str]; 4] = [
    crate::lexicon::BLOCK_WORDS,
    crate::lexicon::STATEMENT_WORDS,
    crate::lexicon::BOUND_WORDS,
    &["T"],
];

fn words() -> impl Iterator<Item = &'static &'static str> {
    WORDS.iter().flat_map(|list| list.iter())
}

/// Type words that start a declaration.
const TYPE_WORDS: &[&str] = crate::lexicon::DECLARATION_TYPES;

fn opens(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Lt | TokenKind::LBracket | TokenKind::LParen
    )
}

fn closes(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Gt | TokenKind::RBracket | TokenKind::RParen
    )
}

fn ends_statement(kind: TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Semi | TokenKind::LBrace | TokenKind::RBrace
    )
}

/// The index of the name a declaration starting at `start` (a type word) declares, if it has
/// been written: the first non-type name outside `<...>`, `[...]` and `(...)`.
fn declared_name(tokens: &[Token], src: &str, start: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (j, t) in tokens.iter().enumerate().skip(start + 1) {
        if opens(t.kind) {
            depth += 1;
        } else if closes(t.kind) {
            depth -= 1;
        } else if depth <= 0 && t.kind == TokenKind::Ident {
            if !TYPE_WORDS.contains(&text(src, t)) {
                return Some(j);
            }
        } else if depth <= 0 && (ends_statement(t.kind) || t.kind == TokenKind::Assign) {
            return None;
        }
    }
    None
}

fn text<'a>(src: &'a str, t: &Token) -> &'a str {
    src.get(t.span.start as usize..t.span.end as usize)
        .unwrap_or("")
}

/// Does the text end inside the `functions` block (opened, and no later block begun)?
fn inside_functions_block(tokens: &[Token], src: &str) -> bool {
    let mut depth = 0i32;
    let mut inside = false;
    for t in tokens {
        match t.kind {
            TokenKind::LBrace => depth += 1,
            TokenKind::RBrace => {
                depth -= 1;
                if depth == 0 {
                    inside = false;
                }
            }
            TokenKind::Ident if depth == 0 => inside = text(src, t) == "functions",
            _ => {}
        }
    }
    inside
}

/// Dependency violations for names in the unfinished last statement of `src` that nothing
/// declares; `tokens` and `incomplete_from` are what the prefix lexer
/// ([`crate::lexer::lex`] with `prefix`) gives for `src`.
pub(crate) fn unfinished_statement_names(
    src: &str,
    mut tokens: Vec<Token>,
    incomplete_from: usize,
) -> Vec<Diagnostic> {
    tokens.retain(|t| t.kind != TokenKind::Eof);
    if inside_functions_block(&tokens, src) {
        // Function signatures declare names this pass does not track; the full check judges
        // each definition when its body ends.
        return Vec::new();
    }
    let at_statement_start = |i: usize| i == 0 || ends_statement(tokens[i - 1].kind);
    // Everything the text declares anywhere, and loop variables.
    let mut known: HashSet<&str> = HashSet::new();
    let mut declared_at: HashSet<usize> = HashSet::new();
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != TokenKind::Ident {
            continue;
        }
        let word = text(src, t);
        // A name called or defined with `(` anywhere (user-defined functions among them).
        if tokens.get(i + 1).map(|t| t.kind) == Some(TokenKind::LParen) {
            known.insert(word);
        }
        if word == "for"
            && tokens.get(i + 1).map(|t| t.kind) == Some(TokenKind::LParen)
            && tokens.get(i + 2).map(|t| t.kind) == Some(TokenKind::Ident)
        {
            known.insert(text(src, &tokens[i + 2]));
            declared_at.insert(i + 2);
        }
        if TYPE_WORDS.contains(&word) && at_statement_start(i) {
            if let Some(j) = declared_name(&tokens, src, i) {
                known.insert(text(src, &tokens[j]));
                declared_at.insert(j);
            }
        }
    }
    let tail_start = tokens
        .iter()
        .rposition(|t| ends_statement(t.kind))
        .map_or(0, |i| i + 1);
    let mut diags = Vec::new();
    // `2 ~ normal(...)`: a left side of `~` without a single name depends on nothing.
    if let Some(tilde) = (tail_start..tokens.len()).find(|&i| tokens[i].kind == TokenKind::Tilde) {
        if tilde > tail_start
            && !tokens[tail_start..tilde]
                .iter()
                .any(|t| t.kind == TokenKind::Ident)
        {
            diags.push(
                Diagnostic::new(
                    Predicate::Dependency,
                    tokens[tilde].span,
                    "the left side of `~` depends on neither data nor parameters",
                )
                .with_hint("put data or a parameter on the left of `~`"),
            );
        }
    }
    for i in tail_start..tokens.len() {
        let t = &tokens[i];
        if t.kind != TokenKind::Ident || declared_at.contains(&i) {
            continue;
        }
        let word = text(src, t);
        // A name touching the end of the text may still grow: it must start some name that
        // could stand here (declared, a keyword or type, a function or distribution).
        if t.span.end as usize >= src.len() || t.span.start as usize >= incomplete_from {
            let after_tilde = i > 0 && tokens[i - 1].kind == TokenKind::Tilde;
            let grows = after_tilde
                || known.iter().any(|k| k.starts_with(word))
                || words().chain(TYPE_WORDS).any(|k| k.starts_with(word))
                || catalog::functions().iter().any(|f| f.name.starts_with(word))
                // `normal_lp` may still become `normal_lpdf`.
                || catalog::distributions()
                    .iter()
                    .any(|d| d.name.starts_with(word) || word.starts_with(d.name));
            if !grows {
                diags.push(
                    Diagnostic::new(
                        Predicate::Dependency,
                        t.span,
                        format!("no declared variable, keyword or function starts with `{word}`"),
                    )
                    .with_hint("names must be declared before they are used"),
                );
            }
            continue;
        }
        let called = tokens.get(i + 1).map(|t| t.kind) == Some(TokenKind::LParen);
        let after_tilde = i > 0 && tokens[i - 1].kind == TokenKind::Tilde;
        if called
            || after_tilde
            || known.contains(word)
            || words().any(|w| *w == word)
            || TYPE_WORDS.contains(&word)
        {
            continue;
        }
        diags.push(
            Diagnostic::new(
                Predicate::Dependency,
                t.span,
                format!("`{word}` is not declared"),
            )
            .with_hint("names must be declared before they are used"),
        );
    }
    diags
}
