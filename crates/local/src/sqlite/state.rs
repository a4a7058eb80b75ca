//! Run state in the same file: checkpoints (compare-and-set by version), the alert ledger
//! (claims with expiry), and named marks such as where `iat alerts` stopped.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use iat_core::ports::{AlertKey, AlertLedger, Checkpoint, CheckpointStore, ClaimOutcome};
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
