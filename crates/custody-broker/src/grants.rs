//! Just-in-time grants and quorum approvals (DESIGN.md §7).
//!
//! A support agent requests a grant for one case (scoped actions, expiring, at most
//! 1 h). The grant starts `requested`; its approval request is the exact
//! [`ApprovalRequest`] of custody-policy, whose digest every approver signs with the
//! Ed25519 key of their enrolled device. After each approval the quorum is evaluated
//! by [`QuorumRule::evaluate`]: AND across groups, M-of-N within each, never the
//! requester, one principal counted once, signatures checked, approvals expiring. When
//! it is met the grant becomes `approved` in the same transaction as the request.
//!
//! The default rule: one `support_lead`; in `delegated` mode also one
//! `security_reviewer`; in `on-request` mode (the default) the policy crate adds the
//! tenant's admins as a group, so a tenant admin must approve too; in `off` mode
//! nothing can be approved.

use std::collections::BTreeSet;

use custody_audit::event::EventKind;
use custody_policy::quorum::{ApproverKeys, QuorumCheck};
use custody_policy::{
    Action, Approval, ApprovalRequest, ApproverGroup, GrantFacts, GrantRequest, QuorumConfig,
    QuorumRule, ResourceRef,
};
use custody_store::{
    ApprovalRequestId, CaseId, Grant, GrantId, GrantStatus, NewApproval, NewApprovalRequest,
    NewGrant, PrincipalClass, SupportMode, Tenant,
};

use crate::audit::Act;
use crate::authz::FactSet;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// The approver group every grant needs.
pub const SUPPORT_LEAD: &str = "support_lead";
/// The second vendor group in `delegated` mode.
pub const SECURITY_REVIEWER: &str = "security_reviewer";

/// An approval request as returned to clients, with its grant when it has one (grant
/// and export requests; service-account and tenant-revocation requests have none).
#[derive(Debug, serde::Serialize)]
pub struct GrantView {
    /// The grant (`None` for vendor requests: service accounts, tenant revocation).
    pub grant: Option<Grant>,
    /// The approval request id.
    pub approval_request_id: ApprovalRequestId,
    /// The exact request approvers sign.
    pub request: ApprovalRequest,
    /// Its digest (hex), what each signature covers.
    pub digest: String,
    /// Approvals so far.
    pub approvals: usize,
}

fn policy_mode(mode: SupportMode) -> custody_policy::SupportMode {
    match mode {
        SupportMode::Off => custody_policy::SupportMode::Off,
        SupportMode::OnRequest => custody_policy::SupportMode::OnRequest,
        SupportMode::Delegated => custody_policy::SupportMode::Delegated,
    }
}

fn policy_key(device: &custody_store::Device) -> Option<custody_policy::PublicKey> {
    let key = custody_seal::VerifyingKey::from_jwk(&device.pop_public_jwk).ok()?;
    custody_policy::PublicKey::from_bytes(key.as_bytes()).ok()
}

pub(crate) fn grant_facts(grant: &Grant) -> GrantFacts {
    GrantFacts {
        agent: grant.agent_id.as_str().to_owned(),
        case: grant.case_id.as_str().to_owned(),
        tenant: grant.tenant_id.as_str().to_owned(),
        expires_at: u64::try_from(grant.expires_at).unwrap_or(0),
        actions: grant
            .actions
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect(),
    }
}

