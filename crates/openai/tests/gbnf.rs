//! The GBNF grammar the client sends with `&grammar=gbnf` (`STATEMENT_GBNF`), read with the rules
//! of llama.cpp's grammar parser (`llama-grammar.cpp`: rule names of letters, digits and `-`,
//! rules on their own lines, `#` comments, literals, character classes, groups, `* + ? {m,n}`),
//! and matched against program steps. llama.cpp refuses a grammar it cannot parse, and
//! llama-cpp-python's server (0.3.36) then dies on the request (see BENCHMARKS.md, "A real
//! llama.cpp server"), so an edit the parser would refuse must fail here first. Checked against
//! the real server by `scripts/llama_server/run.sh`; the refused examples below are the ones
//! llama.cpp 0c1e57098bba refuses (`llama_sampler_init_grammar` returns null for each).

use refinestat_openai::{GrammarKind, OpenAiModel, OpenAiSpec};
use refinestat_synthesis::statements::{CompletionRequest, STATEMENT_GBNF};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone)]
enum Node {
    Literal(Vec<char>),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
    Any,
    Rule(String),
    Group(Vec<Vec<Node>>),
    Repeat(Box<Node>, usize, Option<usize>),
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn error(&self, what: &str) -> String {
        let line = self.chars[..self.pos.min(self.chars.len())]
            .iter()
            .filter(|&&c| c == '\n')
            .count()
            + 1;
        format!("{what} at line {line} of {} chars", self.src.len())
    }

    /// Blanks and comments; newlines only where `newline_ok` (llama.cpp's `parse_space`).
    fn space(&mut self, newline_ok: bool) {
        while let Some(c) = self.peek() {
            if c == '#' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
            } else if c == ' ' || c == '\t' || (newline_ok && (c == '\n' || c == '\r')) {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn name(&mut self) -> Result<String, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a rule name"));
        }
        Ok(self.chars[start..self.pos].iter().collect())
    }

    fn escaped_char(&mut self) -> Result<char, String> {
        let c = self
            .peek()
            .ok_or_else(|| self.error("unexpected end of input"))?;
        self.pos += 1;
        if c != '\\' {
            return Ok(c);
        }
        let e = self
            .peek()
            .ok_or_else(|| self.error("unexpected end of input"))?;
        self.pos += 1;
        let hex = |p: &mut Parser, n: usize| -> Result<char, String> {
            let digits: String = p
                .chars
                .get(p.pos..p.pos + n)
                .unwrap_or(&[])
                .iter()
                .collect();
            p.pos += n;
            u32::from_str_radix(&digits, 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| p.error("bad hex escape"))
        };
        match e {
            'x' => hex(self, 2),
            'u' => hex(self, 4),
            'U' => hex(self, 8),
            't' => Ok('\t'),
            'r' => Ok('\r'),
            'n' => Ok('\n'),
            '\\' | '"' | '[' | ']' => Ok(e),
            _ => Err(self.error(&format!("unknown escape \\{e}"))),
        }
    }

