//! Containment actions (DESIGN §9, §10) as library calls, for the detection bus:
//! [`Broker::contain`] takes one [`Containment`] and returns a [`ContainmentReceipt`]
//! once the action is effective on this node.
//!
//! Each action runs as the `system` actor (no policy decision: it is the response
//! policy's own act, like policy bootstrap) and appends one `containment` audit event
//! before answering. If that append fails the call fails, but what was already
//! revoked stays revoked (the safe side).
//!
//! - [`Containment::RevokePrincipalTokens`]: one principal epoch, so every token the
//!   principal holds now is refused on the next request (it may sign in again).
//! - [`Containment::SuspendPrincipal`]: the principal is suspended (no sign-in, no
//!   request, checked on every request) and its tokens revoked.
//! - [`Containment::RevokeSession`]: one session epoch.
//! - [`Containment::FreezeExports`]: no export is made and no export key is released
//!   for the tenant, and its pending exports are revoked. The freeze stands until an
//!   operator lifts it ([`Broker::unfreeze_exports`], policy action
//!   `tenant.unfreeze_exports`): lifting it is a human decision, not a quorum, so
//!   that a false positive of a detector can be undone quickly; it is audited. The
//!   store enforces the freeze too (database triggers on the exports table), so an
//!   export checked just before the freeze cannot be stored or released after it.

use custody_audit::event::EventKind;
use custody_policy::{Action, ResourceRef};
use custody_store::{ExportFreeze, PrincipalId, TenantId};
use custody_token::revocation::SubjectKind;

use crate::audit::Act;
use crate::authz::FactSet;
use crate::identity::Caller;
use crate::revocations::{Revoked, tenant_of};
use crate::{Broker, BrokerError};

/// Longest containment reason accepted (bytes).
pub const MAX_REASON_LEN: usize = 512;

/// One containment action. `reason` names the finding or incident (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Containment {
    /// Revoke every token the principal holds now.
    RevokePrincipalTokens {
        /// The principal.
        principal: PrincipalId,
        /// Why.
        reason: String,
    },
    /// Suspend the principal and revoke its tokens.
    SuspendPrincipal {
        /// The principal.
        principal: PrincipalId,
        /// Why.
        reason: String,
    },
    /// Freeze the tenant's exports and revoke its pending ones.
    FreezeExports {
        /// The tenant.
        tenant: TenantId,
        /// Why.
        reason: String,
    },
    /// Revoke one session (`sid`) of a principal.
    RevokeSession {
        /// The session id.
        session: String,
        /// Its principal.
        principal: PrincipalId,
        /// Why.
        reason: String,
    },
}

impl Containment {
    /// The action's name (`revoke_principal_tokens`, `suspend_principal`,
    /// `freeze_exports`, `revoke_session`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::RevokePrincipalTokens { .. } => "revoke_principal_tokens",
            Self::SuspendPrincipal { .. } => "suspend_principal",
            Self::FreezeExports { .. } => "freeze_exports",
            Self::RevokeSession { .. } => "revoke_session",
        }
    }

    fn reason(&self) -> &str {
        match self {
            Self::RevokePrincipalTokens { reason, .. }
            | Self::SuspendPrincipal { reason, .. }
            | Self::FreezeExports { reason, .. }
            | Self::RevokeSession { reason, .. } => reason,
        }
    }
}

/// What a containment action did, once effective on this node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ContainmentReceipt {
    /// The action's name ([`Containment::name`]).
    pub action: &'static str,
    /// The tenant the act is filed under (`vendor` for vendor principals).
    pub tenant: String,
    /// The principal, session or tenant acted on.
    pub target: String,
    /// The revocation epochs with their signed receipts (empty for a freeze).
    pub revoked: Option<Revoked>,
    /// The freeze in force (freeze only).
    pub freeze: Option<ExportFreeze>,
    /// Pending exports revoked (freeze only).
    pub exports_revoked: u64,
    /// The audit log index of the `containment` event.
    pub audit_index: u64,
}

