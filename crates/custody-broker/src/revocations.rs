//! Revocation (DESIGN §6, §10): the persisted log and the use cases over it.
//!
//! - [`FileRevocationStore`]: the Token Authority's revocation log persisted as JSON
//!   lines (`revocations.jsonl`), each entry fsynced before it is acknowledged, so a
//!   restart never forgets a revocation. On open the file must hold versions 1..n with
//!   no gap; a torn last line (crash mid-write) is dropped, anything else is refused.
//! - [`Broker::revoke`]: RFC 7009-style revocation of the caller's own token or session,
//!   or (per policy, `token.revoke`) of a principal, one of its sessions or devices.
//! - [`Broker::request_tenant_revocation`] and [`Broker::revoke_tenant`]: every token,
//!   session, grant, pending export and device key touching a tenant, behind a quorum
//!   (`tenant.revoke_all`).
//!
//! Every revocation returns only once it is effective in this node's verifier: the
//! epochs are appended (fsynced) to the log, the verifier applies them and confirms the
//! log's head. The answer is a [`Revoked`] with one receipt per epoch, each a JWS signed
//! by the Token Authority's key (verifiable with `/.well-known/jwks.json`). The
//! revocation is made effective first and audited (`token_revoke`) before answering:
//! if the audit append fails the caller gets an error, but the revocation stands (the
//! safe side).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use std::collections::{BTreeMap, BTreeSet};

use custody_audit::event::EventKind;
use custody_policy::{Action, ApprovalRequest, Context, Decision, QuorumConfig, ResourceRef};
use custody_store::{
    ApprovalRequestId, DeviceId, Principal, PrincipalClass, PrincipalId, TenantId,
};
use custody_token::revocation::{RevocationEntry, StoreError, SubjectKind};
use custody_token::{RevocationStore, Timestamp};

use crate::audit::Act;
use crate::authz::{FactSet, policy_class, principal_ref};
use crate::grants::GrantView;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// Errors opening the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationLogError {
    /// The file could not be read or opened.
    #[error("revocation log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A complete line is not the next entry.
    #[error("revocation log {path} is corrupt at line {line}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// One-based line number.
        line: usize,
    },
}

/// The revocation log in one append-only file.
#[derive(Debug)]
pub struct FileRevocationStore {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    file: File,
    entries: Vec<RevocationEntry>,
}

impl FileRevocationStore {
    /// Opens (or creates) the log at `path`.
    pub fn open(path: &Path) -> Result<Self, RevocationLogError> {
        let io = |source| RevocationLogError::Io {
            path: path.to_owned(),
            source,
        };
        let mut entries = Vec::new();
        let mut valid_len = 0u64;
        if path.exists() {
            let reader = BufReader::new(File::open(path).map_err(io)?);
            for (index, line) in reader.split(b'\n').enumerate() {
                let line = line.map_err(io)?;
                let parsed = serde_json::from_slice::<RevocationEntry>(&line).ok();
                match parsed {
                    Some(entry) if entry.version == index as u64 + 1 => {
                        valid_len += line.len() as u64 + 1;
                        entries.push(entry);
                    }
                    _ => {
                        // Only a torn final line (no newline written) is repairable.
                        let file_len = std::fs::metadata(path).map_err(io)?.len();
                        if valid_len + line.len() as u64 == file_len {
                            break;
                        }
                        return Err(RevocationLogError::Corrupt {
                            path: path.to_owned(),
                            line: index + 1,
                        });
                    }
                }
            }
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.set_len(valid_len).map_err(io)?;
        Ok(Self {
            inner: Mutex::new(Inner { file, entries }),
        })
    }
}

impl RevocationStore for FileRevocationStore {
    fn append(
        &self,
        kind: SubjectKind,
        subject: &str,
        cutoff: u64,
        issued_at: Timestamp,
    ) -> Result<RevocationEntry, StoreError> {
        let mut inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        let entry = RevocationEntry {
            version: inner.entries.len() as u64 + 1,
            kind,
            subject: subject.to_owned(),
            cutoff,
            issued_at_ms: issued_at.unix_millis(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|_| StoreError::Unavailable)?;
        line.push(b'\n');
        inner
            .file
            .write_all(&line)
            .and_then(|()| inner.file.sync_data())
            .map_err(|_| StoreError::Unavailable)?;
        inner.entries.push(entry.clone());
        Ok(entry)
    }

    fn entries_after(&self, version: u64) -> Result<Vec<RevocationEntry>, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        let skip = usize::try_from(version).unwrap_or(usize::MAX);
        Ok(inner.entries.iter().skip(skip).cloned().collect())
    }

