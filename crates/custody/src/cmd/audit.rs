//! `custody audit`: verify, prove, export and tail the tamper-evident audit log;
//! plus `keygen`, `append` and `rotate-key` for operators and tests. The logic
//! lives in `custody-audit`; this module parses arguments, reads files and maps
//! outcomes to exit codes (0 verified, 1 verification failed, 2 error).
//!
//! Signing keys are C2SP note private keys (`PRIVATE+KEY+<name>+<id>+<base64>`)
//! in files with mode 0600; verifier keys are `<name>+<id>+<base64>` strings.

use std::fs;
use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use custody_audit::event::AuditEvent;
use custody_audit::log::{AuditLog, Checkpointer, Clock as _, LogOptions, SystemClock};
use custody_audit::note::{NoteSigner, NoteVerifier};
use custody_audit::reader::{LogReader, TailFilter};
use custody_audit::store::{SegmentOptions, SegmentStore};
use custody_audit::verify::{VerifyOptions, verify_dir, verify_export};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// `println!` that returns the I/O error (a closed pipe is then not a panic).
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)?
    };
}

/// Origin line used when `--origin` is not given.
const DEFAULT_ORIGIN: &str = "custody.local/audit";

/// Subcommands of `custody audit`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Recompute the tree, check every record frame, the key chain, every
    /// checkpoint signature and the consistency between checkpoints (or check
    /// an exported slice offline). Exit 0 only when everything holds; otherwise
    /// exit 1 naming the first bad index.
    Verify {
        /// Log directory.
        #[arg(long, conflicts_with = "export", required_unless_present = "export")]
        log: Option<PathBuf>,
        /// Exported JSON-lines slice (from `custody audit export`); needs `--key`.
        #[arg(long)]
        export: Option<PathBuf>,
        /// A signed checkpoint kept earlier (file); the log must extend it. Repeatable.
        #[arg(long = "checkpoint")]
        checkpoints: Vec<PathBuf>,
        /// Trusted verifier key (`name+id+base64`) pinning the log's genesis key. Repeatable.
        #[arg(long = "key")]
        keys: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Print the inclusion proof of one record against the latest checkpoint (JSON).
    Prove {
        /// Log directory.
        #[arg(long)]
        log: PathBuf,
        /// Record index.
        #[arg(long)]
        index: u64,
        /// Trusted verifier key pinning the genesis key. Repeatable.
        #[arg(long = "key")]
        keys: Vec<String>,
    },
    /// Export events between two RFC 3339 times as JSON lines, each with its
    /// inclusion proof against the latest checkpoint, for a SIEM or an auditor.
    Export {
        /// Log directory.
        #[arg(long)]
        log: PathBuf,
        /// Start (RFC 3339, inclusive).
        #[arg(long)]
        since: String,
        /// End (RFC 3339, inclusive).
        #[arg(long)]
        until: String,
        /// Output file (default: stdout).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
        /// Trusted verifier key pinning the genesis key. Repeatable.
        #[arg(long = "key")]
        keys: Vec<String>,
    },
    /// Print the latest events, optionally filtered.
    Tail {
        /// Log directory.
        #[arg(long)]
        log: PathBuf,
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Only this actor (principal id).
        #[arg(long)]
        actor: Option<String>,
        /// Only this activity: an event kind (`download`, `export`...) or an OCSF activity name.
        #[arg(long)]
        activity: Option<String>,
        /// Number of events.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Generate a log signing key (file, mode 0600); prints its verifier key.
    Keygen {
        /// Key name (e.g. the log's host name).
        #[arg(long)]
        name: String,
        /// File to create (must not exist).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
    /// Append events (one JSON `AuditEvent` per stdin line), each durable before
    /// its index is printed; signs a checkpoint at the end.
    Append {
        /// Log directory (created if missing).
        #[arg(long)]
        log: PathBuf,
        /// Signing key file (the log's current key).
        #[arg(long)]
        key: PathBuf,
        /// Keep the append receipt here: a signed checkpoint covering every event
        /// acknowledged so far, rewritten (atomically) after each durable batch.
        /// `custody audit verify --checkpoint FILE` then detects their deletion.
        #[arg(long)]
        receipt: Option<PathBuf>,
        /// Origin line of the log's checkpoints.
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
    },
    /// Rotate the log's signing key: seal with the old key, record a rotation
    /// co-signed by both keys, sign with the new key from then on.
    RotateKey {
        /// Log directory.
        #[arg(long)]
        log: PathBuf,
        /// Current signing key file.
        #[arg(long)]
        key: PathBuf,
        /// New signing key file.
        #[arg(long)]
        new_key: PathBuf,
        /// Origin line of the log's checkpoints.
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
    },
}

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Human,
    /// JSON.
    Json,
}

/// Runs `custody audit`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::Verify {
            log,
            export,
            checkpoints,
            keys,
            format,
        } => verify(log, export, &checkpoints, &keys, format),
        Command::Prove { log, index, keys } => {
            let reader = LogReader::open_dir(&log, &parse_keys(&keys)?)
                .with_context(|| format!("opening {}", log.display()))?;
            let bundle = reader.prove(index)?;
            say!("{}", serde_json::to_string_pretty(&bundle)?);
            Ok(EXIT_CLEAN)
        }
        Command::Export {
            log,
            since,
            until,
            out,
            keys,
        } => {
            let since = parse_time(&since).context("--since")?;
            let until = parse_time(&until).context("--until")?;
            let reader = LogReader::open_dir(&log, &parse_keys(&keys)?)
                .with_context(|| format!("opening {}", log.display()))?;
            let written = match out {
                Some(path) => {
                    let file = fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    let mut w = std::io::BufWriter::new(file);
                    let n = reader.export(since, until, &mut w)?;
                    w.flush()?;
                    n
                }
                None => {
                    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
                    let n = reader.export(since, until, &mut w)?;
                    w.flush()?;
                    n
                }
            };
            eprintln!("exported {written} events");
            Ok(EXIT_CLEAN)
        }
        Command::Tail {
            log,
            tenant,
            actor,
            activity,
            lines,
            format,
        } => tail(
            &log,
            TailFilter {
                tenant,
                actor,
                activity,
            },
            lines,
            format,
        ),
        Command::Keygen { name, out } => keygen(&name, &out),
        Command::Append {
            log,
            key,
            receipt,
            origin,
        } => append(&log, &key, receipt.as_deref(), &origin),
        Command::RotateKey {
            log,
            key,
            new_key,
            origin,
        } => {
            let store = SegmentStore::open(&log, SegmentOptions::default())?;
            let audit = AuditLog::open(store, read_signer(&key)?, LogOptions::new(&origin))?;
            let new = read_signer(&new_key)?;
            let verifier = new.verifier();
            audit.rotate_key(new, SystemClock.now_ms())?;
            say!("{verifier}");
            Ok(EXIT_CLEAN)
        }
    }
}

