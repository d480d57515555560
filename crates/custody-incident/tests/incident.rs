//! Blast radius and tenant notices over real audit logs (issue 6, item 3; DESIGN §10).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a failed expectation is a test failure"
)]

mod common;

use std::fs;

use common::*;
use custody_audit::event::{Decision, EventKind};
use custody_audit::note::NoteSigner;
use custody_audit::store::encode_frame;
use custody_incident::{
    Incident, IncidentError, NoticeError, VerifiedLog, blast_radius, render_notice,
};

const SINCE: i64 = T0 - 60 * MIN;
const UNTIL: i64 = T0 + 60 * MIN;

fn open(dir: &std::path::Path) -> VerifiedLog<custody_audit::store::SegmentStore> {
    VerifiedLog::open_dir(dir, &[anchor()], None).unwrap()
}

fn incident() -> Incident {
    Incident::new("INC-2026-0042", "unauthorized-artifact-access").unwrap()
}

fn notice(dir: &std::path::Path, tenant: &str) -> String {
    let log = open(dir);
    let slice = log.tenant_slice(tenant, SINCE, Some(UNTIL)).unwrap();
    render_notice(&incident(), tenant, &slice, "v1").unwrap()
}

#[test]
fn blast_radius_counts_exposed_tenants_over_the_support_boundary() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &scenario());
    let log = open(dir.path());
    let r = blast_radius(&log, "svc-sync", T0, Some(UNTIL)).unwrap();
    let tenants: Vec<(&str, Vec<&str>, bool)> = r
        .tenants
        .iter()
        .map(|t| (t.tenant.as_str(), t.reasons.clone(), t.exposed))
        .collect();
    assert_eq!(
        tenants,
        vec![
            ("tenant-a", vec!["acted"], true),
            ("tenant-b", vec!["acted"], true),
            ("tenant-c", vec!["grant"], false),
            ("tenant-e", vec!["acted"], false),
        ]
    );
    assert_eq!((r.exposed_tenants, r.boundary_tenants), (2, 4));
    assert_eq!(r.b_i, Some(0.5));
    // Every artifact touched, per tenant, with its log index, act, case and time.
    let a = &r.tenants[0];
    let touched: Vec<(u64, &str, &str, &str)> = a
        .touches
        .iter()
        .map(|t| (t.index, t.act, t.resource_id.as_str(), t.case_id.as_str()))
        .collect();
    assert_eq!(
        touched,
        vec![
            (3, "download", "art-1", "case-a"),
            (4, "view", "art-2", "case-a")
        ]
    );
    assert_eq!(a.touches[0].time, "2025-11-24T16:00:01.000Z");
    assert_eq!(a.exposed_resources, 2);
    let b: Vec<(u64, &str)> = r.tenants[1]
        .touches
        .iter()
        .map(|t| (t.index, t.act))
        .collect();
    assert_eq!(b, vec![(5, "export"), (6, "unseal")]);
    assert_eq!(r.tenants[2].grants.len(), 1);
    assert_eq!(r.tenants[2].grants[0].request_index, 1);
    assert_eq!(r.tenants[2].grants[0].approval_indices, vec![2]);
    // The denied download is an attempt, not exposure nor boundary.
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(
        (r.attempts[0].index, r.attempts[0].tenant.as_str()),
        (7, "tenant-d")
    );
    assert_eq!(r.tree_size, 14);
    assert_eq!(r.records_after_checkpoint, 0);

    // Without --until the window runs to the end of the log: tenant-g joins, exposed.
    let all = blast_radius(&log, "svc-sync", T0, None).unwrap();
    assert_eq!((all.exposed_tenants, all.boundary_tenants), (3, 5));
    // A principal with no facts has an empty boundary and no ratio.
    let none = blast_radius(&log, "nobody", T0, None).unwrap();
    assert_eq!((none.boundary_tenants, none.b_i), (0, None));
    // An inverted window is an error, not an empty answer.
    assert!(matches!(
        blast_radius(&log, "svc-sync", UNTIL, Some(T0)),
        Err(IncidentError::Window)
    ));
}