    fn head(&self) -> Result<u64, StoreError> {
        let inner = self.inner.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(inner.entries.len() as u64)
    }
}

/// What one revocation names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// The caller's own access token (its `jti`).
    OwnToken,
    /// The caller's own session (its `sid`): every token of that sign-in.
    OwnSession,
    /// One session of `principal` (the policy decides on the principal; the session id
    /// is the opaque `sid` of its tokens).
    Session {
        /// The session id (`sid`).
        session: String,
        /// Its principal.
        principal: PrincipalId,
    },
    /// Every token of a principal issued until now.
    Principal(PrincipalId),
    /// A device: its key is revoked (it signs in no more) and every token bound to it.
    Device(DeviceId),
}

/// A revocation that is effective on this node, with its signed receipts.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revoked {
    /// The revocation epochs appended (kind, subject, cutoff, log version).
    pub revoked: Vec<RevocationEntry>,
    /// One receipt per epoch: a compact JWS (`typ`
    /// `custody-revocation-receipt+jwt`) signed by the Token Authority's key.
    pub receipts: Vec<String>,
    /// The revocation log version this node's verifier has applied and confirmed.
    pub state_version: u64,
    /// When it became effective here, Unix milliseconds.
    pub effective_at_ms: i64,
    /// Grants ended (tenant revocation).
    pub grants_revoked: u64,
    /// Pending exports ended (tenant revocation, export freeze).
    pub exports_revoked: u64,
    /// Device keys revoked.
    pub devices_revoked: u64,
}

/// The `cnf.jkt` value of tokens bound to `device`.
pub(crate) fn device_jkt(device: &custody_store::Device) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding as _};
    Base64UrlUnpadded::encode_string(&device.pop_jkt)
}

/// The tenant an audit event about `principal` is filed under.
pub(crate) fn tenant_of(principal: &Principal) -> String {
    principal
        .tenant_id
        .as_ref()
        .map_or_else(|| "vendor".to_owned(), |t| t.as_str().to_owned())
}

impl Broker {
    /// Appends one epoch per subject (each fsynced), then brings this node's verifier
    /// to the log's head and checks it covers them: on `Ok` the next request carrying a
    /// revoked token is refused.
    pub(crate) fn revoke_effective(
        &self,
        subjects: &[(SubjectKind, String)],
    ) -> Result<Revoked, BrokerError> {
        let now = self.now();
        let mut revoked = Vec::with_capacity(subjects.len());
        let mut receipts = Vec::with_capacity(subjects.len());
        for (kind, subject) in subjects {
            let (entry, receipt) = self
                .authority
                .revoke(*kind, subject, now)
                .map_err(|e| BrokerError::Internal(format!("revocation: {e}")))?;
            revoked.push(entry);
            receipts.push(receipt.as_str().to_owned());
        }
        self.sync_revocations(now)
            .map_err(|e| BrokerError::Internal(format!("revocation not applied: {e}")))?;
        let applied = self.verifier.revocation_version().unwrap_or(0);
        let needed = revoked.last().map_or(0, |e| e.version);
        if applied < needed {
            return Err(BrokerError::Internal(
                "revocation not applied by this node's verifier".into(),
            ));
        }
        Ok(Revoked {
            revoked,
            receipts,
            state_version: applied,
            effective_at_ms: self.now_ms(),
            grants_revoked: 0,
            exports_revoked: 0,
            devices_revoked: 0,
        })
    }

