//! `custody incident`: blast radius of a principal and deterministic tenant
//! notices, offline, from a broker data directory's audit log (DESIGN §10). The
//! logic lives in `custody-incident`; this module reads the data directory,
//! parses arguments and prints. The log is verified against the data
//! directory's audit key (or pinned `--key` anchors) before anything is
//! computed: a log that fails verification exits 1 with no answer.
//!
//! `bundle`, `approve` and `revoke` talk to the signed-in server (like `custody
//! call`): stage a signed revocation bundle for tenants, sign its approval requests,
//! and execute it in one call (the logic is the broker's `bundles` module).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use custody_audit::note::{NoteSigner, NoteVerifier};
use custody_audit::store::{LogStore as _, SegmentStore, StoreError};
use custody_client::Body;
use custody_incident::notice::DEFAULT_INCIDENT_KIND;
use custody_incident::{
    BlastRadius, Incident, IncidentError, VerifiedLog, blast_radius, derive_incident_id,
    render_notice,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

use crate::cmd::remote::{report, session_client};
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
    /// Stage a signed revocation bundle for tenants on the signed-in server (every
    /// session, token, grant, device key and export touching them) and write it to
    /// FILE; one `tenant.revoke_all` approval request per tenant is opened.
    Bundle(BundleArgs),
    /// Sign every approval request of a bundle file with this device's key (after
    /// checking each one is this bundle's request for its tenant).
    Approve(BundleFileArgs),
    /// Execute a bundle in one call: returns once the revocation is effective and
    /// prints what was revoked (exit 1 when the server refuses).
    Revoke(BundleFileArgs),
}

/// Arguments of `custody incident bundle`.
#[derive(Debug, clap::Args)]
pub struct BundleArgs {
    /// Tenant id (repeat for several tenants).
    #[arg(long = "tenant", required = true)]
    tenants: Vec<String>,
    /// Where to write the bundle file.
    #[arg(long, short = 'o')]
    out: PathBuf,
    /// Lifetime of the bundle in seconds (default: the server's, 24 h).
    #[arg(long)]
    ttl_secs: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Device directory.
    #[arg(long)]
    device_dir: Option<PathBuf>,
}

/// Arguments of `custody incident approve` and `custody incident revoke`.
#[derive(Debug, clap::Args)]
pub struct BundleFileArgs {
    /// The bundle file written by `custody incident bundle`.
    #[arg(long)]
    bundle: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Device directory.
    #[arg(long)]
    device_dir: Option<PathBuf>,
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
        Command::Bundle(args) => run_bundle(args),
        Command::Approve(args) => run_approve(args),
        Command::Revoke(args) => run_revoke(args),
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

fn str_at<'a>(value: &'a serde_json::Value, pointer: &str) -> &'a str {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("?")
}

fn list_at(value: &serde_json::Value, pointer: &str) -> Vec<String> {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn len_at(value: &serde_json::Value, pointer: &str) -> usize {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len)
}

