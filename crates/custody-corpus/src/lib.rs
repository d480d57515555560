//! Deterministic generators of test and benchmark corpora for custody.
//!
//! - [`benign_har`]: realistic browser traffic (HAR 1.2, as Chrome exports it)
//!   without any credential, but full of what trips naive detectors: ETags,
//!   content hashes, SRI digests, UUIDs, request and trace ids, cache keys, CDN
//!   version hashes, base64 images and fonts, minified JS, analytics ids.
//! - [`planted_har`]: the same traffic with credentials of ~40 [`PlantKind`]s
//!   planted at random positions; every [`Plant`] records its value, JSON pointer
//!   and output lines, so recall can be measured.
//! - [`benign_text`] and [`mixed_text`]: log and text corpora for scan throughput.
//! - [`recall`]: which plants survive in a tool's output.
//!
//! Every generator is seeded (`rand_chacha`), writes to any [`std::io::Write`]
//! and streams one entry at a time, so a 1 GB corpus needs a few MB of memory.
//! The planted values are random and were never issued by any service.
#![doc = include_str!("../README.md")]

mod har;
mod plant;
pub mod recall;
mod rng;
mod secrets;
mod text;

pub use har::{Stats, benign_har, planted_har};
pub use plant::{Plant, PlantKind, search_forms};
pub use text::{benign_text, mixed_text};

/// Why generating a corpus failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CorpusError {
    /// The output writer failed.
    #[error("writing the corpus failed")]
    Write(#[source] std::io::Error),
    /// An entry could not be encoded as JSON.
    #[error("encoding a HAR entry failed")]
    Serialize(#[source] serde_json::Error),
    /// The plant locator's automaton could not be built.
    #[error("building the plant locator failed")]
    Search(#[source] aho_corasick::BuildError),
    /// A planted value was not found in the entry that should hold it (a
    /// generator bug; reported rather than producing a wrong plant list).
    #[error("a planted value of kind {kind} is missing from its own entry")]
    Unlocated {
        /// The kind whose value went missing.
        kind: PlantKind,
    },
}

impl CorpusError {
    pub(crate) fn write(err: std::io::Error) -> Self {
        Self::Write(err)
    }

    pub(crate) fn serialize(err: serde_json::Error) -> Self {
        Self::Serialize(err)
    }

    pub(crate) fn search(err: aho_corasick::BuildError) -> Self {
        Self::Search(err)
    }
}

#[cfg(test)]
mod tests;
