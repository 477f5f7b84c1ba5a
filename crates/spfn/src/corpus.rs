//! The corpus run: plan programs from the meta-prior, simulate K datasets each, write shards, a
//! manifest and a split file; and the stats of a corpus directory.
//!
//! **Determinism.** Program `i` is drawn from the meta-prior with a generator seeded by
//! `mix(seed, [0, i])` (retrying with `[0, i, r]` while its canonical form repeats an earlier
//! program, at most [`DEDUP_TRIES`] times); dataset slot `k` of program `i`, attempt `a`, uses the
//! seed `mix(program_seed, [2, k, a])`, stored in the record. Units (blocks of
//! `programs_per_shard` programs) run in parallel but each writes its own shard, so the bytes do
//! not depend on `--jobs`.
//!
//! **Resume.** `DIR/config.json` pins the run's parameters; a later run with the same parameters
//! skips every unit whose shard exists and verifies, deletes leftover `*.tmp` files (a unit killed
//! mid-write), moves a corrupt shard aside to `NAME.corrupt` with a warning, and writes what is
//! missing. Nothing is written twice.
//!
//! **Shards.** `RunOptions::shard` `(i, n)` runs only the units `u` with `u % n == i`, so `n`
//! processes (a Slurm job array) can fill one directory at once: a sharded run removes only its
//! own units' leftovers and writes no manifest; [`merge`] (or a run without a shard) writes it
//! once every unit is there.
//!
//! **Splits** (`DIR/split.json`, from a [`SplitConfig`]): a record is `heldout-family` when its
//! family is held out, else `heldout-range` when its noise scale (the `noise` label's parameter)
//! exceeds the configured bound, else `validation` / `test` / `train` by a hash of its canonical
//! program (whole programs are held out, not single datasets).

use crate::augment::{self, Candidate};
use crate::shard::{self, ProgramSummary, Record, UnitSummary};
use crate::simulate::{self, mix, Rejections};
use crate::source::{HumanCorpus, ProgramSource};
use crate::SpfnError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use refinestat_language::ast::Program;
use refinestat_language::{canonical, parse, Data, DataValue};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Draws per program before a repeated canonical form is accepted.
pub const DEDUP_TRIES: u64 = 32;

/// The split configuration (`crates/spfn/corpus/split.json` is the default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitConfig {
    /// Families never seen in training.
    pub heldout_families: Vec<String>,
    /// Records whose noise-scale draw is above this are held out (`heldout-range`).
    pub heldout_noise_above: f64,
    /// Fraction of the programs not held out that go to `validation` (whole programs, by a hash
    /// of the canonical text).
    pub validation: f64,
    /// Fraction of the programs not held out that go to `test`; the rest go to `train`.
    pub test: f64,
}

impl SplitConfig {
    /// The default configuration shipped with the crate.
    pub fn default_config() -> SplitConfig {
        serde_json::from_str(include_str!("../corpus/split.json")).expect("valid split.json")
    }
}

/// The share of the family library's programs in the default meta-prior; `spfn corpus
/// --family-share` sets another.
pub const DEFAULT_FAMILY_SHARE: f64 = 0.3;

/// The share of two-component mixtures ([`crate::source::Mixtures`]) in the default meta-prior;
/// `spfn corpus --mixture-share` sets another.
pub const DEFAULT_MIXTURE_SHARE: f64 = 0.1;

/// The meta-prior: weighted sources and augmentation settings.
pub struct MetaPrior {
    /// The program sources with their weights (relative: a draw picks a source with probability
    /// its weight over the total).
    pub sources: Vec<(Box<dyn ProgramSource>, f64)>,
    /// Probability that a drawn program is augmented.
    pub augment_prob: f64,
    /// Most augmentations chained on one program.
    pub max_augment: usize,
}

impl MetaPrior {
    /// The human corpus, the family library and mixtures, at [`DEFAULT_FAMILY_SHARE`] and
    /// [`DEFAULT_MIXTURE_SHARE`].
    pub fn default_prior() -> Result<MetaPrior, SpfnError> {
        MetaPrior::with_shares(DEFAULT_FAMILY_SHARE, DEFAULT_MIXTURE_SHARE)
    }

