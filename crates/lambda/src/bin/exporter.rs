//! The exporter Lambda function (runtime `provided.al2023`; deployed as `bootstrap`).
//!
//! Run daily by a schedule, or invoked with `{"from": ..., "to": ...}` for a range.
//! Configuration: see [`iat_lambda::exporter`].

use chrono::Utc;
use iat_lambda::env::Env;
use iat_lambda::exporter::{ExporterError, ExporterFunction, ExporterSettings};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = ExporterSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = e.error_type(), "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let function = &ExporterFunction::new(settings, &sdk)?;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            function
                .handle(event.payload, Utc::now())
                .await
                .inspect_err(|e: &ExporterError| {
                    tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
                })
        },
    ))
    .await
}
