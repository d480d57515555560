//! The writer side of the audit log: durable appends with group commit,
//! periodic signed checkpoints, key rotation and proofs.
//!
//! Main types: [`AuditLog`] (generic over a [`LogStore`]), [`LogOptions`],
//! [`Receipt`] (the signed acknowledgement of an append), [`Clock`] and
//! [`Checkpointer`] (a thread driving [`AuditLog::checkpoint_if_due`]).
//!
//! Every group commit ends with one Ed25519 signature: a checkpoint of the tree
//! right after the batch, handed to each appender of the batch as its
//! [`Receipt`]. A receipt held outside the log (by the server, an auditor, a
//! witness) makes deleting or altering anything it covers detectable
//! (`custody audit verify --checkpoint`), including the records appended after
//! the latest stored checkpoint. Receipts are not written to the log (that would
//! cost a second fsync per batch); the periodic stored checkpoints remain.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::checkpoint::{Checkpoint, CheckpointError, KeyChain, KeyChainError, SignedCheckpoint};
use crate::event::{AuditEvent, EventError};
use crate::merkle::{Hash, MerkleTree, TreeError, leaf_hash};
use crate::note::{NoteError, NoteSigner};
use crate::store::{LogStore, MAX_RECORD, StoreError};

/// Default time between checkpoints while the log grows.
pub const DEFAULT_CHECKPOINT_INTERVAL_MS: u64 = 250;
/// Most records written by one group commit.
const MAX_BATCH_RECORDS: usize = 8192;

/// A source of the current time (injected, so tests control it).
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Options of an [`AuditLog`].
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// The origin line of checkpoints (names this log).
    pub origin: String,
    /// Minimum time between two checkpoints while the tree grows.
    pub checkpoint_interval_ms: u64,
}

impl LogOptions {
    /// Options with the default checkpoint interval.
    #[must_use]
    pub fn new(origin: &str) -> Self {
        Self {
            origin: origin.to_owned(),
            checkpoint_interval_ms: DEFAULT_CHECKPOINT_INTERVAL_MS,
        }
    }
}

/// Errors opening a log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The stored key records do not form a valid chain.
    #[error("key chain: {0}")]
    KeyChain(#[from] KeyChainError),
    /// The signer is not the log's current key.
    #[error("signing key {given} is not the log's current key {current}")]
    WrongKey {
        /// The key given.
        given: String,
        /// The log's current key.
        current: String,
    },
    /// The latest checkpoint does not match the records (lost or altered records).
    #[error("latest checkpoint (size {size}) does not match the {records} stored records")]
    CheckpointMismatch {
        /// Checkpoint size.
        size: u64,
        /// Records present.
        records: u64,
    },
    /// A stored checkpoint is malformed or not signed by the log's keys.
    #[error("stored checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The origin in the stored checkpoints differs from the configured one.
    #[error("log origin differs from the configured origin")]
    WrongOrigin,
    /// The initial checkpoint of a new log could not be issued.
    #[error("initial checkpoint: {0}")]
    InitialCheckpoint(CheckpointIssueError),
}

/// Errors appending an event. Every variant means the event is NOT logged, and
/// under I4 the access it describes must fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppendError {
    /// The event is invalid.
    #[error("invalid event: {0}")]
    Event(#[from] EventError),
    /// The record is too large.
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// Storage failed; the log refuses further appends until reopened.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// An earlier failure poisoned the log.
    #[error("audit log is poisoned by an earlier failure; reopen it")]
    Poisoned,
    /// The batch is durable but its receipt could not be signed; the log is
    /// poisoned (fail closed: no acknowledgement without a receipt).
    #[error("signing the append receipt: {0}")]
    Receipt(CheckpointError),
}

/// The acknowledgement of a durable append: the index range of the appended
/// records and a signed checkpoint whose tree contains them
/// (`checkpoint.checkpoint.size >= range.end`). Keep it: verifying the log
/// against it (`custody audit verify --checkpoint`) detects the deletion or
/// alteration of any record it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// Indices of the appended records.
    pub range: std::ops::Range<u64>,
    /// Signed checkpoint of the tree right after their group commit.
    pub checkpoint: SignedCheckpoint,
}