fn verify(
    log: Option<PathBuf>,
    export: Option<PathBuf>,
    checkpoints: &[PathBuf],
    keys: &[String],
    format: Format,
) -> anyhow::Result<u8> {
    let anchors = parse_keys(keys)?;
    let outcome = if let Some(path) = export {
        if anchors.is_empty() {
            bail!("verify --export needs at least one --key to trust");
        }
        let file = fs::File::open(&path).with_context(|| format!("opening {}", path.display()))?;
        verify_export(BufReader::new(file), &anchors).map(|r| {
            let opt = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
            let human = format!(
                "export of {} events (indices {}..={}) proven against a signed checkpoint of size {}",
                r.lines,
                opt(r.first_index),
                opt(r.last_index),
                opt(r.tree_size)
            );
            (human, serde_json::to_value(r), false)
        })
    } else if let Some(dir) = log {
        let external = checkpoints
            .iter()
            .map(|p| fs::read_to_string(p).with_context(|| format!("reading {}", p.display())))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let options = VerifyOptions {
            anchors,
            external_checkpoints: external,
            origin: None,
        };
        if !dir.is_dir() {
            bail!("{} is not a log directory", dir.display());
        }
        verify_dir(&dir, &options).map(|r| {
            let human = format!(
                "{} records, {} checkpoints ({} external), {} signing key(s); latest checkpoint size {} root {}; {} records not yet checkpointed; {} torn-tail bytes",
                r.records,
                r.checkpoints,
                r.external_checkpoints,
                r.keys.len(),
                r.latest_size,
                r.latest_root,
                r.uncovered,
                r.torn_bytes
            );
            let from_log = r.anchor_from_log;
            (human, serde_json::to_value(r), from_log)
        })
    } else {
        bail!("give --log DIR or --export FILE");
    };
    match outcome {
        Ok((human, report, anchor_from_log)) => {
            let report = report?;
            match format {
                Format::Json => say!("{}", serde_json::json!({ "ok": true, "report": report })),
                Format::Human => {
                    say!("OK: {human}");
                    if anchor_from_log {
                        eprintln!(
                            "warning: no --key given; trusted the log's own genesis key (pin it with --key)"
                        );
                    }
                }
            }
            Ok(EXIT_CLEAN)
        }
        Err(err) => {
            let first = err.first_bad_index();
            match format {
                Format::Json => say!(
                    "{}",
                    serde_json::json!({ "ok": false, "first_bad_index": first, "error": err.to_string() })
                ),
                Format::Human => match first {
                    Some(i) => say!("FAIL: first bad index {i}: {err}"),
                    None => say!("FAIL: {err}"),
                },
            }
            Ok(EXIT_FINDINGS)
        }
    }
}

