//! Response to findings: the serde-configurable [`ResponsePolicy`] (finding kind →
//! [`Action`]s), the concrete [`Containment`] steps it plans, the [`Responder`]
//! trait the broker implements to carry them out, and the [`Incident`] record of
//! one finding's response with its time-to-detect and time-to-revoke.

use std::collections::BTreeMap;
use std::future::Future;

use custody_audit::event::{Actor, AuditEvent, Decision, EventKind, Resource};
use serde::{Deserialize, Serialize};

use crate::finding::{AuditMeta, Finding, FindingKind, VENDOR_TENANT};

/// One response action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Revoke the finding's session (a revocation epoch for the session). Without a
    /// session in the finding, the principal's tokens are revoked instead.
    RevokeSession,
    /// Revoke every token of the principal (an epoch for the principal).
    RevokePrincipalTokens,
    /// Suspend the principal: no sign-in, no request, until an operator lifts it.
    SuspendPrincipal,
    /// Freeze exports (and unseals) for every tenant of the finding.
    FreezeTenantExports,
    /// Page on-call.
    Notify,
}

impl Action {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RevokeSession => "revoke_session",
            Self::RevokePrincipalTokens => "revoke_principal_tokens",
            Self::SuspendPrincipal => "suspend_principal",
            Self::FreezeTenantExports => "freeze_tenant_exports",
            Self::Notify => "notify",
        }
    }

    /// True for actions that stop access (all but [`Action::Notify`]); their
    /// completion is what time-to-revoke measures.
    #[must_use]
    pub fn contains_access(self) -> bool {
        !matches!(self, Self::Notify)
    }
}

/// Finding kind → actions. Kinds not in the map get [`ResponsePolicy::fallback`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResponsePolicy {
    /// Actions per kind.
    pub actions: BTreeMap<FindingKind, Vec<Action>>,
    /// Actions for kinds not listed. Default: notify.
    pub fallback: Vec<Action>,
}

impl Default for ResponsePolicy {
    fn default() -> Self {
        use Action::{
            FreezeTenantExports, Notify, RevokePrincipalTokens, RevokeSession, SuspendPrincipal,
        };
        let actions = [
            (FindingKind::RatePrincipal, vec![Notify]),
            (FindingKind::RateTenant, vec![Notify]),
            (
                FindingKind::SessionHijack,
                vec![RevokeSession, RevokePrincipalTokens, Notify],
            ),
            (FindingKind::RevokedTokenUse, vec![Notify]),
            (
                FindingKind::ImpossibleTravel,
                vec![RevokePrincipalTokens, Notify],
            ),
            (FindingKind::CrossTenantAccess, vec![Notify]),
            (
                FindingKind::CrossTenantBlock,
                vec![
                    SuspendPrincipal,
                    RevokePrincipalTokens,
                    FreezeTenantExports,
                    Notify,
                ],
            ),
            (FindingKind::BulkArtifactAccess, vec![RevokeSession, Notify]),
            (FindingKind::PolicyProbing, vec![Notify]),
            (FindingKind::NewAdminDevice, vec![Notify]),
            (FindingKind::NewAdminNetwork, vec![Notify]),
            (
                FindingKind::ServiceAccountNewContext,
                vec![SuspendPrincipal, RevokePrincipalTokens, Notify],
            ),
        ]
        .into_iter()
        .collect();
        Self {
            actions,
            fallback: vec![Notify],
        }
    }
}

/// What an action acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Target {
    /// A session id.
    Session(String),
    /// A principal id.
    Principal(String),
    /// A tenant id.
    Tenant(String),
    /// The on-call rotation.
    OnCall,
}

/// One planned containment step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Containment {
    /// The finding it answers.
    pub finding_id: String,
    /// The action.
    pub action: Action,
    /// What it acts on.
    pub target: Target,
}

