//! The decision point: [`PolicyEngine`] holds the active bundle (schema and policies
//! parsed once, `Arc`-shared, swapped atomically on activation) and answers
//! [`PolicyEngine::authorize`], which is total: any error is a deny with diagnostics.
//!
//! Entity loading happens per decision and touches only what the request reaches:
//! the principal (with its tenant or service-account scope), the resource and its
//! parents (artifact -> case -> tenant), the grant named in the context (with its case
//! and tenant) and a device's owner. A fact the request needs and [`Facts`] lacks is an
//! error, hence a deny (I5).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use cedar_policy as cedar;

use crate::bundle::VerifiedBundle;
use crate::content::{BundleContent, Compiled, ContentError};
use crate::model::{
    Action, Decision, Diagnostics, Facts, PrincipalClass, PrincipalRef, Request, ResourceRef,
};

/// A bundle ready to decide with.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) expires_at: u64,
    pub(crate) compiled: Compiled,
}

/// The policy decision point. Cheap to clone: clones share the active-bundle slot, so
/// an activation is seen by every clone. With no bundle it denies everything.
#[derive(Debug, Clone, Default)]
pub struct PolicyEngine {
    slot: Arc<RwLock<Option<Arc<Active>>>>,
}

/// Why a bundle was not activated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActivateError {
    /// The bundle's version is not above the active one (rollback).
    #[error("bundle version {offered} is not above the active version {active}")]
    NotNewer {
        /// The offered version.
        offered: u64,
        /// The active version.
        active: u64,
    },
    /// The engine's lock was poisoned by a panic elsewhere; nothing was changed.
    #[error("the policy engine's state is unavailable")]
    Unavailable,
}

impl PolicyEngine {
    /// An engine with no bundle: every decision is a deny.
    pub fn new() -> Self {
        Self::default()
    }

    /// An engine with `bundle` active.
    pub fn with_bundle(bundle: VerifiedBundle) -> Self {
        Self {
            slot: Arc::new(RwLock::new(Some(bundle.into_active()))),
        }
    }

    /// An engine over content that was NOT signature-checked (tests, `custody policy
    /// test`, local development). The content is still strictly validated. Never use
    /// this for a serving node: its decisions would rest on unverified policy.
    ///
    /// # Errors
    /// [`ContentError`] when the content does not compile.
    pub fn dangerous_from_unverified(content: &BundleContent) -> Result<Self, ContentError> {
        let compiled = content.compile()?;
        let active = Active {
            id: content.id(),
            version: 0,
            expires_at: u64::MAX,
            compiled,
        };
        Ok(Self {
            slot: Arc::new(RwLock::new(Some(Arc::new(active)))),
        })
    }

    /// Makes `bundle` the active bundle for this engine and all its clones. Its
    /// version must be above the active one (the [`crate::BundleVerifier`] checks the
    /// same; this keeps an engine monotonic whatever feeds it).
    ///
    /// # Errors
    /// [`ActivateError`]; the active bundle is unchanged.
    pub fn activate(&self, bundle: VerifiedBundle) -> Result<(), ActivateError> {
        let mut slot = self.slot.write().map_err(|_| ActivateError::Unavailable)?;
        if let Some(active) = slot.as_ref()
            && bundle.version() <= active.version
        {
            return Err(ActivateError::NotNewer {
                offered: bundle.version(),
                active: active.version,
            });
        }
        *slot = Some(bundle.into_active());
        Ok(())
    }

    /// The id of the active bundle, if any.
    pub fn bundle_id(&self) -> Option<String> {
        self.active().map(|active| active.id.clone())
    }

    /// The version of the active bundle, if any.
    pub fn bundle_version(&self) -> Option<u64> {
        self.active().map(|active| active.version)
    }

    fn active(&self) -> Option<Arc<Active>> {
        self.slot.read().ok().and_then(|slot| slot.clone())
    }

    /// Decides `request` given `facts`. Total: a missing bundle, an expired bundle,
    /// a missing fact, a malformed id or any Cedar evaluation error is a deny, with
    /// the reason in [`Diagnostics::errors`].
    pub fn authorize(&self, request: &Request, facts: &Facts) -> Decision {
        let Some(active) = self.active() else {
            return Decision::Deny(Diagnostics {
                errors: vec!["no verified policy bundle is active".to_owned()],
                ..Diagnostics::default()
            });
        };
        let mut diagnostics = Diagnostics {
            bundle_id: Some(active.id.clone()),
            ..Diagnostics::default()
        };
        if request.context.now >= active.expires_at {
            diagnostics
                .errors
                .push("the active policy bundle has expired".to_owned());
            return Decision::Deny(diagnostics);
        }
        match decide(&active.compiled, request, facts) {
            Ok((allowed, policies, errors)) => {
                diagnostics.policies = policies;
                diagnostics.errors = errors;
                if allowed && diagnostics.errors.is_empty() {
                    Decision::Allow(diagnostics)
                } else {
                    Decision::Deny(diagnostics)
                }
            }
            Err(error) => {
                diagnostics.errors.push(error);
                Decision::Deny(diagnostics)
            }
        }
    }
}

