//! Reports: SARIF validates against the SARIF 2.1.0 schema; JSON has every field;
//! and no output (human, JSON, SARIF, `Debug` of `Match`/`Finding`) ever contains a
//! secret value.

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use custody_scan::{Finding, Location, Redactor, Scanner, report};

const SECRETS: &[&str] = &[
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "hunter2-Correct",
    "el4ukv0kqbvoirg7nkp4dncpk3",
    "7f3K9qLz0Xw2PbV7nR1tYu5Ea8Hc4Dj",
];

fn input() -> String {
    format!(
        "aws_access_key_id = {}\naws_secret_access_key = {}\nuser=a&password={}\nCookie: PHPSESSID={}\nAuthorization: Bearer {}\n",
        SECRETS[0], SECRETS[1], SECRETS[2], SECRETS[3], SECRETS[4]
    )
}

fn findings(path: &str) -> Vec<Finding> {
    let scanner = Scanner::new();
    let redactor = Redactor::new([9; 32]);
    let text = input();
    let matches = scanner.scan(text.as_bytes());
    // The matches really cover the secrets (so the absence checks below are
    // meaningful: a renderer that printed the span would print them).
    let spans: Vec<&str> = matches.iter().map(|m| &text[m.span.clone()]).collect();
    for s in SECRETS {
        assert!(spans.contains(s), "{s} not detected: {spans:?}");
    }
    matches
        .iter()
        .map(|m| {
            let loc = Location {
                path: Some(path.to_owned()),
                ..Location::default()
            };
            Finding::from_match(m, text.as_bytes(), &redactor, loc)
        })
        .collect()
}

fn render_all(findings: &[Finding]) -> Vec<String> {
    let scanner = Scanner::new();
    let mut human = Vec::new();
    report::human(findings, &mut human).unwrap();
    let mut json = Vec::new();
    report::json(
        findings,
        scanner.rules_version(),
        &["x: unreadable".to_owned()],
        &mut json,
    )
    .unwrap();
    let mut sarif = Vec::new();
    report::sarif(
        findings,
        scanner.rules(),
        scanner.rules_version(),
        &mut sarif,
    )
    .unwrap();
    vec![
        String::from_utf8(human).unwrap(),
        String::from_utf8(json).unwrap(),
        String::from_utf8(sarif).unwrap(),
    ]
}

#[test]
fn no_output_contains_a_secret() {
    let f = findings("dir/app.log");
    let mut outputs = render_all(&f);
    outputs.push(format!("{f:?}"));
    let scanner = Scanner::new();
    outputs.push(format!("{:?}", scanner.scan(input().as_bytes())));
    outputs.push(format!("{:?}", Redactor::new([9; 32])));
    for out in &outputs {
        for s in SECRETS {
            assert!(!out.contains(s), "secret leaked into output:\n{out}");
        }
    }
    // The unsafe variant leaks: a report that printed the matched span would contain
    // every secret, which is what the assertions above would catch.
    let text = input();
    let naive: String = scanner
        .scan(text.as_bytes())
        .iter()
        .map(|m| text[m.span.clone()].to_owned())
        .collect();
    assert!(SECRETS.iter().all(|s| naive.contains(s)));
}

#[test]
fn human_lines_have_location_rule_class_and_marker() {
    let out = &render_all(&findings("app.log"))[0];
    let first = out.lines().next().unwrap();
    assert!(
        first.starts_with(
            "app.log:1:21  aws-access-key-id  cloud-credential  [redacted:cloud-credential:"
        ),
        "{first}"
    );
}

#[test]
fn json_report_has_every_field() {
    let out = &render_all(&findings("app.log"))[1];
    let doc: serde_json::Value = serde_json::from_str(out).unwrap();
    let f = &doc["findings"][0];
    for key in [
        "path",
        "line",
        "column",
        "byte_offset",
        "rule_id",
        "class",
        "confidence",
        "preview",
    ] {
        assert!(!f[key].is_null(), "missing {key}");
    }
    assert_eq!(doc["errors"][0], "x: unreadable");
    assert!(doc["rules_version"].as_str().unwrap().contains('+'));
}

fn sarif_schema() -> jsonschema::Validator {
    // The published rtm.5 schema has one pattern (`run.language`) with an unescaped
    // `]`, a literal in ECMA-262 but rejected by the Rust regex engine: escape it
    // (same meaning) before compiling. We never emit `language`.
    let text = include_str!("data/sarif-2.1.0-rtm.5.json").replace(
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#,
        r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\\]?$""#,
    );
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().build(&schema).unwrap()
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let validator = sarif_schema();
    let mut f = findings("dir/with space/app.log");
    // A structured finding: JSON pointer, no line.
    f.push(Finding {
        rule_id: "session-cookie",
        class: custody_scan::Class::SessionCookie,
        confidence: custody_scan::Confidence::High,
        location: Location {
            path: Some("case.har".into()),
            pointer: Some("/log/entries/0/request/cookies/1/value".into()),
            line: None,
            column: None,
            byte_offset: 0,
        },
        preview: "[redacted:session-cookie:0123456789ab]".into(),
    });
    let out = &render_all(&f)[2];
    let doc: serde_json::Value = serde_json::from_str(out).unwrap();
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let run = &doc["runs"][0];
    assert!(run["tool"]["driver"]["rules"].as_array().unwrap().len() >= 40);
    let r = &run["results"][0];
    assert_eq!(r["ruleId"], "aws-access-key-id");
    let region = &r["locations"][0]["physicalLocation"]["region"];
    assert_eq!(region["startLine"], 1);
    assert_eq!(region["startColumn"], 21);
    assert_eq!(region["byteOffset"], 20);
    assert_eq!(
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "dir/with%20space/app.log"
    );
    // An empty run is valid too.
    let mut empty = Vec::new();
    report::sarif(&[], Scanner::new().rules(), "v", &mut empty).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&empty).unwrap();
    assert!(validator.is_valid(&doc));
}

/// The schema check is what catches a malformed report: a result without a message
/// (required by SARIF) is rejected.
#[test]
fn sarif_schema_rejects_a_broken_report() {
    let validator = sarif_schema();
    let out = &render_all(&findings("a.log"))[2];
    let mut doc: serde_json::Value = serde_json::from_str(out).unwrap();
    doc["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!validator.is_valid(&doc));
    let mut doc: serde_json::Value = serde_json::from_str(out).unwrap();
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] =
        0.into();
    assert!(!validator.is_valid(&doc));
}
