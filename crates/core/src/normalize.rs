//! From record text to [`ActivityEvent`].
//!
//! A record is rejected only when it has no `eventID` or no readable `eventTime`, when it is
//! not a JSON object, or when it is over the size limit. Everything else is read leniently: a
//! missing or unusual `awsRegion`, `eventSource`, `eventName` or account id (anonymised data, a
//! new region code, a 13-digit id, a URL as the event name) is kept as written, or as
//! `(missing)`, and named in [`ActivityEvent::unusual`](crate::ActivityEvent); an unknown
//! `eventVersion` is accepted and reported so the caller can count it. On rejection the caller
//! gets the text back, to keep it in quarantine.

use std::ops::Range;

use chrono::{DateTime, Utc};
use serde_json::value::RawValue;

use crate::denial::{classify_message, is_denied_code};
use crate::error::Error;
use crate::model::{
    AccountId, ActivityEvent, ConsoleLogin, ConsoleLoginOutcome, Denial, Documents, EventId,
    EventType, Principal, PrincipalType, Region, Resource, SourceIp,
};
use crate::record::{ConsoleLoginFields, Record, UserIdentity};

/// Limits applied while normalising.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Records longer than this many bytes are rejected (CloudTrail's own limit is 256 KB).
    pub max_record_bytes: usize,
}

impl Default for RecordLimits {
    fn default() -> Self {
        Self {
            max_record_bytes: 1024 * 1024,
        }
    }
}

/// A normalised event and what the caller should count about it.
#[derive(Debug, Clone)]
pub struct Normalized {
    pub event: ActivityEvent,
    /// `eventVersion` is absent or not a 1.x version this code knows.
    pub unknown_version: bool,
}

/// A record that could not be normalised, with its text for quarantine.
#[derive(Debug)]
pub struct Rejected {
    pub error: Error,
    pub raw: String,
}

/// One raw record sorted on its way to a store: kept, dropped as noise (and why), or refused
/// and kept as raw text for the quarantine. Every ingest path (the collector, log files) sorts
/// records this one way.
#[derive(Debug)]
pub enum Triage {
    Keep(Normalized),
    Noise(Normalized, crate::filter::FilterReason),
    Refused {
        quarantined: crate::ports::Quarantined,
        /// Over the record size limit (counted apart from malformed records).
        oversized: bool,
    },
}

/// Normalises `raw` and sorts it: noise by `filter`, refusals quarantined under `origin`.
pub fn triage(
    raw: String,
    limits: &RecordLimits,
    filter: &crate::filter::NoiseFilter,
    origin: impl FnOnce() -> String,
) -> Triage {
    match normalize(raw, limits) {
        Ok(n) => match filter.classify(&n.event) {
            Some(reason) => Triage::Noise(n, reason),
            None => Triage::Keep(n),
        },
        Err(r) => Triage::Refused {
            oversized: matches!(r.error, Error::Oversized { .. }),
            quarantined: crate::ports::Quarantined {
                origin: origin(),
                event_id: sniff_event_id(&r.raw),
                reason: r.error.to_string(),
                raw: r.raw,
            },
        },
    }
}

/// Highest `eventVersion` minor (1.x) known to this code.
const KNOWN_MINOR: u32 = 11;

/// Normalises one record's JSON text.
pub fn normalize(raw: String, limits: &RecordLimits) -> Result<Normalized, Rejected> {
    if raw.len() > limits.max_record_bytes {
        let event_id = sniff_event_id(&raw);
        return Err(Rejected {
            error: Error::Oversized {
                size: raw.len(),
                limit: limits.max_record_bytes,
                event_id,
            },
            raw,
        });
    }
    match build(&raw) {
        Ok(parts) => Ok(parts.finish(raw)),
        Err(error) => Err(Rejected { error, raw }),
    }
}

/// Everything but the raw text, so the borrow of the text ends before it moves into the event.
struct Parts {
    event: ActivityEvent,
    unknown_version: bool,
}

impl Parts {
    fn finish(mut self, raw: String) -> Normalized {
        self.event.raw = raw;
        Normalized {
            event: self.event,
            unknown_version: self.unknown_version,
        }
    }
}

