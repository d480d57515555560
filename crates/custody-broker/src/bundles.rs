//! Revocation bundles (DESIGN §10): per tenant, pre-staged, signed, kept current, and
//! executed in one call whose completion is deterministic.
//!
//! - [`Broker::stage_revocation_bundle`]: computes every subject touching the given
//!   tenants (the tenant epoch, each customer admin and device key, each open grant on
//!   the tenant's cases, each pending export of its artifacts; the service accounts
//!   whose scope names the tenant are listed, not revoked), signs the
//!   [`RevocationBundle`] as a compact JWS (`typ` [`BUNDLE_TYP`]) with the Token
//!   Authority's key (verifiable with `/.well-known/jwks.json`, see [`verify_bundle`])
//!   and opens one `tenant.revoke_all` approval request per tenant, bound to the
//!   bundle's digest, so that the quorum (one support lead AND one security reviewer,
//!   never the requester) can approve it before it is needed. Audited as
//!   `grant_request` per tenant (resource `revocation_bundle`).
//! - [`Broker::execute_revocation_bundle`]: verifies signature, issuer, version and
//!   expiry, checks each tenant's approval is bound to this bundle, decides
//!   `tenant.revoke_all` for every tenant *before* revoking anything (one refusal
//!   refuses the whole call), then revokes the union of the bundle's subjects and what
//!   touches the tenants now (reported as `added_since_staging`), and answers only once
//!   the epochs are effective in this node's verifier, with the per-epoch receipts and
//!   one execution receipt signed by the same key. Audited as `token_revoke` per
//!   tenant.
//!
//! A bundle holds ids and key thumbprints only, never a secret. Design notes and the
//! reasons for per-tenant approval requests are in `docs/incident.md`.

use std::collections::{BTreeMap, BTreeSet};

use base64ct::{Base64UrlUnpadded, Encoding as _};
use custody_audit::event::EventKind;
use custody_policy::{Action, ApprovalRequest, ResourceRef};
use custody_store::{
    ApprovalRequestId, ApprovalStatus, Device, DeviceId, ExportState, GrantStatus, PrincipalClass,
    TenantId,
};
use custody_token::KeySet;
use custody_token::revocation::SubjectKind;
use sha2::{Digest as _, Sha256};

use crate::audit::Act;
use crate::identity::Caller;
use crate::revocations::{Revoked, device_jkt};
use crate::{Broker, BrokerError};

/// JOSE `typ` of a signed revocation bundle.
pub const BUNDLE_TYP: &str = "custody-revocation-bundle+jwt";
/// JOSE `typ` of the receipt of an executed bundle.
pub const EXECUTION_TYP: &str = "custody-revocation-bundle-receipt+jwt";
/// The bundle format version.
pub const BUNDLE_VERSION: u32 = 1;
/// Default lifetime of a staged bundle (24 h): re-stage at least daily.
pub const DEFAULT_TTL_SECS: u64 = 24 * 3600;
/// Longest lifetime of a staged bundle (7 days).
pub const MAX_TTL_SECS: u64 = 7 * 24 * 3600;
/// Most tenants in one bundle.
pub const MAX_TENANTS: usize = 1000;
/// Largest signed bundle accepted (bytes of the compact JWS).
pub const MAX_BUNDLE_BYTES: usize = 2 * 1024 * 1024;
/// How far in the future a bundle's `staged_at` may lie (clock skew), seconds.
const MAX_SKEW_SECS: u64 = 60;
/// The approval parameter naming the bundle.
const PARAM_BUNDLE: &str = "revocation_bundle";
/// The approval parameter carrying the bundle's digest (hex).
const PARAM_DIGEST: &str = "bundle_digest";

