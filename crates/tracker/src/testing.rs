//! Test helpers (feature `testkit`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::Deadline;

/// A deadline that allows `n` more requests, then reports no time left: a run cut at a chosen
/// point, as by Lambda's timeout.
#[derive(Debug)]
pub struct Countdown(AtomicUsize);

impl Countdown {
    pub fn new(requests: usize) -> Self {
        Self(AtomicUsize::new(requests))
    }
}

impl Deadline for Countdown {
    fn remaining(&self) -> Duration {
        match self.0.load(Ordering::SeqCst) {
            0 => Duration::ZERO,
            n => {
                self.0.store(n - 1, Ordering::SeqCst);
                Duration::MAX
            }
        }
    }
}