fn build(raw: &str) -> Result<Parts, Error> {
    let trimmed = raw.trim_start();
    if !trimmed.starts_with('{') {
        return Err(Error::InvalidJson {
            reason: "not a JSON object".to_owned(),
        });
    }
    let rec: Record<'_> = serde_json::from_str(raw).map_err(|e| Error::InvalidJson {
        reason: e.to_string(),
    })?;

    let id_text = non_empty(rec.event_id.as_deref()).ok_or(Error::MissingField {
        field: "eventID",
        event_id: None,
    })?;
    let id = EventId::new(id_text).map_err(|e| Error::InvalidField {
        field: "eventID",
        event_id: id_text.chars().take(64).collect(),
        reason: e.to_string(),
    })?;
    let missing = |field: &'static str| Error::MissingField {
        field,
        event_id: Some(id.to_string()),
    };
    let time_text = non_empty(rec.event_time.as_deref()).ok_or_else(|| missing("eventTime"))?;
    let time = DateTime::parse_from_rfc3339(time_text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::InvalidField {
            field: "eventTime",
            event_id: id.to_string(),
            reason: format!("{time_text:?}: {e}"),
        })?;
    // Beyond the id and the time, nothing refuses a record: a missing or oddly shaped field is
    // kept as written (or as `(missing)`) and named in `unusual`.
    let mut unusual = Vec::new();
    let mut text_or_missing = |field: &'static str, value: Option<&str>| -> String {
        match non_empty(value) {
            Some(v) => v.to_owned(),
            None => {
                unusual.push(field);
                MISSING.to_owned()
            }
        }
    };
    let source = text_or_missing("eventSource", rec.event_source.as_deref());
    let name = text_or_missing("eventName", rec.event_name.as_deref());
    let region_text = text_or_missing("awsRegion", rec.aws_region.as_deref());
    if !is_event_name(&name) && name != MISSING {
        unusual.push("eventName");
    }
    let region = Region::recorded(region_text)
        .unwrap_or_else(|_| Region::recorded(MISSING).expect("the marker is a valid text"));
    if !region.is_code() && !unusual.contains(&"awsRegion") {
        unusual.push("awsRegion");
    }

    let version = rec.event_version.as_deref().map(str::to_owned);
    let unknown_version = !is_known_version(version.as_deref());

    let principal = principal(rec.user_identity.as_ref());
    let recipient = non_empty(rec.recipient_account_id.as_deref());
    let account = recipient
        .or(principal.account.as_deref())
        .and_then(|a| AccountId::recorded(a).ok());
    if recipient.is_none_or(|a| !crate::model::is_account_id(a)) {
        unusual.push("recipientAccountId");
    }
    if principal
        .account
        .as_deref()
        .is_some_and(|a| !crate::model::is_account_id(a))
    {
        unusual.push("userIdentity.accountId");
    }

    let error_code = owned(rec.error_code.as_deref());
    let error_message = owned(rec.error_message.as_deref());
    let denial = error_code
        .as_deref()
        .filter(|c| is_denied_code(c))
        .map(|_| {
            let (layer, kind) = classify_message(error_message.as_deref());
            Denial { layer, kind }
        });

    let console_login = (name == "ConsoleLogin").then(|| console_login(&rec, &principal.kind));
    let mut principal = principal;
    if let Some(login) = &console_login
        && principal.mfa_authenticated.is_none()
    {
        principal.mfa_authenticated = login.mfa_used;
    }

    let documents = Documents {
        request_parameters: span(raw, rec.request_parameters),
        response_elements: span(raw, rec.response_elements),
        additional_event_data: span(raw, rec.additional_event_data),
        service_event_details: span(raw, rec.service_event_details),
    };

    let event = ActivityEvent {
        id,
        time,
        version,
        source,
        name,
        event_type: rec
            .event_type
            .as_deref()
            .map(EventType::parse)
            .unwrap_or_else(|| EventType::Other(String::new())),
        category: owned(rec.event_category.as_deref()),
        region,
        account,
        principal,
        source_ip: SourceIp::parse(rec.source_ip_address.as_deref().unwrap_or("")),
        user_agent: owned(rec.user_agent.as_deref()),
        read_only: rec.read_only,
        management: rec.management_event,
        error_code,
        error_message,
        denial,
        console_login,
        resources: rec
            .resources
            .iter()
            .map(|r| Resource {
                arn: owned(r.arn.as_deref()),
                account_id: owned(r.account_id.as_deref()),
                kind: owned(r.kind.as_deref()),
            })
            .collect(),
        vpc_endpoint_id: owned(rec.vpc_endpoint_id.as_deref()),
        request_id: owned(rec.request_id.as_deref()),
        shared_event_id: owned(rec.shared_event_id.as_deref()),
        unusual,
        documents,
        raw: String::new(),
    };
    Ok(Parts {
        event,
        unknown_version,
    })
}

