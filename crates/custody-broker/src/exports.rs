//! Sealed exports with online key release (DESIGN.md §5, §7).
//!
//! 1. A support agent holding an approved grant that covers `artifact.export` asks for
//!    an export of one artifact: [`Broker::request_export`] creates the exact approval
//!    request (action, tenant, artifact, the agent's device and network context, the
//!    grant), which approvers sign like a grant's.
//! 2. With the quorum met, [`Broker::export`] decides `artifact.export` (Cedar, with the
//!    quorum evidence, the grant and the device binding in the context), appends the
//!    `export` event, and streams the sanitized artifact sealed to the agent's enrolled
//!    device (custody-seal: HPKE to the device key, header signed by the broker, 5-minute
//!    window, the agent's network context). The sealed envelope is then wrapped once
//!    more under a random release key that only the server holds (AES-256-GCM STREAM,
//!    [`crate::atrest`]), so the file alone opens nowhere, not even on the device.
//! 3. [`Broker::release`] hands that release key out once: only to the agent's
//!    proof-of-possession key and network context, only inside the window, only if the
//!    export was not revoked (an atomic compare-and-set in the store). Every release and
//!    every refusal is an `unseal` audit event. Cryptography alone cannot enforce a TTL or
//!    a single open; the online release does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use custody_audit::event::EventKind;
use custody_policy::{
    Action, ApprovalRequest, Context, Decision, QuorumConfig, Request, ResourceRef,
};
use custody_store::{
    ApprovalRequestId, ArtifactId, ExportId, GrantStatus, NewApprovalRequest, NewExport,
    ReleaseClaim,
};

use crate::atrest::{BlobWriter, DataKey};
use crate::audit::Act;
use crate::authz::{FactSet, principal_ref};
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// Lifetime of an export's window (seconds).
pub const EXPORT_TTL_SECS: u64 = custody_seal::envelope::EXPORT_WINDOW_SECS;

/// A prepared export: the approval request to sign.
#[derive(Debug, serde::Serialize)]
pub struct ExportRequestView {
    /// The approval request id.
    pub approval_request_id: ApprovalRequestId,
    /// The exact request approvers sign.
    pub request: ApprovalRequest,
    /// Its digest (hex).
    pub digest: String,
}

/// A sealed export, ready to send.
#[derive(Debug)]
pub struct SealedExport {
    /// The export id (the client asks for the release key with it).
    pub id: ExportId,
    /// Window end, Unix seconds.
    pub not_after: u64,
    /// The wrapped envelope bytes.
    pub bytes: Vec<u8>,
}

/// Magic of the export file: `CUSTEXP1`, then the 36-byte export id, then the
/// release-key layer around the sealed envelope.
pub const EXPORT_FILE_MAGIC: &[u8; 8] = b"CUSTEXP1";

impl SealedExport {
    /// The export file: magic, export id, wrapped envelope.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 36 + self.bytes.len());
        out.extend_from_slice(EXPORT_FILE_MAGIC);
        out.extend_from_slice(self.id.as_str().as_bytes());
        out.extend_from_slice(&self.bytes);
        out
    }
}

/// Splits an export file into its export id and wrapped envelope.
pub fn parse_export_file(bytes: &[u8]) -> Option<(ExportId, &[u8])> {
    let rest = bytes.strip_prefix(EXPORT_FILE_MAGIC.as_slice())?;
    let (id, body) = rest.split_at_checked(36)?;
    let id = ExportId::parse(std::str::from_utf8(id).ok()?).ok()?;
    Some((id, body))
}