    /// The facts a `token.revoke` decision on `target` needs beyond the caller's own.
    pub(crate) async fn revoke_facts(
        &self,
        caller: &Caller,
        target: &Principal,
    ) -> Result<FactSet, BrokerError> {
        let mut set = FactSet::default();
        for principal in [&caller.principal, target] {
            if let Some(tenant) = &principal.tenant_id {
                set = set.tenant(&self.store.tenant(tenant).await?);
            }
            if matches!(
                principal.class,
                PrincipalClass::SupportAgent | PrincipalClass::Operator
            ) {
                set.facts.groups.insert(
                    principal.id.as_str().to_owned(),
                    principal.groups.iter().cloned().collect(),
                );
            }
            if let Some(scope) = &principal.service {
                set.facts.service_accounts.insert(
                    principal.id.as_str().to_owned(),
                    custody_policy::ServiceAccountFacts {
                        function: scope.function.clone(),
                        tenants: scope
                            .tenants
                            .iter()
                            .map(|t| t.as_str().to_owned())
                            .collect(),
                    },
                );
            }
        }
        Ok(set)
    }

    /// `POST /v1/revocations`: revokes what `what` names, once the policy allows
    /// `token.revoke` on the principal concerned (every principal may revoke its own
    /// tokens; operators and security reviewers any principal's, per the default
    /// policy). Returns once effective on this node, audited as `token_revoke`.
    pub async fn revoke(&self, caller: &Caller, what: &Revocation) -> Result<Revoked, BrokerError> {
        let (target, subject, kind, device) = match what {
            Revocation::OwnToken => (
                caller.principal.clone(),
                caller.token_id.clone(),
                SubjectKind::TokenId,
                None,
            ),
            Revocation::OwnSession => (
                caller.principal.clone(),
                caller.session.clone(),
                SubjectKind::Session,
                None,
            ),
            Revocation::Session { session, principal } => {
                if session.is_empty()
                    || session.len() > 256
                    || session.chars().any(char::is_control)
                {
                    return Err(BrokerError::BadRequest("session id is malformed".into()));
                }
                // Sessions are not stored per principal, so ownership of a named session
                // cannot be proven here. A principal revoking for itself may therefore
                // name only the session it is calling from (otherwise it could name
                // anyone's `sid` beside its own id); other sessions of one's own are ended
                // by revoking the principal. Naming another principal's session needs the
                // policy's `token.revoke` on that principal, which already allows revoking
                // all of its tokens.
                if *principal == caller.principal.id && *session != caller.session {
                    return Err(BrokerError::BadRequest(
                        "a principal may name only its current session; revoke the principal's tokens to end the others".into(),
                    ));
                }
                (
                    self.store.principal(principal).await?,
                    session.clone(),
                    SubjectKind::Session,
                    None,
                )
            }
            Revocation::Principal(id) => {
                let principal = self.store.principal(id).await?;
                let subject = principal.id.as_str().to_owned();
                (principal, subject, SubjectKind::Principal, None)
            }
            Revocation::Device(id) => {
                let device = self.store.device(id).await?;
                let principal = self.store.principal(&device.principal_id).await?;
                (
                    principal,
                    device_jkt(&device),
                    SubjectKind::Device,
                    Some(device),
                )
            }
        };
        let set = self.revoke_facts(caller, &target).await?;
        self.decide(
            caller,
            Action::TokenRevoke,
            ResourceRef::Principal(principal_ref(&target)),
            set,
            None,
        )
        .await?;
        let mut devices_revoked = 0;
        if let Some(device) = &device {
            devices_revoked = self.revoke_device_key(device).await?;
        }
        let mut revoked = self.revoke_effective(&[(kind, subject)])?;
        revoked.devices_revoked = devices_revoked;
        let resource_id = match (&device, kind) {
            (Some(device), _) => device.id.as_str().to_owned(),
            (None, SubjectKind::TokenId) => caller.token_id.clone(),
            (None, SubjectKind::Session) => match what {
                Revocation::Session { session, .. } => session.clone(),
                _ => caller.session.clone(),
            },
            (None, _) => target.id.as_str().to_owned(),
        };
        self.record(Act::by(
            caller,
            EventKind::TokenRevoke,
            &tenant_of(&target),
            kind.as_str(),
            &resource_id,
        ))
        .await?;
        Ok(revoked)
    }

