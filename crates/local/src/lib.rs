//! The `local:PATH` proposal model: a causal transformer run in-process with candle (CPU, or an
//! NVIDIA GPU when built with the `cuda` feature).
//!
//! `PATH` is a Hugging Face model directory (`config.json`, `tokenizer.json`, and
//! `model.safetensors` or shards listed in `model.safetensors.index.json`) of the Llama, Qwen2 or
//! Gemma family, or a `.gguf` file of a quantized Llama or Qwen2 with `tokenizer.json` beside
//! it. Everything that can be wrong with these files is reported as
//! [`ProposalError::ModelFiles`] naming the file and the problem.
//!
//! The model conditions on the instruction (`refinestat_synthesis::instruction`) followed by the program text
//! the decoder passes as the prompt. The decoder asks for one distribution per position with a
//! growing `generated`; the key/value cache of the last run is kept, so a call that extends it
//! runs only the new tokens, and a call after a backtrack (a shorter or different sequence)
//! starts again from scratch.

//!
//! This crate is compiled into the binary only with its cargo feature (`--features local`); the
//! test kit (`refinestat-testkit`, feature `local`) writes tiny random-weight models it reads.

#![warn(missing_docs)]

mod vocab;
mod weights;

pub use vocab::tokenizer_size;

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::{gemma, llama, quantized_llama, quantized_qwen2, qwen2};
use refinestat_proposal::{ProposalError, ProposalModel, TokenId, Vocabulary};
use std::path::Path;
use std::sync::Arc;
use tokenizers::Tokenizer;

/// A [`ProposalError::ModelFiles`] about `path`.
pub fn files_error(path: &Path, problem: impl Into<String>) -> ProposalError {
    ProposalError::ModelFiles {
        path: path.display().to_string(),
        problem: problem.into(),
    }
}

/// The network family of a local model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    /// Llama (and Mistral-style) weights from safetensors.
    Llama,
    /// Qwen2 weights from safetensors.
    Qwen2,
    /// Gemma weights from safetensors.
    Gemma,
    /// Llama weights from a GGUF file.
    QuantizedLlama,
    /// Qwen2 weights from a GGUF file.
    QuantizedQwen2,
}

impl Architecture {
    /// The family's name in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Architecture::Llama => "llama",
            Architecture::Qwen2 => "qwen2",
            Architecture::Gemma => "gemma",
            Architecture::QuantizedLlama => "gguf llama",
            Architecture::QuantizedQwen2 => "gguf qwen2",
        }
    }
}

/// The candle network with its key/value cache.
pub(crate) enum Net {
    Llama {
        model: llama::Llama,
        cache: llama::Cache,
        /// An empty cache with the rotary tables already computed; cloning it is cheap.
        fresh: llama::Cache,
    },
    Qwen2(qwen2::ModelForCausalLM),
    Gemma(gemma::Model),
    QuantizedLlama(quantized_llama::ModelWeights),
    QuantizedQwen2(quantized_qwen2::ModelWeights),
}

impl Net {
    fn architecture(&self) -> Architecture {
        match self {
            Net::Llama { .. } => Architecture::Llama,
            Net::Qwen2(_) => Architecture::Qwen2,
            Net::Gemma(_) => Architecture::Gemma,
            Net::QuantizedLlama(_) => Architecture::QuantizedLlama,
            Net::QuantizedQwen2(_) => Architecture::QuantizedQwen2,
        }
    }

    /// Logits of the position after `tokens`, which continue a cached sequence of `offset`
    /// tokens.
    fn forward(
        &mut self,
        tokens: &[TokenId],
        offset: usize,
        device: &Device,
    ) -> candle_core::Result<Vec<f32>> {
        let input = Tensor::new(tokens, device)?.unsqueeze(0)?;
        let logits = match self {
            Net::Llama { model, cache, .. } => model.forward(&input, offset, cache)?,
            Net::Qwen2(model) => model.forward(&input, offset)?,
            Net::Gemma(model) => model.forward(&input, offset)?,
            Net::QuantizedLlama(model) => model.forward(&input, offset)?,
            Net::QuantizedQwen2(model) => model.forward(&input, offset)?,
        };
        logits.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()
    }

