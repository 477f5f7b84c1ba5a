//! The constrained decoder with the built-in and an adversarial proposal model: validity by
//! construction, stop reasons, token accounting and reproducibility.

mod common;

use common::{config, run};
use refinestat_language::{check, check_prefix, parse, Data};
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{
    data_block, proposal_from_spec, BuiltinModel, DecodeConfig, Mode, ProposalError, ProposalModel,
    StopReason, UniformModel,
};

#[test]
fn refinestat_mode_writes_only_valid_programs_on_every_dataset() {
    for name in DATASET_NAMES {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::new(&data);
        for seed in 0..20 {
            let out = run(&mut model.clone(), &data, &config(Mode::Refinestat), seed);
            assert_eq!(
                out.stop,
                StopReason::Completed,
                "{name} seed {seed}:\n{}",
                out.program
            );
            let diags = check(&out.program, Some(&data));
            assert!(
                diags.is_empty(),
                "{name} seed {seed}: {diags:?}\n{}",
                out.program
            );
            assert!(out.program.starts_with(&data_block(&data)));
            assert!(
                out.generated.contains("model {"),
                "{name}: {}",
                out.generated
            );
        }
    }
}

#[test]
fn syntax_mode_programs_parse() {
    for name in ["eight_schools", "glm"] {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::new(&data);
        for seed in 0..10 {
            let out = run(&mut model.clone(), &data, &config(Mode::Syntax), seed);
            assert_eq!(out.stop, StopReason::Completed);
            assert!(parse(&out.program).errors.is_empty(), "{}", out.program);
        }
    }
}

/// A uniform distribution over the vocabulary is the worst proposal: refinestat mode must still
/// never return an invalid program. With closing (the default) every generation ends in a program
/// that passes the full check; without it, whatever stops short is a valid prefix.
#[test]
fn adversarial_uniform_model_never_yields_an_invalid_program() {
    for close_on_budget in [true, false] {
        let budget = DecodeConfig {
            mode: Mode::Refinestat,
            max_sampled_tokens: 300,
            close_on_budget,
            ..DecodeConfig::default()
        };
        let mut stops = Vec::new();
        for name in DATASET_NAMES {
            let data = dataset(name).unwrap();
            let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
            for seed in 0..4 {
                let mut uniform = UniformModel::new(vocabulary.clone());
                let out = run(&mut uniform, &data, &budget, seed);
                assert_eq!(
                    out.tokens.sampled,
                    out.tokens.accepted + out.tokens.rejected
                );
                assert!(out.tokens.sampled <= 300);
                if out.stop.is_program() {
                    assert!(
                        check(&out.program, Some(&data)).is_empty(),
                        "{}",
                        out.program
                    );
                } else {
                    let diags = check_prefix(&out.program, Some(&data));
                    assert!(diags.is_empty(), "{name}: {diags:?}\n{}", out.program);
                }
                assert_eq!(out.stop == StopReason::Closed, out.closed_after.is_some());
                assert_eq!(out.stop == StopReason::Closed, out.tokens.forced > 0);
                stops.push(out.stop);
            }
        }
        // The budget is far too small for random tokens to finish a program with a model block:
        // the decoder closes them, or (without closing) they stop short.
        if close_on_budget {
            assert!(stops.iter().all(StopReason::is_program), "{stops:?}");
            assert!(stops.contains(&StopReason::Closed));
        } else {
            assert!(stops.iter().any(|s| *s != StopReason::Completed));
            assert!(!stops.contains(&StopReason::Closed));
        }
    }
}

