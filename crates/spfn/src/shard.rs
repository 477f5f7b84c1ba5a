//! The shard format: append-only, compressed, checksummed files of records.
//!
//! A shard file `shard-UUUUUU.rss` holds one work unit (a block of consecutive programs):
//!
//! ```text
//! b"RSSHARD1"                                  8-byte magic
//! frame*: u32 LE payload length, u32 LE CRC-32 of the payload, u32 LE kind,
//!         payload = DEFLATE(JSON lines)
//! ```
//!
//! The first frame (kind 1) is the unit's [`UnitSummary`] (one JSON line); the following frames
//! (kind 0) hold up to [`FRAME_RECORDS`] [`Record`]s, one JSON object per line. A shard is
//! written to `NAME.tmp`, synced, and renamed, so a shard file is either complete or absent;
//! shards are never modified after that. A shard whose magic, lengths, checksums, compression or
//! JSON is wrong is corrupt: readers skip it with a warning naming it.

use crate::schema::Schema;
use crate::simulate::Rejections;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

/// The 8 bytes every shard file begins with (the format's version is its last byte).
pub const MAGIC: &[u8; 8] = b"RSSHARD1";
/// Records per frame.
pub const FRAME_RECORDS: usize = 256;

/// One training pair: a program and one dataset it generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Canonical program text.
    pub program: String,
    /// Its lexemes ([`crate::analyze::tokens`]).
    pub tokens: Vec<String>,
    /// The dataset (Stan JSON shape): given data and simulated responses.
    pub data: serde_json::Value,
    /// The parameter draw that generated it (constrained scale).
    pub params: serde_json::Value,
    /// Structural labels (family, likelihood, link, pooling, augmentations, ...).
    pub labels: BTreeMap<String, String>,
    /// Roles of the data variables (reproduction draws the design from it).
    pub schema: Schema,
    /// Number of rows (the size of the first response's first dimension).
    pub rows: u64,
    /// The program's number in the run's plan ([`crate::corpus::Planned::index`]).
    pub program_index: u64,
    /// The dataset slot of that program (`0..datasets_per_program`); a slot whose every draw
    /// was rejected has no record.
    pub dataset_index: u64,
    /// The seed that reproduces `data` and `params` from `program` and `schema`.
    pub seed: u64,
    /// `train`, `validation`, `test`, `heldout-family` or `heldout-range`.
    pub split: String,
}

/// What happened to one program of a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramSummary {
    /// The program's number in the run's plan.
    pub index: u64,
    /// The source's id of the program ([`crate::corpus::Planned::id`]).
    pub id: String,
    /// Its `family` label (empty when it has none).
    pub family: String,
    /// Prior-narrowing rounds applied before its pilot passed
    /// ([`crate::simulate::narrow_until_usable`]); [`crate::simulate::MAX_NARROWING`] when it
    /// was dropped.
    pub narrowed: usize,
    /// Whether it stayed mostly rejected and was dropped (no records; counted as
    /// `mostly_rejected`).
    pub dropped: bool,
    /// Records written for it (at most `datasets_per_program`).
    pub records: u64,
}

/// The first frame of a shard.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UnitSummary {
    /// The unit's number (`UUUUUU` in the file name): the `unit`-th block of
    /// `programs_per_shard` planned programs.
    pub unit: u64,
    /// Records in the shard (checked against the frames when it is read).
    pub records: u64,
    /// Every program of the unit in plan order, dropped ones included.
    pub programs: Vec<ProgramSummary>,
    /// Rejected draws by reason (`pilot_*` during the narrowing pilot), plus `exhausted` slots.
    pub rejections: Rejections,
}

/// A shard that cannot be read, with the file name and what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("corrupt shard {path}: {why}")]
pub struct CorruptShard {
    /// The shard file's path.
    pub path: String,
    /// What is wrong (unreadable, bad magic, a truncated frame, a checksum, compression or
    /// JSON error, or a record count that differs from the summary's).
    pub why: String,
}

fn frame(kind: u32, lines: &str) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(lines.as_bytes()).expect("writing to memory");
    let payload = enc.finish().expect("writing to memory");
    let mut out = Vec::with_capacity(payload.len() + 12);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&payload);
    out
}

