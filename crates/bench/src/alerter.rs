//! Alerter figures: rule-set throughput on one core over a realistic mix of parsed events, the
//! generator's scenario precision and recall, and the alerter Lambda's peak memory on a
//! 1,000-record stream batch (the real binary, a Runtime API served here, moto for DynamoDB and
//! SNS).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use iat_core::RecordLimits;
use iat_core::rules::{RuleSet, RuleSetConfig};
use iat_sim::{ExpectedAlert, Labels};

use crate::{Figure, median};

pub(crate) fn benchmark(
    dir: &Path,
    runs: usize,
    alerter_bin: &Path,
) -> anyhow::Result<Vec<Figure>> {
    let labels = Labels::read(&dir.join("labels.json"))?;
    let loaded = iat_local::logfiles::load_events(&[dir.join("AWSLogs")], &RecordLimits::default());
    anyhow::ensure!(
        loaded.rejected.is_empty(),
        "generated records should all normalise"
    );
    let events = loaded.events;
    let settings = labels.rule_settings();
    let config = RuleSetConfig::from_lookup(&|n| {
        settings
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
    })?;
    let rules = RuleSet::new(config)?;

    // Throughput: whole passes over the events until a second has passed, per run.
    let mut rates = Vec::new();
    let mut hits = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let mut evaluated = 0usize;
        let mut out = Vec::new();
        while start.elapsed() < Duration::from_secs(1) {
            out.clear();
            for e in &events {
                rules.evaluate(e, &mut out);
            }
            evaluated += events.len();
            hits = out.len();
        }
        rates.push(evaluated as f64 / start.elapsed().as_secs_f64());
    }
    let raised: std::collections::BTreeSet<ExpectedAlert> = rules
        .evaluate_all(&events)
        .iter()
        .map(|h| ExpectedAlert {
            event_id: h.event.id.to_string(),
            rule_id: h.rule.id.to_owned(),
        })
        .collect();
    let score = labels.score_alerts(&raised);
    let kinds = labels.scenarios.len();
    let mut figures = vec![
        Figure {
            metric: "alerter.rules_events_per_s",
            value: median(rates.clone()),
            unit: "events/s",
            goal: ">= 1000000",
            note: format!(
                "all {} rules over {} parsed events of a generated organisation ({hits} hits a pass), one thread, median of {runs} runs of at least 1 s; runs {:?}",
                iat_core::rules::ALL.len(),
                events.len(),
                rates.iter().map(|r| r.round()).collect::<Vec<_>>()
            ),
        },
        Figure {
            metric: "alerter.scenario_precision",
            value: score.precision,
            unit: "ratio",
            goal: "1.0",
            note: format!(
                "{} raised (event, rule) pairs on {} events, {} expected by {kinds} labelled scenarios; {} unexpected",
                score.raised,
                events.len(),
                score.expected,
                score.unexpected.len()
            ),
        },
        Figure {
            metric: "alerter.scenario_recall",
            value: score.recall,
            unit: "ratio",
            goal: "1.0",
            note: format!(
                "{} of {} expected (event, rule) pairs raised; missed: {:?}",
                score.true_positives, score.expected, score.missed
            ),
        },
    ];
    match iat_sim::emulators::moto_endpoint() {
        Some(endpoint) if alerter_bin.exists() => {
            figures.push(batch_rss(&events, &endpoint, alerter_bin, runs.min(3))?)
        }
        Some(_) => eprintln!(
            "skipped alerter.batch_peak_rss_mb: no {} (cargo build --release -p iat-lambda)",
            alerter_bin.display()
        ),
        None => {
            eprintln!("skipped alerter.batch_peak_rss_mb: needs moto (run through `make bench`)")
        }
    }
    Ok(figures)
}

