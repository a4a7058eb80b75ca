//! Time arguments: RFC 3339, a date, or a duration back from now (`90m`, `24h`, `7d`, `2w`).

use chrono::{DateTime, Duration, NaiveDate, Utc};

/// Which end of a range a bare date stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Start,
    End,
}

/// A length of time as [`duration`] reads it, in the largest unit that divides it (`20m`,
/// `4h`, `90d`): how `--help` shows the library's defaults.
#[cfg_attr(not(feature = "aws"), allow(dead_code))]
pub(crate) fn human(d: Duration) -> String {
    let s = d.num_seconds();
    [(604_800, 'w'), (86_400, 'd'), (3_600, 'h'), (60, 'm')]
        .into_iter()
        .find(|(unit, _)| s != 0 && s % unit == 0)
        .map(|(unit, c)| format!("{}{c}", s / unit))
        .unwrap_or_else(|| format!("{s}s"))
}

/// Parses a length of time: `90s`, `20m`, `6h`, `90d`, `2w`.
pub(crate) fn duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let unit = s.chars().last().filter(|c| c.is_ascii_alphabetic());
    let n = unit
        .and_then(|_| s[..s.len() - 1].parse::<i64>().ok())
        .filter(|n| *n >= 0);
    match (n, unit) {
        (Some(n), Some('s')) => Ok(Duration::seconds(n)),
        (Some(n), Some('m')) => Ok(Duration::minutes(n)),
        (Some(n), Some('h')) => Ok(Duration::hours(n)),
        (Some(n), Some('d')) => Ok(Duration::days(n)),
        (Some(n), Some('w')) => Ok(Duration::weeks(n)),
        _ => anyhow::bail!(
            "cannot read length of time {s:?}: use a number and s, m, h, d or w (20m, 6h, 90d)"
        ),
    }
}

/// Parses a time argument relative to `now`.
pub(crate) fn parse(s: &str, now: DateTime<Utc>, end: End) -> anyhow::Result<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        let day = iat_core::TimeWindow::day(d);
        return Ok(match end {
            End::Start => day.start(),
            End::End => day.end(),
        });
    }
    if let Ok(d) = duration(s) {
        return Ok(now - d);
    }
    anyhow::bail!(
        "cannot read time {s:?}: use RFC 3339 (2026-03-03T10:00:00Z), a date (2026-03-03) or an age (90m, 24h, 7d, 2w)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn forms() {
        let now = Utc.with_ymd_and_hms(2026, 3, 3, 12, 0, 0).unwrap();
        assert_eq!(
            parse("24h", now, End::Start).unwrap(),
            now - Duration::hours(24)
        );
        assert_eq!(
            parse("7d", now, End::Start).unwrap(),
            now - Duration::days(7)
        );
        assert_eq!(
            parse("2026-03-01", now, End::Start).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(
            parse("2026-03-01", now, End::End).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap() - Duration::microseconds(1)
        );
        assert_eq!(
            parse("2026-03-01T10:00:00+02:00", now, End::Start).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 1, 8, 0, 0).unwrap()
        );
        assert!(parse("yesterday", now, End::Start).is_err());
        assert!(parse("5x", now, End::Start).is_err());
        assert!(parse("-5d", now, End::Start).is_err());
    }

    #[test]
    fn lengths() {
        assert_eq!(duration("20m").unwrap(), Duration::minutes(20));
        assert_eq!(duration("90d").unwrap(), Duration::days(90));
        for d in [
            Duration::minutes(20),
            Duration::hours(4),
            Duration::days(90),
            Duration::weeks(2),
            Duration::seconds(90),
        ] {
            assert_eq!(duration(&human(d)).unwrap(), d);
        }
        assert_eq!(human(Duration::hours(24)), "1d");
        assert_eq!(duration("2w").unwrap(), Duration::weeks(2));
        assert!(duration("20").is_err());
        assert!(duration("soon").is_err());
        assert!(duration("-1h").is_err());
    }
}
