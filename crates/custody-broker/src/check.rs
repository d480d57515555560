//! `custody check`: the invariants of DESIGN.md §2 evaluated on the deployment's own
//! state ([`Broker::check`] returns a [`CheckReport`]).
//!
//! What is checked, and how:
//! - I1: every stored artifact is decrypted with its tenant data key and re-read by
//!   the current detector in its kind (`custody-har` inspect); any finding is a
//!   violation naming the artifact, the JSON pointer or line, and the rule id. Each
//!   re-scan is a system `transform` audit event appended before the read (I4).
//! - I2: the persisted revocation log parses and the verifier has applied all of it;
//!   the token class lifetimes are within the §6 maxima; every active device key is
//!   well-formed and matches its stored thumbprint. Tokens are not stored, so they
//!   cannot be checked here (a note says so).
//! - I4: the audit log verifies (`custody_audit::verify::verify_dir`) and its
//!   latest signed checkpoint covers the log within one second.
//! - I5: a verified, unexpired policy bundle is active.
//! - I6: approved grants expire at most one hour after their approval (no standing
//!   access); service accounts have a function and a non-empty tenant list.
//! - I7: exports have a window of at most five minutes, and a released export records
//!   its release time.
//!
//! The report names ids, rule ids and locations only, never a value. The check is a
//! policy decision (`deployment.check`: operators and security reviewers) and is
//! audited (a `finding` event, kind of a detector report, allowed or denied).

use std::io::{self, BufRead};
use std::sync::Arc;
use std::time::Duration;

use custody_audit::event::EventKind;
use custody_har::artifact::{self, ArtifactOptions, Kind};
use custody_policy::{Action, ResourceRef};
use custody_scan::Redactor;
use custody_store::{
    Artifact, ArtifactKind, DeviceStatus, ExportState, GrantStatus, PrincipalClass,
};
use custody_token::TokenClass;
use serde::Serialize;

use crate::atrest::BlobReader;
use crate::audit::Act;
use crate::authz::FactSet;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// The longest a grant may stay valid after its approval (no standing access).
pub const MAX_GRANT_SECS: i64 = 3600;
/// The longest export window (I7, DESIGN §7 default).
pub const MAX_EXPORT_WINDOW_SECS: i64 = 300;
/// How long the audit checkpoint may trail the log (I4).
pub const MAX_CHECKPOINT_LAG: Duration = Duration::from_secs(1);
/// At most this many I1 findings are listed per artifact (the count is exact).
pub const MAX_FINDINGS_PER_ARTIFACT: usize = 20;

/// One violated invariant: which, what, and where (ids only, never a value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The invariant of DESIGN.md §2 (`I1` .. `I8`).
    pub invariant: &'static str,
    /// A stable code for what is wrong (`artifact.replayable`, `grant.standing_access`).
    pub what: &'static str,
    /// The kind of the subject (`artifact`, `grant`, `principal`, `device`, `export`,
    /// `audit_log`, `policy_bundle`, `revocation_log`, `token_class`, `deployment`).
    pub subject_kind: &'static str,
    /// The subject's id.
    pub subject: String,
    /// Where inside the subject (JSON pointer, `line N`, zip entry), if it applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The detector rule id, for I1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
    /// A short explanation with figures (no values).
    pub detail: String,
}

/// What the check looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckCounts {
    /// Artifacts re-scanned.
    pub artifacts: u64,
    /// Grants examined.
    pub grants: u64,
    /// Exports examined.
    pub exports: u64,
    /// Service accounts examined.
    pub service_accounts: u64,
    /// Active device keys examined.
    pub devices: u64,
    /// Revocation log entries read.
    pub revocations: u64,
    /// Audit records verified.
    pub audit_records: u64,
}

/// The result of [`Broker::check`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    /// True when there is no violation.
    pub clean: bool,
    /// When the check ran, Unix seconds.
    pub checked_at: i64,
    /// The active policy bundle, if any.
    pub policy_bundle_id: Option<String>,
    /// The detector's rules version used for the I1 re-scan.
    pub rules_version: String,
    /// What was examined.
    pub counts: CheckCounts,
    /// Every violation found.
    pub violations: Vec<Violation>,
    /// What could not be checked from the deployment's own state, and why.
    pub notes: Vec<String>,
}

