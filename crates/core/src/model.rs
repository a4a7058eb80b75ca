//! The normalised event and the newtypes that give meaning to its strings.
//!
//! [`ActivityEvent`] is what every other part of the system works with. It keeps the original
//! record text losslessly in `raw`, and the JSON documents inside it (`requestParameters`, ...)
//! as byte ranges of that text, so normalising copies each record once and parses each document
//! only when something asks for it.

use std::fmt;
use std::net::IpAddr;
use std::ops::Range;

use chrono::{DateTime, Utc};
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use crate::denial::{DenialLayer, DenyKind};
use crate::error::{Error, Result};

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The value as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::new(s)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// A CloudTrail `eventID`: non-empty, at most 128 characters, no control characters.
    EventId
);
string_newtype!(
    /// An AWS region code such as `us-east-1` or `us-gov-west-1`.
    Region
);
string_newtype!(
    /// A 12-digit AWS account id.
    AccountId
);
string_newtype!(
    /// The id of an alert rule: lowercase letters, digits, `_`, `-` and `.`.
    RuleId
);

impl EventId {
    /// Validates an event id.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
            return Err(Error::invalid(
                "event id",
                s,
                "must be 1-128 printable characters",
            ));
        }
        Ok(Self(s))
    }
}

/// The 17 regions enabled by default in every AWS account (opt-in regions must be enabled).
pub const DEFAULT_REGIONS: [&str; 17] = [
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-southeast-1",
    "ap-southeast-2",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "sa-east-1",
];

impl Region {
    /// Validates a region code (`xx-name-N`, any number of name parts).
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if !is_region_code(&s) {
            return Err(Error::invalid(
                "region",
                s,
                "expected a region code such as us-east-1",
            ));
        }
        Ok(Self(s))
    }

    /// A region as a record wrote it: any short printable text, so a record with an anonymised
    /// or unknown region code is kept (flagged by the normaliser), never refused. Configuration
    /// uses [`Region::new`].
    pub fn recorded(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if !is_recorded_text(&s) {
            return Err(Error::invalid(
                "region",
                s,
                "must be 1-64 printable characters",
            ));
        }
        Ok(Self(s))
    }

    /// True for a region code of the usual shape (`xx-name-N`).
    pub fn is_code(&self) -> bool {
        is_region_code(&self.0)
    }

    /// `us-east-1`, where IAM, global STS and most console sign-in events are recorded.
    pub fn us_east_1() -> Self {
        Self("us-east-1".to_owned())
    }
}

impl AccountId {
    /// Validates a 12-digit account id.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if !is_account_id(&s) {
            return Err(Error::invalid("account id", s, "must be 12 digits"));
        }
        Ok(Self(s))
    }

    /// An account id as a record wrote it (anonymised, 13 digits, ...): any short printable
    /// text, kept and flagged by the normaliser rather than dropped.
    pub fn recorded(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        if !is_recorded_text(&s) {
            return Err(Error::invalid(
                "account id",
                s,
                "must be 1-64 printable characters",
            ));
        }
        Ok(Self(s))
    }

    /// True for a 12-digit account id.
    pub fn is_valid(&self) -> bool {
        is_account_id(&self.0)
    }
}

/// True for a region code of the usual shape: `xx-name-N`, any number of lowercase name parts.
pub fn is_region_code(s: &str) -> bool {
    let Some((names, number)) = s.rsplit_once('-') else {
        return false;
    };
    let word = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    let Some((first, rest)) = names.split_once('-') else {
        return false;
    };
    !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
        && first.len() >= 2
        && word(first)
        && rest.split('-').all(word)
}

/// True for a 12-digit account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// What a record's identifying text must be to be kept: 1-64 characters, none of them control
/// characters or spaces at the ends.
fn is_recorded_text(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.trim() == s && !s.chars().any(char::is_control)
}

impl RuleId {
    /// Validates a rule id.
    pub fn new(s: impl Into<String>) -> Result<Self> {
        let s = s.into();
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b));
        if !ok {
            return Err(Error::invalid("rule id", s, "use 1-64 of a-z, 0-9, _ - ."));
        }
        Ok(Self(s))
    }
}

