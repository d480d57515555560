//! Offline verification of a whole log or of an exported slice.
//!
//! [`verify_dir`] / [`verify_store`] recompute the tree from every record, check
//! every frame, the key chain, every checkpoint's signature, its root against
//! the recomputed tree and the consistency between consecutive checkpoints, and
//! any external checkpoint an auditor kept (which detects a forked log).
//! [`verify_export`] checks an exported JSON-lines slice offline.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checkpoint::{CheckpointError, KeyChain, KeyChainError, SignedCheckpoint};
use crate::merkle::{Hash, MerkleTree, leaf_hash, verify_consistency, verify_inclusion};
use crate::note::NoteVerifier;
use crate::record::leaf_data_candidates;
use crate::store::{LogStore, SegmentStore, StoreError};

/// What to trust while verifying.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Trust anchors: the log's genesis key must be one of them. Empty means the
    /// genesis key stored in the log is trusted (reported in [`VerifyReport::anchor_from_log`]).
    pub anchors: Vec<NoteVerifier>,
    /// Signed checkpoints kept outside the log (e.g. by an auditor); the log
    /// must extend each of them.
    pub external_checkpoints: Vec<String>,
    /// Expected origin; when `None`, the origin of the first checkpoint.
    pub origin: Option<String>,
}

/// A successful verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Stored checkpoints checked.
    pub checkpoints: usize,
    /// External checkpoints checked.
    pub external_checkpoints: usize,
    /// Signing keys of the chain, oldest first.
    pub keys: Vec<String>,
    /// Size of the latest checkpoint.
    pub latest_size: u64,
    /// Hex root of the latest checkpoint.
    pub latest_root: String,
    /// Records after the latest checkpoint (not yet sealed by a signature).
    pub uncovered: u64,
    /// Bytes of an unacknowledged torn tail (removed on the writer's next open).
    pub torn_bytes: u64,
    /// True when no anchor was given and the log's own genesis key was trusted.
    pub anchor_from_log: bool,
}

/// Why a checkpoint fails.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointFault {
    /// Bad or untrusted signature, or malformed body.
    #[error("signature or format: {0}")]
    Signature(CheckpointError),
    /// Another origin than the log's.
    #[error("origin differs from the log's")]
    Origin,
    /// Smaller than an earlier checkpoint.
    #[error("tree size went backwards")]
    Shrinks,
    /// It covers records that are missing.
    #[error("covers {size} records but only {present} are present")]
    MissingRecords {
        /// Checkpoint size.
        size: u64,
        /// Records present.
        present: u64,
    },
    /// Its root differs from the recomputed tree: records were altered.
    #[error(
        "root does not match the records (records in {from}..{to} were altered, removed, inserted or reordered)"
    )]
    RootMismatch {
        /// Start of the suspect range (size of the last matching checkpoint).
        from: u64,
        /// End of the suspect range (this checkpoint's size).
        to: u64,
    },
    /// Not consistent with the previous checkpoint.
    #[error("not consistent with the previous checkpoint")]
    Inconsistent,
}

/// A failed verification. [`VerifyError::first_bad_index`] names the first bad record.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// Storage could not be read.
    #[error("storage: {0}")]
    Store(StoreError),
    /// A record frame is damaged, out of sequence, inserted or missing.
    #[error("record {index}: {reason}")]
    Record {
        /// First bad index.
        index: u64,
        /// What is wrong.
        reason: String,
    },
    /// The key file is not a valid chain from a trusted anchor.
    #[error("key chain: {0}")]
    KeyChain(#[from] KeyChainError),
    /// There is no checkpoint at all.
    #[error("the log has no checkpoint")]
    NoCheckpoint,
    /// A stored checkpoint fails.
    #[error("checkpoint {seq} (first bad index {first_bad_index}): {fault}")]
    Checkpoint {
        /// Position in the checkpoint file.
        seq: usize,
        /// First index not proven good.
        first_bad_index: u64,
        /// Why.
        fault: CheckpointFault,
    },
    /// An external checkpoint is not extended by this log (a fork or a rewrite).
    #[error("external checkpoint {seq} (first bad index {first_bad_index}): {fault}")]
    External {
        /// Position among the external checkpoints.
        seq: usize,
        /// First index not proven good.
        first_bad_index: u64,
        /// Why.
        fault: CheckpointFault,
    },
    /// A line of an exported slice fails.
    #[error("export line {line} (index {index:?}): {reason}")]
    ExportLine {
        /// 1-based line number.
        line: usize,
        /// The record index on that line, when known.
        index: Option<u64>,
        /// What is wrong.
        reason: String,
    },
}

