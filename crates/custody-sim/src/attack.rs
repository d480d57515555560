//! The attacker of §1, played against the deployment through the HTTP API only.
//!
//! - [`Scenario::ServiceAccountBulk`]: the service account's key, stolen from the
//!   support system, used from the attacker's host to read every tenant's
//!   artifacts as fast as the server answers.
//! - [`Scenario::ServiceAccountSlow`]: the same, one tenant every 15 simulated
//!   minutes, to stay under the rate thresholds.
//! - [`Scenario::ServiceAccountSlowFromHost`]: the same slow pace from the
//!   integration host's own network (a compromised host, or an attacker who took
//!   care to egress there): what the detectors see when only the pace is left.
//! - [`Scenario::CompromisedAgent`]: malware on a support agent's workstation reads
//!   what the agent's grants reach, then tries every other tenant.
//!
//! In each, everything obtained is searched for credentials (any `Authorization`,
//! `DPoP` or cookie header value and any JWT anywhere), and each is replayed at once
//! from another device (a key nobody enrolled) and network against the admin API.
//! Nothing is scripted to fail or to succeed: each request's answer is the server's.

use std::collections::BTreeSet;
use std::time::Duration;

use custody_client::{Body, Client};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::SimError;
use crate::deploy::{Deployment, net};
use crate::report::{ScenarioReport, Step};
use crate::world::World;

/// A harvested credential: ordered for de-duplication, redacted in `Debug`, wiped
/// on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Loot(Zeroizing<String>);

impl PartialOrd for Loot {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Loot {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.as_str().cmp(other.0.as_str())
    }
}

impl Loot {
    /// The value (a secret).
    pub fn expose_secret(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for Loot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Loot({} bytes)", self.0.len())
    }
}

/// How long the slow attacker waits between two tenants (simulated time).
pub const SLOW_STEP: Duration = Duration::from_secs(15 * 60);

/// Items per view page the attacker asks for (the server's maximum).
const PAGE: u32 = 200;

/// One attacker's play.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Scenario {
    /// Stolen service-account key, bulk.
    #[serde(rename = "sa-bulk")]
    ServiceAccountBulk,
    /// Stolen service-account key, one tenant every 15 simulated minutes.
    #[serde(rename = "sa-slow")]
    ServiceAccountSlow,
    /// The same, from the integration host's network.
    #[serde(rename = "sa-slow-host")]
    ServiceAccountSlowFromHost,
    /// A support agent's workstation, through the agent's own grants.
    #[serde(rename = "agent")]
    CompromisedAgent,
}

impl Scenario {
    /// Every scenario, in the order they are run.
    pub const ALL: [Scenario; 4] = [
        Scenario::ServiceAccountBulk,
        Scenario::ServiceAccountSlow,
        Scenario::ServiceAccountSlowFromHost,
        Scenario::CompromisedAgent,
    ];

    /// Short name (the table's column heading).
    pub fn name(self) -> &'static str {
        match self {
            Self::ServiceAccountBulk => "sa-bulk",
            Self::ServiceAccountSlow => "sa-slow",
            Self::ServiceAccountSlowFromHost => "sa-slow-host",
            Self::CompromisedAgent => "agent",
        }
    }

    /// One line on what the attacker does.
    pub fn describe(self) -> &'static str {
        match self {
            Self::ServiceAccountBulk => {
                "stolen service-account key, from the attacker's host, every tenant as fast as possible"
            }
            Self::ServiceAccountSlow => {
                "stolen service-account key, from the attacker's host, one tenant every 15 simulated minutes"
            }
            Self::ServiceAccountSlowFromHost => {
                "stolen service-account key, from the integration host's network, one tenant every 15 simulated minutes"
            }
            Self::CompromisedAgent => {
                "malware on a support agent's workstation: the agent's grants, then every other tenant"
            }
        }
    }
}

/// What one read of an artifact gave.
enum Read {
    /// Every page of the artifact.
    Pages(Vec<Value>),
    /// Refused by policy (or refused as replayable at the view).
    Denied,
    /// The attacker's credential no longer works and cannot sign in again.
    CutOff,
}

/// The attacker's state across one scenario.
struct Attacker {
    client: Client,
    requests: usize,
    denied: usize,
    cut_off: bool,
}

impl Attacker {
    fn call(&mut self, path: &str) -> Result<custody_client::Reply, SimError> {
        self.requests += 1;
        self.client
            .call("GET", path, &Body::Empty)
            .map_err(|e| SimError::Setup {
                step: "attacker request".into(),
                status: 0,
                detail: e.to_string(),
            })
    }

    /// Signs in again with the held key; false if refused (suspended, revoked key).
    fn sign_in(&mut self) -> bool {
        self.requests += 1;
        self.client.login().is_ok()
    }