impl Violation {
    fn new(
        invariant: &'static str,
        what: &'static str,
        subject_kind: &'static str,
        subject: &str,
        detail: String,
    ) -> Self {
        Self {
            invariant,
            what,
            subject_kind,
            subject: subject.to_owned(),
            location: None,
            rule_id: None,
            detail,
        }
    }
}

/// Accumulates violations.
#[derive(Default)]
struct Findings {
    violations: Vec<Violation>,
}

impl Findings {
    /// Records a violation without a location.
    fn add(
        &mut self,
        invariant: &'static str,
        what: &'static str,
        subject_kind: &'static str,
        subject: &str,
        detail: String,
    ) {
        self.violations.push(Violation::new(
            invariant,
            what,
            subject_kind,
            subject,
            detail,
        ));
    }
}

fn kind_of(kind: ArtifactKind) -> Kind {
    match kind {
        ArtifactKind::Har => Kind::Har,
        ArtifactKind::Json => Kind::Json,
        ArtifactKind::Text => Kind::Text,
        ArtifactKind::Zip => Kind::Zip,
    }
}

/// One I1 finding of a re-scan: where and which rule (never the value).
struct RescanFinding {
    location: Option<String>,
    rule_id: &'static str,
    class: &'static str,
}

impl Broker {
    /// Evaluates the invariants on this deployment (see the module docs). Decided by
    /// policy (`deployment.check`) and audited; a deny is audited and returns
    /// [`BrokerError::Forbidden`].
    pub async fn check(&self, caller: &Caller) -> Result<CheckReport, BrokerError> {
        let bundle = self.policy.bundle_id();
        let resource = ResourceRef::PolicyBundle {
            id: bundle.clone().unwrap_or_else(|| "none".to_owned()),
        };
        let mut set = FactSet::default();
        if matches!(
            caller.principal.class,
            PrincipalClass::SupportAgent | PrincipalClass::Operator
        ) {
            set.facts.groups.insert(
                caller.principal.id.as_str().to_owned(),
                caller.principal.groups.iter().cloned().collect(),
            );
        }
        let act = Act::by(caller, EventKind::Finding, "vendor", "deployment", "check");
        if let Err(err) = self
            .decide(caller, Action::DeploymentCheck, resource, set, None)
            .await
        {
            self.record(act.denied()).await?;
            return Err(err);
        }
        self.record(act).await?;

        let mut found = Findings::default();
        let mut counts = CheckCounts::default();
        let mut notes = vec![
            "I2: access and refresh tokens are not stored (only refresh-token hashes in \
             memory), so issued tokens cannot be re-checked; their lifetimes are bounded by \
             the class maxima checked here"
                .to_owned(),
            "I6/I7: export rows do not link their approval request, so approval evidence is \
             enforced at export time (policy `forbid.export.no-quorum`) and not re-checked"
                .to_owned(),
            "I6: service-account scopes are approved through one-shot quorum requests that \
             the store does not list by account; scope approval is enforced at creation"
                .to_owned(),
            "I8: detection and containment are measured by the detection bus metrics, not here"
                .to_owned(),
        ];
        self.check_policy(&mut found).await?;
        self.check_safety_switches(&mut found);
        self.check_revocations(&mut found, &mut counts, &mut notes)?;
        self.check_devices(&mut found, &mut counts).await?;
        self.check_grants_and_exports(&mut found, &mut counts)
            .await?;
        self.check_service_accounts(&mut found, &mut counts).await?;
        self.check_artifacts(&mut found, &mut counts).await?;
        self.check_audit(&mut found, &mut counts).await?;
        Ok(CheckReport {
            clean: found.violations.is_empty(),
            checked_at: self.now_secs(),
            policy_bundle_id: bundle,
            rules_version: self.scanner.rules_version().to_owned(),
            counts,
            violations: found.violations,
            notes,
        })
    }

