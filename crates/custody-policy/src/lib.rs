#![doc = include_str!("../README.md")]
//!
//! Modules: [`model`] (request, facts, decision: our own types), [`engine`]
//! (`PolicyEngine::authorize`, total), [`content`] (schema + policies + tests,
//! digest, strict compilation), [`bundle`] (manifests, signatures, trust root,
//! verifier), [`keys`] (Ed25519 release and approver keys), [`quorum`] (M-of-N AND
//! approvals), [`grant`] (just-in-time grants), [`testing`] (bundle tests) and
//! [`diff`] (bundle diffs). No Cedar type appears in the public API.

pub mod bundle;
pub mod content;
pub mod diff;
pub mod engine;
pub mod grant;
pub mod keys;
pub mod model;
pub mod quorum;
pub mod testing;

pub use bundle::{BundleError, BundleVerifier, SignedBundle, TrustRoot, VerifiedBundle};
pub use content::{BundleContent, ContentError};
pub use engine::{ActivateError, PolicyEngine};
pub use grant::{GrantError, GrantRequest};
pub use keys::{PublicKey, SigningKey};
pub use model::{
    Action, CaseFacts, Context, Decision, DeviceFacts, Diagnostics, Facts, GrantFacts,
    PrincipalClass, PrincipalRef, Request, ResourceRef, ServiceAccountFacts, SupportMode,
    TenantFacts,
};
pub use quorum::{
    Approval, ApprovalRequest, ApproverGroup, QuorumConfig, QuorumEvidence, QuorumRule,
};
