//! Property tests of the serialised signal schema: decoding never panics on hostile
//! bytes, and every valid signal round-trips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions"
)]

use custody_audit::event::{Decision, EventKind};
use custody_watch::bus::{decode_signal, encode_signal};
use custody_watch::{GeoPoint, Happening, PrincipalClass, Signal};
use proptest::prelude::*;

fn id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_:.-]{1,40}"
}

fn signal() -> impl Strategy<Value = Signal> {
    (
        any::<i64>(),
        id(),
        prop::option::of(id()),
        prop::option::of(id()),
        prop::option::of((-90.0f64..=90.0, -180.0f64..=180.0)),
        id(),
        0usize..EventKind::ALL.len(),
        any::<bool>(),
    )
        .prop_map(
            |(t, principal, session, device, geo, tenant, kind, allow)| Signal {
                time_ms: t,
                principal_id: principal,
                principal_class: PrincipalClass::SupportAgent,
                session_id: session,
                token_id: None,
                proof_id: None,
                device_id: device,
                key_thumbprint: None,
                network_hash: None,
                ip: None,
                geo: geo.map(|(lat, lon)| GeoPoint::new(lat, lon)),
                tenant,
                case_id: None,
                resource_kind: None,
                resource_id: None,
                what: Happening::Act {
                    kind: EventKind::ALL[kind],
                    decision: if allow {
                        Decision::Allow
                    } else {
                        Decision::Deny
                    },
                },
            },
        )
}

proptest! {
    #[test]
    fn valid_signals_round_trip(s in signal()) {
        let bytes = encode_signal(&s).unwrap();
        let mut back = decode_signal(&bytes).unwrap();
        // JSON floats round-trip to within one ulp; compare coordinates by tolerance.
        match (back.geo, s.geo) {
            (Some(a), Some(b)) => prop_assert!((a.lat - b.lat).abs() < 1e-9 && (a.lon - b.lon).abs() < 1e-9),
            (a, b) => prop_assert_eq!(a, b),
        }
        back.geo = s.geo;
        prop_assert_eq!(back, s);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode_signal(&bytes);
    }

    #[test]
    fn decoding_mutated_signals_never_panics(s in signal(), at in any::<prop::sample::Index>(), b in any::<u8>()) {
        let mut bytes = encode_signal(&s).unwrap();
        let i = at.index(bytes.len());
        bytes[i] = b;
        if let Ok(decoded) = decode_signal(&bytes) {
            prop_assert!(decoded.validate().is_ok());
        }
    }
}
