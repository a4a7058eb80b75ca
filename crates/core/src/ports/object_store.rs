//! `ObjectStore`: S3-like keyed blobs, for the Parquet lake.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::error::{Error, Result};

/// An object key: `/`-separated, relative, no empty, `.` or `..` segments.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates a key.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 1024
            && s.split('/')
                .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
            && !s.chars().any(|c| c.is_control() || c == '\\');
        if !ok {
            return Err(Error::invalid(
                "object key",
                s,
                "must be relative '/'-separated segments, none empty, '.' or '..'",
            ));
        }
        Ok(Self(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Stores blobs by key.
#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// Writes an object, replacing any object with that key.
    async fn put(&self, key: &ObjectKey, body: Vec<u8>) -> Result<()>;
    /// Reads an object; `None` when absent.
    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>>;
    /// Keys starting with `prefix` (a plain string prefix, as in S3), sorted.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>>;
    /// Deletes an object; deleting an absent key succeeds.
    async fn delete(&self, key: &ObjectKey) -> Result<()>;
}

/// An [`ObjectStore`] in memory.
#[derive(Debug, Default)]
pub struct MemoryObjectStore {
    inner: Mutex<BTreeMap<ObjectKey, Vec<u8>>>,
}

impl MemoryObjectStore {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl ObjectStore for MemoryObjectStore {
    async fn put(&self, key: &ObjectKey, body: Vec<u8>) -> Result<()> {
        self.inner.lock().unwrap().insert(key.clone(), body);
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.lock().unwrap().get(key).cloned())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>> {
        Ok(self
            .inner
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.as_str().starts_with(prefix))
            .cloned()
            .collect())
    }

    async fn delete(&self, key: &ObjectKey) -> Result<()> {
        self.inner.lock().unwrap().remove(key);
        Ok(())
    }
}
