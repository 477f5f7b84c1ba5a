//! Throughput of a corpus run without building the whole CLI in release mode: the same library
//! call as `refinestat spfn corpus`, timed.
//!
//! `cargo run --release -p refinestat-spfn --example corpus_bench -- PROGRAMS K SEED OUT JOBS
//! [FAMILY_SHARE MIXTURE_SHARE]` (the shares of `spfn corpus --family-share --mixture-share`;
//! default the meta-prior's defaults, `0 0` the human corpus alone)
//! `cargo run --release -p refinestat-spfn --example corpus_bench -- stats DIR` (the table of
//! `refinestat spfn stats DIR`)
//! `cargo run --release -p refinestat-spfn --example corpus_bench -- plan PROGRAMS SEED JOBS`
//! (the planning phase alone: drawing and deduplicating the programs)

use refinestat_spfn::{corpus, CorpusConfig, MetaPrior, RunOptions, SplitConfig};

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() == 2 && a[0] == "stats" {
        let st = corpus::stats(a[1].as_ref()).expect("stats");
        for s in &st.skipped {
            eprintln!("warning: {s}; skipped");
        }
        print!("{}", st.table());
        return;
    }
    if a.len() == 4 && a[0] == "plan" {
        let num = |i: usize| -> u64 { a[i].parse().expect("a number") };
        let prior = MetaPrior::default_prior().expect("corpus loads");
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(num(3) as usize)
            .build()
            .expect("thread pool");
        let t = std::time::Instant::now();
        let (planned, repeats) = pool.install(|| corpus::plan(&prior, num(1), num(2)));
        println!(
            "{} programs planned ({repeats} repeats) in {:.2} s",
            planned.len(),
            t.elapsed().as_secs_f64()
        );
        return;
    }
    if a.len() != 5 && a.len() != 7 {
        eprintln!("usage: corpus_bench PROGRAMS K SEED OUT JOBS [FAMILY_SHARE MIXTURE_SHARE]");
        std::process::exit(2);
    }
    let num = |i: usize| -> u64 { a[i].parse().expect("a number") };
    let prior = if a.len() == 7 {
        let share = |i: usize| -> f64 { a[i].parse().expect("a share") };
        MetaPrior::with_shares(share(5), share(6)).expect("corpus loads")
    } else {
        MetaPrior::default_prior().expect("corpus loads")
    };
    let cfg = CorpusConfig::new(num(0), num(1), num(2), None, SplitConfig::default_config());
    let opts = RunOptions {
        out: a[3].clone().into(),
        jobs: num(4) as usize,
        shard: None,
    };
    let t = std::time::Instant::now();
    let r = corpus::run(&prior, &cfg, &opts, &|_| {}).expect("corpus run");
    let s = t.elapsed().as_secs_f64();
    println!(
        "{} pairs in {s:.2} s: {:.0} pairs/s, {:.0} bytes/pair ({} units written, {} present)",
        r.records_written,
        r.records_written as f64 / s,
        r.bytes_written as f64 / r.records_written.max(1) as f64,
        r.units_written,
        r.units_skipped
    );
}
