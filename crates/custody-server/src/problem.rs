//! One error type for every handler: [`ApiError`], rendered as an RFC 9457
//! `application/problem+json` document with a stable `type` URI per kind.
//!
//! 4xx responses carry a safe, fixed message plus what the caller sent wrong (by name,
//! never by value). A 5xx carries a generic body; its detail travels in a response
//! extension ([`InternalDetail`]) that one middleware logs, so an internal error text
//! never reaches a client (STYLE.md, crates.io).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Prefix of every problem `type` URI. The URIs are identifiers, stable across
/// releases; docs/api.md lists them.
pub const TYPE_PREFIX: &str = "urn:custody:problem:";

/// The kinds of error the API returns. Each has one status and one `type` URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// 400: the body or a parameter is malformed.
    BadRequest,
    /// 401: no valid, bound, fresh credential.
    Unauthenticated,
    /// 401 with a `DPoP-Nonce`: retry the proof with the server nonce.
    UseDpopNonce,
    /// 403: a policy decision denied the action.
    Forbidden,
    /// 404: no such resource (or not visible to the caller).
    NotFound,
    /// 405: the route exists but not with this method (the `Allow` header lists
    /// the methods it has).
    MethodNotAllowed,
    /// 409: the resource exists or was already used.
    Conflict,
    /// 410: the resource existed but is used up or expired (single-use release).
    Gone,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 415: the content type is not accepted here.
    UnsupportedMediaType,
    /// 422: an artifact was refused: replayable material remains after sanitizing, or
    /// it could not be parsed (fail-closed).
    ArtifactRefused,
    /// 500: an internal failure (detail logged, never returned).
    Internal,
    /// 503: a dependency is unavailable (e.g. the audit log); the request was not done.
    Unavailable,
}

impl ProblemKind {
    /// The HTTP status.
    pub const fn status(self) -> StatusCode {
        match self {
            ProblemKind::BadRequest => StatusCode::BAD_REQUEST,
            ProblemKind::Unauthenticated | ProblemKind::UseDpopNonce => StatusCode::UNAUTHORIZED,
            ProblemKind::Forbidden => StatusCode::FORBIDDEN,
            ProblemKind::NotFound => StatusCode::NOT_FOUND,
            ProblemKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemKind::Conflict => StatusCode::CONFLICT,
            ProblemKind::Gone => StatusCode::GONE,
            ProblemKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProblemKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ProblemKind::ArtifactRefused => StatusCode::UNPROCESSABLE_ENTITY,
            ProblemKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable slug of the `type` URI.
    pub const fn slug(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "bad-request",
            ProblemKind::Unauthenticated => "unauthenticated",
            ProblemKind::UseDpopNonce => "use-dpop-nonce",
            ProblemKind::Forbidden => "forbidden",
            ProblemKind::NotFound => "not-found",
            ProblemKind::MethodNotAllowed => "method-not-allowed",
            ProblemKind::Conflict => "conflict",
            ProblemKind::Gone => "gone",
            ProblemKind::PayloadTooLarge => "payload-too-large",
            ProblemKind::UnsupportedMediaType => "unsupported-media-type",
            ProblemKind::ArtifactRefused => "artifact-refused",
            ProblemKind::Internal => "internal",
            ProblemKind::Unavailable => "unavailable",
        }
    }

    /// The fixed human title.
    pub const fn title(self) -> &'static str {
        match self {
            ProblemKind::BadRequest => "The request is malformed",
            ProblemKind::Unauthenticated => "A valid proof-of-possession token is required",
            ProblemKind::UseDpopNonce => "Retry with the server's DPoP nonce",
            ProblemKind::Forbidden => "The policy denies this action",
            ProblemKind::NotFound => "No such resource",
            ProblemKind::MethodNotAllowed => "This route does not have this method",
            ProblemKind::Conflict => "The resource exists or was already used",
            ProblemKind::Gone => "The resource is used up or expired",
            ProblemKind::PayloadTooLarge => "The body is too large",
            ProblemKind::UnsupportedMediaType => "This content type is not accepted here",
            ProblemKind::ArtifactRefused => "The artifact was refused",
            ProblemKind::Internal => "Internal error",
            ProblemKind::Unavailable => "A dependency is unavailable; nothing was done",
        }
    }
}

