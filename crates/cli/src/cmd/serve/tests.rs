//! Every route over HTTP, in process: pages, the click path from an alert to the actor's
//! timeline, paging, bad parameters and the token. Events are the rule fixtures (records shaped
//! as CloudTrail writes them) plus a run of denied calls to page through.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, TimeZone, Utc};
use http_body_util::BodyExt;
use iat_core::ports::{
    AlertLog, AlertLogQuery, EventStore, MemoryAlertLedger, MemoryAlertLog, MemoryCheckpointStore,
    MemoryEventStore, MemoryNotifier,
};
use iat_core::rules::RuleSet;
use iat_core::{ActivityEvent, RecordLimits};
use tower::ServiceExt;

use super::{Console, LakeAlerts, router};

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 10, 0, 0, 0).unwrap()
}

fn normalize(record: &serde_json::Value) -> ActivityEvent {
    iat_core::normalize(record.to_string(), &RecordLimits::default())
        .unwrap()
        .event
}

/// The records of every firing fixture, and 120 denied `s3:ListBuckets` calls by one role on
/// 2026-03-08, one a minute.
fn events() -> Vec<ActivityEvent> {
    let mut out = iat_core::contract::records::firing_fixture_events();
    for i in 0..120 {
        let time =
            Utc.with_ymd_and_hms(2026, 3, 8, 10, 0, 0).unwrap() + chrono::Duration::minutes(i);
        out.push(denied_list_buckets(i, time));
    }
    out
}

/// The `i`th denied `s3:ListBuckets` call by the Builder role, at `time`.
fn denied_list_buckets(i: i64, time: DateTime<Utc>) -> ActivityEvent {
    normalize(&serde_json::json!({
    "eventVersion": "1.09",
    "userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLEPAGING:build",
        "arn": "arn:aws:sts::444455556666:assumed-role/Builder/build",
        "accountId": "444455556666",
        "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEPAGING",
            "arn": "arn:aws:iam::444455556666:role/Builder", "accountId": "444455556666", "userName": "Builder"}}
    },
    "eventTime": time.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    "eventSource": "s3.amazonaws.com",
    "eventName": "ListBuckets",
    "awsRegion": "eu-west-1",
    "sourceIPAddress": "198.51.100.7",
    "userAgent": "aws-cli/2.15.0",
    "errorCode": "AccessDenied",
    "errorMessage": "User: arn:aws:sts::444455556666:assumed-role/Builder/build is not authorized to perform: s3:ListAllMyBuckets with an explicit deny in a service control policy",
    "requestParameters": null,
    "responseElements": null,
    "requestID": format!("REQ{i:05}"),
    "eventID": format!("00000000-0000-4000-8000-{i:012}"),
    "readOnly": true,
    "eventType": "AwsApiCall",
    "managementEvent": true,
    "recipientAccountId": "444455556666",
    "eventCategory": "Management"
    }))
}

async fn console(token: Option<&str>) -> Arc<Console> {
    console_with(token, None).await
}

