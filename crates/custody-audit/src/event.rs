//! The canonical audit event model, its OCSF mapping and its canonical JSON bytes.
//!
//! Main types: [`AuditEvent`] (the typed event callers build), [`EventKind`]
//! (one per act of DESIGN §8, each with its OCSF class and activity) and
//! [`canonical_json`] (RFC 8785-style bytes: sorted keys, no whitespace, integers only).
//! The log stores and hashes [`AuditEvent::record_bytes`] (the compact form of
//! [`crate::record`]); [`AuditEvent::canonical_bytes`] is the OCSF JSON of exports
//! and the leaf data of logs written before the compact form.
//!
//! Events carry identifiers, digests and fingerprints only; never a secret value.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
/// Version of custody's event profile (bump on any change of the mapping).
pub const EVENT_SCHEMA_VERSION: u64 = 1;
/// custody's OCSF extension id. Extension class uids are
/// `extension uid * 100000 + category uid * 1000 + class number` (the OCSF
/// rule the Windows extension follows, e.g. 201001).
pub const EXTENSION_UID: u64 = 77;
/// custody's OCSF extension name.
pub const EXTENSION_NAME: &str = "custody";
/// Longest accepted string field, in bytes.
pub const MAX_FIELD_LEN: usize = 512;

/// One OCSF event class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OcsfClass {
    /// `class_uid`.
    pub uid: u64,
    /// `class_name`.
    pub name: &'static str,
    /// `category_uid`.
    pub category_uid: u64,
    /// `category_name`.
    pub category_name: &'static str,
    /// True for classes defined by custody's extension.
    pub extension: bool,
}

const FILE_HOSTING: OcsfClass = OcsfClass {
    uid: 6006,
    name: "File Hosting Activity",
    category_uid: 6,
    category_name: "Application Activity",
    extension: false,
};
const CUSTODY_ARTIFACT: OcsfClass = OcsfClass {
    uid: EXTENSION_UID * 100_000 + 6 * 1000 + 1,
    name: "Custody Artifact Activity",
    category_uid: 6,
    category_name: "Application Activity",
    extension: true,
};
const AUTHENTICATION: OcsfClass = OcsfClass {
    uid: 3002,
    name: "Authentication",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: false,
};
const CUSTODY_CREDENTIAL: OcsfClass = OcsfClass {
    uid: EXTENSION_UID * 100_000 + 3 * 1000 + 1,
    name: "Custody Credential Activity",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: true,
};
const ACCOUNT_CHANGE: OcsfClass = OcsfClass {
    uid: 3001,
    name: "Account Change",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: false,
};
const ENTITY_MANAGEMENT: OcsfClass = OcsfClass {
    uid: 3004,
    name: "Entity Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: false,
};
const USER_ACCESS: OcsfClass = OcsfClass {
    uid: 3005,
    name: "User Access Management",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: false,
};
const CUSTODY_POLICY: OcsfClass = OcsfClass {
    uid: EXTENSION_UID * 100_000 + 3 * 1000 + 2,
    name: "Custody Policy Activity",
    category_uid: 3,
    category_name: "Identity & Access Management",
    extension: true,
};
const DETECTION_FINDING: OcsfClass = OcsfClass {
    uid: 2004,
    name: "Detection Finding",
    category_uid: 2,
    category_name: "Findings",
    extension: false,
};
const REMEDIATION: OcsfClass = OcsfClass {
    uid: 7001,
    name: "Remediation Activity",
    category_uid: 7,
    category_name: "Remediation",
    extension: false,
};

