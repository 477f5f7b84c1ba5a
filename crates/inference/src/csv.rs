//! CmdStan-layout CSV output: configuration comments, the header row, the adaptation block and one
//! row per draw, plus the conversion between Stan names (`L[2,1]`) and CmdStan columns (`L.2.1`).
//!
//! Numbers use Rust's shortest round-trip representation, so the same draws always give the same
//! bytes. No timing is written, for the same reason.

use std::io::{self, Write};

use crate::{ChainDraws, DrawStats, SamplerConfig};

/// The sampler columns CmdStan writes before the model's columns, in order.
pub const SAMPLER_COLUMNS: [&str; 7] = [
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
];

/// The comment block of one chain's CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct CsvHeader {
    /// Model name (CmdStan writes the program's file stem).
    pub model: String,
    /// 1-based chain id.
    pub chain_id: usize,
    /// The run's master seed.
    pub seed: u64,
    /// Post-warmup iterations requested (before thinning).
    pub num_samples: usize,
    /// Warmup iterations requested.
    pub num_warmup: usize,
    /// Thinning period.
    pub thin: usize,
    /// Maximum tree depth.
    pub max_depth: usize,
    /// Target acceptance (CmdStan's `delta`).
    pub delta: f64,
    /// Initialisation radius.
    pub init_radius: f64,
    /// Adapted step size.
    pub step_size: f64,
    /// Adapted diagonal of the inverse metric.
    pub inv_metric: Vec<f64>,
}

impl CsvHeader {
    /// The header for one chain of a finished run.
    pub fn for_chain(model: &str, config: &SamplerConfig, chain: &ChainDraws) -> CsvHeader {
        CsvHeader {
            model: model.to_string(),
            chain_id: chain.chain + 1,
            seed: config.seed,
            num_samples: config.draws,
            num_warmup: config.warmup,
            thin: config.thin,
            max_depth: config.max_treedepth,
            delta: config.target_accept,
            init_radius: config.init_radius,
            step_size: chain.step_size,
            inv_metric: chain.inv_metric.clone(),
        }
    }
}

/// Formats a number so that parsing it gives back the same `f64`: the shortest round-trip digits,
/// in exponent form only for very small or very large magnitudes (`1e-7`, `1.5e20`).
pub fn format_f64(x: f64) -> String {
    let mut text = String::new();
    push_f64(&mut text, x);
    text
}

/// Appends [`format_f64`]`(x)` to `text`. A chain's CSV holds millions of numbers when there is a
/// `log_lik` column per observation (formatting them was a fifth of a logistic regression run),
/// so this takes the shortest round-trip digits from `zmij`, about three times faster than
/// `std::fmt`. `zmij` already switches to exponent form outside `[1e-5, 1e16)`; only its spelling
/// differs from the standard library's (`1.0` for `1`, `1.5e+20` for `1.5e20`). Where the exact
/// value lies halfway between two shortest candidates the last digit may differ from the standard
/// library's; both read back to `x` (checked in the tests).
fn push_f64(text: &mut String, x: f64) {
    if x == 0.0 || !x.is_finite() {
        use std::fmt::Write as _;
        // "0", "-0", "NaN", "inf", "-inf"; writing to a String cannot fail.
        let _ = write!(text, "{x}");
        return;
    }
    let mut buffer = zmij::Buffer::new();
    let shortest = buffer.format_finite(x);
    if let Some(integer) = shortest.strip_suffix(".0") {
        text.push_str(integer);
    } else if let Some((mantissa, exponent)) = shortest.split_once("e+") {
        text.push_str(mantissa);
        text.push('e');
        text.push_str(exponent);
    } else {
        text.push_str(shortest);
    }
}

/// Converts a Stan name to its CmdStan column: `theta[1]` -> `theta.1`, `L[2,1]` -> `L.2.1`.
pub fn cmdstan_column_name(stan_name: &str) -> String {
    let mut column = String::with_capacity(stan_name.len());
    for c in stan_name.chars() {
        match c {
            '[' | ',' => column.push('.'),
            ']' | ' ' => {}
            _ => column.push(c),
        }
    }
    column
}

