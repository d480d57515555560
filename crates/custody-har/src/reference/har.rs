//! Streaming HAR 1.2 sanitizer.
//!
//! The document is read with a streaming tokenizer: the root object, `log`, and the
//! `log.entries` and `log.pages` arrays are walked structurally, and each entry (or
//! page, or other `log` member) is materialised alone under the entry limits of
//! [`SanitizeOptions`], sanitized by position (`entry.rs`), rescanned, written out and
//! dropped. Member order and structure are kept; output is compact JSON with one
//! entry per line.
//!
//! Main items: [`sanitize`] and [`inspect`].

use std::io::{Read, Write};

use custody_scan::{Finding, Redactor, Scanner};

use crate::SanitizeOptions;
use crate::error::{NotHarError, SanitizeError};
use crate::reference::json::{Stream, run_inspect, run_sanitize};
use crate::report::{LocationKind, Report};

type Result<T> = std::result::Result<T, SanitizeError>;

/// Sanitizes a HAR document from `input` to `output`.
///
/// Returns the report when the output is clean. On any error, including
/// [`SanitizeError::Refused`] (credentials remain) and [`SanitizeError::NotHar`],
/// whatever was written to `output` must be discarded.
pub(crate) fn sanitize<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    opts: &SanitizeOptions,
) -> Result<Report> {
    run_sanitize("har", input, output, scanner, redactor, opts, drive_har)
}

/// Reports every credential in a HAR document to `sink` (with JSON pointers such as
/// `/log/entries/3/request/headers/1/value`), changing nothing. A parse, limit or
/// structure error is an error, never "no findings".
pub(crate) fn inspect<R: Read>(
    input: R,
    scanner: &Scanner,
    opts: &SanitizeOptions,
    sink: &mut dyn FnMut(Finding),
) -> Result<()> {
    run_inspect(input, scanner, opts, sink, drive_har)
}

fn not_har<R: Read>(s: &Stream<'_, '_, R>, reason: &'static str) -> SanitizeError {
    SanitizeError::NotHar(NotHarError {
        reason,
        at: s.reader.position(),
    })
}

fn drive_har<R: Read>(s: &mut Stream<'_, '_, R>) -> Result<()> {
    s.reader.skip_bom()?;
    if s.reader.peek_value_start()? != b'{' {
        return Err(not_har(s, "the document is not a JSON object"));
    }
    s.reader.begin_object()?;
    s.write(b"{")?;
    let mut first = true;
    let mut saw_log = false;
    let mut n = 0usize;
    while let Some(key) = s.reader.next_member(&mut first)? {
        if n > 0 {
            s.write(b",")?;
        }
        n += 1;
        s.write_key(&key)?;
        let marks = s.enter(&key);
        if key == "log" && !saw_log {
            saw_log = true;
            drive_log(s)?;
        } else {
            s.unit(1, &mut |e, v| {
                e.walk(v, Some(&key), LocationKind::UnknownField);
            })?;
        }
        s.leave(marks);
    }
    s.write(b"}\n")?;
    s.reader.finish()?;
    if !saw_log {
        return Err(not_har(s, "the root object has no \"log\" member"));
    }
    Ok(())
}

fn drive_log<R: Read>(s: &mut Stream<'_, '_, R>) -> Result<()> {
    if s.reader.peek_value_start()? != b'{' {
        return Err(not_har(s, "\"log\" is not an object"));
    }
    s.reader.begin_object()?;
    s.write(b"{")?;
    let mut first = true;
    let mut saw_entries = false;
    let mut n = 0usize;
    while let Some(key) = s.reader.next_member(&mut first)? {
        if n > 0 {
            s.write(b",")?;
        }
        n += 1;
        s.write_key(&key)?;
        let marks = s.enter(&key);
        match key.as_str() {
            "entries" if !saw_entries => {
                saw_entries = true;
                if s.reader.peek_value_start()? != b'[' {
                    return Err(not_har(s, "\"log.entries\" is not an array"));
                }
                har_array(s, true, &mut |e, v| crate::reference::entry::entry(e, v))?;
            }
            "pages" if s.reader.peek_value_start()? == b'[' => {
                har_array(s, false, &mut |e, v| {
                    e.walk(v, None, LocationKind::Page);
                })?;
            }
            _ => {
                let loc = if key.starts_with('_') {
                    LocationKind::UnknownField
                } else {
                    LocationKind::HarField
                };
                s.unit(2, &mut |e, v| {
                    e.walk(v, Some(&key), loc);
                })?;
            }
        }
        s.leave(marks);
    }
    s.write(b"}")?;
    if !saw_entries {
        return Err(not_har(s, "\"log\" has no \"entries\" array"));
    }
    Ok(())
}

/// Streams `log.entries` or `log.pages`, one element per unit (nesting depth 3).
fn har_array<R: Read>(
    s: &mut Stream<'_, '_, R>,
    count: bool,
    f: &mut dyn FnMut(
        &mut crate::reference::engine::Engine<'_>,
        &mut crate::reference::value::Value,
    ),
) -> Result<()> {
    s.reader.begin_array()?;
    s.write(b"[")?;
    let mut first = true;
    let mut index = 0usize;
    while s.reader.next_element(&mut first)? {
        s.write(if index > 0 { b",\n" } else { b"\n" })?;
        let marks = s.enter_index(index);
        s.unit(3, f)?;
        s.units += u64::from(count);
        s.leave(marks);
        index += 1;
    }
    s.write(b"\n]")
}
