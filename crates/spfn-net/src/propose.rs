//! The trained network as a proposal model (`--lm spfn:MODEL_DIR`): the dataset is encoded once,
//! then each call scores the next lexeme given the program so far, one position at a time in
//! plain Rust ([`crate::fast`]). The decoder's keys and values are cached and reused while the
//! program only grows (the constrained decoder backtracks, so the cache is cut back to the common
//! prefix when it does not).
//!
//! The proposal vocabulary is the model's lexemes (end-of-program first; beginning-of-program and
//! unknown left out) followed by the data's variable names; a lexeme spelled like a data
//! variable is left out in favour of the variable.

use crate::fast::{FastData, FastNet, FastState};
use crate::features::{dataset_features, CELL_FEATURES, SUMMARY_FEATURES};
use crate::net::{EncBatch, Net, NetConfig, Source};
use crate::train::{load_vocab, read_json, read_tensors, State};
use crate::vocab::{ProgramVocab, BOS_ID, EOS_ID, UNK_ID};
use crate::NetError;
use refinestat_language::Data;
use refinestat_proposal::{ProposalError, ProposalModel, TokenId, Vocabulary};
use std::collections::BTreeMap;
use std::path::Path;

/// A trained network and its vocabulary, read from a model directory.
#[derive(Clone)]
pub struct Loaded {
    /// The network.
    pub net: Net,
    /// Its fixed vocabulary.
    pub vocab: ProgramVocab,
    /// Steps it was trained for (from `state.json`; 0 when absent).
    pub step: u64,
}

/// Read a model directory: `config.json`, `vocab.json`, `model.safetensors` (checked against
/// `state.json`'s checksum when that file is present). Every problem names the file.
pub fn load(dir: &Path) -> Result<Loaded, NetError> {
    if !dir.is_dir() {
        return Err(NetError::Files {
            path: dir.display().to_string(),
            problem: "not a model directory (expected config.json, vocab.json and \
                      model.safetensors written by `refinestat spfn train`)"
                .into(),
        });
    }
    let config_path = dir.join("config.json");
    let config: NetConfig = read_json(&config_path)?;
    let bad_config = |problem: String| NetError::Files {
        path: config_path.display().to_string(),
        problem,
    };
    if config.format != 1 {
        return Err(bad_config(format!(
            "format {} is not one this build reads (1)",
            config.format
        )));
    }
    if config.cell_features != CELL_FEATURES || config.summary_features != SUMMARY_FEATURES {
        return Err(bad_config(format!(
            "made for {} cell and {} summary features; this build computes {CELL_FEATURES} \
             and {SUMMARY_FEATURES} (retrain the model)",
            config.cell_features, config.summary_features
        )));
    }
    let vocab = load_vocab(&dir.join("vocab.json"), &config)?;
    let state_path = dir.join("state.json");
    let state: Option<State> = if state_path.exists() {
        Some(read_json(&state_path)?)
    } else {
        None
    };
    let weights_path = dir.join("model.safetensors");
    let tensors = read_tensors(&weights_path, state.as_ref().map(|s| s.model_crc32))?;
    let net = Net::new(&config, Source::Loaded(&tensors)).map_err(|problem| NetError::Files {
        path: weights_path.display().to_string(),
        problem,
    })?;
    Ok(Loaded {
        net,
        vocab,
        step: state.map_or(0, |s| s.step),
    })
}

/// The network conditioned on one dataset, as a [`ProposalModel`].
pub struct SpfnModel {
    net: Net,
    enc: EncBatch,
    vocabulary: Vocabulary,
    /// Decoder index of each proposal token ([`NO_MODEL`] for a whitespace token of a model
    /// trained without whitespace).
    to_model: Vec<u32>,
    /// The model writes whitespace lexemes itself; otherwise [`crate::layout`] lays it out.
    whitespace: bool,
    /// Decoder index -> proposal token (for scoring text).
    fixed_len: usize,
    fast: FastNet,
    fast_data: FastData,
    state: FastState,
}

/// [`SpfnModel`]'s decoder index of a whitespace token the network does not write.
const NO_MODEL: u32 = u32::MAX;

/// Whitespace tokens of a model trained without them: what [`crate::layout`] separates lexemes
/// with, as lexemes (a space, newlines with up to eight levels of indent).
fn layout_tokens() -> Vec<String> {
    let mut out = vec![" ".to_string(), "\n".to_string()];
    for depth in 1..=8 {
        out.push(format!("\n{}", "    ".repeat(depth)));
    }
    out
}

