//! Prometheus metrics ([`Metrics`]): request latency histograms by route, policy
//! decisions by outcome, artifacts refused, the watch's detection and containment
//! figures (time-to-detect, time-to-revoke, findings, actions, bus drops), served at `/metrics` in the OpenMetrics
//! text format. Labels are route templates and fixed words, never ids or values.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::problem::InternalDetail;

/// Labels of one HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route template (e.g. `/v1/artifacts/{id}`), or `unmatched`.
    pub route: String,
    /// The method.
    pub method: String,
    /// The status code.
    pub status: u16,
}

/// Labels of one policy decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// The action (e.g. `artifact.view`).
    pub action: String,
    /// `allow` or `deny`.
    pub outcome: String,
}

/// Labels of a refused artifact.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// Why: `replayable` (credentials remain) or `unparseable`.
    pub reason: String,
}

/// Labels of one containment step of the watch.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// The action (`revoke_session`, `suspend_principal`, `notify`...).
    pub action: &'static str,
    /// `effective` or `failed`.
    pub outcome: &'static str,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    decisions: Family<DecisionLabels, Counter>,
    refused: Family<RefusalLabels, Counter>,
    watch: custody_broker::watch::WatchMetrics,
    watch_actions: Family<ActionLabels, Counter>,
    watch_bus_dropped: Counter,
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("custody");
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 50 µs .. ~6.5 s
            Histogram::new(exponential_buckets(0.000_05, 2.0, 18))
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route, method and status",
            requests.clone(),
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "policy_decisions",
            "Policy decisions by action and outcome",
            decisions.clone(),
        );
        let refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "artifacts_refused",
            "Artifacts refused at ingest (fail-closed)",
            refused.clone(),
        );
        // The watch (DESIGN §9): signals, findings by kind, time-to-detect and
        // time-to-revoke histograms, failed steps; then steps by action and the
        // signals a full bus could not take (alert on any).
        let watch = custody_broker::watch::WatchMetrics::register(&mut registry);
        let watch_actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "watch_actions",
            "Containment steps of the watch by action and outcome",
            watch_actions.clone(),
        );
        let watch_bus_dropped = Counter::default();
        registry.register(
            "watch_bus_dropped",
            "Signals the detection bus could not take (full): alert on any",
            watch_bus_dropped.clone(),
        );
        Self {
            registry,
            requests,
            decisions,
            refused,
            watch,
            watch_actions,
            watch_bus_dropped,
        }
    }

    /// The watch's own metrics, to hand to the watch (clones share the series).
    pub fn watch(&self) -> &custody_broker::watch::WatchMetrics {
        &self.watch
    }

    /// Counts one containment step of the watch.
    pub fn watch_action(&self, action: &'static str, effective: bool) {
        let outcome = if effective { "effective" } else { "failed" };
        self.watch_actions
            .get_or_create(&ActionLabels { action, outcome })
            .inc();
    }

    /// Counts one signal the detection bus could not take.
    pub fn watch_bus_dropped(&self) {
        self.watch_bus_dropped.inc();
    }

    /// Counts one policy decision.
    pub fn decision(&self, action: &str, allowed: bool) {
        let outcome = if allowed { "allow" } else { "deny" };
        self.decisions
            .get_or_create(&DecisionLabels {
                action: action.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one refused artifact.
    pub fn refused(&self, reason: &str) {
        self.refused
            .get_or_create(&RefusalLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Middleware: times each request under its route template, and logs the detail
/// of 5xx responses (the one place it is logged).
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    if let Some(InternalDetail(detail)) = response.extensions().get::<InternalDetail>() {
        tracing::error!(http.route = %route, http.status = status, error.detail = %detail, "request failed");
    }
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status,
        })
        .observe(start.elapsed().as_secs_f64());
    response
}

/// `GET /metrics`.
pub async fn expose(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        metrics.render(),
    )
}
