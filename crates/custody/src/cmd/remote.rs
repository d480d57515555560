//! Commands that talk to a custody server with this device's key: `enrol`, `login`,
//! `call`, `upload`, `download`. The session (server URL and DPoP-bound access token)
//! is kept in the device directory as `session.json` (0600); the token is useless
//! without the device's private key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use custody_client::{Body, Client, Reply};

use crate::cmd::device::device_dir;
use crate::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

const SESSION_FILE: &str = "session.json";

/// Arguments of `custody enrol`.
#[derive(Debug, clap::Args)]
pub struct EnrolArgs {
    /// Server URL (e.g. http://127.0.0.1:8443).
    #[arg(long)]
    pub server: String,
    /// The one-time enrolment code.
    #[arg(long)]
    pub code: String,
    /// Device directory (default: `$CUSTODY_DEVICE_DIR`, else ~/.config/custody/device).
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody login`.
#[derive(Debug, clap::Args)]
pub struct LoginArgs {
    /// Server URL.
    #[arg(long)]
    pub server: String,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody call`.
#[derive(Debug, clap::Args)]
pub struct CallArgs {
    /// HTTP method (GET, POST, PUT...).
    pub method: String,
    /// Path, e.g. /v1/cases.
    pub path: String,
    /// JSON body.
    #[arg(long)]
    pub json: Option<String>,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody upload`.
#[derive(Debug, clap::Args)]
pub struct UploadArgs {
    /// The case id.
    #[arg(long)]
    pub case: String,
    /// The artifact (HAR, JSON, text, zip).
    pub file: PathBuf,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody download`.
#[derive(Debug, clap::Args)]
pub struct DownloadArgs {
    /// The artifact id.
    pub artifact: String,
    /// Output file.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Session {
    server: String,
    access_token: String,
}

fn save_session(dir: &Path, session: &Session) -> anyhow::Result<()> {
    let path = dir.join(SESSION_FILE);
    let tmp = dir.join(".session.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.write_all(serde_json::to_string(session)?.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))
}

pub(crate) fn session_client(flag: Option<PathBuf>) -> anyhow::Result<Client> {
    let dir = device_dir(flag)?;
    let path = dir.join(SESSION_FILE);
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no session in {}: run `custody login` first", dir.display()))?;
    let session: Session =
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))?;
    let mut client = Client::for_device(&session.server, &dir)?;
    client.set_token(session.access_token);
    Ok(client)
}

/// Prints a reply (JSON pretty-printed) and maps its status to an exit code:
/// 2xx success, 4xx refusal (1), anything else error (2).
pub(crate) fn report(reply: &Reply) -> anyhow::Result<u8> {
    let json = reply.json();
    let mut out = std::io::stdout().lock();
    if json.is_null() {
        out.write_all(&reply.body)?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
    }
    Ok(match reply.status {
        200..=299 => EXIT_CLEAN,
        400..=499 => EXIT_FINDINGS,
        _ => EXIT_ERROR,
    })
}

/// Runs `custody enrol`.
pub fn run_enrol(args: EnrolArgs) -> anyhow::Result<u8> {
    let dir = device_dir(args.device_dir)?;
    let public = std::fs::read_to_string(dir.join("device.json")).with_context(|| {
        format!(
            "no device identity in {}: run `custody device init`",
            dir.display()
        )
    })?;
    let client = Client::for_device(&args.server, &dir)?;
    report(&client.enrol(&args.code, &public)?)
}

/// Runs `custody login`.
pub fn run_login(args: LoginArgs) -> anyhow::Result<u8> {
    let dir = device_dir(args.device_dir)?;
    let mut client = Client::for_device(&args.server, &dir)?;
    let answer = client.login()?;
    let token = client.token().context("no token")?.to_owned();
    save_session(
        &dir,
        &Session {
            server: client.base().to_owned(),
            access_token: token,
        },
    )?;
    println!(
        "signed in as {} ({}); token expires in {} s",
        answer
            .get("principal_id")
            .and_then(|v| v.as_str())
            .unwrap_or("?"),
        answer.get("class").and_then(|v| v.as_str()).unwrap_or("?"),
        answer
            .get("expires_in")
            .and_then(|v| v.as_u64())
            .unwrap_or(0)
    );
    Ok(EXIT_CLEAN)
}

/// Runs `custody call`.
pub fn run_call(args: CallArgs) -> anyhow::Result<u8> {
    let client = session_client(args.device_dir)?;
    let body = match args.json {
        Some(text) => Body::Json(serde_json::from_str(&text).context("--json is not valid JSON")?),
        None => Body::Empty,
    };
    report(&client.call(&args.method.to_ascii_uppercase(), &args.path, &body)?)
}

/// Runs `custody upload`.
pub fn run_upload(args: UploadArgs) -> anyhow::Result<u8> {
    let client = session_client(args.device_dir)?;
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let path = format!("/v1/cases/{}/artifacts?name={encoded}", args.case);
    report(&client.call(
        "POST",
        &path,
        &Body::Bytes(bytes, "application/octet-stream"),
    )?)
}

/// Runs `custody download`.
pub fn run_download(args: DownloadArgs) -> anyhow::Result<u8> {
    let client = session_client(args.device_dir)?;
    let reply = client.call(
        "GET",
        &format!("/v1/artifacts/{}/download", args.artifact),
        &Body::Empty,
    )?;
    if reply.status != 200 {
        return report(&reply);
    }
    std::fs::write(&args.output, &reply.body)
        .with_context(|| format!("cannot write {}", args.output.display()))?;
    eprintln!(
        "wrote {} bytes to {}",
        reply.body.len(),
        args.output.display()
    );
    Ok(EXIT_CLEAN)
}

/// Arguments of `custody approve`.
#[derive(Debug, clap::Args)]
pub struct ApproveArgs {
    /// The approval request id (`apr_...`), from a grant or export request.
    pub approval: String,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Ask for the export of this artifact (prints the approval request to get signed).
    #[arg(long, conflicts_with = "approval")]
    pub artifact: Option<String>,
    /// Fetch the export approved under this approval request id.
    #[arg(long, requires = "output")]
    pub approval: Option<String>,
    /// Where to write the export file.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Arguments of `custody open-export`.
#[derive(Debug, clap::Args)]
pub struct OpenExportArgs {
    /// The export file.
    pub file: PathBuf,
    /// Where to write the artifact.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Device directory.
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// Runs `custody approve`: signs the exact request with this device's key.
pub fn run_approve(args: ApproveArgs) -> anyhow::Result<u8> {
    let dir = device_dir(args.device_dir.clone())?;
    let client = session_client(args.device_dir)?;
    let me = client.call("GET", "/v1/me", &Body::Empty)?;
    if me.status != 200 {
        return report(&me);
    }
    let principal = me
        .json()
        .get("principal_id")
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .context("the server did not say who you are")?;
    let identity = custody_seal::DeviceIdentity::load(&dir)?;
    report(&client.approve(
        &args.approval,
        &principal,
        identity.pop_key().secret_bytes(),
    )?)
}

/// Runs `custody export`.
pub fn run_export(args: ExportArgs) -> anyhow::Result<u8> {
    let client = session_client(args.device_dir)?;
    match (args.artifact, args.approval, args.output) {
        (Some(artifact), None, _) => report(&client.call(
            "POST",
            &format!("/v1/artifacts/{artifact}/export-requests"),
            &Body::Empty,
        )?),
        (None, Some(approval), Some(output)) => {
            let body = Body::Json(serde_json::json!({ "approval_request_id": approval }));
            let reply = client.call("POST", "/v1/artifact-exports", &body)?;
            if reply.status != 201 {
                return report(&reply);
            }
            std::fs::write(&output, &reply.body)
                .with_context(|| format!("cannot write {}", output.display()))?;
            eprintln!(
                "wrote the export to {}; open it within 5 minutes with `custody open-export`",
                output.display()
            );
            Ok(EXIT_CLEAN)
        }
        _ => anyhow::bail!("give --artifact ID, or --approval ID with -o FILE"),
    }
}

/// Runs `custody open-export`: asks the server for the release key (once) and opens
/// the sealed envelope with this device's key.
pub fn run_open_export(args: OpenExportArgs) -> anyhow::Result<u8> {
    let dir = device_dir(args.device_dir.clone())?;
    let client = session_client(args.device_dir)?;
    let file = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    match client.open_export(&file, &dir) {
        Ok(bytes) => {
            std::fs::write(&args.output, &bytes)
                .with_context(|| format!("cannot write {}", args.output.display()))?;
            eprintln!(
                "opened {} bytes into {}",
                bytes.len(),
                args.output.display()
            );
            Ok(EXIT_CLEAN)
        }
        Err(custody_client::ClientError::Release { status, problem }) => {
            eprintln!("custody: the server refused to release the key ({status}, {problem})");
            Ok(EXIT_FINDINGS)
        }
        Err(other) => Err(other.into()),
    }
}
