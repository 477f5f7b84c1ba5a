//! The RefineStat refinement loop (Definition 3.2 of the paper): write programs D || P || L with
//! the constrained decoder, fit each one, score it with the seven reliability checks, and
//! resample the likelihood L (keeping the data block D and the prior part P) or the prior part P
//! (with L) until `beta` programs are valid or `rmax` attempts are spent; return the valid
//! program with the highest ELPD-LOO.
//!
//! The loop, exactly ([`refine`]):
//! 1. An attempt is *full* (prompt D) unless the last full attempt failed and its likelihood
//!    has been resampled fewer than `alpha` times since; then it is a *likelihood* attempt
//!    (prompt = that program up to its first L statement, see [`likelihood_start`]).
//! 2. The program is checked (the six predicates, with the data); a program that does not check,
//!    whose generation stopped short of a whole program, or that has no likelihood statement on
//!    one of [`RefineConfig::responses`] ([`unmodelled_responses`], through the language crate's
//!    `observed_statements`), is invalid without a fit (a program the decoder closed when a budget
//!    ran out is whole). Predicates switched off ([`DecodeConfig::without`], the ablation) are
//!    left out of this check too, so such a program goes to the fitter, whose compilation is
//!    then the judge (a program that does not compile is a failed fit). A likelihood resample that rewrites a program fitted before is drawn
//!    again, up to [`RefineConfig::redraws`] times (its tokens count). Otherwise it is fitted by the
//!    [`Fitter`] unless a program with the same canonical text was fitted before (then that
//!    result is reused: no program is fitted twice). Valid = reliability score >= `k`.
//! 3. A valid program ends the current prior: the next attempt is full. An invalid full attempt
//!    starts likelihood resampling on its P (when it parses and has an L); an invalid likelihood
//!    attempt counts one of the `alpha` resamples, after which the next attempt is full.
//! 4. Structural revisions ([`RefineConfig::revise`]): a fitted program whose Pareto k check fails
//!    gets a heavier-tailed or overdispersed likelihood, one with divergences the other
//!    parameterization of its varying effects (`refinestat_family::revise`); each is a further
//!    attempt ([`AttemptKind::Revision`], no tokens), run before the next generation.
//! 5. Stop at `beta` valid programs of distinct structure ([`structure_key`]; at most `2 beta`
//!    valid programs in all; [`RefineStop::BetaReached`]), `rmax` attempts
//!    ([`RefineStop::RmaxReached`]), or the time budget ([`RefineStop::TimeBudget`]); with no
//!    valid program at the end the reason is [`RefineStop::NoValidProgram`]. A generation that
//!    ends with a model error (a server down through its retries) stops the loop at once
//!    ([`RefineStop::ModelError`]).
//! 6. Selection ([`Selection`]): argmax ELPD-LOO over the valid programs, where a program whose
//!    ELPD-LOO is indistinguishable from the highest (within two standard errors of the
//!    difference, at most two nats) and that scores higher wins (the default); or the plain
//!    argmax, or the highest score with ties broken by ELPD-LOO; earlier programs win exact ties.
//!
//! Programs are written by any [`ProgramWriter`]: a token-level model through the constrained
//! decoder, or an OpenAI-compatible server statement by statement; a likelihood attempt asks it
//! to continue the kept D || P ([`ProgramWriter::write_after`]).
//!
//! Attempt `i` draws its tokens from `ChaCha8(seed)` stream `i`, so a run depends only on the
//! seed, the settings, the data and the fitter. Every token is counted, cached attempts included.

