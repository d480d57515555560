//! Streaming sanitizer for arbitrary JSON documents (key heuristics + detector).
//!
//! The root object or array is streamed member by member; arrays below it are
//! streamed too (to depth [`STREAM_DEPTH`]), so a large array of records is processed
//! one record at a time. Every other value is materialised under the entry limits of
//! [`SanitizeOptions`] and sanitized by position: each string is judged by the member
//! name it sits under (`Field::JsonKey`), `{"name": .., "value": ..}` pairs by their
//! name, and strings that hold JSON are parsed and walked. Object keys are kept as is.
//!
//! Main items: [`sanitize`] and [`inspect`].

pub(crate) mod engine;
pub(crate) mod output;
pub(crate) mod parse;
pub(crate) mod value;

use std::io::{BufWriter, Read, Write};

use custody_scan::{Finding, Redactor, Scanner};

use crate::SanitizeOptions;
use crate::error::{LimitKind, SanitizeError};
use crate::json::engine::{Engine, MAX_UNIT_PASSES, Mode};
pub(crate) use crate::json::output::Digests;
use crate::json::output::HashingWriter;
use crate::json::parse::Reader;
use crate::json::value::{Src, Value, write_string};
use crate::report::{LocationKind, Report};

/// Arrays nested up to this depth are streamed element by element.
pub const STREAM_DEPTH: usize = 3;

type Result<T> = std::result::Result<T, SanitizeError>;

/// Reader, engine and output of one run, with the pointer kept in sync on both sides.
pub(crate) struct Stream<'s, 'a, R> {
    pub(crate) reader: Reader<R>,
    pub(crate) engine: &'s mut Engine<'a>,
    pub(crate) out: &'s mut dyn Write,
    pub(crate) units: u64,
    /// Serialisation buffer of one unit (reused).
    pub(crate) buf: Vec<u8>,
}

impl<R: Read> Stream<'_, '_, R> {
    /// Enters member `key` (for error positions and finding pointers).
    pub(crate) fn enter(&mut self, key: &str) -> (usize, usize) {
        (self.reader.pointer.push(key), self.engine.pointer.push(key))
    }

    /// Enters element `index`.
    pub(crate) fn enter_index(&mut self, index: usize) -> (usize, usize) {
        (
            self.reader.pointer.push_index(index),
            self.engine.pointer.push_index(index),
        )
    }

    /// Leaves what `enter` entered.
    pub(crate) fn leave(&mut self, marks: (usize, usize)) {
        self.reader.pointer.truncate(marks.0);
        self.engine.pointer.truncate(marks.1);
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.out.write_all(bytes)?)
    }

    pub(crate) fn write_key(&mut self, key: &str) -> Result<()> {
        write_string(key, self.out)?;
        Ok(self.out.write_all(b":")?)
    }

    /// Reads one value at nesting `depth`, lets `f` sanitize it, writes it (the
    /// caller counts units).
    pub(crate) fn unit(
        &mut self,
        depth: usize,
        f: &mut dyn FnMut(&mut Engine<'_>, Src<'_>, &mut Value),
    ) -> Result<()> {
        self.reader.skip_ws()?;
        self.engine.begin_unit(self.reader.offset());
        let mut value = self.reader.parse_value(depth)?;
        let src = self.reader.source()?;
        f(self.engine, src, &mut value);
        let mut walks = 1;
        while self.engine.end_unit(src, &mut value) {
            if walks == MAX_UNIT_PASSES {
                return Err(self
                    .reader
                    .limit_error(LimitKind::UnitPasses, MAX_UNIT_PASSES));
            }
            f(self.engine, src, &mut value);
            walks += 1;
        }
        self.buf.clear();
        value.write(src, &mut self.buf)?;
        self.reader.release();
        self.out.write_all(&self.buf)?;
        if self.buf.capacity() > 1 << 20 {
            // Do not keep a huge entry's buffer for the rest of the run.
            self.buf = Vec::new();
        }
        Ok(())
    }
}

