//! [`BrokerError`]: what a use case can answer instead of its result. The server maps
//! each variant to one problem type; none carries a secret or an artifact byte.

use custody_store::StoreError;

/// Why a use case did not happen. Decision errors are not `non_exhaustive`: callers
/// must handle every case.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The request carries no valid, bound, fresh credential.
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The proof lacks the current server nonce; retry with it.
    #[error("a fresh DPoP server nonce is required")]
    UseNonce(String),
    /// The policy denied the action (the denial is audited).
    #[error("denied by policy: {action}")]
    Forbidden {
        /// The action that was denied.
        action: &'static str,
    },
    /// The request is malformed; names the field.
    #[error("{0}")]
    BadRequest(String),
    /// The resource does not exist (or is not visible).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The resource exists or was already used.
    #[error("{0}")]
    Conflict(String),
    /// The resource is used up or outside its time window.
    #[error("{0}")]
    Gone(String),
    /// The artifact was refused (fail-closed); the report names locations and rules,
    /// never values.
    #[error("artifact refused: {reason}")]
    Refused {
        /// `replayable` or `unparseable`.
        reason: &'static str,
        /// A safe description (position, kind).
        detail: String,
        /// The value-free report.
        report: Option<serde_json::Value>,
    },
    /// The audit log could not record the act, so the act was not performed (I4).
    #[error("the audit log is unavailable: {0}")]
    AuditUnavailable(String),
    /// An internal failure (storage, crypto, I/O); never shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for BrokerError {
    fn from(err: StoreError) -> Self {
        if err.is_not_found() {
            BrokerError::NotFound(not_found_entity(&err))
        } else if err.is_conflict() {
            BrokerError::Conflict(err.to_string())
        } else if let StoreError::Expired { .. } = err {
            BrokerError::Gone(err.to_string())
        } else if let StoreError::Invalid { .. } = err {
            BrokerError::BadRequest(err.to_string())
        } else {
            BrokerError::Internal(err.to_string())
        }
    }
}

fn not_found_entity(err: &StoreError) -> &'static str {
    match err {
        StoreError::NotFound { entity } => entity,
        _ => "resource",
    }
}

impl From<custody_store::BlobError> for BrokerError {
    fn from(err: custody_store::BlobError) -> Self {
        BrokerError::Internal(format!("blob store: {err}"))
    }
}

impl From<custody_store::IdError> for BrokerError {
    fn from(err: custody_store::IdError) -> Self {
        BrokerError::BadRequest(err.to_string())
    }
}
