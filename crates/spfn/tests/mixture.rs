//! Two-program mixtures: the simulator draws `log_mix` likelihoods component by component, the
//! `mix_two` augmentation's programs pass the six predicates, simulate as mixtures, and NUTS fits
//! them; the `mixture` source yields such programs from the human corpus and the family library.

use refinestat_inference::{sample, SamplerConfig};
use refinestat_language::{canonical, check, parse, print_program, Data};
use refinestat_model::Model;
use refinestat_spfn::augment::{mix_two, Candidate};
use refinestat_spfn::schema::Schema;
use refinestat_spfn::simulate::{draw_dataset, mix};
use refinestat_spfn::{Mixtures, ProgramSource};
use refinestat_workflow::SamplingDensity;

fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    rand::SeedableRng::seed_from_u64(seed)
}

fn candidate(src: &str, family: &str) -> Candidate {
    let program = parse(src).program;
    let schema = Schema::infer(&program, "").unwrap();
    let mut labels = refinestat_spfn::analyze::structural_labels(&program);
    labels.insert("family".into(), family.into());
    Candidate {
        program,
        schema,
        labels,
    }
}

/// The simulator draws `target += log_mix(theta, d1_lpdf(y[n] | ..), d2_lpdf(y[n] | ..))` one
/// component per observation (a loop) and one per dataset (vectorised).
#[test]
fn the_simulator_draws_log_mix_by_component() {
    let per_obs = "data { int<lower=1> N; real<lower=0, upper=1> theta; vector[N] y; }
model { for (n in 1:N) target += log_mix(theta, normal_lpdf(y[n] | -10, 1), normal_lpdf(y[n] | 10, 1)); }";
    let n = 4000;
    let data = Data::from_json_str(&format!(
        r#"{{"N": {n}, "theta": 0.3, "y": {:?}}}"#,
        vec![0.0; n]
    ))
    .unwrap();
    let model = Model::new(&parse(per_obs).program, &data).unwrap();
    let y = model
        .simulate(&mut rng(1))
        .unwrap()
        .data
        .get("y")
        .unwrap()
        .values
        .clone();
    let low = y.iter().filter(|v| **v < 0.0).count() as f64 / n as f64;
    let se = (0.3f64 * 0.7 / n as f64).sqrt();
    assert!(
        (low - 0.3).abs() < 4.0 * se,
        "{low} of draws from the first component"
    );
    // Bimodal: nothing between the components (six standard deviations from each).
    assert!(y.iter().all(|v| v.abs() > 4.0), "a draw between the modes");
    let near = |m: f64| y.iter().filter(|v| (*v - m).abs() < 4.0).count();
    assert_eq!(near(-10.0) + near(10.0), n);

    // Vectorised: one component for the whole dataset.
    let whole = "data { int<lower=1> N; real<lower=0, upper=1> theta; vector[N] y; }
model { target += log_mix(theta, normal_lpdf(y | -10, 1), normal_lpdf(y | 10, 1)); }";
    let data = Data::from_json_str(&format!(
        r#"{{"N": 20, "theta": 0.3, "y": {:?}}}"#,
        vec![0.0; 20]
    ))
    .unwrap();
    let model = Model::new(&parse(whole).program, &data).unwrap();
    let draws = 2000;
    let mut first = 0;
    for s in 0..draws {
        let y = model
            .simulate(&mut rng(s))
            .unwrap()
            .data
            .get("y")
            .unwrap()
            .values
            .clone();
        let neg = y.iter().filter(|v| **v < 0.0).count();
        assert!(
            neg == 0 || neg == 20,
            "one component per dataset: {neg} of 20 below 0"
        );
        first += usize::from(neg == 20);
    }
    let p = first as f64 / draws as f64;
    let se = (0.3f64 * 0.7 / draws as f64).sqrt();
    assert!(
        (p - 0.3).abs() < 4.0 * se,
        "{p} of datasets from the first component"
    );
}

const LOW: &str = "data { int<lower=1> N; vector[N] x; vector[N] y; }
parameters { real alpha; real<lower=0> sigma; }
model { alpha ~ normal(-10, 0.5); sigma ~ normal(0, 1); y ~ normal(alpha + 0 * x, sigma); }";

const HIGH: &str = "data { int<lower=1> N; vector[N] x; vector[N] y; }
parameters { real alpha; real beta; real<lower=0> sigma; }
model { alpha ~ normal(10, 0.5); beta ~ normal(0, 0.1); sigma ~ normal(0, 1);
  for (n in 1:N) y[n] ~ normal(alpha + beta * x[n], sigma); }";

