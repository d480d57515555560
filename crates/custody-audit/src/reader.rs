//! Read-only access to a log for auditors and SIEMs: inclusion proofs, exports
//! of a time window as JSON lines, and filtered tails.
//!
//! Main types: [`LogReader`], [`InclusionBundle`], [`TailFilter`].

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use crate::checkpoint::{KeyChain, KeyChainError, SignedCheckpoint};
use crate::merkle::{Hash, MerkleTree, TreeError, leaf_hash};
use crate::note::NoteVerifier;
use crate::store::{LogStore, SegmentStore, StoreError};
use crate::verify::ExportLine;

/// Errors reading a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The key chain is invalid.
    #[error("key chain: {0}")]
    KeyChain(#[from] KeyChainError),
    /// The log has no valid checkpoint covering the request.
    #[error("no signed checkpoint covers record {0}; run `custody audit verify`")]
    NotCovered(u64),
    /// The latest checkpoint does not match the records.
    #[error("the latest checkpoint does not match the records; run `custody audit verify`")]
    Inconsistent,
    /// A proof could not be built.
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// A stored record is not an event in a known encoding.
    #[error("record {0} is not a valid event record")]
    BadRecord(u64),
    /// Writing the output failed.
    #[error("write: {0}")]
    Write(#[from] std::io::Error),
}

/// An inclusion proof of one record against a signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InclusionBundle {
    /// Record index.
    pub index: u64,
    /// Hex leaf hash.
    pub leaf_hash: String,
    /// Tree size of the checkpoint.
    pub tree_size: u64,
    /// Hex audit path.
    pub proof: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// Filters of [`LogReader::tail`]; `None` matches everything.
#[derive(Debug, Clone, Default)]
pub struct TailFilter {
    /// `metadata.tenant_uid`.
    pub tenant: Option<String>,
    /// `actor.user.uid`.
    pub actor: Option<String>,
    /// `custody.kind` (e.g. `download`) or OCSF `activity_name` (case-insensitive).
    pub activity: Option<String>,
}

impl TailFilter {
    /// True when `event` passes every filter.
    #[must_use]
    pub fn matches(&self, event: &Value) -> bool {
        let at = |ptr: &str| event.pointer(ptr).and_then(Value::as_str);
        if let Some(t) = &self.tenant
            && at("/metadata/tenant_uid") != Some(t.as_str())
        {
            return false;
        }
        if let Some(a) = &self.actor
            && at("/actor/user/uid") != Some(a.as_str())
        {
            return false;
        }
        if let Some(act) = &self.activity {
            let kind = at("/custody/kind").is_some_and(|k| k.eq_ignore_ascii_case(act));
            let name = at("/activity_name").is_some_and(|k| k.eq_ignore_ascii_case(act));
            if !kind && !name {
                return false;
            }
        }
        true
    }
}

/// A read-only view of a log: its tree, key chain and signed checkpoints.
#[derive(Debug)]
pub struct LogReader<S: LogStore> {
    store: S,
    tree: MerkleTree,
    latest: Option<SignedCheckpoint>,
}

impl LogReader<SegmentStore> {
    /// Opens a log directory read-only.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn open_dir(dir: &Path, anchors: &[NoteVerifier]) -> Result<Self, ReadError> {
        Self::open(SegmentStore::open_read_only(dir)?, anchors)
    }
}

