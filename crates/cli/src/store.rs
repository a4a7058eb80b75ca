//! One way to open the stores, for every command: `--store sqlite:PATH` (the default,
//! `./iat-data/iat.db`) or `--store dynamodb:EVENTS,CONTROL[,LEDGER]` (and `IAT_STORE`).
//!
//! A command asks for [`Stores`] and gets each part behind its port: events, checkpoints, the
//! "since the last run" feed, the alert ledger where the backend has one, and the optional
//! capabilities (summaries, SQLite's bulk loader) as `Option`s, so a command that needs one a
//! store lacks says so in one line. A new backend is one adapter crate and one `StoreSpec`
//! variant, with its arms in [`StoreSpec::parse`], `Display` and [`StoreArgs::open`] (the
//! compiler points at the other matches on it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use iat_core::ports::{
    AlertLedger, AlertLog, CheckpointStore, EventFeed, EventStore, SeenStore, StoreSummary,
};
use iat_local::SqliteStore;

/// Where the stores are, as `--store` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A local SQLite file holding everything.
    Sqlite(PathBuf),
    /// DynamoDB tables: events, control (checkpoints and marks), and the alert ledger.
    Dynamo {
        events: String,
        control: String,
        ledger: Option<String>,
    },
}

/// The forms `--store` takes, for messages.
const FORMS: &str = "sqlite:PATH or dynamodb:EVENTS,CONTROL[,LEDGER]";

impl StoreSpec {
    /// Parses `sqlite:PATH` or `dynamodb:EVENTS,CONTROL[,LEDGER]`.
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = spec
            .split_once(':')
            .with_context(|| format!("--store {spec:?}: expected {FORMS}"))?;
        match scheme {
            "sqlite" if !rest.trim().is_empty() => Ok(Self::Sqlite(PathBuf::from(rest))),
            "sqlite" => anyhow::bail!("--store {spec:?}: sqlite: needs a file path"),
            "dynamodb" => {
                let names: Vec<&str> = rest.split(',').map(str::trim).collect();
                if names.iter().any(|n| !valid_table_name(n)) || !(2..=3).contains(&names.len()) {
                    anyhow::bail!(
                        "--store {spec:?}: expected dynamodb:EVENTS,CONTROL[,LEDGER], table \
                         names of 3 to 255 letters, digits, '_', '-' or '.'"
                    );
                }
                Ok(Self::Dynamo {
                    events: names[0].to_owned(),
                    control: names[1].to_owned(),
                    ledger: names.get(2).map(|n| (*n).to_owned()),
                })
            }
            other => anyhow::bail!("--store {spec:?}: unknown kind {other:?}; expected {FORMS}"),
        }
    }

    /// The SQLite file, for a local store.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Self::Sqlite(p) => Some(p),
            Self::Dynamo { .. } => None,
        }
    }
}

fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

impl fmt::Display for StoreSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(p) => write!(f, "sqlite:{}", p.display()),
            Self::Dynamo {
                events,
                control,
                ledger,
            } => {
                write!(f, "dynamodb:{events},{control}")?;
                ledger.iter().try_for_each(|l| write!(f, ",{l}"))
            }
        }
    }
}

/// The store options every command takes (documented in `iat --help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct StoreArgs {
    /// Where events, checkpoints and the alert ledger are: `sqlite:PATH`, a local file
    /// (default sqlite:./iat-data/iat.db), or `dynamodb:EVENTS,CONTROL[,LEDGER]`, the tables of
    /// a deployment or of `iat create-tables` (LEDGER is needed to send alerts).
    #[arg(long, global = true, env = "IAT_STORE", value_name = "STORE")]
    pub store: Option<String>,
    /// The same as --store sqlite:PATH.
    #[arg(long, global = true, env = "IAT_DB", value_name = "PATH", hide = true)]
    pub db: Option<PathBuf>,
    /// Region of DynamoDB tables (default: your configuration's region, else us-east-1).
    #[cfg(feature = "aws")]
    #[arg(long, global = true, value_name = "REGION")]
    pub dynamodb_region: Option<String>,
    /// Reach DynamoDB at this URL (an emulator such as moto) instead of AWS.
    #[cfg(feature = "aws")]
    #[arg(long, global = true, value_name = "URL")]
    pub dynamodb_endpoint: Option<String>,
    /// AWS profile (for DynamoDB, Athena and CloudTrail).
    #[cfg(feature = "aws")]
    #[arg(long, global = true)]
    pub profile: Option<String>,
}

