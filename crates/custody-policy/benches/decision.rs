//! One authorization decision, entity loading included, against a bundle of 1,000
//! policies (the default set plus generated per-tenant policies, scoped with
//! `resource in Custody::Tenant::"t"` as tenant-specific Cedar policies are) and facts holding
//! 1,000 entities. Criterion reports the mean; a second pass records every
//! decision's latency and prints p50/p99/max (run with `--bench` only).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark setup"
)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use custody_policy::{
    Action, BundleContent, BundleVerifier, CaseFacts, Context, Facts, GrantFacts, PolicyEngine,
    PrincipalClass, PrincipalRef, Request, ResourceRef, ServiceAccountFacts, SignedBundle,
    SigningKey, SupportMode, TenantFacts, TrustRoot,
};

const NOW: u64 = 1_800_000_000;
const TENANTS: usize = 200;
const CASES: usize = 400;
const GRANTS: usize = 300;
const SERVICE_ACCOUNTS: usize = 100;
const TARGET_POLICIES: usize = 1000;

/// The default bundle plus generated per-tenant policies up to 1,000 policies.
fn content() -> BundleContent {
    let mut content = BundleContent::builtin_default();
    let default_count = content
        .policies
        .values()
        .map(|text| text.matches("@id(").count())
        .sum::<usize>();
    let mut generated = String::new();
    for index in 0..TARGET_POLICIES - default_count {
        let tenant = index % TENANTS;
        if index % 2 == 0 {
            generated.push_str(&format!(
                "@id(\"gen.permit.{index}\")\npermit (principal is Custody::CustomerAdmin, action == Custody::Action::\"case.read\", resource in Custody::Tenant::\"t{tenant}\")\nwhen {{ principal in Custody::Tenant::\"t{tenant}\" && context.risk_score < {} }};\n",
                50 + index % 20
            ));
        } else {
            generated.push_str(&format!(
                "@id(\"gen.forbid.{index}\")\nforbid (principal is Custody::SupportAgent, action == Custody::Action::\"artifact.view\", resource in Custody::Tenant::\"t{tenant}\")\nwhen {{ context.network_hash == \"blocked-{index}\" }};\n"
            ));
        }
    }
    content
        .policies
        .insert("generated/tenants.cedar".into(), generated);
    content
}

/// 1,000 entities: 200 tenants, 400 cases, 300 grants, 100 service accounts.
fn facts() -> Facts {
    let mut facts = Facts::default();
    for tenant in 0..TENANTS {
        facts.tenants.insert(
            format!("t{tenant}"),
            TenantFacts {
                support_mode: SupportMode::OnRequest,
            },
        );
    }
    for case in 0..CASES {
        let assigned = BTreeSet::from([format!("agent{}", case % 50)]);
        facts.cases.insert(
            format!("c{case}"),
            CaseFacts {
                tenant: format!("t{}", case % TENANTS),
                assigned,
            },
        );
    }
    for grant in 0..GRANTS {
        let case = grant % CASES;
        facts.grants.insert(
            format!("g{grant}"),
            GrantFacts {
                agent: format!("agent{}", case % 50),
                case: format!("c{case}"),
                tenant: format!("t{}", case % TENANTS),
                expires_at: NOW + 3600,
                actions: BTreeSet::from([Action::ArtifactView, Action::CaseRead]),
            },
        );
    }
    for account in 0..SERVICE_ACCOUNTS {
        facts.service_accounts.insert(
            format!("sa{account}"),
            ServiceAccountFacts {
                function: "scan".into(),
                tenants: (0..10)
                    .map(|n| format!("t{}", (account + n) % TENANTS))
                    .collect(),
            },
        );
    }
    assert_eq!(
        facts.tenants.len() + facts.cases.len() + facts.grants.len() + facts.service_accounts.len(),
        1000
    );
    facts
}

fn context(class: PrincipalClass) -> Context {
    Context {
        now: NOW,
        session_class: Some(class),
        network_hash: "net".into(),
        ..Context::default()
    }
}

/// Representative requests: allowed admin view, allowed agent view with grant,
/// cross-tenant admin deny, service-account scan.
fn requests() -> Vec<(&'static str, Request, bool)> {
    let artifact = |case: usize| ResourceRef::Artifact {
        id: format!("a{case}"),
        case: format!("c{case}"),
        tenant: format!("t{}", case % TENANTS),
    };
    let mut agent = context(PrincipalClass::SupportAgent);
    agent.grant = Some("g17".into());
    vec![
        (
            "admin_view_allow",
            Request {
                principal: PrincipalRef::customer_admin("alice", "t17"),
                action: Action::ArtifactView,
                resource: artifact(17),
                context: context(PrincipalClass::CustomerAdmin),
            },
            true,
        ),
        (
            "agent_view_with_grant_allow",
            Request {
                principal: PrincipalRef::support_agent("agent17"),
                action: Action::ArtifactView,
                resource: artifact(17),
                context: agent,
            },
            true,
        ),
        (
            "admin_cross_tenant_deny",
            Request {
                principal: PrincipalRef::customer_admin("alice", "t17"),
                action: Action::ArtifactDownload,
                resource: artifact(18),
                context: context(PrincipalClass::CustomerAdmin),
            },
            false,
        ),
        (
            "service_account_scan_allow",
            Request {
                principal: PrincipalRef::service_account("sa10"),
                action: Action::ArtifactView,
                resource: artifact(15),
                context: context(PrincipalClass::ServiceAccount),
            },
            true,
        ),
    ]
}

fn engine() -> (PolicyEngine, usize) {
    let keys: Vec<SigningKey> = (1u8..=3)
        .map(|n| SigningKey::from_secret_bytes(&[n; 32]))
        .collect();
    let root = TrustRoot::new(keys.iter().map(SigningKey::public_key), 2).unwrap();
    let mut bundle = SignedBundle::new(content(), 1, NOW + 86_400);
    bundle.sign(&keys[0]);
    bundle.sign(&keys[1]);
    let verified = BundleVerifier::new(root).verify(&bundle, NOW).unwrap();
    let count = verified.policy_count();
    (PolicyEngine::with_bundle(verified), count)
}

fn percentiles(engine: &PolicyEngine, facts: &Facts, rounds: usize) {
    for (name, request, expected) in requests() {
        let mut samples: Vec<Duration> = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let start = Instant::now();
            let decision = engine.authorize(black_box(&request), black_box(facts));
            samples.push(start.elapsed());
            assert_eq!(decision.is_allowed(), expected, "{name}");
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
        println!(
            "decision/{name}: n={rounds} p50={:.1}us p99={:.1}us max={:.1}us",
            at(0.50).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6,
            samples[samples.len() - 1].as_secs_f64() * 1e6
        );
    }
}

fn main() {
    let (engine, policy_count) = engine();
    assert_eq!(policy_count, TARGET_POLICIES);
    let facts = facts();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("decision");
    for (name, request, expected) in requests() {
        assert_eq!(
            engine.authorize(&request, &facts).is_allowed(),
            expected,
            "{name}"
        );
        group.bench_function(name, |bench| {
            bench.iter(|| engine.authorize(black_box(&request), black_box(&facts)))
        });
    }
    group.finish();
    criterion.final_summary();
    let benching = std::env::args().any(|arg| arg == "--bench");
    percentiles(&engine, &facts, if benching { 20_000 } else { 10 });
}
