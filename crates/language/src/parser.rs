//! Resilient recursive-descent parser: always returns a tree plus every error found.
//!
//! Statements are parsed by recursive descent, expressions by precedence climbing over
//! [`BinOp::precedence`] (unary `-`, `!`, `+` sit between `\` and `^`, postfix indexing and
//! transpose bind tightest, the ternary `?:` loosest).
//!
//! Error recovery: an expression that cannot be parsed becomes [`ExprKind::Error`] without consuming
//! input; the enclosing statement then reports what it expected and skips to the next `;`, `}` or
//! block keyword, leaving [`StmtKind::Error`] where nothing useful was recognised. Nesting depth is
//! bounded, so no input overflows the stack, and every loop consumes a token or stops.
//!
//! Prefix mode ([`parse_prefix`]) runs the same parser but drops errors detected at the end of input
//! or at a last token that more text could still change (an identifier, a number, `<` before `=`,
//! ...). Errors detected earlier are real: no continuation can repair them.

use crate::ast::*;
use crate::diagnostic::{Diagnostic, Predicate};
use crate::lexer::{lex, Token, TokenKind};

/// The result of parsing: a tree (with placeholders where the input was malformed) and all errors.
#[derive(Debug, Clone)]
pub struct Parse {
    /// The tree, with placeholders where the input was malformed.
    pub program: Program,
    /// Every parse error, in source order.
    pub errors: Vec<Diagnostic>,
}

/// Parse a whole program.
pub fn parse(src: &str) -> Parse {
    Parser::new(src, false).run().0
}

/// Parse a program prefix: errors caused only by the input ending early are not reported, so an
/// empty error list means "this prefix can still become a valid program".
pub fn parse_prefix(src: &str) -> Parse {
    Parser::new(src, true).run().0
}

/// [`parse_prefix`], also handing over the lexer's tokens (end of input included) and where the
/// text may still change (as [`lex`] in prefix mode gives them), so that a caller needing them
/// does not lex the text again.
pub(crate) fn parse_prefix_tokens(src: &str) -> (Parse, Vec<Token>, usize) {
    let parser = Parser::new(src, true);
    let incomplete_from = parser.incomplete_from;
    let (parse, tokens) = parser.run();
    (parse, tokens, incomplete_from)
}

/// Bound on the nesting of expressions and statements (each paren level costs about two units).
const MAX_DEPTH: usize = 200;

/// Words that cannot name a variable.
const RESERVED: &[&str] = &[
    "for",
    "in",
    "while",
    "repeat",
    "until",
    "if",
    "then",
    "else",
    "true",
    "false",
    "target",
    "functions",
    "model",
    "data",
    "parameters",
    "quantities",
    "transformed",
    "generated",
    "return",
    "break",
    "continue",
    "print",
    "reject",
    "fatal_error",
    "profile",
    "void",
    "int",
    "real",
    "complex",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "tuple",
    "simplex",
    "unit_vector",
    "sum_to_zero_vector",
    "ordered",
    "positive_ordered",
    "cholesky_factor_corr",
    "cholesky_factor_cov",
    "corr_matrix",
    "cov_matrix",
    "complex_vector",
    "complex_row_vector",
    "complex_matrix",
];

/// Stan types outside the subset: declaring one is an error that names the type.
const UNSUPPORTED_TYPES: &[&str] = &[
    "complex",
    "unit_vector",
    "sum_to_zero_vector",
    "tuple",
    "complex_vector",
    "complex_row_vector",
    "complex_matrix",
    "void",
];

const TYPE_KEYWORDS: &[&str] = &[
    "int",
    "real",
    "vector",
    "row_vector",
    "matrix",
    "array",
    "simplex",
    "ordered",
    "positive_ordered",
    "cholesky_factor_corr",
    "cholesky_factor_cov",
    "cov_matrix",
    "corr_matrix",
];

const BLOCK_KEYWORDS: &[&str] = &[
    "functions",
    "data",
    "transformed",
    "parameters",
    "model",
    "generated",
];

/// Suffixes of the functions that may use the conditional `f(y | theta)` notation.
const CONDITIONAL_SUFFIXES: &[&str] = &[
    "_lpdf", "_lupdf", "_lpmf", "_lupmf", "_lcdf", "_lccdf", "_cdf",
];

pub(crate) fn is_reserved(name: &str) -> bool {
    RESERVED.contains(&name)
}

/// Where a statement sits: which block, whether nested in a local scope, whether inside a loop.
#[derive(Debug, Clone, Copy)]
struct Ctx {
    block: BlockKind,
    nested: bool,
    in_loop: bool,
    /// Inside a function body (`return` allowed).
    in_function: bool,
}

impl Ctx {
    fn local(self) -> bool {
        self.nested || self.block == BlockKind::Model
    }
}

struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    prev_end: usize,
    errors: Vec<Diagnostic>,
    prefix: bool,
    incomplete_from: usize,
    depth: usize,
    /// Token index at which the last error was detected, to avoid cascades at one spot.
    last_error_at: Option<usize>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str, prefix: bool) -> Parser<'a> {
        let lexed = lex(src, prefix);
        let incomplete_from = lexed.incomplete_from;
        let errors = lexed
            .errors
            .into_iter()
            .filter(|e| !prefix || (e.span.start as usize) < incomplete_from)
            .collect();
        Parser {
            src,
            tokens: lexed.tokens,
            pos: 0,
            prev_end: 0,
            errors,
            prefix,
            incomplete_from,
            depth: 0,
            last_error_at: None,
        }
    }

    fn run(mut self) -> (Parse, Vec<Token>) {
        let program = self.program();
        let mut errors = self.errors;
        errors.sort_by_key(|e| (e.span.start, e.span.end));
        (Parse { program, errors }, self.tokens)
    }

    // ---------------------------------------------------------------- token helpers

    fn cur(&self) -> Token {
        self.tokens[self.pos.min(self.tokens.len() - 1)]
    }
    fn peek(&self) -> TokenKind {
        self.cur().kind
    }
    fn nth(&self, k: usize) -> TokenKind {
        self.tokens[(self.pos + k).min(self.tokens.len() - 1)].kind
    }
    fn text(&self, t: Token) -> &'a str {
        &self.src[t.span.range()]
    }
    fn cur_text(&self) -> &'a str {
        self.text(self.cur())
    }
    /// In a prefix: whether the token `k` ahead is the end or may still change with more text.
    fn nth_unfinished(&self, k: usize) -> bool {
        let t = self.tokens[(self.pos + k).min(self.tokens.len() - 1)];
        self.prefix && (t.kind == TokenKind::Eof || t.span.start as usize >= self.incomplete_from)
    }
    fn at(&self, kind: TokenKind) -> bool {
        self.peek() == kind
    }
    fn at_kw(&self, kw: &str) -> bool {
        self.at(TokenKind::Ident) && self.cur_text() == kw
    }
    fn at_block_keyword(&self) -> bool {
        self.at(TokenKind::Ident) && BLOCK_KEYWORDS.contains(&self.cur_text())
    }
    fn bump(&mut self) -> Token {
        let t = self.cur();
        if t.kind != TokenKind::Eof {
            self.pos += 1;
            self.prev_end = t.span.end as usize;
        }
        t
    }
    fn eat(&mut self, kind: TokenKind) -> bool {
        if self.at(kind) {
            self.bump();
            true
        } else {
            false
        }
    }
    /// The span from `start` to the end of the last consumed token.
    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.prev_end.max(start))
    }
    fn cur_start(&self) -> usize {
        self.cur().span.start as usize
    }

    /// What the current token is, for "found ..." in messages.
    fn found(&self) -> String {
        let t = self.cur();
        match t.kind {
            TokenKind::Eof => "end of input".to_string(),
            TokenKind::Ident => format!("`{}`", self.text(t)),
            TokenKind::Int | TokenKind::Real => format!("`{}`", self.text(t)),
            TokenKind::Str => "a string".to_string(),
            k => k.describe().to_string(),
        }
    }

    // ---------------------------------------------------------------- errors

    fn error(&mut self, span: Span, message: impl Into<String>, hint: Option<String>) {
        self.error_detected_at(self.pos, span, message, hint);
    }

    /// Record an error that the token at index `at` revealed (for prefix suppression and dedup).
    fn error_detected_at(
        &mut self,
        at: usize,
        span: Span,
        message: impl Into<String>,
        hint: Option<String>,
    ) {
        let tok = self.tokens[at.min(self.tokens.len() - 1)];
        let artefact = self.prefix
            && (tok.kind == TokenKind::Eof || tok.span.start as usize >= self.incomplete_from);
        // At an invalid token the lexer has already reported the problem.
        if artefact || self.last_error_at == Some(at) || tok.kind == TokenKind::Error {
            return;
        }
        self.last_error_at = Some(at);
        let mut d = Diagnostic::new(Predicate::Parse, span, message);
        d.hint = hint;
        self.errors.push(d);
    }

    fn error_here(&mut self, message: impl Into<String>, hint: Option<&str>) {
        let span = self.cur().span;
        self.error(span, message, hint.map(str::to_string));
    }

    /// Consume `kind` or report "expected X after/in CONTEXT, found Y".
    fn expect(&mut self, kind: TokenKind, context: &str) -> bool {
        if self.eat(kind) {
            return true;
        }
        let msg = format!(
            "expected {} {context}, found {}",
            kind.describe(),
            self.found()
        );
        self.error_here(msg, None);
        false
    }

    /// Expect the `;` that ends a statement; on a missing `;` before a new line, assume it was
    /// forgotten and carry on without skipping anything.
    fn expect_semi(&mut self) {
        if self.eat(TokenKind::Semi) {
            return;
        }
        let on_new_line = self.src[self.prev_end..self.cur_start()].contains('\n');
        let msg = format!("expected `;` after statement, found {}", self.found());
        if on_new_line || self.at(TokenKind::RBrace) {
            let span = if on_new_line {
                Span::new(self.prev_end, self.prev_end)
            } else {
                self.cur().span
            };
            let hint = if on_new_line {
                "add `;` at the end of the previous line"
            } else {
                "add `;` before `}`"
            };
            self.error(span, msg, Some(hint.to_string()));
        } else {
            self.error_here(msg, Some("end each statement with `;`"));
            self.recover();
        }
    }

    /// Skip to a statement boundary: past the next `;`, or up to a `}` / block keyword / end.
    fn recover(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::Semi if depth == 0 => {
                    self.bump();
                    return;
                }
                TokenKind::RBrace if depth == 0 => return,
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => {
                    // A skipped `{ ... }` group ends the broken statement.
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                TokenKind::Ident if self.at_block_keyword() => return,
                _ => {}
            }
            self.bump();
        }
    }

    /// Report excessive nesting and skip the rest of the current bracketed group.
    fn too_deep(&mut self) {
        self.error_here(
            "nesting is too deep",
            Some("split the expression or statement into smaller parts"),
        );
        let mut depth = 0usize;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::LParen | TokenKind::LBracket | TokenKind::LBrace => depth += 1,
                TokenKind::RParen | TokenKind::RBracket | TokenKind::RBrace => {
                    if depth == 0 {
                        return;
                    }
                    depth -= 1;
                }
                TokenKind::Semi if depth == 0 => return,
                _ => {}
            }
            self.bump();
        }
    }

    // ---------------------------------------------------------------- program and blocks

    fn program(&mut self) -> Program {
        let mut program = Program::default();
        let mut last: Option<BlockKind> = None;
        while !self.at(TokenKind::Eof) {
            let start = self.cur_start();
            if self.at_kw("functions") {
                let header = self.cur().span;
                if last.is_some() || program.functions.is_some() {
                    self.error(
                        header,
                        "the `functions` block must come first, and only once",
                        Some("move all function definitions into one `functions { ... }` block at the top".to_string()),
                    );
                }
                let block = self.functions_block(start);
                if program.functions.is_none() {
                    program.functions = Some(block);
                }
                continue;
            }
            let Some(kind) = self.block_header() else {
                continue;
            };
            let header = self.span_from(start);
            if let Some(prev) = last {
                if kind == prev || program.block(kind).is_some() {
                    self.error(
                        header,
                        format!("the `{}` block appears twice", kind.keyword()),
                        Some("merge the two blocks into one".to_string()),
                    );
                } else if kind < prev {
                    self.error(
                        header,
                        format!("the `{}` block must come before the `{}` block", kind.keyword(), prev.keyword()),
                        Some("blocks go in the order data, transformed data, parameters, transformed parameters, model, generated quantities".to_string()),
                    );
                }
            }
            let block = self.block_body(kind, start);
            let slot = program.block_mut(kind);
            if slot.is_none() {
                *slot = Some(block);
            }
            last = Some(last.map_or(kind, |l| l.max(kind)));
        }
        program
    }

    /// Parse the block keyword(s); on junk, report and skip to the next block keyword.
    fn block_header(&mut self) -> Option<BlockKind> {
        let kind = if self.at_kw("data") {
            Some(BlockKind::Data)
        } else if self.at_kw("parameters") {
            Some(BlockKind::Parameters)
        } else if self.at_kw("model") {
            Some(BlockKind::Model)
        } else if self.at_kw("transformed") {
            self.bump();
            if self.at_kw("data") {
                Some(BlockKind::TransformedData)
            } else if self.at_kw("parameters") {
                Some(BlockKind::TransformedParameters)
            } else {
                let msg = format!(
                    "expected `data` or `parameters` after `transformed`, found {}",
                    self.found()
                );
                self.error_here(msg, None);
                self.skip_to_block();
                return None;
            }
        } else if self.at_kw("generated") {
            self.bump();
            if self.at_kw("quantities") {
                Some(BlockKind::GeneratedQuantities)
            } else {
                let msg = format!(
                    "expected `quantities` after `generated`, found {}",
                    self.found()
                );
                self.error_here(msg, None);
                self.skip_to_block();
                return None;
            }
        } else {
            let msg = format!(
                "expected a block (`data`, `transformed data`, `parameters`, `transformed parameters`, `model` or `generated quantities`), found {}",
                self.found()
            );
            self.error_here(
                msg,
                Some("every statement must be inside a block such as `model { ... }`"),
            );
            self.bump();
            self.skip_to_block();
            return None;
        };
        self.bump();
        kind
    }

    /// Skip balanced tokens until a block keyword at brace depth zero.
    fn skip_to_block(&mut self) {
        let mut depth = 0usize;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => depth = depth.saturating_sub(1),
                TokenKind::Ident if depth == 0 && self.at_block_keyword() => return,
                _ => {}
            }
            self.bump();
        }
    }

    /// Skip an optional `{ ... }` group (used for unsupported blocks).
    fn skip_braced(&mut self) {
        while !self.at(TokenKind::Eof) && !self.at(TokenKind::LBrace) && !self.at_block_keyword() {
            self.bump();
        }
        if !self.at(TokenKind::LBrace) {
            return;
        }
        let mut depth = 0usize;
        loop {
            match self.peek() {
                TokenKind::Eof => return,
                TokenKind::LBrace => depth += 1,
                TokenKind::RBrace => {
                    depth -= 1;
                    if depth == 0 {
                        self.bump();
                        return;
                    }
                }
                _ => {}
            }
            self.bump();
        }
    }

    /// `functions { defs }` (the current token is `functions`).
    fn functions_block(&mut self, start: usize) -> FunctionsBlock {
        self.bump();
        let mut defs = Vec::new();
        if !self.expect(TokenKind::LBrace, "after `functions`") {
            self.skip_braced();
            return FunctionsBlock {
                defs,
                span: self.span_from(start),
            };
        }
        loop {
            if self.eat(TokenKind::RBrace) {
                break;
            }
            if self.at(TokenKind::Eof) || self.at_block_keyword() {
                let msg = format!(
                    "expected `}}` to close the `functions` block, found {}",
                    self.found()
                );
                self.error_here(msg, None);
                break;
            }
            let before = self.pos;
            if let Some(def) = self.fun_def() {
                defs.push(def);
            }
            if self.pos == before {
                self.bump();
            }
        }
        FunctionsBlock {
            defs,
            span: self.span_from(start),
        }
    }

    /// One function definition or forward declaration; `None` after an error (input skipped).
    fn fun_def(&mut self) -> Option<FunDef> {
        let start = self.cur_start();
        let ret = if self.at_kw("void") {
            self.bump();
            None
        } else {
            match self.unsized_type("return type") {
                Some(t) => Some(t),
                None => {
                    self.recover();
                    return None;
                }
            }
        };
        let Some(name) = self.ident("function name") else {
            self.recover();
            return None;
        };
        let mut params = Vec::new();
        if !self.expect(
            TokenKind::LParen,
            &format!("after the function name `{}`", name.name),
        ) {
            self.recover();
            return None;
        }
        if !self.eat(TokenKind::RParen) {
            loop {
                let data_only = self.at_kw("data");
                if data_only {
                    self.bump();
                }
                let Some(ty) = self.unsized_type("argument type") else {
                    self.recover();
                    return None;
                };
                let Some(pname) = self.ident("argument name") else {
                    self.recover();
                    return None;
                };
                params.push(FunParam {
                    data_only,
                    ty,
                    name: pname,
                });
                if !self.eat(TokenKind::Comma) {
                    break;
                }
            }
            if !self.expect(TokenKind::RParen, "to close the argument list") {
                self.recover();
                return None;
            }
        }
        let body = if self.eat(TokenKind::Semi) {
            None
        } else if self.at(TokenKind::LBrace) {
            let ctx = Ctx {
                block: BlockKind::Model,
                nested: true,
                in_loop: false,
                in_function: true,
            };
            Some(self.stmt(ctx))
        } else {
            let msg = format!(
                "expected the function body `{{ ... }}` or `;`, found {}",
                self.found()
            );
            self.error_here(msg, None);
            self.recover();
            None
        };
        Some(FunDef {
            ret,
            name,
            params,
            body,
            span: self.span_from(start),
        })
    }

    /// A type without sizes: `real`, `vector`, `array[,] int`, ...
    fn unsized_type(&mut self, what: &str) -> Option<UnsizedType> {
        let start = self.cur_start();
        let mut array_dims: u8 = 0;
        if self.at_kw("array") {
            self.bump();
            if self.expect(TokenKind::LBracket, "after `array`") {
                array_dims = 1;
                while self.eat(TokenKind::Comma) {
                    array_dims = array_dims.saturating_add(1);
                }
                if !self.expect(
                    TokenKind::RBracket,
                    "in `array[]` (function argument types have no sizes)",
                ) {
                    return None;
                }
            }
        }
        if !self.at(TokenKind::Ident) {
            let msg = format!("expected a {what}, found {}", self.found());
            self.error_here(msg, None);
            return None;
        }
        let base = match self.cur_text() {
            "int" => UnsizedBase::Int,
            "real" => UnsizedBase::Real,
            "vector" => UnsizedBase::Vector,
            "row_vector" => UnsizedBase::RowVector,
            "matrix" => UnsizedBase::Matrix,
            kw if UNSUPPORTED_TYPES.contains(&kw) || kw == "tuple" => {
                let msg = format!("the type `{kw}` is not supported in function signatures");
                self.error_here(
                    msg,
                    Some("use int, real, vector, row_vector, matrix or arrays of them"),
                );
                return None;
            }
            _ => {
                let msg = format!("expected a {what}, found {}", self.found());
                self.error_here(msg, None);
                return None;
            }
        };
        self.bump();
        if self.at(TokenKind::LBracket)
            && self.nth(1) != TokenKind::RBracket
            && self.nth(1) != TokenKind::Comma
        {
            self.error_here(
                "types in function signatures have no sizes",
                Some("write e.g. `vector x`, not `vector[N] x`"),
            );
            return None;
        }
        if self.at(TokenKind::LBracket) {
            // Pre-2.33 `real[]`.
            let bracket = self.cur_start();
            let mut dims = 1u8;
            self.bump();
            while self.eat(TokenKind::Comma) {
                dims = dims.saturating_add(1);
            }
            self.expect(TokenKind::RBracket, "to close `[]`");
            let commas = ",".repeat(dims as usize - 1);
            self.error(
                self.span_from(bracket),
                "array brackets after the type are no longer Stan syntax",
                Some(format!("write `array[{commas}] {}`", base.keyword())),
            );
            array_dims = array_dims.saturating_add(dims);
        }
        Some(UnsizedType {
            base,
            array_dims,
            span: self.span_from(start),
        })
    }

    fn block_body(&mut self, kind: BlockKind, start: usize) -> Block {
        let ctx = Ctx {
            block: kind,
            nested: false,
            in_loop: false,
            in_function: false,
        };
        if !self.at(TokenKind::LBrace) {
            let msg = format!(
                "expected `{{` after `{}`, found {}",
                kind.keyword(),
                self.found()
            );
            self.error_here(msg, None);
            if self.at_block_keyword() {
                return Block {
                    stmts: Vec::new(),
                    span: self.span_from(start),
                };
            }
        } else {
            self.bump();
        }
        let stmts = self.stmt_list(ctx, kind.keyword());
        Block {
            stmts,
            span: self.span_from(start),
        }
    }

    /// Statements up to and including the closing `}`.
    fn stmt_list(&mut self, ctx: Ctx, what: &str) -> Vec<Stmt> {
        let mut stmts = Vec::new();
        loop {
            if self.eat(TokenKind::RBrace) {
                break;
            }
            if self.at(TokenKind::Eof) || self.at_block_keyword() {
                let msg = format!(
                    "expected `}}` to close the `{what}` block, found {}",
                    self.found()
                );
                self.error_here(msg, None);
                break;
            }
            let before = self.pos;
            let stmt = self.stmt(ctx);
            stmts.push(stmt);
            if self.pos == before && !self.at(TokenKind::RBrace) && !self.at_block_keyword() {
                // Nothing consumed: skip one token so the loop makes progress.
                self.bump();
            }
        }
        stmts
    }

    // ---------------------------------------------------------------- statements

    fn stmt(&mut self, ctx: Ctx) -> Stmt {
        if self.depth >= MAX_DEPTH {
            let start = self.cur_start();
            self.too_deep();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        }
        self.depth += 1;
        let s = self.stmt_inner(ctx);
        self.depth -= 1;
        s
    }

    fn stmt_inner(&mut self, ctx: Ctx) -> Stmt {
        let start = self.cur_start();
        if self.at(TokenKind::Ident)
            && (TYPE_KEYWORDS.contains(&self.cur_text())
                || UNSUPPORTED_TYPES.contains(&self.cur_text()))
        {
            return self.decl(ctx);
        }
        if matches!(ctx.block, BlockKind::Data | BlockKind::Parameters) {
            let msg = format!(
                "only declarations are allowed in the `{}` block, found {}",
                ctx.block.keyword(),
                self.found()
            );
            self.error_here(
                msg,
                Some("move statements to the `model` or a `transformed` block"),
            );
            self.recover();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        }
        let kind = match self.peek() {
            TokenKind::RBrace | TokenKind::Eof => {
                let msg = format!("expected a statement, found {}", self.found());
                self.error_here(msg, None);
                StmtKind::Error
            }
            TokenKind::Semi => {
                self.bump();
                StmtKind::Empty
            }
            TokenKind::LBrace => {
                self.bump();
                let inner = Ctx {
                    nested: true,
                    ..ctx
                };
                StmtKind::Block(self.stmt_list(inner, "{"))
            }
            TokenKind::Ident => match self.cur_text() {
                "for" => self.for_stmt(ctx),
                "while" => {
                    self.bump();
                    let cond = self.paren_cond("while");
                    let body = self.stmt(Ctx {
                        nested: true,
                        in_loop: true,
                        ..ctx
                    });
                    StmtKind::While {
                        cond,
                        body: Box::new(body),
                    }
                }
                "if" => {
                    self.bump();
                    let cond = self.paren_cond("if");
                    let inner = Ctx {
                        nested: true,
                        ..ctx
                    };
                    let then = Box::new(self.stmt(inner));
                    let otherwise = if self.at_kw("else") {
                        self.bump();
                        Some(Box::new(self.stmt(inner)))
                    } else {
                        None
                    };
                    StmtKind::If {
                        cond,
                        then,
                        otherwise,
                    }
                }
                "print" | "reject" => {
                    let is_print = self.cur_text() == "print";
                    self.bump();
                    let items = self.printables(if is_print { "print" } else { "reject" });
                    self.expect_semi();
                    if is_print {
                        StmtKind::Print(items)
                    } else {
                        StmtKind::Reject(items)
                    }
                }
                "break" | "continue" => {
                    let is_break = self.cur_text() == "break";
                    if !ctx.in_loop {
                        let msg = format!("`{}` outside a loop", self.cur_text());
                        self.error_here(msg, Some("use it only inside `for` or `while`"));
                    }
                    self.bump();
                    self.expect_semi();
                    if is_break {
                        StmtKind::Break
                    } else {
                        StmtKind::Continue
                    }
                }
                "target" if self.nth(1) == TokenKind::PlusAssign => {
                    self.bump();
                    self.bump();
                    let e = self.expr();
                    self.expect_semi();
                    StmtKind::TargetPlus(e)
                }
                "else" => {
                    self.error_here("`else` without a matching `if`", None);
                    self.bump();
                    self.recover();
                    StmtKind::Error
                }
                "return" if ctx.in_function => {
                    self.bump();
                    if self.eat(TokenKind::Semi) {
                        StmtKind::Return(None)
                    } else {
                        let e = self.expr();
                        self.expect_semi();
                        StmtKind::Return(Some(e))
                    }
                }
                "return" => {
                    self.error_here(
                        "`return` is only allowed inside a function body",
                        Some("define a function in the `functions` block, or remove `return`"),
                    );
                    self.bump();
                    self.recover();
                    StmtKind::Error
                }
                "fatal_error" | "profile" => {
                    let msg = format!("`{}` is not supported", self.cur_text());
                    self.error_here(msg, None);
                    self.bump();
                    self.recover();
                    StmtKind::Error
                }
                _ => self.expr_stmt(),
            },
            _ => self.expr_stmt(),
        };
        Stmt {
            kind,
            span: self.span_from(start),
        }
    }

    fn paren_cond(&mut self, what: &str) -> Expr {
        if !self.eat(TokenKind::LParen) {
            let msg = format!("expected `(` after `{what}`, found {}", self.found());
            let hint = format!("write `{what} (condition) ...`");
            self.error_here(msg, Some(&hint));
        }
        let cond = self.expr();
        self.expect(
            TokenKind::RParen,
            &format!("to close the `{what}` condition"),
        );
        cond
    }

    fn for_stmt(&mut self, ctx: Ctx) -> StmtKind {
        self.bump();
        if !self.eat(TokenKind::LParen) {
            let msg = format!("expected `(` after `for`, found {}", self.found());
            self.error_here(msg, Some("write `for (i in 1:N) ...`"));
        }
        let var = match self.ident("loop variable") {
            Some(v) => v,
            None => {
                self.recover();
                return StmtKind::Error;
            }
        };
        if self.at_kw("in") {
            self.bump();
        } else {
            let msg = format!(
                "expected `in` after the loop variable, found {}",
                self.found()
            );
            self.error_here(msg, Some("write `for (i in 1:N)`"));
        }
        let first = self.expr();
        let range_upper = if self.eat(TokenKind::Colon) {
            Some(self.expr())
        } else {
            None
        };
        self.expect(TokenKind::RParen, "to close the `for` header");
        let body = Box::new(self.stmt(Ctx {
            nested: true,
            in_loop: true,
            ..ctx
        }));
        match range_upper {
            Some(upper) => StmtKind::For {
                var,
                lower: first,
                upper,
                body,
            },
            None => StmtKind::ForEach {
                var,
                container: first,
                body,
            },
        }
    }

    /// A new variable name; reports reserved words and missing names.
    fn ident(&mut self, what: &str) -> Option<Ident> {
        if self.at(TokenKind::Ident) {
            let t = self.cur();
            let name = self.text(t);
            if is_reserved(name) {
                let msg = format!("`{name}` is a reserved word and cannot be a {what}");
                self.error_here(msg, Some("choose another name"));
                self.bump();
                return Some(Ident {
                    name: name.to_string(),
                    span: t.span,
                });
            }
            if name.starts_with('_') || name.ends_with("__") {
                let msg = format!(
                    "`{name}` is not a valid name: names cannot start with `_` or end with `__`"
                );
                self.error_here(msg, None);
            }
            self.bump();
            Some(Ident {
                name: name.to_string(),
                span: t.span,
            })
        } else {
            let msg = format!("expected a {what}, found {}", self.found());
            self.error_here(msg, None);
            None
        }
    }

    fn printables(&mut self, what: &str) -> Vec<Printable> {
        let mut items = Vec::new();
        if !self.expect(TokenKind::LParen, &format!("after `{what}`")) {
            return items;
        }
        loop {
            if self.at(TokenKind::Str) {
                let t = self.bump();
                let text = self.text(t);
                let inner = text.strip_prefix('"').unwrap_or(text);
                let inner = inner.strip_suffix('"').unwrap_or(inner);
                items.push(Printable::Str(inner.to_string()));
            } else {
                items.push(Printable::Expr(self.expr()));
            }
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect(TokenKind::RParen, &format!("to close `{what}(`"));
        items
    }

    /// `lhs ~ dist(args) T[..];` or `lvalue op= rhs;`.
    fn expr_stmt(&mut self) -> StmtKind {
        let lhs = self.expr();
        if self.at(TokenKind::Tilde) {
            self.bump();
            return self.tilde_rest(lhs);
        }
        if let Some(op) = assign_op(self.peek()) {
            let lvalue = to_lvalue(&lhs);
            if lvalue.is_none() && !matches!(lhs.kind, ExprKind::Error) {
                self.error(
                    lhs.span,
                    "the left side of an assignment must be a variable, optionally indexed",
                    Some("assign to a name such as `x` or `x[i]`".to_string()),
                );
            }
            self.bump();
            let rhs = self.expr();
            self.expect_semi();
            return match lvalue {
                Some(lhs) => StmtKind::Assign { lhs, op, rhs },
                None => StmtKind::Error,
            };
        }
        if matches!(lhs.kind, ExprKind::Error) {
            // The expression parser reported the problem already (or input ended).
            let msg = format!("expected a statement, found {}", self.found());
            self.error_here(msg, None);
            self.recover();
            return StmtKind::Error;
        }
        if self.at(TokenKind::Semi) {
            if let ExprKind::Call { name, .. } = &lhs.kind {
                // A call of a (user-defined) void function; the checker knows which those are.
                if crate::check::catalog::resolve(&name.name).is_none() {
                    self.bump();
                    return StmtKind::Call(lhs);
                }
            }
        }
        let (msg, hint) = if self.at(TokenKind::Semi)
            && matches!(lhs.kind, ExprKind::Call { .. } | ExprKind::CondCall { .. })
        {
            (
                "a function call is not a statement".to_string(),
                "use it in `target += ...;` or assign its value".to_string(),
            )
        } else if matches!(&lhs.kind, ExprKind::Call { name, .. } if matches!(name.name.as_str(), "elif" | "elsif" | "elseif"))
        {
            (
                format!(
                    "expected `~` or an assignment after the expression, found {}",
                    self.found()
                ),
                "Stan has no `elif`; write `else if (...)`".to_string(),
            )
        } else {
            (
                format!(
                    "expected `~` or an assignment after the expression, found {}",
                    self.found()
                ),
                "a statement is `y ~ dist(...);`, `target += ...;` or `x = ...;`".to_string(),
            )
        };
        self.error_here(msg, Some(&hint));
        self.recover();
        StmtKind::Error
    }

    fn tilde_rest(&mut self, lhs: Expr) -> StmtKind {
        if !self.at(TokenKind::Ident) || is_reserved(self.cur_text()) {
            let msg = format!(
                "expected a distribution name after `~`, found {}",
                self.found()
            );
            self.error_here(msg, Some("write e.g. `y ~ normal(mu, sigma);`"));
            self.recover();
            return StmtKind::Error;
        }
        let t = self.bump();
        let dist = Ident {
            name: self.text(t).to_string(),
            span: t.span,
        };
        let mut args = Vec::new();
        if self.expect(
            TokenKind::LParen,
            &format!("after the distribution name `{}`", dist.name),
        ) {
            args = self.expr_list(TokenKind::RParen, "to close the argument list");
        }
        let mut truncation = None;
        // In a prefix, `T` before the end may still be followed by `[`.
        let truncation_next = self.nth(1) == TokenKind::LBracket || self.nth_unfinished(1);
        if self.at_kw("T") && truncation_next {
            let start = self.cur_start();
            self.bump();
            self.expect(TokenKind::LBracket, "after `T`");
            let lower = if self.at(TokenKind::Comma) {
                None
            } else {
                Some(self.expr())
            };
            self.expect(TokenKind::Comma, "between the truncation bounds");
            let upper = if self.at(TokenKind::RBracket) {
                None
            } else {
                Some(self.expr())
            };
            self.expect(TokenKind::RBracket, "to close the truncation");
            truncation = Some(Truncation {
                lower,
                upper,
                span: self.span_from(start),
            });
        }
        self.expect_semi();
        StmtKind::Tilde {
            lhs,
            dist,
            args,
            truncation,
        }
    }

    // ---------------------------------------------------------------- declarations

    fn decl(&mut self, ctx: Ctx) -> Stmt {
        let start = self.cur_start();
        let Some(mut ty) = self.type_decl(ctx) else {
            self.recover();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        };
        let Some(name) = self.ident("variable name") else {
            self.recover();
            return Stmt {
                kind: StmtKind::Error,
                span: self.span_from(start),
            };
        };
        if self.at(TokenKind::LBracket) {
            // Pre-2.33 array syntax `real y[N];`.
            let bracket = self.cur_start();
            let bracket_pos = self.pos;
            self.bump();
            let dims = self.expr_list(TokenKind::RBracket, "to close the array dimensions");
            let dims_text =
                &self.src[bracket + 1..self.prev_end.saturating_sub(1).max(bracket + 1)];
            let ty_text = &self.src[ty.span.range()];
            let hint = format!(
                "write `array[{}] {} {};`",
                dims_text.trim(),
                ty_text,
                name.name
            );
            self.error_detected_at(
                bracket_pos,
                self.span_from(bracket),
                "array dimensions after the variable name are no longer Stan syntax",
                Some(hint),
            );
            if ty.array_dims.is_empty() {
                ty.array_dims = dims;
            }
        }
        if self.at(TokenKind::Tilde) {
            let hint = format!(
                "declare `{}` here and write `{} ~ ...;` in the `model` block",
                name.name, name.name
            );
            self.error_here("a declaration cannot be followed by `~`", Some(&hint));
            self.recover();
            return Stmt {
                kind: StmtKind::Decl {
                    ty,
                    name,
                    init: None,
                },
                span: self.span_from(start),
            };
        }
        if self.at(TokenKind::Comma) {
            let ty_text = &self.src[ty.span.range()];
            let hint = format!("write `{ty_text} {}; {ty_text} ...;`", name.name);
            self.error_here("declare one variable per statement", Some(&hint));
        }
        let mut init = None;
        if self.at(TokenKind::Assign) {
            if matches!(ctx.block, BlockKind::Data | BlockKind::Parameters) && !ctx.nested {
                let msg = format!(
                    "variables in the `{}` block cannot have an initial value",
                    ctx.block.keyword()
                );
                self.error_here(
                    msg,
                    Some("declare the variable here and compute values in a `transformed` block"),
                );
            }
            self.bump();
            init = Some(self.expr());
        }
        self.expect_semi();
        Stmt {
            kind: StmtKind::Decl { ty, name, init },
            span: self.span_from(start),
        }
    }

    fn type_decl(&mut self, ctx: Ctx) -> Option<TypeDecl> {
        let start = self.cur_start();
        let mut array_dims = Vec::new();
        if self.at_kw("array") {
            self.bump();
            if self.expect(TokenKind::LBracket, "after `array`") {
                array_dims = self.expr_list(TokenKind::RBracket, "to close the array dimensions");
                if array_dims.is_empty() {
                    self.error(
                        self.span_from(start),
                        "an array needs at least one dimension",
                        Some("write `array[N] real y;`".to_string()),
                    );
                }
            }
        }
        if !self.at(TokenKind::Ident) {
            let msg = format!("expected a type, found {}", self.found());
            self.error_here(msg, None);
            return None;
        }
        let kw_tok = self.cur();
        let kw = self.text(kw_tok);
        if UNSUPPORTED_TYPES.contains(&kw) {
            let msg = format!("the type `{kw}` is not supported");
            self.error_here(msg, Some("use one of int, real, vector, row_vector, matrix, simplex, ordered, positive_ordered, cholesky_factor_corr, cholesky_factor_cov, cov_matrix, corr_matrix"));
            return None;
        }
        if !TYPE_KEYWORDS.contains(&kw) || kw == "array" {
            let msg = format!("expected a type, found {}", self.found());
            self.error_here(msg, None);
            return None;
        }
        self.bump();
        let boundable = matches!(kw, "int" | "real" | "vector" | "row_vector" | "matrix");
        let mut bounds = Bounds::None;
        if self.at(TokenKind::Lt) {
            if !boundable {
                let msg = format!("`{kw}` cannot have bounds");
                self.error_here(msg, None);
            } else if ctx.local() {
                self.error_here(
                    "local variables cannot have bounds",
                    Some("remove the `<...>`; bounds belong on block-level declarations"),
                );
            }
            bounds = self.bounds();
        }
        if ctx.local() && !boundable {
            self.error(
                kw_tok.span,
                format!("local variables cannot have the constrained type `{kw}`"),
                Some("declare a `vector` or `matrix` instead".to_string()),
            );
        }
        let sizes_needed = match kw {
            "int" | "real" => 0,
            "matrix" => 2,
            _ => 1,
        };
        let mut sizes = Vec::new();
        if sizes_needed > 0 {
            if self.expect(TokenKind::LBracket, &format!("after `{kw}` (its size)")) {
                sizes = self.expr_list(TokenKind::RBracket, "to close the size");
            }
            let two_ok = kw == "cholesky_factor_cov" && sizes.len() == 2;
            if sizes.len() != sizes_needed && !two_ok {
                let msg = format!(
                    "`{kw}` takes {sizes_needed} size{}, found {}",
                    if sizes_needed == 1 { "" } else { "s" },
                    sizes.len()
                );
                self.error(self.span_from(start), msg, None);
            }
        }
        let mut sizes = sizes.into_iter();
        let mut size = || -> Box<Expr> {
            Box::new(
                sizes
                    .next()
                    .unwrap_or_else(|| Expr::new(ExprKind::Error, Span::new(start, start))),
            )
        };
        let base = match kw {
            "int" => BaseType::Int,
            "real" => BaseType::Real,
            "vector" => BaseType::Vector(size()),
            "row_vector" => BaseType::RowVector(size()),
            "matrix" => {
                let rows = size();
                BaseType::Matrix(rows, size())
            }
            "simplex" => BaseType::Simplex(size()),
            "ordered" => BaseType::Ordered(size()),
            "positive_ordered" => BaseType::PositiveOrdered(size()),
            "cholesky_factor_corr" => BaseType::CholeskyFactorCorr(size()),
            "cholesky_factor_cov" => {
                let m = size();
                let n = sizes.next().map(Box::new);
                BaseType::CholeskyFactorCov(m, n)
            }
            "corr_matrix" => BaseType::CorrMatrix(size()),
            _ => BaseType::CovMatrix(size()),
        };
        Some(TypeDecl {
            base,
            bounds,
            array_dims,
            span: self.span_from(start),
        })
    }

    /// `<lower=a, upper=b>`, `<offset=a, multiplier=b>` and their one-sided forms.
    fn bounds(&mut self) -> Bounds {
        let start = self.cur_start();
        self.bump(); // `<`
        let mut keys: Vec<(String, Expr)> = Vec::new();
        loop {
            if !self.at(TokenKind::Ident) {
                let msg = format!(
                    "expected `lower`, `upper`, `offset` or `multiplier`, found {}",
                    self.found()
                );
                self.error_here(msg, None);
                break;
            }
            let key = self.cur_text().to_string();
            if !matches!(key.as_str(), "lower" | "upper" | "offset" | "multiplier") {
                let msg =
                    format!("expected `lower`, `upper`, `offset` or `multiplier`, found `{key}`");
                self.error_here(msg, None);
                break;
            }
            self.bump();
            self.expect(TokenKind::Assign, &format!("after `{key}`"));
            // Bound expressions exclude comparisons, so that `>` closes the bounds.
            let e = self.binary(BinOp::Add.precedence());
            keys.push((key, e));
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect(TokenKind::Gt, "to close the bounds");
        let mut lower = None;
        let mut upper = None;
        let mut offset = None;
        let mut multiplier = None;
        let mut order_ok = true;
        let mut last_rank = 0;
        for (key, e) in keys {
            let (slot, rank) = match key.as_str() {
                "lower" => (&mut lower, 1),
                "upper" => (&mut upper, 2),
                "offset" => (&mut offset, 3),
                _ => (&mut multiplier, 4),
            };
            if rank <= last_rank || slot.is_some() {
                order_ok = false;
            }
            last_rank = rank;
            *slot = Some(e);
        }
        let lu = lower.is_some() || upper.is_some();
        let om = offset.is_some() || multiplier.is_some();
        if lu && om {
            self.error(
                self.span_from(start),
                "bounds cannot mix `lower`/`upper` with `offset`/`multiplier`",
                None,
            );
        } else if !order_ok {
            self.error(
                self.span_from(start),
                "bounds must be written `<lower=.., upper=..>` or `<offset=.., multiplier=..>`, each at most once and in that order",
                None,
            );
        }
        if om && !lu {
            Bounds::OffsetMultiplier { offset, multiplier }
        } else if lu {
            Bounds::LowerUpper { lower, upper }
        } else {
            Bounds::None
        }
    }

    // ---------------------------------------------------------------- expressions

    /// Comma-separated expressions up to `close` (consumed).
    fn expr_list(&mut self, close: TokenKind, context: &str) -> Vec<Expr> {
        let mut items = Vec::new();
        if self.eat(close) {
            return items;
        }
        loop {
            items.push(self.expr());
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect(close, context);
        items
    }

    fn expr(&mut self) -> Expr {
        if self.depth >= MAX_DEPTH {
            let start = self.cur_start();
            self.too_deep();
            return Expr::new(ExprKind::Error, self.span_from(start));
        }
        self.depth += 1;
        let e = self.ternary();
        self.depth -= 1;
        e
    }

    fn ternary(&mut self) -> Expr {
        let start = self.cur_start();
        let cond = self.binary(1);
        if !self.at(TokenKind::Question) {
            return cond;
        }
        self.bump();
        let then = self.expr();
        self.expect(
            TokenKind::Colon,
            "in the conditional expression `c ? a : b`",
        );
        let otherwise = self.expr();
        Expr::new(
            ExprKind::Ternary {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(otherwise),
            },
            self.span_from(start),
        )
    }

    /// Precedence climbing: operators binding at least `min_prec`.
    fn binary(&mut self, min_prec: u8) -> Expr {
        if self.depth >= MAX_DEPTH {
            let start = self.cur_start();
            self.too_deep();
            return Expr::new(ExprKind::Error, self.span_from(start));
        }
        self.depth += 1;
        let start = self.cur_start();
        let mut lhs = self.unary();
        // Each operator in a chain nests the tree one level deeper, so it counts against the depth
        // bound too (later phases walk trees recursively).
        let mut chain = 0;
        while let Some(op) = bin_op(self.peek()) {
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            if self.depth >= MAX_DEPTH {
                self.too_deep();
                break;
            }
            self.depth += 1;
            chain += 1;
            self.bump();
            let rhs = self.binary(if op.right_assoc() { prec } else { prec + 1 });
            lhs = Expr::new(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                self.span_from(start),
            );
        }
        self.depth -= 1 + chain;
        lhs
    }

    fn unary(&mut self) -> Expr {
        let op = match self.peek() {
            TokenKind::Minus => UnOp::Neg,
            TokenKind::Plus => UnOp::Plus,
            TokenKind::Not => UnOp::Not,
            _ => return self.postfix(),
        };
        let start = self.cur_start();
        self.bump();
        // The operand binds `^` but nothing looser: `-x^2` is `-(x^2)`, `-x*y` is `(-x)*y`.
        let operand = self.binary(BinOp::Pow.precedence());
        Expr::new(
            ExprKind::Unary {
                op,
                expr: Box::new(operand),
            },
            self.span_from(start),
        )
    }

    fn postfix(&mut self) -> Expr {
        let start = self.cur_start();
        let mut e = self.primary();
        loop {
            match self.peek() {
                TokenKind::LBracket => {
                    self.bump();
                    let indices = self.indices();
                    e = Expr::new(
                        ExprKind::Index {
                            expr: Box::new(e),
                            indices,
                        },
                        self.span_from(start),
                    );
                }
                TokenKind::Quote => {
                    self.bump();
                    e = Expr::new(ExprKind::Transpose(Box::new(e)), self.span_from(start));
                }
                _ => return e,
            }
        }
    }

    /// Index list after `[` up to and including `]`.
    fn indices(&mut self) -> Vec<Index> {
        let mut out = Vec::new();
        loop {
            let ends = |k: TokenKind| matches!(k, TokenKind::RBracket | TokenKind::Comma);
            let index = if ends(self.peek()) {
                // An omitted index, as in `x[, k]`, means "all".
                Index::All
            } else if self.eat(TokenKind::Colon) {
                if ends(self.peek()) {
                    Index::All
                } else {
                    Index::Range {
                        lower: None,
                        upper: Some(self.expr()),
                    }
                }
            } else {
                let e = self.expr();
                if self.eat(TokenKind::Colon) {
                    if ends(self.peek()) {
                        Index::Range {
                            lower: Some(e),
                            upper: None,
                        }
                    } else {
                        Index::Range {
                            lower: Some(e),
                            upper: Some(self.expr()),
                        }
                    }
                } else {
                    Index::Single(e)
                }
            };
            out.push(index);
            if !self.eat(TokenKind::Comma) {
                break;
            }
        }
        self.expect(TokenKind::RBracket, "to close the index");
        out
    }

    fn primary(&mut self) -> Expr {
        let t = self.cur();
        let start = t.span.start as usize;
        let text = self.text(t);
        match t.kind {
            TokenKind::Int => {
                self.bump();
                let kind = match text.parse::<i64>() {
                    Ok(v) => ExprKind::IntLit(v),
                    Err(_) => {
                        self.error(
                            t.span,
                            "integer literal is too large",
                            Some("write it as a real, e.g. `1e20`".to_string()),
                        );
                        ExprKind::Error
                    }
                };
                Expr::new(kind, t.span)
            }
            TokenKind::Real => {
                self.bump();
                // Malformed exponents were reported by the lexer; parse what is there.
                let digits = text.trim_end_matches(['e', 'E', '+', '-']);
                let value = digits.parse::<f64>().unwrap_or(0.0);
                Expr::new(
                    ExprKind::RealLit {
                        value,
                        text: text.to_string(),
                    },
                    t.span,
                )
            }
            TokenKind::Str => {
                self.error_here(
                    "string literals are only allowed in `print` and `reject`",
                    None,
                );
                self.bump();
                let inner = text.trim_start_matches('"').trim_end_matches('"');
                Expr::new(ExprKind::StrLit(inner.to_string()), t.span)
            }
            TokenKind::Ident => self.ident_expr(),
            TokenKind::LParen => {
                self.bump();
                let inner = self.expr();
                self.expect(TokenKind::RParen, "to close `(`");
                Expr::new(ExprKind::Paren(Box::new(inner)), self.span_from(start))
            }
            TokenKind::LBrace => {
                self.bump();
                let items = self.expr_list(TokenKind::RBrace, "to close the array expression");
                if items.is_empty() {
                    self.error(
                        self.span_from(start),
                        "an array expression `{...}` needs at least one element",
                        None,
                    );
                }
                Expr::new(ExprKind::ArrayLit(items), self.span_from(start))
            }
            TokenKind::LBracket => {
                self.bump();
                let items =
                    self.expr_list(TokenKind::RBracket, "to close the row vector expression");
                Expr::new(ExprKind::RowVectorLit(items), self.span_from(start))
            }
            TokenKind::Error => {
                // Already reported by the lexer.
                self.bump();
                Expr::new(ExprKind::Error, t.span)
            }
            _ => {
                let msg = format!("expected an expression, found {}", self.found());
                let after_star = self.pos > 0 && self.tokens[self.pos - 1].kind == TokenKind::Star;
                let hint =
                    (self.at(TokenKind::Star) && after_star).then_some("write powers with `^`");
                self.error_here(msg, hint);
                Expr::new(ExprKind::Error, Span::new(start, start))
            }
        }
    }

    fn ident_expr(&mut self) -> Expr {
        let t = self.cur();
        let start = t.span.start as usize;
        let name = self.text(t);
        if name == "target" {
            self.bump();
            if self.at(TokenKind::LParen) && self.nth(1) == TokenKind::RParen {
                self.bump();
                self.bump();
                let ident = Ident {
                    name: name.to_string(),
                    span: t.span,
                };
                return Expr::new(
                    ExprKind::Call {
                        name: ident,
                        args: Vec::new(),
                    },
                    self.span_from(start),
                );
            }
            if self.at(TokenKind::LParen) {
                self.bump();
            }
            self.error(
                t.span,
                "`target` can only be used as `target += ...;` or `target()`",
                None,
            );
            return Expr::new(ExprKind::Error, t.span);
        }
        if name == "true" || name == "false" {
            self.error_here(
                "Stan has no boolean literals",
                Some("use `1` for true and `0` for false"),
            );
            self.bump();
            return Expr::new(ExprKind::Error, t.span);
        }
        if is_reserved(name) {
            let msg = format!("expected an expression, found the keyword `{name}`");
            self.error_here(msg, None);
            return Expr::new(ExprKind::Error, Span::new(start, start));
        }
        self.bump();
        let ident = Ident {
            name: name.to_string(),
            span: t.span,
        };
        if !self.at(TokenKind::LParen) {
            return Expr::new(ExprKind::Var(ident), t.span);
        }
        self.bump();
        let mut args = Vec::new();
        let mut conditional = false;
        if !self.eat(TokenKind::RParen) {
            args.push(self.expr());
            if self.at(TokenKind::Bar) {
                if CONDITIONAL_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                    conditional = true;
                } else {
                    let msg = format!(
                        "`|` separates the outcome only in `_lpdf`, `_lupdf`, `_lpmf`, `_lupmf`, `_lcdf`, `_lccdf` and `_cdf` calls, not in `{name}`"
                    );
                    self.error(
                        self.cur().span,
                        msg,
                        Some("separate arguments with `,`".to_string()),
                    );
                }
                self.bump();
                if !self.at(TokenKind::RParen) {
                    loop {
                        args.push(self.expr());
                        if !self.eat(TokenKind::Comma) {
                            break;
                        }
                    }
                }
            } else {
                while self.eat(TokenKind::Comma) {
                    args.push(self.expr());
                }
            }
            self.expect(
                TokenKind::RParen,
                &format!("to close the arguments of `{name}`"),
            );
        }
        let kind = if conditional {
            ExprKind::CondCall { name: ident, args }
        } else {
            ExprKind::Call { name: ident, args }
        };
        Expr::new(kind, self.span_from(start))
    }
}

fn assign_op(kind: TokenKind) -> Option<AssignOp> {
    Some(match kind {
        TokenKind::Assign => AssignOp::Set,
        TokenKind::PlusAssign => AssignOp::Add,
        TokenKind::MinusAssign => AssignOp::Sub,
        TokenKind::StarAssign => AssignOp::Mul,
        TokenKind::SlashAssign => AssignOp::Div,
        TokenKind::EltMulAssign => AssignOp::EltMul,
        TokenKind::EltDivAssign => AssignOp::EltDiv,
        _ => return None,
    })
}

fn bin_op(kind: TokenKind) -> Option<BinOp> {
    Some(match kind {
        TokenKind::Plus => BinOp::Add,
        TokenKind::Minus => BinOp::Sub,
        TokenKind::Star => BinOp::Mul,
        TokenKind::Slash => BinOp::Div,
        TokenKind::IntDiv => BinOp::IntDiv,
        TokenKind::Percent => BinOp::Mod,
        TokenKind::Caret => BinOp::Pow,
        TokenKind::EltMul => BinOp::EltMul,
        TokenKind::EltDiv => BinOp::EltDiv,
        TokenKind::Backslash => BinOp::LeftDiv,
        TokenKind::EltPow => BinOp::EltPow,
        TokenKind::Lt => BinOp::Lt,
        TokenKind::Le => BinOp::Le,
        TokenKind::Gt => BinOp::Gt,
        TokenKind::Ge => BinOp::Ge,
        TokenKind::EqEq => BinOp::Eq,
        TokenKind::Ne => BinOp::Ne,
        TokenKind::AndAnd => BinOp::And,
        TokenKind::OrOr => BinOp::Or,
        _ => return None,
    })
}

/// `x`, `x[i]`, `x[i, j][k]` as an assignable place; `None` for anything else.
fn to_lvalue(e: &Expr) -> Option<LValue> {
    match &e.kind {
        ExprKind::Var(name) => Some(LValue {
            name: name.clone(),
            indices: Vec::new(),
            span: e.span,
        }),
        ExprKind::Index { expr, indices } => {
            let mut lv = to_lvalue(expr)?;
            lv.indices.push(indices.clone());
            lv.span = e.span;
            Some(lv)
        }
        _ => None,
    }
}
