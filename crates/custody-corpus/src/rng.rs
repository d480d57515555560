//! Seeded random helpers shared by the generators: strings of given alphabets,
//! identifiers, timestamps. Everything derives from one `ChaCha8Rng`, so the same
//! seed always yields the same bytes.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

const HEX: &[u8] = b"0123456789abcdef";
const HEX_UPPER: &[u8] = b"0123456789ABCDEF";
pub(crate) const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM_LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const WORDS: &[&str] = &[
    "account",
    "billing",
    "cart",
    "checkout",
    "search",
    "product",
    "catalog",
    "orders",
    "settings",
    "profile",
    "dashboard",
    "reports",
    "inventory",
    "shipping",
    "support",
    "notifications",
    "preferences",
    "team",
    "projects",
    "analytics",
    "export",
    "audit",
    "widgets",
    "pricing",
    "invoices",
    "customers",
    "metrics",
    "alerts",
    "status",
    "help",
];

/// Start of every generated capture: 2024-03-12T09:14:03Z, in milliseconds.
const EPOCH_MS: u64 = 1_710_234_843_000;

/// A deterministic random source with string helpers.
pub(crate) struct Gen {
    rng: ChaCha8Rng,
    /// Milliseconds since the Unix epoch of the "current" request.
    now_ms: u64,
}

impl Gen {
    /// A generator for `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha8Rng::seed_from_u64(seed),
            now_ms: EPOCH_MS,
        }
    }

    /// A uniform integer in `lo..hi` (`lo` when the range is empty).
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        let span = hi.saturating_sub(lo);
        if span == 0 {
            return lo;
        }
        // The modulo bias over a 64-bit draw is negligible for a test corpus.
        lo + self.rng.next_u64() % span
    }

    /// A uniform index below `len` (0 when `len` is 0).
    pub(crate) fn index(&mut self, len: usize) -> usize {
        usize::try_from(self.range(0, len as u64)).unwrap_or(0)
    }

    /// True with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.range(0, den) < num
    }

    /// One element of a non-empty slice (the first element's default when empty).
    pub(crate) fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        let i = self.index(items.len());
        items.get(i).copied().unwrap_or("")
    }

    /// Random bytes.
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = vec![0_u8; n];
        self.rng.fill_bytes(&mut out);
        out
    }

    fn of_alphabet(&mut self, alphabet: &[u8], n: usize) -> String {
        let mut out = String::with_capacity(n);
        for _ in 0..n {
            let i = self.index(alphabet.len());
            out.push(char::from(alphabet.get(i).copied().unwrap_or(b'a')));
        }
        out
    }

    /// Lower-case hex of `n` characters.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        self.of_alphabet(HEX, n)
    }

    /// Upper-case hex of `n` characters.
    pub(crate) fn hex_upper(&mut self, n: usize) -> String {
        self.of_alphabet(HEX_UPPER, n)
    }

    /// Base62 (`[0-9A-Za-z]`) of `n` characters.
    pub(crate) fn base62(&mut self, n: usize) -> String {
        self.of_alphabet(BASE62, n)
    }

    /// Lower-case alphanumerics of `n` characters.
    pub(crate) fn alnum_lower(&mut self, n: usize) -> String {
        self.of_alphabet(ALNUM_LOWER, n)
    }

    /// RFC 4648 base32 alphabet (`[A-Z2-7]`) of `n` characters.
    pub(crate) fn base32(&mut self, n: usize) -> String {
        self.of_alphabet(BASE32, n)
    }

    /// Base64url alphabet of `n` characters (not necessarily a decodable length).
    pub(crate) fn b64url_chars(&mut self, n: usize) -> String {
        self.of_alphabet(B64URL, n)
    }

    /// Standard base64 of `n` random bytes.
    pub(crate) fn b64_of_random(&mut self, n: usize) -> String {
        STANDARD.encode(self.bytes(n))
    }

    /// Unpadded base64url of `n` random bytes.
    pub(crate) fn b64url_of_random(&mut self, n: usize) -> String {
        URL_SAFE_NO_PAD.encode(self.bytes(n))
    }

    /// A version 4 UUID.
    pub(crate) fn uuid(&mut self) -> String {
        let h = self.hex(32);
        let variant = self.pick(&["8", "9", "a", "b"]).to_owned();
        format!(
            "{}-{}-4{}-{}{}-{}",
            h.get(0..8).unwrap_or_default(),
            h.get(8..12).unwrap_or_default(),
            h.get(13..16).unwrap_or_default(),
            variant,
            h.get(17..20).unwrap_or_default(),
            h.get(20..32).unwrap_or_default()
        )
    }

    /// A plausible English-ish word used in paths and JSON.
    pub(crate) fn word(&mut self) -> &'static str {
        let i = self.index(WORDS.len());
        WORDS.get(i).copied().unwrap_or("item")
    }

    /// Advances the clock by a few milliseconds to a few seconds and returns it.
    pub(crate) fn tick(&mut self) -> u64 {
        let step = self.range(3, 1_800);
        self.now_ms = self.now_ms.saturating_add(step);
        self.now_ms
    }

    /// Current time in seconds since the Unix epoch.
    pub(crate) fn now_secs(&self) -> u64 {
        self.now_ms / 1_000
    }

    /// Current time as an ISO 8601 UTC timestamp with milliseconds.
    pub(crate) fn now_iso(&self) -> String {
        iso8601(self.now_ms)
    }

    /// Current time as an RFC 7231 HTTP date.
    pub(crate) fn now_http_date(&self) -> String {
        http_date(self.now_ms)
    }
}

