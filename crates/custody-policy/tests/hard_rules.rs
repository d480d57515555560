//! Every hard rule of the default policy set is a `forbid` that holds on its own, and
//! every forbid is load-bearing:
//!
//! 1. add an allow-everything `permit` to the default bundle: every case of the
//!    bundle's own tests still gets its expected decision (so no deny rests on a
//!    merely absent permit);
//! 2. then remove each forbid in turn: at least one case flips to allow (so each
//!    forbid is exercised by a test that fails against the unsafe variant).

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] fns: failures should stop the test loudly"
)]

use custody_policy::BundleContent;
use custody_policy::testing::run_tests;

const GUARDS: &str = "default/00-guards.cedar";
/// Forbids that deliberately overlap another one (defence in depth), with the forbid
/// that also covers their cases: removing both must flip a case.
const OVERLAPPING: [(&str, &str); 1] = [(
    "forbid.service-account.export",
    "forbid.service-account.outside-function",
)];

const PERMIT_ALL: &str = "@id(\"test.permit-everything\")\npermit (principal, action, resource);\n";

/// The default bundle plus a permit-everything policy.
fn with_permit_all() -> BundleContent {
    let mut content = BundleContent::builtin_default();
    content
        .policies
        .insert("zz-permit-all.cedar".into(), PERMIT_ALL.into());
    content
}

/// The guard file split into (id, policy text) blocks, each starting at `@id(`.
fn guard_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    for (index, chunk) in text.split("\n@id(\"").enumerate() {
        if index == 0 {
            continue;
        }
        let id = chunk.split('"').next().unwrap().to_owned();
        blocks.push((id, format!("\n@id(\"{chunk}")));
    }
    blocks
}

#[test]
fn every_expected_deny_holds_under_a_permit_everything_policy() {
    let report = run_tests(&with_permit_all()).unwrap();
    assert!(report.total() >= 60, "{}", report.total());
    assert!(report.failures().is_empty(), "{:#?}", report.failures());
}

#[test]
fn removing_any_forbid_makes_a_bundle_test_fail() {
    let base = with_permit_all();
    let guards = base.policies.get(GUARDS).unwrap().clone();
    let blocks = guard_blocks(&guards);
    assert!(blocks.len() >= 30, "{}", blocks.len());
    let mut not_load_bearing = Vec::new();
    for (id, block) in &blocks {
        assert!(block.contains("forbid"), "{id} is not a forbid");
        let mut mutated = base.clone();
        mutated
            .policies
            .insert(GUARDS.into(), guards.replacen(block.as_str(), "\n", 1));
        let report = run_tests(&mutated).unwrap();
        let flipped: Vec<_> = report
            .failures()
            .iter()
            .map(|failure| failure.name.clone())
            .collect();
        if flipped.is_empty() {
            not_load_bearing.push(id.clone());
        }
    }
    let expected: Vec<String> = OVERLAPPING.iter().map(|(id, _)| (*id).to_owned()).collect();
    assert_eq!(not_load_bearing, expected, "forbids no test depends on");
    for (id, backup) in OVERLAPPING {
        let mut text = guards.clone();
        for remove in [id, backup] {
            let (_, block) = blocks.iter().find(|(found, _)| found == remove).unwrap();
            text = text.replacen(block.as_str(), "\n", 1);
        }
        let mut mutated = base.clone();
        mutated.policies.insert(GUARDS.into(), text);
        assert!(
            !run_tests(&mutated).unwrap().failures().is_empty(),
            "{id} + {backup}"
        );
    }
}

#[test]
fn without_the_permit_everything_policy_the_default_tests_pass() {
    let report = run_tests(&BundleContent::builtin_default()).unwrap();
    assert!(report.failures().is_empty(), "{:#?}", report.failures());
}
