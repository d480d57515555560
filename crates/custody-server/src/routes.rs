//! The handlers: each one extracts, calls one broker use case, and shapes the answer.
//! Names are `verb_noun`.

use std::io;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custody_broker::directory::PrincipalSpec;
use custody_broker::view::PageRequest;
use custody_store::{
    ApprovalRequestId, ArtifactId, CaseId, PrincipalClass, PrincipalId, SupportMode, TenantId,
};
use futures_util::TryStreamExt;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::{ApiJson, Authenticated, api_error, parse_id, peer};
use crate::problem::{ApiError, ProblemBody, ProblemKind};

type ApiResult<T> = Result<T, ApiError>;

fn fail(state: &AppState) -> impl Fn(custody_broker::BrokerError) -> ApiError + '_ {
    move |e| api_error(e, state.broker.nonce())
}

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

/// `GET /healthz`: the process is up.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process is up", body = crate::api_doc::bodies::Health))
)]
pub async fn get_health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /readyz`: the database answers and a policy bundle is active.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Database up and a policy bundle active", body = crate::api_doc::bodies::Ready),
        (status = 503, description = "Not ready (same body)", body = crate::api_doc::bodies::Ready),
    )
)]
pub async fn get_ready(State(state): State<AppState>) -> Response {
    let db = state.broker.store().ping().await.is_ok();
    let policy = state.broker.policy_bundle_id();
    let ready = db && policy.is_some();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({ "ready": ready, "database": db, "policy_bundle": policy })),
    )
        .into_response()
}

/// `GET /.well-known/jwks.json`: the Token Authority's public keys.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "identity",
    responses((status = 200, description = "The token signing keys (JWKS)", body = crate::api_doc::bodies::Jwks, content_type = "application/jwk-set+json"))
)]
pub async fn get_jwks(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/jwk-set+json"),
        )],
        state.broker.jwks_json(),
    )
        .into_response()
}

/// Body of `POST /v1/enrol`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrolBody {
    /// The one-time enrolment code.
    pub code: String,
    /// The device's public document (`custody device show --json`).
    pub device: Value,
}

/// `POST /v1/enrol`: registers a device with a one-time code.
#[utoipa::path(
    post,
    path = "/v1/enrol",
    tag = "identity",
    request_body = EnrolBody,
    responses(
        (status = 201, description = "Device enrolled", body = crate::api_doc::bodies::Enrolled),
        (status = 400, description = "Bad device document", body = ProblemBody, content_type = "application/problem+json"),
        (status = 401, description = "Unknown, used or expired code", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The device is already enrolled", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_enrol(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<EnrolBody>,
) -> ApiResult<Response> {
    let device = state
        .broker
        .enrol(&body.code, &body.device.to_string())
        .await
        .map_err(fail(&state))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "device_id": device.id, "principal_id": device.principal_id })),
    )
        .into_response())
}

/// `POST /v1/token`: device-key sign-in (a DPoP proof with the server nonce).
#[utoipa::path(
    post,
    path = "/v1/token",
    tag = "identity",
    params(("DPoP" = String, Header, description = "DPoP proof over POST /v1/token with the server nonce, by an enrolled device key")),
    responses(
        (status = 200, description = "A DPoP-bound access token", body = crate::api_doc::bodies::Token,
            headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 401, description = "`use-dpop-nonce` (retry with the nonce in `DPoP-Nonce`) or refused", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the sign-in; no token was issued", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_token(State(state): State<AppState>, request: Request) -> ApiResult<Response> {
    let (parts, _) = request.into_parts();
    let peer = peer(&parts)?;
    let proof = parts
        .headers
        .get("dpop")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            api_error(
                custody_broker::BrokerError::UseNonce("a DPoP proof is required".into()),
                state.broker.nonce(),
            )
        })?;
    let signed_in = state
        .broker
        .sign_in(proof, peer.ip())
        .await
        .map_err(fail(&state))?;
    let mut response = Json(json!({
        "access_token": signed_in.access_token,
        "token_type": "DPoP",
        "expires_in": signed_in.expires_in,
        "class": signed_in.class.as_str(),
        "principal_id": signed_in.principal,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /v1/me`: who the token says the caller is.
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "identity",
    security(("dpop" = [])),
    responses(
        (status = 200, description = "The caller", body = crate::api_doc::bodies::Me),
    )
)]
pub async fn get_me(Authenticated(caller): Authenticated) -> Json<Value> {
    Json(json!({
        "principal_id": caller.principal.id,
        "class": caller.principal.class.as_str(),
        "tenant_id": caller.principal.tenant_id,
        "device_id": caller.device.id,
        "display_name": caller.principal.display_name,
    }))
}

