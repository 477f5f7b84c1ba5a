//! The network: a dataset encoder (one token per data variable: per-cell features through an
//! MLP, mean-pooled over cells, joined with summary statistics; self-attention across variable
//! tokens with no positions, so the encoder is invariant to the order of variables) and an
//! autoregressive decoder over the program vocabulary (causal self-attention, cross-attention to
//! the variable tokens, sinusoidal positions). A data variable's name is a token whose input
//! embedding is a projection of its encoder token and whose logit is a pointer score against it,
//! so the decoder can name any variable of any dataset.
//!
//! Index space of the decoder: `0..vocab` the fixed lexemes ([`crate::vocab`]), `vocab + i` the
//! dataset's `i`-th variable.

use crate::features::{VarFeatures, CELL_FEATURES, SUMMARY_FEATURES};
use candle_core::{DType, Device, Tensor, Var, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Architecture of a network (`config.json` of a model directory).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// Format of the model directory (1).
    pub format: u32,
    /// Width of every token.
    pub d_model: usize,
    /// Attention heads (divides `d_model`).
    pub heads: usize,
    /// Self-attention layers over the variable tokens.
    pub encoder_layers: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Hidden width of the feed-forward blocks.
    pub ff: usize,
    /// Fixed vocabulary size (`vocab.json`).
    pub vocab: usize,
    /// Features per cell the encoder was built for.
    pub cell_features: usize,
    /// Summary features per variable the encoder was built for.
    pub summary_features: usize,
    /// Whether the decoder writes whitespace runs as lexemes (the first models); otherwise it
    /// writes the other lexemes only and [`crate::layout`] lays them out.
    #[serde(default = "crate::train::yes")]
    pub whitespace: bool,
}

/// Named sizes: `tiny` for tests, `small` (about 1 M parameters with a 1000-lexeme vocabulary)
/// and `base` (about 4 M).
pub fn preset(name: &str, vocab: usize) -> Option<NetConfig> {
    let (d_model, heads, encoder_layers, decoder_layers) = match name {
        "tiny" => (32, 2, 1, 1),
        "small" => (128, 4, 2, 3),
        "base" => (192, 6, 3, 5),
        _ => return None,
    };
    Some(NetConfig {
        format: 1,
        d_model,
        heads,
        encoder_layers,
        decoder_layers,
        ff: 2 * d_model,
        vocab,
        cell_features: CELL_FEATURES,
        summary_features: SUMMARY_FEATURES,
        whitespace: false,
    })
}

/// Where a network's tensors come from.
pub enum Source<'a> {
    /// Fresh variables, initialised from a seed (training).
    Init(&'a mut ChaCha8Rng, &'a mut BTreeMap<String, Var>),
    /// Tensors read from a file (inference); a missing or misshapen one is an error.
    Loaded(&'a std::collections::HashMap<String, Tensor>),
}

enum Init {
    Weight(usize),
    Zeros,
    Ones,
    Normal(f64),
}

impl Source<'_> {
    fn get(&mut self, name: &str, shape: &[usize], init: Init) -> Result<Tensor, String> {
        match self {
            Source::Init(rng, vars) => {
                use rand_distr::{Distribution, Normal};
                let n: usize = shape.iter().product();
                let values: Vec<f32> = match init {
                    Init::Zeros => vec![0.0; n],
                    Init::Ones => vec![1.0; n],
                    Init::Weight(fan_in) => {
                        let dist = Normal::new(0.0, 1.0 / (fan_in as f64).sqrt()).expect("sd > 0");
                        (0..n).map(|_| dist.sample(&mut **rng) as f32).collect()
                    }
                    Init::Normal(sd) => {
                        let dist = Normal::new(0.0, sd).expect("sd > 0");
                        (0..n).map(|_| dist.sample(&mut **rng) as f32).collect()
                    }
                };
                let t = Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| e.to_string())?;
                let var = Var::from_tensor(&t).map_err(|e| e.to_string())?;
                let out = var.as_tensor().clone();
                vars.insert(name.to_string(), var);
                Ok(out)
            }
            Source::Loaded(map) => {
                let t = map
                    .get(name)
                    .ok_or_else(|| format!("tensor `{name}` is missing"))?;
                if t.dims() != shape {
                    return Err(format!(
                        "tensor `{name}` has shape {:?}, the configuration needs {shape:?}",
                        t.dims()
                    ));
                }
                t.to_dtype(DType::F32).map_err(|e| e.to_string())
            }
        }
    }
}

type R<T> = candle_core::Result<T>;

