//! One module per subcommand.

#[cfg(feature = "aws")]
pub mod collect;
pub mod demo;
pub mod events;
pub mod ingest;
pub mod status;
#[cfg(feature = "aws")]
pub mod tables;

use std::path::Path;

use anyhow::Context;
use iat_local::SqliteStore;

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
