//! Durable storage of log records, checkpoints and key records behind the
//! [`LogStore`] trait, with the embedded [`SegmentStore`] (segment files, one
//! `write` + `fdatasync` per batch) and an in-memory [`MemoryStore`] for tests.
//!
//! Record frame (little-endian): `len: u32 | index: u64 | crc32c(len|index|payload): u32 | payload`.
//! A PostgreSQL backend implements the same trait with one transaction per batch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek as _, SeekFrom};
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Frame header length in bytes.
pub const FRAME_HEADER: usize = 16;
/// Largest record payload accepted.
pub const MAX_RECORD: usize = 1 << 20;
/// Default size at which a new segment file starts.
pub const DEFAULT_SEGMENT_BYTES: u64 = 256 << 20;

const CHECKPOINTS_FILE: &str = "checkpoints.log";
const KEYS_FILE: &str = "keys.log";
const LOCK_FILE: &str = "LOCK";
const SEGMENT_EXT: &str = "seg";

/// What is wrong with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFault {
    /// The checksum does not match.
    Checksum,
    /// The frame carries another index than its position.
    IndexMismatch,
    /// The declared length exceeds [`MAX_RECORD`].
    Oversize,
}

impl std::fmt::Display for FrameFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Checksum => "checksum mismatch",
            Self::IndexMismatch => "index out of sequence",
            Self::Oversize => "length out of range",
        })
    }
}

/// Errors of a [`LogStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// An I/O operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A frame is damaged (not a torn tail).
    #[error("{file}: record {index}: {fault}")]
    Corrupt {
        /// File name.
        file: String,
        /// Index (position) of the first bad record.
        index: u64,
        /// The fault.
        fault: FrameFault,
    },
    /// Another writer holds the log.
    #[error("log directory is locked by another writer")]
    Locked,
    /// A record is larger than [`MAX_RECORD`].
    #[error("record of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// A previous write failed; the store refuses further writes until reopened.
    #[error("store is poisoned by an earlier write failure; reopen it")]
    Poisoned,
    /// The store was opened read-only.
    #[error("store is read-only")]
    ReadOnly,
    /// Repairing a torn tail would drop records that a stored checkpoint covers:
    /// this is damage, not a crash, and is left for an operator.
    #[error("{file}: refusing to truncate below {covered} checkpointed records")]
    TruncationRefused {
        /// File name.
        file: String,
        /// Records covered by the latest stored checkpoint.
        covered: u64,
    },
    /// An index is out of range.
    #[error("record {0} does not exist")]
    NoSuchRecord(u64),
    /// A stored note is not UTF-8.
    #[error("{0}: record is not UTF-8")]
    NotUtf8(&'static str),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Durable, append-only storage of the log. Every method that writes returns
/// only after the data is durable (fsync or commit).
pub trait LogStore: Send + Sync {
    /// Number of records.
    fn len(&self) -> u64;
    /// True when there are no records.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `records` at indices `len()..`; durable when it returns `Ok`.
    ///
    /// # Errors
    /// On I/O failure; the store is then poisoned.
    fn append(&self, records: &[Vec<u8>]) -> Result<(), StoreError>;
    /// Visits records `start..end` in order; `visit` returns `false` to stop.
    ///
    /// # Errors
    /// On I/O failure or a damaged record.
    fn scan(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Appends a signed checkpoint note durably.
    ///
    /// # Errors
    /// On I/O failure.
    fn append_checkpoint(&self, note: &str) -> Result<(), StoreError>;
    /// Every stored checkpoint note, oldest first.
    ///
    /// # Errors
    /// On I/O failure.
    fn checkpoints(&self) -> Result<Vec<String>, StoreError>;
    /// Appends a key record (genesis key or rotation statement) durably.
    ///
    /// # Errors
    /// On I/O failure.
    fn append_key_record(&self, record: &str) -> Result<(), StoreError>;
    /// Every key record, oldest first.
    ///
    /// # Errors
    /// On I/O failure.
    fn key_records(&self) -> Result<Vec<String>, StoreError>;
}

/// Appends one frame to `out`.
pub fn encode_frame(index: u64, payload: &[u8], out: &mut Vec<u8>) {
    // INVARIANT: payload.len() <= MAX_RECORD, checked by callers.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let mut header = [0u8; 12];
    header[..4].copy_from_slice(&len.to_le_bytes());
    header[4..].copy_from_slice(&index.to_le_bytes());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&header), payload);
    out.extend_from_slice(&header);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
}