/// Errors issuing a checkpoint or rotating the key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointIssueError {
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(#[from] CheckpointError),
    /// Signing a rotation failed.
    #[error("signing rotation: {0}")]
    Note(#[from] NoteError),
    /// The rotation statement was refused.
    #[error("rotation: {0}")]
    KeyChain(#[from] KeyChainError),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The tree could not give a root.
    #[error("tree: {0}")]
    Tree(#[from] TreeError),
    /// A lock was poisoned by a panic elsewhere.
    #[error("audit log is poisoned")]
    Poisoned,
}

#[derive(Debug, Default)]
struct Commit {
    pending: Vec<Vec<u8>>,
    next_ticket: u64,
    durable: u64,
    leader: bool,
    failed: bool,
    // INVARIANT: once set, `receipt.checkpoint.size == durable`.
    receipt: Option<SignedCheckpoint>,
}

#[derive(Debug)]
struct Signing {
    signer: NoteSigner,
    chain: KeyChain,
    latest: Option<SignedCheckpoint>,
    last_ms: Option<i64>,
}

/// A tamper-evident, append-only audit log over a [`LogStore`].
#[derive(Debug)]
pub struct AuditLog<S: LogStore> {
    store: S,
    options: LogOptions,
    commit: Mutex<Commit>,
    committed: Condvar,
    tree: RwLock<MerkleTree>,
    signing: Mutex<Signing>,
}

fn poisoned<T>(_: T) -> AppendError {
    AppendError::Poisoned
}

impl<S: LogStore> AuditLog<S> {
    /// Opens the log: rebuilds the tree from the stored records, checks the
    /// latest checkpoint against it (fail closed when records are missing or
    /// altered), follows the key chain, on a new log records `signer` as the
    /// genesis key, and signs a checkpoint when none exists yet.
    ///
    /// # Errors
    /// [`OpenError`].
    pub fn open(store: S, signer: NoteSigner, options: LogOptions) -> Result<Self, OpenError> {
        let mut records = store.key_records()?;
        if records.is_empty() {
            let genesis = signer.verifier().to_string();
            store.append_key_record(&genesis)?;
            records.push(genesis);
        }
        let chain = KeyChain::from_records(&records, Some(&options.origin), &[])?;
        if chain.current() != &signer.verifier() {
            return Err(OpenError::WrongKey {
                given: signer.verifier().to_string(),
                current: chain.current().to_string(),
            });
        }
        let mut tree = MerkleTree::new();
        store.scan(0, store.len(), &mut |_, record| {
            tree.push(leaf_hash(record));
            true
        })?;
        let latest = match store.checkpoints()?.last() {
            Some(note) => {
                let cp = SignedCheckpoint::verify(note, &chain.keys())?;
                if cp.checkpoint.origin != options.origin {
                    return Err(OpenError::WrongOrigin);
                }
                let size = cp.checkpoint.size;
                if tree.root_at(size).ok() != Some(cp.checkpoint.root) {
                    return Err(OpenError::CheckpointMismatch {
                        size,
                        records: tree.len(),
                    });
                }
                Some(cp)
            }
            None => None,
        };
        let len = tree.len();
        let log = Self {
            store,
            options,
            commit: Mutex::new(Commit {
                next_ticket: len,
                durable: len,
                ..Commit::default()
            }),
            committed: Condvar::new(),
            tree: RwLock::new(tree),
            signing: Mutex::new(Signing {
                signer,
                chain,
                latest,
                last_ms: None,
            }),
        };
        if log.latest_checkpoint().is_none() {
            // Every log has a checkpoint from its first open on.
            let mut signing = log.signing().map_err(OpenError::InitialCheckpoint)?;
            log.issue(&mut signing, None)
                .map_err(OpenError::InitialCheckpoint)?;
        }
        Ok(log)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The options.
    pub fn options(&self) -> &LogOptions {
        &self.options
    }

    /// Number of durable records.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.tree.read().map_or(0, |t| t.len())
    }

    /// True when the log has no records.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends an event and returns its index once it is durable.
    ///
    /// # Errors
    /// [`AppendError`]: the event is not logged and the access must fail (I4).
    pub fn append(&self, event: &AuditEvent) -> Result<u64, AppendError> {
        let bytes = event.record_bytes()?;
        self.append_record(bytes)
    }

    /// Appends one raw record (event record bytes, [`AuditEvent::record_bytes`]) and returns its index once durable.
    /// Concurrent callers are batched into one write and one fsync (group commit).
    ///
    /// # Errors
    /// [`AppendError`].
    pub fn append_record(&self, record: Vec<u8>) -> Result<u64, AppendError> {
        self.append_records(vec![record]).map(|r| r.start)
    }

    /// Appends several records with consecutive indices and returns their index
    /// range once all are durable (they share the group commit of concurrent callers).
    ///
    /// # Errors
    /// [`AppendError`]: none of the records may be considered logged.
    pub fn append_records(
        &self,
        records: Vec<Vec<u8>>,
    ) -> Result<std::ops::Range<u64>, AppendError> {
        self.append_records_with_receipt(records).map(|r| r.range)
    }

    /// Appends an event and returns, once it is durable, its [`Receipt`]: its
    /// index and a signed checkpoint that covers it.
    ///
    /// # Errors
    /// [`AppendError`]: the event is not acknowledged and the access must fail (I4).
    pub fn append_with_receipt(&self, event: &AuditEvent) -> Result<Receipt, AppendError> {
        let bytes = event.record_bytes()?;
        self.append_records_with_receipt(vec![bytes])
    }

    /// Appends records with consecutive indices (group commit with concurrent
    /// callers) and returns their [`Receipt`] once all are durable. The leader of
    /// each group commit writes and syncs the batch, then signs one checkpoint of
    /// the tree after it; every appender of the batch receives that checkpoint.
    ///
    /// # Errors
    /// [`AppendError`]: none of the records may be considered acknowledged.
    pub fn append_records_with_receipt(
        &self,
        records: Vec<Vec<u8>>,
    ) -> Result<Receipt, AppendError> {
        if let Some(big) = records.iter().find(|r| r.len() > MAX_RECORD) {
            return Err(AppendError::TooLarge(big.len()));
        }
        let mut state = self.commit.lock().map_err(poisoned)?;
        if state.failed {
            return Err(AppendError::Poisoned);
        }
        let first = state.next_ticket;
        state.next_ticket += records.len() as u64;
        let last = state.next_ticket;
        state.pending.extend(records);
        loop {
            if state.durable >= last {
                if let Some(cp) = &state.receipt {
                    return Ok(Receipt {
                        range: first..last,
                        checkpoint: cp.clone(),
                    });
                }
                if first == last {
                    // An empty append before any batch of this process.
                    return Ok(Receipt {
                        range: first..last,
                        checkpoint: self.sign_receipt()?,
                    });
                }
            }
            if state.failed {
                return Err(AppendError::Poisoned);
            }
            if state.leader {
                state = self.committed.wait(state).map_err(poisoned)?;
                continue;
            }
            state.leader = true;
            let take = state.pending.len().min(MAX_BATCH_RECORDS);
            let batch: Vec<Vec<u8>> = state.pending.drain(..take).collect();
            drop(state);
            let result = self.write_batch(&batch).and_then(|()| self.sign_receipt());
            state = self.commit.lock().map_err(poisoned)?;
            state.leader = false;
            let outcome = match result {
                Ok(cp) => {
                    state.durable += batch.len() as u64;
                    state.receipt = Some(cp);
                    Ok(())
                }
                Err(e) => {
                    state.failed = true;
                    Err(e)
                }
            };
            self.committed.notify_all();
            outcome?;
        }
    }

    fn write_batch(&self, batch: &[Vec<u8>]) -> Result<(), AppendError> {
        let hashes: Vec<Hash> = batch.iter().map(|r| leaf_hash(r)).collect();
        self.store.append(batch)?;
        let mut tree = self.tree.write().map_err(poisoned)?;
        for h in hashes {
            tree.push(h);
        }
        Ok(())
    }

    /// Signs a checkpoint of the current tree (called by the commit leader right
    /// after its batch, so the tree ends with that batch).
    fn sign_receipt(&self) -> Result<SignedCheckpoint, AppendError> {
        let signing = self.signing.lock().map_err(poisoned)?;
        let (size, root) = {
            let tree = self.tree.read().map_err(poisoned)?;
            (tree.len(), tree.root())
        };
        SignedCheckpoint::sign(
            Checkpoint {
                origin: self.options.origin.clone(),
                size,
                root,
            },
            &signing.signer,
        )
        .map_err(AppendError::Receipt)
    }

    fn signing(&self) -> Result<MutexGuard<'_, Signing>, CheckpointIssueError> {
        self.signing
            .lock()
            .map_err(|_| CheckpointIssueError::Poisoned)
    }

    fn issue(
        &self,
        signing: &mut Signing,
        now_ms: Option<i64>,
    ) -> Result<SignedCheckpoint, CheckpointIssueError> {
        let (size, root) = {
            let tree = self
                .tree
                .read()
                .map_err(|_| CheckpointIssueError::Poisoned)?;
            (tree.len(), tree.root())
        };
        let cp = SignedCheckpoint::sign(
            Checkpoint {
                origin: self.options.origin.clone(),
                size,
                root,
            },
            &signing.signer,
        )?;
        self.store.append_checkpoint(&cp.note)?;
        signing.latest = Some(cp.clone());
        signing.last_ms = now_ms;
        Ok(cp)
    }

    /// Signs and stores a checkpoint when the tree grew since the last one and
    /// at least the checkpoint interval passed (or no checkpoint exists yet).
    /// Call it often (e.g. every 50 ms, see [`Checkpointer`]); every event is then
    /// inside a signed checkpoint within interval + tick + signing time.
    ///
    /// # Errors
    /// [`CheckpointIssueError`].
    pub fn checkpoint_if_due(
        &self,
        now_ms: i64,
    ) -> Result<Option<SignedCheckpoint>, CheckpointIssueError> {
        let mut signing = self.signing()?;
        let size = self.len();
        if let Some(latest) = &signing.latest
            && latest.checkpoint.size >= size
        {
            return Ok(None);
        }
        if let Some(last) = signing.last_ms {
            let elapsed = now_ms.saturating_sub(last);
            if elapsed < i64::try_from(self.options.checkpoint_interval_ms).unwrap_or(i64::MAX) {
                return Ok(None);
            }
        }
        self.issue(&mut signing, Some(now_ms)).map(Some)
    }

    /// Signs and stores a checkpoint of the current tree now (e.g. on shutdown).
    ///
    /// # Errors
    /// [`CheckpointIssueError`].
    pub fn checkpoint_now(&self, now_ms: i64) -> Result<SignedCheckpoint, CheckpointIssueError> {
        let mut signing = self.signing()?;
        if let Some(latest) = &signing.latest
            && latest.checkpoint.size == self.len()
        {
            return Ok(latest.clone());
        }
        self.issue(&mut signing, Some(now_ms))
    }

    /// The latest signed checkpoint.
    #[must_use]
    pub fn latest_checkpoint(&self) -> Option<SignedCheckpoint> {
        self.signing.lock().ok().and_then(|s| s.latest.clone())
    }

    /// Rotates the signing key: seals the current tree with a checkpoint by the
    /// old key, stores a rotation statement co-signed by both keys, then signs
    /// with `new` from here on. Old checkpoints stay verifiable through the chain.
    ///
    /// # Errors
    /// [`CheckpointIssueError`].
    pub fn rotate_key(&self, new: NoteSigner, now_ms: i64) -> Result<(), CheckpointIssueError> {
        let mut signing = self.signing()?;
        let cp = self.issue(&mut signing, Some(now_ms))?;
        let statement = KeyChain::rotation_statement(
            &self.options.origin,
            cp.checkpoint.size,
            &signing.signer,
            &new,
        )?;
        let mut chain = signing.chain.clone();
        chain.push_rotation(&statement, &self.options.origin)?;
        self.store.append_key_record(&statement)?;
        signing.chain = chain;
        signing.signer = new;
        Ok(())
    }

    /// The key chain (every key that signed this log).
    #[must_use]
    pub fn key_chain(&self) -> Option<KeyChain> {
        self.signing.lock().ok().map(|s| s.chain.clone())
    }

    /// Inclusion proof of `index` in the tree of `size` leaves.
    ///
    /// # Errors
    /// [`TreeError`].
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree
            .read()
            .map_err(|_| TreeError::MissingNode)?
            .inclusion_proof(index, size)
    }

    /// Consistency proof between sizes `old` and `new`.
    ///
    /// # Errors
    /// [`TreeError`].
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<Hash>, TreeError> {
        self.tree
            .read()
            .map_err(|_| TreeError::MissingNode)?
            .consistency_proof(old, new)
    }

    /// Root of the tree of `size` leaves.
    ///
    /// # Errors
    /// [`TreeError`].
    pub fn root_at(&self, size: u64) -> Result<Hash, TreeError> {
        self.tree
            .read()
            .map_err(|_| TreeError::MissingNode)?
            .root_at(size)
    }
}

/// A background thread calling [`AuditLog::checkpoint_if_due`] every `tick`.
/// Stops (and signs a final checkpoint) when dropped or [`Checkpointer::stop`]ped.
#[derive(Debug)]
pub struct Checkpointer {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread. Errors while checkpointing are retried on the next tick;
    /// `on_error` is told about each (without secret material).
    pub fn spawn<S: LogStore + 'static>(
        log: Arc<AuditLog<S>>,
        clock: Arc<dyn Clock>,
        tick: Duration,
        on_error: fn(&CheckpointIssueError),
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::Acquire) {
                if let Err(e) = log.checkpoint_if_due(clock.now_ms()) {
                    on_error(&e);
                }
                std::thread::sleep(tick);
            }
            if let Err(e) = log.checkpoint_now(clock.now_ms()) {
                on_error(&e);
            }
        });
        Self {
            stop,
            handle: Some(handle),
        }
    }

    /// Stops the thread after a final checkpoint.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _joined = h.join();
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shutdown();
    }
}
