//! `sample_structure` draws from the distribution `structures` enumerates: over many seeds, each
//! heavy structure's frequency matches its weight, and the same seed gives the same structure.

use refinestat_family::{sample_structure, structures, GrammarConfig, Schema, SchemaOptions};
use refinestat_language::Data;
use std::collections::BTreeMap;

#[test]
fn sampled_structures_follow_the_enumerated_weights() {
    let data = Data::from_json_str(
        r#"{"N": 8, "x": [0.5, 1.2, 2.0, 2.9, 4.1, 5.0, 6.2, 7.1],
            "y": [1.1, 2.3, 2.9, 4.2, 5.1, 5.8, 7.2, 8.1]}"#,
    )
    .unwrap();
    let schema = Schema::infer(&data, &SchemaOptions::default()).unwrap();
    let config = GrammarConfig::default();
    let all = structures(&schema, &config);
    let draws = 4000;
    // The grammar spreads its weight over many prior scales; compare the structures' kinds
    // (likelihood, mean, prior style): their enumerated weights against sampled frequencies.
    let kind = |l: &refinestat_family::Labels| format!("{} {} {}", l.family, l.mean, l.prior_style);
    let mut weights: BTreeMap<String, f64> = BTreeMap::new();
    for s in &all {
        *weights.entry(kind(&s.labels)).or_default() += s.weight;
    }
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 0..draws {
        let s = sample_structure(&schema, &config, seed).expect("a structure");
        assert!(s.weight > 0.0 && s.weight <= 1.0);
        *counts.entry(kind(&s.labels)).or_default() += 1;
    }
    assert_eq!(
        sample_structure(&schema, &config, 7).unwrap(),
        sample_structure(&schema, &config, 7).unwrap()
    );
    let mut checked = 0;
    for (k, w) in weights.iter().filter(|(_, w)| **w > 0.02) {
        let f = counts.get(k).copied().unwrap_or(0) as f64 / draws as f64;
        let se = (w * (1.0 - w) / draws as f64).sqrt();
        assert!(
            (f - w).abs() < 4.5 * se + 0.005,
            "{k}: frequency {f} against weight {w}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} kinds above 2%: {weights:?}");
    let unknown: usize = counts
        .iter()
        .filter(|(k, _)| !weights.contains_key(*k))
        .map(|(_, c)| c)
        .sum();
    assert!(
        unknown * 100 <= draws as usize,
        "{unknown} draws of kinds never enumerated"
    );
}