async fn console_with(token: Option<&str>, log: Option<Arc<MemoryAlertLog>>) -> Arc<Console> {
    let store = MemoryEventStore::new();
    let all = events();
    let outcome = store.put(&all).await.unwrap();
    assert!(outcome.inserted > 150, "fixtures stored: {outcome:?}");
    Arc::new(Console {
        events: Arc::new(store),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        log: log.map(|l| l as Arc<dyn iat_core::ports::AlertLog>),
        rules: RuleSet::default_rules(),
        lake_alerts: None,
        store: "memory".into(),
        token: token.map(str::to_owned),
        behind_after: chrono::Duration::hours(2),
        now,
    })
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get(c: &Arc<Console>, uri: &str) -> Answer {
    send(c, Request::get(uri).body(Body::empty()).unwrap()).await
}

async fn send(c: &Arc<Console>, request: Request<Body>) -> Answer {
    let response = router(c.clone()).oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// The `href`s of links whose target starts with `prefix`, unescaped.
fn links(body: &str, prefix: &str) -> Vec<String> {
    body.split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with(prefix))
        .map(|h| h.replace("&amp;", "&"))
        .collect()
}

/// The first table's rows: each alert's severity, summary and links.
fn rows(body: &str) -> &str {
    let start = body.find("<tbody>").expect("a table");
    let end = start + body[start..].find("</tbody>").expect("a table's end");
    &body[start..end]
}

const WIDE: &str = "since=2000-01-01&until=2030-01-01";

#[tokio::test]
async fn every_page_answers_with_html_and_no_script() {
    let c = console(None).await;
    for uri in [
        format!("/alerts?{WIDE}"),
        "/alerts".to_owned(),
        format!("/events?{WIDE}"),
        "/events".to_owned(),
        format!("/denied?{WIDE}"),
        "/denied".to_owned(),
        "/rules".to_owned(),
        "/status".to_owned(),
        format!("/timeline?actor=root&{WIDE}"),
    ] {
        let a = get(&c, &uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.body);
        assert!(a.body.starts_with("<!DOCTYPE html>"), "{uri}");
        assert!(!a.body.contains("<script"), "{uri} carries a script");
        assert!(
            !a.body.contains("http://") || uri == "/rules",
            "{uri} links outside"
        );
        let csp = a.headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none'"), "{uri}: {csp}");
        assert_eq!(a.headers[header::REFERRER_POLICY], "same-origin", "{uri}");
    }
    let home = get(&c, "/").await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    assert_eq!(home.headers[header::LOCATION], "/alerts");
    assert_eq!(get(&c, "/nope").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn alerts_lead_to_the_alert_and_the_actors_timeline() {
    let c = console(None).await;
    let list = get(&c, &format!("/alerts?{WIDE}")).await;
    assert!(
        list.body.contains("Root user activity") || list.body.contains("root"),
        "{}",
        list.body
    );
    // The alerts of the window are those the rules raise, as `iat alerts` would send them.
    let events = events();
    let expected = iat_core::alert::Alert::merge(iat_core::alert::Alert::from_hits(
        RuleSet::default_rules().evaluate_all(&events),
    ));
    assert!(expected.len() > 10);
    let alert_links = links(&list.body, "/alert?");
    assert_eq!(alert_links.len(), expected.len(), "one link per alert");
    let root = alert_links
        .iter()
        .find(|l| l.contains("rule=root_activity"))
        .expect("a root activity alert");
    let page = get(&c, root).await;
    assert_eq!(page.status, StatusCode::OK, "{root}: {}", page.body);
    assert!(page.body.contains("Why it matters") && page.body.contains("What to check"));
    let timeline = links(&page.body, "/timeline?")[0].clone();
    let t = get(&c, &timeline).await;
    assert_eq!(t.status, StatusCode::OK, "{timeline}");
    assert!(t.body.contains("Timeline of arn:aws:iam::"), "{}", t.body);
    assert!(t.body.contains("<svg"), "the timeline has its chart");
    // Each event opens as its raw record.
    let event = links(&page.body, "/event?")[0].clone();
    let e = get(&c, &event).await;
    assert_eq!(e.status, StatusCode::OK, "{event}");
    assert!(e.body.contains("&quot;eventID&quot;"), "{}", e.body);
    // Filters narrow the list: only critical alerts, only one rule.
    let critical = get(&c, &format!("/alerts?{WIDE}&severity=critical")).await;
    let n = links(&critical.body, "/alert?").len();
    assert!(n > 0 && n < alert_links.len());
    let one = get(&c, &format!("/alerts?{WIDE}&rule=access_denied")).await;
    assert!(
        links(&one.body, "/alert?")
            .iter()
            .all(|l| l.contains("rule=access_denied"))
    );
}

#[tokio::test]
async fn event_search_pages_without_overlap_or_gap() {
    let c = console(None).await;
    let mut uri = "/events?source=s3&denied=1&actor=Builder/build".to_owned();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let a = get(&c, &uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}: {}", a.body);
        seen.extend(links(&a.body, "/event?"));
        match links(&a.body, "/events?")
            .into_iter()
            .find(|l| l.contains("after="))
        {
            Some(next) => uri = next,
            None => break,
        }
    }
    assert_eq!(seen.len(), 120);
    let unique: std::collections::HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 120);
}

#[tokio::test]
async fn denied_calls_by_layer_with_what_is_new() {
    let c = console(None).await;
    let a = get(&c, "/denied?since=2026-03-08&until=2026-03-08T23:59:59Z").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("120 denied calls"), "{}", a.body);
    assert!(a.body.contains("ListBuckets") && a.body.contains("service control policy"));
    assert!(
        a.body.contains("class=\"new\""),
        "nothing was denied the day before"
    );
}

