use std::future::Future;
use std::io::Read;

use crate::ports::{ListedObject, ObjectSource};

/// Runs every `ObjectSource` case on a source from `make`, which is handed the objects
/// (key, body) to put in a bucket of its own choosing, and returns the source and that bucket.
pub async fn object_source_suite<S, F, Fut>(make: F)
where
    S: ObjectSource,
    F: Fn(Vec<(String, Vec<u8>)>) -> Fut,
    Fut: Future<Output = (S, String)>,
{
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let objects = vec![
        (
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/b.json.gz".to_owned(),
            b"two".to_vec(),
        ),
        (
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/a.json.gz".to_owned(),
            big.clone(),
        ),
        (
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/12/01/c.json.gz".to_owned(),
            Vec::new(),
        ),
        (
            "AWSLogs/o-1/444455556666/CloudTrail/us-east-1/2026/11/30/d.json.gz".to_owned(),
            b"four".to_vec(),
        ),
    ];
    let (source, bucket) = make(objects).await;
    let bucket = bucket.as_str();
    for (prefix, want) in [
        ("", vec!["AWSLogs"]),
        ("AWSLogs/", vec!["o-1"]),
        ("AWSLogs/o-1/", vec!["111122223333", "444455556666"]),
        ("AWSLogs/o-1/111122223333/CloudTrail/", vec!["us-east-1"]),
        (
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/",
            vec!["11", "12"],
        ),
        (
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/",
            vec![],
        ),
        ("AWSLogs/o-2/", vec![]),
    ] {
        assert_eq!(
            source.folders(bucket, prefix).await.unwrap(),
            want,
            "object source: folders under {prefix:?}"
        );
    }
    let read = |r: Option<Box<dyn Read + Send>>| {
        let mut out = Vec::new();
        r.expect("present").read_to_end(&mut out).expect("readable");
        out
    };
    let opened = source
        .open(
            bucket,
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/a.json.gz",
        )
        .await
        .unwrap();
    // Blocking readers are read on a blocking thread, as the contract says.
    let body = tokio_blocking(move || read(opened)).await;
    assert!(body == big, "object source: a 3 MB object reads back whole");
    let empty = source
        .open(
            bucket,
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/12/01/c.json.gz",
        )
        .await
        .unwrap();
    assert_eq!(
        tokio_blocking(move || read(empty)).await,
        b"",
        "object source: empty object"
    );
    assert!(
        source
            .open(bucket, "AWSLogs/absent.json.gz")
            .await
            .unwrap()
            .is_none(),
        "object source: absent is None"
    );
    let day = source
        .list(
            bucket,
            "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/",
        )
        .await
        .unwrap();
    assert_eq!(
        day,
        vec![
            ListedObject {
                key: "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/a.json.gz".into(),
                size: big.len() as u64
            },
            ListedObject {
                key: "AWSLogs/o-1/111122223333/CloudTrail/us-east-1/2026/11/30/b.json.gz".into(),
                size: 3
            },
        ],
        "object source: a day's listing, sorted, with sizes"
    );
    assert_eq!(
        source.list(bucket, "AWSLogs/o-1/").await.unwrap().len(),
        4,
        "object source: a wide listing"
    );
    assert!(
        source.list(bucket, "nothing/").await.unwrap().is_empty(),
        "object source: empty listing"
    );
}

async fn tokio_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.expect("reader thread")
}