fn u64_at(value: &serde_json::Value, pointer: &str) -> u64 {
    value
        .pointer(pointer)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

fn rfc3339(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// Runs `custody incident bundle`.
fn run_bundle(args: BundleArgs) -> anyhow::Result<u8> {
    let client = session_client(args.device_dir)?;
    let body = match args.ttl_secs {
        Some(ttl) => serde_json::json!({ "tenants": args.tenants, "ttl_secs": ttl }),
        None => serde_json::json!({ "tenants": args.tenants }),
    };
    let reply = client.call("POST", "/v1/revocation-bundles", &Body::Json(body))?;
    if reply.status != 201 {
        return report(&reply);
    }
    let staged = reply.json();
    let text = serde_json::to_string_pretty(&staged)?;
    fs::write(&args.out, format!("{text}\n"))
        .with_context(|| format!("writing {}", args.out.display()))?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => writeln!(out, "{text}")?,
        Format::Human => {
            writeln!(
                out,
                "staged revocation bundle {} (digest {}), expires {}",
                str_at(&staged, "/bundle/bundle_id"),
                str_at(&staged, "/digest"),
                rfc3339(u64_at(&staged, "/bundle/expires_at"))
            )?;
            let tenants = staged
                .pointer("/bundle/tenants")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            let approvals = staged
                .pointer("/approval_requests")
                .and_then(serde_json::Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (tenant, approval) in tenants.iter().zip(&approvals) {
                writeln!(
                    out,
                    "  {}: {} principal(s), {} device key(s), {} grant(s), {} pending export(s), {} service account(s) listed; approval request {}",
                    str_at(tenant, "/tenant"),
                    len_at(tenant, "/principals"),
                    len_at(tenant, "/devices"),
                    len_at(tenant, "/grants"),
                    len_at(tenant, "/exports"),
                    len_at(tenant, "/service_accounts"),
                    str_at(approval, "/approval_request_id"),
                )?;
            }
            writeln!(
                out,
                "wrote {}; approvers run `custody incident approve --bundle FILE`, then `custody incident revoke --bundle FILE` executes it",
                args.out.display()
            )?;
        }
    }
    out.flush()?;
    Ok(EXIT_CLEAN)
}

/// Reads a bundle file and checks its readable copy is the signed payload, so that
/// what a responder reads is what the server will execute.
fn read_bundle_file(path: &Path) -> anyhow::Result<Option<serde_json::Value>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let file: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a bundle file", path.display()))?;
    let jws = str_at(&file, "/jws");
    let payload = jws
        .split('.')
        .nth(1)
        .and_then(b64url_decode)
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    if payload.as_ref() != file.get("bundle") {
        eprintln!(
            "custody: refused: the readable bundle in {} is not the signed one",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(file))
}

/// Runs `custody incident approve`: each of the bundle's approval requests is
/// fetched, checked to name this bundle (id and digest) and its tenant, and signed.
fn run_approve(args: BundleFileArgs) -> anyhow::Result<u8> {
    let Some(file) = read_bundle_file(&args.bundle)? else {
        return Ok(EXIT_FINDINGS);
    };
    let dir = crate::cmd::device::device_dir(args.device_dir.clone())?;
    let client = session_client(args.device_dir)?;
    let me = client.call("GET", "/v1/me", &Body::Empty)?;
    if me.status != 200 {
        return report(&me);
    }
    let principal = str_at(&me.json(), "/principal_id").to_owned();
    let identity = custody_seal::DeviceIdentity::load(&dir)?;
    let bundle_id = str_at(&file, "/bundle/bundle_id");
    let digest = str_at(&file, "/digest");
    let approvals = file
        .pointer("/approval_requests")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut signed = Vec::new();
    for entry in &approvals {
        let id = str_at(entry, "/approval_request_id");
        let tenant = str_at(entry, "/tenant");
        let view = client.call("GET", &format!("/v1/approvals/{id}"), &Body::Empty)?;
        if view.status != 200 {
            return report(&view);
        }
        let view = view.json();
        if str_at(&view, "/request/action") != "tenant.revoke_all"
            || str_at(&view, "/request/tenant") != tenant
            || str_at(&view, "/request/parameters/revocation_bundle") != bundle_id
            || str_at(&view, "/request/parameters/bundle_digest") != digest
        {
            eprintln!(
                "custody: refused: approval request {id} is not this bundle's request for {tenant}; nothing further signed"
            );
            return Ok(EXIT_FINDINGS);
        }
        let reply = client.approve(id, &principal, identity.pop_key().secret_bytes())?;
        if reply.status != 200 {
            return report(&reply);
        }
        signed.push(serde_json::json!({
            "tenant": tenant,
            "approval_request_id": id,
            "approvals": reply.json().get("approvals").cloned().unwrap_or_default(),
        }));
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(
                &serde_json::json!({ "bundle_id": bundle_id, "signed": signed })
            )?
        )?,
        Format::Human => writeln!(
            out,
            "approved {} request(s) of bundle {bundle_id} (digest {digest}) as {principal}",
            signed.len()
        )?,
    }
    Ok(EXIT_CLEAN)
}

/// Runs `custody incident revoke`.
fn run_revoke(args: BundleFileArgs) -> anyhow::Result<u8> {
    let Some(file) = read_bundle_file(&args.bundle)? else {
        return Ok(EXIT_FINDINGS);
    };
    let approvals: serde_json::Map<String, serde_json::Value> = file
        .pointer("/approval_requests")
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|a| {
                    (
                        str_at(a, "/tenant").to_owned(),
                        str_at(a, "/approval_request_id").into(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let client = session_client(args.device_dir)?;
    let body = serde_json::json!({ "bundle": str_at(&file, "/jws"), "approvals": approvals });
    let reply = client.call(
        "POST",
        "/v1/revocation-bundles/executions",
        &Body::Json(body),
    )?;
    if reply.status != 200 {
        return report(&reply);
    }
    let done = reply.json();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&done)?)?,
        Format::Human => print_revoked(&mut out, &done)?,
    }
    out.flush()?;
    Ok(EXIT_CLEAN)
}

fn print_revoked(out: &mut dyn std::io::Write, done: &serde_json::Value) -> anyhow::Result<()> {
    let started = done
        .get("started_at_ms")
        .and_then(serde_json::Value::as_i64);
    let effective = done
        .get("effective_at_ms")
        .and_then(serde_json::Value::as_i64);
    let took = match (started, effective) {
        (Some(s), Some(e)) => format!("{} ms", e.saturating_sub(s)),
        _ => "?".to_owned(),
    };
    writeln!(
        out,
        "revoked bundle {}: effective on the server at revocation state version {} ({} epoch(s), each with a signed receipt) in {took}",
        str_at(done, "/bundle_id"),
        u64_at(done, "/revoked/state_version"),
        len_at(done, "/revoked/revoked"),
    )?;
    let tenants = done
        .get("tenants")
        .and_then(serde_json::Value::as_array)
        .cloned()
        .unwrap_or_default();
    for t in &tenants {
        writeln!(
            out,
            "  {}: every token of the tenant; principals [{}]; device keys [{}] ({} newly revoked); {} grant(s); {} pending export(s)",
            str_at(t, "/tenant"),
            list_at(t, "/principals").join(", "),
            list_at(t, "/devices").join(", "),
            u64_at(t, "/devices_revoked"),
            u64_at(t, "/grants_revoked"),
            u64_at(t, "/exports_revoked"),
        )?;
        let added: Vec<String> = ["principals", "devices", "grants", "exports"]
            .iter()
            .flat_map(|k| list_at(t, &format!("/added_since_staging/{k}")))
            .collect();
        if !added.is_empty() {
            writeln!(out, "    added since staging: {}", added.join(", "))?;
        }
        let accounts = list_at(t, "/service_accounts");
        if !accounts.is_empty() {
            writeln!(
                out,
                "    service accounts scoped to the tenant (not revoked; revoke them separately if compromised): {}",
                accounts.join(", ")
            )?;
        }
    }
    writeln!(out, "receipt: {}", str_at(done, "/receipt"))?;
    Ok(())
}

/// Decodes unpadded base64url (RFC 4648 §5); `None` on any other character.
fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(acc >> bits).ok()?);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::b64url_decode;

    #[test]
    fn base64url_decodes_unpadded_text_and_refuses_other_alphabets() {
        assert_eq!(b64url_decode("").unwrap(), b"");
        assert_eq!(b64url_decode("Zg").unwrap(), b"f");
        assert_eq!(b64url_decode("Zm9vYmFy").unwrap(), b"foobar");
        assert_eq!(b64url_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert!(b64url_decode("ab+/").is_none());
        assert!(b64url_decode("Zg==").is_none());
    }
}
