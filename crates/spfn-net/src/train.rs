//! Training: the train split streamed from a corpus's shards, AdamW with linear warm-up and
//! cosine decay, validation loss on the validation split, checkpoints that a later run resumes,
//! and the loss curve as CSV.
//!
//! **Stream.** Epoch `e` visits the shards in an order shuffled by `(seed, e)` and each shard's
//! train records in an order shuffled by `(seed, e, shard)`; step `s` takes the next `batch`
//! examples. A resumed run skips the examples the checkpoint's steps consumed, so it continues
//! the same stream.
//!
//! **Determinism.** Initial weights, the stream and the optimizer depend on the seed only: the
//! same corpus, flags and seed give the same `loss.csv` and weights on one machine.
//!
//! **Model directory.** `config.json` (architecture), `vocab.json` (lexemes), `model.safetensors`
//! (weights), `loss.csv` (`step,lr,train_loss,val_loss`), `loss.svg` (the same as a plot),
//! `checkpoint-STEP.safetensors` (weights and AdamW moments of the last checkpoint) and
//! `state.json` (the step reached, the run's settings, and CRC-32s of the two tensor files).
//! Every file is written to `NAME.tmp` and renamed. A checkpoint writes its
//! `checkpoint-STEP.safetensors`, the loss curve, then `state.json` (which names the step), then
//! `model.safetensors`, and only then removes the previous checkpoint file: a run killed at any
//! point resumes from a whole checkpoint.

use crate::features::{dataset_features, VarFeatures};
use crate::net::{preset, Net, NetConfig};
use crate::vocab::{generated_part, ProgramVocab};
use crate::{io_err, NetError};
use candle_core::{Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use refinestat_language::Data;
use refinestat_spfn::corpus::shard_files;
use refinestat_spfn::shard::{self, Record};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// Settings of a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimizer steps in all.
    pub steps: u64,
    /// Examples per step.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Seed of the initial weights and the stream.
    pub seed: u64,
    /// Linear warm-up steps (default: a tenth of the steps, at most 200).
    pub warmup: u64,
    /// AdamW weight decay (on matrices only).
    pub weight_decay: f64,
    /// Gradient norm clip.
    pub clip: f64,
    /// Steps between checkpoints (and validation).
    pub checkpoint_every: u64,
    /// Validation examples (the first of the validation split, in shard order).
    pub validation_examples: usize,
    /// Program tokens kept per example (longer ones are cut).
    pub max_tokens: usize,
    /// Named size of the network ([`preset`]).
    pub size: String,
    /// Lexemes seen fewer times in the train split are unknown.
    pub min_count: usize,
    /// Fixed vocabulary size at most.
    pub max_vocab: usize,
    /// Whether the targets keep whitespace runs as lexemes (the first models); otherwise they
    /// are left out and [`crate::layout`] puts them back when the network writes.
    #[serde(default = "yes")]
    pub whitespace: bool,
    /// Batches per length bucket: the stream's next `bucket * batch` examples are sorted by
    /// program length, cut into `bucket` batches, and these are taken in a seeded order (1: no
    /// bucketing, the first models).
    #[serde(default = "one")]
    pub bucket: usize,
    /// A model directory whose weights start the run (warm start): every tensor of the same
    /// name and shape, and the rows of the lexemes both vocabularies hold in the token
    /// embedding and output layer; the rest starts from the seed.
    #[serde(default)]
    pub init: Option<String>,
}

pub(crate) fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

impl TrainConfig {
    /// Defaults for `steps`, `batch`, `lr` and `seed`.
    pub fn new(steps: u64, batch: usize, lr: f64, seed: u64) -> TrainConfig {
        TrainConfig {
            steps,
            batch,
            lr,
            seed,
            warmup: (steps / 10).min(200),
            weight_decay: 0.01,
            clip: 1.0,
            checkpoint_every: 200,
            validation_examples: 256,
            max_tokens: 384,
            size: "small".into(),
            min_count: 2,
            max_vocab: 2000,
            whitespace: false,
            bucket: 8,
            init: None,
        }
    }