impl Broker {
    /// An agent requests a grant for `case` (default and maximum lifetime 1 h).
    pub async fn request_grant(
        &self,
        caller: &Caller,
        case: &CaseId,
        actions: &[String],
        lifetime_secs: Option<u64>,
    ) -> Result<GrantView, BrokerError> {
        let (case, tenant) = self.case_for(caller, case, Action::GrantRequest).await?;
        let actions: BTreeSet<Action> = actions
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|_| BrokerError::BadRequest(format!("unknown action {a:?}")))
            })
            .collect::<Result<_, _>>()?;
        let now = self.now_u64();
        let request = GrantRequest::new(
            caller.principal.id.as_str(),
            tenant.id.as_str(),
            case.id.as_str(),
            actions,
            now,
            lifetime_secs,
        )
        .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
        let mut reference = [0u8; 16];
        getrandom::fill(&mut reference).map_err(|_| BrokerError::Internal("entropy".into()))?;
        let reference = format!("gref_{}", hex::encode(reference));
        let approval = request.approval_request(&reference);
        let digest = *approval.digest().as_bytes();
        let expires_at = i64::try_from(request.expires_at()).unwrap_or(i64::MAX);
        let grant = self
            .store
            .create_grant(&NewGrant {
                agent_id: caller.principal.id.clone(),
                tenant_id: tenant.id.clone(),
                case_id: case.id.clone(),
                actions: request
                    .actions()
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
                requested_at: self.now_secs(),
                expires_at,
                request_hash: digest,
            })
            .await?;
        let stored = self
            .store
            .create_approval_request(&NewApprovalRequest {
                action: Action::GrantRequest.as_str().to_owned(),
                tenant_id: Some(tenant.id.clone()),
                request_hash: digest,
                requester_id: caller.principal.id.clone(),
                parameters_json: serde_json::to_string(&approval)
                    .map_err(|e| BrokerError::Internal(e.to_string()))?,
                grant_id: Some(grant.id.clone()),
                created_at: self.now_secs(),
                expires_at: self.now_secs()
                    + i64::try_from(QuorumConfig::default().approval_ttl_secs).unwrap_or(900),
            })
            .await?;
        self.record(
            Act::by(
                caller,
                EventKind::GrantRequest,
                tenant.id.as_str(),
                "grant",
                grant.id.as_str(),
            )
            .with_artifact(None, case.id.as_str()),
        )
        .await?;
        Ok(GrantView {
            grant: Some(grant),
            approval_request_id: stored.id,
            request: approval,
            digest: hex::encode(digest),
            approvals: 0,
        })
    }

    /// The approval request (what an approver must sign).
    pub async fn approval(
        &self,
        caller: &Caller,
        id: &ApprovalRequestId,
    ) -> Result<GrantView, BrokerError> {
        if let Some((stored, request)) = self.load_vendor_approval(id).await? {
            self.check_vendor_approver(caller, &request, true).await?;
            let approvals = self.store.list_approvals(&stored.id).await?.len();
            return Ok(vendor_view(stored, request, approvals));
        }
        let (stored, request, grant, tenant) = self.load_approval(id).await?;
        self.decide_approve(caller, &grant, &tenant).await?;
        self.grant_view(stored, request, grant).await
    }

    async fn grant_view(
        &self,
        stored: custody_store::ApprovalRequest,
        request: ApprovalRequest,
        grant: Grant,
    ) -> Result<GrantView, BrokerError> {
        let approvals = self.store.list_approvals(&stored.id).await?.len();
        Ok(GrantView {
            grant: Some(grant),
            approval_request_id: stored.id,
            digest: hex::encode(request.digest().as_bytes()),
            request,
            approvals,
        })
    }

    pub(crate) async fn load_approval(
        &self,
        id: &ApprovalRequestId,
    ) -> Result<
        (
            custody_store::ApprovalRequest,
            ApprovalRequest,
            Grant,
            Tenant,
        ),
        BrokerError,
    > {
        let stored = self.store.approval_request(id).await?;
        let request: ApprovalRequest = serde_json::from_str(&stored.parameters_json)
            .map_err(|e| BrokerError::Internal(format!("stored approval request: {e}")))?;
        // A grant's own request names it; an export's request names the grant it
        // relies on in its parameters.
        let grant_id = match (&stored.grant_id, request.parameters.get("grant")) {
            (Some(id), _) => id.clone(),
            (None, Some(text)) => {
                GrantId::parse(text).map_err(|_| BrokerError::NotFound("grant"))?
            }
            (None, None) => return Err(BrokerError::NotFound("grant")),
        };
        let grant = self.store.grant(&grant_id).await?;
        let tenant = self.store.tenant(&grant.tenant_id).await?;
        // A containment freeze of the tenant's exports refuses every step of an export
        // (see `crate::containment`).
        if request.action == Action::ArtifactExport
            && self.store.export_freeze(&tenant.id).await?.is_some()
        {
            return Err(BrokerError::Forbidden {
                action: Action::ArtifactExport.as_str(),
            });
        }
        Ok((stored, request, grant, tenant))
    }

    async fn decide_approve(
        &self,
        caller: &Caller,
        grant: &Grant,
        tenant: &Tenant,
    ) -> Result<(), BrokerError> {
        let case = self.store.case(&grant.case_id).await?;
        let mut set = FactSet::default().tenant(tenant).case(&case);
        set.facts
            .grants
            .insert(grant.id.as_str().to_owned(), grant_facts(grant));
        let resource = ResourceRef::Grant {
            id: grant.id.as_str().to_owned(),
        };
        self.decide(caller, Action::GrantApprove, resource, set, None)
            .await
    }

    /// The quorum rule for a grant in `tenant`.
    async fn grant_rule(
        &self,
        tenant: &Tenant,
    ) -> Result<(QuorumRule, BTreeSet<String>), BrokerError> {
        let mut vendor = self
            .store
            .list_principals(Some(PrincipalClass::SupportAgent))
            .await?;
        vendor.extend(
            self.store
                .list_principals(Some(PrincipalClass::Operator))
                .await?,
        );
        let members = |group: &str| -> BTreeSet<String> {
            vendor
                .iter()
                .filter(|p| !p.suspended && p.groups.iter().any(|g| g == group))
                .map(|p| p.id.as_str().to_owned())
                .collect()
        };
        let mut groups = vec![ApproverGroup {
            name: SUPPORT_LEAD.to_owned(),
            required: 1,
            members: members(SUPPORT_LEAD),
        }];
        if tenant.support_mode == SupportMode::Delegated {
            groups.push(ApproverGroup {
                name: SECURITY_REVIEWER.to_owned(),
                required: 1,
                members: members(SECURITY_REVIEWER),
            });
        }
        let admins = self
            .store
            .list_tenant_admins(&tenant.id)
            .await?
            .into_iter()
            .filter(|p| !p.suspended)
            .map(|p| p.id.as_str().to_owned())
            .collect();
        Ok((QuorumRule { groups }, admins))
    }

    /// Adds the caller's signed approval; when the quorum is met the grant becomes
    /// approved. Returns the grant as it stands.
    pub async fn approve(
        &self,
        caller: &Caller,
        id: &ApprovalRequestId,
        signature: &[u8],
        signed_at: u64,
    ) -> Result<GrantView, BrokerError> {
        if let Some((stored, request)) = self.load_vendor_approval(id).await? {
            return self
                .approve_vendor(caller, stored, request, signature, signed_at)
                .await;
        }
        let (stored, request, grant, tenant) = self.load_approval(id).await?;
        self.decide_approve(caller, &grant, &tenant).await?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| BrokerError::BadRequest("signature must be 64 bytes (Ed25519)".into()))?;
        let approval = Approval {
            approver: caller.principal.id.as_str().to_owned(),
            request_digest: request.digest(),
            signed_at,
            signature,
        };
        // Check this one approval alone first, so a bad signature is refused, not stored.
        let mut keys = ApproverKeys::new();
        let key = policy_key(&caller.device)
            .ok_or_else(|| BrokerError::Internal("device key is not Ed25519".into()))?;
        keys.insert(caller.principal.id.as_str(), key);
        if !approval_verifies(&approval, &request, &keys, self.now_u64()) {
            return Err(BrokerError::BadRequest(
                "the signature does not verify over this request with your device key".into(),
            ));
        }
        self.store
            .add_approval(&NewApproval {
                request_id: stored.id.clone(),
                request_hash: *request.digest().as_bytes(),
                approver_id: caller.principal.id.clone(),
                // Informational: the quorum evaluation assigns groups itself.
                group: match caller.principal.class {
                    PrincipalClass::CustomerAdmin => "tenant_admins".to_owned(),
                    _ => caller
                        .principal
                        .groups
                        .first()
                        .cloned()
                        .unwrap_or_else(|| "none".to_owned()),
                },
                signature: signature.to_vec(),
                approved_at: i64::try_from(signed_at).unwrap_or(i64::MAX),
            })
            .await?;
        self.record(Act::by(
            caller,
            EventKind::GrantApprove,
            tenant.id.as_str(),
            "grant",
            grant.id.as_str(),
        ))
        .await?;
        let grant = if request.action == Action::GrantRequest {
            self.try_complete(&stored, &request, grant, &tenant).await?
        } else {
            grant
        };
        self.grant_view(stored, request, grant).await
    }

    /// The quorum evidence for `request` from its stored approvals, if the quorum is met.
    pub(crate) async fn evidence(
        &self,
        stored: &custody_store::ApprovalRequest,
        request: &ApprovalRequest,
        tenant: &Tenant,
    ) -> Result<Option<custody_policy::QuorumEvidence>, BrokerError> {
        let (approvals, keys) = self.collect_approvals(stored, request).await?;
        let (rule, admins) = self.grant_rule(tenant).await?;
        let check = QuorumCheck {
            request,
            approvals: &approvals,
            keys: &keys,
            support_mode: policy_mode(tenant.support_mode),
            tenant_admins: &admins,
            risk_score: 0,
            now: self.now_u64(),
        };
        Ok(rule.evaluate(&QuorumConfig::default(), &check).ok())
    }

    /// The stored approvals of `stored` as policy approvals over `request`, with the
    /// key of each approver whose signature verifies with one of their active devices.
    async fn collect_approvals(
        &self,
        stored: &custody_store::ApprovalRequest,
        request: &ApprovalRequest,
    ) -> Result<(Vec<Approval>, ApproverKeys), BrokerError> {
        let mut keys = ApproverKeys::new();
        let mut approvals = Vec::new();
        for row in self.store.list_approvals(&stored.id).await? {
            let Ok(signature) = <[u8; 64]>::try_from(row.signature.as_slice()) else {
                continue;
            };
            let approval = Approval {
                approver: row.approver_id.as_str().to_owned(),
                request_digest: request.digest(),
                signed_at: u64::try_from(row.approved_at).unwrap_or(0),
                signature,
            };
            for device in self.store.list_devices(&row.approver_id).await? {
                let Some(key) = policy_key(&device) else {
                    continue;
                };
                if device.status != custody_store::DeviceStatus::Active {
                    continue;
                }
                let mut one = ApproverKeys::new();
                one.insert(row.approver_id.as_str(), key);
                if approval_verifies(&approval, request, &one, self.now_u64()) {
                    keys.insert(row.approver_id.as_str(), key);
                    break;
                }
            }
            approvals.push(approval);
        }
        Ok((approvals, keys))
    }

    async fn try_complete(
        &self,
        stored: &custody_store::ApprovalRequest,
        request: &ApprovalRequest,
        grant: Grant,
        tenant: &Tenant,
    ) -> Result<Grant, BrokerError> {
        let Some(evidence) = self.evidence(stored, request, tenant).await? else {
            return Ok(grant);
        };
        let reference = request.parameters.get("grant").cloned().unwrap_or_default();
        let grant_request = GrantRequest::new(
            grant.agent_id.as_str(),
            grant.tenant_id.as_str(),
            grant.case_id.as_str(),
            grant
                .actions
                .iter()
                .filter_map(|a| a.parse().ok())
                .collect(),
            request
                .parameters
                .get("requested_at")
                .and_then(|t| t.parse().ok())
                .unwrap_or(0),
            Some(u64::try_from(grant.expires_at - grant.requested_at).unwrap_or(0)),
        )
        .map_err(|e| BrokerError::Internal(e.to_string()))?;
        grant_request
            .approve(&reference, &evidence, self.now_u64())
            .map_err(|e| BrokerError::Conflict(e.to_string()))?;
        let (_, approved) = self
            .store
            .complete_approval(&stored.id, true, self.now_secs())
            .await?;
        Ok(approved.unwrap_or(grant))
    }

    /// The caller's grants (agents).
    pub async fn list_grants(&self, caller: &Caller) -> Result<Vec<Grant>, BrokerError> {
        let grants = self
            .store
            .list_agent_grants(&caller.principal.id, None)
            .await?;
        Ok(grants
            .into_iter()
            .filter(|g| g.status != GrantStatus::Denied)
            .collect())
    }

    /// Looks a grant up by id (tests and `custody check`).
    pub async fn grant(&self, id: &GrantId) -> Result<Grant, BrokerError> {
        Ok(self.store.grant(id).await?)
    }
}

