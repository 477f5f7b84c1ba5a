//! Unit tests of the model crate.
