//! `custody sanitize`: remove replayable credentials from one artifact.
//!
//! Thin over [`custody_har::artifact`]: this module opens files, draws the
//! per-artifact redactor key from the OS RNG, and makes the outcome atomic. The
//! sanitized output is written to a private (0600) temporary file in the destination
//! directory, or spooled to an anonymous temporary file for stdout, and only on a clean
//! verdict renamed into place or copied to stdout. On a refusal (exit 1) or an error
//! (exit 2) the temporary file is deleted: no partial output ever exists.

use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use custody_har::artifact::{self, ArtifactError, ArtifactOptions, ArtifactReport, Kind};
use custody_scan::{Redactor, Scanner};
use zeroize::Zeroize as _;

use crate::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// Inputs at least this large (regular files) get a progress bar on a terminal.
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

/// The artifact kind to assume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    /// Detect from the content (not the file name).
    Auto,
    /// A HAR capture.
    Har,
    /// A JSON document.
    Json,
    /// Text or a log.
    Text,
    /// A zip of HAR, JSON and text files.
    Zip,
}

/// Output format of the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A short summary on stderr.
    Human,
    /// The JSON report (on stdout, or on stderr when stdout carries the artifact).
    Json,
}

/// Arguments of `custody sanitize`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Input artifact (HAR, JSON, text/log or zip); `-` reads stdin.
    pub input: PathBuf,
    /// Output path; `-` (the default) writes to stdout, only after a clean verdict.
    #[arg(short, long, default_value = "-")]
    pub output: PathBuf,
    /// Write the JSON sanitization report here (also on refusal); it holds no values.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Artifact kind; `auto` detects it from the content.
    #[arg(long, value_enum, default_value_t = KindArg::Auto)]
    pub kind: KindArg,
    /// Verdict output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Where the sanitized bytes go until the verdict is known.
enum Spool {
    /// A named 0600 temp file beside the destination, renamed into place when clean.
    Beside(tempfile::NamedTempFile, PathBuf),
    /// An anonymous temp file copied to stdout when clean.
    Stdout(File),
}

impl Spool {
    fn new(output: &Path) -> anyhow::Result<Self> {
        if is_dash(output) {
            let file = tempfile::tempfile().context("cannot create a temporary spool file")?;
            return Ok(Spool::Stdout(file));
        }
        let dir = match output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        // NamedTempFile creates the file with mode 0600 on Unix.
        let tmp = tempfile::NamedTempFile::new_in(&dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        Ok(Spool::Beside(tmp, output.to_path_buf()))
    }

    fn file(&mut self) -> &mut File {
        match self {
            Spool::Beside(tmp, _) => tmp.as_file_mut(),
            Spool::Stdout(file) => file,
        }
    }

    /// Publishes the output (clean verdict only).
    fn commit(self) -> anyhow::Result<()> {
        match self {
            Spool::Beside(tmp, dest) => {
                tmp.as_file()
                    .sync_all()
                    .context("cannot flush the output")?;
                tmp.persist(&dest)
                    .map_err(|e| e.error)
                    .with_context(|| format!("cannot move the output into {}", dest.display()))?;
            }
            Spool::Stdout(mut file) => {
                file.seek(SeekFrom::Start(0))?;
                let mut stdout = io::stdout().lock();
                io::copy(&mut file, &mut stdout)?;
                stdout.flush()?;
            }
        }
        Ok(())
    }
}

/// Runs `custody sanitize`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let options = ArtifactOptions {
        kind: match args.kind {
            KindArg::Auto => None,
            KindArg::Har => Some(Kind::Har),
            KindArg::Json => Some(Kind::Json),
            KindArg::Text => Some(Kind::Text),
            KindArg::Zip => Some(Kind::Zip),
        },
        ..ArtifactOptions::default()
    };
    let scanner = Scanner::new();
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("OS random generator failed: {e}"))?;
    let redactor = Redactor::new(key);
    key.zeroize();

    let mut spool = Spool::new(&args.output)?;
    let result = if is_dash(&args.input) {
        artifact::sanitize(
            io::stdin().lock(),
            spool.file(),
            &scanner,
            &redactor,
            &options,
        )
    } else {
        let file = File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let len = file
            .metadata()
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len());
        match len {
            Some(len) if len >= PROGRESS_MIN_BYTES && io::stderr().is_terminal() => {
                let input = Progress::new(file, len);
                artifact::sanitize_seekable(input, spool.file(), &scanner, &redactor, &options)
            }
            Some(_) => {
                artifact::sanitize_seekable(file, spool.file(), &scanner, &redactor, &options)
            }
            None => artifact::sanitize(file, spool.file(), &scanner, &redactor, &options),
        }
    };
    drop(redactor);
    match result {
        Ok(report) => {
            write_report(args.report.as_deref(), &report)?;
            spool.commit()?;
            print_verdict(&report, args.format, is_dash(&args.output))?;
            Ok(EXIT_CLEAN)
        }
        Err(ArtifactError::Refused(report)) => {
            drop(spool);
            write_report(args.report.as_deref(), &report)?;
            print_verdict(&report, args.format, is_dash(&args.output))?;
            Ok(EXIT_FINDINGS)
        }
        Err(err) => {
            drop(spool);
            let message = format!("{}: {err}", input_name(&args.input));
            // A report from an earlier run must not stand beside a failed one.
            if let Some(path) = args.report.as_deref() {
                let json = serde_json::json!({ "verdict": "error", "error": message });
                std::fs::write(path, format!("{json:#}\n"))
                    .with_context(|| format!("cannot write the report to {}", path.display()))?;
            }
            eprintln!("custody: error: {message}");
            Ok(EXIT_ERROR)
        }
    }
}

