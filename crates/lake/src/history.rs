//! History from the lake: the exported `events` table read back as events, for the days the
//! store no longer keeps.
//!
//! [`LakeEventStore`] answers [`EventStore::query`] with SQL over the table on any
//! [`QueryEngine`] (DataFusion over the local lake, Athena in AWS): only the day partitions of
//! the window, the exact filters pushed down, pages in (time, id) order by keyset. Globs,
//! networks and anything else the SQL does not express are checked on the rebuilt events with
//! the store's own [`QueryMatcher`](iat_core::ports::QueryMatcher), so the lake gives the answer
//! the store would give.
//!
//! The decision to know: the lake keeps columns, not the raw record. Each event is rebuilt as a
//! CloudTrail record from its columns (without `eventVersion`, `sharedEventID` and
//! `serviceEventDetails`, which are not exported, and with session tokens redacted as they were
//! exported) and normalised again; the readable principal and the denial are then taken from the
//! exported columns, so filters see exactly what was exported. The lake is read-only here: the
//! exporter writes it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Datelike, Duration, NaiveDateTime, SecondsFormat, Utc};
use iat_core::error::{Error, Result};
use iat_core::model::{Denial, PERSON_TYPES, SSO_ROLE_PREFIX};
use iat_core::ports::{
    ActionCount, ActionCounts, EventCursor, EventQuery, EventStore, Interest, Order, PeopleRead,
    PutOutcome, Quarantined, QueryEngine, ResultRows, StoreStats, count_actions_by_reading,
};
use iat_core::{AccountId, ActivityEvent, DenialLayer, DenyKind, RecordLimits, TimeWindow};
use serde_json::{Map, Value};

use crate::schema::COLUMNS;

/// Rows read by a read's first SQL statement; each further statement of the same read asks for
/// twice as many, up to [`MAX_PAGE_GROWTH`] times this.
pub const DEFAULT_PAGE: usize = 5_000;

/// How far a read's pages grow: 5,000 rows, then 10,000, ... up to 80,000 a statement.
const MAX_PAGE_GROWTH: usize = 16;

/// The exported `events` table as a read-only [`EventStore`].
pub struct LakeEventStore {
    engine: Arc<dyn QueryEngine>,
    page: usize,
    statements: AtomicU64,
    unreadable: AtomicU64,
    scanned: AtomicU64,
    billed_nano_usd: AtomicU64,
}

impl std::fmt::Debug for LakeEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeEventStore")
            .field("engine", &self.engine.describe())
            .field("page", &self.page)
            .finish()
    }
}

/// What a [`LakeEventStore`] has done so far, for the caller's report.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LakeReads {
    /// SQL statements run.
    pub statements: u64,
    /// Rows that could not be rebuilt into an event (skipped).
    pub unreadable: u64,
    /// Bytes the engine reported scanning, summed.
    pub scanned_bytes: u64,
    /// What the engine charged for the statements (Athena: each with its 10 MB minimum).
    pub cost_usd: f64,
}

impl LakeEventStore {
    pub fn new(engine: Arc<dyn QueryEngine>) -> Self {
        Self::with_page(engine, DEFAULT_PAGE)
    }

    /// Reads `page` rows per statement (at least 1).
    pub fn with_page(engine: Arc<dyn QueryEngine>, page: usize) -> Self {
        Self {
            engine,
            page: page.max(1),
            statements: AtomicU64::new(0),
            unreadable: AtomicU64::new(0),
            scanned: AtomicU64::new(0),
            billed_nano_usd: AtomicU64::new(0),
        }
    }

    /// Where the rows come from, for messages.
    pub fn describe(&self) -> String {
        self.engine.describe()
    }

