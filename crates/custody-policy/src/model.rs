//! The request model: our own types for principals, actions, resources, request
//! context and the entity facts a decision needs. None of them is a Cedar type; the
//! engine converts them internally ([`crate::engine`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::quorum::QuorumEvidence;

/// Longest identifier (tenant, case, artifact, principal, grant...) accepted, in bytes.
pub const MAX_ID_LEN: usize = 256;

/// Checks that `value` is a usable identifier: 1 to [`MAX_ID_LEN`] bytes, no control
/// characters. `what` names the field in the error.
///
/// # Errors
/// [`IdError`] naming the field and the defect (never the value itself).
pub fn check_id(what: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError {
            field: what,
            defect: "is empty",
        });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError {
            field: what,
            defect: "is longer than 256 bytes",
        });
    }
    if value.chars().any(char::is_control) {
        return Err(IdError {
            field: what,
            defect: "contains a control character",
        });
    }
    Ok(())
}

/// An identifier that is empty, too long or holds control characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {defect}")]
pub struct IdError {
    field: &'static str,
    defect: &'static str,
}

impl IdError {
    /// The field that holds the bad identifier.
    pub fn field(&self) -> &'static str {
        self.field
    }
}

/// The class of a principal. Token classes (DESIGN §6) plus the vendor `Operator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalClass {
    /// An administrator of one customer tenant.
    CustomerAdmin,
    /// A vendor support agent (no standing access to any tenant).
    SupportAgent,
    /// A machine principal scoped to one function and a tenant list.
    ServiceAccount,
    /// A vendor administrator: creates tenants and principals.
    Operator,
}

impl PrincipalClass {
    /// Every class, in a fixed order.
    pub const ALL: [Self; 4] = [
        Self::CustomerAdmin,
        Self::SupportAgent,
        Self::ServiceAccount,
        Self::Operator,
    ];

    /// The snake_case name used in tokens and in the Cedar context (`session_class`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerAdmin => "customer_admin",
            Self::SupportAgent => "support_agent",
            Self::ServiceAccount => "service_account",
            Self::Operator => "operator",
        }
    }
}

impl fmt::Display for PrincipalClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A reference to a principal: its class, id and (for customer admins) its tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalRef {
    /// The principal's class.
    pub class: PrincipalClass,
    /// The principal's id.
    pub id: String,
    /// The tenant a customer admin belongs to; `None` for vendor principals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
}

impl PrincipalRef {
    /// A customer admin of `tenant`.
    pub fn customer_admin(id: impl Into<String>, tenant: impl Into<String>) -> Self {
        Self {
            class: PrincipalClass::CustomerAdmin,
            id: id.into(),
            tenant: Some(tenant.into()),
        }
    }

    /// A support agent.
    pub fn support_agent(id: impl Into<String>) -> Self {
        Self {
            class: PrincipalClass::SupportAgent,
            id: id.into(),
            tenant: None,
        }
    }

    /// A service account (its function and tenants come from [`Facts`]).
    pub fn service_account(id: impl Into<String>) -> Self {
        Self {
            class: PrincipalClass::ServiceAccount,
            id: id.into(),
            tenant: None,
        }
    }

    /// A vendor operator.
    pub fn operator(id: impl Into<String>) -> Self {
        Self {
            class: PrincipalClass::Operator,
            id: id.into(),
            tenant: None,
        }
    }
}

macro_rules! actions {
    ($($variant:ident => $name:literal, $doc:literal;)*) => {
        /// Every action custody authorizes (the Cedar actions of the `Custody` namespace).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Action {
            $(
                #[doc = $doc]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),*];

            /// The action's name, as in the schema (`artifact.view`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Action::$variant => $name,)*
                }
            }
        }

        impl FromStr for Action {
            type Err = UnknownActionError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                match text {
                    $($name => Ok(Action::$variant),)*
                    _ => Err(UnknownActionError),
                }
            }
        }
    };
}

