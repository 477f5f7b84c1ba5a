//! Measures the decoder with the built-in model on the five shipped datasets: for each mode, how
//! many programs pass `check` with the data and how many sample without error (2 chains x 200
//! warmup x 200 draws). Usage: `generate_bench [N] [--no-fit] [--show K] [--datasets a,b]
//! [--lm local:DIR] [--compact] [--max-tokens T] [--modes m,m]`: `--lm local:DIR` measures a
//! candle model instead of the built-in one (e.g. the tiny random-weight model of the
//! `tiny_model` example), `--compact` uses the compact grammar bounds, `--max-tokens` sets the
//! decoder's sampled-token budget. "completed" counts programs the model ended itself, "closed"
//! those the decoder closed when a budget ran out, "log_lik" programs with a likelihood on the
//! data (pointwise log-likelihood terms).

use rayon::prelude::*;
use refinestat_inference::{sample, SamplerConfig};
use refinestat_language::check;
use refinestat_local::LocalModel;
use refinestat_model::Model;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{
    data_block, generate, program_rng, BuiltinModel, DecodeConfig, GrammarBounds, Mode, StopReason,
};
use refinestat_workflow::SamplingDensity;
use std::time::Instant;

fn fits(program: &str, data: &refinestat_language::Data, seed: u64) -> Result<(), String> {
    let model = Model::from_source(program, data).map_err(|e| e.to_string())?;
    let config = SamplerConfig {
        chains: 2,
        warmup: 200,
        draws: 200,
        seed,
        // A random program can make a posterior NUTS crawls through; its fit is cut short.
        time_budget: Some(std::time::Duration::from_secs(20)),
        ..Default::default()
    };
    let out = sample(&config, |_| SamplingDensity(model.clone())).map_err(|e| e.to_string())?;
    if out.chains.iter().all(|c| !c.draws.is_empty()) {
        Ok(())
    } else {
        Err("no draws".into())
    }
}