fn input_name(p: &Path) -> String {
    if is_dash(p) {
        "standard input".to_owned()
    } else {
        p.display().to_string()
    }
}

fn write_report(path: Option<&Path>, report: &ArtifactReport) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let mut json = serde_json::to_vec_pretty(report)?;
    json.push(b'\n');
    std::fs::write(path, json)
        .with_context(|| format!("cannot write the report to {}", path.display()))
}

fn print_verdict(
    report: &ArtifactReport,
    format: Format,
    stdout_taken: bool,
) -> anyhow::Result<()> {
    if format == Format::Json {
        let json = serde_json::to_string_pretty(report)?;
        if stdout_taken {
            eprintln!("{json}");
        } else {
            println!("{json}");
        }
        return Ok(());
    }
    let mut err = io::stderr().lock();
    writeln!(
        err,
        "custody: {} {}: {} redaction(s), rules {}",
        report.verdict, report.kind, report.redactions, report.rules_version
    )?;
    for f in &report.remaining {
        let mut place = String::new();
        if let Some(p) = &f.path {
            place.push_str(p);
            place.push(' ');
        }
        if let Some(p) = &f.pointer {
            place.push_str(p);
        }
        if let (Some(line), Some(col)) = (f.line, f.column) {
            place.push_str(&format!("line {line}, column {col}"));
        }
        writeln!(err, "  remains: {place}: rule {} ({})", f.rule_id, f.class)?;
    }
    if report.remaining_count > u64::try_from(report.remaining.len()).unwrap_or(u64::MAX) {
        writeln!(err, "  ... {} in total", report.remaining_count)?;
    }
    Ok(())
}

/// A reader that drives a progress bar on stderr.
struct Progress<R> {
    inner: R,
    bar: indicatif::ProgressBar,
}

impl<R> Progress<R> {
    fn new(inner: R, len: u64) -> Self {
        let bar = indicatif::ProgressBar::new(len);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        ) {
            bar.set_style(style);
        }
        Self { inner, bar }
    }
}

impl<R: Read> Read for Progress<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(u64::try_from(n).unwrap_or(0));
        Ok(n)
    }
}

impl<R: Seek> Seek for Progress<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let pos = self.inner.seek(to)?;
        self.bar.set_position(pos);
        Ok(pos)
    }
}

impl<R> Drop for Progress<R> {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
