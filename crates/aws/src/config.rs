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

/// Whether credentials can be had from `config`; the error says what to do.
pub async fn check_credentials(config: &aws_config::SdkConfig) -> Result<(), iat_core::Error> {
    use aws_credential_types::provider::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(iat_core::Error::backend(
            "credentials",
            "load",
            "no AWS credentials configured",
        ));
    };
    provider.provide_credentials().await.map(|_| ()).map_err(|_| {
        iat_core::Error::backend(
            "credentials",
            "load",
            "no AWS credentials found: set AWS_PROFILE or --profile, run `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
        )
    })
}

/// Static credentials, for endpoints that only need requests signed (the simulator reads the
/// account from the access key id).
pub fn with_static_credentials(
    config: aws_config::SdkConfig,
    access_key_id: &str,
) -> aws_config::SdkConfig {
    config
        .into_builder()
        .credentials_provider(
            aws_credential_types::provider::SharedCredentialsProvider::new(
                aws_credential_types::Credentials::new(
                    access_key_id,
                    "not-a-secret",
                    None,
                    None,
                    "static",
                ),
            ),
        )
        .build()
}

/// The account the configured credentials belong to (STS `GetCallerIdentity`), or a message that
/// says what is missing.
pub async fn caller_account(
    config: &aws_config::SdkConfig,
) -> Result<iat_core::AccountId, iat_core::Error> {
    check_credentials(config).await?;
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| crate::error::sdk_error("sts", "GetCallerIdentity", None, e))?;
    let account = out.account().unwrap_or_default();
    iat_core::AccountId::new(account)
}
