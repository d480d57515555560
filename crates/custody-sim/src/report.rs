//! The simulation's results: one [`ScenarioReport`] per attacker, beside the
//! incident's published figures, as a table ([`SimReport::table`]) or JSON.

use std::fmt::Write as _;

use crate::attack::Scenario;

/// What each attacker step got.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    /// The step.
    pub step: String,
    /// What it got.
    pub outcome: String,
}

impl Step {
    pub(crate) fn new(step: &str, outcome: impl Into<String>) -> Self {
        Self {
            step: step.to_owned(),
            outcome: outcome.into(),
        }
    }
}

/// B_i of the attacker's principal over the attack, from the verified audit log.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Blast {
    /// Tenants with actionable exposure.
    pub exposed_tenants: usize,
    /// Tenants in the principal's support boundary.
    pub boundary_tenants: usize,
    /// exposed / boundary (none when the boundary is empty).
    pub b_i: Option<f64>,
}

/// One scenario's figures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScenarioReport {
    /// The scenario.
    pub scenario: Scenario,
    /// What the attacker does.
    pub attacker: &'static str,
    /// Tenants in the deployment.
    pub tenants: usize,
    /// Tenants at least one of whose artifacts the attacker read.
    pub tenants_read: usize,
    /// Artifacts read.
    pub artifacts_read: usize,
    /// Artifacts read that held a credential the customer's capture had (ground
    /// truth: the simulation knows every live token and proof it captured).
    pub artifacts_with_live_credentials: usize,
    /// Distinct credential-looking strings the attacker found.
    pub credentials_harvested: usize,
    /// Replays attempted (one per harvested string).
    pub replays: usize,
    /// Replays the server accepted.
    pub replays_accepted: usize,
    /// Distinct customer-admin sessions a replay got into.
    pub admin_sessions_hijacked: usize,
    /// Replays of the admins' raw tokens (as if sanitizing had failed).
    pub raw_token_replays: usize,
    /// Of those, accepted.
    pub raw_token_replays_accepted: usize,
    /// Attacker requests made.
    pub requests: usize,
    /// Attacker requests denied by policy.
    pub requests_denied: usize,
    /// Whether the attacker's credential stopped working (and signing in again was
    /// refused) before it was done.
    pub attacker_cut_off: bool,
    /// Simulated minutes that passed (clock moved forward).
    pub simulated_minutes: u64,
    /// Detection findings about the attacker's principal, by kind, in order.
    pub findings: Vec<String>,
    /// Session-hijack findings on the replayed sessions.
    pub replay_findings: usize,
    /// First attacker request to the first finding about its principal (ms, on the
    /// server's clock).
    pub time_to_detect_ms: Option<u64>,
    /// That finding to the first access-stopping containment step effective (ms).
    pub time_to_revoke_ms: Option<u64>,
    /// B_i of the attacker's principal over the attack.
    pub blast_radius: Option<Blast>,
    /// What each attacker step got.
    pub steps: Vec<Step>,
}

impl ScenarioReport {
    pub(crate) fn new(scenario: Scenario, tenants: usize) -> Self {
        Self {
            scenario,
            attacker: scenario.describe(),
            tenants,
            tenants_read: 0,
            artifacts_read: 0,
            artifacts_with_live_credentials: 0,
            credentials_harvested: 0,
            replays: 0,
            replays_accepted: 0,
            admin_sessions_hijacked: 0,
            raw_token_replays: 0,
            raw_token_replays_accepted: 0,
            requests: 0,
            requests_denied: 0,
            attacker_cut_off: false,
            simulated_minutes: 0,
            findings: Vec::new(),
            replay_findings: 0,
            time_to_detect_ms: None,
            time_to_revoke_ms: None,
            blast_radius: None,
            steps: Vec::new(),
        }
    }
}

/// The incident's published figures (DESIGN §1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// Customers whose files were read.
    pub tenants_read: usize,
    /// Customer admin sessions hijacked with tokens from the files.
    pub admin_sessions_hijacked: usize,
    /// The attacker's window.
    pub window: &'static str,
    /// Detection and revocation.
    pub detect_and_revoke: &'static str,
}

/// The incident's figures as DESIGN §1 gives them.
pub const PUBLISHED: Published = Published {
    tenants_read: 134,
    admin_sessions_hijacked: 5,
    window: "2023-09-28 to 2023-10-17 (19 days)",
    detect_and_revoke: "weeks",
};

/// A whole run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SimReport {
    /// `custody` (every control on) or `unsafe-baseline`.
    pub mode: &'static str,
    /// Tenants per deployment.
    pub tenants: usize,
    /// The incident's figures.
    pub incident: Published,
    /// One report per scenario, each on its own fresh deployment.
    pub scenarios: Vec<ScenarioReport>,
    /// Targets: detect within this many ms of the attack starting.
    pub detect_target_ms: u64,
    /// Targets: revocation effective within this many ms of the finding.
    pub revoke_target_ms: u64,
}

fn ms(v: Option<u64>) -> String {
    match v {
        Some(ms) if ms >= 60_000 => format!("{:.1} min", ms as f64 / 60_000.0),
        Some(ms) => format!("{ms} ms"),
        None => "not detected".to_owned(),
    }
}