/// Every kind of audited act (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Upload of an artifact (OCSF 6006 Upload).
    Ingest,
    /// Paged server-side view of a sanitized artifact (OCSF 6006 Preview).
    View,
    /// Download of the sanitized artifact by the owning tenant (OCSF 6006 Download).
    Download,
    /// Export sealed to one device (extension: Custody Artifact Activity / Sealed Export).
    Export,
    /// Release of a sealed export's key / opening it (extension: Unseal).
    Unseal,
    /// Sanitization transform of an artifact (extension: Transform).
    Transform,
    /// Deletion of an artifact (OCSF 6006 Delete).
    Delete,
    /// Issue of an access token (OCSF 3002 Authentication Ticket).
    TokenIssue,
    /// Refresh of an access token (OCSF 3002 Service Ticket Renew).
    TokenRefresh,
    /// Revocation of tokens (extension: Custody Credential Activity / Revoke).
    TokenRevoke,
    /// Request of a just-in-time grant (OCSF 3004 Create, entity = grant).
    GrantRequest,
    /// Approval of a grant (OCSF 3005 Assign Privileges).
    GrantApprove,
    /// Activation of a policy bundle (OCSF 3004 Update, entity = policy bundle).
    PolicyActivate,
    /// Roll-forward of older policy content as a new version (extension: Rollback).
    PolicyRollback,
    /// A detector finding (OCSF 2004 Create).
    Finding,
    /// A containment action: revoke, suspend, freeze (OCSF 7001 Isolate).
    Containment,
    /// Creation of a tenant (OCSF 3004 Create, entity = tenant).
    TenantCreate,
    /// Creation of a principal (OCSF 3001 Account Change / Create).
    PrincipalCreate,
    /// Enrolment of a device key for a principal (OCSF 3001 Account Change / MFA
    /// Factor Enable: the device key is the principal's sign-in factor).
    DeviceEnrol,
    /// Opening of a case (OCSF 3004 Create, entity = case).
    CaseOpen,
    /// Assignment of a support agent to a case (OCSF 3004 Update, entity = case).
    CaseAssign,
    /// Change of a tenant's support-access mode (OCSF 3004 Update, entity = tenant).
    SupportModeChange,
}

impl EventKind {
    /// Every kind, in declaration order (new kinds are only ever appended: the
    /// compact record stores the position).
    pub const ALL: [EventKind; 22] = [
        EventKind::Ingest,
        EventKind::View,
        EventKind::Download,
        EventKind::Export,
        EventKind::Unseal,
        EventKind::Transform,
        EventKind::Delete,
        EventKind::TokenIssue,
        EventKind::TokenRefresh,
        EventKind::TokenRevoke,
        EventKind::GrantRequest,
        EventKind::GrantApprove,
        EventKind::PolicyActivate,
        EventKind::PolicyRollback,
        EventKind::Finding,
        EventKind::Containment,
        EventKind::TenantCreate,
        EventKind::PrincipalCreate,
        EventKind::DeviceEnrol,
        EventKind::CaseOpen,
        EventKind::CaseAssign,
        EventKind::SupportModeChange,
    ];

    /// The snake_case name used in `custody.kind` and CLI filters.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ingest => "ingest",
            Self::View => "view",
            Self::Download => "download",
            Self::Export => "export",
            Self::Unseal => "unseal",
            Self::Transform => "transform",
            Self::Delete => "delete",
            Self::TokenIssue => "token_issue",
            Self::TokenRefresh => "token_refresh",
            Self::TokenRevoke => "token_revoke",
            Self::GrantRequest => "grant_request",
            Self::GrantApprove => "grant_approve",
            Self::PolicyActivate => "policy_activate",
            Self::PolicyRollback => "policy_rollback",
            Self::Finding => "finding",
            Self::Containment => "containment",
            Self::TenantCreate => "tenant_create",
            Self::PrincipalCreate => "principal_create",
            Self::DeviceEnrol => "device_enrol",
            Self::CaseOpen => "case_open",
            Self::CaseAssign => "case_assign",
            Self::SupportModeChange => "support_mode_change",
        }
    }

    /// Parses [`EventKind::as_str`] output.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The OCSF class.
    #[must_use]
    pub fn class(self) -> OcsfClass {
        match self {
            Self::Ingest | Self::View | Self::Download | Self::Delete => FILE_HOSTING,
            Self::Export | Self::Unseal | Self::Transform => CUSTODY_ARTIFACT,
            Self::TokenIssue | Self::TokenRefresh => AUTHENTICATION,
            Self::TokenRevoke => CUSTODY_CREDENTIAL,
            Self::GrantRequest
            | Self::PolicyActivate
            | Self::TenantCreate
            | Self::CaseOpen
            | Self::CaseAssign
            | Self::SupportModeChange => ENTITY_MANAGEMENT,
            Self::PrincipalCreate | Self::DeviceEnrol => ACCOUNT_CHANGE,
            Self::GrantApprove => USER_ACCESS,
            Self::PolicyRollback => CUSTODY_POLICY,
            Self::Finding => DETECTION_FINDING,
            Self::Containment => REMEDIATION,
        }
    }

    /// The OCSF `activity_id` and `activity_name` within [`EventKind::class`].
    #[must_use]
    pub fn activity(self) -> (u64, &'static str) {
        match self {
            Self::Ingest => (1, "Upload"),
            Self::Download => (2, "Download"),
            Self::Delete => (4, "Delete"),
            Self::View => (9, "Preview"),
            Self::Export => (1, "Sealed Export"),
            Self::Unseal => (2, "Unseal"),
            Self::Transform => (3, "Transform"),
            Self::TokenIssue => (3, "Authentication Ticket"),
            Self::TokenRefresh => (5, "Service Ticket Renew"),
            Self::TokenRevoke => (1, "Revoke"),
            Self::GrantRequest => (1, "Create"),
            Self::PolicyActivate => (3, "Update"),
            Self::GrantApprove => (1, "Assign Privileges"),
            Self::PolicyRollback => (1, "Rollback"),
            Self::Finding => (1, "Create"),
            Self::Containment => (1, "Isolate"),
            Self::TenantCreate | Self::CaseOpen | Self::PrincipalCreate => (1, "Create"),
            Self::CaseAssign | Self::SupportModeChange => (3, "Update"),
            Self::DeviceEnrol => (10, "MFA Factor Enable"),
        }
    }

    /// OCSF `type_uid` = `class_uid * 100 + activity_id`.
    #[must_use]
    pub fn type_uid(self) -> u64 {
        self.class().uid * 100 + self.activity().0
    }

    /// True when the resource is an artifact (a file in OCSF terms).
    #[must_use]
    pub fn touches_artifact(self) -> bool {
        matches!(
            self,
            Self::Ingest
                | Self::View
                | Self::Download
                | Self::Export
                | Self::Unseal
                | Self::Transform
                | Self::Delete
        )
    }
}

