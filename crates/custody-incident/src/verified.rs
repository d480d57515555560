//! A snapshot of the audit log proven under one signed checkpoint, and the
//! proven facts taken from it.
//!
//! Main types: [`VerifiedLog`] (opened only after full verification of the log
//! against trust anchors; every record it hands out is re-hashed and checked
//! against the verified tree), [`ProvenFact`] (a record with its inclusion
//! proof), [`TenantSlice`] (the facts of one tenant in a window: the input of a
//! notice) and [`CheckpointRef`].

use std::path::Path;

use custody_audit::checkpoint::SignedCheckpoint;
use custody_audit::event::{AuditEvent, EventKind};
use custody_audit::merkle::{Hash, MerkleTree, leaf_hash};
use custody_audit::note::NoteVerifier;
use custody_audit::record;
use custody_audit::store::{LogStore, SegmentStore};
use custody_audit::verify::{VerifyOptions, VerifyReport, verify_dir, verify_store};

use crate::IncidentError;

/// The signed checkpoint every fact of a snapshot is proven against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointRef {
    /// The log's origin line.
    pub origin: String,
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The complete signed note (C2SP signed-note text).
    pub note: String,
}

/// One stored record with its RFC 6962 inclusion proof against a
/// [`CheckpointRef`]. Only a [`VerifiedLog`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvenFact {
    pub(crate) index: u64,
    pub(crate) record: Vec<u8>,
    pub(crate) proof: Vec<Hash>,
}

impl ProvenFact {
    /// Log index.
    #[must_use]
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The stored record bytes (the leaf data).
    #[must_use]
    pub fn record(&self) -> &[u8] {
        &self.record
    }

    /// The audit path, leaf to root.
    #[must_use]
    pub fn proof(&self) -> &[Hash] {
        &self.proof
    }

    /// The leaf hash of the record.
    #[must_use]
    pub fn leaf_hash(&self) -> Hash {
        leaf_hash(&self.record)
    }

    /// The event the record holds.
    ///
    /// # Errors
    /// [`IncidentError::BadRecord`] when the record is in no known encoding.
    pub fn event(&self) -> Result<AuditEvent, IncidentError> {
        decode_event(&self.record).ok_or(IncidentError::BadRecord(self.index))
    }
}

/// The event kinds a tenant notice reports: acts on the tenant's artifacts,
/// support access to the tenant, and remediation. Uploads, sanitization,
/// sign-ins and policy changes are not incident facts for a tenant.
pub const NOTICE_KINDS: [EventKind; 9] = [
    EventKind::View,
    EventKind::Download,
    EventKind::Export,
    EventKind::Unseal,
    EventKind::Delete,
    EventKind::GrantRequest,
    EventKind::GrantApprove,
    EventKind::TokenRevoke,
    EventKind::Containment,
];

/// The facts of one tenant in a time window, each proven against one checkpoint:
/// the audit-log input of [`crate::render_notice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantSlice {
    pub(crate) tenant: String,
    pub(crate) since_ms: i64,
    pub(crate) until_ms: i64,
    pub(crate) checkpoint: CheckpointRef,
    pub(crate) facts: Vec<ProvenFact>,
}

impl TenantSlice {
    /// The tenant.
    #[must_use]
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// Window start (inclusive), ms since the epoch.
    #[must_use]
    pub fn since_ms(&self) -> i64 {
        self.since_ms
    }

    /// Window end (inclusive), ms since the epoch.
    #[must_use]
    pub fn until_ms(&self) -> i64 {
        self.until_ms
    }

    /// The checkpoint the facts are proven against.
    #[must_use]
    pub fn checkpoint(&self) -> &CheckpointRef {
        &self.checkpoint
    }

    /// The facts, by log index.
    #[must_use]
    pub fn facts(&self) -> &[ProvenFact] {
        &self.facts
    }
}

/// The event in a stored record: the compact encoding, or the canonical OCSF
/// JSON of logs written before it.
fn decode_event(bytes: &[u8]) -> Option<AuditEvent> {
    record::decode(bytes).ok().or_else(|| {
        record::to_ocsf(bytes)
            .ok()
            .and_then(|ocsf| record::from_ocsf(&ocsf).ok())
    })
}

/// A read-only snapshot of an audit log: the records under one signed
/// checkpoint, after the whole log verified against trust anchors.
#[derive(Debug)]
pub struct VerifiedLog<S: LogStore> {
    store: S,
    tree: MerkleTree,
    checkpoint: CheckpointRef,
    records_present: u64,
}

impl VerifiedLog<SegmentStore> {
    /// Verifies the log directory `dir` against `anchors` (key chain, every frame,
    /// the recomputed tree, every stored checkpoint and their consistency), then
    /// opens the snapshot at the latest checkpoint, or at the stored checkpoint of
    /// tree size `at_size` (so a notice can be re-rendered byte for byte later).
    ///
    /// # Errors
    /// [`IncidentError`]: no answer from a log that does not verify.
    pub fn open_dir(
        dir: &Path,
        anchors: &[NoteVerifier],
        at_size: Option<u64>,
    ) -> Result<Self, IncidentError> {
        if anchors.is_empty() {
            return Err(IncidentError::NoTrustAnchor);
        }
        let report = verify_dir(dir, &options(anchors))?;
        let store = SegmentStore::open_read_only(dir)?;
        Self::from_verified(store, &report, at_size)
    }
}

