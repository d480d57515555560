//! End-to-end tests through the public HTTP API: a real server on loopback, a real
//! SQLite database and blob directory, real device keys and DPoP proofs.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::*;
use custody_client::{Body, Client};
use serde_json::{Value, json};

#[test]
fn upload_sanitizes_encrypts_and_download_and_view_are_distinct_decided_acts() {
    let w = world();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "SSO loop"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let (har, planted) = planted_har();
    assert!(!planted.is_empty());
    let reply = w
        .admin
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/artifacts?name=capture.har"),
            &Body::Bytes(har.clone(), "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    let artifact = reply.json();
    let artifact_id = artifact["id"].as_str().unwrap();
    assert_eq!(artifact["kind"], "har");

    // No planted value anywhere in the data directory (database, blobs, audit log).
    for file in files_under(&w.server.data) {
        let bytes = std::fs::read(&file).unwrap();
        for value in &planted {
            assert!(
                !bytes
                    .windows(value.len())
                    .any(|win| win == value.as_bytes()),
                "a planted credential reached {}",
                file.display()
            );
        }
    }

    // The owning tenant's admin downloads the sanitized file: valid JSON, no planted value.
    let download = w
        .admin
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/download"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(download.status, 200);
    let sanitized: Value = serde_json::from_slice(&download.body).unwrap();
    assert!(sanitized["log"]["entries"].as_array().unwrap().len() > 10);
    let text = String::from_utf8_lossy(&download.body);
    for value in &planted {
        assert!(
            !text.contains(value.as_str()),
            "the download leaks a planted credential"
        );
    }
    assert_ne!(
        download.body, har,
        "the download must be the sanitized artifact"
    );

    // View: the admin sees a page; the agent, with no grant, is denied.
    let view = w
        .admin
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/view?offset=0&limit=5"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(view.status, 200, "{:?}", view.json());
    assert_eq!(view.json()["items"].as_array().unwrap().len(), 5);
    let denied = w
        .agent
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/view"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.problem_type().as_deref(),
        Some("urn:custody:problem:forbidden")
    );
    assert_eq!(
        denied.content_type.as_deref(),
        Some("application/problem+json")
    );
    // Support agents never download.
    let denied = w
        .agent
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/download"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(denied.status, 403);

    // Each act left its own audit event (upload, 2 downloads incl. the denied one, views).
    let log = w.server.broker.audit_log();
    assert!(log.len() >= 7, "audit events: {}", log.len());
}

#[test]
fn cross_tenant_access_is_denied_and_unknown_ids_are_not_found() {
    let w = world();
    let reply = json_call(
        &w.admin,
        "POST",
        &format!("/v1/tenants/{}/cases", w.other_tenant),
        json!({"title": "x"}),
    );
    assert_eq!(reply.status, 403, "{:?}", reply.json());
    let reply = w
        .admin
        .client
        .call(
            "GET",
            "/v1/artifacts/art_00000000000000000000000000000000/view",
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(reply.status, 404);
    let reply = w
        .admin
        .client
        .call("GET", "/v1/artifacts/not-an-id/view", &Body::Empty)
        .unwrap();
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.problem_type().as_deref(),
        Some("urn:custody:problem:bad-request")
    );
    // Operators hold no artifact access at all.
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "t"}),
    );
    let reply = w
        .operator
        .client
        .call(
            "GET",
            &format!("/v1/cases/{}/artifacts", case["id"].as_str().unwrap()),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(reply.status, 403);
}

#[test]
fn a_stolen_token_without_the_device_key_is_refused_and_with_it_accepted() {
    let w = world();
    let token = w.admin.client.token().unwrap().to_owned();
    // The thief has the token (e.g. from a HAR) but another key.
    let (thief_dir, _) = device(w.root.path(), "thief");
    let mut thief = Client::for_device(&w.server.base, &thief_dir).unwrap();
    thief.set_token(token.clone());
    let reply = thief.call("GET", "/v1/me", &Body::Empty).unwrap();
    assert_eq!(reply.status, 401, "{:?}", reply.json());
    assert_eq!(
        reply.problem_type().as_deref(),
        Some("urn:custody:problem:unauthenticated")
    );
    // Bearer use of the same token is refused outright.
    let bearer = reqwest::blocking::Client::new()
        .get(format!("{}/v1/me", w.server.base))
        .header("Authorization", format!("Bearer {token}"))
        .send()
        .unwrap();
    assert_eq!(bearer.status().as_u16(), 401);
    // The same token with the device key works (so the refusal above is the binding).
    let mut holder = Client::for_device(&w.server.base, &w.admin.device_dir).unwrap();
    holder.set_token(token);
    let reply = holder.call("GET", "/v1/me", &Body::Empty).unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["principal_id"], w.admin.id.as_str());
}

