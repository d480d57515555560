//! Every event kind serialises to JSON that validates against
//! `docs/schemas/audit-event.schema.json`, and the schema rejects events whose
//! class, activity or fields do not match their kind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

use custody_audit::event::{Decision, EventKind, sample_event};
use serde_json::{Value, json};

fn validator() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/schemas/audit-event.schema.json"
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::draft202012::new(&schema).unwrap()
}

#[test]
fn a_sample_of_every_kind_validates() {
    let v = validator();
    for kind in EventKind::ALL {
        for seq in [1u64, 13] {
            let mut event = sample_event(kind, 1_764_000_000_000, seq);
            if seq == 13 {
                // Minimal variant: no optional fields, a denied decision.
                event.device = None;
                event.src_endpoint = None;
                event.actor.session_id = None;
                event.resource.digest = None;
                event.resource.case_id = None;
                assert_eq!(event.decision, Decision::Deny);
            }
            let doc: Value = serde_json::from_slice(&event.canonical_bytes().unwrap()).unwrap();
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{kind:?}: {errors:?}");
        }
    }
}

#[test]
fn the_schema_rejects_mismatched_or_extra_fields() {
    let v = validator();
    let good: Value = sample_event(EventKind::Download, 0, 1).to_ocsf();
    assert!(v.is_valid(&good));
    let mut cases: Vec<Value> = Vec::new();
    // A download recorded with the view activity (the 2023 mismatch).
    let mut c = good.clone();
    c["activity_id"] = json!(9);
    cases.push(c);
    // An export claimed to be a core OCSF File Hosting event.
    let mut c = sample_event(EventKind::Export, 0, 1).to_ocsf();
    c["class_uid"] = json!(6006);
    cases.push(c);
    // An extension event without the extension declared.
    let mut c = sample_event(EventKind::Unseal, 0, 1).to_ocsf();
    c["metadata"].as_object_mut().unwrap().remove("extensions");
    cases.push(c);
    // An unknown field (e.g. someone adding a token value).
    let mut c = good.clone();
    c["token"] = json!("eyJ...");
    cases.push(c);
    // Allowed decision with a failure status.
    let mut c = good.clone();
    c["status_id"] = json!(2);
    cases.push(c);
    // Missing tenant.
    let mut c = good.clone();
    c["metadata"].as_object_mut().unwrap().remove("tenant_uid");
    cases.push(c);
    for (i, c) in cases.iter().enumerate() {
        assert!(!v.is_valid(c), "case {i} should be rejected");
    }
}
