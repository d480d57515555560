//! The end-to-end harness shared by the server's integration tests: a real server on
//! loopback over a real database and blob directory, principals enrolled with real
//! device keys, and calls signed with DPoP proofs by `custody-client`.
//!
//! The database is a fresh SQLite file in the server's data directory, or, with
//! `CUSTODY_TEST_BACKEND=postgres`, a fresh schema on the PostgreSQL server at
//! `CUSTODY_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`),
//! dropped when the server is (DESIGN §11: the same tests on both backends;
//! `scripts/test.sh` runs them both ways).
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
    /// The PostgreSQL schema of this server (admin URL, schema), dropped with it.
    pg_schema: Option<(String, String)>,
}

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// True when `CUSTODY_TEST_BACKEND=postgres` asks for PostgreSQL; any other value
/// than `sqlite` (the default) or `postgres` fails the test.
pub fn postgres_backend() -> bool {
    match std::env::var("CUSTODY_TEST_BACKEND").as_deref() {
        Err(_) | Ok("sqlite") => false,
        Ok("postgres") => true,
        Ok(other) => panic!("CUSTODY_TEST_BACKEND={other:?}: expected sqlite or postgres"),
    }
}

/// A fresh schema on the test PostgreSQL server: (admin URL, schema, the URL the
/// server's store opens, with the schema as its search path).
async fn create_pg_schema() -> (String, String, String) {
    use sqlx::Connection as _;
    let url =
        std::env::var("CUSTODY_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned());
    // The URL is not printed: it may carry a password.
    let mut admin = sqlx::postgres::PgConnection::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("CUSTODY_TEST_BACKEND=postgres but CUSTODY_TEST_POSTGRES_URL (default {DEFAULT_PG_URL}) is not reachable: {e}")
        });
    let mut raw = [0u8; 8];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut raw);
    let schema = format!(
        "custody_server_test_{}",
        raw.iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let separator = if url.contains('?') { '&' } else { '?' };
    let store_url = format!("{url}{separator}options=-c%20search_path%3D{schema}");
    (url, schema, store_url)
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some((url, schema)) = self.pg_schema.take() else {
            return;
        };
        // From a thread with its own runtime: this may run inside a test's runtime.
        let _ = std::thread::spawn(move || {
            use sqlx::Connection as _;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = sqlx::postgres::PgConnection::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
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
    let (base, broker, pg_schema) = runtime.block_on(async {
        let pg = if postgres_backend() {
            Some(create_pg_schema().await)
        } else {
            None
        };
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
        config.database_url = pg.as_ref().map(|(_, _, store_url)| store_url.clone());
        edit(&mut config);
        let state = custody_server::open_state_with(config, overrides)
            .await
            .unwrap();
        let broker = Arc::clone(&state.broker);
        // On PostgreSQL the embedded default must not have been opened beside it.
        assert_eq!(pg.is_some(), !data.join("custody.db").exists());
        tokio::spawn(custody_server::serve(listener, state));
        let pg_schema = pg.map(|(url, schema, _)| (url, schema));
        (format!("http://{addr}"), broker, pg_schema)
    });
    Server {
        base,
        data,
        _dir: dir,
        broker,
        runtime,
        pg_schema,
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