/// Converts a CmdStan column back to a Stan name: `theta.1` -> `theta[1]`, `L.2.1` -> `L[2,1]`.
/// Stan identifiers contain no dots, so the first dot starts the indexes.
pub fn stan_name_from_cmdstan(column: &str) -> String {
    match column.split_once('.') {
        Some((base, indexes)) => format!("{base}[{}]", indexes.replace('.', ",")),
        None => column.to_string(),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Writes one chain in CmdStan's CSV layout. `columns` are the model's CmdStan-style column names
/// (see [`cmdstan_column_name`]); `stats` and `draws` have one entry per kept draw, and every draw
/// has one value per column. Pass a buffered writer.
pub fn write_cmdstan_csv<W: Write>(
    mut out: W,
    header: &CsvHeader,
    columns: &[String],
    stats: &[DrawStats],
    draws: &[Vec<f64>],
) -> io::Result<()> {
    if stats.len() != draws.len() {
        return Err(invalid(format!(
            "{} rows of sampler statistics but {} draws",
            stats.len(),
            draws.len()
        )));
    }
    if let Some((row, draw)) = draws
        .iter()
        .enumerate()
        .find(|(_, d)| d.len() != columns.len())
    {
        return Err(invalid(format!(
            "draw {} has {} values but there are {} columns",
            row + 1,
            draw.len(),
            columns.len()
        )));
    }
    let mut text = String::new();
    let line = |text: &mut String, s: &str| {
        text.push_str(s);
        text.push('\n');
    };
    line(&mut text, &format!("# model = {}", header.model));
    line(&mut text, "# method = sample (Default)");
    line(&mut text, "#   sample");
    line(
        &mut text,
        &format!("#     num_samples = {}", header.num_samples),
    );
    line(
        &mut text,
        &format!("#     num_warmup = {}", header.num_warmup),
    );
    line(&mut text, "#     save_warmup = 0");
    line(&mut text, &format!("#     thin = {}", header.thin));
    line(&mut text, "#     adapt");
    line(&mut text, "#       engaged = 1");
    line(
        &mut text,
        &format!("#       delta = {}", format_f64(header.delta)),
    );
    line(&mut text, "#     algorithm = hmc (Default)");
    line(&mut text, "#       hmc");
    line(&mut text, "#         engine = nuts (Default)");
    line(&mut text, "#           nuts");
    line(
        &mut text,
        &format!("#             max_depth = {}", header.max_depth),
    );
    line(&mut text, "#         metric = diag_e (Default)");
    line(&mut text, &format!("# id = {}", header.chain_id));
    line(
        &mut text,
        &format!("# init = {}", format_f64(header.init_radius)),
    );
    line(&mut text, "# random");
    line(&mut text, &format!("#   seed = {}", header.seed));
    let names: Vec<&str> = SAMPLER_COLUMNS
        .iter()
        .copied()
        .chain(columns.iter().map(String::as_str))
        .collect();
    line(&mut text, &names.join(","));
    line(&mut text, "# Adaptation terminated");
    line(
        &mut text,
        &format!("# Step size = {}", format_f64(header.step_size)),
    );
    line(&mut text, "# Diagonal elements of inverse mass matrix:");
    let metric: Vec<String> = header.inv_metric.iter().map(|&v| format_f64(v)).collect();
    line(&mut text, &format!("# {}", metric.join(", ")));
    out.write_all(text.as_bytes())?;

    for (stat, draw) in stats.iter().zip(draws) {
        use std::fmt::Write as _;
        text.clear();
        push_f64(&mut text, stat.lp);
        text.push(',');
        push_f64(&mut text, stat.accept_stat);
        text.push(',');
        push_f64(&mut text, stat.stepsize);
        let _ = write!(
            text,
            ",{},{},{},",
            stat.treedepth,
            stat.n_leapfrog,
            u8::from(stat.divergent)
        );
        push_f64(&mut text, stat.energy);
        for &value in draw {
            text.push(',');
            push_f64(&mut text, value);
        }
        text.push('\n');
        out.write_all(text.as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stan_names_become_cmdstan_columns_and_back() {
        let cases = [
            ("mu", "mu"),
            ("theta[1]", "theta.1"),
            ("L[2,1]", "L.2.1"),
            ("L[2, 1]", "L.2.1"),
            ("log_lik[10]", "log_lik.10"),
            ("a[1,2,3]", "a.1.2.3"),
        ];
        for (stan, column) in cases {
            assert_eq!(cmdstan_column_name(stan), column);
            assert_eq!(stan_name_from_cmdstan(column), stan.replace(' ', ""));
        }
        assert_eq!(stan_name_from_cmdstan("lp__"), "lp__");
    }

    /// The standard library's layout of its shortest digits, which `format_f64` follows.
    fn std_format(x: f64) -> String {
        let magnitude = x.abs();
        if x != 0.0 && x.is_finite() && !(1e-5..1e16).contains(&magnitude) {
            format!("{x:e}")
        } else {
            format!("{x}")
        }
    }

    #[test]
    fn fast_formatting_is_shortest_round_trip_in_the_standard_layout() {
        let mut values = vec![
            0.0,
            -0.0,
            1.0,
            -1.0,
            0.1,
            1e-5,
            -1e-5,
            9.999999999999999e-6,
            1e16,
            9999999999999998.0,
            1e15,
            123.456,
            1e21,
            1e-7,
            -1.5e20,
            5e-324,
            f64::MAX,
            f64::MIN_POSITIVE,
            f64::EPSILON,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            100.0,
            1234567.0,
            0.000123,
        ];
        // Random bit patterns cover every exponent; random values of ordinary size cover the
        // numbers draws actually have.
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..200_000 {
            values.push(f64::from_bits(next()));
            let unit = (next() >> 11) as f64 / (1u64 << 53) as f64;
            values.push((unit - 0.5) * 10f64.powi((next() % 40) as i32 - 20));
        }
        let total = values.len();
        let mut identical = 0;
        for x in values {
            let (fast, reference) = (format_f64(x), std_format(x));
            if fast == reference {
                identical += 1;
                continue;
            }
            // A tie between two shortest candidates, rounded the other way: same length and
            // layout, and it still reads back to `x`.
            assert_eq!(fast.len(), reference.len(), "{x:?}: {fast} vs {reference}");
            assert_eq!(fast.contains('e'), reference.contains('e'), "{x:?}");
            let back: f64 = fast.parse().unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{x:?}: {fast}");
        }
        // 399433 of 400025 when this was written (ties are common among huge integers).
        assert!(
            identical * 100 >= total * 99,
            "{identical} of {total} identical"
        );
    }

    #[test]
    fn numbers_round_trip_and_stay_readable() {
        let values = [
            0.0,
            -0.0,
            1.0,
            -2.5,
            0.1,
            1.0 / 3.0,
            1e-5,
            9.99e-6,
            1e-300,
            5e-324,
            1e16,
            123456789.125,
            f64::MAX,
            -f64::MIN_POSITIVE,
        ];
        for v in values {
            let text = format_f64(v);
            assert_eq!(
                text.parse::<f64>().unwrap().to_bits(),
                v.to_bits(),
                "{v} -> {text}"
            );
            assert!(text.len() <= 24, "{text}");
        }
        assert_eq!(format_f64(1.0), "1");
        assert_eq!(format_f64(0.25), "0.25");
        assert_eq!(format_f64(1e-7), "1e-7");
        assert_eq!(format_f64(-1.5e20), "-1.5e20");
        assert!(format_f64(f64::NAN).parse::<f64>().unwrap().is_nan());
        assert_eq!(
            format_f64(f64::NEG_INFINITY).parse::<f64>().unwrap(),
            f64::NEG_INFINITY
        );
    }
}
