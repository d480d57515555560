//! What detectors report: [`Finding`] (kind, severity, principal, tenants, first
//! event and detection times, evidence as ids) and its audit form
//! ([`Finding::to_audit_events`], OCSF Detection Finding 2004 in custody-audit).

use std::borrow::Cow;

use custody_audit::event::{Actor, AuditEvent, Decision, EventKind, Resource};
use serde::{Deserialize, Serialize};

use crate::signal::{PrincipalClass, Signal};

/// The tenant named on audit events that concern no tenant in particular.
pub const VENDOR_TENANT: &str = "vendor";

/// What a finding is about. Response policies are keyed by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A principal exceeded its GCRA envelope on sensitive operations.
    RatePrincipal,
    /// A tenant's sensitive operations exceeded their GCRA envelope.
    RateTenant,
    /// One session, token or proof seen with two keys, devices or networks, or a
    /// refused authentication whose reason is a binding mismatch on a valid token.
    SessionHijack,
    /// A token refused because it is revoked was presented again (replay of
    /// material captured before containment, or a stale client).
    RevokedTokenUse,
    /// Two consecutive authenticated signals too far apart for the time between.
    ImpossibleTravel,
    /// Artifact access across the alert number of tenants inside the alert window.
    CrossTenantAccess,
    /// Artifact access across the block number of tenants inside the block window.
    CrossTenantBlock,
    /// Many distinct artifacts accessed inside the bulk window.
    BulkArtifactAccess,
    /// A burst of policy denials (probing).
    PolicyProbing,
    /// An admin session from a device not seen before for that admin.
    NewAdminDevice,
    /// An admin session from a network not seen before for that admin.
    NewAdminNetwork,
    /// A service account (a machine identity with a fixed host) seen from a device or
    /// network it has not been seen with: its key is being used somewhere else.
    ServiceAccountNewContext,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 12] = [
        FindingKind::RatePrincipal,
        FindingKind::RateTenant,
        FindingKind::SessionHijack,
        FindingKind::RevokedTokenUse,
        FindingKind::ImpossibleTravel,
        FindingKind::CrossTenantAccess,
        FindingKind::CrossTenantBlock,
        FindingKind::BulkArtifactAccess,
        FindingKind::PolicyProbing,
        FindingKind::NewAdminDevice,
        FindingKind::NewAdminNetwork,
        FindingKind::ServiceAccountNewContext,
    ];

    /// The snake_case name (metric label, config key).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RatePrincipal => "rate_principal",
            Self::RateTenant => "rate_tenant",
            Self::SessionHijack => "session_hijack",
            Self::RevokedTokenUse => "revoked_token_use",
            Self::ImpossibleTravel => "impossible_travel",
            Self::CrossTenantAccess => "cross_tenant_access",
            Self::CrossTenantBlock => "cross_tenant_block",
            Self::BulkArtifactAccess => "bulk_artifact_access",
            Self::PolicyProbing => "policy_probing",
            Self::NewAdminDevice => "new_admin_device",
            Self::NewAdminNetwork => "new_admin_network",
            Self::ServiceAccountNewContext => "service_account_new_context",
        }
    }
}

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Suspicious.
    Medium,
    /// Likely malicious.
    High,
    /// Malicious: contain at once.
    Critical,
}

/// One piece of evidence: a label and an identifier (never a secret value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    /// What the id is (`session`, `token`, `previous_device`, `distance_km`...).
    pub label: Cow<'static, str>,
    /// The id or figure.
    pub id: String,
}

/// A detector's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Unique id (`fnd-<node>-<detected_ms>-<seq>`).
    pub id: String,
    /// What it is about.
    pub kind: FindingKind,
    /// How bad.
    pub severity: Severity,
    /// The principal whose acts form the pattern.
    pub principal_id: String,
    /// Its class.
    pub principal_class: PrincipalClass,
    /// The session concerned, when one is.
    pub session_id: Option<String>,
    /// Tenants concerned (at least one).
    pub tenants: Vec<String>,
    /// Time of the first event of the pattern (ms since the epoch).
    pub first_event_ms: i64,
    /// Time of detection (ms since the epoch, from the watch's clock).
    pub detected_ms: i64,
    /// Evidence, as ids.
    pub evidence: Vec<Evidence>,
}

/// What an audit event needs beyond the finding or action itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditMeta {
    /// Id of the policy bundle in force.
    pub policy_bundle_id: String,
    /// Version of the rule set in force.
    pub rules_version: String,
}

