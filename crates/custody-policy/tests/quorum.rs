//! Quorum approvals through the public API, including the anchor defects (OR-combined
//! thresholds, self-approval) and the evidence's binding to the authorized request.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

use std::collections::{BTreeMap, BTreeSet};

use custody_policy::quorum::{ApproverKeys, Ignored, QuorumCheck, QuorumError, TENANT_ADMIN_GROUP};
use custody_policy::{
    Action, Approval, ApprovalRequest, ApproverGroup, BundleContent, CaseFacts, Context, Facts,
    GrantFacts, PolicyEngine, PrincipalClass, PrincipalRef, QuorumConfig, QuorumRule, Request,
    ResourceRef, SigningKey, SupportMode, TenantFacts,
};

const NOW: u64 = 1_800_000_000;
const PEOPLE: [&str; 7] = ["bob", "lead1", "lead2", "sec1", "sec2", "both", "alice"];

fn key(name: &str) -> SigningKey {
    let index = PEOPLE.iter().position(|person| *person == name).unwrap();
    SigningKey::from_secret_bytes(&[u8::try_from(index).unwrap() + 1; 32])
}

fn keys() -> ApproverKeys {
    let mut keys = ApproverKeys::new();
    for person in PEOPLE {
        keys.insert(person, key(person).public_key());
    }
    keys
}

fn group(name: &str, required: u32, members: &[&str]) -> ApproverGroup {
    ApproverGroup {
        name: name.into(),
        required,
        members: members.iter().map(|m| (*m).to_owned()).collect(),
    }
}

/// One support lead AND one security reviewer. "bob" (the requester) is a lead too.
fn rule() -> QuorumRule {
    QuorumRule {
        groups: vec![
            group("leads", 1, &["lead1", "lead2", "bob", "both"]),
            group("security", 1, &["sec1", "sec2", "both"]),
        ],
    }
}

fn export_request() -> ApprovalRequest {
    ApprovalRequest {
        action: Action::ArtifactExport,
        tenant: "acme".into(),
        artifact_ids: BTreeSet::from(["a1".to_owned()]),
        parameters: BTreeMap::from([
            ("device".to_owned(), "d-bob".to_owned()),
            ("network_hash".to_owned(), "net-1".to_owned()),
        ]),
        requester: "bob".into(),
        expires_at: NOW + 600,
    }
}

fn approve(names: &[&str], request: &ApprovalRequest, at: u64) -> Vec<Approval> {
    names
        .iter()
        .map(|name| Approval::sign(&key(name), name, request, at))
        .collect()
}

fn evaluate(
    rule: &QuorumRule,
    request: &ApprovalRequest,
    approvals: &[Approval],
    mode: SupportMode,
    risk: u32,
) -> Result<custody_policy::QuorumEvidence, QuorumError> {
    let keys = keys();
    let admins = BTreeSet::from(["alice".to_owned()]);
    let check = QuorumCheck {
        request,
        approvals,
        keys: &keys,
        support_mode: mode,
        tenant_admins: &admins,
        risk_score: risk,
        now: NOW + 10,
    };
    rule.evaluate(&QuorumConfig::default(), &check)
}

fn delegated(names: &[&str]) -> Result<custody_policy::QuorumEvidence, QuorumError> {
    let request = export_request();
    evaluate(
        &rule(),
        &request,
        &approve(names, &request, NOW),
        SupportMode::Delegated,
        0,
    )
}

fn unmet(result: Result<custody_policy::QuorumEvidence, QuorumError>) -> Vec<String> {
    match result {
        Err(QuorumError::NotMet { unmet, .. }) => unmet,
        other => panic!("expected NotMet, got {other:?}"),
    }
}

#[test]
fn one_from_each_group_meets_the_rule() {
    let evidence = delegated(&["lead1", "sec2"]).unwrap();
    assert_eq!(
        evidence.approvers().get("lead1").map(String::as_str),
        Some("leads")
    );
    assert_eq!(
        evidence.approvers().get("sec2").map(String::as_str),
        Some("security")
    );
}

#[test]
fn groups_combine_with_and_not_or() {
    // Two approvals, both leads: enough for "2 approvals" or "leads OR security".
    assert_eq!(unmet(delegated(&["lead1", "lead2"])), ["security"]);
    assert_eq!(unmet(delegated(&["sec1", "sec2"])), ["leads"]);
}

#[test]
fn the_requester_never_counts_even_in_a_group() {
    let request = export_request();
    let result = evaluate(
        &rule(),
        &request,
        &approve(&["bob", "sec1"], &request, NOW),
        SupportMode::Delegated,
        0,
    );
    match result {
        Err(QuorumError::NotMet { unmet, ignored, .. }) => {
            assert_eq!(unmet, ["leads"]);
            assert_eq!(ignored, [("bob".to_owned(), Ignored::SelfApproval)]);
        }
        other => panic!("self-approval counted: {other:?}"),
    }
}

