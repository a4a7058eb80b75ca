//! Event history of many accounts through one collector: each member account read with the
//! credentials of its reader role, assumed from the collector's own account.
//!
//! The decision to know: each account has its own [`CloudTrailEventSource`] on its own
//! credentials (assumed once, cached by the SDK and renewed before they expire), so the
//! collector's per-(account, region) limiters match CloudTrail's per-account limit; every
//! account's requests go through the same per-region clients, each request signed with its
//! account's credentials. An account whose role cannot be assumed fails only its own streams,
//! with an error naming the role and what to fix; the failure is remembered for
//! [`RETRY_ASSUME_AFTER`] so its many streams do not each call STS again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_config::sts::AssumeRoleProvider;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use iat_core::Error;
use iat_core::model::AccountId;
use iat_core::ports::{EventPage, EventSource, LookupQuery, PageToken};

use crate::CloudTrailEventSource;

/// How long a failed `AssumeRole` is remembered before it is tried again.
pub const RETRY_ASSUME_AFTER: Duration = Duration::from_secs(300);

/// `LookupEvents` requests in flight at once, across every account and region. Each account
/// and region may send 2 a second, so a thousand accounts could have tens of thousands of
/// requests open, one connection each; Lambda allows a function 1,024 file descriptors. The
/// cap keeps connections (and memory) bounded; the per-region limiters still pace each stream.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 256;

/// The role the collector assumes in each member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAccess {
    /// The role's name, the same in every account (the member stack set creates it).
    pub role_name: String,
    /// The external id the role's trust policy requires, if any.
    pub external_id: Option<String>,
    /// `RoleSessionName`, seen in the member accounts' own CloudTrail.
    pub session_name: String,
}

impl MemberAccess {
    pub fn role_arn(&self, account: &AccountId) -> String {
        format!("arn:aws:iam::{account}:role/{}", self.role_name)
    }
}

#[derive(Debug)]
enum Slot {
    Ready(Arc<CloudTrailEventSource>, Box<aws_config::SdkConfig>),
    Failed { error: String, at: Instant },
}

/// Event history of the collector's own account (its own credentials) and of member accounts
/// (their reader role's).
#[derive(Debug)]
pub struct MemberEventSource {
    base: aws_config::SdkConfig,
    home: AccountId,
    home_source: Arc<CloudTrailEventSource>,
    access: MemberAccess,
    /// Per account, so accounts assume their roles concurrently and each only once.
    slots: std::sync::Mutex<HashMap<AccountId, Arc<tokio::sync::Mutex<Option<Slot>>>>>,
    in_flight: tokio::sync::Semaphore,
}

