//! `custody incident`: blast radius of a principal and deterministic tenant
//! notices, offline, from a broker data directory's audit log (DESIGN §10). The
//! logic lives in `custody-incident`; this module reads the data directory,
//! parses arguments and prints. The log is verified against the data
//! directory's audit key (or pinned `--key` anchors) before anything is
//! computed: a log that fails verification exits 1 with no answer.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use custody_audit::note::{NoteSigner, NoteVerifier};
use custody_audit::store::{LogStore as _, SegmentStore, StoreError};
use custody_incident::notice::DEFAULT_INCIDENT_KIND;
use custody_incident::{
    BlastRadius, Incident, IncidentError, VerifiedLog, blast_radius, derive_incident_id,
    render_notice,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// Subcommands of `custody incident`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// B_i of a principal over a window: tenants with actionable exposure over
    /// tenants in its support boundary, and every artifact it touched.
    BlastRadius {
        #[command(flatten)]
        source: Source,
        /// Principal id.
        #[arg(long)]
        principal: String,
        /// Window start (RFC 3339, inclusive).
        #[arg(long)]
        since: String,
        /// Window end (RFC 3339, inclusive); default: the end of the log.
        #[arg(long)]
        until: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "human")]
        format: Format,
    },
    /// Render a tenant's notice: a fixed template filled with the tenant's
    /// audited facts in the window, each backed by its inclusion proof.
    Notice {
        #[command(flatten)]
        source: Source,
        /// Tenant id.
        #[arg(long)]
        tenant: String,
        /// Window start (RFC 3339, inclusive).
        #[arg(long)]
        since: String,
        /// Window end (RFC 3339, inclusive); default: the latest event of the log.
        #[arg(long)]
        until: Option<String>,
        /// Incident id; default: derived from the log origin and the window.
        #[arg(long)]
        incident_id: Option<String>,
        /// Incident kind (its title is reviewed text of the template).
        #[arg(long, default_value = DEFAULT_INCIDENT_KIND)]
        incident_kind: String,
        /// Template version.
        #[arg(long, default_value = "v1")]
        template: String,
        /// Prove against the stored checkpoint of this tree size (re-render an
        /// earlier notice byte for byte); default: the latest checkpoint.
        #[arg(long)]
        checkpoint_size: Option<u64>,
        /// Output file (default: stdout).
        #[arg(long, short = 'o')]
        out: Option<PathBuf>,
    },
}

/// Where the log is and what to trust.
#[derive(Debug, clap::Args)]
pub struct Source {
    /// Broker data directory (holds `audit/` and `keys/audit.key`).
    #[arg(long)]
    data: PathBuf,
    /// Trusted verifier key (`name+id+base64`, or a file holding one) pinning the
    /// log's genesis key; default: derived from the data directory's `keys/audit.key`.
    #[arg(long = "key")]
    keys: Vec<String>,
}

/// Output format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// Human-readable text.
    Human,
    /// JSON.
    Json,
}

/// Runs `custody incident`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    match command {
        Command::BlastRadius {
            source,
            principal,
            since,
            until,
            format,
        } => {
            let since = parse_time(&since).context("--since")?;
            let until = until
                .map(|u| parse_time(&u).context("--until"))
                .transpose()?;
            let Some(log) = open(&source, None)? else {
                return Ok(EXIT_FINDINGS);
            };
            let radius = blast_radius(&log, &principal, since, until)?;
            warn_tail(radius.records_after_checkpoint);
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&radius)?)?,
                Format::Human => print_human(&mut out, &radius)?,
            }
            out.flush()?;
            Ok(EXIT_CLEAN)
        }
        Command::Notice {
            source,
            tenant,
            since,
            until,
            incident_id,
            incident_kind,
            template,
            checkpoint_size,
            out,
        } => {
            let since = parse_time(&since).context("--since")?;
            let until = until
                .map(|u| parse_time(&u).context("--until"))
                .transpose()?;
            let Some(log) = open(&source, checkpoint_size)? else {
                return Ok(EXIT_FINDINGS);
            };
            warn_tail(log.records_after_checkpoint());
            let id = incident_id
                .unwrap_or_else(|| derive_incident_id(&log.checkpoint().origin, since, until));
            let incident = Incident::new(&id, &incident_kind)?;
            let slice = log.tenant_slice(&tenant, since, until)?;
            let text = render_notice(&incident, &tenant, &slice, &template)?;
            match out {
                Some(path) => fs::write(&path, text.as_bytes())
                    .with_context(|| format!("writing {}", path.display()))?,
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout.write_all(text.as_bytes())?;
                    stdout.flush()?;
                }
            }
            Ok(EXIT_CLEAN)
        }
    }
}

