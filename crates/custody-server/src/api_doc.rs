//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the body types, served at `/openapi.json`.
//!
//! The annotations state each route's own answers (its success body, and the errors
//! only it gives: 404, 409, 410, 422...). `Conventions` then adds what the router and
//! the extractors answer for every route of a kind, so the document says everything
//! a route really returns (the schemathesis run in `tests/schemathesis` checks it):
//!
//! - DPoP-secured routes need two security schemes together: `dpop` (the
//!   `Authorization: DPoP <token>` header) and `dpop_proof` (the `DPoP` proof header);
//!   they answer 401 (with `WWW-Authenticate` and `DPoP-Nonce`), 403 and 500;
//! - a route with a path id or query parameters answers 400 when one is malformed;
//! - a route with a JSON body answers 400 (malformed or wrong type), 413 (too large)
//!   and 415 (not `application/json`);
//! - every error is an RFC 9457 `application/problem+json` [`ProblemBody`] sent with
//!   `Cache-Control: no-store`.
//!
//! Tests check that every route of the router is in the document and that every error
//! response is a problem document.

use axum::Json;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, ContentBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};

use crate::problem::{PROBLEM_JSON, ProblemBody};
use crate::{routes, routes_admin, routes_incident};

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "custody",
        description = "custody's broker API (metrics are served on a separate listener, \
            not here). Every route but /healthz, /readyz, \
            /.well-known/jwks.json, /openapi.json, /v1/enrol and /v1/token needs \
            `Authorization: DPoP <access token>` plus a fresh `DPoP` proof (RFC 9449) over \
            the method, the URL, the token hash (`ath`), the time and a unique `jti`; \
            support-agent and operator tokens also need the server nonce, sent in \
            `DPoP-Nonce` on every API response and with each `use-dpop-nonce` problem. \
            Bearer use is refused. Errors are RFC 9457 problem+json with `type` \
            `urn:custody:problem:<slug>`."
    ),
    paths(
        routes::get_health, routes::get_ready, routes::get_jwks, routes::post_enrol,
        routes::post_token, routes::get_me, routes::post_tenant, routes::post_principal,
        routes::put_support_mode, routes::post_case, routes::get_cases, routes::get_case,
        routes::post_assignment, routes::post_artifact, routes::get_artifacts,
        routes::get_view, routes::get_download, routes::post_grant, routes::get_grants,
        routes::get_approval, routes::post_approval, routes::post_export_request,
        routes::post_export, routes::post_release,
        routes_admin::post_service_account, routes_admin::post_service_account_scope,
        routes_admin::post_service_account_completion, routes_admin::post_revocation,
        routes_admin::post_tenant_revocation_request, routes_admin::post_tenant_revocation,
        routes_admin::delete_export_freeze, routes_admin::get_check,
        routes_incident::post_revocation_bundle,
        routes_incident::post_revocation_bundle_execution,
    ),
    components(schemas(ProblemBody)),
    modifiers(&Conventions)
)]
pub struct ApiDoc;

/// Completes every operation with the answers its kind shares (module docs).
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "dpop",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`DPoP <access token>` (RFC 9449); `Bearer` is refused",
            ))),
        );
        components.add_security_scheme(
            "dpop_proof",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "DPoP",
                "A fresh DPoP proof (RFC 9449) by the token's key over this request: \
                 `htm`, `htu`, `iat`, a unique `jti`, `ath`, and the server nonce for \
                 support-agent and operator tokens",
            ))),
        );
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                complete(operation);
            }
        }
    }
}

/// Adds the shared answers to one operation and makes every error a problem document.
fn complete(operation: &mut Operation) {
    let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
    if secured {
        operation.security = Some(vec![
            SecurityRequirement::new("dpop", Vec::<String>::new())
                .add("dpop_proof", Vec::<String>::new()),
        ]);
        add(
            operation,
            401,
            "No valid DPoP-bound token and proof (`unauthenticated`), or retry the proof \
             with the nonce in `DPoP-Nonce` (`use-dpop-nonce`)",
        );
        add(operation, 403, "Denied by policy (`forbidden`)");
        add(
            operation,
            500,
            "Internal error (generic body; detail logged)",
        );
    }
    let has_params = operation.parameters.as_ref().is_some_and(|p| {
        p.iter().any(|p| {
            matches!(
                p.parameter_in,
                utoipa::openapi::path::ParameterIn::Path
                    | utoipa::openapi::path::ParameterIn::Query
            )
        })
    });
    if has_params {
        add(
            operation,
            400,
            "A path id or query parameter is malformed (`bad-request`)",
        );
    }
    let json_body = operation
        .request_body
        .as_ref()
        .is_some_and(|b| b.content.contains_key("application/json"));
    if json_body {
        add(
            operation,
            400,
            "The JSON body is malformed or a field has the wrong type (`bad-request`)",
        );
        add(
            operation,
            413,
            "The JSON body is too large (`payload-too-large`)",
        );
        add(
            operation,
            415,
            "The body is not `application/json` (`unsupported-media-type`)",
        );
    }
    for (status, response) in &mut operation.responses.responses {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(response)) = (is_error, response) {
            as_problem(status, response);
        }
    }
}