#[test]
fn a_grant_approved_after_the_window_or_requested_long_before_is_not_reach() {
    use EventKind::*;
    let events = vec![
        ev(
            T0 - 120 * MIN,
            GrantRequest,
            "svc-sync",
            "tenant-old",
            ("grant", "gnt-o"),
            None,
            Decision::Allow,
        ),
        ev(
            T0 - 119 * MIN,
            GrantApprove,
            "lead-1",
            "tenant-old",
            ("grant", "gnt-o"),
            None,
            Decision::Allow,
        ),
        ev(
            T0 + 1000,
            GrantRequest,
            "svc-sync",
            "tenant-late",
            ("grant", "gnt-l"),
            None,
            Decision::Deny,
        ),
        ev(
            T0 + 2 * 60 * MIN,
            GrantApprove,
            "lead-1",
            "tenant-late",
            ("grant", "gnt-l"),
            None,
            Decision::Allow,
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &events);
    let r = blast_radius(&open(dir.path()), "svc-sync", T0, Some(UNTIL)).unwrap();
    assert_eq!(r.boundary_tenants, 0, "{r:?}");
    assert_eq!(r.attempts.len(), 1);
}

#[test]
fn a_log_that_fails_verification_gives_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &scenario());
    let seg = segment(dir.path());
    let original = fs::read(&seg).unwrap();
    let (_, payload, len) = frames(&original)[3];

    // A flipped byte in record 3 (frame checksum breaks).
    let mut flipped = original.clone();
    flipped[payload + len - 3] ^= 1;
    fs::write(&seg, &flipped).unwrap();
    let err = VerifiedLog::open_dir(dir.path(), &[anchor()], None).unwrap_err();
    assert!(matches!(err, IncidentError::Verify(_)), "{err}");
    assert_eq!(
        match &err {
            IncidentError::Verify(v) => v.first_bad_index(),
            _ => None,
        },
        Some(3)
    );

    // A rewritten record with a valid frame: art-1 becomes art-7 (the signed root catches it).
    let mut events = scenario();
    events[3].resource.id = "art-7".into();
    let mut frame = Vec::new();
    encode_frame(3, &events[3].record_bytes().unwrap(), &mut frame);
    let mut resealed = original.clone();
    let (start, _, _) = frames(&original)[3];
    resealed.splice(start..start + frame.len(), frame);
    fs::write(&seg, &resealed).unwrap();
    let err = VerifiedLog::open_dir(dir.path(), &[anchor()], None).unwrap_err();
    assert!(matches!(err, IncidentError::Verify(_)), "{err}");

    // Untouched again: it verifies, so the failures above came from the edits.
    fs::write(&seg, &original).unwrap();
    assert!(VerifiedLog::open_dir(dir.path(), &[anchor()], None).is_ok());

    // Another key as anchor, or no anchor at all, is refused.
    let other = NoteSigner::from_seed(ORIGIN, &[8; 32]).unwrap().verifier();
    assert!(matches!(
        VerifiedLog::open_dir(dir.path(), &[other], None),
        Err(IncidentError::Verify(_))
    ));
    assert!(matches!(
        VerifiedLog::open_dir(dir.path(), &[], None),
        Err(IncidentError::NoTrustAnchor)
    ));
}

#[test]
fn notice_is_byte_identical_across_renders_and_rebuilt_logs_and_matches_the_golden_file() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write_log(one.path(), &scenario());
    write_log(two.path(), &scenario());
    let first = notice(one.path(), "tenant-a");
    assert_eq!(first, notice(one.path(), "tenant-a"));
    assert_eq!(first, notice(two.path(), "tenant-a"));
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/notice-v1-tenant-a.txt");
    if std::env::var_os("CUSTODY_UPDATE_GOLDEN").is_some() {
        fs::write(&golden, &first).unwrap();
    }
    assert_eq!(
        first,
        fs::read_to_string(&golden).unwrap(),
        "golden notice changed"
    );
    // The facts are tenant-a's notice kinds, in log order: 3, 4, 10, 13.
    let indices: Vec<&str> = first
        .lines()
        .filter_map(|l| l.split("[log index ").nth(1))
        .collect();
    assert_eq!(indices, vec!["3]", "4]", "10]", "13]"]);
}

