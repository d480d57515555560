//! The deployment the 2023 chain meets: tenants whose admins have live sessions and
//! have uploaded real captures of those sessions to support cases, a service account
//! of the rescan function over every tenant (created through the quorum), and a
//! support agent holding approved just-in-time grants on a few cases.

use std::collections::BTreeSet;

use custody_client::Body;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::SimError;
use crate::capture;
use crate::deploy::{Deployment, Person, net};

/// One tenant: its admin (signed in), its case and the artifact its admin uploaded,
/// and the live credentials that were in the capture before it was uploaded.
pub struct TenantSite {
    /// Tenant id.
    pub id: String,
    /// The tenant's admin, still signed in.
    pub admin: Person,
    /// The support case.
    pub case_id: String,
    /// The uploaded capture.
    pub artifact_id: String,
    /// The credentials in the capture as uploaded (access token, DPoP proofs): the
    /// ground truth against which the attacker's haul is checked.
    pub planted: Vec<Zeroizing<String>>,
    /// The admin's access token in the capture (its session is live).
    pub session_token: Zeroizing<String>,
}

impl std::fmt::Debug for TenantSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantSite")
            .field("id", &self.id)
            .field("planted", &self.planted.len())
            .finish_non_exhaustive()
    }
}

/// The deployment's principals and content.
#[derive(Debug)]
pub struct World {
    /// The tenants, in creation order.
    pub tenants: Vec<TenantSite>,
    /// A support lead (approver).
    pub lead: Person,
    /// A security reviewer (approver).
    pub reviewer: Person,
    /// The service account (function `scan`, every tenant), signed in from its host.
    pub service_account: Person,
    /// The support agent, with grants on the first `granted` tenants' cases.
    pub agent: Person,
    /// How many tenants the agent holds a grant for.
    pub granted: usize,
}

/// Sets up `tenants` tenants and the vendor's principals on `d`; the agent gets
/// approved view grants on the first `grants` tenants' cases.
pub fn build(d: &Deployment, tenants: usize, grants: usize) -> Result<World, SimError> {
    let staff = |name: &str, groups: &[&str]| -> Result<Person, SimError> {
        let code = d.create(
            &d.operator,
            "/v1/principals",
            json!({"class": "support_agent", "display_name": name, "groups": groups}),
        )?;
        d.enrol(name, str_field(&code, "enrolment_code"), net::STAFF)
    };
    let lead = staff("lead", &["support_lead"])?;
    let reviewer = staff("reviewer", &["security_reviewer"])?;
    let agent_code = d.create(
        &d.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "agent", "groups": []}),
    )?;
    let agent = d.enrol(
        "agent",
        str_field(&agent_code, "enrolment_code"),
        net::AGENT,
    )?;
    let mut sites = Vec::with_capacity(tenants);
    for i in 0..tenants {
        sites.push(tenant(d, i)?);
    }
    let service_account = service_account(d, &sites, &lead, &reviewer)?;
    let granted = grants.min(sites.len());
    for site in sites.iter().take(granted) {
        grant(d, site, &agent, &lead)?;
    }
    Ok(World {
        tenants: sites,
        lead,
        reviewer,
        service_account,
        agent,
        granted,
    })
}

fn str_field<'a>(value: &'a Value, name: &str) -> &'a str {
    value.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// Tenant `i`: its admin signs in and, with the capture running, uses the console