/// A count, or `-` when it was not measured.
fn count_if(measured: bool, count: usize) -> String {
    if measured {
        count.to_string()
    } else {
        "-".into()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let fit = !args.iter().any(|a| a == "--no-fit");
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let show: usize = flag("--show").and_then(|s| s.parse().ok()).unwrap_or(0);
    let names: Vec<String> = flag("--datasets")
        .map(|s| s.split(',').map(String::from).collect())
        .unwrap_or_else(|| DATASET_NAMES.iter().map(|s| s.to_string()).collect());
    let lm = flag("--lm").unwrap_or_else(|| "builtin".into());
    let local_path = match lm.as_str() {
        "builtin" => None,
        other => Some(std::path::PathBuf::from(
            other
                .strip_prefix("local:")
                .expect("--lm is builtin or local:DIR"),
        )),
    };
    let max_tokens: usize = flag("--max-tokens")
        .and_then(|s| s.parse().ok())
        .unwrap_or(DecodeConfig::default().max_sampled_tokens);
    let modes: Vec<Mode> = flag("--modes")
        .map(|s| s.split(',').map(|m| m.parse().expect("a mode")).collect())
        .unwrap_or_else(|| vec![Mode::Standard, Mode::Syntax, Mode::Refinestat]);
    let bounds = if args.iter().any(|a| a == "--compact") {
        GrammarBounds::compact()
    } else {
        GrammarBounds::default()
    };
    if args.iter().any(|a| a == "--uniform") {
        uniform_table(n, &names);
        return;
    }
    println!("| dataset | mode | programs | completed | closed | pass check | log_lik | sample ok | pass check and sample ok | tokens sampled (mean) | rejected (mean) | backtracks (mean) | ms/program | failed checks by first predicate |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|");
    for name in &names {
        let data = dataset(name).expect("shipped dataset");
        let prompt = data_block(&data);
        let model = BuiltinModel::new(&data);
        eprintln!(
            "{name}: {} derivations, vocabulary {}",
            model.derivations(),
            refinestat_synthesis::ProposalModel::vocabulary(&model).len()
        );
        for &mode in &modes {
            let start = Instant::now();
            let config = DecodeConfig {
                mode,
                grammar_bounds: bounds.clone(),
                max_sampled_tokens: max_tokens,
                ..DecodeConfig::default()
            };
            let gens: Vec<_> = match &local_path {
                None => (0..n)
                    .into_par_iter()
                    .map(|i| {
                        let mut m = model.clone();
                        let mut rng = program_rng(1, i as u64);
                        generate(&mut m, &prompt, &data, &config, &mut rng)
                    })
                    .collect(),
                // One model per worker: each program starts from the prompt, which resets the
                // KV cache, so results do not depend on which worker ran what.
                Some(path) => (0..n)
                    .into_par_iter()
                    .map_init(
                        || LocalModel::load(path, None).expect("the model loads"),
                        |m, i| {
                            let mut rng = program_rng(1, i as u64);
                            generate(m, &prompt, &data, &config, &mut rng)
                        },
                    )
                    .collect(),
            };
            let ms = start.elapsed().as_secs_f64() * 1000.0 / n as f64;
            let valid: Vec<bool> = gens
                .iter()
                .map(|g| check(&g.program, Some(&data)).is_empty())
                .collect();
            let completed = gens
                .iter()
                .filter(|g| g.stop == StopReason::Completed)
                .count();
            let closed = gens.iter().filter(|g| g.stop == StopReason::Closed).count();
            let log_lik = gens
                .iter()
                .zip(&valid)
                .filter(|(g, v)| {
                    **v && Model::from_source(&g.program, &data).is_ok_and(|m| m.n_log_lik() > 0)
                })
                .count();
            let fit_ok: Vec<bool> = if fit {
                gens.par_iter()
                    .enumerate()
                    .map(|(i, g)| fits(&g.program, &data, i as u64).is_ok())
                    .collect()
            } else {
                vec![false; n]
            };
            for (i, g) in gens.iter().enumerate().take(show) {
                eprintln!(
                    "--- {name} {} #{i} stop={:?} valid={} fit={}\n{}",
                    mode.as_str(),
                    g.stop,
                    valid[i],
                    fit_ok[i],
                    g.generated
                );
                if !valid[i] {
                    for d in check(&g.program, Some(&data)) {
                        eprintln!("    {}: {}", d.predicate, d.message);
                    }
                }
            }
            if fit {
                for (i, g) in gens.iter().enumerate() {
                    if valid[i] && !fit_ok[i] && mode == Mode::Refinestat {
                        eprintln!(
                            "FIT FAIL {name} #{i}: {:?}\n{}",
                            fits(&g.program, &data, i as u64).err(),
                            g.generated
                        );
                    }
                }
            }
            let mut by_predicate = std::collections::BTreeMap::new();
            for g in &gens {
                if let Some(d) = check(&g.program, Some(&data)).first() {
                    *by_predicate.entry(d.predicate.as_str()).or_insert(0) += 1;
                }
            }
            let mean = |f: &dyn Fn(&refinestat_synthesis::Generation) -> usize| {
                gens.iter().map(f).sum::<usize>() as f64 / n as f64
            };
            println!(
                "| {name} | {} | {n} | {completed} | {closed} | {} | {log_lik} | {} | {} | {:.0} | {:.1} | {:.2} | {:.1} | {} |",
                mode.as_str(),
                valid.iter().filter(|v| **v).count(),
                count_if(fit, fit_ok.iter().filter(|v| **v).count()),
                count_if(fit, valid.iter().zip(&fit_ok).filter(|(v, f)| **v && **f).count()),
                mean(&|g| g.tokens.sampled),
                mean(&|g| g.tokens.rejected),
                mean(&|g| g.backtracks),
                ms,
                by_predicate.iter().map(|(p, c)| format!("{p}: {c}")).collect::<Vec<_>>().join(", "),
            );
        }
    }
}

/// The adversarial proposal: a uniform distribution over the builtin vocabulary, refinestat mode.
fn uniform_table(n: usize, names: &[String]) {
    use refinestat_synthesis::{ProposalModel, UniformModel};
    println!("| dataset | programs | completed by the model | whole programs that pass check | not completed by the model (reason: count) | invalid returned as a program | tokens sampled (mean) |");
    println!("|---|---:|---:|---:|---|---:|---:|");
    for name in names {
        let data = dataset(name).expect("shipped dataset");
        let prompt = data_block(&data);
        let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
        let gens: Vec<_> = (0..n)
            .into_par_iter()
            .map(|i| {
                let mut m = UniformModel::new(vocabulary.clone());
                let mut rng = program_rng(1, i as u64);
                generate(&mut m, &prompt, &data, &DecodeConfig::default(), &mut rng)
            })
            .collect();
        let whole: Vec<bool> = gens.iter().map(|g| g.stop.is_program()).collect();
        let valid: Vec<bool> = gens
            .iter()
            .map(|g| check(&g.program, Some(&data)).is_empty())
            .collect();
        for g in gens
            .iter()
            .filter(|g| g.stop == StopReason::Completed)
            .take(3)
        {
            eprintln!("--- {name} uniform, completed: {:?}", g.generated);
        }
        let mut reasons = std::collections::BTreeMap::new();
        for g in gens.iter().filter(|g| g.stop != StopReason::Completed) {
            let reason = match &g.closed_after {
                Some(budget) => format!("closed after {}", budget.as_str()),
                None => g.stop.as_str().to_string(),
            };
            *reasons.entry(reason).or_insert(0) += 1;
        }
        let reasons: Vec<String> = reasons.iter().map(|(r, c)| format!("{r}: {c}")).collect();
        println!(
            "| {name} | {n} | {} | {} | {} | {} | {:.0} |",
            gens.iter()
                .filter(|g| g.stop == StopReason::Completed)
                .count(),
            whole.iter().zip(&valid).filter(|(w, v)| **w && **v).count(),
            reasons.join(", "),
            whole
                .iter()
                .zip(&valid)
                .filter(|(w, v)| **w && !**v)
                .count(),
            gens.iter().map(|g| g.tokens.sampled).sum::<usize>() as f64 / n as f64,
        );
    }
}
