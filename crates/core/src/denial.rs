//! Which policy layer denied a call.
//!
//! AWS names the layer in the error message of a denied call ("... with an explicit deny in a
//! service control policy", "... because no permissions boundary allows ..."). The error *code*
//! only says that the call was denied, and differs by service (`AccessDenied`,
//! `AccessDeniedException`, `Client.UnauthorizedOperation`, ...). Both tables below are the
//! whole of the logic: add a row to teach it a new phrase.

use serde::Serialize;

/// The policy type that denied a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialLayer {
    ServiceControlPolicy,
    ResourceControlPolicy,
    PermissionsBoundary,
    SessionPolicy,
    IdentityPolicy,
    ResourcePolicy,
    VpcEndpointPolicy,
    /// Denied, but the message does not say by what (S3's `Access Denied`, EC2's encoded
    /// authorization messages, older message formats).
    Unknown,
}

impl DenialLayer {
    /// Every layer, in the order reports list them.
    pub const ALL: [DenialLayer; 8] = [
        DenialLayer::ServiceControlPolicy,
        DenialLayer::ResourceControlPolicy,
        DenialLayer::PermissionsBoundary,
        DenialLayer::SessionPolicy,
        DenialLayer::IdentityPolicy,
        DenialLayer::ResourcePolicy,
        DenialLayer::VpcEndpointPolicy,
        DenialLayer::Unknown,
    ];

    /// The snake_case name used in storage, filters and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DenialLayer::ServiceControlPolicy => "service_control_policy",
            DenialLayer::ResourceControlPolicy => "resource_control_policy",
            DenialLayer::PermissionsBoundary => "permissions_boundary",
            DenialLayer::SessionPolicy => "session_policy",
            DenialLayer::IdentityPolicy => "identity_policy",
            DenialLayer::ResourcePolicy => "resource_policy",
            DenialLayer::VpcEndpointPolicy => "vpc_endpoint_policy",
            DenialLayer::Unknown => "unknown",
        }
    }

    /// Parses [`DenialLayer::as_str`] output, and the short forms `scp` and `rcp`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "scp" => return Some(DenialLayer::ServiceControlPolicy),
            "rcp" => return Some(DenialLayer::ResourceControlPolicy),
            _ => {}
        }
        DenialLayer::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl std::fmt::Display for DenialLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a statement denied the call, or nothing allowed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyKind {
    /// "with an explicit deny in ..."
    Explicit,
    /// "because no ... allows ..."
    Implicit,
    Unknown,
}

impl DenyKind {
    /// The snake_case name used in storage and output.
    pub fn as_str(self) -> &'static str {
        match self {
            DenyKind::Explicit => "explicit",
            DenyKind::Implicit => "implicit",
            DenyKind::Unknown => "unknown",
        }
    }
}

/// Phrases of AWS's access-denied messages, lowercase, and what they mean. The first match wins,
/// so more specific phrases come first.
const PHRASES: &[(&str, DenialLayer, DenyKind)] = &[
    (
        "explicit deny in a service control policy",
        DenialLayer::ServiceControlPolicy,
        DenyKind::Explicit,
    ),
    (
        "no service control policy allows",
        DenialLayer::ServiceControlPolicy,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in a resource control policy",
        DenialLayer::ResourceControlPolicy,
        DenyKind::Explicit,
    ),
    (
        "no resource control policy allows",
        DenialLayer::ResourceControlPolicy,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in a permissions boundary",
        DenialLayer::PermissionsBoundary,
        DenyKind::Explicit,
    ),
    (
        "no permissions boundary allows",
        DenialLayer::PermissionsBoundary,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in a session policy",
        DenialLayer::SessionPolicy,
        DenyKind::Explicit,
    ),
    (
        "no session policy allows",
        DenialLayer::SessionPolicy,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in an identity-based policy",
        DenialLayer::IdentityPolicy,
        DenyKind::Explicit,
    ),
    (
        "no identity-based policy allows",
        DenialLayer::IdentityPolicy,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in a resource-based policy",
        DenialLayer::ResourcePolicy,
        DenyKind::Explicit,
    ),
    (
        "no resource-based policy allows",
        DenialLayer::ResourcePolicy,
        DenyKind::Implicit,
    ),
    (
        "explicit deny in a vpc endpoint policy",
        DenialLayer::VpcEndpointPolicy,
        DenyKind::Explicit,
    ),
    (
        "no vpc endpoint policy allows",
        DenialLayer::VpcEndpointPolicy,
        DenyKind::Implicit,
    ),
    // The fixed message of a network activity event (`eventType: AwsVpceEvent`, `errorCode:
    // VpceAccessDenied`), in the CloudTrail record contents reference.
    (
        "denied due to a vpc endpoint policy",
        DenialLayer::VpcEndpointPolicy,
        DenyKind::Unknown,
    ),
];

