use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::records::RecordSpec;
use crate::denial::DenialLayer;
use crate::model::{AccountId, ActivityEvent, Region};
use crate::ports::{
    ActionCounts, EventCursor, EventQuery, EventStore, Interest, IpFilter, Order, Quarantined,
};
use crate::time::TimeWindow;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

fn ids(events: &[ActivityEvent]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

/// Runs every `EventStore` case, each on a fresh store from `make`.
pub async fn event_store_suite<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    put_is_idempotent(&make().await).await;
    racing_puts_report_each_event_new_once(&make().await).await;
    round_trip_is_lossless(&make().await).await;
    window_is_inclusive_and_ordered(&make().await).await;
    cursor_pages_visit_each_once(&make().await).await;
    filters_select(&make().await).await;
    interests_select(&make().await).await;
    actions_are_counted(&make().await).await;
    globs_match_characters_not_bytes(&make().await).await;
    quarantine_and_stats(&make().await).await;
    large_record(&make().await).await;
}

/// Runs the query cases on a read-only history (the lake read back): `make` gives a fresh
/// store whose `put` loads events once, as an export would; no case puts an event twice or
/// reads the store's stats or quarantine. The history keeps the normalised fields, not the raw
/// record, so [`what_a_history_keeps`] compares those.
pub async fn event_history_suite<S, F, Fut>(make: F)
where
    S: EventStore,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    what_a_history_keeps(&make().await).await;
    window_is_inclusive_and_ordered(&make().await).await;
    cursor_pages_visit_each_once(&make().await).await;
    filters_select(&make().await).await;
    interests_select(&make().await).await;
    actions_are_counted(&make().await).await;
    globs_match_characters_not_bytes(&make().await).await;
}

/// Every field a filter, a rule or a page reads, as the event had it when stored; the documents
/// as compact JSON with session tokens redacted (as exported).
pub fn history_view(e: &ActivityEvent) -> serde_json::Value {
    let doc = |t: Option<&str>| {
        t.and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
            .map(|mut v| {
                crate::record::redact_session_tokens(&mut v);
                v
            })
    };
    serde_json::json!({
        "id": e.id.as_str(),
        "time": e.time,
        "source": e.source,
        "name": e.name,
        "type": e.event_type.as_str(),
        "category": e.category,
        "region": e.region.as_str(),
        "account": e.account.as_ref().map(|a| a.as_str()),
        "principal": e.principal,
        "source_ip": e.source_ip,
        "user_agent": e.user_agent,
        "read_only": e.read_only,
        "management": e.management,
        "error_code": e.error_code,
        "error_message": e.error_message,
        "denial": e.denial,
        "console_login": e.console_login,
        "resources": e.resources,
        "vpc_endpoint_id": e.vpc_endpoint_id,
        "request_id": e.request_id,
        "request": doc(e.request_parameters()),
        "response": doc(e.response_elements()),
        "additional": doc(e.additional_event_data()),
    })
}