#[test]
fn an_enrolment_code_works_once() {
    let w = world();
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Once"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (dir_a, public_a) = device(w.root.path(), "a");
    let (_, public_b) = device(w.root.path(), "b");
    let client = Client::for_device(&w.server.base, &dir_a).unwrap();
    assert_eq!(client.enrol(&code, &public_a).unwrap().status, 201);
    let again = client.enrol(&code, &public_b).unwrap();
    assert_eq!(again.status, 401, "{:?}", again.json());
}

#[test]
fn bad_input_gets_problem_json_and_stores_nothing() {
    let w = world();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "bad input"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let truncated =
        br#"{"log":{"version":"1.2","entries":[{"request":{"url":"https://a.example/?"#.to_vec();
    let reply = w
        .admin
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Bytes(truncated, "application/json"),
        )
        .unwrap();
    assert_eq!(reply.status, 422, "{:?}", reply.json());
    assert_eq!(
        reply.problem_type().as_deref(),
        Some("urn:custody:problem:artifact-refused")
    );
    let listed = w
        .admin
        .client
        .call(
            "GET",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(listed.json()["artifacts"].as_array().unwrap().len(), 0);
    assert!(files_under(&w.server.data.join("blobs").join("objects")).is_empty());

    let malformed = w
        .operator
        .client
        .call(
            "POST",
            "/v1/tenants",
            &Body::Bytes(b"{\"name\":".to_vec(), "application/json"),
        )
        .unwrap();
    assert_eq!(malformed.status, 400);
    let wrong_type = w
        .operator
        .client
        .call(
            "POST",
            "/v1/tenants",
            &Body::Bytes(b"name=x".to_vec(), "text/plain"),
        )
        .unwrap();
    assert_eq!(wrong_type.status, 415);
    let bidi = json_call(
        &w.operator,
        "POST",
        "/v1/tenants",
        json!({"name": "Acme\u{202E}moc"}),
    );
    assert_eq!(bidi.status, 400);
    let oversized = json_call(
        &w.operator,
        "POST",
        "/v1/tenants",
        json!({"name": "x".repeat(100_000)}),
    );
    assert_eq!(oversized.status, 413, "{:?}", oversized.json());
    for reply in [&malformed, &wrong_type, &bidi, &oversized] {
        assert_eq!(
            reply.content_type.as_deref(),
            Some("application/problem+json")
        );
    }
}