/// The signed content of a revocation bundle (the JWS payload, serialized in this
/// field order with sorted lists, so the digest is stable).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationBundle {
    /// Format version ([`BUNDLE_VERSION`]).
    pub version: u32,
    /// Its id (`rvb_` and 32 hex digits).
    pub bundle_id: String,
    /// The issuing server (its public URL).
    pub issuer: String,
    /// The principal who staged it (the only one who can execute it with its
    /// approvals: a quorum approves one requester's exact request).
    pub staged_by: String,
    /// Unix seconds.
    pub staged_at: u64,
    /// Unix seconds; refused from this instant on.
    pub expires_at: u64,
    /// The subjects of each tenant, sorted by tenant id.
    pub tenants: Vec<TenantSubjects>,
    /// Totals over `tenants`.
    pub counts: SubjectCounts,
}

/// Everything touching one tenant, by id or key thumbprint.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSubjects {
    /// The tenant id (its epoch revokes every token carrying it).
    pub tenant: String,
    /// Customer admins (one principal epoch each).
    pub principals: Vec<String>,
    /// Their device keys (revoked in the store, one device epoch each).
    pub devices: Vec<DeviceSubject>,
    /// Grants on the tenant's cases that are requested or approved.
    pub grants: Vec<String>,
    /// Pending exports of the tenant's artifacts.
    pub exports: Vec<String>,
    /// Service accounts whose scope names the tenant: listed for the responder,
    /// not revoked (their scope may cover other tenants).
    pub service_accounts: Vec<String>,
}

/// One device key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceSubject {
    /// The device id.
    pub id: String,
    /// Its principal.
    pub principal: String,
    /// The `cnf.jkt` of tokens bound to it (RFC 7638 thumbprint of its public key).
    pub jkt: String,
}

/// Totals of a bundle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectCounts {
    /// Tenants.
    pub tenants: u64,
    /// Principals.
    pub principals: u64,
    /// Device keys.
    pub devices: u64,
    /// Grants.
    pub grants: u64,
    /// Pending exports.
    pub exports: u64,
    /// Service accounts listed.
    pub service_accounts: u64,
}

impl SubjectCounts {
    fn of(tenants: &[TenantSubjects]) -> Self {
        let len = |n: usize| n as u64;
        tenants.iter().fold(
            Self {
                tenants: len(tenants.len()),
                ..Self::default()
            },
            |c, t| Self {
                principals: c.principals + len(t.principals.len()),
                devices: c.devices + len(t.devices.len()),
                grants: c.grants + len(t.grants.len()),
                exports: c.exports + len(t.exports.len()),
                service_accounts: c.service_accounts + len(t.service_accounts.len()),
                ..c
            },
        )
    }
}

/// A staged bundle as returned to the responder (and kept as the bundle file).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StagedBundle {
    /// The signed bundle: a compact JWS whose payload is [`Self::bundle`].
    pub jws: String,
    /// SHA-256 (hex) of the JWS payload: what the approval requests are bound to.
    pub digest: String,
    /// The payload, readable.
    pub bundle: RevocationBundle,
    /// One `tenant.revoke_all` approval request per tenant.
    pub approval_requests: Vec<BundleApproval>,
}

/// One tenant's approval request of a bundle.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleApproval {
    /// The tenant.
    pub tenant: String,
    /// The approval request id to sign (`custody approve`, or
    /// `custody incident approve --bundle` for all at once).
    pub approval_request_id: String,
    /// The digest approvers sign (hex).
    pub request_digest: String,
}

/// What an executed bundle revoked, effective on this node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BundleExecution {
    /// The bundle.
    pub bundle_id: String,
    /// Its digest (hex).
    pub digest: String,
    /// Per tenant.
    pub tenants: Vec<TenantRevoked>,
    /// The epochs appended, one receipt each, and the totals.
    pub revoked: Revoked,
    /// A compact JWS (`typ` [`EXECUTION_TYP`]) by the Token Authority's key over
    /// the bundle id and digest, the executor, the tenants, the revocation state
    /// version that holds every epoch, and the totals.
    pub receipt: String,
    /// When the call started, Unix milliseconds.
    pub started_at_ms: i64,
    /// When everything (tokens, device keys, grants, exports) was effective here,
    /// Unix milliseconds (`revoked.effective_at_ms` is when the tokens were).
    pub effective_at_ms: i64,
}

