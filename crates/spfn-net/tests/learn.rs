//! A tiny network trained here for a few hundred steps on a tiny corpus (two programs, a normal
//! and a Poisson response, written by `refinestat-spfn`) learns to tell them apart on fresh
//! datasets; training is deterministic for a seed and a resumed run continues the same run; a
//! corrupt or mismatched model directory is an error naming the file.

use refinestat_language::Data;
use refinestat_spfn::corpus::{self, CorpusConfig, RunOptions, SplitConfig};
use refinestat_spfn::shard;
use refinestat_spfn::source::load_program;
use refinestat_spfn::{HumanCorpus, MetaPrior};
use refinestat_spfn_net::propose::{load, SpfnModel};
use refinestat_spfn_net::vocab::generated_part;
use refinestat_spfn_net::{train, NetError, TrainConfig};
use std::path::{Path, PathBuf};

const NORMAL: &str = "// family: normal_iid
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 3);
  sigma ~ exponential(1);
  y ~ normal(mu, sigma);
}
";

const POISSON: &str = "// family: poisson_iid
data {
  int<lower=1> N;
  array[N] int<lower=0> y;
}
parameters {
  real<lower=0> lambda;
}
model {
  lambda ~ gamma(2, 0.5);
  y ~ poisson(lambda);
}
";

fn prior() -> MetaPrior {
    let programs = vec![
        load_program("normal_iid.stan", NORMAL).unwrap(),
        load_program("poisson_iid.stan", POISSON).unwrap(),
    ];
    MetaPrior {
        sources: vec![(Box::new(HumanCorpus { programs }), 1.0)],
        augment_prob: 0.0,
        max_augment: 0,
    }
}

/// A corpus of both programs, `k` datasets each; `validation` of the programs' hash space goes
/// to the validation split.
fn write_corpus(dir: &Path, k: u64, seed: u64, validation: f64) {
    let split = SplitConfig {
        heldout_families: vec![],
        heldout_noise_above: 1e300,
        validation,
        test: 0.0,
    };
    let cfg = CorpusConfig::new(2, k, seed, Some(1), split);
    let opts = RunOptions {
        out: dir.to_path_buf(),
        jobs: 1,
        shard: None,
    };
    corpus::run(&prior(), &cfg, &opts, &|_| {}).unwrap();
}