#[test]
fn a_grant_needs_a_quorum_and_then_lets_the_agent_view() {
    let w = world();
    // A second agent who is a support lead, to approve.
    let lead = support_lead(&w);
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "grant"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let artifact = upload(&w.admin, case_id);
    let artifact_id = artifact["id"].as_str().unwrap();
    let view_path = format!("/v1/artifacts/{artifact_id}/view");

    // Not assigned: no grant can even be requested.
    let reply = json_call(
        &w.agent,
        "POST",
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.view"]}),
    );
    assert_eq!(reply.status, 403, "{:?}", reply.json());
    let reply = json_call(
        &w.operator,
        "POST",
        &format!("/v1/cases/{case_id}/assignments"),
        json!({"agent_id": w.agent.id}),
    );
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    // Longer than 1 h: refused.
    let reply = json_call(
        &w.agent,
        "POST",
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.view"], "lifetime_secs": 7200}),
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json());
    let grant = create(
        &w.agent,
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.view"]}),
    );
    let approval_id = grant["approval_request_id"].as_str().unwrap().to_owned();
    assert_eq!(grant["grant"]["status"], "requested");

    // Requested is not approved: still no view.
    let reply = w
        .agent
        .client
        .call("GET", &view_path, &Body::Empty)
        .unwrap();
    assert_eq!(reply.status, 403);
    // The requester cannot approve their own grant, even as a support lead.
    let reply = w
        .agent
        .client
        .approve(&approval_id, &w.agent.id, &pop_secret(&w.agent.device_dir))
        .unwrap();
    assert_eq!(reply.status, 403, "{:?}", reply.json());
    // A signature by another key than the approver's device is refused.
    let reply = lead
        .client
        .approve(&approval_id, &lead.id, &pop_secret(&w.admin.device_dir))
        .unwrap();
    assert_eq!(reply.status, 400, "{:?}", reply.json());
    // An approval dated half an hour ahead (to outlive its 15 minutes) is refused: the
    // server's clock decides freshness, never the approver's `signed_at`.
    let request: custody_policy::ApprovalRequest =
        serde_json::from_value(grant["request"].clone()).unwrap();
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 1800;
    let key = custody_policy::SigningKey::from_secret_bytes(&pop_secret(&lead.device_dir));
    let future = custody_policy::Approval::sign(&key, &lead.id, &request, ahead);
    let signature: String = future
        .signature
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let reply = json_call(
        &lead,
        "POST",
        &format!("/v1/approvals/{approval_id}/approvals"),
        json!({"signature": signature, "signed_at": ahead}),
    );
    assert_eq!(reply.status, 400, "{:?}", reply.json());
    // One support lead: not yet (on-request mode: a tenant admin must approve too).
    let reply = lead
        .client
        .approve(&approval_id, &lead.id, &pop_secret(&lead.device_dir))
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["grant"]["status"], "requested");
    let reply = w
        .agent
        .client
        .call("GET", &view_path, &Body::Empty)
        .unwrap();
    assert_eq!(reply.status, 403);
    // The same lead again does not count twice.
    let reply = lead
        .client
        .approve(&approval_id, &lead.id, &pop_secret(&lead.device_dir))
        .unwrap();
    assert_eq!(reply.status, 409, "{:?}", reply.json());
    // The tenant's admin approves: quorum met (AND across the two groups).
    let reply = w
        .admin
        .client
        .approve(&approval_id, &w.admin.id, &pop_secret(&w.admin.device_dir))
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    assert_eq!(reply.json()["grant"]["status"], "approved");
    let reply = w
        .agent
        .client
        .call("GET", &view_path, &Body::Empty)
        .unwrap();
    assert_eq!(reply.status, 200, "{:?}", reply.json());
    // The grant covers view only: no download, and nothing in the other tenant.
    let reply = w
        .agent
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/download"),
            &Body::Empty,
        )
        .unwrap();
    assert_eq!(reply.status, 403);
}

#[test]
fn each_artifact_route_appends_exactly_one_audit_event_per_access() {
    let w = world();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "inventory"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let log = w.server.broker.audit_log();
    let before = log.len();
    let artifact = upload(&w.admin, case_id);
    let artifact_id = artifact["id"].as_str().unwrap();
    assert_eq!(log.len(), before + 1, "ingest");
    for (method, template, kind) in custody_server::ARTIFACT_ROUTES
        .iter()
        .filter(|r| r.0 == "GET")
    {
        let path = template.replace(
            "{id}",
            if template.starts_with("/v1/cases") {
                case_id
            } else {
                artifact_id
            },
        );
        let before = log.len();
        let reply = w.admin.client.call(method, &path, &Body::Empty).unwrap();
        assert_eq!(reply.status, 200, "{path}");
        let expected = if *kind == "none" { 0 } else { 1 };
        assert_eq!(
            log.len(),
            before + expected,
            "{method} {path} must append {expected} event(s)"
        );
    }
}

#[test]
fn artifact_metadata_shows_no_storage_identifiers() {
    let w = world();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "metadata"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let uploaded = upload(&w.admin, case_id);
    let listed = w
        .admin
        .client
        .call(
            "GET",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Empty,
        )
        .unwrap()
        .json();
    let listed = &listed["artifacts"][0];
    for body in [&uploaded, listed] {
        // Where the ciphertext lives and which key wraps it are the broker's business.
        assert!(body.get("blob_key").is_none(), "{body}");
        assert!(body.get("data_key_id").is_none(), "{body}");
        assert!(body.get("input_sha256").is_none(), "{body}");
        let digest = body["sanitized_sha256"].as_str().unwrap();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );
    }
    // The uploader sees what was removed (counts, never values); a listing does not.
    assert!(uploaded["report"]["redactions"].as_u64().unwrap() > 0);
    assert!(listed.get("report").is_none());
}
