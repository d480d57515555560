//! A real custody server for one scenario: `custody serve`'s own code (the HTTP
//! server, broker, token authority, policy engine, audit log and detection bus) on a
//! loopback port over a fresh data directory, driven only through its HTTP API by
//! clients holding real device keys.
//!
//! Every principal sends from its own loopback source address (all of 127.0.0.0/8 is
//! local on Linux), so the server sees distinct networks (/24) for the vendor's staff,
//! each tenant's admin, the service account's host, the agent and the attacker.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use custody_broker::Broker;
use custody_client::{Body, Client, Reply};
use custody_seal::{DeviceIdentity, OsEntropy};
use serde_json::Value;

use crate::SimError;
use crate::clock::SimClock;

/// Source addresses of the parties (each its own /24).
pub mod net {
    use super::{IpAddr, Ipv4Addr};

    /// The vendor's staff (operator, approvers).
    pub const STAFF: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
    /// The service account's integration host.
    pub const INTEGRATION: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 2, 0, 1));
    /// The support agent's workstation.
    pub const AGENT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 3, 0, 1));
    /// The attacker's host using the stolen service-account key.
    pub const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 66, 0, 1));
    /// The attacker's replay host (another device and network).
    pub const REPLAY: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 66, 1, 1));

    /// Tenant `i`'s admin: 127.1.x.y, one /24 per 250 tenants.
    pub fn admin(i: usize) -> IpAddr {
        let hi = u8::try_from((i / 250) % 256).unwrap_or(0);
        let lo = u8::try_from(i % 250 + 1).unwrap_or(1);
        IpAddr::V4(Ipv4Addr::new(127, 1, hi, lo))
    }
}

/// One enrolled principal: its client (signed in), device directory and id.
pub struct Person {
    /// The signed-in client.
    pub client: Client,
    /// The device identity's directory.
    pub device_dir: PathBuf,
    /// The principal id.
    pub id: String,
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Person")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A running server and its operator.
pub struct Deployment {
    /// Base URL (`http://127.0.0.1:<port>`).
    pub base: String,
    /// The data directory.
    pub data: PathBuf,
    /// The broker behind the server (read side only: the audit log).
    pub broker: Arc<Broker>,
    /// The clock of the server and of every client.
    pub clock: Arc<SimClock>,
    /// The operator set up by `custody init`.
    pub operator: Person,
    devices: PathBuf,
    runtime: tokio::runtime::Runtime,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn setup_error(step: &str, reply: &Reply) -> SimError {
    SimError::Setup {
        step: step.to_owned(),
        status: reply.status,
        detail: reply
            .json()
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("no detail")
            .to_owned(),
    }
}

fn transport(step: &str) -> impl FnOnce(custody_client::ClientError) -> SimError + '_ {
    move |e| SimError::Setup {
        step: step.to_owned(),
        status: 0,
        detail: e.to_string(),
    }
}

impl Deployment {
    /// Starts a server over `dir` (created; must be empty or missing) with the watch
    /// on unless `baseline`, and the unsafe baseline's switches off (all controls on)
    /// unless `baseline`.
    pub fn start(dir: &Path, baseline: bool, clock: Arc<SimClock>) -> Result<Self, SimError> {
        let io = |what: &str| {
            let what = what.to_owned();
            move |source| SimError::Io { what, source }
        };
        std::fs::create_dir_all(dir).map_err(io("creating the run directory"))?;
        let data = dir.join("data");
        let devices = dir.join("devices");
        std::fs::create_dir_all(&devices).map_err(io("creating the devices directory"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(io("starting the runtime"))?;
        let overrides = custody_server::Overrides {
            clock: Arc::clone(&clock) as Arc<dyn custody_token::Clock>,
            dangerous: custody_broker::Dangerous {
                store_unsanitized: baseline,
                bearer_tokens: baseline,
            },
        };
        let server = |e: &dyn std::fmt::Display| SimError::Server(e.to_string());
        let (base, broker) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
                .await
                .map_err(|e| server(&e))?;
            let addr = listener.local_addr().map_err(|e| server(&e))?;
            let none = |_: &str| None;
            let mut config = custody_server::Config::resolve(
                None,
                &none,
                Some(data.clone()),
                Some(addr.to_string()),
            )
            .map_err(|e| server(&e))?;
            config.watch.enabled = !baseline;
            config.metrics_listen = None;
            let state = custody_server::open_state_with(config, overrides)
                .await
                .map_err(|e| server(&e))?;
            let broker = Arc::clone(&state.broker);
            tokio::spawn(custody_server::serve(listener, state));
            Ok::<_, SimError>((format!("http://{addr}"), broker))
        })?;
        let init = runtime
            .block_on(broker.initialize("Ops", &data.join("release-keys")))
            .map_err(|e| server(&e))?;
        let operator = enrol_at(
            &base,
            &devices,
            &clock,
            "operator",
            &init.enrolment_code,
            net::STAFF,
        )?;
        Ok(Self {
            base,
            data,
            broker,
            clock,
            operator,
            devices,
            runtime,
        })
    }

