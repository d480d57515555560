//! Deterministic tenant notices (DESIGN §10): [`render_notice`] is a pure
//! function of ([`Incident`], tenant, [`TenantSlice`], template version).
//!
//! - Byte-identical for the same input: facts are sorted by log index, every
//!   map is a `BTreeMap`, times are written by [`crate::display::rfc3339_ms`]
//!   (no clock, no time zone, no locale), and nothing else is read.
//! - Every fact line is backed by its inclusion proof: the proof is verified
//!   against the slice's signed checkpoint root before anything is written, and
//!   printed in Appendix A with the leaf hash; the signed note is Appendix B.
//! - No free text outside reviewed slots: the prose is a template file compiled
//!   into the crate (`templates/notice-<version>.txt`); the incident title comes
//!   from the reviewed list `templates/titles-<version>.txt`; slots receive
//!   typed values only (identifiers passing [`crate::display::is_displayable_id`],
//!   times, counts, hashes). An unknown version, kind or slot is an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use custody_audit::event::Decision;
use custody_audit::merkle::verify_inclusion;
use sha2::{Digest as _, Sha256};

use crate::NoticeError;
use crate::blast::EXPOSING_KINDS;
use crate::display::{digest_or_withheld, id_or_withheld, opt_id_or_withheld, rfc3339_ms};
use crate::verified::TenantSlice;

/// A compiled, reviewed template version.
struct Template {
    version: &'static str,
    body: &'static str,
    titles: &'static str,
}

const TEMPLATES: [Template; 1] = [Template {
    version: "v1",
    body: include_str!("../templates/notice-v1.txt"),
    titles: include_str!("../templates/titles-v1.txt"),
}];

/// The template versions compiled into this crate.
pub const TEMPLATE_VERSIONS: &str = "v1";
/// The incident kind used when none is named.
pub const DEFAULT_INCIDENT_KIND: &str = "unauthorized-artifact-access";

/// The incident a notice is about: an id and a kind whose title is reviewed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incident {
    id: String,
    kind: String,
}

impl Incident {
    /// An incident with `id` (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`) of `kind` (one of
    /// the reviewed kinds of the template version, checked when rendering).
    ///
    /// # Errors
    /// [`NoticeError::IncidentId`].
    pub fn new(id: &str, kind: &str) -> Result<Self, NoticeError> {
        let ok = !id.is_empty()
            && id.len() <= 64
            && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return Err(NoticeError::IncidentId);
        }
        Ok(Self {
            id: id.to_owned(),
            kind: kind.to_owned(),
        })
    }

    /// The id.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A deterministic incident id for a log and window when none is assigned:
/// `inc-` and 16 hex digits of SHA-256 over the origin and the window.
#[must_use]
pub fn derive_incident_id(origin: &str, since_ms: i64, until_ms: Option<i64>) -> String {
    let until = until_ms.map_or_else(|| "-".to_owned(), |u| u.to_string());
    let digest = Sha256::digest(format!(
        "custody-incident-id v1\n{origin}\n{since_ms}\n{until}\n"
    ));
    let hex = hex::encode(digest);
    format!("inc-{}", hex.get(..16).unwrap_or(&hex))
}

fn template(version: &str) -> Result<&'static Template, NoticeError> {
    TEMPLATES
        .iter()
        .find(|t| t.version == version)
        .ok_or(NoticeError::UnknownTemplate {
            known: TEMPLATE_VERSIONS,
        })
}

fn is_comment(line: &str) -> bool {
    line.starts_with("{{!") && line.ends_with("}}")
}

fn titles(t: &Template) -> impl Iterator<Item = (&'static str, &'static str)> {
    t.titles
        .lines()
        .filter(|l| !l.trim().is_empty() && !is_comment(l))
        .filter_map(|l| l.split_once(" = "))
}

type Slots = BTreeMap<&'static str, String>;