impl VerifyError {
    /// The first record index that is not proven good, when the failure names one.
    #[must_use]
    pub fn first_bad_index(&self) -> Option<u64> {
        match self {
            Self::Record { index, .. } => Some(*index),
            Self::Checkpoint {
                first_bad_index, ..
            }
            | Self::External {
                first_bad_index, ..
            } => Some(*first_bad_index),
            Self::ExportLine { index, .. } => *index,
            _ => None,
        }
    }
}

fn map_store(e: StoreError) -> VerifyError {
    match e {
        StoreError::Corrupt { file, index, fault } if file.ends_with(".seg") => {
            VerifyError::Record {
                index,
                reason: format!("{fault} in {file}"),
            }
        }
        other => VerifyError::Store(other),
    }
}

/// Verifies the log in `dir`, read-only, hashing leaves on every available CPU
/// (at most 8 threads).
///
/// # Errors
/// [`VerifyError`] naming the first bad index where one can be named.
pub fn verify_dir(dir: &Path, options: &VerifyOptions) -> Result<VerifyReport, VerifyError> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    verify_dir_with_threads(dir, options, threads)
}

/// [`verify_dir`] with leaf hashing spread over `threads` threads (1 = the
/// calling thread only; 0 counts as 1). The result does not depend on `threads`.
///
/// # Errors
/// [`VerifyError`] naming the first bad index where one can be named.
pub fn verify_dir_with_threads(
    dir: &Path,
    options: &VerifyOptions,
    threads: usize,
) -> Result<VerifyReport, VerifyError> {
    // One pass: frames are checked and leaves hashed (in parallel chunks) while opening.
    let mut hasher = LeafHasher::new(threads.max(1));
    let store =
        SegmentStore::open_read_only_with(dir, &mut |_, r| hasher.push(r)).map_err(map_store)?;
    let tree = hasher.finish();
    let torn: u64 = store
        .recovery()
        .torn
        .iter()
        .filter(|(name, _)| name.ends_with(".seg"))
        .map(|(_, b)| *b)
        .sum();
    let mut report = verify_with_tree(&store, tree, options)?;
    report.torn_bytes = torn;
    Ok(report)
}

/// Verifies any [`LogStore`].
///
/// # Errors
/// [`VerifyError`].
pub fn verify_store<S: LogStore>(
    store: &S,
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let mut tree = MerkleTree::new();
    store
        .scan(0, store.len(), &mut |_, record| {
            tree.push(leaf_hash(record));
            true
        })
        .map_err(map_store)?;
    verify_with_tree(store, tree, options)
}

/// Leaf hashing in chunks of about 8 MiB, each chunk split across the CPUs.
struct LeafHasher {
    tree: MerkleTree,
    buf: Vec<u8>,
    ends: Vec<usize>,
    threads: usize,
}

impl LeafHasher {
    const CHUNK: usize = 8 << 20;

    fn new(threads: usize) -> Self {
        Self {
            tree: MerkleTree::new(),
            buf: Vec::with_capacity(Self::CHUNK + (1 << 20)),
            ends: Vec::new(),
            threads,
        }
    }

