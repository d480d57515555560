//! The reference sanitizer: the owned-tree implementation that preceded the raw-span
//! fast path (every entry parsed into owned `String`s, every string re-escaped on
//! output). Compiled for tests only: the differential tests check that the fast
//! path writes byte-identical output and the same report on generated HARs.

#![expect(
    dead_code,
    reason = "test-only copy of the previous implementation; not every item is exercised"
)]

#[cfg(test)]
mod differential;
pub(crate) mod engine;
pub(crate) mod entry;
pub(crate) mod har;
pub(crate) mod json;
pub(crate) mod output;
pub(crate) mod parse;
pub(crate) mod value;
