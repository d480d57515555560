//! The engine: [`Watch`] runs every enabled detector on each signal as it arrives
//! ([`Watch::observe`], synchronous, no runtime needed) and hands findings to a
//! [`Responder`] ([`Watch::run`] over a [`Subscription`], or [`Respond::respond`]
//! for one finding), recording time-to-detect and time-to-revoke.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::bus::Subscription;
use crate::clock::Clock;
use crate::detect::Detector;
use crate::detect::access::{AccessConfig, AccessDetector};
use crate::detect::admin::{AdminDeviceConfig, AdminDeviceDetector};
use crate::detect::hijack::{HijackConfig, HijackDetector};
use crate::detect::rate::{RateConfig, RateDetector};
use crate::detect::travel::{TravelConfig, TravelDetector};
use crate::finding::{AuditMeta, Finding};
use crate::geo::GeoLocator;
use crate::metrics::WatchMetrics;
use crate::response::{Incident, Outcome, Responder, ResponsePolicy};
use crate::signal::Signal;

/// The whole configuration (TOML or JSON), every part with the design defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchConfig {
    /// Names this node in finding ids. Default `node`.
    pub node_id: String,
    /// Rate envelopes.
    pub rate: RateConfig,
    /// Session hijack and replay.
    pub hijack: HijackConfig,
    /// Impossible travel.
    pub travel: TravelConfig,
    /// Bulk and cross-tenant access, probing.
    pub access: AccessConfig,
    /// New device or network for an admin.
    pub admin_device: AdminDeviceConfig,
    /// Finding kind → actions.
    pub response: ResponsePolicy,
}

impl Default for WatchConfig {
    fn default() -> Self {
        Self {
            node_id: "node".into(),
            rate: RateConfig::default(),
            hijack: HijackConfig::default(),
            travel: TravelConfig::default(),
            access: AccessConfig::default(),
            admin_device: AdminDeviceConfig::default(),
            response: ResponsePolicy::default(),
        }
    }
}

/// A configuration value is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The named setting is out of range.
    #[error("watch setting `{0}` is out of range")]
    OutOfRange(&'static str),
}

const MAX_THRESHOLD: u32 = 10_000;

impl WatchConfig {
    /// Checks every value's range.
    ///
    /// # Errors
    /// [`ConfigError::OutOfRange`] naming the first bad setting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |ok: bool, name: &'static str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError::OutOfRange(name))
            }
        };
        bad(
            !self.node_id.is_empty()
                && self.node_id.len() <= 64
                && self
                    .node_id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "node_id",
        )?;
        let r = &self.rate;
        bad(
            r.per_principal.per_minute > 0 && r.per_principal.burst > 0,
            "rate.per_principal",
        )?;
        bad(
            r.per_tenant.per_minute > 0 && r.per_tenant.burst > 0,
            "rate.per_tenant",
        )?;
        bad(
            r.costs.values().all(|c| (1..=MAX_THRESHOLD).contains(c)),
            "rate.costs",
        )?;
        bad(
            r.costs
                .keys()
                .all(|k| custody_audit::event::EventKind::from_name(k).is_some()),
            "rate.costs",
        )?;
        let t = &self.travel;
        bad(
            t.max_speed_kmh.is_finite() && t.max_speed_kmh > 0.0,
            "travel.max_speed_kmh",
        )?;
        bad(
            t.min_distance_km.is_finite() && t.min_distance_km >= 0.0,
            "travel.min_distance_km",
        )?;
        let a = &self.access;
        for (th, name) in [
            (a.cross_tenant_alert, "access.cross_tenant_alert"),
            (a.cross_tenant_block, "access.cross_tenant_block"),
            (a.bulk_artifacts, "access.bulk_artifacts"),
            (a.denial_burst, "access.denial_burst"),
        ] {
            bad(
                (1..=MAX_THRESHOLD).contains(&th.count) && th.window_secs > 0,
                name,
            )?;
        }
        let d = &self.admin_device;
        bad(
            d.max_devices > 0 && d.max_networks > 0,
            "admin_device.max_devices",
        )?;
        for (cap, name) in [
            (r.capacity, "rate.capacity"),
            (self.hijack.capacity, "hijack.capacity"),
            (t.capacity, "travel.capacity"),
            (a.capacity, "access.capacity"),
            (d.capacity, "admin_device.capacity"),
        ] {
            bad(cap > 0, name)?;
        }
        Ok(())
    }
}

