//! Service accounts only through a quorum (issue 5 item 3, DESIGN §7), through the
//! HTTP API: no direct creation; an operator's request needs one support lead AND one
//! security reviewer, never the requester; an approval over another request does not
//! count; the account acts only within its function and tenants and never exports;
//! widening its tenant list is the same quorum flow.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::*;
use custody_client::Body;
use serde_json::{Value, json};

fn person(w: &World, name: &str, class: &str, groups: &[&str]) -> Person {
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": class, "display_name": name, "groups": groups}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), name, &code)
}

fn approve(person: &Person, approval_id: &str) -> custody_client::Reply {
    person
        .client
        .approve(approval_id, &person.id, &pop_secret(&person.device_dir))
        .unwrap()
}

fn complete(person: &Person, approval_id: &str) -> custody_client::Reply {
    json_call(
        person,
        "POST",
        "/v1/service-accounts/completions",
        json!({"approval_request_id": approval_id}),
    )
}

/// Signs `request` as `person` and posts the signature to `approval_id`.
fn approve_other_request(person: &Person, approval_id: &str, request: &Value) -> u16 {
    let request: custody_policy::ApprovalRequest = serde_json::from_value(request.clone()).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = custody_policy::SigningKey::from_secret_bytes(&pop_secret(&person.device_dir));
    let approval = custody_policy::Approval::sign(&key, &person.id, &request, now);
    let signature: String = approval
        .signature
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json_call(
        person,
        "POST",
        &format!("/v1/approvals/{approval_id}/approvals"),
        json!({"signature": signature, "signed_at": now}),
    )
    .status
}

