//! The `EventSource` port on CloudTrail `LookupEvents`.
//!
//! One client per region, built from one SDK configuration, so retries, timeouts, endpoint and
//! credentials are the SDK's, except that a throttled request is left to the caller, whose pace
//! sends it again (the SDK would resend it outside that pace); sources of other accounts share
//! those clients and send their own credentials with each request (a thousand accounts are a
//! thousand credentials, not 17,000 clients); each page reports how many attempts the SDK
//! retried, so faults it absorbed still show. The port's query maps one to one onto the API's parameters; the caller
//! owns paging and rate control.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;
use aws_sdk_cloudtrail::primitives::DateTime as SdkDateTime;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, Utc};
use iat_core::ports::{EventPage, EventSource, LookupQuery, PageToken};
use iat_core::{AccountId, Error, Region};

use crate::error::sdk_error;

const BACKEND: &str = "cloudtrail";

/// One `LookupEvents` client per region, built when first used.
#[derive(Debug)]
struct RegionClients {
    config: aws_config::SdkConfig,
    clients: Mutex<HashMap<Region, Client>>,
}

impl RegionClients {
    fn client(&self, region: &Region) -> Client {
        let mut clients = self.clients.lock().unwrap();
        clients
            .entry(region.clone())
            .or_insert_with(|| {
                let conf = aws_sdk_cloudtrail::config::Builder::from(&self.config)
                    .region(aws_config::Region::new(region.to_string()))
                    .retry_classifier(ThrottlesToTheCaller)
                    .build();
                Client::from_conf(conf)
            })
            .clone()
    }
}

/// CloudTrail Event history of one account, in any region.
#[derive(Debug)]
pub struct CloudTrailEventSource {
    clients: Arc<RegionClients>,
    account: AccountId,
    /// Sent with each request in place of the clients' own credentials (another account's).
    credentials: Option<SharedCredentialsProvider>,
    /// SDK retries of requests that failed in the end, per region: reported with the region's
    /// next page, so the totals count every retry.
    unreported_retries: Mutex<HashMap<Region, u32>>,
}

impl CloudTrailEventSource {
    /// Reads `account`'s Event history with the credentials in `config`.
    pub fn new(config: &aws_config::SdkConfig, account: AccountId) -> Self {
        Self {
            clients: Arc::new(RegionClients {
                config: config.clone(),
                clients: Mutex::new(HashMap::new()),
            }),
            account,
            credentials: None,
            unreported_retries: Mutex::new(HashMap::new()),
        }
    }

    /// Reads `account`'s Event history with `credentials`, through this source's clients.
    /// The provider is kept as given, so the clients' credentials cache keeps one entry for
    /// it (renewed before expiry) rather than one per request.
    pub fn acting_as(&self, account: AccountId, credentials: SharedCredentialsProvider) -> Self {
        Self {
            clients: Arc::clone(&self.clients),
            account,
            credentials: Some(credentials),
            unreported_retries: Mutex::new(HashMap::new()),
        }
    }
}

/// Leaves a throttled `LookupEvents` to the caller instead of the SDK's retry: the SDK would send
/// it again after its own backoff, outside the caller's pace for the account-region (which
/// learns of it only when the page comes back), so every retry of a throttle would be one more
/// request against an allowance already spent. The caller's collector retries it in its pace
/// and slows the pace down. Server errors and dropped connections are still the SDK's to retry.
#[derive(Debug, Clone, Copy)]
struct ThrottlesToTheCaller;