    pub fn reads(&self) -> LakeReads {
        LakeReads {
            statements: self.statements.load(Ordering::Relaxed),
            unreadable: self.unreadable.load(Ordering::Relaxed),
            scanned_bytes: self.scanned.load(Ordering::Relaxed),
            cost_usd: self.billed_nano_usd.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    /// Reads `query`'s events page by page into `out` until it holds `wanted` or none are
    /// left; `matcher` is the caller's (its window may be wider than this part's).
    async fn read(
        &self,
        query: &EventQuery,
        matcher: &iat_core::ports::QueryMatcher<'_>,
        wanted: usize,
        out: &mut Vec<ActivityEvent>,
    ) -> Result<()> {
        let exact = pushdown_is_exact(query);
        let mut cursor = query.after.clone();
        // A sparse read's statement costs its window's filter columns whatever it returns, so
        // when the SQL says every filter it starts at the largest page rather than growing to it.
        let mut size = if exact && sparse(query) {
            self.page * MAX_PAGE_GROWTH
        } else {
            self.page
        };
        loop {
            // When the SQL says every filter, a page needs no more rows than are wanted.
            let page = if exact {
                size.min(wanted - out.len())
            } else {
                size
            };
            let rows = self.run(&statement(query, cursor.as_ref(), page)).await?;
            let columns = Columns::of(&rows);
            for row in &rows.rows {
                let Some(event) = rebuild(&columns, row) else {
                    self.unreadable.fetch_add(1, Ordering::Relaxed);
                    // Still move past it: the keyset needs its time and id.
                    match (columns.time(row), columns.text(row, "event_id")) {
                        (Some(time), Some(id)) => {
                            cursor = Some(EventCursor {
                                time,
                                id: iat_core::EventId::new(id)?,
                            })
                        }
                        _ => return Err(unreadable_keys()),
                    }
                    continue;
                };
                cursor = Some(EventCursor::after(&event));
                if matcher.matches(&event) && matcher.after_cursor(&event) {
                    out.push(event);
                    if out.len() == wanted {
                        return Ok(());
                    }
                }
            }
            if rows.rows.len() < page {
                return Ok(());
            }
            // Every statement reads its window's partitions again: a long read grows its
            // pages (up to 16 times the first) so that it takes a few statements, not one
            // for each page.
            size = (size * 2).min(self.page * MAX_PAGE_GROWTH);
        }
    }

    async fn run(&self, sql: &str) -> Result<ResultRows> {
        let run = self.engine.run(sql).await?;
        self.statements.fetch_add(1, Ordering::Relaxed);
        if let Some(b) = run.scanned_bytes {
            self.scanned.fetch_add(b, Ordering::Relaxed);
        }
        if let Some(usd) = run.cost_usd() {
            self.billed_nano_usd
                .fetch_add((usd * 1e9).round() as u64, Ordering::Relaxed);
        }
        Ok(run.rows)
    }
}

fn read_only(operation: &'static str) -> Error {
    Error::backend(
        "lake",
        operation,
        "the lake is read-only here; the exporter writes it",
    )
}

#[async_trait]
impl EventStore for LakeEventStore {
    async fn put(&self, _events: &[ActivityEvent]) -> Result<PutOutcome> {
        Err(read_only("put"))
    }

    async fn quarantine(&self, _records: &[Quarantined]) -> Result<()> {
        Err(read_only("quarantine"))
    }

    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        let matcher = query.matcher()?;
        let wanted = query.limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        if wanted == 0 {
            return Ok(out);
        }
        for window in spans(query) {
            let part = EventQuery {
                window,
                ..query.clone()
            };
            self.read(&part, &matcher, wanted, &mut out).await?;
            if out.len() == wanted {
                break;
            }
        }
        Ok(out)
    }

    /// Counted by the engine in one statement when every filter is in the SQL: the GROUP BY
    /// reads the few columns it names, where reading the events would decode every column of
    /// each page holding one of them (denied calls are scattered through every page).
    async fn count_actions(&self, query: &EventQuery, max: usize) -> Result<ActionCounts> {
        if !pushdown_is_exact(query) {
            return count_actions_by_reading(self, query, max).await;
        }
        let rows = self.run(&count_statement(query)).await?;
        let columns = Columns::of(&rows);
        let mut counts = Vec::with_capacity(rows.rows.len());
        for row in &rows.rows {
            let count = columns
                .text(row, "n")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| Error::backend("lake", "count", "a group without its count"))?;
            counts.push(ActionCount {
                source: columns
                    .text(row, "event_source")
                    .unwrap_or_default()
                    .to_owned(),
                name: columns
                    .text(row, "event_name")
                    .unwrap_or_default()
                    .to_owned(),
                layer: columns.text(row, "layer").and_then(DenialLayer::parse),
                count,
            });
        }
        Ok(ActionCounts::from_counts(counts, false))
    }

    async fn stats(&self) -> Result<StoreStats> {
        let rows = self
            .run("SELECT count(*) AS n, min(event_time) AS first, max(event_time) AS last FROM events")
            .await?;
        let value = |c: &str| Some(rows.get(0, c)).filter(|v| !v.is_empty());
        Ok(StoreStats {
            events: value("n").and_then(|n| n.parse().ok()).unwrap_or(0),
            first: value("first").and_then(parse_time),
            last: value("last").and_then(parse_time),
            quarantined: 0,
        })
    }
}

