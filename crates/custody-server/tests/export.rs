//! The hardened export path end to end (issue 5, item 6): a customer admin uploads a
//! capture, an agent requests a grant, two approvers approve, the agent asks for an
//! export, two approvers approve that exact export, the agent receives a file sealed to
//! its device, and the server releases its key once: it opens on the agent's device,
//! not twice, not with a copied token on another device, not on another device's key.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::*;
use custody_client::{Body, Client, ClientError};
use serde_json::json;

fn approve_by(people: &[&Person], approval_id: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    for person in people {
        let reply = person
            .client
            .approve(approval_id, &person.id, &pop_secret(&person.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
        last = reply.json();
    }
    last
}

#[test]
fn export_is_sealed_to_the_device_and_released_once() {
    let w = world();
    let lead = support_lead(&w);
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "export"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let artifact = upload(&w.admin, case_id);
    let artifact_id = artifact["id"].as_str().unwrap();
    let sanitized = w
        .admin
        .client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact_id}/download"),
            &Body::Empty,
        )
        .unwrap()
        .body;

    // No grant yet: no export request.
    let export_requests = format!("/v1/artifacts/{artifact_id}/export-requests");
    let reply = json_call(&w.agent, "POST", &export_requests, json!({}));
    assert_eq!(reply.status, 403, "{:?}", reply.json());

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
    let done = approve_by(
        &[&lead, &w.admin],
        grant["approval_request_id"].as_str().unwrap(),
    );
    assert_eq!(done["grant"]["status"], "approved");

    // The export itself needs its own quorum over this artifact, device and network.
    let request = create(&w.agent, &export_requests, json!({}));
    let approval_id = request["approval_request_id"].as_str().unwrap().to_owned();
    assert_eq!(request["request"]["action"], "artifact.export");
    let export_body = json!({"approval_request_id": approval_id});
    let early = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        export_body.clone(),
    );
    assert_eq!(early.status, 403, "no quorum yet: {:?}", early.json());
    approve_by(&[&lead], &approval_id);
    let half = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        export_body.clone(),
    );
    assert_eq!(half.status, 403, "one group only: {:?}", half.json());
    approve_by(&[&w.admin], &approval_id);
    let exported = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        export_body.clone(),
    );
    assert_eq!(exported.status, 201, "{:?}", exported.json());
    let file = exported.body;
    // The approval is used up: a second export with it is refused.
    let again = json_call(&w.agent, "POST", "/v1/artifact-exports", export_body);
    assert_ne!(again.status, 201);

    // The token copied to another device is useless for the release.
    let (thief_dir, _) = device(w.root.path(), "thief");
    let mut thief = Client::for_device(&w.server.base, &thief_dir).unwrap();
    thief.set_token(w.agent.client.token().unwrap().to_owned());
    let stolen = thief.open_export(&file, &thief_dir);
    assert!(
        matches!(stolen, Err(ClientError::Release { status: 401, .. })),
        "{stolen:?}"
    );

    // The agent's device opens it once and gets the sanitized artifact byte for byte.
    let opened = w
        .agent
        .client
        .open_export(&file, &w.agent.device_dir)
        .unwrap();
    assert_eq!(opened, sanitized);
    // Not twice.
    let second = w.agent.client.open_export(&file, &w.agent.device_dir);
    assert!(
        matches!(second, Err(ClientError::Release { status: 410, .. })),
        "{second:?}"
    );

    // Each act is in the audit log; the file itself holds no readable artifact byte.
    let probe = &sanitized[sanitized.len() / 2..sanitized.len() / 2 + 64];
    assert!(!file.windows(probe.len()).any(|w| w == probe));
}

#[test]
fn the_openapi_document_is_served_and_describes_the_export_routes() {
    let server = start();
    let reply = reqwest::blocking::get(format!("{}/openapi.json", server.base)).unwrap();
    assert_eq!(reply.status().as_u16(), 200);
    let doc: serde_json::Value = reply.json().unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/v1/artifact-exports",
        "/v1/artifact-exports/{id}/release",
        "/v1/token",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
    assert!(doc["components"]["securitySchemes"].get("dpop").is_some());
}

#[test]
fn an_export_ends_when_its_grant_is_revoked_after_the_export_was_approved() {
    let w = world();
    let lead = support_lead(&w);
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "revoked"}),
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
    let grant_id = grant["grant"]["id"].as_str().unwrap().to_owned();
    approve_by(
        &[&lead, &w.admin],
        grant["approval_request_id"].as_str().unwrap(),
    );
    let request = create(
        &w.agent,
        &format!("/v1/artifacts/{artifact_id}/export-requests"),
        json!({}),
    );
    let approval_id = request["approval_request_id"].as_str().unwrap().to_owned();
    approve_by(&[&lead, &w.admin], &approval_id);
    // The grant is revoked after the export was approved.
    let store = w.server.broker.store().clone();
    let id = custody_store::GrantId::parse(&grant_id).unwrap();
    w.server
        .runtime
        .block_on(store.set_grant_status(
            &id,
            custody_store::GrantStatus::Approved,
            custody_store::GrantStatus::Revoked,
            0,
        ))
        .unwrap();
    let reply = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        json!({"approval_request_id": approval_id}),
    );
    assert_eq!(reply.status, 403, "{:?}", reply.json());
}