/// An interest selects exactly the events of its kinds (as the core's matcher decides), alone
/// or with other filters, and a limited read in either order returns the first of them: the
/// rule fixtures hold every principal type, denials by several layers and workloads' calls.
async fn interests_select(store: &impl EventStore) {
    let mut events = super::records::firing_fixture_events();
    // What most of a day is and no rule reads: a workload's role and a service's own calls.
    let at = events[0].time;
    for (id, identity) in [
        (
            "bg-workload",
            serde_json::json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/app-task/i-0abc", "accountId": "111122223333", "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "app-task", "arn": "arn:aws:iam::111122223333:role/app-task"}}}),
        ),
        (
            "bg-service",
            serde_json::json!({"type": "AWSService", "invokedBy": "lambda.amazonaws.com"}),
        ),
    ] {
        let spec = RecordSpec::new(id, at).name("kms.amazonaws.com", "Decrypt");
        let mut record: serde_json::Value = serde_json::from_str(&spec.json()).unwrap();
        record["userIdentity"] = identity;
        events.push(
            crate::normalize(record.to_string(), &crate::RecordLimits::default())
                .unwrap()
                .event,
        );
    }
    events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    store.put(&events).await.unwrap();
    let kinds = |f: &dyn Fn(&mut Interest)| {
        let mut i = Interest::default();
        f(&mut i);
        i
    };
    let rules = crate::rules::RuleSet::default_rules()
        .interest()
        .expect("the default rules read kinds of events");
    let cases = [
        ("the default rules' reads", rules),
        ("denied", kinds(&|i| i.denied = true)),
        ("people", kinds(&|i| i.people = true)),
        ("root", kinds(&|i| i.root = true)),
        (
            "two names",
            kinds(&|i| {
                i.events
                    .insert(("iam.amazonaws.com".into(), "CreateUser".into()));
                i.events
                    .insert(("sts.amazonaws.com".into(), "AssumeRoleWithSAML".into()));
                // Same name, another source: not selected.
                i.events
                    .insert(("s3.amazonaws.com".into(), "CreateAccessKey".into()));
            }),
        ),
        ("nothing", Interest::default()),
    ];
    let mut narrower = 0;
    for (case, interest) in cases {
        let want: Vec<&ActivityEvent> = events.iter().filter(|e| interest.matches(e)).collect();
        if want.len() < events.len() {
            narrower += 1;
        }
        let query = EventQuery {
            interest: Some(interest.clone()),
            ..Default::default()
        };
        let mut got = ids(&store.query(&query).await.unwrap());
        got.sort();
        let mut expected: Vec<String> = want.iter().map(|e| e.id.to_string()).collect();
        expected.sort();
        assert_eq!(got, expected, "interest {case}");
        for order in [Order::Ascending, Order::Descending] {
            let limited = EventQuery {
                order,
                limit: Some(3),
                ..query.clone()
            };
            let mut first: Vec<&ActivityEvent> = want.clone();
            if order == Order::Descending {
                first.reverse();
            }
            let first: Vec<String> = first.iter().take(3).map(|e| e.id.to_string()).collect();
            assert_eq!(
                ids(&store.query(&limited).await.unwrap()),
                first,
                "interest {case}, {order:?}, limit 3"
            );
        }
        let with_account = EventQuery {
            account: want.first().and_then(|e| e.account.clone()),
            ..query.clone()
        };
        let mut got = ids(&store.query(&with_account).await.unwrap());
        got.sort();
        let mut expected: Vec<String> = want
            .iter()
            .filter(|e| with_account.account.is_none() || e.account == with_account.account)
            .map(|e| e.id.to_string())
            .collect();
        expected.sort();
        assert_eq!(got, expected, "interest {case} and an account");
    }
    assert_eq!(narrower, 6, "every case leaves events out");
    // People outside working hours over a window (the Tuesday night and the Saturday of the
    // fixtures): that window's spans alone.
    let window = TimeWindow::new(
        Utc.with_ymd_and_hms(2026, 3, 3, 0, 0, 0).unwrap(),
        Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap(),
    )
    .unwrap();
    let off_hours = Interest {
        people: true,
        outside: Some(crate::rules::WorkingHours::default()),
        ..Interest::default()
    };
    let everyone = Interest {
        people: true,
        ..Interest::default()
    };
    let in_window = |i: &Interest| -> Vec<String> {
        let mut v: Vec<String> = events
            .iter()
            .filter(|e| window.contains(e.time) && i.matches(e))
            .map(|e| e.id.to_string())
            .collect();
        v.sort();
        v
    };
    let want = in_window(&off_hours);
    assert!(!want.is_empty());
    assert!(
        want.len() < in_window(&everyone).len(),
        "working hours leave people's calls out"
    );
    let query = EventQuery {
        window: Some(window),
        interest: Some(off_hours.clone()),
        ..Default::default()
    };
    let mut got = ids(&store.query(&query).await.unwrap());
    got.sort();
    assert_eq!(got, want, "people outside working hours in a window");
    let newest = EventQuery {
        order: Order::Descending,
        limit: Some(1),
        ..query.clone()
    };
    let newest = store.query(&newest).await.unwrap();
    let latest = events
        .iter()
        .filter(|e| window.contains(e.time) && off_hours.matches(e))
        .max_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)))
        .unwrap();
    assert_eq!(ids(&newest), [latest.id.to_string()]);
    // Without a window a store may return every person's call: at least those outside.
    let unbounded = EventQuery {
        interest: Some(off_hours.clone()),
        ..Default::default()
    };
    let got = ids(&store.query(&unbounded).await.unwrap());
    let all_people: Vec<String> = ids(&store
        .query(&EventQuery {
            interest: Some(everyone),
            ..Default::default()
        })
        .await
        .unwrap());
    for id in &want {
        assert!(got.contains(id), "{id} missing without a window");
    }
    for id in &got {
        assert!(all_people.contains(id), "{id} is no person's call");
    }
}

