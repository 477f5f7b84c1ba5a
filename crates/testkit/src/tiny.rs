//! Small random-weight models in the formats `local:PATH` reads, for tests, benchmarks and
//! examples that need a real transformer but no downloaded weights.
//!
//! [`write_tiny_model`] writes a Hugging Face directory (byte-level BPE `tokenizer.json` trained
//! on Stan text, `config.json`, `model.safetensors`) for the Llama, Qwen2 or Gemma family;
//! [`write_tiny_gguf`] writes a quantized Llama or Qwen2 `.gguf` with its `tokenizer.json`; the
//! GGUF also holds the tokenizer in llama.cpp's metadata, so llama.cpp's server serves it as is.
//! Everything is a function of the seed. Weight names and shapes come from building the candle
//! model itself against a backend that invents (and records) each tensor it is asked for, so
//! they always match what the loader expects.
//!
//! [`random_qwen2`] with [`qwen2_0_5b_config`] builds a Qwen2-0.5B-sized network in memory and
//! [`measure_forward_cost`] times its per-token forward pass, for estimating what a real local
//! model costs the decoder.

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{DType, Device, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};
use candle_transformers::models::{gemma, llama, qwen2};
use rand::{Rng, SeedableRng};
use refinestat_local::{compute_device, compute_dtype, files_error, tokenizer_size, LocalModel};
use refinestat_proposal::{ProposalError, ProposalModel, TokenId};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// The repository's example Stan programs.
pub const EXAMPLE_PROGRAMS: [&str; 8] = [
    include_str!("../../../examples/dugongs.stan"),
    include_str!("../../../examples/eight_schools_centered.stan"),
    include_str!("../../../examples/eight_schools_noncentered.stan"),
    include_str!("../../../examples/glm.stan"),
    include_str!("../../../examples/gp.stan"),
    include_str!("../../../examples/gp_poisson.stan"),
    include_str!("../../../examples/logistic.stan"),
    include_str!("../../../examples/surgical.stan"),
];

/// Special tokens of the tiny tokenizer; the first ends a sequence.
pub const TINY_SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

/// Target vocabulary size of the tiny tokenizer (the trainer stops earlier when the corpus runs
/// out of pairs).
pub const TINY_VOCAB: usize = 600;

/// Stan text for training the tiny tokenizer: the example programs, the instruction, and the
/// data blocks of the shipped datasets.
pub fn stan_corpus() -> Vec<String> {
    let mut corpus: Vec<String> = EXAMPLE_PROGRAMS.iter().map(|p| p.to_string()).collect();
    corpus.push(refinestat_synthesis::instruction(None));
    for name in refinestat_synthesis::datasets::DATASET_NAMES {
        if let Some(data) = refinestat_synthesis::datasets::dataset(name) {
            corpus.push(refinestat_synthesis::data_block(&data));
        }
    }
    corpus
}

/// A byte-level BPE tokenizer trained on `corpus` (deterministic: the trainer breaks ties by
/// pair, not by hash order). Every byte is a token, so any text round-trips.
pub fn train_tokenizer(corpus: &[String], vocab_size: usize) -> Result<Tokenizer, ProposalError> {
    let alphabet = ByteLevel::alphabet().into_iter().collect();
    let trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(
            TINY_SPECIAL_TOKENS
                .iter()
                .map(|t| AddedToken::from(t.to_string(), true))
                .collect(),
        )
        .initial_alphabet(alphabet)
        .build();
    let mut trainer = TrainerWrapper::from(trainer);
    let mut tokenizer = Tokenizer::new(BPE::default());
    // No prefix space: the decoder's texts concatenate exactly.
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::new(false, true, true)));
    tokenizer
        .train(&mut trainer, corpus.iter())
        .map_err(|e| ProposalError::Backend(format!("training the tiny tokenizer failed: {e}")))?;
    Ok(tokenizer)
}

