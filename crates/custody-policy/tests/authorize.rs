//! `PolicyEngine::authorize` through the public API: totality (every error is a deny
//! with diagnostics), and a generated cross-tenant matrix in which every cell denies.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

use std::collections::BTreeSet;

use custody_policy::{
    Action, BundleContent, CaseFacts, Context, Decision, Facts, GrantFacts, PolicyEngine,
    PrincipalClass, PrincipalRef, Request, ResourceRef, ServiceAccountFacts, SupportMode,
    TenantFacts,
};

const NOW: u64 = 1_800_000_000;

fn engine() -> PolicyEngine {
    PolicyEngine::dangerous_from_unverified(&BundleContent::builtin_default()).unwrap()
}

fn world() -> Facts {
    let mut facts = Facts::default();
    for tenant in ["acme", "globex"] {
        facts.tenants.insert(
            tenant.into(),
            TenantFacts {
                support_mode: SupportMode::OnRequest,
            },
        );
        facts.cases.insert(
            format!("c-{tenant}"),
            CaseFacts {
                tenant: tenant.into(),
                assigned: BTreeSet::from(["bob".to_owned()]),
            },
        );
    }
    for (name, function) in [
        ("sa-ingest", "ingest"),
        ("sa-scan", "scan"),
        ("sa-triage", "triage"),
        ("sa-revoke", "revocation"),
    ] {
        facts.service_accounts.insert(
            name.into(),
            ServiceAccountFacts {
                function: function.into(),
                tenants: BTreeSet::from(["acme".to_owned()]),
            },
        );
    }
    facts.grants.insert(
        "g-acme".into(),
        GrantFacts {
            agent: "bob".into(),
            case: "c-acme".into(),
            tenant: "acme".into(),
            expires_at: NOW + 3600,
            actions: BTreeSet::from([
                Action::ArtifactView,
                Action::ArtifactExport,
                Action::CaseRead,
            ]),
        },
    );
    facts
}

fn request(principal: PrincipalRef, action: Action, resource: ResourceRef) -> Request {
    let class = principal.class;
    Request {
        principal,
        action,
        resource,
        context: Context {
            now: NOW,
            session_class: Some(class),
            device_bound: true,
            ..Context::default()
        },
    }
}

fn admin_view() -> Request {
    request(
        PrincipalRef::customer_admin("alice", "acme"),
        Action::ArtifactView,
        ResourceRef::Artifact {
            id: "a1".into(),
            case: "c-acme".into(),
            tenant: "acme".into(),
        },
    )
}

fn denied_with_error(decision: &Decision, fragment: &str) {
    assert!(!decision.is_allowed(), "{decision:?}");
    assert!(
        decision
            .diagnostics()
            .errors()
            .iter()
            .any(|error| error.contains(fragment)),
        "expected an error containing {fragment:?}: {decision:?}"
    );
}

#[test]
fn the_baseline_request_is_allowed() {
    assert!(engine().authorize(&admin_view(), &world()).is_allowed());
}

#[test]
fn missing_facts_deny() {
    let engine = engine();
    let mut facts = world();
    facts.tenants.remove("acme");
    denied_with_error(
        &engine.authorize(&admin_view(), &facts),
        "missing facts for a tenant",
    );
    let mut facts = world();
    facts.cases.remove("c-acme");
    denied_with_error(
        &engine.authorize(&admin_view(), &facts),
        "missing facts for a case",
    );
    let mut grant = request(
        PrincipalRef::support_agent("bob"),
        Action::ArtifactView,
        ResourceRef::Artifact {
            id: "a1".into(),
            case: "c-acme".into(),
            tenant: "acme".into(),
        },
    );
    grant.context.grant = Some("g-unknown".into());
    denied_with_error(
        &engine.authorize(&grant, &world()),
        "missing facts for a grant",
    );
    let service = request(
        PrincipalRef::service_account("sa-unknown"),
        Action::ArtifactUpload,
        ResourceRef::Case {
            id: "c-acme".into(),
        },
    );
    denied_with_error(
        &engine.authorize(&service, &world()),
        "missing facts for a service account",
    );
}