    fn clear_cache(&mut self) {
        match self {
            Net::Llama { cache, fresh, .. } => *cache = fresh.clone(),
            Net::Qwen2(model) => model.clear_kv_cache(),
            Net::Gemma(model) => model.clear_kv_cache(),
            Net::QuantizedLlama(model) => model.clear_kv_cache(),
            Net::QuantizedQwen2(model) => model.clear_kv_cache(),
        }
    }
}

/// A local transformer as a [`ProposalModel`].
pub struct LocalModel {
    net: Net,
    device: Device,
    vocabulary: Vocabulary,
    tokenizer: Option<Tokenizer>,
    /// Text the model reads before the decoder's prompt.
    instruction: String,
    /// Rows of the output layer.
    weights_vocab: usize,
    /// Ids that may get probability mass (defined by the tokenizer and scored by the weights).
    scored: Vec<bool>,
    /// End-of-sequence ids besides the vocabulary's end-of-program; their mass is added to it.
    other_ends: Vec<TokenId>,
    /// Tokens whose keys and values are in the cache, and the logits after them.
    cached: Vec<TokenId>,
    logits: Vec<f32>,
    /// Tokens run through the network so far (a measure of cache reuse).
    tokens_run: usize,
}

impl std::fmt::Debug for LocalModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalModel")
            .field("architecture", &self.architecture())
            .field("vocabulary", &self.vocabulary.len())
            .field("weights_vocab", &self.weights_vocab)
            .field("cached", &self.cached.len())
            .finish()
    }
}

/// The device models run on: the first CUDA GPU when built with `cuda` and one is present,
/// otherwise the CPU.
pub fn compute_device() -> Device {
    #[cfg(feature = "cuda")]
    {
        if let Ok(device) = Device::cuda_if_available(0) {
            return device;
        }
    }
    Device::Cpu
}

/// Full precision on the CPU (candle's CPU kernels are fastest and exact there), bf16 on a GPU.
pub fn compute_dtype(device: &Device) -> DType {
    if device.is_cuda() {
        DType::BF16
    } else {
        DType::F32
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value, ProposalError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| files_error(path, format!("cannot read: {e}")))?;
    serde_json::from_str(&text).map_err(|e| files_error(path, format!("malformed JSON: {e}")))
}

fn read_tokenizer(path: &Path) -> Result<Tokenizer, ProposalError> {
    if !path.is_file() {
        return Err(files_error(
            path,
            "missing: the model needs its tokenizer.json (Hugging Face tokenizers format)",
        ));
    }
    // Parse as JSON first so that syntax errors carry serde's line and column.
    let text = std::fs::read_to_string(path)
        .map_err(|e| files_error(path, format!("cannot read: {e}")))?;
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&text) {
        return Err(files_error(path, format!("malformed JSON: {e}")));
    }
    Tokenizer::from_bytes(text.as_bytes())
        .map_err(|e| files_error(path, format!("not a valid tokenizer: {e}")))
}

/// Sets `key` to `value` where the config leaves it out or null.
fn default_field(config: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = config.as_object_mut() {
        if map.get(key).is_none_or(serde_json::Value::is_null) {
            map.insert(key.to_string(), value);
        }
    }
}

fn usize_field(config: &serde_json::Value, key: &str) -> Option<usize> {
    config
        .get(key)
        .and_then(serde_json::Value::as_u64)
        .map(|v| v as usize)
}

/// Sizes candle would divide by or index with, checked so that a bad config is an error rather
/// than a panic.
fn check_sizes(
    path: &Path,
    hidden: usize,
    heads: usize,
    kv_heads: usize,
    vocab: usize,
    needs_divisible_hidden: bool,
) -> Result<(), ProposalError> {
    let problem = if hidden == 0 || heads == 0 || kv_heads == 0 || vocab == 0 {
        Some("hidden size, head counts and vocab_size must be positive".to_string())
    } else if !heads.is_multiple_of(kv_heads) {
        Some(format!(
            "{heads} attention heads are not a multiple of {kv_heads} key/value heads"
        ))
    } else if needs_divisible_hidden && !hidden.is_multiple_of(heads) {
        Some(format!(
            "hidden size {hidden} is not a multiple of {heads} attention heads"
        ))
    } else {
        None
    };
    match problem {
        Some(p) => Err(files_error(path, p)),
        None => Ok(()),
    }
}

