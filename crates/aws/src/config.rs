//! Building the SDK configuration once, from the environment and explicit overrides.

use aws_config::{BehaviorVersion, Region};

/// Where and how to reach AWS. Everything is optional: the SDK's default chain (environment,
/// profile, SSO, instance role) fills in what is not given.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// An endpoint to use instead of AWS (an emulator such as moto, or a VPC endpoint).
    pub endpoint_url: Option<String>,
    /// Attempts per call, first included (the SDK's standard retry mode; 1 disables retries).
    pub max_attempts: Option<u32>,
    /// First retry delay, doubling with jitter (the SDK's default is one second).
    pub initial_backoff: Option<std::time::Duration>,
}

/// The SDK configuration for `settings`.
pub async fn sdk_config(settings: &AwsSettings) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    if let Some(endpoint) = &settings.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    if settings.max_attempts.is_some() || settings.initial_backoff.is_some() {
        let mut retry = aws_config::retry::RetryConfig::standard();
        if let Some(attempts) = settings.max_attempts {
            retry = retry.with_max_attempts(attempts.max(1));
        }
        if let Some(backoff) = settings.initial_backoff {
            retry = retry.with_initial_backoff(backoff);
        }
        loader = loader.retry_config(retry);
    }
    loader.load().await
}
