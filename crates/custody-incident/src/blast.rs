//! Blast radius of one principal in a time window, from verified audit facts
//! only (DESIGN §10): `B_i = |exposed tenants| / |tenants in the support boundary|`.
//!
//! Main types: [`blast_radius`], [`BlastRadius`], [`TenantReach`], [`Touch`].
//! The definitions (docs/incident.md §1):
//!
//! - **Support boundary**: the customer tenants the principal could reach in the
//!   window: it performed an allowed act on the tenant in the window (`acted`);
//!   it requested a grant on the tenant that at least one allowed approval
//!   followed, and that was requested at most [`GRANT_MAX_MS`] before the window
//!   and no later than its end (`grant`); or a token was issued to it for the
//!   tenant at most [`TOKEN_MAX_MS`] before the window and no later than its end
//!   (`credential`); or it is a service account whose scope named the tenant in a
//!   record at or before the window's end (`scope`: every scope ever granted counts,
//!   so a narrowed scope over-approximates the boundary). The vendor's pseudo-tenant [`VENDOR_TENANT`] is not a
//!   customer tenant and is never counted.
//! - **Actionable exposure**: the tenants of the boundary whose artifact bytes
//!   left through an allowed `view`, `download`, `export` or `unseal` by the
//!   principal inside the window.
//! - Denied acts by the principal in the window are listed as attempts; they
//!   neither widen the boundary nor count as exposure.

use std::collections::{BTreeMap, BTreeSet};

use custody_audit::event::{AuditEvent, Decision, EventKind};
use custody_audit::store::LogStore;
use serde::Serialize;

use crate::display::{digest_or_withheld, id_or_withheld, opt_id_or_withheld, rfc3339_ms};
use crate::{IncidentError, VerifiedLog};

/// Longest life of a just-in-time grant (DESIGN §7: default and maximum 1 h).
pub const GRANT_MAX_MS: i64 = 3_600_000;
/// Longest life of an access token of any class (DESIGN §6: agent 15 min).
pub const TOKEN_MAX_MS: i64 = 15 * 60 * 1000;
/// Resource kind of the facts putting a tenant in a service account's scope (one
/// `grant_approve` per tenant, resource id the account; custody-broker records
/// them at creation and at each scope change).
pub const SERVICE_ACCOUNT_SCOPE: &str = "service_account_scope";
/// The pseudo-tenant of vendor principals and vendor-wide events.
pub const VENDOR_TENANT: &str = "vendor";

/// The acts through which artifact bytes (or the key to them) leave custody.
pub const EXPOSING_KINDS: [EventKind; 4] = [
    EventKind::View,
    EventKind::Download,
    EventKind::Export,
    EventKind::Unseal,
];

/// One audited act, as incident output shows it (identifiers only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Touch {
    /// Log index (prove it with `custody audit prove --index`).
    pub index: u64,
    /// Event time, RFC 3339 UTC.
    pub time: String,
    /// Event kind (`download`, `export`...).
    pub act: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
    /// Tenant id.
    pub tenant: String,
    /// Resource kind (`artifact`, `export`, `grant`...).
    pub resource_kind: String,
    /// Resource id (an unseal names the export; its digest names the artifact content).
    pub resource_id: String,
    /// Case id, `-` when absent.
    pub case_id: String,
    /// Artifact content digest, `-` when absent.
    pub digest: String,
    /// True when artifact bytes left through this act.
    pub exposes: bool,
}

impl Touch {
    fn of(index: u64, event: &AuditEvent) -> Self {
        Self {
            index,
            time: rfc3339_ms(event.time_ms),
            act: event.kind.as_str(),
            decision: match event.decision {
                Decision::Allow => "allow",
                Decision::Deny => "deny",
            },
            tenant: id_or_withheld(&event.tenant),
            resource_kind: id_or_withheld(&event.resource.kind),
            resource_id: id_or_withheld(&event.resource.id),
            case_id: opt_id_or_withheld(event.resource.case_id.as_deref()),
            digest: digest_or_withheld(event.resource.digest.as_deref()),
            exposes: event.decision == Decision::Allow && EXPOSING_KINDS.contains(&event.kind),
        }
    }
}

