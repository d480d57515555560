//! Zip archives of HAR, JSON and text artifacts, sanitized entry by entry.
//!
//! [`crate::artifact::sanitize`] reads a zip through its central directory, checks every entry name
//! (no absolute paths, no `..`, no NUL, no drive letters; names are kept as they are,
//! so a name the detector flags refuses the archive rather than being rewritten),
//! sanitizes each entry by the kind detected from its content (see
//! [`crate::artifact`]), and writes a new zip with the same entry names in the same
//! order. Nested zips recurse up to [`ArchiveLimits::max_depth`].
//!
//! Limits against bombs, each with its own [`ArchiveError`] variant, all enforced on
//! the bytes actually decompressed (header sizes are not trusted):
//! - [`ArchiveLimits::max_entries`]: entries per archive, checked from the central
//!   directory before anything is decompressed;
//! - [`ArchiveLimits::max_total_bytes`]: uncompressed bytes over the whole archive,
//!   nested archives included;
//! - [`ArchiveLimits::max_ratio`]: uncompressed / compressed bytes of one entry, once
//!   the entry is past [`ArchiveLimits::ratio_floor_bytes`];
//! - [`ArchiveLimits::max_depth`]: zip-in-zip nesting;
//! - [`ArchiveLimits::max_nested_bytes`]: a nested zip is held in memory to be read
//!   through its central directory, so it has its own size cap.
//!
//! Memory is bounded: each entry is streamed through the sanitizer of its kind; the
//! output is written with the streaming zip writer (data descriptors), so it needs no
//! seekable output. Encrypted entries and symbolic links are refused.

use std::cell::Cell;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, Write};

use zip::ZipArchive;
use zip::write::{SimpleFileOptions, StreamWriter, ZipWriter};

use crate::artifact::{self, ArtifactError, Env, Tally};

/// Default for [`ArchiveLimits::max_entries`].
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Default for [`ArchiveLimits::max_total_bytes`]: 1 GiB.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 1 << 30;
/// Default for [`ArchiveLimits::max_ratio`].
pub const DEFAULT_MAX_RATIO: u64 = 100;
/// Default for [`ArchiveLimits::ratio_floor_bytes`]: 1 MiB.
pub const DEFAULT_RATIO_FLOOR_BYTES: u64 = 1 << 20;
/// Default for [`ArchiveLimits::max_depth`].
pub const DEFAULT_MAX_DEPTH: u32 = 2;
/// Default for [`ArchiveLimits::max_nested_bytes`]: 64 MiB.
pub const DEFAULT_MAX_NESTED_BYTES: u64 = 64 << 20;

/// Limits against zip bombs and hostile archives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// Entries in one archive (directories included).
    pub max_entries: usize,
    /// Uncompressed bytes read over the whole archive, nested archives included.
    pub max_total_bytes: u64,
    /// Uncompressed / compressed ratio of one entry.
    pub max_ratio: u64,
    /// Uncompressed bytes of an entry below which the ratio is not checked.
    pub ratio_floor_bytes: u64,
    /// Archive nesting: 1 = a zip of plain files, 2 = zips inside it are opened too.
    pub max_depth: u32,
    /// Uncompressed bytes of one nested archive (held in memory while read).
    pub max_nested_bytes: u64,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_entries: DEFAULT_MAX_ENTRIES,
            max_total_bytes: DEFAULT_MAX_TOTAL_BYTES,
            max_ratio: DEFAULT_MAX_RATIO,
            ratio_floor_bytes: DEFAULT_RATIO_FLOOR_BYTES,
            max_depth: DEFAULT_MAX_DEPTH,
            max_nested_bytes: DEFAULT_MAX_NESTED_BYTES,
        }
    }
}

/// Why a name is not accepted as a zip entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// Empty name.
    Empty,
    /// Starts with `/` or `\`, or a drive letter (`C:`).
    Absolute,
    /// Has a `..` component.
    ParentDir,
    /// Contains a NUL or another control character.
    ControlCharacter,
    /// Not valid UTF-8 (or CP437) as decoded by the zip reader.
    Undecodable,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "empty name",
            Self::Absolute => "absolute path",
            Self::ParentDir => "`..` path component",
            Self::ControlCharacter => "control character in name",
            Self::Undecodable => "undecodable name",
        })
    }
}