/// Runs Cedar on the converted request, over the policy slice of its principal class
/// and action. Returns (allowed, determining policies, evaluation errors).
fn decide(
    compiled: &Compiled,
    request: &Request,
    facts: &Facts,
) -> Result<(bool, Vec<String>, Vec<String>), String> {
    let slice = compiled
        .slices
        .get(&(request.principal.class, request.action))
        .ok_or("no policy slice for this principal class and action")?;
    let tenant = match &request.resource {
        ResourceRef::Tenant { id } => Some(id.as_str()),
        ResourceRef::Case { id } => facts.cases.get(id).map(|case| case.tenant.as_str()),
        // The loader refuses an artifact whose tenant is not its case's.
        ResourceRef::Artifact { tenant, .. } => Some(tenant.as_str()),
        _ => None,
    };
    let policies = match tenant {
        Some(tenant) => slice.by_tenant.get(tenant).unwrap_or(&slice.untenanted),
        None => &slice.all,
    };
    decide_with(compiled, policies, request, facts)
}

fn decide_with(
    compiled: &Compiled,
    policies: &cedar::PolicySet,
    request: &Request,
    facts: &Facts,
) -> Result<(bool, Vec<String>, Vec<String>), String> {
    let mut loader = Loader {
        facts,
        entities: HashMap::new(),
    };
    let principal = loader.principal(&request.principal)?;
    let resource = loader.resource(&request.resource)?;
    let context = loader.context(request)?;
    let action = action_uid(request.action)?;
    let entities =
        cedar::Entities::from_entities(loader.entities.into_values(), Some(&compiled.schema))
            .map_err(|err| format!("entities: {err}"))?;
    let cedar_request =
        cedar::Request::new(principal, action, resource, context, Some(&compiled.schema))
            .map_err(|err| format!("request: {err}"))?;
    let response = cedar::Authorizer::new().is_authorized(&cedar_request, policies, &entities);
    let mut reasons: Vec<String> = response
        .diagnostics()
        .reason()
        .map(ToString::to_string)
        .collect();
    reasons.sort();
    let errors = response
        .diagnostics()
        .errors()
        .map(ToString::to_string)
        .collect();
    Ok((
        response.decision() == cedar::Decision::Allow,
        reasons,
        errors,
    ))
}

/// The Cedar entity type name of each of our types.
fn type_name(kind: &str) -> Result<cedar::EntityTypeName, String> {
    kind.parse().map_err(|_| format!("bad entity type {kind}"))
}

fn uid(kind: &str, id: &str) -> Result<cedar::EntityUid, String> {
    crate::model::check_id(kind_field(kind), id).map_err(|err| err.to_string())?;
    Ok(cedar::EntityUid::from_type_name_and_id(
        type_name(kind)?,
        cedar::EntityId::new(id),
    ))
}

fn kind_field(kind: &str) -> &'static str {
    match kind {
        TENANT => "tenant id",
        CASE => "case id",
        ARTIFACT => "artifact id",
        GRANT => "grant id",
        DEVICE => "device id",
        BUNDLE => "policy bundle id",
        _ => "principal id",
    }
}

const TENANT: &str = "Custody::Tenant";
const CASE: &str = "Custody::Case";
const ARTIFACT: &str = "Custody::Artifact";
const GRANT: &str = "Custody::Grant";
const DEVICE: &str = "Custody::Device";
const BUNDLE: &str = "Custody::PolicyBundle";

pub(crate) fn principal_type(class: PrincipalClass) -> &'static str {
    match class {
        PrincipalClass::CustomerAdmin => "Custody::CustomerAdmin",
        PrincipalClass::SupportAgent => "Custody::SupportAgent",
        PrincipalClass::ServiceAccount => "Custody::ServiceAccount",
        PrincipalClass::Operator => "Custody::Operator",
    }
}

fn action_uid(action: Action) -> Result<cedar::EntityUid, String> {
    Ok(cedar::EntityUid::from_type_name_and_id(
        type_name("Custody::Action")?,
        cedar::EntityId::new(action.as_str()),
    ))
}

