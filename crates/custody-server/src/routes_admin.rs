//! Handlers of the privileged administration routes: service accounts through a
//! quorum, revocation (RFC 7009 style, and tenant-wide behind a quorum) and lifting a
//! containment freeze. Each one extracts, calls one broker use case, and shapes the
//! answer. Names are `verb_noun`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use custody_broker::revocations::Revocation;
use custody_broker::service_accounts::ServiceAccountSpec;
use custody_store::{ApprovalRequestId, DeviceId, PrincipalId, TenantId};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::extract::{ApiJson, Authenticated, api_error, parse_id};
use crate::problem::{ApiError, ProblemBody, ProblemKind};

type ApiResult<T> = Result<T, ApiError>;

fn fail(state: &AppState) -> impl Fn(custody_broker::BrokerError) -> ApiError + '_ {
    move |e| api_error(e, state.broker.nonce())
}

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

fn tenant_ids(tenants: &[String]) -> ApiResult<Vec<TenantId>> {
    tenants
        .iter()
        .map(|t| parse_id("tenants", t, TenantId::parse))
        .collect()
}

/// Body of `POST /v1/service-accounts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccountBody {
    /// Display name.
    pub display_name: String,
    /// Its one function: `ingest`, `scan`, `triage` or `revocation`.
    pub function: String,
    /// The explicit tenant list (1 to 100 tenant ids).
    pub tenants: Vec<String>,
}

/// `POST /v1/service-accounts`: asks for a service account; returns the approval
/// request (`serviceaccount.create`) that a support lead and a security reviewer sign.
#[utoipa::path(post, path = "/v1/service-accounts", tag = "service-accounts", security(("dpop" = [])), request_body = ServiceAccountBody, responses((status = 201, description = "The approval request to sign"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such tenant", body = ProblemBody)))]
pub async fn post_service_account(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<ServiceAccountBody>,
) -> ApiResult<Response> {
    let spec = ServiceAccountSpec {
        display_name: body.display_name,
        function: body.function,
        tenants: tenant_ids(&body.tenants)?,
    };
    let view = state
        .broker
        .request_service_account(&caller, &spec)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)).into_response())
}

/// Body of `POST /v1/service-accounts/{id}/scope`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopeBody {
    /// The new function.
    pub function: String,
    /// The new explicit tenant list.
    pub tenants: Vec<String>,
}

/// `POST /v1/service-accounts/{id}/scope`: asks for a new scope of a service account
/// (the same quorum as creation).
#[utoipa::path(post, path = "/v1/service-accounts/{id}/scope", tag = "service-accounts", security(("dpop" = [])), params(("id" = String, Path, description = "Service account (principal) id")), request_body = ScopeBody, responses((status = 201, description = "The approval request to sign"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such service account or tenant", body = ProblemBody)))]
pub async fn post_service_account_scope(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ScopeBody>,
) -> ApiResult<Response> {
    let account = parse_id("service account id", &id, PrincipalId::parse)?;
    let tenants = tenant_ids(&body.tenants)?;
    let view = state
        .broker
        .request_service_account_scope(&caller, &account, &body.function, &tenants)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)).into_response())
}

/// Body of `POST /v1/service-accounts/completions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompletionBody {
    /// The approved service-account request.
    pub approval_request_id: String,
}

/// `POST /v1/service-accounts/completions`: the requester redeems an approved request
/// (once): the account is created (with its one-time enrolment code) or re-scoped.
#[utoipa::path(post, path = "/v1/service-accounts/completions", tag = "service-accounts", security(("dpop" = [])), request_body = CompletionBody, responses((status = 201, description = "The service account, and for a new one its one-time enrolment code"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy (no quorum, not the requester)", body = ProblemBody), (status = 409, description = "The request was already used", body = ProblemBody), (status = 410, description = "The request expired", body = ProblemBody)))]
pub async fn post_service_account_completion(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<CompletionBody>,
) -> ApiResult<Response> {
    let approval = parse_id(
        "approval_request_id",
        &body.approval_request_id,
        ApprovalRequestId::parse,
    )?;
    let created = state
        .broker
        .complete_service_account(&caller, &approval)
        .await
        .map_err(fail(&state))?;
    let mut response = (
        StatusCode::CREATED,
        Json(json!({
            "principal": to_json(&created.principal)?,
            "enrolment_code": created.enrolment_code,
        })),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Body of `POST /v1/revocations`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevocationBody {
    /// `token` (the caller's own access token), `session` (the caller's own session,
    /// or with `id` and `principal` another one), `principal` or `device` (with `id`).
    pub subject: String,
    /// The session id, principal id or device id.
    #[serde(default)]
    pub id: Option<String>,
    /// The principal of a session named by `id`.
    #[serde(default)]
    pub principal: Option<String>,
}

fn revocation(body: &RevocationBody) -> ApiResult<Revocation> {
    let bad = |m: &str| ApiError::new(ProblemKind::BadRequest, m.to_owned());
    let id = || {
        body.id
            .as_deref()
            .ok_or_else(|| bad("id is required for this subject"))
    };
    match (body.subject.as_str(), &body.id, &body.principal) {
        ("token", None, None) => Ok(Revocation::OwnToken),
        ("session", None, None) => Ok(Revocation::OwnSession),
        ("session", Some(session), Some(principal)) => Ok(Revocation::Session {
            session: session.clone(),
            principal: parse_id("principal", principal, PrincipalId::parse)?,
        }),
        ("principal", _, None) => Ok(Revocation::Principal(parse_id(
            "id",
            id()?,
            PrincipalId::parse,
        )?)),
        ("device", _, None) => Ok(Revocation::Device(parse_id("id", id()?, DeviceId::parse)?)),
        _ => Err(bad(
            "subject must be token or session (own), session with id and principal, \
             principal with id, or device with id",
        )),
    }
}

/// `POST /v1/revocations`: revokes the caller's own token or session, or (per policy)
/// a principal's tokens, one of its sessions or a device; answers once the revocation
/// is effective on this node, with receipts signed by the Token Authority's key.
#[utoipa::path(post, path = "/v1/revocations", tag = "revocation", security(("dpop" = [])), request_body = RevocationBody, responses((status = 200, description = "Effective; the signed receipts"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such principal or device", body = ProblemBody)))]
pub async fn post_revocation(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<RevocationBody>,
) -> ApiResult<Json<Value>> {
    let what = revocation(&body)?;
    let revoked = state
        .broker
        .revoke(&caller, &what)
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&revoked)?))
}

