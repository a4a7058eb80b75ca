//! `ObjectSource`: objects in buckets this product reads but does not own (an organisation
//! trail's files), read as streams so a file of any size fits in a small memory.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use crate::error::Result;

/// One object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ListedObject {
    pub key: String,
    pub size: u64,
}

/// Reads objects of other buckets.
#[async_trait]
pub trait ObjectSource: Send + Sync {
    /// Opens an object for reading; `None` when it does not exist. The reader blocks: read it
    /// on a blocking thread (`tokio::task::spawn_blocking`), never on the async runtime.
    async fn open(&self, bucket: &str, key: &str) -> Result<Option<Box<dyn Read + Send>>>;
    /// The objects whose keys start with `prefix`, sorted by key.
    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ListedObject>>;
    /// The names of the folders directly under `prefix` (a prefix ending in `/`, or `""`), sorted:
    /// for `AWSLogs/o-1/`, the account ids. One listing with a delimiter, not the objects below.
    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>>;
}

/// Objects by (bucket, key).
type Objects = BTreeMap<(String, String), Arc<Vec<u8>>>;

/// An [`ObjectSource`] in memory.
#[derive(Debug, Default, Clone)]
pub struct MemoryObjectSource {
    objects: Arc<Mutex<Objects>>,
}

impl MemoryObjectSource {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an object.
    pub fn insert(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.objects
            .lock()
            .unwrap()
            .insert((bucket.to_owned(), key.to_owned()), Arc::new(body));
    }
}

/// A reader over shared bytes.
struct SharedReader {
    bytes: Arc<Vec<u8>>,
    at: usize,
}

impl Read for SharedReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.bytes[self.at..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

#[async_trait]
impl ObjectSource for MemoryObjectSource {
    async fn open(&self, bucket: &str, key: &str) -> Result<Option<Box<dyn Read + Send>>> {
        let found = self
            .objects
            .lock()
            .unwrap()
            .get(&(bucket.to_owned(), key.to_owned()))
            .cloned();
        Ok(found.map(|bytes| Box::new(SharedReader { bytes, at: 0 }) as Box<dyn Read + Send>))
    }

    async fn list(&self, bucket: &str, prefix: &str) -> Result<Vec<ListedObject>> {
        Ok(self
            .objects
            .lock()
            .unwrap()
            .iter()
            .filter(|((b, k), _)| b == bucket && k.starts_with(prefix))
            .map(|((_, k), v)| ListedObject {
                key: k.clone(),
                size: v.len() as u64,
            })
            .collect())
    }

    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .objects
            .lock()
            .unwrap()
            .keys()
            .filter(|(b, k)| b == bucket && k.starts_with(prefix))
            .filter_map(|(_, k)| k[prefix.len()..].split_once('/').map(|(f, _)| f.to_owned()))
            .collect();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_source_passes_the_contract() {
        crate::contract::object_source_suite(|objects| async move {
            let s = MemoryObjectSource::new();
            for (k, v) in objects {
                s.insert("trail", &k, v);
            }
            // Another bucket's objects are not listed.
            s.insert("other", "AWSLogs/o-1/x.json.gz", b"x".to_vec());
            (s, "trail".to_owned())
        })
        .await;
    }
}
