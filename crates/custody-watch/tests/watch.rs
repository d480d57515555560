//! The watch through its public API: the bus, the engine, the response policy, the
//! responder, metrics, configuration and the state bound.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions"
)]

use std::sync::{Arc, Mutex};

use custody_audit::event::{AuditEvent, Decision, EventKind, sample_event};
use custody_watch::bus::{Subscription, Transport};
use custody_watch::{
    Action, Clock, Containment, Finding, FindingKind, Happening, LocalBus, ManualClock,
    PrincipalClass, RefusalReason, Responder, ResponseError, Signal, Target, Watch, WatchConfig,
    WatchMetrics,
};
use prometheus_client::registry::Registry;

/// A responder that records what it was asked to do, takes `delay_ms` of the
/// manual clock per step, and can be told to fail one action.
struct Recorder {
    clock: Arc<ManualClock>,
    delay_ms: i64,
    fail: Option<Action>,
    steps: Mutex<Vec<Containment>>,
    events: Mutex<Vec<AuditEvent>>,
}

impl Recorder {
    fn new(clock: Arc<ManualClock>, delay_ms: i64, fail: Option<Action>) -> Self {
        Self {
            clock,
            delay_ms,
            fail,
            steps: Mutex::new(vec![]),
            events: Mutex::new(vec![]),
        }
    }
}

impl Responder for Recorder {
    async fn execute(&self, _finding: &Finding, step: &Containment) -> Result<(), ResponseError> {
        self.clock.advance(self.delay_ms);
        self.steps.lock().unwrap().push(step.clone());
        if self.fail == Some(step.action) {
            return Err(ResponseError::Failed("revocation feed unreachable".into()));
        }
        Ok(())
    }

    async fn record(&self, event: AuditEvent) -> Result<(), ResponseError> {
        event
            .validate()
            .map_err(|e| ResponseError::Failed(e.to_string()))?;
        self.events.lock().unwrap().push(event);
        Ok(())
    }
}

fn act(principal: &str, t: i64, kind: EventKind) -> Signal {
    let mut s = Signal::from(&sample_event(kind, t, 1));
    s.principal_id = principal.into();
    s.session_id = Some(format!("sess-{principal}"));
    s.token_id = Some(format!("tok-{principal}"));
    s.device_id = Some("dev-1".into());
    s.key_thumbprint = Some("jkt-1".into());
    s.network_hash = Some("net-1".into());
    s
}

#[tokio::test]
async fn a_replayed_session_is_revoked_through_the_bus_with_ttd_and_ttr_recorded() {
    let clock = Arc::new(ManualClock::new(10_000));
    let mut registry = Registry::default();
    let metrics = WatchMetrics::register(&mut registry);
    let watch = Watch::builder(WatchConfig::default(), clock.clone())
        .metrics(metrics)
        .build()
        .unwrap();
    let bus = LocalBus::new(16);
    let sub = bus.subscribe().unwrap();
    let responder = Arc::new(Recorder::new(clock.clone(), 40, None));
    let running = tokio::spawn(watch.run(sub, Arc::clone(&responder)));

    // The admin works from its device; then its session shows up on another key
    // and network (a token lifted from a HAR and replayed elsewhere).
    bus.publish(act("victim", 9_000, EventKind::View))
        .await
        .unwrap();
    let mut replay = act("victim", 9_500, EventKind::Download);
    replay.key_thumbprint = Some("jkt-attacker".into());
    replay.network_hash = Some("net-attacker".into());
    replay.device_id = Some("dev-attacker".into());
    bus.publish(replay).await.unwrap();
    drop(bus);
    let summary = running.await.unwrap();
    assert_eq!(summary.signals, 2);
    assert_eq!(summary.findings, 1);
    assert_eq!(summary.contained, 1);

    let steps = responder.steps.lock().unwrap().clone();
    let planned: Vec<_> = steps.iter().map(|s| (s.action, s.target.clone())).collect();
    assert_eq!(
        planned,
        vec![
            (Action::RevokeSession, Target::Session("sess-victim".into())),
            (
                Action::RevokePrincipalTokens,
                Target::Principal("victim".into())
            ),
            (Action::Notify, Target::OnCall),
        ]
    );
    let events = responder.events.lock().unwrap().clone();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Finding,
            EventKind::Containment,
            EventKind::Containment,
            EventKind::Containment
        ]
    );
    let finding_id = events[0].resource.id.clone();
    assert!(events.iter().all(|e| e.trace_id == finding_id));
    assert_eq!(
        events[0].decision,
        Decision::Deny,
        "a contained finding is recorded as blocked"
    );
    assert_eq!(events[1].resource.kind, "session:revoke_session");
    assert_eq!(events[1].decision, Decision::Allow);

    // Detection at 10 000 (clock), first malicious event at 9 500: 0.5 s to detect.
    // Two revocation steps of 40 ms each: 80 ms to revoke.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("watch_time_to_detect_seconds_sum{kind=\"session_hijack\"} 0.5"),
        "{text}"
    );
    assert!(
        text.contains("watch_time_to_revoke_seconds_sum{kind=\"session_hijack\"} 0.08"),
        "{text}"
    );
    assert!(
        text.contains("watch_findings_total{kind=\"session_hijack\"} 1"),
        "{text}"
    );
    assert!(text.contains("watch_signals_total 2"), "{text}");
}