    fn read(&mut self, artifact: &str) -> Result<Read, SimError> {
        let mut items = Vec::new();
        let mut offset = 0u64;
        let mut retried = false;
        loop {
            let reply = self.call(&format!(
                "/v1/artifacts/{artifact}/view?offset={offset}&limit={PAGE}&detail=full"
            ))?;
            match reply.status {
                200 => {
                    let page = reply.json();
                    let got = page
                        .get("items")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let total = page.get("total").and_then(Value::as_u64).unwrap_or(0);
                    offset += got.len() as u64;
                    let empty = got.is_empty();
                    items.extend(got);
                    if empty || offset >= total {
                        return Ok(Read::Pages(items));
                    }
                }
                401 if !retried => {
                    retried = true;
                    if !self.sign_in() {
                        self.cut_off = true;
                        return Ok(Read::CutOff);
                    }
                }
                401 => {
                    self.cut_off = true;
                    return Ok(Read::CutOff);
                }
                _ => {
                    self.denied += 1;
                    return Ok(Read::Denied);
                }
            }
        }
    }
}

/// Every credential-looking string in `value`: header values of `Authorization`,
/// `DPoP`, `Cookie` and `Set-Cookie` (scheme removed), and every JWT-shaped run
/// anywhere in any string. Redaction markers are not credentials.
pub fn harvest(value: &Value, out: &mut BTreeSet<Loot>) {
    match value {
        Value::Object(map) => {
            let name = map.get("name").and_then(Value::as_str);
            let header_value = map.get("value").and_then(Value::as_str);
            if let (Some(name), Some(v)) = (name, header_value) {
                let lower = name.to_ascii_lowercase();
                if matches!(
                    lower.as_str(),
                    "authorization" | "dpop" | "cookie" | "set-cookie"
                ) {
                    let token = v.split_once(' ').map_or(v, |(_, t)| t).trim();
                    keep(token, out);
                }
            }
            for v in map.values() {
                harvest(v, out);
            }
        }
        Value::Array(list) => list.iter().for_each(|v| harvest(v, out)),
        Value::String(s) => jwts(s, out),
        _ => {}
    }
}

fn keep(candidate: &str, out: &mut BTreeSet<Loot>) {
    if candidate.len() >= 16 && !candidate.contains("[redacted") {
        out.insert(Loot(Zeroizing::new(candidate.to_owned())));
    }
}

/// JWT-shaped runs (`eyJ...` with exactly two dots) in `text`.
fn jwts(text: &str, out: &mut BTreeSet<Loot>) {
    let is_part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    for (start, _) in text.match_indices("eyJ") {
        let Some(rest) = text.get(start..) else {
            continue;
        };
        let end = rest.find(|c: char| !is_part(c)).unwrap_or(rest.len());
        let Some(run) = rest.get(..end) else { continue };
        if run.matches('.').count() == 2 && !run.ends_with('.') {
            keep(run, out);
        }
    }
}

