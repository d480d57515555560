//! `custody scan [PATH|-]...`: detect credentials in files, directories (recursively)
//! and stdin, and report them as human text, one JSON document, or SARIF 2.1.0.
//!
//! Inputs are streamed in bounded chunks with an overlap, so memory stays bounded for
//! huge files. Findings flow to a sink (`&mut dyn FnMut(Finding)`), so another source
//! of findings (e.g. `custody-har`'s structural inspect mode, which reports JSON
//! pointers) plugs in beside [`scan_stream`] without touching the reporting.
//!
//! Exit codes: 0 nothing found, 1 findings, 2 an error (an unreadable path, a failed
//! write). An error wins over findings: a partial scan is never "clean".

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use custody_har::artifact::{self, ArtifactError, ArtifactOptions, Kind};
use custody_scan::{Finding, Location, Redactor, Scanner, preview, report};
use zeroize::Zeroize as _;

use crate::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// Bytes read per chunk.
const CHUNK: usize = 4 << 20;
/// Bytes carried from one chunk to the next, so that a credential that straddles a
/// chunk boundary is seen whole (longer than any bounded confirmation window but
/// PEM blocks, which are reported from their start either way).
const OVERLAP: usize = 64 << 10;
/// Bytes of a file's head read to detect its kind.
const HEAD: usize = 64 << 10;
/// Directory nesting limit.
const MAX_DEPTH: usize = 64;

/// Report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `path:line:col  rule-id  class  preview`, one finding per line.
    Human,
    /// One JSON document: `{"tool", "rules_version", "findings": [...], "errors": [...]}`.
    Json,
    /// SARIF 2.1.0.
    Sarif,
}

/// Arguments of `custody scan`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Files or directories to scan (directories recursively); `-` or nothing reads
    /// stdin.
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Runs `custody scan`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let scanner = Scanner::new();
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("OS random generator failed: {e}"))?;
    let redactor = Redactor::new(key);
    key.zeroize();

    let mut findings: Vec<Finding> = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.paths
    };
    for path in &paths {
        let mut sink = |f: Finding| findings.push(f);
        scan_path(path, &scanner, &redactor, &mut sink, &mut errors);
    }

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write_report(args.format, &findings, &errors, &scanner, &mut out)?;
    out.flush().context("writing the report")?;
    if args.format == Format::Human {
        for e in &errors {
            eprintln!("custody: error: {e}");
        }
    }
    Ok(exit_code(&findings, &errors))
}

/// 2 on any error, else 1 on findings, else 0.
fn exit_code(findings: &[Finding], errors: &[String]) -> u8 {
    if !errors.is_empty() {
        EXIT_ERROR
    } else if !findings.is_empty() {
        EXIT_FINDINGS
    } else {
        EXIT_CLEAN
    }
}

/// Renders findings from any source in the chosen format.
pub fn write_report(
    format: Format,
    findings: &[Finding],
    errors: &[String],
    scanner: &Scanner,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        Format::Human => report::human(findings, out),
        Format::Json => report::json(findings, scanner.rules_version(), errors, out),
        Format::Sarif => report::sarif(findings, scanner.rules(), scanner.rules_version(), out),
    }
    .context("writing the report")
}

/// Scans one command-line path: stdin, a file, or a directory tree. Errors are
/// collected (path and cause, never content) and scanning goes on.
fn scan_path(
    path: &Path,
    scanner: &Scanner,
    redactor: &Redactor,
    sink: &mut dyn FnMut(Finding),
    errors: &mut Vec<String>,
) {
    if path.as_os_str() == "-" {
        if let Err(e) = scan_stream(io::stdin().lock(), "-", scanner, redactor, sink) {
            errors.push(format!("-: reading stdin: {e}"));
        }
        return;
    }
    let mut visited = HashSet::new();
    walk(path, 0, scanner, redactor, sink, errors, &mut visited);
}

