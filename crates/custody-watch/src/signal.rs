//! What the detectors read: [`Signal`], one observed act or authentication, built
//! from an audit event ([`Signal::from_audit`]) plus the request context the event
//! does not carry ([`RequestContext`]).
//!
//! A signal holds identifiers, thumbprints and hashes only: session, token (`jti`)
//! and proof ids, device id, key thumbprint, network hash, address. Never a token,
//! a proof or any other secret value, so a signal can cross the bus, sit in detector
//! state and be quoted as evidence.

use std::net::IpAddr;

use custody_audit::event::{AuditEvent, Decision, EventKind};
use serde::{Deserialize, Serialize};

/// The class of a principal (DESIGN §6), as the audit log spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalClass {
    /// A customer's administrator.
    CustomerAdmin,
    /// A vendor support agent.
    SupportAgent,
    /// A service account (integration).
    ServiceAccount,
    /// A vendor operator (signs in with the support-agent token class).
    Operator,
    /// custody itself (bootstrap, containment); never judged by detectors.
    System,
    /// Any other spelling. Detectors treat it like the strictest human class.
    #[serde(other)]
    Unknown,
}

impl PrincipalClass {
    /// Parses the audit log's spelling; anything else is [`PrincipalClass::Unknown`].
    #[must_use]
    pub fn parse(name: &str) -> Self {
        match name {
            "customer_admin" => Self::CustomerAdmin,
            "support_agent" => Self::SupportAgent,
            "service_account" => Self::ServiceAccount,
            "operator" => Self::Operator,
            "system" => Self::System,
            _ => Self::Unknown,
        }
    }

    /// The audit log's spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CustomerAdmin => "customer_admin",
            Self::SupportAgent => "support_agent",
            Self::ServiceAccount => "service_account",
            Self::Operator => "operator",
            Self::System => "system",
            Self::Unknown => "unknown",
        }
    }
}

/// Why an authentication was refused (the token verifier's reasons, coarsened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalReason {
    /// The DPoP proof key is not the key the token is bound to (`cnf.jkt`).
    ProofKeyMismatch,
    /// The request comes from another network context than the token's.
    NetworkMismatch,
    /// The proof's `ath` is not the hash of the presented token.
    TokenHashMismatch,
    /// The proof id was already used.
    ProofReplayed,
    /// A revocation covers the token.
    Revoked,
    /// The proof key is not an active device of the principal.
    DeviceNotActive,
    /// The token has expired.
    Expired,
    /// The principal is suspended or not of the token's class.
    PrincipalRefused,
    /// Anything else (malformed, bad signature, wrong class, stale state...).
    #[serde(other)]
    Other,
}

impl RefusalReason {
    /// The snake_case name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProofKeyMismatch => "proof_key_mismatch",
            Self::NetworkMismatch => "network_mismatch",
            Self::TokenHashMismatch => "token_hash_mismatch",
            Self::ProofReplayed => "proof_replayed",
            Self::Revoked => "revoked",
            Self::DeviceNotActive => "device_not_active",
            Self::Expired => "expired",
            Self::PrincipalRefused => "principal_refused",
            Self::Other => "other",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Happening {
    /// An audited act by an authenticated caller, with its policy decision.
    Act {
        /// The kind of act.
        kind: EventKind,
        /// The decision.
        decision: Decision,
    },
    /// A request authenticated successfully (token, proof, device, network checked).
    Authenticated,
    /// A request's authentication was refused.
    AuthRefused {
        /// Why.
        reason: RefusalReason,
        /// True when the token's signature, issuer and lifetime verified, so the
        /// principal, session and token ids in the signal are the authority's own and
        /// not the caller's claims. Detectors act on refusals only when this is true:
        /// otherwise anyone could forge a victim's session id to get it revoked.
        token_verified: bool,
    },
}

/// Approximate location of a signal's source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    /// Latitude in degrees (−90..=90).
    pub lat: f64,
    /// Longitude in degrees (−180..=180).
    pub lon: f64,
    /// Accuracy radius in kilometres, when known (GeoIP's `accuracy_radius`).
    #[serde(default)]
    pub accuracy_km: Option<f64>,
}

impl GeoPoint {
    /// A point without an accuracy radius.
    #[must_use]
    pub fn new(lat: f64, lon: f64) -> Self {
        Self {
            lat,
            lon,
            accuracy_km: None,
        }
    }

    /// True when the coordinates are finite and in range.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.lat.is_finite()
            && self.lon.is_finite()
            && (-90.0..=90.0).contains(&self.lat)
            && (-180.0..=180.0).contains(&self.lon)
            && self.accuracy_km.is_none_or(|a| a.is_finite() && a >= 0.0)
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius).
    #[must_use]
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6_371.008_8;
        let (la1, la2) = (self.lat.to_radians(), other.lat.to_radians());
        let dlat = la2 - la1;
        let dlon = (other.lon - self.lon).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0).asin()
    }
}

