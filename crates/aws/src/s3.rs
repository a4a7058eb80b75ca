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
