//! Any bytes through the artifact sanitizer (kind detection, HAR, JSON, text, zip):
//! it never panics, and what it passes as clean is a fixed point: sanitizing the
//! output again as the same kind is clean and redacts nothing (nothing replayable
//! is left for the detector to find, DESIGN §2 I1).
#![no_main]

use std::sync::LazyLock;

use custody_har::artifact::{ArtifactOptions, sanitize};
use custody_scan::{Redactor, Scanner};
use libfuzzer_sys::fuzz_target;

static SCANNER: LazyLock<Scanner> = LazyLock::new(Scanner::new);
static REDACTOR: LazyLock<Redactor> = LazyLock::new(|| Redactor::new([7; 32]));

fuzz_target!(|data: &[u8]| {
    let options = ArtifactOptions::default();
    let mut out = Vec::new();
    let Ok(report) = sanitize(data, &mut out, &SCANNER, &REDACTOR, &options) else {
        return;
    };
    if report.verdict != "clean" {
        return;
    }
    let again_options = ArtifactOptions {
        kind: Some(report.kind),
        ..ArtifactOptions::default()
    };
    let mut again = Vec::new();
    match sanitize(&out[..], &mut again, &SCANNER, &REDACTOR, &again_options) {
        Ok(second) => {
            assert_eq!(second.verdict, "clean", "the sanitized output is refused");
            assert_eq!(
                second.redactions, 0,
                "the sanitized output still holds something to redact: {:?}",
                second.by_class
            );
        }
        Err(e) => panic!("the sanitized output does not sanitize again: {e}"),
    }
});
