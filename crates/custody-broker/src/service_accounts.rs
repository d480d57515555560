//! Service accounts, created and widened only through a quorum (DESIGN §7).
//!
//! 1. An operator asks for an account ([`Broker::request_service_account`]: display
//!    name, one function, an explicit tenant list) or for a new scope of an existing one
//!    ([`Broker::request_service_account_scope`]). The answer is a vendor approval
//!    request (action `serviceaccount.create`) whose digest covers the exact function,
//!    tenant list and account; approvers sign it with their device keys like a grant's.
//! 2. The quorum is one `support_lead` AND one `security_reviewer`, never the requester
//!    (`Broker::vendor_rule`). A signature over any other request (say,
//!    another tenant list) does not verify and is refused.
//! 3. The requester redeems the approved request ([`Broker::complete_service_account`]):
//!    Cedar decides `serviceaccount.create` with the quorum evidence in the context (the
//!    default policy forbids it without), the request is used up, and the account is
//!    created with that scope (its one-time enrolment code returned once, for the
//!    account's device) or its scope replaced.
//!
//! `POST /v1/principals` still refuses the `service_account` class: this is the only
//! way in. Service accounts sign in with the `service_account` token class (5 minutes),
//! act only within their function and tenants, and never export (all three enforced by
//! the policy).

use std::collections::{BTreeMap, BTreeSet};

use custody_audit::event::EventKind;
use custody_policy::{Action, ApprovalRequest, PrincipalRef, QuorumConfig, ResourceRef};
use custody_store::{
    ApprovalRequestId, NewPrincipal, Principal, PrincipalClass, PrincipalId, ServiceScope, TenantId,
};

use crate::audit::Act;
use crate::authz::FactSet;
use crate::directory::check_name;
use crate::grants::GrantView;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// Resource kind of the audit facts that put a tenant in a service account's scope
/// (one `grant_approve` event per tenant, tenant = that tenant, resource id = the
/// account), recorded at creation and at every scope change.
pub const SCOPE_RESOURCE: &str = "service_account_scope";

/// The functions a service account may have (each is one permit of the default
/// policy's `30-service-account.cedar`).
pub const SERVICE_FUNCTIONS: [&str; 4] = ["ingest", "scan", "triage", "revocation"];
/// Most tenants one service account may name (the list is one approval parameter,
/// at most 4 KiB).
pub const MAX_SERVICE_TENANTS: usize = 100;
/// The approval request's `tenant` for vendor-wide requests.
pub const VENDOR_SCOPE: &str = "vendor";

/// A service account to ask for.
#[derive(Debug, Clone)]
pub struct ServiceAccountSpec {
    /// Display name.
    pub display_name: String,
    /// Its one function (one of [`SERVICE_FUNCTIONS`]).
    pub function: String,
    /// The explicit tenant list.
    pub tenants: Vec<TenantId>,
}

/// A redeemed service-account request. `Debug` never shows the enrolment code.
pub struct ServiceAccountCreated {
    /// The account as it now stands.
    pub principal: Principal,
    /// The one-time enrolment code of a new account (a secret: returned once); `None`
    /// when an existing account's scope changed.
    pub enrolment_code: Option<String>,
}

impl std::fmt::Debug for ServiceAccountCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountCreated")
            .field("principal", &self.principal.id)
            .field(
                "enrolment_code",
                &self.enrolment_code.as_ref().map(|_| "[redacted]"),
            )
            .finish()
    }
}

fn bad(message: &str) -> BrokerError {
    BrokerError::BadRequest(message.to_owned())
}

/// Checks a function and tenant list; returns the sorted, deduplicated tenant list.
fn check_scope(function: &str, tenants: &[TenantId]) -> Result<Vec<TenantId>, BrokerError> {
    if !SERVICE_FUNCTIONS.contains(&function) {
        return Err(bad(
            "function must be one of ingest, scan, triage, revocation",
        ));
    }
    let mut tenants = tenants.to_vec();
    tenants.sort();
    tenants.dedup();
    if tenants.is_empty() || tenants.len() > MAX_SERVICE_TENANTS {
        return Err(bad("tenants must list 1 to 100 tenants"));
    }
    Ok(tenants)
}