/// (sign-in, `GET /v1/me`, opens a case, lists cases); the capture is uploaded to the
/// case as the customer would attach it.
fn tenant(d: &Deployment, i: usize) -> Result<TenantSite, SimError> {
    let created = d.create(
        &d.operator,
        "/v1/tenants",
        json!({"name": format!("Customer {i:04}")}),
    )?;
    let id = str_field(&created, "id").to_owned();
    let code = d.create(
        &d.operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": id, "display_name": format!("admin {i}")}),
    )?;
    let mut admin = d.enrol(
        &format!("admin-{i}"),
        str_field(&code, "enrolment_code"),
        net::admin(i),
    )?;
    admin.client.record();
    admin.client.login().map_err(|e| SimError::Setup {
        step: "admin sign-in".into(),
        status: 0,
        detail: e.to_string(),
    })?;
    d.expect(&admin, "GET", "/v1/me", &Body::Empty, 200)?;
    let case = d.create(
        &admin,
        &format!("/v1/tenants/{id}/cases"),
        json!({"title": "SSO login loops after upgrade"}),
    )?;
    let case_id = str_field(&case, "id").to_owned();
    d.expect(&admin, "GET", "/v1/cases", &Body::Empty, 200)?;
    let exchanges = admin.client.take_recorded();
    let mut planted = BTreeSet::new();
    for exchange in &exchanges {
        for (name, value) in &exchange.request_headers {
            if name.eq_ignore_ascii_case("authorization") {
                let token = value.split_once(' ').map_or(value.as_str(), |(_, t)| t);
                planted.insert(token.to_owned());
            } else if name.eq_ignore_ascii_case("dpop") {
                planted.insert(value.clone());
            }
        }
    }
    let session_token = Zeroizing::new(admin.client.token().unwrap_or_default().to_owned());
    planted.insert(session_token.to_string());
    let har = capture::har(&exchanges);
    let reply = admin
        .client
        .call(
            "POST",
            &format!("/v1/cases/{case_id}/artifacts"),
            &Body::Bytes(har, "application/octet-stream"),
        )
        .map_err(|e| SimError::Setup {
            step: "upload".into(),
            status: 0,
            detail: e.to_string(),
        })?;
    if reply.status != 201 {
        return Err(SimError::Setup {
            step: format!("upload of tenant {i}'s capture"),
            status: reply.status,
            detail: str_field(&reply.json(), "detail").to_owned(),
        });
    }
    let artifact_id = str_field(&reply.json(), "id").to_owned();
    Ok(TenantSite {
        id,
        admin,
        case_id,
        artifact_id,
        planted: planted.into_iter().map(Zeroizing::new).collect(),
        session_token,
    })
}

/// The rescan service account over every tenant (at most the per-account maximum):
/// requested by the operator,
/// approved by a support lead and a security reviewer, completed, enrolled from the
/// integration host, and used once for its job (a view of the first artifact).
fn service_account(
    d: &Deployment,
    sites: &[TenantSite],
    lead: &Person,
    reviewer: &Person,
) -> Result<Person, SimError> {
    // One account may name at most MAX_SERVICE_TENANTS tenants (a control of its
    // own): the stolen one covers the first of them.
    let tenants: Vec<&str> = sites
        .iter()
        .take(custody_broker::service_accounts::MAX_SERVICE_TENANTS)
        .map(|s| s.id.as_str())
        .collect();
    let request = d.create(
        &d.operator,
        "/v1/service-accounts",
        json!({"display_name": "artifact-rescan", "function": "scan", "tenants": tenants}),
    )?;
    let approval = str_field(&request, "approval_request_id").to_owned();
    d.approve(lead, &approval)?;
    d.approve(reviewer, &approval)?;
    let created = d.create(
        &d.operator,
        "/v1/service-accounts/completions",
        json!({"approval_request_id": approval}),
    )?;
    let account = d.enrol(
        "service-account",
        str_field(&created, "enrolment_code"),
        net::INTEGRATION,
    )?;
    if let Some(first) = sites.first() {
        d.expect(
            &account,
            "GET",
            &format!("/v1/artifacts/{}/view", first.artifact_id),
            &Body::Empty,
            200,
        )?;
    }
    Ok(account)
}

/// A view grant for `agent` on `site`'s case: assigned by the operator, requested
/// by the agent, approved by a support lead and the tenant's admin.
fn grant(d: &Deployment, site: &TenantSite, agent: &Person, lead: &Person) -> Result<(), SimError> {
    d.expect(
        &d.operator,
        "POST",
        &format!("/v1/cases/{}/assignments", site.case_id),
        &Body::Json(json!({"agent_id": agent.id})),
        200,
    )?;
    let requested = d.create(
        agent,
        &format!("/v1/cases/{}/grants", site.case_id),
        json!({"actions": ["artifact.view"]}),
    )?;
    let approval = str_field(&requested, "approval_request_id").to_owned();
    d.approve(lead, &approval)?;
    d.approve(&site.admin, &approval)?;
    Ok(())
}
