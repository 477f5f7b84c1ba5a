//! The refinement loop with a scripted fitter: the resampling order (L alpha times, then P), the
//! canonical-program cache, the stopping rules and both selection rules; and the P/L split.

use refinestat_language::{canonical, check, parse, Data};
use refinestat_synthesis::{
    likelihood_start, refine, structure_key, Assessment, AttemptKind, BuiltinModel, Fitter,
    RefineConfig, RefineStop, Selection,
};

/// Returns scripted (score, elpd) pairs in fit order (the last one repeats), recording programs.
struct Scripted {
    script: Vec<(u8, f64)>,
    fitted: Vec<String>,
}

impl Scripted {
    fn new(script: &[(u8, f64)]) -> Scripted {
        Scripted {
            script: script.to_vec(),
            fitted: Vec::new(),
        }
    }
}

impl Fitter for Scripted {
    fn fit(&mut self, program: &str, _data: &Data) -> Assessment {
        let (score, elpd) = self.script[self.fitted.len().min(self.script.len() - 1)];
        self.fitted.push(program.to_string());
        Assessment {
            score,
            elpd_loo: Some(elpd),
            summary: None,
            error: None,
        }
    }
}

fn regression_data() -> Data {
    Data::from_json_str(
        r#"{"N": 8, "x": [0.1, 0.5, 0.9, 1.4, 2.0, 2.2, 3.1, 3.5],
            "y": [1.0, 1.9, 2.4, 3.6, 4.8, 5.1, 7.2, 7.7]}"#,
    )
    .unwrap()
}

fn run(
    data: &Data,
    fitter: &mut dyn Fitter,
    config: &RefineConfig,
) -> refinestat_synthesis::RefineOutcome {
    let mut model = BuiltinModel::new(data);
    let mut seen = 0;
    let outcome = refine(&mut model, data, fitter, config, &mut |a, _| {
        assert_eq!(a.index, seen, "attempts are reported in order");
        seen += 1;
    });
    assert_eq!(seen, outcome.attempts.len());
    outcome
}