/// The tiny tokenizer: [`train_tokenizer`] on [`stan_corpus`] with [`TINY_VOCAB`].
pub fn tiny_tokenizer() -> Result<Tokenizer, ProposalError> {
    train_tokenizer(&stan_corpus(), TINY_VOCAB)
}

/// A model family the tiny writers produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyFamily {
    /// A Llama network.
    Llama,
    /// A Qwen2 network.
    Qwen2,
    /// A Gemma network.
    Gemma,
}

impl TinyFamily {
    /// Every family.
    pub const ALL: [TinyFamily; 3] = [TinyFamily::Llama, TinyFamily::Qwen2, TinyFamily::Gemma];

    /// The family's name (as the `tiny_model` example takes it).
    pub fn as_str(self) -> &'static str {
        match self {
            TinyFamily::Llama => "llama",
            TinyFamily::Qwen2 => "qwen2",
            TinyFamily::Gemma => "gemma",
        }
    }
}

/// Sizes of the tiny models: hidden 64, 2 layers, 4 heads (2 key/value heads), MLP 128.
const HIDDEN: usize = 64;
const LAYERS: usize = 2;
const HEADS: usize = 4;
const KV_HEADS: usize = 2;
const INTERMEDIATE: usize = 128;
const POSITIONS: usize = 4096;

/// The output layer has more rows than the tokenizer has tokens (as in real checkpoints, which
/// pad to a multiple of 64 or more); those ids must never get mass.
fn padded_vocab(tokenizer: &Tokenizer) -> usize {
    tokenizer_size(tokenizer).div_ceil(64) * 64 + 64
}

/// The `config.json` of a tiny model of `family` with `vocab_size` output rows.
pub fn tiny_config(family: TinyFamily, vocab_size: usize) -> serde_json::Value {
    let eos = 0;
    match family {
        TinyFamily::Llama => serde_json::json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "hidden_size": HIDDEN,
            "intermediate_size": INTERMEDIATE,
            "vocab_size": vocab_size,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "num_key_value_heads": KV_HEADS,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "max_position_embeddings": POSITIONS,
            "tie_word_embeddings": false,
            "eos_token_id": eos,
        }),
        TinyFamily::Qwen2 => serde_json::json!({
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": HIDDEN,
            "intermediate_size": INTERMEDIATE,
            "vocab_size": vocab_size,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": HEADS,
            "num_key_value_heads": KV_HEADS,
            "max_position_embeddings": POSITIONS,
            "sliding_window": POSITIONS,
            "max_window_layers": LAYERS,
            "use_sliding_window": false,
            "tie_word_embeddings": true,
            "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6,
            "hidden_act": "silu",
            "eos_token_id": eos,
        }),
        TinyFamily::Gemma => serde_json::json!({
            "architectures": ["GemmaForCausalLM"],
            "model_type": "gemma",
            "attention_bias": false,
            "head_dim": HIDDEN / HEADS,
            "hidden_activation": "gelu_pytorch_tanh",
            "hidden_size": HIDDEN,
            "intermediate_size": INTERMEDIATE,
            "num_attention_heads": HEADS,
            "num_hidden_layers": LAYERS,
            "num_key_value_heads": KV_HEADS,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10000.0,
            "vocab_size": vocab_size,
            "max_position_embeddings": POSITIONS,
            "eos_token_id": eos,
        }),
    }
}

/// FNV-1a, a stable hash (std's hasher may change between releases) for per-tensor seeds.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A deterministic tensor for weight `name`: norm scales keep their constant initialisation,
/// everything else is uniform with variance 1/fan_in so activations keep their scale and the
/// logits are neither flat nor one-hot.
fn random_tensor(seed: u64, name: &str, shape: &Shape, init: Init) -> candle_core::Result<Tensor> {
    if let Init::Const(c) = init {
        if name.contains("norm") {
            return Tensor::full(c as f32, shape, &Device::Cpu);
        }
    }
    let fan_in = shape.dims().last().copied().unwrap_or(1).max(1);
    let bound = (3.0 / fan_in as f32).sqrt();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ stable_hash(name));
    let values: Vec<f32> = (0..shape.elem_count())
        .map(|_| rng.random_range(-bound..bound))
        .collect();
    Tensor::from_vec(values, shape, &Device::Cpu)
}