use crate::decode::{DecodeConfig, Generation, Mode, StopReason, TokenCounts};
use crate::prompt::data_block;
use crate::writer::ProgramWriter;
use rand::SeedableRng;
use refinestat_diagnostics::{loo_compare, Summary};
use refinestat_inference::SamplerConfig;
use refinestat_language::analysis::{modelled_variables, observed_statements};
use refinestat_language::{canonical, check, parse, Data, Diagnostic};
use refinestat_workflow::fit_model;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How the best valid program is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The highest ELPD-LOO among valid programs whose PSIS-LOO is reliable (at most
    /// [`UNRELIABLE_LOO_SHARE`] of Pareto k above the threshold), and among the others only when
    /// no valid program has a reliable one (an ELPD with many high k is optimistic, typically
    /// one parameter per observation; but so is a hierarchical model of a few groups, which
    /// this rule then passes over for a pooled one).
    ReliableElpd,
    /// The highest ELPD-LOO among valid programs (the paper's rule).
    Elpd,
    /// The highest ELPD-LOO among valid programs, except that a program whose ELPD-LOO is
    /// indistinguishable from the highest (below it by less than two standard errors of the
    /// pointwise difference, as `loo_compare`'s noise rule, or by less than
    /// [`NEGLIGIBLE_ELPD`]; never by more than [`INDISTINGUISHABLE_ELPD_CAP`] nats) and whose
    /// reliability score is higher wins: the checks decide where the data cannot. Programs
    /// failing more than one check ([`FEW_FAILED_CHECKS`]) compete only when no valid program
    /// fails at most one: an ELPD-LOO beside two failed checks (most often high Pareto k and
    /// low ESS, one parameter per observation) is not one to choose by.
    ElpdThenScore,
    /// The highest reliability score, ties broken by ELPD-LOO.
    ScoreThenElpd,
}

impl Selection {
    /// The rule's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::ReliableElpd => "reliable-elpd",
            Selection::Elpd => "elpd",
            Selection::ElpdThenScore => "elpd-then-score",
            Selection::ScoreThenElpd => "score-then-elpd",
        }
    }
}

impl std::str::FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> Result<Selection, String> {
        match s {
            "reliable-elpd" => Ok(Selection::ReliableElpd),
            "elpd" => Ok(Selection::Elpd),
            "elpd-then-score" => Ok(Selection::ElpdThenScore),
            "score-then-elpd" => Ok(Selection::ScoreThenElpd),
            other => Err(format!(
                "unknown selection `{other}` (expected elpd-then-score, elpd, reliable-elpd or score-then-elpd)"
            )),
        }
    }
}

/// Settings of the refinement loop.
#[derive(Debug, Clone, PartialEq)]
pub struct RefineConfig {
    /// Attempts (generations) at most (default 100).
    pub rmax: usize,
    /// Likelihood resamples per prior before the prior is resampled (default 2).
    pub alpha: usize,
    /// Stop after this many valid programs (default 4).
    pub beta: usize,
    /// A program is valid when its reliability score is at least this (default 5 of 7).
    pub k: u8,
    /// How the best valid program is chosen.
    pub select: Selection,
    /// Decoder settings; `mode` is `refinestat` for RefineStat, `syntax` for the iterative
    /// baseline (refinement without the semantic predicates).
    pub decode: DecodeConfig,
    /// Seed of the token draws.
    pub seed: u64,
    /// Wall-clock budget; checked before each attempt.
    pub time_budget: Option<Duration>,
    /// The response(s) every candidate must model (a likelihood statement on each); a program
    /// that does not is invalid without a fit. Empty: no such check.
    pub responses: Vec<String>,
    /// A likelihood resample that rewrites a program fitted before is drawn again, up to this
    /// many times, before it counts as a cached attempt (default 4).
    pub redraws: usize,
    /// Structural revisions when a fit's checks ask for them (default on): high Pareto k ->
    /// a heavier-tailed or overdispersed likelihood, divergences -> the other
    /// parameterization of the varying effects.
    pub revise: bool,
    /// `beta` counts valid programs of distinct structure (default on): programs whose
    /// parameters and likelihood differ only in constants and priors count once, so a run does
    /// not stop at four prior variants of one model; it stops anyway at `2 * beta` valid
    /// programs. Off: every valid program counts (the paper's rule).
    pub distinct_structures: bool,
}

impl Default for RefineConfig {
    fn default() -> RefineConfig {
        RefineConfig {
            rmax: 100,
            alpha: 2,
            beta: 4,
            k: 5,
            select: Selection::ElpdThenScore,
            decode: DecodeConfig::default(),
            seed: 1,
            time_budget: None,
            responses: Vec::new(),
            redraws: 4,
            revise: true,
            distinct_structures: true,
        }
    }
}

