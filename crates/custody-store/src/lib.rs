#![doc = include_str!("../README.md")]
//!
//! Main types:
//!
//! - [`Store`]: async, cheap to clone; `open_sqlite` / `open_postgres` / `open` run the
//!   backend's embedded migrations. Every query is written once and runs on both
//!   backends. Records and their inputs are in [`model`]; ids in [`id`].
//! - [`BlobStore`]: blocking, streaming, atomic publication of immutable blobs.
//! - [`StoreError`]: one error type, with `NotFound` / `Conflict` / `Expired` distinct.

mod auth;
mod blob;
mod cases;
mod containment;
mod db;
mod error;
mod exports;
mod grants;
pub mod id;
pub mod model;
mod tenants;
mod view_index;

pub use blob::{BlobError, BlobKey, BlobStore, BlobWriter};
pub use containment::ExportFreeze;
pub use db::Store;
pub use error::{BackendError, IdError, StoreError};
pub use id::{
    ApprovalRequestId, ArtifactId, CaseId, DataKeyId, DeviceId, ExportId, GrantId, PrincipalId,
    SessionId, TenantId,
};
pub use model::{
    Approval, ApprovalRequest, ApprovalStatus, Artifact, ArtifactKind, Case, Device, DeviceStatus,
    Digest, EnrolmentCode, Export, ExportState, Grant, GrantStatus, NewApproval,
    NewApprovalRequest, NewArtifact, NewCase, NewDevice, NewExport, NewGrant, NewPrincipal,
    NewSession, NewTenant, Principal, PrincipalClass, ReleaseClaim, ServiceScope, Session,
    SignInChallenge, SupportMode, Tenant, TenantDataKey,
};
pub use view_index::MAX_VIEW_INDEX;