struct RandomInner {
    seed: u64,
    record: Option<Mutex<Vec<(String, Tensor)>>>,
}

/// A weights backend that invents every tensor it is asked for, optionally keeping a copy.
#[derive(Clone)]
struct RandomWeights(Arc<RandomInner>);

impl RandomWeights {
    fn new(seed: u64, record: bool) -> RandomWeights {
        RandomWeights(Arc::new(RandomInner {
            seed,
            record: record.then(|| Mutex::new(Vec::new())),
        }))
    }

    fn recorded(&self) -> HashMap<String, Tensor> {
        self.0
            .record
            .as_ref()
            .and_then(|r| r.lock().ok().map(|v| v.iter().cloned().collect()))
            .unwrap_or_default()
    }
}

impl SimpleBackend for RandomWeights {
    fn get(
        &self,
        s: Shape,
        name: &str,
        h: Init,
        dtype: DType,
        dev: &Device,
    ) -> candle_core::Result<Tensor> {
        let tensor = random_tensor(self.0.seed, name, &s, h)?;
        if let Some(record) = &self.0.record {
            if let Ok(mut record) = record.lock() {
                record.push((name.to_string(), tensor.clone()));
            }
        }
        tensor.to_dtype(dtype)?.to_device(dev)
    }

    fn get_unchecked(&self, name: &str, _: DType, _: &Device) -> candle_core::Result<Tensor> {
        candle_core::bail!("random weights need a shape for `{name}`")
    }

    /// Nothing is stored, so optional tensors (Qwen2's `lm_head`) are left out and tied.
    fn contains_tensor(&self, _name: &str) -> bool {
        false
    }
}

fn backend_error(e: candle_core::Error) -> ProposalError {
    ProposalError::Backend(format!("building random weights failed: {e}"))
}

fn write_file(path: &Path, text: &str) -> Result<(), ProposalError> {
    std::fs::write(path, text).map_err(|e| files_error(path, format!("cannot write: {e}")))
}

fn save_tokenizer(tokenizer: &Tokenizer, path: &Path) -> Result<(), ProposalError> {
    tokenizer
        .save(path, true)
        .map_err(|e| files_error(path, format!("cannot write: {e}")))
}

/// Writes a tiny random model of `family` into `dir` (created if needed): `tokenizer.json`,
/// `config.json` and `model.safetensors`, all determined by `seed`.
pub fn write_tiny_model(dir: &Path, family: TinyFamily, seed: u64) -> Result<(), ProposalError> {
    let tokenizer = tiny_tokenizer()?;
    write_tiny_model_with(dir, family, seed, &tokenizer)
}

/// [`write_tiny_model`] with an already trained tokenizer (tests write several models).
pub fn write_tiny_model_with(
    dir: &Path,
    family: TinyFamily,
    seed: u64,
    tokenizer: &Tokenizer,
) -> Result<(), ProposalError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| files_error(dir, format!("cannot create the directory: {e}")))?;
    save_tokenizer(tokenizer, &dir.join("tokenizer.json"))?;
    let vocab_size = padded_vocab(tokenizer);
    let config = tiny_config(family, vocab_size);
    let config_text = serde_json::to_string_pretty(&config).unwrap_or_default();
    write_file(&dir.join("config.json"), &config_text)?;

    let weights = RandomWeights::new(seed, true);
    let vb = VarBuilder::from_backend(Box::new(weights.clone()), DType::F32, Device::Cpu);
    let invalid = |e: serde_json::Error| ProposalError::Backend(format!("tiny config: {e}"));
    match family {
        TinyFamily::Llama => {
            let cfg: llama::LlamaConfig = serde_json::from_value(config).map_err(invalid)?;
            llama::Llama::load(vb, &cfg.into_config(false)).map_err(backend_error)?;
        }
        TinyFamily::Qwen2 => {
            let cfg: qwen2::Config = serde_json::from_value(config).map_err(invalid)?;
            qwen2::ModelForCausalLM::new(&cfg, vb).map_err(backend_error)?;
        }
        TinyFamily::Gemma => {
            let cfg: gemma::Config = serde_json::from_value(config).map_err(invalid)?;
            gemma::Model::new(false, &cfg, vb).map_err(backend_error)?;
        }
    }
    let path = dir.join("model.safetensors");
    candle_core::safetensors::save(&weights.recorded(), &path)
        .map_err(|e| files_error(&path, format!("cannot write: {e}")))
}

