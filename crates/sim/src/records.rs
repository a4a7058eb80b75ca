//! Building CloudTrail records with the shapes real ones have.

use chrono::{DateTime, SecondsFormat, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::ids::{id_like, uuid};
use crate::org::{Account, Org, Role, SsoUser, User};

/// Who makes a call.
pub(crate) enum Who<'a> {
    User {
        account: &'a Account,
        user: &'a User,
        console: bool,
        mfa: bool,
    },
    Role {
        account: &'a Account,
        role: &'a Role,
        session: String,
        mfa: bool,
    },
    Root {
        account: &'a Account,
    },
    Service {
        account: &'a Account,
        service: &'static str,
    },
    SsoUser {
        org: &'a Org,
        user: &'a SsoUser,
    },
}

impl Who<'_> {
    pub(crate) fn account_id(&self) -> &str {
        match self {
            Who::User { account, .. }
            | Who::Role { account, .. }
            | Who::Root { account }
            | Who::Service { account, .. } => &account.id,
            Who::SsoUser { org, .. } => &org.management().id,
        }
    }

    fn identity(&self, rng: &mut ChaCha8Rng, time: DateTime<Utc>) -> Value {
        let created = (time - chrono::Duration::minutes(rng.random_range(1..55)))
            .to_rfc3339_opts(SecondsFormat::Secs, true);
        match self {
            Who::User {
                account,
                user,
                console,
                mfa,
            } => {
                let mut v = json!({
                    "type": "IAMUser",
                    "principalId": user.principal_id,
                    "arn": format!("arn:aws:iam::{}:user/{}", account.id, user.name),
                    "accountId": account.id,
                    "accessKeyId": if *console { id_like(rng, "ASIA", 16) } else { user.access_key.clone() },
                    "userName": user.name,
                });
                if *console {
                    v["sessionContext"] = json!({
                        "sessionIssuer": {},
                        "webIdFederationData": {},
                        "attributes": {"creationDate": created, "mfaAuthenticated": mfa.to_string()}
                    });
                }
                v
            }
            Who::Role {
                account,
                role,
                session,
                mfa,
            } => json!({
                "type": "AssumedRole",
                "principalId": format!("{}:{session}", role.principal_id),
                "arn": format!("arn:aws:sts::{}:assumed-role/{}/{session}", account.id, role.name),
                "accountId": account.id,
                "accessKeyId": id_like(rng, "ASIA", 16),
                "sessionContext": {
                    "sessionIssuer": {
                        "type": "Role",
                        "principalId": role.principal_id,
                        "arn": format!("arn:aws:iam::{}:role{}{}", account.id, role.path, role.name),
                        "accountId": account.id,
                        "userName": role.name
                    },
                    "webIdFederationData": {},
                    "attributes": {"creationDate": created, "mfaAuthenticated": mfa.to_string()}
                }
            }),
            Who::Root { account } => json!({
                "type": "Root",
                "principalId": account.id,
                "arn": format!("arn:aws:iam::{}:root", account.id),
                "accountId": account.id,
                "accessKeyId": ""
            }),
            Who::Service { service, .. } => json!({"type": "AWSService", "invokedBy": service}),
            Who::SsoUser { org, user } => json!({
                "type": "IdentityCenterUser",
                "accountId": org.management().id,
                "onBehalfOf": {
                    "userId": user.user_id,
                    "identityStoreArn": format!("arn:aws:identitystore::{}:identitystore/{}", org.management().id, org.identity_store)
                },
                "credentialId": id_like(rng, "", 24)
            }),
        }
    }

    fn user_agent(&self, rng: &mut ChaCha8Rng) -> String {
        match self {
            Who::Service { service, .. } => (*service).to_owned(),
            Who::User { console: true, .. } | Who::Root { .. } | Who::SsoUser { .. } => {
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15".to_owned()
            }
            _ => {
                const AGENTS: [&str; 4] = [
                    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.8.0 md/arch#x86_64 lang/python#3.11.9",
                    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.219 lang/python#3.12.4",
                    "aws-sdk-go-v2/1.30.3 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64",
                    "APN/1.0 HashiCorp/1.0 Terraform/1.9.2 terraform-provider-aws/5.59.0",
                ];
                AGENTS[rng.random_range(0..AGENTS.len())].to_owned()
            }
        }
    }
}

/// A record under construction.
pub(crate) struct Rec {
    v: Map<String, Value>,
    id: String,
}

/// A management event `source`:`name` by `who` at `time` in `region` from `ip`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn call(
    rng: &mut ChaCha8Rng,
    who: &Who<'_>,
    time: DateTime<Utc>,
    source: &str,
    name: &str,
    region: &str,
    ip: &str,
    read_only: bool,
) -> Rec {
    let id = uuid(rng);
    let identity = who.identity(rng, time);
    let agent = who.user_agent(rng);
    let mut v = Map::new();
    v.insert("eventVersion".into(), json!("1.09"));
    v.insert("userIdentity".into(), identity);
    v.insert(
        "eventTime".into(),
        json!(time.to_rfc3339_opts(SecondsFormat::Secs, true)),
    );
    v.insert("eventSource".into(), json!(source));
    v.insert("eventName".into(), json!(name));
    v.insert("awsRegion".into(), json!(region));
    v.insert("sourceIPAddress".into(), json!(ip));
    v.insert("userAgent".into(), json!(agent));
    v.insert("requestParameters".into(), Value::Null);
    v.insert("responseElements".into(), Value::Null);
    v.insert("requestID".into(), json!(uuid(rng)));
    v.insert("eventID".into(), json!(id));
    v.insert("readOnly".into(), json!(read_only));
    v.insert("eventType".into(), json!("AwsApiCall"));
    v.insert("managementEvent".into(), json!(true));
    v.insert("recipientAccountId".into(), json!(who.account_id()));
    v.insert("eventCategory".into(), json!("Management"));
    if !matches!(who, Who::Service { .. }) && ip != "AWS Internal" {
        v.insert(
            "tlsDetails".into(),
            json!({"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.trim_end_matches(".amazonaws.com"))}),
        );
    }
    Rec { v, id }
}

impl Rec {
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn set(mut self, key: &str, value: Value) -> Self {
        self.v.insert(key.to_owned(), value);
        self
    }

    pub(crate) fn params(self, p: Value) -> Self {
        self.set("requestParameters", p)
    }

    pub(crate) fn response(self, r: Value) -> Self {
        self.set("responseElements", r)
    }

    pub(crate) fn error(self, code: &str, message: &str) -> Self {
        self.set("errorCode", json!(code))
            .set("errorMessage", json!(message))
    }

    /// Makes this a console sign-in record: its outcome and whether MFA was used.
    pub(crate) fn console_login(self, outcome: &str, mfa: bool) -> Self {
        self.response(json!({"ConsoleLogin": outcome}))
            .set(
                "additionalEventData",
                json!({"LoginTo": "https://console.aws.amazon.com/console/home?state=hashArgs%23&isauthcode=true", "MobileVersion": "No", "MFAUsed": if mfa { "Yes" } else { "No" }}),
            )
            .set("eventType", json!("AwsConsoleSignIn"))
    }

    pub(crate) fn json(self) -> Value {
        Value::Object(self.v)
    }

    /// A record back from its JSON (after editing nested fields).
    pub(crate) fn from_json(v: Value) -> Self {
        let id = v["eventID"].as_str().unwrap_or_default().to_owned();
        let Value::Object(v) = v else {
            panic!("a record is a JSON object")
        };
        Self { v, id }
    }
}
