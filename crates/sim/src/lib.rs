//! A deterministic generator of an organisation's CloudTrail activity, for tests, benchmarks and
//! the demo.
//!
//! [`generate`] writes one day of CloudTrail log files, laid out as CloudTrail delivers them to
//! S3 (`AWSLogs/<org>/<account>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz`, one file per account,
//! region and five minutes), and a `labels.json` that says which events belong to which planted
//! security scenario and how to find them.
//!
//! [`generate_learned`] writes the same kind of day preceded by its own replay three weeks
//! earlier (so a first-seen state has learned the organisation) and plants the "first use after
//! learning" scenarios on the day only.
//!
//! [`lookup`] serves such data as CloudTrail's `LookupEvents` API, with its limits and faults;
//! `emulators` (feature `testkit`, for tests and benchmarks only) finds the other emulators tests
//! use.
//!
//! The decision to know: the background is benign by construction. People work weekdays 08:00
//! to 18:00 in the organisation's time zone, from its networks, with MFA; at night only
//! automation and AWS services act; no background call is denied. Everything a detector should
//! notice is a labelled scenario, so precision and recall can be measured exactly. The same seed
//! and day always give the same bytes.

mod background;
#[cfg(feature = "testkit")]
pub mod emulators;
mod ids;
pub mod lookup;
mod org;
mod records;
mod scenarios;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Timelike, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use org::Org;

/// Errors of the generator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct OrgConfig {
    pub seed: u64,
    /// The UTC day to generate.
    pub day: NaiveDate,
    /// Accounts in the organisation, management account included (2 to 50).
    pub accounts: usize,
    /// Background events to generate (scenario events come on top).
    pub background_events: u64,
    /// The organisation's working-hours zone, hours east of UTC.
    pub utc_offset_hours: i32,
}

impl Default for OrgConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            day: NaiveDate::from_ymd_opt(2026, 3, 3).unwrap(),
            accounts: 4,
            background_events: 20_000,
            utc_offset_hours: 1,
        }
    }
}

/// How to find a scenario's events with `iat events`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finder {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub denied: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denial_layer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
}

impl Finder {
    /// The `iat events` arguments that select this scenario's events.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        for n in &self.event_names {
            a.extend(["--event-name".to_owned(), n.clone()]);
        }
        let mut opt = |flag: &str, v: &Option<String>| {
            if let Some(v) = v {
                a.extend([flag.to_owned(), v.clone()]);
            }
        };
        opt("--actor", &self.actor);
        opt("--account", &self.account);
        opt("--source", &self.source);
        opt("--source-ip", &self.source_ip);
        opt("--denial-layer", &self.denial_layer);
        let fmt = |t: &Option<DateTime<Utc>>| {
            t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        };
        opt("--since", &fmt(&self.since));
        opt("--until", &fmt(&self.until));
        if self.denied {
            a.push("--denied".to_owned());
        }
        a
    }
}

/// One planted scenario.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScenarioLabel {
    /// What kind of thing happened, e.g. `root_console_login_no_mfa`.
    pub kind: String,
    pub description: String,
    pub account: String,
    pub event_ids: Vec<String>,
    pub find: Finder,
    /// The alerts the scenario must raise: one (event, rule) pair per rule and event.
    #[serde(default)]
    pub alerts: Vec<ExpectedAlert>,
}

/// One alert a scenario must raise.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedAlert {
    pub event_id: String,
    pub rule_id: String,
}

/// How well a set of raised alerts matches the labels.
#[derive(Debug, Clone, Serialize)]
pub struct AlertScore {
    pub expected: usize,
    pub raised: usize,
    pub true_positives: usize,
    /// True positives over raised (1.0 when nothing was raised).
    pub precision: f64,
    /// True positives over expected.
    pub recall: f64,
    /// Expected alerts not raised, with the scenario kind.
    pub missed: Vec<(String, ExpectedAlert)>,
    /// Raised alerts no label expects (on background events, or the wrong rule).
    pub unexpected: Vec<ExpectedAlert>,
}