/// The 1,000-record batch: every event that raises an alert, then background events.
fn batch(events: &[iat_core::ActivityEvent]) -> anyhow::Result<serde_json::Value> {
    let rules = RuleSet::default_rules();
    let mut chosen: Vec<&iat_core::ActivityEvent> = Vec::new();
    let alerting: std::collections::HashSet<&str> = rules
        .evaluate_all(events)
        .iter()
        .map(|h| h.event.id.as_str())
        .collect();
    chosen.extend(
        events
            .iter()
            .filter(|e| alerting.contains(e.id.as_str()))
            .take(200),
    );
    chosen.extend(
        events
            .iter()
            .filter(|e| !alerting.contains(e.id.as_str()))
            .take(1_000 - chosen.len()),
    );
    let records: Vec<serde_json::Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(serde_json::json!({
                "eventID": format!("r{i}"), "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
                "dynamodb": {"NewImage": iat_aws::stream_image(e, None).map_err(anyhow::Error::msg)?, "SequenceNumber": format!("{:021}", i + 1), "StreamViewType": "NEW_IMAGE"}
            }))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(serde_json::json!({ "Records": records }))
}

fn batch_rss(
    events: &[iat_core::ActivityEvent],
    endpoint: &str,
    bin: &Path,
    runs: usize,
) -> anyhow::Result<Figure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let event = batch(events)?;
    let records = event["Records"].as_array().map_or(0, Vec::len);
    let mut peaks = Vec::new();
    let mut detail = String::new();
    for run in 0..runs {
        let (peak, sent) = runtime.block_on(async {
            let sdk = iat_aws::sdk_config(&iat_aws::AwsSettings {
                region: Some("us-east-1".into()),
                endpoint_url: Some(endpoint.to_owned()),
                ..Default::default()
            })
            .await;
            let name = format!("iat-bench-{}-{run}", std::process::id());
            let inbox = iat_aws::testing::SnsInbox::create(&sdk, &name).await;
            iat_aws::create_table(
                &aws_sdk_dynamodb::Client::new(&sdk),
                iat_aws::TableKind::AlertLedger,
                &name,
            )
            .await?;
            let (api, mut rx) =
                iat_lambda::testing::runtime_api(event.clone(), Duration::from_secs(300)).await;
            let mut child = std::process::Command::new(bin)
                .env_clear()
                .envs(iat_lambda::testing::lambda_env(api, "alerter"))
                .env("AWS_ENDPOINT_URL", endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("ALERT_TOPIC_ARN", &inbox.topic_arn)
                .env("ALERT_LEDGER_TABLE", &name)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .with_context(|| format!("start {}", bin.display()))?;
            let pid = child.id();
            let mut peak = 0;
            let outcome = loop {
                if let Some(kb) = crate::peak_rss_kib(pid) {
                    peak = peak.max(kb);
                }
                match tokio::time::timeout(Duration::from_millis(10), rx.recv()).await {
                    Ok(o) => break o,
                    Err(_) => continue,
                }
            };
            if let Some(kb) = crate::peak_rss_kib(pid) {
                peak = peak.max(kb);
            }
            let _ = child.kill();
            let _ = child.wait();
            match outcome {
                Some(iat_lambda::testing::Outcome::Response(v))
                    if v["batchItemFailures"] == serde_json::json!([]) => {}
                other => anyhow::bail!("the alerter did not handle the batch: {other:?}"),
            }
            let sent = inbox.drain().await.len();
            anyhow::Ok((peak, sent))
        })?;
        peaks.push(peak as f64 / 1024.0);
        detail = format!("{sent} SNS messages delivered per run");
    }
    Ok(Figure {
        metric: "alerter.batch_peak_rss_mb",
        value: median(peaks.clone()),
        unit: "MB",
        goal: "report",
        note: format!(
            "peak resident set (VmHWM) of the release alerter binary handling one DynamoDB stream batch of {records} records (the alerting events of a generated day plus background), ledger and SNS on moto; {detail}; median of {runs} runs {peaks:?}"
        ),
    })
}