    /// I1, I2: this node runs with a safety control switched off (the unsafe baseline
    /// of `custody simulate`, [`crate::Dangerous`]).
    fn check_safety_switches(&self, found: &mut Findings) {
        if self.dangerous.store_unsanitized {
            found.add(
                "I1",
                "node.store_unsanitized",
                "deployment",
                "this-node",
                "this node stores uploads without sanitizing and shows views unscanned (unsafe baseline)"
                    .to_owned(),
            );
        }
        if self.dangerous.bearer_tokens {
            found.add(
                "I2",
                "node.bearer_tokens",
                "deployment",
                "this-node",
                "this node accepts access tokens without proof of possession or network binding (unsafe baseline)"
                    .to_owned(),
            );
        }
    }

    /// I5: an active bundle; the stored bundle still verifies against the trust root
    /// now (signature, expiry) and is the one the engine runs.
    async fn check_policy(&self, found: &mut Findings) -> Result<(), BrokerError> {
        let Some(active) = self.policy.bundle_id() else {
            found.add(
                "I5",
                "policy.no_bundle",
                "policy_bundle",
                "none",
                "no verified policy bundle is active: every decision denies".to_owned(),
            );
            return Ok(());
        };
        let trust = std::fs::read_to_string(self.data_dir_keys().join(crate::POLICY_TRUST_FILE))
            .ok()
            .and_then(|text| custody_policy::TrustRoot::from_json(&text).ok());
        let stored = self
            .store
            .setting(crate::POLICY_BUNDLE_SETTING)
            .await?
            .and_then(|bytes| custody_policy::SignedBundle::from_json(&bytes).ok());
        let (Some(root), Some(bundle)) = (trust, stored) else {
            found.add(
                "I5",
                "policy.bundle_unverifiable",
                "policy_bundle",
                &active,
                "the stored bundle or the trust root is missing or does not parse".to_owned(),
            );
            return Ok(());
        };
        let now = self.now_u64();
        match custody_policy::BundleVerifier::new(root).verify(&bundle, now) {
            Ok(verified) if verified.id() == active => {}
            Ok(verified) => {
                found.add(
                    "I5",
                    "policy.bundle_mismatch",
                    "policy_bundle",
                    &active,
                    format!("the stored active bundle is {}", verified.id()),
                );
            }
            Err(e) => {
                found.add(
                    "I5",
                    "policy.bundle_invalid",
                    "policy_bundle",
                    &active,
                    format!("the stored bundle no longer verifies: {e}"),
                );
            }
        }
        Ok(())
    }

