//! Shared test helpers: hand-written densities with known posteriors, and a Geyer ESS / MCSE.

#![allow(dead_code)]

use refinestat_inference::{LogDensity, LogpFailure, SampleOutput};

/// Independent normals with the given means and standard deviations.
#[derive(Clone)]
pub struct IndependentNormal {
    pub mean: Vec<f64>,
    pub sd: Vec<f64>,
}

impl IndependentNormal {
    pub fn standard(dim: usize) -> Self {
        IndependentNormal {
            mean: vec![0.0; dim],
            sd: vec![1.0; dim],
        }
    }
}

impl LogDensity for IndependentNormal {
    fn dim(&self) -> usize {
        self.mean.len()
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let mut lp = 0.0;
        for i in 0..x.len() {
            let z = (x[i] - self.mean[i]) / self.sd[i];
            grad[i] = -z / self.sd[i];
            lp -= 0.5 * z * z;
        }
        Ok(lp)
    }
}

/// A 2-D Gaussian with correlation `rho`.
#[derive(Clone)]
pub struct CorrelatedNormal2 {
    pub mean: [f64; 2],
    pub sd: [f64; 2],
    pub rho: f64,
}

impl LogDensity for CorrelatedNormal2 {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let z0 = (x[0] - self.mean[0]) / self.sd[0];
        let z1 = (x[1] - self.mean[1]) / self.sd[1];
        let k = 1.0 / (1.0 - self.rho * self.rho);
        let quad = k * (z0 * z0 - 2.0 * self.rho * z0 * z1 + z1 * z1);
        grad[0] = -k * (z0 - self.rho * z1) / self.sd[0];
        grad[1] = -k * (z1 - self.rho * z0) / self.sd[1];
        Ok(-0.5 * quad)
    }
}

/// `y_i ~ normal(mu, sigma)`, `mu ~ normal(prior_mean, prior_sd)`.
#[derive(Clone)]
pub struct NormalNormal {
    pub y: Vec<f64>,
    pub sigma: f64,
    pub prior_mean: f64,
    pub prior_sd: f64,
}

impl NormalNormal {
    /// Posterior mean and sd of `mu` (conjugate update).
    pub fn posterior(&self) -> (f64, f64) {
        let precision = 1.0 / self.prior_sd.powi(2) + self.y.len() as f64 / self.sigma.powi(2);
        let weighted = self.prior_mean / self.prior_sd.powi(2)
            + self.y.iter().sum::<f64>() / self.sigma.powi(2);
        (weighted / precision, precision.recip().sqrt())
    }
}

impl LogDensity for NormalNormal {
    fn dim(&self) -> usize {
        1
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let mu = x[0];
        let zp = (mu - self.prior_mean) / self.prior_sd;
        let mut lp = -0.5 * zp * zp;
        let mut g = -zp / self.prior_sd;
        for y in &self.y {
            let z = (y - mu) / self.sigma;
            lp -= 0.5 * z * z;
            g += z / self.sigma;
        }
        grad[0] = g;
        Ok(lp)
    }
}

/// `y_i ~ poisson(lambda)`, `lambda ~ gamma(shape, rate)`, sampled as `u = log(lambda)` with the
/// Jacobian `+u`. The posterior of `lambda` is `gamma(shape + sum y, rate + n)`.
#[derive(Clone)]
pub struct GammaPoisson {
    pub y: Vec<u64>,
    pub shape: f64,
    pub rate: f64,
}

impl GammaPoisson {
    pub fn posterior(&self) -> (f64, f64) {
        let shape = self.shape + self.y.iter().sum::<u64>() as f64;
        let rate = self.rate + self.y.len() as f64;
        (shape / rate, shape.sqrt() / rate)
    }
}

impl LogDensity for GammaPoisson {
    fn dim(&self) -> usize {
        1
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let u = x[0];
        let lambda = u.exp();
        // prior: (shape - 1) log(lambda) - rate lambda; likelihood: y log(lambda) - lambda.
        let mut lp = (self.shape - 1.0) * u - self.rate * lambda + u;
        let mut g = self.shape - self.rate * lambda;
        for &y in &self.y {
            lp += y as f64 * u - lambda;
            g += y as f64 - lambda;
        }
        grad[0] = g;
        Ok(lp)
    }
}

/// `k ~ binomial(n, p)`, `p ~ beta(a, b)`, sampled as `u = logit(p)` with the Jacobian
/// `log p + log(1 - p)`. The posterior of `p` is `beta(a + k, b + n - k)`.
#[derive(Clone)]
pub struct BetaBinomial {
    pub successes: u64,
    pub trials: u64,
    pub a: f64,
    pub b: f64,
}

impl BetaBinomial {
    pub fn posterior(&self) -> (f64, f64) {
        let a = self.a + self.successes as f64;
        let b = self.b + (self.trials - self.successes) as f64;
        let mean = a / (a + b);
        (mean, (a * b / ((a + b).powi(2) * (a + b + 1.0))).sqrt())
    }
}

