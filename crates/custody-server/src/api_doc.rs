//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]`
//! annotations and the body types, served at `/openapi.json`. A test checks that every
//! route of the router is in the document.

use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::problem::ProblemBody;
use crate::routes;

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "custody",
        description = "custody's broker API. Every route but /healthz, /readyz, /metrics, \
            /.well-known/jwks.json, /openapi.json, /v1/enrol and /v1/token needs \
            `Authorization: DPoP <access token>` plus a fresh `DPoP` proof (RFC 9449); \
            bearer use is refused. Errors are RFC 9457 problem+json with `type` \
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
    ),
    components(schemas(ProblemBody)),
    modifiers(&DpopScheme)
)]
pub struct ApiDoc;

struct DpopScheme;

impl Modify for DpopScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "dpop",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    "Authorization",
                    "`DPoP <access token>`, sent with a `DPoP` proof header (RFC 9449)",
                ))),
            );
        }
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
}