impl SimReport {
    /// Whether the run shows what issue 6 asks of custody: no admin session hijacked
    /// and no live credential exposed in any scenario, and where the attacker was
    /// detected, detection and revocation inside their targets.
    pub fn holds(&self) -> bool {
        self.scenarios.iter().all(|s| {
            s.admin_sessions_hijacked == 0
                && s.artifacts_with_live_credentials == 0
                && s.raw_token_replays_accepted == 0
                && s.time_to_detect_ms
                    .is_none_or(|t| t <= self.detect_target_ms)
                && s.time_to_revoke_ms
                    .is_none_or(|t| t <= self.revoke_target_ms)
        })
    }

    /// The table beside the incident's figures, then each scenario's steps.
    pub fn table(&self) -> String {
        let mut rows: Vec<(String, String, Vec<String>)> = Vec::new();
        let col = |f: &dyn Fn(&ScenarioReport) -> String| -> Vec<String> {
            self.scenarios.iter().map(f).collect()
        };
        rows.push((
            "tenants whose files were read".into(),
            PUBLISHED.tenants_read.to_string(),
            col(&|s| format!("{} / {}", s.tenants_read, s.tenants)),
        ));
        rows.push((
            "artifacts exposing a live credential".into(),
            "some (HARs with session tokens)".into(),
            col(&|s| {
                format!(
                    "{} / {}",
                    s.artifacts_with_live_credentials, s.artifacts_read
                )
            }),
        ));
        rows.push((
            "admin sessions hijacked".into(),
            PUBLISHED.admin_sessions_hijacked.to_string(),
            col(&|s| s.admin_sessions_hijacked.to_string()),
        ));
        rows.push((
            "replays accepted / attempted".into(),
            "-".into(),
            col(&|s| format!("{} / {}", s.replays_accepted, s.replays)),
        ));
        rows.push((
            "raw capture tokens replayed: accepted".into(),
            "-".into(),
            col(&|s| format!("{} / {}", s.raw_token_replays_accepted, s.raw_token_replays)),
        ));
        rows.push((
            "time to detect".into(),
            PUBLISHED.detect_and_revoke.into(),
            col(&|s| ms(s.time_to_detect_ms)),
        ));
        rows.push((
            "time to revoke".into(),
            PUBLISHED.detect_and_revoke.into(),
            col(&|s| match (s.time_to_detect_ms, s.time_to_revoke_ms) {
                (_, Some(t)) => ms(Some(t)),
                (Some(_), None) => "no access-stopping step".into(),
                (None, None) => "-".into(),
            }),
        ));
        rows.push((
            "findings about the attacker".into(),
            "-".into(),
            col(&|s| {
                if s.findings.is_empty() {
                    "none".into()
                } else {
                    s.findings.join(",")
                }
            }),
        ));
        rows.push((
            "attacker cut off".into(),
            "after weeks".into(),
            col(&|s| if s.attacker_cut_off { "yes" } else { "no" }.into()),
        ));
        rows.push((
            "blast radius B_i".into(),
            "134 / all customers".into(),
            col(&|s| match &s.blast_radius {
                Some(Blast {
                    exposed_tenants,
                    boundary_tenants,
                    b_i: Some(b),
                }) => format!("{b:.3} ({exposed_tenants}/{boundary_tenants})"),
                Some(b) => format!("- ({}/{})", b.exposed_tenants, b.boundary_tenants),
                None => "-".into(),
            }),
        ));
        rows.push((
            "simulated time".into(),
            PUBLISHED.window.into(),
            col(&|s| format!("{} min", s.simulated_minutes)),
        ));
        let mut headings = vec!["".to_owned(), "2023 incident".to_owned()];
        headings.extend(self.scenarios.iter().map(|s| s.scenario.name().to_owned()));
        let mut widths: Vec<usize> = headings.iter().map(String::len).collect();
        for (label, published, cells) in &rows {
            let all = std::iter::once(label)
                .chain(std::iter::once(published))
                .chain(cells);
            for (w, cell) in widths.iter_mut().zip(all) {
                *w = (*w).max(cell.len());
            }
        }
        let mut out = String::new();
        let _ = writeln!(
            out,
            "custody simulate okta-2023: {} tenants, mode {}",
            self.tenants, self.mode
        );
        let line = |out: &mut String, cells: &[&str]| {
            let mut text = String::new();
            for (cell, w) in cells.iter().zip(&widths) {
                let _ = write!(text, "| {cell:<w$} ");
            }
            let _ = writeln!(out, "{text}|");
        };
        let heading: Vec<&str> = headings.iter().map(String::as_str).collect();
        line(&mut out, &heading);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        let rule: Vec<&str> = rule.iter().map(String::as_str).collect();
        line(&mut out, &rule);
        for (label, published, cells) in &rows {
            let mut all = vec![label.as_str(), published.as_str()];
            all.extend(cells.iter().map(String::as_str));
            line(&mut out, &all);
        }
        for s in &self.scenarios {
            let _ = writeln!(out, "\n{}: {}", s.scenario.name(), s.attacker);
            for step in &s.steps {
                let _ = writeln!(out, "  - {}: {}", step.step, step.outcome);
            }
        }
        let undetected: Vec<&str> = self
            .scenarios
            .iter()
            .filter(|s| s.time_to_detect_ms.is_none())
            .map(|s| s.scenario.name())
            .collect();
        let _ = writeln!(
            out,
            "\ntargets: detect within {} ms, revoke within {} ms of the finding; {}{}",
            self.detect_target_ms,
            self.revoke_target_ms,
            if self.holds() {
                "no session hijacked, no live credential exposed, every detected attacker contained inside the targets"
            } else {
                "NOT MET (see the rows above)"
            },
            if undetected.is_empty() {
                String::new()
            } else {
                format!("; not detected: {}", undetected.join(", "))
            }
        );
        out
    }
}
