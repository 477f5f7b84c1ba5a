//! From a Hugging Face `tokenizer.json` to our [`Vocabulary`]: the text each token id stands for,
//! which ids end a sequence, and which ids the softmax may put mass on.
//!
//! Token pieces are stored in the tokenizer's own alphabet: byte-level BPE (GPT-2, Qwen, Llama 3)
//! writes each byte as a printable character, SentencePiece (Llama 2, Gemma) writes spaces as `▁`
//! and unknown bytes as `<0xNN>`. The decoder works on text, so each piece is mapped back to the
//! bytes it produces. Special tokens other than end-of-sequence keep a text that no Stan program
//! can contain (`<|...|>`), so the validity check always rejects them instead of their vanishing
//! as empty text.

use super::files_error;
use refinestat_proposal::{ProposalError, TokenId};
use std::collections::HashMap;
use std::path::Path;
use tokenizers::Tokenizer;

/// How the tokenizer spells bytes in its pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceAlphabet {
    /// GPT-2 byte-to-unicode table.
    ByteLevel,
    /// SentencePiece: `▁` is a space, `<0xNN>` a raw byte.
    SentencePiece,
}

/// The GPT-2 byte-level alphabet: printable bytes stand for themselves, the others are shifted
/// to code points from 256 up. Returns char -> byte.
fn byte_level_inverse() -> HashMap<char, u8> {
    let mut printable: Vec<u32> = (u32::from(b'!')..=u32::from(b'~')).collect();
    printable.extend(0xA1..=0xAC);
    printable.extend(0xAE..=0xFF);
    let mut inverse = HashMap::with_capacity(256);
    let mut shifted = 0u32;
    for byte in 0u32..256 {
        let ch = if printable.contains(&byte) {
            byte
        } else {
            shifted += 1;
            255 + shifted
        };
        if let Some(c) = char::from_u32(ch) {
            inverse.insert(c, byte as u8);
        }
    }
    inverse
}

/// Which alphabet the tokenizer's decoder / pre-tokenizer use (from their serialized form, which
/// is stable across tokenizer versions while the Rust enums are not).
fn piece_alphabet(tokenizer: &Tokenizer) -> PieceAlphabet {
    let decoder = serde_json::to_string(&tokenizer.get_decoder()).unwrap_or_default();
    let pre = serde_json::to_string(&tokenizer.get_pre_tokenizer()).unwrap_or_default();
    if decoder.contains("\"ByteLevel\"") || pre.contains("\"ByteLevel\"") {
        PieceAlphabet::ByteLevel
    } else {
        PieceAlphabet::SentencePiece
    }
}

