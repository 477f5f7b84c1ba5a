//! Prints one chain of a small run in CmdStan CSV layout (`cargo run --example csv_demo`).

use refinestat_inference::{
    cmdstan_column_name, sample, write_cmdstan_csv, CsvHeader, LogDensity, LogpFailure,
    SamplerConfig,
};

/// `sigma ~ lognormal(0, 1)` sampled as `log(sigma)`; `mu ~ normal(1, 2)`.
struct Demo;

impl LogDensity for Demo {
    fn dim(&self) -> usize {
        2
    }
    fn logp(&mut self, x: &[f64], grad: &mut [f64]) -> Result<f64, LogpFailure> {
        let z = (x[0] - 1.0) / 2.0;
        grad[0] = -z / 2.0;
        // lognormal(0,1) on sigma = exp(u) with Jacobian u: density of u is normal(0, 1).
        grad[1] = -x[1];
        Ok(-0.5 * z * z - 0.5 * x[1] * x[1])
    }
}

fn main() -> std::io::Result<()> {
    let config = SamplerConfig {
        chains: 1,
        warmup: 100,
        draws: 5,
        seed: 1,
        ..SamplerConfig::default()
    };
    let output = sample(&config, |_| Demo).map_err(std::io::Error::other)?;
    let chain = &output.chains[0];
    let columns = ["mu", "sigma"].map(cmdstan_column_name).to_vec();
    let outputs = chain.transformed(|x| vec![x[0], x[1].exp()]);
    let header = CsvHeader::for_chain("demo", &config, chain);
    write_cmdstan_csv(
        std::io::stdout().lock(),
        &header,
        &columns,
        &chain.stats,
        &outputs,
    )
}
