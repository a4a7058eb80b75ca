//! The alerts kept beside an exported day: what the rules raise over all its events, replaced
//! with the day's parts, removed when they could no longer match them, and never used under
//! other rules.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use iat_core::ActivityEvent;
use iat_core::alert::{Alert, BURST_LISTED, HitKeeper, KeptHit, StoredBurst, StoredHit};
use iat_core::contract::records::{RecordSpec, firing_fixture_events};
use iat_core::ports::{EventStore, MemoryEventStore, MemoryObjectStore, ObjectKey, ObjectStore};
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_exporter::raised::{DayInterest, Kept, RaisedDay, read_day, write_day};
use iat_exporter::{ExportOptions, export_day};
use std::sync::Arc;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 3, 3).unwrap()
}

fn at(s: i64) -> DateTime<Utc> {
    "2026-03-03T00:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::seconds(s)
}

/// `e` again at `t` (the record rewritten, so every derived field follows).
fn moved(e: &ActivityEvent, t: DateTime<Utc>) -> ActivityEvent {
    let mut raw: serde_json::Value = serde_json::from_str(&e.raw).unwrap();
    raw["eventTime"] = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
    iat_core::normalize(raw.to_string(), &Default::default())
        .unwrap()
        .event
}

/// Every firing fixture, moved into the day a few minutes apart, among 3,000 quiet calls every
/// 20 s (some of them before working hours, which the off-hours rule reads).
fn the_day() -> Vec<ActivityEvent> {
    let mut out: Vec<ActivityEvent> = firing_fixture_events()
        .iter()
        .enumerate()
        .map(|(i, e)| moved(e, at(3_600 + i as i64 * 397)))
        .collect();
    out.extend((0..3_000).map(|i| RecordSpec::new(&format!("q{i:05}"), at(i * 20)).event()));
    // The task role a fixture passes to ECS is made admin later the same day: one run raises
    // the pass to high, whatever the order.
    out.push(
        RecordSpec::new("grant-api-task", at(80_000))
            .name("iam.amazonaws.com", "AttachRolePolicy")
            .params(serde_json::json!({
                "roleName": "api-task",
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"
            }))
            .event(),
    );
    // An anonymised record (as public datasets have them): its alert is kept and read back.
    let mut raw: serde_json::Value = serde_json::from_str(&out[0].raw).unwrap();
    raw["eventID"] = "anonymised-0001".into();
    raw["awsRegion"] = "region-A".into();
    raw["recipientAccountId"] = "ANONYMIZED".into();
    raw["userIdentity"]["accountId"] = "ANONYMIZED".into();
    out.push(
        iat_core::normalize(raw.to_string(), &Default::default())
            .unwrap()
            .event,
    );
    out
}

/// What one run of `rules` over `events` raises, as comparable text.
fn run_over(rules: &RuleSet, events: &[ActivityEvent]) -> Vec<String> {
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    shown(Alert::merge(Alert::from_hits(rules.evaluate_all(&sorted))))
}

/// The hits of one run of `rules` over `events`, kept as a day keeps them.
fn hits_of_run(rules: &RuleSet, events: &[ActivityEvent]) -> Vec<KeptHit> {
    let mut sorted = events.to_vec();
    sorted.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    let mut keeper = HitKeeper::default();
    for h in rules.evaluate_all(&sorted) {
        keeper.push(StoredHit::of(h));
    }
    keeper.finish()
}

/// Each alert's rule, severity, text, how many events, and its events: every one when it has
/// no more than a kept burst lists, else its first and last.
fn shown(alerts: Vec<Alert>) -> Vec<String> {
    alerts
        .iter()
        .map(|a| {
            let ids: Vec<&str> = a.events.iter().map(|e| e.event_id.as_str()).collect();
            let ids = if a.count() <= BURST_LISTED {
                ids.join(",")
            } else {
                format!("{}..{}", ids[0], ids[ids.len() - 1])
            };
            format!(
                "{} {} {} {:?} x{} {ids}",
                a.rule_id,
                a.severity,
                a.summary,
                a.details,
                a.count(),
            )
        })
        .collect()
}

