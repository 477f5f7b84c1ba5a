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
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a program against the six validity predicates (exit 0 valid, 1 violations, 2 usage/IO error).
    Check {
        model: PathBuf,
        /// Stan JSON data; enables data validation and support checks against observed values.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a program in the house layout, or in canonical form.
    Fmt {
        model: PathBuf,
        /// Canonical form: equal for programs that differ only in names, formatting, comments or
        /// the order of independent declarations.
        #[arg(long)]
        canonical: bool,
    },
    /// Evaluate the log density, its gradient and the pointwise log-likelihood at given parameters.
    Logp {
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        /// Constrained parameter values by name, Stan JSON.
        #[arg(long)]
        params: PathBuf,
    },
    /// Draw from the prior predictive distribution (JSON on stdout).
    Simulate {
        model: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 1)]
        draws: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}
