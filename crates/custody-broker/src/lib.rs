//! custody's Controlled Artifact Broker: the use cases of the support plane (DESIGN.md
//! §3, §4, §6, §7): sign-in with device keys, tenants, principals and cases, upload
//! (sanitize, scan, encrypt, store in one pass), view, download and export as distinct
//! audited acts. Every use case is decided by the policy engine (fail-closed) and
//! appends its audit event before any byte leaves (I4). The HTTP server is a thin layer
//! over [`Broker`].
//!
//! - [`Broker`]: opened over a data directory ([`BrokerOptions`]).
//! - [`Caller`]: an authenticated request (token, proof, device, network).
//! - [`atrest`]: envelope encryption of stored artifacts with per-tenant data keys.
//! - [`check`]: `custody check`, the invariants of DESIGN §2 evaluated on the
//!   deployment ([`Broker::check`]).
//! - [`keys`]: the server's key files.
//! - [`revocations`]: the persisted revocation log of the Token Authority, and
//!   revocation by token, session, principal, device and tenant.
//! - [`bundles`]: signed revocation bundles, staged per tenant and executed in one
//!   call ([`Broker::stage_revocation_bundle`], [`Broker::execute_revocation_bundle`]).
//! - [`service_accounts`]: service accounts created and widened through a quorum.
//! - [`containment`]: containment actions for the detection bus ([`Broker::contain`]).
//! - [`watch`]: the detection bus wired in: signals published, findings contained.

pub mod artifacts;
pub mod atrest;
mod audit;
mod authz;
pub mod bundles;
pub mod check;
pub mod containment;
pub mod directory;
mod error;
pub mod exports;
pub mod grants;
pub mod identity;
pub mod keys;
pub mod revocations;
pub mod service_accounts;
pub mod view;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use custody_audit::log::{AuditLog, Checkpointer, LogOptions};
use custody_audit::store::{SegmentOptions, SegmentStore};
use custody_policy::{BundleVerifier, PolicyEngine, SignedBundle, TrustRoot};
use custody_scan::Scanner;
use custody_store::{BlobStore, Store};
use custody_token::dpop::NonceIssuer;
use custody_token::{
    Authority, Clock, KeyRing, MemoryRefreshStore, MemoryReplayCache, SystemClock, Timestamp,
    Verifier, VerifierConfig,
};

pub use error::BrokerError;
pub use identity::{Caller, HttpFacts};

/// The settings key under which the active signed policy bundle is kept.
pub const POLICY_BUNDLE_SETTING: &str = "policy.active_bundle";
/// The file (under `keys/`) holding the policy release trust root.
pub const POLICY_TRUST_FILE: &str = "policy-trust.json";

/// Called once per policy decision with the action and whether it was allowed
/// (the server counts them as metrics).
pub type DecisionHook = Arc<dyn Fn(&'static str, bool) + Send + Sync>;

/// Where and how the broker runs.
#[derive(Clone)]
pub struct BrokerOptions {
    /// The data directory (created 0700 if missing).
    pub data_dir: PathBuf,
    /// Database URL; `None` means the embedded SQLite file `custody.db` in the data
    /// directory.
    pub database_url: Option<String>,
    /// The public base URL clients use (`http://127.0.0.1:8443`); DPoP `htu` values
    /// are checked against it and it is the token issuer.
    pub public_url: String,
    /// Decision observer (metrics).
    pub on_decision: Option<DecisionHook>,
    /// The broker's one time source: tokens, proofs, revocation epochs, grants,
    /// exports, audit events and the detection bus all read it (default: the system
    /// clock; `custody simulate` injects a clock it can move forward).
    pub clock: Arc<dyn Clock>,
    /// Safety controls switched off (only the unsafe baseline of `custody simulate`).
    pub dangerous: Dangerous,
}

/// **Dangerous.** Safety controls that only the unsafe baseline of `custody simulate
/// okta-2023 --unsafe-baseline` switches off, to show what they prevent. No
/// configuration file, flag of `custody serve` or environment variable reaches them;
/// the default has every control on. A broker opened with any of them off logs an
/// error-level warning at start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Dangerous {
    /// Store uploads as they came, with no sanitizing, no re-scan and no refusal, and
    /// show them unscanned (I1 off).
    pub store_unsanitized: bool,
    /// Accept access tokens as bearer tokens: no proof of possession and no network
    /// binding (I2 off).
    pub bearer_tokens: bool,
}

