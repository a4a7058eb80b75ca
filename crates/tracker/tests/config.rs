//! One set of bounds for the collector's settings, whichever front end builds them.

use chrono::Duration;
use iat_tracker::CollectConfig;
use iat_tracker::collect::Setting;

/// A setting and a way to put it out of bounds.
type Case = (Setting, fn(&mut CollectConfig));

#[test]
fn the_defaults_are_valid_and_each_bound_names_its_setting() {
    let ok = CollectConfig::default();
    assert_eq!(ok.validate(false), Ok(()));
    let cases: [Case; 8] = [
        (Setting::Overlap, |c| c.overlap = Duration::zero()),
        (Setting::MaxOverlap, |c| {
            c.max_overlap = Duration::minutes(10)
        }),
        (Setting::SweepAge, |c| {
            c.sweep_age = Some(Duration::hours(2))
        }),
        (Setting::Backfill, |c| c.backfill = Duration::days(91)),
        (Setting::Backfill, |c| c.backfill = Duration::zero()),
        (Setting::RequestsPerSecond, |c| c.requests_per_second = 2.5),
        (Setting::RequestsPerSecond, |c| c.requests_per_second = 0.0),
        (Setting::ChainsPerRegion, |c| c.chains_per_region = 33),
    ];
    for (setting, break_it) in cases {
        let mut c = CollectConfig::default();
        break_it(&mut c);
        let e = c.validate(false).unwrap_err();
        assert_eq!(e.setting, setting, "{e}");
        assert!(e.to_string().starts_with(setting.flag()), "{e}");
    }
    // A simulator has no rate limit; the rest still holds.
    let mut c = CollectConfig {
        requests_per_second: 150.0,
        ..CollectConfig::default()
    };
    assert_eq!(c.validate(true), Ok(()));
    c.sweep_age = None;
    assert_eq!(c.validate(true), Ok(()));
    c.chains_per_region = 0;
    assert!(c.validate(true).is_err());
}
