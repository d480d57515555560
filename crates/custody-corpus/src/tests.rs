//! Unit tests of the generators: determinism, validity, plant bookkeeping.

use std::collections::BTreeSet;

use super::*;

fn har(seed: u64, size: u64, planted: bool) -> (Vec<u8>, Vec<Plant>) {
    let mut out = Vec::new();
    let plants = if planted {
        planted_har(seed, size, &mut out).unwrap()
    } else {
        benign_har(seed, size, &mut out).unwrap();
        Vec::new()
    };
    (out, plants)
}

#[test]
fn same_seed_same_bytes() {
    assert_eq!(har(42, 300_000, false).0, har(42, 300_000, false).0);
    let (a, pa) = har(42, 300_000, true);
    let (b, pb) = har(42, 300_000, true);
    assert_eq!(a, b);
    assert_eq!(pa, pb);
    assert_ne!(har(43, 300_000, false).0, har(42, 300_000, false).0);
    let mut t1 = Vec::new();
    let mut t2 = Vec::new();
    mixed_text(5, 100_000, false, &mut t1).unwrap();
    mixed_text(5, 100_000, false, &mut t2).unwrap();
    assert_eq!(t1, t2);
}

#[test]
fn output_is_har_1_2_and_reaches_target_size() {
    for planted in [false, true] {
        let (out, _) = har(7, 500_000, planted);
        assert!(out.len() >= 500_000);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let log = &v["log"];
        assert_eq!(log["version"], "1.2");
        assert!(log["creator"]["name"].is_string());
        assert!(!log["pages"].as_array().unwrap().is_empty());
        let entries = log["entries"].as_array().unwrap();
        assert!(entries.len() > 10);
        for e in entries {
            for key in [
                "startedDateTime",
                "time",
                "request",
                "response",
                "cache",
                "timings",
            ] {
                assert!(!e[key].is_null(), "entry lacks {key}");
            }
            for key in [
                "method",
                "url",
                "httpVersion",
                "headers",
                "queryString",
                "cookies",
                "headersSize",
                "bodySize",
            ] {
                assert!(!e["request"][key].is_null(), "request lacks {key}");
            }
            for key in [
                "status",
                "statusText",
                "httpVersion",
                "headers",
                "cookies",
                "content",
                "redirectURL",
                "headersSize",
                "bodySize",
            ] {
                assert!(!e["response"][key].is_null(), "response lacks {key}");
            }
            assert!(e["response"]["content"]["mimeType"].is_string());
            for key in ["send", "wait", "receive"] {
                assert!(e["timings"][key].is_number());
            }
        }
    }
}

#[test]
fn benign_har_has_no_credential_positions_or_plants() {
    let (benign, _) = har(11, 2_000_000, false);
    let text = String::from_utf8(benign.clone())
        .unwrap()
        .to_ascii_lowercase();
    for needle in [
        "\"authorization\"",
        "\"set-cookie\"",
        "phpsessid",
        "jsessionid",
        "connect.sid",
        "laravel_session",
        "__host-session",
        "bearer ",
        "samlresponse",
        "access_token",
        "refresh_token",
        "id_token",
        "code=",
        "code_verifier",
        "password",
        "csrf_token",
        "\"name\": \"x-csrf-token\"",
        "x-api-key",
        "x-amz-signature",
        "x-amz-security-token",
        "ghp_",
        "glpat-",
        "xoxb-",
        "sk_live_",
        "private key",
    ] {
        assert!(!text.contains(needle), "benign corpus contains {needle:?}");
    }
    let raw = String::from_utf8(benign.clone()).unwrap();
    for (at, _) in raw.match_indices("AKIA") {
        let next = raw.get(at + 4..at + 20).unwrap_or_default();
        assert!(
            !next
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
            "AWS key id shape"
        );
    }
    // The same seed planted: none of its planted values leaks into the benign run.
    let (_, plants) = har(11, 2_000_000, true);
    let left = recall::remaining(&plants, benign.as_slice()).unwrap();
    assert!(left.iter().all(|&l| !l));
}

#[test]
fn every_plant_is_located_and_found_in_its_output() {
    let (out, plants) = har(3, 6_000_000, true);
    let kinds: BTreeSet<PlantKind> = plants.iter().map(Plant::kind).collect();
    let all: BTreeSet<PlantKind> = PlantKind::HAR_KINDS.iter().copied().collect();
    assert_eq!(kinds, all, "6 MB should cover every kind");
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let lines: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
    for plant in &plants {
        let forms = search_forms(plant.expose_value());
        assert_eq!(plant.pointer(), plant.pointers()[0]);
        for pointer in plant.pointers() {
            let at = v.pointer(pointer).and_then(|s| s.as_str()).unwrap();
            assert!(forms.iter().any(|f| at.contains(f.as_str())), "{plant:?}");
        }
        for &line in plant.lines() {
            let text = String::from_utf8_lossy(lines[usize::try_from(line - 1).unwrap()]);
            assert!(forms.iter().any(|f| text.contains(f.as_str())), "{plant:?}");
        }
    }
    // Baseline for recall: untouched output still holds every plant.
    assert!(
        recall::remaining(&plants, out.as_slice())
            .unwrap()
            .iter()
            .all(|&l| l)
    );
}

#[test]
fn recall_sees_removal_in_every_form() {
    let (out, plants) = har(9, 400_000, true);
    let mut text = String::from_utf8(out).unwrap();
    let victim = plants
        .iter()
        .find(|p| p.kind() != PlantKind::Base64BodyToken)
        .unwrap();
    for form in search_forms(victim.expose_value()) {
        text = text.replace(&form, "[redacted]");
    }
    let left = recall::remaining(&plants, text.as_bytes()).unwrap();
    let summary = recall::summarize(&plants, &left.iter().map(|l| !l).collect::<Vec<_>>());
    assert!(summary.total.caught >= 1);
    for (plant, &l) in plants.iter().zip(&left) {
        if plant.expose_value() == victim.expose_value() {
            assert!(!l);
        }
    }
}

#[test]
fn text_plants_sit_on_their_lines() {
    let mut out = Vec::new();
    let plants = mixed_text(4, 300_000, false, &mut out).unwrap();
    assert!(plants.len() > 20);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    for p in &plants {
        let line = lines[usize::try_from(p.lines()[0] - 1).unwrap()];
        assert!(line.contains(p.expose_value()));
    }
    let mut benign = Vec::new();
    let stats = benign_text(4, 300_000, &mut benign).unwrap();
    assert!(stats.bytes >= 300_000);
    let few = mixed_text(4, 300_000, true, &mut Vec::new()).unwrap();
    assert!(few.len() < plants.len() / 5);
}