#[test]
fn a_changed_fact_changes_the_notice() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    write_log(one.path(), &scenario());
    let mut changed = scenario();
    changed[4].kind = EventKind::Download;
    write_log(two.path(), &changed);
    let a = notice(one.path(), "tenant-a");
    let b = notice(two.path(), "tenant-a");
    assert_ne!(a, b);
    assert!(a.contains("view allowed  artifact art-2"));
    assert!(b.contains("download allowed  artifact art-2"));
    // A fact of another tenant changing leaves the text (but not the root) alone
    // only in the fact lines: the checkpoint differs, so the notice does too.
    let mut elsewhere = scenario();
    elsewhere[9].resource.id = "art-8".into();
    let three = tempfile::tempdir().unwrap();
    write_log(three.path(), &elsewhere);
    let c = notice(three.path(), "tenant-a");
    let facts = |s: &str| {
        s.lines()
            .filter(|l| l.contains("[log index"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(facts(&a), facts(&c));
    assert_ne!(a, c, "the root and the proofs commit to the whole log");
}

#[test]
fn an_event_of_another_tenant_never_appears() {
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &scenario());
    let a = notice(dir.path(), "tenant-a");
    for other in [
        "tenant-b", "tenant-c", "tenant-d", "tenant-f", "art-3", "art-5", "exp-1",
    ] {
        assert!(!a.contains(other), "{other} leaked into tenant-a's notice");
    }
    let log = open(dir.path());
    let slice_b = log.tenant_slice("tenant-b", SINCE, Some(UNTIL)).unwrap();
    assert_eq!(slice_b.facts().len(), 2);
    // Rendering tenant-b's facts as tenant-a's notice is refused.
    assert_eq!(
        render_notice(&incident(), "tenant-a", &slice_b, "v1"),
        Err(NoticeError::WrongTenant)
    );
    // A tenant without facts gets a notice saying so, with its checkpoint.
    let empty = log.tenant_slice("tenant-z", SINCE, Some(UNTIL)).unwrap();
    let z = render_notice(&incident(), "tenant-z", &empty, "v1").unwrap();
    assert!(z.contains("No act on your tenant's support artifacts"));
    assert!(z.contains("Facts listed: 0"));
}

#[test]
fn no_secret_planted_in_an_event_field_reaches_the_notice() {
    const JWT: &str =
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2VjcmV0LXNpZ25hdHVyZS0xMjM0NTY3OA";
    const GHP: &str = "ghp_R8tXq2LmN4vB7cZ1kP9sW3yH6jD0fG5aE2uQ";
    const HEX: &str = "9b1f0c7e4a2d8b3f6e5c1a0d9f8e7b6c5a4d3e2f";
    let mut events = scenario();
    let planted = &mut events[4];
    planted.resource.id = JWT.into();
    planted.resource.case_id = Some(GHP.into());
    planted.resource.digest = Some(format!("Bearer {HEX}"));
    planted.actor.principal_id = HEX.into();
    planted.actor.session_id = Some(JWT.into());
    planted.device.as_mut().unwrap().key_thumbprint = Some(GHP.into());
    planted.trace_id = GHP.into();
    let dir = tempfile::tempdir().unwrap();
    write_log(dir.path(), &events);
    let text = notice(dir.path(), "tenant-a");
    for secret in [JWT, GHP, HEX, "eyJhbGci", "ghp_", "Bearer"] {
        assert!(!text.contains(secret), "{secret} reached the notice");
    }
    // The fact is still listed, with its log index, its values withheld.
    let line = text.lines().find(|l| l.contains("[log index 4]")).unwrap();
    assert!(
        line.contains("view allowed  artifact [withheld]  case [withheld]"),
        "{line}"
    );
    assert!(text.contains("digest [withheld]"));
    // The blast radius withholds them too.
    let r = blast_radius(&open(dir.path()), HEX, T0, Some(UNTIL)).unwrap();
    let json = format!("{r:?}");
    assert!(
        !json.contains(JWT) && !json.contains(GHP) && !json.contains(HEX),
        "{json}"
    );
}

#[test]
fn unknown_template_or_kind_is_an_error_and_an_older_checkpoint_pins_the_notice() {
    let dir = tempfile::tempdir().unwrap();
    let events = scenario();
    write_log(dir.path(), &events[..6]);
    let early = notice(dir.path(), "tenant-a");
    // The log grows and is checkpointed again.
    {
        let store =
            custody_audit::store::SegmentStore::open(dir.path(), Default::default()).unwrap();
        let log = custody_audit::log::AuditLog::open(
            store,
            signer(),
            custody_audit::log::LogOptions::new(ORIGIN),
        )
        .unwrap();
        for e in &events[6..] {
            log.append(e).unwrap();
        }
        log.checkpoint_now(T0 + 300 * MIN).unwrap();
    }
    assert_ne!(early, notice(dir.path(), "tenant-a"));
    let pinned = VerifiedLog::open_dir(dir.path(), &[anchor()], Some(6)).unwrap();
    let slice = pinned.tenant_slice("tenant-a", SINCE, Some(UNTIL)).unwrap();
    assert_eq!(
        render_notice(&incident(), "tenant-a", &slice, "v1").unwrap(),
        early
    );
    assert!(matches!(
        VerifiedLog::open_dir(dir.path(), &[anchor()], Some(5)),
        Err(IncidentError::NoSuchCheckpoint(5))
    ));
    assert!(matches!(
        render_notice(&incident(), "tenant-a", &slice, "v9"),
        Err(NoticeError::UnknownTemplate { .. })
    ));
    let odd = Incident::new("INC-1", "free text title").unwrap();
    assert!(matches!(
        render_notice(&odd, "tenant-a", &slice, "v1"),
        Err(NoticeError::UnknownKind { .. })
    ));
}