fn walk(
    path: &Path,
    depth: usize,
    scanner: &Scanner,
    redactor: &Redactor,
    sink: &mut dyn FnMut(Finding),
    errors: &mut Vec<String>,
    visited: &mut HashSet<PathBuf>,
) {
    let shown = path.display().to_string();
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(format!("{shown}: {e}"));
            return;
        }
    };
    if meta.is_dir() {
        // Symlink loops: a directory is entered once, by its canonical path.
        let canonical = match fs::canonicalize(path) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{shown}: {e}"));
                return;
            }
        };
        if !visited.insert(canonical) {
            return;
        }
        if depth >= MAX_DEPTH {
            errors.push(format!(
                "{shown}: directory nesting deeper than {MAX_DEPTH}"
            ));
            return;
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => {
                errors.push(format!("{shown}: {e}"));
                return;
            }
        };
        let mut children: Vec<PathBuf> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry.path()),
                Err(e) => errors.push(format!("{shown}: {e}")),
            }
        }
        children.sort();
        for child in children {
            walk(
                &child,
                depth.saturating_add(1),
                scanner,
                redactor,
                sink,
                errors,
                visited,
            );
        }
    } else if meta.is_file() {
        scan_file(path, &shown, scanner, redactor, sink, errors);
    }
    // Sockets, FIFOs and devices are skipped: reading them could block forever.
}

/// Scans one file: HAR, JSON and zip content (recognised by content, not by name) goes
/// through `custody-har`'s structural inspection, which judges every value by the
/// field it sits in and reports JSON pointers and zip entry paths; everything else is
/// scanned as bytes. A structured file that cannot be parsed is an error (exit 2, a
/// partial scan is never "clean"), and it is still scanned as bytes so that nothing it
/// holds goes unreported.
fn scan_file(
    path: &Path,
    shown: &str,
    scanner: &Scanner,
    redactor: &Redactor,
    sink: &mut dyn FnMut(Finding),
    errors: &mut Vec<String>,
) {
    let structured = match File::open(path).and_then(|mut f| read_head(&mut f)) {
        Ok((head, complete)) => matches!(
            artifact::detect(&head, complete),
            Ok(Kind::Har | Kind::Json | Kind::Zip)
        ),
        Err(e) => {
            errors.push(format!("{shown}: {e}"));
            return;
        }
    };
    if structured {
        let mut found = Vec::new();
        let result = File::open(path).map_err(ArtifactError::from).and_then(|f| {
            artifact::inspect_seekable(
                io::BufReader::new(f),
                scanner,
                redactor,
                &ArtifactOptions::default(),
                &mut |mut finding: Finding| {
                    finding.location.path = Some(match finding.location.path.take() {
                        // A zip entry: `archive.zip!entry/path`.
                        Some(entry) if !entry.is_empty() => format!("{shown}!{entry}"),
                        _ => shown.to_owned(),
                    });
                    found.push(finding);
                },
            )
        });
        match result {
            Ok(_) => {
                found.into_iter().for_each(&mut *sink);
                return;
            }
            Err(e) => errors.push(format!("{shown}: not scanned structurally: {e}")),
        }
    }
    let result = File::open(path).and_then(|f| scan_stream(f, shown, scanner, redactor, sink));
    if let Err(e) = result {
        errors.push(format!("{shown}: {e}"));
    }
}

/// Reads up to 64 KiB of a file's head for kind detection; returns whether the head
/// is the whole file.
fn read_head(file: &mut File) -> io::Result<(Vec<u8>, bool)> {
    let mut head = Vec::with_capacity(HEAD);
    let complete = fill(file, &mut head, HEAD)?;
    Ok((head, complete))
}

