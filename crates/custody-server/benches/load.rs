//! Load benchmark of the HTTP service at a fixed request rate (issue 5, item 7).
//!
//! Starts a real server on loopback (SQLite and blobs in a temporary directory under
//! `/var/tmp`), sets up the world of the end-to-end tests through the public API (an
//! operator, two tenants, a customer admin per tenant, a support agent holding an
//! approved view grant, one without a grant, and a ~1 MB HAR uploaded to a case), then
//! drives each scenario open-loop: send times are scheduled in advance at the target
//! rate and latency is measured from the *scheduled* time, so a stalled server is
//! charged for the requests it delayed (no coordinated omission).
//!
//! Every request carries the access token and a fresh DPoP proof (a unique `jti`, the
//! current server nonce); the server refuses replays, so a replaying load generator
//! such as `wrk` cannot be used. The client here is a minimal HTTP/1.1 keep-alive
//! client over `std::net::TcpStream` (one connection per load thread) so that little
//! client CPU competes with the server on the shared cores; proof signing time is
//! measured separately and reported.
//!
//! Usage: `cargo bench -p custody-server --bench load -- [--secs N] [--warmup N]
//! [--rate R] [--upload-rate R] [--upload-secs N] [--threads N] [SCENARIO...]`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    reason = "benchmark driver: a failed setup step must abort the run loudly"
)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use custody_broker::Broker;
use custody_client::{Body, Client};
use custody_seal::{DeviceIdentity, OsEntropy};
use custody_token::dpop::ProofRequest;
use custody_token::{Ed25519KeyPair, Timestamp, create_proof};
use rand_core::OsRng;
use serde_json::{Value, json};

// ---------------------------------------------------------------- options

struct Options {
    secs: f64,
    warmup: f64,
    rate: f64,
    upload_rate: f64,
    upload_secs: f64,
    threads: usize,
    only: Vec<String>,
}

fn options() -> Options {
    let mut o = Options {
        secs: 10.0,
        warmup: 2.0,
        rate: 500.0,
        upload_rate: 10.0,
        upload_secs: 10.0,
        threads: 32,
        only: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> f64 {
            let text = args
                .next()
                .unwrap_or_else(|| panic!("{name} needs a value"));
            text.parse()
                .unwrap_or_else(|_| panic!("{name}: not a number: {text}"))
        };
        match arg.as_str() {
            "--bench" => {}
            "--secs" => o.secs = value("--secs"),
            "--warmup" => o.warmup = value("--warmup"),
            "--rate" => o.rate = value("--rate"),
            "--upload-rate" => o.upload_rate = value("--upload-rate"),
            "--upload-secs" => o.upload_secs = value("--upload-secs"),
            "--threads" => o.threads = value("--threads") as usize,
            other if other.starts_with("--") => panic!("unknown option {other}"),
            other => o.only.push(other.to_owned()),
        }
    }
    o
}

// ---------------------------------------------------------------- the world

struct Server {
    base: String,
    addr: SocketAddr,
    data: PathBuf,
    broker: Arc<Broker>,
    runtime: tokio::runtime::Runtime,
    _dir: tempfile::TempDir,
}

/// A server on loopback with two runtime workers (the machine has two cores). Its
/// threads are named `srv-*` and blocking threads are kept alive for the whole run,
/// so per-thread CPU accounting sees every server thread at start and end.
fn start_server() -> Server {
    let dir = tempfile::Builder::new()
        .prefix("custody-load-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let data = dir.path().join("data");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("srv-tokio")
        .thread_keep_alive(Duration::from_secs(3600))
        .enable_all()
        .build()
        .unwrap();
    let (addr, broker) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let none = |_: &str| None;
        let config = custody_server::Config::resolve(
            None,
            &none,
            Some(data.clone()),
            Some(addr.to_string()),
        )
        .unwrap();
        let state = custody_server::open_state(config).await.unwrap();
        let broker = Arc::clone(&state.broker);
        tokio::spawn(custody_server::serve(listener, state));
        (addr, broker)
    });
    Server {
        base: format!("http://{addr}"),
        addr,
        data,
        broker,
        runtime,
        _dir: dir,
    }
}

