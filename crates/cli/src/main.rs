//! The `refinestat` binary: parses flags and calls one library function per subcommand.
//!
//! Errors become exit code 2 here, in one place; `check` reports violations with exit code 1.

mod args;
mod backends;
mod commands;
mod error;
mod experiment;
mod fit;
mod generate;
mod help;
mod outdir;
mod sbc;
mod shard;
mod source;
mod spfn;
mod synth;
mod synth_print;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = <args::Cli as clap::Parser>::parse();
    match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}