/// Scans a stream in bounded chunks (carrying an overlap so that nothing straddling
/// a boundary is missed or reported twice), sending one [`Finding`] per credential
/// to `sink` with its path, line, column and byte offset.
pub fn scan_stream(
    mut input: impl Read,
    path: &str,
    scanner: &Scanner,
    redactor: &Redactor,
    sink: &mut dyn FnMut(Finding),
) -> io::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(CHUNK.saturating_add(OVERLAP));
    // Absolute offset of buf[0], and the line number (0-based count of newlines)
    // at buf[0].
    let mut base_offset = 0u64;
    let mut base_line = 0u64;
    // Absolute end of the last reported match, to drop a match found again in the
    // overlap.
    let mut reported_to = 0u64;
    loop {
        let eof = fill(&mut input, &mut buf, CHUNK.saturating_add(OVERLAP))?;
        // Matches starting in the tail are left for the next round, which sees them
        // with their continuation.
        let limit = if eof {
            buf.len()
        } else {
            buf.len().saturating_sub(OVERLAP)
        };
        let mut line = base_line;
        let mut counted_to = 0usize;
        for m in scanner.scan(&buf) {
            let start = m.span.start;
            let absolute = base_offset.saturating_add(start as u64);
            if start >= limit || absolute < reported_to {
                continue;
            }
            let before = buf.get(counted_to..start).unwrap_or_default();
            line = line.saturating_add(memchr::memchr_iter(b'\n', before).count() as u64);
            counted_to = start;
            let line_start = buf
                .get(..start)
                .and_then(|b| memchr::memrchr(b'\n', b))
                .map_or(0, |p| p.saturating_add(1));
            // The first line of the buffer may continue a line of the previous chunk:
            // its column is then relative to the chunk (documented as a byte column).
            let column = (start.saturating_sub(line_start) as u64).saturating_add(1);
            reported_to = base_offset.saturating_add(m.span.end as u64);
            sink(Finding {
                rule_id: m.rule.id,
                class: m.rule.class,
                confidence: m.rule.confidence,
                location: Location {
                    path: Some(path.to_owned()),
                    pointer: None,
                    line: Some(line.saturating_add(1)),
                    column: Some(column),
                    byte_offset: absolute,
                },
                preview: preview(&m, &buf, redactor),
            });
        }
        if eof {
            return Ok(());
        }
        let consumed = buf.get(..limit).unwrap_or_default();
        base_line = base_line.saturating_add(memchr::memchr_iter(b'\n', consumed).count() as u64);
        base_offset = base_offset.saturating_add(limit as u64);
        buf.drain(..limit);
    }
}