actions! {
    ArtifactUpload => "artifact.upload", "Upload an artifact to a case (resource: case).";
    ArtifactView => "artifact.view", "View sanitized entries server-side (resource: artifact).";
    ArtifactDownload => "artifact.download", "Download the sanitized file (resource: artifact).";
    ArtifactExport => "artifact.export", "Export sealed to a device (resource: artifact).";
    CaseOpen => "case.open", "Open a case in a tenant (resource: tenant).";
    CaseAssign => "case.assign", "Assign agents to a case (resource: case).";
    CaseRead => "case.read", "Read a case's metadata (resource: case).";
    GrantRequest => "grant.request", "Request a just-in-time grant for a case (resource: case).";
    GrantApprove => "grant.approve", "Approve a grant (resource: grant).";
    TokenRevoke => "token.revoke", "Revoke tokens of a tenant (resource: tenant) or of one principal, its sessions or devices (resource: that principal).";
    TenantRevokeAll => "tenant.revoke_all", "Revoke everything touching a tenant (resource: tenant).";
    TenantSetSupportMode => "tenant.set_support_mode", "Set a tenant's support-access mode (resource: tenant).";
    PolicyActivate => "policy.activate", "Activate a policy bundle (resource: policy bundle).";
    ServiceAccountCreate => "serviceaccount.create", "Create or widen a service account (resource: the service account).";
    DeviceEnrol => "device.enrol", "Enrol a device key (resource: device).";
    PrincipalCreate => "principal.create", "Create a human principal (resource: the principal).";
    TenantCreate => "tenant.create", "Create a tenant (resource: tenant).";
    TenantUnfreezeExports => "tenant.unfreeze_exports", "Lift a containment freeze of a tenant's exports (resource: tenant).";
    ServiceAccountRequest => "serviceaccount.request", "Ask for a service account or a wider scope; the quorum decides serviceaccount.create (resource: the service account).";
    DeploymentCheck => "deployment.check", "Run `custody check` over the deployment's invariants (resource: the active policy bundle).";
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no [`Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown action")]
pub struct UnknownActionError;

/// The resource a request acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResourceRef {
    /// A tenant (its support mode comes from [`Facts::tenants`]).
    Tenant {
        /// Tenant id.
        id: String,
    },
    /// A case (tenant and assignment come from [`Facts::cases`]).
    Case {
        /// Case id.
        id: String,
    },
    /// An artifact of a case. The case's tenant in [`Facts`] must be `tenant`.
    Artifact {
        /// Artifact id.
        id: String,
        /// The case it belongs to.
        case: String,
        /// The tenant that owns it.
        tenant: String,
    },
    /// A grant (its facts come from [`Facts::grants`]).
    Grant {
        /// Grant id.
        id: String,
    },
    /// A device (its owner comes from [`Facts::devices`]).
    Device {
        /// Device id.
        id: String,
    },
    /// A principal being created; service accounts take their scope from [`Facts`].
    Principal(PrincipalRef),
    /// A policy bundle being activated.
    PolicyBundle {
        /// Bundle id.
        id: String,
    },
}

/// Facts about the request itself (not about entities).
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The request's proof of possession matched an enrolled device key.
    pub device_bound: bool,
    /// The network-context hash observed for the request.
    pub network_hash: String,
    /// Current risk score of the principal (§9 signals), 0 = none.
    pub risk_score: u32,
    /// Now, in seconds since the Unix epoch (injected; never read from the clock here).
    pub now: u64,
    /// The class of the token the request was made with (I3: must equal the
    /// principal's class).
    pub session_class: Option<PrincipalClass>,
    /// The id of the grant the request relies on, if any (its facts in [`Facts::grants`]).
    pub grant: Option<String>,
    /// Proof that a quorum approved this exact request ([`crate::quorum`]). The engine
    /// sets `quorum_met` only when the evidence matches the request's action,
    /// tenant and artifact and has not expired.
    pub quorum: Option<QuorumEvidence>,
}

/// One authorization request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Who acts.
    pub principal: PrincipalRef,
    /// What they do.
    pub action: Action,
    /// On what.
    pub resource: ResourceRef,
    /// Request facts.
    pub context: Context,
}

/// A tenant's support-access mode (DESIGN §7, tenant control).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum SupportMode {
    /// No grant can be approved for the tenant.
    #[serde(rename = "off")]
    Off,
    /// The default: a tenant admin is one of the approver groups.
    #[default]
    #[serde(rename = "on-request")]
    OnRequest,
    /// Vendor approvers only.
    #[serde(rename = "delegated")]
    Delegated,
}

impl SupportMode {
    /// The name used in the schema (`off`, `on-request`, `delegated`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::OnRequest => "on-request",
            Self::Delegated => "delegated",
        }
    }
}

/// Facts about a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantFacts {
    /// Support-access mode.
    pub support_mode: SupportMode,
}

/// Facts about a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFacts {
    /// Owning tenant.
    pub tenant: String,
    /// Support agents assigned to the case.
    #[serde(default)]
    pub assigned: BTreeSet<String>,
}

/// Facts about a service account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountFacts {
    /// Its one function (`ingest`, `scan`, `triage`, `revocation`, per policy).
    pub function: String,
    /// The explicit list of tenants it may act in.
    pub tenants: BTreeSet<String>,
}

/// Facts about a just-in-time grant (persisted elsewhere; see [`crate::grant`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantFacts {
    /// The support agent it was granted to (also the requester).
    pub agent: String,
    /// The one case it covers.
    pub case: String,
    /// The tenant of that case.
    pub tenant: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at: u64,
    /// The actions it covers.
    pub actions: BTreeSet<Action>,
}

/// Facts about a device: who owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceFacts {
    /// The owning principal.
    pub owner: PrincipalRef,
}

/// The entity facts a decision may need, keyed by id. The engine loads only the
/// entities a request reaches (principal, resource and its parents, the grant named in
/// the context); a fact it needs and cannot find is an error, hence a deny.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// Tenants by id.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantFacts>,
    /// Cases by id.
    #[serde(default)]
    pub cases: BTreeMap<String, CaseFacts>,
    /// Service accounts by id.
    #[serde(default)]
    pub service_accounts: BTreeMap<String, ServiceAccountFacts>,
    /// Grants by id.
    #[serde(default)]
    pub grants: BTreeMap<String, GrantFacts>,
    /// Devices by id.
    #[serde(default)]
    pub devices: BTreeMap<String, DeviceFacts>,
    /// Approver and role groups of vendor principals (support agents and operators) by
    /// principal id (`support_lead`, `security_reviewer`); a vendor principal absent
    /// here has no group.
    #[serde(default)]
    pub groups: BTreeMap<String, BTreeSet<String>>,
}

/// The outcome of [`crate::PolicyEngine::authorize`]. Decision errors are not
/// `non_exhaustive`: callers handle both cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The request is allowed.
    Allow(Diagnostics),
    /// The request is denied (by a policy, by default, or because of an error).
    Deny(Diagnostics),
}

impl Decision {
    /// Whether the decision is [`Decision::Allow`].
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allow(_))
    }

    /// The diagnostics of either outcome.
    pub fn diagnostics(&self) -> &Diagnostics {
        match self {
            Self::Allow(diagnostics) | Self::Deny(diagnostics) => diagnostics,
        }
    }
}

/// Why a decision came out as it did, and under which bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    pub(crate) bundle_id: Option<String>,
    pub(crate) policies: Vec<String>,
    pub(crate) errors: Vec<String>,
}

impl Diagnostics {
    /// The id (hex SHA-256) of the bundle that decided; `None` when no bundle is
    /// active (and the decision is a deny).
    pub fn bundle_id(&self) -> Option<&str> {
        self.bundle_id.as_deref()
    }

    /// The `@id`s of the policies that determined the decision: the permits for an
    /// allow, the forbids for a policy deny; empty for a default deny.
    pub fn policies(&self) -> &[String] {
        &self.policies
    }

    /// Errors met on the way (each one forces a deny). They name entities,
    /// attributes and policies, never a secret.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }
}
