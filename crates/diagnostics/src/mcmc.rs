//! Per-parameter MCMC diagnostics, transcribed from ArviZ 0.23 (`arviz/stats/diagnostics.py`).
//!
//! Rank-normalized split R-hat (`az.rhat(method="rank")`), bulk and tail ESS
//! (`az.ess(method="bulk" | "tail")`), the ESS of the mean and MCSE of the mean
//! (`az.mcse(method="mean")`), E-BFMI (`az.bfmi`), and the type-7 quantiles. ArviZ's NaN results
//! (too few chains or draws, NaN draws, zero variance) become `None`.
//!
//! The autocovariance uses one FFT per pair of chains (two real chains packed into one complex
//! signal) and one inverse FFT per ESS: only the mean autocovariance over chains is ever used, and
//! the inverse FFT is linear, so the power spectra are summed first. FFT plans are cached in
//! [`Workspace`] and reused across parameters, as are the normal scores of untied ranks.

use rustfft::num_complex::Complex;
use rustfft::FftPlanner;

use crate::normal::normal_quantile;

/// Draws of one scalar quantity as a chain x draw matrix (row-major, one row per chain).
#[derive(Debug, Clone)]
pub(crate) struct ChainMatrix {
    pub n_chains: usize,
    pub n_draws: usize,
    pub values: Vec<f64>,
}

impl ChainMatrix {
    /// Copies rectangular chains; `None` when there are no chains or their lengths differ.
    pub fn from_chains<C: AsRef<[f64]>>(chains: &[C]) -> Option<ChainMatrix> {
        let n_draws = chains.first()?.as_ref().len();
        if chains.iter().any(|c| c.as_ref().len() != n_draws) {
            return None;
        }
        let values = chains
            .iter()
            .flat_map(|c| c.as_ref().iter().copied())
            .collect();
        Some(ChainMatrix {
            n_chains: chains.len(),
            n_draws,
            values,
        })
    }

    fn chain(&self, c: usize) -> &[f64] {
        &self.values[c * self.n_draws..(c + 1) * self.n_draws]
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> ChainMatrix {
        ChainMatrix {
            n_chains: self.n_chains,
            n_draws: self.n_draws,
            values: self.values.iter().map(|&x| f(x)).collect(),
        }
    }

    /// ArviZ `_split_chains`: the first `n/2` and last `n/2` draws of each chain become chains
    /// (the middle draw of an odd-length chain is dropped). Output order: all first halves, then
    /// all second halves, as `np.vstack` does.
    fn split(&self) -> ChainMatrix {
        let half = self.n_draws / 2;
        let mut values = Vec::with_capacity(2 * self.n_chains * half);
        for c in 0..self.n_chains {
            values.extend_from_slice(&self.chain(c)[..half]);
        }
        for c in 0..self.n_chains {
            values.extend_from_slice(&self.chain(c)[self.n_draws - half..]);
        }
        ChainMatrix {
            n_chains: 2 * self.n_chains,
            n_draws: half,
            values,
        }
    }

    fn has_nan(&self) -> bool {
        self.values.iter().any(|x| x.is_nan())
    }

    /// ArviZ `_not_valid` shape test: enough chains and draws.
    fn shape_ok(&self, min_chains: usize) -> bool {
        self.n_chains >= min_chains && self.n_draws >= 4
    }
}

/// Reusable FFT plans and buffers for the autocovariance.
pub(crate) struct Workspace {
    planner: FftPlanner<f64>,
    signal: Vec<Complex<f64>>,
    spectrum: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
    scores: BlomScores,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            planner: FftPlanner::new(),
            signal: Vec::new(),
            spectrum: Vec::new(),
            scratch: Vec::new(),
            scores: BlomScores::default(),
        }
    }
}