#[test]
fn inconsistent_or_malformed_requests_deny() {
    let engine = engine();
    // The artifact claims tenant acme but its case belongs to globex.
    let mut lying = admin_view();
    lying.resource = ResourceRef::Artifact {
        id: "a1".into(),
        case: "c-globex".into(),
        tenant: "acme".into(),
    };
    denied_with_error(&engine.authorize(&lying, &world()), "not its case's tenant");
    let mut no_class = admin_view();
    no_class.context.session_class = None;
    denied_with_error(&engine.authorize(&no_class, &world()), "no session class");
    let mut admin_without_tenant = admin_view();
    admin_without_tenant.principal.tenant = None;
    denied_with_error(
        &engine.authorize(&admin_without_tenant, &world()),
        "without a tenant",
    );
    let mut bad_id = admin_view();
    bad_id.principal.id = "ali\u{0}ce".into();
    denied_with_error(&engine.authorize(&bad_id, &world()), "principal id");
    let mut empty_id = admin_view();
    empty_id.resource = ResourceRef::Artifact {
        id: String::new(),
        case: "c-acme".into(),
        tenant: "acme".into(),
    };
    denied_with_error(
        &engine.authorize(&empty_id, &world()),
        "artifact id is empty",
    );
    let mut huge_time = admin_view();
    huge_time.context.now = u64::MAX - 1;
    assert!(!engine.authorize(&huge_time, &world()).is_allowed());
}

#[test]
fn a_forbid_that_errors_at_evaluation_still_denies() {
    // Cedar skips a policy whose evaluation errors; a skipped forbid must not turn
    // into an allow. This forbid overflows for any risk score above 0.
    let mut content = BundleContent::builtin_default();
    content.policies.insert(
        "overflow.cedar".into(),
        "@id(\"forbid.overflowing\") forbid (principal, action, resource) when { context.risk_score * 9223372036854775807 > 0 };".into(),
    );
    let engine = PolicyEngine::dangerous_from_unverified(&content).unwrap();
    let mut risky = admin_view();
    assert!(
        engine.authorize(&risky, &world()).is_allowed(),
        "risk 0: no overflow, allowed"
    );
    risky.context.risk_score = 2;
    let decision = engine.authorize(&risky, &world());
    assert!(!decision.is_allowed(), "{decision:?}");
    assert!(
        decision
            .diagnostics()
            .errors()
            .iter()
            .any(|error| error.contains("forbid.overflowing")),
        "{decision:?}"
    );
}

#[test]
fn diagnostics_name_the_determining_policies_and_the_bundle() {
    let engine = engine();
    let mut cross = admin_view();
    cross.resource = ResourceRef::Artifact {
        id: "a2".into(),
        case: "c-globex".into(),
        tenant: "globex".into(),
    };
    let decision = engine.authorize(&cross, &world());
    assert!(!decision.is_allowed());
    assert_eq!(
        decision.diagnostics().policies(),
        ["forbid.customer-admin.cross-tenant.artifact"]
    );
    assert_eq!(
        decision.diagnostics().bundle_id(),
        engine.bundle_id().as_deref()
    );
    // A default deny names no policy and no error.
    let default = request(
        PrincipalRef::support_agent("bob"),
        Action::TenantSetSupportMode,
        ResourceRef::Tenant { id: "acme".into() },
    );
    let decision = engine.authorize(&default, &world());
    assert!(!decision.is_allowed());
    assert!(
        decision.diagnostics().policies().is_empty() && decision.diagnostics().errors().is_empty()
    );
}

/// Principals whose home is tenant acme, at their most privileged: device bound,
/// the agent holding an active grant on acme's case.
fn home_principals() -> Vec<(PrincipalRef, Option<&'static str>)> {
    vec![
        (PrincipalRef::customer_admin("alice", "acme"), None),
        (PrincipalRef::support_agent("bob"), Some("g-acme")),
        (PrincipalRef::support_agent("bob"), None),
        (PrincipalRef::service_account("sa-ingest"), None),
        (PrincipalRef::service_account("sa-scan"), None),
        (PrincipalRef::service_account("sa-triage"), None),
        (PrincipalRef::service_account("sa-revoke"), None),
    ]
}