#[tokio::test]
async fn a_failed_revocation_is_not_counted_as_contained() {
    let clock = Arc::new(ManualClock::new(0));
    let mut watch = Watch::builder(WatchConfig::default(), clock.clone())
        .build()
        .unwrap();
    let mut s = act("agent", 0, EventKind::View);
    s.what = Happening::AuthRefused {
        reason: RefusalReason::ProofKeyMismatch,
        token_verified: true,
    };
    let findings = watch.observe(&s);
    assert_eq!(findings.len(), 1);
    let responder = Recorder::new(clock.clone(), 5, Some(Action::RevokePrincipalTokens));
    let incident = watch.respond().respond(&findings[0], &responder).await;
    assert!(!incident.contained());
    assert_eq!(incident.time_to_revoke_ms, None);
    let failed: Vec<_> = incident
        .outcomes
        .iter()
        .filter(|o| o.error.is_some())
        .map(|o| o.step.action)
        .collect();
    assert_eq!(failed, vec![Action::RevokePrincipalTokens]);
    // The failed step is recorded too, as a denied containment event; the error
    // text reaches no audit field.
    let events = responder.events.lock().unwrap();
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.kind == EventKind::Containment && e.decision == Decision::Deny)
        .collect();
    assert_eq!(denied.len(), 1);
    assert!(
        !serde_json::to_string(&*events)
            .unwrap()
            .contains("unreachable")
    );
}

#[tokio::test]
async fn cross_tenant_block_suspends_revokes_and_freezes_every_tenant() {
    let clock = Arc::new(ManualClock::new(0));
    let mut watch = Watch::builder(WatchConfig::default(), clock.clone())
        .build()
        .unwrap();
    let mut blocks = vec![];
    for i in 0..10 {
        let mut s = act("svc-integration", i * 360_000, EventKind::Download);
        s.principal_class = PrincipalClass::ServiceAccount;
        s.tenant = format!("tenant-{i}");
        s.resource_id = Some(format!("art-{i}"));
        clock.set(i * 360_000 + 20);
        blocks.extend(
            watch
                .observe(&s)
                .into_iter()
                .filter(|f| f.kind == FindingKind::CrossTenantBlock),
        );
    }
    assert_eq!(blocks.len(), 1);
    let block = &blocks[0];
    assert_eq!(block.first_event_ms, 0);
    assert_eq!(block.time_to_detect_ms(), 9 * 360_000 + 20);
    let plan = watch.respond().policy().plan(block);
    let suspend = plan
        .iter()
        .filter(|s| s.action == Action::SuspendPrincipal)
        .count();
    let frozen = plan
        .iter()
        .filter(|s| s.action == Action::FreezeTenantExports)
        .count();
    assert_eq!((suspend, frozen), (1, 10));
    assert_eq!(plan.last().map(|s| s.action), Some(Action::Notify));
    let responder = Recorder::new(clock.clone(), 1, None);
    let incident = watch.respond().respond(block, &responder).await;
    assert!(incident.contained());
    // One finding event per tenant concerned.
    let findings = responder
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.kind == EventKind::Finding)
        .count();
    assert_eq!(findings, 10);
}

#[test]
fn config_reads_partial_json_with_defaults_and_refuses_bad_values() {
    let json = r#"{
        "access": { "cross_tenant_alert": { "count": 5, "window_secs": 300 } },
        "travel": { "allow_networks": ["10.0.0.0/8"], "max_speed_kmh": 900.0 },
        "response": { "actions": { "impossible_travel": ["suspend_principal", "notify"] } }
    }"#;
    let config: WatchConfig = serde_json::from_str(json).unwrap();
    assert_eq!(config.access.cross_tenant_alert.count, 5);
    assert_eq!(
        config.access.cross_tenant_block.count, 10,
        "unspecified values keep their default"
    );
    assert_eq!(config.travel.min_distance_km, 100.0);
    assert_eq!(
        config.response.actions_for(FindingKind::ImpossibleTravel),
        &[Action::SuspendPrincipal, Action::Notify]
    );
    assert_eq!(
        config.response.actions_for(FindingKind::SessionHijack),
        &[Action::Notify],
        "replaced map"
    );
    config.validate().unwrap();
    let round: WatchConfig =
        serde_json::from_str(&serde_json::to_string(&WatchConfig::default()).unwrap()).unwrap();
    assert_eq!(round, WatchConfig::default());

    assert!(
        serde_json::from_str::<WatchConfig>(r#"{"acess": {}}"#).is_err(),
        "typos are refused"
    );
    let mut bad = WatchConfig::default();
    bad.access.cross_tenant_block.count = 0;
    let err = Watch::builder(bad, Arc::new(ManualClock::new(0)))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("access.cross_tenant_block"));
    let mut bad = WatchConfig::default();
    bad.rate.costs.insert("not_a_kind".into(), 1);
    assert!(bad.validate().is_err());
}