#[test]
fn failed_programs_resample_the_likelihood_alpha_times_then_the_prior() {
    let data = regression_data();
    let mut fitter = Scripted::new(&[(2, -10.0)]);
    let config = RefineConfig {
        rmax: 7,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    let kinds: Vec<AttemptKind> = out.attempts.iter().map(|a| a.kind).collect();
    use AttemptKind::{Full, Likelihood};
    assert_eq!(
        kinds,
        [Full, Likelihood, Likelihood, Full, Likelihood, Likelihood, Full]
    );
    assert_eq!(out.stop, RefineStop::NoValidProgram);
    assert_eq!(out.best, None);
    // A likelihood attempt keeps D || P of the full attempt before it, byte for byte.
    for (full, resample) in [(0, 1), (0, 2), (3, 4), (3, 5)] {
        let parent = &out.attempts[full].program;
        let kept = &parent[..likelihood_start(parent).expect("the builtin writes a likelihood")];
        assert!(out.attempts[resample].program.starts_with(kept));
        assert!(check(&out.attempts[resample].program, Some(&data)).is_empty());
    }
    // Tokens: the total is the sum over attempts (redrawn likelihoods count in their attempt),
    // and a likelihood attempt's prompt is longer.
    let sampled: usize = out.attempts.iter().map(|a| a.tokens.sampled).sum();
    assert_eq!(out.tokens.sampled, sampled);
    assert!(out.attempts[1].tokens.prompt > out.attempts[0].tokens.prompt);
}

#[test]
fn a_canonical_program_is_fitted_once() {
    let data = regression_data();
    let mut fitter = Scripted::new(&[(3, -10.0)]);
    let config = RefineConfig {
        rmax: 30,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    let keys: Vec<String> = fitter
        .fitted
        .iter()
        .map(|p| canonical(&parse(p).program))
        .collect();
    let distinct: std::collections::HashSet<&String> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "a program was fitted twice");
    assert_eq!(out.fits, fitter.fitted.len());
    let cached = out.attempts.iter().filter(|a| a.cached).count();
    assert!(
        cached > 0,
        "30 attempts of a small grammar repeat a program"
    );
    let fitted_attempts = out
        .attempts
        .iter()
        .filter(|a| a.candidate.is_some())
        .count();
    assert_eq!(fitted_attempts, cached + out.fits);
}

#[test]
fn selection_takes_the_highest_elpd_among_valid_programs() {
    let data = regression_data();
    // First candidate invalid (score 4 < k = 5) despite the best ELPD; then four valid ones.
    let script = [(4, -1.0), (7, -50.0), (6, -20.0), (7, -30.0), (5, -40.0)];
    let mut fitter = Scripted::new(&script);
    let out = run(&data, &mut fitter, &RefineConfig::default());
    assert_eq!(out.stop, RefineStop::BetaReached);
    assert_eq!(out.fits, 5);
    assert_eq!(out.candidates.iter().filter(|c| c.valid).count(), 4);
    assert_eq!(out.best, Some(2));
    assert_eq!(out.candidates[2].assessment.elpd_loo, Some(-20.0));
    let config = RefineConfig::default();
    assert!(out
        .not_chosen_reason(0, &config)
        .unwrap()
        .contains("below k = 5"));
    assert_eq!(out.not_chosen_reason(2, &config), None);

    let mut fitter = Scripted::new(&script);
    let config = RefineConfig {
        select: Selection::ScoreThenElpd,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    // Score 7 twice: -30 beats -50.
    assert_eq!(out.best, Some(3));
}

#[test]
fn the_loop_stops_at_rmax_and_runs_are_reproducible() {
    let data = regression_data();
    let config = RefineConfig {
        rmax: 5,
        beta: 100,
        seed: 7,
        ..RefineConfig::default()
    };
    let a = run(&data, &mut Scripted::new(&[(7, -3.0)]), &config);
    let b = run(&data, &mut Scripted::new(&[(7, -3.0)]), &config);
    assert_eq!(a.stop, RefineStop::RmaxReached);
    assert_eq!(a.attempts.len(), 5);
    let programs = |o: &refinestat_synthesis::RefineOutcome| {
        o.attempts
            .iter()
            .map(|x| x.program.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(programs(&a), programs(&b));
    assert_eq!(a.tokens, b.tokens);
}

#[test]
fn likelihood_starts_at_the_first_statement_on_data() {
    let program = "data {\n  int<lower=0> N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n  real<lower=0> sigma;\n}\nmodel {\n  mu ~ normal(0, 10);\n  for (n in 1:N) {\n    y[n] ~ normal(mu, sigma);\n  }\n  sigma ~ exponential(1);\n}\n";
    let at = likelihood_start(program).unwrap();
    assert_eq!(&program[at..at + 6], "for (n");
    assert!(program[..at].ends_with("mu ~ normal(0, 10);\n  "));

    let target = "data {\n  int<lower=0> N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n}\nmodel {\n  target += normal_lpdf(mu | 0, 1);\n  target += normal_lpdf(y | mu, 1);\n}\n";
    let at = likelihood_start(target).unwrap();
    assert!(target[at..].starts_with("target += normal_lpdf(y |"));

    // No statement on data, or no parse: no split.
    assert_eq!(
        likelihood_start("parameters {\n  real mu;\n}\nmodel {\n  mu ~ normal(0, 1);\n}\n"),
        None
    );
    assert_eq!(likelihood_start("model { y ~ "), None);
}

#[test]
fn the_builtin_vocabulary_reencodes_what_it_wrote() {
    // A likelihood resample hands the kept P back to the model as tokens; they must spell it.
    use refinestat_synthesis::ProposalModel;
    let data = regression_data();
    let mut fitter = Scripted::new(&[(2, -10.0)]);
    let config = RefineConfig {
        rmax: 3,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    let model = BuiltinModel::new(&data);
    let vocab = model.vocabulary();
    let program = &out.attempts[0].program;
    let generated = &program[refinestat_synthesis::data_block(&data).len()..];
    assert_eq!(vocab.decode(&vocab.encode(generated)), generated);
    // The model continued its own plan from the kept prior part: each resample is a program the
    // grammar writes (no token was substituted off-plan).
    let derivations: std::collections::HashSet<String> =
        model.programs().map(|(text, _)| text).collect();
    for attempt in &out.attempts[1..] {
        assert_eq!(attempt.kind, AttemptKind::Likelihood);
        let generated = &attempt.program[refinestat_synthesis::data_block(&data).len()..];
        assert!(derivations.contains(generated), "off plan:\n{generated}");
    }
}

#[test]
fn a_spent_time_budget_stops_before_the_first_attempt() {
    let data = regression_data();
    let config = RefineConfig {
        time_budget: Some(std::time::Duration::ZERO),
        ..RefineConfig::default()
    };
    let out = run(&data, &mut Scripted::new(&[(7, -1.0)]), &config);
    assert!(out.attempts.is_empty());
    assert_eq!(out.stop, RefineStop::NoValidProgram);

    // With valid programs found, the time budget is the reason.
    let config = RefineConfig {
        rmax: 2,
        beta: 10,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut Scripted::new(&[(7, -1.0)]), &config);
    assert_eq!(out.stop, RefineStop::RmaxReached);
    assert!(out.best.is_some());
}

#[test]
fn modes_map_to_decoder_modes_and_attempt_budgets() {
    use refinestat_synthesis::refine::config_for_mode;
    use refinestat_synthesis::Mode;
    let base = RefineConfig::default();
    let get = |m: &str| config_for_mode(m, base.clone()).unwrap();
    assert_eq!(
        (get("refinestat").decode.mode, get("refinestat").rmax),
        (Mode::Refinestat, 100)
    );
    assert_eq!(
        (get("iterative").decode.mode, get("iterative").rmax),
        (Mode::Syntax, 100)
    );
    assert_eq!(
        (get("syntax").decode.mode, get("syntax").rmax),
        (Mode::Syntax, 1)
    );
    assert_eq!(
        (get("standard").decode.mode, get("standard").rmax),
        (Mode::Standard, 1)
    );
    assert!(config_for_mode("magic", base).is_err());
}

#[test]
fn a_program_without_a_likelihood_on_the_response_is_not_fitted() {
    // The builtin models y; asking for x makes every program miss the response.
    let data = regression_data();
    let mut fitter = Scripted::new(&[(7, -1.0)]);
    let config = RefineConfig {
        rmax: 3,
        responses: vec!["x".to_string()],
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    assert!(fitter.fitted.is_empty(), "nothing is fitted");
    assert_eq!(out.stop, RefineStop::NoValidProgram);
    for a in &out.attempts {
        assert!(a.violations.is_empty());
        assert_eq!(a.unmodelled, ["x"]);
        assert!(!a.valid && a.candidate.is_none());
    }
    // Asking for y fits them.
    let mut fitter = Scripted::new(&[(7, -1.0)]);
    let config = RefineConfig {
        rmax: 3,
        responses: vec!["y".to_string()],
        ..RefineConfig::default()
    };
    let out = run(&data, &mut fitter, &config);
    assert!(!fitter.fitted.is_empty());
    assert!(out.attempts.iter().all(|a| a.unmodelled.is_empty()));
}

#[test]
fn likelihood_resamples_that_repeat_a_fitted_program_are_redrawn() {
    let data = regression_data();
    let cached_likelihood = |redraws: usize| {
        let config = RefineConfig {
            rmax: 30,
            redraws,
            ..RefineConfig::default()
        };
        let out = run(&data, &mut Scripted::new(&[(2, -10.0)]), &config);
        let likelihood: Vec<_> = out
            .attempts
            .iter()
            .filter(|a| a.kind == AttemptKind::Likelihood)
            .collect();
        let cached = likelihood.iter().filter(|a| a.cached).count();
        let redrawn: usize = likelihood.iter().map(|a| a.redraws).sum();
        // Every token drawn counts, redraws included (in their attempt's counts).
        let sampled: usize = out.attempts.iter().map(|a| a.tokens.sampled).sum();
        assert_eq!(out.tokens.sampled, sampled);
        (cached, redrawn)
    };
    let (cached_without, redrawn_without) = cached_likelihood(0);
    let (cached_with, redrawn_with) = cached_likelihood(4);
    assert_eq!(redrawn_without, 0);
    assert!(cached_without > 0, "a small grammar repeats likelihoods");
    assert!(redrawn_with > 0);
    assert!(
        cached_with < cached_without,
        "{cached_with} vs {cached_without}"
    );
}

/// The ablation: a predicate switched off no longer keeps what it refuses from the fitter, and
/// only that predicate's violations are let through.
#[test]
fn a_predicate_switched_off_lets_its_violations_reach_the_fitter() {
    use refinestat_language::Predicate;
    let data = regression_data();
    let d = refinestat_synthesis::data_block(&data);
    // `s` is a scale declared without `<lower=0>`: only the support predicate refuses it.
    let unbounded = "parameters {\n  real a;\n  real s;\n}\nmodel {\n  y ~ normal(a, s);\n}\n";
    assert!(check(&format!("{d}{unbounded}"), Some(&data))
        .iter()
        .all(|v| v.predicate == Predicate::Support));
    for without in [vec![], vec![Predicate::Support], vec![Predicate::Type]] {
        let mut model = BuiltinModel::replay(&data, unbounded);
        let mut fitter = Scripted::new(&[(7, -1.0)]);
        let mut config = RefineConfig {
            rmax: 1,
            ..RefineConfig::default()
        };
        config.decode.without = without.clone();
        let out = refine(&mut model, &data, &mut fitter, &config, &mut |_, _| {});
        let whole = format!("{d}{unbounded}");
        if without == [Predicate::Support] {
            assert_eq!(fitter.fitted, [whole], "{:?}", out.attempts);
            assert!(out.attempts[0].violations.is_empty());
        } else {
            // Refused token by token; what the decoder closed instead checks clean.
            assert!(!fitter.fitted.contains(&whole), "{without:?}");
            for p in &fitter.fitted {
                assert!(check(p, Some(&data)).is_empty(), "{p}");
            }
        }
    }

    // Parse switched off: a program that does not parse is fitted under its own text, never
    // sharing a fit with the program the parser's recovery makes of it.
    let unparsed = "parameters {\n  real a;\n  real<lower=0> s;\n}\nmodel {\n  a ~ normal(0, 5)\n  y ~ normal(a, s);\n}\n";
    let mut model = BuiltinModel::replay(&data, unparsed);
    let mut fitter = Scripted::new(&[(7, -1.0)]);
    let mut config = RefineConfig {
        rmax: 1,
        ..RefineConfig::default()
    };
    config.decode.without = vec![Predicate::Parse];
    let out = refine(&mut model, &data, &mut fitter, &config, &mut |_, _| {});
    assert_eq!(fitter.fitted, [format!("{d}{unparsed}")]);
    assert!(out.candidates[0].canonical.starts_with("unparsed:"));
    assert!(!parse(&out.candidates[0].program).errors.is_empty());
}

/// Returns scripted (score, pointwise elpd_i) pairs in fit order, each with a summary whose
/// PSIS-LOO holds them (the last one repeats); every Pareto k is 0.1, or the third field's
/// value for the attempts it lists.
struct Pointwise(Vec<(u8, Vec<f64>)>, usize, Option<(Vec<usize>, f64)>);

impl Fitter for Pointwise {
    fn fit(&mut self, _program: &str, _data: &Data) -> Assessment {
        use refinestat_diagnostics::{summarize_with_loo, DiagError, Draws, Loo};
        let k = match &self.2 {
            Some((which, k)) if which.contains(&self.1) => *k,
            _ => 0.1,
        };
        let (score, loo_i) = self.0[self.1.min(self.0.len() - 1)].clone();
        self.1 += 1;
        let elpd: f64 = loo_i.iter().sum();
        let draws = Draws::from_chains(
            vec!["mu".into()],
            &[(0..20).map(|d| vec![d as f64]).collect::<Vec<_>>()],
        )
        .unwrap();
        let loo = Loo {
            elpd_loo: elpd,
            se: 1.0,
            p_loo: 1.0,
            pareto_k: vec![k; loo_i.len()],
            n_obs: loo_i.len(),
            loo_i,
            k_threshold: 0.7,
            r_eff: 1.0,
            subsample: None,
            subsample_above: None,
        };
        let summary = summarize_with_loo(&draws, &[], |_| Ok::<_, DiagError>(Some(loo))).unwrap();
        Assessment {
            score,
            elpd_loo: Some(elpd),
            summary: Some(summary),
            error: None,
        }
    }
}

#[test]
fn a_higher_score_wins_among_indistinguishable_elpds() {
    let data = regression_data();
    let base = vec![-1.0, -2.0, -1.5, -1.2, -0.8, -2.2, -1.1, -1.4];
    let shifted = |d: &[f64]| base.iter().zip(d).map(|(b, x)| b + x).collect::<Vec<_>>();
    let script = vec![
        // The highest ELPD, score 6.
        (6, base.clone()),
        // 0.4 nats below with an SE of the difference near 1.4: indistinguishable, score 7.
        (7, shifted(&[0.5, -0.5, 0.45, -0.5, 0.5, -0.5, 0.5, -0.85])),
        // 8 nats below, the same shift everywhere (SE 0): distinguishable, score 7.
        (7, shifted(&[-1.0; 8])),
        // 2.4 nats below with an SE near 8: within two SE but past the 2-nat cap, so its score 7
        // does not count.
        (7, shifted(&[3.0, -3.0, 2.9, -3.0, 3.0, -3.0, 3.0, -5.3])),
    ];
    let config = RefineConfig {
        distinct_structures: false,
        ..RefineConfig::default()
    };
    assert_eq!(RefineConfig::default().select, Selection::ElpdThenScore);
    let out = run(&data, &mut Pointwise(script.clone(), 0, None), &config);
    assert_eq!(out.candidates.iter().filter(|c| c.valid).count(), 4);
    assert_eq!(out.best, Some(1));
    let reason = out.not_chosen_reason(0, &config).unwrap();
    assert!(reason.contains("score 6 is below"), "{reason}");
    // The paper's rule takes the highest ELPD whatever its score.
    let config = RefineConfig {
        select: Selection::Elpd,
        distinct_structures: false,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut Pointwise(script, 0, None), &config);
    assert_eq!(out.best, Some(0));
}

#[test]
fn a_program_failing_two_checks_does_not_win_on_its_elpd_but_one_failing_one_does() {
    // The first program's ELPD-LOO is 8 nats above the rest's, with every Pareto k at 0.9 (one
    // parameter per observation, or a hierarchical model of one observation per group).
    let data = regression_data();
    let base = vec![-1.0, -2.0, -1.5, -1.2, -0.8, -2.2, -1.1, -1.4];
    let script = |first_score: u8| {
        vec![
            (
                first_score,
                base.iter().map(|x| x + 1.0).collect::<Vec<_>>(),
            ),
            (7, base.clone()),
            (6, base.iter().map(|x| x - 0.5).collect()),
        ]
    };
    let config = RefineConfig {
        distinct_structures: false,
        rmax: 3,
        ..RefineConfig::default()
    };
    let high_k = || Some((vec![0], 0.9));
    // Failing two checks (high k and, say, low ESS): passed over for the best of the others.
    let out = run(&data, &mut Pointwise(script(5), 0, high_k()), &config);
    assert_eq!(out.candidates.iter().filter(|c| c.valid).count(), 3);
    assert_eq!(out.best, Some(1));
    let reason = out.not_chosen_reason(0, &config).unwrap();
    assert!(reason.contains("fails 2 of the 7 checks"), "{reason}");
    // Failing only the k check (surgical's hierarchical model): its ELPD-LOO wins.
    let out = run(&data, &mut Pointwise(script(6), 0, high_k()), &config);
    assert_eq!(out.best, Some(0));
    // The paper's rule takes the highest ELPD-LOO whatever the score; reliable-elpd passes over
    // the high k whatever the score.
    let elpd = RefineConfig {
        select: Selection::Elpd,
        ..config.clone()
    };
    assert_eq!(
        run(&data, &mut Pointwise(script(5), 0, high_k()), &elpd).best,
        Some(0)
    );
    let reliable = RefineConfig {
        select: Selection::ReliableElpd,
        ..config
    };
    let out = run(&data, &mut Pointwise(script(6), 0, high_k()), &reliable);
    assert_eq!(out.best, Some(1));
    let reason = out.not_chosen_reason(0, &reliable).unwrap();
    assert!(reason.contains("PSIS-LOO is unreliable"), "{reason}");
}

#[test]
fn beta_counts_distinct_structures() {
    let head = "data {\n  int N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n  real<lower=0> sigma;\n}\nmodel {\n";
    let a = format!("{head}  mu ~ normal(0, 10);\n  y ~ normal(mu, sigma);\n}}\n");
    let b = format!("{head}  mu ~ student_t(3, 0, 2.5);\n  sigma ~ exponential(1);\n  y ~ normal(mu, sigma);\n}}\n");
    let c = format!("{head}  mu ~ normal(0, 10);\n  y ~ student_t(4, mu, sigma);\n}}\n");
    // Prior variants of one model share a structure; another likelihood does not.
    assert_eq!(structure_key(&a), structure_key(&b));
    assert_ne!(structure_key(&a), structure_key(&c));

    // Every program valid: the loop runs until beta distinct structures or 2 beta valid programs.
    let data = regression_data();
    let mut fitter = Scripted::new(&[(7, -3.0)]);
    let out = run(&data, &mut fitter, &RefineConfig::default());
    assert_eq!(out.stop, RefineStop::BetaReached);
    let keys: std::collections::HashSet<String> = out
        .candidates
        .iter()
        .map(|c| structure_key(&c.program))
        .collect();
    assert!(
        keys.len() >= 4 || out.fits == 8,
        "{} structures, {} fits",
        keys.len(),
        out.fits
    );
    assert!(out.fits >= 4 && out.fits <= 8);
    // The paper's rule stops at the fourth valid program.
    let paper = RefineConfig {
        distinct_structures: false,
        ..RefineConfig::default()
    };
    let out = run(&data, &mut Scripted::new(&[(7, -3.0)]), &paper);
    assert_eq!(out.fits, 4);
}