/// Actions whose approval requests are vendor-wide and name no grant: creating or
/// widening a service account, and revoking everything of a tenant. Their quorum is
/// `Broker::vendor_rule`: one support lead AND one security reviewer, never the
/// requester, whatever the tenant's support mode.
pub const VENDOR_ACTIONS: [Action; 2] = [Action::ServiceAccountCreate, Action::TenantRevokeAll];

fn vendor_view(
    stored: custody_store::ApprovalRequest,
    request: ApprovalRequest,
    approvals: usize,
) -> GrantView {
    GrantView {
        grant: None,
        approval_request_id: stored.id,
        digest: hex::encode(request.digest().as_bytes()),
        request,
        approvals,
    }
}

impl Broker {
    /// Stores a vendor approval request (see [`VENDOR_ACTIONS`]) and returns its view.
    pub(crate) async fn create_vendor_request(
        &self,
        caller: &Caller,
        request: ApprovalRequest,
        tenant: Option<&custody_store::TenantId>,
    ) -> Result<GrantView, BrokerError> {
        request
            .validate()
            .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
        let digest = *request.digest().as_bytes();
        let stored = self
            .store
            .create_approval_request(&NewApprovalRequest {
                action: request.action.as_str().to_owned(),
                tenant_id: tenant.cloned(),
                request_hash: digest,
                requester_id: caller.principal.id.clone(),
                parameters_json: serde_json::to_string(&request)
                    .map_err(|e| BrokerError::Internal(e.to_string()))?,
                grant_id: None,
                created_at: self.now_secs(),
                expires_at: i64::try_from(request.expires_at).unwrap_or(i64::MAX),
            })
            .await?;
        Ok(vendor_view(stored, request, 0))
    }