/// Keys each detector holds (the state bound check and `/metrics` use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateReport {
    /// (detector name, keys held).
    pub keys: Vec<(&'static str, usize)>,
    /// Authenticated signals the travel detector could not locate.
    pub unlocated: u64,
}

/// Responds to findings: policy, clock, metrics and audit metadata. Shared by the
/// watch's tasks; the broker can also call it directly.
pub struct Respond {
    policy: ResponsePolicy,
    clock: Arc<dyn Clock>,
    metrics: Option<WatchMetrics>,
    meta: AuditMeta,
}

impl std::fmt::Debug for Respond {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Respond")
            .field("policy", &self.policy)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Respond {
    /// The policy in force.
    #[must_use]
    pub fn policy(&self) -> &ResponsePolicy {
        &self.policy
    }

    /// Responds to one finding: records its audit events, carries out each planned
    /// step (access-stopping steps first) and records a containment event per step;
    /// returns once every step has returned. A failed audit record does not hold
    /// back containment (containment must not depend on the log being up); it is
    /// counted in [`Incident::record_failures`].
    pub async fn respond<R: Responder>(&self, finding: &Finding, responder: &R) -> Incident {
        let mut record_failures = 0;
        for event in finding.to_audit_events(&self.meta, self.policy.blocks(finding.kind)) {
            if responder.record(event).await.is_err() {
                record_failures += 1;
            }
        }
        let mut outcomes = Vec::new();
        let mut last_effective: Option<i64> = None;
        let mut any_access_step = false;
        let mut all_effective = true;
        for step in self.policy.plan(finding) {
            let result = responder.execute(finding, &step).await;
            let now = self.clock.now_ms();
            let effective = result.is_ok();
            if step.action.contains_access() {
                any_access_step = true;
                if effective {
                    last_effective = Some(last_effective.map_or(now, |t| t.max(now)));
                } else {
                    all_effective = false;
                }
            }
            if let (Err(_), Some(m)) = (&result, &self.metrics) {
                m.failed(step.action);
            }
            let event = step.to_audit_event(finding, &self.meta, now, effective);
            if responder.record(event).await.is_err() {
                record_failures += 1;
            }
            outcomes.push(Outcome {
                step,
                effective_ms: effective.then_some(now),
                error: result.err(),
            });
        }
        let time_to_revoke_ms = if any_access_step && all_effective {
            last_effective.map(|t| t.saturating_sub(finding.detected_ms).max(0))
        } else {
            None
        };
        if let (Some(ttr), Some(m)) = (time_to_revoke_ms, &self.metrics) {
            m.revoked(finding.kind, ttr);
        }
        Incident {
            finding: finding.clone(),
            outcomes,
            time_to_detect_ms: finding.time_to_detect_ms(),
            time_to_revoke_ms,
            record_failures,
        }
    }
}

/// What [`Watch::run`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Signals judged.
    pub signals: u64,
    /// Findings made.
    pub findings: u64,
    /// Incidents whose every step took effect.
    pub contained: u64,
    /// Incidents with at least one failed step.
    pub uncontained: u64,
}

/// The detection engine.
pub struct Watch {
    detectors: Vec<Box<dyn Detector>>,
    travel: Option<TravelDetector>,
    node_id: String,
    seq: u64,
    clock: Arc<dyn Clock>,
    metrics: Option<WatchMetrics>,
    respond: Arc<Respond>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("node_id", &self.node_id)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

/// Builds a [`Watch`].
pub struct WatchBuilder {
    config: WatchConfig,
    clock: Arc<dyn Clock>,
    locator: Option<Arc<dyn GeoLocator>>,
    metrics: Option<WatchMetrics>,
    meta: AuditMeta,
}

impl WatchBuilder {
    /// A GeoIP locator for signals without coordinates.
    #[must_use]
    pub fn locator(mut self, locator: Arc<dyn GeoLocator>) -> Self {
        self.locator = Some(locator);
        self
    }