impl Workspace {
    /// Mean over chains of the autocovariance at every lag (ArviZ `_autocov(ary, axis=1)` then
    /// `np.mean(acov[:, t])`), with ArviZ's 1/n normalization.
    fn mean_autocov(&mut self, m: &ChainMatrix) -> Vec<f64> {
        let n = m.n_draws;
        let len = (2 * n).next_power_of_two();
        let forward = self.planner.plan_fft_forward(len);
        let inverse = self.planner.plan_fft_inverse(len);
        let scratch_len = forward
            .get_inplace_scratch_len()
            .max(inverse.get_inplace_scratch_len());
        self.scratch.resize(scratch_len, Complex::default());
        self.spectrum.clear();
        self.spectrum.resize(len, Complex::default());
        let mut power = vec![0.0; len];
        let mut c = 0;
        while c < m.n_chains {
            // Two demeaned real chains as the real and imaginary parts of one signal.
            self.signal.clear();
            self.signal.resize(len, Complex::default());
            let re = m.chain(c);
            let re_mean = mean(re);
            for (s, &x) in self.signal.iter_mut().zip(re) {
                s.re = x - re_mean;
            }
            if c + 1 < m.n_chains {
                let im = m.chain(c + 1);
                let im_mean = mean(im);
                for (s, &x) in self.signal.iter_mut().zip(im) {
                    s.im = x - im_mean;
                }
            }
            forward.process_with_scratch(&mut self.signal, &mut self.scratch);
            // |A_k|^2 + |B_k|^2 = (|Z_k|^2 + |Z_{-k}|^2) / 2; symmetrized below.
            for (p, z) in power.iter_mut().zip(&self.signal) {
                *p += z.norm_sqr();
            }
            c += 2;
        }
        for k in 0..len {
            let mirrored = power[(len - k) % len];
            self.spectrum[k] = Complex::new(0.5 * (power[k] + mirrored), 0.0);
        }
        inverse.process_with_scratch(&mut self.spectrum, &mut self.scratch);
        let scale = 1.0 / (len as f64 * n as f64 * m.n_chains as f64);
        self.spectrum[..n].iter().map(|z| z.re * scale).collect()
    }
}

/// Arithmetic mean (NaN for an empty slice).
fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Variance with `ddof` degrees of freedom removed, two-pass as `np.var`.
fn variance(xs: &[f64], ddof: f64) -> f64 {
    let m = mean(xs);
    xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() as f64 - ddof)
}

/// Python's builtin `max(a, b)`: returns `a` unless `b > a` (so NaN in `a` wins, NaN in `b` loses).
fn py_max(a: f64, b: f64) -> f64 {
    if b > a {
        b
    } else {
        a
    }
}

/// Python's builtin `min(a, b)`: returns `a` unless `b < a`.
pub(crate) fn py_min(a: f64, b: f64) -> f64 {
    if b < a {
        b
    } else {
        a
    }
}

/// `np.median` of values sorted ascending.
fn median_sorted(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn sorted_copy(xs: &[f64]) -> Vec<f64> {
    let mut sorted = xs.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    sorted
}

/// `np.quantile(x, p)` with the default linear method (Hyndman-Fan type 7), on sorted values.
fn quantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    let virtual_index = (n - 1) as f64 * p;
    let below = virtual_index.floor().clamp(0.0, (n - 1) as f64);
    let lo = below as usize;
    let hi = (lo + 1).min(n - 1);
    let t = virtual_index - below;
    let (a, b) = (sorted[lo], sorted[hi]);
    let diff = b - a;
    // numpy's _lerp: interpolate from the nearer end.
    if t >= 0.5 {
        b - diff * (1.0 - t)
    } else {
        a + diff * t
    }
}

/// `scipy.stats.mstats.mquantiles(x, p, alphap=1, betap=1)`, which ArviZ uses for the tail ESS
/// thresholds: type 7 as well, but with its own rounding.
fn mquantile_sorted(sorted: &[f64], p: f64) -> f64 {
    let n = sorted.len();
    if n == 1 {
        return sorted[0];
    }
    // m = alphap + p (1 - alphap - betap) with alphap = betap = 1
    let m = 1.0 - p;
    let aleph = n as f64 * p + m;
    let k = aleph.clamp(1.0, (n - 1) as f64).floor();
    let gamma = (aleph - k).clamp(0.0, 1.0);
    let k = k as usize;
    (1.0 - gamma) * sorted[k - 1] + gamma * sorted[k]
}

