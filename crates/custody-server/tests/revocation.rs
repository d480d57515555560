//! Revocation through the HTTP API (issue 5 item 3, DESIGN §6, §10) and containment
//! through the broker's library API: a revoked token is refused on the next request,
//! only the policy's revokers revoke others, a tenant-wide revocation needs a quorum
//! and then kills the tenant's admin sessions and the agents' grants on the tenant,
//! and every receipt verifies against the published JWKS.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::*;
use custody_broker::containment::Containment;
use custody_client::Body;
use custody_token::{KeySet, RevocationReceipt, SubjectKind};
use serde_json::{Value, json};

fn me(person: &Person) -> u16 {
    person
        .client
        .call("GET", "/v1/me", &Body::Empty)
        .unwrap()
        .status
}

fn jwks(w: &World) -> KeySet {
    let text = reqwest::blocking::get(format!("{}/.well-known/jwks.json", w.server.base))
        .unwrap()
        .text()
        .unwrap();
    KeySet::from_jwks_json(&text).unwrap()
}

/// Every receipt verifies with the published keys and names the revoked entries.
fn check_receipts(w: &World, answer: &Value) -> Vec<custody_token::RevocationEntry> {
    let keys = jwks(w);
    let receipts = answer["receipts"].as_array().unwrap();
    assert!(!receipts.is_empty());
    assert_eq!(receipts.len(), answer["revoked"].as_array().unwrap().len());
    receipts
        .iter()
        .map(|r| {
            RevocationReceipt::from_compact(r.as_str().unwrap())
                .verify(&keys)
                .unwrap()
        })
        .collect()
}

fn reviewer(w: &World) -> Person {
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Rita Review", "groups": ["security_reviewer"]}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), "reviewer", &code)
}

fn revoke(person: &Person, body: Value) -> custody_client::Reply {
    json_call(person, "POST", "/v1/revocations", body)
}

/// The next whole second: a principal epoch revokes tokens issued in its own second.
fn next_second() {
    std::thread::sleep(std::time::Duration::from_millis(1100));
}