struct Person {
    client: Client,
    device_dir: PathBuf,
    id: String,
}

fn enrol(server: &Server, root: &Path, name: &str, code: &str) -> Person {
    let device_dir = root.join(name);
    let identity = DeviceIdentity::generate(&mut OsEntropy).unwrap();
    identity.save(&device_dir).unwrap();
    let mut client = Client::for_device(&server.base, &device_dir).unwrap();
    let reply = client.enrol(code, &identity.public().to_json()).unwrap();
    assert_eq!(reply.status, 201, "enrol {name}: {:?}", reply.json());
    let id = reply.json()["principal_id"].as_str().unwrap().to_owned();
    client.login().unwrap();
    Person {
        client,
        device_dir,
        id,
    }
}

fn create(person: &Person, path: &str, body: Value) -> Value {
    let reply = person.client.call("POST", path, &Body::Json(body)).unwrap();
    assert_eq!(reply.status, 201, "{path}: {:?}", reply.json());
    reply.json()
}

fn str_of(value: &Value, key: &str) -> String {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {value}"))
        .to_owned()
}

fn principal(operator: &Person, body: Value) -> String {
    str_of(&create(operator, "/v1/principals", body), "enrolment_code")
}

fn pop_secret(dir: &Path) -> [u8; 32] {
    *DeviceIdentity::load(dir).unwrap().pop_key().secret_bytes()
}

struct World {
    server: Server,
    _root: tempfile::TempDir,
    admin: Person,
    other_admin: Person,
    agent: Person,
    stranger: Person,
    case_id: String,
    artifact_id: String,
    har: Arc<Vec<u8>>,
}

struct People {
    operator: Person,
    admin: Person,
    other_admin: Person,
    agent: Person,
    stranger: Person,
    lead: Person,
    tenant: String,
}

/// The people of the benchmark, enrolled and signed in through the public API.
fn people(server: &Server, root: &Path) -> People {
    let init = server
        .runtime
        .block_on(
            server
                .broker
                .initialize("Ops", &server.data.join("release-keys")),
        )
        .unwrap();
    let operator = enrol(server, root, "op", &init.enrolment_code);
    let tenant = str_of(
        &create(&operator, "/v1/tenants", json!({"name": "Acme"})),
        "id",
    );
    let globex = str_of(
        &create(&operator, "/v1/tenants", json!({"name": "Globex"})),
        "id",
    );
    let codes = [
        json!({"class": "customer_admin", "tenant_id": tenant, "display_name": "Ada Admin"}),
        json!({"class": "customer_admin", "tenant_id": globex, "display_name": "Gil Globex"}),
        json!({"class": "support_agent", "display_name": "Sam Support"}),
        json!({"class": "support_agent", "display_name": "Sid Stranger"}),
        json!({"class": "support_agent", "display_name": "Lee Lead", "groups": ["support_lead"]}),
    ]
    .map(|body| principal(&operator, body));
    let [admin, other_admin, agent, stranger, lead] =
        ["admin", "other", "agent", "stranger", "lead"]
            .iter()
            .zip(&codes)
            .map(|(name, code)| enrol(server, root, name, code))
            .collect::<Vec<_>>()
            .try_into()
            .unwrap_or_else(|_| panic!("five people"));
    People {
        operator,
        admin,
        other_admin,
        agent,
        stranger,
        lead,
        tenant,
    }
}

/// The world: a case of the admin's tenant holding the ~1 MB HAR, the agent assigned
/// to it with an approved view grant (support lead + tenant admin, on-request mode).
fn world() -> World {
    let server = start_server();
    let root = tempfile::Builder::new()
        .prefix("custody-load-devices-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let p = people(&server, root.path());
    let case_id = str_of(
        &create(
            &p.admin,
            &format!("/v1/tenants/{}/cases", p.tenant),
            json!({"title": "load"}),
        ),
        "id",
    );
    let mut har = Vec::new();
    custody_corpus::planted_har(7, 1_000_000, &mut har).unwrap();
    let reply = p
        .admin
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Bytes(har.clone(), "application/octet-stream"),
        )
        .unwrap();
    assert_eq!(reply.status, 201, "upload: {:?}", reply.json());
    let artifact_id = str_of(&reply.json(), "id");
    grant_view(&p, &case_id);
    World {
        server,
        _root: root,
        admin: p.admin,
        other_admin: p.other_admin,
        agent: p.agent,
        stranger: p.stranger,
        case_id,
        artifact_id,
        har: Arc::new(har),
    }
}

