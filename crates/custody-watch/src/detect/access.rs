//! Bulk and cross-tenant artifact access, and bursts of policy denials, per
//! principal (service accounts included: no class is exempt but `system`).
//!
//! - Cross-tenant: allowed artifact acts (view, download, export, unseal, delete...)
//!   touching `cross_tenant_alert.count` distinct tenants inside its window fire
//!   [`FindingKind::CrossTenantAccess`] (default 3 in 10 min); reaching
//!   `cross_tenant_block.count` inside its window fires
//!   [`FindingKind::CrossTenantBlock`] (default 10 in 1 h), whose default response
//!   suspends the principal.
//! - Bulk: `bulk_artifacts.count` distinct artifacts inside its window (default 100
//!   in 10 min) fire [`FindingKind::BulkArtifactAccess`]. Uploads and sanitization
//!   transforms do not count.
//! - Probing: `denial_burst.count` denied acts inside its window (default 10 in
//!   5 min) fire [`FindingKind::PolicyProbing`].
//!
//! Per principal the state is bounded by the thresholds: at most the larger tenant
//! count of distinct tenants, the bulk count of artifact fingerprints and the denial
//! count of timestamps. Each finding fires once per window: after it, the same kind
//! is quiet for that principal until its window has passed.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

use custody_audit::event::{Decision, EventKind};
use serde::{Deserialize, Serialize};

use super::{Detector, secs_ms};
use crate::finding::{Finding, FindingKind, Severity};
use crate::signal::Signal;
use crate::state::BoundedMap;

/// A count inside a sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// How many (at least 1, at most 10 000).
    pub count: u32,
    /// Window, seconds.
    pub window_secs: u64,
}

/// Configuration of the access detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Alert level. Default 3 tenants in 600 s.
    pub cross_tenant_alert: Threshold,
    /// Block level. Default 10 tenants in 3 600 s.
    pub cross_tenant_block: Threshold,
    /// Bulk level. Default 100 distinct artifacts in 600 s.
    pub bulk_artifacts: Threshold,
    /// Probing level. Default 10 denials in 300 s.
    pub denial_burst: Threshold,
    /// Principals remembered. Default 100 000.
    pub capacity: usize,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cross_tenant_alert: Threshold {
                count: 3,
                window_secs: 600,
            },
            cross_tenant_block: Threshold {
                count: 10,
                window_secs: 3_600,
            },
            bulk_artifacts: Threshold {
                count: 100,
                window_secs: 600,
            },
            denial_burst: Threshold {
                count: 10,
                window_secs: 300,
            },
            capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone)]
struct TenantSeen {
    tenant: String,
    first_ms: i64,
    last_ms: i64,
}

#[derive(Debug, Default)]
struct PrincipalState {
    tenants: Vec<TenantSeen>,
    /// (artifact fingerprint, first access) in arrival order.
    artifacts: VecDeque<(u64, i64)>,
    denials: VecDeque<i64>,
    quiet_until: [i64; 4],
}

const ALERT: usize = 0;
const BLOCK: usize = 1;
const BULK: usize = 2;
const PROBE: usize = 3;

/// The access detector.
pub(crate) struct AccessDetector {
    config: AccessConfig,
    principals: BoundedMap<String, PrincipalState>,
    hasher: RandomState,
}

