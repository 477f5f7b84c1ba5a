//! The compiled program grammar: it accepts every program of the repository and every program
//! the built-in model writes, refuses text beyond its bounds, and as a mask lets even a uniform
//! proposal finish valid programs.

mod common;

use common::{config, run};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use refinestat_language::{check, parse, Data};
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::grammar::{grammar_accepts, lark_grammar};
use refinestat_synthesis::{
    data_block, generate, BuiltinModel, DecodeConfig, Grammar, GrammarError, GrammarOptions, Mode,
    ProposalModel, StopReason, UniformModel, Vocabulary,
};
use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.stan` file directly in `dir` (relative to the repository root).
fn stan_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stan"))
        .collect();
    files.sort();
    files
}

/// Files written by people: comments, and no model block needed.
fn any_program() -> GrammarOptions {
    GrammarOptions {
        require_model_block: false,
        comments: true,
        ..GrammarOptions::default()
    }
}

#[test]
fn every_example_and_test_program_is_in_the_grammar() {
    let dirs = [
        "examples",
        "examples/sbc",
        "crates/language/tests/data/parser/valid",
        "crates/language/tests/data/check/valid",
        "crates/cli/tests/data/sbc",
        "scripts/bench_peers/stan",
    ];
    let mut count = 0;
    let mut outside = Vec::new();
    for dir in dirs {
        for file in stan_files(dir) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(parse(&text).errors.is_empty(), "{}", file.display());
            // The proposal grammar has no `functions` block: user-defined functions are for
            // programs people write (`check`, `sample`), never proposed.
            if parse(&text).program.functions.is_some() {
                continue;
            }
            if let Err(e) = grammar_accepts(&text, &any_program()) {
                outside.push(format!("{}: {e}", file.display()));
            }
            count += 1;
        }
    }
    assert!(outside.is_empty(), "{}", outside.join("\n"));
    assert!(count >= 50, "only {count} programs found");
}

#[test]
fn the_language_crates_invalid_syntax_files_are_outside_the_grammar() {
    for file in stan_files("crates/language/tests/data/parser/invalid") {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(
            grammar_accepts(&text, &any_program()).is_err(),
            "{}",
            file.display()
        );
    }
}

/// The built-in model's heaviest derivations and a spread of the others, after their prompt.
#[test]
fn built_in_derivations_are_in_the_grammar() {
    for name in DATASET_NAMES {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::new(&data);
        let prompt = data_block(&data);
        let mut programs: Vec<(String, f64)> = model.programs().collect();
        programs.sort_by(|a, b| b.1.total_cmp(&a.1));
        let stride = (programs.len() / 20).max(1);
        let chosen = programs
            .iter()
            .take(10)
            .chain(programs.iter().step_by(stride));
        for (generated, _) in chosen {
            let program = format!("{prompt}{generated}");
            if let Err(e) = grammar_accepts(&program, &GrammarOptions::default()) {
                panic!("{name}: {e}\n{program}");
            }
        }
    }
}

/// Compact bounds take only a variable, indexed or not, on the left of `~`; the default bounds
/// take any operand.
#[test]
fn compact_bounds_take_only_a_variable_left_of_tilde() {
    let compact = GrammarOptions {
        bounds: refinestat_synthesis::GrammarBounds::compact(),
        ..GrammarOptions::default()
    };
    let program =
        |statement: &str| format!("data {{\n  vector[3] y;\n}}\nmodel {{\n  {statement}\n}}\n");
    for plain in ["y ~ normal(0, 1);", "y[1] ~ normal(0, 1);"] {
        assert_eq!(
            grammar_accepts(&program(plain), &compact),
            Ok(()),
            "{plain}"
        );
    }
    for operand in ["(y - 1) ~ normal(0, 1);", "exp(y) ~ normal(0, 1);"] {
        assert!(
            grammar_accepts(&program(operand), &compact).is_err(),
            "{operand}"
        );
        assert_eq!(
            grammar_accepts(&program(operand), &GrammarOptions::default()),
            Ok(()),
            "{operand}"
        );
    }
}

#[test]
fn text_beyond_a_bound_is_refused() {
    let options = GrammarOptions::default();
    let bounds = &options.bounds;
    let program = |statements: usize| {
        let body: String = (0..statements).map(|_| "  y ~ normal(0, 1);\n").collect();
        format!("data {{\n  real y;\n}}\nmodel {{\n{body}}}\n")
    };
    assert_eq!(
        grammar_accepts(&program(bounds.statements_per_block), &options),
        Ok(())
    );
    assert!(matches!(
        grammar_accepts(&program(bounds.statements_per_block + 1), &options),
        Err(GrammarError::Rejected { .. })
    ));
    // The data block is the prompt: any number of declarations.
    let many: String = (0..100).map(|i| format!("  real y{i};\n")).collect();
    let text = format!("data {{\n{many}}}\nmodel {{\n  y1 ~ normal(0, 1);\n}}\n");
    assert_eq!(grammar_accepts(&text, &options), Ok(()));
    // Identifiers and expressions.
    let long = "a".repeat(bounds.identifier_chars + 1);
    let text = format!("data {{\n  real y;\n}}\nmodel {{\n  real {long} = 1;\n}}\n");
    assert!(grammar_accepts(&text, &options).is_err());
    let nested = format!(
        "{}y{}",
        "(".repeat(bounds.expression_depth + 1),
        ")".repeat(bounds.expression_depth + 1)
    );
    let text = format!("data {{\n  real y;\n}}\nmodel {{\n  target += {nested};\n}}\n");
    assert!(grammar_accepts(&text, &options).is_err());
    let chain = vec!["y"; bounds.chain_operands + 1].join(" + ");
    let text = format!("data {{\n  real y;\n}}\nmodel {{\n  target += {chain};\n}}\n");
    assert!(grammar_accepts(&text, &options).is_err());
    let spaces = " ".repeat(bounds.whitespace_chars + 1);
    let text = format!("data {{\n  real y;\n}}\nmodel {{{spaces}target += y;\n}}\n");
    assert!(grammar_accepts(&text, &options).is_err());
    // A long data name is usable after the data block even beyond the identifier bound.
    let text = format!("data {{\n  real {long};\n}}\nmodel {{\n  {long} ~ normal(0, 1);\n}}\n");
    assert_eq!(grammar_accepts(&text, &options), Ok(()));
}

#[test]
fn a_model_block_is_required_unless_switched_off() {
    let text = "data {\n  real y;\n}\nparameters {\n  real mu;\n}\n";
    assert_eq!(
        grammar_accepts(text, &GrammarOptions::default()),
        Err(GrammarError::Unfinished)
    );
    assert_eq!(grammar_accepts(text, &any_program()), Ok(()));
    // Words need a separator where Stan's lexer would merge them.
    let merged = "data {\n  realy;\n}\nmodel {\n}\n";
    assert!(grammar_accepts(merged, &any_program()).is_err());
    assert!(lark_grammar(&any_program(), &[]).contains("model_block?"));
}

/// Masks follow tokens, roll back with them, and never allow an empty token.
#[test]
fn grammar_state_masks_consumes_and_rolls_back() {
    let texts: Vec<String> = [
        "</s>", "", "model", " ", "{", "}", "\n", "real", "x", ";", "}", ")",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let vocabulary = Vocabulary::new(texts, 0);
    let grammar = Grammar::new(&vocabulary, &GrammarOptions::default()).unwrap();
    let mut state = grammar.start("data {\n  real y;\n}\n").unwrap();
    let allowed = |state: &mut refinestat_synthesis::GrammarState| {
        let mut w = vec![1.0; vocabulary.len()];
        state.mask_weights(&mut w).unwrap();
        (0..w.len())
            .filter(|&i| w[i] > 0.0)
            .map(|i| vocabulary.text(i as u32).to_string())
            .collect::<Vec<_>>()
    };
    // After the data block: a model block (or whitespace); no end yet, no empty token.
    assert_eq!(allowed(&mut state), vec!["model", " ", "\n"]);
    assert!(!state.is_accepting());
    for t in ["model", " ", "{"] {
        assert!(state.consume(vocabulary.id(t).unwrap()).unwrap());
    }
    // `)` cannot start a statement (a keyword could still grow into a name); `}` can.
    assert!(!state.consume(vocabulary.id(")").unwrap()).unwrap());
    assert!(state.consume(vocabulary.id("}").unwrap()).unwrap());
    assert!(state.is_accepting());
    let ends = allowed(&mut state);
    assert!(ends.contains(&String::new()), "{ends:?}"); // end-of-program
    state.rollback(2).unwrap();
    assert_eq!(state.generated(), 2);
    assert!(!state.is_accepting());
    assert!(allowed(&mut state).contains(&"{".to_string()));
    // Two texts for one token: both follow the mask.
    assert_eq!(vocabulary.id("}"), Some(5));
    let mut w = vec![1.0; vocabulary.len()];
    state.consume(vocabulary.id("{").unwrap()).unwrap();
    state.mask_weights(&mut w).unwrap();
    assert!(w[5] > 0.0 && w[10] > 0.0);
    assert_eq!(w[1], 0.0);
}

#[test]
fn builtin_model_with_masks_completes_valid_programs() {
    for name in DATASET_NAMES {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::new(&data);
        for seed in 0..24 {
            let mode = if seed % 4 == 3 {
                Mode::Syntax
            } else {
                Mode::Refinestat
            };
            let out = run(&mut model.clone(), &data, &config(mode), seed);
            assert_eq!(out.stop, StopReason::Completed, "{name} {seed}");
            assert_eq!(out.grammar_unavailable, None);
            assert!(out.masks > 0);
            let valid = match mode {
                Mode::Syntax => parse(&out.program).errors.is_empty(),
                _ => check(&out.program, Some(&data)).is_empty(),
            };
            assert!(valid, "{name} {seed}:\n{}", out.program);
        }
    }
}

/// Rejected draws over sampled draws of uniform proposals over `vocabulary` in `syntax` mode,
/// masked or not (in `refinestat` mode most rejections are semantic, which no grammar removes);
/// every completed program is valid and every stopped one a valid prefix, in both modes.
fn uniform_rejection_rate(vocabulary: &Vocabulary, data: &Data, mask: bool) -> f64 {
    let (mut rejected, mut sampled) = (0, 0);
    for (seed, mode) in [
        (0, Mode::Syntax),
        (3, Mode::Syntax),
        (1, Mode::Refinestat),
        (2, Mode::Refinestat),
    ] {
        let cfg = DecodeConfig {
            grammar_mask: mask,
            max_sampled_tokens: 300,
            ..config(mode)
        };
        let out = run(&mut UniformModel::new(vocabulary.clone()), data, &cfg, seed);
        assert_eq!(
            out.tokens.sampled,
            out.tokens.accepted + out.tokens.rejected
        );
        assert_eq!(out.masks > 0, mask);
        let problems = match (mode, out.stop == StopReason::Completed) {
            (Mode::Syntax, true) => parse(&out.program).errors,
            (Mode::Syntax, false) => refinestat_language::parse_prefix(&out.program).errors,
            (_, true) => check(&out.program, Some(data)),
            (_, false) => refinestat_language::check_prefix(&out.program, Some(data)),
        };
        assert!(
            problems.is_empty(),
            "{mode:?}: {problems:?}\n{}",
            out.program
        );
        if mode == Mode::Syntax {
            rejected += out.tokens.rejected;
            sampled += out.tokens.sampled;
        }
    }
    rejected as f64 / sampled.max(1) as f64
}

/// The worst proposal: under masks nearly every draw is grammatical, so far fewer are rejected,
/// and whatever it writes stays valid. (It still rarely finishes within the default budgets:
/// bounded is not small, see the grammar module.)
#[test]
fn uniform_model_under_masks_wastes_fewer_draws() {
    let data = dataset("eight_schools").unwrap();
    let vocabulary = BuiltinModel::new(&data).vocabulary().clone();
    let masked = uniform_rejection_rate(&vocabulary, &data, true);
    let unmasked = uniform_rejection_rate(&vocabulary, &data, false);
    assert!(
        masked * 3.0 < unmasked,
        "masked {masked:.3}, unmasked {unmasked:.3}"
    );
}

/// Single characters beside the lexemes: names and numbers can be spelt letter by letter.
#[test]
fn uniform_model_over_characters_and_lexemes_wastes_fewer_draws() {
    let data = dataset("surgical").unwrap();
    let builtin = BuiltinModel::new(&data);
    let lexemes = builtin.vocabulary();
    let mut texts: Vec<String> = (0..lexemes.len() as u32)
        .map(|id| lexemes.text(id).to_string())
        .collect();
    texts[lexemes.eos() as usize] = "</s>".into();
    texts.extend((0x20u8..0x7f).map(|b| (b as char).to_string()));
    texts.push("\n".into());
    let vocabulary = Vocabulary::new(texts, 0);
    let masked = uniform_rejection_rate(&vocabulary, &data, true);
    let unmasked = uniform_rejection_rate(&vocabulary, &data, false);
    assert!(
        masked * 2.0 < unmasked,
        "masked {masked:.3}, unmasked {unmasked:.3}"
    );
}

#[test]
fn a_prompt_outside_the_grammar_runs_unmasked() {
    let data = dataset("eight_schools").unwrap();
    let mut model = BuiltinModel::new(&data);
    // Forty spaces and more inside the prompt are beyond no bound (the data block is free), but
    // a parameters block with more statements than the bound is.
    let many: String = (0..20).map(|i| format!("  real p{i};\n")).collect();
    let prompt = format!("{}parameters {{\n{many}}}\n", data_block(&data));
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let out = generate(&mut model, &prompt, &data, &config(Mode::Syntax), &mut rng);
    assert!(out.grammar_unavailable.is_some());
    assert_eq!(out.masks, 0);
    let standard = run(&mut model, &data, &config(Mode::Standard), 1);
    assert_eq!((standard.masks, standard.grammar_unavailable), (0, None));
}

/// With the distribution predicate switched off the grammar takes any name after `~` and in a
/// call, the library's longest included (longer than the variable-name bound).
#[test]
fn any_callable_name_takes_made_up_and_long_library_names() {
    let head = "data {\n  int N;\n  vector[N] y;\n  matrix[N, N] S;\n}\nparameters {\n  real mu;\n}\nmodel {\n";
    let made_up = format!("{head}  y ~ normall(mu, 1);\n}}\n");
    let long = format!(
        "{head}  matrix[N, N] L = cholesky_decompose(S);\n  y ~ multi_normal_cholesky(rep_vector(mu, N), L);\n}}\n"
    );
    let any = GrammarOptions {
        any_callable_name: true,
        ..GrammarOptions::default()
    };
    assert!(grammar_accepts(&made_up, &GrammarOptions::default()).is_err());
    assert_eq!(grammar_accepts(&made_up, &any), Ok(()));
    assert_eq!(grammar_accepts(&long, &GrammarOptions::default()), Ok(()));
    assert_eq!(grammar_accepts(&long, &any), Ok(()));
}