#[test]
fn a_revoked_token_is_refused_on_the_next_request_with_a_signed_receipt() {
    let mut w = world();
    assert_eq!(me(&w.admin), 200);
    let answer = revoke(&w.admin, json!({"subject": "token"}));
    assert_eq!(answer.status, 200, "{:?}", answer.json());
    let answer = answer.json();
    let entries = check_receipts(&w, &answer);
    assert_eq!(entries[0].kind, SubjectKind::TokenId);
    assert_eq!(answer["state_version"], entries[0].version);
    assert_eq!(me(&w.admin), 401);

    // A receipt with a changed byte does not verify.
    let receipt = answer["receipts"][0].as_str().unwrap();
    let mut tampered = receipt.as_bytes().to_vec();
    let at = receipt.find('.').unwrap() + 5;
    tampered[at] = if tampered[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(
        RevocationReceipt::from_compact(&tampered)
            .verify(&jwks(&w))
            .is_err()
    );

    // A new sign-in is a new token; its own session can be revoked too.
    w.admin.client.login().unwrap();
    assert_eq!(me(&w.admin), 200);
    let session = revoke(&w.admin, json!({"subject": "session"}));
    assert_eq!(session.status, 200, "{:?}", session.json());
    assert_eq!(
        check_receipts(&w, &session.json())[0].kind,
        SubjectKind::Session
    );
    assert_eq!(me(&w.admin), 401);
}

#[test]
fn only_the_policys_revokers_revoke_others() {
    let mut w = world();
    let reviewer = reviewer(&w);
    // A support lead without the reviewer group, and a customer admin, may not.
    let denied = revoke(&w.agent, json!({"subject": "principal", "id": w.admin.id}));
    assert_eq!(denied.status, 403, "{:?}", denied.json());
    let denied = revoke(&w.admin, json!({"subject": "principal", "id": w.agent.id}));
    assert_eq!(denied.status, 403, "{:?}", denied.json());
    assert_eq!(me(&w.admin), 200);
    assert_eq!(me(&w.agent), 200);

    // A security reviewer revokes a principal's tokens: refused on the next request.
    let done = revoke(&reviewer, json!({"subject": "principal", "id": w.admin.id}));
    assert_eq!(done.status, 200, "{:?}", done.json());
    assert_eq!(
        check_receipts(&w, &done.json())[0].kind,
        SubjectKind::Principal
    );
    assert_eq!(me(&w.admin), 401);
    // The principal is not suspended: a later sign-in works.
    next_second();
    w.admin.client.login().unwrap();
    assert_eq!(me(&w.admin), 200);

    // An operator revokes the agent's device: its tokens die and it signs in no more.
    let device_id = w
        .agent
        .client
        .call("GET", "/v1/me", &Body::Empty)
        .unwrap()
        .json()["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = revoke(&w.operator, json!({"subject": "device", "id": device_id}));
    assert_eq!(done.status, 200, "{:?}", done.json());
    assert_eq!(done.json()["devices_revoked"], 1);
    assert_eq!(me(&w.agent), 401);
    next_second();
    assert!(w.agent.client.login().is_err());
}

#[test]
fn tenant_revocation_needs_a_quorum_and_kills_admin_sessions_and_grants() {
    let w = world();
    let lead = support_lead(&w);
    let reviewer = reviewer(&w);
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "incident"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let artifact_id = upload(&w.admin, case_id)["id"].as_str().unwrap().to_owned();
    json_call(
        &w.operator,
        "POST",
        &format!("/v1/cases/{case_id}/assignments"),
        json!({"agent_id": w.agent.id}),
    );
    let grant = create(
        &w.agent,
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.view"]}),
    );
    let grant_approval = grant["approval_request_id"].as_str().unwrap();
    for person in [&lead, &w.admin] {
        let reply = person
            .client
            .approve(grant_approval, &person.id, &pop_secret(&person.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    let view = format!("/v1/artifacts/{artifact_id}/view");
    let view_status = || {
        w.agent
            .client
            .call("GET", &view, &Body::Empty)
            .unwrap()
            .status
    };
    assert_eq!(view_status(), 200);

    // Without a quorum: refused, nothing revoked.
    let path = format!("/v1/tenants/{}/revocations", w.tenant);
    let early = json_call(&w.operator, "POST", &path, json!({}));
    assert_eq!(early.status, 403, "{:?}", early.json());
    assert_eq!(me(&w.admin), 200);
    assert_eq!(view_status(), 200);

    let request = create(
        &w.operator,
        &format!("/v1/tenants/{}/revocation-requests", w.tenant),
        json!({}),
    );
    assert_eq!(request["request"]["action"], "tenant.revoke_all");
    let approval_id = request["approval_request_id"].as_str().unwrap().to_owned();
    let body = json!({"approval_request_id": approval_id});
    // One group is not enough.
    let reply = lead
        .client
        .approve(&approval_id, &lead.id, &pop_secret(&lead.device_dir))
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(
        json_call(&w.operator, "POST", &path, body.clone()).status,
        403
    );
    let reply = reviewer
        .client
        .approve(
            &approval_id,
            &reviewer.id,
            &pop_secret(&reviewer.device_dir),
        )
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());

    let done = json_call(&w.operator, "POST", &path, body.clone());
    assert_eq!(done.status, 200, "{:?}", done.json());
    let done = done.json();
    let entries = check_receipts(&w, &done);
    assert!(
        entries
            .iter()
            .any(|e| e.kind == SubjectKind::Tenant && e.subject == w.tenant)
    );
    assert_eq!(done["grants_revoked"], 1);
    assert_eq!(done["devices_revoked"], 1);

    // The tenant's admin session is dead and its device signs in no more; the agent's
    // grant on the tenant is gone, while the agent itself (a vendor principal) is not
    // revoked.
    assert_eq!(me(&w.admin), 401);
    assert_eq!(view_status(), 403);
    assert_eq!(me(&w.agent), 200);
    // The approval is used up.
    assert_eq!(json_call(&w.operator, "POST", &path, body).status, 409);
}

#[test]
fn containment_actions_are_effective_when_they_return() {
    let mut w = world();
    let broker = std::sync::Arc::clone(&w.server.broker);
    let agent = custody_store::PrincipalId::parse(&w.agent.id).unwrap();
    let admin = custody_store::PrincipalId::parse(&w.admin.id).unwrap();
    let tenant = custody_store::TenantId::parse(&w.tenant).unwrap();

    let receipt = w
        .server
        .runtime
        .block_on(broker.contain(&Containment::RevokePrincipalTokens {
            principal: admin.clone(),
            reason: "finding fnd_1".into(),
        }))
        .unwrap();
    assert_eq!(receipt.action, "revoke_principal_tokens");
    assert!(receipt.revoked.is_some());
    assert_eq!(me(&w.admin), 401);
    next_second();
    w.admin.client.login().unwrap();
    assert_eq!(me(&w.admin), 200);

    w.server
        .runtime
        .block_on(broker.contain(&Containment::SuspendPrincipal {
            principal: agent,
            reason: "finding fnd_2".into(),
        }))
        .unwrap();
    assert_eq!(me(&w.agent), 401);
    next_second();
    assert!(w.agent.client.login().is_err());

    let receipt = w
        .server
        .runtime
        .block_on(broker.contain(&Containment::FreezeExports {
            tenant: tenant.clone(),
            reason: "finding fnd_3".into(),
        }))
        .unwrap();
    assert!(receipt.freeze.is_some());
    assert!(
        w.server
            .runtime
            .block_on(broker.export_freeze(&tenant))
            .unwrap()
            .is_some()
    );
    // Customer admins cannot lift it; operators can.
    let path = format!("/v1/tenants/{}/export-freeze", w.tenant);
    assert_eq!(
        w.admin
            .client
            .call("DELETE", &path, &Body::Empty)
            .unwrap()
            .status,
        403
    );
    let lifted = w
        .operator
        .client
        .call("DELETE", &path, &Body::Empty)
        .unwrap();
    assert_eq!(lifted.status, 200, "{:?}", lifted.json());
    assert_eq!(lifted.json()["lifted"], true);
    assert!(
        w.server
            .runtime
            .block_on(broker.export_freeze(&tenant))
            .unwrap()
            .is_none()
    );
}

#[test]
fn a_frozen_tenant_exports_nothing_and_releases_no_key() {
    let w = world();
    let lead = support_lead(&w);
    let approve_by = |people: &[&Person], id: &str| {
        for person in people {
            let reply = person
                .client
                .approve(id, &person.id, &pop_secret(&person.device_dir))
                .unwrap();
            assert_eq!(reply.status, 200, "{:?}", reply.json());
        }
    };
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "freeze"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let artifact_id = upload(&w.admin, case_id)["id"].as_str().unwrap().to_owned();
    json_call(
        &w.operator,
        "POST",
        &format!("/v1/cases/{case_id}/assignments"),
        json!({"agent_id": w.agent.id}),
    );
    let grant = create(
        &w.agent,
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.export"]}),
    );
    approve_by(
        &[&lead, &w.admin],
        grant["approval_request_id"].as_str().unwrap(),
    );
    let requests = format!("/v1/artifacts/{artifact_id}/export-requests");
    let first = create(&w.agent, &requests, json!({}));
    let first_id = first["approval_request_id"].as_str().unwrap().to_owned();
    approve_by(&[&lead, &w.admin], &first_id);
    let second = create(&w.agent, &requests, json!({}));
    let second_id = second["approval_request_id"].as_str().unwrap().to_owned();
    approve_by(&[&lead, &w.admin], &second_id);
    // One export is made before the freeze; its key is not released yet.
    let made = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        json!({"approval_request_id": first_id}),
    );
    assert_eq!(made.status, 201, "{:?}", made.json());

    let tenant = custody_store::TenantId::parse(&w.tenant).unwrap();
    let receipt = w
        .server
        .runtime
        .block_on(w.server.broker.contain(&Containment::FreezeExports {
            tenant,
            reason: "finding fnd_4".into(),
        }))
        .unwrap();
    assert_eq!(receipt.exports_revoked, 1);

    // No new export, and the pending one's key is never released.
    let refused = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        json!({"approval_request_id": second_id}),
    );
    assert_eq!(refused.status, 403, "{:?}", refused.json());
    let opened = w.agent.client.open_export(&made.body, &w.agent.device_dir);
    assert!(
        matches!(
            opened,
            Err(custody_client::ClientError::Release { status: 410, .. })
        ),
        "{opened:?}"
    );
}

/// A principal revoking "its own" session may name only the session it calls from:
/// naming another principal's `sid` beside its own id must not end that session.
#[test]
fn a_principal_cannot_revoke_another_principals_session_under_its_own_name() {
    let w = world();
    let token = w.agent.client.token().expect("agent is signed in");
    let sid = custody_token::inspect(token)
        .expect("token decodes")
        .claims
        .get("sid")
        .and_then(|s| s.as_str())
        .expect("token has a sid")
        .to_owned();
    let answer = revoke(
        &w.admin,
        json!({"subject": "session", "id": sid, "principal": w.admin.id}),
    );
    assert_eq!(answer.status, 400, "{:?}", answer.json());
    assert_eq!(me(&w.agent), 200, "the agent's session must survive");
    assert_eq!(me(&w.admin), 200);
}