/// Writes a tiny quantized model (`family` Llama or Qwen2; Gemma is refused) to `path`, with
/// `tokenizer.json` beside it. Matrices are Q8_0, norms and biases f32. The file carries the
/// tokenizer too (`tokenizer.ggml.*`, see `llama_cpp_tokenizer_metadata`), so llama.cpp's server
/// loads it on its own (`scripts/llama_server/`).
pub fn write_tiny_gguf(path: &Path, family: TinyFamily, seed: u64) -> Result<(), ProposalError> {
    write_tiny_gguf_with(path, family, seed, &tiny_tokenizer()?)
}

/// [`write_tiny_gguf`] with an already trained tokenizer.
pub fn write_tiny_gguf_with(
    path: &Path,
    family: TinyFamily,
    seed: u64,
    tokenizer: &Tokenizer,
) -> Result<(), ProposalError> {
    let arch = match family {
        TinyFamily::Llama => "llama",
        TinyFamily::Qwen2 => "qwen2",
        TinyFamily::Gemma => {
            return Err(ProposalError::Backend(
                "the GGUF loaders cover llama and qwen2 only".to_string(),
            ))
        }
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| files_error(dir, format!("cannot create the directory: {e}")))?;
    save_tokenizer(tokenizer, &dir.join("tokenizer.json"))?;
    let vocab = padded_vocab(tokenizer);
    let head_dim = HIDDEN / HEADS;
    let kv = KV_HEADS * head_dim;

    let mut specs: Vec<(String, Vec<usize>)> = vec![
        ("token_embd.weight".into(), vec![vocab, HIDDEN]),
        ("output_norm.weight".into(), vec![HIDDEN]),
    ];
    if family == TinyFamily::Llama {
        specs.push(("output.weight".into(), vec![vocab, HIDDEN]));
    }
    for layer in 0..LAYERS {
        let p = format!("blk.{layer}");
        specs.push((format!("{p}.attn_norm.weight"), vec![HIDDEN]));
        specs.push((format!("{p}.attn_q.weight"), vec![HIDDEN, HIDDEN]));
        specs.push((format!("{p}.attn_k.weight"), vec![kv, HIDDEN]));
        specs.push((format!("{p}.attn_v.weight"), vec![kv, HIDDEN]));
        specs.push((format!("{p}.attn_output.weight"), vec![HIDDEN, HIDDEN]));
        if family == TinyFamily::Qwen2 {
            specs.push((format!("{p}.attn_q.bias"), vec![HIDDEN]));
            specs.push((format!("{p}.attn_k.bias"), vec![kv]));
            specs.push((format!("{p}.attn_v.bias"), vec![kv]));
        }
        specs.push((format!("{p}.ffn_norm.weight"), vec![HIDDEN]));
        specs.push((format!("{p}.ffn_gate.weight"), vec![INTERMEDIATE, HIDDEN]));
        specs.push((format!("{p}.ffn_up.weight"), vec![INTERMEDIATE, HIDDEN]));
        specs.push((format!("{p}.ffn_down.weight"), vec![HIDDEN, INTERMEDIATE]));
    }
    let mut tensors = Vec::with_capacity(specs.len());
    for (name, dims) in &specs {
        let shape = Shape::from(dims.clone());
        let (init, dtype) = if name.contains("norm") {
            (Init::Const(1.0), GgmlDType::F32)
        } else if dims.len() == 1 {
            (
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
                GgmlDType::F32,
            )
        } else {
            (
                Init::Randn {
                    mean: 0.0,
                    stdev: 1.0,
                },
                GgmlDType::Q8_0,
            )
        };
        let tensor = random_tensor(seed, name, &shape, init).map_err(backend_error)?;
        let quantized = QTensor::quantize(&tensor, dtype).map_err(backend_error)?;
        tensors.push((name.clone(), quantized));
    }

    use gguf_file::Value;
    let key = |k: &str| format!("{arch}.{k}");
    let mut metadata: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (key("attention.head_count"), Value::U32(HEADS as u32)),
        (key("attention.head_count_kv"), Value::U32(KV_HEADS as u32)),
        (key("block_count"), Value::U32(LAYERS as u32)),
        (key("embedding_length"), Value::U32(HIDDEN as u32)),
        (key("feed_forward_length"), Value::U32(INTERMEDIATE as u32)),
        (key("context_length"), Value::U32(POSITIONS as u32)),
        (key("rope.dimension_count"), Value::U32(head_dim as u32)),
        (key("rope.freq_base"), Value::F32(10000.0)),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-6)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(0)),
    ];
    metadata.extend(llama_cpp_tokenizer_metadata(tokenizer, vocab)?);
    let metadata_refs: Vec<(&str, &Value)> =
        metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let file = std::fs::File::create(path)
        .map_err(|e| files_error(path, format!("cannot create: {e}")))?;
    let mut writer = std::io::BufWriter::new(file);
    gguf_file::write(&mut writer, &metadata_refs, &tensor_refs)
        .map_err(|e| files_error(path, format!("cannot write GGUF: {e}")))?;
    std::io::Write::flush(&mut writer).map_err(|e| files_error(path, format!("cannot write: {e}")))
}