fn unreadable_keys() -> Error {
    Error::backend(
        "lake",
        "query",
        "a row without a readable event_time or event_id",
    )
}

/// True for a query of denied calls: a few in ten thousand events, so the newest day seldom
/// holds a page of them and widening day by day would run one statement per span only to find
/// a handful each time. One statement over the whole window costs little more than one over a
/// day: the filter is applied while decoding, so other rows' remaining columns are not read.
/// The same holds for the rules' interest: workloads' routine calls are most of a day.
fn sparse(query: &EventQuery) -> bool {
    query.denied_only || query.denial_layer.is_some() || query.interest.is_some()
}

/// Whole days in the `i`th span of a limited read: 1, 1, 2, 4, 8, ... up to 64.
fn span_days(i: usize) -> i32 {
    if i < 2 { 1 } else { 1 << (i - 1).min(6) }
}

/// The windows a limited query reads one after another, in its order: from the end it starts
/// at, one UTC day, then one more, then 2, 4, 8, ... days, so a lookup whose newest days hold
/// enough events reads only those (90 days of an active principal cost about what 7 do). A
/// query without a limit, or without both ends, is read in one window; so is a search for
/// denied calls or the rules' interest (see [`sparse`]).
fn spans(query: &EventQuery) -> Vec<Option<TimeWindow>> {
    let Some(w) = query
        .window
        .filter(|w| bounded(w.start()) && bounded(w.end()))
    else {
        return vec![query.window];
    };
    if query.limit.is_none() || sparse(query) {
        return vec![Some(w)];
    }
    let day = Duration::days(1);
    let midnight = |t: DateTime<Utc>| {
        t.date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
    };
    let mut out = Vec::new();
    let span =
        |start, end| Some(TimeWindow::new(start, end).expect("a span starts before it ends"));
    match query.order {
        Order::Descending => {
            let mut end = w.end();
            while end >= w.start() {
                let start = (midnight(end) - day * (span_days(out.len()) - 1)).max(w.start());
                out.push(span(start, end));
                end = start - Duration::microseconds(1);
            }
        }
        Order::Ascending => {
            let mut start = w.start();
            while start <= w.end() {
                let end = (midnight(start) + day * span_days(out.len())
                    - Duration::microseconds(1))
                .min(w.end());
                out.push(span(start, end));
                start = end + Duration::microseconds(1);
            }
        }
    }
    out
}

/// True when the SQL of [`statement`] expresses every filter of `query` exactly.
fn pushdown_is_exact(query: &EventQuery) -> bool {
    let plain = |s: &str| !iat_core::glob::is_glob(s);
    query.actor.as_deref().is_none_or(plain)
        && query.event_names.iter().all(|n| plain(n))
        && query.event_source.as_deref().is_none_or(plain)
        && query.source_ip.is_none()
}

