//! Degenerate inputs never panic and keep the summary's invariants: tiny shapes, NaN, infinities,
//! constants, mismatched shapes (errors, not panics).

use refinestat_diagnostics::{
    bfmi, ess_bulk, ess_tail, mcse_mean, psis_loo, render_table, rhat, summarize, ChainStats,
    DiagError, Draws, LogLik,
};
use serde_json::Value;

/// xorshift64*: deterministic inputs without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> usize {
        (self.next_u64() % n) as usize
    }

    /// Mostly ordinary numbers, sometimes the awkward ones.
    fn value(&mut self) -> f64 {
        const AWKWARD: [f64; 8] = [
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            1e308,
            -1e308,
            5e-324,
        ];
        match self.below(40) {
            0 => AWKWARD[self.below(AWKWARD.len() as u64)],
            1..=4 => 1.0, // ties
            _ => (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 4.0 - 2.0,
        }
    }
}

#[test]
fn random_degenerate_inputs_keep_the_invariants() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for case in 0..400 {
        let n_chains = 1 + rng.below(4);
        let n_draws = 1 + rng.below(14);
        let n_params = rng.below(4);
        let n_obs = 1 + rng.below(3);
        let constant_param = rng.below(3) == 0;
        let chains: Vec<Vec<Vec<f64>>> = (0..n_chains)
            .map(|_| {
                (0..n_draws)
                    .map(|_| {
                        (0..n_params)
                            .map(|p| {
                                if constant_param && p == 0 {
                                    3.0
                                } else {
                                    rng.value()
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let names = (0..n_params).map(|p| format!("p[{}]", p + 1)).collect();
        let draws = Draws::from_chains(names, &chains).expect("rectangular");
        let ll: Vec<Vec<Vec<f64>>> = (0..n_chains)
            .map(|_| {
                (0..n_draws)
                    .map(|_| (0..n_obs).map(|_| rng.value() - 1.0).collect())
                    .collect()
            })
            .collect();
        let log_lik = LogLik::from_chains(&ll).expect("rectangular");
        let stats: Vec<ChainStats> = (0..n_chains)
            .map(|_| ChainStats {
                energy: (0..n_draws).map(|_| rng.value()).collect(),
                divergent: (0..n_draws).map(|_| rng.below(10) == 0).collect(),
            })
            .collect();

        let summary = summarize(&draws, &stats, Some(&log_lik)).expect("consistent shapes");
        let json: Value = serde_json::from_str(&summary.to_json()).expect("always valid JSON");
        assert!(json["parameters"].is_object(), "case {case}");
        assert!(!render_table(&summary).is_empty());

        let verdict = &summary.reliability.refinestat;
        let passed = [
            verdict.checks.rhat,
            verdict.checks.ess_bulk,
            verdict.checks.ess_tail,
            verdict.checks.divergences,
            verdict.checks.bfmi,
            verdict.checks.pareto_k,
            verdict.checks.elpd_finite,
        ]
        .iter()
        .filter(|c| c.pass)
        .count();
        assert_eq!(usize::from(verdict.score), passed, "case {case}");
        // The strict verdict can only be harder to pass.
        assert!(
            summary.reliability.strict.score <= verdict.score,
            "case {case}"
        );
        for (name, row) in &summary.parameters {
            if n_chains == 1 || n_draws < 4 {
                assert_eq!(
                    row.rhat, None,
                    "case {case} {name}: R-hat needs 2 chains, 4 draws"
                );
            }
            if let Some(ess) = row.ess_bulk {
                assert!(ess > 0.0, "case {case} {name}: ess_bulk {ess}");
            }
        }
        let loo = summary.loo.as_ref().expect("log_lik given");
        assert_eq!(loo.pareto_k.len(), n_obs);
        let divergent: usize = stats
            .iter()
            .map(|s| s.divergent.iter().filter(|&&d| d).count())
            .sum();
        assert_eq!(summary.divergences, divergent);
    }
}

#[test]
fn constant_and_nan_parameters() {
    let constant = vec![vec![2.0; 50]; 4];
    assert_eq!(rhat(&constant), None);
    // ArviZ: constant draws have the full (split) sample size as ESS and zero MCSE.
    assert_eq!(ess_bulk(&constant), Some(200.0));
    assert_eq!(ess_tail(&constant), Some(200.0));
    assert_eq!(mcse_mean(&constant), Some(0.0));

    let mut with_nan = vec![vec![0.5, 1.5, -0.2, 0.9, 1.1, 0.3]; 2];
    with_nan[1][3] = f64::NAN;
    assert_eq!(rhat(&with_nan), None);
    assert_eq!(ess_bulk(&with_nan), None);
    assert_eq!(ess_tail(&with_nan), None);
    assert_eq!(mcse_mean(&with_nan), None);
    assert_eq!(bfmi(&[1.0, f64::NAN, 2.0]), None);

    // BFMI of a chain alternating between two energies: mean squared step 4 over variance
    // (ddof 1) 4 n / (4 (n - 1)) -> 4 (n - 1) / n for n = 4: 4 / (4/3) = 3.
    assert_eq!(bfmi(&[1.0, 3.0, 1.0, 3.0]), Some(3.0));
}

#[test]
fn all_constant_draws_fail_the_rhat_check() {
    // A stuck sampler: every quantity constant. No R-hat exists, so convergence is unproven.
    let chains = vec![vec![vec![1.0, 2.0]; 100]; 4];
    let draws = Draws::from_chains(vec!["a".into(), "b".into()], &chains).expect("shape");
    let summary = summarize(&draws, &[], None).expect("shape");
    let checks = summary.reliability.refinestat.checks;
    assert_eq!((checks.rhat.value, checks.rhat.pass), (None, false));
    // No sampler statistics and no log-likelihood: those checks cannot pass either.
    assert!(!checks.bfmi.pass && !checks.pareto_k.pass && !checks.elpd_finite.pass);
    assert!(summary.loo.is_none());
    let json: Value = serde_json::from_str(&summary.to_json()).expect("JSON");
    assert!(json["loo"].is_null());
    assert_eq!(json["bfmi"], Value::Array(vec![]));
}

#[test]
fn bfmi_check_needs_every_chain() {
    let chains = vec![
        (0..100)
            .map(|d| vec![((d * 37) % 101) as f64])
            .collect::<Vec<_>>();
        2
    ];
    let draws = Draws::from_chains(vec!["x".into()], &chains).expect("shape");
    let energy: Vec<f64> = (0..100).map(|d| ((d * 53) % 97) as f64).collect();
    let with_energy = ChainStats {
        energy: energy.clone(),
        divergent: vec![false; 100],
    };
    let both = [with_energy.clone(), with_energy.clone()];
    let check = summarize(&draws, &both, None)
        .expect("shape")
        .reliability
        .refinestat
        .checks
        .bfmi;
    assert_eq!(check.value, bfmi(&energy));
    assert!(check.pass);
    let one_missing = [with_energy, ChainStats::default()];
    let summary = summarize(&draws, &one_missing, None).expect("shape");
    assert_eq!(summary.bfmi.len(), 1);
    assert!(!summary.reliability.refinestat.checks.bfmi.pass);
}

#[test]
fn psis_loo_of_a_single_draw_does_not_panic() {
    let ll = LogLik::from_chains(&[vec![vec![-1.0, -2.0]]]).expect("shape");
    let loo = psis_loo(&ll, 1.0);
    assert_eq!(loo.pareto_k, [f64::INFINITY, f64::INFINITY]);
    assert!((loo.elpd_loo + 3.0).abs() < 1e-12);
}

#[test]
fn mismatched_shapes_are_errors() {
    let chains = vec![vec![vec![0.1], vec![0.2], vec![0.3], vec![0.4]]; 2];
    let draws = Draws::from_chains(vec!["x".into()], &chains).expect("shape");
    let one_chain_stats = [ChainStats::default()];
    assert!(matches!(
        summarize(&draws, &one_chain_stats, None),
        Err(DiagError::Shape(_))
    ));
    let short_energy = vec![
        ChainStats {
            energy: vec![1.0; 3],
            divergent: vec![],
        },
        ChainStats::default(),
    ];
    assert!(matches!(
        summarize(&draws, &short_energy, None),
        Err(DiagError::Shape(_))
    ));
    let ll = LogLik::from_chains(&[vec![vec![-1.0]; 4]]).expect("shape");
    assert!(matches!(
        summarize(&draws, &[], Some(&ll)),
        Err(DiagError::Shape(_))
    ));

    assert!(Draws::from_chains(vec!["x".into()], &[]).is_err());
    assert!(Draws::from_chains(vec!["x".into(), "y".into()], &chains).is_err());
    let ragged = vec![vec![vec![0.1]; 4], vec![vec![0.1]; 3]];
    assert!(Draws::from_chains(vec!["x".into()], &ragged).is_err());
    assert!(LogLik::from_chains(&[vec![vec![-1.0], vec![-1.0, -2.0]]]).is_none());
    assert!(LogLik::from_chains(&[vec![vec![]; 4]]).is_none());
}