impl Broker {
    /// Runs one containment action as the `system` actor; returns once it is
    /// effective on this node and its `containment` event is durable.
    pub async fn contain(&self, action: &Containment) -> Result<ContainmentReceipt, BrokerError> {
        let reason = action.reason();
        if reason.is_empty()
            || reason.len() > MAX_REASON_LEN
            || reason.chars().any(char::is_control)
        {
            return Err(BrokerError::BadRequest(
                "reason must be 1..=512 bytes of printable text".into(),
            ));
        }
        let mut receipt = ContainmentReceipt {
            action: action.name(),
            tenant: String::new(),
            target: String::new(),
            revoked: None,
            freeze: None,
            exports_revoked: 0,
            audit_index: 0,
        };
        match action {
            Containment::RevokePrincipalTokens { principal, .. }
            | Containment::SuspendPrincipal { principal, .. } => {
                let mut target = self.store.principal(principal).await?;
                if matches!(action, Containment::SuspendPrincipal { .. }) {
                    target = self.store.set_suspended(principal, true).await?;
                }
                receipt.revoked = Some(self.revoke_effective(&[(
                    SubjectKind::Principal,
                    target.id.as_str().to_owned(),
                )])?);
                receipt.tenant = tenant_of(&target);
                receipt.target = target.id.as_str().to_owned();
            }
            Containment::RevokeSession {
                session, principal, ..
            } => {
                if session.is_empty()
                    || session.len() > 256
                    || session.chars().any(char::is_control)
                {
                    return Err(BrokerError::BadRequest("session id is malformed".into()));
                }
                let target = self.store.principal(principal).await?;
                receipt.revoked =
                    Some(self.revoke_effective(&[(SubjectKind::Session, session.clone())])?);
                receipt.tenant = tenant_of(&target);
                receipt.target = session.clone();
            }
            Containment::FreezeExports { tenant, reason } => {
                let tenant = self.store.tenant(tenant).await?;
                let freeze = self
                    .store
                    .freeze_exports(&tenant.id, reason, "system", self.now_secs())
                    .await?;
                receipt.exports_revoked = self
                    .store
                    .revoke_tenant_exports(&tenant.id, self.now_secs())
                    .await?;
                receipt.freeze = Some(freeze);
                receipt.tenant = tenant.id.as_str().to_owned();
                receipt.target = tenant.id.as_str().to_owned();
            }
        }
        let recorded = self
            .record(Act::system(
                EventKind::Containment,
                &receipt.tenant,
                action.name(),
                &receipt.target,
            ))
            .await?;
        receipt.audit_index = recorded.index;
        Ok(receipt)
    }

    /// The freeze of `tenant`'s exports, if one stands.
    pub async fn export_freeze(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<ExportFreeze>, BrokerError> {
        Ok(self.store.export_freeze(tenant).await?)
    }

    /// Lifts a freeze of `tenant`'s exports (policy action `tenant.unfreeze_exports`:
    /// operators in the default policy); audited as `containment`. `false` if there
    /// was none.
    pub async fn unfreeze_exports(
        &self,
        caller: &Caller,
        tenant: &TenantId,
    ) -> Result<bool, BrokerError> {
        let tenant = self.store.tenant(tenant).await?;
        self.decide(
            caller,
            Action::TenantUnfreezeExports,
            ResourceRef::Tenant {
                id: tenant.id.as_str().to_owned(),
            },
            FactSet::default().tenant(&tenant),
            None,
        )
        .await?;
        let lifted = self.store.unfreeze_exports(&tenant.id).await?;
        if lifted {
            self.record(Act::by(
                caller,
                EventKind::Containment,
                tenant.id.as_str(),
                "unfreeze_exports",
                tenant.id.as_str(),
            ))
            .await?;
        }
        Ok(lifted)
    }
}
