//! The workflow stage of refinestat: what is done with a compiled program and its data, built on
//! the model, inference and diagnostics crates.
//!
//! Owns: one fit of a compiled program ([`fit`]: NUTS on Stan's sampling density through
//! [`SamplingDensity`], every draw mapped to its output row ([`output_rows`]: constrained
//! parameters, transformed parameters, generated quantities, and the pointwise log-likelihood up
//! to [`LOG_LIK_ROWS_MAX`] observations unless [`FitOptions`] say otherwise), the diagnostics
//! [`Summary`](refinestat_diagnostics::Summary) with PSIS-LOO in bounded memory (chunks of
//! observations evaluated at the stored draws, [`loo_from_model`]; subsampled above
//! [`LooOptions::subsample_above`] observations), the log-likelihood as a `.npy` stream
//! ([`Fit::write_log_lik_npy`]) and simulation-based calibration ([`sbc`]: replications, ranks,
//! the uniformity test).
//! Does not own: parsing and checking (language), the log density (model), the sampler
//! (inference), the diagnostics' arithmetic (diagnostics), files, progress bars and exit codes
//! (the CLI), or anything about writing programs (synthesis, which calls [`fit_model`] to score
//! candidates). It never depends on synthesis or on a proposal backend.
//!
//! ```
//! use refinestat_inference::SamplerConfig;
//! use refinestat_language::Data;
//! use refinestat_model::Model;
//! use refinestat_workflow::fit_model;
//!
//! let data = Data::from_json_str(r#"{"N": 3, "y": [0.1, -1.2, 2.3]}"#).unwrap();
//! let src = "data { int N; vector[N] y; } parameters { real mu; } \
//!            model { mu ~ normal(0, 5); y ~ normal(mu, 1); }";
//! let model = Model::from_source(src, &data).unwrap();
//! let config = SamplerConfig { chains: 2, warmup: 200, draws: 200, seed: 1, ..SamplerConfig::default() };
//! let fit = fit_model(&model, &config, |_, _, _| {}).unwrap();
//! assert_eq!(fit.layout.names, ["mu", "log_lik[1]", "log_lik[2]", "log_lik[3]"]);
//! let summary = fit.summarize().unwrap();
//! assert!(summary.loo.is_some());
//! ```

#![warn(missing_docs)]

pub mod fit;
pub mod sbc;

pub use fit::{
    fit_model, fit_model_with, loo_from_model, npy_header, output_rows, subsample_indices,
    summarize_outputs, Fit, FitError, FitOptions, LooOptions, OutputLayout, SamplingDensity,
    LOG_LIK_ROWS_MAX, SUBSAMPLE_ABOVE, SUBSAMPLE_SIZE,
};
