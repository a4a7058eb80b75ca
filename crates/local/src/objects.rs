//! The `ObjectStore` port on a local directory: the local stand-in for the S3 lake bucket.
//!
//! Keys map to paths below the root. Writes go to a temporary file that is renamed into place,
//! so a reader never sees half an object and a crash leaves no partial file under its key.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use iat_core::Error;
use iat_core::ports::{ObjectKey, ObjectStore};

const BACKEND: &str = "directory";
const TMP_MARK: &str = ".iat-tmp-";

/// Objects as files below a root directory.
#[derive(Debug)]
pub struct DirObjectStore {
    root: PathBuf,
    counter: AtomicU64,
}

impl DirObjectStore {
    /// A store rooted at `root`, created if missing.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self, Error> {
        let root = root.into();
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::backend(BACKEND, "open", format!("{}: {e}", root.display())))?;
        Ok(Self {
            root,
            counter: AtomicU64::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &ObjectKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |p, seg| p.join(seg))
    }
}

fn io_err<'p>(operation: &'static str, path: &'p Path) -> impl Fn(std::io::Error) -> Error + 'p {
    move |e| Error::backend(BACKEND, operation, format!("{}: {e}", path.display()))
}

#[async_trait]
impl ObjectStore for DirObjectStore {
    async fn put(&self, key: &ObjectKey, body: Vec<u8>) -> Result<(), Error> {
        let path = self.path(key);
        let parent = path.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(io_err("put", parent))?;
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("object");
        let tmp = parent.join(format!("{name}{TMP_MARK}{}-{n}", std::process::id()));
        std::fs::write(&tmp, &body).map_err(io_err("put", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("put", &path))
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path(key);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("get", &path)(e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, Error> {
        let mut keys = Vec::new();
        for entry in walkdir::WalkDir::new(&self.root).min_depth(1) {
            let entry = entry.map_err(|e| Error::backend(BACKEND, "list", e))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(&self.root) else {
                continue;
            };
            let key: Vec<&str> = rel.iter().filter_map(|s| s.to_str()).collect();
            let key = key.join("/");
            if key.contains(TMP_MARK) || !key.starts_with(prefix) {
                continue;
            }
            if let Ok(k) = ObjectKey::new(key) {
                keys.push(k);
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), Error> {
        let path = self.path(key);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err("delete", &path)(e)),
        }
    }
}
