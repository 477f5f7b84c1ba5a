//! Evaluation of a trained network on a corpus split, beside the builtin proposal model on the
//! same pairs (the table).
//!
//! For each pair, each proposer draws `samples` programs for the pair's dataset (seeded, without
//! the grammar mask, so the figures are lower bounds of what the constrained decoder reaches):
//! the network by ancestral sampling at temperature 1 ([`SpfnModel::sample`]), the builtin
//! proposer ([`BuiltinModel::new`], what `generate --lm builtin` builds for data with no
//! `--response`) from its derivations' probabilities (its noise floor left out).
//!
//! **Structure** of a program: its canonical text ([`refinestat_language::canonical`]: parameter
//! names, formatting and the order of independent declarations abstracted) with every numeric
//! literal replaced by `#` ([`structure`]); **program** is the canonical text with its constants.
//! A program that does not parse has no structure and is never right.
//!
//! Figures per group of pairs ([`Figures`]):
//! - **structure top-1**: the modal structure of the samples (the one drawn most often among the
//!   samples that parse; ties go to the one drawn first) is the generating program's;
//! - **within S**: some sample has the generating structure;
//! - **program top-1**: the modal canonical program (constants included) is the generating one;
//! - **likelihood top-1**: the likelihood family (the first response's distribution, as
//!   `refinestat_spfn::analyze::structural_labels` reads it) of the modal structure is the
//!   generating program's;
//! - **argmax**: the network's greedy decoding (the likeliest lexeme at each step) and the
//!   builtin's heaviest derivation: structure and likelihood;
//! - **ECE**, expected calibration error of the structure probabilities: confidence = the share
//!   of all the samples (those that do not parse included) that have the modal structure (0 when
//!   none parses), correct = the modal structure is right; pairs
//!   in 10 equal-width bins of confidence (the last closed); ECE = sum over bins of
//!   |correct - sum of confidences| / pairs ([`ece`]).

use crate::propose::{load, Loaded, SpfnModel};
use crate::train::split_records;
use crate::vocab::generated_part;
use crate::NetError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_language::{canonical, parse, Data};
use refinestat_spfn::analyze::structural_labels;
use refinestat_synthesis::builtin::lex;
use refinestat_synthesis::BuiltinModel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Confidence bins of [`ece`].
pub const BINS: usize = 10;

/// One confidence bin: pairs, their summed confidence, and how many were right.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Bin {
    /// Pairs in the bin.
    pub pairs: u64,
    /// Sum of their confidences.
    pub confidence: f64,
    /// Pairs whose modal structure was right.
    pub correct: u64,
}

/// Expected calibration error of `(confidence, correct)` points in [`BINS`] equal-width bins of
/// `[0, 1]`: sum over bins of `|correct - sum of confidences| / points` (0 for no points).
pub fn ece(points: &[(f64, bool)]) -> f64 {
    ece_of_bins(&bins_of(points), points.len() as u64)
}

fn bin_index(confidence: f64) -> usize {
    ((confidence.clamp(0.0, 1.0) * BINS as f64) as usize).min(BINS - 1)
}

fn bins_of(points: &[(f64, bool)]) -> [Bin; BINS] {
    let mut bins = [Bin::default(); BINS];
    for &(c, ok) in points {
        let b = &mut bins[bin_index(c)];
        b.pairs += 1;
        b.confidence += c;
        b.correct += u64::from(ok);
    }
    bins
}

fn ece_of_bins(bins: &[Bin], total: u64) -> f64 {
    if total == 0 {
        return 0.0;
    }
    bins.iter()
        .map(|b| (b.correct as f64 - b.confidence).abs())
        .sum::<f64>()
        / total as f64
}

/// The structure of a generated part: its canonical text with every numeric literal replaced by
/// `#`; `None` when it does not parse.
pub fn structure(generated: &str) -> Option<String> {
    let c = program(generated)?;
    Some(
        lex(&c)
            .into_iter()
            .map(|l| {
                let b = l.as_bytes();
                let numeric = b.first().is_some_and(u8::is_ascii_digit)
                    || (b.first() == Some(&b'.') && b.get(1).is_some_and(u8::is_ascii_digit));
                if numeric {
                    "#".to_string()
                } else {
                    l
                }
            })
            .collect(),
    )
}