#[test]
fn mixing_two_programs_checks_simulates_a_mixture_and_fits() {
    let (a, b) = (
        candidate(LOW, "location"),
        candidate(HIGH, "linear_regression"),
    );
    let m = mix_two(&a, &b).expect("the two mix");
    let text = print_program(&m.program);
    // The six predicates, and a program unlike either input.
    assert!(check(&text, None).is_empty(), "{text}");
    assert_ne!(canonical(&m.program), canonical(&a.program));
    assert_ne!(canonical(&m.program), canonical(&b.program));
    // Names apart, vectorised arguments indexed by the observation.
    for part in [
        "alpha_2",
        "sigma_2",
        "beta_2",
        "x[i_mix1]",
        "log_mix(theta_mix",
    ] {
        assert!(text.contains(part), "{part} not in\n{text}");
    }
    // The other way round, the first program's loop carries the mixture.
    let ba = print_program(&mix_two(&b, &a).expect("the two mix").program);
    for part in [
        "alpha_2",
        "for (n in 1:N)",
        "normal_lpdf(y[n] | alpha_2 + 0 * x[n]",
    ] {
        assert!(ba.contains(part), "{part} not in\n{ba}");
    }
    assert_eq!(m.labels["mixture"], "two_component");
    assert_eq!(m.labels["mixture_families"], "location+linear_regression");
    assert_eq!(m.labels["family"], "mixture");
    assert_eq!(m.labels["likelihood"], "normal");
    assert_eq!(m.schema.responses(), vec!["y"]);
    // Each dataset is a mixture: the share of low observations is near its theta_mix draw.
    let mut datasets = 0;
    for s in 0..40 {
        let Ok(ds) = draw_dataset(&m.program, &m.schema, mix(7, &[s])) else {
            continue;
        };
        datasets += 1;
        let theta = ds.params.get("theta_mix").unwrap().values[0];
        let y = &ds.data.get("y").unwrap().values;
        let n = y.len() as f64;
        let low = y.iter().filter(|v| **v < 0.0).count() as f64 / n;
        let se = (theta * (1.0 - theta) / n).sqrt();
        assert!(
            (low - theta).abs() < 4.5 * se + 1.0 / n,
            "{low} low of {n}, theta_mix {theta}"
        );
        assert!(y.iter().all(|v| v.abs() > 2.0), "a draw between the modes");
    }
    assert!(datasets >= 36, "{datasets} of 40 draws accepted");
    // NUTS fits the mixture to data it simulated.
    let ds = draw_dataset(&m.program, &m.schema, mix(7, &[0])).unwrap();
    let model = Model::new(&m.program, &ds.data).unwrap();
    let config = SamplerConfig {
        chains: 1,
        warmup: 200,
        draws: 200,
        seed: 3,
        ..SamplerConfig::default()
    };
    let out = sample(&config, |_| SamplingDensity(model.clone())).expect("sampling runs");
    let chain = &out.chains[0];
    assert!(chain.draws.iter().flatten().all(|v| v.is_finite()));
    let divergent = chain.stats.iter().filter(|s| s.divergent).count();
    assert!(
        divergent * 4 <= chain.stats.len(),
        "{divergent} divergences"
    );
}

#[test]
fn vectorised_arguments_are_taken_at_each_observation() {
    let src = "data { int<lower=1> N; int<lower=1> J; array[N] int<lower=1, upper=J> g;
  array[N] int<lower=0, upper=1> z; matrix[N, 2] X; vector[N] y; }
parameters { real a; real b; vector[J] u; vector[2] w; real<lower=0> s; }
model { a ~ normal(0, 1); b ~ normal(0, 1); u ~ normal(0, 1); w ~ normal(0, 1);
  s ~ normal(0, 1); y ~ normal(a + b * to_vector(z) + u[g] + X * w, s); }";
    let c = candidate(src, "hierarchical_regression");
    let m = mix_two(&c, &c).expect("a program mixes with itself");
    let text = print_program(&m.program);
    assert!(
        text.contains(
            "normal_lpdf(y[i_mix1] | a + b * z[i_mix1] + u[g[i_mix1]] + X[i_mix1] * w, s)"
        ),
        "{text}"
    );
    assert!(!text.contains("to_vector"), "{text}");
}

#[test]
fn programs_without_a_shared_response_do_not_mix() {
    let counts = candidate(
        "data { int<lower=1> N; array[N] int<lower=0> y; }
parameters { real<lower=0> lambda; }
model { lambda ~ gamma(2, 0.5); y ~ poisson(lambda); }",
        "count",
    );
    let other = candidate(
        "data { int<lower=1> N; vector[N] z; }
parameters { real mu; }
model { mu ~ normal(0, 1); z ~ normal(mu, 1); }",
        "location",
    );
    assert!(mix_two(&counts, &other).is_none(), "different responses");
    // `y` declared as counts in one and reals in the other.
    assert!(mix_two(&counts, &candidate(LOW, "location")).is_none());
    // A truncated likelihood is not mixed.
    let truncated = candidate(
        "data { int<lower=1> N; vector[N] x; vector[N] y; }
parameters { real mu; }
model { mu ~ normal(0, 1); for (n in 1:N) y[n] ~ normal(mu, 1) T[0, ]; }",
        "truncation",
    );
    assert!(mix_two(&truncated, &candidate(LOW, "location")).is_none());
}

#[test]
fn the_mixture_source_mixes_human_and_library_programs() {
    let src = Mixtures::embedded().unwrap();
    let mut families = std::collections::BTreeSet::new();
    let mut simulating = 0;
    let n = 30;
    for seed in 0..n {
        let p = src.sample(&mut rng(seed)).expect("a mixture");
        let text = print_program(&p.program);
        assert!(check(&text, None).is_empty(), "{text}");
        assert!(text.contains("log_mix(theta_mix"), "{text}");
        assert_eq!(p.family, "mixture");
        families.insert(p.labels["mixture_families"].clone());
        let c = p.candidate();
        if (0..16).any(|i| draw_dataset(&c.program, &c.schema, mix(seed, &[i])).is_ok()) {
            simulating += 1;
        }
    }
    assert!(families.len() >= 10, "{families:?}");
    assert!(simulating * 10 >= n * 8, "{simulating} of {n} simulate");
}
