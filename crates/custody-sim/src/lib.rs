#![doc = include_str!("../README.md")]
//!
//! Modules: [`clock`] (the simulated clock shared by server and clients),
//! [`deploy`] (a real server per scenario), [`world`] (tenants, captures, service
//! account, agent grants), [`capture`] (HAR 1.2 from recorded exchanges),
//! [`attack`] (the attacker's scenarios) and [`report`] (figures and the table).

pub mod attack;
pub mod capture;
pub mod clock;
pub mod deploy;
mod error;
pub mod report;
pub mod world;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use custody_audit::event::{Decision, EventKind};
use custody_audit::note::{NoteSigner, NoteVerifier};
use custody_audit::store::LogStore as _;

pub use attack::Scenario;
pub use error::SimError;
pub use report::{ScenarioReport, SimReport};

/// Detection target (issue 6): within 5 s of the pattern starting.
pub const DETECT_TARGET_MS: u64 = 5_000;
/// Revocation target: effective within 1 s of the finding.
pub const REVOKE_TARGET_MS: u64 = 1_000;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Tenants per deployment.
    pub tenants: usize,
    /// Tenants whose case the support agent holds a grant on.
    pub agent_grants: usize,
    /// Sanitizing, token binding and detection switched off.
    pub unsafe_baseline: bool,
    /// The scenarios, each on a fresh deployment.
    pub scenarios: Vec<Scenario>,
    /// Where the deployments' data directories go (kept); `None`: a temporary
    /// directory removed at the end.
    pub work_dir: Option<PathBuf>,
}

impl Options {
    /// Every scenario over `tenants` tenants, the agent holding grants on 5 of them,
    /// every control on.
    pub fn new(tenants: usize) -> Self {
        Self {
            tenants,
            agent_grants: 5,
            unsafe_baseline: false,
            scenarios: Scenario::ALL.to_vec(),
            work_dir: None,
        }
    }
}

/// Runs every scenario of `options`; `progress` hears one line per stage.
///
/// # Errors
/// [`SimError`] when a deployment cannot be started or set up, or its audit log
/// cannot be read; no partial report.
pub fn run(options: &Options, progress: &mut dyn FnMut(&str)) -> Result<SimReport, SimError> {
    if options.tenants == 0 || options.tenants > 100_000 {
        return Err(SimError::Options(
            "--tenants must be between 1 and 100000".into(),
        ));
    }
    let temp;
    let root = match &options.work_dir {
        Some(dir) => dir.clone(),
        None => {
            temp = tempfile::tempdir().map_err(|source| SimError::Io {
                what: "creating a temporary directory".into(),
                source,
            })?;
            temp.path().to_owned()
        }
    };
    let mut scenarios = Vec::new();
    for &scenario in &options.scenarios {
        scenarios.push(run_one(
            options,
            scenario,
            &root.join(scenario.name()),
            progress,
        )?);
    }
    Ok(SimReport {
        mode: if options.unsafe_baseline {
            "unsafe-baseline"
        } else {
            "custody"
        },
        tenants: options.tenants,
        incident: report::PUBLISHED,
        scenarios,
        detect_target_ms: DETECT_TARGET_MS,
        revoke_target_ms: REVOKE_TARGET_MS,
    })
}

fn run_one(
    options: &Options,
    scenario: Scenario,
    dir: &Path,
    progress: &mut dyn FnMut(&str),
) -> Result<ScenarioReport, SimError> {
    let clock = Arc::new(clock::SimClock::new());
    progress(&format!(
        "{}: starting a server over {}",
        scenario.name(),
        dir.display()
    ));
    let deployment = deploy::Deployment::start(dir, options.unsafe_baseline, clock)?;
    progress(&format!(
        "{}: setting up {} tenants (admins, captures, uploads), the service account and the agent's grants",
        scenario.name(),
        options.tenants
    ));
    let world = world::build(&deployment, options.tenants, options.agent_grants)?;
    progress(&format!("{}: attacking", scenario.name()));
    let played = attack::play(&deployment, &world, scenario)?;
    // The watch works asynchronously and checkpoints come every 100 ms.
    deployment.settle(1_500);
    let mut report = played.report;
    detection(
        &deployment,
        &played.principal,
        played.started_ms,
        &mut report,
    )?;
    drop(world);
    let data = deployment.stop();
    report.blast_radius = blast(&data, &played.principal, played.started_ms)?;
    Ok(report)
}

