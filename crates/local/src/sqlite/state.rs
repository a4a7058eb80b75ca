//! Run state in the same file: checkpoints (compare-and-set by version), the alert ledger
//! (claims with expiry), the log of sent alerts, the first-seen state, and named marks such as
//! where `iat alerts` stopped.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use iat_core::ports::{
    Acknowledgement, AlertKey, AlertLedger, AlertLog, AlertLogQuery, Checkpoint, CheckpointStore,
    ClaimOutcome, LoggedAlert, SeenKey, SeenRecord, SeenStore,
};
use iat_core::{Error, StreamKey};
use rusqlite::{OptionalExtension, params};

use super::{BACKEND, Result, SqliteStore, db_err, from_micros, micros};

impl SqliteStore {
    /// A named mark (0 when never set).
    pub fn mark(&self, name: &str) -> Result<i64> {
        let conn = self.conn.lock().unwrap();
        conn.query_row("SELECT value FROM marks WHERE name = ?1", [name], |r| {
            r.get(0)
        })
        .optional()
        .map(|v| v.unwrap_or(0))
        .map_err(db_err("read mark"))
    }

    /// Sets a named mark.
    pub fn set_mark(&self, name: &str, value: i64) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "INSERT INTO marks (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            rusqlite::params![name, value],
        )
        .map(|_| ())
        .map_err(db_err("write mark"))
    }
}

#[async_trait]
impl CheckpointStore for SqliteStore {
    async fn load(&self, stream: &StreamKey) -> Result<Option<Checkpoint>> {
        let conn = self.conn.lock().unwrap();
        let row: Option<(i64, String)> = conn
            .query_row(
                "SELECT version, body FROM checkpoints WHERE stream = ?1",
                [stream.to_string()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("load checkpoint"))?;
        row.map(|(version, body)| {
            let mut cp: Checkpoint = serde_json::from_str(&body).map_err(|e| {
                Error::backend(BACKEND, "load checkpoint", format!("{stream}: {e}"))
            })?;
            cp.version = version as u64;
            Ok(cp)
        })
        .transpose()
    }

    async fn save(&self, checkpoint: &Checkpoint) -> Result<u64> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("save checkpoint"))?;
        let key = checkpoint.stream.to_string();
        let found: u64 = tx
            .query_row(
                "SELECT version FROM checkpoints WHERE stream = ?1",
                [&key],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map_err(db_err("save checkpoint"))?
            .map_or(0, |v| v as u64);
        if found != checkpoint.version {
            return Err(Error::CheckpointConflict {
                stream: key,
                expected: checkpoint.version,
                found,
            });
        }
        let next = found + 1;
        let mut stored = checkpoint.clone();
        stored.version = next;
        let body = serde_json::to_string(&stored)
            .map_err(|e| Error::backend(BACKEND, "save checkpoint", e))?;
        tx.execute(
            "INSERT INTO checkpoints (stream, version, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(stream) DO UPDATE SET version = excluded.version, body = excluded.body",
            params![key, next as i64, body],
        )
        .map_err(db_err("save checkpoint"))?;
        tx.commit().map_err(db_err("save checkpoint"))?;
        Ok(next)
    }

    async fn list(&self) -> Result<Vec<Checkpoint>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare("SELECT version, body FROM checkpoints")
            .map_err(db_err("list checkpoints"))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .map_err(db_err("list checkpoints"))?;
        let mut out = Vec::new();
        for row in rows {
            let (version, body) = row.map_err(db_err("list checkpoints"))?;
            let mut cp: Checkpoint = serde_json::from_str(&body)
                .map_err(|e| Error::backend(BACKEND, "list checkpoints", e))?;
            cp.version = version as u64;
            out.push(cp);
        }
        out.sort_by(|a, b| a.stream.cmp(&b.stream));
        Ok(out)
    }
}