#[tokio::test]
async fn bad_parameters_are_refused_with_the_reason() {
    let c = console(None).await;
    for (uri, reason) in [
        ("/alerts?severity=huge", "use low, medium, high or critical"),
        ("/alerts?rule=no_such_rule", "no such rule"),
        ("/events?since=yesterday-ish", "--since"),
        (
            "/events?since=2026-03-09&until=2026-03-01",
            "--since is after --until",
        ),
        ("/events?after=garbage", "not a page cursor"),
        ("/events?denial_layer=firewall", "unknown --denial-layer"),
        ("/events?source_ip=10.0.0.0/99", "network"),
        ("/events?account=12", "account"),
        ("/events?denied=maybe", "use 1 or 0"),
        ("/events?colour=red", "unknown field"),
        ("/timeline", "actor is required"),
        ("/alert?rule=root_activity", "event is required"),
        ("/event?event=abc", "event and time are required"),
        ("/event?event=abc&time=noon", "time="),
    ] {
        let a = get(&c, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}: {}", a.body);
        assert!(a.body.contains(reason), "{uri}: {}", a.body);
    }
    let missing = get(&c, "/event?event=abc&time=2026-03-08T10:00:00Z").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_guards_every_route() {
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";
    let c = console(Some(TOKEN)).await;
    for uri in ["/alerts", "/events", "/rules", "/status", "/nope", "/"] {
        let a = get(&c, uri).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{uri}");
        assert!(!a.body.contains("Builder"), "{uri} leaks data");
    }
    assert_eq!(
        get(&c, "/rules?token=wrong").await.status,
        StatusCode::UNAUTHORIZED
    );
    let bearer = send(
        &c,
        Request::get("/rules")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK);
    let first = get(&c, &format!("/rules?token={TOKEN}")).await;
    assert_eq!(first.status, StatusCode::OK);
    let cookie = first.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let again = send(
        &c,
        Request::get("/status")
            .header(header::COOKIE, cookie.split(';').next().unwrap())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
}

#[tokio::test]
async fn status_counts_streams_caught_up_behind_and_failing() {
    use iat_core::ports::Checkpoint;
    use iat_core::{AccountId, Region, StreamKey};
    let c = console(None).await;
    let stream = |account: &str, region: &str| StreamKey {
        account: AccountId::new(account).unwrap(),
        region: Region::new(region).unwrap(),
        source: "iam.amazonaws.com".into(),
    };
    let mut fresh = Checkpoint::new(stream("111122223333", "us-east-1"), now());
    fresh.complete_up_to = Some(now() - chrono::Duration::minutes(20));
    let mut late = Checkpoint::new(stream("111122223333", "eu-west-1"), now());
    late.complete_up_to = Some(now() - chrono::Duration::hours(5));
    let mut failing = Checkpoint::new(stream("444455556666", "us-east-1"), now());
    failing.complete_up_to = Some(now() - chrono::Duration::minutes(10));
    failing.last_error = Some("AccessDenied: sts:AssumeRole on the reader role".into());
    for k in [&fresh, &late, &failing] {
        c.checkpoints.save(k).await.unwrap();
    }
    let a = get(&c, "/status").await;
    assert_eq!(a.status, StatusCode::OK);
    let cards: Vec<&str> = a
        .body
        .split("<div class=\"card\"><b>")
        .skip(1)
        .map(|s| s.split("</b>").next().unwrap())
        .collect();
    assert_eq!(
        cards,
        ["2", "1", "1", "1"],
        "accounts, caught up, behind, failing: {}",
        a.body
    );
    assert!(
        a.body
            .contains("AccessDenied: sts:AssumeRole on the reader role")
    );
    assert!(a.body.contains(">5 h<"), "{}", a.body);
}

/// A console whose log holds what an alerter run sent over the fixtures (digest above 5).
async fn console_with_sent_alerts() -> (Arc<Console>, Arc<MemoryAlertLog>, usize) {
    let log = Arc::new(MemoryAlertLog::new());
    let events = events();
    let alerts = iat_core::alert::Alert::merge(iat_core::alert::Alert::from_hits(
        RuleSet::default_rules().evaluate_all(&events),
    ));
    let report = iat_alerter::Alerter::new(
        RuleSet::default_rules(),
        Arc::new(MemoryAlertLedger::new()),
        Arc::new(MemoryNotifier::new()),
        iat_alerter::DeliveryPolicy {
            max_per_second: 10_000.0,
            digest_threshold: 5,
            ..Default::default()
        },
    )
    .with_log(log.clone())
    .deliver(alerts, now())
    .await;
    assert_eq!(report.logged, report.alerts_sent);
    let c = console_with(None, Some(log.clone())).await;
    (c, log, report.alerts_sent)
}

async fn post(c: &Arc<Console>, uri: &str, form: &str, headers: &[(&str, &str)]) -> Answer {
    let mut r =
        Request::post(uri).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    send(c, r.body(Body::from(form.to_owned())).unwrap()).await
}

#[tokio::test]
async fn with_an_alert_log_the_alerts_are_those_sent_and_can_be_acknowledged() {
    let (c, log, sent) = console_with_sent_alerts().await;
    let list = get(&c, &format!("/alerts?{WIDE}")).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("Alerts sent, as sent"), "{}", list.body);
    let alert_links = links(&list.body, "/alert?");
    assert_eq!(alert_links.len(), sent, "one row per sent alert");
    // The rules' view of the same events is one link away.
    let raised = get(&c, &format!("/alerts?{WIDE}&raised=1")).await;
    assert!(
        raised.body.contains("Not a record of what was sent"),
        "{}",
        raised.body
    );

    let root = alert_links
        .iter()
        .find(|l| l.contains("rule=root_activity"))
        .unwrap_or_else(|| panic!("{alert_links:#?}"))
        .clone();
    let page = get(&c, &root).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("action=\"/alert/ack\""), "{}", page.body);
    let id = page
        .body
        .split("name=\"id\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();

    // Refused: from another site, without a name, for an unknown alert, by GET.
    let form = format!("id={id}&by=ana.lima%40example.com&note=break-glass+test");
    let cross = post(
        &c,
        "/alert/ack",
        &form,
        &[
            ("origin", "http://evil.example"),
            ("host", "127.0.0.1:8080"),
        ],
    )
    .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN, "{}", cross.body);
    let fetch_site = post(&c, "/alert/ack", &form, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(fetch_site.status, StatusCode::FORBIDDEN);
    let nobody = post(&c, "/alert/ack", &format!("id={id}&by=+"), &[]).await;
    assert_eq!(nobody.status, StatusCode::BAD_REQUEST);
    assert!(nobody.body.contains("by is required"), "{}", nobody.body);
    let unknown = post(&c, "/alert/ack", "id=root_console_login%3Anope&by=ana", &[]).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let extra = post(&c, "/alert/ack", &format!("{form}&admin=1"), &[]).await;
    assert_eq!(extra.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        get(&c, "/alert/ack").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    assert!(
        log.get(&id).await.unwrap().unwrap().ack.is_none(),
        "nothing recorded yet"
    );

    // Accepted from the console's own page: recorded with who and when, shown, filtered.
    let ok = post(
        &c,
        "/alert/ack",
        &form,
        &[
            ("origin", "http://127.0.0.1:8080"),
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let back = ok.headers[header::LOCATION].to_str().unwrap().to_owned();
    let ack = log.get(&id).await.unwrap().unwrap().ack.unwrap();
    assert_eq!(
        (ack.by.as_str(), ack.note.as_str(), ack.at),
        ("ana.lima@example.com", "break-glass test", now())
    );
    let shown = get(&c, &back).await;
    assert!(
        shown
            .body
            .contains("Acknowledged by <strong>ana.lima@example.com</strong>"),
        "{}",
        shown.body
    );
    let open = get(&c, &format!("/alerts?{WIDE}&open=1")).await;
    assert_eq!(
        links(&open.body, "/alert?").len(),
        sent - 1,
        "acknowledged alerts leave the open list"
    );
    assert_eq!(
        log.list(&AlertLogQuery::default())
            .await
            .unwrap()
            .iter()
            .filter(|a| a.ack.is_none())
            .count(),
        sent - 1
    );
}

/// A console over `recent` and, before `boundary`, `lake`, reading the alerts kept in `kept`.
async fn console_over_lake(
    recent: Vec<ActivityEvent>,
    lake: Vec<ActivityEvent>,
    boundary: DateTime<Utc>,
    kept: Arc<iat_core::ports::MemoryObjectStore>,
) -> Arc<Console> {
    let (r, l) = (MemoryEventStore::new(), MemoryEventStore::new());
    r.put(&recent).await.unwrap();
    l.put(&lake).await.unwrap();
    Arc::new(Console {
        events: Arc::new(iat_core::ports::SpanningEventStore::new(
            Arc::new(r),
            Arc::new(l),
            boundary,
        )),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        log: None,
        rules: RuleSet::default_rules(),
        lake_alerts: Some(LakeAlerts {
            objects: kept,
            prefix: String::new(),
            boundary: Some(boundary),
        }),
        store: "memory".into(),
        token: None,
        behind_after: chrono::Duration::hours(2),
        now,
    })
}

/// A console over one store holding `all`: the rules' view read from every event.
async fn console_over_store(all: &[ActivityEvent]) -> Arc<Console> {
    let store = MemoryEventStore::new();
    store.put(all).await.unwrap();
    Arc::new(Console {
        events: Arc::new(store),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        log: None,
        rules: RuleSet::default_rules(),
        lake_alerts: None,
        store: "memory".into(),
        token: None,
        behind_after: chrono::Duration::hours(2),
        now,
    })
}

/// Keeps each day's alerts under `rules` as the export does, from the day's events.
async fn keep_alerts(
    events: &[ActivityEvent],
    rules: &RuleSet,
) -> Arc<iat_core::ports::MemoryObjectStore> {
    let objects = Arc::new(iat_core::ports::MemoryObjectStore::new());
    let mut days: Vec<chrono::NaiveDate> = events.iter().map(|e| e.time.date_naive()).collect();
    days.sort();
    days.dedup();
    for day in days {
        let mut of_day: Vec<ActivityEvent> = events
            .iter()
            .filter(|e| e.time.date_naive() == day)
            .cloned()
            .collect();
        of_day.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
        let mut interest = iat_exporter::raised::DayInterest::new(rules);
        interest.push(&of_day);
        let raised = interest.finish(day).expect("few events");
        iat_exporter::raised::write_day(objects.as_ref(), "", day, Some(&raised))
            .await
            .unwrap();
    }
    objects
}

/// The lake's days of the raised view come from the alerts kept at export: the same alerts as
/// the rules raise over the events, for the window and narrowed by actor or account; with the
/// lake's events gone they still answer (the kept alerts are what is read); alerts kept under
/// other settings are not used.
#[tokio::test]
async fn the_lake_days_raised_alerts_are_those_kept_at_export_and_match_the_rules_over_the_events()
{
    let boundary = Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap();
    let mut all = events();
    // Roles passed to a service by people of their own (one alert each), made admin in the
    // same account on another lake day and on a store day: one run over the window raises both
    // passes. A third is made admin just before the window: a run over the window does not see
    // it.
    let march = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let before_window = all
        .iter()
        .map(|e| e.time)
        .filter(|t| *t >= march)
        .min()
        .unwrap();
    let spec = |id: &str, at: (u32, u32), user: &str| {
        iat_core::contract::records::RecordSpec::new(
            id,
            Utc.with_ymd_and_hms(2026, 3, at.0, at.1, 0, 0).unwrap(),
        )
        .user(user)
    };
    let grant = |s: iat_core::contract::records::RecordSpec, role: &str| {
        s.name("iam.amazonaws.com", "AttachRolePolicy")
            .params(serde_json::json!({
                "roleName": role,
                "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"
            }))
            .event()
    };
    let pass = |id: &str, day: u32, user: &str, role: &str| {
        spec(id, (day, 10), user)
            .name("lambda.amazonaws.com", "CreateFunction20150331")
            .params(serde_json::json!({
                "functionName": format!("{user}-fn"),
                "role": format!("arn:aws:iam::111122223333:role/{role}")
            }))
            .event()
    };
    let mut early =
        iat_core::contract::records::RecordSpec::new("grant-before-window", before_window);
    early = early.user("alice");
    all.extend([
        pass("pass-lake-admin", 4, "dave", "lake-admin"),
        grant(spec("grant-lake-day", (5, 9), "alice"), "lake-admin"),
        pass("pass-store-admin", 6, "erin", "store-admin"),
        grant(spec("grant-store-day", (8, 9), "alice"), "store-admin"),
        pass("pass-early-admin", 4, "frank", "early-admin"),
        grant(early, "early-admin"),
    ]);
    let (old, recent): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|e| e.time < boundary);
    assert!(!recent.is_empty());
    // From just after the first event of March (the early grant's): a lake day only partly in
    // the window.
    let last = all.iter().map(|e| e.time).max().unwrap();
    let since = before_window + chrono::Duration::seconds(1);
    let window = format!(
        "since={}&until={}",
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        last.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let old_days: std::collections::BTreeSet<_> = old
        .iter()
        .filter(|e| e.time.date_naive() >= since.date_naive())
        .map(|e| e.time.date_naive())
        .collect();
    assert!(
        old.iter()
            .any(|e| e.time.date_naive() == since.date_naive() && e.time < since),
        "the window's first day is only partly in it"
    );
    let live = console_over_store(&all).await;
    assert!(old_days.len() >= 2, "{old_days:?}");
    let kept = keep_alerts(&old, &RuleSet::default_rules()).await;
    let with_lake = console_over_lake(recent.clone(), old.clone(), boundary, kept.clone()).await;
    let without_lake_events = console_over_lake(recent.clone(), Vec::new(), boundary, kept).await;
    let first_actor = "Developer/eve-laptop";
    for narrowed in [
        "",
        "&account=111122223333",
        &format!("&actor={first_actor}"),
    ] {
        let uri = format!("/alerts?{window}{narrowed}");
        let live_page = get(&live, &uri).await.body;
        let expected = links(&live_page, "/alert?");
        assert!(!expected.is_empty(), "{uri}: no alert to compare");
        if narrowed.is_empty() {
            let raised = rows(&live_page);
            for role in ["lake-admin", "store-admin"] {
                assert!(
                    raised.contains(&format!("role {role} was granted an admin policy")),
                    "{uri}: {role} raised across days: {raised}"
                );
            }
            assert!(
                raised.contains("role early-admin passed to lambda")
                    && !raised.contains("role early-admin was granted"),
                "{raised}"
            );
        }
        for c in [&with_lake, &without_lake_events] {
            let page = get(c, &uri).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert!(
                page.body.contains(&format!(
                    "for the {} days read from the lake",
                    old_days.len()
                )),
                "{uri}: {}",
                page.body
            );
            assert_eq!(links(&page.body, "/alert?"), expected, "{uri}");
            assert_eq!(
                rows(&page.body),
                rows(&live_page),
                "{uri}: severities and summaries"
            );
        }
        // An alert of the lake's days opens from its kept hits too.
        let lake_alert = expected
            .iter()
            .find(|l| old.iter().any(|e| l.contains(&format!("event={}", e.id))))
            .unwrap_or_else(|| panic!("{uri}: no alert of the lake's days: {expected:#?}"));
        let page = get(&without_lake_events, lake_alert).await;
        assert_eq!(page.status, StatusCode::OK, "{lake_alert}: {}", page.body);
    }
    // Kept under other settings: not used; the lake's events are read instead.
    let other = RuleSet::new(iat_core::rules::RuleSetConfig {
        allowed_actors: vec!["nobody-at-all".into()],
        ..Default::default()
    })
    .unwrap();
    let stale = keep_alerts(&old, &other).await;
    let uri = format!("/alerts?{window}");
    let page = get(
        &console_over_lake(recent.clone(), old.clone(), boundary, stale.clone()).await,
        &uri,
    )
    .await;
    assert!(
        !page.body.contains("days read from the lake"),
        "{}",
        page.body
    );
    assert_eq!(
        links(&page.body, "/alert?"),
        links(&get(&live, &uri).await.body, "/alert?")
    );
    let page = get(
        &console_over_lake(recent, Vec::new(), boundary, stale).await,
        &uri,
    )
    .await;
    assert_ne!(
        links(&page.body, "/alert?"),
        links(&get(&live, &uri).await.body, "/alert?"),
        "without the lake's events and with no usable kept alerts, the lake's days are missing"
    );
}

/// A lake day's long burst (a role denied 120 times on a Saturday) is kept as its first and
/// last hits and a count: the default week (whole days) reads it from the kept day and shows
/// the same alerts, counts and last times as the rules over every event, and its alert says
/// which events it lists; a window that starts inside the burst reads the events instead.
#[tokio::test]
async fn a_lake_days_long_burst_counts_every_event_and_a_window_cutting_it_reads_the_events() {
    let boundary = Utc.with_ymd_and_hms(2026, 3, 8, 0, 0, 0).unwrap();
    let saturday = Utc.with_ymd_and_hms(2026, 3, 7, 10, 0, 0).unwrap();
    let mut all = events();
    all.extend(
        (0..120).map(|i| denied_list_buckets(1_000 + i, saturday + chrono::Duration::minutes(i))),
    );
    let (old, recent): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|e| e.time < boundary);
    let rules = RuleSet::default_rules();
    let kept = keep_alerts(&old, &rules).await;
    let day = iat_exporter::raised::read_day(kept.as_ref(), "", saturday.date_naive(), &rules)
        .await
        .unwrap()
        .expect("the day keeps its hits");
    assert!(
        day.hits.iter().any(|h| matches!(h,
            iat_core::alert::KeptHit::Burst(b) if b.more == 120 - iat_core::alert::BURST_LISTED as u64)),
        "{:#?}",
        day.hits
    );
    let live = console_over_store(&all).await;
    let with_lake = console_over_lake(recent.clone(), old.clone(), boundary, kept.clone()).await;
    let without_lake_events = console_over_lake(recent, Vec::new(), boundary, kept).await;

    // The default window: the seven UTC days up to the newest event's, from midnight.
    let newest = all.iter().map(|e| e.time).max().unwrap();
    let since = (newest.date_naive() - chrono::Duration::days(6))
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    assert!(since <= saturday, "the burst's day is in the default week");
    let first_id = "00000000-0000-4000-8000-000000001000";
    for narrowed in ["", "?actor=Builder*"] {
        let uri = format!("/alerts{narrowed}");
        let live_page = get(&live, &uri).await.body;
        assert!(
            live_page.contains(&format!(
                "value=\"{}\"",
                since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            "{uri}: the default window starts at midnight: {live_page}"
        );
        assert!(
            rows(&live_page).contains(">240<"),
            "{uri}: the burst's alert counts both days' calls: {}",
            rows(&live_page)
        );
        for c in [&with_lake, &without_lake_events] {
            let page = get(c, &uri).await.body;
            assert!(page.contains("days read from the lake"), "{uri}: {page}");
            assert_eq!(rows(&page), rows(&live_page), "{uri}");
            assert_eq!(
                links(&page, "/alert?"),
                links(&live_page, "/alert?"),
                "{uri}"
            );
        }
        // The burst's alert: every event counted, the kept day's first and last listed.
        let link = links(&live_page, "/alert?")
            .into_iter()
            .find(|l| l.contains(first_id))
            .unwrap_or_else(|| panic!("{uri}: no alert of the burst"));
        let page = get(&without_lake_events, &link).await;
        assert_eq!(page.status, StatusCode::OK, "{link}: {}", page.body);
        assert!(page.body.contains("Events (240)"), "{}", page.body);
        assert!(
            page.body
                .contains("A long burst: 140 of its events are listed")
                && page.body.contains("100 are not"),
            "{}",
            page.body
        );
        let live_alert = get(&live, &link).await.body;
        assert!(
            live_alert.contains("Events (240)") && !live_alert.contains("A long burst"),
            "{live_alert}"
        );
    }

    // A window from inside the burst cannot take the kept burst whole: the events are read.
    let uri = format!(
        "/alerts?since=2026-03-07T11:00:00Z&until={}",
        newest.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    let live_page = get(&live, &uri).await.body;
    assert!(rows(&live_page).contains(">180<"), "{}", rows(&live_page));
    let page = get(&with_lake, &uri).await.body;
    assert!(!page.contains("days read from the lake"), "{page}");
    assert_eq!(rows(&page), rows(&live_page));
}