/// Runs `drive` in sanitize mode and builds the report (or the refusal).
#[expect(
    clippy::too_many_arguments,
    reason = "crate-private driver shared by the HAR and JSON entry points"
)]
pub(crate) fn run_sanitize<R: Read, W: Write>(
    kind: &'static str,
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    opts: &SanitizeOptions,
    digests: Digests,
    drive: fn(&mut Stream<'_, '_, R>) -> Result<()>,
) -> Result<Report> {
    let mut engine = Engine::new(
        scanner,
        Mode::Sanitize(redactor),
        opts.limits(),
        opts.max_known_secrets,
    );
    let mut out = BufWriter::with_capacity(256 * 1024, HashingWriter::with_digest(output, digests));
    let reader = Reader::new(input, opts.limits());
    let mut stream = Stream {
        reader: match digests {
            Digests::Compute => reader,
            Digests::Skip => reader.without_digest(),
        },
        engine: &mut engine,
        out: &mut out,
        units: 0,
        buf: Vec::new(),
    };
    drive(&mut stream)?;
    let (units, bytes_in, input_sha256) = (
        stream.units,
        stream.reader.bytes_read(),
        stream.reader.digest_hex(),
    );
    out.flush()?;
    let out = out.get_ref();
    let counts = std::mem::take(&mut engine.counts);
    let report = Report {
        kind,
        rules_version: scanner.rules_version().to_owned(),
        input_sha256,
        output_sha256: out.digest_hex(),
        bytes_in,
        bytes_out: out.written(),
        entries: units,
        redactions: counts.redactions,
        by_class: counts.by_class,
        by_location: counts.by_location,
        remaining: counts.remaining,
        verdict: if counts.remaining == 0 {
            "clean"
        } else {
            "refused"
        },
    };
    if counts.remaining > 0 || !engine.refusals.is_empty() {
        return Err(SanitizeError::Refused(crate::error::RefusedError {
            findings: std::mem::take(&mut engine.refusals),
            report: Box::new(report),
        }));
    }
    Ok(report)
}

/// Runs `drive` in inspect mode.
pub(crate) fn run_inspect<R: Read>(
    input: R,
    scanner: &Scanner,
    opts: &SanitizeOptions,
    sink: &mut dyn FnMut(Finding),
    drive: fn(&mut Stream<'_, '_, R>) -> Result<()>,
) -> Result<()> {
    let mut engine = Engine::new(scanner, Mode::Inspect(sink), opts.limits(), 0);
    let mut out = std::io::sink();
    let mut stream = Stream {
        reader: Reader::new(input, opts.limits()),
        engine: &mut engine,
        out: &mut out,
        units: 0,
        buf: Vec::new(),
    };
    drive(&mut stream)
}

/// Sanitizes a JSON document from `input` to `output`.
///
/// Returns the report when the output is clean. On any error, including
/// [`SanitizeError::Refused`], whatever was written to `output` must be discarded.
pub fn sanitize<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    opts: &SanitizeOptions,
) -> Result<Report> {
    run_sanitize(
        "json",
        input,
        output,
        scanner,
        redactor,
        opts,
        Digests::Compute,
        drive_json,
    )
}

/// [`sanitize`] without the input and output digests (the report's are empty), for
/// callers that hash the same bytes themselves.
pub(crate) fn sanitize_undigested<R: Read, W: Write>(
    input: R,
    output: W,
    scanner: &Scanner,
    redactor: &Redactor,
    opts: &SanitizeOptions,
) -> Result<Report> {
    run_sanitize(
        "json",
        input,
        output,
        scanner,
        redactor,
        opts,
        Digests::Skip,
        drive_json,
    )
}

/// Reports every credential in a JSON document to `sink` (with JSON pointers),
/// changing nothing. A parse or limit error is an error, never "no findings".
pub fn inspect<R: Read>(
    input: R,
    scanner: &Scanner,
    opts: &SanitizeOptions,
    sink: &mut dyn FnMut(Finding),
) -> Result<()> {
    run_inspect(input, scanner, opts, sink, drive_json)
}

fn drive_json<R: Read>(s: &mut Stream<'_, '_, R>) -> Result<()> {
    s.reader.skip_bom()?;
    match s.reader.peek_value_start()? {
        b'{' => {
            s.reader.begin_object()?;
            s.write(b"{")?;
            let mut first = true;
            let mut n = 0usize;
            while let Some(key) = s.reader.next_member(&mut first)? {
                if n > 0 {
                    s.write(b",")?;
                }
                n += 1;
                s.write_key(&key)?;
                let marks = s.enter(&key);
                json_child(s, 1, Some(&key))?;
                s.leave(marks);
            }
            s.write(b"}")?;
        }
        b'[' => json_array(s, 1, None)?,
        _ => {
            s.units += 1;
            s.unit(0, &mut |e, src, v| {
                e.walk(src, v, None, LocationKind::JsonValue);
            })?;
        }
    }
    s.reader.finish()?;
    s.write(b"\n")
}

fn json_child<R: Read>(s: &mut Stream<'_, '_, R>, depth: usize, key: Option<&str>) -> Result<()> {
    if depth < STREAM_DEPTH && s.reader.peek_value_start()? == b'[' {
        return json_array(s, depth, key);
    }
    s.units += 1;
    s.unit(depth, &mut |e, src, v| {
        e.walk(src, v, key, LocationKind::JsonValue);
    })
}