impl MemberEventSource {
    /// Reads `home` with the credentials in `base`, and every other account through `access`.
    pub fn new(base: &aws_config::SdkConfig, home: AccountId, access: MemberAccess) -> Self {
        // Every account and region has its own SDK client; without a client of `base` they
        // would each build their own HTTPS stack (connection pool, TLS roots: ~280 KB), 17 per
        // account. One shared client keeps a thousand accounts in the function's memory.
        let base = match base.http_client() {
            Some(_) => base.clone(),
            None => base
                .clone()
                .into_builder()
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                        ))
                        .build_https(),
                )
                .build(),
        };
        let base = &base;
        Self {
            home_source: Arc::new(CloudTrailEventSource::new(base, home.clone())),
            base: base.clone(),
            home,
            access,
            slots: std::sync::Mutex::new(HashMap::new()),
            in_flight: tokio::sync::Semaphore::new(MAX_LOOKUPS_IN_FLIGHT),
        }
    }

    /// Accounts whose role could not be assumed, with the reason.
    pub async fn failed_accounts(&self) -> Vec<(AccountId, String)> {
        let cells: Vec<_> = self
            .slots
            .lock()
            .expect("lock")
            .iter()
            .map(|(a, c)| (a.clone(), c.clone()))
            .collect();
        let mut out = Vec::new();
        for (account, cell) in cells {
            if let Some(Slot::Failed { error, .. }) = &*cell.lock().await {
                out.push((account, error.clone()));
            }
        }
        out.sort();
        out
    }

    /// The SDK configuration that acts as `account` (its reader role's credentials, or the
    /// collector's own for its own account), for the account's other calls (its regions).
    pub async fn account_config(
        &self,
        account: &AccountId,
    ) -> Result<aws_config::SdkConfig, Error> {
        Ok(self.slot(account).await?.1)
    }

    async fn source(&self, account: &AccountId) -> Result<Arc<CloudTrailEventSource>, Error> {
        Ok(self.slot(account).await?.0)
    }

    async fn slot(
        &self,
        account: &AccountId,
    ) -> Result<(Arc<CloudTrailEventSource>, aws_config::SdkConfig), Error> {
        if *account == self.home {
            return Ok((self.home_source.clone(), self.base.clone()));
        }
        let cell = self
            .slots
            .lock()
            .expect("lock")
            .entry(account.clone())
            .or_default()
            .clone();
        // One STS call per account at a time: its lock is held while assuming.
        let mut slot = cell.lock().await;
        match &*slot {
            Some(Slot::Ready(source, config)) => {
                return Ok((source.clone(), (**config).clone()));
            }
            Some(Slot::Failed { error, at }) if at.elapsed() < RETRY_ASSUME_AFTER => {
                return Err(self.assume_error(account, error.clone()));
            }
            _ => {}
        }
        let role = self.access.role_arn(account);
        let mut builder = AssumeRoleProvider::builder(&role)
            .session_name(&self.access.session_name)
            .configure(&self.base);
        if let Some(id) = &self.access.external_id {
            builder = builder.external_id(id);
        }
        let provider = builder.build().await;
        // Assumed now, so a missing or refusing role is one clear error, not a failure inside
        // every stream's first request.
        match provider.provide_credentials().await {
            Ok(first) => {
                let primed = Primed {
                    first: std::sync::Mutex::new(Some(first)),
                    inner: provider,
                };
                let credentials = SharedCredentialsProvider::new(primed);
                let config = self
                    .base
                    .clone()
                    .into_builder()
                    .credentials_provider(credentials.clone())
                    .build();
                let source = Arc::new(self.home_source.acting_as(account.clone(), credentials));
                *slot = Some(Slot::Ready(source.clone(), Box::new(config.clone())));
                Ok((source, config))
            }
            Err(e) => {
                // The error's sources are where the SDK puts STS's own message.
                let error = crate::error::chain(&e);
                tracing::warn!(account = %account, role = %role, error = %error, "cannot assume the member role");
                *slot = Some(Slot::Failed {
                    error: error.clone(),
                    at: Instant::now(),
                });
                Err(self.assume_error(account, error))
            }
        }
    }

    fn assume_error(&self, account: &AccountId, error: String) -> Error {
        Error::backend(
            "sts",
            "AssumeRole",
            format!(
                "cannot assume {} ({error}): deploy the member stack set to account {account} \
                 (make deploy-members), and check that its trust policy names this stack's \
                 tracker role and external id",
                self.access.role_arn(account)
            ),
        )
    }
}

/// The credentials already assumed, handed out first; then the role assumed again whenever
/// the SDK's cache finds them about to expire.
#[derive(Debug)]
struct Primed {
    first: std::sync::Mutex<Option<aws_credential_types::Credentials>>,
    inner: AssumeRoleProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().expect("lock").take() {
            Some(credentials) => {
                aws_credential_types::provider::future::ProvideCredentials::ready(Ok(credentials))
            }
            None => self.inner.provide_credentials(),
        }
    }
}

#[async_trait]
impl EventSource for MemberEventSource {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        let source = self.source(&query.account).await?;
        let _permit = self.in_flight.acquire().await.expect("never closed");
        source.lookup(query, token).await
    }
}