/// Replays `token` from another device and network against `GET /v1/me`; the
/// answer's principal class and the token's session when accepted.
fn replay(d: &Deployment, token: &str) -> Result<Option<(String, String)>, SimError> {
    let mut client = d.stranger(net::REPLAY)?;
    client.set_token(token.to_owned());
    let reply = client
        .call("GET", "/v1/me", &Body::Empty)
        .map_err(|e| SimError::Setup {
            step: "replay".into(),
            status: 0,
            detail: e.to_string(),
        })?;
    if reply.status != 200 {
        return Ok(None);
    }
    let class = reply
        .json()
        .get("class")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let session = custody_token::inspect(token)
        .ok()
        .and_then(|i| {
            i.claims
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Ok(Some((class, session)))
}

/// Plays `scenario` on `d` and `w`. Returns the report without the figures that
/// need the audit log (filled in by the caller once the server has stopped).
pub fn play(d: &Deployment, w: &World, scenario: Scenario) -> Result<Played, SimError> {
    let (device, from, principal) = match scenario {
        Scenario::ServiceAccountBulk | Scenario::ServiceAccountSlow => (
            &w.service_account.device_dir,
            net::ATTACKER,
            w.service_account.id.clone(),
        ),
        Scenario::ServiceAccountSlowFromHost => (
            &w.service_account.device_dir,
            net::INTEGRATION,
            w.service_account.id.clone(),
        ),
        Scenario::CompromisedAgent => (&w.agent.device_dir, net::AGENT, w.agent.id.clone()),
    };
    let started_ms = custody_token::Clock::now(d.clock.as_ref()).unix_millis();
    let mut attacker = Attacker {
        client: d.client(device, from)?,
        requests: 0,
        denied: 0,
        cut_off: false,
    };
    let mut report = ScenarioReport::new(scenario, w.tenants.len());
    let signed_in = attacker.sign_in();
    report.steps.push(Step::new(
        "sign in with the stolen credential",
        if signed_in { "accepted" } else { "refused" },
    ));
    // The agent's granted tenants are the first ones, so every scenario walks the
    // tenants in creation order.
    let order: Vec<usize> = (0..w.tenants.len()).collect();
    let mut harvested: BTreeSet<Loot> = BTreeSet::new();
    let mut hijacked: BTreeSet<String> = BTreeSet::new();
    let mut reads_in_grant = 0usize;
    for (k, &i) in order.iter().enumerate() {
        if !signed_in || attacker.cut_off {
            break;
        }
        let Some(site) = w.tenants.get(i) else { break };
        let slow = matches!(
            scenario,
            Scenario::ServiceAccountSlow | Scenario::ServiceAccountSlowFromHost
        );
        if slow && k > 0 {
            // Whatever the server does in the background (the watch, checkpoints)
            // finishes well inside 15 minutes; let it, in real time, before the jump.
            d.settle(250);
            d.clock.advance(SLOW_STEP);
        }
        match attacker.read(&site.artifact_id)? {
            Read::Pages(items) => {
                report.tenants_read += 1;
                report.artifacts_read += 1;
                if i < w.granted {
                    reads_in_grant += 1;
                }
                let text = Zeroizing::new(serde_json::to_string(&items).unwrap_or_default());
                if site.planted.iter().any(|p| text.contains(p.as_str())) {
                    report.artifacts_with_live_credentials += 1;
                }
                let mut found = BTreeSet::new();
                items.iter().for_each(|v| harvest(v, &mut found));
                for token in found {
                    if harvested.contains(&token) {
                        continue;
                    }
                    report.replays += 1;
                    if let Some((class, session)) = replay(d, token.expose_secret())? {
                        report.replays_accepted += 1;
                        if class == "customer_admin" {
                            hijacked.insert(session);
                        }
                    }
                    harvested.insert(token);
                }
            }
            Read::Denied => {}
            Read::CutOff => {
                report.steps.push(Step::new(
                    "attacker cut off",
                    format!(
                        "after {} requests ({} tenants read)",
                        attacker.requests, report.tenants_read
                    ),
                ));
            }
        }
    }
    report.credentials_harvested = harvested.len();
    report.admin_sessions_hijacked = hijacked.len();
    report.requests = attacker.requests;
    report.requests_denied = attacker.denied;
    report.attacker_cut_off = attacker.cut_off;
    report.steps.push(Step::new(
        "read artifacts",
        format!(
            "{} of {} tenants' artifacts read{}; {} requests denied",
            report.tenants_read,
            w.tenants.len(),
            if scenario == Scenario::CompromisedAgent {
                format!(
                    " ({reads_in_grant} through the agent's {} grants)",
                    w.granted
                )
            } else {
                String::new()
            },
            report.requests_denied
        ),
    ));
    report.steps.push(Step::new(
        "search what was read for credentials",
        format!(
            "{} credential(s) found; {} artifact(s) held a live one",
            report.credentials_harvested, report.artifacts_with_live_credentials
        ),
    ));
    report.steps.push(Step::new(
        "replay each from another device and network",
        format!(
            "{} of {} accepted; {} admin session(s) hijacked",
            report.replays_accepted, report.replays, report.admin_sessions_hijacked
        ),
    ));
    // Defence in depth: the admins' tokens as they were in the captures before
    // upload, replayed as if the sanitizer had missed them (only for tenants the
    // attacker reached).
    for site in w.tenants.iter().take(report.tenants_read.max(1)) {
        report.raw_token_replays += 1;
        if replay(d, &site.session_token)?.is_some() {
            report.raw_token_replays_accepted += 1;
        }
    }
    report.steps.push(Step::new(
        "replay the raw captures' admin tokens (as if sanitizing had failed)",
        format!(
            "{} of {} accepted",
            report.raw_token_replays_accepted, report.raw_token_replays
        ),
    ));
    report.simulated_minutes = d.clock.offset().as_secs() / 60;
    Ok(Played {
        report,
        principal,
        started_ms,
    })
}

/// A scenario played: the report so far, the attacker's principal and when the
/// attack started (simulated clock, ms).
#[derive(Debug)]
pub struct Played {
    /// The report without the audit-log figures.
    pub report: ScenarioReport,
    /// The principal whose credential the attacker used.
    pub principal: String,
    /// The attack's first request (simulated clock, Unix ms).
    pub started_ms: u64,
}
