//! `custody token`: generate keys, publish a JWKS, issue, prove, inspect and verify
//! access tokens locally (for operators and tests). The logic lives in `custody-token`.
//!
//! Key files are private Ed25519 JWKs (RFC 8037: `kty` OKP, `crv` Ed25519, `x`, `d`),
//! written with mode 0600 and refused when readable by group or others. The device
//! proof-of-possession key written by `custody device init` (`pop.jwk`) has this form,
//! and a device directory may be given in its place.

use std::fs;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use custody_token::{
    Authority, Clock as _, Ed25519KeyPair, IssueRequest, KeyRing, KeySet, MemoryRefreshStore,
    MemoryReplayCache, MemoryRevocationStore, NetworkContext, NonceValidator, ProofRequest,
    Request, RevocationEntry, SystemClock, Thumbprint, Timestamp, TokenClass, Verifier,
    VerifierConfig, create_proof, inspect,
};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::{EXIT_CLEAN, EXIT_FINDINGS};

/// The issuer name used when `--issuer` is not given.
const DEFAULT_ISSUER: &str = "urn:custody:local";

/// Subcommands of `custody token`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Generate an Ed25519 key (authority signing key or client PoP key) as a private
    /// JWK file with mode 0600; prints its kid (RFC 7638 thumbprint).
    Keygen {
        /// File to create (must not exist).
        #[arg(long, short = 'o')]
        out: PathBuf,
    },
    /// Print the JWKS publishing the public halves of authority keys (several with
    /// rotation: the active key and those not yet retired).
    Jwks {
        /// Authority key file(s).
        #[arg(long = "key", required = true)]
        keys: Vec<PathBuf>,
    },
    /// Print the RFC 7638 thumbprint (`jkt`) of a key file.
    Thumbprint {
        /// Key file, or a device directory holding `pop.jwk`.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the network-context hash of a descriptor such as `asn:64500`.
    Context {
        /// The descriptor (an ASN or address prefix, per policy).
        descriptor: String,
    },
    /// Issue an access token bound to a client key and network context; prints it.
    Issue(IssueArgs),
    /// Create a DPoP proof (client side) for one request; prints it.
    Proof(ProofArgs),
    /// Show a token's header and claims as JSON, without its signature and WITHOUT
    /// verifying it.
    Inspect {
        /// The token (`-` reads it from stdin).
        token: String,
    },
    /// Verify a token and its proof as a node would. Exit 0 valid, 1 refused (reason
    /// printed), 2 error.
    Verify(VerifyArgs),
}

/// Arguments of `custody token issue`.
#[derive(Debug, clap::Args)]
pub struct IssueArgs {
    /// Authority signing key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Token class: customer_admin, support_agent or service_account.
    #[arg(long)]
    pub class: TokenClass,
    /// Principal (`sub`).
    #[arg(long)]
    pub sub: String,
    /// Tenant scope.
    #[arg(long)]
    pub tenant: String,
    /// Thumbprint of the client's PoP key (`cnf.jkt`).
    #[arg(long, allow_hyphen_values = true)]
    pub jkt: String,
    /// Network context: a descriptor such as `asn:64500`, or its hash (43 base64url
    /// characters, see `custody token context`, or 64 hex digits as `custody seal` prints).
    #[arg(long, allow_hyphen_values = true)]
    pub context: String,
    /// Lifetime in seconds (default and maximum: the class lifetime).
    #[arg(long)]
    pub ttl: Option<u64>,
    /// Issuer name (`iss`).
    #[arg(long, default_value = DEFAULT_ISSUER)]
    pub issuer: String,
    /// OAuth client id.
    #[arg(long, default_value = "custody-cli")]
    pub client_id: String,
}