#[async_trait]
impl AlertLedger for SqliteStore {
    async fn claim(
        &self,
        key: &AlertKey,
        now: DateTime<Utc>,
        lease: Duration,
    ) -> Result<ClaimOutcome> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("claim alert"))?;
        let row: Option<(bool, i64)> = tx
            .query_row(
                "SELECT sent, claimed_at FROM alert_ledger WHERE event_id = ?1 AND rule_id = ?2",
                [key.event_id.as_str(), key.rule_id.as_str()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db_err("claim alert"))?;
        match row {
            Some((true, _)) => return Ok(ClaimOutcome::AlreadySent),
            Some((false, at)) => {
                let since = from_micros(at).unwrap_or(now);
                if since + lease > now {
                    return Ok(ClaimOutcome::InFlight { since });
                }
            }
            None => {}
        }
        tx.execute(
            "INSERT INTO alert_ledger (event_id, rule_id, sent, claimed_at) VALUES (?1, ?2, 0, ?3)
             ON CONFLICT(event_id, rule_id) DO UPDATE SET claimed_at = excluded.claimed_at",
            params![key.event_id.as_str(), key.rule_id.as_str(), micros(now)],
        )
        .map_err(db_err("claim alert"))?;
        tx.commit().map_err(db_err("claim alert"))?;
        Ok(ClaimOutcome::Claimed)
    }

    async fn confirm(&self, key: &AlertKey, now: DateTime<Utc>) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "INSERT INTO alert_ledger (event_id, rule_id, sent, claimed_at) VALUES (?1, ?2, 1, ?3)
             ON CONFLICT(event_id, rule_id) DO UPDATE SET sent = 1",
            params![key.event_id.as_str(), key.rule_id.as_str(), micros(now)],
        )
        .map_err(db_err("confirm alert"))?;
        Ok(())
    }

    async fn release(&self, key: &AlertKey) -> Result<()> {
        let conn = self.conn.lock().unwrap();
        conn.execute(
            "DELETE FROM alert_ledger WHERE event_id = ?1 AND rule_id = ?2 AND sent = 0",
            [key.event_id.as_str(), key.rule_id.as_str()],
        )
        .map_err(db_err("release alert"))?;
        Ok(())
    }
}

fn seen_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, String, i64)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn seen_record(first: i64, by: String, expires: i64) -> Option<SeenRecord> {
    Some(SeenRecord {
        first: from_micros(first)?,
        event_id: by,
        expires: DateTime::from_timestamp(expires, 0)?,
    })
}