    /// Marks a device key revoked in the store (it signs in no more); 1 if it was
    /// active, 0 if it already was revoked.
    pub(crate) async fn revoke_device_key(
        &self,
        device: &custody_store::Device,
    ) -> Result<u64, BrokerError> {
        match self.store.revoke_device(&device.id, self.now_secs()).await {
            Ok(_) => Ok(1),
            Err(e) if e.is_conflict() => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

    /// Step 1 of a tenant-wide revocation: the approval request (action
    /// `tenant.revoke_all`) that one support lead and one security reviewer sign. The
    /// caller must be allowed `token.revoke` on the tenant.
    pub async fn request_tenant_revocation(
        &self,
        caller: &Caller,
        tenant: &TenantId,
    ) -> Result<GrantView, BrokerError> {
        let tenant = self.store.tenant(tenant).await?;
        let mut set = self.revoke_facts(caller, &caller.principal).await?;
        set = set.tenant(&tenant);
        self.decide(
            caller,
            Action::TokenRevoke,
            ResourceRef::Tenant {
                id: tenant.id.as_str().to_owned(),
            },
            set,
            None,
        )
        .await?;
        let now = self.now_u64();
        let request = ApprovalRequest {
            action: Action::TenantRevokeAll,
            tenant: tenant.id.as_str().to_owned(),
            artifact_ids: BTreeSet::new(),
            parameters: BTreeMap::from([(
                "scope".to_owned(),
                "tokens,sessions,grants,exports,devices".to_owned(),
            )]),
            requester: caller.principal.id.as_str().to_owned(),
            expires_at: now + QuorumConfig::default().approval_ttl_secs,
        };
        self.create_vendor_request(caller, request, Some(&tenant.id))
            .await
    }

    /// Step 2: revokes everything touching `tenant` (every token and session of its
    /// principals by one tenant epoch, every device key of its principals, every grant
    /// on it, every pending export of its artifacts). Decided as `tenant.revoke_all`
    /// with the quorum evidence of `approval` (the default policy requires it, but for
    /// the tenant's own customer admins); the approval is used up. Returns once
    /// effective on this node, audited as `token_revoke` on the tenant.
    pub async fn revoke_tenant(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        approval: Option<&ApprovalRequestId>,
    ) -> Result<Revoked, BrokerError> {
        let tenant = self.store.tenant(tenant).await?;
        let mut evidence = None;
        let mut used = None;
        if let Some(id) = approval {
            let (stored, request) = self
                .load_vendor_approval(id)
                .await?
                .ok_or_else(|| BrokerError::BadRequest("not a tenant revocation request".into()))?;
            if request.action != Action::TenantRevokeAll || request.tenant != tenant.id.as_str() {
                return Err(BrokerError::BadRequest(
                    "the approval request is for another action or tenant".into(),
                ));
            }
            evidence = self.vendor_evidence(&stored, &request).await?;
            used = Some(stored.id);
        }
        let set = self
            .revoke_facts(caller, &caller.principal)
            .await?
            .tenant(&tenant);
        self.decide_with_quorum(
            caller,
            Action::TenantRevokeAll,
            ResourceRef::Tenant {
                id: tenant.id.as_str().to_owned(),
            },
            set,
            evidence,
        )
        .await?;
        if let Some(id) = &used {
            self.store
                .complete_approval(id, true, self.now_secs())
                .await?;
        }
        let revoked = self.revoke_tenant_effects(&tenant.id).await?;
        self.record(Act::by(
            caller,
            EventKind::TokenRevoke,
            tenant.id.as_str(),
            "tenant",
            tenant.id.as_str(),
        ))
        .await?;
        Ok(revoked)
    }

    /// Everything a tenant revocation does, effective on this node when it returns.
    pub(crate) async fn revoke_tenant_effects(
        &self,
        tenant: &TenantId,
    ) -> Result<Revoked, BrokerError> {
        let mut subjects = vec![(SubjectKind::Tenant, tenant.as_str().to_owned())];
        let mut devices_revoked = 0;
        for admin in self.store.list_tenant_admins(tenant).await? {
            subjects.push((SubjectKind::Principal, admin.id.as_str().to_owned()));
            for device in self.store.list_devices(&admin.id).await? {
                devices_revoked += self.revoke_device_key(&device).await?;
                subjects.push((SubjectKind::Device, device_jkt(&device)));
            }
        }
        // Tokens first: they are the fastest path for an attacker.
        let mut revoked = self.revoke_effective(&subjects)?;
        let now = self.now_secs();
        revoked.grants_revoked = self.store.revoke_tenant_grants(tenant, now).await?;
        revoked.exports_revoked = self.store.revoke_tenant_exports(tenant, now).await?;
        revoked.devices_revoked = devices_revoked;
        Ok(revoked)
    }

    /// Decides `action` with optional quorum evidence in the context (the plain
    /// decision path never carries evidence).
    pub(crate) async fn decide_with_quorum(
        &self,
        caller: &Caller,
        action: Action,
        resource: ResourceRef,
        mut set: FactSet,
        quorum: Option<custody_policy::QuorumEvidence>,
    ) -> Result<(), BrokerError> {
        if let Some(scope) = &caller.principal.service {
            set.facts.service_accounts.insert(
                caller.principal.id.as_str().to_owned(),
                custody_policy::ServiceAccountFacts {
                    function: scope.function.clone(),
                    tenants: scope
                        .tenants
                        .iter()
                        .map(|t| t.as_str().to_owned())
                        .collect(),
                },
            );
        }
        let request = custody_policy::Request {
            principal: principal_ref(&caller.principal),
            action,
            resource,
            context: Context {
                device_bound: true,
                network_hash: caller.network.as_str().to_owned(),
                risk_score: 0,
                now: self.now_u64(),
                session_class: Some(policy_class(caller.principal.class)),
                grant: None,
                quorum,
            },
        };
        let decision = self.policy.authorize(&request, &set.facts);
        if let Some(hook) = &self.on_decision {
            hook(action.as_str(), decision.is_allowed());
        }
        match decision {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(diagnostics) => {
                tracing::info!(
                    policy.action = action.as_str(),
                    principal.id = caller.principal.id.as_str(),
                    policy.determining = ?diagnostics.policies(),
                    policy.errors = diagnostics.errors().len(),
                    "policy denied"
                );
                Err(BrokerError::Forbidden {
                    action: action.as_str(),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocations.jsonl");
        let store = FileRevocationStore::open(&path).unwrap();
        let now = Timestamp::from_unix_secs(1_800_000_000);
        store.append(SubjectKind::Session, "s1", 10, now).unwrap();
        store.append(SubjectKind::Tenant, "t1", 11, now).unwrap();
        drop(store);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(b"{\"version\":3,\"ki").unwrap();
        drop(file);
        let store = FileRevocationStore::open(&path).unwrap();
        assert_eq!(store.head().unwrap(), 2);
        let after = store.entries_after(1).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after.first().unwrap().subject, "t1");
        store
            .append(SubjectKind::Class, "support_agent", 12, now)
            .unwrap();
        drop(store);
        assert_eq!(FileRevocationStore::open(&path).unwrap().head().unwrap(), 3);
    }

    #[test]
    fn a_gap_in_the_middle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("revocations.jsonl");
        let store = FileRevocationStore::open(&path).unwrap();
        let now = Timestamp::from_unix_secs(1);
        for subject in ["a", "b", "c"] {
            store.append(SubjectKind::Session, subject, 1, now).unwrap();
        }
        drop(store);
        let text = std::fs::read_to_string(&path).unwrap();
        let without_second: Vec<&str> = text
            .lines()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, l)| l)
            .collect();
        std::fs::write(&path, without_second.join("\n") + "\n").unwrap();
        assert!(matches!(
            FileRevocationStore::open(&path),
            Err(RevocationLogError::Corrupt { line: 2, .. })
        ));
    }
}
