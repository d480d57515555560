//! Quorum approvals (DESIGN §7, I6) as pure logic: persistence is elsewhere.
//!
//! Main types: [`ApprovalRequest`] (the exact request, with its domain-separated
//! canonical [`RequestDigest`]), [`Approval`] (an approver's Ed25519 signature over
//! that digest), [`QuorumRule`] (AND over [`ApproverGroup`]s, each M-of-N of named
//! principals), [`QuorumConfig`] (approval lifetime, risk thresholds) and
//! [`QuorumEvidence`], the only way to set `quorum_met` in a decision.
//!
//! Rules: every group must be met (AND, never OR); the requester never counts, even
//! when in a group; one principal counts once overall, so approvers are assigned to
//! group slots by a bipartite matching (an approver in two groups fills one slot);
//! any change to the request changes the digest and voids every approval; approvals
//! expire ([`QuorumConfig::approval_ttl_secs`], default 15 minutes); a risk score at or
//! above [`QuorumConfig::risk_raise_at`] raises every group's M, at or above
//! [`QuorumConfig::risk_deny_at`] denies; the tenant's support mode `off` makes
//! nothing approvable, `on-request` adds a tenant-admin group (1 of the tenant's
//! admins), `delegated` leaves vendor groups only.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sha2::{Digest as _, Sha256};

use crate::keys::{PublicKey, SigningKey};
use crate::model::{Action, Request, ResourceRef, SupportMode, check_id};

/// Domain tag of the request digest.
const REQUEST_DOMAIN: &[u8] = b"custody-approval-request/v1\0";
/// Domain tag of the signed approval statement.
const APPROVAL_DOMAIN: &[u8] = b"custody-approval/v1\0";
/// How far in the future an approval's `signed_at` may be (clock skew), seconds.
pub const MAX_SKEW_SECS: u64 = 60;
/// Name of the group added for tenants in `on-request` mode.
pub const TENANT_ADMIN_GROUP: &str = "tenant-admins";

/// The exact request being approved. Every field is covered by the digest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRequest {
    /// The privileged action.
    pub action: Action,
    /// The tenant it touches (for vendor-wide actions, the vendor scope name).
    pub tenant: String,
    /// The artifacts it touches (may be empty).
    #[serde(default)]
    pub artifact_ids: BTreeSet<String>,
    /// Further parameters (device, network hash, case, service-account scope...).
    /// `principal` and `bundle` name the resource of `serviceaccount.create` and
    /// `policy.activate`; `network_hash`, when present, must match the request's.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// The requesting principal's id (never counts as an approver).
    pub requester: String,
    /// When the request (and any use of its approvals) expires, Unix seconds.
    pub expires_at: u64,
}

/// SHA-256 over the canonical encoding of an [`ApprovalRequest`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestDigest([u8; 32]);

impl RequestDigest {
    /// The digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses lowercase hex.
    ///
    /// # Errors
    /// [`QuorumError::BadRequest`] on bad hex.
    pub fn from_hex(text: &str) -> Result<Self, QuorumError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| QuorumError::BadRequest {
            field: "request digest",
            defect: "is not 64 hex characters",
        })?;
        Ok(Self(bytes))
    }
}

impl fmt::Display for RequestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for RequestDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestDigest({self})")
    }
}

fn put(hash: &mut Sha256, bytes: &[u8]) {
    hash.update((bytes.len() as u64).to_be_bytes());
    hash.update(bytes);
}

impl ApprovalRequest {
    /// Checks ids and parameter names.
    ///
    /// # Errors
    /// [`QuorumError::BadRequest`] naming the field.
    pub fn validate(&self) -> Result<(), QuorumError> {
        let bad = |err: crate::model::IdError| QuorumError::BadRequest {
            field: err.field(),
            defect: "is malformed",
        };
        check_id("tenant", &self.tenant).map_err(bad)?;
        check_id("requester", &self.requester).map_err(bad)?;
        for id in &self.artifact_ids {
            check_id("artifact id", id).map_err(bad)?;
        }
        for (name, value) in &self.parameters {
            check_id("parameter name", name).map_err(bad)?;
            if value.len() > 4096 {
                return Err(QuorumError::BadRequest {
                    field: "parameter value",
                    defect: "is longer than 4096 bytes",
                });
            }
        }
        Ok(())
    }

