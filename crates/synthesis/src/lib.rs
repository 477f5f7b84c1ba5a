//! The synthesis stage of refinestat (not built yet; see issues 4 and 5): proposal models,
//! the constrained decoder, and the refinement controller.
//!
//! Will own: the proposal-model trait, decoding under grammar + the six predicates, refinement.
//! Does not own: the language, models, sampling or diagnostics, which it calls.
