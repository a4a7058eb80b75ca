//! The generator's labelled scenarios against the rule set: every scenario raises its alerts,
//! and the background raises none. Prints precision and recall. With a learned history, the
//! first-seen rules are scored the same way.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use iat_core::RecordLimits;
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_sim::{ExpectedAlert, Labels, OrgConfig, generate, generate_learned};

/// The rule configuration an operator of the generated organisation would write.
fn config_for(labels: &Labels) -> RuleSetConfig {
    labels.rule_config().unwrap()
}

/// What a hit says: rule, event, severity, summary.
fn hit_keys(hits: &[iat_core::rules::Hit<'_>]) -> BTreeSet<(String, String, String, String)> {
    hits.iter()
        .map(|h| {
            (
                h.rule.id.to_owned(),
                h.event.id.to_string(),
                h.severity.as_str().to_owned(),
                h.finding.summary.clone(),
            )
        })
        .collect()
}

fn score(config: OrgConfig) -> iat_sim::AlertScore {
    let dir = tempfile::tempdir().unwrap();
    let labels = generate(&config, dir.path()).unwrap();
    let trail = dir.path().join("AWSLogs");
    let loaded = iat_local::logfiles::load_events(&[trail], &RecordLimits::default());
    assert!(
        loaded.rejected.is_empty() && loaded.problems.is_empty(),
        "{:?} {:?}",
        loaded.rejected.first(),
        loaded.problems
    );
    assert_eq!(
        loaded.events.len() as u64,
        labels.background_events + labels.scenario_events
    );
    let rules = RuleSet::new(config_for(&labels)).unwrap();
    let hits = rules.evaluate_all(&loaded.events);
    // The events the rules read (what the console selects from a store) raise the same hits.
    let interest = rules.interest().expect("every rule names what it reads");
    let read: Vec<_> = loaded
        .events
        .iter()
        .filter(|e| interest.matches(e))
        .cloned()
        .collect();
    // The rules read less than half of a generated day (people's calls are two fifths of it;
    // the off-hours rule reads only those outside working hours).
    assert!(
        read.len() * 2 < loaded.events.len(),
        "{} of {}",
        read.len(),
        loaded.events.len()
    );
    assert_eq!(hit_keys(&rules.evaluate_all(&read)), hit_keys(&hits));
    // A passed role is low unless the same batch made it admin.
    for label in &labels.scenarios {
        let want = match label.kind.as_str() {
            "role_passed_admin" => iat_core::Severity::High,
            "role_passed_to_service" => iat_core::Severity::Low,
            _ => continue,
        };
        let passed: Vec<_> = hits
            .iter()
            .filter(|h| {
                h.rule.id == "role_passed_to_service"
                    && label.event_ids.iter().any(|id| id == h.event.id.as_str())
            })
            .collect();
        assert!(!passed.is_empty(), "{}", label.kind);
        assert!(passed.iter().all(|h| h.severity == want), "{}", label.kind);
    }
    let raised: BTreeSet<ExpectedAlert> = hits
        .iter()
        .map(|h| ExpectedAlert {
            event_id: h.event.id.to_string(),
            rule_id: h.rule.id.to_owned(),
        })
        .collect();
    let kinds: BTreeSet<&str> = labels.scenarios.iter().map(|s| s.kind.as_str()).collect();
    assert!(
        labels
            .scenarios
            .iter()
            .all(|s| s.kind.starts_with("quiet_") == s.alerts.is_empty()),
        "every scenario but the quiet ones expects alerts"
    );
    let s = labels.score_alerts(&raised);
    println!(
        "seed {} ({} scenario kinds, {} events): {} expected, {} raised, precision {:.3}, recall {:.3}",
        config.seed,
        kinds.len(),
        loaded.events.len(),
        s.expected,
        s.raised,
        s.precision,
        s.recall
    );
    for (kind, m) in &s.missed {
        println!("  missed {kind}: {} on {}", m.rule_id, m.event_id);
    }
    for u in &s.unexpected {
        let e = loaded
            .events
            .iter()
            .find(|e| e.id.as_str() == u.event_id)
            .unwrap();
        println!(
            "  unexpected {} on {} {} by {}",
            u.rule_id, e.name, e.time, e.principal.actor
        );
    }
    s
}

#[test]
fn every_scenario_raises_its_alerts_and_the_background_none() {
    for (seed, offset, day) in [
        (2026, 1, (2026, 3, 3)),
        (7, -5, (2026, 6, 10)),
        (99, 9, (2026, 11, 20)),
    ] {
        let s = score(OrgConfig {
            seed,
            day: NaiveDate::from_ymd_opt(day.0, day.1, day.2).unwrap(),
            accounts: 5,
            background_events: 20_000,
            utc_offset_hours: offset,
        });
        assert!(s.missed.is_empty(), "recall {}", s.recall);
        assert!(s.unexpected.is_empty(), "precision {}", s.precision);
        assert_eq!(s.recall, 1.0);
        assert_eq!(s.precision, 1.0);
    }
}

/// A day after its own replay three weeks earlier: the first-seen state learns everything the
/// organisation does, so on the day the four planted first uses (a new service, network, region
/// and denied action of a role with history) are the only first seeings, and the other rules
/// still raise exactly their labelled alerts.
#[tokio::test]
async fn first_use_after_learning_raises_only_the_planted_first_seeings() {
    for (seed, offset, day) in [(2026, 1, (2026, 3, 3)), (7, -5, (2026, 6, 10))] {
        let config = OrgConfig {
            seed,
            day: NaiveDate::from_ymd_opt(day.0, day.1, day.2).unwrap(),
            accounts: 5,
            background_events: 20_000,
            utc_offset_hours: offset,
        };
        let dir = tempfile::tempdir().unwrap();
        let labels = generate_learned(&config, dir.path()).unwrap();
        let loaded = iat_local::logfiles::load_events(
            &[dir.path().join("AWSLogs")],
            &RecordLimits::default(),
        );
        assert!(loaded.rejected.is_empty() && loaded.problems.is_empty());
        assert_eq!(
            loaded.events.len() as u64,
            labels.background_events + labels.scenario_events + labels.history_events
        );
        assert_eq!(
            labels.history_events,
            labels.background_events + labels.scenario_events - 4,
            "everything but the four first uses is replayed"
        );
        let day_start = config.day.and_hms_opt(0, 0, 0).unwrap().and_utc();
        let now = day_start + chrono::Duration::hours(24) + chrono::Duration::minutes(30);
        let mut events = loaded.events;
        events.sort_by_key(|e| e.time);
        let today = events.partition_point(|e| e.time < day_start);
        assert_eq!(today as u64, labels.history_events);

        let rules = RuleSet::new(config_for(&labels)).unwrap();
        let store = iat_core::ports::MemorySeenStore::new();
        let mut raised: BTreeSet<ExpectedAlert> = BTreeSet::new();
        let mut first_seen_hits = 0;
        for (i, batch) in events.chunks(1_000).enumerate() {
            let run = iat_core::seen::evaluate(&store, &rules, batch, now)
                .await
                .unwrap();
            if (i + 1) * 1_000 <= today {
                assert!(run.hits.is_empty(), "the history only teaches");
            }
            first_seen_hits += run.hits.len();
            raised.extend(run.hits.iter().map(|h| ExpectedAlert {
                event_id: h.event.id.to_string(),
                rule_id: h.rule.id.to_owned(),
            }));
        }
        raised.extend(
            rules
                .evaluate_all(&events[today..])
                .iter()
                .map(|h| ExpectedAlert {
                    event_id: h.event.id.to_string(),
                    rule_id: h.rule.id.to_owned(),
                }),
        );
        let s = labels.score_alerts(&raised);
        println!(
            "seed {seed} learned: {} expected, {} raised ({first_seen_hits} first seen), precision {:.3}, recall {:.3}",
            s.expected, s.raised, s.precision, s.recall
        );
        for (kind, m) in &s.missed {
            println!("  missed {kind}: {} on {}", m.rule_id, m.event_id);
        }
        for u in &s.unexpected {
            println!("  unexpected {} on {}", u.rule_id, u.event_id);
        }
        assert_eq!(first_seen_hits, 4, "one of each first-seen rule");
        assert!(s.missed.is_empty() && s.unexpected.is_empty());
        assert_eq!((s.precision, s.recall), (1.0, 1.0));
    }
}