/// Arguments of `custody token proof`.
#[derive(Debug, clap::Args)]
pub struct ProofArgs {
    /// The client's PoP key file, or a device directory holding `pop.jwk`.
    #[arg(long)]
    pub pop_key: PathBuf,
    /// HTTP method.
    #[arg(long)]
    pub method: String,
    /// Request URL.
    #[arg(long)]
    pub url: String,
    /// The access token the request carries (`-` reads it from stdin).
    #[arg(long)]
    pub token: Option<String>,
    /// Server nonce from the last `DPoP-Nonce` header.
    #[arg(long, allow_hyphen_values = true)]
    pub nonce: Option<String>,
}

/// Arguments of `custody token verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// JWKS file of the trusted authority keys.
    #[arg(long)]
    pub jwks: PathBuf,
    /// The class this endpoint requires.
    #[arg(long)]
    pub class: TokenClass,
    /// HTTP method of the request.
    #[arg(long)]
    pub method: String,
    /// Request URL.
    #[arg(long)]
    pub url: String,
    /// The DPoP proof sent with the request.
    #[arg(long)]
    pub proof: String,
    /// Network context observed for the request (descriptor or hash, as for `issue`).
    #[arg(long, allow_hyphen_values = true)]
    pub context: String,
    /// The nonce this server handed out (required for agent and service classes).
    #[arg(long, allow_hyphen_values = true)]
    pub nonce: Option<String>,
    /// Trusted issuer name.
    #[arg(long, default_value = DEFAULT_ISSUER)]
    pub issuer: String,
    /// Revocation entries (a JSON array, applied in order) current as of now.
    #[arg(
        long,
        conflicts_with = "no_revocation_feed",
        required_unless_present = "no_revocation_feed"
    )]
    pub revocations: Option<PathBuf>,
    /// Verify with an empty revocation state (local testing only; says so).
    #[arg(long)]
    pub no_revocation_feed: bool,
    /// The access token (`-` reads it from stdin).
    pub token: String,
}

