//! The alarm function (runtime `provided.al2023`; deployed as `bootstrap`): the stack's
//! CloudWatch alarms, published to the alert topic in words.
//!
//! Invoked by CloudWatch's Lambda alarm action. Configuration: see [`iat_lambda::alarm`].

use iat_lambda::alarm::{AlarmError, AlarmFunction, AlarmSettings};
use iat_lambda::env::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    iat_lambda::init_json_logs();
    let lookup = |name: &str| std::env::var(name).ok();
    let settings = AlarmSettings::from_env(&Env::new(&lookup)).inspect_err(|e| {
        tracing::error!(error = %e, error_type = e.error_type(), "configuration error");
    })?;
    let sdk = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let function = &AlarmFunction::new(settings, &sdk);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            function
                .handle(event.payload)
                .await
                .inspect_err(|e: &AlarmError| {
                    tracing::error!(error = %e, error_type = e.error_type(), "invocation failed");
                })
        },
    ))
    .await
}