    /// The family library (weight `family`, see [`crate::library`]), two-component mixtures
    /// (weight `mixture`, [`crate::source::Mixtures`]) and the human corpus (the rest); a source
    /// of weight 0 is left out. Each draw picks its source by weight, so a share is the expected
    /// fraction of draws from that source, and of planned programs up to deduplication (a
    /// repeated program is drawn again from a fresh pick, and the human corpus repeats most).
    /// With both shares 0 the meta-prior is the human corpus alone, draw for draw.
    pub fn with_shares(family: f64, mixture: f64) -> Result<MetaPrior, SpfnError> {
        for (what, share) in [("family library", family), ("mixtures", mixture)] {
            if !(0.0..=1.0).contains(&share) {
                return Err(SpfnError::Corpus(format!(
                    "the share of the {what} in the meta-prior must be in [0, 1], not {share}"
                )));
            }
        }
        if family + mixture > 1.0 {
            return Err(SpfnError::Corpus(format!(
                "the shares of the family library ({family}) and mixtures ({mixture}) add up \
                 to more than 1"
            )));
        }
        let human = 1.0 - family - mixture;
        let mut sources: Vec<(Box<dyn ProgramSource>, f64)> = Vec::new();
        if human > 0.0 {
            sources.push((Box::new(HumanCorpus::embedded()?), human));
        }
        if family > 0.0 {
            sources.push((Box::new(crate::library::FamilyLibrary::default()), family));
        }
        if mixture > 0.0 {
            sources.push((Box::new(crate::source::Mixtures::embedded()?), mixture));
        }
        Ok(MetaPrior {
            sources,
            augment_prob: 0.6,
            max_augment: 2,
        })
    }

    /// Each source's share of draws, by name (what a corpus's `config.json` pins).
    pub fn source_shares(&self) -> BTreeMap<String, f64> {
        let total: f64 = self.sources.iter().map(|s| s.1).sum();
        let mut out = BTreeMap::new();
        for (src, w) in &self.sources {
            *out.entry(src.name().to_string()).or_default() += w / total.max(f64::MIN_POSITIVE);
        }
        out
    }

    /// Draw one candidate: a source by weight, a program from it, then 0..=max_augment
    /// augmentations (each tried in random order until one applies).
    pub fn draw(&self, rng: &mut ChaCha8Rng) -> Option<(String, String, Candidate)> {
        let total: f64 = self.sources.iter().map(|s| s.1).sum();
        let mut u = rng.random_range(0.0..total);
        let src = self
            .sources
            .iter()
            .find(|(_, w)| {
                let hit = u < *w;
                u -= w;
                hit
            })
            .unwrap_or(self.sources.last()?);
        let sp = src.0.sample(rng)?;
        let mut cand = sp.candidate();
        let mut origin = src.0.name().to_string();
        if rng.random_bool(self.augment_prob) {
            let n = rng.random_range(1..=self.max_augment.max(1));
            for _ in 0..n {
                let mut order: Vec<usize> = (0..augment::AUGMENTATIONS.len()).collect();
                rand::seq::SliceRandom::shuffle(&mut order[..], rng);
                for i in order {
                    if let Some(c) = augment::apply(augment::AUGMENTATIONS[i].0, &cand, rng) {
                        cand = c;
                        origin = format!("{}+augmented", src.0.name());
                        break;
                    }
                }
            }
        }
        Some((sp.id, origin, cand))
    }
}

/// One planned program, in canonical form.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The program's number in the plan (`0..n`): its seed stream and its records'
    /// `program_index`. A number whose every draw failed is missing, so numbers may skip.
    pub index: u64,
    /// The source's id of the drawn program (`human/<file stem>`, `family/<family>`,
    /// `mixture/<families>`), kept through augmentations.
    pub id: String,
    /// The canonical program (the same as `candidate.program`).
    pub program: Program,
    /// The canonical program with its schema and labels (including `source`).
    pub candidate: Candidate,
}

/// Canonicalise a candidate: canonical text, re-parsed, labels recomputed on it.
pub fn canonicalise(c: &Candidate) -> Candidate {
    let text = canonical(&c.program);
    let program = parse(&text).program;
    let mut labels = c.labels.clone();
    labels.remove("noise");
    labels.extend(crate::analyze::structural_labels(&program));
    Candidate {
        program,
        schema: c.schema.clone(),
        labels,
    }
}

