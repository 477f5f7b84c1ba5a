//! The decoder one lexeme at a time, in plain Rust: what proposing needs. A proposal asks for the
//! next lexeme's log-probabilities once per token, and candle's fixed cost per operation (a few
//! microseconds, some hundred operations a token) is most of the time at a batch of one; here the
//! same arithmetic runs on flat `f32` vectors, with the dataset's part (slot embeddings, the
//! cross-attention keys and values, the pointer keys) computed once per dataset and the
//! decoder's keys and values cached per position.
//!
//! The arithmetic is [`crate::net::Net::decode`]'s and [`crate::net::Net::log_probs`]'s (the
//! tests compare them), up to the order of floating-point sums.

use crate::net::{EncBatch, Net};
use candle_core::Tensor;

type R<T> = candle_core::Result<T>;

fn flat(t: &Tensor) -> R<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// `y = W x + b` with `W` [out, in] row-major.
struct Lin {
    w: Vec<f32>,
    b: Vec<f32>,
    din: usize,
}

impl Lin {
    fn of(l: &crate::net::Linear) -> R<Lin> {
        Ok(Lin {
            w: flat(&l.w)?,
            b: flat(&l.b)?,
            din: l.w.dim(1)?,
        })
    }

    fn apply(&self, x: &[f32], y: &mut Vec<f32>) {
        y.clear();
        y.extend(
            self.w
                .chunks_exact(self.din)
                .zip(&self.b)
                .map(|(row, b)| dot(row, x) + b),
        );
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight partial sums so that the loop vectorises.
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

struct Ln {
    g: Vec<f32>,
    b: Vec<f32>,
}

impl Ln {
    fn of(n: &crate::net::Norm) -> R<Ln> {
        Ok(Ln {
            g: flat(&n.g)?,
            b: flat(&n.b)?,
        })
    }

    fn apply(&self, x: &[f32], y: &mut Vec<f32>) {
        let d = x.len() as f32;
        let mean = x.iter().sum::<f32>() / d;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d;
        let inv = 1.0 / (var + 1e-5).sqrt();
        y.clear();
        y.extend(
            x.iter()
                .zip(self.g.iter().zip(&self.b))
                .map(|(v, (g, b))| (v - mean) * inv * g + b),
        );
    }
}

fn gelu(v: f32) -> f32 {
    const C: f32 = 0.797_884_6;
    0.5 * v * (1.0 + (C * v * (1.0 + 0.044715 * v * v)).tanh())
}

struct Att {
    q: Lin,
    k: Lin,
    v: Lin,
    o: Lin,
}

impl Att {
    fn of(a: &crate::net::Attention) -> R<Att> {
        Ok(Att {
            q: Lin::of(&a.q)?,
            k: Lin::of(&a.k)?,
            v: Lin::of(&a.v)?,
            o: Lin::of(&a.o)?,
        })
    }
}

struct Layer {
    n1: Ln,
    selfatt: Att,
    n2: Ln,
    cross: Att,
    n3: Ln,
    ffa: Lin,
    ffb: Lin,
}

/// The decoder's weights as flat vectors.
pub struct FastNet {
    d: usize,
    heads: usize,
    vocab: usize,
    tok: Vec<f32>,
    slot_in: Lin,
    layers: Vec<Layer>,
    dec_norm: Ln,
    out: Lin,
    ptr_q: Lin,
    ptr_k: Lin,
}

/// The dataset's part of decoding: computed once per dataset.
pub struct FastData {
    vars: usize,
    /// Input embedding of each variable [V, d].
    slots: Vec<f32>,
    /// Per layer, the cross-attention keys and values [V, d].
    cross: Vec<(Vec<f32>, Vec<f32>)>,
    /// Pointer keys [V, d].
    ptr: Vec<f32>,
}

/// Decoding state: the inputs seen and each layer's keys and values of them.
pub struct FastState {
    /// Inputs processed, in the decoder's index space.
    pub inputs: Vec<u32>,
    kv: Vec<(Vec<f32>, Vec<f32>)>,
    last: Vec<f32>,
}

impl FastNet {
    /// The flat copy of `net`'s decoder.
    pub fn new(net: &Net) -> R<FastNet> {
        let c = &net.config;
        Ok(FastNet {
            d: c.d_model,
            heads: c.heads,
            vocab: c.vocab,
            tok: flat(&net.tok)?,
            slot_in: Lin::of(&net.slot_in)?,
            layers: net
                .dec
                .iter()
                .map(|l| {
                    Ok(Layer {
                        n1: Ln::of(&l.n1)?,
                        selfatt: Att::of(&l.selfatt)?,
                        n2: Ln::of(&l.n2)?,
                        cross: Att::of(&l.cross)?,
                        n3: Ln::of(&l.n3)?,
                        ffa: Lin::of(&l.ff.a)?,
                        ffb: Lin::of(&l.ff.b)?,
                    })
                })
                .collect::<R<Vec<Layer>>>()?,
            dec_norm: Ln::of(&net.dec_norm)?,
            out: Lin::of(&net.out)?,
            ptr_q: Lin::of(&net.ptr_q)?,
            ptr_k: Lin::of(&net.ptr_k)?,
        })
    }

    /// The dataset's part of decoding, from its encoding (a batch of one).
    pub fn data(&self, enc: &EncBatch) -> R<FastData> {
        let tokens = flat(&enc.tokens.get(0)?)?;
        let vars = enc.vars.first().copied().unwrap_or(0);
        let d = self.d;
        let mut y = Vec::new();
        let map = |lin: &Lin, y: &mut Vec<f32>| {
            let mut out = Vec::with_capacity(vars * d);
            for t in tokens.chunks_exact(d).take(vars) {
                lin.apply(t, y);
                out.extend_from_slice(y);
            }
            out
        };
        Ok(FastData {
            vars,
            slots: map(&self.slot_in, &mut y),
            cross: self
                .layers
                .iter()
                .map(|l| (map(&l.cross.k, &mut y), map(&l.cross.v, &mut y)))
                .collect(),
            ptr: map(&self.ptr_k, &mut y),
        })
    }

    /// A fresh decoding state.
    pub fn state(&self) -> FastState {
        FastState {
            inputs: Vec::new(),
            kv: self
                .layers
                .iter()
                .map(|_| (Vec::new(), Vec::new()))
                .collect(),
            last: Vec::new(),
        }
    }

    /// Log-probabilities over the decoder's index space (`vocab + V`) of the lexeme after
    /// `inputs` (beginning-of-program first), reusing the state's common prefix.
    pub fn next(&self, data: &FastData, state: &mut FastState, inputs: &[u32]) -> Vec<f32> {
        let common = state
            .inputs
            .iter()
            .zip(inputs)
            .take_while(|(a, b)| a == b)
            .count();
        if common == inputs.len() && common == state.inputs.len() && !state.last.is_empty() {
            return state.last.clone();
        }
        // Recompute at least the last input so that its logits are at hand.
        let keep = common.min(inputs.len().saturating_sub(1));
        state.inputs.truncate(keep);
        for (k, v) in &mut state.kv {
            k.truncate(keep * self.d);
            v.truncate(keep * self.d);
        }
        let mut h = Vec::new();
        for &id in &inputs[keep..] {
            h = self.step(data, state, id);
            state.inputs.push(id);
        }
        state.last = self.log_probs(data, &h);
        state.last.clone()
    }

    /// One position: its input `id`, the state's keys and values extended; returns the final
    /// hidden state.
    fn step(&self, data: &FastData, state: &mut FastState, id: u32) -> Vec<f32> {
        let d = self.d;
        let pos = state.inputs.len();
        let id = id as usize;
        let mut x: Vec<f32> = if id < self.vocab {
            self.tok[id * d..(id + 1) * d].to_vec()
        } else if id - self.vocab < data.vars {
            let s = id - self.vocab;
            data.slots[s * d..(s + 1) * d].to_vec()
        } else {
            vec![0.0; d]
        };
        for (i, xi) in x.iter_mut().enumerate() {
            let freq = 1.0 / 10000f64.powf((2 * (i / 2)) as f64 / d as f64);
            let a = pos as f64 * freq;
            *xi += if i % 2 == 0 { a.sin() } else { a.cos() } as f32;
        }
        let (mut hn, mut q, mut k, mut v, mut att, mut o) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
        );
        for (li, (l, (kc, vc))) in self.layers.iter().zip(state.kv.iter_mut()).enumerate() {
            l.n1.apply(&x, &mut hn);
            l.selfatt.q.apply(&hn, &mut q);
            l.selfatt.k.apply(&hn, &mut k);
            l.selfatt.v.apply(&hn, &mut v);
            kc.extend_from_slice(&k);
            vc.extend_from_slice(&v);
            self.attend(&q, kc, vc, &mut att);
            l.selfatt.o.apply(&att, &mut o);
            add(&mut x, &o);
            l.n2.apply(&x, &mut hn);
            l.cross.q.apply(&hn, &mut q);
            let (ck, cv) = &data.cross[li];
            self.attend(&q, ck, cv, &mut att);
            l.cross.o.apply(&att, &mut o);
            add(&mut x, &o);
            l.n3.apply(&x, &mut hn);
            l.ffa.apply(&hn, &mut q);
            q.iter_mut().for_each(|v| *v = gelu(*v));
            l.ffb.apply(&q, &mut o);
            add(&mut x, &o);
        }
        self.dec_norm.apply(&x, &mut hn);
        hn
    }

    /// Multi-head attention of one query to keys and values [T, d].
    fn attend(&self, q: &[f32], k: &[f32], v: &[f32], out: &mut Vec<f32>) {
        let d = self.d;
        let dh = d / self.heads;
        let t = k.len() / d;
        let scale = 1.0 / (dh as f32).sqrt();
        out.clear();
        out.resize(d, 0.0);
        if t == 0 {
            return;
        }
        let mut w = vec![0f32; t];
        for h in 0..self.heads {
            let qh = &q[h * dh..(h + 1) * dh];
            for (j, wj) in w.iter_mut().enumerate() {
                *wj = dot(qh, &k[j * d + h * dh..j * d + (h + 1) * dh]) * scale;
            }
            let m = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut z = 0.0;
            for wj in &mut w {
                *wj = (*wj - m).exp();
                z += *wj;
            }
            let oh = &mut out[h * dh..(h + 1) * dh];
            for (j, wj) in w.iter().enumerate() {
                let a = wj / z;
                for (o, x) in oh.iter_mut().zip(&v[j * d + h * dh..j * d + (h + 1) * dh]) {
                    *o += a * x;
                }
            }
        }
    }

    fn log_probs(&self, data: &FastData, h: &[f32]) -> Vec<f32> {
        let mut logits = Vec::new();
        self.out.apply(h, &mut logits);
        let mut q = Vec::new();
        self.ptr_q.apply(h, &mut q);
        let scale = 1.0 / (self.d as f32).sqrt();
        for j in 0..data.vars {
            logits.push(dot(&q, &data.ptr[j * self.d..(j + 1) * self.d]) * scale);
        }
        let m = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lz = logits.iter().map(|x| (x - m).exp()).sum::<f32>().ln() + m;
        logits.iter_mut().for_each(|x| *x -= lz);
        logits
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