/// The tokenizer as llama.cpp reads it from a GGUF file (`tokenizer.ggml.*`): a byte-level BPE
/// (`gpt2`) vocabulary of `vocab` entries with its merges, GPT-2's pre-tokenizer, the special
/// tokens as control tokens, and `[PADn]` entries (unused) for the output rows past the
/// tokenizer's last id. With it the same file serves `local:PATH` (which reads
/// `tokenizer.json`) and llama.cpp's server (which reads only the GGUF).
fn llama_cpp_tokenizer_metadata(
    tokenizer: &Tokenizer,
    vocab: usize,
) -> Result<Vec<(String, gguf_file::Value)>, ProposalError> {
    use gguf_file::Value;
    let invalid = |what: &str| {
        ProposalError::Backend(format!("the tiny tokenizer's JSON has no usable {what}"))
    };
    let json: serde_json::Value = serde_json::from_str(
        &tokenizer
            .to_string(false)
            .map_err(|e| ProposalError::Backend(format!("serializing the tokenizer: {e}")))?,
    )
    .map_err(|e| ProposalError::Backend(format!("reading the tokenizer's JSON: {e}")))?;
    let model = &json["model"];
    let ids = model["vocab"]
        .as_object()
        .ok_or_else(|| invalid("model.vocab"))?;
    let mut tokens: Vec<Option<String>> = vec![None; vocab];
    for (text, id) in ids {
        let id = id
            .as_u64()
            .map(|id| id as usize)
            .filter(|&id| id < vocab)
            .ok_or_else(|| invalid("token id"))?;
        tokens[id] = Some(text.clone());
    }
    // Merges are "a b" strings in older tokenizer files and [a, b] pairs in newer ones.
    let merges = model["merges"]
        .as_array()
        .ok_or_else(|| invalid("model.merges"))?
        .iter()
        .map(|m| match m {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(pair) => match pair.as_slice() {
                [a, b] => Some(format!("{} {}", a.as_str()?, b.as_str()?)),
                _ => None,
            },
            _ => None,
        })
        .collect::<Option<Vec<String>>>()
        .ok_or_else(|| invalid("merge"))?;
    let special: Vec<u32> = TINY_SPECIAL_TOKENS
        .iter()
        .filter_map(|t| tokenizer.token_to_id(t))
        .collect();
    // Token types as llama.cpp numbers them: 1 normal, 3 control, 5 unused.
    let (texts, types): (Vec<Value>, Vec<Value>) = tokens
        .into_iter()
        .enumerate()
        .map(|(id, text)| match text {
            Some(text) if special.contains(&(id as u32)) => (Value::String(text), Value::I32(3)),
            Some(text) => (Value::String(text), Value::I32(1)),
            None => (Value::String(format!("[PAD{id}]")), Value::I32(5)),
        })
        .unzip();
    let eos = tokenizer
        .token_to_id(TINY_SPECIAL_TOKENS[0])
        .ok_or_else(|| invalid("end-of-text token"))?;
    Ok(vec![
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("gpt-2".into())),
        ("tokenizer.ggml.tokens".into(), Value::Array(texts)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(merges.into_iter().map(Value::String).collect()),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(eos)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(false)),
        ("tokenizer.ggml.add_eos_token".into(), Value::Bool(false)),
    ])
}

