//! PSIS weights agree with PSIS-LOO: `elpd_i = log sum_s w_is exp(ll_is)` for the normalized
//! smoothed weights `w_is`, including observations whose tail was smoothed.

use refinestat_diagnostics::{psis_loo, psis_weights, LogLik};

#[test]
fn weights_reproduce_elpd_loo_pointwise() {
    // 2 chains x 400 draws, 5 observations; the last two have heavy right tails in -ll,
    // so their weights are smoothed.
    let mut state = 12345u64;
    let mut unif = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let ll: Vec<Vec<Vec<f64>>> = (0..2)
        .map(|_| {
            (0..400)
                .map(|_| {
                    (0..5)
                        .map(|o| {
                            let u: f64 = unif();
                            if o >= 3 {
                                // Importance ratios exp(-ll) = u^-0.4: a Pareto tail, k 0.4.
                                0.4 * u.ln()
                            } else {
                                -0.5 * (u - 0.5).powi(2) * (o + 1) as f64
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect();
    let log_lik = LogLik::from_chains(&ll).unwrap();
    let loo = psis_loo(&log_lik, 0.9);
    let weights = psis_weights(&log_lik, 0.9);
    assert_eq!(weights.len(), 5);
    assert!(
        loo.pareto_k[3..].iter().all(|k| k.is_finite() && *k > 0.0),
        "{:?}",
        loo.pareto_k
    );
    for (obs, w) in weights.iter().enumerate() {
        assert_eq!(w.len(), 800);
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let samples: Vec<f64> = ll.iter().flat_map(|c| c.iter().map(|d| d[obs])).collect();
        let elpd: f64 = w
            .iter()
            .zip(&samples)
            .map(|(w, l)| w * l.exp())
            .sum::<f64>()
            .ln();
        assert!(
            (elpd - loo.loo_i[obs]).abs() < 1e-9 * loo.loo_i[obs].abs().max(1.0),
            "obs {obs}: {elpd} vs {}",
            loo.loo_i[obs]
        );
    }
}
