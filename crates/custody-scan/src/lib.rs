#![doc = include_str!("../README.md")]
//!
//! Main types: [`Scanner`] (catalogue + automaton; [`Scanner::scan`] over free bytes,
//! [`Scanner::scan_field`] over a value in a known [`Field`]), [`Match`], [`Rule`],
//! [`Class`], [`Confidence`], [`Redactor`] and [`is_marker`], [`Finding`] and
//! [`Location`], and the [`report`] renderers.
//!
//! This crate is pure: no I/O, no clock, no randomness (the [`Redactor`] key comes
//! from the caller). No type here holds or prints a secret: [`Match`] is a span,
//! [`Finding`] holds a marker.

mod auth;
mod catalogue;
mod engine;
mod field;
mod finding;
mod lexer;
mod redact;
pub mod report;
mod rule;
pub mod validate;

pub use engine::{Match, Scanner};
pub use field::Field;
pub use finding::{Finding, Location, line_col, preview};
pub use redact::{Redactor, is_marker};
pub use rule::{Class, Confidence, Rule};