impl Containment {
    /// The audit event of this step (kind [`EventKind::Containment`], OCSF 7001
    /// Isolate): actor `system`, resource the target, trace id the finding id,
    /// decision allow when the step took effect and deny when it failed.
    #[must_use]
    pub fn to_audit_event(
        &self,
        finding: &Finding,
        meta: &AuditMeta,
        time_ms: i64,
        effective: bool,
    ) -> AuditEvent {
        let (kind, id) = match &self.target {
            Target::Session(id) => ("session", id.as_str()),
            Target::Principal(id) => ("principal", id.as_str()),
            Target::Tenant(id) => ("tenant", id.as_str()),
            Target::OnCall => ("on_call", "on_call"),
        };
        let tenant = match &self.target {
            Target::Tenant(t) => t.as_str(),
            _ => finding
                .tenants
                .first()
                .map_or(VENDOR_TENANT, String::as_str),
        };
        AuditEvent {
            time_ms,
            kind: EventKind::Containment,
            actor: Actor {
                principal_id: "custody-watch".into(),
                principal_class: "system".into(),
                session_id: None,
            },
            device: None,
            src_endpoint: None,
            tenant: tenant.to_owned(),
            resource: Resource {
                kind: format!("{kind}:{}", self.action.as_str()),
                id: id.to_owned(),
                digest: None,
                case_id: None,
            },
            trace_id: finding.id.clone(),
            decision: if effective {
                Decision::Allow
            } else {
                Decision::Deny
            },
            policy_bundle_id: meta.policy_bundle_id.clone(),
            rules_version: meta.rules_version.clone(),
        }
    }
}

impl ResponsePolicy {
    /// The actions for `kind`.
    #[must_use]
    pub fn actions_for(&self, kind: FindingKind) -> &[Action] {
        self.actions.get(&kind).unwrap_or(&self.fallback)
    }

    /// The concrete steps for `finding`, access-stopping steps first (in policy
    /// order), notification last, duplicates removed. A session revocation without a
    /// session becomes a revocation of the principal's tokens (fail closed).
    #[must_use]
    pub fn plan(&self, finding: &Finding) -> Vec<Containment> {
        let mut steps: Vec<Containment> = Vec::new();
        let mut actions: Vec<Action> = self.actions_for(finding.kind).to_vec();
        actions.sort_by_key(|a| !a.contains_access());
        for action in actions {
            let targets = match action {
                Action::RevokeSession => match &finding.session_id {
                    Some(s) => vec![(Action::RevokeSession, Target::Session(s.clone()))],
                    None => vec![(
                        Action::RevokePrincipalTokens,
                        Target::Principal(finding.principal_id.clone()),
                    )],
                },
                Action::RevokePrincipalTokens | Action::SuspendPrincipal => {
                    vec![(action, Target::Principal(finding.principal_id.clone()))]
                }
                Action::FreezeTenantExports => finding
                    .tenants
                    .iter()
                    .map(|t| (action, Target::Tenant(t.clone())))
                    .collect(),
                Action::Notify => vec![(action, Target::OnCall)],
            };
            for (action, target) in targets {
                if !steps
                    .iter()
                    .any(|s| s.action == action && s.target == target)
                {
                    steps.push(Containment {
                        finding_id: finding.id.clone(),
                        action,
                        target,
                    });
                }
            }
        }
        steps
    }

    /// True when the policy stops access for `kind` (the finding's audit event is
    /// then recorded as blocked).
    #[must_use]
    pub fn blocks(&self, kind: FindingKind) -> bool {
        self.actions_for(kind).iter().any(|a| a.contains_access())
    }
}

/// A containment step or a record could not be carried out. Carries no secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// The responder could not carry out the step.
    #[error("containment step failed: {0}")]
    Failed(String),
    /// The step is not supported by this responder.
    #[error("containment action {0} is not supported")]
    Unsupported(&'static str),
}

/// Carries out containment: implemented by the broker (revocation epochs, principal
/// suspension, export freeze, paging) and by test doubles.
pub trait Responder: Send + Sync + 'static {
    /// Carries out one step and returns once it is effective (for revocations: once
    /// every node has acknowledged the new epoch).
    fn execute(
        &self,
        finding: &Finding,
        step: &Containment,
    ) -> impl Future<Output = Result<(), ResponseError>> + Send;

    /// Appends an audit event (the finding's and each step's) durably.
    fn record(&self, event: AuditEvent) -> impl Future<Output = Result<(), ResponseError>> + Send;
}

