//! Revocation-bundle benchmark (issue 6 item 3, DESIGN §10 goals: one tenant fully
//! revoked within tau_max = 1 s; 134 tenants within 30 s).
//!
//! Starts a real server on loopback (SQLite and blobs in a temporary directory), an
//! operator, a support lead and a security reviewer, and N tenants (default 134),
//! each with K customer admins (default 2) enrolled with their own device key and
//! signed in. Then, through the HTTP API exactly as `custody incident` does:
//!
//! 1. one tenant alone: stage, approve (lead and reviewer), execute;
//! 2. all N tenants in one bundle: stage, approve (2 x N signatures), execute;
//!
//! and after each execution checks that every admin's next call is refused (401).
//! Reported: the wall time of each call as the client saw it, and the server's own
//! `effective_at_ms - started_at_ms` of the execution.
//!
//! Usage: `cargo bench -p custody-server --bench bundles -- [--tenants N] [--admins K]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "benchmark driver: a failed setup step must abort the run loudly"
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Person, World, create, enrol_and_login, json_call, pop_secret, start_with, world_on};
use custody_client::Body;
use serde_json::{Value, json};

struct Options {
    tenants: usize,
    admins: usize,
}

fn options() -> Options {
    let mut o = Options {
        tenants: 134,
        admins: 2,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).expect("a number");
        match arg.as_str() {
            "--tenants" => o.tenants = value(),
            "--admins" => o.admins = value(),
            // `cargo bench` passes `--bench`; other flags are not ours.
            _ => {}
        }
    }
    o
}

fn person(w: &World, body: Value, name: &str) -> Person {
    let code = create(&w.operator, "/v1/principals", body)["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), name, &code)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Stages a bundle for `tenants`, has `approvers` sign it, executes it, and checks
/// every admin is refused afterwards. Returns (stage, approve, execute, server) times.
fn run(
    w: &World,
    approvers: &[&Person],
    tenants: &[String],
    admins: &[Person],
) -> (Duration, Duration, Duration, i64) {
    let t = Instant::now();
    let staged = create(
        &w.operator,
        "/v1/revocation-bundles",
        json!({ "tenants": tenants }),
    );
    let stage = t.elapsed();
    let t = Instant::now();
    let mut approvals = serde_json::Map::new();
    for entry in staged["approval_requests"].as_array().unwrap() {
        let id = entry["approval_request_id"].as_str().unwrap();
        for p in approvers {
            let reply = p
                .client
                .approve(id, &p.id, &pop_secret(&p.device_dir))
                .unwrap();
            assert_eq!(reply.status, 200, "{:?}", reply.json());
        }
        approvals.insert(
            entry["tenant"].as_str().unwrap().to_owned(),
            entry["approval_request_id"].clone(),
        );
    }
    let approve = t.elapsed();
    for a in admins {
        assert_eq!(
            a.client.call("GET", "/v1/me", &Body::Empty).unwrap().status,
            200
        );
    }
    let t = Instant::now();
    let done = json_call(
        &w.operator,
        "POST",
        "/v1/revocation-bundles/executions",
        json!({ "bundle": staged["jws"], "approvals": approvals }),
    );
    let execute = t.elapsed();
    assert_eq!(done.status, 200, "{:?}", done.json());
    let done = done.json();
    let server =
        done["effective_at_ms"].as_i64().unwrap() - done["started_at_ms"].as_i64().unwrap();
    assert_eq!(done["tenants"].as_array().unwrap().len(), tenants.len());
    for a in admins {
        assert_eq!(
            a.client.call("GET", "/v1/me", &Body::Empty).unwrap().status,
            401,
            "an admin of a revoked tenant was still accepted"
        );
    }
    println!(
        "    epochs {}, device keys revoked {}, receipts {}",
        done["revoked"]["revoked"].as_array().unwrap().len(),
        done["revoked"]["devices_revoked"],
        done["revoked"]["receipts"].as_array().unwrap().len()
    );
    (stage, approve, execute, server)
}

fn main() {
    let opts = options();
    let setup = Instant::now();
    let w = world_on(start_with(|_| {}));
    let lead = person(
        &w,
        json!({"class": "support_agent", "display_name": "Lee Lead", "groups": ["support_lead"]}),
        "lead",
    );
    let reviewer = person(
        &w,
        json!({"class": "support_agent", "display_name": "Rita Review", "groups": ["security_reviewer"]}),
        "reviewer",
    );
    let mut tenants = Vec::with_capacity(opts.tenants);
    let mut admins = Vec::with_capacity(opts.tenants * opts.admins);
    for i in 0..opts.tenants {
        let tenant = create(&w.operator, "/v1/tenants", json!({"name": format!("T{i}")}))["id"]
            .as_str()
            .unwrap()
            .to_owned();
        for k in 0..opts.admins {
            admins.push(person(
                &w,
                json!({"class": "customer_admin", "tenant_id": tenant, "display_name": format!("A{i}-{k}")}),
                &format!("admin-{i}-{k}"),
            ));
        }
        tenants.push(tenant);
    }
    println!(
        "setup: {} tenants x {} admins (each its own device key, signed in) in {}",
        opts.tenants,
        opts.admins,
        ms(setup.elapsed())
    );
    let approvers = [&lead, &reviewer];

    // One tenant alone (the world's own tenant and its admin).
    println!("one tenant:");
    let (stage, approve, execute, server) = run(
        &w,
        &approvers,
        std::slice::from_ref(&w.tenant),
        std::slice::from_ref(&w.admin),
    );
    println!(
        "  stage {}, approve (2 signatures) {}, execute {} (server: started -> effective {server} ms)",
        ms(stage),
        ms(approve),
        ms(execute)
    );

    println!("{} tenants in one bundle:", tenants.len());
    let (stage, approve, execute, server) = run(&w, &approvers, &tenants, &admins);
    println!(
        "  stage {}, approve ({} signatures) {}, execute {} (server: started -> effective {server} ms)",
        ms(stage),
        2 * tenants.len(),
        ms(approve),
        ms(execute)
    );
    println!(
        "  every one of the {} admins refused (401) on the next call after the answer",
        admins.len()
    );
}