/// Removes the release-key layer of an export file's body with the released key,
/// giving the sealed envelope (which `custody_seal::open` checks and opens).
pub fn unwrap_export(
    id: &ExportId,
    body: &[u8],
    key: &[u8; 32],
) -> Result<Vec<u8>, crate::atrest::AtRestError> {
    use std::io::Read as _;
    let mut reader =
        crate::atrest::BlobReader::new(body, &DataKey::from_release_key(key), &binding(id))?;
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

/// What a release hands out. `Debug` never shows the key.
pub struct Release {
    /// The release key (a secret; once).
    pub key: [u8; 32],
    /// The network context hash the export is bound to (hex, as `custody open` takes).
    pub network_context: String,
    /// The broker's seal verification key (JWK), to check the envelope's signature.
    pub broker_key_jwk: String,
}

impl std::fmt::Debug for Release {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Release")
            .field("key", &"[redacted]")
            .field("network_context", &self.network_context)
            .finish_non_exhaustive()
    }
}

fn binding(export: &ExportId) -> String {
    format!("export/{}", export.as_str())
}

/// The caller's network-context hash; a context that does not decode is an error,
/// never an all-zero context that every other undecodable context would match.
fn network_digest(caller: &Caller) -> Result<[u8; 32], BrokerError> {
    caller
        .network
        .hash()
        .ok_or_else(|| BrokerError::Internal("network context does not decode".into()))
}

impl Broker {
    /// Step 1: the approval request for exporting `artifact` to the caller's device.
    pub async fn request_export(
        &self,
        caller: &Caller,
        artifact: &ArtifactId,
    ) -> Result<ExportRequestView, BrokerError> {
        let artifact = self.store.artifact(artifact).await?;
        let grants = self
            .store
            .list_agent_grants(&caller.principal.id, Some(self.now_secs()))
            .await?;
        let grant = grants
            .into_iter()
            .find(|g| {
                g.case_id == artifact.case_id
                    && g.status == GrantStatus::Approved
                    && g.actions
                        .iter()
                        .any(|a| a == Action::ArtifactExport.as_str())
            })
            .ok_or(BrokerError::Forbidden {
                action: Action::ArtifactExport.as_str(),
            })?;
        let now = self.now_u64();
        let expires_at = now + QuorumConfig::default().approval_ttl_secs;
        let request = ApprovalRequest {
            action: Action::ArtifactExport,
            tenant: artifact.tenant_id.as_str().to_owned(),
            artifact_ids: BTreeSet::from([artifact.id.as_str().to_owned()]),
            parameters: BTreeMap::from([
                ("grant".to_owned(), grant.id.as_str().to_owned()),
                ("device".to_owned(), caller.device.id.as_str().to_owned()),
                (
                    "network_hash".to_owned(),
                    caller.network.as_str().to_owned(),
                ),
            ]),
            requester: caller.principal.id.as_str().to_owned(),
            expires_at,
        };
        let digest = *request.digest().as_bytes();
        let stored = self
            .store
            .create_approval_request(&NewApprovalRequest {
                action: Action::ArtifactExport.as_str().to_owned(),
                tenant_id: Some(artifact.tenant_id.clone()),
                request_hash: digest,
                requester_id: caller.principal.id.clone(),
                parameters_json: serde_json::to_string(&request)
                    .map_err(|e| BrokerError::Internal(e.to_string()))?,
                grant_id: None,
                created_at: self.now_secs(),
                expires_at: i64::try_from(expires_at).unwrap_or(i64::MAX),
            })
            .await?;
        Ok(ExportRequestView {
            approval_request_id: stored.id,
            request,
            digest: hex::encode(digest),
        })
    }