/// Plan programs `0..n` (deterministic in `seed`). Returns the programs and the number of
/// repeats accepted after [`DEDUP_TRIES`].
pub fn plan(prior: &MetaPrior, n: u64, seed: u64) -> (Vec<Planned>, u64) {
    use rayon::prelude::*;
    // Every try `(i, r)` is a pure function of its seed, so tries are drawn in parallel: first
    // tries a batch at a time, a repeat's retries a few at a time (as many as there are threads;
    // some may go unused). Deduplication walks them in order, so the plan does not depend on
    // the number of threads.
    const BATCH: u64 = 1024;
    let attempt = |i: u64, r: u64| {
        let mut rng = ChaCha8Rng::seed_from_u64(mix(seed, &[0, i, r]));
        let (id, origin, cand) = prior.draw(&mut rng)?;
        let mut cand = canonicalise(&cand);
        cand.labels.insert("source".into(), origin);
        let text = refinestat_language::print_program(&cand.program);
        Some((id, cand, text))
    };
    let width = rayon::current_num_threads().max(1) as u64;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(n as usize);
    let mut repeats = 0;
    let mut start = 0;
    while start < n {
        let end = (start + BATCH).min(n);
        let first: Vec<_> = (start..end)
            .into_par_iter()
            .map(|i| attempt(i, 0))
            .collect();
        for (i, first) in (start..end).zip(first) {
            // The tries of program `i` drawn but not yet walked, in order.
            let mut tries = std::collections::VecDeque::from([first]);
            for r in 0..DEDUP_TRIES {
                if tries.is_empty() {
                    let upto = (r + width).min(DEDUP_TRIES);
                    let more: Vec<_> = (r..upto).into_par_iter().map(|r| attempt(i, r)).collect();
                    tries.extend(more);
                }
                let Some((id, cand, text)) = tries.pop_front().flatten() else {
                    continue;
                };
                let fresh = !seen.contains(&text);
                if fresh || r + 1 == DEDUP_TRIES {
                    if !fresh {
                        repeats += 1;
                    }
                    seen.insert(text);
                    out.push(Planned {
                        index: i,
                        id,
                        program: cand.program.clone(),
                        candidate: cand,
                    });
                    break;
                }
            }
        }
        start = end;
    }
    (out, repeats)
}

/// Parameters of a corpus run (what `config.json` pins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusConfig {
    /// Version of the corpus format ([`CorpusConfig::new`] writes 1).
    pub format: u32,
    /// Programs to plan from the meta-prior (fewer when draws fail).
    pub programs: u64,
    /// Dataset slots per program (K); a slot whose every attempt is rejected stays empty.
    pub datasets_per_program: u64,
    /// The run's seed: every program's and dataset's seed is mixed from it.
    pub seed: u64,
    /// Programs per work unit, that is per shard file ([`CorpusConfig::new`] keeps it in 1 to
    /// 4096).
    pub programs_per_shard: u64,
    /// How records are assigned to splits.
    pub split: SplitConfig,
    /// Each source's share of the meta-prior's draws ([`MetaPrior::source_shares`]), filled in by
    /// [`run`] and [`merge`] from the prior they are given, so a directory is resumed only with
    /// the meta-prior that began it (empty in corpora made before the family library joined).
    #[serde(default)]
    pub sources: BTreeMap<String, f64>,
}

impl CorpusConfig {
    /// A run's parameters; `programs_per_shard` defaults to about 1024 pairs per shard.
    pub fn new(
        programs: u64,
        k: u64,
        seed: u64,
        programs_per_shard: Option<u64>,
        split: SplitConfig,
    ) -> CorpusConfig {
        CorpusConfig {
            format: 1,
            programs,
            datasets_per_program: k,
            seed,
            programs_per_shard: programs_per_shard.unwrap_or(1024 / k.max(1)).clamp(1, 4096),
            split,
            sources: BTreeMap::new(),
        }
    }

    /// This configuration with `prior`'s source shares.
    pub fn for_prior(&self, prior: &MetaPrior) -> CorpusConfig {
        CorpusConfig {
            sources: prior.source_shares(),
            ..self.clone()
        }
    }
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct CorpusReport {
    /// Units this run is responsible for (all, or those of its shard).
    pub units_total: u64,
    /// Units simulated and written by this run.
    pub units_written: u64,
    /// Units whose shard was already there and verified (a resumed run).
    pub units_skipped: u64,
    /// Pairs in the shards this run wrote (skipped units not counted).
    pub records_written: u64,
    /// Size of the shard files this run wrote, in bytes.
    pub bytes_written: u64,
    /// Corrupt shards found and rewritten, and other warnings, one line each.
    pub warnings: Vec<String>,
}

fn shard_path(dir: &Path, unit: u64) -> PathBuf {
    dir.join(format!("shard-{unit:06}.rss"))
}

fn stan_value(v: &DataValue) -> serde_json::Value {
    fn num(x: f64, int: bool) -> serde_json::Value {
        if int && x.abs() < 9.0e15 {
            serde_json::Value::from(x as i64)
        } else if x.is_finite() {
            serde_json::Value::from(x)
        } else {
            serde_json::Value::from(if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "inf"
            } else {
                "-inf"
            })
        }
    }
    fn nest(dims: &[usize], vals: &[f64], int: bool) -> serde_json::Value {
        match dims {
            [] => num(vals[0], int),
            [n, rest @ ..] => {
                let step: usize = rest.iter().product();
                serde_json::Value::Array(
                    (0..*n)
                        .map(|i| nest(rest, &vals[i * step..(i + 1) * step], int))
                        .collect(),
                )
            }
        }
    }
    nest(&v.dims, &v.values, v.all_int)
}

