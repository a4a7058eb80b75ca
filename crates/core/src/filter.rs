//! Noise filters: events that are stored nowhere and alert no one, but are always counted.
//!
//! Two kinds of noise: AWS acting through service-linked roles (an `AWSService` identity assuming
//! a role under `/aws-service-role/`, and everything that role's sessions then do), and roles the
//! user names with globs, as in the Python tool's `FILTERED_ROLES="PrismaCloud*,Wiz*,*Scanner*"`.
//! Globs match role names wherever they appear in the principal: the assumed role in the ARN and
//! the session issuer.

use serde::Serialize;

use crate::error::Result;
use crate::glob::PatternSet;
use crate::model::{ActivityEvent, PrincipalType};
use crate::record::AssumeRoleParameters;

/// Why an event was filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterReason {
    /// AWS acting through a service-linked role.
    ServiceLinkedRole,
    /// A role matching one of the configured patterns.
    RolePattern,
}

impl FilterReason {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FilterReason::ServiceLinkedRole => "service_linked_role",
            FilterReason::RolePattern => "role_pattern",
        }
    }
}

/// Decides which events are noise.
#[derive(Debug, Clone)]
pub struct NoiseFilter {
    service_linked_roles: bool,
    roles: PatternSet,
}

impl Default for NoiseFilter {
    fn default() -> Self {
        Self {
            service_linked_roles: true,
            roles: PatternSet::default(),
        }
    }
}

impl NoiseFilter {
    /// A filter for service-linked roles and the given role-name globs (the syntax of
    /// [`crate::glob`]).
    pub fn new<S: AsRef<str>>(role_patterns: &[S]) -> Result<Self> {
        Ok(Self {
            service_linked_roles: true,
            roles: PatternSet::new("role pattern", role_patterns)?,
        })
    }

    /// Parses a comma-separated list such as `FILTERED_ROLES`.
    pub fn from_list(list: &str) -> Result<Self> {
        Self::new(&crate::glob::split_list(list))
    }

    /// Keeps service-linked-role activity instead of filtering it.
    pub fn keep_service_linked_roles(mut self) -> Self {
        self.service_linked_roles = false;
        self
    }

    /// The configured role patterns.
    pub fn patterns(&self) -> &[String] {
        self.roles.sources()
    }

    /// Why `event` is noise, or `None` to keep it.
    pub fn classify(&self, event: &ActivityEvent) -> Option<FilterReason> {
        if self.service_linked_roles && is_service_linked(event) {
            return Some(FilterReason::ServiceLinkedRole);
        }
        if !self.roles.is_empty() {
            let p = &event.principal;
            let issuer_role = p.session_issuer_arn.as_deref().and_then(role_name_of_arn);
            let names = [p.role_name.as_deref(), issuer_role];
            if names.into_iter().flatten().any(|n| self.roles.is_match(n)) {
                return Some(FilterReason::RolePattern);
            }
        }
        None
    }
}

const SERVICE_ROLE_PATH: &str = ":role/aws-service-role/";

fn is_service_linked(event: &ActivityEvent) -> bool {
    let p = &event.principal;
    if p.session_issuer_arn
        .as_deref()
        .is_some_and(|a| a.contains(SERVICE_ROLE_PATH))
    {
        return true;
    }
    if p.kind == PrincipalType::AwsService && event.name.starts_with("AssumeRole") {
        let params: Option<AssumeRoleParameters<'_>> = event
            .request_parameters()
            .and_then(|t| serde_json::from_str(t).ok());
        return params
            .and_then(|p| p.role_arn)
            .is_some_and(|arn| arn.contains(SERVICE_ROLE_PATH));
    }
    false
}

/// `arn:aws:iam::1:role/path/Name` → `Name`.
fn role_name_of_arn(arn: &str) -> Option<&str> {
    let resource = arn.splitn(6, ':').nth(5)?;
    resource
        .strip_prefix("role/")
        .and_then(|r| r.rsplit('/').next())
}