/// Body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantBody {
    /// Tenant name.
    pub name: String,
}

/// `POST /v1/tenants`.
#[utoipa::path(
    post,
    path = "/v1/tenants",
    tag = "directory",
    security(("dpop" = [])),
    request_body = TenantBody,
    responses(
        (status = 201, description = "Tenant created", body = crate::api_doc::bodies::Tenant),
        (status = 400, description = "Name missing, too long or with control characters", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "A tenant of that name exists", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_tenant(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<TenantBody>,
) -> ApiResult<Response> {
    let tenant = state
        .broker
        .create_tenant(&caller, &body.name)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&tenant)?)).into_response())
}

/// Body of `POST /v1/principals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrincipalBody {
    /// `operator`, `customer_admin` or `support_agent` (service accounts have their
    /// own route).
    #[schema(pattern = "^(operator|customer_admin|support_agent|service_account)$")]
    pub class: String,
    /// The tenant of a customer admin.
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// Display name.
    pub display_name: String,
    /// Approver groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `POST /v1/principals`: returns the principal and its one-time enrolment code.
#[utoipa::path(
    post,
    path = "/v1/principals",
    tag = "directory",
    security(("dpop" = [])),
    request_body = PrincipalBody,
    responses(
        (status = 201, description = "Principal and its one-time enrolment code", body = crate::api_doc::bodies::PrincipalCreated, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 400, description = "Unknown class, malformed tenant id, or a tenant given to a class that has none", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such tenant", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_principal(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<PrincipalBody>,
) -> ApiResult<Response> {
    let class = PrincipalClass::from_text(&body.class)
        .ok_or_else(|| ApiError::new(ProblemKind::BadRequest, "class is not a principal class"))?;
    let tenant = body
        .tenant_id
        .as_deref()
        .map(|t| parse_id("tenant_id", t, TenantId::parse))
        .transpose()?;
    let spec = PrincipalSpec {
        class,
        tenant,
        display_name: body.display_name,
        groups: body.groups,
    };
    let (principal, code) = state
        .broker
        .create_principal(&caller, &spec)
        .await
        .map_err(fail(&state))?;
    let mut response = (
        StatusCode::CREATED,
        Json(json!({ "principal": to_json(&principal)?, "enrolment_code": code })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Body of `PUT /v1/tenants/{id}/support-mode`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupportModeBody {
    /// `off`, `on-request` or `delegated`.
    #[schema(pattern = "^(off|on-request|delegated)$")]
    pub mode: String,
}

/// `PUT /v1/tenants/{id}/support-mode`.
#[utoipa::path(
    put,
    path = "/v1/tenants/{id}/support-mode",
    tag = "directory",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = SupportModeBody,
    responses(
        (status = 200, description = "Tenant", body = crate::api_doc::bodies::Tenant),
        (status = 404, description = "No such tenant", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn put_support_mode(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SupportModeBody>,
) -> ApiResult<Json<Value>> {
    let tenant = parse_id("tenant id", &id, TenantId::parse)?;
    let mode = SupportMode::from_text(&body.mode).ok_or_else(|| {
        ApiError::new(
            ProblemKind::BadRequest,
            "mode must be off, on-request or delegated",
        )
    })?;
    let tenant = state
        .broker
        .set_support_mode(&caller, &tenant, mode)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&tenant)?))
}

/// Body of `POST /v1/tenants/{id}/cases`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseBody {
    /// Case title.
    pub title: String,
}

/// `POST /v1/tenants/{id}/cases`.
#[utoipa::path(
    post,
    path = "/v1/tenants/{id}/cases",
    tag = "cases",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Tenant id")),
    request_body = CaseBody,
    responses(
        (status = 201, description = "Case opened", body = crate::api_doc::bodies::Case),
        (status = 404, description = "No such tenant", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_case(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<CaseBody>,
) -> ApiResult<Response> {
    let tenant = parse_id("tenant id", &id, TenantId::parse)?;
    let case = state
        .broker
        .open_case(&caller, &tenant, &body.title)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&case)?)).into_response())
}