/// What a required field that a record lacks is stored as.
pub const MISSING: &str = "(missing)";

/// An API or console action name as CloudTrail writes them (`CreateUser`,
/// `UpdateFunctionConfiguration20150331v2`, `ConsoleLogin`): a letter, then letters, digits and
/// `_ - .`. Anything else (a URL, a path) is kept but flagged.
fn is_event_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && name.len() <= 128
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.trim().is_empty())
}

fn owned(s: Option<&str>) -> Option<String> {
    non_empty(s).map(str::to_owned)
}

fn is_known_version(v: Option<&str>) -> bool {
    let Some((major, minor)) = v.and_then(|v| v.split_once('.')) else {
        return false;
    };
    major == "1" && minor.parse::<u32>().is_ok_and(|m| m <= KNOWN_MINOR)
}

/// The byte range of a borrowed document inside `raw`; `None` for absent or `null`.
fn span(raw: &str, doc: Option<&RawValue>) -> Option<Range<usize>> {
    let text = doc?.get();
    if text == "null" {
        return None;
    }
    let start = (text.as_ptr() as usize).checked_sub(raw.as_ptr() as usize)?;
    let end = start + text.len();
    (end <= raw.len() && raw.get(start..end) == Some(text)).then_some(start..end)
}

/// The last `/`-separated part of an ARN's resource (`user/path/name` → `name`).
fn arn_resource(arn: &str) -> Option<&str> {
    arn.splitn(6, ':').nth(5)
}

fn principal(ui: Option<&UserIdentity<'_>>) -> Principal {
    let Some(ui) = ui else {
        return Principal {
            kind: PrincipalType::Unknown(String::new()),
            arn: None,
            id: None,
            account: None,
            actor: "unknown".to_owned(),
            session_issuer_arn: None,
            role_name: None,
            access_key_id: None,
            mfa_authenticated: None,
            invoked_by: None,
            identity_store_user_id: None,
        };
    };
    let kind = PrincipalType::parse(non_empty(ui.kind.as_deref()));
    let arn = non_empty(ui.arn.as_deref());
    let user_name = non_empty(ui.user_name.as_deref());
    let invoked_by = non_empty(ui.invoked_by.as_deref());
    let issuer = ui
        .session_context
        .as_ref()
        .and_then(|c| c.session_issuer.as_ref());
    let issuer_arn = issuer.and_then(|i| non_empty(i.arn.as_deref()));
    let issuer_name = issuer.and_then(|i| non_empty(i.user_name.as_deref()));
    let on_behalf = ui
        .on_behalf_of
        .as_ref()
        .and_then(|o| non_empty(o.user_id.as_deref()));
    let principal_id = non_empty(ui.principal_id.as_deref());

    // `assumed-role/RoleName/session` → ("RoleName", "session").
    let assumed = arn
        .and_then(arn_resource)
        .and_then(|r| r.strip_prefix("assumed-role/"))
        .and_then(|r| r.split_once('/'));
    let role_name = assumed.map(|(role, _)| role).or(issuer_name);

    let actor = match &kind {
        PrincipalType::Root => "root".to_owned(),
        PrincipalType::IamUser => user_name
            .or_else(|| {
                arn.and_then(arn_resource)
                    .and_then(|r| r.rsplit('/').next())
            })
            .unwrap_or("unknown-user")
            .to_owned(),
        PrincipalType::AssumedRole | PrincipalType::Role => match assumed {
            Some((role, session)) => format!("{role}/{session}"),
            None => issuer_name
                .or_else(|| {
                    arn.and_then(arn_resource)
                        .and_then(|r| r.rsplit('/').next())
                })
                .or(principal_id)
                .unwrap_or("unknown-role")
                .to_owned(),
        },
        PrincipalType::FederatedUser => arn
            .and_then(arn_resource)
            .and_then(|r| r.strip_prefix("federated-user/"))
            .or(user_name)
            .or(principal_id)
            .unwrap_or("unknown-federated-user")
            .to_owned(),
        PrincipalType::AwsService => invoked_by.unwrap_or("aws-service").to_owned(),
        PrincipalType::AwsAccount => non_empty(ui.account_id.as_deref())
            .or(principal_id)
            .unwrap_or("unknown-account")
            .to_owned(),
        PrincipalType::IdentityCenterUser => user_name
            .or(on_behalf)
            .or(principal_id)
            .unwrap_or("unknown-identity-center-user")
            .to_owned(),
        PrincipalType::SamlUser | PrincipalType::WebIdentityUser | PrincipalType::Unknown(_) => {
            user_name
                .or(principal_id)
                .or_else(|| arn.and_then(arn_resource))
                .or(invoked_by)
                .unwrap_or("unknown")
                .to_owned()
        }
    };

    Principal {
        kind,
        arn: arn.map(str::to_owned),
        id: principal_id.map(str::to_owned),
        account: owned(ui.account_id.as_deref()),
        actor,
        session_issuer_arn: issuer_arn.map(str::to_owned),
        role_name: role_name.map(str::to_owned),
        access_key_id: owned(ui.access_key_id.as_deref()),
        mfa_authenticated: ui
            .session_context
            .as_ref()
            .and_then(|c| c.attributes.as_ref())
            .and_then(|a| a.mfa_authenticated),
        invoked_by: invoked_by.map(str::to_owned),
        identity_store_user_id: on_behalf.map(str::to_owned),
    }
}

