//! The `Notifier` port for local runs: a terminal, a JSON Lines file, or a webhook.
//!
//! - [`WriterNotifier`] prints each alert's subject and body (the demo and `iat alerts`);
//! - [`JsonlNotifier`] appends one JSON object per alert to a file, for scripts and tests;
//! - [`WebhookNotifier`] POSTs JSON to an HTTP(S) URL: `text` (subject and body, which Slack and
//!   Teams incoming webhooks show as is) plus `subject`, `body`, `severity` and `attributes`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use iat_core::Error;
use iat_core::ports::{Notification, Notifier};
use serde_json::json;

/// Prints notifications to a writer (stdout in the CLI).
pub struct WriterNotifier<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> std::fmt::Debug for WriterNotifier<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WriterNotifier")
    }
}

impl<W: Write + Send> WriterNotifier<W> {
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl<W: Write + Send> Notifier for WriterNotifier<W> {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        let rule = "─".repeat(78);
        writeln!(
            out,
            "{rule}\n{}\n{rule}\n{}",
            n.subject.as_str(),
            n.body.trim_end()
        )
        .and_then(|_| out.flush())
        .map_err(|e| Error::backend("stdout", "write alert", e))
    }
}

fn as_json(n: &Notification) -> serde_json::Value {
    json!({
        "subject": n.subject,
        "severity": n.severity,
        "attributes": n.attributes,
        "body": n.body,
    })
}

/// Appends notifications to a JSON Lines file.
#[derive(Debug)]
pub struct JsonlNotifier {
    path: PathBuf,
    lock: Mutex<()>,
}

impl JsonlNotifier {
    /// Appends to `path`, creating it and its directory.
    pub fn new(path: &Path) -> Result<Self, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::backend(
                    "jsonl",
                    "create directory",
                    format!("{}: {e}", dir.display()),
                )
            })?;
        }
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| Error::backend("jsonl", "open", format!("{}: {e}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            lock: Mutex::new(()),
        })
    }

    /// Reads a file written by this notifier.
    pub fn read(path: &Path) -> Result<Vec<Notification>, Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::backend("jsonl", "read", format!("{}: {e}", path.display())))?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                let v: serde_json::Value =
                    serde_json::from_str(l).map_err(|e| Error::backend("jsonl", "parse", e))?;
                let severity = v["severity"].as_str().unwrap_or("low").parse()?;
                let mut n = Notification::new(
                    v["subject"].as_str().unwrap_or_default(),
                    v["body"].as_str().unwrap_or_default(),
                    severity,
                )?;
                if let Some(attrs) = v["attributes"].as_object() {
                    for (k, val) in attrs {
                        n = n.with_attribute(k, val.as_str().unwrap_or_default());
                    }
                }
                Ok(n)
            })
            .collect()
    }
}

#[async_trait]
impl Notifier for JsonlNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut line = as_json(n).to_string();
        line.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| {
                Error::backend("jsonl", "open", format!("{}: {e}", self.path.display()))
            })?;
        // One write per line, so concurrent readers never see half a record.
        f.write_all(line.as_bytes())
            .map_err(|e| Error::backend("jsonl", "append", format!("{}: {e}", self.path.display())))
    }
}

/// POSTs notifications as JSON to a URL.
pub struct WebhookNotifier {
    url: hyper::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL of a webhook is its secret: print only where it goes.
        f.debug_struct("WebhookNotifier")
            .field("host", &self.url.host())
            .finish()
    }
}

impl WebhookNotifier {
    /// A webhook at an `http://` or `https://` URL (system root certificates).
    pub fn new(url: &str) -> Result<Self, Error> {
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| Error::invalid("webhook URL", redact(url), format!("{e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err(Error::invalid(
                "webhook URL",
                redact(url),
                "expected http:// or https:// and a host",
            ));
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| Error::backend("webhook", "load root certificates", e))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self {
            url: uri,
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout: Duration::from_secs(10),
        })
    }
}

/// `https://hooks.example.com/...` — the path of a webhook URL is usually its secret.
fn redact(url: &str) -> String {
    match url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| i + 3 + j))
    {
        Some(end) => format!("{}/...", &url[..end]),
        None => url.to_owned(),
    }
}

#[async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, n: &Notification) -> Result<(), Error> {
        let mut payload = as_json(n);
        payload["text"] = json!(format!("{}\n\n{}", n.subject.as_str(), n.body));
        let req = hyper::Request::post(self.url.clone())
            .header("content-type", "application/json")
            .header(
                "user-agent",
                concat!("iam-activity-tracker/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(payload.to_string())))
            .map_err(|e| Error::backend("webhook", "build request", e))?;
        let host = self.url.host().unwrap_or_default().to_owned();
        let unavailable =
            |message: String, source: Option<iat_core::BoxError>| Error::Unavailable {
                service: "webhook",
                operation: "POST",
                resource: Some(host.as_str().into()),
                message,
                source,
            };
        let resp = tokio::time::timeout(self.timeout, self.client.request(req))
            .await
            .map_err(|_| unavailable("timed out".to_owned(), None))?
            .map_err(|e| unavailable(e.to_string(), Some(Box::new(e))))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let detail = String::from_utf8_lossy(&body)
            .chars()
            .take(200)
            .collect::<String>();
        if status.is_server_error() || status.as_u16() == 429 {
            Err(unavailable(format!("answered {status}: {detail}"), None))
        } else {
            Err(Error::backend(
                "webhook",
                "POST",
                format!("{host} answered {status}: {detail}"),
            ))
        }
    }
}