/// `GET /v1/cases`.
#[utoipa::path(
    get,
    path = "/v1/cases",
    tag = "cases",
    security(("dpop" = [])),
    responses(
        (status = 200, description = "Cases the caller may read", body = crate::api_doc::bodies::Cases),
    )
)]
pub async fn get_cases(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let cases = state
        .broker
        .list_cases(&caller)
        .await
        .map_err(fail(&state))?;
    Ok(Json(json!({ "cases": to_json(&cases)? })))
}

/// `GET /v1/cases/{id}`.
#[utoipa::path(
    get,
    path = "/v1/cases/{id}",
    tag = "cases",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "Case", body = crate::api_doc::bodies::Case),
        (status = 404, description = "No such case", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_case(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let case = parse_id("case id", &id, CaseId::parse)?;
    let case = state
        .broker
        .case(&caller, &case)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&case)?))
}

/// Body of `POST /v1/cases/{id}/assignments`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The support agent.
    pub agent_id: String,
}

/// `POST /v1/cases/{id}/assignments`.
#[utoipa::path(
    post,
    path = "/v1/cases/{id}/assignments",
    tag = "cases",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Case id")),
    request_body = AssignBody,
    responses(
        (status = 200, description = "Case", body = crate::api_doc::bodies::Case),
        (status = 404, description = "No such case or agent", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The agent is already assigned to the case", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_assignment(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<AssignBody>,
) -> ApiResult<Json<Value>> {
    let case = parse_id("case id", &id, CaseId::parse)?;
    let agent = parse_id("agent_id", &body.agent_id, PrincipalId::parse)?;
    let case = state
        .broker
        .assign_case(&caller, &case, &agent)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&case)?))
}

/// Query of `POST /v1/cases/{id}/artifacts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// The file name (shown to agents; redacted if it carries a credential).
    #[serde(default)]
    pub name: Option<String>,
}

fn query_error<E: std::fmt::Display>(_: E) -> ApiError {
    ApiError::new(ProblemKind::BadRequest, "the query string is invalid")
}

