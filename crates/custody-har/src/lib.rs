//! custody-har: streaming, fail-closed sanitizers for customer troubleshooting
//! artifacts (DESIGN.md §4).
//!
//! - [`har::sanitize`] / [`har::inspect`]: HAR 1.2 files, streamed one entry at a time;
//! - [`json::sanitize`] / [`json::inspect`]: arbitrary JSON documents;
//! - [`text`], [`archive`], [`artifact`]: other artifact kinds and kind detection.
//!
//! Every value is judged by where it sits (header, cookie, query, form, JSON key, URL,
//! body) by `custody_scan::Scanner::scan_field`; each credential span is replaced by a
//! `custody_scan::Redactor` marker, the result is rescanned in the same pass, and any
//! remaining credential refuses the artifact ([`SanitizeError::Refused`]). Parsing
//! never recurses and every limit in [`SanitizeOptions`] is checked before the memory
//! it guards is allocated. The redaction rules are documented in `docs/sanitizer.md`.

pub mod archive;
pub mod artifact;
pub mod error;
pub mod har;
pub mod json;
#[cfg(test)]
mod reference;
pub mod report;
pub mod text;

pub use error::{
    LimitError, LimitKind, NotHarError, ParseError, ParseReason, Position, RefusedError,
    SanitizeError,
};
pub use report::{LocationKind, Report};

/// Resource limits of one sanitize or inspect run. Memory use is bounded by a small
/// multiple of `max_entry_bytes` (one entry is held at a time), independent of the
/// input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanitizeOptions {
    /// Deepest nesting of arrays and objects, counted from the document root
    /// (default 512). Also bounds the recursion of the value walk.
    pub max_depth: usize,
    /// Longest single string or number in bytes (default 32 MiB).
    pub max_value_bytes: usize,
    /// Largest HAR entry (or streamed JSON element) in bytes (default 64 MiB).
    pub max_entry_bytes: usize,
    /// Most values (strings, numbers, containers...) in one entry (default 1,000,000).
    pub max_entry_nodes: usize,
    /// Largest input in bytes (default: unlimited; memory does not grow with it).
    pub max_input_bytes: Option<u64>,
    /// Most distinct secrets remembered for exact-reuse redaction (default 65,536).
    pub max_known_secrets: usize,
}

impl Default for SanitizeOptions {
    fn default() -> Self {
        Self {
            max_depth: 512,
            max_value_bytes: 32 << 20,
            max_entry_bytes: 64 << 20,
            max_entry_nodes: 1_000_000,
            max_input_bytes: None,
            max_known_secrets: 65_536,
        }
    }
}

impl SanitizeOptions {
    pub(crate) fn limits(&self) -> json::parse::Limits {
        json::parse::Limits {
            max_depth: self.max_depth,
            max_value_bytes: self.max_value_bytes,
            max_entry_bytes: self.max_entry_bytes,
            max_entry_nodes: self.max_entry_nodes,
            max_input_bytes: self.max_input_bytes,
        }
    }
}
