//! Pareto-smoothed importance sampling leave-one-out cross-validation (PSIS-LOO), transcribed from
//! ArviZ 0.23 `az.loo` / `_psislw` / `_gpdfit` / `_gpinv` (`arviz/stats/stats.py`).

use crate::mcmc::py_min;

/// Pointwise log-likelihood, `[chain][draw][observation]`, stored observation-major.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLik {
    n_chains: usize,
    n_draws: usize,
    n_obs: usize,
    /// `values[obs * n_samples + chain * n_draws + draw]`: each observation's draws are
    /// contiguous, in ArviZ's `__sample__ = (chain, draw)` order.
    values: Vec<f64>,
}

impl LogLik {
    /// Builds from `ll[chain][draw][obs]`; `None` when the nesting is ragged or has no chains,
    /// draws or observations.
    pub fn from_chains(ll: &[Vec<Vec<f64>>]) -> Option<LogLik> {
        let n_chains = ll.len();
        let n_draws = ll.first()?.len();
        let n_obs = ll.first()?.first()?.len();
        if n_obs == 0
            || ll
                .iter()
                .any(|c| c.len() != n_draws || c.iter().any(|d| d.len() != n_obs))
        {
            return None;
        }
        let n_samples = n_chains * n_draws;
        let mut values = vec![0.0; n_obs * n_samples];
        for (c, chain) in ll.iter().enumerate() {
            for (d, draw) in chain.iter().enumerate() {
                for (o, &x) in draw.iter().enumerate() {
                    values[o * n_samples + c * n_draws + d] = x;
                }
            }
        }
        Some(LogLik {
            n_chains,
            n_draws,
            n_obs,
            values,
        })
    }

    /// Number of chains.
    pub fn n_chains(&self) -> usize {
        self.n_chains
    }

    /// Draws per chain.
    pub fn n_draws(&self) -> usize {
        self.n_draws
    }

    /// Number of observations.
    pub fn n_obs(&self) -> usize {
        self.n_obs
    }

    /// All draws (chains concatenated) of observation `obs`.
    fn observation(&self, obs: usize) -> &[f64] {
        let n_samples = self.n_chains * self.n_draws;
        &self.values[obs * n_samples..(obs + 1) * n_samples]
    }
}

/// PSIS-LOO estimates, as `az.loo(..., pointwise=True)`. Non-finite values are kept as they are
/// (`-inf` ELPD, `+inf` Pareto k where the tail was too short to fit); the JSON form writes them
/// as `null`.
///
/// With [`Loo::subsample`] set the estimates are those of subsampled PSIS-LOO (the difference
/// estimator, see [`subsampled_loo`]) and the pointwise vectors hold only the observations in
/// the subsample.
#[derive(Debug, Clone, PartialEq)]
pub struct Loo {
    /// Expected log pointwise predictive density, summed over observations.
    pub elpd_loo: f64,
    /// Standard error of `elpd_loo`: `sqrt(n * var(elpd_i))` with ddof 0, as ArviZ (subsampled:
    /// the difference estimator's estimate of the same, loo's "SE").
    pub se: f64,
    /// Effective number of parameters: lppd - elpd_loo (subsampled: its SRS estimate).
    pub p_loo: f64,
    /// Pointwise `elpd_i` (of the subsampled observations when subsampled).
    pub loo_i: Vec<f64>,
    /// Pareto shape estimate per observation (of the subsampled observations when subsampled).
    pub pareto_k: Vec<f64>,
    /// ArviZ's `good_k`: `min(1 - 1/log10(S), 0.7)` for S draws in total.
    pub k_threshold: f64,
    /// The relative efficiency used to size the Pareto tail.
    pub r_eff: f64,
    /// How many observations the likelihood has (the length of `loo_i` unless subsampled).
    pub n_obs: usize,
    /// The subsample and its standard errors, when the estimate is subsampled.
    pub subsample: Option<Subsample>,
    /// The number of observations above which the caller subsamples (stated in summary.json as
    /// `subsample_above`); `None` when it never does.
    pub subsample_above: Option<usize>,
}