impl Default for AuditMeta {
    fn default() -> Self {
        Self {
            policy_bundle_id: "none".into(),
            rules_version: "none".into(),
        }
    }
}

impl Finding {
    /// A finding about `signal`'s principal and session, in `signal`'s tenant, whose
    /// pattern began at `first_event_ms`. Id and detection time are set by the watch.
    pub(crate) fn about(
        kind: FindingKind,
        severity: Severity,
        signal: &Signal,
        first_event_ms: i64,
    ) -> Self {
        Self {
            id: String::new(),
            kind,
            severity,
            principal_id: signal.principal_id.clone(),
            principal_class: signal.principal_class,
            session_id: signal.session_id.clone(),
            tenants: vec![signal.tenant.clone()],
            first_event_ms,
            detected_ms: 0,
            evidence: Vec::new(),
        }
    }

    /// Adds one piece of evidence.
    pub(crate) fn with(mut self, label: &'static str, id: impl Into<String>) -> Self {
        self.evidence.push(Evidence {
            label: Cow::Borrowed(label),
            id: id.into(),
        });
        self
    }

    /// Adds one piece of evidence when `id` is known.
    pub(crate) fn with_opt(self, label: &'static str, id: Option<&String>) -> Self {
        match id {
            Some(id) => self.with(label, id.clone()),
            None => self,
        }
    }

    /// Time to detect: first event of the pattern → finding, in ms (never negative).
    #[must_use]
    pub fn time_to_detect_ms(&self) -> i64 {
        self.detected_ms.saturating_sub(self.first_event_ms).max(0)
    }

    /// The audit events recording this finding: one per tenant concerned, so each
    /// tenant's slice of the log shows it (blast radius and notification read per
    /// tenant, §10). Kind [`EventKind::Finding`], actor the principal concerned,
    /// resource the finding id, trace id the finding id (containment events carry the
    /// same trace id). `blocked` is true when the response policy contains the
    /// principal (OCSF disposition Blocked), false for notify-only findings.
    #[must_use]
    pub fn to_audit_events(&self, meta: &AuditMeta, blocked: bool) -> Vec<AuditEvent> {
        let tenants: Vec<&str> = if self.tenants.is_empty() {
            vec![VENDOR_TENANT]
        } else {
            self.tenants.iter().map(String::as_str).collect()
        };
        tenants
            .into_iter()
            .map(|tenant| AuditEvent {
                time_ms: self.detected_ms,
                kind: EventKind::Finding,
                actor: Actor {
                    principal_id: self.principal_id.clone(),
                    principal_class: self.principal_class.as_str().to_owned(),
                    session_id: self.session_id.clone(),
                },
                device: None,
                src_endpoint: None,
                tenant: tenant.to_owned(),
                resource: Resource {
                    kind: format!("finding:{}", self.kind.as_str()),
                    id: self.id.clone(),
                    digest: None,
                    case_id: None,
                },
                trace_id: self.id.clone(),
                decision: if blocked {
                    Decision::Deny
                } else {
                    Decision::Allow
                },
                policy_bundle_id: meta.policy_bundle_id.clone(),
                rules_version: meta.rules_version.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::sample_event;

    use super::*;

    #[test]
    fn finding_maps_to_one_detection_finding_event_per_tenant() {
        let signal = Signal::from(&sample_event(EventKind::Download, 5_000, 2));
        let mut f = Finding::about(
            FindingKind::CrossTenantBlock,
            Severity::Critical,
            &signal,
            1_000,
        )
        .with("session", "sess-2");
        f.id = "fnd-n-6000-1".into();
        f.detected_ms = 6_000;
        f.tenants.push("tenant-x".into());
        assert_eq!(f.time_to_detect_ms(), 5_000);
        let events = f.to_audit_events(&AuditMeta::default(), true);
        assert_eq!(events.len(), 2);
        for e in &events {
            e.validate().unwrap();
            assert_eq!(e.kind, EventKind::Finding);
            assert_eq!(e.kind.class().uid, 2004);
            assert_eq!(e.resource.id, "fnd-n-6000-1");
            assert_eq!(e.trace_id, "fnd-n-6000-1");
            assert_eq!(e.decision, Decision::Deny);
            assert_eq!(e.actor.principal_id, "agent-2");
        }
        assert_eq!(events[0].tenant, "tenant-2");
        assert_eq!(events[1].tenant, "tenant-x");
    }

    #[test]
    fn kinds_have_distinct_names_matching_serde() {
        let mut names = std::collections::HashSet::new();
        for k in FindingKind::ALL {
            assert!(names.insert(k.as_str()));
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
