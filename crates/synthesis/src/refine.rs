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
//!    or whose generation stopped short of a whole program, is invalid without a fit (a program
//!    the decoder closed when a budget ran out is whole). Otherwise it is fitted by the
//!    [`Fitter`] unless a program with the same canonical text was fitted before (then that
//!    result is reused: no program is fitted twice). Valid = reliability score >= `k`.
//! 3. A valid program ends the current prior: the next attempt is full. An invalid full attempt
//!    starts likelihood resampling on its P (when it parses and has an L); an invalid likelihood
//!    attempt counts one of the `alpha` resamples, after which the next attempt is full.
//! 4. Stop at `beta` valid programs ([`RefineStop::BetaReached`]), `rmax` attempts
//!    ([`RefineStop::RmaxReached`]), or the time budget ([`RefineStop::TimeBudget`]); with no
//!    valid program at the end the reason is [`RefineStop::NoValidProgram`]. A generation that
//!    ends with a model error (a server down through its retries) stops the loop at once
//!    ([`RefineStop::ModelError`]).
//! 5. Selection ([`Selection`]): argmax ELPD-LOO over the valid programs, or the highest score
//!    with ties broken by ELPD-LOO; earlier programs win exact ties.
//!
//! Programs are written by any [`ProgramWriter`]: a token-level model through the constrained
//! decoder, or an OpenAI-compatible server statement by statement; a likelihood attempt asks it
//! to continue the kept D || P ([`ProgramWriter::write_after`]).
//!
//! Attempt `i` draws its tokens from `ChaCha8(seed)` stream `i`, so a run depends only on the
//! seed, the settings, the data and the fitter. Every token is counted, cached attempts included.

use crate::decode::{DecodeConfig, Mode, StopReason, TokenCounts};
use crate::prompt::data_block;
use crate::writer::ProgramWriter;
use rand::SeedableRng;
use refinestat_diagnostics::Summary;
use refinestat_inference::SamplerConfig;
use refinestat_language::ast::{BlockKind, Expr, ExprKind, Stmt, StmtKind};
use refinestat_language::{canonical, check, parse, Data, Diagnostic};
use refinestat_workflow::fit_model;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How the best valid program is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Selection {
    /// The highest ELPD-LOO among valid programs (the paper's rule).
    Elpd,
    /// The highest reliability score, ties broken by ELPD-LOO.
    ScoreThenElpd,
}

impl Selection {
    pub fn as_str(self) -> &'static str {
        match self {
            Selection::Elpd => "elpd",
            Selection::ScoreThenElpd => "score-then-elpd",
        }
    }
}