/// A SQL string literal.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A SQL timestamp literal, to the microsecond.
fn timestamp(t: DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// True for a bound a query should state (chrono's far ends mean "unbounded").
fn bounded(t: DateTime<Utc>) -> bool {
    (1000..=9999).contains(&t.year())
}

/// One page's statement: the window's partitions, the exact filters, the keyset, the order.
pub fn statement(query: &EventQuery, cursor: Option<&EventCursor>, page: usize) -> String {
    let columns: Vec<&str> = COLUMNS.iter().map(|(name, _, _)| *name).collect();
    let dir = match query.order {
        Order::Ascending => "ASC",
        Order::Descending => "DESC",
    };
    let mut sql = format!("SELECT {} FROM events", columns.join(", "));
    sql.push_str(&where_clause(query, cursor));
    sql.push_str(&format!(
        "\nORDER BY event_time {dir}, event_id {dir}\nLIMIT {page}"
    ));
    sql
}

/// The statement counting `query`'s events by source, name and the layer that denied them.
pub fn count_statement(query: &EventQuery) -> String {
    let mut sql = "SELECT event_source, event_name, CASE WHEN denied THEN denial_layer END AS layer, count(*) AS n FROM events".to_owned();
    sql.push_str(&where_clause(query, None));
    sql.push_str("\nGROUP BY 1, 2, 3");
    sql
}

/// `WHERE` with the window's partitions, the exact filters and the keyset (empty without any).
fn where_clause(query: &EventQuery, cursor: Option<&EventCursor>) -> String {
    let mut filters: Vec<String> = Vec::new();
    if let Some(w) = query.window {
        if bounded(w.start()) {
            filters.push(format!("dt >= '{}'", w.start().format("%Y-%m-%d")));
            filters.push(format!("event_time >= {}", timestamp(w.start())));
        }
        if bounded(w.end()) {
            filters.push(format!("dt <= '{}'", w.end().format("%Y-%m-%d")));
            filters.push(format!("event_time <= {}", timestamp(w.end())));
        }
    }
    let plain = |s: &&String| !iat_core::glob::is_glob(s);
    if let Some(actor) = query.actor.as_ref().filter(plain) {
        let a = literal(actor);
        filters.push(format!("(actor = {a} OR principal_arn = {a})"));
    }
    if !query.event_names.is_empty() && query.event_names.iter().all(|n| plain(&n)) {
        let names: Vec<String> = query.event_names.iter().map(|n| literal(n)).collect();
        filters.push(format!("event_name IN ({})", names.join(", ")));
    }
    if let Some(source) = query.event_source.as_ref().filter(plain) {
        filters.push(format!("event_source = {}", literal(source)));
    }
    if let Some(account) = &query.account {
        filters.push(format!("account = {}", literal(account.as_str())));
    }
    if let Some(region) = &query.region {
        filters.push(format!("aws_region = {}", literal(region.as_str())));
    }
    if query.denied_only || query.denial_layer.is_some() {
        filters.push("denied = true".to_owned());
    }
    if let Some(layer) = query.denial_layer {
        filters.push(format!("denial_layer = {}", literal(layer.as_str())));
    }
    if let Some(interest) = &query.interest {
        filters.push(interest_term(interest, query.window.as_ref()));
    }
    let cmp = match query.order {
        Order::Ascending => ">",
        Order::Descending => "<",
    };
    if let Some(c) = cursor {
        let t = timestamp(c.time);
        let id = literal(c.id.as_str());
        filters.push(format!(
            "(event_time {cmp} {t} OR (event_time = {t} AND event_id {cmp} {id}))"
        ));
    }
    if filters.is_empty() {
        String::new()
    } else {
        format!("\nWHERE {}", filters.join("\n  AND "))
    }
}

/// The SQL of an [`Interest`] over `window`: any of its kinds, grouped by event source.
fn interest_term(interest: &Interest, window: Option<&TimeWindow>) -> String {
    let mut kinds: Vec<String> = Vec::new();
    let mut by_source: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (source, name) in &interest.events {
        by_source.entry(source).or_default().push(literal(name));
    }
    for (source, names) in by_source {
        kinds.push(format!(
            "(event_source = {} AND event_name IN ({}))",
            literal(source),
            names.join(", ")
        ));
    }
    if interest.denied {
        kinds.push("denied = true".to_owned());
    }
    let types: Vec<String> = PERSON_TYPES.iter().map(|t| literal(t)).collect();
    let person = format!(
        "(principal_type IN ({}) OR (principal_type = 'AssumedRole' AND substr(role_name, 1, {}) = {}))",
        types.join(", "),
        SSO_ROLE_PREFIX.len(),
        literal(SSO_ROLE_PREFIX)
    );
    match interest.people_read(window) {
        PeopleRead::None => {}
        PeopleRead::All => kinds.push(person),
        PeopleRead::Spans(spans) if spans.is_empty() => {}
        // Outside working hours only.
        PeopleRead::Spans(spans) => {
            let times: Vec<String> = spans
                .iter()
                .map(|(a, b)| {
                    format!(
                        "(event_time >= {} AND event_time < {})",
                        timestamp(*a),
                        timestamp(*b)
                    )
                })
                .collect();
            kinds.push(format!("({person} AND ({}))", times.join(" OR ")));
        }
    }
    if interest.root_apart(window) {
        kinds.push("principal_type = 'Root'".to_owned());
    }
    if kinds.is_empty() {
        "false".to_owned()
    } else {
        format!("({})", kinds.join("\n    OR "))
    }
}

/// Column positions of a result.
struct Columns(HashMap<String, usize>);

impl Columns {
    fn of(rows: &ResultRows) -> Self {
        Self(
            rows.columns
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i))
                .collect(),
        )
    }

    fn text<'r>(&self, row: &'r [Option<String>], column: &str) -> Option<&'r str> {
        let i = *self.0.get(column)?;
        row.get(i)?.as_deref()
    }

    fn flag(&self, row: &[Option<String>], column: &str) -> Option<bool> {
        match self.text(row, column)? {
            "true" | "TRUE" | "True" => Some(true),
            "false" | "FALSE" | "False" => Some(false),
            _ => None,
        }
    }

    fn time(&self, row: &[Option<String>]) -> Option<DateTime<Utc>> {
        parse_time(self.text(row, "event_time")?)
    }
}

