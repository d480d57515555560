//! The broker's side of the detection bus (DESIGN §9, I8): it publishes
//! [`Signal`]s and answers findings with containment.
//!
//! - Every audit event the broker appends is published after its durable append;
//!   every successful authentication is published as `authenticated` (principal,
//!   session, token id, proof id, device, key thumbprint, network hash, peer ip);
//!   every refused authentication whose access token *verified* but whose binding
//!   did not (proof key ≠ `cnf.jkt`, network mismatch, `ath` mismatch, replayed
//!   proof, revoked) is published as `auth_refused` with `token_verified`. Ids only:
//!   no token, proof or key ever enters a signal.
//! - Publishing never waits: [`Tap`] uses `try_publish` on a bounded [`LocalBus`].
//!   When the bus is full the signal is not queued; it is counted
//!   ([`Tap::dropped`], the server's `custody_watch_bus_dropped_total`) and logged
//!   at error level, so an alert fires. This is safe because the bus is a copy: the
//!   audit event is already durable in the tamper-evident log (detection can be
//!   replayed from it), and every refusal has already been refused.
//! - [`BrokerResponder`] implements [`Responder`] over [`Broker::contain`]: each
//!   finding is appended as a `finding` event, each step as a `containment` event
//!   linked to the finding (trace id = finding id), in addition to the `containment`
//!   act [`Broker::contain`] records itself.
//! - [`start`] wires it all: a [`custody_watch::Watch`] over the given [`WatchConfig`], an optional
//!   [`GeoLocator`] (MaxMind city database) for impossible travel, and the metrics.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use custody_audit::event::AuditEvent;
use custody_store::{PrincipalId, TenantId};
use custody_token::VerifyError;
use custody_watch::bus::Transport as _;
use custody_watch::{
    Action, Finding, Happening, LocalBus, LocalPublisher, RefusalReason, RequestContext, Responder,
    ResponseError, Signal, Target,
};

/// The detection library, re-exported for the server.
pub use custody_watch as lib;
pub use custody_watch::{
    ConfigError, GeoLocator, MaxMindLocator, PrincipalClass, ResponsePolicy, WatchConfig,
    WatchMetrics,
};

use crate::containment::Containment;
use crate::identity::Caller;
use crate::{Broker, BrokerError};

/// Default capacity of the in-process bus (signals).
pub const DEFAULT_BUS_CAPACITY: usize = 65_536;

/// Called once per containment step with the action's name and whether it took
/// effect (the server counts them).
pub type ActionHook = Arc<dyn Fn(&'static str, bool) + Send + Sync>;
/// Called once per signal the full bus could not take (the server counts them).
pub type DropHook = Arc<dyn Fn() + Send + Sync>;

/// How to run the watch.
#[derive(Clone)]
pub struct WatchOptions {
    /// Detectors and response policy.
    pub config: WatchConfig,
    /// Locates peer addresses for impossible travel (none: only signals carrying
    /// coordinates are judged).
    pub locator: Option<Arc<dyn GeoLocator>>,
    /// The watch's metrics, registered by the caller.
    pub metrics: Option<WatchMetrics>,
    /// Bus capacity (signals); at least 1.
    pub bus_capacity: usize,
    /// Counts containment steps.
    pub on_action: Option<ActionHook>,
    /// Counts signals the full bus could not take.
    pub on_drop: Option<DropHook>,
}

impl std::fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WatchOptions")
            .field("config", &self.config)
            .field("bus_capacity", &self.bus_capacity)
            .finish_non_exhaustive()
    }
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            config: WatchConfig::default(),
            locator: None,
            metrics: None,
            bus_capacity: DEFAULT_BUS_CAPACITY,
            on_action: None,
            on_drop: None,
        }
    }
}