/// A grant the principal held on a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldGrant {
    /// Grant id.
    pub grant_id: String,
    /// Log index of the request.
    pub request_index: u64,
    /// Log indices of the allowed approvals.
    pub approval_indices: Vec<u64>,
}

/// One tenant of the support boundary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantReach {
    /// Tenant id ([`crate::display::WITHHELD`] with its first index when not id-shaped).
    pub tenant: String,
    /// Why it is in the boundary: `acted`, `credential`, `grant` (sorted).
    pub reasons: Vec<&'static str>,
    /// True when artifact bytes of the tenant left through the principal.
    pub exposed: bool,
    /// Distinct resources (artifacts, and exports for unseals) through which bytes left.
    pub exposed_resources: usize,
    /// Every allowed act of the principal on the tenant's artifacts, by log index.
    pub touches: Vec<Touch>,
    /// Grants held on the tenant.
    pub grants: Vec<HeldGrant>,
}

/// The blast radius of a principal over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BlastRadius {
    /// The principal (as given, when id-shaped).
    pub principal: String,
    /// Window start, RFC 3339.
    pub since: String,
    /// Window end, RFC 3339, or `null` for the end of the log.
    pub until: Option<String>,
    /// The log's origin.
    pub log_origin: String,
    /// Tree size of the signed checkpoint every fact is taken under.
    pub tree_size: u64,
    /// Hex root hash of that checkpoint.
    pub root: String,
    /// Records present after the checkpoint (unsigned, not used).
    pub records_after_checkpoint: u64,
    /// Tenants with actionable exposure.
    pub exposed_tenants: usize,
    /// Tenants in the support boundary.
    pub boundary_tenants: usize,
    /// `exposed_tenants / boundary_tenants`; `None` when the boundary is empty.
    pub b_i: Option<f64>,
    /// The boundary, by tenant id.
    pub tenants: Vec<TenantReach>,
    /// Denied acts of the principal in the window, by log index.
    pub attempts: Vec<Touch>,
}

#[derive(Default)]
struct Acc {
    reasons: BTreeSet<&'static str>,
    touches: Vec<Touch>,
    grants: BTreeMap<String, u64>,
    first_index: Option<u64>,
}