fn grant_view(p: &People, case_id: &str) {
    let reply = p
        .operator
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/assignments"),
            &Body::Json(json!({"agent_id": p.agent.id})),
        )
        .unwrap();
    assert_eq!(reply.status, 200, "assign: {:?}", reply.json());
    let grant = create(
        &p.agent,
        &format!("/v1/cases/{case_id}/grants"),
        json!({"actions": ["artifact.view"]}),
    );
    let approval = str_of(&grant, "approval_request_id");
    for approver in [&p.lead, &p.admin] {
        let reply = approver
            .client
            .approve(&approval, &approver.id, &pop_secret(&approver.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "approve: {:?}", reply.json());
    }
    let reply = p
        .agent
        .client
        .call("GET", "/v1/grants", &Body::Empty)
        .unwrap();
    assert!(
        String::from_utf8_lossy(&reply.body).contains("\"approved\""),
        "the grant is not approved: {:?}",
        reply.json()
    );
}

// ---------------------------------------------------------------- the load client

/// One signed-in principal as the load threads use it: the proof key, the access
/// token and the last server nonce (shared by the threads acting as this principal).
struct Caller {
    key: Ed25519KeyPair,
    token: String,
    nonce: Mutex<Option<String>>,
}

impl Caller {
    fn of(person: &Person) -> Arc<Self> {
        let identity = DeviceIdentity::load(&person.device_dir).unwrap();
        let key = Ed25519KeyPair::from_jwk_json(&identity.pop_key().to_jwk()).unwrap();
        Arc::new(Self {
            key,
            token: person.client.token().unwrap().to_owned(),
            nonce: Mutex::new(None),
        })
    }

    /// A fresh proof for `method url`; returns it with the time spent signing.
    fn proof(&self, method: &str, url: &str) -> (String, Duration) {
        let nonce = self.nonce.lock().unwrap().clone();
        let started = Instant::now();
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis();
        let proof = create_proof(
            &self.key,
            &ProofRequest {
                method,
                url,
                access_token: Some(&self.token),
                nonce: nonce.as_deref(),
            },
            Timestamp::from_unix_millis(u64::try_from(millis).unwrap()),
            &mut OsRng,
        )
        .unwrap();
        (proof, started.elapsed())
    }
}

/// What one exchange returned.
struct Answer {
    status: u16,
    nonce: Option<String>,
    body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection (reconnected after any transport error).
struct Conn {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
}

impl Conn {
    fn exchange(&mut self, head: &str, body: &[u8]) -> std::io::Result<Answer> {
        if self.stream.is_none() {
            let stream = TcpStream::connect(self.addr)?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::with_capacity(64 * 1024, stream));
        }
        let reader = self.stream.as_mut().unwrap();
        let result = write_and_read(reader, head, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }
}

fn write_and_read(
    reader: &mut BufReader<TcpStream>,
    head: &str,
    body: &[u8],
) -> std::io::Result<Answer> {
    let stream = reader.get_mut();
    if body.len() <= 4096 {
        let mut all = Vec::with_capacity(head.len() + body.len());
        all.extend_from_slice(head.as_bytes());
        all.extend_from_slice(body);
        stream.write_all(&all)?;
    } else {
        stream.write_all(head.as_bytes())?;
        stream.write_all(body)?;
    }
    read_answer(reader)
}

fn bad(what: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned())
}