/// The broker's publishing end of the bus. Never blocks.
pub struct Tap {
    publisher: LocalPublisher,
    dropped: AtomicU64,
    on_drop: Option<DropHook>,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl Tap {
    /// Signals the bus could not take (full or closed) since start.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn publish(&self, signal: Signal) {
        if signal.validate().is_err() {
            // A field the wire format would refuse (too long, control characters):
            // counted like a drop, never passed on half-checked.
            self.count_drop("invalid");
            return;
        }
        if let Err(e) = self.publisher.try_publish(signal) {
            self.count_drop(match e {
                custody_watch::TransportError::Full => "full",
                _ => "closed",
            });
        }
    }

    fn count_drop(&self, why: &'static str) {
        let total = self
            .dropped
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        if let Some(hook) = &self.on_drop {
            hook();
        }
        tracing::error!(
            watch.bus = why,
            watch.dropped_total = total,
            "detection bus refused a signal; the audit log still holds every event"
        );
    }
}

/// Starts the watch for `broker`: a bounded bus, the detectors, and a task that
/// judges each signal and contains findings through [`BrokerResponder`]. Must run
/// inside a tokio runtime. Fails if the configuration is out of range or a watch
/// is already running.
pub fn start(broker: &Arc<Broker>, options: WatchOptions) -> Result<(), BrokerError> {
    let mut builder =
        custody_watch::Watch::builder(options.config, Arc::new(crate::WatchClock(broker.clock())))
            .audit_meta(custody_watch::AuditMeta {
                policy_bundle_id: broker.policy_bundle_id().unwrap_or_else(|| "none".into()),
                rules_version: broker.rules_version().to_owned(),
            });
    if let Some(locator) = options.locator {
        builder = builder.locator(locator);
    }
    if let Some(metrics) = options.metrics {
        builder = builder.metrics(metrics);
    }
    let watch = builder
        .build()
        .map_err(|e| BrokerError::BadRequest(e.to_string()))?;
    let bus = LocalBus::new(options.bus_capacity.max(1));
    let subscription = bus
        .subscribe()
        .map_err(|e| BrokerError::Internal(format!("watch bus: {e}")))?;
    let tap = Tap {
        publisher: bus.publisher(),
        dropped: AtomicU64::new(0),
        on_drop: options.on_drop,
    };
    broker
        .watch
        .set(tap)
        .map_err(|_| BrokerError::Conflict("the watch is already running".into()))?;
    let responder = Arc::new(BrokerResponder {
        broker: Arc::downgrade(broker),
        on_action: options.on_action,
    });
    drop(bus);
    tokio::spawn(watch.run(subscription, responder));
    Ok(())
}

/// Contains findings through the broker's containment operations.
pub struct BrokerResponder {
    broker: Weak<Broker>,
    on_action: Option<ActionHook>,
}

impl std::fmt::Debug for BrokerResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerResponder").finish_non_exhaustive()
    }
}

impl BrokerResponder {
    /// A responder over `broker`, counting steps with `on_action`.
    pub fn new(broker: &Arc<Broker>, on_action: Option<ActionHook>) -> Self {
        Self {
            broker: Arc::downgrade(broker),
            on_action,
        }
    }

    fn broker(&self) -> Result<Arc<Broker>, ResponseError> {
        self.broker
            .upgrade()
            .ok_or_else(|| ResponseError::Failed("the broker has stopped".into()))
    }

    async fn run_step(&self, finding: &Finding, step: &custody_watch::Containment) -> StepResult {
        let reason = format!("finding {} ({})", finding.id, finding.kind.as_str());
        let principal = || {
            PrincipalId::parse(&finding.principal_id)
                .map_err(|_| ResponseError::Failed("finding names no known principal".into()))
        };
        let action = match (&step.action, &step.target) {
            (Action::Notify, _) => {
                tracing::warn!(
                    finding.id = %finding.id,
                    finding.kind = finding.kind.as_str(),
                    finding.severity = ?finding.severity,
                    principal.id = %finding.principal_id,
                    "detection finding"
                );
                return Ok(());
            }
            (Action::RevokeSession, Target::Session(session)) => Containment::RevokeSession {
                session: session.clone(),
                principal: principal()?,
                reason,
            },
            (Action::RevokePrincipalTokens, Target::Principal(_)) => {
                Containment::RevokePrincipalTokens {
                    principal: principal()?,
                    reason,
                }
            }
            (Action::SuspendPrincipal, Target::Principal(_)) => Containment::SuspendPrincipal {
                principal: principal()?,
                reason,
            },
            (Action::FreezeTenantExports, Target::Tenant(tenant)) => Containment::FreezeExports {
                tenant: TenantId::parse(tenant)
                    .map_err(|_| ResponseError::Failed("finding names no known tenant".into()))?,
                reason,
            },
            (action, _) => return Err(ResponseError::Unsupported(action.as_str())),
        };
        self.broker()?
            .contain(&action)
            .await
            .map(|_| ())
            .map_err(|e| ResponseError::Failed(e.to_string()))
    }
}