/// Indices of `values` in ascending order.
fn argsort(values: &[f64]) -> Vec<usize> {
    let mut keyed: Vec<(f64, usize)> = values.iter().copied().zip(0..).collect();
    keyed.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// ArviZ `_z_scale` given the ascending order of `values`: average ranks over all values (ties
/// share their mean rank), Blom back-transform `(r - 3/8) / (n + 1/4)`, normal quantile.
fn z_scale_ordered(values: &[f64], order: &[usize], scores: &mut BlomScores) -> Vec<f64> {
    let n = values.len();
    let mut z = vec![0.0; n];
    let denominator = n as f64 - 2.0 * 0.375 + 1.0;
    let untied = scores.untied(n);
    let mut start = 0;
    while start < n {
        let value = values[order[start]];
        let mut end = start + 1;
        while end < n && values[order[end]] == value {
            end += 1;
        }
        // 1-based ranks start+1..=end share their average.
        let score = if end == start + 1 {
            untied[start]
        } else {
            let rank = (start + 1 + end) as f64 / 2.0;
            normal_quantile((rank - 0.375) / denominator)
        };
        for &i in &order[start..end] {
            z[i] = score;
        }
        start = end;
    }
    z
}

/// The ascending order of `|x - median|` from the ascending order of `x`, by merging outward
/// from the median (O(n) instead of a second sort).
fn folded_order(values: &[f64], order: &[usize], median: f64) -> Vec<usize> {
    let split_at = order.partition_point(|&i| values[i] < median);
    let (below, above) = order.split_at(split_at);
    let mut below = below.iter().rev().peekable();
    let mut above = above.iter().peekable();
    let mut folded = Vec::with_capacity(order.len());
    loop {
        let next = match (below.peek(), above.peek()) {
            (Some(&&b), Some(&&a)) => {
                if (values[b] - median).abs() <= (values[a] - median).abs() {
                    below.next()
                } else {
                    above.next()
                }
            }
            (Some(_), None) => below.next(),
            (None, Some(_)) => above.next(),
            (None, None) => break,
        };
        folded.extend(next.copied());
    }
    folded
}

/// Normal scores of the untied ranks 1..=n, `normal_quantile((r - 3/8) / (n + 1/4))`, cached:
/// every parameter of a run has the same number of draws, so they are computed once.
#[derive(Default)]
pub(crate) struct BlomScores {
    n: usize,
    scores: Vec<f64>,
}

impl BlomScores {
    fn untied(&mut self, n: usize) -> &[f64] {
        if self.n != n || self.scores.len() != n {
            let denominator = n as f64 - 2.0 * 0.375 + 1.0;
            self.scores = (1..=n)
                .map(|r| normal_quantile((r as f64 - 0.375) / denominator))
                .collect();
            self.n = n;
        }
        &self.scores
    }
}

/// Split chains, their ascending order, and their rank-normalized z-scores.
struct RankedSplit {
    split: ChainMatrix,
    order: Vec<usize>,
    z: ChainMatrix,
}

impl RankedSplit {
    fn new(m: &ChainMatrix, scores: &mut BlomScores) -> RankedSplit {
        let split = m.split();
        let order = argsort(&split.values);
        let z = ChainMatrix {
            n_chains: split.n_chains,
            n_draws: split.n_draws,
            values: z_scale_ordered(&split.values, &order, scores),
        };
        RankedSplit { split, order, z }
    }

    fn sorted_values(&self) -> Vec<f64> {
        self.order.iter().map(|&i| self.split.values[i]).collect()
    }

    /// `max(bulk, folded)` rank-normalized split R-hat (needs two or more chains).
    fn rhat(&self, sorted_split: &[f64], scores: &mut BlomScores) -> f64 {
        let rhat_bulk = rhat_basic(&self.z);
        let median = median_sorted(sorted_split);
        let folded = self.split.map(|x| (x - median).abs());
        let order = folded_order(&self.split.values, &self.order, median);
        let z_folded = ChainMatrix {
            n_chains: folded.n_chains,
            n_draws: folded.n_draws,
            values: z_scale_ordered(&folded.values, &order, scores),
        };
        py_max(rhat_bulk, rhat_basic(&z_folded))
    }
}

/// ArviZ `_rhat`: the classic potential scale reduction factor of a chain matrix.
fn rhat_basic(m: &ChainMatrix) -> f64 {
    if m.has_nan() {
        return f64::NAN;
    }
    let n = m.n_draws as f64;
    let chain_means: Vec<f64> = (0..m.n_chains).map(|c| mean(m.chain(c))).collect();
    let chain_vars: Vec<f64> = (0..m.n_chains).map(|c| variance(m.chain(c), 1.0)).collect();
    let between = n * variance(&chain_means, 1.0);
    let within = mean(&chain_vars);
    ((between / within + n - 1.0) / n).sqrt()
}

/// ArviZ `_ess`: effective sample size of a chain matrix (already split / transformed), with
/// Geyer's initial positive then initial monotone sequence.
fn ess_basic(m: &ChainMatrix, ws: &mut Workspace) -> f64 {
    if m.has_nan() {
        return f64::NAN;
    }
    let (lo, hi) = m
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    // np.finfo(float).resolution
    if hi - lo < 1e-15 {
        return m.values.len() as f64;
    }
    let n_chain = m.n_chains;
    let n_draw = m.n_draws;
    if n_draw < 2 {
        return f64::NAN;
    }
    let acov = ws.mean_autocov(m);
    let nd = n_draw as f64;
    let mean_var = acov[0] * nd / (nd - 1.0);
    let mut var_plus = mean_var * (nd - 1.0) / nd;
    if n_chain > 1 {
        let chain_means: Vec<f64> = (0..n_chain).map(|c| mean(m.chain(c))).collect();
        var_plus += variance(&chain_means, 1.0);
    }
    let rho = |t: usize| 1.0 - (mean_var - acov[t]) / var_plus;

    let mut rho_hat_t = vec![0.0; n_draw];
    let mut rho_hat_even = 1.0;
    rho_hat_t[0] = rho_hat_even;
    let mut rho_hat_odd = rho(1);
    rho_hat_t[1] = rho_hat_odd;

    // Geyer's initial positive sequence
    let mut t: usize = 1;
    while t + 3 < n_draw && (rho_hat_even + rho_hat_odd) > 0.0 {
        rho_hat_even = rho(t + 1);
        rho_hat_odd = rho(t + 2);
        if rho_hat_even + rho_hat_odd >= 0.0 {
            rho_hat_t[t + 1] = rho_hat_even;
            rho_hat_t[t + 2] = rho_hat_odd;
        }
        t += 2;
    }
    // max_t = t - 2 >= -1; work with max_t + 1 = t - 1 >= 0.
    let max_t_plus_1 = t - 1;
    if rho_hat_even > 0.0 {
        rho_hat_t[max_t_plus_1] = rho_hat_even;
    }
    // Geyer's initial monotone sequence: while t <= max_t - 2.
    let mut t: usize = 1;
    while t + 3 <= max_t_plus_1 {
        if rho_hat_t[t + 1] + rho_hat_t[t + 2] > rho_hat_t[t - 1] + rho_hat_t[t] {
            rho_hat_t[t + 1] = (rho_hat_t[t - 1] + rho_hat_t[t]) / 2.0;
            rho_hat_t[t + 2] = rho_hat_t[t + 1];
        }
        t += 2;
    }
    let ess = (n_chain * n_draw) as f64;
    let tau_hat =
        -1.0 + 2.0 * rho_hat_t[..max_t_plus_1].iter().sum::<f64>() + rho_hat_t[max_t_plus_1];
    let tau_hat = py_max(tau_hat, 1.0 / ess.log10());
    if rho_hat_t.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    ess / tau_hat
}

fn nan_to_none(x: f64) -> Option<f64> {
    (!x.is_nan()).then_some(x)
}

/// All per-parameter numbers of a summary row, NaN where ArviZ gives NaN.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ParamStats {
    pub mean: f64,
    pub sd: f64,
    pub q5: f64,
    pub q50: f64,
    pub q95: f64,
    pub mcse_mean: f64,
    pub rhat: f64,
    pub ess_bulk: f64,
    pub ess_tail: f64,
    pub ess_mean: f64,
}

