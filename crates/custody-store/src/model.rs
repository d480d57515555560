//! The records the store keeps, the inputs that create them (`New*`), and their enums.
//!
//! Times are `i64` unix **seconds** everywhere. Digests are raw 32-byte SHA-256 values
//! ([`Digest`]). Wrapped keys are opaque bytes the broker produced; the store never sees
//! a plaintext key and redacts wrapped bytes from `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::id::{
    ApprovalRequestId, ArtifactId, CaseId, DataKeyId, DeviceId, ExportId, GrantId, PrincipalId,
    SessionId, TenantId,
};

/// A raw SHA-256 digest.
pub type Digest = [u8; 32];

macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $kind:literal { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// The stored and serialized text of this value.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            /// Parses the stored text; `None` for anything else.
            pub fn from_text(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }

            pub(crate) fn from_db(text: &str) -> Result<Self, crate::StoreError> {
                Self::from_text(text).ok_or(crate::StoreError::Corrupt {
                    entity: $kind,
                    reason: concat!("unknown ", stringify!($name)),
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// A tenant's support-access mode (DESIGN §7).
    SupportMode, "tenant" {
        /// No grant can be approved for the tenant.
        Off = "off",
        /// The default: a tenant admin is one of the approver groups.
        OnRequest = "on-request",
        /// Vendor approvers only.
        Delegated = "delegated",
    }
);
text_enum!(
    /// The class of a principal; token classes follow it (DESIGN §6).
    PrincipalClass, "principal" {
        /// A vendor operator (bootstrap, administration).
        Operator = "operator",
        /// An administrator of one customer tenant.
        CustomerAdmin = "customer_admin",
        /// A vendor support agent.
        SupportAgent = "support_agent",
        /// A vendor service account scoped to one function and a tenant list.
        ServiceAccount = "service_account",
    }
);
text_enum!(
    /// Whether a device key may still be used.
    DeviceStatus, "device" {
        /// Usable.
        Active = "active",
        /// Revoked for good.
        Revoked = "revoked",
    }
);
text_enum!(
    /// The kind of a stored artifact.
    ArtifactKind, "artifact" {
        /// A HAR capture.
        Har = "har",
        /// A JSON document.
        Json = "json",
        /// Text or a log.
        Text = "text",
        /// A zip archive of the above.
        Zip = "zip",
    }
);
text_enum!(
    /// The life cycle of a just-in-time grant.
    GrantStatus, "grant" {
        /// Waiting for approval.
        Requested = "requested",
        /// Approved; usable until `expires_at`.
        Approved = "approved",
        /// Refused by an approver or by policy.
        Denied = "denied",
        /// Marked expired.
        Expired = "expired",
        /// Revoked after approval.
        Revoked = "revoked",
    }
);
text_enum!(
    /// The state of an approval request.
    ApprovalStatus, "approval request" {
        /// Collecting approvals.
        Pending = "pending",
        /// Quorum reached and the request was carried out.
        Approved = "approved",
        /// Refused.
        Denied = "denied",
    }
);
text_enum!(
    /// The state of a sealed export's content key.
    ExportState, "export" {
        /// Created; the key has not been released.
        Pending = "pending",
        /// The key was released, once.
        Released = "released",
        /// A release was refused for good.
        Refused = "refused",
        /// Revoked before release.
        Revoked = "revoked",
    }
);

/// Writes `[n bytes]` instead of bytes that must not reach a log.
pub(crate) struct Redacted(pub(crate) usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} bytes]", self.0)
    }
}

/// A customer tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Unique display name.
    pub name: String,
    /// Support-access mode.
    pub support_mode: SupportMode,
    /// Unix seconds.
    pub created_at: i64,
}

/// Input of [`crate::Store::create_tenant`].
#[derive(Debug, Clone)]
pub struct NewTenant {
    /// Unique display name (1 to 256 characters, no control characters).
    pub name: String,
    /// Support-access mode.
    pub support_mode: SupportMode,
    /// Unix seconds.
    pub created_at: i64,
}

/// What a service account may do: one function over an explicit tenant list (§7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceScope {
    /// The one function, e.g. `ticket_sync` (`[a-z0-9_.]`, 1 to 64 characters).
    pub function: String,
    /// The tenants it may act on, sorted by id.
    pub tenants: Vec<TenantId>,
}

