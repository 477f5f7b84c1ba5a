//! A first evaluation of a trained network on a corpus split: for each pair, the program the
//! network writes by greedy decoding (the likeliest lexeme at each step, no grammar mask), then
//! whether its likelihood family (the first response's distribution, as
//! `refinestat_spfn::analyze::structural_labels` reads it) and its whole canonical program match
//! the pair's generating program, by family. Constants are not abstracted yet and the decoding is
//! unconstrained, so both figures are lower bounds of what the constrained decoder would reach.

use crate::propose::{load, SpfnModel};
use crate::train::split_records;
use crate::vocab::generated_part;
use crate::NetError;
use refinestat_language::{canonical, parse, Data};
use refinestat_spfn::analyze::structural_labels;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Counts of one group of pairs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Pairs.
    pub pairs: u64,
    /// Pairs whose likelihood family was recovered.
    pub likelihood: u64,
    /// Pairs whose whole canonical program was recovered.
    pub program: u64,
}

impl Counts {
    fn add(&mut self, likelihood: bool, program: bool) {
        self.pairs += 1;
        self.likelihood += u64::from(likelihood);
        self.program += u64::from(program);
    }
}

/// What [`evaluate`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// The split evaluated.
    pub split: String,
    /// All pairs.
    pub total: Counts,
    /// By the pair's `family` label.
    pub by_family: BTreeMap<String, Counts>,
    /// By the generating likelihood.
    pub by_likelihood: BTreeMap<String, Counts>,
    /// By the dataset's rows (`N < 50`, `N >= 50`).
    pub by_rows: BTreeMap<String, Counts>,
}

impl EvalReport {
    /// The table `spfn eval` prints.
    pub fn table(&self) -> String {
        let pct = |a: u64, n: u64| 100.0 * a as f64 / n.max(1) as f64;
        let row = |name: &str, c: &Counts| {
            format!(
                "  {name:<32} {:>6} {:>11.1}% {:>9.1}%\n",
                c.pairs,
                pct(c.likelihood, c.pairs),
                pct(c.program, c.pairs)
            )
        };
        let mut out = format!(
            "split {}: greedy decoding, top-1 recovery\n  {:<32} {:>6} {:>12} {:>10}\n",
            self.split, "", "pairs", "likelihood", "program"
        );
        out.push_str(&row("all", &self.total));
        for (title, map) in [
            ("by family", &self.by_family),
            ("by likelihood", &self.by_likelihood),
            ("by rows", &self.by_rows),
        ] {
            out.push_str(&format!("{title}\n"));
            for (k, c) in map {
                out.push_str(&row(k, c));
            }
        }
        out
    }
}

/// The likelihood label of a program made of `data_program`'s data block and `generated`.
fn likelihood_of(data_program: &str, generated: &str) -> Option<String> {
    let base = parse(data_program);
    let gen = parse(generated);
    if !gen.errors.is_empty() {
        return None;
    }
    let mut p = gen.program;
    p.data = base.program.data;
    structural_labels(&p).get("likelihood").cloned()
}

/// Evaluate the model of `model_dir` on at most `limit` pairs of `split` in `corpus`, writing at
/// most `max_tokens` lexemes per program.
pub fn evaluate(
    model_dir: &Path,
    corpus: &Path,
    split: &str,
    limit: usize,
    max_tokens: usize,
) -> Result<EvalReport, NetError> {
    let records = split_records(corpus, split, limit)?;
    if records.is_empty() {
        return Err(NetError::Corpus(format!(
            "{}: no readable records in the {split} split",
            corpus.display()
        )));
    }
    let mut report = EvalReport {
        split: split.to_string(),
        ..EvalReport::default()
    };
    for r in &records {
        let Ok(data) = Data::from_json_str(&r.data.to_string()) else {
            continue;
        };
        let Some(truth) = generated_part(&r.program) else {
            continue;
        };
        let mut model = SpfnModel::new(load(model_dir)?, &data)?;
        let written = model.greedy(max_tokens)?;
        let want = r
            .labels
            .get("likelihood")
            .cloned()
            .or_else(|| likelihood_of(&r.program, &truth))
            .unwrap_or_default();
        let got = likelihood_of(&r.program, &written);
        let same_program = {
            let a = parse(&written);
            a.errors.is_empty() && canonical(&a.program) == canonical(&parse(&truth).program)
        };
        let hit = got.as_deref() == Some(want.as_str());
        report.total.add(hit, same_program);
        let family = r.labels.get("family").cloned().unwrap_or_default();
        report
            .by_family
            .entry(family)
            .or_default()
            .add(hit, same_program);
        report
            .by_likelihood
            .entry(want)
            .or_default()
            .add(hit, same_program);
        let rows = if r.rows >= 50 { "N >= 50" } else { "N < 50" };
        report
            .by_rows
            .entry(rows.to_string())
            .or_default()
            .add(hit, same_program);
    }
    Ok(report)
}
