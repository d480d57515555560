//! The generated authorization matrix (issue 5, item 6): every combination of principal
//! class, route, tenant relation and agent grant state is called through the public
//! HTTP API of a real server, and the outcome is compared with [`expected`], a small
//! rule function written from DESIGN.md §7 and docs/server.md (not from observed
//! behaviour). A deny must be exactly `403 forbidden`: every resource in the matrix
//! exists, and the API does not hide existence behind 404 (ids are 128 random bits, so
//! a 403 tells nothing a caller could not already name). See docs/server.md,
//! "Authorization matrix".
#![allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test code indexes JSON values; a failed step must fail the test"
)]

mod common;

use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use custody_client::{Body, Reply};
use serde_json::{Value, json};

/// A tenant of the matrix: the customer admins' own (A) and the other one (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// The cases: A1 is the one agents are assigned to and hold grants for; A2 is another
/// case of the same tenant (nobody assigned, no grant); B is the other tenant's case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaseRef {
    A1,
    A2,
    B,
}

impl CaseRef {
    const ALL: [Self; 3] = [Self::A1, Self::A2, Self::B];

    fn side(self) -> Side {
        match self {
            Self::A1 | Self::A2 => Side::A,
            Self::B => Side::B,
        }
    }
}

/// An agent's standing on case A1 (never on A2 or B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantState {
    /// Not assigned to any case, no grant (the second agent, a support lead).
    Unassigned,
    /// Assigned to A1, no grant.
    None,
    /// Assigned to A1, grant for `artifact.view` requested, not approved.
    Requested,
    /// Assigned to A1, grant for `artifact.view` approved by the quorum, active.
    Approved,
    /// Assigned to A1, grant approved and then expired.
    Expired,
}

impl GrantState {
    const ALL: [Self; 5] = [
        Self::Unassigned,
        Self::None,
        Self::Requested,
        Self::Approved,
        Self::Expired,
    ];
}

/// A principal class, with its tenant or grant state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Who {
    Operator,
    Admin(Side),
    Agent(GrantState),
}

impl Who {
    fn all() -> Vec<Self> {
        let mut all = vec![Self::Operator, Self::Admin(Side::A), Self::Admin(Side::B)];
        all.extend(GrantState::ALL.into_iter().map(Self::Agent));
        all
    }
}

/// The routes of the matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    OpenCase,
    ReadCase,
    ListArtifacts,
    Upload,
    View,
    Download,
    RequestGrant,
    Assign,
    CreateTenant,
    CreatePrincipal,
    SetSupportMode,
}

impl Route {
    const ALL: [Self; 11] = [
        Self::OpenCase,
        Self::ReadCase,
        Self::ListArtifacts,
        Self::Upload,
        Self::View,
        Self::Download,
        Self::RequestGrant,
        Self::Assign,
        Self::CreateTenant,
        Self::CreatePrincipal,
        Self::SetSupportMode,
    ];

    /// Every target the route takes: its tenant relation.
    fn targets(self) -> Vec<Target> {
        let tenants = [Target::Tenant(Side::A), Target::Tenant(Side::B)];
        match self {
            Self::OpenCase | Self::SetSupportMode => tenants.to_vec(),
            Self::CreateTenant => vec![Target::Vendor],
            // A support agent (no tenant) or a customer admin of A or of B.
            Self::CreatePrincipal => vec![Target::Vendor, tenants[0], tenants[1]],
            _ => CaseRef::ALL.into_iter().map(Target::Case).collect(),
        }
    }
}

/// What a route acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    /// Nothing of a tenant's (vendor administration).
    Vendor,
    Tenant(Side),
    /// The case, or for view and download the artifact stored in it.
    Case(CaseRef),
}

impl Target {
    fn side(self) -> Option<Side> {
        match self {
            Self::Vendor => None,
            Self::Tenant(side) => Some(side),
            Self::Case(case) => Some(case.side()),
        }
    }
}

/// An outcome class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Allow,
    Deny,
    /// Neither a 2xx nor a 403 (the status is in the table).
    Other,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
            Self::Other => "other",
        })
    }
}