/// How urgent an alert is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// The lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl std::str::FromStr for Severity {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(Error::invalid(
                "severity",
                s,
                "expected low, medium, high or critical",
            )),
        }
    }
}

/// One collection stream: the events of one event source in one account and region.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
pub struct StreamKey {
    pub account: AccountId,
    pub region: Region,
    /// An event source such as `iam.amazonaws.com`, or `*` for all management events.
    pub source: String,
}

impl fmt::Display for StreamKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.account, self.region, self.source)
    }
}

/// CloudTrail's `eventType`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EventType {
    AwsApiCall,
    AwsServiceEvent,
    AwsConsoleAction,
    AwsConsoleSignIn,
    AwsCloudTrailInsight,
    AwsVpceEvent,
    /// A type this version does not know, kept as written.
    Other(String),
}

impl EventType {
    pub(crate) fn parse(s: &str) -> Self {
        match s {
            "AwsApiCall" => EventType::AwsApiCall,
            "AwsServiceEvent" => EventType::AwsServiceEvent,
            "AwsConsoleAction" => EventType::AwsConsoleAction,
            "AwsConsoleSignIn" => EventType::AwsConsoleSignIn,
            "AwsCloudTrailInsight" => EventType::AwsCloudTrailInsight,
            "AwsVpceEvent" => EventType::AwsVpceEvent,
            other => EventType::Other(other.to_owned()),
        }
    }

    /// The CloudTrail spelling.
    pub fn as_str(&self) -> &str {
        match self {
            EventType::AwsApiCall => "AwsApiCall",
            EventType::AwsServiceEvent => "AwsServiceEvent",
            EventType::AwsConsoleAction => "AwsConsoleAction",
            EventType::AwsConsoleSignIn => "AwsConsoleSignIn",
            EventType::AwsCloudTrailInsight => "AwsCloudTrailInsight",
            EventType::AwsVpceEvent => "AwsVpceEvent",
            EventType::Other(s) => s,
        }
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// CloudTrail's `userIdentity.type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PrincipalType {
    Root,
    IamUser,
    AssumedRole,
    Role,
    FederatedUser,
    AwsAccount,
    AwsService,
    IdentityCenterUser,
    SamlUser,
    WebIdentityUser,
    /// `Unknown`, absent, or a type this version does not know (kept as written; empty if absent).
    Unknown(String),
}

impl PrincipalType {
    pub(crate) fn parse(s: Option<&str>) -> Self {
        match s {
            Some("Root") => PrincipalType::Root,
            Some("IAMUser") => PrincipalType::IamUser,
            Some("AssumedRole") => PrincipalType::AssumedRole,
            Some("Role") => PrincipalType::Role,
            Some("FederatedUser") => PrincipalType::FederatedUser,
            Some("AWSAccount") => PrincipalType::AwsAccount,
            Some("AWSService") => PrincipalType::AwsService,
            Some("IdentityCenterUser") => PrincipalType::IdentityCenterUser,
            Some("SAMLUser") => PrincipalType::SamlUser,
            Some("WebIdentityUser") => PrincipalType::WebIdentityUser,
            Some(other) => PrincipalType::Unknown(other.to_owned()),
            None => PrincipalType::Unknown(String::new()),
        }
    }