/// The JSON body of a problem (RFC 9457 members plus custody extensions).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemBody {
    /// `urn:custody:problem:<slug>`.
    #[serde(rename = "type")]
    pub type_uri: String,
    /// Fixed title per kind.
    pub title: &'static str,
    /// HTTP status.
    pub status: u16,
    /// A safe explanation: names what and where, never a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Extension: the sanitization report of a refused artifact (locations, rule ids
    /// and classes; never values).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<serde_json::Value>,
}

/// The error every handler returns (boxed: handlers return it by value often).
#[derive(Debug)]
pub struct ApiError(Box<Inner>);

#[derive(Debug)]
struct Inner {
    kind: ProblemKind,
    detail: Option<String>,
    report: Option<serde_json::Value>,
    internal: Option<String>,
    nonce: Option<String>,
}

/// Detail of a 5xx kept for the log, attached as a response extension.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// An error of `kind` with a safe `detail` (shown to the client for 4xx).
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind,
            detail: Some(detail.into()),
            report: None,
            internal: None,
            nonce: None,
        }))
    }

    /// An internal error: the client sees a generic body, the log sees `detail`.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind: ProblemKind::Internal,
            detail: None,
            report: None,
            internal: Some(detail.into()),
            nonce: None,
        }))
    }

    /// A dependency failed (e.g. the audit append); the request was not carried out.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self(Box::new(Inner {
            kind: ProblemKind::Unavailable,
            detail: Some("the request was not carried out".to_owned()),
            report: None,
            internal: Some(detail.into()),
            nonce: None,
        }))
    }

    /// Adds a sanitization report (already value-free).
    #[must_use]
    pub fn with_report(mut self, report: serde_json::Value) -> Self {
        self.0.report = Some(report);
        self
    }

    /// Adds a `DPoP-Nonce` header to the response.
    #[must_use]
    pub fn with_nonce(mut self, nonce: String) -> Self {
        self.0.nonce = Some(nonce);
        self
    }

    /// The kind.
    pub fn kind(&self) -> ProblemKind {
        self.0.kind
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = *self.0;
        let status = this.kind.status();
        let detail = if status.is_server_error() && this.kind != ProblemKind::Unavailable {
            None
        } else {
            this.detail
        };
        let body = ProblemBody {
            type_uri: format!("{TYPE_PREFIX}{}", this.kind.slug()),
            title: this.kind.title(),
            status: status.as_u16(),
            detail,
            report: this.report,
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(nonce) = this.nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert("dpop-nonce", nonce);
        }
        if matches!(
            this.kind,
            ProblemKind::Unauthenticated | ProblemKind::UseDpopNonce
        ) {
            let challenge = if this.kind == ProblemKind::UseDpopNonce {
                "DPoP error=\"use_dpop_nonce\", algs=\"EdDSA ES256\""
            } else {
                "DPoP algs=\"EdDSA ES256\""
            };
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(internal) = this.internal {
            response.extensions_mut().insert(InternalDetail(internal));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn internal_detail_never_reaches_the_body() {
        let response = ApiError::internal("db at /secret/path failed: token=abc").into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let logged = response
            .extensions()
            .get::<InternalDetail>()
            .cloned()
            .unwrap();
        assert!(logged.0.contains("/secret/path"));
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("urn:custody:problem:internal"), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("token=abc"),
            "{text}"
        );
    }

    #[test]
    fn every_kind_has_a_distinct_type_uri() {
        let kinds = [
            ProblemKind::BadRequest,
            ProblemKind::Unauthenticated,
            ProblemKind::UseDpopNonce,
            ProblemKind::Forbidden,
            ProblemKind::NotFound,
            ProblemKind::Conflict,
            ProblemKind::Gone,
            ProblemKind::PayloadTooLarge,
            ProblemKind::UnsupportedMediaType,
            ProblemKind::ArtifactRefused,
            ProblemKind::Internal,
            ProblemKind::Unavailable,
        ];
        let slugs: std::collections::HashSet<_> = kinds.iter().map(|k| k.slug()).collect();
        assert_eq!(slugs.len(), kinds.len());
    }
}