    fn sequence(&mut self, nested: bool) -> Result<Vec<Node>, String> {
        let mut items: Vec<Node> = Vec::new();
        loop {
            let item = match self.peek() {
                Some('"') => {
                    self.pos += 1;
                    let mut text = Vec::new();
                    while self.peek() != Some('"') {
                        text.push(self.escaped_char()?);
                    }
                    self.pos += 1;
                    Node::Literal(text)
                }
                Some('[') => {
                    self.pos += 1;
                    let negated = self.peek() == Some('^');
                    if negated {
                        self.pos += 1;
                    }
                    let mut ranges = Vec::new();
                    while self.peek() != Some(']') {
                        let lo = self.escaped_char()?;
                        let hi = if self.peek() == Some('-')
                            && self.chars.get(self.pos + 1) != Some(&']')
                        {
                            self.pos += 1;
                            self.escaped_char()?
                        } else {
                            lo
                        };
                        ranges.push((lo, hi));
                    }
                    self.pos += 1;
                    Node::Class { negated, ranges }
                }
                Some('.') => {
                    self.pos += 1;
                    Node::Any
                }
                Some('(') => {
                    self.pos += 1;
                    self.space(true);
                    let alternates = self.alternates(true)?;
                    if self.peek() != Some(')') {
                        return Err(self.error("expecting ')'"));
                    }
                    self.pos += 1;
                    Node::Group(alternates)
                }
                Some(c) if c.is_ascii_alphanumeric() || c == '-' => Node::Rule(self.name()?),
                Some(c @ ('*' | '+' | '?' | '{')) => {
                    let last = items
                        .pop()
                        .ok_or_else(|| self.error(&format!("expecting preceding item to {c}")))?;
                    self.pos += 1;
                    let (min, max) = match c {
                        '*' => (0, None),
                        '+' => (1, None),
                        '?' => (0, Some(1)),
                        _ => {
                            let close = self.chars[self.pos..]
                                .iter()
                                .position(|&c| c == '}')
                                .ok_or_else(|| self.error("expecting '}'"))?;
                            let body: String =
                                self.chars[self.pos..self.pos + close].iter().collect();
                            self.pos += close + 1;
                            let number = |s: &str| s.trim().parse::<usize>().ok();
                            match body.split_once(',') {
                                None => {
                                    let n = number(&body).ok_or_else(|| self.error("bad {m}"))?;
                                    (n, Some(n))
                                }
                                Some((m, n)) => (
                                    number(m).ok_or_else(|| self.error("bad {m,n}"))?,
                                    if n.trim().is_empty() {
                                        None
                                    } else {
                                        Some(number(n).ok_or_else(|| self.error("bad {m,n}"))?)
                                    },
                                ),
                            }
                        }
                    };
                    Node::Repeat(Box::new(last), min, max)
                }
                _ => break,
            };
            items.push(item);
            self.space(nested);
        }
        Ok(items)
    }

    fn alternates(&mut self, nested: bool) -> Result<Vec<Vec<Node>>, String> {
        let mut alternates = vec![self.sequence(nested)?];
        while self.peek() == Some('|') {
            self.pos += 1;
            self.space(true);
            alternates.push(self.sequence(nested)?);
        }
        Ok(alternates)
    }
}

/// The grammar's rules, or llama.cpp's reason to refuse it.
fn parse_gbnf(src: &str) -> Result<BTreeMap<String, Vec<Vec<Node>>>, String> {
    let mut p = Parser {
        chars: src.chars().collect(),
        pos: 0,
        src,
    };
    let mut rules = BTreeMap::new();
    p.space(true);
    while p.peek().is_some() {
        let name = p.name()?;
        p.space(false);
        if !p.chars[p.pos..].starts_with(&[':', ':', '=']) {
            return Err(p.error(&format!("expecting ::= after `{name}`")));
        }
        p.pos += 3;
        p.space(true);
        let alternates = p.alternates(false)?;
        match p.peek() {
            None => {}
            Some('\r' | '\n') => p.space(true),
            Some(c) => return Err(p.error(&format!("expecting newline or end, found `{c}`"))),
        }
        if rules.insert(name.clone(), alternates).is_some() {
            return Err(format!("rule `{name}` is defined twice"));
        }
    }
    fn refs(nodes: &[Node], out: &mut Vec<String>) {
        for node in nodes {
            match node {
                Node::Rule(name) => out.push(name.clone()),
                Node::Group(alts) => alts.iter().for_each(|s| refs(s, out)),
                Node::Repeat(inner, ..) => refs(std::slice::from_ref(inner), out),
                _ => {}
            }
        }
    }
    let mut used = Vec::new();
    rules.values().flatten().for_each(|s| refs(s, &mut used));
    if let Some(name) = used.iter().find(|n| !rules.contains_key(*n)) {
        return Err(format!("Undefined rule identifier '{name}'"));
    }
    if !rules.contains_key("root") {
        return Err("grammar does not contain a 'root' symbol".to_string());
    }
    Ok(rules)
}

type Rules = BTreeMap<String, Vec<Vec<Node>>>;