    fn push(&mut self, record: &[u8]) {
        self.buf.extend_from_slice(record);
        self.ends.push(self.buf.len());
        if self.buf.len() >= Self::CHUNK {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut start = 0;
        let records: Vec<&[u8]> = self
            .ends
            .iter()
            .map(|&end| {
                let r = self.buf.get(start..end).unwrap_or_default();
                start = end;
                r
            })
            .collect();
        if self.threads <= 1 {
            for r in records {
                self.tree.push(leaf_hash(r));
            }
            self.buf.clear();
            self.ends.clear();
            return;
        }
        let per = records.len().div_ceil(self.threads).max(1);
        let hashed: Vec<Vec<Hash>> = std::thread::scope(|s| {
            let handles: Vec<_> = records
                .chunks(per)
                .map(|part| {
                    s.spawn(move || part.iter().map(|r| leaf_hash(r)).collect::<Vec<Hash>>())
                })
                .collect();
            // INVARIANT: leaf hashing cannot panic; a failed join yields no
            // hashes, which makes the tree short and verification fail closed.
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
        for h in hashed.into_iter().flatten() {
            self.tree.push(h);
        }
        self.buf.clear();
        self.ends.clear();
    }

    fn finish(mut self) -> MerkleTree {
        self.flush();
        self.tree
    }
}

/// Verifies a store whose tree was already rebuilt from its records.
fn verify_with_tree<S: LogStore>(
    store: &S,
    tree: MerkleTree,
    options: &VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let records = store.key_records().map_err(map_store)?;
    let notes = store.checkpoints().map_err(map_store)?;
    let origin = match &options.origin {
        Some(o) => Some(o.clone()),
        None => notes
            .first()
            .and_then(|n| n.split('\n').next())
            .map(str::to_owned),
    };
    let chain = KeyChain::from_records(&records, origin.as_deref(), &options.anchors)?;
    let trusted = chain.keys();
    let present = tree.len();

    let mut prev: Option<(u64, Hash)> = None;
    let mut good_upto = 0u64;
    for (seq, note) in notes.iter().enumerate() {
        let fail = |first_bad_index, fault| VerifyError::Checkpoint {
            seq,
            first_bad_index,
            fault,
        };
        let cp = SignedCheckpoint::verify(note, &trusted)
            .map_err(|e| fail(good_upto, CheckpointFault::Signature(e)))?
            .checkpoint;
        if origin.as_deref() != Some(cp.origin.as_str()) {
            return Err(fail(good_upto, CheckpointFault::Origin));
        }
        check_against_tree(&tree, prev, cp.size, &cp.root, good_upto)
            .map_err(|(i, f)| fail(i, f))?;
        good_upto = cp.size;
        prev = Some((cp.size, cp.root));
    }
    let Some((latest_size, latest_root)) = prev else {
        return Err(VerifyError::NoCheckpoint);
    };
    for (seq, note) in options.external_checkpoints.iter().enumerate() {
        let fail = |first_bad_index, fault| VerifyError::External {
            seq,
            first_bad_index,
            fault,
        };
        let cp = SignedCheckpoint::verify(note, &trusted)
            .map_err(|e| fail(0, CheckpointFault::Signature(e)))?
            .checkpoint;
        if origin.as_deref() != Some(cp.origin.as_str()) {
            return Err(fail(0, CheckpointFault::Origin));
        }
        check_against_tree(&tree, None, cp.size, &cp.root, 0).map_err(|(i, f)| fail(i, f))?;
        // The latest stored checkpoint must extend the external one.
        let (old, new, old_root, new_root) = if cp.size <= latest_size {
            (cp.size, latest_size, cp.root, latest_root)
        } else {
            (latest_size, cp.size, latest_root, cp.root)
        };
        let proof = tree
            .consistency_proof(old, new)
            .map_err(|_| fail(0, CheckpointFault::Inconsistent))?;
        verify_consistency(old, new, &old_root, &new_root, &proof)
            .map_err(|_| fail(0, CheckpointFault::Inconsistent))?;
    }
    Ok(VerifyReport {
        records: present,
        checkpoints: notes.len(),
        external_checkpoints: options.external_checkpoints.len(),
        keys: trusted.iter().map(ToString::to_string).collect(),
        latest_size,
        latest_root: hex::encode(latest_root),
        uncovered: present.saturating_sub(latest_size),
        torn_bytes: 0,
        anchor_from_log: options.anchors.is_empty(),
    })
}

/// Checks one checkpoint (size, root) against the recomputed tree and, when
/// given, its consistency with the previous one.
fn check_against_tree(
    tree: &MerkleTree,
    prev: Option<(u64, Hash)>,
    size: u64,
    root: &Hash,
    good_upto: u64,
) -> Result<(), (u64, CheckpointFault)> {
    if let Some((prev_size, _)) = prev
        && size < prev_size
    {
        return Err((good_upto, CheckpointFault::Shrinks));
    }
    if size > tree.len() {
        return Err((
            tree.len(),
            CheckpointFault::MissingRecords {
                size,
                present: tree.len(),
            },
        ));
    }
    let computed = tree.root_at(size).map_err(|_| {
        (
            good_upto,
            CheckpointFault::MissingRecords {
                size,
                present: tree.len(),
            },
        )
    })?;
    if &computed != root {
        return Err((
            good_upto,
            CheckpointFault::RootMismatch {
                from: good_upto,
                to: size,
            },
        ));
    }
    if let Some((prev_size, prev_root)) = prev {
        let proof = tree
            .consistency_proof(prev_size, size)
            .map_err(|_| (good_upto, CheckpointFault::Inconsistent))?;
        verify_consistency(prev_size, size, &prev_root, root, &proof)
            .map_err(|_| (good_upto, CheckpointFault::Inconsistent))?;
    }
    Ok(())
}

/// One line of an export: an event with its inclusion proof against a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportLine {
    /// Record index.
    pub index: u64,
    /// Hex leaf hash of the canonical event bytes.
    pub leaf_hash: String,
    /// The OCSF event.
    pub event: Value,
    /// Tree size of the checkpoint the proof is against.
    pub tree_size: u64,
    /// Hex audit path.
    pub proof: Vec<String>,
    /// The signed checkpoint note.
    pub checkpoint: String,
}

/// A successful export verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Lines checked.
    pub lines: usize,
    /// First index, when not empty.
    pub first_index: Option<u64>,
    /// Last index, when not empty.
    pub last_index: Option<u64>,
    /// Size of the checkpoint all lines are proven against.
    pub tree_size: Option<u64>,
}

/// Verifies an exported slice: each line's event bytes hash to its leaf, its
/// proof leads to the root of a checkpoint signed by a trusted key, all lines
/// use one checkpoint, and indices are consecutive (no line removed, inserted
/// or reordered inside the slice). `trusted` must not be empty.
///
/// # Errors
/// [`VerifyError::ExportLine`] for the first bad line.
pub fn verify_export(
    reader: impl BufRead,
    trusted: &[NoteVerifier],
) -> Result<ExportReport, VerifyError> {
    let mut report = ExportReport {
        lines: 0,
        first_index: None,
        last_index: None,
        tree_size: None,
    };
    let mut checkpoint: Option<(String, u64, Hash)> = None;
    for (n, line) in reader.lines().enumerate() {
        let line_no = n + 1;
        let bad = |index: Option<u64>, reason: String| VerifyError::ExportLine {
            line: line_no,
            index,
            reason,
        };
        let line = line.map_err(|e| bad(None, format!("read: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        // serde_json's message can quote the input; say only what and where.
        let parsed: ExportLine = serde_json::from_str(&line).map_err(|e| {
            bad(
                None,
                format!(
                    "not an export line ({:?} error at column {})",
                    e.classify(),
                    e.column()
                ),
            )
        })?;
        let index = Some(parsed.index);
        if let Some(last) = report.last_index
            && parsed.index != last + 1
        {
            return Err(bad(
                index,
                format!("index does not follow {last}: a line was removed, inserted or reordered"),
            ));
        }
        match &checkpoint {
            Some((note, _, _)) if *note == parsed.checkpoint => {}
            Some(_) => return Err(bad(index, "line proven against another checkpoint".into())),
            None => {
                let cp = SignedCheckpoint::verify(&parsed.checkpoint, trusted)
                    .map_err(|e| bad(index, format!("checkpoint: {e}")))?;
                checkpoint = Some((
                    parsed.checkpoint.clone(),
                    cp.checkpoint.size,
                    cp.checkpoint.root,
                ));
            }
        }
        let Some((_, size, root)) = &checkpoint else {
            return Err(bad(index, "no checkpoint".into()));
        };
        if parsed.tree_size != *size {
            return Err(bad(index, "tree size differs from the checkpoint".into()));
        }
        let stated: Hash = hex::decode(&parsed.leaf_hash)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(|| bad(index, "malformed leaf hash".into()))?;
        let leaf = leaf_data_candidates(&parsed.event)
            .iter()
            .map(|data| leaf_hash(data))
            .find(|h| *h == stated)
            .ok_or_else(|| bad(index, "event does not hash to the stated leaf".into()))?;
        let proof: Vec<Hash> = parsed
            .proof
            .iter()
            .map(|h| hex::decode(h).ok().and_then(|v| v.try_into().ok()))
            .collect::<Option<_>>()
            .ok_or_else(|| bad(index, "malformed proof hash".into()))?;
        verify_inclusion(parsed.index, *size, &leaf, &proof, root)
            .map_err(|e| bad(index, format!("inclusion proof: {e}")))?;
        report.lines += 1;
        report.first_index.get_or_insert(parsed.index);
        report.last_index = Some(parsed.index);
        report.tree_size = Some(*size);
    }
    Ok(report)
}
