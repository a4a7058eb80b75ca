//! The query catalogue: one `.sql` file per query under `queries/`, each opening with a header.
//!
//! ```sql
//! -- name: failed_auth
//! -- description: Failed console sign-ins and denied calls, by actor and address.
//! -- parameters: start:date end:date actor:text=%
//! SELECT ... FROM events WHERE dt BETWEEN '{start}' AND '{end}' ...
//! ```
//!
//! Parameters are substituted as SQL string literals (quotes doubled), or for `list` parameters
//! as a comma-separated list of literals. Every query filters on the `dt` partition, so Athena
//! and DataFusion read only the days asked for. The same text runs on both engines: the queries
//! keep to the SQL they share.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};

/// The catalogue's files, compiled in so `iat` needs no checkout.
const FILES: &[(&str, &str)] = &[
    (
        "access_keys",
        include_str!("../../../queries/access_keys.sql"),
    ),
    (
        "active_users",
        include_str!("../../../queries/active_users.sql"),
    ),
    (
        "console_logins",
        include_str!("../../../queries/console_logins.sql"),
    ),
    (
        "daily_summary",
        include_str!("../../../queries/daily_summary.sql"),
    ),
    (
        "denied_by_account",
        include_str!("../../../queries/denied_by_account.sql"),
    ),
    (
        "denied_by_layer",
        include_str!("../../../queries/denied_by_layer.sql"),
    ),
    (
        "denied_calls",
        include_str!("../../../queries/denied_calls.sql"),
    ),
    (
        "denied_new",
        include_str!("../../../queries/denied_new.sql"),
    ),
    (
        "denied_regions_new",
        include_str!("../../../queries/denied_regions_new.sql"),
    ),
    (
        "failed_auth",
        include_str!("../../../queries/failed_auth.sql"),
    ),
    (
        "hourly_activity",
        include_str!("../../../queries/hourly_activity.sql"),
    ),
    ("off_hours", include_str!("../../../queries/off_hours.sql")),
    (
        "permission_changes",
        include_str!("../../../queries/permission_changes.sql"),
    ),
    (
        "role_assumptions",
        include_str!("../../../queries/role_assumptions.sql"),
    ),
    (
        "root_usage",
        include_str!("../../../queries/root_usage.sql"),
    ),
    (
        "security_group_changes",
        include_str!("../../../queries/security_group_changes.sql"),
    ),
    (
        "sso_account_assignments",
        include_str!("../../../queries/sso_account_assignments.sql"),
    ),
    (
        "sso_activity_summary",
        include_str!("../../../queries/sso_activity_summary.sql"),
    ),
    (
        "sso_admin_policies",
        include_str!("../../../queries/sso_admin_policies.sql"),
    ),
    (
        "sso_admin_users",
        include_str!("../../../queries/sso_admin_users.sql"),
    ),
    (
        "sso_applications",
        include_str!("../../../queries/sso_applications.sql"),
    ),
    (
        "sso_permission_sets",
        include_str!("../../../queries/sso_permission_sets.sql"),
    ),
    (
        "unexpected_regions",
        include_str!("../../../queries/unexpected_regions.sql"),
    ),
    (
        "user_lookup",
        include_str!("../../../queries/user_lookup.sql"),
    ),
];

/// Why a query cannot be read or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    #[error("query {file}: {reason}")]
    BadHeader { file: String, reason: String },
    #[error("no query named {0:?} (`iat query list` shows them)")]
    Unknown(String),
    #[error("query {query}: parameter {name} {reason}")]
    BadParameter {
        query: String,
        name: String,
        reason: String,
    },
}

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// `YYYY-MM-DD`.
    Date,
    /// Any text, as one string literal.
    Text,
    /// Comma-separated values, as a list of string literals (`'a', 'b'`).
    List,
    /// A whole number.
    Int,
}

/// One parameter of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    pub default: Option<String>,
}

/// One query of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub name: String,
    pub description: String,
    pub params: Vec<Param>,
    /// The SQL with `{name}` placeholders.
    pub sql: String,
}