/// Closing holds in `syntax` mode too: the uniform adversary's programs, closed or not, parse
/// and have a model block (what that mode promises), under the default and the compact bounds.
#[test]
fn syntax_mode_programs_of_the_uniform_adversary_are_whole_and_parse() {
    for bounds in [
        refinestat_synthesis::GrammarBounds::default(),
        refinestat_synthesis::GrammarBounds::compact(),
    ] {
        let cfg = DecodeConfig {
            mode: Mode::Syntax,
            max_sampled_tokens: 300,
            grammar_bounds: bounds,
            ..DecodeConfig::default()
        };
        for name in ["gp", "surgical"] {
            let data = dataset(name).unwrap();
            let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
            for seed in 0..3 {
                let out = run(
                    &mut UniformModel::new(vocabulary.clone()),
                    &data,
                    &cfg,
                    seed,
                );
                assert!(out.stop.is_program(), "{:?}", out.stop);
                let parsed = parse(&out.program);
                assert!(
                    parsed.errors.is_empty(),
                    "{:?}\n{}",
                    parsed.errors,
                    out.program
                );
                assert!(parsed.program.model.is_some(), "{}", out.program);
            }
        }
    }
}

/// A closed program keeps the statements the proposal finished: closing appends braces (and a
/// model block) at a statement boundary the decoder reached, nothing else.
#[test]
fn closing_appends_only_braces_and_an_empty_model_block() {
    let data = dataset("dugongs").unwrap();
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let config = DecodeConfig {
        mode: Mode::Refinestat,
        max_sampled_tokens: 200,
        ..DecodeConfig::default()
    };
    let mut closed = 0;
    for seed in 0..6 {
        let mut uniform = UniformModel::new(vocabulary.clone());
        let out = run(&mut uniform, &data, &config, seed);
        if out.stop != StopReason::Closed {
            continue;
        }
        closed += 1;
        let kept = out
            .program
            .trim_end()
            .trim_end_matches(|c: char| c == '}' || c.is_whitespace());
        let kept = kept
            .strip_suffix("model {")
            .or_else(|| kept.strip_suffix("model\n{"))
            .or_else(|| kept.strip_suffix("model{"))
            .unwrap_or(kept);
        assert!(
            check_prefix(kept, Some(&data)).is_empty(),
            "{kept}\n(closed: {})",
            out.program
        );
    }
    assert!(closed > 0);
}

/// The same adversary unconstrained writes invalid text, so the test above is not vacuous.
#[test]
fn adversarial_uniform_model_in_standard_mode_writes_invalid_programs() {
    let data = dataset("eight_schools").unwrap();
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let cfg = DecodeConfig {
        mode: Mode::Standard,
        max_sampled_tokens: 300,
        ..DecodeConfig::default()
    };
    let invalid = (0..5)
        .filter(|&seed| {
            let out = run(
                &mut UniformModel::new(vocabulary.clone()),
                &data,
                &cfg,
                seed,
            );
            assert_eq!(out.tokens.rejected, 0);
            !check(&out.program, Some(&data)).is_empty()
        })
        .count();
    assert_eq!(invalid, 5);
}

#[test]
fn same_seed_same_program_and_counts() {
    let data = dataset("dugongs").unwrap();
    let model = BuiltinModel::new(&data);
    for mode in [Mode::Standard, Mode::Syntax, Mode::Refinestat] {
        let a = run(&mut model.clone(), &data, &config(mode), 7);
        let b = run(&mut model.clone(), &data, &config(mode), 7);
        assert_eq!(a, b);
    }
    let programs: std::collections::BTreeSet<String> = (0..8)
        .map(|seed| run(&mut model.clone(), &data, &config(Mode::Refinestat), seed).generated)
        .collect();
    assert!(programs.len() >= 4, "{} distinct programs", programs.len());
}

#[test]
fn token_counts_add_up() {
    let data = dataset("surgical").unwrap();
    let mut model = BuiltinModel::new(&data);
    let out = run(&mut model, &data, &config(Mode::Refinestat), 3);
    let t = out.tokens;
    assert_eq!(t.sampled, t.accepted + t.rejected);
    // The prompt's lexemes: `data {`, and 3 declarations, each counted with its whitespace.
    assert_eq!(
        t.prompt,
        model.vocabulary().encode(&data_block(&data)).len()
    );
    assert!(t.prompt > 20, "{}", t.prompt);
    // Without backtracking every accepted token (and end-of-program) stays in the program.
    if out.backtracks == 0 {
        assert_eq!(
            t.accepted,
            model.vocabulary().encode(&out.generated).len() + 1
        );
    }
}

