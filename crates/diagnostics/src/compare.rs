//! Comparing fitted programs by PSIS-LOO, in the form of the R loo package's `loo_compare`.

use crate::psis::Loo;

/// One row of [`loo_compare`]: a model against the reference (the chosen or best model).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Comparison {
    /// `elpd_loo(model) - elpd_loo(reference)`: 0 for the reference, negative when the model
    /// predicts worse.
    pub elpd_diff: f64,
    /// Standard error of the difference: `sqrt(n) * sd(elpd_i(model) - elpd_i(reference))`
    /// (sd with n - 1 in the denominator, as `loo_compare`); 0 for the reference, NaN when the
    /// two were not evaluated on the same number of observations or n < 2.
    pub se_diff: f64,
}

impl Comparison {
    /// Whether the difference is within two standard errors: the reference is then not clearly
    /// better (or worse) than this model.
    pub fn is_within_noise(&self) -> bool {
        self.elpd_diff.abs() < 2.0 * self.se_diff || self.se_diff.is_nan()
    }
}

/// Every model's `elpd_diff` and `se_diff` against `models[reference]`, from the pointwise
/// `elpd_i` of each [`Loo`] (so the models must be fitted to the same observations; subsampled
/// estimates must share their subsample, else `se_diff` is NaN).
///
/// ```
/// use refinestat_diagnostics::{loo_compare, Loo};
/// let loo = |loo_i: Vec<f64>| Loo { elpd_loo: loo_i.iter().sum(), se: 0.0, p_loo: 0.0,
///     pareto_k: vec![0.1; loo_i.len()], n_obs: loo_i.len(), loo_i, k_threshold: 0.7,
///     r_eff: 1.0, subsample: None, subsample_above: None };
/// let a = loo(vec![-1.0, -2.0, -1.5]);
/// let b = loo(vec![-1.5, -2.0, -2.5]);
/// let rows = loo_compare(&[&a, &b], 0);
/// assert_eq!(rows[0].elpd_diff, 0.0);
/// assert_eq!(rows[1].elpd_diff, -1.5);
/// // diffs -0.5, 0, -1: sd 0.5, times sqrt(3).
/// assert!((rows[1].se_diff - 0.5 * 3f64.sqrt()).abs() < 1e-12);
/// // |-1.5| < 2 x 0.87: not a clear difference.
/// assert!(rows[1].is_within_noise());
/// ```
pub fn loo_compare(models: &[&Loo], reference: usize) -> Vec<Comparison> {
    let Some(best) = models.get(reference) else {
        return Vec::new();
    };
    models
        .iter()
        .enumerate()
        .map(|(i, m)| {
            if i == reference {
                return Comparison {
                    elpd_diff: 0.0,
                    se_diff: 0.0,
                };
            }
            let n = m.loo_i.len();
            // Subsampled estimates compare pointwise only on the same subsample; the standard
            // error of the total is then sqrt(N) x sd of the sampled differences (loo's srs_est).
            let same_observations = match (&m.subsample, &best.subsample) {
                (None, None) => true,
                (Some(a), Some(b)) => a.observations == b.observations && m.n_obs == best.n_obs,
                _ => false,
            };
            let population = if m.subsample.is_some() { m.n_obs } else { n };
            let se_diff = if n != best.loo_i.len() || n < 2 || !same_observations {
                f64::NAN
            } else {
                let diffs: Vec<f64> = m
                    .loo_i
                    .iter()
                    .zip(&best.loo_i)
                    .map(|(a, b)| a - b)
                    .collect();
                let mean = diffs.iter().sum::<f64>() / n as f64;
                let var = diffs.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
                (population as f64).sqrt() * var.sqrt()
            };
            Comparison {
                elpd_diff: m.elpd_loo - best.elpd_loo,
                se_diff,
            }
        })
        .collect()
}