/// How a command opens its stores.
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Create a missing SQLite file (commands that write); otherwise a missing store is an
    /// error that says how to fill one.
    pub create: bool,
    /// SQLite page cache in MiB, for commands that stream through the file once.
    pub cache_mib: Option<u32>,
    /// Events expire this long after their time (DynamoDB TTL).
    pub retention: Option<chrono::Duration>,
}

/// The opened stores.
pub struct Stores {
    pub spec: StoreSpec,
    pub events: Arc<dyn EventStore>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub feed: Arc<dyn EventFeed>,
    /// Where sent alerts are recorded; `None` for DynamoDB without a ledger table.
    pub ledger: Option<Arc<dyn AlertLedger>>,
    /// What was sent, for people to read back and acknowledge (the console): the SQLite file's,
    /// or the control table's items `ALERTLOG` on DynamoDB.
    pub alert_log: Option<Arc<dyn AlertLog>>,
    /// The first-seen state (the SQLite file, or the control table).
    pub seen: Arc<dyn SeenStore>,
    /// Counts by column and recent quarantine, where the store has them cheaply.
    pub summary: Option<Arc<dyn StoreSummary>>,
    /// The SQLite file itself, for its bulk loader (`iat ingest`).
    pub sqlite: Option<Arc<SqliteStore>>,
    /// How the last event query was answered and what the queries read, where the store
    /// bills reads (DynamoDB).
    pub reads: Option<Arc<dyn Fn() -> Option<String> + Send + Sync>>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl Stores {
    /// The alert ledger, or an error saying how to name one.
    pub fn ledger(&self) -> anyhow::Result<Arc<dyn AlertLedger>> {
        self.ledger.clone().with_context(|| {
            format!(
                "--store {}: sending alerts needs the alert ledger table, which records what \
                 was sent: --store dynamodb:EVENTS,CONTROL,LEDGER",
                self.spec
            )
        })
    }

    /// The SQLite store, or an error saying that `what` needs one.
    pub fn sqlite(&self, what: &str) -> anyhow::Result<Arc<SqliteStore>> {
        self.sqlite.clone().with_context(|| {
            format!(
                "--store {}: {what} is not supported by this store; it writes to a SQLite \
                 store (--store sqlite:PATH)",
                self.spec
            )
        })
    }
}

impl StoreArgs {
    /// What `--store` (or the older `--db`) names; SQLite at the default path when neither.
    pub fn spec(&self) -> anyhow::Result<StoreSpec> {
        match (&self.store, &self.db) {
            (Some(s), _) => StoreSpec::parse(s),
            (None, Some(db)) => Ok(StoreSpec::Sqlite(db.clone())),
            (None, None) => Ok(StoreSpec::Sqlite(PathBuf::from(iat_local::DEFAULT_DB_PATH))),
        }
    }

    /// Opens the stores; a store that cannot be read fails here, once, with what to do.
    pub fn open(&self, options: OpenOptions) -> anyhow::Result<Stores> {
        let spec = self.spec()?;
        match &spec {
            StoreSpec::Sqlite(path) => {
                if !options.create && !path.exists() {
                    anyhow::bail!(crate::hint::missing_store(
                        path,
                        Path::new(crate::hint::DEMO_DIR)
                    ));
                }
                let db = Arc::new(SqliteStore::open(path).with_context(|| {
                    format!(
                        "cannot open the database {} (--store, IAT_STORE)",
                        path.display()
                    )
                })?);
                if let Some(mib) = options.cache_mib {
                    db.set_cache_mib(mib)?;
                }
                Ok(Stores {
                    spec: spec.clone(),
                    events: db.clone(),
                    checkpoints: db.clone(),
                    feed: db.clone(),
                    ledger: Some(db.clone()),
                    alert_log: Some(db.clone()),
                    seen: db.clone(),
                    summary: Some(db.clone()),
                    sqlite: Some(db),
                    reads: None,
                })
            }
            #[cfg(feature = "aws")]
            StoreSpec::Dynamo {
                events,
                control,
                ledger,
            } => crate::runtime()?
                .block_on(self.open_dynamo(&spec, events, control, ledger, options)),
            #[cfg(not(feature = "aws"))]
            StoreSpec::Dynamo { .. } => anyhow::bail!(
                "--store {spec}: this build of iat has no AWS support (build with the `aws` feature)"
            ),
        }
    }

