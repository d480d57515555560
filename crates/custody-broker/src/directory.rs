//! Tenants, principals and cases: who exists and which case belongs to whom. Every
//! use case is a policy decision, and every change is an audit event appended before
//! the change is acknowledged (`tenant_create`, `principal_create`, `case_open`,
//! `case_assign`, `support_mode_change`; `device_enrol` in [`crate::identity`]). If
//! the append fails the request fails: a case assignment and a support-mode change are
//! undone, a principal gets no enrolment code (so it can never sign in); a created
//! tenant or case stays, unacknowledged and without its event (the store has no
//! delete for them yet).

use custody_policy::{Action, ResourceRef};
use custody_store::{
    Case, CaseId, NewCase, NewPrincipal, NewTenant, Principal, PrincipalClass, PrincipalId,
    SupportMode, Tenant, TenantId,
};

use custody_audit::event::EventKind;

use crate::audit::{Act, tenant_of};
use crate::authz::FactSet;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// Longest display name or title accepted (bytes).
pub const MAX_NAME_LEN: usize = 200;

/// A principal to create.
#[derive(Debug, Clone)]
pub struct PrincipalSpec {
    /// Class (operators create agents and operators; customer admins need a tenant).
    pub class: PrincipalClass,
    /// The tenant of a customer admin.
    pub tenant: Option<TenantId>,
    /// Display name.
    pub display_name: String,
    /// Approver groups (e.g. `support_lead`, `security_reviewer`).
    pub groups: Vec<String>,
}

/// Checks a human-entered name: non-empty after trimming, bounded, no control or
/// bidirectional-override characters (which can disguise names in UIs and logs).
pub fn check_name(field: &str, value: &str) -> Result<String, BrokerError> {
    let trimmed = value.trim();
    let bad_char = trimmed.chars().any(|c| {
        c.is_control()
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200B}'..='\u{200F}' | '\u{FEFF}')
    });
    if trimmed.is_empty() || trimmed.len() > MAX_NAME_LEN || bad_char {
        return Err(BrokerError::BadRequest(format!(
            "{field} must be 1..={MAX_NAME_LEN} bytes of printable text without control or \
             bidirectional-override characters"
        )));
    }
    Ok(trimmed.to_owned())
}

fn new_principal_ref(spec: &PrincipalSpec) -> custody_policy::PrincipalRef {
    const NEW: &str = "prn_new";
    match (spec.class, &spec.tenant) {
        (PrincipalClass::CustomerAdmin, Some(tenant)) => {
            custody_policy::PrincipalRef::customer_admin(NEW, tenant.as_str())
        }
        (PrincipalClass::CustomerAdmin, None) => {
            custody_policy::PrincipalRef::customer_admin(NEW, "")
        }
        (PrincipalClass::SupportAgent, _) => custody_policy::PrincipalRef::support_agent(NEW),
        (PrincipalClass::ServiceAccount, _) => custody_policy::PrincipalRef::service_account(NEW),
        (PrincipalClass::Operator, _) => custody_policy::PrincipalRef::operator(NEW),
    }
}

impl Broker {
    /// Creates a tenant (operators).
    pub async fn create_tenant(&self, caller: &Caller, name: &str) -> Result<Tenant, BrokerError> {
        let name = check_name("name", name)?;
        let placeholder = Tenant {
            id: TenantId::parse("ten_00000000000000000000000000000000")?,
            name: name.clone(),
            support_mode: SupportMode::OnRequest,
            created_at: 0,
        };
        let resource = ResourceRef::Tenant {
            id: placeholder.id.as_str().to_owned(),
        };
        self.decide(
            caller,
            Action::TenantCreate,
            resource,
            FactSet::default().tenant(&placeholder),
            None,
        )
        .await?;
        let tenant = self
            .store
            .create_tenant(&NewTenant {
                name,
                support_mode: SupportMode::OnRequest,
                created_at: self.now_secs(),
            })
            .await?;
        let id = tenant.id.as_str();
        self.record(Act::by(caller, EventKind::TenantCreate, id, "tenant", id))
            .await?;
        Ok(tenant)
    }