/// A timestamp as the engines print it: RFC 3339 (DataFusion) or `2026-01-01 10:00:00.000`
/// with an optional ` UTC` (Athena).
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let plain = text.trim().trim_end_matches(" UTC").replace(' ', "T");
    NaiveDateTime::parse_from_str(plain.trim_end_matches('Z'), "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

/// A JSON document column as a value (its text when it is not JSON).
fn document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// An exported row as an event: a CloudTrail record rebuilt from the columns, normalised, with
/// the exported principal and denial put back. `None` when the row cannot make an event.
fn rebuild(c: &Columns, row: &[Option<String>]) -> Option<ActivityEvent> {
    let time = c.time(row)?;
    let mut record = Map::new();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(v) = value {
            record.insert(key.to_owned(), v);
        }
    };
    let text = |column: &str| c.text(row, column).map(|v| Value::String(v.to_owned()));
    put("eventID", text("event_id"));
    put(
        "eventTime",
        Some(Value::String(
            time.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        )),
    );
    put("eventSource", text("event_source"));
    put("eventName", text("event_name"));
    put("eventType", text("event_type"));
    put("eventCategory", text("event_category"));
    put("awsRegion", text("aws_region"));
    put("recipientAccountId", text("account"));
    put("sourceIPAddress", text("source_ip"));
    put("userAgent", text("user_agent"));
    put("readOnly", c.flag(row, "read_only").map(Value::Bool));
    put(
        "managementEvent",
        c.flag(row, "management_event").map(Value::Bool),
    );
    put("errorCode", text("error_code"));
    put("errorMessage", text("error_message"));
    put("vpcEndpointId", text("vpc_endpoint_id"));
    put("requestID", text("request_id"));
    for (key, column) in [
        ("requestParameters", "request_parameters"),
        ("responseElements", "response_elements"),
        ("additionalEventData", "additional_event_data"),
        ("resources", "resources"),
    ] {
        put(key, c.text(row, column).map(document));
    }
    let mut identity = Map::new();
    for (key, column) in [
        ("type", "principal_type"),
        ("arn", "principal_arn"),
        ("principalId", "principal_id"),
        ("accountId", "principal_account"),
        ("accessKeyId", "access_key_id"),
        ("invokedBy", "invoked_by"),
    ] {
        if let Some(v) = text(column) {
            identity.insert(key.to_owned(), v);
        }
    }
    if let Some(issuer) = text("session_issuer_arn") {
        let mut session = Map::new();
        session.insert(
            "sessionIssuer".to_owned(),
            serde_json::json!({ "arn": issuer, "type": "Role" }),
        );
        identity.insert("sessionContext".to_owned(), Value::Object(session));
    }
    if let Some(user) = text("identity_store_user_id") {
        identity.insert(
            "onBehalfOf".to_owned(),
            serde_json::json!({ "userId": user }),
        );
    }
    put("userIdentity", Some(Value::Object(identity)));
    let raw = Value::Object(record).to_string();
    let mut event = iat_core::normalize(raw, &RecordLimits::default())
        .ok()?
        .event;
    // What was exported, not what normalising a partial record finds again.
    let p = &mut event.principal;
    p.actor = c.text(row, "actor").unwrap_or_default().to_owned();
    p.role_name = c.text(row, "role_name").map(str::to_owned);
    p.session_issuer_arn = c.text(row, "session_issuer_arn").map(str::to_owned);
    p.mfa_authenticated = c.flag(row, "mfa_authenticated");
    p.identity_store_user_id = c.text(row, "identity_store_user_id").map(str::to_owned);
    event.account = c
        .text(row, "account")
        .and_then(|a| AccountId::new(a).ok())
        .or(event.account);
    event.denial = match (c.flag(row, "denied"), c.text(row, "denial_layer")) {
        (Some(true), Some(layer)) => Some(Denial {
            layer: DenialLayer::parse(layer)?,
            kind: match c.text(row, "deny_kind") {
                Some("explicit") => DenyKind::Explicit,
                Some("implicit") => DenyKind::Implicit,
                _ => DenyKind::Unknown,
            },
        }),
        _ => None,
    };
    if let (Some(login), Some(mfa)) = (event.console_login.as_mut(), c.flag(row, "mfa_used")) {
        login.mfa_used = Some(mfa);
    }
    Some(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iat_core::ports::{MemoryQueryEngine, QueryEngine};

    fn rows_of(events: &[ActivityEvent]) -> ResultRows {
        crate::schema::rows_for_tests(events)
    }

    #[tokio::test]
    async fn the_statement_reads_the_window_s_days_and_pushes_exact_filters_down() {
        let engine = Arc::new(MemoryQueryEngine::new());
        let lake = LakeEventStore::with_page(engine.clone() as Arc<dyn QueryEngine>, 10);
        let query = EventQuery {
            window: Some(
                iat_core::TimeWindow::new(
                    "2026-03-01T10:00:00Z".parse().unwrap(),
                    "2026-03-03T00:00:00Z".parse().unwrap(),
                )
                .unwrap(),
            ),
            actor: Some("o'brien".into()),
            event_names: vec!["CreateUser".into(), "DeleteUser".into()],
            order: Order::Descending,
            limit: Some(3),
            ..Default::default()
        };
        assert!(lake.query(&query).await.unwrap().is_empty());
        // Newest day first, then the one before, then the two before that (cut at the start).
        let statements = engine.statements();
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(
            statements[0].contains("dt >= '2026-03-03'")
                && statements[0].contains("dt <= '2026-03-03'")
        );
        assert!(
            statements[1].contains("dt >= '2026-03-02'")
                && statements[1].contains("dt <= '2026-03-02'")
        );
        let sql = &statements[2];
        for part in [
            "dt >= '2026-03-01'",
            "dt <= '2026-03-01'",
            "event_time >= TIMESTAMP '2026-03-01 10:00:00.000000'",
            "(actor = 'o''brien' OR principal_arn = 'o''brien')",
            "event_name IN ('CreateUser', 'DeleteUser')",
            "ORDER BY event_time DESC, event_id DESC\nLIMIT 3",
        ] {
            assert!(sql.contains(part), "{part} missing from {sql}");
        }
        // Denied calls: the whole window in one statement.
        let scp = EventQuery {
            denial_layer: Some(DenialLayer::ServiceControlPolicy),
            ..query.clone()
        };
        assert!(lake.query(&scp).await.unwrap().is_empty());
        let statements = engine.statements();
        assert_eq!(statements.len(), 4, "{statements:#?}");
        let sql = &statements[3];
        for part in [
            "dt >= '2026-03-01'",
            "dt <= '2026-03-03'",
            "denied = true",
            "denial_layer = 'service_control_policy'",
        ] {
            assert!(sql.contains(part), "{part} missing from {sql}");
        }
        // The rules' interest: each source's names, denied calls, people (root among them).
        let interest = EventQuery {
            interest: Some(Interest {
                events: [
                    ("iam.amazonaws.com", "CreateUser"),
                    ("iam.amazonaws.com", "PutRolePolicy"),
                    ("sts.amazonaws.com", "AssumeRole"),
                ]
                .into_iter()
                .map(|(s, n)| (s.to_owned(), n.to_owned()))
                .collect(),
                denied: true,
                people: true,
                outside: None,
                root: true,
            }),
            actor: None,
            event_names: Vec::new(),
            ..query.clone()
        };
        assert!(lake.query(&interest).await.unwrap().is_empty());
        let sql = engine.statements().pop().unwrap();
        let want = "((event_source = 'iam.amazonaws.com' AND event_name IN ('CreateUser', 'PutRolePolicy'))\n    OR (event_source = 'sts.amazonaws.com' AND event_name IN ('AssumeRole'))\n    OR denied = true\n    OR (principal_type IN ('Root', 'IAMUser', 'IdentityCenterUser', 'SAMLUser', 'WebIdentityUser') OR (principal_type = 'AssumedRole' AND substr(role_name, 1, 15) = 'AWSReservedSSO_')))";
        assert!(sql.contains(want), "{want} missing from {sql}");
        // People outside working hours: the window's spans (a Sunday, then Monday's evening),
        // and the root user at any time.
        let off_hours = EventQuery {
            interest: Some(Interest {
                people: true,
                outside: Some(iat_core::rules::WorkingHours::default()),
                root: true,
                ..Interest::default()
            }),
            actor: None,
            event_names: Vec::new(),
            ..query.clone()
        };
        assert!(lake.query(&off_hours).await.unwrap().is_empty());
        let sql = engine.statements().pop().unwrap();
        let want = "(((principal_type IN ('Root', 'IAMUser', 'IdentityCenterUser', 'SAMLUser', 'WebIdentityUser') OR (principal_type = 'AssumedRole' AND substr(role_name, 1, 15) = 'AWSReservedSSO_')) AND ((event_time >= TIMESTAMP '2026-03-01 10:00:00.000000' AND event_time < TIMESTAMP '2026-03-02 07:00:00.000000') OR (event_time >= TIMESTAMP '2026-03-02 19:00:00.000000' AND event_time < TIMESTAMP '2026-03-03 00:00:00.000001')))\n    OR principal_type = 'Root')";
        assert!(sql.contains(want), "{want} missing from {sql}");
        let nothing = EventQuery {
            interest: Some(Interest::default()),
            ..query.clone()
        };
        assert!(lake.query(&nothing).await.unwrap().is_empty());
        let sql = engine.statements().pop().unwrap();
        assert!(sql.contains("\n  AND false\n"), "{sql}");
        // A glob is not pushed down, and without a window no partition is named.
        let glob = EventQuery {
            actor: Some("role/*".into()),
            limit: Some(3),
            ..Default::default()
        };
        lake.query(&glob).await.unwrap();
        let sql = engine.statements().pop().unwrap();
        assert!(!sql.contains("actor =") && !sql.contains("dt "), "{sql}");
        assert!(sql.ends_with("LIMIT 10"), "{sql}");
    }

    #[tokio::test]
    async fn pages_follow_the_keyset_grow_and_a_glob_is_matched_on_the_rebuilt_events() {
        let events = iat_core::contract::records::firing_fixture_events();
        let mut sorted = events.clone();
        sorted.sort_by(|a, b| (b.time, &b.id).cmp(&(a.time, &a.id)));
        let engine = Arc::new(MemoryQueryEngine::new());
        // A full first page of 2, then a second statement asking for twice as many.
        engine.answer(rows_of(&sorted[..2]));
        engine.answer(rows_of(&sorted[2..6]));
        let lake = LakeEventStore::with_page(engine.clone() as Arc<dyn QueryEngine>, 2);
        let query = EventQuery {
            event_names: vec!["*".into()],
            order: Order::Descending,
            limit: Some(5),
            ..Default::default()
        };
        let got = lake.query(&query).await.unwrap();
        let want: Vec<_> = sorted.iter().take(5).map(|e| e.id.clone()).collect();
        assert_eq!(got.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), want);
        let statements = engine.statements();
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert!(statements[0].ends_with("LIMIT 2"), "{}", statements[0]);
        let last = &sorted[1];
        assert!(
            statements[1].contains(&format!("event_id < '{}'", last.id.as_str()))
                && statements[1].ends_with("LIMIT 4"),
            "{}",
            statements[1]
        );
        assert_eq!(lake.reads().statements, 2);
    }

    #[tokio::test]
    async fn actions_are_counted_in_one_statement_unless_a_filter_is_not_in_the_sql() {
        let engine = Arc::new(MemoryQueryEngine::new());
        let lake = LakeEventStore::with_page(engine.clone() as Arc<dyn QueryEngine>, 10);
        engine.answer(ResultRows {
            columns: ["event_source", "event_name", "layer", "n"]
                .map(str::to_owned)
                .to_vec(),
            typed: vec![false, false, false, true],
            rows: vec![
                [
                    "iam.amazonaws.com",
                    "CreateUser",
                    "service_control_policy",
                    "7",
                ]
                .map(|v| Some(v.to_owned()))
                .to_vec(),
                vec![
                    Some("s3.amazonaws.com".into()),
                    Some("GetObject".into()),
                    None,
                    Some("2".into()),
                ],
            ],
        });
        let query = EventQuery {
            window: Some(
                TimeWindow::new(
                    "2026-03-01T10:00:00Z".parse().unwrap(),
                    "2026-03-07T00:00:00Z".parse().unwrap(),
                )
                .unwrap(),
            ),
            denied_only: true,
            order: Order::Descending,
            limit: Some(5),
            ..Default::default()
        };
        let counts = lake.count_actions(&query, 3).await.unwrap();
        assert!(
            !counts.cut,
            "the engine counts every event, whatever the bound"
        );
        assert_eq!(counts.events(), 9);
        assert_eq!(
            counts.actions[0],
            ActionCount {
                source: "iam.amazonaws.com".into(),
                name: "CreateUser".into(),
                layer: Some(DenialLayer::ServiceControlPolicy),
                count: 7
            }
        );
        assert_eq!(counts.actions[1].layer, None);
        let statements = engine.statements();
        assert_eq!(statements.len(), 1, "{statements:#?}");
        for part in [
            "dt >= '2026-03-01'",
            "dt <= '2026-03-07'",
            "denied = true",
            "GROUP BY 1, 2, 3",
        ] {
            assert!(
                statements[0].contains(part),
                "{part} missing from {}",
                statements[0]
            );
        }
        assert!(!statements[0].contains("LIMIT"), "{}", statements[0]);
        // A glob is matched on the events, so they are read instead.
        let glob = EventQuery {
            actor: Some("role/*".into()),
            ..query
        };
        let counts = lake.count_actions(&glob, 3).await.unwrap();
        assert_eq!(counts, ActionCounts::default());
        let sql = &engine.statements()[1];
        assert!(
            sql.contains("ORDER BY") && !sql.contains("GROUP BY"),
            "{sql}"
        );
    }

    #[test]
    fn a_limited_read_widens_from_the_end_it_starts_at() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let window = TimeWindow::new(t("2026-03-01T10:00:00Z"), t("2026-03-10T12:00:00Z")).unwrap();
        let days = |order| -> Vec<(String, String)> {
            spans(&EventQuery {
                window: Some(window),
                order,
                limit: Some(10),
                ..Default::default()
            })
            .into_iter()
            .map(|w| {
                let w = w.unwrap();
                (w.start().to_rfc3339(), w.end().to_rfc3339())
            })
            .collect()
        };
        let desc = days(Order::Descending);
        let starts: Vec<&str> = desc.iter().map(|(s, _)| &s[..10]).collect();
        assert_eq!(
            starts,
            [
                "2026-03-10",
                "2026-03-09",
                "2026-03-07",
                "2026-03-03",
                "2026-03-01"
            ]
        );
        assert_eq!(desc[0].1, "2026-03-10T12:00:00+00:00");
        assert_eq!(desc[4].0, "2026-03-01T10:00:00+00:00");
        let asc = days(Order::Ascending);
        let ends: Vec<&str> = asc.iter().map(|(_, e)| &e[..10]).collect();
        assert_eq!(
            ends,
            [
                "2026-03-01",
                "2026-03-02",
                "2026-03-04",
                "2026-03-08",
                "2026-03-10"
            ]
        );
        // Contiguous: each part starts a microsecond after the one before ends.
        for pair in asc.windows(2) {
            let end = t(&pair[0].1) + Duration::microseconds(1);
            assert_eq!(end, t(&pair[1].0));
        }
        // No limit, or an open end: one window.
        let all = EventQuery {
            window: Some(window),
            ..Default::default()
        };
        assert_eq!(spans(&all), vec![Some(window)]);
        // Denied calls, limited or not: one window.
        let denied = EventQuery {
            window: Some(window),
            limit: Some(10),
            denied_only: true,
            ..Default::default()
        };
        assert_eq!(spans(&denied), vec![Some(window)]);
        let scp = EventQuery {
            denied_only: false,
            denial_layer: Some(DenialLayer::ServiceControlPolicy),
            ..denied
        };
        assert_eq!(spans(&scp), vec![Some(window)]);
    }

    #[test]
    fn engine_timestamps_read_back() {
        let t: DateTime<Utc> = "2026-03-01T10:00:00Z".parse().unwrap();
        for text in [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00+00:00",
            "2026-03-01 10:00:00.000",
            "2026-03-01 10:00:00.000 UTC",
        ] {
            assert_eq!(parse_time(text), Some(t), "{text}");
        }
        assert_eq!(parse_time("yesterday"), None);
    }

    #[tokio::test]
    async fn the_lake_refuses_writes() {
        let lake = LakeEventStore::new(Arc::new(MemoryQueryEngine::new()));
        let err = lake.put(&[]).await.unwrap_err().to_string();
        assert!(err.contains("read-only"), "{err}");
    }
}
