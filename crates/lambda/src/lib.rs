//! What the Lambda functions share: typed configuration read once from the environment, JSON
//! logs, and failures as Lambda errors with a stable type.
//!
//! Each function's `main` (under `src/bin/`) is its composition root: it reads its
//! configuration, builds the SDK clients once, and hands every invocation to a library function —
//! the same one the `iat` command runs. A configuration error stops the function at start-up with
//! one line naming the variable and what it must be.

pub mod alerter;
pub mod env;
pub mod exporter;
pub mod report;
#[cfg(feature = "testkit")]
pub mod testing;
pub mod tracker;

/// The variables [`init_json_logs`] reads: `RUST_LOG` (a full filter, for debugging) and
/// `LOG_LEVEL` (what the deployed stack sets).
pub const LOG_VARIABLES: [&str; 2] = ["RUST_LOG", "LOG_LEVEL"];

/// JSON logs on stdout, which Lambda sends to CloudWatch Logs. `RUST_LOG` or `LOG_LEVEL` sets the
/// filter (default: `info` for our crates, `warn` for the rest).
pub fn init_json_logs() {
    let [rust_log, log_level] = LOG_VARIABLES;
    let filter = std::env::var(rust_log)
        .or_else(|_| std::env::var(log_level))
        .unwrap_or_else(|_| {
            "warn,iat_core=info,iat_aws=info,iat_tracker=info,iat_alerter=info,iat_exporter=info,iat_lambda=info"
                .to_owned()
        });
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .with_target(false)
        .without_time() // Lambda timestamps every line
        .try_init();
}
