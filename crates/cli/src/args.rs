//! Command-line flags (DESIGN.md "Command line"): validated here, nothing else.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "refinestat",
    version,
    about = "Writes reliable Bayesian models from data: a Stan-subset engine with native gradients, NUTS and ArviZ-exact diagnostics"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// With --data given as CSV: drop the rows with a missing value (empty, NA, NaN, null) and
    /// say how many, instead of stopping at the first one.
    #[arg(long, global = true)]
    pub drop_missing: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a program against the six validity predicates (exit 0 valid, 1 violations, 2 usage/IO error).
    #[command(after_help = crate::help::CHECK)]
    Check {
        /// The Stan program (.stan).
        model: PathBuf,
        /// Stan JSON data; enables data validation and support checks against observed values.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
        /// Treat warnings (possible support violations interval analysis cannot rule out) as
        /// violations: exit 1 on any (what the constrained decoder requires).
        #[arg(long)]
        strict: bool,
    },
    /// Print a program in the house layout, or in canonical form.
    #[command(after_help = crate::help::FMT)]
    Fmt {
        /// The Stan programs (.stan); without --check or --in-place, exactly one.
        #[arg(required = true)]
        model: Vec<PathBuf>,
        /// Canonical form: equal for programs that differ only in names, formatting, comments or
        /// the order of independent declarations.
        #[arg(long)]
        canonical: bool,
        /// Print nothing; exit 1 and name each file that formatting would change.
        #[arg(long, conflicts_with = "in_place")]
        check: bool,
        /// Rewrite each file in the house layout (only the files that change are written).
        #[arg(long)]
        in_place: bool,
    },
    /// Evaluate the log density, its gradient and the pointwise log-likelihood at given parameters.
    #[command(after_help = crate::help::LOGP)]
    Logp {
        /// The Stan program (.stan).
        model: PathBuf,
        /// Stan JSON data file.
        #[arg(long)]
        data: PathBuf,
        /// Constrained parameter values by name, Stan JSON.
        #[arg(
            long,
            required_unless_present = "unconstrained",
            conflicts_with = "unconstrained"
        )]
        params: Option<PathBuf>,
        /// The point on the unconstrained scale instead of --params: a JSON array of numbers in
        /// the order of Stan's unconstrained parameter vector (what Stan's `log_prob` takes).
        #[arg(long)]
        unconstrained: Option<PathBuf>,
        /// Drop the constant terms of `~` statements, as Stan's `log_prob` does (`target +=`
        /// terms are kept whole).
        #[arg(long)]
        propto: bool,
    },
    /// Draw from the prior predictive distribution (JSON on stdout).
    #[command(after_help = crate::help::SIMULATE)]
    Simulate {
        /// The Stan program (.stan).
        model: PathBuf,
        /// Stan JSON data file.
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 1)]
        draws: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Fit a program with NUTS: CmdStan-layout CSV per chain, summary.json, report.html and a
    /// summary table.
    #[command(after_help = crate::help::SAMPLE)]
    Sample {
        /// The Stan program (.stan).
        model: PathBuf,
        /// Stan JSON data file (not needed for a program without a data block).
        #[arg(long)]
        data: Option<PathBuf>,
        #[command(flatten)]
        flags: SampleFlags,
    },
    /// Diagnose CmdStan-layout CSV files (ours or CmdStan's): writes summary.json.
    #[command(after_help = crate::help::DIAGNOSE)]
    Diagnose {
        #[arg(required = true)]
        /// CmdStan-layout CSV files, one per chain.
        csv: Vec<PathBuf>,
        /// Where summary.json goes (default: the first CSV's directory).
        #[arg(long)]
        output_dir: Option<PathBuf>,
        /// Also print summary.json to stdout.
        #[arg(long)]
        json: bool,
        /// The Stan program the CSVs were sampled from (with --data): its pointwise log-likelihood
        /// is evaluated at every draw from the constrained parameter columns, so PSIS-LOO works
        /// for CSVs without `log_lik` columns (CmdStan, PyStan, `sample --log-lik none`); it
        /// replaces any `log_lik` columns the files have. Computed in chunks of observations,
        /// subsampled above --loo-subsample-above.
        #[arg(long, requires = "data")]
        program: Option<PathBuf>,
        /// Stan JSON data of --program.
        #[arg(long, requires = "program")]
        data: Option<PathBuf>,
        #[command(flatten)]
        loo: LooFlags,
    },
    /// Simulation-based calibration: fit the model to data drawn from its own prior predictive and
    /// test whether the ranks of the true parameter values among the posterior draws are uniform.
    #[command(after_help = crate::help::SBC)]
    Sbc {
        /// The Stan program (.stan).
        model: PathBuf,
        /// Stan JSON data file.
        #[arg(long)]
        data: PathBuf,
        #[command(flatten)]
        flags: SbcFlags,
    },
    /// Write N programs after the data block with a proposal model, checked token by token.
    #[command(after_help = crate::help::GENERATE)]
    Generate(crate::generate::GenerateArgs),
    /// Write a reliable program for the data: generate, fit, score and refine (RefineStat).
    #[command(after_help = crate::help::SYNTH)]
    Synth(crate::synth::SynthArgs),
    /// Run the grid lm x mode x dataset x seed of synth runs (resumable) and aggregate it.
    #[command(after_help = crate::help::EXPERIMENT)]
    Experiment(crate::experiment::ExperimentArgs),
    /// SPFN: `spfn corpus`, `spfn stats` (training pairs), `spfn train` (the network; `spfn` feature).
    #[command(subcommand)]
    Spfn(crate::spfn::SpfnCommand),
    /// Write DIR/report.html for the output directory of `sample` or `synth`: the program, the
    /// checks, the posterior summary, trace/rank/pairs/energy plots, posterior predictive checks,
    /// LOO-PIT and Pareto k (and for `synth` the candidates and the refinement history).
    #[command(after_help = crate::help::REPORT)]
    Report {
        /// The output directory of `sample` or `synth`.
        dir: PathBuf,
        /// Parameters with trace and rank plots (those with the highest R-hat when there are
        /// more).
        #[arg(long, default_value_t = 12)]
        max_params: usize,
    },
}