/// How a frame file ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// It ends after a complete frame.
    Clean,
    /// An incomplete frame (or zero fill) follows the last complete frame: a torn write.
    Torn {
        /// Bytes after the last complete frame.
        bytes: u64,
    },
    /// A complete frame is damaged.
    Corrupt {
        /// Index of the damaged frame.
        index: u64,
        /// The fault.
        fault: FrameFault,
    },
}

/// Result of scanning one frame file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    /// Byte offset of each complete, valid frame.
    pub offsets: Vec<u64>,
    /// Bytes covered by valid frames.
    pub valid_bytes: u64,
    /// How the file ends.
    pub tail: Tail,
}

/// Scans frames from `reader` (a file of `file_len` bytes) whose first index is
/// `first_index`, calling `visit(index, payload)` for each valid frame.
///
/// # Errors
/// On I/O failure.
pub fn scan_frames(
    reader: impl Read,
    file_len: u64,
    first_index: u64,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> io::Result<Scan> {
    let mut reader = BufReader::with_capacity(1 << 20, reader);
    let mut offsets = Vec::new();
    let mut pos = 0u64;
    let mut payload = Vec::new();
    let mut index = first_index;
    let torn = |pos: u64| Tail::Torn {
        bytes: file_len.saturating_sub(pos),
    };
    let tail = loop {
        if pos == file_len {
            break Tail::Clean;
        }
        let mut header = [0u8; FRAME_HEADER];
        if let Err(e) = reader.read_exact(&mut header) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                break torn(pos);
            }
            return Err(e);
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let mut idx = [0u8; 8];
        idx.copy_from_slice(&header[4..12]);
        let frame_index = u64::from_le_bytes(idx);
        let crc = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        if header.iter().all(|b| *b == 0) {
            // Zero fill after a crash is a torn tail only if it runs to the end
            // of the file; zeros followed by data are damage.
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest)?;
            if rest.iter().all(|b| *b == 0) {
                break torn(pos);
            }
            break Tail::Corrupt {
                index,
                fault: FrameFault::Checksum,
            };
        }
        if len > MAX_RECORD {
            break Tail::Corrupt {
                index,
                fault: FrameFault::Oversize,
            };
        }
        payload.resize(len, 0);
        if let Err(e) = reader.read_exact(&mut payload) {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                break torn(pos);
            }
            return Err(e);
        }
        let want = crc32c::crc32c_append(crc32c::crc32c(&header[..12]), &payload);
        if want != crc {
            break Tail::Corrupt {
                index,
                fault: FrameFault::Checksum,
            };
        }
        if frame_index != index {
            break Tail::Corrupt {
                index,
                fault: FrameFault::IndexMismatch,
            };
        }
        visit(index, &payload);
        offsets.push(pos);
        pos += (FRAME_HEADER + len) as u64;
        index += 1;
    };
    Ok(Scan {
        offsets,
        valid_bytes: pos,
        tail,
    })
}

/// Options of a [`SegmentStore`].
#[derive(Debug, Clone, Copy)]
pub struct SegmentOptions {
    /// Start a new segment when the active one would exceed this size.
    pub max_segment_bytes: u64,
}

impl Default for SegmentOptions {
    fn default() -> Self {
        Self {
            max_segment_bytes: DEFAULT_SEGMENT_BYTES,
        }
    }
}

/// What opening a store repaired or found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Torn-tail bytes removed (writer) or present (read-only), per file.
    pub torn: Vec<(String, u64)>,
}

#[derive(Debug)]
struct Segment {
    first: u64,
    path: PathBuf,
    file: File,
    offsets: Vec<u64>,
    bytes: u64,
}

#[derive(Debug)]
struct NoteFile {
    path: PathBuf,
    file: Option<File>,
    notes: Vec<String>,
    bytes: u64,
}

#[derive(Debug)]
struct Inner {
    segments: Vec<Segment>,
    len: u64,
    checkpoints: NoteFile,
    keys: NoteFile,
    poisoned: bool,
}