impl Query {
    /// Parses a file's text.
    pub fn parse(file: &str, text: &str) -> Result<Self, CatalogueError> {
        let bad = |reason: &str| CatalogueError::BadHeader {
            file: file.to_owned(),
            reason: reason.to_owned(),
        };
        let mut header = BTreeMap::new();
        let mut sql = Vec::new();
        for line in text.lines() {
            match line.strip_prefix("-- ").and_then(|l| l.split_once(": ")) {
                Some((k, v))
                    if sql.is_empty() && ["name", "description", "parameters"].contains(&k) =>
                {
                    header.insert(k.to_owned(), v.trim().to_owned());
                }
                _ => sql.push(line),
            }
        }
        let name = header
            .remove("name")
            .ok_or_else(|| bad("no `-- name:` line"))?;
        if name != file {
            return Err(bad(&format!("named {name}, expected {file}")));
        }
        let description = header
            .remove("description")
            .ok_or_else(|| bad("no `-- description:` line"))?;
        let mut params = Vec::new();
        // Parameters are separated by spaces (a list's default holds commas).
        for p in header
            .remove("parameters")
            .unwrap_or_default()
            .split_whitespace()
        {
            let (decl, default) = match p.split_once('=') {
                Some((d, v)) => (d, Some(v.to_owned())),
                None => (p, None),
            };
            let (pname, kind) = decl
                .split_once(':')
                .ok_or_else(|| bad(&format!("parameter {decl}: expected name:kind")))?;
            let kind = match kind {
                "date" => ParamKind::Date,
                "text" => ParamKind::Text,
                "list" => ParamKind::List,
                "int" => ParamKind::Int,
                other => return Err(bad(&format!("parameter {pname}: unknown kind {other}"))),
            };
            params.push(Param {
                name: pname.to_owned(),
                kind,
                default,
            });
        }
        let sql = sql.join("\n").trim().to_owned();
        for p in &params {
            if !sql.contains(&format!("{{{}}}", p.name)) {
                return Err(bad(&format!("parameter {} is not used", p.name)));
            }
        }
        if !sql.contains("dt BETWEEN '{start}' AND '{end}'") {
            return Err(bad(
                "every query must filter on dt BETWEEN '{start}' AND '{end}'",
            ));
        }
        Ok(Self {
            name,
            description,
            params,
            sql,
        })
    }

    /// The SQL with parameters filled in from `values` (then defaults).
    pub fn render(&self, values: &BTreeMap<String, String>) -> Result<String, CatalogueError> {
        self.render_dates(values, "%Y-%m-%d")
    }

    /// [`Query::render`], writing date parameters (given as `YYYY-MM-DD`) in `format`: the
    /// raw trail's `day` partition is `YYYY/MM/DD`.
    pub fn render_dates(
        &self,
        values: &BTreeMap<String, String>,
        format: &str,
    ) -> Result<String, CatalogueError> {
        let mut sql = self.sql.clone();
        for p in &self.params {
            let bad = |reason: String| CatalogueError::BadParameter {
                query: self.name.clone(),
                name: p.name.clone(),
                reason,
            };
            let v = values
                .get(&p.name)
                .or(p.default.as_ref())
                .ok_or_else(|| bad("is required".into()))?;
            let literal = match p.kind {
                ParamKind::Date => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map_err(|_| bad(format!("{v:?} is not a date (YYYY-MM-DD)")))?
                    .format(format)
                    .to_string(),
                ParamKind::Int => {
                    v.parse::<i64>()
                        .map_err(|_| bad(format!("{v:?} is not a whole number")))?;
                    v.clone()
                }
                ParamKind::Text => v.replace('\'', "''"),
                ParamKind::List => {
                    let items: Vec<String> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| format!("'{}'", s.replace('\'', "''")))
                        .collect();
                    if items.is_empty() {
                        return Err(bad("needs at least one value".into()));
                    }
                    // The placeholder sits inside quotes in the file: `IN ('{regions}')`.
                    let joined = items.join(", ");
                    joined[1..joined.len() - 1].to_owned()
                }
            };
            sql = sql.replace(&format!("{{{}}}", p.name), &literal);
        }
        Ok(sql)
    }
}