    /// A vendor approval request (see [`VENDOR_ACTIONS`]) by id; `None` for grant and
    /// export requests. The stored hash must be the digest of the stored request.
    pub(crate) async fn load_vendor_approval(
        &self,
        id: &ApprovalRequestId,
    ) -> Result<Option<(custody_store::ApprovalRequest, ApprovalRequest)>, BrokerError> {
        let stored = self.store.approval_request(id).await?;
        let request: ApprovalRequest = serde_json::from_str(&stored.parameters_json)
            .map_err(|e| BrokerError::Internal(format!("stored approval request: {e}")))?;
        if stored.grant_id.is_some() || !VENDOR_ACTIONS.contains(&request.action) {
            return Ok(None);
        }
        if stored.request_hash != *request.digest().as_bytes()
            || stored.action != request.action.as_str()
        {
            return Err(BrokerError::Internal(
                "stored approval request does not match its hash".into(),
            ));
        }
        Ok(Some((stored, request)))
    }

    /// The quorum rule of vendor requests: one `support_lead` AND one
    /// `security_reviewer` among active vendor principals (agents and operators).
    pub(crate) async fn vendor_rule(&self) -> Result<QuorumRule, BrokerError> {
        let mut vendor = self
            .store
            .list_principals(Some(PrincipalClass::SupportAgent))
            .await?;
        vendor.extend(
            self.store
                .list_principals(Some(PrincipalClass::Operator))
                .await?,
        );
        let members = |group: &str| -> BTreeSet<String> {
            vendor
                .iter()
                .filter(|p| !p.suspended && p.groups.iter().any(|g| g == group))
                .map(|p| p.id.as_str().to_owned())
                .collect()
        };
        Ok(QuorumRule {
            groups: vec![
                ApproverGroup {
                    name: SUPPORT_LEAD.to_owned(),
                    required: 1,
                    members: members(SUPPORT_LEAD),
                },
                ApproverGroup {
                    name: SECURITY_REVIEWER.to_owned(),
                    required: 1,
                    members: members(SECURITY_REVIEWER),
                },
            ],
        })
    }

