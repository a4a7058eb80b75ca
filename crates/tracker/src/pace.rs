//! An account and region's request pace.
//!
//! LookupEvents allows 2 requests a second per account and region, and that allowance is shared
//! with every other caller there: another tool polling Event history, a person on the console's
//! Event history page, a second deployment. A fixed pace at the limit is throttled on every other
//! request while someone else takes half; a fixed pace well below it wastes the allowance when
//! nobody does. So the pace starts at the configured rate, falls by a fifth when the service
//! pushes back (a throttle, or a page the client had to retry), and climbs back by a hundredth of
//! the configured rate with each page answered at once: additive increase, multiplicative
//! decrease, as TCP's congestion control does (the AWS SDKs' adaptive retry mode cuts too, and
//! climbs back along a cubic).
//!
//! Requests take slots in turn, spaced by the current rate, so there is no burst after a quiet
//! spell. Requests already waiting for slots paced at a rate that has since been cut were sent
//! too close together for the new one: a pushback from one of them does not cut the rate again.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Kept of the rate when the service pushes back.
const DECREASE: f64 = 0.8;
/// Fraction of the configured rate regained with each page answered at once.
const INCREASE: f64 = 0.01;
/// The pace never falls below this fraction of the configured rate.
const FLOOR: f64 = 0.05;

pub(crate) struct Pace {
    max: f64,
    state: Mutex<State>,
}

struct State {
    rate: f64,
    /// When the next slot is free.
    next: Instant,
    /// Bumped at every cut: slots taken before it were spaced for the old rate.
    generation: u64,
}

/// A request's place in the pace, to report how the service answered it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    generation: u64,
}

impl Pace {
    /// A pace of at most `max` requests a second (positive).
    pub(crate) fn new(max: f64) -> Self {
        Self {
            max,
            state: Mutex::new(State {
                rate: max,
                next: Instant::now(),
                generation: 0,
            }),
        }
    }

    /// Waits for the next free slot at the current rate.
    pub(crate) async fn until_ready(&self) -> Slot {
        let (at, generation) = {
            let mut s = self.state.lock().unwrap();
            let at = s.next.max(Instant::now());
            s.next = at + Duration::from_secs_f64(1.0 / s.rate);
            (at, s.generation)
        };
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
        Slot { generation }
    }

    /// The service answered the request at once.
    pub(crate) fn answered(&self) {
        let mut s = self.state.lock().unwrap();
        s.rate = (s.rate + self.max * INCREASE).min(self.max);
    }

    /// The service pushed back on the request in `slot`, which the client sent `retries` more
    /// times before it answered: those attempts took slots of the allowance too, so they are
    /// charged to the pace's next ones.
    pub(crate) fn pushed_back(&self, slot: Slot, retries: u32) {
        let mut s = self.state.lock().unwrap();
        if retries > 0 {
            let now = Instant::now();
            s.next = s.next.max(now) + Duration::from_secs_f64(f64::from(retries) / s.rate);
        }
        if slot.generation == s.generation {
            s.rate = (s.rate * DECREASE).max(self.max * FLOOR);
            s.generation += 1;
        }
    }

    /// Requests a second now.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        self.state.lock().unwrap().rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends `n` requests one after another and returns how long they took.
    async fn send(pace: &Pace, n: usize) -> Duration {
        let start = Instant::now();
        for _ in 0..n {
            pace.until_ready().await;
            pace.answered();
        }
        start.elapsed()
    }

    #[tokio::test(start_paused = true)]
    async fn slots_are_spaced_by_the_rate_with_no_burst_after_a_quiet_spell() {
        let pace = Pace::new(2.0);
        // The first at once, then one every half second.
        assert_eq!(send(&pace, 5).await, Duration::from_secs(2));
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(send(&pace, 3).await, Duration::from_millis(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_requests_take_slots_in_turn() {
        let pace = std::sync::Arc::new(Pace::new(2.0));
        let start = Instant::now();
        let waits: Vec<_> = (0..4)
            .map(|_| {
                let pace = pace.clone();
                tokio::spawn(async move {
                    pace.until_ready().await;
                    start.elapsed()
                })
            })
            .collect();
        let mut at = Vec::new();
        for w in waits {
            at.push(w.await.unwrap());
        }
        at.sort();
        let ms: Vec<u128> = at.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 500, 1000, 1500]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_pushback_cuts_the_rate_once_for_the_requests_already_paced() {
        let pace = Pace::new(2.0);
        let slots = [
            pace.until_ready().await,
            pace.until_ready().await,
            pace.until_ready().await,
        ];
        for slot in slots {
            pace.pushed_back(slot, 0);
        }
        assert!((pace.rate() - 1.6).abs() < 1e-9, "{}", pace.rate());
        // A request paced at the cut rate that is pushed back too cuts it again.
        let slot = pace.until_ready().await;
        pace.pushed_back(slot, 0);
        assert!((pace.rate() - 1.28).abs() < 1e-9, "{}", pace.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_climbs_back_to_the_configured_one_and_no_further() {
        let pace = Pace::new(2.0);
        let slot = pace.until_ready().await;
        pace.pushed_back(slot, 0);
        // 1.6 a second back to 2 in twenty answered requests.
        for i in 0..20 {
            assert!(pace.rate() < 2.0 - 1e-9, "back after {i}");
            pace.answered();
        }
        assert!((pace.rate() - 2.0).abs() < 1e-9);
        pace.answered();
        assert!((pace.rate() - 2.0).abs() < 1e-9);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_has_a_floor() {
        let pace = Pace::new(2.0);
        for _ in 0..100 {
            let slot = pace.until_ready().await;
            pace.pushed_back(slot, 0);
        }
        assert!((pace.rate() - 0.1).abs() < 1e-9, "{}", pace.rate());
    }

    /// Against a service that allows `allowed` a second (a token bucket of 2, as CloudTrail's
    /// own is taken to be) and one caller at `max`, the share of requests throttled.
    async fn throttled_share(max: f64, allowed: f64, adapt: bool) -> f64 {
        let pace = Pace::new(max);
        let start = Instant::now();
        let (mut tokens, mut last) = (2.0_f64, start);
        let (mut sent, mut throttled) = (0u32, 0u32);
        while start.elapsed() < Duration::from_secs(300) {
            let slot = pace.until_ready().await;
            let now = Instant::now();
            tokens = (tokens + (now - last).as_secs_f64() * allowed).min(2.0);
            last = now;
            sent += 1;
            if tokens >= 1.0 {
                tokens -= 1.0;
                pace.answered();
            } else {
                throttled += 1;
                if adapt {
                    pace.pushed_back(slot, 0);
                }
            }
        }
        f64::from(throttled) / f64::from(sent)
    }

    #[tokio::test(start_paused = true)]
    async fn sharing_the_allowance_with_another_caller_few_requests_are_throttled() {
        // Another caller takes half of the 2 a second.
        let fixed = throttled_share(2.0, 1.0, false).await;
        let adaptive = throttled_share(2.0, 1.0, true).await;
        assert!(fixed > 0.45, "a fixed pace: {fixed}");
        assert!(adaptive < 0.2, "the adaptive pace: {adaptive}");
        // Alone, at the limit: none.
        assert_eq!(throttled_share(2.0, 2.0, true).await, 0.0);
    }
}