    /// The CloudTrail spelling (`Unknown` when absent).
    pub fn as_str(&self) -> &str {
        match self {
            PrincipalType::Root => "Root",
            PrincipalType::IamUser => "IAMUser",
            PrincipalType::AssumedRole => "AssumedRole",
            PrincipalType::Role => "Role",
            PrincipalType::FederatedUser => "FederatedUser",
            PrincipalType::AwsAccount => "AWSAccount",
            PrincipalType::AwsService => "AWSService",
            PrincipalType::IdentityCenterUser => "IdentityCenterUser",
            PrincipalType::SamlUser => "SAMLUser",
            PrincipalType::WebIdentityUser => "WebIdentityUser",
            PrincipalType::Unknown(s) if s.is_empty() => "Unknown",
            PrincipalType::Unknown(s) => s,
        }
    }
}

impl Serialize for PrincipalType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Who made the call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    #[serde(rename = "type")]
    pub kind: PrincipalType,
    pub arn: Option<String>,
    /// `userIdentity.principalId`.
    pub id: Option<String>,
    /// `userIdentity.accountId` as written (not always an account id: `ANONYMOUS_PRINCIPAL`).
    pub account: Option<String>,
    /// A readable name: the IAM user name; `role/session` for an assumed role; `root`; the
    /// Identity Center user; the service for AWSService.
    pub actor: String,
    /// The role (or user) that issued the session, for assumed roles and federated users.
    pub session_issuer_arn: Option<String>,
    /// The role name of an assumed role, or the session issuer's name.
    pub role_name: Option<String>,
    pub access_key_id: Option<String>,
    /// `sessionContext.attributes.mfaAuthenticated`; for console sign-in, `MFAUsed`.
    pub mfa_authenticated: Option<bool>,
    pub invoked_by: Option<String>,
    /// Identity Center user id (`onBehalfOf.userId`).
    pub identity_store_user_id: Option<String>,
}

/// The role-name prefix of Identity Center's permission-set roles: their sessions are people.
pub const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// The CloudTrail spellings of the principal types that are always a person
/// ([`Principal::is_person`] adds sessions of [`SSO_ROLE_PREFIX`] roles).
pub const PERSON_TYPES: [&str; 5] = [
    "Root",
    "IAMUser",
    "IdentityCenterUser",
    "SAMLUser",
    "WebIdentityUser",
];

impl Principal {
    /// True when a person acted rather than a workload: root, an IAM user, an Identity Center
    /// user or a session of an Identity Center role (`AWSReservedSSO_*`), a SAML or web-identity
    /// user.
    pub fn is_person(&self) -> bool {
        match &self.kind {
            PrincipalType::AssumedRole => self
                .role_name
                .as_deref()
                .is_some_and(|r| r.starts_with(SSO_ROLE_PREFIX)),
            kind => PERSON_TYPES.contains(&kind.as_str()),
        }
    }
}

/// `sourceIPAddress`, which is an address, `AWS Internal`, or a service host name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceIp {
    /// Exactly as written in the record (empty if absent).
    pub raw: String,
    /// The parsed address when `raw` is one.
    pub addr: Option<IpAddr>,
}

impl SourceIp {
    /// Parses a `sourceIPAddress` value, keeping the text.
    pub fn parse(raw: &str) -> Self {
        let trimmed = raw.trim().trim_start_matches('[').trim_end_matches(']');
        SourceIp {
            raw: raw.to_owned(),
            addr: trimmed.parse().ok(),
        }
    }

    /// `AWS Internal`: a call AWS made on the principal's behalf from its own network.
    pub fn is_aws_internal(&self) -> bool {
        self.raw == "AWS Internal"
    }

    /// A service host name such as `ec2.amazonaws.com`.
    pub fn service_host(&self) -> Option<&str> {
        (self.addr.is_none() && self.raw.ends_with(".amazonaws.com")).then_some(self.raw.as_str())
    }
}

/// The outcome of a console sign-in (`responseElements.ConsoleLogin`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsoleLoginOutcome {
    Success,
    Failure,
    Other(String),
}

impl Serialize for ConsoleLoginOutcome {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(match self {
            ConsoleLoginOutcome::Success => "Success",
            ConsoleLoginOutcome::Failure => "Failure",
            ConsoleLoginOutcome::Other(o) => o,
        })
    }
}

/// What a `ConsoleLogin` event says about the sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsoleLogin {
    pub outcome: ConsoleLoginOutcome,
    /// `additionalEventData.MFAUsed` of an IAM user's or the root user's own sign-in; `None`
    /// for a federated sign-in, which authenticates at its identity provider (its `MFAUsed` is
    /// always `No` and says nothing about the provider's MFA).
    pub mfa_used: Option<bool>,
    /// `additionalEventData.LoginTo`.
    pub login_to: Option<String>,
    /// How a federated sign-in was authenticated: the SAML provider's ARN
    /// (`additionalEventData.SamlProviderArn`), or the principal type of a session that signed
    /// in through a federation endpoint (`AssumedRole`, `FederatedUser`, ...). `None` for an IAM
    /// user's or the root user's own password sign-in.
    pub federated_by: Option<String>,
}

