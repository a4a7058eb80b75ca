use std::future::Future;

use chrono::{Duration, TimeZone, Utc};

use super::records::RecordSpec;
use crate::error::Error;
use crate::model::{AccountId, Region};
use crate::normalize::{RecordLimits, normalize};
use crate::ports::{EventSource, LookupQuery};
use crate::time::TimeWindow;

/// Runs the `EventSource` cases. `make` receives records (JSON text) and returns a source that
/// serves them, as Event history would once they are visible.
pub async fn event_source_suite<S, F, Fut>(make: F)
where
    S: EventSource,
    F: Fn(Vec<String>) -> Fut,
    Fut: Future<Output = S>,
{
    let t0 = Utc.with_ymd_and_hms(2026, 4, 1, 0, 0, 0).unwrap();
    let account = "111122223333";
    let mut records: Vec<String> = (0..120)
        .map(|i| {
            RecordSpec::new(&format!("src-{i:03}"), t0 + Duration::minutes(i))
                .place(account, "us-east-1")
                .json()
        })
        .collect();
    records.push(
        RecordSpec::new("sts-1", t0)
            .name("sts.amazonaws.com", "AssumeRole")
            .place(account, "us-east-1")
            .json(),
    );
    records.push(
        RecordSpec::new("other-region", t0)
            .place(account, "eu-west-1")
            .json(),
    );
    let source = make(records).await;

    let window = TimeWindow::new(t0 + Duration::minutes(10), t0 + Duration::minutes(109)).unwrap();
    let query = LookupQuery::new(
        AccountId::new(account).unwrap(),
        Region::new("us-east-1").unwrap(),
        Some("iam.amazonaws.com".into()),
        window,
    );
    let mut times = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = source.lookup(&query, token.as_ref()).await.unwrap();
        assert!(
            page.records.len() <= 50,
            "source: at most 50 records a page"
        );
        for r in page.records {
            let e = normalize(r, &RecordLimits::default()).unwrap().event;
            assert_eq!(
                e.source, "iam.amazonaws.com",
                "source: only the asked event source"
            );
            assert_eq!(
                e.region.as_str(),
                "us-east-1",
                "source: only the asked region"
            );
            times.push(e.time);
        }
        pages += 1;
        match page.next {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    assert_eq!(pages, 2, "source: 100 records come in two pages of 50");
    assert_eq!(
        times.len(),
        100,
        "source: both ends of the window are inclusive"
    );
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "source: newest first"
    );
    assert_eq!(times.first(), Some(&(t0 + Duration::minutes(109))));
    assert_eq!(times.last(), Some(&(t0 + Duration::minutes(10))));

    let first = source.lookup(&query, None).await.unwrap();
    let token = first
        .next
        .expect("source: a first page of a long window has a token");
    let moved = LookupQuery::new(
        AccountId::new(account).unwrap(),
        Region::new("us-east-1").unwrap(),
        Some("iam.amazonaws.com".into()),
        TimeWindow::new(t0 + Duration::minutes(11), t0 + Duration::minutes(109)).unwrap(),
    );
    assert!(
        matches!(
            source.lookup(&moved, Some(&token)).await,
            Err(Error::InvalidPageToken)
        ),
        "source: a token is valid only with the query that produced it"
    );
    let small = query.clone().with_max_results(7).unwrap();
    assert_eq!(
        source.lookup(&small, None).await.unwrap().records.len(),
        7,
        "source: MaxResults is honoured"
    );
}
