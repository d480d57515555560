//! Session hijack and replay: one session id, token id or proof id seen with a
//! different principal, key thumbprint, device or network hash than it was first
//! seen with; or a refused authentication of a validly signed token whose reason is
//! a binding mismatch (proof key ≠ `cnf.jkt`, other network, `ath` mismatch, proof
//! replay). Either is a finding at once, of severity critical; the default response
//! revokes the session and the principal's tokens.
//!
//! The first sighting of an id is its reference binding; later sightings are
//! compared with it and never replace it, so an attacker cannot re-baseline a
//! session. A value missing on either side is not compared (it fills in the
//! reference if that lacked it). One finding per id: once an id has fired it stays
//! flagged until its entry expires.
//!
//! Refusals of tokens whose signature did not verify are ignored: their ids are the
//! caller's claims, and acting on them would let anyone get a victim's session
//! revoked. A revoked token presented again is [`FindingKind::RevokedTokenUse`].

use serde::{Deserialize, Serialize};

use super::{Detector, secs_ms};
use crate::finding::{Finding, FindingKind, Severity};
use crate::signal::{Happening, PrincipalClass, RefusalReason, Signal};
use crate::state::BoundedMap;

/// Configuration of the hijack detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HijackConfig {
    /// Whether the detector runs.
    pub enabled: bool,
    /// Refusal reasons (on a verified token) that are a hijack at once. Default:
    /// proof_key_mismatch, network_mismatch, token_hash_mismatch, proof_replayed.
    pub refusal_reasons: Vec<RefusalReason>,
    /// Whether a revoked token presented again is a finding. Default true.
    pub revoked_token_use: bool,
    /// Classes for which a change of network hash within one session or token is
    /// not compared (policy may allow roaming for them). Default: none.
    pub network_exempt_classes: Vec<PrincipalClass>,
    /// Ids remembered (sessions, tokens and proofs together). Default 200 000.
    pub capacity: usize,
    /// How long an id is remembered after its last sighting, seconds. Default
    /// 43 200 (12 h, longer than any session).
    pub ttl_secs: u64,
}

impl Default for HijackConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            refusal_reasons: vec![
                RefusalReason::ProofKeyMismatch,
                RefusalReason::NetworkMismatch,
                RefusalReason::TokenHashMismatch,
                RefusalReason::ProofReplayed,
            ],
            revoked_token_use: true,
            network_exempt_classes: Vec::new(),
            capacity: 200_000,
            ttl_secs: 43_200,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IdKind {
    Session,
    Token,
    Proof,
}