/// Subsampled PSIS-LOO: which observations were computed exactly and the subsampling
/// uncertainty, as the R loo package's `loo_subsample(..., loo_approximation = "plpd",
/// estimator = "diff_srs")`.
#[derive(Debug, Clone, PartialEq)]
pub struct Subsample {
    /// 0-based indices of the subsampled observations (simple random sampling without
    /// replacement), ascending; `loo_i` and `pareto_k` follow this order.
    pub observations: Vec<usize>,
    /// Standard error of `elpd_loo` due to subsampling alone (loo's "subsampling SE").
    pub elpd_loo_subsampling_se: f64,
    /// Standard error of `p_loo` (loo's "SE" of `p_loo`).
    pub p_loo_se: f64,
    /// Standard error of `p_loo` due to subsampling.
    pub p_loo_subsampling_se: f64,
    /// The approximation of every observation's elpd the difference estimator corrects (loo's
    /// `loo_approximation`): `"plpd"`, the log-likelihood at the posterior mean.
    pub approximation: String,
}

/// Pointwise PSIS-LOO of some observations: each one's `elpd_i`, Pareto k and
/// `logsumexp(log_lik_i)` (the log of the summed likelihood over draws, before `- ln S`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LooPoints {
    /// `elpd_i`.
    pub elpd: Vec<f64>,
    /// Pareto k.
    pub pareto_k: Vec<f64>,
    /// `logsumexp` of the observation's log-likelihood over all draws.
    pub log_sum_lik: Vec<f64>,
}

impl LooPoints {
    fn extend(&mut self, points: impl IntoIterator<Item = (f64, f64, f64)>) {
        for (elpd, k, lse) in points {
            self.elpd.push(elpd);
            self.pareto_k.push(k);
            self.log_sum_lik.push(lse);
        }
    }

    /// `p_loo_i = lppd_i - elpd_i` with `lppd_i = log_sum_lik_i - ln S`.
    fn p_loo(&self, n_samples: usize) -> Vec<f64> {
        let ln_s = (n_samples as f64).ln();
        self.log_sum_lik
            .iter()
            .zip(&self.elpd)
            .map(|(lse, elpd)| lse - ln_s - elpd)
            .collect()
    }
}

/// PSIS-LOO of a pointwise log-likelihood with relative efficiency `r_eff` (see
/// [`crate::summarize`] for ArviZ's default). Tail length `ceil(min(S/5, 3 sqrt(S/r_eff)))`.
/// Observations are smoothed in parallel; the result does not depend on the number of threads.
pub fn psis_loo(log_lik: &LogLik, r_eff: f64) -> Loo {
    let n_samples = log_lik.n_chains * log_lik.n_draws;
    let points = points_of_block(&log_lik.values, n_samples, r_eff);
    loo_from_points(points, n_samples, r_eff)
}

/// PSIS-LOO of obs-major `values` (each observation's `n_samples` draws contiguous), in parallel.
fn points_of_block(values: &[f64], n_samples: usize, r_eff: f64) -> LooPoints {
    use rayon::prelude::*;
    let results: Vec<(f64, f64, f64)> = values
        .par_chunks(n_samples.max(1))
        .map_init(PsisWork::default, |work, ll| work.loo_point(ll, r_eff))
        .collect();
    let mut points = LooPoints::default();
    points.extend(results);
    points
}

/// Pointwise PSIS-LOO of the observations `obs` (0-based, any order) computed in chunks of at
/// most `chunk` observations, so that memory is `O(n_samples x chunk)` whatever the number of
/// observations. `fill(sample, obs, out)` writes the log-likelihood of observations `obs` at
/// sample `sample` (0-based, chain-major: chain 1's draws, then chain 2's, ...) into `out`; it
/// is called in parallel over samples, once per sample and chunk. The points are those
/// [`psis_loo`] gives for the same values, bit for bit.
pub fn psis_loo_points<E, F>(
    obs: &[usize],
    n_samples: usize,
    r_eff: f64,
    chunk: usize,
    fill: F,
) -> Result<LooPoints, E>
where
    E: Send,
    F: Fn(usize, &[usize], &mut [f64]) -> Result<(), E> + Sync,
{
    use rayon::prelude::*;
    let chunk = chunk.max(1);
    let mut points = LooPoints::default();
    let mut by_sample = Vec::new();
    for block in obs.chunks(chunk) {
        let len = block.len();
        // by_sample[s * len + j]: sample s of observation block[j].
        by_sample.clear();
        by_sample.resize(n_samples * len, 0.0);
        by_sample
            .par_chunks_mut(len)
            .enumerate()
            .try_for_each(|(s, out)| fill(s, block, out))?;
        let results: Vec<(f64, f64, f64)> = (0..len)
            .into_par_iter()
            .map_init(
                || (PsisWork::default(), Vec::with_capacity(n_samples)),
                |(work, column), j| {
                    column.clear();
                    column.extend((0..n_samples).map(|s| by_sample[s * len + j]));
                    work.loo_point(column, r_eff)
                },
            )
            .collect();
        points.extend(results);
    }
    Ok(points)
}

