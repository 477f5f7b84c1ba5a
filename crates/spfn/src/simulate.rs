//! Prior-predictive datasets from one program: design, simulation, rejection of degenerate draws,
//! and the prior-narrowing rule.
//!
//! A draw is **rejected** (and counted by reason) when the simulator fails (`sim_error`), a
//! response value is not finite (`non_finite`), a value's magnitude exceeds [`OVERFLOW`]
//! (`overflow`), a response's standard deviation exceeds [`MAX_SD`] (`variance`), a response is
//! constant (`constant`), or an integer response of a count likelihood is all zero (`all_zero`).
//!
//! **Narrowing rule.** Before its datasets are drawn, a program gets a pilot of [`PILOT`] draws.
//! While more than half of them are rejected, its priors are narrowed
//! ([`crate::analyze::narrow_priors`]: literal prior scales halved, literal exponential rates
//! doubled) and the pilot is rerun, at most [`MAX_NARROWING`] times. A program still mostly
//! rejected after that is dropped and counted (`mostly_rejected`), never silently.

use crate::design::draw_design;
use crate::schema::Schema;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use refinestat_language::ast::Program;
use refinestat_language::{Data, DataValue};
use refinestat_model::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Largest magnitude a simulated value may have.
pub const OVERFLOW: f64 = 1e8;
/// Largest standard deviation a simulated response may have.
pub const MAX_SD: f64 = 1e4;
/// Pilot draws per program.
pub const PILOT: u64 = 16;
/// Most narrowing rounds per program.
pub const MAX_NARROWING: usize = 4;
/// Draws tried per dataset slot before the slot is given up (`exhausted`).
pub const ATTEMPTS: u64 = 4;

/// Why a draw was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reject {
    /// The design could not be drawn, or the model not built on it (`design`).
    Design,
    /// The prior-predictive simulator failed or did not simulate a response (`sim_error`).
    SimError,
    /// A response value is NaN or infinite (`non_finite`).
    NonFinite,
    /// A response value's magnitude exceeds [`OVERFLOW`] (`overflow`).
    Overflow,
    /// A response's standard deviation exceeds [`MAX_SD`] (`variance`).
    Variance,
    /// A response has the same value everywhere (`constant`).
    Constant,
    /// An integer response of a count likelihood is all zero (`all_zero`).
    AllZero,
}

impl Reject {
    /// The reason's name as counted in [`Rejections`] (`sim_error`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Reject::Design => "design",
            Reject::SimError => "sim_error",
            Reject::NonFinite => "non_finite",
            Reject::Overflow => "overflow",
            Reject::Variance => "variance",
            Reject::Constant => "constant",
            Reject::AllZero => "all_zero",
        }
    }
}

/// One accepted draw: the full data (given + simulated) and the parameter draw.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The given data (from the design) with every response replaced by its simulated values.
    pub data: Data,
    /// The parameters drawn from their priors that generated the responses.
    pub params: Data,
}

/// Mix a seed with stream numbers (SplitMix64 finaliser over each), so every (program, slot,
/// attempt) has its own independent seed.
pub fn mix(seed: u64, parts: &[u64]) -> u64 {
    let mut z = seed;
    for &p in parts {
        z = z
            .wrapping_add(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(p.wrapping_mul(0xbf58_476d_1ce4_e5b9));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
    }
    z
}

/// Draw one dataset from `seed`: design, then prior predictive, then the degeneracy checks.
/// The same arguments give the same bytes.
pub fn draw_dataset(program: &Program, schema: &Schema, seed: u64) -> Result<Dataset, Reject> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let design = draw_design(program, schema, &mut rng).map_err(|_| Reject::Design)?;
    let model = Model::new(program, &design).map_err(|_| Reject::Design)?;
    let draw = model.simulate(&mut rng).map_err(|_| Reject::SimError)?;
    let counts = count_likelihood(program);
    for name in schema.responses() {
        let v = draw.data.get(name).ok_or(Reject::SimError)?;
        degenerate(v, counts)?;
    }
    Ok(Dataset {
        data: draw.data,
        params: draw.params,
    })
}

fn count_likelihood(program: &Program) -> bool {
    crate::analyze::response_statement(program).is_some_and(|(d, _)| {
        matches!(
            d.as_str(),
            "poisson"
                | "poisson_log"
                | "neg_binomial_2"
                | "neg_binomial_2_log"
                | "binomial"
                | "binomial_logit"
        )
    })
}

/// The degeneracy checks on one simulated response.
pub fn degenerate(v: &DataValue, count: bool) -> Result<(), Reject> {
    let xs = &v.values;
    if xs.iter().any(|x| !x.is_finite()) {
        return Err(Reject::NonFinite);
    }
    if xs.iter().any(|x| x.abs() > OVERFLOW) {
        return Err(Reject::Overflow);
    }
    if xs.len() > 1 {
        let n = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / n;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        if var.sqrt() > MAX_SD {
            return Err(Reject::Variance);
        }
        if count && v.all_int && xs.iter().all(|&x| x == 0.0) {
            return Err(Reject::AllZero);
        }
        if xs.iter().all(|&x| x == xs[0]) {
            return Err(Reject::Constant);
        }
    }
    Ok(())
}

/// Counts of rejections by reason.
pub type Rejections = BTreeMap<String, u64>;

/// Run the pilot and narrowing rule on `program` (see the module doc). Returns the number of
/// narrowing rounds applied, or `None` when the program stays mostly rejected. Pilot rejections
/// are added to `rejections` under `pilot_<reason>`.
pub fn narrow_until_usable(
    program: &mut Program,
    schema: &Schema,
    seed: u64,
    rejections: &mut Rejections,
) -> Option<usize> {
    for round in 0..=MAX_NARROWING {
        let mut rejected = 0;
        for i in 0..PILOT {
            if let Err(r) = draw_dataset(program, schema, mix(seed, &[u64::MAX, round as u64, i])) {
                rejected += 1;
                *rejections.entry(format!("pilot_{}", r.name())).or_default() += 1;
            }
        }
        if rejected * 2 <= PILOT {
            return Some(round);
        }
        if round == MAX_NARROWING || crate::analyze::narrow_priors(program) == 0 {
            return None;
        }
    }
    None
}
