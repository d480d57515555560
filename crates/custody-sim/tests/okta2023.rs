//! `custody simulate okta-2023` end to end on small deployments (issue 6 item 4): with
//! every control on, the attack gets no session and no live credential and the bulk
//! attacker is contained inside the targets; with the unsafe baseline the same attack,
//! against the same server code, hijacks admin sessions. The second half is what shows
//! the first can fail.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test code; a failed step must fail the test"
)]

use custody_sim::{Options, Scenario, SimReport};

const TENANTS: usize = 12;

fn run(baseline: bool) -> SimReport {
    let mut options = Options::new(TENANTS);
    options.unsafe_baseline = baseline;
    custody_sim::run(&options, &mut |line| eprintln!("{line}")).unwrap()
}

fn scenario(report: &SimReport, which: Scenario) -> &custody_sim::ScenarioReport {
    report
        .scenarios
        .iter()
        .find(|s| s.scenario == which)
        .unwrap()
}

#[test]
fn custody_holds_and_the_unsafe_baseline_does_not() {
    let safe = run(false);
    eprintln!("{}", safe.table());
    for s in &safe.scenarios {
        assert_eq!(s.admin_sessions_hijacked, 0, "{s:?}");
        assert_eq!(s.artifacts_with_live_credentials, 0, "{s:?}");
        assert_eq!(s.replays_accepted, 0, "{s:?}");
        assert_eq!(s.raw_token_replays_accepted, 0, "{s:?}");
        assert!(s.raw_token_replays > 0, "{s:?}");
    }
    let bulk = scenario(&safe, Scenario::ServiceAccountBulk);
    assert!(bulk.attacker_cut_off, "{bulk:?}");
    assert!(bulk.tenants_read < TENANTS, "{bulk:?}");
    assert!(
        bulk.time_to_detect_ms
            .is_some_and(|t| t <= custody_sim::DETECT_TARGET_MS),
        "{bulk:?}"
    );
    assert!(
        bulk.time_to_revoke_ms
            .is_some_and(|t| t <= custody_sim::REVOKE_TARGET_MS),
        "{bulk:?}"
    );
    // Caught as a stolen key off its host, from the kind the audit event names.
    assert!(
        bulk.findings
            .iter()
            .any(|k| k == "service_account_new_context"),
        "{bulk:?}"
    );
    // B_i's boundary is the account's whole scope (audited per tenant), not only
    // the tenants it reached.
    let blast = bulk.blast_radius.as_ref().unwrap();
    assert_eq!(blast.boundary_tenants, TENANTS, "{blast:?}");
    assert_eq!(blast.exposed_tenants, bulk.tenants_read, "{blast:?}");
    let agent = scenario(&safe, Scenario::CompromisedAgent);
    assert!(agent.tenants_read <= 5, "{agent:?}");
    assert!(agent.requests_denied > 0, "{agent:?}");
    assert!(safe.holds(), "{}", safe.table());
    // No credential reaches the report.
    let json = serde_json::to_string(&safe).unwrap();
    assert!(!json.contains("eyJ"), "{json}");

    let unsafe_run = run(true);
    eprintln!("{}", unsafe_run.table());
    let bulk = scenario(&unsafe_run, Scenario::ServiceAccountBulk);
    assert_eq!(bulk.tenants_read, TENANTS, "{bulk:?}");
    assert_eq!(bulk.artifacts_with_live_credentials, TENANTS, "{bulk:?}");
    assert!(bulk.admin_sessions_hijacked >= 1, "{bulk:?}");
    assert!(bulk.findings.is_empty(), "{bulk:?}");
    assert!(!unsafe_run.holds());
}