/// Flags of `sample` beyond the model and data.
#[derive(Debug, clap::Args)]
pub struct SampleFlags {
    #[arg(long, default_value_t = 4)]
    pub chains: usize,
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    #[arg(long, default_value_t = 1)]
    pub thin: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Maximum tree depth of NUTS.
    #[arg(long, default_value_t = 10)]
    pub max_treedepth: usize,
    /// Target acceptance statistic of step-size adaptation (CmdStan's adapt delta).
    #[arg(long, default_value_t = 0.8)]
    pub target_accept: f64,
    /// Stop chains cleanly after this many seconds of wall time.
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Where chain-<k>.csv, summary.json, report.html and copies of the program and data go
    /// (default: output/<model name>).
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Replace the files of an earlier run in the output directory (otherwise refused).
    #[arg(long)]
    pub overwrite: bool,
    /// Do not write report.html.
    #[arg(long)]
    pub no_report: bool,
    /// Print summary.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Where the pointwise log-likelihood goes: `csv` (a `log_lik[i]` column per observation in
    /// every chain CSV), `file` (log_lik.npy beside the CSVs: little-endian f8 of shape
    /// (chains, draws, observations), as numpy.load and ArviZ read it) or `none` (PSIS-LOO is
    /// still computed; `diagnose --program --data` recomputes it from the draws). Default:
    /// `csv` up to --log-lik-csv-max observations, else `none`.
    #[arg(long, value_enum)]
    pub log_lik: Option<LogLikMode>,
    /// Observations up to which the default --log-lik is `csv`.
    #[arg(long, default_value_t = refinestat_workflow::LOG_LIK_ROWS_MAX)]
    pub log_lik_csv_max: usize,
    #[command(flatten)]
    pub loo: LooFlags,
}

/// Where `sample` writes the pointwise log-likelihood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogLikMode {
    /// `log_lik[i]` columns in every chain CSV.
    Csv,
    /// log_lik.npy beside the chain CSVs.
    File,
    /// Not written.
    None,
}

/// How PSIS-LOO is computed (`sample`, `diagnose --program`).
#[derive(Debug, Clone, clap::Args)]
pub struct LooFlags {
    /// Subsample PSIS-LOO (difference estimator, plpd approximation) when the likelihood has
    /// more observations than this.
    #[arg(long, default_value_t = refinestat_workflow::SUBSAMPLE_ABOVE)]
    pub loo_subsample_above: usize,
    /// Observations computed exactly in subsampled PSIS-LOO (at least 2).
    #[arg(long, default_value_t = refinestat_workflow::SUBSAMPLE_SIZE, value_parser = at_least_two)]
    pub loo_subsample_size: usize,
    /// Never subsample PSIS-LOO (every observation, in chunks).
    #[arg(long)]
    pub loo_full: bool,
}

fn at_least_two(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if n >= 2 => Ok(n),
        Ok(_) => Err("a subsample needs at least 2 observations".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl LooFlags {
    /// The workflow's options; `seed` picks the subsample.
    pub fn options(&self, seed: u64) -> refinestat_workflow::LooOptions {
        refinestat_workflow::LooOptions {
            subsample_above: (!self.loo_full).then_some(self.loo_subsample_above),
            subsample_size: self.loo_subsample_size,
            seed,
            ..refinestat_workflow::LooOptions::default()
        }
    }
}

/// Flags of `sbc` beyond the model and data.
#[derive(Debug, clap::Args)]
pub struct SbcFlags {
    /// Number of replications (simulate, refit, rank).
    #[arg(long, default_value_t = 200)]
    pub reps: usize,
    /// Post-warmup draws per chain and replication.
    #[arg(long, default_value_t = 1000)]
    pub draws: usize,
    #[arg(long, default_value_t = 1000)]
    pub warmup: usize,
    #[arg(long, default_value_t = 1)]
    pub chains: usize,
    /// Keep every T-th posterior draw for the ranks (default: about 200 kept draws in all).
    #[arg(long)]
    pub thin: Option<usize>,
    /// Histogram bins of the uniformity test (default: 20, fewer when reps/bins would drop below 5).
    #[arg(long)]
    pub bins: Option<usize>,
    /// Refit a replication with 2x, 4x, ... the draws (thinned as much more) while its smallest
    /// bulk ESS is below the number of ranked draws, at most this many times.
    #[arg(long, default_value_t = 2)]
    pub max_refits: usize,
    /// Family-wise significance level of the uniformity test (Bonferroni over the parameters).
    #[arg(long, default_value_t = 0.05)]
    pub significance: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Fit this program instead of MODEL (same parameter names); MODEL still simulates.
    #[arg(long)]
    pub fit_model: Option<PathBuf>,
    #[arg(long, default_value_t = 10)]
    pub max_treedepth: usize,
    #[arg(long, default_value_t = 0.8)]
    pub target_accept: f64,
    /// Where ranks.csv and sbc.json go (default: output/<model name>-sbc). A rerun with the same
    /// settings continues the replications already there.
    #[arg(long)]
    pub output_dir: Option<PathBuf>,
    /// Print sbc.json to stdout instead of the table.
    #[arg(long)]
    pub json: bool,
}