/// What a fit of one program said.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// Reliability checks passed, 0 to 7 (0 when the fit failed).
    pub score: u8,
    /// ELPD-LOO where finite.
    pub elpd_loo: Option<f64>,
    /// The diagnostics summary, when a real fit made one.
    pub summary: Option<Summary>,
    /// Why the fit failed, when it did.
    pub error: Option<String>,
}

/// Fits a program that passed the check and scores it. A trait so tests can inject scores.
pub trait Fitter {
    /// Fit `program` to `data` and assess the fit.
    fn fit(&mut self, program: &str, data: &Data) -> Assessment;
}

/// The real fitter: compile, NUTS with `sampler`, diagnostics with PSIS-LOO.
#[derive(Debug, Clone)]
pub struct NutsFitter {
    /// Chains, warm-up, draws and seed of each fit.
    pub sampler: SamplerConfig,
}

impl Fitter for NutsFitter {
    fn fit(&mut self, program: &str, data: &Data) -> Assessment {
        let failed = |error: String| Assessment {
            score: 0,
            elpd_loo: None,
            summary: None,
            error: Some(error),
        };
        let model = match refinestat_model::Model::from_source(program, data) {
            Ok(model) => model,
            Err(e) => return failed(format!("does not compile: {e}")),
        };
        match fit_model(&model, &self.sampler, |_, _, _| {}).and_then(|fit| fit.summarize()) {
            Ok(summary) => Assessment {
                score: summary.reliability.refinestat.score,
                elpd_loo: summary
                    .loo
                    .as_ref()
                    .map(|l| l.elpd_loo)
                    .filter(|x| x.is_finite()),
                summary: Some(summary),
                error: None,
            },
            Err(e) => failed(format!("fit failed: {e}")),
        }
    }
}

/// What an attempt regenerated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptKind {
    /// P and L after the data block.
    Full,
    /// L only, after a kept D || P.
    Likelihood,
    /// A structural revision of a fitted program (no tokens drawn).
    Revision,
}

/// One generation and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// 0-based.
    pub index: usize,
    /// A full program, a likelihood resample or a structural revision.
    pub kind: AttemptKind,
    /// The whole program (D || P || L).
    pub program: String,
    /// How the decoder ended.
    pub generation: StopReason,
    /// Its tokens (redrawn likelihoods included).
    pub tokens: TokenCounts,
    /// Check violations of the finished program (empty = it checks).
    pub violations: Vec<Diagnostic>,
    /// The candidate (distinct program) it fitted or reused; `None` when it was not fitted.
    pub candidate: Option<usize>,
    /// The fit was reused from an earlier attempt with the same canonical program.
    pub cached: bool,
    /// Responses the program has no likelihood on (not fitted when non-empty).
    pub unmodelled: Vec<String>,
    /// Likelihood resamples drawn again because they rewrote a program fitted before.
    pub redraws: usize,
    /// For a revision: what changed, and the attempt it revised.
    pub revision: Option<(String, usize)>,
    /// Its candidate's reliability score (0 without a fit).
    pub score: u8,
    /// Its candidate's ELPD-LOO.
    pub elpd_loo: Option<f64>,
    /// Whether its candidate is valid.
    pub valid: bool,
    /// Wall time of the attempt (generation, check and fit).
    pub time: Duration,
}

/// A distinct fitted program.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The whole program, data block included.
    pub program: String,
    /// Its canonical text (the cache key).
    pub canonical: String,
    /// What its fit said.
    pub assessment: Assessment,
    /// Fitted without error and scored at least `k`.
    pub valid: bool,
    /// The attempt that fitted it.
    pub first_attempt: usize,
    /// Wall time of its fit.
    pub fit_time: Duration,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefineStop {
    /// `beta` valid programs were found.
    BetaReached,
    /// `rmax` attempts were made.
    RmaxReached,
    /// The wall-clock budget was spent.
    TimeBudget,
    /// The budget ran out with no valid program.
    NoValidProgram,
    /// The proposal model failed (e.g. its server stayed unreachable through its retries); the
    /// last attempt's generation says why.
    ModelError,
}

