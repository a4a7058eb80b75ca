//! Athena over the organisation trail itself: the raw table's DDL, and the catalogue's queries
//! run on it.
//!
//! The decision to know: the catalogue is written once, against the lake's `events` columns.
//! On the trail each `FROM events` becomes a derived table, [`events_relation`], that computes
//! those columns from CloudTrail's raw ones the way `iat_core::normalize` does (actor, role,
//! denial layer from the same phrase table), and exposes the `day` partition (`YYYY/MM/DD`) as
//! `dt`. Date parameters are written in that form, so `dt BETWEEN …` is a predicate on the
//! partition column itself and partition projection reads only those days.
//!
//! The `account` column is the `account` partition (the account whose trail files they are,
//! CloudTrail's `recipientAccountId`), so `account = '…'` prunes too, and an `injected` account
//! projection is served by naming the accounts inside the relation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::NaiveDate;
use iat_core::denial::{denied_codes, message_phrases};
use iat_core::model::AccountId;

use crate::catalogue::{CatalogueError, Query};

/// The table's DDL with `${…}` placeholders (see the file's header).
pub const TABLE_DDL: &str = include_str!("../../../queries/ddl/trail.sql");

/// The table's name in the stack's Glue database.
pub const DEFAULT_TABLE: &str = "trail";

/// Every commercial region (17 on by default, 17 opt-in), the region projection's values: a
/// region with no files is an empty prefix, which costs one LIST per day queried.
pub const REGIONS: [&str; 34] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "af-south-1",
    "ap-south-1",
    "ap-south-2",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
];

/// How Athena learns the organisation's accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountProjection {
    /// A list kept in the table (the report function refreshes it from Organizations).
    Enum(Vec<AccountId>),
    /// No list: every query names its accounts (`account IN (…)`), or Athena refuses it.
    Injected,
}

impl AccountProjection {
    /// The table properties that say it, as DDL lines.
    fn properties(&self) -> String {
        match self {
            AccountProjection::Enum(accounts) => format!(
                "  'projection.account.type' = 'enum',\n  'projection.account.values' = '{}',",
                join(accounts)
            ),
            AccountProjection::Injected => "  'projection.account.type' = 'injected',".to_owned(),
        }
    }
}

fn join(accounts: &[AccountId]) -> String {
    accounts
        .iter()
        .map(AccountId::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// Why the table cannot be defined as asked.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrailTableError {
    #[error(
        "trail location {0:?}: expected s3://BUCKET/[PREFIX/]AWSLogs/o-ORGID/ (the folder holding the account folders)"
    )]
    Location(String),
    #[error("an enum account projection needs at least one account (or use injected)")]
    NoAccounts,
    #[error("{what} {value:?}: {reason}")]
    Name {
        what: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Where the organisation's files are: `s3://BUCKET/[PREFIX/]AWSLogs/ORG_ID/`.
pub fn location(bucket: &str, prefix: &str, org: &str) -> String {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        format!("s3://{bucket}/AWSLogs/{org}/")
    } else {
        format!("s3://{bucket}/{prefix}/AWSLogs/{org}/")
    }
}

fn check_name(what: &'static str, value: &str) -> Result<(), TrailTableError> {
    let ok = !value.is_empty()
        && value.len() <= 255
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(TrailTableError::Name {
            what,
            value: value.to_owned(),
            reason: "use lowercase letters, digits and underscores",
        })
    }
}