type Attrs = HashMap<String, cedar::RestrictedExpression>;

/// Builds the Cedar entities one request reaches.
struct Loader<'a> {
    facts: &'a Facts,
    entities: HashMap<cedar::EntityUid, cedar::Entity>,
}

impl Loader<'_> {
    fn add(
        &mut self,
        uid: cedar::EntityUid,
        attrs: Attrs,
        parents: HashSet<cedar::EntityUid>,
    ) -> Result<(), String> {
        if self.entities.contains_key(&uid) {
            return Ok(());
        }
        let entity = cedar::Entity::new(uid.clone(), attrs, parents)
            .map_err(|err| format!("entity: {err}"))?;
        self.entities.insert(uid, entity);
        Ok(())
    }

    fn tenant(&mut self, id: &str) -> Result<cedar::EntityUid, String> {
        let tenant_uid = uid(TENANT, id)?;
        if !self.entities.contains_key(&tenant_uid) {
            let facts = self
                .facts
                .tenants
                .get(id)
                .ok_or("missing facts for a tenant")?;
            let attrs = Attrs::from([(
                "support_mode".to_owned(),
                cedar::RestrictedExpression::new_string(facts.support_mode.as_str().to_owned()),
            )]);
            self.add(tenant_uid.clone(), attrs, HashSet::new())?;
        }
        Ok(tenant_uid)
    }

    fn case(&mut self, id: &str) -> Result<(cedar::EntityUid, String), String> {
        let case_uid = uid(CASE, id)?;
        let facts = self.facts.cases.get(id).ok_or("missing facts for a case")?;
        let tenant_uid = self.tenant(&facts.tenant)?;
        if !self.entities.contains_key(&case_uid) {
            let assigned = facts
                .assigned
                .iter()
                .map(|agent| {
                    uid(principal_type(PrincipalClass::SupportAgent), agent)
                        .map(cedar::RestrictedExpression::new_entity_uid)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let attrs = Attrs::from([
                (
                    "tenant".to_owned(),
                    cedar::RestrictedExpression::new_entity_uid(tenant_uid.clone()),
                ),
                (
                    "assigned".to_owned(),
                    cedar::RestrictedExpression::new_set(assigned),
                ),
            ]);
            self.add(case_uid.clone(), attrs, HashSet::from([tenant_uid]))?;
        }
        Ok((case_uid, facts.tenant.clone()))
    }

    fn principal(&mut self, principal: &PrincipalRef) -> Result<cedar::EntityUid, String> {
        let principal_uid = uid(principal_type(principal.class), &principal.id)?;
        match principal.class {
            PrincipalClass::CustomerAdmin => {
                let tenant = principal
                    .tenant
                    .as_deref()
                    .ok_or("a customer admin without a tenant")?;
                let tenant_uid = self.tenant(tenant)?;
                self.add(
                    principal_uid.clone(),
                    Attrs::new(),
                    HashSet::from([tenant_uid]),
                )?;
            }
            PrincipalClass::ServiceAccount => {
                let facts = self
                    .facts
                    .service_accounts
                    .get(&principal.id)
                    .ok_or("missing facts for a service account")?;
                let tenants = facts
                    .tenants
                    .iter()
                    .map(|tenant| {
                        uid(TENANT, tenant).map(cedar::RestrictedExpression::new_entity_uid)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let attrs = Attrs::from([
                    (
                        "function".to_owned(),
                        cedar::RestrictedExpression::new_string(facts.function.clone()),
                    ),
                    (
                        "tenants".to_owned(),
                        cedar::RestrictedExpression::new_set(tenants),
                    ),
                ]);
                self.add(principal_uid.clone(), attrs, HashSet::new())?;
            }
            PrincipalClass::SupportAgent | PrincipalClass::Operator => {
                if principal.tenant.is_some() {
                    return Err("a vendor principal with a tenant".to_owned());
                }
                let groups = self
                    .facts
                    .groups
                    .get(&principal.id)
                    .into_iter()
                    .flatten()
                    .map(|group| cedar::RestrictedExpression::new_string(group.clone()));
                let attrs = Attrs::from([(
                    "groups".to_owned(),
                    cedar::RestrictedExpression::new_set(groups),
                )]);
                self.add(principal_uid.clone(), attrs, HashSet::new())?;
            }
        }
        Ok(principal_uid)
    }

    fn resource(&mut self, resource: &ResourceRef) -> Result<cedar::EntityUid, String> {
        match resource {
            ResourceRef::Tenant { id } => self.tenant(id),
            ResourceRef::Case { id } => Ok(self.case(id)?.0),
            ResourceRef::Artifact { id, case, tenant } => {
                let (case_uid, case_tenant) = self.case(case)?;
                if case_tenant != *tenant {
                    return Err("the artifact's tenant is not its case's tenant".to_owned());
                }
                let tenant_uid = self.tenant(tenant)?;
                let artifact_uid = uid(ARTIFACT, id)?;
                let attrs = Attrs::from([
                    (
                        "tenant".to_owned(),
                        cedar::RestrictedExpression::new_entity_uid(tenant_uid),
                    ),
                    (
                        "case".to_owned(),
                        cedar::RestrictedExpression::new_entity_uid(case_uid.clone()),
                    ),
                ]);
                self.add(artifact_uid.clone(), attrs, HashSet::from([case_uid]))?;
                Ok(artifact_uid)
            }
            ResourceRef::Grant { id } => self.grant(id),
            ResourceRef::Device { id } => {
                let facts = self
                    .facts
                    .devices
                    .get(id)
                    .ok_or("missing facts for a device")?;
                let owner = self.principal(&facts.owner)?;
                let device_uid = uid(DEVICE, id)?;
                self.add(device_uid.clone(), Attrs::new(), HashSet::from([owner]))?;
                Ok(device_uid)
            }
            ResourceRef::Principal(principal) => self.principal(principal),
            ResourceRef::PolicyBundle { id } => {
                let bundle_uid = uid(BUNDLE, id)?;
                self.add(bundle_uid.clone(), Attrs::new(), HashSet::new())?;
                Ok(bundle_uid)
            }
        }
    }

    fn grant(&mut self, id: &str) -> Result<cedar::EntityUid, String> {
        let grant_uid = uid(GRANT, id)?;
        let facts = self
            .facts
            .grants
            .get(id)
            .ok_or("missing facts for a grant")?;
        let (case_uid, case_tenant) = self.case(&facts.case)?;
        if case_tenant != facts.tenant {
            return Err("the grant's tenant is not its case's tenant".to_owned());
        }
        let tenant_uid = self.tenant(&facts.tenant)?;
        let agent_uid = uid(principal_type(PrincipalClass::SupportAgent), &facts.agent)?;
        let expires_at =
            i64::try_from(facts.expires_at).map_err(|_| "grant expiry out of range")?;
        let actions = facts
            .actions
            .iter()
            .map(|action| cedar::RestrictedExpression::new_string(action.as_str().to_owned()));
        let attrs = Attrs::from([
            (
                "agent".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(agent_uid),
            ),
            (
                "case".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(case_uid),
            ),
            (
                "tenant".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(tenant_uid),
            ),
            (
                "expires_at".to_owned(),
                cedar::RestrictedExpression::new_long(expires_at),
            ),
            (
                "actions".to_owned(),
                cedar::RestrictedExpression::new_set(actions),
            ),
        ]);
        self.add(grant_uid.clone(), attrs, HashSet::new())?;
        Ok(grant_uid)
    }

    fn context(&mut self, request: &Request) -> Result<cedar::Context, String> {
        let context = &request.context;
        let session_class = context
            .session_class
            .ok_or("no session class in the context")?;
        let now = i64::try_from(context.now).map_err(|_| "context time out of range")?;
        let quorum_met = match &context.quorum {
            Some(evidence) => evidence.covers(request)?,
            None => false,
        };
        let mut pairs = vec![
            (
                "device_bound".to_owned(),
                cedar::RestrictedExpression::new_bool(context.device_bound),
            ),
            (
                "network_hash".to_owned(),
                cedar::RestrictedExpression::new_string(context.network_hash.clone()),
            ),
            (
                "risk_score".to_owned(),
                cedar::RestrictedExpression::new_long(i64::from(context.risk_score)),
            ),
            ("now".to_owned(), cedar::RestrictedExpression::new_long(now)),
            (
                "session_class".to_owned(),
                cedar::RestrictedExpression::new_string(session_class.as_str().to_owned()),
            ),
            (
                "quorum_met".to_owned(),
                cedar::RestrictedExpression::new_bool(quorum_met),
            ),
        ];
        if let Some(grant) = &context.grant {
            let grant_uid = self.grant(grant)?;
            pairs.push((
                "grant".to_owned(),
                cedar::RestrictedExpression::new_entity_uid(grant_uid),
            ));
        }
        cedar::Context::from_pairs(pairs).map_err(|err| format!("context: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::model::{
        CaseFacts, Context, DeviceFacts, GrantFacts, ServiceAccountFacts, SupportMode, TenantFacts,
    };

    fn facts() -> Facts {
        let mut facts = Facts::default();
        facts.tenants.insert(
            "acme".into(),
            TenantFacts {
                support_mode: SupportMode::OnRequest,
            },
        );
        facts.cases.insert(
            "c1".into(),
            CaseFacts {
                tenant: "acme".into(),
                assigned: BTreeSet::from(["bob".into()]),
            },
        );
        facts.tenants.insert(
            "globex".into(),
            TenantFacts {
                support_mode: SupportMode::Delegated,
            },
        );
        facts.cases.insert(
            "c2".into(),
            CaseFacts {
                tenant: "globex".into(),
                assigned: BTreeSet::new(),
            },
        );
        facts.service_accounts.insert(
            "sa".into(),
            ServiceAccountFacts {
                function: "scan".into(),
                tenants: BTreeSet::from(["acme".into()]),
            },
        );
        facts.grants.insert(
            "g1".into(),
            GrantFacts {
                agent: "bob".into(),
                case: "c1".into(),
                tenant: "acme".into(),
                expires_at: 2000,
                actions: Action::ALL.iter().copied().collect(),
            },
        );
        facts.devices.insert(
            "d1".into(),
            DeviceFacts {
                owner: PrincipalRef::support_agent("bob"),
            },
        );
        facts
    }

    /// Deciding over a slice gives exactly what deciding over the whole set gives, for
    /// every class, action and resource kind, with and without a grant (and with a
    /// policy whose evaluation errors, to compare errors too).
    #[test]
    fn slices_decide_as_the_whole_set() {
        let mut content = BundleContent::builtin_default();
        content.policies.insert(
            "extra.cedar".into(),
            "@id(\"err\") forbid (principal, action, resource) when { context.risk_score * 9223372036854775807 > 0 };\n\
             @id(\"any\") permit (principal, action in [Custody::Action::\"case.read\", Custody::Action::\"token.revoke\"], resource);\n\
             @id(\"acme-only\") permit (principal, action, resource in Custody::Tenant::\"acme\") when { context.risk_score == 3 };\n\
             @id(\"acme-eq\") forbid (principal, action, resource == Custody::Tenant::\"acme\") when { context.risk_score == 3 };\n\
             @id(\"other-only\") permit (principal, action, resource in Custody::Tenant::\"globex\");"
                .into(),
        );
        let compiled = content.compile().unwrap();
        let facts = facts();
        let principals = [
            PrincipalRef::customer_admin("alice", "acme"),
            PrincipalRef::support_agent("bob"),
            PrincipalRef::service_account("sa"),
            PrincipalRef::operator("olga"),
        ];
        let resources = [
            ResourceRef::Tenant { id: "acme".into() },
            ResourceRef::Case { id: "c1".into() },
            ResourceRef::Artifact {
                id: "a1".into(),
                case: "c1".into(),
                tenant: "acme".into(),
            },
            ResourceRef::Grant { id: "g1".into() },
            ResourceRef::Device { id: "d1".into() },
            ResourceRef::Principal(PrincipalRef::service_account("sa")),
            ResourceRef::PolicyBundle { id: "b".into() },
            ResourceRef::Tenant {
                id: "globex".into(),
            },
            ResourceRef::Case { id: "c2".into() },
            ResourceRef::Artifact {
                id: "a2".into(),
                case: "c2".into(),
                tenant: "globex".into(),
            },
            ResourceRef::Principal(PrincipalRef::customer_admin("gina", "globex")),
        ];
        let mut compared = 0;
        let mut allowed = BTreeSet::new();
        for principal in &principals {
            for action in Action::ALL {
                for resource in &resources {
                    for (grant, risk) in [
                        (None, 0),
                        (Some("g1".to_owned()), 0),
                        (Some("g1".to_owned()), 3),
                    ] {
                        let request = Request {
                            principal: principal.clone(),
                            action: *action,
                            resource: resource.clone(),
                            context: Context {
                                now: 1000,
                                device_bound: true,
                                risk_score: risk,
                                session_class: Some(principal.class),
                                grant,
                                ..Context::default()
                            },
                        };
                        let sliced = decide(&compiled, &request, &facts);
                        let whole = decide_with(&compiled, &compiled.policies, &request, &facts);
                        assert_eq!(sliced, whole, "{request:?}");
                        if let Ok((true, reasons, _)) = &sliced {
                            allowed.extend(reasons.iter().cloned());
                        }
                        compared += usize::from(sliced.is_ok());
                    }
                }
            }
        }
        assert!(compared > 150, "{compared}");
        // The tenant-scoped test policies did decide somewhere.
        assert!(
            allowed.contains("acme-only") && allowed.contains("other-only"),
            "{allowed:?}"
        );
    }
}