/// The embedded store: a directory of segment files named by their first
/// index, plus `checkpoints.log` and `keys.log`, each made of frames.
#[derive(Debug)]
pub struct SegmentStore {
    dir: PathBuf,
    options: SegmentOptions,
    read_only: bool,
    inner: Mutex<Inner>,
    recovery: Recovery,
    _lock: Option<File>,
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("fsync directory", dir))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Scans one frame file; truncates a torn tail when `repair` is set, unless
/// fewer than `keep` frames would remain.
fn open_frames(
    path: &Path,
    first_index: u64,
    repair: bool,
    keep: u64,
    recovery: &mut Recovery,
    visit: &mut dyn FnMut(u64, &[u8]),
) -> Result<(File, Scan), StoreError> {
    let file = if repair {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
    } else {
        File::open(path)
    }
    .map_err(io_err("open", path))?;
    let len = file.metadata().map_err(io_err("stat", path))?.len();
    let scan = scan_frames(&file, len, first_index, visit).map_err(io_err("read", path))?;
    match scan.tail {
        Tail::Clean => {}
        Tail::Torn { bytes } => {
            recovery.torn.push((file_name(path), bytes));
            if repair && first_index + (scan.offsets.len() as u64) < keep {
                return Err(StoreError::TruncationRefused {
                    file: file_name(path),
                    covered: keep,
                });
            }
            if repair {
                file.set_len(scan.valid_bytes)
                    .and_then(|()| file.sync_all())
                    .map_err(io_err("truncate torn tail of", path))?;
            }
        }
        Tail::Corrupt { index, fault } => {
            return Err(StoreError::Corrupt {
                file: file_name(path),
                index,
                fault,
            });
        }
    }
    Ok((file, scan))
}

fn open_notes(
    path: &Path,
    writable: bool,
    recovery: &mut Recovery,
    what: &'static str,
) -> Result<NoteFile, StoreError> {
    if !writable && !path.exists() {
        return Ok(NoteFile {
            path: path.to_path_buf(),
            file: None,
            notes: Vec::new(),
            bytes: 0,
        });
    }
    let mut notes = Vec::new();
    let mut bad = false;
    let (file, scan) =
        open_frames(
            path,
            0,
            writable,
            0,
            recovery,
            &mut |_, payload| match std::str::from_utf8(payload) {
                Ok(s) => notes.push(s.to_owned()),
                Err(_) => bad = true,
            },
        )?;
    if bad {
        return Err(StoreError::NotUtf8(what));
    }
    Ok(NoteFile {
        path: path.to_path_buf(),
        file: writable.then_some(file),
        notes,
        bytes: scan.valid_bytes,
    })
}

/// The tree size in a stored checkpoint note, unverified (used only to refuse
/// a repair that would drop checkpointed records).
fn checkpoint_size(note: &str) -> Option<u64> {
    note.split('\n').nth(1)?.parse().ok()
}