impl aws_sdk_cloudtrail::config::retry::ClassifyRetry for ThrottlesToTheCaller {
    fn classify_retry(
        &self,
        ctx: &aws_sdk_cloudtrail::config::interceptors::InterceptorContext,
    ) -> aws_sdk_cloudtrail::config::retry::RetryAction {
        use aws_sdk_cloudtrail::config::retry::RetryAction;
        let throttled = ctx
            .output_or_error()
            .and_then(|r| r.err())
            .and_then(|e| e.as_operation_error())
            .and_then(|e| e.downcast_ref::<LookupEventsError>())
            .is_some_and(|e| {
                aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(e)
                    == Some("ThrottlingException")
            });
        if throttled {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "ThrottlesToTheCaller"
    }

    fn priority(
        &self,
    ) -> aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority {
        use aws_smithy_runtime_api::client::retries::classifiers::RetryClassifierPriority;
        // After the SDK's own classifiers, which would retry it.
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Counts a request's attempts (the first and each SDK retry).
#[derive(Debug, Clone, Default)]
struct Attempts(Arc<AtomicU32>);

impl aws_sdk_cloudtrail::config::Intercept for Attempts {
    fn name(&self) -> &'static str {
        "CountAttempts"
    }

    fn read_before_attempt(
        &self,
        _context: &aws_sdk_cloudtrail::config::interceptors::BeforeTransmitInterceptorContextRef<
            '_,
        >,
        _components: &aws_sdk_cloudtrail::config::RuntimeComponents,
        _cfg: &mut aws_sdk_cloudtrail::config::ConfigBag,
    ) -> Result<(), aws_sdk_cloudtrail::error::BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn sdk_time(t: DateTime<Utc>) -> SdkDateTime {
    SdkDateTime::from_secs_and_nanos(t.timestamp(), t.timestamp_subsec_nanos())
}

#[async_trait]
impl EventSource for CloudTrailEventSource {
    async fn lookup(
        &self,
        query: &LookupQuery,
        token: Option<&PageToken>,
    ) -> Result<EventPage, Error> {
        if query.account != self.account {
            return Err(Error::invalid(
                "account",
                query.account.to_string(),
                format!("this source reads account {}", self.account),
            ));
        }
        let mut req = self
            .clients
            .client(&query.region)
            .lookup_events()
            .start_time(sdk_time(query.window.start()))
            .end_time(sdk_time(query.window.end()))
            .max_results(i32::from(query.max_results()));
        if let Some(source) = &query.event_source {
            let attr = LookupAttribute::builder()
                .attribute_key(LookupAttributeKey::EventSource)
                .attribute_value(source)
                .build()
                .map_err(|e| Error::backend(BACKEND, "LookupEvents", e))?;
            req = req.lookup_attributes(attr);
        }
        if let Some(t) = token {
            req = req.next_token(&t.0);
        }
        let attempts = Attempts::default();
        let mut req = req.customize().interceptor(attempts.clone());
        if let Some(credentials) = &self.credentials {
            let mut own = aws_sdk_cloudtrail::config::Builder::default();
            own.set_credentials_provider(Some(credentials.clone()));
            req = req.config_override(own);
        }
        let sent = req.send().await;
        let mut retries = attempts.0.load(Ordering::Relaxed).saturating_sub(1);
        {
            let mut unreported = self.unreported_retries.lock().unwrap();
            let pending = unreported.entry(query.region.clone()).or_default();
            if sent.is_err() {
                *pending += retries;
            } else {
                retries += std::mem::take(pending);
            }
        }
        let out = sent.map_err(|e| match e.as_service_error() {
            Some(LookupEventsError::InvalidNextTokenException(_)) => Error::InvalidPageToken,
            Some(err)
                if aws_sdk_cloudtrail::error::ProvideErrorMetadata::code(err)
                    == Some("ThrottlingException") =>
            {
                Error::Throttled {
                    service: BACKEND,
                    operation: "LookupEvents",
                    region: query.region.to_string(),
                }
            }
            _ => sdk_error(
                BACKEND,
                "LookupEvents",
                Some(format!("{} in {}", self.account, query.region)),
                e,
            ),
        })?;
        let mut records = Vec::with_capacity(out.events().len());
        for event in out.events() {
            match event.cloud_trail_event() {
                Some(raw) => records.push(raw.to_owned()),
                None => tracing::warn!(
                    event_id = event.event_id().unwrap_or("-"),
                    "event without CloudTrailEvent skipped"
                ),
            }
        }
        Ok(EventPage {
            records,
            next: out.next_token().map(|t| PageToken(t.to_owned())),
            retries,
        })
    }
}