#[test]
fn a_million_distinct_keys_keep_every_detector_within_its_bound_and_working() {
    let clock = Arc::new(ManualClock::new(0));
    let mut config = WatchConfig::default();
    let cap = 2_000;
    config.rate.capacity = cap;
    config.hijack.capacity = cap;
    config.travel.capacity = cap;
    config.access.capacity = cap;
    config.admin_device.capacity = cap;
    let mut watch = Watch::builder(config, clock.clone()).build().unwrap();
    let mut base = act("p", 0, EventKind::View);
    base.principal_class = PrincipalClass::CustomerAdmin;
    base.geo = Some(custody_watch::GeoPoint::new(51.5, -0.12));
    for i in 0..1_000_000u32 {
        // Every id distinct: principal, tenant, session, token, proof, device.
        let mut s = base.clone();
        s.time_ms = i64::from(i);
        s.principal_id = format!("p{i}");
        s.tenant = format!("t{i}");
        s.session_id = Some(format!("s{i}"));
        s.token_id = Some(format!("k{i}"));
        s.proof_id = Some(format!("r{i}"));
        s.resource_id = Some(format!("a{i}"));
        watch.observe(&s);
        if i % 100_000 == 0 {
            for (name, keys) in watch.state().keys {
                // Rate holds two scopes (principals and tenants), hijack three id kinds in one map.
                let bound = if name == "rate" { 2 * cap } else { cap };
                assert!(keys <= bound, "{name} holds {keys} keys");
            }
        }
    }
    let state = watch.state();
    for (name, keys) in &state.keys {
        let bound = if *name == "rate" { 2 * cap } else { cap };
        assert!(*keys <= bound && *keys > 0, "{name} holds {keys} keys");
    }
    // Still working after the flood: a hijack and a cross-tenant pattern fire.
    let t = 1_000_000;
    let first = act("victim", t, EventKind::View);
    assert!(watch.observe(&first).is_empty());
    let mut replay = act("victim", t + 1, EventKind::View);
    replay.key_thumbprint = Some("jkt-other".into());
    let kinds: Vec<_> = watch.observe(&replay).into_iter().map(|f| f.kind).collect();
    assert_eq!(kinds, vec![FindingKind::SessionHijack]);
    let mut kinds = vec![];
    for (n, tenant) in ["x", "y", "z"].iter().enumerate() {
        let mut s = act("roamer", t + 10 + n as i64, EventKind::Download);
        s.tenant = (*tenant).into();
        kinds.extend(watch.observe(&s).into_iter().map(|f| f.kind));
    }
    assert_eq!(kinds, vec![FindingKind::CrossTenantAccess]);
}

#[test]
fn findings_and_their_events_hold_ids_never_token_material() {
    // A signal can only carry ids; check nothing the broker could mistake for a
    // credential (the resource digest, the policy bundle) leaks into findings.
    let clock = Arc::new(ManualClock::new(0));
    let mut watch = Watch::builder(WatchConfig::default(), clock.clone())
        .build()
        .unwrap();
    let mut s = act("victim", 0, EventKind::View);
    watch.observe(&s);
    s.key_thumbprint = Some("jkt-2".into());
    let f = watch.observe(&s).remove(0);
    let json = serde_json::to_string(&f).unwrap();
    assert!(!json.contains("sha256:"), "{json}");
    for e in f.to_audit_events(&Default::default(), true) {
        e.validate().unwrap();
        assert!(e.device.is_none() && e.src_endpoint.is_none());
    }
    assert_eq!(clock.now_ms(), f.detected_ms);
}

#[tokio::test]
async fn local_bus_subscription_ends_when_publishers_are_gone() {
    let bus = LocalBus::new(1);
    let mut sub = bus.subscribe().unwrap();
    let publisher = bus.publisher();
    drop(bus);
    publisher
        .publish(act("a", 0, EventKind::View))
        .await
        .unwrap();
    drop(publisher);
    assert!(sub.next().await.is_some());
    assert!(sub.next().await.is_none());
}
