//! Just-in-time grants (DESIGN §7) as pure logic: [`GrantRequest`] is a validated
//! request for one case, scoped to a tenant, a case and a set of actions, expiring
//! after at most [`MAX_GRANT_SECS`] (default and maximum one hour). Turning it into
//! [`GrantFacts`] needs [`QuorumEvidence`] over its own [`ApprovalRequest`].

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{Action, GrantFacts, check_id};
use crate::quorum::{ApprovalRequest, QuorumEvidence};

/// Default and maximum grant lifetime: one hour.
pub const MAX_GRANT_SECS: u64 = 3600;

/// The actions a grant may cover.
pub const GRANTABLE: [Action; 3] = [
    Action::ArtifactView,
    Action::ArtifactExport,
    Action::CaseRead,
];

/// A validated request for a grant on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRequest {
    agent: String,
    tenant: String,
    case: String,
    actions: BTreeSet<Action>,
    requested_at: u64,
    expires_at: u64,
}

/// Why a grant request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// An id is empty, too long or holds control characters.
    #[error("grant request: {0}")]
    BadId(#[from] crate::model::IdError),
    /// No action requested.
    #[error("grant request: no action requested")]
    NoActions,
    /// An action that grants cannot cover (only artifact.view, artifact.export,
    /// case.read).
    #[error("grant request: {action} cannot be granted")]
    NotGrantable {
        /// The action.
        action: Action,
    },
    /// Zero lifetime.
    #[error("grant request: lifetime must be at least one second")]
    ZeroLifetime,
    /// Longer than [`MAX_GRANT_SECS`].
    #[error("grant request: lifetime {requested} s exceeds the maximum of 3600 s")]
    TooLong {
        /// The requested lifetime.
        requested: u64,
    },
    /// The quorum evidence is for another request.
    #[error("the quorum evidence does not approve this grant request")]
    NotApproved,
    /// The request expired before it was approved.
    #[error("the grant request expired before approval")]
    Expired,
}

impl GrantRequest {
    /// Validates a request by `agent` for `actions` on `case` of `tenant`, made at
    /// `now`, for `lifetime_secs` (default and maximum [`MAX_GRANT_SECS`]).
    ///
    /// # Errors
    /// [`GrantError`] naming the defect; longer lifetimes are refused, not clipped.
    pub fn new(
        agent: &str,
        tenant: &str,
        case: &str,
        actions: BTreeSet<Action>,
        now: u64,
        lifetime_secs: Option<u64>,
    ) -> Result<Self, GrantError> {
        check_id("agent", agent)?;
        check_id("tenant", tenant)?;
        check_id("case", case)?;
        if actions.is_empty() {
            return Err(GrantError::NoActions);
        }
        if let Some(action) = actions.iter().find(|action| !GRANTABLE.contains(action)) {
            return Err(GrantError::NotGrantable { action: *action });
        }
        let lifetime = lifetime_secs.unwrap_or(MAX_GRANT_SECS);
        if lifetime == 0 {
            return Err(GrantError::ZeroLifetime);
        }
        if lifetime > MAX_GRANT_SECS {
            return Err(GrantError::TooLong {
                requested: lifetime,
            });
        }
        Ok(Self {
            agent: agent.to_owned(),
            tenant: tenant.to_owned(),
            case: case.to_owned(),
            actions,
            requested_at: now,
            expires_at: now.saturating_add(lifetime),
        })
    }

    /// The requesting agent.
    pub fn agent(&self) -> &str {
        &self.agent
    }

    /// The tenant.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The case.
    pub fn case(&self) -> &str {
        &self.case
    }

    /// The actions.
    pub fn actions(&self) -> &BTreeSet<Action> {
        &self.actions
    }

    /// When the grant would expire.
    pub fn expires_at(&self) -> u64 {
        self.expires_at
    }

