//! The alerter Lambda function (runtime `provided.al2023`; deployed as `bootstrap`).
//!
//! Triggered by the events table's DynamoDB stream and, optionally, EventBridge CloudTrail
//! events. Configuration: see [`iat_lambda::alerter`].

use chrono::Utc;
use iat_lambda::alerter::{AlerterError, AlerterFunction, AlerterSettings};
use iat_lambda::env::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = AlerterSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = e.error_type(), "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let function = &AlerterFunction::new(settings, &sdk)?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            function
                .handle(event.payload, Utc::now())
                .await
                .inspect_err(|e: &AlerterError| {
                    tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
                })
        },
    ))
    .await
}