#[derive(Clone)]
pub(crate) struct Linear {
    pub(crate) w: Tensor,
    pub(crate) b: Tensor,
}

impl Linear {
    fn new(src: &mut Source, name: &str, din: usize, dout: usize) -> Result<Linear, String> {
        Ok(Linear {
            w: src.get(&format!("{name}.weight"), &[dout, din], Init::Weight(din))?,
            b: src.get(&format!("{name}.bias"), &[dout], Init::Zeros)?,
        })
    }

    /// `x W^T + b` over the last axis, as one matrix product of all the rows (a batched
    /// product of small matrices is several times slower on the CPU).
    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let dims = x.dims();
        let din = *dims.last().expect("a tensor of rank >= 1");
        let rows = x.elem_count() / din.max(1);
        let y = x
            .reshape((rows, din))?
            .matmul(&self.w.t()?)?
            .broadcast_add(&self.b)?;
        let mut out = dims.to_vec();
        *out.last_mut().expect("rank >= 1") = self.w.dim(0)?;
        y.reshape(out)
    }
}

#[derive(Clone)]
pub(crate) struct Norm {
    pub(crate) g: Tensor,
    pub(crate) b: Tensor,
}

impl Norm {
    fn new(src: &mut Source, name: &str, d: usize) -> Result<Norm, String> {
        Ok(Norm {
            g: src.get(&format!("{name}.weight"), &[d], Init::Ones)?,
            b: src.get(&format!("{name}.bias"), &[d], Init::Zeros)?,
        })
    }

    fn forward(&self, x: &Tensor) -> R<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let xc = x.broadcast_sub(&mean)?;
        let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
        let xn = xc.broadcast_div(&(var + 1e-5)?.sqrt()?)?;
        xn.broadcast_mul(&self.g)?.broadcast_add(&self.b)
    }
}

#[derive(Clone)]
pub(crate) struct Attention {
    pub(crate) q: Linear,
    pub(crate) k: Linear,
    pub(crate) v: Linear,
    pub(crate) o: Linear,
    heads: usize,
}

impl Attention {
    fn new(src: &mut Source, name: &str, d: usize, heads: usize) -> Result<Attention, String> {
        Ok(Attention {
            q: Linear::new(src, &format!("{name}.q"), d, d)?,
            k: Linear::new(src, &format!("{name}.k"), d, d)?,
            v: Linear::new(src, &format!("{name}.v"), d, d)?,
            o: Linear::new(src, &format!("{name}.o"), d, d)?,
            heads,
        })
    }

