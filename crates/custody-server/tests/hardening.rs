//! Issue 5 server gaps, through the real HTTP API: an oversized upload is a 413 also
//! when its length is not declared, and leaves nothing behind; an export whose sealing
//! fails leaves no pending export row; `/metrics` is served only on its own listener;
//! every directory change (tenant, principal, device, case, assignment, support mode)
//! appends exactly one audit event of its kind.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use std::io::Cursor;
use std::sync::Arc;

use custody_audit::store::LogStore as _;
use custody_client::Body;
use custody_store::{ExportState, PrincipalId};
use custody_token::dpop::ProofRequest;
use custody_token::{Ed25519KeyPair, Timestamp, create_proof};
use serde_json::{Value, json};

use common::*;

/// The kinds of the audit events appended since `start`, with their decoded events.
fn events_since(w: &World, start: u64) -> Vec<custody_audit::event::AuditEvent> {
    let log = w.server.broker.audit_log();
    let mut out = Vec::new();
    log.store()
        .scan(start, log.len(), &mut |_, record| {
            out.push(custody_audit::record::decode(record).unwrap());
            true
        })
        .unwrap();
    out
}

fn kinds_since(w: &World, start: u64) -> Vec<&'static str> {
    events_since(w, start)
        .iter()
        .map(|e| e.kind.as_str())
        .collect()
}

fn blob_files(w: &World) -> Vec<std::path::PathBuf> {
    files_under(&w.server.data.join("blobs"))
}

