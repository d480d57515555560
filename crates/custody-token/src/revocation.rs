//! Revocation as epochs: [`RevocationEntry`] (a cutoff per subject), the versioned
//! [`RevocationState`] that every verifier applies in order, the authority-side
//! [`RevocationStore`] trait with [`MemoryRevocationStore`], and signed
//! [`RevocationReceipt`]s.
//!
//! Boundary rule: an entry with cutoff `c` (Unix seconds) revokes every matching token
//! whose `iat <= c`. Because `iat` has one-second resolution, a token issued in the
//! same second as the revocation is revoked too (the safe side); a token issued in a
//! later second is not.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::jose::{ALG_EDDSA, Ed25519KeyPair, parse_compact};
use crate::keys::KeySet;
use crate::time::Timestamp;

/// The JOSE `typ` of a revocation receipt.
pub const RECEIPT_TYP: &str = "custody-revocation-receipt+jwt";

/// What a revocation entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// One token, by `jti`.
    TokenId,
    /// One session (and its refresh family), by `sid`.
    Session,
    /// Every token of one principal, by `sub`.
    Principal,
    /// Every token bound to one device key, by `cnf.jkt`.
    Device,
    /// Every token of one tenant, by `tenant`.
    Tenant,
    /// Every token of one class, by `cls`.
    Class,
}

impl SubjectKind {
    /// All kinds.
    pub const ALL: [SubjectKind; 6] = [
        SubjectKind::TokenId,
        SubjectKind::Session,
        SubjectKind::Principal,
        SubjectKind::Device,
        SubjectKind::Tenant,
        SubjectKind::Class,
    ];

    /// The snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubjectKind::TokenId => "token_id",
            SubjectKind::Session => "session",
            SubjectKind::Principal => "principal",
            SubjectKind::Device => "device",
            SubjectKind::Tenant => "tenant",
            SubjectKind::Class => "class",
        }
    }
}

impl fmt::Display for SubjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revocation epoch: every token of `subject` (of kind `kind`) with `iat <= cutoff`
/// is revoked. Entries are numbered 1, 2, 3... with no gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationEntry {
    /// Position in the revocation log (the state version after applying it).
    pub version: u64,
    /// What kind of subject is revoked.
    pub kind: SubjectKind,
    /// The subject's value (`jti`, `sid`, `sub`, `cnf.jkt`, tenant or class name).
    pub subject: String,
    /// Cutoff, Unix seconds: tokens issued at or before it are revoked.
    pub cutoff: u64,
    /// When the entry was recorded, Unix milliseconds.
    pub issued_at_ms: u64,
}

/// Why a revocation entry could not be applied. A verifier that cannot apply its feed
/// stays at its old version and so becomes stale, which refuses every token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The entry is not the next version (a gap or a rewind).
    #[error("revocation entry out of order: expected version {expected}, got {got}")]
    OutOfOrder {
        /// The version the state needs next.
        expected: u64,
        /// The version received.
        got: u64,
    },
    /// The feed's head is not the state's version, so freshness cannot be confirmed.
    #[error("revocation state at version {state} cannot be confirmed against feed head {head}")]
    Behind {
        /// The state's version.
        state: u64,
        /// The head announced by the feed.
        head: u64,
    },
}

/// The subject values a token carries, as the revocation check reads them.
#[derive(Debug, Clone, Copy)]
pub struct TokenSubjects<'a> {
    /// `jti`.
    pub token_id: &'a str,
    /// `sid`.
    pub session: &'a str,
    /// `sub`.
    pub principal: &'a str,
    /// `cnf.jkt`.
    pub device: &'a str,
    /// `tenant`.
    pub tenant: &'a str,
    /// `cls`.
    pub class: &'a str,
}

/// A node's view of the revocation log: the highest cutoff per subject, the version it
/// has applied, and when it last confirmed that version is the feed's head.
#[derive(Debug, Clone, Default)]
pub struct RevocationState {
    version: u64,
    cutoffs: HashMap<SubjectKind, HashMap<String, u64>>,
    last_sync: Option<Timestamp>,
}

impl RevocationState {
    /// An empty state at version 0, never confirmed (so stale until confirmed).
    pub fn new() -> Self {
        Self::default()
    }

    /// The last applied version.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the state was last confirmed to be the feed's head.
    pub fn last_sync(&self) -> Option<Timestamp> {
        self.last_sync
    }