    /// Learning rate at `step` (0-based): linear warm-up, then cosine decay to a tenth.
    pub fn lr_at(&self, step: u64) -> f64 {
        if step < self.warmup {
            return self.lr * (step + 1) as f64 / self.warmup as f64;
        }
        let span = self.steps.saturating_sub(self.warmup).max(1) as f64;
        let t = ((step - self.warmup) as f64 / span).min(1.0);
        self.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * t).cos()))
    }
}

/// One training example.
#[derive(Debug, Clone)]
pub struct Example {
    /// The dataset as the encoder sees it.
    pub features: Vec<VarFeatures>,
    /// The program's ids in the decoder's index space, ending in end-of-program.
    pub target: Vec<u32>,
}

/// A record as an example: `None` when its data or program cannot be read.
pub fn example(
    record: &Record,
    vocab: &ProgramVocab,
    max_tokens: usize,
    whitespace: bool,
) -> Option<Example> {
    let data = Data::from_json_str(&record.data.to_string()).ok()?;
    let names: Vec<String> = data.vars.keys().cloned().collect();
    let text = generated_part(&record.program)?;
    let mut target = vocab.encode(&text, &names, whitespace);
    target.truncate(max_tokens.max(1));
    Some(Example {
        features: dataset_features(&data),
        target,
    })
}

fn mix(seed: u64, xs: &[u64]) -> u64 {
    refinestat_spfn::simulate::mix(seed, xs)
}

/// The train split of a corpus as an endless, seeded stream of records.
pub struct Stream {
    files: Vec<PathBuf>,
    seed: u64,
    epoch: u64,
    order: Vec<usize>,
    next_file: usize,
    buffer: Vec<Record>,
    /// Corrupt shards skipped so far (one line each).
    pub warnings: Vec<String>,
}

