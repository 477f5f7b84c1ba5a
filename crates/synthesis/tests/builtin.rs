//! The built-in proposal model: a proper distribution at every prefix (on and off its plans),
//! lexing that round-trips, and weights that follow the data.

use refinestat_language::{check, Data};
use refinestat_synthesis::builtin::lex;
use refinestat_synthesis::datasets::{dataset, DATASET_NAMES};
use refinestat_synthesis::{data_block, BuiltinModel, ProposalModel};

fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

#[test]
fn next_token_distribution_sums_to_one_on_and_off_plan() {
    let data = dataset("eight_schools").unwrap();
    let mut model = BuiltinModel::new(&data);
    let vocab = model.vocabulary().clone();
    let prompt = vocab.encode(&data_block(&data));
    let mut lp = vec![0.0; vocab.len()];
    let on_plan = vocab.encode("parameters {\n  real mu;");
    let off_plan = vocab.encode("parameters {\n  real banana ; ; model");
    for prefix in [&[][..], &on_plan[..], &off_plan[..]] {
        model.next_token_logprobs(&prompt, prefix, &mut lp).unwrap();
        assert!((log_sum_exp(&lp)).abs() < 1e-9, "{}", log_sum_exp(&lp));
        assert!(lp.iter().all(|x| x.is_finite()));
    }
    // On plan, the first token is `parameters` with probability 1 - noise + noise / V.
    model.next_token_logprobs(&prompt, &[], &mut lp).unwrap();
    let id = vocab.id("parameters").unwrap() as usize;
    let expected = 1.0 - 1e-3 + 1e-3 / vocab.len() as f64;
    assert!((lp[id].exp() - expected).abs() < 1e-12);
    // A wrong-sized buffer is an error, not a panic.
    assert!(model
        .next_token_logprobs(&prompt, &[], &mut [0.0; 3])
        .is_err());
}

#[test]
fn planned_programs_are_mostly_valid_and_weights_sum_to_one() {
    for name in DATASET_NAMES {
        let data = dataset(name).unwrap();
        let model = BuiltinModel::new(&data);
        let prompt = data_block(&data);
        let mut total = 0.0;
        let mut valid_mass = 0.0;
        for (program, weight) in model.programs() {
            total += weight;
            if check(&format!("{prompt}{program}"), Some(&data)).is_empty() {
                valid_mass += weight;
            }
        }
        assert!((total - 1.0).abs() < 1e-9, "{name}: {total}");
        // The deliberate sloppiness costs some mass, but most of it is valid.
        assert!(
            valid_mass > 0.7 && valid_mass < 1.0,
            "{name}: valid mass {valid_mass}"
        );
    }
}

#[test]
fn lexing_round_trips() {
    let text =
        "real<lower=0, upper=1> p;\n  y ~ normal(mu + 1e-10 * x .* x, 0.5);\n    target += -2;";
    let tokens = lex(text);
    assert_eq!(tokens.concat(), text);
    for t in [
        "<", "lower", "=", "0", "1e-10", ".*", "+=", "\n    ", "0.5", "-",
    ] {
        assert!(tokens.iter().any(|x| x == t), "{t} missing from {tokens:?}");
    }
}

/// Probability mass of the derivations whose text contains `needle`.
fn mass(model: &BuiltinModel, needle: &str) -> f64 {
    model
        .programs()
        .filter(|(p, _)| p.contains(needle))
        .map(|(_, w)| w)
        .sum()
}

#[test]
fn weights_follow_the_data() {
    let es = BuiltinModel::new(&dataset("eight_schools").unwrap());
    // Known standard errors: a measurement-error model on them.
    assert!(mass(&es, "y ~ normal(theta, sigma)") > 0.7);
    let glm = BuiltinModel::new(&dataset("glm").unwrap());
    // Counts bounded by totals, with a predictor: binomial GLMs with a logit link.
    assert!(mass(&glm, "binomial_logit(N, alpha + beta * year") > 0.4);
    let surgical = BuiltinModel::new(&dataset("surgical").unwrap());
    assert!(mass(&surgical, "binomial") > 0.99);
    assert!(mass(&surgical, "year") == 0.0);
    let gp = BuiltinModel::new(&dataset("gp").unwrap());
    // A wiggly response over a small design: mostly a Gaussian process.
    assert!(mass(&gp, "cholesky_decompose") > 0.4);
    let dugongs = BuiltinModel::new(&dataset("dugongs").unwrap());
    // Saturating growth: growth curves carry more mass than the straight line.
    let growth =
        mass(&dugongs, "pow(lambda") + mass(&dugongs, "exp(-gamma") + mass(&dugongs, "inv_logit(");
    assert!(
        growth > mass(&dugongs, "alpha + beta * x,"),
        "growth {growth}"
    );
    // Same names, different data: flipping eight schools' scales negative removes the
    // measurement-error reading.
    let flipped =
        Data::from_json_str(r#"{"J": 3, "y": [1.5, -2, 0.3], "sigma": [-1, 2, 3]}"#).unwrap();
    assert_eq!(
        mass(&BuiltinModel::new(&flipped), "normal(theta, sigma)"),
        0.0
    );
}

#[test]
fn the_family_library_writes_names_the_decoder_takes() {
    // The family library cuts parameter names to its bound; the decoder must take that length.
    let bound = refinestat_synthesis::grammar::GrammarBounds::default().identifier_chars;
    assert!(refinestat_family::MAX_PARAMETER_NAME <= bound);
}