/// Every summary statistic of one parameter, sharing one sort and the FFT plans.
pub(crate) fn param_stats(m: &ChainMatrix, ws: &mut Workspace) -> ParamStats {
    let mut stats = ParamStats {
        mean: mean(&m.values),
        sd: variance(&m.values, 1.0).sqrt(),
        q5: f64::NAN,
        q50: f64::NAN,
        q95: f64::NAN,
        mcse_mean: f64::NAN,
        rhat: f64::NAN,
        ess_bulk: f64::NAN,
        ess_tail: f64::NAN,
        ess_mean: f64::NAN,
    };
    if m.has_nan() {
        return stats;
    }
    let ranked = RankedSplit::new(m, &mut ws.scores);
    let sorted_split = ranked.sorted_values();
    // The split drops the middle draw of odd-length chains; the quantiles use every draw.
    let sorted_full_owned;
    let sorted_full: &[f64] = if ranked.split.values.len() == m.values.len() {
        &sorted_split
    } else {
        sorted_full_owned = sorted_copy(&m.values);
        &sorted_full_owned
    };
    stats.q5 = quantile_sorted(sorted_full, 0.05);
    stats.q50 = quantile_sorted(sorted_full, 0.5);
    stats.q95 = quantile_sorted(sorted_full, 0.95);
    if !m.shape_ok(1) {
        return stats;
    }
    stats.ess_bulk = ess_basic(&ranked.z, ws);
    stats.ess_mean = ess_basic(&ranked.split, ws);
    stats.mcse_mean = stats.sd / stats.ess_mean.sqrt();
    stats.ess_tail = ess_tail_sorted(m, sorted_full, ws);
    if m.shape_ok(2) {
        stats.rhat = ranked.rhat(&sorted_split, &mut ws.scores);
    }
    stats
}