impl Dangerous {
    /// Whether any control is off.
    pub fn any(&self) -> bool {
        self.store_unsanitized || self.bearer_tokens
    }
}

impl BrokerOptions {
    /// Options over `data_dir` with the embedded SQLite database, the system clock
    /// and no decision observer.
    pub fn new(data_dir: PathBuf, public_url: String) -> Self {
        Self {
            data_dir,
            database_url: None,
            public_url,
            on_decision: None,
            clock: Arc::new(SystemClock),
            dangerous: Dangerous::default(),
        }
    }
}

impl std::fmt::Debug for BrokerOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerOptions")
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// The broker: every use case of the support plane.
pub struct Broker {
    data_dir: PathBuf,
    /// Held for the broker's life: one process per data directory (the audit log and
    /// the revocation log have one writer).
    _lock: std::fs::File,
    store: Store,
    blobs: BlobStore,
    policy: PolicyEngine,
    audit: Arc<AuditLog<SegmentStore>>,
    _checkpointer: Checkpointer,
    authority: Authority,
    verifier: Verifier,
    nonces: Arc<NonceIssuer>,
    kek: atrest::Kek,
    seal_key: Arc<custody_seal::SigningKey>,
    scanner: Arc<Scanner>,
    public_url: String,
    on_decision: Option<DecisionHook>,
    /// The detection bus's publishing end, once [`watch::start`] ran.
    watch: std::sync::OnceLock<watch::Tap>,
    clock: Arc<dyn Clock>,
    dangerous: Dangerous,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("public_url", &self.public_url)
            .field("policy_bundle", &self.policy.bundle_id())
            .finish_non_exhaustive()
    }
}

/// The broker's clock seen by the audit log's checkpointer.
struct AuditClock(Arc<dyn Clock>);

impl custody_audit::log::Clock for AuditClock {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.0.now().unix_millis()).unwrap_or(i64::MAX)
    }
}

/// The broker's clock seen by the detection bus.
pub(crate) struct WatchClock(pub(crate) Arc<dyn Clock>);

impl custody_watch::Clock for WatchClock {
    fn now_ms(&self) -> i64 {
        i64::try_from(self.0.now().unix_millis()).unwrap_or(i64::MAX)
    }
}

fn internal(what: &str) -> impl FnOnce(String) -> BrokerError + '_ {
    move |e| BrokerError::Internal(format!("{what}: {e}"))
}