/// The rule, from DESIGN §7 and docs/server.md:
/// - operators run the vendor side (tenants, principals, assignments) and hold no
///   access to tenant data or artifacts, nor to a tenant's support mode;
/// - a customer admin acts only in their own tenant: opens and reads its cases, lists,
///   uploads, views and downloads its artifacts, sets its support mode; never vendor
///   administration, never a grant;
/// - a support agent holds no standing access: a grant can be requested only for a
///   case assigned to them; only an approved, unexpired grant naming the action and
///   the case opens that action on that case. The grants here name `artifact.view`
///   only, so reading the case and listing its artifacts (a case read) stay closed;
///   agents never download, upload, open cases or administer anything.
fn expected(who: Who, route: Route, target: Target) -> Outcome {
    let allowed = match who {
        Who::Operator => matches!(
            route,
            Route::CreateTenant | Route::CreatePrincipal | Route::Assign
        ),
        Who::Admin(own) => {
            target.side() == Some(own)
                && matches!(
                    route,
                    Route::OpenCase
                        | Route::ReadCase
                        | Route::ListArtifacts
                        | Route::Upload
                        | Route::View
                        | Route::Download
                        | Route::SetSupportMode
                )
        }
        Who::Agent(state) => {
            let on_a1 = target == Target::Case(CaseRef::A1);
            match route {
                Route::RequestGrant => on_a1 && state != GrantState::Unassigned,
                Route::View => on_a1 && state == GrantState::Approved,
                _ => false,
            }
        }
    };
    if allowed {
        Outcome::Allow
    } else {
        Outcome::Deny
    }
}

