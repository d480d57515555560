//! [`FileRevocationStore`]: the Token Authority's revocation log persisted as JSON
//! lines (`revocations.jsonl`), each entry fsynced before it is acknowledged, so a
//! restart never forgets a revocation. On open the file must hold versions 1..n with
//! no gap; a torn last line (crash mid-write) is dropped, anything else is refused.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use custody_token::revocation::{RevocationEntry, StoreError, SubjectKind};
use custody_token::{RevocationStore, Timestamp};

/// Errors opening the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationLogError {
    /// The file could not be read or opened.
    #[error("revocation log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A complete line is not the next entry.
    #[error("revocation log {path} is corrupt at line {line}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
    },
}

/// The revocation log in one append-only file.
#[derive(Debug)]
pub struct FileRevocationStore {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    entries: Vec<RevocationEntry>,
}

impl FileRevocationStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, RevocationLogError> {
        let io = |source| RevocationLogError::Io {
            path: path.to_owned(),
            source,
        };
        let mut entries = Vec::new();
        let mut valid_len = 0u64;
        if path.exists() {
            let reader = BufReader::new(File::open(path).map_err(io)?);
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                let parsed = serde_json::from_slice::<RevocationEntry>(&line).ok();
                match parsed {
                    Some(entry) if entry.version == index as u64 + 1 => {
                        valid_len += line.len() as u64 + 1;
                        entries.push(entry);
                    }
                    _ => {
                        // Only a torn final line (no newline written) is repairable.
                        let file_len = std::fs::metadata(path).map_err(io)?.len();
                        if valid_len + line.len() as u64 == file_len {
                            break;
                        }
                        return Err(RevocationLogError::Corrupt {
                            path: path.to_owned(),
                            line: index + 1,
                        });
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.set_len(valid_len).map_err(io)?;
        Ok(Self {
            inner: Mutex::new(Inner { file, entries }),
        })
    }
}

impl RevocationStore for FileRevocationStore {
    fn append(
        &self,
        kind: SubjectKind,
        subject: &str,
        cutoff: u64,
        issued_at: Timestamp,
    ) -> Result<RevocationEntry, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        let entry = RevocationEntry {
            version: inner.entries.len() as u64 + 1,
            kind,
            subject: subject.to_owned(),
            cutoff,
            issued_at_ms: issued_at.unix_millis(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|_| StoreError::Unavailable)?;
        line.push(b'\n');
        inner
            .file
            .write_all(&line)
            .and_then(|()| inner.file.sync_data())
            .map_err(|_| StoreError::Unavailable)?;
        inner.entries.push(entry.clone());
        Ok(entry)
    }

    fn entries_after(&self, version: u64) -> Result<Vec<RevocationEntry>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        let skip = usize::try_from(version).unwrap_or(usize::MAX);
        Ok(inner.entries.iter().skip(skip).cloned().collect())
    }

    fn head(&self) -> Result<u64, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(inner.entries.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocations.jsonl");
        let store = FileRevocationStore::open(&path).unwrap();
        let now = Timestamp::from_unix_secs(1_800_000_000);
        store.append(SubjectKind::Session, "s1", 10, now).unwrap();
        store.append(SubjectKind::Tenant, "t1", 11, now).unwrap();
        drop(store);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"version\":3,\"ki").unwrap();
        drop(file);
        let store = FileRevocationStore::open(&path).unwrap();
        assert_eq!(store.head().unwrap(), 2);
        let after = store.entries_after(1).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after.first().unwrap().subject, "t1");
        store
            .append(SubjectKind::Class, "support_agent", 12, now)
            .unwrap();
        drop(store);
        assert_eq!(FileRevocationStore::open(&path).unwrap().head().unwrap(), 3);
    }

    #[test]
    fn a_gap_in_the_middle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocations.jsonl");
        let store = FileRevocationStore::open(&path).unwrap();
        let now = Timestamp::from_unix_secs(1);
        for subject in ["a", "b", "c"] {
            store.append(SubjectKind::Session, subject, 1, now).unwrap();
        }
        drop(store);
        let text = std::fs::read_to_string(&path).unwrap();
        let without_second: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(&path, without_second.join("\n") + "\n").unwrap();
        assert!(matches!(
            FileRevocationStore::open(&path),
            Err(RevocationLogError::Corrupt { line: 2, .. })
        ));
    }
}