impl<S: LogStore> LogReader<S> {
    /// Opens a read-only view: rebuilds the tree and takes the latest checkpoint
    /// that verifies under the key chain and matches the records.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn open(store: S, anchors: &[NoteVerifier]) -> Result<Self, ReadError> {
        let chain = KeyChain::from_records(&store.key_records()?, None, anchors)?;
        let mut tree = MerkleTree::new();
        store.scan(0, store.len(), &mut |_, r| {
            tree.push(leaf_hash(r));
            true
        })?;
        let latest = match store.checkpoints()?.last() {
            Some(note) => {
                let cp = SignedCheckpoint::verify(note, &chain.keys())
                    .map_err(|_| ReadError::Inconsistent)?;
                if tree.root_at(cp.checkpoint.size).ok() != Some(cp.checkpoint.root) {
                    return Err(ReadError::Inconsistent);
                }
                Some(cp)
            }
            None => None,
        };
        Ok(Self {
            store,
            tree,
            latest,
        })
    }

    /// Number of records.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.tree.len()
    }

    /// True when empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// The latest valid checkpoint.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<&SignedCheckpoint> {
        self.latest.as_ref()
    }

    /// The record at `index` (canonical event bytes).
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn record(&self, index: u64) -> Result<Vec<u8>, ReadError> {
        let mut out = None;
        self.store.scan(index, index + 1, &mut |_, r| {
            out = Some(r.to_vec());
            false
        })?;
        out.ok_or(ReadError::Store(StoreError::NoSuchRecord(index)))
    }

    /// Inclusion proof of `index` against the latest checkpoint.
    ///
    /// # Errors
    /// [`ReadError::NotCovered`] when no checkpoint covers it yet.
    pub fn prove(&self, index: u64) -> Result<InclusionBundle, ReadError> {
        let cp = self
            .latest
            .as_ref()
            .filter(|cp| cp.checkpoint.size > index)
            .ok_or(ReadError::NotCovered(index))?;
        let size = cp.checkpoint.size;
        let leaf = self.tree.leaf(index).ok_or(ReadError::NotCovered(index))?;
        Ok(InclusionBundle {
            index,
            leaf_hash: hex::encode(leaf),
            tree_size: size,
            proof: hex_all(&self.tree.inclusion_proof(index, size)?),
            checkpoint: cp.note.clone(),
        })
    }

    /// Writes the contiguous index range from the first event at or after
    /// `since_ms` to the last event at or before `until_ms` (among records the
    /// latest checkpoint covers) as JSON lines, each with its inclusion proof.
    /// Returns the number of lines.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn export(
        &self,
        since_ms: i64,
        until_ms: i64,
        out: &mut dyn Write,
    ) -> Result<u64, ReadError> {
        let Some(cp) = &self.latest else {
            return Ok(0);
        };
        let size = cp.checkpoint.size;
        let mut first = None;
        let mut last = None;
        let mut bad = None;
        self.store.scan(0, size, &mut |i, r| {
            let Ok(t) = crate::record::event_time(r) else {
                bad = Some(i);
                return false;
            };
            if t >= since_ms && first.is_none() {
                first = Some(i);
            }
            if t <= until_ms {
                last = Some(i);
            }
            true
        })?;
        if let Some(i) = bad {
            return Err(ReadError::BadRecord(i));
        }
        let (Some(first), Some(last)) = (first, last) else {
            return Ok(0);
        };
        if last < first {
            return Ok(0);
        }
        let mut written = 0u64;
        let mut failure: Option<ReadError> = None;
        self.store.scan(first, last + 1, &mut |i, r| {
            let line = self.export_line(i, r, size, &cp.note);
            let res = line.and_then(|l| {
                serde_json::to_writer(&mut *out, &l).map_err(|e| ReadError::Write(e.into()))?;
                out.write_all(b"\n")?;
                Ok(())
            });
            match res {
                Ok(()) => {
                    written += 1;
                    true
                }
                Err(e) => {
                    failure = Some(e);
                    false
                }
            }
        })?;
        match failure {
            Some(e) => Err(e),
            None => Ok(written),
        }
    }

    fn export_line(
        &self,
        index: u64,
        record: &[u8],
        size: u64,
        note: &str,
    ) -> Result<ExportLine, ReadError> {
        let event = crate::record::to_ocsf(record).map_err(|_| ReadError::BadRecord(index))?;
        Ok(ExportLine {
            index,
            leaf_hash: hex::encode(leaf_hash(record)),
            event,
            tree_size: size,
            proof: hex_all(&self.tree.inclusion_proof(index, size)?),
            checkpoint: note.to_owned(),
        })
    }

    /// The last `n` events passing `filter`, oldest first, with their indices.
    ///
    /// # Errors
    /// [`ReadError`].
    pub fn tail(&self, filter: &TailFilter, n: usize) -> Result<Vec<(u64, Value)>, ReadError> {
        let mut ring: std::collections::VecDeque<(u64, Value)> = std::collections::VecDeque::new();
        let mut bad = None;
        self.store.scan(0, self.len(), &mut |i, r| {
            let Ok(v) = crate::record::to_ocsf(r) else {
                bad = Some(i);
                return false;
            };
            if filter.matches(&v) {
                if ring.len() == n {
                    ring.pop_front();
                }
                if n > 0 {
                    ring.push_back((i, v));
                }
            }
            true
        })?;
        if let Some(i) = bad {
            return Err(ReadError::BadRecord(i));
        }
        Ok(ring.into_iter().collect())
    }
}

fn hex_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}
