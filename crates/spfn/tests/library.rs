//! The family library as a corpus source: its programs check, read only data the design
//! generator draws, simulate, carry the library's labels, and take their documented share of the
//! meta-prior.

use refinestat_language::{check, print_program};
use refinestat_spfn::corpus::{self, DEFAULT_FAMILY_SHARE, DEFAULT_MIXTURE_SHARE};
use refinestat_spfn::schema::Role;
use refinestat_spfn::simulate::{draw_dataset, mix};
use refinestat_spfn::{FamilyLibrary, MetaPrior, ProgramSource};
use std::collections::BTreeSet;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(seed)
}

#[test]
fn library_programs_check_simulate_and_carry_the_librarys_labels() {
    let lib = FamilyLibrary::default();
    let mut kinds = BTreeSet::new();
    let mut families = BTreeSet::new();
    let mut lib_families = BTreeSet::new();
    let mut with_groups = 0;
    let mut fixed = 0;
    let mut simulating = 0;
    let n = 60;
    for seed in 0..n {
        let p = lib.sample(&mut rng(seed)).expect("a program in 8 tries");
        let text = print_program(&p.program);
        assert!(check(&text, None).is_empty(), "does not check:\n{text}");
        // Every data variable has a design role; only `y` is simulated.
        assert_eq!(p.schema.responses(), vec!["y"], "{text}");
        for v in &p.schema.vars {
            if let Role::Group { groups } = &v.role {
                assert!(p.schema.role(groups).is_some(), "{groups} undeclared");
            }
        }
        for key in [
            "lib_family",
            "lib_link",
            "lib_mean",
            "lib_pooling",
            "lib_prior_style",
        ] {
            assert!(p.labels.contains_key(key), "{key} missing: {:?}", p.labels);
        }
        kinds.insert(p.labels["schema_response"].clone());
        families.insert(p.family.clone());
        lib_families.insert(p.labels["lib_family"].clone());
        if p.labels["lib_groupings"] != "none" {
            with_groups += 1;
        }
        if p.labels["lib_fixed_groupings"] != "none" {
            fixed += 1;
        }
        let c = p.candidate();
        if (0..16).any(|i| draw_dataset(&c.program, &c.schema, mix(seed, &[i])).is_ok()) {
            simulating += 1;
        }
        // The same seed gives the same program.
        let again = lib.sample(&mut rng(seed)).unwrap();
        assert_eq!(print_program(&again.program), text);
    }
    assert_eq!(kinds.len(), 5, "response kinds drawn: {kinds:?}");
    assert!(lib_families.len() >= 5, "likelihoods: {lib_families:?}");
    assert!(families.len() >= 6, "families: {families:?}");
    assert!(
        with_groups >= 5 && fixed >= 1,
        "{with_groups} grouped, {fixed} fixed"
    );
    // Vague priors may make some degenerate (the corpus run narrows them); most simulate.
    assert!(simulating * 10 >= n * 8, "{simulating} of {n} simulate");
}

/// Fraction of `n` planned programs whose source is the family library.
fn family_fraction(share: f64, n: u64, seed: u64) -> f64 {
    let prior = MetaPrior::with_shares(share, 0.0).unwrap();
    let (planned, _) = corpus::plan(&prior, n, seed);
    assert_eq!(planned.len() as u64, n);
    let fam = planned
        .iter()
        .filter(|p| p.candidate.labels["source"].starts_with("family"))
        .count();
    fam as f64 / n as f64
}

#[test]
fn the_family_share_is_a_setting_of_the_meta_prior() {
    assert_eq!(family_fraction(0.0, 100, 1), 0.0);
    assert_eq!(family_fraction(1.0, 60, 1), 1.0);
    // The default share, within four binomial standard errors on 300 programs.
    let f = family_fraction(DEFAULT_FAMILY_SHARE, 300, 2);
    let se = (DEFAULT_FAMILY_SHARE * (1.0 - DEFAULT_FAMILY_SHARE) / 300.0).sqrt();
    assert!(
        (f - DEFAULT_FAMILY_SHARE).abs() < 4.0 * se,
        "{f} of programs from the library, share {DEFAULT_FAMILY_SHARE}"
    );
    let prior = MetaPrior::default_prior().unwrap();
    let shares = prior.source_shares();
    assert!((shares["family"] - DEFAULT_FAMILY_SHARE).abs() < 1e-12);
    assert!((shares["mixture"] - DEFAULT_MIXTURE_SHARE).abs() < 1e-12);
    let human = 1.0 - DEFAULT_FAMILY_SHARE - DEFAULT_MIXTURE_SHARE;
    assert!((shares["human"] - human).abs() < 1e-12);
    assert!(
        MetaPrior::with_shares(0.7, 0.4).is_err(),
        "shares above 1 in all"
    );
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = MetaPrior::with_shares(bad, 0.0).err().expect("refused");
        assert!(e.to_string().contains("share"), "{e}");
    }
}
