//! Handlers of the incident routes (DESIGN §10): staging a signed revocation bundle
//! and executing one in a single call. Each one extracts, calls one broker use case
//! ([`custody_broker::bundles`]) and shapes the answer. Names are `verb_noun`.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use custody_store::{ApprovalRequestId, TenantId};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::extract::{ApiJson, Authenticated, api_error, parse_id};
use crate::problem::{ApiError, ProblemBody};

/// Largest body of `POST /v1/revocation-bundles/executions` (a signed bundle of up to
/// 1,000 tenants and its approvals).
pub const MAX_EXECUTION_BODY: usize = custody_broker::bundles::MAX_BUNDLE_BYTES + 256 * 1024;

type ApiResult<T> = Result<T, ApiError>;

fn to_json<T: serde::Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))
}

/// Body of `POST /v1/revocation-bundles`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StageBundleBody {
    /// The tenants (1 to 1,000 distinct tenant ids).
    pub tenants: Vec<String>,
    /// Lifetime in seconds (default 86,400; at most 604,800).
    #[serde(default)]
    pub ttl_secs: Option<u64>,
}

/// `POST /v1/revocation-bundles`: stages a signed revocation bundle for the tenants and
/// opens one `tenant.revoke_all` approval request per tenant, bound to its digest.
#[utoipa::path(post, path = "/v1/revocation-bundles", tag = "incident", security(("dpop" = [])), request_body = StageBundleBody, responses((status = 201, description = "The bundle: `jws` (compact JWS signed by the Token Authority key, verifiable with /.well-known/jwks.json), `digest`, the readable `bundle`, and `approval_requests` (one per tenant)"), (status = 400, description = "Malformed request", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy", body = ProblemBody), (status = 404, description = "No such tenant", body = ProblemBody)))]
pub async fn post_revocation_bundle(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<StageBundleBody>,
) -> ApiResult<Response> {
    let tenants = body
        .tenants
        .iter()
        .map(|t| parse_id("tenants", t, TenantId::parse))
        .collect::<ApiResult<Vec<_>>>()?;
    let staged = state
        .broker
        .stage_revocation_bundle(&caller, &tenants, body.ttl_secs)
        .await
        .map_err(|e| api_error(e, state.broker.nonce()))?;
    Ok((StatusCode::CREATED, Json(to_json(&staged)?)).into_response())
}

/// Body of `POST /v1/revocation-bundles/executions`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBundleBody {
    /// The signed bundle (the `jws` of the staging answer).
    pub bundle: String,
    /// Approved request per tenant: tenant id -> approval request id.
    #[serde(default)]
    pub approvals: BTreeMap<String, String>,
}

/// `POST /v1/revocation-bundles/executions`: executes a signed bundle in one call;
/// answers once every revocation is effective on this node, with the signed receipts.
#[utoipa::path(post, path = "/v1/revocation-bundles/executions", tag = "incident", security(("dpop" = [])), request_body = ExecuteBundleBody, responses((status = 200, description = "Effective: per tenant what was revoked and what was added since staging, the epochs with one signed receipt each, and the signed execution `receipt`"), (status = 400, description = "Malformed, tampered or foreign bundle, or an approval that is not the bundle's", body = ProblemBody), (status = 401, description = "No valid DPoP-bound token and proof", body = ProblemBody), (status = 403, description = "Denied by policy (no quorum, not the requester)", body = ProblemBody), (status = 404, description = "No such tenant or approval request", body = ProblemBody), (status = 409, description = "An approval request was already used", body = ProblemBody), (status = 410, description = "The bundle expired", body = ProblemBody)))]
pub async fn post_revocation_bundle_execution(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(body): ApiJson<ExecuteBundleBody>,
) -> ApiResult<Json<Value>> {
    let approvals = body
        .approvals
        .iter()
        .map(|(tenant, id)| {
            parse_id("approvals", id, ApprovalRequestId::parse).map(|id| (tenant.clone(), id))
        })
        .collect::<ApiResult<BTreeMap<_, _>>>()?;
    let done = state
        .broker
        .execute_revocation_bundle(&caller, &body.bundle, &approvals)
        .await
        .map_err(|e| api_error(e, state.broker.nonce()))?;
    Ok(Json(to_json(&done)?))
}
