//! `custody check`: asks the server to evaluate the invariants of DESIGN.md §2 on its
//! deployment (`GET /v1/check`, with the stored session like `custody call`) and
//! prints the report. Exit 0 clean, 1 violations, 2 error (including a refusal).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use custody_client::{Body, Client};
use serde_json::Value;

use crate::cmd::device::device_dir;
use crate::{EXIT_CLEAN, EXIT_ERROR, EXIT_FINDINGS};

/// Output format of `custody check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per violation, then a summary.
    Text,
    /// The server's JSON report, pretty-printed.
    Json,
}

/// Arguments of `custody check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Device directory (its `session.json` from `custody login`).
    #[arg(long)]
    pub device_dir: Option<PathBuf>,
}

/// The session `custody login` stores (same file as `custody call` reads).
#[derive(serde::Deserialize)]
struct Session {
    server: String,
    access_token: String,
}

fn client(flag: Option<PathBuf>) -> anyhow::Result<Client> {
    let dir = device_dir(flag)?;
    let path = dir.join("session.json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("no session in {}: run `custody login` first", dir.display()))?;
    let session: Session =
        serde_json::from_str(&text).with_context(|| format!("{} is malformed", path.display()))?;
    let mut client = Client::for_device(&session.server, &dir)?;
    client.set_token(session.access_token);
    Ok(client)
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or("-")
        .to_owned()
}

/// Writes the report as text: one line per violation, the notes, then a summary.
fn write_text(out: &mut impl Write, report: &Value) -> std::io::Result<()> {
    let violations = report
        .get("violations")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for v in violations {
        let mut line = format!(
            "{} {} {} {}",
            text(v, "invariant"),
            text(v, "what"),
            text(v, "subject_kind"),
            text(v, "subject")
        );
        if let Some(at) = v.get("location").and_then(Value::as_str) {
            line.push_str(&format!(" at {at}"));
        }
        if let Some(rule) = v.get("rule_id").and_then(Value::as_str) {
            line.push_str(&format!(" rule {rule}"));
        }
        writeln!(out, "{line}: {}", text(v, "detail"))?;
    }
    for note in report
        .get("notes")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice)
    {
        writeln!(out, "note: {}", note.as_str().unwrap_or("-"))?;
    }
    writeln!(
        out,
        "{}: {} violation(s); policy bundle {}; rules {}",
        if violations.is_empty() {
            "clean"
        } else {
            "violations"
        },
        violations.len(),
        text(report, "policy_bundle_id"),
        text(report, "rules_version")
    )
}

/// Runs `custody check`.
pub fn run(args: Args) -> anyhow::Result<u8> {
    let client = client(args.device_dir)?;
    let reply = client.call("GET", "/v1/check", &Body::Empty)?;
    let report = reply.json();
    if !(200..=299).contains(&reply.status) {
        let detail = report
            .get("detail")
            .and_then(Value::as_str)
            .unwrap_or("no detail");
        eprintln!(
            "custody check: the server answered {}: {detail}",
            reply.status
        );
        return Ok(EXIT_ERROR);
    }
    let Some(clean) = report.get("clean").and_then(Value::as_bool) else {
        eprintln!("custody check: the server's report has no `clean` flag");
        return Ok(EXIT_ERROR);
    };
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        Format::Text => write_text(&mut out, &report)?,
    }
    Ok(if clean { EXIT_CLEAN } else { EXIT_FINDINGS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_lists_each_violation_with_its_invariant() {
        let report = serde_json::json!({
            "clean": false,
            "policy_bundle_id": "b1",
            "rules_version": "r1",
            "violations": [{
                "invariant": "I1", "what": "artifact.replayable", "subject_kind": "artifact",
                "subject": "art_1", "location": "/log/entries/0", "rule_id": "jwt",
                "detail": "class jwt"
            }],
            "notes": ["tokens are not stored"]
        });
        let mut out = Vec::new();
        write_text(&mut out, &report).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("I1 artifact.replayable artifact art_1 at /log/entries/0 rule jwt"));
        assert!(text.contains("note: tokens are not stored"));
        assert!(text.ends_with("violations: 1 violation(s); policy bundle b1; rules r1\n"));
    }
}