fn options(anchors: &[NoteVerifier]) -> VerifyOptions {
    VerifyOptions {
        anchors: anchors.to_vec(),
        external_checkpoints: Vec::new(),
        origin: None,
    }
}

impl<S: LogStore> VerifiedLog<S> {
    /// [`VerifiedLog::open_dir`] over any store.
    ///
    /// # Errors
    /// [`IncidentError`].
    pub fn open(
        store: S,
        anchors: &[NoteVerifier],
        at_size: Option<u64>,
    ) -> Result<Self, IncidentError> {
        if anchors.is_empty() {
            return Err(IncidentError::NoTrustAnchor);
        }
        let report = verify_store(&store, &options(anchors))?;
        Self::from_verified(store, &report, at_size)
    }

    /// Picks the checkpoint (verified again under the chain's keys) and rebuilds
    /// the tree from the records now in the store; its root must equal the
    /// checkpoint's, so the records used are exactly the verified ones.
    fn from_verified(
        store: S,
        report: &VerifyReport,
        at_size: Option<u64>,
    ) -> Result<Self, IncidentError> {
        let keys: Vec<NoteVerifier> = report.keys.iter().filter_map(|k| k.parse().ok()).collect();
        let size = at_size.unwrap_or(report.latest_size);
        let chosen = store
            .checkpoints()?
            .iter()
            .rev()
            .filter_map(|note| SignedCheckpoint::verify(note, &keys).ok())
            .find(|cp| {
                cp.checkpoint.size == size
                    && (at_size.is_some() || hex::encode(cp.checkpoint.root) == report.latest_root)
            })
            .ok_or(IncidentError::NoSuchCheckpoint(size))?;
        if store.len() < size {
            return Err(IncidentError::Changed(store.len()));
        }
        let mut tree = MerkleTree::new();
        store.scan(0, size, &mut |_, r| {
            tree.push(leaf_hash(r));
            true
        })?;
        if tree.len() != size || tree.root() != chosen.checkpoint.root {
            return Err(IncidentError::Changed(0));
        }
        Ok(Self {
            records_present: store.len(),
            store,
            tree,
            checkpoint: CheckpointRef {
                origin: chosen.checkpoint.origin,
                size,
                root: chosen.checkpoint.root,
                note: chosen.note,
            },
        })
    }

    /// The checkpoint of this snapshot.
    #[must_use]
    pub fn checkpoint(&self) -> &CheckpointRef {
        &self.checkpoint
    }

    /// Records present in the store beyond the snapshot's checkpoint (not covered
    /// by its signature, so never used).
    #[must_use]
    pub fn records_after_checkpoint(&self) -> u64 {
        self.records_present.saturating_sub(self.checkpoint.size)
    }

    /// Visits every record of the snapshot in index order with its decoded event.
    /// Each record is re-hashed and compared with the verified tree first.
    ///
    /// # Errors
    /// [`IncidentError::Changed`] when a record differs from the verified one,
    /// [`IncidentError::BadRecord`] when one is not an event.
    pub fn for_each_event(
        &self,
        visit: &mut dyn FnMut(u64, &AuditEvent, &[u8]),
    ) -> Result<(), IncidentError> {
        let mut failure = None;
        self.store.scan(0, self.checkpoint.size, &mut |i, r| {
            if self.tree.leaf(i) != Some(leaf_hash(r)) {
                failure = Some(IncidentError::Changed(i));
                return false;
            }
            match decode_event(r) {
                Some(event) => {
                    visit(i, &event, r);
                    true
                }
                None => {
                    failure = Some(IncidentError::BadRecord(i));
                    false
                }
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// The record at `index` with its inclusion proof against the snapshot's checkpoint.
    ///
    /// # Errors
    /// [`IncidentError`].
    pub fn prove(&self, index: u64, record: &[u8]) -> Result<ProvenFact, IncidentError> {
        if self.tree.leaf(index) != Some(leaf_hash(record)) {
            return Err(IncidentError::Changed(index));
        }
        Ok(ProvenFact {
            index,
            record: record.to_vec(),
            proof: self.tree.inclusion_proof(index, self.checkpoint.size)?,
        })
    }

    /// The notice facts ([`NOTICE_KINDS`]) of `tenant` with `since_ms <= time <=
    /// until_ms`, each with its proof. Without `until_ms` the window runs to the
    /// latest event time in the snapshot (so the window stated in a notice is
    /// always a concrete time, derived from the log).
    ///
    /// # Errors
    /// [`IncidentError`].
    pub fn tenant_slice(
        &self,
        tenant: &str,
        since_ms: i64,
        until_ms: Option<i64>,
    ) -> Result<TenantSlice, IncidentError> {
        if until_ms.is_some_and(|u| u < since_ms) {
            return Err(IncidentError::Window);
        }
        let until = until_ms.unwrap_or(i64::MAX);
        let mut latest = since_ms;
        let mut picked = Vec::new();
        self.for_each_event(&mut |i, event, r| {
            latest = latest.max(event.time_ms);
            if event.tenant == tenant
                && (since_ms..=until).contains(&event.time_ms)
                && NOTICE_KINDS.contains(&event.kind)
            {
                picked.push((i, r.to_vec()));
            }
        })?;
        let facts = picked
            .into_iter()
            .map(|(i, r)| self.prove(i, &r))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TenantSlice {
            tenant: tenant.to_owned(),
            since_ms,
            until_ms: until_ms.unwrap_or(latest),
            checkpoint: self.checkpoint.clone(),
            facts,
        })
    }
}