    /// Applies the next entry; refuses any other version.
    pub fn apply(&mut self, entry: &RevocationEntry) -> Result<(), ApplyError> {
        let expected = self.version.saturating_add(1);
        if entry.version != expected {
            return Err(ApplyError::OutOfOrder {
                expected,
                got: entry.version,
            });
        }
        let cutoff = self
            .cutoffs
            .entry(entry.kind)
            .or_default()
            .entry(entry.subject.clone())
            .or_insert(entry.cutoff);
        *cutoff = (*cutoff).max(entry.cutoff);
        self.version = expected;
        Ok(())
    }

    /// Records that the feed's head was `head` at `at`. Only confirms (refreshes
    /// `last_sync`) when the state has applied exactly that version.
    pub fn confirm(&mut self, head: u64, at: Timestamp) -> Result<(), ApplyError> {
        if head != self.version {
            return Err(ApplyError::Behind {
                state: self.version,
                head,
            });
        }
        self.last_sync = Some(self.last_sync.map_or(at, |last| last.max(at)));
        Ok(())
    }

    /// The first kind of revocation that covers a token issued at `iat` (Unix seconds).
    pub fn revoked_by(&self, subjects: &TokenSubjects<'_>, iat: u64) -> Option<SubjectKind> {
        SubjectKind::ALL.into_iter().find(|kind| {
            let value = match kind {
                SubjectKind::TokenId => subjects.token_id,
                SubjectKind::Session => subjects.session,
                SubjectKind::Principal => subjects.principal,
                SubjectKind::Device => subjects.device,
                SubjectKind::Tenant => subjects.tenant,
                SubjectKind::Class => subjects.class,
            };
            self.cutoffs
                .get(kind)
                .and_then(|map| map.get(value))
                .is_some_and(|&cutoff| iat <= cutoff)
        })
    }
}

/// Errors of a storage backend. Any of them fails the operation (and denies).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The backend failed (lock poisoned, database unreachable).
    #[error("the token store is unavailable")]
    Unavailable,
}

/// The authority's append-only revocation log, behind a trait so a shared backend can
/// be plugged in.
pub trait RevocationStore: Send + Sync {
    /// Appends an entry with the next version and returns it.
    fn append(
        &self,
        kind: SubjectKind,
        subject: &str,
        cutoff: u64,
        issued_at: Timestamp,
    ) -> Result<RevocationEntry, StoreError>;

    /// Every entry with a version greater than `version`, in order.
    fn entries_after(&self, version: u64) -> Result<Vec<RevocationEntry>, StoreError>;

    /// The version of the last entry (0 when empty).
    fn head(&self) -> Result<u64, StoreError>;
}

/// An in-memory revocation log.
#[derive(Debug, Default)]
pub struct MemoryRevocationStore {
    entries: Mutex<Vec<RevocationEntry>>,
}

impl MemoryRevocationStore {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }
}

impl RevocationStore for MemoryRevocationStore {
    fn append(
        &self,
        kind: SubjectKind,
        subject: &str,
        cutoff: u64,
        issued_at: Timestamp,
    ) -> Result<RevocationEntry, StoreError> {
        let mut entries = self.entries.lock().map_err(|_| StoreError::Unavailable)?;
        let version = u64::try_from(entries.len())
            .map_err(|_| StoreError::Unavailable)?
            .saturating_add(1);
        let entry = RevocationEntry {
            version,
            kind,
            subject: subject.to_owned(),
            cutoff,
            issued_at_ms: issued_at.unix_millis(),
        };
        entries.push(entry.clone());
        Ok(entry)
    }

    fn entries_after(&self, version: u64) -> Result<Vec<RevocationEntry>, StoreError> {
        let entries = self.entries.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(entries
            .iter()
            .filter(|entry| entry.version > version)
            .cloned()
            .collect())
    }

    fn head(&self) -> Result<u64, StoreError> {
        let entries = self.entries.lock().map_err(|_| StoreError::Unavailable)?;
        u64::try_from(entries.len()).map_err(|_| StoreError::Unavailable)
    }
}

/// The signed claims of a receipt.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptClaims {
    iss: String,
    iat: u64,
    state_version: u64,
    revoked: RevocationEntry,
}

/// Errors checking a receipt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReceiptError {
    /// Not a well-formed receipt.
    #[error("the revocation receipt is malformed")]
    Malformed,
    /// Signed by a key outside the trusted set, or the signature does not verify.
    #[error("the revocation receipt's signature does not verify against the trusted keys")]
    BadSignature,
    /// Signing failed.
    #[error("the revocation receipt could not be encoded")]
    Encoding,
}

/// A compact JWS (`typ` [`RECEIPT_TYP`], EdDSA) signed by the authority, stating which
/// entry was recorded and the state version that contains it. Not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationReceipt(String);