/// [`EventStore::count_actions`] counts what [`EventStore::query`] returns, by event source,
/// name and denial layer, whether the store counts itself (SQL) or reads the events; a bound
/// below the matches either cuts the count there or is not needed (a store that counts all).
async fn actions_are_counted(store: &impl EventStore) {
    let mut events = super::records::firing_fixture_events();
    events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    store.put(&events).await.unwrap();
    let first = events.first().unwrap().time;
    let last = events.last().unwrap().time;
    let denied = events.iter().filter(|e| e.is_denied()).count();
    assert!(denied >= 3, "the fixtures hold denials by several layers");
    let glob_actor = events[0]
        .principal
        .actor
        .chars()
        .take(2)
        .collect::<String>()
        + "*";
    for (case, query) in [
        ("everything", EventQuery::default()),
        (
            "denied calls in a window",
            EventQuery {
                window: Some(TimeWindow::new(first, last).unwrap()),
                denied_only: true,
                order: Order::Descending,
                limit: Some(1),
                ..Default::default()
            },
        ),
        (
            "one layer",
            EventQuery {
                denial_layer: Some(DenialLayer::ServiceControlPolicy),
                ..Default::default()
            },
        ),
        (
            "an actor glob",
            EventQuery {
                actor: Some(glob_actor.clone()),
                ..Default::default()
            },
        ),
    ] {
        let all = store
            .query(&EventQuery {
                limit: None,
                order: Order::Ascending,
                ..query.clone()
            })
            .await
            .unwrap();
        let want = ActionCounts::of(&all);
        let got = store.count_actions(&query, 100_000).await.unwrap();
        assert_eq!(got, want, "count_actions: {case}");
        assert_eq!(got.events(), all.len() as u64, "count_actions: {case}");
        if all.len() > 2 {
            let bounded = store.count_actions(&query, 2).await.unwrap();
            if bounded.cut {
                assert_eq!(bounded.events(), 2, "count_actions cut at 2: {case}");
            } else {
                assert_eq!(bounded, want, "count_actions counting all: {case}");
            }
        }
    }
    let layers: std::collections::BTreeSet<_> = store
        .count_actions(
            &EventQuery {
                denied_only: true,
                ..Default::default()
            },
            100_000,
        )
        .await
        .unwrap()
        .actions
        .into_iter()
        .map(|a| a.layer)
        .collect();
    assert!(
        layers.len() >= 2 && !layers.contains(&None),
        "denied calls carry their layers: {layers:?}"
    );
}

/// The fixtures every rule fires on (assumed roles, root, Identity Center, console sign-ins
/// with and without MFA, denials by each layer, policy documents, resources) read back with
/// every kept field as stored.
async fn what_a_history_keeps(store: &impl EventStore) {
    let mut events = super::records::firing_fixture_events();
    events.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    events.dedup_by(|a, b| a.id == b.id);
    store.put(&events).await.unwrap();
    let got = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(ids(&got), ids(&events), "history: every event, in order");
    for (g, e) in got.iter().zip(&events) {
        assert_eq!(
            history_view(g),
            history_view(e),
            "history: the fields of {} as stored",
            e.id
        );
    }
}

async fn put_is_idempotent(store: &impl EventStore) {
    let a = RecordSpec::new("put-a", t0()).event();
    let b = RecordSpec::new("put-b", t0()).event();
    let out = store.put(&[a.clone(), b.clone(), a.clone()]).await.unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (2, 1),
        "put: a repeated id in one batch is a duplicate"
    );
    assert_eq!(
        out.inserted_times,
        [t0(), t0()],
        "put: the time of each new event"
    );
    let c = RecordSpec::new("put-c", t0() + chrono::Duration::seconds(7)).event();
    let out = store.put(&[a.clone(), c.clone()]).await.unwrap();
    assert_eq!(
        out.inserted_times,
        [c.time],
        "put: only new events have their time reported"
    );
    let out = store.put(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (0, 2),
        "put: stored ids are duplicates"
    );
    let all = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(all.len(), 3, "put: each event is stored once");
    assert_eq!(
        store.stats().await.unwrap().events,
        3,
        "put: stats count each event once"
    );
    let out = store.put(&[]).await.unwrap();
    assert_eq!(
        (out.inserted, out.duplicates),
        (0, 0),
        "put: an empty batch is fine"
    );
}