/// The kept hits raised over the day's grants, merged.
fn kept_alerts(kept: &RaisedDay, rules: &RuleSet) -> Vec<String> {
    shown(Alert::merge(
        kept.raised_hits(rules)
            .into_iter()
            .map(|h| h.into_alert().unwrap())
            .collect(),
    ))
}

fn options(rules: Option<Arc<RuleSet>>) -> ExportOptions {
    ExportOptions {
        page_size: 400,
        rows_per_part: 1_000,
        rules,
        ..ExportOptions::default()
    }
}

#[tokio::test]
async fn the_alerts_kept_beside_a_day_are_what_the_rules_raise_over_all_its_events() {
    let rules = Arc::new(RuleSet::default_rules());
    let store = MemoryEventStore::new();
    let mut all = the_day();
    store.put(&all).await.unwrap();
    let objects = MemoryObjectStore::new();
    let now = at(2 * 86_400);
    let report = export_day(&store, &objects, day(), &options(Some(rules.clone())), now)
        .await
        .unwrap();
    let kept = read_day(&objects, "", day(), &rules)
        .await
        .unwrap()
        .expect("kept");
    let expected = run_over(&rules, &all);
    assert!(expected.len() > 20, "{expected:#?}");
    // Hit by hit too: a merged alert shows its first hit's summary only.
    let run_hits = hits_of_run(&rules, &all);
    assert!(
        run_hits.iter().any(
            |h| matches!(h, KeptHit::One(h) if h.rule == "role_passed_to_service"
            && h.summary.contains("role api-task was granted an admin policy"))
        ),
        "the day's grant raises the pass"
    );
    assert_eq!(kept.raised_hits(&rules), run_hits);
    assert_eq!(kept.grants.len(), 2, "{:#?}", kept.grants);
    assert!(
        kept.hits.iter().any(|h| {
            h.first().is_some_and(|h| {
                h.event.event_id == "anonymised-0001" && h.event.region == "region-A"
            })
        }),
        "{:#?}",
        kept.hits
    );
    // The quiet calls before working hours are one person's long burst: kept as its first and
    // last hits, counted whole, and merged into the alert one run raises.
    let bursts: Vec<&StoredBurst> = kept
        .hits
        .iter()
        .filter_map(|h| match h {
            KeptHit::Burst(b) => Some(b),
            KeptHit::One(_) => None,
        })
        .collect();
    assert_eq!(bursts.len(), 1, "{bursts:#?}");
    let burst = bursts[0];
    assert_eq!(burst.listed.len(), BURST_LISTED);
    assert_eq!(burst.listed[0].rule, "off_hours_activity");
    assert!(burst.more > 1_000, "{}", burst.more);
    let listed: usize = kept
        .hits
        .iter()
        .map(|h| match h {
            KeptHit::Burst(b) => b.listed.len(),
            KeptHit::One(_) => 1,
        })
        .sum();
    assert!(
        listed * 10 < kept.hit_count() as usize,
        "{listed} hits listed of {}",
        kept.hit_count()
    );
    assert!(
        expected.iter().any(|a| a.starts_with("off_hours_activity")
            && a.contains(&format!("x{} ", burst.more + BURST_LISTED as u64))),
        "{expected:#?}"
    );
    assert_eq!(kept_alerts(&kept, &rules), expected);
    assert_eq!(report.raised, Some(kept.hit_count() as usize));
    let interest = rules.interest().unwrap();
    assert_eq!(
        kept.events,
        all.iter().filter(|e| interest.matches(e)).count() as u64
    );
    assert!(
        kept.events < all.len() as u64 / 2,
        "the quiet calls are not kept"
    );

    // A late event: the re-export's alerts take it in.
    let late = moved(&firing_fixture_events()[0], at(80_000));
    let late = {
        let mut raw: serde_json::Value = serde_json::from_str(&late.raw).unwrap();
        raw["eventID"] = "late-0001".into();
        iat_core::normalize(raw.to_string(), &Default::default())
            .unwrap()
            .event
    };
    store.put(std::slice::from_ref(&late)).await.unwrap();
    all.push(late);
    export_day(&store, &objects, day(), &options(Some(rules.clone())), now)
        .await
        .unwrap();
    let again = read_day(&objects, "", day(), &rules)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept_alerts(&again, &rules), run_over(&rules, &all));
    assert!(
        again
            .hits
            .iter()
            .any(|h| h.first().is_some_and(|h| h.event.event_id == "late-0001"))
    );

    // Other rules: the kept alerts are not theirs.
    let other = RuleSet::new(RuleSetConfig {
        disabled: ["root_activity".to_owned()].into(),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(read_day(&objects, "", day(), &other).await.unwrap(), None);

    // A re-export without rules replaces the parts, so the alerts of the old ones go.
    export_day(&store, &objects, day(), &options(None), now)
        .await
        .unwrap();
    assert_eq!(read_day(&objects, "", day(), &rules).await.unwrap(), None);
    // So a reader knows to read that day's events; a day never exported has none to read.
    assert_eq!(
        iat_exporter::raised::kept(&objects, "", day(), &rules)
            .await
            .unwrap(),
        Kept::Unusable
    );
    assert_eq!(
        iat_exporter::raised::kept(&objects, "", day().succ_opt().unwrap(), &rules)
            .await
            .unwrap(),
        Kept::NotExported
    );
}

#[tokio::test]
async fn a_day_kept_as_it_was_keeps_its_alerts_and_a_day_too_busy_keeps_none() {
    let rules = Arc::new(RuleSet::default_rules());
    let full = the_day();
    let store = MemoryEventStore::new();
    store.put(&full).await.unwrap();
    let objects = MemoryObjectStore::new();
    let now = at(2 * 86_400);
    export_day(&store, &objects, day(), &options(Some(rules.clone())), now)
        .await
        .unwrap();
    let kept = read_day(&objects, "", day(), &rules)
        .await
        .unwrap()
        .unwrap();
    // The store lost half the day (expired): the fuller export stays, and its alerts with it.
    let half = MemoryEventStore::new();
    half.put(&full[..full.len() / 2]).await.unwrap();
    let r = export_day(&half, &objects, day(), &options(Some(rules.clone())), now)
        .await
        .unwrap();
    assert!(r.kept_fuller.is_some());
    assert_eq!(
        read_day(&objects, "", day(), &rules).await.unwrap(),
        Some(kept.clone())
    );

    // More hits than the bound: no alerts kept (readers read the events).
    let mut interest = DayInterest::with_max(&rules, 10);
    interest.push(&full);
    assert_eq!(interest.finish(day()), None);
    write_day(&objects, "", day(), None).await.unwrap();
    assert_eq!(read_day(&objects, "", day(), &rules).await.unwrap(), None);
    let key = ObjectKey::new("exports/raised/dt=2026-03-03.json").unwrap();
    assert_eq!(objects.get(&key).await.unwrap(), None);
    // Under the bound, the same as the export's.
    let mut interest = DayInterest::with_max(&rules, 10_000);
    let mut sorted = full.clone();
    sorted.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
    for page in sorted.chunks(333) {
        interest.push(page);
    }
    assert_eq!(interest.finish(day()), Some(kept));
}

#[tokio::test]
async fn a_kept_file_of_an_earlier_format_is_absent_and_a_damaged_one_is_an_error() {
    let rules = RuleSet::default_rules();
    let objects = MemoryObjectStore::new();
    let key = ObjectKey::new("exports/raised/dt=2026-03-03.json").unwrap();
    // Format 2 kept every hit on its own, in another shape.
    let earlier = serde_json::json!({
        "format": 2, "day": "2026-03-03", "rules": rules.fingerprint(), "events": 1,
        "hits": [{"rule": "root_activity", "severity": "high", "summary": "s"}], "grants": []
    });
    objects
        .put(&key, earlier.to_string().into_bytes())
        .await
        .unwrap();
    assert_eq!(read_day(&objects, "", day(), &rules).await.unwrap(), None);
    assert_eq!(
        iat_exporter::raised::kept(&objects, "", day(), &rules)
            .await
            .unwrap(),
        Kept::Unusable
    );
    objects
        .put(&key, b"{\"format\": 3, \"hits\": [".to_vec())
        .await
        .unwrap();
    let err = read_day(&objects, "", day(), &rules).await.unwrap_err();
    assert!(err.to_string().contains("dt=2026-03-03.json"), "{err}");
}