impl Stream {
    /// The stream over `dir`'s shards.
    pub fn new(dir: &Path, seed: u64) -> Result<Stream, NetError> {
        let files = shard_files(dir).map_err(|e| NetError::Corpus(e.to_string()))?;
        if files.is_empty() {
            return Err(NetError::Corpus(format!(
                "{}: no shards (shard-*.rss); write a corpus with `refinestat spfn corpus`",
                dir.display()
            )));
        }
        Ok(Stream {
            files,
            seed,
            epoch: 0,
            order: Vec::new(),
            next_file: 0,
            buffer: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The next train record; an error when a whole epoch holds none.
    pub fn next_record(&mut self) -> Result<Record, NetError> {
        let mut empty_files = 0;
        loop {
            if let Some(r) = self.buffer.pop() {
                return Ok(r);
            }
            if self.next_file >= self.order.len() {
                if !self.order.is_empty() {
                    self.epoch += 1;
                }
                self.order = (0..self.files.len()).collect();
                let mut rng = ChaCha8Rng::seed_from_u64(mix(self.seed, &[10, self.epoch]));
                self.order.shuffle(&mut rng);
                self.next_file = 0;
            }
            let f = self.order[self.next_file];
            self.next_file += 1;
            match shard::read(&self.files[f]) {
                Ok((_, records)) => {
                    let mut train: Vec<Record> =
                        records.into_iter().filter(|r| r.split == "train").collect();
                    let mut rng =
                        ChaCha8Rng::seed_from_u64(mix(self.seed, &[11, self.epoch, f as u64]));
                    train.shuffle(&mut rng);
                    train.reverse();
                    self.buffer = train;
                }
                Err(e) => {
                    if self.epoch == 0 {
                        self.warnings.push(format!("{e}; skipped"));
                    }
                }
            }
            if self.buffer.is_empty() {
                empty_files += 1;
                if empty_files > self.files.len() {
                    return Err(NetError::Corpus(
                        "the corpus has no readable train records".into(),
                    ));
                }
            }
        }
    }
}

/// Records of one split, in shard order, at most `limit`.
pub fn split_records(dir: &Path, split: &str, limit: usize) -> Result<Vec<Record>, NetError> {
    let mut out = Vec::new();
    for path in shard_files(dir).map_err(|e| NetError::Corpus(e.to_string()))? {
        if out.len() >= limit {
            break;
        }
        if let Ok((_, records)) = shard::read(&path) {
            out.extend(records.into_iter().filter(|r| r.split == split));
        }
    }
    out.truncate(limit);
    Ok(out)
}

/// What a step reports.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// Steps done.
    pub step: u64,
    /// Steps in all.
    pub steps: u64,
    /// This step's training loss (nats per token).
    pub loss: f64,
    /// The learning rate used.
    pub lr: f64,
    /// Training examples per second over the run so far.
    pub examples_per_sec: f64,
    /// Validation loss, at checkpoints.
    pub val_loss: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainReport {
    /// The step the run resumed from (0 when fresh).
    pub resumed_from: u64,
    /// Steps reached (fewer than asked when the progress callback stopped the run).
    pub steps: u64,
    /// Scalars in the network.
    pub parameters: usize,
    /// Last training loss.
    pub final_loss: f64,
    /// Last validation loss (none without a validation split).
    pub val_loss: Option<f64>,
    /// Warnings (corrupt shards skipped), one line each.
    pub warnings: Vec<String>,
}

/// `state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Format (1).
    pub format: u32,
    /// Steps done.
    pub step: u64,
    /// The run's settings.
    pub train: TrainConfig,
    /// CRC-32 of `model.safetensors`.
    pub model_crc32: u32,
    /// CRC-32 of `checkpoint-STEP.safetensors`.
    pub checkpoint_crc32: u32,
    /// The corpus trained on.
    pub corpus: String,
}

/// Write `bytes` to `path` through `path.tmp`.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), NetError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| io_err(path, e))
}

/// Write tensors to `path` through `path.tmp`; returns the file's CRC-32.
fn write_tensors(path: &Path, map: &BTreeMap<String, Tensor>) -> Result<u32, NetError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let map: HashMap<&str, Tensor> = map.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    candle_core::safetensors::save(&map, &tmp).map_err(|e| NetError::Files {
        path: tmp.display().to_string(),
        problem: format!("cannot write: {e}"),
    })?;
    let bytes = std::fs::read(&tmp).map_err(|e| io_err(&tmp, e))?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|e| io_err(path, e))?;
    Ok(crc32fast::hash(&bytes))
}

/// Read a safetensors file (its CRC-32 checked against `crc` when given).
pub(crate) fn read_tensors(
    path: &Path,
    crc: Option<u32>,
) -> Result<HashMap<String, Tensor>, NetError> {
    let bytes = std::fs::read(path).map_err(|e| io_err(path, e))?;
    if let Some(crc) = crc {
        if crc32fast::hash(&bytes) != crc {
            return Err(NetError::Files {
                path: path.display().to_string(),
                problem: "checksum does not match state.json (corrupt or from another run)".into(),
            });
        }
    }
    candle_core::safetensors::load_buffer(&bytes, &Device::Cpu).map_err(|e| NetError::Files {
        path: path.display().to_string(),
        problem: format!("not a safetensors file: {e}"),
    })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, NetError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    serde_json::from_str(&text).map_err(|e| NetError::Files {
        path: path.display().to_string(),
        problem: format!("not valid: {e}"),
    })
}

/// `vocab.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VocabFile {
    /// Format (1).
    pub format: u32,
    /// Lexemes by id.
    pub lexemes: Vec<String>,
}

struct AdamW {
    m: BTreeMap<String, Var>,
    v: BTreeMap<String, Var>,
}

impl AdamW {
    fn new(params: &BTreeMap<String, Var>) -> candle_core::Result<AdamW> {
        let zeros = |v: &Var| Var::zeros(v.shape(), v.dtype(), &Device::Cpu);
        Ok(AdamW {
            m: params
                .iter()
                .map(|(k, v)| Ok((k.clone(), zeros(v)?)))
                .collect::<candle_core::Result<_>>()?,
            v: params
                .iter()
                .map(|(k, v)| Ok((k.clone(), zeros(v)?)))
                .collect::<candle_core::Result<_>>()?,
        })
    }