/// Renders the notice of `incident` for `tenant` from `slice` with template
/// `template_version`. Pure: the same input gives the same bytes.
///
/// # Errors
/// [`NoticeError`]: unknown template or incident kind, a slice of another
/// tenant, a fact of another tenant, a fact whose proof does not verify, or a
/// record that is not an event. No notice is produced then.
pub fn render_notice(
    incident: &Incident,
    tenant: &str,
    slice: &TenantSlice,
    template_version: &str,
) -> Result<String, NoticeError> {
    let t = template(template_version)?;
    let title = titles(t)
        .find(|(kind, _)| *kind == incident.kind)
        .map(|(_, title)| title)
        .ok_or_else(|| NoticeError::UnknownKind {
            known: titles(t).map(|(k, _)| k).collect::<Vec<_>>().join(", "),
        })?;
    if slice.tenant() != tenant {
        return Err(NoticeError::WrongTenant);
    }
    let cp = slice.checkpoint();
    let mut facts: Vec<_> = slice.facts().iter().collect();
    facts.sort_by_key(|f| f.index());
    facts.dedup_by_key(|f| f.index());
    let mut rows: Vec<Slots> = Vec::with_capacity(facts.len());
    let (mut exposing, mut denied) = (0usize, 0usize);
    let mut exposed = BTreeSet::new();
    for (n, fact) in facts.iter().enumerate() {
        let index = fact.index();
        let leaf = fact.leaf_hash();
        verify_inclusion(index, cp.size, &leaf, fact.proof(), &cp.root)
            .map_err(|_| NoticeError::Unproven { index })?;
        let event = fact.event().map_err(|_| NoticeError::BadRecord { index })?;
        if event.tenant != tenant {
            return Err(NoticeError::ForeignFact { index });
        }
        if event.decision == Decision::Deny {
            denied += 1;
        } else if EXPOSING_KINDS.contains(&event.kind) {
            exposing += 1;
            exposed.insert((event.resource.kind.clone(), event.resource.id.clone()));
        }
        let proof: Vec<String> = fact.proof().iter().map(hex::encode).collect();
        let mut row = Slots::new();
        row.insert("fact.n", (n + 1).to_string());
        row.insert("fact.index", index.to_string());
        row.insert("fact.time", rfc3339_ms(event.time_ms));
        row.insert("fact.act", event.kind.as_str().to_owned());
        row.insert(
            "fact.decision",
            match event.decision {
                Decision::Allow => "allowed",
                Decision::Deny => "denied",
            }
            .to_owned(),
        );
        row.insert("fact.resource_kind", id_or_withheld(&event.resource.kind));
        row.insert("fact.resource_id", id_or_withheld(&event.resource.id));
        row.insert(
            "fact.case",
            opt_id_or_withheld(event.resource.case_id.as_deref()),
        );
        row.insert("fact.principal", id_or_withheld(&event.actor.principal_id));
        row.insert(
            "fact.principal_class",
            id_or_withheld(&event.actor.principal_class),
        );
        row.insert(
            "fact.digest",
            digest_or_withheld(event.resource.digest.as_deref()),
        );
        row.insert("fact.leaf_hash", hex::encode(leaf));
        row.insert(
            "fact.proof",
            if proof.is_empty() {
                "-".to_owned()
            } else {
                proof.join(" ")
            },
        );
        rows.push(row);
    }
    let mut globals = Slots::new();
    globals.insert("template.version", t.version.to_owned());
    globals.insert("incident.id", incident.id.clone());
    globals.insert("incident.title", title.to_owned());
    globals.insert("tenant", id_or_withheld(tenant));
    globals.insert("window.since", rfc3339_ms(slice.since_ms()));
    globals.insert("window.until", rfc3339_ms(slice.until_ms()));
    globals.insert("log.origin", cp.origin.clone());
    globals.insert("log.tree_size", cp.size.to_string());
    globals.insert("log.root", hex::encode(cp.root));
    globals.insert(
        "log.checkpoint",
        cp.note.strip_suffix('\n').unwrap_or(&cp.note).to_owned(),
    );
    globals.insert("summary.facts", rows.len().to_string());
    globals.insert("summary.exposing", exposing.to_string());
    globals.insert("summary.exposed_resources", exposed.len().to_string());
    globals.insert("summary.denied", denied.to_string());
    fill(t, &globals, &rows)
}

