//! The end-to-end harness shared by the server's integration tests: a real server on
//! loopback over a real SQLite database and blob directory, principals enrolled with
//! real device keys, and calls signed with DPoP proofs by `custody-client`.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of the shared harness"
)]
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use custody_broker::Broker;
use custody_client::{Body, Client, Reply};
use custody_seal::{DeviceIdentity, OsEntropy};
use serde_json::{Value, json};

pub struct Server {
    pub base: String,
    pub data: PathBuf,
    _dir: tempfile::TempDir,
    pub broker: Arc<Broker>,
    pub runtime: tokio::runtime::Runtime,
}

pub fn start() -> Server {
    start_with(|_| {})
}

/// A server whose configuration `edit` adjusts (e.g. a small upload limit).
pub fn start_with(edit: impl FnOnce(&mut custody_server::Config)) -> Server {
    start_with_overrides(edit, custody_server::Overrides::default())
}

/// [`start_with`] with what only code sets (clock, unsafe-baseline switches).
pub fn start_with_overrides(
    edit: impl FnOnce(&mut custody_server::Config),
    overrides: custody_server::Overrides,
) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (base, broker) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let none = |_: &str| None;
        let mut config = custody_server::Config::resolve(
            None,
            &none,
            Some(data.clone()),
            Some(addr.to_string()),
        )
        .unwrap();
        // These tests check other properties, and some attack on purpose (a token
        // copied to another device) or count audit events exactly; the watch would
        // contain the first and add findings to the second. tests/watch.rs runs it.
        config.watch.enabled = false;
        edit(&mut config);
        let state = custody_server::open_state_with(config, overrides)
            .await
            .unwrap();
        let broker = Arc::clone(&state.broker);
        tokio::spawn(custody_server::serve(listener, state));
        (format!("http://{addr}"), broker)
    });
    Server {
        base,
        data,
        _dir: dir,
        broker,
        runtime,
    }
}

pub struct Person {
    pub client: Client,
    pub device_dir: PathBuf,
    pub id: String,
}

pub fn device(root: &Path, name: &str) -> (PathBuf, String) {
    let dir = root.join(name);
    let identity = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    identity.save(&dir).unwrap();
    (dir, identity.public().to_json())
}

pub fn enrol_and_login(server: &Server, root: &Path, name: &str, code: &str) -> Person {
    let (device_dir, public) = device(root, name);
    let mut client = Client::for_device(&server.base, &device_dir).unwrap();
    let reply = client.enrol(code, &public).unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    let id = reply.json()["principal_id"].as_str().unwrap().to_owned();
    client.login().unwrap();
    Person {
        client,
        device_dir,
        id,
    }
}

pub fn json_call(person: &Person, method: &str, path: &str, body: Value) -> Reply {
    person.client.call(method, path, &Body::Json(body)).unwrap()
}

pub fn create(person: &Person, path: &str, body: Value) -> Value {
    let reply = json_call(person, "POST", path, body);
    assert_eq!(reply.status, 201, "{path}: {:?}", reply.json());
    reply.json()
}

pub struct World {
    pub server: Server,
    pub root: tempfile::TempDir,
    pub operator: Person,
    pub admin: Person,
    pub agent: Person,
    pub tenant: String,
    pub other_tenant: String,
}

pub fn world() -> World {
    world_on(start())
}

/// [`world`] on a server started by the caller.
pub fn world_on(server: Server) -> World {
    let root = tempfile::tempdir().unwrap();
    let init = server
        .runtime
        .block_on(
            server
                .broker
                .initialize("Ops", &server.data.join("release-keys")),
        )
        .unwrap();
    let operator = enrol_and_login(&server, root.path(), "op", &init.enrolment_code);
    let tenant = create(&operator, "/v1/tenants", json!({"name": "Acme"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other_tenant = create(&operator, "/v1/tenants", json!({"name": "Globex"}))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_code = create(
        &operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": tenant, "display_name": "Ada Admin"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let agent_code = create(
        &operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Sam Support", "groups": ["support_lead"]}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin = enrol_and_login(&server, root.path(), "admin", &admin_code);
    let agent = enrol_and_login(&server, root.path(), "agent", &agent_code);
    World {
        server,
        root,
        operator,
        admin,
        agent,
        tenant,
        other_tenant,
    }
}

pub fn planted_har() -> (Vec<u8>, Vec<String>) {
    let mut har = Vec::new();
    let plants = custody_corpus::planted_har(7, 200_000, &mut har).unwrap();
    let values = plants.iter().map(|p| p.expose_value().to_owned()).collect();
    (har, values)
}

pub fn upload(person: &Person, case_id: &str) -> Value {
    let (har, _) = planted_har();
    let reply = person
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Bytes(har, "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(reply.status, 201, "{:?}", reply.json());
    reply.json()
}

pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

pub fn pop_secret(dir: &Path) -> [u8; 32] {
    *DeviceIdentity::load(dir).unwrap().pop_key().secret_bytes()
}

/// A second support agent in the `support_lead` approver group, enrolled and signed in.
pub fn support_lead(w: &World) -> Person {
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Lee Lead", "groups": ["support_lead"]}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), "lead", &code)
}