/// The `CREATE EXTERNAL TABLE` statement for the trail under `location` (see [`location`]).
pub fn table_ddl(
    database: &str,
    table: &str,
    location: &str,
    accounts: &AccountProjection,
    start: NaiveDate,
) -> Result<String, TrailTableError> {
    check_name("database", database)?;
    check_name("table", table)?;
    let well_formed = location.starts_with("s3://")
        && location.ends_with('/')
        && location
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .is_some_and(|org| org.starts_with("o-"))
        && location.contains("/AWSLogs/");
    if !well_formed {
        return Err(TrailTableError::Location(location.to_owned()));
    }
    if matches!(accounts, AccountProjection::Enum(a) if a.is_empty()) {
        return Err(TrailTableError::NoAccounts);
    }
    let statement: String = TABLE_DDL
        .lines()
        .skip_while(|l| l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(statement
        .replace("${database}", database)
        .replace("${table}", table)
        .replace("${location}", location)
        .replace("${account_projection}", &accounts.properties())
        .replace("${regions}", &REGIONS.join(","))
        .replace("${start_day}", &day_literal(start)))
}

/// The statement that replaces an enum projection's account list (run by the report function
/// before its queries, so new accounts are read the week they join).
pub fn set_accounts_ddl(
    database: &str,
    table: &str,
    accounts: &[AccountId],
) -> Result<String, TrailTableError> {
    check_name("database", database)?;
    check_name("table", table)?;
    if accounts.is_empty() {
        return Err(TrailTableError::NoAccounts);
    }
    Ok(format!(
        "ALTER TABLE {database}.{table} SET TBLPROPERTIES ('projection.account.type' = 'enum', 'projection.account.values' = '{}')",
        join(accounts)
    ))
}

/// A day as the `day` partition writes it, `YYYY/MM/DD`.
pub fn day_literal(day: NaiveDate) -> String {
    day.format("%Y/%m/%d").to_string()
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `x`, or NULL when it is absent or blank (as `normalize` reads every field).
fn present(x: &str) -> String {
    format!("CASE WHEN trim({x}) <> '' THEN {x} END")
}

/// CloudTrail's lenient booleans (`true`, `"true"`, `"Yes"`, `1`).
fn boolean(x: &str) -> String {
    format!(
        "CASE WHEN lower({x}) IN ('true', 'yes', '1') THEN true WHEN lower({x}) IN ('false', 'no', '0') THEN false END"
    )
}

/// The part of a string matched by group 1 of `pattern`, NULL when it does not match (the
/// same on every engine; `regexp_extract` alone differs).
fn capture(x: &str, pattern: &str) -> String {
    format!("CASE WHEN regexp_like({x}, '{pattern}') THEN regexp_extract({x}, '{pattern}', 1) END")
}

/// A derived table with the lake's `events` columns computed from the raw trail `table`
/// (`database.table`), limited to `accounts` when given (required by an injected projection).
pub fn events_relation(table: &str, accounts: Option<&[AccountId]>) -> String {
    let codes = denied_codes()
        .iter()
        .map(|c| lit(&c.to_ascii_lowercase()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut layer = String::from("CASE");
    let mut kind = String::from("CASE");
    for (phrase, l, k) in message_phrases() {
        let _ = write!(
            layer,
            " WHEN strpos(lower(errormessage), {}) > 0 THEN '{}'",
            lit(phrase),
            l.as_str()
        );
        let _ = write!(
            kind,
            " WHEN strpos(lower(errormessage), {}) > 0 THEN '{}'",
            lit(phrase),
            k.as_str()
        );
    }
    layer.push_str(" ELSE 'unknown' END");
    kind.push_str(" ELSE 'unknown' END");

    let ui = |f: &str| present(&format!("useridentity.{f}"));
    let filter = match accounts {
        Some(a) if !a.is_empty() => format!(
            "\n  WHERE account IN ({})",
            a.iter()
                .map(|a| lit(a.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        _ => String::new(),
    };
    let inner = format!(
        "SELECT eventid, eventtime, eventsource, eventname, eventtype, eventcategory, awsregion, account, day,
    sourceipaddress, useragent, errorcode, errormessage, readonly, managementevent, vpcendpointid,
    requestid, requestparameters, responseelements, additionaleventdata, resources,
    {p_type} AS p_type, {p_arn} AS p_arn, {p_id} AS p_id, {p_account} AS p_account,
    {p_user} AS p_user, {p_invoked} AS p_invoked, {p_key} AS p_key,
    {issuer_arn} AS issuer_arn, {issuer_name} AS issuer_name, {on_behalf} AS on_behalf,
    useridentity.sessioncontext.attributes.mfaauthenticated AS p_mfa,
    {res} AS res,
    coalesce(trim(errorcode) <> '' AND lower(regexp_replace(errorcode, '^(Client|Server)\\.', '')) IN ({codes}), false) AS denied
  FROM {table}{filter}",
        p_type = ui("type"),
        p_arn = ui("arn"),
        p_id = ui("principalid"),
        p_account = ui("accountid"),
        p_user = ui("username"),
        p_invoked = ui("invokedby"),
        p_key = ui("accesskeyid"),
        issuer_arn = ui("sessioncontext.sessionissuer.arn"),
        issuer_name = ui("sessioncontext.sessionissuer.username"),
        on_behalf = ui("onbehalfof.userid"),
        res = capture(
            &present("useridentity.arn"),
            "^[^:]*:[^:]*:[^:]*:[^:]*:[^:]*:(.*)$"
        ),
    );
    let role = capture("res", "^assumed-role/([^/]*)/");
    let session = capture("res", "^assumed-role/[^/]*/(.*)$");
    let last = capture("res", "([^/]*)$");
    let federated = capture("res", "^federated-user/(.*)$");
    let actor = format!(
        "CASE p_type
      WHEN 'Root' THEN 'root'
      WHEN 'IAMUser' THEN coalesce(p_user, {last}, 'unknown-user')
      WHEN 'AssumedRole' THEN coalesce({role} || '/' || {session}, issuer_name, {last}, p_id, 'unknown-role')
      WHEN 'Role' THEN coalesce({role} || '/' || {session}, issuer_name, {last}, p_id, 'unknown-role')
      WHEN 'FederatedUser' THEN coalesce({federated}, p_user, p_id, 'unknown-federated-user')
      WHEN 'AWSService' THEN coalesce(p_invoked, 'aws-service')
      WHEN 'AWSAccount' THEN coalesce(p_account, p_id, 'unknown-account')
      WHEN 'IdentityCenterUser' THEN coalesce(p_user, on_behalf, p_id, 'unknown-identity-center-user')
      ELSE coalesce(p_user, p_id, res, p_invoked, 'unknown')
    END"
    );
    let is_login = "eventname = 'ConsoleLogin'";
    // As the normaliser: only an IAM user's or root's own sign-in says whether AWS checked MFA.
    let mfa_used = format!(
        "CASE WHEN coalesce(p_type, '') NOT IN ('AssumedRole', 'Role', 'FederatedUser', 'AWSAccount', 'AWSService', 'IdentityCenterUser', 'SAMLUser', 'WebIdentityUser') AND json_extract_scalar(additionaleventdata, '$.SamlProviderArn') IS NULL THEN {} END",
        boolean("json_extract_scalar(additionaleventdata, '$.MFAUsed')")
    );
    format!(
        "(SELECT eventid AS event_id,
    CAST(from_iso8601_timestamp(eventtime) AS timestamp) AS event_time,
    eventsource AS event_source,
    eventname AS event_name,
    coalesce(eventtype, '') AS event_type,
    {category} AS event_category,
    awsregion AS aws_region,
    account,
    coalesce(p_type, 'Unknown') AS principal_type,
    p_arn AS principal_arn,
    p_id AS principal_id,
    p_account AS principal_account,
    {actor} AS actor,
    issuer_arn AS session_issuer_arn,
    coalesce({role}, issuer_name) AS role_name,
    p_key AS access_key_id,
    coalesce({mfa}, CASE WHEN {is_login} THEN {mfa_used} END) AS mfa_authenticated,
    p_invoked AS invoked_by,
    on_behalf AS identity_store_user_id,
    coalesce(sourceipaddress, '') AS source_ip,
    {user_agent} AS user_agent,
    {read_only} AS read_only,
    {management} AS management_event,
    {error_code} AS error_code,
    {error_message} AS error_message,
    denied,
    CASE WHEN denied THEN {layer} END AS denial_layer,
    CASE WHEN denied THEN {kind} END AS deny_kind,
    CASE WHEN {is_login} THEN coalesce(json_extract_scalar(responseelements, '$.ConsoleLogin'), CASE WHEN errorcode IS NOT NULL OR errormessage IS NOT NULL THEN 'Failure' ELSE '' END) END AS console_login,
    CASE WHEN {is_login} THEN {mfa_used} END AS mfa_used,
    {vpce} AS vpc_endpoint_id,
    {request_id} AS request_id,
    requestparameters AS request_parameters,
    regexp_replace(responseelements, '\"sessionToken\":\"[^\"]*\"', '\"sessionToken\":\"REDACTED\"') AS response_elements,
    additionaleventdata AS additional_event_data,
    CASE WHEN cardinality(resources) > 0 THEN json_format(CAST(transform(resources, r -> map(ARRAY['arn', 'account_id', 'type'], ARRAY[r.arn, r.accountid, r.type])) AS json)) END AS resources,
    day AS dt
  FROM ({inner}) t)",
        category = present("eventcategory"),
        mfa = boolean("p_mfa"),
        user_agent = present("useragent"),
        read_only = boolean("readonly"),
        management = boolean("managementevent"),
        error_code = present("errorcode"),
        error_message = present("errormessage"),
        vpce = present("vpcendpointid"),
        request_id = present("requestid"),
    )
}

/// Renders a catalogue query over the raw trail `table`: every `FROM events` reads
/// [`events_relation`], and date parameters are days of the `day` partition.
pub fn render(
    query: &Query,
    values: &BTreeMap<String, String>,
    table: &str,
    accounts: Option<&[AccountId]>,
) -> Result<String, CatalogueError> {
    let sql = query.render_dates(values, "%Y/%m/%d")?;
    let relation = format!("{} events", events_relation(table, accounts));
    Ok(replace_table(&sql, "events", &relation))
}

/// Replaces `FROM name` (a whole word) with `FROM replacement`.
fn replace_table(sql: &str, name: &str, replacement: &str) -> String {
    let needle = format!("FROM {name}");
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql;
    while let Some(at) = rest.find(&needle) {
        let after = &rest[at + needle.len()..];
        let whole = !after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        out.push_str(&rest[..at]);
        if whole {
            out.push_str("FROM ");
            out.push_str(replacement);
        } else {
            out.push_str(&needle);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QueryCatalogue;
    use iat_core::trail::{TrailKey, day_prefix};

    fn accounts() -> Vec<AccountId> {
        ["111122223333", "444455556666"]
            .iter()
            .map(|a| AccountId::new(*a).unwrap())
            .collect()
    }

    #[test]
    fn a_partition_location_is_where_the_trail_writes_that_day() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 7).unwrap();
        for (prefix, org) in [("", "o-abc123"), ("org/logs/", "o-abc123")] {
            let loc = location("trail-bucket", prefix, org);
            let ddl = table_ddl("db", "trail", &loc, &AccountProjection::Injected, day).unwrap();
            // What Athena computes: the DDL's location template filled with the partition's
            // values, the day in the projection's format.
            let property = |name: &str| {
                ddl.split(&format!("'{name}' = '"))
                    .nth(1)
                    .and_then(|t| t.split('\'').next())
                    .unwrap_or_else(|| panic!("no {name}"))
                    .to_owned()
            };
            assert_eq!(property("projection.day.format"), "yyyy/MM/dd");
            let part = property("storage.location.template")
                .replace("${account}", "111122223333")
                .replace("${region}", "eu-west-1")
                .replace("${day}", &day.format("%Y/%m/%d").to_string());
            let key = format!(
                "{}111122223333_CloudTrail_eu-west-1_20260307T0005Z_x.json.gz",
                part.trim_start_matches("s3://trail-bucket/")
            );
            let parsed = TrailKey::parse(&key).expect("a trail key");
            assert_eq!(parsed.account.as_str(), "111122223333");
            assert_eq!(parsed.region.as_str(), "eu-west-1");
            assert_eq!(parsed.day, day);
            assert_eq!(parsed.org.as_deref(), Some(org));
            // The ingester's listing prefix for the same day is the same folder.
            let listing = day_prefix(prefix, Some(org), &parsed.account, &parsed.region, day);
            assert_eq!(format!("s3://trail-bucket/{listing}"), part);
        }
    }

    #[test]
    fn the_ddl_fills_every_placeholder_but_athenas_own() {
        let loc = location("b", "", "o-abc123");
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let ddl = table_ddl(
            "iam_activity",
            "trail",
            &loc,
            &AccountProjection::Enum(accounts()),
            day,
        )
        .unwrap();
        let left: Vec<&str> = ddl
            .match_indices("${")
            .map(|(i, _)| &ddl[i..ddl[i..].find('}').unwrap() + i + 1])
            .collect();
        assert_eq!(left, ["${account}", "${region}", "${day}"]);
        assert!(ddl.contains("'projection.account.values' = '111122223333,444455556666'"));
        assert!(ddl.contains("'projection.day.range' = '2025/01/01,NOW'"));
        assert!(ddl.contains(
            "'storage.location.template' = 's3://b/AWSLogs/o-abc123/${account}/CloudTrail/${region}/${day}/'"
        ));
        let injected = table_ddl(
            "iam_activity",
            "trail",
            &loc,
            &AccountProjection::Injected,
            day,
        )
        .unwrap();
        assert!(injected.contains("'projection.account.type' = 'injected',"));
        assert!(!injected.contains("projection.account.values"));
    }

    #[test]
    fn bad_definitions_say_what_to_fix() {
        let day = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let e = |db: &str, loc: &str, acc: AccountProjection| {
            table_ddl(db, "trail", loc, &acc, day).unwrap_err()
        };
        assert!(matches!(
            e("db", "s3://b/AWSLogs/", AccountProjection::Injected),
            TrailTableError::Location(_)
        ));
        assert!(matches!(
            e("db", "b/AWSLogs/o-1/", AccountProjection::Injected),
            TrailTableError::Location(_)
        ));
        assert_eq!(
            e("db", "s3://b/AWSLogs/o-1/", AccountProjection::Enum(vec![])),
            TrailTableError::NoAccounts
        );
        assert!(matches!(
            e(
                "db; DROP",
                "s3://b/AWSLogs/o-1/",
                AccountProjection::Injected
            ),
            TrailTableError::Name { .. }
        ));
        assert!(set_accounts_ddl("db", "trail", &[]).is_err());
        assert_eq!(
            set_accounts_ddl("db", "trail", &accounts()).unwrap(),
            "ALTER TABLE db.trail SET TBLPROPERTIES ('projection.account.type' = 'enum', 'projection.account.values' = '111122223333,444455556666')"
        );
    }

    #[test]
    fn a_query_on_the_trail_reads_the_relation_and_filters_the_day_partition() {
        let catalogue = QueryCatalogue::builtin();
        let values = crate::catalogue::period(
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
            NaiveDate::from_ymd_opt(2026, 3, 7).unwrap(),
        );
        let q = catalogue.get("denied_new").unwrap();
        let sql = render(q, &values, "db.trail", None).unwrap();
        assert!(sql.contains("dt BETWEEN '2026/03/01' AND '2026/03/07'"));
        assert!(sql.contains("dt BETWEEN '2026/02/22' AND '2026/02/28'"));
        assert_eq!(sql.matches("FROM db.trail").count(), 2, "{sql}");
        assert!(!sql.contains("FROM events"));
        assert!(sql.contains("day AS dt"));
        // extract(hour FROM event_time) is not a table.
        let q = catalogue.get("hourly_activity").unwrap();
        let sql = render(q, &values, "db.trail", Some(&accounts())).unwrap();
        assert!(sql.contains("extract(hour FROM event_time)"));
        assert!(sql.contains("WHERE account IN ('111122223333', '444455556666')"));
        // Every phrase of the classifier is in the relation.
        for (phrase, layer, _) in message_phrases() {
            assert!(sql.contains(&format!("'{phrase}') > 0 THEN '{layer}'")));
        }
    }

    #[test]
    fn dates_are_still_checked() {
        let catalogue = QueryCatalogue::builtin();
        let mut values = BTreeMap::new();
        values.insert("start".to_owned(), "2026/03/01".to_owned());
        values.insert("end".to_owned(), "2026-03-07".to_owned());
        let q = catalogue.get("denied_calls").unwrap();
        assert!(render(q, &values, "db.trail", None).is_err());
    }
}
