//! SDK errors read once for every adapter: the text operators search for (`code: message`),
//! whether a failure is worth retrying later, and DynamoDB's errors named by table.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use iat_core::Error;

/// `code: message` of an SDK error, the way operators search for it.
pub fn describe<E>(err: &SdkError<E>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(e) => {
            let e = e.err();
            match (e.code(), e.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_owned(),
                _ => e.to_string(),
            }
        }
        SdkError::DispatchFailure(e) => match e.as_connector_error() {
            Some(c) => format!("cannot reach the endpoint: {}", chain(c)),
            None => "cannot reach the endpoint".to_owned(),
        },
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        other => {
            let mut s = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(inner) = source {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                source = inner.source();
            }
            s
        }
    }
}

/// An error and its sources, as one line.
pub(crate) fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// True for failures worth retrying later: the network or a timeout, a broken response, or a
/// 5xx from the service. Not credentials or configuration, which retrying cannot fix.
pub(crate) fn is_transient<E>(err: &SdkError<E>) -> bool {
    match err {
        // A dropped connection is `other` tagged transient; a credential failure is `other` untagged.
        SdkError::DispatchFailure(e) => {
            e.is_io()
                || e.is_timeout()
                || e.as_other() == Some(aws_config::retry::ErrorKind::TransientError)
        }
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(e) => e.raw().status().is_server_error(),
        _ => false,
    }
}

/// True when a conditional write's condition did not hold.
pub(crate) fn is_condition_failure<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    e.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

/// An SDK error as one of ours: `Unavailable` when trying again later may help (the network,
/// a timeout, a 5xx, throttling that outlived the SDK's retries), else `Backend`; the text is
/// `code: message` and the SDK error is kept as the source.
pub(crate) fn sdk_error<E>(
    service: &'static str,
    operation: &'static str,
    resource: Option<String>,
    err: SdkError<E>,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let throttled = matches!(
        err.as_service_error().and_then(|e| e.code()),
        Some(
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "Throttling"
        )
    );
    let transient = throttled || is_transient(&err);
    let message = describe(&err);
    let resource = resource.map(String::into_boxed_str);
    let source = Some(Box::new(err) as iat_core::BoxError);
    if transient {
        Error::Unavailable {
            service,
            operation,
            resource,
            message,
            source,
        }
    } else {
        Error::Backend {
            backend: service,
            operation,
            resource,
            message,
            source,
        }
    }
}

/// An SDK error on `table` as one of ours ([`sdk_error`]); a missing table says so and what
/// to do.
pub(crate) fn dynamo_error<E>(table: &str, operation: &'static str, err: SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if err.as_service_error().and_then(|e| e.code()) == Some("ResourceNotFoundException") {
        return Error::Backend {
            backend: "dynamodb",
            operation,
            resource: Some(format!("table {table}").into()),
            message: "not found: check the table name and the region, or create the tables \
                      (`iat create-tables`, or deploy the stack)"
                .to_owned(),
            source: Some(Box::new(err)),
        };
    }
    sdk_error("dynamodb", operation, Some(format!("table {table}")), err)
}