fn candle(e: candle_core::Error) -> NetError {
    NetError::Candle(e.to_string())
}

impl SpfnModel {
    /// The model of directory `dir` conditioned on `data`.
    pub fn load(dir: &Path, data: &Data) -> Result<SpfnModel, NetError> {
        let loaded = load(dir)?;
        SpfnModel::new(loaded, data)
    }

    /// A loaded network conditioned on `data`.
    pub fn new(loaded: Loaded, data: &Data) -> Result<SpfnModel, NetError> {
        let features = dataset_features(data);
        let enc = loaded.net.encode(&[features.as_slice()]).map_err(candle)?;
        let names: Vec<String> = data.vars.keys().cloned().collect();
        let vocab = &loaded.vocab;
        let mut texts = Vec::new();
        let mut to_model = Vec::new();
        for (i, l) in vocab.lexemes().iter().enumerate() {
            let i = i as u32;
            if i == BOS_ID || i == UNK_ID || names.contains(l) {
                continue;
            }
            texts.push(l.clone());
            to_model.push(i);
        }
        for (slot, n) in names.iter().enumerate() {
            texts.push(n.clone());
            to_model.push((vocab.len() + slot) as u32);
        }
        let whitespace = loaded.net.config.whitespace;
        if !whitespace {
            for t in layout_tokens() {
                if !texts.contains(&t) {
                    texts.push(t);
                    to_model.push(NO_MODEL);
                }
            }
        }
        let eos = to_model
            .iter()
            .position(|&m| m == EOS_ID)
            .expect("end-of-program is kept") as TokenId;
        let fast = FastNet::new(&loaded.net).map_err(candle)?;
        let fast_data = fast.data(&enc).map_err(candle)?;
        let state = fast.state();
        Ok(SpfnModel {
            net: loaded.net,
            enc,
            vocabulary: Vocabulary::new(texts, eos),
            to_model,
            whitespace,
            fixed_len: vocab.len(),
            fast,
            fast_data,
            state,
        })
    }

    /// Log-probability of a whole generated part (the program after its data block) under the
    /// model, end-of-program included; `None` when the text has a lexeme the model cannot write.
    pub fn score(&self, text: &str) -> Result<Option<f64>, NetError> {
        let ids: Vec<u32> = crate::vocab::lexemes(text, self.whitespace)
            .iter()
            .map(|l| {
                self.vocabulary
                    .id(l)
                    .filter(|&p| p != self.vocabulary.eos())
                    .map(|p| self.to_model[p as usize])
            })
            .collect::<Option<Vec<u32>>>()
            .unwrap_or_default();
        if ids.is_empty() && !text.is_empty() {
            return Ok(None);
        }
        let mut target = ids;
        target.push(EOS_ID);
        let mut input = vec![BOS_ID];
        input.extend_from_slice(&target[..target.len() - 1]);
        let (h, _) = self.net.decode(&self.enc, &[input], None).map_err(candle)?;
        let lp = self
            .net
            .log_probs(&self.enc, &h)
            .and_then(|t| t.squeeze(0))
            .and_then(|t| t.to_vec2::<f32>())
            .map_err(candle)?;
        Ok(Some(
            target
                .iter()
                .zip(&lp)
                .map(|(&t, row)| f64::from(row[t as usize]))
                .sum(),
        ))
    }

    /// The program text the network writes by greedy decoding (the likeliest lexeme at each
    /// step, no grammar mask), at most `max_tokens` lexemes.
    pub fn greedy(&mut self, max_tokens: usize) -> Result<String, NetError> {
        let mut generated: Vec<TokenId> = Vec::new();
        let mut lp = vec![0.0; self.vocabulary.len()];
        while generated.len() < max_tokens {
            self.next_token_logprobs(&[], &generated, &mut lp)
                .map_err(|e| NetError::Candle(e.to_string()))?;
            let best = lp
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(self.vocabulary.eos(), |(i, _)| i as TokenId);
            if best == self.vocabulary.eos() {
                break;
            }
            generated.push(best);
        }
        Ok(self.vocabulary.decode(&generated))
    }

