//! A CloudTrail `LookupEvents` simulator: an HTTP server speaking the awsJson1.1 protocol, so the
//! real AWS SDK client can talk to it.
//!
//! It reproduces what the collector's correctness depends on: events per account (taken from
//! the SigV4 access key id when it is 12 digits) and region (from the SigV4 credential scope);
//! `MaxResults` 1–50; newest first; inclusive `StartTime`/`EndTime`; at most one lookup
//! attribute; a `NextToken` valid only with the parameters of its first call; the 90-day
//! horizon; a token bucket per account and region answering `ThrottlingException`; page latency;
//! events that become visible only after their delivery delay; duplicate deliveries; injected
//! server errors and dropped connections. Its clock can be real or set by the test.
//!
//! It also answers STS `AssumeRole` and `GetCallerIdentity`, so a collector reading many
//! accounts runs as in an organisation: an assumed role's access key id is its account's id,
//! which then selects that account's events; accounts can lack the role or be denied
//! `LookupEvents` by a service control policy.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Value, json};

/// How the simulated service behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Requests per second allowed per account and region (CloudTrail's is 2).
    pub rate_per_second: f64,
    /// Requests that may arrive at once before throttling starts.
    pub burst: f64,
    /// Each page takes a uniformly random time in this range.
    pub page_latency: (StdDuration, StdDuration),
    /// Fraction of requests answered with a 500 or 503.
    pub server_error_rate: f64,
    /// Fraction of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// How far back Event history reaches.
    pub horizon: Duration,
    /// Account for requests whose access key id is not an account id.
    pub default_account: String,
    /// Opt-in regions the account has enabled, for Account Management `ListRegions` (the 17
    /// default regions are always listed as enabled, the other opt-in ones as disabled).
    pub enabled_opt_in_regions: Vec<String>,
    /// Member accounts without the reader role: STS `AssumeRole` into them is denied.
    pub missing_roles: Vec<String>,
    /// Member accounts whose service control policy denies `cloudtrail:LookupEvents`.
    pub denied_accounts: Vec<String>,
    pub seed: u64,
}

/// The 17 opt-in commercial regions: listed by `ListRegions`, off until an account enables them.
pub const OPT_IN_REGIONS: [&str; 17] = [
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-south-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-west-1",
    "eu-central-2",
    "eu-south-1",
    "eu-south-2",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
];

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            rate_per_second: 2.0,
            burst: 2.0,
            page_latency: (StdDuration::ZERO, StdDuration::ZERO),
            server_error_rate: 0.0,
            drop_rate: 0.0,
            horizon: Duration::days(iat_core::time::EVENT_HISTORY_DAYS),
            default_account: "111122223333".to_owned(),
            enabled_opt_in_regions: Vec::new(),
            missing_roles: Vec::new(),
            denied_accounts: Vec::new(),
            seed: 1,
        }
    }
}

/// Counters of what the simulator answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    pub requests: u64,
    pub pages: u64,
    pub events_served: u64,
    pub throttled: u64,
    pub server_errors: u64,
    pub dropped: u64,
    pub invalid: u64,
    /// STS `AssumeRole` calls, granted or denied.
    pub assume_role: u64,
}

#[derive(Debug, Clone)]
struct HeldEvent {
    time: DateTime<Utc>,
    id: String,
    visible_at: DateTime<Utc>,
    source: String,
    name: String,
    username: Option<String>,
    access_key: Option<String>,
    read_only: Option<bool>,
    resources: Vec<(Option<String>, Option<String>)>,
    raw: String,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug)]
struct State {
    /// Per (account, region), sorted by (time, id).
    events: BTreeMap<(String, String), Vec<HeldEvent>>,
    sorted: bool,
    buckets: HashMap<(String, String), Bucket>,
    now: Option<DateTime<Utc>>,
    rng: ChaCha8Rng,
    stats: SimStats,
}