/// The labels file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Labels {
    pub seed: u64,
    pub day: NaiveDate,
    pub organization_id: String,
    pub accounts: Vec<String>,
    /// Each account's name, as Organizations would list it.
    #[serde(default)]
    pub account_names: std::collections::BTreeMap<String, String>,
    pub utc_offset_hours: i32,
    /// Weekdays, local time: `[start, end)` hours.
    pub working_hours: (u32, u32),
    pub expected_networks: Vec<String>,
    pub sso_region: String,
    /// Role-name globs of the third-party scanners in the background (for `FILTERED_ROLES`).
    pub scanner_role_patterns: Vec<String>,
    pub background_events: u64,
    pub scenario_events: u64,
    /// Records of the history [`generate_learned`] replays before the day (0 for [`generate`]).
    #[serde(default)]
    pub history_events: u64,
    pub files: u64,
    pub scenarios: Vec<ScenarioLabel>,
}

impl Labels {
    /// Reads a labels file.
    pub fn read(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Write {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text)
            .map_err(|e| SimError::Config(format!("{}: {e}", path.display())))
    }

    /// The alert rule settings an operator of this organisation would set (the alerter's
    /// environment variables): its networks, accounts, working hours and scanner roles.
    pub fn rule_settings(&self) -> Vec<(&'static str, String)> {
        let (start, end) = self.working_hours;
        vec![
            ("EXPECTED_NETWORKS", self.expected_networks.join(",")),
            ("TRUSTED_ACCOUNTS", self.accounts.join(",")),
            ("WORKING_HOURS", format!("{start:02}:00-{end:02}:00")),
            ("WORKING_DAYS", "mon-fri".to_owned()),
            ("TIME_ZONE", format!("{:+03}:00", self.utc_offset_hours)),
            ("FILTERED_ROLES", self.scanner_role_patterns.join(",")),
        ]
    }

    /// [`Labels::rule_settings`] as the rule set's configuration.
    pub fn rule_config(&self) -> Result<iat_core::rules::RuleSetConfig, iat_core::Error> {
        let settings = self.rule_settings();
        iat_core::rules::RuleSetConfig::from_lookup(&|name| {
            settings
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
        })
    }

    /// Scores raised `(event id, rule id)` pairs against the scenarios' expected alerts.
    pub fn score_alerts(&self, raised: &std::collections::BTreeSet<ExpectedAlert>) -> AlertScore {
        let mut expected = std::collections::BTreeSet::new();
        let mut missed = Vec::new();
        for s in &self.scenarios {
            for a in &s.alerts {
                expected.insert(a.clone());
                if !raised.contains(a) {
                    missed.push((s.kind.clone(), a.clone()));
                }
            }
        }
        let true_positives = raised.intersection(&expected).count();
        let unexpected: Vec<ExpectedAlert> = raised.difference(&expected).cloned().collect();
        let ratio = |n: usize, d: usize| if d == 0 { 1.0 } else { n as f64 / d as f64 };
        AlertScore {
            expected: expected.len(),
            raised: raised.len(),
            true_positives,
            precision: ratio(true_positives, raised.len()),
            recall: ratio(true_positives, expected.len()),
            missed,
            unexpected,
        }
    }

    /// Every event id that belongs to some scenario.
    pub fn scenario_event_ids(&self) -> std::collections::BTreeSet<&str> {
        self.scenarios
            .iter()
            .flat_map(|s| s.event_ids.iter().map(String::as_str))
            .collect()
    }
}

/// A generated record waiting to be written: where CloudTrail would deliver it, and its JSON.
pub(crate) struct Pending {
    pub(crate) account: usize,
    pub(crate) region: &'static str,
    pub(crate) time: DateTime<Utc>,
    pub(crate) json: serde_json::Value,
}

/// Generates the day into `out` (created if needed) and returns its labels, also written to
/// `out/labels.json`.
pub fn generate(config: &OrgConfig, out: &Path) -> Result<Labels, SimError> {
    generate_with(config, out, &mut |_| {})
}