/// What was revoked for one tenant.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TenantRevoked {
    /// The tenant.
    pub tenant: String,
    /// Principals whose tokens were revoked (bundle and current).
    pub principals: Vec<String>,
    /// Device ids whose keys and tokens were revoked (bundle and current).
    pub devices: Vec<String>,
    /// Device keys newly marked revoked in the store.
    pub devices_revoked: u64,
    /// Grants ended.
    pub grants_revoked: u64,
    /// Pending exports ended.
    pub exports_revoked: u64,
    /// Service accounts whose scope names the tenant (not revoked).
    pub service_accounts: Vec<String>,
    /// What touches the tenant now but was not in the bundle.
    pub added_since_staging: Added,
    /// The approval request used up, if any.
    pub approval_request_id: Option<String>,
}

/// Subjects found at execution that the staged bundle did not list.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Added {
    /// Principals.
    pub principals: Vec<String>,
    /// Device ids.
    pub devices: Vec<String>,
    /// Grants.
    pub grants: Vec<String>,
    /// Exports.
    pub exports: Vec<String>,
}

/// Why a bundle was refused before anything was looked up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not a compact JWS of the expected type, or its payload is not a bundle.
    #[error("the revocation bundle is malformed: {0}")]
    Malformed(&'static str),
    /// Its key is not among the trusted keys, or the signature does not verify.
    #[error("the revocation bundle's signature does not verify against the server's keys")]
    BadSignature,
    /// Another server issued it, or it has an unknown version.
    #[error("the revocation bundle is not a version {BUNDLE_VERSION} bundle of this server")]
    Foreign,
}

/// A bundle whose signature verified.
#[derive(Debug, Clone)]
pub struct VerifiedBundle {
    /// The payload.
    pub bundle: RevocationBundle,
    /// SHA-256 (hex) of the payload bytes.
    pub digest: String,
}

fn b64(bytes: &[u8]) -> String {
    Base64UrlUnpadded::encode_string(bytes)
}

fn unb64(text: &str, what: &'static str) -> Result<Vec<u8>, BundleError> {
    Base64UrlUnpadded::decode_vec(text).map_err(|_| BundleError::Malformed(what))
}

/// Verifies a compact JWS of type `typ` (`alg` EdDSA, no `crit`) against `keys`
/// and returns its payload bytes.
fn verify_jws(jws: &str, keys: &KeySet, typ: &str) -> Result<Vec<u8>, BundleError> {
    if jws.len() > MAX_BUNDLE_BYTES {
        return Err(BundleError::Malformed("it is too large"));
    }
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(BundleError::Malformed("not a compact JWS"));
    };
    let header: serde_json::Value = serde_json::from_slice(&unb64(header, "header")?)
        .map_err(|_| BundleError::Malformed("header"))?;
    let field = |name: &str| header.get(name).and_then(serde_json::Value::as_str);
    if field("alg") != Some("EdDSA") || field("typ") != Some(typ) || header.get("crit").is_some() {
        return Err(BundleError::Malformed("not of the expected type"));
    }
    let kid = field("kid").ok_or(BundleError::Malformed("header has no kid"))?;
    let key = keys.key(kid).ok_or(BundleError::BadSignature)?;
    let x = key
        .to_json()
        .get("x")
        .and_then(serde_json::Value::as_str)
        .and_then(|x| Base64UrlUnpadded::decode_vec(x).ok())
        .and_then(|x| <[u8; 32]>::try_from(x).ok())
        .ok_or(BundleError::BadSignature)?;
    let key = custody_seal::VerifyingKey::from_bytes(x).map_err(|_| BundleError::BadSignature)?;
    let signature = <[u8; 64]>::try_from(unb64(signature, "signature")?)
        .map_err(|_| BundleError::BadSignature)?;
    let signed_len = jws.len() - signature_len(jws) - 1;
    let signing_input = jws
        .as_bytes()
        .get(..signed_len)
        .ok_or(BundleError::BadSignature)?;
    if !key.verify(signing_input, &signature) {
        return Err(BundleError::BadSignature);
    }
    unb64(payload, "payload")
}