/// Why an archive could not be sanitized. Every variant is a refusal.
///
/// Entries are named by their index (zero-based, central-directory order) and, once
/// the name checks passed, by name: names are checked and scanned before any entry is
/// read, so a name that reaches an error message is known not to hold a credential.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// More entries than [`ArchiveLimits::max_entries`].
    #[error("zip has {count} entries, more than the limit of {limit}")]
    TooManyEntries {
        /// Entries in the central directory.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More uncompressed bytes than [`ArchiveLimits::max_total_bytes`] (zip bomb?).
    #[error(
        "zip entry #{index} ({name}): total uncompressed size exceeds the limit of {limit} bytes (zip bomb?)"
    )]
    TotalSize {
        /// Entry index.
        index: usize,
        /// Entry name.
        name: String,
        /// The configured limit.
        limit: u64,
    },
    /// An entry expands more than [`ArchiveLimits::max_ratio`] (zip bomb?).
    #[error("zip entry #{index} ({name}): compression ratio exceeds {limit}:1 (zip bomb?)")]
    Ratio {
        /// Entry index.
        index: usize,
        /// Entry name.
        name: String,
        /// The configured limit.
        limit: u64,
    },
    /// Zips nested deeper than [`ArchiveLimits::max_depth`].
    #[error("{path}: archive nesting deeper than {limit} levels")]
    TooDeep {
        /// Path of the nested archive (`outer/inner.zip`, `!/` between levels).
        path: String,
        /// The configured limit.
        limit: u32,
    },
    /// A nested zip larger than [`ArchiveLimits::max_nested_bytes`].
    #[error("{path}: nested archive larger than {limit} bytes")]
    NestedTooLarge {
        /// Path of the nested archive.
        path: String,
        /// The configured limit.
        limit: u64,
    },
    /// A zip read from a non-seekable stream is held in memory, up to
    /// [`ArchiveLimits::max_nested_bytes`]; pass a file for larger archives.
    #[error("zip read from a stream is larger than {limit} bytes (pass it as a file)")]
    StreamTooLarge {
        /// The configured limit.
        limit: u64,
    },
    /// An unsafe or undecodable entry name (the name itself is not repeated).
    #[error("zip entry #{index}: unsafe entry name: {problem}")]
    UnsafeName {
        /// Entry index.
        index: usize,
        /// What is wrong with it.
        problem: NameProblem,
    },
    /// An entry that cannot be inspected (encrypted, symbolic link, unknown method).
    #[error("zip entry #{index} ({name}): cannot be inspected: {what}")]
    Uninspectable {
        /// Entry index.
        index: usize,
        /// Entry name.
        name: String,
        /// Why.
        what: &'static str,
    },
    /// The archive structure is malformed or unsupported (message of the zip reader,
    /// which describes structure, never content).
    #[error("malformed zip{}: {detail}", entry_suffix(*.index))]
    Malformed {
        /// Entry index, when the problem is inside one entry.
        index: Option<usize>,
        /// What the zip reader reported.
        detail: String,
    },
    /// Sanitizing an entry failed.
    #[error("zip entry #{index} ({name}): {source}")]
    Entry {
        /// Entry index.
        index: usize,
        /// Entry name.
        name: String,
        /// What went wrong inside the entry.
        source: Box<ArtifactError>,
    },
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl ArchiveError {
    /// The innermost archive error: follows [`ArchiveError::Entry`] through nested
    /// archives (`Entry` of `Entry` of `Ratio` gives the `Ratio`).
    pub fn innermost(&self) -> &ArchiveError {
        let mut e = self;
        while let ArchiveError::Entry { source, .. } = e {
            match source.as_ref() {
                ArtifactError::Archive(inner) => e = inner,
                _ => break,
            }
        }
        e
    }
}

fn entry_suffix(index: Option<usize>) -> String {
    index.map(|i| format!(" (entry #{i})")).unwrap_or_default()
}

fn malformed(index: Option<usize>, e: zip::result::ZipError) -> ArchiveError {
    match e {
        zip::result::ZipError::Io(io) => ArchiveError::Io(io),
        other => ArchiveError::Malformed {
            index,
            detail: other.to_string(),
        },
    }
}

/// Shared state of one archive run: limits and the running uncompressed total.
pub(crate) struct Budget {
    pub(crate) limits: ArchiveLimits,
    pub(crate) total: Cell<u64>,
}

