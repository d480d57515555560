//! Events per second through the watch with every detector on, over a realistic
//! mix: 5 000 principals (agents, admins, service accounts) across 500 tenants,
//! mostly benign work in their own cases, with a sprinkle of patterns (session
//! replays, cross-tenant sweeps, denial bursts, impossible travel).
//!
//! `engine`: the synchronous core, `Watch::observe`, one signal at a time.
//! `local_bus`: the same signals published on a `LocalBus` and judged by
//! `Watch::run` with a responder that does nothing.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    reason = "benchmark harness"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use custody_audit::event::{AuditEvent, Decision, EventKind};
use custody_watch::bus::Transport;
use custody_watch::{
    Containment, Finding, GeoPoint, Happening, LocalBus, PrincipalClass, Responder, ResponseError,
    Signal, SystemClock, Watch, WatchConfig,
};

const SIGNALS: usize = 200_000;
const PRINCIPALS: u64 = 5_000;
const TENANTS: u64 = 500;
const CITIES: [(f64, f64); 6] = [
    (51.5074, -0.1278),
    (48.8566, 2.3522),
    (40.7128, -74.0060),
    (37.7749, -122.4194),
    (-33.8688, 151.2093),
    (35.6762, 139.6503),
];

/// A small deterministic generator (xorshift64*), so every run sees the same mix.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn class_of(p: u64) -> PrincipalClass {
    match p % 20 {
        0..=12 => PrincipalClass::SupportAgent,
        13..=17 => PrincipalClass::CustomerAdmin,
        _ => PrincipalClass::ServiceAccount,
    }
}

fn benign(rng: &mut Rng, t: i64) -> Signal {
    let p = rng.below(PRINCIPALS);
    let class = class_of(p);
    let home = p % TENANTS;
    // Agents mostly work one tenant's cases at a time, sometimes a second one.
    let tenant = if class == PrincipalClass::SupportAgent && rng.below(50) == 0 {
        (home + 1) % TENANTS
    } else {
        home
    };
    let kind = match rng.below(100) {
        0..=59 => EventKind::View,
        60..=74 => EventKind::Download,
        75..=84 => EventKind::TokenIssue,
        85..=89 => EventKind::Export,
        90..=94 => EventKind::Ingest,
        _ => EventKind::GrantRequest,
    };
    let decision = if rng.below(200) == 0 {
        Decision::Deny
    } else {
        Decision::Allow
    };
    let session = p * 4 + (t as u64 / 3_600_000) % 4;
    let city = CITIES[(p % CITIES.len() as u64) as usize];
    Signal {
        time_ms: t,
        principal_id: format!("prn_{p:08}"),
        principal_class: class,
        session_id: Some(format!("sid_{session:010}")),
        token_id: Some(format!("jti_{session:010}_{}", t / 600_000)),
        proof_id: Some(format!("prf_{:016x}", rng.next())),
        device_id: Some(format!("dev_{p:08}")),
        key_thumbprint: Some(format!("jkt_{p:08}")),
        network_hash: Some(format!("net_{:06}", p % 3_000)),
        ip: Some(std::net::IpAddr::from([
            10,
            (p >> 16) as u8,
            (p >> 8) as u8,
            p as u8,
        ])),
        geo: Some(GeoPoint::new(city.0, city.1)),
        tenant: format!("tenant_{tenant:04}"),
        case_id: Some(format!("case_{:06}", rng.below(20_000))),
        resource_kind: Some("artifact".into()),
        resource_id: Some(format!("art_{:08}", rng.below(200_000))),
        what: Happening::Act { kind, decision },
    }
}

fn mix() -> Vec<Signal> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::with_capacity(SIGNALS);
    let mut t = 1_764_000_000_000i64;
    while out.len() < SIGNALS {
        t += 2; // 500 signals per second of event time
        let mut s = benign(&mut rng, t);
        match rng.below(1_000) {
            // Session replay from another key and network.
            0 => {
                s.key_thumbprint = Some("jkt_attacker".into());
                s.network_hash = Some("net_attacker".into());
            }
            // A service account sweeping tenants.
            1 => {
                s.principal_id = "prn_sweeper".into();
                s.principal_class = PrincipalClass::ServiceAccount;
                s.tenant = format!("tenant_{:04}", rng.below(TENANTS));
                s.what = Happening::Act {
                    kind: EventKind::Download,
                    decision: Decision::Allow,
                };
            }
            // Probing.
            2 => {
                s.what = Happening::Act {
                    kind: EventKind::View,
                    decision: Decision::Deny,
                };
            }
            // The same principal from the other side of the world.
            3 => s.geo = Some(GeoPoint::new(-CITIES[0].0, CITIES[0].1 + 150.0)),
            // A refused replay of a verified token.
            4 => {
                s.what = Happening::AuthRefused {
                    reason: custody_watch::RefusalReason::ProofKeyMismatch,
                    token_verified: true,
                }
            }
            _ => {}
        }
        out.push(s);
    }
    out
}

fn watch() -> Watch {
    Watch::builder(WatchConfig::default(), Arc::new(SystemClock))
        .build()
        .unwrap()
}

struct Null;

impl Responder for Null {
    async fn execute(&self, _: &Finding, _: &Containment) -> Result<(), ResponseError> {
        Ok(())
    }
    async fn record(&self, _: AuditEvent) -> Result<(), ResponseError> {
        Ok(())
    }
}

fn bench(c: &mut Criterion) {
    let signals = mix();
    let mut group = c.benchmark_group("watch");
    group.throughput(Throughput::Elements(SIGNALS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    group.bench_function("engine", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let mut w = watch();
                let start = Instant::now();
                let mut findings = 0usize;
                for s in &signals {
                    findings += black_box(w.observe(s)).len();
                }
                total += start.elapsed();
                black_box(findings);
            }
            total
        });
    });
    group.bench_function("local_bus", |b| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let w = watch();
                let bus = LocalBus::new(4_096);
                let sub = bus.subscribe().unwrap();
                let batch = signals.clone();
                let start = Instant::now();
                let summary = rt.block_on(async move {
                    let producer = tokio::spawn(async move {
                        for s in batch {
                            bus.publish(s).await.unwrap();
                        }
                    });
                    let summary = w.run(sub, Arc::new(Null)).await;
                    producer.await.unwrap();
                    summary
                });
                total += start.elapsed();
                assert_eq!(summary.signals, SIGNALS as u64);
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