impl SegmentStore {
    /// Opens (creating if needed) a log directory for writing: takes the
    /// directory lock, scans every frame, truncates a torn tail of the last
    /// segment and of the note files. A damaged frame anywhere else is an error.
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure, a damaged frame or a held lock.
    pub fn open(dir: &Path, options: SegmentOptions) -> Result<Self, StoreError> {
        fs::create_dir_all(dir).map_err(io_err("create", dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        lock.try_lock().map_err(|_| StoreError::Locked)?;
        let store = Self::open_inner(dir, options, false, &mut |_, _| {})?;
        Ok(Self {
            _lock: Some(lock),
            ..store
        })
    }

    /// Opens a log directory read-only (for verification): no lock, no repair.
    /// A torn tail is reported in [`SegmentStore::recovery`].
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure or a damaged frame.
    pub fn open_read_only(dir: &Path) -> Result<Self, StoreError> {
        Self::open_inner(dir, SegmentOptions::default(), true, &mut |_, _| {})
    }

    /// Like [`SegmentStore::open_read_only`], and hands every valid record to
    /// `visit` during the opening scan (one pass over the data for verification).
    ///
    /// # Errors
    /// [`StoreError`] on I/O failure or a damaged frame.
    pub fn open_read_only_with(
        dir: &Path,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<Self, StoreError> {
        Self::open_inner(dir, SegmentOptions::default(), true, visit)
    }

    fn open_inner(
        dir: &Path,
        options: SegmentOptions,
        read_only: bool,
        visit: &mut dyn FnMut(u64, &[u8]),
    ) -> Result<Self, StoreError> {
        let mut recovery = Recovery::default();
        let checkpoints = open_notes(
            &dir.join(CHECKPOINTS_FILE),
            !read_only,
            &mut recovery,
            "checkpoints",
        )?;
        let keys = open_notes(&dir.join(KEYS_FILE), !read_only, &mut recovery, "keys")?;
        let covered = checkpoints
            .notes
            .last()
            .and_then(|n| checkpoint_size(n))
            .unwrap_or(0);
        let mut names: Vec<(u64, PathBuf)> = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err("list", dir))? {
            let path = entry.map_err(io_err("list", dir))?.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
                continue;
            }
            let first = path
                .file_stem()
                .and_then(|s| s.to_str())
                .and_then(|s| s.parse::<u64>().ok());
            if let Some(first) = first {
                names.push((first, path));
            }
        }
        names.sort();
        let mut segments = Vec::with_capacity(names.len());
        let mut len = 0u64;
        let count = names.len();
        for (i, (first, path)) in names.into_iter().enumerate() {
            let last = i + 1 == count;
            if first != len {
                return Err(StoreError::Corrupt {
                    file: file_name(&path),
                    index: len,
                    fault: FrameFault::IndexMismatch,
                });
            }
            let (file, scan) = open_frames(
                &path,
                first,
                last && !read_only,
                covered,
                &mut recovery,
                visit,
            )?;
            if !last && scan.tail != Tail::Clean {
                return Err(StoreError::Corrupt {
                    file: file_name(&path),
                    index: first + scan.offsets.len() as u64,
                    fault: FrameFault::Checksum,
                });
            }
            len = first + scan.offsets.len() as u64;
            segments.push(Segment {
                first,
                path,
                file,
                offsets: scan.offsets,
                bytes: scan.valid_bytes,
            });
        }
        if !read_only {
            sync_dir(dir)?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            options,
            read_only,
            inner: Mutex::new(Inner {
                segments,
                len,
                checkpoints,
                keys,
                poisoned: false,
            }),
            recovery,
            _lock: None,
        })
    }

    /// What opening found (torn tails truncated or, read-only, present).
    #[must_use]
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner.lock().map_err(|_| StoreError::Poisoned)
    }

    fn new_segment(&self, inner: &mut Inner) -> Result<(), StoreError> {
        let path = self.dir.join(format!("{:020}.{SEGMENT_EXT}", inner.len));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err("create", &path))?;
        sync_dir(&self.dir)?;
        inner.segments.push(Segment {
            first: inner.len,
            path,
            file,
            offsets: Vec::new(),
            bytes: 0,
        });
        Ok(())
    }

    fn append_inner(&self, inner: &mut Inner, records: &[Vec<u8>]) -> Result<(), StoreError> {
        let total: u64 = records
            .iter()
            .map(|r| (FRAME_HEADER + r.len()) as u64)
            .sum();
        let need_new = match inner.segments.last() {
            None => true,
            Some(s) => s.bytes > 0 && s.bytes + total > self.options.max_segment_bytes,
        };
        if need_new {
            self.new_segment(inner)?;
        }
        let first = inner.len;
        let Some(seg) = inner.segments.last_mut() else {
            return Err(StoreError::Poisoned);
        };
        let mut buf = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        let mut offsets = Vec::with_capacity(records.len());
        for (i, record) in records.iter().enumerate() {
            offsets.push(seg.bytes + buf.len() as u64);
            encode_frame(first + i as u64, record, &mut buf);
        }
        seg.file
            .write_all_at(&buf, seg.bytes)
            .and_then(|()| seg.file.sync_data())
            .map_err(io_err("append to", &seg.path))?;
        seg.bytes += buf.len() as u64;
        seg.offsets.extend(offsets);
        inner.len += records.len() as u64;
        Ok(())
    }

    fn append_note(
        &self,
        which: fn(&mut Inner) -> &mut NoteFile,
        note: &str,
    ) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        let mut inner = self.lock()?;
        if inner.poisoned {
            return Err(StoreError::Poisoned);
        }
        let nf = which(&mut inner);
        let mut buf = Vec::with_capacity(note.len() + FRAME_HEADER);
        encode_frame(nf.notes.len() as u64, note.as_bytes(), &mut buf);
        let Some(file) = nf.file.as_ref() else {
            return Err(StoreError::ReadOnly);
        };
        let res = file
            .write_all_at(&buf, nf.bytes)
            .and_then(|()| file.sync_data())
            .map_err(io_err("append to", &nf.path));
        match res {
            Ok(()) => {
                nf.bytes += buf.len() as u64;
                nf.notes.push(note.to_owned());
                Ok(())
            }
            Err(e) => {
                inner.poisoned = true;
                Err(e)
            }
        }
    }
}