impl std::str::FromStr for Selection {
    type Err = String;
    fn from_str(s: &str) -> Result<Selection, String> {
        match s {
            "elpd" => Ok(Selection::Elpd),
            "score-then-elpd" => Ok(Selection::ScoreThenElpd),
            other => Err(format!(
                "unknown selection `{other}` (expected elpd or score-then-elpd)"
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
    pub select: Selection,
    /// Decoder settings; `mode` is `refinestat` for RefineStat, `syntax` for the iterative
    /// baseline (refinement without the semantic predicates).
    pub decode: DecodeConfig,
    /// Seed of the token draws.
    pub seed: u64,
    /// Wall-clock budget; checked before each attempt.
    pub time_budget: Option<Duration>,
}

impl Default for RefineConfig {
    fn default() -> RefineConfig {
        RefineConfig {
            rmax: 100,
            alpha: 2,
            beta: 4,
            k: 5,
            select: Selection::Elpd,
            decode: DecodeConfig::default(),
            seed: 1,
            time_budget: None,
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
    fn fit(&mut self, program: &str, data: &Data) -> Assessment;
}

/// The real fitter: compile, NUTS with `sampler`, diagnostics with PSIS-LOO.
#[derive(Debug, Clone)]
pub struct NutsFitter {
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
}

/// One generation and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// 0-based.
    pub index: usize,
    pub kind: AttemptKind,
    /// The whole program (D || P || L).
    pub program: String,
    /// How the decoder ended.
    pub generation: StopReason,
    pub tokens: TokenCounts,
    /// Check violations of the finished program (empty = it checks).
    pub violations: Vec<Diagnostic>,
    /// The candidate (distinct program) it fitted or reused; `None` when it was not fitted.
    pub candidate: Option<usize>,
    /// The fit was reused from an earlier attempt with the same canonical program.
    pub cached: bool,
    pub score: u8,
    pub elpd_loo: Option<f64>,
    pub valid: bool,
    /// Wall time of the attempt (generation, check and fit).
    pub time: Duration,
}

/// A distinct fitted program.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub program: String,
    /// Its canonical text (the cache key).
    pub canonical: String,
    pub assessment: Assessment,
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
    BetaReached,
    RmaxReached,
    TimeBudget,
    /// The budget ran out with no valid program.
    NoValidProgram,
    /// The proposal model failed (e.g. its server stayed unreachable through its retries); the
    /// last attempt's generation says why.
    ModelError,
}

impl RefineStop {
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
    pub attempts: Vec<Attempt>,
    pub candidates: Vec<Candidate>,
    /// The chosen candidate.
    pub best: Option<usize>,
    pub stop: RefineStop,
    /// Sum over all attempts.
    pub tokens: TokenCounts,
    /// Fits run (= candidates).
    pub fits: usize,
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

/// Whether `expr` mentions one of `names` outside index brackets.
fn mentions(expr: &Expr, names: &HashSet<String>) -> bool {
    match &expr.kind {
        ExprKind::Var(id) => names.contains(&id.name),
        ExprKind::Binary { lhs, rhs, .. } => mentions(lhs, names) || mentions(rhs, names),
        ExprKind::Unary { expr, .. } | ExprKind::Transpose(expr) | ExprKind::Paren(expr) => {
            mentions(expr, names)
        }
        ExprKind::Ternary {
            cond,
            then,
            otherwise,
        } => mentions(cond, names) || mentions(then, names) || mentions(otherwise, names),
        ExprKind::Call { args, .. }
        | ExprKind::CondCall { args, .. }
        | ExprKind::ArrayLit(args)
        | ExprKind::RowVectorLit(args) => args.iter().any(|a| mentions(a, names)),
        // `y[i]` is about `y`; a multi-index `theta[group]` is about `theta`.
        ExprKind::Index { expr, .. } => mentions(expr, names),
        _ => false,
    }
}

const DENSITY_SUFFIXES: [&str; 4] = ["_lpdf", "_lpmf", "_lupdf", "_lupmf"];

/// Whether a model statement is (or contains) a statement on observed data: a `~` whose left
/// side mentions a data variable, or a `target +=` of a density whose first argument does.
fn is_likelihood(stmt: &Stmt, data_names: &HashSet<String>) -> bool {
    match &stmt.kind {
        StmtKind::Tilde { lhs, .. } => mentions(lhs, data_names),
        StmtKind::TargetPlus(expr) => target_on_data(expr, data_names),
        StmtKind::For { body, .. }
        | StmtKind::ForEach { body, .. }
        | StmtKind::While { body, .. } => is_likelihood(body, data_names),
        StmtKind::If {
            then, otherwise, ..
        } => {
            is_likelihood(then, data_names)
                || otherwise
                    .as_deref()
                    .is_some_and(|o| is_likelihood(o, data_names))
        }
        StmtKind::Block(stmts) => stmts.iter().any(|s| is_likelihood(s, data_names)),
        _ => false,
    }
}

fn target_on_data(expr: &Expr, data_names: &HashSet<String>) -> bool {
    match &expr.kind {
        ExprKind::Call { name, args } | ExprKind::CondCall { name, args }
            if DENSITY_SUFFIXES.iter().any(|s| name.name.ends_with(s)) =>
        {
            args.first().is_some_and(|a| mentions(a, data_names))
        }
        ExprKind::Binary { lhs, rhs, .. } => {
            target_on_data(lhs, data_names) || target_on_data(rhs, data_names)
        }
        ExprKind::Paren(e) | ExprKind::Unary { expr: e, .. } => target_on_data(e, data_names),
        ExprKind::Call { args, .. } => args.iter().any(|a| target_on_data(a, data_names)),
        _ => false,
    }
}

/// Where the likelihood part L of `program` starts: the byte offset of the first model-block
/// statement on observed data: a `~` whose left side (outside index brackets) mentions a variable
/// of the `data` block, or a `target +=` of an `_lpdf`/`_lpmf`/`_lupdf`/`_lupmf` call whose first
/// argument does; a loop, `if` or block containing one counts as a whole. `program[..offset]` is D || P, what a likelihood
/// resample keeps. `None` when the program does not parse or has no such statement.
///
/// Everything from that statement on is regenerated, including prior statements written after
/// it (the built-in model writes every prior before the likelihood, so it never does).
pub fn likelihood_start(program: &str) -> Option<usize> {
    let parsed = parse(program);
    if !parsed.errors.is_empty() {
        return None;
    }
    let data_names: HashSet<String> = parsed
        .program
        .block(BlockKind::Data)
        .map(|b| {
            b.stmts
                .iter()
                .filter_map(|s| match &s.kind {
                    StmtKind::Decl { name, .. } => Some(name.name.clone()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let model = parsed.program.block(BlockKind::Model)?;
    let first = model.stmts.iter().find(|s| is_likelihood(s, &data_names))?;
    // The kept part ends with the statement's indentation: tokenizers (the built-in model's
    // included) make a newline with its indentation one token, so cutting inside it would hand
    // the model a token it never writes.
    Some((first.span.start as usize).min(program.len()))
}

fn add_tokens(total: &mut TokenCounts, t: &TokenCounts) {
    total.prompt += t.prompt;
    total.sampled += t.sampled;
    total.accepted += t.accepted;
    total.rejected += t.rejected;
    total.scanned += t.scanned;
}

/// The index of the best candidate among `valid` ones under `select`.
fn select_best(candidates: &[Candidate], select: Selection) -> Option<usize> {
    let elpd = |c: &Candidate| c.assessment.elpd_loo.unwrap_or(f64::NEG_INFINITY);
    let mut best: Option<usize> = None;
    for (i, c) in candidates.iter().enumerate().filter(|(_, c)| c.valid) {
        let better = match best.map(|b| &candidates[b]) {
            None => true,
            Some(b) => match select {
                Selection::Elpd => elpd(c) > elpd(b),
                Selection::ScoreThenElpd => {
                    (c.assessment.score, elpd(c)) > (b.assessment.score, elpd(b))
                }
            },
        };
        if better {
            best = Some(i);
        }
    }
    best
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
    let mut valid_count = 0;

    let stop = loop {
        if valid_count >= config.beta.max(1) {
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
        let (kind, generation) = match kept_prior.as_deref() {
            Some(prefix) if likelihood_resamples < config.alpha => {
                let g = writer.write_after(&d, prefix, data, &config.decode, &mut rng);
                (AttemptKind::Likelihood, g)
            }
            _ => {
                kept_prior = None;
                let g = writer.write(&d, data, &config.decode, &mut rng);
                (AttemptKind::Full, g)
            }
        };
        add_tokens(&mut tokens, &generation.tokens);
        let program = generation.program;
        let violations = if generation.stop.is_program() {
            check(&program, Some(data))
        } else {
            Vec::new()
        };
        let fit_ready = generation.stop.is_program() && violations.is_empty();
        let mut candidate = None;
        let mut cached = false;
        if fit_ready {
            let parsed = parse(&program);
            let key = canonical(&parsed.program);
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
            }
        }
        let (score, elpd_loo, valid) = candidate.map_or((0, None, false), |i| {
            let c = &candidates[i];
            (c.assessment.score, c.assessment.elpd_loo, c.valid)
        });
        // A cached valid program is not a new valid program.
        if valid && !cached {
            valid_count += 1;
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