/// `POST /v1/cases/{id}/artifacts`: the raw artifact as the body, streamed through
/// the sanitizer; 201 with its metadata, or 422 with the refusal report.
#[utoipa::path(
    post,
    path = "/v1/cases/{id}/artifacts",
    tag = "artifacts",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Case id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The raw artifact (HAR, JSON, text, zip)"),
    responses(
        (status = 201, description = "Stored sanitized and encrypted; audited as ingest", body = crate::api_doc::bodies::Artifact),
        (status = 404, description = "No such case", body = ProblemBody, content_type = "application/problem+json"),
        (status = 413, description = "Larger than the upload limit", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Refused: replayable material remains, or unparseable (with the value-free report)", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the ingest; nothing was stored", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_artifact(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let case = parse_id("case id", &id, CaseId::parse)?;
    let Query(query) = query.map_err(query_error)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = || {
        ApiError::new(
            ProblemKind::PayloadTooLarge,
            format!(
                "uploads are limited to {} bytes",
                state.config.max_upload_bytes
            ),
        )
    };
    if declared.is_some_and(|len| len > state.config.max_upload_bytes) {
        return Err(too_large());
    }
    if declared == Some(0) {
        return Err(ApiError::new(
            ProblemKind::BadRequest,
            "the artifact is empty",
        ));
    }
    // A body without a declared length (chunked) is cut at the limit while it
    // streams; whatever the sanitizer then makes of the cut, the answer is 413 and the
    // broker has discarded the partial blob.
    let over_limit = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = std::sync::Arc::clone(&over_limit);
    let limited = http_body_util::Limited::new(
        body,
        usize::try_from(state.config.max_upload_bytes).unwrap_or(usize::MAX),
    );
    let stream = http_body_util::BodyDataStream::new(limited).map_err(move |e| {
        if e.is::<http_body_util::LengthLimitError>() {
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        io::Error::other(e)
    });
    let reader = tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream));
    let name = query.name.unwrap_or_else(|| "artifact".to_owned());
    let artifact = state
        .broker
        .upload(&caller, &case, &name, reader)
        .await
        .map_err(|e| {
            if over_limit.load(std::sync::atomic::Ordering::SeqCst) {
                return too_large();
            }
            if let custody_broker::BrokerError::Refused { reason, .. } = &e {
                state.metrics.refused(reason);
            }
            api_error(e, state.broker.nonce())
        })?;
    let mut body = artifact_json(&artifact);
    if let (Some(object), Ok(report)) = (
        body.as_object_mut(),
        serde_json::from_str::<Value>(&artifact.report_json),
    ) {
        object.insert("report".into(), report);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// An artifact as the API shows it: its metadata without the storage identifiers
/// (blob key, data key id) and with the digest as `sha256:<hex>`. The sanitization
/// report is added for the uploader only.
fn artifact_json(artifact: &custody_store::Artifact) -> Value {
    let hex: String = artifact
        .sanitized_sha256
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    json!({
        "id": artifact.id,
        "case_id": artifact.case_id,
        "tenant_id": artifact.tenant_id,
        "kind": artifact.kind.as_str(),
        "original_name": artifact.original_name,
        "size": artifact.size,
        "sanitized_sha256": format!("sha256:{hex}"),
        "rules_version": artifact.rules_version,
        "created_at": artifact.created_at,
    })
}

/// `GET /v1/cases/{id}/artifacts`.
#[utoipa::path(
    get,
    path = "/v1/cases/{id}/artifacts",
    tag = "artifacts",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "Artifact metadata", body = crate::api_doc::bodies::Artifacts),
        (status = 404, description = "No such case", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_artifacts(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let case = parse_id("case id", &id, CaseId::parse)?;
    let artifacts = state
        .broker
        .list_artifacts(&caller, &case)
        .await
        .map_err(fail(&state))?;
    let artifacts: Vec<Value> = artifacts.iter().map(artifact_json).collect();
    Ok(Json(json!({ "artifacts": artifacts })))
}

/// Query of `GET /v1/artifacts/{id}/view`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ViewQuery {
    /// First item.
    #[serde(default)]
    #[param(value_type = i64, minimum = 0)]
    pub offset: u64,
    /// Items per page (clamped to 1..=200).
    #[serde(default = "default_limit")]
    #[param(value_type = i64, minimum = 0, maximum = 4_294_967_295_i64)]
    pub limit: u32,
    /// HAR entries: `summary` (default: time, method, URL, status, size, media type)
    /// or `full` (the whole sanitized entry, re-scanned before it is shown).
    #[serde(default)]
    #[param(inline)]
    pub detail: ViewDetail,
}

/// How much of each HAR entry a view page shows.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ViewDetail {
    /// The fields a support engineer scans first.
    #[default]
    Summary,
    /// The whole sanitized entry.
    Full,
}

fn default_limit() -> u32 {
    50
}

/// `GET /v1/artifacts/{id}/view`: one server-rendered page (audited as `view`).
#[utoipa::path(
    get,
    path = "/v1/artifacts/{id}/view",
    tag = "artifacts",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Artifact id"), ViewQuery),
    responses(
        (status = 200, description = "One page; audited as view", body = crate::api_doc::bodies::Page),
        (status = 404, description = "No such artifact", body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "The page holds replayable material under the current rules; nothing was shown", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the view; nothing was shown", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_view(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    query: Result<Query<ViewQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let artifact = parse_id("artifact id", &id, ArtifactId::parse)?;
    let Query(query) = query.map_err(query_error)?;
    // The document says int64 (as the store counts); a larger offset is a bad request,
    // not an empty page.
    if i64::try_from(query.offset).is_err() {
        return Err(ApiError::new(
            ProblemKind::BadRequest,
            "offset is out of range",
        ));
    }
    let page = state
        .broker
        .view(
            &caller,
            &artifact,
            PageRequest {
                offset: query.offset,
                limit: query.limit,
                detail: match query.detail {
                    ViewDetail::Summary => custody_broker::view::Detail::Summary,
                    ViewDetail::Full => custody_broker::view::Detail::Full,
                },
            },
        )
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&page)?))
}