/// Time to detect and to revoke, and the findings, from the server's audit log.
fn detection(
    d: &deploy::Deployment,
    principal: &str,
    started_ms: u64,
    report: &mut ScenarioReport,
) -> Result<(), SimError> {
    let log = d.broker.audit_log();
    let mut events = Vec::new();
    let mut failed = None;
    log.store()
        .scan(0, log.len(), &mut |_, record| {
            match custody_audit::record::decode(record) {
                Ok(event) => events.push(event),
                Err(e) => failed = Some(e.to_string()),
            }
            failed.is_none()
        })
        .map_err(|e| SimError::Audit(e.to_string()))?;
    if let Some(e) = failed {
        return Err(SimError::Audit(e));
    }
    let started = i64::try_from(started_ms).unwrap_or(i64::MAX);
    let findings: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Finding && e.time_ms >= started)
        .collect();
    let mut seen = std::collections::BTreeSet::new();
    for f in findings
        .iter()
        .filter(|e| e.actor.principal_id == principal)
    {
        if seen.insert(f.resource.id.clone()) {
            let kind = f
                .resource
                .kind
                .strip_prefix("finding:")
                .unwrap_or("finding");
            report.findings.push(kind.to_owned());
        }
    }
    report.replay_findings = findings
        .iter()
        .filter(|e| e.actor.principal_id != principal)
        .map(|e| &e.resource.id)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let Some(first) = findings.iter().find(|e| e.actor.principal_id == principal) else {
        return Ok(());
    };
    report.time_to_detect_ms = u64::try_from(first.time_ms - started).ok();
    let stopped = events.iter().find(|e| {
        e.kind == EventKind::Containment
            && e.decision == Decision::Allow
            && e.trace_id == first.trace_id
            && (e.resource.kind.starts_with("principal:")
                || e.resource.kind.starts_with("session:"))
    });
    report.time_to_revoke_ms = stopped.and_then(|e| u64::try_from(e.time_ms - first.time_ms).ok());
    Ok(())
}

/// B_i of `principal` from the stopped deployment's audit log, verified against the
/// deployment's own audit key.
fn blast(data: &Path, principal: &str, started_ms: u64) -> Result<Option<report::Blast>, SimError> {
    let audit = |e: &dyn std::fmt::Display| SimError::Audit(e.to_string());
    let dir = data.join("audit");
    let seed = zeroize::Zeroizing::new(
        std::fs::read(data.join("keys").join("audit.key")).map_err(|e| audit(&e))?,
    );
    let seed: zeroize::Zeroizing<[u8; 32]> = zeroize::Zeroizing::new(
        seed.as_slice()
            .try_into()
            .map_err(|_| SimError::Audit("the audit key is not 32 bytes".into()))?,
    );
    let store = custody_audit::store::SegmentStore::open_read_only(&dir).map_err(|e| audit(&e))?;
    let genesis: NoteVerifier = store
        .key_records()
        .map_err(|e| audit(&e))?
        .first()
        .and_then(|k| k.parse().ok())
        .ok_or_else(|| SimError::Audit("the audit log has no genesis key".into()))?;
    let signer = NoteSigner::from_seed(genesis.name(), &seed).map_err(|e| audit(&e))?;
    drop(store);
    let log = custody_incident::VerifiedLog::open_dir(&dir, &[signer.verifier()], None)
        .map_err(|e| audit(&e))?;
    let radius = custody_incident::blast_radius(
        &log,
        principal,
        i64::try_from(started_ms).unwrap_or(i64::MAX),
        None,
    )
    .map_err(|e| audit(&e))?;
    Ok(Some(report::Blast {
        exposed_tenants: radius.exposed_tenants,
        boundary_tenants: radius.boundary_tenants,
        b_i: radius.b_i,
    }))
}
