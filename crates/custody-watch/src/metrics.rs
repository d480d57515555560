//! Prometheus metrics of the watch ([`WatchMetrics`]), registered into a registry
//! the caller passes (the server's, `prometheus-client` 0.24): signals judged,
//! findings by kind, time-to-detect and time-to-revoke histograms by finding kind,
//! failed containment steps by action. Labels are fixed words, never ids.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::finding::FindingKind;
use crate::response::Action;

/// Labels by finding kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// The finding kind (`session_hijack`...).
    pub kind: &'static str,
}

/// Labels by action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action (`revoke_session`...).
    pub action: &'static str,
}

/// The watch's metrics. Cloning shares the same series.
#[derive(Clone, Debug)]
pub struct WatchMetrics {
    signals: Counter,
    findings: Family<KindLabels, Counter>,
    time_to_detect: Family<KindLabels, Histogram>,
    time_to_revoke: Family<KindLabels, Histogram>,
    failed_steps: Family<ActionLabels, Counter>,
}

impl WatchMetrics {
    /// Creates the metrics and registers them into `registry` as
    /// `watch_signals`, `watch_findings`, `watch_time_to_detect_seconds`,
    /// `watch_time_to_revoke_seconds` and `watch_containment_failures` (the
    /// registry's prefix, e.g. `custody_`, goes before).
    pub fn register(registry: &mut Registry) -> Self {
        let signals = Counter::default();
        let findings = Family::<KindLabels, Counter>::default();
        // 1 ms .. ~4.7 h: streaming detection is sub-second; windowed patterns
        // (cross-tenant in an hour) take up to their window.
        let time_to_detect = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 3.0, 17))
        });
        // 100 µs .. ~6.5 s: tau_max is 1 s.
        let time_to_revoke = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 17))
        });
        let failed_steps = Family::<ActionLabels, Counter>::default();
        registry.register(
            "watch_signals",
            "Signals judged by the watch",
            signals.clone(),
        );
        registry.register("watch_findings", "Findings by kind", findings.clone());
        registry.register(
            "watch_time_to_detect_seconds",
            "First event of a pattern to its finding, by finding kind",
            time_to_detect.clone(),
        );
        registry.register(
            "watch_time_to_revoke_seconds",
            "Finding to its last access-stopping containment step effective, by finding kind",
            time_to_revoke.clone(),
        );
        registry.register(
            "watch_containment_failures",
            "Containment steps that failed, by action",
            failed_steps.clone(),
        );
        Self {
            signals,
            findings,
            time_to_detect,
            time_to_revoke,
            failed_steps,
        }
    }

    pub(crate) fn signal(&self) {
        self.signals.inc();
    }

    pub(crate) fn finding(&self, kind: FindingKind, time_to_detect_ms: i64) {
        let labels = KindLabels {
            kind: kind.as_str(),
        };
        self.findings.get_or_create(&labels).inc();
        self.time_to_detect
            .get_or_create(&labels)
            .observe(ms_to_secs(time_to_detect_ms));
    }

    pub(crate) fn revoked(&self, kind: FindingKind, time_to_revoke_ms: i64) {
        self.time_to_revoke
            .get_or_create(&KindLabels {
                kind: kind.as_str(),
            })
            .observe(ms_to_secs(time_to_revoke_ms));
    }

    pub(crate) fn failed(&self, action: Action) {
        self.failed_steps
            .get_or_create(&ActionLabels {
                action: action.as_str(),
            })
            .inc();
    }
}

fn ms_to_secs(ms: i64) -> f64 {
    ms.max(0) as f64 / 1000.0
}
