//! Revocation bundles over HTTP (issue 6 item 3, DESIGN §10): a staged, signed and
//! approved bundle revokes in one call the tenant's admin sessions (also one created
//! after staging), device keys, grants and pending exports, and answers with receipts
//! that verify against the published JWKS; a tampered, expired, foreign or
//! unapproved bundle is refused and revokes nothing; several tenants go in one call.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::*;
use custody_broker::bundles::{BundleError, verify_bundle, verify_receipt};
use custody_client::{Body, Reply};
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

fn admin_of(w: &World, tenant: &str, name: &str) -> Person {
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": tenant, "display_name": name}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), name, &code)
}

fn stage(w: &World, tenants: &[&str], ttl: Option<u64>) -> Value {
    let mut body = json!({ "tenants": tenants });
    if let Some(ttl) = ttl {
        body["ttl_secs"] = ttl.into();
    }
    create(&w.operator, "/v1/revocation-bundles", body)
}

fn approve_all(staged: &Value, people: &[&Person]) {
    for entry in staged["approval_requests"].as_array().unwrap() {
        let id = entry["approval_request_id"].as_str().unwrap();
        for person in people {
            let reply = person
                .client
                .approve(id, &person.id, &pop_secret(&person.device_dir))
                .unwrap();
            assert_eq!(reply.status, 200, "{:?}", reply.json());
        }
    }
}

