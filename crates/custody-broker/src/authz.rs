//! Policy decisions for the use cases: builds the Cedar request from the caller and the
//! stored facts, asks the engine (total: any error denies), counts the decision, and
//! turns a deny into [`BrokerError::Forbidden`].

use std::collections::BTreeSet;

use custody_policy::{
    Action, CaseFacts, Context, Decision, DeviceFacts, Facts, GrantFacts, PrincipalClass as PClass,
    PrincipalRef, Request, ResourceRef, ServiceAccountFacts, SupportMode as PMode, TenantFacts,
};
use custody_store::{Case, Principal, PrincipalClass, SupportMode, Tenant};

use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// The policy's view of a stored principal.
pub(crate) fn principal_ref(principal: &Principal) -> PrincipalRef {
    let id = principal.id.as_str();
    match principal.class {
        PrincipalClass::CustomerAdmin => PrincipalRef::customer_admin(
            id,
            principal.tenant_id.as_ref().map_or("", |t| t.as_str()),
        ),
        PrincipalClass::SupportAgent => PrincipalRef::support_agent(id),
        PrincipalClass::ServiceAccount => PrincipalRef::service_account(id),
        PrincipalClass::Operator => PrincipalRef::operator(id),
    }
}

pub(crate) fn policy_class(class: PrincipalClass) -> PClass {
    match class {
        PrincipalClass::CustomerAdmin => PClass::CustomerAdmin,
        PrincipalClass::SupportAgent => PClass::SupportAgent,
        PrincipalClass::ServiceAccount => PClass::ServiceAccount,
        PrincipalClass::Operator => PClass::Operator,
    }
}

fn policy_mode(mode: SupportMode) -> PMode {
    match mode {
        SupportMode::Off => PMode::Off,
        SupportMode::OnRequest => PMode::OnRequest,
        SupportMode::Delegated => PMode::Delegated,
    }
}

/// Facts gathered for one decision.
#[derive(Debug, Default)]
pub(crate) struct FactSet {
    pub facts: Facts,
    pub grant: Option<String>,
}

impl FactSet {
    pub fn tenant(mut self, tenant: &Tenant) -> Self {
        self.facts.tenants.insert(
            tenant.id.as_str().to_owned(),
            TenantFacts {
                support_mode: policy_mode(tenant.support_mode),
            },
        );
        self
    }

    pub fn case(mut self, case: &Case) -> Self {
        self.facts.cases.insert(
            case.id.as_str().to_owned(),
            CaseFacts {
                tenant: case.tenant_id.as_str().to_owned(),
                assigned: case
                    .assigned
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
            },
        );
        self
    }
}

impl Broker {
    /// Adds the caller's own facts (service-account scope, its device) and the active
    /// grant covering `case` for support agents.
    async fn caller_facts(
        &self,
        caller: &Caller,
        mut set: FactSet,
        case: Option<&Case>,
        action: Action,
    ) -> Result<FactSet, BrokerError> {
        if let Some(scope) = &caller.principal.service {
            set.facts.service_accounts.insert(
                caller.principal.id.as_str().to_owned(),
                ServiceAccountFacts {
                    function: scope.function.clone(),
                    tenants: scope
                        .tenants
                        .iter()
                        .map(|t| t.as_str().to_owned())
                        .collect(),
                },
            );
        }
        set.facts.devices.insert(
            caller.device.id.as_str().to_owned(),
            DeviceFacts {
                owner: principal_ref(&caller.principal),
            },
        );
        if let (Some(case), PrincipalClass::SupportAgent) = (case, caller.principal.class) {
            let now = self.now_secs();
            let grants = self
                .store
                .list_agent_grants(&caller.principal.id, Some(now))
                .await?;
            // Prefer the grant that covers this action; an agent may hold several.
            let mut on_case: Vec<_> = grants
                .into_iter()
                .filter(|g| g.case_id == case.id)
                .collect();
            on_case.sort_by_key(|g| !g.actions.iter().any(|a| a == action.as_str()));
            if let Some(grant) = on_case.into_iter().next() {
                let actions: BTreeSet<Action> = grant
                    .actions
                    .iter()
                    .filter_map(|a| a.parse().ok())
                    .collect();
                set.facts.grants.insert(
                    grant.id.as_str().to_owned(),
                    GrantFacts {
                        agent: grant.agent_id.as_str().to_owned(),
                        case: grant.case_id.as_str().to_owned(),
                        tenant: grant.tenant_id.as_str().to_owned(),
                        expires_at: u64::try_from(grant.expires_at).unwrap_or(0),
                        actions,
                    },
                );
                set.grant = Some(grant.id.as_str().to_owned());
            }
        }
        Ok(set)
    }

    /// Decides `action` on `resource` for `caller`; a deny (or any error) is
    /// [`BrokerError::Forbidden`].
    pub(crate) async fn decide(
        &self,
        caller: &Caller,
        action: Action,
        resource: ResourceRef,
        set: FactSet,
        case: Option<&Case>,
    ) -> Result<(), BrokerError> {
        let set = self.caller_facts(caller, set, case, action).await?;
        let request = Request {
            principal: principal_ref(&caller.principal),
            action,
            resource,
            context: Context {
                device_bound: true,
                network_hash: caller.network.as_str().to_owned(),
                risk_score: 0,
                now: self.now_u64(),
                session_class: Some(policy_class(caller.principal.class)),
                grant: set.grant,
                quorum: None,
            },
        };
        let decision = self.policy.authorize(&request, &set.facts);
        let allowed = decision.is_allowed();
        if let Some(hook) = &self.on_decision {
            hook(action.as_str(), allowed);
        }
        match decision {
            Decision::Allow(_) => Ok(()),
            Decision::Deny(diagnostics) => {
                tracing::info!(
                    policy.action = action.as_str(),
                    principal.id = caller.principal.id.as_str(),
                    policy.determining = ?diagnostics.policies(),
                    policy.errors = diagnostics.errors().len(),
                    "policy denied"
                );
                Err(BrokerError::Forbidden {
                    action: action.as_str(),
                })
            }
        }
    }
}
