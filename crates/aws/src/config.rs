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
    loader.load().await
}
