//! The GeoIP path of the impossible-travel detector, against a small MaxMind-format
//! database written by this test (no writer crate is needed: the format is a binary
//! search tree, a data section and a metadata map, per the MaxMind DB spec 2.0).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers outside #[test] functions"
)]

use std::net::IpAddr;
use std::sync::Arc;

use custody_audit::event::{EventKind, sample_event};
use custody_watch::{
    FindingKind, GeoLocator, ManualClock, MaxMindLocator, Signal, Watch, WatchConfig,
};

/// A value of the MaxMind DB data section.
enum Value {
    Str(&'static str),
    Double(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, Value)>),
    Array(Vec<Value>),
}

fn control(out: &mut Vec<u8>, kind: u8, size: usize) {
    let (first, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 285 {
        (29, vec![(size - 29) as u8])
    } else {
        let s = size - 285;
        (30, vec![(s >> 8) as u8, s as u8])
    };
    if kind <= 7 {
        out.push((kind << 5) | first);
    } else {
        out.push(first);
        out.push(kind - 7);
    }
    out.extend(extra);
}

fn be_minimal(v: u64) -> Vec<u8> {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Double(d) => {
            control(out, 3, 8);
            out.extend_from_slice(&d.to_be_bytes());
        }
        Value::U16(n) => {
            let b = be_minimal(u64::from(*n));
            control(out, 5, b.len());
            out.extend(b);
        }
        Value::U32(n) => {
            let b = be_minimal(u64::from(*n));
            control(out, 6, b.len());
            out.extend(b);
        }
        Value::U64(n) => {
            let b = be_minimal(*n);
            control(out, 9, b.len());
            out.extend(b);
        }
        Value::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(&Value::Str(k), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for item in items {
                encode(item, out);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// Writes an IPv4 city database mapping each (network, prefix length) to a location.
fn write_mmdb(networks: &[(&str, u8, f64, f64, u16)]) -> Vec<u8> {
    let mut data = Vec::new();
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    for (net, len, lat, lon, acc) in networks {
        let offset = data.len();
        encode(
            &Value::Map(vec![(
                "location",
                Value::Map(vec![
                    ("accuracy_radius", Value::U16(*acc)),
                    ("latitude", Value::Double(*lat)),
                    ("longitude", Value::Double(*lon)),
                ]),
            )]),
            &mut data,
        );
        let addr: std::net::Ipv4Addr = net.parse().unwrap();
        let bits = u32::from(addr);
        let mut node = 0;
        for depth in 0..*len {
            let bit = ((bits >> (31 - depth)) & 1) as usize;
            if depth + 1 == *len {
                nodes[node][bit] = Rec::Data(offset);
            } else {
                node = match nodes[node][bit] {
                    Rec::Node(n) => n,
                    _ => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][bit] = Rec::Node(n);
                        n
                    }
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for pair in &nodes {
        for rec in pair {
            let v = match *rec {
                Rec::Empty => count,
                Rec::Node(n) => n,
                Rec::Data(off) => count + 16 + off,
            };
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0u8; 16]);
    out.extend(data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &Value::Map(vec![
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_764_000_000)),
            ("database_type", Value::Str("custody-Test-City")),
            (
                "description",
                Value::Map(vec![("en", Value::Str("custody test"))]),
            ),
            ("ip_version", Value::U16(4)),
            ("languages", Value::Array(vec![Value::Str("en")])),
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(24)),
        ]),
        &mut out,
    );
    out
}

fn database() -> Vec<u8> {
    write_mmdb(&[
        ("81.2.69.0", 24, 51.5074, -0.1278, 20),    // London
        ("81.2.70.0", 24, 51.45, -0.05, 50),        // London, another exchange
        ("1.128.0.0", 16, -33.8688, 151.2093, 100), // Sydney
        ("89.160.20.0", 24, 48.8566, 2.3522, 20),   // Paris
    ])
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn locator_reads_coordinates_and_accuracy_from_a_written_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("city.mmdb");
    std::fs::write(&path, database()).unwrap();
    let geo = MaxMindLocator::open(&path).unwrap();
    let london = geo.locate(ip("81.2.69.160")).unwrap();
    assert!((london.lat - 51.5074).abs() < 1e-9 && (london.lon + 0.1278).abs() < 1e-9);
    assert_eq!(london.accuracy_km, Some(20.0));
    let sydney = geo.locate(ip("1.128.200.1")).unwrap();
    assert!((sydney.lat + 33.8688).abs() < 1e-9);
    assert_eq!(
        geo.locate(ip("8.8.8.8")),
        None,
        "unknown address has no location"
    );
    assert_eq!(
        geo.locate(ip("2001:db8::1")),
        None,
        "v6 address in a v4 database"
    );
    assert!(MaxMindLocator::from_bytes(b"not a database".to_vec()).is_err());
    assert!(MaxMindLocator::open(&dir.path().join("missing.mmdb")).is_err());
}

fn signal(principal: &str, t: i64, addr: &str) -> Signal {
    let mut s = Signal::from(&sample_event(EventKind::View, t, 1));
    s.principal_id = principal.into();
    s.ip = Some(ip(addr));
    s.network_hash = Some(format!("net:{addr}"));
    s
}

#[test]
fn travel_is_judged_from_geoip_when_signals_carry_no_coordinates() {
    let geo = Arc::new(MaxMindLocator::from_bytes(database()).unwrap());
    let clock = Arc::new(ManualClock::new(0));
    let mut config = WatchConfig::default();
    // Only the travel detector: the network changes would otherwise also be hijacks.
    config.hijack.enabled = false;
    let mut watch = Watch::builder(config, clock).locator(geo).build().unwrap();
    // London then Sydney ten minutes later.
    assert!(watch.observe(&signal("a", 0, "81.2.69.10")).is_empty());
    let out = watch.observe(&signal("a", 600_000, "1.128.3.4"));
    assert_eq!(
        out.iter().map(|f| f.kind).collect::<Vec<_>>(),
        vec![FindingKind::ImpossibleTravel]
    );
    // Two London exchanges one second apart: jitter, no finding.
    let out = watch.observe(&signal("b", 0, "81.2.69.10"));
    assert!(out.is_empty(), "{out:?}");
    assert!(watch.observe(&signal("b", 1_000, "81.2.70.10")).is_empty());
    // Unknown addresses are counted, not judged.
    assert!(watch.observe(&signal("c", 0, "8.8.8.8")).is_empty());
    assert!(watch.state().unlocated >= 1);
}