/// Error codes (after a `Client.` or `Server.` prefix) that mean "a policy denied this call".
/// Authentication failures (`InvalidClientTokenId`, `ExpiredToken`, ...) are not denials. Each
/// code is one a service's API reference lists as its access-denied error; the service-specific
/// ones:
/// - `VpceAccessDenied`: a VPC endpoint policy denied the call (CloudTrail network activity
///   events, `eventType: AwsVpceEvent`; the only `errorCode` their event selectors accept);
/// - `AccessDeniedForDependencyException`: Organizations and Shield, the caller lacks a
///   permission the call needs in another service (`iam:CreateServiceLinkedRole`, ...);
/// - `KMSAccessDeniedException`: Lambda, Kinesis, SNS, SQS, the call's KMS key denied the
///   service acting for the caller;
/// - `EC2AccessDeniedException`: Lambda, the function's role may not manage its VPC interfaces.
const DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "VpceAccessDenied",
    "AccessDeniedForDependencyException",
    "KMSAccessDeniedException",
    "EC2AccessDeniedException",
    "AccessDeniedFault",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "UnauthorizedException",
    "Unauthorized",
    "Forbidden",
    "ForbiddenException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "AuthorizationFailure",
    "NotAuthorized",
    "NotAuthorizedException",
    "InsufficientPermissionsException",
];

/// The access-denied error codes (matched case-insensitively, after a `Client.` or `Server.`
/// prefix), for engines that classify in SQL (the Athena table over the raw trail).
pub fn denied_codes() -> &'static [&'static str] {
    DENIED_CODES
}

/// The message phrases, lowercase, in the order they are tried, with what each means.
pub fn message_phrases() -> &'static [(&'static str, DenialLayer, DenyKind)] {
    PHRASES
}

/// True when `code` is one of the access-denied family of error codes, for any service.
pub fn is_denied_code(code: &str) -> bool {
    let code = code
        .strip_prefix("Client.")
        .or_else(|| code.strip_prefix("Server."))
        .unwrap_or(code);
    DENIED_CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
}