/// One observed act or authentication. Ids only; see the module docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signal {
    /// When it happened, milliseconds since the Unix epoch (UTC).
    pub time_ms: i64,
    /// The principal id.
    pub principal_id: String,
    /// The principal class.
    pub principal_class: PrincipalClass,
    /// The session id (`sid`).
    #[serde(default)]
    pub session_id: Option<String>,
    /// The access token id (`jti`).
    #[serde(default)]
    pub token_id: Option<String>,
    /// The DPoP proof id (`jti` of the proof).
    #[serde(default)]
    pub proof_id: Option<String>,
    /// The registered device id.
    #[serde(default)]
    pub device_id: Option<String>,
    /// Thumbprint of the proof-of-possession key (never the key).
    #[serde(default)]
    pub key_thumbprint: Option<String>,
    /// Network-context hash (ASN or prefix hash).
    #[serde(default)]
    pub network_hash: Option<String>,
    /// Source address.
    #[serde(default)]
    pub ip: Option<IpAddr>,
    /// Source location, when the caller knows it (else a GeoIP lookup of `ip`).
    #[serde(default)]
    pub geo: Option<GeoPoint>,
    /// The tenant whose data or principals are concerned.
    pub tenant: String,
    /// The case, for artifact acts.
    #[serde(default)]
    pub case_id: Option<String>,
    /// The resource type (`artifact`, `token`, `grant`...).
    #[serde(default)]
    pub resource_kind: Option<String>,
    /// The resource id.
    #[serde(default)]
    pub resource_id: Option<String>,
    /// What happened.
    pub what: Happening,
}

/// Request facts the broker knows but an [`AuditEvent`] does not carry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestContext {
    /// The access token id (`jti`).
    pub token_id: Option<String>,
    /// The DPoP proof id.
    pub proof_id: Option<String>,
    /// The source location, when known.
    pub geo: Option<GeoPoint>,
}

/// Longest string a signal field may hold, in bytes (as the audit log's limit).
pub const MAX_FIELD_LEN: usize = custody_audit::event::MAX_FIELD_LEN;

impl Signal {
    /// A signal for `event`, enriched with `ctx`. For token acts the resource id is
    /// the token id, so it fills [`Signal::token_id`] when `ctx` has none.
    #[must_use]
    pub fn from_audit(event: &AuditEvent, ctx: &RequestContext) -> Self {
        let token_from_resource =
            matches!(event.kind, EventKind::TokenIssue | EventKind::TokenRefresh)
                && event.resource.kind == "token";
        let token_id = ctx
            .token_id
            .clone()
            .or_else(|| token_from_resource.then(|| event.resource.id.clone()));
        let endpoint = event.src_endpoint.as_ref();
        Self {
            time_ms: event.time_ms,
            principal_id: event.actor.principal_id.clone(),
            principal_class: PrincipalClass::parse(&event.actor.principal_class),
            session_id: event.actor.session_id.clone(),
            token_id,
            proof_id: ctx.proof_id.clone(),
            device_id: event.device.as_ref().map(|d| d.id.clone()),
            key_thumbprint: event.device.as_ref().and_then(|d| d.key_thumbprint.clone()),
            network_hash: endpoint.and_then(|e| e.network_hash.clone()),
            ip: endpoint
                .and_then(|e| e.ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
            geo: ctx.geo.filter(GeoPoint::is_valid),
            tenant: event.tenant.clone(),
            case_id: event.resource.case_id.clone(),
            resource_kind: Some(event.resource.kind.clone()),
            resource_id: Some(event.resource.id.clone()),
            what: Happening::Act {
                kind: event.kind,
                decision: event.decision,
            },
        }
    }

    /// The kind of act, when the signal is an act.
    #[must_use]
    pub fn act(&self) -> Option<(EventKind, Decision)> {
        match self.what {
            Happening::Act { kind, decision } => Some((kind, decision)),
            _ => None,
        }
    }

    /// True when the signal shows an authenticated caller acting (an act or a
    /// successful authentication) of a class the detectors judge (not `system`),
    /// and not a finding or containment act of custody's own.
    #[must_use]
    pub fn is_authenticated(&self) -> bool {
        if self.principal_class == PrincipalClass::System {
            return false;
        }
        match self.what {
            Happening::Authenticated => true,
            Happening::Act { kind, .. } => {
                !matches!(kind, EventKind::Finding | EventKind::Containment)
            }
            Happening::AuthRefused { .. } => false,
        }
    }

    /// Checks every string field (non-empty, at most [`MAX_FIELD_LEN`] bytes, no
    /// control characters) and the coordinates. Signals from a bus must pass this.
    ///
    /// # Errors
    /// [`SignalError`] naming the field, never its value.
    pub fn validate(&self) -> Result<(), SignalError> {
        check("principal_id", Some(&self.principal_id))?;
        check("tenant", Some(&self.tenant))?;
        check("session_id", self.session_id.as_ref())?;
        check("token_id", self.token_id.as_ref())?;
        check("proof_id", self.proof_id.as_ref())?;
        check("device_id", self.device_id.as_ref())?;
        check("key_thumbprint", self.key_thumbprint.as_ref())?;
        check("network_hash", self.network_hash.as_ref())?;
        check("case_id", self.case_id.as_ref())?;
        check("resource_kind", self.resource_kind.as_ref())?;
        check("resource_id", self.resource_id.as_ref())?;
        if self.geo.is_some_and(|g| !g.is_valid()) {
            return Err(SignalError { field: "geo" });
        }
        Ok(())
    }
}

impl From<&AuditEvent> for Signal {
    fn from(event: &AuditEvent) -> Self {
        Self::from_audit(event, &RequestContext::default())
    }
}

fn check(field: &'static str, value: Option<&String>) -> Result<(), SignalError> {
    match value {
        Some(v) if v.is_empty() || v.len() > MAX_FIELD_LEN || v.chars().any(char::is_control) => {
            Err(SignalError { field })
        }
        _ => Ok(()),
    }
}

/// A signal field is empty, too long, has control characters or (for `geo`) is out
/// of range. The value is never echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("signal field `{field}` is invalid")]
pub struct SignalError {
    field: &'static str,
}

impl SignalError {
    /// The name of the invalid field.
    #[must_use]
    pub fn field(&self) -> &'static str {
        self.field
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::sample_event;

