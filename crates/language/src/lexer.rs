//! Tokens of the Stan subset, with byte spans.