/// Verifies and opens the log; `None` (after saying why) when it fails verification.
fn open(
    source: &Source,
    at_size: Option<u64>,
) -> anyhow::Result<Option<VerifiedLog<SegmentStore>>> {
    let dir = source.data.join("audit");
    if !dir.is_dir() {
        bail!("{} has no audit log (audit/)", source.data.display());
    }
    let Some(anchors) = anchors(source, &dir)? else {
        return Ok(None);
    };
    match VerifiedLog::open_dir(&dir, &anchors, at_size) {
        Ok(log) => Ok(Some(log)),
        Err(err @ IncidentError::Verify(_)) => {
            eprintln!("custody: refused: {err}");
            Ok(None)
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", dir.display())),
    }
}

/// The trust anchors: `--key` values, or the verifier of the data directory's
/// audit signing key (named as the log's genesis key names itself; a different
/// key under that name fails verification). `None` (after saying why) when the
/// log's files are damaged: that is a verification failure too.
fn anchors(source: &Source, log_dir: &Path) -> anyhow::Result<Option<Vec<NoteVerifier>>> {
    if !source.keys.is_empty() {
        return source
            .keys
            .iter()
            .map(|k| {
                let text = match fs::read_to_string(k) {
                    Ok(text) if Path::new(k).is_file() => text.trim().to_owned(),
                    _ => k.clone(),
                };
                text.parse::<NoteVerifier>()
                    .map_err(|e| anyhow::anyhow!("--key: {e}"))
            })
            .collect::<anyhow::Result<_>>()
            .map(Some);
    }
    let key_path = source.data.join("keys").join("audit.key");
    let meta =
        fs::metadata(&key_path).with_context(|| format!("reading {}", key_path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        bail!(
            "{} is readable by group or others; chmod 600 it",
            key_path.display()
        );
    }
    let bytes = Zeroizing::new(
        fs::read(&key_path).with_context(|| format!("reading {}", key_path.display()))?,
    );
    let seed: Zeroizing<[u8; 32]> = Zeroizing::new(
        bytes
            .as_slice()
            .try_into()
            .map_err(|_| anyhow::anyhow!("{} is not an audit key", key_path.display()))?,
    );
    let store = match SegmentStore::open_read_only(log_dir) {
        Ok(store) => store,
        Err(err @ StoreError::Io { .. }) => {
            return Err(err).with_context(|| format!("opening {}", log_dir.display()));
        }
        Err(err) => {
            eprintln!("custody: refused: the audit log failed verification: {err}");
            return Ok(None);
        }
    };
    let genesis: NoteVerifier = store
        .key_records()?
        .first()
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("the audit log has no genesis key"))?;
    let signer = NoteSigner::from_seed(genesis.name(), &seed)
        .with_context(|| format!("{} is not an audit key", key_path.display()))?;
    Ok(Some(vec![signer.verifier()]))
}

fn warn_tail(records: u64) {
    if records > 0 {
        eprintln!(
            "custody: note: {records} record(s) after the latest signed checkpoint were not used"
        );
    }
}

fn print_human(out: &mut dyn std::io::Write, r: &BlastRadius) -> anyhow::Result<()> {
    writeln!(
        out,
        "Blast radius of {} from {} to {}",
        r.principal,
        r.since,
        r.until.as_deref().unwrap_or("the end of the log")
    )?;
    writeln!(
        out,
        "Log {}: signed checkpoint of tree size {}, root {}",
        r.log_origin, r.tree_size, r.root
    )?;
    let ratio = r
        .b_i
        .map_or_else(|| "undefined".to_owned(), |b| format!("{b:.4}"));
    writeln!(
        out,
        "B_i = {} exposed / {} in boundary = {ratio}",
        r.exposed_tenants, r.boundary_tenants
    )?;
    for t in &r.tenants {
        writeln!(
            out,
            "\n{}  {}  reach: {}",
            t.tenant,
            if t.exposed { "EXPOSED" } else { "not exposed" },
            t.reasons.join(", ")
        )?;
        for g in &t.grants {
            writeln!(
                out,
                "  grant {} (request at index {}, approvals at {:?})",
                g.grant_id, g.request_index, g.approval_indices
            )?;
        }
        for x in &t.touches {
            writeln!(
                out,
                "  {:>8} {} {:<9} {:<8} {} case {} digest {}",
                x.index, x.time, x.act, x.resource_kind, x.resource_id, x.case_id, x.digest
            )?;
        }
    }
    if !r.attempts.is_empty() {
        writeln!(out, "\nDenied attempts")?;
        for x in &r.attempts {
            writeln!(
                out,
                "  {:>8} {} {:<9} tenant {} {} {}",
                x.index, x.time, x.act, x.tenant, x.resource_kind, x.resource_id
            )?;
        }
    }
    Ok(())
}

fn parse_time(s: &str) -> anyhow::Result<i64> {
    let t =
        OffsetDateTime::parse(s, &Rfc3339).map_err(|_| anyhow::anyhow!("not an RFC 3339 time"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).context("time out of range")
}