/// The outcome of the policy decision behind the act.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Allowed and performed.
    Allow,
    /// Denied (the act did not happen).
    Deny,
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    /// Principal id.
    pub principal_id: String,
    /// Principal class: `customer_admin`, `support_agent`, `service_account` or `system`.
    pub principal_class: String,
    /// Session id, when acting inside a session.
    #[serde(default)]
    pub session_id: Option<String>,
}

/// The device the act was performed from or sealed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// Registered device id.
    pub id: String,
    /// Thumbprint of the device's key (RFC 7638), never the key.
    #[serde(default)]
    pub key_thumbprint: Option<String>,
}

/// The network source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    /// Source IP address.
    #[serde(default)]
    pub ip: Option<String>,
    /// Network-context hash (ASN or prefix hash).
    #[serde(default)]
    pub network_hash: Option<String>,
}

/// The object acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// Resource type: `artifact`, `token`, `token_family`, `grant`, `policy_bundle`, `finding`, `principal`...
    pub kind: String,
    /// Resource id.
    pub id: String,
    /// Content digest (`sha256:<hex>`), for artifacts and bundles.
    #[serde(default)]
    pub digest: Option<String>,
    /// The case the resource belongs to.
    #[serde(default)]
    pub case_id: Option<String>,
}

/// One audit event, as callers build it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEvent {
    /// Event time, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// What happened.
    pub kind: EventKind,
    /// Who did it.
    pub actor: Actor,
    /// From / to which device.
    #[serde(default)]
    pub device: Option<Device>,
    /// From which network.
    #[serde(default)]
    pub src_endpoint: Option<Endpoint>,
    /// Tenant whose data or principals are concerned.
    pub tenant: String,
    /// The object.
    pub resource: Resource,
    /// Trace id correlating the request across components.
    pub trace_id: String,
    /// Policy decision.
    pub decision: Decision,
    /// Id (content hash) of the policy bundle that decided.
    pub policy_bundle_id: String,
    /// Version of the detection rule set in force.
    pub rules_version: String,
}

/// Errors validating or serialising an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// A field is empty, too long or holds a control character. The value is never echoed.
    #[error(
        "event field `{field}` is invalid (empty, longer than {MAX_FIELD_LEN} bytes or has control characters)"
    )]
    InvalidField {
        /// Name of the field.
        field: &'static str,
    },
    /// The JSON holds a non-integer number, which has no canonical form here.
    #[error("canonical JSON accepts integers only")]
    NonIntegerNumber,
}

fn check(field: &'static str, value: &str) -> Result<(), EventError> {
    if value.is_empty() || value.len() > MAX_FIELD_LEN || value.chars().any(char::is_control) {
        return Err(EventError::InvalidField { field });
    }
    Ok(())
}

fn check_opt(field: &'static str, value: Option<&String>) -> Result<(), EventError> {
    value.map_or(Ok(()), |v| check(field, v))
}