/// The shape of Qwen2-0.5B (Qwen2.5-0.5B): hidden 896, 24 layers, 14 heads with 2 key/value
/// heads, MLP 4864, vocabulary 151936, tied embeddings.
pub fn qwen2_0_5b_config() -> qwen2::Config {
    qwen2::Config {
        vocab_size: 151_936,
        hidden_size: 896,
        intermediate_size: 4864,
        num_hidden_layers: 24,
        num_attention_heads: 14,
        num_key_value_heads: 2,
        max_position_embeddings: 32_768,
        sliding_window: 32_768,
        max_window_layers: 24,
        tie_word_embeddings: true,
        rope_theta: 1_000_000.0,
        rms_norm_eps: 1e-6,
        use_sliding_window: false,
        hidden_act: candle_nn::Activation::Silu,
    }
}

/// A Qwen2 network of shape `config` with random weights from `seed`, held in memory (f32 on
/// the CPU). Its vocabulary has placeholder texts; it is for timing, not for decoding.
pub fn random_qwen2(config: &qwen2::Config, seed: u64) -> Result<LocalModel, ProposalError> {
    let device = compute_device();
    let dtype = compute_dtype(&device);
    let weights = RandomWeights::new(seed, false);
    let vb = VarBuilder::from_backend(Box::new(weights), dtype, device.clone());
    let model = qwen2::ModelForCausalLM::new(config, vb).map_err(backend_error)?;
    Ok(LocalModel::from_qwen2(model, device, config.vocab_size))
}

/// Timing of a model's forward pass with the key/value cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ForwardCost {
    /// Tokens of context before the timed tokens.
    pub context: usize,
    /// Tokens timed one at a time.
    pub tokens: usize,
    /// Milliseconds for the whole context in one pass.
    pub prefill_ms: f64,
    /// Mean milliseconds per next-token call (one new token through the network, plus the
    /// log-softmax over the vocabulary).
    pub per_token_ms: f64,
}