type StepResult = Result<(), ResponseError>;

impl Responder for BrokerResponder {
    async fn execute(&self, finding: &Finding, step: &custody_watch::Containment) -> StepResult {
        let result = self.run_step(finding, step).await;
        if let Some(hook) = &self.on_action {
            hook(step.action.as_str(), result.is_ok());
        }
        if let Err(e) = &result {
            tracing::error!(
                finding.id = %finding.id,
                watch.action = step.action.as_str(),
                error.detail = %e,
                "containment step failed"
            );
        }
        result
    }

    async fn record(&self, event: AuditEvent) -> StepResult {
        self.broker()?
            .append_event(event)
            .await
            .map(|_| ())
            .map_err(|e| ResponseError::Failed(e.to_string()))
    }
}

/// The refusal reasons the watch hears about, with the token verified: every
/// other refusal happened before the signature was checked (or is not about the
/// binding), and its ids are the caller's unverified claims.
fn binding_refusal(err: &VerifyError) -> Option<RefusalReason> {
    match err {
        VerifyError::ProofKeyMismatch => Some(RefusalReason::ProofKeyMismatch),
        VerifyError::NetworkContextMismatch { .. } => Some(RefusalReason::NetworkMismatch),
        VerifyError::ProofTokenHashMismatch => Some(RefusalReason::TokenHashMismatch),
        VerifyError::ProofReplayed => Some(RefusalReason::ProofReplayed),
        VerifyError::Revoked { .. } => Some(RefusalReason::Revoked),
        _ => None,
    }
}

/// The `jti` of a DPoP proof (decoded without checking: callers pass proofs the
/// verifier has checked, or a replayed one whose id is the point).
pub(crate) fn proof_id(proof: &str) -> Option<String> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let payload = proof.split('.').nth(1)?;
    let bytes = Base64UrlUnpadded::decode_vec(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("jti")?.as_str().map(str::to_owned)
}

impl Broker {
    /// Publishes `event` (already durable) on the bus, if a watch runs.
    pub(crate) fn publish_event(&self, event: &AuditEvent, ctx: &RequestContext) {
        if let Some(tap) = self.watch.get() {
            tap.publish(Signal::from_audit(event, ctx));
        }
    }

    /// Publishes a successful authentication, if a watch runs.
    pub(crate) fn publish_authenticated(&self, caller: &Caller) {
        let Some(tap) = self.watch.get() else { return };
        tap.publish(Signal {
            time_ms: self.now_ms(),
            principal_id: caller.principal.id.as_str().to_owned(),
            principal_class: PrincipalClass::parse(caller.principal.class.as_str()),
            session_id: Some(caller.session.clone()),
            token_id: Some(caller.token_id.clone()),
            proof_id: caller.proof_id.clone(),
            device_id: Some(caller.device.id.as_str().to_owned()),
            key_thumbprint: Some(hex::encode(caller.device.pop_jkt)),
            network_hash: Some(caller.network.as_str().to_owned()),
            ip: Some(caller.peer),
            geo: None,
            tenant: crate::audit::tenant_of(&caller.principal),
            case_id: None,
            resource_kind: None,
            resource_id: None,
            what: Happening::Authenticated,
        });
    }

