//! `docs/rules.md` is generated from the catalogue; this test fails when it is out of
//! date. Regenerate with `UPDATE_RULES_DOC=1 cargo test -p custody-scan --test rules_doc`.

#![allow(
    clippy::string_slice,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code slicing ASCII inputs at spans the scanner returned; a panic is a test failure"
)]

use custody_scan::Scanner;

fn render() -> String {
    let scanner = Scanner::new();
    let mut out = String::new();
    out.push_str("# custody-scan rule catalogue\n\n");
    out.push_str("Generated from `custody_scan::Scanner::rules()` by `crates/custody-scan/tests/rules_doc.rs`;\n");
    out.push_str("do not edit by hand (`UPDATE_RULES_DOC=1 cargo test -p custody-scan --test rules_doc`).\n\n");
    out.push_str("How the rules are applied:\n\n");
    out.push_str("- `scan` (free bytes): one pass of an ASCII-case-insensitive Aho-Corasick DFA over short\n");
    out.push_str("  literal fragments of every rule's anchors; each hit is checked against the full anchor and\n");
    out.push_str(
        "  confirmed on a bounded window (format, length, checksum, JWT header, entropy...).\n",
    );
    out.push_str(
        "- `scan_field` (a value at a known position): the name decides first (Authorization and\n",
    );
    out.push_str(
        "  Proxy-Authorization by scheme, every Cookie/Set-Cookie value unless allow-listed,\n",
    );
    out.push_str("  credential-bearing header, query, form and JSON-key names), then the value is scanned;\n");
    out.push_str("  URLs are split and percent-decoded, nested URLs re-scanned, `state` reported with `code`.\n");
    out.push_str("- `auth-basic`, `auth-digest`, `auth-negotiate`, `discord-bot-token`, `saml-relay-state`,\n");
    out.push_str("  `oauth-state`, `credential-header` and `url-signature` have no free-text anchor: they are\n");
    out.push_str(
        "  reached through `Authorization:` lines, HAR name/value pairs and `scan_field`.\n",
    );
    out.push_str("- Matches never include an existing marker (`[redacted:<class>:<fp>...]`).\n\n");
    out.push_str(&format!(
        "{} rules. Rules version: `{}`.\n\n",
        scanner.rules().len(),
        scanner.rules_version()
    ));
    out.push_str("| id | class | confidence | description |\n| --- | --- | --- | --- |\n");
    for r in scanner.rules() {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            r.id,
            r.class,
            r.confidence,
            r.description.replace('|', "\\|")
        ));
    }
    out
}

#[test]
fn rules_doc_is_up_to_date() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md");
    let want = render();
    if std::env::var_os("UPDATE_RULES_DOC").is_some() {
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/rules.md is out of date: run UPDATE_RULES_DOC=1 cargo test -p custody-scan --test rules_doc"
    );
    for r in Scanner::new().rules() {
        assert!(have.contains(&format!("`{}`", r.id)));
    }
}
