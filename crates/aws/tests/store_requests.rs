//! The events table's requests in flight are bounded across every caller of one store: many
//! page chains storing at once must not open a connection each.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use iat_aws::{DynamoEventStore, MAX_STORE_REQUESTS_IN_FLIGHT};
use iat_core::contract::records::RecordSpec;
use iat_core::ports::EventStore;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A DynamoDB endpoint that answers every request after `delay`, finding nothing stored and
/// storing every put, and counts the requests it holds at once.
struct Endpoint {
    open: AtomicUsize,
    most_open: AtomicUsize,
    delay: Duration,
}

impl Endpoint {
    async fn serve(self: Arc<Self>) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let me = Arc::clone(&self);
                tokio::spawn(async move { me.connection(socket).await });
            }
        });
        addr
    }

    async fn connection(&self, socket: tokio::net::TcpStream) {
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        loop {
            let (mut length, mut target) = (0usize, String::new());
            let mut line = String::new();
            loop {
                line.clear();
                if read.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                if let Some(v) = l.strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
                if let Some(v) = l.strip_prefix("x-amz-target:") {
                    target = v.trim().to_owned();
                }
            }
            let mut body = vec![0; length];
            read.read_exact(&mut body).await.unwrap();
            let now = self.open.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_open.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.open.fetch_sub(1, Ordering::SeqCst);
            let answer = if target.ends_with("batchgetitem") {
                r#"{"Responses":{"events":[]},"UnprocessedKeys":{}}"#
            } else {
                "{}"
            };
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if write.write_all(response.as_bytes()).await.is_err() {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_puts_at_once_share_a_bounded_number_of_requests() {
    let endpoint = Arc::new(Endpoint {
        open: AtomicUsize::new(0),
        most_open: AtomicUsize::new(0),
        delay: Duration::from_millis(40),
    });
    let addr = Arc::clone(&endpoint).serve().await;
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .build();
    let store = Arc::new(DynamoEventStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        "events",
    ));
    // 40 pages of 50 events stored at once, as 40 page chains would: each `put` alone would
    // keep 16 conditional puts in flight, 640 in all.
    let day = chrono::DateTime::parse_from_rfc3339("2026-03-03T10:00:00Z")
        .unwrap()
        .to_utc();
    let puts = (0..40).map(|page| {
        let store = Arc::clone(&store);
        let events: Vec<_> = (0..50)
            .map(|i| {
                RecordSpec::new(
                    &format!("page-{page}-{i}"),
                    day + chrono::Duration::seconds(page * 50 + i),
                )
                .event()
            })
            .collect();
        tokio::spawn(async move { store.put(&events).await })
    });
    let mut inserted = 0;
    for put in puts.collect::<Vec<_>>() {
        inserted += put.await.unwrap().unwrap().inserted;
    }
    assert_eq!(inserted, 40 * 50);
    let most = endpoint.most_open.load(Ordering::SeqCst);
    assert!(
        most <= MAX_STORE_REQUESTS_IN_FLIGHT,
        "{most} requests in flight at once, above {MAX_STORE_REQUESTS_IN_FLIGHT}"
    );
    // The load reached the bound, so a store without it would have shown more.
    assert!(
        most > MAX_STORE_REQUESTS_IN_FLIGHT / 2,
        "only {most} requests at once: the test no longer loads the store"
    );
}