    /// `n` programs drawn by ancestral sampling at temperature 1 (no grammar mask), at most
    /// `max_tokens` lexemes each, as distinct texts with their counts. The draws share their
    /// common prefixes: at each prefix, its `c` draws are split among the next lexemes by `c`
    /// categorical draws, and the prefixes are expanded depth first (the decoder's cache follows),
    /// so the result is distributed as `n` independent draws at the cost of the distinct
    /// prefixes. Deterministic for the state of `rng`.
    pub fn sample<G: rand::Rng + ?Sized>(
        &mut self,
        n: usize,
        max_tokens: usize,
        rng: &mut G,
    ) -> Result<Vec<(String, usize)>, NetError> {
        let eos = self.vocabulary.eos();
        let mut out: Vec<(String, usize)> = Vec::new();
        let mut lp = vec![0.0; self.vocabulary.len()];
        let mut cum = vec![0.0; self.vocabulary.len()];
        let mut stack: Vec<(Vec<TokenId>, usize)> = vec![(Vec::new(), n)];
        while let Some((prefix, count)) = stack.pop() {
            if count == 0 {
                continue;
            }
            if prefix.len() >= max_tokens {
                out.push((self.vocabulary.decode(&prefix), count));
                continue;
            }
            self.next_token_logprobs(&[], &prefix, &mut lp)
                .map_err(|e| NetError::Candle(e.to_string()))?;
            let mut total = 0.0;
            for (c, &l) in cum.iter_mut().zip(&lp) {
                total += l.exp();
                *c = total;
            }
            let mut children: BTreeMap<TokenId, usize> = BTreeMap::new();
            for _ in 0..count {
                let u = rng.random::<f64>() * total;
                let t = cum.partition_point(|&c| c <= u).min(cum.len() - 1);
                *children.entry(t as TokenId).or_default() += 1;
            }
            // Pushed in reverse so that the smallest token id is expanded first.
            for (&t, &c) in children.iter().rev() {
                if t == eos {
                    out.push((self.vocabulary.decode(&prefix), c));
                } else {
                    let mut next = prefix.clone();
                    next.push(t);
                    stack.push((next, c));
                }
            }
        }
        Ok(out)
    }

    /// Fixed lexemes of the model (for diagnostics).
    pub fn fixed_vocabulary_len(&self) -> usize {
        self.fixed_len
    }

    fn next(&mut self, generated: &[TokenId]) -> Result<Vec<f32>, NetError> {
        let mut input = vec![BOS_ID];
        input.extend(
            generated
                .iter()
                .map(|&g| self.to_model.get(g as usize).copied().unwrap_or(UNK_ID))
                .filter(|&m| m != NO_MODEL),
        );
        Ok(self.fast.next(&self.fast_data, &mut self.state, &input))
    }

    /// Next-token log-probabilities of a model trained without whitespace: the network's
    /// distribution of the next lexeme, each lexeme's mass on the token that continues the
    /// whitespace [`crate::layout`] puts before it (the lexeme itself once that whitespace is
    /// written), normalised over the lexemes the whitespace so far allows. Whitespace that no layout continues (forced by the decoder) is taken as it is:
    /// the lexemes then get the network's log-probabilities and whitespace none.
    fn laid_out(&mut self, generated: &[TokenId], logprobs: &mut [f64]) -> Result<(), NetError> {
        let lp = self.next(generated)?;
        let mut layout = crate::layout::Layout::new();
        let mut space = String::new();
        for &g in generated {
            let text = self.vocabulary.text(g);
            if self.to_model.get(g as usize) == Some(&NO_MODEL) {
                space.push_str(text);
            } else {
                layout.push(text);
                space.clear();
            }
        }
        let mut mass = vec![0.0f64; logprobs.len()];
        let eos = self.vocabulary.eos();
        for (p, &m) in self.to_model.iter().enumerate() {
            if m == NO_MODEL {
                continue;
            }
            let Some(&l) = lp.get(m as usize) else {
                continue;
            };
            let next = (p as TokenId != eos).then(|| self.vocabulary.text(p as TokenId));
            let sep = layout.separator(next);
            let target = if sep == space {
                Some(p as TokenId)
            } else if let Some(rest) = sep.strip_prefix(space.as_str()) {
                refinestat_synthesis::builtin::lex(rest)
                    .first()
                    .and_then(|piece| self.vocabulary.id(piece))
            } else {
                None
            };
            if let Some(t) = target {
                mass[t as usize] += f64::from(l).exp();
            }
        }
        let total: f64 = mass.iter().sum();
        if total > 1e-30 {
            for (out, m) in logprobs.iter_mut().zip(&mass) {
                *out = (m / total).ln();
            }
        } else {
            for (out, &m) in logprobs.iter_mut().zip(&self.to_model) {
                *out = if m == NO_MODEL {
                    f64::NEG_INFINITY
                } else {
                    lp.get(m as usize)
                        .map_or(f64::NEG_INFINITY, |&x| f64::from(x))
                };
            }
        }
        Ok(())
    }
}