impl LogStore for SegmentStore {
    fn len(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.len)
    }

    fn append(&self, records: &[Vec<u8>]) -> Result<(), StoreError> {
        if self.read_only {
            return Err(StoreError::ReadOnly);
        }
        if let Some(big) = records.iter().find(|r| r.len() > MAX_RECORD) {
            return Err(StoreError::TooLarge(big.len()));
        }
        let mut inner = self.lock()?;
        if inner.poisoned {
            return Err(StoreError::Poisoned);
        }
        let res = self.append_inner(&mut inner, records);
        if res.is_err() {
            inner.poisoned = true;
        }
        res
    }

    fn scan(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        // Snapshot the segment layout, then read sequentially without the lock
        // (records below `len` are immutable).
        let plan: Vec<(u64, PathBuf, u64, u64, u64)> = {
            let inner = self.lock()?;
            let end = end.min(inner.len);
            inner
                .segments
                .iter()
                .filter_map(|seg| {
                    let seg_end = seg.first + seg.offsets.len() as u64;
                    if seg_end <= start || seg.first >= end {
                        return None;
                    }
                    let from = start.max(seg.first);
                    let pos = usize::try_from(from - seg.first).ok()?;
                    let offset = *seg.offsets.get(pos)?;
                    let to = end.min(seg_end);
                    let stop_at = usize::try_from(to - seg.first)
                        .ok()
                        .and_then(|p| seg.offsets.get(p).copied())
                        .unwrap_or(seg.bytes);
                    Some((from, seg.path.clone(), offset, to, stop_at))
                })
                .collect()
        };
        for (from, path, offset, to, stop_at) in plan {
            let mut file = File::open(&path).map_err(io_err("open", &path))?;
            file.seek(SeekFrom::Start(offset))
                .map_err(io_err("seek", &path))?;
            let limit = stop_at.saturating_sub(offset);
            let mut stop = false;
            let mut count = from;
            let scan = scan_frames(file.take(limit), limit, from, &mut |index, payload| {
                if stop || index >= to {
                    stop = true;
                    return;
                }
                count = index + 1;
                if !visit(index, payload) {
                    stop = true;
                }
            })
            .map_err(io_err("read", &path))?;
            if stop {
                return Ok(());
            }
            if let Tail::Corrupt { index, fault } = scan.tail {
                return Err(StoreError::Corrupt {
                    file: file_name(&path),
                    index,
                    fault,
                });
            }
            if count < to {
                return Err(StoreError::NoSuchRecord(count));
            }
        }
        Ok(())
    }

    fn append_checkpoint(&self, note: &str) -> Result<(), StoreError> {
        self.append_note(|i| &mut i.checkpoints, note)
    }

    fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock()?.checkpoints.notes.clone())
    }

    fn append_key_record(&self, record: &str) -> Result<(), StoreError> {
        self.append_note(|i| &mut i.keys, record)
    }

    fn key_records(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.lock()?.keys.notes.clone())
    }
}

/// A volatile store for tests and benchmarks of the layers above storage.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