/// Computes the blast radius of `principal` over `since_ms ..= until_ms` (no
/// `until_ms`: to the end of the snapshot) from the verified snapshot `log`.
///
/// # Errors
/// [`IncidentError`]; never a partial answer.
pub fn blast_radius<S: LogStore>(
    log: &VerifiedLog<S>,
    principal: &str,
    since_ms: i64,
    until_ms: Option<i64>,
) -> Result<BlastRadius, IncidentError> {
    if until_ms.is_some_and(|u| u < since_ms) {
        return Err(IncidentError::Window);
    }
    let until = until_ms.unwrap_or(i64::MAX);
    let in_window = |t: i64| (since_ms..=until).contains(&t);
    let mut tenants: BTreeMap<String, Acc> = BTreeMap::new();
    let mut attempts = Vec::new();
    // grant id -> (tenant, request index); approvals: (tenant, grant id) -> indices.
    let mut requested: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut approvals: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    log.for_each_event(&mut |i, e, _| {
        let by_principal = e.actor.principal_id == principal;
        let allowed = e.decision == Decision::Allow;
        let key = || (e.tenant.clone(), e.resource.id.clone());
        match e.kind {
            EventKind::GrantApprove
                if allowed
                    && e.time_ms <= until
                    && e.resource.kind == SERVICE_ACCOUNT_SCOPE
                    && e.resource.id == principal =>
            {
                reach(&mut tenants, &e.tenant, i).reasons.insert("scope");
            }
            EventKind::GrantApprove if allowed && e.time_ms <= until => {
                approvals.entry(key()).or_default().push(i);
            }
            EventKind::GrantRequest
                if by_principal
                    && allowed
                    && e.time_ms <= until
                    && e.time_ms >= since_ms.saturating_sub(GRANT_MAX_MS) =>
            {
                requested.entry(key()).or_insert(i);
            }
            EventKind::TokenIssue
                if by_principal
                    && allowed
                    && e.time_ms <= until
                    && e.time_ms >= since_ms.saturating_sub(TOKEN_MAX_MS) =>
            {
                reach(&mut tenants, &e.tenant, i)
                    .reasons
                    .insert("credential");
            }
            _ => {}
        }
        if !by_principal || !in_window(e.time_ms) {
            return;
        }
        if !allowed {
            attempts.push(Touch::of(i, e));
            return;
        }
        let acc = reach(&mut tenants, &e.tenant, i);
        acc.reasons.insert("acted");
        if e.kind.touches_artifact() {
            acc.touches.push(Touch::of(i, e));
        }
    })?;
    for ((tenant, grant), request_index) in requested {
        if approvals.contains_key(&(tenant.clone(), grant.clone())) {
            let acc = reach(&mut tenants, &tenant, request_index);
            acc.reasons.insert("grant");
            acc.grants.insert(grant, request_index);
        }
    }
    tenants.remove(VENDOR_TENANT);
    let reaches: Vec<TenantReach> = tenants
        .into_iter()
        .map(|(tenant, acc)| finish(tenant, acc, &approvals))
        .collect();
    let exposed = reaches.iter().filter(|r| r.exposed).count();
    let boundary = reaches.len();
    Ok(BlastRadius {
        principal: id_or_withheld(principal),
        since: rfc3339_ms(since_ms),
        until: until_ms.map(rfc3339_ms),
        log_origin: log.checkpoint().origin.clone(),
        tree_size: log.checkpoint().size,
        root: hex::encode(log.checkpoint().root),
        records_after_checkpoint: log.records_after_checkpoint(),
        exposed_tenants: exposed,
        boundary_tenants: boundary,
        #[expect(
            clippy::cast_precision_loss,
            reason = "tenant counts are far below 2^52"
        )]
        b_i: (boundary > 0).then(|| exposed as f64 / boundary as f64),
        tenants: reaches,
        attempts,
    })
}

fn reach<'a>(tenants: &'a mut BTreeMap<String, Acc>, tenant: &str, index: u64) -> &'a mut Acc {
    let acc = tenants.entry(tenant.to_owned()).or_default();
    acc.first_index = Some(acc.first_index.map_or(index, |f| f.min(index)));
    acc
}

fn finish(
    tenant: String,
    acc: Acc,
    approvals: &BTreeMap<(String, String), Vec<u64>>,
) -> TenantReach {
    let exposed: BTreeSet<(&str, &str)> = acc
        .touches
        .iter()
        .filter(|t| t.exposes)
        .map(|t| (t.resource_kind.as_str(), t.resource_id.as_str()))
        .collect();
    let shown = if crate::display::is_displayable_id(&tenant) {
        tenant.clone()
    } else {
        format!(
            "{}:{}",
            crate::display::WITHHELD,
            acc.first_index.unwrap_or_default()
        )
    };
    let grants = acc
        .grants
        .iter()
        .map(|(grant, request_index)| HeldGrant {
            grant_id: id_or_withheld(grant),
            request_index: *request_index,
            approval_indices: approvals
                .get(&(tenant.clone(), grant.clone()))
                .cloned()
                .unwrap_or_default(),
        })
        .collect();
    TenantReach {
        tenant: shown,
        reasons: acc.reasons.into_iter().collect(),
        exposed: !exposed.is_empty(),
        exposed_resources: exposed.len(),
        touches: acc.touches,
        grants,
    }
}