/// Expands the template: comment lines are dropped, a `{{#facts}}` section is
/// repeated per fact, a `{{^facts}}` section is kept only when there is none.
fn fill(t: &Template, globals: &Slots, rows: &[Slots]) -> Result<String, NoticeError> {
    let bad = |line: usize, reason: &'static str| NoticeError::Template {
        version: t.version,
        line,
        reason,
    };
    let mut out = String::with_capacity(4096 + rows.len() * 512);
    let mut section: Option<(bool, Vec<(usize, &str)>)> = None;
    for (n, line) in t.body.lines().enumerate() {
        let line_no = n + 1;
        if is_comment(line) {
            continue;
        }
        match (line, section.as_mut()) {
            ("{{#facts}}", None) => section = Some((false, Vec::new())),
            ("{{^facts}}", None) => section = Some((true, Vec::new())),
            ("{{/facts}}", Some(_)) => {
                if let Some((inverted, body)) = section.take() {
                    if inverted {
                        if rows.is_empty() {
                            for (l, text) in &body {
                                substitute(&mut out, text, globals, None)
                                    .map_err(|r| bad(*l, r))?;
                            }
                        }
                    } else {
                        for row in rows {
                            for (l, text) in &body {
                                substitute(&mut out, text, globals, Some(row))
                                    .map_err(|r| bad(*l, r))?;
                            }
                        }
                    }
                }
            }
            ("{{#facts}}" | "{{^facts}}", Some(_)) => return Err(bad(line_no, "nested section")),
            ("{{/facts}}", None) => return Err(bad(line_no, "section end without start")),
            (_, Some((_, body))) => body.push((line_no, line)),
            (_, None) => substitute(&mut out, line, globals, None).map_err(|r| bad(line_no, r))?,
        }
    }
    if section.is_some() {
        return Err(bad(t.body.lines().count(), "unclosed section"));
    }
    Ok(out)
}