/// Runs `custody token`.
pub fn run(command: Command) -> anyhow::Result<u8> {
    let now = SystemClock.now();
    match command {
        Command::Keygen { out } => {
            let key = Ed25519KeyPair::generate(&mut OsRng);
            write_private(&out, &key.to_private_jwk_json())?;
            println!("{}", key.thumbprint());
        }
        Command::Jwks { keys } => {
            let publics = keys
                .iter()
                .map(|path| read_key(path).map(|key| key.public_jwk()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            println!("{}", KeySet::from_keys(publics).to_jwks_json());
        }
        Command::Thumbprint { key } => println!("{}", read_key(&key)?.thumbprint()),
        Command::Context { descriptor } => {
            println!("{}", NetworkContext::from_descriptor(&descriptor));
        }
        Command::Issue(args) => issue(args, now)?,
        Command::Proof(args) => {
            let key = read_key(&args.pop_key)?;
            let token = args.token.map(|text| read_arg(&text)).transpose()?;
            let request = ProofRequest {
                method: &args.method,
                url: &args.url,
                access_token: token.as_deref().map(|text| text.as_str()),
                nonce: args.nonce.as_deref(),
            };
            println!("{}", create_proof(&key, &request, now, &mut OsRng)?);
        }
        Command::Inspect { token } => {
            let token = read_arg(&token)?;
            let shown = inspect(&token).context("cannot inspect token")?;
            let document = serde_json::json!({
                "header": shown.header,
                "claims": shown.claims,
                "note": "signature omitted and NOT verified",
            });
            println!("{}", serde_json::to_string_pretty(&document)?);
        }
        Command::Verify(args) => return verify(args, now),
    }
    Ok(EXIT_CLEAN)
}

/// The nonce the operator handed out, as the only current one.
struct ExpectedNonce(Option<String>);

impl NonceValidator for ExpectedNonce {
    fn is_current(&self, nonce: &str, _now: Timestamp) -> bool {
        self.0.as_deref().is_some_and(|expected| {
            expected.len() == nonce.len()
                && expected
                    .bytes()
                    .zip(nonce.bytes())
                    .fold(0_u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
    }
}

/// `custody token issue`: one access token from a local authority key.
fn issue(args: IssueArgs, now: Timestamp) -> anyhow::Result<()> {
    let authority = Authority::new(
        args.issuer,
        KeyRing::new(read_key(&args.key)?),
        Arc::new(MemoryRevocationStore::new()),
        Arc::new(MemoryRefreshStore::new()),
    );
    let request = IssueRequest {
        class: args.class,
        subject: args.sub,
        tenant: args.tenant,
        client_id: args.client_id,
        jkt: Thumbprint::parse(&args.jkt).context("--jkt is not an RFC 7638 thumbprint")?,
        network: parse_context(&args.context)?,
        lifetime: args.ttl.map(Duration::from_secs),
        with_refresh: false,
    };
    let issued = authority.issue(&request, now, &mut OsRng)?;
    println!("{}", issued.access_token.expose_secret());
    Ok(())
}

/// `custody token verify`: decide one request as a node would.
fn verify(args: VerifyArgs, now: Timestamp) -> anyhow::Result<u8> {
    let jwks_text = fs::read_to_string(&args.jwks)
        .with_context(|| format!("cannot read {}", args.jwks.display()))?;
    let keys = KeySet::from_jwks_json(&jwks_text)
        .with_context(|| format!("invalid JWKS {}", args.jwks.display()))?;
    let verifier = Verifier::new(
        VerifierConfig::new(args.issuer),
        keys,
        Arc::new(MemoryReplayCache::new(1024)),
        Arc::new(ExpectedNonce(args.nonce)),
    );
    let mut head = 0;
    if let Some(path) = &args.revocations {
        let text =
            fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        let entries: Vec<RevocationEntry> = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a JSON array of revocation entries",
                path.display()
            )
        })?;
        for entry in &entries {
            verifier
                .apply_revocation(entry)
                .with_context(|| format!("cannot apply {}", path.display()))?;
            head = entry.version;
        }
    } else if args.no_revocation_feed {
        eprintln!("custody: warning: no revocation feed given: revocation is NOT checked");
    }
    verifier.confirm_revocations(head, now)?;
    let token = read_arg(&args.token)?;
    let network = parse_context(&args.context)?;
    let request = Request {
        required_class: args.class,
        method: &args.method,
        url: &args.url,
        access_token: &token,
        proof: &args.proof,
        network: &network,
    };
    match verifier.verify(&request, now) {
        Ok(verified) => {
            let claims = verified.claims();
            println!(
                "valid: class={} sub={} tenant={} sid={} jti={} exp={}",
                claims.cls, claims.sub, claims.tenant, claims.sid, claims.jti, claims.exp
            );
            Ok(EXIT_CLEAN)
        }
        Err(refusal) => {
            println!("refused: {refusal}");
            Ok(EXIT_FINDINGS)
        }
    }
}

fn parse_context(text: &str) -> anyhow::Result<NetworkContext> {
    NetworkContext::from_descriptor_or_hash(text).context(
        "--context must be a descriptor such as asn:64500, or a network-context hash (43 base64url characters as `custody token context` prints, or 64 hex digits)",
    )
}

/// Reads a token given as an argument, or from stdin when it is `-`.
fn read_arg(text: &str) -> anyhow::Result<Zeroizing<String>> {
    if text != "-" {
        return Ok(Zeroizing::new(text.to_owned()));
    }
    let mut buffer = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut buffer)
        .context("cannot read the token from stdin")?;
    Ok(Zeroizing::new(buffer.trim().to_owned()))
}

/// Reads a private Ed25519 JWK (or `DIR/pop.jwk`), refusing group/other-readable files.
fn read_key(path: &Path) -> anyhow::Result<Ed25519KeyPair> {
    let path = if path.is_dir() {
        path.join("pop.jwk")
    } else {
        path.to_path_buf()
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "{} is readable by group or others (mode {:o}); run chmod 600",
                path.display(),
                mode & 0o777
            );
        }
    }
    let text = Zeroizing::new(
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?,
    );
    Ed25519KeyPair::from_jwk_json(&text).with_context(|| format!("invalid key {}", path.display()))
}

/// Creates `path` with mode 0600 (never overwrites) and writes the private JWK.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}