/// Days since 1970-01-01 to a civil (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

fn split_ms(ms: u64) -> (i64, u32, u32, u64, u64, u64, u64) {
    let secs = ms / 1_000;
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, mo, d) = civil_from_days(days);
    let rem = secs % 86_400;
    (
        y,
        mo,
        d,
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60,
        ms % 1_000,
    )
}

/// `2024-03-12T09:14:03.123Z`.
pub(crate) fn iso8601(ms: u64) -> String {
    let (y, mo, d, h, mi, s, milli) = split_ms(ms);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `Tue, 12 Mar 2024 09:14:03 GMT`.
pub(crate) fn http_date(ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s, _) = split_ms(ms);
    let weekday = usize::try_from(ms / 86_400_000 % 7).unwrap_or(0);
    let dname = DAYS.get(weekday).copied().unwrap_or("Mon");
    let mname = MONTHS
        .get(usize::try_from(mo.saturating_sub(1)).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!("{dname}, {d:02} {mname} {y:04} {h:02}:{mi:02}:{s:02} GMT")
}

/// Base62 encoding of a number, left-padded with `0` to `width`.
pub(crate) fn base62_u32(mut n: u32, width: usize) -> String {
    let mut digits = Vec::new();
    while n > 0 {
        let d = usize::try_from(n % 62).unwrap_or(0);
        digits.push(char::from(BASE62.get(d).copied().unwrap_or(b'0')));
        n /= 62;
    }
    while digits.len() < width {
        digits.push('0');
    }
    digits.iter().rev().collect()
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`), bitwise.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_format_known_instants() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(EPOCH_MS + 123), "2024-03-12T09:14:03.123Z");
        assert_eq!(http_date(EPOCH_MS), "Tue, 12 Mar 2024 09:14:03 GMT");
    }

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(base62_u32(0, 6), "000000");
        assert_eq!(base62_u32(61, 2), "0z");
    }

    #[test]
    fn same_seed_same_values() {
        let mut a = Gen::new(7);
        let mut b = Gen::new(7);
        assert_eq!(a.uuid(), b.uuid());
        assert_eq!(a.hex(40), b.hex(40));
        assert_ne!(Gen::new(8).hex(40), Gen::new(7).hex(40));
    }
}