impl RevocationReceipt {
    pub(crate) fn sign(
        issuer: &str,
        entry: &RevocationEntry,
        key: &Ed25519KeyPair,
    ) -> Result<Self, ReceiptError> {
        let header = serde_json::json!({
            "typ": RECEIPT_TYP,
            "alg": ALG_EDDSA,
            "kid": key.thumbprint().as_str(),
        });
        let claims = ReceiptClaims {
            iss: issuer.to_owned(),
            iat: entry.issued_at_ms / 1000,
            state_version: entry.version,
            revoked: entry.clone(),
        };
        crate::jose::sign_compact(&header, &claims, key)
            .map(Self)
            .map_err(|_| ReceiptError::Encoding)
    }

    /// The compact JWS text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps receipt text for [`RevocationReceipt::verify`].
    pub fn from_compact(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// Checks the signature against `keys` and returns the covered entry.
    pub fn verify(&self, keys: &KeySet) -> Result<RevocationEntry, ReceiptError> {
        let compact = parse_compact(&self.0).ok_or(ReceiptError::Malformed)?;
        if compact.header.alg != ALG_EDDSA
            || compact.header.typ.as_deref() != Some(RECEIPT_TYP)
            || compact.header.crit.is_some()
        {
            return Err(ReceiptError::Malformed);
        }
        let key = compact
            .header
            .kid
            .as_deref()
            .and_then(|kid| keys.key(kid))
            .ok_or(ReceiptError::BadSignature)?;
        if !key.verify(compact.signing_input.as_bytes(), &compact.signature) {
            return Err(ReceiptError::BadSignature);
        }
        let claims: ReceiptClaims =
            serde_json::from_slice(&compact.payload).map_err(|_| ReceiptError::Malformed)?;
        if claims.state_version != claims.revoked.version {
            return Err(ReceiptError::Malformed);
        }
        Ok(claims.revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: u64, kind: SubjectKind, subject: &str, cutoff: u64) -> RevocationEntry {
        RevocationEntry {
            version,
            kind,
            subject: subject.into(),
            cutoff,
            issued_at_ms: cutoff * 1000,
        }
    }

    fn subjects() -> TokenSubjects<'static> {
        TokenSubjects {
            token_id: "j",
            session: "s",
            principal: "p",
            device: "d",
            tenant: "t",
            class: "support_agent",
        }
    }

    #[test]
    fn entries_apply_in_order_only() {
        let mut state = RevocationState::new();
        assert_eq!(
            state.apply(&entry(2, SubjectKind::Tenant, "t", 10)),
            Err(ApplyError::OutOfOrder {
                expected: 1,
                got: 2
            })
        );
        state
            .apply(&entry(1, SubjectKind::Tenant, "t", 10))
            .unwrap();
        assert!(
            state
                .apply(&entry(1, SubjectKind::Tenant, "t", 10))
                .is_err()
        );
        assert_eq!(state.version(), 1);
        assert!(state.confirm(2, Timestamp::from_unix_secs(5)).is_err());
        assert_eq!(state.last_sync(), None);
        state.confirm(1, Timestamp::from_unix_secs(5)).unwrap();
        assert_eq!(state.last_sync(), Some(Timestamp::from_unix_secs(5)));
    }

    #[test]
    fn cutoff_boundary_is_inclusive_per_second() {
        let mut state = RevocationState::new();
        state
            .apply(&entry(1, SubjectKind::Session, "s", 100))
            .unwrap();
        assert_eq!(
            state.revoked_by(&subjects(), 99),
            Some(SubjectKind::Session)
        );
        assert_eq!(
            state.revoked_by(&subjects(), 100),
            Some(SubjectKind::Session)
        );
        assert_eq!(state.revoked_by(&subjects(), 101), None);
        // A later entry with an earlier cutoff never shrinks the epoch.
        state
            .apply(&entry(2, SubjectKind::Session, "s", 50))
            .unwrap();
        assert_eq!(
            state.revoked_by(&subjects(), 100),
            Some(SubjectKind::Session)
        );
    }

    #[test]
    fn every_subject_kind_revokes() {
        for (index, kind) in SubjectKind::ALL.into_iter().enumerate() {
            let value = match kind {
                SubjectKind::TokenId => "j",
                SubjectKind::Session => "s",
                SubjectKind::Principal => "p",
                SubjectKind::Device => "d",
                SubjectKind::Tenant => "t",
                SubjectKind::Class => "support_agent",
            };
            let mut state = RevocationState::new();
            state.apply(&entry(1, kind, "unrelated", 100)).unwrap();
            assert_eq!(state.revoked_by(&subjects(), 10), None, "{index}");
            state.apply(&entry(2, kind, value, 100)).unwrap();
            assert_eq!(state.revoked_by(&subjects(), 10), Some(kind));
        }
    }
}
