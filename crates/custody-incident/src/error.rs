//! Error types of the incident tooling: [`IncidentError`] (reading and verifying
//! the log, computing over it) and [`NoticeError`] (rendering a notice). No variant
//! carries a value read from the log: only indices, sizes and field names.

use custody_audit::merkle::TreeError;
use custody_audit::store::StoreError;
use custody_audit::verify::VerifyError;

/// Errors opening a verified log or computing over it. Every variant means no
/// answer: there is never a partial result from a log that did not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IncidentError {
    /// No trust anchor was given: a log that verifies only under its own key
    /// proves nothing to an incident responder.
    #[error("no trust anchor: pin the audit log's genesis verifier key")]
    NoTrustAnchor,
    /// The log failed verification (key chain, frames, tree or checkpoints).
    #[error("the audit log failed verification: {0}")]
    Verify(#[from] VerifyError),
    /// No stored, verified checkpoint has the requested tree size.
    #[error("the audit log has no verified signed checkpoint of tree size {0}")]
    NoSuchCheckpoint(u64),
    /// The records read differ from the ones verified (the log changed between
    /// verification and reading, or a stored record does not hash to its leaf).
    #[error(
        "the audit log changed while it was read (record {0} differs from the verified tree); verify it again"
    )]
    Changed(u64),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// A stored record is not an event in a known encoding.
    #[error("record {0} is not a valid event record")]
    BadRecord(u64),
    /// A proof could not be built.
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// The window is empty (`since` after `until`).
    #[error("invalid window: --since is after --until")]
    Window,
}

/// Errors rendering a notice. A notice is either complete and proven, or not
/// produced at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoticeError {
    /// The template version is not one compiled into this crate.
    #[error("unknown notice template version (known: {known})")]
    UnknownTemplate {
        /// The versions that exist.
        known: &'static str,
    },
    /// The incident id does not match `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    #[error("invalid incident id (1 to 64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)")]
    IncidentId,
    /// The incident kind has no reviewed title in this template version.
    #[error("unknown incident kind for this template version (known: {known})")]
    UnknownKind {
        /// The kinds that have a reviewed title.
        known: String,
    },
    /// The slice was taken for another tenant than the notice's.
    #[error("the facts were selected for another tenant; refusing to render")]
    WrongTenant,
    /// A fact concerns another tenant than the notice's.
    #[error("fact at log index {index} concerns another tenant; refusing to render")]
    ForeignFact {
        /// Log index of the fact.
        index: u64,
    },
    /// A fact's inclusion proof does not lead to the checkpoint root.
    #[error("fact at log index {index} is not proven by the checkpoint; refusing to render")]
    Unproven {
        /// Log index of the fact.
        index: u64,
    },
    /// A fact's record is not an event in a known encoding.
    #[error("fact at log index {index} is not a valid event record")]
    BadRecord {
        /// Log index of the fact.
        index: u64,
    },
    /// A compiled template is malformed (a build defect, caught by the tests).
    #[error("template {version} line {line}: {reason}")]
    Template {
        /// Template version.
        version: &'static str,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
}
