//! The rule settings by name, as the Lambda reads them from its environment and `iat` from its
//! environment or `--set NAME=VALUE`: one table, so both take the same names and values.

use super::{RuleSetConfig, WorkingHours};
use crate::error::{Error, Result};
use crate::filter::NoiseFilter;

/// Every setting: name, default, what it does.
pub const SETTINGS: &[(&str, &str, &str)] = &[
    (
        "DISABLED_RULES",
        "",
        "Rule ids that never fire, comma-separated.",
    ),
    (
        "SEVERITY_OVERRIDES",
        "",
        "rule_id=level pairs (low, medium, high, critical) replacing a rule's severity.",
    ),
    (
        "FILTERED_ROLES",
        "",
        "Role-name globs whose activity alerts no one (scanners: PrismaCloud*,Wiz*).",
    ),
    (
        "ALLOWED_ACTORS",
        "",
        "Actor names or principal ARNs (globs) whose activity alerts no one.",
    ),
    (
        "ADMIN_POLICY_ARNS",
        "arn:aws:iam::aws:policy/AdministratorAccess,arn:aws:iam::aws:policy/IAMFullAccess",
        "Policy ARNs that count as administrator, compared exactly.",
    ),
    (
        "TRUSTED_ACCOUNTS",
        "",
        "Account ids trust policies may name without an alert.",
    ),
    (
        "EXPECTED_NETWORKS",
        "",
        "CIDRs console sign-ins should come from; empty turns that rule off.",
    ),
    (
        "DENIED_EXCLUSIONS",
        "ce:GetCostAndUsage,ce:GetCostForecast",
        "service:Action globs whose denials never alert.",
    ),
    (
        "WORKING_HOURS",
        "07:00-19:00",
        "Local working hours, HH:MM-HH:MM.",
    ),
    ("WORKING_DAYS", "mon-fri", "Working days."),
    (
        "SEEN_LEARN_DAYS",
        "14",
        "First-seen rules stay quiet for a principal (account, organisation) younger than this.",
    ),
    (
        "SEEN_FORGET_DAYS",
        "90",
        "First-seen state unused for this long is forgotten.",
    ),
    (
        "SEEN_SERVICE_READS",
        "false",
        "first_service_use also fires on read-only calls.",
    ),
    (
        "TIME_ZONE",
        "UTC",
        "Zone of the working hours: UTC, +02:00 or an IANA name.",
    ),
];

impl RuleSetConfig {
    /// Builds the configuration from settings looked up by name (unset or empty = default).
    /// Errors name the setting.
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let named = |name: &'static str| {
            move |e: Error| Error::invalid(name, e.to_string(), "see `iat rules list --help`")
        };
        let mut c = RuleSetConfig::default();
        if let Some(v) = get("DISABLED_RULES") {
            c.disabled = Self::parse_disabled(&v).map_err(named("DISABLED_RULES"))?;
        }
        if let Some(v) = get("SEVERITY_OVERRIDES") {
            c.severity = Self::parse_severities(&v).map_err(named("SEVERITY_OVERRIDES"))?;
        }
        if let Some(v) = get("FILTERED_ROLES") {
            c.filter = NoiseFilter::from_list(&v).map_err(named("FILTERED_ROLES"))?;
        }
        if let Some(v) = get("ALLOWED_ACTORS") {
            c.allowed_actors = crate::glob::split_list(&v)
                .into_iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect();
        }
        if let Some(v) = get("ADMIN_POLICY_ARNS") {
            c.settings
                .set_admin_policies(&v)
                .map_err(named("ADMIN_POLICY_ARNS"))?;
        }
        if let Some(v) = get("TRUSTED_ACCOUNTS") {
            c.settings
                .set_trusted_accounts(&v)
                .map_err(named("TRUSTED_ACCOUNTS"))?;
        }
        if let Some(v) = get("EXPECTED_NETWORKS") {
            c.settings
                .set_expected_networks(&v)
                .map_err(named("EXPECTED_NETWORKS"))?;
        }
        if let Some(v) = get("DENIED_EXCLUSIONS") {
            c.settings
                .set_denied_exclusions(&v)
                .map_err(named("DENIED_EXCLUSIONS"))?;
        }
        let days = |name: &'static str| -> Result<Option<chrono::Duration>> {
            get(name)
                .map(|v| match v.parse::<i64>() {
                    Ok(d) if (1..=3650).contains(&d) => Ok(chrono::Duration::days(d)),
                    _ => Err(Error::invalid(name, v, "a whole number of days, 1 to 3650")),
                })
                .transpose()
        };
        if let Some(d) = days("SEEN_LEARN_DAYS")? {
            c.seen.learn = d;
        }
        if let Some(d) = days("SEEN_FORGET_DAYS")? {
            c.seen.forget = d;
        }
        if c.seen.learn >= c.seen.forget {
            return Err(Error::invalid(
                "SEEN_LEARN_DAYS",
                c.seen.learn.num_days().to_string(),
                "must be shorter than SEEN_FORGET_DAYS, or every key is forgotten before it alerts",
            ));
        }
        if let Some(v) = get("SEEN_SERVICE_READS") {
            c.seen.service_reads = match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(Error::invalid("SEEN_SERVICE_READS", v, "true or false")),
            };
        }
        let hours = get("WORKING_HOURS").unwrap_or_else(|| "07:00-19:00".into());
        let days = get("WORKING_DAYS").unwrap_or_else(|| "mon-fri".into());
        let zone = get("TIME_ZONE").unwrap_or_else(|| "UTC".into());
        c.settings.working_hours = WorkingHours::parse(&hours, &days, &zone)
            .map_err(named("WORKING_HOURS/WORKING_DAYS/TIME_ZONE"))?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<RuleSetConfig> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        RuleSetConfig::from_lookup(&|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_and_named_errors() {
        let c = from(&[]).unwrap();
        assert!(c.disabled.is_empty());
        assert_eq!(c.settings.working_hours, WorkingHours::default());
        let c = from(&[
            ("DISABLED_RULES", "off_hours_activity"),
            ("TIME_ZONE", "Europe/Paris"),
            ("EXPECTED_NETWORKS", " "),
        ])
        .unwrap();
        assert!(c.disabled.contains("off_hours_activity"));
        assert!(c.settings.expected_networks().is_empty());
        for (name, bad) in [
            ("EXPECTED_NETWORKS", "10.0.0.0/40"),
            ("TIME_ZONE", "Moon/Base"),
            ("DISABLED_RULES", "nope"),
            ("TRUSTED_ACCOUNTS", "12"),
        ] {
            let e = from(&[(name, bad)]).unwrap_err().to_string();
            assert!(
                e.contains(name.split('/').next().unwrap()) || e.contains("WORKING_HOURS"),
                "{e}"
            );
        }
        assert_eq!(SETTINGS.len(), 14);
    }
}