fn records(dir: &Path) -> Vec<shard::Record> {
    corpus::shard_files(dir)
        .unwrap()
        .iter()
        .flat_map(|p| shard::read(p).unwrap().1)
        .collect()
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("refinestat-spfn-net-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tiny(steps: u64, seed: u64) -> TrainConfig {
    let mut c = TrainConfig::new(steps, 16, 3e-3, seed);
    c.size = "tiny".into();
    c.checkpoint_every = 50;
    c.min_count = 1;
    c
}

#[test]
fn a_tiny_network_learns_poisson_from_normal() {
    let dir = scratch("learn");
    let corpus_dir = dir.join("corpus");
    write_corpus(&corpus_dir, 60, 1, 0.0);
    let model = dir.join("model");
    let mut last = None;
    let mut config = tiny(200, 3);
    config.batch = 8;
    let report = train(&corpus_dir, &model, &config, &mut |p| {
        last = Some(p.clone());
        true
    })
    .unwrap();
    assert_eq!(report.steps, 200);
    let last = last.unwrap();
    assert!(last.loss.is_finite() && last.examples_per_sec > 0.0);
    let csv = std::fs::read_to_string(model.join("loss.csv")).unwrap();
    let losses: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    assert_eq!(losses.len(), 200);
    let head: f64 = losses[..10].iter().sum::<f64>() / 10.0;
    let tail: f64 = losses[190..].iter().sum::<f64>() / 10.0;
    assert!(tail < 0.5 * head, "loss {head} -> {tail}");

    // Fresh datasets of the same two programs (another corpus seed): the network's likelier
    // program is the one that generated the data.
    let fresh_dir = dir.join("fresh");
    write_corpus(&fresh_dir, 20, 99, 0.0);
    let fresh = records(&fresh_dir);
    let mut texts: Vec<String> = fresh
        .iter()
        .map(|r| generated_part(&r.program).unwrap())
        .collect();
    texts.sort();
    texts.dedup();
    assert_eq!(texts.len(), 2);
    let (mut right, mut total) = (0, 0);
    for r in &fresh {
        let data = Data::from_json_str(&r.data.to_string()).unwrap();
        let m = SpfnModel::new(load(&model).unwrap(), &data).unwrap();
        let truth = generated_part(&r.program).unwrap();
        let best = texts
            .iter()
            .max_by(|a, b| {
                let s = |t: &str| m.score(t).unwrap().unwrap_or(f64::NEG_INFINITY);
                s(a).total_cmp(&s(b))
            })
            .unwrap();
        right += usize::from(*best == truth);
        total += 1;
    }
    assert!(total >= 30, "{total} fresh datasets");
    // Greedy decoding and the modal sample write the generating program's likelihood; the
    // builtin proposer is measured on the same pairs.
    let config = refinestat_spfn_net::eval::EvalConfig {
        split: "train".into(),
        limit: 40,
        samples: 8,
        seed: 1,
        max_tokens: 200,
        baseline: true,
    };
    let report = refinestat_spfn_net::eval::evaluate(&model, &fresh_dir, &config).unwrap();
    let net = &report.network.total;
    assert_eq!(net.pairs, 40);
    assert!(net.argmax_likelihood >= 36, "{}", report.table());
    assert!(net.likelihood >= 36, "{}", report.table());
    assert_eq!(report.network.by_likelihood.len(), 2, "{}", report.table());
    assert_eq!(report.builtin.as_ref().unwrap().total.pairs, 40);
    let accuracy = right as f64 / total as f64;
    assert!(accuracy >= 0.9, "accuracy {accuracy} ({right}/{total})");
}

#[test]
fn training_is_deterministic_and_resumes() {
    let dir = scratch("resume");
    // Train records, plus the shards of a second corpus whose records are all validation.
    let corpus_dir = dir.join("corpus");
    write_corpus(&corpus_dir, 20, 5, 0.0);
    let validation = dir.join("validation");
    write_corpus(&validation, 4, 6, 1.0);
    for (i, p) in corpus::shard_files(&validation).unwrap().iter().enumerate() {
        std::fs::copy(p, corpus_dir.join(format!("shard-9{i:05}.rss"))).unwrap();
    }
    let mut c = tiny(30, 7);
    c.checkpoint_every = 10;
    c.validation_examples = 8;
    let whole = dir.join("whole");
    train(&corpus_dir, &whole, &c, &mut |_| true).unwrap();
    let again = dir.join("again");
    train(&corpus_dir, &again, &c, &mut |_| true).unwrap();
    let read = |d: &Path, f: &str| std::fs::read(d.join(f)).unwrap();
    assert_eq!(read(&whole, "loss.csv"), read(&again, "loss.csv"));
    assert_eq!(
        read(&whole, "model.safetensors"),
        read(&again, "model.safetensors")
    );
    // A run stopped at step 25 (after its checkpoint at 20), then resumed: the same weights and
    // loss curve as one run.
    let split = dir.join("split");
    let stopped = train(&corpus_dir, &split, &c, &mut |p| p.step < 25).unwrap();
    assert_eq!(stopped.steps, 25);
    let report = train(&corpus_dir, &split, &c, &mut |_| true).unwrap();
    assert_eq!(report.resumed_from, 20);
    assert_eq!(read(&whole, "loss.csv"), read(&split, "loss.csv"));
    assert_eq!(
        read(&whole, "model.safetensors"),
        read(&split, "model.safetensors")
    );
    let names: Vec<String> = std::fs::read_dir(&split)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.contains(&"checkpoint-30.safetensors".to_string()),
        "{names:?}"
    );
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")
            && !n.ends_with(".staged")
            && !n.starts_with("checkpoint-2")),
        "{names:?}"
    );
    let svg = String::from_utf8(read(&whole, "loss.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.matches("<circle").count() == 3,
        "{svg}"
    );
    // Validation losses at checkpoints.
    let csv = String::from_utf8(read(&whole, "loss.csv")).unwrap();
    assert_eq!(
        csv.lines().filter(|l| !l.ends_with(',')).count(),
        1 + 3,
        "{csv}"
    );
    // Other settings in the same directory are refused, naming state.json.
    let mut other = c.clone();
    other.seed = 8;
    let err = train(&corpus_dir, &split, &other, &mut |_| true).unwrap_err();
    assert!(err.to_string().contains("state.json"), "{err}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_broken_model_directory_names_the_file() {
    let dir = scratch("broken");
    let corpus_dir = dir.join("corpus");
    write_corpus(&corpus_dir, 4, 2, 0.0);
    let model = dir.join("model");
    train(&corpus_dir, &model, &tiny(2, 1), &mut |_| true).unwrap();
    assert!(load(&model).is_ok());
    let broken = |name: &str, edit: &dyn Fn(&Path)| -> NetError {
        let d = dir.join(format!("broken-{name}"));
        copy_dir(&model, &d);
        edit(&d.join(name));
        match load(&d) {
            Err(e) => e,
            Ok(_) => panic!("{name}: loaded"),
        }
    };
    let cases: Vec<(&str, NetError)> = vec![
        (
            "model.safetensors",
            broken("model.safetensors", &|p| {
                let mut b = std::fs::read(p).unwrap();
                let n = b.len();
                b[n - 3] ^= 0x55;
                std::fs::write(p, b).unwrap();
            }),
        ),
        (
            "vocab.json",
            broken("vocab.json", &|p| {
                std::fs::write(p, r#"{"format": 1, "lexemes": ["</s>", "<s>", "<unk>"]}"#).unwrap()
            }),
        ),
        (
            "config.json",
            broken("config.json", &|p| std::fs::remove_file(p).unwrap()),
        ),
        (
            "config.json",
            broken("config.json", &|p| {
                let t = std::fs::read_to_string(p)
                    .unwrap()
                    .replace("\"format\": 1", "\"format\": 9");
                std::fs::write(p, t).unwrap()
            }),
        ),
    ];
    for (file, err) in cases {
        let msg = err.to_string();
        assert!(msg.contains(file), "{file}: {msg}");
    }
    // Weights that do not fit the configuration (no state.json to catch it first).
    let d = dir.join("mismatch");
    copy_dir(&model, &d);
    std::fs::remove_file(d.join("state.json")).unwrap();
    let t = std::fs::read_to_string(d.join("config.json"))
        .unwrap()
        .replace("\"ff\": 64", "\"ff\": 80");
    std::fs::write(d.join("config.json"), t).unwrap();
    let msg = load(&d).err().unwrap().to_string();
    assert!(
        msg.contains("model.safetensors") && msg.contains("shape"),
        "{msg}"
    );
    let msg = load(&dir.join("nowhere")).err().unwrap().to_string();
    assert!(
        msg.contains("nowhere") && msg.contains("not a model directory"),
        "{msg}"
    );
}
