//! The weekly denied-calls report: five queries' rows made into one readable message.
//!
//! A platform team reads it to see which services and actions people need before they ask:
//! what was denied, by which policy layer, what is newly denied this week (a new need, a
//! renamed action, new tooling), and activity in regions nobody should use.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use iat_core::ports::ResultRows;

/// The report's inputs.
#[derive(Debug, Clone)]
pub struct WeeklyReport<'a> {
    pub start: &'a str,
    pub end: &'a str,
    pub denied_calls: &'a ResultRows,
    pub denied_new: &'a ResultRows,
    pub unexpected_regions: &'a ResultRows,
    /// Denied calls by account (the `denied_by_account` query).
    pub denied_by_account: &'a ResultRows,
    /// Regions with denials this period and none the period before (`denied_regions_new`).
    pub denied_regions_new: &'a ResultRows,
    /// Account names by id (from Organizations), where known.
    pub account_names: &'a BTreeMap<String, String>,
    /// Where the numbers came from, for the footer (e.g. "Athena workgroup iat, 42 MB scanned").
    pub source: String,
}

/// Lines listed per section; the rest are counted.
const LISTED: usize = 25;

fn service(source: &str) -> &str {
    source.trim_end_matches(".amazonaws.com")
}

impl WeeklyReport<'_> {
    /// A subject under 100 characters.
    pub fn subject(&self) -> String {
        format!(
            "Denied calls {} to {}: {} calls, {} actions, {} new",
            self.start,
            self.end,
            self.denied_calls.total("calls"),
            self.denied_calls.rows.len(),
            self.denied_new.rows.len()
        )
    }

    /// The plain-text body.
    pub fn body(&self) -> String {
        let mut b = String::new();
        let d = self.denied_calls;
        let _ = writeln!(b, "Denied API calls, {} to {} (UTC)", self.start, self.end);
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "{} denied calls of {} actions. Newly denied this period: {} actions, {} regions. Region, service and caller combinations outside the allowed regions: {}.",
            d.total("calls"),
            d.rows.len(),
            self.denied_new.rows.len(),
            self.denied_regions_new.rows.len(),
            self.unexpected_regions.rows.len()
        );
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "NEWLY DENIED (not denied in the period before: new needs, renamed actions, new tooling)"
        );
        if self.denied_new.rows.is_empty() {
            let _ = writeln!(b, "  none");
        }
        for i in 0..self.denied_new.rows.len().min(LISTED) {
            let r = self.denied_new;
            let _ = writeln!(
                b,
                "  {:>6}  {}:{}  by {} callers, first {}, denied by {}",
                r.get(i, "calls"),
                service(r.get(i, "event_source")),
                r.get(i, "event_name"),
                r.get(i, "callers"),
                r.get(i, "first_seen"),
                r.get(i, "a_layer").replace('_', " ")
            );
        }
        more(&mut b, self.denied_new.rows.len());
        let r = self.denied_regions_new;
        if !r.rows.is_empty() {
            let _ = writeln!(b, "  in regions with no denial the period before:");
        }
        for i in 0..r.rows.len().min(LISTED) {
            let _ = writeln!(
                b,
                "  {:>6}  {}  {} actions by {} callers in {} accounts, first {}",
                r.get(i, "calls"),
                r.get(i, "aws_region"),
                r.get(i, "actions"),
                r.get(i, "callers"),
                r.get(i, "accounts"),
                r.get(i, "first_seen"),
            );
        }
        more(&mut b, r.rows.len());
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "MOST DENIED (calls, callers, accounts, regions, and a layer that denied them)"
        );
        if d.rows.is_empty() {
            let _ = writeln!(b, "  none");
        }
        for i in 0..d.rows.len().min(LISTED) {
            let layers = d.get(i, "layers");
            let layer = d.get(i, "a_layer").replace('_', " ");
            let by = if layers == "1" {
                layer
            } else {
                format!(
                    "{layer} and {} other layers",
                    layers.parse::<u64>().unwrap_or(1) - 1
                )
            };
            let _ = writeln!(
                b,
                "  {:>6}  {}:{}  {} callers, {} accounts, {} regions; {by}",
                d.get(i, "calls"),
                service(d.get(i, "event_source")),
                d.get(i, "event_name"),
                d.get(i, "callers"),
                d.get(i, "accounts"),
                d.get(i, "regions"),
            );
        }
        more(&mut b, d.rows.len());
        let _ = writeln!(b);
        let a = self.denied_by_account;
        let _ = writeln!(
            b,
            "BY ACCOUNT ({} accounts with denied calls)",
            a.rows.len()
        );
        if a.rows.is_empty() {
            let _ = writeln!(b, "  none");
        }
        for i in 0..a.rows.len().min(LISTED) {
            let id = a.get(i, "account");
            let name = self
                .account_names
                .get(id)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            let _ = writeln!(
                b,
                "  {:>6}  {}{name}  {} actions, {} callers, {} regions; {} by an organisation policy",
                a.get(i, "calls"),
                if id.is_empty() { "unknown account" } else { id },
                a.get(i, "actions"),
                a.get(i, "callers"),
                a.get(i, "regions"),
                a.get(i, "org_policy_calls"),
            );
        }
        more(&mut b, a.rows.len());
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "UNEXPECTED REGIONS (activity outside the allowed regions)"
        );
        let u = self.unexpected_regions;
        if u.rows.is_empty() {
            let _ = writeln!(b, "  none");
        }
        for i in 0..u.rows.len().min(LISTED) {
            let _ = writeln!(
                b,
                "  {:>6}  {}  {}  by {} ({} denied), last {}",
                u.get(i, "calls"),
                u.get(i, "aws_region"),
                service(u.get(i, "event_source")),
                u.get(i, "actor"),
                u.get(i, "denied"),
                u.get(i, "last_seen")
            );
        }
        more(&mut b, u.rows.len());
        let _ = writeln!(b);
        let _ = writeln!(
            b,
            "Service control policy and resource control policy denials need an organisation change; identity, boundary and session denials a role change; resource and VPC endpoint policy denials the resource owner."
        );
        let _ = writeln!(
            b,
            "From {}. Details: `iat query denied_calls`, `denied_new`, `denied_regions_new`, `denied_by_account`, `denied_by_layer`, `unexpected_regions`.",
            self.source
        );
        b
    }
}

