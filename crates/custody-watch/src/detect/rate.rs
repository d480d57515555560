//! GCRA rate envelopes on sensitive operations, per principal and per tenant.
//!
//! Each sensitive act costs some units ([`RateConfig::costs`], by event kind); an
//! envelope allows `per_minute` units per minute with bursts of up to `burst` units
//! (the generic cell rate algorithm: one theoretical arrival time per key, so the
//! state per key is two integers). An act beyond the envelope is a finding; one
//! finding per episode (an episode ends when the key's bucket has drained). Denied
//! acts count too: an attempt is an attempt. A key whose bucket has drained holds no
//! information, so its entry expires then.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Detector;
use crate::finding::{Finding, FindingKind, Severity};
use crate::signal::Signal;
use crate::state::BoundedMap;

/// One envelope: a sustained rate and a burst, in cost units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// Units per minute sustained (at least 1).
    pub per_minute: u32,
    /// Units allowed at once (at least 1).
    pub burst: u32,
}

/// Configuration of the rate detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Cost of each sensitive act, by event kind name (`view`, `download`...). Acts
    /// not listed are not rated. Defaults: view 1, download 2, export 5, unseal 5,
    /// grant_request 5.
    pub costs: BTreeMap<String, u32>,
    /// Per principal. Default 60 units/min, burst 60.
    pub per_principal: Envelope,
    /// Per tenant (all principals together). Default 600 units/min, burst 300.
    pub per_tenant: Envelope,
    /// Keys held per scope. Default 100 000.
    pub capacity: usize,
}

impl Default for RateConfig {
    fn default() -> Self {
        let costs = [
            ("view", 1),
            ("download", 2),
            ("export", 5),
            ("unseal", 5),
            ("grant_request", 5),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            enabled: true,
            costs,
            per_principal: Envelope {
                per_minute: 60,
                burst: 60,
            },
            per_tenant: Envelope {
                per_minute: 600,
                burst: 300,
            },
            capacity: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Theoretical arrival time, µs.
    tat_us: i64,
    /// When the current episode (bucket non-empty) began, ms.
    episode_ms: i64,
    /// Latest act time seen, ms: an act stamped earlier (another node's clock,
    /// delivery order) is charged at this time, so time never runs backwards.
    last_ms: i64,
    alerted: bool,
}

struct Gcra {
    interval_us: i64,
    tolerance_us: i64,
    buckets: BoundedMap<String, Bucket>,
}

impl Gcra {
    fn new(env: Envelope, capacity: usize) -> Self {
        let interval_us = 60_000_000 / i64::from(env.per_minute.max(1));
        let tolerance_us = interval_us.saturating_mul(i64::from(env.burst.max(1)));
        Self {
            interval_us,
            tolerance_us,
            // A bucket is empty again `tolerance` after its last conforming act.
            buckets: BoundedMap::new(capacity, tolerance_us / 1000 + 1),
        }
    }

    /// Charges `cost` to `key` at `now_ms`; returns the episode start when this act
    /// exceeds the envelope for the first time in the episode.
    fn charge(&mut self, key: &str, at_ms: i64, cost: u32) -> Option<i64> {
        let (b, _) = self.buckets.touch(key, at_ms, || Bucket {
            tat_us: at_ms.saturating_mul(1000),
            episode_ms: at_ms,
            last_ms: at_ms,
            alerted: false,
        })?;
        let now_ms = at_ms.max(b.last_ms);
        b.last_ms = now_ms;
        let now_us = now_ms.saturating_mul(1000);
        if b.tat_us <= now_us {
            b.tat_us = now_us;
            b.episode_ms = now_ms;
            b.alerted = false;
        }
        let new_tat = b
            .tat_us
            .saturating_add(self.interval_us.saturating_mul(i64::from(cost)));
        if new_tat.saturating_sub(now_us) <= self.tolerance_us {
            b.tat_us = new_tat;
            return None;
        }
        if b.alerted {
            return None;
        }
        b.alerted = true;
        Some(b.episode_ms)
    }
}

/// The rate detector.
pub(crate) struct RateDetector {
    costs: BTreeMap<String, u32>,
    principals: Gcra,
    tenants: Gcra,
}

impl RateDetector {
    pub(crate) fn new(config: &RateConfig) -> Self {
        Self {
            costs: config.costs.clone(),
            principals: Gcra::new(config.per_principal, config.capacity),
            tenants: Gcra::new(config.per_tenant, config.capacity),
        }
    }
}

impl Detector for RateDetector {
    fn name(&self) -> &'static str {
        "rate"
    }

    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>) {
        let Some((kind, _)) = signal.act() else {
            return;
        };
        if !signal.is_authenticated() {
            return;
        }
        let Some(&cost) = self.costs.get(kind.as_str()) else {
            return;
        };
        if let Some(start) = self
            .principals
            .charge(&signal.principal_id, signal.time_ms, cost)
        {
            out.push(
                Finding::about(FindingKind::RatePrincipal, Severity::Medium, signal, start)
                    .with("scope", "principal")
                    .with("operation", kind.as_str()),
            );
        }
        if let Some(start) = self.tenants.charge(&signal.tenant, signal.time_ms, cost) {
            out.push(
                Finding::about(FindingKind::RateTenant, Severity::High, signal, start)
                    .with("scope", "tenant")
                    .with("operation", kind.as_str()),
            );
        }
    }