/// The bytes of a shard.
pub fn encode(summary: &UnitSummary, records: &[Record]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend(frame(
        1,
        &(serde_json::to_string(summary).expect("plain values") + "\n"),
    ));
    for chunk in records.chunks(FRAME_RECORDS) {
        let mut lines = String::new();
        for r in chunk {
            lines.push_str(&serde_json::to_string(r).expect("plain values"));
            lines.push('\n');
        }
        out.extend(frame(0, &lines));
    }
    out
}

/// Write a shard atomically: `path.tmp`, sync, rename.
pub fn write(path: &Path, summary: &UnitSummary, records: &[Record]) -> std::io::Result<u64> {
    let bytes = encode(summary, records);
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(bytes.len() as u64)
}

/// Frames of a shard's bytes: (kind, decompressed payload), every checksum verified. Record
/// frames are decompressed only when `records` is set (their text is empty otherwise).
fn frames(path: &Path, bytes: &[u8], records: bool) -> Result<Vec<(u32, String)>, CorruptShard> {
    let bad = |why: String| CorruptShard {
        path: path.display().to_string(),
        why,
    };
    if bytes.len() < 8 || &bytes[..8] != MAGIC {
        return Err(bad("not a shard (bad magic)".into()));
    }
    let mut out = Vec::new();
    let mut at = 8;
    while at < bytes.len() {
        if at + 12 > bytes.len() {
            return Err(bad(format!("truncated frame header at byte {at}")));
        }
        let word = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().expect("4 bytes"));
        let (len, crc, kind) = (word(at) as usize, word(at + 4), word(at + 8));
        let start = at + 12;
        let end = start
            .checked_add(len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad(format!("frame at byte {at} runs past the end of the file")))?;
        let payload = &bytes[start..end];
        if crc32fast::hash(payload) != crc {
            return Err(bad(format!("checksum mismatch in the frame at byte {at}")));
        }
        let mut text = String::new();
        if kind == 1 || records {
            DeflateDecoder::new(payload)
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("frame at byte {at} does not decompress: {e}")))?;
        }
        out.push((kind, text));
        at = end;
    }
    Ok(out)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, CorruptShard> {
    std::fs::read(path).map_err(|e| CorruptShard {
        path: path.display().to_string(),
        why: format!("cannot read: {e}"),
    })
}

fn summary_of(path: &Path, f: &[(u32, String)]) -> Result<UnitSummary, CorruptShard> {
    match f.first() {
        Some((1, text)) => serde_json::from_str(text.trim_end()).map_err(|e| CorruptShard {
            path: path.display().to_string(),
            why: format!("summary frame is not valid: {e}"),
        }),
        _ => Err(CorruptShard {
            path: path.display().to_string(),
            why: "first frame is not a summary".into(),
        }),
    }
}

/// Verify every frame's checksum and read the summary (records are not decompressed).
pub fn verify(path: &Path) -> Result<UnitSummary, CorruptShard> {
    let bytes = read_bytes(path)?;
    let f = frames(path, &bytes, false)?;
    summary_of(path, &f)
}

/// Read a whole shard.
pub fn read(path: &Path) -> Result<(UnitSummary, Vec<Record>), CorruptShard> {
    let bytes = read_bytes(path)?;
    let f = frames(path, &bytes, true)?;
    let summary = summary_of(path, &f)?;
    let mut records = Vec::new();
    for (kind, text) in &f[1..] {
        if *kind != 0 {
            continue;
        }
        for (i, line) in text.lines().enumerate() {
            records.push(serde_json::from_str(line).map_err(|e| CorruptShard {
                path: path.display().to_string(),
                why: format!("record {} is not valid: {e}", records.len() + i + 1),
            })?);
        }
    }
    if records.len() as u64 != summary.records {
        return Err(CorruptShard {
            path: path.display().to_string(),
            why: format!(
                "summary says {} records, the frames hold {}",
                summary.records,
                records.len()
            ),
        });
    }
    Ok((summary, records))
}
