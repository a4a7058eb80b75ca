//! The `EventStore` port: inserts that store each event id once, queries built from the port's
//! filters (globs through the core matcher), and the counts `iat status` shows.

use std::sync::Mutex;

use async_trait::async_trait;
use iat_core::glob::is_glob;
use iat_core::ports::{
    Breakdown, EventFeed, EventQuery, EventStore, FeedPosition, Interest, IpFilter, Order,
    PeopleRead, PutOutcome, QuarantineEntry, Quarantined, StoreStats, StoreSummary,
};
use iat_core::{ActivityEvent, Error, RecordLimits, TimeWindow, normalize};
use rusqlite::types::Value;
use rusqlite::{Connection, params, params_from_iter};

use super::{BACKEND, Result, SqliteStore, db_err, from_micros, micros};

/// Longest quarantined text kept.
pub(super) const MAX_QUARANTINE_BYTES: usize = 4 * 1024 * 1024;

/// The column a [`Breakdown`] groups by.
fn column(by: Breakdown) -> &'static str {
    match by {
        Breakdown::EventSource => "event_source",
        Breakdown::EventName => "event_name",
        Breakdown::Account => "coalesce(account, '-')",
        Breakdown::Region => "region",
        Breakdown::Actor => "actor",
        Breakdown::DenialLayer => "denial_layer",
    }
}

impl SqliteStore {
    /// Stores events not yet stored, in one transaction.
    pub fn put_blocking(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("put"))?;
        let out = insert_events(&tx, events)?;
        tx.commit().map_err(db_err("put"))?;
        Ok(out)
    }

    /// Events matching `query`.
    pub fn query_blocking(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        query_events(&self.conn, query)
    }

    /// Up to `limit` events stored after insertion number `after`, oldest insertion first,
    /// each with its number (for readers that remember how far they got, like `iat alerts`).
    pub fn events_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, ActivityEvent)>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached("SELECT e.seq, r.record FROM events e JOIN records r ON r.seq = e.seq WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2")
            .map_err(db_err("read new events"))?;
        let rows = stmt
            .query_map(rusqlite::params![after, limit as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err("read new events"))?;
        let limits = RecordLimits {
            max_record_bytes: usize::MAX,
        };
        let mut out = Vec::new();
        for row in rows {
            let (seq, raw) = row.map_err(db_err("read new events"))?;
            let event = normalize(raw, &limits).map_err(|r| {
                Error::backend(
                    BACKEND,
                    "read new events",
                    format!("a stored record no longer normalises: {}", r.error),
                )
            })?;
            out.push((seq, event.event));
        }
        Ok(out)
    }

    /// Keeps rejected records.
    pub fn quarantine_blocking(&self, records: &[Quarantined]) -> Result<()> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("quarantine"))?;
        insert_quarantined(&tx, records)?;
        tx.commit().map_err(db_err("quarantine"))
    }

    /// Counts and time range.
    pub fn stats_blocking(&self) -> Result<StoreStats> {
        let conn = self.conn.lock().unwrap();
        let (events, first, last): (i64, Option<i64>, Option<i64>) = conn
            .query_row(
                "SELECT count(*), min(event_time), max(event_time) FROM events",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .map_err(db_err("stats"))?;
        let quarantined: i64 = conn
            .query_row("SELECT count(*) FROM quarantine", [], |r| r.get(0))
            .map_err(db_err("stats"))?;
        Ok(StoreStats {
            events: events as u64,
            first: first.and_then(from_micros),
            last: last.and_then(from_micros),
            quarantined: quarantined as u64,
        })
    }

    /// Event counts grouped by one column, largest first (`denial_layer` counts denied calls).
    pub fn breakdown(&self, by: Breakdown, limit: usize) -> Result<Vec<(String, u64)>> {
        let col = column(by);
        let filter = if by == Breakdown::DenialLayer {
            "WHERE denial_layer IS NOT NULL"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {col} AS k, count(*) AS n FROM events {filter} GROUP BY k ORDER BY n DESC, k LIMIT ?1"
        );
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn.prepare(&sql).map_err(db_err("breakdown"))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
            })
            .map_err(db_err("breakdown"))?;
        rows.collect::<Result<_, _>>().map_err(db_err("breakdown"))
    }

    /// The most recent quarantined records, newest first.
    pub fn recent_quarantine(&self, limit: usize) -> Result<Vec<QuarantineEntry>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT origin, event_id, reason FROM quarantine ORDER BY seq DESC LIMIT ?1")
            .map_err(db_err("quarantine"))?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                Ok(QuarantineEntry {
                    origin: r.get(0)?,
                    event_id: r.get(1)?,
                    reason: r.get(2)?,
                })
            })
            .map_err(db_err("quarantine"))?;
        rows.collect::<Result<_, _>>().map_err(db_err("quarantine"))
    }
}