impl RefineStop {
    /// The reason's name in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RefineStop::BetaReached => "beta_reached",
            RefineStop::RmaxReached => "rmax_reached",
            RefineStop::TimeBudget => "time_budget",
            RefineStop::NoValidProgram => "no_valid_program",
            RefineStop::ModelError => "model_error",
        }
    }
}

/// Everything the loop did.
#[derive(Debug, Clone, PartialEq)]
pub struct RefineOutcome {
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
    /// Every distinct fitted program, in order of first fit.
    pub candidates: Vec<Candidate>,
    /// The chosen candidate.
    pub best: Option<usize>,
    /// Why the loop ended.
    pub stop: RefineStop,
    /// Sum over all attempts.
    pub tokens: TokenCounts,
    /// Fits run (= candidates).
    pub fits: usize,
    /// Wall time of the whole loop.
    pub elapsed: Duration,
}

impl RefineOutcome {
    /// Why candidate `i` was not chosen (`None` for the chosen one).
    pub fn not_chosen_reason(&self, i: usize, config: &RefineConfig) -> Option<String> {
        if self.best == Some(i) {
            return None;
        }
        let c = self.candidates.get(i)?;
        if !c.valid {
            return Some(match &c.assessment.error {
                Some(e) => format!("invalid: {e}"),
                None => format!(
                    "invalid: reliability score {} below k = {}",
                    c.assessment.score, config.k
                ),
            });
        }
        let best = self.best.and_then(|b| self.candidates.get(b));
        Some(match (best, config.select) {
            (Some(b), Selection::ReliableElpd) if !loo_reliable(c) && loo_reliable(b) => {
                format!(
                    "valid, but its PSIS-LOO is unreliable (over 10% of Pareto k high), so its ELPD-LOO \
                     {} does not compete with the chosen program's {}",
                    fmt_elpd(c.assessment.elpd_loo),
                    fmt_elpd(b.assessment.elpd_loo)
                )
            }
            (Some(b), Selection::ElpdThenScore)
                if elpd_of(c) > elpd_of(b)
                    && c.assessment.score < FEW_FAILED_CHECKS
                    && b.assessment.score >= FEW_FAILED_CHECKS =>
            {
                format!(
                    "valid, but it fails {} of the 7 checks, so its ELPD-LOO {} does not compete \
                     with the chosen program's {}, which fails at most one",
                    7 - c.assessment.score,
                    fmt_elpd(c.assessment.elpd_loo),
                    fmt_elpd(b.assessment.elpd_loo)
                )
            }
            (Some(b), Selection::ElpdThenScore)
                if elpd_of(c) > elpd_of(b) && c.assessment.score < b.assessment.score =>
            {
                format!(
                    "valid, and its ELPD-LOO {} is above the chosen program's {} by less than the \
                     noise of the difference, but its score {} is below the chosen program's {}",
                    fmt_elpd(c.assessment.elpd_loo),
                    fmt_elpd(b.assessment.elpd_loo),
                    c.assessment.score,
                    b.assessment.score
                )
            }
            (Some(b), Selection::ScoreThenElpd) if c.assessment.score < b.assessment.score => {
                format!(
                    "valid, but its score {} is below the chosen program's {}",
                    c.assessment.score, b.assessment.score
                )
            }
            (Some(b), _) => format!(
                "valid, but its ELPD-LOO {} is not above the chosen program's {}",
                fmt_elpd(c.assessment.elpd_loo),
                fmt_elpd(b.assessment.elpd_loo)
            ),
            (None, _) => "valid, but not chosen".to_string(),
        })
    }
}

fn fmt_elpd(x: Option<f64>) -> String {
    x.map_or("undefined".to_string(), |v| format!("{v:.2}"))
}

