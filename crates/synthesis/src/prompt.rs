//! The prompt of synthesis: a Stan `data` block written from the data alone, plus the per-variable
//! facts ([`DataProfile`]) the built-in proposal model weighs its choices by.
//!
//! Declarations follow what the values allow: ints that are all >= 0 become `int<lower=0>`, {0,1}
//! arrays `int<lower=0, upper=1>`, real arrays (and int arrays with negative values, or positive
//! int arrays named like a scale, e.g. `sigma`) become `vector`, with `<lower=0>` when no value
//! is negative. An array length equal to an int scalar's value is written as that scalar's name
//! (`vector[J] y` when `J = 8` and `y` has 8 values), so sizes are tied to the data.

use refinestat_language::Data;

pub use refinestat_family::profile::{data_block, DataProfile, VarProfile};

/// The instruction text models read before the data block: a Stan version of the RefineStat
/// paper's prompt, with the user's optional one-sentence description of the data. The program
/// the decoder writes starts at the data block, so this text is context only, never part of it.
pub fn instruction(describe: Option<&str>) -> String {
    let mut text = String::from(
        "Complete the Stan program below. The data block declares the observed data. \
         Write the parameters, any transformed parameters, and a model block that defines \
         appropriate priors and the likelihood of the data. Follow best practices for \
         expert-level Bayesian modeling: weakly informative priors, constraints that match \
         each parameter's support, and a non-centered parameterization for hierarchical \
         scales where it helps.\n",
    );
    if let Some(d) = describe.map(str::trim).filter(|d| !d.is_empty()) {
        text.push_str("The data: ");
        text.push_str(d);
        if !d.ends_with('.') {
            text.push('.');
        }
        text.push('\n');
    }
    text.push('\n');
    text
}

/// Instruction followed by the data block: the whole prompt of a text model.
pub fn text_prompt(data: &Data, describe: Option<&str>) -> String {
    format!("{}{}", instruction(describe), data_block(data))
}
