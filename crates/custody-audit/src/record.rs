//! The record (leaf data) encodings of events: the compact canonical binary
//! form that [`AuditLog::append`](crate::log::AuditLog::append) writes, and the
//! canonical OCSF JSON form of earlier logs, which stays readable and verifiable.
//!
//! Main items: [`encode`] / [`decode`] (compact form, a bijection between valid
//! events and accepted byte strings), [`to_ocsf`] (any record to its OCSF
//! object), [`from_ocsf`] (the strict inverse of [`AuditEvent::to_ocsf`]) and
//! [`leaf_data_candidates`] (what an exported OCSF event may have been hashed as).
//!
//! Compact form (`docs/audit.md` §2), all integers little-endian:
//!
//! ```text
//! 0xC1 | profile: u8 (= EVENT_SCHEMA_VERSION) | kind: u8 | decision: u8 | flags: u8 | time_ms: i64
//! | str principal_id | str principal_class | opt session_id
//! | [flags bit 0] str device.id | opt device.key_thumbprint
//! | [flags bit 1] opt src_endpoint.ip | opt src_endpoint.network_hash
//! | str tenant | str resource.kind | str resource.id | opt resource.digest | opt resource.case_id
//! | str trace_id | str policy_bundle_id | str rules_version
//! ```
//!
//! `str` is `len: u16 | UTF-8 bytes` with `1 <= len <= 512`; `opt` is the same
//! with `len = 0` meaning absent (valid events never hold an empty string).
//! The first byte `0xC1` can never begin UTF-8 text, so a compact record is never
//! mistaken for a JSON one. Decoding refuses anything [`encode`] would not emit
//! (unknown profile, kind, decision or flag bits, an invalid field, trailing
//! bytes), so `encode(decode(b)) == b` for every accepted `b`.

use serde_json::Value;

use crate::event::{
    Actor, AuditEvent, Decision, Device, EVENT_SCHEMA_VERSION, Endpoint, EventError, EventKind,
    Resource, canonical_json,
};

/// First byte of a compact record.
pub const COMPACT_MAGIC: u8 = 0xC1;

const FLAG_DEVICE: u8 = 1;
const FLAG_ENDPOINT: u8 = 2;