    /// Who may see or approve a vendor request: a member of one of the rule's groups;
    /// the requester may read its own request (`read`) but never approve it.
    async fn check_vendor_approver(
        &self,
        caller: &Caller,
        request: &ApprovalRequest,
        read: bool,
    ) -> Result<(), BrokerError> {
        let forbidden = BrokerError::Forbidden {
            action: Action::GrantApprove.as_str(),
        };
        if caller.principal.id.as_str() == request.requester {
            return if read { Ok(()) } else { Err(forbidden) };
        }
        let rule = self.vendor_rule().await?;
        let member = rule
            .groups
            .iter()
            .any(|g| g.members.contains(caller.principal.id.as_str()));
        if member { Ok(()) } else { Err(forbidden) }
    }

    async fn approve_vendor(
        &self,
        caller: &Caller,
        stored: custody_store::ApprovalRequest,
        request: ApprovalRequest,
        signature: &[u8],
        signed_at: u64,
    ) -> Result<GrantView, BrokerError> {
        self.check_vendor_approver(caller, &request, false).await?;
        let signature: [u8; 64] = signature
            .try_into()
            .map_err(|_| BrokerError::BadRequest("signature must be 64 bytes (Ed25519)".into()))?;
        let approval = Approval {
            approver: caller.principal.id.as_str().to_owned(),
            request_digest: request.digest(),
            signed_at,
            signature,
        };
        let mut keys = ApproverKeys::new();
        let key = policy_key(&caller.device)
            .ok_or_else(|| BrokerError::Internal("device key is not Ed25519".into()))?;
        keys.insert(caller.principal.id.as_str(), key);
        if !approval_verifies(&approval, &request, &keys, self.now_u64()) {
            return Err(BrokerError::BadRequest(
                "the signature does not verify over this request with your device key".into(),
            ));
        }
        self.store
            .add_approval(&NewApproval {
                request_id: stored.id.clone(),
                request_hash: *request.digest().as_bytes(),
                approver_id: caller.principal.id.clone(),
                group: caller
                    .principal
                    .groups
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "none".to_owned()),
                signature: signature.to_vec(),
                approved_at: i64::try_from(signed_at).unwrap_or(i64::MAX),
            })
            .await?;
        self.record(Act::by(
            caller,
            EventKind::GrantApprove,
            &request.tenant,
            "approval_request",
            stored.id.as_str(),
        ))
        .await?;
        let approvals = self.store.list_approvals(&stored.id).await?.len();
        Ok(vendor_view(stored, request, approvals))
    }

    /// The quorum evidence of a vendor request, if its quorum is met now.
    pub(crate) async fn vendor_evidence(
        &self,
        stored: &custody_store::ApprovalRequest,
        request: &ApprovalRequest,
    ) -> Result<Option<custody_policy::QuorumEvidence>, BrokerError> {
        let (approvals, keys) = self.collect_approvals(stored, request).await?;
        let rule = self.vendor_rule().await?;
        let check = QuorumCheck {
            request,
            approvals: &approvals,
            keys: &keys,
            support_mode: custody_policy::SupportMode::Delegated,
            tenant_admins: &BTreeSet::new(),
            risk_score: 0,
            now: self.now_u64(),
        };
        Ok(rule.evaluate(&QuorumConfig::default(), &check).ok())
    }
}

/// Whether one approval verifies now (signature over this request, known key, not
/// expired, not dated ahead: the approver's own `signed_at` is never the clock);
/// the quorum evaluation is reused with a one-member rule so the check is the policy
/// crate's, not a second implementation.
fn approval_verifies(
    approval: &Approval,
    request: &ApprovalRequest,
    keys: &ApproverKeys,
    now: u64,
) -> bool {
    let rule = QuorumRule {
        groups: vec![ApproverGroup {
            name: "one".to_owned(),
            required: 1,
            members: BTreeSet::from([approval.approver.clone()]),
        }],
    };
    let check = QuorumCheck {
        request,
        approvals: std::slice::from_ref(approval),
        keys,
        support_mode: custody_policy::SupportMode::Delegated,
        tenant_admins: &BTreeSet::new(),
        risk_score: 0,
        now,
    };
    rule.evaluate(&QuorumConfig::default(), &check).is_ok()
}