/// Two runs collecting the same window at once (a retried invocation beside the one still
/// running) put the same events concurrently: each event is reported new by exactly one put.
async fn racing_puts_report_each_event_new_once(store: &impl EventStore) {
    let events: Vec<ActivityEvent> = (0..60)
        .map(|i| RecordSpec::new(&format!("race-{i:02}"), t0() + Duration::seconds(i)).event())
        .collect();
    let puts: Vec<_> = (0..6).map(|_| store.put(&events)).collect();
    let outcomes = join_all(puts).await;
    let inserted: usize = outcomes.iter().map(|o| o.as_ref().unwrap().inserted).sum();
    let duplicates: usize = outcomes
        .iter()
        .map(|o| o.as_ref().unwrap().duplicates)
        .sum();
    assert_eq!(
        (inserted, duplicates),
        (60, 300),
        "racing puts: each event reported new once, a duplicate by every other put"
    );
    let times: usize = outcomes
        .iter()
        .map(|o| o.as_ref().unwrap().inserted_times.len())
        .sum();
    assert_eq!(times, 60, "racing puts: one time per event reported new");
    assert_eq!(store.stats().await.unwrap().events, 60);
}

/// Polls every future until all are done (the contract has no runtime of its own).
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, o) in futures.iter_mut().zip(out.iter_mut()) {
            if o.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *o = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("every future finished"))
        .collect()
}

async fn round_trip_is_lossless(store: &impl EventStore) {
    let e = RecordSpec::new("rt-1", t0())
        .name("iam.amazonaws.com", "PutUserPolicy")
        .params(serde_json::json!({"userName": "bob", "policyDocument": "{\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"*\"}}"}))
        .error("AccessDenied", "User: x is not authorized to perform: iam:PutUserPolicy with an explicit deny in a service control policy")
        .event();
    store.put(std::slice::from_ref(&e)).await.unwrap();
    let back = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(back.len(), 1, "round trip: one event");
    assert_eq!(
        back[0], e,
        "round trip: the stored event equals the event put, raw text included"
    );
    assert_eq!(back[0].raw, e.raw, "round trip: raw text is byte-identical");
}

async fn window_is_inclusive_and_ordered(store: &impl EventStore) {
    let events: Vec<ActivityEvent> = (0..10)
        .map(|i| RecordSpec::new(&format!("w-{i}"), t0() + Duration::minutes(i)).event())
        .collect();
    // Two events at the same instant are ordered by id.
    let tie = RecordSpec::new("w-3a", t0() + Duration::minutes(3)).event();
    let mut all = events.clone();
    all.push(tie);
    store.put(&all).await.unwrap();
    let w = TimeWindow::new(t0() + Duration::minutes(2), t0() + Duration::minutes(5)).unwrap();
    let q = EventQuery {
        window: Some(w),
        ..Default::default()
    };
    let got = store.query(&q).await.unwrap();
    assert_eq!(
        ids(&got),
        ["w-2", "w-3", "w-3a", "w-4", "w-5"],
        "window: both ends inclusive, ascending by (time, id)"
    );
    let got = store
        .query(&EventQuery {
            order: Order::Descending,
            ..q.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&got),
        ["w-5", "w-4", "w-3a", "w-3", "w-2"],
        "window: descending by (time, id)"
    );
    let got = store
        .query(&EventQuery {
            limit: Some(2),
            ..q
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&got),
        ["w-2", "w-3"],
        "window: limit keeps the first in order"
    );
    // A window open at one end (`--since` alone ends at the latest time there is) is bounded
    // only at the other.
    let (earliest, latest) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    for (window, want, what) in [
        (
            (t0() + Duration::minutes(7), latest),
            vec!["w-7", "w-8", "w-9"],
            "open end",
        ),
        (
            (earliest, t0() + Duration::minutes(1)),
            vec!["w-0", "w-1"],
            "open start",
        ),
    ] {
        for order in [Order::Ascending, Order::Descending] {
            let got = store
                .query(&EventQuery {
                    window: Some(TimeWindow::new(window.0, window.1).unwrap()),
                    order,
                    ..Default::default()
                })
                .await
                .unwrap();
            let mut want = want.clone();
            if order == Order::Descending {
                want.reverse();
            }
            assert_eq!(ids(&got), want, "window with an {what}, {order:?}");
        }
    }
}