/// Stan JSON object of a data set (ints as ints, reals round-tripping exactly).
pub fn data_json(d: &Data) -> serde_json::Value {
    serde_json::Value::Object(
        d.vars
            .iter()
            .map(|(k, v)| (k.clone(), stan_value(v)))
            .collect(),
    )
}

fn split_of(cfg: &SplitConfig, cand: &Candidate, params: &Data, program_text: &str) -> String {
    // A mixture is held out with either of its components' families.
    let family = cand.labels.get("family").map(String::as_str).unwrap_or("");
    let parts = cand
        .labels
        .get("mixture_families")
        .map(String::as_str)
        .unwrap_or("");
    if cfg
        .heldout_families
        .iter()
        .any(|f| f == family || parts.split('+').any(|p| p == f))
    {
        return "heldout-family".into();
    }
    if let Some(noise) = cand.labels.get("noise") {
        if params
            .get(noise)
            .and_then(DataValue::as_scalar)
            .is_some_and(|s| s > cfg.heldout_noise_above)
        {
            return "heldout-range".into();
        }
    }
    let h = program_text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let u = (mix(h, &[3]) >> 11) as f64 / (1u64 << 53) as f64;
    if u < cfg.validation {
        "validation".into()
    } else if u < cfg.validation + cfg.test {
        "test".into()
    } else {
        "train".into()
    }
}

/// Simulate one planned program: narrowing pilot, then `k` dataset slots.
pub fn simulate_program(
    p: &Planned,
    cfg: &CorpusConfig,
    rejections: &mut Rejections,
) -> (ProgramSummary, Vec<Record>) {
    let pseed = mix(cfg.seed, &[1, p.index]);
    let mut program = p.program.clone();
    let mut cand = p.candidate.clone();
    let narrowed = simulate::narrow_until_usable(&mut program, &cand.schema, pseed, rejections);
    let mut summary = ProgramSummary {
        index: p.index,
        id: p.id.clone(),
        family: cand.labels.get("family").cloned().unwrap_or_default(),
        narrowed: narrowed.unwrap_or(simulate::MAX_NARROWING),
        dropped: narrowed.is_none(),
        records: 0,
    };
    let Some(narrowed) = narrowed else {
        *rejections.entry("mostly_rejected".into()).or_default() += 1;
        return (summary, vec![]);
    };
    if narrowed > 0 {
        cand.program = program;
        cand = canonicalise(&cand);
        program = cand.program.clone();
        cand.labels.insert("narrowed".into(), narrowed.to_string());
    }
    let text = refinestat_language::print_program(&program);
    let tokens = crate::analyze::tokens(&text);
    let responses: Vec<String> = cand
        .schema
        .responses()
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut records = Vec::new();
    for k in 0..cfg.datasets_per_program {
        let mut got = None;
        for a in 0..simulate::ATTEMPTS {
            let seed = mix(pseed, &[2, k, a]);
            match simulate::draw_dataset(&program, &cand.schema, seed) {
                Ok(ds) => {
                    got = Some((seed, ds));
                    break;
                }
                Err(r) => *rejections.entry(r.name().into()).or_default() += 1,
            }
        }
        let Some((seed, ds)) = got else {
            *rejections.entry("exhausted".into()).or_default() += 1;
            continue;
        };
        let rows = responses
            .first()
            .and_then(|r| ds.data.get(r))
            .map_or(1, |v| v.dims.first().copied().unwrap_or(1)) as u64;
        records.push(Record {
            program: text.clone(),
            tokens: tokens.clone(),
            data: data_json(&ds.data),
            params: data_json(&ds.params),
            labels: cand.labels.clone(),
            schema: cand.schema.clone(),
            rows,
            program_index: p.index,
            dataset_index: k,
            seed,
            split: split_of(&cfg.split, &cand, &ds.params, &text),
        });
    }
    summary.records = records.len() as u64;
    (summary, records)
}