#[test]
fn temperature_zero_is_treated_as_one_and_high_temperature_still_valid() {
    let data = dataset("gp").unwrap();
    let model = BuiltinModel::new(&data);
    let hot = DecodeConfig {
        temperature: 3.0,
        max_sampled_tokens: 1500,
        ..config(Mode::Refinestat)
    };
    for seed in 0..2 {
        let out = run(&mut model.clone(), &data, &hot, seed);
        if out.stop == StopReason::Completed {
            assert!(check(&out.program, Some(&data)).is_empty());
        }
    }
    let zero = DecodeConfig {
        temperature: 0.0,
        ..config(Mode::Refinestat)
    };
    let one = config(Mode::Refinestat);
    assert_eq!(
        run(&mut model.clone(), &data, &zero, 1),
        run(&mut model.clone(), &data, &one, 1)
    );
}

#[test]
fn lm_specs_resolve_or_explain_why_not() {
    let data = dataset("eight_schools").unwrap();
    assert!(proposal_from_spec("builtin", &data, None).is_ok());
    // The backends of their own crates (refinestat-local, refinestat-openai) are resolved by the
    // binary built with their features; here they say which feature adds them.
    for (spec, feature) in [
        ("local:/no/such/model-dir", "local"),
        ("local:", "local"),
        ("openai:http://localhost:8000#model=x", "openai"),
        ("spfn:ckpt", "spfn"),
    ] {
        let err = proposal_from_spec(spec, &data, None).unwrap_err();
        assert!(
            matches!(err, ProposalError::NotBuilt { .. }),
            "{spec}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(spec)
                && msg.contains(&format!("cargo build --release --features {feature}")),
            "{msg}"
        );
    }
    assert!(matches!(
        proposal_from_spec("gpt", &data, None),
        Err(ProposalError::UnknownSpec(_))
    ));
}

/// Data beyond the five benchmarks: names that clash with the grammar's parameter names, counts
/// with a predictor, a lone real series, {0,1} outcomes, and nothing to model at all.
#[test]
fn refinestat_mode_is_valid_on_other_data_shapes() {
    let datasets = [
        r#"{"N": 5, "y": [1.2, 0.3, -0.5, 2.2, 1.1], "x": [1, 2, 3, 4, 5], "mu": 1.0, "sigma": 2.0, "alpha": 0.5, "K": 3}"#,
        r#"{"N": 6, "x": [0.1, 0.5, 0.9, 1.3, 1.7, 2.1], "k": [0, 2, 1, 4, 7, 9]}"#,
        r#"{"T": 4, "z": [3.5, 4.1, 2.9, 5.0]}"#,
        r#"{"N": 5, "b": [0, 1, 1, 0, 1], "theta": 2}"#,
        r#"{"K": 3}"#,
    ];
    for text in datasets {
        let data = Data::from_json_str(text).unwrap();
        let model = BuiltinModel::new(&data);
        for seed in 0..4 {
            let out = run(&mut model.clone(), &data, &config(Mode::Refinestat), seed);
            assert_eq!(out.stop, StopReason::Completed, "{text}:\n{}", out.program);
            let diags = check(&out.program, Some(&data));
            assert!(diags.is_empty(), "{text}: {diags:?}\n{}", out.program);
        }
    }
}

/// A model that only ever proposes end-of-program: the data block alone is a valid program but
/// not a model, so refinestat mode finds no valid token; standard mode ends at once.
struct OnlyEos(refinestat_synthesis::Vocabulary);