impl AccessDetector {
    pub(crate) fn new(config: &AccessConfig) -> Self {
        let longest = [
            config.cross_tenant_alert.window_secs,
            config.cross_tenant_block.window_secs,
            config.bulk_artifacts.window_secs,
            config.denial_burst.window_secs,
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        Self {
            config: config.clone(),
            principals: BoundedMap::new(config.capacity, secs_ms(longest)),
            hasher: RandomState::new(),
        }
    }
}

/// Fires `which` if it is not quiet, then keeps it quiet for `window_ms`.
fn arm(state: &mut PrincipalState, which: usize, now: i64, window_ms: i64) -> bool {
    let Some(quiet) = state.quiet_until.get_mut(which) else {
        return false;
    };
    if now < *quiet {
        return false;
    }
    *quiet = now.saturating_add(window_ms);
    true
}

fn tenants_within(state: &PrincipalState, since: i64) -> (Vec<String>, i64) {
    let mut first = i64::MAX;
    let mut names = Vec::new();
    for t in state.tenants.iter().filter(|t| t.last_ms >= since) {
        first = first.min(t.first_ms.max(since));
        names.push(t.tenant.clone());
    }
    (names, first)
}

fn cross_tenant(
    config: &AccessConfig,
    state: &mut PrincipalState,
    signal: &Signal,
    out: &mut Vec<Finding>,
) {
    let now = signal.time_ms;
    let cap = config
        .cross_tenant_alert
        .count
        .max(config.cross_tenant_block.count) as usize;
    let longest = secs_ms(
        config
            .cross_tenant_alert
            .window_secs
            .max(config.cross_tenant_block.window_secs),
    );
    state
        .tenants
        .retain(|t| now.saturating_sub(t.last_ms) <= longest);
    if let Some(t) = state.tenants.iter_mut().find(|t| t.tenant == signal.tenant) {
        t.last_ms = t.last_ms.max(now);
    } else {
        if state.tenants.len() >= cap
            && let Some((oldest, _)) = state
                .tenants
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| t.last_ms)
        {
            state.tenants.swap_remove(oldest);
        }
        state.tenants.push(TenantSeen {
            tenant: signal.tenant.clone(),
            first_ms: now,
            last_ms: now,
        });
    }
    for (level, threshold, kind, severity) in [
        (
            BLOCK,
            config.cross_tenant_block,
            FindingKind::CrossTenantBlock,
            Severity::Critical,
        ),
        (
            ALERT,
            config.cross_tenant_alert,
            FindingKind::CrossTenantAccess,
            Severity::High,
        ),
    ] {
        let window = secs_ms(threshold.window_secs);
        let (tenants, first) = tenants_within(state, now.saturating_sub(window));
        if tenants.len() < threshold.count as usize || !arm(state, level, now, window) {
            continue;
        }
        let mut f = Finding::about(kind, severity, signal, first)
            .with("distinct_tenants", tenants.len().to_string())
            .with("window_secs", threshold.window_secs.to_string())
            .with_opt("session", signal.session_id.as_ref())
            .with_opt("last_artifact", signal.resource_id.as_ref());
        f.tenants = tenants;
        out.push(f);
        if level == BLOCK {
            // The block supersedes the alert for this window.
            let _ = arm(state, ALERT, now, window);
            break;
        }
    }
}

fn bulk(
    config: &AccessConfig,
    hasher: &RandomState,
    state: &mut PrincipalState,
    signal: &Signal,
    out: &mut Vec<Finding>,
) {
    let Some(artifact) = signal.resource_id.as_ref() else {
        return;
    };
    let now = signal.time_ms;
    let threshold = config.bulk_artifacts;
    let window = secs_ms(threshold.window_secs);
    while state
        .artifacts
        .front()
        .is_some_and(|(_, t)| now.saturating_sub(*t) > window)
    {
        state.artifacts.pop_front();
    }
    let fp = hasher.hash_one((signal.tenant.as_str(), artifact.as_str()));
    if state.artifacts.iter().any(|(h, _)| *h == fp) {
        return;
    }
    if state.artifacts.len() >= threshold.count as usize {
        state.artifacts.pop_front();
    }
    state.artifacts.push_back((fp, now));
    if state.artifacts.len() >= threshold.count as usize && arm(state, BULK, now, window) {
        let first = state.artifacts.front().map_or(now, |(_, t)| *t);
        out.push(
            Finding::about(
                FindingKind::BulkArtifactAccess,
                Severity::High,
                signal,
                first,
            )
            .with("distinct_artifacts", state.artifacts.len().to_string())
            .with("window_secs", threshold.window_secs.to_string())
            .with_opt("session", signal.session_id.as_ref())
            .with("last_artifact", artifact.clone()),
        );
    }
}

fn probing(
    config: &AccessConfig,
    state: &mut PrincipalState,
    signal: &Signal,
    out: &mut Vec<Finding>,
) {
    let now = signal.time_ms;
    let threshold = config.denial_burst;
    let window = secs_ms(threshold.window_secs);
    while state
        .denials
        .front()
        .is_some_and(|t| now.saturating_sub(*t) > window)
    {
        state.denials.pop_front();
    }
    if state.denials.len() >= threshold.count as usize {
        state.denials.pop_front();
    }
    state.denials.push_back(now);
    if state.denials.len() >= threshold.count as usize && arm(state, PROBE, now, window) {
        let first = state.denials.front().copied().unwrap_or(now);
        out.push(
            Finding::about(FindingKind::PolicyProbing, Severity::Medium, signal, first)
                .with("denials", state.denials.len().to_string())
                .with("window_secs", threshold.window_secs.to_string())
                .with_opt("session", signal.session_id.as_ref())
                .with_opt("last_resource", signal.resource_id.as_ref()),
        );
    }
}