/// Redraw a record's dataset from its program, schema and seed (for the bit-for-bit check).
pub fn reproduce(r: &Record) -> Result<(serde_json::Value, serde_json::Value), SpfnError> {
    let parsed = parse(&r.program);
    if !parsed.errors.is_empty() {
        return Err(SpfnError::Corpus("stored program does not parse".into()));
    }
    let ds = simulate::draw_dataset(&parsed.program, &r.schema, r.seed)
        .map_err(|e| SpfnError::Corpus(format!("redraw rejected: {}", e.name())))?;
    Ok((data_json(&ds.data), data_json(&ds.params)))
}

/// What [`reproduce_all`] found.
#[derive(Debug, Clone, Default)]
pub struct ReproduceReport {
    /// Pairs redrawn.
    pub checked: u64,
    /// Pairs whose redraw differs or fails, one line each (shard, record, seed, what differs).
    pub mismatches: Vec<String>,
    /// Corrupt shards, not checked.
    pub skipped: Vec<String>,
}

/// Redraw every stored pair of `dir` from its program, schema and seed ([`reproduce`]) and
/// compare the JSON text of its data and parameter draw with what is stored; shards in
/// parallel on `jobs` threads.
pub fn reproduce_all(dir: &Path, jobs: usize) -> Result<ReproduceReport, SpfnError> {
    use rayon::prelude::*;
    let files = shard_files(dir)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| SpfnError::Io(format!("thread pool: {e}")))?;
    let per_shard: Vec<Result<(u64, Vec<String>), String>> = pool.install(|| {
        files
            .par_iter()
            .map(|path| {
                let (_, records) = shard::read(path).map_err(|e| e.to_string())?;
                let mut bad = Vec::new();
                for (i, r) in records.iter().enumerate() {
                    let what = match reproduce(r) {
                        Err(e) => Some(e.to_string()),
                        Ok((data, params)) => {
                            let same = |a: &serde_json::Value, b: &serde_json::Value| {
                                serde_json::to_string(a).ok() == serde_json::to_string(b).ok()
                            };
                            match (same(&data, &r.data), same(&params, &r.params)) {
                                (true, true) => None,
                                (false, _) => Some("the data differ".to_string()),
                                (true, false) => Some("the parameter draw differs".to_string()),
                            }
                        }
                    };
                    if let Some(what) = what {
                        bad.push(format!(
                            "{}: record {} (program {}, dataset {}, seed {}): {what}",
                            path.display(),
                            i + 1,
                            r.program_index,
                            r.dataset_index,
                            r.seed
                        ));
                    }
                }
                Ok((records.len() as u64, bad))
            })
            .collect()
    });
    let mut report = ReproduceReport::default();
    for r in per_shard {
        match r {
            Ok((n, bad)) => {
                report.checked += n;
                report.mismatches.extend(bad);
            }
            Err(e) => report.skipped.push(e),
        }
    }
    Ok(report)
}

/// Options of one run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The corpus directory (created when missing).
    pub out: PathBuf,
    /// Worker threads for planning and simulation (at least 1); the bytes written do not
    /// depend on it.
    pub jobs: usize,
    /// `(i, n)`: only units `u` with `u % n == i`.
    pub shard: Option<(u64, u64)>,
}

