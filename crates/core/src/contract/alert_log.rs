use std::future::Future;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::TimeWindow;
use crate::model::Severity;
use crate::ports::{Acknowledgement, AlertLog, AlertLogQuery, LoggedAlert, LoggedEvent};

fn at(h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap()
}

fn event(id: &str, time: DateTime<Utc>, account: &str) -> LoggedEvent {
    LoggedEvent {
        event_id: id.to_owned(),
        time,
        source: "iam.amazonaws.com".into(),
        name: "CreateUser".into(),
        actor: "Admin/mallory".into(),
        principal_type: "AssumedRole".into(),
        principal_arn: Some(format!("arn:aws:sts::{account}:assumed-role/Admin/mallory")),
        source_ip: "198.51.100.7".into(),
        account: Some(account.to_owned()),
        region: "us-east-1".into(),
        error_code: None,
    }
}

fn alert(rule: &str, severity: Severity, events: Vec<LoggedEvent>) -> LoggedAlert {
    LoggedAlert {
        id: format!("{rule}:{}", events[0].event_id),
        rule_id: rule.to_owned(),
        title: format!("title of {rule}"),
        severity,
        summary: "user ci-bot created".into(),
        details: vec![
            ("user".into(), "ci-bot".into()),
            ("policy".into(), "{\"Statement\":[]}".into()),
        ],
        sent_at: events.last().unwrap().time + Duration::minutes(6),
        events,
        more: 0,
        in_digest: false,
        ack: None,
    }
}

/// Runs every `AlertLog` case, each on a fresh log from `make`.
pub async fn alert_log_suite<S, F, Fut>(make: F)
where
    S: AlertLog,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    let a = alert(
        "iam_user_created",
        Severity::Medium,
        vec![event("e-1", at(9, 0), "111122223333")],
    );
    let b = alert(
        "root_console_login",
        Severity::Critical,
        vec![event("e-2", at(10, 0), "444455556666")],
    );
    // A record may carry a region or account as written, not of the usual shape (kept, flagged
    // by the normaliser): the log keeps it as sent and reads it back.
    let mut odd = event("e-4", at(12, 30), "111122223333");
    odd.region = "region-A".into();
    odd.account = Some("ANONYMOUS_PRINCIPAL".into());
    let c = LoggedAlert {
        in_digest: true,
        ..alert(
            "access_denied",
            Severity::Low,
            vec![event("e-3", at(11, 0), "111122223333"), odd],
        )
    };

    // What is recorded reads back exactly, newest last event first.
    let log = make().await;
    log.record(&[a.clone(), b.clone(), c.clone()])
        .await
        .unwrap();
    let all = log.list(&AlertLogQuery::default()).await.unwrap();
    assert_eq!(
        all,
        vec![c.clone(), b.clone(), a.clone()],
        "list order and round trip"
    );
    assert_eq!(log.get(&b.id).await.unwrap(), Some(b.clone()), "get");
    assert_eq!(log.get("nope:e-9").await.unwrap(), None, "get unknown");

    // The window and the limit.
    let ids = |v: Vec<LoggedAlert>| v.into_iter().map(|a| a.id).collect::<Vec<_>>();
    let window = TimeWindow::new(at(9, 30), at(12, 0)).unwrap();
    assert_eq!(
        ids(log
            .list(&AlertLogQuery {
                window: Some(window),
                ..Default::default()
            })
            .await
            .unwrap()),
        [b.id.as_str()],
        "window on the last event: c ends after it, a before"
    );
    assert_eq!(
        ids(log
            .list(&AlertLogQuery {
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap()),
        [c.id.as_str(), b.id.as_str()],
        "limit"
    );

    // Acknowledging: unknown ids, a name required, the latest kept, kept across a re-record.
    let ack = Acknowledgement {
        by: "ana.lima@example.com".into(),
        at: at(13, 0),
        note: "planned break-glass".into(),
    };
    assert!(
        !log.acknowledge("nope:e-9", &ack).await.unwrap(),
        "unknown id"
    );
    let nobody = Acknowledgement {
        by: "  ".into(),
        ..ack.clone()
    };
    assert!(
        log.acknowledge(&b.id, &nobody).await.is_err(),
        "a name is required"
    );
    assert!(log.acknowledge(&b.id, &ack).await.unwrap());
    let later = Acknowledgement {
        at: at(14, 0),
        note: "confirmed with the account owner".into(),
        ..ack.clone()
    };
    assert!(log.acknowledge(&b.id, &later).await.unwrap());
    assert_eq!(
        log.get(&b.id).await.unwrap().unwrap().ack,
        Some(later.clone()),
        "latest ack"
    );
    let resent = LoggedAlert {
        summary: "logged again".into(),
        ..b.clone()
    };
    log.record(std::slice::from_ref(&resent)).await.unwrap();
    let got = log.get(&b.id).await.unwrap().unwrap();
    assert_eq!(
        got.summary, "logged again",
        "a re-record replaces the alert"
    );
    assert_eq!(got.ack, Some(later), "and keeps its acknowledgement");
    // A fresh log holds nothing.
    let empty = make().await;
    assert!(
        empty
            .list(&AlertLogQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}