fn read_answer(reader: &mut BufReader<TcpStream>) -> std::io::Result<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(bad("connection closed"));
    }
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| bad("bad status line"))?;
    let (mut length, mut chunked, mut nonce) = (None, false, None);
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':').ok_or_else(|| bad("bad header"))?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            "dpop-nonce" => nonce = Some(value.to_owned()),
            _ => {}
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = vec![0; length.ok_or_else(|| bad("no content-length"))?];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Answer {
        status,
        nonce,
        body,
    })
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size = usize::from_str_radix(line.trim_end().split(';').next().unwrap_or(""), 16)
            .map_err(|_| bad("bad chunk size"))?;
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
        if size == 0 {
            return Ok(body);
        }
    }
}

/// One request kind of a scenario.
#[derive(Clone)]
struct Target {
    caller: Arc<Caller>,
    method: &'static str,
    path: String,
    body: Option<(Arc<Vec<u8>>, &'static str)>,
    expect: u16,
}

/// One request: a fresh proof, the exchange, and one retry if the nonce was stale.
/// Returns the answer (or the transport error), the signing time and the retry count.
fn request(
    conn: &mut Conn,
    base: &str,
    target: &Target,
) -> (std::io::Result<Answer>, Duration, u32) {
    let url = format!("{base}{}", target.path);
    let mut signing = Duration::ZERO;
    let mut retries = 0;
    loop {
        let (proof, spent) = target.caller.proof(target.method, &url);
        signing += spent;
        let (body, content_type) = match &target.body {
            Some((bytes, kind)) => (bytes.as_slice(), *kind),
            None => (&[][..], ""),
        };
        let mut head = format!(
            "{} {} HTTP/1.1\r\nHost: {}\r\nAuthorization: DPoP {}\r\nDPoP: {proof}\r\nContent-Length: {}\r\n",
            target.method,
            target.path,
            conn.addr,
            target.caller.token,
            body.len()
        );
        if !content_type.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        let answer = conn.exchange(&head, body);
        if let Ok(a) = &answer {
            if let Some(nonce) = &a.nonce {
                *target.caller.nonce.lock().unwrap() = Some(nonce.clone());
            }
            let stale =
                a.status == 401 && String::from_utf8_lossy(&a.body).contains("use-dpop-nonce");
            if stale && retries == 0 {
                retries += 1;
                continue;
            }
        }
        return (answer, signing, retries);
    }
}

// ---------------------------------------------------------------- open-loop driver

/// One completed request.
struct Sample {
    /// From the scheduled send time to the last byte of the answer.
    latency: Duration,
    /// From the scheduled send time to the actual send (sleep overshoot, no free thread).
    lag: Duration,
    /// Completion, from the start of the run.
    done: Duration,
}

#[derive(Default)]
struct ThreadResult {
    samples: Vec<Sample>,
    errors: BTreeMap<String, u64>,
    signing: Duration,
    retries: u64,
    cpu_ns: u64,
}

/// CPU time of the calling thread (ns), from the scheduler's accounting.
fn thread_cpu_ns() -> u64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    text.split(' ')
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Drives `target` at `rate` requests per second for `secs`, open-loop, from one
/// thread per connection in `conns`; returns the per-thread results and the
/// connections (kept alive for the next run).
fn drive(
    base: &str,
    target: &Target,
    rate: f64,
    secs: f64,
    conns: Vec<Conn>,
) -> (Vec<ThreadResult>, Vec<Conn>) {
    let total = (rate * secs).round() as u64;
    let start = Instant::now() + Duration::from_millis(20);
    let next = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut conn)| {
            let (next, target, base) = (Arc::clone(&next), target.clone(), base.to_owned());
            std::thread::Builder::new()
                .name(format!("client-{i}"))
                .spawn(move || {
                    let cpu = thread_cpu_ns();
                    let mut out = ThreadResult::default();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if index >= total {
                            break;
                        }
                        let scheduled = start + Duration::from_secs_f64(index as f64 / rate);
                        let now = Instant::now();
                        if scheduled > now {
                            std::thread::sleep(scheduled - now);
                        }
                        let sent = Instant::now();
                        let (answer, signing, retries) = request(&mut conn, &base, &target);
                        let done = Instant::now();
                        out.signing += signing;
                        out.retries += u64::from(retries);
                        match answer {
                            Ok(a) if a.status == target.expect => out.samples.push(Sample {
                                latency: done - scheduled,
                                lag: sent.saturating_duration_since(scheduled),
                                done: done - start,
                            }),
                            Ok(a) => {
                                *out.errors
                                    .entry(format!("status {}", a.status))
                                    .or_default() += 1
                            }
                            Err(e) => {
                                *out.errors.entry(format!("transport: {e}")).or_default() += 1
                            }
                        }
                    }
                    out.cpu_ns = thread_cpu_ns().saturating_sub(cpu);
                    (out, conn)
                })
                .unwrap()
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).unzip()
}