    /// The canonical digest: a domain tag, then action, tenant, the sorted artifact
    /// ids, the sorted parameters, requester and expiry, each length-prefixed.
    pub fn digest(&self) -> RequestDigest {
        let mut hash = Sha256::new();
        hash.update(REQUEST_DOMAIN);
        put(&mut hash, self.action.as_str().as_bytes());
        put(&mut hash, self.tenant.as_bytes());
        hash.update((self.artifact_ids.len() as u64).to_be_bytes());
        for id in &self.artifact_ids {
            put(&mut hash, id.as_bytes());
        }
        hash.update((self.parameters.len() as u64).to_be_bytes());
        for (name, value) in &self.parameters {
            put(&mut hash, name.as_bytes());
            put(&mut hash, value.as_bytes());
        }
        put(&mut hash, self.requester.as_bytes());
        hash.update(self.expires_at.to_be_bytes());
        RequestDigest(hash.finalize().into())
    }
}

/// One approver's signature over one request digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// The approving principal's id.
    pub approver: String,
    /// The digest of the request approved.
    pub request_digest: RequestDigest,
    /// When it was signed, Unix seconds.
    pub signed_at: u64,
    /// Ed25519 signature over the approval statement.
    pub signature: [u8; 64],
}

fn statement(approver: &str, digest: &RequestDigest, signed_at: u64) -> Vec<u8> {
    let mut message = Vec::with_capacity(APPROVAL_DOMAIN.len() + 32 + approver.len() + 24);
    message.extend_from_slice(APPROVAL_DOMAIN);
    message.extend_from_slice(digest.as_bytes());
    message.extend_from_slice(&(approver.len() as u64).to_be_bytes());
    message.extend_from_slice(approver.as_bytes());
    message.extend_from_slice(&signed_at.to_be_bytes());
    message
}

impl Approval {
    /// `approver` signs `request` at `now` with `key`.
    pub fn sign(key: &SigningKey, approver: &str, request: &ApprovalRequest, now: u64) -> Self {
        let digest = request.digest();
        let signature = key.sign(&statement(approver, &digest, now));
        Self {
            approver: approver.to_owned(),
            request_digest: digest,
            signed_at: now,
            signature,
        }
    }
}

/// One approver group: at least `required` distinct members must approve.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverGroup {
    /// Group name (e.g. `support-leads`, `security`).
    pub name: String,
    /// M: approvals needed from this group.
    pub required: u32,
    /// N: the principals who may approve for it.
    pub members: BTreeSet<String>,
}

/// AND over groups: every group must be met, by distinct approvers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumRule {
    /// The groups; all must be met.
    pub groups: Vec<ApproverGroup>,
}

/// Lifetimes and risk thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuorumConfig {
    /// How long an approval stays usable after signing (default 900 s).
    pub approval_ttl_secs: u64,
    /// Risk score at which every group's M rises by [`Self::risk_raise_by`] (default 40).
    pub risk_raise_at: u32,
    /// How much M rises (default 1).
    pub risk_raise_by: u32,
    /// Risk score at which nothing is approvable (default 70, as the default policy).
    pub risk_deny_at: u32,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        Self {
            approval_ttl_secs: 900,
            risk_raise_at: 40,
            risk_raise_by: 1,
            risk_deny_at: 70,
        }
    }
}

/// Approver public keys by principal id.
#[derive(Debug, Clone, Default)]
pub struct ApproverKeys(BTreeMap<String, PublicKey>);