/// The PSIS-LOO estimates of every observation's points (all observations, in order): the sums
/// and ArviZ's standard error, as [`psis_loo`].
pub fn loo_from_points(points: LooPoints, n_samples: usize, r_eff: f64) -> Loo {
    let s = n_samples as f64;
    let mut lppd = 0.0;
    for lse in &points.log_sum_lik {
        lppd += lse - s.ln();
    }
    let loo_i = points.elpd;
    let elpd_loo: f64 = loo_i.iter().sum();
    let n = loo_i.len() as f64;
    let mean_i = elpd_loo / n;
    let var_i = loo_i
        .iter()
        .map(|x| (x - mean_i) * (x - mean_i))
        .sum::<f64>()
        / n;
    Loo {
        elpd_loo,
        se: (n * var_i).sqrt(),
        p_loo: lppd - elpd_loo,
        n_obs: loo_i.len(),
        loo_i,
        pareto_k: points.pareto_k,
        k_threshold: py_min(1.0 - 1.0 / s.log10(), 0.7),
        r_eff,
        subsample: None,
        subsample_above: None,
    }
}

/// The difference estimator of a total under simple random sampling without replacement
/// (Magnusson et al. 2020, eqs. 7-9 with the supplement's sign; the loo package's
/// `srs_diff_est`): `approx` for every unit of the population, `exact` for the units `idx`.
/// Returns (estimate, its subsampling variance, the estimated population variance of the
/// total, i.e. the squared ordinary standard error).
pub fn srs_diff_est(approx: &[f64], exact: &[f64], idx: &[usize]) -> (f64, f64, f64) {
    let n = approx.len() as f64;
    let m = exact.len() as f64;
    let e: Vec<f64> = exact.iter().zip(idx).map(|(y, &i)| y - approx[i]).collect();
    let t_pi = approx.iter().sum::<f64>();
    let t_pi2 = approx.iter().map(|a| a * a).sum::<f64>();
    let t_e = n * mean(&e);
    let t_hat_epsilon = n * exact
        .iter()
        .zip(idx)
        .map(|(y, &i)| y * y - approx[i] * approx[i])
        .sum::<f64>()
        / m;
    let y_hat = t_pi + t_e;
    let v_y_hat = n * n * (1.0 - m / n) * sample_var(&e) / m;
    let hat_v_y =
        (t_pi2 + t_hat_epsilon) - (t_e * t_e - v_y_hat + 2.0 * t_pi * y_hat - t_pi * t_pi) / n;
    (y_hat, v_y_hat, hat_v_y)
}

/// The simple-random-sampling estimator of a total from a sample `y` of a population of `n`
/// (the loo package's `srs_est`): (estimate, subsampling variance, `n var(y)`).
pub fn srs_est(y: &[f64], n: usize) -> (f64, f64, f64) {
    let n = n as f64;
    let m = y.len() as f64;
    let var = sample_var(y);
    (n * mean(y), n * n * (1.0 - m / n) * var / m, n * var)
}

fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Variance with ddof 1 (R's `var`); NaN for fewer than two values.
fn sample_var(xs: &[f64]) -> f64 {
    let mu = mean(xs);
    xs.iter().map(|x| (x - mu) * (x - mu)).sum::<f64>() / (xs.len() as f64 - 1.0)
}

/// Subsampled PSIS-LOO: the exact points of the observations `observations` (0-based,
/// ascending, a simple random sample without replacement) corrected by the difference estimator
/// against `approx`, an approximation of every observation's elpd (the loo package's
/// `loo_subsample(estimator = "diff_srs")`; `approximation` names it). `elpd_loo`, `se` and the
/// subsampling SE come from [`srs_diff_est`], `p_loo` and its SEs from [`srs_est`].
pub fn subsampled_loo(
    approx: &[f64],
    approximation: &str,
    observations: Vec<usize>,
    points: LooPoints,
    n_samples: usize,
    r_eff: f64,
) -> Loo {
    let n_obs = approx.len();
    let (elpd, v_sub, v_total) = srs_diff_est(approx, &points.elpd, &observations);
    let (p_loo, p_v_sub, p_v_total) = srs_est(&points.p_loo(n_samples), n_obs);
    let s = n_samples as f64;
    Loo {
        elpd_loo: elpd,
        se: v_total.sqrt(),
        p_loo,
        loo_i: points.elpd,
        pareto_k: points.pareto_k,
        k_threshold: py_min(1.0 - 1.0 / s.log10(), 0.7),
        r_eff,
        n_obs,
        subsample: Some(Subsample {
            observations,
            elpd_loo_subsampling_se: v_sub.sqrt(),
            p_loo_se: p_v_total.sqrt(),
            p_loo_subsampling_se: p_v_sub.sqrt(),
            approximation: approximation.to_string(),
        }),
        subsample_above: None,
    }
}

/// PSIS-smoothed importance weights for leaving out each observation, as used by LOO-PIT
/// (`az.loo_pit`): `weights[obs][sample]`, normalized to sum to 1 per observation, with samples
/// in chain-major order (chain 1's draws, then chain 2's, ...).
pub fn psis_weights(log_lik: &LogLik, r_eff: f64) -> Vec<Vec<f64>> {
    let mut work = PsisWork::default();
    (0..log_lik.n_obs)
        .map(|obs| {
            let (lw, _) = work.log_weights(log_lik.observation(obs), r_eff);
            lw.into_iter().map(f64::exp).collect()
        })
        .collect()
}

/// ArviZ `_logsumexp` (NaN when the maximum is infinite, as numpy).
fn logsumexp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let max = if xs.iter().any(|x| x.is_nan()) {
        f64::NAN
    } else {
        max
    };
    xs.iter().map(|x| (x - max).exp()).sum::<f64>().ln() + max
}

/// Buffers reused across observations.
#[derive(Default)]
struct PsisWork {
    /// Raw log ratios `x_j = -ll_j - max(-ll)` (ArviZ's `x` before smoothing).
    raw: Vec<f64>,
    scratch: Vec<f64>,
    /// Tail draws as (raw log ratio, index), ascending.
    tail: Vec<(f64, usize)>,
    /// `exp(x_j)`.
    exp_raw: Vec<f64>,
    /// (smoothed, raw) log ratios of the tail in the order of `tail`, when smoothing happened.
    smoothed_tail: Vec<(f64, f64)>,
}

impl PsisWork {
    /// `elpd_i` and Pareto k of one observation, as ArviZ's `_psislw(-ll)` followed by
    /// `logsumexp(log_weights + ll)`.
    ///
    /// Computed with fewer exponentials than ArviZ but the same quantities: away from the tail the
    /// smoothed log weight plus the log-likelihood is the constant `-max_x - normalizer`, so
    /// `elpd_i = -max_x - normalizer + ln(sum_j exp(x'_j - x_j))` where only tail terms differ
    /// from 1.
    fn loo_point(&mut self, ll: &[f64], r_eff: f64) -> (f64, f64, f64) {
        let n = ll.len();
        let max_x = ll.iter().map(|l| -l).fold(f64::NEG_INFINITY, f64::max);
        self.raw.clear();
        self.raw.extend(ll.iter().map(|l| -l - max_x));
        let x = &self.raw;

        let tail_target = py_min(n as f64 / 5.0, 3.0 * (n as f64 / r_eff).sqrt()).ceil();
        let mut k = f64::INFINITY;
        self.tail.clear();
        let mut smoothed_tail = std::mem::take(&mut self.smoothed_tail);
        smoothed_tail.clear();
        // cutoff_ind = -tail_target - 1 must index the array.
        if n >= 2 && tail_target.is_finite() && (tail_target as usize) < n {
            let cutoff_pos = n - tail_target as usize - 1;
            // Only the value at the cutoff position and the (short) tail above it need ordering.
            self.scratch.clear();
            self.scratch.extend_from_slice(x);
            let (_, &mut at_cutoff, _) = self
                .scratch
                .select_nth_unstable_by(cutoff_pos, f64::total_cmp);
            // log(np.finfo(float).tiny)
            let cutoff_min = f64::MIN_POSITIVE.ln();
            let x_cutoff = at_cutoff.max(cutoff_min);
            let exp_cutoff = x_cutoff.exp();
            self.tail
                .extend(x.iter().copied().zip(0..).filter(|&(v, _)| v > x_cutoff));
            self.tail.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let tail_len = self.tail.len();
            if tail_len > 4 {
                let excess: Vec<f64> = self
                    .tail
                    .iter()
                    .map(|&(v, _)| v.exp() - exp_cutoff)
                    .collect();
                let (k_hat, sigma) = gpd_fit(&excess);
                k = k_hat;
                if k.is_finite() {
                    smoothed_tail = self
                        .tail
                        .iter()
                        .enumerate()
                        .map(|(j, &(raw, _))| {
                            let p = (j as f64 + 0.5) / tail_len as f64;
                            let smoothed = (gpd_inverse(p, k, sigma) + exp_cutoff).ln();
                            // Truncate smoothed values to the largest raw weight, 0.
                            (if smoothed > 0.0 { 0.0 } else { smoothed }, raw)
                        })
                        .collect();
                }
            }
        }

        // normalizer = logsumexp(x') over all draws, x' = x except on the smoothed tail; x <= 0.
        self.exp_raw.clear();
        self.exp_raw.extend(x.iter().map(|v| v.exp()));
        let mut body_sum: f64 = self.exp_raw.iter().sum();
        let mut ratio_sum = n as f64;
        for &(smoothed, raw) in &smoothed_tail {
            body_sum += smoothed.exp() - raw.exp();
            ratio_sum += (smoothed - raw).exp() - 1.0;
        }
        let normalizer = if x.iter().any(|v| v.is_nan()) {
            f64::NAN
        } else {
            body_sum.ln()
        };
        self.smoothed_tail = smoothed_tail;
        (-max_x - normalizer + ratio_sum.ln(), k, self.lppd(ll))
    }