/// The positions where `node` can end after starting at `start` in `text`.
fn ends(rules: &Rules, node: &Node, text: &[char], start: usize) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    match node {
        Node::Literal(lit) => {
            if text[start..].starts_with(lit) {
                out.insert(start + lit.len());
            }
        }
        Node::Class { negated, ranges } => {
            if let Some(&c) = text.get(start) {
                if ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated {
                    out.insert(start + 1);
                }
            }
        }
        Node::Any => {
            if start < text.len() {
                out.insert(start + 1);
            }
        }
        Node::Rule(name) => return alternates_ends(rules, &rules[name], text, start),
        Node::Group(alts) => return alternates_ends(rules, alts, text, start),
        Node::Repeat(inner, min, max) => {
            // Breadth first by count; past `min` an unbounded repeat only explores positions
            // it has not reached before, so an inner node that matches nothing still ends.
            let mut frontier: BTreeSet<usize> = [start].into();
            let mut count = 0;
            if *min == 0 {
                out.insert(start);
            }
            while !frontier.is_empty() && max.is_none_or(|m| count < m) {
                let next: BTreeSet<usize> = frontier
                    .iter()
                    .flat_map(|&p| ends(rules, inner, text, p))
                    .collect();
                count += 1;
                frontier = if count >= *min {
                    let new: BTreeSet<usize> = next.difference(&out).copied().collect();
                    out.extend(next.iter().copied());
                    if max.is_none() {
                        new
                    } else {
                        next
                    }
                } else {
                    next
                };
            }
        }
    }
    out
}

fn alternates_ends(
    rules: &Rules,
    alts: &[Vec<Node>],
    text: &[char],
    start: usize,
) -> BTreeSet<usize> {
    let mut out = BTreeSet::new();
    for sequence in alts {
        let mut positions: BTreeSet<usize> = [start].into();
        for node in sequence {
            positions = positions
                .iter()
                .flat_map(|&p| ends(rules, node, text, p))
                .collect();
        }
        out.extend(positions);
    }
    out
}

fn matches(rules: &Rules, text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    ends(rules, &Node::Rule("root".into()), &chars, 0).contains(&chars.len())
}

#[test]
fn the_statement_grammar_parses_as_llama_cpp_reads_gbnf() {
    let rules = parse_gbnf(STATEMENT_GBNF).unwrap_or_else(|e| panic!("{e}"));
    assert!(rules.len() >= 5, "{:?}", rules.keys());
}

#[test]
fn grammars_llama_cpp_refuses_are_refused_here() {
    for (grammar, why) in [
        // The request that brought llama-cpp-python's server down.
        ("root ::= \"model\" [ +", "unexpected end of input"),
        (
            "root ::= item\nitem ::= block_header\nblock_header ::= \"x\"",
            "expecting newline or end",
        ),
        ("root ::= item", "Undefined rule identifier 'item'"),
        ("start ::= \"x\"", "'root'"),
        ("root ::= (\"a\" | \"b\"", "expecting ')'"),
        ("root ::= \"\\q\"", "unknown escape"),
        ("root ::= * \"a\"", "expecting preceding item"),
    ] {
        let error = parse_gbnf(grammar)
            .err()
            .unwrap_or_else(|| panic!("`{grammar}` parsed"));
        assert!(error.contains(why), "`{grammar}`: {error}");
    }
}

#[test]
fn the_statement_grammar_takes_exactly_one_step() {
    let rules = parse_gbnf(STATEMENT_GBNF).unwrap();
    for step in [
        "",
        "\n",
        "parameters {",
        "\ntransformed parameters{",
        "\n  real<lower=0> tau;",
        "\n  for (j in 1:J) {",
        "\n  theta[j] = mu + tau * eta[j];",
        "\n  y ~ normal(theta, sigma);",
        "\n}",
        "}",
        "\n  else {",
    ] {
        assert!(matches(&rules, step), "refused {step:?}");
    }
    for not_one in [
        "real mu; real tau;",
        "}}",
        "parameters { real mu;",
        "\n  real mu",
        "model",
        "x {",
        ";",
    ] {
        assert!(!matches(&rules, not_one), "took {not_one:?}");
    }
}

#[test]
fn the_client_sends_the_grammar_text_unchanged() {
    let spec = OpenAiSpec::parse("openai:http://127.0.0.1:1/v1#model=m&grammar=gbnf").unwrap();
    assert_eq!(spec.grammar, GrammarKind::Gbnf);
    let model = OpenAiModel::new(spec, None);
    let request = CompletionRequest {
        prompt: "data {\n}\n",
        max_tokens: 8,
        temperature: 1.0,
        seed: 1,
        grammar: true,
    };
    let body = model.request_body(&request);
    let sent = body["grammar"].as_str().unwrap();
    assert_eq!(sent, STATEMENT_GBNF);
    parse_gbnf(sent).unwrap();
}