fn signature_len(jws: &str) -> usize {
    jws.rsplit('.').next().map_or(0, str::len)
}

/// Verifies a signed bundle against `keys` (the server's published JWKS): compact
/// JWS, `alg` EdDSA, `typ` [`BUNDLE_TYP`], a `kid` in `keys`, a valid signature,
/// then a well-formed payload of `issuer` and [`BUNDLE_VERSION`]. Expiry is the
/// caller's check (it needs the time).
///
/// # Errors
/// [`BundleError`].
pub fn verify_bundle(
    jws: &str,
    keys: &KeySet,
    issuer: &str,
) -> Result<VerifiedBundle, BundleError> {
    let payload = verify_jws(jws, keys, BUNDLE_TYP)?;
    let bundle: RevocationBundle =
        serde_json::from_slice(&payload).map_err(|_| BundleError::Malformed("payload"))?;
    if bundle.version != BUNDLE_VERSION || bundle.issuer != issuer {
        return Err(BundleError::Foreign);
    }
    Ok(VerifiedBundle {
        bundle,
        digest: hex::encode(Sha256::digest(&payload)),
    })
}

/// Verifies the receipt of an executed bundle ([`BundleExecution::receipt`],
/// `typ` [`EXECUTION_TYP`]) against `keys` and returns its claims (`iss` must be
/// `issuer`).
///
/// # Errors
/// [`BundleError`].
pub fn verify_receipt(
    jws: &str,
    keys: &KeySet,
    issuer: &str,
) -> Result<serde_json::Value, BundleError> {
    let payload = verify_jws(jws, keys, EXECUTION_TYP)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| BundleError::Malformed("payload"))?;
    if claims.get("iss").and_then(serde_json::Value::as_str) != Some(issuer) {
        return Err(BundleError::Foreign);
    }
    Ok(claims)
}

/// The current subjects of one tenant, with the stored devices (to revoke their keys).
#[derive(Default)]
struct Snapshot {
    subjects: TenantSubjects,
    devices: Vec<Device>,
}

fn sorted(mut list: Vec<String>) -> Vec<String> {
    list.sort();
    list.dedup();
    list
}