/// The result of one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The step.
    pub step: Containment,
    /// When it became effective (ms since the epoch), `None` if it failed.
    pub effective_ms: Option<i64>,
    /// Why it failed.
    pub error: Option<ResponseError>,
}

/// One finding and its response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    /// The finding.
    pub finding: Finding,
    /// Each step's outcome, in execution order.
    pub outcomes: Vec<Outcome>,
    /// First event of the pattern → finding, ms.
    pub time_to_detect_ms: i64,
    /// Finding → last access-stopping step effective, ms; `None` when the policy had
    /// no such step or one of them failed (an incident is contained only when every
    /// step took effect).
    pub time_to_revoke_ms: Option<i64>,
    /// Audit records that could not be appended.
    pub record_failures: usize,
}

impl Incident {
    /// True when every step took effect.
    #[must_use]
    pub fn contained(&self) -> bool {
        self.outcomes.iter().all(|o| o.error.is_none())
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::sample_event;

    use super::*;
    use crate::finding::Severity;
    use crate::signal::Signal;

    fn finding(kind: FindingKind, session: Option<&str>) -> Finding {
        let s = Signal::from(&sample_event(EventKind::View, 0, 1));
        let mut f = Finding::about(kind, Severity::High, &s, 0);
        f.id = "fnd-1".into();
        f.session_id = session.map(str::to_owned);
        f
    }

    #[test]
    fn revoking_a_session_without_a_session_revokes_the_principal() {
        // Bulk access: revoke_session and notify by default.
        let plan = ResponsePolicy::default().plan(&finding(FindingKind::BulkArtifactAccess, None));
        let steps: Vec<_> = plan.iter().map(|s| (s.action, s.target.clone())).collect();
        assert_eq!(
            steps,
            vec![
                (
                    Action::RevokePrincipalTokens,
                    Target::Principal("agent-1".into())
                ),
                (Action::Notify, Target::OnCall),
            ]
        );
        // With the policy's own revoke_principal_tokens, the duplicate is removed.
        let plan = ResponsePolicy::default().plan(&finding(FindingKind::SessionHijack, None));
        let steps: Vec<_> = plan.iter().map(|s| (s.action, s.target.clone())).collect();
        assert_eq!(
            steps,
            vec![
                (
                    Action::RevokePrincipalTokens,
                    Target::Principal("agent-1".into())
                ),
                (Action::Notify, Target::OnCall),
            ]
        );
    }

    #[test]
    fn access_stopping_steps_run_before_notification_and_unknown_kinds_notify() {
        let mut policy = ResponsePolicy::default();
        policy.actions.insert(
            FindingKind::PolicyProbing,
            vec![Action::Notify, Action::SuspendPrincipal],
        );
        let plan = policy.plan(&finding(FindingKind::PolicyProbing, Some("s")));
        let actions: Vec<_> = plan.iter().map(|s| s.action).collect();
        assert_eq!(actions, vec![Action::SuspendPrincipal, Action::Notify]);
        assert!(policy.blocks(FindingKind::PolicyProbing));
        policy.actions.remove(&FindingKind::RateTenant);
        assert_eq!(
            policy.actions_for(FindingKind::RateTenant),
            &[Action::Notify]
        );
        assert!(!policy.blocks(FindingKind::RateTenant));
    }

    #[test]
    fn containment_events_are_valid_and_name_the_target() {
        let f = finding(FindingKind::CrossTenantBlock, Some("s"));
        for step in ResponsePolicy::default().plan(&f) {
            let e = step.to_audit_event(&f, &AuditMeta::default(), 5, true);
            e.validate().unwrap();
            assert_eq!(e.kind, EventKind::Containment);
            assert_eq!(e.kind.class().uid, 7001);
            assert_eq!(e.trace_id, "fnd-1");
            assert_eq!(e.actor.principal_class, "system");
        }
    }
}