    /// Publishes a refused authentication whose token verified but whose binding
    /// did not, if a watch runs. `token` has passed signature verification (the
    /// error says so), so its claims are the authority's; the presenter's device
    /// and key are unknown and left out.
    pub(crate) fn publish_refused(
        &self,
        token: &str,
        proof: &str,
        err: &VerifyError,
        peer: IpAddr,
    ) {
        let Some(tap) = self.watch.get() else { return };
        let Some(reason) = binding_refusal(err) else {
            return;
        };
        let Some(claims) = custody_token::inspect(token)
            .ok()
            .and_then(|i| serde_json::from_value::<custody_token::AccessClaims>(i.claims).ok())
        else {
            return;
        };
        let class = PrincipalClass::parse(claims.cls.as_str());
        tap.publish(Signal {
            time_ms: self.now_ms(),
            principal_id: claims.sub,
            principal_class: class,
            session_id: Some(claims.sid),
            token_id: Some(claims.jti),
            proof_id: matches!(reason, RefusalReason::ProofReplayed)
                .then(|| proof_id(proof))
                .flatten(),
            device_id: None,
            key_thumbprint: None,
            network_hash: Some(crate::identity::network_of(peer).as_str().to_owned()),
            ip: Some(peer),
            geo: None,
            tenant: claims.tenant,
            case_id: None,
            resource_kind: None,
            resource_id: None,
            what: Happening::AuthRefused {
                reason,
                token_verified: true,
            },
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_binding_refusals_reach_the_bus() {
        assert_eq!(
            binding_refusal(&VerifyError::ProofKeyMismatch),
            Some(RefusalReason::ProofKeyMismatch)
        );
        assert_eq!(
            binding_refusal(&VerifyError::ProofReplayed),
            Some(RefusalReason::ProofReplayed)
        );
        // Before the signature is checked, the claims are the caller's word.
        assert_eq!(binding_refusal(&VerifyError::BadSignature), None);
        assert_eq!(binding_refusal(&VerifyError::UnknownKey), None);
        assert_eq!(binding_refusal(&VerifyError::TokenMalformed), None);
    }

    fn signal(principal: &str) -> Signal {
        Signal {
            time_ms: 1,
            principal_id: principal.into(),
            principal_class: PrincipalClass::SupportAgent,
            session_id: None,
            token_id: None,
            proof_id: None,
            device_id: None,
            key_thumbprint: None,
            network_hash: None,
            ip: None,
            geo: None,
            tenant: "vendor".into(),
            case_id: None,
            resource_kind: None,
            resource_id: None,
            what: Happening::Authenticated,
        }
    }

    #[test]
    fn a_full_bus_never_blocks_and_never_drops_silently() {
        let bus = LocalBus::new(1);
        let mut subscription = bus.subscribe().unwrap();
        let hooked = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&hooked);
        let tap = Tap {
            publisher: bus.publisher(),
            dropped: AtomicU64::new(0),
            on_drop: Some(Arc::new(move || {
                counter.fetch_add(1, Ordering::Relaxed);
            })),
        };
        tap.publish(signal("a"));
        // Full: returns at once, counted and reported.
        tap.publish(signal("b"));
        assert_eq!(tap.dropped(), 1);
        assert_eq!(hooked.load(Ordering::Relaxed), 1);
        // A signal the wire format would refuse is counted, not passed on.
        tap.publish(signal("bad\u{7}"));
        assert_eq!(tap.dropped(), 2);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        use custody_watch::Subscription as _;
        let first = runtime.block_on(subscription.next()).unwrap();
        assert_eq!(first.principal_id, "a");
        // Room again: the next one goes through.
        tap.publish(signal("c"));
        assert_eq!(tap.dropped(), 2);
        assert_eq!(
            runtime.block_on(subscription.next()).unwrap().principal_id,
            "c"
        );
    }

    #[test]
    fn proof_id_reads_the_jti_and_nothing_else() {
        use base64ct::{Base64UrlUnpadded, Encoding};
        let payload = Base64UrlUnpadded::encode_string(br#"{"jti":"p-1","htm":"GET"}"#);
        assert_eq!(proof_id(&format!("h.{payload}.s")).as_deref(), Some("p-1"));
        assert_eq!(proof_id("not-a-proof"), None);
    }
}