/// Run (or resume) a corpus. `progress` is called with the number of pairs each finished unit
/// wrote (and skipped units' record counts).
pub fn run(
    prior: &MetaPrior,
    cfg: &CorpusConfig,
    opts: &RunOptions,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<CorpusReport, SpfnError> {
    use rayon::prelude::*;
    let io = |what: &str, e: std::io::Error| SpfnError::Io(format!("{what}: {e}"));
    std::fs::create_dir_all(&opts.out).map_err(|e| io(&opts.out.display().to_string(), e))?;
    let cfg = &cfg.for_prior(prior);
    pin_config(cfg, &opts.out)?;
    let owned = |u: u64| opts.shard.is_none_or(|(i, n)| u % n == i);
    // Leftovers of a unit killed mid-write (a sharded run touches only its own units': the
    // other shards may be writing theirs).
    for e in std::fs::read_dir(&opts.out)
        .map_err(|e| io(&opts.out.display().to_string(), e))?
        .flatten()
    {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "tmp") {
            continue;
        }
        let unit = path
            .file_stem()
            .and_then(|s| s.to_str()?.strip_prefix("shard-")?.parse::<u64>().ok());
        if opts.shard.is_none() || unit.is_some_and(owned) {
            let _ = std::fs::remove_file(&path);
        }
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| SpfnError::Io(format!("thread pool: {e}")))?;
    let (planned, repeats) = pool.install(|| plan(prior, cfg.programs, cfg.seed));
    let per = cfg.programs_per_shard.max(1) as usize;
    let units: Vec<(u64, &[Planned])> = planned
        .chunks(per)
        .enumerate()
        .map(|(u, c)| (u as u64, c))
        .filter(|(u, _)| owned(*u))
        .collect();
    let mut report = CorpusReport {
        units_total: units.len() as u64,
        ..CorpusReport::default()
    };
    let mut todo = Vec::new();
    for (u, progs) in &units {
        let path = shard_path(&opts.out, *u);
        if path.exists() {
            match shard::verify(&path) {
                Ok(s) => {
                    report.units_skipped += 1;
                    progress(s.records);
                    continue;
                }
                Err(e) => {
                    let aside = path.with_extension("rss.corrupt");
                    report.warnings.push(format!(
                        "{e}; moved to {} and written again",
                        aside.display()
                    ));
                    std::fs::rename(&path, &aside)
                        .map_err(|e| io(&path.display().to_string(), e))?;
                }
            }
        }
        todo.push((*u, *progs));
    }
    let results: Vec<Result<(u64, u64), SpfnError>> = pool.install(|| {
        todo.par_iter()
            .map(|(u, progs)| {
                let mut summary = UnitSummary {
                    unit: *u,
                    ..UnitSummary::default()
                };
                let mut records = Vec::new();
                for p in progs.iter() {
                    let (ps, rs) = simulate_program(p, cfg, &mut summary.rejections);
                    summary.programs.push(ps);
                    records.extend(rs);
                }
                summary.records = records.len() as u64;
                let path = shard_path(&opts.out, *u);
                let bytes = shard::write(&path, &summary, &records)
                    .map_err(|e| io(&path.display().to_string(), e))?;
                progress(summary.records);
                Ok((summary.records, bytes))
            })
            .collect()
    });
    for r in results {
        let (n, b) = r?;
        report.units_written += 1;
        report.records_written += n;
        report.bytes_written += b;
    }
    if opts.shard.is_none() {
        write_manifest(&opts.out, cfg, repeats, &mut report.warnings)?;
    }
    Ok(report)
}

/// Creates `dir` and writes `cfg` as its config.json, or checks the one there (another
/// config is an error).
pub fn pin_config(cfg: &CorpusConfig, dir: &Path) -> Result<(), SpfnError> {
    let io = |what: &Path, e: std::io::Error| SpfnError::Io(format!("{}: {e}", what.display()));
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    if check_config(dir, cfg)? {
        return Ok(());
    }
    // Through a file of this process's own and a rename: shards may start at once.
    let cfg_path = dir.join("config.json");
    let text = serde_json::to_string_pretty(cfg).expect("plain values") + "\n";
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    std::fs::write(&tmp, text)
        .and_then(|_| std::fs::rename(&tmp, &cfg_path))
        .map_err(|e| io(&cfg_path, e))
}

/// Whether `dir` holds `cfg`'s config.json (`false`: none yet); another config is an error.
fn check_config(dir: &Path, cfg: &CorpusConfig) -> Result<bool, SpfnError> {
    let cfg_path = dir.join("config.json");
    if !cfg_path.exists() {
        return Ok(false);
    }
    let text = std::fs::read_to_string(&cfg_path)
        .map_err(|e| SpfnError::Io(format!("{}: {e}", cfg_path.display())))?;
    let old: CorpusConfig = serde_json::from_str(&text).map_err(|e| {
        SpfnError::Corpus(format!(
            "{} is not a corpus config: {e}",
            cfg_path.display()
        ))
    })?;
    if &old != cfg {
        return Err(SpfnError::Corpus(format!(
            "{} holds a corpus made with other parameters ({}); use another --out",
            dir.display(),
            cfg_path.display()
        )));
    }
    Ok(true)
}

/// The units a corpus of `cfg` has at most (`programs_per_shard` programs each; fewer when
/// programs cannot be drawn).
pub fn max_units(cfg: &CorpusConfig) -> u64 {
    cfg.programs.div_ceil(cfg.programs_per_shard.max(1))
}