impl ApproverKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers (or replaces) `principal`'s key.
    pub fn insert(&mut self, principal: impl Into<String>, key: PublicKey) {
        self.0.insert(principal.into(), key);
    }
}

/// Everything one quorum evaluation looks at.
#[derive(Debug, Clone, Copy)]
pub struct QuorumCheck<'a> {
    /// The request approved.
    pub request: &'a ApprovalRequest,
    /// The approvals collected.
    pub approvals: &'a [Approval],
    /// Approver keys.
    pub keys: &'a ApproverKeys,
    /// The tenant's support mode.
    pub support_mode: SupportMode,
    /// The tenant's admins (the `on-request` group's members).
    pub tenant_admins: &'a BTreeSet<String>,
    /// Current risk score of the requester.
    pub risk_score: u32,
    /// Now, Unix seconds.
    pub now: u64,
}

/// Why an approval did not count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    /// The requester approved their own request.
    SelfApproval,
    /// It approves another (or a changed) request.
    OtherRequest,
    /// Older than the approval lifetime.
    Expired,
    /// Signed in the future beyond the allowed skew.
    FromTheFuture,
    /// The approver has no registered key.
    UnknownApprover,
    /// The signature does not verify.
    BadSignature,
    /// The same approver approved more than once (counted once).
    Duplicate,
}

/// Proof that a quorum approved one exact request; made only by
/// [`QuorumRule::evaluate`]. Put it in [`crate::Context::quorum`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEvidence {
    digest: RequestDigest,
    request: ApprovalRequest,
    approvers: BTreeMap<String, String>,
}

impl QuorumEvidence {
    /// The digest of the approved request.
    pub fn digest(&self) -> RequestDigest {
        self.digest
    }

    /// The approved request.
    pub fn request(&self) -> &ApprovalRequest {
        &self.request
    }

    /// Which approver filled which group (approver id -> group name).
    pub fn approvers(&self) -> &BTreeMap<String, String> {
        &self.approvers
    }

    /// Evidence for tests of the bundle test runner only.
    pub(crate) fn for_tests(request: ApprovalRequest) -> Self {
        Self {
            digest: request.digest(),
            request,
            approvers: BTreeMap::new(),
        }
    }

    /// Whether this evidence covers `request`: same action, same requester, same
    /// tenant and artifact (or resource named in the parameters), same network hash
    /// when one was approved, not expired. A mismatch is an error (a deny).
    pub(crate) fn covers(&self, request: &Request) -> Result<bool, String> {
        let approved = &self.request;
        let mismatch = |what: &str| {
            Err(format!(
                "quorum evidence does not cover this request ({what})"
            ))
        };
        if approved.action != request.action {
            return mismatch("action");
        }
        if approved.requester != request.principal.id {
            return mismatch("requester");
        }
        if approved.expires_at <= request.context.now {
            return mismatch("expired");
        }
        if let Some(network) = approved.parameters.get("network_hash")
            && *network != request.context.network_hash
        {
            return mismatch("network context");
        }
        let param = |name: &str| approved.parameters.get(name).map(String::as_str);
        let covered = match &request.resource {
            ResourceRef::Artifact { id, tenant, .. } => {
                *tenant == approved.tenant && approved.artifact_ids.contains(id)
            }
            ResourceRef::Tenant { id } => *id == approved.tenant,
            ResourceRef::Principal(principal) => param("principal") == Some(principal.id.as_str()),
            ResourceRef::PolicyBundle { id } => param("bundle") == Some(id.as_str()),
            ResourceRef::Grant { id } => param("grant") == Some(id.as_str()),
            ResourceRef::Case { id } => param("case") == Some(id.as_str()),
            ResourceRef::Device { id } => param("device") == Some(id.as_str()),
        };
        if !covered {
            return mismatch("resource");
        }
        Ok(true)
    }
}