    /// Creates a human principal and returns it with its one-time enrolment code.
    pub async fn create_principal(
        &self,
        caller: &Caller,
        spec: &PrincipalSpec,
    ) -> Result<(Principal, String), BrokerError> {
        let display_name = check_name("display_name", &spec.display_name)?;
        for group in &spec.groups {
            check_name("group", group)?;
        }
        let mut set = FactSet::default();
        match (spec.class, &spec.tenant) {
            (PrincipalClass::CustomerAdmin, Some(tenant)) => {
                set = set.tenant(&self.store.tenant(tenant).await?);
            }
            (PrincipalClass::CustomerAdmin, None) => {
                return Err(BrokerError::BadRequest(
                    "a customer admin needs a tenant".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(BrokerError::BadRequest(
                    "only customer admins belong to a tenant".into(),
                ));
            }
            (PrincipalClass::ServiceAccount, None) => {
                return Err(BrokerError::BadRequest(
                    "service accounts are created through quorum approval".into(),
                ));
            }
            _ => {}
        }
        let resource = ResourceRef::Principal(new_principal_ref(spec));
        self.decide(caller, Action::PrincipalCreate, resource, set, None)
            .await?;
        let principal = self
            .store
            .create_principal(&NewPrincipal {
                class: spec.class,
                tenant_id: spec.tenant.clone(),
                display_name,
                groups: spec.groups.clone(),
                service: None,
                created_at: self.now_secs(),
            })
            .await?;
        // Before the enrolment code exists: without the event, the principal can
        // never sign in.
        self.record(Act::by(
            caller,
            EventKind::PrincipalCreate,
            &tenant_of(&principal),
            "principal",
            principal.id.as_str(),
        ))
        .await?;
        let code = self.new_enrolment_code(&principal.id).await?;
        Ok((principal, code))
    }

    /// Opens a case in `tenant` (its customer admins).
    pub async fn open_case(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        title: &str,
    ) -> Result<Case, BrokerError> {
        let title = check_name("title", title)?;
        let tenant = self.store.tenant(tenant).await?;
        let resource = ResourceRef::Tenant {
            id: tenant.id.as_str().to_owned(),
        };
        self.decide(
            caller,
            Action::CaseOpen,
            resource,
            FactSet::default().tenant(&tenant),
            None,
        )
        .await?;
        let case = self
            .store
            .create_case(&NewCase {
                tenant_id: tenant.id,
                opened_by: caller.principal.id.clone(),
                title,
                created_at: self.now_secs(),
            })
            .await?;
        let id = case.id.as_str();
        self.record(
            Act::by(
                caller,
                EventKind::CaseOpen,
                case.tenant_id.as_str(),
                "case",
                id,
            )
            .in_case(id),
        )
        .await?;
        Ok(case)
    }

    /// Loads a case and decides `action` on it for `caller`.
    pub(crate) async fn case_for(
        &self,
        caller: &Caller,
        case: &CaseId,
        action: Action,
    ) -> Result<(Case, Tenant), BrokerError> {
        let case = self.store.case(case).await?;
        let tenant = self.store.tenant(&case.tenant_id).await?;
        let resource = ResourceRef::Case {
            id: case.id.as_str().to_owned(),
        };
        let set = FactSet::default().tenant(&tenant).case(&case);
        self.decide(caller, action, resource, set, Some(&case))
            .await?;
        Ok((case, tenant))
    }

    /// Reads one case.
    pub async fn case(&self, caller: &Caller, case: &CaseId) -> Result<Case, BrokerError> {
        Ok(self.case_for(caller, case, Action::CaseRead).await?.0)
    }

    /// Assigns a support agent to a case (operators).
    pub async fn assign_case(
        &self,
        caller: &Caller,
        case: &CaseId,
        agent: &PrincipalId,
    ) -> Result<Case, BrokerError> {
        let (_, tenant) = self.case_for(caller, case, Action::CaseAssign).await?;
        let assigned = self.store.assign_case(case, agent, self.now_secs()).await?;
        let act = Act::by(
            caller,
            EventKind::CaseAssign,
            tenant.id.as_str(),
            "case_assignment",
            agent.as_str(),
        )
        .in_case(case.as_str());
        if let Err(err) = self.record(act).await {
            let _ = self.store.unassign_case(case, agent).await;
            return Err(err);
        }
        Ok(assigned)
    }

    /// The cases the caller may read: a customer admin's tenant's cases, an agent's
    /// assigned cases.
    pub async fn list_cases(&self, caller: &Caller) -> Result<Vec<Case>, BrokerError> {
        let candidates = match (&caller.principal.class, &caller.principal.tenant_id) {
            (PrincipalClass::CustomerAdmin, Some(tenant)) => self.store.list_cases(tenant).await?,
            (PrincipalClass::SupportAgent, _) => {
                self.store.list_assigned_cases(&caller.principal.id).await?
            }
            _ => Vec::new(),
        };
        let mut visible = Vec::with_capacity(candidates.len());
        for case in candidates {
            if self
                .case_for(caller, &case.id, Action::CaseRead)
                .await
                .is_ok()
            {
                visible.push(case);
            }
        }
        Ok(visible)
    }

    /// Sets a tenant's support-access mode (its customer admins).
    pub async fn set_support_mode(
        &self,
        caller: &Caller,
        tenant: &TenantId,
        mode: SupportMode,
    ) -> Result<Tenant, BrokerError> {
        let current = self.store.tenant(tenant).await?;
        let resource = ResourceRef::Tenant {
            id: current.id.as_str().to_owned(),
        };
        self.decide(
            caller,
            Action::TenantSetSupportMode,
            resource,
            FactSet::default().tenant(&current),
            None,
        )
        .await?;
        let changed = self.store.set_support_mode(tenant, mode).await?;
        let act = Act::by(
            caller,
            EventKind::SupportModeChange,
            tenant.as_str(),
            "support_mode",
            mode.as_str(),
        );
        if let Err(err) = self.record(act).await {
            let _ = self
                .store
                .set_support_mode(tenant, current.support_mode)
                .await;
            return Err(err);
        }
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_tenant_id_parses() {
        assert!(TenantId::parse("ten_00000000000000000000000000000000").is_ok());
    }

    #[test]
    fn names_with_controls_or_bidi_overrides_are_refused() {
        assert!(check_name("title", "Login fails").is_ok());
        for bad in [
            "",
            "   ",
            "a\u{202E}gpj.exe",
            "line\nbreak",
            "zero\u{200B}width",
        ] {
            assert!(check_name("title", bad).is_err(), "{bad:?}");
        }
        assert!(check_name("title", &"x".repeat(MAX_NAME_LEN + 1)).is_err());
    }
}