/// What [`merge`] found.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    /// Units the corpus has (from its plan).
    pub units_total: u64,
    /// Units whose shard is missing or does not verify (the manifest leaves them out).
    pub missing: Vec<u64>,
    /// Corrupt shards the manifest skipped, one line each.
    pub warnings: Vec<String>,
}

/// After sharded runs: writes the manifest and split file of `dir` (a corpus of `cfg`) from the
/// shards present, and names the units still missing. Writes no shard.
pub fn merge(
    prior: &MetaPrior,
    cfg: &CorpusConfig,
    dir: &Path,
    jobs: usize,
) -> Result<MergeReport, SpfnError> {
    let cfg = &cfg.for_prior(prior);
    if !check_config(dir, cfg)? {
        return Err(SpfnError::Corpus(format!(
            "{} holds no corpus (no config.json); run the corpus or its shards first",
            dir.display()
        )));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.max(1))
        .build()
        .map_err(|e| SpfnError::Io(format!("thread pool: {e}")))?;
    let (planned, repeats) = pool.install(|| plan(prior, cfg.programs, cfg.seed));
    let units = planned
        .len()
        .div_ceil(cfg.programs_per_shard.max(1) as usize) as u64;
    let mut report = MergeReport {
        units_total: units,
        ..MergeReport::default()
    };
    for u in 0..units {
        if shard::verify(&shard_path(dir, u)).is_err() {
            report.missing.push(u);
        }
    }
    write_manifest(dir, cfg, repeats, &mut report.warnings)?;
    Ok(report)
}

/// Shard files of a directory, sorted.
pub fn shard_files(dir: &Path) -> Result<Vec<PathBuf>, SpfnError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SpfnError::Io(format!("{}: {e}", dir.display())))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "rss"))
        .collect();
    v.sort();
    Ok(v)
}

#[derive(Debug, Serialize)]
struct ManifestShard {
    file: String,
    unit: u64,
    records: u64,
    bytes: u64,
}

/// `manifest.json` (shards, totals, rejections, dropped programs) and `split.json` (the split
/// configuration with record counts per split), from the shards present.
fn write_manifest(
    dir: &Path,
    cfg: &CorpusConfig,
    repeats: u64,
    warnings: &mut Vec<String>,
) -> Result<(), SpfnError> {
    let mut shards = Vec::new();
    let mut rejections = Rejections::new();
    let mut dropped = Vec::new();
    let mut total = 0;
    for path in shard_files(dir)? {
        match shard::verify(&path) {
            Ok(s) => {
                total += s.records;
                for (k, v) in &s.rejections {
                    *rejections.entry(k.clone()).or_default() += v;
                }
                dropped.extend(
                    s.programs
                        .iter()
                        .filter(|p| p.dropped)
                        .map(|p| p.id.clone()),
                );
                shards.push(ManifestShard {
                    file: path
                        .file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .into(),
                    unit: s.unit,
                    records: s.records,
                    bytes: std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0),
                });
            }
            Err(e) => warnings.push(format!("{e}; skipped")),
        }
    }
    let manifest = serde_json::json!({
        "config": cfg,
        "records": total,
        "shards": shards,
        "rejections": rejections,
        "dropped_programs": dropped,
        "repeated_programs": repeats,
        "record_fields": ["program", "tokens", "data", "params", "labels", "schema", "rows",
                          "program_index", "dataset_index", "seed", "split"],
    });
    let write = |name: &str, v: &serde_json::Value| -> Result<(), SpfnError> {
        let path = dir.join(name);
        let tmp = dir.join(format!("{name}.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(v).expect("plain values") + "\n",
        )
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| SpfnError::Io(format!("{}: {e}", path.display())))
    };
    write("manifest.json", &manifest)?;
    write(
        "split.json",
        &serde_json::json!({"config": cfg.split, "rule": "heldout-family by the family label; \
          heldout-range when the noise parameter's draw exceeds heldout_noise_above; else \
          validation/test/train by a hash of the canonical program"}),
    )?;
    Ok(())
}