/// `POST /v1/tenants/{id}/revocation-requests`: the approval request
/// (`tenant.revoke_all`) for revoking everything of a tenant.
#[utoipa::path(post, path = "/v1/tenants/{id}/revocation-requests", tag = "revocation", security(("dpop" = [])), params(("id" = String, Path, description = "Tenant id")), responses((status = 201, description = "The approval request to sign"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such tenant", body = ProblemBody)))]
pub async fn post_tenant_revocation_request(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let tenant = parse_id("tenant id", &id, TenantId::parse)?;
    let view = state
        .broker
        .request_tenant_revocation(&caller, &tenant)
        .await
        .map_err(fail(&state))?;
    Ok((StatusCode::CREATED, Json(to_json(&view)?)).into_response())
}

/// Body of `POST /v1/tenants/{id}/revocations`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRevocationBody {
    /// The approved `tenant.revoke_all` request (required but for the tenant's own
    /// customer admins, per the default policy).
    #[serde(default)]
    pub approval_request_id: Option<String>,
}

/// `POST /v1/tenants/{id}/revocations`: revokes every token, session, grant, pending
/// export and device key touching the tenant; answers once effective on this node.
#[utoipa::path(post, path = "/v1/tenants/{id}/revocations", tag = "revocation", security(("dpop" = [])), params(("id" = String, Path, description = "Tenant id")), request_body = TenantRevocationBody, responses((status = 200, description = "Effective; the signed receipts and counts"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy (no quorum)", body = ProblemBody), (status = 409, description = "The approval was already used", body = ProblemBody)))]
pub async fn post_tenant_revocation(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<TenantRevocationBody>,
) -> ApiResult<Json<Value>> {
    let tenant = parse_id("tenant id", &id, TenantId::parse)?;
    let approval = body
        .approval_request_id
        .as_deref()
        .map(|a| parse_id("approval_request_id", a, ApprovalRequestId::parse))
        .transpose()?;
    let revoked = state
        .broker
        .revoke_tenant(&caller, &tenant, approval.as_ref())
        .await
        .map_err(fail(&state))?;
    Ok(Json(to_json(&revoked)?))
}

/// `DELETE /v1/tenants/{id}/export-freeze`: lifts a containment freeze of the
/// tenant's exports (operators).
#[utoipa::path(delete, path = "/v1/tenants/{id}/export-freeze", tag = "revocation", security(("dpop" = [])), params(("id" = String, Path, description = "Tenant id")), responses((status = 200, description = "Whether a freeze was lifted"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such tenant", body = ProblemBody)))]
pub async fn delete_export_freeze(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let tenant = parse_id("tenant id", &id, TenantId::parse)?;
    let lifted = state
        .broker
        .unfreeze_exports(&caller, &tenant)
        .await
        .map_err(fail(&state))?;
    Ok(Json(json!({ "lifted": lifted })))
}

/// `GET /v1/check`: `custody check`, the invariants of DESIGN.md §2 evaluated on this
/// deployment (operators and security reviewers). The report names ids, rule ids and
/// locations only; `clean` is false when any violation is listed.
#[utoipa::path(get, path = "/v1/check", tag = "check", security(("dpop" = [])), responses((status = 200, description = "The check report: `clean`, `violations` (invariant, what, subject, location, rule id), `counts`, `notes`"), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody)))]
pub async fn get_check(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> ApiResult<Json<Value>> {
    let report = state.broker.check(&caller).await.map_err(fail(&state))?;
    Ok(Json(to_json(&report)?))
}