impl IdKind {
    fn label(self) -> &'static str {
        match self {
            Self::Session => "session",
            Self::Token => "token",
            Self::Proof => "proof",
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Binding {
    principal: String,
    device: Option<String>,
    key: Option<String>,
    network: Option<String>,
    first_ms: i64,
    flagged: bool,
}

/// The hijack detector.
pub(crate) struct HijackDetector {
    config: HijackConfig,
    bindings: BoundedMap<(IdKind, String), Binding>,
}

impl HijackDetector {
    pub(crate) fn new(config: &HijackConfig) -> Self {
        Self {
            config: config.clone(),
            bindings: BoundedMap::new(config.capacity, secs_ms(config.ttl_secs)),
        }
    }

    fn refusal(&self, signal: &Signal, reason: RefusalReason, out: &mut Vec<Finding>) {
        let kind = if reason == RefusalReason::Revoked && self.config.revoked_token_use {
            FindingKind::RevokedTokenUse
        } else if self.config.refusal_reasons.contains(&reason) {
            FindingKind::SessionHijack
        } else {
            return;
        };
        let severity = if kind == FindingKind::SessionHijack {
            Severity::Critical
        } else {
            Severity::Medium
        };
        out.push(
            Finding::about(kind, severity, signal, signal.time_ms)
                .with("refusal", reason.as_str())
                .with_opt("session", signal.session_id.as_ref())
                .with_opt("token", signal.token_id.as_ref())
                .with_opt("proof", signal.proof_id.as_ref())
                .with_opt("device", signal.device_id.as_ref())
                .with_opt("key_thumbprint", signal.key_thumbprint.as_ref())
                .with_opt("network", signal.network_hash.as_ref()),
        );
    }

    /// Compares `signal` with the reference binding of one id; returns the labels of
    /// the attributes that differ, and the reference, the first time they do.
    fn compare(
        &mut self,
        kind: IdKind,
        id: &str,
        signal: &Signal,
    ) -> Option<(Vec<&'static str>, Binding)> {
        let compare_network = !self
            .config
            .network_exempt_classes
            .contains(&signal.principal_class);
        let key = (kind, id.to_owned());
        let (b, created) = self.bindings.touch(&key, signal.time_ms, || Binding {
            principal: signal.principal_id.clone(),
            first_ms: signal.time_ms,
            ..Binding::default()
        })?;
        let mut differs = Vec::new();
        if !created && b.principal != signal.principal_id {
            differs.push("principal");
        }
        let pairs = [
            ("device", &mut b.device, &signal.device_id, true),
            ("key_thumbprint", &mut b.key, &signal.key_thumbprint, true),
            (
                "network",
                &mut b.network,
                &signal.network_hash,
                compare_network,
            ),
        ];
        for (label, reference, seen, compared) in pairs {
            match (reference.as_ref(), seen) {
                (None, Some(v)) => *reference = Some(v.clone()),
                (Some(r), Some(v)) if compared && r != v => differs.push(label),
                _ => {}
            }
        }
        if differs.is_empty() || b.flagged {
            return None;
        }
        b.flagged = true;
        Some((differs, b.clone()))
    }
}

impl Detector for HijackDetector {
    fn name(&self) -> &'static str {
        "hijack"
    }

    fn observe(&mut self, signal: &Signal, out: &mut Vec<Finding>) {
        if let Happening::AuthRefused {
            reason,
            token_verified,
        } = signal.what
        {
            if token_verified && signal.principal_class != PrincipalClass::System {
                self.refusal(signal, reason, out);
            }
            return;
        }
        if !signal.is_authenticated() {
            return;
        }
        let ids = [
            (IdKind::Session, signal.session_id.as_ref()),
            (IdKind::Token, signal.token_id.as_ref()),
            (IdKind::Proof, signal.proof_id.as_ref()),
        ];
        let mut finding: Option<Finding> = None;
        for (kind, id) in ids {
            let Some(id) = id else { continue };
            let Some((differs, reference)) = self.compare(kind, id, signal) else {
                continue;
            };
            let f = finding.get_or_insert_with(|| {
                Finding::about(
                    FindingKind::SessionHijack,
                    Severity::Critical,
                    signal,
                    signal.time_ms,
                )
                .with_opt("device", signal.device_id.as_ref())
                .with_opt("key_thumbprint", signal.key_thumbprint.as_ref())
                .with_opt("network", signal.network_hash.as_ref())
            });
            let mut more = Finding::about(f.kind, f.severity, signal, f.first_event_ms)
                .with(kind.label(), id.clone())
                .with("first_seen_ms", reference.first_ms.to_string())
                .with_opt("previous_device", reference.device.as_ref())
                .with_opt("previous_key_thumbprint", reference.key.as_ref())
                .with_opt("previous_network", reference.network.as_ref());
            for label in differs {
                more = more.with("mismatch", format!("{}:{label}", kind.label()));
            }
            if reference.principal != signal.principal_id {
                more = more.with("previous_principal", reference.principal.clone());
            }
            f.evidence.append(&mut more.evidence);
        }
        out.extend(finding);
    }

    fn keys(&self) -> usize {
        self.bindings.len()
    }
}

#[cfg(test)]
mod tests {
    use custody_audit::event::{EventKind, sample_event};

    use super::*;

    fn act(t: i64, device: &str, key: &str, net: &str) -> Signal {
        let mut s = Signal::from(&sample_event(EventKind::View, t, 1));
        s.session_id = Some("sess-A".into());
        s.token_id = Some("tok-A".into());
        s.device_id = Some(device.into());
        s.key_thumbprint = Some(key.into());
        s.network_hash = Some(net.into());
        s
    }