    /// The normalized smoothed log weights of one observation (ArviZ's `_psislw(-ll)`
    /// followed by normalization), and its Pareto k.
    fn log_weights(&mut self, ll: &[f64], r_eff: f64) -> (Vec<f64>, f64) {
        let (_, k, _) = self.loo_point(ll, r_eff);
        let mut lw = self.raw.clone();
        for (&(_, idx), &(smoothed, _)) in self.tail.iter().zip(&self.smoothed_tail) {
            lw[idx] = smoothed;
        }
        let norm = logsumexp(&lw);
        for w in &mut lw {
            *w -= norm;
        }
        (lw, k)
    }

    /// `logsumexp(ll)`, reusing `exp(x_j) = exp(min(ll) - ll_j)`:
    /// `exp(ll_j - max(ll)) = exp(min(ll) - max(ll)) / exp(x_j)`, a division instead of an
    /// exponential, when no term under- or overflows.
    fn lppd(&self, ll: &[f64]) -> f64 {
        let (min_ll, max_ll) = ll
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &l| {
                (lo.min(l), hi.max(l))
            });
        let range = max_ll - min_ll;
        if !(range.is_finite() && range < 600.0) || ll.iter().any(|l| l.is_nan()) {
            return logsumexp(ll);
        }
        let scale = (-range).exp();
        max_ll + self.exp_raw.iter().map(|e| scale / e).sum::<f64>().ln()
    }
}

/// ArviZ `_gpdfit`: Zhang & Stephens (2009) empirical Bayes fit of a generalized Pareto
/// distribution to sorted positive exceedances, with the weakly informative prior on k.
/// Returns `(k, sigma)`.
fn gpd_fit(sorted: &[f64]) -> (f64, f64) {
    const PRIOR_BS: f64 = 3.0;
    const PRIOR_K: f64 = 10.0;
    let n = sorted.len();
    let nf = n as f64;
    let m_est = 30 + (nf.sqrt() as usize);
    let (mut b, mut weights): (Vec<f64>, Vec<f64>);
    let quartile = sorted[(nf / 4.0 + 0.5) as usize - 1];
    let largest = sorted[n - 1];
    b = (1..=m_est)
        .map(|j| {
            let raw = 1.0 - (m_est as f64 / (j as f64 - 0.5)).sqrt();
            raw / (PRIOR_BS * quartile) + 1.0 / largest
        })
        .collect();
    let mean_log1p = |b: f64| sum_log1p_neg(b, sorted) / nf;
    let len_scale: Vec<f64> = b
        .iter()
        .map(|&bj| {
            let kj = mean_log1p(bj);
            nf * ((-(bj / kj)).ln() - kj - 1.0)
        })
        .collect();
    // weights_j = 1 / sum_l exp(L_l - L_j), computed as a softmax: m exponentials, not m^2.
    let max_scale = len_scale.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let shifted: Vec<f64> = len_scale.iter().map(|&l| (l - max_scale).exp()).collect();
    let shifted_total: f64 = shifted.iter().sum();
    weights = shifted.iter().map(|&e| e / shifted_total).collect();
    // Drop negligible weights (and with them their b), then normalize.
    if weights.iter().any(|&w| w < 10.0 * f64::EPSILON) {
        (b, weights) = b
            .iter()
            .zip(&weights)
            .filter(|(_, &w)| w >= 10.0 * f64::EPSILON)
            .map(|(&bj, &w)| (bj, w))
            .unzip();
    }
    let total: f64 = weights.iter().sum();
    let b_post: f64 = b.iter().zip(&weights).map(|(bj, w)| bj * (w / total)).sum();
    let k_post = mean_log1p(b_post);
    let sigma = -k_post / b_post;
    let k_post = (nf * k_post + PRIOR_K * 0.5) / (nf + PRIOR_K);
    (k_post, sigma)
}

