//! The values rules read: admin policies, trusted accounts, expected networks, noisy denials,
//! working hours. Each parser names the setting it rejects.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, DurationRound, FixedOffset, NaiveTime, Offset, TimeDelta, Utc, Weekday,
};
use ipnet::IpNet;

use super::split_list;
use crate::error::{Error, Result};
use crate::glob::PatternSet;
use crate::model::ActivityEvent;

/// AWS managed policies that grant administrator power (directly, or by letting the holder
/// grant it to themselves).
pub const DEFAULT_ADMIN_POLICIES: [&str; 2] = [
    "arn:aws:iam::aws:policy/AdministratorAccess",
    "arn:aws:iam::aws:policy/IAMFullAccess",
];

/// Denials that happen on every console visit of someone without billing access.
pub const DEFAULT_DENIED_EXCLUSIONS: [&str; 2] = ["ce:GetCostAndUsage", "ce:GetCostForecast"];

/// What the rules read besides the event.
#[derive(Debug, Clone)]
pub struct RuleSettings {
    admin_policies: BTreeSet<String>,
    trusted_accounts: BTreeSet<String>,
    expected_networks: Vec<IpNet>,
    denied_set: PatternSet,
    pub working_hours: WorkingHours,
}

impl Default for RuleSettings {
    fn default() -> Self {
        let mut s = Self {
            admin_policies: BTreeSet::new(),
            trusted_accounts: BTreeSet::new(),
            expected_networks: Vec::new(),
            denied_set: PatternSet::default(),
            working_hours: WorkingHours::default(),
        };
        s.set_admin_policies(&DEFAULT_ADMIN_POLICIES.join(","))
            .expect("defaults are valid");
        s.set_denied_exclusions(&DEFAULT_DENIED_EXCLUSIONS.join(","))
            .expect("defaults are valid");
        s
    }
}

/// `arn:aws-cn:iam::aws:policy/X` → `iam::aws:policy/X`: the same managed policy in any partition.
fn without_partition(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(':')?;
    Some(rest)
}

impl RuleSettings {
    /// `ADMIN_POLICY_ARNS`: managed policy ARNs, compared exactly (any partition).
    pub fn set_admin_policies(&mut self, list: &str) -> Result<()> {
        let mut out = BTreeSet::new();
        for arn in split_list(list) {
            let ok = without_partition(arn)
                .is_some_and(|r| r.starts_with("iam::") && r.contains(":policy/"));
            if !ok {
                return Err(Error::invalid(
                    "admin policy ARN",
                    arn,
                    "expected a policy ARN such as arn:aws:iam::aws:policy/AdministratorAccess",
                ));
            }
            out.insert(without_partition(arn).unwrap_or(arn).to_owned());
        }
        self.admin_policies = out;
        Ok(())
    }

    /// True when `arn` is one of the admin policies.
    pub fn is_admin_policy(&self, arn: &str) -> bool {
        without_partition(arn.trim()).is_some_and(|r| self.admin_policies.contains(r))
    }

    /// `TRUSTED_ACCOUNTS`: account ids that trust policies may name without an alert (your
    /// organisation's accounts, a vendor you approved).
    pub fn set_trusted_accounts(&mut self, list: &str) -> Result<()> {
        let mut out = BTreeSet::new();
        for id in split_list(list) {
            crate::model::AccountId::new(id)?;
            out.insert(id.to_owned());
        }
        self.trusted_accounts = out;
        Ok(())
    }

    pub fn is_trusted_account(&self, id: &str) -> bool {
        self.trusted_accounts.contains(id)
    }

    /// `EXPECTED_NETWORKS`: CIDRs (IPv4 and IPv6) console sign-ins should come from. Empty
    /// turns the unexpected-network rule off.
    pub fn set_expected_networks(&mut self, list: &str) -> Result<()> {
        let mut out = Vec::new();
        for cidr in split_list(list) {
            let net: IpNet = cidr
                .parse()
                .or_else(|_| cidr.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    Error::invalid(
                        "expected network",
                        cidr,
                        "expected a CIDR such as 203.0.113.0/24 or 2001:db8::/32",
                    )
                })?;
            out.push(net);
        }
        self.expected_networks = out;
        Ok(())
    }

    pub fn expected_networks(&self) -> &[IpNet] {
        &self.expected_networks
    }

    /// `DENIED_EXCLUSIONS`: `service:Action` globs (`ec2:Describe*`, `ce:*`) whose denials
    /// never alert. The service is the event source's first label; a pattern may also name the
    /// whole event source (`ec2.amazonaws.com:Describe*`).
    pub fn set_denied_exclusions(&mut self, list: &str) -> Result<()> {
        let patterns: Vec<&str> = crate::glob::split_list(list)
            .into_iter()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(p) = patterns.iter().find(|p| !p.contains(':')) {
            return Err(Error::invalid(
                "denied exclusion",
                *p,
                "expected service:Action, e.g. ce:GetCostAndUsage or ec2:Describe*",
            ));
        }
        self.denied_set = PatternSet::new("denied exclusion", patterns)?.ignore_case();
        Ok(())
    }

    /// True when the event's `service:Action` matches a denied exclusion.
    pub fn is_excluded_denial(&self, event: &ActivityEvent) -> bool {
        if self.denied_set.is_empty() {
            return false;
        }
        let service = event.source.split('.').next().unwrap_or(&event.source);
        self.denied_set
            .is_match(&format!("{service}:{}", event.name))
            || self
                .denied_set
                .is_match(&format!("{}:{}", event.source, event.name))
    }
}