/// `az.rhat(method="rank")`: max of the bulk and folded rank-normalized split R-hat.
fn rhat_of(m: &ChainMatrix) -> f64 {
    if m.has_nan() || !m.shape_ok(2) {
        return f64::NAN;
    }
    let mut scores = BlomScores::default();
    let ranked = RankedSplit::new(m, &mut scores);
    ranked.rhat(&ranked.sorted_values(), &mut scores)
}

/// `az.ess(method="bulk")`.
fn ess_bulk_of(m: &ChainMatrix, ws: &mut Workspace) -> f64 {
    if m.has_nan() || !m.shape_ok(1) {
        return f64::NAN;
    }
    let z = RankedSplit::new(m, &mut ws.scores).z;
    ess_basic(&z, ws)
}

/// `az.ess(method="tail")`: the smaller ESS of the 5% and 95% quantile indicators, given all
/// draws sorted.
fn ess_tail_sorted(m: &ChainMatrix, sorted: &[f64], ws: &mut Workspace) -> f64 {
    if m.has_nan() || !m.shape_ok(1) {
        return f64::NAN;
    }
    let mut quantile_ess = |p: f64| {
        let q = mquantile_sorted(sorted, p);
        let indicator = m.map(|x| if x <= q { 1.0 } else { 0.0 });
        ess_basic(&indicator.split(), ws)
    };
    let low = quantile_ess(0.05);
    let high = quantile_ess(0.95);
    py_min(low, high)
}

/// `az.ess(method="mean")`: split ESS of the raw draws.
fn ess_mean_of(m: &ChainMatrix, ws: &mut Workspace) -> f64 {
    if m.has_nan() || !m.shape_ok(1) {
        return f64::NAN;
    }
    ess_basic(&m.split(), ws)
}

/// `az.mcse(method="mean")`: sd (ddof 1) over the square root of the mean's ESS.
fn mcse_mean_of(m: &ChainMatrix, ws: &mut Workspace) -> f64 {
    if m.has_nan() || !m.shape_ok(1) {
        return f64::NAN;
    }
    variance(&m.values, 1.0).sqrt() / ess_mean_of(m, ws).sqrt()
}

/// Rank-normalized split R-hat of one parameter, as `arviz.rhat(method="rank")`.
///
/// `chains[c][d]` is draw `d` of chain `c`. `None` where ArviZ gives NaN: fewer than 2 chains or
/// 4 draws, a NaN draw, constant draws (zero within-chain variance), or chains of unequal length.
pub fn rhat<C: AsRef<[f64]>>(chains: &[C]) -> Option<f64> {
    ChainMatrix::from_chains(chains).and_then(|m| nan_to_none(rhat_of(&m)))
}