/// Why a quorum is not met. Decision errors: not `non_exhaustive`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuorumError {
    /// The request is malformed.
    #[error("approval request: {field} {defect}")]
    BadRequest {
        /// The field.
        field: &'static str,
        /// The defect.
        defect: &'static str,
    },
    /// The rule has no group, or a group requires 0 or has no members.
    #[error("quorum rule is invalid: {reason}")]
    BadRule {
        /// Why.
        reason: &'static str,
    },
    /// The request itself has expired.
    #[error("the approval request has expired")]
    RequestExpired,
    /// The tenant's support mode is `off`: nothing is approvable.
    #[error("the tenant's support mode is off: nothing can be approved")]
    SupportModeOff,
    /// The risk score is at or above the deny threshold.
    #[error("risk score {score} is at or above the deny threshold {threshold}")]
    RiskDenied {
        /// The score.
        score: u32,
        /// The threshold.
        threshold: u32,
    },
    /// Not every group is met by distinct, valid approvals.
    #[error("quorum not met: groups {unmet:?} lack approvals ({valid} valid approvals)")]
    NotMet {
        /// Groups that could not be filled.
        unmet: Vec<String>,
        /// Distinct valid approvals counted.
        valid: usize,
        /// Approvals that did not count, and why.
        ignored: Vec<(String, Ignored)>,
    },
}

impl QuorumRule {
    /// Decides whether `check.approvals` meet this rule for `check.request`.
    ///
    /// # Errors
    /// [`QuorumError`]; only `Ok` yields [`QuorumEvidence`].
    pub fn evaluate(
        &self,
        config: &QuorumConfig,
        check: &QuorumCheck<'_>,
    ) -> Result<QuorumEvidence, QuorumError> {
        let request = check.request;
        request.validate()?;
        if request.expires_at <= check.now {
            return Err(QuorumError::RequestExpired);
        }
        if check.support_mode == SupportMode::Off {
            return Err(QuorumError::SupportModeOff);
        }
        if check.risk_score >= config.risk_deny_at {
            return Err(QuorumError::RiskDenied {
                score: check.risk_score,
                threshold: config.risk_deny_at,
            });
        }
        let groups = self.effective_groups(config, check)?;
        let digest = request.digest();
        let (valid, ignored) = valid_approvers(config, check, digest);
        let assignment = assign(&groups, &valid);
        let unmet: Vec<String> = groups
            .iter()
            .enumerate()
            .filter(|(index, group)| {
                let filled = assignment.values().filter(|slot| **slot == *index).count();
                filled < group.required as usize
            })
            .map(|(_, group)| group.name.clone())
            .collect();
        if !unmet.is_empty() {
            return Err(QuorumError::NotMet {
                unmet,
                valid: valid.len(),
                ignored,
            });
        }
        let approvers = assignment
            .into_iter()
            .filter_map(|(approver, index)| {
                groups
                    .get(index)
                    .map(|group| (approver, group.name.clone()))
            })
            .collect();
        Ok(QuorumEvidence {
            digest,
            request: request.clone(),
            approvers,
        })
    }

    /// The groups after support mode and risk: `on-request` adds the tenant-admin
    /// group; a raised risk adds to every M.
    fn effective_groups(
        &self,
        config: &QuorumConfig,
        check: &QuorumCheck<'_>,
    ) -> Result<Vec<ApproverGroup>, QuorumError> {
        let mut groups = self.groups.clone();
        if check.support_mode == SupportMode::OnRequest {
            groups.push(ApproverGroup {
                name: TENANT_ADMIN_GROUP.to_owned(),
                required: 1,
                members: check.tenant_admins.clone(),
            });
        }
        if groups.is_empty() {
            return Err(QuorumError::BadRule {
                reason: "it has no group",
            });
        }
        for group in &mut groups {
            if group.required == 0 {
                return Err(QuorumError::BadRule {
                    reason: "a group requires zero approvals",
                });
            }
            if group.members.is_empty() {
                return Err(QuorumError::BadRule {
                    reason: "a group has no members",
                });
            }
            if check.risk_score >= config.risk_raise_at {
                group.required = group.required.saturating_add(config.risk_raise_by);
            }
        }
        Ok(groups)
    }
}