/// One entry of `resources`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resource {
    pub arn: Option<String>,
    pub account_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// Why a denied call was denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Denial {
    pub layer: DenialLayer,
    pub kind: DenyKind,
}

/// Byte ranges of the JSON documents inside [`ActivityEvent::raw`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Documents {
    pub(crate) request_parameters: Option<Range<usize>>,
    pub(crate) response_elements: Option<Range<usize>>,
    pub(crate) additional_event_data: Option<Range<usize>>,
    pub(crate) service_event_details: Option<Range<usize>>,
}

/// One CloudTrail event, normalised. Built only by [`crate::normalize`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityEvent {
    pub id: EventId,
    pub time: DateTime<Utc>,
    /// `eventVersion` as written.
    pub version: Option<String>,
    /// `eventSource`, e.g. `iam.amazonaws.com`.
    pub source: String,
    /// `eventName`, e.g. `CreateUser`.
    pub name: String,
    pub event_type: EventType,
    /// `eventCategory` (`Management`, `Data`, `Insight`).
    pub category: Option<String>,
    pub region: Region,
    /// `recipientAccountId`, else `userIdentity.accountId` when that is an account id.
    pub account: Option<AccountId>,
    pub principal: Principal,
    pub source_ip: SourceIp,
    pub user_agent: Option<String>,
    pub read_only: Option<bool>,
    pub management: Option<bool>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Set when the call was denied by a policy; says which layer denied it.
    pub denial: Option<Denial>,
    /// Set for `ConsoleLogin` events.
    pub console_login: Option<ConsoleLogin>,
    pub resources: Vec<Resource>,
    pub vpc_endpoint_id: Option<String>,
    pub request_id: Option<String>,
    pub shared_event_id: Option<String>,
    /// Fields of the record that were missing or not of their usual shape, kept as written
    /// (or as `(missing)`) rather than refusing the record: `awsRegion`, `eventSource`,
    /// `eventName`, `recipientAccountId`, `userIdentity.accountId`.
    pub unusual: Vec<&'static str>,
    pub(crate) documents: Documents,
    /// The original record, exactly as read.
    pub raw: String,
}

impl ActivityEvent {
    fn document(&self, range: &Option<Range<usize>>) -> Option<&str> {
        range.as_ref().map(|r| &self.raw[r.clone()])
    }

    /// `requestParameters` as JSON text (`None` when absent or `null`).
    pub fn request_parameters(&self) -> Option<&str> {
        self.document(&self.documents.request_parameters)
    }

    /// `responseElements` as JSON text (`None` when absent or `null`).
    pub fn response_elements(&self) -> Option<&str> {
        self.document(&self.documents.response_elements)
    }

    /// `additionalEventData` as JSON text (`None` when absent or `null`).
    pub fn additional_event_data(&self) -> Option<&str> {
        self.document(&self.documents.additional_event_data)
    }

    /// `serviceEventDetails` as JSON text (`None` when absent or `null`).
    pub fn service_event_details(&self) -> Option<&str> {
        self.document(&self.documents.service_event_details)
    }

