//! The tracker Lambda function (runtime `provided.al2023`; deployed as `bootstrap`).
//!
//! Invoked hourly by a schedule, once per shard of the accounts (`{"shard": 0, "shards": 2}`);
//! an event without a shard collects every account. With an organisation, also by its backfill
//! queue, once per group of accounts far behind that a scheduled run handed off. Configuration:
//! see [`iat_lambda::tracker`].

use chrono::Utc;
use iat_lambda::env::Env;
use iat_lambda::tracker::{
    Invocation, Tracker, TrackerError, TrackerSettings, deadline_from_context,
};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = TrackerSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = e.error_type(), "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let tracker = &Tracker::new(settings, sdk);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let deadline = deadline_from_context(event.context.deadline);
            async {
                tracker
                    .handle(
                        Utc::now(),
                        Invocation::from_event(&event.payload)?,
                        deadline,
                    )
                    .await
            }
            .await
            .inspect_err(|e: &TrackerError| {
                tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
            })
        },
    ))
    .await
}