    /// Step 2: with the quorum met, seals the artifact to the caller's device. The
    /// approval is used up.
    pub async fn export(
        &self,
        caller: &Caller,
        approval: &ApprovalRequestId,
    ) -> Result<SealedExport, BrokerError> {
        let (stored, request, grant, tenant) = self.load_approval(approval).await?;
        let forbidden = BrokerError::Forbidden {
            action: Action::ArtifactExport.as_str(),
        };
        let artifact_id = request
            .artifact_ids
            .iter()
            .next()
            .cloned()
            .unwrap_or_default();
        let artifact = self
            .store
            .artifact(&ArtifactId::parse(&artifact_id)?)
            .await?;
        let case = self.store.case(&artifact.case_id).await?;
        // The grant the export relies on must still be approved and unexpired: a grant
        // revoked or lapsed after the export was approved ends it too.
        if request.action != Action::ArtifactExport
            || request.parameters.get("device").map(String::as_str)
                != Some(caller.device.id.as_str())
            || grant.status != GrantStatus::Approved
            || !grant.is_active_at(self.now_secs())
        {
            return Err(forbidden);
        }
        let evidence = self.evidence(&stored, &request, &tenant).await?;
        let mut set = FactSet::default().tenant(&tenant).case(&case);
        set.facts.grants.insert(
            grant.id.as_str().to_owned(),
            crate::grants::grant_facts(&grant),
        );
        let policy_request = Request {
            principal: principal_ref(&caller.principal),
            action: Action::ArtifactExport,
            resource: ResourceRef::Artifact {
                id: artifact.id.as_str().to_owned(),
                case: case.id.as_str().to_owned(),
                tenant: tenant.id.as_str().to_owned(),
            },
            context: Context {
                device_bound: true,
                network_hash: caller.network.as_str().to_owned(),
                risk_score: 0,
                now: self.now_u64(),
                session_class: Some(crate::authz::policy_class(caller.principal.class)),
                grant: Some(grant.id.as_str().to_owned()),
                quorum: evidence,
            },
        };
        let decision = self.policy.authorize(&policy_request, &set.facts);
        if let Some(hook) = &self.on_decision {
            hook(Action::ArtifactExport.as_str(), decision.is_allowed());
        }
        let digest = Some(format!("sha256:{}", hex::encode(artifact.sanitized_sha256)));
        let act = Act::by(
            caller,
            EventKind::Export,
            tenant.id.as_str(),
            "artifact",
            artifact.id.as_str(),
        )
        .with_artifact(digest, case.id.as_str());
        if let Decision::Deny(_) = decision {
            self.record(act.denied()).await?;
            return Err(forbidden);
        }
        // The approval is used once.
        self.store
            .complete_approval(&stored.id, true, self.now_secs())
            .await?;
        let recorded = self.record(act).await?;
        self.seal_export(caller, &artifact, &case.id, &recorded)
            .await
    }

    async fn seal_export(
        &self,
        caller: &Caller,
        artifact: &custody_store::Artifact,
        case: &custody_store::CaseId,
        recorded: &crate::audit::Recorded,
    ) -> Result<SealedExport, BrokerError> {
        let internal = |e: String| BrokerError::Internal(format!("export: {e}"));
        let mut release_key = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(release_key.as_mut_slice()).map_err(|_| internal("entropy".into()))?;
        let wrapped = self
            .kek
            .wrap_release_key(&release_key)
            .map_err(|e| internal(e.to_string()))?;
        let now = self.now_u64();
        let not_after = now + EXPORT_TTL_SECS;
        let export = self
            .store
            .create_export(&NewExport {
                artifact_id: artifact.id.clone(),
                agent_id: caller.principal.id.clone(),
                device_id: caller.device.id.clone(),
                network_hash: network_digest(caller)?,
                not_before: self.now_secs(),
                not_after: i64::try_from(not_after).unwrap_or(i64::MAX),
                wrapped_content_key: wrapped,
                created_at: self.now_secs(),
            })
            .await?;
        let sealed = self
            .seal_to_device(caller, artifact, case, recorded, &export, release_key)
            .await;
        if sealed.is_err() {
            // Nothing half-way: the export row never stays pending without its file,
            // so its release key can never be handed out. If even this fails the row
            // stays pending, but its file was never sent and it expires in minutes.
            if let Err(e) = self
                .store
                .end_export(
                    &export.id,
                    custody_store::ExportState::Refused,
                    self.now_secs(),
                )
                .await
            {
                tracing::error!(export.id = %export.id.as_str(), error.detail = %e, "cannot end a failed export");
            }
        }
        sealed
    }