fn artifact_in(admin: &Person, tenant: &str) -> String {
    let case = create(
        admin,
        &format!("/v1/tenants/{tenant}/cases"),
        json!({"title": "sa"}),
    );
    upload(admin, case["id"].as_str().unwrap())["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn status(person: &Person, method: &str, path: &str) -> u16 {
    person
        .client
        .call(method, path, &Body::Empty)
        .unwrap()
        .status
}

struct Setup {
    w: World,
    requester: Person,
    lead: Person,
    reviewer: Person,
}

fn setup() -> Setup {
    let w = world();
    // A requester who is also a support lead: its own approval still never counts.
    let requester = person(&w, "Olga Ops", "operator", &["support_lead"]);
    let lead = support_lead(&w);
    let reviewer = person(&w, "Rita Review", "support_agent", &["security_reviewer"]);
    Setup {
        w,
        requester,
        lead,
        reviewer,
    }
}

fn ask(s: &Setup, tenants: Value) -> (Value, String) {
    let request = create(
        &s.requester,
        "/v1/service-accounts",
        json!({"display_name": "Scanner", "function": "scan", "tenants": tenants}),
    );
    assert_eq!(request["request"]["action"], "serviceaccount.create");
    let id = request["approval_request_id"].as_str().unwrap().to_owned();
    (request, id)
}

#[test]
fn the_requester_never_approves_its_own_request() {
    let s = setup();
    let (_, approval_id) = ask(&s, json!([s.w.tenant]));
    // Refused even though the requester is a support lead...
    let own = approve(&s.requester, &approval_id);
    assert_eq!(own.status, 403, "{:?}", own.json());
    // ...so with a security reviewer the quorum still lacks its support lead.
    assert_eq!(approve(&s.reviewer, &approval_id).status, 200);
    let early = complete(&s.requester, &approval_id);
    assert_eq!(early.status, 403, "{:?}", early.json());
}

#[test]
fn an_approval_over_a_modified_request_does_not_count() {
    let s = setup();
    let (request, approval_id) = ask(&s, json!([s.w.tenant]));
    let mut widened = request["request"].clone();
    widened["parameters"]["tenants"] = json!(format!("{},{}", s.w.tenant, s.w.other_tenant));
    assert_eq!(approve_other_request(&s.lead, &approval_id, &widened), 400);
    assert_eq!(approve(&s.reviewer, &approval_id).status, 200);
    let early = complete(&s.requester, &approval_id);
    assert_eq!(early.status, 403, "{:?}", early.json());
    // The approval over the exact request counts.
    assert_eq!(approve(&s.lead, &approval_id).status, 200);
    assert_eq!(complete(&s.requester, &approval_id).status, 201);
}

#[test]
fn service_accounts_exist_only_through_a_quorum_and_stay_in_scope() {
    let s = setup();
    let w = &s.w;
    let (requester, lead, reviewer) = (&s.requester, &s.lead, &s.reviewer);
    let other_admin_code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": w.other_tenant, "display_name": "Bo"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_admin = enrol_and_login(&w.server, w.root.path(), "bo", &other_admin_code);
    let in_scope = artifact_in(&w.admin, &w.tenant);
    let out_of_scope = artifact_in(&other_admin, &w.other_tenant);

    // No direct creation.
    let direct = json_call(
        &w.operator,
        "POST",
        "/v1/principals",
        json!({"class": "service_account", "display_name": "Direct"}),
    );
    assert_eq!(direct.status, 400, "{:?}", direct.json());

    // Agents cannot even ask.
    let asked = json_call(
        lead,
        "POST",
        "/v1/service-accounts",
        json!({"display_name": "Scanner", "function": "scan", "tenants": [w.tenant]}),
    );
    assert_eq!(asked.status, 403, "{:?}", asked.json());

    let (request, approval_id) = ask(&s, json!([w.tenant]));
    assert_eq!(request["request"]["parameters"]["tenants"], w.tenant);

    // Without a quorum the request cannot be redeemed; one group is not a quorum.
    assert_eq!(complete(requester, &approval_id).status, 403);
    let half = approve(reviewer, &approval_id);
    assert_eq!(half.status, 200, "{:?}", half.json());
    assert_eq!(half.json()["approvals"], 1);
    assert_eq!(complete(requester, &approval_id).status, 403);
    // A support lead AND a security reviewer: met. Only the requester redeems it.
    assert_eq!(approve(lead, &approval_id).status, 200);
    assert_eq!(complete(lead, &approval_id).status, 403);
    let created = complete(requester, &approval_id);
    assert_eq!(created.status, 201, "{:?}", created.json());
    let created = created.json();
    assert_eq!(created["principal"]["class"], "service_account");
    assert_eq!(created["principal"]["service"]["function"], "scan");
    assert_eq!(
        created["principal"]["service"]["tenants"],
        json!([w.tenant])
    );
    // Used once.
    assert_eq!(complete(requester, &approval_id).status, 409);

    // The account signs in with the service_account class (5 minutes).
    let code = created["enrolment_code"].as_str().unwrap();
    let (dir, public) = device(w.root.path(), "sa");
    let mut sa = custody_client::Client::for_device(&w.server.base, &dir).unwrap();
    assert_eq!(sa.enrol(code, &public).unwrap().status, 201);
    let token = sa.login().unwrap();
    assert_eq!(token["class"], "service_account");
    assert_eq!(token["expires_in"], 300);
    let sa = Person {
        client: sa,
        device_dir: dir,
        id: created["principal"]["id"].as_str().unwrap().to_owned(),
    };

    // Its function (scan: view) in its tenant only; no download, no export.
    assert_eq!(
        status(&sa, "GET", &format!("/v1/artifacts/{in_scope}/view")),
        200
    );
    assert_eq!(
        status(&sa, "GET", &format!("/v1/artifacts/{out_of_scope}/view")),
        403
    );
    assert_eq!(
        status(&sa, "GET", &format!("/v1/artifacts/{in_scope}/download")),
        403
    );
    assert_eq!(
        status(
            &sa,
            "POST",
            &format!("/v1/artifacts/{in_scope}/export-requests")
        ),
        403
    );

    // Widening the tenant list is the same quorum flow.
    let widen = create(
        requester,
        &format!("/v1/service-accounts/{}/scope", sa.id),
        json!({"function": "scan", "tenants": [w.tenant, w.other_tenant]}),
    );
    let widen_id = widen["approval_request_id"].as_str().unwrap().to_owned();
    assert_eq!(complete(requester, &widen_id).status, 403);
    assert_eq!(
        status(&sa, "GET", &format!("/v1/artifacts/{out_of_scope}/view")),
        403
    );
    assert_eq!(approve(reviewer, &widen_id).status, 200);
    assert_eq!(approve(lead, &widen_id).status, 200);
    let widened = complete(requester, &widen_id);
    assert_eq!(widened.status, 201, "{:?}", widened.json());
    assert!(widened.json()["enrolment_code"].is_null());
    assert_eq!(
        status(&sa, "GET", &format!("/v1/artifacts/{out_of_scope}/view")),
        200
    );
}