    /// `requestParameters` parsed (`None` when absent, `null`, or not valid JSON).
    pub fn request_parameters_value(&self) -> Option<serde_json::Value> {
        self.request_parameters()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    /// `responseElements` parsed (`None` when absent, `null`, or not valid JSON).
    pub fn response_elements_value(&self) -> Option<serde_json::Value> {
        self.response_elements()
            .and_then(|t| serde_json::from_str(t).ok())
    }

    /// True when a policy denied the call.
    pub fn is_denied(&self) -> bool {
        self.denial.is_some()
    }

    /// True when the call failed for any reason (an error code, or a failed console sign-in).
    pub fn is_failure(&self) -> bool {
        self.error_code.is_some()
            || matches!(
                self.console_login.as_ref().map(|c| &c.outcome),
                Some(ConsoleLoginOutcome::Failure)
            )
    }
}

fn raw_json<S: Serializer>(text: Option<&str>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match text.map(serde_json::from_str::<&RawValue>) {
        Some(Ok(raw)) => raw.serialize(s),
        _ => s.serialize_none(),
    }
}

impl Serialize for ActivityEvent {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Doc<'a>(Option<&'a str>);
        impl Serialize for Doc<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                raw_json(self.0, s)
            }
        }
        let mut st = s.serialize_struct("ActivityEvent", 27)?;
        st.serialize_field("event_id", &self.id)?;
        st.serialize_field(
            "event_time",
            &self
                .time
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )?;
        st.serialize_field("event_version", &self.version)?;
        st.serialize_field("event_source", &self.source)?;
        st.serialize_field("event_name", &self.name)?;
        st.serialize_field("event_type", &self.event_type)?;
        st.serialize_field("event_category", &self.category)?;
        st.serialize_field("region", &self.region)?;
        st.serialize_field("account", &self.account)?;
        st.serialize_field("principal", &self.principal)?;
        st.serialize_field("source_ip", &self.source_ip.raw)?;
        st.serialize_field("source_ip_address", &self.source_ip.addr)?;
        st.serialize_field("user_agent", &self.user_agent)?;
        st.serialize_field("read_only", &self.read_only)?;
        st.serialize_field("management_event", &self.management)?;
        st.serialize_field("error_code", &self.error_code)?;
        st.serialize_field("error_message", &self.error_message)?;
        st.serialize_field("denial", &self.denial)?;
        st.serialize_field("console_login", &self.console_login)?;
        st.serialize_field("resources", &self.resources)?;
        st.serialize_field("vpc_endpoint_id", &self.vpc_endpoint_id)?;
        if self.unusual.is_empty() {
            st.skip_field("unusual")?;
        } else {
            st.serialize_field("unusual", &self.unusual)?;
        }
        st.serialize_field("request_parameters", &Doc(self.request_parameters()))?;
        st.serialize_field("response_elements", &Doc(self.response_elements()))?;
        st.serialize_field("additional_event_data", &Doc(self.additional_event_data()))?;
        st.serialize_field("service_event_details", &Doc(self.service_event_details()))?;
        st.serialize_field("record", &Doc(Some(&self.raw)))?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newtypes_validate() {
        assert!(Region::new("us-east-1").is_ok());
        assert!(Region::new("us-gov-west-1").is_ok());
        assert!(Region::new("ap-southeast-2").is_ok());
        assert!(Region::new("US-EAST-1").is_err());
        assert!(Region::new("useast1").is_err());
        assert!(Region::new("us-east-").is_err());
        assert!(Region::new("eu-1").is_err());
        assert!(Region::new("u-east-1").is_err());
        assert!(Region::new("us--east-1").is_err());
        assert!(Region::new("-us-east-1").is_err());
        assert!(Region::new("us-east-1a").is_err());
        assert!(Region::new("us-iso-b-east-1").is_ok());
        assert!(is_region_code("mx-central-1") && !is_region_code("REDACTED"));
        assert!(AccountId::new("123456789012").is_ok());
        assert!(AccountId::new("12345678901").is_err());
        assert!(AccountId::new("ANONYMOUS_PRINCIPAL").is_err());
        assert!(EventId::new("").is_err());
        assert!(EventId::new("a\nb").is_err());
        assert!(RuleId::new("root_console_login").is_ok());
        assert!(RuleId::new("Root Login").is_err());
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!(Severity::Critical > Severity::High);
    }

    #[test]
    fn source_ip_kinds() {
        let v4 = SourceIp::parse("203.0.113.7");
        assert_eq!(v4.addr, Some("203.0.113.7".parse().unwrap()));
        let v6 = SourceIp::parse("2001:db8::1");
        assert!(v6.addr.is_some());
        let internal = SourceIp::parse("AWS Internal");
        assert!(internal.addr.is_none() && internal.is_aws_internal());
        let host = SourceIp::parse("ec2.amazonaws.com");
        assert_eq!(host.service_host(), Some("ec2.amazonaws.com"));
        assert_eq!(host.raw, "ec2.amazonaws.com");
    }
}