/// Errors decoding a record or mapping an OCSF object back to an event.
/// Field values are never echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// The record ends early or has bytes after its last field.
    #[error("record is truncated or has trailing bytes")]
    Length,
    /// Unknown first byte, profile, kind, decision or flag bits.
    #[error("record header field `{0}` has an unknown value")]
    Header(&'static str),
    /// A field is not valid UTF-8 or fails event validation.
    #[error("record field `{0}` is invalid")]
    Field(&'static str),
    /// The record is neither a compact record nor canonical OCSF JSON.
    #[error("record is not an event in a known encoding")]
    Unknown,
    /// An OCSF object is not exactly what some event maps to.
    #[error("OCSF event is not in custody's mapping (field `{0}`)")]
    NotCanonicalOcsf(&'static str),
}

impl From<EventError> for RecordError {
    fn from(e: EventError) -> Self {
        match e {
            EventError::InvalidField { field } => Self::Field(field),
            EventError::NonIntegerNumber => Self::Unknown,
        }
    }
}

fn kind_code(kind: EventKind) -> u8 {
    // INVARIANT: EventKind::ALL has 22 entries; codes are 1..=22 in its order,
    // which is frozen (appending new kinds only: logs written with codes 1..=16
    // before the directory kinds existed decode and verify unchanged).
    EventKind::ALL
        .iter()
        .position(|k| *k == kind)
        .and_then(|p| u8::try_from(p + 1).ok())
        .unwrap_or(0)
}

fn kind_from_code(code: u8) -> Option<EventKind> {
    EventKind::ALL
        .get(usize::from(code).checked_sub(1)?)
        .copied()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // INVARIANT: validated fields are at most MAX_FIELD_LEN (512) bytes.
    let len = u16::try_from(s.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, s: Option<&String>) {
    match s {
        Some(s) => put_str(out, s),
        None => out.extend_from_slice(&[0, 0]),
    }
}

/// The compact record of `event` (validated first).
///
/// # Errors
/// [`EventError::InvalidField`] naming the field.
pub fn encode(event: &AuditEvent) -> Result<Vec<u8>, EventError> {
    event.validate()?;
    let mut out = Vec::with_capacity(384);
    let flags = u8::from(event.device.is_some()) * FLAG_DEVICE
        + u8::from(event.src_endpoint.is_some()) * FLAG_ENDPOINT;
    out.extend_from_slice(&[
        COMPACT_MAGIC,
        u8::try_from(EVENT_SCHEMA_VERSION).unwrap_or(u8::MAX),
        kind_code(event.kind),
        match event.decision {
            Decision::Allow => 0,
            Decision::Deny => 1,
        },
        flags,
    ]);
    out.extend_from_slice(&event.time_ms.to_le_bytes());
    put_str(&mut out, &event.actor.principal_id);
    put_str(&mut out, &event.actor.principal_class);
    put_opt(&mut out, event.actor.session_id.as_ref());
    if let Some(d) = &event.device {
        put_str(&mut out, &d.id);
        put_opt(&mut out, d.key_thumbprint.as_ref());
    }
    if let Some(e) = &event.src_endpoint {
        put_opt(&mut out, e.ip.as_ref());
        put_opt(&mut out, e.network_hash.as_ref());
    }
    put_str(&mut out, &event.tenant);
    put_str(&mut out, &event.resource.kind);
    put_str(&mut out, &event.resource.id);
    put_opt(&mut out, event.resource.digest.as_ref());
    put_opt(&mut out, event.resource.case_id.as_ref());
    put_str(&mut out, &event.trace_id);
    put_str(&mut out, &event.policy_bundle_id);
    put_str(&mut out, &event.rules_version);
    Ok(out)
}

struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RecordError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(RecordError::Length)?;
        self.rest = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        self.take(1)?.first().copied().ok_or(RecordError::Length)
    }

    fn opt(&mut self, field: &'static str) -> Result<Option<String>, RecordError> {
        let len = self.take(2)?;
        let len = u16::from_le_bytes([
            len.first().copied().unwrap_or(0),
            len.get(1).copied().unwrap_or(0),
        ]);
        if len == 0 {
            return Ok(None);
        }
        let bytes = self.take(usize::from(len))?;
        let s = std::str::from_utf8(bytes).map_err(|_| RecordError::Field(field))?;
        Ok(Some(s.to_owned()))
    }

    fn req(&mut self, field: &'static str) -> Result<String, RecordError> {
        self.opt(field)?.ok_or(RecordError::Field(field))
    }
}

/// Decodes a compact record. Accepts exactly the outputs of [`encode`].
///
/// # Errors
/// [`RecordError`] naming the header field or event field at fault.
pub fn decode(record: &[u8]) -> Result<AuditEvent, RecordError> {
    let mut c = Cursor { rest: record };
    if c.byte()? != COMPACT_MAGIC {
        return Err(RecordError::Header("magic"));
    }
    if u64::from(c.byte()?) != EVENT_SCHEMA_VERSION {
        return Err(RecordError::Header("profile"));
    }
    let kind = kind_from_code(c.byte()?).ok_or(RecordError::Header("kind"))?;
    let decision = match c.byte()? {
        0 => Decision::Allow,
        1 => Decision::Deny,
        _ => return Err(RecordError::Header("decision")),
    };
    let flags = c.byte()?;
    if flags & !(FLAG_DEVICE | FLAG_ENDPOINT) != 0 {
        return Err(RecordError::Header("flags"));
    }
    let mut time = [0u8; 8];
    time.copy_from_slice(c.take(8)?);
    let actor = Actor {
        principal_id: c.req("actor.principal_id")?,
        principal_class: c.req("actor.principal_class")?,
        session_id: c.opt("actor.session_id")?,
    };
    let device = if flags & FLAG_DEVICE != 0 {
        Some(Device {
            id: c.req("device.id")?,
            key_thumbprint: c.opt("device.key_thumbprint")?,
        })
    } else {
        None
    };
    let src_endpoint = if flags & FLAG_ENDPOINT != 0 {
        Some(Endpoint {
            ip: c.opt("src_endpoint.ip")?,
            network_hash: c.opt("src_endpoint.network_hash")?,
        })
    } else {
        None
    };
    let event = AuditEvent {
        time_ms: i64::from_le_bytes(time),
        kind,
        actor,
        device,
        src_endpoint,
        tenant: c.req("tenant")?,
        resource: Resource {
            kind: c.req("resource.kind")?,
            id: c.req("resource.id")?,
            digest: c.opt("resource.digest")?,
            case_id: c.opt("resource.case_id")?,
        },
        trace_id: c.req("trace_id")?,
        decision,
        policy_bundle_id: c.req("policy_bundle_id")?,
        rules_version: c.req("rules_version")?,
    };
    if !c.rest.is_empty() {
        return Err(RecordError::Length);
    }
    event.validate()?;
    Ok(event)
}

/// The OCSF object of a stored record in either encoding: a compact record is
/// decoded and mapped; a legacy record must be canonical OCSF JSON (an object).
///
/// # Errors
/// [`RecordError`] when the record is in neither encoding.
pub fn to_ocsf(record: &[u8]) -> Result<Value, RecordError> {
    if record.first() == Some(&COMPACT_MAGIC) {
        return Ok(decode(record)?.to_ocsf());
    }
    match serde_json::from_slice::<Value>(record) {
        Ok(v) if v.is_object() => Ok(v),
        _ => Err(RecordError::Unknown),
    }
}

/// The event time (ms) of a stored record in either encoding.
///
/// # Errors
/// [`RecordError`].
pub fn event_time(record: &[u8]) -> Result<i64, RecordError> {
    if record.first() == Some(&COMPACT_MAGIC) {
        return Ok(decode(record)?.time_ms);
    }
    #[derive(serde::Deserialize)]
    struct Time {
        time: i64,
    }
    serde_json::from_slice::<Time>(record)
        .map(|t| t.time)
        .map_err(|_| RecordError::Unknown)
}

fn s(v: &Value, ptr: &'static str) -> Result<String, RecordError> {
    v.pointer(ptr)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or(RecordError::NotCanonicalOcsf(ptr))
}

fn opt_s(v: &Value, ptr: &'static str) -> Result<Option<String>, RecordError> {
    match v.pointer(ptr) {
        None => Ok(None),
        Some(x) => x
            .as_str()
            .map(|x| Some(x.to_owned()))
            .ok_or(RecordError::NotCanonicalOcsf(ptr)),
    }
}

/// The event whose [`AuditEvent::to_ocsf`] is exactly `ocsf` (strict inverse:
/// any member the mapping would not produce, or any difference, is refused).
///
/// # Errors
/// [`RecordError::NotCanonicalOcsf`] naming where the object departs from the mapping.
pub fn from_ocsf(ocsf: &Value) -> Result<AuditEvent, RecordError> {
    let kind = EventKind::from_name(&s(ocsf, "/custody/kind")?)
        .ok_or(RecordError::NotCanonicalOcsf("/custody/kind"))?;
    let decision = match s(ocsf, "/custody/decision")?.as_str() {
        "allow" => Decision::Allow,
        "deny" => Decision::Deny,
        _ => return Err(RecordError::NotCanonicalOcsf("/custody/decision")),
    };
    let device = match ocsf.get("device") {
        None => None,
        Some(_) => Some(Device {
            id: s(ocsf, "/device/uid")?,
            key_thumbprint: opt_s(ocsf, "/device/hw_info/serial_number")?,
        }),
    };
    let src_endpoint = match ocsf.get("src_endpoint") {
        None => None,
        Some(_) => Some(Endpoint {
            ip: opt_s(ocsf, "/src_endpoint/ip")?,
            network_hash: opt_s(ocsf, "/src_endpoint/uid")?,
        }),
    };
    let event = AuditEvent {
        time_ms: ocsf
            .get("time")
            .and_then(Value::as_i64)
            .ok_or(RecordError::NotCanonicalOcsf("/time"))?,
        kind,
        actor: Actor {
            principal_id: s(ocsf, "/actor/user/uid")?,
            principal_class: s(ocsf, "/actor/user/type")?,
            session_id: opt_s(ocsf, "/actor/session/uid")?,
        },
        device,
        src_endpoint,
        tenant: s(ocsf, "/metadata/tenant_uid")?,
        resource: Resource {
            kind: s(ocsf, "/resources/0/type")?,
            id: s(ocsf, "/resources/0/uid")?,
            digest: opt_s(ocsf, "/resources/0/data/digest")?,
            case_id: opt_s(ocsf, "/resources/0/group/uid")?,
        },
        trace_id: s(ocsf, "/metadata/correlation_uid")?,
        decision,
        policy_bundle_id: s(ocsf, "/custody/policy_bundle_id")?,
        rules_version: s(ocsf, "/custody/rules_version")?,
    };
    if event.to_ocsf() != *ocsf {
        return Err(RecordError::NotCanonicalOcsf("(whole object)"));
    }
    Ok(event)
}

/// The leaf data an exported OCSF event can stand for: its compact record
/// (when it is exactly custody's mapping of an event) and its canonical JSON
/// (the legacy encoding). A verifier accepts the event when one of them hashes
/// to the proven leaf; both are injective functions of the event, so either
/// match proves the exported object is what the log holds.
#[must_use]
pub fn leaf_data_candidates(ocsf: &Value) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(2);
    if let Ok(bytes) = from_ocsf(ocsf).and_then(|e| encode(&e).map_err(RecordError::from)) {
        out.push(bytes);
    }
    if let Ok(bytes) = canonical_json(ocsf) {
        out.push(bytes);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "test code")]

    use super::*;
    use crate::event::sample_event;
    use crate::merkle::leaf_hash;

    #[test]
    fn every_kind_round_trips_and_is_much_smaller_than_json() {
        for (i, kind) in EventKind::ALL.into_iter().enumerate() {
            let e = sample_event(kind, 1_764_000_000_000 + i as i64, i as u64 * 13);
            let bytes = encode(&e).unwrap();
            assert_eq!(bytes[0], COMPACT_MAGIC);
            assert_eq!(decode(&bytes).unwrap(), e);
            assert_eq!(to_ocsf(&bytes).unwrap(), e.to_ocsf());
            assert_eq!(from_ocsf(&e.to_ocsf()).unwrap(), e);
            let json = e.canonical_bytes().unwrap();
            assert!(
                bytes.len() * 3 < json.len(),
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn optional_parts_round_trip() {
        let mut e = sample_event(EventKind::TokenRevoke, -5, 2);
        e.device = None;
        e.src_endpoint = Some(Endpoint {
            ip: None,
            network_hash: None,
        });
        e.actor.session_id = None;
        e.resource.digest = None;
        e.resource.case_id = None;
        let bytes = encode(&e).unwrap();
        assert_eq!(decode(&bytes).unwrap(), e);
        assert_eq!(from_ocsf(&e.to_ocsf()).unwrap(), e);
        e.src_endpoint = None;
        let without = encode(&e).unwrap();
        assert_ne!(without, bytes, "an empty endpoint is not an absent one");
        assert_eq!(decode(&without).unwrap(), e);
    }

    /// Known-answer vector of the compact form (docs/audit.md §2): a change of
    /// the encoding changes every leaf hash and must be deliberate. The expected
    /// length and leaf hash were computed independently of this code, by the
    /// Python script in docs/audit.md §2 written from the format description.
    #[test]
    fn known_answer_vector() {
        let e = sample_event(EventKind::Download, 1_764_000_000_000, 42);
        let bytes = encode(&e).unwrap();
        assert_eq!(
            hex::encode(&bytes[..13]),
            "c10103000300e897b69a010000",
            "magic, profile 1, kind 3 (download), allow, flags 3 (device, endpoint), time"
        );
        assert_eq!(bytes.len(), 356);
        assert_eq!(
            hex::encode(leaf_hash(&bytes)),
            "9589a1c045ade5be6eb391b24a32eae7fa7db7f41191286d283fd3329740dd8a"
        );
    }

    #[test]
    fn decoding_refuses_everything_encode_would_not_emit() {
        let e = sample_event(EventKind::View, 1, 3);
        let good = encode(&e).unwrap();
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(RecordError::Length));
        assert_eq!(decode(&good[..good.len() - 1]), Err(RecordError::Length));
        for (at, value, what) in [
            (0, b'{', "magic"),
            (1, 2, "profile"),
            (2, 0, "kind"),
            (2, 23, "kind"),
            (3, 2, "decision"),
            (4, 4, "flags"),
        ] {
            let mut bad = good.clone();
            bad[at] = value;
            assert_eq!(decode(&bad), Err(RecordError::Header(what)), "{what}");
        }
        // principal_id emptied: length 0 for a required field.
        let mut bad = good.clone();
        let len = usize::from(u16::from_le_bytes([bad[13], bad[14]]));
        bad.splice(13..15 + len, [0u8, 0]);
        assert_eq!(decode(&bad), Err(RecordError::Field("actor.principal_id")));
        // A control character inside a field fails validation, naming the field only.
        let mut bad = good.clone();
        bad[15] = 0x07;
        let err = decode(&bad).unwrap_err();
        assert_eq!(err, RecordError::Field("actor.principal_id"));
        for b in [&good, &trailing] {
            if let Ok(ev) = decode(b) {
                assert_eq!(&encode(&ev).unwrap(), b);
            }
        }
    }

    /// No field value reaches an error: every string field of an event, made
    /// invalid, is named by the error (Display and Debug) and never echoed,
    /// whether the event is encoded, decoded or mapped back from OCSF.
    #[test]
    fn errors_name_fields_and_never_echo_values() {
        let fields = [
            "actor.principal_id",
            "actor.principal_class",
            "actor.session_id",
            "device.id",
            "device.key_thumbprint",
            "src_endpoint.ip",
            "src_endpoint.network_hash",
            "tenant",
            "resource.kind",
            "resource.id",
            "resource.digest",
            "resource.case_id",
            "trace_id",
            "policy_bundle_id",
            "rules_version",
        ];
        for field in fields {
            let secret = format!("s3cr3t-{}-value", field.len());
            let mut e = sample_event(EventKind::Unseal, 7, 1);
            let bad = format!("{secret}\u{7}");
            let slot = match field {
                "actor.principal_id" => &mut e.actor.principal_id,
                "actor.principal_class" => &mut e.actor.principal_class,
                "actor.session_id" => e.actor.session_id.as_mut().unwrap(),
                "device.id" => &mut e.device.as_mut().unwrap().id,
                "device.key_thumbprint" => {
                    e.device.as_mut().unwrap().key_thumbprint.as_mut().unwrap()
                }
                "src_endpoint.ip" => e.src_endpoint.as_mut().unwrap().ip.as_mut().unwrap(),
                "src_endpoint.network_hash" => e
                    .src_endpoint
                    .as_mut()
                    .unwrap()
                    .network_hash
                    .as_mut()
                    .unwrap(),
                "tenant" => &mut e.tenant,
                "resource.kind" => &mut e.resource.kind,
                "resource.id" => &mut e.resource.id,
                "resource.digest" => e.resource.digest.as_mut().unwrap(),
                "resource.case_id" => e.resource.case_id.as_mut().unwrap(),
                "trace_id" => &mut e.trace_id,
                "policy_bundle_id" => &mut e.policy_bundle_id,
                _ => &mut e.rules_version,
            };
            *slot = bad.clone();
            let enc = encode(&e).unwrap_err();
            // The same value inside a stored record, made invalid there (as an
            // attacker writing the segment could): decoding names the field only.
            let ok = secret.clone() + "x";
            let mut rec = encode(&{
                let mut g = sample_event(EventKind::Unseal, 7, 1);
                g.tenant = ok.clone();
                g
            })
            .unwrap();
            let at = rec
                .windows(ok.len())
                .position(|w| w == ok.as_bytes())
                .unwrap();
            rec[at + ok.len() - 1] = 0x07;
            let dec = decode(&rec).unwrap_err();
            let ocsf = from_ocsf(&e.to_ocsf()).map(|_| ()).err();
            for msg in [
                enc.to_string(),
                format!("{enc:?}"),
                dec.to_string(),
                format!("{dec:?}"),
                format!("{ocsf:?}"),
            ] {
                assert!(!msg.contains(&secret), "{field}: {msg}");
            }
            assert!(enc.to_string().contains(field), "{field}: {enc}");
            assert_eq!(dec, RecordError::Field("tenant"));
        }
    }

    #[test]
    fn from_ocsf_is_strict() {
        let e = sample_event(EventKind::Export, 9, 4);
        let mut v = e.to_ocsf();
        v["severity_id"] = Value::from(2);
        assert!(
            from_ocsf(&v).is_err(),
            "a member the mapping does not produce"
        );
        let mut v = e.to_ocsf();
        v["class_uid"] = Value::from(6006);
        assert!(from_ocsf(&v).is_err(), "a class the kind does not map to");
        let mut v = e.to_ocsf();
        v["extra"] = Value::from(1);
        assert!(from_ocsf(&v).is_err(), "an unknown member");
        assert_eq!(leaf_data_candidates(&e.to_ocsf()).len(), 2);
        assert_eq!(leaf_data_candidates(&e.to_ocsf())[0], encode(&e).unwrap());
    }
}