fn more(b: &mut String, n: usize) {
    if n > LISTED {
        let _ = writeln!(b, "  ... and {} more", n - LISTED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(columns: &[&str], data: &[&[&str]]) -> ResultRows {
        ResultRows {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            typed: vec![false; columns.len()],
            rows: data
                .iter()
                .map(|r| r.iter().map(|v| Some((*v).to_owned())).collect())
                .collect(),
        }
    }

    #[test]
    fn the_report_names_new_and_top_denials_and_regions() {
        let calls = rows(
            &[
                "event_source",
                "event_name",
                "calls",
                "callers",
                "accounts",
                "regions",
                "a_layer",
                "layers",
            ],
            &[
                &[
                    "sqs.amazonaws.com",
                    "CreateQueue",
                    "12",
                    "3",
                    "2",
                    "1",
                    "service_control_policy",
                    "1",
                ],
                &[
                    "kms.amazonaws.com",
                    "Decrypt",
                    "5",
                    "1",
                    "1",
                    "1",
                    "resource_policy",
                    "2",
                ],
            ],
        );
        let new = rows(
            &[
                "event_source",
                "event_name",
                "calls",
                "callers",
                "a_layer",
                "first_seen",
            ],
            &[&[
                "sqs.amazonaws.com",
                "CreateQueue",
                "12",
                "3",
                "service_control_policy",
                "2026-03-02T10:00:00Z",
            ]],
        );
        let regions = rows(
            &[
                "aws_region",
                "event_source",
                "actor",
                "calls",
                "denied",
                "last_seen",
            ],
            &[],
        );
        let accounts = rows(
            &[
                "account",
                "calls",
                "actions",
                "callers",
                "regions",
                "org_policy_calls",
            ],
            &[
                &["111122223333", "12", "1", "3", "1", "12"],
                &["444455556666", "5", "1", "1", "1", "0"],
            ],
        );
        let names: BTreeMap<String, String> =
            [("111122223333".to_owned(), "prod-payments".to_owned())].into();
        let r = WeeklyReport {
            start: "2026-03-01",
            end: "2026-03-07",
            denied_calls: &calls,
            denied_new: &new,
            unexpected_regions: &regions,
            denied_by_account: &accounts,
            denied_regions_new: &rows(
                &[
                    "aws_region",
                    "calls",
                    "actions",
                    "callers",
                    "accounts",
                    "first_seen",
                ],
                &[&["ap-east-1", "4", "2", "1", "1", "2026-03-05T01:00:00Z"]],
            ),
            account_names: &names,
            source: "the local lake".into(),
        };
        assert_eq!(
            r.subject(),
            "Denied calls 2026-03-01 to 2026-03-07: 17 calls, 2 actions, 1 new"
        );
        let body = r.body();
        assert!(body.contains("      12  sqs:CreateQueue  by 3 callers, first 2026-03-02T10:00:00Z, denied by service control policy"), "{body}");
        assert!(
            body.contains(
                "kms:Decrypt  1 callers, 1 accounts, 1 regions; resource policy and 1 other layers"
            ),
            "{body}"
        );
        assert!(
            body.contains("Newly denied this period: 1 actions, 1 regions."),
            "{body}"
        );
        assert!(
            body.contains("  in regions with no denial the period before:\n       4  ap-east-1  2 actions by 1 callers in 1 accounts, first 2026-03-05T01:00:00Z"),
            "{body}"
        );
        assert!(
            body.contains("BY ACCOUNT (2 accounts with denied calls)\n      12  111122223333 (prod-payments)  1 actions, 3 callers, 1 regions; 12 by an organisation policy\n       5  444455556666  1 actions"),
            "{body}"
        );
        assert!(
            body.contains("UNEXPECTED REGIONS (activity outside the allowed regions)\n  none"),
            "{body}"
        );
    }
}
