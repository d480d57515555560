//! Shared fixtures: real segment-store audit logs written through custody-audit's
//! API (`AuditLog` appends + a signed checkpoint), with a fixed key so that two
//! logs of the same events are byte-identical.
#![allow(dead_code, reason = "each test binary uses a subset")]

use std::path::Path;

use custody_audit::event::{Actor, AuditEvent, Decision, Device, Endpoint, EventKind, Resource};
use custody_audit::log::{AuditLog, LogOptions};
use custody_audit::note::{NoteSigner, NoteVerifier};
use custody_audit::store::{SegmentOptions, SegmentStore};

pub const ORIGIN: &str = "incident.test/custody-audit";
pub const SEED: [u8; 32] = [7; 32];
/// 2025-11-24T16:00:00Z
pub const T0: i64 = 1_764_000_000_000;
pub const MIN: i64 = 60_000;
pub const DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

pub fn signer() -> NoteSigner {
    NoteSigner::from_seed(ORIGIN, &SEED).unwrap()
}

pub fn anchor() -> NoteVerifier {
    signer().verifier()
}

/// One event; `resource` is `kind:id`.
pub fn ev(
    time_ms: i64,
    kind: EventKind,
    principal: &str,
    tenant: &str,
    resource: (&str, &str),
    case: Option<&str>,
    decision: Decision,
) -> AuditEvent {
    AuditEvent {
        time_ms,
        kind,
        actor: Actor {
            principal_id: principal.into(),
            principal_class: if principal == "system" {
                "system".into()
            } else if principal.starts_with("svc") {
                "service_account".into()
            } else if principal.starts_with("admin") {
                "customer_admin".into()
            } else {
                "support_agent".into()
            },
            session_id: Some("ses-1".into()),
        },
        device: Some(Device {
            id: "dev-1".into(),
            key_thumbprint: Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into()),
        }),
        src_endpoint: Some(Endpoint {
            ip: Some("192.0.2.10".into()),
            network_hash: Some("net-3f1c9a".into()),
        }),
        tenant: tenant.into(),
        resource: Resource {
            kind: resource.0.into(),
            id: resource.1.into(),
            digest: kind.touches_artifact().then(|| DIGEST.into()),
            case_id: case.map(Into::into),
        },
        trace_id: format!("trace-{time_ms}"),
        decision,
        policy_bundle_id: "bundle-1".into(),
        rules_version: "rules-1".into(),
    }
}

use Decision::{Allow, Deny};
use EventKind::*;

/// The incident scenario (indices in comments).
pub fn scenario() -> Vec<AuditEvent> {
    vec![
        // 0: the service account signs in (vendor pseudo-tenant: never counted).
        ev(
            T0 - MIN,
            TokenIssue,
            "svc-sync",
            "vendor",
            ("token", "tok-1"),
            None,
            Allow,
        ),
        // 1, 2: a grant on tenant-c, requested before the window, approved: boundary only.
        ev(
            T0 - 30 * MIN,
            GrantRequest,
            "svc-sync",
            "tenant-c",
            ("grant", "gnt-1"),
            Some("case-c"),
            Allow,
        ),
        ev(
            T0 - 29 * MIN,
            GrantApprove,
            "lead-1",
            "tenant-c",
            ("grant", "gnt-1"),
            None,
            Allow,
        ),
        // 3, 4: tenant-a: download and view.
        ev(
            T0 + 1000,
            Download,
            "svc-sync",
            "tenant-a",
            ("artifact", "art-1"),
            Some("case-a"),
            Allow,
        ),
        ev(
            T0 + 2000,
            View,
            "svc-sync",
            "tenant-a",
            ("artifact", "art-2"),
            Some("case-a"),
            Allow,
        ),
        // 5, 6: tenant-b: export and its unseal.
        ev(
            T0 + 3000,
            Export,
            "svc-sync",
            "tenant-b",
            ("artifact", "art-3"),
            Some("case-b"),
            Allow,
        ),
        ev(
            T0 + 4000,
            Unseal,
            "svc-sync",
            "tenant-b",
            ("export", "exp-1"),
            Some("case-b"),
            Allow,
        ),
        // 7: tenant-d: denied download (an attempt, not in the boundary).
        ev(
            T0 + 5000,
            Download,
            "svc-sync",
            "tenant-d",
            ("artifact", "art-9"),
            Some("case-d"),
            Deny,
        ),
        // 8: tenant-e: an unapproved grant request (acted, no exposure).
        ev(
            T0 + 6000,
            GrantRequest,
            "svc-sync",
            "tenant-e",
            ("grant", "gnt-2"),
            Some("case-e"),
            Allow,
        ),
        // 9: another principal on tenant-f: not this principal's radius.
        ev(
            T0 + 7000,
            Download,
            "agent-2",
            "tenant-f",
            ("artifact", "art-5"),
            Some("case-f"),
            Allow,
        ),
        // 10: tenant-a's own admin downloads (in tenant-a's notice, not in svc-sync's radius).
        ev(
            T0 + 8000,
            Download,
            "admin-a",
            "tenant-a",
            ("artifact", "art-1"),
            Some("case-a"),
            Allow,
        ),
        // 11: tenant-a: an ingest (not a notice fact).
        ev(
            T0 + 9000,
            Ingest,
            "admin-a",
            "tenant-a",
            ("artifact", "art-4"),
            Some("case-a"),
            Allow,
        ),
        // 12: two hours later: outside a one-hour window.
        ev(
            T0 + 120 * MIN,
            Download,
            "svc-sync",
            "tenant-g",
            ("artifact", "art-6"),
            Some("case-g"),
            Allow,
        ),
        // 13: tenant-a: containment by the system.
        ev(
            T0 + 10_000,
            Containment,
            "system",
            "tenant-a",
            ("principal", "svc-sync"),
            None,
            Allow,
        ),
    ]
}

/// Writes `events` to a new log in `dir` and seals them with one checkpoint.
pub fn write_log(dir: &Path, events: &[AuditEvent]) {
    let store = SegmentStore::open(dir, SegmentOptions::default()).unwrap();
    let log = AuditLog::open(store, signer(), LogOptions::new(ORIGIN)).unwrap();
    let records = events.iter().map(|e| e.record_bytes().unwrap()).collect();
    log.append_records(records).unwrap();
    log.checkpoint_now(T0 + 200 * MIN).unwrap();
}

/// Byte offsets `(start, payload_start, payload_len)` of every frame of a segment file.
pub fn frames(bytes: &[u8]) -> Vec<(usize, usize, usize)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos + 16 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        out.push((pos, pos + 16, len));
        pos += 16 + len;
    }
    out
}

pub fn segment(dir: &Path) -> std::path::PathBuf {
    dir.join(format!("{:020}.seg", 0))
}