/// `GET /v1/artifacts/{id}/download`: the sanitized file (audited as `download`).
#[utoipa::path(
    get,
    path = "/v1/artifacts/{id}/download",
    tag = "artifacts",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Artifact id")),
    responses(
        (status = 200, description = "The sanitized file; audited as download", body = Vec<u8>, content_type = "application/octet-stream", headers(("Content-Disposition" = String, description = "`attachment` with the artifact id and kind"), ("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such artifact", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the download; nothing was sent", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_download(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let artifact = parse_id("artifact id", &id, ArtifactId::parse)?;
    let (artifact, reader) = state
        .broker
        .download(&caller, &artifact)
        .await
        .map_err(fail(&state))?;
    let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Vec<u8>>>(4);
    tokio::task::spawn_blocking(move || pump(reader, &tx));
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    let mut response = Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"{}.{}\"",
        artifact.id, artifact.kind
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// Moves decrypted chunks to the response; a failed chunk aborts the response (the
/// client sees a truncated transfer, never unauthenticated bytes).
fn pump(mut reader: impl io::Read, tx: &tokio::sync::mpsc::Sender<io::Result<Vec<u8>>>) {
    loop {
        let mut buf = vec![0u8; 64 * 1024];
        match reader.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                buf.truncate(n);
                if tx.blocking_send(Ok(buf)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = tx.blocking_send(Err(e));
                return;
            }
        }
    }
}

/// Body of `POST /v1/cases/{id}/grants`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// Actions wanted (`artifact.view`, `artifact.export`).
    pub actions: Vec<String>,
    /// Lifetime in seconds (default and maximum 3600).
    #[serde(default)]
    pub lifetime_secs: Option<u64>,
}

/// `POST /v1/cases/{id}/grants`: a support agent requests a just-in-time grant.
#[utoipa::path(
    post,
    path = "/v1/cases/{id}/grants",
    tag = "grants",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Case id")),
    request_body = GrantBody,
    responses(
        (status = 201, description = "Grant requested, with the approval request to sign", body = crate::api_doc::bodies::GrantView),
        (status = 400, description = "Unknown action, or a lifetime of 0 or above 3600 s", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such case", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the request; nothing was stored", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_grant(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<GrantBody>,
) -> ApiResult<Response> {
    let case = parse_id("case id", &id, CaseId::parse)?;
    let view = state
        .broker
        .request_grant(&caller, &case, &body.actions, body.lifetime_secs)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)).into_response())
}

/// `GET /v1/grants`: the caller's grants.
#[utoipa::path(
    get,
    path = "/v1/grants",
    tag = "grants",
    security(("dpop" = [])),
    responses(
        (status = 200, description = "The caller's grants", body = crate::api_doc::bodies::Grants),
    )
)]
pub async fn get_grants(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let grants = state
        .broker
        .list_grants(&caller)
        .await
        .map_err(fail(&state))?;
    Ok(Json(json!({ "grants": to_json(&grants)? })))
}

/// `GET /v1/approvals/{id}`: the exact request an approver signs.
#[utoipa::path(
    get,
    path = "/v1/approvals/{id}",
    tag = "grants",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Approval request id")),
    responses(
        (status = 200, description = "The exact request and its digest", body = crate::api_doc::bodies::GrantView),
        (status = 404, description = "No such approval request", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn get_approval(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let id = parse_id("approval request id", &id, ApprovalRequestId::parse)?;
    let view = state
        .broker
        .approval(&caller, &id)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&view)?))
}

/// Body of `POST /v1/approvals/{id}/approvals`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalBody {
    /// Ed25519 signature (hex) by the approver's device key over the approval
    /// statement of custody-policy.
    pub signature: String,
    /// The signed time (Unix seconds), part of the statement.
    pub signed_at: u64,
}

