use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::records::RecordSpec;
use crate::model::ActivityEvent;
use crate::ports::{EventFeed, EventStore, FeedPosition};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 4, 7, 10, 0, 0).unwrap()
}

fn event(id: &str, minutes: i64) -> ActivityEvent {
    RecordSpec::new(id, t0() + Duration::minutes(minutes)).event()
}

/// Every event after `from`, read `limit` at a time, with how many pages it took.
async fn read_all(
    feed: &impl EventFeed,
    from: FeedPosition,
    limit: usize,
) -> (Vec<(FeedPosition, ActivityEvent)>, usize) {
    let mut out: Vec<(FeedPosition, ActivityEvent)> = Vec::new();
    let mut position = from;
    let mut pages = 0;
    loop {
        let page = feed.after(position, limit).await.unwrap();
        pages += 1;
        assert!(pages < 1_000, "feed: reading never ends");
        let Some(&(last, _)) = page.last() else {
            return (out, pages);
        };
        assert!(
            page.windows(2).all(|w| w[0].0 <= w[1].0),
            "feed: a page is in position order"
        );
        assert!(
            page[0].0 > position,
            "feed: a page starts after the position asked for"
        );
        let distinct: std::collections::BTreeSet<_> = page.iter().map(|(p, _)| *p).collect();
        assert!(
            page.len() <= limit || distinct.len() == 1,
            "feed: a page holds at most `limit` events unless they share one position"
        );
        out.extend(page);
        position = last;
    }
}

fn counts(read: &[(FeedPosition, ActivityEvent)]) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for (_, e) in read {
        *n.entry(e.id.to_string()).or_insert(0) += 1;
    }
    n
}

/// Runs every `EventFeed` case, each on a fresh store from `make`, which returns the store to
/// put events into and its feed (often the same object).
pub async fn event_feed_suite<S, R, F, Fut>(make: F)
where
    S: EventStore,
    R: EventFeed,
    F: Fn() -> Fut,
    Fut: Future<Output = (Arc<S>, Arc<R>)>,
{
    let (s, f) = make().await;
    reads_everything_once(&*s, &*f).await;
    let (s, f) = make().await;
    events_sharing_a_time_are_not_lost_between_pages(&*s, &*f).await;
    let (s, f) = make().await;
    marks_round_trip(&*s, &*f).await;
    let (s, f) = make().await;
    an_event_stored_late_is_read_after_the_mark(&*s, &*f).await;
}

async fn reads_everything_once(store: &impl EventStore, feed: &impl EventFeed) {
    assert!(
        feed.after(feed.resume_from(0), 10)
            .await
            .unwrap()
            .is_empty(),
        "feed: an empty store has nothing to read"
    );
    // Stored out of time order, with a duplicate.
    let minutes = [30, 5, 50, 5, 20, 40, 10];
    let events: Vec<ActivityEvent> = minutes
        .iter()
        .enumerate()
        .map(|(i, m)| event(&format!("feed-{i}"), *m))
        .collect();
    store.put(&events[..4]).await.unwrap();
    store.put(&events[3..]).await.unwrap();
    let (read, pages) = read_all(feed, feed.resume_from(0), 3).await;
    let n = counts(&read);
    assert_eq!(n.len(), 7, "feed: every stored event is read: {n:?}");
    assert!(
        n.values().all(|c| *c == 1),
        "feed: each event is read once: {n:?}"
    );
    assert!(pages >= 3, "feed: 7 events take at least 3 pages of 3");
    let end = read.last().unwrap().0;
    assert!(
        feed.after(end, 10).await.unwrap().is_empty(),
        "feed: nothing after the last position"
    );
}

async fn events_sharing_a_time_are_not_lost_between_pages(
    store: &impl EventStore,
    feed: &impl EventFeed,
) {
    let same: Vec<ActivityEvent> = (0..5).map(|i| event(&format!("tie-{i}"), 15)).collect();
    store.put(&same).await.unwrap();
    store.put(&[event("tie-later", 16)]).await.unwrap();
    let (read, _) = read_all(feed, feed.resume_from(0), 2).await;
    let n = counts(&read);
    assert_eq!(
        n.len(),
        6,
        "feed: five events at one instant and one after, read 2 at a time: {n:?}"
    );
    assert!(n.values().all(|c| *c == 1), "feed: each read once: {n:?}");
}

async fn marks_round_trip(_store: &impl EventStore, feed: &impl EventFeed) {
    assert_eq!(
        feed.mark("contract.a").await.unwrap(),
        0,
        "feed: unset mark is 0"
    );
    feed.set_mark("contract.a", 42).await.unwrap();
    feed.set_mark("contract.b", 7).await.unwrap();
    assert_eq!(
        feed.mark("contract.a").await.unwrap(),
        42,
        "feed: mark kept"
    );
    feed.set_mark("contract.a", 1_800_000_000_000)
        .await
        .unwrap();
    assert_eq!(
        feed.mark("contract.a").await.unwrap(),
        1_800_000_000_000,
        "feed: mark replaced, large values kept"
    );
    assert_eq!(
        feed.mark("contract.b").await.unwrap(),
        7,
        "feed: marks are independent"
    );
}

/// The promise `iat alerts` relies on: a run that read everything and set its mark finds, on
/// the next run, events stored after that, including one whose time is before the newest it
/// read (delivered late by CloudTrail, or collected by a later run's overlap).
async fn an_event_stored_late_is_read_after_the_mark(
    store: &impl EventStore,
    feed: &impl EventFeed,
) {
    store
        .put(&[event("early", 0), event("newest", 30)])
        .await
        .unwrap();
    let (read, _) = read_all(feed, feed.resume_from(feed.mark("r").await.unwrap()), 10).await;
    assert_eq!(read.len(), 2, "feed: the first run reads both");
    feed.set_mark("r", read.last().unwrap().0).await.unwrap();
    store
        .put(&[event("late", 15), event("next", 45)])
        .await
        .unwrap();
    let mark = feed.mark("r").await.unwrap();
    let from = feed.resume_from(mark);
    assert!(from <= mark, "feed: a reader resumes at or before its mark");
    let (read, _) = read_all(feed, from, 10).await;
    let n = counts(&read);
    for id in ["late", "next"] {
        assert_eq!(
            n.get(id),
            Some(&1),
            "feed: {id:?}, stored after the mark was set, is read once by the next run: {n:?}"
        );
    }
}