/// Sends `body` to `path` as a chunked request (no `Content-Length`), with the
/// person's token and a fresh DPoP proof carrying a current server nonce.
fn post_chunked(w: &World, person: &Person, path: &str, body: Vec<u8>) -> (u16, Value) {
    let url = format!("{}{path}", w.server.base);
    let key = {
        let identity = custody_seal::DeviceIdentity::load(&person.device_dir).unwrap();
        Ed25519KeyPair::from_jwk_json(&identity.pop_key().to_jwk()).unwrap()
    };
    // Any answer carries a fresh nonce.
    let nonce = reqwest::blocking::get(format!("{}/v1/me", w.server.base))
        .unwrap()
        .headers()
        .get("dpop-nonce")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let token = person.client.token().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let proof = create_proof(
        &key,
        &ProofRequest {
            method: "POST",
            url: &url,
            access_token: Some(token),
            nonce: Some(&nonce),
        },
        Timestamp::from_unix_millis(u64::try_from(now.as_millis()).unwrap()),
        &mut rand_core::OsRng,
    )
    .unwrap();
    let reply = reqwest::blocking::Client::new()
        .post(&url)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .header("Content-Type", "application/octet-stream")
        // A reader of unknown length: hyper sends it chunked.
        .body(reqwest::blocking::Body::new(Cursor::new(body)))
        .send()
        .unwrap();
    let status = reply.status().as_u16();
    let text = reply.text().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[test]
fn an_oversized_upload_is_413_declared_or_chunked_and_leaves_nothing() {
    const LIMIT: u64 = 150_000;
    let w = world_on(start_with(|c| c.max_upload_bytes = LIMIT));
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "big"}),
    );
    let case_id = case["id"].as_str().unwrap();
    let path = format!("/v1/cases/{case_id}/artifacts");
    let (har, _) = planted_har();
    assert!(har.len() as u64 > LIMIT && (har.len() as u64) < 2 * LIMIT);

    // Declared length over the limit: refused before a byte is read.
    let declared = w
        .admin
        .client
        .call(
            "POST",
            &path,
            &Body::Bytes(har.clone(), "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(declared.status, 413, "{:?}", declared.json());
    assert_eq!(
        declared.problem_type().as_deref(),
        Some("urn:custody:problem:payload-too-large")
    );

    // Chunked: cut while streaming, still a 413 problem.
    let (status, problem) = post_chunked(&w, &w.admin, &path, har.clone());
    assert_eq!(status, 413, "{problem}");
    assert_eq!(problem["type"], "urn:custody:problem:payload-too-large");
    assert_eq!(problem["status"], 413);

    // Nothing stored: no artifact row, no blob, no temporary file.
    let listed = w.admin.client.call("GET", &path, &Body::Empty).unwrap();
    assert_eq!(listed.json()["artifacts"], json!([]), "{:?}", listed.json());
    assert_eq!(blob_files(&w), Vec::<std::path::PathBuf>::new());

    // Under the limit, chunked, the same route stores it.
    let mut small = Vec::new();
    custody_corpus::planted_har(3, 60_000, &mut small).unwrap();
    let (status, stored) = post_chunked(&w, &w.admin, &path, small);
    assert_eq!(status, 201, "{stored}");
    assert_eq!(blob_files(&w).len(), 1);
}

#[test]
fn a_failed_seal_leaves_no_pending_export() {
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
    let request = create(
        &w.agent,
        &format!("/v1/artifacts/{artifact_id}/export-requests"),
        json!({}),
    );
    let approval_id = request["approval_request_id"].as_str().unwrap();
    for person in [&lead, &w.admin] {
        let reply = person
            .client
            .approve(approval_id, &person.id, &pop_secret(&person.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }

    // The stored blob is damaged after the approvals: sealing fails half-way, after
    // the export row was created.
    let blobs = blob_files(&w);
    assert_eq!(blobs.len(), 1);
    let mut bytes = std::fs::read(&blobs[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&blobs[0], bytes).unwrap();

    let failed = json_call(
        &w.agent,
        "POST",
        "/v1/artifact-exports",
        json!({"approval_request_id": approval_id}),
    );
    assert_eq!(failed.status, 500, "{:?}", failed.json());
    let agent = PrincipalId::parse(&w.agent.id).unwrap();
    let exports = w
        .server
        .runtime
        .block_on(w.server.broker.store().list_agent_exports(&agent))
        .unwrap();
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0].state, ExportState::Refused, "{exports:?}");
    // Its key can never be released.
    let release = json_call(
        &w.agent,
        "POST",
        &format!("/v1/artifact-exports/{}/release", exports[0].id.as_str()),
        json!({}),
    );
    assert_eq!(release.status, 410, "{:?}", release.json());
}

fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[test]
fn metrics_are_served_only_on_the_metrics_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (public, metrics) = (free_addr(), free_addr());
    let none = |_: &str| None;
    let config = custody_server::Config::resolve(
        None,
        &none,
        Some(dir.path().join("data")),
        Some(public.to_string()),
    )
    .unwrap()
    .with_metrics_listen(&metrics.to_string())
    .unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let state = custody_server::open_state(config).await.unwrap();
        tokio::spawn(custody_server::run(state));
    });
    let get = |url: String| {
        for _ in 0..100 {
            if let Ok(reply) = reqwest::blocking::get(&url) {
                return (reply.status().as_u16(), reply.text().unwrap());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("{url} never answered");
    };
    // The public listener serves the API but not the metrics.
    assert_eq!(get(format!("http://{public}/healthz")).0, 200);
    let (status, body) = get(format!("http://{public}/metrics"));
    assert_eq!(status, 404, "{body}");
    assert!(!body.contains("custody_http_request_duration_seconds"));
    // The metrics listener serves them (counting the public requests) and nothing else.
    let (status, body) = get(format!("http://{metrics}/metrics"));
    assert_eq!(status, 200);
    assert!(
        body.contains("custody_http_request_duration_seconds_count{route=\"/healthz\""),
        "{body}"
    );
    assert_eq!(get(format!("http://{metrics}/healthz")).0, 404);
    assert_eq!(get(format!("http://{metrics}/v1/me")).0, 404);

    // The router alone: only `GET /metrics`.
    let app_metrics = Arc::new(custody_server::metrics::Metrics::new());
    app_metrics.refused("replayable");
    let addr = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum_serve(listener, custody_server::metrics_app(app_metrics)).await;
        });
        addr
    });
    let (status, body) = get(format!("http://{addr}/metrics"));
    assert_eq!(status, 200);
    assert!(body.contains("custody_artifacts_refused_total{reason=\"replayable\"} 1"));
}

async fn axum_serve(listener: tokio::net::TcpListener, app: axum::Router) {
    axum::serve(listener, app).await.unwrap();
}