/// The family named by config.json's `model_type` or `architectures`.
fn family_of(config: &serde_json::Value, path: &Path) -> Result<Architecture, ProposalError> {
    let model_type = config.get("model_type").and_then(serde_json::Value::as_str);
    let architectures: Vec<&str> = config
        .get("architectures")
        .and_then(serde_json::Value::as_array)
        .map(|a| a.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    let by_type = match model_type {
        Some("llama") => Some(Architecture::Llama),
        Some("qwen2") => Some(Architecture::Qwen2),
        Some("gemma") => Some(Architecture::Gemma),
        _ => None,
    };
    let by_arch = architectures.iter().find_map(|a| match *a {
        "LlamaForCausalLM" => Some(Architecture::Llama),
        "Qwen2ForCausalLM" => Some(Architecture::Qwen2),
        "GemmaForCausalLM" => Some(Architecture::Gemma),
        _ => None,
    });
    by_type.or(by_arch).ok_or_else(|| {
        let named = match (model_type, architectures.is_empty()) {
            (Some(t), _) => format!("model_type `{t}`"),
            (None, false) => format!("architectures {architectures:?}"),
            (None, true) => "no model_type or architectures".to_string(),
        };
        files_error(
            path,
            format!("unsupported model: {named} (supported: llama, qwen2, gemma)"),
        )
    })
}

/// The tokenizer must not define ids the weights cannot score, and every end token must be an id
/// of both.
fn check_tokenizer_fits(
    tokenizer_path: &Path,
    weights_path: &Path,
    tokenizer_size: usize,
    weights_vocab: usize,
    ends: &[TokenId],
) -> Result<(), ProposalError> {
    if tokenizer_size > weights_vocab {
        return Err(files_error(
            tokenizer_path,
            format!(
                "the tokenizer has {tokenizer_size} tokens but {} has vocab_size {weights_vocab}: \
                 this tokenizer.json does not belong to these weights",
                weights_path.display()
            ),
        ));
    }
    if let Some(&bad) = ends
        .iter()
        .find(|&&id| id as usize >= tokenizer_size.min(weights_vocab))
    {
        return Err(files_error(
            tokenizer_path,
            format!(
                "end-of-sequence id {bad} (from {}) is out of range: the tokenizer has \
                 {tokenizer_size} tokens, the weights {weights_vocab}",
                weights_path.display()
            ),
        ));
    }
    Ok(())
}

/// The model a `local:PATH` spec names, loaded now (see [`LocalModel::load`]).
pub fn from_spec(spec: &str, describe: Option<&str>) -> Result<LocalModel, ProposalError> {
    let path = spec.strip_prefix("local:").unwrap_or("");
    if path.is_empty() {
        return Err(ProposalError::InvalidSpec {
            spec: spec.to_string(),
            problem: "expected local:PATH (a model directory or a .gguf file)".into(),
        });
    }
    LocalModel::load(Path::new(path), describe)
}

impl LocalModel {
    /// Loads a model directory or a `.gguf` file; `describe` is the user's one-sentence
    /// description of the data, read as part of the instruction.
    pub fn load(path: &Path, describe: Option<&str>) -> Result<LocalModel, ProposalError> {
        if !path.exists() {
            return Err(files_error(
                path,
                "does not exist (expected a model directory or a .gguf file)",
            ));
        }
        if path.is_dir() {
            Self::load_directory(path, describe)
        } else {
            Self::load_gguf(path, describe)
        }
    }

    fn load_directory(dir: &Path, describe: Option<&str>) -> Result<LocalModel, ProposalError> {
        let config_path = dir.join("config.json");
        if !config_path.is_file() {
            return Err(files_error(
                &config_path,
                "missing: a model directory needs config.json, tokenizer.json and \
                 model.safetensors",
            ));
        }
        let mut config = read_json(&config_path)?;
        let family = family_of(&config, &config_path)?;
        let tokenizer_path = dir.join("tokenizer.json");
        let tokenizer = read_tokenizer(&tokenizer_path)?;

        let hidden = usize_field(&config, "hidden_size").unwrap_or(0);
        let heads = usize_field(&config, "num_attention_heads").unwrap_or(0);
        let kv_heads = usize_field(&config, "num_key_value_heads").unwrap_or(heads);
        let weights_vocab = usize_field(&config, "vocab_size").unwrap_or(0);
        check_sizes(
            &config_path,
            hidden,
            heads,
            kv_heads,
            weights_vocab,
            family != Architecture::Gemma,
        )?;

        let generation_path = dir.join("generation_config.json");
        let mut declared = Vec::new();
        if generation_path.is_file() {
            declared = vocab::eos_ids_in_json(&read_json(&generation_path)?);
        }
        if declared.is_empty() {
            declared = vocab::eos_ids_in_json(&config);
        }
        let ends = vocab::end_tokens(&tokenizer, declared, &tokenizer_path)?;
        let tokenizer_size = vocab::tokenizer_size(&tokenizer);
        check_tokenizer_fits(
            &tokenizer_path,
            &config_path,
            tokenizer_size,
            weights_vocab,
            &ends,
        )?;

        let files = weights::weight_files(dir)?;
        let source = if files.len() == 1 {
            files[0].clone()
        } else {
            dir.to_path_buf()
        };
        let tensors = weights::read_tensors(&files)?;
        let device = compute_device();
        let dtype = compute_dtype(&device);
        let backend = weights::SharedChecked(Arc::new(weights::CheckedBackend::new(
            tensors,
            source.clone(),
        )));
        let vb = VarBuilder::from_backend(Box::new(backend.clone()), dtype, device.clone());
        let config_problem =
            |e: serde_json::Error| files_error(&config_path, format!("invalid config: {e}"));
        let built: candle_core::Result<Net> = match family {
            Architecture::Llama => {
                let cfg: llama::LlamaConfig =
                    serde_json::from_value(config.clone()).map_err(config_problem)?;
                let cfg = cfg.into_config(false);
                Self::build_llama(vb, &cfg, dtype, &device)
            }
            Architecture::Qwen2 => {
                let layers = usize_field(&config, "num_hidden_layers").unwrap_or(0);
                let positions = usize_field(&config, "max_position_embeddings").unwrap_or(32768);
                default_field(&mut config, "sliding_window", positions.into());
                default_field(&mut config, "max_window_layers", layers.into());
                default_field(&mut config, "use_sliding_window", false.into());
                default_field(&mut config, "tie_word_embeddings", false.into());
                default_field(&mut config, "hidden_act", "silu".into());
                default_field(&mut config, "rope_theta", 10000.0.into());
                default_field(&mut config, "rms_norm_eps", 1e-6.into());
                default_field(&mut config, "num_key_value_heads", kv_heads.into());
                let cfg: qwen2::Config =
                    serde_json::from_value(config.clone()).map_err(config_problem)?;
                qwen2::ModelForCausalLM::new(&cfg, vb).map(Net::Qwen2)
            }
            Architecture::Gemma => {
                // Code Gemma configs set both; transformers reads `hidden_activation`.
                let has = |c: &serde_json::Value, k: &str| c.get(k).is_some_and(|v| !v.is_null());
                if has(&config, "hidden_act") && has(&config, "hidden_activation") {
                    if let Some(map) = config.as_object_mut() {
                        map.remove("hidden_act");
                    }
                }
                if !has(&config, "hidden_act") {
                    default_field(&mut config, "hidden_activation", "gelu_pytorch_tanh".into());
                }
                default_field(&mut config, "head_dim", (hidden / heads).into());
                default_field(&mut config, "attention_bias", false.into());
                default_field(&mut config, "rope_theta", 10000.0.into());
                default_field(&mut config, "num_key_value_heads", kv_heads.into());
                let cfg: gemma::Config =
                    serde_json::from_value(config.clone()).map_err(config_problem)?;
                gemma::Model::new(false, &cfg, vb).map(Net::Gemma)
            }
            _ => {
                return Err(files_error(
                    &config_path,
                    "quantized models load from .gguf files",
                ))
            }
        };
        if let Some(problem) = backend.first_problem() {
            return Err(problem);
        }
        let net = built.map_err(|e| {
            files_error(
                &source,
                format!("cannot build the {}: {e}", family.as_str()),
            )
        })?;
        Ok(Self::assemble(
            net,
            device,
            tokenizer,
            weights_vocab,
            ends,
            describe,
        ))
    }

    fn build_llama(
        vb: VarBuilder,
        cfg: &llama::Config,
        dtype: DType,
        device: &Device,
    ) -> candle_core::Result<Net> {
        let model = llama::Llama::load(vb, cfg)?;
        let fresh = llama::Cache::new(true, dtype, cfg, device)?;
        Ok(Net::Llama {
            model,
            cache: fresh.clone(),
            fresh,
        })
    }

    fn load_gguf(path: &Path, describe: Option<&str>) -> Result<LocalModel, ProposalError> {
        let file = std::fs::File::open(path)
            .map_err(|e| files_error(path, format!("cannot open: {e}")))?;
        let mut reader = std::io::BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| files_error(path, format!("not a GGUF file: {e}")))?;
        let arch = content
            .metadata
            .get("general.architecture")
            .and_then(|v| v.to_string().ok())
            .cloned()
            .unwrap_or_default();
        let family = match arch.as_str() {
            "llama" => Architecture::QuantizedLlama,
            "qwen2" => Architecture::QuantizedQwen2,
            "" => {
                return Err(files_error(
                    path,
                    "no general.architecture in the GGUF metadata",
                ))
            }
            other => {
                return Err(files_error(
                    path,
                    format!("unsupported GGUF architecture `{other}` (supported: llama, qwen2)"),
                ))
            }
        };
        let meta_u32 = |key: &str| -> Option<u32> {
            content
                .metadata
                .get(&format!("{arch}.{key}"))
                .and_then(|v| v.to_u32().ok())
        };
        let hidden = meta_u32("embedding_length").unwrap_or(0) as usize;
        let heads = meta_u32("attention.head_count").unwrap_or(0) as usize;
        let kv_heads = meta_u32("attention.head_count_kv").unwrap_or(0) as usize;
        let weights_vocab = content
            .tensor_infos
            .get("token_embd.weight")
            .map_or(0, |info| info.shape.dims().first().copied().unwrap_or(0));
        if weights_vocab == 0 {
            return Err(files_error(path, "tensor `token_embd.weight` is missing"));
        }
        check_sizes(path, hidden, heads, kv_heads, weights_vocab, true)?;

        let tokenizer_path = path
            .parent()
            .unwrap_or(Path::new("."))
            .join("tokenizer.json");
        let tokenizer = read_tokenizer(&tokenizer_path)?;
        let declared: Vec<TokenId> = content
            .metadata
            .get("tokenizer.ggml.eos_token_id")
            .and_then(|v| v.to_u32().ok())
            .into_iter()
            .collect();
        let ends = vocab::end_tokens(&tokenizer, declared, &tokenizer_path)?;
        let tokenizer_size = vocab::tokenizer_size(&tokenizer);
        check_tokenizer_fits(&tokenizer_path, path, tokenizer_size, weights_vocab, &ends)?;

        let device = compute_device();
        let built = match family {
            Architecture::QuantizedLlama => {
                quantized_llama::ModelWeights::from_gguf(content, &mut reader, &device)
                    .map(Net::QuantizedLlama)
            }
            _ => quantized_qwen2::ModelWeights::from_gguf(content, &mut reader, &device)
                .map(Net::QuantizedQwen2),
        };
        let net =
            built.map_err(|e| files_error(path, format!("cannot load the {arch} model: {e}")))?;
        Ok(Self::assemble(
            net,
            device,
            tokenizer,
            weights_vocab,
            ends,
            describe,
        ))
    }

    fn assemble(
        net: Net,
        device: Device,
        tokenizer: Tokenizer,
        weights_vocab: usize,
        ends: Vec<TokenId>,
        describe: Option<&str>,
    ) -> LocalModel {
        let total = weights_vocab.max(vocab::tokenizer_size(&tokenizer));
        let texts = vocab::token_texts(&tokenizer, total);
        let mut scored = texts.scored;
        scored.truncate(weights_vocab);
        scored.resize(total, false);
        let eos = ends[0];
        LocalModel {
            net,
            device,
            vocabulary: Vocabulary::new(texts.texts, eos),
            tokenizer: Some(tokenizer),
            instruction: refinestat_synthesis::instruction(describe),
            weights_vocab,
            scored,
            other_ends: ends[1..].iter().copied().filter(|&id| id != eos).collect(),
            cached: Vec::new(),
            logits: Vec::new(),
            tokens_run: 0,
        }
    }

    /// A Qwen2 network built elsewhere (random weights for timing, see the test kit), without a
    /// tokenizer: see `LocalModel::from_network`.
    pub fn from_qwen2(
        model: qwen2::ModelForCausalLM,
        device: Device,
        vocab_size: usize,
    ) -> LocalModel {
        Self::from_network(Net::Qwen2(model), device, vocab_size)
    }

    /// Whether the model may put mass on token `id` (defined by the tokenizer and scored by the
    /// weights).
    pub fn scores(&self, id: TokenId) -> bool {
        self.scored.get(id as usize).copied().unwrap_or(false)
    }

    /// A model without a tokenizer (benchmarks): token `i` has text `<|t{i}|>`, the last id
    /// ends the program, and prompts are tokenized by the vocabulary itself.
    fn from_network(net: Net, device: Device, vocab_size: usize) -> LocalModel {
        let texts: Vec<String> = (0..vocab_size).map(|i| format!("<|t{i}|>")).collect();
        let eos = vocab_size.saturating_sub(1) as TokenId;
        LocalModel {
            net,
            device,
            vocabulary: Vocabulary::new(texts, eos),
            tokenizer: None,
            instruction: String::new(),
            weights_vocab: vocab_size,
            scored: vec![true; vocab_size],
            other_ends: Vec::new(),
            cached: Vec::new(),
            logits: Vec::new(),
            tokens_run: 0,
        }
    }

    /// The network family.
    pub fn architecture(&self) -> Architecture {
        self.net.architecture()
    }

    /// Rows of the output layer (may exceed the tokenizer's size; the extra ids get no mass).
    pub fn weights_vocab_size(&self) -> usize {
        self.weights_vocab
    }

    /// The tokenizer (none for a network built without one, see [`LocalModel::from_qwen2`]).
    pub fn tokenizer(&self) -> Option<&Tokenizer> {
        self.tokenizer.as_ref()
    }

    /// Tokens of `text` alone, as the model's tokenizer splits it (no instruction, no BOS).
    pub fn tokenize(&self, text: &str) -> Vec<TokenId> {
        match &self.tokenizer {
            Some(t) => t
                .encode(text, false)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_else(|_| self.vocabulary.encode(text)),
            None => self.vocabulary.encode(text),
        }
    }

    /// Tokens run through the network since loading; each call that extends the cached
    /// sequence adds only the new tokens, a recomputation adds the whole sequence.
    pub fn tokens_run(&self) -> usize {
        self.tokens_run
    }

    /// Forgets the key/value cache; the next call recomputes from the first token.
    pub fn clear_cache(&mut self) {
        self.net.clear_cache();
        self.cached.clear();
        self.logits.clear();
    }

    /// Brings the cache to `sequence` and leaves the logits after it in `self.logits`.
    fn advance(&mut self, sequence: &[TokenId]) -> Result<(), ProposalError> {
        if sequence == self.cached.as_slice() && !self.logits.is_empty() {
            return Ok(());
        }
        if let Some(&bad) = sequence
            .iter()
            .find(|&&id| id as usize >= self.weights_vocab)
        {
            return Err(ProposalError::Backend(format!(
                "token id {bad} is outside the model's vocabulary of {}",
                self.weights_vocab
            )));
        }
        let extends = !self.cached.is_empty()
            && sequence.len() > self.cached.len()
            && sequence.starts_with(&self.cached);
        let start = if extends {
            self.cached.len()
        } else {
            self.clear_cache();
            0
        };
        let logits = match self.net.forward(&sequence[start..], start, &self.device) {
            Ok(logits) => logits,
            Err(e) => {
                // The cache may hold a partial update now; start over next time.
                self.clear_cache();
                return Err(ProposalError::Backend(format!(
                    "{} forward pass over {} tokens failed: {e}",
                    self.net.architecture().as_str(),
                    sequence.len()
                )));
            }
        };
        if logits.len() != self.weights_vocab {
            self.clear_cache();
            return Err(ProposalError::Backend(format!(
                "the model returned {} logits for a vocabulary of {}",
                logits.len(),
                self.weights_vocab
            )));
        }
        self.tokens_run += sequence.len() - start;
        self.cached = sequence.to_vec();
        self.logits = logits;
        Ok(())
    }
}

