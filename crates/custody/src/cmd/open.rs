//! `custody open`: open a sealed export on this device (offline mode only for now).
//!
//! Online opening (the default in DESIGN §5: the broker releases the content key once,
//! to the requester's PoP key and context, and audits it) arrives with the broker
//! service. Until then `--offline` is mandatory, and every offline open says so on
//! standard error. Plaintext goes to a temporary file beside OUTPUT (mode 0600) that is
//! renamed only after the last chunk and the artifact digest verify, and deleted
//! otherwise, so no partial plaintext survives a refusal.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;

use anyhow::Context as _;
use custody_seal::{DeviceIdentity, OpenOptions, VerifyingKey, open_with};

use crate::cmd::device::device_dir;
use crate::cmd::seal::{parse_context, parse_ttl, temp_beside, unix_now};

/// Arguments of `custody open`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Open without the broker (required for now: online release is not available yet).
    /// Offline opens cannot enforce single use or revocation, and are not audited yet.
    #[arg(long)]
    pub offline: bool,
    /// Directory of this device's identity (default: $CUSTODY_DEVICE_DIR or
    /// ~/.config/custody/device).
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
    /// Trusted broker public key (Ed25519 JWK); repeat for several.
    #[arg(long = "trust", value_name = "KEY", required = true)]
    pub trust: Vec<PathBuf>,
    /// This device's current network context, in any form `custody seal --context` takes
    /// (descriptor, base64url or hex hash).
    #[arg(long, value_name = "DESCRIPTOR|NETWORK_HASH")]
    pub context: String,
    /// Longest validity window (not_after - not_before) accepted: an envelope signed for
    /// longer is refused even inside its window. E.g. 5m for support exports.
    #[arg(long, value_name = "TTL", default_value = "24h")]
    pub max_window: String,
    /// Sealed envelope.
    pub input: PathBuf,
    /// Plaintext file to create.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

/// Runs `custody open`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    anyhow::ensure!(
        args.offline,
        "online opening needs the broker service, which is not available yet; \
         pass --offline to open without it (offline opens are not single-use)"
    );
    let context = parse_context(&args.context)?;
    let options = OpenOptions::default().max_window_secs(
        parse_ttl(&args.max_window).context("invalid --max-window (e.g. 5m, 24h)")?,
    );
    let dir = device_dir(args.device_dir)?;
    let device = DeviceIdentity::load(&dir)
        .with_context(|| format!("could not load the device identity in {}", dir.display()))?;
    let mut trusted = Vec::with_capacity(args.trust.len());
    for path in &args.trust {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("could not read trusted key {}", path.display()))?;
        trusted.push(
            VerifyingKey::from_jwk(&text)
                .with_context(|| format!("invalid trusted key {}", path.display()))?,
        );
    }
    let input = File::open(&args.input)
        .map(|f| BufReader::with_capacity(1 << 20, f))
        .with_context(|| format!("could not open {}", args.input.display()))?;
    eprintln!("custody open: OFFLINE mode (no broker release, not single-use)");

    let mut temp = temp_beside(&args.output)?;
    let header = open_with(
        &options,
        device.hpke_key(),
        &trusted,
        &context,
        unix_now()?,
        input,
        BufWriter::with_capacity(1 << 20, temp.as_file_mut()),
    )
    .with_context(|| format!("refused to open {}", args.input.display()))?;
    temp.as_file()
        .sync_all()
        .context("could not flush the plaintext")?;
    temp.persist(&args.output)
        .with_context(|| format!("could not write {}", args.output.display()))?;
    eprintln!(
        "opened export {} (tenant {}, case {}, requested by {}), {} bytes written to {}",
        header.export_id,
        header.tenant,
        header.case,
        header.requester,
        header.content_length,
        args.output.display()
    );
    Ok(crate::EXIT_CLEAN)
}
