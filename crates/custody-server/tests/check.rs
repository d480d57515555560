//! `GET /v1/check` (`custody check`) over HTTP: a clean deployment reports clean; a
//! deployment broken behind the broker's back (a stored blob holding live credentials,
//! a 24 h grant, a service account without tenants) reports each violation with its
//! invariant id, and `clean` flips. Who may run it is a policy decision.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use common::{
    Person, create, enrol_and_login, planted_har, start_with_overrides, upload, world, world_on,
};
use custody_broker::atrest::{BlobWriter, Kek};
use custody_store::{
    ArtifactId, BlobStore, NewApprovalRequest, NewGrant, NewPrincipal, PrincipalClass, PrincipalId,
    ServiceScope, TenantId,
};
use serde_json::{Value, json};

fn check(person: &Person) -> (u16, Value) {
    let reply = person
        .client
        .call("GET", "/v1/check", &custody_client::Body::Empty)
        .unwrap();
    let status = reply.status;
    (status, reply.json())
}

fn violations<'a>(report: &'a Value, invariant: &str, what: &str) -> Vec<&'a Value> {
    report["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["invariant"] == invariant && v["what"] == what)
        .collect()
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

#[test]
fn clean_deployment_reports_clean_and_each_planted_break_shows_with_its_invariant() {
    let w = world();
    let case = create(
        &w.admin,
        &format!("/v1/tenants/{}/cases", w.tenant),
        json!({"title": "SSO loop"}),
    );
    let case_id = case["id"].as_str().unwrap().to_owned();
    let artifact = upload(&w.admin, &case_id);
    let artifact_id = artifact["id"].as_str().unwrap().to_owned();

    // Clean: the sanitized artifact re-scans clean, the log verifies, a bundle is active.
    let (status, report) = check(&w.operator);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["clean"], true, "{report:#}");
    assert_eq!(report["counts"]["artifacts"], 1);
    assert!(report["counts"]["audit_records"].as_u64().unwrap() > 0);
    assert!(report["policy_bundle_id"].is_string());
    assert!(
        report["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("not stored"))
    );

    // (1) The stored blob now holds the raw capture (live credentials), encrypted with
    // the tenant's data key exactly as the broker would.
    let (raw, planted) = planted_har();
    let store = w.server.broker.store();
    let stored = w
        .server
        .runtime
        .block_on(store.artifact(&ArtifactId::parse(&artifact_id).unwrap()))
        .unwrap();
    let wrapped = w
        .server
        .runtime
        .block_on(store.data_key(&stored.data_key_id))
        .unwrap();
    let kek_bytes = custody_broker::keys::read_private(&w.server.data.join("keys/kek.key"))
        .unwrap()
        .unwrap();
    let kek = Kek::from_bytes(kek_bytes.as_slice().try_into().unwrap());
    let key = kek
        .open_data_key(stored.tenant_id.as_str(), &wrapped.wrapped_key)
        .unwrap();
    let binding = format!("{}/{}", stored.tenant_id.as_str(), stored.blob_key.as_str());
    let mut writer = BlobWriter::new(Vec::new(), &key, &binding).unwrap();
    std::io::Write::write_all(&mut writer, &raw).unwrap();
    let (sealed, _) = writer.finish().unwrap();
    let blobs = BlobStore::open(&w.server.data.join("blobs")).unwrap();
    assert!(blobs.delete(&stored.blob_key).unwrap());
    blobs.put(&stored.blob_key, sealed.as_slice()).unwrap();

    // (2) A grant approved for 24 hours, written straight into the store.
    let at = now();
    let tenant = TenantId::parse(&w.tenant).unwrap();
    let agent = PrincipalId::parse(&w.agent.id).unwrap();
    let grant = w
        .server
        .runtime
        .block_on(store.create_grant(&NewGrant {
            agent_id: agent.clone(),
            tenant_id: tenant.clone(),
            case_id: stored.case_id.clone(),
            actions: vec!["artifact.view".to_owned()],
            requested_at: at,
            expires_at: at + 24 * 3600,
            request_hash: [7; 32],
        }))
        .unwrap();
    let request = w
        .server
        .runtime
        .block_on(store.create_approval_request(&NewApprovalRequest {
            action: "grant.approve".to_owned(),
            tenant_id: Some(tenant.clone()),
            request_hash: [7; 32],
            requester_id: agent,
            parameters_json: "{}".to_owned(),
            grant_id: Some(grant.id.clone()),
            created_at: at,
            expires_at: at + 600,
        }))
        .unwrap();
    w.server
        .runtime
        .block_on(store.complete_approval(&request.id, true, at))
        .unwrap();

    // (3) A service account with an empty tenant list, written straight into the store.
    let account = w
        .server
        .runtime
        .block_on(store.create_principal(&NewPrincipal {
            class: PrincipalClass::ServiceAccount,
            tenant_id: None,
            display_name: "Wide scanner".to_owned(),
            groups: Vec::new(),
            service: Some(ServiceScope {
                function: "scan".to_owned(),
                tenants: Vec::new(),
            }),
            created_at: at,
        }))
        .unwrap();

    let reply = w
        .operator
        .client
        .call("GET", "/v1/check", &custody_client::Body::Empty)
        .unwrap();
    assert_eq!(reply.status, 200);
    let body = String::from_utf8(reply.body.clone()).unwrap();
    for value in &planted {
        assert!(!body.contains(value.as_str()), "the report leaks a value");
    }
    let report = reply.json();
    assert_eq!(report["clean"], false, "{report:#}");

    let i1 = violations(&report, "I1", "artifact.replayable");
    assert!(!i1.is_empty(), "{report:#}");
    for v in &i1 {
        assert_eq!(v["subject"], artifact_id.as_str());
        assert!(v["rule_id"].as_str().is_some_and(|r| !r.is_empty()));
        assert!(v["location"].as_str().is_some_and(|l| l.starts_with('/')));
    }

    let standing = violations(&report, "I6", "grant.standing_access");
    assert_eq!(standing.len(), 1, "{report:#}");
    assert_eq!(standing[0]["subject"], grant.id.as_str());

    let wide = violations(&report, "I6", "service_account.no_tenants");
    assert_eq!(wide.len(), 1, "{report:#}");
    assert_eq!(wide[0]["subject"], account.id.as_str());
}

#[test]
fn only_operators_and_security_reviewers_may_run_the_check() {
    let w = world();
    for person in [&w.agent, &w.admin] {
        let (status, body) = check(person);
        assert_eq!(status, 403, "{body}");
        assert!(body.get("violations").is_none());
    }
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Rita Review", "groups": ["security_reviewer"]}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let reviewer = enrol_and_login(&w.server, w.root.path(), "reviewer", &code);
    let (status, body) = check(&reviewer);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["clean"], true, "{body:#}");
}