/// Adds an error response for `status` unless the annotation already has one.
fn add(operation: &mut Operation, status: u16, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| RefOr::T(Response::new(description)));
}

/// Makes an error response a problem document with the headers it really carries.
/// `/readyz`'s 503 is its own JSON body, not a problem, and is left alone.
fn as_problem(status: &str, response: &mut Response) {
    let is_problem = response.content.is_empty()
        || response.content.values().any(|c| {
            matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/ProblemBody"))
        });
    if !is_problem {
        return;
    }
    response.content.clear();
    response
        .content
        .insert(PROBLEM_JSON.to_owned(), problem_content());
    response
        .headers
        .insert("Cache-Control".to_owned(), string_header("`no-store`"));
    if status == "401" {
        response.headers.insert(
            "WWW-Authenticate".to_owned(),
            string_header("`DPoP` challenge (with `error=\"use_dpop_nonce\"` when asked)"),
        );
        response.headers.insert(
            "DPoP-Nonce".to_owned(),
            string_header("The current server nonce for the next proof"),
        );
    }
}

fn problem_content() -> Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ProblemBody")))
        .build()
}

fn string_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(utoipa::openapi::ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

/// Response bodies, for the document only: the handlers serialize the broker's and the
/// store's types, and the conformance run checks every answer against these schemas
/// (so a drift in either fails CI). Objects are open: added fields are not a break.
pub mod bodies {
    use utoipa::ToSchema;

    /// `GET /healthz`.
    #[derive(ToSchema)]
    pub struct Health {
        /// Always `ok`.
        pub status: String,
    }

    /// `GET /readyz` (200 and 503).
    #[derive(ToSchema)]
    pub struct Ready {
        /// Database up and a policy bundle active.
        pub ready: bool,
        /// The database answers.
        pub database: bool,
        /// The active policy bundle, if any.
        pub policy_bundle: Option<String>,
    }

    /// `GET /.well-known/jwks.json`.
    #[derive(ToSchema)]
    pub struct Jwks {
        /// The token signing keys (public JWKs).
        #[schema(value_type = Vec<Object>)]
        pub keys: Vec<serde_json::Value>,
    }

    /// `POST /v1/enrol`.
    #[derive(ToSchema)]
    pub struct Enrolled {
        /// The registered device.
        #[schema(pattern = "^dev_[0-9a-f]{32}$")]
        pub device_id: String,
        /// Its principal.
        #[schema(pattern = "^prn_[0-9a-f]{32}$")]
        pub principal_id: String,
    }

    /// `POST /v1/token`.
    #[derive(ToSchema)]
    pub struct Token {
        /// The DPoP-bound access token (RFC 9068 profile).
        pub access_token: String,
        /// Always `DPoP`.
        pub token_type: String,
        /// Seconds until it expires.
        #[schema(minimum = 1)]
        pub expires_in: u64,
        /// Its class.
        pub class: String,
        /// The principal.
        pub principal_id: String,
    }

    /// `GET /v1/me`.
    #[derive(ToSchema)]
    pub struct Me {
        /// The principal.
        pub principal_id: String,
        /// Its class.
        pub class: String,
        /// The tenant of a customer admin.
        pub tenant_id: Option<String>,
        /// The device of this request's proof key.
        pub device_id: String,
        /// Display name.
        pub display_name: String,
    }

    /// A tenant.
    #[derive(ToSchema)]
    pub struct Tenant {
        /// Its id.
        #[schema(pattern = "^ten_[0-9a-f]{32}$")]
        pub id: String,
        /// Unique name.
        pub name: String,
        /// `off`, `on-request` or `delegated`.
        #[schema(pattern = "^(off|on-request|delegated)$")]
        pub support_mode: String,
        /// Unix seconds.
        pub created_at: i64,
    }

    /// A principal.
    #[derive(ToSchema)]
    pub struct Principal {
        /// Its id.
        #[schema(pattern = "^prn_[0-9a-f]{32}$")]
        pub id: String,
        /// `operator`, `customer_admin`, `support_agent` or `service_account`.
        pub class: String,
        /// The tenant of a customer admin.
        pub tenant_id: Option<String>,
        /// Display name.
        pub display_name: String,
        /// Approver groups.
        pub groups: Vec<String>,
        /// Suspended principals are refused everywhere.
        pub suspended: bool,
        /// Unix seconds.
        pub created_at: i64,
    }

    /// `POST /v1/principals`.
    #[derive(ToSchema)]
    pub struct PrincipalCreated {
        /// The principal.
        pub principal: Principal,
        /// Its one-time enrolment code (`enr_...`, 1 hour).
        pub enrolment_code: String,
    }

    /// A support case.
    #[derive(ToSchema)]
    pub struct Case {
        /// Its id.
        #[schema(pattern = "^cas_[0-9a-f]{32}$")]
        pub id: String,
        /// Owning tenant.
        pub tenant_id: String,
        /// The customer admin who opened it.
        pub opened_by: String,
        /// Title.
        pub title: String,
        /// Assigned support agents.
        pub assigned: Vec<String>,
        /// Unix seconds.
        pub created_at: i64,
    }

    /// `GET /v1/cases`.
    #[derive(ToSchema)]
    pub struct Cases {
        /// Cases the caller may read.
        pub cases: Vec<Case>,
    }

    /// Metadata of a stored artifact (never its content).
    #[derive(ToSchema)]
    pub struct Artifact {
        /// Its id.
        #[schema(pattern = "^art_[0-9a-f]{32}$")]
        pub id: String,
        /// Its case.
        pub case_id: String,
        /// The case's tenant.
        pub tenant_id: String,
        /// `har`, `json`, `text` or `zip`.
        pub kind: String,
        /// The file name (redacted if it carried a credential).
        pub original_name: String,
        /// Size of the sanitized artifact in bytes.
        pub size: u64,
        /// SHA-256 of the sanitized artifact.
        #[schema(pattern = "^sha256:[0-9a-f]{64}$")]
        pub sanitized_sha256: String,
        /// Version of the rule set that sanitized it.
        pub rules_version: String,
        /// Unix seconds.
        pub created_at: i64,
        /// The sanitization report (counts by class and location, digests, rules
        /// version; never a value): in the upload's answer only.
        #[schema(value_type = Option<Object>)]
        pub report: Option<serde_json::Value>,
    }

    /// `GET /v1/cases/{id}/artifacts`.
    #[derive(ToSchema)]
    pub struct Artifacts {
        /// Artifact metadata.
        pub artifacts: Vec<Artifact>,
    }

    /// `GET /v1/artifacts/{id}/view`: one page of the sanitized artifact.
    #[derive(ToSchema)]
    pub struct Page {
        /// `entries` (HAR) or `lines`.
        pub unit: String,
        /// Index of the first item.
        pub offset: u64,
        /// Items in the whole artifact.
        pub total: u64,
        /// The items.
        #[schema(value_type = Vec<Object>)]
        pub items: Vec<serde_json::Value>,
    }

    /// A just-in-time grant.
    #[derive(ToSchema)]
    pub struct Grant {
        /// Its id.
        pub id: String,
        /// The support agent.
        pub agent_id: String,
        /// The case's tenant.
        pub tenant_id: String,
        /// The case.
        pub case_id: String,
        /// Granted actions.
        pub actions: Vec<String>,
        /// Unix seconds.
        pub requested_at: i64,
        /// Unix seconds.
        pub expires_at: i64,
        /// `requested`, `approved`, `denied`, `expired` or `revoked`.
        pub status: String,
    }

    /// `GET /v1/grants`.
    #[derive(ToSchema)]
    pub struct Grants {
        /// The caller's grants.
        pub grants: Vec<Grant>,
    }

    /// The exact request approvers sign (custody-policy's `ApprovalRequest`).
    #[derive(ToSchema)]
    pub struct ApprovalRequest {
        /// The privileged action.
        pub action: String,
        /// The tenant it touches.
        pub tenant: String,
        /// The artifacts it touches.
        pub artifact_ids: Vec<String>,
        /// Further parameters (device, network hash, case...).
        #[schema(value_type = Object)]
        pub parameters: serde_json::Value,
        /// The requester (never an approver).
        pub requester: String,
        /// Unix seconds.
        pub expires_at: u64,
    }

    /// A grant with its approval request (`POST /v1/cases/{id}/grants`, the approval
    /// routes).
    #[derive(ToSchema)]
    pub struct GrantView {
        /// The grant.
        pub grant: Grant,
        /// The approval request id.
        #[schema(pattern = "^apr_[0-9a-f]{32}$")]
        pub approval_request_id: String,
        /// The exact request.
        pub request: ApprovalRequest,
        /// Its digest (hex), what each signature covers.
        pub digest: String,
        /// Approvals so far.
        pub approvals: u64,
    }

    /// `POST /v1/artifacts/{id}/export-requests`.
    #[derive(ToSchema)]
    pub struct ExportRequest {
        /// The approval request id.
        #[schema(pattern = "^apr_[0-9a-f]{32}$")]
        pub approval_request_id: String,
        /// The exact request.
        pub request: ApprovalRequest,
        /// Its digest (hex).
        pub digest: String,
    }

    /// `POST /v1/artifact-exports/{id}/release`.
    #[derive(ToSchema)]
    pub struct Release {
        /// The release key (hex), once.
        pub release_key: String,
        /// The network-context hash the export is bound to.
        pub network_context: String,
        /// The broker's public header-signing key (JWK).
        #[schema(value_type = Object)]
        pub broker_key: serde_json::Value,
    }
}

/// `GET /openapi.json`.
pub async fn get_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::string_slice, reason = "test code slices ASCII source text")]

    use super::*;

    /// Every `.route("path", ...)` of the router (but /metrics and /openapi.json) is a
    /// path of the document, with the same methods.
    #[test]
    fn every_route_is_documented() {
        let doc = ApiDoc::openapi();
        let source = include_str!("lib.rs");
        for (at, _) in source.match_indices(".route(") {
            let rest = source[at + 7..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else {
                continue;
            };
            let path = &rest[..rest.find('"').unwrap()];
            if !path.starts_with('/') || path == "/metrics" || path == "/openapi.json" {
                continue;
            }
            assert!(
                doc.paths.paths.contains_key(path),
                "{path} is not in the OpenAPI document"
            );
        }
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(
            json["openapi"].as_str().map(|v| v.starts_with("3.1")),
            Some(true)
        );
    }

    fn operations(doc: &serde_json::Value) -> Vec<(String, String, serde_json::Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                out.push((method.clone(), path.clone(), operation.clone()));
            }
        }
        out
    }

    /// Every 4xx/5xx of every operation (but `/readyz`'s own 503 body) is an
    /// `application/problem+json` ProblemBody with `Cache-Control`; every secured
    /// operation documents 401 (with its challenge headers), 403 and 500, and needs
    /// both DPoP schemes together.
    #[test]
    fn every_error_is_a_problem_document() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for (method, path, operation) in operations(&doc) {
            for (status, response) in operation["responses"].as_object().unwrap() {
                if !(status.starts_with('4') || status.starts_with('5')) || path == "/readyz" {
                    continue;
                }
                let content = response["content"].as_object().unwrap();
                assert_eq!(
                    content.keys().collect::<Vec<_>>(),
                    vec![PROBLEM_JSON],
                    "{method} {path} {status}"
                );
                assert_eq!(
                    content[PROBLEM_JSON]["schema"]["$ref"], "#/components/schemas/ProblemBody",
                    "{method} {path} {status}"
                );
                assert!(
                    response["headers"].get("Cache-Control").is_some(),
                    "{method} {path} {status}"
                );
            }
            if let Some(security) = operation.get("security") {
                assert_eq!(
                    security,
                    &serde_json::json!([{ "dpop": [], "dpop_proof": [] }]),
                    "{method} {path}"
                );
                for status in ["401", "403", "500"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} does not document {status}"
                    );
                }
                let unauthorized = &operation["responses"]["401"]["headers"];
                assert!(
                    unauthorized.get("WWW-Authenticate").is_some(),
                    "{method} {path}"
                );
                assert!(unauthorized.get("DPoP-Nonce").is_some(), "{method} {path}");
            }
            if operation["requestBody"]["content"]
                .get("application/json")
                .is_some()
            {
                for status in ["400", "413", "415"] {
                    assert!(
                        operation["responses"].get(status).is_some(),
                        "{method} {path} does not document {status}"
                    );
                }
            }
        }
    }
}
