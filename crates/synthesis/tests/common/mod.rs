//! Helpers shared by the decoder tests: one seeded generation after the data block, and a
//! default configuration in a given mode.

#![allow(dead_code)] // each test file uses a different subset

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use refinestat_language::Data;
use refinestat_synthesis::{data_block, generate, DecodeConfig, Generation, Mode, ProposalModel};

pub fn run(
    model: &mut dyn ProposalModel,
    data: &Data,
    config: &DecodeConfig,
    seed: u64,
) -> Generation {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    generate(model, &data_block(data), data, config, &mut rng)
}

pub fn config(mode: Mode) -> DecodeConfig {
    DecodeConfig {
        mode,
        ..DecodeConfig::default()
    }
}