// ---------------------------------------------------------------- CPU accounting

/// CPU time (ns) of every thread of this process, by thread id, with its name.
fn task_cpu() -> BTreeMap<String, (String, u64)> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|t| t.split(' ').next().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        out.insert(
            entry.file_name().to_string_lossy().into_owned(),
            (comm.trim().to_owned(), ns),
        );
    }
    out
}

/// CPU used between two snapshots by every thread but the load clients (ns): the
/// server's runtime and blocking threads, the audit checkpointer, the idle main thread.
fn server_cpu_ns(
    before: &BTreeMap<String, (String, u64)>,
    after: &BTreeMap<String, (String, u64)>,
) -> u64 {
    after
        .iter()
        .filter(|(_, (comm, _))| !comm.starts_with("client-"))
        .map(|(tid, (_, ns))| ns.saturating_sub(before.get(tid).map_or(0, |b| b.1)))
        .sum()
}

/// Machine-wide CPU counters (`/proc/stat`, ticks): (busy, steal, total).
fn machine_ticks() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap();
    let fields: Vec<u64> = text
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().unwrap())
        .collect();
    let idle = fields[3] + fields[4];
    let total: u64 = fields.iter().sum();
    (total - idle, fields[7], total)
}

// ---------------------------------------------------------------- report

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

struct Scenario {
    name: &'static str,
    target: Target,
    rate: f64,
    secs: f64,
}

/// Runs one scenario (warm-up, then the measured run) and prints its row.
fn run(opts: &Options, base: &str, addr: SocketAddr, scenario: &Scenario) {
    let conns = (0..opts.threads)
        .map(|_| Conn { addr, stream: None })
        .collect();
    let warmup = opts.warmup.min(scenario.secs);
    let (_, conns) = drive(base, &scenario.target, scenario.rate, warmup, conns);
    let (tasks, machine, clock) = (task_cpu(), machine_ticks(), Instant::now());
    let (results, _conns) = drive(base, &scenario.target, scenario.rate, scenario.secs, conns);
    let wall = clock.elapsed().as_secs_f64();
    let server = server_cpu_ns(&tasks, &task_cpu()) as f64 / 1e9 / wall;
    let machine_after = machine_ticks();
    let cores = std::thread::available_parallelism().map_or(2, usize::from) as f64;
    let ticks = (machine_after.2 - machine.2).max(1) as f64;
    let busy = (machine_after.0 - machine.0) as f64 / ticks * cores;
    let steal = (machine_after.1 - machine.1) as f64 / ticks * cores;

    let client = results.iter().map(|r| r.cpu_ns).sum::<u64>() as f64 / 1e9 / wall;
    let signing = results
        .iter()
        .map(|r| r.signing)
        .sum::<Duration>()
        .as_secs_f64()
        / wall;
    let retries: u64 = results.iter().map(|r| r.retries).sum();
    let mut errors = BTreeMap::<String, u64>::new();
    for r in &results {
        for (kind, n) in &r.errors {
            *errors.entry(kind.clone()).or_default() += n;
        }
    }
    let samples: Vec<&Sample> = results.iter().flat_map(|r| &r.samples).collect();
    let mut latency: Vec<Duration> = samples.iter().map(|s| s.latency).collect();
    let mut lag: Vec<Duration> = samples.iter().map(|s| s.lag).collect();
    latency.sort_unstable();
    lag.sort_unstable();
    let last = samples.iter().map(|s| s.done).max().unwrap_or_default();
    // Completions over the run: the schedule's length, or longer if the server fell behind.
    let achieved = samples.len() as f64 / last.as_secs_f64().max(scenario.secs);
    let error_count: u64 = errors.values().sum();
    println!(
        "| {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} ({:.3}) | {:.2} (steal {:.2}) |",
        scenario.name,
        scenario.rate,
        achieved,
        samples.len(),
        error_count,
        ms(percentile(&latency, 0.50)),
        ms(percentile(&latency, 0.99)),
        ms(percentile(&latency, 0.999)),
        ms(latency.last().copied().unwrap_or_default()),
        ms(percentile(&lag, 0.99)),
        server,
        client,
        signing,
        busy,
        steal,
    );
    for (kind, n) in errors {
        println!("|   error: {kind} x {n} |");
    }
    if retries > 0 {
        println!("|   stale-nonce retries (latency includes them): {retries} |");
    }
}