impl ProposalModel for LocalModel {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    /// The instruction followed by `prompt`, tokenized as one text (with the BOS token where
    /// the tokenizer adds one).
    fn encode_prompt(&self, prompt: &str) -> Vec<TokenId> {
        let text = format!("{}{prompt}", self.instruction);
        match &self.tokenizer {
            Some(t) => t
                .encode(text.as_str(), true)
                .map(|e| e.get_ids().to_vec())
                .unwrap_or_else(|_| self.vocabulary.encode(&text)),
            None => self.vocabulary.encode(&text),
        }
    }

    fn next_token_logprobs(
        &mut self,
        prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        if logprobs.len() != self.vocabulary.len() {
            return Err(ProposalError::Backend(format!(
                "logprobs buffer has {} entries for a vocabulary of {}",
                logprobs.len(),
                self.vocabulary.len()
            )));
        }
        let mut sequence = Vec::with_capacity(prompt.len() + generated.len());
        sequence.extend_from_slice(prompt);
        sequence.extend_from_slice(generated);
        if sequence.is_empty() {
            return Err(ProposalError::Backend(
                "nothing to condition on: empty prompt".to_string(),
            ));
        }
        self.advance(&sequence)?;
        write_log_softmax(&self.logits, &self.scored, logprobs);
        merge_ends(self.vocabulary.eos(), &self.other_ends, logprobs);
        Ok(())
    }
}