#[test]
fn one_principal_in_two_groups_counts_once() {
    assert_eq!(unmet(delegated(&["both"])).len(), 1);
    // Matching, not greedy: "both" must take security so lead1 can fill leads,
    // whatever order the approvals come in.
    assert!(delegated(&["both", "lead1"]).is_ok());
    assert!(delegated(&["lead1", "both"]).is_ok());
    // Two slots in one group cannot be filled by one person approving twice.
    let request = export_request();
    let twice = QuorumRule {
        groups: vec![group("leads", 2, &["lead1", "lead2"])],
    };
    let approvals = approve(&["lead1", "lead1"], &request, NOW);
    assert!(evaluate(&twice, &request, &approvals, SupportMode::Delegated, 0).is_err());
    let approvals = approve(&["lead1", "lead2"], &request, NOW);
    assert!(evaluate(&twice, &request, &approvals, SupportMode::Delegated, 0).is_ok());
}

#[test]
fn any_change_to_the_request_voids_the_approvals() {
    let original = export_request();
    let approvals = approve(&["lead1", "sec1"], &original, NOW);
    let mut changes: Vec<ApprovalRequest> = Vec::new();
    let mut changed = original.clone();
    changed.artifact_ids.insert("a2".into());
    changes.push(changed);
    let mut changed = original.clone();
    changed.tenant = "globex".into();
    changes.push(changed);
    let mut changed = original.clone();
    changed.parameters.insert("device".into(), "d-thief".into());
    changes.push(changed);
    let mut changed = original.clone();
    changed.expires_at += 1;
    changes.push(changed);
    let mut changed = original.clone();
    changed.action = Action::ArtifactView;
    changes.push(changed);
    let mut changed = original.clone();
    changed.requester = "mallory".into();
    changes.push(changed);
    for request in changes {
        let result = evaluate(&rule(), &request, &approvals, SupportMode::Delegated, 0);
        assert!(
            matches!(result, Err(QuorumError::NotMet { valid: 0, .. })),
            "{request:?}"
        );
    }
    assert!(evaluate(&rule(), &original, &approvals, SupportMode::Delegated, 0).is_ok());
}