/// Reads until `buf` holds `want` bytes or the input ends; returns whether it ended.
fn fill(input: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    while buf.len() < want {
        let start = buf.len();
        buf.resize(want, 0);
        let n = loop {
            match input.read(buf.get_mut(start..).unwrap_or_default()) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    buf.truncate(start);
                    return Err(e);
                }
            }
        };
        buf.truncate(start.saturating_add(n));
        if n == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings_of(input: &[u8]) -> Vec<Finding> {
        let scanner = Scanner::new();
        let redactor = Redactor::new([1; 32]);
        let mut out = Vec::new();
        scan_stream(input, "t", &scanner, &redactor, &mut |f| out.push(f)).unwrap();
        out
    }

    /// A token straddling the chunk boundary is found exactly once, with the right
    /// absolute offset and line.
    #[test]
    fn chunk_boundaries_neither_miss_nor_duplicate() {
        let token = "AKIAIOSFODNN7EXAMPLE";
        for at in [CHUNK - 10, CHUNK + OVERLAP - 10, CHUNK, 2 * CHUNK - 3] {
            let mut data = vec![b'.'; at];
            data[100] = b'\n';
            data.extend_from_slice(token.as_bytes());
            data.extend_from_slice(b" tail\n");
            let found = findings_of(&data);
            assert_eq!(found.len(), 1, "at {at}");
            assert_eq!(found[0].location.byte_offset, at as u64);
            assert_eq!(found[0].location.line, Some(2));
        }
    }

    #[test]
    fn lines_and_columns_are_one_based() {
        let found = findings_of(b"a\nb\n  key AKIAIOSFODNN7EXAMPLE\n");
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].location.line, Some(3));
        assert_eq!(found[0].location.column, Some(7));
        assert_eq!(found[0].location.byte_offset, 10);
    }

    #[test]
    fn errors_win_over_findings() {
        let f = findings_of(b"AKIAIOSFODNN7EXAMPLE");
        assert_eq!(exit_code(&f, &[]), EXIT_FINDINGS);
        assert_eq!(exit_code(&f, &["x: denied".to_owned()]), EXIT_ERROR);
        assert_eq!(exit_code(&[], &[]), EXIT_CLEAN);
    }

    fn scan_paths(paths: &[&Path]) -> (Vec<Finding>, Vec<String>) {
        let scanner = Scanner::new();
        let redactor = Redactor::new([1; 32]);
        let mut findings = Vec::new();
        let mut errors = Vec::new();
        for p in paths {
            scan_path(
                p,
                &scanner,
                &redactor,
                &mut |f| findings.push(f),
                &mut errors,
            );
        }
        (findings, errors)
    }

    /// HAR content goes through the structural path, which reports the JSON pointer of
    /// the cookie value (a byte scan, the variant below, only knows a line and column);
    /// even under a `.txt` name, because the kind is read from the content. A truncated HAR is an error
    /// (a partial scan is never clean) and is still scanned as bytes.
    #[test]
    fn har_content_is_scanned_by_structure() {
        let har = br#"{"log":{"version":"1.2","creator":{"name":"t","version":"1"},"entries":[{"startedDateTime":"2024-01-01T00:00:00Z","time":1,"request":{"method":"GET","url":"https://app.example.com/","httpVersion":"HTTP/1.1","headers":[],"cookies":[{"name":"PHPSESSID","value":"9f8e7d6c5b4a39281716ab"}],"queryString":[],"headersSize":-1,"bodySize":0},"response":{"status":200,"statusText":"OK","httpVersion":"HTTP/1.1","headers":[],"cookies":[],"content":{"size":0,"mimeType":"text/plain"},"redirectURL":"","headersSize":-1,"bodySize":0},"cache":{},"timings":{"send":0,"wait":1,"receive":0}}]}}"#;
        // The byte variant: no pointer.
        assert!(
            findings_of(har)
                .iter()
                .all(|f| f.location.pointer.is_none())
        );

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("capture.txt");
        std::fs::write(&path, har).unwrap();
        let (findings, errors) = scan_paths(&[&path]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(
            findings[0].location.pointer.as_deref(),
            Some("/log/entries/0/request/cookies/0/value")
        );
        let shown = format!("{findings:?}");
        assert!(!shown.contains("9f8e7d6c5b4a39281716ab"));

        let truncated = dir.path().join("truncated.har");
        let mut cut = har[..har.len() - 40].to_vec();
        cut.extend_from_slice(b" Authorization: Bearer 8xLOxBtZp8ZKs3Yp9nQe7wT1\n");
        std::fs::write(&truncated, &cut).unwrap();
        let (findings, errors) = scan_paths(&[&truncated]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("not scanned structurally"), "{errors:?}");
        assert!(!findings.is_empty(), "the byte fallback still reports");
    }

    /// Directories are walked recursively, a symlink loop is entered once, a missing
    /// path is an error (exit 2) and the rest is still scanned.
    #[test]
    fn directories_recursion_symlink_loops_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        fs::create_dir_all(&nested).unwrap();
        fs::write(
            nested.join("app.log"),
            "x\nCookie: PHPSESSID=el4ukv0kqbvoirg7nkp4dncpk3\n",
        )
        .unwrap();
        fs::write(dir.path().join("clean.txt"), "nothing here\n").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(dir.path(), nested.join("loop")).unwrap();
        let missing = dir.path().join("missing.har");
        let (findings, errors) = scan_paths(&[dir.path(), &missing]);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].rule_id, "session-cookie");
        assert!(
            findings[0]
                .location
                .path
                .as_deref()
                .unwrap()
                .ends_with("a/b/app.log")
        );
        assert_eq!(findings[0].location.line, Some(2));
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("missing.har"));
        assert_eq!(exit_code(&findings, &errors), EXIT_ERROR);
        // Without the bad path: findings, exit 1.
        let (findings, errors) = scan_paths(&[dir.path()]);
        assert_eq!(exit_code(&findings, &errors), EXIT_FINDINGS);
    }

    /// Reports hold markers, never the value, in every format.
    #[test]
    fn reports_never_hold_the_value() {
        let secret = "el4ukv0kqbvoirg7nkp4dncpk3";
        let found = findings_of(format!("Cookie: PHPSESSID={secret}\n").as_bytes());
        assert_eq!(found.len(), 1);
        let scanner = Scanner::new();
        for format in [Format::Human, Format::Json, Format::Sarif] {
            let mut out = Vec::new();
            write_report(format, &found, &[], &scanner, &mut out).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.contains("[redacted:session-cookie:"), "{text}");
            assert!(!text.contains(secret), "{text}");
        }
    }
}