/// A time zone: a fixed offset or an IANA name (daylight saving applied).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl Zone {
    /// `UTC`, `+02:00`, `-0530`, `UTC+2` or an IANA name such as `Europe/Berlin`.
    pub fn parse(s: &str) -> Result<Self> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("utc") || t.eq_ignore_ascii_case("z") {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        let offset = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("GMT"))
            .unwrap_or(t);
        if let Some(sign) = offset.chars().next().filter(|c| *c == '+' || *c == '-') {
            let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
            let (h, m) = match digits.len() {
                1 | 2 => (digits.parse::<i32>().ok(), Some(0)),
                4 => (digits[..2].parse().ok(), digits[2..].parse().ok()),
                _ => (None, None),
            };
            if let (Some(h), Some(m)) = (h, m) {
                let secs = (h * 3600 + m * 60) * if sign == '-' { -1 } else { 1 };
                if let Some(fixed) = FixedOffset::east_opt(secs).filter(|_| h <= 14 && m < 60) {
                    return Ok(Zone::Fixed(fixed));
                }
            }
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            Error::invalid(
                "time zone",
                s,
                "expected UTC, an offset such as +02:00, or a name such as Europe/Berlin",
            )
        })
    }

    /// Local weekday and time of day.
    pub fn local(&self, t: DateTime<Utc>) -> (Weekday, NaiveTime) {
        match self {
            Zone::Fixed(o) => {
                let l = t.with_timezone(o);
                (l.weekday(), l.time())
            }
            Zone::Named(tz) => {
                let l = t.with_timezone(tz);
                (l.weekday(), l.time())
            }
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Fixed(o) if o.local_minus_utc() == 0 => f.write_str("UTC"),
            Zone::Fixed(o) => write!(f, "UTC{o}"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

/// When people work: `[start, end)` local time on the given weekdays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    /// Bit `n` set = `Weekday::num_days_from_monday() == n` is a working day.
    pub days: u8,
    pub zone: Zone,
}

impl Default for WorkingHours {
    /// 07:00-19:00, Monday to Friday, UTC.
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(7, 0, 0).expect("valid"),
            end: NaiveTime::from_hms_opt(19, 0, 0).expect("valid"),
            days: 0b0001_1111,
            zone: Zone::Fixed(Utc.fix()),
        }
    }
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WorkingHours {
    /// `WORKING_HOURS` (`08:00-18:00`), `WORKING_DAYS` (`mon-fri`, `mon,tue,thu`, `sun-thu`)
    /// and `TIME_ZONE`.
    pub fn parse(hours: &str, days: &str, zone: &str) -> Result<Self> {
        let bad_hours = || {
            Error::invalid(
                "working hours",
                hours,
                "expected HH:MM-HH:MM, e.g. 08:00-18:00",
            )
        };
        let (a, b) = hours.trim().split_once('-').ok_or_else(bad_hours)?;
        let time = |s: &str| {
            let s = s.trim();
            NaiveTime::parse_from_str(s, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(&format!("{s}:00"), "%H:%M"))
                .ok()
                .or_else(|| {
                    (s == "24:00" || s == "24")
                        .then(|| NaiveTime::from_hms_opt(23, 59, 59).expect("valid"))
                })
        };
        let (start, end) = (
            time(a).ok_or_else(bad_hours)?,
            time(b).ok_or_else(bad_hours)?,
        );
        if start == end {
            return Err(Error::invalid(
                "working hours",
                hours,
                "start and end are the same",
            ));
        }
        Ok(Self {
            start,
            end,
            days: parse_days(days)?,
            zone: Zone::parse(zone)?,
        })
    }

    /// True when `t` falls inside working hours (an end before the start spans midnight).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let (day, time) = self.zone.local(t);
        let (day_of_shift, in_hours) = if self.start < self.end {
            (day, time >= self.start && time < self.end)
        } else if time >= self.start {
            (day, true)
        } else {
            (day.pred(), time < self.end)
        };
        in_hours && self.days & (1 << day_of_shift.num_days_from_monday()) != 0
    }

    /// The spans of `[from, to]` outside working hours, each `[start, end)`, in order; every
    /// instant of the window is in a span exactly when [`Self::contains`] is false.
    ///
    /// Walks the window a minute at a time (two looks per minute, a second at a time where they
    /// differ): working hours start and end on whole seconds (`24:00` is `23:59:59`), and every
    /// zone in use today is a whole number of minutes from UTC, so a change inside a minute
    /// shows at its first or last second. About 3,000 looks a day: callers bound the window.
    pub fn outside(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let second = TimeDelta::seconds(1);
        let minute = TimeDelta::minutes(1);
        let mut spans = Vec::new();
        let mut open: Option<DateTime<Utc>> = None;
        let mut mark = |t: DateTime<Utc>, off: bool, spans: &mut Vec<_>| match (off, open) {
            (true, None) => open = Some(t),
            (false, Some(a)) => {
                spans.push((a, t));
                open = None;
            }
            _ => {}
        };
        let mut m = from.duration_trunc(minute).unwrap_or(from);
        while m <= to {
            let (first, last) = (!self.contains(m), !self.contains(m + minute - second));
            if first == last {
                mark(m, first, &mut spans);
            } else {
                for s in 0..60 {
                    let t = m + second * s;
                    mark(t, !self.contains(t), &mut spans);
                }
            }
            m += minute;
        }
        if let Some(a) = open {
            spans.push((a, m));
        }
        // Clip to the window, its end included.
        let end = to + TimeDelta::microseconds(1);
        spans
            .into_iter()
            .map(|(a, b)| (a.max(from), b.min(end)))
            .filter(|(a, b)| a < b)
            .collect()
    }

    /// Readable form: `07:00-19:00 mon-fri UTC`.
    pub fn describe(&self) -> String {
        let days: Vec<&str> = (0..7)
            .filter(|i| self.days & (1 << i) != 0)
            .map(|i| DAYS[i])
            .collect();
        format!(
            "{}-{} {} {}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M"),
            days.join(","),
            self.zone
        )
    }
}

