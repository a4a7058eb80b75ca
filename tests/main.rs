//! End-to-end tests: the `iat` command run in-process as a user runs it, from a generated or real
//! CloudTrail source to stored events, alerts, the lake and its queries.

mod alerts;
mod collect;
mod console;
mod demo;
mod first_seen;
mod history;
mod ingest_s3;
mod lake;
mod scenarios;
mod trail_sql;
mod upgrade;
