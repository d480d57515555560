//! Renderers over `&[Finding]`: [`human`] (`path:line:col  rule-id  class  preview`),
//! [`fn@json`] (one JSON document) and [`sarif`] (SARIF 2.1.0). None of them can show a
//! secret: a [`Finding`] holds only a marker.

use std::io::Write;

use serde_json::{Value, json};

use crate::finding::Finding;
use crate::rule::{Confidence, Rule};

/// Error while rendering a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// Writing to the output failed.
    #[error("writing the report failed")]
    Io(#[from] std::io::Error),
    /// JSON serialisation failed.
    #[error("serialising the report failed")]
    Json(#[from] serde_json::Error),
}

fn where_(f: &Finding) -> String {
    let path = f.location.path.as_deref().unwrap_or("-");
    match (&f.location.pointer, f.location.line, f.location.column) {
        (Some(p), _, _) => format!("{path}#{p}"),
        (None, Some(l), Some(c)) => format!("{path}:{l}:{c}"),
        (None, Some(l), None) => format!("{path}:{l}"),
        _ => format!("{path}@{}", f.location.byte_offset),
    }
}

/// Human output, one finding per line: `path:line:col  rule-id  class  preview`.
///
/// # Errors
/// [`ReportError::Io`] if writing fails.
pub fn human(findings: &[Finding], out: &mut dyn Write) -> Result<(), ReportError> {
    for f in findings {
        writeln!(
            out,
            "{}  {}  {}  {}",
            where_(f),
            f.rule_id,
            f.class,
            f.preview
        )?;
    }
    Ok(())
}

fn finding_json(f: &Finding) -> Value {
    json!({
        "path": f.location.path,
        "pointer": f.location.pointer,
        "line": f.location.line,
        "column": f.location.column,
        "byte_offset": f.location.byte_offset,
        "rule_id": f.rule_id,
        "class": f.class.as_str(),
        "confidence": f.confidence.as_str(),
        "preview": f.preview,
    })
}

/// One JSON document: `{"tool", "rules_version", "findings": [...], "errors": [...]}`.
/// `errors` are caller-supplied messages (e.g. unreadable paths), never values.
///
/// # Errors
/// [`ReportError`] if serialising or writing fails.
pub fn json(
    findings: &[Finding],
    rules_version: &str,
    errors: &[String],
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let doc = json!({
        "tool": "custody-scan",
        "rules_version": rules_version,
        "findings": findings.iter().map(finding_json).collect::<Vec<_>>(),
        "errors": errors,
    });
    // Serialise first, then write: an I/O error (e.g. a closed pipe) surfaces as
    // `ReportError::Io`, whose source is the `io::Error`.
    out.write_all(&serde_json::to_vec_pretty(&doc)?)?;
    writeln!(out)?;
    Ok(())
}

fn level(c: Confidence) -> &'static str {
    match c {
        Confidence::High | Confidence::Medium => "error",
        Confidence::Low => "warning",
    }
}

/// Percent-encodes what a URI reference cannot hold verbatim.
fn uri(path: &str) -> String {
    let mut s = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            s.push(char::from(b));
        } else if b == b'\\' {
            s.push('/');
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// SARIF 2.1.0: one run, `tool.driver.rules` = the whole catalogue, one result per
/// finding with `ruleId`, `ruleIndex`, a physical location (`artifactLocation.uri`,
/// `region` with `startLine`/`startColumn`/`byteOffset`) and, for structured inputs,
/// a logical location holding the JSON pointer.
///
/// # Errors
/// [`ReportError`] if serialising or writing fails.
pub fn sarif(
    findings: &[Finding],
    rules: &[Rule],
    rules_version: &str,
    out: &mut dyn Write,
) -> Result<(), ReportError> {
    let driver_rules: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": { "text": r.description },
                "defaultConfiguration": { "level": level(r.confidence) },
                "properties": { "class": r.class.as_str(), "confidence": r.confidence.as_str(),
                                "tags": ["security", r.class.as_str()] },
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut region = serde_json::Map::new();
            if let Some(l) = f.location.line {
                region.insert("startLine".into(), json!(l.max(1)));
                if let Some(c) = f.location.column {
                    region.insert("startColumn".into(), json!(c.max(1)));
                }
            }
            region.insert("byteOffset".into(), json!(f.location.byte_offset));
            let mut location = json!({
                "physicalLocation": {
                    "artifactLocation": { "uri": uri(f.location.path.as_deref().unwrap_or("stdin")) },
                    "region": Value::Object(region),
                }
            });
            if let (Some(p), Some(obj)) = (&f.location.pointer, location.as_object_mut()) {
                obj.insert("logicalLocations".into(), json!([{ "fullyQualifiedName": p, "kind": "member" }]));
            }
            let rule_index = rules.iter().position(|r| r.id == f.rule_id);
            let mut result = json!({
                "ruleId": f.rule_id,
                "level": level(f.confidence),
                "message": { "text": format!("{} credential detected ({}); redacted as {}", f.class, f.rule_id, f.preview) },
                "locations": [location],
                "partialFingerprints": { "custodyMarker/v1": f.preview },
            });
            if let (Some(i), Some(obj)) = (rule_index, result.as_object_mut()) {
                obj.insert("ruleIndex".into(), json!(i));
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "custody-scan",
                "version": rules_version,
                "informationUri": "https://example.invalid/custody/docs/rules.md",
                "rules": driver_rules,
            }},
            "results": results,
        }],
    });
    // Serialise first, then write: an I/O error (e.g. a closed pipe) surfaces as
    // `ReportError::Io`, whose source is the `io::Error`.
    out.write_all(&serde_json::to_vec_pretty(&doc)?)?;
    writeln!(out)?;
    Ok(())
}
