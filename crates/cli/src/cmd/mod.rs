//! One module per subcommand.

pub mod alerts;
#[cfg(feature = "aws")]
pub mod collect;
pub mod demo;
pub mod events;
pub mod export;
pub mod ingest;
pub mod query;
pub mod report;
pub mod rules;
pub mod status;
#[cfg(feature = "aws")]
pub mod tables;

use std::path::Path;

use anyhow::Context;
use iat_local::SqliteStore;

/// Rule settings: the alerter function's environment variables, here from the environment or
/// `--set NAME=VALUE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RuleArgs {
    /// A rule setting, NAME=VALUE; repeat for more. Unset settings come from the environment
    /// variable of that name, then the default. Settings: DISABLED_RULES, SEVERITY_OVERRIDES,
    /// FILTERED_ROLES, ALLOWED_ACTORS, ADMIN_POLICY_ARNS, TRUSTED_ACCOUNTS, EXPECTED_NETWORKS,
    /// DENIED_EXCLUSIONS, WORKING_HOURS (07:00-19:00), WORKING_DAYS (mon-fri), TIME_ZONE (UTC).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

impl RuleArgs {
    /// The rule configuration, or an error naming the setting.
    pub fn config(&self) -> anyhow::Result<iat_core::rules::RuleSetConfig> {
        let mut given = std::collections::HashMap::new();
        for pair in &self.set {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--set {pair:?}: expected NAME=VALUE"))?;
            let name = name.trim().to_ascii_uppercase();
            if !iat_core::rules::SETTINGS.iter().any(|(n, _, _)| *n == name) {
                let names: Vec<&str> = iat_core::rules::SETTINGS
                    .iter()
                    .map(|(n, _, _)| *n)
                    .collect();
                anyhow::bail!(
                    "--set {name}: no such setting (one of {})",
                    names.join(", ")
                );
            }
            given.insert(name, value.to_owned());
        }
        let lookup = |name: &str| {
            given
                .get(name)
                .cloned()
                .or_else(|| std::env::var(name).ok())
        };
        Ok(iat_core::rules::RuleSetConfig::from_lookup(&lookup)?)
    }
}

/// Opens the database, with a message that says which file and what to do.
pub(crate) fn open_store(db: &Path) -> anyhow::Result<SqliteStore> {
    SqliteStore::open(db).with_context(|| {
        format!(
            "cannot open the database {} (set --db or IAT_DB)",
            db.display()
        )
    })
}

/// Opens an existing database for reading; a missing file is an error that says how to create one.
pub(crate) fn open_existing(db: &Path) -> anyhow::Result<SqliteStore> {
    if !db.exists() {
        anyhow::bail!(
            "no database at {} — run `iat ingest PATH...` (or `iat demo`) first, or point --db at one",
            db.display()
        );
    }
    open_store(db)
}

/// Where DynamoDB is.
#[cfg(feature = "aws")]
#[derive(Debug, Clone, clap::Args)]
pub struct DynamoArgs {
    /// Region of the DynamoDB tables (default: your configuration's region, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub dynamodb_region: Option<String>,
    /// Reach DynamoDB at this URL (an emulator such as moto) instead of AWS.
    #[arg(long, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
}

#[cfg(feature = "aws")]
impl DynamoArgs {
    /// A DynamoDB client for these settings and `profile`.
    pub async fn client(&self, profile: Option<&str>) -> aws_sdk_dynamodb::Client {
        let mut config = iat_aws::sdk_config(&iat_aws::AwsSettings {
            region: self.dynamodb_region.clone(),
            profile: profile.map(str::to_owned),
            endpoint_url: self.dynamodb_endpoint.clone(),
            ..Default::default()
        })
        .await;
        if config.region().is_none() {
            config = config
                .into_builder()
                .region(aws_config::Region::new("us-east-1"))
                .build();
        }
        aws_sdk_dynamodb::Client::new(&config)
    }
}