pub fn inv_logit(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

impl LogDensity for BetaBinomial {
    fn dim(&self) -> usize {
        1
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let u = x[0];
        let p = inv_logit(u);
        // log p = -log1p(exp(-u)), log(1 - p) = -log1p(exp(u)), stable for large |u|.
        let log_p = -(-u).exp().ln_1p();
        let log_q = -u.exp().ln_1p();
        let a = self.a + self.successes as f64; // (a - 1) + k + 1 from the Jacobian
        let b = self.b + (self.trials - self.successes) as f64;
        grad[0] = a * (1.0 - p) - b * p;
        Ok(a * log_p + b * log_q)
    }
}

/// Bulk ESS of one scalar across chains (Stan's multi-chain autocorrelation with Geyer's initial
/// monotone sequence).
pub fn ess(chains: &[Vec<f64>]) -> f64 {
    let m = chains.len();
    let n = chains.iter().map(Vec::len).min().unwrap_or(0);
    assert!(m >= 1 && n >= 4, "ess needs draws");
    let means: Vec<f64> = chains
        .iter()
        .map(|c| c[..n].iter().sum::<f64>() / n as f64)
        .collect();
    let acov = |c: usize, lag: usize| -> f64 {
        let x = &chains[c][..n];
        (0..n - lag)
            .map(|i| (x[i] - means[c]) * (x[i + lag] - means[c]))
            .sum::<f64>()
            / n as f64
    };
    let w = (0..m)
        .map(|c| acov(c, 0) * n as f64 / (n as f64 - 1.0))
        .sum::<f64>()
        / m as f64;
    let grand = means.iter().sum::<f64>() / m as f64;
    let b_over_n = if m > 1 {
        means.iter().map(|x| (x - grand).powi(2)).sum::<f64>() / (m as f64 - 1.0)
    } else {
        0.0
    };
    let var_plus = w * (n as f64 - 1.0) / n as f64 + b_over_n;
    let rho =
        |lag: usize| 1.0 - (w - (0..m).map(|c| acov(c, lag)).sum::<f64>() / m as f64) / var_plus;
    let mut sum = 0.0;
    let mut previous = f64::INFINITY;
    let mut lag = 0;
    while lag + 1 < n {
        let pair = (rho(lag) + rho(lag + 1)).min(previous);
        if pair <= 0.0 {
            break;
        }
        sum += pair;
        previous = pair;
        lag += 2;
    }
    let tau = (-1.0 + 2.0 * sum).max(1.0 / (m * n) as f64);
    (m * n) as f64 / tau
}

/// Mean, sd and their Monte Carlo standard errors of one scalar across chains.
pub struct Estimate {
    pub mean: f64,
    pub sd: f64,
    pub mcse_mean: f64,
    pub mcse_sd: f64,
}

pub fn estimate(chains: &[Vec<f64>]) -> Estimate {
    let all: Vec<f64> = chains.iter().flatten().copied().collect();
    let n = all.len() as f64;
    let mean = all.iter().sum::<f64>() / n;
    let var = all.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt();
    let squares: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| c.iter().map(|x| (x - mean).powi(2)).collect())
        .collect();
    let sq_all: Vec<f64> = squares.iter().flatten().copied().collect();
    let sq_mean = sq_all.iter().sum::<f64>() / n;
    let sq_sd = (sq_all.iter().map(|x| (x - sq_mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mcse_var = sq_sd / ess(&squares).sqrt();
    Estimate {
        mean,
        sd,
        mcse_mean: sd / ess(chains).sqrt(),
        mcse_sd: mcse_var / (2.0 * sd),
    }
}

/// Per-chain values of `f(draw)`.
pub fn scalar(output: &SampleOutput, f: impl Fn(&[f64]) -> f64) -> Vec<Vec<f64>> {
    output
        .chains
        .iter()
        .map(|c| c.draws.iter().map(|d| f(d)).collect())
        .collect()
}

/// Asserts the posterior mean and sd of `f(draw)` are within 4 MCSE of the analytic values.
pub fn assert_posterior(
    label: &str,
    output: &SampleOutput,
    f: impl Fn(&[f64]) -> f64,
    mean: f64,
    sd: f64,
) {
    let e = estimate(&scalar(output, f));
    assert!(
        (e.mean - mean).abs() < 4.0 * e.mcse_mean,
        "{label}: mean {} vs analytic {mean} (mcse {})",
        e.mean,
        e.mcse_mean
    );
    assert!(
        (e.sd - sd).abs() < 4.0 * e.mcse_sd,
        "{label}: sd {} vs analytic {sd} (mcse {})",
        e.sd,
        e.mcse_sd
    );
    // A sampler stuck in place would have a tiny sd and so a tiny MCSE; require real mixing too.
    assert!(
        e.mcse_mean < 0.1 * sd,
        "{label}: mcse {} too large vs sd {sd}",
        e.mcse_mean
    );
}