/// Every resource of tenant globex that an action applies to.
fn foreign_resource(action: Action) -> Option<ResourceRef> {
    let artifact = ResourceRef::Artifact {
        id: "a2".into(),
        case: "c-globex".into(),
        tenant: "globex".into(),
    };
    match action {
        Action::ArtifactView | Action::ArtifactDownload | Action::ArtifactExport => Some(artifact),
        Action::ArtifactUpload | Action::CaseAssign | Action::CaseRead | Action::GrantRequest => {
            Some(ResourceRef::Case {
                id: "c-globex".into(),
            })
        }
        Action::CaseOpen
        | Action::TokenRevoke
        | Action::TenantRevokeAll
        | Action::TenantSetSupportMode => Some(ResourceRef::Tenant {
            id: "globex".into(),
        }),
        _ => None,
    }
}

#[test]
fn cross_tenant_access_is_denied_in_every_cell() {
    let engine = engine();
    let facts = world();
    let mut cells = 0;
    for (principal, grant) in home_principals() {
        for action in Action::ALL {
            let Some(resource) = foreign_resource(*action) else {
                continue;
            };
            for risk in [0, 50] {
                let mut cross = request(principal.clone(), *action, resource.clone());
                cross.context.grant = grant.map(str::to_owned);
                cross.context.risk_score = risk;
                let decision = engine.authorize(&cross, &facts);
                if *action == Action::GrantRequest
                    && principal.class == PrincipalClass::SupportAgent
                {
                    // Requesting a grant on a case assigned to the agent is how access
                    // starts; it grants nothing by itself.
                    assert!(decision.is_allowed(), "{principal:?} {action}");
                } else {
                    assert!(
                        !decision.is_allowed(),
                        "{principal:?} {action} {resource:?}: {decision:?}"
                    );
                }
                cells += 1;
            }
        }
    }
    assert!(cells > 100, "{cells}");
}

#[test]
fn the_same_principals_act_at_home() {
    let engine = engine();
    let facts = world();
    let home_artifact = ResourceRef::Artifact {
        id: "a1".into(),
        case: "c-acme".into(),
        tenant: "acme".into(),
    };
    let cases = [
        (
            PrincipalRef::customer_admin("alice", "acme"),
            Action::ArtifactDownload,
            home_artifact.clone(),
            None,
        ),
        (
            PrincipalRef::support_agent("bob"),
            Action::ArtifactView,
            home_artifact.clone(),
            Some("g-acme"),
        ),
        (
            PrincipalRef::service_account("sa-ingest"),
            Action::ArtifactUpload,
            ResourceRef::Case {
                id: "c-acme".into(),
            },
            None,
        ),
        (
            PrincipalRef::service_account("sa-scan"),
            Action::ArtifactView,
            home_artifact,
            None,
        ),
        (
            PrincipalRef::service_account("sa-triage"),
            Action::CaseRead,
            ResourceRef::Case {
                id: "c-acme".into(),
            },
            None,
        ),
        (
            PrincipalRef::service_account("sa-revoke"),
            Action::TokenRevoke,
            ResourceRef::Tenant { id: "acme".into() },
            None,
        ),
    ];
    for (principal, action, resource, grant) in cases {
        let mut home = request(principal.clone(), action, resource);
        home.context.grant = grant.map(str::to_owned);
        assert!(
            engine.authorize(&home, &facts).is_allowed(),
            "{principal:?} {action}"
        );
    }
}

#[test]
fn token_classes_are_disjoint() {
    let engine = engine();
    for class in PrincipalClass::ALL {
        let mut request = admin_view();
        request.context.session_class = Some(class);
        assert_eq!(
            engine.authorize(&request, &world()).is_allowed(),
            class == PrincipalClass::CustomerAdmin,
            "{class}"
        );
    }
}
