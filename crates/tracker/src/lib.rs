//! The collection service: CloudTrail Event history into the event store, losing nothing.
//!
//! [`collect`] runs once over a set of streams ([`plan::streams`]); the Lambda and `iat collect`
//! call it with their own ports, clock and deadline. The one decision to know: a checkpoint
//! means "complete up to T" ([`coverage`]) and only moves when everything up to T is stored;
//! every run re-scans an overlap window before it for events delivered late.

pub mod collect;
pub mod coverage;
#[cfg(feature = "testkit")]
pub mod model;
mod pace;
pub mod plan;
#[cfg(feature = "testkit")]
pub mod testing;

pub use collect::{
    CollectConfig, Deadline, DeadlineAt, NoDeadline, Ports, RunReport, StreamReport, collect,
    collect_with_progress,
};
pub use plan::{StreamOptions, StreamSpec, streams};
