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