impl ProposalModel for SpfnModel {
    fn vocabulary(&self) -> &Vocabulary {
        &self.vocabulary
    }

    fn next_token_logprobs(
        &mut self,
        _prompt: &[TokenId],
        generated: &[TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        if logprobs.len() != self.vocabulary.len() {
            return Err(ProposalError::Backend(format!(
                "expected {} log-probabilities, got a buffer of {}",
                self.vocabulary.len(),
                logprobs.len()
            )));
        }
        if !self.whitespace {
            return self
                .laid_out(generated, logprobs)
                .map_err(|e| ProposalError::Backend(e.to_string()));
        }
        let lp = self
            .next(generated)
            .map_err(|e| ProposalError::Backend(e.to_string()))?;
        for (out, &m) in logprobs.iter_mut().zip(&self.to_model) {
            *out = lp
                .get(m as usize)
                .map_or(f64::NEG_INFINITY, |&x| f64::from(x));
        }
        Ok(())
    }
}

/// Where the model that ships with the source tree lives (`--lm spfn`): `model/` beside this
/// crate's `Cargo.toml` (config.json, vocab.json, model.safetensors, state.json, MODEL_CARD.md).
pub fn shipped_model_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("model")
}

/// The proposal model a `spfn` (the shipped model, [`shipped_model_dir`]) or `spfn:MODEL_DIR`
/// spec names, conditioned on `data`.
pub fn from_spec(spec: &str, data: &Data) -> Result<SpfnModel, ProposalError> {
    let dir = match spec.strip_prefix("spfn:") {
        Some("") => {
            return Err(ProposalError::InvalidSpec {
                spec: spec.to_string(),
                problem: "expected spfn (the shipped model) or spfn:MODEL_DIR (a directory \
                          written by `refinestat spfn train`)"
                    .into(),
            })
        }
        Some(dir) => std::path::PathBuf::from(dir),
        None if spec == "spfn" => shipped_model_dir(),
        None => {
            return Err(ProposalError::InvalidSpec {
                spec: spec.to_string(),
                problem: "expected spfn or spfn:MODEL_DIR".into(),
            })
        }
    };
    SpfnModel::load(&dir, data).map_err(|e| match e {
        NetError::Files { path, problem } => ProposalError::ModelFiles { path, problem },
        other => ProposalError::Backend(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::preset;
    use rand::SeedableRng;

    fn model(data: &Data) -> SpfnModel {
        model_with(data, true)
    }

    fn model_with(data: &Data, whitespace: bool) -> SpfnModel {
        let lexemes: Vec<String> = ["</s>", "<s>", "<unk>", "parameters", "{", "}", "real", "mu"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vocab = ProgramVocab::from_lexemes(lexemes).unwrap();
        let mut config = preset("tiny", vocab.len()).unwrap();
        config.whitespace = whitespace;
        let (net, _) = Net::init(&config, 4).unwrap();
        SpfnModel::new(
            Loaded {
                net,
                vocab,
                step: 0,
            },
            data,
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_model_loads_and_a_missing_one_names_its_file() {
        let loaded = load(&shipped_model_dir()).unwrap();
        assert_eq!(loaded.vocab.len(), loaded.net.config.vocab);
        assert!(loaded.step > 0);
        let data = Data::from_json_str(r#"{"N": 2, "y": [0.5, 1.5]}"#).unwrap();
        let Err(ProposalError::ModelFiles { path, .. }) =
            from_spec("spfn:/nonexistent/model", &data)
        else {
            panic!("a missing model directory is a model-files error");
        };
        assert!(path.contains("/nonexistent/model"), "{path}");
    }

    #[test]
    fn plain_rust_decoding_matches_the_network() {
        let data =
            Data::from_json_str(r#"{"N": 3, "y": [0.5, 1.5, -2.0], "x": [1, 2, 3]}"#).unwrap();
        let mut m = model(&data);
        let v = m.vocabulary().clone();
        let id = |t: &str| v.id(t).unwrap();
        let generated = [id("parameters"), id("{"), id("real"), id("y"), id("x")];
        for n in 0..=generated.len() {
            let mut fast = vec![0.0; v.len()];
            m.next_token_logprobs(&[], &generated[..n], &mut fast)
                .unwrap();
            let mut input = vec![BOS_ID];
            input.extend(generated[..n].iter().map(|&g| m.to_model[g as usize]));
            let (h, _) = m.net.decode(&m.enc, &[input], None).unwrap();
            let lp = m.net.log_probs(&m.enc, &h).unwrap().squeeze(0).unwrap();
            let last: Vec<f32> = lp.get(n).unwrap().to_vec1().unwrap();
            for (p, &t) in m.to_model.iter().enumerate() {
                let want = f64::from(last[t as usize]);
                assert!(
                    (fast[p] - want).abs() < 1e-4,
                    "{n} {p}: {} vs {want}",
                    fast[p]
                );
            }
        }
    }

    #[test]
    fn cached_decoding_matches_decoding_from_scratch() {
        let data = Data::from_json_str(r#"{"N": 3, "y": [0.5, 1.5, -2.0]}"#).unwrap();
        let mut cached = model(&data);
        let v = cached.vocabulary().clone();
        assert_eq!(v.text(v.eos()), "");
        assert!(v.id("<s>").is_none() && v.id("<unk>").is_none());
        let id = |t: &str| v.id(t).unwrap();
        // Grow, backtrack, grow again, repeat a query.
        let queries: Vec<Vec<TokenId>> = vec![
            vec![],
            vec![id("parameters")],
            vec![id("parameters"), id("{")],
            vec![id("parameters"), id("{"), id("real"), id("y")],
            vec![id("parameters"), id("{"), id("mu")],
            vec![id("parameters"), id("{"), id("mu")],
            vec![id("N")],
        ];
        for q in &queries {
            let mut a = vec![0.0; v.len()];
            let mut b = vec![0.0; v.len()];
            cached.next_token_logprobs(&[], q, &mut a).unwrap();
            model(&data).next_token_logprobs(&[], q, &mut b).unwrap();
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-4, "{q:?}: {x} vs {y}");
            }
            let total: f64 = a.iter().map(|x| x.exp()).sum();
            assert!(total > 0.5 && total <= 1.0 + 1e-4, "{total}");
        }
    }

    #[test]
    fn a_model_without_whitespace_writes_it_by_the_layout() {
        let data = Data::from_json_str(r#"{"N": 3, "y": [0.5, 1.5, -2.0]}"#).unwrap();
        let mut m = model_with(&data, false);
        let v = m.vocabulary().clone();
        let id = |t: &str| v.id(t).unwrap();
        let mut lp = vec![0.0; v.len()];
        m.next_token_logprobs(&[], &[id("parameters")], &mut lp)
            .unwrap();
        let total: f64 = lp.iter().map(|x| x.exp()).sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        // The network's distribution after `parameters`, in its own index space.
        let net = m.next(&[id("parameters")]).unwrap();
        let to_model = m.to_model.clone();
        let p = |t: &str| f64::from(net[to_model[id(t) as usize] as usize]).exp();
        let p_eos = f64::from(net[EOS_ID as usize]).exp();
        // `{`, `real`, `mu`, `parameters` and the variables follow a space; `}` and the end a
        // newline.
        let space = p("{") + p("real") + p("mu") + p("parameters") + p("N") + p("y");
        let newline = p("}") + p_eos;
        let z = space + newline;
        assert!((lp[id(" ") as usize].exp() - space / z).abs() < 1e-4);
        assert!((lp[id("\n") as usize].exp() - newline / z).abs() < 1e-4);
        assert_eq!(lp[id("{") as usize], f64::NEG_INFINITY);
        // After the space, `{` gets its share of what follows a space.
        m.next_token_logprobs(&[], &[id("parameters"), id(" ")], &mut lp)
            .unwrap();
        assert!((lp[id("{") as usize].exp() - p("{") / space).abs() < 1e-4);
        assert_eq!(lp[id("}") as usize], f64::NEG_INFINITY);
        // Whitespace no layout continues is taken as it is.
        m.next_token_logprobs(&[], &[id("parameters"), id("\n    ")], &mut lp)
            .unwrap();
        assert!((lp[id("{") as usize].exp() - p("{")).abs() < 1e-4);
        // Drawn programs are whole texts with their counts.
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let drawn = m.sample(16, 30, &mut rng).unwrap();
        assert_eq!(drawn.iter().map(|d| d.1).sum::<usize>(), 16);
        let mut again = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        assert_eq!(m.sample(16, 30, &mut again).unwrap(), drawn);
    }
}