#[test]
fn expired_future_forged_and_unknown_approvals_do_not_count() {
    let request = export_request();
    let stale = approve(&["lead1", "sec1"], &request, NOW + 10 - 900);
    assert!(matches!(
        evaluate(&rule(), &request, &stale, SupportMode::Delegated, 0),
        Err(QuorumError::NotMet { .. })
    ));
    let fresh = approve(&["lead1", "sec1"], &request, NOW + 10 - 899);
    assert!(evaluate(&rule(), &request, &fresh, SupportMode::Delegated, 0).is_ok());
    let future = approve(&["lead1", "sec1"], &request, NOW + 10 + 61);
    assert!(evaluate(&rule(), &request, &future, SupportMode::Delegated, 0).is_err());
    // sec1's name on lead2's signature.
    let mut forged = approve(&["lead1"], &request, NOW);
    let mut stolen = Approval::sign(&key("lead2"), "sec1", &request, NOW);
    stolen.approver = "sec1".into();
    forged.push(stolen);
    assert!(evaluate(&rule(), &request, &forged, SupportMode::Delegated, 0).is_err());
    let mut unknown = approve(&["lead1"], &request, NOW);
    unknown.push(Approval::sign(&key("sec1"), "sec9", &request, NOW));
    let rule = QuorumRule {
        groups: vec![
            group("leads", 1, &["lead1"]),
            group("security", 1, &["sec9"]),
        ],
    };
    match evaluate(&rule, &request, &unknown, SupportMode::Delegated, 0) {
        Err(QuorumError::NotMet { ignored, .. }) => {
            assert_eq!(ignored, [("sec9".to_owned(), Ignored::UnknownApprover)])
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_expired_request_cannot_be_approved() {
    let mut request = export_request();
    request.expires_at = NOW + 10;
    let approvals = approve(&["lead1", "sec1"], &request, NOW);
    assert_eq!(
        evaluate(&rule(), &request, &approvals, SupportMode::Delegated, 0),
        Err(QuorumError::RequestExpired)
    );
}

#[test]
fn support_mode_governs_the_groups() {
    let request = export_request();
    let vendor_only = approve(&["lead1", "sec1"], &request, NOW);
    assert_eq!(
        evaluate(&rule(), &request, &vendor_only, SupportMode::Off, 0),
        Err(QuorumError::SupportModeOff)
    );
    assert_eq!(
        unmet(evaluate(
            &rule(),
            &request,
            &vendor_only,
            SupportMode::OnRequest,
            0
        )),
        [TENANT_ADMIN_GROUP]
    );
    let with_admin = approve(&["lead1", "sec1", "alice"], &request, NOW);
    assert!(evaluate(&rule(), &request, &with_admin, SupportMode::OnRequest, 0).is_ok());
    assert!(evaluate(&rule(), &request, &vendor_only, SupportMode::Delegated, 0).is_ok());
}

#[test]
fn risk_raises_the_quorum_then_denies() {
    let request = export_request();
    let two = approve(&["lead1", "sec1"], &request, NOW);
    assert!(evaluate(&rule(), &request, &two, SupportMode::Delegated, 39).is_ok());
    assert_eq!(
        unmet(evaluate(
            &rule(),
            &request,
            &two,
            SupportMode::Delegated,
            40
        )),
        ["leads", "security"]
    );
    let four = approve(&["lead1", "lead2", "sec1", "sec2"], &request, NOW);
    assert!(evaluate(&rule(), &request, &four, SupportMode::Delegated, 40).is_ok());
    assert_eq!(
        evaluate(&rule(), &request, &four, SupportMode::Delegated, 70),
        Err(QuorumError::RiskDenied {
            score: 70,
            threshold: 70
        })
    );
}

#[test]
fn degenerate_rules_are_refused() {
    let request = export_request();
    let approvals = approve(&["lead1"], &request, NOW);
    let empty = QuorumRule { groups: vec![] };
    assert!(matches!(
        evaluate(&empty, &request, &approvals, SupportMode::Delegated, 0),
        Err(QuorumError::BadRule { .. })
    ));
    let zero = QuorumRule {
        groups: vec![group("leads", 0, &["lead1"])],
    };
    assert!(matches!(
        evaluate(&zero, &request, &approvals, SupportMode::Delegated, 0),
        Err(QuorumError::BadRule { .. })
    ));
}

/// The engine trusts quorum evidence only for the request it approved.
fn export_world() -> (PolicyEngine, Facts, Request) {
    let engine =
        PolicyEngine::dangerous_from_unverified(&BundleContent::builtin_default()).unwrap();
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
            assigned: BTreeSet::from(["bob".to_owned()]),
        },
    );
    facts.grants.insert(
        "g1".into(),
        GrantFacts {
            agent: "bob".into(),
            case: "c1".into(),
            tenant: "acme".into(),
            expires_at: NOW + 3600,
            actions: BTreeSet::from([Action::ArtifactExport]),
        },
    );
    let request = Request {
        principal: PrincipalRef::support_agent("bob"),
        action: Action::ArtifactExport,
        resource: ResourceRef::Artifact {
            id: "a1".into(),
            case: "c1".into(),
            tenant: "acme".into(),
        },
        context: Context {
            device_bound: true,
            network_hash: "net-1".into(),
            now: NOW + 20,
            session_class: Some(PrincipalClass::SupportAgent),
            grant: Some("g1".into()),
            ..Context::default()
        },
    };
    (engine, facts, request)
}

#[test]
fn evidence_allows_exactly_the_approved_export() {
    let (engine, facts, mut request) = export_world();
    let approval_request = export_request();
    let approvals = approve(&["lead1", "sec1", "alice"], &approval_request, NOW);
    let evidence = evaluate(
        &rule(),
        &approval_request,
        &approvals,
        SupportMode::OnRequest,
        0,
    )
    .unwrap();
    assert!(
        !engine.authorize(&request, &facts).is_allowed(),
        "export without evidence"
    );
    request.context.quorum = Some(evidence);
    assert!(engine.authorize(&request, &facts).is_allowed());

    let mut other_artifact = request.clone();
    other_artifact.resource = ResourceRef::Artifact {
        id: "a2".into(),
        case: "c1".into(),
        tenant: "acme".into(),
    };
    let mut other_network = request.clone();
    other_network.context.network_hash = "net-2".into();
    let mut too_late = request.clone();
    too_late.context.now = NOW + 600;
    let mut other_agent = request.clone();
    other_agent.principal = PrincipalRef::support_agent("carol");
    let mut other_action = request.clone();
    other_action.action = Action::ArtifactView;
    for (what, denied) in [
        ("artifact", other_artifact),
        ("network", other_network),
        ("expiry", too_late),
        ("requester", other_agent),
        ("action", other_action),
    ] {
        let decision = engine.authorize(&denied, &facts);
        assert!(!decision.is_allowed(), "{what}");
        assert!(
            decision
                .diagnostics()
                .errors()
                .iter()
                .any(|e| e.contains("quorum evidence")),
            "{what}: {decision:?}"
        );
    }
}