impl Broker {
    /// Signs `payload` as a compact JWS of type `typ` with the Token Authority's
    /// active key (the key file of `keys/`, checked to be the one the JWKS publishes).
    fn sign_jws(&self, typ: &str, payload: &[u8]) -> Result<String, BrokerError> {
        let path = self.data_dir_keys().join("authority.jwk");
        let text = crate::keys::read_private(&path)
            .map_err(|e| BrokerError::Internal(format!("authority key: {e}")))?
            .ok_or_else(|| BrokerError::Internal("authority key file is missing".into()))?;
        let key = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| custody_seal::SigningKey::from_jwk(t).ok())
            .ok_or_else(|| BrokerError::Internal("authority key file is malformed".into()))?;
        let x = b64(key.public().as_bytes());
        let published = self.authority.key_set();
        let kid = published
            .kids()
            .find(|kid| {
                published.key(kid).is_some_and(|k| {
                    k.to_json().get("x").and_then(serde_json::Value::as_str) == Some(x.as_str())
                })
            })
            .ok_or_else(|| {
                BrokerError::Internal("the authority key on disk is not in the JWKS".into())
            })?
            .to_owned();
        let header = serde_json::json!({"alg": "EdDSA", "typ": typ, "kid": kid});
        let header =
            serde_json::to_vec(&header).map_err(|e| BrokerError::Internal(e.to_string()))?;
        let input = format!("{}.{}", b64(&header), b64(payload));
        let signature = key.sign(input.as_bytes());
        Ok(format!("{input}.{}", b64(&signature)))
    }

    /// What touches each of `tenants` now. One pass over the vendor side (agents'
    /// grants and exports, service accounts) serves every tenant.
    async fn snapshot(
        &self,
        tenants: &[TenantId],
    ) -> Result<BTreeMap<String, Snapshot>, BrokerError> {
        let mut out: BTreeMap<String, Snapshot> = BTreeMap::new();
        for tenant in tenants {
            let mut snap = Snapshot::default();
            snap.subjects.tenant = tenant.as_str().to_owned();
            for admin in self.store.list_tenant_admins(tenant).await? {
                for device in self.store.list_devices(&admin.id).await? {
                    snap.subjects.devices.push(DeviceSubject {
                        id: device.id.as_str().to_owned(),
                        principal: admin.id.as_str().to_owned(),
                        jkt: device_jkt(&device),
                    });
                    snap.devices.push(device);
                }
                snap.subjects.principals.push(admin.id.as_str().to_owned());
            }
            out.insert(tenant.as_str().to_owned(), snap);
        }
        let mut artifact_tenant: BTreeMap<String, String> = BTreeMap::new();
        for agent in self
            .store
            .list_principals(Some(PrincipalClass::SupportAgent))
            .await?
        {
            for grant in self.store.list_agent_grants(&agent.id, None).await? {
                if matches!(grant.status, GrantStatus::Requested | GrantStatus::Approved)
                    && let Some(snap) = out.get_mut(grant.tenant_id.as_str())
                {
                    snap.subjects.grants.push(grant.id.as_str().to_owned());
                }
            }
            for export in self.store.list_agent_exports(&agent.id).await? {
                if export.state != ExportState::Pending {
                    continue;
                }
                let artifact = export.artifact_id.as_str().to_owned();
                let tenant = match artifact_tenant.get(&artifact) {
                    Some(tenant) => tenant.clone(),
                    None => {
                        let tenant = self
                            .store
                            .artifact(&export.artifact_id)
                            .await?
                            .tenant_id
                            .as_str()
                            .to_owned();
                        artifact_tenant.insert(artifact, tenant.clone());
                        tenant
                    }
                };
                if let Some(snap) = out.get_mut(&tenant) {
                    snap.subjects.exports.push(export.id.as_str().to_owned());
                }
            }
        }
        for account in self
            .store
            .list_principals(Some(PrincipalClass::ServiceAccount))
            .await?
        {
            for tenant in account.service.iter().flat_map(|s| s.tenants.iter()) {
                if let Some(snap) = out.get_mut(tenant.as_str()) {
                    snap.subjects
                        .service_accounts
                        .push(account.id.as_str().to_owned());
                }
            }
        }
        for snap in out.values_mut() {
            let s = &mut snap.subjects;
            s.principals = sorted(std::mem::take(&mut s.principals));
            s.grants = sorted(std::mem::take(&mut s.grants));
            s.exports = sorted(std::mem::take(&mut s.exports));
            s.service_accounts = sorted(std::mem::take(&mut s.service_accounts));
            s.devices.sort();
            s.devices.dedup();
        }
        Ok(out)
    }

    /// Stages a signed revocation bundle for `tenants` (1 to [`MAX_TENANTS`], each
    /// once) valid for `ttl_secs` (default [`DEFAULT_TTL_SECS`], at most
    /// [`MAX_TTL_SECS`]), and opens its approval requests. The caller must be allowed
    /// `token.revoke` on every tenant (operators, and per the default policy a
    /// tenant's own admins for their tenant).
    pub async fn stage_revocation_bundle(
        &self,
        caller: &Caller,
        tenants: &[TenantId],
        ttl_secs: Option<u64>,
    ) -> Result<StagedBundle, BrokerError> {
        let ttl = ttl_secs.unwrap_or(DEFAULT_TTL_SECS);
        if ttl == 0 || ttl > MAX_TTL_SECS {
            return Err(BrokerError::BadRequest(format!(
                "ttl_secs must be 1..={MAX_TTL_SECS}"
            )));
        }
        let unique: BTreeSet<&TenantId> = tenants.iter().collect();
        if tenants.is_empty() || tenants.len() > MAX_TENANTS || unique.len() != tenants.len() {
            return Err(BrokerError::BadRequest(format!(
                "tenants must name 1..={MAX_TENANTS} distinct tenants"
            )));
        }
        let ids: Vec<TenantId> = unique.into_iter().cloned().collect();
        let mut stored = Vec::with_capacity(ids.len());
        for id in &ids {
            let tenant = self.store.tenant(id).await?;
            let set = self
                .revoke_facts(caller, &caller.principal)
                .await?
                .tenant(&tenant);
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
            stored.push(tenant);
        }
        let mut reference = [0u8; 16];
        getrandom::fill(&mut reference).map_err(|_| BrokerError::Internal("entropy".into()))?;
        let now = self.now_u64();
        let subjects: Vec<TenantSubjects> = self
            .snapshot(&ids)
            .await?
            .into_values()
            .map(|s| s.subjects)
            .collect();
        let bundle = RevocationBundle {
            version: BUNDLE_VERSION,
            bundle_id: format!("rvb_{}", hex::encode(reference)),
            issuer: self.public_url.clone(),
            staged_by: caller.principal.id.as_str().to_owned(),
            staged_at: now,
            expires_at: now.saturating_add(ttl),
            counts: SubjectCounts::of(&subjects),
            tenants: subjects,
        };
        let payload =
            serde_json::to_vec(&bundle).map_err(|e| BrokerError::Internal(e.to_string()))?;
        let digest = hex::encode(Sha256::digest(&payload));
        let jws = self.sign_jws(BUNDLE_TYP, &payload)?;
        if jws.len() > MAX_BUNDLE_BYTES {
            return Err(BrokerError::BadRequest(format!(
                "the bundle would exceed {MAX_BUNDLE_BYTES} bytes: stage fewer tenants per bundle"
            )));
        }
        let mut approval_requests = Vec::with_capacity(stored.len());
        for tenant in &stored {
            let request = ApprovalRequest {
                action: Action::TenantRevokeAll,
                tenant: tenant.id.as_str().to_owned(),
                artifact_ids: BTreeSet::new(),
                parameters: BTreeMap::from([
                    (
                        "scope".to_owned(),
                        "tokens,sessions,grants,exports,devices".to_owned(),
                    ),
                    (PARAM_BUNDLE.to_owned(), bundle.bundle_id.clone()),
                    (PARAM_DIGEST.to_owned(), digest.clone()),
                ]),
                requester: caller.principal.id.as_str().to_owned(),
                expires_at: bundle.expires_at,
            };
            let view = self
                .create_vendor_request(caller, request, Some(&tenant.id))
                .await?;
            let mut act = Act::by(
                caller,
                EventKind::GrantRequest,
                tenant.id.as_str(),
                "revocation_bundle",
                &bundle.bundle_id,
            );
            act.resource.digest = Some(format!("sha256:{digest}"));
            self.record(act).await?;
            approval_requests.push(BundleApproval {
                tenant: tenant.id.as_str().to_owned(),
                approval_request_id: view.approval_request_id.as_str().to_owned(),
                request_digest: view.digest,
            });
        }
        Ok(StagedBundle {
            jws,
            digest,
            bundle,
            approval_requests,
        })
    }

    /// Checks one tenant's approval request is this bundle's, still pending, and
    /// returns its quorum evidence (if met) and id.
    async fn bundle_approval(
        &self,
        id: &ApprovalRequestId,
        tenant: &str,
        verified: &VerifiedBundle,
    ) -> Result<(Option<custody_policy::QuorumEvidence>, ApprovalRequestId), BrokerError> {
        let (stored, request) = self
            .load_vendor_approval(id)
            .await?
            .ok_or_else(|| BrokerError::BadRequest("not a tenant revocation request".into()))?;
        let param = |name: &str| request.parameters.get(name).map(String::as_str);
        if request.action != Action::TenantRevokeAll
            || request.tenant != tenant
            || param(PARAM_BUNDLE) != Some(verified.bundle.bundle_id.as_str())
            || param(PARAM_DIGEST) != Some(verified.digest.as_str())
        {
            return Err(BrokerError::BadRequest(
                "an approval request is not this bundle's request for its tenant".into(),
            ));
        }
        if stored.status != ApprovalStatus::Pending {
            return Err(BrokerError::Conflict(
                "an approval request of this bundle was already used".into(),
            ));
        }
        let evidence = self.vendor_evidence(&stored, &request).await?;
        Ok((evidence, stored.id))
    }

    /// Executes a signed bundle with its approvals (tenant id -> approval request id).
    /// All or nothing up to the revocation: every check and every tenant's
    /// `tenant.revoke_all` decision passes before the first subject is revoked.
    /// Returns once every epoch is effective in this node's verifier.
    pub async fn execute_revocation_bundle(
        &self,
        caller: &Caller,
        jws: &str,
        approvals: &BTreeMap<String, ApprovalRequestId>,
    ) -> Result<BundleExecution, BrokerError> {
        let started_at_ms = self.now_ms();
        let verified = verify_bundle(jws, &self.authority.key_set(), &self.public_url)
            .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
        let bundle = &verified.bundle;
        let now = self.now_u64();
        if bundle.expires_at <= now {
            return Err(BrokerError::Gone(
                "the revocation bundle has expired: stage a new one".into(),
            ));
        }
        if bundle.staged_at > now.saturating_add(MAX_SKEW_SECS) {
            return Err(BrokerError::BadRequest(
                "the revocation bundle is dated in the future".into(),
            ));
        }
        let listed: BTreeSet<&str> = bundle.tenants.iter().map(|t| t.tenant.as_str()).collect();
        if bundle.tenants.is_empty()
            || listed.len() != bundle.tenants.len()
            || approvals.keys().any(|t| !listed.contains(t.as_str()))
        {
            return Err(BrokerError::BadRequest(
                "the approvals name a tenant outside the bundle".into(),
            ));
        }
        let mut ids = Vec::with_capacity(bundle.tenants.len());
        let mut used = BTreeMap::new();
        for subjects in &bundle.tenants {
            let tenant = self
                .store
                .tenant(&TenantId::parse(&subjects.tenant)?)
                .await?;
            let mut evidence = None;
            if let Some(id) = approvals.get(&subjects.tenant) {
                let (met, id) = self
                    .bundle_approval(id, &subjects.tenant, &verified)
                    .await?;
                evidence = met;
                used.insert(subjects.tenant.clone(), id);
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
            ids.push(tenant.id);
        }
        for id in used.values() {
            self.store
                .complete_approval(id, true, self.now_secs())
                .await?;
        }
        let mut current = self.snapshot(&ids).await?;
        let mut tenants = Vec::with_capacity(ids.len());
        let mut epochs = Vec::new();
        for subjects in &bundle.tenants {
            let snap = current.remove(&subjects.tenant).unwrap_or_default();
            let (done, tenant_epochs) = self
                .revoke_tenant_devices(subjects, &snap, used.get(&subjects.tenant))
                .await?;
            epochs.extend(tenant_epochs);
            tenants.push(done);
        }
        // Device keys are revoked in the store first (no new sign-in), then one epoch
        // per subject, effective here before the grants and exports are ended.
        let mut revoked = self.revoke_effective(&epochs)?;
        let now = self.now_secs();
        for (done, id) in tenants.iter_mut().zip(&ids) {
            done.grants_revoked = self.store.revoke_tenant_grants(id, now).await?;
            done.exports_revoked = self.store.revoke_tenant_exports(id, now).await?;
            revoked.grants_revoked += done.grants_revoked;
            revoked.exports_revoked += done.exports_revoked;
            revoked.devices_revoked += done.devices_revoked;
        }
        // Tokens were effective at `revoked.effective_at_ms`; grants and exports now.
        let effective_at_ms = self.now_ms();
        for done in &tenants {
            let mut act = Act::by(
                caller,
                EventKind::TokenRevoke,
                &done.tenant,
                "revocation_bundle",
                &bundle.bundle_id,
            );
            act.resource.digest = Some(format!("sha256:{}", verified.digest));
            self.record(act).await?;
        }
        let claims = serde_json::json!({
            "iss": self.public_url,
            "iat": self.now_u64(),
            "bundle_id": bundle.bundle_id,
            "bundle_digest": verified.digest,
            "executed_by": caller.principal.id.as_str(),
            "tenants": bundle.tenants.iter().map(|t| t.tenant.as_str()).collect::<Vec<_>>(),
            "state_version": revoked.state_version,
            "epochs": revoked.revoked.len(),
            "grants_revoked": revoked.grants_revoked,
            "exports_revoked": revoked.exports_revoked,
            "devices_revoked": revoked.devices_revoked,
            "effective_at_ms": effective_at_ms,
        });
        let claims =
            serde_json::to_vec(&claims).map_err(|e| BrokerError::Internal(e.to_string()))?;
        let receipt = self.sign_jws(EXECUTION_TYP, &claims)?;
        Ok(BundleExecution {
            bundle_id: bundle.bundle_id.clone(),
            digest: verified.digest.clone(),
            tenants,
            revoked,
            receipt,
            started_at_ms,
            effective_at_ms,
        })
    }

    /// One tenant of an execution: revokes the device keys (bundle and current) in the
    /// store and returns the tenant's report and its epochs (tenant, principals,
    /// devices) to append.
    async fn revoke_tenant_devices(
        &self,
        staged: &TenantSubjects,
        snap: &Snapshot,
        approval: Option<&ApprovalRequestId>,
    ) -> Result<(TenantRevoked, Vec<(SubjectKind, String)>), BrokerError> {
        let now = &snap.subjects;
        let staged_principals: BTreeSet<&String> = staged.principals.iter().collect();
        let staged_devices: BTreeSet<&String> = staged.devices.iter().map(|d| &d.id).collect();
        let staged_grants: BTreeSet<&String> = staged.grants.iter().collect();
        let staged_exports: BTreeSet<&String> = staged.exports.iter().collect();
        let added = Added {
            principals: now
                .principals
                .iter()
                .filter(|p| !staged_principals.contains(p))
                .cloned()
                .collect(),
            devices: now
                .devices
                .iter()
                .filter(|d| !staged_devices.contains(&d.id))
                .map(|d| d.id.clone())
                .collect(),
            grants: now
                .grants
                .iter()
                .filter(|g| !staged_grants.contains(g))
                .cloned()
                .collect(),
            exports: now
                .exports
                .iter()
                .filter(|e| !staged_exports.contains(e))
                .cloned()
                .collect(),
        };
        let mut devices_revoked = 0;
        for device in &snap.devices {
            devices_revoked += self.revoke_device_key(device).await?;
        }
        // A device of the bundle no longer found under the tenant's admins.
        let current_ids: BTreeSet<&str> = snap.devices.iter().map(|d| d.id.as_str()).collect();
        for device in staged
            .devices
            .iter()
            .filter(|d| !current_ids.contains(d.id.as_str()))
        {
            if let Ok(id) = DeviceId::parse(&device.id)
                && let Ok(stored) = self.store.device(&id).await
            {
                devices_revoked += self.revoke_device_key(&stored).await?;
            }
        }
        let principals: BTreeSet<&String> = staged_principals
            .into_iter()
            .chain(&now.principals)
            .collect();
        let devices: BTreeSet<&DeviceSubject> = staged.devices.iter().chain(&now.devices).collect();
        let mut epochs = vec![(SubjectKind::Tenant, staged.tenant.clone())];
        epochs.extend(
            principals
                .iter()
                .map(|p| (SubjectKind::Principal, (*p).clone())),
        );
        let jkts: BTreeSet<&String> = devices.iter().map(|d| &d.jkt).collect();
        epochs.extend(jkts.into_iter().map(|j| (SubjectKind::Device, j.clone())));
        let report = TenantRevoked {
            tenant: staged.tenant.clone(),
            principals: principals.into_iter().cloned().collect(),
            devices: sorted(devices.iter().map(|d| d.id.clone()).collect()),
            devices_revoked,
            grants_revoked: 0,
            exports_revoked: 0,
            service_accounts: now.service_accounts.clone(),
            added_since_staging: added,
            approval_request_id: approval.map(|a| a.as_str().to_owned()),
        };
        Ok((report, epochs))
    }
}
