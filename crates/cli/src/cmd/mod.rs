//! One module per subcommand.

pub mod alerts;
#[cfg(feature = "aws")]
pub mod collect;
pub mod demo;
pub mod events;
pub mod export;
pub mod history;
pub mod ingest;
#[cfg(feature = "aws")]
pub mod ingest_s3;
pub mod query;
pub mod report;
pub mod rules;
pub mod seen;
pub mod serve;
pub mod status;
#[cfg(feature = "aws")]
pub mod tables;

use std::path::Path;

/// Rule settings: the alerter function's environment variables, here from the environment or
/// `--set NAME=VALUE`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RuleArgs {
    /// A rule setting, NAME=VALUE; repeat for more. Unset settings come from the environment
    /// variable of that name, then the default. Settings: DISABLED_RULES, SEVERITY_OVERRIDES,
    /// FILTERED_ROLES, ALLOWED_ACTORS, ADMIN_POLICY_ARNS, TRUSTED_ACCOUNTS, EXPECTED_NETWORKS,
    /// DENIED_EXCLUSIONS, WORKING_HOURS (07:00-19:00), WORKING_DAYS (mon-fri), TIME_ZONE (UTC),
    /// SEEN_LEARN_DAYS (14), SEEN_FORGET_DAYS (90), SEEN_SERVICE_READS (false).
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

/// Where queries run: Athena when a database is named (flag or `ATHENA_DATABASE`), else
/// DataFusion over the local lake.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArgs {
    /// The lake's directory, for local queries.
    #[arg(long, env = "IAT_LAKE", default_value = export::DEFAULT_LAKE)]
    pub lake: std::path::PathBuf,
    /// Key prefix inside the lake.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Run on the local lake even when ATHENA_DATABASE is set.
    #[arg(long)]
    pub local: bool,
    #[cfg(feature = "aws")]
    #[command(flatten)]
    pub athena: AthenaArgs,
}

/// Athena's settings (all from flags or the environment variables the report function reads).
#[cfg(feature = "aws")]
#[derive(Debug, Clone, clap::Args)]
pub struct AthenaArgs {
    /// Run on Athena: the Glue database holding the `events` table.
    #[arg(
        long = "athena-database",
        env = "ATHENA_DATABASE",
        value_name = "DATABASE"
    )]
    pub database: Option<String>,
    /// The Athena workgroup (its bytes-scanned cutoff applies).
    #[arg(
        long = "athena-workgroup",
        env = "ATHENA_WORKGROUP",
        default_value = "primary",
        value_name = "NAME"
    )]
    pub workgroup: String,
    /// Where Athena writes results (s3://bucket/prefix/), when the workgroup sets none.
    #[arg(
        long = "athena-output",
        env = "ATHENA_OUTPUT_LOCATION",
        value_name = "S3_URL"
    )]
    pub output: Option<String>,
    /// Stop a query that runs longer than this many seconds.
    #[arg(long = "athena-timeout", default_value_t = 300, value_name = "SECONDS")]
    pub timeout: u64,
    /// Athena's region (default: your configuration's region).
    #[arg(long = "athena-region", id = "athena_region", value_name = "REGION")]
    pub region: Option<String>,
    /// Reach Athena at this URL (an emulator such as moto) instead of AWS.
    #[arg(long = "athena-endpoint", value_name = "URL")]
    pub endpoint: Option<String>,
}

impl EngineArgs {
    /// The local lake, unless the queries run on Athena.
    pub fn local_lake(&self) -> Option<iat_local::sql::LocalLake> {
        #[cfg(feature = "aws")]
        if !self.local && self.athena.database.is_some() {
            return None;
        }
        Some(iat_local::sql::LocalLake::new(&self.lake, &self.prefix))
    }

    /// A line saying where data is expected when the local lake has no day of the range.
    pub fn empty_lake_hint(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
    ) -> Option<String> {
        let lake = self.local_lake()?;
        crate::hint::empty_lake(
            &lake,
            &self.lake,
            start,
            end,
            Path::new(crate::hint::DEMO_DIR),
        )
    }

    /// The engine these settings choose, with AWS `profile` for Athena. Call inside a Tokio
    /// runtime.
    pub async fn engine(
        &self,
        profile: Option<String>,
    ) -> anyhow::Result<Box<dyn iat_core::ports::QueryEngine>> {
        #[cfg(not(feature = "aws"))]
        let _ = profile;
        #[cfg(feature = "aws")]
        if let (false, Some(database)) = (self.local, &self.athena.database) {
            let a = &self.athena;
            if let Some(o) = a.output.as_ref().filter(|o| !o.starts_with("s3://")) {
                anyhow::bail!("--athena-output {o:?}: expected s3://bucket/prefix/");
            }
            if a.timeout == 0 {
                anyhow::bail!("--athena-timeout must be at least 1 second");
            }
            let config = iat_aws::sdk_config(&iat_aws::AwsSettings {
                region: a.region.clone(),
                profile,
                endpoint_url: a.endpoint.clone(),
                ..Default::default()
            })
            .await;
            if config.region().is_none() {
                anyhow::bail!(
                    "Athena needs a region: set --athena-region, AWS_REGION or a profile's region"
                );
            }
            let mut settings = iat_aws::AthenaSettings::new(database, &a.workgroup);
            settings.output_location = a.output.clone();
            settings.timeout = std::time::Duration::from_secs(a.timeout);
            return Ok(Box::new(iat_aws::AthenaQueryEngine::new(
                aws_sdk_athena::Client::new(&config),
                settings,
            )));
        }
        Ok(Box::new(iat_local::sql::LocalLake::new(
            &self.lake,
            &self.prefix,
        )))
    }
}