/// Writes `line` with its slots filled, then a newline. Values are inserted
/// once and never re-read, so a value cannot inject a slot.
fn substitute(
    out: &mut String,
    line: &str,
    globals: &Slots,
    row: Option<&Slots>,
) -> Result<(), &'static str> {
    let mut rest = line;
    while let Some((before, after)) = rest.split_once("{{") {
        out.push_str(before);
        let (name, tail) = after.split_once("}}").ok_or("unclosed slot")?;
        let value = row
            .and_then(|r| r.get(name))
            .or_else(|| globals.get(name))
            .ok_or("unknown slot")?;
        out.push_str(value);
        rest = tail;
    }
    out.push_str(rest);
    let _ = writeln!(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_titles_and_balanced_sections() {
        for t in &TEMPLATES {
            assert!(titles(t).count() >= 1, "{}", t.version);
            assert!(titles(t).any(|(k, _)| k == DEFAULT_INCIDENT_KIND));
            // Every slot the template names exists, with and without facts.
            let mut globals = Slots::new();
            for name in [
                "template.version",
                "incident.id",
                "incident.title",
                "tenant",
                "window.since",
                "window.until",
                "log.origin",
                "log.tree_size",
                "log.root",
                "log.checkpoint",
                "summary.facts",
                "summary.exposing",
                "summary.exposed_resources",
                "summary.denied",
            ] {
                globals.insert(name, "x".into());
            }
            let mut row = Slots::new();
            for name in [
                "fact.n",
                "fact.index",
                "fact.time",
                "fact.act",
                "fact.decision",
                "fact.resource_kind",
                "fact.resource_id",
                "fact.case",
                "fact.principal",
                "fact.principal_class",
                "fact.digest",
                "fact.leaf_hash",
                "fact.proof",
            ] {
                row.insert(name, "x".into());
            }
            let with = fill(t, &globals, &[row]).unwrap();
            let without = fill(t, &globals, &[]).unwrap();
            assert!(!with.contains("{{") && !without.contains("{{"));
            assert_ne!(with, without);
        }
    }

    #[test]
    fn unknown_slot_and_unbalanced_sections_are_errors() {
        let t = |body: &'static str| Template {
            version: "test",
            body,
            titles: "",
        };
        let g = Slots::new();
        assert!(matches!(
            fill(&t("a {{nope}} b"), &g, &[]),
            Err(NoticeError::Template { line: 1, .. })
        ));
        assert!(fill(&t("{{#facts}}\nx"), &g, &[]).is_err());
        assert!(fill(&t("{{/facts}}"), &g, &[]).is_err());
        assert!(fill(&t("{{#facts}}\n{{#facts}}\n{{/facts}}"), &g, &[]).is_err());
        assert!(fill(&t("a {{open"), &g, &[]).is_err());
    }

    #[test]
    fn a_value_cannot_inject_a_slot() {
        let t = Template {
            version: "test",
            body: "{{tenant}} {{log.root}}",
            titles: "",
        };
        let mut g = Slots::new();
        g.insert("tenant", "{{log.root}}".into());
        g.insert("log.root", "R".into());
        assert_eq!(fill(&t, &g, &[]).unwrap(), "{{log.root}} R\n");
    }

    /// A one-fact slice over a one-leaf tree: the root is the leaf hash.
    fn one_fact_slice(tenant: &str, root_flip: u8) -> TenantSlice {
        use custody_audit::event::{EventKind, sample_event};
        use custody_audit::merkle::leaf_hash;

        use crate::verified::{CheckpointRef, ProvenFact};
        let record = sample_event(EventKind::Download, 1_764_000_000_000, 42)
            .record_bytes()
            .unwrap();
        let mut root = leaf_hash(&record);
        root[0] ^= root_flip;
        TenantSlice {
            tenant: tenant.into(),
            since_ms: 0,
            until_ms: 1_764_000_000_000,
            checkpoint: CheckpointRef {
                origin: "o".into(),
                size: 1,
                root,
                note: "o\n1\nAA==\n".into(),
            },
            facts: vec![ProvenFact {
                index: 0,
                record,
                proof: Vec::new(),
            }],
        }
    }

    #[test]
    fn an_unproven_or_foreign_fact_is_refused() {
        let incident = Incident::new("INC-1", DEFAULT_INCIDENT_KIND).unwrap();
        // sample_event(.., 42) is tenant-0's.
        assert!(render_notice(&incident, "tenant-0", &one_fact_slice("tenant-0", 0), "v1").is_ok());
        assert_eq!(
            render_notice(&incident, "tenant-0", &one_fact_slice("tenant-0", 1), "v1"),
            Err(NoticeError::Unproven { index: 0 })
        );
        assert_eq!(
            render_notice(&incident, "tenant-1", &one_fact_slice("tenant-1", 0), "v1"),
            Err(NoticeError::ForeignFact { index: 0 })
        );
    }

    #[test]
    fn incident_ids_are_checked_and_derived_ids_are_stable() {
        assert!(Incident::new("INC-2026-0042", DEFAULT_INCIDENT_KIND).is_ok());
        for bad in ["", "-x", "a b", "a\nb", &"a".repeat(65), "é"] {
            assert_eq!(
                Incident::new(bad, DEFAULT_INCIDENT_KIND),
                Err(NoticeError::IncidentId)
            );
        }
        let a = derive_incident_id("o", 1, Some(2));
        assert_eq!(a, derive_incident_id("o", 1, Some(2)));
        assert_ne!(a, derive_incident_id("o", 1, None));
        assert_eq!(a.len(), 20);
        assert!(Incident::new(&a, DEFAULT_INCIDENT_KIND).is_ok());
    }
}