impl AuditEvent {
    /// Checks every string field (non-empty, bounded, no control characters).
    ///
    /// # Errors
    /// [`EventError::InvalidField`] naming the field (never the value).
    pub fn validate(&self) -> Result<(), EventError> {
        check("actor.principal_id", &self.actor.principal_id)?;
        check("actor.principal_class", &self.actor.principal_class)?;
        check_opt("actor.session_id", self.actor.session_id.as_ref())?;
        if let Some(d) = &self.device {
            check("device.id", &d.id)?;
            check_opt("device.key_thumbprint", d.key_thumbprint.as_ref())?;
        }
        if let Some(e) = &self.src_endpoint {
            check_opt("src_endpoint.ip", e.ip.as_ref())?;
            check_opt("src_endpoint.network_hash", e.network_hash.as_ref())?;
        }
        check("tenant", &self.tenant)?;
        check("resource.kind", &self.resource.kind)?;
        check("resource.id", &self.resource.id)?;
        check_opt("resource.digest", self.resource.digest.as_ref())?;
        check_opt("resource.case_id", self.resource.case_id.as_ref())?;
        check("trace_id", &self.trace_id)?;
        check("policy_bundle_id", &self.policy_bundle_id)?;
        check("rules_version", &self.rules_version)?;
        Ok(())
    }

    /// The OCSF-shaped JSON object of this event.
    #[must_use]
    pub fn to_ocsf(&self) -> Value {
        let class = self.kind.class();
        let (activity_id, activity_name) = self.kind.activity();
        let (status_id, status, disposition_id, disposition) = match self.decision {
            Decision::Allow => (1, "Success", 1, "Allowed"),
            Decision::Deny => (2, "Failure", 2, "Blocked"),
        };
        let mut user = Map::new();
        user.insert("uid".into(), json!(self.actor.principal_id));
        user.insert("type".into(), json!(self.actor.principal_class));
        let mut actor = Map::new();
        actor.insert("user".into(), Value::Object(user));
        if let Some(session) = &self.actor.session_id {
            actor.insert("session".into(), json!({ "uid": session }));
        }
        let mut resource = Map::new();
        resource.insert("uid".into(), json!(self.resource.id));
        resource.insert("type".into(), json!(self.resource.kind));
        if let Some(case) = &self.resource.case_id {
            resource.insert("group".into(), json!({ "uid": case, "type": "case" }));
        }
        if let Some(digest) = &self.resource.digest {
            resource.insert("data".into(), json!({ "digest": digest }));
        }
        let mut extensions = vec![];
        if class.extension {
            extensions.push(json!({
                "name": EXTENSION_NAME,
                "uid": EXTENSION_UID.to_string(),
                "version": EVENT_SCHEMA_VERSION.to_string(),
            }));
        }
        let mut metadata = Map::new();
        metadata.insert("version".into(), json!(OCSF_VERSION));
        metadata.insert(
            "product".into(),
            json!({ "name": "custody", "vendor_name": "custody" }),
        );
        metadata.insert("tenant_uid".into(), json!(self.tenant));
        metadata.insert("correlation_uid".into(), json!(self.trace_id));
        if !extensions.is_empty() {
            metadata.insert("extensions".into(), Value::Array(extensions));
        }
        let mut out = Map::new();
        out.insert("activity_id".into(), json!(activity_id));
        out.insert("activity_name".into(), json!(activity_name));
        out.insert("category_uid".into(), json!(class.category_uid));
        out.insert("category_name".into(), json!(class.category_name));
        out.insert("class_uid".into(), json!(class.uid));
        out.insert("class_name".into(), json!(class.name));
        out.insert("type_uid".into(), json!(self.kind.type_uid()));
        out.insert(
            "type_name".into(),
            json!(format!("{}: {}", class.name, activity_name)),
        );
        out.insert("severity_id".into(), json!(1));
        out.insert("severity".into(), json!("Informational"));
        out.insert("status_id".into(), json!(status_id));
        out.insert("status".into(), json!(status));
        out.insert("disposition_id".into(), json!(disposition_id));
        out.insert("disposition".into(), json!(disposition));
        out.insert("time".into(), json!(self.time_ms));
        out.insert("metadata".into(), Value::Object(metadata));
        out.insert("actor".into(), Value::Object(actor));
        if let Some(device) = &self.device {
            let mut d = Map::new();
            d.insert("uid".into(), json!(device.id));
            d.insert("type_id".into(), json!(0));
            if let Some(tp) = &device.key_thumbprint {
                d.insert("hw_info".into(), json!({ "serial_number": tp }));
            }
            out.insert("device".into(), Value::Object(d));
        }
        if let Some(ep) = &self.src_endpoint {
            let mut e = Map::new();
            if let Some(ip) = &ep.ip {
                e.insert("ip".into(), json!(ip));
            }
            if let Some(nh) = &ep.network_hash {
                e.insert("uid".into(), json!(nh));
            }
            out.insert("src_endpoint".into(), Value::Object(e));
        }
        if self.kind.touches_artifact() {
            let mut file = Map::new();
            file.insert("uid".into(), json!(self.resource.id));
            file.insert("name".into(), json!(self.resource.id));
            file.insert("type_id".into(), json!(1));
            if let Some(digest) = &self.resource.digest {
                file.insert(
                    "hashes".into(),
                    json!([{ "algorithm_id": 3, "value": digest }]),
                );
            }
            out.insert("file".into(), Value::Object(file));
        }
        out.insert("resources".into(), json!([Value::Object(resource)]));
        out.insert(
            "policy".into(),
            json!({ "uid": self.policy_bundle_id, "name": "custody policy bundle" }),
        );
        out.insert(
            "custody".into(),
            json!({
                "schema_version": EVENT_SCHEMA_VERSION,
                "kind": self.kind.as_str(),
                "decision": match self.decision { Decision::Allow => "allow", Decision::Deny => "deny" },
                "policy_bundle_id": self.policy_bundle_id,
                "rules_version": self.rules_version,
            }),
        );
        Value::Object(out)
    }