/// A principal: an operator, a customer admin, a support agent or a service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    /// Its id.
    pub id: PrincipalId,
    /// Its class.
    pub class: PrincipalClass,
    /// The tenant of a customer admin; `None` for every other class.
    pub tenant_id: Option<TenantId>,
    /// Display name.
    pub display_name: String,
    /// Approver groups (e.g. `support_lead`, `security_reviewer`), sorted.
    pub groups: Vec<String>,
    /// Function and tenant list of a service account; `None` for every other class.
    pub service: Option<ServiceScope>,
    /// A suspended principal must be refused everywhere.
    pub suspended: bool,
    /// Unix seconds.
    pub created_at: i64,
}

/// Input of [`crate::Store::create_principal`].
///
/// The store refuses a customer admin without a tenant, any other class with one, a
/// service account without a [`ServiceScope`] and any other class with one.
#[derive(Debug, Clone)]
pub struct NewPrincipal {
    /// Its class.
    pub class: PrincipalClass,
    /// Required for, and only for, customer admins.
    pub tenant_id: Option<TenantId>,
    /// Display name (1 to 256 characters, no control characters).
    pub display_name: String,
    /// Approver groups (`[a-z0-9_]`, 1 to 64 characters each).
    pub groups: Vec<String>,
    /// Required for, and only for, service accounts.
    pub service: Option<ServiceScope>,
    /// Unix seconds.
    pub created_at: i64,
}

/// An enrolled device: the HPKE key exports are sealed to, and the proof-of-possession
/// key its tokens are bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Device {
    /// Its id.
    pub id: DeviceId,
    /// Its owner.
    pub principal_id: PrincipalId,
    /// HPKE public key as a JWK (JSON text).
    pub hpke_public_jwk: String,
    /// Proof-of-possession public key as a JWK (JSON text).
    pub pop_public_jwk: String,
    /// RFC 7638 thumbprint of the PoP key (raw SHA-256), unique across devices.
    pub pop_jkt: Digest,
    /// Active or revoked.
    pub status: DeviceStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
}

/// Input of [`crate::Store::create_device`].
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// Its owner.
    pub principal_id: PrincipalId,
    /// HPKE public key as a JWK (must be a JSON object).
    pub hpke_public_jwk: String,
    /// PoP public key as a JWK (must be a JSON object).
    pub pop_public_jwk: String,
    /// RFC 7638 thumbprint of the PoP key.
    pub pop_jkt: Digest,
    /// Unix seconds.
    pub created_at: i64,
}

/// A one-time enrolment code, stored only as its SHA-256 hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrolmentCode {
    /// SHA-256 of the code.
    pub code_hash: Digest,
    /// The principal that enrols with it.
    pub principal_id: PrincipalId,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; unusable from this instant on.
    pub expires_at: i64,
    /// Unix seconds, once consumed.
    pub used_at: Option<i64>,
}

/// A sign-in challenge for a device, stored only as the hash of its nonce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInChallenge {
    /// SHA-256 of the nonce.
    pub nonce_hash: Digest,
    /// The device that must answer it.
    pub device_id: DeviceId,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; unusable from this instant on.
    pub expires_at: i64,
    /// Unix seconds, once consumed.
    pub used_at: Option<i64>,
}

/// A signed-in session of a principal on one device and network context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// Who.
    pub principal_id: PrincipalId,
    /// On which device (owned by the principal: enforced by the schema).
    pub device_id: DeviceId,
    /// The principal's class (equal to it: enforced by the schema).
    pub class: PrincipalClass,
    /// Hash of the network context.
    pub network_hash: Digest,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds, when revoked.
    pub revoked_at: Option<i64>,
}

/// Input of [`crate::Store::create_session`].
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Who.
    pub principal_id: PrincipalId,
    /// On which device.
    pub device_id: DeviceId,
    /// Must equal the principal's class.
    pub class: PrincipalClass,
    /// Hash of the network context.
    pub network_hash: Digest,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, after `created_at`.
    pub expires_at: i64,
}

/// A support case of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Case {
    /// Its id.
    pub id: CaseId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The principal (a customer admin) who opened it.
    pub opened_by: PrincipalId,
    /// Title (1 to 256 characters, no control characters).
    pub title: String,
    /// Assigned support agents, sorted by id.
    pub assigned: Vec<PrincipalId>,
    /// Unix seconds.
    pub created_at: i64,
}

/// Input of [`crate::Store::create_case`].
#[derive(Debug, Clone)]
pub struct NewCase {
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// Who opens it.
    pub opened_by: PrincipalId,
    /// Title.
    pub title: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A tenant data key in wrapped form (the broker wraps and unwraps).
#[derive(Clone, PartialEq, Eq)]
pub struct TenantDataKey {
    /// Its id.
    pub id: DataKeyId,
    /// Owning tenant.
    pub tenant_id: TenantId,
    /// The wrapped key bytes; redacted from `Debug`.
    pub wrapped_key: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for TenantDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantDataKey")
            .field("id", &self.id)
            .field("tenant_id", &self.tenant_id)
            .field("wrapped_key", &Redacted(self.wrapped_key.len()))
            .field("created_at", &self.created_at)
            .finish()
    }
}

