//! `custody seal`: seal an artifact to one device, network context and time window.
//!
//! Offline sealing for now: the broker key is read from a local file. The envelope is
//! written to a temporary file beside OUTPUT and renamed only when complete.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use custody_seal::device::read_private;
use custody_seal::{
    DeviceIdentity, DevicePublic, Entropy as _, ExportId, HpkePublicKey, NetworkContext, OsEntropy,
    SealRequest, SigningKey, artifact_digest, seal,
};

/// Arguments of `custody seal`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Recipient device: its public document (`device.json`, as printed by `custody device
    /// show`), its device directory, or its public X25519 JWK.
    #[arg(long, value_name = "DEVICE_PUBLIC")]
    pub to: PathBuf,
    /// Network context the export is bound to: a descriptor such as `asn:64500` or
    /// `prefix:203.0.113.0/24` (hashed exactly as a token's `net` claim), or the hash itself
    /// (43 base64url characters as `custody token context` prints, or 64 hex digits).
    #[arg(long, value_name = "DESCRIPTOR|NETWORK_HASH")]
    pub context: String,
    /// Lifetime of the export: e.g. 300s, 5m, 1h (at most 24h).
    #[arg(long, default_value = "5m")]
    pub ttl: String,
    /// The broker's private Ed25519 JWK that signs the header (mode 0600 required).
    #[arg(long, value_name = "KEY")]
    pub signing_key: PathBuf,
    /// Tenant that owns the artifact (recorded in the signed header and bound by HPKE).
    #[arg(long, default_value = "local")]
    pub tenant: String,
    /// Support case the export belongs to (recorded in the signed header).
    #[arg(long, default_value = "none")]
    pub case: String,
    /// Principal requesting the export.
    #[arg(long, default_value = "local")]
    pub requester: String,
    /// Rules version the artifact was sanitized with.
    #[arg(long, default_value = "unknown")]
    pub rules_version: String,
    /// Policy bundle id that allowed the export.
    #[arg(long, default_value = "offline")]
    pub policy_bundle: String,
    /// Artifact to seal (a file: it is read twice, to digest and to encrypt).
    pub input: PathBuf,
    /// Envelope to create.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

/// Parses a TTL such as `300`, `300s`, `5m` or `1h` into seconds.
pub fn parse_ttl(text: &str) -> anyhow::Result<u64> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = digits
        .parse()
        .with_context(|| format!("invalid --ttl {text:?}: expected e.g. 300s, 5m, 1h"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => anyhow::bail!("invalid --ttl unit in {text:?}: use s, m or h"),
    };
    let secs = value.checked_mul(scale).context("--ttl is too large")?;
    anyhow::ensure!(secs > 0, "--ttl must be positive");
    Ok(secs)
}

fn load_recipient(path: &Path) -> anyhow::Result<HpkePublicKey> {
    if path.is_dir() {
        return Ok(DeviceIdentity::load_public(path)?.hpke);
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("could not read the recipient key {}", path.display()))?;
    if let Ok(public) = DevicePublic::from_json(&text) {
        return Ok(public.hpke);
    }
    HpkePublicKey::from_jwk(&text).with_context(|| {
        format!(
            "{} is neither a device document nor an X25519 public JWK",
            path.display()
        )
    })
}

/// Reads `--context`: a descriptor (text with `:`) or a network-context hash, the same
/// bytes a token's `net` claim carries for that descriptor.
pub fn parse_context(text: &str) -> anyhow::Result<NetworkContext> {
    NetworkContext::from_descriptor_or_hash(text).with_context(|| {
        format!(
            "invalid --context {text:?}: expected a descriptor such as asn:64500 or \
             prefix:203.0.113.0/24, or a network-context hash (43 base64url characters or \
             64 hex digits)"
        )
    })
}

/// Seconds since the Unix epoch from the system clock.
pub fn unix_now() -> anyhow::Result<u64> {
    Ok(SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("system clock is before 1970")?
        .as_secs())
}

/// A temporary file beside `output` (mode 0600), deleted unless persisted.
pub fn temp_beside(output: &Path) -> anyhow::Result<tempfile::NamedTempFile> {
    let parent = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".custody-partial-")
        .tempfile_in(parent)
        .with_context(|| format!("could not create a temporary file in {}", parent.display()))
}

/// Runs `custody seal`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let ttl = parse_ttl(&args.ttl)?;
    let network_context = parse_context(&args.context)?;
    let recipient = load_recipient(&args.to)?;
    let signer_text = read_private(&args.signing_key).with_context(|| {
        format!(
            "could not read the signing key {}",
            args.signing_key.display()
        )
    })?;
    let signer = SigningKey::from_jwk(&signer_text)
        .with_context(|| format!("invalid signing key {}", args.signing_key.display()))?;

    let open_input = || {
        File::open(&args.input)
            .map(BufReader::new)
            .with_context(|| format!("could not open {}", args.input.display()))
    };
    let (digest, length) = artifact_digest(open_input()?)
        .with_context(|| format!("could not read {}", args.input.display()))?;
    let mut export_id = [0u8; 16];
    OsEntropy
        .fill(&mut export_id)
        .context("random source failed")?;
    let now = unix_now()?;
    let request = SealRequest {
        export_id: ExportId(export_id),
        tenant: args.tenant,
        case: args.case,
        requester: args.requester,
        artifact_digest: digest,
        content_length: length,
        network_context,
        not_before: now,
        not_after: now.saturating_add(ttl),
        rules_version: args.rules_version,
        policy_bundle_id: args.policy_bundle,
    };

    let mut temp = temp_beside(&args.output)?;
    let header = seal(
        &request,
        &recipient,
        &signer,
        &mut OsEntropy,
        open_input()?,
        std::io::BufWriter::with_capacity(1 << 20, temp.as_file_mut()),
    )
    .with_context(|| format!("could not seal {}", args.input.display()))?;
    temp.as_file()
        .sync_all()
        .context("could not flush the envelope")?;
    temp.persist(&args.output)
        .with_context(|| format!("could not write {}", args.output.display()))?;
    eprintln!(
        "sealed export {} to device {}: {} bytes, valid until {} (Unix seconds), written to {}",
        header.export_id,
        header.device_id,
        header.content_length,
        header.not_after,
        args.output.display()
    );
    Ok(crate::EXIT_CLEAN)
}
