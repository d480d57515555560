#![doc = include_str!("../README.md")]
//!
//! Modules: [`event`] (event model, OCSF mapping, canonical JSON), [`merkle`]
//! (RFC 6962 tree and proofs), [`note`] (C2SP signed notes), [`checkpoint`]
//! (tlog checkpoints, key chain), [`record`] (compact leaf encoding), [`store`] (durable storage trait and segment
//! files), [`log`] (writer with group commit and checkpointer), [`reader`]
//! (proofs, exports, tails) and [`verify`] (offline verification).

pub mod checkpoint;
pub mod event;
pub mod log;
pub mod merkle;
pub mod note;
pub mod reader;
pub mod record;
pub mod store;
pub mod verify;