impl Broker {
    /// Opens the broker over `options.data_dir`, creating what is missing (keys,
    /// database, blob and audit directories). Without an activated policy bundle every
    /// decision is a deny (run `custody init` first).
    pub async fn open(options: BrokerOptions) -> Result<Self, BrokerError> {
        let dir = options.data_dir.clone();
        if options.dangerous.any() {
            tracing::error!(
                dangerous.store_unsanitized = options.dangerous.store_unsanitized,
                dangerous.bearer_tokens = options.dangerous.bearer_tokens,
                "UNSAFE BASELINE: safety controls are off; never serve real data with this broker"
            );
        }
        keys::private_dir(&dir).map_err(|e| internal("data directory")(e.to_string()))?;
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| internal("data directory lock")(e.to_string()))?;
        lock.try_lock().map_err(|_| {
            BrokerError::Conflict(format!(
                "data directory {} is in use by another custody process",
                dir.display()
            ))
        })?;
        let origin = audit_origin(&options.public_url);
        let server_keys = keys::ServerKeys::load_or_create(&dir.join("keys"), &origin)
            .map_err(|e| internal("keys")(e.to_string()))?;
        let store = match &options.database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_sqlite(&dir.join("custody.db")).await?,
        };
        let blobs = BlobStore::open(&dir.join("blobs"))?;
        let segment = SegmentStore::open(&dir.join("audit"), SegmentOptions::default())
            .map_err(|e| internal("audit store")(e.to_string()))?;
        let audit = Arc::new(
            AuditLog::open(segment, server_keys.audit, LogOptions::new(&origin))
                .map_err(|e| internal("audit log")(e.to_string()))?,
        );
        let checkpointer = Checkpointer::spawn(
            Arc::clone(&audit),
            Arc::new(AuditClock(Arc::clone(&options.clock))),
            Duration::from_millis(100),
            |e| tracing::error!(error.detail = %e, "audit checkpoint failed"),
        );
        let policy = load_policy(&store, &dir, secs(options.clock.now())).await?;
        let revocations = Arc::new(
            revocations::FileRevocationStore::open(&dir.join("revocations.jsonl"))
                .map_err(|e| internal("revocation log")(e.to_string()))?,
        );
        let authority = Authority::new(
            options.public_url.clone(),
            KeyRing::new(server_keys.authority.clone()),
            revocations,
            Arc::new(MemoryRefreshStore::new()),
        );
        let nonces = Arc::new(NonceIssuer::from_key(server_keys.nonce.clone(), 60));
        let verifier = Verifier::new(
            VerifierConfig::new(options.public_url.clone()),
            authority.key_set(),
            Arc::new(MemoryReplayCache::new(1_000_000)),
            Arc::clone(&nonces) as Arc<dyn custody_token::dpop::NonceValidator>,
        );
        Ok(Self {
            data_dir: dir,
            _lock: lock,
            store,
            blobs,
            policy,
            audit,
            _checkpointer: checkpointer,
            authority,
            verifier,
            nonces,
            kek: server_keys.kek,
            seal_key: Arc::new(server_keys.seal),
            scanner: Arc::new(Scanner::new()),
            public_url: options.public_url,
            on_decision: options.on_decision,
            watch: std::sync::OnceLock::new(),
            clock: options.clock,
            dangerous: options.dangerous,
        })
    }

    /// Now, from the broker's clock.
    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Seconds since the Unix epoch, now (the broker's clock).
    pub(crate) fn now_secs(&self) -> i64 {
        secs(self.clock.now())
    }

    /// Seconds since the Unix epoch, now, unsigned (the broker's clock).
    pub(crate) fn now_u64(&self) -> u64 {
        self.clock.now().unix_secs()
    }

    /// Milliseconds since the Unix epoch, now (the broker's clock).
    pub(crate) fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().unix_millis()).unwrap_or(i64::MAX)
    }

    /// The broker's clock (shared with the detection bus it starts).
    pub fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The `keys/` folder of the data directory.
    pub(crate) fn data_dir_keys(&self) -> PathBuf {
        self.data_dir.join("keys")
    }

    /// The store (for the server's readiness probe and for `custody init`).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The id of the active policy bundle, if any.
    pub fn policy_bundle_id(&self) -> Option<String> {
        self.policy.bundle_id()
    }

    /// The Token Authority's published keys, as a JWKS document.
    pub fn jwks_json(&self) -> String {
        self.authority.key_set().to_jwks_json()
    }

    /// The audit log (read side: checkpoints, proofs).
    pub fn audit_log(&self) -> &AuditLog<SegmentStore> {
        &self.audit
    }

    /// The public base URL.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The detector's rules version.
    pub fn rules_version(&self) -> &str {
        self.scanner.rules_version()
    }
}

/// Whole seconds since the Unix epoch of `t`.
fn secs(t: Timestamp) -> i64 {
    i64::try_from(t.unix_secs()).unwrap_or(i64::MAX)
}

/// The audit log origin line for a deployment (C2SP checkpoint origin).
fn audit_origin(public_url: &str) -> String {
    let host = public_url
        .split_once("://")
        .map_or(public_url, |(_, rest)| rest)
        .trim_end_matches('/');
    format!("{host}/custody-audit")
}

/// Loads the active bundle from the store and verifies it against the trust root
/// in `keys/`. No trust root or no bundle: an empty engine, which denies everything.
/// A bundle that fails verification is an error (the node must not start on it).
async fn load_policy(store: &Store, dir: &Path, now: i64) -> Result<PolicyEngine, BrokerError> {
    let trust_path = dir.join("keys").join(POLICY_TRUST_FILE);
    let Ok(trust_text) = std::fs::read_to_string(&trust_path) else {
        return Ok(PolicyEngine::new());
    };
    let root = TrustRoot::from_json(&trust_text)
        .map_err(|e| internal("policy trust root")(e.to_string()))?;
    let Some(bytes) = store.setting(POLICY_BUNDLE_SETTING).await? else {
        return Ok(PolicyEngine::new());
    };
    let bundle = SignedBundle::from_json(&bytes)
        .map_err(|e| internal("stored policy bundle")(e.to_string()))?;
    let now = u64::try_from(now).unwrap_or(0);
    let verified = BundleVerifier::new(root)
        .verify(&bundle, now)
        .map_err(|e| internal("stored policy bundle")(e.to_string()))?;
    Ok(PolicyEngine::with_bundle(verified))
}
