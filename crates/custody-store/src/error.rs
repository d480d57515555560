//! Errors of the store: [`StoreError`] for database operations, [`IdError`] for ids and
//! blob keys that do not parse.
//!
//! No message ever carries a stored value, a bound parameter or a connection string:
//! messages name the record kind and the operation only. A driver error is kept as an
//! opaque [`std::error::Error::source`] for operators; its text comes from the database
//! (constraint names, connection failures), never from our bound values, which are ids,
//! digests and wrapped keys.

use std::error::Error as StdError;
use std::fmt;

/// An id or blob key that does not have the expected form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id does not start with the prefix of its kind (e.g. `ten_` for a tenant).
    #[error("invalid {kind} id: expected the prefix `{prefix}`")]
    Prefix {
        /// The kind of id that was expected ("tenant", "principal"...).
        kind: &'static str,
        /// The prefix ids of that kind start with.
        prefix: &'static str,
    },
    /// The part after the prefix is not 32 lowercase hex digits.
    #[error("invalid {kind} id: expected 32 lowercase hex digits after the prefix")]
    Body {
        /// The kind of id that was expected.
        kind: &'static str,
    },
    /// A blob key is empty, too long, or holds a character outside `[a-z0-9_-]`
    /// (which rules out path separators, `..` and hidden names).
    #[error("invalid blob key: expected 1 to 128 characters of [a-z0-9_-], not starting with '-'")]
    BlobKey,
}

/// The error of every [`crate::Store`] operation.
///
/// `NotFound` and `Conflict` are distinct so that an HTTP layer can map them to 404 and
/// 409; `Expired` is a single-use or time-bound record used outside its window.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The record (or a record it refers to) does not exist.
    #[error("{entity} not found")]
    NotFound {
        /// What was looked for ("tenant", "case", "support agent"...).
        entity: &'static str,
    },
    /// The change clashes with the stored state: a duplicate, a single-use record already
    /// used, a state transition from the wrong state, or a binding that does not match.
    #[error("{entity}: {reason}")]
    Conflict {
        /// The record kind.
        entity: &'static str,
        /// What clashed, in words that hold no stored value.
        reason: &'static str,
    },
    /// A time-bound record (enrolment code, challenge, export, approval request) was used
    /// outside its window.
    #[error("{entity} has expired or is not yet valid")]
    Expired {
        /// The record kind.
        entity: &'static str,
    },
    /// The caller passed a value the store refuses before touching the database.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: &'static str,
        /// Why it was refused.
        reason: &'static str,
    },
    /// The connection string or path could not be used (its text is not repeated).
    #[error("cannot open the store: {reason}")]
    Open {
        /// Why, without the connection string.
        reason: &'static str,
        /// The underlying error, if any.
        #[source]
        source: Option<BackendError>,
    },
    /// The embedded migrations could not be applied.
    #[error("cannot migrate the {backend} schema")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The underlying error.
        #[source]
        source: BackendError,
    },
    /// The database failed (connection lost, pool timed out, I/O error...).
    #[error("database error during {operation}")]
    Backend {
        /// The operation that failed, e.g. "create tenant".
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: BackendError,
    },
    /// A stored row does not decode (an enum holds an unknown value, an id is malformed):
    /// the database was changed behind the store's back. Fails closed.
    #[error("corrupt {entity} row: {reason}")]
    Corrupt {
        /// The record kind.
        entity: &'static str,
        /// What did not decode.
        reason: &'static str,
    },
}

impl StoreError {
    /// True for [`StoreError::NotFound`].
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }

    /// True for [`StoreError::Conflict`].
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

/// An opaque driver error, kept for `source()` chains without exposing driver types.
pub struct BackendError(Box<dyn StdError + Send + Sync + 'static>);

impl BackendError {
    pub(crate) fn new(err: impl StdError + Send + Sync + 'static) -> Self {
        Self(Box::new(err))
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for BackendError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
    }
}