impl ProposalModel for OnlyEos {
    fn vocabulary(&self) -> &refinestat_synthesis::Vocabulary {
        &self.0
    }
    fn next_token_logprobs(
        &mut self,
        _prompt: &[refinestat_synthesis::TokenId],
        _generated: &[refinestat_synthesis::TokenId],
        logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        logprobs.fill(f64::NEG_INFINITY);
        logprobs[self.0.eos() as usize] = 0.0;
        Ok(())
    }
}

#[test]
fn end_of_program_needs_a_model_block() {
    let data = dataset("surgical").unwrap();
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let out = run(
        &mut OnlyEos(vocabulary.clone()),
        &data,
        &config(Mode::Refinestat),
        1,
    );
    // The grammar masks end-of-program before a model block: nothing is even drawn, and the
    // decoder closes the program with an empty model block.
    assert_eq!(out.stop, StopReason::Closed);
    assert_eq!(out.closed_after, Some(StopReason::NoValidToken));
    assert_eq!(
        out.generated.split_whitespace().collect::<Vec<_>>(),
        ["model", "{", "}"]
    );
    assert_eq!((out.tokens.sampled, out.tokens.rejected), (0, 0));
    assert!(check(&out.program, Some(&data)).is_empty());
    let no_closing = DecodeConfig {
        close_on_budget: false,
        ..config(Mode::Refinestat)
    };
    let out = run(&mut OnlyEos(vocabulary.clone()), &data, &no_closing, 1);
    assert_eq!(out.stop, StopReason::NoValidToken);
    assert_eq!(out.generated, "");
    // Without masks the full check refuses it.
    let unmasked = DecodeConfig {
        grammar_mask: false,
        ..no_closing.clone()
    };
    let out = run(&mut OnlyEos(vocabulary.clone()), &data, &unmasked, 1);
    assert_eq!(out.stop, StopReason::NoValidToken);
    assert_eq!((out.tokens.sampled, out.tokens.rejected), (1, 1));
    let out = run(&mut OnlyEos(vocabulary), &data, &config(Mode::Standard), 1);
    assert_eq!(out.stop, StopReason::Completed);
    assert_eq!((out.tokens.sampled, out.tokens.accepted), (1, 1));
}

/// A much sloppier grammar (half its scales declared without `<lower=0>`, half its likelihoods
/// outside their support): refinestat mode still completes valid programs, by backtracking to
/// the declarations the violations blame.
#[test]
fn sloppy_grammar_is_repaired_by_backtracking() {
    let sloppy = refinestat_synthesis::BuiltinConfig {
        sloppiness: 0.5,
        ..Default::default()
    };
    let mut backtracks = 0;
    for name in ["eight_schools", "dugongs"] {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::with_config(&data, &sloppy);
        for seed in 0..6 {
            let out = run(&mut model.clone(), &data, &config(Mode::Refinestat), seed);
            assert_eq!(out.stop, StopReason::Completed, "{name}:\n{}", out.program);
            assert!(
                check(&out.program, Some(&data)).is_empty(),
                "{}",
                out.program
            );
            backtracks += out.backtracks;
        }
    }
    assert!(backtracks > 0);
}

struct Failing(refinestat_synthesis::Vocabulary);

impl ProposalModel for Failing {
    fn vocabulary(&self) -> &refinestat_synthesis::Vocabulary {
        &self.0
    }
    fn next_token_logprobs(
        &mut self,
        _prompt: &[refinestat_synthesis::TokenId],
        _generated: &[refinestat_synthesis::TokenId],
        _logprobs: &mut [f64],
    ) -> Result<(), ProposalError> {
        Err(ProposalError::Backend("connection refused".into()))
    }
}

#[test]
fn a_failing_model_stops_with_its_error() {
    let data = dataset("gp").unwrap();
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let out = run(
        &mut Failing(vocabulary),
        &data,
        &config(Mode::Refinestat),
        1,
    );
    assert_eq!(
        out.stop,
        StopReason::ModelError("proposal model failed: connection refused".into())
    );
    assert_eq!(out.tokens.sampled, 0);
}
