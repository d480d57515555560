//! custody's HTTP service: a thin axum layer over [`custody_broker`]. Handlers extract,
//! call one use case, and shape the answer; every error is an RFC 9457 problem
//! ([`problem::ApiError`]); authentication is DPoP on every route but sign-in and
//! enrolment ([`extract::Authenticated`]).
//!
//! - [`app`] builds the router over an [`AppState`]; [`run`] binds and serves it.
//! - [`config::Config`]: TOML file plus `CUSTODY_*` environment overrides.
//! - [`metrics::Metrics`]: Prometheus metrics at `/metrics` on their own listener
//!   ([`metrics_app`], `Config::metrics_listen`, loopback by default), never on the
//!   public one.
//! - The watch ([`custody_broker::watch`]): signals from the broker judged by the
//!   detectors of `custody-watch`, findings contained (`Config::watch`).

pub mod api_doc;
pub mod config;
pub mod extract;
pub mod metrics;
pub mod problem;
pub mod routes;
pub mod routes_admin;
pub mod routes_incident;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use custody_broker::{Broker, BrokerOptions};

pub use config::Config;
use metrics::Metrics;
use problem::{ApiError, ProblemKind};

/// Every route whose path names artifacts, with the one audit event kind it appends
/// per access (`none`: metadata only, never artifact bytes). The route-inventory test
/// fails when a route naming artifacts is added without an entry here, and checks
/// that each access appends exactly one event. Reading stored bytes additionally
/// requires the durable event of that access inside the broker (I4).
pub const ARTIFACT_ROUTES: &[(&str, &str, &str)] = &[
    ("POST", "/v1/cases/{id}/artifacts", "ingest"),
    ("GET", "/v1/cases/{id}/artifacts", "none"),
    ("GET", "/v1/artifacts/{id}/view", "view"),
    ("GET", "/v1/artifacts/{id}/download", "download"),
    ("POST", "/v1/artifacts/{id}/export-requests", "none"),
    ("POST", "/v1/artifact-exports", "export"),
    ("POST", "/v1/artifact-exports/{id}/release", "unseal"),
];

/// Shared, immutable state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The broker.
    pub broker: Arc<Broker>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Configuration.
    pub config: Arc<Config>,
}

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The broker could not open its data directory, database or keys.
    #[error("cannot open the broker: {0}")]
    Broker(String),
    /// The detection bus could not start (GeoIP database, settings).
    #[error("cannot start the watch: {0}")]
    Watch(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

/// What only code sets, never a configuration file, a flag of `custody serve` or the
/// environment: the broker's clock and the unsafe baseline's switches (used by
/// `custody simulate`).
#[derive(Clone)]
pub struct Overrides {
    /// The broker's one time source.
    pub clock: Arc<dyn custody_token::Clock>,
    /// Safety controls switched off (see [`custody_broker::Dangerous`]).
    pub dangerous: custody_broker::Dangerous,
}

impl Default for Overrides {
    fn default() -> Self {
        Self {
            clock: Arc::new(custody_token::SystemClock),
            dangerous: custody_broker::Dangerous::default(),
        }
    }
}

impl std::fmt::Debug for Overrides {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Overrides")
            .field("dangerous", &self.dangerous)
            .finish_non_exhaustive()
    }
}

/// Opens the broker for `config`, with decisions counted in `metrics`.
pub async fn open_state(config: Config) -> Result<AppState, ServeError> {
    open_state_with(config, Overrides::default()).await
}

/// [`open_state`] with a clock and safety switches set by code.
pub async fn open_state_with(config: Config, overrides: Overrides) -> Result<AppState, ServeError> {
    let metrics = Arc::new(Metrics::new());
    let hook_metrics = Arc::clone(&metrics);
    let broker = Broker::open(BrokerOptions {
        data_dir: config.data_dir.clone(),
        database_url: config.database_url.clone(),
        public_url: config.public_url.clone(),
        on_decision: Some(Arc::new(move |action, allowed| {
            hook_metrics.decision(action, allowed)
        })),
        clock: overrides.clock,
        dangerous: overrides.dangerous,
    })
    .await
    .map_err(|e| ServeError::Broker(e.to_string()))?;
    let broker = Arc::new(broker);
    if config.watch.enabled {
        start_watch(&broker, &config.watch, &metrics)?;
    }
    Ok(AppState {
        broker,
        metrics,
        config: Arc::new(config),
    })
}

/// Starts the detection bus over `broker` (DESIGN §9): findings are contained
/// through the broker and counted in `metrics`. A GeoIP database that cannot be
/// read stops startup (the operator asked for impossible travel).
fn start_watch(
    broker: &Arc<Broker>,
    settings: &config::WatchSettings,
    metrics: &Arc<Metrics>,
) -> Result<(), ServeError> {
    use custody_broker::watch::{self, GeoLocator, MaxMindLocator, WatchOptions};
    let locator = match &settings.geoip_db {
        Some(path) => Some(Arc::new(
            MaxMindLocator::open(path)
                .map_err(|e| ServeError::Watch(format!("{}: {e}", path.display())))?,
        ) as Arc<dyn GeoLocator>),
        None => None,
    };
    let on_action = Arc::clone(metrics);
    let on_drop = Arc::clone(metrics);
    watch::start(
        broker,
        WatchOptions {
            config: settings.detect.clone(),
            locator,
            metrics: Some(metrics.watch().clone()),
            bus_capacity: settings.bus_capacity,
            on_action: Some(Arc::new(move |action, ok| {
                on_action.watch_action(action, ok)
            })),
            on_drop: Some(Arc::new(move || on_drop.watch_bus_dropped())),
        },
    )
    .map_err(|e| ServeError::Watch(e.to_string()))
}

