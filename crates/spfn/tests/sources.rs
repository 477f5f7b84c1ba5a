//! The human corpus and the augmentations: every program checks, has a schema and simulates;
//! every augmentation yields programs that pass the six predicates, differ where they must, and
//! simulate.

use refinestat_language::{canonical, check, print_program};
use refinestat_spfn::augment::{self, Candidate, AUGMENTATIONS};
use refinestat_spfn::simulate::{draw_dataset, mix};
use refinestat_spfn::{HumanCorpus, ProgramSource};
use std::collections::BTreeSet;

fn simulates(c: &Candidate) -> bool {
    (0..24).any(|i| draw_dataset(&c.program, &c.schema, mix(11, &[i])).is_ok())
}

#[test]
fn the_human_corpus_has_sixty_distinct_programs_that_check_and_simulate() {
    let corpus = HumanCorpus::embedded().expect("every corpus file loads and checks");
    let canon: BTreeSet<String> = corpus
        .programs
        .iter()
        .map(|p| canonical(&p.program))
        .collect();
    assert!(canon.len() >= 60, "{} distinct programs", canon.len());
    let mut failing = Vec::new();
    for p in &corpus.programs {
        if !check(&print_program(&p.program), None).is_empty() {
            failing.push(format!("{}: check", p.id));
        }
        if !simulates(&p.candidate()) {
            let why = draw_dataset(&p.program, &p.schema, 1)
                .err()
                .map(|r| r.name());
            failing.push(format!("{}: no usable draw in 24 ({why:?})", p.id));
        }
    }
    assert!(failing.is_empty(), "{}", failing.join("\n"));
    let families = corpus.families();
    for f in [
        "linear_regression",
        "logistic_regression",
        "poisson_regression",
        "negbin_regression",
        "binomial_regression",
        "hierarchical_regression",
        "crossed_effects",
        "measurement_error",
        "growth_curve",
        "time_series",
        "gaussian_process",
        "change_point",
        "censoring",
    ] {
        assert!(families.iter().any(|x| x == f), "family {f} missing");
    }
}

#[test]
fn schemas_are_inferred_with_roles() {
    use refinestat_spfn::schema::Role;
    let corpus = HumanCorpus::embedded().unwrap();
    let get = |id: &str| {
        corpus
            .programs
            .iter()
            .find(|p| p.id == id)
            .unwrap()
            .schema
            .clone()
    };
    let s = get("human/varying_intercept");
    assert!(matches!(
        s.role("N"),
        Some(Role::Size { min: 20, max: 200 })
    ));
    assert_eq!(s.role("g"), Some(&Role::Group { groups: "J".into() }));
    assert_eq!(s.role("y"), Some(&Role::Response));
    let s = get("human/binomial_logit_regression");
    assert!(matches!(s.role("n"), Some(Role::Trials { .. })));
    let s = get("human/measurement_error");
    assert_eq!(s.responses(), vec!["x_obs", "y"]);
}

/// Programs each augmentation is tried on (all of the corpus).
fn applied(name: &str) -> Vec<(Candidate, Candidate)> {
    let corpus = HumanCorpus::embedded().unwrap();
    let mut out = Vec::new();
    for (i, p) in corpus.programs.iter().enumerate() {
        let c = p.candidate();
        let mut rng = rand_chacha_rng(i as u64);
        if let Some(a) = augment::apply(name, &c, &mut rng) {
            out.push((c, a));
        }
    }
    out
}

fn rand_chacha_rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(seed)
}

#[test]
fn every_augmentation_checks_changes_what_it_must_and_simulates() {
    for (name, _) in AUGMENTATIONS {
        let pairs = applied(name);
        assert!(
            pairs.len() >= 3,
            "{name} applies to only {} programs",
            pairs.len()
        );
        let program_changes = !matches!(*name, "drop_observations" | "vary_sizes");
        let mut simulating = 0;
        for (before, after) in &pairs {
            let text = print_program(&after.program);
            assert!(
                check(&text, None).is_empty(),
                "{name}: result does not check:\n{text}"
            );
            if program_changes {
                assert_ne!(
                    canonical(&before.program),
                    canonical(&after.program),
                    "{name}: canonical form unchanged"
                );
            } else {
                assert_eq!(canonical(&before.program), canonical(&after.program));
                assert_ne!(before.schema, after.schema, "{name}: schema unchanged");
            }
            assert!(
                after.labels["augmentations"].ends_with(name),
                "{name}: not recorded in labels"
            );
            if simulates(after) {
                simulating += 1;
            }
        }
        // Some results are legitimately degenerate under vague priors (the corpus run narrows
        // them); most must simulate.
        assert!(
            simulating * 4 >= pairs.len() * 3,
            "{name}: only {simulating} of {} results simulate",
            pairs.len()
        );
    }
}

