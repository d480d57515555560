#![doc = include_str!("../README.md")]
//!
//! Modules: [`verified`] (a log snapshot proven under one signed checkpoint:
//! [`VerifiedLog`], [`TenantSlice`], [`ProvenFact`]), [`blast`] (blast radius per
//! principal and window: [`blast_radius`], [`BlastRadius`]), [`notice`]
//! (deterministic tenant notices from reviewed templates: [`render_notice`],
//! [`Incident`]) and [`display`] (which log values may be echoed, and times).

pub mod blast;
pub mod display;
mod error;
pub mod notice;
pub mod verified;

pub use blast::{BlastRadius, blast_radius};
pub use error::{IncidentError, NoticeError};
pub use notice::{Incident, TEMPLATE_VERSIONS, derive_incident_id, render_notice};
pub use verified::{CheckpointRef, ProvenFact, TenantSlice, VerifiedLog};