/// The canonical text of a generated part (constants included); `None` when it does not parse.
pub fn program(generated: &str) -> Option<String> {
    let p = parse(generated);
    p.errors.is_empty().then(|| canonical(&p.program))
}

/// What one proposer's samples show for one pair.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The modal structure is the generating one.
    pub structure: bool,
    /// Some sample has the generating structure.
    pub within: bool,
    /// The modal canonical program (constants included) is the generating one.
    pub program: bool,
    /// The modal structure's likelihood family is the generating one.
    pub likelihood: bool,
    /// Share of the samples with the modal structure.
    pub confidence: f64,
}

/// The verdict of `samples` (distinct texts with their counts, in the order drawn) against the
/// generating program `truth`: `likelihood` reads a text's likelihood family.
pub fn judge(
    samples: &[(String, usize)],
    truth: &str,
    want_likelihood: &str,
    likelihood: &dyn Fn(&str) -> Option<String>,
) -> Verdict {
    let total: usize = samples.iter().map(|s| s.1).sum();
    let want_structure = structure(truth);
    let want_program = program(truth);
    // Counts by structure and by program, in the order first drawn; a text that does not parse
    // counts under `None`.
    let mut by_structure: Vec<(Option<String>, usize, &str)> = Vec::new();
    let mut by_program: Vec<(Option<String>, usize)> = Vec::new();
    let mut within = false;
    for (text, n) in samples {
        let s = structure(text);
        within |= s.is_some() && s == want_structure;
        match by_structure.iter_mut().find(|e| e.0 == s) {
            Some(e) => e.1 += n,
            None => by_structure.push((s, *n, text)),
        }
        let p = program(text);
        match by_program.iter_mut().find(|e| e.0 == p) {
            Some(e) => e.1 += n,
            None => by_program.push((p, *n)),
        }
    }
    // The modal structure and program among the samples that parse.
    let modal_structure = by_structure.iter().filter(|e| e.0.is_some()).fold(
        None::<&(Option<String>, usize, &str)>,
        |best, e| match best {
            Some(b) if b.1 >= e.1 => Some(b),
            _ => Some(e),
        },
    );
    let modal_program = by_program.iter().filter(|e| e.0.is_some()).fold(
        None::<&(Option<String>, usize)>,
        |best, e| match best {
            Some(b) if b.1 >= e.1 => Some(b),
            _ => Some(e),
        },
    );
    let (structure_hit, confidence, lik) = match modal_structure {
        Some((s, n, text)) => (
            s.is_some() && *s == want_structure,
            *n as f64 / total.max(1) as f64,
            s.as_ref().and_then(|_| likelihood(text)),
        ),
        None => (false, 0.0, None),
    };
    Verdict {
        structure: structure_hit,
        within,
        program: modal_program.is_some_and(|(p, _)| p.is_some() && *p == want_program),
        likelihood: lik.as_deref() == Some(want_likelihood),
        confidence,
    }
}

/// Figures of one proposer over a group of pairs (counts; [`Figures::ece`] from the bins).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Pairs.
    pub pairs: u64,
    /// Modal structure's likelihood family right.
    pub likelihood: u64,
    /// Modal structure right.
    pub structure: u64,
    /// Generating structure among the samples.
    pub within: u64,
    /// Modal canonical program (constants included) right.
    pub program: u64,
    /// Argmax (network: greedy decoding; builtin: heaviest derivation) likelihood right.
    pub argmax_likelihood: u64,
    /// Argmax structure right.
    pub argmax_structure: u64,
    /// Confidence bins of the modal structure.
    pub bins: [Bin; BINS],
}

impl Figures {
    fn add(&mut self, v: &Verdict, argmax_likelihood: bool, argmax_structure: bool) {
        self.pairs += 1;
        self.likelihood += u64::from(v.likelihood);
        self.structure += u64::from(v.structure);
        self.within += u64::from(v.within);
        self.program += u64::from(v.program);
        self.argmax_likelihood += u64::from(argmax_likelihood);
        self.argmax_structure += u64::from(argmax_structure);
        let b = &mut self.bins[bin_index(v.confidence)];
        b.pairs += 1;
        b.confidence += v.confidence;
        b.correct += u64::from(v.structure);
    }

