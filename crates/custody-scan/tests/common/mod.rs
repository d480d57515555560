//! Shared test helpers.

pub mod corpus;