pub(super) fn insert_events(conn: &Connection, events: &[ActivityEvent]) -> Result<PutOutcome> {
    let refs: Vec<&ActivityEvent> = events.iter().collect();
    insert_events_refs(conn, &refs)
}

pub(super) fn insert_events_refs(
    conn: &Connection,
    events: &[&ActivityEvent],
) -> Result<PutOutcome> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO events (event_id, event_time, event_source, event_name, account, region,
                actor, principal_arn, source_ip, error_code, denial_layer, principal_type, person)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT(event_id) DO NOTHING",
        )
        .map_err(db_err("put"))?;
    let mut record = conn
        .prepare_cached("INSERT INTO records (seq, record) VALUES (?1, ?2)")
        .map_err(db_err("put"))?;
    let mut out = PutOutcome::default();
    for e in events {
        let n = stmt
            .execute(params![
                e.id.as_str(),
                micros(e.time),
                e.source,
                e.name,
                e.account.as_ref().map(|a| a.as_str()),
                e.region.as_str(),
                e.principal.actor,
                e.principal.arn,
                e.source_ip.raw,
                e.error_code,
                e.denial.map(|d| d.layer.as_str()),
                e.principal.kind.as_str(),
                e.principal.is_person(),
            ])
            .map_err(db_err("put"))?;
        if n == 1 {
            record
                .execute(params![conn.last_insert_rowid(), e.raw])
                .map_err(db_err("put"))?;
            out.inserted += 1;
            out.inserted_times.push(e.time);
        } else {
            out.duplicates += 1;
        }
    }
    Ok(out)
}

pub(super) fn insert_quarantined(conn: &Connection, records: &[Quarantined]) -> Result<()> {
    let mut stmt = conn
        .prepare_cached(
            "INSERT INTO quarantine (origin, event_id, reason, raw) VALUES (?1, ?2, ?3, ?4)",
        )
        .map_err(db_err("quarantine"))?;
    for q in records {
        let mut cut = q.raw.len().min(MAX_QUARANTINE_BYTES);
        while !q.raw.is_char_boundary(cut) {
            cut -= 1;
        }
        stmt.execute(params![q.origin, q.event_id, q.reason, &q.raw[..cut]])
            .map_err(db_err("quarantine"))?;
    }
    Ok(())
}

/// A filter value in SQL: the core's glob (`iat_glob`, never SQLite's own `GLOB`, whose syntax
/// differs: no braces, no escapes, bytes not characters) or an exact match.
pub(super) fn text_match(column: &str, value: &str, args: &mut Vec<Value>) -> String {
    args.push(Value::Text(value.to_owned()));
    if is_glob(value) {
        format!("iat_glob(?{}, {column})", args.len())
    } else {
        format!("{column} = ?{}", args.len())
    }
}

/// Events matching `query`: the narrow table picks and orders them, then their records are
/// read and normalised.
pub(super) fn query_events(
    conn: &Mutex<Connection>,
    query: &EventQuery,
) -> Result<Vec<ActivityEvent>> {
    query.matcher()?; // rejects malformed globs with the same message as every backend
    let (sql, args) = build_query(query);
    let conn = conn.lock().unwrap();
    // One read transaction: one snapshot, and one lock instead of one per statement.
    let tx = conn.unchecked_transaction().map_err(db_err("query"))?;
    let mut stmt = tx.prepare_cached(&sql).map_err(db_err("query"))?;
    let mut keys: Vec<(usize, i64)> = stmt
        .query_map(params_from_iter(args), |r| r.get::<_, i64>(0))
        .map_err(db_err("query"))?
        .enumerate()
        .map(|(i, seq)| seq.map(|seq| (i, seq)))
        .collect::<rusqlite::Result<_>>()
        .map_err(db_err("query"))?;
    // Records in storage order: each page of the records table is read once, not once per
    // record as the query's (time) order would, which matters when a day outgrows the cache.
    keys.sort_unstable_by_key(|&(_, seq)| seq);
    let mut fetch = tx
        .prepare_cached("SELECT record FROM records WHERE seq = ?1")
        .map_err(db_err("query"))?;
    let mut rows: Vec<Option<String>> = vec![None; keys.len()];
    for (i, seq) in keys {
        rows[i] = Some(
            fetch
                .query_row([seq], |r| r.get::<_, String>(0))
                .map_err(db_err("query"))?,
        );
    }
    drop(fetch);
    drop(stmt);
    tx.finish().map_err(db_err("query"))?;
    drop(conn);
    let limits = RecordLimits {
        max_record_bytes: usize::MAX,
    };
    let mut out = Vec::with_capacity(rows.len());
    for raw in rows.into_iter().flatten() {
        let event = normalize(raw, &limits).map_err(|r| {
            Error::backend(
                BACKEND,
                "query",
                format!("a stored record no longer normalises: {}", r.error),
            )
        })?;
        out.push(event.event);
    }
    Ok(out)
}