#[test]
fn swap_distribution_swaps_the_named_pairs() {
    let corpus = HumanCorpus::embedded().unwrap();
    let swap = |id: &str| {
        let p = corpus.programs.iter().find(|p| p.id == id).unwrap();
        let a =
            augment::apply("swap_distribution", &p.candidate(), &mut rand_chacha_rng(1)).unwrap();
        (a.labels["likelihood"].clone(), a.labels["link"].clone())
    };
    assert_eq!(swap("human/linreg_simple").0, "student_t");
    assert_eq!(swap("human/robust_regression").0, "normal");
    assert_eq!(swap("human/poisson_regression").0, "neg_binomial_2");
    assert_eq!(swap("human/negbin_regression").0, "poisson");
    assert_eq!(swap("human/gamma_regression").0, "lognormal");
    assert_eq!(swap("human/lognormal_regression").0, "gamma");
    assert_eq!(
        swap("human/logistic_simple"),
        ("bernoulli".into(), "probit".into())
    );
    assert_eq!(
        swap("human/probit_regression"),
        ("bernoulli".into(), "logit".into())
    );
}

#[test]
fn vague_priors_are_narrowed_by_the_rule_and_hopeless_programs_are_dropped() {
    use refinestat_spfn::schema::Schema;
    use refinestat_spfn::simulate::{narrow_until_usable, Rejections};
    let src = "data { int<lower=1> N; array[N] int<lower=0> y; }
parameters { real eta; }
model { eta ~ normal(0, 100); y ~ poisson_log(eta); }";
    let mut program = refinestat_language::parse(src).program;
    let schema = Schema::infer(&program, "").unwrap();
    let mut rejections = Rejections::new();
    let rounds = narrow_until_usable(&mut program, &schema, 3, &mut rejections).unwrap();
    assert!(rounds >= 2, "{rounds} rounds");
    let text = print_program(&program);
    let expected = format!("normal(0, {})", 100.0 / f64::powi(2.0, rounds as i32));
    assert!(text.contains(&expected), "{expected} not in\n{text}");
    assert!(
        rejections.keys().any(|k| k.starts_with("pilot_")),
        "{rejections:?}"
    );

    // Nothing to narrow: a uniform prior far out keeps every draw degenerate.
    let src = "data { int<lower=1> N; vector[N] y; }
parameters { real<lower=1e9, upper=2e9> s; }
model { s ~ uniform(1e9, 2e9); y ~ normal(0, s); }";
    let mut program = refinestat_language::parse(src).program;
    let schema = Schema::infer(&program, "").unwrap();
    assert_eq!(
        narrow_until_usable(&mut program, &schema, 3, &mut Rejections::new()),
        None
    );
}

#[test]
fn degenerate_draws_are_rejected_by_reason() {
    use refinestat_language::DataValue;
    use refinestat_spfn::simulate::{degenerate, Reject};
    let v = |xs: &[f64], int: bool| DataValue::array(vec![xs.len()], xs.to_vec(), int);
    assert_eq!(
        degenerate(&v(&[1.0, f64::NAN], false), false),
        Err(Reject::NonFinite)
    );
    assert_eq!(
        degenerate(&v(&[1.0, 2e8], false), false),
        Err(Reject::Overflow)
    );
    assert_eq!(
        degenerate(&v(&[-5e4, 5e4], false), false),
        Err(Reject::Variance)
    );
    assert_eq!(
        degenerate(&v(&[3.0, 3.0], false), false),
        Err(Reject::Constant)
    );
    assert_eq!(
        degenerate(&v(&[0.0, 0.0], true), true),
        Err(Reject::AllZero)
    );
    assert_eq!(degenerate(&v(&[0.0, 1.0], true), true), Ok(()));
}

#[test]
fn the_design_generator_draws_sizes_groups_trials_and_times_in_range() {
    use refinestat_spfn::design::draw_design;
    use refinestat_spfn::schema::Schema;
    let src = "data { int<lower=1> N; int<lower=1> J; array[N] int<lower=1, upper=J> g;
  array[N] int<lower=1> n; vector[N] t; matrix[N, 2] X; array[N] int<lower=0> y; }
parameters { real a; }
model { a ~ normal(0, 1); y ~ binomial_logit(n, a + X[:, 1] + t); }";
    let program = refinestat_language::parse(src).program;
    let schema = Schema::infer(&program, "J=size(3,5) t=time n=trials(2,9)").unwrap();
    let mut balanced = 0;
    for seed in 0..200 {
        let mut rng = rand_chacha_rng(seed);
        let d = draw_design(&program, &schema, &mut rng).unwrap();
        let n = d.get("N").unwrap().values[0] as usize;
        let j = d.get("J").unwrap().values[0] as usize;
        assert!((20..=200).contains(&n) && (3..=5).contains(&j));
        let g = &d.get("g").unwrap().values;
        assert_eq!(g.len(), n);
        let mut counts = vec![0usize; j];
        for &x in g {
            counts[x as usize - 1] += 1;
        }
        assert!(
            counts.iter().all(|&c| c > 0),
            "every group used: {counts:?}"
        );
        if counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1 {
            balanced += 1;
        }
        assert!(d
            .get("n")
            .unwrap()
            .values
            .iter()
            .all(|&x| (2.0..=9.0).contains(&x)));
        let t = &d.get("t").unwrap().values;
        assert!(t.windows(2).all(|w| w[0] <= w[1]), "times sorted");
        assert_eq!(d.get("X").unwrap().dims, vec![n, 2]);
        assert!(
            d.get("y").unwrap().values.iter().all(|&x| x == 0.0),
            "placeholder"
        );
    }
    // Balanced and unbalanced designs both occur (each with probability 1/2).
    assert!((60..=140).contains(&balanced), "{balanced} balanced of 200");
}
