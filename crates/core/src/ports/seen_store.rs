//! `SeenStore`: what has been seen before, for the "first seen" rules.
//!
//! One item per key (a principal, a principal's service, action or network, an account's
//! region, an action denied anywhere), holding when it was first seen, by which event, and when
//! it is forgotten. A write keeps the earliest first time: an older event arriving late moves
//! the first time back, a newer one never moves it forward. The event id in the item is how a
//! retried batch knows that a key it finds was written by itself (so its alert is still due)
//! and how two concurrent writers agree on who saw a key first.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

/// What a key is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeenKind {
    /// A principal itself: when it was first seen (its learning period starts there).
    Principal,
    /// An account itself (the learning period of its regions).
    Account,
    /// The whole store (the learning period of organisation-wide keys).
    Organisation,
    /// A principal's calls to a service (`iam.amazonaws.com`).
    Service,
    /// A principal's calls of one action (`iam:CreateUser`).
    Action,
    /// An account's activity in a region.
    Region,
    /// An action denied anywhere in the organisation.
    Denied,
    /// A principal's source network (an IPv4 /24 or an IPv6 /48).
    Network,
    /// A role of an account that was granted an admin policy (for `role_passed_to_service`).
    AdminRole,
}

impl SeenKind {
    pub const ALL: [SeenKind; 9] = [
        SeenKind::Principal,
        SeenKind::Account,
        SeenKind::Organisation,
        SeenKind::Service,
        SeenKind::Action,
        SeenKind::Region,
        SeenKind::Denied,
        SeenKind::Network,
        SeenKind::AdminRole,
    ];

    /// The name used in stored keys and output.
    pub fn as_str(self) -> &'static str {
        match self {
            SeenKind::Principal => "principal",
            SeenKind::Account => "account",
            SeenKind::Organisation => "organisation",
            SeenKind::Service => "service",
            SeenKind::Action => "action",
            SeenKind::Region => "region",
            SeenKind::Denied => "denied",
            SeenKind::Network => "network",
            SeenKind::AdminRole => "admin-role",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        SeenKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing that can be seen: `scope` is whose it is (a principal, an account, or `*` for the
/// organisation), `value` what (a service, an action, a region, a network; empty for the
/// scope itself).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeenKey {
    pub scope: String,
    pub kind: SeenKind,
    pub value: String,
}

impl SeenKey {
    pub fn new(scope: impl Into<String>, kind: SeenKind, value: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            kind,
            value: value.into(),
        }
    }

    /// The item's sort key within its scope: `kind#value`.
    pub fn item_key(&self) -> String {
        format!("{}#{}", self.kind.as_str(), self.value)
    }

    /// The key back from its scope and [`SeenKey::item_key`].
    pub fn from_item(scope: &str, item_key: &str) -> Option<Self> {
        let (kind, value) = item_key.split_once('#')?;
        Some(Self::new(scope, SeenKind::parse(kind)?, value))
    }
}

/// When a key was first seen, by which event, and when it is forgotten.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRecord {
    pub first: DateTime<Utc>,
    pub event_id: String,
    pub expires: DateTime<Utc>,
}

impl SeenRecord {
    /// Whether `self` replaces `old` as the stored record: an earlier first time, or the same
    /// first seeing (same time and event) with a later expiry (a refresh).
    pub fn supersedes(&self, old: &SeenRecord) -> bool {
        self.first < old.first
            || (self.first == old.first
                && self.event_id == old.event_id
                && self.expires > old.expires)
    }
}

/// The first-seen state.
#[async_trait]
pub trait SeenStore: Send + Sync {
    /// The records of those `keys` that are stored and not yet forgotten at `now`.
    async fn get(
        &self,
        keys: &[SeenKey],
        now: DateTime<Utc>,
    ) -> Result<HashMap<SeenKey, SeenRecord>>;
    /// Writes each record where its key is absent (or forgotten) or holds a record it
    /// [supersedes](SeenRecord::supersedes); returns, in order, the record stored afterwards
    /// (the caller's, or the one that was there and wins).
    async fn put(
        &self,
        records: &[(SeenKey, SeenRecord)],
        now: DateTime<Utc>,
    ) -> Result<Vec<SeenRecord>>;
    /// Every record of one scope, by kind and value.
    async fn scope(&self, scope: &str, now: DateTime<Utc>) -> Result<Vec<(SeenKey, SeenRecord)>>;
    /// How many records are stored (forgotten ones not yet deleted included).
    async fn count(&self) -> Result<u64>;
}

/// A [`SeenStore`] in memory.
#[derive(Debug, Default)]
pub struct MemorySeenStore {
    inner: Mutex<BTreeMap<SeenKey, SeenRecord>>,
}

impl MemorySeenStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl SeenStore for MemorySeenStore {
    async fn get(
        &self,
        keys: &[SeenKey],
        now: DateTime<Utc>,
    ) -> Result<HashMap<SeenKey, SeenRecord>> {
        let inner = self.inner.lock().unwrap();
        Ok(keys
            .iter()
            .filter_map(|k| {
                inner
                    .get(k)
                    .filter(|r| r.expires > now)
                    .map(|r| (k.clone(), r.clone()))
            })
            .collect())
    }

    async fn put(
        &self,
        records: &[(SeenKey, SeenRecord)],
        now: DateTime<Utc>,
    ) -> Result<Vec<SeenRecord>> {
        let mut inner = self.inner.lock().unwrap();
        Ok(records
            .iter()
            .map(|(k, r)| match inner.get(k) {
                Some(old) if old.expires > now && !r.supersedes(old) => old.clone(),
                _ => {
                    inner.insert(k.clone(), r.clone());
                    r.clone()
                }
            })
            .collect())
    }

    async fn scope(&self, scope: &str, now: DateTime<Utc>) -> Result<Vec<(SeenKey, SeenRecord)>> {
        let inner = self.inner.lock().unwrap();
        Ok(inner
            .iter()
            .filter(|(k, r)| k.scope == scope && r.expires > now)
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect())
    }

    async fn count(&self) -> Result<u64> {
        Ok(self.inner.lock().unwrap().len() as u64)
    }
}