/// Counts over a corpus directory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Shard files read (corrupt ones are in `skipped` instead).
    pub shards: u64,
    /// Pairs in those shards.
    pub records: u64,
    /// Distinct programs (by program index) with at least one pair.
    pub programs: u64,
    /// Total size of the shard files read, in bytes.
    pub bytes: u64,
    /// Pairs by `family` label (an empty key when a record has none).
    pub by_family: BTreeMap<String, u64>,
    /// By the `source` label: `human`, `family` (the family library), `mixture`, each with
    /// `+augmented` when augmentations were applied.
    pub by_source: BTreeMap<String, u64>,
    /// Pairs by `key=value` of every other label (all but `family` and `noise`).
    pub by_label: BTreeMap<String, u64>,
    /// Pairs by rows, in buckets `001-025`, `026-050`, `051-100`, `101-200`, `201+`.
    pub by_rows: BTreeMap<String, u64>,
    /// Pairs by split (`train`, `validation`, `test`, `heldout-family`, `heldout-range`).
    pub by_split: BTreeMap<String, u64>,
    /// Rejected draws by reason, summed over the shards' unit summaries.
    pub rejections: BTreeMap<String, u64>,
    /// Programs dropped as mostly rejected after narrowing (they have no pairs).
    pub dropped_programs: u64,
    /// Corrupt shards, one message each (not counted).
    pub skipped: Vec<String>,
}

impl Stats {
    /// The human-readable table `spfn stats` prints.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{} shards, {} pairs, {} programs ({} dropped as mostly rejected), {:.0} bytes/pair\n",
            self.shards,
            self.records,
            self.programs,
            self.dropped_programs,
            self.bytes as f64 / self.records.max(1) as f64
        );
        let sections = [
            ("by family", &self.by_family),
            ("by source", &self.by_source),
            ("by split", &self.by_split),
            ("by rows", &self.by_rows),
            ("by label", &self.by_label),
            ("rejected draws by reason", &self.rejections),
        ];
        for (title, m) in sections {
            out.push_str(&format!("\n{title}\n"));
            for (k, v) in m {
                out.push_str(&format!("  {k:<48} {v:>10}\n"));
            }
        }
        out
    }
}

fn rows_bucket(n: u64) -> &'static str {
    match n {
        0..=25 => "001-025",
        26..=50 => "026-050",
        51..=100 => "051-100",
        101..=200 => "101-200",
        _ => "201+",
    }
}

/// Read every shard of `dir` (corrupt ones are listed in `skipped`, not counted).
pub fn stats(dir: &Path) -> Result<Stats, SpfnError> {
    let mut st = Stats::default();
    let mut programs = HashSet::new();
    for path in shard_files(dir)? {
        match shard::read(&path) {
            Ok((summary, records)) => {
                st.shards += 1;
                st.bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                for (k, v) in &summary.rejections {
                    *st.rejections.entry(k.clone()).or_default() += v;
                }
                st.dropped_programs += summary.programs.iter().filter(|p| p.dropped).count() as u64;
                for r in &records {
                    st.records += 1;
                    programs.insert(r.program_index);
                    let fam = r.labels.get("family").cloned().unwrap_or_default();
                    *st.by_family.entry(fam).or_default() += 1;
                    let source = r.labels.get("source").cloned().unwrap_or_default();
                    *st.by_source.entry(source).or_default() += 1;
                    for (k, v) in &r.labels {
                        if matches!(k.as_str(), "family" | "noise") {
                            continue;
                        }
                        *st.by_label.entry(format!("{k}={v}")).or_default() += 1;
                    }
                    *st.by_rows.entry(rows_bucket(r.rows).into()).or_default() += 1;
                    *st.by_split.entry(r.split.clone()).or_default() += 1;
                }
            }
            Err(e) => st.skipped.push(e.to_string()),
        }
    }
    st.programs = programs.len() as u64;
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixture_is_held_out_with_either_components_family() {
        let program = parse(
            "data { int N; vector[N] y; } parameters { real mu; } \
             model { mu ~ normal(0, 1); y ~ normal(mu, 1); }",
        )
        .program;
        let cfg = SplitConfig {
            heldout_families: vec!["growth_curve".into()],
            heldout_noise_above: 1e300,
            validation: 0.0,
            test: 0.0,
        };
        let split = |labels: &[(&str, &str)]| {
            let cand = Candidate {
                program: program.clone(),
                schema: crate::schema::Schema::default(),
                labels: labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            };
            split_of(&cfg, &cand, &Data::default(), "text")
        };
        assert_eq!(split(&[("family", "growth_curve")]), "heldout-family");
        assert_eq!(split(&[("family", "linear_regression")]), "train");
        assert_eq!(
            split(&[
                ("family", "mixture"),
                ("mixture_families", "linear_regression+growth_curve")
            ]),
            "heldout-family"
        );
        assert_eq!(
            split(&[
                ("family", "mixture"),
                ("mixture_families", "linear_regression+time_series")
            ]),
            "train"
        );
    }
}