    /// Expected calibration error of the modal structure's confidence.
    pub fn ece(&self) -> f64 {
        ece_of_bins(&self.bins, self.pairs)
    }
}

/// One proposer's figures: all pairs and by group.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Breakdown {
    /// All pairs.
    pub total: Figures,
    /// By the pair's `family` label.
    pub by_family: BTreeMap<String, Figures>,
    /// By the generating likelihood.
    pub by_likelihood: BTreeMap<String, Figures>,
    /// By the dataset's rows (`N < 50`, `N >= 50`).
    pub by_rows: BTreeMap<String, Figures>,
}

impl Breakdown {
    fn add(&mut self, keys: &[String; 3], v: &Verdict, argmax: (bool, bool)) {
        self.total.add(v, argmax.0, argmax.1);
        for (map, k) in [
            (&mut self.by_family, &keys[0]),
            (&mut self.by_likelihood, &keys[1]),
            (&mut self.by_rows, &keys[2]),
        ] {
            map.entry(k.clone()).or_default().add(v, argmax.0, argmax.1);
        }
    }

    fn table(&self, title: &str, samples: usize, argmax: &str) -> String {
        let pct = |a: u64, n: u64| 100.0 * a as f64 / n.max(1) as f64;
        let row = |name: &str, f: &Figures| {
            format!(
                "  {name:<28} {:>6} {:>9.1}% {:>9.1}% {:>9.1}% {:>9.1}% {:>7.3} {:>9.1}% {:>9.1}%\n",
                f.pairs,
                pct(f.likelihood, f.pairs),
                pct(f.structure, f.pairs),
                pct(f.within, f.pairs),
                pct(f.program, f.pairs),
                f.ece(),
                pct(f.argmax_likelihood, f.pairs),
                pct(f.argmax_structure, f.pairs),
            )
        };
        let mut out = format!(
            "{title}: {samples} samples per pair; top-1 = the modal sample; argmax = {argmax}\n  \
             {:<28} {:>6} {:>10} {:>10} {:>10} {:>10} {:>7} {:>10} {:>10}\n",
            "",
            "pairs",
            "lik top1",
            "struct",
            format!("in {samples}"),
            "program",
            "ECE",
            "argmax lik",
            "argmax str"
        );
        out.push_str(&row("all", &self.total));
        for (t, map) in [
            ("by rows", &self.by_rows),
            ("by family", &self.by_family),
            ("by likelihood", &self.by_likelihood),
        ] {
            out.push_str(&format!("{t}\n"));
            for (k, f) in map {
                out.push_str(&row(k, f));
            }
        }
        out
    }
}

/// Settings of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct EvalConfig {
    /// The corpus split.
    pub split: String,
    /// Pairs at most (the first of the split, in shard order).
    pub limit: usize,
    /// Programs drawn per pair and proposer (at least 1).
    pub samples: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Lexemes the network writes per program at most.
    pub max_tokens: usize,
    /// Evaluate the builtin proposer on the same pairs too.
    pub baseline: bool,
}

/// What [`evaluate`] found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct EvalReport {
    /// The split evaluated.
    pub split: String,
    /// Samples per pair.
    pub samples: usize,
    /// Seed of the draws.
    pub seed: u64,
    /// Pairs skipped (unreadable data or program).
    pub skipped: u64,
    /// The network.
    pub network: Breakdown,
    /// The builtin proposer on the same pairs (absent without the baseline).
    pub builtin: Option<Breakdown>,
}

