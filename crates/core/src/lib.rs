//! The pure domain of the IAM Activity Tracker.
//!
//! This crate owns what a CloudTrail event *means*: the lenient record shape ([`record`]), its
//! normalisation into one [`ActivityEvent`] ([`normalize`]), which policy layer denied a call
//! ([`denial`]), which events are noise ([`filter`]), which events are alerts ([`rules`]), time windows ([`time`]) and the ports every
//! backend implements ([`ports`]), each with an in-memory implementation.
//!
//! The one decision to know: nothing here reads the clock, the environment or the network. Time
//! and configuration come in as values, so every function is testable with plain data.

pub mod alert;
pub mod denial;
pub mod error;
pub mod filter;
pub mod glob;
pub mod model;
pub mod normalize;
pub mod ports;
pub mod record;
pub mod rules;
pub mod scope;
pub mod seen;
pub mod time;
pub mod trail;

#[cfg(any(test, feature = "testkit"))]
pub mod contract;

pub use denial::{DenialLayer, DenyKind};
pub use error::{BoxError, Error};
pub use filter::{FilterReason, NoiseFilter};
pub use model::{
    AccountId, ActivityEvent, ConsoleLogin, ConsoleLoginOutcome, DEFAULT_REGIONS, EventId,
    EventType, Principal, PrincipalType, Region, Resource, RuleId, Severity, SourceIp, StreamKey,
};
pub use normalize::Rejected;
pub use normalize::{Normalized, RecordLimits, Triage, normalize, triage};
pub use time::TimeWindow;