    /// One step at `t` (1-based) with learning rate `lr`; gradients scaled by `scale`.
    #[allow(clippy::too_many_arguments)]
    fn step(
        &self,
        params: &BTreeMap<String, Var>,
        grads: &candle_core::backprop::GradStore,
        t: u64,
        lr: f64,
        scale: f64,
        wd: f64,
    ) -> candle_core::Result<()> {
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let c1 = 1.0 - b1.powi(t as i32);
        let c2 = 1.0 - b2.powi(t as i32);
        for (name, p) in params {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let g = (g * scale)?;
            let m = &self.m[name];
            let v = &self.v[name];
            let m_new = ((m.as_tensor() * b1)? + (&g * (1.0 - b1))?)?;
            let v_new = ((v.as_tensor() * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let update = ((&m_new / c1)? / ((&v_new / c2)?.sqrt()? + eps)?)?;
            let decay = if p.rank() == 2 { wd } else { 0.0 };
            let next = ((p.as_tensor() * (1.0 - lr * decay))? - (update * lr)?)?;
            m.set(&m_new)?;
            v.set(&v_new)?;
            p.set(&next)?;
        }
        Ok(())
    }
}

fn batch_loss(net: &Net, examples: &[Example]) -> candle_core::Result<(Tensor, usize)> {
    let feats: Vec<&[VarFeatures]> = examples.iter().map(|e| e.features.as_slice()).collect();
    let enc = net.encode(&feats)?;
    let targets: Vec<Vec<u32>> = examples.iter().map(|e| e.target.clone()).collect();
    net.loss(&enc, &targets)
}

fn validation_loss(net: &Net, examples: &[Example], batch: usize) -> Result<f64, NetError> {
    let mut total = 0.0;
    let mut tokens = 0usize;
    for chunk in examples.chunks(batch.max(1)) {
        let (loss, n) = batch_loss(net, chunk).map_err(candle)?;
        total += f64::from(loss.to_scalar::<f32>().map_err(candle)?) * n as f64;
        tokens += n;
    }
    Ok(total / tokens.max(1) as f64)
}

fn candle(e: candle_core::Error) -> NetError {
    NetError::Candle(e.to_string())
}

/// Train (or resume) a network on `corpus` into `out`. A directory holding `state.json` is
/// resumed when its settings match `config` (the step count may grow; the warm-up stays the
/// first run's); `progress` is called
/// after every step and stops the run by returning false (what was checkpointed stays; a later
/// run resumes from it, as after a kill).
pub fn train(
    corpus: &Path,
    out: &Path,
    config: &TrainConfig,
    progress: &mut dyn FnMut(&Progress) -> bool,
) -> Result<TrainReport, NetError> {
    if config.batch == 0 || config.steps == 0 {
        return Err(NetError::Usage(
            "--steps and --batch must be at least 1".into(),
        ));
    }
    if !(config.lr > 0.0 && config.lr.is_finite()) {
        return Err(NetError::Usage("--lr must be a positive number".into()));
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let state_path = out.join("state.json");
    // A resumed run keeps its warm-up (derived from the first run's steps by default).
    let resumed_config;
    let config = if state_path.exists() {
        let state: State = read_json(&state_path)?;
        let mut c = config.clone();
        c.warmup = state.train.warmup;
        resumed_config = c;
        &resumed_config
    } else {
        config
    };
    let corpus_name = corpus.display().to_string();
    let (net_config, vocab, vars, opt, start, mut rows) = if state_path.exists() {
        let state: State = read_json(&state_path)?;
        let mut wanted = config.clone();
        wanted.steps = state.train.steps;
        wanted.warmup = state.train.warmup;
        if state.train != wanted {
            return Err(NetError::Files {
                path: state_path.display().to_string(),
                problem: "holds a run with other settings (seed, batch, lr, size, ...); \
                          use another --out or the same flags"
                    .into(),
            });
        }
        let net_config: NetConfig = read_json(&out.join("config.json"))?;
        let vocab = load_vocab(&out.join("vocab.json"), &net_config)?;
        let ckpt = out.join(format!("checkpoint-{}.safetensors", state.step));
        let tensors = read_tensors(&ckpt, Some(state.checkpoint_crc32))?;
        let to_vars = |map: &HashMap<String, Tensor>, prefix: &str, path: &Path| {
            let mut vars = BTreeMap::new();
            for (k, t) in map {
                if let Some(name) = k.strip_prefix(prefix) {
                    vars.insert(name.to_string(), Var::from_tensor(t).map_err(candle)?);
                }
            }
            if vars.is_empty() {
                return Err(NetError::Files {
                    path: path.display().to_string(),
                    problem: "holds no tensors".into(),
                });
            }
            Ok(vars)
        };
        let vars = to_vars(&tensors, "w.", &ckpt)?;
        let opt = AdamW {
            m: to_vars(&tensors, "m.", &ckpt)?,
            v: to_vars(&tensors, "v.", &ckpt)?,
        };
        let rows = read_rows(&out.join("loss.csv"), state.step)?;
        // A run killed between state.json and model.safetensors: put the weights in place.
        let weights: BTreeMap<String, Tensor> = vars
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let staged = out.join("model.safetensors.staged");
        if write_tensors(&staged, &weights)? == state.model_crc32 {
            let model = out.join("model.safetensors");
            std::fs::rename(&staged, &model).map_err(|e| io_err(&model, e))?;
        } else {
            let _ = std::fs::remove_file(&staged);
        }
        (net_config, vocab, vars, opt, state.step, rows)
    } else {
        // The vocabulary of the train split's programs.
        let mut programs: Vec<(String, Vec<String>)> = Vec::new();
        for path in shard_files(corpus).map_err(|e| NetError::Corpus(e.to_string()))? {
            let Ok((_, records)) = shard::read(&path) else {
                continue;
            };
            let mut last = None;
            for r in records.iter().filter(|r| r.split == "train") {
                if last == Some(r.program_index) {
                    continue;
                }
                last = Some(r.program_index);
                let names: Vec<String> = r
                    .data
                    .as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default();
                if let Some(text) = generated_part(&r.program) {
                    programs.push((text, names));
                }
            }
        }
        if programs.is_empty() {
            return Err(NetError::Corpus(format!(
                "{}: no readable train records",
                corpus.display()
            )));
        }
        let vocab = ProgramVocab::build(
            programs.iter().map(|(t, n)| (t.as_str(), n.as_slice())),
            config.min_count,
            config.max_vocab,
            config.whitespace,
        );
        let mut net_config = preset(&config.size, vocab.len()).ok_or_else(|| {
            NetError::Usage(format!(
                "unknown size `{}` (expected tiny, small or base)",
                config.size
            ))
        })?;
        net_config.whitespace = config.whitespace;
        write_atomic(
            &out.join("config.json"),
            (serde_json::to_string_pretty(&net_config).expect("plain values") + "\n").as_bytes(),
        )?;
        let vf = VocabFile {
            format: 1,
            lexemes: vocab.lexemes().to_vec(),
        };
        write_atomic(
            &out.join("vocab.json"),
            (serde_json::to_string_pretty(&vf).expect("plain values") + "\n").as_bytes(),
        )?;
        let (_, vars) = Net::init(&net_config, config.seed).map_err(NetError::Usage)?;
        if let Some(dir) = &config.init {
            warm_start(&vars, &vocab, Path::new(dir))?;
        }
        let opt = AdamW::new(&vars).map_err(candle)?;
        (net_config, vocab, vars, opt, 0, Vec::new())
    };
    let loaded: HashMap<String, Tensor> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    // The network reads the variables' tensors, so optimizer updates reach it.
    let net = Net::new(&net_config, crate::net::Source::Loaded(&loaded)).map_err(|p| {
        NetError::Files {
            path: out.join("model.safetensors").display().to_string(),
            problem: p,
        }
    })?;
    if net_config.whitespace != config.whitespace {
        return Err(NetError::Files {
            path: out.join("config.json").display().to_string(),
            problem: "its whitespace setting differs from the run's".into(),
        });
    }
    let whitespace = config.whitespace;
    let validation: Vec<Example> = split_records(corpus, "validation", config.validation_examples)?
        .iter()
        .filter_map(|r| example(r, &vocab, config.max_tokens, whitespace))
        .collect();
    let mut stream = Stream::new(corpus, config.seed)?;
    let bucket = config.bucket.max(1) as u64;
    // The batches of one window of `bucket` steps: the stream's next examples (unreadable
    // records keep their place as empty examples), sorted by length and taken in a seeded order.
    let window = |stream: &mut Stream, index: u64| -> Result<Vec<Vec<Example>>, NetError> {
        let mut examples = Vec::with_capacity(bucket as usize * config.batch);
        for _ in 0..bucket as usize * config.batch {
            let r = stream.next_record()?;
            examples.push(
                example(&r, &vocab, config.max_tokens, whitespace).unwrap_or(Example {
                    features: Vec::new(),
                    target: vec![crate::vocab::EOS_ID],
                }),
            );
        }
        if bucket == 1 {
            return Ok(vec![examples]);
        }
        examples.sort_by_key(|e| e.target.len());
        let mut batches: Vec<Vec<Example>> = examples
            .chunks(config.batch)
            .map(<[Example]>::to_vec)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(mix(config.seed, &[12, index]));
        batches.shuffle(&mut rng);
        batches.reverse();
        Ok(batches)
    };
    // Skip what the checkpoint's steps consumed: whole windows, then the window's first batches.
    for _ in 0..(start / bucket) * bucket * config.batch as u64 {
        stream.next_record()?;
    }
    let mut batches: Vec<Vec<Example>> = Vec::new();
    if start % bucket != 0 {
        batches = window(&mut stream, start / bucket)?;
        batches.truncate(batches.len() - (start % bucket) as usize);
    }
    let started = std::time::Instant::now();
    let mut seen = 0u64;
    let mut last_loss = f64::NAN;
    let mut last_val = rows.last().and_then(|r: &Row| r.val_loss);
    let mut reached = start;
    for step in start..config.steps {
        if batches.is_empty() {
            batches = window(&mut stream, step / bucket)?;
        }
        let batch = batches.pop().expect("a window holds `bucket` batches");
        let lr = config.lr_at(step);
        let (loss, _) = batch_loss(&net, &batch).map_err(candle)?;
        let grads = loss.backward().map_err(candle)?;
        let mut sq = 0.0f64;
        for p in vars.values() {
            if let Some(g) = grads.get(p.as_tensor()) {
                sq += f64::from(
                    g.sqr()
                        .and_then(|s| s.sum_all())
                        .and_then(|s| s.to_scalar::<f32>())
                        .map_err(candle)?,
                );
            }
        }
        let norm = sq.sqrt();
        let scale = if norm > config.clip && norm.is_finite() {
            config.clip / norm
        } else {
            1.0
        };
        opt.step(&vars, &grads, step + 1, lr, scale, config.weight_decay)
            .map_err(candle)?;
        last_loss = f64::from(loss.to_scalar::<f32>().map_err(candle)?);
        seen += config.batch as u64;
        let done = step + 1;
        let checkpoint = done % config.checkpoint_every.max(1) == 0 || done == config.steps;
        let val = if checkpoint && !validation.is_empty() {
            Some(validation_loss(&net, &validation, config.batch)?)
        } else {
            None
        };
        if val.is_some() {
            last_val = val;
        }
        rows.push(Row {
            step: done,
            lr,
            loss: last_loss,
            val_loss: val,
        });
        if checkpoint {
            save_checkpoint(out, &vars, &opt, &rows, done, config, &corpus_name)?;
        }
        reached = done;
        let go_on = progress(&Progress {
            step: done,
            steps: config.steps,
            loss: last_loss,
            lr,
            examples_per_sec: seen as f64 / started.elapsed().as_secs_f64().max(1e-9),
            val_loss: val,
        });
        if !go_on {
            break;
        }
    }
    Ok(TrainReport {
        resumed_from: start,
        steps: reached,
        parameters: crate::net::parameter_count(&vars),
        final_loss: last_loss,
        val_loss: last_val,
        warnings: stream.warnings.clone(),
    })
}

/// Copy into `vars` (a network over `vocab`) the weights of the model in `dir`: tensors of the
/// same name and shape whole, and in the token embedding and the output layer the rows of the
/// lexemes both vocabularies hold. Returns the tensors copied; none is an error naming the file.
fn warm_start(
    vars: &BTreeMap<String, Var>,
    vocab: &ProgramVocab,
    dir: &Path,
) -> Result<usize, NetError> {
    let old_config: NetConfig = read_json(&dir.join("config.json"))?;
    let old_vocab = load_vocab(&dir.join("vocab.json"), &old_config)?;
    let weights = dir.join("model.safetensors");
    let tensors = read_tensors(&weights, None)?;
    let rows: Vec<Option<usize>> = vocab
        .lexemes()
        .iter()
        .map(|l| old_vocab.id(l).map(|i| i as usize))
        .collect();
    let mut copied = 0;
    for (name, var) in vars {
        let Some(old) = tensors.get(name) else {
            continue;
        };
        let t = if old.dims() == var.dims() {
            old.clone()
        } else if matches!(name.as_str(), "tok" | "out.weight" | "out.bias")
            && old.dims().get(1..) == var.dims().get(1..)
        {
            let cur = var.as_tensor();
            let parts = rows
                .iter()
                .enumerate()
                .map(|(i, r)| match r {
                    Some(j) => old.get(*j),
                    None => cur.get(i),
                })
                .collect::<candle_core::Result<Vec<Tensor>>>()
                .map_err(candle)?;
            Tensor::stack(&parts, 0).map_err(candle)?
        } else {
            continue;
        };
        var.set(&t.to_dtype(candle_core::DType::F32).map_err(candle)?)
            .map_err(candle)?;
        copied += 1;
    }
    if copied == 0 {
        return Err(NetError::Files {
            path: weights.display().to_string(),
            problem: "no tensor fits this network (another size?)".into(),
        });
    }
    Ok(copied)
}

/// A row of `loss.csv`.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    step: u64,
    lr: f64,
    loss: f64,
    val_loss: Option<f64>,
}

fn read_rows(path: &Path, upto: u64) -> Result<Vec<Row>, NetError> {
    let text = std::fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    let bad = |line: usize| NetError::Files {
        path: path.display().to_string(),
        problem: format!("line {line} is not step,lr,train_loss,val_loss"),
    };
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 4 {
            return Err(bad(i + 1));
        }
        let row = Row {
            step: f[0].parse().map_err(|_| bad(i + 1))?,
            lr: f[1].parse().map_err(|_| bad(i + 1))?,
            loss: f[2].parse().map_err(|_| bad(i + 1))?,
            val_loss: if f[3].is_empty() {
                None
            } else {
                Some(f[3].parse().map_err(|_| bad(i + 1))?)
            },
        };
        if row.step <= upto {
            rows.push(row);
        }
    }
    Ok(rows)
}

fn save_checkpoint(
    out: &Path,
    vars: &BTreeMap<String, Var>,
    opt: &AdamW,
    rows: &[Row],
    step: u64,
    config: &TrainConfig,
    corpus: &str,
) -> Result<(), NetError> {
    let weights: BTreeMap<String, Tensor> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    let mut all = BTreeMap::new();
    for (prefix, map) in [("w", vars), ("m", &opt.m), ("v", &opt.v)] {
        for (k, v) in map {
            all.insert(format!("{prefix}.{k}"), v.as_tensor().clone());
        }
    }
    let mut csv = String::from("step,lr,train_loss,val_loss\n");
    for r in rows {
        csv.push_str(&format!(
            "{},{:e},{},{}\n",
            r.step,
            r.lr,
            r.loss,
            r.val_loss.map_or(String::new(), |v| v.to_string())
        ));
    }
    let checkpoint_crc32 =
        write_tensors(&out.join(format!("checkpoint-{step}.safetensors")), &all)?;
    // The weights file's bytes (and checksum) before it is in place: state.json names both.
    let staged = out.join("model.safetensors.staged");
    let model_crc32 = write_tensors(&staged, &weights)?;
    write_atomic(&out.join("loss.csv"), csv.as_bytes())?;
    write_atomic(&out.join("loss.svg"), loss_svg(rows).as_bytes())?;
    let state = State {
        format: 1,
        step,
        train: config.clone(),
        model_crc32,
        checkpoint_crc32,
        corpus: corpus.to_string(),
    };
    write_atomic(
        &out.join("state.json"),
        (serde_json::to_string_pretty(&state).expect("plain values") + "\n").as_bytes(),
    )?;
    let model = out.join("model.safetensors");
    std::fs::rename(&staged, &model).map_err(|e| io_err(&model, e))?;
    // Older checkpoints (and a staged file a kill left behind) go last.
    let current = format!("checkpoint-{step}.safetensors");
    for e in std::fs::read_dir(out)
        .map_err(|e| io_err(out, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("checkpoint-") && name.ends_with(".safetensors") && name != current {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// The loss curve as a self-contained SVG: training loss per step (a line) and validation loss
/// at checkpoints (dots), log scale.
fn loss_svg(rows: &[Row]) -> String {
    let (w, h, m) = (640.0, 360.0, 48.0);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| std::iter::once(r.loss).chain(r.val_loss))
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(f64::ln)
        .collect();
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() && hi > lo {
        (lo, hi)
    } else {
        (lo.min(0.0), lo.max(0.0) + 1.0)
    };
    let last = rows.last().map_or(1, |r| r.step).max(1) as f64;
    let x = |step: u64| m + (w - 2.0 * m) * step as f64 / last;
    let y = |v: f64| h - m - (h - 2.0 * m) * (v.max(1e-12).ln() - lo) / (hi - lo);
    let line: Vec<String> = rows
        .iter()
        .filter(|r| r.loss.is_finite())
        .map(|r| format!("{:.1},{:.1}", x(r.step), y(r.loss)))
        .collect();
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n\
         <text x=\"{m}\" y=\"20\">loss (nats/token, log scale): train (line), validation (dots)</text>\n\
         <text x=\"{m}\" y=\"{}\">step 0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">step {last}</text>\n\
         <text x=\"4\" y=\"{}\">{:.3}</text><text x=\"4\" y=\"{}\">{:.3}</text>\n\
         <polyline fill=\"none\" stroke=\"steelblue\" stroke-width=\"1.5\" points=\"{}\"/>\n",
        h - m + 18.0,
        w - m,
        h - m + 18.0,
        m,
        hi.exp(),
        h - m,
        lo.exp(),
        line.join(" ")
    );
    for r in rows {
        if let Some(v) = r.val_loss.filter(|v| v.is_finite()) {
            svg.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"darkorange\"/>\n",
                x(r.step),
                y(v)
            ));
        }
    }
    svg.push_str("</svg>\n");
    svg
}

/// Read `vocab.json` and check it against the configuration.
pub(crate) fn load_vocab(path: &Path, config: &NetConfig) -> Result<ProgramVocab, NetError> {
    let vf: VocabFile = read_json(path)?;
    let bad = |problem: String| NetError::Files {
        path: path.display().to_string(),
        problem,
    };
    if vf.lexemes.len() != config.vocab {
        return Err(bad(format!(
            "holds {} lexemes, config.json says {}",
            vf.lexemes.len(),
            config.vocab
        )));
    }
    ProgramVocab::from_lexemes(vf.lexemes).map_err(bad)
}