/// Runs `context` random tokens through `model` in one pass, then `tokens` more one at a time
/// as the decoder does, and reports the time of each part.
pub fn measure_forward_cost(
    model: &mut LocalModel,
    context: usize,
    tokens: usize,
    seed: u64,
) -> Result<ForwardCost, ProposalError> {
    let eos = model.vocabulary().eos();
    let ids: Vec<TokenId> = (0..model.vocabulary().len() as TokenId)
        .filter(|&id| model.scores(id) && id != eos)
        .collect();
    if ids.is_empty() {
        return Err(ProposalError::Backend("the model scores no tokens".into()));
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut draw = || ids[rng.random_range(0..ids.len())];
    let prompt: Vec<TokenId> = (0..context.max(1)).map(|_| draw()).collect();
    let mut logprobs = vec![0.0; model.vocabulary().len()];
    model.clear_cache();
    let start = Instant::now();
    model.next_token_logprobs(&prompt, &[], &mut logprobs)?;
    let prefill_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut generated = Vec::with_capacity(tokens);
    let start = Instant::now();
    for _ in 0..tokens {
        generated.push(draw());
        model.next_token_logprobs(&prompt, &generated, &mut logprobs)?;
    }
    let per_token_ms = start.elapsed().as_secs_f64() * 1e3 / tokens.max(1) as f64;
    Ok(ForwardCost {
        context: prompt.len(),
        tokens,
        prefill_ms,
        per_token_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gguf_file::Value;

    /// The GGUF carries the tokenizer as llama.cpp reads it: one text and type per output row,
    /// the specials as control tokens, every real token under its tokenizer id, the merges,
    /// and the same bytes from the same seed.
    #[test]
    fn tiny_gguf_holds_the_tokenizer_as_llama_cpp_reads_it() {
        let dir = std::env::temp_dir().join(format!("refinestat-tiny-gguf-{}", std::process::id()));
        let tokenizer = tiny_tokenizer().unwrap();
        let (a, b) = (dir.join("a/model.gguf"), dir.join("b/model.gguf"));
        write_tiny_gguf_with(&a, TinyFamily::Llama, 1, &tokenizer).unwrap();
        write_tiny_gguf_with(&b, TinyFamily::Llama, 1, &tokenizer).unwrap();
        let bytes = std::fs::read(&a).unwrap();
        assert_eq!(bytes, std::fs::read(&b).unwrap(), "same seed, same bytes");

        let content = gguf_file::Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
        let meta = |k: &str| content.metadata.get(k).unwrap_or_else(|| panic!("no {k}"));
        let rows = content.tensor_infos["token_embd.weight"].shape.dims()[0];
        assert_eq!(rows, padded_vocab(&tokenizer));
        let tokens = meta("tokenizer.ggml.tokens").to_vec().unwrap();
        let types = meta("tokenizer.ggml.token_type").to_vec().unwrap();
        assert_eq!((tokens.len(), types.len()), (rows, rows));
        assert_eq!(meta("tokenizer.ggml.model").to_string().unwrap(), "gpt2");
        let size = tokenizer_size(&tokenizer);
        for (id, (text, kind)) in tokens.iter().zip(types).enumerate() {
            let (Value::String(text), Value::I32(kind)) = (text, kind) else {
                panic!("token {id} is not a string with an i32 type");
            };
            if id < size {
                assert_eq!(
                    tokenizer.token_to_id(text),
                    Some(id as u32),
                    "token {id} `{text}`"
                );
                let special = TINY_SPECIAL_TOKENS.contains(&text.as_str());
                assert_eq!(*kind, if special { 3 } else { 1 }, "type of `{text}`");
            } else {
                assert_eq!((text.as_str(), *kind), (format!("[PAD{id}]").as_str(), 5));
            }
        }
        // Every merge joins two tokens into a third one of the vocabulary.
        let merges = meta("tokenizer.ggml.merges").to_vec().unwrap();
        assert!(merges.len() > 100, "{} merges", merges.len());
        for merge in merges {
            let text = merge.to_string().unwrap();
            let (left, right) = text.split_once(' ').unwrap();
            for part in [left, right, &format!("{left}{right}")] {
                assert!(
                    tokenizer.token_to_id(part).is_some(),
                    "merge `{text}`: `{part}`"
                );
            }
        }
        assert_eq!(meta("tokenizer.ggml.eos_token_id").to_u32().unwrap(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