/// Log-softmax of `logits` over the `scored` ids; the others get `-inf`.
fn write_log_softmax(logits: &[f32], scored: &[bool], out: &mut [f64]) {
    let mut max = f64::NEG_INFINITY;
    for (i, &l) in logits.iter().enumerate() {
        if scored.get(i).copied().unwrap_or(false) && f64::from(l) > max {
            max = f64::from(l);
        }
    }
    let mut sum = 0.0;
    for (i, &l) in logits.iter().enumerate() {
        if scored.get(i).copied().unwrap_or(false) {
            sum += (f64::from(l) - max).exp();
        }
    }
    let log_z = max + sum.ln();
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = match logits.get(i) {
            Some(&l) if scored.get(i).copied().unwrap_or(false) && log_z.is_finite() => {
                f64::from(l) - log_z
            }
            _ => f64::NEG_INFINITY,
        };
    }
}

/// Moves the mass of the other end-of-sequence ids onto `eos`.
fn merge_ends(eos: TokenId, others: &[TokenId], logprobs: &mut [f64]) {
    let Some(&eos_lp) = logprobs.get(eos as usize) else {
        return;
    };
    let mut terms = vec![eos_lp];
    for &id in others {
        if let Some(slot) = logprobs.get_mut(id as usize) {
            terms.push(*slot);
            *slot = f64::NEG_INFINITY;
        }
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max.is_finite() {
        let merged = max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln();
        logprobs[eos as usize] = merged;
    }
}