/// Metadata of a stored (sanitized, encrypted) artifact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Artifact {
    /// Its id.
    pub id: ArtifactId,
    /// The case it belongs to.
    pub case_id: CaseId,
    /// The case's tenant (equal to it: enforced by the schema).
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: ArtifactKind,
    /// The uploaded file name, already redacted by the caller.
    pub original_name: String,
    /// Size in bytes of the sanitized artifact.
    pub size: u64,
    /// SHA-256 of the sanitized artifact.
    pub sanitized_sha256: Digest,
    /// SHA-256 of the uploaded input.
    pub input_sha256: Digest,
    /// The sanitization report as JSON text (locations and rule ids, no values).
    pub report_json: String,
    /// Version of the rule set that sanitized it.
    pub rules_version: String,
    /// Key of the encrypted blob in the [`crate::BlobStore`].
    pub blob_key: crate::BlobKey,
    /// The tenant data key that wraps its content key (same tenant: enforced).
    pub data_key_id: DataKeyId,
    /// Unix seconds.
    pub created_at: i64,
}

/// Input of [`crate::Store::create_artifact`].
#[derive(Debug, Clone)]
pub struct NewArtifact {
    /// The case it belongs to.
    pub case_id: CaseId,
    /// The case's tenant.
    pub tenant_id: TenantId,
    /// Kind.
    pub kind: ArtifactKind,
    /// File name, already redacted (at most 255 bytes, no control characters).
    pub original_name: String,
    /// Size in bytes of the sanitized artifact.
    pub size: u64,
    /// SHA-256 of the sanitized artifact.
    pub sanitized_sha256: Digest,
    /// SHA-256 of the uploaded input.
    pub input_sha256: Digest,
    /// The sanitization report (must be valid JSON).
    pub report_json: String,
    /// Rule set version (1 to 64 characters).
    pub rules_version: String,
    /// Where the encrypted bytes are (unique).
    pub blob_key: crate::BlobKey,
    /// Wrapping tenant data key.
    pub data_key_id: DataKeyId,
    /// Unix seconds.
    pub created_at: i64,
}

/// A just-in-time grant of one support agent to one case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    /// Its id.
    pub id: GrantId,
    /// The support agent.
    pub agent_id: PrincipalId,
    /// The case's tenant.
    pub tenant_id: TenantId,
    /// The case.
    pub case_id: CaseId,
    /// Granted actions, e.g. `artifact.view` (sorted, unique).
    pub actions: Vec<String>,
    /// Unix seconds.
    pub requested_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Status.
    pub status: GrantStatus,
    /// Canonical hash of the request.
    pub request_hash: Digest,
    /// Unix seconds of the last status change.
    pub decided_at: Option<i64>,
}

impl Grant {
    /// True when approved and `requested_at <= now < expires_at`.
    pub fn is_active_at(&self, now: i64) -> bool {
        self.status == GrantStatus::Approved && self.requested_at <= now && now < self.expires_at
    }
}

/// Input of [`crate::Store::create_grant`]; the grant starts as `requested`.
#[derive(Debug, Clone)]
pub struct NewGrant {
    /// The support agent (must have class `support_agent`).
    pub agent_id: PrincipalId,
    /// The case's tenant.
    pub tenant_id: TenantId,
    /// The case.
    pub case_id: CaseId,
    /// Actions (`[a-z0-9_.]`, 1 to 64 characters each, at least one).
    pub actions: Vec<String>,
    /// Unix seconds.
    pub requested_at: i64,
    /// Unix seconds, after `requested_at`.
    pub expires_at: i64,
    /// Canonical hash of the request.
    pub request_hash: Digest,
}

/// A request for a privileged action that needs a quorum of approvals (§7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalRequest {
    /// Its id.
    pub id: ApprovalRequestId,
    /// The action, e.g. `artifact.export`.
    pub action: String,
    /// The tenant it concerns, if any.
    pub tenant_id: Option<TenantId>,
    /// Canonical hash of the exact request; approvals sign it.
    pub request_hash: Digest,
    /// Who asked; never an approver of its own request (enforced by the schema).
    pub requester_id: PrincipalId,
    /// Parameters as JSON text.
    pub parameters_json: String,
    /// The grant it approves, if it is a grant request.
    pub grant_id: Option<GrantId>,
    /// Status.
    pub status: ApprovalStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; approvals are refused from this instant on.
    pub expires_at: i64,
    /// Unix seconds of the decision.
    pub decided_at: Option<i64>,
}

