//! Whitespace for programs written without it. A network trained on the lexemes of its programs
//! with the whitespace runs left out (shorter sequences, nothing to learn about indentation)
//! writes programs through [`Layout`]: the whitespace between two lexemes follows from the
//! lexemes themselves and the nesting so far, as the house printer lays programs out (4-space
//! indent, one statement per line, a blank line between blocks, spaces around binary operators,
//! none inside type bounds such as `real<lower=0>`). Where the printer and these rules differ,
//! the text still parses to the same program: the rules separate every two lexemes that would
//! otherwise run together.

/// Whether a lexeme is a whitespace run (a lexeme of `refinestat_synthesis::builtin::lex`).
pub fn is_space(lexeme: &str) -> bool {
    !lexeme.is_empty() && lexeme.bytes().all(|b| b.is_ascii_whitespace())
}

const INDENT: &str = "    ";

/// Keywords of types that take bounds (`real<lower=0>`).
const BOUNDED: &[&str] = &["real", "int", "vector", "row_vector", "matrix"];

/// Binary or assignment operators after which a `-` or `!` is unary.
const OPS: &[&str] = &[
    "~", "=", "+", "-", "*", "/", "^", "%", "\\", "<", ">", "<=", ">=", "==", "!=", "&&", "||",
    ".*", "./", "+=", "-=", "*=", "/=", "|", "?", ":", "(", "[", ",", "return", "!",
];

fn word_like(lexeme: &str) -> bool {
    lexeme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// The layout state after the lexemes written so far (whitespace excluded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    prev: Option<String>,
    depth: usize,
    /// Inside a type's bounds (`<...>`), at this parenthesis depth.
    bounds: Option<usize>,
    parens: usize,
    /// The previous lexeme is a unary `-`, `+` or `!`.
    unary: bool,
}

impl Layout {
    /// The state before the first lexeme.
    pub fn new() -> Layout {
        Layout::default()
    }

    /// The whitespace before `next` (`None`: end of program, whose separator is the final
    /// newline).
    pub fn separator(&self, next: Option<&str>) -> String {
        let Some(a) = self.prev.as_deref() else {
            return String::new();
        };
        let Some(b) = next else {
            return "\n".into();
        };
        let line = |depth: usize| format!("\n{}", INDENT.repeat(depth));
        if b == "}" {
            return line(self.depth.saturating_sub(1));
        }
        if a == "{" || a == ";" {
            return line(self.depth);
        }
        if a == "}" {
            return if b == "else" {
                " ".into()
            } else if self.depth == 0 {
                "\n\n".into()
            } else {
                line(self.depth)
            };
        }
        if self.unary {
            return String::new();
        }
        if self.bounds.is_some() && (a == "=" || b == "=" || b == ">" || a == "<") {
            return String::new();
        }
        if b == "<" && BOUNDED.contains(&a) {
            return String::new();
        }
        if matches!(b, ";" | "," | ")" | "]" | "'" | ":") || matches!(a, "(" | "[" | ":") {
            return String::new();
        }
        if b == "[" {
            return String::new();
        }
        if b == "(" {
            return if word_like(a) && !matches!(a, "for" | "if" | "while" | "return" | "in") {
                String::new()
            } else {
                " ".into()
            };
        }
        " ".into()
    }

    /// The state after `lexeme` (not whitespace).
    pub fn push(&mut self, lexeme: &str) {
        let prev = self.prev.as_deref();
        match lexeme {
            "{" => self.depth += 1,
            "}" => self.depth = self.depth.saturating_sub(1),
            "(" => self.parens += 1,
            ")" => self.parens = self.parens.saturating_sub(1),
            "<" if prev.is_some_and(|p| BOUNDED.contains(&p)) => self.bounds = Some(self.parens),
            ">" if self.bounds == Some(self.parens) => self.bounds = None,
            ";" => self.bounds = None,
            _ => {}
        }
        self.unary = matches!(lexeme, "-" | "+" | "!")
            && prev.is_none_or(|p| OPS.contains(&p) || (self.bounds.is_some() && p == "<"));
        self.prev = Some(lexeme.to_string());
    }
}

/// The text of `lexemes` (no whitespace among them) laid out by [`Layout`], with the final
/// newline.
pub fn render<S: AsRef<str>>(lexemes: &[S]) -> String {
    let mut layout = Layout::new();
    let mut out = String::new();
    for l in lexemes {
        out.push_str(&layout.separator(Some(l.as_ref())));
        out.push_str(l.as_ref());
        layout.push(l.as_ref());
    }
    out.push_str(&layout.separator(None));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinestat_language::{parse, print_program};
    use refinestat_synthesis::builtin::lex;

    fn without_space(text: &str) -> Vec<String> {
        lex(text).into_iter().filter(|l| !is_space(l)).collect()
    }

    #[test]
    fn the_house_layout_is_rebuilt_from_the_lexemes() {
        let text = "parameters {\n    real alpha;\n    real<lower=-1, upper=1> beta;\n    \
                    vector<lower=0>[K] sigma;\n    array[N] real z;\n}\n\nmodel {\n    \
                    alpha ~ normal(0, 2);\n    beta ~ uniform(-1, 1);\n    \
                    for (t in 2:T) {\n        y[t] ~ normal(alpha + beta * y[t - 1], sigma[1]);\n    \
                    }\n    target += -0.5 * dot_self(z);\n}\n";
        let printed = print_program(&parse(text).program);
        assert_eq!(printed, text);
        assert_eq!(render(&without_space(text)), text);
    }

    /// Every program of the family library's corpus: the rendering parses to the printed
    /// program, and most are the printer's text exactly.
    #[test]
    fn corpus_programs_render_to_the_same_program() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spfn/corpus");
        let (mut total, mut exact) = (0, 0);
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            if path.extension().and_then(|x| x.to_str()) != Some("stan") {
                continue;
            }
            let parsed = parse(&std::fs::read_to_string(&path).unwrap());
            if !parsed.errors.is_empty() {
                continue;
            }
            let mut p = parsed.program;
            p.data = None;
            let printed = print_program(&p);
            let rendered = render(&without_space(&printed));
            let back = parse(&rendered);
            assert!(back.errors.is_empty(), "{}: {rendered}", path.display());
            assert_eq!(print_program(&back.program), printed, "{}", path.display());
            total += 1;
            exact += usize::from(rendered == printed);
        }
        assert!(total > 50, "{total}");
        assert!(exact * 10 >= total * 9, "{exact} of {total} exact");
    }
}
