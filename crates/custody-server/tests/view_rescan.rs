//! I1 again at the view (DESIGN §2, §4): a page is re-scanned with the current rules
//! before it is sent. An artifact stored without sanitizing (here by a broker opened
//! with the unsafe baseline's `store_unsanitized`, standing in for an artifact stored
//! under older rules) is refused at the view by a normal broker over the same data,
//! while the unsafe broker, which skips the re-scan, shows the credential: the check
//! is what stops it.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Person, create, device};
use custody_client::{Body, Client};
use serde_json::json;

struct Server {
    base: String,
    broker: Arc<custody_broker::Broker>,
    runtime: tokio::runtime::Runtime,
}

/// A server over `data` on `port` (0: any; the audit log's origin names the
/// address, so a restart must reuse it).
fn start(data: &Path, dangerous: custody_broker::Dangerous, port: u16) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (base, broker) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let none = |_: &str| None;
        let mut config = custody_server::Config::resolve(
            None,
            &none,
            Some(data.to_owned()),
            Some(addr.to_string()),
        )
        .unwrap();
        config.watch.enabled = false;
        let overrides = custody_server::Overrides {
            dangerous,
            ..custody_server::Overrides::default()
        };
        let state = custody_server::open_state_with(config, overrides)
            .await
            .unwrap();
        let broker = Arc::clone(&state.broker);
        tokio::spawn(custody_server::serve(listener, state));
        (format!("http://{addr}"), broker)
    });
    Server {
        base,
        broker,
        runtime,
    }
}

fn sign_in(base: &str, device_dir: &Path) -> Client {
    let mut client = Client::for_device(base, device_dir).unwrap();
    client.login().unwrap();
    client
}

fn view(client: &Client, artifact: &str, detail: &str) -> custody_client::Reply {
    client
        .call(
            "GET",
            &format!("/v1/artifacts/{artifact}/view?limit=200&detail={detail}"),
            &Body::Empty,
        )
        .unwrap()
}

#[test]
fn a_stored_credential_is_refused_at_the_view_and_shown_without_the_check() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let unsafe_broker = custody_broker::Dangerous {
        store_unsanitized: true,
        bearer_tokens: false,
    };
    let server = start(&data, unsafe_broker, 0);
    let port: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let init = server
        .runtime
        .block_on(server.broker.initialize("Ops", &data.join("release-keys")))
        .unwrap();
    let (op_dir, op_public) = device(dir.path(), "op");
    let op = Client::for_device(&server.base, &op_dir).unwrap();
    assert_eq!(
        op.enrol(&init.enrolment_code, &op_public).unwrap().status,
        201
    );
    let op = Person {
        client: sign_in(&server.base, &op_dir),
        device_dir: op_dir.clone(),
        id: String::new(),
    };
    let tenant = create(&op, "/v1/tenants", json!({"name": "Acme"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = create(
        &op,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": tenant, "display_name": "Ada"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let (admin_dir, admin_public) = device(dir.path(), "admin");
    let admin = Client::for_device(&server.base, &admin_dir).unwrap();
    assert_eq!(admin.enrol(&code, &admin_public).unwrap().status, 201);
    let admin = Person {
        client: sign_in(&server.base, &admin_dir),
        device_dir: admin_dir.clone(),
        id: String::new(),
    };
    let case = create(
        &admin,
        &format!("/v1/tenants/{tenant}/cases"),
        json!({"title": "old rules"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (har, planted) = common::planted_har();
    let reply = admin
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case}/artifacts"),
            &Body::Bytes(har, "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    let artifact = reply.json()["id"].as_str().unwrap().to_owned();
    // The unsafe broker shows the credential: without the re-scan nothing stops it.
    let shown = view(&admin.client, &artifact, "full");
    assert_eq!(shown.status, 200);
    let text = String::from_utf8_lossy(&shown.body).into_owned();
    assert!(planted.iter().any(|p| text.contains(p.as_str())));
    drop(admin);
    drop(op);
    let Server {
        broker, runtime, ..
    } = server;
    drop(broker);
    runtime.shutdown_timeout(std::time::Duration::from_secs(5));

    // A normal broker over the same data refuses every page that holds it.
    let server = start(&data, custody_broker::Dangerous::default(), port);
    let admin = sign_in(&server.base, &admin_dir);
    let refused = view(&admin, &artifact, "full");
    assert_eq!(refused.status, 422, "{:?}", refused.json());
    let body = String::from_utf8_lossy(&refused.body).into_owned();
    assert!(planted.iter().all(|p| !body.contains(p.as_str())), "{body}");
    // The summary (time, method, URL, status) of this capture holds none of the
    // planted values: it is shown, and re-scanned clean.
    let summary = view(&admin, &artifact, "summary");
    assert_eq!(summary.status, 200);
    let body = String::from_utf8_lossy(&summary.body).into_owned();
    assert!(planted.iter().all(|p| !body.contains(p.as_str())), "{body}");
}