/// The layer and kind a denial message names; `(Unknown, Unknown)` when it names none.
pub fn classify_message(message: Option<&str>) -> (DenialLayer, DenyKind) {
    let Some(message) = message else {
        return (DenialLayer::Unknown, DenyKind::Unknown);
    };
    let lower = message.to_ascii_lowercase();
    PHRASES
        .iter()
        .find(|(phrase, _, _)| lower.contains(phrase))
        .map(|&(_, layer, kind)| (layer, kind))
        .unwrap_or((DenialLayer::Unknown, DenyKind::Unknown))
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str =
        "User: arn:aws:sts::111122223333:assumed-role/Dev/alice is not authorized to perform";

    #[test]
    fn every_layer_from_its_message() {
        let cases: &[(String, DenialLayer, DenyKind)] = &[
            (format!("{USER}: ec2:RunInstances with an explicit deny in a service control policy"), DenialLayer::ServiceControlPolicy, DenyKind::Explicit),
            (format!("{USER}: bedrock:InvokeModel because no service control policy allows the bedrock:InvokeModel action"), DenialLayer::ServiceControlPolicy, DenyKind::Implicit),
            (format!("{USER}: s3:GetObject on resource: \"arn:aws:s3:::b/k\" with an explicit deny in a resource control policy"), DenialLayer::ResourceControlPolicy, DenyKind::Explicit),
            (format!("{USER}: iam:CreateRole on resource: arn:aws:iam::111122223333:role/x because no permissions boundary allows the iam:CreateRole action"), DenialLayer::PermissionsBoundary, DenyKind::Implicit),
            (format!("{USER}: iam:DeleteRole with an explicit deny in a permissions boundary"), DenialLayer::PermissionsBoundary, DenyKind::Explicit),
            (format!("{USER}: s3:ListAllMyBuckets because no session policy allows the s3:ListAllMyBuckets action"), DenialLayer::SessionPolicy, DenyKind::Implicit),
            (format!("{USER}: dynamodb:DeleteTable on resource: t with an explicit deny in an identity-based policy"), DenialLayer::IdentityPolicy, DenyKind::Explicit),
            (format!("{USER}: codecommit:ListRepositories because no identity-based policy allows the codecommit:ListRepositories action"), DenialLayer::IdentityPolicy, DenyKind::Implicit),
            (format!("{USER}: kms:Decrypt on resource: arn:aws:kms:us-east-1:111122223333:key/k because no resource-based policy allows the kms:Decrypt action"), DenialLayer::ResourcePolicy, DenyKind::Implicit),
            (format!("{USER}: secretsmanager:GetSecretValue with an explicit deny in a resource-based policy"), DenialLayer::ResourcePolicy, DenyKind::Explicit),
            (format!("{USER}: s3:PutObject with an explicit deny in a VPC endpoint policy"), DenialLayer::VpcEndpointPolicy, DenyKind::Explicit),
            (format!("{USER}: s3:GetObject because no VPC endpoint policy allows the s3:GetObject action"), DenialLayer::VpcEndpointPolicy, DenyKind::Implicit),
            ("The request was denied due to a VPC endpoint policy".to_owned(), DenialLayer::VpcEndpointPolicy, DenyKind::Unknown),
            ("Access Denied".to_owned(), DenialLayer::Unknown, DenyKind::Unknown),
            ("You are not authorized to perform this operation. Encoded authorization failure message: abc".to_owned(), DenialLayer::Unknown, DenyKind::Unknown),
        ];
        for (message, layer, kind) in cases {
            assert_eq!(
                classify_message(Some(message)),
                (*layer, *kind),
                "{message}"
            );
        }
        assert_eq!(
            classify_message(None),
            (DenialLayer::Unknown, DenyKind::Unknown)
        );
    }

    #[test]
    fn denied_code_families() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "UnauthorizedOperation",
            "Client.UnauthorizedOperation",
            "accessdenied",
            "AuthorizationError",
            "ForbiddenException",
            "VpceAccessDenied",
            "AccessDeniedForDependencyException",
            "KMSAccessDeniedException",
            "KmsAccessDeniedException",
            "EC2AccessDeniedException",
        ] {
            assert!(is_denied_code(code), "{code}");
        }
        for code in [
            "ThrottlingException",
            "NoSuchEntity",
            "InvalidClientTokenId",
            "Client.InvalidParameterValue",
            "KMSDisabledException",
            "VpceNotFound",
            "",
        ] {
            assert!(!is_denied_code(code), "{code}");
        }
    }

    #[test]
    fn layer_names_round_trip() {
        for layer in DenialLayer::ALL {
            assert_eq!(DenialLayer::parse(layer.as_str()), Some(layer));
        }
        assert_eq!(
            DenialLayer::parse("scp"),
            Some(DenialLayer::ServiceControlPolicy)
        );
        assert_eq!(DenialLayer::parse("nope"), None);
    }
}