    /// The record the log stores and hashes (its leaf data): the compact canonical
    /// form of [`crate::record::encode`], about a quarter of the JSON's size.
    ///
    /// # Errors
    /// When a field is invalid.
    pub fn record_bytes(&self) -> Result<Vec<u8>, EventError> {
        crate::record::encode(self)
    }

    /// The canonical OCSF JSON bytes: [`canonical_json`] of [`AuditEvent::to_ocsf`]
    /// (what exports carry; the leaf data of logs written before the compact form).
    ///
    /// # Errors
    /// When a field is invalid.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, EventError> {
        self.validate()?;
        canonical_json(&self.to_ocsf())
    }
}

/// Canonical JSON: object members sorted by their UTF-16 code units (RFC 8785
/// §3.2.3), no insignificant whitespace, strings escaped as RFC 8785 /
/// `JSON.stringify` does, integers in plain decimal; other numbers are refused.
///
/// # Errors
/// [`EventError::NonIntegerNumber`] for a float.
pub fn canonical_json(value: &Value) -> Result<Vec<u8>, EventError> {
    let mut out = Vec::with_capacity(1024);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) -> Result<(), EventError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                out.extend_from_slice(i.to_string().as_bytes());
            } else if let Some(u) = n.as_u64() {
                out.extend_from_slice(u.to_string().as_bytes());
            } else {
                return Err(EventError::NonIntegerNumber);
            }
        }
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                let b = c as u32 as usize;
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(b >> 4).copied().unwrap_or(b'0'));
                out.push(HEX.get(b & 0xf).copied().unwrap_or(b'0'));
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// A sample event of `kind`, for documentation, tests and benchmarks.
#[must_use]
pub fn sample_event(kind: EventKind, time_ms: i64, seq: u64) -> AuditEvent {
    let resource_kind = match kind {
        k if k.touches_artifact() => "artifact",
        EventKind::TokenIssue | EventKind::TokenRefresh => "token",
        EventKind::TokenRevoke => "token_family",
        EventKind::GrantRequest | EventKind::GrantApprove => "grant",
        EventKind::PolicyActivate | EventKind::PolicyRollback => "policy_bundle",
        EventKind::Finding => "finding",
        EventKind::TenantCreate | EventKind::SupportModeChange => "tenant",
        EventKind::CaseOpen | EventKind::CaseAssign => "case",
        EventKind::DeviceEnrol => "device",
        _ => "principal",
    };
    AuditEvent {
        time_ms,
        kind,
        actor: Actor {
            principal_id: format!("agent-{}", seq % 17),
            principal_class: "support_agent".into(),
            session_id: Some(format!("sess-{}", seq % 5)),
        },
        device: Some(Device {
            id: format!("dev-{}", seq % 3),
            key_thumbprint: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        }),
        src_endpoint: Some(Endpoint {
            ip: Some("192.0.2.10".into()),
            network_hash: Some("net:3f1c9a".into()),
        }),
        tenant: format!("tenant-{}", seq % 7),
        resource: Resource {
            kind: resource_kind.into(),
            id: format!("{resource_kind}-{seq}"),
            digest: Some(
                "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
            ),
            case_id: Some(format!("case-{}", seq % 11)),
        },
        trace_id: format!("trace-{seq:016x}"),
        decision: if seq.is_multiple_of(13) {
            Decision::Deny
        } else {
            Decision::Allow
        },
        policy_bundle_id:
            "bundle-sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".into(),
        rules_version: "rules-2026.11.1".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_kind_has_a_distinct_class_and_activity() {
        // Entity Management (3004) and Account Change (3001) activities name what was
        // done, the entity type names to what: within those classes a type_uid is
        // shared (Create of a tenant, a case or a grant), the pair never is. Every
        // other kind has a type_uid of its own.
        let mut seen = HashSet::new();
        for kind in EventKind::ALL {
            let class = kind.class().uid;
            let entity = if matches!(class, 3001 | 3004) {
                sample_event(kind, 0, 1).resource.kind
            } else {
                String::new()
            };
            assert!(
                seen.insert((kind.type_uid(), entity)),
                "{kind:?} shares its type_uid and entity type"
            );
            assert_eq!(EventKind::from_name(kind.as_str()), Some(kind));
        }
        let unique: HashSet<_> = EventKind::ALL
            .iter()
            .filter(|k| !matches!(k.class().uid, 3001 | 3004))
            .map(|k| k.type_uid())
            .collect();
        assert_eq!(
            unique.len(),
            EventKind::ALL
                .iter()
                .filter(|k| !matches!(k.class().uid, 3001 | 3004))
                .count()
        );
        assert_eq!(EventKind::TenantCreate.type_uid(), 300_401);
        assert_eq!(EventKind::PrincipalCreate.type_uid(), 300_101);
        assert_eq!(EventKind::DeviceEnrol.type_uid(), 300_110);
        assert_eq!(EventKind::SupportModeChange.type_uid(), 300_403);
        // The first sixteen kinds keep their positions (old logs decode the same).
        assert_eq!(EventKind::ALL[15], EventKind::Containment);
        assert_eq!(EventKind::ALL[16], EventKind::TenantCreate);
        // View, download, export and transform are distinct activities.
        let acts: HashSet<_> = [
            EventKind::View,
            EventKind::Download,
            EventKind::Export,
            EventKind::Transform,
        ]
        .iter()
        .map(|k| k.type_uid())
        .collect();
        assert_eq!(acts.len(), 4);
        // The extension acts live in the extension's class range, nowhere else.
        for kind in [EventKind::Export, EventKind::Unseal, EventKind::TokenRevoke] {
            assert!(kind.class().extension);
            assert_eq!(kind.class().uid / 100_000, EXTENSION_UID);
        }
        assert_eq!(EventKind::Download.type_uid(), 600_602);
        assert_eq!(EventKind::View.type_uid(), 600_609);
    }

    #[test]
    fn canonical_json_sorts_keys_and_has_no_whitespace() {
        let v = json!({"b": 1, "a": [true, null, "x\"\n\u{1}é"], "A": {"z": -3, "y": 18446744073709551615u64}});
        assert_eq!(
            String::from_utf8(canonical_json(&v).unwrap()).unwrap(),
            "{\"A\":{\"y\":18446744073709551615,\"z\":-3},\"a\":[true,null,\"x\\\"\\n\\u0001é\"],\"b\":1}"
        );
        assert_eq!(
            canonical_json(&json!(1.5)),
            Err(EventError::NonIntegerNumber)
        );
    }

    #[test]
    fn canonical_bytes_are_stable_and_parse_back_to_the_same_bytes() {
        for kind in EventKind::ALL {
            let bytes = sample_event(kind, 1_764_000_000_000, 42)
                .canonical_bytes()
                .unwrap();
            let reparsed: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(canonical_json(&reparsed).unwrap(), bytes);
        }
    }

    #[test]
    fn invalid_field_error_names_the_field_not_the_value() {
        let mut e = sample_event(EventKind::View, 0, 1);
        e.trace_id = "secret-token-value\u{7}".into();
        let err = e.canonical_bytes().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("trace_id"));
        assert!(!msg.contains("secret-token-value"));
        assert!(!format!("{err:?}").contains("secret-token-value"));
    }
}
