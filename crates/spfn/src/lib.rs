//! The SPFN stage of refinestat (not built yet): prior-predictive training data from programs,
//! and a proposal model trained on (data -> program) pairs.
//!
//! Does not own: anything the earlier stages do; it only calls them.