#[test]
fn a_tampered_audit_log_and_an_unverifiable_stored_bundle_are_reported() {
    let w = world();
    let (status, report) = check(&w.operator);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["clean"], true, "{report:#}");

    // I5: the stored active bundle no longer verifies (the engine still runs the one
    // it loaded at start; a restart would refuse to come up on this one).
    w.server
        .runtime
        .block_on(w.server.broker.store().put_setting(
            custody_broker::POLICY_BUNDLE_SETTING,
            b"{\"not\":\"a bundle\"}",
            now(),
        ))
        .unwrap();
    // I4: one byte of a stored audit record flipped.
    let segment = common::files_under(&w.server.data.join("audit"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[40] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let (status, report) = check(&w.operator);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["clean"], false, "{report:#}");
    assert_eq!(
        violations(&report, "I5", "policy.bundle_unverifiable").len(),
        1,
        "{report:#}"
    );
    assert_eq!(
        violations(&report, "I4", "audit.verify_failed").len(),
        1,
        "{report:#}"
    );
}

#[test]
fn a_node_with_the_unsafe_baselines_switches_is_reported() {
    let overrides = custody_server::Overrides {
        dangerous: custody_broker::Dangerous {
            store_unsanitized: true,
            bearer_tokens: true,
        },
        ..custody_server::Overrides::default()
    };
    let w = world_on(start_with_overrides(|_| {}, overrides));
    let (status, report) = check(&w.operator);
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["clean"], false, "{report}");
    assert_eq!(violations(&report, "I1", "node.store_unsanitized").len(), 1);
    assert_eq!(violations(&report, "I2", "node.bearer_tokens").len(), 1);
}