/// The simulator. Clone it freely: clones share state.
#[derive(Debug, Clone)]
pub struct Simulator {
    config: Arc<SimConfig>,
    state: Arc<Mutex<State>>,
}

/// Why a record could not be added.
#[derive(Debug, thiserror::Error)]
#[error("record cannot be served: {0}")]
pub struct AddError(String);

impl Simulator {
    pub fn new(config: SimConfig) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(config.seed);
        Self {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State {
                events: BTreeMap::new(),
                sorted: true,
                buckets: HashMap::new(),
                now: None,
                rng,
                stats: SimStats::default(),
            })),
        }
    }

    /// Freezes the simulator's clock at `now` (the real clock is used until this is called).
    pub fn set_now(&self, now: DateTime<Utc>) {
        self.state.lock().unwrap().now = Some(now);
    }

    /// Moves a frozen clock forward.
    pub fn advance(&self, by: Duration) {
        let mut s = self.state.lock().unwrap();
        let now = s.now.unwrap_or_else(Utc::now);
        s.now = Some(now + by);
    }

    /// The simulator's current time.
    pub fn now(&self) -> DateTime<Utc> {
        self.state.lock().unwrap().now.unwrap_or_else(Utc::now)
    }

    /// Events Event history would show now (delivered, inside the horizon).
    pub fn visible_count(&self) -> usize {
        let now = self.now();
        let st = self.state.lock().unwrap();
        st.events
            .values()
            .flatten()
            .filter(|e| e.visible_at <= now && e.time >= now - self.config.horizon)
            .count()
    }

    /// What the simulator has answered so far.
    pub fn stats(&self) -> SimStats {
        self.state.lock().unwrap().stats
    }

    /// Makes a record visible `delay` after its event time. Adding the same record twice makes
    /// it a duplicate delivery: it is served twice.
    pub fn add(&self, raw: &str, delay: Duration) -> Result<(), AddError> {
        let v: Value = serde_json::from_str(raw).map_err(|e| AddError(e.to_string()))?;
        let s = |p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_owned);
        let account = s("/recipientAccountId")
            .or_else(|| s("/userIdentity/accountId"))
            .ok_or_else(|| AddError("no account".into()))?;
        let region = s("/awsRegion").ok_or_else(|| AddError("no awsRegion".into()))?;
        let time = s("/eventTime")
            .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
            .ok_or_else(|| AddError("no eventTime".into()))?
            .with_timezone(&Utc);
        let username = s("/userIdentity/userName").or_else(|| {
            s("/userIdentity/arn").and_then(|a| a.rsplit('/').next().map(str::to_owned))
        });
        let resources = v
            .get("resources")
            .and_then(Value::as_array)
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        (
                            r.get("type").and_then(Value::as_str).map(str::to_owned),
                            r.get("ARN").and_then(Value::as_str).map(str::to_owned),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let held = HeldEvent {
            time,
            id: s("/eventID").ok_or_else(|| AddError("no eventID".into()))?,
            visible_at: time + delay,
            source: s("/eventSource").unwrap_or_default(),
            name: s("/eventName").unwrap_or_default(),
            username,
            access_key: s("/userIdentity/accessKeyId").filter(|k| !k.is_empty()),
            read_only: v.get("readOnly").and_then(Value::as_bool),
            resources,
            raw: raw.to_owned(),
        };
        let mut st = self.state.lock().unwrap();
        st.events.entry((account, region)).or_default().push(held);
        st.sorted = false;
        Ok(())
    }

    /// Serves on `addr` (use port 0 for a free one) until the returned handle is aborted.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let sim = self.clone();
        let handle = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let sim = sim.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let sim = sim.clone();
                        async move { sim.handle(req).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok((local, handle))
    }

    async fn handle(
        &self,
        req: Request<Incoming>,
    ) -> Result<Response<Full<Bytes>>, std::io::Error> {
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (account, region) = identity(&req, &self.config.default_account);
        let list_regions = req.uri().path() == "/listRegions";
        let body = req
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        if list_regions {
            // Account Management, not CloudTrail: no rate limit or faults of its own here.
            return Ok(self.list_regions(&body));
        }
        if body.starts_with(b"Action=") {
            // STS (the query protocol): no rate limit or faults of its own here.
            return Ok(self.sts(&account, &body));
        }
        let decision = {
            let mut st = self.state.lock().unwrap();
            st.stats.requests += 1;
            let roll: f64 = st.rng.random();
            if roll < self.config.drop_rate {
                st.stats.dropped += 1;
                Decision::Drop
            } else if roll < self.config.drop_rate + self.config.server_error_rate {
                st.stats.server_errors += 1;
                Decision::ServerError(if st.rng.random_bool(0.5) { 500 } else { 503 })
            } else if self.config.denied_accounts.contains(&account) {
                Decision::Denied
            } else if !take_token(&mut st, &self.config, &account, &region) {
                st.stats.throttled += 1;
                Decision::Throttle
            } else {
                let (lo, hi) = self.config.page_latency;
                let latency = if hi > lo {
                    st.rng.random_range(lo..=hi)
                } else {
                    lo
                };
                Decision::Serve(latency)
            }
        };
        let latency = match decision {
            Decision::Drop => {
                return Err(std::io::Error::other("connection dropped by the simulator"));
            }
            Decision::ServerError(code) => {
                let kind = if code == 500 {
                    "InternalFailure"
                } else {
                    "ServiceUnavailable"
                };
                return Ok(error(code, kind, "simulated server error"));
            }
            Decision::Throttle => return Ok(error(400, "ThrottlingException", "Rate exceeded")),
            Decision::Denied => {
                return Ok(error(
                    400,
                    "AccessDeniedException",
                    &format!(
                        "User: arn:aws:sts::{account}:assumed-role/reader/iat is not authorized to perform: cloudtrail:LookupEvents with an explicit deny in a service control policy"
                    ),
                ));
            }
            Decision::Serve(latency) => latency,
        };
        if !(target == "CloudTrail_20131101.LookupEvents"
            || target == "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents")
        {
            self.state.lock().unwrap().stats.invalid += 1;
            return Ok(error(
                400,
                "UnknownOperationException",
                &format!("unknown operation {target:?}"),
            ));
        }
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let out = self.lookup(&account, &region, &body);
        let mut st = self.state.lock().unwrap();
        match out {
            Ok((page, served)) => {
                st.stats.pages += 1;
                st.stats.events_served += served;
                Ok(respond(200, &page))
            }
            Err((kind, message)) => {
                st.stats.invalid += 1;
                Ok(error(400, kind, &message))
            }
        }
    }

    /// Account Management `ListRegions` (REST JSON): every commercial region with its opt-in
    /// status, `MaxResults` a page, the next index as the token.
    /// STS `AssumeRole` (credentials whose access key id is the role's account) and
    /// `GetCallerIdentity`, in the query protocol's XML.
    fn sts(&self, caller: &str, body: &[u8]) -> Response<Full<Bytes>> {
        let form: HashMap<String, String> = form_urlencoded::parse(body).into_owned().collect();
        let xml = |status: u16, text: String| {
            Response::builder()
                .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .header("content-type", "text/xml")
                .body(Full::new(Bytes::from(text)))
                .expect("a valid response")
        };
        let fault = |status: u16, code: &str, message: &str| {
            xml(
                status,
                format!(
                    "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>sim</RequestId></ErrorResponse>"
                ),
            )
        };
        match form.get("Action").map(String::as_str) {
            Some("GetCallerIdentity") => xml(
                200,
                format!(
                    "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:iam::{caller}:user/sim</Arn><UserId>AIDASIM</UserId><Account>{caller}</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></GetCallerIdentityResponse>"
                ),
            ),
            Some("AssumeRole") => {
                self.state.lock().unwrap().stats.assume_role += 1;
                let arn = form.get("RoleArn").cloned().unwrap_or_default();
                let parts: Vec<&str> = arn.splitn(6, ':').collect();
                let (account, role) = match parts.as_slice() {
                    ["arn", "aws", "iam", "", account, role]
                        if account.len() == 12 && role.starts_with("role/") =>
                    {
                        (
                            account.to_string(),
                            role.trim_start_matches("role/").to_owned(),
                        )
                    }
                    _ => return fault(400, "ValidationError", "RoleArn is not a role ARN"),
                };
                if self.config.missing_roles.contains(&account) {
                    return fault(
                        403,
                        "AccessDenied",
                        &format!(
                            "User: arn:aws:sts::{caller}:assumed-role/tracker/iat is not authorized to perform: sts:AssumeRole on resource: {arn}"
                        ),
                    );
                }
                let session = form.get("RoleSessionName").cloned().unwrap_or_default();
                let seconds: i64 = form
                    .get("DurationSeconds")
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(3600);
                // Wall time, not the simulated clock: the SDK judges expiry by its own.
                let expires = (Utc::now() + Duration::seconds(seconds))
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
                xml(
                    200,
                    format!(
                        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>{account}</AccessKeyId><SecretAccessKey>sim</SecretAccessKey><SessionToken>sim-{account}</SessionToken><Expiration>{expires}</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROASIM:{session}</AssumedRoleId><Arn>arn:aws:sts::{account}:assumed-role/{role}/{session}</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></AssumeRoleResponse>"
                    ),
                )
            }
            other => fault(
                400,
                "InvalidAction",
                &format!("the simulator does not serve STS {other:?}"),
            ),
        }
    }

    fn list_regions(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let req: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let size = req
            .get("MaxResults")
            .and_then(Value::as_u64)
            .unwrap_or(20)
            .clamp(1, 50) as usize;
        let from: usize = match req.get("NextToken").and_then(Value::as_str) {
            None => 0,
            Some(t) => match t.parse() {
                Ok(n) => n,
                Err(_) => return error(400, "ValidationException", "invalid NextToken"),
            },
        };
        let all: Vec<Value> = iat_core::DEFAULT_REGIONS
            .iter()
            .map(|r| json!({"RegionName": r, "RegionOptStatus": "ENABLED_BY_DEFAULT"}))
            .chain(OPT_IN_REGIONS.iter().map(|r| {
                let on = self.config.enabled_opt_in_regions.iter().any(|e| e == r);
                json!({"RegionName": r, "RegionOptStatus": if on { "ENABLED" } else { "DISABLED" }})
            }))
            .collect();
        let page: Vec<Value> = all.iter().skip(from).take(size).cloned().collect();
        let mut out = json!({ "Regions": page });
        if from + size < all.len() {
            out["NextToken"] = json!((from + size).to_string());
        }
        let mut r = respond(200, &out);
        r.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("application/json"),
        );
        r
    }

    fn lookup(
        &self,
        account: &str,
        region: &str,
        body: &[u8],
    ) -> Result<(Value, u64), (&'static str, String)> {
        let req: LookupRequest = serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
            .map_err(|e| ("SerializationException", e.to_string()))?;
        let max = req.max_results.unwrap_or(50);
        if !(1..=50).contains(&max) {
            return Err((
                "InvalidMaxResultsException",
                "MaxResults must be between 1 and 50".into(),
            ));
        }
        let attrs = req.lookup_attributes.unwrap_or_default();
        if attrs.len() > 1 {
            return Err((
                "InvalidLookupAttributesException",
                "Only one lookup attribute is allowed".into(),
            ));
        }
        let attr = attrs.into_iter().next();
        if let Some(a) = &attr {
            const KEYS: [&str; 8] = [
                "EventId",
                "EventName",
                "ReadOnly",
                "Username",
                "ResourceType",
                "ResourceName",
                "EventSource",
                "AccessKeyId",
            ];
            if !KEYS.contains(&a.key.as_str()) {
                return Err((
                    "InvalidLookupAttributesException",
                    format!("Unknown attribute key {}", a.key),
                ));
            }
        }
        let now = self.now();
        let to_time =
            |secs: f64| DateTime::<Utc>::from_timestamp_micros((secs * 1e6).round() as i64);
        let start = req.start_time.and_then(to_time);
        let end = req.end_time.and_then(to_time);
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            return Err((
                "InvalidTimeRangeException",
                format!("StartTime {s} is after EndTime {e}"),
            ));
        }
        let start = start
            .unwrap_or(now - self.config.horizon)
            .max(now - self.config.horizon);
        let end = end.unwrap_or(now);

        let mut h = DefaultHasher::new();
        (
            account,
            region,
            &attr,
            req.start_time.map(f64::to_bits),
            req.end_time.map(f64::to_bits),
            max,
        )
            .hash(&mut h);
        let fingerprint = format!("{:016x}", h.finish());
        // The cursor: the last (time, id) served; the next page is strictly older.
        let cursor = match &req.next_token {
            None => None,
            Some(t) => {
                let mut parts = t.splitn(3, ':');
                let (fp, us, id) = (parts.next(), parts.next(), parts.next());
                match (fp, us.and_then(|u| u.parse::<i64>().ok()), id) {
                    (Some(fp), Some(us), Some(id)) if fp == fingerprint => Some((
                        DateTime::<Utc>::from_timestamp_micros(us).unwrap_or(now),
                        id.to_owned(),
                    )),
                    _ => return Err(("InvalidNextTokenException", "Invalid NextToken".into())),
                }
            }
        };

        let mut st = self.state.lock().unwrap();
        if !st.sorted {
            for v in st.events.values_mut() {
                v.sort_by(|a, b| (a.time, &a.id).cmp(&(b.time, &b.id)));
            }
            st.sorted = true;
        }
        let Some(events) = st.events.get(&(account.to_owned(), region.to_owned())) else {
            return Ok((json!({"Events": []}), 0));
        };
        let lo = events.partition_point(|e| e.time < start);
        let hi = events.partition_point(|e| e.time <= end);
        let matches = |e: &HeldEvent| -> bool {
            let Some(a) = &attr else { return true };
            let v = a.value.as_str();
            match a.key.as_str() {
                "EventId" => e.id == v,
                "EventName" => e.name == v,
                "EventSource" => e.source == v,
                "Username" => e.username.as_deref() == Some(v),
                "AccessKeyId" => e.access_key.as_deref() == Some(v),
                "ReadOnly" => e.read_only.map(|b| b.to_string()).as_deref() == Some(v),
                "ResourceType" => e.resources.iter().any(|(t, _)| t.as_deref() == Some(v)),
                "ResourceName" => e
                    .resources
                    .iter()
                    .any(|(_, n)| n.as_deref().is_some_and(|n| n.ends_with(v))),
                _ => false,
            }
        };
        let mut page = Vec::new();
        let mut more = false;
        for e in events[lo..hi].iter().rev() {
            if e.visible_at > now || !matches(e) {
                continue;
            }
            if let Some((t, id)) = &cursor
                && (e.time, e.id.as_str()) >= (*t, id.as_str())
            {
                continue;
            }
            if page.len() == usize::from(max) {
                more = true;
                break;
            }
            page.push(e);
        }
        let next = if more {
            page.last()
                .map(|e| format!("{fingerprint}:{}:{}", e.time.timestamp_micros(), e.id))
        } else {
            None
        };
        let served = page.len() as u64;
        let events: Vec<Value> = page
            .iter()
            .map(|e| {
                json!({
                    "EventId": e.id,
                    "EventName": e.name,
                    "ReadOnly": e.read_only.map(|b| b.to_string()),
                    "AccessKeyId": e.access_key,
                    "EventTime": e.time.timestamp_micros() as f64 / 1e6,
                    "EventSource": e.source,
                    "Username": e.username,
                    "Resources": e.resources.iter().map(|(t, n)| json!({"ResourceType": t, "ResourceName": n})).collect::<Vec<_>>(),
                    "CloudTrailEvent": e.raw,
                })
            })
            .collect();
        let mut out = json!({ "Events": events });
        if let Some(n) = next {
            out["NextToken"] = json!(n);
        }
        Ok((out, served))
    }
}

