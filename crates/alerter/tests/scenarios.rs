//! The generator's labelled scenarios against the rule set: every scenario raises its alerts,
//! and the background raises none. Prints precision and recall.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use iat_core::RecordLimits;
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_sim::{ExpectedAlert, Labels, OrgConfig, generate};

/// The rule configuration an operator of the generated organisation would write.
fn config_for(labels: &Labels) -> RuleSetConfig {
    let settings = labels.rule_settings();
    RuleSetConfig::from_lookup(&|name| {
        settings
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
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