    fn split(&self, x: &Tensor) -> R<Tensor> {
        let (b, t, d) = x.dims3()?;
        x.reshape((b, t, self.heads, d / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Keys and values of `kv` split into heads.
    fn keys_values(&self, kv: &Tensor) -> R<(Tensor, Tensor)> {
        Ok((
            self.split(&self.k.forward(kv)?)?,
            self.split(&self.v.forward(kv)?)?,
        ))
    }

    /// Attention of `x` [B, Tq, d] to heads `k`, `v` [B, H, Tk, dh]; `bias` broadcasts to
    /// [B, H, Tq, Tk].
    fn attend(&self, x: &Tensor, k: &Tensor, v: &Tensor, bias: &Tensor) -> R<Tensor> {
        let (b, t, d) = x.dims3()?;
        let q = self.split(&self.q.forward(x)?)?;
        let scale = 1.0 / ((d / self.heads) as f64).sqrt();
        let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(bias)?;
        let w = candle_nn::ops::softmax(&scores, D::Minus1)?;
        let out = w.matmul(v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.o.forward(&out)
    }
}

#[derive(Clone)]
pub(crate) struct Ff {
    pub(crate) a: Linear,
    pub(crate) b: Linear,
}

impl Ff {
    fn new(src: &mut Source, name: &str, d: usize, ff: usize) -> Result<Ff, String> {
        Ok(Ff {
            a: Linear::new(src, &format!("{name}.a"), d, ff)?,
            b: Linear::new(src, &format!("{name}.b"), ff, d)?,
        })
    }

    fn forward(&self, x: &Tensor) -> R<Tensor> {
        self.b.forward(&self.a.forward(x)?.gelu()?)
    }
}

#[derive(Clone)]
struct EncLayer {
    n1: Norm,
    att: Attention,
    n2: Norm,
    ff: Ff,
}

#[derive(Clone)]
pub(crate) struct DecLayer {
    pub(crate) n1: Norm,
    pub(crate) selfatt: Attention,
    pub(crate) n2: Norm,
    pub(crate) cross: Attention,
    pub(crate) n3: Norm,
    pub(crate) ff: Ff,
}

/// A network's tensors and architecture.
#[derive(Clone)]
pub struct Net {
    /// Its architecture.
    pub config: NetConfig,
    cell1: Linear,
    cell2: Linear,
    var_in: Linear,
    enc: Vec<EncLayer>,
    enc_norm: Norm,
    pub(crate) tok: Tensor,
    pub(crate) slot_in: Linear,
    pub(crate) dec: Vec<DecLayer>,
    pub(crate) dec_norm: Norm,
    pub(crate) out: Linear,
    pub(crate) ptr_q: Linear,
    pub(crate) ptr_k: Linear,
}

/// A batch of encoded datasets, padded to the most variables and cells in it.
pub struct EncBatch {
    /// Variable tokens [B, V, d].
    pub tokens: Tensor,
    /// 0 for a variable, -1e9 for padding: [B, 1, 1, V].
    pub bias: Tensor,
    /// Variables per dataset.
    pub vars: Vec<usize>,
}

/// One decoder layer's keys and values of the positions seen so far.
pub type Cache = Vec<(Tensor, Tensor)>;

fn sinusoid(start: usize, len: usize, d: usize) -> R<Tensor> {
    let mut v = Vec::with_capacity(len * d);
    for p in start..start + len {
        for i in 0..d {
            let freq = 1.0 / 10000f64.powf((2 * (i / 2)) as f64 / d as f64);
            let a = p as f64 * freq;
            v.push(if i % 2 == 0 { a.sin() } else { a.cos() } as f32);
        }
    }
    Tensor::from_vec(v, (1, len, d), &Device::Cpu)
}

impl Net {
    /// A network of `config` whose tensors come from `src`.
    pub fn new(config: &NetConfig, mut src: Source) -> Result<Net, String> {
        let c = config;
        let d = c.d_model;
        if c.heads == 0 || !d.is_multiple_of(c.heads) {
            return Err(format!("heads ({}) must divide d_model ({d})", c.heads));
        }
        if c.vocab < 3 {
            return Err("vocab must hold at least the three special tokens".into());
        }
        let s = &mut src;
        let mut enc = Vec::new();
        for l in 0..c.encoder_layers {
            let p = format!("enc.{l}");
            enc.push(EncLayer {
                n1: Norm::new(s, &format!("{p}.n1"), d)?,
                att: Attention::new(s, &format!("{p}.att"), d, c.heads)?,
                n2: Norm::new(s, &format!("{p}.n2"), d)?,
                ff: Ff::new(s, &format!("{p}.ff"), d, c.ff)?,
            });
        }
        let mut dec = Vec::new();
        let cell1 = Linear::new(s, "cell1", c.cell_features, d)?;
        let cell2 = Linear::new(s, "cell2", d, d)?;
        let var_in = Linear::new(s, "var_in", c.summary_features + d, d)?;
        let enc_norm = Norm::new(s, "enc_norm", d)?;
        let tok = s.get("tok", &[c.vocab, d], Init::Normal(0.5))?;
        let slot_in = Linear::new(s, "slot_in", d, d)?;
        for l in 0..c.decoder_layers {
            let p = format!("dec.{l}");
            dec.push(DecLayer {
                n1: Norm::new(s, &format!("{p}.n1"), d)?,
                selfatt: Attention::new(s, &format!("{p}.self"), d, c.heads)?,
                n2: Norm::new(s, &format!("{p}.n2"), d)?,
                cross: Attention::new(s, &format!("{p}.cross"), d, c.heads)?,
                n3: Norm::new(s, &format!("{p}.n3"), d)?,
                ff: Ff::new(s, &format!("{p}.ff"), d, c.ff)?,
            });
        }
        Ok(Net {
            config: config.clone(),
            cell1,
            cell2,
            var_in,
            enc,
            enc_norm,
            tok,
            slot_in,
            dec,
            dec_norm: Norm::new(s, "dec_norm", d)?,
            out: Linear::new(s, "out", d, c.vocab)?,
            ptr_q: Linear::new(s, "ptr_q", d, d)?,
            ptr_k: Linear::new(s, "ptr_k", d, d)?,
        })
    }

    /// A freshly initialised network and its variables (deterministic in `seed`).
    pub fn init(config: &NetConfig, seed: u64) -> Result<(Net, BTreeMap<String, Var>), String> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut vars = BTreeMap::new();
        let net = Net::new(config, Source::Init(&mut rng, &mut vars))?;
        Ok((net, vars))
    }

    /// Encode a batch of datasets.
    pub fn encode(&self, datasets: &[&[VarFeatures]]) -> R<EncBatch> {
        let c = &self.config;
        let b = datasets.len();
        let v = datasets.iter().map(|d| d.len()).max().unwrap_or(0).max(1);
        let cells_of = |f: &VarFeatures| f.cells.len() / c.cell_features.max(1);
        let nc = datasets
            .iter()
            .flat_map(|d| d.iter().map(cells_of))
            .max()
            .unwrap_or(0)
            .max(1);
        let mut cells = vec![0f32; b * v * nc * c.cell_features];
        let mut cmask = vec![0f32; b * v * nc];
        let mut summary = vec![0f32; b * v * c.summary_features];
        let mut bias = vec![-1e9f32; b * v];
        for (i, ds) in datasets.iter().enumerate() {
            for (j, f) in ds.iter().enumerate() {
                let slot = i * v + j;
                bias[slot] = 0.0;
                let n = cells_of(f);
                let at = slot * nc * c.cell_features;
                cells[at..at + n * c.cell_features]
                    .copy_from_slice(&f.cells[..n * c.cell_features]);
                cmask[slot * nc..slot * nc + n].fill(1.0);
                let at = slot * c.summary_features;
                summary[at..at + c.summary_features].copy_from_slice(&f.summary);
            }
        }
        let dev = Device::Cpu;
        let cells = Tensor::from_vec(cells, (b, v, nc, c.cell_features), &dev)?;
        let cmask = Tensor::from_vec(cmask, (b, v, nc, 1), &dev)?;
        let summary = Tensor::from_vec(summary, (b, v, c.summary_features), &dev)?;
        let h = self.cell2.forward(&self.cell1.forward(&cells)?.gelu()?)?;
        let count = cmask.sum_keepdim(2)?.clamp(1.0, f64::INFINITY)?;
        let pooled = h
            .broadcast_mul(&cmask)?
            .sum_keepdim(2)?
            .broadcast_div(&count)?
            .squeeze(2)?;
        let mut x = self
            .var_in
            .forward(&Tensor::cat(&[&summary, &pooled], D::Minus1)?)?;
        let bias = Tensor::from_vec(bias, (b, 1, 1, v), &dev)?;
        for l in &self.enc {
            let hn = l.n1.forward(&x)?;
            let (k, vv) = l.att.keys_values(&hn)?;
            x = (&x + l.att.attend(&hn, &k, &vv, &bias)?)?;
            x = (&x + l.ff.forward(&l.n2.forward(&x)?)?)?;
        }
        Ok(EncBatch {
            tokens: self.enc_norm.forward(&x)?,
            bias,
            vars: datasets.iter().map(|d| d.len()).collect(),
        })
    }

    /// Decoder hidden states of `inputs` (ids in the decoder's index space, one row per dataset
    /// of `enc`, all of one length) at positions `start..`, given the cache of the positions
    /// before (`start` = its length; empty for a whole sequence). Returns the states [B, T, d]
    /// and the cache extended by these positions.
    pub fn decode(
        &self,
        enc: &EncBatch,
        inputs: &[Vec<u32>],
        cache: Option<&Cache>,
    ) -> R<(Tensor, Cache)> {
        let c = &self.config;
        let dev = Device::Cpu;
        let b = inputs.len();
        let t = inputs.first().map_or(0, Vec::len);
        let v = enc.tokens.dim(1)?;
        let start = cache
            .and_then(|c| c.first())
            .map_or(Ok(0), |(k, _)| k.dim(2))?;
        let mut fixed = Vec::with_capacity(b * t);
        let mut is_fixed = Vec::with_capacity(b * t);
        let mut onehot = vec![0f32; b * t * v];
        for (i, row) in inputs.iter().enumerate() {
            for (p, &id) in row.iter().enumerate() {
                let id = id as usize;
                if id < c.vocab {
                    fixed.push(id as u32);
                    is_fixed.push(1f32);
                } else {
                    fixed.push(0);
                    is_fixed.push(0.0);
                    let slot = id - c.vocab;
                    if slot < v {
                        onehot[(i * t + p) * v + slot] = 1.0;
                    }
                }
            }
        }
        let fixed = Tensor::from_vec(fixed, (b * t,), &dev)?;
        let emb = self
            .tok
            .index_select(&fixed, 0)?
            .reshape((b, t, c.d_model))?
            .broadcast_mul(&Tensor::from_vec(is_fixed, (b, t, 1), &dev)?)?;
        let slots = self.slot_in.forward(&enc.tokens)?;
        let onehot = Tensor::from_vec(onehot, (b, t, v), &dev)?;
        let mut x =
            (emb + onehot.matmul(&slots)?)?.broadcast_add(&sinusoid(start, t, c.d_model)?)?;
        // Causal bias: query i (position start + i) sees keys 0..=start + i.
        let total = start + t;
        let mut causal = vec![0f32; t * total];
        for i in 0..t {
            for j in start + i + 1..total {
                causal[i * total + j] = -1e9;
            }
        }
        let causal = Tensor::from_vec(causal, (1, 1, t, total), &dev)?;
        let mut out_cache = Vec::with_capacity(self.dec.len());
        for (li, l) in self.dec.iter().enumerate() {
            let hn = l.n1.forward(&x)?;
            let (k, vv) = l.selfatt.keys_values(&hn)?;
            let (k, vv) = match cache.and_then(|c| c.get(li)) {
                Some((pk, pv)) => (Tensor::cat(&[pk, &k], 2)?, Tensor::cat(&[pv, &vv], 2)?),
                None => (k, vv),
            };
            x = (&x + l.selfatt.attend(&hn, &k, &vv, &causal)?)?;
            out_cache.push((k, vv));
            let hn = l.n2.forward(&x)?;
            let (ck, cv) = l.cross.keys_values(&enc.tokens)?;
            x = (&x + l.cross.attend(&hn, &ck, &cv, &enc.bias)?)?;
            x = (&x + l.ff.forward(&l.n3.forward(&x)?)?)?;
        }
        Ok((self.dec_norm.forward(&x)?, out_cache))
    }

    /// Logits [B, T, vocab + V] of hidden states: fixed lexemes, then a pointer score per
    /// variable (padding variables at -1e9).
    pub fn logits(&self, enc: &EncBatch, h: &Tensor) -> R<Tensor> {
        let fixed = self.out.forward(h)?;
        let q = self.ptr_q.forward(h)?;
        let k = self.ptr_k.forward(&enc.tokens)?;
        let scale = 1.0 / (self.config.d_model as f64).sqrt();
        let ptr = (q.matmul(&k.t()?.contiguous()?)? * scale)?;
        let (b, v) = (enc.tokens.dim(0)?, enc.tokens.dim(1)?);
        let ptr = ptr.broadcast_add(&enc.bias.reshape((b, 1, v))?)?;
        Tensor::cat(&[&fixed, &ptr], D::Minus1)
    }

    /// Log-softmax of [`Net::logits`].
    pub fn log_probs(&self, enc: &EncBatch, h: &Tensor) -> R<Tensor> {
        candle_nn::ops::log_softmax(&self.logits(enc, h)?, D::Minus1)
    }

    /// Mean negative log-likelihood per target token of a batch (teacher forcing): `targets[i]`
    /// are dataset `i`'s program ids ending in end-of-program. Also returns the token count.
    pub fn loss(&self, enc: &EncBatch, targets: &[Vec<u32>]) -> R<(Tensor, usize)> {
        let b = targets.len();
        let t = targets.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let k = self.config.vocab + enc.tokens.dim(1)?;
        let mut inputs = vec![vec![crate::vocab::EOS_ID; t]; b];
        // The target id of each position and whether it counts (padding does not).
        let mut ids = vec![0u32; b * t];
        let mut mask = vec![0f32; b * t];
        let mut n = 0;
        for (i, target) in targets.iter().enumerate() {
            inputs[i][0] = crate::vocab::BOS_ID;
            for (p, &id) in target.iter().enumerate() {
                if p + 1 < t {
                    inputs[i][p + 1] = id;
                }
                if (id as usize) < k {
                    ids[i * t + p] = id;
                    mask[i * t + p] = 1.0;
                    n += 1;
                }
            }
        }
        let (h, _) = self.decode(enc, &inputs, None)?;
        let lp = self.log_probs(enc, &h)?;
        let dev = Device::Cpu;
        let picked = lp.gather(&Tensor::from_vec(ids, (b, t, 1), &dev)?, D::Minus1)?;
        let mask = Tensor::from_vec(mask, (b, t, 1), &dev)?;
        let loss = ((picked * mask)?.sum_all()? * (-1.0 / n.max(1) as f64))?;
        Ok((loss, n))
    }
}

/// Number of scalars in a set of variables.
pub fn parameter_count(vars: &BTreeMap<String, Var>) -> usize {
    vars.values().map(|v| v.elem_count()).sum()
}