/// The distinct approvers whose approvals count, and the ones ignored with reasons.
fn valid_approvers(
    config: &QuorumConfig,
    check: &QuorumCheck<'_>,
    digest: RequestDigest,
) -> (BTreeSet<String>, Vec<(String, Ignored)>) {
    let mut valid = BTreeSet::new();
    let mut ignored = Vec::new();
    for approval in check.approvals {
        let reason = if approval.approver == check.request.requester {
            Some(Ignored::SelfApproval)
        } else if approval.request_digest != digest {
            Some(Ignored::OtherRequest)
        } else if approval.signed_at > check.now.saturating_add(MAX_SKEW_SECS) {
            Some(Ignored::FromTheFuture)
        } else if approval.signed_at.saturating_add(config.approval_ttl_secs) <= check.now {
            Some(Ignored::Expired)
        } else {
            match check.keys.0.get(&approval.approver) {
                None => Some(Ignored::UnknownApprover),
                Some(key) => {
                    let message = statement(&approval.approver, &digest, approval.signed_at);
                    if !key.verify(&message, &approval.signature) {
                        Some(Ignored::BadSignature)
                    } else if valid.contains(&approval.approver) {
                        Some(Ignored::Duplicate)
                    } else {
                        None
                    }
                }
            }
        };
        match reason {
            None => {
                valid.insert(approval.approver.clone());
            }
            Some(reason) => ignored.push((approval.approver.clone(), reason)),
        }
    }
    (valid, ignored)
}

/// Assigns approvers to group slots by maximum bipartite matching (Kuhn's
/// augmenting paths): each approver fills at most one slot overall. Returns
/// approver -> group index.
fn assign(groups: &[ApproverGroup], valid: &BTreeSet<String>) -> BTreeMap<String, usize> {
    // One slot per required approval of each group.
    let slots: Vec<usize> = groups
        .iter()
        .enumerate()
        .flat_map(|(index, group)| std::iter::repeat_n(index, group.required as usize))
        .collect();
    let approvers: Vec<&String> = valid.iter().collect();
    // slot -> approver index
    let mut owner: Vec<Option<usize>> = vec![None; slots.len()];
    for approver in 0..approvers.len() {
        let mut seen = vec![false; slots.len()];
        augment(approver, &approvers, groups, &slots, &mut owner, &mut seen);
    }
    owner
        .iter()
        .zip(&slots)
        .filter_map(|(approver, group)| {
            approver
                .and_then(|index| approvers.get(index))
                .map(|name| ((*name).clone(), *group))
        })
        .collect()
}

/// Tries to give `approver` a slot, moving earlier assignments along augmenting paths.
fn augment(
    approver: usize,
    approvers: &[&String],
    groups: &[ApproverGroup],
    slots: &[usize],
    owner: &mut [Option<usize>],
    seen: &mut [bool],
) -> bool {
    let Some(name) = approvers.get(approver) else {
        return false;
    };
    for (slot, group) in slots.iter().enumerate() {
        let eligible = groups
            .get(*group)
            .is_some_and(|group| group.members.contains(*name));
        if !eligible || seen.get(slot).copied().unwrap_or(true) {
            continue;
        }
        if let Some(flag) = seen.get_mut(slot) {
            *flag = true;
        }
        let current = owner.get(slot).copied().flatten();
        let free = match current {
            None => true,
            Some(other) => augment(other, approvers, groups, slots, owner, seen),
        };
        if free {
            if let Some(entry) = owner.get_mut(slot) {
                *entry = Some(approver);
            }
            return true;
        }
    }
    false
}