    #[cfg(feature = "aws")]
    async fn open_dynamo(
        &self,
        spec: &StoreSpec,
        events: &str,
        control: &str,
        ledger: &Option<String>,
        options: OpenOptions,
    ) -> anyhow::Result<Stores> {
        use iat_aws::{
            DynamoAlertLedger, DynamoCheckpointStore, DynamoEventFeed, DynamoEventStore,
        };
        let client = self.dynamodb().await;
        let store = Arc::new(
            DynamoEventStore::new(client.clone(), events).with_retention(options.retention),
        );
        let checkpoints = Arc::new(DynamoCheckpointStore::new(client.clone(), control));
        // A missing table or unreachable endpoint fails here, once, not per stream or page.
        store.check().await?;
        checkpoints.list().await?;
        let ledger = ledger.as_ref().map(|table| {
            Arc::new(DynamoAlertLedger::new(
                client.clone(),
                table,
                DynamoAlertLedger::DEFAULT_RETENTION,
            )) as Arc<dyn AlertLedger>
        });
        let meter = store.clone();
        let reads = Arc::new(move || {
            let report = meter.read_report();
            report.last_path.map(|path| {
                format!(
                    "read {path}: {} requests, {} items, {:.1} read units",
                    report.requests, report.items_read, report.read_units
                )
            })
        });
        Ok(Stores {
            reads: Some(reads),
            spec: spec.clone(),
            seen: Arc::new(iat_aws::DynamoSeenStore::new(client.clone(), control)),
            feed: Arc::new(DynamoEventFeed::new(store.clone(), client.clone(), control)),
            events: store,
            checkpoints,
            ledger,
            alert_log: Some(Arc::new(iat_aws::DynamoAlertLog::new(
                client.clone(),
                control,
            ))),
            summary: None,
            sqlite: None,
        })
    }

    /// A DynamoDB client for these settings.
    #[cfg(feature = "aws")]
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        let mut config = iat_aws::sdk_config(&iat_aws::AwsSettings {
            region: self.dynamodb_region.clone(),
            profile: self.profile.clone(),
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

    /// The AWS profile given, if any.
    pub fn profile(&self) -> Option<String> {
        #[cfg(feature = "aws")]
        return self.profile.clone();
        #[cfg(not(feature = "aws"))]
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_specs_parse_and_print_back() {
        for s in [
            "sqlite:./iat-data/iat.db",
            "dynamodb:iat-events,iat-control",
            "dynamodb:iat-events,iat-control,iat-alert-ledger",
        ] {
            assert_eq!(StoreSpec::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            StoreSpec::parse("dynamodb: ev-t , ctl-t ").unwrap(),
            StoreSpec::Dynamo {
                events: "ev-t".into(),
                control: "ctl-t".into(),
                ledger: None
            }
        );
    }

    #[test]
    fn bad_store_specs_say_what_is_expected() {
        for (bad, says) in [
            ("./iat.db", "expected sqlite:PATH or dynamodb:"),
            ("sqlite:", "needs a file path"),
            ("postgres:x", "unknown kind \"postgres\""),
            ("dynamodb:events", "EVENTS,CONTROL[,LEDGER]"),
            ("dynamodb:a,b,c,d", "EVENTS,CONTROL[,LEDGER]"),
            ("dynamodb:events,con trol", "letters, digits"),
            ("dynamodb:ev,control", "3 to 255"),
        ] {
            let e = StoreSpec::parse(bad).unwrap_err().to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains(bad), "the message quotes what was given: {e}");
        }
    }

    #[test]
    fn store_wins_over_the_old_db_option() {
        let args = StoreArgs {
            store: Some("sqlite:a.db".into()),
            db: Some("b.db".into()),
            ..Default::default()
        };
        assert_eq!(args.spec().unwrap(), StoreSpec::Sqlite("a.db".into()));
        let args = StoreArgs {
            db: Some("b.db".into()),
            ..Default::default()
        };
        assert_eq!(args.spec().unwrap(), StoreSpec::Sqlite("b.db".into()));
        assert_eq!(
            StoreArgs::default().spec().unwrap(),
            StoreSpec::Sqlite(iat_local::DEFAULT_DB_PATH.into())
        );
    }

    #[test]
    fn a_missing_sqlite_store_is_an_error_only_for_readers() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("new.db");
        let args = StoreArgs {
            store: Some(format!("sqlite:{}", path.display())),
            ..Default::default()
        };
        let e = args.open(OpenOptions::default()).err().unwrap().to_string();
        assert!(
            e.contains("no database at") && e.contains("iat ingest"),
            "{e}"
        );
        let stores = args
            .open(OpenOptions {
                create: true,
                ..Default::default()
            })
            .unwrap();
        assert!(stores.ledger.is_some() && stores.summary.is_some() && stores.sqlite.is_some());
        assert!(path.exists());
    }
}