    /// Metrics to record into (see [`WatchMetrics::register`]).
    #[must_use]
    pub fn metrics(mut self, metrics: WatchMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Policy bundle and rules version named on the watch's audit events.
    #[must_use]
    pub fn audit_meta(mut self, meta: AuditMeta) -> Self {
        self.meta = meta;
        self
    }

    /// Builds the watch.
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration is out of range.
    pub fn build(self) -> Result<Watch, ConfigError> {
        let c = &self.config;
        c.validate()?;
        let mut detectors: Vec<Box<dyn Detector>> = Vec::new();
        if c.hijack.enabled {
            detectors.push(Box::new(HijackDetector::new(&c.hijack)));
        }
        if c.access.enabled {
            detectors.push(Box::new(AccessDetector::new(&c.access)));
        }
        if c.rate.enabled {
            detectors.push(Box::new(RateDetector::new(&c.rate)));
        }
        if c.admin_device.enabled {
            detectors.push(Box::new(AdminDeviceDetector::new(&c.admin_device)));
        }
        let travel = c
            .travel
            .enabled
            .then(|| TravelDetector::new(&c.travel, self.locator.clone()));
        Ok(Watch {
            detectors,
            travel,
            node_id: c.node_id.clone(),
            seq: 0,
            clock: Arc::clone(&self.clock),
            metrics: self.metrics.clone(),
            respond: Arc::new(Respond {
                policy: self.config.response,
                clock: self.clock,
                metrics: self.metrics,
                meta: self.meta,
            }),
        })
    }
}

impl Watch {
    /// A builder over `config` and `clock`.
    #[must_use]
    pub fn builder(config: WatchConfig, clock: Arc<dyn Clock>) -> WatchBuilder {
        WatchBuilder {
            config,
            clock,
            locator: None,
            metrics: None,
            meta: AuditMeta::default(),
        }
    }

    /// Judges one signal with every detector; returns its findings, each with its
    /// id and detection time set.
    pub fn observe(&mut self, signal: &Signal) -> Vec<Finding> {
        let mut out = Vec::new();
        for d in &mut self.detectors {
            d.observe(signal, &mut out);
        }
        if let Some(t) = &mut self.travel {
            t.observe(signal, &mut out);
        }
        if let Some(m) = &self.metrics {
            m.signal();
        }
        if out.is_empty() {
            return out;
        }
        let now = self.clock.now_ms();
        for f in &mut out {
            self.seq = self.seq.wrapping_add(1);
            f.id = format!("fnd-{}-{now}-{}", self.node_id, self.seq);
            f.detected_ms = now;
            if let Some(m) = &self.metrics {
                m.finding(f.kind, f.time_to_detect_ms());
            }
        }
        out
    }

    /// The responder side, to share with tasks or call directly.
    #[must_use]
    pub fn respond(&self) -> Arc<Respond> {
        Arc::clone(&self.respond)
    }

    /// Keys held per detector.
    #[must_use]
    pub fn state(&self) -> StateReport {
        let mut keys: Vec<_> = self
            .detectors
            .iter()
            .map(|d| (d.name(), d.keys()))
            .collect();
        if let Some(t) = &self.travel {
            keys.push((t.name(), t.keys()));
        }
        StateReport {
            keys,
            unlocated: self.travel.as_ref().map_or(0, TravelDetector::unlocated),
        }
    }

    /// Judges each signal of `subscription` as it arrives until the bus closes; each
    /// finding's response runs as its own task, so a slow responder never delays
    /// detection. Returns once the bus is closed and every response has finished.
    pub async fn run<S: Subscription, R: Responder>(
        mut self,
        mut subscription: S,
        responder: Arc<R>,
    ) -> RunSummary {
        let mut summary = RunSummary::default();
        let mut tasks: JoinSet<bool> = JoinSet::new();
        while let Some(signal) = subscription.next().await {
            summary.signals += 1;
            for finding in self.observe(&signal) {
                summary.findings += 1;
                let respond = Arc::clone(&self.respond);
                let responder = Arc::clone(&responder);
                tasks
                    .spawn(async move { respond.respond(&finding, &*responder).await.contained() });
            }
            while let Some(done) = tasks.try_join_next() {
                tally(&mut summary, done);
            }
        }
        while let Some(done) = tasks.join_next().await {
            tally(&mut summary, done);
        }
        summary
    }
}

fn tally(summary: &mut RunSummary, done: Result<bool, tokio::task::JoinError>) {
    match done {
        Ok(true) => summary.contained += 1,
        _ => summary.uncontained += 1,
    }
}