impl Budget {
    pub(crate) fn new(limits: ArchiveLimits) -> Self {
        Self {
            limits,
            total: Cell::new(0),
        }
    }
}

/// Which limit a [`Metered`] reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tripped {
    Total,
    Ratio,
}

/// Counts the uncompressed bytes of one entry and stops at the limits.
struct Metered<'b, R> {
    inner: R,
    budget: &'b Budget,
    compressed: u64,
    read: u64,
    tripped: Option<Tripped>,
    malformed: Option<String>,
}

impl<R: Read> Read for Metered<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.tripped.is_some() {
            return Err(io::Error::other("zip limit exceeded"));
        }
        let n = self.inner.read(buf).inspect_err(|e| {
            if e.kind() == io::ErrorKind::InvalidData {
                // The zip reader's own checks (declared size, CRC): structure, not content.
                self.malformed = Some(e.to_string());
            }
        })?;
        let n64 = u64::try_from(n).unwrap_or(u64::MAX);
        self.read = self.read.saturating_add(n64);
        let total = self.budget.total.get().saturating_add(n64);
        self.budget.total.set(total);
        let limits = &self.budget.limits;
        if total > limits.max_total_bytes {
            self.tripped = Some(Tripped::Total);
        } else if self.read > limits.ratio_floor_bytes
            && self.read > self.compressed.max(1).saturating_mul(limits.max_ratio)
        {
            self.tripped = Some(Tripped::Ratio);
        }
        if self.tripped.is_some() {
            return Err(io::Error::other("zip limit exceeded"));
        }
        Ok(n)
    }
}

/// Sanitizes the zip archive `input` into a new zip written to `output`.
///
/// `env` carries the scanner, redactor and options (see [`crate::artifact`]). The
/// tally gathers counts and anything the re-scan still flags; the caller decides the
/// verdict from it.
pub(crate) fn sanitize_archive<R: Read + Seek>(
    input: R,
    output: &mut dyn Write,
    env: &Env<'_>,
    depth: u32,
    path: &str,
    tally: &mut Tally<'_>,
) -> Result<(), ArchiveError> {
    let mut zip = ZipArchive::new(input).map_err(|e| malformed(None, e))?;
    let limits = env.budget.limits;
    if zip.len() > limits.max_entries {
        return Err(ArchiveError::TooManyEntries {
            count: zip.len(),
            limit: limits.max_entries,
        });
    }
    let names = checked_names(&zip, env, path, tally)?;
    let mut writer = ZipWriter::new_stream(output);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(limits.max_total_bytes >= u64::from(u32::MAX));
    for (index, (name, shown)) in names.iter().enumerate() {
        let file = zip.by_index(index).map_err(|e| match e {
            zip::result::ZipError::UnsupportedArchive(what) => ArchiveError::Uninspectable {
                index,
                name: shown.clone(),
                what,
            },
            other => malformed(Some(index), other),
        })?;
        let entry = EntryRef {
            index,
            name,
            shown,
            path: format!("{path}{shown}"),
        };
        sanitize_one(file, &entry, &mut writer, options, env, depth, tally)?;
    }
    writer.finish().map_err(|e| malformed(None, e))?;
    Ok(())
}

/// One entry of an archive being walked.
struct EntryRef<'n> {
    index: usize,
    /// The raw name, written to the output archive (only ever for a clean verdict:
    /// a name holding a credential refuses the artifact).
    name: &'n str,
    /// The name with every credential in it replaced, for errors and locations.
    shown: &'n str,
    /// `outer.zip!/name` for nested archives.
    path: String,
}