#[test]
fn each_directory_change_appends_exactly_one_event_of_its_kind() {
    let w = world();
    // `custody init` recorded the first operator's creation (by the system).
    let bootstrap = events_since(&w, 0);
    assert!(
        bootstrap
            .iter()
            .any(|e| e.kind.as_str() == "principal_create" && e.actor.principal_id == "system"),
        "{bootstrap:?}"
    );

    let at = w.server.broker.audit_log().len();
    let tenant = create(&w.operator, "/v1/tenants", json!({"name": "Initech"}));
    let tenant_id = tenant["id"].as_str().unwrap();
    let events = events_since(&w, at);
    assert_eq!(kinds_since(&w, at), ["tenant_create"]);
    assert_eq!(events[0].tenant, tenant_id);
    assert_eq!(events[0].resource.id, tenant_id);
    assert_eq!(events[0].actor.principal_id, w.operator.id);

    let at = w.server.broker.audit_log().len();
    let made = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": tenant_id, "display_name": "Ines Admin"}),
    );
    let events = events_since(&w, at);
    assert_eq!(kinds_since(&w, at), ["principal_create"]);
    let made_id = made["principal"]["id"].as_str().unwrap();
    assert_eq!(events[0].resource.id, made_id);
    assert_eq!(events[0].tenant, tenant_id);

    let at = w.server.broker.audit_log().len();
    let (device_dir, public) = device(w.root.path(), "ines");
    let mut ines = custody_client::Client::for_device(&w.server.base, &device_dir).unwrap();
    let enrolled = ines
        .enrol(made["enrolment_code"].as_str().unwrap(), &public)
        .unwrap();
    assert_eq!(enrolled.status, 201, "{:?}", enrolled.json());
    let events = events_since(&w, at);
    assert_eq!(kinds_since(&w, at), ["device_enrol"]);
    assert_eq!(events[0].actor.principal_id, made_id);
    assert_eq!(
        Some(events[0].resource.id.as_str()),
        events[0].device.as_ref().map(|d| d.id.as_str())
    );
    ines.login().unwrap();

    let at = w.server.broker.audit_log().len();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "audited"}),
    );
    let case_id = case["id"].as_str().unwrap();
    assert_eq!(kinds_since(&w, at), ["case_open"]);
    assert_eq!(
        events_since(&w, at)[0].resource.case_id.as_deref(),
        Some(case_id)
    );

    let at = w.server.broker.audit_log().len();
    let assigned = json_call(
        &w.operator,
        "POST",
        &format!("/v1/cases/{case_id}/assignments"),
        json!({"agent_id": w.agent.id}),
    );
    assert!(assigned.status < 300, "{:?}", assigned.json());
    let events = events_since(&w, at);
    assert_eq!(kinds_since(&w, at), ["case_assign"]);
    assert_eq!(events[0].resource.id, w.agent.id);
    assert_eq!(events[0].resource.case_id.as_deref(), Some(case_id));
    assert_eq!(events[0].tenant, w.tenant);

    let at = w.server.broker.audit_log().len();
    let changed = json_call(
        &w.admin,
        "PUT",
        &format!("/v1/tenants/{}/support-mode", w.tenant),
        json!({"mode": "delegated"}),
    );
    assert_eq!(changed.status, 200, "{:?}", changed.json());
    let events = events_since(&w, at);
    assert_eq!(kinds_since(&w, at), ["support_mode_change"]);
    assert_eq!(events[0].tenant, w.tenant);
    assert_eq!(events[0].resource.id, "delegated");
    assert_eq!(events[0].actor.principal_id, w.admin.id);

    // A denied change appends no directory event and changes nothing.
    let at = w.server.broker.audit_log().len();
    let denied = json_call(&w.admin, "POST", "/v1/tenants", json!({"name": "Nope"}));
    assert_eq!(denied.status, 403);
    assert!(!kinds_since(&w, at).contains(&"tenant_create"));
}

#[test]
fn a_method_a_route_does_not_have_is_405_with_allow_as_problem_json() {
    let server = start();
    let client = reqwest::blocking::Client::new();
    for (method, path, allow) in [
        (reqwest::Method::DELETE, "/v1/me", "GET,HEAD"),
        (reqwest::Method::PUT, "/v1/token", "POST"),
        (reqwest::Method::GET, "/v1/revocations", "POST"),
        (
            reqwest::Method::PATCH,
            "/v1/cases/00000000-0000-0000-0000-000000000000/artifacts",
            "GET,HEAD,POST",
        ),
        (reqwest::Method::POST, "/healthz", "GET,HEAD"),
    ] {
        let reply = client
            .request(method.clone(), format!("{}{path}", server.base))
            .send()
            .unwrap();
        assert_eq!(reply.status().as_u16(), 405, "{method} {path}");
        let header = |name: &str| {
            reply
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let mut listed: Vec<String> = header("allow")
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        listed.sort();
        assert_eq!(listed.join(","), allow, "{method} {path}: Allow");
        assert_eq!(header("content-type"), "application/problem+json");
        let body: Value = serde_json::from_str(&reply.text().unwrap()).unwrap();
        assert_eq!(body["type"], "urn:custody:problem:method-not-allowed");
        assert_eq!(body["status"], 405);
    }
    // A path no route has is still 404, whatever the method.
    let reply = client
        .delete(format!("{}/v1/no-such-route", server.base))
        .send()
        .unwrap();
    assert_eq!(reply.status().as_u16(), 404);
}
