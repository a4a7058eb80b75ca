//! The `AccountDirectory` port on AWS Organizations `ListAccounts`, and the accounts under an
//! organisational unit or root (`ListAccountsForParent`, through every child unit).
//!
//! Callable only from the management account or a delegated administrator; anywhere else the
//! error says so. Pages of 20; throttling is retried by the SDK's own retry configuration.

use async_trait::async_trait;
use aws_sdk_organizations::Client;
use iat_core::Error;
use iat_core::error::Result;
use iat_core::model::AccountId;
use iat_core::ports::{AccountDirectory, OrgAccount};

use crate::error::sdk_error;

/// The organisation's accounts from Organizations.
#[derive(Debug, Clone)]
pub struct OrganizationsAccountDirectory {
    client: Client,
}

impl OrganizationsAccountDirectory {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A directory with a client built from `sdk`.
    pub fn from_sdk(sdk: &aws_config::SdkConfig) -> Self {
        Self::new(Client::new(sdk))
    }

    /// Every account under `parent` (an organisational unit `ou-…` or the root `r-…`) and its
    /// child units, however deep.
    pub async fn accounts_under(&self, parent: &str) -> Result<Vec<OrgAccount>> {
        let mut out = Vec::new();
        let mut parents = vec![parent.to_owned()];
        while let Some(parent) = parents.pop() {
            let mut token: Option<String> = None;
            loop {
                let page = self
                    .client
                    .list_accounts_for_parent()
                    .parent_id(&parent)
                    .max_results(20)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| listing_error("ListAccountsForParent", &parent, e))?;
                out.extend(page.accounts().iter().filter_map(org_account));
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
            loop {
                let page = self
                    .client
                    .list_organizational_units_for_parent()
                    .parent_id(&parent)
                    .max_results(20)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| listing_error("ListOrganizationalUnitsForParent", &parent, e))?;
                parents.extend(
                    page.organizational_units()
                        .iter()
                        .filter_map(|u| u.id().map(str::to_owned)),
                );
                match page.next_token() {
                    Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        Ok(out)
    }
}

/// A listing error, with what to do for the usual causes.
fn listing_error<E>(
    operation: &'static str,
    parent: &str,
    e: aws_sdk_organizations::error::SdkError<E>,
) -> Error
where
    E: aws_sdk_organizations::error::ProvideErrorMetadata
        + std::error::Error
        + Send
        + Sync
        + 'static,
{
    let code = e
        .as_service_error()
        .and_then(aws_sdk_organizations::error::ProvideErrorMetadata::code)
        .map(str::to_owned);
    let mut err = sdk_error("organizations", operation, None, e);
    let hint = match code.as_deref() {
        Some("AccessDeniedException") => Some(
            "listing accounts works only in the organisation's management account or a delegated administrator account, with the organizations:List* call allowed".to_owned(),
        ),
        Some("AWSOrganizationsNotInUseException") => {
            Some("this account is not in an organisation".to_owned())
        }
        Some("ParentNotFoundException") => Some(format!(
            "no organisational unit or root {parent} in this organisation"
        )),
        _ => None,
    };
    if let (Some(hint), Error::Backend { message, .. }) = (hint, &mut err) {
        message.push_str(&format!(" ({hint})"));
    }
    err
}

fn org_account(a: &aws_sdk_organizations::types::Account) -> Option<OrgAccount> {
    let Some(id) = a.id().and_then(|id| AccountId::new(id).ok()) else {
        tracing::warn!(id = ?a.id(), "organizations listed an account without a valid id");
        return None;
    };
    Some(OrgAccount {
        id,
        name: a.name().unwrap_or_default().to_owned(),
        status: a
            .state()
            .map(|s| s.as_str().to_owned())
            .or_else(|| a.status().map(|s| s.as_str().to_owned()))
            .unwrap_or_default(),
    })
}

#[async_trait]
impl AccountDirectory for OrganizationsAccountDirectory {
    fn describe(&self) -> String {
        "AWS Organizations".to_owned()
    }

    async fn accounts(&self) -> Result<Vec<OrgAccount>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_accounts()
                .max_results(20)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| listing_error("ListAccounts", "", e))?;
            out.extend(page.accounts().iter().filter_map(org_account));
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}