fn parse_days(s: &str) -> Result<u8> {
    let bad = || Error::invalid("working days", s, "expected e.g. mon-fri or mon,tue,wed");
    let day = |d: &str| {
        let d = d.trim().to_ascii_lowercase();
        DAYS.iter().position(|x| d.starts_with(x)).ok_or_else(bad)
    };
    let mut mask = 0u8;
    for part in split_list(s) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut i = a;
                loop {
                    mask |= 1 << i;
                    if i == b {
                        break;
                    }
                    i = (i + 1) % 7;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    if mask == 0 {
        return Err(bad());
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn admin_policies_match_exactly_in_any_partition() {
        let s = RuleSettings::default();
        assert!(s.is_admin_policy("arn:aws:iam::aws:policy/AdministratorAccess"));
        assert!(s.is_admin_policy("arn:aws-us-gov:iam::aws:policy/AdministratorAccess"));
        assert!(!s.is_admin_policy("arn:aws:iam::aws:policy/AdministratorAccess-Amplify"));
        assert!(!s.is_admin_policy("arn:aws:iam::aws:policy/job-function/ViewOnlyAccess"));
        let mut s = RuleSettings::default();
        assert!(s.set_admin_policies("AdministratorAccess").is_err());
        s.set_admin_policies("arn:aws:iam::111122223333:policy/break-glass")
            .unwrap();
        assert!(s.is_admin_policy("arn:aws:iam::111122223333:policy/break-glass"));
        assert!(!s.is_admin_policy("arn:aws:iam::aws:policy/AdministratorAccess"));
    }

    #[test]
    fn networks_and_accounts_are_validated() {
        let mut s = RuleSettings::default();
        s.set_expected_networks("203.0.113.0/24, 2001:db8::/32, 198.51.100.7")
            .unwrap();
        assert_eq!(s.expected_networks().len(), 3);
        let e = s
            .set_expected_networks("10.0.0.0/33")
            .unwrap_err()
            .to_string();
        assert!(e.contains("10.0.0.0/33"), "{e}");
        assert!(s.set_trusted_accounts("111122223333,444455556666").is_ok());
        assert!(s.set_trusted_accounts("1111").is_err());
        assert!(s.set_denied_exclusions("Describe*").is_err());
    }

    #[test]
    fn zones_parse_offsets_and_names() {
        assert_eq!(Zone::parse("UTC").unwrap().to_string(), "UTC");
        assert_eq!(
            Zone::parse("+02:00").unwrap(),
            Zone::parse("UTC+2").unwrap()
        );
        assert!(
            matches!(Zone::parse("-0530").unwrap(), Zone::Fixed(o) if o.local_minus_utc() == -19800)
        );
        assert_eq!(
            Zone::parse("Europe/Berlin").unwrap().to_string(),
            "Europe/Berlin"
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
    }

    /// Every second of a few days, around both of Berlin's clock changes, a night shift, a
    /// `24:00` end and a half-hour zone: in a span exactly when outside working hours.
    #[test]
    fn the_spans_outside_working_hours_are_exact_to_the_second() {
        let cases = [
            (WorkingHours::default(), "2026-03-06T10:20:30Z"),
            (
                WorkingHours::parse("08:00-18:00", "mon-fri", "Europe/Berlin").unwrap(),
                "2026-03-27T00:00:00Z",
            ),
            (
                WorkingHours::parse("00:30-02:45", "mon-sun", "Europe/Berlin").unwrap(),
                "2026-10-24T12:00:00Z",
            ),
            (
                WorkingHours::parse("22:00-06:00", "sun-thu", "UTC").unwrap(),
                "2026-03-05T00:00:00Z",
            ),
            (
                WorkingHours::parse("00:00-24:00", "sat,sun", "UTC").unwrap(),
                "2026-03-06T23:00:00Z",
            ),
            (
                WorkingHours::parse("09:00-17:30", "mon-fri", "+05:30").unwrap(),
                "2026-03-06T00:00:07Z",
            ),
        ];
        for (w, from) in cases {
            let from = at(from);
            let to = from + TimeDelta::days(3) + TimeDelta::seconds(17);
            let spans = w.outside(from, to);
            assert!(!spans.is_empty(), "{}", w.describe());
            assert!(spans.windows(2).all(|p| p[0].1 < p[1].0), "ordered, apart");
            assert_eq!(spans[0].0.max(from), spans[0].0, "inside the window");
            let mut t = from;
            while t <= to {
                let spanned = spans.iter().any(|(a, b)| *a <= t && t < *b);
                assert_eq!(spanned, !w.contains(t), "{} at {t}", w.describe());
                t += TimeDelta::seconds(1);
            }
            assert!(spans.last().unwrap().1 <= to + TimeDelta::microseconds(1));
        }
        let day =
            WorkingHours::default().outside(at("2026-03-03T00:00:00Z"), at("2026-03-03T23:59:59Z"));
        assert_eq!(
            day,
            vec![
                (at("2026-03-03T00:00:00Z"), at("2026-03-03T07:00:00Z")),
                (
                    at("2026-03-03T19:00:00Z"),
                    at("2026-03-03T23:59:59.000001Z")
                ),
            ]
        );
    }

    #[test]
    fn working_hours_follow_the_zone_days_and_midnight() {
        let w = WorkingHours::parse("08:00-18:00", "mon-fri", "Europe/Berlin").unwrap();
        // 2026-03-02 is a Monday. Berlin is UTC+1 in winter, UTC+2 in summer.
        assert!(w.contains(at("2026-03-02T07:30:00Z")));
        assert!(!w.contains(at("2026-03-02T06:59:00Z")));
        assert!(!w.contains(at("2026-03-02T17:00:00Z")));
        assert!(w.contains(at("2026-07-06T06:30:00Z")), "summer time");
        assert!(!w.contains(at("2026-03-07T10:00:00Z")), "saturday");
        let night = WorkingHours::parse("22:00-06:00", "sun-thu", "UTC").unwrap();
        assert!(
            night.contains(at("2026-03-01T23:00:00Z")),
            "sunday night shift"
        );
        assert!(
            night.contains(at("2026-03-02T05:00:00Z")),
            "its monday morning end"
        );
        assert!(
            !night.contains(at("2026-03-07T02:00:00Z")),
            "friday night is off"
        );
        assert!(WorkingHours::parse("8-18", "mon-fri", "UTC").is_ok());
        assert!(WorkingHours::parse("08:00", "mon-fri", "UTC").is_err());
        assert!(WorkingHours::parse("08:00-18:00", "weekdays", "UTC").is_err());
        assert_eq!(
            WorkingHours::default().describe(),
            "07:00-19:00 mon,tue,wed,thu,fri UTC"
        );
    }
}