fn tail(log: &Path, filter: TailFilter, lines: usize, format: Format) -> anyhow::Result<u8> {
    let reader =
        LogReader::open_dir(log, &[]).with_context(|| format!("opening {}", log.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (index, event) in reader.tail(&filter, lines)? {
        match format {
            Format::Json => {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({ "index": index, "event": event })
                )?;
            }
            Format::Human => {
                let s = |p: &str| {
                    event
                        .pointer(p)
                        .and_then(|v| v.as_str())
                        .unwrap_or("-")
                        .to_owned()
                };
                let time = event
                    .pointer("/time")
                    .and_then(serde_json::Value::as_i64)
                    .and_then(|ms| {
                        OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
                    })
                    .and_then(|t| t.format(&Rfc3339).ok())
                    .unwrap_or_else(|| "-".into());
                writeln!(
                    out,
                    "{index:>8} {time} {:<16} {:<6} tenant={} actor={} resource={}",
                    s("/custody/kind"),
                    s("/custody/decision"),
                    s("/metadata/tenant_uid"),
                    s("/actor/user/uid"),
                    s("/resources/0/uid"),
                )?;
            }
        }
    }
    out.flush()?;
    Ok(EXIT_CLEAN)
}

fn keygen(name: &str, out: &Path) -> anyhow::Result<u8> {
    let mut seed = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *seed).map_err(|e| anyhow::anyhow!("OS random source: {e}"))?;
    let signer = NoteSigner::from_seed(name, &seed)?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let secret = signer.expose_private_key_string();
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    say!("{}", signer.verifier());
    Ok(EXIT_CLEAN)
}

fn append(log: &Path, key: &Path, receipt: Option<&Path>, origin: &str) -> anyhow::Result<u8> {
    let store = SegmentStore::open(log, SegmentOptions::default())
        .with_context(|| format!("opening {}", log.display()))?;
    let audit = Arc::new(AuditLog::open(
        store,
        read_signer(key)?,
        LogOptions::new(origin),
    )?);
    let checkpointer = Checkpointer::spawn(
        Arc::clone(&audit),
        Arc::new(SystemClock),
        Duration::from_millis(50),
        |e| eprintln!("custody: checkpoint failed: {e}"),
    );
    let stdin = std::io::stdin().lock();
    let mut out = std::io::stdout().lock();
    // Batches of up to 1024 lines share one fsync; indices are printed only
    // once their batch is durable.
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let flush =
        |batch: &mut Vec<Vec<u8>>, out: &mut std::io::StdoutLock<'_>| -> anyhow::Result<()> {
            if batch.is_empty() {
                return Ok(());
            }
            let ack = audit.append_records_with_receipt(std::mem::take(batch))?;
            if let Some(path) = receipt {
                write_receipt(path, &ack.checkpoint.note)?;
            }
            for index in ack.range {
                writeln!(out, "{index}")?;
            }
            out.flush()?;
            Ok(())
        };
    for (n, line) in stdin.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // Lines before a bad line are appended (and acknowledged) first.
        let parsed = serde_json::from_str::<AuditEvent>(&line)
            .map_err(|e| {
                anyhow::anyhow!(
                    "stdin line {}: not an audit event ({})",
                    n + 1,
                    e.classify_name()
                )
            })
            .and_then(|event| {
                event
                    .record_bytes()
                    .with_context(|| format!("stdin line {}", n + 1))
            });
        let bytes = match parsed {
            Ok(bytes) => bytes,
            Err(e) => {
                flush(&mut batch, &mut out)?;
                return Err(e);
            }
        };
        batch.push(bytes);
        if batch.len() >= 1024 {
            flush(&mut batch, &mut out)?;
        }
    }
    flush(&mut batch, &mut out)?;
    checkpointer.stop();
    Ok(EXIT_CLEAN)
}

/// Replaces the receipt file atomically (write a sibling, fsync, rename), so a
/// reader never sees a partial note.
fn write_receipt(path: &Path, note: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::File::create(&tmp)
        .with_context(|| format!("creating receipt {}", tmp.display()))?;
    file.write_all(note.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing receipt {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing receipt {}", path.display()))?;
    Ok(())
}

/// Short serde_json error category, without echoing input.
trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "JSON syntax error",
            serde_json::error::Category::Data => "wrong fields or types",
            serde_json::error::Category::Eof => "truncated JSON",
        }
    }
}

fn read_signer(path: &Path) -> anyhow::Result<NoteSigner> {
    let meta = fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by group or others; chmod 600 it",
            path.display()
        );
    }
    let text = Zeroizing::new(
        fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
    );
    NoteSigner::from_private_key_string(text.trim())
        .with_context(|| format!("{} is not a signing key", path.display()))
}

fn parse_keys(keys: &[String]) -> anyhow::Result<Vec<NoteVerifier>> {
    keys.iter()
        .map(|k| {
            let k = match fs::read_to_string(k) {
                Ok(text) if Path::new(k).is_file() => text.trim().to_owned(),
                _ => k.clone(),
            };
            k.parse::<NoteVerifier>()
                .map_err(|e| anyhow::anyhow!("--key: {e}"))
        })
        .collect()
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    let t =
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| anyhow::anyhow!("not an RFC 3339 time"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).context("time out of range")
}