/// Sanitizes one entry into the output archive, under the limits.
fn sanitize_one<R: Read>(
    file: zip::read::ZipFile<'_, R>,
    entry: &EntryRef<'_>,
    writer: &mut ZipWriter<StreamWriter<&mut dyn Write>>,
    options: SimpleFileOptions,
    env: &Env<'_>,
    depth: u32,
    tally: &mut Tally<'_>,
) -> Result<(), ArchiveError> {
    let (limits, index) = (env.budget.limits, entry.index);
    if file.is_dir() {
        drop(file);
        writer
            .add_directory(entry.name, options)
            .map_err(|e| malformed(Some(index), e))?;
        return Ok(());
    }
    if file.encrypted() || file.is_symlink() {
        return Err(ArchiveError::Uninspectable {
            index,
            name: entry.shown.to_owned(),
            what: if file.encrypted() {
                "encrypted entry"
            } else {
                "symbolic link"
            },
        });
    }
    writer
        .start_file(entry.name, options)
        .map_err(|e| malformed(Some(index), e))?;
    let compressed = file.compressed_size();
    // Sizes declared in the header are not trusted to admit an entry, but a bomb
    // that declares itself is refused before a byte is inflated.
    let declared = file.size();
    let total = env.budget.total.get();
    let early = if declared > limits.max_total_bytes.saturating_sub(total) {
        Some(Tripped::Total)
    } else if declared > limits.ratio_floor_bytes
        && declared > compressed.max(1).saturating_mul(limits.max_ratio)
    {
        Some(Tripped::Ratio)
    } else {
        None
    };
    let mut metered = Metered {
        inner: file,
        budget: &env.budget,
        compressed,
        read: 0,
        tripped: None,
        malformed: None,
    };
    let result = match early {
        Some(tripped) => {
            metered.tripped = Some(tripped);
            Ok(())
        }
        None => artifact::sanitize_entry(&mut metered, writer, env, depth, &entry.path, tally),
    };
    let limit_error = |tripped| match tripped {
        Tripped::Total => ArchiveError::TotalSize {
            index,
            name: entry.shown.to_owned(),
            limit: limits.max_total_bytes,
        },
        Tripped::Ratio => ArchiveError::Ratio {
            index,
            name: entry.shown.to_owned(),
            limit: limits.max_ratio,
        },
    };
    if let Some(tripped) = metered.tripped {
        return Err(limit_error(tripped));
    }
    if let Some(detail) = metered.malformed {
        return Err(ArchiveError::Malformed {
            index: Some(index),
            detail,
        });
    }
    result.map_err(|source| ArchiveError::Entry {
        index,
        name: entry.shown.to_owned(),
        source: Box::new(source),
    })?;
    tally.entries = tally.entries.saturating_add(1);
    Ok(())
}

/// Reads a nested archive (at most [`ArchiveLimits::max_nested_bytes`]) into memory
/// and sanitizes it at `depth + 1`.
pub(crate) fn sanitize_nested(
    input: &mut dyn Read,
    output: &mut dyn Write,
    env: &Env<'_>,
    depth: u32,
    path: &str,
    tally: &mut Tally<'_>,
) -> Result<(), ArtifactError> {
    let limits = env.budget.limits;
    if depth.saturating_add(1) > limits.max_depth {
        return Err(ArtifactError::Archive(ArchiveError::TooDeep {
            path: path.to_owned(),
            limit: limits.max_depth,
        }));
    }
    let mut bytes = Vec::new();
    input
        .take(limits.max_nested_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(ArtifactError::Io)?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > limits.max_nested_bytes {
        return Err(ArtifactError::Archive(ArchiveError::NestedTooLarge {
            path: path.to_owned(),
            limit: limits.max_nested_bytes,
        }));
    }
    let nested_path = format!("{path}!/");
    sanitize_archive(
        Cursor::new(bytes),
        output,
        env,
        depth.saturating_add(1),
        &nested_path,
        tally,
    )
    .map_err(ArtifactError::Archive)
}

/// Checks every entry name before anything is decompressed; records names the
/// detector flags as remaining findings (names are kept, so they cannot be cleaned).
fn checked_names<R: Read + Seek>(
    zip: &ZipArchive<R>,
    env: &Env<'_>,
    path: &str,
    tally: &mut Tally<'_>,
) -> Result<Vec<(String, String)>, ArchiveError> {
    let mut names = Vec::with_capacity(zip.len());
    for index in 0..zip.len() {
        let name = match zip.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            Some(Err(_)) | None => {
                return Err(ArchiveError::UnsafeName {
                    index,
                    problem: NameProblem::Undecodable,
                });
            }
        };
        if let Some(problem) = name_problem(&name) {
            return Err(ArchiveError::UnsafeName { index, problem });
        }
        artifact::check_name(&name, env, path, index, tally);
        let shown = shown_name(&name, env);
        names.push((name, shown));
    }
    Ok(names)
}