/// Where the likelihood part L of `program` starts: the byte offset of the model-block statement
/// holding the first statement on observed data, as the language crate's
/// [`observed_statements`] decides it (a `~` whose left side mentions a data variable outside
/// index brackets, or a `target +=` of a density whose variate does; a loop, `if` or block
/// containing one counts as a whole). `program[..offset]` is D || P, what a likelihood resample
/// keeps. `None` when the program does not parse or has no such statement.
///
/// Everything from that statement on is regenerated, including prior statements written after
/// it (the built-in model writes every prior before the likelihood, so it never does).
pub fn likelihood_start(program: &str) -> Option<usize> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        return None;
    }
    let model = parsed.program.model.as_ref()?;
    let first = observed_statements(&parsed.program).first()?.top;
    // The kept part ends with the statement's indentation: tokenizers (the built-in model's
    // included) make a newline with its indentation one token, so cutting inside it would hand
    // the model a token it never writes.
    Some((model.stmts[first].span.start as usize).min(program.len()))
}

/// The responses among `responses` that no likelihood statement of `program` models (see
/// [`refinestat_language::analysis::observed_statements`]); empty when it models them all, or
/// when it does not parse (the check reports that).
pub fn unmodelled_responses(program: &str, responses: &[String]) -> Vec<String> {
    let parsed = parse(program);
    let modelled = modelled_variables(&parsed.program);
    responses
        .iter()
        .filter(|r| !modelled.contains(*r))
        .cloned()
        .collect()
}