impl EvalReport {
    /// The tables `spfn eval` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "split {} (seed {}, {} pairs skipped as unreadable)\n",
            self.split, self.seed, self.skipped
        );
        out.push_str(
            &self
                .network
                .table("network", self.samples, "greedy decoding"),
        );
        if let Some(b) = &self.builtin {
            out.push('\n');
            out.push_str(&b.table("builtin", self.samples, "heaviest derivation"));
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

/// `n` draws from `weighted` (texts and non-negative weights), grouped into distinct texts with
/// counts in the order first drawn.
fn draw_weighted(
    weighted: &[(String, f64)],
    n: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<(String, usize)> {
    let mut cum = Vec::with_capacity(weighted.len());
    let mut total = 0.0;
    for (_, w) in weighted {
        total += w.max(0.0);
        cum.push(total);
    }
    let mut out: Vec<(String, usize)> = Vec::new();
    if total <= 0.0 {
        return out;
    }
    for _ in 0..n {
        let u = rng.random::<f64>() * total;
        let i = cum.partition_point(|&c| c <= u).min(weighted.len() - 1);
        let text = &weighted[i].0;
        match out.iter_mut().find(|e| &e.0 == text) {
            Some(e) => e.1 += 1,
            None => out.push((text.clone(), 1)),
        }
    }
    out
}

/// Evaluate the model of `model_dir` on `config.split` of `corpus`.
pub fn evaluate(
    model_dir: &Path,
    corpus: &Path,
    config: &EvalConfig,
) -> Result<EvalReport, NetError> {
    let records = split_records(corpus, &config.split, config.limit)?;
    if records.is_empty() {
        return Err(NetError::Corpus(format!(
            "{}: no readable records in the {} split",
            corpus.display(),
            config.split
        )));
    }
    let samples = config.samples.max(1);
    let mut report = EvalReport {
        split: config.split.clone(),
        samples,
        seed: config.seed,
        builtin: config.baseline.then(Breakdown::default),
        ..EvalReport::default()
    };
    let loaded: Loaded = load(model_dir)?;
    for (i, r) in records.iter().enumerate() {
        let (Ok(data), Some(truth)) = (
            Data::from_json_str(&r.data.to_string()),
            generated_part(&r.program),
        ) else {
            report.skipped += 1;
            continue;
        };
        let want = r
            .labels
            .get("likelihood")
            .cloned()
            .or_else(|| likelihood_of(&r.program, &truth))
            .unwrap_or_default();
        let keys = [
            r.labels.get("family").cloned().unwrap_or_default(),
            want.clone(),
            if r.rows >= 50 { "N >= 50" } else { "N < 50" }.to_string(),
        ];
        let lik = |text: &str| likelihood_of(&r.program, text);
        let want_structure = structure(&truth);
        let argmax = |text: &str| {
            (
                lik(text).as_deref() == Some(want.as_str()),
                want_structure.is_some() && structure(text) == want_structure,
            )
        };
        let mut model = SpfnModel::new(loaded.clone(), &data)?;
        let mut rng =
            ChaCha8Rng::seed_from_u64(refinestat_spfn::simulate::mix(config.seed, &[20, i as u64]));
        let drawn = model.sample(samples, config.max_tokens, &mut rng)?;
        let greedy = model.greedy(config.max_tokens)?;
        report
            .network
            .add(&keys, &judge(&drawn, &truth, &want, &lik), argmax(&greedy));
        if let Some(b) = &mut report.builtin {
            let builtin = BuiltinModel::new(&data);
            let weighted: Vec<(String, f64)> = builtin.programs().collect();
            let mut rng = ChaCha8Rng::seed_from_u64(refinestat_spfn::simulate::mix(
                config.seed,
                &[21, i as u64],
            ));
            let drawn = draw_weighted(&weighted, samples, &mut rng);
            let heaviest = weighted
                .iter()
                .fold(None::<&(String, f64)>, |best, e| match best {
                    Some(b) if b.1 >= e.1 => Some(b),
                    _ => Some(e),
                })
                .map_or("", |e| e.0.as_str());
            b.add(&keys, &judge(&drawn, &truth, &want, &lik), argmax(heaviest));
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NORMAL: &str = "parameters {\n  real mu;\n  real<lower=0> sigma;\n}\nmodel {\n  mu ~ normal(0, 3);\n  sigma ~ exponential(1);\n  y ~ normal(mu, sigma);\n}\n";

    #[test]
    fn ece_of_a_hand_made_case() {
        // Bin [0.9, 1]: confidences 1.0 and 0.9, one right: |1 - 1.9| = 0.9.
        // Bin [0.5, 0.6): 0.5 and 0.5, both right: |2 - 1.0| = 1.0.
        // Bin [0.2, 0.3): 0.25, wrong: 0.25. Total (0.9 + 1.0 + 0.25) / 5 = 0.43.
        let points = [
            (1.0, true),
            (0.9, false),
            (0.5, true),
            (0.5, true),
            (0.25, false),
        ];
        assert!((ece(&points) - 0.43).abs() < 1e-12, "{}", ece(&points));
        // Perfectly calibrated bins: half right at 0.5, all right at 1.
        let calibrated = [(0.5, true), (0.5, false), (1.0, true), (1.0, true)];
        assert!(ece(&calibrated).abs() < 1e-12);
        assert_eq!(ece(&[]), 0.0);
    }

    #[test]
    fn structure_abstracts_constants_and_names_but_not_the_likelihood() {
        let renamed = NORMAL
            .replace("mu", "alpha")
            .replace("normal(0, 3)", "normal(1, 10)")
            .replace("exponential(1)", "exponential(0.5)");
        assert_eq!(structure(NORMAL), structure(&renamed));
        assert_ne!(program(NORMAL), program(&renamed));
        let student = NORMAL
            .replace("y ~ normal", "y ~ student_t(4, ")
            .replace("(4, (", "(4, ");
        assert!(structure(&student).is_some(), "{student}");
        assert_ne!(structure(NORMAL), structure(&student));
        assert!(structure("parameters { real").is_none());
        assert!(structure(NORMAL).unwrap().contains("normal(#, #)"));
    }

    #[test]
    fn the_modal_sample_and_the_samples_within() {
        let other_constants = NORMAL.replace("normal(0, 3)", "normal(0, 5)");
        let wrong = NORMAL.replace("real<lower=0> sigma", "real<lower=0> sigma;\n  real nu");
        let lik = |t: &str| parse(t).errors.is_empty().then(|| "normal".to_string());
        // Ten draws: the truth's structure 5 times (two programs, 3 + 2), a wrong structure 4
        // times, an unparseable text once: the modal structure is the truth's, confidence 0.5.
        let samples = vec![
            (wrong.clone(), 4),
            (NORMAL.to_string(), 3),
            (other_constants.clone(), 2),
            ("parameters {".to_string(), 1),
        ];
        let v = judge(&samples, NORMAL, "normal", &lik);
        assert!(v.structure && v.within && v.likelihood);
        assert!((v.confidence - 0.5).abs() < 1e-12, "{}", v.confidence);
        // The modal program (constants included) is the wrong one (4 > 3).
        assert!(!v.program);
        // Only the wrong structure drawn: not within, confidence 1 and wrong.
        let v = judge(&[(wrong.clone(), 5)], NORMAL, "normal", &lik);
        assert!(!v.structure && !v.within && !v.program && v.likelihood);
        assert_eq!(v.confidence, 1.0);
        // Within but not modal.
        let v = judge(
            &[(wrong.clone(), 5), (other_constants, 1)],
            NORMAL,
            "normal",
            &lik,
        );
        assert!(!v.structure && v.within);
        assert!((v.confidence - 5.0 / 6.0).abs() < 1e-12);
        // Ties go to the structure drawn first.
        let v = judge(
            &[(wrong.clone(), 2), (NORMAL.to_string(), 2)],
            NORMAL,
            "normal",
            &lik,
        );
        assert!(!v.structure && v.within);
        // Texts that do not parse are never modal, but count against the confidence.
        let v = judge(
            &[("parameters {".to_string(), 6), (NORMAL.to_string(), 2)],
            NORMAL,
            "normal",
            &lik,
        );
        assert!(v.structure && v.within && v.likelihood && v.program);
        assert!((v.confidence - 0.25).abs() < 1e-12);
        let v = judge(&[("parameters {".to_string(), 3)], NORMAL, "normal", &lik);
        assert!(!v.structure && !v.within && !v.likelihood);
        assert_eq!(v.confidence, 0.0);
    }

    #[test]
    fn weighted_draws_follow_the_weights() {
        let w = vec![
            ("a".to_string(), 3.0),
            ("b".to_string(), 1.0),
            ("c".to_string(), 0.0),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let d = draw_weighted(&w, 4000, &mut rng);
        let count = |t: &str| d.iter().find(|e| e.0 == t).map_or(0, |e| e.1);
        assert_eq!(count("a") + count("b"), 4000);
        assert_eq!(count("c"), 0);
        assert!((count("a") as f64 / 4000.0 - 0.75).abs() < 0.03, "{d:?}");
    }
}