enum Decision {
    Drop,
    ServerError(u16),
    Throttle,
    Denied,
    Serve(StdDuration),
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupRequest {
    lookup_attributes: Option<Vec<LookupAttribute>>,
    start_time: Option<f64>,
    end_time: Option<f64>,
    max_results: Option<u8>,
    next_token: Option<String>,
}

#[derive(Deserialize, Hash)]
struct LookupAttribute {
    #[serde(rename = "AttributeKey")]
    key: String,
    #[serde(rename = "AttributeValue")]
    value: String,
}

fn take_token(st: &mut State, config: &SimConfig, account: &str, region: &str) -> bool {
    let now = Instant::now();
    let bucket = st
        .buckets
        .entry((account.to_owned(), region.to_owned()))
        .or_insert(Bucket {
            tokens: config.burst,
            last: now,
        });
    let refill = now.duration_since(bucket.last).as_secs_f64() * config.rate_per_second;
    bucket.tokens = (bucket.tokens + refill).min(config.burst);
    bucket.last = now;
    if bucket.tokens >= 1.0 {
        bucket.tokens -= 1.0;
        true
    } else {
        false
    }
}

/// (account, region) from `Authorization: AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request`.
fn identity(req: &Request<Incoming>, default_account: &str) -> (String, String) {
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let credential = auth
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split([',', ' ']).next())
        .unwrap_or("");
    let mut parts = credential.split('/');
    let key = parts.next().unwrap_or("");
    let region = parts.nth(1).unwrap_or("us-east-1");
    let account = if key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()) {
        key.to_owned()
    } else {
        default_account.to_owned()
    };
    (account, region.to_owned())
}

