//! The decoder's vocabulary: the program lexemes of the training corpus (keywords, operators,
//! punctuation, whitespace runs, literals, names of parameters), with end-of-program,
//! beginning-of-program and unknown at ids 0, 1, 2. The data's variable names are not in it:
//! the decoder refers to a data variable by its encoder token ("slot"), whose id in the model's
//! index space is `len() + slot`.

use refinestat_language::{parse, print_program};
use refinestat_synthesis::builtin::lex;
use std::collections::{BTreeMap, HashMap};

/// End of program (id 0).
pub const EOS: &str = "</s>";
/// Beginning of program (id 1): the decoder's first input.
pub const BOS: &str = "<s>";
/// A lexeme the vocabulary lacks (id 2); never proposed.
pub const UNK: &str = "<unk>";
/// Ids of the special tokens.
pub const EOS_ID: u32 = 0;
/// See [`BOS`].
pub const BOS_ID: u32 = 1;
/// See [`UNK`].
pub const UNK_ID: u32 = 2;

/// The fixed part of the decoder's vocabulary.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramVocab {
    lexemes: Vec<String>,
    ids: HashMap<String, u32>,
}

impl ProgramVocab {
    /// A vocabulary from its lexemes (the first three must be [`EOS`], [`BOS`], [`UNK`]).
    pub fn from_lexemes(lexemes: Vec<String>) -> Result<ProgramVocab, String> {
        if lexemes.len() < 3 || lexemes[0] != EOS || lexemes[1] != BOS || lexemes[2] != UNK {
            return Err(format!(
                "the first lexemes must be {EOS:?}, {BOS:?}, {UNK:?}"
            ));
        }
        let mut ids = HashMap::new();
        for (i, l) in lexemes.iter().enumerate() {
            if ids.insert(l.clone(), i as u32).is_some() {
                return Err(format!("lexeme {l:?} appears twice"));
            }
        }
        Ok(ProgramVocab { lexemes, ids })
    }

    /// The lexemes seen at least `min_count` times in `programs` (generated parts, each with its
    /// data variable names, which are left out), most frequent first, at most `max_size` in all;
    /// whitespace runs only when `whitespace` (see [`lexemes`]).
    pub fn build<'a>(
        programs: impl IntoIterator<Item = (&'a str, &'a [String])>,
        min_count: usize,
        max_size: usize,
        whitespace: bool,
    ) -> ProgramVocab {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (text, names) in programs {
            for l in lexemes(text, whitespace) {
                if !names.contains(&l) {
                    *counts.entry(l).or_default() += 1;
                }
            }
        }
        let mut by_count: Vec<(String, usize)> = counts
            .into_iter()
            .filter(|(l, c)| *c >= min_count && ![EOS, BOS, UNK].contains(&l.as_str()))
            .collect();
        by_count.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut lexemes = vec![EOS.to_string(), BOS.to_string(), UNK.to_string()];
        lexemes.extend(
            by_count
                .into_iter()
                .take(max_size.saturating_sub(3))
                .map(|p| p.0),
        );
        ProgramVocab::from_lexemes(lexemes).expect("distinct lexemes")
    }

    /// Number of fixed tokens.
    pub fn len(&self) -> usize {
        self.lexemes.len()
    }

    /// Never true (the special tokens are always there).
    pub fn is_empty(&self) -> bool {
        self.lexemes.is_empty()
    }

    /// The lexemes by id.
    pub fn lexemes(&self) -> &[String] {
        &self.lexemes
    }

    /// The id of a lexeme.
    pub fn id(&self, lexeme: &str) -> Option<u32> {
        self.ids.get(lexeme).copied()
    }

    /// The model's target ids of a generated part: fixed ids, `len() + i` for the data variable
    /// `names[i]`, [`UNK_ID`] for a lexeme the vocabulary lacks; ends with [`EOS_ID`]. Whitespace
    /// runs are left out unless `whitespace`.
    pub fn encode(&self, text: &str, names: &[String], whitespace: bool) -> Vec<u32> {
        let mut out: Vec<u32> = lexemes(text, whitespace)
            .iter()
            .map(|l| match names.iter().position(|n| n == l) {
                Some(slot) => (self.len() + slot) as u32,
                None => self.id(l).unwrap_or(UNK_ID),
            })
            .collect();
        out.push(EOS_ID);
        out
    }
}

/// The lexemes of program text (`refinestat_synthesis::builtin::lex`), whitespace runs left out
/// unless `whitespace` (a network trained without them writes through [`crate::layout`]).
pub fn lexemes(text: &str, whitespace: bool) -> Vec<String> {
    let mut all = lex(text);
    if !whitespace {
        all.retain(|l| !crate::layout::is_space(l));
    }
    all
}

/// The part of a program the decoder writes: everything but its `data` block, as the house
/// printer writes it. `None` when the program does not parse.
pub fn generated_part(program: &str) -> Option<String> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        return None;
    }
    let mut p = parsed.program;
    p.data = None;
    Some(print_program(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_names_become_slots() {
        let text = generated_part(
            "data {\n  int N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n}\nmodel {\n  y ~ normal(mu, 1);\n}\n",
        )
        .unwrap();
        assert!(text.starts_with("parameters"), "{text}");
        let names = vec!["N".to_string(), "y".to_string()];
        let v = ProgramVocab::build([(text.as_str(), names.as_slice())], 1, 1000, true);
        assert!(v.id("y").is_none());
        assert!(v.id("mu").is_some());
        assert!(v.id("\n    ").is_some());
        let ids = v.encode(&text, &names, true);
        assert!(ids.contains(&(v.len() as u32 + 1)));
        assert!(!ids.contains(&UNK_ID));
        assert_eq!(*ids.last().unwrap(), EOS_ID);
        let small = ProgramVocab::build([(text.as_str(), names.as_slice())], 1, 4, true);
        assert!(small.encode(&text, &names, true).contains(&UNK_ID));
        // Without whitespace: no whitespace lexeme, shorter targets, the same text back.
        let bare = ProgramVocab::build([(text.as_str(), names.as_slice())], 1, 1000, false);
        assert!(bare.lexemes().iter().all(|l| !crate::layout::is_space(l)));
        let short = bare.encode(&text, &names, false);
        assert!(short.len() < ids.len() && !short.contains(&UNK_ID));
        let words: Vec<String> = short[..short.len() - 1]
            .iter()
            .map(|&i| match bare.lexemes().get(i as usize) {
                Some(l) => l.clone(),
                None => names[i as usize - bare.len()].clone(),
            })
            .collect();
        assert_eq!(crate::layout::render(&words), text);
    }
}
