//! What incident output may echo from the log, and how times are written.
//!
//! Audit events carry identifiers by contract (docs/audit.md), but a buggy or
//! hostile producer could put anything in a string field. Incident output
//! therefore echoes a log value only when its *shape* is an identifier
//! ([`is_displayable_id`]) or a content digest ([`is_displayable_digest`]);
//! anything else is replaced by [`WITHHELD`] (the fact keeps its log index, so
//! the value stays reachable through `custody audit prove`). The accepted
//! shapes exclude every machine-made credential form: mixed case, base64 and JWT
//! punctuation, and long random segments.
//!
//! [`rfc3339_ms`] writes a time without clocks, time zones or locale.

/// What replaces a value that is not shaped like an identifier.
pub const WITHHELD: &str = "[withheld]";

/// Prefixes of custody's store ids (`<prefix>_<32 lowercase hex>`, minted from the
/// OS random source by `custody-store`; ids, never credentials).
const STORE_ID_PREFIXES: [&str; 10] = [
    "ten", "prn", "dev", "ses", "cas", "art", "tdk", "gnt", "apr", "exp",
];
/// Longest label (readable id such as `tenant-3` or `svc.support-sync`).
const MAX_LABEL: usize = 64;
/// Longest segment of a label between separators.
const MAX_SEGMENT: usize = 16;

/// True for a custody store id (`art_` + 32 lowercase hex) or a readable label:
/// lowercase ASCII letters and digits in segments of at most 16 characters,
/// separated by single `-`, `_` or `.`, starting with a letter, at most 64 bytes.
#[must_use]
pub fn is_displayable_id(value: &str) -> bool {
    if let Some((prefix, body)) = value.split_once('_')
        && STORE_ID_PREFIXES.contains(&prefix)
        && body.len() == 32
        && body.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return true;
    }
    if value.is_empty() || value.len() > MAX_LABEL {
        return false;
    }
    if !value.bytes().next().is_some_and(|b| b.is_ascii_lowercase()) {
        return false;
    }
    value.split(['-', '_', '.']).all(|seg| {
        !seg.is_empty()
            && seg.len() <= MAX_SEGMENT
            && seg
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

/// True for `sha256:` followed by 64 lowercase hex digits.
#[must_use]
pub fn is_displayable_digest(value: &str) -> bool {
    value.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// `value` when it is shaped like an identifier, else [`WITHHELD`].
#[must_use]
pub fn id_or_withheld(value: &str) -> String {
    if is_displayable_id(value) {
        value.to_owned()
    } else {
        WITHHELD.to_owned()
    }
}

/// `value` when it is a digest, `-` when absent, else [`WITHHELD`].
#[must_use]
pub fn digest_or_withheld(value: Option<&str>) -> String {
    match value {
        None => "-".to_owned(),
        Some(v) if is_displayable_digest(v) => v.to_owned(),
        Some(_) => WITHHELD.to_owned(),
    }
}

/// An optional id: `-` when absent.
#[must_use]
pub fn opt_id_or_withheld(value: Option<&str>) -> String {
    value.map_or_else(|| "-".to_owned(), id_or_withheld)
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC,
/// proleptic Gregorian calendar, always millisecond precision): a pure function,
/// no clock, no time zone database, no locale.
#[must_use]
pub fn rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Days since 1970-01-01 to (year, month, day): H. Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_labels_are_shown_and_credential_shapes_are_not() {
        for ok in [
            "art_0123456789abcdef0123456789abcdef",
            "ten_ffffffffffffffffffffffffffffffff",
            "tenant-0",
            "agent-8",
            "case-9",
            "svc.support-sync",
            "system",
            "support_agent",
        ] {
            assert!(is_displayable_id(ok), "{ok}");
        }
        for bad in [
            "",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "AKIAIOSFODNN7EXAMPLE",
            "xoxb-123456789012-1234567890123-abcdefghijklmnopqrstuvwx",
            "0123456789abcdef0123456789abcdef01234567",
            "art_0123456789ABCDEF0123456789abcdef",
            "Bearer abc",
            "a--b",
            "-lead",
            "secret=hunter2",
            "Tenant",
        ] {
            assert!(!is_displayable_id(bad), "{bad}");
        }
        assert!(is_displayable_digest(
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        ));
        assert!(!is_displayable_digest("sha256:00"));
        assert_eq!(id_or_withheld("Bearer x"), WITHHELD);
    }

    #[test]
    fn time_format_matches_the_time_crate() {
        let fmt = time::format_description::parse_borrowed::<2>(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z",
        )
        .unwrap();
        for ms in [
            0_i64,
            1,
            999,
            1_764_000_000_000,
            1_764_000_000_123,
            951_782_400_000, // 2000-02-29
            4_107_542_399_999,
            -1,
            -86_400_001,
            253_402_300_799_999, // 9999-12-31T23:59:59.999
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
                .unwrap();
            assert_eq!(rfc3339_ms(ms), t.format(&fmt).unwrap(), "{ms}");
        }
    }
}