/// Input of [`crate::Store::create_approval_request`]; it starts `pending`.
#[derive(Debug, Clone)]
pub struct NewApprovalRequest {
    /// The action (`[a-z0-9_.]`, 1 to 64 characters).
    pub action: String,
    /// The tenant it concerns, if any.
    pub tenant_id: Option<TenantId>,
    /// Canonical hash of the exact request.
    pub request_hash: Digest,
    /// Who asks.
    pub requester_id: PrincipalId,
    /// Parameters (must be valid JSON).
    pub parameters_json: String,
    /// The grant it approves, if any (at most one request per grant).
    pub grant_id: Option<GrantId>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds, after `created_at`.
    pub expires_at: i64,
}

/// One approver's signed approval of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approval {
    /// The request.
    pub request_id: ApprovalRequestId,
    /// The approver.
    pub approver_id: PrincipalId,
    /// The approver group it counts for.
    pub group: String,
    /// Signature over the request hash (verified by the broker before storing).
    pub signature: Vec<u8>,
    /// Unix seconds.
    pub approved_at: i64,
}

/// Input of [`crate::Store::add_approval`].
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// The request.
    pub request_id: ApprovalRequestId,
    /// The request hash the approver signed; must equal the stored one.
    pub request_hash: Digest,
    /// The approver (never the requester).
    pub approver_id: PrincipalId,
    /// The group it counts for (`[a-z0-9_]`, 1 to 64 characters).
    pub group: String,
    /// Signature bytes.
    pub signature: Vec<u8>,
    /// Unix seconds; must be before the request's `expires_at`.
    pub approved_at: i64,
}

/// A sealed export and the state of its one-time content key release.
#[derive(Clone, PartialEq, Eq)]
pub struct Export {
    /// Its id.
    pub id: ExportId,
    /// The exported artifact.
    pub artifact_id: ArtifactId,
    /// The support agent it is for.
    pub agent_id: PrincipalId,
    /// The agent's device it is sealed to (owned by the agent: enforced).
    pub device_id: DeviceId,
    /// Network-context hash it is bound to.
    pub network_hash: Digest,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds; no release from this instant on.
    pub not_after: i64,
    /// The content key in sealed form; redacted from `Debug`.
    pub wrapped_content_key: Vec<u8>,
    /// State.
    pub state: ExportState,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the one release.
    pub released_at: Option<i64>,
    /// Unix seconds of a refusal or revocation.
    pub ended_at: Option<i64>,
}

impl fmt::Debug for Export {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Export")
            .field("id", &self.id)
            .field("artifact_id", &self.artifact_id)
            .field("agent_id", &self.agent_id)
            .field("device_id", &self.device_id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field(
                "wrapped_content_key",
                &Redacted(self.wrapped_content_key.len()),
            )
            .field("state", &self.state)
            .field("created_at", &self.created_at)
            .field("released_at", &self.released_at)
            .field("ended_at", &self.ended_at)
            .finish_non_exhaustive()
    }
}

/// Input of [`crate::Store::create_export`]; it starts `pending`.
#[derive(Clone)]
pub struct NewExport {
    /// The artifact.
    pub artifact_id: ArtifactId,
    /// The support agent.
    pub agent_id: PrincipalId,
    /// The agent's device.
    pub device_id: DeviceId,
    /// Network-context hash.
    pub network_hash: Digest,
    /// Unix seconds.
    pub not_before: i64,
    /// Unix seconds, after `not_before`.
    pub not_after: i64,
    /// The sealed content key (not empty).
    pub wrapped_content_key: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

impl fmt::Debug for NewExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewExport")
            .field("artifact_id", &self.artifact_id)
            .field("agent_id", &self.agent_id)
            .field("device_id", &self.device_id)
            .field(
                "wrapped_content_key",
                &Redacted(self.wrapped_content_key.len()),
            )
            .finish_non_exhaustive()
    }
}

/// Who asks for an export's content key: all three must match the export's binding.
#[derive(Debug, Clone)]
pub struct ReleaseClaim {
    /// The agent asking.
    pub agent_id: PrincipalId,
    /// The device the request's proof of possession came from.
    pub device_id: DeviceId,
    /// The request's network-context hash.
    pub network_hash: Digest,
}
