//! The organisation's accounts: ids, names and states, for reports and for the trail table's
//! account list.
//!
//! On AWS it is Organizations `ListAccounts` (callable from the management account or a
//! delegated administrator); in tests a fixed list.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::AccountId;

/// One member account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgAccount {
    pub id: AccountId,
    pub name: String,
    /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE` as Organizations says it. A closed account
    /// stays listed for 90 days, and its trail files stay readable: reports keep it.
    pub status: String,
}

/// Lists the organisation's accounts.
#[async_trait]
pub trait AccountDirectory: Send + Sync + std::fmt::Debug {
    /// What this directory is, for messages.
    fn describe(&self) -> String;

    /// Every account, in the order the backend gives them.
    async fn accounts(&self) -> Result<Vec<OrgAccount>>;
}

/// A fixed list of accounts.
#[derive(Debug, Clone, Default)]
pub struct MemoryAccountDirectory {
    pub accounts: Vec<OrgAccount>,
}

#[async_trait]
impl AccountDirectory for MemoryAccountDirectory {
    fn describe(&self) -> String {
        format!("{} listed accounts", self.accounts.len())
    }

    async fn accounts(&self) -> Result<Vec<OrgAccount>> {
        Ok(self.accounts.clone())
    }
}
