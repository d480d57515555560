#![doc = include_str!("../README.md")]
//!
//! Modules: [`signal`] (the input), [`bus`] (transport and schema), [`watch`] (the
//! engine), [`detect`] (the detectors and their configuration), [`finding`]
//! (findings and their audit form), [`response`] (policy, containment, responder),
//! [`metrics`] (Prometheus), [`geo`] (GeoIP) and [`clock`] (injected time).

pub mod bus;
pub mod clock;
pub mod detect;
pub mod finding;
pub mod geo;
pub mod metrics;
pub mod response;
pub mod signal;
mod state;
pub mod watch;

pub use bus::{LocalBus, LocalPublisher, Subscription, Transport, TransportError};
pub use clock::{Clock, ManualClock, SystemClock};
pub use detect::access::{AccessConfig, Threshold};
pub use detect::admin::{AdminDeviceConfig, FirstDevice};
pub use detect::hijack::HijackConfig;
pub use detect::rate::{Envelope, RateConfig};
pub use detect::travel::TravelConfig;
pub use finding::{AuditMeta, Evidence, Finding, FindingKind, Severity};
pub use geo::{GeoLocator, MaxMindLocator};
pub use metrics::WatchMetrics;
pub use response::{
    Action, Containment, Incident, Responder, ResponseError, ResponsePolicy, Target,
};
pub use signal::{GeoPoint, Happening, PrincipalClass, RefusalReason, RequestContext, Signal};
pub use watch::{ConfigError, Respond, RunSummary, StateReport, Watch, WatchConfig};