    use super::*;

    #[test]
    fn from_audit_keeps_ids_and_fills_the_token_of_token_acts() {
        let event = sample_event(EventKind::TokenIssue, 1_000, 3);
        let s = Signal::from(&event);
        assert_eq!(s.principal_id, "agent-3");
        assert_eq!(s.principal_class, PrincipalClass::SupportAgent);
        assert_eq!(s.session_id.as_deref(), Some("sess-3"));
        assert_eq!(s.token_id.as_deref(), Some("token-3"));
        assert_eq!(s.device_id.as_deref(), Some("dev-0"));
        assert_eq!(s.network_hash.as_deref(), Some("net:3f1c9a"));
        assert_eq!(s.ip, Some("192.0.2.10".parse().unwrap()));
        assert_eq!(s.act(), Some((EventKind::TokenIssue, Decision::Allow)));
        let view = Signal::from_audit(
            &sample_event(EventKind::View, 1_000, 3),
            &RequestContext {
                token_id: Some("jti-1".into()),
                proof_id: Some("proof-1".into()),
                geo: Some(GeoPoint::new(200.0, 0.0)),
            },
        );
        assert_eq!(view.token_id.as_deref(), Some("jti-1"));
        assert_eq!(view.proof_id.as_deref(), Some("proof-1"));
        assert_eq!(view.geo, None, "out-of-range coordinates are dropped");
        assert!(view.is_authenticated());
    }

    #[test]
    fn findings_containment_and_system_acts_are_not_judged() {
        let mut s = Signal::from(&sample_event(EventKind::Finding, 0, 1));
        assert!(!s.is_authenticated());
        s.what = Happening::Act {
            kind: EventKind::Containment,
            decision: Decision::Allow,
        };
        assert!(!s.is_authenticated());
        let mut s = Signal::from(&sample_event(EventKind::View, 0, 1));
        s.principal_class = PrincipalClass::System;
        assert!(!s.is_authenticated());
    }

    #[test]
    fn haversine_matches_known_city_distances() {
        let london = GeoPoint::new(51.5074, -0.1278);
        let paris = GeoPoint::new(48.8566, 2.3522);
        let new_york = GeoPoint::new(40.7128, -74.0060);
        let d = london.distance_km(&paris);
        assert!((d - 343.5).abs() < 2.0, "{d}");
        let d = london.distance_km(&new_york);
        assert!((d - 5_570.0).abs() < 10.0, "{d}");
        assert!(london.distance_km(&london) < 1e-9);
    }

    #[test]
    fn validate_names_the_field_and_never_the_value() {
        let mut s = Signal::from(&sample_event(EventKind::View, 0, 1));
        assert!(s.validate().is_ok());
        s.session_id = Some("secret-session\u{7}".into());
        let err = s.validate().unwrap_err();
        assert_eq!(err.field(), "session_id");
        assert!(!err.to_string().contains("secret-session"));
        assert!(!format!("{err:?}").contains("secret-session"));
    }
}
