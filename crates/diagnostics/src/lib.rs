//! The diagnostics stage of refinestat: the Bayesian-workflow verdict on a set of draws.
//!
//! Owns: rank-normalized split R-hat, bulk/tail ESS, MCSE, E-BFMI, divergence counts, PSIS-LOO,
//! the seven RefineStat reliability checks, summary.json, and reading CmdStan-layout CSV.
//! Does not own: sampling or models; it sees only numbers.
