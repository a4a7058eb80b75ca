//! Normalisation of real-shaped CloudTrail records, one fixture per identity type and quirk.

use iat_core::{
    ActivityEvent, ConsoleLoginOutcome, DenialLayer, DenyKind, Error, EventType, FilterReason,
    NoiseFilter, PrincipalType, RecordLimits, normalize,
};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(name: &str) -> ActivityEvent {
    let n = normalize(fixture(name).trim().to_owned(), &RecordLimits::default())
        .unwrap_or_else(|r| panic!("{name}: {}", r.error));
    assert!(!n.unknown_version, "{name}: version should be known");
    n.event
}

#[test]
fn iam_user() {
    let e = event("iam_user_create_user.json");
    assert_eq!(e.id.as_str(), "6f0a4c39-2d6e-4d7e-9c1e-0a2b3c4d5e01");
    assert_eq!(e.time.to_rfc3339(), "2026-03-02T09:15:22+00:00");
    assert_eq!(
        (e.source.as_str(), e.name.as_str()),
        ("iam.amazonaws.com", "CreateUser")
    );
    assert_eq!(e.event_type, EventType::AwsApiCall);
    assert_eq!(e.category.as_deref(), Some("Management"));
    assert_eq!(e.region.as_str(), "us-east-1");
    assert_eq!(e.account.as_ref().unwrap().as_str(), "111122223333");
    assert_eq!(e.principal.kind, PrincipalType::IamUser);
    assert_eq!(e.principal.actor, "alice");
    assert_eq!(
        e.principal.access_key_id.as_deref(),
        Some("ASIA2EXAMPLEKEY00001")
    );
    assert_eq!(e.principal.mfa_authenticated, Some(true));
    assert_eq!(
        e.principal.session_issuer_arn, None,
        "an empty sessionIssuer is no issuer"
    );
    assert_eq!(e.source_ip.addr, Some("203.0.113.10".parse().unwrap()));
    assert_eq!(e.read_only, Some(false));
    assert_eq!(e.management, Some(true));
    assert_eq!(e.error_code, None);
    assert!(e.denial.is_none() && !e.is_failure());
    assert_eq!(e.request_parameters(), Some(r#"{"userName":"mallory"}"#));
    let resp = e.response_elements_value().unwrap();
    assert_eq!(resp["user"]["userName"], "mallory");
    assert_eq!(
        e.raw,
        fixture("iam_user_create_user.json").trim(),
        "raw is kept byte for byte"
    );
}

#[test]
fn assumed_role_from_identity_center() {
    let e = event("assumed_role_sso.json");
    assert_eq!(e.principal.kind, PrincipalType::AssumedRole);
    assert_eq!(
        e.principal.actor,
        "AWSReservedSSO_AdministratorAccess_0123456789abcdef/bob@example.com"
    );
    assert_eq!(
        e.principal.role_name.as_deref(),
        Some("AWSReservedSSO_AdministratorAccess_0123456789abcdef")
    );
    assert!(
        e.principal
            .session_issuer_arn
            .as_deref()
            .unwrap()
            .contains(":role/aws-reserved/sso.amazonaws.com/")
    );
    assert_eq!(e.principal.mfa_authenticated, Some(false));
    assert_eq!(e.source_ip.addr, Some("2001:db8:1::42".parse().unwrap()));
    assert_eq!(
        e.response_elements(),
        None,
        "null responseElements is absent"
    );
    assert_eq!(
        e.request_parameters_value().unwrap()["policyArn"],
        "arn:aws:iam::aws:policy/AdministratorAccess"
    );
}

#[test]
fn root_console_login_without_mfa() {
    let e = event("root_console_login.json");
    assert_eq!(e.principal.kind, PrincipalType::Root);
    assert_eq!(e.principal.actor, "root");
    assert_eq!(
        e.principal.access_key_id, None,
        "an empty access key id is absent"
    );
    let login = e.console_login.as_ref().unwrap();
    assert_eq!(login.outcome, ConsoleLoginOutcome::Success);
    assert_eq!(login.mfa_used, Some(false));
    assert_eq!(
        e.principal.mfa_authenticated,
        Some(false),
        "MFAUsed fills mfa_authenticated"
    );
    assert_eq!(e.event_type, EventType::AwsConsoleSignIn);
    assert_eq!(e.request_parameters(), None);
}

#[test]
fn failed_console_login_is_a_failure_not_a_denial() {
    let e = event("console_login_failure.json");
    assert_eq!(
        e.console_login.as_ref().unwrap().outcome,
        ConsoleLoginOutcome::Failure
    );
    assert_eq!(e.principal.actor, "carol");
    assert_eq!(e.principal.arn, None);
    assert!(e.is_failure());
    assert!(!e.is_denied());
    assert_eq!(e.error_message.as_deref(), Some("Failed authentication"));
    assert_eq!(e.region.as_str(), "eu-north-1");
}

#[test]
fn aws_service_and_service_linked_role_filter() {
    let e = event("aws_service_assume_slr.json");
    assert_eq!(e.principal.kind, PrincipalType::AwsService);
    assert_eq!(e.principal.actor, "autoscaling.amazonaws.com");
    assert_eq!(
        e.source_ip.service_host(),
        Some("autoscaling.amazonaws.com")
    );
    assert_eq!(e.resources.len(), 1);
    assert_eq!(e.resources[0].kind.as_deref(), Some("AWS::IAM::Role"));
    assert_eq!(
        e.shared_event_id.as_deref(),
        Some("0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
    );
    assert_eq!(
        NoiseFilter::default().classify(&e),
        Some(FilterReason::ServiceLinkedRole)
    );
    assert_eq!(
        NoiseFilter::default()
            .keep_service_linked_roles()
            .classify(&e),
        None
    );
}

#[test]
fn identity_center_user() {
    let e = event("identity_center_user.json");
    assert_eq!(e.principal.kind, PrincipalType::IdentityCenterUser);
    assert_eq!(e.principal.actor, "94482488-3041-7026-18f3-be45837cd0e4");
    assert_eq!(
        e.principal.identity_store_user_id.as_deref(),
        Some("94482488-3041-7026-18f3-be45837cd0e4")
    );
    assert_eq!(e.event_type, EventType::AwsServiceEvent);
    assert!(
        e.service_event_details()
            .unwrap()
            .contains("AdministratorAccess")
    );
}

#[test]
fn denied_by_scp() {
    let e = event("denied_scp.json");
    let d = e.denial.unwrap();
    assert_eq!(
        (d.layer, d.kind),
        (DenialLayer::ServiceControlPolicy, DenyKind::Explicit)
    );
    assert_eq!(e.principal.actor, "Developer/dev-session");
    assert!(e.is_failure());
}

#[test]
fn denied_with_encoded_message_has_unknown_layer() {
    let e = event("denied_ec2_encoded.json");
    let d = e.denial.unwrap();
    assert_eq!(d.layer, DenialLayer::Unknown);
    assert_eq!(
        e.error_code.as_deref(),
        Some("Client.UnauthorizedOperation")
    );
}

#[test]
fn federated_user_with_string_booleans_and_bracketed_ipv6() {
    let e = event("federated_user.json");
    assert_eq!(e.principal.kind, PrincipalType::FederatedUser);
    assert_eq!(e.principal.actor, "build-bot");
    assert_eq!(e.read_only, Some(true), "readOnly written as a string");
    assert_eq!(e.management, Some(true));
    assert_eq!(e.source_ip.raw, "[2001:db8::7]");
    assert_eq!(e.source_ip.addr, Some("2001:db8::7".parse().unwrap()));
}

#[test]
fn cross_account_principal() {
    let e = event("cross_account.json");
    assert_eq!(e.principal.kind, PrincipalType::AwsAccount);
    assert_eq!(e.principal.actor, "777788889999");
    assert_eq!(
        e.account.as_ref().unwrap().as_str(),
        "111122223333",
        "the recipient account, not the caller's"
    );
}

#[test]
fn unknown_version_and_shapes_are_accepted_and_reported() {
    let n = normalize(
        fixture("future_version.json").trim().to_owned(),
        &RecordLimits::default(),
    )
    .unwrap();
    assert!(n.unknown_version);
    let e = n.event;
    assert_eq!(e.principal.kind.as_str(), "QuantumPrincipal");
    assert_eq!(e.principal.actor, "QP-1");
    assert_eq!(e.event_type, EventType::Other("AwsApiCallV2".into()));
    assert_eq!(e.read_only, Some(true), "readOnly written as a number");
    assert_eq!(
        e.error_code.as_deref(),
        Some("404"),
        "a numeric errorCode is kept as text"
    );
    assert_eq!(e.time.timestamp_subsec_millis(), 123);
    assert_eq!(e.request_parameters(), Some("{}"));
}

fn reject(raw: &str) -> Error {
    normalize(raw.to_owned(), &RecordLimits::default())
        .unwrap_err()
        .error
}

#[test]
fn rejections_name_the_problem_and_return_the_text() {
    let no_id = r#"{"eventVersion":"1.08","eventTime":"2026-03-02T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"ListUsers","awsRegion":"us-east-1"}"#;
    assert!(matches!(
        reject(no_id),
        Error::MissingField {
            field: "eventID",
            event_id: None
        }
    ));
    let r = normalize(no_id.to_owned(), &RecordLimits::default()).unwrap_err();
    assert_eq!(r.raw, no_id, "the text comes back for quarantine");

    let bad_time = r#"{"eventID":"x1","eventTime":"yesterday","eventSource":"s","eventName":"n","awsRegion":"us-east-1"}"#;
    assert!(matches!(
        reject(bad_time),
        Error::InvalidField {
            field: "eventTime",
            ..
        }
    ));
    let no_time = r#"{"eventID":"x2","eventSource":"s","eventName":"n","awsRegion":"us-east-1"}"#;
    assert!(matches!(
        reject(no_time),
        Error::MissingField {
            field: "eventTime",
            ..
        }
    ));
    assert!(matches!(reject("[1,2]"), Error::InvalidJson { .. }));
    assert!(matches!(
        reject(r#"{"eventID": "#),
        Error::InvalidJson { .. }
    ));
    assert!(matches!(reject(""), Error::InvalidJson { .. }));
    let wrong_type = r#"{"eventID":"x4","eventTime":"2026-03-02T00:00:00Z","eventSource":"s","eventName":"n","awsRegion":"us-east-1","userIdentity":"root","resources":"none","requestParameters":null}"#;
    let ok = normalize(wrong_type.to_owned(), &RecordLimits::default())
        .unwrap()
        .event;
    assert_eq!(
        ok.principal.actor, "unknown",
        "a userIdentity that is not an object is ignored"
    );
    assert!(ok.resources.is_empty());
}

#[test]
fn size_limit() {
    let big = iat_core::contract::records::RecordSpec::new("big", chrono::Utc::now())
        .params(serde_json::json!({"policyDocument": "x".repeat(300 * 1024)}))
        .json();
    let limits = RecordLimits {
        max_record_bytes: 256 * 1024,
    };
    let r = normalize(big.clone(), &limits).unwrap_err();
    assert!(matches!(r.error, Error::Oversized { event_id: Some(ref id), .. } if id == "big"));
    assert_eq!(r.raw.len(), big.len());
    assert!(
        normalize(big, &RecordLimits::default()).is_ok(),
        "the default limit admits CloudTrail's 256 KB records"
    );
}

#[test]
fn role_pattern_filter() {
    let f = NoiseFilter::from_list("PrismaCloud*, Wiz*,*Scanner*").unwrap();
    assert_eq!(f.patterns().len(), 3);
    let mk = |role: &str| {
        let raw = fixture("denied_scp.json").replace("Developer", role);
        normalize(raw.trim().to_owned(), &RecordLimits::default())
            .unwrap()
            .event
    };
    assert_eq!(
        f.classify(&mk("PrismaCloudReadOnly")),
        Some(FilterReason::RolePattern)
    );
    assert_eq!(
        f.classify(&mk("WizAccess-Role")),
        Some(FilterReason::RolePattern)
    );
    assert_eq!(
        f.classify(&mk("SecurityScannerRole")),
        Some(FilterReason::RolePattern)
    );
    assert_eq!(f.classify(&mk("Developer")), None);
    assert_eq!(
        f.classify(&event("iam_user_create_user.json")),
        None,
        "users are not roles"
    );
    assert!(NoiseFilter::from_list("[unclosed").is_err());
    assert!(NoiseFilter::from_list("").unwrap().patterns().is_empty());
    // The syntax of the event filters: alternatives, and `?` is one character, not one byte.
    let f = NoiseFilter::from_list("{Audit,Backup}Role-?").unwrap();
    assert_eq!(
        f.classify(&mk("BackupRole-ë")),
        Some(FilterReason::RolePattern)
    );
    assert_eq!(f.classify(&mk("AuditRole-ëë")), None);
}

/// Only a record without an id or a time is refused: everything else odd is kept as written
/// and named in `unusual` (anonymised datasets, new region codes, 13-digit ids, a URL as the
/// event name).
#[test]
fn unusual_fields_are_kept_as_text_and_flagged() {
    let keep = |raw: &str| {
        normalize(raw.to_owned(), &RecordLimits::default())
            .unwrap_or_else(|r| panic!("refused {raw}: {}", r.error))
            .event
    };
    let e = keep(
        r#"{"eventID":"u1","eventTime":"2026-03-02T00:00:00Z","eventSource":"s","eventName":"n"}"#,
    );
    assert_eq!(e.region.as_str(), "(missing)");
    assert_eq!(e.unusual, ["awsRegion", "recipientAccountId"]);
    let e = keep(
        r#"{"eventID":"u2","eventTime":"2026-03-02T00:00:00Z","eventSource":"s","eventName":"n","awsRegion":"Mars","recipientAccountId":"111122223333"}"#,
    );
    assert_eq!(
        (e.region.as_str(), e.unusual.as_slice()),
        ("Mars", &["awsRegion"][..])
    );
    let e = keep(
        r#"{"eventID":"u3","eventTime":"2026-03-02T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"https://iam.amazonaws.com/?Action=ListUsers","awsRegion":"xx-anon-9","recipientAccountId":"1234567890123","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::ANONYMISED:user/alice","accountId":"ANONYMISED","userName":"alice"}}"#,
    );
    assert_eq!(e.name, "https://iam.amazonaws.com/?Action=ListUsers");
    assert_eq!(e.account.as_ref().unwrap().as_str(), "1234567890123");
    assert_eq!(e.principal.actor, "alice");
    assert_eq!(
        e.unusual,
        ["eventName", "recipientAccountId", "userIdentity.accountId"],
        "xx-anon-9 has the shape of a region code"
    );
    let e = keep(
        r#"{"eventID":"u4","eventTime":"2026-03-02T00:00:00Z","userIdentity":{"type":"Root","accountId":"111122223333"}}"#,
    );
    assert_eq!(
        (e.source.as_str(), e.name.as_str()),
        ("(missing)", "(missing)")
    );
    assert_eq!(
        e.account.as_ref().unwrap().as_str(),
        "111122223333",
        "a missing recipient falls back to the caller's account"
    );
    assert_eq!(
        e.unusual,
        [
            "eventSource",
            "eventName",
            "awsRegion",
            "recipientAccountId"
        ]
    );
    let ordinary = event("iam_user_create_user.json");
    assert!(ordinary.unusual.is_empty(), "{:?}", ordinary.unusual);
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["unusual"][0], "eventSource");
    assert!(
        serde_json::to_value(&ordinary)
            .unwrap()
            .get("unusual")
            .is_none()
    );
}

/// A SAML console sign-in authenticates at the identity provider: its `MFAUsed: No` is not
/// kept as "no MFA" (the shape of AWS's documented SAML sign-in record).
#[test]
fn federated_console_sign_in_keeps_no_mfa_verdict() {
    let raw = r#"{"eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"AROAEXAMPLE:jane@example.com","arn":"arn:aws:sts::111122223333:assumed-role/Okta-Admin/jane@example.com","accountId":"111122223333"},"eventTime":"2026-03-03T08:41:09Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.17","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"No","SamlProviderArn":"arn:aws:iam::111122223333:saml-provider/Okta"},"eventID":"s1","eventType":"AwsConsoleSignIn","recipientAccountId":"111122223333"}"#;
    let e = normalize(raw.to_owned(), &RecordLimits::default())
        .unwrap()
        .event;
    let login = e.console_login.unwrap();
    assert_eq!(login.mfa_used, None);
    assert_eq!(
        login.federated_by.as_deref(),
        Some("arn:aws:iam::111122223333:saml-provider/Okta")
    );
    assert_eq!(
        e.principal.mfa_authenticated, None,
        "unknown at AWS, not \"without MFA\""
    );
}