    /// A client of this server using the device in `dir`, sending from `from`, on the
    /// simulation's clock.
    pub fn client(&self, dir: &Path, from: IpAddr) -> Result<Client, SimError> {
        client_at(&self.base, &self.clock, dir, from)
    }

    /// A client with a fresh key nobody enrolled (an attacker's own device).
    pub fn stranger(&self, from: IpAddr) -> Result<Client, SimError> {
        let key = custody_token::Ed25519KeyPair::generate(&mut rand_core::OsRng);
        Ok(Client::new(&self.base, key)
            .map_err(transport("client"))?
            .with_local_address(from)
            .map_err(transport("client"))?
            .with_clock(Arc::clone(&self.clock) as Arc<dyn custody_token::Clock>))
    }

    /// Makes a device, enrols it with `code` from `from`, and signs in.
    pub fn enrol(&self, name: &str, code: &str, from: IpAddr) -> Result<Person, SimError> {
        enrol_at(&self.base, &self.devices, &self.clock, name, code, from)
    }

    /// `POST path` as `person`; the created resource (status 201 expected).
    pub fn create(&self, person: &Person, path: &str, body: Value) -> Result<Value, SimError> {
        let reply = person
            .client
            .call("POST", path, &Body::Json(body))
            .map_err(transport(path))?;
        if reply.status != 201 {
            return Err(setup_error(path, &reply));
        }
        Ok(reply.json())
    }

    /// A call that must answer `expected`.
    pub fn expect(
        &self,
        person: &Person,
        method: &str,
        path: &str,
        body: &Body,
        expected: u16,
    ) -> Result<Value, SimError> {
        let reply = person
            .client
            .call(method, path, body)
            .map_err(transport(path))?;
        if reply.status != expected {
            return Err(setup_error(path, &reply));
        }
        Ok(reply.json())
    }

    /// `person` approves approval request `id` (signed with its device key).
    pub fn approve(&self, person: &Person, id: &str) -> Result<Value, SimError> {
        let identity = DeviceIdentity::load(&person.device_dir)
            .map_err(|e| SimError::Server(format!("device key: {e}")))?;
        let secret = zeroize::Zeroizing::new(*identity.pop_key().secret_bytes());
        let reply = person
            .client
            .approve(id, &person.id, &secret)
            .map_err(transport("approve"))?;
        if reply.status != 200 {
            return Err(setup_error("approve", &reply));
        }
        Ok(reply.json())
    }

    /// Waits `ms` milliseconds of real time (the detection bus works asynchronously).
    pub fn settle(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    /// Stops the server (its data directory stays for the audit log's readers).
    pub fn stop(self) -> PathBuf {
        let data = self.data.clone();
        drop(self.operator);
        drop(self.broker);
        self.runtime
            .shutdown_timeout(std::time::Duration::from_secs(5));
        data
    }
}

fn client_at(
    base: &str,
    clock: &Arc<SimClock>,
    dir: &Path,
    from: IpAddr,
) -> Result<Client, SimError> {
    Ok(Client::for_device(base, dir)
        .map_err(transport("device"))?
        .with_local_address(from)
        .map_err(transport("client"))?
        .with_clock(Arc::clone(clock) as Arc<dyn custody_token::Clock>))
}

fn enrol_at(
    base: &str,
    devices: &Path,
    clock: &Arc<SimClock>,
    name: &str,
    code: &str,
    from: IpAddr,
) -> Result<Person, SimError> {
    let dir = devices.join(name);
    let identity = DeviceIdentity::generate(&mut OsEntropy)
        .map_err(|e| SimError::Server(format!("device key: {e}")))?;
    identity.save(&dir).map_err(|e| SimError::Io {
        what: format!("saving device {name}"),
        source: std::io::Error::other(e.to_string()),
    })?;
    let mut client = client_at(base, clock, &dir, from)?;
    let reply = client
        .enrol(code, &identity.public().to_json())
        .map_err(transport("enrol"))?;
    if reply.status != 201 {
        return Err(setup_error("enrol", &reply));
    }
    let id = reply
        .json()
        .get("principal_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    client.login().map_err(transport("sign-in"))?;
    Ok(Person {
        client,
        device_dir: dir,
        id,
    })
}
