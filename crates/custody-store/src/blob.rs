//! [`BlobStore`]: a local directory of opaque blobs (artifacts the broker has already
//! encrypted), written by streaming into a temporary file that is fsynced and then
//! atomically published under its key, so no partial blob is ever visible.
//!
//! The API is blocking `std::io` (the sanitize pipeline is a blocking `Read`/`Write`
//! chain); async callers run it on `spawn_blocking`. Layout: `DIR/objects/<key>` and
//! `DIR/tmp/` for writes in progress; directories are created mode 0700 and files 0600
//! on Unix.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::IdError;

/// The key of a blob: 1 to 128 characters of `[a-z0-9_-]`, not starting with `-`.
///
/// The alphabet has no `/`, `\`, `.` or NUL, so a key can never name a path outside the
/// blob directory, a hidden file, or a temporary file.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    /// A fresh random key, `blb_` and 32 hex digits.
    ///
    /// # Errors
    /// [`BlobError::Random`] if the operating system's random source fails.
    pub fn generate() -> Result<Self, BlobError> {
        let body = crate::id::random_hex().map_err(|_| BlobError::Random)?;
        Ok(Self(format!("blb_{body}")))
    }

    /// Parses and checks a key.
    ///
    /// # Errors
    /// [`IdError::BlobKey`] for anything outside the alphabet or length.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let ok = !text.is_empty()
            && text.len() <= 128
            && !text.starts_with('-')
            && text
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'));
        if ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(IdError::BlobKey)
        }
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for BlobKey {
    type Err = IdError;
    fn from_str(text: &str) -> Result<Self, IdError> {
        Self::parse(text)
    }
}

impl TryFrom<String> for BlobKey {
    type Error = IdError;
    fn try_from(text: String) -> Result<Self, IdError> {
        Self::parse(&text)
    }
}

impl From<BlobKey> for String {
    fn from(key: BlobKey) -> String {
        key.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Errors of [`BlobStore`] operations. Messages name the operation, never blob bytes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// No blob under this key.
    #[error("blob not found")]
    NotFound,
    /// A blob already exists under this key; blobs are never overwritten.
    #[error("a blob already exists under this key")]
    Exists,
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Random,
    /// A file system operation failed.
    #[error("blob store I/O error during {operation}")]
    Io {
        /// What was being done, e.g. "publish blob".
        operation: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

fn io_err(operation: &'static str) -> impl FnOnce(io::Error) -> BlobError {
    move |source| BlobError::Io { operation, source }
}

/// A directory of immutable blobs.
#[derive(Debug, Clone)]
pub struct BlobStore {
    objects: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    /// Opens (creating if missing) the blob directory `dir`.
    ///
    /// # Errors
    /// [`BlobError::Io`] if the directories cannot be created.
    pub fn open(dir: &Path) -> Result<Self, BlobError> {
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        for d in [dir, &objects, &tmp] {
            create_private_dir(d).map_err(io_err("create blob directory"))?;
        }
        Ok(Self { objects, tmp })
    }

    /// Starts writing a new blob under `key`. Nothing is visible under the key until
    /// [`BlobWriter::commit`]; dropping the writer without committing discards it.
    ///
    /// # Errors
    /// [`BlobError::Exists`] if the key is taken, [`BlobError::Io`] otherwise.
    pub fn writer(&self, key: &BlobKey) -> Result<BlobWriter, BlobError> {
        let final_path = self.objects.join(key.as_str());
        if final_path.try_exists().map_err(io_err("check blob"))? {
            return Err(BlobError::Exists);
        }
        let name = crate::id::random_hex().map_err(|_| BlobError::Random)?;
        let tmp_path = self.tmp.join(format!("{name}.part"));
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options
            .open(&tmp_path)
            .map_err(io_err("create temporary blob"))?;
        Ok(BlobWriter {
            file: Some(file),
            tmp_path,
            final_path,
            objects: self.objects.clone(),
            written: 0,
        })
    }

    /// Writes a whole blob from a reader (streaming) and publishes it; returns its size.
    ///
    /// # Errors
    /// As [`BlobStore::writer`] and [`BlobWriter::commit`], or [`BlobError::Io`] if
    /// reading fails (nothing is published then).
    pub fn put(&self, key: &BlobKey, mut reader: impl Read) -> Result<u64, BlobError> {
        let mut writer = self.writer(key)?;
        io::copy(&mut reader, &mut writer).map_err(io_err("write blob"))?;
        writer.commit()
    }

    /// Opens a blob for streaming reads.
    ///
    /// # Errors
    /// [`BlobError::NotFound`] if there is none under `key`.
    pub fn open_blob(&self, key: &BlobKey) -> Result<File, BlobError> {
        File::open(self.objects.join(key.as_str())).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => BlobError::NotFound,
            _ => BlobError::Io {
                operation: "open blob",
                source: e,
            },
        })
    }

    /// Whether a blob exists under `key`.
    ///
    /// # Errors
    /// [`BlobError::Io`] if the file system cannot tell.
    pub fn exists(&self, key: &BlobKey) -> Result<bool, BlobError> {
        self.objects
            .join(key.as_str())
            .try_exists()
            .map_err(io_err("check blob"))
    }

    /// Deletes a blob (durably); returns whether it existed.
    ///
    /// # Errors
    /// [`BlobError::Io`] if it cannot be removed.
    pub fn delete(&self, key: &BlobKey) -> Result<bool, BlobError> {
        match fs::remove_file(self.objects.join(key.as_str())) {
            Ok(()) => {
                sync_dir(&self.objects).map_err(io_err("sync blob directory"))?;
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::Io {
                operation: "delete blob",
                source: e,
            }),
        }
    }
}

/// A blob being written; see [`BlobStore::writer`].
pub struct BlobWriter {
    file: Option<File>,
    tmp_path: PathBuf,
    final_path: PathBuf,
    objects: PathBuf,
    written: u64,
}

impl fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobWriter")
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("blob writer already finished"))?;
        let n = file.write(buf)?;
        self.written = self.written.saturating_add(n as u64);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.as_mut().map_or(Ok(()), Write::flush)
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Makes the blob durable and visible: fsyncs the data, links it under its key
    /// (which fails rather than replace an existing blob), removes the temporary name
    /// and fsyncs the directory. Returns the size.
    ///
    /// # Errors
    /// [`BlobError::Exists`] if another writer published the key first;
    /// [`BlobError::Io`] otherwise. On error nothing is visible under the key.
    pub fn commit(mut self) -> Result<u64, BlobError> {
        let file = self.file.take().ok_or(BlobError::Io {
            operation: "commit blob",
            source: io::Error::other("blob writer already finished"),
        })?;
        file.sync_all().map_err(io_err("sync blob"))?;
        drop(file);
        // A hard link publishes the complete file atomically and, unlike rename, never
        // replaces a blob that is already there.
        let linked = fs::hard_link(&self.tmp_path, &self.final_path);
        let _ = fs::remove_file(&self.tmp_path);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(BlobError::Exists),
            Err(e) => {
                return Err(BlobError::Io {
                    operation: "publish blob",
                    source: e,
                });
            }
        }
        sync_dir(&self.objects).map_err(io_err("sync blob directory"))?;
        Ok(self.written)
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Not committed: discard the partial data. Best effort; a leftover lives
            // only under tmp/, never under a key.
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Fsyncs a directory so a new or removed entry survives a crash.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}