/// The date parameters of a period: `start`, `end`, and the period of the same length just
/// before it (`previous_start`, `previous_end`, for queries that compare, like denied_new).
pub fn period(start: NaiveDate, end: NaiveDate) -> BTreeMap<String, String> {
    let span = (end - start).num_days() + 1;
    let mut values = BTreeMap::new();
    values.insert("start".to_owned(), start.to_string());
    values.insert("end".to_owned(), end.to_string());
    values.insert(
        "previous_start".to_owned(),
        (start - Duration::days(span)).to_string(),
    );
    values.insert(
        "previous_end".to_owned(),
        (start - Duration::days(1)).to_string(),
    );
    values
}

/// Every query.
#[derive(Debug, Clone)]
pub struct QueryCatalogue {
    queries: Vec<Query>,
}

impl QueryCatalogue {
    /// The queries compiled into this program.
    pub fn builtin() -> Self {
        let queries = FILES
            .iter()
            .map(|(file, text)| Query::parse(file, text).unwrap_or_else(|e| panic!("{e}")))
            .collect();
        Self { queries }
    }

    pub fn queries(&self) -> &[Query] {
        &self.queries
    }

    pub fn get(&self, name: &str) -> Result<&Query, CatalogueError> {
        self.queries
            .iter()
            .find(|q| q.name == name)
            .ok_or_else(|| CatalogueError::Unknown(name.to_owned()))
    }

    /// The file names the catalogue compiles in (to check `queries/` holds no others).
    pub fn file_names() -> Vec<&'static str> {
        FILES.iter().map(|(f, _)| *f).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_query_file_is_in_the_catalogue_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../queries");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                e.unwrap()
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".sql"))
                    .map(str::to_owned)
            })
            .collect();
        on_disk.sort();
        assert_eq!(
            on_disk,
            QueryCatalogue::file_names(),
            "add new files to FILES"
        );
        let c = QueryCatalogue::builtin();
        for name in [
            "user_lookup",
            "failed_auth",
            "root_usage",
            "off_hours",
            "active_users",
            "permission_changes",
            "role_assumptions",
            "daily_summary",
            "hourly_activity",
            "sso_permission_sets",
            "sso_account_assignments",
            "sso_admin_policies",
            "sso_applications",
            "sso_admin_users",
            "sso_activity_summary",
            "denied_calls",
            "denied_by_layer",
            "denied_new",
            "unexpected_regions",
            "security_group_changes",
            "console_logins",
            "access_keys",
        ] {
            c.get(name).unwrap();
        }
    }

    #[test]
    fn parameters_are_checked_and_quoted() {
        let q = Query::parse("t", "-- name: t\n-- description: d\n-- parameters: start:date end:date who:text=% regions:list=us-east-1\nSELECT 1 FROM events WHERE dt BETWEEN '{start}' AND '{end}' AND actor LIKE '{who}' AND aws_region IN ('{regions}')").unwrap();
        let mut v = BTreeMap::new();
        v.insert("start".to_owned(), "2026-03-01".to_owned());
        v.insert("end".to_owned(), "2026-03-07".to_owned());
        v.insert("who".to_owned(), "o'brien".to_owned());
        v.insert("regions".to_owned(), "us-east-1, eu-west-1".to_owned());
        let sql = q.render(&v).unwrap();
        assert!(
            sql.contains("LIKE 'o''brien'") && sql.contains("IN ('us-east-1', 'eu-west-1')"),
            "{sql}"
        );
        v.insert("start".to_owned(), "yesterday".to_owned());
        assert!(q.render(&v).unwrap_err().to_string().contains("not a date"));
        assert!(
            Query::parse("t", "-- name: t\n-- description: d\nSELECT 1 FROM events").is_err(),
            "no partition filter"
        );
        assert!(Query::parse("u", "-- name: t\n-- description: d\nSELECT 1 FROM events WHERE dt BETWEEN '{start}' AND '{end}'").is_err());
    }
}