// ---------------------------------------------------------------- main

/// One request of each scenario before the load, checking the answer is the one the
/// scenario is meant to measure (a page of 50 entries; a policy denial, not a 401).
fn preflight(base: &str, addr: SocketAddr, scenario: &Scenario) -> Answer {
    let mut conn = Conn { addr, stream: None };
    let (answer, _, _) = request(&mut conn, base, &scenario.target);
    let answer = answer.unwrap();
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    assert_eq!(
        answer.status, scenario.target.expect,
        "{}: unexpected answer {body}",
        scenario.name
    );
    if answer.status == 403 {
        assert!(
            body.contains("urn:custody:problem:forbidden"),
            "{}: not a policy denial: {body}",
            scenario.name
        );
    }
    answer
}

fn scenarios(opts: &Options, w: &World) -> Vec<Scenario> {
    let view = format!("/v1/artifacts/{}/view?offset=0&limit=50", w.artifact_id);
    let get = |name, person: &Person, expect| Scenario {
        name,
        target: Target {
            caller: Caller::of(person),
            method: "GET",
            path: view.clone(),
            body: None,
            expect,
        },
        rate: opts.rate,
        secs: opts.secs,
    };
    let upload = Scenario {
        name: "upload-1MB",
        target: Target {
            caller: Caller::of(&w.admin),
            method: "POST",
            path: format!("/v1/cases/{}/artifacts", w.case_id),
            body: Some((Arc::clone(&w.har), "application/octet-stream")),
            expect: 201,
        },
        rate: opts.upload_rate,
        secs: opts.upload_secs,
    };
    vec![
        get("view-admin", &w.admin, 200),
        get("view-agent-grant", &w.agent, 200),
        get("deny-cross-tenant", &w.other_admin, 403),
        get("deny-agent-no-grant", &w.stranger, 403),
        upload,
    ]
}

fn main() {
    let opts = options();
    let w = world();
    let (base, addr) = (w.server.base.clone(), w.server.addr);
    let all = scenarios(&opts, &w);
    let chosen: Vec<&Scenario> = all
        .iter()
        .filter(|s| opts.only.is_empty() || opts.only.iter().any(|o| s.name.contains(o.as_str())))
        .collect();
    let mut entries = Value::Null;
    for scenario in &chosen {
        let answer = preflight(&base, addr, scenario);
        if scenario.name == "view-admin" {
            let page: Value = serde_json::from_slice(&answer.body).unwrap();
            assert_eq!(page["items"].as_array().map(Vec::len), Some(50), "page 0");
            entries = page["total"].clone();
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "HAR {} bytes, {} entries; {} load threads; load average before: {}",
        w.har.len(),
        entries,
        opts.threads,
        load.trim()
    );
    println!(
        "| scenario | target req/s | achieved req/s | ok | errors | p50 ms | p99 ms | p99.9 ms | max ms | send lag p99 ms | server CPU (cores) | client CPU (of which proof signing) | machine busy (cores) |"
    );
    println!(
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    );
    for scenario in chosen {
        run(&opts, &base, addr, scenario);
    }
}