/// An entry name as errors and finding locations may show it: every span the line
/// heuristics flag is replaced by `[redacted:<class>]`, so a credential in a name
/// (`access_token=....log`) never reaches an error message or a report.
fn shown_name(name: &str, env: &Env<'_>) -> String {
    let mut hits = env.lines.hits_full(name);
    if hits.is_empty() {
        return mask_opaque_segments(name);
    }
    hits.sort_by_key(|h| h.abs.start);
    let mut out = String::with_capacity(name.len());
    let mut at = 0usize;
    for hit in &hits {
        if hit.abs.end <= at {
            continue;
        }
        let start = hit.abs.start.max(at);
        out.push_str(name.get(at..start).unwrap_or_default());
        out.push_str("[redacted:");
        out.push_str(hit.m.rule.class.as_str());
        out.push(']');
        at = hit.abs.end;
    }
    out.push_str(name.get(at..).unwrap_or_default());
    mask_opaque_segments(&out)
}

/// Defence in depth for [`shown_name`]: the detector can miss a credential glued to
/// other text in a file name, so any path segment longer than 24 bytes that looks
/// like an opaque secret is shown as `[redacted:opaque]`. Errors still name the
/// entry by its index.
fn mask_opaque_segments(name: &str) -> String {
    name.split('/')
        .map(|segment| {
            if segment.len() > 24
                && !custody_scan::is_marker(segment)
                && custody_scan::validate::looks_opaque_secret(segment.as_bytes())
            {
                "[redacted:opaque]"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// What is wrong with an entry name, if anything.
pub fn name_problem(name: &str) -> Option<NameProblem> {
    if name.is_empty() {
        return Some(NameProblem::Empty);
    }
    if name.chars().any(char::is_control) {
        return Some(NameProblem::ControlCharacter);
    }
    let bytes = name.as_bytes();
    let drive = bytes.get(1) == Some(&b':') && bytes.first().is_some_and(u8::is_ascii_alphabetic);
    if name.starts_with(['/', '\\']) || drive {
        return Some(NameProblem::Absolute);
    }
    if name.split(['/', '\\']).any(|c| c == "..") {
        return Some(NameProblem::ParentDir);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_problems_are_named() {
        assert_eq!(name_problem("a/b.har"), None);
        assert_eq!(name_problem("dir/"), None);
        assert_eq!(name_problem(""), Some(NameProblem::Empty));
        assert_eq!(name_problem("/etc/passwd"), Some(NameProblem::Absolute));
        assert_eq!(name_problem("\\x"), Some(NameProblem::Absolute));
        assert_eq!(name_problem("C:/x"), Some(NameProblem::Absolute));
        assert_eq!(name_problem("../x"), Some(NameProblem::ParentDir));
        assert_eq!(name_problem("a/../../x"), Some(NameProblem::ParentDir));
        assert_eq!(name_problem("a\\..\\x"), Some(NameProblem::ParentDir));
        assert_eq!(name_problem("a\0b"), Some(NameProblem::ControlCharacter));
        assert_eq!(name_problem("..a/b.."), None);
    }

    #[test]
    fn metered_trips_on_ratio_and_total() {
        let limits = ArchiveLimits {
            ratio_floor_bytes: 10,
            max_ratio: 2,
            max_total_bytes: 1000,
            ..ArchiveLimits::default()
        };
        let budget = Budget::new(limits);
        let mut m = Metered {
            inner: &[0u8; 100][..],
            budget: &budget,
            compressed: 5,
            read: 0,
            tripped: None,
            malformed: None,
        };
        let mut sink = Vec::new();
        assert!(io::copy(&mut m, &mut sink).is_err());
        assert_eq!(m.tripped, Some(Tripped::Ratio));

        let budget = Budget::new(ArchiveLimits {
            max_total_bytes: 50,
            ..ArchiveLimits::default()
        });
        let mut m = Metered {
            inner: &[0u8; 100][..],
            budget: &budget,
            compressed: 100,
            read: 0,
            tripped: None,
            malformed: None,
        };
        assert!(io::copy(&mut m, &mut sink).is_err());
        assert_eq!(m.tripped, Some(Tripped::Total));

        // Within limits: reads through.
        let budget = Budget::new(ArchiveLimits::default());
        let mut m = Metered {
            inner: &[0u8; 100][..],
            budget: &budget,
            compressed: 100,
            read: 0,
            tripped: None,
            malformed: None,
        };
        assert_eq!(io::copy(&mut m, &mut sink).unwrap(), 100);
    }
}
