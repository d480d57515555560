//! Bundle tests: files of (request, expected decision) cases that travel inside a
//! bundle and run on `custody policy test` and on every verification.
//!
//! A test file is JSON:
//!
//! ```json
//! { "now": 1800000000,
//!   "facts": { "tenants": { "acme": { "support_mode": "on-request" } } },
//!   "cases": [
//!     { "name": "admin views own artifact",
//!       "principal": { "class": "customer_admin", "id": "alice", "tenant": "acme" },
//!       "action": "artifact.view",
//!       "resource": { "type": "artifact", "id": "a1", "case": "c1", "tenant": "acme" },
//!       "context": { "device_bound": true },
//!       "expect": "allow" } ] }
//! ```
//!
//! `context` fields: `device_bound`, `network_hash`, `risk_score`, `session_class`
//! (default: the principal's class), `grant` (a grant id), `quorum_met` (true builds
//! quorum evidence covering exactly this request), `now` (default: the file's).
//! A case may carry its own `facts`, replacing the file's.

use serde::Deserialize;

use crate::content::{BundleContent, ContentError};
use crate::engine::PolicyEngine;
use crate::model::{Action, Context, Facts, PrincipalClass, PrincipalRef, Request, ResourceRef};
use crate::quorum::{ApprovalRequest, QuorumEvidence};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    now: u64,
    #[serde(default)]
    facts: Facts,
    cases: Vec<TestCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestCase {
    name: String,
    principal: PrincipalRef,
    action: Action,
    resource: ResourceRef,
    #[serde(default)]
    context: TestContext,
    #[serde(default)]
    facts: Option<Facts>,
    expect: Expect,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TestContext {
    #[serde(default)]
    device_bound: bool,
    #[serde(default)]
    network_hash: String,
    #[serde(default)]
    risk_score: u32,
    #[serde(default)]
    session_class: Option<PrincipalClass>,
    #[serde(default)]
    grant: Option<String>,
    #[serde(default)]
    quorum_met: bool,
    #[serde(default)]
    now: Option<u64>,
}

/// The expected outcome of a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

/// One failing case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestFailure {
    /// The test file.
    pub file: String,
    /// The case name.
    pub name: String,
    /// What the case expected.
    pub expected: Expect,
    /// The determining policies of the actual decision.
    pub policies: Vec<String>,
    /// Errors of the actual decision.
    pub errors: Vec<String>,
}

/// The outcome of a bundle's tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestReport {
    total: usize,
    failures: Vec<TestFailure>,
}

impl TestReport {
    /// Cases run.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Cases that did not get their expected decision.
    pub fn failures(&self) -> &[TestFailure] {
        &self.failures
    }
}

/// Why tests could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// The content does not compile.
    #[error(transparent)]
    Content(#[from] ContentError),
    /// A test file does not parse.
    #[error("{file}: line {line} column {column}: {reason}")]
    File {
        /// The file.
        file: String,
        /// Line.
        line: usize,
        /// Column.
        column: usize,
        /// What is wrong.
        reason: String,
    },
}

/// Runs every test file of `content` against its own (unverified) policies.
///
/// # Errors
/// [`TestError`] when the content does not compile or a test file does not parse.
pub fn run_tests(content: &BundleContent) -> Result<TestReport, TestError> {
    let engine = PolicyEngine::dangerous_from_unverified(content)?;
    let mut report = TestReport::default();
    for (file, text) in &content.tests {
        let parsed: TestFile = serde_json::from_str(text).map_err(|err| TestError::File {
            file: file.clone(),
            line: err.line(),
            column: err.column(),
            reason: err.to_string(),
        })?;
        for case in parsed.cases {
            report.total = report.total.saturating_add(1);
            let request = case_request(&case, parsed.now);
            let facts = case.facts.as_ref().unwrap_or(&parsed.facts);
            let decision = engine.authorize(&request, facts);
            let got = if decision.is_allowed() {
                Expect::Allow
            } else {
                Expect::Deny
            };
            if got != case.expect {
                report.failures.push(TestFailure {
                    file: file.clone(),
                    name: case.name.clone(),
                    expected: case.expect,
                    policies: decision.diagnostics().policies().to_vec(),
                    errors: decision.diagnostics().errors().to_vec(),
                });
            }
        }
    }
    Ok(report)
}

fn case_request(case: &TestCase, file_now: u64) -> Request {
    let now = case.context.now.unwrap_or(file_now);
    let mut request = Request {
        principal: case.principal.clone(),
        action: case.action,
        resource: case.resource.clone(),
        context: Context {
            device_bound: case.context.device_bound,
            network_hash: case.context.network_hash.clone(),
            risk_score: case.context.risk_score,
            now,
            session_class: Some(case.context.session_class.unwrap_or(case.principal.class)),
            grant: case.context.grant.clone(),
            quorum: None,
        },
    };
    if case.context.quorum_met {
        request.context.quorum = Some(QuorumEvidence::for_tests(covering(&request)));
    }
    request
}

/// An approval request that exactly covers `request` (for `quorum_met: true`).
fn covering(request: &Request) -> ApprovalRequest {
    let mut approval = ApprovalRequest {
        action: request.action,
        tenant: "vendor".to_owned(),
        artifact_ids: Default::default(),
        parameters: Default::default(),
        requester: request.principal.id.clone(),
        expires_at: request.context.now.saturating_add(60),
    };
    let (name, value) = match &request.resource {
        ResourceRef::Artifact { id, tenant, .. } => {
            approval.tenant = tenant.clone();
            approval.artifact_ids.insert(id.clone());
            return approval;
        }
        ResourceRef::Tenant { id } => {
            approval.tenant = id.clone();
            return approval;
        }
        ResourceRef::Principal(principal) => ("principal", &principal.id),
        ResourceRef::PolicyBundle { id } => ("bundle", id),
        ResourceRef::Grant { id } => ("grant", id),
        ResourceRef::Case { id } => ("case", id),
        ResourceRef::Device { id } => ("device", id),
    };
    approval.parameters.insert(name.to_owned(), value.clone());
    approval
}
