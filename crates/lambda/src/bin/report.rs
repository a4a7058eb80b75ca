//! The weekly report Lambda function (runtime `provided.al2023`; deployed as `bootstrap`).
//!
//! Run weekly by a schedule, or invoked with `{"until": ..., "days": ...}`.
//! Configuration: see [`iat_lambda::report`].

use chrono::Utc;
use iat_lambda::env::Env;
use iat_lambda::report::{ReportError, ReportFunction, ReportSettings};
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = ReportSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = e.error_type(), "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let function = &ReportFunction::new(settings, &sdk);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let remaining = iat_lambda::time_left(event.context.deadline, Utc::now());
            function
                .handle(event.payload, Utc::now(), remaining)
                .await
                .inspect_err(|e: &ReportError| {
                    tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
                })
        },
    ))
    .await
}
