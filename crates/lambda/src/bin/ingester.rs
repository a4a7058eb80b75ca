//! The ingester Lambda function (runtime `provided.al2023`; deployed as `bootstrap`).
//!
//! Triggered by the trail-files SQS queue. Configuration: see [`iat_lambda::ingester`].

use iat_lambda::env::Env;
use iat_lambda::ingester::{IngesterFunction, IngesterSettings};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = IngesterSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = "ConfigError", "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // An endpoint override means an emulator, which wants path-style bucket addressing.
    let path_style = ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    let function = &IngesterFunction::new(settings, &sdk, path_style);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let left = iat_lambda::time_left(event.context.deadline, chrono::Utc::now());
            function.handle(event.payload, left).await.inspect_err(|e| {
                tracing::error!(error = %e, error_type = "UnsupportedEvent", "invocation failed");
            })
        },
    ))
    .await
}