#[async_trait]
impl SeenStore for SqliteStore {
    async fn get(
        &self,
        keys: &[SeenKey],
        now: DateTime<Utc>,
    ) -> Result<HashMap<SeenKey, SeenRecord>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare_cached(
                "SELECT first_us, by_event, expires FROM seen WHERE scope = ?1 AND item = ?2 AND expires > ?3",
            )
            .map_err(db_err("read first-seen keys"))?;
        let mut out = HashMap::new();
        for k in keys {
            let row = stmt
                .query_row(params![k.scope, k.item_key(), now.timestamp()], seen_row)
                .optional()
                .map_err(db_err("read first-seen keys"))?;
            if let Some(r) = row.and_then(|(f, b, e)| seen_record(f, b, e)) {
                out.insert(k.clone(), r);
            }
        }
        Ok(out)
    }

    async fn put(
        &self,
        records: &[(SeenKey, SeenRecord)],
        now: DateTime<Utc>,
    ) -> Result<Vec<SeenRecord>> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn
            .transaction()
            .map_err(db_err("write first-seen keys"))?;
        let mut out = Vec::with_capacity(records.len());
        {
            let mut read = tx
                .prepare_cached(
                    "SELECT first_us, by_event, expires FROM seen WHERE scope = ?1 AND item = ?2",
                )
                .map_err(db_err("write first-seen keys"))?;
            let mut write = tx
                .prepare_cached(
                    "INSERT INTO seen (scope, item, first_us, by_event, expires) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT(scope, item) DO UPDATE SET first_us = excluded.first_us,
                       by_event = excluded.by_event, expires = excluded.expires",
                )
                .map_err(db_err("write first-seen keys"))?;
            for (k, r) in records {
                let old = read
                    .query_row(params![k.scope, k.item_key()], seen_row)
                    .optional()
                    .map_err(db_err("write first-seen keys"))?
                    .and_then(|(f, b, e)| seen_record(f, b, e));
                match old {
                    Some(old) if old.expires > now && !r.supersedes(&old) => out.push(old),
                    _ => {
                        write
                            .execute(params![
                                k.scope,
                                k.item_key(),
                                r.first.timestamp_micros(),
                                r.event_id,
                                r.expires.timestamp()
                            ])
                            .map_err(db_err("write first-seen keys"))?;
                        out.push(r.clone());
                    }
                }
            }
        }
        tx.commit().map_err(db_err("write first-seen keys"))?;
        Ok(out)
    }

    async fn scope(&self, scope: &str, now: DateTime<Utc>) -> Result<Vec<(SeenKey, SeenRecord)>> {
        let conn = self.conn.lock().unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT item, first_us, by_event, expires FROM seen WHERE scope = ?1 AND expires > ?2 ORDER BY item",
            )
            .map_err(db_err("list first-seen keys"))?;
        let rows = stmt
            .query_map(params![scope, now.timestamp()], |r| {
                Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(db_err("list first-seen keys"))?;
        let mut out = Vec::new();
        for row in rows {
            let (item, first, by, expires) = row.map_err(db_err("list first-seen keys"))?;
            if let (Some(k), Some(r)) = (
                SeenKey::from_item(scope, &item),
                seen_record(first, by, expires),
            ) {
                out.push((k, r));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    async fn count(&self) -> Result<u64> {
        let conn = self.conn.lock().unwrap();
        conn.query_row("SELECT count(*) FROM seen", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(db_err("count first-seen keys"))
    }
}

/// Reads the log's JSON body.
fn logged(body: &str) -> Result<LoggedAlert> {
    serde_json::from_str(body).map_err(|e| Error::backend(BACKEND, "read alert log", e))
}

#[async_trait]
impl AlertLog for SqliteStore {
    async fn record(&self, alerts: &[LoggedAlert]) -> Result<()> {
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("log alerts"))?;
        for a in alerts {
            let kept: Option<String> = tx
                .query_row("SELECT body FROM alert_log WHERE id = ?1", [&a.id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(db_err("log alerts"))?;
            let ack = match kept {
                Some(body) => logged(&body)?.ack,
                None => None,
            }
            .or_else(|| a.ack.clone());
            let row = LoggedAlert { ack, ..a.clone() };
            let body = serde_json::to_string(&row)
                .map_err(|e| Error::backend(BACKEND, "log alerts", e))?;
            tx.execute(
                "INSERT INTO alert_log (id, last_us, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(id) DO UPDATE SET last_us = excluded.last_us, body = excluded.body",
                params![a.id, micros(a.last_time()), body],
            )
            .map_err(db_err("log alerts"))?;
        }
        tx.commit().map_err(db_err("log alerts"))
    }

    async fn list(&self, query: &AlertLogQuery) -> Result<Vec<LoggedAlert>> {
        let conn = self.conn.lock().unwrap();
        let (from, to) = query.window.map_or((i64::MIN, i64::MAX), |w| {
            (micros(w.start()), micros(w.end()))
        });
        let mut st = conn
            .prepare_cached(
                "SELECT id, body FROM alert_log WHERE last_us >= ?1 AND last_us <= ?2
                 ORDER BY last_us DESC, id ASC",
            )
            .map_err(db_err("list alerts"))?;
        let rows = st
            .query_map(params![from, to], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
            })
            .map_err(db_err("list alerts"))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, body) = row.map_err(db_err("list alerts"))?;
            // One unreadable entry (a hand edit, a format this build does not know) is skipped
            // and reported, never the reason the others cannot be listed.
            let a = match logged(&body) {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(alert = %id, error = %e, "unreadable alert log entry skipped");
                    continue;
                }
            };
            out.push(a);
            if query.limit.is_some_and(|n| out.len() >= n) {
                break;
            }
        }
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<LoggedAlert>> {
        let conn = self.conn.lock().unwrap();
        let body: Option<String> = conn
            .query_row("SELECT body FROM alert_log WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err("read alert"))?;
        body.as_deref().map(logged).transpose()
    }

    async fn acknowledge(&self, id: &str, ack: &Acknowledgement) -> Result<bool> {
        iat_core::ports::alert_log::check_acknowledgement(ack)?;
        let mut conn = self.conn.lock().unwrap();
        let tx = conn.transaction().map_err(db_err("acknowledge alert"))?;
        let body: Option<String> = tx
            .query_row("SELECT body FROM alert_log WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db_err("acknowledge alert"))?;
        let Some(body) = body else {
            return Ok(false);
        };
        let mut a = logged(&body)?;
        a.ack = Some(ack.clone());
        let body = serde_json::to_string(&a)
            .map_err(|e| Error::backend(BACKEND, "acknowledge alert", e))?;
        tx.execute(
            "UPDATE alert_log SET body = ?2 WHERE id = ?1",
            params![id, body],
        )
        .map_err(db_err("acknowledge alert"))?;
        tx.commit().map_err(db_err("acknowledge alert"))?;
        Ok(true)
    }
}
