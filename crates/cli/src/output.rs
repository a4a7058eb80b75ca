//! Rendering events and numbers for people and for programs.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{ContentArrangement, Table};
use iat_core::{ActivityEvent, ConsoleLoginOutcome};

/// How to print events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// A table for reading.
    Table,
    /// One JSON array of normalised events, each with its original record.
    Json,
    /// One normalised event per line.
    Jsonl,
    /// Flat columns for spreadsheets.
    Csv,
}

/// How to print a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SummaryFormat {
    Text,
    Json,
}

pub(crate) fn table() -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    if let Some((w, _)) = terminal_width() {
        t.set_width(w);
    } else {
        t.set_width(160);
    }
    t
}

fn terminal_width() -> Option<(u16, u16)> {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .map(|w| (w, 0))
}

/// `iam.amazonaws.com` + `CreateUser` → `iam:CreateUser`.
pub(crate) fn action(e: &ActivityEvent) -> String {
    format!("{}:{}", e.source.trim_end_matches(".amazonaws.com"), e.name)
}

/// What happened to the call: `ok`, `DENIED (layer)`, an error code, or a sign-in outcome.
pub(crate) fn outcome(e: &ActivityEvent) -> String {
    if let Some(d) = e.denial {
        return format!("DENIED ({})", d.layer);
    }
    if let Some(login) = &e.console_login {
        let mfa = match login.mfa_used {
            Some(true) => ", MFA",
            Some(false) => ", no MFA",
            None => "",
        };
        return match &login.outcome {
            ConsoleLoginOutcome::Success => format!("sign-in ok{mfa}"),
            ConsoleLoginOutcome::Failure => format!("sign-in FAILED{mfa}"),
            ConsoleLoginOutcome::Other(o) => format!("sign-in {o}{mfa}"),
        };
    }
    match &e.error_code {
        Some(code) => code.clone(),
        None => "ok".to_owned(),
    }
}

pub(crate) fn time(e: &ActivityEvent) -> String {
    e.time.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// Writes events in `format`.
pub(crate) fn events(
    out: &mut dyn Write,
    events: &[ActivityEvent],
    format: EventFormat,
) -> anyhow::Result<()> {
    match format {
        EventFormat::Table => {
            let mut t = table();
            t.set_header([
                "time (UTC)",
                "account",
                "region",
                "action",
                "actor",
                "source IP",
                "result",
            ]);
            for e in events {
                t.add_row([
                    time(e),
                    e.account.as_ref().map_or("-".to_owned(), |a| a.to_string()),
                    e.region.to_string(),
                    action(e),
                    e.principal.actor.clone(),
                    e.source_ip.raw.clone(),
                    outcome(e),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        EventFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, events)?;
            writeln!(out)?;
        }
        EventFormat::Jsonl => {
            for e in events {
                serde_json::to_writer(&mut *out, e)?;
                writeln!(out)?;
            }
        }
        EventFormat::Csv => {
            let mut w = csv::Writer::from_writer(&mut *out);
            w.write_record([
                "event_id",
                "event_time",
                "account",
                "region",
                "event_source",
                "event_name",
                "actor",
                "principal_type",
                "principal_arn",
                "source_ip",
                "user_agent",
                "read_only",
                "error_code",
                "denial_layer",
                "mfa_authenticated",
            ])?;
            for e in events {
                w.write_record([
                    e.id.as_str(),
                    &e.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    e.account.as_ref().map_or("", |a| a.as_str()),
                    e.region.as_str(),
                    &e.source,
                    &e.name,
                    &e.principal.actor,
                    e.principal.kind.as_str(),
                    e.principal.arn.as_deref().unwrap_or(""),
                    &e.source_ip.raw,
                    e.user_agent.as_deref().unwrap_or(""),
                    &e.read_only.map_or(String::new(), |b| b.to_string()),
                    e.error_code.as_deref().unwrap_or(""),
                    e.denial.map_or("", |d| d.layer.as_str()),
                    &e.principal
                        .mfa_authenticated
                        .map_or(String::new(), |b| b.to_string()),
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as `12.3 MB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1000), "1,000");
        assert_eq!(super::count(1234567), "1,234,567");
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(12_300_000), "12.3 MB");
    }
}
