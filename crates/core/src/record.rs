//! The shape of a CloudTrail record as written, read leniently.
//!
//! Every field is optional and borrowed from the record text where possible. Scalars that some
//! services write with another JSON type (`"readOnly": "true"`, a numeric `errorCode`) are
//! accepted; objects or arrays where a string is expected are ignored rather than fatal.
//! Unknown fields are skipped. Which fields are *required* is decided by [`crate::normalize`].

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// A CloudTrail record (`eventVersion` 1.x and unknown later versions).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Record<'a> {
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_version: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sourceIPAddress", deserialize_with = "lenient_str")]
    pub source_ip_address: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub error_message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow)]
    pub service_event_details: Option<&'a RawValue>,
    #[serde(borrow, rename = "eventID", deserialize_with = "lenient_str")]
    pub event_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "requestID", deserialize_with = "lenient_str")]
    pub request_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "sharedEventID", deserialize_with = "lenient_str")]
    pub shared_event_id: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "lenient_bool")]
    pub read_only: Option<bool>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_type: Option<Cow<'a, str>>,
    #[serde(deserialize_with = "lenient_bool")]
    pub management_event: Option<bool>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub recipient_account_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub event_category: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_resources")]
    pub resources: Vec<ResourceRecord<'a>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
}

/// `userIdentity`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct UserIdentity<'a> {
    #[serde(borrow, rename = "type", deserialize_with = "lenient_str")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub access_key_id: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub user_name: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub invoked_by: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub session_context: Option<SessionContext<'a>>,
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub on_behalf_of: Option<OnBehalfOf<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionContext<'a> {
    #[serde(borrow, deserialize_with = "lenient_object")]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(deserialize_with = "lenient_object")]
    pub attributes: Option<SessionAttributes>,
}

/// `userIdentity.sessionContext.sessionIssuer` (often `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionIssuer<'a> {
    #[serde(borrow, rename = "type", deserialize_with = "lenient_str")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub user_name: Option<Cow<'a, str>>,
}

/// `userIdentity.sessionContext.attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SessionAttributes {
    #[serde(deserialize_with = "lenient_bool")]
    pub mfa_authenticated: Option<bool>,
}

/// `userIdentity.onBehalfOf` (Identity Center users).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OnBehalfOf<'a> {
    #[serde(borrow, deserialize_with = "lenient_str")]
    pub user_id: Option<Cow<'a, str>>,
}

/// One element of `resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResourceRecord<'a> {
    #[serde(borrow, rename = "ARN", deserialize_with = "lenient_str")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "accountId", deserialize_with = "lenient_str")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "type", deserialize_with = "lenient_str")]
    pub kind: Option<Cow<'a, str>>,
}

/// The console sign-in fields of `responseElements` and `additionalEventData`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ConsoleLoginFields<'a> {
    #[serde(borrow, rename = "ConsoleLogin", deserialize_with = "lenient_str")]
    pub(crate) console_login: Option<Cow<'a, str>>,
    #[serde(rename = "MFAUsed", deserialize_with = "lenient_bool")]
    pub(crate) mfa_used: Option<bool>,
    #[serde(borrow, rename = "LoginTo", deserialize_with = "lenient_str")]
    pub(crate) login_to: Option<Cow<'a, str>>,
    #[serde(borrow, rename = "SamlProviderArn", deserialize_with = "lenient_str")]
    pub(crate) saml_provider_arn: Option<Cow<'a, str>>,
}

/// `requestParameters.roleArn` of an `AssumeRole*` call.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct AssumeRoleParameters<'a> {
    #[serde(borrow, rename = "roleArn", deserialize_with = "lenient_str")]
    pub(crate) role_arn: Option<Cow<'a, str>>,
}

struct LenientStr;

impl<'de> Visitor<'de> for LenientStr {
    type Value = Option<Cow<'de, str>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string or a scalar")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(LenientStr)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

fn lenient_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(LenientStr)
}

/// Booleans as CloudTrail writes them: `true`, `"true"`, `"Yes"`, `1` (and their opposites).
fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(lenient_str(d)?.and_then(|s| parse_bool(&s)))
}

pub(crate) fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("yes") || s == "1" {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") || s.eq_ignore_ascii_case("no") || s == "0" {
        Some(false)
    } else {
        None
    }
}

/// An object field that may also be `null`, a string or another type: only an object is read.
fn lenient_object<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    d.deserialize_any(LenientObject(std::marker::PhantomData))
}

struct LenientObject<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for LenientObject<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
}

fn lenient_resources<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ResourceRecord<'de>>, D::Error> {
    let raw: Option<&'de RawValue> = Option::deserialize(d)?;
    match raw {
        Some(raw) if raw.get().starts_with('[') => {
            let items: Vec<&'de RawValue> =
                serde_json::from_str(raw.get()).map_err(de::Error::custom)?;
            Ok(items
                .into_iter()
                .filter(|i| i.get().starts_with('{'))
                .filter_map(|i| serde_json::from_str(i.get()).ok())
                .collect())
        }
        _ => Ok(Vec::new()),
    }
}

/// Replaces every `sessionToken` value inside `v` with `"REDACTED"` (`AssumeRole` and
/// `GetSessionToken` responses carry live credentials; nothing read by people keeps them).
pub fn redact_session_tokens(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, val) in m.iter_mut() {
                if k == "sessionToken" {
                    *val = serde_json::Value::String("REDACTED".into());
                } else {
                    redact_session_tokens(val);
                }
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_session_tokens),
        _ => {}
    }
}