    /// The request approvers sign: action `grant.request`, the tenant, and as
    /// parameters the case, the actions and the grant id to be issued.
    pub fn approval_request(&self, grant_id: &str) -> ApprovalRequest {
        let actions: Vec<&str> = self.actions.iter().map(|action| action.as_str()).collect();
        ApprovalRequest {
            action: Action::GrantRequest,
            tenant: self.tenant.clone(),
            artifact_ids: BTreeSet::new(),
            parameters: BTreeMap::from([
                ("case".to_owned(), self.case.clone()),
                ("actions".to_owned(), actions.join(",")),
                ("grant".to_owned(), grant_id.to_owned()),
                ("requested_at".to_owned(), self.requested_at.to_string()),
            ]),
            requester: self.agent.clone(),
            expires_at: self.expires_at,
        }
    }

    /// The grant, once `evidence` approves exactly [`Self::approval_request`] for
    /// `grant_id`, checked at `now`.
    ///
    /// # Errors
    /// [`GrantError::NotApproved`] for evidence over any other request,
    /// [`GrantError::Expired`] after expiry.
    pub fn approve(
        &self,
        grant_id: &str,
        evidence: &QuorumEvidence,
        now: u64,
    ) -> Result<GrantFacts, GrantError> {
        check_id("grant id", grant_id)?;
        if evidence.digest() != self.approval_request(grant_id).digest() {
            return Err(GrantError::NotApproved);
        }
        if now >= self.expires_at {
            return Err(GrantError::Expired);
        }
        Ok(GrantFacts {
            agent: self.agent.clone(),
            case: self.case.clone(),
            tenant: self.tenant.clone(),
            expires_at: self.expires_at,
            actions: self.actions.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actions() -> BTreeSet<Action> {
        BTreeSet::from([Action::ArtifactView])
    }

    #[test]
    fn default_lifetime_is_one_hour_and_longer_is_refused() {
        let request = GrantRequest::new("agent", "acme", "case-1", actions(), 1000, None).unwrap();
        assert_eq!(request.expires_at(), 1000 + 3600);
        assert_eq!(
            GrantRequest::new("agent", "acme", "case-1", actions(), 1000, Some(3601)),
            Err(GrantError::TooLong { requested: 3601 })
        );
        assert_eq!(
            GrantRequest::new("agent", "acme", "case-1", actions(), 1000, Some(0)),
            Err(GrantError::ZeroLifetime)
        );
        assert!(GrantRequest::new("agent", "acme", "case-1", actions(), 1000, Some(3600)).is_ok());
    }

    #[test]
    fn scope_is_validated() {
        assert_eq!(
            GrantRequest::new("agent", "acme", "case-1", BTreeSet::new(), 1, None),
            Err(GrantError::NoActions)
        );
        assert_eq!(
            GrantRequest::new(
                "agent",
                "acme",
                "case-1",
                BTreeSet::from([Action::ArtifactDownload]),
                1,
                None
            ),
            Err(GrantError::NotGrantable {
                action: Action::ArtifactDownload
            })
        );
        assert!(matches!(
            GrantRequest::new("agent", "", "case-1", actions(), 1, None),
            Err(GrantError::BadId(_))
        ));
        assert!(matches!(
            GrantRequest::new("agent", "acme", "case\n1", actions(), 1, None),
            Err(GrantError::BadId(_))
        ));
    }

    #[test]
    fn evidence_for_another_request_does_not_approve() {
        let request = GrantRequest::new("agent", "acme", "case-1", actions(), 1000, None).unwrap();
        let evidence = QuorumEvidence::for_tests(request.approval_request("g1"));
        assert!(request.approve("g1", &evidence, 1001).is_ok());
        assert_eq!(
            request.approve("g2", &evidence, 1001),
            Err(GrantError::NotApproved)
        );
        let other = GrantRequest::new("agent", "acme", "case-2", actions(), 1000, None).unwrap();
        assert_eq!(
            other.approve("g1", &evidence, 1001),
            Err(GrantError::NotApproved)
        );
        assert_eq!(
            request.approve("g1", &evidence, 4600),
            Err(GrantError::Expired)
        );
    }
}