/// The built world: every principal, case, artifact and grant of the matrix.
struct Matrix {
    w: World,
    admin_b: Person,
    /// The agents by grant state; the world's own agent is [`GrantState::None`].
    agents: Vec<(GrantState, Person)>,
    cases: Vec<(CaseRef, String)>,
    artifacts: Vec<(CaseRef, String)>,
    /// A support agent (never enrolled) that the assignment cells assign.
    spare_agent: String,
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn new_agent(w: &World, name: &str, groups: Value) -> Person {
    let code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": name, "groups": groups}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    enrol_and_login(&w.server, w.root.path(), name, &code)
}

/// Requests an `artifact.view` grant on `case` for `agent` and, when `approvers` are
/// given, has each approve it; returns the grant as the last reply showed it.
fn grant(agent: &Person, case: &str, lifetime: Option<u64>, approvers: &[&Person]) -> Value {
    let mut body = json!({"actions": ["artifact.view"]});
    if let Some(secs) = lifetime {
        body["lifetime_secs"] = json!(secs);
    }
    let view = create(agent, &format!("/v1/cases/{case}/grants"), body);
    let approval = view["approval_request_id"].as_str().unwrap().to_owned();
    let mut grant = view["grant"].clone();
    for approver in approvers {
        let reply = approver
            .client
            .approve(&approval, &approver.id, &pop_secret(&approver.device_dir))
            .unwrap();
        assert_eq!(reply.status, 200, "approve: {:?}", reply.json());
        grant = reply.json()["grant"].clone();
    }
    grant
}

fn build() -> Matrix {
    let w = world();
    let admin_b_code = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "customer_admin", "tenant_id": w.other_tenant, "display_name": "Bea Admin"}),
    )["enrolment_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let admin_b = enrol_and_login(&w.server, w.root.path(), "admin-b", &admin_b_code);
    let lead = new_agent(&w, "lead", json!(["support_lead"]));
    let requested = new_agent(&w, "requested", json!([]));
    let approved = new_agent(&w, "approved", json!([]));
    let expired = new_agent(&w, "expired", json!([]));
    let spare_agent = create(
        &w.operator,
        "/v1/principals",
        json!({"class": "support_agent", "display_name": "Spare"}),
    )["principal"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let open = |admin: &Person, tenant: &str| {
        create(
            admin,
            &format!("/v1/tenants/{tenant}/cases"),
            json!({"title": "matrix"}),
        )["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let a1 = open(&w.admin, &w.tenant);
    let a2 = open(&w.admin, &w.tenant);
    let b = open(&admin_b, &w.other_tenant);
    for agent in [&w.agent, &requested, &approved, &expired] {
        let reply = json_call(
            &w.operator,
            "POST",
            &format!("/v1/cases/{a1}/assignments"),
            json!({"agent_id": agent.id}),
        );
        assert_eq!(reply.status, 200, "assign: {:?}", reply.json());
    }
    // The shortest grant first, so that it expires while the rest is built.
    let short = grant(&expired, &a1, Some(2), &[&lead, &w.admin]);
    assert_eq!(
        short["status"], "approved",
        "the short grant must be approved"
    );
    let expires_at = short["expires_at"].as_f64().unwrap();
    let long = grant(&approved, &a1, None, &[&lead, &w.admin]);
    assert_eq!(long["status"], "approved");
    let pending = grant(&requested, &a1, None, &[]);
    assert_eq!(pending["status"], "requested");

    let artifacts = vec![
        (
            CaseRef::A1,
            upload(&w.admin, &a1)["id"].as_str().unwrap().to_owned(),
        ),
        (
            CaseRef::A2,
            upload(&w.admin, &a2)["id"].as_str().unwrap().to_owned(),
        ),
        (
            CaseRef::B,
            upload(&admin_b, &b)["id"].as_str().unwrap().to_owned(),
        ),
    ];
    // The server compares whole seconds: `expires_at > now` is false from `expires_at` on.
    let wait = expires_at + 0.2 - now_secs();
    if wait > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(wait));
    }
    Matrix {
        w,
        admin_b,
        agents: vec![
            (GrantState::Unassigned, lead),
            (GrantState::Requested, requested),
            (GrantState::Approved, approved),
            (GrantState::Expired, expired),
        ],
        cases: vec![(CaseRef::A1, a1), (CaseRef::A2, a2), (CaseRef::B, b)],
        artifacts,
        spare_agent,
    }
}

impl Matrix {
    fn person(&self, who: Who) -> &Person {
        match who {
            Who::Operator => &self.w.operator,
            Who::Admin(Side::A) => &self.w.admin,
            Who::Admin(Side::B) => &self.admin_b,
            Who::Agent(GrantState::None) => &self.w.agent,
            Who::Agent(state) => {
                &self
                    .agents
                    .iter()
                    .find(|(s, _)| *s == state)
                    .unwrap_or_else(|| panic!("no agent in state {state:?}"))
                    .1
            }
        }
    }

    fn tenant(&self, side: Side) -> &str {
        match side {
            Side::A => &self.w.tenant,
            Side::B => &self.w.other_tenant,
        }
    }

    fn case(&self, case: CaseRef) -> &str {
        &self.cases.iter().find(|(c, _)| *c == case).unwrap().1
    }

    fn artifact(&self, case: CaseRef) -> &str {
        &self.artifacts.iter().find(|(c, _)| *c == case).unwrap().1
    }

    /// Calls `route` on `target` as `who`.
    fn call(&self, who: Who, route: Route, target: Target) -> Reply {
        let person = self.person(who);
        let json = |method: &str, path: String, body: Value| json_call(person, method, &path, body);
        let get = |path: String| person.client.call("GET", &path, &Body::Empty).unwrap();
        match (route, target) {
            (Route::OpenCase, Target::Tenant(side)) => json(
                "POST",
                format!("/v1/tenants/{}/cases", self.tenant(side)),
                json!({"title": "matrix cell"}),
            ),
            (Route::SetSupportMode, Target::Tenant(side)) => json(
                "PUT",
                format!("/v1/tenants/{}/support-mode", self.tenant(side)),
                // The mode every tenant already has: the cell changes nothing.
                json!({"mode": "on-request"}),
            ),
            (Route::CreateTenant, Target::Vendor) => json(
                "POST",
                "/v1/tenants".to_owned(),
                json!({"name": "Matrix Tenant"}),
            ),
            (Route::CreatePrincipal, Target::Vendor) => json(
                "POST",
                "/v1/principals".to_owned(),
                json!({"class": "support_agent", "display_name": "Matrix Agent"}),
            ),
            (Route::CreatePrincipal, Target::Tenant(side)) => json(
                "POST",
                "/v1/principals".to_owned(),
                json!({"class": "customer_admin", "tenant_id": self.tenant(side),
                       "display_name": "Matrix Admin"}),
            ),
            (Route::ReadCase, Target::Case(case)) => get(format!("/v1/cases/{}", self.case(case))),
            (Route::ListArtifacts, Target::Case(case)) => {
                get(format!("/v1/cases/{}/artifacts", self.case(case)))
            }
            (Route::Upload, Target::Case(case)) => person
                .client
                .call(
                    "POST",
                    &format!("/v1/cases/{}/artifacts?name=notes.txt", self.case(case)),
                    &Body::Bytes(
                        b"The sign-in page loops after the redirect.\n".to_vec(),
                        "text/plain",
                    ),
                )
                .unwrap(),
            (Route::View, Target::Case(case)) => {
                get(format!("/v1/artifacts/{}/view", self.artifact(case)))
            }
            (Route::Download, Target::Case(case)) => {
                get(format!("/v1/artifacts/{}/download", self.artifact(case)))
            }
            (Route::RequestGrant, Target::Case(case)) => json(
                "POST",
                format!("/v1/cases/{}/grants", self.case(case)),
                json!({"actions": ["artifact.view"]}),
            ),
            (Route::Assign, Target::Case(case)) => json(
                "POST",
                format!("/v1/cases/{}/assignments", self.case(case)),
                // An agent who never calls: the cell changes no caller's standing.
                json!({"agent_id": self.spare_agent}),
            ),
            (route, target) => panic!("no call for {route:?} on {target:?}"),
        }
    }
}

/// One cell of the matrix and what it gave.
struct Cell {
    who: Who,
    route: Route,
    target: Target,
    expected: Outcome,
    got: Outcome,
    status: u16,
}

fn outcome(status: u16, problem: Option<&str>) -> Outcome {
    match status {
        200..=299 => Outcome::Allow,
        403 if problem == Some("urn:custody:problem:forbidden") => Outcome::Deny,
        _ => Outcome::Other,
    }
}

fn table(cells: &[&Cell]) -> String {
    let mut out = String::new();
    for c in cells {
        let mark = if c.expected == c.got {
            ""
        } else {
            "  <-- MISMATCH"
        };
        writeln!(
            out,
            "{:<20} {:<16} {:<14} expected {:<5} got {:<5} ({}){mark}",
            format!("{:?}", c.who),
            format!("{:?}", c.route),
            format!("{:?}", c.target),
            c.expected,
            c.got,
            c.status,
        )
        .unwrap();
    }
    out
}

/// A cell crosses tenants when a customer admin acts on the other tenant, or a
/// support agent (whose assignments and grants are all in A) acts on B.
fn cross_tenant(who: Who, target: Target) -> bool {
    match (who, target.side()) {
        (Who::Admin(own), Some(side)) => own != side,
        (Who::Agent(_), Some(side)) => side == Side::B,
        _ => false,
    }
}

/// Calls every cell of the matrix, generated as the product of principals, routes
/// and each route's targets.
fn run(m: &Matrix) -> Vec<Cell> {
    let mut cells = Vec::new();
    for who in Who::all() {
        for route in Route::ALL {
            for target in route.targets() {
                let reply = m.call(who, route, target);
                cells.push(Cell {
                    who,
                    route,
                    target,
                    expected: expected(who, route, target),
                    got: outcome(reply.status, reply.problem_type().as_deref()),
                    status: reply.status,
                });
            }
        }
    }
    cells
}

#[test]
fn every_principal_route_tenant_and_grant_state_gets_the_expected_decision() {
    let m = build();
    let cells = run(&m);
    // The generator covered the whole product (8 principals x 29 route targets).
    let per_principal: usize = Route::ALL.iter().map(|r| r.targets().len()).sum();
    assert_eq!(cells.len(), Who::all().len() * per_principal);
    assert_eq!(cells.len(), 8 * 29);

    let wrong: Vec<&Cell> = cells.iter().filter(|c| c.expected != c.got).collect();
    let all: Vec<&Cell> = cells.iter().collect();
    assert!(
        wrong.is_empty(),
        "{} of {} cells differ from the rule:\n{}\nfull matrix:\n{}",
        wrong.len(),
        cells.len(),
        table(&wrong),
        table(&all)
    );

    // Independently of the rule: every cross-tenant cell was denied by the server.
    let crossing: Vec<&Cell> = cells
        .iter()
        .filter(|c| cross_tenant(c.who, c.target))
        .collect();
    assert!(
        crossing.len() >= 60,
        "cross-tenant cells: {}",
        crossing.len()
    );
    let open: Vec<&Cell> = crossing
        .iter()
        .copied()
        .filter(|c| c.got != Outcome::Deny)
        .collect();
    assert!(
        open.is_empty(),
        "cross-tenant cells not denied:\n{}",
        table(&open)
    );
    // And an agent's grant opens nothing beyond its own case: nothing on A2 either.
    let beside: Vec<&Cell> = cells
        .iter()
        .filter(|c| {
            matches!(c.who, Who::Agent(_))
                && c.target == Target::Case(CaseRef::A2)
                && c.got != Outcome::Deny
        })
        .collect();
    assert!(
        beside.is_empty(),
        "agent cells open on A2:\n{}",
        table(&beside)
    );
    // The matrix has both outcomes for agents on A1 (so the deny cells are not vacuous).
    assert!(
        cells
            .iter()
            .any(|c| c.who == Who::Agent(GrantState::Approved)
                && c.route == Route::View
                && c.got == Outcome::Allow)
    );
}