/// Streams the array that starts at the reader; it sits at nesting `depth`.
fn json_array<R: Read>(s: &mut Stream<'_, '_, R>, depth: usize, key: Option<&str>) -> Result<()> {
    s.reader.begin_array()?;
    s.write(b"[")?;
    let mut first = true;
    let mut index = 0usize;
    while s.reader.next_element(&mut first)? {
        s.write(if index > 0 { b",\n" } else { b"\n" })?;
        let marks = s.enter_index(index);
        json_child(s, depth + 1, key)?;
        s.leave(marks);
        index += 1;
    }
    s.write(b"]")
}

#[cfg(test)]
mod tests {
    use custody_scan::Match;

    use super::*;

    const SECRET: &str = "Zq9Hk2Lm7Vp4Qx1Zt8Rw3Nc6Yb0Jf5GdEr";

    /// Drives one unit through a deliberately broken detector that reports the first
    /// byte of every value, so the rescan of the sanitized value still finds
    /// something (a marker's `[`), as a rule the marker cannot satisfy would.
    fn broken_drive<R: Read>(s: &mut Stream<'_, '_, R>) -> Result<()> {
        s.units += 1;
        s.unit(0, &mut |e, src, v| {
            if let Value::Str(text) = v {
                let new = e.redact_with(
                    src.text(text),
                    LocationKind::JsonValue,
                    &|scanner, value| {
                        let Some(rule) = scanner.rule("generic-secret") else {
                            return Vec::new();
                        };
                        if value.is_empty() {
                            Vec::new()
                        } else {
                            vec![Match {
                                rule,
                                span: 0..value.len().min(1),
                            }]
                        }
                    },
                );
                if let Some(new) = new {
                    text.set(new);
                }
            }
        })?;
        s.reader.finish()
    }

    #[test]
    fn a_credential_left_after_redaction_refuses_the_artifact() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([1; 32]);
        let input = format!("\"{SECRET}\"");
        let mut out = Vec::new();
        let result = run_sanitize(
            "json",
            input.as_bytes(),
            &mut out,
            &scanner,
            &redactor,
            &SanitizeOptions::default(),
            Digests::Compute,
            broken_drive,
        );
        let Err(SanitizeError::Refused(refused)) = result else {
            panic!("expected a refusal, got {result:?}");
        };
        assert_eq!(refused.report().verdict, "refused");
        assert_eq!(refused.report().remaining, 1);
        assert_eq!(refused.findings().len(), 1);
        assert_eq!(refused.findings()[0].location.pointer.as_deref(), Some(""));
        let shown = format!("{} {refused:?}", SanitizeError::Refused(refused.clone()));
        assert!(!shown.contains(SECRET), "refusal leaks the value: {shown}");
    }

    #[test]
    fn the_rescan_is_what_refuses() {
        // The unsafe variant: the same first-pass redaction with a detector that does
        // not fire again on the output is accepted. So the refusal above comes from
        // the rescan of the sanitized value, not from the first pass.
        let scanner = Scanner::new();
        let redactor = Redactor::new([1; 32]);
        let mut engine = Engine::new(
            &scanner,
            Mode::Sanitize(&redactor),
            SanitizeOptions::default().limits(),
            16,
        );
        let changed =
            engine.redact_with(SECRET, LocationKind::JsonValue, &|scanner, v| match scanner
                .rule("generic-secret")
            {
                Some(rule) if v == SECRET => vec![Match {
                    rule,
                    span: 0..v.len(),
                }],
                _ => Vec::new(),
            });
        let value = changed.unwrap();
        assert!(value.starts_with("[redacted:secret:"), "{value}");
        assert_eq!(engine.counts.remaining, 0);
        assert!(engine.refusals.is_empty());
    }

    #[test]
    fn json_documents_are_sanitized_by_key() {
        let scanner = Scanner::new();
        let redactor = Redactor::new([1; 32]);
        let input = format!(
            r#"{{"user":"alice","records":[{{"access_token":"{SECRET}","n":1.50}},{{"name":"Authorization","value":"Bearer {SECRET}"}}],"nested":"{{\"refresh_token\":\"{SECRET}\"}}"}}"#
        );
        let mut out = Vec::new();
        let report = sanitize(
            input.as_bytes(),
            &mut out,
            &scanner,
            &redactor,
            &SanitizeOptions::default(),
        )
        .unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains(SECRET), "{out}");
        assert!(out.starts_with(r#"{"user":"alice","records":["#), "{out}");
        assert!(
            out.contains(r#""n":1.50"#),
            "numbers keep their text: {out}"
        );
        assert_eq!(report.kind, "json");
        assert_eq!(report.entries, 4, "two members and two streamed records");
        assert_eq!(report.redactions, 3);
        let mut found = Vec::new();
        inspect(
            input.as_bytes(),
            &scanner,
            &SanitizeOptions::default(),
            &mut |f| found.push(f.location.pointer.unwrap_or_default()),
        )
        .unwrap();
        assert_eq!(
            found,
            ["/records/0/access_token", "/records/1/value", "/nested"]
        );
    }
}