/// Bulk effective sample size, as `arviz.ess(method="bulk")`.
///
/// `None` for fewer than 4 draws, a NaN draw, or chains of unequal length. Constant draws give
/// the number of (split) draws, as ArviZ does.
pub fn ess_bulk<C: AsRef<[f64]>>(chains: &[C]) -> Option<f64> {
    let m = ChainMatrix::from_chains(chains)?;
    nan_to_none(ess_bulk_of(&m, &mut Workspace::default()))
}

/// Tail effective sample size (the minimum over the 5% and 95% quantile indicators), as
/// `arviz.ess(method="tail")`. `None` in the same cases as [`ess_bulk`].
pub fn ess_tail<C: AsRef<[f64]>>(chains: &[C]) -> Option<f64> {
    let m = ChainMatrix::from_chains(chains)?;
    let sorted = sorted_copy(&m.values);
    nan_to_none(ess_tail_sorted(&m, &sorted, &mut Workspace::default()))
}

/// Monte Carlo standard error of the posterior mean, as `arviz.mcse(method="mean")`.
/// `None` in the same cases as [`ess_bulk`].
pub fn mcse_mean<C: AsRef<[f64]>>(chains: &[C]) -> Option<f64> {
    let m = ChainMatrix::from_chains(chains)?;
    nan_to_none(mcse_mean_of(&m, &mut Workspace::default()))
}

/// E-BFMI of one chain's energy, as `arviz.bfmi`: mean squared energy change over the energy
/// variance (ddof 1). `None` for fewer than 2 draws or when the value is NaN (constant energy).
pub fn bfmi(energy: &[f64]) -> Option<f64> {
    if energy.len() < 2 {
        return None;
    }
    let squared_steps: Vec<f64> = energy.windows(2).map(|w| (w[1] - w[0]).powi(2)).collect();
    nan_to_none(mean(&squared_steps) / variance(energy, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_type_7() {
        let sorted = [1.0, 2.0, 4.0, 8.0];
        // R: quantile(c(1,2,4,8), c(.05,.5,.95), type=7) = 1.15, 3.0, 7.4
        assert!((quantile_sorted(&sorted, 0.05) - 1.15).abs() < 1e-12);
        assert!((quantile_sorted(&sorted, 0.5) - 3.0).abs() < 1e-12);
        assert!((quantile_sorted(&sorted, 0.95) - 7.4).abs() < 1e-12);
        assert!((mquantile_sorted(&sorted, 0.95) - 7.4).abs() < 1e-12);
        assert!((mquantile_sorted(&sorted, 0.05) - 1.15).abs() < 1e-12);
    }

    #[test]
    fn packed_fft_autocov_matches_direct_sum() {
        let chains: Vec<Vec<f64>> = (0..3)
            .map(|c| {
                (0..37)
                    .map(|d| ((d * 7 + c * 3) % 11) as f64 + 0.1 * c as f64)
                    .collect()
            })
            .collect();
        let m = ChainMatrix::from_chains(&chains).expect("rectangular");
        let fft = Workspace::default().mean_autocov(&m);
        for (t, &got) in fft.iter().enumerate() {
            let direct: f64 = chains
                .iter()
                .map(|x| {
                    let mu = mean(x);
                    (0..x.len() - t)
                        .map(|i| (x[i] - mu) * (x[i + t] - mu))
                        .sum::<f64>()
                        / x.len() as f64
                })
                .sum::<f64>()
                / 3.0;
            assert!((got - direct).abs() < 1e-12, "lag {t}: {got} vs {direct}");
        }
    }

    #[test]
    fn short_or_ragged_input_gives_none() {
        assert_eq!(rhat(&[vec![1.0, 2.0, 3.0]]), None);
        assert_eq!(rhat(&[vec![1.0, 2.0, 3.0, 4.0], vec![1.0]]), None);
        assert_eq!(ess_bulk(&[vec![1.0, 2.0]]), None);
        assert_eq!(ess_bulk::<Vec<f64>>(&[]), None);
        assert_eq!(bfmi(&[1.0]), None);
        assert_eq!(bfmi(&[2.0, 2.0, 2.0]), None);
    }
}
