//! The detection bus wired end to end (issue 6 items 1-2, DESIGN §9, I8), through
//! the HTTP API of a real server on loopback: the broker publishes its signals, the
//! watch judges them, and the broker contains what it finds.
//!
//! - A stolen access token replayed with another device key is refused, reported
//!   as a session hijack, and the victim's session is revoked: the legitimate
//!   client's next call is refused too (with the watch off it is still accepted).
//! - A service account reading artifacts of many tenants quickly is suspended and
//!   its tokens revoked; time-to-detect and time-to-revoke are in `/metrics`.
//! - Impossible travel: one principal signing in from two loopback source addresses
//!   (127.0.1.5, 127.0.2.5; all of 127.0.0.0/8 is local on Linux) that a GeoIP
//!   database written by this test places in London and Sydney.
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_possible_truncation,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Person, create, device, pop_secret, upload};
use custody_broker::Broker;
use custody_client::{Body, Client};
use mmdb::write_mmdb;
use serde_json::{Value, json};

/// A real server (API and metrics listeners) with an initialised operator.
struct Env {
    base: String,
    metrics: String,
    broker: Arc<Broker>,
    root: tempfile::TempDir,
    operator: Person,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

fn start(edit: impl FnOnce(&mut custody_server::Config)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (base, metrics, broker) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics = format!("http://{}", metrics_listener.local_addr().unwrap());
        let none = |_: &str| None;
        let mut config = custody_server::Config::resolve(
            None,
            &none,
            Some(data.clone()),
            Some(format!("127.0.0.1:{port}")),
        )
        .unwrap();
        edit(&mut config);
        let state = custody_server::open_state(config).await.unwrap();
        let broker = Arc::clone(&state.broker);
        let metrics_app = custody_server::metrics_app(Arc::clone(&state.metrics));
        tokio::spawn(async move { axum::serve(metrics_listener, metrics_app).await });
        tokio::spawn(custody_server::serve(listener, state));
        (format!("http://127.0.0.1:{port}"), metrics, broker)
    });
    let root = tempfile::tempdir().unwrap();
    let init = runtime
        .block_on(broker.initialize("Ops", &data.join("release-keys")))
        .unwrap();
    let operator = enrol(&base, root.path(), "op", &init.enrolment_code, None);
    Env {
        base,
        metrics,
        broker,
        root,
        operator,
        runtime,
        _dir: dir,
    }
}