/// Records, checkpoints and key records of a [`MemoryStore`].
type MemoryInner = (Vec<Vec<u8>>, Vec<String>, Vec<String>);

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl LogStore for MemoryStore {
    fn len(&self) -> u64 {
        self.inner.lock().map_or(0, |i| i.0.len() as u64)
    }

    fn append(&self, records: &[Vec<u8>]) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        inner.0.extend(records.iter().cloned());
        Ok(())
    }

    fn scan(
        &self,
        start: u64,
        end: u64,
        visit: &mut dyn FnMut(u64, &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        for (i, r) in inner.0.iter().enumerate() {
            let i = i as u64;
            if i >= start && i < end && !visit(i, r) {
                break;
            }
        }
        Ok(())
    }

    fn append_checkpoint(&self, note: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        inner.1.push(note.to_owned());
        Ok(())
    }

    fn checkpoints(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .1
            .clone())
    }

    fn append_key_record(&self, record: &str) -> Result<(), StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Poisoned)?;
        inner.2.push(record.to_owned());
        Ok(())
    }

    fn key_records(&self) -> Result<Vec<String>, StoreError> {
        Ok(self
            .inner
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .2
            .clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_tail_is_truncated_and_appends_continue() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SegmentStore::open(dir.path(), SegmentOptions::default()).unwrap();
            store.append(&[b"a".to_vec(), b"bb".to_vec()]).unwrap();
        }
        let seg = dir.path().join(format!("{:020}.seg", 0));
        let mut bytes = fs::read(&seg).unwrap();
        let mut torn = Vec::new();
        encode_frame(2, b"ccc", &mut torn);
        bytes.extend_from_slice(&torn[..torn.len() - 1]);
        fs::write(&seg, &bytes).unwrap();
        let ro = SegmentStore::open_read_only(dir.path()).unwrap();
        assert_eq!(
            ro.recovery().torn,
            vec![(file_name(&seg), torn.len() as u64 - 1)]
        );
        drop(ro);
        let store = SegmentStore::open(dir.path(), SegmentOptions::default()).unwrap();
        assert_eq!(store.len(), 2);
        store.append(&[b"d".to_vec()]).unwrap();
        let mut got = Vec::new();
        store
            .scan(0, 10, &mut |_, r| {
                got.push(r.to_vec());
                true
            })
            .unwrap();
        assert_eq!(got, vec![b"a".to_vec(), b"bb".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn damaged_middle_frame_is_an_error_not_a_truncation() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SegmentStore::open(dir.path(), SegmentOptions::default()).unwrap();
            store
                .append(&[b"aaaa".to_vec(), b"bbbb".to_vec(), b"cccc".to_vec()])
                .unwrap();
        }
        let seg = dir.path().join(format!("{:020}.seg", 0));
        let mut bytes = fs::read(&seg).unwrap();
        bytes[FRAME_HEADER + 4 + FRAME_HEADER + 1] ^= 1;
        fs::write(&seg, &bytes).unwrap();
        match SegmentStore::open(dir.path(), SegmentOptions::default()) {
            Err(StoreError::Corrupt {
                index: 1,
                fault: FrameFault::Checksum,
                ..
            }) => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn zero_fill_is_a_torn_tail_only_up_to_the_end_of_the_file() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = SegmentStore::open(dir.path(), SegmentOptions::default()).unwrap();
            store.append(&[b"a".to_vec()]).unwrap();
        }
        let seg = dir.path().join(format!("{:020}.seg", 0));
        let good = fs::read(&seg).unwrap();
        let mut zeros = good.clone();
        zeros.extend_from_slice(&[0u8; 4096]);
        fs::write(&seg, &zeros).unwrap();
        assert_eq!(
            SegmentStore::open(dir.path(), SegmentOptions::default())
                .unwrap()
                .len(),
            1
        );
        assert_eq!(fs::read(&seg).unwrap(), good);
        let mut hole = good.clone();
        hole.extend_from_slice(&[0u8; 64]);
        encode_frame(1, b"b", &mut hole);
        fs::write(&seg, &hole).unwrap();
        assert!(matches!(
            SegmentStore::open(dir.path(), SegmentOptions::default()),
            Err(StoreError::Corrupt { index: 1, .. })
        ));
        assert_eq!(fs::read(&seg).unwrap(), hole, "evidence left in place");
    }

    #[test]
    fn segments_roll_over_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let opts = SegmentOptions {
            max_segment_bytes: 100,
        };
        {
            let store = SegmentStore::open(dir.path(), opts).unwrap();
            for i in 0..20u8 {
                store.append(&[vec![i; 30]]).unwrap();
            }
        }
        let store = SegmentStore::open(dir.path(), opts).unwrap();
        assert_eq!(store.len(), 20);
        let segs = fs::read_dir(dir.path())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .and_then(|e| e.to_str())
                    == Some("seg")
            })
            .count();
        assert!(segs > 5);
        let mut n = 0;
        store
            .scan(3, 17, &mut |i, r| {
                assert_eq!(r, vec![i as u8; 30].as_slice());
                n += 1;
                true
            })
            .unwrap();
        assert_eq!(n, 14);
        assert!(matches!(
            SegmentStore::open(dir.path(), opts),
            Err(StoreError::Locked)
        ));
    }
}