    #[test]
    fn same_session_same_binding_does_not_fire() {
        let mut d = HijackDetector::new(&HijackConfig::default());
        let mut out = vec![];
        for i in 0..100 {
            let mut s = act(i * 1000, "dev-1", "jkt-1", "net-1");
            s.proof_id = Some(format!("proof-{i}"));
            d.observe(&s, &mut out);
        }
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn a_second_key_device_or_network_fires_at_once_and_only_once() {
        for (device, key, net, label) in [
            ("dev-1", "jkt-2", "net-1", "key_thumbprint"),
            ("dev-2", "jkt-1", "net-1", "device"),
            ("dev-1", "jkt-1", "net-2", "network"),
        ] {
            let mut d = HijackDetector::new(&HijackConfig::default());
            let mut out = vec![];
            d.observe(&act(0, "dev-1", "jkt-1", "net-1"), &mut out);
            d.observe(&act(5_000, device, key, net), &mut out);
            assert_eq!(out.len(), 1, "{label}");
            let f = &out[0];
            assert_eq!(f.kind, FindingKind::SessionHijack);
            assert_eq!(f.severity, Severity::Critical);
            assert_eq!(f.first_event_ms, 5_000);
            assert!(
                f.evidence
                    .iter()
                    .any(|e| e.label == "mismatch" && e.id == format!("session:{label}")),
                "{f:?}"
            );
            // The hijacker's next request is not a second finding; the original
            // binding stays the reference.
            d.observe(&act(6_000, device, key, net), &mut out);
            assert_eq!(out.len(), 1);
        }
    }

    #[test]
    fn network_exempt_classes_do_not_fire_on_network_change() {
        let cfg = HijackConfig {
            network_exempt_classes: vec![PrincipalClass::SupportAgent],
            ..HijackConfig::default()
        };
        let mut d = HijackDetector::new(&cfg);
        let mut out = vec![];
        d.observe(&act(0, "dev-1", "jkt-1", "net-1"), &mut out);
        d.observe(&act(1, "dev-1", "jkt-1", "net-2"), &mut out);
        assert!(out.is_empty());
        d.observe(&act(2, "dev-1", "jkt-9", "net-2"), &mut out);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn refused_binding_mismatch_fires_only_on_a_verified_token() {
        let mut d = HijackDetector::new(&HijackConfig::default());
        let mut out = vec![];
        let mut s = act(0, "dev-9", "jkt-9", "net-9");
        s.what = Happening::AuthRefused {
            reason: RefusalReason::ProofKeyMismatch,
            token_verified: false,
        };
        d.observe(&s, &mut out);
        assert!(out.is_empty(), "forged claims must not trigger containment");
        s.what = Happening::AuthRefused {
            reason: RefusalReason::Expired,
            token_verified: true,
        };
        d.observe(&s, &mut out);
        assert!(out.is_empty());
        s.what = Happening::AuthRefused {
            reason: RefusalReason::ProofKeyMismatch,
            token_verified: true,
        };
        d.observe(&s, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, FindingKind::SessionHijack);
        assert_eq!(out[0].session_id.as_deref(), Some("sess-A"));
        s.what = Happening::AuthRefused {
            reason: RefusalReason::Revoked,
            token_verified: true,
        };
        d.observe(&s, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[1].kind, FindingKind::RevokedTokenUse);
    }

    #[test]
    fn a_session_id_reused_by_another_principal_fires() {
        let mut d = HijackDetector::new(&HijackConfig::default());
        let mut out = vec![];
        d.observe(&act(0, "dev-1", "jkt-1", "net-1"), &mut out);
        let mut s = act(1, "dev-1", "jkt-1", "net-1");
        s.principal_id = "someone-else".into();
        d.observe(&s, &mut out);
        assert_eq!(out.len(), 1);
        assert!(
            out[0]
                .evidence
                .iter()
                .any(|e| e.label == "previous_principal")
        );
    }
}