fn join_tenants(tenants: &[TenantId]) -> String {
    tenants
        .iter()
        .map(TenantId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The scope an approved request names.
struct RequestedScope {
    account: String,
    display_name: Option<String>,
    scope: ServiceScope,
}

fn requested_scope(request: &ApprovalRequest) -> Result<RequestedScope, BrokerError> {
    let corrupt = || BrokerError::Internal("service-account request parameters".into());
    let param = |name: &str| request.parameters.get(name).ok_or_else(corrupt);
    let tenants = param("tenants")?
        .split(',')
        .map(TenantId::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| corrupt())?;
    Ok(RequestedScope {
        account: param("principal")?.clone(),
        display_name: request.parameters.get("display_name").cloned(),
        scope: ServiceScope {
            function: param("function")?.clone(),
            tenants,
        },
    })
}

fn scope_facts(account: &str, scope: &ServiceScope) -> FactSet {
    let mut set = FactSet::default();
    set.facts.service_accounts.insert(
        account.to_owned(),
        custody_policy::ServiceAccountFacts {
            function: scope.function.clone(),
            tenants: scope
                .tenants
                .iter()
                .map(|t| t.as_str().to_owned())
                .collect(),
        },
    );
    set
}

impl Broker {
    /// Asks for a new service account; returns the approval request to sign.
    pub async fn request_service_account(
        &self,
        caller: &Caller,
        spec: &ServiceAccountSpec,
    ) -> Result<GrantView, BrokerError> {
        let display_name = check_name("display_name", &spec.display_name)?;
        let mut reference = [0u8; 16];
        getrandom::fill(&mut reference).map_err(|_| BrokerError::Internal("entropy".into()))?;
        let reference = format!("sa_new_{}", hex::encode(reference));
        self.service_account_request(
            caller,
            &reference,
            Some(display_name),
            &spec.function,
            &spec.tenants,
        )
        .await
    }

    /// Asks for a new scope (function and tenant list) of an existing service account;
    /// returns the approval request to sign.
    pub async fn request_service_account_scope(
        &self,
        caller: &Caller,
        account: &PrincipalId,
        function: &str,
        tenants: &[TenantId],
    ) -> Result<GrantView, BrokerError> {
        let principal = self.store.principal(account).await?;
        if principal.class != PrincipalClass::ServiceAccount {
            return Err(BrokerError::NotFound("service account"));
        }
        self.service_account_request(caller, principal.id.as_str(), None, function, tenants)
            .await
    }

    async fn service_account_request(
        &self,
        caller: &Caller,
        account: &str,
        display_name: Option<String>,
        function: &str,
        tenants: &[TenantId],
    ) -> Result<GrantView, BrokerError> {
        let tenants = check_scope(function, tenants)?;
        for tenant in &tenants {
            self.store.tenant(tenant).await?;
        }
        let scope = ServiceScope {
            function: function.to_owned(),
            tenants,
        };
        self.decide(
            caller,
            Action::ServiceAccountRequest,
            ResourceRef::Principal(PrincipalRef::service_account(account)),
            scope_facts(account, &scope),
            None,
        )
        .await?;
        let mut parameters = BTreeMap::from([
            ("principal".to_owned(), account.to_owned()),
            ("function".to_owned(), scope.function.clone()),
            ("tenants".to_owned(), join_tenants(&scope.tenants)),
        ]);
        if let Some(name) = display_name {
            parameters.insert("display_name".to_owned(), name);
        }
        let now = self.now_u64();
        let request = ApprovalRequest {
            action: Action::ServiceAccountCreate,
            tenant: VENDOR_SCOPE.to_owned(),
            artifact_ids: BTreeSet::new(),
            parameters,
            requester: caller.principal.id.as_str().to_owned(),
            expires_at: now + QuorumConfig::default().approval_ttl_secs,
        };
        let view = self.create_vendor_request(caller, request, None).await?;
        self.record(Act::by(
            caller,
            EventKind::GrantRequest,
            VENDOR_SCOPE,
            "service_account_request",
            view.approval_request_id.as_str(),
        ))
        .await?;
        Ok(view)
    }

    /// Redeems an approved service-account request (its requester only): decided as
    /// `serviceaccount.create` with the quorum evidence; the request is used up.
    pub async fn complete_service_account(
        &self,
        caller: &Caller,
        approval: &ApprovalRequestId,
    ) -> Result<ServiceAccountCreated, BrokerError> {
        let (stored, request) = self
            .load_vendor_approval(approval)
            .await?
            .filter(|(_, r)| r.action == Action::ServiceAccountCreate)
            .ok_or_else(|| bad("not a service-account request"))?;
        let wanted = requested_scope(&request)?;
        let evidence = self.vendor_evidence(&stored, &request).await?;
        self.decide_with_quorum(
            caller,
            Action::ServiceAccountCreate,
            ResourceRef::Principal(PrincipalRef::service_account(&wanted.account)),
            scope_facts(&wanted.account, &wanted.scope),
            evidence,
        )
        .await?;
        self.store
            .complete_approval(&stored.id, true, self.now_secs())
            .await?;
        let (principal, enrolment_code) = match &wanted.display_name {
            Some(name) => {
                let principal = self
                    .store
                    .create_principal(&NewPrincipal {
                        class: PrincipalClass::ServiceAccount,
                        tenant_id: None,
                        display_name: name.clone(),
                        groups: Vec::new(),
                        service: Some(wanted.scope.clone()),
                        created_at: self.now_secs(),
                    })
                    .await?;
                let code = self.new_enrolment_code(&principal.id).await?;
                (principal, Some(code))
            }
            None => {
                let id = PrincipalId::parse(&wanted.account)?;
                (
                    self.store.set_service_scope(&id, &wanted.scope).await?,
                    None,
                )
            }
        };
        self.record(Act::by(
            caller,
            EventKind::GrantApprove,
            VENDOR_SCOPE,
            "service_account",
            principal.id.as_str(),
        ))
        .await?;
        // The scope, one fact per tenant, so a tenant's slice of the log shows every
        // service account that may read it and blast radius counts it in the
        // account's support boundary (docs/incident.md §1).
        for tenant in &wanted.scope.tenants {
            self.record(Act::by(
                caller,
                EventKind::GrantApprove,
                tenant.as_str(),
                SCOPE_RESOURCE,
                principal.id.as_str(),
            ))
            .await?;
        }
        Ok(ServiceAccountCreated {
            principal,
            enrolment_code,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_checked_and_normalised() {
        let a = TenantId::parse("ten_00000000000000000000000000000002").unwrap();
        let b = TenantId::parse("ten_00000000000000000000000000000001").unwrap();
        let tenants = check_scope("scan", &[a.clone(), b.clone(), a.clone()]).unwrap();
        assert_eq!(tenants, vec![b, a]);
        assert!(check_scope("export", &tenants).is_err());
        assert!(check_scope("scan", &[]).is_err());
    }

    #[test]
    fn debug_never_shows_the_enrolment_code() {
        let created = ServiceAccountCreated {
            principal: Principal {
                id: PrincipalId::parse("prn_00000000000000000000000000000001").unwrap(),
                class: PrincipalClass::ServiceAccount,
                tenant_id: None,
                display_name: "sync".into(),
                groups: Vec::new(),
                service: None,
                suspended: false,
                created_at: 0,
            },
            enrolment_code: Some("enr_secretcode".into()),
        };
        assert!(!format!("{created:?}").contains("secretcode"));
    }
}
