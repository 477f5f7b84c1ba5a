//! Prints the summary table and summary.json for CmdStan CSV files:
//! `cargo run -p refinestat-diagnostics --example diagnose -- chain-1.csv chain-2.csv`.

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    let chains: Result<Vec<_>, _> = paths
        .iter()
        .map(refinestat_diagnostics::read_cmdstan_csv)
        .collect();
    match chains.and_then(|c| refinestat_diagnostics::summarize_csv(&c)) {
        Ok(summary) => {
            print!("{}", refinestat_diagnostics::render_table(&summary));
            println!("{}", summary.to_json());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    }
}
