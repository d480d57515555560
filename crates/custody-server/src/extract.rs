//! Extractors: [`Authenticated`] (a DPoP-verified caller), [`ApiJson`] (JSON bodies
//! whose rejections are problem+json), and the mapping of broker errors to
//! [`ApiError`].

use std::net::SocketAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, OriginalUri, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use custody_broker::{BrokerError, Caller, HttpFacts};
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::problem::{ApiError, ProblemKind};

/// Maps a broker error to its problem. Internal details go to the log only.
pub fn api_error(err: BrokerError, nonce: Option<String>) -> ApiError {
    match err {
        BrokerError::Unauthenticated(why) => ApiError::new(ProblemKind::Unauthenticated, why),
        BrokerError::UseNonce(why) => {
            let error = ApiError::new(ProblemKind::UseDpopNonce, why);
            match nonce {
                Some(nonce) => error.with_nonce(nonce),
                None => error,
            }
        }
        BrokerError::Forbidden { action } => {
            ApiError::new(ProblemKind::Forbidden, format!("{action} is not allowed"))
        }
        BrokerError::BadRequest(why) => ApiError::new(ProblemKind::BadRequest, why),
        BrokerError::NotFound(what) => {
            ApiError::new(ProblemKind::NotFound, format!("no such {what}"))
        }
        BrokerError::Conflict(why) => ApiError::new(ProblemKind::Conflict, why),
        BrokerError::Gone(why) => ApiError::new(ProblemKind::Gone, why),
        BrokerError::Refused { detail, report, .. } => {
            let error = ApiError::new(ProblemKind::ArtifactRefused, detail);
            match report {
                Some(report) => error.with_report(report),
                None => error,
            }
        }
        BrokerError::AuditUnavailable(why) => ApiError::unavailable(format!("audit: {why}")),
        BrokerError::Internal(why) => ApiError::internal(why),
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The peer address (the server is served with connect info).
pub fn peer(parts: &Parts) -> Result<SocketAddr, ApiError> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| *addr)
        .ok_or_else(|| {
            ApiError::internal("no connect info: serve with into_make_service_with_connect_info")
        })
}

/// A caller whose DPoP-bound token, proof, device and network all verified.
#[derive(Debug)]
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = peer(parts)?;
        let uri = parts
            .extensions
            .get::<OriginalUri>()
            .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        let facts = HttpFacts {
            method: parts.method.as_str(),
            path_and_query: &path_and_query,
            authorization: header(&parts.headers, "authorization"),
            dpop: header(&parts.headers, "dpop"),
            peer: peer.ip(),
        };
        state
            .broker
            .authenticate(&facts)
            .await
            .map(Authenticated)
            .map_err(|e| api_error(e, state.broker.nonce()))
    }
}

/// A JSON body; every rejection is problem+json naming what is wrong.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ProblemKind::UnsupportedMediaType,
            "the body must be application/json",
        ),
        JsonRejection::JsonSyntaxError(e) => ApiError::new(
            ProblemKind::BadRequest,
            format!("malformed JSON: {}", e.body_text()),
        ),
        JsonRejection::JsonDataError(e) => {
            ApiError::new(ProblemKind::BadRequest, safe_data_error(&e.body_text()))
        }
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(ProblemKind::PayloadTooLarge, "the JSON body is too large")
        }
        _ => ApiError::new(ProblemKind::BadRequest, "the body could not be read"),
    }
}

/// serde's "invalid type/value" messages quote the offending value, which may be a
/// secret sent in the wrong field: keep the path, drop the value.
fn safe_data_error(text: &str) -> String {
    let cut = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .filter_map(|marker| text.find(marker))
        .min();
    match cut {
        Some(at) => format!(
            "invalid JSON body: {}has the wrong type or value",
            text.get(..at).unwrap_or_default()
        ),
        None => format!("invalid JSON body: {text}"),
    }
}

/// Parses an id from a path segment or field; a bad one is a 400 naming the field.
pub fn parse_id<T>(
    field: &str,
    text: &str,
    parse: fn(&str) -> Result<T, custody_store::IdError>,
) -> Result<T, ApiError> {
    parse(text).map_err(|_| {
        ApiError::new(
            ProblemKind::BadRequest,
            format!("{field} is not a valid id"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_errors_never_quote_the_value() {
        let text = "Failed to deserialize the JSON body into the target type: name: invalid type: string \"eyJhbGciOi.secret\", expected u64 at line 1 column 30";
        let safe = safe_data_error(text);
        assert!(!safe.contains("eyJ"), "{safe}");
        assert!(safe.contains("name:"), "{safe}");
    }
}