    fn keys(&self) -> usize {
        self.principals.buckets.len() + self.tenants.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::{EventKind, sample_event};

    use super::*;

    fn view(principal: &str, tenant: &str, t: i64) -> Signal {
        let mut s = Signal::from(&sample_event(EventKind::View, t, 1));
        s.principal_id = principal.into();
        s.tenant = tenant.into();
        s
    }

    #[test]
    fn a_burst_above_the_envelope_fires_once_and_steady_use_does_not() {
        let mut d = RateDetector::new(&RateConfig::default());
        let mut out = vec![];
        // One view per second for ten minutes: exactly the sustained rate.
        for i in 0..600 {
            d.observe(&view("steady", "t1", i * 1000), &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
        // 60 views at once are the burst; the 61st exceeds it.
        for _ in 0..60 {
            d.observe(&view("greedy", "t2", 1_000_000), &mut out);
        }
        assert!(out.is_empty());
        for _ in 0..30 {
            d.observe(&view("greedy", "t2", 1_000_100), &mut out);
        }
        assert_eq!(out.len(), 1, "one finding per episode");
        assert_eq!(out[0].kind, FindingKind::RatePrincipal);
        assert_eq!(out[0].first_event_ms, 1_000_000);
        // After the bucket drains, a new episode can fire again.
        out.clear();
        for _ in 0..61 {
            d.observe(&view("greedy", "t2", 1_000_000 + 3_600_000), &mut out);
        }
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn tenant_envelope_counts_all_principals_and_costs_weigh() {
        let cfg = RateConfig::default();
        let mut d = RateDetector::new(&cfg);
        let mut out = vec![];
        // 300 units per tenant in a burst, spread over 10 principals: 30 exports
        // cost 150 units, within each principal's burst but not the tenant's twice.
        for round in 0..12 {
            for p in 0..10 {
                let mut s = view(&format!("p{p}"), "t", 5_000 + round);
                s.what = crate::signal::Happening::Act {
                    kind: EventKind::Export,
                    decision: custody_audit::event::Decision::Allow,
                };
                d.observe(&s, &mut out);
            }
        }
        let kinds: Vec<_> = out.iter().map(|f| f.kind).collect();
        assert_eq!(kinds, vec![FindingKind::RateTenant]);
        // Not-rated acts cost nothing.
        out.clear();
        let mut s = view("p0", "t", 5_100);
        s.what = crate::signal::Happening::Act {
            kind: EventKind::Ingest,
            decision: custody_audit::event::Decision::Allow,
        };
        for _ in 0..1000 {
            d.observe(&s, &mut out);
        }
        assert!(out.is_empty());
    }

    #[test]
    fn an_act_stamped_in_the_past_is_charged_now_not_refused() {
        let mut d = RateDetector::new(&RateConfig::default());
        let mut out = vec![];
        d.observe(&view("a", "t", 600_000), &mut out);
        d.observe(&view("b", "t", 0), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }
}