fn enrol(base: &str, root: &Path, name: &str, code: &str, from: Option<IpAddr>) -> Person {
    let (device_dir, public) = device(root, name);
    let mut client = Client::for_device(base, &device_dir).unwrap();
    if let Some(address) = from {
        client = client.with_local_address(address).unwrap();
    }
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

impl Env {
    fn tenant(&self, name: &str) -> String {
        create(&self.operator, "/v1/tenants", json!({ "name": name }))["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn code(&self, body: Value) -> String {
        create(&self.operator, "/v1/principals", body)["enrolment_code"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    fn admin_of(&self, tenant: &str, name: &str) -> Person {
        let code = self
            .code(json!({"class": "customer_admin", "tenant_id": tenant, "display_name": name}));
        enrol(&self.base, self.root.path(), name, &code, None)
    }

    fn agent(&self, name: &str, groups: &[&str]) -> Person {
        let code =
            self.code(json!({"class": "support_agent", "display_name": name, "groups": groups}));
        enrol(&self.base, self.root.path(), name, &code, None)
    }

    fn scrape(&self) -> String {
        reqwest::blocking::get(format!("{}/metrics", self.metrics))
            .unwrap()
            .text()
            .unwrap()
    }

    /// Waits until `/metrics` has a sample line starting with `prefix` whose value
    /// is at least 1, and returns the exposition.
    fn wait_metric(&self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = self.scrape();
            if sample(&text, prefix).is_some_and(|v| v >= 1.0) {
                return text;
            }
            assert!(
                Instant::now() < deadline,
                "{prefix} never reached 1:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Every audit event of the log, with its raw record.
fn audit(env: &Env) -> Vec<(custody_audit::event::AuditEvent, Vec<u8>)> {
    use custody_audit::store::LogStore as _;
    let log = env.broker.audit_log();
    let mut out = Vec::new();
    log.store()
        .scan(0, log.len(), &mut |_, record| {
            out.push((
                custody_audit::record::decode(record).unwrap(),
                record.to_vec(),
            ));
            true
        })
        .unwrap();
    out
}

/// The value of the first sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn status(person: &Person, method: &str, path: &str) -> u16 {
    person
        .client
        .call(method, path, &Body::Empty)
        .unwrap()
        .status
}

/// Polls `GET /v1/me` as `person` until it is refused (401) or `within` passes;
/// returns the last status.
fn refused_within(person: &Person, within: Duration) -> u16 {
    let deadline = Instant::now() + within;
    loop {
        let s = status(person, "GET", "/v1/me");
        if s == 401 || Instant::now() >= deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The victim signs in; an attacker who captured its access token replays it from
/// another client with its own device key. Returns (env, victim).
fn replay_stolen_token(watch: bool) -> (Env, Person) {
    let env = start(|c| c.watch.enabled = watch);
    let tenant = env.tenant("Acme");
    let victim = env.admin_of(&tenant, "victim");
    assert_eq!(status(&victim, "GET", "/v1/me"), 200);
    let stolen = victim.client.token().unwrap().to_owned();
    let key = custody_token::Ed25519KeyPair::generate(&mut rand_core::OsRng);
    let mut attacker = Client::new(&env.base, key).unwrap();
    attacker.set_token(stolen.clone());
    let reply = attacker.call("GET", "/v1/me", &Body::Empty).unwrap();
    assert_eq!(reply.status, 401, "a token bound to another key is refused");
    // The token never reaches a metric nor an audit record.
    assert!(!env.scrape().contains(&stolen));
    let (_, signature) = stolen.rsplit_once('.').unwrap();
    assert!(
        audit(&env)
            .iter()
            .all(|(_, record)| { !String::from_utf8_lossy(record).contains(signature) })
    );
    (env, victim)
}

#[test]
fn a_stolen_token_replayed_with_another_key_revokes_the_victims_session() {
    let (env, victim) = replay_stolen_token(true);
    assert_eq!(
        refused_within(&victim, Duration::from_secs(10)),
        401,
        "the hijacked session must be revoked"
    );
    let text =
        env.wait_metric("custody_watch_time_to_revoke_seconds_count{kind=\"session_hijack\"}");
    assert_eq!(
        sample(
            &text,
            "custody_watch_findings_total{kind=\"session_hijack\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "custody_watch_actions_total{action=\"revoke_session\",outcome=\"effective\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "custody_watch_bus_dropped_total"),
        Some(0.0),
        "{text}"
    );
    // The finding and each step are in the audit log, linked by the finding's id.
    let events = audit(&env);
    let finding = events
        .iter()
        .map(|(e, _)| e)
        .find(|e| {
            e.kind.as_str() == "finding"
                && e.actor.principal_id == victim.id
                && e.decision == custody_audit::event::Decision::Deny
        })
        .expect("a blocking finding event about the victim");
    let linked: Vec<_> = events
        .iter()
        .map(|(e, _)| e)
        .filter(|e| e.kind.as_str() == "containment" && e.trace_id == finding.trace_id)
        .map(|e| e.resource.kind.as_str())
        .collect();
    assert!(linked.contains(&"session:revoke_session"), "{linked:?}");
    assert!(
        linked.contains(&"principal:revoke_principal_tokens"),
        "{linked:?}"
    );
    // The victim signs in again with its own device (a second later: revocation
    // epochs are in seconds): a fresh session works.
    std::thread::sleep(Duration::from_millis(1_100));
    let mut victim = victim;
    victim.client.login().unwrap();
    assert_eq!(status(&victim, "GET", "/v1/me"), 200);
    drop(env);
}

#[test]
fn without_the_watch_the_victims_session_stays_usable() {
    let (env, victim) = replay_stolen_token(false);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        refused_within(&victim, Duration::from_millis(300)),
        200,
        "nothing but the watch revokes the session"
    );
    drop(env);
}

#[test]
fn a_forged_token_naming_the_victim_does_not_get_its_session_revoked() {
    let env = start(|_| {});
    let tenant = env.tenant("Acme");
    let victim = env.admin_of(&tenant, "victim");
    // The victim's claims under a signature that does not verify: anyone can write
    // these ids, so acting on them would let anyone revoke anyone's session.
    let token = victim.client.token().unwrap().to_owned();
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let flipped = if signature.starts_with('A') { "B" } else { "A" };
    let rest: String = signature.chars().skip(1).collect();
    let forged = format!("{signed}.{flipped}{rest}");
    let key = custody_token::Ed25519KeyPair::generate(&mut rand_core::OsRng);
    let mut attacker = Client::new(&env.base, key).unwrap();
    attacker.set_token(forged);
    for _ in 0..3 {
        assert_eq!(
            attacker.call("GET", "/v1/me", &Body::Empty).unwrap().status,
            401
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(refused_within(&victim, Duration::from_millis(300)), 200);
    let text = env.scrape();
    assert_eq!(
        sample(
            &text,
            "custody_watch_findings_total{kind=\"session_hijack\"}"
        ),
        None,
        "{text}"
    );
}

#[test]
fn a_service_account_sweeping_tenants_is_suspended_and_measured() {
    let env = start(|c| {
        c.watch.detect.access.cross_tenant_alert.count = 2;
        c.watch.detect.access.cross_tenant_block.count = 3;
    });
    let mut artifacts = Vec::new();
    let mut tenants = Vec::new();
    for n in 0..3 {
        let tenant = env.tenant(&format!("Tenant {n}"));
        let admin = env.admin_of(&tenant, &format!("admin{n}"));
        let case = create(
            &admin,
            &format!("/v1/tenants/{tenant}/cases"),
            json!({"title": "sweep"}),
        );
        artifacts.push(
            upload(&admin, case["id"].as_str().unwrap())["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
        tenants.push(tenant);
    }
    // A service account over the three tenants, through its quorum.
    let requester_code =
        env.code(json!({"class": "operator", "display_name": "Olga", "groups": ["support_lead"]}));
    let requester = enrol(&env.base, env.root.path(), "olga", &requester_code, None);
    let lead = env.agent("lead", &["support_lead"]);
    let reviewer = env.agent("rita", &["security_reviewer"]);
    let asked = create(
        &requester,
        "/v1/service-accounts",
        json!({"display_name": "Scanner", "function": "scan", "tenants": tenants}),
    );
    let approval = asked["approval_request_id"].as_str().unwrap();
    for approver in [&lead, &reviewer] {
        let reply = approver
            .client
            .approve(approval, &approver.id, &pop_secret(&approver.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "{:?}", reply.json());
    }
    let created = create(
        &requester,
        "/v1/service-accounts/completions",
        json!({"approval_request_id": approval}),
    );
    let code = created["enrolment_code"].as_str().unwrap();
    let sa = enrol(&env.base, env.root.path(), "sa", code, None);

    // It reads one artifact in each tenant, quickly: the third tenant is the pattern.
    for artifact in &artifacts {
        assert_eq!(
            status(&sa, "GET", &format!("/v1/artifacts/{artifact}/view")),
            200
        );
    }
    assert_eq!(
        refused_within(&sa, Duration::from_secs(10)),
        401,
        "the sweeping account must be contained"
    );
    let text =
        env.wait_metric("custody_watch_time_to_revoke_seconds_count{kind=\"cross_tenant_block\"}");
    assert_eq!(
        sample(
            &text,
            "custody_watch_findings_total{kind=\"cross_tenant_block\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        sample(
            &text,
            "custody_watch_time_to_detect_seconds_count{kind=\"cross_tenant_block\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
    for action in [
        "suspend_principal",
        "revoke_principal_tokens",
        "freeze_tenant_exports",
    ] {
        let line =
            format!("custody_watch_actions_total{{action=\"{action}\",outcome=\"effective\"}}");
        assert!(
            sample(&text, &line).is_some_and(|v| v >= 1.0),
            "{action}: {text}"
        );
    }
    // Suspended: it cannot sign in again; each tenant's exports are frozen.
    let mut sa = sa;
    assert!(
        sa.client.login().is_err(),
        "a suspended account cannot sign in"
    );
    for tenant in &tenants {
        let id = custody_store::TenantId::parse(tenant).unwrap();
        let freeze = env.runtime.block_on(env.broker.export_freeze(&id)).unwrap();
        assert!(freeze.is_some(), "exports of {tenant} must be frozen");
    }
}

#[test]
fn signing_in_from_london_then_sydney_is_impossible_travel() {
    let london: IpAddr = "127.0.1.5".parse().unwrap();
    let sydney: IpAddr = "127.0.2.5".parse().unwrap();
    let geo = tempfile::tempdir().unwrap();
    let db = geo.path().join("city.mmdb");
    std::fs::write(
        &db,
        write_mmdb(&[
            ("127.0.1.0", 24, 51.5074, -0.1278, 20),
            ("127.0.2.0", 24, -33.8688, 151.2093, 20),
        ]),
    )
    .unwrap();
    let env = start(|c| c.watch.geoip_db = Some(db.clone()));
    let tenant = env.tenant("Acme");
    let code =
        env.code(json!({"class": "customer_admin", "tenant_id": tenant, "display_name": "Ada"}));
    let in_london = enrol(&env.base, env.root.path(), "ada", &code, Some(london));
    assert_eq!(status(&in_london, "GET", "/v1/me"), 200);
    // The same device signs in from Sydney a moment later.
    let mut in_sydney = Client::for_device(&env.base, &in_london.device_dir)
        .unwrap()
        .with_local_address(sydney)
        .unwrap();
    in_sydney.login().unwrap();
    assert_eq!(
        refused_within(&in_london, Duration::from_secs(10)),
        401,
        "impossible travel revokes the principal's tokens"
    );
    let text = env.wait_metric("custody_watch_findings_total{kind=\"impossible_travel\"}");
    assert!(
        sample(
            &text,
            "custody_watch_actions_total{action=\"revoke_principal_tokens\",outcome=\"effective\"}"
        )
        .is_some_and(|v| v >= 1.0),
        "{text}"
    );
}

/// A MaxMind DB writer for the test (as in custody-watch's `tests/geoip.rs`).
mod mmdb {
    /// A value of the MaxMind DB data section.
    enum Value {
        Str(&'static str),
        Double(f64),
        U16(u16),
        U32(u32),
        U64(u64),
        Map(Vec<(&'static str, Value)>),
        Array(Vec<Value>),
    }

    fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
        let (first, extra): (u8, Vec<u8>) = if size < 29 {
            (size as u8, vec![])
        } else if size < 285 {
            (29, vec![(size - 29) as u8])
        } else {
            let s = size - 285;
            (30, vec![(s >> 8) as u8, s as u8])
        };
        if kind <= 7 {
            out.push((kind << 5) | first);
        } else {
            out.push(first);
            out.push(kind - 7);
        }
        out.extend(extra);
    }

    fn be_minimal(v: u64) -> Vec<u8> {
        let bytes = v.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        bytes[skip..].to_vec()
    }

    fn encode(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Str(s) => {
                control(out, 2, s.len());
                out.extend_from_slice(s.as_bytes());
            }
            Value::Double(d) => {
                control(out, 3, 8);
                out.extend_from_slice(&d.to_be_bytes());
            }
            Value::U16(n) => {
                let b = be_minimal(u64::from(*n));
                control(out, 5, b.len());
                out.extend(b);
            }
            Value::U32(n) => {
                let b = be_minimal(u64::from(*n));
                control(out, 6, b.len());
                out.extend(b);
            }
            Value::U64(n) => {
                let b = be_minimal(*n);
                control(out, 9, b.len());
                out.extend(b);
            }
            Value::Map(pairs) => {
                control(out, 7, pairs.len());
                for (k, v) in pairs {
                    encode(&Value::Str(k), out);
                    encode(v, out);
                }
            }
            Value::Array(items) => {
                control(out, 11, items.len());
                for item in items {
                    encode(item, out);
                }
            }
        }
    }

    #[derive(Clone, Copy)]
    enum Rec {
        Empty,
        Node(usize),
        Data(usize),
    }

    /// Writes an IPv4 city database mapping each (network, prefix length) to a location.
    pub(super) fn write_mmdb(networks: &[(&str, u8, f64, f64, u16)]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
        for (net, len, lat, lon, acc) in networks {
            let offset = data.len();
            encode(
                &Value::Map(vec![(
                    "location",
                    Value::Map(vec![
                        ("accuracy_radius", Value::U16(*acc)),
                        ("latitude", Value::Double(*lat)),
                        ("longitude", Value::Double(*lon)),
                    ]),
                )]),
                &mut data,
            );
            let addr: std::net::Ipv4Addr = net.parse().unwrap();
            let bits = u32::from(addr);
            let mut node = 0;
            for depth in 0..*len {
                let bit = ((bits >> (31 - depth)) & 1) as usize;
                if depth + 1 == *len {
                    nodes[node][bit] = Rec::Data(offset);
                } else {
                    node = match nodes[node][bit] {
                        Rec::Node(n) => n,
                        _ => {
                            nodes.push([Rec::Empty, Rec::Empty]);
                            let n = nodes.len() - 1;
                            nodes[node][bit] = Rec::Node(n);
                            n
                        }
                    };
                }
            }
        }
        let count = nodes.len();
        let mut out = Vec::new();
        for pair in &nodes {
            for rec in pair {
                let v = match *rec {
                    Rec::Empty => count,
                    Rec::Node(n) => n,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
            }
        }
        out.extend_from_slice(&[0u8; 16]);
        out.extend(data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        encode(
            &Value::Map(vec![
                ("binary_format_major_version", Value::U16(2)),
                ("binary_format_minor_version", Value::U16(0)),
                ("build_epoch", Value::U64(1_764_000_000)),
                ("database_type", Value::Str("custody-Test-City")),
                (
                    "description",
                    Value::Map(vec![("en", Value::Str("custody test"))]),
                ),
                ("ip_version", Value::U16(4)),
                ("languages", Value::Array(vec![Value::Str("en")])),
                ("node_count", Value::U32(count as u32)),
                ("record_size", Value::U16(24)),
            ]),
            &mut out,
        );
        out
    }
}