/// What a program is, constants and priors aside: its `parameters` block and its likelihood part
/// (from [`likelihood_start`]) with every number replaced by `#`. Prior variants of one model
/// share it; a different likelihood, link, covariate set or parameterization does not.
pub fn structure_key(program: &str) -> String {
    let parsed = parse(program);
    let text = if parsed.errors.is_empty() {
        canonical(&parsed.program)
    } else {
        program.to_string()
    };
    let params = text
        .find("parameters {")
        .and_then(|at| text[at..].find('}').map(|end| &text[at..at + end]))
        .unwrap_or("");
    let likelihood = likelihood_start(&text).map_or("", |at| &text[at..]);
    let mut key = String::new();
    let mut in_number = false;
    for c in params.chars().chain("\n".chars()).chain(likelihood.chars()) {
        let digit = c.is_ascii_digit() || (in_number && (c == '.' || c == 'e'));
        if digit && !in_number && key.ends_with(|p: char| p.is_alphanumeric() || p == '_') {
            // A digit inside a name (`beta_2`) is part of the name.
            key.push(c);
            continue;
        }
        if digit {
            if !in_number {
                key.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            key.push(c);
        }
    }
    key
}

/// The fit cache's key of a program: its canonical text, or, for a program that does not parse
/// (one the ablation let through with the parse predicate off), the text itself, so that it
/// never shares a fit with the program the parser's recovery makes of it.
fn fit_key(program: &str) -> String {
    let parsed = parse(program);
    if parsed.errors.is_empty() {
        canonical(&parsed.program)
    } else {
        format!("unparsed:{program}")
    }
}

/// The structural revisions a fitted candidate's checks ask for: a heavier-tailed or
/// overdispersed likelihood when Pareto k fails, the other parameterization of its varying
/// effects when there are divergences. Revisions are one level deep: a program that is itself a
/// revision is not revised again (revising revisions stacks one observation-level effect on
/// another, each slower to fit and no better).
fn revisions_for(c: &Candidate, kind: AttemptKind) -> Vec<(String, String)> {
    if kind == AttemptKind::Revision {
        return Vec::new();
    }
    let Some(summary) = &c.assessment.summary else {
        return Vec::new();
    };
    let checks = &summary.reliability.refinestat.checks;
    // A fit whose chains disagree says nothing about its likelihood's tails or its
    // parameterization: revising it only spends attempts.
    if !checks.rhat.pass {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !checks.pareto_k.pass {
        out.extend(refinestat_family::heavier_likelihood(&c.program));
    }
    if !checks.divergences.pass {
        out.extend(refinestat_family::other_parameterization(&c.program));
    }
    out
}

fn add_tokens(total: &mut TokenCounts, t: &TokenCounts) {
    total.prompt += t.prompt;
    total.sampled += t.sampled;
    total.accepted += t.accepted;
    total.rejected += t.rejected;
    total.scanned += t.scanned;
}

/// Share of observations with Pareto k above the threshold beyond which a candidate's ELPD-LOO
/// does not compete under [`Selection::ReliableElpd`]. A few high k are common in hierarchical
/// models of small groups; many mean the estimate is optimistic (typically an observation-level
/// effect per data point, whose p_loo approaches N).
pub const UNRELIABLE_LOO_SHARE: f64 = 0.1;

/// Whether a candidate's PSIS-LOO is reliable enough to compete on ELPD: at most
/// [`UNRELIABLE_LOO_SHARE`] of its Pareto k above the threshold (true when no summary is known,
/// as for scripted fitters).
fn loo_reliable(c: &Candidate) -> bool {
    let Some(loo) = c.assessment.summary.as_ref().and_then(|s| s.loo.as_ref()) else {
        return true;
    };
    let high = loo
        .pareto_k
        .iter()
        .filter(|k| **k > loo.k_threshold)
        .count();
    high as f64 <= UNRELIABLE_LOO_SHARE * loo.pareto_k.len() as f64
}

/// Under [`Selection::ElpdThenScore`], the reliability score (of 7) a program reaches to compete
/// on ELPD-LOO whenever some valid program reaches it: at most one check failed.
pub const FEW_FAILED_CHECKS: u8 = 6;

/// The most nats a program's ELPD-LOO may fall below the highest and still count as
/// indistinguishable from it under [`Selection::ElpdThenScore`], however large the standard
/// error of the difference.
pub const INDISTINGUISHABLE_ELPD_CAP: f64 = 2.0;

/// A difference in ELPD-LOO below this many nats is negligible under
/// [`Selection::ElpdThenScore`] whatever its standard error.
pub const NEGLIGIBLE_ELPD: f64 = 0.5;

fn elpd_of(c: &Candidate) -> f64 {
    c.assessment.elpd_loo.unwrap_or(f64::NEG_INFINITY)
}

/// The standard error of the difference of two candidates' ELPD-LOO ([`loo_compare`]); `None`
/// when either has no PSIS-LOO or they were not evaluated on the same observations.
fn elpd_diff_se(a: &Candidate, b: &Candidate) -> Option<f64> {
    fn loo(c: &Candidate) -> Option<&refinestat_diagnostics::Loo> {
        c.assessment.summary.as_ref()?.loo.as_ref()
    }
    let se = loo_compare(&[loo(a)?, loo(b)?], 0)[1].se_diff;
    se.is_finite().then_some(se)
}

/// The index of the best candidate among `valid` ones under `select`.
fn select_best(candidates: &[Candidate], select: Selection) -> Option<usize> {
    let few_failed = |c: &Candidate| c.assessment.score >= FEW_FAILED_CHECKS;
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.valid) {
        let better = match best.map(|b| &candidates[b]) {
            None => true,
            Some(b) => match select {
                Selection::ReliableElpd => {
                    (loo_reliable(c), elpd_of(c)) > (loo_reliable(b), elpd_of(b))
                }
                Selection::Elpd => elpd_of(c) > elpd_of(b),
                // The highest ELPD-LOO among programs failing at most one check, if any.
                Selection::ElpdThenScore => {
                    (few_failed(c), elpd_of(c)) > (few_failed(b), elpd_of(b))
                }
                Selection::ScoreThenElpd => {
                    (c.assessment.score, elpd_of(c)) > (b.assessment.score, elpd_of(b))
                }
            },
        };
        if better {
            best = Some(i);
        }
    }
    if select != Selection::ElpdThenScore {
        return best;
    }
    // A higher-scoring program within the noise of that one's ELPD-LOO wins.
    let top = best?;
    let t = &candidates[top];
    let mut best = top;
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.valid) {
        let b = &candidates[best];
        let gap = elpd_of(t) - elpd_of(c);
        // loo_compare's noise rule (within two standard errors of the difference), or a
        // difference too small to matter; never more than the cap.
        let close = gap <= INDISTINGUISHABLE_ELPD_CAP
            && elpd_diff_se(t, c).is_some_and(|se| gap < 2.0 * se || gap < NEGLIGIBLE_ELPD);
        if close && (c.assessment.score, elpd_of(c)) > (b.assessment.score, elpd_of(b)) {
            best = i;
        }
    }
    Some(best)
}