/// The router. Serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// (the network context comes from the peer address).
pub fn app(state: AppState) -> Router {
    let upload_limit = usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX);
    let api = Router::new()
        .route("/v1/enrol", post(routes::post_enrol))
        .route("/v1/token", post(routes::post_token))
        .route("/v1/me", get(routes::get_me))
        .route("/v1/tenants", post(routes::post_tenant))
        .route(
            "/v1/tenants/{id}/support-mode",
            put(routes::put_support_mode),
        )
        .route("/v1/tenants/{id}/cases", post(routes::post_case))
        .route("/v1/principals", post(routes::post_principal))
        .route(
            "/v1/service-accounts",
            post(routes_admin::post_service_account),
        )
        .route(
            "/v1/service-accounts/completions",
            post(routes_admin::post_service_account_completion),
        )
        .route(
            "/v1/service-accounts/{id}/scope",
            post(routes_admin::post_service_account_scope),
        )
        .route("/v1/revocations", post(routes_admin::post_revocation))
        .route(
            "/v1/tenants/{id}/revocation-requests",
            post(routes_admin::post_tenant_revocation_request),
        )
        .route(
            "/v1/tenants/{id}/revocations",
            post(routes_admin::post_tenant_revocation),
        )
        .route(
            "/v1/tenants/{id}/export-freeze",
            delete(routes_admin::delete_export_freeze),
        )
        .route(
            "/v1/revocation-bundles",
            post(routes_incident::post_revocation_bundle),
        )
        .route(
            "/v1/revocation-bundles/executions",
            post(routes_incident::post_revocation_bundle_execution)
                .layer(DefaultBodyLimit::max(routes_incident::MAX_EXECUTION_BODY)),
        )
        .route("/v1/check", get(routes_admin::get_check))
        .route("/v1/cases", get(routes::get_cases))
        .route("/v1/cases/{id}", get(routes::get_case))
        .route("/v1/cases/{id}/assignments", post(routes::post_assignment))
        .route(
            "/v1/cases/{id}/artifacts",
            get(routes::get_artifacts)
                .post(routes::post_artifact)
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/v1/cases/{id}/grants", post(routes::post_grant))
        .route("/v1/grants", get(routes::get_grants))
        .route("/v1/approvals/{id}", get(routes::get_approval))
        .route("/v1/approvals/{id}/approvals", post(routes::post_approval))
        .route("/v1/artifacts/{id}/view", get(routes::get_view))
        .route("/v1/artifacts/{id}/download", get(routes::get_download))
        .route(
            "/v1/artifacts/{id}/export-requests",
            post(routes::post_export_request),
        )
        .route("/v1/artifact-exports", post(routes::post_export))
        .route(
            "/v1/artifact-exports/{id}/release",
            post(routes::post_release),
        )
        .layer(DefaultBodyLimit::max(config::DEFAULT_MAX_JSON))
        .layer(middleware::from_fn_with_state(state.clone(), add_nonce));
    Router::new()
        .route("/healthz", get(routes::get_health))
        .route("/readyz", get(routes::get_ready))
        .route("/.well-known/jwks.json", get(routes::get_jwks))
        .route("/openapi.json", get(api_doc::get_openapi))
        .merge(api)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&state.metrics),
            metrics::track,
        ))
        .with_state(state)
}

/// The metrics router: `GET /metrics` and nothing else, for the metrics listener
/// (`Config::metrics_listen`), which is never the public one: request latencies,
/// decision and refusal counts describe the deployment to whoever can read them.
pub fn metrics_app(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics::expose))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(metrics)
}

async fn not_found() -> ApiError {
    ApiError::new(ProblemKind::NotFound, "no such route")
}

/// 405 as problem+json; axum's method router adds the `Allow` header (RFC 9110
/// §15.5.6) listing the methods the route has.
async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ProblemKind::MethodNotAllowed,
        "method not allowed on this route; see the Allow header",
    )
}

/// Sends a current DPoP nonce with every API response (RFC 9449 §8), so clients
/// rarely need the `use_dpop_nonce` round trip.
async fn add_nonce(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let nonce = state
        .broker
        .nonce()
        .and_then(|n| HeaderValue::from_str(&n).ok());
    if let (false, Some(nonce)) = (response.headers().contains_key("dpop-nonce"), nonce) {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response.into_response()
}

/// Binds `config.listen` (the API) and `config.metrics_listen` (metrics, if on) and
/// serves both until ctrl-c.
pub async fn run(state: AppState) -> Result<(), ServeError> {
    let addr = state.config.listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    if let Some(addr) = state.config.metrics_listen {
        let metrics = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let app = metrics_app(Arc::clone(&state.metrics));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, app).await {
                tracing::error!(error.detail = %e, "metrics listener stopped");
            }
        });
    }
    serve(listener, state).await
}

/// Serves on an already bound listener until ctrl-c (tests bind port 0).
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> Result<(), ServeError> {
    let service = app(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::string_slice, reason = "test code slices ASCII source text")]

    /// Every `.route("...")` in this file whose path names artifacts is in
    /// [`super::ARTIFACT_ROUTES`] (and the reverse).
    #[test]
    fn every_artifact_route_is_in_the_inventory() {
        let source = include_str!("lib.rs");
        let mut found = std::collections::BTreeSet::new();
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + 7..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let path = &rest[..rest.find('"').unwrap()];
            if path.contains("artifact") {
                found.insert(path.to_owned());
            }
        }
        let listed: std::collections::BTreeSet<_> = super::ARTIFACT_ROUTES
            .iter()
            .map(|(_, path, _)| (*path).to_owned())
            .collect();
        assert_eq!(
            found, listed,
            "a route naming artifacts is missing from ARTIFACT_ROUTES"
        );
    }
}