    /// I2: the persisted revocation log parses, the verifier applied all of it, and
    /// the class lifetimes are within §6.
    fn check_revocations(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
        notes: &mut Vec<String>,
    ) -> Result<(), BrokerError> {
        let path = self.data_dir.join("revocations.jsonl");
        let mut persisted = 0u64;
        let mut last_ms = None;
        match std::fs::File::open(&path) {
            Ok(file) => {
                for (index, line) in io::BufReader::new(file).split(b'\n').enumerate() {
                    let line =
                        line.map_err(|e| BrokerError::Internal(format!("revocation log: {e}")))?;
                    match serde_json::from_slice::<custody_token::RevocationEntry>(&line) {
                        Ok(entry) if entry.version == persisted.saturating_add(1) => {
                            persisted = entry.version;
                            last_ms = Some(entry.issued_at_ms);
                        }
                        _ => {
                            found.add(
                                "I2",
                                "revocation.log_unreadable",
                                "revocation_log",
                                "revocations.jsonl",
                                format!("line {} does not continue the log", index + 1),
                            );
                            break;
                        }
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(BrokerError::Internal(format!("revocation log: {e}"))),
        }
        counts.revocations = persisted;
        let head = self
            .authority
            .revocations()
            .head()
            .map_err(|e| BrokerError::Internal(format!("revocation log: {e}")))?;
        if head != persisted {
            found.add(
                "I2",
                "revocation.log_diverges",
                "revocation_log",
                "revocations.jsonl",
                format!("the file holds {persisted} entries, the authority's head is {head}"),
            );
        }
        let applied = self.verifier.revocation_version().unwrap_or(0);
        if applied < head {
            found.add(
                "I2",
                "revocation.feed_behind",
                "revocation_log",
                "verifier",
                format!("the verifier applied version {applied} of {head}"),
            );
        }
        // The verifier is built with the §6 defaults ([`Broker::open`]).
        let tau = custody_token::VerifierConfig::new(self.public_url.clone()).tau_max;
        notes.push(format!(
            "I2: revocation feed in-process, confirmed on every request; tau_max {} ms; \
             last entry {}",
            tau.as_millis(),
            last_ms.map_or_else(
                || "none".to_owned(),
                |ms| format!(
                    "{} s ago",
                    (self
                        .now_ms()
                        .saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX)))
                        / 1000
                )
            )
        ));
        if tau > Duration::from_secs(1) {
            found.add(
                "I2",
                "revocation.tau_max_too_long",
                "revocation_log",
                "verifier",
                format!("tau_max is {} ms (at most 1000)", tau.as_millis()),
            );
        }
        let maxima = [
            (TokenClass::CustomerAdmin, 600u64, 8 * 3600u64),
            (TokenClass::SupportAgent, 900, 8 * 3600),
            (TokenClass::ServiceAccount, 300, 3600),
        ];
        for (class, access, refresh) in maxima {
            if class.max_lifetime().as_secs() > access
                || class.refresh_lifetime().as_secs() > refresh
            {
                found.add(
                    "I2",
                    "token.lifetime_too_long",
                    "token_class",
                    class.as_str(),
                    format!(
                        "access {} s (max {access}), refresh {} s (max {refresh})",
                        class.max_lifetime().as_secs(),
                        class.refresh_lifetime().as_secs()
                    ),
                );
            }
        }
        Ok(())
    }

    /// I2: every active device key parses and matches its stored thumbprint.
    async fn check_devices(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
    ) -> Result<(), BrokerError> {
        for principal in self.store.list_principals(None).await? {
            for device in self.store.list_devices(&principal.id).await? {
                if device.status != DeviceStatus::Active {
                    continue;
                }
                counts.devices = counts.devices.saturating_add(1);
                let pop = custody_seal::VerifyingKey::from_jwk(&device.pop_public_jwk);
                let hpke = custody_seal::HpkePublicKey::from_jwk(&device.hpke_public_jwk);
                let problem = match (pop, hpke) {
                    (Ok(pop), Ok(_)) if *pop.thumbprint().as_bytes() == device.pop_jkt => None,
                    (Ok(_), Ok(_)) => Some("the proof key does not match its stored thumbprint"),
                    (Err(_), _) => Some("the proof-of-possession key does not parse"),
                    (_, Err(_)) => Some("the sealing (HPKE) key does not parse"),
                };
                if let Some(problem) = problem {
                    found.add(
                        "I2",
                        "device.key_malformed",
                        "device",
                        device.id.as_str(),
                        format!("{problem} (principal {})", principal.id.as_str()),
                    );
                }
            }
        }
        Ok(())
    }

    /// No standing access (grants) and I7 export bounds.
    async fn check_grants_and_exports(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
    ) -> Result<(), BrokerError> {
        let agents = self
            .store
            .list_principals(Some(PrincipalClass::SupportAgent))
            .await?;
        for agent in &agents {
            for grant in self.store.list_agent_grants(&agent.id, None).await? {
                counts.grants = counts.grants.saturating_add(1);
                if grant.status != GrantStatus::Approved {
                    continue;
                }
                let Some(approved) = grant.decided_at else {
                    found.add(
                        "I6",
                        "grant.approval_missing",
                        "grant",
                        grant.id.as_str(),
                        "approved without a recorded approval time".to_owned(),
                    );
                    continue;
                };
                let span = grant.expires_at.saturating_sub(approved);
                if span > MAX_GRANT_SECS {
                    found.add(
                        "I6",
                        "grant.standing_access",
                        "grant",
                        grant.id.as_str(),
                        format!(
                            "expires {span} s after its approval (at most {MAX_GRANT_SECS} s); \
                             agent {}, case {}",
                            grant.agent_id.as_str(),
                            grant.case_id.as_str()
                        ),
                    );
                }
            }
            for export in self.store.list_agent_exports(&agent.id).await? {
                counts.exports = counts.exports.saturating_add(1);
                let window = export.not_after.saturating_sub(export.not_before);
                if window > MAX_EXPORT_WINDOW_SECS {
                    found.add(
                        "I7",
                        "export.window_too_long",
                        "export",
                        export.id.as_str(),
                        format!("open for {window} s (at most {MAX_EXPORT_WINDOW_SECS} s)"),
                    );
                }
                if export.state == ExportState::Released && export.released_at.is_none() {
                    found.add(
                        "I7",
                        "export.release_unrecorded",
                        "export",
                        export.id.as_str(),
                        "released without a recorded release time".to_owned(),
                    );
                }
                if let Some(at) = export.released_at
                    && (at < export.not_before || at >= export.not_after)
                {
                    found.add(
                        "I7",
                        "export.released_outside_window",
                        "export",
                        export.id.as_str(),
                        "released outside its window".to_owned(),
                    );
                }
            }
        }
        Ok(())
    }

    /// Service accounts: one function and an explicit, non-empty tenant list.
    async fn check_service_accounts(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
    ) -> Result<(), BrokerError> {
        let accounts = self
            .store
            .list_principals(Some(PrincipalClass::ServiceAccount))
            .await?;
        for account in accounts {
            counts.service_accounts = counts.service_accounts.saturating_add(1);
            let id = account.id.as_str();
            match &account.service {
                None => {
                    found.add(
                        "I6",
                        "service_account.no_scope",
                        "principal",
                        id,
                        "a service account without a function or tenant list".to_owned(),
                    );
                }
                Some(scope) => {
                    if scope.function.trim().is_empty() {
                        found.add(
                            "I6",
                            "service_account.no_function",
                            "principal",
                            id,
                            "a service account without a function".to_owned(),
                        );
                    }
                    if scope.tenants.is_empty() {
                        found.add(
                            "I6",
                            "service_account.no_tenants",
                            "principal",
                            id,
                            "a service account with an empty tenant list".to_owned(),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// I1: re-scans every stored artifact with the current rules.
    async fn check_artifacts(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
    ) -> Result<(), BrokerError> {
        for tenant in self.store.list_tenants().await? {
            for artifact in self.store.list_tenant_artifacts(&tenant.id).await? {
                counts.artifacts = counts.artifacts.saturating_add(1);
                match self.rescan(&artifact).await {
                    Ok((total, findings)) => {
                        for f in findings {
                            let mut v = Violation::new(
                                "I1",
                                "artifact.replayable",
                                "artifact",
                                artifact.id.as_str(),
                                format!("class {} ({total} finding(s) in the artifact)", f.class),
                            );
                            v.location = f.location;
                            v.rule_id = Some(f.rule_id.to_owned());
                            found.violations.push(v);
                        }
                    }
                    Err(BrokerError::AuditUnavailable(e)) => {
                        return Err(BrokerError::AuditUnavailable(e));
                    }
                    Err(err) => {
                        let what = match err {
                            BrokerError::Refused { .. } => "artifact.unreadable",
                            _ => "artifact.rescan_failed",
                        };
                        tracing::warn!(artifact.id = artifact.id.as_str(), error.detail = %err, "check: re-scan failed");
                        found.add(
                            "I1",
                            what,
                            "artifact",
                            artifact.id.as_str(),
                            "the stored artifact could not be re-scanned (fail-closed)".to_owned(),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// Decrypts and inspects one artifact; the system `transform` event is durable
    /// before the first byte is read (I4).
    async fn rescan(&self, artifact: &Artifact) -> Result<(u64, Vec<RescanFinding>), BrokerError> {
        let digest = Some(format!("sha256:{}", hex::encode(artifact.sanitized_sha256)));
        let recorded = self
            .record(
                Act::system(
                    EventKind::Transform,
                    artifact.tenant_id.as_str(),
                    "artifact",
                    artifact.id.as_str(),
                )
                .with_artifact(digest, artifact.case_id.as_str()),
            )
            .await?;
        let reader = self.open_artifact(artifact, &recorded).await?;
        let scanner = Arc::clone(&self.scanner);
        let kind = kind_of(artifact.kind);
        tokio::task::spawn_blocking(move || rescan_blocking(reader, &scanner, kind))
            .await
            .map_err(|e| BrokerError::Internal(format!("re-scan task: {e}")))?
    }

    /// I4: the audit log verifies and its checkpoint trails it by at most a second.
    async fn check_audit(
        &self,
        found: &mut Findings,
        counts: &mut CheckCounts,
    ) -> Result<(), BrokerError> {
        let dir = self.data_dir.join("audit");
        let verified = tokio::task::spawn_blocking(move || {
            custody_audit::verify::verify_dir(
                &dir,
                &custody_audit::verify::VerifyOptions::default(),
            )
        })
        .await
        .map_err(|e| BrokerError::Internal(format!("audit verify task: {e}")))?;
        match verified {
            Ok(report) => counts.audit_records = report.records,
            Err(e) => {
                let mut v = Violation::new(
                    "I4",
                    "audit.verify_failed",
                    "audit_log",
                    "audit",
                    format!("the audit log does not verify: {e}"),
                );
                v.location = e.first_bad_index().map(|i| format!("index {i}"));
                found.violations.push(v);
            }
        }
        let started = std::time::Instant::now();
        loop {
            let len = self.audit.len();
            let covered = self
                .audit
                .latest_checkpoint()
                .map_or(0, |c| c.checkpoint.size);
            if covered >= len {
                return Ok(());
            }
            if started.elapsed() > MAX_CHECKPOINT_LAG {
                found.add(
                    "I4",
                    "audit.checkpoint_stale",
                    "audit_log",
                    "audit",
                    format!(
                        "the latest checkpoint covers {covered} of {len} records after {} ms",
                        started.elapsed().as_millis()
                    ),
                );
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn rescan_blocking(
    reader: BlobReader<io::BufReader<std::fs::File>>,
    scanner: &custody_scan::Scanner,
    kind: Kind,
) -> Result<(u64, Vec<RescanFinding>), BrokerError> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|_| BrokerError::Internal("entropy".into()))?;
    let redactor = Redactor::new(key);
    let options = ArtifactOptions {
        kind: Some(kind),
        ..ArtifactOptions::default()
    };
    let mut total = 0u64;
    let mut findings = Vec::new();
    let mut sink = |f: custody_scan::Finding| {
        total = total.saturating_add(1);
        if findings.len() < MAX_FINDINGS_PER_ARTIFACT {
            let location = match (&f.location.path, &f.location.pointer, f.location.line) {
                (path, Some(pointer), _) => Some(join(path.as_deref(), pointer)),
                (path, None, Some(line)) => Some(join(path.as_deref(), &format!("line {line}"))),
                (Some(path), None, None) => Some(path.clone()),
                (None, None, None) => Some(format!("byte {}", f.location.byte_offset)),
            };
            findings.push(RescanFinding {
                location,
                rule_id: f.rule_id,
                class: f.class.as_str(),
            });
        }
    };
    match artifact::inspect(reader, scanner, &redactor, &options, &mut sink) {
        Ok(_) => Ok((total, findings)),
        Err(e) => Err(BrokerError::Refused {
            reason: "unparseable",
            detail: e.to_string(),
            report: None,
        }),
    }
}

fn join(path: Option<&str>, at: &str) -> String {
    match path {
        Some(p) if !p.is_empty() => format!("{p}!{at}"),
        _ => at.to_owned(),
    }
}