fn respond(status: u16, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
        .header("content-type", "application/x-amz-json-1.1")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

fn error(status: u16, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let mut r = respond(status, &json!({"__type": kind, "message": message}));
    if let Ok(v) = hyper::header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r
}

/// Loads every record of the generator's trail files below `dir` (`.json.gz`), each made
/// visible `delay(record_index)` after its event time.
pub fn load_trail_files(
    sim: &Simulator,
    dir: &std::path::Path,
    delay: &mut dyn FnMut(usize) -> Duration,
) -> std::io::Result<usize> {
    use std::io::Read;
    let mut n = 0;
    let mut stack = vec![dir.to_owned()];
    let mut files = Vec::new();
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.to_string_lossy().ends_with(".json.gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    for f in files {
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(&f)?).read_to_string(&mut text)?;
        let doc: Value = serde_json::from_str(&text).map_err(std::io::Error::other)?;
        for r in doc["Records"].as_array().into_iter().flatten() {
            sim.add(&r.to_string(), delay(n))
                .map_err(std::io::Error::other)?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn list_regions_pages_through_every_region_once() {
        let sim = Simulator::new(SimConfig::default());
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut body = json!({"MaxResults": 20});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
            }
            let r = sim.list_regions(body.to_string().as_bytes());
            assert_eq!(r.status(), 200);
            let bytes = r.into_body().collect().await.unwrap().to_bytes();
            let page: Value = serde_json::from_slice(&bytes).unwrap();
            for region in page["Regions"].as_array().unwrap() {
                names.push(region["RegionName"].as_str().unwrap().to_owned());
            }
            match page["NextToken"].as_str() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        let all = iat_core::DEFAULT_REGIONS.len() + OPT_IN_REGIONS.len();
        assert_eq!(names.len(), all);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all, "a region listed twice");
        let bad = sim.list_regions(br#"{"NextToken": "x"}"#);
        assert_eq!(bad.status(), 400);
    }
}