fn approvals_of(staged: &Value) -> Value {
    staged["approval_requests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["tenant"].as_str().unwrap().to_owned(),
                a["approval_request_id"].clone(),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

fn execute(w: &World, jws: &str, approvals: &Value) -> Reply {
    json_call(
        &w.operator,
        "POST",
        "/v1/revocation-bundles/executions",
        json!({"bundle": jws, "approvals": approvals}),
    )
}

/// The revocation log's head, read from its file: what a refused call must not move.
fn revocation_head(w: &World) -> usize {
    std::fs::read_to_string(w.server.data.join("revocations.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_staged_and_approved_bundle_revokes_sessions_devices_grants_and_exports() {
    let mut w = world();
    let lead = support_lead(&w);
    let reviewer = reviewer(&w);
    // An agent with view and export grants on the tenant, and one pending export.
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
        json!({"actions": ["artifact.view", "artifact.export"]}),
    );
    let grant_id = grant["grant"]["id"].as_str().unwrap().to_owned();
    for person in [&lead, &w.admin] {
        let reply = person
            .client
            .approve(
                grant["approval_request_id"].as_str().unwrap(),
                &person.id,
                &pop_secret(&person.device_dir),
            )
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    let export = create(
        &w.agent,
        &format!("/v1/artifacts/{artifact_id}/export-requests"),
        json!({}),
    );
    let export_approval = export["approval_request_id"].as_str().unwrap().to_owned();
    for person in [&lead, &w.admin] {
        let reply = person
            .client
            .approve(
                &export_approval,
                &person.id,
                &pop_secret(&person.device_dir),
            )
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    let made = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        json!({"approval_request_id": export_approval}),
    );
    assert_eq!(made.status, 201, "{:?}", made.json());
    let view = format!("/v1/artifacts/{artifact_id}/view");
    let view_status = |agent: &Person| {
        agent
            .client
            .call("GET", &view, &Body::Empty)
            .unwrap()
            .status
    };
    assert_eq!(view_status(&w.agent), 200);

    // Stage: the bundle names the tenant's admin, its device key, the grant and the
    // pending export, and verifies against the published JWKS.
    let staged = stage(&w, &[&w.tenant], None);
    let jws = staged["jws"].as_str().unwrap().to_owned();
    let verified = verify_bundle(&jws, &jwks(&w), &w.server.base).unwrap();
    assert_eq!(verified.digest, staged["digest"]);
    assert_eq!(
        serde_json::to_value(&verified.bundle).unwrap(),
        staged["bundle"]
    );
    let subjects = &verified.bundle.tenants[0];
    assert_eq!(subjects.tenant, w.tenant);
    assert_eq!(subjects.principals, vec![w.admin.id.clone()]);
    assert_eq!(subjects.devices.len(), 1);
    assert_eq!(subjects.grants, vec![grant_id]);
    assert_eq!(subjects.exports.len(), 1);
    assert!(!jws.contains(w.admin.client.token().unwrap()));
    let request = &staged["approval_requests"][0];
    assert_eq!(request["tenant"], w.tenant.as_str());

    // After staging: the admin signs in again (a new session), and a second admin
    // of the tenant appears. Both must fall too ("kept current").
    w.admin.client.login().unwrap();
    assert_eq!(me(&w.admin), 200);
    let late = admin_of(&w, &w.tenant, "late-admin");
    assert_eq!(me(&late), 200);
    let other = admin_of(&w, &w.other_tenant, "other-admin");

    approve_all(&staged, &[&lead, &reviewer]);
    let done = execute(&w, &jws, &approvals_of(&staged));
    assert_eq!(done.status, 200, "{:?}", done.json());
    let done = done.json();

    // Effective when answered: the next calls are refused.
    assert_eq!(me(&w.admin), 401);
    assert_eq!(me(&late), 401);
    assert_eq!(view_status(&w.agent), 403);
    let opened = w.agent.client.open_export(&made.body, &w.agent.device_dir);
    assert!(
        opened.is_err(),
        "a pending export of the tenant was released"
    );
    // The device keys sign in no more; the vendor agent and the other tenant stand.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(w.admin.client.login().is_err());
    assert_eq!(me(&w.agent), 200);
    assert_eq!(me(&other), 200);

    // What was revoked, and what was added since staging.
    let tenant = &done["tenants"][0];
    assert_eq!(tenant["tenant"], w.tenant.as_str());
    assert_eq!(tenant["grants_revoked"], 1);
    assert_eq!(tenant["exports_revoked"], 1);
    assert_eq!(tenant["devices_revoked"], 2);
    assert_eq!(
        tenant["added_since_staging"]["principals"],
        json!([late.id])
    );
    assert_eq!(
        tenant["added_since_staging"]["devices"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Every epoch receipt and the execution receipt verify with the JWKS.
    let keys = jwks(&w);
    let receipts = done["revoked"]["receipts"].as_array().unwrap();
    assert_eq!(
        receipts.len(),
        done["revoked"]["revoked"].as_array().unwrap().len()
    );
    let entries: Vec<_> = receipts
        .iter()
        .map(|r| {
            RevocationReceipt::from_compact(r.as_str().unwrap())
                .verify(&keys)
                .unwrap()
        })
        .collect();
    for (kind, subject) in [
        (SubjectKind::Tenant, w.tenant.as_str()),
        (SubjectKind::Principal, w.admin.id.as_str()),
        (SubjectKind::Principal, late.id.as_str()),
    ] {
        assert!(
            entries
                .iter()
                .any(|e| e.kind == kind && e.subject == subject),
            "no {kind:?} epoch for {subject}"
        );
    }
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.kind == SubjectKind::Device)
            .count(),
        2
    );
    let claims = verify_receipt(done["receipt"].as_str().unwrap(), &keys, &w.server.base).unwrap();
    assert_eq!(claims["bundle_id"], staged["bundle"]["bundle_id"]);
    assert_eq!(claims["bundle_digest"], staged["digest"]);
    assert_eq!(claims["state_version"], done["revoked"]["state_version"]);
    assert!(
        verify_receipt(
            &tamper(done["receipt"].as_str().unwrap()),
            &keys,
            &w.server.base
        )
        .is_err()
    );
    // Used up: the same bundle and approvals do not run twice.
    let again = execute(&w, &jws, &approvals_of(&staged));
    assert_eq!(again.status, 409, "{:?}", again.json());
}

/// Flips one character of the JWS payload (keeping it valid base64url).
fn tamper(jws: &str) -> String {
    let at = jws.find('.').unwrap() + 20;
    let mut bytes = jws.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn tampered_expired_foreign_and_unapproved_bundles_revoke_nothing() {
    let w = world();
    let lead = support_lead(&w);
    let reviewer = reviewer(&w);
    let staged = stage(&w, &[&w.tenant], None);
    let jws = staged["jws"].as_str().unwrap().to_owned();
    let approvals = approvals_of(&staged);
    let head = revocation_head(&w);
    let refused = |reply: Reply, status: u16, detail: &str| {
        assert_eq!(reply.status, status, "{:?}", reply.json());
        let text = reply.json()["detail"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(text.contains(detail), "{text:?} lacks {detail:?}");
        assert_eq!(me(&w.admin), 200);
        assert_eq!(
            revocation_head(&w),
            head,
            "a refused bundle appended epochs"
        );
    };

    // Without the quorum (one group only): refused by policy.
    approve_all(&staged, &[&lead]);
    refused(execute(&w, &jws, &approvals), 403, "tenant.revoke_all");
    // Without any approval: refused too.
    refused(execute(&w, &jws, &json!({})), 403, "tenant.revoke_all");

    approve_all(&staged, &[&reviewer]);
    // One changed byte of the signed bundle: the signature fails.
    let tampered = tamper(&jws);
    assert!(matches!(
        verify_bundle(&tampered, &jwks(&w), &w.server.base),
        Err(BundleError::BadSignature | BundleError::Malformed(_))
    ));
    refused(execute(&w, &tampered, &approvals), 400, "signature");
    // This bundle's content under the signature of another bundle of the server.
    let foreign = stage(&w, &[&w.other_tenant], None);
    let forged = format!(
        "{}.{}",
        jws.rsplit_once('.').unwrap().0,
        foreign["jws"].as_str().unwrap().rsplit_once('.').unwrap().1
    );
    refused(execute(&w, &forged, &approvals), 400, "signature");
    // Another bundle's approvals (of the other tenant) do not open this one.
    approve_all(&foreign, &[&lead, &reviewer]);
    let mixed = json!({ w.tenant.clone(): foreign["approval_requests"][0]["approval_request_id"] });
    refused(execute(&w, &jws, &mixed), 400, "not this bundle's request");
    let outside =
        json!({ w.other_tenant.clone(): foreign["approval_requests"][0]["approval_request_id"] });
    refused(execute(&w, &jws, &outside), 400, "outside the bundle");
    // An approved request of another bundle of the same tenant does not open this one.
    let twin = stage(&w, &[&w.tenant], None);
    approve_all(&twin, &[&lead, &reviewer]);
    refused(
        execute(&w, &jws, &approvals_of(&twin)),
        400,
        "not this bundle's request",
    );
    // Two tenants, only one approved: refused as a whole, the approved one included.
    let pair = stage(&w, &[&w.tenant, &w.other_tenant], None);
    let first = &pair["approval_requests"][0];
    for person in [&lead, &reviewer] {
        let reply = person
            .client
            .approve(
                first["approval_request_id"].as_str().unwrap(),
                &person.id,
                &pop_secret(&person.device_dir),
            )
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    refused(
        execute(&w, pair["jws"].as_str().unwrap(), &approvals_of(&pair)),
        403,
        "tenant.revoke_all",
    );
    // Someone other than the requester (a second operator) cannot use the approvals.
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "operator", "display_name": "Otto Op"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = enrol_and_login(&w.server, w.root.path(), "op2", &code);
    let reply = json_call(
        &second,
        "POST",
        "/v1/revocation-bundles/executions",
        json!({"bundle": jws, "approvals": approvals}),
    );
    refused(reply, 403, "tenant.revoke_all");

    // An expired bundle, fully approved: refused as gone.
    let short = stage(&w, &[&w.tenant], Some(3));
    approve_all(&short, &[&lead, &reviewer]);
    std::thread::sleep(std::time::Duration::from_millis(3200));
    refused(
        execute(&w, short["jws"].as_str().unwrap(), &approvals_of(&short)),
        410,
        "expired",
    );

    // The genuine bundle still works afterwards: nothing above used it up.
    let done = execute(&w, &jws, &approvals);
    assert_eq!(done.status, 200, "{:?}", done.json());
    assert_eq!(me(&w.admin), 401);
}

#[test]
fn several_tenants_are_revoked_in_one_call() {
    let w = world();
    let lead = support_lead(&w);
    let reviewer = reviewer(&w);
    let other = admin_of(&w, &w.other_tenant, "other-admin");
    let staged = stage(&w, &[&w.tenant, &w.other_tenant], None);
    assert_eq!(staged["bundle"]["counts"]["tenants"], 2);
    assert_eq!(staged["bundle"]["counts"]["principals"], 2);
    assert_eq!(staged["approval_requests"].as_array().unwrap().len(), 2);
    approve_all(&staged, &[&lead, &reviewer]);
    let done = execute(&w, staged["jws"].as_str().unwrap(), &approvals_of(&staged));
    assert_eq!(done.status, 200, "{:?}", done.json());
    assert_eq!(done.json()["tenants"].as_array().unwrap().len(), 2);
    assert_eq!(me(&w.admin), 401);
    assert_eq!(me(&other), 401);
    assert_eq!(me(&w.agent), 200);
}

#[test]
fn staging_needs_a_revoker_and_known_tenants() {
    let w = world();
    // A support lead is not a revoker of the tenant; a customer admin not of another.
    let denied = json_call(
        &w.agent,
        "POST",
        "/v1/revocation-bundles",
        json!({"tenants": [w.tenant]}),
    );
    assert_eq!(denied.status, 403, "{:?}", denied.json());
    let denied = json_call(
        &w.admin,
        "POST",
        "/v1/revocation-bundles",
        json!({"tenants": [w.other_tenant]}),
    );
    assert_eq!(denied.status, 403, "{:?}", denied.json());
    for body in [
        json!({"tenants": []}),
        json!({"tenants": [w.tenant, w.tenant]}),
        json!({"tenants": [w.tenant], "ttl_secs": 0}),
        json!({"tenants": ["not an id"]}),
    ] {
        let reply = json_call(&w.operator, "POST", "/v1/revocation-bundles", body);
        assert_eq!(reply.status, 400, "{:?}", reply.json());
    }
    let unknown = json_call(
        &w.operator,
        "POST",
        "/v1/revocation-bundles",
        json!({"tenants": ["ten_00000000000000000000000000000000"]}),
    );
    assert_eq!(unknown.status, 404, "{:?}", unknown.json());
}