pub(super) fn build_query(q: &EventQuery) -> (String, Vec<Value>) {
    let mut wh: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(w) = &q.window {
        args.push(Value::Integer(micros(w.start())));
        args.push(Value::Integer(micros(w.end())));
        wh.push(format!(
            "event_time BETWEEN ?{} AND ?{}",
            args.len() - 1,
            args.len()
        ));
    }
    if let Some(actor) = &q.actor {
        let a = text_match("actor", actor, &mut args);
        let n = args.len();
        let arn = if is_glob(actor) {
            format!("iat_glob(?{n}, principal_arn)")
        } else {
            format!("principal_arn = ?{n}")
        };
        wh.push(format!("({a} OR {arn})"));
    }
    if !q.event_names.is_empty() {
        let alts: Vec<String> = q
            .event_names
            .iter()
            .map(|n| text_match("event_name", n, &mut args))
            .collect();
        wh.push(format!("({})", alts.join(" OR ")));
    }
    if let Some(source) = &q.event_source {
        wh.push(text_match("event_source", source, &mut args));
    }
    if let Some(account) = &q.account {
        args.push(Value::Text(account.to_string()));
        wh.push(format!("account = ?{}", args.len()));
    }
    if let Some(region) = &q.region {
        args.push(Value::Text(region.to_string()));
        wh.push(format!("region = ?{}", args.len()));
    }
    match &q.source_ip {
        Some(IpFilter::Exact(ip)) => {
            args.push(Value::Text(ip.clone()));
            wh.push(format!("source_ip = ?{}", args.len()));
        }
        Some(IpFilter::Network(net)) => {
            args.push(Value::Text(net.to_string()));
            wh.push(format!("ip_in_net(source_ip, ?{})", args.len()));
        }
        None => {}
    }
    if q.denied_only {
        wh.push("denial_layer IS NOT NULL".to_owned());
    }
    if let Some(layer) = q.denial_layer {
        args.push(Value::Text(layer.as_str().to_owned()));
        wh.push(format!("denial_layer = ?{}", args.len()));
    }
    if let Some(interest) = &q.interest {
        wh.push(interest_term(interest, q.window.as_ref(), &mut args));
    }
    let (cmp, dir) = match q.order {
        Order::Ascending => (">", "ASC"),
        Order::Descending => ("<", "DESC"),
    };
    if let Some(c) = &q.after {
        args.push(Value::Integer(micros(c.time)));
        args.push(Value::Text(c.id.to_string()));
        wh.push(format!(
            "(event_time, event_id) {cmp} (?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    let mut sql = String::from("SELECT seq, event_time, event_id FROM events");
    if !wh.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&wh.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY event_time {dir}, event_id {dir}"));
    if let Some(limit) = q.limit {
        args.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" LIMIT ?{}", args.len()));
    }
    // Filter and order on the narrow table; the caller then fetches the records of the rows
    // chosen.
    (sql, args)
}

/// The events of `interest` as a set of rows, one indexed read per kind: the named actions
/// through `events_by_name`, denials through `events_denied`, the root user through `events_root`,
/// people through `events_people` (over the spans outside working hours when it has them), each within the
/// window (`?1`, `?2`) when there is one.
fn interest_term(
    interest: &Interest,
    window: Option<&TimeWindow>,
    args: &mut Vec<Value>,
) -> String {
    let time = if window.is_some() {
        " AND event_time BETWEEN ?1 AND ?2"
    } else {
        ""
    };
    let mut reads: Vec<String> = Vec::new();
    if !interest.events.is_empty() {
        let mut names = Vec::new();
        for name in interest.names() {
            args.push(Value::Text(name.to_owned()));
            names.push(format!("?{}", args.len()));
        }
        let mut pairs = Vec::new();
        for (source, name) in &interest.events {
            args.push(Value::Text(source.clone()));
            args.push(Value::Text(name.clone()));
            pairs.push(format!("(?{}, ?{})", args.len() - 1, args.len()));
        }
        reads.push(format!(
            "SELECT seq FROM events WHERE event_name IN ({}){time} AND (event_source, event_name) IN (VALUES {})",
            names.join(", "),
            pairs.join(", ")
        ));
    }
    if interest.denied {
        reads.push(format!(
            "SELECT seq FROM events WHERE denial_layer IS NOT NULL{time}"
        ));
    }
    match interest.people_read(window) {
        PeopleRead::None => {}
        PeopleRead::All => reads.push(format!("SELECT seq FROM events WHERE person = 1{time}")),
        // Outside working hours: one range of the same index per span, within the window.
        PeopleRead::Spans(spans) => {
            for (start, end) in spans {
                args.push(Value::Integer(micros(start)));
                args.push(Value::Integer(micros(end)));
                reads.push(format!(
                    "SELECT seq FROM events WHERE person = 1 AND event_time >= ?{} AND event_time < ?{}",
                    args.len() - 1,
                    args.len()
                ));
            }
        }
    }
    if interest.root_apart(window) {
        reads.push(format!(
            "SELECT seq FROM events WHERE principal_type = 'Root'{time}"
        ));
    }
    if reads.is_empty() {
        return "0".to_owned();
    }
    format!("seq IN ({})", reads.join(" UNION "))
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn put(&self, events: &[ActivityEvent]) -> Result<PutOutcome> {
        self.put_blocking(events)
    }

    /// On a blocking thread, so a caller can do other work meanwhile (the exporter encodes one
    /// page while the next is read).
    async fn query(&self, query: &EventQuery) -> Result<Vec<ActivityEvent>> {
        let (conn, query) = (self.conn.clone(), query.clone());
        tokio::task::spawn_blocking(move || query_events(&conn, &query))
            .await
            .map_err(|e| Error::backend(BACKEND, "query", e))?
    }

    async fn quarantine(&self, records: &[Quarantined]) -> Result<()> {
        self.quarantine_blocking(records)
    }

    async fn stats(&self) -> Result<StoreStats> {
        self.stats_blocking()
    }
}

/// Positions are insertion numbers, which follow the order of storage.
#[async_trait]
impl EventFeed for SqliteStore {
    async fn after(
        &self,
        position: FeedPosition,
        limit: usize,
    ) -> Result<Vec<(FeedPosition, ActivityEvent)>> {
        self.events_after(position, limit)
    }

    async fn mark(&self, name: &str) -> Result<FeedPosition> {
        SqliteStore::mark(self, name)
    }

    async fn set_mark(&self, name: &str, position: FeedPosition) -> Result<()> {
        SqliteStore::set_mark(self, name, position)
    }
}

#[async_trait]
impl StoreSummary for SqliteStore {
    async fn breakdown(&self, by: Breakdown, limit: usize) -> Result<Vec<(String, u64)>> {
        SqliteStore::breakdown(self, by, limit)
    }

    async fn recent_quarantine(&self, limit: usize) -> Result<Vec<QuarantineEntry>> {
        SqliteStore::recent_quarantine(self, limit)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use iat_core::rules::RuleSet;

    use super::*;

    /// The rules' reads over a window come from the name, denial and people indexes: no step
    /// of the plan visits every event of the window.
    #[test]
    fn an_interest_is_read_through_indexes() {
        let store = SqliteStore::in_memory().unwrap();
        let window = TimeWindow::new(
            Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap(),
        )
        .unwrap();
        let query = EventQuery {
            window: Some(window),
            interest: RuleSet::default_rules().interest(),
            order: Order::Descending,
            limit: Some(100_000),
            ..Default::default()
        };
        let (sql, args) = build_query(&query);
        let conn = store.conn.lock().unwrap();
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let plan: Vec<String> = stmt
            .query_map(params_from_iter(args), |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let text = plan.join("\n");
        for index in [
            "events_by_name",
            "events_denied",
            "events_people",
            "events_root",
        ] {
            assert!(text.contains(index), "{index} unused:\n{text}");
        }
        assert!(
            !plan.iter().any(|step| step.starts_with("SCAN events")),
            "a step reads every event:\n{text}"
        );
    }
}