impl Detector for AccessDetector {
    fn name(&self) -> &'static str {
        "access"
    }

    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>) {
        let Some((kind, decision)) = signal.act() else {
            return;
        };
        if !signal.is_authenticated() {
            return;
        }
        let artifact_read =
            kind.touches_artifact() && !matches!(kind, EventKind::Ingest | EventKind::Transform);
        if decision == Decision::Allow && !artifact_read {
            return;
        }
        let Self {
            config,
            principals,
            hasher,
        } = self;
        let Some((state, _)) = principals.touch(
            signal.principal_id.as_str(),
            signal.time_ms,
            PrincipalState::default,
        ) else {
            return;
        };
        if decision == Decision::Deny {
            probing(config, state, signal, out);
        } else {
            cross_tenant(config, state, signal, out);
            bulk(config, hasher, state, signal, out);
        }
    }

    fn keys(&self) -> usize {
        self.principals.len()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::sample_event;

    use super::*;
    use crate::signal::{Happening, PrincipalClass};

    fn download(principal: &str, tenant: &str, artifact: &str, t: i64) -> Signal {
        let mut s = Signal::from(&sample_event(EventKind::Download, t, 1));
        s.principal_id = principal.into();
        s.principal_class = PrincipalClass::ServiceAccount;
        s.tenant = tenant.into();
        s.resource_id = Some(artifact.into());
        s.what = Happening::Act {
            kind: EventKind::Download,
            decision: Decision::Allow,
        };
        s
    }

    fn run(d: &mut AccessDetector, signals: &[Signal]) -> Vec<Finding> {
        let mut out = vec![];
        for s in signals {
            d.observe(s, &mut out);
        }
        out
    }

    #[test]
    fn two_tenants_do_not_alert_three_in_ten_minutes_do() {
        let mut d = AccessDetector::new(&AccessConfig::default());
        let out = run(
            &mut d,
            &[
                download("svc", "t1", "a1", 0),
                download("svc", "t2", "a2", 60_000),
            ],
        );
        assert!(out.is_empty());
        let out = run(&mut d, &[download("svc", "t3", "a3", 120_000)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::CrossTenantAccess);
        assert_eq!(out[0].tenants, vec!["t1", "t2", "t3"]);
        assert_eq!(out[0].first_event_ms, 0);
        // Three tenants spread over more than ten minutes do not alert.
        let mut d = AccessDetector::new(&AccessConfig::default());
        let out = run(
            &mut d,
            &[
                download("svc", "t1", "a1", 0),
                download("svc", "t2", "a2", 400_000),
                download("svc", "t3", "a3", 800_000),
            ],
        );
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn ten_tenants_in_an_hour_block_and_one_tenant_never_does() {
        let mut d = AccessDetector::new(&AccessConfig::default());
        // One every 6 minutes: at most two per 10 minutes, ten within the hour.
        let signals: Vec<_> = (0..10)
            .map(|i| download("svc", &format!("t{i}"), &format!("a{i}"), i * 360_000))
            .collect();
        let out = run(&mut d, &signals);
        let kinds: Vec<_> = out.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![FindingKind::CrossTenantBlock]);
        assert_eq!(out[0].severity, Severity::Critical);
        assert_eq!(out[0].tenants.len(), 10);
        // The same principal's steady work in one tenant: no finding.
        let mut d = AccessDetector::new(&AccessConfig::default());
        let signals: Vec<_> = (0..99)
            .map(|i| download("agent", "t1", &format!("a{i}"), i * 1_000))
            .collect();
        assert!(run(&mut d, &signals).is_empty());
    }

    #[test]
    fn a_hundred_distinct_artifacts_are_bulk_repeats_are_not() {
        let mut d = AccessDetector::new(&AccessConfig::default());
        let same: Vec<_> = (0..500).map(|i| download("svc", "t1", "a1", i)).collect();
        assert!(run(&mut d, &same).is_empty());
        let distinct: Vec<_> = (0..100)
            .map(|i| download("svc", "t1", &format!("b{i}"), 1_000 + i))
            .collect();
        let out = run(&mut d, &distinct);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::BulkArtifactAccess);
    }

    #[test]
    fn a_burst_of_denials_is_probing() {
        let mut d = AccessDetector::new(&AccessConfig::default());
        let deny = |t: i64| {
            let mut s = download("agent", "t1", "a1", t);
            s.what = Happening::Act {
                kind: EventKind::View,
                decision: Decision::Deny,
            };
            s
        };
        // Nine denials in five minutes: quiet. A tenth: probing.
        let nine: Vec<_> = (0..9).map(|i| deny(i * 30_000)).collect();
        assert!(run(&mut d, &nine).is_empty());
        let out = run(&mut d, &[deny(280_000)]);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::PolicyProbing);
        assert_eq!(out[0].first_event_ms, 0);
        // Denials spread one per minute never reach ten in five minutes.
        let mut d = AccessDetector::new(&AccessConfig::default());
        let slow: Vec<_> = (0..60).map(|i| deny(i * 60_000)).collect();
        assert!(run(&mut d, &slow).is_empty());
    }
}