    /// Seals the artifact for `export` to the caller's device and wraps it under the
    /// release key.
    async fn seal_to_device(
        &self,
        caller: &Caller,
        artifact: &custody_store::Artifact,
        case: &custody_store::CaseId,
        recorded: &crate::audit::Recorded,
        export: &custody_store::Export,
        release_key: zeroize::Zeroizing<[u8; 32]>,
    ) -> Result<SealedExport, BrokerError> {
        let internal = |e: String| BrokerError::Internal(format!("export: {e}"));
        let now = u64::try_from(export.not_before).unwrap_or(0);
        let not_after = u64::try_from(export.not_after).unwrap_or(0);
        let recipient = custody_seal::HpkePublicKey::from_jwk(&caller.device.hpke_public_jwk)
            .map_err(|e| internal(e.to_string()))?;
        let mut export_id = [0u8; 16];
        let raw = export.id.as_str().trim_start_matches("exp_");
        hex::decode_to_slice(raw, &mut export_id).map_err(|e| internal(e.to_string()))?;
        let seal_request = custody_seal::SealRequest {
            export_id: custody_seal::ExportId(export_id),
            tenant: artifact.tenant_id.as_str().to_owned(),
            case: case.as_str().to_owned(),
            requester: caller.principal.id.as_str().to_owned(),
            artifact_digest: artifact.sanitized_sha256,
            content_length: artifact.size,
            network_context: custody_seal::NetworkContext(network_digest(caller)?),
            not_before: now,
            not_after,
            rules_version: artifact.rules_version.clone(),
            policy_bundle_id: self.policy.bundle_id().unwrap_or_else(|| "none".into()),
        };
        let reader = self.open_artifact(artifact, recorded).await?;
        let seal_key = Arc::clone(&self.seal_key);
        let bound = binding(&export.id);
        let bytes = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, BrokerError> {
            let key = DataKey::from_release_key(&release_key);
            let mut outer =
                BlobWriter::new(Vec::new(), &key, &bound).map_err(|e| internal(e.to_string()))?;
            custody_seal::seal(
                &seal_request,
                &recipient,
                &seal_key,
                &mut custody_seal::OsEntropy,
                reader,
                &mut outer,
            )
            .map_err(|e| internal(e.to_string()))?;
            let (bytes, _) = outer.finish().map_err(|e| internal(e.to_string()))?;
            Ok(bytes)
        })
        .await
        .map_err(|e| internal(e.to_string()))??;
        Ok(SealedExport {
            id: export.id.clone(),
            not_after,
            bytes,
        })
    }

    /// Step 3: releases the export's key, once, to the agent's key and network, inside
    /// the window. Refusals are audited too.
    pub async fn release(&self, caller: &Caller, id: &ExportId) -> Result<Release, BrokerError> {
        let export = self.store.export(id).await?;
        let artifact = self.store.artifact(&export.artifact_id).await?;
        let act = Act::by(
            caller,
            EventKind::Unseal,
            artifact.tenant_id.as_str(),
            "export",
            export.id.as_str(),
        )
        .with_artifact(
            Some(format!("sha256:{}", hex::encode(artifact.sanitized_sha256))),
            artifact.case_id.as_str(),
        );
        let claim = ReleaseClaim {
            agent_id: caller.principal.id.clone(),
            device_id: caller.device.id.clone(),
            network_hash: network_digest(caller)?,
        };
        let released = match self
            .store
            .release_export_once(id, &claim, self.now_secs())
            .await
        {
            Ok(released) => released,
            Err(err) => {
                self.record(act.denied()).await?;
                return Err(match BrokerError::from(err) {
                    BrokerError::Conflict(_) => BrokerError::Gone(
                        "this export was already opened, revoked, or is bound to another device or network".into(),
                    ),
                    other => other,
                });
            }
        };
        self.record(act).await?;
        let key = self
            .kek
            .unwrap_release_key(&released.wrapped_content_key)
            .map_err(|e| BrokerError::Internal(e.to_string()))?;
        Ok(Release {
            key: *key,
            network_context: hex::encode(export.network_hash),
            broker_key_jwk: self.seal_key.public().to_jwk(),
        })
    }

    /// The broker's seal verification key (JWK).
    pub fn seal_public_jwk(&self) -> String {
        self.seal_key.public().to_jwk()
    }
}
