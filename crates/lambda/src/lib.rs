//! What the Lambda functions share: typed configuration read once from the environment, JSON
//! logs, and failures as Lambda errors with a stable type.
//!
//! Each function's `main` (under `src/bin/`) is its composition root: it reads its
//! configuration, builds the SDK clients once, and hands every invocation to a library function —
//! the same one the `iat` command runs. A configuration error stops the function at start-up with
//! one line naming the variable and what it must be.

pub mod alarm;
pub mod alerter;
pub mod env;
pub mod exporter;
pub mod ingester;
pub mod report;
#[cfg(feature = "testkit")]
pub mod testing;
pub mod tracker;

/// Time left before an invocation's deadline (milliseconds since the epoch, as the Lambda
/// context gives it) at `now`; zero once it has passed.
pub fn time_left(deadline_ms: u64, now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let left = i64::try_from(deadline_ms)
        .unwrap_or(i64::MAX)
        .saturating_sub(now.timestamp_millis());
    std::time::Duration::from_millis(u64::try_from(left).unwrap_or(0))
}

/// The variables [`init_json_logs`] reads: `RUST_LOG` (a full filter, for debugging),
/// `AWS_LAMBDA_LOG_LEVEL` (set by Lambda's advanced logging controls) and `LOG_LEVEL` (what the
/// deployed stack sets), in that order.
pub const LOG_VARIABLES: [&str; 3] = ["RUST_LOG", "AWS_LAMBDA_LOG_LEVEL", "LOG_LEVEL"];

/// Our crates, whose level the level variables set (every other crate logs warnings).
const OUR_CRATES: [&str; 6] = [
    "iat_core",
    "iat_aws",
    "iat_tracker",
    "iat_alerter",
    "iat_exporter",
    "iat_lambda",
];

/// The log filter `var` (an environment lookup) asks for: `RUST_LOG` as written; else the level
/// of `AWS_LAMBDA_LOG_LEVEL` or `LOG_LEVEL` (`TRACE`…`ERROR`, `FATAL` read as error, any case)
/// for our crates, with warnings (or errors, at that level) from the others; else `info`.
pub fn log_filter(var: impl Fn(&str) -> Option<String>) -> String {
    let [rust_log, lambda_level, log_level] = LOG_VARIABLES;
    if let Some(filter) = var(rust_log).filter(|v| !v.trim().is_empty()) {
        return filter;
    }
    let level = [lambda_level, log_level]
        .into_iter()
        .filter_map(&var)
        .map(|v| v.trim().to_ascii_lowercase())
        .find(|v| !v.is_empty());
    let ours = match level.as_deref() {
        Some("fatal") => "error",
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => l,
        _ => "info",
    };
    let others = if ours == "error" { "error" } else { "warn" };
    // The runtime's per-invocation span carries the request id; a filtered-out span is not
    // recorded, so the runtime is let through at our level.
    let mut filter = format!("{others},lambda_runtime={ours}");
    for c in OUR_CRATES {
        filter.push_str(&format!(",{c}={ours}"));
    }
    filter
}

/// JSON logs on stdout, which Lambda sends to CloudWatch Logs, filtered by [`log_filter`]. Every
/// line an invocation logs carries its request id (the runtime's span, `span.requestId`).
pub fn init_json_logs() {
    let filter = log_filter(|name| std::env::var(name).ok());
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time() // Lambda timestamps every line
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_counts_down_to_zero() {
        let now = chrono::DateTime::from_timestamp_millis(1_000_000).unwrap();
        assert_eq!(
            time_left(1_900_000, now),
            std::time::Duration::from_secs(900)
        );
        assert_eq!(time_left(1_000_000, now), std::time::Duration::ZERO);
        assert_eq!(time_left(10, now), std::time::Duration::ZERO);
        assert_eq!(
            time_left(u64::MAX, now).as_millis(),
            (i64::MAX - 1_000_000) as u128
        );
    }

    fn filter(vars: &[(&str, &str)]) -> String {
        log_filter(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_log_level_comes_from_lambda_then_the_stack_and_rust_log_overrides_both() {
        assert!(filter(&[]).starts_with("warn,lambda_runtime=info,iat_core=info"));
        assert!(filter(&[("LOG_LEVEL", "debug")]).contains("iat_tracker=debug"));
        let both = filter(&[("LOG_LEVEL", "debug"), ("AWS_LAMBDA_LOG_LEVEL", "WARN")]);
        assert!(both.contains("iat_alerter=warn"), "{both}");
        let fatal = filter(&[("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert!(
            fatal.starts_with("error,") && fatal.contains("iat_lambda=error"),
            "{fatal}"
        );
        assert_eq!(
            filter(&[("RUST_LOG", "aws_smithy=debug"), ("LOG_LEVEL", "info")]),
            "aws_smithy=debug"
        );
        assert!(filter(&[("LOG_LEVEL", "loud")]).contains("iat_core=info"));
    }
}