/// `<0xNN>` -> NN.
fn byte_fallback(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

fn piece_text(piece: &str, alphabet: PieceAlphabet, inverse: &HashMap<char, u8>) -> String {
    match alphabet {
        PieceAlphabet::ByteLevel => {
            let mut bytes = Vec::with_capacity(piece.len());
            for c in piece.chars() {
                match inverse.get(&c) {
                    Some(&b) => bytes.push(b),
                    None => {
                        let mut buf = [0u8; 4];
                        bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        PieceAlphabet::SentencePiece => match byte_fallback(piece) {
            Some(b) => String::from_utf8_lossy(&[b]).into_owned(),
            None => piece.replace('\u{2581}', " "),
        },
    }
}

/// A text for a special (control) token that can never be part of a Stan program: `<|` cannot
/// occur in Stan code outside comments.
fn special_text(content: &str, id: TokenId) -> String {
    if content.is_empty() {
        format!("<|special_{id}|>")
    } else if content.starts_with("<|") {
        content.to_string()
    } else {
        format!("<|{content}|>")
    }
}

/// The vocabulary of a tokenizer padded to `total` ids: each id's text, and whether the model
/// may score it (ids the tokenizer does not define get a placeholder text and never any mass).
pub(crate) struct TokenTexts {
    pub texts: Vec<String>,
    pub scored: Vec<bool>,
}

/// Number of ids the tokenizer defines (one past its largest id, added tokens included).
pub fn tokenizer_size(tokenizer: &Tokenizer) -> usize {
    tokenizer
        .get_vocab(true)
        .values()
        .map(|&id| id as usize + 1)
        .max()
        .unwrap_or(0)
}

pub(crate) fn token_texts(tokenizer: &Tokenizer, total: usize) -> TokenTexts {
    let alphabet = piece_alphabet(tokenizer);
    let inverse = byte_level_inverse();
    let added = tokenizer.get_added_tokens_decoder();
    let mut texts: Vec<Option<String>> = vec![None; total];
    for (piece, id) in tokenizer.get_vocab(true) {
        let Some(slot) = texts.get_mut(id as usize) else {
            continue;
        };
        let text = match added.get(&id) {
            Some(token) if token.special => special_text(&token.content, id),
            Some(token) => token.content.clone(),
            None => piece_text(&piece, alphabet, &inverse),
        };
        // An empty text would be emitted invisibly; give it a text the checker rejects.
        *slot = Some(if text.is_empty() {
            special_text("", id)
        } else {
            text
        });
    }
    let scored = texts.iter().map(Option::is_some).collect();
    let texts = texts
        .into_iter()
        .enumerate()
        .map(|(id, t)| t.unwrap_or_else(|| format!("<|unused_{id}|>")))
        .collect();
    TokenTexts { texts, scored }
}

/// Names of end-of-sequence tokens across model families, most common first.
const EOS_NAMES: [&str; 7] = [
    "<|endoftext|>",
    "<|end_of_text|>",
    "<|im_end|>",
    "<|eot_id|>",
    "</s>",
    "<eos>",
    "<end_of_turn>",
];

/// `eos_token_id` of a JSON config: a number or a list of numbers.
pub(crate) fn eos_ids_in_json(value: &serde_json::Value) -> Vec<TokenId> {
    match value.get("eos_token_id") {
        Some(serde_json::Value::Number(n)) => {
            n.as_u64().map(|n| n as TokenId).into_iter().collect()
        }
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_u64().map(|n| n as TokenId))
            .collect(),
        _ => Vec::new(),
    }
}

/// End-of-sequence ids: `declared` (from generation_config.json, config.json or GGUF metadata,
/// first wins) or else the first known end token name in the tokenizer. The first id is the
/// decoder's end-of-program; the others are merged into it.
pub(crate) fn end_tokens(
    tokenizer: &Tokenizer,
    declared: Vec<TokenId>,
    tokenizer_path: &Path,
) -> Result<Vec<TokenId>, ProposalError> {
    if !declared.is_empty() {
        return Ok(declared);
    }
    EOS_NAMES
        .iter()
        .find_map(|name| tokenizer.token_to_id(name))
        .map(|id| vec![id])
        .ok_or_else(|| {
            files_error(
                tokenizer_path,
                format!(
                    "no end-of-sequence token: no eos_token_id in config.json or \
                     generation_config.json, and none of {} in the tokenizer",
                    EOS_NAMES.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_alphabet_covers_every_byte() {
        let inverse = byte_level_inverse();
        assert_eq!(inverse.len(), 256);
        assert_eq!(inverse[&'\u{120}'], b' ');
        assert_eq!(inverse[&'\u{10A}'], b'\n');
        assert_eq!(inverse[&'a'], b'a');
    }

    #[test]
    fn sentencepiece_pieces_map_to_text() {
        let inverse = byte_level_inverse();
        let sp = PieceAlphabet::SentencePiece;
        assert_eq!(piece_text("\u{2581}model", sp, &inverse), " model");
        assert_eq!(piece_text("<0x0A>", sp, &inverse), "\n");
        assert_eq!(special_text("<s>", 1), "<|<s>|>");
        assert_eq!(special_text("<|im_start|>", 1), "<|im_start|>");
    }
}