/// `sum_i log1p(-b x_i)`, ArviZ's inner loop of `_gpdfit` (m x n terms per observation, the
/// hot spot of PSIS). Computed as logarithms of running products of `1 - b x_i`, one `ln` per
/// block instead of one `log1p` per term; each factor is exact to half an ulp in absolute terms,
/// so the sum agrees with the `log1p` sum to about n ulps of absolute error. Factors far from 1
/// (or non-positive ones, which give ArviZ's NaN / -inf) go through `ln` directly.
fn sum_log1p_neg(b: f64, xs: &[f64]) -> f64 {
    let mut sum = 0.0;
    let mut product = 1.0;
    for &x in xs {
        let factor = 1.0 - b * x;
        if (1e-100..=1e100).contains(&factor) {
            product *= factor;
            if !(1e-200..=1e200).contains(&product) {
                sum += product.ln();
                product = 1.0;
            }
        } else {
            sum += (-b * x).ln_1p();
        }
    }
    sum + product.ln()
}

/// ArviZ `_gpinv` for a probability strictly inside (0, 1).
fn gpd_inverse(p: f64, k: f64, sigma: f64) -> f64 {
    if sigma.is_nan() || sigma <= 0.0 {
        return f64::NAN;
    }
    let x = if k.abs() < f64::EPSILON {
        -(-p).ln_1p()
    } else {
        (-k * (-p).ln_1p()).exp_m1() / k
    };
    x * sigma
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpd_fit_recovers_exponential_tail() {
        // Exponential quantiles are a GPD with k = 0: the fit's k must be near 0 (shrunk
        // toward 0.5 by the prior: (n k + 5) / (n + 10)).
        let n = 400;
        let sorted: Vec<f64> = (0..n)
            .map(|i| -(1.0 - (i as f64 + 0.5) / n as f64).ln())
            .collect();
        let (k, sigma) = gpd_fit(&sorted);
        assert!(k.abs() < 0.05, "k = {k}");
        assert!((sigma - 1.0).abs() < 0.1, "sigma = {sigma}");
    }

    #[test]
    fn blocked_log1p_sum_matches_termwise() {
        let xs: Vec<f64> = (0..300)
            .map(|i| 1e-9 + (i as f64 / 299.0).powi(3))
            .collect();
        for b in [-1e6, -3.0, -1e-12, 0.0, 0.5, 0.999_999] {
            let termwise: f64 = xs.iter().map(|x| (-b * x).ln_1p()).sum();
            let blocked = sum_log1p_neg(b, &xs);
            assert!(
                (blocked - termwise).abs() <= 1e-12 * (1.0 + termwise.abs()),
                "b = {b}"
            );
        }
        // b x > 1: log1p of a number below -1 is NaN; b x = 1 gives -inf.
        assert!(sum_log1p_neg(2.0, &xs).is_nan());
        assert_eq!(sum_log1p_neg(1.0, &[0.5, 1.0]), f64::NEG_INFINITY);
    }

    #[test]
    fn constant_log_lik_has_infinite_k_and_exact_elpd() {
        let ll = LogLik::from_chains(&[vec![vec![-1.5]; 50], vec![vec![-1.5]; 50]])
            .expect("rectangular");
        let loo = psis_loo(&ll, 1.0);
        assert_eq!(loo.pareto_k, vec![f64::INFINITY]);
        assert!((loo.elpd_loo + 1.5).abs() < 1e-12);
        assert!(loo.p_loo.abs() < 1e-12);
    }
}
