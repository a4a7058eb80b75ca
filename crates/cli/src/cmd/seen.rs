//! `iat seen`: the first-seen state of a principal, an account or the organisation.

use std::io::Write;
use std::process::ExitCode;

use chrono::{SecondsFormat, Utc};
use iat_core::ports::SeenKind;
use serde_json::json;

use crate::output::{SummaryFormat, table};
use crate::store::{OpenOptions, StoreArgs};

/// Arguments of the subcommand (documented on [`crate::Command`]).
#[derive(Debug, clap::Args)]
pub struct SeenArgs {
    /// Whose state: a principal's ARN (`arn:aws:iam::111122223333:user/alice`, a role's ARN;
    /// an assumed-role session ARN is read as its role), an account id (its regions), or `*`
    /// (actions denied anywhere in the organisation).
    #[arg(value_name = "PRINCIPAL")]
    pub principal: String,
    #[arg(long, value_enum, default_value_t = SummaryFormat::Text)]
    pub format: SummaryFormat,
}

/// The state scope a user's argument names.
pub fn scope_of(arg: &str) -> anyhow::Result<String> {
    let arg = arg.trim();
    if arg == "*" || (arg.len() == 12 && arg.bytes().all(|b| b.is_ascii_digit())) {
        return Ok(arg.to_owned());
    }
    // arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION → arn:aws:iam::ACCOUNT:role/ROLE
    if let Some(rest) = arg.strip_prefix("arn:")
        && let [partition, "sts", "", account, resource] =
            rest.splitn(5, ':').collect::<Vec<_>>()[..]
        && let Some(role) = resource
            .strip_prefix("assumed-role/")
            .and_then(|r| r.split('/').next())
    {
        return Ok(format!("arn:{partition}:iam::{account}:role/{role}"));
    }
    if arg.starts_with("arn:") {
        return Ok(arg.to_owned());
    }
    anyhow::bail!(
        "{arg:?}: name a principal by its ARN (arn:aws:iam::ACCOUNT:user/NAME or :role/NAME), \
         an account by its 12-digit id, or the organisation as '*'"
    )
}

pub fn run(stores: &StoreArgs, args: SeenArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let scope = scope_of(&args.principal)?;
    let store = stores.open(OpenOptions::default())?;
    let now = Utc::now();
    let items = crate::runtime()?.block_on(store.seen.scope(&scope, now))?;
    let when = |t: chrono::DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    match args.format {
        SummaryFormat::Json => {
            let v: Vec<_> = items
                .iter()
                .map(|(k, r)| {
                    json!({"kind": k.kind.as_str(), "value": k.value, "first_seen": when(r.first),
                        "event_id": r.event_id, "forgotten_after": when(r.expires)})
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &json!({"scope": scope, "seen": v}))?;
            writeln!(out)?;
        }
        SummaryFormat::Text => {
            if items.is_empty() {
                writeln!(
                    out,
                    "Nothing seen for {scope} (the first-seen state fills as `iat alerts` or the alerter runs)."
                )?;
                return Ok(ExitCode::SUCCESS);
            }
            let learning = items
                .iter()
                .find(|(k, _)| {
                    matches!(
                        k.kind,
                        SeenKind::Principal | SeenKind::Account | SeenKind::Organisation
                    )
                })
                .map(|(_, r)| r.first);
            writeln!(out, "{scope}")?;
            if let Some(first) = learning {
                writeln!(out, "first seen {}", when(first))?;
            }
            let mut t = table();
            t.set_header(["seen", "what", "first seen", "by event", "forgotten after"]);
            for (k, r) in items.iter().filter(|(k, _)| !k.value.is_empty()) {
                t.add_row([
                    k.kind.as_str().to_owned(),
                    k.value.clone(),
                    when(r.first),
                    r.event_id.clone(),
                    r.expires.format("%Y-%m-%d").to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_name_scopes() {
        assert_eq!(
            scope_of("arn:aws:sts::111122223333:assumed-role/Deploy/i-0abc").unwrap(),
            "arn:aws:iam::111122223333:role/Deploy"
        );
        assert_eq!(scope_of("111122223333").unwrap(), "111122223333");
        assert_eq!(scope_of("*").unwrap(), "*");
        assert_eq!(
            scope_of("arn:aws:iam::111122223333:user/alice").unwrap(),
            "arn:aws:iam::111122223333:user/alice"
        );
        let e = scope_of("alice").unwrap_err().to_string();
        assert!(e.contains("ARN"), "{e}");
    }
}