/// A sign-in's outcome and MFA. Only an IAM user's or the root user's own sign-in says whether
/// AWS checked an MFA device; every other sign-in (SAML, a federation endpoint's sign-in token,
/// Identity Center) authenticated at its identity provider and keeps its `MFAUsed` out.
fn console_login(rec: &Record<'_>, kind: &PrincipalType) -> ConsoleLogin {
    fn parse<'a>(doc: Option<&'a RawValue>) -> ConsoleLoginFields<'a> {
        doc.and_then(|d| serde_json::from_str(d.get()).ok())
            .unwrap_or_default()
    }
    let response = parse(rec.response_elements);
    let additional = parse(rec.additional_event_data);
    let outcome = match response.console_login.as_deref() {
        Some("Success") => ConsoleLoginOutcome::Success,
        Some("Failure") => ConsoleLoginOutcome::Failure,
        Some(other) => ConsoleLoginOutcome::Other(other.to_owned()),
        // No outcome but an error: a failure (CloudTrail writes errorMessage "Failed authentication").
        None if rec.error_code.is_some() || rec.error_message.is_some() => {
            ConsoleLoginOutcome::Failure
        }
        None => ConsoleLoginOutcome::Other(String::new()),
    };
    let federated_by = match (&additional.saml_provider_arn, kind) {
        (Some(arn), _) if !arn.trim().is_empty() => Some(arn.clone().into_owned()),
        (_, PrincipalType::IamUser | PrincipalType::Root | PrincipalType::Unknown(_)) => None,
        (_, other) => Some(other.as_str().to_owned()),
    };
    ConsoleLogin {
        outcome,
        mfa_used: additional.mfa_used.filter(|_| federated_by.is_none()),
        login_to: additional.login_to.map(|s| s.into_owned()),
        federated_by,
    }
}

/// Best effort: the `eventID` of a record too large or too broken to parse normally.
pub fn sniff_event_id(raw: &str) -> Option<String> {
    let at = raw.find("\"eventID\"")?;
    let rest = raw[at + 9..]
        .trim_start()
        .strip_prefix(':')?
        .trim_start()
        .strip_prefix('"')?;
    let end = rest.find('"')?;
    let id = &rest[..end];
    (!id.is_empty() && id.len() <= 128).then(|| id.to_owned())
}
