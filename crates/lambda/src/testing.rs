//! Test helpers (feature `testkit`): a Lambda Runtime API that hands a function binary one
//! invocation and reports what it posted back, so tests and benchmarks run the real binaries
//! the way Lambda does, without Docker.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use tokio::sync::mpsc;

/// What the function posted back for its invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(serde_json::Value),
    Error(serde_json::Value),
}

/// Serves `event` as the one invocation (deadline `deadline_in` from now), then never another.
pub async fn runtime_api(
    event: serde_json::Value,
    deadline_in: Duration,
) -> (SocketAddr, mpsc::UnboundedReceiver<Outcome>) {
    let (addr, invocations, outcomes) = runtime_api_queue(deadline_in).await;
    invocations.send(event).expect("the server is running");
    (addr, outcomes)
}

/// Serves each event sent on the returned sender as the next invocation, in order (deadline
/// `deadline_in` from when it is handed out), the way one warm execution environment receives
/// one invocation after another; once the sender is dropped, no more.
pub async fn runtime_api_queue(
    deadline_in: Duration,
) -> (
    SocketAddr,
    mpsc::UnboundedSender<serde_json::Value>,
    mpsc::UnboundedReceiver<Outcome>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("bound address");
    let (tx, rx) = mpsc::unbounded_channel();
    let (invoke, invocations) = mpsc::unbounded_channel::<serde_json::Value>();
    let invocations = Arc::new(tokio::sync::Mutex::new(invocations));
    let served = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (tx, served, invocations) = (tx.clone(), served.clone(), invocations.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (tx, served, invocations) =
                        (tx.clone(), served.clone(), invocations.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        if path.ends_with("/invocation/next") {
                            let next = invocations.lock().await.recv().await;
                            let Some(event) = next else {
                                std::future::pending::<()>().await;
                                unreachable!("pending never resolves");
                            };
                            let n = served.fetch_add(1, Ordering::Relaxed) + 1;
                            let deadline = chrono::Utc::now().timestamp_millis()
                                + deadline_in.as_millis() as i64;
                            return Ok::<_, Infallible>(
                                Response::builder()
                                    .header("lambda-runtime-aws-request-id", format!("req-{n}"))
                                    .header("lambda-runtime-deadline-ms", deadline.to_string())
                                    .header(
                                        "lambda-runtime-invoked-function-arn",
                                        "arn:aws:lambda:us-east-1:123456789012:function:test",
                                    )
                                    .body(Full::new(Bytes::from(event.to_string())))
                                    .expect("a valid response"),
                            );
                        }
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let value: serde_json::Value =
                            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
                        let _ = tx.send(if path.ends_with("/response") {
                            Outcome::Response(value)
                        } else {
                            Outcome::Error(value)
                        });
                        Ok(Response::builder()
                            .status(202)
                            .body(Full::new(Bytes::new()))
                            .expect("a valid response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, invoke, rx)
}

/// A function binary run the way Lambda runs it: an empty environment but for what Lambda sets
/// (pointed at `runtime_api`) and test credentials, with its output captured.
pub fn function_command(
    bin: &std::path::Path,
    runtime_api: SocketAddr,
    name: &str,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin);
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

/// Stops a function binary and returns what it printed (its JSON logs).
pub fn stop(mut child: std::process::Child) -> String {
    let _ = child.kill();
    match child.wait_with_output() {
        Ok(out) => format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => format!("(no output: {e})"),
    }
}

/// The peak resident set (`VmHWM`) of a running process, in KiB; `None` where `/proc` cannot
/// tell (another OS, or the process is gone).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
}