/// `POST /v1/approvals/{id}/approvals`: adds the caller's signed approval.
#[utoipa::path(
    post,
    path = "/v1/approvals/{id}/approvals",
    tag = "grants",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Approval request id")),
    request_body = ApprovalBody,
    responses(
        (status = 200, description = "Approval recorded; grant status", body = crate::api_doc::bodies::GrantView),
        (status = 400, description = "Signature not hex, not 64 bytes, or not valid for this request and the caller's device key", body = ProblemBody, content_type = "application/problem+json"),
        (status = 404, description = "No such approval request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "Already approved by this principal, or the request is decided", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The approval request expired", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the approval; nothing was stored", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_approval(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ApprovalBody>,
) -> ApiResult<Json<Value>> {
    let id = parse_id("approval request id", &id, ApprovalRequestId::parse)?;
    let signature = decode_hex(&body.signature)
        .ok_or_else(|| ApiError::new(ProblemKind::BadRequest, "signature must be hex"))?;
    let view = state
        .broker
        .approve(&caller, &id, &signature, body.signed_at)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&view)?))
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 256 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|pair| u8::from_str_radix(pair, 16).ok())
        })
        .collect()
}

/// `POST /v1/artifacts/{id}/export-requests`: the approval request for exporting the
/// artifact to the caller's device (needs an approved grant covering export).
#[utoipa::path(
    post,
    path = "/v1/artifacts/{id}/export-requests",
    tag = "exports",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Artifact id")),
    responses(
        (status = 201, description = "The export approval request", body = crate::api_doc::bodies::ExportRequest),
        (status = 404, description = "No such artifact", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_export_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let artifact = parse_id("artifact id", &id, ArtifactId::parse)?;
    let view = state
        .broker
        .request_export(&caller, &artifact)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)).into_response())
}

/// Body of `POST /v1/artifact-exports`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportBody {
    /// The approved export request.
    pub approval_request_id: String,
}

/// `POST /v1/artifact-exports`: the export file (sealed to the caller's device, wrapped
/// under a release key the server holds); audited as `export`.
#[utoipa::path(
    post,
    path = "/v1/artifact-exports",
    tag = "exports",
    security(("dpop" = [])),
    request_body = ExportBody,
    responses(
        (status = 201, description = "The export file; audited as export", body = Vec<u8>, content_type = "application/octet-stream", headers(("Custody-Export-Id" = String, description = "The export id (`exp_...`)"), ("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such approval request", body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "The approval request is not approved or was used", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "The approval request expired", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the export; nothing was sent", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_export(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<ExportBody>,
) -> ApiResult<Response> {
    let approval = parse_id(
        "approval_request_id",
        &body.approval_request_id,
        ApprovalRequestId::parse,
    )?;
    let sealed = state
        .broker
        .export(&caller, &approval)
        .await
        .map_err(fail(&state))?;
    let mut response = (StatusCode::CREATED, sealed.to_file_bytes()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(value) = HeaderValue::from_str(sealed.id.as_str()) {
        headers.insert("custody-export-id", value);
    }
    Ok(response)
}

/// `POST /v1/artifact-exports/{id}/release`: the release key, once (audited as
/// `unseal`, refusals too).
#[utoipa::path(
    post,
    path = "/v1/artifact-exports/{id}/release",
    tag = "exports",
    security(("dpop" = [])),
    params(("id" = String, Path, description = "Export id")),
    responses(
        (status = 200, description = "The release key, once; audited as unseal", body = crate::api_doc::bodies::Release, headers(("Cache-Control" = String, description = "`no-store`"))),
        (status = 404, description = "No such export", body = ProblemBody, content_type = "application/problem+json"),
        (status = 410, description = "Already released, revoked, expired, or another device or network", body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "The audit log could not record the release; no key was sent", body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn post_release(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let export = parse_id("export id", &id, custody_store::ExportId::parse)?;
    let release = state
        .broker
        .release(&caller, &export)
        .await
        .map_err(fail(&state))?;
    let key: String = release.key.iter().map(|b| format!("{b:02x}")).collect();
    let mut response = Json(json!({
        "release_key": key,
        "network_context": release.network_context,
        "broker_key": serde_json::from_str::<Value>(&release.broker_key_jwk).unwrap_or(Value::Null),
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}