async fn cursor_pages_visit_each_once(store: &impl EventStore) {
    let events: Vec<ActivityEvent> = (0..137)
        .map(|i| RecordSpec::new(&format!("p-{i:03}"), t0() + Duration::seconds(i / 3)).event())
        .collect();
    store.put(&events).await.unwrap();
    for order in [Order::Ascending, Order::Descending] {
        let mut seen = Vec::new();
        let mut after: Option<EventCursor> = None;
        loop {
            let page = store
                .query(&EventQuery {
                    order,
                    after: after.clone(),
                    limit: Some(20),
                    ..Default::default()
                })
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 20, "paging: a page respects the limit");
            after = Some(EventCursor::after(page.last().unwrap()));
            seen.extend(ids(&page));
        }
        let mut expected = ids(&events);
        expected.sort();
        if order == Order::Descending {
            expected.reverse();
        }
        assert_eq!(
            seen, expected,
            "paging ({order:?}): every event once, in order"
        );
    }
}

async fn filters_select(store: &impl EventStore) {
    let scp = "User: arn:aws:sts::111122223333:assumed-role/Dev/bob is not authorized to perform: ec2:RunInstances with an explicit deny in a service control policy";
    let events = vec![
        RecordSpec::new("f-1", t0()).user("alice").event(),
        RecordSpec::new("f-2", t0())
            .user("bob")
            .name("iam.amazonaws.com", "CreateUser")
            .event(),
        RecordSpec::new("f-3", t0())
            .user("bob")
            .name("ec2.amazonaws.com", "RunInstances")
            .place("444455556666", "eu-west-1")
            .error("AccessDenied", scp)
            .event(),
        RecordSpec::new("f-4", t0())
            .user("carol")
            .name("iam.amazonaws.com", "CreateAccessKey")
            .ip("198.51.100.7")
            .event(),
        RecordSpec::new("f-5", t0())
            .user("dave")
            .ip("2001:db8:1::5")
            .event(),
        RecordSpec::new("f-6", t0())
            .user("erin")
            .ip("AWS Internal")
            .error("NoSuchEntity", "nope")
            .event(),
    ];
    store.put(&events).await.unwrap();
    let check = |name: &'static str, q: EventQuery, want: &'static [&'static str]| async move {
        let mut got = ids(&store.query(&q).await.unwrap());
        got.sort();
        assert_eq!(got, want, "filter {name}");
    };
    check(
        "actor exact",
        EventQuery {
            actor: Some("bob".into()),
            ..Default::default()
        },
        &["f-2", "f-3"],
    )
    .await;
    check(
        "actor glob",
        EventQuery {
            actor: Some("[bc]*".into()),
            ..Default::default()
        },
        &["f-2", "f-3", "f-4"],
    )
    .await;
    // One glob syntax on every backend: alternatives, negated classes, case, escapes.
    for (name, pattern, want) in [
        (
            "actor glob alternatives",
            "{alice,erin}",
            &["f-1", "f-6"][..],
        ),
        ("actor glob negated class", "[!a-c]*", &["f-5", "f-6"][..]),
        ("actor glob is case-sensitive", "B*", &[][..]),
        ("actor glob escape", "bo\\b", &["f-2", "f-3"][..]),
        ("actor glob escaped star is literal", "bob\\*", &[][..]),
        (
            "actor glob over ARNs",
            "arn:aws:iam::*:user/{carol,dave}",
            &["f-4", "f-5"][..],
        ),
    ] {
        assert_eq!(
            actor_ids(store, pattern).await,
            want,
            "filter {name}: {pattern}"
        );
    }
    check(
        "actor by ARN",
        EventQuery {
            actor: Some("arn:aws:iam::111122223333:user/carol".into()),
            ..Default::default()
        },
        &["f-4"],
    )
    .await;
    check(
        "event names are alternatives",
        EventQuery {
            event_names: vec!["CreateUser".into(), "CreateAccessKey".into()],
            ..Default::default()
        },
        &["f-2", "f-4"],
    )
    .await;
    check(
        "event name glob",
        EventQuery {
            event_names: vec!["Create*".into()],
            ..Default::default()
        },
        &["f-2", "f-4"],
    )
    .await;
    check(
        "event source",
        EventQuery {
            event_source: Some("ec2.amazonaws.com".into()),
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
    check(
        "account",
        EventQuery {
            account: Some(AccountId::new("444455556666").unwrap()),
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
    check(
        "region",
        EventQuery {
            region: Some(Region::new("eu-west-1").unwrap()),
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
    check(
        "denied only",
        EventQuery {
            denied_only: true,
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
    check(
        "denial layer",
        EventQuery {
            denial_layer: Some(DenialLayer::ServiceControlPolicy),
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
    check(
        "other denial layer",
        EventQuery {
            denial_layer: Some(DenialLayer::PermissionsBoundary),
            ..Default::default()
        },
        &[],
    )
    .await;
    check(
        "source ip exact",
        EventQuery {
            source_ip: Some(IpFilter::parse("198.51.100.7").unwrap()),
            ..Default::default()
        },
        &["f-4"],
    )
    .await;
    check(
        "source ip v4 network",
        EventQuery {
            source_ip: Some(IpFilter::parse("203.0.113.0/24").unwrap()),
            ..Default::default()
        },
        &["f-1", "f-2", "f-3"],
    )
    .await;
    check(
        "source ip v6 network",
        EventQuery {
            source_ip: Some(IpFilter::parse("2001:db8::/32").unwrap()),
            ..Default::default()
        },
        &["f-5"],
    )
    .await;
    check(
        "source ip text",
        EventQuery {
            source_ip: Some(IpFilter::parse("AWS Internal").unwrap()),
            ..Default::default()
        },
        &["f-6"],
    )
    .await;
    check(
        "filters combine",
        EventQuery {
            actor: Some("bob".into()),
            denied_only: true,
            ..Default::default()
        },
        &["f-3"],
    )
    .await;
}

/// The ids of the events whose actor matches `pattern`, sorted.
async fn actor_ids(store: &impl EventStore, pattern: &str) -> Vec<String> {
    let mut got = ids(&store
        .query(&EventQuery {
            actor: Some(pattern.into()),
            ..Default::default()
        })
        .await
        .unwrap());
    got.sort();
    got
}

/// Unicode names: `?` is one character however many bytes it takes, classes hold characters.
async fn globs_match_characters_not_bytes(store: &impl EventStore) {
    let events = [
        RecordSpec::new("u-1", t0()).user("zoë").event(),
        RecordSpec::new("u-2", t0()).user("zoe").event(),
        RecordSpec::new("u-3", t0()).user("zo").event(),
        RecordSpec::new("u-4", t0()).user("Ünal").event(),
    ];
    store.put(&events).await.unwrap();
    for (pattern, want) in [
        ("zo?", &["u-1", "u-2"][..]),
        ("zo[ë]", &["u-1"][..]),
        ("zo[!ë]", &["u-2"][..]),
        ("{zoë,Ünal}", &["u-1", "u-4"][..]),
        ("Ü*", &["u-4"][..]),
        ("ü*", &[][..]),
    ] {
        assert_eq!(
            actor_ids(store, pattern).await,
            want,
            "unicode glob {pattern}"
        );
    }
}

async fn quarantine_and_stats(store: &impl EventStore) {
    let empty = store.stats().await.unwrap();
    assert_eq!(
        (empty.events, empty.first, empty.last, empty.quarantined),
        (0, None, None, 0),
        "stats: empty store"
    );
    store
        .quarantine(&[Quarantined {
            origin: "file.json#3".into(),
            event_id: None,
            reason: "record has no eventID".into(),
            raw: "{\"eventName\":\"x\"}".into(),
        }])
        .await
        .unwrap();
    let a = RecordSpec::new("s-1", t0()).event();
    let b = RecordSpec::new("s-2", t0() + Duration::hours(5)).event();
    store.put(&[b, a]).await.unwrap();
    let stats = store.stats().await.unwrap();
    assert_eq!(stats.events, 2, "stats: events");
    assert_eq!(stats.quarantined, 1, "stats: quarantined");
    assert_eq!(stats.first, Some(t0()), "stats: first");
    assert_eq!(stats.last, Some(t0() + Duration::hours(5)), "stats: last");
}

async fn large_record(store: &impl EventStore) {
    let big = "x".repeat(256 * 1024);
    let e = RecordSpec::new("big-1", t0())
        .name("iam.amazonaws.com", "PutRolePolicy")
        .params(serde_json::json!({ "roleName": "r", "policyDocument": big }))
        .event();
    assert!(e.raw.len() > 256 * 1024);
    store.put(std::slice::from_ref(&e)).await.unwrap();
    let back = store.query(&EventQuery::default()).await.unwrap();
    assert_eq!(back, vec![e], "large record: a 256 KB record round-trips");
}
