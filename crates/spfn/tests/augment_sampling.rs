//! Sampling from augmented programs works: for every augmentation, results on the human corpus
//! (up to [`PER_AUGMENTATION`] that simulate) are fitted with NUTS to a dataset they simulated,
//! and every fit starts, keeps finite draws, and diverges on at most a quarter of its
//! iterations. (`tests/sources.rs` checks the prior-predictive side: the results check, differ
//! where they must, and simulate.)

use refinestat_inference::{sample, SamplerConfig};
use refinestat_language::print_program;
use refinestat_model::Model;
use refinestat_spfn::augment::{self, AUGMENTATIONS};
use refinestat_spfn::simulate::{draw_dataset, mix};
use refinestat_spfn::HumanCorpus;
use refinestat_workflow::SamplingDensity;

/// Augmented programs fitted per augmentation.
const PER_AUGMENTATION: usize = 2;

#[test]
fn every_augmentation_yields_programs_nuts_can_fit_to_their_own_data() {
    let corpus = HumanCorpus::embedded().unwrap();
    let config = SamplerConfig {
        chains: 1,
        warmup: 150,
        draws: 100,
        seed: 3,
        ..SamplerConfig::default()
    };
    let mut failures = Vec::new();
    for (name, _) in AUGMENTATIONS {
        let mut fitted = 0;
        for (i, p) in corpus.programs.iter().enumerate() {
            if fitted == PER_AUGMENTATION {
                break;
            }
            let mut rng: rand_chacha::ChaCha8Rng = rand::SeedableRng::seed_from_u64(i as u64);
            let Some(a) = augment::apply(name, &p.candidate(), &mut rng) else {
                continue;
            };
            // The first of a few draws that is not degenerate.
            let Some(ds) =
                (0..8).find_map(|k| draw_dataset(&a.program, &a.schema, mix(5, &[k])).ok())
            else {
                continue;
            };
            fitted += 1;
            let text = print_program(&a.program);
            let model = Model::new(&a.program, &ds.data)
                .unwrap_or_else(|e| panic!("{name} on {}: model: {e}\n{text}", p.id));
            let out = match sample(&config, |_| SamplingDensity(model.clone())) {
                Ok(out) => out,
                Err(e) => {
                    failures.push(format!("{name} on {}: sampling failed: {e}", p.id));
                    continue;
                }
            };
            let chain = &out.chains[0];
            let divergent = chain.stats.iter().filter(|s| s.divergent).count();
            if chain.draws.len() != config.draws
                || chain.draws.iter().flatten().any(|x| !x.is_finite())
                || divergent * 4 > config.draws
            {
                failures.push(format!(
                    "{name} on {}: {} draws, {divergent} divergent\n{text}",
                    p.id,
                    chain.draws.len()
                ));
            }
        }
        assert_eq!(fitted, PER_AUGMENTATION, "{name}: too few results to fit");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
