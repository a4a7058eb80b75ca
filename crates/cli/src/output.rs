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

/// Writes events in `format`, page by page: JSON, JSON Lines and CSV are streamed; a table is
/// laid out when finished.
pub(crate) struct EventWriter<'a> {
    out: &'a mut dyn Write,
    format: EventFormat,
    written: usize,
    table: Option<Table>,
}

const CSV_HEADER: [&str; 15] = [
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
];

impl<'a> EventWriter<'a> {
    pub(crate) fn new(out: &'a mut dyn Write, format: EventFormat) -> anyhow::Result<Self> {
        let mut w = Self {
            out,
            format,
            written: 0,
            table: None,
        };
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
                w.table = Some(t);
            }
            EventFormat::Json => w.out.write_all(b"[")?,
            EventFormat::Jsonl => {}
            EventFormat::Csv => csv_row(w.out, &CSV_HEADER)?,
        }
        Ok(w)
    }

    pub(crate) fn write(&mut self, events: &[ActivityEvent]) -> anyhow::Result<()> {
        for e in events {
            match self.format {
                EventFormat::Table => {
                    self.table
                        .as_mut()
                        .expect("table format has a table")
                        .add_row([
                            time(e),
                            e.account.as_ref().map_or("-".to_owned(), |a| a.to_string()),
                            e.region.to_string(),
                            action(e),
                            e.principal.actor.clone(),
                            e.source_ip.raw.clone(),
                            outcome(e),
                        ]);
                }
                EventFormat::Json => {
                    self.out
                        .write_all(if self.written == 0 { b"\n" } else { b",\n" })?;
                    serde_json::to_writer_pretty(&mut *self.out, e)?;
                }
                EventFormat::Jsonl => {
                    serde_json::to_writer(&mut *self.out, e)?;
                    self.out.write_all(b"\n")?;
                }
                EventFormat::Csv => {
                    let read_only = e.read_only.map_or(String::new(), |b| b.to_string());
                    let mfa = e
                        .principal
                        .mfa_authenticated
                        .map_or(String::new(), |b| b.to_string());
                    let time = e.time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                    csv_row(
                        self.out,
                        &[
                            e.id.as_str(),
                            &time,
                            e.account.as_ref().map_or("", |a| a.as_str()),
                            e.region.as_str(),
                            &e.source,
                            &e.name,
                            &e.principal.actor,
                            e.principal.kind.as_str(),
                            e.principal.arn.as_deref().unwrap_or(""),
                            &e.source_ip.raw,
                            e.user_agent.as_deref().unwrap_or(""),
                            &read_only,
                            e.error_code.as_deref().unwrap_or(""),
                            e.denial.map_or("", |d| d.layer.as_str()),
                            &mfa,
                        ],
                    )?;
                }
            }
            self.written += 1;
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> anyhow::Result<usize> {
        match self.format {
            EventFormat::Table => writeln!(
                self.out,
                "{}",
                self.table.expect("table format has a table")
            )?,
            EventFormat::Json => {
                self.out
                    .write_all(if self.written == 0 { b"]\n" } else { b"\n]\n" })?
            }
            EventFormat::Jsonl | EventFormat::Csv => {}
        }
        self.out.flush()?;
        Ok(self.written)
    }
}

fn csv_row(out: &mut dyn Write, fields: &[&str]) -> anyhow::Result<()> {
    let mut w = csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(out);
    w.write_record(fields)?;
    w.flush()?;
    Ok(())
}

/// Prints an alert as it would be delivered: a rule, the subject, the body.
pub(crate) fn alert(out: &mut dyn Write, a: &iat_core::alert::Alert) -> anyhow::Result<()> {
    let n = a.notification()?;
    writeln!(
        out,
        "{}\n{}\n{}",
        "─".repeat(78),
        n.subject.as_str(),
        n.body.trim_end()
    )?;
    Ok(())
}

/// `1234567` → `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes as `12.3 MB` (binary units), the way every command and the lake print them.
pub(crate) use iat_core::ports::human_bytes as bytes;

#[cfg(test)]
mod tests {
    #[test]
    fn numbers() {
        assert_eq!(super::count(0), "0");
        assert_eq!(super::count(999), "999");
        assert_eq!(super::count(1000), "1,000");
        assert_eq!(super::count(1234567), "1,234,567");
        assert_eq!(super::bytes(512), "512 bytes");
        assert_eq!(super::bytes(12_900_000), "12.3 MB");
    }
}
