//! The `ObjectStore` port on S3.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::get_object::GetObjectError;
use aws_sdk_s3::primitives::ByteStream;
use iat_core::Error;
use iat_core::ports::{ObjectKey, ObjectStore};

use crate::error::sdk_error;

const BACKEND: &str = "s3";

/// Objects in one bucket, below an optional key prefix.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: Client,
    bucket: String,
    /// Prepended to every key, with a trailing `/` (empty for the bucket root).
    prefix: String,
}

impl S3ObjectStore {
    /// A store in `bucket` below `prefix` (`""` for the whole bucket).
    pub fn new(client: Client, bucket: impl Into<String>, prefix: &str) -> Result<Self, Error> {
        let bucket = bucket.into();
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid {
            return Err(Error::invalid(
                "bucket name",
                bucket,
                "must be 3-63 of a-z, 0-9, '-' and '.'",
            ));
        }
        let prefix = prefix.trim_matches('/');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        Ok(Self {
            client,
            bucket,
            prefix,
        })
    }

    /// A client for S3 from an SDK configuration; `path_style` for emulators.
    pub fn client(config: &aws_config::SdkConfig, path_style: bool) -> Client {
        let conf = aws_sdk_s3::config::Builder::from(config)
            .force_path_style(path_style)
            .build();
        Client::from_conf(conf)
    }

    fn full(&self, key: &ObjectKey) -> String {
        format!("{}{}", self.prefix, key.as_str())
    }

    fn sdk_err<E>(&self, operation: &'static str, key: &str, err: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        sdk_error(
            BACKEND,
            operation,
            Some(format!("s3://{}/{key}", self.bucket)),
            err,
        )
    }

    fn err(&self, operation: &'static str, key: &str, detail: String) -> Error {
        Error::backend(
            BACKEND,
            operation,
            format!("s3://{}/{key}: {detail}", self.bucket),
        )
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(&self, key: &ObjectKey, body: Vec<u8>) -> Result<(), Error> {
        let full = self.full(key);
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(&full)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.sdk_err("put", &full, e))?;
        Ok(())
    }

    async fn get(&self, key: &ObjectKey) -> Result<Option<Vec<u8>>, Error> {
        let full = self.full(key);
        let resp = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None);
            }
            Err(e) => return Err(self.sdk_err("get", &full, e)),
        };
        let bytes = resp
            .body
            .collect()
            .await
            .map_err(|e| self.err("get", &full, e.to_string()))?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectKey>, Error> {
        let full = format!("{}{prefix}", self.prefix);
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(&full)
            .into_paginator()
            .send();
        let mut keys = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_err("list", &full, e))?;
            for object in page.contents() {
                let Some(k) = object.key() else { continue };
                let Some(rel) = k.strip_prefix(&self.prefix) else {
                    continue;
                };
                match ObjectKey::new(rel) {
                    Ok(key) => keys.push(key),
                    Err(e) => {
                        tracing::warn!(key = k, error = %e, "object skipped: not a valid key")
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), Error> {
        let full = self.full(key);
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.sdk_err("delete", &full, e))?;
        Ok(())
    }
}

/// The `ObjectSource` port on S3: other buckets' objects (an organisation trail's files),
/// streamed. A GET's body is pulled by a task on the runtime into a channel of a few chunks,
/// and read through a blocking reader, so memory stays a few chunks whatever the object's size.
#[derive(Debug, Clone)]
pub struct S3ObjectSource {
    client: Client,
}

/// Chunks of a body in flight between the runtime and the blocking reader.
const BODY_CHUNKS: usize = 4;

impl S3ObjectSource {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    fn sdk_err<E>(operation: &'static str, bucket: &str, key: &str, err: SdkError<E>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let denied = err
            .as_service_error()
            .and_then(|e| e.code())
            .is_some_and(|c| c.contains("AccessDenied") || c.starts_with("KMS."));
        let mut e = sdk_error(
            BACKEND,
            operation,
            Some(format!("s3://{bucket}/{key}")),
            err,
        );
        if denied && let Error::Backend { message, .. } = &mut e {
            message.push_str(
                "; the reading role needs s3:GetObject on the trail's keys in the bucket's policy and, for an SSE-KMS trail, kms:Decrypt in the trail key's policy (make trail-policy prints both)",
            );
        }
        e
    }
}

#[async_trait]
impl iat_core::ports::ObjectSource for S3ObjectSource {
    async fn open(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Box<dyn std::io::Read + Send>>, Error> {
        let resp = match self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if matches!(e.as_service_error(), Some(GetObjectError::NoSuchKey(_))) => {
                return Ok(None);
            }
            Err(e) => return Err(Self::sdk_err("get", bucket, key, e)),
        };
        let (tx, rx) = tokio::sync::mpsc::channel(BODY_CHUNKS);
        let mut body = resp.body;
        let name = format!("s3://{bucket}/{key}");
        tokio::spawn(async move {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| format!("{name}: body: {e}"));
                let last = chunk.is_err();
                if tx.send(chunk).await.is_err() || last {
                    break;
                }
            }
        });
        Ok(Some(Box::new(BodyReader {
            rx,
            current: bytes::Bytes::new(),
        })))
    }

    async fn list(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<iat_core::ports::ListedObject>, Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::sdk_err("list", bucket, prefix, e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push(iat_core::ports::ListedObject {
                        key: k.to_owned(),
                        size: o.size().unwrap_or(0).max(0) as u64,
                    });
                }
            }
        }
        out.sort();
        Ok(out)
    }

    async fn folders(&self, bucket: &str, prefix: &str) -> Result<Vec<String>, Error> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| Self::sdk_err("list", bucket, prefix, e))?;
            for p in page.common_prefixes() {
                if let Some(name) = p
                    .prefix()
                    .and_then(|p| p.strip_prefix(prefix))
                    .map(|p| p.trim_end_matches('/'))
                    .filter(|p| !p.is_empty())
                {
                    out.push(name.to_owned());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// A blocking reader over body chunks sent by the runtime.
struct BodyReader {
    rx: tokio::sync::mpsc::Receiver<Result<bytes::Bytes, String>>,
    current: bytes::Bytes,
}

impl std::io::Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = self.current.len().min(buf.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}