/// How far before the day [`generate_learned`] replays it: past the default 14-day learning
/// period of the first-seen rules, well inside their 90-day memory.
pub const HISTORY_OFFSET_DAYS: i64 = 21;

/// [`generate`], preceded by a history: every record of the day (background and scenarios)
/// replayed [`HISTORY_OFFSET_DAYS`] earlier under a new event id. On the day, the first-use
/// scenarios of a role with that history are planted on top (not replayed): a service, a
/// network and a region it never used, and an action never denied in the organisation. With
/// the history learned, these are the day's only first seeings, so the first-seen rules'
/// precision and recall can be measured like the others'. The history's records count in
/// [`Labels::history_events`], not in the background or scenario counts.
pub fn generate_learned(config: &OrgConfig, out: &Path) -> Result<Labels, SimError> {
    generate_days(config, out, &mut |_| {}, true)
}

/// [`generate`], reporting the number of events written after each hour.
pub fn generate_with(
    config: &OrgConfig,
    out: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<Labels, SimError> {
    generate_days(config, out, progress, false)
}

fn generate_days(
    config: &OrgConfig,
    out: &Path,
    progress: &mut dyn FnMut(u64),
    learned: bool,
) -> Result<Labels, SimError> {
    if !(2..=50).contains(&config.accounts) {
        return Err(SimError::Config(format!(
            "accounts must be 2 to 50, not {}",
            config.accounts
        )));
    }
    if !(-12..=14).contains(&config.utc_offset_hours) {
        return Err(SimError::Config(format!(
            "utc offset must be -12 to 14 hours, not {}",
            config.utc_offset_hours
        )));
    }
    if matches!(
        config.day.weekday(),
        chrono::Weekday::Sat | chrono::Weekday::Sun
    ) {
        return Err(SimError::Config(format!(
            "{} is a weekend day; pick a weekday (scenarios are planted in working hours)",
            config.day
        )));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let org = Org::new(&mut rng, config);
    let day_start = Utc.from_utc_datetime(&config.day.and_hms_opt(0, 0, 0).unwrap());

    let (mut scenario_records, mut scenarios) = scenarios::plant(&mut rng, &org, day_start);
    let mut novel_by_hour: BTreeMap<u32, Vec<Pending>> = BTreeMap::new();
    if learned {
        let (routine, novel, labels) = scenarios::plant_first_seen(&mut rng, &org, day_start);
        scenario_records.extend(routine);
        for p in novel {
            novel_by_hour.entry(p.time.hour()).or_default().push(p);
        }
        scenarios.extend(labels);
    }
    let scenario_events =
        (scenario_records.len() + novel_by_hour.values().map(Vec::len).sum::<usize>()) as u64;
    let mut by_hour: BTreeMap<u32, Vec<Pending>> = BTreeMap::new();
    for p in scenario_records {
        by_hour.entry(p.time.hour()).or_default().push(p);
    }
    // The history's ids and files draw on a stream of their own, leaving the main one to the
    // day's records.
    let mut history_rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x6869_7374_6f72_7900);
    let mut history_events = 0u64;

    let weights: Vec<f64> = (0..24)
        .map(|h| background::hour_weight(&org, day_start + Duration::hours(h)))
        .collect();
    let total_weight: f64 = weights.iter().sum();
    let mut written = 0u64;
    let mut files = 0u64;
    let mut assigned = 0u64;
    for hour in 0..24u32 {
        let start = day_start + Duration::hours(i64::from(hour));
        let share = if hour == 23 {
            config.background_events - assigned
        } else {
            ((config.background_events as f64) * weights[hour as usize] / total_weight).round()
                as u64
        }
        .min(config.background_events - assigned);
        assigned += share;
        let mut pending = by_hour.remove(&hour).unwrap_or_default();
        pending.reserve(share as usize);
        for _ in 0..share {
            let t = start + Duration::milliseconds(rng.random_range(0..3_600_000));
            pending.push(background::event(&mut rng, &org, t));
        }
        if learned {
            let replay: Vec<Pending> = pending
                .iter()
                .map(|p| replayed(&mut history_rng, p))
                .collect();
            history_events += replay.len() as u64;
            files += write_hour(&mut history_rng, &org, out, replay)?;
            pending.extend(novel_by_hour.remove(&hour).unwrap_or_default());
        }
        written += pending.len() as u64;
        files += write_hour(&mut rng, &org, out, pending)?;
        progress(written);
    }

    let labels = Labels {
        seed: config.seed,
        day: config.day,
        organization_id: org.id.clone(),
        accounts: org.accounts.iter().map(|a| a.id.clone()).collect(),
        account_names: org
            .accounts
            .iter()
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect(),
        utc_offset_hours: config.utc_offset_hours,
        working_hours: (org::WORK_START, org::WORK_END),
        expected_networks: org::EXPECTED_NETWORKS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        sso_region: org::SSO_REGION.to_owned(),
        scanner_role_patterns: org::SCANNER_PATTERNS
            .iter()
            .map(|s| s.to_string())
            .collect(),
        background_events: config.background_events,
        scenario_events,
        history_events,
        files,
        scenarios,
    };
    let path = out.join("labels.json");
    let text = serde_json::to_string_pretty(&labels).expect("labels serialise");
    std::fs::write(&path, text).map_err(|source| SimError::Write { path, source })?;
    Ok(labels)
}

/// A record of the day as it was [`HISTORY_OFFSET_DAYS`] earlier, under a new event id.
fn replayed(rng: &mut ChaCha8Rng, p: &Pending) -> Pending {
    let time = p.time - Duration::days(HISTORY_OFFSET_DAYS);
    let mut json = p.json.clone();
    json["eventTime"] = serde_json::Value::String(time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    json["eventID"] = serde_json::Value::String(ids::uuid(rng));
    Pending {
        account: p.account,
        region: p.region,
        time,
        json,
    }
}

/// Writes one hour of records as CloudTrail would: a gzip file per account, region and 5 minutes.
fn write_hour(
    rng: &mut ChaCha8Rng,
    org: &Org,
    out: &Path,
    pending: Vec<Pending>,
) -> Result<u64, SimError> {
    let mut groups: BTreeMap<(usize, &'static str, u32), Vec<Pending>> = BTreeMap::new();
    for p in pending {
        let bucket = p.time.minute() / 5;
        groups
            .entry((p.account, p.region, bucket))
            .or_default()
            .push(p);
    }
    let mut files = 0;
    for ((account, region, _), mut group) in groups {
        group.sort_by_key(|p| p.time);
        let t = group[0].time;
        let delivered = t
            .with_minute(t.minute() / 5 * 5)
            .unwrap()
            .with_second(0)
            .unwrap()
            + Duration::minutes(5);
        let acct = &org.accounts[account].id;
        let dir = out.join(format!(
            "AWSLogs/{}/{acct}/CloudTrail/{region}/{:04}/{:02}/{:02}",
            org.id,
            t.year(),
            t.month(),
            t.day()
        ));
        std::fs::create_dir_all(&dir).map_err(|source| SimError::Write {
            path: dir.clone(),
            source,
        })?;
        let suffix: String = (0..16)
            .map(|_| ids::ALNUM[rng.random_range(0..ids::ALNUM.len())] as char)
            .collect();
        let path = dir.join(format!(
            "{acct}_CloudTrail_{region}_{}_{suffix}.json.gz",
            delivered.format("%Y%m%dT%H%MZ")
        ));
        let file = std::fs::File::create(&path).map_err(|source| SimError::Write {
            path: path.clone(),
            source,
        })?;
        let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
        let io = |source| SimError::Write {
            path: path.clone(),
            source,
        };
        gz.write_all(b"{\"Records\":[").map_err(io)?;
        for (i, p) in group.iter().enumerate() {
            if i > 0 {
                gz.write_all(b",").map_err(io)?;
            }
            serde_json::to_writer(&mut gz, &p.json).map_err(|e| io(e.into()))?;
        }
        gz.write_all(b"]}").map_err(io)?;
        gz.finish().and_then(|mut w| w.flush()).map_err(io)?;
        files += 1;
    }
    Ok(files)
}
