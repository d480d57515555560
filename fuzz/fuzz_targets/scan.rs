//! Any bytes through the detector, whole and field by field: it never panics, and
//! every span it reports lies inside the input on character boundaries.
#![no_main]

use std::sync::LazyLock;

use custody_scan::{Field, Scanner};
use libfuzzer_sys::fuzz_target;

static SCANNER: LazyLock<Scanner> = LazyLock::new(Scanner::new);

fuzz_target!(|data: &[u8]| {
    for m in SCANNER.scan(data) {
        assert!(
            m.span.start < m.span.end && m.span.end <= data.len(),
            "{m:?}"
        );
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The first line names the field, the rest is the value.
    let (name, value) = text.split_once('\n').unwrap_or(("", text));
    for field in [
        Field::Header { name },
        Field::Cookie { name },
        Field::Query { name },
        Field::Form { name },
        Field::JsonKey { name },
        Field::Url,
        Field::Text,
    ] {
        for m in SCANNER.scan_field(field, value) {
            assert!(
                m.span.start < m.span.end && m.span.end <= value.len(),
                "{m:?}"
            );
            assert!(
                value.is_char_boundary(m.span.start) && value.is_char_boundary(m.span.end),
                "{m:?}"
            );
        }
    }
});