/// Runs the refinement loop; `on_attempt` sees each attempt as soon as it is scored (for logs
/// and progress), with the candidate list as it stands.
pub fn refine(
    writer: &mut dyn ProgramWriter,
    data: &Data,
    fitter: &mut dyn Fitter,
    config: &RefineConfig,
    on_attempt: &mut dyn FnMut(&Attempt, &[Candidate]),
) -> RefineOutcome {
    let started = Instant::now();
    let d = data_block(data);
    let mut attempts: Vec<Attempt> = Vec::new();
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut by_canonical: HashMap<String, usize> = HashMap::new();
    let mut tokens = TokenCounts::default();
    // The kept D || P of the prior under likelihood resampling, and resamples made on it.
    let mut kept_prior: Option<String> = None;
    let mut likelihood_resamples = 0;
    // Valid programs, and their distinct structures (see `structure_key`).
    let mut valid_count = 0;
    let mut valid_structures: std::collections::HashSet<String> = Default::default();
    // Structural revisions waiting to be fitted: (program, what changed, the attempt revised).
    let mut revisions: VecDeque<(String, String, usize)> = VecDeque::new();

    let stop = loop {
        let beta = config.beta.max(1);
        let enough = if config.distinct_structures {
            valid_structures.len() >= beta || valid_count >= 2 * beta
        } else {
            valid_count >= beta
        };
        if enough {
            break RefineStop::BetaReached;
        }
        if attempts.len() >= config.rmax {
            break RefineStop::RmaxReached;
        }
        if config.time_budget.is_some_and(|b| started.elapsed() >= b) {
            break RefineStop::TimeBudget;
        }
        let attempt_start = Instant::now();
        let index = attempts.len();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        rng.set_stream(index as u64);
        let mut redraws = 0;
        let mut revision = None;
        let (kind, generation) = if let Some((program, what, of)) = revisions.pop_front() {
            revision = Some((what, of));
            let generation = Generation {
                generated: program.get(d.len()..).unwrap_or_default().to_string(),
                program,
                stop: StopReason::Completed,
                tokens: TokenCounts::default(),
                backtracks: 0,
                masks: 0,
                grammar_unavailable: None,
                closed_after: None,
            };
            (AttemptKind::Revision, generation)
        } else {
            match kept_prior.as_deref() {
                Some(prefix) if likelihood_resamples < config.alpha => {
                    let mut g = writer.write_after(&d, prefix, data, &config.decode, &mut rng);
                    // A resample that rewrites a program fitted before is drawn again; its
                    // tokens count in this attempt's.
                    let mut redrawn = TokenCounts::default();
                    while redraws < config.redraws
                        && g.stop.is_program()
                        && by_canonical.contains_key(&fit_key(&g.program))
                    {
                        add_tokens(&mut redrawn, &g.tokens);
                        redraws += 1;
                        g = writer.write_after(&d, prefix, data, &config.decode, &mut rng);
                    }
                    add_tokens(&mut g.tokens, &redrawn);
                    (AttemptKind::Likelihood, g)
                }
                _ => {
                    kept_prior = None;
                    let g = writer.write(&d, data, &config.decode, &mut rng);
                    (AttemptKind::Full, g)
                }
            }
        };
        add_tokens(&mut tokens, &generation.tokens);
        let program = generation.program;
        let violations = if generation.stop.is_program() {
            // Predicates switched off for the ablation stop nothing here either: the fitter
            // (which compiles the program, as Stan would) decides whether it runs.
            let mut v = check(&program, Some(data));
            config.decode.keep_enforced(&mut v);
            v
        } else {
            Vec::new()
        };
        // Every candidate models the response: a program whose likelihood is on other
        // variables only is not fitted.
        let unmodelled = if generation.stop.is_program() && violations.is_empty() {
            unmodelled_responses(&program, &config.responses)
        } else {
            Vec::new()
        };
        let fit_ready =
            generation.stop.is_program() && violations.is_empty() && unmodelled.is_empty();
        let mut candidate = None;
        let mut cached = false;
        if fit_ready {
            let key = fit_key(&program);
            if let Some(&i) = by_canonical.get(&key) {
                candidate = Some(i);
                cached = true;
            } else {
                let fit_start = Instant::now();
                let assessment = fitter.fit(&program, data);
                let valid = assessment.error.is_none() && assessment.score >= config.k;
                candidates.push(Candidate {
                    program: program.clone(),
                    canonical: key.clone(),
                    assessment,
                    valid,
                    first_attempt: index,
                    fit_time: fit_start.elapsed(),
                });
                by_canonical.insert(key, candidates.len() - 1);
                candidate = Some(candidates.len() - 1);
                if config.revise {
                    let c = &candidates[candidates.len() - 1];
                    for (revised, what) in revisions_for(c, kind) {
                        let key = fit_key(&revised);
                        if !by_canonical.contains_key(&key)
                            && !revisions.iter().any(|(p, _, _)| p == &revised)
                        {
                            revisions.push_back((revised, what, index));
                        }
                    }
                }
            }
        }
        let (score, elpd_loo, valid) = candidate.map_or((0, None, false), |i| {
            let c = &candidates[i];
            (c.assessment.score, c.assessment.elpd_loo, c.valid)
        });
        // A cached valid program is not a new valid program.
        if valid && !cached {
            valid_count += 1;
            valid_structures.insert(structure_key(&program));
        }
        match kind {
            _ if valid => {
                kept_prior = None;
            }
            AttemptKind::Full => {
                kept_prior = likelihood_start(&program).map(|at| program[..at].to_string());
                if kept_prior.as_deref().is_some_and(|p| !p.starts_with(&d)) {
                    kept_prior = None;
                }
                likelihood_resamples = 0;
            }
            AttemptKind::Likelihood => likelihood_resamples += 1,
            AttemptKind::Revision => {}
        }
        let attempt = Attempt {
            index,
            kind,
            program,
            generation: generation.stop,
            tokens: generation.tokens,
            violations,
            candidate,
            cached,
            unmodelled,
            redraws,
            revision,
            score,
            elpd_loo,
            valid,
            time: attempt_start.elapsed(),
        };
        let model_failed = matches!(attempt.generation, StopReason::ModelError(_));
        on_attempt(&attempt, &candidates);
        attempts.push(attempt);
        // The writer gave up (a server that stayed down through its retries): more attempts
        // would fail the same way, each after the same wait.
        if model_failed {
            break RefineStop::ModelError;
        }
    };
    let best = select_best(&candidates, config.select);
    let stop = if best.is_none() && stop != RefineStop::ModelError {
        RefineStop::NoValidProgram
    } else {
        stop
    };
    RefineOutcome {
        fits: candidates.len(),
        attempts,
        candidates,
        best,
        stop,
        tokens,
        elapsed: started.elapsed(),
    }
}

/// The settings of a `--mode`: `refinestat` (the loop with the full decoder), `iterative` (the
/// loop with the grammar-only decoder), and the one-pass baselines `syntax` and `standard`
/// (one generation, scored like any candidate).
pub fn config_for_mode(mode: &str, base: RefineConfig) -> Result<RefineConfig, String> {
    let with = |decode_mode: Mode, rmax: usize| RefineConfig {
        rmax,
        decode: DecodeConfig {
            mode: decode_mode,
            ..base.decode.clone()
        },
        ..base.clone()
    };
    match mode {
        "refinestat" => Ok(with(Mode::Refinestat, base.rmax)),
        "iterative" => Ok(with(Mode::Syntax, base.rmax)),
        "syntax" => Ok(with(Mode::Syntax, 1)),
        "standard" => Ok(with(Mode::Standard, 1)),
        other => Err(format!(
            "unknown mode `{other}` (expected refinestat, iterative, syntax or standard)"
        )),
    }
}
